/* master: every path operation on staging, archive and manifests (never follows symlinks below a root). */
#ifndef INGESTD_PRIVOP_H
#define INGESTD_PRIVOP_H

#include <sys/stat.h>
#include <sys/types.h>

/*
 * All relative paths are resolved beneath an open root directory with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS):
 * a symlink or ".." anywhere below the root fails with ELOOP/EXDEV.
 */

/* Open a directory below root ("" is the root itself). */
int	privop_open_dir(int rootfd, const char *rel);
/* Open rel's parent directory and return it; *base points into rel. */
int	privop_open_parent(int rootfd, const char *rel, const char **base);
/* lstat of rel (never follows the last component either). */
int	privop_lstat(int rootfd, const char *rel, struct stat *);
/*
 * Open a source file for reading: no symlink anywhere, never blocks on a
 * FIFO, must be a regular file.  Fills st from fstat.  Returns the fd or -1
 * with errno (EINVAL + *why for "not a regular file").
 */
int	privop_open_source(int rootfd, const char *rel, struct stat *st,
	    const char **why);
/*
 * Make sure directory rel exists below root, creating missing components
 * (mode 0755) and fsyncing each parent that gained an entry.  Returns an
 * fd on the directory, or -1.
 */
int	privop_mkdirs(int rootfd, const char *rel);
/* An unnamed temporary file in dirfd (O_TMPFILE), mode 0644. */
int	privop_tmpfile(int dirfd);
/* Give the temp file its name; never replaces (EEXIST). */
int	privop_link_tmp(int tmpfd, int dirfd, const char *name);
/* renameat2(RENAME_NOREPLACE). */
int	privop_rename(int sdirfd, const char *sname, int ddirfd,
	    const char *dname);
int	privop_fsync_dir(int dirfd);
/*
 * Unlink name in dirfd only if it still is the file (dev, ino): returns 0
 * when removed, 1 if it is gone, 2 if it is another file now (left alone),
 * -1 on error.  A window remains between the fstatat and the unlinkat (and, in
 * sched.c, before a same-filesystem rename): a writer that replaces the name
 * in exactly that instant loses its new file.  POSIX has no unlink-if-inode;
 * upstream writers that rename into place make the window harmless.
 */
int	privop_unlink_if_same(int dirfd, const char *name, dev_t, ino_t);
/* Split "a/b/c" into dir "a/b" (or "") and base "c"; dir must be freed. */
char	*privop_dirname(const char *rel, const char **base);

#endif
