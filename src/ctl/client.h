/* ingestctl: the daemon's control socket: connect, send a request, read records until the end. */
#ifndef INGESTCTL_CLIENT_H
#define INGESTCTL_CLIENT_H

#include "proto.h"

struct ctl;

/* The socket: -s, else $INGESTD_SOCKET, else CTL_SOCKET_DEFAULT. */
const char	*ctl_socket_path(const struct ctl *);

/*
 * Send req and hand each record of the reply to on_record (which owns
 * nothing: the record is freed after it returns) until the daemon's end
 * frame, copied to *end.  Returns the exit status for ingestctl: the end's
 * status, or 69 (daemon unreachable, after a hint on stderr), 77 (the
 * socket's permissions), 70 (the daemon broke the protocol or hung up).
 */
int	ctl_call(const struct ctl *, const struct msg_ctl_request *,
	    void (*on_record)(const struct ctl_record *, void *), void *arg,
	    struct msg_ctl_end *end);

#endif
