/* master: exports the metrics: the evhttp listener of `metrics listen`, the `metrics textfile` writer, the gauges read from the daemon. */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "buf.h"
#include "conf.h"
#include "ingestd.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "sched.h"
#include "util.h"

#define HTTP_TIMEOUT_SECS	10
#define HTTP_MAX_HEADERS	8192
#define HTTP_MAX_BODY		1024
#define LISTEN_BACKLOG		16

/* A bound listener and the setting it was bound for. */
struct listener {
	struct evhttp	*http;
	char		*addr;
	int		 port;		/* as configured (0: ephemeral) */
	int		 bound_port;
};

static struct {
	struct listener	 cur;		/* serving; http NULL: none */
	struct listener	 next;		/* bound by metrics_prepare() */
	char		*textfile;	/* NULL: none */
	int		 interval;
	struct event	*timer;
	int		 textfile_failing;	/* logged once until it works */
} x;

static void
gauges_collect(struct metrics_gauges *g)
{
	struct pool_stats ps;

	memset(g, 0, sizeof(*g));
	g->version = PACKAGE_VERSION;
	g->start_ns = env->started_ns;
	g->queue_depth = sched_queue_depth();
	pool_stats(&ps);
	g->worker_restarts = ps.restarts;
	g->reload_ok = env->last_reload_ok != 0;
	g->reload_ns = env->last_reload_ok == -1 ? env->started_ns :
	    env->last_reload_ns;
}

static void
render_live(struct buf *b)
{
	struct metrics_gauges g;

	gauges_collect(&g);
	metrics_render(b, &g);
}

/* --- the listener --- */

/* GET (or HEAD) /metrics; 404 for any other path, 405 for other methods. */
static void
http_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
	struct evbuffer *out;
	struct buf b;

	if (path == NULL || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(hdrs, "Allow", "GET, HEAD");
		evhttp_send_error(req, 405, "Method Not Allowed");
		return;
	}
	if ((out = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	buf_init(&b);
	render_live(&b);
	evbuffer_add(out, b.data, b.len);
	buf_free(&b);
	evhttp_add_header(hdrs, "Content-Type", METRICS_CONTENT_TYPE);
	evhttp_send_reply(req, HTTP_OK, "OK", out);
	evbuffer_free(out);
}

/* A listening TCP socket on addr:port (numeric), or -1 with errno set. */
static int
listen_socket(const char *addr, int port, int *bound_port)
{
	struct addrinfo hints, *ai;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char service[8];
	int fd, one = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	snprintf(service, sizeof(service), "%d", port);
	if ((rc = getaddrinfo(addr, service, &hints, &ai)) != 0) {
		errno = rc == EAI_SYSTEM ? errno : EINVAL;
		return -1;
	}
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1) {
		freeaddrinfo(ai);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) == -1) {
		rc = errno;
		close(fd);
		freeaddrinfo(ai);
		errno = rc;
		return -1;
	}
	freeaddrinfo(ai);
	*bound_port = ntohs(ss.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&ss)->sin6_port :
	    ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

static void
listener_close(struct listener *l)
{
	if (l->http != NULL)
		evhttp_free(l->http);
	free(l->addr);
	memset(l, 0, sizeof(*l));
}

static int
listener_open(struct listener *l, const struct config *c, char **err)
{
	int fd;

	memset(l, 0, sizeof(*l));
	fd = listen_socket(c->metrics_addr, c->metrics_port, &l->bound_port);
	if (fd == -1 || (l->http = evhttp_new(env->base)) == NULL ||
	    evhttp_accept_socket_with_handle(l->http, fd) == NULL) {
		if (asprintf(err, "%s: metrics listen %s%s%s:%d: %s",
		    c->metrics_at ? c->metrics_at : "metrics",
		    strchr(c->metrics_addr, ':') ? "[" : "", c->metrics_addr,
		    strchr(c->metrics_addr, ':') ? "]" : "", c->metrics_port,
		    strerror(fd == -1 ? errno : ENOMEM)) == -1)
			*err = NULL;
		if (fd != -1)
			close(fd);
		if (l->http != NULL)
			evhttp_free(l->http);
		l->http = NULL;
		return -1;
	}
	evhttp_set_allowed_methods(l->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_timeout(l->http, HTTP_TIMEOUT_SECS);
	evhttp_set_max_headers_size(l->http, HTTP_MAX_HEADERS);
	evhttp_set_max_body_size(l->http, HTTP_MAX_BODY);
	evhttp_set_gencb(l->http, http_cb, NULL);
	l->addr = xstrdup(c->metrics_addr);
	l->port = c->metrics_port;
	return 0;
}

static int
listener_is(const struct listener *l, const struct config *c)
{
	return l->http != NULL && c->metrics_addr != NULL &&
	    strcmp(l->addr, c->metrics_addr) == 0 && l->port == c->metrics_port;
}

int
metrics_prepare(const struct config *c, char **err)
{
	*err = NULL;
	listener_close(&x.next);
	if (c->metrics_addr == NULL || listener_is(&x.cur, c))
		return 0;
	return listener_open(&x.next, c, err);
}

/* --- the textfile --- */

/* Write PATH's contents to a temp file beside it, then rename it over. */
static int
textfile_write(const char *path)
{
	const char *slash = strrchr(path, '/');
	struct buf b, tmp;
	ssize_t w;
	size_t off = 0;
	int fd, rc = -1, saved;

	if (slash == NULL) {
		errno = EINVAL;
		return -1;
	}
	buf_init(&tmp);
	buf_printf(&tmp, "%.*s/.%s.XXXXXX", (int)(slash - path), path,
	    slash + 1);
	if ((fd = mkostemp(tmp.data, O_CLOEXEC)) == -1) {
		buf_free(&tmp);
		return -1;
	}
	buf_init(&b);
	render_live(&b);
	while (off < b.len) {
		if ((w = write(fd, b.data + off, b.len - off)) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		off += (size_t)w;
	}
	if (off == b.len && fchmod(fd, 0644) == 0 && close(fd) == 0) {
		fd = -1;
		rc = rename(tmp.data, path);
	}
	saved = errno;
	if (fd != -1)
		close(fd);
	if (rc == -1)
		unlink(tmp.data);
	buf_free(&b);
	buf_free(&tmp);
	errno = saved;
	return rc;
}

static void
textfile_update(void)
{
	if (x.textfile == NULL)
		return;
	if (textfile_write(x.textfile) == -1) {
		if (!x.textfile_failing)
			log_ev(LOG_WARN, "metrics_textfile_failed",
			    "path=%s errno=%d", x.textfile, errno);
		x.textfile_failing = 1;
	} else if (x.textfile_failing) {
		log_ev(LOG_INFO, "metrics_textfile_ok", "path=%s", x.textfile);
		x.textfile_failing = 0;
	}
}

static void
textfile_cb(evutil_socket_t fd, short what, void *arg)
{
	textfile_update();
}

/* Switch to c's textfile; a file we no longer write is removed. */
static void
textfile_apply(const struct config *c)
{
	struct timeval tv;

	if (x.textfile != NULL && (c->metrics_textfile == NULL ||
	    strcmp(x.textfile, c->metrics_textfile) != 0)) {
		unlink(x.textfile);
		free(x.textfile);
		x.textfile = NULL;
	}
	if (x.timer != NULL) {
		event_free(x.timer);
		x.timer = NULL;
	}
	if (c->metrics_textfile == NULL)
		return;
	if (x.textfile == NULL) {
		x.textfile = xstrdup(c->metrics_textfile);
		x.textfile_failing = 0;
	}
	x.interval = c->metrics_interval_secs > 0 ?
	    c->metrics_interval_secs : 15;
	tv.tv_sec = x.interval;
	tv.tv_usec = 0;
	x.timer = event_new(env->base, -1, EV_PERSIST, textfile_cb, NULL);
	event_add(x.timer, &tv);
	textfile_update();
}

void
metrics_commit(const struct config *c)
{
	if (c == NULL) {		/* the reload was rejected */
		listener_close(&x.next);
		return;
	}
	if (x.next.http != NULL || c->metrics_addr == NULL) {
		if (x.cur.http != NULL)
			log_ev(LOG_INFO, "metrics_closed", "addr=%s port=%d",
			    x.cur.addr, x.cur.bound_port);
		listener_close(&x.cur);
		x.cur = x.next;
		memset(&x.next, 0, sizeof(x.next));
		if (x.cur.http != NULL)
			log_ev(LOG_INFO, "metrics_listening", "addr=%s port=%d",
			    x.cur.addr, x.cur.bound_port);
	}
	textfile_apply(c);
}

void
metrics_stop(void)
{
	textfile_update();
	if (x.timer != NULL)
		event_free(x.timer);
	x.timer = NULL;
	free(x.textfile);
	x.textfile = NULL;
	listener_close(&x.next);
	listener_close(&x.cur);
	metrics_free();
}
