/* ingestctl: parses the durations and times operators type, formats ages. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "when.h"

/* Written by hand: strptime(3) accepts too much (no range checks, no zones). */

#define NS_PER_SEC	1000000000LL

int
when_parse_duration(const char *s, int64_t *secs)
{
	int64_t total = 0, n, unit;
	const char *p = s;

	if (s == NULL || *s == '\0')
		return -1;
	while (*p != '\0') {
		if (*p < '0' || *p > '9')
			return -1;
		for (n = 0; *p >= '0' && *p <= '9'; p++) {
			if (n > (INT64_MAX - 9) / 10)
				return -1;
			n = n * 10 + (*p - '0');
		}
		switch (*p++) {
		case 's':
			unit = 1;
			break;
		case 'm':
			unit = 60;
			break;
		case 'h':
			unit = 3600;
			break;
		case 'd':
			unit = 86400;
			break;
		case 'w':
			unit = 7 * 86400;
			break;
		default:	/* no unit, or an unknown one */
			return -1;
		}
		/* keep it within what nanoseconds in an int64 can hold */
		if (n > INT64_MAX / NS_PER_SEC / unit ||
		    total > INT64_MAX / NS_PER_SEC - n * unit)
			return -1;
		total += n * unit;
	}
	*secs = total;
	return 0;
}

/* Exactly n decimal digits at *p; advances *p. */
static int
digits(const char **p, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int
days_in_month(int year, int month)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* Z, +HH:MM, +HHMM, +HH or nothing; the offset east of UTC in seconds. */
static int
parse_zone(const char *p, int *offset)
{
	int sign, hh, mm = 0;

	*offset = 0;
	if (*p == '\0' || ((*p == 'Z' || *p == 'z') && p[1] == '\0'))
		return 0;
	if (*p != '+' && *p != '-')
		return -1;
	sign = *p++ == '-' ? -1 : 1;
	if (digits(&p, 2, &hh) == -1 || hh > 23)
		return -1;
	if (*p == ':')
		p++;
	if (*p != '\0' && (digits(&p, 2, &mm) == -1 || mm > 59))
		return -1;
	if (*p != '\0')
		return -1;
	*offset = sign * (hh * 3600 + mm * 60);
	return 0;
}

int
when_parse_iso(const char *s, int64_t *ns)
{
	const char *p = s;
	struct tm tm;
	int year, mon, day, hh = 0, mi = 0, ss = 0, offset, scale;
	int64_t frac = 0;
	time_t t;

	if (digits(&p, 4, &year) == -1 || *p++ != '-' ||
	    digits(&p, 2, &mon) == -1 || *p++ != '-' ||
	    digits(&p, 2, &day) == -1)
		return -1;
	if (year < 1970 || mon < 1 || mon > 12 || day < 1 ||
	    day > days_in_month(year, mon))
		return -1;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (digits(&p, 2, &hh) == -1 || hh > 23 || *p++ != ':' ||
		    digits(&p, 2, &mi) == -1 || mi > 59)
			return -1;
		if (*p == ':') {
			p++;
			if (digits(&p, 2, &ss) == -1 || ss > 60)
				return -1;
			if (*p == '.' || *p == ',') {
				p++;
				if (*p < '0' || *p > '9')
					return -1;
				for (scale = 0; *p >= '0' && *p <= '9'; p++)
					if (scale++ < 9)
						frac = frac * 10 + (*p - '0');
				for (; scale < 9; scale++)
					frac *= 10;
			}
		}
	}
	if (parse_zone(p, &offset) == -1)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mi;
	tm.tm_sec = ss;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	t -= offset;
	if (t < 0)
		return -1;
	/* past 2262 nanoseconds overflow: later than anything recorded */
	if ((int64_t)t > INT64_MAX / NS_PER_SEC - 1)
		*ns = INT64_MAX;
	else
		*ns = (int64_t)t * NS_PER_SEC + frac;
	return 0;
}

int
when_parse_point(const char *s, int64_t now_ns, int64_t *ns)
{
	int64_t secs;

	if (when_parse_duration(s, &secs) == 0) {
		*ns = now_ns - secs * NS_PER_SEC;
		if (*ns < 0)
			*ns = 0;
		return 0;
	}
	return when_parse_iso(s, ns);
}

void
when_format_age(int64_t secs, char out[32])
{
	if (secs < 0)
		secs = 0;
	if (secs < 60)
		snprintf(out, 32, "%llds", (long long)secs);
	else if (secs < 3600)
		snprintf(out, 32, "%lldm%02llds", (long long)(secs / 60),
		    (long long)(secs % 60));
	else if (secs < 86400)
		snprintf(out, 32, "%lldh%02lldm", (long long)(secs / 3600),
		    (long long)(secs % 3600 / 60));
	else
		snprintf(out, 32, "%lldd%02lldh", (long long)(secs / 86400),
		    (long long)(secs % 86400 / 3600));
}
