/* unit test: master's SQLite audit database (schema, states, events, exactly-once, recovery). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "buf.h"
/* Makefile.am puts only src/common on the include path: reach the master. */
#include "../../src/master/db.h"
#include "util.h"

#define SHA_A	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define SHA_C	"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define SHA_D	"dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
#define XXH_A	"11111111111111111111111111111111"
#define XXH_B	"22222222222222222222222222222222"
#define WATCH	"incoming"
/* 2026-11-22T03:04:05.123Z */
#define T0_NS	(1795316645LL * 1000000000LL + 123000000LL)
#define T0_ISO	"2026-11-22T03:04:05.123Z"

struct fx {
	char		 dir[64];
	char		 path[128];
	struct db	*db;
	sqlite3		*h;		/* db.c's own connection, for pragmas */
};

/*
 * db.c's connection is private; an SQLite auto-extension sees every
 * connection as it is opened, so the test can read the per-connection
 * pragmas (synchronous, foreign_keys, busy_timeout) that a second
 * connection cannot see.
 */
static sqlite3 *last_opened;

static int
capture_handle(sqlite3 *h, char **err, const sqlite3_api_routines *api)
{
	last_opened = h;
	return SQLITE_OK;
}

/* Helpers: a second, independent connection to the same file. */

static sqlite3 *
raw_open(const struct fx *fx)
{
	sqlite3 *h = NULL;

	assert_int_equal(sqlite3_open_v2(fx->path, &h, SQLITE_OPEN_READWRITE,
	    NULL), SQLITE_OK);
	sqlite3_busy_timeout(h, 5000);
	return h;
}

static void
raw_exec(const struct fx *fx, const char *sql)
{
	sqlite3 *h = raw_open(fx);
	char *msg = NULL;
	int rc;

	rc = sqlite3_exec(h, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		print_error("raw_exec: %s: %s\n", sql, msg ? msg : "?");
	sqlite3_free(msg);
	sqlite3_close(h);
	assert_int_equal(rc, SQLITE_OK);
}

/* One integer from an SQL query on handle h (with an optional int64 ?1). */
static int64_t
h_int(sqlite3 *h, const char *sql, int64_t arg)
{
	sqlite3_stmt *st;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_bind_parameter_count(st) > 0)
		sqlite3_bind_int64(st, 1, arg);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* One text value (caller frees), NULL for SQL NULL. */
static char *
h_text(sqlite3 *h, const char *sql, int64_t arg)
{
	sqlite3_stmt *st;
	const unsigned char *s;
	char *v;

	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_bind_parameter_count(st) > 0)
		sqlite3_bind_int64(st, 1, arg);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	s = sqlite3_column_text(st, 0);
	v = s ? xstrdup((const char *)s) : NULL;
	sqlite3_finalize(st);
	return v;
}

static int64_t
raw_int(const struct fx *fx, const char *sql, int64_t arg)
{
	sqlite3 *h = raw_open(fx);
	int64_t v = h_int(h, sql, arg);

	sqlite3_close(h);
	return v;
}

static int64_t
event_count(const struct fx *fx, int64_t id)
{
	return raw_int(fx, "SELECT count(*) FROM events WHERE file_id = ?1", id);
}

/* The event trail of a file as "STATE[:detail],STATE..." in order. */
static char *
event_trail(const struct fx *fx, int64_t id, int with_detail)
{
	sqlite3 *h = raw_open(fx);
	sqlite3_stmt *st;
	struct buf b;
	const unsigned char *s, *d;
	int rc;

	buf_init(&b);
	assert_int_equal(sqlite3_prepare_v2(h, "SELECT state, detail, at FROM"
	    " events WHERE file_id = ?1 ORDER BY id", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		s = sqlite3_column_text(st, 0);
		d = sqlite3_column_text(st, 1);
		/* every event carries a UTC timestamp */
		assert_non_null(sqlite3_column_text(st, 2));
		assert_int_equal(strlen((const char *)
		    sqlite3_column_text(st, 2)), 24);
		assert_int_equal(((const char *)
		    sqlite3_column_text(st, 2))[23], 'Z');
		if (b.len > 0)
			buf_addc(&b, ',');
		buf_adds(&b, (const char *)s);
		if (with_detail && d != NULL)
			buf_printf(&b, ":%s", (const char *)d);
	}
	assert_int_equal(rc, SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(h);
	if (b.data == NULL)
		buf_adds(&b, "");
	return buf_release(&b);
}

static void
assert_trail(const struct fx *fx, int64_t id, int with_detail,
    const char *want)
{
	char *got = event_trail(fx, id, with_detail);

	assert_string_equal(got, want);
	free(got);
}

/* Insert a plain arrival in `state` and return its id. */
static int64_t
add_file(struct fx *fx, const char *watch, const char *name, int state)
{
	struct file_rec r;
	char path[PATH_MAX];

	memset(&r, 0, sizeof(r));
	snprintf(path, sizeof(path), "/srv/staging/%s/%s", watch, name);
	r.watch = (char *)watch;
	r.source_path = path;
	r.relpath = (char *)name;
	r.device = 2049;
	r.inode = 1234567;
	r.size = 987654;
	r.mtime_ns = T0_NS - 60000000000LL;
	r.ctime_ns = T0_NS - 60000000000LL;
	r.state = state;
	assert_int_equal(db_file_insert(fx->db, &r, T0_NS, NULL), 0);
	assert_true(r.id > 0);
	return r.id;
}

static int
get_state(struct fx *fx, int64_t id)
{
	struct file_rec r;
	int state;

	assert_int_equal(db_file_get(fx->db, id, &r), 0);
	state = r.state;
	file_rec_free(&r);
	return state;
}

/* Take a row all the way to MANIFESTED with the given content hash. */
static int64_t
add_ingested(struct fx *fx, const char *name, const char *sha, int state)
{
	int64_t id = add_file(fx, WATCH, name, ST_QUEUED);
	char dest[256];

	snprintf(dest, sizeof(dest), "/srv/warehouse/%s", name);
	assert_int_equal(db_file_set_processing(fx->db, id, 1), 0);
	assert_int_equal(db_file_set_hashed(fx->db, id, sha, XXH_A, dest), 0);
	if (state == ST_HASHED)
		return id;
	assert_int_equal(db_file_set_moved(fx->db, id, dest,
	    "/srv/manifests/2026/11/22/03/manifest.jsonl", T0_ISO, 1), 0);
	if (state == ST_MOVED)
		return id;
	assert_int_equal(db_file_set_state(fx->db, id, ST_MANIFESTED, NULL), 0);
	return id;
}

/* Fixture: a fresh database in a fresh directory for every test. */

/*
 * The directory in use, so main() can still remove it when a test dies
 * on a signal (cmocka then skips the teardown).
 */
static char live_dir[64];

static void
dir_remove(const char *dir)
{
	struct dirent *de;
	char p[PATH_MAX];
	DIR *d;

	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

static int
setup(void **state)
{
	struct fx *fx = xcalloc(1, sizeof(*fx));
	char *err = NULL;

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_db.XXXXXX");
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return -1;
	}
	if (live_dir[0] != '\0')
		dir_remove(live_dir);
	snprintf(live_dir, sizeof(live_dir), "%s", fx->dir);
	snprintf(fx->path, sizeof(fx->path), "%s/audit.db", fx->dir);
	last_opened = NULL;
	fx->db = db_open(fx->path, 0, &err);
	if (fx->db == NULL) {
		print_error("db_open: %s\n", err ? err : "?");
		free(err);
		rmdir(fx->dir);
		free(fx);
		return -1;
	}
	fx->h = last_opened;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;

	db_close(fx->db);
	dir_remove(fx->dir);
	live_dir[0] = '\0';
	free(fx);
	return 0;
}

/* Tests. */

static void
test_open_creates_schema_with_wal_and_full_sync(void **state)
{
	struct fx *fx = *state;
	sqlite3 *h;
	char *mode;

	/* per-connection settings, read on db.c's own connection */
	assert_non_null(fx->h);
	assert_int_equal(h_int(fx->h, "PRAGMA synchronous", 0), 2);
	assert_int_equal(h_int(fx->h, "PRAGMA foreign_keys", 0), 1);
	assert_true(h_int(fx->h, "PRAGMA busy_timeout", 0) > 0);
	mode = h_text(fx->h, "PRAGMA journal_mode", 0);
	assert_string_equal(mode, "wal");
	free(mode);

	/* WAL is a property of the file: a second connection sees it */
	h = raw_open(fx);
	mode = h_text(h, "PRAGMA journal_mode", 0);
	assert_string_equal(mode, "wal");
	free(mode);
	assert_int_equal(h_int(h, "SELECT count(*) FROM schema_version", 0), 1);
	assert_int_equal(h_int(h, "SELECT version FROM schema_version", 0),
	    DB_SCHEMA_VERSION);
	assert_int_equal(h_int(h, "SELECT count(*) FROM sqlite_master WHERE"
	    " type = 'table' AND name IN ('files', 'events')", 0), 2);
	/* the content-hash index that enforces exactly-once */
	assert_int_equal(h_int(h, "SELECT count(*) FROM sqlite_master WHERE"
	    " type = 'index' AND tbl_name = 'files' AND sql LIKE"
	    " '%UNIQUE%sha256%'", 0), 1);
	sqlite3_close(h);
}

static void
test_reopen_keeps_data_and_does_not_remigrate(void **state)
{
	struct fx *fx = *state;
	struct file_rec r;
	int64_t id, cookie;
	char *err = NULL;

	id = add_ingested(fx, "orders.csv", SHA_A, ST_MANIFESTED);
	cookie = raw_int(fx, "PRAGMA schema_version", 0);
	db_close(fx->db);

	fx->db = db_open(fx->path, 0, &err);
	assert_null(err);
	assert_non_null(fx->db);
	/* no DDL ran: the schema cookie did not move */
	assert_int_equal(raw_int(fx, "PRAGMA schema_version", 0), cookie);
	assert_int_equal(raw_int(fx, "SELECT count(*) FROM schema_version",
	    0), 1);
	assert_int_equal(raw_int(fx, "SELECT version FROM schema_version", 0),
	    DB_SCHEMA_VERSION);

	assert_int_equal(db_file_get(fx->db, id, &r), 0);
	assert_int_equal(r.state, ST_MANIFESTED);
	assert_string_equal(r.sha256, SHA_A);
	assert_string_equal(r.dest, "/srv/warehouse/orders.csv");
	file_rec_free(&r);
	/* and exactly-once still holds across the restart */
	id = add_file(fx, WATCH, "again.csv", ST_QUEUED);
	assert_int_equal(db_file_set_hashed(fx->db, id, SHA_A, XXH_A,
	    "/srv/warehouse/again.csv"), -1);
}

/*
 * Close the database, change it by hand with sql, and check that opening
 * it again fails with a message naming both want1 and want2, and leaves
 * the schema at version.
 */
static void
assert_open_refused(struct fx *fx, const char *sql, const char *want1,
    const char *want2, int64_t version)
{
	char *err = NULL;

	db_close(fx->db);
	fx->db = NULL;
	raw_exec(fx, sql);
	fx->db = db_open(fx->path, 0, &err);
	assert_null(fx->db);
	assert_non_null(err);
	assert_non_null(strstr(err, want1));
	assert_non_null(strstr(err, want2));
	free(err);
	assert_int_equal(raw_int(fx, "SELECT version FROM schema_version", 0),
	    version);
}

static void
test_newer_schema_version_is_refused(void **state)
{
	assert_open_refused(*state, "UPDATE schema_version SET version = 99",
	    "99", "newer", 99);
}

static void
test_insert_records_discovered_and_queued_events(void **state)
{
	struct fx *fx = *state;
	struct file_rec r, g;
	int64_t id;
	char *at;

	memset(&r, 0, sizeof(r));
	r.watch = WATCH;
	r.source_path = "/srv/staging/incoming/sub/orders.csv";
	r.relpath = "sub/orders.csv";
	r.device = 2049;
	r.inode = 1234567;
	r.size = 987654;
	r.mtime_ns = 1763780645000000001LL;
	r.ctime_ns = 1763780645000000002LL;
	r.state = ST_QUEUED;
	assert_int_equal(db_file_insert(fx->db, &r, T0_NS, "stable 10s"), 0);
	assert_true(r.id > 0);

	assert_trail(fx, r.id, 1, "DISCOVERED,QUEUED:stable 10s");
	/* the DISCOVERED event is dated at discovery */
	{
		sqlite3 *h = raw_open(fx);

		at = h_text(h, "SELECT at FROM events WHERE file_id = ?1"
		    " ORDER BY id LIMIT 1", r.id);
		sqlite3_close(h);
	}
	assert_string_equal(at, T0_ISO);
	free(at);

	assert_int_equal(db_file_get(fx->db, r.id, &g), 0);
	assert_int_equal(g.id, r.id);
	assert_string_equal(g.watch, WATCH);
	assert_string_equal(g.source_path, r.source_path);
	assert_string_equal(g.relpath, r.relpath);
	assert_int_equal(g.device, 2049);
	assert_int_equal(g.inode, 1234567);
	assert_int_equal(g.size, 987654);
	assert_int_equal(g.mtime_ns, r.mtime_ns);
	assert_int_equal(g.ctime_ns, r.ctime_ns);
	assert_int_equal(g.state, ST_QUEUED);
	assert_int_equal(g.attempts, 0);
	assert_string_equal(g.sha256, "");
	assert_string_equal(g.xxh128, "");
	assert_null(g.dest);
	assert_null(g.manifest);
	assert_null(g.last_error);
	assert_int_equal(g.duplicate_of, 0);
	assert_int_equal(g.source_removed, 0);
	assert_string_equal(g.ingested_at, "");
	file_rec_free(&g);

	/* the source changed under us before processing: new identity */
	assert_int_equal(db_file_set_stat(fx->db, r.id, 2050, 7654321, 1000,
	    r.mtime_ns + 5, r.ctime_ns + 5), 0);
	assert_int_equal(db_file_get(fx->db, r.id, &g), 0);
	assert_int_equal(g.device, 2050);
	assert_int_equal(g.inode, 7654321);
	assert_int_equal(g.size, 1000);
	assert_int_equal(g.mtime_ns, r.mtime_ns + 5);
	assert_int_equal(g.ctime_ns, r.ctime_ns + 5);
	assert_int_equal(g.state, ST_QUEUED);
	file_rec_free(&g);

	/* a file not yet complete has only its DISCOVERED event */
	id = add_file(fx, WATCH, "slow.csv", ST_DISCOVERED);
	assert_trail(fx, id, 0, "DISCOVERED");
	assert_int_equal(get_state(fx, id), ST_DISCOVERED);

	/* a file refused on sight keeps its reason */
	r.source_path = "/srv/staging/incoming/fifo";
	r.relpath = "fifo";
	r.state = ST_REJECTED;
	assert_int_equal(db_file_insert(fx->db, &r, T0_NS, "not a regular file"),
	    0);
	assert_trail(fx, r.id, 1, "DISCOVERED,REJECTED:not a regular file");
	assert_int_equal(db_file_get(fx->db, r.id, &g), 0);
	assert_int_equal(g.state, ST_REJECTED);
	assert_string_equal(g.last_error, "not a regular file");
	file_rec_free(&g);
}

static void
test_every_state_change_is_an_event(void **state)
{
	struct fx *fx = *state;
	struct file_rec r;
	int64_t id;

	id = add_file(fx, WATCH, "orders.csv", ST_QUEUED);
	assert_int_equal(event_count(fx, id), 2);
	assert_int_equal(db_file_set_processing(fx->db, id, 1), 0);
	assert_int_equal(event_count(fx, id), 3);
	assert_int_equal(db_file_set_hashed(fx->db, id, SHA_A, XXH_A,
	    "/srv/warehouse/ingest_date=2026-11-22/orders.csv"), 0);
	assert_int_equal(event_count(fx, id), 4);
	assert_int_equal(db_file_get(fx->db, id, &r), 0);
	assert_int_equal(r.state, ST_HASHED);
	assert_string_equal(r.sha256, SHA_A);
	assert_string_equal(r.xxh128, XXH_A);
	assert_string_equal(r.dest,
	    "/srv/warehouse/ingest_date=2026-11-22/orders.csv");
	assert_string_equal(r.ingested_at, "");
	file_rec_free(&r);

	assert_int_equal(db_file_set_moved(fx->db, id,
	    "/srv/warehouse/ingest_date=2026-11-22/orders.csv",
	    "/srv/manifests/2026/11/22/03/manifest.jsonl", T0_ISO, 1), 0);
	assert_int_equal(event_count(fx, id), 5);
	assert_int_equal(db_file_set_state(fx->db, id, ST_MANIFESTED,
	    "line 7"), 0);
	assert_int_equal(event_count(fx, id), 6);
	assert_trail(fx, id, 0,
	    "DISCOVERED,QUEUED,PROCESSING,HASHED,MOVED,MANIFESTED");

	assert_int_equal(db_file_get(fx->db, id, &r), 0);
	assert_int_equal(r.state, ST_MANIFESTED);
	assert_int_equal(r.attempts, 1);
	assert_string_equal(r.dest,
	    "/srv/warehouse/ingest_date=2026-11-22/orders.csv");
	assert_string_equal(r.manifest,
	    "/srv/manifests/2026/11/22/03/manifest.jsonl");
	assert_string_equal(r.ingested_at, T0_ISO);
	assert_int_equal(r.source_removed, 1);
	assert_string_equal(r.sha256, SHA_A);
	file_rec_free(&r);
	/* files.state is the same name the events use */
	assert_int_equal(raw_int(fx, "SELECT count(*) FROM files WHERE id = ?1"
	    " AND state = 'MANIFESTED'", id), 1);

	/* the failure path: RETRY_PENDING, PROCESSING again, FAILED */
	id = add_file(fx, WATCH, "broken.csv", ST_QUEUED);
	assert_int_equal(db_file_set_processing(fx->db, id, 1), 0);
	assert_int_equal(db_file_set_error(fx->db, id, ST_RETRY_PENDING, 1,
	    "worker crashed"), 0);
	assert_int_equal(get_state(fx, id), ST_RETRY_PENDING);
	assert_int_equal(db_file_set_processing(fx->db, id, 2), 0);
	assert_int_equal(db_file_set_error(fx->db, id, ST_FAILED, 2,
	    "read error: EIO"), 0);
	assert_trail(fx, id, 1, "DISCOVERED,QUEUED,PROCESSING:attempt 1,"
	    "RETRY_PENDING:worker crashed,PROCESSING:attempt 2,"
	    "FAILED:read error: EIO");
	assert_int_equal(db_file_get(fx->db, id, &r), 0);
	assert_int_equal(r.state, ST_FAILED);
	assert_int_equal(r.attempts, 2);
	assert_string_equal(r.last_error, "read error: EIO");
	file_rec_free(&r);
	/* ingestctl retry re-queues it */
	assert_int_equal(db_file_set_state(fx->db, id, ST_QUEUED, "retry"), 0);
	assert_int_equal(event_count(fx, id), 7);
	assert_int_equal(get_state(fx, id), ST_QUEUED);
}

static void
test_state_names_round_trip(void **state)
{
	static const char *names[] = {
		"DISCOVERED", "QUEUED", "PROCESSING", "HASHED", "MOVED",
		"MANIFESTED", "SKIPPED_DUPLICATE", "REJECTED", "RETRY_PENDING",
		"FAILED",
	};
	struct fx *fx = *state;
	char quoted[32];
	int64_t id;
	int i, n = 0;

	assert_int_equal(ST_END, 10);
	for (i = 0; i < ST_END; i++) {
		assert_string_equal(state_name(i), names[i]);
		assert_int_equal(state_parse(names[i]), i);
		n += state_is_terminal(i) ? 1 : 0;
		/* the SQL list the counts and queries use says the same */
		snprintf(quoted, sizeof(quoted), "'%s'", names[i]);
		assert_int_equal(strstr(DB_TERMINAL_SQL, quoted) != NULL,
		    state_is_terminal(i));
		assert_int_equal(strstr(DB_UNFINISHED_SQL, quoted) != NULL,
		    !state_is_terminal(i));
	}
	assert_int_equal(n, 4);
	assert_true(state_is_terminal(ST_MANIFESTED));
	assert_true(state_is_terminal(ST_SKIPPED_DUPLICATE));
	assert_true(state_is_terminal(ST_REJECTED));
	assert_true(state_is_terminal(ST_FAILED));
	assert_false(state_is_terminal(ST_RETRY_PENDING));
	assert_false(state_is_terminal(ST_MOVED));

	assert_int_equal(state_parse("BOGUS"), -1);
	assert_int_equal(state_parse(""), -1);
	assert_int_equal(state_parse("queued"), -1);
	assert_int_equal(state_parse("QUEUED "), -1);
	assert_int_equal(state_parse("QUEUE"), -1);
	assert_non_null(state_name(-1));
	assert_int_equal(state_parse(state_name(-1)), -1);
	assert_int_equal(state_parse(state_name(ST_END)), -1);

	/* the database accepts every name and reads it back */
	id = add_file(fx, WATCH, "walk.csv", ST_DISCOVERED);
	for (i = 0; i < ST_END; i++) {
		assert_int_equal(db_file_set_state(fx->db, id, i, NULL), 0);
		assert_int_equal(get_state(fx, id), i);
	}
}

static void
test_content_hash_is_unique_among_ingested_files(void **state)
{
	struct fx *fx = *state;
	struct file_rec r;
	int64_t a, b, dup, failed;

	/* a FAILED row keeps its hash but does not hold the content */
	failed = add_file(fx, WATCH, "failed.csv", ST_QUEUED);
	assert_int_equal(db_file_set_hashed(fx->db, failed, SHA_A, XXH_A,
	    "/srv/warehouse/failed.csv"), 0);
	assert_int_equal(db_file_set_error(fx->db, failed, ST_FAILED, 5,
	    "link failed"), 0);

	a = add_ingested(fx, "orders.csv", SHA_A, ST_HASHED);
	b = add_file(fx, WATCH, "orders-copy.csv", ST_QUEUED);
	assert_int_equal(db_file_set_processing(fx->db, b, 1), 0);

	/* HASHED holds the content */
	assert_int_equal(db_file_set_hashed(fx->db, b, SHA_A, XXH_A,
	    "/srv/warehouse/orders-copy.csv"), -1);
	assert_int_equal(db_file_get(fx->db, b, &r), 0);
	assert_int_equal(r.state, ST_PROCESSING);
	assert_string_equal(r.sha256, "");
	assert_null(r.dest);
	file_rec_free(&r);

	/* so do MOVED and MANIFESTED */
	assert_int_equal(db_file_set_moved(fx->db, a, "/srv/warehouse/orders.csv",
	    "/srv/manifests/m.jsonl", T0_ISO, 0), 0);
	assert_int_equal(db_file_set_hashed(fx->db, b, SHA_A, XXH_A, NULL), -1);
	assert_int_equal(db_file_set_state(fx->db, a, ST_MANIFESTED, NULL), 0);
	assert_int_equal(db_file_set_hashed(fx->db, b, SHA_A, XXH_A, NULL), -1);
	assert_int_equal(get_state(fx, b), ST_PROCESSING);

	/* a SKIPPED_DUPLICATE row with the same hash is fine */
	assert_int_equal(db_file_set_duplicate(fx->db, b, SHA_A, XXH_A, a), 0);
	dup = add_file(fx, WATCH, "third.csv", ST_QUEUED);
	assert_int_equal(db_file_set_duplicate(fx->db, dup, SHA_A, XXH_A, a), 0);
	assert_int_equal(raw_int(fx, "SELECT count(*) FROM files WHERE"
	    " sha256 = '" SHA_A "'", 0), 4);

	/* the FAILED row cannot come back to HASHED while a holds it */
	assert_int_equal(db_file_set_state(fx->db, failed, ST_HASHED, NULL), -1);
	assert_int_equal(get_state(fx, failed), ST_FAILED);

	/* other content is independent */
	assert_int_equal(db_file_set_state(fx->db, failed, ST_QUEUED, NULL), 0);
	assert_int_equal(db_file_set_hashed(fx->db, failed, SHA_B, XXH_B,
	    "/srv/warehouse/failed.csv"), 0);
}

static void
test_find_content_ignores_self_and_non_ingested_rows(void **state)
{
	struct fx *fx = *state;
	int64_t a, b, f, id;
	char *dest;

	a = add_ingested(fx, "orders.csv", SHA_A, ST_HASHED);

	id = -7;
	dest = NULL;
	assert_int_equal(db_find_content(fx->db, SHA_A, a, &id, &dest), 0);
	assert_null(dest);
	assert_int_equal(db_find_content(fx->db, SHA_A, 0, &id, &dest), 1);
	assert_int_equal(id, a);
	assert_string_equal(dest, "/srv/warehouse/orders.csv");
	free(dest);
	dest = NULL;
	/* a name collision moves the destination; lookups follow it */
	assert_int_equal(db_file_set_dest(fx->db, a,
	    "/srv/warehouse/orders~aaaaaaaaaaaa.csv"), 0);
	assert_int_equal(get_state(fx, a), ST_HASHED);
	assert_int_equal(db_find_content(fx->db, SHA_A, 0, &id, &dest), 1);
	assert_string_equal(dest, "/srv/warehouse/orders~aaaaaaaaaaaa.csv");
	free(dest);
	dest = NULL;

	/* duplicates and failures never count as holding the content */
	b = add_file(fx, WATCH, "copy.csv", ST_QUEUED);
	assert_int_equal(db_file_set_duplicate(fx->db, b, SHA_A, XXH_A, a), 0);
	assert_int_equal(db_find_content(fx->db, SHA_A, a, &id, &dest), 0);
	f = add_file(fx, WATCH, "failed.csv", ST_QUEUED);
	assert_int_equal(db_file_set_hashed(fx->db, f, SHA_B, XXH_B, NULL), 0);
	assert_int_equal(db_file_set_error(fx->db, f, ST_FAILED, 5, "x"), 0);
	assert_int_equal(db_find_content(fx->db, SHA_B, 0, &id, &dest), 0);
	assert_int_equal(db_find_content(fx->db,
	    SHA_C,
	    0, &id, &dest), 0);
	assert_null(dest);

	/* MOVED and MANIFESTED hold it, with the published destination */
	assert_int_equal(db_file_set_moved(fx->db, a,
	    "/srv/warehouse/orders~aaaaaaaaaaaa.csv", "/srv/m.jsonl", T0_ISO, 0),
	    0);
	assert_int_equal(db_find_content(fx->db, SHA_A, b, &id, &dest), 1);
	assert_int_equal(id, a);
	assert_string_equal(dest, "/srv/warehouse/orders~aaaaaaaaaaaa.csv");
	free(dest);
	dest = NULL;
	assert_int_equal(db_file_set_state(fx->db, a, ST_MANIFESTED, NULL), 0);
	assert_int_equal(db_find_content(fx->db, SHA_A, b, &id, &dest), 1);
	assert_int_equal(id, a);
	free(dest);
}

static void
test_duplicate_points_at_original(void **state)
{
	struct fx *fx = *state;
	struct file_rec r;
	int64_t a, b, c;
	char want[128];

	a = add_ingested(fx, "orders.csv", SHA_A, ST_MANIFESTED);
	b = add_file(fx, WATCH, "orders-again.csv", ST_QUEUED);
	assert_int_equal(db_file_set_processing(fx->db, b, 1), 0);
	assert_int_equal(db_file_set_duplicate(fx->db, b, SHA_A, XXH_A, a), 0);

	assert_int_equal(db_file_get(fx->db, b, &r), 0);
	assert_int_equal(r.state, ST_SKIPPED_DUPLICATE);
	assert_int_equal(r.duplicate_of, a);
	assert_string_equal(r.sha256, SHA_A);
	assert_string_equal(r.xxh128, XXH_A);
	assert_null(r.dest);
	file_rec_free(&r);
	snprintf(want, sizeof(want), "DISCOVERED,QUEUED,PROCESSING:attempt 1,"
	    "SKIPPED_DUPLICATE:duplicate of %lld", (long long)a);
	assert_trail(fx, b, 1, want);

	/* the original is untouched */
	assert_int_equal(db_file_get(fx->db, a, &r), 0);
	assert_int_equal(r.state, ST_MANIFESTED);
	assert_int_equal(r.duplicate_of, 0);
	file_rec_free(&r);

	/* it must point at a row that exists */
	c = add_file(fx, WATCH, "dangling.csv", ST_QUEUED);
	assert_int_equal(db_file_set_duplicate(fx->db, c, SHA_A, XXH_A,
	    a + 1000), -1);
	assert_int_equal(get_state(fx, c), ST_QUEUED);
}

struct seen {
	const char	*watch;
	int64_t		 ids[32];
	int		 n;
	int		 stop_after;
};

static int
collect(struct file_rec *r, void *arg)
{
	struct seen *s = arg;

	assert_true(s->n < 32);
	assert_string_equal(r->watch, s->watch);
	assert_non_null(r->source_path);
	s->ids[s->n++] = r->id;
	if (s->stop_after > 0 && s->n == s->stop_after)
		return -1;
	return 0;
}

static void
test_unfinished_rows_are_listed_for_recovery(void **state)
{
	struct fx *fx = *state;
	struct seen s;
	int64_t want[16];
	int64_t id;
	int n = 0, i;

	/* non-terminal rows: listed whatever source_removed says */
	want[n++] = add_file(fx, WATCH, "d.csv", ST_DISCOVERED);
	want[n++] = add_file(fx, WATCH, "q.csv", ST_QUEUED);
	id = add_file(fx, WATCH, "p.csv", ST_QUEUED);
	assert_int_equal(db_file_set_processing(fx->db, id, 1), 0);
	want[n++] = id;
	want[n++] = add_ingested(fx, "h.csv", SHA_A, ST_HASHED);
	want[n++] = add_ingested(fx, "m.csv", SHA_B, ST_MOVED);	/* removed=1 */
	id = add_file(fx, WATCH, "r.csv", ST_QUEUED);
	assert_int_equal(db_file_set_error(fx->db, id, ST_RETRY_PENDING, 1,
	    "x"), 0);
	want[n++] = id;

	/* terminal with the source maybe still in staging: listed */
	id = add_file(fx, WATCH, "mf0.csv", ST_QUEUED);
	assert_int_equal(db_file_set_hashed(fx->db, id,
	    SHA_C,
	    XXH_A, "/w/mf0.csv"), 0);
	assert_int_equal(db_file_set_moved(fx->db, id, "/w/mf0.csv", "/m",
	    T0_ISO, 0), 0);
	assert_int_equal(db_file_set_state(fx->db, id, ST_MANIFESTED, NULL), 0);
	want[n++] = id;
	id = add_file(fx, WATCH, "dup0.csv", ST_QUEUED);
	assert_int_equal(db_file_set_duplicate(fx->db, id, SHA_A, XXH_A,
	    want[3]), 0);
	want[n++] = id;
	want[n++] = add_file(fx, WATCH, "rej0", ST_REJECTED);
	id = add_file(fx, WATCH, "fail0.csv", ST_QUEUED);
	assert_int_equal(db_file_set_error(fx->db, id, ST_FAILED, 5, "x"), 0);
	want[n++] = id;

	/* terminal and the source is gone: done */
	add_ingested(fx, "mf1.csv",
	    "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
	    ST_MANIFESTED);
	id = add_file(fx, WATCH, "dup1.csv", ST_QUEUED);
	assert_int_equal(db_file_set_duplicate(fx->db, id, SHA_A, XXH_A,
	    want[3]), 0);
	assert_int_equal(db_file_set_source_removed(fx->db, id), 0);
	id = add_file(fx, WATCH, "rej1", ST_REJECTED);
	assert_int_equal(db_file_set_source_removed(fx->db, id), 0);
	id = add_file(fx, WATCH, "fail1.csv", ST_QUEUED);
	assert_int_equal(db_file_set_error(fx->db, id, ST_FAILED, 5, "x"), 0);
	assert_int_equal(db_file_set_source_removed(fx->db, id), 0);

	/* another watch's rows are not this watch's business */
	add_file(fx, "other", "q.csv", ST_QUEUED);

	memset(&s, 0, sizeof(s));
	s.watch = WATCH;
	assert_int_equal(db_foreach_unfinished(fx->db, WATCH, collect, &s), 0);
	assert_int_equal(s.n, n);
	for (i = 0; i < n; i++)
		assert_int_equal(s.ids[i], want[i]);

	/* the callback can stop the walk */
	memset(&s, 0, sizeof(s));
	s.watch = WATCH;
	s.stop_after = 2;
	assert_int_equal(db_foreach_unfinished(fx->db, WATCH, collect, &s), -1);
	assert_int_equal(s.n, 2);
	/* and the statement is reusable afterwards */
	memset(&s, 0, sizeof(s));
	s.watch = "other";
	assert_int_equal(db_foreach_unfinished(fx->db, "other", collect, &s), 0);
	assert_int_equal(s.n, 1);
}

static void	assert_counts_match(struct fx *);

static void
test_setter_is_atomic(void **state)
{
	struct fx *fx = *state;
	struct file_rec r;
	int64_t id, other, events, oevents;

	id = add_file(fx, WATCH, "orders.csv", ST_QUEUED);
	assert_int_equal(db_file_set_processing(fx->db, id, 1), 0);
	events = event_count(fx, id);

	/* the files UPDATE succeeds, then the events INSERT fails */
	raw_exec(fx, "CREATE TRIGGER fail_hashed BEFORE INSERT ON events"
	    " WHEN NEW.state = 'HASHED' BEGIN SELECT RAISE(ABORT, 'x'); END;");
	assert_int_equal(db_file_set_hashed(fx->db, id, SHA_A, XXH_A,
	    "/srv/warehouse/orders.csv"), -1);
	assert_int_equal(db_file_get(fx->db, id, &r), 0);
	assert_int_equal(r.state, ST_PROCESSING);
	assert_string_equal(r.sha256, "");
	assert_string_equal(r.xxh128, "");
	assert_null(r.dest);
	file_rec_free(&r);
	assert_int_equal(event_count(fx, id), events);
	/* and the half-done change did not claim the content */
	other = add_file(fx, WATCH, "other.csv", ST_QUEUED);
	assert_int_equal(db_find_content(fx->db, SHA_A, other, &r.id, &r.dest),
	    0);

	/*
	 * inside a batch a failed setter fails the batch: the setters after
	 * it refuse, and the commit rolls all of it back
	 */
	oevents = event_count(fx, other);
	assert_int_equal(db_begin(fx->db), 0);
	assert_int_equal(db_file_set_processing(fx->db, other, 1), 0);
	assert_int_equal(db_file_set_hashed(fx->db, other, SHA_B, XXH_B, NULL),
	    -1);
	assert_int_equal(db_file_set_state(fx->db, other, ST_FAILED, "x"), -1);
	assert_int_equal(db_commit(fx->db), -1);
	assert_int_equal(db_file_get(fx->db, other, &r), 0);
	assert_int_equal(r.state, ST_QUEUED);
	assert_int_equal(r.attempts, 0);
	assert_string_equal(r.sha256, "");
	file_rec_free(&r);
	assert_int_equal(event_count(fx, other), oevents);
	assert_counts_match(fx);
	/* and the next batch starts clean */
	assert_int_equal(db_begin(fx->db), 0);
	assert_int_equal(db_file_set_processing(fx->db, other, 1), 0);
	assert_int_equal(db_commit(fx->db), 0);
	assert_int_equal(get_state(fx, other), ST_PROCESSING);

	/* nothing is left open: the next setter works once the cause is gone */
	raw_exec(fx, "DROP TRIGGER fail_hashed");
	assert_int_equal(db_file_set_hashed(fx->db, id, SHA_A, XXH_A,
	    "/srv/warehouse/orders.csv"), 0);
	assert_int_equal(get_state(fx, id), ST_HASHED);
	assert_int_equal(event_count(fx, id), events + 1);
	/* and another connection can write, so no transaction was leaked */
	raw_exec(fx, "CREATE TABLE probe (x); DROP TABLE probe;");
}

static void
test_batch_rollback_discards_changes(void **state)
{
	struct fx *fx = *state;
	struct file_rec r;
	int64_t id, events;

	id = add_file(fx, WATCH, "orders.csv", ST_QUEUED);
	events = event_count(fx, id);

	assert_int_equal(db_begin(fx->db), 0);
	assert_int_equal(db_file_set_processing(fx->db, id, 1), 0);
	assert_int_equal(db_file_set_hashed(fx->db, id, SHA_A, XXH_A,
	    "/srv/warehouse/orders.csv"), 0);
	memset(&r, 0, sizeof(r));
	r.watch = WATCH;
	r.source_path = "/srv/staging/incoming/new.csv";
	r.relpath = "new.csv";
	r.state = ST_QUEUED;
	assert_int_equal(db_file_insert(fx->db, &r, T0_NS, NULL), 0);
	assert_int_equal(db_rollback(fx->db), 0);

	assert_int_equal(db_file_get(fx->db, id, &r), 0);
	assert_int_equal(r.state, ST_QUEUED);
	assert_int_equal(r.attempts, 0);
	assert_string_equal(r.sha256, "");
	assert_null(r.dest);
	file_rec_free(&r);
	assert_int_equal(event_count(fx, id), events);
	assert_int_equal(raw_int(fx, "SELECT count(*) FROM files", 0), 1);
	assert_int_equal(raw_int(fx, "SELECT count(*) FROM events", 0), events);

	/* the same batch committed is all there */
	assert_int_equal(db_begin(fx->db), 0);
	assert_int_equal(db_file_set_processing(fx->db, id, 1), 0);
	assert_int_equal(db_file_set_hashed(fx->db, id, SHA_A, XXH_A,
	    "/srv/warehouse/orders.csv"), 0);
	assert_int_equal(db_commit(fx->db), 0);
	assert_int_equal(get_state(fx, id), ST_HASHED);
	assert_int_equal(event_count(fx, id), events + 2);
}

/* file_counts equals counting the files table, per watch and state. */
static void
assert_counts_match(struct fx *fx)
{
	int64_t counts[ST_END];
	int i;

	/* the terminal states' counts are kept, the others counted */
	assert_int_equal(raw_int(fx, "SELECT count(*) FROM ("
	    " SELECT watch, state, count(*) AS n, sum(size) AS b FROM files"
	    "  WHERE state IN (" DB_TERMINAL_SQL ") GROUP BY watch, state"
	    " EXCEPT SELECT watch, state, files, bytes FROM file_counts"
	    "  WHERE files != 0)", 0), 0);
	assert_int_equal(raw_int(fx, "SELECT count(*) FROM file_counts"
	    " WHERE files != 0", 0), raw_int(fx, "SELECT count(*) FROM"
	    " (SELECT DISTINCT watch, state FROM files WHERE state IN ("
	    DB_TERMINAL_SQL "))", 0));
	assert_int_equal(db_count_states(fx->db, counts), 0);
	for (i = 0; i < ST_END; i++) {
		char sql[128];

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM files"
		    " WHERE state = '%s'", state_name(i));
		assert_int_equal(counts[i], raw_int(fx, sql, 0));
	}
}

static void
test_state_counts_follow_every_change(void **state)
{
	struct fx *fx = *state;
	char sql[128];
	int64_t a, b, c, d;

	assert_counts_match(fx);
	a = add_ingested(fx, "a.csv", SHA_A, ST_MANIFESTED);
	b = add_file(fx, WATCH, "b.csv", ST_QUEUED);
	c = add_file(fx, "other", "c.csv", ST_DISCOVERED);
	assert_counts_match(fx);
	assert_int_equal(db_file_set_processing(fx->db, b, 1), 0);
	assert_int_equal(db_file_set_duplicate(fx->db, b, SHA_A, XXH_A, a), 0);
	assert_int_equal(db_file_set_stat(fx->db, c, 1, 2, 4242, 0, 0), 0);
	assert_int_equal(db_file_set_error(fx->db, c, ST_RETRY_PENDING, 1,
	    "EIO"), 0);
	assert_counts_match(fx);
	assert_int_equal(db_file_set_error(fx->db, c, ST_FAILED, 2, "EIO"), 0);
	assert_counts_match(fx);
	assert_int_equal(raw_int(fx, "SELECT bytes FROM file_counts"
	    " WHERE watch = 'other' AND state = 'FAILED'", 0), 4242);
	/* failing again in the same state is not a second file */
	assert_int_equal(db_file_set_error(fx->db, c, ST_FAILED, 3, "EIO"), 0);
	assert_counts_match(fx);
	/* a retry takes it out of FAILED again */
	assert_int_equal(db_file_set_state(fx->db, c, ST_QUEUED, NULL), 0);
	assert_counts_match(fx);
	assert_int_equal(db_file_set_error(fx->db, c, ST_FAILED, 4, "EIO"), 0);
	assert_int_equal(db_file_set_processing(fx->db, c, 5), 0);
	assert_counts_match(fx);
	assert_int_equal(db_file_set_error(fx->db, c, ST_FAILED, 5, "EIO"), 0);
	/* a terminal row whose size changes moves its bytes */
	assert_int_equal(db_file_set_stat(fx->db, c, 1, 3, 99, 0, 0), 0);
	assert_counts_match(fx);
	assert_int_equal(raw_int(fx, "SELECT bytes FROM file_counts"
	    " WHERE watch = 'other' AND state = 'FAILED'", 0), 99);
	/* a terminal row taken straight on by every other setter */
	assert_int_equal(db_file_set_hashed(fx->db, c, SHA_B, XXH_B,
	    "c.csv"), 0);
	assert_counts_match(fx);
	assert_int_equal(db_file_set_state(fx->db, c, ST_MANIFESTED, NULL), 0);
	assert_int_equal(db_file_set_moved(fx->db, c, "c.csv", "m.jsonl",
	    "2026-11-30T00:00:00Z", 0), 0);
	assert_counts_match(fx);
	assert_int_equal(db_file_set_state(fx->db, c, ST_REJECTED, NULL), 0);
	assert_int_equal(db_file_set_duplicate(fx->db, c, SHA_A, XXH_A, a), 0);
	assert_counts_match(fx);
	assert_int_equal(db_file_set_error(fx->db, c, ST_FAILED, 5, "EIO"), 0);
	assert_counts_match(fx);
	/* inserted terminal (a rejected FIFO); an ingested file requeued */
	add_file(fx, WATCH, "pipe.fifo", ST_REJECTED);
	assert_int_equal(db_file_set_state(fx->db, a, ST_QUEUED, NULL), 0);
	assert_counts_match(fx);
	assert_int_equal(db_file_set_state(fx->db, a, ST_HASHED, NULL), 0);
	assert_int_equal(db_file_set_state(fx->db, a, ST_MANIFESTED, NULL), 0);
	assert_counts_match(fx);

	/* a rolled-back batch leaves the counts as they were */
	assert_int_equal(db_begin(fx->db), 0);
	d = add_file(fx, WATCH, "d.csv", ST_QUEUED);
	assert_int_equal(db_file_set_state(fx->db, a, ST_FAILED, NULL), 0);
	assert_int_equal(db_rollback(fx->db), 0);
	assert_counts_match(fx);
	assert_int_equal(raw_int(fx, "SELECT count(*) FROM files WHERE"
	    " id = ?", d), 0);

	/* rows removed by hand (an operator's DELETE) leave the counts too */
	snprintf(sql, sizeof(sql), "DELETE FROM events WHERE file_id = %lld;"
	    " DELETE FROM files WHERE id = %lld", (long long)c, (long long)c);
	raw_exec(fx, sql);
	assert_counts_match(fx);
}

/*
 * Turn the database back into schema 5: the old sha256 indexes, no
 * holder.  The tests of older migrations start from here.
 */
#define SCHEMA_5_SQL \
	"DROP INDEX files_content; ALTER TABLE files DROP COLUMN holder;"	\
	" CREATE UNIQUE INDEX files_content ON files(sha256) WHERE"	\
	" (state = 'HASHED' OR state = 'MOVED' OR state = 'MANIFESTED');"	\
	" CREATE INDEX files_sha256 ON files(sha256);"			\
	" UPDATE schema_version SET version = 5;"

/* Open the database again: it migrates to the current schema. */
static void
reopen_migrated(struct fx *fx)
{
	char *err = NULL;

	last_opened = NULL;
	fx->db = db_open(fx->path, 0, &err);
	fx->h = last_opened;
	assert_null(err);
	assert_non_null(fx->db);
	assert_int_equal(raw_int(fx, "SELECT version FROM schema_version", 0),
	    DB_SCHEMA_VERSION);
}

static void
test_upgrade_to_counts_counts_existing_rows(void **state)
{
	struct fx *fx = *state;

	add_ingested(fx, "a.csv", SHA_A, ST_MANIFESTED);
	add_ingested(fx, "b.csv", SHA_B, ST_MOVED);
	add_file(fx, "other", "c.csv", ST_QUEUED);
	db_close(fx->db);
	/* the database as schema 3 left it */
	raw_exec(fx, SCHEMA_5_SQL
	    " DROP TRIGGER file_counts_delete; DROP TABLE file_counts;"
	    " CREATE INDEX files_state ON files(state);"
	    " UPDATE schema_version SET version = 3");
	reopen_migrated(fx);
	assert_int_equal(raw_int(fx, "SELECT sum(files) FROM file_counts", 0),
	    1);
	assert_counts_match(fx);
	/* and the triggers keep them from then on */
	add_file(fx, WATCH, "d.csv", ST_QUEUED);
	assert_counts_match(fx);
}

/*
 * How many instructions `opcode` (with p2 == p2, unless p2 is -1) the
 * program of sql on h has.
 */
static int
explain_count(sqlite3 *h, const char *sql, const char *opcode, int64_t p2)
{
	sqlite3_stmt *st;
	char explain[1024];
	int n = 0;

	assert_true((size_t)snprintf(explain, sizeof(explain), "EXPLAIN %s",
	    sql) < sizeof(explain));
	assert_int_equal(sqlite3_prepare_v2(h, explain, -1, &st, NULL),
	    SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW)
		if (strcmp((const char *)sqlite3_column_text(st, 1),
		    opcode) == 0 && (p2 == -1 ||
		    sqlite3_column_int64(st, 3) == p2))
			n++;
	sqlite3_finalize(st);
	return n;
}

/* How many temporary tables (OpenEphemeral) one run of sql builds on h. */
static int
ephemeral_tables(sqlite3 *h, const char *sql)
{
	return explain_count(h, sql, "OpenEphemeral", -1);
}

#define UPDATE_STATE_SQL \
	"UPDATE files SET state = 'QUEUED', updated_at = 'x' WHERE id = 1"
#define INSERT_FILE_SQL \
	"INSERT INTO files (watch, source_path, relpath, device, inode, size," \
	" mtime_ns, ctime_ns, state, discovered_at, updated_at) VALUES ('w'," \
	" '/s/x', 'x', 1, 2, 3, 4, 5, 'DISCOVERED', 'x', 'x')"

/*
 * The state tests run on every row change (the CHECK, the partial unique
 * index): a temporary table per test would cost about a third of the
 * master's work per file.  On db.c's own connection and on a new one.
 */
static void
assert_state_changes_build_no_temporary_tables(struct fx *fx, sqlite3 *own)
{
	sqlite3 *h = raw_open(fx);
	sqlite3 *hs[2] = { own, h };
	int i, rc;

	for (i = 0; i < 2; i++) {
		assert_int_equal(ephemeral_tables(hs[i], UPDATE_STATE_SQL), 0);
		assert_int_equal(ephemeral_tables(hs[i], INSERT_FILE_SQL), 0);
	}
	/* and the CHECK still refuses a state that does not exist */
	rc = sqlite3_exec(h, "UPDATE files SET state = 'LOST'", NULL, NULL,
	    NULL);
	assert_int_equal(rc, SQLITE_CONSTRAINT);
	assert_int_equal(sqlite3_extended_errcode(h), SQLITE_CONSTRAINT_CHECK);
	sqlite3_close(h);
}

static void
test_state_changes_build_no_temporary_tables(void **state)
{
	struct fx *fx = *state;

	add_file(fx, WATCH, "a.csv", ST_QUEUED);
	assert_state_changes_build_no_temporary_tables(fx, fx->h);
}

static void
test_upgrade_to_5_rewrites_the_state_tests(void **state)
{
	struct fx *fx = *state;
	char *sql;
	int64_t a;

	a = add_ingested(fx, "a.csv", SHA_A, ST_MANIFESTED);
	add_file(fx, WATCH, "b.csv", ST_QUEUED);
	db_close(fx->db);
	/* the database as schema 4 left it: IN lists in the CHECK and index */
	raw_exec(fx, SCHEMA_5_SQL " PRAGMA writable_schema = ON;"
	    " UPDATE sqlite_master SET sql = replace(sql, 'CHECK (state ="
	    " ''DISCOVERED'' OR state = ''QUEUED'' OR state = ''PROCESSING''"
	    " OR state = ''HASHED'' OR state = ''MOVED'' OR state ="
	    " ''MANIFESTED'' OR state = ''SKIPPED_DUPLICATE'' OR state ="
	    " ''REJECTED'' OR state = ''RETRY_PENDING'' OR state = ''FAILED'')',"
	    " 'CHECK (state IN (''DISCOVERED'',''QUEUED'',  ''PROCESSING'',"
	    "''HASHED'',''MOVED'',''MANIFESTED'',''SKIPPED_DUPLICATE'',"
	    "  ''REJECTED'',''RETRY_PENDING'',''FAILED''))')"
	    " WHERE name = 'files';"
	    " PRAGMA writable_schema = OFF;"
	    " DROP INDEX files_content;"
	    " CREATE UNIQUE INDEX files_content ON files(sha256)"
	    " WHERE state IN ('HASHED','MOVED','MANIFESTED');"
	    " UPDATE schema_version SET version = 4");
	sql = NULL;
	{
		sqlite3 *h = raw_open(fx);

		assert_int_equal(ephemeral_tables(h, UPDATE_STATE_SQL), 3);
		sql = h_text(h, "SELECT sql FROM sqlite_master"
		    " WHERE name = 'files'", 0);
		sqlite3_close(h);
	}
	assert_non_null(strstr(sql, "CHECK (state IN ("));
	free(sql);

	reopen_migrated(fx);
	assert_state_changes_build_no_temporary_tables(fx, fx->h);
	/* the rows are all there, and one content is still archived once */
	assert_int_equal(raw_int(fx, "SELECT count(*) FROM files", 0), 2);
	assert_counts_match(fx);
	assert_int_equal(db_file_set_hashed(fx->db, add_file(fx, WATCH,
	    "c.csv", ST_PROCESSING), SHA_A, XXH_A, "c.csv"), -1);
	assert_int_equal(raw_int(fx, "SELECT count(*) FROM files"
	    " WHERE sha256 = '" SHA_A "'", 0), 1);
	assert_int_equal(raw_int(fx, "SELECT id FROM files"
	    " WHERE sha256 = '" SHA_A "'", 0), a);
}

/* holder of row id: 1, or 0 for NULL */
static int64_t
holder_of(struct fx *fx, int64_t id)
{
	return raw_int(fx, "SELECT holder IS 1 FROM files WHERE id = ?", id);
}

static void
test_holder_follows_the_state(void **state)
{
	struct fx *fx = *state;
	sqlite3 *h;
	int64_t a, q;

	a = add_ingested(fx, "a.csv", SHA_A, ST_HASHED);
	assert_int_equal(holder_of(fx, a), 1);
	assert_int_equal(db_file_set_moved(fx->db, a, "/srv/warehouse/a.csv",
	    "/srv/m.jsonl", T0_ISO, 1), 0);
	assert_int_equal(holder_of(fx, a), 1);
	assert_int_equal(db_file_set_state(fx->db, a, ST_MANIFESTED, NULL), 0);
	assert_int_equal(holder_of(fx, a), 1);
	/* leaving the archive states gives the content up */
	assert_int_equal(db_file_set_state(fx->db, a, ST_QUEUED, NULL), 0);
	assert_int_equal(holder_of(fx, a), 0);
	q = add_file(fx, WATCH, "q.csv", ST_QUEUED);
	assert_int_equal(db_file_set_processing(fx->db, q, 1), 0);
	assert_int_equal(db_file_set_hashed(fx->db, q, SHA_A, XXH_A, NULL), 0);
	assert_int_equal(holder_of(fx, q), 1);
	assert_int_equal(db_file_set_error(fx->db, q, ST_RETRY_PENDING, 1,
	    "EIO"), 0);
	assert_int_equal(holder_of(fx, q), 0);
	assert_int_equal(db_file_set_state(fx->db, a, ST_HASHED, NULL), 0);
	assert_int_equal(db_file_set_processing(fx->db, a, 2), 0);
	assert_int_equal(holder_of(fx, a), 0);
	assert_int_equal(db_file_set_duplicate(fx->db, a, SHA_A, XXH_A, q), 0);
	assert_int_equal(holder_of(fx, a), 0);

	/* the database refuses a holder that does not match the state */
	assert_int_equal(db_file_set_state(fx->db, q, ST_MANIFESTED, NULL), -1);
	assert_int_equal(get_state(fx, q), ST_RETRY_PENDING);
	h = raw_open(fx);
	assert_int_equal(sqlite3_exec(h, "UPDATE files SET holder = 1"
	    " WHERE state = 'RETRY_PENDING'", NULL, NULL, NULL),
	    SQLITE_CONSTRAINT);
	assert_int_equal(sqlite3_extended_errcode(h), SQLITE_CONSTRAINT_CHECK);
	assert_int_equal(sqlite3_exec(h, "UPDATE files SET state = 'MOVED'"
	    " WHERE state = 'RETRY_PENDING'", NULL, NULL, NULL),
	    SQLITE_CONSTRAINT);
	assert_int_equal(sqlite3_extended_errcode(h), SQLITE_CONSTRAINT_CHECK);
	sqlite3_close(h);
	assert_counts_match(fx);
}

/*
 * How many of the UPDATEs db.c's connection ran since the last call
 * write files_content (the run counters are reset as they are read).
 */
static int
updates_writing_content(struct fx *fx, int *ran)
{
	sqlite3_stmt *st = NULL;
	int64_t root = h_int(fx->h, "SELECT rootpage FROM sqlite_master"
	    " WHERE name = 'files_content'", 0);
	const char *sql;
	int n = 0;

	*ran = 0;
	while ((st = sqlite3_next_stmt(fx->h, st)) != NULL) {
		sql = sqlite3_sql(st);
		if (sqlite3_stmt_status(st, SQLITE_STMTSTATUS_RUN, 1) == 0 ||
		    strncmp(sql, "UPDATE files ", 13) != 0)
			continue;
		(*ran)++;
		/* an OpenWrite of the index's root page: it writes it */
		n += explain_count(fx->h, sql, "OpenWrite", root) > 0;
	}
	return n;
}

/*
 * The unique sha256 index is written when a row gets its hash or gives
 * up its content, not when it moves on from HASHED to MOVED to
 * MANIFESTED: with a million rows, each such write is a random page.
 */
static void
test_archive_steps_leave_the_hash_index_alone(void **state)
{
	struct fx *fx = *state;
	int64_t a;
	int ran;

	a = add_file(fx, WATCH, "a.csv", ST_QUEUED);
	assert_int_equal(db_file_set_processing(fx->db, a, 1), 0);
	updates_writing_content(fx, &ran);
	/* a row that gets its hash: the test sees the write */
	assert_int_equal(db_file_set_hashed(fx->db, a, SHA_A, XXH_A,
	    "/srv/warehouse/a.csv"), 0);
	assert_int_equal(updates_writing_content(fx, &ran), 1);
	assert_int_equal(ran, 1);
	assert_int_equal(db_file_set_moved(fx->db, a, "/srv/warehouse/a.csv",
	    "/srv/m.jsonl", T0_ISO, 0), 0);
	assert_int_equal(updates_writing_content(fx, &ran), 0);
	assert_int_equal(ran, 1);
	assert_int_equal(db_file_set_state(fx->db, a, ST_MANIFESTED, NULL), 0);
	assert_int_equal(db_file_set_source_removed(fx->db, a), 0);
	assert_int_equal(updates_writing_content(fx, &ran), 0);
	assert_int_equal(ran, 2);
	/* and one that leaves the archive states */
	assert_int_equal(db_file_set_error(fx->db, a, ST_FAILED, 1, "gone"), 0);
	assert_int_equal(updates_writing_content(fx, &ran), 1);
}

static void
test_upgrade_to_6_gives_the_claim_to_holder(void **state)
{
	struct fx *fx = *state;
	sqlite3_stmt *st;
	char *sql, want[64];
	int64_t a, b, h, f;

	a = add_ingested(fx, "a.csv", SHA_A, ST_MANIFESTED);
	b = add_ingested(fx, "b.csv", SHA_B, ST_MOVED);
	h = add_ingested(fx, "h.csv", SHA_C, ST_HASHED);
	assert_int_equal(db_file_set_duplicate(fx->db, add_file(fx, WATCH,
	    "dup.csv", ST_QUEUED), SHA_A, XXH_A, a), 0);
	f = add_ingested(fx, "f.csv", SHA_D, ST_HASHED);
	assert_int_equal(db_file_set_error(fx->db, f, ST_FAILED, 5, "EIO"), 0);
	add_file(fx, WATCH, "q.csv", ST_QUEUED);
	db_close(fx->db);
	raw_exec(fx, SCHEMA_5_SQL);
	assert_int_equal(raw_int(fx, "SELECT count(*) FROM pragma_table_info("
	    "'files') WHERE name = 'holder'", 0), 0);

	reopen_migrated(fx);
	/* exactly the rows in the archive states hold their content */
	assert_int_equal(raw_int(fx, "SELECT count(*) FROM files", 0), 6);
	sql = h_text(fx->h, "SELECT group_concat(id) FROM (SELECT id FROM"
	    " files WHERE holder = 1 ORDER BY id)", 0);
	snprintf(want, sizeof(want), "%lld,%lld,%lld", (long long)a,
	    (long long)b, (long long)h);
	assert_string_equal(sql, want);
	free(sql);
	sql = h_text(fx->h, "PRAGMA integrity_check", 0);
	assert_string_equal(sql, "ok");
	free(sql);
	/* one sha256 index, and it answers both lookups */
	assert_int_equal(raw_int(fx, "SELECT count(*) FROM sqlite_master"
	    " WHERE type = 'index' AND sql LIKE '%sha256%'", 0), 1);
	assert_int_equal(sqlite3_prepare_v2(fx->h, "EXPLAIN QUERY PLAN"
	    " SELECT id FROM files WHERE sha256 >= 'a' AND sha256 < 'b'", -1,
	    &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_non_null(strstr((const char *)sqlite3_column_text(st, 3),
	    "USING COVERING INDEX files_content"));
	sqlite3_finalize(st);
	/* content is still archived once, and the CHECK is in place */
	assert_int_equal(db_file_set_hashed(fx->db, add_file(fx, WATCH,
	    "again.csv", ST_PROCESSING), SHA_A, XXH_A, NULL), -1);
	assert_int_equal(db_file_set_hashed(fx->db, f, SHA_D, XXH_A, NULL), 0);
	assert_int_equal(db_file_set_state(fx->db, add_file(fx, WATCH,
	    "never.csv", ST_QUEUED), ST_MANIFESTED, NULL), -1);
	assert_counts_match(fx);
}

static void
test_failed_migration_says_why_and_changes_nothing(void **state)
{
	struct fx *fx = *state;

	add_file(fx, WATCH, "a.csv", ST_QUEUED);
	/* migration 4 -> 5 drops files_content: without it, it fails */
	assert_open_refused(fx, "DROP INDEX files_content;"
	    " UPDATE schema_version SET version = 4", "version 5",
	    "no such index: files_content", 4);
	assert_int_equal(raw_int(fx, "SELECT count(*) FROM files", 0), 1);
}

static void
test_readonly_open_cannot_write(void **state)
{
	struct fx *fx = *state;
	struct file_rec r;
	struct db *ro;
	char *err = NULL, *dest = NULL, missing[160];
	int64_t id, found;

	id = add_ingested(fx, "orders.csv", SHA_A, ST_HASHED);
	ro = db_open(fx->path, 1, &err);
	assert_null(err);
	assert_non_null(ro);

	/* reading works (ingestctl --db) */
	assert_int_equal(db_file_get(ro, id, &r), 0);
	assert_int_equal(r.state, ST_HASHED);
	file_rec_free(&r);
	assert_int_equal(db_find_content(ro, SHA_A, 0, &found, &dest), 1);
	assert_int_equal(found, id);
	free(dest);

	/* writing fails cleanly and changes nothing */
	assert_int_equal(db_file_set_state(ro, id, ST_QUEUED, "retry"), -1);
	assert_int_equal(db_file_set_source_removed(ro, id), -1);
	memset(&r, 0, sizeof(r));
	r.watch = WATCH;
	r.source_path = "/srv/staging/incoming/x.csv";
	r.relpath = "x.csv";
	r.state = ST_QUEUED;
	assert_int_equal(db_file_insert(ro, &r, T0_NS, NULL), -1);
	db_close(ro);

	assert_int_equal(get_state(fx, id), ST_HASHED);
	assert_int_equal(raw_int(fx, "SELECT count(*) FROM files", 0), 1);
	assert_int_equal(raw_int(fx, "SELECT source_removed FROM files", 0), 0);

	/* a read-only open never creates a database */
	snprintf(missing, sizeof(missing), "%s/missing.db", fx->dir);
	assert_null(db_open(missing, 1, &err));
	assert_non_null(err);
	free(err);
	assert_int_equal(access(missing, F_OK), -1);
}

static void
test_hostile_names_are_stored_verbatim(void **state)
{
	static const char *names[] = {
		"line\nbreak.csv",
		"it's \"quoted\".csv",
		"\xff\xfe.csv",
		"bad \xc3\x28 utf8 \xed\xa0\x80 surrogate",
		"'); DROP TABLE files; --",
		"tab\there\r\x01\x7f",
	};
	struct fx *fx = *state;
	struct file_rec r, g;
	char path[PATH_MAX], longname[256], err[320];
	size_t i;

	memset(longname, 'n', 255);
	memcpy(longname + 251, ".csv", 4);
	longname[255] = '\0';
	for (i = 0; i <= sizeof(names) / sizeof(names[0]); i++) {
		const char *name = i < sizeof(names) / sizeof(names[0]) ?
		    names[i] : longname;

		snprintf(path, sizeof(path), "/srv/staging/in\n\xff/%s", name);
		memset(&r, 0, sizeof(r));
		r.watch = "w\xff\"";
		r.source_path = path;
		r.relpath = (char *)name;
		r.state = ST_QUEUED;
		assert_int_equal(db_file_insert(fx->db, &r, T0_NS, name), 0);
		snprintf(err, sizeof(err), "open: %s", name);
		assert_int_equal(db_file_set_error(fx->db, r.id,
		    ST_RETRY_PENDING, 1, err), 0);

		assert_int_equal(db_file_get(fx->db, r.id, &g), 0);
		assert_int_equal(strlen(g.source_path), strlen(path));
		assert_memory_equal(g.source_path, path, strlen(path) + 1);
		assert_int_equal(strlen(g.relpath), strlen(name));
		assert_memory_equal(g.relpath, name, strlen(name) + 1);
		assert_memory_equal(g.watch, "w\xff\"", 4);
		assert_memory_equal(g.last_error, err, strlen(err) + 1);
		file_rec_free(&g);
	}
	assert_int_equal(strlen(longname), 255);
	assert_int_equal(raw_int(fx, "SELECT count(*) FROM files", 0),
	    (int64_t)(sizeof(names) / sizeof(names[0]) + 1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_open_creates_schema_with_wal_and_full_sync),
		T(test_reopen_keeps_data_and_does_not_remigrate),
		T(test_newer_schema_version_is_refused),
		T(test_insert_records_discovered_and_queued_events),
		T(test_every_state_change_is_an_event),
		T(test_state_names_round_trip),
		T(test_content_hash_is_unique_among_ingested_files),
		T(test_find_content_ignores_self_and_non_ingested_rows),
		T(test_duplicate_points_at_original),
		T(test_unfinished_rows_are_listed_for_recovery),
		T(test_setter_is_atomic),
		T(test_batch_rollback_discards_changes),
		T(test_state_counts_follow_every_change),
		T(test_upgrade_to_counts_counts_existing_rows),
		T(test_state_changes_build_no_temporary_tables),
		T(test_upgrade_to_5_rewrites_the_state_tests),
		T(test_holder_follows_the_state),
		T(test_archive_steps_leave_the_hash_index_alone),
		T(test_upgrade_to_6_gives_the_claim_to_holder),
		T(test_failed_migration_says_why_and_changes_nothing),
		T(test_readonly_open_cannot_write),
		T(test_hostile_names_are_stored_verbatim),
#undef T
	};
	int rc;

	/* see capture_handle(); cast as sqlite3_auto_extension() wants it */
	sqlite3_auto_extension((void (*)(void))capture_handle);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	sqlite3_reset_auto_extension();
	if (live_dir[0] != '\0')
		dir_remove(live_dir);
	return rc;
}
