/* common: the syslog(3) back end of the log module (kept apart: <syslog.h> macros clash with log.h's level names). */
#include <stddef.h>
#include <syslog.h>

#include "logsys.h"

void
logsys_open(const char *ident)
{
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	/* openlog keeps the pointer: ident must be a static string */
}

void
logsys_reopen(void)
{
	closelog();
	openlog(NULL, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
logsys_write(int level, const char *line)
{
	static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };

	if (level < 0)
		level = 0;
	if (level > 3)
		level = 3;
	syslog(prio[level], "%s", line);
}
