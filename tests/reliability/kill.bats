#!/usr/bin/env bats
# Scenarios 1 and 2: kill -9 of the master at random moments while files
# (with duplicates) keep arriving on another filesystem, restarting each
# time; kill -9 of a worker in the middle of copying large files.  After
# every kill the safety invariants hold; at the end all of them do.
# CI: n=10 master kills, 5 worker kills; RELIABILITY_LONG=1: N=200 each.

load lib

setup() {
	setup_rel
	mount_tmpfs "$T/wh" 8g
}
teardown() { teardown_rel; }

manifested() { db "SELECT count(*) FROM files WHERE state IN
    ('MANIFESTED','SKIPPED_DUPLICATE')" 2>/dev/null || echo 0; }
at_least_done() { [ "$(manifested)" -ge "$1" ] || all_terminal; }

# A batch of NEW files: sizes mostly small, one in 20 up to MAXKIB; every
# 10th batch file repeats the content of an earlier one.
drop_batch() {
	local first=$1 n=$2 max=$3 i kib
	for i in $(seq "$first" $((first + n - 1))); do
		if [ $((i % 10)) = 0 ] && [ "$i" -gt 10 ]; then
			# a duplicate: an earlier file's content, under a new name
			cp "$T/keep/f$((i - 7)).dat" "$T/gen/f$i.dat"
		elif [ $((i % 20)) = 1 ]; then
			kib=$((RANDOM % (max + 1)))
			head -c $((kib * 1024)) /dev/urandom >"$T/gen/f$i.dat"
		else
			head -c $((RANDOM % 65536)) /dev/urandom >"$T/gen/f$i.dat"
		fi
		cp "$T/gen/f$i.dat" "$T/keep/f$i.dat"
	done
	release_gen
}

@test "regress: kill -9 of the master at random moments while files arrive loses nothing and archives nothing twice" {
	local kills total batch max round next
	kills=$(scale 10 200)
	batch=$(scale 20 10)
	max=$(scale 4096 65536)		# KiB: 4 MiB in CI, 64 MiB long
	total=0
	mkdir -p "$T/keep"
	drop_batch 1 "$batch" "$max"
	total=$batch
	start_daemon
	for round in $(seq 1 "$kills"); do
		# kill once a random number of further files is done
		next=$(($(manifested) + 1 + RANDOM % 5))
		wait_until 60 at_least_done "$next" || dump_unfinished
		kill -KILL "$DAEMON_PID"
		wait "$DAEMON_PID" || true
		DAEMON_PID=
		check_invariants --incomplete || fail "after kill $round"
		# more arrive while the daemon is down
		drop_batch $((total + 1)) "$batch" "$max"
		total=$((total + batch))
		start_daemon
	done
	echo "# $kills kills, $total files" >&3
	wait_until 120 all_terminal || dump_unfinished
	# (the master was just restarted: this checks workers and zombies)
	"$INVARIANTS" snapshot "$DAEMON_PID" "$T/fds"
	check_invariants --pid "$DAEMON_PID" --fds "$T/fds"
	stop_daemon
	rm -rf "$T/keep"
}

# VICTIM: a worker with more fds open than an idle one, i.e. holding a
# job's source and temp file: it is copying.
# (IDLE_FDS: an idle worker's count, read once from the snapshot, so
# that each poll is cheap enough to catch a copy of a few MiB.)
mid_copy_victim() {
	local pid
	VICTIM=
	for pid in $(pgrep -P "$DAEMON_PID"); do
		if [ "$(find "/proc/$pid/fd" -mindepth 1 2>/dev/null | wc -l)" -gt "$IDLE_FDS" ]; then
			VICTIM=$pid
			return 0
		fi
	done
	return 1
}
copying_or_done() { mid_copy_victim || all_terminal; }
# Dropped files neither done nor backing off after a kill.
waiting() {
	echo $(($(wc -l <"$T/dropped") - $(db "SELECT count(*) FROM files WHERE state IN
	    ('MANIFESTED','SKIPPED_DUPLICATE','REJECTED','FAILED','RETRY_PENDING')" 2>/dev/null || echo 0)))
}

# N new files of 4-8 MiB, named from FIRST on.
drop_big() {
	local i
	for i in $(seq "$1" $(($1 + $2 - 1))); do
		head -c $(((4 + RANDOM % 5) * 1048576)) /dev/urandom >"$T/gen/big$i.bin"
	done
	release_gen
}

# Files keep coming (at least 4 waiting for a worker, not counting those
# backing off after a kill) until 5 (long: 200) kills have hit a worker
# mid-copy.
@test "regress: kill -9 of a worker mid-copy: the master retries, nothing appears before it is durable" {
	local kills n round m done_kills=0
	kills=$(scale 5 200)
	n=6
	use_config "retry 50 backoff 1s"
	# each 1 MiB chunk takes 20 ms (60 ms long, fewer files per kill):
	# copies are in flight when we kill
	INGESTD_TEST_WORKER_SLEEP_MS=$(scale 20 60) start_daemon
	fd_baseline
	IDLE_FDS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["worker"])' "$T/fds")
	drop_big 1 "$n"
	for round in $(seq 1 $((kills * 5))); do
		if [ "$(waiting)" -lt 4 ]; then
			drop_big $((n + 1)) 4
			n=$((n + 4))
		fi
		wait_until 60 copying_or_done || {
			grep -E '"worker_(throttled|died)"' "$LOG" | tail -5 >&2
			false
		}
		# every copy finished between two polls (a loaded machine):
		# more files come in the next round
		[ -n "$VICTIM" ] || continue
		m=$(manifested)
		kill -KILL "$VICTIM" && done_kills=$((done_kills + 1))
		kill -0 "$DAEMON_PID"
		check_invariants --incomplete || fail "after worker kill $round"
		# the next kill only after a result, which ends a crash
		# streak: a worker killed before its first result delays the
		# next spawn, doubling up to 60 s (pool.c's throttle), and a
		# run of such kills left both workers waiting that long
		wait_until 150 at_least_done $((m + 1))
		[ "$done_kills" -lt "$kills" ] || break
	done
	echo "# $done_kills worker kills mid-copy, $n files" >&3
	assert_equal "$done_kills" "$kills"
	wait_until 300 all_terminal || dump_unfinished
	wait_for_log '"event":"worker_died"'
	check_invariants --pid "$DAEMON_PID" --fds "$T/fds"
	stop_daemon
}

# A crash between linking a copy into the archive and the MOVED commit
# leaves the row HASHED with its source still in staging.  Recovery used
# to send the row back to QUEUED, giving up its claim on the content: a
# duplicate arriving meanwhile could take it and be archived a second
# time, the first copy left behind unknown to the DB (seen once in the CI
# version of the master kill test above).  The linked copy is adopted now.
@test "regress: a copy linked just before a crash is adopted, and a duplicate cannot take its content meanwhile" {
	local a last trail
	printf 'linked before the crash' >"$T/gen/a.dat"
	release_gen
	run_once
	assert_success
	a=$(db "SELECT id FROM files WHERE relpath = 'a.dat'")
	# back to the moment after the link: the source in staging (the row
	# names its inode), the row HASHED, no manifest line yet
	cp "$WH"/ingest_date=*/a.dat "$IN/a.dat"
	db "UPDATE files SET state = 'HASHED', source_removed = 0,
	    device = $(stat -c %d "$IN/a.dat"), inode = $(stat -c %i "$IN/a.dat")
	    WHERE id = $a"
	: >"$(ls "$MAN"/*/*/*/*/manifest.jsonl)"
	# and a duplicate of it arrives while the daemon is down
	printf 'linked before the crash' >"$T/gen/b.dat"
	release_gen
	last=$(db "SELECT max(id) FROM events")
	run_once
	assert_success
	log_has '"event":"archive_copy_adopted"'
	# the row never gave its content up, and kept its archive copy
	trail=$(db "SELECT group_concat(state, ' ') FROM (SELECT state FROM events
	    WHERE file_id = $a AND id > $last ORDER BY id)")
	[[ "$trail" != *QUEUED* && "$trail" != *PROCESSING* ]] ||
	    fail "recovery sent the row back: $trail"
	assert_equal "$(db "SELECT state FROM files WHERE id = $a")" MANIFESTED
	assert_equal "$(db "SELECT state || ' ' || duplicate_of FROM files WHERE relpath = 'b.dat'")" \
	    "SKIPPED_DUPLICATE $a"
	assert_equal "$(archive_files | wc -l)" 1
	check_invariants
}
