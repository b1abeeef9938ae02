/* ingestctl: "show", one file of the audit database with its event trail. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "buf.h"
#include "../master/db.h"
#include "ingestctl.h"
#include "json.h"
#include "util.h"

struct event {
	char	*at;
	char	*state;
	char	*detail;
};

struct shown {
	struct rec	 rec;
	int		 has_original;
	struct rec	 original;
	int64_t		*dups;		/* rows with duplicate_of = this */
	size_t		 ndups;
	struct event	*events;
	size_t		 nevents;
};

static int
all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static int
hash_prefix(const char *s, char out[65])
{
	size_t i, n = strlen(s);

	if (n < 4 || n > 64)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			out[i] = s[i];
		else if (s[i] >= 'a' && s[i] <= 'f')
			out[i] = s[i];
		else if (s[i] >= 'A' && s[i] <= 'F')
			out[i] = (char)(s[i] - 'A' + 'a');
		else
			return 0;
	}
	out[n] = '\0';
	return 1;
}

/*
 * Ids of the rows sql selects (newest first), with the text parameters;
 * returns the count or -(exit status).
 */
static long
select_ids(struct ctldb *db, const char *sql, const char *const *params,
    int nparams, int64_t **ids)
{
	sqlite3_stmt *st;
	long n = 0;
	int rc, i;

	*ids = NULL;
	if ((rc = ctldb_prepare(db, sql, &st)) != 0)
		return -rc;
	for (i = 0; i < nparams; i++)
		sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*ids = xrealloc(*ids, (size_t)(n + 1) * sizeof(**ids));
		(*ids)[n++] = sqlite3_column_int64(st, 0);
	}
	if (rc != SQLITE_DONE) {
		n = -ctldb_fail(db, "query failed");
		free(*ids);
		*ids = NULL;
	}
	sqlite3_finalize(st);
	return n;
}

/* Several arrivals match: take the newest, and say which others there are. */
static void
note_others(const char *arg, const int64_t *ids, long n)
{
	long i;

	fprintf(stderr, "ingestctl: %ld files match '%s'; showing the newest,"
	    " #%lld (others:", n, arg, (long long)ids[0]);
	for (i = 1; i < n && i < 10; i++)
		fprintf(stderr, " #%lld", (long long)ids[i]);
	fprintf(stderr, "%s)\n", n > 10 ? " ..." : "");
}

/* 0 and *id, 1 if no file matches, or an exit status. */
static int
resolve_ids(const char *arg, long n, int64_t *ids, int64_t *id)
{
	if (n < 0)
		return (int)-n;
	if (n == 0)
		return 1;
	if (n > 1)
		note_others(arg, ids, n);
	*id = ids[0];
	free(ids);
	return 0;
}

/* A source or archive path, as given, absolute, and with symlinks resolved. */
static int
resolve_path(struct ctldb *db, const char *arg, int64_t *id)
{
	char cwd[PATH_MAX], *real, *realdir = NULL, *dir, *slash;
	const char *params[4];
	struct buf abs, viadir;
	int64_t *ids;
	long n;

	buf_init(&abs);
	buf_init(&viadir);
	params[0] = params[1] = params[2] = params[3] = arg;
	if (arg[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL) {
		buf_printf(&abs, "%s/%s", strcmp(cwd, "/") ? cwd : "",
		    strncmp(arg, "./", 2) == 0 ? arg + 2 : arg);
		params[1] = abs.data;
	}
	if ((real = realpath(arg, NULL)) != NULL)
		params[2] = real;
	/* the source is usually gone by now: resolve its directory instead */
	dir = xstrdup(arg);
	if ((slash = strrchr(dir, '/')) != NULL && slash[1] != '\0') {
		*slash = '\0';
		if ((realdir = realpath(dir[0] != '\0' ? dir : "/", NULL)) !=
		    NULL) {
			buf_printf(&viadir, "%s/%s", strcmp(realdir, "/") ?
			    realdir : "", slash + 1);
			params[3] = viadir.data;
		}
	}
	n = select_ids(db, "SELECT id FROM files WHERE source_path IN"
	    " (?1, ?2, ?3, ?4) OR dest IN (?1, ?2, ?3, ?4) ORDER BY id DESC",
	    params, 4, &ids);
	free(dir);
	free(real);
	free(realdir);
	buf_free(&abs);
	buf_free(&viadir);
	return resolve_ids(arg, n, ids, id);
}

/* A path below the watch root (or a bare file name). */
static int
resolve_relpath(struct ctldb *db, const char *arg, int64_t *id)
{
	const char *params[1] = { arg };
	int64_t *ids;
	long n;

	n = select_ids(db, "SELECT id FROM files WHERE relpath = ?1"
	    " ORDER BY id DESC", params, 1, &ids);
	return resolve_ids(arg, n, ids, id);
}

/*
 * A SHA-256 prefix must name one content.  Several arrivals of that content
 * (an original and its duplicates) are fine: the one holding the content
 * (HASHED, MOVED or MANIFESTED) is shown, else the newest.
 */
static int
resolve_hash(struct ctldb *db, const char *arg, const char *prefix,
    int64_t *id)
{
	sqlite3_stmt *st;
	const char *sha, *state, *relpath;
	char *first = NULL;
	int64_t holder = 0, newest = 0;
	struct buf cand;
	int rc, step, contents = 0, n = 0;

	/* a range the sha256 index answers: prefix <= sha256 < prefix "g" */
	if ((rc = ctldb_prepare(db, "SELECT id, state, sha256, watch, relpath"
	    " FROM files WHERE sha256 >= ?1 AND sha256 < ?1 || 'g'"
	    " ORDER BY sha256, id DESC", &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	buf_init(&cand);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		state = (const char *)sqlite3_column_text(st, 1);
		sha = (const char *)sqlite3_column_text(st, 2);
		relpath = (const char *)sqlite3_column_text(st, 4);
		if (sha == NULL || state == NULL)
			continue;
		if (first == NULL || strcmp(first, sha) != 0) {
			free(first);
			first = xstrdup(sha);
			contents++;
		}
		if (newest == 0)
			newest = sqlite3_column_int64(st, 0);
		if (holder == 0 && (strcmp(state, "HASHED") == 0 ||
		    strcmp(state, "MOVED") == 0 ||
		    strcmp(state, "MANIFESTED") == 0))
			holder = sqlite3_column_int64(st, 0);
		buf_printf(&cand, "  #%lld %s %s ",
		    (long long)sqlite3_column_int64(st, 0), state, sha);
		esc_display(&cand, (const char *)sqlite3_column_text(st, 3));
		buf_addc(&cand, '/');
		esc_display(&cand, relpath != NULL ? relpath : "");
		buf_addc(&cand, '\n');
		n++;
	}
	if (step != SQLITE_DONE)
		rc = ctldb_fail(db, "query failed");
	sqlite3_finalize(st);
	free(first);
	if (rc == 0 && contents > 1) {
		fprintf(stderr, "ingestctl: hash prefix '%s' matches %d"
		    " different contents; give more digits:\n%s", arg,
		    contents, cand.data);
		rc = EX_DATAERR;
	} else if (rc == 0 && n == 0)
		rc = 1;
	else if (rc == 0)
		*id = holder != 0 ? holder : newest;
	buf_free(&cand);
	return rc;
}

/* 0 and *id, 1 if nothing matches, or an exit status. */
static int
show_resolve(struct ctldb *db, const char *arg, int64_t *id)
{
	char prefix[65];
	long long v;
	struct rec r;
	int rc;

	if (all_digits(arg) && parse_uint(arg, 1, INT64_MAX, &v) == 0) {
		if ((rc = ctldb_get(db, v, &r)) < 0)
			return -rc;
		rec_free(&r);
		if (rc == 1) {
			*id = v;
			return 0;
		}
	}
	if (strchr(arg, '/') != NULL)
		return resolve_path(db, arg, id);
	if (hash_prefix(arg, prefix)) {
		rc = resolve_hash(db, arg, prefix, id);
		if (rc != 1)
			return rc;
	}
	return resolve_relpath(db, arg, id);
}

static int
show_load_events(struct ctldb *db, struct shown *s)
{
	sqlite3_stmt *st;
	struct event *e;
	const unsigned char *t;
	int rc, step;

	if ((rc = ctldb_prepare(db, "SELECT at, state, detail FROM events"
	    " WHERE file_id = ?1 ORDER BY id", &st)) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, s->rec.id);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		s->events = xrealloc(s->events, (s->nevents + 1) *
		    sizeof(*s->events));
		e = &s->events[s->nevents++];
		t = sqlite3_column_text(st, 0);
		e->at = t ? xstrdup((const char *)t) : NULL;
		t = sqlite3_column_text(st, 1);
		e->state = t ? xstrdup((const char *)t) : NULL;
		t = sqlite3_column_text(st, 2);
		e->detail = t ? xstrdup((const char *)t) : NULL;
	}
	if (step != SQLITE_DONE)
		rc = ctldb_fail(db, "query failed");
	sqlite3_finalize(st);
	return rc;
}

static int
show_load(struct ctldb *db, int64_t id, struct shown *s)
{
	char idbuf[24];
	const char *params[1] = { idbuf };
	long n;
	int rc;

	if ((rc = ctldb_get(db, id, &s->rec)) != 1)
		return rc < 0 ? -rc : 1;
	if (s->rec.duplicate_of != 0) {
		if ((rc = ctldb_get(db, s->rec.duplicate_of, &s->original)) < 0)
			return -rc;
		s->has_original = rc;
	}
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
	n = select_ids(db, "SELECT id FROM files WHERE duplicate_of = ?1"
	    " ORDER BY id", params, 1, &s->dups);
	if (n < 0)
		return (int)-n;
	s->ndups = (size_t)n;
	return show_load_events(db, s);
}

static void
shown_free(struct shown *s)
{
	size_t i;

	rec_free(&s->rec);
	rec_free(&s->original);
	free(s->dups);
	for (i = 0; i < s->nevents; i++) {
		free(s->events[i].at);
		free(s->events[i].state);
		free(s->events[i].detail);
	}
	free(s->events);
}

static void
show_json(const struct shown *s, struct buf *b)
{
	size_t i;

	buf_addc(b, '{');
	rec_json(b, &s->rec);
	json_add_key(b, "original", 0);
	if (s->has_original) {
		buf_addc(b, '{');
		json_add_key(b, "id", 1);
		json_add_int(b, s->original.id);
		json_add_key(b, "state", 0);
		json_add_cstring(b, s->original.state);
		json_add_key(b, "dest", 0);
		json_add_cstring(b, s->original.dest);
		buf_addc(b, '}');
	} else
		buf_adds(b, "null");
	json_add_key(b, "duplicates", 0);
	buf_addc(b, '[');
	for (i = 0; i < s->ndups; i++) {
		if (i > 0)
			buf_addc(b, ',');
		json_add_int(b, s->dups[i]);
	}
	buf_addc(b, ']');
	json_add_key(b, "events", 0);
	buf_addc(b, '[');
	for (i = 0; i < s->nevents; i++) {
		if (i > 0)
			buf_addc(b, ',');
		buf_addc(b, '{');
		json_add_key(b, "at", 1);
		json_add_cstring(b, s->events[i].at);
		json_add_key(b, "state", 0);
		json_add_cstring(b, s->events[i].state);
		json_add_key(b, "detail", 0);
		json_add_cstring(b, s->events[i].detail);
		buf_addc(b, '}');
	}
	buf_add(b, "]}\n", 3);
}

/* The fields as key/value cells: TSV keeps raw numbers, a table is for eyes. */
static void
show_fields(struct table *t, const struct shown *s, enum out_mode mode,
    int color)
{
	const struct rec *r = &s->rec;
	char tbuf[32];
	struct buf v;
	size_t i;
	int human = mode == OUT_TABLE;

#define KV(k, val, sgr)	do { table_cell(t, (k), NULL); \
	table_cell(t, (val), (sgr)); } while (0)
#define KVI(k, n)	do { table_cell(t, (k), NULL); \
	table_cell_int(t, (long long)(n)); } while (0)
	buf_init(&v);
	KVI("id", r->id);
	KV("state", r->state, color ? state_color(r->state) : NULL);
	KV("watch", r->watch, NULL);
	KV("name", rec_name(r), NULL);
	KV("relpath", r->relpath, NULL);
	KV("source_path", r->source_path, NULL);
	KV("source_removed", human ? (r->source_removed ? "yes" : "no") :
	    (r->source_removed ? "1" : "0"), NULL);
	KVI("size", r->size);
	if (human) {
		time_format_iso(r->mtime_ns, tbuf);
		KV("mtime", tbuf, NULL);
	} else {
		KVI("mtime_ns", r->mtime_ns);
		KVI("ctime_ns", r->ctime_ns);
	}
	KVI("device", r->device);
	KVI("inode", r->inode);
	KV("sha256", r->sha256, NULL);
	KV("xxh128", r->xxh128, NULL);
	KV("dest", r->dest, NULL);
	KV("manifest", r->manifest, NULL);
	KVI("attempts", r->attempts);
	KV("last_error", r->last_error, NULL);
	if (r->duplicate_of != 0 && human) {
		buf_printf(&v, "#%lld", (long long)r->duplicate_of);
		if (s->has_original)
			buf_printf(&v, " %s %s", s->original.state,
			    s->original.dest ? s->original.dest : "-");
		KV("duplicate_of", v.data, NULL);
	} else if (r->duplicate_of != 0)
		KVI("duplicate_of", r->duplicate_of);
	else
		KV("duplicate_of", NULL, NULL);
	if (human) {
		buf_reset(&v);
		for (i = 0; i < s->ndups; i++)
			buf_printf(&v, "%s#%lld", i ? " " : "",
			    (long long)s->dups[i]);
		KV("duplicates", s->ndups ? v.data : NULL, NULL);
	}
	KV("discovered_at", r->discovered_at, NULL);
	KV("updated_at", r->updated_at, NULL);
	KV("ingested_at", r->ingested_at, NULL);
#undef KV
#undef KVI
	buf_free(&v);
}

static int
show_table(const struct shown *s, int color)
{
	static const char *const event_headers[] = { "AT", "STATE", "DETAIL" };
	struct table *t;
	size_t i;
	int rc;

	t = table_new(stdout, OUT_TABLE, color, 2, NULL);
	show_fields(t, s, OUT_TABLE, color);
	rc = table_flush(t);
	table_free(t);
	putchar('\n');
	t = table_new(stdout, OUT_TABLE, color, 3, event_headers);
	for (i = 0; i < s->nevents; i++) {
		table_cell(t, s->events[i].at, NULL);
		table_cell(t, s->events[i].state, color ?
		    state_color(s->events[i].state) : NULL);
		table_cell(t, s->events[i].detail, NULL);
	}
	rc |= table_flush(t);
	table_free(t);
	return rc;
}

/* key<TAB>value lines, then original, duplicate and event lines. */
static int
show_tsv(const struct shown *s)
{
	struct table *t;
	size_t i;
	int rc;

	t = table_new(stdout, OUT_TSV, 0, 2, NULL);
	show_fields(t, s, OUT_TSV, 0);
	table_free(t);
	if (s->has_original) {
		t = table_new(stdout, OUT_TSV, 0, 4, NULL);
		table_cell(t, "original", NULL);
		table_cell_int(t, s->original.id);
		table_cell(t, s->original.state, NULL);
		table_cell(t, s->original.dest, NULL);
		table_free(t);
	}
	t = table_new(stdout, OUT_TSV, 0, 2, NULL);
	for (i = 0; i < s->ndups; i++) {
		table_cell(t, "duplicate", NULL);
		table_cell_int(t, s->dups[i]);
	}
	table_free(t);
	t = table_new(stdout, OUT_TSV, 0, 4, NULL);
	for (i = 0; i < s->nevents; i++) {
		table_cell(t, "event", NULL);
		table_cell(t, s->events[i].at, NULL);
		table_cell(t, s->events[i].state, NULL);
		table_cell(t, s->events[i].detail, NULL);
	}
	rc = table_flush(t);
	table_free(t);
	return rc;
}

int
cmd_show(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		CTL_GLOBAL_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct shown s;
	struct ctldb db;
	struct buf b;
	const char *arg;
	int64_t id = 0;
	int rc;

	if (ctl_getopt(c, "show", argc, argv, CTL_GLOBAL_SHORTOPTS,
	    longopts) != -1)
		ctl_usage_error("show", "unexpected option");
	if (optind >= argc)
		ctl_usage_error("show", "missing ID, HASH-PREFIX or PATH");
	if (optind + 1 < argc)
		ctl_usage_error("show", "unexpected argument '%s'",
		    argv[optind + 1]);
	arg = argv[optind];
	if (*arg == '\0')
		return ctl_value_error("show: empty ID, HASH-PREFIX or PATH");
	if ((rc = ctl_open(c, &db)) != 0)
		return rc;
	memset(&s, 0, sizeof(s));
	if ((rc = show_resolve(&db, arg, &id)) == 0)
		rc = show_load(&db, id, &s);
	ctldb_close(&db);
	if (rc == 1) {
		b.data = NULL;
		buf_init(&b);
		esc_display(&b, arg);
		fprintf(stderr, "ingestctl: no file matches '%s'\n", b.data);
		buf_free(&b);
	}
	if (rc == 0) {
		switch (ctl_mode(c)) {
		case OUT_JSON:
			buf_init(&b);
			show_json(&s, &b);
			fwrite(b.data, 1, b.len, stdout);
			buf_free(&b);
			break;
		case OUT_TABLE:
			show_table(&s, ctl_color(c));
			break;
		default:
			show_tsv(&s);
			break;
		}
		rc = ctl_finish_output();
	}
	shown_free(&s);
	return rc;
}
