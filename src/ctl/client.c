/* ingestctl: the daemon's control socket: connect, send a request, read records until the end. */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "client.h"
#include "ingestctl.h"
#include "ipc.h"
#include "proto.h"
#include "util.h"

/* A daemon that sends nothing for this long is wedged: give up (75). */
#define CTL_REPLY_TIMEOUT_S	120

const char *
ctl_socket_path(const struct ctl *c)
{
	const char *env;

	if (c->socket != NULL)
		return c->socket;
	if ((env = getenv("INGESTD_SOCKET")) != NULL && *env != '\0')
		return env;
	return CTL_SOCKET_DEFAULT;
}

static int
ctl_connect(const struct ctl *c, int *out)
{
	const char *path = ctl_socket_path(c);
	struct sockaddr_un sa;
	struct timeval tv = { CTL_REPLY_TIMEOUT_S, 0 };
	int fd = -1, len, dirfd = -1, rc, err;

	if ((len = unix_sockaddr(&sa, path, &dirfd)) == -1)
		rc = -1;
	else if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) == -1)
		rc = -1;
	else if ((rc = connect(fd, (struct sockaddr *)&sa, (socklen_t)len)) ==
	    -1) {
		err = errno;
		close(fd);
		errno = err;
	}
	err = errno;
	if (dirfd != -1)
		close(dirfd);
	if (rc == -1) {
		fprintf(stderr, "ingestctl: cannot reach ingestd at %s: %s\n",
		    path, strerror(err));
		if (err == EACCES || err == EPERM) {
			fprintf(stderr, "ingestctl: hint: the socket's directory"
			    " does not let you in; ask for the read-group\n");
			return EX_NOPERM;
		}
		fprintf(stderr, "ingestctl: hint: is the daemon running"
		    " (systemctl status ingestd)?  -s SOCKET names another"
		    " socket; --db FILE reads the audit database directly\n");
		return EX_UNAVAILABLE;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	*out = fd;
	return 0;
}

static int
protocol_error(const char *what)
{
	fprintf(stderr, "ingestctl: the daemon's reply is not understood: %s\n",
	    what);
	return EX_SOFTWARE;
}

int
ctl_call(const struct ctl *c, const struct msg_ctl_request *req,
    void (*on_record)(const struct ctl_record *, void *), void *arg,
    struct msg_ctl_end *end)
{
	static struct ipc_msg m;	/* 64 KiB: not on the stack */
	struct ctl_record r;
	const char *why;
	int fd, rc;

	memset(end, 0, sizeof(*end));
	if ((rc = ctl_connect(c, &fd)) != 0)
		return rc;
	if (proto_send_ctl_request(fd, 1, req) == -1) {
		fprintf(stderr, "ingestctl: cannot send to ingestd: %s\n",
		    strerror(errno));
		close(fd);
		return EX_UNAVAILABLE;
	}
	for (;;) {
		if ((rc = ipc_recv(fd, &m)) == 0) {
			rc = protocol_error("the daemon hung up before the end"
			    " of its reply");
			break;
		}
		if (rc == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				fprintf(stderr, "ingestctl: ingestd sent"
				    " nothing for %d s; giving up\n",
				    CTL_REPLY_TIMEOUT_S);
				rc = EX_TEMPFAIL;
			} else if (errno == EBADMSG)
				rc = protocol_error("a malformed frame (is"
				    " ingestd the same version as ingestctl?)");
			else
				rc = protocol_error(strerror(errno));
			break;
		}
		if (m.hdr.type == MSG_CTL_RECORD) {
			if (proto_decode_record(&m, &r, &why) == -1) {
				rc = protocol_error(why);
				break;
			}
			on_record(&r, arg);
			record_free(&r);
			continue;
		}
		if (proto_decode_ctl_end(&m, end, &why) == -1)
			rc = protocol_error(why);
		else
			rc = end->status;
		break;
	}
	ipc_msg_close_fds(&m);
	close(fd);
	return rc;
}
