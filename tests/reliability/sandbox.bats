#!/usr/bin/env bats
# Scenario 9, the part tests/integration/sandbox.bats does not cover: an
# strace -f of real copy and hash jobs shows that no worker made a single
# syscall outside its seccomp allowlist once the filter was loaded
# (tests/lib/seccomp-audit reads the allowlist from sandbox-linux.c).

load lib

setup() {
	needs_strace
	[ "$(id -u)" = 0 ] || skip "the full sandbox needs root"
	setup_rel
}
teardown() { teardown_rel; }

audit_run() {
	local san=
	ldd "$INGEST_WORKER" 2>/dev/null | grep -q libasan && san=--sanitizers
	gen_corpus 6 512 1
	# shellcheck disable=SC2046
	run no_lsan strace -f -qq -o "$T/trace" "$INGESTD" $(ingestd_args) --once
	printf '%s\n' "$output" >>"$LOG"
	assert_success
	log_has '"event":"worker_ready".*"sandbox":"full"'
	run "$TOP_SRCDIR/tests/lib/seccomp-audit" "$T/trace" \
	    "$TOP_SRCDIR/src/worker/sandbox-linux.c" $san --min-workers 1
	echo "$output" >&2
	assert_success
	check_invariants
}

@test "regress: copying workers make no syscall outside their seccomp allowlist" {
	mount_tmpfs "$T/wh"
	audit_run
}

@test "regress: hashing workers make no syscall outside their seccomp allowlist" {
	audit_run
}
