/* master: the process-wide context of ingestd (one libevent loop, one DB, one set of roots). */
#ifndef INGESTD_INGESTD_H
#define INGESTD_INGESTD_H

#include <sys/types.h>

#include "conf.h"

struct event_base;
struct db;

struct ingestd {
	struct config		*conf;
	struct event_base	*base;
	struct db		*db;		/* NULL only in --dry-run without a DB */
	int			 draining;	/* SIGTERM seen: finish in-flight work */
	int			 failed;	/* files that ended FAILED this run */
	int			 ingested;
};

extern struct ingestd *env;

/* Called when nothing is in flight any more (--once, drain). */
void	ingestd_idle(void);

#endif
