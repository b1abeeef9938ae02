/* master: the SQLite audit database: schema and migrations, prepared statements, state changes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "db.h"
#include "log.h"
#include "util.h"

static const char *state_names[ST_END] = {
	"DISCOVERED", "QUEUED", "PROCESSING", "HASHED", "MOVED", "MANIFESTED",
	"SKIPPED_DUPLICATE", "REJECTED", "RETRY_PENDING", "FAILED",
};

const char *
state_name(int state)
{
	if (state < 0 || state >= ST_END)
		return "UNKNOWN";
	return state_names[state];
}

int
state_parse(const char *name)
{
	int i;

	for (i = 0; i < ST_END; i++)
		if (strcmp(state_names[i], name) == 0)
			return i;
	return -1;
}

int
state_is_terminal(int state)
{
	return state == ST_MANIFESTED || state == ST_SKIPPED_DUPLICATE ||
	    state == ST_REJECTED || state == ST_FAILED;
}

void
file_rec_free(struct file_rec *r)
{
	free(r->watch);
	free(r->source_path);
	free(r->relpath);
	free(r->dest);
	free(r->manifest);
	free(r->last_error);
	memset(r, 0, sizeof(*r));
}

/*
 * The state CHECK as schema 1 wrote it, and as schema 5 rewrites it.  A
 * list of more than two constants after IN makes SQLite build a temporary
 * table each time it evaluates the expression: the CHECK and the partial
 * index files_content cost three of them on every state change, about a
 * third of the master's work per file.  The same test as ORs builds none.
 */
#define STATE_CHECK_V1 \
	"CHECK (state IN ('DISCOVERED','QUEUED',"			\
	"  'PROCESSING','HASHED','MOVED','MANIFESTED','SKIPPED_DUPLICATE',"	\
	"  'REJECTED','RETRY_PENDING','FAILED'))"
#define STATE_CHECK_V5 \
	"CHECK (state = 'DISCOVERED' OR state = 'QUEUED'"		\
	" OR state = 'PROCESSING' OR state = 'HASHED' OR state = 'MOVED'"	\
	" OR state = 'MANIFESTED' OR state = 'SKIPPED_DUPLICATE'"		\
	" OR state = 'REJECTED' OR state = 'RETRY_PENDING'"			\
	" OR state = 'FAILED')"
/*
 * The guard of every UPDATE that changes a row's state: with :any = 0 it
 * matches only a row outside the terminal states, so nothing need leave
 * file_counts (see db_update_state).
 */
#define UNLESS_TERMINAL \
	" AND (:any OR NOT (state = 'MANIFESTED' OR"			\
	" state = 'SKIPPED_DUPLICATE' OR state = 'REJECTED' OR"		\
	" state = 'FAILED'))"
/* one more file in a file_counts row, or the row */
#define COUNT_BUMP_SQL \
	" ON CONFLICT (watch, state) DO UPDATE SET files = files + 1," \
	" bytes = bytes + excluded.bytes"
/* the states that hold their content in the archive (files_content) */
#define IN_ARCHIVE_SQL \
	"(state = 'HASHED' OR state = 'MOVED' OR state = 'MANIFESTED')"
/*
 * Schema 6: files.holder is 1 exactly when the row is in one of those
 * states, else NULL, and files_content is unique on (sha256, holder).  As
 * ALTER TABLE writes the column, and with its CHECK (see db_migrate_holder).
 */
#define HOLDER_COLUMN_V6	"holder INTEGER)"
#define HOLDER_CHECK_V6 \
	"holder INTEGER CHECK (holder IS CASE WHEN " IN_ARCHIVE_SQL	\
	" THEN 1 END))"

static int	db_migrate_state_check(struct db *);
static int	db_migrate_holder(struct db *);
static int	db_step_done(struct db *, sqlite3_stmt *);
static void	db_sync_full(struct db *);

/*
 * Migrations, applied in order; migration i brings the schema from version
 * i to i + 1, with its SQL and then its function, if any.  Never edit a
 * released one: append.
 */
static const struct migration {
	const char	*sql;
	int		(*fn)(struct db *);
} migrations[] = {
	/* 0 -> 1 */
	{ "CREATE TABLE files ("
	" id INTEGER PRIMARY KEY,"
	" watch TEXT NOT NULL,"
	" source_path TEXT NOT NULL,"
	" relpath TEXT NOT NULL,"
	" device INTEGER NOT NULL,"
	" inode INTEGER NOT NULL,"
	" size INTEGER NOT NULL,"
	" mtime_ns INTEGER NOT NULL,"
	" ctime_ns INTEGER NOT NULL,"
	" sha256 TEXT,"
	" xxh128 TEXT,"
	" dest TEXT,"
	" manifest TEXT,"
	" state TEXT NOT NULL " STATE_CHECK_V1 ","
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" last_error TEXT,"
	" duplicate_of INTEGER REFERENCES files(id),"
	" source_removed INTEGER NOT NULL DEFAULT 0,"
	" discovered_at TEXT NOT NULL,"
	" updated_at TEXT NOT NULL,"
	" ingested_at TEXT);"
	/* exactly once per content, enforced by the database itself */
	"CREATE UNIQUE INDEX files_content ON files(sha256)"
	" WHERE state IN ('HASHED','MOVED','MANIFESTED');"
	"CREATE INDEX files_state ON files(state);"
	"CREATE INDEX files_relpath ON files(watch, relpath);"
	"CREATE TABLE events ("
	" id INTEGER PRIMARY KEY,"
	" file_id INTEGER NOT NULL REFERENCES files(id),"
	" at TEXT NOT NULL,"
	" state TEXT NOT NULL,"
	" detail TEXT);"
	"CREATE INDEX events_file ON events(file_id);", NULL },
	/* 1 -> 2: who did what through the control socket; dest lookups */
	{ "CREATE TABLE control_audit ("
	" id INTEGER PRIMARY KEY,"
	" at TEXT NOT NULL,"
	" uid INTEGER NOT NULL,"
	" pid INTEGER NOT NULL,"
	" command TEXT NOT NULL,"
	" args TEXT,"
	" result TEXT);"
	"CREATE INDEX files_dest ON files(dest);", NULL },
	/*
	 * 2 -> 3: ingestctl query --hash on every row (duplicates are not in
	 * files_content) and status's last ingested file, without a scan
	 */
	{ "CREATE INDEX files_sha256 ON files(sha256);"
	"CREATE INDEX files_state_ingested ON files(state, ingested_at);", NULL },
	/*
	 * 3 -> 4: files and bytes per (watch, terminal state), kept in the
	 * transaction that changes a row (db_count_move), so status reads a
	 * few rows instead of counting every file.  Only terminal states are
	 * kept: a file enters one once, and the unfinished rows are few
	 * enough to count.  Not triggers on files: an UPDATE trigger makes
	 * every update of a row cost about half as much again, even when it
	 * does not fire.  Rows an operator deletes by hand are rare enough
	 * for one.  files_state goes: files_state_ingested (state first)
	 * serves the same lookups, and every state change paid for both.
	 */
	{ "DROP INDEX files_state;"
	"CREATE TABLE file_counts ("
	" watch TEXT NOT NULL,"
	" state TEXT NOT NULL,"
	" files INTEGER NOT NULL,"
	" bytes INTEGER NOT NULL,"
	" PRIMARY KEY (watch, state)) WITHOUT ROWID;"
	"INSERT INTO file_counts SELECT watch, state, count(*),"
	" coalesce(sum(size), 0) FROM files"
	" WHERE state IN (" DB_TERMINAL_SQL ") GROUP BY watch, state;"
	"CREATE TRIGGER file_counts_delete AFTER DELETE ON files"
	" WHEN OLD.state IN (" DB_TERMINAL_SQL ") BEGIN"
	" UPDATE file_counts SET files = files - 1, bytes = bytes - OLD.size"
	"  WHERE watch = OLD.watch AND state = OLD.state;"
	" END;", NULL },
	/*
	 * 4 -> 5: the state tests on the hot path without IN lists (see
	 * STATE_CHECK_V1): the partial index is made again, the CHECK is
	 * rewritten in place by db_migrate_state_check.
	 */
	{ "DROP INDEX files_content;"
	"CREATE UNIQUE INDEX files_content ON files(sha256)"
	" WHERE " IN_ARCHIVE_SQL ";", db_migrate_state_check },
	/*
	 * 5 -> 6: one sha256 index instead of two, and one that a state
	 * change leaves alone.  files_content was partial on the state, so
	 * HASHED -> MOVED -> MANIFESTED rewrote its entry each time, and
	 * files_sha256 took every hash again: with 1,000,000 rows each was a
	 * random index page per commit per file, more than a quarter of the
	 * time per file.  The claim on the content is now the column holder
	 * (1 or NULL: NULLs never collide in a unique index), set with the
	 * hash and cleared when the row leaves the archive states; the CHECK
	 * that db_migrate_holder adds keeps it equal to the state test.  Rows
	 * without a hash are not in the index.
	 */
	{ "ALTER TABLE files ADD COLUMN holder INTEGER;"
	"UPDATE files SET holder = 1 WHERE " IN_ARCHIVE_SQL ";"
	"DROP INDEX files_content;"
	"DROP INDEX files_sha256;"
	"CREATE UNIQUE INDEX files_content ON files(sha256, holder)"
	" WHERE sha256 IS NOT NULL;", db_migrate_holder },
};

enum stmt_id {
	S_INSERT,
	S_EVENT,
	S_SET_STATE,
	S_SET_STATE_HOLDER,
	S_SET_PROCESSING,
	S_SET_ERROR,
	S_SET_HASHED,
	S_SET_DEST,
	S_SET_MOVED,
	S_SET_DUPLICATE,
	S_SET_REMOVED,
	S_EVENT_REMOVED,
	S_SET_STAT,
	S_FIND_CONTENT,
	S_GET,
	S_UNFINISHED,
	S_COUNT_STATES,
	S_OLDEST,
	S_AUDIT,
	S_REQUEUE,
	S_EVENT_STATE,
	S_RETRYABLE,
	S_RETRYABLE_WATCH,
	S_INGESTED_WATCH,
	S_INFLIGHT_WATCH,
	S_DEST_KNOWN,
	S_COUNT_LEAVE,
	S_COUNT_ENTER,
	S_COUNT_ENTER_AGAIN,
	S_COUNT_ENTER_NOW,
	S_COUNT_ADD,
	S_SAVEPOINT,
	S_RELEASE,
	S_ROLLBACK_TO,
	S_BEGIN,
	S_COMMIT,
	S_SYNC_NORMAL,
	S_SYNC_FULL,
	S_END
};

/*
 * Unfinished and failed rows are few next to the ingested ones, but the
 * planner (and ANALYZE's per-column statistics) cannot know which states
 * are rare: without the hint it scans every row to avoid a sort.
 */
#define RARE(cond)	"likelihood(" cond ", 0.001)"

#define FILE_COLUMNS \
	"id, watch, source_path, relpath, device, inode, size, mtime_ns," \
	" ctime_ns, sha256, xxh128, dest, manifest, state, attempts," \
	" last_error, duplicate_of, source_removed, ingested_at"

static const char *stmt_sql[S_END] = {
	[S_INSERT] = "INSERT INTO files (watch, source_path, relpath, device,"
	    " inode, size, mtime_ns, ctime_ns, state, last_error,"
	    " discovered_at, updated_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[S_EVENT] = "INSERT INTO events (file_id, at, state, detail)"
	    " VALUES (?1, ?2, ?3, ?4)",
	/*
	 * holder (schema 6) is set with the hash and cleared when a row leaves
	 * the archive states; a change between those states leaves it, and
	 * with it files_content, alone: naming it would rewrite the index
	 * entry even with the same value.
	 */
	[S_SET_STATE] = "UPDATE files SET state = ?2, updated_at = ?3"
	    " WHERE id = ?1" UNLESS_TERMINAL,
	[S_SET_STATE_HOLDER] = "UPDATE files SET state = ?2, updated_at = ?3,"
	    " holder = ?4 WHERE id = ?1" UNLESS_TERMINAL,
	[S_SET_PROCESSING] = "UPDATE files SET state = 'PROCESSING',"
	    " holder = NULL, attempts = ?2, updated_at = ?3 WHERE id = ?1"
	    UNLESS_TERMINAL,
	[S_SET_ERROR] = "UPDATE files SET state = ?2, holder = NULL,"
	    " attempts = ?3, last_error = ?4, updated_at = ?5 WHERE id = ?1"
	    UNLESS_TERMINAL,
	[S_SET_HASHED] = "UPDATE files SET state = 'HASHED', holder = 1,"
	    " sha256 = ?2, xxh128 = ?3, dest = ?4, updated_at = ?5"
	    " WHERE id = ?1" UNLESS_TERMINAL,
	[S_SET_DEST] = "UPDATE files SET dest = ?2, updated_at = ?3"
	    " WHERE id = ?1",
	[S_SET_MOVED] = "UPDATE files SET state = 'MOVED', dest = ?2,"
	    " manifest = ?3, ingested_at = ?4, source_removed = ?5,"
	    " updated_at = ?6 WHERE id = ?1" UNLESS_TERMINAL,
	[S_SET_DUPLICATE] = "UPDATE files SET state = 'SKIPPED_DUPLICATE',"
	    " holder = NULL, sha256 = ?2, xxh128 = ?3, duplicate_of = ?4,"
	    " updated_at = ?5 WHERE id = ?1" UNLESS_TERMINAL,
	[S_SET_REMOVED] = "UPDATE files SET source_removed = 1,"
	    " updated_at = ?2 WHERE id = ?1",
	[S_EVENT_REMOVED] = "INSERT INTO events (file_id, at, state, detail)"
	    " SELECT id, ?2, state, 'source removed' FROM files WHERE id = ?1",
	[S_SET_STAT] = "UPDATE files SET device = ?2, inode = ?3, size = ?4,"
	    " mtime_ns = ?5, ctime_ns = ?6, updated_at = ?7 WHERE id = ?1",
	[S_FIND_CONTENT] = "SELECT id, dest FROM files WHERE sha256 = ?1"
	    " AND holder = 1 AND id != ?2"
	    " LIMIT 1",
	[S_GET] = "SELECT " FILE_COLUMNS " FROM files WHERE id = ?1",
	[S_UNFINISHED] = "SELECT " FILE_COLUMNS " FROM files WHERE watch = ?1"
	    " AND (state NOT IN ('MANIFESTED','SKIPPED_DUPLICATE','REJECTED',"
	    " 'FAILED') OR source_removed = 0) ORDER BY id",
	[S_COUNT_STATES] = "SELECT state, sum(files) FROM file_counts"
	    " GROUP BY state UNION ALL SELECT state, count(*) FROM files"
	    " WHERE " RARE("state IN (" DB_UNFINISHED_SQL ")")
	    " GROUP BY state",
	[S_OLDEST] = "SELECT id, discovered_at, source_path FROM files"
	    " WHERE " RARE("state IN (" DB_UNFINISHED_SQL ")")
	    " ORDER BY id LIMIT 1",
	[S_AUDIT] = "INSERT INTO control_audit (at, uid, pid, command, args,"
	    " result) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[S_REQUEUE] = "UPDATE files SET attempts = 0,"
	    " last_error = NULL, updated_at = ?2 WHERE id = ?1"
	    " AND state IN ('FAILED','RETRY_PENDING')",
	[S_EVENT_STATE] = "INSERT INTO events (file_id, at, state, detail)"
	    " SELECT id, ?2, state, ?3 FROM files WHERE id = ?1",
	[S_RETRYABLE] = "SELECT " FILE_COLUMNS " FROM files"
	    " WHERE " RARE("state IN ('FAILED','RETRY_PENDING')") " ORDER BY id",
	[S_RETRYABLE_WATCH] = "SELECT " FILE_COLUMNS " FROM files"
	    " WHERE " RARE("state IN ('FAILED','RETRY_PENDING')")
	    " AND watch = ?1 ORDER BY id",
	[S_INGESTED_WATCH] = "SELECT " FILE_COLUMNS " FROM files"
	    " WHERE state IN ('MOVED','MANIFESTED') AND watch = ?1 ORDER BY id",
	[S_INFLIGHT_WATCH] = "SELECT " FILE_COLUMNS " FROM files"
	    " WHERE " RARE("state IN (" DB_UNFINISHED_SQL ")")
	    " AND watch = ?1 ORDER BY id",
	[S_DEST_KNOWN] = "SELECT id FROM files WHERE dest = ?1"
	    " AND " IN_ARCHIVE_SQL " LIMIT 1",
	/* file_counts holds terminal states only: elsewhere these match nothing */
	[S_COUNT_LEAVE] = "UPDATE file_counts SET files = files - 1,"
	    " bytes = bytes - (SELECT size FROM files WHERE id = ?1)"
	    " WHERE (watch, state) = (SELECT watch, state FROM files"
	    " WHERE id = ?1 AND state IS NOT ?2)",
	[S_COUNT_ENTER] = "INSERT INTO file_counts (watch, state, files, bytes)"
	    " SELECT watch, ?2, 1, size FROM files WHERE id = ?1"
	    " AND state IS NOT ?2"
	    COUNT_BUMP_SQL,
	[S_COUNT_ENTER_AGAIN] = "INSERT INTO file_counts (watch, state, files,"
	    " bytes) SELECT watch, state, 1, size FROM files WHERE id = ?1"
	    " AND state IN (" DB_TERMINAL_SQL ")"
	    COUNT_BUMP_SQL,
	[S_COUNT_ENTER_NOW] = "INSERT INTO file_counts (watch, state, files,"
	    " bytes) SELECT watch, state, 1, size FROM files WHERE id = ?1"
	    COUNT_BUMP_SQL,
	[S_COUNT_ADD] = "INSERT INTO file_counts (watch, state, files, bytes)"
	    " VALUES (?1, ?2, 1, ?3)"
	    COUNT_BUMP_SQL,
	[S_SAVEPOINT] = "SAVEPOINT setter",
	[S_RELEASE] = "RELEASE setter",
	[S_ROLLBACK_TO] = "ROLLBACK TO setter",
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
	[S_SYNC_FULL] = "PRAGMA synchronous = FULL",
};

/* Statements a read-only handle prepares (the rest would fail). */
static int
stmt_is_read(int i)
{
	switch (i) {
	case S_FIND_CONTENT: case S_GET: case S_UNFINISHED:
	case S_COUNT_STATES: case S_OLDEST: case S_RETRYABLE:
	case S_RETRYABLE_WATCH: case S_INGESTED_WATCH: case S_INFLIGHT_WATCH:
	case S_DEST_KNOWN:
		return 1;
	default:
		return 0;
	}
}

struct db {
	sqlite3		*h;
	int		 readonly;
	int		 in_batch;	/* between db_begin and db_commit */
	int		 batch_failed;	/* a setter failed: the batch rolls back */
	int		 lazy;		/* synchronous=NORMAL until the batch ends */
	sqlite3_stmt	*stmt[S_END];
};

const char *
db_errmsg(struct db *db)
{
	return sqlite3_errmsg(db->h);
}

static void
db_now(char out[32])
{
	time_format_iso(now_realtime_ns(), out);
}

static int
db_exec(struct db *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_ev(LOG_ERR, "db_error", "sql=%s error=%s", sql,
		    msg ? msg : sqlite3_errmsg(db->h));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int
db_schema_version(struct db *db, int *version)
{
	sqlite3_stmt *st;
	int rc;

	*version = 0;
	rc = sqlite3_prepare_v2(db->h, "SELECT count(*) FROM sqlite_master"
	    " WHERE type = 'table' AND name = 'schema_version'", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return -1;
	}
	if (sqlite3_column_int(st, 0) == 0) {
		sqlite3_finalize(st);
		return 0;
	}
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(db->h, "SELECT version FROM schema_version",
	    -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

/*
 * Replace `from` by `to` in the schema text of table `files`, in place;
 * -1 on error.  A schema edited by hand, without `from`, keeps its own
 * text, with a warning that says `why`.  This is the procedure SQLite
 * documents for changing a constraint without rebuilding the table
 * ("Making Other Kinds Of Table Schema Changes"): the caller has made
 * sure that every stored row passes the new text, so only the text
 * changes.  Bumping the schema cookie makes every connection, this one
 * included, parse it again.
 */
static int
db_schema_replace(struct db *db, const char *from, const char *to,
    const char *why)
{
	sqlite3_stmt *st;
	char sql[96];
	int cookie = -1, done = 0;

	if (sqlite3_prepare_v2(db->h, "PRAGMA schema_version", -1, &st,
	    NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		cookie = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (cookie < 0)
		return -1;
	if (db_exec(db, "PRAGMA writable_schema = ON") == -1)
		return -1;
	if (sqlite3_prepare_v2(db->h, "UPDATE sqlite_master SET sql ="
	    " replace(sql, ?1, ?2) WHERE type = 'table' AND name = 'files'",
	    -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
	done = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	snprintf(sql, sizeof(sql), "PRAGMA schema_version = %d", cookie + 1);
	if (!done || db_exec(db, sql) == -1 ||
	    db_exec(db, "PRAGMA writable_schema = OFF") == -1)
		return -1;
	done = 0;
	if (sqlite3_prepare_v2(db->h, "SELECT instr(sql, ?1) > 0 FROM"
	    " sqlite_master WHERE type = 'table' AND name = 'files'", -1, &st,
	    NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, to, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		done = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (!done)
		log_ev(LOG_WARN, "db_check_kept", "table=%s reason=%s",
		    "files", why);
	return 0;
}

/*
 * 4 -> 5: rewrite the state CHECK of files as ORs.  A schema edited by
 * hand keeps its own CHECK: slower, still right.
 */
static int
db_migrate_state_check(struct db *db)
{
	return db_schema_replace(db, STATE_CHECK_V1, STATE_CHECK_V5,
	    "state CHECK is not the one schema 1 wrote");
}

/*
 * 5 -> 6: the CHECK that ties holder to the state.  ALTER TABLE cannot
 * add it: it tests the rows before the migration's UPDATE has set them.
 * Without it ingestd still sets holder; only the database's own test is
 * lost.
 */
static int
db_migrate_holder(struct db *db)
{
	return db_schema_replace(db, HOLDER_COLUMN_V6, HOLDER_CHECK_V6,
	    "holder column is not the one schema 6 added");
}

static int
db_migrate(struct db *db, char **err)
{
	int version, n = (int)(sizeof(migrations) / sizeof(migrations[0]));
	char sql[128];

	if (db_exec(db, "BEGIN IMMEDIATE") == -1)
		goto fail;
	if (db_schema_version(db, &version) == -1)
		goto fail_rollback;
	if (version > n) {
		if (asprintf(err, "database schema version %d is newer than"
		    " this ingestd supports (%d)", version, n) == -1)
			*err = NULL;
		db_exec(db, "ROLLBACK");
		return -1;
	}
	if (version == 0 && db_exec(db, "CREATE TABLE schema_version"
	    " (version INTEGER NOT NULL); INSERT INTO schema_version"
	    " VALUES (0)") == -1)
		goto fail_rollback;
	for (; version < n; version++) {
		if (db_exec(db, migrations[version].sql) == -1 ||
		    (migrations[version].fn != NULL &&
		    migrations[version].fn(db) == -1))
			goto fail_rollback;
		snprintf(sql, sizeof(sql), "UPDATE schema_version SET version"
		    " = %d", version + 1);
		if (db_exec(db, sql) == -1)
			goto fail_rollback;
		log_ev(LOG_INFO, "db_migrated", "version=%d", version + 1);
	}
	if (db_exec(db, "COMMIT") == -1)
		goto fail_rollback;
	return 0;
fail_rollback:
	/* the cause, before the rollback replaces it with "not an error" */
	if (asprintf(err, "cannot migrate database to version %d: %s",
	    version + 1, sqlite3_errmsg(db->h)) == -1)
		*err = NULL;
	db_exec(db, "ROLLBACK");
	return -1;
fail:
	if (asprintf(err, "cannot migrate database: %s",
	    sqlite3_errmsg(db->h)) == -1)
		*err = NULL;
	return -1;
}

/*
 * The master is one thread (one event loop): SQLite's mutexes and its
 * memory statistics, which take a global mutex on every allocation, are
 * pure cost there (about 5 % of its work per file).  sqlite3_config()
 * refuses once SQLite is initialised; that is harmless.  Not
 * SQLITE_CONFIG_STMTJRNL_SPILL: above its 64 KiB default, SQLite 3.40
 * fails the schema 5 migration's index rebuild with SQLITE_FULL from
 * 20,000 rows on (see db_sp_begin for the statement journals).
 */
static void
db_configure(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	(void)sqlite3_config(SQLITE_CONFIG_SINGLETHREAD);
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

struct db *
db_open(const char *path, int readonly, char **err)
{
	struct db *db;
	int flags, i;

	db_configure();
	*err = NULL;
	db = xcalloc(1, sizeof(*db));
	db->readonly = readonly;
	flags = readonly ? SQLITE_OPEN_READONLY :
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	flags |= SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(path, &db->h, flags, NULL) != SQLITE_OK) {
		if (asprintf(err, "%s: %s", path, db->h ?
		    sqlite3_errmsg(db->h) : "cannot open") == -1)
			*err = NULL;
		goto fail;
	}
	sqlite3_busy_timeout(db->h, 5000);
	sqlite3_extended_result_codes(db->h, 1);
	if (!readonly) {
		if (db_exec(db, "PRAGMA journal_mode = WAL") == -1 ||
		    db_exec(db, "PRAGMA synchronous = FULL") == -1 ||
		    db_exec(db, "PRAGMA foreign_keys = ON") == -1 ||
		    db_exec(db, "PRAGMA secure_delete = OFF") == -1) {
			if (asprintf(err, "%s: %s", path,
			    sqlite3_errmsg(db->h)) == -1)
				*err = NULL;
			goto fail;
		}
		if (db_migrate(db, err) == -1)
			goto fail;
	}
	for (i = 0; i < S_END; i++) {
		if (readonly && !stmt_is_read(i))
			continue;
		if (sqlite3_prepare_v3(db->h, stmt_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &db->stmt[i], NULL) != SQLITE_OK) {
			if (asprintf(err, "%s: %s", path,
			    sqlite3_errmsg(db->h)) == -1)
				*err = NULL;
			goto fail;
		}
	}
	return db;
fail:
	db_close(db);
	return NULL;
}

void
db_close(struct db *db)
{
	int i;

	if (db == NULL)
		return;
	for (i = 0; i < S_END; i++)
		sqlite3_finalize(db->stmt[i]);
	sqlite3_close(db->h);
	free(db);
}

int
db_begin(struct db *db)
{
	if (db->stmt[S_BEGIN] == NULL)		/* read-only */
		return db_exec(db, "BEGIN IMMEDIATE");
	if (db_step_done(db, db->stmt[S_BEGIN]) == -1) {
		db_sync_full(db);
		return -1;
	}
	db->in_batch = 1;
	db->batch_failed = 0;
	return 0;
}

/* SQLite refuses to change the safety level inside a transaction. */
int
db_begin_lazy(struct db *db)
{
	if (db->stmt[S_SYNC_NORMAL] != NULL &&
	    db_step_done(db, db->stmt[S_SYNC_NORMAL]) == 0)
		db->lazy = 1;
	return db_begin(db);
}

/* Back to a commit that waits for the disk, after a lazy batch. */
static void
db_sync_full(struct db *db)
{
	if (db->lazy && db_step_done(db, db->stmt[S_SYNC_FULL]) == 0)
		db->lazy = 0;
}

int
db_commit(struct db *db)
{
	int failed = db->batch_failed;

	db->in_batch = db->batch_failed = 0;
	if (failed) {
		log_ev(LOG_ERR, "db_batch_failed", NULL);
		db_exec(db, "ROLLBACK");
		db_sync_full(db);
		return -1;
	}
	if ((db->stmt[S_COMMIT] == NULL ? db_exec(db, "COMMIT") :
	    db_step_done(db, db->stmt[S_COMMIT])) == -1) {
		db_exec(db, "ROLLBACK");
		db_sync_full(db);
		return -1;
	}
	db_sync_full(db);
	return 0;
}

int
db_rollback(struct db *db)
{
	int rc;

	db->in_batch = db->batch_failed = 0;
	rc = db_exec(db, "ROLLBACK");
	db_sync_full(db);
	return rc;
}

/* Run a prepared statement to completion and reset it; keep its bindings. */
static int
db_step_keep(struct db *db, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		log_ev(LOG_ERR, "db_error", "sql=%s error=%s", sqlite3_sql(st),
		    sqlite3_errmsg(db->h));
		return -1;
	}
	return 0;
}

/* Run a prepared statement to completion, reset it, clear its bindings. */
static int
db_step_done(struct db *db, sqlite3_stmt *st)
{
	int rc = db_step_keep(db, st);

	sqlite3_clear_bindings(st);
	return rc;
}

/*
 * Strings are bound SQLITE_STATIC, not copied: every statement here is
 * stepped, reset and its bindings cleared before the function that bound
 * them returns, so the caller's strings outlive every use.  A copy was an
 * allocation each (Debian's SQLite has no lookaside), about 65 per file.
 */
static void
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL || *s == '\0')
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static int
db_event(struct db *db, int64_t id, int state, const char *at,
    const char *detail)
{
	sqlite3_stmt *st = db->stmt[S_EVENT];

	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, at, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, state_name(state), -1, SQLITE_STATIC);
	bind_text(st, 4, detail);
	return db_step_done(db, st);
}

/* A read-only handle has no write statements prepared: refuse, do not crash. */
static int
db_writable(struct db *db)
{
	if (db->readonly) {
		log_ev(LOG_ERR, "db_readonly", NULL);
		return -1;
	}
	return 0;
}

/*
 * Each setter below is atomic.  On its own it runs in a savepoint (a
 * transaction, as none is open).  In a db_begin()/db_commit() batch it
 * runs in the batch's transaction: a setter that fails fails the whole
 * batch, later setters refuse, and db_commit() rolls it back and returns
 * -1.  A savepoint per setter would undo only the one, but it journals
 * every page the setter touches: about 16, just past the 64 KiB at which
 * SQLite spills a statement journal to a temp file, so each page was a
 * pwrite (or, kept in memory, five small allocations); the master spent
 * about a fifth of its time on them.  Setters fail only when the
 * database does (a full disk, an I/O error), and the callers then retry
 * the whole batch anyway.
 */
static int
db_sp_begin(struct db *db)
{
	if (db_writable(db) == -1)
		return -1;
	if (db->in_batch)
		return db->batch_failed ? -1 : 0;
	return db_step_done(db, db->stmt[S_SAVEPOINT]);
}

static int
db_sp_end(struct db *db, int rc)
{
	if (db->in_batch) {
		if (rc != 0)
			db->batch_failed = 1;
		return rc;
	}
	if (rc == 0 && db_step_done(db, db->stmt[S_RELEASE]) == 0)
		return 0;
	db_step_done(db, db->stmt[S_ROLLBACK_TO]);
	db_step_done(db, db->stmt[S_RELEASE]);
	return -1;
}

/*
 * Keep file_counts in step with a row about to move to `state` (-1: to
 * its own state again, after a change of size): leave the terminal state
 * it is in, enter the one it goes to.  Before the row's UPDATE, in the
 * same savepoint, so the counts commit or roll back with it.
 */
static int
db_count_move(struct db *db, int64_t id, int state)
{
	sqlite3_stmt *st = db->stmt[S_COUNT_LEAVE];

	sqlite3_bind_int64(st, 1, id);
	if (state >= 0)
		sqlite3_bind_text(st, 2, state_name(state), -1, SQLITE_STATIC);
	if (db_step_done(db, st) == -1)
		return -1;
	if (state < 0 || !state_is_terminal(state))
		return 0;
	st = db->stmt[S_COUNT_ENTER];
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, state_name(state), -1, SQLITE_STATIC);
	return db_step_done(db, st);
}

/*
 * Run a state-changing UPDATE whose other parameters the caller has
 * bound: first only for a row outside the terminal states (:any = 0),
 * the common case, where file_counts need only an entry when the new
 * state is terminal.  A row in a terminal state (or none) is moved the
 * long way: db_count_move, then the update with :any = 1.  That saves a
 * statement (the leave) on nearly every change.
 */
static int
db_update_state(struct db *db, sqlite3_stmt *st, int64_t id, int state)
{
	/* :any comes after the numbered parameters: the last one */
	int any = sqlite3_bind_parameter_count(st);

	sqlite3_bind_int(st, any, 0);
	if (db_step_keep(db, st) == -1) {
		sqlite3_clear_bindings(st);
		return -1;
	}
	if (sqlite3_changes(db->h) == 0) {
		if (db_count_move(db, id, state) == -1) {
			sqlite3_clear_bindings(st);
			return -1;
		}
		sqlite3_bind_int(st, any, 1);
		return db_step_done(db, st);
	}
	sqlite3_clear_bindings(st);
	if (!state_is_terminal(state))
		return 0;
	st = db->stmt[S_COUNT_ENTER_NOW];
	sqlite3_bind_int64(st, 1, id);
	return db_step_done(db, st);
}

static int
db_file_insert_stmts(struct db *db, struct file_rec *r, int64_t discovered_ns,
    const char *detail)
{
	sqlite3_stmt *st = db->stmt[S_INSERT];
	char disc[32], now[32];

	time_format_iso(discovered_ns, disc);
	db_now(now);
	sqlite3_bind_text(st, 1, r->watch, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->source_path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->relpath, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)r->device);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)r->inode);
	sqlite3_bind_int64(st, 6, r->size);
	sqlite3_bind_int64(st, 7, r->mtime_ns);
	sqlite3_bind_int64(st, 8, r->ctime_ns);
	sqlite3_bind_text(st, 9, state_name(r->state), -1, SQLITE_STATIC);
	bind_text(st, 10, r->state == ST_REJECTED ? detail : NULL);
	sqlite3_bind_text(st, 11, disc, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 12, now, -1, SQLITE_STATIC);
	if (db_step_done(db, st) == -1)
		return -1;
	r->id = sqlite3_last_insert_rowid(db->h);
	if (state_is_terminal(r->state)) {
		st = db->stmt[S_COUNT_ADD];
		sqlite3_bind_text(st, 1, r->watch, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, state_name(r->state), -1,
		    SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, r->size);
		if (db_step_done(db, st) == -1)
			return -1;
	}
	if (db_event(db, r->id, ST_DISCOVERED, disc, NULL) == -1)
		return -1;
	if (r->state != ST_DISCOVERED &&
	    db_event(db, r->id, r->state, now, detail) == -1)
		return -1;
	return 0;
}

int
db_file_insert(struct db *db, struct file_rec *r, int64_t discovered_ns,
    const char *detail)
{
	if (db_sp_begin(db) == -1)
		return -1;
	return db_sp_end(db, db_file_insert_stmts(db, r, discovered_ns, detail));
}

static int
db_file_set_state_stmts(struct db *db, int64_t id, int state, const char *detail)
{
	sqlite3_stmt *st = db->stmt[S_SET_STATE];
	char now[32];

	/*
	 * To MOVED or MANIFESTED a row comes from HASHED: its holder stays.
	 * Else it is set: 1 for HASHED, NULL outside the archive states.
	 */
	if (state != ST_MOVED && state != ST_MANIFESTED) {
		st = db->stmt[S_SET_STATE_HOLDER];
		if (state == ST_HASHED)
			sqlite3_bind_int(st, 4, 1);
		else
			sqlite3_bind_null(st, 4);
	}
	db_now(now);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, state_name(state), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
	if (db_update_state(db, st, id, state) == -1)
		return -1;
	return db_event(db, id, state, now, detail);
}

int
db_file_set_state(struct db *db, int64_t id, int state, const char *detail)
{
	if (db_sp_begin(db) == -1)
		return -1;
	return db_sp_end(db, db_file_set_state_stmts(db, id, state, detail));
}

static int
db_file_set_processing_stmts(struct db *db, int64_t id, int attempts)
{
	sqlite3_stmt *st = db->stmt[S_SET_PROCESSING];
	char now[32], detail[32];

	db_now(now);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, attempts);
	sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
	if (db_update_state(db, st, id, ST_PROCESSING) == -1)
		return -1;
	snprintf(detail, sizeof(detail), "attempt %d", attempts);
	return db_event(db, id, ST_PROCESSING, now, detail);
}

int
db_file_set_processing(struct db *db, int64_t id, int attempts)
{
	if (db_sp_begin(db) == -1)
		return -1;
	return db_sp_end(db, db_file_set_processing_stmts(db, id, attempts));
}

static int
db_file_set_error_stmts(struct db *db, int64_t id, int state, int attempts,
    const char *error)
{
	sqlite3_stmt *st = db->stmt[S_SET_ERROR];
	char now[32];

	db_now(now);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, state_name(state), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, attempts);
	bind_text(st, 4, error);
	sqlite3_bind_text(st, 5, now, -1, SQLITE_STATIC);
	if (db_update_state(db, st, id, state) == -1)
		return -1;
	return db_event(db, id, state, now, error);
}

int
db_file_set_error(struct db *db, int64_t id, int state, int attempts,
    const char *error)
{
	if (db_sp_begin(db) == -1)
		return -1;
	return db_sp_end(db, db_file_set_error_stmts(db, id, state, attempts, error));
}

static int
db_file_set_hashed_stmts(struct db *db, int64_t id, const char *sha256,
    const char *xxh128, const char *dest)
{
	sqlite3_stmt *st = db->stmt[S_SET_HASHED];
	char now[32];

	db_now(now);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, xxh128, -1, SQLITE_STATIC);
	bind_text(st, 4, dest);
	sqlite3_bind_text(st, 5, now, -1, SQLITE_STATIC);
	if (db_update_state(db, st, id, ST_HASHED) == -1)
		return -1;
	return db_event(db, id, ST_HASHED, now, sha256);
}

int
db_file_set_hashed(struct db *db, int64_t id, const char *sha256,
    const char *xxh128, const char *dest)
{
	if (db_sp_begin(db) == -1)
		return -1;
	return db_sp_end(db, db_file_set_hashed_stmts(db, id, sha256, xxh128, dest));
}

static int
db_file_set_dest_stmts(struct db *db, int64_t id, const char *dest)
{
	sqlite3_stmt *st = db->stmt[S_SET_DEST];
	char now[32];

	db_now(now);
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, dest);
	sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
	if (db_step_done(db, st) == -1)
		return -1;
	return db_event(db, id, ST_HASHED, now, dest);
}

int
db_file_set_dest(struct db *db, int64_t id, const char *dest)
{
	if (db_sp_begin(db) == -1)
		return -1;
	return db_sp_end(db, db_file_set_dest_stmts(db, id, dest));
}

static int
db_file_set_moved_stmts(struct db *db, int64_t id, const char *dest,
    const char *manifest, const char *ingested_at, int source_removed)
{
	sqlite3_stmt *st = db->stmt[S_SET_MOVED];
	char now[32];

	db_now(now);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, dest, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, manifest, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, ingested_at, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, source_removed);
	sqlite3_bind_text(st, 6, now, -1, SQLITE_STATIC);
	if (db_update_state(db, st, id, ST_MOVED) == -1)
		return -1;
	return db_event(db, id, ST_MOVED, now, dest);
}

int
db_file_set_moved(struct db *db, int64_t id, const char *dest,
    const char *manifest, const char *ingested_at, int source_removed)
{
	if (db_sp_begin(db) == -1)
		return -1;
	return db_sp_end(db, db_file_set_moved_stmts(db, id, dest, manifest, ingested_at, source_removed));
}

static int
db_file_set_duplicate_stmts(struct db *db, int64_t id, const char *sha256,
    const char *xxh128, int64_t original)
{
	sqlite3_stmt *st = db->stmt[S_SET_DUPLICATE];
	char now[32], detail[48];

	db_now(now);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, xxh128, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, original);
	sqlite3_bind_text(st, 5, now, -1, SQLITE_STATIC);
	if (db_update_state(db, st, id, ST_SKIPPED_DUPLICATE) == -1)
		return -1;
	snprintf(detail, sizeof(detail), "duplicate of %lld",
	    (long long)original);
	return db_event(db, id, ST_SKIPPED_DUPLICATE, now, detail);
}

int
db_file_set_duplicate(struct db *db, int64_t id, const char *sha256,
    const char *xxh128, int64_t original)
{
	if (db_sp_begin(db) == -1)
		return -1;
	return db_sp_end(db, db_file_set_duplicate_stmts(db, id, sha256, xxh128, original));
}

static int
db_file_set_source_removed_stmts(struct db *db, int64_t id)
{
	sqlite3_stmt *st = db->stmt[S_SET_REMOVED];
	char now[32];

	db_now(now);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
	if (db_step_done(db, st) == -1)
		return -1;
	st = db->stmt[S_EVENT_REMOVED];
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
	return db_step_done(db, st);
}

int
db_file_set_source_removed(struct db *db, int64_t id)
{
	if (db_sp_begin(db) == -1)
		return -1;
	return db_sp_end(db, db_file_set_source_removed_stmts(db, id));
}

static int
db_file_set_stat_stmts(struct db *db, int64_t id, uint64_t dev, uint64_t ino,
    int64_t size, int64_t mtime_ns, int64_t ctime_ns)
{
	sqlite3_stmt *st = db->stmt[S_SET_STAT];
	char now[32];

	if (db_count_move(db, id, -1) == -1)
		return -1;
	db_now(now);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)dev);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)ino);
	sqlite3_bind_int64(st, 4, size);
	sqlite3_bind_int64(st, 5, mtime_ns);
	sqlite3_bind_int64(st, 6, ctime_ns);
	sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
	if (db_step_done(db, st) == -1)
		return -1;
	st = db->stmt[S_COUNT_ENTER_AGAIN];
	sqlite3_bind_int64(st, 1, id);
	return db_step_done(db, st);
}

int
db_file_set_stat(struct db *db, int64_t id, uint64_t dev, uint64_t ino,
    int64_t size, int64_t mtime_ns, int64_t ctime_ns)
{
	if (db_sp_begin(db) == -1)
		return -1;
	return db_sp_end(db, db_file_set_stat_stmts(db, id, dev, ino, size,
	    mtime_ns, ctime_ns));
}

static char *
column_strdup(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return s != NULL ? xstrdup((const char *)s) : NULL;
}

static void
column_copy(sqlite3_stmt *st, int col, char *out, size_t size)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	if (s == NULL || str_copy(out, (const char *)s, size) == -1)
		out[0] = '\0';
}

static void
db_row_read(sqlite3_stmt *st, struct file_rec *r)
{
	const unsigned char *state;

	memset(r, 0, sizeof(*r));
	r->id = sqlite3_column_int64(st, 0);
	r->watch = column_strdup(st, 1);
	r->source_path = column_strdup(st, 2);
	r->relpath = column_strdup(st, 3);
	r->device = (uint64_t)sqlite3_column_int64(st, 4);
	r->inode = (uint64_t)sqlite3_column_int64(st, 5);
	r->size = sqlite3_column_int64(st, 6);
	r->mtime_ns = sqlite3_column_int64(st, 7);
	r->ctime_ns = sqlite3_column_int64(st, 8);
	column_copy(st, 9, r->sha256, sizeof(r->sha256));
	column_copy(st, 10, r->xxh128, sizeof(r->xxh128));
	r->dest = column_strdup(st, 11);
	r->manifest = column_strdup(st, 12);
	state = sqlite3_column_text(st, 13);
	r->state = state ? state_parse((const char *)state) : -1;
	r->attempts = sqlite3_column_int(st, 14);
	r->last_error = column_strdup(st, 15);
	r->duplicate_of = sqlite3_column_int64(st, 16);
	r->source_removed = sqlite3_column_int(st, 17);
	column_copy(st, 18, r->ingested_at, sizeof(r->ingested_at));
}

int
db_find_content(struct db *db, const char *sha256, int64_t self, int64_t *id,
    char **dest)
{
	sqlite3_stmt *st = db->stmt[S_FIND_CONTENT];
	int rc, ret;

	sqlite3_bind_text(st, 1, sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, self);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		*dest = column_strdup(st, 1);
		ret = 1;
	} else if (rc == SQLITE_DONE) {
		ret = 0;
	} else {
		log_ev(LOG_ERR, "db_error", "sql=%s error=%s", sqlite3_sql(st),
		    sqlite3_errmsg(db->h));
		ret = -1;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return ret;
}

int
db_file_get(struct db *db, int64_t id, struct file_rec *r)
{
	sqlite3_stmt *st = db->stmt[S_GET];
	int rc, ret = -1;

	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		db_row_read(st, r);
		ret = 0;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return ret;
}

static int
db_foreach_stmt(struct db *db, sqlite3_stmt *st, const char *watch,
    int (*fn)(struct file_rec *, void *), void *arg)
{
	struct file_rec r;
	int rc, ret = 0;

	if (watch != NULL)
		sqlite3_bind_text(st, 1, watch, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		db_row_read(st, &r);
		ret = fn(&r, arg);
		file_rec_free(&r);
		if (ret == -1)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		log_ev(LOG_ERR, "db_error", "sql=%s error=%s", sqlite3_sql(st),
		    sqlite3_errmsg(db->h));
		ret = -1;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return ret;
}

int
db_foreach_unfinished(struct db *db, const char *watch,
    int (*fn)(struct file_rec *, void *), void *arg)
{
	return db_foreach_stmt(db, db->stmt[S_UNFINISHED], watch, fn, arg);
}

int
db_foreach(struct db *db, enum db_rows which, const char *watch,
    int (*fn)(struct file_rec *, void *), void *arg)
{
	int i;

	switch (which) {
	case ROWS_RETRYABLE:
		i = watch != NULL ? S_RETRYABLE_WATCH : S_RETRYABLE;
		break;
	case ROWS_INGESTED:
		i = S_INGESTED_WATCH;
		break;
	case ROWS_INFLIGHT:
		i = S_INFLIGHT_WATCH;
		break;
	default:
		return -1;
	}
	if (i != S_RETRYABLE && watch == NULL)
		return -1;
	return db_foreach_stmt(db, db->stmt[i], watch, fn, arg);
}

int
db_count_states(struct db *db, int64_t counts[ST_END])
{
	sqlite3_stmt *st = db->stmt[S_COUNT_STATES];
	int rc, state;

	memset(counts, 0, sizeof(int64_t) * ST_END);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		state = state_parse((const char *)sqlite3_column_text(st, 0));
		if (state >= 0)
			counts[state] = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
db_oldest_unfinished(struct db *db, int64_t *id, char **discovered_at,
    char **path)
{
	sqlite3_stmt *st = db->stmt[S_OLDEST];
	int rc;

	*id = 0;
	*discovered_at = *path = NULL;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		*discovered_at = xstrdup((const char *)sqlite3_column_text(st,
		    1));
		*path = xstrdup((const char *)sqlite3_column_text(st, 2));
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
db_audit(struct db *db, unsigned uid, int pid, const char *command,
    const char *args, const char *result)
{
	sqlite3_stmt *st = db->stmt[S_AUDIT];
	char now[32];

	if (db_writable(db) == -1)
		return -1;
	db_now(now);
	sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, uid);
	sqlite3_bind_int64(st, 3, pid);
	sqlite3_bind_text(st, 4, command, -1, SQLITE_STATIC);
	bind_text(st, 5, args);
	bind_text(st, 6, result);
	return db_step_done(db, st);
}

static int
db_file_requeue_stmts(struct db *db, int64_t id, const char *detail)
{
	sqlite3_stmt *st = db->stmt[S_REQUEUE];
	char now[32];

	db_now(now);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
	if (db_step_done(db, st) == -1)
		return -1;
	if (sqlite3_changes(db->h) != 1)
		return 1;
	st = db->stmt[S_EVENT_STATE];
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
	bind_text(st, 3, detail);
	return db_step_done(db, st);
}

int
db_file_requeue(struct db *db, int64_t id, const char *detail)
{
	int rc;

	if (db_sp_begin(db) == -1)
		return -1;
	rc = db_file_requeue_stmts(db, id, detail);
	if (db_sp_end(db, rc == -1 ? -1 : 0) == -1)
		return -1;
	return rc;
}

int
db_dest_known(struct db *db, const char *dest)
{
	sqlite3_stmt *st = db->stmt[S_DEST_KNOWN];
	int rc;

	sqlite3_bind_text(st, 1, dest, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}
