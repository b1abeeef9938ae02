#!/usr/bin/env bats
# Scenario 12, long version only: SOAK_SECONDS (default 1800) of mixed
# arrivals (small and large files, duplicates, files in new
# subdirectories) with workers killed at random.  Whenever the daemon is
# idle its fds are back to the baseline; its RSS stays flat; at the end
# every invariant holds.

load lib

setup() {
	[ "$LONG" = 1 ] || skip "long version only (RELIABILITY_LONG=1)"
	setup_rel
	mount_tmpfs "$T/wh" 4g
}
teardown() { teardown_rel; }

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

@test "regress: a soak of mixed arrivals and worker kills keeps fds and memory flat and loses nothing" {
	local secs end round=0 kills=0 files=0 i n f dup rss0 rss max=0 victim
	secs=${SOAK_SECONDS:-1800}
	use_config "recursive yes" "retry 50 backoff 1s"
	start_daemon
	fd_baseline
	end=$(($(date +%s) + secs))
	while [ "$(date +%s)" -lt "$end" ]; do
		round=$((round + 1))
		n=$((20 + RANDOM % 80))
		for i in $(seq 1 "$n"); do
			files=$((files + 1))
			f=$T/gen/d$((i % 5))/r$round-$i.dat
			mkdir -p "${f%/*}"
			dup=$(find "$T/keep" -type f 2>/dev/null | shuf -n 1)
			if [ $((files % 25)) = 0 ] && [ -n "$dup" ]; then
				cp "$dup" "$f"		# a duplicate of an earlier one
			elif [ $((files % 40)) = 1 ]; then
				head -c $(((1 + RANDOM % 4) * 1048576)) /dev/urandom >"$f"
			else
				head -c $((RANDOM % 65536)) /dev/urandom >"$f"
			fi
		done
		# a few contents of this round come back in the next ones
		rm -rf "$T/keep"
		mkdir -p "$T/keep"
		find "$T/gen" -type f | head -5 | xargs -r cp -t "$T/keep"
		release_gen
		if [ $((RANDOM % 2)) = 0 ]; then
			victim=$(pgrep -P "$DAEMON_PID" | shuf -n 1)
			[ -n "$victim" ] && kill -KILL "$victim" && kills=$((kills + 1))
		fi
		wait_until 300 all_terminal || dump_unfinished
		check_invariants --pid "$DAEMON_PID" --fds "$T/fds" ||
		    fail "round $round"
		rss=$(rss_kib "$DAEMON_PID")
		[ -n "${rss0:-}" ] || rss0=$rss
		[ "$rss" -gt "$max" ] && max=$rss
	done
	echo "# $secs s, $round rounds, $files files, $kills worker kills," \
	    "master RSS $rss0 KiB after round 1, at most $max KiB" >&3
	# flat: no growth beyond SQLite's page cache and allocator slack
	[ "$max" -le $((rss0 * 2 + 32768)) ] ||
	    fail "master RSS grew from $rss0 KiB to $max KiB"
	stop_daemon
}
