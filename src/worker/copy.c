/* worker: the data path (pread, hash, write, fdatasync) of hash and copy jobs. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "copy.h"
#include "hashpass.h"

uint8_t *
copy_buf_alloc(size_t size)
{
	void *p;

	if (posix_memalign(&p, COPY_ALIGN, size) != 0)
		return NULL;
	return p;
}

static int
copy_fail(struct copy_result *res, int err, const char *stage)
{
	res->err = err != 0 ? err : EIO;
	res->stage = stage;
	return -1;
}

static ssize_t
read_chunk(int fd, uint8_t *buf, size_t size, uint64_t off)
{
	ssize_t n;

	do
		n = pread(fd, buf, size, (off_t)off);
	while (n == -1 && errno == EINTR);
	return n;
}

/* Write all n bytes, across short writes and EINTR. */
static int
write_all(int fd, const uint8_t *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -1;
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
sync_fd(int fd)
{
	/* Never retried: after a failed fdatasync the page state is unknown. */
	return fdatasync(fd);
}

static int
progress_tick(const struct copy_ctx *ctx, uint64_t bytes, uint64_t *last)
{
	if (ctx->progress == NULL || bytes - *last < ctx->progress_every)
		return 0;
	*last = bytes;
	errno = 0;
	return ctx->progress(bytes, ctx->arg);
}

/*
 * Write-behind for a copy that ends in fdatasync: each COPY_FLUSH_WINDOW
 * written is handed to writeback at once, and the window before it is
 * waited for and dropped from the page cache.  The disk then writes while
 * the next chunks are read and hashed, dirty pages stay bounded, and the
 * final fdatasync has little left to do.  Only a hint: durability still
 * comes from that fdatasync alone.
 */
struct flush {
	int		fd;		/* -1: off */
	uint64_t	base;		/* dst's offset when the copy began */
	uint64_t	started;	/* writeback started up to here */
	uint64_t	prev;		/* start of the window before */
};

static void
flush_init(struct flush *f, int dst)
{
	off_t off;

	f->fd = -1;
	f->base = f->started = f->prev = 0;
	if (dst == -1 || (off = lseek(dst, 0, SEEK_CUR)) == -1)
		return;
	f->fd = dst;
	f->base = (uint64_t)off;
}

/* After `written` bytes: 0, or -1 with errno when writeback failed. */
static int
flush_behind(struct flush *f, uint64_t written)
{
	int err;

	if (f->fd == -1 || written - f->started < COPY_FLUSH_WINDOW)
		return 0;
	if (sync_file_range(f->fd, (off_t)(f->base + f->started),
	    (off_t)(written - f->started), SYNC_FILE_RANGE_WRITE) == -1)
		goto failed;
	if (f->started > 0) {
		if (sync_file_range(f->fd, (off_t)(f->base + f->prev),
		    (off_t)(f->started - f->prev), SYNC_FILE_RANGE_WAIT_BEFORE |
		    SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) == -1)
			goto failed;
		(void)posix_fadvise(f->fd, (off_t)(f->base + f->prev),
		    (off_t)(f->started - f->prev), POSIX_FADV_DONTNEED);
	}
	f->prev = f->started;
	f->started = written;
	return 0;
failed:
	err = errno;
	if (err == EIO || err == ENOSPC || err == EDQUOT)
		return -1;	/* the data did not reach the disk */
	f->fd = -1;		/* not supported here: fdatasync alone */
	return 0;
}

/*
 * The shared loop: read src to EOF, hash every chunk, write it to dst if
 * dst >= 0, with write-behind if flush.
 */
static int
pump(int src, int dst, int flush, const struct copy_ctx *ctx,
    struct copy_result *res)
{
	struct hashpass hp;
	struct flush fl;
	uint64_t last = 0;
	ssize_t n;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	(void)posix_fadvise(src, 0, 0, POSIX_FADV_SEQUENTIAL);
	flush_init(&fl, flush ? dst : -1);
	if (hashpass_init(&hp) == -1)
		return copy_fail(res, ENOMEM, "hash");
	for (;;) {
		if ((n = read_chunk(src, ctx->buf, ctx->bufsize, res->bytes)) == -1) {
			copy_fail(res, errno, "read");
			goto out;
		}
		if (n == 0)
			break;
		if (hashpass_update(&hp, ctx->buf, (size_t)n) == -1) {
			copy_fail(res, EIO, "hash");
			goto out;
		}
		if (dst != -1 && write_all(dst, ctx->buf, (size_t)n) == -1) {
			copy_fail(res, errno, "write");
			goto out;
		}
		res->bytes += (uint64_t)n;
		if (flush_behind(&fl, res->bytes) == -1) {
			copy_fail(res, errno, "write");
			goto out;
		}
		if (progress_tick(ctx, res->bytes, &last) != 0) {
			copy_fail(res, errno, "progress");
			goto out;
		}
	}
	if (hashpass_final(&hp, res->sha256, res->xxh128) == -1) {
		copy_fail(res, EIO, "hash");
		goto out;
	}
	rc = 0;
out:
	hashpass_free(&hp);
	return rc;
}

int
copy_hash(int src, int sync_src, const struct copy_ctx *ctx,
    struct copy_result *res)
{
	if (pump(src, -1, 0, ctx, res) == -1)
		return -1;
	if (sync_src && sync_fd(src) == -1)
		return copy_fail(res, errno, "sync");
	return 0;
}

int
copy_and_hash(int src, int dst, int sync_dst, const struct copy_ctx *ctx,
    struct copy_result *res)
{
	if (pump(src, dst, sync_dst, ctx, res) == -1)
		return -1;
	if (sync_dst && sync_fd(dst) == -1)
		return copy_fail(res, errno, "sync");
	return 0;
}
