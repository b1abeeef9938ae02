/* master: the watched staging trees at run time: roots, destinations, inotify, rescans. */
#ifndef INGESTD_WATCH_H
#define INGESTD_WATCH_H

#include <sys/queue.h>
#include <sys/types.h>

#include "conf.h"
#include "htab.h"

/* An open directory that a template's fixed prefix names. */
struct droot {
	char	*path;		/* absolute, no trailing '/' */
	char	*tmpl;		/* the template's rest, relative to path */
	int	 fd;
	dev_t	 dev;
};

/*
 * The configuration a job was started under.  Reference counted so that a
 * reload can replace a watch's rules while in-flight files finish under the
 * rules they started with.
 */
struct wrules {
	struct watch_conf	*c;		/* a private copy */
	struct droot		 to;
	struct droot		*routes;	/* same order as c->routes */
	size_t			 nroutes;
	struct droot		 manifest;
	int			 dupfd;		/* DUP_MOVE_TO directory, or -1 */
	int			 refs;
};

struct watch {
	TAILQ_ENTRY(watch)	 entry;
	char			*name;
	char			*path;
	int			 fd;		/* staging root */
	dev_t			 dev;
	struct wrules		*rules;		/* current rules */
	struct htab		 jobs;		/* rel -> struct job */
	int			 retired;	/* removed by a reload */
	int			 paused;	/* ingestctl pause: start nothing */
	/* directories inotify refused in the last walk: rescans only */
	int			 unwatched;
};
TAILQ_HEAD(watchlist, watch);

extern struct watchlist watches;

/*
 * Open everything a watch configuration needs (staging root, destination
 * and manifest prefixes, created when missing).  Returns NULL with a
 * message in *err (free it).
 */
struct wrules	*wrules_open(const struct watch_conf *, char **err);
void		 wrules_ref(struct wrules *);
void		 wrules_unref(struct wrules *);

/* Create the run-time watch for rules (takes the reference). */
struct watch	*watch_add(struct wrules *, char **err);
/* Stop watching; the object goes once its last job is done. */
void		 watch_retire(struct watch *);
struct watch	*watch_find(const char *name);

/* Arm inotify (unless --once) and scan every watch. */
int		 watch_start(void);
/* Arm and scan one watch (added by a reload). */
int		 watch_arm(struct watch *);
/* Walk every tree and notice every file (start-up, timer, overflow). */
void		 watch_rescan(const char *why);
void		 watch_stop(void);

#endif
