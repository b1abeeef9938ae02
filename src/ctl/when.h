/* ingestctl: durations (10m, 2h, 3d) and ISO 8601 times from the command line. */
#ifndef INGESTCTL_WHEN_H
#define INGESTCTL_WHEN_H

#include <stdint.h>

/*
 * A duration: one or more NUMBER UNIT pairs, units s m h d w
 * ("90s", "10m", "1h30m", "3d").  Returns 0 and the seconds, -1 on error.
 */
int	when_parse_duration(const char *s, int64_t *secs);

/*
 * An ISO 8601 time: YYYY-MM-DD, optionally followed by T (or a space)
 * HH:MM[:SS[.fraction]] and a zone (Z, +HH:MM, +HHMM, +HH).  Without a zone
 * the time is UTC, like every time ingestctl prints.  Returns 0 and
 * nanoseconds since the epoch, -1 on error.
 */
int	when_parse_iso(const char *s, int64_t *ns);

/*
 * A point in time given as either a duration back from now_ns or an ISO
 * time.  Returns 0 and nanoseconds since the epoch, -1 on error.
 */
int	when_parse_point(const char *s, int64_t now_ns, int64_t *ns);

/* "45s", "12m05s", "3h20m", "4d06h" into out[32]; negative ages print "0s". */
void	when_format_age(int64_t secs, char out[32]);

#endif
