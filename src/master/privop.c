/* master: path operations beneath configured roots (openat2, O_TMPFILE, linkat, renameat2, dir fsync). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "privop.h"
#include "util.h"

/*
 * Without openat2 (kernels before 5.6, valgrind): walk the path one
 * component at a time with O_NOFOLLOW, refusing "..", which gives the same
 * guarantee as RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS.
 */
static int
beneath_open_walk(int rootfd, const char *rel, int flags, mode_t mode)
{
	char *copy, *p, *slash;
	int dfd, next, saved;

	if ((dfd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	copy = xstrdup(*rel ? rel : ".");
	for (p = copy; (slash = strchr(p, '/')) != NULL; p = slash + 1) {
		*slash = '\0';
		if (strcmp(p, "..") == 0) {
			errno = EXDEV;
			goto fail;
		}
		if (*p == '\0' || strcmp(p, ".") == 0)
			continue;
		next = openat(dfd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (next == -1)
			goto fail;
		close(dfd);
		dfd = next;
	}
	if (strcmp(p, "..") == 0) {
		errno = EXDEV;
		goto fail;
	}
	next = openat(dfd, *p ? p : ".", flags | O_NOFOLLOW | O_CLOEXEC, mode);
	saved = errno;
	close(dfd);
	free(copy);
	errno = saved;
	return next;
fail:
	saved = errno;
	close(dfd);
	free(copy);
	errno = saved;
	return -1;
}

static int
beneath_open(int rootfd, const char *rel, int flags, mode_t mode)
{
	static int have_openat2 = 1;
	struct open_how how;
	long fd;

	if (!have_openat2)
		return beneath_open_walk(rootfd, rel, flags, mode);
	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(flags | O_CLOEXEC);
	how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
	    RESOLVE_NO_MAGICLINKS;
	do {
		fd = syscall(SYS_openat2, rootfd, *rel ? rel : ".", &how,
		    sizeof(how));
	} while (fd == -1 && errno == EAGAIN);
	if (fd == -1 && errno == ENOSYS) {
		have_openat2 = 0;
		return beneath_open_walk(rootfd, rel, flags, mode);
	}
	return (int)fd;
}

int
privop_open_dir(int rootfd, const char *rel)
{
	return beneath_open(rootfd, rel, O_RDONLY | O_DIRECTORY, 0);
}

char *
privop_dirname(const char *rel, const char **base)
{
	const char *slash = strrchr(rel, '/');
	char *dir;

	if (slash == NULL) {
		*base = rel;
		return xstrdup("");
	}
	*base = slash + 1;
	dir = xmalloc((size_t)(slash - rel) + 1);
	memcpy(dir, rel, (size_t)(slash - rel));
	dir[slash - rel] = '\0';
	return dir;
}

int
privop_open_parent(int rootfd, const char *rel, const char **base)
{
	char *dir = privop_dirname(rel, base);
	int fd, saved;

	fd = privop_open_dir(rootfd, dir);
	saved = errno;
	free(dir);
	errno = saved;
	return fd;
}

int
privop_lstat(int rootfd, const char *rel, struct stat *st)
{
	const char *base;
	int dfd, rc, saved;

	/* one component: its parent is the root itself, nothing to resolve */
	if (*rel != '\0' && strchr(rel, '/') == NULL)
		return fstatat(rootfd, rel, st, AT_SYMLINK_NOFOLLOW);
	if ((dfd = privop_open_parent(rootfd, rel, &base)) == -1)
		return -1;
	rc = fstatat(dfd, base, st, AT_SYMLINK_NOFOLLOW);
	saved = errno;
	close(dfd);
	errno = saved;
	return rc;
}

int
privop_open_source(int rootfd, const char *rel, struct stat *st,
    const char **why)
{
	int fd, flags;

	*why = NULL;
	fd = beneath_open(rootfd, rel,
	    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0);
	if (fd == -1) {
		if (errno == ELOOP || errno == EXDEV)
			*why = "symlink in path";
		return -1;
	}
	if (fstat(fd, st) == -1)
		goto fail;
	if (!S_ISREG(st->st_mode)) {
		*why = "not a regular file";
		errno = EINVAL;
		goto fail;
	}
	/* O_NONBLOCK only guarded the open against FIFOs */
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == -1)
		goto fail;
	return fd;
fail:
	flags = errno;
	close(fd);
	errno = flags;
	return -1;
}

int
privop_fsync_dir(int dirfd)
{
	int rc;

	do {
		rc = fsync(dirfd);
	} while (rc == -1 && errno == EINTR);
	return rc;
}

/* Every component of rel is a name: not empty, ".", or "..". */
static int
components_ok(const char *rel)
{
	const char *p, *end;
	size_t n;

	if (*rel == '\0')
		return 1;	/* the root itself */
	for (p = rel;; p = end + 1) {
		end = strchr(p, '/');
		n = end ? (size_t)(end - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if (end == NULL)
			return 1;
	}
}

int
privop_mkdirs(int rootfd, const char *rel)
{
	char *copy, *p, *slash;
	int dfd, next, saved;

	if (!components_ok(rel)) {
		errno = EINVAL;
		return -1;
	}
	/* nearly always there already: one open instead of the walk */
	if ((dfd = privop_open_dir(rootfd, rel)) != -1 || errno != ENOENT)
		return dfd;
	if ((dfd = privop_open_dir(rootfd, "")) == -1)
		return -1;
	copy = xstrdup(rel);
	for (p = copy; *p != '\0'; p = slash + 1) {
		if ((slash = strchr(p, '/')) != NULL)
			*slash = '\0';
		if (mkdirat(dfd, p, 0755) == 0) {
			if (privop_fsync_dir(dfd) == -1)
				goto fail;
		} else if (errno != EEXIST) {
			goto fail;
		}
		if ((next = beneath_open(dfd, p, O_RDONLY | O_DIRECTORY, 0)) == -1)
			goto fail;
		close(dfd);
		dfd = next;
		if (slash == NULL)
			break;
	}
	free(copy);
	return dfd;
fail:
	saved = errno;
	free(copy);
	close(dfd);
	errno = saved;
	return -1;
}

int
privop_tmpfile(int dirfd)
{
	return openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
}

int
privop_link_tmp(int tmpfd, int dirfd, const char *name)
{
	char proc[64];

	/*
	 * linkat(fd, "", ..., AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; the
	 * /proc/self/fd path works for any user (DESIGN.md section 8).
	 */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", tmpfd);
	return linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW);
}

int
privop_rename(int sdirfd, const char *sname, int ddirfd, const char *dname)
{
	return renameat2(sdirfd, sname, ddirfd, dname, RENAME_NOREPLACE);
}

int
privop_unlink_if_same(int dirfd, const char *name, dev_t dev, ino_t ino)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 1 : -1;
	if (st.st_dev != dev || st.st_ino != ino)
		return 2;
	if (unlinkat(dirfd, name, 0) == -1)
		return errno == ENOENT ? 1 : -1;
	return 0;
}
