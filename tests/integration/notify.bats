#!/usr/bin/env bats
# sd_notify, implemented in-tree: READY once running, WATCHDOG pings while
# the loop turns, STOPPING on SIGTERM; silent without NOTIFY_SOCKET.

load helpers

setup() {
	setup_tree
	SOCK=$T/notify.sock
	# a stand-in for the service manager: record every datagram, one per line
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
out = open(sys.argv[2], "a", buffering=1)
while True:
    out.write(s.recv(4096).decode().replace("\n", "|") + "\n")
' "$SOCK" "$T/datagrams" &
	LISTENER=$!
	wait_until 10 test -S "$SOCK"
}

teardown() {
	kill "$LISTENER" 2>/dev/null || true
	teardown_tree
}

got() { grep -q -- "$1" "$T/datagrams" 2>/dev/null; }

@test "READY=1 is sent once the daemon is running, STOPPING=1 on SIGTERM" {
	NOTIFY_SOCKET=$SOCK start_daemon
	wait_until 10 got '^READY=1$'
	wait_until 10 got '^STATUS='
	stop_daemon
	wait_until 10 got '^STOPPING=1$'
	# READY comes before STOPPING
	[ "$(grep -n '^READY=1$' "$T/datagrams" | cut -d: -f1)" -lt \
	  "$(grep -n '^STOPPING=1$' "$T/datagrams" | cut -d: -f1)" ]
}

@test "WATCHDOG=1 pings come at half of WATCHDOG_USEC" {
	NOTIFY_SOCKET=$SOCK WATCHDOG_USEC=200000 start_daemon
	wait_until 10 bash -c "[ \$(grep -c '^WATCHDOG=1$' '$T/datagrams') -ge 3 ]"
	stop_daemon
}

@test "a WATCHDOG_PID for another process disables the pings" {
	NOTIFY_SOCKET=$SOCK WATCHDOG_USEC=200000 WATCHDOG_PID=1 start_daemon
	wait_until 10 got '^READY=1$'
	drop_file a.csv "a"
	wait_state MANIFESTED 1
	stop_daemon
	! got '^WATCHDOG=1$'
}

@test "the workers never see NOTIFY_SOCKET" {
	NOTIFY_SOCKET=$SOCK start_daemon
	wait_for_log '"event":"worker_ready"'
	local wpid
	wpid=$(pgrep -P "$DAEMON_PID" | head -1)
	run tr '\0' '\n' <"/proc/$wpid/environ"
	refute_output --partial NOTIFY_SOCKET
	stop_daemon
}

@test "without NOTIFY_SOCKET nothing is sent and the daemon runs normally" {
	start_daemon
	drop_file a.csv "a"
	wait_state MANIFESTED 1
	stop_daemon
	[ ! -s "$T/datagrams" ]
}

@test "a reload sends RELOADING=1 with MONOTONIC_USEC, then READY=1" {
	local conf=$T/ingestd.conf
	mkdir -p "$T/state"
	printf 'state-dir "%s"\ncontrol "%s"\nwatch "main" {\n\tpath "%s"\n\tto "%s/{name}"\n\tmanifest "%s/m.jsonl"\n}\n' \
	    "$T/state" "$T/ctl.sock" "$IN" "$WH" "$MAN" >"$conf"
	NOTIFY_SOCKET=$SOCK "$INGESTD" -f "$conf" 2>>"$LOG" &
	DAEMON_PID=$!
	wait_until 10 got '^READY=1$'
	kill -HUP "$DAEMON_PID"
	wait_until 10 got '^RELOADING=1|MONOTONIC_USEC=[0-9]*$'
	wait_until 10 bash -c "[ \$(grep -c '^READY=1$' '$T/datagrams') -ge 2 ]"
	stop_daemon
}
