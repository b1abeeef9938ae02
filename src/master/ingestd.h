/* master: the process-wide context of ingestd (one libevent loop, one DB, one set of roots). */
#ifndef INGESTD_INGESTD_H
#define INGESTD_INGESTD_H

#include <sys/types.h>
#include <stdint.h>

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
	int64_t			 started_ns;	/* wall clock */
	int			 generation;	/* 1 + successful reloads */
	int			 reloads;
	int			 reload_failures;
	int			 last_reload_ok;	/* -1 never, 0 rejected, 1 ok */
	int64_t			 last_reload_ns;
	char			*last_reload_error;	/* FILE:LINE: lines */
};

extern struct ingestd *env;

/*
 * Validate and apply the configuration file (SIGHUP, ingestctl reload).
 * Returns 0 applied, -1 rejected, 1 nothing to reload (quick mode); on
 * -1 and 1 *errors says why (free it).
 */
int	ingestd_reload(char **errors);

/* Called when nothing is in flight any more (--once, drain). */
void	ingestd_idle(void);

#endif
