/* master: JSONL manifest lines: building, durable append, and lookup by id for recovery. */
#ifndef INGESTD_MANIFEST_H
#define INGESTD_MANIFEST_H

#include <stdint.h>

#include "buf.h"
#include "db.h"

/*
 * Build one manifest line (JSON object + '\n') for an ingested file:
 * id, ingested_at, watch, path, dest, size, mtime, device, inode, sha256,
 * xxh128, and "name_escaped":true when a path held invalid UTF-8.
 */
void	manifest_line(struct buf *, const struct file_rec *);

/*
 * Append line to the manifest at rel below rootfd (directories created),
 * then fdatasync it.  A torn last line left by a crash is cut off first.
 * Returns 0, or -1 with errno.
 */
int	manifest_append(int rootfd, const char *rel, const char *line,
	    size_t len);
/*
 * The two halves of manifest_append, for group commit: write appends
 * without syncing; sync fdatasyncs the manifest written last.  Write to
 * another manifest only after syncing this one.
 */
int	manifest_write(int rootfd, const char *rel, const char *line,
	    size_t len);
int	manifest_sync(void);
/*
 * A failed write or sync cuts the file back to its last synced line, so a
 * retry never finds (and trusts) a line that may not be on disk.
 *
 * fdatasync the manifest at rel: a line found there after a crash may
 * never have been synced.  Returns 0, or -1 with errno.
 */
int	manifest_sync_path(int rootfd, const char *rel);
/* Does the manifest at rel already hold the line for id?  1, 0, -1. */
int	manifest_has_id(int rootfd, const char *rel, int64_t id);
/* Close the cached descriptor (shutdown). */
void	manifest_close(void);

#endif
