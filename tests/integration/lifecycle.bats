#!/usr/bin/env bats
# The master's life: it never crashes because of what a worker sends, and
# SIGTERM/SIGINT let in-flight files finish before a clean exit.

load helpers

setup() { setup_tree; }
teardown() { teardown_tree; }

# Start the daemon with the hostile fake worker in MODE; a file is waiting.
hostile_worker() {
	drop_file victim.csv "payload"
	sleep 1.1			# past the stability window
	FAKE_WORKER_MODE=$1 INGEST_WORKER=$BATS_TEST_DIRNAME/fake-worker \
	    start_daemon --concurrency 1
	wait_for_log '"event":"worker_killed"'
	run grep '"event":"worker_killed"' "$LOG"
	assert_output --partial "$2"
	# the master is still up, nothing was published, the file is safe
	kill -0 "$DAEMON_PID"
	run find "$WH" -type f
	assert_output ""
	[ -f "$IN/victim.csv" ]
	[ "$(db "SELECT count(*) FROM files WHERE state IN ('MOVED','MANIFESTED')")" = 0 ]
}

@test "a worker sending garbage is killed and the master stays up" {
	hostile_worker garbage "malformed frame"
}

@test "a truncated frame from a worker is rejected" {
	hostile_worker truncated "malformed frame"
}

@test "a frame with the wrong protocol version is rejected" {
	hostile_worker bad-version "malformed frame"
}

@test "a worker that skips HELLO is killed" {
	hostile_worker no-hello "frame before HELLO"
}

@test "a result for a job that is not in flight is rejected and the file retried" {
	hostile_worker wrong-job "result for no job in flight"
	wait_for_log '"event":"file_retry"'
	assert_equal "$(db "SELECT state FROM files")" RETRY_PENDING
}

@test "a result with a malformed hash is rejected and the file retried" {
	hostile_worker short-hash "sha256"
	wait_for_log '"event":"file_retry"'
}

@test "a worker that sends file descriptors is killed" {
	hostile_worker send-fds "worker sent file descriptors"
}

@test "an unknown message type from a worker is a protocol error" {
	hostile_worker unknown-type "unexpected message type"
}

@test "regress: a worker that hangs up but does not exit is killed, not left holding its slot" {
	hostile_worker hangup-linger "hung up but did not exit"
	# and replaced: the next fake worker says HELLO as well
	wait_until 30 bash -c "[ \$(grep -c '\"event\":\"worker_ready\"' '$LOG') -ge 2 ]"
}

@test "workers that keep dying before doing any work are respawned with a growing delay" {
	hostile_worker garbage "malformed frame"
	wait_for_log '"event":"worker_throttled"'
	kill -0 "$DAEMON_PID"
}

drain_on() {
	local sig=$1
	mount_tmpfs "$T/wh"
	make_random "$IN/slow.bin" 8192		# 8 chunks of 1 MiB
	local want
	want=$(sha "$IN/slow.bin")
	INGESTD_TEST_WORKER_SLEEP_MS=150 start_daemon
	wait_until 30 bash -c "[ \"\$(sqlite3 '$DB' 'SELECT state FROM files')\" = PROCESSING ]"
	kill "-$sig" "$DAEMON_PID"
	# the master does not exit before the in-flight file is done
	local rc=0
	wait "$DAEMON_PID" || rc=$?
	DAEMON_PID=
	assert_equal "$rc" 0
	assert_equal "$(db "SELECT state FROM files")" MANIFESTED
	assert_equal "$(sha "$WH"/ingest_date=*/slow.bin)" "$want"
	log_has '"event":"draining"'
	log_has '"event":"stopped"'
}

@test "SIGTERM lets the in-flight file finish, then exits 0" { drain_on TERM; }
@test "SIGINT lets the in-flight file finish, then exits 0" { drain_on INT; }

@test "a file that arrives while the daemon is down is ingested at the next start" {
	drop_file first.csv "first"
	start_daemon
	wait_state MANIFESTED 1
	stop_daemon
	drop_file second.csv "second"
	start_daemon
	wait_state MANIFESTED 2
	stop_daemon
	assert_equal "$(archive_files | wc -l)" 2
}
