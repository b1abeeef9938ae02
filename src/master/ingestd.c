/* master: ingestd's main(): command line, start-up checks, the event loop, signals and shutdown. */
#include <sys/file.h>
#include <sys/resource.h>
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
#include "config.h"
#include "control.h"
#include "db.h"
#include "ingestd.h"
#include "log.h"
#include "metrics.h"
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

/* What the command line says beyond the quick-mode watch. */
static struct {
	int		 quick;		/* a quick-mode flag was given */
	const char	*file;		/* -f */
	char		**defines;	/* -D name=value */
	size_t		 ndefines;
	int		 check;		/* -n */
	int		 print;		/* -T */
	int		 daemonize;	/* --daemon */
	const char	*pidfile;	/* -p */
	int		 log_level;	/* --log-level / -v, -1: config's */
	char		*log_file;	/* --log-file, absolute */
	char		*metrics_addr;	/* --metrics-listen */
	int		 metrics_port;
} cli = { .log_level = -1 };

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
	OPT_DAEMON,
	OPT_LOG_FILE,
	OPT_METRICS_LISTEN,
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
	{ "daemon",		no_argument,		NULL, OPT_DAEMON },
	{ "log-file",		required_argument,	NULL, OPT_LOG_FILE },
	{ "metrics-listen",	required_argument,	NULL, OPT_METRICS_LISTEN },
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static const char usage_text[] =
"usage: ingestd [-dnTv] [-f CONFIG] [-D name=value] [--daemon] [-p PIDFILE]\n"
"               [--dry-run] [--once] [--log-level debug|info|warn|error]\n"
"               [--log-file PATH] [--metrics-listen [ADDR:]PORT]\n"
"       ingestd --input DIR --warehouse DIR --manifests DIR\n"
"               [--mode stability|sidecar] [--stability-seconds N]\n"
"               [--concurrency N] [--state-path FILE] [--control PATH]\n"
"               [--dry-run] [--once] [--log-level debug|info|warn|error]\n"
"               [--log-file PATH] [--metrics-listen [ADDR:]PORT]\n";

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
	if (cli.daemonize)	/* stderr is /dev/null by now: say it in syslog */
		log_ev(LOG_ERR, "startup_failed", "what=%s path=%s error=%s",
		    what, path, why);
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
	c->backoff_max_secs = 3600;
	c->watchdog_secs = 60;
}

/* --log-file: kept absolute, the daemon changes to / with --daemon. */
static void
opt_log_file(const char *arg)
{
	char cwd[PATH_MAX];
	struct buf b;

	if (*arg == '\0')
		usage_error("--log-file: %s", "empty path");
	buf_init(&b);
	if (*arg != '/') {
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			usage_error("--log-file: %s", strerror(errno));
		buf_printf(&b, "%s/", cwd);
	}
	buf_adds(&b, arg);
	free(cli.log_file);
	cli.log_file = buf_release(&b);
}

/* --log-file and --metrics-listen win over the file's settings. */
static void
config_cli_overrides(struct config *c)
{
	if (cli.log_file != NULL) {
		free(c->log_file);
		c->log_file = xstrdup(cli.log_file);
	}
	if (cli.metrics_addr != NULL) {
		free(c->metrics_addr);
		free(c->metrics_at);
		c->metrics_addr = xstrdup(cli.metrics_addr);
		c->metrics_port = cli.metrics_port;
		c->metrics_at = xstrdup("--metrics-listen");
	}
}

static void
parse_args(int argc, char **argv, struct config *c)
{
	const char *why;
	int ch;

	opterr = 0;		/* one line of our own, not getopt's */
	while ((ch = getopt_long(argc, argv, ":dD:f:hnp:TvV", longopts,
	    NULL)) != -1) {
		if (ch >= OPT_INPUT && ch <= OPT_CONTROL)
			cli.quick = 1;
		switch (ch) {
		case 'd':
			break;		/* the foreground is the default */
		case 'D':
			if (strchr(optarg, '=') == NULL || *optarg == '=')
				usage_error("-D: expected name=value, got '%s'",
				    optarg);
			cli.defines = xrealloc(cli.defines,
			    (cli.ndefines + 1) * sizeof(*cli.defines));
			cli.defines[cli.ndefines++] = optarg;
			break;
		case 'f':
			cli.file = optarg;
			break;
		case 'n':
			cli.check = 1;
			break;
		case 'p':
			cli.pidfile = optarg;
			break;
		case 'T':
			cli.print = 1;
			break;
		case 'v':
			cli.log_level = LOG_DEBUG;
			break;
		case OPT_DAEMON:
			cli.daemonize = 1;
			break;
		case OPT_LOG_FILE:
			opt_log_file(optarg);
			break;
		case OPT_METRICS_LISTEN:
			free(cli.metrics_addr);
			if (config_listen_parse(optarg, &cli.metrics_addr,
			    &cli.metrics_port, &why) == -1)
				usage_error("--metrics-listen '%s': %s", optarg,
				    why);
			break;
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
			if ((cli.log_level = log_level_parse(optarg)) == -1)
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
	if (cli.log_level != -1)
		c->log_level = cli.log_level;
	config_cli_overrides(c);
	if (cli.quick && cli.file != NULL)
		usage_error("-f cannot be combined with the quick-mode flags"
		    " (%s)", "--input ...");
	if (!cli.quick) {
		if (cli.file == NULL)
			cli.file = SYSCONFDIR "/ingestd/ingestd.conf";
		return;
	}
	if (cli.print)
		usage_error("-T prints a configuration file; quick mode has"
		    " none (%s)", "use -f");
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

/* Quick mode: the control socket sits next to the state DB. */
static char *
control_default(const char *state_path)
{
	const char *slash = strrchr(state_path, '/');
	struct buf b;

	buf_init(&b);
	buf_add(&b, state_path, slash ? (size_t)(slash - state_path) : 0);
	buf_adds(&b, "/ingestd.sock");
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
	if (c->control_path == NULL)
		c->control_path = control_default(c->state_path);
}

/* Command-line and built-in run-time settings onto a loaded config. */
static void
config_runtime(struct config *c)
{
	const char *worker = getenv("INGEST_WORKER");

	c->dry_run = conf.dry_run;
	c->once = conf.once;
	c->log_level = cli.log_level != -1 ? cli.log_level : LOG_INFO;
	/* owned by the config: config_free() frees them */
	free(c->worker_path);
	free(c->chroot_dir);
	c->worker_path = xstrdup(worker && *worker ? worker :
	    LIBEXECDIR "/ingest-worker");
	c->chroot_dir = xstrdup(WORKER_CHROOT_DIR);
	c->backoff_max_secs = 3600;
	c->watchdog_secs = 60;
	config_cli_overrides(c);
}

/* Load the file (exit 78 with FILE:LINE: messages on error). */
static struct config *
file_config(void)
{
	struct config *c;

	if ((c = config_load(cli.file, cli.defines, cli.ndefines,
	    stderr)) == NULL)
		exit(EX_CONFIG);
	config_runtime(c);
	if (cli.print) {
		config_print(stdout, c);
		exit(0);
	}
	if (cli.check) {
		fprintf(stderr, "ingestd: %s: configuration OK\n", cli.file);
		exit(0);
	}
	if (!c->dry_run && mkdir(c->state_dir, 0750) == -1 && errno != EEXIST)
		startup_error(EX_CANTCREAT, "state-dir", c->state_dir,
		    strerror(errno));
	if (access(c->worker_path, X_OK) == -1)
		startup_error(EX_UNAVAILABLE, "worker", c->worker_path,
		    strerror(errno));
	return c;
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

static void
control_start(struct config *c)
{
	char *err;
	int code;

	env->started_ns = now_realtime_ns();
	env->generation = 1;	/* the configuration it started with */
	env->last_reload_ok = -1;
	if (control_listen(c->control_path, &err, &code) == -1) {
		fprintf(stderr, "ingestd: %s\n", err ? err : "control socket");
		log_ev(LOG_ERR, "control_failed", "error=%s", err ? err : "");
		free(err);
		exit(code);
	}
	control_set_groups(c->control_read_group, c->control_admin_group);
}

/* `metrics listen` is bound here, so a bad address fails the start (78). */
static void
metrics_start(const struct config *c)
{
	char *err;

	if (metrics_prepare(c, &err) == -1) {
		fprintf(stderr, "ingestd: %s\n", err ? err : "metrics listen");
		log_ev(LOG_ERR, "metrics_failed", "error=%s", err ? err : "");
		free(err);
		exit(EX_CONFIG);
	}
	metrics_commit(c);
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

static int
string_differs(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

/* Settings that only a restart applies: say so, do not ignore them. */
static void
reload_restart_only(const struct config *o, const struct config *n)
{
	if (string_differs(o->state_path, n->state_path))
		log_ev(LOG_WARN, "reload_needs_restart", "setting=%s",
		    "state-dir");
	if (string_differs(o->control_path, n->control_path))
		log_ev(LOG_WARN, "reload_needs_restart", "setting=%s",
		    "control");
	if (string_differs(o->user, n->user))
		log_ev(LOG_WARN, "reload_needs_restart", "setting=%s", "user");
	if (string_differs(o->sandbox, n->sandbox))
		log_ev(LOG_WARN, "reload_needs_restart", "setting=%s",
		    "sandbox");
	if (o->workers != n->workers)
		log_ev(LOG_WARN, "reload_needs_restart", "setting=%s",
		    "workers");
	if (o->rescan_secs != n->rescan_secs)
		log_ev(LOG_WARN, "reload_needs_restart", "setting=%s",
		    "rescan");
}

/* Reload: a new log-file path is opened; dropping it needs a restart. */
static void
reload_log_file(const struct config *o, const struct config *n)
{
	if (!string_differs(o->log_file, n->log_file))
		return;
	if (n->log_file == NULL) {
		log_ev(LOG_WARN, "reload_needs_restart", "setting=%s",
		    "log-file");
		return;
	}
	/* the last record of the old file says where the log went */
	log_ev(LOG_INFO, "log_file_switching", "path=%s", n->log_file);
	if (log_file_open(n->log_file) == -1)
		log_ev(LOG_ERR, "log_file_failed", "path=%s errno=%d",
		    n->log_file, errno);
	else
		log_ev(LOG_INFO, "log_file_opened", "path=%s", n->log_file);
}

/* Log each line of a parser's error output. */
static void
reload_log_errors(char *text)
{
	char *line, *save = NULL;

	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		log_ev(LOG_ERR, "reload_rejected", "error=%s", line);
}

struct reload_plan {
	struct watch_conf	*wc;
	struct watch		*old;	/* NULL: added */
	struct wrules		*rules;
};

/*
 * SIGHUP: parse and validate the whole file and open everything the new
 * watches need before touching anything; then swap.  On any error the old
 * configuration keeps running.  In-flight files keep the rules they started
 * with (their reference keeps them alive).
 */
int
ingestd_reload(char **errors)
{
	struct config *nc, *oc = env->conf;
	struct reload_plan *plan = NULL;
	struct watch_conf *wc;
	struct watch *w, *next;
	size_t n = 0, i;
	char *errtext = NULL, *err;
	size_t errlen = 0;
	FILE *errs;
	int added = 0, removed = 0, changed = 0;

	*errors = NULL;
	if (oc->file == NULL) {
		log_ev(LOG_WARN, "reload_ignored", "reason=%s",
		    "quick mode has no configuration file");
		*errors = xstrdup("quick mode has no configuration file");
		return 1;
	}
	notify_reloading();
	log_ev(LOG_INFO, "reloading", "file=%s", oc->file);
	if ((errs = open_memstream(&errtext, &errlen)) == NULL)
		fatal("open_memstream", NULL);
	nc = config_load(oc->file, cli.defines, cli.ndefines, errs);
	fclose(errs);
	if (nc == NULL) {
		*errors = xstrdup(errtext ? errtext : "");
		reload_log_errors(errtext);
		goto fail;
	}
	config_runtime(nc);
	TAILQ_FOREACH(wc, &nc->watches, entry) {
		w = watch_find(wc->name);
		if (w != NULL && config_watch_equal(w->rules->c, wc))
			continue;
		plan = xrealloc(plan, (n + 1) * sizeof(*plan));
		plan[n].wc = wc;
		plan[n].old = w != NULL && strcmp(w->path, wc->path) == 0 ?
		    w : NULL;
		if ((plan[n].rules = wrules_open(wc, &err)) == NULL) {
			log_ev(LOG_ERR, "reload_rejected", "watch=%s error=%s",
			    wc->name, err ? err : "cannot be opened");
			if (asprintf(errors, "%s:%d: watch \"%s\": %s\n",
			    wc->file ? wc->file : oc->file, wc->line, wc->name,
			    err ? err : "cannot be opened") == -1)
				*errors = NULL;
			free(err);
			goto fail_plan;
		}
		n++;
	}
	if (metrics_prepare(nc, &err) == -1) {
		log_ev(LOG_ERR, "reload_rejected", "error=%s", err ? err : "");
		if (asprintf(errors, "%s\n", err ? err : "metrics listen") == -1)
			*errors = NULL;
		free(err);
		goto fail_plan;
	}
	/* commit: nothing below can fail the reload as a whole */
	reload_restart_only(oc, nc);
	reload_log_file(oc, nc);
	for (w = TAILQ_FIRST(&watches); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (w->retired)
			continue;
		wc = config_watch_find(nc, w->name);
		if (wc == NULL || strcmp(wc->path, w->path) != 0) {
			watch_retire(w);
			log_ev(LOG_INFO, "watch_removed", "watch=%s", w->name);
			removed += wc == NULL;
		}
	}
	for (i = 0; i < n; i++) {
		if (plan[i].old != NULL) {
			wrules_unref(plan[i].old->rules);
			plan[i].old->rules = plan[i].rules;
			log_ev(LOG_INFO, "watch_changed", "watch=%s",
			    plan[i].wc->name);
			changed++;
			continue;
		}
		if ((w = watch_add(plan[i].rules, &err)) == NULL) {
			log_ev(LOG_ERR, "watch_add_failed", "watch=%s error=%s",
			    plan[i].wc->name, err ? err : "");
			free(err);
			wrules_unref(plan[i].rules);
			continue;
		}
		log_ev(LOG_INFO, "watch_added", "watch=%s path=%s", w->name,
		    w->path);
		if (sched_recover(w) == -1 || watch_arm(w) == -1)
			log_ev(LOG_ERR, "watch_arm_failed", "watch=%s", w->name);
		added++;
	}
	free(plan);
	free(errtext);
	env->conf = nc;
	control_set_groups(nc->control_read_group, nc->control_admin_group);
	metrics_commit(nc);
	if (oc != &conf)
		config_free(oc);
	env->reloads++;
	env->generation++;
	env->last_reload_ok = 1;
	env->last_reload_ns = now_realtime_ns();
	free(env->last_reload_error);
	env->last_reload_error = NULL;
	log_ev(LOG_INFO, "reload_ok", "generation=%d added=%d removed=%d"
	    " changed=%d", env->generation, added, removed, changed);
	notify_ready();
	return 0;
fail_plan:
	for (i = 0; i < n; i++)
		wrules_unref(plan[i].rules);
	free(plan);
	config_free(nc);
fail:
	metrics_commit(NULL);
	free(errtext);
	env->reload_failures++;
	env->last_reload_ok = 0;
	env->last_reload_ns = now_realtime_ns();
	free(env->last_reload_error);
	env->last_reload_error = xstrdup(*errors ? *errors : "");
	log_ev(LOG_ERR, "reload_failed", "failures=%d running_generation=%d",
	    env->reload_failures, env->generation);
	notify_ready();
	return -1;
}

static void
sighup_cb(evutil_socket_t sig, short what, void *arg)
{
	char *errors;

	if (!env->draining) {
		ingestd_reload(&errors);
		free(errors);
	}
}

static void
sigusr1_cb(evutil_socket_t sig, short what, void *arg)
{
	if (log_reopen() == -1)
		log_ev(LOG_ERR, "log_reopen_failed", "path=%s errno=%d",
		    log_file_path(), errno);
	else
		log_ev(LOG_INFO, "log_reopened", "path=%s", log_file_path() ?
		    log_file_path() : "");
}

/*
 * The soft descriptor limit up to the hard one, at most FD_LIMIT_WANT.
 * The default soft limit of 1024 exists for select(2), which nothing here
 * uses; under it a batch would hold at most 224 files (see batch_limit in
 * sched.c).  systemd's unit sets LimitNOFILE; this gives the init script,
 * and a daemon started by hand, the same batches.  Workers lower theirs.
 */
#define FD_LIMIT_WANT	65536

static void
fd_limit_raise(void)
{
	struct rlimit rl;
	rlim_t from;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 ||
	    rl.rlim_cur >= FD_LIMIT_WANT || rl.rlim_cur >= rl.rlim_max)
		return;
	from = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max < FD_LIMIT_WANT ? rl.rlim_max : FD_LIMIT_WANT;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_ev(LOG_WARN, "fd_limit_kept", "soft=%llu errno=%d",
		    (unsigned long long)from, errno);
		return;
	}
	log_ev(LOG_INFO, "fd_limit_raised", "from=%llu to=%llu",
	    (unsigned long long)from, (unsigned long long)rl.rlim_cur);
}

/*
 * --daemon: the parent waits until the child is ready (or dies) so that
 * the init script's exit status is the start-up's.
 */
static int daemon_pipe = -1;

static void
stdio_to_null(void)
{
	int fd;

	if ((fd = open("/dev/null", O_RDWR)) == -1)
		return;
	dup2(fd, 0);
	dup2(fd, 1);
	if (log_file_path() == NULL)	/* else stderr is the log file */
		dup2(fd, 2);
	if (fd > 2)
		close(fd);
}

static void
daemon_detach(void)
{
	int fds[2];
	char c;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) == -1 || (pid = fork()) == -1)
		startup_error(EX_OSERR, "daemon", "fork", strerror(errno));
	if (pid > 0) {
		close(fds[1]);
		if (read(fds[0], &c, 1) == 1)
			_exit(0);
		fprintf(stderr, "ingestd: start-up failed (see syslog)\n");
		_exit(1);
	}
	close(fds[0]);
	daemon_pipe = fds[1];
	if (log_file_path() == NULL)
		log_use_syslog("ingestd");
	/* nothing (workers included) may keep the caller's terminal or pipes */
	stdio_to_null();
	if (setsid() == -1)
		startup_error(EX_OSERR, "daemon", "setsid", strerror(errno));
	if (chdir("/") == -1)
		startup_error(EX_OSERR, "daemon", "chdir", strerror(errno));
}

static int pidfile_fd = -1;

/* Written only once start-up succeeded; locked while we run. */
static void
pidfile_write(const char *path)
{
	char buf[32];
	int n;

	pidfile_fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (pidfile_fd == -1)
		fatal("pidfile_failed", "path=%s errno=%d", path, errno);
	if (flock(pidfile_fd, LOCK_EX | LOCK_NB) == -1)
		fatal("already_running", "pidfile=%s", path);
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(pidfile_fd, 0) == -1 || write(pidfile_fd, buf,
	    (size_t)n) != n)
		fatal("pidfile_failed", "path=%s errno=%d", path, errno);
}

static void
daemon_ready(void)
{
	if (cli.pidfile != NULL)
		pidfile_write(cli.pidfile);
	if (daemon_pipe == -1)
		return;
	if (write(daemon_pipe, "R", 1) != 1)
		log_ev(LOG_WARN, "daemon_ready_failed", "errno=%d", errno);
	close(daemon_pipe);
	daemon_pipe = -1;
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
	struct event *sigterm, *sigint, *sighup, *sigusr1;
	struct watch *w;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	notify_init();
	config_defaults(&conf);
	parse_args(argc, argv, &conf);
	log_init("ingestd", conf.log_level, 1);
	env = &ingestd;
	if (cli.quick) {
		quick_config(&conf);
		env->conf = &conf;
		if (cli.check) {
			fprintf(stderr, "ingestd: configuration OK\n");
			return 0;
		}
	} else {
		env->conf = file_config();
		env->conf->file = env->conf->file ? env->conf->file :
		    xstrdup(cli.file);
		log_init("ingestd", env->conf->log_level, env->conf->log_json);
	}
	if (env->conf->log_file != NULL &&
	    log_file_open(env->conf->log_file) == -1)
		startup_error(EX_CANTCREAT, "log-file", env->conf->log_file,
		    strerror(errno));
	if (cli.daemonize)
		daemon_detach();
	fd_limit_raise();

	if ((env->base = event_base_new()) == NULL)
		fatal("event_base_new", NULL);
	metrics_init();
	watches_open(env->conf);
	db_start(env);
	control_start(env->conf);
	metrics_start(env->conf);
	chroot_dir_prepare(env->conf->chroot_dir);

	sigterm = evsignal_new(env->base, SIGTERM, signal_cb, NULL);
	sigint = evsignal_new(env->base, SIGINT, signal_cb, NULL);
	sighup = evsignal_new(env->base, SIGHUP, sighup_cb, NULL);
	sigusr1 = evsignal_new(env->base, SIGUSR1, sigusr1_cb, NULL);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	evsignal_add(sighup, NULL);
	evsignal_add(sigusr1, NULL);

	log_ev(LOG_INFO, "starting", "version=%s config=%s watches=%d"
	    " workers=%d state=%s dry_run=%d once=%d", PACKAGE_VERSION,
	    env->conf->file ? env->conf->file : "(command line)",
	    watch_count(), env->conf->workers, env->conf->state_path,
	    env->conf->dry_run, env->conf->once);
	log_watches();
	sched_init();
	if (pool_init(env->conf->workers) == -1)
		fatal("pool_init", NULL);
	TAILQ_FOREACH(w, &watches, entry)
		if (sched_recover(w) == -1)
			fatal("recovery_failed", "state=%s",
			    env->conf->state_path);
	if (watch_start() == -1)
		fatal("watch_failed", NULL);
	sched_scan_done();
	log_ev(LOG_INFO, "ready", "workers=%d", env->conf->workers);
	daemon_ready();
	notify_ready();
	notify_status("ingesting %d watch(es)", watch_count());
	notify_watchdog_start();

	event_base_dispatch(env->base);

	rc = env->conf->once && env->failed > 0 ? 1 : 0;
	log_ev(LOG_INFO, "stopped", "ingested=%d failed=%d exit=%d",
	    env->ingested, env->failed, rc);
	metrics_stop();		/* the textfile's last update */
	watch_stop();
	control_close();
	sched_shutdown();
	event_free(sigterm);
	event_free(sigint);
	event_free(sighup);
	event_free(sigusr1);
	db_close(env->db);
	watches_close();
	notify_close();
	event_base_free(env->base);
	if (cli.pidfile != NULL && pidfile_fd != -1) {
		unlink(cli.pidfile);
		close(pidfile_fd);
	}
	if (env->conf != &conf)
		config_free(env->conf);
	free(cli.defines);
	free(cli.log_file);
	free(cli.metrics_addr);
	free(env->last_reload_error);
	return rc;
}
