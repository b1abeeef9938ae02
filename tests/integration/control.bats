#!/usr/bin/env bats
# The control socket and the ingestctl commands the daemon answers: live
# status, query/show through the daemon, retry, reconcile (each drift made
# by hand, then repaired), reload --wait, pause/resume, permissions by peer
# credentials, the audit trail, garbage on the socket, a stale socket, a
# second daemon, the connection cap.

load helpers
bats_require_minimum_version 1.5.0

: "${INGESTCTL:=$TOP_BUILDDIR/ingestctl}"

setup() {
	setup_tree
	CONF=$T/ingestd.conf
	SOCK=$T/ctl.sock
	DB=$T/state/audit.db
	mkdir -p "$T/state"
	export INGESTD_SOCKET=$SOCK
}

teardown() { teardown_tree; }

# write_conf [top-level lines...]: one watch "main" moving $IN into $WH.
write_conf() {
	local to=${WATCH_TO:-}
	[ -n "$to" ] || to="$WH/{name}"
	{
		printf 'state-dir "%s"\ncontrol "%s"\nworkers 2\nlog json\n' \
		    "$T/state" "$SOCK"
		local l
		for l in "$@"; do
			printf '%s\n' "$l"
		done
		cat <<EOF
watch "main" {
	path "$IN"
	complete stability 1s
	${WATCH_EXTRA:-}
	to "$to"
	manifest "$MAN/manifest.jsonl"
}
EOF
	} >"$CONF"
}

ctl() { run --separate-stderr "$INGESTCTL" "$@"; }

# as_user UID GID [GROUP,...] CMD...: run CMD with other credentials.
as_user() {
	local uid=$1 gid=$2 groups=$3
	shift 3
	if [ -n "$groups" ]; then
		run --separate-stderr setpriv --reuid="$uid" --regid="$gid" \
		    --groups="$groups" -- "$@"
	else
		run --separate-stderr setpriv --reuid="$uid" --regid="$gid" \
		    --clear-groups -- "$@"
	fi
}

manifest_ids() {
	python3 -c '
import json, sys
for line in open(sys.argv[1]):
    print(json.loads(line)["id"])' "$MAN/manifest.jsonl" | sort -n | tr '\n' ' '
}

@test "status: the daemon's pid, generation, sandbox, workers, watches and state counts" {
	write_conf
	start_conf
	drop_file a.csv 'alpha'
	drop_file b.csv 'beta'
	wait_state MANIFESTED 2
	ctl --json status
	assert_success
	printf '%s\n' "$output" | PID=$DAEMON_PID python3 -c '
import json, os, sys
recs = [json.loads(l) for l in sys.stdin]
d = [r for r in recs if r["kind"] == "daemon"]
assert len(d) == 1, recs
d = d[0]
assert d["pid"] == int(os.environ["PID"]), d
assert d["generation"] == 1 and d["last_reload"] == "never", d
assert d["sandbox"] and d["workers"] == 2, d
assert d["workers_busy"] + d["workers_idle"] <= 2 and d["queue_depth"] == 0, d
assert d["oldest_unfinished_id"] is None, d
for k in ("version", "uptime_s", "started_at", "state_db", "worker_restarts"):
    assert k in d, k
# two files within the last minute: a rate above zero in every window
for w in ("1m", "5m", "1h"):
    assert d["files_per_s_" + w] > 0 and d["bytes_per_s_" + w] > 0, d
w = [r for r in recs if r["kind"] == "watch"]
assert [x["name"] for x in w] == ["main"] and w[0]["status"] == "watching", w
assert w[0]["last_event_at"] and w[0]["last_rescan_at"], w
assert w[0]["overflows"] == 0 and w[0]["unwatched_dirs"] == 0, w
s = {r["state"]: r["files"] for r in recs if r["kind"] == "state"}
assert s["MANIFESTED"] == 2 and sum(s.values()) == 2, s
'
	# piped: key<TAB>value for the daemon, kind-prefixed rows for the rest
	ctl status
	assert_success
	assert_line "$(printf 'pid\t%s' "$DAEMON_PID")"
	assert_line --regexp "^watch	main	watching	"
	assert_line "$(printf 'state\tMANIFESTED\t2')"
}

@test "query and show without --db read the database the daemon names" {
	write_conf
	start_conf
	drop_file orders.csv 'x,y'
	wait_state MANIFESTED 1
	drop_file again.csv 'x,y'
	wait_state SKIPPED_DUPLICATE 1
	ctl query --format json
	assert_success
	assert_equal "$(printf '%s\n' "$output" | wc -l)" 2
	ctl -s "$SOCK" show again.csv
	assert_success
	assert_output --partial SKIPPED_DUPLICATE
	assert_output --partial orders.csv
}

@test "retry: files FAILED by an unusable warehouse are ingested once it is fixed" {
	WATCH_EXTRA='retry 1 backoff 1s'
	WATCH_TO="$WH/{watch}/{name}"
	write_conf
	# a file where the archive directory should be: every move fails
	echo 'not a directory' >"$WH/main"
	start_conf
	drop_file one.csv 'one'
	drop_file two.csv 'two'
	wait_state FAILED 2
	ctl retry --dry-run --all
	assert_success
	assert_equal "$(printf '%s\n' "$output" | grep -c 'would retry')" 2
	assert_equal "$(count_state FAILED)" 2
	rm -f "$WH/main"
	ctl retry --all
	assert_success
	assert_equal "$(printf '%s\n' "$output" | grep -c 'queued')" 2
	wait_state MANIFESTED 2
	[ "$(cat "$WH/main/one.csv")" = one ] && [ "$(cat "$WH/main/two.csv")" = two ]
	# nothing left to retry: exit 1, and ids that do not exist are skipped
	ctl retry --all
	assert_equal "$status" 1
	ctl retry 999
	assert_equal "$status" 1
	assert_output --partial 'no such file'
	ctl retry 12x
	assert_equal "$status" 65
	ctl retry
	assert_equal "$status" 64
	# each retry is in the audit trail with who asked
	assert_equal "$(db "SELECT count(*) FROM control_audit WHERE command = 'retry' AND uid = 0")" 3
}

@test "reconcile --check reports each drift made by hand; reconcile repairs it" {
	write_conf
	start_conf
	for n in 1 2 3 4; do
		drop_file "f$n.csv" "content $n"
	done
	wait_state MANIFESTED 4
	ctl reconcile --check
	assert_success
	# drift: an archived file deleted, a stray file, a corrupted copy,
	# a manifest whose last line is torn
	local gone_id bad_id
	gone_id=$(db "SELECT id FROM files WHERE relpath = 'f1.csv'")
	bad_id=$(db "SELECT id FROM files WHERE relpath = 'f2.csv'")
	rm "$WH/f1.csv"
	echo stray >"$WH/stray.bin"
	printf 'CONTENT 2' >"$WH/f2.csv"
	truncate -s -5 "$MAN/manifest.jsonl"
	ctl --json reconcile --check
	assert_equal "$status" 1
	printf '%s\n' "$output" | GONE=$gone_id BAD=$bad_id python3 -c '
import json, os, sys
recs = [json.loads(l) for l in sys.stdin if l.strip()]
kinds = {}
for r in recs:
    assert r["kind"] == "drift" and r["action"] == "none (--check)", r
    kinds.setdefault(r["drift"], []).append(r)
assert [r["id"] for r in kinds["archive_missing"]] == [int(os.environ["GONE"])], kinds
assert [r["id"] for r in kinds["hash_mismatch"]] == [int(os.environ["BAD"])], kinds
assert [r["path"].endswith("stray.bin") for r in kinds["archive_unknown"]] == [True], kinds
assert "manifest_torn_line" in kinds, kinds
' || fail "$output"
	# --check changed nothing
	[ -e "$WH/stray.bin" ] && [ ! -e "$WH/f1.csv" ]
	assert_equal "$(count_state MANIFESTED)" 4

	ctl --json reconcile
	printf '%s\n' "$output" | python3 -c '
import json, sys
recs = [json.loads(l) for l in sys.stdin if l.strip()]
acts = {r["drift"]: r["action"] for r in recs}
assert "quarantine" in acts["archive_unknown"], acts
assert "quarantine" in acts["hash_mismatch"], acts
assert "cut" in acts["manifest_torn_line"], acts
assert "FAILED" in acts["archive_missing"], acts
' || fail "$output"
	# the stray and the corrupt copy are quarantined, not deleted
	[ -e "$WH/.ingestd-quarantine/stray.bin" ]
	[ "$(cat "$WH/.ingestd-quarantine/f2.csv")" = 'CONTENT 2' ]
	[ ! -e "$WH/stray.bin" ]
	# the DB no longer claims what it lost; every manifest line parses
	assert_equal "$(db "SELECT state FROM files WHERE id = $gone_id")" FAILED
	assert_equal "$(db "SELECT state FROM files WHERE id = $bad_id")" FAILED
	python3 -c '
import json, sys
for line in open(sys.argv[1], "rb"):
    assert line.endswith(b"\n")
    json.loads(line)' "$MAN/manifest.jsonl"
	# the repair is audited
	[ "$(db "SELECT count(*) FROM control_audit WHERE command = 'reconcile'")" -ge 1 ]
}

@test "reconcile re-appends a manifest line that is missing" {
	WATCH_EXTRA='action copy'
	write_conf
	start_conf
	drop_file keep.csv 'kept'
	drop_file other.csv 'other'
	wait_state MANIFESTED 2
	local want
	want=$(manifest_ids)
	# lose the first line
	sed -i 1d "$MAN/manifest.jsonl"
	ctl reconcile --check
	assert_equal "$status" 1
	assert_output --partial manifest_missing
	ctl reconcile
	assert_success
	assert_equal "$(manifest_ids)" "$want"
	ctl reconcile --check
	assert_success
}

@test "reload --wait: a good file is applied (generation grows), a bad one is rejected with 78 and FILE:LINE" {
	write_conf
	start_conf
	ctl reload --wait
	assert_success
	[[ $stderr == *"generation 2"* ]] || fail "stderr: $stderr"
	ctl --json status
	printf '%s\n' "$output" | grep '"kind":"daemon"' | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
assert d["generation"] == 2 and d["last_reload"] == "ok", d'
	echo 'bogus-keyword 1' >>"$CONF"
	ctl reload --wait
	assert_equal "$status" 78
	[[ $stderr == *"$CONF:"*"bogus-keyword"* ]] || fail "stderr: $stderr"
	ctl --json status
	printf '%s\n' "$output" | grep '"kind":"daemon"' | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
assert d["generation"] == 2 and d["last_reload"] == "rejected", d
assert "bogus-keyword" in d["last_reload_error"], d'
	# the old configuration keeps ingesting
	drop_file still.csv 'still'
	wait_state MANIFESTED 1
	# without --wait: accepted at once, applied after the reply
	sed -i '$d' "$CONF"
	ctl reload
	assert_success
	wait_until 10 bash -c "[ \$(grep -c '\"event\":\"reload_ok\"' '$LOG') -ge 2 ]"
}

@test "pause holds new files in the queue; resume lets them through" {
	write_conf
	start_conf
	ctl pause main
	assert_success
	assert_output --partial paused
	ctl --json status
	assert_output --partial '"status":"paused"'
	drop_file held.csv 'held'
	wait_state QUEUED 1
	assert_equal "$(count_state MANIFESTED)" 0
	ctl resume
	assert_success
	wait_state MANIFESTED 1
	ctl pause nosuch
	assert_equal "$status" 65
	assert_equal "$(db "SELECT group_concat(command) FROM control_audit ORDER BY id")" "pause,resume,pause"
}

@test "permissions: read-group may read, only admin-group may change; others get 77" {
	getent group adm >/dev/null && getent group staff >/dev/null ||
	    skip "needs the groups adm and staff"
	chmod 0755 "$T"
	write_conf 'read-group "adm"' 'admin-group "staff"'
	start_conf
	local nobody=65534 adm staff
	adm=$(getent group adm | cut -d: -f3)
	staff=$(getent group staff | cut -d: -f3)
	# no group: nothing at all
	as_user "$nobody" "$nobody" "" "$INGESTCTL" -s "$SOCK" status
	assert_equal "$status" 77
	[[ $stderr == *"permission denied"* ]] || fail "stderr: $stderr"
	# the read group: status and reconcile --check, not pause
	as_user "$nobody" "$nobody" "$adm" "$INGESTCTL" -s "$SOCK" status
	assert_success
	as_user "$nobody" "$nobody" "$adm" "$INGESTCTL" -s "$SOCK" reconcile --check
	assert_success
	as_user "$nobody" "$nobody" "$adm" "$INGESTCTL" -s "$SOCK" pause
	assert_equal "$status" 77
	as_user "$nobody" "$nobody" "$adm" "$INGESTCTL" -s "$SOCK" reload --wait
	assert_equal "$status" 77
	# the admin group (primary group here): everything, audited with its uid
	as_user "$nobody" "$staff" "" "$INGESTCTL" -s "$SOCK" pause
	assert_success
	as_user "$nobody" "$staff" "" "$INGESTCTL" -s "$SOCK" resume
	assert_success
	assert_equal "$(db "SELECT group_concat(uid) FROM control_audit")" "$nobody,$nobody"
	log_has '"event":"control_denied"'
}

@test "garbage on the socket gets an error reply and never disturbs ingestion" {
	write_conf
	start_conf
	python3 - "$SOCK" <<'EOF'
import os, random, socket, struct, sys
path = sys.argv[1]
random.seed(7)
def talk(frame):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    s.connect(path)
    s.send(frame)
    try:
        data = s.recv(70000)
    except ConnectionResetError:
        data = b""
    s.close()
    return data
hdr = lambda ver, typ, ln, id=1: struct.pack("=HHIQ", ver, typ, ln, id)
cases = [
    b"\x00",                                    # shorter than a header
    hdr(1, 100, 10) + b"\x80",                  # length says more than sent
    hdr(2, 100, 1) + b"\x80",                   # another protocol version
    hdr(1, 100, 1) + b"\x80",                   # an empty map: keys missing
    hdr(1, 100, 5) + b"\xa4junk",               # not a map
    hdr(1, 7, 1) + b"\x80",                     # a worker's message type
    hdr(1, 100, 0),                             # no body
    hdr(1, 100, 65000) + os.urandom(65000),     # big random body
]
cases += [os.urandom(random.randint(1, 300)) for _ in range(40)]
for c in cases:
    reply = talk(c)
    # every reply that comes is an END frame (type 102) saying why
    if reply:
        ver, typ, ln, _ = struct.unpack("=HHIQ", reply[:16])
        assert ver == 1 and typ == 102 and ln == len(reply) - 16, reply[:40]
EOF
	kill -0 "$DAEMON_PID"
	ctl status
	assert_success
	drop_file after.csv 'after the garbage'
	wait_state MANIFESTED 1
	log_has '"event":"control_bad_request"'
}

@test "an unknown command over the socket is a usage error (64)" {
	write_conf
	start_conf
	python3 - "$SOCK" <<'EOF'
import socket, struct, sys
def s(x):
    x = x.encode()
    return bytes([0xa0 | len(x)]) + x
body = b"\x87" + s("cmd") + s("frobnicate") + s("watch") + s("") + s("ids") + s("") \
    + s("all") + b"\xc2" + s("dry_run") + b"\xc2" + s("check") + b"\xc2" + s("wait") + b"\xc2"
c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
c.connect(sys.argv[1])
c.send(struct.pack("=HHIQ", 1, 100, len(body), 1) + body)
r = c.recv(70000)
ver, typ, ln, _ = struct.unpack("=HHIQ", r[:16])
assert typ == 102 and b"frobnicate" in r and b"\xa6status\x40" in r, r
EOF
}

@test "a stale socket from a killed daemon is replaced; a second daemon on the socket refuses to start" {
	write_conf
	start_conf
	stop_daemon_hard
	[ -S "$SOCK" ]
	: >"$LOG"	# start_conf waits for this daemon's "ready", not the first's
	start_conf
	log_has '"event":"control_stale_removed"'
	ctl status
	assert_success
	# a second daemon (its own database) on the same socket: exit 75
	sed "s|state-dir \"$T/state\"|state-dir \"$T/state2\"|" "$CONF" >"$T/second.conf"
	mkdir -p "$T/state2"
	run --separate-stderr "$INGESTD" -f "$T/second.conf"
	assert_equal "$status" 75
	[[ $stderr == *"another ingestd"* ]] || fail "stderr: $stderr"
	# the first one still answers
	ctl status
	assert_success
}

@test "connections beyond the cap are refused busy (75) while the others work" {
	write_conf
	start_conf
	python3 - "$SOCK" <<'EOF'
import socket, struct, sys
held = []
for i in range(16):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    c.connect(sys.argv[1])
    held.append(c)
extra = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
extra.settimeout(10)
extra.connect(sys.argv[1])
r = extra.recv(70000)
ver, typ, ln, _ = struct.unpack("=HHIQ", r[:16])
assert typ == 102 and b"\xa6status\x4b" in r, r   # 75
for c in held:
    c.close()
EOF
	# once they are gone, ingestctl gets in again
	wait_until 10 "$INGESTCTL" status
}

# complete WORD...: what bash completion offers for the last word.
complete_words() {
	bash -c '
		source /usr/share/bash-completion/bash_completion
		source "$1"
		shift
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		_ingestctl
		printf "%s\n" "${COMPREPLY[@]}"
	' _ "$TOP_SRCDIR/etc/bash-completion/ingestctl" "$@"
}

@test "bash completion: commands, options, states and the daemon's watch names" {
	[ -r /usr/share/bash-completion/bash_completion ] ||
	    skip "needs the bash-completion package"
	WATCH_EXTRA=''
	write_conf
	start_conf
	run complete_words "$INGESTCTL" re
	assert_output "$(printf 'retry\nreconcile\nreload\nresume')"
	run complete_words "$INGESTCTL" query --state MAN
	assert_output MANIFESTED
	run complete_words "$INGESTCTL" query --format c
	assert_output csv
	run complete_words "$INGESTCTL" retry --
	grep -qx -- --all <<<"$output" || fail "$output"
	grep -qx -- --dry-run <<<"$output" || fail "$output"
	run complete_words "$INGESTCTL" -s "$SOCK" pause m
	assert_output main
	run complete_words "$INGESTCTL" reconcile --watch ''
	assert_output main
}
