#!/usr/bin/env bats
# Metrics and logs: the Prometheus listener and textfile against the real
# daemon (every scrape parsed line by line), log-file with SIGUSR1 reopen,
# and the journal's <N> priority prefixes.

load helpers

setup() {
	setup_tree
	CONF=$T/ingestd.conf
	mkdir -p "$T/state"
	DB=$T/state/audit.db
}
teardown() {
	teardown_tree
}

# The port of the last metrics_listening record.
metrics_port() {
	sed -n 's/.*"event":"metrics_listening".*"port":\([0-9]*\).*/\1/p' \
	    "$LOG" | tail -n 1
}

metrics_addr() {
	sed -n 's/.*"event":"metrics_listening".*"addr":"\([0-9a-f.:]*\)".*/\1/p' \
	    "$LOG" | tail -n 1
}

# http METHOD PATH OUT: the status on stdout, the body in OUT.
http() {
	local host
	host=$(metrics_addr)
	[[ $host != *:* ]] || host="[$host]"
	python3 - "$1" "http://$host:$(metrics_port)$2" "$3" <<'EOF'
import sys, urllib.request, urllib.error
method, url, out = sys.argv[1:4]
req = urllib.request.Request(url, method=method)
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        status, body = r.status, r.read()
        ctype = r.headers.get("Content-Type", "")
except urllib.error.HTTPError as e:
    status, body, ctype = e.code, e.read(), ""
open(out, "wb").write(body)
open(out + ".type", "w").write(ctype)
print(status)
EOF
}

# check_exposition FILE JSON: parse FILE as Prometheus text format 0.0.4
# line by line; fail on anything off; write {series: [type, value]}.
check_exposition() {
	python3 - "$1" "$2" <<'EOF'
import json, re, sys
text = open(sys.argv[1]).read()
assert text.endswith("\n"), "no final newline"
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
SAMPLE = re.compile(r"^(%s)(?:\{(%s(?:,%s)*)\})? (\S+)$" % (NAME, LABEL, LABEL))
ALLOWED = {"watch", "state", "reason", "le", "version"}
helps, types, series = {}, {}, {}
for n, line in enumerate(text.split("\n")[:-1], 1):
    where = "line %d: %r" % (n, line)
    if line.startswith("# HELP "):
        name = line.split(" ", 3)[2]
        assert re.fullmatch(NAME, name) and name not in helps, where
        helps[name] = line
        continue
    if line.startswith("# TYPE "):
        _, _, name, kind = line.split(" ")
        assert kind in ("counter", "gauge", "histogram"), where
        assert name in helps and name not in types, where
        types[name] = kind
        continue
    assert line and not line.startswith("#"), where
    m = SAMPLE.match(line)
    assert m, "bad sample syntax, " + where
    name, labels, value = m.group(1), m.group(2) or "", m.group(m.lastindex)
    float(value.replace("+Inf", "inf"))
    family = name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and types.get(name[:-len(suffix)]) == "histogram":
            family = name[:-len(suffix)]
    assert family in helps and family in types, "no HELP/TYPE before, " + where
    if types[family] == "counter":
        assert name.endswith("_total"), where
    pairs = re.findall(LABEL, labels)
    for k, v in pairs:
        assert k in ALLOWED, "label %s, %s" % (k, where)
        assert "/" not in v, "a path as a label value, " + where
        assert not re.fullmatch(r"[0-9a-f]{32,}", v), "a hash as a label, " + where
    key = name + "{" + ",".join("%s=%s" % p for p in sorted(pairs)) + "}"
    assert key not in series, "duplicate series, " + where
    series[key] = [types[family], float(value.replace("+Inf", "inf"))]
assert series, "no samples"
json.dump(series, open(sys.argv[2], "w"))
EOF
}

# series JSON KEY: the value of one series.
series() {
	python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))[sys.argv[2]][1]))' "$1" "$2"
}

scrape() {
	run http GET /metrics "$T/$1.txt"
	assert_output 200
	check_exposition "$T/$1.txt" "$T/$1.json" || fail "$(cat "$T/$1.txt")"
}

@test "metrics: a scrape is valid exposition format and counters only grow" {
	conf_head 'metrics listen 127.0.0.1:0' >"$CONF"
	start_conf
	[ -n "$(metrics_port)" ] || fail "no metrics_listening record"
	scrape first
	grep -qx 'text/plain; version=0.0.4; charset=utf-8' "$T/first.txt.type"
	assert_equal "$(series "$T/first.json" \
	    'ingestd_files_total{state=manifested,watch=main}')" 0
	assert_equal "$(series "$T/first.json" 'ingestd_build_info{version='"$("$INGESTD" --version | cut -d' ' -f2)"'}')" 1
	local i
	for i in 1 2 3 4 5; do
		drop_file "f$i.csv" "file number $i"
	done
	drop_file dup.csv "file number 1"
	wait_state MANIFESTED 5
	wait_state SKIPPED_DUPLICATE 1
	scrape second
	python3 - "$T/first.json" "$T/second.json" <<'EOF'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
for key, (kind, value) in a.items():
    assert key in b, "series vanished: " + key
    if kind in ("counter", "histogram") and not key.startswith("ingestd_queue"):
        assert b[key][1] >= value, "%s went down: %s -> %s" % (key, value, b[key][1])
EOF
	assert_equal "$(series "$T/second.json" \
	    'ingestd_files_total{state=manifested,watch=main}')" 5
	assert_equal "$(series "$T/second.json" \
	    'ingestd_files_total{state=skipped_duplicate,watch=main}')" 1
	assert_equal "$(series "$T/second.json" \
	    'ingestd_ingest_duration_seconds_count{}')" 5
	assert_equal "$(series "$T/second.json" \
	    'ingestd_bytes_total{watch=main}')" 65
	[ "$(series "$T/second.json" 'ingestd_hash_bytes_total{}')" -ge 78 ]
	stop_daemon
}

@test "metrics: other paths are 404, other methods 405" {
	conf_head 'metrics listen 0' >"$CONF"
	start_conf
	run http GET / "$T/body"
	assert_output 404
	run http GET /metrics/x "$T/body"
	assert_output 404
	run http POST /metrics "$T/body"
	assert_output 405
	run http DELETE /metrics "$T/body"
	assert_output 405
	run http GET '/metrics?x=1' "$T/body"
	assert_output 200
	run http HEAD /metrics "$T/body"
	assert_output 200
	[ ! -s "$T/body" ]
	stop_daemon
}

@test "metrics: an IPv6 address in brackets" {
	python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' \
	    2>/dev/null || skip "no IPv6 loopback here"
	conf_head 'metrics listen [::1]:0' >"$CONF"
	run "$INGESTD" -T -f "$CONF"
	assert_output --partial 'metrics listen [::1]:0'
	start_conf
	assert_equal "$(metrics_addr)" ::1
	scrape six
	stop_daemon
}

@test "metrics: an address that cannot be parsed or bound is a config error (78)" {
	conf_head 'metrics listen 300.1.2.3:9464' >"$CONF"
	run "$INGESTD" -n -f "$CONF"
	assert_equal "$status" 78
	assert_output --partial "$CONF:5: metrics listen '300.1.2.3:9464': not a numeric IPv4 address"
	# 192.0.2.1 (TEST-NET-1) is on no interface here: bind fails at start
	conf_head 'metrics listen 192.0.2.1:9464' >"$CONF"
	run "$INGESTD" -f "$CONF"
	assert_equal "$status" 78
	assert_output --partial "$CONF:5: metrics listen 192.0.2.1:9464: "
	run "$INGESTD" --input "$IN" --warehouse "$WH" --manifests "$MAN" \
	    --state-path "$DB" --metrics-listen 'nope:1'
	assert_equal "$status" 64
	assert_output --partial "--metrics-listen 'nope:1'"
}

@test "metrics: --metrics-listen serves in quick mode" {
	start_daemon --metrics-listen 127.0.0.1:0
	scrape quick
	assert_equal "$(series "$T/quick.json" \
	    'ingestd_rescans_total{reason=start,watch=input}')" 1
	stop_daemon
}

@test "metrics: a reload moves the listener; a bad address keeps the old one" {
	conf_head 'metrics listen 0' >"$CONF"
	start_conf
	local old
	old=$(metrics_port)
	# an address this host does not have: rejected, the old port serves
	conf_head 'metrics listen 192.0.2.1:9464' >"$CONF"
	kill -HUP "$DAEMON_PID"
	wait_for_log '"event":"reload_failed"'
	assert_equal "$(metrics_port)" "$old"
	scrape still
	assert_equal "$(series "$T/still.json" 'ingestd_reload_success{}')" 0
	# a good one: bound, the old one closed
	conf_head 'metrics listen 127.0.0.2:0' >"$CONF"
	kill -HUP "$DAEMON_PID"
	wait_for_log '"event":"reload_ok"'
	wait_for_log '"event":"metrics_closed"'
	[ "$(grep -c '"event":"metrics_listening"' "$LOG")" -eq 2 ]
	assert_equal "$(metrics_addr)" 127.0.0.2
	scrape moved
	assert_equal "$(series "$T/moved.json" 'ingestd_reload_success{}')" 1
	stop_daemon
}

@test "metrics textfile: rewritten by rename, parseable, final at shutdown" {
	mkdir "$T/prom"
	conf_head "metrics textfile \"$T/prom/ingestd.prom\" interval 1s" >"$CONF"
	start_conf
	wait_until 10 test -s "$T/prom/ingestd.prom"
	check_exposition "$T/prom/ingestd.prom" "$T/t1.json"
	local ino
	ino=$(stat -c %i "$T/prom/ingestd.prom")
	drop_file a.csv "textfile a"
	drop_file b.csv "textfile b"
	wait_state MANIFESTED 2
	# a new inode each time: written beside, then renamed over
	wait_until 10 bash -c "[ \$(stat -c %i '$T/prom/ingestd.prom') != $ino ]"
	stop_daemon
	check_exposition "$T/prom/ingestd.prom" "$T/t2.json"
	assert_equal "$(series "$T/t2.json" \
	    'ingestd_files_total{state=manifested,watch=main}')" 2
	# nothing else left in the directory (no temp files)
	run ls -A "$T/prom"
	assert_output "ingestd.prom"
}

@test "log-file: lines land in the file, and in the new one after mv + SIGUSR1" {
	LOG=$T/logs/ingestd.log
	mkdir "$T/logs"
	conf_head "log-file \"$LOG\"" >"$CONF"
	"$INGESTD" -f "$CONF" -v 2>"$T/stderr" &
	DAEMON_PID=$!
	wait_for_log '"event":"ready"' || { cat "$T/stderr" >&2; false; }
	[ "$(stat -c %a "$LOG")" = 640 ]
	[ ! -s "$T/stderr" ] || fail "stderr: $(cat "$T/stderr")"
	mv "$LOG" "$LOG.1"
	kill -USR1 "$DAEMON_PID"
	wait_for_log '"event":"log_reopened"'
	drop_file after.csv "after the rotation"
	wait_for_log '"event":"file_ingested"'
	stop_daemon
	grep -q '"event":"stopped"' "$LOG"
	! grep -q '"event":"file_ingested"' "$LOG.1"
	! grep -q '"event":"log_reopened"' "$LOG.1"
}

@test "--log-file: relative to the working directory" {
	(cd "$T" && exec "$INGESTD" --input "$IN" --warehouse "$WH" \
	    --manifests "$MAN" --state-path "$DB" --once --log-file rel.log)
	grep -q '"event":"stopped"' "$T/rel.log"
}

@test "journal: <N> priority prefixes when JOURNAL_STREAM is stderr, none otherwise" {
	conf_head >"$CONF"
	: >"$LOG"
	local id
	id=$(stat -c '%d:%i' "$LOG")
	JOURNAL_STREAM=$id start_conf
	drop_file a.csv "journal"
	wait_for_log '"event":"file_ingested"'
	stop_daemon
	grep -q '^<6>{.*"event":"ready"' "$LOG"
	grep -q '^<7>{.*"event":"file_discovered"' "$LOG"
	# every record has one
	! grep -v '^<[0-9]>{' "$LOG"
	# a stream that is not stderr: no prefixes
	: >"$LOG"
	JOURNAL_STREAM=1:1 start_conf
	stop_daemon
	grep -q '^{.*"event":"ready"' "$LOG"
	! grep -q '^<' "$LOG"
}

@test "reload: a new log-file and textfile path apply; the old textfile goes" {
	mkdir "$T/logs"
	conf_head "log-file \"$T/logs/a.log\"" \
	    "metrics textfile \"$T/a.prom\" interval 1s" >"$CONF"
	LOG=$T/logs/a.log
	"$INGESTD" -f "$CONF" -v 2>>"$T/stderr" &
	DAEMON_PID=$!
	wait_for_log '"event":"ready"' || { cat "$T/stderr" >&2; false; }
	wait_until 10 test -s "$T/a.prom"
	conf_head "log-file \"$T/logs/b.log\"" \
	    "metrics textfile \"$T/b.prom\"" >"$CONF"
	kill -HUP "$DAEMON_PID"
	LOG=$T/logs/b.log
	wait_for_log '"event":"reload_ok"'
	grep -q '"event":"log_file_switching"' "$T/logs/a.log"
	grep -q '"event":"log_file_opened"' "$T/logs/b.log"
	wait_until 10 test -s "$T/b.prom"
	[ ! -e "$T/a.prom" ]
	stop_daemon
	grep -q '"event":"stopped"' "$T/logs/b.log"
	! grep -q '"event":"stopped"' "$T/logs/a.log"
}
