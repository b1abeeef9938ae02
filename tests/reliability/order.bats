#!/usr/bin/env bats
# Scenario 4: the syscall-order audit.  An strace of a whole run proves,
# file by file, that nothing is acknowledged before it is durable: temp
# data synced (by its worker, or by the master's syncfs of the
# destination filesystem for a batch of small copies) before it gets a
# name, the name's directory synced before
# the DB says MOVED, the manifest line synced before MANIFESTED, and the
# source unlinked only after that (tests/lib/syscall-order).

load lib

setup() {
	needs_strace
	setup_rel
}
teardown() { teardown_rel; }

traced_run() {
	# shellcheck disable=SC2046
	run no_lsan strace -f -qq -y -s 4096 -o "$T/trace" \
	    -e trace=openat,openat2,write,pwrite64,fdatasync,fsync,syncfs,linkat,renameat2,unlinkat \
	    "$INGESTD" $(ingestd_args) --once
	printf '%s\n' "$output" >>"$LOG"
	assert_success
}

audit() {
	run "$TOP_SRCDIR/tests/lib/syscall-order" "$T/trace" - "$DB" "$1"
	echo "$output" >&2
	assert_success
}

# A traced run of n files (20 in CI, 100 long), audited file by file.
traced_corpus_audited() {
	local n
	n=$(scale 20 100)
	gen_corpus "$n" 256
	traced_run
	audit "$n"
	check_invariants
}

@test "regress: every cross-filesystem file is synced, linked, dir-synced, committed, manifested, then unlinked" {
	mount_tmpfs "$T/wh"
	traced_corpus_audited
}

@test "regress: every same-filesystem file is synced, renamed, both dirs synced, committed, then manifested" {
	traced_corpus_audited
}

@test "regress: a same-filesystem file that takes a collision name (the one-file path) is renamed, both dirs synced, committed, then manifested" {
	local i n
	n=$(scale 4 20)
	# same base name in two subdirectories, different contents: one
	# of each pair finds its archive name taken and leaves the batch
	for i in $(seq 1 "$n"); do
		mkdir -p "$T/gen/a$i" "$T/gen/b$i"
		printf 'first %s %s' "$i" "$RANDOM" >"$T/gen/a$i/same$i.dat"
		printf 'second %s %s' "$i" "$RANDOM" >"$T/gen/b$i/same$i.dat"
	done
	release_gen
	traced_run
	# the collision names: a ~ and 12 hex digits before the suffix
	[ "$(find "$WH" -type f -name 'same*~????????????.dat' | wc -l)" -eq "$n" ]
	audit $((2 * n))
	check_invariants
}

# Directory opens of the master in $T/trace, by the directory opened:
# "PATH COUNT" for every directory opened more than once by one process.
dir_opens() {
	python3 - "$T/trace" <<-'PY'
	import collections, re, sys
	pat = re.compile(r'^(\d+) +openat2?\(.*O_DIRECTORY.*\) = \d+<([^>]*)>$')
	first, n = None, collections.Counter()
	for line in open(sys.argv[1]):
	    m = pat.match(line.rstrip("\n"))
	    if not m:
	        continue
	    first = first or m.group(1)
	    if m.group(1) == first:
	        n[m.group(2)] += 1
	for path, k in sorted(n.items()):
	    print(path, k)
	PY
}

@test "regress: a batch opens its archive and staging directories once, not once per file" {
	local n batches
	n=$(scale 40 200)
	mount_tmpfs "$T/wh"
	gen_corpus "$n" 4	# in the staging root: checked without an open
	release_gen
	traced_run
	audit "$n"
	batches=$(grep -c '"event":"batch_committed"' "$LOG")
	dir_opens >"$T/opens"
	cat "$T/opens" >&2
	# each directory: at most once to publish and once to remove the
	# sources per batch, plus the start-up scan and the watch; before,
	# once per file in both steps
	python3 - "$T/opens" "$batches" "$n" <<-'PY'
	import sys
	batches, n = int(sys.argv[2]), int(sys.argv[3])
	worst = max(int(l.split()[-1]) for l in open(sys.argv[1]))
	assert batches < n, (batches, n)	# some batch held several files
	assert worst <= 2 * batches + 4, (worst, batches)
	PY
	check_invariants
}
