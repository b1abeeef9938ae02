#!/usr/bin/env bats
# The quick-mode command line: help, version, usage errors (64, one line
# naming --help), and start-up checks on the directories (66, 73), which
# must fail before anything is created.

load helpers
bats_require_minimum_version 1.5.0

setup() { setup_tree; }
teardown() { teardown_tree; }

# --- local helpers ---

# run ingestd with these exact arguments, stderr kept apart
run_ingestd() { run --separate-stderr "$INGESTD" "$@"; }

# A usage error: exit 64, exactly one line on stderr, mentioning --help,
# and nothing created.
assert_usage_error() {
	run_ingestd "$@"
	assert_equal "$status" 64
	[ -n "$stderr" ] || fail "no message on stderr"
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ] ||
	    fail "expected one line on stderr, got: $stderr"
	[[ $stderr == *--help* ]] || fail "stderr does not mention --help: $stderr"
	[ ! -e "$DB" ] || fail "state DB $DB was created"
	run find "$MAN" -mindepth 1
	assert_output ""
}

assert_nothing_created() {
	[ ! -e "$DB" ] || fail "state DB $DB was created"
	run find "$WH" "$MAN" -mindepth 1
	assert_output ""
}

valid_dirs() { echo --input "$IN" --warehouse "$WH" --manifests "$MAN" --state-path "$DB"; }

# --- help and version ---

@test "--help exits 0 and prints the usage" {
	run_ingestd --help
	assert_success
	[[ $output == *usage:* ]]
	[[ $output == *--input* ]]
	[[ $output == *--warehouse* ]]
	[[ $output == *--manifests* ]]
}

@test "--version prints the version" {
	want=$(sed -n 's/^AC_INIT(\[ingestd\], *\[\([^]]*\)\].*/\1/p' \
	    "$TOP_SRCDIR/configure.ac")
	[ -n "$want" ]
	run_ingestd --version
	assert_success
	assert_output "ingestd $want"
}

# --- usage errors: 64, one line, mentions --help ---

@test "no arguments means the default config file; a missing one exits 78 naming it" {
	run "$INGESTD"
	assert_equal "$status" 78
	assert_output --partial "ingestd.conf"
	assert_output --partial "cannot open"
	assert_nothing_created
}

@test "usage error: missing --warehouse exits 64 with one line naming --help" {
	assert_usage_error --input "$IN" --manifests "$MAN" --state-path "$DB"
}

@test "usage error: unknown option exits 64 with one line naming --help" {
	# shellcheck disable=SC2046
	assert_usage_error $(valid_dirs) --frobnicate
	assert_nothing_created
}

@test "usage error: --mode bogus exits 64 with one line naming --help" {
	# shellcheck disable=SC2046
	assert_usage_error $(valid_dirs) --mode bogus
}

@test "usage error: --stability-seconds -1 exits 64 with one line naming --help" {
	# shellcheck disable=SC2046
	assert_usage_error $(valid_dirs) --stability-seconds -1
}

@test "usage error: --stability-seconds abc exits 64 with one line naming --help" {
	# shellcheck disable=SC2046
	assert_usage_error $(valid_dirs) --stability-seconds abc
}

@test "usage error: --concurrency 0 exits 64 with one line naming --help" {
	# shellcheck disable=SC2046
	assert_usage_error $(valid_dirs) --concurrency 0
}

@test "usage error: a stray positional argument exits 64 with one line naming --help" {
	# shellcheck disable=SC2046
	assert_usage_error $(valid_dirs) stray
}

@test "usage error: --log-level loud exits 64 with one line naming --help" {
	# shellcheck disable=SC2046
	assert_usage_error $(valid_dirs) --log-level loud
}

@test "usage error: an option missing its argument exits 64 with one line naming --help" {
	# shellcheck disable=SC2046
	assert_usage_error $(valid_dirs) --stability-seconds
}

# --- start-up checks on the paths ---

@test "a missing --input directory exits 66 naming the path and creates nothing" {
	run_ingestd --input "$T/no-such-dir" --warehouse "$WH" --manifests "$MAN" \
	    --state-path "$DB"
	assert_equal "$status" 66
	[[ $stderr == *"$T/no-such-dir"* ]] || fail "path not named: $stderr"
	[ ! -e "$T/no-such-dir" ]
	assert_nothing_created
}

@test "an --input that is a file exits non-zero naming it" {
	printf 'not a dir\n' >"$T/afile"
	run_ingestd --input "$T/afile" --warehouse "$WH" --manifests "$MAN" \
	    --state-path "$DB"
	# non-zero, and a clean exit rather than a crash
	[ "$status" -ne 0 ] && [ "$status" -lt 128 ] || fail "exit status $status"
	[[ $stderr == *"$T/afile"* ]] || fail "path not named: $stderr"
	assert_equal "$(cat "$T/afile")" "not a dir"
	assert_nothing_created
}

@test "a missing --warehouse exits 73 naming the path" {
	run_ingestd --input "$IN" --warehouse "$T/no-warehouse" --manifests "$MAN" \
	    --state-path "$DB"
	assert_equal "$status" 73
	[[ $stderr == *"$T/no-warehouse"* ]] || fail "path not named: $stderr"
	[ ! -e "$T/no-warehouse" ]
	assert_nothing_created
}

@test "a missing --manifests exits 73 naming the path" {
	run_ingestd --input "$IN" --warehouse "$WH" --manifests "$T/no-manifests" \
	    --state-path "$DB"
	assert_equal "$status" 73
	[[ $stderr == *"$T/no-manifests"* ]] || fail "path not named: $stderr"
	[ ! -e "$T/no-manifests" ]
	assert_nothing_created
}

@test "--warehouse inside --input is a usage error (64)" {
	mkdir "$IN/wh"
	assert_usage_error --input "$IN" --warehouse "$IN/wh" --manifests "$MAN" \
	    --state-path "$DB"
	run find "$IN/wh" -mindepth 1
	assert_output ""
}

@test "--input inside --warehouse is a usage error (64)" {
	mkdir "$WH/staging"
	assert_usage_error --input "$WH/staging" --warehouse "$WH" \
	    --manifests "$MAN" --state-path "$DB"
}

@test "--state-path inside --input is a usage error (64)" {
	assert_usage_error --input "$IN" --warehouse "$WH" --manifests "$MAN" \
	    --state-path "$IN/state.db"
	[ ! -e "$IN/state.db" ]
}

@test "a file already in staging is untouched by a start-up that fails" {
	printf 'precious\n' >"$IN/keep.csv"
	run_ingestd --input "$IN" --warehouse "$T/no-warehouse" --manifests "$MAN" \
	    --state-path "$DB"
	assert_equal "$status" 73
	assert_equal "$(cat "$IN/keep.csv")" "precious"
	assert_nothing_created
}
