#!/usr/bin/env bats
# ingestctl's read-only commands (status, query, show) against a database
# the real daemon wrote: counts, filters, formats (the JSON and CSV are
# parsed), hostile names, exit codes; without a daemon, what needs one says
# so (69).  control.bats covers the commands the daemon answers.

load helpers
bats_require_minimum_version 1.5.0

: "${INGESTCTL:=$TOP_BUILDDIR/ingestctl}"

# One database for the whole file, built by two --once runs of the daemon:
# run 1 ingests ordinary and hostile names, two contents whose SHA-256
# share the first 4 hex digits, and rejects a FIFO; run 2 (after $MID)
# gets a duplicate of orders.csv, so which file is the original is known.
setup_file() {
	setup_tree
	drop_file orders.csv $'a,b\n1,2\n'
	drop_file notes.txt 'hello'
	drop_file $'new\nline.csv' 'newline'
	drop_file $'tab\tand "quotes",comma.csv' 'tab'
	drop_file $'bad\xffname.csv' 'not utf-8'
	mkfifo "$IN/pipe.fifo"
	python3 - "$IN" <<'EOF'
import hashlib, os, sys
seen = {}
i = 0
while True:
    data = b"twin %d\n" % i
    p = hashlib.sha256(data).hexdigest()[:4]
    if p in seen:
        break
    seen[p] = data
    i += 1
for name, data in (("twin-a.dat", seen[p]), ("twin-b.dat", data)):
    tmp = os.path.join(sys.argv[1], "." + name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, os.path.join(sys.argv[1], name))
EOF
	sleep 1.1
	# shellcheck disable=SC2046
	"$INGESTD" $(ingestd_args) --once 2>>"$LOG"
	MID=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
	sleep 0.01
	drop_file dup-of-orders.csv $'a,b\n1,2\n'
	sleep 1.1
	# shellcheck disable=SC2046
	"$INGESTD" $(ingestd_args) --once 2>>"$LOG"
	export T IN WH MAN DB LOG MID
}

teardown_file() { teardown_tree; }

# --- local helpers ---

# ingestctl --db $DB ARGS, stdout and stderr kept apart
ctl() { run --separate-stderr "$INGESTCTL" --db "$DB" "$@"; }

# A usage error: exit 64, one line on stderr that names --help.
assert_usage_error() {
	run --separate-stderr "$INGESTCTL" "$@"
	assert_equal "$status" 64
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ] ||
	    fail "expected one line on stderr, got: $stderr"
	[[ $stderr == *--help* ]] || fail "stderr does not name --help: $stderr"
	assert_output ""
}

# Run a command on a pseudo-terminal (output has CRLF line ends).
on_tty() {
	command -v script >/dev/null || skip "script(1) is not installed"
	local cmd
	cmd=$(printf '%q ' "$@")
	run script -qec "$cmd" /dev/null
}

has_escape() { [[ $1 == *$'\e['* ]]; }

# Count rows of the DB matching an SQL condition.
db_count() { db "SELECT count(*) FROM files WHERE $1"; }

# Every line of $output must be a JSON object; prints python's view.
# usage: json_lines 'python expression over rows (a list of dicts)'
json_lines() {
	printf '%s\n' "$output" | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin.read().splitlines()]
assert all(isinstance(r, dict) for r in rows)
print(eval(sys.argv[1]))' "$1"
}

# --- the fixture itself ---

@test "fixture: the daemon ingested, rejected and skipped what the tests expect" {
	[ "$(count_state MANIFESTED)" -eq 7 ]
	[ "$(count_state SKIPPED_DUPLICATE)" -eq 1 ]
	[ "$(count_state REJECTED)" -eq 1 ]
}

# --- status ---

@test "status: per-state counts, totals and bytes match the database" {
	ctl status
	assert_success
	local s
	for s in DISCOVERED QUEUED PROCESSING HASHED MOVED MANIFESTED \
	    SKIPPED_DUPLICATE REJECTED RETRY_PENDING FAILED; do
		assert_line "$(printf 'state\t%s\t%s' "$s" "$(count_state "$s")")"
	done
	assert_line "$(printf 'files\t%s' "$(db_count 1)")"
	assert_line "$(printf 'ingested\t%s' "$(count_state MANIFESTED)")"
	assert_line "$(printf 'bytes_ingested\t%s' \
	    "$(db "SELECT sum(size) FROM files WHERE state = 'MANIFESTED'")")"
	assert_line "$(printf 'schema_version\t%s' "$(db 'SELECT version FROM schema_version')")"
	# one watch in quick mode: files manifested bytes dups rejected failed unfinished
	assert_line --regexp "^watch	[^	]+	9	7	[0-9]+	1	1	0	0$"
}

@test "status: a database from before the counts table (schema 3) is counted row by row" {
	local old="$BATS_TEST_TMPDIR/v3.db"
	sqlite3 "$DB" ".backup '$old'"
	sqlite3 "$old" "DROP TRIGGER file_counts_delete; DROP TABLE file_counts;
	    CREATE INDEX files_state ON files(state);
	    UPDATE schema_version SET version = 3"
	run --separate-stderr "$INGESTCTL" --db "$DB" status
	assert_success
	local want=$output
	run --separate-stderr "$INGESTCTL" --db "$old" status
	assert_success
	assert_line "$(printf 'schema_version\t3')"
	assert_line "$(printf 'files\t%s' "$(db_count 1)")"
	assert_equal "$(printf '%s\n' "$output" | grep -Ev '^(schema_version|database)\s')" \
	    "$(printf '%s\n' "$want" | grep -Ev '^(schema_version|database)\s')"
}

@test "a schema 4 database of 20,000 rows is migrated in place: state tests without IN lists, one sha256 index, every row kept" {
	local old="$BATS_TEST_TMPDIR/v4.db" before held
	sqlite3 "$DB" ".backup '$old'"
	# the schema as version 5 wrote it, 20,000 more ingested rows, then
	# the schema as version 4 wrote it: the index rebuild journals
	# megabytes, which a statement-journal setting once broke
	# (SQLITE_FULL) from this size on
	sqlite3 "$old" "
	    DROP INDEX files_content;
	    ALTER TABLE files DROP COLUMN holder;
	    CREATE UNIQUE INDEX files_content ON files(sha256)
	        WHERE (state = 'HASHED' OR state = 'MOVED' OR state = 'MANIFESTED');
	    CREATE INDEX files_sha256 ON files(sha256);
	    WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c
	        WHERE i < 20000)
	    INSERT INTO files (watch, source_path, relpath, device, inode, size,
	        mtime_ns, ctime_ns, sha256, xxh128, dest, manifest, state,
	        source_removed, discovered_at, updated_at, ingested_at)
	    SELECT 'input', '/s/g' || i, 'g' || i, 1, i, 10, 0, 0,
	        lower(hex(randomblob(32))), lower(hex(randomblob(16))),
	        '/d/g' || i, '/m/manifest.jsonl', 'MANIFESTED', 1,
	        '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z',
	        '2026-01-01T00:00:00.000Z' FROM c;
	    UPDATE file_counts SET files = files + 20000,
	        bytes = bytes + 200000
	        WHERE watch = 'input' AND state = 'MANIFESTED';
	    PRAGMA writable_schema = ON;
	    UPDATE sqlite_master SET sql = replace(sql, 'CHECK (state = ''DISCOVERED'' OR state = ''QUEUED'' OR state = ''PROCESSING'' OR state = ''HASHED'' OR state = ''MOVED'' OR state = ''MANIFESTED'' OR state = ''SKIPPED_DUPLICATE'' OR state = ''REJECTED'' OR state = ''RETRY_PENDING'' OR state = ''FAILED'')',
	        'CHECK (state IN (''DISCOVERED'',''QUEUED'',  ''PROCESSING'',''HASHED'',''MOVED'',''MANIFESTED'',''SKIPPED_DUPLICATE'',  ''REJECTED'',''RETRY_PENDING'',''FAILED''))')
	        WHERE name = 'files';
	    PRAGMA writable_schema = OFF;
	    DROP INDEX files_content;
	    CREATE UNIQUE INDEX files_content ON files(sha256)
	        WHERE state IN ('HASHED','MOVED','MANIFESTED');
	    UPDATE schema_version SET version = 4;"
	run sqlite3 "$old" "SELECT sql FROM sqlite_master WHERE name = 'files'"
	assert_output --partial "CHECK (state IN ('DISCOVERED'"
	refute_output --partial holder
	before=$(sqlite3 "$old" "SELECT count(*) FROM files")
	held=$(sqlite3 "$old" "SELECT count(*) FROM files
	    WHERE state IN ('HASHED','MOVED','MANIFESTED')")
	# shellcheck disable=SC2046
	run "$INGESTD" $(ingestd_args) --state-path "$old" --once
	assert_success
	assert_equal "$(sqlite3 "$old" 'SELECT version FROM schema_version')" 6
	assert_equal "$(sqlite3 "$old" 'SELECT count(*) FROM files')" "$before"
	assert_equal "$(sqlite3 "$old" 'PRAGMA integrity_check')" ok
	run sqlite3 "$old" "SELECT sql FROM sqlite_master
	    WHERE name IN ('files', 'files_content')"
	refute_output --partial " IN ("
	assert_output --partial "state = 'FAILED')"
	assert_output --partial "holder INTEGER CHECK (holder IS CASE"
	# every archived content has its holder; one index on sha256
	assert_equal "$(sqlite3 "$old" 'SELECT count(*) FROM files
	    WHERE holder = 1')" "$held"
	assert_equal "$(sqlite3 "$old" "SELECT count(*) FROM sqlite_master
	    WHERE type = 'index' AND sql LIKE '%sha256%'")" 1
	# and a state change builds no temporary table any more
	run sqlite3 "$old" "EXPLAIN UPDATE files SET state = 'QUEUED'
	    WHERE id = 1"
	refute_output --partial OpenEphemeral
	run --separate-stderr "$INGESTCTL" --db "$old" status
	assert_success
	assert_line "$(printf 'schema_version\t6')"
	assert_line "$(printf 'files\t%s' "$before")"
}

@test "status --json: one object whose counts match the database" {
	ctl --json status
	assert_success
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 1 ]
	want=$(db "SELECT lower(state) || '=' || count(*) FROM files GROUP BY state" | sort | tr '\n' ' ')
	got=$(printf '%s' "$output" | python3 -c '
import json, sys
o = json.load(sys.stdin)
print(" ".join(sorted("%s=%d" % kv for kv in o["states"].items() if kv[1])) + " ")')
	assert_equal "$got" "$want"
	printf '%s' "$output" | SV=$(db 'SELECT version FROM schema_version') python3 -c '
import json, os, sys
o = json.load(sys.stdin)
assert o["files"] == 9 and o["ingested"] == 7 and o["unfinished"] == 0, o
assert o["schema_version"] == int(os.environ["SV"])
assert len(o["watches"]) == 1 and o["watches"][0]["files"] == 9
assert o["oldest_unfinished"] is None
assert o["last_ingested"]["state"] == "MANIFESTED"'
}

@test "status: the last ingested file is the newest MANIFESTED one" {
	want=$(db "SELECT id FROM files WHERE state = 'MANIFESTED' ORDER BY ingested_at DESC, id DESC LIMIT 1")
	ctl status
	assert_success
	assert_line --regexp "^last_ingested	$want	"
	refute_line --regexp '^oldest_unfinished'
}

@test "status: the oldest unfinished file is shown with its age" {
	cp "$DB" "$BATS_TEST_TMPDIR/st.db"
	sqlite3 "$BATS_TEST_TMPDIR/st.db" "UPDATE files SET state = 'QUEUED',
	    holder = NULL, discovered_at = '2026-01-01T00:00:00.000Z' WHERE relpath = 'notes.txt'"
	id=$(sqlite3 "$BATS_TEST_TMPDIR/st.db" "SELECT id FROM files WHERE relpath = 'notes.txt'")
	run --separate-stderr "$INGESTCTL" --db "$BATS_TEST_TMPDIR/st.db" --json status
	assert_success
	printf '%s' "$output" | python3 -c '
import json, sys
o = json.load(sys.stdin)["oldest_unfinished"]
assert o["id"] == int(sys.argv[1]) and o["state"] == "QUEUED", o
assert o["age_seconds"] > 3600, o' "$id"
}

# --- query: formats ---

@test "query --json: one object per file, stable keys, hostile names round-trip" {
	ctl query --json --limit 0
	assert_success
	[ "$(json_lines 'len(rows)')" -eq "$(db_count 1)" ]
	run json_lines 'sorted(set(tuple(sorted(r)) for r in rows)) == [tuple(sorted(["id","state","watch","name","relpath","source_path","size","mtime_ns","ctime_ns","device","inode","sha256","xxh128","dest","manifest","attempts","last_error","duplicate_of","source_removed","discovered_at","updated_at","ingested_at","name_escaped"]))]'
	assert_output True
	ctl query --json --limit 0
	run json_lines '[r["name"] for r in rows if r["name"].startswith("new")]'
	assert_output "['new\\nline.csv']"
	ctl query --json --limit 0
	# invalid UTF-8 escaped reversibly and flagged
	run json_lines '[(r["name"].encode("utf-8", "surrogateescape"), r["name_escaped"]) for r in rows if r["name"].startswith("bad")]'
	assert_output "[(b'bad\\xffname.csv', True)]"
}

@test "query --format csv: RFC 4180 with a header, parsed by python's csv module" {
	ctl query --format csv --limit 0
	assert_success
	printf '%s' "$output" | python3 -c '
import csv, io, sys
rows = list(csv.reader(io.StringIO(sys.stdin.buffer.read().decode("utf-8", "surrogateescape"), newline="")))
assert rows[0] == ["id","state","watch","size","discovered_at","ingested_at","relpath","dest","sha256"], rows[0]
body = rows[1:]
assert len(body) == int(sys.argv[1]), len(body)
names = {r[6] for r in body}
assert "new\nline.csv" in names, names
assert "tab\tand \"quotes\",comma.csv" in names, names
assert "bad\udcffname.csv" in names, names
assert all(len(r[8]) in (0, 64) for r in body)' "$(db_count 1)"
}

@test "query piped: tab-separated, no header, no colour, one line per file" {
	ctl query --limit 0
	assert_success
	[ "${#lines[@]}" -eq "$(db_count 1)" ]
	refute_line --partial ID
	has_escape "$output" && fail "colour escape in piped output"
	# a newline, a tab and quotes in a name stay on one line, escaped
	assert_line --partial $'\tnew\\nline.csv\t'
	assert_line --partial $'\ttab\\tand "quotes",comma.csv\t'
	# full sha256 in the last column
	orders=$(db "SELECT sha256 FROM files WHERE relpath = 'orders.csv'")
	assert_line --regexp "	orders\.csv	.*	$orders\$"
}

@test "query: newest first, --limit takes the newest" {
	ctl query --json --limit 0
	all=$(json_lines '[r["id"] for r in rows]')
	want=$(db "SELECT id FROM files ORDER BY discovered_at DESC, id DESC" | paste -sd, | sed 's/,/, /g')
	assert_equal "$all" "[$want]"
	ctl query --json --limit 2
	assert_success
	assert_equal "$(json_lines '[r["id"] for r in rows]')" \
	    "[$(db "SELECT id FROM files ORDER BY discovered_at DESC, id DESC LIMIT 2" | paste -sd, | sed 's/,/, /g')]"
}

# --- query: filters ---

@test "query --state: only that state; a comma list is any of them" {
	ctl query --json --state REJECTED
	assert_success
	assert_equal "$(json_lines '[(r["name"], r["state"], "fifo" in r["last_error"]) for r in rows]')" \
	    "[('pipe.fifo', 'REJECTED', True)]"
	ctl query --count --state MANIFESTED,SKIPPED_DUPLICATE
	assert_success
	assert_output "$(db_count "state IN ('MANIFESTED', 'SKIPPED_DUPLICATE')")"
	ctl query --count --state FAILED --state REJECTED
	assert_output 1
}

@test "query --name: a shell glob on the file name" {
	ctl query --json --limit 0 --name '*.csv'
	assert_success
	assert_equal "$(json_lines 'sorted(r["name"] for r in rows)')" \
	    "$(python3 -c 'print(sorted(["orders.csv", "dup-of-orders.csv", "new\nline.csv", "tab\tand \"quotes\",comma.csv", "bad\udcffname.csv"]))')"
	ctl query --json --name 'orders.*'
	assert_equal "$(json_lines '[r["name"] for r in rows]')" "['orders.csv']"
	ctl query --json --name 'new?line.csv'
	assert_equal "$(json_lines '[r["name"] for r in rows]')" "['new\\nline.csv']"
	ctl query --json --name '[!a-s]*'
	assert_equal "$(json_lines 'sorted(r["name"] for r in rows)')" \
	    "['tab\\tand \"quotes\",comma.csv', 'twin-a.dat', 'twin-b.dat']"
}

@test "query --hash: a prefix matches the original and its duplicate; case does not matter" {
	sha=$(db "SELECT sha256 FROM files WHERE relpath = 'orders.csv'")
	ctl query --json --hash "${sha:0:8}"
	assert_success
	assert_equal "$(json_lines 'sorted((r["name"], r["state"]) for r in rows)')" \
	    "[('dup-of-orders.csv', 'SKIPPED_DUPLICATE'), ('orders.csv', 'MANIFESTED')]"
	ctl query --count --hash "$(printf '%s' "${sha:0:10}" | tr a-f A-F)"
	assert_output 2
	ctl query --count --hash "$sha"
	assert_output 2
}

@test "query --hash: fewer than 4 or non-hex digits exit 65" {
	for bad in abc xyz1 "$(printf 'a%.0s' {1..65})"; do
		ctl query --hash "$bad"
		assert_equal "$status" 65
		[[ $stderr == *--hash* ]] || fail "no --hash in: $stderr"
	done
}

@test "query --since/--until: by discovery time, as a duration or an ISO time" {
	ctl query --json --since "$MID"
	assert_success
	assert_equal "$(json_lines '[r["name"] for r in rows]')" "['dup-of-orders.csv']"
	ctl query --count --until "$MID"
	assert_output "$(($(db_count 1) - 1))"
	ctl query --count --since 1h
	assert_output "$(db_count 1)"
	ctl query --count --since 1w2d3h4m5s
	assert_output "$(db_count 1)"
	ctl query --count --until 1h
	assert_failure 1
	assert_output 0
	ctl query --count --since 2999-01-01
	assert_failure 1
	ctl query --count --until 2999-01-01T00:00+02:00
	assert_output "$(db_count 1)"
}

@test "query --since: a bad duration or time exits 65 naming it" {
	for bad in 10x 10 h 2026-13-01 2026-02-30 1h-; do
		ctl query --since "$bad"
		assert_equal "$status" 65
		[[ $stderr == *--since* && $stderr == *"'$bad'"* ]] ||
		    fail "unclear message for '$bad': $stderr"
	done
}

@test "query --count: just the number; nothing found prints 0 and exits 1" {
	ctl query --count
	assert_success
	assert_output "$(db_count 1)"
	ctl query --count --watch no-such-watch
	assert_failure 1
	assert_output 0
	ctl query --watch no-such-watch
	assert_failure 1
	assert_output ""
}

@test "query --watch, and filters combine with AND" {
	watch=$(db 'SELECT DISTINCT watch FROM files')
	ctl query --count --watch "$watch"
	assert_success
	assert_output "$(db_count 1)"
	ctl query --json --watch "$watch" --state MANIFESTED --name '*orders*' \
	    --since 1h
	assert_success
	assert_equal "$(json_lines '[r["name"] for r in rows]')" "['orders.csv']"
}

@test "query --limit: not a number exits 65; --json with --format csv is a usage error" {
	ctl query --limit -1
	assert_equal "$status" 65
	ctl query --limit ten
	assert_equal "$status" 65
	ctl query --format xml
	assert_equal "$status" 65
	assert_usage_error --db "$DB" --json query --format csv
}

# --- show ---

@test "show: a duplicate points at its original (id and archive path)" {
	dup=$(db "SELECT id FROM files WHERE state = 'SKIPPED_DUPLICATE'")
	orig=$(db "SELECT id FROM files WHERE relpath = 'orders.csv'")
	dest=$(db "SELECT dest FROM files WHERE id = $orig")
	[ -f "$dest" ]
	ctl show --json "$dup"
	assert_success
	printf '%s' "$output" | python3 -c '
import json, sys
o = json.loads(sys.stdin.read())
assert o["id"] == int(sys.argv[1]) and o["state"] == "SKIPPED_DUPLICATE", o
assert o["duplicate_of"] == int(sys.argv[2]), o
assert o["original"] == {"id": int(sys.argv[2]), "state": "MANIFESTED", "dest": sys.argv[3]}, o
states = [e["state"] for e in o["events"]]
assert states[0] == "DISCOVERED" and "SKIPPED_DUPLICATE" in states, states
assert any(e["detail"] == "duplicate of %s" % sys.argv[2] for e in o["events"]), o["events"]' \
	    "$dup" "$orig" "$dest"
	ctl show "$dup"
	assert_line "$(printf 'original\t%s\tMANIFESTED\t%s' "$orig" "$dest")"
}

@test "show: the original lists its duplicates and its full event trail in order" {
	orig=$(db "SELECT id FROM files WHERE relpath = 'orders.csv'")
	dup=$(db "SELECT id FROM files WHERE state = 'SKIPPED_DUPLICATE'")
	ctl show "$orig"
	assert_success
	assert_line "$(printf 'duplicate\t%s' "$dup")"
	assert_equal "$(printf '%s\n' "${lines[@]}" | sed -n 's/^event\t[^\t]*\t\([^\t]*\)\t.*/\1/p' | paste -sd' ')" \
	    "$(db "SELECT state FROM events WHERE file_id = $orig ORDER BY id" | paste -sd' ')"
}

@test "show: by hash prefix, by archive path, by source path, by name" {
	orig=$(db "SELECT id FROM files WHERE relpath = 'orders.csv'")
	sha=$(db "SELECT sha256 FROM files WHERE id = $orig")
	dest=$(db "SELECT dest FROM files WHERE id = $orig")
	# the prefix names one content held by the original (its duplicate shares it)
	ctl show "${sha:0:12}"
	assert_success
	assert_line "$(printf 'id\t%s' "$orig")"
	ctl show "$dest"
	assert_line "$(printf 'id\t%s' "$orig")"
	ctl show "$IN/orders.csv"
	assert_line "$(printf 'id\t%s' "$orig")"
	cd "$IN"
	ctl show ./orders.csv
	assert_line "$(printf 'id\t%s' "$orig")"
	ctl show notes.txt
	assert_success
	assert_line "$(printf 'name\tnotes.txt')"
}

@test "show: a hash prefix of two contents exits 65 listing both" {
	a=$(db "SELECT sha256 FROM files WHERE relpath = 'twin-a.dat'")
	b=$(db "SELECT sha256 FROM files WHERE relpath = 'twin-b.dat'")
	[ "${a:0:4}" = "${b:0:4}" ] && [ "$a" != "$b" ]
	ctl show "${a:0:4}"
	assert_equal "$status" 65
	[[ $stderr == *"$a"* && $stderr == *"$b"* ]] || fail "candidates missing: $stderr"
	[[ $stderr == *twin-a.dat* && $stderr == *twin-b.dat* ]] || fail "names missing: $stderr"
	assert_output ""
}

@test "show: a missing id exits 1 and says so" {
	ctl show 99999
	assert_failure 1
	assert_output ""
	[[ $stderr == *"no file matches '99999'"* ]] || fail "stderr: $stderr"
	ctl show /no/such/file.csv
	assert_failure 1
}

@test "show: a name with a newline stays on one line in every output" {
	id=$(db "SELECT id FROM files WHERE relpath LIKE 'new%line.csv'")
	ctl show "$id"
	assert_success
	assert_line "$(printf 'relpath\tnew\\nline.csv')"
	on_tty "$INGESTCTL" --db "$DB" show "$id"
	assert_success
	assert_line --regexp '^relpath +new\\nline\.csv'$'\r''$'
}

# --- terminal output and colour ---

@test "a terminal gets an aligned table with a header and coloured states" {
	on_tty env TERM=xterm NO_COLOR= "$INGESTCTL" --db "$DB" query --limit 0
	assert_success
	[[ ${lines[0]} == *ID*STATE*WATCH*SIZE*NAME*DEST*SHA256* ]] || fail "no header: ${lines[0]}"
	assert_line --partial $'\e[32mMANIFESTED\e[0m'
	assert_line --partial $'\e[35mREJECTED\e[0m'
	# a short hash in the table, never the full one
	sha=$(db "SELECT sha256 FROM files WHERE relpath = 'notes.txt'")
	assert_line --partial "${sha:0:12}"
	refute_line --partial "$sha"
}

@test "NO_COLOR and --no-color turn colour off; the table stays" {
	on_tty env TERM=xterm NO_COLOR=1 "$INGESTCTL" --db "$DB" query
	assert_success
	[[ ${lines[0]} == ID* ]] || fail "no header: ${lines[0]}"
	has_escape "$output" && fail "colour despite NO_COLOR"
	on_tty env TERM=xterm NO_COLOR= "$INGESTCTL" --db "$DB" --no-color status
	assert_success
	assert_line --partial 'STATE'
	has_escape "$output" && fail "colour despite --no-color"
	true
}

@test "piped status has no header and no colour even with a colour terminal" {
	TERM=xterm ctl status
	assert_success
	has_escape "$output" && fail "colour escape when piped"
	refute_line --partial STATE
	true
}

# --- exit codes ---

@test "usage errors exit 64 with one line naming --help" {
	assert_usage_error
	assert_usage_error --db "$DB"
	assert_usage_error --db "$DB" frobnicate
	assert_usage_error --db "$DB" --frobnicate status
	assert_usage_error --db "$DB" query --frobnicate
	assert_usage_error --db "$DB" query --state
	assert_usage_error --db "$DB" status extra
	assert_usage_error --db "$DB" show
	assert_usage_error --db "$DB" show 1 2
	assert_usage_error help frobnicate
	assert_usage_error -s /run/x.sock --db "$DB" status
}

@test "a bad state exits 65 and lists the valid ones" {
	ctl query --state DONE
	assert_equal "$status" 65
	assert_output ""
	local s
	for s in DISCOVERED QUEUED PROCESSING HASHED MOVED MANIFESTED \
	    SKIPPED_DUPLICATE REJECTED RETRY_PENDING FAILED; do
		[[ $stderr == *"$s"* ]] || fail "$s not listed: $stderr"
	done
	[[ $stderr == *DONE* ]]
	# names are exact
	ctl query --state manifested
	assert_equal "$status" 65
}

@test "a missing database exits 66 naming the path" {
	run --separate-stderr "$INGESTCTL" --db "$T/no-such.db" status
	assert_equal "$status" 66
	[[ $stderr == *"$T/no-such.db"* ]] || fail "path not named: $stderr"
	[ ! -e "$T/no-such.db" ] || fail "the database was created"
}

@test "a file that is not an ingestd database, or a newer schema, exits 65" {
	echo "not sqlite" >"$BATS_TEST_TMPDIR/junk.db"
	run --separate-stderr "$INGESTCTL" --db "$BATS_TEST_TMPDIR/junk.db" status
	assert_equal "$status" 65
	sqlite3 "$BATS_TEST_TMPDIR/other.db" 'CREATE TABLE t (x)'
	run --separate-stderr "$INGESTCTL" --db "$BATS_TEST_TMPDIR/other.db" status
	assert_equal "$status" 65
	[[ $stderr == *"not an ingestd"* ]] || fail "stderr: $stderr"
	cp "$DB" "$BATS_TEST_TMPDIR/newer.db"
	sqlite3 "$BATS_TEST_TMPDIR/newer.db" 'UPDATE schema_version SET version = 99'
	run --separate-stderr "$INGESTCTL" --db "$BATS_TEST_TMPDIR/newer.db" query
	assert_equal "$status" 65
	[[ $stderr == *"version 99 is newer"* ]] || fail "stderr: $stderr"
}

@test "reading a stopped daemon's database leaves no -wal or -shm file" {
	[ ! -e "$DB-wal" ] && [ ! -e "$DB-shm" ]
	ctl status
	assert_success
	ctl show 1
	[ ! -e "$DB-wal" ] || fail "$DB-wal created"
	[ ! -e "$DB-shm" ] || fail "$DB-shm created"
}

@test "without --db and no daemon: exit 69 with a hint; mutating commands refuse --db" {
	INGESTD_SOCKET=$T/nothing.sock run --separate-stderr "$INGESTCTL" status
	assert_equal "$status" 69
	[[ $stderr == *"$T/nothing.sock"* ]] || fail "no socket named: $stderr"
	[[ $stderr == *--db* ]] || fail "no hint: $stderr"
	run --separate-stderr "$INGESTCTL" -s "$T/ingestd.sock" query
	assert_equal "$status" 69
	for cmd in "retry --all" "reconcile --check" "reload --wait" pause "resume incoming"; do
		# shellcheck disable=SC2086
		run --separate-stderr "$INGESTCTL" --db "$DB" $cmd
		assert_equal "$status" 64
		[[ $stderr == *"--db only reads"* ]] || fail "$cmd: $stderr"
	done
}

# --- help and version ---

@test "--help, help COMMAND and --version" {
	run "$INGESTCTL" --help
	assert_success
	assert_line --partial 'usage: ingestctl'
	for cmd in status query show retry reconcile reload pause resume; do
		assert_output --partial "$cmd"
	done
	run "$INGESTCTL" help query
	assert_success
	assert_output --partial '--since'
	run "$INGESTCTL" show --help
	assert_success
	assert_output --partial 'HASH-PREFIX'
	run "$INGESTCTL" retry --help
	assert_success
	assert_output --partial '--dry-run'
	run "$INGESTCTL" help reconcile
	assert_success
	assert_output --partial 'archive_missing'
	want=$(sed -n 's/^AC_INIT(\[ingestd\], *\[\([^]]*\)\].*/\1/p' \
	    "$TOP_SRCDIR/configure.ac")
	run "$INGESTCTL" --version
	assert_success
	assert_output "ingestctl $want"
}
