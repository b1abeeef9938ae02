#!/usr/bin/env bats
# What ships next to the daemon: the SysV init script, the systemd unit,
# the logrotate and /etc/default files, ingestd.conf(5) and the sample
# configuration.  None of this needs a running ingestd: the init script is
# driven against a stand-in daemon that implements just -n and --daemon -p.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	setup_tree
	ETC=$TOP_SRCDIR/etc
	INIT=$ETC/init.d/ingestd
	UNIT=$ETC/ingestd.service
	SAMPLE=$ETC/ingestd.conf.sample
	PAGE=$TOP_SRCDIR/doc/ingestd.conf.5
	# keep /lib/lsb/init-functions from handing the script to systemctl
	export SYSTEMCTL_SKIP_REDIRECT=1
}

teardown() {
	local pid
	for pid in "${KILL_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
	done
	if [ -s "${T:-/nonexistent}/ingestd.pid" ]; then
		kill -KILL "$(cat "$T/ingestd.pid")" 2>/dev/null || true
	fi
	teardown_tree
}

KILL_PIDS=()

# --- local helpers ---

need() { command -v "$1" >/dev/null || skip "$1 is not installed"; }

need_lsb() {
	[ -r /lib/lsb/init-functions ] || skip "/lib/lsb/init-functions is missing (lsb-base)"
	need start-stop-daemon
}

# Skip until the daemon reads configuration files: older builds reject -f
# as a usage error (64).
need_config_mode() {
	[ -x "$INGESTD" ] || skip "$INGESTD is not built"
	run "$INGESTD" -n -f "$SAMPLE"
	[ "$status" -ne 64 ] || skip "ingestd does not support -f yet"
}

# A stand-in for ingestd in $T/bin, and a defaults file pointing the init
# script at it and at $T.  Every call is logged to $T/fake.log; "-n" fails
# with a FILE:LINE: message when the config contains BROKEN; "--daemon -p
# PIDFILE" starts a process named ingestd that logs HUP and TERM.
fake_daemon() {
	mkdir -p "$T/bin" "$T/etc"
	cat >"$T/bin/ingestd" <<-EOF
	#!/bin/sh
	log=$T/fake.log
	EOF
	cat >>"$T/bin/ingestd" <<-'EOF'
	if [ "$1" = --run ]; then
		pidfile=$2
		trap 'echo HUP >>"$log"' HUP
		trap 'echo TERM >>"$log"; rm -f "$pidfile"; exit 0' TERM
		echo $$ >"$pidfile"
		while :; do sleep 1 & wait $!; done
	fi
	echo "args: $*" >>"$log"
	cfg= pidfile= check= daemon=
	while [ $# -gt 0 ]; do
		case $1 in
		-n) check=1 ;;
		-f) cfg=$2; shift ;;
		-p) pidfile=$2; shift ;;
		-D) shift ;;
		--daemon) daemon=1 ;;
		esac
		shift
	done
	if [ -n "$check" ]; then
		if grep -q BROKEN "$cfg"; then
			echo "$cfg:2: unknown keyword 'BROKEN'" >&2
			exit 78
		fi
		echo "ingestd: $cfg: configuration OK" >&2
		exit 0
	fi
	[ -n "$daemon" ] && [ -n "$pidfile" ] || exit 64
	"$0" --run "$pidfile" </dev/null >/dev/null 2>&1 3>&- &
	# like ingestd --daemon: return once the pid file is written
	i=0
	while [ ! -s "$pidfile" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	[ -s "$pidfile" ]
	EOF
	chmod +x "$T/bin/ingestd"
	echo 'state-dir "/tmp"' >"$T/etc/ingestd.conf"
	cat >"$T/etc/default" <<-EOF
	DAEMON=$T/bin/ingestd
	PIDFILE=$T/ingestd.pid
	RUNDIR=$T/run
	CONFIG=$T/etc/ingestd.conf
	DAEMON_OPTS="-D site=eu1"
	STOP_TIMEOUT=5
	EOF
	export INGESTD_DEFAULTS=$T/etc/default
}

init() { run --separate-stderr sh "$INIT" "$@"; }

fake_log_has() { grep -q -- "$1" "$T/fake.log" 2>/dev/null; }

# --- init script ---

@test "init script: valid POSIX sh, executable, defaults file valid sh" {
	[ -x "$INIT" ] || fail "$INIT is not executable"
	sh -n "$INIT"
	if command -v dash >/dev/null; then
		dash -n "$INIT"
	fi
	if command -v shellcheck >/dev/null; then
		shellcheck -s sh -S warning "$INIT"
	fi
	sh -n "$ETC/default/ingestd"
	run sh -c ". '$ETC/default/ingestd'; echo \"\$ENABLED|\$CONFIG|\$DAEMON_OPTS\""
	assert_success
	assert_output "yes|/etc/ingestd/ingestd.conf|"
}

@test "init script: LSB header has every field" {
	local header
	header=$(sed -n '/^### BEGIN INIT INFO$/,/^### END INIT INFO$/p' "$INIT")
	[ -n "$header" ] || fail "no BEGIN/END INIT INFO block"
	[[ $header == *"### END INIT INFO"* ]] || fail "unterminated INIT INFO block"
	grep -Eq '^# Provides:[[:space:]]+ingestd$' <<<"$header"
	grep -Eq '^# Required-Start:[[:space:]]+.*\$local_fs' <<<"$header"
	grep -Eq '^# Required-Start:[[:space:]]+.*\$remote_fs' <<<"$header"
	grep -Eq '^# Required-Start:[[:space:]]+.*\$syslog' <<<"$header"
	grep -Eq '^# Required-Stop:[[:space:]]+.*\$local_fs' <<<"$header"
	grep -Eq '^# Default-Start:[[:space:]]+2 3 4 5$' <<<"$header"
	grep -Eq '^# Default-Stop:[[:space:]]+0 1 6$' <<<"$header"
	grep -Eq '^# Short-Description:[[:space:]]+[^[:space:]]' <<<"$header"
	grep -Eq '^# Description:[[:space:]]+[^[:space:]]' <<<"$header"
	# the header is the first thing after the #! line
	[ "$(sed -n 2p "$INIT")" = "### BEGIN INIT INFO" ]
}

@test "init script: status exits 3 without a pid file, 1 with a stale one, 0 while running" {
	need_lsb
	fake_daemon
	init status
	assert_equal "$status" 3

	sh -c 'exit 0' &
	wait $!
	echo $! >"$T/ingestd.pid"
	init status
	assert_equal "$status" 1

	sleep 60 </dev/null >/dev/null 2>&1 3>&- &
	KILL_PIDS+=($!)
	echo $! >"$T/ingestd.pid"
	init status
	assert_equal "$status" 0
}

@test "init script: start with an invalid config prints ingestd's message, exits 6 and starts nothing" {
	need_lsb
	fake_daemon
	echo BROKEN >>"$T/etc/ingestd.conf"
	init start
	assert_equal "$status" 6
	[[ $stderr == *"$T/etc/ingestd.conf:2: unknown keyword 'BROKEN'"* ]] ||
	    fail "the FILE:LINE: message is missing: $stderr"
	fake_log_has "-n -f $T/etc/ingestd.conf -D site=eu1"
	! fake_log_has "--daemon" || fail "the daemon was started"
	[ ! -e "$T/ingestd.pid" ]
}

@test "init script: start, status, reload, stop (stand-in daemon)" {
	need_lsb
	fake_daemon
	init start
	assert_success
	# checked first, then started detached with the pid file and the options
	assert_equal "$(sed -n 1p "$T/fake.log")" "args: -n -f $T/etc/ingestd.conf -D site=eu1"
	assert_equal "$(sed -n 2p "$T/fake.log")" \
	    "args: --daemon -p $T/ingestd.pid -f $T/etc/ingestd.conf -D site=eu1"
	[ -s "$T/ingestd.pid" ]
	[ -d "$T/run" ]
	init status
	assert_success

	# start again: already running is success, and no second daemon
	init start
	assert_success
	assert_equal "$(grep -c -- '--daemon' "$T/fake.log")" 1

	init reload
	assert_success
	wait_until 10 fake_log_has '^HUP$'

	# a broken file: reload fails with the message and does not signal
	echo BROKEN >>"$T/etc/ingestd.conf"
	init reload
	assert_equal "$status" 6
	[[ $stderr == *":2: unknown keyword 'BROKEN'"* ]] || fail "stderr: $stderr"
	# restart does not stop the running daemon for a broken file either
	init restart
	assert_equal "$status" 6
	init status
	assert_success
	assert_equal "$(grep -c '^HUP$' "$T/fake.log")" 1
	sed -i '/BROKEN/d' "$T/etc/ingestd.conf"

	init force-reload
	assert_success
	wait_until 10 test "$(grep -c '^HUP$' "$T/fake.log")" -eq 2

	init stop
	assert_success
	fake_log_has '^TERM$'
	[ ! -e "$T/ingestd.pid" ]
	init status
	assert_equal "$status" 3

	# stopped: stop again is fine, reload is "not running", force-reload a no-op
	init stop
	assert_success
	init reload
	assert_equal "$status" 7
	init force-reload
	assert_success
	assert_equal "$(grep -c '^HUP$' "$T/fake.log")" 2
}

@test "init script: restart starts a stopped daemon, try-restart does not" {
	need_lsb
	fake_daemon
	init try-restart
	assert_success
	[ ! -e "$T/ingestd.pid" ]
	init restart
	assert_success
	[ -s "$T/ingestd.pid" ]
	local old
	old=$(cat "$T/ingestd.pid")
	init try-restart
	assert_success
	[ -s "$T/ingestd.pid" ]
	[ "$(cat "$T/ingestd.pid")" != "$old" ] || fail "try-restart kept the old process"
	init stop
	assert_success
}

@test "init script: ENABLED=no keeps start from starting" {
	need_lsb
	fake_daemon
	echo ENABLED=no >>"$T/etc/default"
	init start
	assert_success
	[[ "$output$stderr" == *disabled* ]] || fail "no 'disabled' notice"
	! fake_log_has "--daemon"
	[ ! -e "$T/ingestd.pid" ]
}

@test "init script: an unknown action prints the usage and exits 3" {
	need_lsb
	fake_daemon
	init frobnicate
	assert_equal "$status" 3
	[[ $stderr == *Usage:*reload* ]] || fail "stderr: $stderr"
}

# --- systemd unit ---

@test "systemd unit: systemd-analyze verify finds nothing to report" {
	need systemd-analyze
	# verify insists that the commands exist: point them at the build tree
	[ -x "$INGESTD" ] || skip "$INGESTD is not built"
	mkdir -p "$T/unit" "$T/man/man5" "$T/man/man8"
	sed "s|/usr/sbin/ingestd|$INGESTD|g" "$UNIT" >"$T/unit/ingestd.service"
	local man=--man=no
	if command -v man >/dev/null; then
		# and that the Documentation= pages exist: ours, from the tree
		ln -s "$TOP_SRCDIR/doc/ingestd.8" "$T/man/man8/"
		ln -s "$PAGE" "$T/man/man5/"
		man=--man=yes
	fi
	run env MANPATH="$T/man" systemd-analyze verify "$man" "$T/unit/ingestd.service"
	# unknown keys and bad values are only warnings: any line about the
	# unit is a failure
	if grep -F -e "$T/unit" -e ingestd.service <<<"$output"; then
		fail "systemd-analyze verify: $output"
	fi
	assert_success
}

@test "systemd unit: Type=notify, config checked before start and before the reload signal" {
	grep -qx 'Type=notify' "$UNIT"
	grep -qx 'ExecStartPre=/usr/sbin/ingestd -n -f /etc/ingestd/ingestd.conf' "$UNIT"
	grep -qx 'ExecStart=/usr/sbin/ingestd -d -f /etc/ingestd/ingestd.conf' "$UNIT"
	# the two ExecReload= lines, check first
	run grep '^ExecReload=' "$UNIT"
	assert_line --index 0 'ExecReload=/usr/sbin/ingestd -n -f /etc/ingestd/ingestd.conf'
	assert_line --index 1 'ExecReload=/bin/kill -HUP $MAINPID'
	grep -q '^WatchdogSec=' "$UNIT"
	grep -qx 'ProtectSystem=strict' "$UNIT"
	grep -q '^ReadWritePaths=' "$UNIT"
}

# --- logrotate ---

@test "logrotate: the snippet parses, rotates and sends SIGUSR1 to the pid file's process" {
	need logrotate
	mkdir -p "$T/log"
	echo line >"$T/log/ingestd.log"
	sed -e "s|/var/log/ingestd|$T/log|" -e "s|/run/ingestd.pid|$T/ingestd.pid|g" \
	    -e "s|create 0640 root adm|create 0640|" \
	    "$ETC/logrotate.d/ingestd" >"$T/logrotate.conf"
	bash -c 'trap "echo USR1 >'"$T"'/usr1; exit 0" USR1; while :; do sleep 0.1; done' \
	    </dev/null >/dev/null 2>&1 3>&- &
	KILL_PIDS+=($!)
	echo $! >"$T/ingestd.pid"
	sleep 0.2
	run logrotate -f -s "$T/logrotate.state" "$T/logrotate.conf"
	assert_success
	[ -e "$T/log/ingestd.log.1" ] || fail "not rotated: $(ls "$T/log")"
	wait_until 10 test -e "$T/usr1"
	# no copytruncate: the daemon reopens its log instead
	! grep -Eq '^[[:space:]]*copytruncate' "$ETC/logrotate.d/ingestd"
}

# --- ingestd.conf(5) ---

@test "ingestd.conf(5): mandoc -Tlint reports nothing" {
	need mandoc
	run mandoc -Tlint -Wwarning "$PAGE"
	assert_output ""
	assert_success
}

@test "ingestd.conf(5): documents every keyword of the grammar" {
	local y=$TOP_SRCDIR/src/master/parse.y kw missing=
	[ -r "$y" ] || skip "no src/master/parse.y"
	local kws
	kws=$(sed -n 's/^[[:space:]]*{ "\([a-z0-9-]*\)",[[:space:]]*TOK_.*/\1/p' "$y")
	[ -n "$kws" ] || fail "found no keyword table in $y"
	for kw in $kws; do
		# .Ic kw, .Cm kw, or kw as an alternative: .Cm a | kw
		grep -Eq "(^\.|[[:space:]])(Ic|Cm)( [^ ]+ \|)* $kw( |\$)" "$PAGE" ||
		    missing="$missing $kw"
	done
	[ -z "$missing" ] || fail "not documented in ingestd.conf(5):$missing"
}

@test "ingestd.conf(5): documents every template field" {
	local c=$TOP_SRCDIR/src/master/template.c f missing=
	[ -r "$c" ] || skip "no src/master/template.c"
	local fields
	fields=$(sed -n '/^static const char \*field_names/,/};/p' "$c" |
	    grep -o '"[a-z0-9]*"' | tr -d '"')
	[ -n "$fields" ] || fail "found no field table in $c"
	for f in $fields "sha256:N"; do
		grep -q "^\.It Li {$f}\$" "$PAGE" || missing="$missing {$f}"
	done
	[ -z "$missing" ] || fail "not documented in ingestd.conf(5):$missing"
}

@test "ingestd.conf(5): the examples are valid configurations" {
	need_config_mode
	local n=0 f
	# every literal display of EXAMPLES that holds a watch block
	awk -v dir="$T" '
		/^\.Sh / { ex = ($2 == "EXAMPLES") }
		ex && /^\.Bd -literal/ { inb = 1; buf = ""; next }
		ex && inb && /^\.Ed/ {
			inb = 0
			if (buf ~ /watch "/) { n++; f = dir "/example" n ".conf"; printf "%s", buf > f; close(f) }
			next
		}
		ex && inb { gsub(/\\e/, "\\"); buf = buf $0 "\n" }
	' "$PAGE"
	for f in "$T"/example*.conf; do
		[ -e "$f" ] || fail "no example found in $PAGE"
		n=$((n + 1))
		run "$INGESTD" -n -f "$f"
		[ "$status" -eq 0 ] || fail "$f: $output"
	done
	[ "$n" -ge 2 ] || fail "expected at least 2 examples, found $n"
}

# --- the sample configuration ---

@test "ingestd.conf.sample: ingestd -n accepts it" {
	need_config_mode
	run "$INGESTD" -n -f "$SAMPLE"
	[ "$status" -eq 0 ] || fail "exit $status: $output"
}

@test "ingestd.conf.sample: ingestd -T prints it back in a form ingestd -n accepts" {
	need_config_mode
	run --separate-stderr "$INGESTD" -T -f "$SAMPLE"
	[ "$status" -eq 0 ] || fail "exit $status: $stderr"
	printf '%s\n' "$output" >"$T/effective.conf"
	grep -q '^watch "incoming"' "$T/effective.conf"
	grep -q '^watch "crm-orders"' "$T/effective.conf"
	run "$INGESTD" -n -f "$T/effective.conf"
	[ "$status" -eq 0 ] || fail "exit $status: $output"
}

@test "init script: start, status, reload, stop against the real daemon" {
	need_lsb
	need_config_mode
	mkdir -p "$T/etc" "$T/state"
	cat >"$T/etc/ingestd.conf" <<-EOF
	state-dir "$T/state"
	control "$T/run/ingestd.sock"
	workers 1
	watch "main" {
		path "$IN"
		complete stability 1s
		to "$WH/ingest_date={date}/{name}"
		manifest "$MAN/{yyyy}/{mm}/{dd}/{hh}/manifest.jsonl"
	}
	EOF
	cat >"$T/etc/default" <<-EOF
	DAEMON=$INGESTD
	PIDFILE=$T/ingestd.pid
	RUNDIR=$T/run
	CONFIG=$T/etc/ingestd.conf
	STOP_TIMEOUT=20
	EOF
	export INGESTD_DEFAULTS=$T/etc/default
	init start
	assert_success
	[ -s "$T/ingestd.pid" ]
	local pid
	pid=$(cat "$T/ingestd.pid")
	kill -0 "$pid"
	init status
	assert_success
	# it ingests
	DB=$T/state/audit.db
	drop_file a.csv "via the init script"
	wait_state MANIFESTED 1
	# a broken file: reload refuses with ingestd's message, the daemon stays
	echo 'bogus 1' >>"$T/etc/ingestd.conf"
	init reload
	assert_equal "$status" 6
	[[ $stderr == *"ingestd.conf:10: unknown keyword 'bogus'"* ]] || fail "stderr: $stderr"
	kill -0 "$pid"
	sed -i '/bogus/d' "$T/etc/ingestd.conf"
	init reload
	assert_success
	init stop
	assert_success
	[ ! -e "$T/ingestd.pid" ]
	! kill -0 "$pid" 2>/dev/null
	init status
	assert_equal "$status" 3
}
