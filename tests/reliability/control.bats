#!/usr/bin/env bats
# Scenario 10: bad control input.  Random, truncated, oversized and
# ill-typed frames, wrong versions and types, stray fds, on the control
# socket (tests/lib/ctlfuzz): the master stays up, keeps ingesting, still
# answers ingestctl, and leaks no fd.

load lib

setup() { setup_rel; }
teardown() { teardown_rel; }

@test "regress: random and truncated control frames never crash or wedge the master" {
	start_daemon
	fd_baseline
	run "$TOP_SRCDIR/tests/lib/ctlfuzz" "$T/ctl.sock" "$(scale 2000 100000)"
	echo "$output" >&2
	assert_success
	kill -0 "$DAEMON_PID"
	log_has '"event":"control_bad_request"'
	# still ingesting, still answering
	gen_corpus 5 16
	wait_until 30 all_terminal || dump_unfinished
	run "$TOP_SRCDIR/tests/lib/ctlfuzz" "$T/ctl.sock" --status
	assert_success
	check_invariants --pid "$DAEMON_PID" --fds "$T/fds"
	stop_daemon
}
