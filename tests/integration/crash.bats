#!/usr/bin/env bats
# regress: kill -9 of the master or a worker at any moment loses nothing,
# archives nothing twice and leaves no temp file or duplicate manifest line.

load helpers

setup() { setup_tree; }
teardown() { teardown_tree; }

# Drop N files with distinct contents plus D duplicates; record what we
# dropped (content hash per name) ourselves, not by asking the daemon.
drop_corpus() {
	local n=$1 d=$2 i
	: >"$T/dropped"
	for i in $(seq 1 "$n"); do
		drop_file "f$i.dat" "content $i $(head -c 64 /dev/urandom | base64 -w0)"
		echo "$(sha "$IN/f$i.dat") f$i.dat" >>"$T/dropped"
	done
	for i in $(seq 1 "$d"); do
		cp "$IN/f$i.dat" "$IN/.dup$i.tmp"
		mv "$IN/.dup$i.tmp" "$IN/dup$i.dat"
	done
}

# Every distinct dropped content is archived exactly once, with the right
# bytes; each arrival has one terminal row; manifests match the DB.
assert_exactly_once() {
	local distinct archived
	distinct=$(cut -d' ' -f1 "$T/dropped" | sort -u | wc -l)
	archived=$(find "$WH" -type f | wc -l)
	assert_equal "$archived" "$distinct"
	run bash -c "find '$WH' -type f -exec sha256sum {} + | cut -d' ' -f1 | sort"
	assert_output "$(cut -d' ' -f1 "$T/dropped" | sort -u)"
	assert_equal "$(count_state MANIFESTED)" "$distinct"
	assert_equal "$(db "SELECT count(*) FROM files WHERE state NOT IN ('MANIFESTED','SKIPPED_DUPLICATE')")" 0
	assert_equal "$(db "SELECT count(*) FROM files WHERE state = 'SKIPPED_DUPLICATE' AND duplicate_of IS NULL")" 0
	# one manifest line per ingested row, never two for one id
	assert_equal "$(manifest_lines | wc -l)" "$distinct"
	assert_equal "$(manifest_lines | python3 -c 'import json,sys; print(len({json.loads(l)["id"] for l in sys.stdin}))')" "$distinct"
	assert_manifest_valid
	assert_no_temp_files
	# every source is gone from staging
	run find "$IN" -type f
	assert_output ""
}

# On a timeout, show what is stuck before failing.
dump_unfinished() {
	echo "unfinished rows:" >&2
	db "SELECT id, relpath, state, attempts, last_error FROM files WHERE state NOT IN ('MANIFESTED','SKIPPED_DUPLICATE')" >&2
	echo "left in staging:" >&2
	find "$IN" -type f >&2
	grep -E '"level":"(warn|error)"' "$LOG" | tail -20 >&2
	return 1
}

all_done() {
	[ "$(db "SELECT count(*) FROM files WHERE state IN ('MANIFESTED','SKIPPED_DUPLICATE')" 2>/dev/null)" -ge "$1" ] &&
	    [ -z "$(find "$IN" -type f)" ]
}

@test "regress: kill -9 of the master mid-run then restart ingests everything exactly once" {
	mount_tmpfs "$T/wh"		# cross-filesystem: copy + linkat path
	drop_corpus 150 10
	start_daemon
	local round
	for round in 1 2 3; do
		wait_state MANIFESTED $((round * 20))
		kill -KILL "$DAEMON_PID"
		wait "$DAEMON_PID" || true
		DAEMON_PID=
		start_daemon
	done
	wait_until 60 all_done 160 || dump_unfinished
	stop_daemon
	assert_exactly_once
}

@test "regress: kill -9 of the master on the same filesystem (rename path) loses nothing" {
	drop_corpus 150 10
	start_daemon
	wait_state MANIFESTED 30
	kill -KILL "$DAEMON_PID"
	wait "$DAEMON_PID" || true
	DAEMON_PID=
	start_daemon
	wait_until 60 all_done 160 || dump_unfinished
	stop_daemon
	assert_exactly_once
}

@test "regress: kill -9 of the workers mid-copy loses nothing and publishes nothing early" {
	mount_tmpfs "$T/wh" 512m
	make_random "$IN/big.bin" 16384			# 16 MiB
	echo "$(sha "$IN/big.bin") big.bin" >"$T/dropped"
	local want
	want=$(sha "$IN/big.bin")
	# each 1 MiB chunk takes 100 ms: the copy is still running when we kill
	INGESTD_TEST_WORKER_SLEEP_MS=100 start_daemon
	wait_until 30 bash -c "[ \"\$(sqlite3 '$DB' \"SELECT state FROM files\")\" = PROCESSING ]"
	pkill -KILL -P "$DAEMON_PID" -f ingest-worker
	# the master notices and schedules a retry; nothing is published yet
	wait_for_log '"event":"file_retry"'
	run find "$WH" -type f
	assert_output ""
	assert_equal "$(db "SELECT last_error FROM files")" "worker killed by signal 9"
	wait_state MANIFESTED 1 60
	kill -0 "$DAEMON_PID"
	stop_daemon
	assert_equal "$(sha "$WH"/ingest_date=*/big.bin)" "$want"
	assert_exactly_once
}

@test "regress: restart after a crash between publish and manifest writes one manifest line" {
	drop_corpus 40 0
	start_daemon
	wait_state MANIFESTED 40
	stop_daemon
	# pretend the daemon died right after publishing: roll rows back to
	# MOVED, and to HASHED (archive copy in place, DB not yet updated)
	db "UPDATE files SET state = 'MOVED' WHERE id <= 10"
	db "UPDATE files SET state = 'HASHED' WHERE id > 10 AND id <= 20"
	# and drop the manifest lines of the MOVED ones, as if never written
	local m
	m=$(ls "$MAN"/*/*/*/*/manifest.jsonl)
	grep -v -E '^\{"id":([1-9]|10),' "$m" >"$m.new" || true
	mv "$m.new" "$m"
	run_once
	assert_success
	assert_exactly_once
}

@test "regress: a torn last manifest line is cut before the next append" {
	drop_file a.csv "alpha"
	start_daemon
	wait_state MANIFESTED 1
	stop_daemon
	local m
	m=$(ls "$MAN"/*/*/*/*/manifest.jsonl)
	printf '{"id":99,"ingested_at":"2026-' >>"$m"
	# a new arrival appends to the same hourly manifest
	drop_file b.csv "beta"
	start_daemon
	wait_state MANIFESTED 2
	stop_daemon
	assert_manifest_valid
	assert_equal "$(manifest_lines | wc -l)" 2
	assert_equal "$(manifest_lines | grep -c '"id":99')" 0
}
