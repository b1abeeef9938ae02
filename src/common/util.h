/* common: small helpers (allocation that cannot fail silently, hex, strings, time). */
#ifndef INGESTD_UTIL_H
#define INGESTD_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);

/* Write 2*n lowercase hex digits and a NUL into out. */
void	 hex_encode(const uint8_t *in, size_t n, char *out);
/* Parse exactly 2*n hex digits; -1 on any other input. */
int	 hex_decode(const char *in, uint8_t *out, size_t n);

/* Copy with truncation check: -1 if src does not fit (dst then ""). */
int	 str_copy(char *dst, const char *src, size_t dstsize);
int	 str_has_suffix(const char *s, const char *suffix);

/* Wall clock and monotonic time in nanoseconds. */
int64_t	 now_realtime_ns(void);
int64_t	 now_monotonic_ns(void);
/* Format ns since the epoch as 2026-11-22T03:04:05.123Z (UTC) into out[32]. */
void	 time_format_iso(int64_t ns, char out[32]);

/* Parse a non-negative decimal integer in [min, max]; -1 on error. */
int	 parse_uint(const char *s, long long min, long long max, long long *out);

/*
 * Fill a unix socket address for path.  A path too long for sun_path is
 * reached through its directory: *dirfd is then an O_PATH fd of it (close
 * it after bind/connect) and the address is /proc/self/fd/N/NAME; else
 * *dirfd is -1.  Returns socklen, or -1 with errno.
 */
struct sockaddr_un;
int	 unix_sockaddr(struct sockaddr_un *, const char *path, int *dirfd);

#endif
