/* master: the SQLite audit database (files, events, schema version); single writer. */
#ifndef INGESTD_DB_H
#define INGESTD_DB_H

#include <stdint.h>

/* User-visible states (DESIGN.md section 5); names are the contract. */
enum file_state {
	ST_DISCOVERED = 0,
	ST_QUEUED,
	ST_PROCESSING,
	ST_HASHED,
	ST_MOVED,
	ST_MANIFESTED,
	ST_SKIPPED_DUPLICATE,
	ST_REJECTED,
	ST_RETRY_PENDING,
	ST_FAILED,
	ST_END
};

const char	*state_name(int state);
int		 state_parse(const char *name);	/* -1 if unknown */
int		 state_is_terminal(int state);

#define DB_SCHEMA_VERSION	6

/* The terminal states and the others as SQL lists (state_is_terminal()). */
#define DB_TERMINAL_SQL	"'MANIFESTED','SKIPPED_DUPLICATE','REJECTED','FAILED'"
#define DB_UNFINISHED_SQL \
	"'DISCOVERED','QUEUED','PROCESSING','HASHED','MOVED','RETRY_PENDING'"

/* One row of the files table. Strings are owned by the record. */
struct file_rec {
	int64_t		 id;
	char		*watch;
	char		*source_path;	/* absolute path in staging */
	char		*relpath;	/* below the watch root */
	uint64_t	 device;
	uint64_t	 inode;
	int64_t		 size;
	int64_t		 mtime_ns;
	int64_t		 ctime_ns;
	char		 sha256[65];	/* "" if unknown */
	char		 xxh128[33];
	char		*dest;		/* absolute archive path, or NULL */
	char		*manifest;	/* manifest file holding its line, or NULL */
	int		 state;
	int		 attempts;
	char		*last_error;
	int64_t		 duplicate_of;	/* 0 if none */
	int		 source_removed;
	char		 ingested_at[32];	/* "" until MOVED */
};

void	file_rec_free(struct file_rec *);

struct db;

/*
 * Open (creating and migrating unless readonly) the database at path.
 * Returns NULL with a message in *err (free it) on failure.
 */
struct db	*db_open(const char *path, int readonly, char **err);
void		 db_close(struct db *);
const char	*db_errmsg(struct db *);

/*
 * A batch: the setters below run in one transaction.  If one fails, the
 * later ones refuse and db_commit() rolls the batch back and returns -1.
 */
int	db_begin(struct db *);
int	db_commit(struct db *);
int	db_rollback(struct db *);
/*
 * A batch whose commit does not wait for the disk (synchronous=NORMAL):
 * for changes recovery can redo, which nothing outside the database
 * acts on before a later durable commit (new rows, PROCESSING marks,
 * source-removed marks).  The WAL is one file, synced whole: the next
 * db_begin()/db_commit() makes them durable with its own.  A process
 * crash loses nothing; only a power loss can.
 */
int	db_begin_lazy(struct db *);

/*
 * Insert a new arrival in `state` with the events leading to it: a
 * DISCOVERED event at discovered_ns, then `state` with detail.  Sets r->id.
 */
int	db_file_insert(struct db *, struct file_rec *r, int64_t discovered_ns,
	    const char *detail);
/* Move a row to `state`, recording an event with detail (may be NULL). */
int	db_file_set_state(struct db *, int64_t id, int state,
	    const char *detail);
/* PROCESSING, counting the attempt. */
int	db_file_set_processing(struct db *, int64_t id, int attempts);
/* RETRY_PENDING or FAILED with the error. */
int	db_file_set_error(struct db *, int64_t id, int state, int attempts,
	    const char *error);
/* HASHED: record hashes and the intended destination. */
int	db_file_set_hashed(struct db *, int64_t id, const char *sha256,
	    const char *xxh128, const char *dest);
/* Destination changed (name collision) while HASHED. */
int	db_file_set_dest(struct db *, int64_t id, const char *dest);
/* MOVED: published at dest; its manifest line will go to manifest. */
int	db_file_set_moved(struct db *, int64_t id, const char *dest,
	    const char *manifest, const char *ingested_at, int source_removed);
int	db_file_set_duplicate(struct db *, int64_t id, const char *sha256,
	    const char *xxh128, int64_t original);
int	db_file_set_source_removed(struct db *, int64_t id);
/* Source changed identity (new inode/size/mtime) while not yet processed. */
int	db_file_set_stat(struct db *, int64_t id, uint64_t dev, uint64_t ino,
	    int64_t size, int64_t mtime_ns, int64_t ctime_ns);

/*
 * Find the file already holding this content (HASHED, MOVED or MANIFESTED),
 * other than `self`.  Returns 1 and fills id/dest (free *dest), 0 if none,
 * -1 on error.
 */
int	db_find_content(struct db *, const char *sha256, int64_t self,
	    int64_t *id, char **dest);
int	db_file_get(struct db *, int64_t id, struct file_rec *);

/*
 * Call fn for every row that still needs work at start-up: a non-terminal
 * state, or a terminal state whose source may still be in staging
 * (source_removed = 0).  Stops and returns -1 if fn does.
 */
int	db_foreach_unfinished(struct db *, const char *watch,
	    int (*fn)(struct file_rec *, void *), void *arg);

/* Row sets for the control commands. */
enum db_rows {
	ROWS_RETRYABLE,		/* FAILED, RETRY_PENDING (watch may be NULL) */
	ROWS_INGESTED,		/* MOVED, MANIFESTED of a watch */
	ROWS_INFLIGHT,		/* non-terminal rows of a watch */
};
int	db_foreach(struct db *, enum db_rows, const char *watch,
	    int (*fn)(struct file_rec *, void *), void *arg);

/* Files per state, all watches. */
int	db_count_states(struct db *, int64_t counts[ST_END]);
/* The oldest non-terminal file: 1 and its fields (free them), 0 if none. */
int	db_oldest_unfinished(struct db *, int64_t *id, char **discovered_at,
	    char **path);
/* Record a mutating control command and its outcome. */
int	db_audit(struct db *, unsigned uid, int pid, const char *command,
	    const char *args, const char *result);
/*
 * A FAILED or RETRY_PENDING row gets a fresh set of attempts and an event
 * saying who asked (the scheduler then queues it).  Returns 0, 1 if the
 * row was in another state, -1 on error.
 */
int	db_file_requeue(struct db *, int64_t id, const char *detail);
/* Some row holding content owns this archive path: 1, 0, -1 on error. */
int	db_dest_known(struct db *, const char *dest);

#endif
