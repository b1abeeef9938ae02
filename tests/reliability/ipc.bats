#!/usr/bin/env bats
# Scenario 10, worker side: a hostile worker (tests/lib/workerfuzz) relays
# a real, sandboxed worker and throws random, truncated, oversized,
# wrong-version, wrong-type, mutated frames, stray fds and hang-ups at the
# master, idle or mid-job, over many worker lifetimes (seeded: each
# lifetime's seed and frames are in $T/fuzz/log).  The master stays up,
# logs each protocol error, replaces the worker, keeps ingesting, and
# leaks no fd and no zombie.
# CI: 30 lifetimes; RELIABILITY_LONG=1: 1,000.

load lib

setup() {
	setup_rel
	mount_tmpfs "$T/wh"
	use_config "retry 30 backoff 1s"
	mkdir -p "$T/fuzz"
}
teardown() { teardown_rel; }

lifetimes() { cat "$T/fuzz/count" 2>/dev/null || echo 0; }
fuzz_workers() { pgrep -P "$DAEMON_PID" -f tests/lib/workerfuzz; }
real_workers_ready() {
	[ -z "$(fuzz_workers)" ] && [ "$(pgrep -P "$DAEMON_PID" | wc -l)" = 2 ]
}

# 20 new files of up to 64 KiB and 2 repeated contents, named after ROUND.
drop_round() {
	local i
	for i in $(seq 1 20); do
		head -c $((RANDOM % 65536)) /dev/urandom >"$T/gen/r$1-$i.dat"
	done
	cp "$T/gen/r$1-1.dat" "$T/gen/r$1-dup1.dat"
	cp "$T/gen/r$1-2.dat" "$T/gen/r$1-dup2.dat"
	release_gen
}

@test "regress: random, truncated and mutated worker frames never crash the master, which replaces the worker and keeps ingesting" {
	local want round=0 reason
	want=$(scale 30 1000)
	export WORKERFUZZ_REAL=$INGEST_WORKER WORKERFUZZ_DIR=$T/fuzz
	export WORKERFUZZ_SEED=${WORKERFUZZ_SEED:-$RANDOM}
	echo "# WORKERFUZZ_SEED=$WORKERFUZZ_SEED" >&3
	INGEST_WORKER=$TOP_SRCDIR/tests/lib/workerfuzz start_daemon
	fd_baseline		# with real workers
	# from now on every new worker is a hostile one
	touch "$T/fuzz/on"
	pkill -KILL -P "$DAEMON_PID"
	while [ "$(lifetimes)" -lt "$want" ]; do
		round=$((round + 1))
		drop_round "$round"
		wait_until 120 all_terminal || dump_unfinished
		kill -0 "$DAEMON_PID"
		check_invariants --incomplete || fail "after round $round"
	done
	echo "# $(lifetimes) hostile worker lifetimes," \
	    "$(grep -o ': .*' "$T/fuzz/log" | wc -w) frames sent," \
	    "$(grep -c '"event":"worker_killed"' "$LOG") workers killed," \
	    "$(wc -l <"$T/dropped") files" >&3
	# each protocol error was logged as such and its worker replaced
	for reason in "malformed frame" "unexpected message type" \
	    "worker sent file descriptors"; do
		grep '"event":"worker_killed"' "$LOG" | grep -q "$reason" ||
		    fail "no worker killed for: $reason"
	done
	# every hostile worker but the (at most 2) live ones was reaped
	[ "$(grep -c '"event":"worker_died"' "$LOG")" -ge $(($(lifetimes) - 2)) ]
	# the fuzz ends; real workers again, still ingesting
	rm "$T/fuzz/on"
	pkill -KILL -P "$DAEMON_PID"
	wait_until 60 real_workers_ready
	drop_round after
	wait_until 60 all_terminal || dump_unfinished
	check_invariants --pid "$DAEMON_PID" --fds "$T/fds" ||
	    { tail -20 "$T/fuzz/log" >&2; false; }
	stop_daemon
}
