/* master: owns the ingest-worker processes: spawn, hand-off, supervision, watchdog, respawn throttling. */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "ingestd.h"
#include "ipc.h"
#include "log.h"
#include "pool.h"
#include "proto.h"
#include "sched.h"
#include "util.h"

#define NS			1000000000LL
#define EARLY_DEATH_NS		(10 * NS)	/* died this soon, no job done: a crash loop */
#define THROTTLE_MAX_SECS	60
#define SHUTDOWN_GRACE_SECS	10
#define HANGUP_GRACE_SECS	2	/* hung up: time to be reaped before a kill */

struct worker {
	TAILQ_ENTRY(worker)	 entry;
	pid_t			 pid;
	int			 sock;		/* -1 once closed */
	struct event		*ev;
	struct event		*watchdog;
	int			 ready;		/* HELLO received */
	struct job		*job;
	uint64_t		 job_seq;	/* id of the frame in flight */
	int64_t			 started_ns;
	int			 jobs_done;
	char			 level[16];
};

TAILQ_HEAD(workerq, worker);

static struct {
	struct workerq	 workers;
	int		 want;
	int		 crash_streak;
	uint64_t	 seq;
	struct event	*sigchld;
	struct event	*respawn;
	struct event	*grace;
	int		 shutting_down;
	int		 restarts;
} p;

static void	worker_spawn(void);

int
pool_nworkers(void)
{
	struct worker *w;
	int n = 0;

	TAILQ_FOREACH(w, &p.workers, entry)
		n++;
	return n;
}

int
pool_busy(void)
{
	struct worker *w;
	int n = 0;

	TAILQ_FOREACH(w, &p.workers, entry)
		if (w->job != NULL)
			n++;
	return n;
}

void
pool_stats(struct pool_stats *st)
{
	struct worker *w;

	memset(st, 0, sizeof(*st));
	st->restarts = p.restarts;
	str_copy(st->sandbox, "none", sizeof(st->sandbox));
	TAILQ_FOREACH(w, &p.workers, entry) {
		st->workers++;
		if (!w->ready)
			continue;
		st->ready++;
		if (w->job != NULL)
			st->busy++;
		/* the weakest sandbox any ready worker reports */
		if (st->ready == 1 || strcmp(w->level, "full") != 0)
			str_copy(st->sandbox, w->level, sizeof(st->sandbox));
	}
	if (st->ready == 0)
		str_copy(st->sandbox, "unknown", sizeof(st->sandbox));
}

struct worker *
pool_idle(void)
{
	struct worker *w;

	if (p.shutting_down)
		return NULL;
	TAILQ_FOREACH(w, &p.workers, entry)
		if (w->ready && w->sock != -1 && w->job == NULL)
			return w;
	return NULL;
}

/* Take the job away from w (if any) and tell the scheduler. */
static void
worker_lose_job(struct worker *w, const char *why)
{
	struct job *j = w->job;

	w->job = NULL;
	if (w->watchdog)
		evtimer_del(w->watchdog);
	if (j != NULL)
		sched_job_lost(j, why);
}

/* Stop talking to w; it is reaped by the SIGCHLD handler. */
static void
worker_close(struct worker *w)
{
	if (w->sock == -1)
		return;
	event_del(w->ev);
	close(w->sock);
	w->sock = -1;
}

static void
worker_kill(struct worker *w, const char *why)
{
	log_ev(LOG_ERR, "worker_killed", "worker_pid=%d reason=%s", (int)w->pid, why);
	worker_close(w);
	kill(w->pid, SIGKILL);
	worker_lose_job(w, why);
}

static void
watchdog_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct worker *w = arg;

	worker_kill(w, w->sock == -1 ? "hung up but did not exit" :
	    "no progress within the watchdog interval");
}

static void
watchdog_arm(struct worker *w)
{
	struct timeval tv = { env->conf->watchdog_secs, 0 };

	evtimer_add(w->watchdog, &tv);
}

static void
hangup_arm(struct worker *w)
{
	struct timeval tv = { HANGUP_GRACE_SECS, 0 };

	evtimer_add(w->watchdog, &tv);
}

static void
worker_hello(struct worker *w, const struct ipc_msg *m)
{
	struct msg_hello h;
	const char *why;

	if (w->ready) {
		worker_kill(w, "second HELLO");
		return;
	}
	if (proto_decode_hello(m, &h, &why) == -1) {
		worker_kill(w, why);
		return;
	}
	if ((pid_t)h.pid != w->pid) {
		/* after unshare a pid namespace could lie; we never make one */
		log_ev(LOG_DEBUG, "worker_pid_mismatch", "worker_pid=%d reported=%u",
		    (int)w->pid, h.pid);
	}
	w->ready = 1;
	str_copy(w->level, h.level, sizeof(w->level));
	log_ev(strcmp(h.level, "full") == 0 ? LOG_INFO : LOG_WARN,
	    "worker_ready", "worker_pid=%d sandbox=%s steps=%s skipped=%s",
	    (int)w->pid, h.level, h.steps, h.skipped);
	sched_dispatch();
}

static void
worker_result(struct worker *w, const struct ipc_msg *m)
{
	struct msg_result res;
	struct job *j;
	const char *why;

	if (w->job == NULL || m->hdr.id != w->job_seq) {
		worker_kill(w, "result for no job in flight");
		return;
	}
	if (proto_decode_result(m, &res, &why) == -1) {
		worker_kill(w, why);
		return;
	}
	if (res.ok && res.err != 0) {
		worker_kill(w, "result both ok and failed");
		return;
	}
	j = w->job;
	w->job = NULL;
	w->jobs_done++;
	p.crash_streak = 0;
	evtimer_del(w->watchdog);
	sched_job_result(j, &res);
}

static void
worker_progress(struct worker *w, const struct ipc_msg *m)
{
	struct msg_progress pr;
	const char *why;

	if (w->job == NULL || m->hdr.id != w->job_seq) {
		worker_kill(w, "progress for no job in flight");
		return;
	}
	if (proto_decode_progress(m, &pr, &why) == -1) {
		worker_kill(w, why);
		return;
	}
	watchdog_arm(w);
}

/* Never trust the unprivileged: every frame is checked before use. */
static void
worker_read_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct worker *w = arg;
	struct ipc_msg *m;
	int rc;

	m = xmalloc(sizeof(*m));
	while (w->sock != -1) {
		rc = ipc_recv(w->sock, m);
		if (rc == -1 && (errno == EAGAIN || errno == EINTR))
			break;
		if (rc == -1) {
			worker_kill(w, errno == EBADMSG ? "malformed frame" :
			    "read error");
			break;
		}
		if (rc == 0) {
			/*
			 * The worker is exiting: its job is failed when it is
			 * reaped, with the real cause (e.g. SIGSYS).  One that
			 * hangs up (or sends an empty frame) and lingers would
			 * hold its pool slot forever, job or not: the watchdog,
			 * shortened, kills it unless it is reaped first.
			 */
			worker_close(w);
			hangup_arm(w);
			break;
		}
		if (m->nfds != 0) {
			ipc_msg_close_fds(m);
			worker_kill(w, "worker sent file descriptors");
			break;
		}
		if (!w->ready && m->hdr.type != MSG_HELLO) {
			worker_kill(w, "frame before HELLO");
			break;
		}
		switch (m->hdr.type) {
		case MSG_HELLO:
			worker_hello(w, m);
			break;
		case MSG_PROGRESS:
			worker_progress(w, m);
			break;
		case MSG_RESULT:
			/*
			 * One result per call: it starts the worker's next job,
			 * whose result can be back before the next read, and a
			 * fast worker would keep this loop from ever returning
			 * to the event loop (the batch timer, the control
			 * socket, signals).  The socket stays readable.
			 */
			worker_result(w, m);
			goto out;
		default:
			worker_kill(w, "unexpected message type");
			break;
		}
	}
out:
	free(m);
}

int
pool_submit(struct worker *w, struct job *j, uint16_t type, const int *fds,
    int nfds, uint32_t flags, uint64_t size)
{
	struct msg_job mj;

	mj.size = size;
	mj.flags = flags;
	w->job = j;
	w->job_seq = ++p.seq;
	if (proto_send_job(w->sock, type, w->job_seq, &mj, fds, nfds) == -1) {
		w->job = NULL;
		log_ev(LOG_ERR, "worker_send_failed", "worker_pid=%d errno=%d",
		    (int)w->pid, errno);
		worker_close(w);
		kill(w->pid, SIGKILL);
		return -1;
	}
	watchdog_arm(w);
	return 0;
}

static void
worker_exec(int sock)
{
	char *argv[12];
	int i = 0;
	sigset_t none;

	if (sock == 3) {
		if (fcntl(3, F_SETFD, 0) == -1)
			_exit(127);
	} else if (dup2(sock, 3) == -1) {
		_exit(127);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/*
	 * Shutdown is the master's business (SHUTDOWN or EOF on fd 3): a
	 * Ctrl-C or a signal to the whole process group must not kill a
	 * worker in the middle of the file the master is draining.
	 */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	argv[i++] = env->conf->worker_path;
	argv[i++] = "-l";
	argv[i++] = (char *)(log_get_level() == LOG_DEBUG ? "debug" :
	    log_get_level() == LOG_INFO ? "info" :
	    log_get_level() == LOG_WARN ? "warn" : "error");
	argv[i++] = "-s";
	argv[i++] = env->conf->sandbox;
	argv[i++] = "-r";
	argv[i++] = env->conf->chroot_dir;
	if (env->conf->user != NULL) {
		argv[i++] = "-u";
		argv[i++] = env->conf->user;
	}
	argv[i] = NULL;
	execv(argv[0], argv);
	dprintf(2, "ingest-worker: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static void
worker_spawn(void)
{
	struct worker *w;
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_ev(LOG_ERR, "worker_spawn_failed", "errno=%d", errno);
		return;
	}
	if ((pid = fork()) == -1) {
		log_ev(LOG_ERR, "worker_spawn_failed", "errno=%d", errno);
		close(sv[0]);
		close(sv[1]);
		return;
	}
	if (pid == 0) {
		close(sv[0]);
		worker_exec(sv[1]);
	}
	close(sv[1]);
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) == -1)
		log_ev(LOG_WARN, "fcntl_failed", "errno=%d", errno);
	w = xcalloc(1, sizeof(*w));
	w->pid = pid;
	w->sock = sv[0];
	w->started_ns = now_monotonic_ns();
	w->ev = event_new(env->base, w->sock, EV_READ | EV_PERSIST,
	    worker_read_cb, w);
	w->watchdog = evtimer_new(env->base, watchdog_cb, w);
	event_add(w->ev, NULL);
	TAILQ_INSERT_TAIL(&p.workers, w, entry);
	log_ev(LOG_DEBUG, "worker_started", "worker_pid=%d", (int)pid);
}

static void
pool_fill(void)
{
	while (!p.shutting_down && pool_nworkers() < p.want)
		worker_spawn();
}

static void
respawn_cb(evutil_socket_t fd, short ev, void *arg)
{
	pool_fill();
}

/* Postfix-style throttle: a worker that dies young delays the next one. */
static void
pool_respawn(const struct worker *w)
{
	struct timeval tv = { 0, 0 };
	int shift;

	if (p.shutting_down)
		return;
	p.restarts++;
	if (w->jobs_done == 0 &&
	    now_monotonic_ns() - w->started_ns < EARLY_DEATH_NS) {
		shift = p.crash_streak < 6 ? p.crash_streak : 6;
		tv.tv_sec = 1 << shift;
		if (tv.tv_sec > THROTTLE_MAX_SECS)
			tv.tv_sec = THROTTLE_MAX_SECS;
		p.crash_streak++;
		log_ev(LOG_WARN, "worker_throttled", "delay_s=%ld streak=%d",
		    (long)tv.tv_sec, p.crash_streak);
	}
	evtimer_add(p.respawn, &tv);
}

static void
worker_reaped(struct worker *w, int status)
{
	char why[96];

	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) {
		snprintf(why, sizeof(why), "sandbox violation (SIGSYS)");
		log_ev(LOG_ERR, "worker_sandbox_violation", "worker_pid=%d",
		    (int)w->pid);
	} else if (WIFSIGNALED(status)) {
		snprintf(why, sizeof(why), "worker killed by signal %d",
		    WTERMSIG(status));
	} else {
		snprintf(why, sizeof(why), "worker exited with status %d",
		    WEXITSTATUS(status));
	}
	if (!p.shutting_down || w->job != NULL ||
	    !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		log_ev(p.shutting_down ? LOG_INFO : LOG_WARN, "worker_died",
		    "worker_pid=%d reason=%s jobs_done=%d", (int)w->pid, why,
		    w->jobs_done);
	worker_close(w);
	worker_lose_job(w, why);
	TAILQ_REMOVE(&p.workers, w, entry);
	pool_respawn(w);
	event_free(w->ev);
	event_free(w->watchdog);
	free(w);
}

static void
sigchld_cb(evutil_socket_t sig, short ev, void *arg)
{
	struct worker *w;
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		TAILQ_FOREACH(w, &p.workers, entry)
			if (w->pid == pid)
				break;
		if (w != NULL)
			worker_reaped(w, status);
	}
	if (p.shutting_down && TAILQ_EMPTY(&p.workers)) {
		if (p.grace)
			evtimer_del(p.grace);
		event_base_loopexit(env->base, NULL);
	}
}

int
pool_init(int nworkers)
{
	TAILQ_INIT(&p.workers);
	p.want = nworkers;
	p.sigchld = evsignal_new(env->base, SIGCHLD, sigchld_cb, NULL);
	p.respawn = evtimer_new(env->base, respawn_cb, NULL);
	p.grace = NULL;
	if (p.sigchld == NULL || evsignal_add(p.sigchld, NULL) == -1)
		return -1;
	pool_fill();
	return 0;
}

static void
grace_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct worker *w;

	TAILQ_FOREACH(w, &p.workers, entry) {
		log_ev(LOG_WARN, "worker_shutdown_timeout", "worker_pid=%d",
		    (int)w->pid);
		kill(w->pid, SIGKILL);
	}
}

void
pool_shutdown(void)
{
	struct timeval tv = { SHUTDOWN_GRACE_SECS, 0 };
	struct worker *w;

	p.shutting_down = 1;
	evtimer_del(p.respawn);
	if (TAILQ_EMPTY(&p.workers)) {
		event_base_loopexit(env->base, NULL);
		return;
	}
	TAILQ_FOREACH(w, &p.workers, entry) {
		if (w->sock == -1 || proto_send_shutdown(w->sock) == -1)
			kill(w->pid, SIGKILL);
	}
	p.grace = evtimer_new(env->base, grace_cb, NULL);
	evtimer_add(p.grace, &tv);
}
