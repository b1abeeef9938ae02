/* ingestctl: output formats (aligned table, TSV, CSV), escaping and colour. */
#ifndef INGESTCTL_OUTPUT_H
#define INGESTCTL_OUTPUT_H

#include <stdio.h>

#include "buf.h"

enum out_mode {
	OUT_TABLE,	/* aligned with a header: stdout is a terminal */
	OUT_TSV,	/* tab-separated, no header: stdout is not a terminal */
	OUT_CSV,	/* RFC 4180 with a header */
	OUT_JSON,	/* NDJSON, one object per record */
};

/* Escape \t \n \r and \ as two-character sequences; other bytes raw. */
void	 esc_tsv(struct buf *, const char *s);
/* One RFC 4180 field: quoted (quotes doubled) when it needs to be. */
void	 esc_csv(struct buf *, const char *s);
/*
 * For a terminal: control characters, backslashes, bytes that are not valid
 * in the locale's encoding and non-printable characters become escapes
 * (\n \t \\ \xff \u2028), so a value never breaks a line or moves the
 * cursor.  Returns the width of what was appended, in terminal columns.
 */
size_t	 esc_display(struct buf *, const char *s);

/* The SGR sequence for a state name (NULL when it has no colour). */
const char	*state_color(const char *state);
#define SGR_BOLD	"\033[1m"
#define SGR_RESET	"\033[0m"

/*
 * A table of ncols columns: aligned with a bold header in OUT_TABLE (rows
 * are kept until table_flush), streamed as TSV or CSV (with its header) in
 * the other modes.  Cells are given row by row, left to right.
 */
struct table;

struct table	*table_new(FILE *, enum out_mode, int color, int ncols,
		    const char *const *headers);
/* Right-align column col in OUT_TABLE (numbers). */
void		 table_align_right(struct table *, int col);
/* The next cell; NULL prints "-" in a table and an empty field otherwise. */
void		 table_cell(struct table *, const char *s, const char *sgr);
void		 table_cell_int(struct table *, long long);
/* Print what is buffered (OUT_TABLE); -1 if writing failed. */
int		 table_flush(struct table *);
void		 table_free(struct table *);

#endif
