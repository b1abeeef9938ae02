#!/usr/bin/env bats
# Scenario 8, the items tests/integration/hostile.bats does not cover:
# names with a newline, quotes, backslashes or invalid UTF-8, a device
# node, a file appended to and a file replaced under its name while a
# worker copies it, a file dropped again under its name before the first
# one's source is removed.  Each gets a precise state, nothing partial is
# published, and the daemon stays up.

load lib

setup() {
	setup_rel
	mount_tmpfs "$T/wh"	# cross-filesystem: a worker copies the bytes
}
teardown() { teardown_rel; }

@test "regress: names with a newline, quote, backslash or invalid UTF-8 are archived with a valid manifest line" {
	local nl q bad
	nl=$(printf 'new\nline.csv')
	q='quo"te\back.csv'
	bad=$(printf 'bad\xff\xfeutf.csv')
	printf 'newline' >"$IN/$nl"
	printf 'quote' >"$IN/$q"
	printf 'invalid' >"$IN/$bad"
	mknod "$IN/null.dev" c 1 3
	run_once
	assert_success
	assert_equal "$(count_state MANIFESTED)" 3
	assert_equal "$(db "SELECT state || ' ' || last_error FROM files WHERE relpath = 'null.dev'")" \
	    "REJECTED not a regular file: device"
	[ -c "$IN/null.dev" ]
	# the archive holds the right bytes under each name
	assert_equal "$(cat "$WH"/ingest_date=*/"$nl")" newline
	assert_equal "$(cat "$WH"/ingest_date=*/"$q")" quote
	assert_equal "$(cat "$WH"/ingest_date=*/"$bad")" invalid
	# one strict JSON line each; the invalid name is flagged
	assert_manifest_valid
	assert_equal "$(manifest_lines | wc -l)" 3
	manifest_lines | grep -q '"name_escaped":true'
	run find "$IN" -type f
	assert_output ""
}

# A copy that takes two seconds (each 1 MiB chunk sleeps 1 s in the
# worker): the change below lands while it runs, even on a loaded machine.
slow_start() {
	head -c 2097152 /dev/urandom >"$T/gen/slow.bin"
	INGESTD_TEST_WORKER_SLEEP_MS=1000 start_daemon
}

copying() { [ "$(db "SELECT state FROM files WHERE relpath = 'slow.bin'" 2>/dev/null)" = PROCESSING ]; }

@test "regress: a file appended to during its copy is not published until it is complete" {
	slow_start
	cp "$T/gen/slow.bin" "$T/slow.final"
	mv "$T/gen/slow.bin" "$IN/slow.bin"
	wait_until 30 copying
	printf 'appended tail' >>"$IN/slow.bin"
	printf 'appended tail' >>"$T/slow.final"
	"$INVARIANTS" record "$T" "$T/dropped" "$T/slow.final"
	sed -i 's/ slow.final$/ slow.bin/' "$T/dropped"
	wait_for_log '"event":"file_changed"'
	wait_until 60 all_terminal || dump_unfinished
	stop_daemon
	# only the complete content was ever published
	assert_equal "$(sha "$WH"/ingest_date=*/slow.bin)" "$(sha "$T/slow.final")"
	check_invariants
}

# The first content was replaced by its writer before it was ingested:
# like a file deleted before ingestion it is not owed to the archive, but
# it is an arrival of its own (FAILED, "replaced during copy"), nothing of
# it may be published half, and the replacement is a second arrival,
# ingested.
@test "regress: a file replaced under its name during the copy: two arrivals, the first FAILED as replaced, the replacement archived once" {
	local first
	slow_start
	"$INVARIANTS" record "$T/gen" "$T/dropped" "$T/gen/slow.bin"
	mv "$T/gen/slow.bin" "$IN/slow.bin"
	printf 'the replacement' >"$T/gen/slow.bin"
	"$INVARIANTS" record "$T/gen" "$T/dropped" "$T/gen/slow.bin"
	wait_until 30 copying
	mv "$T/gen/slow.bin" "$IN/slow.bin"
	wait_until 60 all_terminal || dump_unfinished
	log_has '"event":"file_changed"' ||
	    fail "the copy ended before the replacement landed (test timing)"
	stop_daemon
	assert_equal "$(archive_files | wc -l)" 1
	assert_equal "$(cat "$WH"/ingest_date=*/slow.bin)" "the replacement"
	run db "SELECT state, size, last_error FROM files WHERE relpath = 'slow.bin' ORDER BY id"
	assert_output "$(printf 'FAILED|2097152|replaced during copy\nMANIFESTED|15|')"
	first=$(db "SELECT min(id) FROM files WHERE relpath = 'slow.bin'")
	run "$INGESTCTL" --db "$DB" show "$first"
	assert_success
	assert_output --partial "replaced during copy"
	check_invariants
}

# Renamed out of staging while a worker copies it: the writer took it
# back, so its row ends FAILED at once (not at the next restart, as it
# did), nothing is published; renamed back, it is a new arrival.
@test "regress: a file renamed away during its copy ends FAILED at once; back in staging it is a new arrival" {
	slow_start
	"$INVARIANTS" record "$T/gen" "$T/dropped" "$T/gen/slow.bin"
	mv "$T/gen/slow.bin" "$IN/slow.bin"
	wait_until 30 copying
	mv "$IN/slow.bin" "$T/away.bin"
	wait_until 60 bash -c "[ \"\$(sqlite3 '$DB' \"SELECT state FROM files WHERE relpath = 'slow.bin'\")\" = FAILED ]" ||
	    dump_unfinished
	log_has '"event":"file_changed"' ||
	    fail "the copy ended before the rename (test timing)"
	assert_equal "$(db "SELECT last_error FROM files WHERE relpath = 'slow.bin'")" \
	    "source vanished before ingestion"
	assert_equal "$(archive_files | wc -l)" 0
	mv "$T/away.bin" "$T/gen/slow.bin"	# the second arrival
	"$INVARIANTS" record "$T/gen" "$T/dropped" "$T/gen/slow.bin"
	mv "$T/gen/slow.bin" "$IN/slow.bin"
	wait_state MANIFESTED 1 60
	stop_daemon
	run db "SELECT state, size, last_error FROM files WHERE relpath = 'slow.bin' ORDER BY id"
	assert_output "$(printf 'FAILED|2097152|source vanished before ingestion\nMANIFESTED|2097152|')"
	check_invariants
}

@test "regress: a sparse file (1 GiB in CI, 10 GiB long) is archived whole by rename and stays sparse" {
	umount "$WH"		# same filesystem: hashed, then renamed
	MOUNTS=()
	truncate -s "$(scale 1G 10G)" "$T/gen/sparse.img"
	printf 'tail' >>"$T/gen/sparse.img"
	release_gen
	run_once
	assert_success
	local f
	f=$(echo "$WH"/ingest_date=*/sparse.img)
	[ "$(stat -c %b "$f")" -lt 1024 ] || fail "the archive copy is not sparse"
	check_invariants
}

state_of() { db "SELECT state FROM files WHERE relpath = '$1'" 2>/dev/null; }
both_copying() { [ "$(count_state PROCESSING)" -ge 2 ]; }
victim_queued() { [ "$(state_of victim.csv)" = QUEUED ]; }

# Both workers busy with slow copies for a while, then victim.csv dropped
# (and recorded): it waits QUEUED while the test swaps something in.
queue_victim() {
	head -c 4194304 /dev/urandom >"$T/gen/big1.bin"
	head -c 4194304 /dev/urandom >"$T/gen/big2.bin"
	INGESTD_TEST_WORKER_SLEEP_MS=1000 start_daemon
	release_gen
	wait_until 30 both_copying
	printf 'victim' >"$T/gen/victim.csv"
	release_gen
	wait_until 30 victim_queued
}

@test "regress: a file swapped for a symlink after discovery is REJECTED when opened, its target never read" {
	mkdir -p "$T/outside"
	printf 'secret outside the watch' >"$T/outside/secret"
	queue_victim
	# swap it for a symlink to a file outside, atomically
	ln -s "$T/outside/secret" "$IN/.swap"
	mv -T "$IN/.swap" "$IN/victim.csv"
	wait_until 60 bash -c "[ \"\$(sqlite3 '$DB' \"SELECT state FROM files WHERE relpath = 'victim.csv'\")\" = REJECTED ]"
	assert_equal "$(db "SELECT last_error FROM files WHERE relpath = 'victim.csv'")" "symlink in path"
	wait_state MANIFESTED 2 60
	kill -0 "$DAEMON_PID"
	stop_daemon
	# the target is untouched and nothing of it reached the archive
	assert_equal "$(cat "$T/outside/secret")" "secret outside the watch"
	[ -L "$IN/victim.csv" ]
	run grep -rl "secret outside" "$WH" "$MAN"
	assert_output ""
	check_invariants --states MANIFESTED,SKIPPED_DUPLICATE,REJECTED
}

@test "regress: a queued file replaced under its name before its copy: two arrivals, the first FAILED as replaced" {
	queue_victim
	printf 'the replacement' >"$T/gen/victim.csv"
	"$INVARIANTS" record "$T/gen" "$T/dropped" "$T/gen/victim.csv"
	mv "$T/gen/victim.csv" "$IN/victim.csv"
	wait_until 60 all_terminal || dump_unfinished
	log_has '"event":"file_replaced"' ||
	    fail "the victim was copied before the replacement landed (test timing)"
	stop_daemon
	run db "SELECT state, size, last_error FROM files WHERE relpath = 'victim.csv' ORDER BY id"
	assert_output "$(printf 'FAILED|6|replaced before copy\nMANIFESTED|15|')"
	assert_equal "$(cat "$WH"/ingest_date=*/victim.csv)" "the replacement"
	check_invariants
}

# --- permissions: only a daemon that is not root can be refused a read ---

needs_nobody() {
	[ "$(id -u)" = 0 ] || skip "needs root to run the daemon as nobody"
	command -v setpriv >/dev/null || skip "setpriv not installed"
	id nobody >/dev/null 2>&1 && getent group nogroup >/dev/null ||
	    skip "no user nobody or group nogroup"
}

all_ingested() {
	[ "$(count_state MANIFESTED)" = "$(wc -l <"$T/dropped")" ] &&
	    [ -z "$(find "$IN" -type f)" ]
}

@test "regress: an unreadable file and unreadable directories under a non-root daemon: FAILED or reported with EACCES, nothing archived, ingested once readable" {
	local id
	needs_nobody
	CONF_GLOBAL='rescan 1s'
	use_config 'recursive yes' 'retry 2 backoff 1s'
	printf 'readable' >"$T/gen/readable.csv"
	printf 'mode 000' >"$T/gen/unreadable.csv"
	mkdir "$T/gen/locked" "$T/gen/noexec"
	printf 'in a mode 000 directory' >"$T/gen/locked/inner.csv"
	printf 'in a directory without x' >"$T/gen/noexec/inner.csv"
	(cd "$T/gen" && "$INVARIANTS" record . "$T/dropped" readable.csv \
	    unreadable.csv locked/inner.csv noexec/inner.csv)
	chmod 000 "$T/gen/unreadable.csv" "$T/gen/locked"
	chmod 0600 "$T/gen/noexec"
	chown -R nobody:nogroup "$T"
	# shellcheck disable=SC2046
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
	    "$INGESTD" $(ingestd_args) 2>>"$LOG" &
	DAEMON_PID=$!
	wait_for_log '"event":"ready"'
	# root renames them in: its own reads are not refused
	mv "$T/gen/locked" "$T/gen/noexec" "$T/gen/unreadable.csv" "$IN/"
	mv "$T/gen/readable.csv" "$IN/"

	wait_until 30 row_state_is unreadable.csv FAILED
	assert_equal "$(row_field unreadable.csv last_error)" \
	    "open source: Permission denied"
	wait_until 30 row_state_is readable.csv MANIFESTED
	wait_for_log '"event":"scan_failed","watch":"main","dir":"locked","errno":13'
	wait_for_log "\"event\":\"stat_failed\",\"path\":\"$IN/noexec/inner.csv\",\"errno\":13"
	# nothing of the refused ones is recorded as ingested or archived
	run db "SELECT count(*) FROM files WHERE relpath LIKE '%/inner.csv'"
	assert_output 0
	run archive_files
	assert_output "$WH/readable.csv"
	assert_equal "$(stat -c %a "$IN/unreadable.csv")" 0
	check_invariants --incomplete
	kill -0 "$DAEMON_PID"

	# made readable: a retry takes the file, the next rescan the directories
	chmod 644 "$IN/unreadable.csv"
	chmod 755 "$IN/locked" "$IN/noexec"
	id=$(row_field unreadable.csv id)
	run "$INGESTCTL" -s "$T/ctl.sock" retry "$id"
	assert_success
	wait_until 60 all_ingested || dump_unfinished
	stop_daemon
	check_invariants
}

manifest_names() { manifest_lines | grep -qF "/$1\""; }

# drop_twice [INGESTD ARGS]: again.csv, then, once its manifest line is
# written and before its source is removed, again.csv once more; in
# sidecar mode each with its again.csv.ok.  The master's fdatasyncs
# return a second late (strace), which holds that window open.
drop_twice() {
	local pid rc=0 sidecar=0
	[ "$*" = "--mode sidecar" ] && sidecar=1
	printf 'the first' >"$T/gen/again.csv"
	release_gen
	[ "$sidecar" = 0 ] || : >"$IN/again.csv.ok"
	# shellcheck disable=SC2046
	no_lsan strace -qq -o /dev/null -e trace=fdatasync \
	    -e inject=fdatasync:delay_exit=1000000 \
	    "$INGESTD" $(ingestd_args) "$@" --once 2>>"$LOG" &
	pid=$!
	wait_until 60 manifest_names again.csv
	printf 'the second' >"$T/gen/again.csv"
	"$INVARIANTS" record "$T/gen" "$T/dropped" "$T/gen/again.csv"
	mv "$T/gen/again.csv" "$IN/again.csv"
	[ "$sidecar" = 0 ] || : >"$IN/again.csv.ok"
	wait "$pid" || rc=$?
	assert_equal "$rc" 0
	log_has '"event":"source_replaced"' ||
	    fail "the source went before the second file landed (test timing)"
	# both contents archived (the second under a collision name), the
	# name free in staging again, all in the one --once run
	run db "SELECT state, size FROM files WHERE relpath = 'again.csv' ORDER BY id"
	assert_output "$(printf 'MANIFESTED|9\nMANIFESTED|10')"
	assert_equal "$(cat "$WH"/ingest_date=*/again*.csv | sort | tr '\n' ' ')" \
	    "the firstthe second "
	run find "$IN" -type f
	assert_output ""
	check_invariants
}

@test "regress: a file dropped again under its name before the first one's source is removed is ingested in the same run, not at the next rescan" {
	needs_strace
	drop_twice
}

@test "regress: the same with sidecars: the second file's sidecar is left to it, and it is ingested in the same run" {
	needs_strace
	drop_twice --mode sidecar
}
