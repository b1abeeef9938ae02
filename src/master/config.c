/* master: the configuration's defaults, printing (-T), comparison for reload, and freeing. */
#include <sys/queue.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "proto.h"
#include "util.h"

#define DEFAULT_STATE_DIR	"/var/lib/ingestd"
#define DEFAULT_WORKERS_MAX	64

struct config *
config_new(void)
{
	struct config *conf = xcalloc(1, sizeof(*conf));
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	TAILQ_INIT(&conf->watches);
	conf->state_dir = xstrdup(DEFAULT_STATE_DIR);
	conf->state_path = xstrdup(DEFAULT_STATE_DIR "/audit.db");
	conf->control_path = xstrdup(CTL_SOCKET_DEFAULT);
	conf->user = NULL;
	if (ncpu < 1)
		ncpu = 1;
	if (ncpu > DEFAULT_WORKERS_MAX)
		ncpu = DEFAULT_WORKERS_MAX;
	conf->workers = (int)ncpu;
	conf->hash = HASH_SHA256;
	conf->log_json = 1;
	conf->rescan_secs = 60;
	conf->sandbox = xstrdup("auto");
	conf->metrics_interval_secs = CONFIG_METRICS_INTERVAL;

	conf->dry_run = 0;
	conf->once = 0;
	conf->log_level = LOG_INFO;
	conf->worker_path = NULL;
	conf->chroot_dir = NULL;
	conf->backoff_max_secs = 60;
	conf->watchdog_secs = 60;
	return conf;
}

static void
strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
config_watch_free(struct watch_conf *w)
{
	struct route *r;

	while ((r = TAILQ_FIRST(&w->routes)) != NULL) {
		TAILQ_REMOVE(&w->routes, r, entry);
		free(r->glob);
		free(r->to);
		free(r);
	}
	free(w->name);
	free(w->path);
	strv_free(w->match, w->nmatch);
	strv_free(w->ignore, w->nignore);
	free(w->sidecar_suffix);
	free(w->to);
	free(w->manifest);
	free(w->duplicate_dir);
	free(w->file);
	free(w);
}

static char *
strdup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static char **
strv_dup(char **v, size_t n)
{
	char **out = xcalloc(n ? n : 1, sizeof(*out));
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

struct watch_conf *
config_watch_dup(const struct watch_conf *c)
{
	struct watch_conf *d = xcalloc(1, sizeof(*d));
	struct route *rt, *nr;

	*d = *c;
	d->name = xstrdup(c->name);
	d->path = xstrdup(c->path);
	d->match = strv_dup(c->match, c->nmatch);
	d->ignore = strv_dup(c->ignore, c->nignore);
	d->sidecar_suffix = strdup_or_null(c->sidecar_suffix);
	d->to = xstrdup(c->to);
	d->manifest = xstrdup(c->manifest);
	d->duplicate_dir = strdup_or_null(c->duplicate_dir);
	d->file = strdup_or_null(c->file);
	TAILQ_INIT(&d->routes);
	TAILQ_FOREACH(rt, &c->routes, entry) {
		nr = xcalloc(1, sizeof(*nr));
		nr->glob = xstrdup(rt->glob);
		nr->to = xstrdup(rt->to);
		TAILQ_INSERT_TAIL(&d->routes, nr, entry);
	}
	return d;
}

void
config_free(struct config *conf)
{
	struct watch_conf *w;

	if (conf == NULL)
		return;
	while ((w = TAILQ_FIRST(&conf->watches)) != NULL) {
		TAILQ_REMOVE(&conf->watches, w, entry);
		config_watch_free(w);
	}
	free(conf->file);
	free(conf->state_dir);
	free(conf->state_path);
	free(conf->control_path);
	free(conf->control_read_group);
	free(conf->control_admin_group);
	free(conf->user);
	free(conf->sandbox);
	free(conf->worker_path);
	free(conf->chroot_dir);
	free(conf->log_file);
	free(conf->metrics_addr);
	free(conf->metrics_at);
	free(conf->metrics_textfile);
	free(conf);
}

static char *
str_prefix(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/*
 * [ADDR:]PORT, ADDR a numeric IPv4 address or a bracketed IPv6 one (no
 * name lookup: the file must mean the same thing whatever DNS says).
 */
int
config_listen_parse(const char *s, char **addr, int *port, const char **why)
{
	struct in6_addr a6;
	struct in_addr a4;
	const char *colon, *p;
	char *host;
	long long v;
	size_t n;

	if (*s == '[') {
		if ((p = strchr(s, ']')) == NULL || p[1] != ':') {
			*why = "expected [IPv6]:PORT";
			return -1;
		}
		host = str_prefix(s + 1, (size_t)(p - s - 1));
		colon = p + 1;
		if (inet_pton(AF_INET6, host, &a6) != 1) {
			*why = "not a numeric IPv6 address";
			free(host);
			return -1;
		}
	} else if ((colon = strrchr(s, ':')) != NULL) {
		n = (size_t)(colon - s);
		host = str_prefix(s, n);
		if (strchr(host, ':') != NULL) {
			*why = "write an IPv6 address in brackets: [ADDR]:PORT";
			free(host);
			return -1;
		}
		if (inet_pton(AF_INET, host, &a4) != 1) {
			*why = "not a numeric IPv4 address";
			free(host);
			return -1;
		}
	} else {
		host = xstrdup(CONFIG_METRICS_ADDR);
		colon = s - 1;
	}
	if (parse_uint(colon + 1, 0, 65535, &v) == -1) {
		*why = "expected a port from 0 to 65535";
		free(host);
		return -1;
	}
	*addr = host;
	*port = (int)v;
	return 0;
}

struct watch_conf *
config_watch_find(const struct config *conf, const char *name)
{
	struct watch_conf *w;

	TAILQ_FOREACH(w, &conf->watches, entry)
		if (strcmp(w->name, name) == 0)
			return w;
	return NULL;
}

/* Printing: the grammar of parse.y, every value spelled out. */

/* A quoted string the lexer reads back as the same bytes. */
static void
print_quoted(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\' || *s == '$')
			fputc('\\', fp);
		fputc(*s, fp);
	}
	fputc('"', fp);
}

static void
print_kv(FILE *fp, const char *indent, const char *key, const char *value)
{
	fprintf(fp, "%s%s ", indent, key);
	print_quoted(fp, value);
	fputc('\n', fp);
}

static void
print_globs(FILE *fp, const char *key, char **v, size_t n, const char *none)
{
	size_t i;

	if (n == 0) {
		fprintf(fp, "\t# %s: none (%s)\n", key, none);
		return;
	}
	fprintf(fp, "\t%s", key);
	for (i = 0; i < n; i++) {
		fputc(' ', fp);
		print_quoted(fp, v[i]);
	}
	fputc('\n', fp);
}

static const char *
action_name(int action)
{
	switch (action) {
	case ACTION_COPY:
		return "copy";
	case ACTION_LINK:
		return "link";
	default:
		return "move";
	}
}

static void
print_watch(FILE *fp, const struct watch_conf *w)
{
	const struct route *r;

	fputs("watch ", fp);
	print_quoted(fp, w->name);
	fputs(" {\n", fp);
	if (w->path != NULL)
		print_kv(fp, "\t", "path", w->path);
	fprintf(fp, "\trecursive %s\n", w->recursive ? "yes" : "no");
	print_globs(fp, "match", w->match, w->nmatch, "every name");
	print_globs(fp, "ignore", w->ignore, w->nignore, "nothing");
	switch (w->complete) {
	case COMPLETE_SIDECAR:
		fputs("\tcomplete sidecar ", fp);
		print_quoted(fp, w->sidecar_suffix ? w->sidecar_suffix : "");
		fputc('\n', fp);
		break;
	case COMPLETE_CLOSE_WRITE:
		fputs("\tcomplete close-write\n", fp);
		break;
	default:
		fprintf(fp, "\tcomplete stability %ds\n", w->stability_secs);
		break;
	}
	fprintf(fp, "\tmin-size %lld\n", w->min_size);
	fprintf(fp, "\tmax-size %lld\n", w->max_size);
	fprintf(fp, "\taction %s\n", action_name(w->action));
	TAILQ_FOREACH(r, &w->routes, entry) {
		fputs("\troute ", fp);
		print_quoted(fp, r->glob);
		fputs(" to ", fp);
		print_quoted(fp, r->to);
		fputc('\n', fp);
	}
	if (w->to != NULL)
		print_kv(fp, "\t", "to", w->to);
	if (w->manifest != NULL)
		print_kv(fp, "\t", "manifest", w->manifest);
	switch (w->duplicate) {
	case DUP_KEEP:
		fputs("\tduplicate keep\n", fp);
		break;
	case DUP_MOVE_TO:
		fputs("\tduplicate move-to ", fp);
		print_quoted(fp, w->duplicate_dir ? w->duplicate_dir : "");
		fputc('\n', fp);
		break;
	default:
		fputs("\tduplicate delete\n", fp);
		break;
	}
	fprintf(fp, "\tretry %d backoff %ds\n", w->retry, w->backoff_secs);
	fputs("}\n", fp);
}

void
config_print(FILE *fp, const struct config *conf)
{
	const struct watch_conf *w;

	print_kv(fp, "", "state-dir", conf->state_dir);
	print_kv(fp, "", "control", conf->control_path);
	if (conf->control_read_group != NULL)
		print_kv(fp, "", "read-group", conf->control_read_group);
	if (conf->control_admin_group != NULL)
		print_kv(fp, "", "admin-group", conf->control_admin_group);
	if (conf->user != NULL)
		print_kv(fp, "", "user", conf->user);
	else
		fputs("# user: none (the worker's default)\n", fp);
	fprintf(fp, "workers %d\n", conf->workers);
	fprintf(fp, "hash %s\n", conf->hash == HASH_XXH128 ? "xxh128" :
	    "sha256");
	fprintf(fp, "log %s\n", conf->log_json ? "json" : "text");
	fprintf(fp, "rescan %ds\n", conf->rescan_secs);
	fprintf(fp, "sandbox %s\n", conf->sandbox ? conf->sandbox : "auto");
	if (conf->log_file != NULL)
		print_kv(fp, "", "log-file", conf->log_file);
	else
		fputs("# log-file: none (stderr, or syslog with --daemon)\n",
		    fp);
	if (conf->metrics_addr != NULL)
		fprintf(fp, strchr(conf->metrics_addr, ':') != NULL ?
		    "metrics listen [%s]:%d\n" : "metrics listen %s:%d\n",
		    conf->metrics_addr, conf->metrics_port);
	else
		fputs("# metrics listen: off\n", fp);
	if (conf->metrics_textfile != NULL) {
		fputs("metrics textfile ", fp);
		print_quoted(fp, conf->metrics_textfile);
		fprintf(fp, " interval %ds\n", conf->metrics_interval_secs);
	} else
		fputs("# metrics textfile: off\n", fp);
	TAILQ_FOREACH(w, &conf->watches, entry) {
		fputc('\n', fp);
		print_watch(fp, w);
	}
}

/* Comparison: what a reload must notice. */

static int
str_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static int
strv_equal(char **a, size_t na, char **b, size_t nb)
{
	size_t i;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
		if (!str_equal(a[i], b[i]))
			return 0;
	return 1;
}

static int
routes_equal(const struct routeq *a, const struct routeq *b)
{
	const struct route *ra, *rb;

	for (ra = TAILQ_FIRST(a), rb = TAILQ_FIRST(b); ra != NULL && rb != NULL;
	    ra = TAILQ_NEXT(ra, entry), rb = TAILQ_NEXT(rb, entry))
		if (!str_equal(ra->glob, rb->glob) || !str_equal(ra->to, rb->to))
			return 0;
	return ra == NULL && rb == NULL;
}

/*
 * Every configured field; the stability time and the sidecar suffix only
 * under the completion mode that uses them, the duplicate directory only
 * under move-to (the grammar cannot set them otherwise).
 */
int
config_watch_equal(const struct watch_conf *a, const struct watch_conf *b)
{
	if (!str_equal(a->name, b->name) || !str_equal(a->path, b->path) ||
	    a->recursive != b->recursive ||
	    !strv_equal(a->match, a->nmatch, b->match, b->nmatch) ||
	    !strv_equal(a->ignore, a->nignore, b->ignore, b->nignore) ||
	    a->complete != b->complete)
		return 0;
	if (a->complete == COMPLETE_STABILITY &&
	    a->stability_secs != b->stability_secs)
		return 0;
	if (a->complete == COMPLETE_SIDECAR &&
	    !str_equal(a->sidecar_suffix, b->sidecar_suffix))
		return 0;
	if (a->min_size != b->min_size || a->max_size != b->max_size ||
	    a->action != b->action || !routes_equal(&a->routes, &b->routes) ||
	    !str_equal(a->to, b->to) || !str_equal(a->manifest, b->manifest) ||
	    a->duplicate != b->duplicate)
		return 0;
	if (a->duplicate == DUP_MOVE_TO &&
	    !str_equal(a->duplicate_dir, b->duplicate_dir))
		return 0;
	return a->retry == b->retry && a->backoff_secs == b->backoff_secs;
}
