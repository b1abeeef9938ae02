#!/usr/bin/env bats
# Least privilege: workers run sandboxed; one that breaks out of its
# syscall allowlist is killed by seccomp (SIGSYS), reported, and its file
# is retried without ever being published.

load helpers

setup() { setup_tree; }
teardown() { teardown_tree; }

@test "workers report a full sandbox when started as root" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	start_daemon
	wait_for_log '"event":"worker_ready"'
	stop_daemon
	run grep '"event":"worker_ready"' "$LOG"
	assert_output --partial '"sandbox":"full"'
	assert_output --partial 'chroot'
	assert_output --partial 'seccomp'
	assert_output --partial 'landlock'
}

violation_is_killed() {
	local what=$1
	drop_file v.csv "sandbox $what"
	INGESTD_TEST_SANDBOX_VIOLATION=$what start_daemon
	wait_for_log '"event":"worker_sandbox_violation"'
	wait_for_log '"event":"file_retry"'
	kill -0 "$DAEMON_PID"			# the master is still up
	stop_daemon
	assert_equal "$(db "SELECT state FROM files")" RETRY_PENDING
	assert_equal "$(db "SELECT last_error FROM files")" "sandbox violation (SIGSYS)"
	run find "$WH" -type f
	assert_output ""
	# the file is still safe in staging
	[ -f "$IN/v.csv" ]
}

@test "a worker that calls open() is killed by SIGSYS and reported" { violation_is_killed open; }
@test "a worker that calls socket() is killed by SIGSYS and reported" { violation_is_killed socket; }
@test "a worker that calls execve() is killed by SIGSYS and reported" { violation_is_killed execve; }
@test "a worker that calls fork() is killed by SIGSYS and reported" { violation_is_killed fork; }
@test "a worker that calls ptrace() is killed by SIGSYS and reported" { violation_is_killed ptrace; }

@test "as an unprivileged user the root-only steps are skipped with a warning" {
	[ "$(id -u)" = 0 ] || skip "needs root to switch to an unprivileged user"
	command -v setpriv >/dev/null || skip "setpriv not installed"
	chmod 755 "$T"
	chown -R 65534:65534 "$IN" "$WH" "$MAN"
	chmod 777 "$T"
	drop_file u.csv "unprivileged"
	chown 65534:65534 "$IN/u.csv"
	sleep 1.1				# let the stability window pass
	run setpriv --reuid=65534 --regid=65534 --clear-groups \
	    "$INGESTD" $(ingestd_args) --once
	printf '%s\n' "$output" >>"$LOG"
	assert_success
	run grep '"event":"worker_ready"' "$LOG"
	assert_output --partial '"sandbox":"partial"'
	assert_output --partial 'seccomp'
	assert_equal "$(count_state MANIFESTED)" 1
}
