/* master: inotify watches over the staging tree, full rescans, and overflow recovery. */
#ifndef INGESTD_WATCH_H
#define INGESTD_WATCH_H

/* Arm inotify on the staging root (and every subdirectory if recursive). */
int	watch_start(void);
/* Walk the whole tree and notice every file (start-up, timer, overflow). */
void	watch_rescan(const char *why);
void	watch_stop(void);

#endif
