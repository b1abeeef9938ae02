#!/usr/bin/env bats
# Scenario 6: ENOSPC for real.  The archive lives on a small loop-mounted
# ext4 that fills up: no partial file is published, temp space and fds are
# released, sources stay untouched in staging, the daemon stays up, and
# everything is ingested once space is freed.

load lib

setup() { setup_rel; }

archive_on_ext4() {
	mount_ext4 "$T/vol" 16
	WH=$T/vol/wh
	mkdir -p "$WH"
	use_config "retry 10 backoff 1s"
}

teardown() { teardown_rel; }

free_kib() { echo $(($(stat -f -c '%a * %S' "$T/vol") / 1024)); }

@test "regress: a full archive filesystem publishes nothing partial and ingests everything once space is freed" {
	archive_on_ext4
	start_daemon
	fd_baseline
	# leave 3 MiB free, then drop 8 MiB
	fallocate -l "$((($(free_kib) - 3072) * 1024))" "$T/vol/filler"
	local i
	for i in 1 2 3 4 5 6 7 8; do
		head -c 1048576 /dev/urandom >"$T/gen/f$i.bin"
	done
	release_gen
	wait_for_log 'No space left on device'
	kill -0 "$DAEMON_PID"
	check_invariants --incomplete
	rm "$T/vol/filler"
	wait_until 60 all_terminal || dump_unfinished
	check_invariants --pid "$DAEMON_PID" --fds "$T/fds"
	no_temp_space_held
	stop_daemon
}

# No temp space held: what is used on the volume is what its tree holds.
no_temp_space_held() {
	local used archived
	used=$(($(stat -f -c '(%b - %f) * %S' "$T/vol") / 1024))
	archived=$(du -sk "$T/vol" | cut -f1)
	[ "$((used - archived))" -lt 2048 ] ||
	    fail "used ${used} KiB but the tree holds ${archived} KiB"
}

enospc_logged() { [ "$(grep -c 'No space left on device' "$LOG")" -gt "$1" ]; }
# All 10 small files of cycle C are ingested.
smalls_done() {
	[ "$(db "SELECT count(*) FROM files WHERE relpath LIKE 'c$1-small%'
	    AND state = 'MANIFESTED'")" = 10 ]
}

# Long version: fill-free cycles with random sizes.  Each cycle leaves
# 1-3 MiB free and drops 1-3 files that cannot fit (1-3 MiB more than is
# free), then 10 small ones that can: the small ones are ingested while
# the volume is still full, nothing of a big one appears, and once the
# space is freed everything is ingested, with no temp space or fd held.
@test "regress: long: repeated fill-free cycles: small files keep being ingested while big ones wait for space" {
	[ "$LONG" = 1 ] || skip "long version only (RELIABILITY_LONG=1)"
	mount_ext4 "$T/vol" 512
	WH=$T/vol/wh
	mkdir -p "$WH"
	use_config "retry 20 backoff 1s"
	start_daemon
	fd_baseline
	local cycle cycles=20 free seen i nbig=0
	for cycle in $(seq 1 "$cycles"); do
		free=$((1024 + RANDOM % 2048))			# KiB
		fallocate -l "$((($(free_kib) - free) * 1024))" "$T/vol/filler"
		seen=$(grep -c 'No space left on device' "$LOG" || true)
		for i in $(seq 1 $((1 + RANDOM % 3))); do
			head -c $(((free + 1024 + RANDOM % 2048) * 1024)) \
			    /dev/urandom >"$T/gen/c$cycle-big$i.bin"
			nbig=$((nbig + 1))
		done
		release_gen
		wait_until 60 enospc_logged "$seen"
		for i in $(seq 1 10); do
			head -c $((1 + RANDOM % 16384)) /dev/urandom >"$T/gen/c$cycle-small$i.dat"
		done
		release_gen
		wait_until 120 smalls_done "$cycle" || dump_unfinished
		[ -z "$(find "$WH" -name "c$cycle-big*")" ] ||
		    fail "cycle $cycle: a file that cannot fit was published"
		kill -0 "$DAEMON_PID"
		check_invariants --incomplete || fail "cycle $cycle, full"
		rm "$T/vol/filler"
		wait_until 180 all_terminal || dump_unfinished
		check_invariants --pid "$DAEMON_PID" --fds "$T/fds" ||
		    fail "cycle $cycle, freed"
		no_temp_space_held
	done
	echo "# $cycles fill-free cycles, $nbig files that did not fit," \
	    "$(wc -l <"$T/dropped") files" >&3
	stop_daemon
}

db_full_logged() { [ "$(grep -c 'database or disk is full' "$LOG")" -gt "$1" ]; }

# CI: one cycle; long: 20 fill-free cycles of 20 files each, each with
# its own daemon (a clean stop removes the WAL, so that every cycle's
# writes need new blocks).
@test "regress: a full filesystem under the state DB loses nothing and recovers once space is freed" {
	mount_ext4 "$T/dbvol" $(scale 16 64)
	DB=$T/dbvol/state.db
	WH=$T/wh
	start_daemon
	printf 'warm-up' >"$T/gen/first.csv"
	release_gen
	wait_state MANIFESTED 1
	local cycle cycles i seen
	cycles=$(scale 1 20)
	for cycle in $(seq 1 "$cycles"); do
		[ -n "$DAEMON_PID" ] || start_daemon
		fallocate -l "$((($(stat -f -c '%a * %S' "$T/dbvol") / 1024 - 16) * 1024))" "$T/dbvol/filler"
		seen=$(grep -c 'database or disk is full' "$LOG" || true)
		for i in $(seq 1 20); do
			printf 'db full %s %s %s' "$cycle" "$i" "$RANDOM" >"$T/gen/c$cycle-f$i.csv"
		done
		release_gen
		wait_until "$WAIT_TIMEOUT" db_full_logged "$seen"
		kill -0 "$DAEMON_PID"
		check_invariants --incomplete || fail "cycle $cycle, full"
		rm "$T/dbvol/filler"
		wait_until 90 all_terminal || dump_unfinished
		check_invariants || fail "cycle $cycle, freed"
		stop_daemon
	done
	[ "$cycles" = 1 ] || echo "# $cycles fill-free cycles, $(wc -l <"$T/dropped") files" >&3
}
