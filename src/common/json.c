/* common: JSON string/number writer for manifests and JSON logs (all processes). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "json.h"

/*
 * Written by hand: the output must escape invalid UTF-8 reversibly
 * (surrogateescape), which none of the usual C JSON libraries do, and the
 * writer is small.
 */

static const char hexdigits[] = "0123456789abcdef";

/* Append \u00XX (control characters, DEL) or \udcXX (stray bytes). */
static void
json_add_uescape(struct buf *b, const char *prefix, uint8_t c)
{
	char out[6];

	memcpy(out, prefix, 4);
	out[4] = hexdigits[c >> 4];
	out[5] = hexdigits[c & 0xf];
	buf_add(b, out, sizeof(out));
}

/* Append the escape for an ASCII byte that may not appear raw in JSON. */
static void
json_add_ascii_escape(struct buf *b, uint8_t c)
{
	switch (c) {
	case '"':
		buf_add(b, "\\\"", 2);
		break;
	case '\\':
		buf_add(b, "\\\\", 2);
		break;
	case '\b':
		buf_add(b, "\\b", 2);
		break;
	case '\f':
		buf_add(b, "\\f", 2);
		break;
	case '\n':
		buf_add(b, "\\n", 2);
		break;
	case '\r':
		buf_add(b, "\\r", 2);
		break;
	case '\t':
		buf_add(b, "\\t", 2);
		break;
	default:
		json_add_uescape(b, "\\u00", c);
		break;
	}
}

static int
ascii_needs_escape(uint8_t c)
{
	return c < 0x20 || c == '"' || c == '\\' || c == 0x7f;
}

static int
utf8_is_cont(uint8_t c)
{
	return (c & 0xc0) == 0x80;
}

/*
 * Length of the well-formed UTF-8 sequence starting at p (lead byte >= 0x80),
 * or 0 if there is none (Unicode 15, table 3-7: no overlongs, no surrogates,
 * nothing above U+10FFFF, no truncated sequences).
 */
static size_t
utf8_seq_len(const uint8_t *p, size_t avail)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;	/* continuation byte, C0, C1, F5..FF */
	if (avail < n)
		return 0;
	/* The second byte's range rules out overlongs, surrogates, > 10FFFF. */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (!utf8_is_cont(p[i]))
			return 0;
	return n;
}

int
json_add_string(struct buf *b, const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0, run = 0, n;
	int escaped = 0;

	buf_addc(b, '"');
	while (i < len) {
		if (p[i] < 0x80 && !ascii_needs_escape(p[i])) {
			i++;
			continue;
		}
		if (p[i] >= 0x80 && (n = utf8_seq_len(p + i, len - i)) > 0) {
			i += n;
			continue;
		}
		/* Flush the plain run before p[i], then escape p[i]. */
		if (i > run)
			buf_add(b, p + run, i - run);
		if (p[i] < 0x80)
			json_add_ascii_escape(b, p[i]);
		else {
			json_add_uescape(b, "\\udc", p[i]);
			escaped = 1;
		}
		run = ++i;
	}
	if (i > run)
		buf_add(b, p + run, i - run);
	buf_addc(b, '"');
	return escaped;
}

int
json_add_cstring(struct buf *b, const char *s)
{
	if (s == NULL) {
		buf_add(b, "null", 4);
		return 0;
	}
	return json_add_string(b, s, strlen(s));
}

/* Decimal digits without printf: a manifest line has five numbers. */
void
json_add_uint(struct buf *b, unsigned long long v)
{
	char d[24];
	size_t i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	buf_add(b, d + i, sizeof(d) - i);
}

void
json_add_int(struct buf *b, long long v)
{
	if (v < 0) {
		buf_addc(b, '-');
		json_add_uint(b, 0ULL - (unsigned long long)v);
	} else {
		json_add_uint(b, (unsigned long long)v);
	}
}

void
json_add_key(struct buf *b, const char *key, int first)
{
	if (!first)
		buf_addc(b, ',');
	json_add_cstring(b, key);
	buf_addc(b, ':');
}
