/* ingestctl: read-only access to the audit database (the daemon may be down). */
#ifndef INGESTCTL_CTLDB_H
#define INGESTCTL_CTLDB_H

#include <stdint.h>

#include <sqlite3.h>

struct ctldb {
	sqlite3		*h;
	const char	*path;
	int		 schema_version;
};

/*
 * Open path read-only, check that it is an ingestd database whose schema
 * this ingestctl understands, and start a read transaction so that every
 * query sees one snapshot.  Returns 0, or an exit status after saying why
 * on stderr (66 missing or unreadable, 65 not ingestd's or too new, 75
 * locked, 70 anything else).
 */
int	ctldb_open(struct ctldb *, const char *path);
void	ctldb_close(struct ctldb *);

/* Prepare sql; on failure say why and return an exit status. */
int	ctldb_prepare(struct ctldb *, const char *sql, sqlite3_stmt **);
/* The exit status for a failed step, after saying why. */
int	ctldb_fail(struct ctldb *, const char *what);

/* One row of the files table, every string owned (NULL for SQL NULL). */
struct rec {
	int64_t		 id;
	char		*state;
	char		*watch;
	char		*source_path;
	char		*relpath;
	int64_t		 device;
	int64_t		 inode;
	int64_t		 size;
	int64_t		 mtime_ns;
	int64_t		 ctime_ns;
	char		*sha256;
	char		*xxh128;
	char		*dest;
	char		*manifest;
	int64_t		 attempts;
	char		*last_error;
	int64_t		 duplicate_of;	/* 0: none */
	int		 source_removed;
	char		*discovered_at;
	char		*updated_at;
	char		*ingested_at;
};

/* The columns rec_read expects, in its order, for "SELECT " REC_COLUMNS. */
#define REC_COLUMNS \
	"id, state, watch, source_path, relpath, device, inode, size," \
	" mtime_ns, ctime_ns, sha256, xxh128, dest, manifest, attempts," \
	" last_error, duplicate_of, source_removed, discovered_at," \
	" updated_at, ingested_at"

void	rec_read(sqlite3_stmt *, struct rec *);
void	rec_free(struct rec *);
/* The file name: what follows the last '/' of source_path. */
const char	*rec_name(const struct rec *);

/* Fetch one row by id: 1 found, 0 not found, or -(exit status). */
int	ctldb_get(struct ctldb *, int64_t id, struct rec *);

#endif
