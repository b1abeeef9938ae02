#!/usr/bin/env bats
# Scenario 3: a crash at every durability step.  strace kills the process
# (SIGKILL, injected on the K-th call of fsync, fdatasync, syncfs,
# linkat, renameat2 or unlinkat, SQLite's own syncs included) for every K of a
# 3-file run; after each crash the safety invariants hold, and a restart
# finishes the job with every invariant holding.

load lib

setup() {
	needs_strace
	setup_rel
}
teardown() { teardown_rel; }

# One crash run: ingestd --once under strace, killed at the K-th SYSCALL
# of the master.  Returns 0 if the run was killed, 1 if it finished (K is
# past the last call), 2 on anything else.
crash_master_at() {
	local sc=$1 k=$2 rc=0
	# shellcheck disable=SC2046
	no_lsan strace -qq -o /dev/null -e trace="$sc" \
	    -e inject="$sc":signal=KILL:when="$k" \
	    "$INGESTD" $(ingestd_args) --once 2>>"$LOG" || rc=$?
	case $rc in
	137) return 0 ;;
	0) return 1 ;;
	*) echo "ingestd --once under strace exited $rc" >&2; return 2 ;;
	esac
}

# A worker that is killed at its K-th SYSCALL; workers spawned after the
# first such kill run unharmed (so the retry can succeed).
make_crashing_worker() {
	cat >"$T/worker" <<-EOF
	#!/bin/sh
	[ -e "$T/killed" ] && exec "$INGEST_WORKER" "\$@"
	export ASAN_OPTIONS=\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}detect_leaks=0
	strace -qq -o /dev/null -e trace=$1 \\
	    -e inject=$1:signal=KILL:when=$2 "$INGEST_WORKER" "\$@"
	rc=\$?
	[ \$rc = 137 ] || exit \$rc
	touch "$T/killed"
	kill -KILL \$\$
	EOF
	chmod +x "$T/worker"
	rm -f "$T/killed"
}

# Wipe the tree and drop the same 3-file corpus again.
fresh_run() {
	rm -rf "$IN" "$WH"/* "$MAN" "$DB" "$DB"-* "$T/gen" "$T/dropped"
	mkdir -p "$IN" "$MAN" "$T/gen"
	: >"$T/dropped"
	cp "$T/corpus"/* "$T/gen/"
	release_gen
}

# a.bin is over 1 MiB: its worker fdatasyncs it (smaller files, copied or
# renamed, are made durable by the master's syncfs of the batch).
make_corpus() {
	mkdir -p "$T/corpus"
	head -c 1300000 /dev/urandom >"$T/corpus/a.bin"
	head -c 70000 /dev/urandom >"$T/corpus/b.bin"
	printf 'tiny' >"$T/corpus/c.csv"
}

# CI visits every third crash point of fsync and fdatasync (from a random
# offset, so successive runs cover them all), the long version every one.
sparse() {
	case $1 in
	fsync|fdatasync) scale 3 1 ;;
	*) echo 1 ;;
	esac
}

# For every K until the run completes: crash, check safety, restart,
# check everything.  Echoes the number of crash points exercised.
crash_every_step() {
	local sc=$1 stride k n=0 rc
	stride=$(sparse "$sc")
	k=$((1 + RANDOM % stride))
	while :; do
		fresh_run
		rc=0
		crash_master_at "$sc" "$k" || rc=$?
		[ "$rc" = 2 ] && return 1
		if [ "$rc" = 0 ]; then
			check_invariants --incomplete ||
			    { echo "after a crash at $sc #$k" >&2; return 1; }
			run_once
			[ "$status" = 0 ] ||
			    { echo "recovery after $sc #$k exited $status" >&2; return 1; }
		fi
		check_invariants ||
		    { echo "after recovering from $sc #$k" >&2; return 1; }
		[ "$rc" = 1 ] && break
		n=$((n + 1))
		k=$((k + stride))
	done
	echo "# $sc: $n crash points (every ${stride}th)" >&3
	[ "$n" -gt 0 ]
}

@test "regress: a crash at every fsync/fdatasync/syncfs/linkat/unlinkat of a cross-filesystem run loses nothing" {
	mount_tmpfs "$T/wh"
	make_corpus
	local sc
	for sc in fsync fdatasync syncfs linkat unlinkat; do
		crash_every_step "$sc"
	done
}

@test "regress: a crash at every fsync/fdatasync/syncfs/renameat2 of a same-filesystem run loses nothing" {
	make_corpus
	local sc
	for sc in fsync fdatasync syncfs renameat2; do
		crash_every_step "$sc"
	done
}

@test "regress: a worker killed at its fdatasync is retried and publishes nothing early" {
	make_corpus
	local fs
	for fs in cross same; do
		if [ "$fs" = cross ]; then
			mount_tmpfs "$WH"
		else
			umount "$WH"
			MOUNTS=()
		fi
		fresh_run
		: >"$LOG"
		make_crashing_worker fdatasync 1
		INGEST_WORKER=$T/worker run_once
		assert_success
		log_has 'worker killed by signal 9' ||
		    fail "the injected worker crash did not happen ($fs)"
		check_invariants || fail "after a worker crash ($fs)"
	done
}
