/* master: process-lifetime counters and gauges, their Prometheus text rendering, rates, and the listener and textfile that export them. */
#ifndef INGESTD_METRICS_H
#define INGESTD_METRICS_H

#include <stdint.h>

#include "db.h"

struct buf;
struct config;

/*
 * Everything counts from the start of this process (Prometheus handles
 * the reset at a restart).  Watches are identified by name only: no path
 * or hash is ever a label.  All functions run in the master's event loop
 * (no locking).
 */

/* Why a watch's tree was walked (the `reason` label). */
enum metrics_rescan {
	RESCAN_START = 0,	/* start-up, or a watch added by a reload */
	RESCAN_PERIODIC,	/* the `rescan` timer */
	RESCAN_OVERFLOW,	/* the inotify queue overflowed */
	RESCAN_OTHER,
	RESCAN_NREASONS
};

/* Per-watch counters, also for `ingestctl status`. */
struct metrics_watch {
	char		*name;
	uint64_t	 files[ST_END];	/* final transitions, by enum file_state */
	uint64_t	 bytes;		/* bytes of files that reached MANIFESTED */
	uint64_t	 overflows;	/* inotify overflows (the queue is shared:
					   each counts on every watch) */
	uint64_t	 rescans;	/* all reasons */
	uint64_t	 rescans_by[RESCAN_NREASONS];
	int64_t		 last_event_ns;	/* wall clock of the last inotify
					   event, 0: none yet */
	int64_t		 last_rescan_ns;	/* wall clock, 0: none yet */
};

/* --- counting: called where the daemon logs the matching event --- */

/* Start time of the rate windows; clears every counter. */
void	metrics_init(void);
/* Free everything (exit, tests). */
void	metrics_free(void);
/* Make a watch's series exist (at 0) before anything happens to it. */
void	metrics_watch_add(const char *watch);
/*
 * A file reached a final state (MANIFESTED, SKIPPED_DUPLICATE, REJECTED,
 * FAILED).  For MANIFESTED, bytes is its size and discovered_ns (wall
 * clock) starts the ingest duration; both are ignored otherwise.
 */
void	metrics_file_done(const char *watch, int state, int64_t bytes,
	    int64_t discovered_ns);
/* A worker read n bytes to hash them. */
void	metrics_hash_bytes(uint64_t n);
void	metrics_overflow(const char *watch);
/* reason: "start", "periodic", "overflow" (anything else is "other"). */
void	metrics_rescan(const char *watch, const char *reason);
void	metrics_watch_event(const char *watch);

/* --- reading: for `ingestctl status` --- */

/*
 * Files and bytes that reached MANIFESTED per second over the last
 * window_s seconds (1 to 3600; 60, 300 and 3600 are the status windows),
 * or over the time since metrics_init() when that is shorter.  Returns 0,
 * or -1 for a window out of range.
 */
int	metrics_rate(int window_s, double *files_per_s, double *bytes_per_s);
/* A watch's counters (watches removed by a reload are kept), or NULL. */
const struct metrics_watch *metrics_watch_get(const char *name);

/* --- rendering --- */

/* What the renderer reads from the rest of the daemon. */
struct metrics_gauges {
	const char	*version;
	int64_t		 start_ns;	/* wall clock */
	int64_t		 queue_depth;
	int64_t		 worker_restarts;
	int		 reload_ok;	/* the last reload (or the start) worked */
	int64_t		 reload_ns;	/* wall clock of it */
};

/*
 * Append the Prometheus text exposition (format 0.0.4): every family with
 * # HELP and # TYPE, counters ending in _total, the histogram's buckets
 * cumulative and ending with le="+Inf".
 */
void	metrics_render(struct buf *, const struct metrics_gauges *);
/* Content-Type of the rendering. */
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"
/* Tests: replace the monotonic and wall clocks (NULL: the real ones). */
void	metrics_set_clock(int64_t (*monotonic_ns)(void),
	    int64_t (*realtime_ns)(void));

/* --- export (metrics-export.c): the listener and the textfile --- */

/*
 * Apply the `metrics` settings of c (start-up: metrics_prepare() then
 * metrics_commit()).  A reload calls metrics_prepare() with the new config
 * before committing anything: it binds a changed listen address (the old
 * listener keeps serving), so a bind failure rejects the reload; then
 * metrics_commit() with the config that won (the new one, or NULL after a
 * rejected reload: the prepared listener is closed).  On -1, *err says why
 * as "FILE:LINE: metrics listen ADDR:PORT: REASON" (free it).
 */
int	metrics_prepare(const struct config *c, char **err);
void	metrics_commit(const struct config *c);
/* Shutdown: write the textfile a last time, close the listener. */
void	metrics_stop(void);

#endif
