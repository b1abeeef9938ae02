/* worker: main() of ingest-worker: start-up, sandbox, then the job loop on fd 3. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "copy.h"
#include "hashpass.h"
#include "ipc.h"
#include "log.h"
#include "proto.h"
#include "sandbox.h"
#include "util.h"

#ifndef WORKER_CHROOT_DIR
#error "WORKER_CHROOT_DIR must be defined (config.h or -D)"
#endif

/*
 * Test hooks, read from the environment once at start-up (before the
 * sandbox) so that the integration tests can drive the worker:
 *
 *   INGESTD_TEST_SANDBOX_VIOLATION=open|socket|execve|fork|ptrace
 *	on the first job, make that system call directly; the seccomp filter
 *	must kill the worker with SIGSYS.  If it survives, the job goes on
 *	and a "test_violation_survived" warning is logged.
 *   INGESTD_TEST_WORKER_SLEEP_MS=N
 *	sleep N ms after each chunk (COPY_CHUNK bytes) of the data path and
 *	send a PROGRESS after every chunk, so a test can kill a worker in
 *	the middle of a copy deterministically.
 */
#define ENV_VIOLATION	"INGESTD_TEST_SANDBOX_VIOLATION"
#define ENV_SLEEP_MS	"INGESTD_TEST_WORKER_SLEEP_MS"

#define WORKER_SOCK	3

_Static_assert(sizeof(((struct msg_result *)0)->sha256) == HASHPASS_SHA256_LEN,
    "SHA-256 size");
_Static_assert(sizeof(((struct msg_result *)0)->xxh128) == HASHPASS_XXH128_LEN,
    "XXH128 size");
_Static_assert(sizeof(((struct msg_hello *)0)->steps) ==
    sizeof(((struct sandbox_report *)0)->steps), "HELLO steps size");
_Static_assert(sizeof(((struct msg_hello *)0)->skipped) ==
    sizeof(((struct sandbox_report *)0)->skipped), "HELLO skipped size");
_Static_assert(sizeof(((struct msg_hello *)0)->level) ==
    sizeof(((struct sandbox_report *)0)->level), "HELLO level size");

struct worker_opts {
	int		 level;		/* log level */
	int		 mode;		/* enum sandbox_mode */
	const char	*user;		/* NULL: _ingestd, else nobody */
	const char	*chroot_dir;
};

struct test_hooks {
	const char	*violation;	/* NULL or one of the names above */
	long long	 sleep_ms;	/* 0: off */
};

/* State of the job in progress, for the progress callback. */
struct job_state {
	uint64_t	id;
};

static struct test_hooks	hooks;
static uint8_t			*databuf;	/* allocated before the sandbox */
static struct ipc_msg		 msg;		/* 64 KiB: not on the stack */
static int			 jobs_done;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: ingest-worker [-l debug|info|warn|error] "
	    "[-s required|auto|off] [-u USER] [-r CHROOTDIR]\n"
	    "  (started by ingestd with its socket on fd 3)\n");
	_exit(2);
}

static void
opts_parse(int argc, char **argv, struct worker_opts *o)
{
	int ch;

	o->level = LOG_INFO;
	o->mode = SANDBOX_AUTO;
	o->user = NULL;
	o->chroot_dir = WORKER_CHROOT_DIR;
	while ((ch = getopt(argc, argv, "l:s:u:r:")) != -1) {
		switch (ch) {
		case 'l':
			if ((o->level = log_level_parse(optarg)) == -1)
				usage();
			break;
		case 's':
			if ((o->mode = sandbox_mode_parse(optarg)) == -1)
				usage();
			break;
		case 'u':
			if (*optarg == '\0')
				usage();
			o->user = optarg;
			break;
		case 'r':
			if (*optarg != '/')
				usage();
			o->chroot_dir = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
}

/* Refuse to start unless fd 3 is our AF_UNIX SOCK_SEQPACKET end. */
static void
socket_check(int fd)
{
	socklen_t len;
	int type = 0, domain = 0;

	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1) {
		log_ev(LOG_ERR, "worker_bad_socket", "fd=%d error=%s", fd,
		    strerror(errno));
		_exit(2);
	}
	len = sizeof(domain);
	if (type != SOCK_SEQPACKET ||
	    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == -1 ||
	    domain != AF_UNIX) {
		log_ev(LOG_ERR, "worker_bad_socket", "fd=%d error=%s", fd,
		    "not an AF_UNIX SOCK_SEQPACKET socket");
		_exit(2);
	}
}

static void
hooks_read(struct test_hooks *h)
{
	static const char *const names[] = {
		"open", "socket", "execve", "fork", "ptrace",
	};
	const char *v;
	size_t i;

	if ((v = getenv(ENV_SLEEP_MS)) != NULL &&
	    parse_uint(v, 0, 3600 * 1000, &h->sleep_ms) == -1) {
		log_ev(LOG_ERR, "worker_bad_env", "name=%s value=%s",
		    ENV_SLEEP_MS, v);
		_exit(2);
	}
	if ((v = getenv(ENV_VIOLATION)) == NULL || *v == '\0')
		return;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(v, names[i]) == 0)
			h->violation = names[i];
	if (h->violation == NULL) {
		log_ev(LOG_ERR, "worker_bad_env", "name=%s value=%s",
		    ENV_VIOLATION, v);
		_exit(2);
	}
	log_ev(LOG_WARN, "worker_test_hook", "violation=%s", h->violation);
}

/* Default user: _ingestd if it exists, else nobody. */
static void
user_resolve(const char *name, struct sandbox_conf *c)
{
	struct passwd *pw;

	if (name != NULL)
		pw = getpwnam(name);
	else if ((pw = getpwnam("_ingestd")) == NULL)
		pw = getpwnam("nobody");
	if (pw == NULL) {
		if (name != NULL) {
			log_ev(LOG_ERR, "worker_unknown_user", "user=%s", name);
			_exit(2);
		}
		log_ev(LOG_WARN, "worker_no_user", "tried=%s", "_ingestd,nobody");
		c->have_user = 0;
		c->user = NULL;
	} else {
		c->have_user = 1;
		c->uid = pw->pw_uid;
		c->gid = pw->pw_gid;
		c->user = xstrdup(pw->pw_name);
	}
	endpwent();
}

/*
 * Everything that could load, open or allocate lazily happens here, before
 * the sandbox: SIGPIPE (a vanished master is an error return, not a
 * signal), the time zone (gmtime_r in the logger reads it on first use),
 * OpenSSL without its config file, the data buffer and the user database.
 */
static void
prepare(const struct worker_opts *o, struct sandbox_conf *c)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) == -1)
		fatal("worker_sigaction", "error=%s", strerror(errno));
	tzset();
	if (hashpass_setup() == -1)
		fatal("worker_crypto_init", NULL);
	if ((databuf = copy_buf_alloc(COPY_CHUNK)) == NULL)
		fatal("out_of_memory", "bytes=%d", COPY_CHUNK);
	hooks_read(&hooks);
	memset(c, 0, sizeof(*c));
	c->mode = o->mode;
	c->keep_fd = WORKER_SOCK;
	c->chroot_dir = o->chroot_dir;
	user_resolve(o->user, c);
}

static void
hello_send(const struct sandbox_conf *c, const struct sandbox_report *r)
{
	struct msg_hello h;

	memset(&h, 0, sizeof(h));
	h.pid = (uint32_t)getpid();
	memcpy(h.level, r->level, sizeof(h.level));
	memcpy(h.steps, r->steps, sizeof(h.steps));
	memcpy(h.skipped, r->skipped, sizeof(h.skipped));
	log_ev(LOG_INFO, "sandbox", "level=%s steps=%s skipped=%s user=%s",
	    r->level, r->steps, r->skipped, c->user);
	if (proto_send_hello(WORKER_SOCK, &h) == -1) {
		log_ev(LOG_ERR, "worker_send_failed", "type=%s error=%s",
		    "hello", strerror(errno));
		_exit(1);
	}
}

/* Test hook: make a forbidden system call directly (no libc wrapper logic). */
static void
violation_attempt(const char *what)
{
	char *const argv[] = { (char *)"/bin/true", NULL };
	long rc = -1;

	log_ev(LOG_WARN, "test_violation_attempt", "syscall=%s", what);
	if (strcmp(what, "open") == 0)
		rc = syscall(SYS_openat, AT_FDCWD, "/", O_RDONLY);
	else if (strcmp(what, "socket") == 0)
		rc = syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	else if (strcmp(what, "execve") == 0)
		rc = syscall(SYS_execve, argv[0], argv, NULL);
	else if (strcmp(what, "fork") == 0) {
#ifdef SYS_fork
		rc = syscall(SYS_fork);
#else
		rc = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
#endif
		if (rc == 0)
			_exit(0);
	} else if (strcmp(what, "ptrace") == 0)
		rc = syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
	log_ev(LOG_WARN, "test_violation_survived", "syscall=%s rc=%ld error=%s",
	    what, rc, rc == -1 ? strerror(errno) : "none");
	if (rc >= 0 && strcmp(what, "fork") != 0)
		(void)close((int)rc);
}

static void
sleep_ms(long long ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int
progress_send(uint64_t bytes, void *arg)
{
	const struct job_state *js = arg;
	struct msg_progress p = { bytes };

	if (proto_send_progress(WORKER_SOCK, js->id, &p) == -1)
		return -1;
	if (hooks.sleep_ms > 0)
		sleep_ms(hooks.sleep_ms);
	return 0;
}

static void
result_fill(struct msg_result *out, int rc, const struct copy_result *res)
{
	memset(out, 0, sizeof(*out));
	out->ok = rc == 0;
	out->bytes = res->bytes;
	if (rc == 0) {
		memcpy(out->sha256, res->sha256, sizeof(out->sha256));
		memcpy(out->xxh128, res->xxh128, sizeof(out->xxh128));
		return;
	}
	out->err = res->err;
	(void)str_copy(out->stage, res->stage, sizeof(out->stage));
}

/* Run one job on the fds of m and reply with a RESULT; a failure is a RESULT. */
static void
job_run(const struct ipc_msg *m, const struct msg_job *job)
{
	struct job_state js = { m->hdr.id };
	struct copy_ctx ctx;
	struct copy_result res;
	struct msg_result out;
	int rc;

	ctx.buf = databuf;
	ctx.bufsize = COPY_CHUNK;
	ctx.progress = progress_send;
	ctx.arg = &js;
	ctx.progress_every = hooks.sleep_ms > 0 ? 0 : COPY_PROGRESS_EVERY;
	if (m->hdr.type == MSG_JOB_COPY)
		rc = copy_and_hash(m->fds[0], m->fds[1],
		    (job->flags & JOB_F_NO_SYNC) == 0, &ctx, &res);
	else
		rc = copy_hash(m->fds[0], (job->flags & JOB_F_SYNC_SRC) != 0,
		    &ctx, &res);
	result_fill(&out, rc, &res);
	if (rc == 0)
		log_ev(LOG_DEBUG, "job_done", "id=%llu type=%s bytes=%llu "
		    "expected=%llu", (unsigned long long)m->hdr.id,
		    proto_type_name(m->hdr.type),
		    (unsigned long long)res.bytes,
		    (unsigned long long)job->size);
	else
		log_ev(LOG_WARN, "job_failed", "id=%llu type=%s stage=%s "
		    "error=%s bytes=%llu", (unsigned long long)m->hdr.id,
		    proto_type_name(m->hdr.type), res.stage,
		    strerror(res.err), (unsigned long long)res.bytes);
	if (proto_send_result(WORKER_SOCK, m->hdr.id, &out) == -1) {
		log_ev(LOG_ERR, "worker_send_failed", "type=%s error=%s",
		    "result", strerror(errno));
		_exit(1);
	}
}

static void __attribute__((noreturn))
protocol_error(struct ipc_msg *m, const char *why)
{
	log_ev(LOG_ERR, "worker_protocol_error", "type=%u id=%llu reason=%s",
	    (unsigned int)m->hdr.type, (unsigned long long)m->hdr.id, why);
	ipc_msg_close_fds(m);
	_exit(1);
}

static void
job_handle(struct ipc_msg *m)
{
	struct msg_job job;
	const char *why = "bad job";

	if (proto_decode_job(m, &job, &why) == -1)
		protocol_error(m, why);
	if (m->nfds != proto_fds_expected(m->hdr.type))
		protocol_error(m, "wrong number of fds");
	if (jobs_done++ == 0 && hooks.violation != NULL)
		violation_attempt(hooks.violation);
	job_run(m, &job);
	ipc_msg_close_fds(m);
}

static void
msg_dispatch(struct ipc_msg *m)
{
	const char *why = "bad shutdown";

	switch (m->hdr.type) {
	case MSG_JOB_HASH:
	case MSG_JOB_COPY:
		job_handle(m);
		break;
	case MSG_SHUTDOWN:
		if (proto_decode_shutdown(m, &why) == -1)
			protocol_error(m, why);
		log_ev(LOG_INFO, "worker_shutdown", "jobs=%d", jobs_done);
		_exit(0);
	default:
		protocol_error(m, "unexpected message type");
	}
}

static void __attribute__((noreturn))
loop_run(void)
{
	int rc;

	for (;;) {
		rc = ipc_recv(WORKER_SOCK, &msg);
		if (rc == -1 && errno == EINTR)
			continue;
		if (rc == 0) {
			log_ev(LOG_INFO, "worker_eof", "jobs=%d", jobs_done);
			_exit(0);
		}
		if (rc == -1) {
			log_ev(LOG_ERR, errno == EBADMSG ?
			    "worker_protocol_error" : "worker_recv_failed",
			    "reason=%s", strerror(errno));
			_exit(1);
		}
		msg_dispatch(&msg);
	}
}

#if defined(__SANITIZE_ADDRESS__)
#define WORKER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WORKER_ASAN 1
#endif
#endif

#ifdef WORKER_ASAN
/*
 * ASan builds: under the sandbox the symbolizer cannot open the binary (and
 * seccomp kills it for trying), so report raw addresses.  ASAN_OPTIONS in
 * the environment still overrides this.
 */
const char	*__asan_default_options(void);

const char *
__asan_default_options(void)
{
	return "symbolize=0";
}
#endif

int
main(int argc, char **argv)
{
	struct worker_opts opts;
	struct sandbox_conf conf;
	struct sandbox_report report;

	opts_parse(argc, argv, &opts);
	log_init("ingest-worker", opts.level, 1);
	socket_check(WORKER_SOCK);
	prepare(&opts, &conf);
	log_ev(LOG_DEBUG, "worker_start", "mode=%s chroot=%s",
	    opts.mode == SANDBOX_OFF ? "off" : opts.mode == SANDBOX_AUTO ?
	    "auto" : "required", opts.chroot_dir);
	if (sandbox_enter(&conf, &report) == -1) {
		log_ev(LOG_ERR, "sandbox_required_failed", "chroot=%s",
		    opts.chroot_dir);
		_exit(1);
	}
	hello_send(&conf, &report);
	loop_run();
}
