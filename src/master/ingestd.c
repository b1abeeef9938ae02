/* master: ingestd's main(): command line, start-up checks, the event loop, signals and shutdown. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <event2/event.h>

#include "buf.h"
#include "conf.h"
#include "db.h"
#include "ingestd.h"
#include "log.h"
#include "notify.h"
#include "pool.h"
#include "sched.h"
#include "template.h"
#include "util.h"
#include "watch.h"
#include "htab.h"

struct ingestd *env;

static struct ingestd	 ingestd;
static struct config	 conf;
static struct watch_conf qwatch;	/* quick mode's one watch */
static char		*q_warehouse, *q_manifests;
static int		 stopping;

enum {
	OPT_INPUT = 256,
	OPT_WAREHOUSE,
	OPT_MANIFESTS,
	OPT_MODE,
	OPT_STABILITY,
	OPT_CONCURRENCY,
	OPT_STATE_PATH,
	OPT_CONTROL,
	OPT_DRY_RUN,
	OPT_ONCE,
	OPT_LOG_LEVEL,
};

static const struct option longopts[] = {
	{ "input",		required_argument,	NULL, OPT_INPUT },
	{ "warehouse",		required_argument,	NULL, OPT_WAREHOUSE },
	{ "manifests",		required_argument,	NULL, OPT_MANIFESTS },
	{ "mode",		required_argument,	NULL, OPT_MODE },
	{ "stability-seconds",	required_argument,	NULL, OPT_STABILITY },
	{ "concurrency",	required_argument,	NULL, OPT_CONCURRENCY },
	{ "state-path",		required_argument,	NULL, OPT_STATE_PATH },
	{ "control",		required_argument,	NULL, OPT_CONTROL },
	{ "dry-run",		no_argument,		NULL, OPT_DRY_RUN },
	{ "once",		no_argument,		NULL, OPT_ONCE },
	{ "log-level",		required_argument,	NULL, OPT_LOG_LEVEL },
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static const char usage_text[] =
"usage: ingestd --input DIR --warehouse DIR --manifests DIR\n"
"               [--mode stability|sidecar] [--stability-seconds N]\n"
"               [--concurrency N] [--state-path FILE] [--control PATH]\n"
"               [--dry-run] [--once] [--log-level debug|info|warn|error]\n";

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ingestd: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see ingestd --help)\n");
	exit(EX_USAGE);
}

static void __attribute__((noreturn))
startup_error(int code, const char *what, const char *path, const char *why)
{
	fprintf(stderr, "ingestd: %s %s: %s\n", what, path, why);
	exit(code);
}

static int
opt_number(const char *name, const char *arg, long long min, long long max)
{
	long long v;

	if (parse_uint(arg, min, max, &v) == -1) {
		fprintf(stderr, "ingestd: %s: expected a number from %lld to"
		    " %lld, got '%s' (see ingestd --help)\n", name, min, max,
		    arg);
		exit(EX_USAGE);
	}
	return (int)v;
}

static void
config_defaults(struct config *c)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	const char *worker = getenv("INGEST_WORKER");

	memset(c, 0, sizeof(*c));
	TAILQ_INIT(&c->watches);
	memset(&qwatch, 0, sizeof(qwatch));
	TAILQ_INIT(&qwatch.routes);
	qwatch.name = "input";
	qwatch.recursive = 1;
	qwatch.complete = COMPLETE_STABILITY;
	qwatch.stability_secs = 10;
	qwatch.sidecar_suffix = ".ok";
	qwatch.action = ACTION_MOVE;
	qwatch.duplicate = DUP_DELETE;
	qwatch.retry = 5;
	qwatch.backoff_secs = 1;
	c->state_path = "ingestd.db";
	c->log_json = 1;
	c->workers = n > 0 ? (int)(n < 64 ? n : 64) : 1;
	c->log_level = LOG_INFO;
	c->worker_path = (char *)(worker && *worker ? worker :
	    LIBEXECDIR "/ingest-worker");
	c->sandbox = "auto";
	c->chroot_dir = WORKER_CHROOT_DIR;
	c->rescan_secs = 60;
	c->backoff_max_secs = 60;
	c->watchdog_secs = 60;
}

static void
parse_args(int argc, char **argv, struct config *c)
{
	int ch;

	opterr = 0;		/* one line of our own, not getopt's */
	while ((ch = getopt_long(argc, argv, ":hV", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_INPUT:
			qwatch.path = optarg;
			break;
		case OPT_WAREHOUSE:
			q_warehouse = optarg;
			break;
		case OPT_MANIFESTS:
			q_manifests = optarg;
			break;
		case OPT_MODE:
			if (strcmp(optarg, "stability") == 0)
				qwatch.complete = COMPLETE_STABILITY;
			else if (strcmp(optarg, "sidecar") == 0)
				qwatch.complete = COMPLETE_SIDECAR;
			else
				usage_error("--mode: expected stability or"
				    " sidecar, got '%s'", optarg);
			break;
		case OPT_STABILITY:
			qwatch.stability_secs = opt_number(
			    "--stability-seconds", optarg, 0, 86400);
			break;
		case OPT_CONCURRENCY:
			c->workers = opt_number("--concurrency", optarg, 1, 256);
			break;
		case OPT_STATE_PATH:
			c->state_path = optarg;
			break;
		case OPT_CONTROL:
			c->control_path = optarg;
			break;
		case OPT_DRY_RUN:
			c->dry_run = 1;
			break;
		case OPT_ONCE:
			c->once = 1;
			break;
		case OPT_LOG_LEVEL:
			if ((c->log_level = log_level_parse(optarg)) == -1)
				usage_error("--log-level: expected debug, info,"
				    " warn or error, got '%s'", optarg);
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case 'V':
			printf("ingestd %s\n", PACKAGE_VERSION);
			exit(0);
		case ':':
			usage_error("option '%s' needs an argument",
			    argv[optind - 1]);
		default:
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (qwatch.path == NULL)
		usage_error("missing %s", "--input DIR");
	if (q_warehouse == NULL)
		usage_error("missing %s", "--warehouse DIR");
	if (q_manifests == NULL)
		usage_error("missing %s", "--manifests DIR");
}

/* Absolute, symlink-free form of an existing directory, or exit. */
static char *
dir_resolve(const char *what, const char *path, int code)
{
	char *real;
	struct stat st;

	if ((real = realpath(path, NULL)) == NULL)
		startup_error(code, what, path, strerror(errno));
	if (stat(real, &st) == -1)
		startup_error(code, what, path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		startup_error(code, what, path, "not a directory");
	return real;
}

static int
path_inside(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 &&
	    (path[n] == '/' || path[n] == '\0' || strcmp(dir, "/") == 0);
}

/* The state DB's absolute path (its directory must exist). */
static char *
state_resolve(const char *path)
{
	const char *base;
	char *dir, *real, *slash;
	struct buf b;

	slash = strrchr(path, '/');
	if (slash == NULL) {
		dir = xstrdup(".");
		base = path;
	} else {
		dir = xmalloc((size_t)(slash - path) + 2);
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		if (dir[0] == '\0')
			strcpy(dir, "/");
		base = slash + 1;
	}
	if (*base == '\0')
		startup_error(EX_CANTCREAT, "--state-path", path,
		    "not a file name");
	real = dir_resolve("--state-path", dir, EX_CANTCREAT);
	free(dir);
	buf_init(&b);
	buf_printf(&b, "%s/%s", strcmp(real, "/") ? real : "", base);
	free(real);
	return buf_release(&b);
}

/* Quick mode: the flags are one watch with the original brief's layout. */
static void
quick_config(struct config *c)
{
	char *warehouse, *manifests;
	struct buf b;

	qwatch.path = dir_resolve("--input", qwatch.path, EX_NOINPUT);
	if (access(qwatch.path, R_OK | X_OK) == -1)
		startup_error(EX_NOINPUT, "--input", qwatch.path,
		    strerror(errno));
	/* kept reachable: exit() on a usage error below must not "leak" */
	warehouse = q_warehouse = dir_resolve("--warehouse", q_warehouse,
	    EX_CANTCREAT);
	manifests = q_manifests = dir_resolve("--manifests", q_manifests,
	    EX_CANTCREAT);
	if (!c->dry_run) {
		if (access(warehouse, W_OK | X_OK) == -1)
			startup_error(EX_CANTCREAT, "--warehouse", warehouse,
			    strerror(errno));
		if (access(manifests, W_OK | X_OK) == -1)
			startup_error(EX_CANTCREAT, "--manifests", manifests,
			    strerror(errno));
	}
	c->state_path = state_resolve(c->state_path);
	/* ingesting our own output or database would never end well */
	if (path_inside(warehouse, qwatch.path) ||
	    path_inside(qwatch.path, warehouse))
		usage_error("--warehouse and --input overlap: %s", warehouse);
	if (path_inside(manifests, qwatch.path))
		usage_error("--manifests is inside --input: %s", manifests);
	if (path_inside(c->state_path, qwatch.path))
		usage_error("--state-path is inside --input: %s",
		    c->state_path);
	buf_init(&b);
	template_escape(&b, strcmp(warehouse, "/") ? warehouse : "");
	buf_adds(&b, "/ingest_date={date}/{name}");
	qwatch.to = buf_release(&b);
	template_escape(&b, strcmp(manifests, "/") ? manifests : "");
	buf_adds(&b, "/{yyyy}/{mm}/{dd}/{hh}/manifest.jsonl");
	qwatch.manifest = buf_release(&b);
	TAILQ_INSERT_TAIL(&c->watches, &qwatch, entry);
	if (access(c->worker_path, X_OK) == -1)
		startup_error(EX_UNAVAILABLE, "worker", c->worker_path,
		    strerror(errno));
	if (c->control_path != NULL && strlen(c->control_path) >= 108)
		usage_error("--control: socket path too long: %s",
		    c->control_path);
}

/* Open every configured watch; a watch that cannot be opened is fatal. */
static void
watches_open(struct config *c)
{
	struct watch_conf *wc;
	struct wrules *r;
	char *err;

	TAILQ_FOREACH(wc, &c->watches, entry) {
		if ((r = wrules_open(wc, &err)) == NULL ||
		    watch_add(r, &err) == NULL) {
			fprintf(stderr, "ingestd: watch %s: %s\n", wc->name,
			    err ? err : "cannot be opened");
			exit(EX_CANTCREAT);
		}
	}
}

static void
db_start(struct ingestd *e)
{
	char *err = NULL;

	if (e->conf->dry_run) {
		/* read what is there, change nothing */
		if (access(e->conf->state_path, F_OK) == -1)
			return;
		e->db = db_open(e->conf->state_path, 1, &err);
	} else {
		e->db = db_open(e->conf->state_path, 0, &err);
	}
	if (e->db == NULL) {
		fprintf(stderr, "ingestd: state database %s\n",
		    err ? err : "cannot be opened");
		exit(EX_CANTCREAT);
	}
}

/* The worker's chroot must exist, root-owned and empty (DESIGN.md 8). */
static void
chroot_dir_prepare(const char *dir)
{
	if (geteuid() != 0 || strcmp(dir, "") == 0)
		return;
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		log_ev(LOG_WARN, "chroot_dir_failed", "path=%s errno=%d", dir,
		    errno);
}

static int
watch_count(void)
{
	struct watch *w;
	int n = 0;

	TAILQ_FOREACH(w, &watches, entry)
		n++;
	return n;
}

static void
log_watches(void)
{
	static const char *modes[] = { "stability", "sidecar", "close-write" };
	static const char *actions[] = { "move", "copy", "link" };
	struct watch *w;
	const struct watch_conf *c;

	TAILQ_FOREACH(w, &watches, entry) {
		c = w->rules->c;
		log_ev(LOG_INFO, "watch", "name=%s path=%s to=%s manifest=%s"
		    " complete=%s stability_s=%d action=%s", c->name, c->path,
		    c->to, c->manifest, modes[c->complete], c->stability_secs,
		    actions[c->action]);
	}
}

static void
watches_close(void)
{
	struct watch *w;

	while ((w = TAILQ_FIRST(&watches)) != NULL) {
		TAILQ_REMOVE(&watches, w, entry);
		wrules_unref(w->rules);
		htab_free(&w->jobs);
		close(w->fd);
		free(w->name);
		free(w->path);
		free(w);
	}
}

void
ingestd_idle(void)
{
	if (stopping)
		return;
	stopping = 1;
	env->draining = 1;
	notify_stopping();
	watch_stop();
	log_ev(LOG_INFO, "stopping", "ingested=%d failed=%d", env->ingested,
	    env->failed);
	pool_shutdown();
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	if (env->draining) {
		log_ev(LOG_WARN, "shutdown_forced", "signal=%d", (int)sig);
		event_base_loopbreak(env->base);
		return;
	}
	log_ev(LOG_INFO, "draining", "signal=%d busy_workers=%d", (int)sig,
	    pool_busy());
	notify_stopping();
	notify_status("draining, %d files in flight", pool_busy());
	env->draining = 1;
	watch_stop();
	sched_dispatch();	/* shuts down once nothing is in flight */
}

int
main(int argc, char **argv)
{
	struct event *sigterm, *sigint;
	struct watch *w;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	notify_init();
	config_defaults(&conf);
	parse_args(argc, argv, &conf);
	log_init("ingestd", conf.log_level, 1);
	quick_config(&conf);

	env = &ingestd;
	env->conf = &conf;
	if ((env->base = event_base_new()) == NULL)
		fatal("event_base_new", NULL);
	watches_open(&conf);
	db_start(env);
	chroot_dir_prepare(conf.chroot_dir);

	sigterm = evsignal_new(env->base, SIGTERM, signal_cb, NULL);
	sigint = evsignal_new(env->base, SIGINT, signal_cb, NULL);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);

	log_ev(LOG_INFO, "starting", "version=%s watches=%d workers=%d"
	    " state=%s dry_run=%d once=%d", PACKAGE_VERSION, watch_count(),
	    conf.workers, conf.state_path, conf.dry_run, conf.once);
	log_watches();
	sched_init();
	if (pool_init(conf.workers) == -1)
		fatal("pool_init", NULL);
	TAILQ_FOREACH(w, &watches, entry)
		if (sched_recover(w) == -1)
			fatal("recovery_failed", "state=%s", conf.state_path);
	if (watch_start() == -1)
		fatal("watch_failed", NULL);
	sched_scan_done();
	log_ev(LOG_INFO, "ready", "workers=%d", conf.workers);
	notify_ready();
	notify_status("ingesting %d watch(es)", watch_count());
	notify_watchdog_start();

	event_base_dispatch(env->base);

	rc = conf.once && env->failed > 0 ? 1 : 0;
	log_ev(LOG_INFO, "stopped", "ingested=%d failed=%d exit=%d",
	    env->ingested, env->failed, rc);
	watch_stop();
	sched_shutdown();
	event_free(sigterm);
	event_free(sigint);
	db_close(env->db);
	watches_close();
	notify_close();
	event_base_free(env->base);
	return rc;
}
