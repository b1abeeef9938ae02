/* ingestctl: "status" from the audit database: counts per state and watch, oldest and last files. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "buf.h"
#include "../master/db.h"
#include "ingestctl.h"
#include "json.h"
#include "util.h"
#include "when.h"

struct watch_count {
	char		*name;
	long long	 states[ST_END];
	long long	 files;
	long long	 bytes;		/* of MANIFESTED files */
	long long	 unfinished;	/* not in a terminal state */
};

struct status {
	const char		*db_path;
	int			 schema_version;
	struct watch_count	 all;
	struct watch_count	*watches;
	size_t			 nwatches;
	int			 has_oldest;
	struct rec		 oldest;
	int64_t			 oldest_age;	/* seconds */
	int			 has_last;
	struct rec		 last;
};

static void
count_add(struct watch_count *w, int state, long long n, long long bytes)
{
	w->states[state] += n;
	w->files += n;
	if (state == ST_MANIFESTED)
		w->bytes += bytes;
	if (!state_is_terminal(state))
		w->unfinished += n;
}

static int
status_counts(struct ctldb *db, struct status *s)
{
	sqlite3_stmt *st;
	struct watch_count *w = NULL;
	const char *watch, *state;
	int rc, step, i;

	/*
	 * Schema 4 keeps the terminal states' counts in file_counts and the
	 * few unfinished rows are counted; a database the daemon has not
	 * migrated yet is counted row by row.
	 */
	if ((rc = ctldb_prepare(db, db->schema_version >= 4 ?
	    "SELECT watch, state, files, bytes FROM file_counts"
	    " WHERE files != 0 UNION ALL"
	    " SELECT watch, state, count(*), coalesce(sum(size), 0) FROM files"
	    " WHERE likelihood(state IN (" DB_UNFINISHED_SQL "), 0.001)"
	    " GROUP BY watch, state ORDER BY watch" :
	    "SELECT watch, state, count(*), coalesce(sum(size), 0)"
	    " FROM files GROUP BY watch, state ORDER BY watch", &st)) != 0)
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		watch = (const char *)sqlite3_column_text(st, 0);
		state = (const char *)sqlite3_column_text(st, 1);
		if (watch == NULL || state == NULL ||
		    (i = state_parse(state)) == -1)
			continue;	/* the CHECK constraint rules it out */
		if (w == NULL || strcmp(w->name, watch) != 0) {
			s->watches = xrealloc(s->watches, (s->nwatches + 1) *
			    sizeof(*s->watches));
			w = &s->watches[s->nwatches++];
			memset(w, 0, sizeof(*w));
			w->name = xstrdup(watch);
		}
		count_add(w, i, sqlite3_column_int64(st, 2),
		    sqlite3_column_int64(st, 3));
		count_add(&s->all, i, sqlite3_column_int64(st, 2),
		    sqlite3_column_int64(st, 3));
	}
	if (step != SQLITE_DONE)
		rc = ctldb_fail(db, "query failed");
	sqlite3_finalize(st);
	return rc;
}

/* The first row sql selects (text parameters) into r: 1, 0 or -(exit). */
static int
status_first(struct ctldb *db, const char *sql, const char *const *params,
    int nparams, struct rec *r)
{
	sqlite3_stmt *st;
	int rc, i;

	if ((rc = ctldb_prepare(db, sql, &st)) != 0)
		return -rc;
	for (i = 0; i < nparams; i++)
		sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		rec_read(st, r);
		rc = 1;
	} else if (rc == SQLITE_DONE)
		rc = 0;
	else
		rc = -ctldb_fail(db, "query failed");
	sqlite3_finalize(st);
	return rc;
}

static int
status_oldest(struct ctldb *db, struct status *s, int64_t now_ns)
{
	int64_t ns;
	int rc;

	/* few rows are unfinished: hint it, or the planner scans them all */
	rc = status_first(db, "SELECT " REC_COLUMNS " FROM files WHERE"
	    " likelihood(state IN (" DB_UNFINISHED_SQL "), 0.001)"
	    " ORDER BY discovered_at, id LIMIT 1", NULL, 0, &s->oldest);
	if (rc < 0)
		return -rc;
	s->has_oldest = rc;
	if (rc == 1 && s->oldest.discovered_at != NULL &&
	    when_parse_iso(s->oldest.discovered_at, &ns) == 0)
		s->oldest_age = (now_ns - ns) / 1000000000;
	return 0;
}

static int
status_last(struct ctldb *db, struct status *s)
{
	const char *params[1] = { state_name(ST_MANIFESTED) };
	int rc;

	rc = status_first(db, "SELECT " REC_COLUMNS " FROM files"
	    " WHERE state = ? ORDER BY ingested_at DESC, id DESC LIMIT 1",
	    params, 1, &s->last);
	if (rc < 0)
		return -rc;
	s->has_last = rc;
	return 0;
}

static void
status_free(struct status *s)
{
	size_t i;

	for (i = 0; i < s->nwatches; i++)
		free(s->watches[i].name);
	free(s->watches);
	rec_free(&s->oldest);
	rec_free(&s->last);
}

/* {"discovered":0,...}: state names in lower case, as snake_case keys. */
static void
json_states(struct buf *b, const long long *states)
{
	char key[32];
	size_t j;
	int i;

	buf_addc(b, '{');
	for (i = 0; i < ST_END; i++) {
		snprintf(key, sizeof(key), "%s", state_name(i));
		for (j = 0; key[j] != '\0'; j++)
			key[j] = (char)(key[j] >= 'A' && key[j] <= 'Z' ?
			    key[j] - 'A' + 'a' : key[j]);
		json_add_key(b, key, i == 0);
		json_add_int(b, states[i]);
	}
	buf_addc(b, '}');
}

static void
json_counts(struct buf *b, const struct watch_count *w)
{
	json_add_key(b, "files", 0);
	json_add_int(b, w->files);
	json_add_key(b, "ingested", 0);
	json_add_int(b, w->states[ST_MANIFESTED]);
	json_add_key(b, "bytes_ingested", 0);
	json_add_int(b, w->bytes);
	json_add_key(b, "unfinished", 0);
	json_add_int(b, w->unfinished);
	json_add_key(b, "states", 0);
	json_states(b, w->states);
}

static void
status_json(const struct status *s, struct buf *b)
{
	size_t i;

	buf_addc(b, '{');
	json_add_key(b, "source", 1);
	json_add_cstring(b, "db");
	json_add_key(b, "database", 0);
	json_add_cstring(b, s->db_path);
	json_add_key(b, "schema_version", 0);
	json_add_int(b, s->schema_version);
	json_counts(b, &s->all);
	json_add_key(b, "watches", 0);
	buf_addc(b, '[');
	for (i = 0; i < s->nwatches; i++) {
		if (i > 0)
			buf_addc(b, ',');
		buf_addc(b, '{');
		json_add_key(b, "watch", 1);
		json_add_cstring(b, s->watches[i].name);
		json_counts(b, &s->watches[i]);
		buf_addc(b, '}');
	}
	buf_addc(b, ']');
	json_add_key(b, "oldest_unfinished", 0);
	if (s->has_oldest) {
		buf_addc(b, '{');
		rec_json(b, &s->oldest);
		json_add_key(b, "age_seconds", 0);
		json_add_int(b, s->oldest_age);
		buf_addc(b, '}');
	} else
		buf_adds(b, "null");
	json_add_key(b, "last_ingested", 0);
	if (s->has_last) {
		buf_addc(b, '{');
		rec_json(b, &s->last);
		buf_addc(b, '}');
	} else
		buf_adds(b, "null");
	buf_add(b, "}\n", 2);
}

/* One TSV line of n fields (NULL: empty). */
static void
tsv_line(struct buf *b, int n, ...)
{
	const char *s;
	va_list ap;
	int i;

	va_start(ap, n);
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_addc(b, '\t');
		if ((s = va_arg(ap, const char *)) != NULL)
			esc_tsv(b, s);
	}
	va_end(ap);
	buf_addc(b, '\n');
}

static void
status_tsv(const struct status *s, struct buf *b)
{
	const struct watch_count *w;
	char n[7][24];
	size_t i;
	int st;

	tsv_line(b, 2, "database", s->db_path);
	snprintf(n[0], sizeof(n[0]), "%d", s->schema_version);
	tsv_line(b, 2, "schema_version", n[0]);
	snprintf(n[0], sizeof(n[0]), "%lld", s->all.files);
	tsv_line(b, 2, "files", n[0]);
	snprintf(n[0], sizeof(n[0]), "%lld", s->all.states[ST_MANIFESTED]);
	tsv_line(b, 2, "ingested", n[0]);
	snprintf(n[0], sizeof(n[0]), "%lld", s->all.bytes);
	tsv_line(b, 2, "bytes_ingested", n[0]);
	snprintf(n[0], sizeof(n[0]), "%lld", s->all.unfinished);
	tsv_line(b, 2, "unfinished", n[0]);
	for (st = 0; st < ST_END; st++) {
		snprintf(n[0], sizeof(n[0]), "%lld", s->all.states[st]);
		tsv_line(b, 3, "state", state_name(st), n[0]);
	}
	for (i = 0; i < s->nwatches; i++) {
		w = &s->watches[i];
		snprintf(n[0], sizeof(n[0]), "%lld", w->files);
		snprintf(n[1], sizeof(n[1]), "%lld", w->states[ST_MANIFESTED]);
		snprintf(n[2], sizeof(n[2]), "%lld", w->bytes);
		snprintf(n[3], sizeof(n[3]), "%lld",
		    w->states[ST_SKIPPED_DUPLICATE]);
		snprintf(n[4], sizeof(n[4]), "%lld", w->states[ST_REJECTED]);
		snprintf(n[5], sizeof(n[5]), "%lld", w->states[ST_FAILED]);
		snprintf(n[6], sizeof(n[6]), "%lld", w->unfinished);
		tsv_line(b, 9, "watch", w->name, n[0], n[1], n[2], n[3], n[4],
		    n[5], n[6]);
	}
	if (s->has_oldest) {
		snprintf(n[0], sizeof(n[0]), "%lld", (long long)s->oldest.id);
		snprintf(n[1], sizeof(n[1]), "%lld", (long long)s->oldest_age);
		tsv_line(b, 7, "oldest_unfinished", n[0], s->oldest.state,
		    s->oldest.watch, s->oldest.relpath, s->oldest.discovered_at,
		    n[1]);
	}
	if (s->has_last) {
		snprintf(n[0], sizeof(n[0]), "%lld", (long long)s->last.id);
		tsv_line(b, 6, "last_ingested", n[0], s->last.watch,
		    s->last.relpath, s->last.dest, s->last.ingested_at);
	}
}

static void
kv(struct table *t, const char *key, const char *value)
{
	table_cell(t, key, NULL);
	table_cell(t, value, NULL);
}

static int
status_table(const struct status *s, int color)
{
	static const char *const state_headers[] = { "STATE", "FILES" };
	static const char *const watch_headers[] = { "WATCH", "FILES",
	    "INGESTED", "BYTES", "DUPLICATES", "REJECTED", "FAILED",
	    "UNFINISHED" };
	const struct watch_count *w;
	struct table *t;
	struct buf v;
	char age[32];
	size_t i;
	int st, c, rc = 0;

	buf_init(&v);
	t = table_new(stdout, OUT_TABLE, color, 2, NULL);
	kv(t, "database:", s->db_path);
	buf_printf(&v, "%d", s->schema_version);
	kv(t, "schema version:", v.data);
	buf_reset(&v);
	buf_printf(&v, "%lld (%lld ingested, %lld bytes; %lld unfinished)",
	    s->all.files, s->all.states[ST_MANIFESTED], s->all.bytes,
	    s->all.unfinished);
	kv(t, "files:", v.data);
	buf_reset(&v);
	if (s->has_oldest) {
		when_format_age(s->oldest_age, age);
		buf_printf(&v, "#%lld %s %s/%s, discovered %s (%s ago)",
		    (long long)s->oldest.id, s->oldest.state, s->oldest.watch,
		    s->oldest.relpath, s->oldest.discovered_at, age);
	}
	kv(t, "oldest unfinished:", s->has_oldest ? v.data : NULL);
	buf_reset(&v);
	if (s->has_last)
		buf_printf(&v, "#%lld %s/%s at %s", (long long)s->last.id,
		    s->last.watch, s->last.relpath, s->last.ingested_at ?
		    s->last.ingested_at : "-");
	kv(t, "last ingested:", s->has_last ? v.data : NULL);
	buf_free(&v);
	rc |= table_flush(t);
	table_free(t);

	putchar('\n');
	t = table_new(stdout, OUT_TABLE, color, 2, state_headers);
	table_align_right(t, 1);
	for (st = 0; st < ST_END; st++) {
		table_cell(t, state_name(st), state_color(state_name(st)));
		table_cell_int(t, s->all.states[st]);
	}
	rc |= table_flush(t);
	table_free(t);

	if (s->nwatches == 0)
		return rc;
	putchar('\n');
	t = table_new(stdout, OUT_TABLE, color, 8, watch_headers);
	for (c = 1; c < 8; c++)
		table_align_right(t, c);
	for (i = 0; i < s->nwatches; i++) {
		w = &s->watches[i];
		table_cell(t, w->name, NULL);
		table_cell_int(t, w->files);
		table_cell_int(t, w->states[ST_MANIFESTED]);
		table_cell_int(t, w->bytes);
		table_cell_int(t, w->states[ST_SKIPPED_DUPLICATE]);
		table_cell_int(t, w->states[ST_REJECTED]);
		table_cell_int(t, w->states[ST_FAILED]);
		table_cell_int(t, w->unfinished);
	}
	rc |= table_flush(t);
	table_free(t);
	return rc;
}

int
cmd_status(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		CTL_GLOBAL_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct status s;
	struct ctldb db;
	struct buf b;
	int rc;

	if (ctl_getopt(c, "status", argc, argv, CTL_GLOBAL_SHORTOPTS,
	    longopts) != -1)
		ctl_usage_error("status", "unexpected option");
	if (optind < argc)
		ctl_usage_error("status", "unexpected argument '%s'",
		    argv[optind]);
	if (c->db_path == NULL)
		return ctl_remote_status(c);
	if ((rc = ctl_open(c, &db)) != 0)
		return rc;
	memset(&s, 0, sizeof(s));
	s.db_path = db.path;
	s.schema_version = db.schema_version;
	if ((rc = status_counts(&db, &s)) == 0 &&
	    (rc = status_oldest(&db, &s, c->now_ns)) == 0)
		rc = status_last(&db, &s);
	ctldb_close(&db);
	if (rc == 0) {
		buf_init(&b);
		switch (ctl_mode(c)) {
		case OUT_JSON:
			status_json(&s, &b);
			break;
		case OUT_TABLE:
			if (status_table(&s, ctl_color(c)) == -1)
				rc = ctl_finish_output();
			break;
		default:
			status_tsv(&s, &b);
			break;
		}
		fwrite(b.data != NULL ? b.data : "", 1, b.len, stdout);
		buf_free(&b);
		if (rc == 0)
			rc = ctl_finish_output();
	}
	status_free(&s);
	return rc;
}
