/* worker: confine the worker process before its first job (one backend per OS). */
#ifndef INGESTD_SANDBOX_H
#define INGESTD_SANDBOX_H

#include <sys/types.h>

enum sandbox_mode {
	SANDBOX_OFF = 0,	/* no confinement at all */
	SANDBOX_AUTO,		/* best effort: skip root-only steps, warn */
	SANDBOX_REQUIRED,	/* any failed step (but unshare) is fatal */
};

struct sandbox_conf {
	int		 mode;		/* enum sandbox_mode */
	int		 keep_fd;	/* highest fd kept open (the IPC socket) */
	const char	*chroot_dir;	/* empty, root-owned directory */
	const char	*user;		/* for the log only; NULL if unknown */
	int		 have_user;	/* uid/gid below are valid */
	uid_t		 uid;
	gid_t		 gid;
};

/* What HELLO reports (sizes as in struct msg_hello). */
struct sandbox_report {
	char	level[16];	/* "full", "partial", "none" */
	char	steps[256];	/* achieved, comma separated */
	char	skipped[256];	/* skipped or failed, comma separated */
};

/* "required", "auto", "off" -> mode; -1 if unknown. */
int	sandbox_mode_parse(const char *);

/*
 * Apply every step in order (fds, net, chroot, uid, rlimit, nodump, nnp,
 * landlock, seccomp) as the mode allows and fill the report.  Returns 0, or
 * -1 in required mode when a step failed (the reason is logged); the caller
 * must then exit without doing any work.
 */
int	sandbox_enter(const struct sandbox_conf *, struct sandbox_report *);

#endif
