/* master: the scheduler: candidates, completeness, the run queue and the per-file commit pipeline. */
#ifndef INGESTD_SCHED_H
#define INGESTD_SCHED_H

#include <sys/queue.h>
#include <sys/stat.h>
#include <stdint.h>

#include "db.h"
#include "proto.h"

struct worker;
struct event;
struct watch;
struct wrules;
struct droot;

enum job_kind {
	K_HASH = 0,	/* same filesystem (or dry run): hash + sync the source */
	K_COPY,		/* cross filesystem: copy + hash into an O_TMPFILE */
};

/*
 * What the master keeps of a stat of a source: its identity and the
 * signature that tells a change (104 bytes less than a struct stat, per
 * file the master knows about).
 */
struct fsig {
	uint64_t		 dev;
	uint64_t		 ino;
	int64_t			 size;
	int64_t			 mtime_ns;
	int64_t			 ctime_ns;
};

/*
 * A job's content hashes, allocated when it first has one: a file that
 * waits for its stability window carries none, which keeps a backlog
 * small.
 */
struct jhash {
	char	sha256[65];	/* "" until hashed */
	char	xxh128[33];
	char	sc_sha256[65];	/* what a sidecar vouches, or "" */
};

struct job {
	struct watch		*w;
	struct wrules		*r;		/* rules it runs under (a reference) */
	struct droot		*droot;		/* destination root (to or a route) */
	char			*rel;		/* key: path below the watch root */
	int			 state;		/* enum file_state, in memory */
	int			 parked;	/* terminal, source still in staging */
	int64_t			 id;		/* DB row, 0 until queued */
	int			 attempts;
	struct fsig		 sig;		/* identity/signature last observed */
	int64_t			 first_seen_ns;
	struct event		*timer;
	TAILQ_ENTRY(job)	 entry;
	int			 queued;	/* on the run queue */
	int			 batched;	/* waiting for the group commit */
	int			 inserting;	/* new, waiting for its row */
	int			 proc_pending;	/* its PROCESSING not yet written */
	int			 nosync;	/* copy not yet durable: syncfs first */

	int			 kind;		/* enum job_kind */
	int			 verifying;	/* hashing an existing archive file */
	int			 srcfd;
	int			 tmpfd;
	int			 destdirfd;
	struct fsig		 open_sig;	/* fstat of srcfd at open */
	char			*dest;		/* relative to the destination root */
	int			 name_try;	/* 0: own name, 1: switch to, 2: on collision name */
	int			 closed;	/* close-write/moved-to seen */
	int64_t			 sc_size;	/* size the sidecar vouches, or -1 */
	int			 manifest_failures;	/* resumed from the DB at start-up */
	int			 manifest_fresh;	/* MOVED just now: no line can exist yet */
	int			 src_in_staging;
	int			 name_taken;	/* another file holds its staging name */
	struct jhash		*h;		/* NULL until hashed or vouched for */
	struct worker		*worker;
};

void	sched_init(void);
/*
 * A path below the watch root may have changed: look at it.  closed: the
 * event was IN_CLOSE_WRITE or IN_MOVED_TO (for complete close-write).
 */
void	sched_notice(struct watch *, const char *rel, int closed);
/* Hand queued jobs to idle workers. */
void	sched_dispatch(void);
void	sched_job_result(struct job *, const struct msg_result *);
/* The worker running the job died or misbehaved. */
void	sched_job_lost(struct job *, const char *why);
/* Resume every unfinished row of a watch from its last durable state. */
int	sched_recover(struct watch *);
/* No file is being looked at, queued, in flight or waiting for a retry. */
int	sched_idle(void);
/* --once: the initial scan is done; stop waiting for incomplete files. */
void	sched_scan_done(void);
void	sched_shutdown(void);
/* Jobs waiting for a worker. */
int	sched_queue_depth(void);
/*
 * ingestctl retry: put a FAILED or RETRY_PENDING row back in the queue
 * (detail says who asked).  Returns NULL when it was (or, dry_run, would
 * be) queued, else why not.
 */
const char *sched_retry(struct file_rec *, const char *detail, int dry_run);
/* reconcile: is this row being worked on; resume a row nobody works on. */
int	sched_has_job(struct watch *, const char *rel, int64_t id);
void	sched_recover_row(struct watch *, struct file_rec *);

#endif
