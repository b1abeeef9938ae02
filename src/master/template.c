/* master: path template expansion with per-component sanitising (never escapes its prefix). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "template.h"

#define COLLISION_HASH_LEN	12

enum field {
	F_DATE, F_YYYY, F_MM, F_DD, F_HH, F_NAME, F_STEM, F_EXT, F_WATCH,
	F_RELPATH, F_SHA256, F_XXH128, F_END
};

static const char *field_names[F_END] = {
	"date", "yyyy", "mm", "dd", "hh", "name", "stem", "ext", "watch",
	"relpath", "sha256", "xxh128",
};

/* Parse "name" or "sha256:N" (N in 1..64); -1 if unknown. */
static int
field_parse(const char *s, size_t len, int *width)
{
	int i;
	size_t n;

	*width = 0;
	for (i = 0; i < F_END; i++) {
		n = strlen(field_names[i]);
		if (len == n && memcmp(s, field_names[i], n) == 0)
			return i;
	}
	n = strlen("sha256:");
	if (len > n && len <= n + 2 && memcmp(s, "sha256:", n) == 0) {
		*width = 0;
		for (; n < len; n++) {
			if (s[n] < '0' || s[n] > '9')
				return -1;
			*width = *width * 10 + (s[n] - '0');
		}
		if (*width < 1 || *width > 64)
			return -1;
		return F_SHA256;
	}
	return -1;
}

/* The extension: after the last '.', unless the dot leads the name. */
static const char *
name_ext(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot != NULL && dot != name ? dot : NULL;
}

/* v in decimal, zero-padded to width (buf_printf costs ten times more) */
static void
digits_add(struct buf *out, int v, int width)
{
	char d[16];
	int n = 0;

	if (v < 0) {
		buf_addc(out, '-');
		v = -v;
	}
	do {
		d[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0 && n < 12);
	while (n < width && n < 12)
		d[n++] = '0';
	while (n > 0)
		buf_addc(out, d[--n]);
}

static int
field_add(struct buf *out, int field, int width, const struct tmpl_ctx *c,
    const char **why)
{
	struct tm tm;
	time_t secs = (time_t)(c->now_ns / 1000000000);
	const char *ext;

	if (field <= F_HH && gmtime_r(&secs, &tm) == NULL) {
		*why = "time out of range";
		return -1;
	}
	switch (field) {
	case F_DATE:
		digits_add(out, tm.tm_year + 1900, 4);
		buf_addc(out, '-');
		digits_add(out, tm.tm_mon + 1, 2);
		buf_addc(out, '-');
		digits_add(out, tm.tm_mday, 2);
		break;
	case F_YYYY:
		digits_add(out, tm.tm_year + 1900, 4);
		break;
	case F_MM:
		digits_add(out, tm.tm_mon + 1, 2);
		break;
	case F_DD:
		digits_add(out, tm.tm_mday, 2);
		break;
	case F_HH:
		digits_add(out, tm.tm_hour, 2);
		break;
	case F_NAME:
		buf_adds(out, c->name);
		break;
	case F_STEM:
		ext = name_ext(c->name);
		buf_add(out, c->name, ext ? (size_t)(ext - c->name) :
		    strlen(c->name));
		break;
	case F_EXT:
		if ((ext = name_ext(c->name)) != NULL)
			buf_adds(out, ext + 1);
		break;
	case F_WATCH:
		buf_adds(out, c->watch ? c->watch : "");
		break;
	case F_RELPATH:
		buf_adds(out, c->relpath ? c->relpath : "");
		break;
	case F_SHA256:
		if (c->sha256 == NULL || *c->sha256 == '\0') {
			*why = "{sha256} is not known yet";
			return -1;
		}
		buf_add(out, c->sha256, width ? strnlen(c->sha256,
		    (size_t)width) : strlen(c->sha256));
		break;
	case F_XXH128:
		if (c->xxh128 == NULL || *c->xxh128 == '\0') {
			*why = "{xxh128} is not known yet";
			return -1;
		}
		buf_adds(out, c->xxh128);
		break;
	}
	return 0;
}

size_t
template_prefix_len(const char *tmpl)
{
	const char *p, *slash = NULL;

	for (p = tmpl; *p != '\0'; p++) {
		if (*p == '{' || *p == '}')
			break;
		if (*p == '/')
			slash = p;
	}
	return slash ? (size_t)(slash - tmpl) + 1 : 0;
}

/*
 * Walk the template; with out == NULL only the syntax is checked.
 */
static int
template_walk(const char *tmpl, const struct tmpl_ctx *c, struct buf *out,
    const char **why)
{
	const char *p, *end;
	int field, width;

	for (p = tmpl; *p != '\0'; p++) {
		if (*p == '{' && p[1] == '{') {
			if (out)
				buf_addc(out, '{');
			p++;
		} else if (*p == '}' && p[1] == '}') {
			if (out)
				buf_addc(out, '}');
			p++;
		} else if (*p == '{') {
			if ((end = strchr(p, '}')) == NULL) {
				*why = "unbalanced '{' in template";
				return -1;
			}
			field = field_parse(p + 1, (size_t)(end - p - 1), &width);
			if (field == -1) {
				*why = "unknown template field";
				return -1;
			}
			if (out && field_add(out, field, width, c, why) == -1)
				return -1;
			p = end;
			/* a file at the watch root has no {relpath}: "a/{relpath}/x" -> "a/x" */
			if (out && field == F_RELPATH && (c->relpath == NULL ||
			    *c->relpath == '\0') && p[1] == '/')
				p++;
		} else if (*p == '}') {
			*why = "unbalanced '}' in template";
			return -1;
		} else if (out) {
			buf_addc(out, *p);
		}
	}
	return 0;
}

int
template_check(const char *tmpl, const char **why)
{
	return template_walk(tmpl, NULL, NULL, why);
}

/* Every component after the prefix must be a plain, sane name. */
static int
path_check(const char *path, size_t len, size_t prefix, const char **why)
{
	const char *p = path + prefix, *end = path + len, *slash;
	size_t n;

	if (memchr(path, '\0', len) != NULL) {
		*why = "NUL byte in expanded path";
		return -1;
	}
	if (len >= PATH_MAX) {
		*why = "expanded path too long";
		return -1;
	}
	if (p >= end) {
		*why = "empty expansion";
		return -1;
	}
	for (;; p = slash + 1) {
		if ((slash = memchr(p, '/', (size_t)(end - p))) == NULL)
			slash = end;
		n = (size_t)(slash - p);
		if (n == 0) {
			*why = "empty path component in expansion";
			return -1;
		}
		if ((n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.')) {
			*why = "'.' or '..' component in expansion";
			return -1;
		}
		if (n > NAME_MAX) {
			*why = "path component longer than NAME_MAX";
			return -1;
		}
		if (slash == end)
			break;
	}
	return 0;
}

int
template_expand(const char *tmpl, const struct tmpl_ctx *c, struct buf *out,
    const char **why)
{
	size_t start = out->len;

	/* an expansion that added nothing leaves out->data NULL */
	if (template_walk(tmpl, c, out, why) == -1 ||
	    path_check(out->data ? out->data + start : "", out->len - start,
	    template_prefix_len(tmpl), why) == -1) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
		return -1;
	}
	return 0;
}

void
template_escape(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '{' || *s == '}')
			buf_addc(out, *s);
		buf_addc(out, *s);
	}
}

void
template_collision_name(const char *name, const char *sha256,
    struct buf *out)
{
	const char *ext = name_ext(name);
	size_t stem = ext ? (size_t)(ext - name) : strlen(name);
	size_t extlen = ext ? strlen(ext) : 0;
	size_t extra = 1 + COLLISION_HASH_LEN + extlen;

	if (stem + extra > NAME_MAX)
		stem = extra < NAME_MAX ? NAME_MAX - extra : 0;
	if (stem == 0 && extra > NAME_MAX) {
		/* absurd extension: keep only the hash */
		ext = NULL;
		extlen = 0;
	}
	buf_add(out, name, stem);
	buf_addc(out, '~');
	buf_add(out, sha256, COLLISION_HASH_LEN);
	if (ext)
		buf_add(out, ext, extlen);
}
