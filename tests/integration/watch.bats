#!/usr/bin/env bats
# Detection: no file is missed because an inotify event was lost, a
# directory appeared, or names were shuffled before the file was complete.

load helpers

setup() {
	setup_tree
	SAVED_QUEUE=$(cat /proc/sys/fs/inotify/max_queued_events)
}

teardown() {
	[ "$(id -u)" = 0 ] && echo "$SAVED_QUEUE" >/proc/sys/fs/inotify/max_queued_events
	teardown_tree
}

all_manifested() { [ "$(count_state MANIFESTED)" -ge "$1" ]; }

@test "an inotify queue overflow triggers a rescan and no file is missed" {
	[ "$(id -u)" = 0 ] || skip "needs root to lower max_queued_events"
	echo 16 >/proc/sys/fs/inotify/max_queued_events
	start_daemon
	echo "$SAVED_QUEUE" >/proc/sys/fs/inotify/max_queued_events
	# the master reads nothing while the burst lands: the queue overflows
	kill -STOP "$DAEMON_PID"
	local i
	for i in $(seq 1 400); do
		echo "burst $i" >"$IN/b$i.csv"
	done
	kill -CONT "$DAEMON_PID"
	wait_for_log '"event":"inotify_overflow"'
	wait_until 60 all_manifested 400
	stop_daemon
	assert_equal "$(archive_files | wc -l)" 400
	assert_equal "$(manifest_lines | wc -l)" 400
}

@test "files created in a brand-new subdirectory the instant it appears are ingested" {
	start_daemon
	local i
	for i in $(seq 1 20); do
		mkdir -p "$IN/new$i/deeper"
		echo "nested $i" >"$IN/new$i/deeper/n$i.csv"
		echo "top $i" >"$IN/new$i/t$i.csv"
	done
	wait_until 60 all_manifested 40
	stop_daemon
	assert_equal "$(archive_files | wc -l)" 40
	assert_equal "$(db "SELECT count(*) FROM files WHERE relpath LIKE 'new%/deeper/n%.csv'")" 20
}

@test "a rename storm before completion ingests each file once under its final name" {
	start_daemon
	local i
	for i in $(seq 1 50); do
		echo "storm $i" >"$IN/s$i.a"
		mv "$IN/s$i.a" "$IN/s$i.b"
		mv "$IN/s$i.b" "$IN/s$i.c"
		mv "$IN/s$i.c" "$IN/s$i.csv"
	done
	wait_until 60 all_manifested 50
	stop_daemon
	assert_equal "$(archive_files | wc -l)" 50
	assert_equal "$(db "SELECT count(*) FROM files WHERE relpath NOT LIKE '%.csv'")" 0
	assert_equal "$(db "SELECT count(DISTINCT sha256) FROM files WHERE state = 'MANIFESTED'")" 50
}
