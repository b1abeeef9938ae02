/* master: sd_notify datagrams (READY, RELOADING, STOPPING, STATUS, WATCHDOG) on $NOTIFY_SOCKET. */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "ingestd.h"
#include "log.h"
#include "notify.h"
#include "util.h"

/*
 * The protocol is one datagram of newline-separated KEY=VALUE lines to an
 * AF_UNIX socket; linking libsystemd for that is not worth a dependency.
 */
static struct {
	int			 fd;
	struct sockaddr_un	 sun;
	socklen_t		 len;
	long long		 watchdog_usec;
	struct event		*watchdog;
} n = { -1, { 0 }, 0, 0, NULL };

void
notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET"), *usec, *pid;
	size_t plen;
	long long v;

	if (path == NULL || *path == '\0')
		return;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') ||
	    plen >= sizeof(n.sun.sun_path)) {
		log_ev(LOG_WARN, "notify_socket_invalid", "path=%s", path);
		return;
	}
	if ((n.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_ev(LOG_WARN, "notify_socket_failed", "errno=%d", errno);
		return;
	}
	memset(&n.sun, 0, sizeof(n.sun));
	n.sun.sun_family = AF_UNIX;
	memcpy(n.sun.sun_path, path, plen);
	if (path[0] == '@')
		n.sun.sun_path[0] = '\0';	/* abstract namespace */
	n.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	usec = getenv("WATCHDOG_USEC");
	pid = getenv("WATCHDOG_PID");
	if (usec != NULL && parse_uint(usec, 1, 86400LL * 1000000, &v) == 0 &&
	    (pid == NULL || atoll(pid) == (long long)getpid()))
		n.watchdog_usec = v;
	/* children (workers) must not talk to the service manager */
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

static void
notify_send(const char *msg)
{
	if (n.fd == -1)
		return;
	if (sendto(n.fd, msg, strlen(msg), MSG_NOSIGNAL,
	    (struct sockaddr *)&n.sun, n.len) == -1)
		log_ev(LOG_DEBUG, "notify_failed", "errno=%d", errno);
}

void
notify_ready(void)
{
	notify_send("READY=1");
}

void
notify_reloading(void)
{
	char msg[96];

	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%lld",
	    (long long)(now_monotonic_ns() / 1000));
	notify_send(msg);
}

void
notify_stopping(void)
{
	static int sent;

	if (!sent)
		notify_send("STOPPING=1");
	sent = 1;
}

void
notify_status(const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (n.fd == -1)
		return;
	memcpy(msg, "STATUS=", 7);
	va_start(ap, fmt);
	vsnprintf(msg + 7, sizeof(msg) - 7, fmt, ap);
	va_end(ap);
	notify_send(msg);
}

/*
 * The ping comes from a timer on the event loop: if the loop is stuck, no
 * ping is sent and the service manager restarts us.
 */
static void
watchdog_cb(evutil_socket_t fd, short ev, void *arg)
{
	notify_send("WATCHDOG=1");
}

void
notify_watchdog_start(void)
{
	struct timeval tv;
	long long half;

	if (n.fd == -1 || n.watchdog_usec == 0)
		return;
	half = n.watchdog_usec / 2;
	tv.tv_sec = (time_t)(half / 1000000);
	tv.tv_usec = (suseconds_t)(half % 1000000);
	n.watchdog = event_new(env->base, -1, EV_PERSIST, watchdog_cb, NULL);
	event_add(n.watchdog, &tv);
	notify_send("WATCHDOG=1");
}

void
notify_close(void)
{
	if (n.watchdog != NULL) {
		event_free(n.watchdog);
		n.watchdog = NULL;
	}
	if (n.fd != -1) {
		close(n.fd);
		n.fd = -1;
	}
}
