/* master: expansion of path templates ({date}/{name}...) that can never leave their fixed prefix. */
#ifndef INGESTD_TEMPLATE_H
#define INGESTD_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct tmpl_ctx {
	int64_t		 now_ns;	/* ingest time; fields are UTC */
	const char	*name;		/* file name (one component) */
	const char	*relpath;	/* directory below the watch root, "" at the root */
	const char	*watch;
	const char	*sha256;	/* hex, or NULL if not known yet */
	const char	*xxh128;	/* hex, or NULL */
};

/*
 * Expand tmpl into out.  Fields: {date} {yyyy} {mm} {dd} {hh} {name}
 * {stem} {ext} {watch} {relpath} {sha256} {sha256:N} {xxh128}; "{{" and
 * "}}" are literal braces.  The result is checked component by component
 * after the template's fixed prefix (the text before the first field, up
 * to its last '/'): no empty, "." or ".." component, none longer than
 * NAME_MAX, no NUL, total below PATH_MAX.  Returns 0, or -1 with a static
 * reason in *why (the file is then rejected, not the config).
 */
int	template_expand(const char *tmpl, const struct tmpl_ctx *, struct buf *out,
	    const char **why);
/* Length of the fixed prefix: up to and including the last '/' before the first field. */
size_t	template_prefix_len(const char *tmpl);
/* Check the template's syntax only (unknown field, unbalanced brace). */
int	template_check(const char *tmpl, const char **why);
/* Append s to out with '{' and '}' doubled, so it expands to itself. */
void	template_escape(struct buf *out, const char *s);

/*
 * The deterministic name used when `name` is taken by different content:
 * STEM~H.EXT (or NAME~H without an extension) where H is the first 12 hex
 * digits of the SHA-256; the stem is shortened so the result fits NAME_MAX.
 */
void	template_collision_name(const char *name, const char *sha256,
	    struct buf *out);

#endif
