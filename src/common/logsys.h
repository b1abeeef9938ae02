/* common: syslog back end for log.c (levels 0..3 = debug, info, warn, error). */
#ifndef INGESTD_LOGSYS_H
#define INGESTD_LOGSYS_H

void	logsys_open(const char *ident);
void	logsys_reopen(void);
void	logsys_write(int level, const char *line);

#endif
