/* worker: the Linux sandbox (fds, namespaces, chroot, uid, rlimits, Landlock, seccomp). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <linux/landlock.h>
#include <seccomp.h>

#include "log.h"
#include "sandbox.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define SANDBOX_SANITIZERS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define SANDBOX_SANITIZERS 1
#endif
#endif

/*
 * Landlock UAPI beyond ABI 2.  Debian 12's <linux/landlock.h> stops at ABI 2,
 * so the later constants and the ruleset fields below are copied from the
 * kernel's include/uapi/linux/landlock.h (values are stable kernel ABI).
 */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE		(1ULL << 14)	/* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV		(1ULL << 15)	/* ABI 5 */
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP		(1ULL << 0)	/* ABI 4 */
#define LANDLOCK_ACCESS_NET_CONNECT_TCP		(1ULL << 1)	/* ABI 4 */
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET	(1ULL << 0)	/* ABI 6 */
#define LANDLOCK_SCOPE_SIGNAL			(1ULL << 1)	/* ABI 6 */
#endif

/* struct landlock_ruleset_attr as of ABI 6 (kernel UAPI layout). */
struct ll_ruleset_attr {
	uint64_t	handled_access_fs;
	uint64_t	handled_access_net;	/* ABI 4 */
	uint64_t	scoped;			/* ABI 6 */
};

#define STEP_ROOT	0x1	/* needs root: skipped in auto mode otherwise */
#define STEP_OPTIONAL	0x2	/* failure never fatal, even when required */

struct step {
	const char	*name;
	int		(*apply)(const struct sandbox_conf *, const char **why);
	int		 flags;
};

static int	step_fds(const struct sandbox_conf *, const char **);
static int	step_net(const struct sandbox_conf *, const char **);
static int	step_chroot(const struct sandbox_conf *, const char **);
static int	step_uid(const struct sandbox_conf *, const char **);
static int	step_rlimit(const struct sandbox_conf *, const char **);
static int	step_nodump(const struct sandbox_conf *, const char **);
static int	step_nnp(const struct sandbox_conf *, const char **);
static int	step_landlock(const struct sandbox_conf *, const char **);
static int	step_seccomp(const struct sandbox_conf *, const char **);

/* The order matters: each step may rely on the ones before it. */
static const struct step steps[] = {
	{ "fds",	step_fds,	0 },
	{ "net",	step_net,	STEP_ROOT | STEP_OPTIONAL },
	{ "chroot",	step_chroot,	STEP_ROOT },
	{ "uid",	step_uid,	STEP_ROOT },
	{ "rlimit",	step_rlimit,	0 },
	{ "nodump",	step_nodump,	0 },
	{ "nnp",	step_nnp,	0 },
	{ "landlock",	step_landlock,	0 },
	{ "seccomp",	step_seccomp,	0 },
};

int
sandbox_mode_parse(const char *s)
{
	if (strcmp(s, "required") == 0)
		return SANDBOX_REQUIRED;
	if (strcmp(s, "auto") == 0)
		return SANDBOX_AUTO;
	if (strcmp(s, "off") == 0)
		return SANDBOX_OFF;
	return -1;
}

static int
step_fds(const struct sandbox_conf *c, const char **why)
{
	int fd, max;

	*why = "close_range";
	if (close_range((unsigned int)c->keep_fd + 1, ~0U, 0) == 0)
		return 0;
	if (errno != ENOSYS)
		return -1;
	/* Kernels before 5.9: close one by one up to the fd limit. */
	if ((max = (int)sysconf(_SC_OPEN_MAX)) < 0)
		max = 1024;
	for (fd = c->keep_fd + 1; fd < max; fd++)
		(void)close(fd);
	return 0;
}

static int
step_net(const struct sandbox_conf *c, const char **why)
{
	*why = "unshare";
	return unshare(CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS);
}

/* Create the chroot directory if it is missing and we are root. */
static int
chroot_dir_create(const char *dir)
{
	if (geteuid() != 0)
		return -1;
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		return -1;
	log_ev(LOG_INFO, "sandbox_chroot_created", "dir=%s", dir);
	return 0;
}

static int
dir_is_empty(int dirfd)
{
	struct dirent *de;
	DIR *d;
	int fd, empty = 1;

	if ((fd = dup(dirfd)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	}
	closedir(d);
	return empty;
}

/*
 * Refuse anything but a real, root-owned, not group/other writable, empty
 * directory.  Returns an fd on the checked directory, or -1 with *why set.
 */
static int
chroot_dir_open(const char *dir, const char **why)
{
	struct stat st, fst;
	int fd;

	*why = "lstat";
	if (lstat(dir, &st) == -1) {
		if (errno != ENOENT || chroot_dir_create(dir) == -1)
			return -1;
		if (lstat(dir, &st) == -1)
			return -1;
	}
	*why = "not a directory";
	errno = ENOTDIR;
	if (!S_ISDIR(st.st_mode))
		return -1;
	*why = "not owned by root";
	errno = EPERM;
	if (st.st_uid != 0)
		return -1;
	*why = "group or other writable";
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		return -1;
	*why = "open";
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	*why = "replaced while checked";
	if (fstat(fd, &fst) == -1 || fst.st_dev != st.st_dev ||
	    fst.st_ino != st.st_ino) {
		errno = EPERM;
		goto fail;
	}
	*why = "not empty";
	switch (dir_is_empty(fd)) {
	case 1:
		return fd;
	case 0:
		errno = ENOTEMPTY;
		break;
	default:
		*why = "readdir";
		break;
	}
fail:
	close(fd);
	return -1;
}

static int
step_chroot(const struct sandbox_conf *c, const char **why)
{
	int fd, saved;

	if ((fd = chroot_dir_open(c->chroot_dir, why)) == -1)
		return -1;
	/* chroot into the very directory that was checked, not a path. */
	*why = "fchdir";
	if (fchdir(fd) == -1)
		goto fail;
	*why = "chroot";
	if (chroot(".") == -1)
		goto fail;
	*why = "chdir";
	if (chdir("/") == -1)
		goto fail;
	close(fd);
	return 0;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

static int
step_uid(const struct sandbox_conf *c, const char **why)
{
	uid_t r, e, s;

	*why = "no such user";
	errno = ENOENT;
	if (!c->have_user)
		return -1;
	*why = "user is root";
	errno = EPERM;
	if (c->uid == 0 || c->gid == 0)
		return -1;
	*why = "setgroups";
	if (setgroups(1, &c->gid) == -1)
		return -1;
	*why = "setresgid";
	if (setresgid(c->gid, c->gid, c->gid) == -1)
		return -1;
	*why = "setresuid";
	if (setresuid(c->uid, c->uid, c->uid) == -1)
		return -1;
	*why = "uid not dropped";
	errno = EPERM;
	if (getresuid(&r, &e, &s) == -1 || r != c->uid || e != c->uid ||
	    s != c->uid)
		return -1;
	*why = "setuid(0) succeeded after the drop";
	if (setuid(0) != -1)
		return -1;
	return 0;
}

static int
limit_set(int resource, rlim_t value)
{
	struct rlimit rl = { value, value };

	return setrlimit(resource, &rl);
}

static int
step_rlimit(const struct sandbox_conf *c, const char **why)
{
	*why = "RLIMIT_CORE";
	if (limit_set(RLIMIT_CORE, 0) == -1)
		return -1;
	/* 0-3 plus the two fds of a copy job and some slack. */
	*why = "RLIMIT_NOFILE";
	if (limit_set(RLIMIT_NOFILE, 8) == -1)
		return -1;
	*why = "RLIMIT_MEMLOCK";
	if (limit_set(RLIMIT_MEMLOCK, 0) == -1)
		return -1;
	/* Only after the uid drop: setresuid itself checks RLIMIT_NPROC. */
	*why = "RLIMIT_NPROC";
	if (limit_set(RLIMIT_NPROC, 0) == -1)
		return -1;
	return 0;
}

static int
step_nodump(const struct sandbox_conf *c, const char **why)
{
	*why = "PR_SET_DUMPABLE";
	return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

static int
step_nnp(const struct sandbox_conf *c, const char **why)
{
	*why = "PR_SET_NO_NEW_PRIVS";
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

/* Every right the running kernel's Landlock ABI knows; returns the attr size. */
static size_t
landlock_attr_fill(int abi, struct ll_ruleset_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->handled_access_fs = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;
	if (abi >= 2)
		a->handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		a->handled_access_fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		a->handled_access_fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	if (abi < 4)
		return offsetof(struct ll_ruleset_attr, handled_access_net);
	a->handled_access_net = LANDLOCK_ACCESS_NET_BIND_TCP |
	    LANDLOCK_ACCESS_NET_CONNECT_TCP;
	if (abi < 6)
		return offsetof(struct ll_ruleset_attr, scoped);
	a->scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
	return sizeof(*a);
}

static int
step_landlock(const struct sandbox_conf *c, const char **why)
{
	struct ll_ruleset_attr attr;
	size_t size;
	long abi;
	int fd, saved;

	*why = "landlock_create_ruleset(VERSION)";
	abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1)
		return -1;
	size = landlock_attr_fill((int)abi, &attr);
	*why = "landlock_create_ruleset";
	fd = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
	if (fd == -1)
		return -1;
	/* No rules: the worker may not open, create or remove anything. */
	*why = "landlock_restrict_self";
	if (syscall(SYS_landlock_restrict_self, fd, 0) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	log_ev(LOG_DEBUG, "sandbox_landlock", "abi=%ld", abi);
	return 0;
}

/*
 * The seccomp allowlist, top to bottom.  Everything else kills the whole
 * process (SIGSYS, which the master reports as a sandbox violation).
 */
static const int seccomp_allowed[] = {
	/* The data path on the fds the master handed over. */
	SCMP_SYS(read),
	SCMP_SYS(pread64),
	SCMP_SYS(write),
	SCMP_SYS(writev),
	SCMP_SYS(lseek),
	SCMP_SYS(fadvise64),
	SCMP_SYS(fdatasync),
	SCMP_SYS(sync_file_range),
	SCMP_SYS(fsync),
	SCMP_SYS(close),
	/* glibc's fstat() is newfstatat(fd, "", AT_EMPTY_PATH) or statx. */
	SCMP_SYS(fstat),
	SCMP_SYS(newfstatat),
	SCMP_SYS(statx),
	/* Frames (and fds) from and to the master on fd 3. */
	SCMP_SYS(recvmsg),
	SCMP_SYS(sendmsg),
	/* Memory (mmap and mprotect are below, without PROT_EXEC). */
	SCMP_SYS(brk),
	SCMP_SYS(munmap),
	SCMP_SYS(mremap),
	SCMP_SYS(madvise),
	/* Signals, time, locks, randomness. */
	SCMP_SYS(rt_sigreturn),
	SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(restart_syscall),
	SCMP_SYS(clock_gettime),
	SCMP_SYS(clock_nanosleep),
	SCMP_SYS(nanosleep),
	SCMP_SYS(getpid),
	SCMP_SYS(gettid),
	SCMP_SYS(futex),
	SCMP_SYS(getrandom),
	/* The way out (the worker always leaves with _exit). */
	SCMP_SYS(exit),
	SCMP_SYS(exit_group),
#ifdef SANDBOX_SANITIZERS
	/*
	 * ASan/UBSan runtime: its allocator and error path use these (an
	 * alternate signal stack for its SEGV handler, spin-lock yields,
	 * limits queries).  Reports still cannot be symbolised: no /proc here.
	 */
	SCMP_SYS(sigaltstack),
	SCMP_SYS(sched_yield),
	SCMP_SYS(prlimit64),
	SCMP_SYS(getrlimit),
	SCMP_SYS(rt_sigaction),
#endif
};

/*
 * Sanitizer builds only: when the ASan/UBSan runtime prints a report it
 * asks whether stderr is a tty, where the binary is, and reads
 * /proc/self/maps and /proc/self/cmdline with the legacy open(2) (glibc
 * itself only uses openat, which stays fatal).  Fail those with an errno
 * instead of killing, so that the report reaches the log, unsymbolised.
 */
static int
seccomp_sanitizer_rules_add(scmp_filter_ctx ctx)
{
#ifdef SANDBOX_SANITIZERS
	static const struct {
		int	nr;
		int	err;
	} denied[] = {
		{ SCMP_SYS(ioctl),	ENOTTY },
		{ SCMP_SYS(open),	ENOENT },
		{ SCMP_SYS(readlink),	ENOENT },
		{ SCMP_SYS(readlinkat),	ENOENT },
	};
	size_t i;
	int rc;

	for (i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(denied[i].err),
		    denied[i].nr, 0)) < 0)
			return rc;
#endif
	return 0;
}

static int
seccomp_rules_add(scmp_filter_ctx ctx, const char **why)
{
	size_t i;
	int rc;

	*why = "seccomp_rule_add";
	for (i = 0; i < sizeof(seccomp_allowed) / sizeof(seccomp_allowed[0]); i++)
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
		    seccomp_allowed[i], 0)) < 0)
			return rc;
	/* Memory, but never executable memory. */
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) < 0)
		return rc;
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) < 0)
		return rc;
	/* abort() (assert, glibc's fortify checks) signals this process only. */
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
	    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0))) < 0)
		return rc;
	return seccomp_sanitizer_rules_add(ctx);
}

static int
step_seccomp(const struct sandbox_conf *c, const char **why)
{
	scmp_filter_ctx ctx;
	int rc;

	*why = "seccomp_init";
	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	*why = "seccomp_attr_set";
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS)) < 0)
		goto out;
	if ((rc = seccomp_rules_add(ctx, why)) < 0)
		goto out;
	*why = "seccomp_load";
	rc = seccomp_load(ctx);
out:
	seccomp_release(ctx);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return 0;
}

static void
list_add(char *list, size_t size, const char *name)
{
	size_t len = strlen(list);

	/* The step names are short and fixed: 256 bytes always suffice. */
	(void)snprintf(list + len, size - len, "%s%s", len ? "," : "", name);
}

static void
report_level(struct sandbox_report *r)
{
	const char *level;

	if (r->steps[0] == '\0')
		level = "none";
	else if (r->skipped[0] == '\0')
		level = "full";
	else
		level = "partial";
	(void)snprintf(r->level, sizeof(r->level), "%s", level);
}

/* Apply one step; returns -1 only when the failure is fatal in this mode. */
static int
step_run(const struct step *s, const struct sandbox_conf *c, int root,
    struct sandbox_report *r)
{
	const char *why = "";
	int fatal_fail;

	if ((s->flags & STEP_ROOT) && !root && c->mode == SANDBOX_AUTO) {
		log_ev(LOG_WARN, "sandbox_step_skipped",
		    "step=%s reason=%s", s->name, "not root");
		list_add(r->skipped, sizeof(r->skipped), s->name);
		return 0;
	}
	if (s->apply(c, &why) == 0) {
		list_add(r->steps, sizeof(r->steps), s->name);
		return 0;
	}
	fatal_fail = c->mode == SANDBOX_REQUIRED && !(s->flags & STEP_OPTIONAL);
	log_ev(fatal_fail ? LOG_ERR : LOG_WARN, "sandbox_step_failed",
	    "step=%s what=%s error=%s mode=%s", s->name, why, strerror(errno),
	    c->mode == SANDBOX_REQUIRED ? "required" : "auto");
	list_add(r->skipped, sizeof(r->skipped), s->name);
	return fatal_fail ? -1 : 0;
}

int
sandbox_enter(const struct sandbox_conf *c, struct sandbox_report *r)
{
	size_t i;
	int root = geteuid() == 0;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (c->mode == SANDBOX_OFF)
			list_add(r->skipped, sizeof(r->skipped), steps[i].name);
		else if (step_run(&steps[i], c, root, r) == -1)
			return -1;
	}
	report_level(r);
	return 0;
}
