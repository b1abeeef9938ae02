/* master: the worker pool: fork+exec of ingest-worker, job hand-off, supervision, respawn throttling. */
#ifndef INGESTD_POOL_H
#define INGESTD_POOL_H

#include <stdint.h>

struct job;
struct worker;

int		 pool_init(int nworkers);
/* A worker that said HELLO and has no job, or NULL. */
struct worker	*pool_idle(void);
/*
 * Hand a job to w: the frame carries fds (closed here after sending, the
 * job keeps its own copies).  Returns 0, or -1 (the worker is then killed).
 */
int		 pool_submit(struct worker *, struct job *, uint16_t type,
		    const int *fds, int nfds, uint32_t flags, uint64_t size);
/* Ask every worker to exit; the loop ends once all are reaped. */
void		 pool_shutdown(void);
int		 pool_nworkers(void);
/* Workers holding a job. */
int		 pool_busy(void);

struct pool_stats {
	int	workers;	/* processes */
	int	ready;		/* said HELLO */
	int	busy;		/* holding a job */
	int	restarts;
	char	sandbox[16];	/* the weakest level reported */
};
void		 pool_stats(struct pool_stats *);

#endif
