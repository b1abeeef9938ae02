/* master: owns the manifest files: one fsynced JSON line per ingested file, never duplicated. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "manifest.h"
#include "privop.h"
#include "util.h"

/* The manifest being appended to, kept open across lines of one hour. */
static struct {
	int	 rootfd;
	char	*rel;
	int	 fd;
	off_t	 unsynced;	/* where the lines not yet synced start, or -1 */
} cur = { -1, NULL, -1, -1 };

void
manifest_line(struct buf *b, const struct file_rec *r)
{
	int escaped = 0;

	buf_adds(b, "{\"id\":");
	json_add_int(b, r->id);
	json_add_key(b, "ingested_at", 0);
	json_add_cstring(b, r->ingested_at);
	json_add_key(b, "watch", 0);
	escaped |= json_add_cstring(b, r->watch);
	json_add_key(b, "path", 0);
	escaped |= json_add_cstring(b, r->source_path);
	json_add_key(b, "dest", 0);
	escaped |= json_add_cstring(b, r->dest ? r->dest : "");
	json_add_key(b, "size", 0);
	json_add_int(b, r->size);
	json_add_key(b, "mtime", 0);
	json_add_int(b, r->mtime_ns / 1000000000);
	json_add_key(b, "device", 0);
	json_add_uint(b, r->device);
	json_add_key(b, "inode", 0);
	json_add_uint(b, r->inode);
	json_add_key(b, "sha256", 0);
	json_add_cstring(b, r->sha256);
	json_add_key(b, "xxh128", 0);
	json_add_cstring(b, r->xxh128);
	if (escaped)
		buf_adds(b, ",\"name_escaped\":true");
	buf_adds(b, "}\n");
}

void
manifest_close(void)
{
	if (cur.fd != -1)
		close(cur.fd);
	free(cur.rel);
	cur.fd = -1;
	cur.rel = NULL;
	cur.rootfd = -1;
	cur.unsynced = -1;
}

/* Cut a torn (unterminated) last line left behind by a crash mid-write. */
static int
manifest_repair_tail(int fd, const char *rel)
{
	struct stat st;
	char tail[4096];
	off_t end, pos;
	ssize_t n, i;

	if (fstat(fd, &st) == -1)
		return -1;
	if (st.st_size == 0)
		return 0;
	if (pread(fd, tail, 1, st.st_size - 1) != 1)
		return -1;
	if (tail[0] == '\n')
		return 0;
	for (end = st.st_size; end > 0; end = pos) {
		pos = end > (off_t)sizeof(tail) ? end - (off_t)sizeof(tail) : 0;
		if ((n = pread(fd, tail, (size_t)(end - pos), pos)) <= 0)
			return -1;
		for (i = n - 1; i >= 0; i--) {
			if (tail[i] == '\n') {
				end = pos + i + 1;
				goto found;
			}
		}
	}
	end = 0;
found:
	log_ev(LOG_WARN, "manifest_torn_line_removed", "manifest=%s bytes=%lld",
	    rel, (long long)(st.st_size - end));
	if (ftruncate(fd, end) == -1 || fdatasync(fd) == -1)
		return -1;
	return 0;
}

/*
 * Whether the open manifest is still the file at its path: an operator
 * who rotates or rewrites it (mv, sed -i) must get the next line in the
 * new file, not in the one that moved away.
 */
static int
manifest_still_there(int rootfd, const char *rel)
{
	struct stat open_st, path_st;

	if (fstat(cur.fd, &open_st) == -1 ||
	    privop_lstat(rootfd, rel, &path_st) == -1)
		return 0;
	return open_st.st_dev == path_st.st_dev &&
	    open_st.st_ino == path_st.st_ino;
}

static int
manifest_open(int rootfd, const char *rel)
{
	const char *base;
	char *dir;
	int dfd, fd, saved;

	/*
	 * Lines of one batch go to the file checked at its first line: the
	 * path is looked up once per sync, not once per line.
	 */
	if (cur.fd != -1 && cur.rootfd == rootfd && strcmp(cur.rel, rel) == 0 &&
	    (cur.unsynced != -1 || manifest_still_there(rootfd, rel)))
		return cur.fd;
	manifest_close();
	dir = privop_dirname(rel, &base);
	dfd = privop_mkdirs(rootfd, dir);
	free(dir);
	if (dfd == -1)
		return -1;
	fd = openat(dfd, base, O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT) {
		fd = openat(dfd, base, O_RDWR | O_APPEND | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd != -1 && privop_fsync_dir(dfd) == -1) {
			saved = errno;
			close(fd);
			fd = -1;
			errno = saved;
		}
	}
	saved = errno;
	close(dfd);
	errno = saved;
	if (fd == -1)
		return -1;
	if (manifest_repair_tail(fd, rel) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	cur.fd = fd;
	cur.rootfd = rootfd;
	cur.rel = xstrdup(rel);
	return fd;
}

/*
 * A failed write or fdatasync leaves the file in an unknown state: never
 * fsync the same descriptor again; reopen (and repair) next time.  After a
 * failed fdatasync the lines written since the last good one are still in
 * the page cache but maybe not on disk (their pages may even be marked
 * clean), so a retry must not find them there and trust them: cut them
 * off, and the retry writes and syncs them again.
 */
static int
manifest_fail(void)
{
	int saved = errno;

	if (cur.fd != -1 && cur.unsynced != -1 &&
	    ftruncate(cur.fd, cur.unsynced) == -1)
		log_ev(LOG_ERR, "manifest_cut_failed", "manifest=%s errno=%d",
		    cur.rel, errno);
	manifest_close();
	errno = saved;
	return -1;
}

int
manifest_write(int rootfd, const char *rel, const char *line, size_t len)
{
	ssize_t n;
	size_t done = 0;
	off_t end;
	int fd;

	if ((fd = manifest_open(rootfd, rel)) == -1)
		return -1;
	if (cur.unsynced == -1) {
		/* the first line since the last sync: where a failure cuts */
		if ((end = lseek(fd, 0, SEEK_END)) == -1)
			return manifest_fail();
		cur.unsynced = end;
	}
	while (done < len) {
		n = write(fd, line + done, len - done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return manifest_fail();
		done += (size_t)n;
	}
	return 0;
}

int
manifest_sync(void)
{
	if (cur.fd == -1) {
		errno = EBADF;
		return -1;
	}
	if (fdatasync(cur.fd) == -1)
		return manifest_fail();
	cur.unsynced = -1;
	return 0;
}

int
manifest_append(int rootfd, const char *rel, const char *line, size_t len)
{
	if (manifest_write(rootfd, rel, line, len) == -1)
		return -1;
	return manifest_sync();
}

int
manifest_sync_path(int rootfd, const char *rel)
{
	if (manifest_open(rootfd, rel) == -1)
		return -1;
	return manifest_sync();
}

int
manifest_has_id(int rootfd, const char *rel, int64_t id)
{
	char prefix[48], *line = NULL;
	size_t cap = 0, plen;
	ssize_t n;
	FILE *fp;
	int fd, found = 0;

	plen = (size_t)snprintf(prefix, sizeof(prefix), "{\"id\":%lld,",
	    (long long)id);
	const char *base;
	int dfd;

	if ((dfd = privop_open_parent(rootfd, rel, &base)) == -1)
		return errno == ENOENT ? 0 : -1;
	fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	close(dfd);
	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	if ((fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		return -1;
	}
	while ((n = getline(&line, &cap, fp)) != -1) {
		if ((size_t)n > plen && line[n - 1] == '\n' &&
		    memcmp(line, prefix, plen) == 0) {
			found = 1;
			break;
		}
	}
	free(line);
	fclose(fp);
	return found;
}
