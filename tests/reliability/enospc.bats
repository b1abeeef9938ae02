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
	# a first file, so the fd baseline includes the open manifest
	printf 'warm-up' >"$T/gen/first.csv"
	release_gen
	wait_state MANIFESTED 1
	"$INVARIANTS" snapshot "$DAEMON_PID" "$T/fds"
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
	# no temp space held: what is used is what the archive holds
	local used archived
	used=$(($(stat -f -c '(%b - %f) * %S' "$T/vol") / 1024))
	archived=$(du -sk "$T/vol" | cut -f1)
	[ "$((used - archived))" -lt 2048 ] ||
	    fail "used ${used} KiB but the tree holds ${archived} KiB"
	stop_daemon
}

@test "regress: a full filesystem under the state DB loses nothing and recovers once space is freed" {
	mount_ext4 "$T/dbvol" 16
	DB=$T/dbvol/state.db
	WH=$T/wh
	start_daemon
	printf 'warm-up' >"$T/gen/first.csv"
	release_gen
	wait_state MANIFESTED 1
	fallocate -l "$((($(stat -f -c '%a * %S' "$T/dbvol") / 1024 - 16) * 1024))" "$T/dbvol/filler"
	local i
	for i in $(seq 1 20); do
		printf 'db full %s %s' "$i" "$RANDOM" >"$T/gen/f$i.csv"
	done
	release_gen
	wait_for_log 'database or disk is full'
	kill -0 "$DAEMON_PID"
	check_invariants --incomplete
	rm "$T/dbvol/filler"
	wait_until 90 all_terminal || dump_unfinished
	check_invariants
	stop_daemon
}
