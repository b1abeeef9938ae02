/* common: small helpers shared by all processes (allocation, hex, strings, time). */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

void *
xmalloc(size_t n)
{
	void *p;

	if ((p = malloc(n ? n : 1)) == NULL)
		fatal("out_of_memory", "bytes=%zu", n);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p;

	if ((p = calloc(n ? n : 1, size ? size : 1)) == NULL)
		fatal("out_of_memory", "count=%zu size=%zu", n, size);
	return p;
}

void *
xrealloc(void *old, size_t n)
{
	void *p;

	if ((p = realloc(old, n ? n : 1)) == NULL)
		fatal("out_of_memory", "bytes=%zu", n);
	return p;
}

char *
xstrdup(const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL)
		fatal("out_of_memory", "bytes=%zu", strlen(s));
	return p;
}

void
hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
hex_decode(const char *in, uint8_t *out, size_t n)
{
	size_t i;
	int hi, lo;

	if (strlen(in) != 2 * n)
		return -1;
	for (i = 0; i < n; i++) {
		if ((hi = hex_value(in[2 * i])) < 0 ||
		    (lo = hex_value(in[2 * i + 1])) < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int
str_copy(char *dst, const char *src, size_t dstsize)
{
	size_t n = strlen(src);

	if (dstsize == 0)
		return -1;
	if (n >= dstsize) {
		dst[0] = '\0';
		return -1;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

int
str_has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static int64_t
clock_ns(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) == -1)
		fatal("clock_gettime", "errno=%d", errno);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
now_realtime_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

int64_t
now_monotonic_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

void
time_format_iso(int64_t ns, char out[32])
{
	/*
	 * The master stamps every row: the date part changes once a second.
	 * Two slots, as a file's discovery time and the time of its insert
	 * usually fall in different seconds.
	 */
	static _Thread_local time_t last[2] = { -1, -1 };
	static _Thread_local char date[2][21];	/* "YYYY-MM-DDTHH:MM:SS." */
	static _Thread_local int next;
	time_t secs = (time_t)(ns / 1000000000);
	int ms = (int)(ns % 1000000000 / 1000000), k;
	struct tm tm;
	char tmp[96];

	if (ns < 0) {
		memcpy(out, "1970-01-01T00:00:00.000Z", 25);
		return;
	}
	if (secs == last[0] || secs == last[1]) {
		k = secs == last[0] ? 0 : 1;
	} else {
		if (gmtime_r(&secs, &tm) == NULL || tm.tm_year + 1900 > 9999) {
			memcpy(out, "1970-01-01T00:00:00.000Z", 25);
			return;
		}
		snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		    tm.tm_hour, tm.tm_min, tm.tm_sec);
		k = next;
		next = !next;
		memcpy(date[k], tmp, sizeof(date[k]) - 1);
		last[k] = secs;
	}
	memcpy(out, date[k], 20);
	out[20] = (char)('0' + ms / 100);
	out[21] = (char)('0' + ms / 10 % 10);
	out[22] = (char)('0' + ms % 10);
	out[23] = 'Z';
	out[24] = '\0';
}

int
parse_uint(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
unix_sockaddr(struct sockaddr_un *sa, const char *path, int *dirfd)
{
	const char *slash, *base;
	char *dir;
	int n;

	*dirfd = -1;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) < sizeof(sa->sun_path)) {
		memcpy(sa->sun_path, path, strlen(path) + 1);
		return (int)sizeof(*sa);
	}
	if ((slash = strrchr(path, '/')) == NULL || slash[1] == '\0') {
		errno = ENAMETOOLONG;
		return -1;
	}
	base = slash + 1;
	dir = slash == path ? xstrdup("/") :
	    strndup(path, (size_t)(slash - path));
	if (dir == NULL)
		return -1;
	*dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (*dirfd == -1)
		return -1;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s",
	    *dirfd, base);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path)) {
		close(*dirfd);
		*dirfd = -1;
		errno = ENAMETOOLONG;
		return -1;
	}
	return (int)sizeof(*sa);
}
