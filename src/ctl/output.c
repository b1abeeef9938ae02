/* ingestctl: renders records as aligned tables, TSV or CSV, escaping every value. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "buf.h"
#include "output.h"
#include "util.h"

void
esc_tsv(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '\t':
			buf_add(b, "\\t", 2);
			break;
		case '\n':
			buf_add(b, "\\n", 2);
			break;
		case '\r':
			buf_add(b, "\\r", 2);
			break;
		case '\\':
			buf_add(b, "\\\\", 2);
			break;
		default:
			buf_addc(b, *s);
			break;
		}
	}
}

void
esc_csv(struct buf *b, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL) {
		buf_adds(b, s);
		return;
	}
	buf_addc(b, '"');
	for (; *s != '\0'; s++) {
		if (*s == '"')
			buf_addc(b, '"');
		buf_addc(b, *s);
	}
	buf_addc(b, '"');
}

static size_t
esc_ascii(struct buf *b, unsigned char c)
{
	switch (c) {
	case '\n':
		buf_add(b, "\\n", 2);
		return 2;
	case '\t':
		buf_add(b, "\\t", 2);
		return 2;
	case '\r':
		buf_add(b, "\\r", 2);
		return 2;
	case '\\':
		buf_add(b, "\\\\", 2);
		return 2;
	default:
		if (c < 0x20 || c >= 0x7f) {
			buf_printf(b, "\\x%02x", c);
			return 4;
		}
		buf_addc(b, (char)c);
		return 1;
	}
}

/*
 * Decoding follows the locale (mbrtowc), because that is what the terminal
 * shows: in a UTF-8 locale printable characters pass, elsewhere bytes that
 * the locale cannot decode are escaped.
 */
size_t
esc_display(struct buf *b, const char *s)
{
	const char *p = s, *end = s + strlen(s);
	mbstate_t mbs;
	size_t n, width = 0;
	wchar_t wc;
	int w;

	memset(&mbs, 0, sizeof(mbs));
	while (p < end) {
		if ((unsigned char)*p < 0x80) {
			width += esc_ascii(b, (unsigned char)*p++);
			continue;
		}
		n = mbrtowc(&wc, p, (size_t)(end - p), &mbs);
		if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
			memset(&mbs, 0, sizeof(mbs));
			buf_printf(b, "\\x%02x", (unsigned char)*p++);
			width += 4;
			continue;
		}
		if ((w = wcwidth(wc)) < 0) {
			/* C1 controls, line/paragraph separators, ... */
			if ((uint32_t)wc > 0xffff) {
				buf_printf(b, "\\U%08x", (unsigned)wc);
				width += 10;
			} else {
				buf_printf(b, "\\u%04x", (unsigned)wc);
				width += 6;
			}
		} else {
			buf_add(b, p, n);
			width += (size_t)w;
		}
		p += n;
	}
	return width;
}

const char *
state_color(const char *state)
{
	static const struct {
		const char	*state;
		const char	*sgr;
	} colors[] = {
		{ "MANIFESTED",		"\033[32m" },	/* green */
		{ "FAILED",		"\033[31m" },	/* red */
		{ "REJECTED",		"\033[35m" },	/* magenta */
		{ "RETRY_PENDING",	"\033[33m" },	/* yellow */
		{ "SKIPPED_DUPLICATE",	"\033[34m" },	/* blue */
		{ "DISCOVERED",		"\033[36m" },	/* cyan: in flight */
		{ "QUEUED",		"\033[36m" },
		{ "PROCESSING",		"\033[36m" },
		{ "HASHED",		"\033[36m" },
		{ "MOVED",		"\033[36m" },
	};
	size_t i;

	if (state == NULL)
		return NULL;
	for (i = 0; i < sizeof(colors) / sizeof(colors[0]); i++)
		if (strcmp(colors[i].state, state) == 0)
			return colors[i].sgr;
	return NULL;
}

struct cell {
	char		*text;	/* escaped for the terminal */
	size_t		 width;
	const char	*sgr;
};

struct table {
	FILE		*fp;
	enum out_mode	 mode;
	int		 color;
	int		 ncols;
	const char *const *headers;
	int		*right;
	size_t		*widths;
	struct cell	*cells;	/* OUT_TABLE: every row, row-major */
	size_t		 ncells;
	size_t		 cap;
	int		 col;	/* next column in the current row */
	struct buf	 line;	/* TSV/CSV: the row being built */
};

static void
table_header_csv(struct table *t)
{
	int i;

	for (i = 0; i < t->ncols; i++) {
		if (i > 0)
			buf_addc(&t->line, ',');
		esc_csv(&t->line, t->headers[i]);
	}
	buf_add(&t->line, "\r\n", 2);
	fwrite(t->line.data, 1, t->line.len, t->fp);
	buf_reset(&t->line);
}

struct table *
table_new(FILE *fp, enum out_mode mode, int color, int ncols,
    const char *const *headers)
{
	struct table *t;
	int i;

	t = xcalloc(1, sizeof(*t));
	t->fp = fp;
	t->mode = mode;
	t->color = color && mode == OUT_TABLE;
	t->ncols = ncols;
	t->headers = headers;
	t->right = xcalloc((size_t)ncols, sizeof(*t->right));
	t->widths = xcalloc((size_t)ncols, sizeof(*t->widths));
	buf_init(&t->line);
	if (mode == OUT_TABLE && headers != NULL)
		for (i = 0; i < ncols; i++)
			t->widths[i] = strlen(headers[i]);
	if (mode == OUT_CSV && headers != NULL)
		table_header_csv(t);
	return t;
}

void
table_align_right(struct table *t, int col)
{
	if (col >= 0 && col < t->ncols)
		t->right[col] = 1;
}

static void
table_cell_buffered(struct table *t, const char *s, const char *sgr)
{
	struct buf b;
	struct cell *c;

	if (t->ncells == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->cells = xrealloc(t->cells, t->cap * sizeof(*t->cells));
	}
	c = &t->cells[t->ncells++];
	buf_init(&b);
	c->width = esc_display(&b, s != NULL ? s : "-");
	c->text = buf_release(&b);
	c->sgr = s != NULL ? sgr : NULL;
	if (c->width > t->widths[t->col])
		t->widths[t->col] = c->width;
}

void
table_cell(struct table *t, const char *s, const char *sgr)
{
	if (t->mode == OUT_TABLE)
		table_cell_buffered(t, s, sgr);
	else {
		if (t->col > 0)
			buf_addc(&t->line, t->mode == OUT_CSV ? ',' : '\t');
		if (s != NULL && t->mode == OUT_CSV)
			esc_csv(&t->line, s);
		else if (s != NULL)
			esc_tsv(&t->line, s);
	}
	if (++t->col < t->ncols)
		return;
	t->col = 0;
	if (t->mode != OUT_TABLE) {
		if (t->mode == OUT_CSV)
			buf_addc(&t->line, '\r');
		buf_addc(&t->line, '\n');
		fwrite(t->line.data, 1, t->line.len, t->fp);
		buf_reset(&t->line);
	}
}

void
table_cell_int(struct table *t, long long v)
{
	char s[24];

	snprintf(s, sizeof(s), "%lld", v);
	table_cell(t, s, NULL);
}

static void
table_pad(FILE *fp, size_t n)
{
	while (n-- > 0)
		fputc(' ', fp);
}

/* One cell of an aligned row; the last column is never padded on the right. */
static void
table_print_cell(struct table *t, int col, const char *text, size_t width,
    const char *sgr)
{
	size_t pad = t->widths[col] - width;
	int last = col == t->ncols - 1;

	if (col > 0)
		fputs("  ", t->fp);
	if (t->right[col])
		table_pad(t->fp, pad);
	if (t->color && sgr != NULL)
		fprintf(t->fp, "%s%s%s", sgr, text, SGR_RESET);
	else
		fputs(text, t->fp);
	if (!t->right[col] && !last)
		table_pad(t->fp, pad);
	if (last)
		fputc('\n', t->fp);
}

int
table_flush(struct table *t)
{
	const struct cell *row;
	size_t i, n = (size_t)t->ncols;
	int c;

	if (t->mode == OUT_TABLE) {
		if (t->headers != NULL)
			for (c = 0; c < t->ncols; c++)
				table_print_cell(t, c, t->headers[c],
				    strlen(t->headers[c]), SGR_BOLD);
		for (i = 0; i + n <= t->ncells; i += n) {
			row = &t->cells[i];
			for (c = 0; c < t->ncols; c++)
				table_print_cell(t, c, row[c].text,
				    row[c].width, row[c].sgr);
		}
	}
	return fflush(t->fp) == 0 && !ferror(t->fp) ? 0 : -1;
}

void
table_free(struct table *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->ncells; i++)
		free(t->cells[i].text);
	free(t->cells);
	free(t->right);
	free(t->widths);
	buf_free(&t->line);
	free(t);
}
