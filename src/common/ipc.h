/* common: framing of IPC messages (fixed header + msgpack body + fds) over SOCK_SEQPACKET. */
#ifndef INGESTD_IPC_H
#define INGESTD_IPC_H

#include <stddef.h>
#include <stdint.h>

#define IPC_VERSION	1
#define IPC_HDR_LEN	16
#define IPC_MAX_FRAME	65536		/* header + body */
#define IPC_MAX_BODY	(IPC_MAX_FRAME - IPC_HDR_LEN)
#define IPC_MAX_FDS	2

/*
 * Wire header, host byte order (both ends are on the same host):
 *   u16 version, u16 type, u32 body length, u64 id (job id, 0 if none).
 * The body is exactly `len` bytes: one msgpack map (see proto.h).
 */
struct ipc_hdr {
	uint16_t	version;
	uint16_t	type;
	uint32_t	len;
	uint64_t	id;
};

struct ipc_msg {
	struct ipc_hdr	 hdr;
	const uint8_t	*body;		/* points into buf */
	size_t		 len;		/* == hdr.len */
	int		 fds[IPC_MAX_FDS];
	int		 nfds;
	uint8_t		 buf[IPC_MAX_FRAME];
};

/*
 * Send one frame with 0..IPC_MAX_FDS descriptors attached.  Returns 0, or -1
 * with errno set (EMSGSIZE if the body is too large).  Retries on EINTR.
 */
int	ipc_send(int sock, uint16_t type, uint64_t id, const void *body,
	    size_t len, const int *fds, int nfds);

/*
 * Receive one frame.  Returns 1 with *m filled, 0 on orderly EOF, -1 on
 * error with errno set: EAGAIN (non-blocking, nothing there), EBADMSG
 * (malformed: truncated payload or control data (MSG_TRUNC/MSG_CTRUNC), bad
 * version, length mismatch, too many fds, non-SCM_RIGHTS control data).
 * On EBADMSG every received fd has already been closed.
 */
int	ipc_recv(int sock, struct ipc_msg *m);

/*
 * Validate and decode the header of the n bytes already in m->buf, setting
 * m->hdr, m->body and m->len.  Returns 0, or -1 with errno = EBADMSG.  Pure
 * (no I/O): used by ipc_recv and by the fuzz target.
 */
int	ipc_frame_parse(struct ipc_msg *m, size_t n);

/*
 * Encode one frame without fds (header + body) into out, for a sender that
 * queues frames and writes them when the socket is writable.  Returns 0, or
 * -1 with errno = EMSGSIZE.
 */
struct buf;
int	ipc_frame_build(struct buf *out, uint16_t type, uint64_t id,
	    const void *body, size_t len);

/* Close every fd still attached to m and set nfds to 0. */
void	ipc_msg_close_fds(struct ipc_msg *m);

#endif
