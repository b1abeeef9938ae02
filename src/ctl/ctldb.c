/* ingestctl: opens the audit database read-only, checks its schema, reads rows. */
#include <sys/stat.h>

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <sqlite3.h>

#include "buf.h"
#include "ctldb.h"
#include "../master/db.h"
#include "util.h"

static int
ctldb_status(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return EX_TEMPFAIL;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return EX_DATAERR;
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return EX_NOINPUT;
	default:
		return EX_SOFTWARE;
	}
}

int
ctldb_fail(struct ctldb *db, const char *what)
{
	int rc = sqlite3_extended_errcode(db->h);

	fprintf(stderr, "ingestctl: %s: %s: %s\n", db->path, what,
	    sqlite3_errmsg(db->h));
	return ctldb_status(rc);
}

int
ctldb_prepare(struct ctldb *db, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(db->h, sql, -1, st, NULL) != SQLITE_OK)
		return ctldb_fail(db, "query failed");
	return 0;
}

/*
 * ctl_name_glob(pattern, source_path): fnmatch(3) on the file name, so
 * --name has the shell's glob rules ([!a-z], backslash escapes), which
 * SQLite's GLOB does not.
 */
static void
sql_name_glob(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *pat = (const char *)sqlite3_value_text(argv[0]);
	const char *path = (const char *)sqlite3_value_text(argv[1]);
	const char *slash;

	if (argc != 2 || pat == NULL || path == NULL) {
		sqlite3_result_int(ctx, 0);
		return;
	}
	if ((slash = strrchr(path, '/')) != NULL)
		path = slash + 1;
	sqlite3_result_int(ctx, fnmatch(pat, path, 0) == 0);
}

/* Is it an ingestd database, and not newer than we understand? */
static int
ctldb_check_schema(struct ctldb *db)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(db->h, "SELECT count(*) FROM sqlite_master"
	    " WHERE type = 'table' AND name IN ('schema_version', 'files',"
	    " 'events')", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return ctldb_fail(db, "cannot read the database");
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return ctldb_fail(db, "cannot read the database");
	}
	rc = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (rc != 3) {
		fprintf(stderr, "ingestctl: %s: not an ingestd audit database"
		    " (no files, events and schema_version tables)\n",
		    db->path);
		return EX_DATAERR;
	}
	if (ctldb_prepare(db, "SELECT version FROM schema_version", &st) != 0)
		return EX_DATAERR;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		if (rc == SQLITE_DONE) {
			fprintf(stderr, "ingestctl: %s: schema_version is"
			    " empty\n", db->path);
			return EX_DATAERR;
		}
		return ctldb_fail(db, "cannot read the schema version");
	}
	db->schema_version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (db->schema_version > DB_SCHEMA_VERSION) {
		fprintf(stderr, "ingestctl: %s: database schema version %d is"
		    " newer than this ingestctl understands (%d); use the"
		    " ingestctl that came with the running ingestd\n",
		    db->path, db->schema_version, DB_SCHEMA_VERSION);
		return EX_DATAERR;
	}
	if (db->schema_version < 1) {
		fprintf(stderr, "ingestctl: %s: database schema version %d:"
		    " not initialised by ingestd\n", db->path,
		    db->schema_version);
		return EX_DATAERR;
	}
	return 0;
}

static int
sibling_exists(const char *path, const char *suffix)
{
	struct stat sb;
	struct buf b;
	int rc;

	buf_init(&b);
	buf_printf(&b, "%s%s", path, suffix);
	rc = lstat(b.data, &sb) == 0 || errno != ENOENT;
	buf_free(&b);
	return rc;
}

/*
 * With no -wal (and no rollback -journal) next to it, the daemon is not
 * running and everything committed is in the main file: open it as
 * immutable, which reads without creating -wal and -shm files next to the
 * database (a reader without write access to its directory could not,
 * and root would leave them behind).  Otherwise NULL: open the path
 * normally, read-only, so that the WAL is read too.
 */
static char *
ctldb_uri(const char *path)
{
	static const char safe[] = "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._~-";
	struct buf b;
	const char *p;

	if (sibling_exists(path, "-wal") || sibling_exists(path, "-journal"))
		return NULL;
	buf_init(&b);
	buf_adds(&b, "file:");
	for (p = path; *p != '\0'; p++) {
		if (strchr(safe, *p) != NULL)
			buf_addc(&b, *p);
		else
			buf_printf(&b, "%%%02X", (unsigned char)*p);
	}
	buf_adds(&b, "?immutable=1");
	return buf_release(&b);
}

int
ctldb_open(struct ctldb *db, const char *path)
{
	struct stat sb;
	char *uri;
	int rc;

	memset(db, 0, sizeof(*db));
	db->path = path;
	/* say plainly what is wrong with the file before SQLite guesses */
	if (stat(path, &sb) == -1 || access(path, R_OK) == -1) {
		fprintf(stderr, "ingestctl: cannot open database %s: %s\n",
		    path, strerror(errno));
		return EX_NOINPUT;
	}
	if (!S_ISREG(sb.st_mode)) {
		fprintf(stderr, "ingestctl: cannot open database %s: not a"
		    " regular file\n", path);
		return EX_NOINPUT;
	}
	uri = ctldb_uri(path);
	rc = sqlite3_open_v2(uri != NULL ? uri : path, &db->h,
	    SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX |
	    (uri != NULL ? SQLITE_OPEN_URI : 0), NULL);
	free(uri);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "ingestctl: cannot open database %s: %s\n",
		    path, db->h != NULL ? sqlite3_errmsg(db->h) :
		    sqlite3_errstr(rc));
		ctldb_close(db);
		return EX_NOINPUT;
	}
	sqlite3_extended_result_codes(db->h, 1);
	sqlite3_busy_timeout(db->h, 5000);
	if ((rc = ctldb_check_schema(db)) != 0)
		goto fail;
	if (sqlite3_create_function_v2(db->h, "ctl_name_glob", 2,
	    SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, NULL,
	    sql_name_glob, NULL, NULL, NULL) != SQLITE_OK) {
		rc = ctldb_fail(db, "cannot register a function");
		goto fail;
	}
	/* one snapshot for every query of this command */
	if (sqlite3_exec(db->h, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		rc = ctldb_fail(db, "cannot start a read transaction");
		goto fail;
	}
	return 0;
fail:
	ctldb_close(db);
	return rc;
}

void
ctldb_close(struct ctldb *db)
{
	if (db->h != NULL) {
		if (!sqlite3_get_autocommit(db->h))
			sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL);
		sqlite3_close(db->h);
	}
	db->h = NULL;
}

static char *
column_dup(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return s != NULL ? xstrdup((const char *)s) : NULL;
}

void
rec_read(sqlite3_stmt *st, struct rec *r)
{
	memset(r, 0, sizeof(*r));
	r->id = sqlite3_column_int64(st, 0);
	r->state = column_dup(st, 1);
	r->watch = column_dup(st, 2);
	r->source_path = column_dup(st, 3);
	r->relpath = column_dup(st, 4);
	r->device = sqlite3_column_int64(st, 5);
	r->inode = sqlite3_column_int64(st, 6);
	r->size = sqlite3_column_int64(st, 7);
	r->mtime_ns = sqlite3_column_int64(st, 8);
	r->ctime_ns = sqlite3_column_int64(st, 9);
	r->sha256 = column_dup(st, 10);
	r->xxh128 = column_dup(st, 11);
	r->dest = column_dup(st, 12);
	r->manifest = column_dup(st, 13);
	r->attempts = sqlite3_column_int64(st, 14);
	r->last_error = column_dup(st, 15);
	r->duplicate_of = sqlite3_column_int64(st, 16);
	r->source_removed = sqlite3_column_int(st, 17);
	r->discovered_at = column_dup(st, 18);
	r->updated_at = column_dup(st, 19);
	r->ingested_at = column_dup(st, 20);
}

void
rec_free(struct rec *r)
{
	free(r->state);
	free(r->watch);
	free(r->source_path);
	free(r->relpath);
	free(r->sha256);
	free(r->xxh128);
	free(r->dest);
	free(r->manifest);
	free(r->last_error);
	free(r->discovered_at);
	free(r->updated_at);
	free(r->ingested_at);
	memset(r, 0, sizeof(*r));
}

const char *
rec_name(const struct rec *r)
{
	const char *slash;

	if (r->source_path == NULL)
		return "";
	slash = strrchr(r->source_path, '/');
	return slash != NULL ? slash + 1 : r->source_path;
}

int
ctldb_get(struct ctldb *db, int64_t id, struct rec *r)
{
	sqlite3_stmt *st;
	int rc;

	memset(r, 0, sizeof(*r));
	if ((rc = ctldb_prepare(db, "SELECT " REC_COLUMNS " FROM files"
	    " WHERE id = ?1", &st)) != 0)
		return -rc;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		rec_read(st, r);
		rc = 1;
	} else if (rc == SQLITE_DONE)
		rc = 0;
	else
		rc = -ctldb_fail(db, "query failed");
	sqlite3_finalize(st);
	return rc;
}
