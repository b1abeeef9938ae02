/* fuzz: libFuzzer target for the master's template expander (fields, escapes, the never-leave-the-prefix check, collision names). */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "../../src/master/template.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define NFIELDS	5	/* template, name, relpath, watch, sha256 */

/*
 * Input: 8 bytes of ingest time, then the template, the file name, the
 * relative directory, the watch name and the sha256 hex, separated by NUL
 * bytes (missing ones are empty).
 */
static void
split(const uint8_t *data, size_t size, char *fields[NFIELDS])
{
	size_t i, start = 0, n = 0;

	for (i = 0; i <= size && n < NFIELDS; i++) {
		if (i == size || data[i] == '\0') {
			fields[n] = malloc(i - start + 1);
			if (fields[n] == NULL)
				abort();
			memcpy(fields[n], data + start, i - start);
			fields[n][i - start] = '\0';
			n++;
			start = i + 1;
		}
	}
	for (; n < NFIELDS; n++)
		if ((fields[n] = strdup("")) == NULL)
			abort();
}

/* An expansion that succeeded must stay beneath its fixed prefix. */
static void
check_expansion(const char *tmpl, const struct buf *out)
{
	size_t plen = template_prefix_len(tmpl), i, start, clen, total;
	const char *p;

	total = out->len;
	if (total >= PATH_MAX || memchr(out->data, '\0', total) != NULL)
		abort();
	/* a prefix without braces is copied verbatim */
	if (plen > strlen(tmpl))
		abort();
	if (memchr(tmpl, '{', plen) == NULL && memchr(tmpl, '}', plen) == NULL) {
		if (total < plen || memcmp(out->data, tmpl, plen) != 0)
			abort();
	} else {
		return;
	}
	/* every component after it: not empty, ".", "..", nor too long */
	p = out->data;
	for (start = plen, i = plen; i <= total; i++) {
		if (i < total && p[i] != '/')
			continue;
		clen = i - start;
		if (clen == 0 || clen > NAME_MAX)
			abort();
		if (clen == 1 && p[start] == '.')
			abort();
		if (clen == 2 && p[start] == '.' && p[start + 1] == '.')
			abort();
		start = i + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *f[NFIELDS];
	struct tmpl_ctx c;
	struct buf out, esc;
	const char *why;
	int64_t now = 0;
	size_t i;

	if (size >= sizeof(now)) {
		memcpy(&now, data, sizeof(now));
		data += sizeof(now);
		size -= sizeof(now);
	}
	split(data, size, f);
	memset(&c, 0, sizeof(c));
	/* keep the time where gmtime_r works */
	c.now_ns = now % (INT64_C(1) << 61);
	c.name = f[1];
	c.relpath = f[2];
	c.watch = f[3];
	c.sha256 = f[4][0] ? f[4] : NULL;
	c.xxh128 = c.sha256;

	why = NULL;
	(void)template_check(f[0], &why);
	buf_init(&out);
	if (template_expand(f[0], &c, &out, &why) == 0) {
		check_expansion(f[0], &out);
	} else if (why == NULL) {
		abort();		/* a failure always says why */
	}
	buf_free(&out);

	/* an escaped string expands to itself (when it is a valid path) */
	buf_init(&esc);
	template_escape(&esc, f[1]);
	buf_addc(&esc, '\0');
	buf_init(&out);
	if (template_expand(esc.data, &c, &out, &why) == 0 &&
	    (out.len != strlen(f[1]) || memcmp(out.data, f[1], out.len) != 0))
		abort();
	buf_free(&out);
	buf_free(&esc);

	/* a collision name fits in one component and carries the hash */
	if (f[4][0] != '\0' && strlen(f[4]) >= 12 && strlen(f[1]) <= NAME_MAX) {
		buf_init(&out);
		template_collision_name(f[1], f[4], &out);
		if (out.len > NAME_MAX && strlen(f[1]) > 0)
			abort();
		buf_free(&out);
	}
	for (i = 0; i < NFIELDS; i++)
		free(f[i]);
	return 0;
}
