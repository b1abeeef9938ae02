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
#include "pool.h"
#include "sched.h"
#include "template.h"
#include "util.h"
#include "watch.h"

struct ingestd *env;

static struct ingestd	 ingestd;
static struct config	 conf;
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
	c->watch.name = "input";
	c->watch.recursive = 1;
	c->watch.complete = COMPLETE_STABILITY;
	c->watch.stability_secs = 10;
	c->watch.sidecar_suffix = ".ok";
	c->watch.dest_template = "ingest_date={date}/{name}";
	c->watch.manifest_template = "{yyyy}/{mm}/{dd}/{hh}/manifest.jsonl";
	c->state_path = "ingestd.db";
	c->workers = n > 0 ? (int)(n < 64 ? n : 64) : 1;
	c->log_level = LOG_INFO;
	c->worker_path = (char *)(worker && *worker ? worker :
	    LIBEXECDIR "/ingest-worker");
	c->sandbox = "auto";
	c->chroot_dir = WORKER_CHROOT_DIR;
	c->rescan_secs = 60;
	c->max_attempts = 5;
	c->backoff_base_secs = 1;
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
			c->watch.path = optarg;
			break;
		case OPT_WAREHOUSE:
			c->watch.dest_root = optarg;
			break;
		case OPT_MANIFESTS:
			c->watch.manifest_root = optarg;
			break;
		case OPT_MODE:
			if (strcmp(optarg, "stability") == 0)
				c->watch.complete = COMPLETE_STABILITY;
			else if (strcmp(optarg, "sidecar") == 0)
				c->watch.complete = COMPLETE_SIDECAR;
			else
				usage_error("--mode: expected stability or"
				    " sidecar, got '%s'", optarg);
			break;
		case OPT_STABILITY:
			c->watch.stability_secs = opt_number(
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
	if (c->watch.path == NULL)
		usage_error("missing %s", "--input DIR");
	if (c->watch.dest_root == NULL)
		usage_error("missing %s", "--warehouse DIR");
	if (c->watch.manifest_root == NULL)
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

static void
config_check(struct config *c)
{
	char *state;

	c->watch.path = dir_resolve("--input", c->watch.path, EX_NOINPUT);
	if (access(c->watch.path, R_OK | X_OK) == -1)
		startup_error(EX_NOINPUT, "--input", c->watch.path,
		    strerror(errno));
	c->watch.dest_root = dir_resolve("--warehouse", c->watch.dest_root,
	    EX_CANTCREAT);
	c->watch.manifest_root = dir_resolve("--manifests",
	    c->watch.manifest_root, EX_CANTCREAT);
	if (!c->dry_run) {
		if (access(c->watch.dest_root, W_OK | X_OK) == -1)
			startup_error(EX_CANTCREAT, "--warehouse",
			    c->watch.dest_root, strerror(errno));
		if (access(c->watch.manifest_root, W_OK | X_OK) == -1)
			startup_error(EX_CANTCREAT, "--manifests",
			    c->watch.manifest_root, strerror(errno));
	}
	state = state_resolve(c->state_path);
	/* ingesting our own output or database would never end well */
	if (path_inside(c->watch.dest_root, c->watch.path) ||
	    path_inside(c->watch.path, c->watch.dest_root))
		usage_error("--warehouse and --input overlap: %s",
		    c->watch.dest_root);
	if (path_inside(c->watch.manifest_root, c->watch.path))
		usage_error("--manifests is inside --input: %s",
		    c->watch.manifest_root);
	if (path_inside(state, c->watch.path))
		usage_error("--state-path is inside --input: %s", state);
	c->state_path = state;
	if (access(c->worker_path, X_OK) == -1)
		startup_error(EX_UNAVAILABLE, "worker", c->worker_path,
		    strerror(errno));
	if (c->control_path != NULL && strlen(c->control_path) >= 108)
		usage_error("--control: socket path too long: %s",
		    c->control_path);
}

static int
root_open(const char *path, dev_t *dev)
{
	struct stat st;
	int fd;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		startup_error(EX_NOINPUT, "open", path, strerror(errno));
	if (fstat(fd, &st) == -1)
		startup_error(EX_OSERR, "fstat", path, strerror(errno));
	if (dev)
		*dev = st.st_dev;
	return fd;
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

void
ingestd_idle(void)
{
	if (stopping)
		return;
	stopping = 1;
	env->draining = 1;
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
	env->draining = 1;
	watch_stop();
	sched_dispatch();	/* shuts down once nothing is in flight */
}

int
main(int argc, char **argv)
{
	struct event *sigterm, *sigint;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	config_defaults(&conf);
	parse_args(argc, argv, &conf);
	log_init("ingestd", conf.log_level, 1);
	config_check(&conf);

	env = &ingestd;
	env->conf = &conf;
	if ((env->base = event_base_new()) == NULL)
		fatal("event_base_new", NULL);
	env->staging_fd = root_open(conf.watch.path, &env->staging_dev);
	env->dest_fd = root_open(conf.watch.dest_root, &env->dest_dev);
	env->manifest_fd = root_open(conf.watch.manifest_root, NULL);
	db_start(env);
	chroot_dir_prepare(conf.chroot_dir);

	sigterm = evsignal_new(env->base, SIGTERM, signal_cb, NULL);
	sigint = evsignal_new(env->base, SIGINT, signal_cb, NULL);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);

	log_ev(LOG_INFO, "starting", "version=%s input=%s warehouse=%s"
	    " manifests=%s mode=%s stability_s=%d workers=%d state=%s"
	    " dry_run=%d once=%d", PACKAGE_VERSION,
	    conf.watch.path, conf.watch.dest_root, conf.watch.manifest_root,
	    conf.watch.complete == COMPLETE_SIDECAR ? "sidecar" : "stability",
	    conf.watch.stability_secs, conf.workers, conf.state_path,
	    conf.dry_run, conf.once);
	sched_init();
	if (pool_init(conf.workers) == -1)
		fatal("pool_init", NULL);
	if (sched_recover() == -1)
		fatal("recovery_failed", "state=%s", conf.state_path);
	if (watch_start() == -1)
		fatal("watch_failed", "path=%s", conf.watch.path);
	sched_scan_done();
	log_ev(LOG_INFO, "ready", "workers=%d", conf.workers);

	event_base_dispatch(env->base);

	rc = conf.once && env->failed > 0 ? 1 : 0;
	log_ev(LOG_INFO, "stopped", "ingested=%d failed=%d exit=%d",
	    env->ingested, env->failed, rc);
	watch_stop();
	sched_shutdown();
	event_free(sigterm);
	event_free(sigint);
	db_close(env->db);
	close(env->staging_fd);
	close(env->dest_fd);
	close(env->manifest_fd);
	event_base_free(env->base);
	return rc;
}
