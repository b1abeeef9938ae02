#!/usr/bin/env bats
# Hostile staging contents: symlinks, FIFOs, sockets, symlinked directories,
# extreme names, empty files.  Non-regular files are REJECTED with a reason
# and never opened for data; odd names are ingested; the daemon survives.

load helpers

setup() { setup_tree; }
teardown() { teardown_tree; }

# --- local helpers ---

EMPTY_SHA=$(sha256sum </dev/null | cut -d' ' -f1)

gone() { [ ! -e "$1" ] && [ ! -L "$1" ]; }
count_archive() { archive_files | grep -c . || true; }
daemon_alive() { kill -0 "$DAEMON_PID"; }

# A bound unix socket left in the file system at $1.
make_socket() {
	python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])' "$1"
	[ -S "$1" ]
}

# Like drop_file (hidden temp + rename), but safe for names that start with
# a dash (helpers' drop_file passes the name to basename without "--").
drop_dash() {
	printf '%s' "$2" >"$IN/.drop-dash.tmp"
	mv -- "$IN/.drop-dash.tmp" "$IN/$1"
}

# Drop a normal file and wait for it to be fully ingested: proof that the
# daemon is not stuck on whatever came before it.
canary() {
	drop_file "${1:-canary.csv}" "canary ${1:-}"
	wait_until 30 row_state_is "${1:-canary.csv}" MANIFESTED
}

# --- non-regular files ---

@test "a symlink in staging is REJECTED as a symlink, its target untouched, nothing archived" {
	mkdir "$T/outside"
	make_random "$T/outside/secret.csv" 4
	want=$(sha "$T/outside/secret.csv")
	start_daemon
	ln -s "$T/outside/secret.csv" "$IN/link.csv"

	wait_until 30 row_state_is link.csv REJECTED
	run row_field link.csv last_error
	assert_output --partial symlink
	run grep '"event":"file_rejected"' "$LOG"
	assert_output --partial link.csv
	# the target is still there, byte for byte; the link itself stays put
	[ -f "$T/outside/secret.csv" ]
	assert_equal "$(sha "$T/outside/secret.csv")" "$want"
	[ -L "$IN/link.csv" ]
	assert_equal "$(count_archive)" 0
	run manifest_lines
	assert_output ""
	run db "SELECT count(*) FROM files WHERE sha256 IS NOT NULL"
	assert_output 0
	daemon_alive
}

@test "a symlink present at start-up is REJECTED too" {
	mkdir "$T/outside"
	make_random "$T/outside/secret.csv" 4
	want=$(sha "$T/outside/secret.csv")
	ln -s "$T/outside/secret.csv" "$IN/early-link.csv"
	start_daemon
	wait_until 30 row_state_is early-link.csv REJECTED
	run row_field early-link.csv last_error
	assert_output --partial symlink
	assert_equal "$(sha "$T/outside/secret.csv")" "$want"
	canary
	assert_equal "$(count_archive)" 1
	daemon_alive
}

@test "a FIFO is REJECTED as a fifo and the daemon does not block on it" {
	start_daemon
	mkfifo "$IN/pipe.csv"
	wait_until 30 row_state_is pipe.csv REJECTED
	run row_field pipe.csv last_error
	assert_output --partial fifo
	# nobody ever opened it for reading: a writer would still block
	run timeout 0.5 sh -c "printf x >'$IN/pipe.csv'"
	assert_equal "$status" 124
	# a normal file dropped after it still goes through
	canary after-fifo.csv
	[ -p "$IN/pipe.csv" ]
	run archive_files
	assert_output "$(find "$WH" -type f -name after-fifo.csv)"
	daemon_alive
}

@test "a unix socket is REJECTED as a socket" {
	start_daemon
	make_socket "$IN/sock.csv"
	wait_until 30 row_state_is sock.csv REJECTED
	run row_field sock.csv last_error
	assert_output --partial socket
	canary after-socket.csv
	[ -S "$IN/sock.csv" ]
	assert_equal "$(count_archive)" 1
	daemon_alive
}

@test "a symlinked directory pointing outside staging is never followed" {
	mkdir -p "$T/outside/deeper"
	make_random "$T/outside/secret.csv" 4
	make_random "$T/outside/deeper/more.csv" 4
	ln -s "$T/outside" "$IN/linkdir"
	start_daemon
	# a second one appearing while running, and a file landing behind it
	ln -s "$T/outside" "$IN/linkdir2"
	make_random "$T/outside/later.csv" 4
	before=$(cd "$T/outside" && find . -printf '%p %s %T@ %C@\n' | sort &&
	    find . -type f -exec sha256sum {} + | sort)
	# past the stability window, then a file that must go through
	sleep 1.5
	canary

	# nothing from outside was archived, recorded or removed
	run archive_files
	assert_output "$(find "$WH" -type f -name canary.csv)"
	run db "SELECT relpath FROM files WHERE relpath LIKE 'linkdir%/%'"
	assert_output ""
	run grep -E '"event":"(file_queued|file_ingested|file_duplicate)"' "$LOG"
	refute_output --regexp '(secret|more|later)\.csv'
	after=$(cd "$T/outside" && find . -printf '%p %s %T@ %C@\n' | sort &&
	    find . -type f -exec sha256sum {} + | sort)
	assert_equal "$after" "$before"
	# the links themselves are refused, not followed
	run db "SELECT state FROM files WHERE relpath IN ('linkdir','linkdir2')"
	refute_output --partial MANIFESTED
	[ -L "$IN/linkdir" ]
	[ -L "$IN/linkdir2" ]
	daemon_alive
}

# --- odd but legal names and sizes ---

@test "a file with a 255-byte name is ingested" {
	name=$(printf 'n%.0s' $(seq 1 251)).csv
	[ "${#name}" -eq 255 ]
	start_daemon
	# too long for a temp-and-rename name: written in place
	printf 'long name\n' >"$IN/$name"
	wait_until 30 row_state_is "$name" MANIFESTED
	dest=$(find "$WH" -type f -name "$name")
	[ -n "$dest" ]
	assert_equal "$(cat "$dest")" "long name"
	wait_until 10 gone "$IN/$name"
	assert_manifest_valid
	daemon_alive
}

@test "a name with a leading dash is ingested" {
	start_daemon
	drop_dash -rf.csv "dash"
	wait_until 30 row_state_is -rf.csv MANIFESTED
	drop_dash --help "double dash"
	wait_until 30 row_state_is -rf.csv MANIFESTED
	wait_until 30 row_state_is --help MANIFESTED
	dest=$(find "$WH" -type f -name '-rf.csv')
	[ -n "$dest" ]
	assert_equal "$(cat -- "$dest")" "dash"
	dest=$(find "$WH" -type f -name '--help')
	[ -n "$dest" ]
	assert_equal "$(cat -- "$dest")" "double dash"
	wait_until 10 gone "$IN/-rf.csv"
	daemon_alive
}

@test "a zero-byte file is ingested with the hash of the empty string" {
	start_daemon
	: >"$IN/empty.csv"
	wait_until 30 row_state_is empty.csv MANIFESTED
	assert_equal "$(row_field empty.csv sha256)" "$EMPTY_SHA"
	assert_equal "$(row_field empty.csv size)" 0
	dest=$(find "$WH" -type f -name empty.csv)
	[ -n "$dest" ]
	[ ! -s "$dest" ]
	run manifest_lines
	assert_output --partial "\"sha256\":\"$EMPTY_SHA\""
	assert_output --partial '"size":0,'
	daemon_alive
}

@test "the daemon keeps running through all of these at once" {
	mkdir "$T/outside"
	make_random "$T/outside/secret.csv" 4
	want=$(sha "$T/outside/secret.csv")
	start_daemon
	ln -s "$T/outside/secret.csv" "$IN/link.csv"
	ln -s "$T/outside" "$IN/linkdir"
	mkfifo "$IN/pipe.csv"
	make_socket "$IN/sock.csv"
	printf 'long\n' >"$IN/$(printf 'x%.0s' $(seq 1 251)).dat"
	drop_dash -dash.csv "dash"
	: >"$IN/zero.csv"
	mkdir -p "$IN/sub" && ln -s /etc/passwd "$IN/sub/passwd"

	wait_state REJECTED 5
	wait_state MANIFESTED 3
	canary last.csv
	daemon_alive
	assert_equal "$(count_state REJECTED)" 5
	assert_equal "$(count_state MANIFESTED)" 4
	assert_equal "$(count_archive)" 4
	assert_equal "$(sha "$T/outside/secret.csv")" "$want"
	assert_manifest_valid
	rc=0
	stop_daemon || rc=$?
	assert_equal "$rc" 0
}

# --- names that a template would turn into '..', '.' or an empty component ---

# conf_watch NAME PATH TO MANIFEST [LINE...]: add a watch to $CONF (made
# with the global lines first if need be); LINEs go into the block.
conf_watch() {
	local l
	CONF=$T/ingestd.conf
	DB=$T/state/audit.db
	[ -f "$CONF" ] || printf 'state-dir "%s"\ncontrol "%s"\nworkers 2\nlog json\n' \
	    "$T/state" "$T/ctl.sock" >"$CONF"
	mkdir -p "$2"
	printf 'watch "%s" {\n\tpath "%s"\n\tcomplete stability 1s\n' "$1" "$2" >>"$CONF"
	for l in "${@:5}"; do
		printf '\t%s\n' "$l" >>"$CONF"
	done
	printf '\tto "%s"\n\tmanifest "%s"\n}\n' "$3" "$4" >>"$CONF"
}

# Everything under $T but the daemon's own state and the archive, staging
# and manifest roots: what a template escaping its root would change.
outside_roots() {
	find "$T" \( -path "$WH" -o -path "$IN" -o -path "$MAN" \
	    -o -path "$T/state" \) -prune -o -print | sort
}

rejected_with() {
	[ "$(row_field "$1" "state || '|' || last_error")" = "REJECTED|$2" ]
}

@test "names that expand a destination template into '..', '.' or an empty component are REJECTED, nothing written outside the archive" {
	# ext is "" for "up.", "here." and "bare": the literal dots around
	# {ext} make the component "..", "." or nothing at all
	conf_watch main "$IN" "$WH/{ext}/{stem}.{ext}" "$MAN/manifest.jsonl" \
	    "route \"up*\" to \"$WH/..{ext}/{name}\"" \
	    "route \"here*\" to \"$WH/.{ext}/{name}\"" \
	    "route \"bare*\" to \"$WH/{ext}/{name}\""
	start_conf
	before=$(outside_roots)
	drop_file up. "up"
	drop_file here. "here"
	drop_file bare "bare"

	wait_until 30 rejected_with up. "'.' or '..' component in expansion"
	wait_until 30 rejected_with here. "'.' or '..' component in expansion"
	wait_until 30 rejected_with bare "empty path component in expansion"
	run "$INGESTCTL" -s "$T/ctl.sock" show "$(row_field up. id)"
	assert_success
	assert_output --partial REJECTED
	assert_output --partial "'.' or '..' component in expansion"
	# the daemon keeps ingesting under the same templates
	canary
	assert_equal "$(cat "$WH/csv/canary.csv")" "canary "
	# nothing but the canary was created, inside the archive or out
	assert_equal "$(outside_roots)" "$before"
	run archive_files
	assert_output "$WH/csv/canary.csv"
	# the rejected files stay in staging, untouched; one manifest line
	assert_equal "$(cat "$IN/up.") $(cat "$IN/here.") $(cat "$IN/bare")" "up here bare"
	assert_equal "$(wc -l <"$MAN/manifest.jsonl")" 1
	daemon_alive
}

@test "a name that expands the manifest template into '..' or an empty component is REJECTED before anything is archived" {
	conf_watch dots "$IN/dots" "$WH/dots/{name}" "$MAN/..{ext}/manifest.jsonl"
	conf_watch empty "$IN/empty" "$WH/empty/{name}" "$MAN/{ext}/manifest.jsonl"
	start_conf
	before=$(outside_roots)
	drop_file dots/up. "up"
	drop_file empty/bare "bare"

	wait_until 30 rejected_with up. "manifest: '.' or '..' component in expansion" ||
	    fail "$(db "SELECT relpath, state, last_error FROM files")"
	wait_until 30 rejected_with bare "manifest: empty path component in expansion"
	# published nowhere: no archive file, no manifest, nothing outside
	run archive_files
	assert_output ""
	run find "$MAN" -type f
	assert_output ""
	assert_equal "$(outside_roots)" "$before"
	assert_equal "$(cat "$IN/dots/up.") $(cat "$IN/empty/bare")" "up bare"
	# the same watches still ingest names that expand cleanly
	drop_file dots/dots.csv "dots ok"
	drop_file empty/empty.csv "empty ok"
	wait_until 30 row_state_is dots.csv MANIFESTED
	wait_until 30 row_state_is empty.csv MANIFESTED
	[ -f "$MAN/..csv/manifest.jsonl" ] && [ -f "$MAN/csv/manifest.jsonl" ]
	daemon_alive
}
