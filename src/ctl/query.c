/* ingestctl: "query", listing files of the audit database by filters, and the JSON record. */
#include <ctype.h>
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
#include "when.h"

#define QUERY_DEFAULT_LIMIT	100
#define MAX_BINDS		(ST_END + 8)

/* The filters, and the SQL text they turn into, values bound in order. */
struct filter {
	int		 state[ST_END];
	int		 nstates;
	const char	*watch;
	const char	*name;
	char		 hash[65];
	char		 hash_end[66];	/* hash + "g": the end of its range */
	int		 since_set;
	char		 since[32];
	int		 until_set;
	char		 until[32];
};

struct binds {
	const char	*text[MAX_BINDS];
	int		 n;
};

void
rec_json(struct buf *b, const struct rec *r)
{
	int esc = 0;

	json_add_key(b, "id", 1);
	json_add_int(b, r->id);
	json_add_key(b, "state", 0);
	json_add_cstring(b, r->state);
	json_add_key(b, "watch", 0);
	esc |= json_add_cstring(b, r->watch);
	json_add_key(b, "name", 0);
	esc |= json_add_cstring(b, rec_name(r));
	json_add_key(b, "relpath", 0);
	esc |= json_add_cstring(b, r->relpath);
	json_add_key(b, "source_path", 0);
	esc |= json_add_cstring(b, r->source_path);
	json_add_key(b, "size", 0);
	json_add_int(b, r->size);
	json_add_key(b, "mtime_ns", 0);
	json_add_int(b, r->mtime_ns);
	json_add_key(b, "ctime_ns", 0);
	json_add_int(b, r->ctime_ns);
	json_add_key(b, "device", 0);
	json_add_uint(b, (unsigned long long)r->device);
	json_add_key(b, "inode", 0);
	json_add_uint(b, (unsigned long long)r->inode);
	json_add_key(b, "sha256", 0);
	json_add_cstring(b, r->sha256);
	json_add_key(b, "xxh128", 0);
	json_add_cstring(b, r->xxh128);
	json_add_key(b, "dest", 0);
	esc |= json_add_cstring(b, r->dest);
	json_add_key(b, "manifest", 0);
	esc |= json_add_cstring(b, r->manifest);
	json_add_key(b, "attempts", 0);
	json_add_int(b, r->attempts);
	json_add_key(b, "last_error", 0);
	esc |= json_add_cstring(b, r->last_error);
	json_add_key(b, "duplicate_of", 0);
	if (r->duplicate_of != 0)
		json_add_int(b, r->duplicate_of);
	else
		buf_adds(b, "null");
	json_add_key(b, "source_removed", 0);
	buf_adds(b, r->source_removed ? "true" : "false");
	json_add_key(b, "discovered_at", 0);
	json_add_cstring(b, r->discovered_at);
	json_add_key(b, "updated_at", 0);
	json_add_cstring(b, r->updated_at);
	json_add_key(b, "ingested_at", 0);
	json_add_cstring(b, r->ingested_at);
	/* like the manifest: some name had bytes escaped as \udcXX */
	json_add_key(b, "name_escaped", 0);
	buf_adds(b, esc ? "true" : "false");
}

static int
valid_states_error(const char *opt, const char *bad)
{
	struct buf b;
	int i, rc;

	buf_init(&b);
	for (i = 0; i < ST_END; i++)
		buf_printf(&b, "%s%s", i ? ", " : "", state_name(i));
	rc = ctl_value_error("%s: unknown state '%s'; the states are: %s", opt,
	    bad, b.data);
	buf_free(&b);
	return rc;
}

/* --state S[,S...]: adds to the set. */
static int
filter_states(struct filter *f, const char *arg)
{
	char *copy, *p, *tok;
	int st, rc = 0;

	copy = xstrdup(arg);
	for (p = copy; (tok = strsep(&p, ",")) != NULL;) {
		if ((st = state_parse(tok)) == -1) {
			rc = valid_states_error("--state", tok);
			break;
		}
		if (!f->state[st]) {
			f->state[st] = 1;
			f->nstates++;
		}
	}
	free(copy);
	return rc;
}

/* --hash: 4 to 64 hex digits, kept in lower case like the database. */
static int
filter_hash(struct filter *f, const char *arg)
{
	size_t i, n = strlen(arg);

	if (n < 4 || n > 64)
		goto bad;
	for (i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)arg[i]))
			goto bad;
		f->hash[i] = (char)tolower((unsigned char)arg[i]);
	}
	f->hash[n] = '\0';
	snprintf(f->hash_end, sizeof(f->hash_end), "%sg", f->hash);
	return 0;
bad:
	return ctl_value_error("--hash: expected 4 to 64 hex digits of a"
	    " SHA-256, got '%s'", arg);
}

static int
filter_time(const char *opt, const char *arg, int64_t now_ns, char out[32])
{
	int64_t ns;

	if (when_parse_point(arg, now_ns, &ns) == -1)
		return ctl_value_error("%s: expected a duration like 10m, 2h,"
		    " 3d or an ISO time like 2026-11-22T03:04:05Z, got '%s'",
		    opt, arg);
	time_format_iso(ns, out);
	return 0;
}

static void
bind_add(struct binds *bd, const char *text)
{
	if (bd->n < MAX_BINDS)
		bd->text[bd->n++] = text;
}

/*
 * Append " WHERE ..." for the filters; every value is a parameter.  The
 * times are ISO strings of one fixed format, so comparing them as text
 * compares the instants.
 */
static void
filter_sql(const struct filter *f, struct buf *sql, struct binds *bd)
{
	const char *and = " WHERE ";
	int i, first;

	if (f->nstates > 0) {
		buf_adds(sql, and);
		buf_adds(sql, "state IN (");
		for (i = 0, first = 1; i < ST_END; i++) {
			if (!f->state[i])
				continue;
			buf_adds(sql, first ? "?" : ", ?");
			bind_add(bd, state_name(i));
			first = 0;
		}
		buf_addc(sql, ')');
		and = " AND ";
	}
	if (f->watch != NULL) {
		buf_printf(sql, "%swatch = ?", and);
		bind_add(bd, f->watch);
		and = " AND ";
	}
	if (f->name != NULL) {
		buf_printf(sql, "%sctl_name_glob(?, source_path)", and);
		bind_add(bd, f->name);
		and = " AND ";
	}
	if (f->hash[0] != '\0') {
		/*
		 * A range, so that the sha256 index answers: every lower-case
		 * hex digest starting with the prefix sorts between the prefix
		 * and the prefix followed by 'g'.
		 */
		buf_printf(sql, "%ssha256 >= ? AND sha256 < ?", and);
		bind_add(bd, f->hash);
		bind_add(bd, f->hash_end);
		and = " AND ";
	}
	if (f->since_set) {
		buf_printf(sql, "%sdiscovered_at >= ?", and);
		bind_add(bd, f->since);
		and = " AND ";
	}
	if (f->until_set) {
		buf_printf(sql, "%sdiscovered_at < ?", and);
		bind_add(bd, f->until);
	}
}

static int
query_prepare(struct ctldb *db, const char *sql, const struct binds *bd,
    sqlite3_stmt **st)
{
	int i, rc;

	if ((rc = ctldb_prepare(db, sql, st)) != 0)
		return rc;
	for (i = 0; i < bd->n; i++)
		sqlite3_bind_text(*st, i + 1, bd->text[i], -1, SQLITE_STATIC);
	return 0;
}

static int
query_count(struct ctldb *db, const struct filter *f)
{
	struct binds bd = { .n = 0 };
	sqlite3_stmt *st;
	struct buf sql;
	long long n = 0;
	int rc;

	buf_init(&sql);
	buf_adds(&sql, "SELECT count(*) FROM files");
	filter_sql(f, &sql, &bd);
	rc = query_prepare(db, sql.data, &bd, &st);
	buf_free(&sql);
	if (rc != 0)
		return rc;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	else
		rc = ctldb_fail(db, "query failed");
	sqlite3_finalize(st);
	if (rc != 0)
		return rc;
	printf("%lld\n", n);
	if ((rc = ctl_finish_output()) != 0)
		return rc;
	return n > 0 ? 0 : 1;
}

static const char *const list_headers[] = {
	"ID", "STATE", "WATCH", "SIZE", "DISCOVERED", "INGESTED", "NAME",
	"DEST", "SHA256",
};
static const char *const list_csv_headers[] = {
	"id", "state", "watch", "size", "discovered_at", "ingested_at",
	"relpath", "dest", "sha256",
};

/* One row of the listing: the short hash only in an aligned table. */
static void
list_row(struct table *t, enum out_mode mode, int color, const struct rec *r)
{
	char sha[13];

	table_cell_int(t, r->id);
	table_cell(t, r->state, color ? state_color(r->state) : NULL);
	table_cell(t, r->watch, NULL);
	table_cell_int(t, r->size);
	table_cell(t, r->discovered_at, NULL);
	table_cell(t, r->ingested_at, NULL);
	table_cell(t, r->relpath, NULL);
	table_cell(t, r->dest, NULL);
	if (mode == OUT_TABLE && r->sha256 != NULL) {
		snprintf(sha, sizeof(sha), "%s", r->sha256);
		table_cell(t, sha, NULL);
	} else
		table_cell(t, r->sha256, NULL);
}

static int
query_list(struct ctl *c, struct ctldb *db, const struct filter *f,
    long long limit, enum out_mode mode)
{
	struct binds bd = { .n = 0 };
	struct table *t = NULL;
	sqlite3_stmt *st;
	struct buf sql, line;
	struct rec r;
	long long n = 0;
	int rc, step, color = ctl_color(c), more = 0;

	buf_init(&sql);
	buf_adds(&sql, "SELECT " REC_COLUMNS " FROM files");
	filter_sql(f, &sql, &bd);
	buf_adds(&sql, " ORDER BY discovered_at DESC, id DESC");
	/* one more than asked for, to know whether there are more */
	if (limit > 0)
		buf_adds(&sql, " LIMIT ?");
	rc = query_prepare(db, sql.data, &bd, &st);
	buf_free(&sql);
	if (rc != 0)
		return rc;
	if (limit > 0)
		sqlite3_bind_int64(st, bd.n + 1, limit + 1);
	if (mode != OUT_JSON)
		t = table_new(stdout, mode, color, 9, mode == OUT_CSV ?
		    list_csv_headers : list_headers);
	if (t != NULL) {
		table_align_right(t, 0);
		table_align_right(t, 3);
	}
	buf_init(&line);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (limit > 0 && n == limit) {
			more = 1;
			break;
		}
		rec_read(st, &r);
		if (mode == OUT_JSON) {
			buf_reset(&line);
			buf_addc(&line, '{');
			rec_json(&line, &r);
			buf_add(&line, "}\n", 2);
			fwrite(line.data, 1, line.len, stdout);
		} else
			list_row(t, mode, color, &r);
		rec_free(&r);
		n++;
	}
	buf_free(&line);
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		rc = ctldb_fail(db, "query failed");
	sqlite3_finalize(st);
	if (t != NULL && n > 0 && table_flush(t) == -1)
		rc = ctl_finish_output();
	table_free(t);
	if (rc == 0)
		rc = ctl_finish_output();
	if (rc == 0 && more && isatty(STDERR_FILENO))
		fprintf(stderr, "ingestctl: showing the newest %lld matches;"
		    " --limit 0 shows all, --count counts them\n", limit);
	if (rc == 0 && n == 0)
		rc = 1;
	return rc;
}

static int
parse_format(const char *arg, int tty, enum out_mode *mode)
{
	if (strcmp(arg, "table") == 0)
		*mode = tty ? OUT_TABLE : OUT_TSV;
	else if (strcmp(arg, "tsv") == 0)
		*mode = OUT_TSV;
	else if (strcmp(arg, "json") == 0)
		*mode = OUT_JSON;
	else if (strcmp(arg, "csv") == 0)
		*mode = OUT_CSV;
	else
		return -1;
	return 0;
}

enum {
	OPT_STATE = 0x200,
	OPT_WATCH,
	OPT_NAME,
	OPT_HASH,
	OPT_SINCE,
	OPT_UNTIL,
	OPT_LIMIT,
	OPT_FORMAT,
	OPT_COUNT,
};

int
cmd_query(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		CTL_GLOBAL_LONGOPTS,
		{ "state",	required_argument,	NULL, OPT_STATE },
		{ "watch",	required_argument,	NULL, OPT_WATCH },
		{ "name",	required_argument,	NULL, OPT_NAME },
		{ "hash",	required_argument,	NULL, OPT_HASH },
		{ "since",	required_argument,	NULL, OPT_SINCE },
		{ "until",	required_argument,	NULL, OPT_UNTIL },
		{ "limit",	required_argument,	NULL, OPT_LIMIT },
		{ "format",	required_argument,	NULL, OPT_FORMAT },
		{ "count",	no_argument,		NULL, OPT_COUNT },
		{ NULL, 0, NULL, 0 }
	};
	struct filter f;
	struct ctldb db;
	const char *format = NULL;
	long long limit = QUERY_DEFAULT_LIMIT;
	enum out_mode mode;
	int ch, rc = 0, count = 0;

	memset(&f, 0, sizeof(f));
	while ((ch = ctl_getopt(c, "query", argc, argv, CTL_GLOBAL_SHORTOPTS,
	    longopts)) != -1) {
		switch (ch) {
		case OPT_STATE:
			rc = filter_states(&f, optarg);
			break;
		case OPT_WATCH:
			f.watch = optarg;
			break;
		case OPT_NAME:
			f.name = optarg;
			break;
		case OPT_HASH:
			rc = filter_hash(&f, optarg);
			break;
		case OPT_SINCE:
			f.since_set = 1;
			rc = filter_time("--since", optarg, c->now_ns, f.since);
			break;
		case OPT_UNTIL:
			f.until_set = 1;
			rc = filter_time("--until", optarg, c->now_ns, f.until);
			break;
		case OPT_LIMIT:
			if (parse_uint(optarg, 0, LLONG_MAX - 1, &limit) == -1)
				rc = ctl_value_error("--limit: expected a"
				    " number (0 for no limit), got '%s'",
				    optarg);
			break;
		case OPT_FORMAT:
			format = optarg;
			break;
		case OPT_COUNT:
			count = 1;
			break;
		default:
			ctl_usage_error("query", "unexpected option");
		}
		if (rc != 0)
			return rc;
	}
	if (optind < argc)
		ctl_usage_error("query", "unexpected argument '%s'",
		    argv[optind]);
	mode = ctl_mode(c);
	if (format != NULL) {
		if (parse_format(format, c->tty, &mode) == -1)
			return ctl_value_error("--format: expected table, tsv,"
			    " json or csv, got '%s'", format);
		if (c->json && mode != OUT_JSON)
			ctl_usage_error("query", "--json and --format %s"
			    " contradict each other", format);
	}
	if ((rc = ctl_open(c, &db)) != 0)
		return rc;
	if (count)
		rc = query_count(&db, &f);
	else
		rc = query_list(c, &db, &f, limit, mode);
	ctldb_close(&db);
	return rc;
}
