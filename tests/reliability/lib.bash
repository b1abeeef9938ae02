# Shared harness for the reliability scenarios (issue 5): the integration
# helpers, plus a corpus recorded by the driver and the invariants checker.

load ../integration/helpers

INVARIANTS=$TOP_SRCDIR/tests/lib/invariants
# Long versions (make check-long) set RELIABILITY_LONG=1.
LONG=${RELIABILITY_LONG:-0}
STABILITY=${STABILITY:-0}

# Files are dropped by rename, so no stability window is needed.
ingestd_args() {
	echo --input "$IN" --warehouse "$WH" --manifests "$MAN" \
	    --state-path "$DB" --stability-seconds "$STABILITY" \
	    --control "$T/ctl.sock" --concurrency 2 --log-level debug
}

setup_rel() {
	setup_tree
	mkdir -p "$T/gen"
	: >"$T/dropped"
}

# n in CI, N with RELIABILITY_LONG=1.
scale() { if [ "$LONG" = 1 ]; then echo "$2"; else echo "$1"; fi; }

# gen_corpus N MAXKIB [DUPS]: write N files of random content, 0..MAXKIB
# KiB, plus DUPS copies of some of them under other names, into $T/gen;
# record path/sha256/size ourselves; then rename them all into staging.
gen_corpus() {
	local n=$1 max=$2 dups=${3:-0} i kib
	for i in $(seq 1 "$n"); do
		kib=$((RANDOM % (max + 1)))
		if [ "$kib" = 0 ]; then
			printf 'small %s %s' "$i" "$RANDOM$RANDOM" >"$T/gen/f$i.dat"
		else
			head -c $((kib * 1024)) /dev/urandom >"$T/gen/f$i.dat"
		fi
	done
	for i in $(seq 1 "$dups"); do
		cp "$T/gen/f$i.dat" "$T/gen/dup$i.dat"
	done
	release_gen
}

# Record everything in $T/gen and rename it into staging.
release_gen() {
	local f
	(cd "$T/gen" && find . -type f -printf '%P\0' | xargs -0 -r \
	    "$INVARIANTS" record "$T/gen" "$T/dropped")
	(cd "$T/gen" && find . -type d -mindepth 1 -printf '%P\0' |
	    xargs -0 -r -I{} mkdir -p "$IN/{}")
	while IFS= read -r -d '' f; do
		mv -- "$T/gen/$f" "$IN/$f"
	done < <(cd "$T/gen" && find . -type f -printf '%P\0')
}

# One file ingested, then the fd baseline for check_invariants --fds:
# the daemon idle, its workers ready, the manifest open.
fd_baseline() {
	printf 'warm-up' >"$T/gen/first.csv"
	release_gen
	wait_state MANIFESTED 1
	"$INVARIANTS" snapshot "$DAEMON_PID" "$T/fds"
}

# check_invariants [OPTIONS...]: the shared checker on this test's tree.
check_invariants() {
	run "$INVARIANTS" check --db "$DB" --staging "$IN" --archive "$WH" \
	    --manifests "$MAN" --dropped "$T/dropped" \
	    --hash-cache "$T/hash-cache" "$@"
	if [ "$status" != 0 ]; then
		echo "$output" >&2
		echo "--- last warnings of $LOG:" >&2
		grep -E '"level":"(warn|error)"' "$LOG" 2>/dev/null | tail -15 >&2
		return 1
	fi
}

# Everything dropped has reached a terminal state and staging is empty.
all_terminal() {
	local n
	n=$(wc -l <"$T/dropped")
	[ "$(db "SELECT count(*) FROM files WHERE state IN
	    ('MANIFESTED','SKIPPED_DUPLICATE','REJECTED','FAILED')" 2>/dev/null)" -ge "$n" ] &&
	    [ -z "$(find "$IN" -type f)" ]
}

dump_unfinished() {
	echo "rows:" >&2
	db "SELECT id, relpath, state, sha256, dest FROM files" >&2
	echo "unfinished rows:" >&2
	db "SELECT id, relpath, state, attempts, last_error FROM files
	    WHERE state NOT IN ('MANIFESTED','SKIPPED_DUPLICATE')" >&2
	echo "left in staging:" >&2
	find "$IN" -type f >&2
	grep -E '"level":"(warn|error)"' "$LOG" | tail -20 >&2
	return 1
}

# Mount a loop ext4 image of SIZE MiB at $1 (a real filesystem that fills).
mount_ext4() {
	[ "$(id -u)" = 0 ] || skip "needs root to loop-mount an ext4 image"
	command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 not installed"
	mkdir -p "$1"
	mkfs.ext4 -q -F -m 0 "$T/fs-$2.img" "$2M" >/dev/null 2>&1 ||
	    skip "mkfs.ext4 failed"
	mount -o loop "$T/fs-$2.img" "$1" || skip "cannot loop-mount here"
	MOUNTS+=("$1")
	rmdir "$1/lost+found" 2>/dev/null || true
}

needs_strace() {
	command -v strace >/dev/null || skip "strace not installed"
}

# use_config [WATCH LINES...]: run the daemon from a config file with a
# fixed manifest path (so strace -P can aim at it) and its own control
# socket; extra lines go into the watch block.
use_config() {
	local l
	CONF=$T/ingestd.conf
	DB=$T/state/audit.db
	{
		printf 'state-dir "%s"\ncontrol "%s"\nworkers 2\nlog json\n%s' \
		    "$T/state" "$T/ctl.sock" "${CONF_GLOBAL:+$CONF_GLOBAL
}"
		printf 'watch "main" {\n\tpath "%s"\n\tcomplete stability 1s\n' "$IN"
		printf '\tto "%s/{name}"\n\tmanifest "%s/manifest.jsonl"\n' "$WH" "$MAN"
		for l in "$@"; do
			printf '\t%s\n' "$l"
		done
		printf '}\n'
	} >"$CONF"
	ingestd_args() { echo -f "$CONF" -v; }
}

# Teardown that also works when setup skipped before making the tree.
teardown_rel() {
	[ -n "${T:-}" ] || return 0
	teardown_tree
}
