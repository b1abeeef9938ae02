#!/usr/bin/env bats
# The core ingestion promises, driven through the quick-mode command line:
# archive layout, manifest lines, the audit trail, completeness, exactly-once
# per content, name collisions, recursion, bursts, restarts and hostile names.

load helpers

setup() { setup_tree; }
teardown() { teardown_tree; }

# --- local helpers ---

# The archive directory for one UTC date.
day_dir() { echo "$WH/ingest_date=$1"; }

# Today's UTC date, remembered before the test acts so a run that straddles
# midnight still finds its files (the daemon uses the ingest time).
remember_date() { D0=$(date -u +%F); }

# The archive path of NAME: whichever of the remembered and the current UTC
# date holds it (prints the first candidate when neither does).
archived_path() {
	local d
	for d in "$D0" "$(date -u +%F)"; do
		if [ -e "$(day_dir "$d")/$1" ]; then
			echo "$(day_dir "$d")/$1"
			return
		fi
	done
	echo "$(day_dir "$D0")/$1"
}

# id of the row for a staging relpath (the most recent one).
row_id() { db "SELECT id FROM files WHERE relpath = '$1' ORDER BY id DESC LIMIT 1"; }
source_removed_is_1() { [ "$(row_field "$1" source_removed)" = 1 ]; }
gone() { [ ! -e "$1" ] && [ ! -L "$1" ]; }
staging_empty() { [ -z "$(find "$IN" -mindepth 1 -not -type d -print -quit)" ]; }

# Copy a prepared file into staging the careful way (temp + rename).
drop_from() {
	local src=$1 name=$2 dir
	dir=$(dirname "$IN/$name")
	mkdir -p "$dir"
	cp "$src" "$dir/.$(basename "$name").cp"
	mv "$dir/.$(basename "$name").cp" "$IN/$name"
}

count_archive() { archive_files | grep -c . || true; }
count_manifest() { manifest_lines | grep -c . || true; }

# --- tests ---

@test "a dropped file is archived at the quick-mode path with identical bytes, one manifest line and the full audit trail" {
	remember_date
	make_random "$T/orders.src" 64
	want_sha=$(sha "$T/orders.src")
	want_size=$(stat -c %s "$T/orders.src")
	want_xxh=$(xxhsum -H2 "$T/orders.src" | cut -d' ' -f1)
	start_daemon
	drop_from "$T/orders.src" orders.csv
	read -r want_dev want_ino want_mtime < <(stat -c '%d %i %Y' "$IN/orders.csv")

	wait_state MANIFESTED 1
	wait_until 10 source_removed_is_1 orders.csv

	# the archive: exactly one file, at WAREHOUSE/ingest_date=UTC-DATE/NAME
	dest=$(archived_path orders.csv)
	run archive_files
	assert_output "$dest"
	cmp "$T/orders.src" "$dest"

	# the source is gone from staging
	gone "$IN/orders.csv"

	# the DB row
	id=$(row_id orders.csv)
	[ -n "$id" ]
	assert_equal "$(row_field orders.csv state)" MANIFESTED
	assert_equal "$(row_field orders.csv sha256)" "$want_sha"
	assert_equal "$(row_field orders.csv size)" "$want_size"
	assert_equal "$(row_field orders.csv dest)" "$dest"
	assert_equal "$(row_field orders.csv source_path)" "$IN/orders.csv"
	assert_equal "$(db "SELECT count(*) FROM files")" 1
	# the full trail of state changes, in order (audit notes that keep the
	# state, such as the source removal, collapse into their state)
	run sh -c "sqlite3 -batch -noheader '$DB' 'SELECT state FROM events WHERE file_id = $id ORDER BY rowid' | uniq"
	assert_output "$(printf '%s\n' DISCOVERED QUEUED PROCESSING HASHED MOVED MANIFESTED)"

	# exactly one manifest line, strict JSON, with the promised fields
	assert_manifest_valid
	assert_equal "$(count_manifest)" 1
	manifest_lines | python3 -c '
import json, re, sys
(line,) = sys.stdin.read().splitlines()
m = json.loads(line)
want = dict(zip(["id","path","dest","sha256","size","dev","ino","mtime","xxh"], sys.argv[1:]))
keys = {"id","ingested_at","watch","path","dest","size","mtime","device","inode","sha256","xxh128"}
missing = keys - set(m)
assert not missing, "missing fields: %s" % missing
assert set(m) - keys <= {"name_escaped"}, "unexpected fields: %s" % (set(m) - keys)
assert "name_escaped" not in m, "plain ASCII name flagged as escaped"
def check(k, v):
    assert m[k] == v, "%s: manifest has %r, expected %r" % (k, m[k], v)
check("id", int(want["id"]))
check("path", want["path"])
check("dest", want["dest"])
check("sha256", want["sha256"])
check("size", int(want["size"]))
check("device", int(want["dev"]))
check("inode", int(want["ino"]))
check("mtime", int(want["mtime"]))
check("xxh128", want["xxh"])
assert isinstance(m["watch"], str) and m["watch"], "watch: %r" % m["watch"]
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", m["ingested_at"]), m["ingested_at"]
# the archive date and the manifest hour follow the ingest time (UTC)
assert "/ingest_date=%s/" % m["ingested_at"][:10] in m["dest"], (m["dest"], m["ingested_at"])
' "$id" "$IN/orders.csv" "$dest" "$want_sha" "$want_size" "$want_dev" \
	    "$want_ino" "$want_mtime" "$want_xxh"
	at=$(manifest_lines | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["ingested_at"])')
	[ -f "$MAN/${at:0:4}/${at:5:2}/${at:8:2}/${at:11:2}/manifest.jsonl" ]
	assert_no_temp_files
}

@test "a staged file with another hard link is copied, not renamed: the outside name cannot change the archive" {
	mkdir -p "$T/outside"
	printf 'original bytes' >"$T/outside/shared.csv"
	start_daemon
	ln "$T/outside/shared.csv" "$IN/shared.csv"
	wait_state MANIFESTED 1
	wait_until 10 source_removed_is_1 shared.csv
	dest=$(archived_path shared.csv)
	gone "$IN/shared.csv"
	# the archive is its own inode; the outside name is untouched
	[ "$(stat -c %i "$dest")" != "$(stat -c %i "$T/outside/shared.csv")" ]
	assert_equal "$(stat -c %h "$T/outside/shared.csv")" 1
	printf 'changed later' >"$T/outside/shared.csv"
	assert_equal "$(cat "$dest")" 'original bytes'
	stop_daemon
}

@test "a slow writer's file is ingested exactly once, complete, after the last write" {
	remember_date
	start_daemon
	# append a chunk every 0.6 s for ~3.6 s: never quiet for the 1 s window
	for i in 1 2 3 4 5 6 7; do
		head -c 8192 /dev/urandom >>"$IN/slow.csv"
		sleep 0.6
	done
	want_sha=$(sha "$IN/slow.csv")
	want_size=$(stat -c %s "$IN/slow.csv")
	[ "$want_size" -eq $((7 * 8192)) ]

	wait_state MANIFESTED 1
	wait_until 10 gone "$IN/slow.csv"

	# one row, one archive file, one manifest line -- all for the full file
	assert_equal "$(db "SELECT count(*) FROM files")" 1
	assert_equal "$(row_field slow.csv state)" MANIFESTED
	assert_equal "$(row_field slow.csv sha256)" "$want_sha"
	assert_equal "$(row_field slow.csv size)" "$want_size"
	assert_equal "$(count_archive)" 1
	dest=$(archived_path slow.csv)
	assert_equal "$(sha "$dest")" "$want_sha"
	assert_equal "$(count_manifest)" 1
	run manifest_lines
	assert_output --partial "\"sha256\":\"$want_sha\""
	assert_output --partial "\"size\":$want_size"
	# never published a partial copy on the way
	run grep -c '"event":"file_ingested"' "$LOG"
	assert_output 1
}

@test "a .tmp file renamed to its final name is ingested once under the final name only" {
	remember_date
	start_daemon
	make_random "$IN/data.csv.tmp" 32
	want_sha=$(sha "$IN/data.csv.tmp")
	# let the .tmp sit well past the stability window: it must not be taken
	sleep 1.6
	mv "$IN/data.csv.tmp" "$IN/data.csv"

	wait_state MANIFESTED 1
	wait_until 10 gone "$IN/data.csv"

	assert_equal "$(db "SELECT count(*) FROM files")" 1
	assert_equal "$(db "SELECT count(*) FROM files WHERE relpath LIKE '%.tmp'")" 0
	assert_equal "$(row_field data.csv sha256)" "$want_sha"
	run archive_files
	assert_output "$(archived_path data.csv)"
	assert_equal "$(sha "$(archived_path data.csv)")" "$want_sha"
	assert_equal "$(count_manifest)" 1
	run manifest_lines
	refute_output --partial "data.csv.tmp"
	run grep -- 'data.csv.tmp' "$LOG"
	refute_output --partial '"event":"file_ingested"'
	refute_output --partial '"event":"file_queued"'
}

@test "duplicate resend under another name is skipped and points at the original" {
	remember_date
	make_random "$T/payload" 16
	want_sha=$(sha "$T/payload")
	start_daemon
	drop_from "$T/payload" first.csv
	wait_state MANIFESTED 1
	orig=$(row_id first.csv)

	drop_from "$T/payload" second.csv
	wait_state SKIPPED_DUPLICATE 1
	wait_until 10 gone "$IN/second.csv"
	wait_until 10 source_removed_is_1 second.csv

	assert_equal "$(row_field second.csv state)" SKIPPED_DUPLICATE
	assert_equal "$(row_field second.csv duplicate_of)" "$orig"
	assert_equal "$(row_field second.csv sha256)" "$want_sha"
	# archived once, under the first name; one manifest line, for the first
	run archive_files
	assert_output "$(archived_path first.csv)"
	assert_equal "$(count_manifest)" 1
	run manifest_lines
	assert_output --partial "\"id\":$orig,"
	refute_output --partial "second.csv"
	run grep '"event":"file_duplicate"' "$LOG"
	assert_output --partial "second.csv"
}

@test "duplicate resend across a daemon restart is skipped and points at the original" {
	remember_date
	make_random "$T/payload" 16
	start_daemon
	drop_from "$T/payload" monday.csv
	wait_state MANIFESTED 1
	orig=$(row_id monday.csv)
	stop_daemon

	start_daemon
	drop_from "$T/payload" tuesday.csv
	wait_state SKIPPED_DUPLICATE 1
	wait_until 10 gone "$IN/tuesday.csv"

	assert_equal "$(row_field tuesday.csv duplicate_of)" "$orig"
	assert_equal "$(row_field monday.csv state)" MANIFESTED
	run archive_files
	assert_output "$(archived_path monday.csv)"
	cmp "$T/payload" "$(archived_path monday.csv)"
	assert_equal "$(count_manifest)" 1
	assert_equal "$(db "SELECT count(*) FROM files")" 2
}

@test "same name with different content later is archived as STEM~<12hex>.EXT and the first is untouched" {
	remember_date
	make_random "$T/v1" 8
	make_random "$T/v2" 8
	sha1=$(sha "$T/v1")
	sha2=$(sha "$T/v2")
	start_daemon
	drop_from "$T/v1" report.csv
	wait_state MANIFESTED 1
	first=$(archived_path report.csv)
	[ -f "$first" ]
	ino1=$(stat -c %i "$first")

	drop_from "$T/v2" report.csv
	wait_state MANIFESTED 2
	wait_until 10 gone "$IN/report.csv"

	second=$(dirname "$first")/report~${sha2:0:12}.csv
	run archive_files
	assert_output "$(printf '%s\n' "$first" "$second" | sort)"
	# the first archive file is the very same file, with the same bytes
	assert_equal "$(stat -c %i "$first")" "$ino1"
	assert_equal "$(sha "$first")" "$sha1"
	assert_equal "$(sha "$second")" "$sha2"
	assert_equal "$(db "SELECT dest FROM files WHERE sha256 = '$sha2'")" "$second"
	assert_equal "$(count_manifest)" 2
	run manifest_lines
	assert_output --partial "\"dest\":\"$second\""
	assert_manifest_valid
}

@test "files in a new subdirectory created after start are ingested" {
	remember_date
	start_daemon
	# the whole tree and its files appear at once, before any watch on it
	mkdir -p "$IN/a/b/c" && printf 'deep\n' >"$IN/a/b/c/deep.csv" &&
	    printf 'mid\n' >"$IN/a/b/mid.csv"
	# and a file arriving later inside the new tree (needs the new watch)
	wait_until 10 log_has '"event":"file_discovered".*deep.csv'
	drop_file a/b/c/later.csv "later"

	wait_state MANIFESTED 3
	assert_equal "$(row_field a/b/c/deep.csv state)" MANIFESTED
	assert_equal "$(row_field a/b/mid.csv state)" MANIFESTED
	assert_equal "$(row_field a/b/c/later.csv state)" MANIFESTED
	assert_equal "$(printf 'deep\n' | sha256sum | cut -d' ' -f1)" \
	    "$(sha "$(archived_path deep.csv)")"
	assert_equal "$(printf 'mid\n' | sha256sum | cut -d' ' -f1)" \
	    "$(sha "$(archived_path mid.csv)")"
	assert_equal "later" "$(cat "$(archived_path later.csv)")"
	wait_until 10 staging_empty
}

@test "a burst of 200 small files is ingested exactly once each" {
	# prepared outside staging, expected hashes computed here
	mkdir "$T/src"
	sh -c 'for i in $(seq 1 200); do
		printf "burst file number %s" "$i" >"$1/burst-$i.csv"
	done' _ "$T/src"
	(cd "$T/src" && sha256sum -- *) | cut -d' ' -f1 | sort >"$T/want.sha"
	assert_equal "$(sort -u "$T/want.sha" | wc -l)" 200

	start_daemon
	# 200 careful clients in a row (temp name + rename), outside bats so
	# the burst is a burst
	sh -c 'for f in "$1"/*; do
		b=${f##*/}
		cp "$f" "$2/.$b.tmp" && mv "$2/.$b.tmp" "$2/$b"
	done' _ "$T/src" "$IN"

	wait_state MANIFESTED 200 90
	wait_until 30 staging_empty

	assert_equal "$(db "SELECT count(*) FROM files")" 200
	assert_equal "$(count_state MANIFESTED)" 200
	assert_equal "$(count_archive)" 200
	assert_equal "$(count_manifest)" 200
	assert_manifest_valid
	manifest_lines | python3 -c '
import json, sys
for line in sys.stdin:
    print(json.loads(line)["sha256"])' | sort >"$T/man.sha"
	# 200 distinct hashes in the manifest, and exactly the expected ones
	assert_equal "$(sort -u "$T/man.sha" | wc -l)" 200
	cmp "$T/want.sha" "$T/man.sha"
	archive_files | xargs sha256sum | cut -d' ' -f1 | sort >"$T/arch.sha"
	cmp "$T/want.sha" "$T/arch.sha"
	assert_no_temp_files
}

@test "results that complete together are published as one batch (group commit)" {
	local i
	for i in $(seq 1 100); do
		make_random "$IN/g$i.dat" 4
	done
	# --once: the start-up scan queues all 100 files (one DB commit
	# each) while the first two workers finish, so their results are
	# read in one loop round and at least those two share a batch
	run_once --stability-seconds 0
	assert_success
	assert_equal "$(count_state MANIFESTED)" 100
	assert_equal "$(manifest_lines | wc -l)" 100
	assert_equal "$(archive_files | wc -l)" 100
	run find "$IN" -type f
	assert_output ""
	# every file went through a batch, and some batch held several
	run python3 -c '
import json, sys
sizes = [e["files"] for e in map(json.loads, open(sys.argv[1]))
         if e.get("event") == "batch_committed"]
print(sum(sizes), max(sizes) >= 2, all(e >= 1 for e in sizes))' "$LOG"
	assert_output "100 True True"
}

@test "a backlog under a low descriptor limit is ingested in batches that fit it, never running out of descriptors" {
	local i
	for i in $(seq 1 300); do
		make_random "$IN/f$i.dat" 4
	done
	# 150 descriptors: 128 kept for the rest, 4 per batched file, so a
	# batch holds at most 5 files and no job starts while it is full
	# shellcheck disable=SC2046
	run bash -c 'ulimit -n 150 && exec "$@"' _ "$INGESTD" $(ingestd_args) \
	    --once --stability-seconds 0
	printf '%s\n' "$output" >>"$LOG"
	assert_success
	assert_equal "$(count_state MANIFESTED)" 300
	assert_equal "$(manifest_lines | wc -l)" 300
	assert_equal "$(archive_files | wc -l)" 300
	refute grep -q 'Too many open files' "$LOG"
	run python3 -c '
import json, sys
sizes = [e["files"] for e in map(json.loads, open(sys.argv[1]))
         if e.get("event") == "batch_committed"]
print(sum(sizes), max(sizes) <= 5)' "$LOG"
	assert_output "300 True"
}

@test "a default soft descriptor limit is raised to the hard one (at most 65536), so batches are not capped at 224 files" {
	local hard want soft
	hard=$(ulimit -Hn)
	[ "$hard" = unlimited ] && hard=1048576
	[ "$hard" -gt 1024 ] || skip "hard descriptor limit $hard: nothing to raise"
	want=$((hard < 65536 ? hard : 65536))
	ulimit -Sn 1024
	start_daemon
	soft=$(awk '/^Max open files/ { print $4 }' "/proc/$DAEMON_PID/limits")
	assert_equal "$soft" "$want"
	assert grep -q "\"event\":\"fd_limit_raised\",\"from\":1024,\"to\":$want" "$LOG"
	# and it ingests as before
	drop_file a.csv "a"
	wait_state MANIFESTED 1
	stop_daemon
}

@test "SIGTERM exits 0 and a restart ingests what arrived meanwhile" {
	remember_date
	start_daemon
	drop_file before.csv "before the stop"
	wait_state MANIFESTED 1
	rc=0
	stop_daemon || rc=$?
	assert_equal "$rc" 0
	log_has '"event":"stopped"'

	drop_file meanwhile.csv "arrived while the daemon was down"
	make_random "$T/big" 256
	drop_from "$T/big" meanwhile-big.bin
	# nobody is looking: the files stay in staging
	[ -f "$IN/meanwhile.csv" ]
	assert_equal "$(db "SELECT count(*) FROM files")" 1

	start_daemon
	wait_state MANIFESTED 3
	wait_until 10 staging_empty
	assert_equal "$(cat "$(archived_path meanwhile.csv)")" \
	    "arrived while the daemon was down"
	cmp "$T/big" "$(archived_path meanwhile-big.bin)"
	assert_equal "$(count_manifest)" 3
	rc=0
	stop_daemon || rc=$?
	assert_equal "$rc" 0
}

@test "manifest escaping: quote, backslash, newline and invalid UTF-8 names give valid JSON and round-trip" {
	start_daemon
	drop_file 'q"uote.csv' "quote"
	drop_file 'back\slash.csv' "backslash"
	drop_file $'new\nline.csv' "newline"
	drop_file $'bad\xffbyte.csv' "invalid utf-8"
	drop_file $'all"\\\n\xff.csv' "everything at once"

	wait_state MANIFESTED 5
	assert_manifest_valid
	assert_equal "$(count_manifest)" 5
	# each line is strict JSON; names decode back to the exact bytes via
	# surrogateescape; only names that are not UTF-8 are flagged
	manifest_lines | python3 -c '
import json, os, sys
inp = os.fsencode(sys.argv[1])
want = {
    b"q\"uote.csv": (b"quote", False),
    b"back\\slash.csv": (b"backslash", False),
    b"new\nline.csv": (b"newline", False),
    b"bad\xffbyte.csv": (b"invalid utf-8", True),
    b"all\"\\\n\xff.csv": (b"everything at once", True),
}
seen = set()
for raw in sys.stdin.buffer.read().split(b"\n"):
    if not raw:
        continue
    raw.decode("ascii")   # every non-ASCII byte was escaped
    m = json.loads(raw, parse_constant=lambda c: sys.exit("bad constant " + c))
    path = m["path"].encode("utf-8", "surrogateescape")
    dest = m["dest"].encode("utf-8", "surrogateescape")
    assert os.path.dirname(path) == inp, path
    name = os.path.basename(path)
    assert name in want, "unexpected name %r" % name
    content, flagged = want[name]
    assert m.get("name_escaped", False) is flagged, \
        "name_escaped for %r is %r" % (name, m.get("name_escaped"))
    assert os.path.basename(dest) == name, (dest, name)
    with open(dest, "rb") as f:
        assert f.read() == content, dest
    seen.add(name)
assert seen == set(want), "missing: %r" % (set(want) - seen)
' "$IN"
}
