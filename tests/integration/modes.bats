#!/usr/bin/env bats
# Completion modes and run modes: sidecar, --once, --dry-run, and the names
# that are never ingested.

load helpers

setup() {
	setup_tree
	IMMUTABLE=()
}
teardown() {
	local d
	for d in "${IMMUTABLE[@]}"; do
		chattr -i "$d" 2>/dev/null || true
	done
	teardown_tree
}

# --- local helpers ---

gone() { [ ! -e "$1" ] && [ ! -L "$1" ]; }
count_archive() { archive_files | grep -c . || true; }
count_manifest() { manifest_lines | grep -c . || true; }
archived_named() { find "$WH" -type f -name "$1" | grep -q .; }

# Everything about a directory tree that an ingestion could change: names,
# types, sizes, modes, mtimes/ctimes and contents.
snapshot() {
	local dir=$1
	(
		cd "$dir" || exit 1
		find . -mindepth 1 -printf '%p %y %s %m %T@ %C@\n' | LC_ALL=C sort
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum
	)
}

# Let files written now pass the stability window (ctime cannot be faked).
age_past_window() { sleep 1.5; }

# --- sidecar mode ---

@test "sidecar mode: a file without NAME.ok is not ingested; creating NAME.ok ingests it and removes both" {
	start_daemon --mode sidecar
	make_random "$T/data" 16
	want_sha=$(sha "$T/data")
	cp "$T/data" "$IN/.data.csv.cp" && mv "$IN/.data.csv.cp" "$IN/data.csv"
	# well past any stability window...
	sleep 2.5
	# ...while a file that does have its sidecar goes through
	drop_file other.csv "other, with its sidecar"
	: >"$IN/other.csv.ok"
	wait_until 30 row_state_is other.csv MANIFESTED
	wait_until 10 gone "$IN/other.csv.ok"

	# data.csv was left alone
	[ -f "$IN/data.csv" ]
	assert_equal "$(sha "$IN/data.csv")" "$want_sha"
	run db "SELECT count(*) FROM files WHERE relpath = 'data.csv' AND state IN ('MANIFESTED','MOVED','HASHED','SKIPPED_DUPLICATE')"
	assert_output 0
	refute archived_named data.csv

	# the sidecar arrives: both are consumed, only the data is archived
	: >"$IN/data.csv.ok"
	wait_until 30 row_state_is data.csv MANIFESTED
	wait_until 10 gone "$IN/data.csv"
	wait_until 10 gone "$IN/data.csv.ok"
	dest=$(find "$WH" -type f -name data.csv)
	[ -n "$dest" ]
	assert_equal "$(sha "$dest")" "$want_sha"
	# the .ok files are never archived, never rows, never manifest lines
	run find "$WH" -name '*.ok'
	assert_output ""
	assert_equal "$(db "SELECT count(*) FROM files WHERE relpath LIKE '%.ok'")" 0
	assert_equal "$(count_archive)" 2
	assert_equal "$(count_manifest)" 2
	run manifest_lines
	refute_output --partial '.ok"'
	kill -0 "$DAEMON_PID"
}

# --- --once ---

@test "--once ingests what is complete, exits 0 and leaves a file written just now in staging" {
	make_random "$IN/old.csv" 16
	want_sha=$(sha "$IN/old.csv")
	age_past_window
	make_random "$IN/fresh.csv" 16
	fresh_sha=$(sha "$IN/fresh.csv")

	run_once
	assert_success
	log_has '"event":"stopped"'

	# the complete file is in; the fresh one is left for a later run
	assert_equal "$(row_field old.csv state)" MANIFESTED
	gone "$IN/old.csv"
	dest=$(find "$WH" -type f -name old.csv)
	assert_equal "$(sha "$dest")" "$want_sha"
	[ -f "$IN/fresh.csv" ]
	assert_equal "$(sha "$IN/fresh.csv")" "$fresh_sha"
	refute archived_named fresh.csv
	run grep '"event":"file_incomplete"' "$LOG"
	assert_output --partial fresh.csv
	run db "SELECT count(*) FROM files WHERE relpath = 'fresh.csv' AND state NOT IN ('DISCOVERED','QUEUED')"
	assert_output 0
	assert_equal "$(count_manifest)" 1

	# and a later run takes it
	age_past_window
	run_once
	assert_success
	assert_equal "$(row_field fresh.csv state)" MANIFESTED
	gone "$IN/fresh.csv"
	assert_equal "$(count_manifest)" 2
}

@test "--once exits non-zero when a file ends FAILED" {
	command -v chattr >/dev/null || skip "chattr is not installed"
	# an immutable archive date directory makes publishing fail for good
	day=$(date -u +%F)
	mkdir -p "$WH/ingest_date=$day"
	chattr +i "$WH/ingest_date=$day" 2>/dev/null ||
	    skip "the filesystem under $WH does not support chattr +i"
	IMMUTABLE+=("$WH/ingest_date=$day")
	touch "$WH/ingest_date=$day/probe" 2>/dev/null &&
	    skip "chattr +i does not stop root here"
	[ "$(date -u +%F)" = "$day" ] || skip "crossed midnight while setting up"
	drop_file doomed.csv "this cannot be published"
	age_past_window

	run_once
	assert_equal "$status" 1
	assert_equal "$(row_field doomed.csv state)" FAILED
	[ -n "$(row_field doomed.csv last_error)" ]
	log_has '"event":"file_failed"'
	# no loss: the source is still in staging, nothing was published
	[ -f "$IN/doomed.csv" ]
	assert_equal "$(cat "$IN/doomed.csv")" "this cannot be published"
	assert_equal "$(count_archive)" 0
	assert_equal "$(count_manifest)" 0
}

# --- --dry-run ---

@test "--dry-run on a fresh tree logs would_ingest/would_skip_duplicate/would_reject and creates nothing" {
	make_random "$T/a" 8
	cp "$T/a" "$IN/one.csv"
	cp "$T/a" "$IN/same-as-one.csv"
	make_random "$IN/two.csv" 8
	mkfifo "$IN/pipe.csv"
	age_past_window
	before=$(snapshot "$IN")

	run_once --dry-run
	assert_success

	run grep -c '"event":"would_ingest"' "$LOG"
	assert_output 2
	run grep '"event":"would_ingest"' "$LOG"
	assert_output --partial two.csv
	run grep '"event":"would_skip_duplicate"' "$LOG"
	assert_output --regexp '(one|same-as-one)\.csv'
	run grep -c '"event":"would_skip_duplicate"' "$LOG"
	assert_output 1
	run grep '"event":"would_reject"' "$LOG"
	assert_output --partial pipe.csv
	refute_output --partial two.csv
	run grep -E '"event":"(file_ingested|file_duplicate|file_rejected)"' "$LOG"
	assert_output ""

	# nothing changed, nothing created
	assert_equal "$(snapshot "$IN")" "$before"
	run find "$WH" "$MAN" -mindepth 1
	assert_output ""
	gone "$DB"
	run find "$T" -maxdepth 1 -name 'state.db*'
	assert_output ""
}

@test "--dry-run against an existing DB reports duplicates and changes nothing" {
	make_random "$T/a" 8
	cp "$T/a" "$IN/original.csv"
	age_past_window
	run_once
	assert_success
	assert_equal "$(row_field original.csv state)" MANIFESTED

	cp "$T/a" "$IN/resent.csv"
	make_random "$IN/new.csv" 8
	mkfifo "$IN/pipe.csv"
	age_past_window
	in_before=$(snapshot "$IN")
	wh_before=$(snapshot "$WH")
	man_before=$(snapshot "$MAN")
	db_before=$(sha "$DB")
	rows_before=$(db "SELECT count(*) FROM files")
	: >"$LOG"

	run_once --dry-run
	assert_success

	run grep '"event":"would_skip_duplicate"' "$LOG"
	assert_output --partial resent.csv
	run grep '"event":"would_ingest"' "$LOG"
	assert_output --partial new.csv
	refute_output --partial resent.csv
	run grep '"event":"would_reject"' "$LOG"
	assert_output --partial pipe.csv

	assert_equal "$(snapshot "$IN")" "$in_before"
	assert_equal "$(snapshot "$WH")" "$wh_before"
	assert_equal "$(snapshot "$MAN")" "$man_before"
	assert_equal "$(sha "$DB")" "$db_before"
	assert_equal "$(db "SELECT count(*) FROM files")" "$rows_before"
}

# --- names that are never ingested ---

@test "hidden files, rsync temp names and .tmp/.part/.swp files are never ingested" {
	start_daemon
	ignored=(.hidden.csv .report.csv.Xa81Qz .orders.csv.AbC123 upload.csv.tmp
	    upload.csv.part .upload.csv.swp notes.swp)
	for f in "${ignored[@]}"; do
		printf 'ignored %s\n' "$f" >"$IN/$f"
	done
	mkdir "$IN/.hiddendir"
	printf 'in a hidden dir\n' >"$IN/.hiddendir/inside.csv"
	# let them all pass the stability window, then drop a normal file
	age_past_window
	drop_file normal.csv "normal"
	wait_until 30 row_state_is normal.csv MANIFESTED

	for f in "${ignored[@]}"; do
		[ -f "$IN/$f" ] || fail "$f vanished from staging"
		assert_equal "$(cat "$IN/$f")" "ignored $f"
	done
	[ -f "$IN/.hiddendir/inside.csv" ]
	# only the normal file in the DB, the archive and the manifest
	run db "SELECT relpath FROM files"
	assert_output normal.csv
	run archive_files
	assert_output "$(find "$WH" -type f -name normal.csv)"
	assert_equal "$(count_archive)" 1
	assert_equal "$(count_manifest)" 1
	run grep -E '"event":"file_(ingested|rejected|queued)"' "$LOG"
	refute_output --regexp '(hidden|Xa81Qz|AbC123|\.tmp|\.part|\.swp|inside)'
}

@test "sidecar mode: size and sha256 lines in NAME.ok are verified before ingesting" {
	printf 'vouched content' >"$IN/good.csv"
	{
		echo "size $(stat -c %s "$IN/good.csv")"
		echo "sha256 $(sha "$IN/good.csv")"
	} >"$IN/good.csv.ok"
	# a sha256sum(1) line works too
	printf 'summed content' >"$IN/summed.csv"
	sha256sum "$IN/summed.csv" >"$IN/summed.csv.ok"
	start_daemon --mode sidecar
	wait_state MANIFESTED 2
	stop_daemon
	[ ! -e "$IN/good.csv" ] && [ ! -e "$IN/good.csv.ok" ]
	assert_equal "$(cat "$WH"/ingest_date=*/good.csv)" "vouched content"
}

@test "sidecar mode: a sha256 mismatch is REJECTED, nothing is published, the file stays" {
	printf 'actual bytes' >"$IN/bad.csv"
	echo "sha256 $(printf 'other bytes' | sha256sum | cut -d' ' -f1)" >"$IN/bad.csv.ok"
	start_daemon --mode sidecar
	wait_state REJECTED 1
	stop_daemon
	assert_equal "$(db "SELECT last_error FROM files WHERE relpath = 'bad.csv'")" "sidecar mismatch: sha256"
	run find "$WH" -type f
	assert_output ""
	[ -f "$IN/bad.csv" ] && [ -f "$IN/bad.csv.ok" ]
}

@test "sidecar mode: a size mismatch is REJECTED with both sizes in the reason" {
	printf '12345' >"$IN/short.csv"
	echo "size 10" >"$IN/short.csv.ok"
	start_daemon --mode sidecar
	wait_state REJECTED 1
	stop_daemon
	assert_equal "$(db "SELECT last_error FROM files")" "sidecar mismatch: size 5, sidecar says 10"
	run find "$WH" -type f
	assert_output ""
}
