#!/usr/bin/env bats
# Scenario 5: injected I/O errors instead of crashes (strace -e inject=
# ...:error=EIO|ENOSPC) on the temp file's creation, linkat, the directory
# fsync, the manifest's write and fdatasync, and the worker's fdatasync.
# The file goes RETRY_PENDING with the errno (FAILED when retries run
# out), nothing partial is published, and the daemon keeps ingesting.

load lib

setup() {
	needs_strace
	setup_rel
	use_config "retry 3 backoff 1s"
}
teardown() { teardown_rel; }

# Files dropped by rename need one stability second before --once takes
# them (the config's minimum window).
settled() { [ -z "$(find "$IN" -type f -newerct '1.2 seconds ago')" ]; }

# run_injected STRACE-ARGS...: ingestd --once under strace (master only).
run_injected() {
	wait_until 10 settled
	# shellcheck disable=SC2046
	run no_lsan strace -qq -y -o "$T/trace" "$@" "$INGESTD" $(ingestd_args) --once
	printf '%s\n' "$output" >>"$LOG"
}

# The audit trail of a file went through RETRY_PENDING with this error.
retried_with() {
	local n
	n=$(db "SELECT count(*) FROM events e JOIN files f ON f.id = e.file_id
	    WHERE f.relpath = '$1' AND e.state = 'RETRY_PENDING'
	    AND e.detail LIKE '%$2%'")
	[ "$n" -ge 1 ] || {
		echo "no RETRY_PENDING with '$2' for $1; its events:" >&2
		db "SELECT e.state, e.detail FROM events e JOIN files f
		    ON f.id = e.file_id WHERE f.relpath = '$1'" >&2
		return 1
	}
}

@test "regress: ENOSPC creating the temp file is retried and ingests everything" {
	mount_tmpfs "$WH"
	gen_corpus 3 64
	# the first openat beneath the archive root is the start-up open of
	# the root itself; the second is the first O_TMPFILE
	run_injected -P "$WH" -e trace=openat -e inject=openat:error=ENOSPC:when=2
	assert_success
	retried_with f1.dat "No space left on device" ||
	    retried_with f2.dat "No space left on device" ||
	    retried_with f3.dat "No space left on device"
	check_invariants
}

@test "regress: EIO from linkat publishes nothing partial and is retried" {
	mount_tmpfs "$WH"
	gen_corpus 3 64
	run_injected -e trace=linkat -e inject=linkat:error=EIO:when=1
	assert_success
	log_has '"error":"publish: Input/output error"'
	check_invariants
}

@test "regress: EIO from the destination directory fsync is retried and never archives twice" {
	mount_tmpfs "$WH"
	gen_corpus 3 64
	run_injected -P "$WH" -e trace=fsync,close -e inject=fsync:error=EIO:when=1
	assert_success
	log_has '"error":"publish: Input/output error"'
	check_invariants
	not_synced_again "$WH"
}

# After a failed fsync/fdatasync of PATH on descriptor N, N is closed
# before PATH is synced again: a failed sync is never retried on the same
# descriptor (its error, and maybe its data, are gone).
not_synced_again() {
	run awk -v p="<$1>" '
	    /sync\(/ && index($0, p) && / = -1 E/ {
	        split($0, a, "("); split(a[2], b, "<"); fd = b[1]; failed = 1; next }
	    failed && index($0, "close(" fd "<") { closed = 1 }
	    failed && /sync\(/ && index($0, p) && !closed { bad = 1 }
	    END { exit (failed && !bad) ? 0 : 1 }' "$T/trace"
	[ "$status" = 0 ] || {
		cat "$T/trace" >&2
		fail "a failed sync of $1 was retried on the same descriptor"
	}
}

@test "regress: EIO writing the manifest keeps the file MOVED, then writes its line once" {
	gen_corpus 2 16
	run_injected -P "$MAN/manifest.jsonl" -e trace=write \
	    -e inject=write:error=EIO:when=1
	assert_success
	log_has '"event":"manifest_write_failed"'
	check_invariants
}

@test "regress: EIO from the manifest fdatasync: the line is written and synced again before the source goes" {
	mount_tmpfs "$WH"
	printf 'only file' >"$T/gen/a.csv"
	release_gen
	run_injected -P "$MAN/manifest.jsonl" -P "$IN" \
	    -e trace=write,fdatasync,fsync,unlinkat,close \
	    -e inject=fdatasync:error=EIO:when=1
	assert_success
	log_has '"event":"manifest_write_failed"'
	check_invariants
	# after the failed fdatasync, a successful sync of the manifest must
	# come before the source is unlinked
	run awk -v m="$MAN/manifest.jsonl>" '
	    index($0, "fdatasync(") && index($0, m) && / = -1 EIO/ { failed = 1; next }
	    failed && index($0, "sync(") && index($0, m) && / = 0$/ { synced = 1 }
	    index($0, "unlinkat(") && index($0, "\"a.csv\"") {
	        seen = 1; exit (failed && synced) ? 0 : 1 }
	    END { if (!seen) exit 2 }' "$T/trace"
	[ "$status" = 0 ] || {
		cat "$T/trace" >&2
		fail "the source was unlinked before its manifest line was synced again"
	}
	not_synced_again "$MAN/manifest.jsonl"
}

# The worker's fdatasync of one file's source (same filesystem: a hash job
# that syncs what will be renamed) always fails: that file ends FAILED with
# the errno and stays in staging; the others are ingested.
@test "regress: a file whose fdatasync always fails ends FAILED with the errno, the rest is ingested" {
	# strace's error injection turns the syscall into an invalid one, which
	# the seccomp filter kills: this worker runs unsandboxed
	CONF_GLOBAL='sandbox off' use_config "retry 2 backoff 1s"
	# over 1 MiB, so its worker fdatasyncs it (smaller files are made
	# durable by the master's syncfs of their batch: the next test)
	local i
	for i in 1 2 3 4; do
		head -c $((i == 2 ? 1100000 : 4096 * i)) /dev/urandom >"$T/gen/f$i.dat"
	done
	release_gen
	cat >"$T/worker" <<-EOF
	#!/bin/sh
	export ASAN_OPTIONS=\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}detect_leaks=0
	exec strace -qq -o /dev/null -P "$IN/f2.dat" -e trace=fdatasync \\
	    -e inject=fdatasync:error=EIO "$INGEST_WORKER" "\$@"
	EOF
	chmod +x "$T/worker"
	INGEST_WORKER=$T/worker run_injected -e trace=none
	# --once exits 1 when a file failed
	assert_failure 1
	assert_equal "$(db "SELECT state FROM files WHERE relpath = 'f2.dat'")" FAILED
	run db "SELECT last_error FROM files WHERE relpath = 'f2.dat'"
	assert_output --partial "Input/output error"
	[ -f "$IN/f2.dat" ]
	check_invariants --states MANIFESTED,SKIPPED_DUPLICATE,FAILED
	assert_equal "$(count_state MANIFESTED)" 3
}

# Write-behind (sync_file_range every 8 MiB of a large copy) is a hint,
# but an EIO from it means the data did not reach the disk: the copy fails
# as a write error and is retried; EINVAL (not supported) only turns it off.
@test "regress: write-behind: EIO fails the copy as a write error, EINVAL only turns it off" {
	mount_tmpfs "$WH"	# cross-filesystem: a worker copies
	local err
	for err in EIO EINVAL; do
		CONF_GLOBAL='sandbox off' use_config "retry 3 backoff 1s"
		head -c 20000000 /dev/urandom >"$T/gen/big-$err.bin"
		release_gen
		cat >"$T/worker" <<-EOF
		#!/bin/sh
		export ASAN_OPTIONS=\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}detect_leaks=0
		exec strace -qq -o "$T/wtrace-$err" -e trace=sync_file_range \\
		    -e inject=sync_file_range:error=$err:when=1 "$INGEST_WORKER" "\$@"
		EOF
		chmod +x "$T/worker"
		INGEST_WORKER=$T/worker run_injected -e trace=none
		assert_success
		grep -q "INJECTED" "$T/wtrace-$err" || fail "nothing injected ($err)"
		assert_equal "$(db "SELECT state FROM files WHERE relpath = 'big-$err.bin'")" MANIFESTED
	done
	assert retried_with big-EIO.bin "write: Input/output error"
	run db "SELECT count(*) FROM events e JOIN files f ON f.id = e.file_id
	    WHERE f.relpath = 'big-EINVAL.bin' AND e.state = 'RETRY_PENDING'"
	assert_output 0
	check_invariants
}

@test "regress: a failed syncfs of a batch of small files renames none of them, retries and ingests them once" {
	gen_corpus 6 64
	# the master's first syncfs fails: no file of that batch may be renamed
	# on the strength of it, nor counted synced by a later one for its fd
	run_injected -f -e trace=syncfs,renameat2 -e inject=syncfs:error=EIO:when=1
	assert_success
	grep -q 'syncfs(.*= -1 EIO' "$T/trace"
	python3 - "$T/trace" <<-'EOF'
	import sys
	lines = open(sys.argv[1]).read().split("\n")
	first = next(i for i, l in enumerate(lines) if "syncfs(" in l)
	assert not any("renameat2(" in l for l in lines[:first]), "renamed before any sync"
	ok = [i for i, l in enumerate(lines) if "syncfs(" in l and "= 0" in l]
	renames = [i for i, l in enumerate(lines) if "renameat2(" in l]
	assert ok and all(r > ok[0] for r in renames), "renamed before a successful syncfs"
	EOF
	run db "SELECT count(*) FROM events WHERE state = 'RETRY_PENDING' AND detail LIKE 'sync:%'"
	[ "$output" -ge 1 ]
	check_invariants
}

# Long version: rounds of new files (random sizes, one repeating an
# earlier round's content), each ingested by one --once run with ENOSPC
# or EIO injected at an early call of a random one of the calls above,
# and in half the rounds at every 2nd-4th one after it; the other
# files of the round are ingested alongside.  Every invariant holds
# after every round.
@test "regress: long: ENOSPC and EIO at random points of many runs lose nothing and archive nothing twice" {
	[ "$LONG" = 1 ] || skip "long version only (RELIABILITY_LONG=1)"
	mount_tmpfs "$WH"
	use_config "retry 10 backoff 1s"
	mkdir -p "$T/keep"
	local round rounds=60 err first every injected=0 i
	local -a inject
	for round in $(seq 1 "$rounds"); do
		for i in $(seq 1 8); do
			head -c $((RANDOM * 8)) /dev/urandom >"$T/gen/r$round-$i.dat"
		done
		[ "$round" = 1 ] || cp "$T/keep/r$((round - 1))-1.dat" "$T/gen/r$round-dup.dat"
		cp "$T/gen/r$round-1.dat" "$T/keep/"
		release_gen
		err=$(shuf -n 1 -e EIO ENOSPC)
		# per file: the 1st or 2nd call; per batch (a run may make only
		# one directory fsync or manifest write and sync): the 1st; in half the
		# rounds every 2nd-4th call after it as well
		first=$((1 + RANDOM % 2))
		every=
		[ $((RANDOM % 2)) = 0 ] || every="+$((2 + RANDOM % 3))"
		case $((RANDOM % 5)) in
		# the first openat beneath the archive is of the root itself
		0) inject=(-P "$WH" -e trace=openat
		    -e "inject=openat:error=$err:when=$((first + 1))$every") ;;
		1) inject=(-e trace=linkat -e "inject=linkat:error=$err:when=$first$every") ;;
		2) inject=(-P "$WH" -e trace=fsync -e "inject=fsync:error=$err:when=1$every") ;;
		3) inject=(-P "$MAN/manifest.jsonl" -e trace=write
		    -e "inject=write:error=$err:when=1$every") ;;
		4) inject=(-P "$MAN/manifest.jsonl" -e trace=fdatasync
		    -e "inject=fdatasync:error=$err:when=1$every") ;;
		esac
		run_injected "${inject[@]}"
		[ "$status" = 0 ] || fail "round $round (${inject[*]}): --once exited $status"
		grep -q 'INJECTED' "$T/trace" || fail "round $round: nothing injected: ${inject[*]}"
		injected=$((injected + $(grep -c 'INJECTED' "$T/trace")))
		check_invariants || fail "after round $round: ${inject[*]}"
	done
	echo "# $rounds runs, $injected injected errors, $(wc -l <"$T/dropped") files" >&3
}
