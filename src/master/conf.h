/* master: the effective configuration (from the config file, or one watch built from quick-mode flags). */
#ifndef INGESTD_CONF_H
#define INGESTD_CONF_H

#include <stddef.h>
#include <sys/queue.h>

enum complete_mode {
	COMPLETE_STABILITY = 0,
	COMPLETE_SIDECAR,
	COMPLETE_CLOSE_WRITE,
};

enum action {
	ACTION_MOVE = 0,
	ACTION_COPY,
	ACTION_LINK,
};

enum dup_policy {
	DUP_DELETE = 0,
	DUP_KEEP,
	DUP_MOVE_TO,
};

enum hash_kind {
	HASH_SHA256 = 0,
	HASH_XXH128,
};

/* `route GLOB to TEMPLATE`: the first route whose glob matches wins. */
struct route {
	TAILQ_ENTRY(route)	 entry;
	char			*glob;		/* fnmatch(3) on the file name */
	char			*to;		/* absolute path template */
};
TAILQ_HEAD(routeq, route);

struct watch_conf {
	TAILQ_ENTRY(watch_conf)	 entry;
	char			*name;
	char			*path;		/* staging root, absolute */
	int			 recursive;
	char			**match;	/* globs on the name; none: all */
	size_t			 nmatch;
	char			**ignore;	/* globs on the name */
	size_t			 nignore;
	int			 complete;	/* enum complete_mode */
	int			 stability_secs;
	char			*sidecar_suffix;
	long long		 min_size;	/* bytes, 0: none */
	long long		 max_size;	/* bytes, 0: no limit */
	int			 action;	/* enum action */
	struct routeq		 routes;
	char			*to;		/* absolute destination template */
	char			*manifest;	/* absolute manifest template */
	int			 duplicate;	/* enum dup_policy */
	char			*duplicate_dir;	/* DUP_MOVE_TO */
	int			 retry;		/* attempts before FAILED */
	int			 backoff_secs;	/* first retry delay, doubling */
	char			*file;		/* where the block starts */
	int			 line;
};
TAILQ_HEAD(watchq, watch_conf);

struct config {
	struct watchq		 watches;
	char			*file;		/* config file, NULL in quick mode */
	char			*state_dir;
	char			*state_path;	/* state_dir/audit.db unless --state-path */
	char			*control_path;
	char			*control_read_group;	/* NULL: root only */
	char			*control_admin_group;
	char			*user;		/* NULL: worker default */
	int			 workers;
	int			 hash;		/* enum hash_kind: identity hash */
	int			 log_json;
	int			 rescan_secs;
	char			*sandbox;	/* required | auto | off */
	char			*log_file;	/* NULL: stderr (or syslog) */
	char			*metrics_addr;	/* numeric address; NULL: no listener */
	int			 metrics_port;	/* 0: ephemeral */
	char			*metrics_at;	/* "FILE:LINE" of `metrics listen` */
	char			*metrics_textfile;	/* NULL: none */
	int			 metrics_interval_secs;	/* textfile rewrite period */

	/* run-time only: from the command line or built in */
	int			 dry_run;
	int			 once;
	int			 log_level;
	char			*worker_path;
	char			*chroot_dir;
	int			 backoff_max_secs;
	int			 watchdog_secs;
};

#endif
