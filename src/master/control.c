/* master: the control socket: listener, peer credentials, ingestctl's commands and their replies. */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <event2/event.h>

#include "buf.h"
#include "control.h"
#include "db.h"
#include "ingestd.h"
#include "ipc.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "proto.h"
#include "reconcile.h"
#include "sched.h"
#include "util.h"
#include "watch.h"

#define CONTROL_MAX_CONNS	16
#define CONTROL_IDLE_SECS	60
/* A client that does not read its replies is dropped beyond this. */
#define CONTROL_MAX_QUEUED	(16 * 1024 * 1024)
#define CONTROL_MAX_GROUPS	1024

struct frame {
	TAILQ_ENTRY(frame)	 entry;
	struct buf		 b;
};
TAILQ_HEAD(frameq, frame);

struct conn {
	TAILQ_ENTRY(conn)	 entry;
	int			 fd;
	struct event		*rev;
	struct event		*wev;
	uid_t			 uid;
	pid_t			 pid;
	int			 can_read;
	int			 can_admin;
	struct frameq		 out;
	size_t			 queued;
	int			 closing;	/* close once the queue is sent */
	int			 broken;	/* peer gone: the loop closes it */
	struct reconcile	*task;		/* a reconcile in progress */
	uint64_t		 req_id;
};
TAILQ_HEAD(connq, conn);

static struct {
	int		 fd;
	int		 lockfd;
	char		*path;
	struct event	*ev;
	struct connq	 conns;
	int		 nconns;
	gid_t		 read_gid;
	gid_t		 admin_gid;
	int		 have_read;
	int		 have_admin;
} ctl = { .fd = -1, .lockfd = -1 };

static void	conn_close(struct conn *);

/* --- output: frames are queued and written when the socket takes them --- */

/*
 * The peer is gone.  Never free the connection here: the handler that is
 * sending records on it still holds it.  Drop what is queued and let the
 * event loop close it (conn_write_cb).
 */
static void
conn_break(struct conn *c)
{
	struct frame *f;

	while ((f = TAILQ_FIRST(&c->out)) != NULL) {
		TAILQ_REMOVE(&c->out, f, entry);
		buf_free(&f->b);
		free(f);
	}
	c->queued = 0;
	c->closing = 1;
	c->broken = 1;
	event_active(c->wev, EV_WRITE, 0);
}

static void
conn_flush(struct conn *c)
{
	struct frame *f;
	ssize_t n;

	while ((f = TAILQ_FIRST(&c->out)) != NULL) {
		n = send(c->fd, f->b.data, f->b.len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_add(c->wev, NULL);
			return;
		}
		if (n == -1) {
			log_ev(LOG_DEBUG, "control_send_failed", "pid=%d errno=%d",
			    (int)c->pid, errno);
			conn_break(c);
			return;
		}
		TAILQ_REMOVE(&c->out, f, entry);
		c->queued -= f->b.len;
		buf_free(&f->b);
		free(f);
	}
	if (c->closing)
		conn_close(c);
}

static void
conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if (c->broken)
		conn_close(c);
	else
		conn_flush(c);
}

static struct frame *
frame_new(void)
{
	struct frame *f = xcalloc(1, sizeof(*f));

	buf_init(&f->b);
	return f;
}

static void
conn_queue(struct conn *c, struct frame *f)
{
	if (c->broken) {
		buf_free(&f->b);
		free(f);
		return;
	}
	if (c->queued + f->b.len > CONTROL_MAX_QUEUED) {
		log_ev(LOG_WARN, "control_client_slow", "pid=%d uid=%u",
		    (int)c->pid, (unsigned)c->uid);
		buf_free(&f->b);
		free(f);
		c->closing = 1;
		return;
	}
	c->queued += f->b.len;
	TAILQ_INSERT_TAIL(&c->out, f, entry);
}

/* Send one record of the reply (the record is freed). */
void
control_record(struct conn *c, struct ctl_record *r)
{
	struct frame *f = frame_new();

	if (proto_frame_record(&f->b, c->req_id, r) == -1) {
		/* too large for a frame: say so instead of dropping it */
		record_free(r);
		record_init(r);
		record_str(r, "kind", "error");
		record_str(r, "error", "record too large for one frame");
		if (proto_frame_record(&f->b, c->req_id, r) == -1) {
			buf_free(&f->b);
			free(f);
			record_free(r);
			return;
		}
	}
	record_free(r);
	conn_queue(c, f);
	if (!c->closing)
		conn_flush(c);
}

/* End the reply: the exit status ingestctl should use and a message. */
void
control_end(struct conn *c, int status, const char *fmt, ...)
{
	struct msg_ctl_end end;
	struct frame *f;
	va_list ap;

	memset(&end, 0, sizeof(end));
	end.status = status;
	if (fmt != NULL) {
		va_start(ap, fmt);
		(void)vsnprintf(end.message, sizeof(end.message), fmt, ap);
		va_end(ap);
	}
	/* a NUL-free message: vsnprintf output has none */
	f = frame_new();
	if (proto_frame_ctl_end(&f->b, c->req_id, &end) == -1) {
		buf_free(&f->b);
		free(f);
		c->closing = 1;
	} else
		conn_queue(c, f);
	conn_flush(c);
}

/* --- peers --- */

static int
peer_groups(int fd, gid_t **out)
{
	socklen_t len = 64 * sizeof(gid_t);
	gid_t *g = NULL;

	for (;;) {
		g = xrealloc(g, len);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) == 0)
			break;
		if (errno != ERANGE || len > CONTROL_MAX_GROUPS * sizeof(gid_t)) {
			free(g);
			*out = NULL;
			return 0;
		}
	}
	*out = g;
	return (int)(len / sizeof(gid_t));
}

static int
gid_in(gid_t gid, gid_t primary, const gid_t *g, int n)
{
	int i;

	if (gid == primary)
		return 1;
	for (i = 0; i < n; i++)
		if (g[i] == gid)
			return 1;
	return 0;
}

static void
conn_identify(struct conn *c, const struct ucred *cred)
{
	gid_t *groups;
	int n;

	c->uid = cred->uid;
	c->pid = cred->pid;
	if (cred->uid == 0 || cred->uid == geteuid()) {
		c->can_read = c->can_admin = 1;
		return;
	}
	n = peer_groups(c->fd, &groups);
	c->can_admin = ctl.have_admin && gid_in(ctl.admin_gid, cred->gid,
	    groups, n);
	c->can_read = c->can_admin || (ctl.have_read &&
	    gid_in(ctl.read_gid, cred->gid, groups, n));
	free(groups);
}

void
control_set_groups(const char *read_group, const char *admin_group)
{
	struct group *gr;

	ctl.have_read = ctl.have_admin = 0;
	if (read_group != NULL) {
		if ((gr = getgrnam(read_group)) != NULL) {
			ctl.read_gid = gr->gr_gid;
			ctl.have_read = 1;
		} else
			log_ev(LOG_WARN, "control_group_unknown", "group=%s",
			    read_group);
	}
	if (admin_group != NULL) {
		if ((gr = getgrnam(admin_group)) != NULL) {
			ctl.admin_gid = gr->gr_gid;
			ctl.have_admin = 1;
		} else
			log_ev(LOG_WARN, "control_group_unknown", "group=%s",
			    admin_group);
	}
}

/* --- commands --- */

static void
record_time(struct ctl_record *r, const char *key, int64_t ns)
{
	char iso[32];

	if (ns <= 0) {
		record_nil(r, key);
		return;
	}
	time_format_iso(ns, iso);
	record_str(r, key, iso);
}

/* files_per_s_1m ... bytes_per_s_1h: what reached MANIFESTED lately. */
static void
status_rates(struct ctl_record *r)
{
	static const struct {
		int		 secs;
		const char	*files, *bytes;
	} win[] = {
		{ 60, "files_per_s_1m", "bytes_per_s_1m" },
		{ 300, "files_per_s_5m", "bytes_per_s_5m" },
		{ 3600, "files_per_s_1h", "bytes_per_s_1h" },
	};
	double fps, bps;
	size_t i;

	for (i = 0; i < sizeof(win) / sizeof(win[0]); i++) {
		if (metrics_rate(win[i].secs, &fps, &bps) == -1)
			fps = bps = 0;
		record_float(r, win[i].files, fps);
		record_float(r, win[i].bytes, bps);
	}
}

static void
status_daemon(struct conn *c)
{
	struct ctl_record r;
	struct pool_stats ps;
	struct watch *w;
	int64_t now = now_realtime_ns(), oldest_id;
	char *oldest_at = NULL, *oldest_path = NULL;
	int nwatches = 0, npaused = 0;

	pool_stats(&ps);
	TAILQ_FOREACH(w, &watches, entry) {
		if (w->retired)
			continue;
		nwatches++;
		npaused += w->paused;
	}
	record_init(&r);
	record_str(&r, "kind", "daemon");
	record_int(&r, "pid", getpid());
	record_str(&r, "version", PACKAGE_VERSION);
	record_time(&r, "started_at", env->started_ns);
	record_int(&r, "uptime_s", (now - env->started_ns) / 1000000000);
	record_str(&r, "config", env->conf->file ? env->conf->file :
	    "(command line)");
	record_int(&r, "generation", env->generation);
	record_int(&r, "reloads", env->reloads);
	record_int(&r, "reload_failures", env->reload_failures);
	record_str(&r, "last_reload", env->last_reload_ok == 1 ? "ok" :
	    env->last_reload_ok == 0 ? "rejected" : "never");
	record_time(&r, "last_reload_at", env->last_reload_ns);
	record_str(&r, "last_reload_error", env->last_reload_error);
	record_str(&r, "state_db", env->conf->state_path);
	record_bool(&r, "dry_run", env->conf->dry_run);
	record_bool(&r, "draining", env->draining);
	record_str(&r, "sandbox", ps.sandbox);
	record_int(&r, "workers", ps.workers);
	record_int(&r, "workers_busy", ps.busy);
	record_int(&r, "workers_idle", ps.ready - ps.busy);
	record_int(&r, "worker_restarts", ps.restarts);
	record_int(&r, "queue_depth", sched_queue_depth());
	status_rates(&r);
	record_int(&r, "watches", nwatches);
	record_int(&r, "watches_paused", npaused);
	if (env->db != NULL && db_oldest_unfinished(env->db, &oldest_id,
	    &oldest_at, &oldest_path) == 1) {
		record_int(&r, "oldest_unfinished_id", oldest_id);
		record_str(&r, "oldest_unfinished_path", oldest_path);
		record_str(&r, "oldest_unfinished_since", oldest_at);
	} else {
		record_nil(&r, "oldest_unfinished_id");
		record_nil(&r, "oldest_unfinished_path");
		record_nil(&r, "oldest_unfinished_since");
	}
	free(oldest_at);
	free(oldest_path);
	control_record(c, &r);
}

static void
status_watches(struct conn *c)
{
	const struct metrics_watch *m;
	struct ctl_record r;
	struct watch *w;

	TAILQ_FOREACH(w, &watches, entry) {
		if (w->retired)
			continue;
		record_init(&r);
		record_str(&r, "kind", "watch");
		record_str(&r, "name", w->name);
		/* polling: some directories are seen only by rescans */
		record_str(&r, "status", w->paused ? "paused" :
		    env->conf->once ? "scanning" : w->unwatched > 0 ?
		    "polling" : "watching");
		record_str(&r, "path", w->path);
		record_int(&r, "unwatched_dirs", w->unwatched);
		record_int(&r, "files_in_progress", (int64_t)w->jobs.count);
		m = metrics_watch_get(w->name);
		record_time(&r, "last_event_at", m ? m->last_event_ns : 0);
		record_time(&r, "last_rescan_at", m ? m->last_rescan_ns : 0);
		record_uint(&r, "overflows", m ? m->overflows : 0);
		control_record(c, &r);
	}
}

static void
status_states(struct conn *c)
{
	struct ctl_record r;
	int64_t counts[ST_END];
	int i;

	if (env->db == NULL || db_count_states(env->db, counts) == -1)
		return;
	for (i = 0; i < ST_END; i++) {
		record_init(&r);
		record_str(&r, "kind", "state");
		record_str(&r, "state", state_name(i));
		record_int(&r, "files", counts[i]);
		control_record(c, &r);
	}
}

static void
cmd_status(struct conn *c, const struct msg_ctl_request *req)
{
	status_daemon(c);
	status_watches(c);
	status_states(c);
	control_end(c, 0, NULL);
}

/* The audit trail of a mutating command: the DB table and the log. */
static void
audit(struct conn *c, const struct msg_ctl_request *req, const char *result)
{
	struct buf args;

	buf_init(&args);
	buf_printf(&args, "watch=%s ids=%s all=%d dry_run=%d check=%d wait=%d",
	    req->watch, req->ids, req->all, req->dry_run, req->check,
	    req->wait);
	log_ev(LOG_INFO, "control_command", "command=%s uid=%u pid=%d"
	    " args=%s result=%s", req->cmd, (unsigned)c->uid, (int)c->pid,
	    args.data, result);
	if (env->db != NULL && !env->conf->dry_run)
		(void)db_audit(env->db, (unsigned)c->uid, (int)c->pid, req->cmd,
		    args.data, result);
	buf_free(&args);
}

static struct watch *
watch_named(const char *name)
{
	struct watch *w = watch_find(name);

	return w != NULL && !w->retired ? w : NULL;
}

static void
cmd_pause(struct conn *c, const struct msg_ctl_request *req, int pause)
{
	struct ctl_record r;
	struct watch *w;
	int n = 0;

	if (req->watch[0] != '\0' && watch_named(req->watch) == NULL) {
		audit(c, req, "no such watch");
		control_end(c, EX_DATAERR, "no watch named '%s'", req->watch);
		return;
	}
	TAILQ_FOREACH(w, &watches, entry) {
		if (w->retired || (req->watch[0] != '\0' &&
		    strcmp(w->name, req->watch) != 0))
			continue;
		w->paused = pause;
		log_ev(LOG_INFO, pause ? "watch_paused" : "watch_resumed",
		    "watch=%s", w->name);
		record_init(&r);
		record_str(&r, "kind", "watch");
		record_str(&r, "name", w->name);
		record_str(&r, "status", pause ? "paused" : "watching");
		control_record(c, &r);
		n++;
	}
	if (!pause)
		sched_dispatch();
	audit(c, req, "ok");
	control_end(c, 0, "%d watch(es) %s", n, pause ? "paused" : "resumed");
}

struct retry_ctx {
	struct conn			*c;
	const struct msg_ctl_request	*req;
	struct file_rec			*recs;
	size_t				 n;
};

static int
retry_collect(struct file_rec *r, void *arg)
{
	struct retry_ctx *x = arg;

	x->recs = xrealloc(x->recs, (x->n + 1) * sizeof(*x->recs));
	x->recs[x->n++] = *r;
	memset(r, 0, sizeof(*r));	/* ownership moved */
	return 0;
}

/* "12,13,20" -> the rows; an id that is not a number is a usage error. */
static int
retry_rows_by_id(struct retry_ctx *x, const char **bad)
{
	char *ids = xstrdup(x->req->ids), *tok, *save = NULL;
	struct file_rec r;
	long long id;

	for (tok = strtok_r(ids, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (parse_uint(tok, 1, INT64_MAX, &id) == -1) {
			*bad = "ids must be positive decimal numbers";
			free(ids);
			return -1;
		}
		memset(&r, 0, sizeof(r));
		if (db_file_get(env->db, id, &r) == 0)
			retry_collect(&r, x);
		else {
			file_rec_free(&r);
			memset(&r, 0, sizeof(r));
			r.id = id;
			r.state = -1;
			retry_collect(&r, x);
		}
	}
	free(ids);
	return 0;
}

static void
cmd_retry(struct conn *c, const struct msg_ctl_request *req)
{
	struct retry_ctx x = { c, req, NULL, 0 };
	struct ctl_record r;
	const char *why = NULL, *bad = NULL;
	char detail[96];
	size_t i;
	int queued = 0;

	if (env->db == NULL || env->conf->dry_run) {
		control_end(c, EX_UNAVAILABLE, "the daemon runs --dry-run: it"
		    " changes nothing");
		return;
	}
	if (req->ids[0] != '\0') {
		if (retry_rows_by_id(&x, &bad) == -1) {
			control_end(c, EX_DATAERR, "%s", bad);
			goto done;
		}
	} else if (req->all || req->watch[0] != '\0') {
		if (req->watch[0] != '\0' && watch_named(req->watch) == NULL) {
			control_end(c, EX_DATAERR, "no watch named '%s'",
			    req->watch);
			goto done;
		}
		db_foreach(env->db, ROWS_RETRYABLE, req->watch[0] ? req->watch :
		    NULL, retry_collect, &x);
	} else {
		control_end(c, EX_USAGE, "retry needs --all, --watch W or ids");
		goto done;
	}
	snprintf(detail, sizeof(detail), "retry requested by uid %u pid %d",
	    (unsigned)c->uid, (int)c->pid);
	for (i = 0; i < x.n; i++) {
		if (x.recs[i].state == -1)
			why = "no such file";
		else if (req->watch[0] != '\0' &&
		    strcmp(x.recs[i].watch, req->watch) != 0)
			why = "not in that watch";
		else
			why = sched_retry(&x.recs[i], detail, req->dry_run);
		record_init(&r);
		record_str(&r, "kind", "retry");
		record_int(&r, "id", x.recs[i].id);
		record_str(&r, "watch", x.recs[i].watch);
		record_str(&r, "relpath", x.recs[i].relpath);
		record_str(&r, "was", x.recs[i].state >= 0 ?
		    state_name(x.recs[i].state) : NULL);
		record_str(&r, "result", why != NULL ? "skipped" :
		    req->dry_run ? "would retry" : "queued");
		record_str(&r, "reason", why);
		control_record(c, &r);
		queued += why == NULL;
	}
	if (!req->dry_run) {
		snprintf(detail, sizeof(detail), "%d queued of %zu", queued,
		    x.n);
		audit(c, req, detail);
	}
	if (queued == 0)
		control_end(c, 1, "no file was %s", req->dry_run ?
		    "retryable" : "queued");
	else
		control_end(c, 0, "%d file(s) %s", queued, req->dry_run ?
		    "would be retried" : "queued again");
done:
	for (i = 0; i < x.n; i++)
		file_rec_free(&x.recs[i]);
	free(x.recs);
}

static void
reload_deferred(evutil_socket_t fd, short what, void *arg)
{
	char *errors;

	if (!env->draining) {
		ingestd_reload(&errors);
		free(errors);
	}
}

static void
cmd_reload(struct conn *c, const struct msg_ctl_request *req)
{
	char *errors = NULL;
	int rc;

	if (env->draining) {
		control_end(c, EX_TEMPFAIL, "the daemon is shutting down");
		return;
	}
	if (!req->wait) {
		/* like SIGHUP: applied after this reply */
		event_base_once(env->base, -1, EV_TIMEOUT, reload_deferred, NULL,
		    NULL);
		audit(c, req, "requested");
		control_end(c, 0, "reload requested");
		return;
	}
	rc = ingestd_reload(&errors);
	audit(c, req, rc == 0 ? "ok" : rc == 1 ? "ignored" : "rejected");
	if (rc == 0)
		control_end(c, 0, "configuration applied: generation %d",
		    env->generation);
	else if (rc == 1)
		control_end(c, 1, "%s", errors ? errors : "nothing to reload");
	else
		control_end(c, EX_CONFIG, "%s", errors && *errors ? errors :
		    "configuration rejected");
	free(errors);
}

static void
cmd_reconcile(struct conn *c, const struct msg_ctl_request *req)
{
	char *err = NULL;

	if (env->db == NULL) {
		control_end(c, EX_UNAVAILABLE, "no audit database (--dry-run)");
		return;
	}
	if (req->watch[0] != '\0' && watch_named(req->watch) == NULL) {
		control_end(c, EX_DATAERR, "no watch named '%s'", req->watch);
		return;
	}
	if (!req->check) {
		if (env->conf->dry_run) {
			control_end(c, EX_UNAVAILABLE, "the daemon runs"
			    " --dry-run: use reconcile --check");
			return;
		}
		audit(c, req, "started");
	}
	if ((c->task = reconcile_start(c, req->watch[0] ? req->watch : NULL,
	    !req->check, &err)) == NULL) {
		control_end(c, EX_SOFTWARE, "%s", err ? err : "cannot start");
		free(err);
	}
}

/* The reconcile of this connection ended (status and message say how). */
void
control_task_done(struct conn *c, int status, const char *message)
{
	c->task = NULL;
	control_end(c, status, "%s", message);
}

/* Commands, with whether they change anything (admin) or only read. */
static const struct {
	const char	*name;
	int		 admin;
} commands[] = {
	{ "status", 0 },
	{ "retry", 1 },
	{ "reconcile", 1 },	/* --check only reads */
	{ "reload", 1 },
	{ "pause", 1 },
	{ "resume", 1 },
};

static void
request_dispatch(struct conn *c, const struct msg_ctl_request *req)
{
	size_t i;
	int admin;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, req->cmd) == 0)
			break;
	if (i == sizeof(commands) / sizeof(commands[0])) {
		control_end(c, EX_USAGE, "unknown command '%s'", req->cmd);
		return;
	}
	admin = commands[i].admin && !(strcmp(req->cmd, "reconcile") == 0 &&
	    req->check);
	if (!c->can_read || (admin && !c->can_admin)) {
		log_ev(LOG_WARN, "control_denied", "command=%s uid=%u pid=%d",
		    req->cmd, (unsigned)c->uid, (int)c->pid);
		control_end(c, EX_NOPERM, "permission denied: %s needs %s",
		    req->cmd, admin ? "root or the admin-group" :
		    "root, the read-group or the admin-group");
		return;
	}
	if (strcmp(req->cmd, "status") == 0)
		cmd_status(c, req);
	else if (strcmp(req->cmd, "retry") == 0)
		cmd_retry(c, req);
	else if (strcmp(req->cmd, "reconcile") == 0)
		cmd_reconcile(c, req);
	else if (strcmp(req->cmd, "reload") == 0)
		cmd_reload(c, req);
	else
		cmd_pause(c, req, strcmp(req->cmd, "pause") == 0);
}

/* --- connections --- */

static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	static struct ipc_msg m;
	struct msg_ctl_request req;
	struct conn *c = arg;
	const char *why;
	int rc;

	if (what & EV_TIMEOUT) {
		if (c->task == NULL)
			conn_close(c);
		return;
	}
	if ((rc = ipc_recv(c->fd, &m)) == 0) {
		conn_close(c);
		return;
	}
	if (rc == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (c->closing)
		return;
	if (rc == -1) {
		if (errno != EBADMSG) {
			conn_close(c);
			return;
		}
		log_ev(LOG_WARN, "control_bad_request", "pid=%d uid=%u"
		    " reason=%s", (int)c->pid, (unsigned)c->uid,
		    "malformed frame");
		c->req_id = 0;
		c->closing = 1;
		control_end(c, EX_DATAERR, "malformed request: a truncated,"
		    " oversized or malformed frame, or not protocol version %d",
		    IPC_VERSION);
		return;
	}
	c->req_id = m.hdr.id;
	if (proto_decode_ctl_request(&m, &req, &why) == -1) {
		ipc_msg_close_fds(&m);
		log_ev(LOG_WARN, "control_bad_request", "pid=%d uid=%u"
		    " reason=%s", (int)c->pid, (unsigned)c->uid, why);
		c->closing = 1;
		control_end(c, EX_DATAERR, "malformed request: %s", why);
		return;
	}
	if (c->task != NULL) {
		control_end(c, EX_TEMPFAIL, "busy: a reconcile is running on"
		    " this connection");
		return;
	}
	request_dispatch(c, &req);
}

static void
conn_close(struct conn *c)
{
	struct frame *f;

	if (c->task != NULL)
		reconcile_abort(c->task);
	while ((f = TAILQ_FIRST(&c->out)) != NULL) {
		TAILQ_REMOVE(&c->out, f, entry);
		buf_free(&f->b);
		free(f);
	}
	event_free(c->rev);
	event_free(c->wev);
	close(c->fd);
	TAILQ_REMOVE(&ctl.conns, c, entry);
	ctl.nconns--;
	free(c);
}

/* Over the cap: one END saying so, best effort, then close. */
static void
refuse_busy(int fd)
{
	struct msg_ctl_end end;
	struct buf b;

	memset(&end, 0, sizeof(end));
	end.status = EX_TEMPFAIL;
	str_copy(end.message, "busy: too many control connections",
	    sizeof(end.message));
	buf_init(&b);
	if (proto_frame_ctl_end(&b, 0, &end) == 0)
		(void)send(fd, b.data, b.len, MSG_DONTWAIT | MSG_NOSIGNAL);
	buf_free(&b);
	close(fd);
}

static void
accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct timeval idle = { CONTROL_IDLE_SECS, 0 };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct conn *c;
	int fd;

	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) ==
	    -1) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_ev(LOG_WARN, "control_accept_failed", "errno=%d",
			    errno);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		close(fd);
		return;
	}
	if (ctl.nconns >= CONTROL_MAX_CONNS) {
		log_ev(LOG_WARN, "control_busy", "pid=%d uid=%u",
		    (int)cred.pid, (unsigned)cred.uid);
		refuse_busy(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	TAILQ_INIT(&c->out);
	conn_identify(c, &cred);
	c->rev = event_new(env->base, fd, EV_READ | EV_PERSIST, conn_read_cb,
	    c);
	c->wev = event_new(env->base, fd, EV_WRITE, conn_write_cb, c);
	event_add(c->rev, &idle);
	TAILQ_INSERT_TAIL(&ctl.conns, c, entry);
	ctl.nconns++;
	log_ev(LOG_DEBUG, "control_connected", "pid=%d uid=%u read=%d"
	    " admin=%d", (int)c->pid, (unsigned)c->uid, c->can_read,
	    c->can_admin);
}

/* --- the listener --- */

/* Is a daemon answering on path?  1 yes, 0 no (stale or absent). */
static int
socket_alive(const char *path)
{
	struct sockaddr_un sa;
	int fd, dirfd, len, rc;

	if ((len = unix_sockaddr(&sa, path, &dirfd)) == -1)
		return 0;
	if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) == -1) {
		if (dirfd != -1)
			close(dirfd);
		return 0;
	}
	rc = connect(fd, (struct sockaddr *)&sa, (socklen_t)len);
	close(fd);
	if (dirfd != -1)
		close(dirfd);
	return rc == 0;
}

static int	listen_fail(char **, int *, int, const char *, ...)
		    __attribute__((format(printf, 4, 5)));

static int
listen_fail(char **err, int *code, int excode, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(err, fmt, ap) == -1)
		*err = NULL;
	va_end(ap);
	*code = excode;
	if (ctl.fd != -1)
		close(ctl.fd);
	ctl.fd = -1;
	return -1;
}

int
control_listen(const char *path, char **err, int *code)
{
	struct sockaddr_un sa;
	struct stat st;
	struct buf lock;
	char *slash;
	int len, dirfd, rc;

	TAILQ_INIT(&ctl.conns);
	*err = NULL;
	buf_init(&lock);
	/*
	 * Like /run/ingestd after a reboot without systemd's RuntimeDirectory:
	 * create the socket's own directory, not a whole missing tree.
	 */
	buf_adds(&lock, path);
	if ((slash = strrchr(lock.data, '/')) != NULL && slash != lock.data) {
		*slash = '\0';
		if (mkdir(lock.data, 0755) == -1 && errno != EEXIST) {
			rc = errno;
			buf_free(&lock);
			return listen_fail(err, code, EX_CANTCREAT, "control"
			    " socket %s: cannot create its directory: %s",
			    path, strerror(rc));
		}
		buf_reset(&lock);
	}
	buf_printf(&lock, "%s.lock", path);
	ctl.lockfd = open(lock.data, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (ctl.lockfd == -1) {
		rc = errno;
		buf_free(&lock);
		return listen_fail(err, code, EX_CANTCREAT, "control socket"
		    " %s: cannot create its lock file: %s", path, strerror(rc));
	}
	if (flock(ctl.lockfd, LOCK_EX | LOCK_NB) == -1) {
		buf_free(&lock);
		return listen_fail(err, code, EX_TEMPFAIL, "control socket %s:"
		    " another ingestd is running (it holds %s.lock)", path,
		    path);
	}
	buf_free(&lock);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return listen_fail(err, code, EX_CANTCREAT, "control"
			    " socket %s: exists and is not a socket", path);
		if (socket_alive(path))
			return listen_fail(err, code, EX_TEMPFAIL, "control"
			    " socket %s: another daemon answers on it", path);
		if (unlink(path) == -1)
			return listen_fail(err, code, EX_CANTCREAT, "control"
			    " socket %s: cannot remove the stale socket: %s",
			    path, strerror(errno));
		log_ev(LOG_WARN, "control_stale_removed", "path=%s", path);
	}
	if ((len = unix_sockaddr(&sa, path, &dirfd)) == -1)
		return listen_fail(err, code, EX_CANTCREAT, "control socket"
		    " %s: %s", path, strerror(errno));
	ctl.fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	rc = ctl.fd == -1 ? -1 : bind(ctl.fd, (struct sockaddr *)&sa,
	    (socklen_t)len);
	if (rc == 0)
		rc = listen(ctl.fd, CONTROL_MAX_CONNS);
	/* who may do what is decided per peer (SO_PEERCRED), not by mode */
	if (rc == 0)
		rc = chmod(path, 0666);
	if (dirfd != -1)
		close(dirfd);
	if (rc == -1)
		return listen_fail(err, code, EX_CANTCREAT, "control socket"
		    " %s: %s", path, strerror(errno));
	ctl.path = xstrdup(path);
	ctl.ev = event_new(env->base, ctl.fd, EV_READ | EV_PERSIST, accept_cb,
	    NULL);
	event_add(ctl.ev, NULL);
	log_ev(LOG_INFO, "control_listening", "path=%s", path);
	return 0;
}

void
control_close(void)
{
	struct conn *c;

	while ((c = TAILQ_FIRST(&ctl.conns)) != NULL)
		conn_close(c);
	if (ctl.ev != NULL)
		event_free(ctl.ev);
	ctl.ev = NULL;
	if (ctl.fd != -1) {
		close(ctl.fd);
		unlink(ctl.path);
	}
	ctl.fd = -1;
	if (ctl.lockfd != -1)
		close(ctl.lockfd);
	ctl.lockfd = -1;
	free(ctl.path);
	ctl.path = NULL;
}
