/* ingestctl: the commands the daemon answers: live status, retry, reconcile, reload, pause, resume. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "buf.h"
#include "client.h"
#include "ingestctl.h"
#include "json.h"
#include "util.h"

/*
 * Replies are generic records (kind plus scalars); they are rendered
 * without knowing the command: one table per kind in the order kinds first
 * appear, a key/value list for the one-record kinds (the daemon's status),
 * progress on stderr when it is a terminal.
 */
struct group {
	char		*kind;
	char		**keys;		/* the first record's keys but "kind" */
	char		**headers;	/* keys in upper case */
	int		 ncols;
	struct table	*t;
};

struct render {
	enum out_mode	 mode;
	int		 color;
	int		 kind_prefix;	/* TSV: the kind first (kinds mix) */
	int		 progress;	/* stderr is a terminal */
	int		 progress_shown;
	struct group	*groups;
	size_t		 ngroups;
	struct buf	 out;		/* TSV / JSON, written per record */
};

/* Records of these kinds are one object each: shown as "key: value". */
static int
kind_is_keyvalue(const char *kind)
{
	return strcmp(kind, "daemon") == 0;
}

/* The text of a value for a table or TSV; NULL for nil. */
static const char *
value_text(const struct rec_value *v, char *tmp, size_t size)
{
	switch (v->kind) {
	case RV_STR:
		return v->s;
	case RV_INT:
		snprintf(tmp, size, "%lld", (long long)v->i);
		return tmp;
	case RV_UINT:
		snprintf(tmp, size, "%llu", (unsigned long long)v->u);
		return tmp;
	case RV_FLOAT:
		snprintf(tmp, size, "%.2f", v->f);
		return tmp;
	case RV_BOOL:
		return v->i ? "true" : "false";
	default:
		return NULL;
	}
}

static void
value_json(struct buf *b, const struct rec_value *v)
{
	switch (v->kind) {
	case RV_STR:
		json_add_cstring(b, v->s);
		break;
	case RV_INT:
		json_add_int(b, v->i);
		break;
	case RV_UINT:
		json_add_uint(b, v->u);
		break;
	case RV_FLOAT:
		if (v->f == v->f && v->f - v->f == 0)	/* finite */
			buf_printf(b, "%.17g", v->f);
		else
			buf_adds(b, "null");
		break;
	case RV_BOOL:
		buf_adds(b, v->i ? "true" : "false");
		break;
	default:
		buf_adds(b, "null");
		break;
	}
}

static void
render_init(struct render *rd, const struct ctl *c, int kind_prefix)
{
	memset(rd, 0, sizeof(*rd));
	rd->mode = ctl_mode(c);
	rd->color = ctl_color(c);
	rd->kind_prefix = kind_prefix;
	rd->progress = isatty(STDERR_FILENO);
	buf_init(&rd->out);
}

static const char *
record_kind(const struct ctl_record *r)
{
	const struct rec_value *v = record_get(r, "kind");

	return v != NULL && v->kind == RV_STR ? v->s : "record";
}

static struct group *
group_for(struct render *rd, const struct ctl_record *r, const char *kind)
{
	static const char *const kv_headers[] = { "KEY", "VALUE" };
	struct group *g;
	size_t i, j;

	for (i = 0; i < rd->ngroups; i++)
		if (strcmp(rd->groups[i].kind, kind) == 0)
			return &rd->groups[i];
	rd->groups = xrealloc(rd->groups, (rd->ngroups + 1) *
	    sizeof(*rd->groups));
	g = &rd->groups[rd->ngroups++];
	memset(g, 0, sizeof(*g));
	g->kind = xstrdup(kind);
	g->keys = xcalloc(r->n + 1, sizeof(*g->keys));
	g->headers = xcalloc(r->n + 1, sizeof(*g->headers));
	for (i = 0; i < r->n; i++) {
		if (strcmp(r->v[i].key, "kind") == 0)
			continue;
		g->keys[g->ncols] = xstrdup(r->v[i].key);
		g->headers[g->ncols] = xstrdup(r->v[i].key);
		for (j = 0; g->headers[g->ncols][j] != '\0'; j++)
			if (g->headers[g->ncols][j] >= 'a' &&
			    g->headers[g->ncols][j] <= 'z')
				g->headers[g->ncols][j] -= 'a' - 'A';
		g->ncols++;
	}
	if (kind_is_keyvalue(kind))
		g->t = table_new(stdout, OUT_TABLE, rd->color, 2, NULL);
	else
		g->t = table_new(stdout, OUT_TABLE, rd->color,
		    g->ncols > 0 ? g->ncols : 1,
		    (const char *const *)(g->ncols > 0 ? g->headers :
		    (char **)kv_headers));
	/* numbers right-aligned, judged by the first record */
	for (i = 0, j = 0; i < r->n && !kind_is_keyvalue(kind); i++) {
		if (strcmp(r->v[i].key, "kind") == 0)
			continue;
		if (r->v[i].kind == RV_INT || r->v[i].kind == RV_UINT ||
		    r->v[i].kind == RV_FLOAT)
			table_align_right(g->t, (int)j);
		j++;
	}
	return g;
}

static const char *
cell_color(const char *key, const char *text)
{
	if (text == NULL)
		return NULL;
	if (strcmp(key, "state") == 0 || strcmp(key, "was") == 0)
		return state_color(text);
	return NULL;
}

static void
render_table(struct render *rd, const struct ctl_record *r, const char *kind)
{
	struct group *g = group_for(rd, r, kind);
	const struct rec_value *v;
	char tmp[32], key[272];
	const char *text;
	size_t i;
	int col;

	if (kind_is_keyvalue(kind)) {
		for (i = 0; i < r->n; i++) {
			if (strcmp(r->v[i].key, "kind") == 0)
				continue;
			snprintf(key, sizeof(key), "%s:", r->v[i].key);
			table_cell(g->t, key, NULL);
			table_cell(g->t, value_text(&r->v[i], tmp, sizeof(tmp)),
			    NULL);
		}
		return;
	}
	for (col = 0; col < g->ncols; col++) {
		v = record_get(r, g->keys[col]);
		text = v != NULL ? value_text(v, tmp, sizeof(tmp)) : NULL;
		table_cell(g->t, text, cell_color(g->keys[col], text));
	}
}

static void
render_tsv(struct render *rd, const struct ctl_record *r, const char *kind)
{
	char tmp[32];
	const char *text;
	size_t i;
	int n = 0;

	for (i = 0; i < r->n; i++) {
		if (strcmp(r->v[i].key, "kind") == 0)
			continue;
		if (kind_is_keyvalue(kind)) {
			esc_tsv(&rd->out, r->v[i].key);
			buf_addc(&rd->out, '\t');
			if ((text = value_text(&r->v[i], tmp, sizeof(tmp))) !=
			    NULL)
				esc_tsv(&rd->out, text);
			buf_addc(&rd->out, '\n');
			continue;
		}
		if (n++ == 0 && rd->kind_prefix) {
			esc_tsv(&rd->out, kind);
			buf_addc(&rd->out, '\t');
		} else if (n > 1)
			buf_addc(&rd->out, '\t');
		if ((text = value_text(&r->v[i], tmp, sizeof(tmp))) != NULL)
			esc_tsv(&rd->out, text);
	}
	if (!kind_is_keyvalue(kind))
		buf_addc(&rd->out, '\n');
}

static void
render_json(struct render *rd, const struct ctl_record *r)
{
	size_t i;

	buf_addc(&rd->out, '{');
	for (i = 0; i < r->n; i++) {
		json_add_key(&rd->out, r->v[i].key, i == 0);
		value_json(&rd->out, &r->v[i]);
	}
	buf_add(&rd->out, "}\n", 2);
}

/* "reconcile: watch=in checked=2000 drifts=1" over itself on the terminal. */
static void
render_progress(struct render *rd, const struct ctl_record *r)
{
	struct buf line;
	char tmp[32];
	const char *text;
	size_t i;

	if (!rd->progress)
		return;
	buf_init(&line);
	buf_adds(&line, "\r\033[K");
	for (i = 0; i < r->n; i++) {
		if (strcmp(r->v[i].key, "kind") == 0)
			continue;
		text = value_text(&r->v[i], tmp, sizeof(tmp));
		buf_printf(&line, "%s%s=", line.len > 4 ? " " : "",
		    r->v[i].key);
		esc_display(&line, text != NULL ? text : "-");
	}
	fwrite(line.data, 1, line.len, stderr);
	fflush(stderr);
	buf_free(&line);
	rd->progress_shown = 1;
}

static void
render_record(const struct ctl_record *r, void *arg)
{
	struct render *rd = arg;
	const char *kind = record_kind(r);

	if (strcmp(kind, "progress") == 0) {
		render_progress(rd, r);
		return;
	}
	if (rd->mode == OUT_JSON)
		render_json(rd, r);
	else if (rd->mode == OUT_TABLE)
		render_table(rd, r, kind);
	else
		render_tsv(rd, r, kind);
	if (rd->out.len > 0) {
		fwrite(rd->out.data, 1, rd->out.len, stdout);
		buf_reset(&rd->out);
	}
}

/* Print the tables, free everything; 0 or 70 if stdout failed. */
static int
render_finish(struct render *rd)
{
	struct group *g;
	size_t i;
	int c, rc = 0;

	if (rd->progress_shown)
		fputs("\r\033[K", stderr);
	for (i = 0; i < rd->ngroups; i++) {
		g = &rd->groups[i];
		if (i > 0)
			putchar('\n');
		if (table_flush(g->t) == -1)
			rc = -1;
		table_free(g->t);
		for (c = 0; c < g->ncols; c++) {
			free(g->keys[c]);
			free(g->headers[c]);
		}
		free(g->keys);
		free(g->headers);
		free(g->kind);
	}
	free(rd->groups);
	buf_free(&rd->out);
	c = ctl_finish_output();
	return rc == -1 && c == 0 ? EX_SOFTWARE : c;
}

/*
 * Run req and render its reply; the end's message goes to stderr (with
 * the command's name when it failed).  Returns the exit status.
 */
static int
remote_run(struct ctl *c, const struct msg_ctl_request *req, int kind_prefix)
{
	struct msg_ctl_end *end;
	struct render rd;
	int rc, out;

	end = xcalloc(1, sizeof(*end));
	render_init(&rd, c, kind_prefix);
	rc = ctl_call(c, req, render_record, &rd, end);
	out = render_finish(&rd);
	if (end->message[0] != '\0') {
		if (rc != 0)
			fprintf(stderr, "ingestctl: %s: %s\n", req->cmd,
			    end->message);
		else
			fprintf(stderr, "%s\n", end->message);
	}
	free(end);
	return rc != 0 ? rc : out;
}

static void
request_init(struct msg_ctl_request *req, const char *cmd)
{
	memset(req, 0, sizeof(*req));
	str_copy(req->cmd, cmd, sizeof(req->cmd));
}

/* --watch W into the request; a name longer than a watch can be is 65. */
static int
request_watch(struct msg_ctl_request *req, const char *watch)
{
	if (str_copy(req->watch, watch, sizeof(req->watch)) == -1)
		return ctl_value_error("no watch named '%.40s...': names are"
		    " shorter", watch);
	return 0;
}

int
ctl_remote_status(struct ctl *c)
{
	struct msg_ctl_request req;

	request_init(&req, "status");
	return remote_run(c, &req, 1);
}

struct find_db {
	char	*path;
};

static void
find_db(const struct ctl_record *r, void *arg)
{
	struct find_db *f = arg;
	const struct rec_value *v = record_get(r, "state_db");

	if (f->path == NULL && v != NULL && v->kind == RV_STR)
		f->path = xstrdup(v->s);
}

char *
ctl_daemon_db(struct ctl *c, int *rc)
{
	struct msg_ctl_request req;
	struct msg_ctl_end *end = xcalloc(1, sizeof(*end));
	struct find_db f = { NULL };

	request_init(&req, "status");
	*rc = ctl_call(c, &req, find_db, &f, end);
	if (*rc != 0 && end->message[0] != '\0')
		fprintf(stderr, "ingestctl: status: %s\n", end->message);
	else if (*rc == 0 && f.path == NULL) {
		fprintf(stderr, "ingestctl: the daemon keeps no audit database"
		    " (--dry-run)\n");
		*rc = EX_UNAVAILABLE;
	}
	free(end);
	if (*rc != 0) {
		free(f.path);
		return NULL;
	}
	return f.path;
}

/* retry [--watch W] [--dry-run] --all | ID... */
int
cmd_retry(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		CTL_GLOBAL_LONGOPTS,
		{ "all",	no_argument,		NULL, 'a' },
		{ "watch",	required_argument,	NULL, 'w' },
		{ "dry-run",	no_argument,		NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	struct msg_ctl_request req;
	struct buf ids;
	long long id;
	int ch, rc = 0;

	request_init(&req, "retry");
	while ((ch = ctl_getopt(c, "retry", argc, argv, CTL_GLOBAL_SHORTOPTS
	    "aw:n", longopts)) != -1) {
		switch (ch) {
		case 'a':
			req.all = 1;
			break;
		case 'w':
			if ((rc = request_watch(&req, optarg)) != 0)
				return rc;
			break;
		case 'n':
			req.dry_run = 1;
			break;
		default:
			ctl_usage_error("retry", "unexpected option");
		}
	}
	if (c->db_path != NULL)
		ctl_usage_error("retry", "needs the daemon: --db only reads");
	if (req.all && optind < argc)
		ctl_usage_error("retry", "--all or file ids, not both");
	if (!req.all && optind == argc && req.watch[0] == '\0')
		ctl_usage_error("retry", "which files? --all, --watch W or ids");
	buf_init(&ids);
	for (; optind < argc; optind++) {
		if (parse_uint(argv[optind], 1, INT64_MAX, &id) == -1) {
			buf_free(&ids);
			return ctl_value_error("retry: '%s' is not a file id"
			    " (a positive number; see ingestctl query)",
			    argv[optind]);
		}
		buf_printf(&ids, "%s%lld", ids.len ? "," : "", id);
	}
	if (ids.len > 0 && str_copy(req.ids, ids.data, sizeof(req.ids)) == -1)
		ctl_usage_error("retry", "too many ids at once; use --all or"
		    " --watch W");
	buf_free(&ids);
	return remote_run(c, &req, 0);
}

/* reconcile [--watch W] [--check] */
int
cmd_reconcile(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		CTL_GLOBAL_LONGOPTS,
		{ "watch",	required_argument,	NULL, 'w' },
		{ "check",	no_argument,		NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	struct msg_ctl_request req;
	int ch, rc;

	request_init(&req, "reconcile");
	while ((ch = ctl_getopt(c, "reconcile", argc, argv,
	    CTL_GLOBAL_SHORTOPTS "w:c", longopts)) != -1) {
		switch (ch) {
		case 'w':
			if ((rc = request_watch(&req, optarg)) != 0)
				return rc;
			break;
		case 'c':
			req.check = 1;
			break;
		default:
			ctl_usage_error("reconcile", "unexpected option");
		}
	}
	if (optind < argc)
		ctl_usage_error("reconcile", "unexpected argument '%s'",
		    argv[optind]);
	if (c->db_path != NULL)
		ctl_usage_error("reconcile", "needs the daemon: --db only"
		    " reads");
	return remote_run(c, &req, 0);
}

/* reload [--wait] */
int
cmd_reload(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		CTL_GLOBAL_LONGOPTS,
		{ "wait",	no_argument,		NULL, 'W' },
		{ NULL, 0, NULL, 0 }
	};
	struct msg_ctl_request req;
	int ch;

	request_init(&req, "reload");
	while ((ch = ctl_getopt(c, "reload", argc, argv, CTL_GLOBAL_SHORTOPTS,
	    longopts)) != -1) {
		if (ch != 'W')
			ctl_usage_error("reload", "unexpected option");
		req.wait = 1;
	}
	if (optind < argc)
		ctl_usage_error("reload", "unexpected argument '%s'",
		    argv[optind]);
	if (c->db_path != NULL)
		ctl_usage_error("reload", "needs the daemon: --db only reads");
	return remote_run(c, &req, 0);
}

/* pause [WATCH] and resume [WATCH] */
int
cmd_pause(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		CTL_GLOBAL_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct msg_ctl_request req;
	const char *cmd = argv[0];
	int rc;

	request_init(&req, cmd);
	if (ctl_getopt(c, cmd, argc, argv, CTL_GLOBAL_SHORTOPTS, longopts) !=
	    -1)
		ctl_usage_error(cmd, "unexpected option");
	if (argc - optind > 1)
		ctl_usage_error(cmd, "unexpected argument '%s'",
		    argv[optind + 1]);
	if (optind < argc && (rc = request_watch(&req, argv[optind])) != 0)
		return rc;
	if (c->db_path != NULL)
		ctl_usage_error(cmd, "needs the daemon: --db only reads");
	return remote_run(c, &req, 0);
}
