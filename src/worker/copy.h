/* worker: the data path: hash a source fd, or copy it to a destination fd while hashing. */
#ifndef INGESTD_COPY_H
#define INGESTD_COPY_H

#include <stddef.h>
#include <stdint.h>

#include "hashpass.h"

#define COPY_CHUNK		(1024 * 1024)		/* bytes per read */
#define COPY_ALIGN		4096
#define COPY_PROGRESS_EVERY	(64ULL * 1024 * 1024)	/* default interval */
#define COPY_FLUSH_WINDOW	(8ULL * 1024 * 1024)	/* write-behind step */

/*
 * Called after a chunk once at least `progress_every` bytes were done since
 * the last call.  A non-zero return aborts the job (stage "progress", the
 * errno the callback left).
 */
typedef int	(*copy_progress_fn)(uint64_t bytes, void *arg);

struct copy_ctx {
	uint8_t			*buf;		/* from copy_buf_alloc */
	size_t			 bufsize;
	copy_progress_fn	 progress;	/* may be NULL */
	void			*arg;
	uint64_t		 progress_every;	/* 0: after every chunk */
};

struct copy_result {
	uint64_t	bytes;		/* read (and written) so far */
	int		err;		/* errno on failure, 0 on success */
	const char	*stage;		/* on failure: "read", "write", "sync", ... */
	uint8_t		sha256[HASHPASS_SHA256_LEN];
	uint8_t		xxh128[HASHPASS_XXH128_LEN];
};

/* A COPY_ALIGN-aligned buffer of size bytes (allocate it before the sandbox). */
uint8_t	*copy_buf_alloc(size_t size);

/*
 * Hash src from offset 0 to EOF; fdatasync src too if sync_src.  Returns 0,
 * or -1 with res->err and res->stage set.  A failed fdatasync is final: it
 * is never retried.
 */
int	copy_hash(int src, int sync_src, const struct copy_ctx *,
	    struct copy_result *res);

/*
 * Read src from offset 0 to EOF, hash it and write it to dst (at dst's
 * current offset), then fdatasync dst if sync_dst (else the master makes
 * it durable with one syncfs for a batch of small copies).  With sync_dst,
 * writeback of what is written starts every COPY_FLUSH_WINDOW bytes
 * (sync_file_range) so the final fdatasync has little left.  Returns 0, or
 * -1 with res->err and res->stage set.
 */
int	copy_and_hash(int src, int dst, int sync_dst, const struct copy_ctx *,
	    struct copy_result *res);

#endif
