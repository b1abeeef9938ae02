# Shared harness for the bats integration tests: each test gets its own
# temp tree (staging, warehouse, manifests, state DB) and its own daemon.

: "${TOP_SRCDIR:=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}"
: "${TOP_BUILDDIR:=$TOP_SRCDIR/build}"
: "${INGESTD:=$TOP_BUILDDIR/ingestd}"
: "${INGEST_WORKER:=$TOP_BUILDDIR/ingest-worker}"
: "${INGESTCTL:=$TOP_BUILDDIR/ingestctl}"
export INGEST_WORKER

load '/usr/lib/bats/bats-support/load.bash'
load '/usr/lib/bats/bats-assert/load.bash'

# Poll interval and default timeout (seconds) for wait_* helpers.
POLL=0.05
WAIT_TIMEOUT=${WAIT_TIMEOUT:-30}

setup_tree() {
	T=$(mktemp -d /tmp/ingestd-test.XXXXXX)
	mkdir -p "$T/in" "$T/wh" "$T/man"
	IN=$T/in WH=$T/wh MAN=$T/man DB=$T/state.db LOG=$T/ingestd.log
	MOUNTS=()
}

teardown_tree() {
	stop_daemon_hard
	local m
	for m in "${MOUNTS[@]}"; do
		umount -l "$m" 2>/dev/null || true
	done
	[ -n "${T:-}" ] && rm -rf "$T"
}

# Common flags for a test daemon; extra arguments are appended.
ingestd_args() {
	echo --input "$IN" --warehouse "$WH" --manifests "$MAN" \
	    --state-path "$DB" --stability-seconds 1 --concurrency 2 \
	    --log-level debug
}

# conf_head [global lines...]: the common head of the config-file tests:
# state and control socket in $T, then the lines given, then watch "main"
# ($IN into $WH and $MAN).  Without lines it is 10 lines long.
conf_head() {
	local l
	cat <<EOF
state-dir "$T/state"
control "$T/ctl.sock"
workers 2
log json
EOF
	for l in "$@"; do
		printf '%s\n' "$l"
	done
	cat <<EOF
watch "main" {
	path "$IN"
	complete stability 1s
	to "$WH/ingest_date={date}/{name}"
	manifest "$MAN/{yyyy}/{mm}/{dd}/{hh}/manifest.jsonl"
}
EOF
}

# Start the daemon on $CONF in the background; returns once it is ready.
start_conf() {
	"$INGESTD" -f "$CONF" -v "$@" 2>>"$LOG" &
	DAEMON_PID=$!
	wait_for_log '"event":"ready"' || { cat "$LOG" >&2; return 1; }
}

# Start the daemon in the background; returns once it is ready.
start_daemon() {
	# shellcheck disable=SC2046
	"$INGESTD" $(ingestd_args) "$@" 2>>"$LOG" &
	DAEMON_PID=$!
	wait_for_log '"event":"ready"' || {
		cat "$LOG" >&2
		return 1
	}
}

# Run the daemon in --once mode in the foreground; sets $status/$output.
run_once() {
	# shellcheck disable=SC2046
	run "$INGESTD" $(ingestd_args) --once "$@"
	printf '%s\n' "$output" >>"$LOG"
}

stop_daemon() {
	[ -n "${DAEMON_PID:-}" ] || return 0
	kill -TERM "$DAEMON_PID"
	local rc=0
	wait "$DAEMON_PID" || rc=$?
	DAEMON_PID=
	return $rc
}

stop_daemon_hard() {
	if [ -n "${DAEMON_PID:-}" ]; then
		# only this test's workers: other test files may run in parallel
		pkill -KILL -P "$DAEMON_PID" 2>/dev/null || true
		kill -KILL "$DAEMON_PID" 2>/dev/null || true
		wait "$DAEMON_PID" 2>/dev/null || true
		DAEMON_PID=
	fi
}

# wait_until TIMEOUT CMD...: poll CMD until it succeeds or TIMEOUT passes.
wait_until() {
	local timeout=$1 deadline
	shift
	deadline=$(($(date +%s%N) + timeout * 1000000000))
	until "$@"; do
		if [ "$(date +%s%N)" -ge "$deadline" ]; then
			echo "timed out after ${timeout}s waiting for: $*" >&2
			return 1
		fi
		sleep "$POLL"
	done
}

# no_lsan CMD...: run CMD without LeakSanitizer, which cannot work in a
# process under strace (ptrace); ASan and UBSan stay on.
no_lsan() { ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 "$@"; }

log_has() { grep -q -- "$1" "$LOG" 2>/dev/null; }
wait_for_log() { wait_until "${2:-$WAIT_TIMEOUT}" log_has "$1"; }

db() { sqlite3 -batch -noheader "$DB" "$@"; }
# row_field RELPATH EXPR: EXPR of the most recent row for a staging relpath.
row_field() { db "SELECT $2 FROM files WHERE relpath = '$1' ORDER BY id DESC LIMIT 1"; }
row_state_is() { [ "$(row_field "$1" state)" = "$2" ]; }
count_state() { db "SELECT count(*) FROM files WHERE state = '$1'"; }
state_is() { [ "$(count_state "$1")" -ge "$2" ]; }
# wait_state STATE N: at least N rows reached STATE.
wait_state() { wait_until "${3:-$WAIT_TIMEOUT}" state_is "$1" "$2"; }

manifest_lines() { cat "$MAN"/*/*/*/*/manifest.jsonl 2>/dev/null; }
archive_files() { find "$WH" -type f | sort; }

# Drop a file the way careful clients do: write a temp name, then rename.
drop_file() {
	local name=$1 content=$2 dir
	dir=$(dirname "$IN/$name")
	mkdir -p "$dir"
	printf "%s" "$content" >"$dir/.$(basename -- "$name").tmp"
	mv -- "$dir/.$(basename -- "$name").tmp" "$IN/$name"
}

# Random incompressible file of N KiB.
make_random() { head -c "$(($2 * 1024))" /dev/urandom >"$1"; }

sha() { sha256sum "$1" | cut -d' ' -f1; }

# Every manifest line must be strict JSON ending in a newline.
assert_manifest_valid() {
	local f
	for f in "$MAN"/*/*/*/*/manifest.jsonl; do
		[ -e "$f" ] || continue
		[ "$(tail -c1 "$f" | od -An -c | tr -d ' ')" = '\n' ] ||
		    fail "manifest $f does not end in a newline"
		python3 -c '
import json, sys
for n, line in enumerate(open(sys.argv[1], "rb"), 1):
    json.loads(line)
' "$f" || fail "manifest $f has a line that is not JSON"
	done
}

# No O_TMPFILE leftovers or stray temp names anywhere in the archive.
assert_no_temp_files() {
	run find "$WH" -name '.*' -o -name '*.tmp'
	assert_output ""
}

# Mount a fresh tmpfs (a real second filesystem) at $1; skip unless root.
mount_tmpfs() {
	[ "$(id -u)" = 0 ] || skip "needs root to mount a second filesystem"
	mkdir -p "$1"
	mount -t tmpfs -o size=${2:-256m} ingestd-test "$1" ||
	    skip "cannot mount tmpfs here"
	MOUNTS+=("$1")
}
