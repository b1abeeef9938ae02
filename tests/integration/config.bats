#!/usr/bin/env bats
# The configuration file: -n/-T, several watches with their own rules,
# routes, copy and link actions, SIGHUP reload (good and broken), SIGUSR1,
# and --daemon with a pidfile.

load helpers

setup() {
	setup_tree
	CONF=$T/ingestd.conf
	mkdir -p "$T/in2" "$T/wh2" "$T/state"
	DB=$T/state/audit.db
}
teardown() {
	# a failed --daemon test must not leave its daemon (and workers) behind
	if [ -s "${T:-/nonexistent}/ingestd.pid" ]; then
		pkill -KILL -P "$(cat "$T/ingestd.pid")" 2>/dev/null || true
		kill -KILL "$(cat "$T/ingestd.pid")" 2>/dev/null || true
	fi
	teardown_tree
}

# conf_watch NAME PATH [extra lines...]: a second watch block.
conf_watch() {
	local name=$1 path=$2
	shift 2
	printf 'watch "%s" {\n\tpath "%s"\n\tcomplete stability 1s\n' "$name" "$path"
	local l
	for l in "$@"; do
		printf '\t%s\n' "$l"
	done
	printf '\tto "%s/{watch}/{name}"\n' "$T/wh2"
	printf '\tmanifest "%s/%s.jsonl"\n}\n' "$MAN" "$name"
}

@test "-n accepts a valid file and exits 0" {
	conf_head >"$CONF"
	run "$INGESTD" -n -f "$CONF"
	assert_success
	assert_output --partial "configuration OK"
}

@test "-n rejects a bad file with FILE:LINE: message and exit 78" {
	conf_head >"$CONF"
	printf 'watch "x" {\n\tpath "%s"\n\trecursiv yes\n}\n' "$T/in2" >>"$CONF"
	run "$INGESTD" -n -f "$CONF"
	assert_equal "$status" 78
	assert_output --partial "$CONF:13:"
	assert_output --partial "recursive"
}

@test "-T prints the effective config, which -n accepts back" {
	conf_head >"$CONF"
	run "$INGESTD" -T -f "$CONF"
	assert_success
	assert_output --partial 'action move'
	printf '%s\n' "$output" >"$T/printed.conf"
	run "$INGESTD" -n -f "$T/printed.conf"
	assert_success
	run "$INGESTD" -T -f "$T/printed.conf"
	assert_equal "$output" "$(cat "$T/printed.conf")"
}

@test "-D overrides a macro" {
	{
		echo 'root = "/nonexistent"'
		conf_head | sed "s|path \"$IN\"|path \"\$root\"|"
	} >"$CONF"
	run "$INGESTD" -T -f "$CONF" -D "root=$IN"
	assert_success
	assert_output --partial "path \"$IN\""
}

@test "two watches run at once, each with its own rules" {
	{
		conf_head
		conf_watch copies "$T/in2" 'match "*.csv"' 'action copy'
	} >"$CONF"
	start_conf
	drop_file a.csv "moved"
	printf 'kept' >"$T/in2/b.csv"
	printf 'not matched' >"$T/in2/c.txt"
	wait_state MANIFESTED 2
	stop_daemon
	[ ! -e "$IN/a.csv" ]			# move: gone from staging
	[ -f "$T/in2/b.csv" ]			# copy: stays
	assert_equal "$(cat "$T/wh2/copies/b.csv")" kept
	assert_equal "$(db "SELECT count(*) FROM files WHERE relpath = 'c.txt'")" 0
	assert_equal "$(wc -l <"$MAN/copies.jsonl")" 1
}

@test "action copy never ingests the same unchanged file twice, across restarts" {
	{
		conf_head
		conf_watch copies "$T/in2" 'action copy'
	} >"$CONF"
	printf 'once' >"$T/in2/c.csv"
	start_conf
	wait_state MANIFESTED 1
	stop_daemon
	start_conf
	drop_file other.csv "other"		# something to wait for
	wait_state MANIFESTED 2
	stop_daemon
	assert_equal "$(db "SELECT count(*) FROM files WHERE relpath = 'c.csv'")" 1
	[ -f "$T/in2/c.csv" ]
}

@test "action link hard-links on the same filesystem" {
	{
		conf_head
		conf_watch links "$T/in2" 'action link'
	} >"$CONF"
	printf 'linked' >"$T/in2/l.csv"
	start_conf
	wait_state MANIFESTED 1
	stop_daemon
	assert_equal "$(stat -c %i "$T/in2/l.csv")" "$(stat -c %i "$T/wh2/links/l.csv")"
}

@test "duplicate move-to puts a resend aside, under a new name if it is taken" {
	{
		conf_head
		conf_watch dups "$T/in2" "duplicate move-to \"$T/dups\""
	} >"$CONF"
	mkdir -p "$T/dups"
	printf 'same bytes' >"$T/dups/again.csv"	# the name is taken there
	start_conf
	printf 'same bytes' >"$T/in2/first.csv"
	wait_state MANIFESTED 1
	printf 'same bytes' >"$T/in2/again.csv"
	wait_state SKIPPED_DUPLICATE 1
	wait_for_log '"event":"duplicate_moved"'
	kill -0 "$DAEMON_PID"
	[ ! -e "$T/in2/again.csv" ]
	# the taken name was kept; the resend got the collision name
	assert_equal "$(ls "$T/dups" | wc -l)" 2
	stop_daemon
}

@test "routes: the first matching route decides the destination" {
	{
		conf_head
		conf_watch routed "$T/in2" \
		    "route \"*.gz\" to \"$T/wh2/gz/{name}\"" \
		    "route \"*\" to \"$T/wh2/all/{sha256:8}-{name}\""
	} >"$CONF"
	printf 'zipped' >"$T/in2/x.gz"
	printf 'plain' >"$T/in2/y.csv"
	start_conf
	wait_state MANIFESTED 2
	stop_daemon
	[ -f "$T/wh2/gz/x.gz" ]
	local h
	h=$(printf 'plain' | sha256sum | cut -c1-8)
	[ -f "$T/wh2/all/$h-y.csv" ]
}

@test "SIGHUP with a new watch starts ingesting it, including files already there" {
	conf_head >"$CONF"
	start_conf
	printf 'early' >"$T/in2/waiting.csv"
	conf_watch added "$T/in2" >>"$CONF"
	kill -HUP "$DAEMON_PID"
	wait_for_log '"event":"reload_ok"'
	log_has '"event":"watch_added"'
	printf 'late' >"$T/in2/late.csv"
	wait_state MANIFESTED 2
	stop_daemon
	assert_equal "$(cat "$T/wh2/added/waiting.csv")" early
	assert_equal "$(cat "$T/wh2/added/late.csv")" late
}

@test "SIGHUP with a broken file keeps the old config ingesting and reports the error" {
	conf_head >"$CONF"
	start_conf
	echo 'bogus-keyword 1' >>"$CONF"
	kill -HUP "$DAEMON_PID"
	wait_for_log '"event":"reload_failed"'
	run grep '"event":"reload_rejected"' "$LOG"
	assert_output --partial "$CONF:11:"
	drop_file still.csv "still ingesting"
	wait_state MANIFESTED 1
	kill -0 "$DAEMON_PID"
	stop_daemon
}

@test "SIGHUP that removes a watch stops watching it" {
	{
		conf_head
		conf_watch gone "$T/in2"
	} >"$CONF"
	start_conf
	conf_head >"$CONF"
	kill -HUP "$DAEMON_PID"
	wait_for_log '"event":"watch_removed"'
	printf 'ignored' >"$T/in2/after.csv"
	drop_file main.csv "main"
	wait_state MANIFESTED 1
	stop_daemon
	[ -f "$T/in2/after.csv" ]
	assert_equal "$(db "SELECT count(*) FROM files WHERE relpath = 'after.csv'")" 0
}

@test "SIGHUP that changes a watch's rules applies them to new files" {
	conf_head >"$CONF"
	start_conf
	conf_head | sed 's|ingest_date={date}/{name}|changed/{name}|' >"$CONF"
	kill -HUP "$DAEMON_PID"
	wait_for_log '"event":"watch_changed"'
	drop_file after.csv "after the change"
	wait_state MANIFESTED 1
	stop_daemon
	[ -f "$WH/changed/after.csv" ]
}

@test "SIGUSR1 reopens the logs and the daemon keeps running" {
	conf_head >"$CONF"
	start_conf
	kill -USR1 "$DAEMON_PID"
	wait_for_log '"event":"log_reopened"'
	kill -0 "$DAEMON_PID"
	stop_daemon
}

@test "--daemon detaches, writes the pidfile once ready and removes it on exit" {
	conf_head >"$CONF"
	run "$INGESTD" -f "$CONF" --daemon -p "$T/ingestd.pid"
	assert_success
	[ -s "$T/ingestd.pid" ]
	local pid
	pid=$(cat "$T/ingestd.pid")
	kill -0 "$pid"
	# a second instance on the same pidfile refuses to start
	run "$INGESTD" -f "$CONF" --daemon -p "$T/ingestd.pid"
	assert_failure
	kill -TERM "$pid"
	wait_until 20 bash -c "! kill -0 $pid 2>/dev/null"
	[ ! -e "$T/ingestd.pid" ]
}
