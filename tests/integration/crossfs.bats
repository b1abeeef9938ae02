#!/usr/bin/env bats
# The cross-filesystem data path: the master opens an O_TMPFILE in the
# archive directory, a worker copies and hashes in one pass and fdatasyncs,
# the master links it in place (never replacing) and removes the source.

load helpers

setup() { setup_tree; }
teardown() { teardown_tree; }

@test "cross-filesystem move onto a tmpfs archives identical bytes and removes the source" {
	mount_tmpfs "$T/wh"
	make_random "$IN/big.bin" 8192
	drop_file small.csv "a,b,c"
	local big small
	big=$(sha "$IN/big.bin")
	small=$(sha "$IN/small.csv")
	start_daemon
	wait_state MANIFESTED 2
	stop_daemon
	assert_equal "$(sha "$WH"/ingest_date=*/big.bin)" "$big"
	assert_equal "$(sha "$WH"/ingest_date=*/small.csv)" "$small"
	assert_equal "$(db "SELECT sha256 FROM files WHERE relpath = 'big.bin'")" "$big"
	run find "$IN" -type f
	assert_output ""
	assert_no_temp_files
	# the copy path was taken (a worker wrote the data), not a rename
	assert_equal "$(stat -c %d "$WH")" "$(stat -c %d "$(ls -d "$WH"/ingest_date=*)")"
	[ "$(stat -c %d "$IN")" != "$(stat -c %d "$WH")" ]
}

@test "cross-filesystem XXH3-128 matches xxh128sum" {
	command -v xxh128sum >/dev/null || skip "xxh128sum not installed"
	mount_tmpfs "$T/wh"
	make_random "$IN/x.bin" 3000
	local want
	want=$(xxh128sum "$IN/x.bin" | cut -d' ' -f1)
	start_daemon
	wait_state MANIFESTED 1
	stop_daemon
	assert_equal "$(db "SELECT xxh128 FROM files")" "$want"
}

@test "an existing archive file with other content is never overwritten" {
	mount_tmpfs "$T/wh"
	local day
	day=$(date -u +%F)
	mkdir -p "$WH/ingest_date=$day"
	echo "precious" >"$WH/ingest_date=$day/report.csv"
	drop_file report.csv "new content"
	local want
	want=$(sha "$IN/report.csv")
	start_daemon
	wait_state MANIFESTED 1
	stop_daemon
	assert_equal "$(cat "$WH/ingest_date=$day/report.csv")" "precious"
	assert_equal "$(sha "$WH/ingest_date=$day/report~${want:0:12}.csv")" "$want"
	assert_equal "$(db "SELECT dest FROM files")" "$WH/ingest_date=$day/report~${want:0:12}.csv"
}

@test "an identical file already at the archive path is adopted, not copied twice" {
	mount_tmpfs "$T/wh"
	local day
	day=$(date -u +%F)
	mkdir -p "$WH/ingest_date=$day"
	echo "same bytes" >"$WH/ingest_date=$day/same.csv"
	drop_file same.csv "same bytes
"
	start_daemon
	wait_state MANIFESTED 1
	stop_daemon
	assert_equal "$(find "$WH" -type f | wc -l)" 1
	assert_equal "$(db "SELECT dest FROM files")" "$WH/ingest_date=$day/same.csv"
	log_has '"event":"archive_copy_adopted"'
}

# Six 8 KiB files onto a tmpfs archive by one `ingestd --once` under
# strace (its options in "$@"), the trace in $T/trace.
strace_six() {
	local i
	command -v strace >/dev/null || skip "strace not installed"
	mount_tmpfs "$T/wh"
	for i in 1 2 3 4 5 6; do
		make_random "$IN/s$i.dat" 8
	done
	# shellcheck disable=SC2046
	run no_lsan strace "$@" -qq -y -o "$T/trace" \
	    "$INGESTD" $(ingestd_args) --once --stability-seconds 0
	assert_success
	assert_equal "$(count_state MANIFESTED)" 6
}

@test "regress: small copies are synced (one syncfs) before they are linked, and sources go only after the manifest is synced" {
	strace_six -f -e trace=syncfs,fdatasync,fsync,linkat,unlinkat
	# in the master's syscall order, batch by batch: a syncfs after the
	# previous manifest sync and before each link; after each batch's
	# last link a manifest fdatasync, and only then unlinks of sources
	run python3 -c '
import sys
wh, src = sys.argv[2], sys.argv[3]
last = {"syncfs": -1, "link": -1, "msync": -1}
ok, links, unlinks = True, 0, 0
for i, l in enumerate(open(sys.argv[1])):
    if "syncfs(" in l:
        last["syncfs"] = i
    elif "fdatasync(" in l and "manifest.jsonl" in l:
        last["msync"] = i
    elif "linkat(" in l and wh in l and "unlinkat(" not in l:
        links += 1
        ok &= last["msync"] < last["syncfs"] < i
        last["link"] = i
    elif "unlinkat(" in l and src in l:
        unlinks += 1
        ok &= last["link"] < last["msync"] < i
print(links, unlinks, ok)' "$T/trace" "$WH" "$IN"
	assert_output "6 6 True"
}

# New rows, PROCESSING marks and source-removed marks commit without an
# fdatasync (db_begin_lazy); every commit something outside the database
# relies on must still be durable before that something happens.
@test "regress: the state DB's WAL is synced before each link into the archive and each source unlink" {
	strace_six -e trace=pwrite64,fdatasync,linkat,unlinkat	# the master
	run python3 -c '
import sys
wh, src = sys.argv[2], sys.argv[3]
dirty, ok, links, unlinks, syncs = False, True, 0, 0, 0
for l in open(sys.argv[1]):
    if "state.db-wal>" not in l and not (wh in l or src in l):
        continue
    if l.startswith("pwrite64(") and "state.db-wal>" in l:
        dirty = True
    elif l.startswith("fdatasync(") and "state.db-wal>" in l:
        dirty, syncs = False, syncs + 1
    elif l.startswith("linkat(") and wh in l:
        links += 1
        ok &= not dirty
    elif l.startswith("unlinkat(") and src in l:
        unlinks += 1
        ok &= not dirty
print(links, unlinks, ok, syncs > 0)' "$T/trace" "$WH" "$IN"
	assert_output "6 6 True True"
}
