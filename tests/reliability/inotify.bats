#!/usr/bin/env bats
# Scenario 7: what inotify can lose.  A queue overflow (max_queued_events
# lowered for the daemon's instance) during a burst, files created in a
# brand-new subdirectory at the instant it appears, and a rename storm:
# every file is still ingested exactly once.

load lib

QUEUED=/proc/sys/fs/inotify/max_queued_events

setup() {
	setup_rel
	OLD_QUEUED=
}
teardown() {
	[ -n "$OLD_QUEUED" ] && echo "$OLD_QUEUED" >"$QUEUED"
	teardown_rel
}

# The limit applies to inotify instances created while it is lowered:
# lower it only while the daemon starts, so nothing else is affected.
start_with_small_queue() {
	[ -w "$QUEUED" ] || skip "cannot lower $QUEUED here"
	OLD_QUEUED=$(cat "$QUEUED")
	echo 16 >"$QUEUED"
	start_daemon || { echo "$OLD_QUEUED" >"$QUEUED"; return 1; }
	echo "$OLD_QUEUED" >"$QUEUED"
	OLD_QUEUED=
}

@test "regress: an inotify queue overflow during a burst loses nothing" {
	local n
	n=$(scale 1000 20000)
	start_with_small_queue
	# one burst while the master is stopped: its queue of 16 must overflow
	local i
	for i in $(seq 1 "$n"); do
		printf 'burst %s %s' "$i" "$RANDOM" >"$T/gen/b$i.csv"
	done
	(cd "$T/gen" && find . -type f -printf '%P\0' | xargs -0 \
	    "$INVARIANTS" record "$T/gen" "$T/dropped")
	kill -STOP "$DAEMON_PID"
	find "$T/gen" -type f -exec mv -t "$IN" {} +
	kill -CONT "$DAEMON_PID"
	wait_for_log '"event":"inotify_overflow"'
	wait_until 120 all_terminal || dump_unfinished
	check_invariants
	stop_daemon
}

@test "regress: files written into a brand-new subdirectory at once are all ingested" {
	local d i
	start_daemon
	for d in $(seq 1 "$(scale 10 100)"); do
		# a whole tree renamed in (its files exist before any watch)
		mkdir -p "$T/gen/tree$d/deeper/deepest"
		printf 'tree %s a' "$d" >"$T/gen/tree$d/a.csv"
		printf 'tree %s b' "$d" >"$T/gen/tree$d/deeper/b.csv"
		printf 'tree %s c' "$d" >"$T/gen/tree$d/deeper/deepest/c.csv"
	done
	release_gen
	# and new directories filled the instant they appear
	for d in $(seq 1 "$(scale 10 100)"); do
		mkdir -p "$T/gen2/fresh$d"
		for i in 1 2 3; do
			printf 'fresh %s %s' "$d" "$i" >"$T/gen2/fresh$d/f$i.csv"
		done
		"$INVARIANTS" record "$T/gen2" "$T/dropped" "$T/gen2/fresh$d"/*
		mkdir "$IN/fresh$d"
		mv "$T/gen2/fresh$d"/* "$IN/fresh$d/"
	done
	wait_until 60 all_terminal || dump_unfinished
	check_invariants
	stop_daemon
}

@test "regress: a rename storm in staging archives every content exactly once" {
	local n i round
	n=$(scale 50 500)
	STABILITY=1 start_daemon
	for i in $(seq 1 "$n"); do
		printf 'storm %s %s' "$i" "$RANDOM$RANDOM" >"$T/gen/s$i.dat"
	done
	release_gen
	# every file renamed five times, in and out of a subdirectory
	mkdir -p "$IN/sub"
	for round in 1 2 3 4 5; do
		for i in $(seq 1 "$n"); do
			if [ -e "$IN/s$i.dat" ]; then
				mv "$IN/s$i.dat" "$IN/sub/s$i.r$round.dat" 2>/dev/null || true
			else
				mv "$IN"/sub/s"$i".r*.dat "$IN/s$i.dat" 2>/dev/null || true
			fi
		done
	done
	wait_until 60 all_terminal || dump_unfinished
	check_invariants --by-content
	stop_daemon
}
