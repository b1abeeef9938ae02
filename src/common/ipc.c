/* common: IPC framing (header, body, SCM_RIGHTS fds) over SOCK_SEQPACKET, master and worker. */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "ipc.h"

/* Byte offsets of the header fields on the wire. */
#define HDR_OFF_VERSION	0
#define HDR_OFF_TYPE	2
#define HDR_OFF_LEN	4
#define HDR_OFF_ID	8

/*
 * Room for one more fd than we accept, so that a peer sending too many is
 * seen as "too many" rather than only as MSG_CTRUNC.  Either way every fd
 * the kernel installed is collected and closed.
 */
#define CMSG_BUF_LEN	CMSG_SPACE(sizeof(int) * (IPC_MAX_FDS + 1))
/* Upper bound on the fds that can arrive in CMSG_BUF_LEN bytes. */
#define RECV_FDS_MAX	(CMSG_BUF_LEN / sizeof(int))

union cmsg_buf {
	struct cmsghdr	align;
	char		buf[CMSG_BUF_LEN];
};

static void
hdr_encode(uint8_t out[IPC_HDR_LEN], uint16_t type, uint32_t len, uint64_t id)
{
	uint16_t version = IPC_VERSION;

	memcpy(out + HDR_OFF_VERSION, &version, sizeof(version));
	memcpy(out + HDR_OFF_TYPE, &type, sizeof(type));
	memcpy(out + HDR_OFF_LEN, &len, sizeof(len));
	memcpy(out + HDR_OFF_ID, &id, sizeof(id));
}

static void
hdr_decode(const uint8_t in[IPC_HDR_LEN], struct ipc_hdr *hdr)
{
	memcpy(&hdr->version, in + HDR_OFF_VERSION, sizeof(hdr->version));
	memcpy(&hdr->type, in + HDR_OFF_TYPE, sizeof(hdr->type));
	memcpy(&hdr->len, in + HDR_OFF_LEN, sizeof(hdr->len));
	memcpy(&hdr->id, in + HDR_OFF_ID, sizeof(hdr->id));
}

static void
fds_close(const int *fds, size_t nfds)
{
	size_t i;

	for (i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			(void)close(fds[i]);
}

int
ipc_send(int sock, uint16_t type, uint64_t id, const void *body, size_t len,
    const int *fds, int nfds)
{
	uint8_t hdr[IPC_HDR_LEN];
	struct iovec iov[2];
	struct msghdr msg;
	struct cmsghdr *cmsg;
	union cmsg_buf cbuf;
	ssize_t n;

	if (nfds < 0 || nfds > IPC_MAX_FDS || (nfds > 0 && fds == NULL) ||
	    (len > 0 && body == NULL)) {
		errno = EINVAL;
		return -1;
	}
	if (len > IPC_MAX_BODY) {
		errno = EMSGSIZE;
		return -1;
	}
	hdr_encode(hdr, type, (uint32_t)len, id);

	memset(&msg, 0, sizeof(msg));
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)(uintptr_t)body;
	iov[1].iov_len = len;
	msg.msg_iov = iov;
	msg.msg_iovlen = len > 0 ? 2 : 1;
	if (nfds > 0) {
		memset(&cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * (size_t)nfds);
	}

	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if ((size_t)n != sizeof(hdr) + len) {
		/* Cannot happen on SOCK_SEQPACKET: a record goes whole or not at all. */
		errno = EIO;
		return -1;
	}
	return 0;
}

int
ipc_frame_build(struct buf *out, uint16_t type, uint64_t id, const void *body,
    size_t len)
{
	uint8_t hdr[IPC_HDR_LEN];

	if (len > IPC_MAX_BODY) {
		errno = EMSGSIZE;
		return -1;
	}
	hdr_encode(hdr, type, (uint32_t)len, id);
	buf_reset(out);
	buf_add(out, hdr, sizeof(hdr));
	if (len > 0)
		buf_add(out, body, len);
	return 0;
}

/*
 * Copy every fd of every SCM_RIGHTS message into fds (which holds
 * RECV_FDS_MAX, enough for anything that fits in the control buffer).
 * Returns -1 if any control message is something other than SCM_RIGHTS;
 * the fds are collected regardless so that the caller can close them all.
 */
static int
cmsg_collect_fds(struct msghdr *msg, int *fds, size_t *nfds)
{
	struct cmsghdr *cmsg;
	size_t i, count;
	int ok = 0;

	*nfds = 0;
	for (cmsg = CMSG_FIRSTHDR(msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS ||
		    cmsg->cmsg_len < CMSG_LEN(0)) {
			ok = -1;
			continue;
		}
		count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < count && *nfds < RECV_FDS_MAX; i++)
			memcpy(&fds[(*nfds)++], CMSG_DATA(cmsg) + i * sizeof(int),
			    sizeof(int));
	}
	return ok;
}

int
ipc_recv(int sock, struct ipc_msg *m)
{
	struct iovec iov;
	struct msghdr msg;
	union cmsg_buf cbuf;
	int fds[RECV_FDS_MAX];
	size_t nfds, i;
	ssize_t n;
	int bad;

	m->nfds = 0;
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = m->buf;
	iov.iov_len = sizeof(m->buf);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = sizeof(cbuf.buf);

	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;

	bad = cmsg_collect_fds(&msg, fds, &nfds) == -1 ||
	    (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
	    nfds > IPC_MAX_FDS;
	/* A zero-length read with nothing attached is the peer closing. */
	if (n == 0 && !bad && nfds == 0)
		return 0;
	if (bad || ipc_frame_parse(m, (size_t)n) == -1) {
		fds_close(fds, nfds);
		errno = EBADMSG;
		return -1;
	}
	for (i = 0; i < nfds; i++)
		m->fds[i] = fds[i];
	for (; i < IPC_MAX_FDS; i++)
		m->fds[i] = -1;
	m->nfds = (int)nfds;
	return 1;
}

int
ipc_frame_parse(struct ipc_msg *m, size_t n)
{
	struct ipc_hdr hdr;

	if (n < IPC_HDR_LEN || n > sizeof(m->buf))
		goto bad;
	hdr_decode(m->buf, &hdr);
	if (hdr.version != IPC_VERSION || hdr.len != n - IPC_HDR_LEN)
		goto bad;
	m->hdr = hdr;
	m->body = m->buf + IPC_HDR_LEN;
	m->len = hdr.len;
	return 0;
bad:
	errno = EBADMSG;
	return -1;
}

void
ipc_msg_close_fds(struct ipc_msg *m)
{
	int i;

	for (i = 0; i < m->nfds && i < IPC_MAX_FDS; i++) {
		if (m->fds[i] >= 0)
			(void)close(m->fds[i]);
		m->fds[i] = -1;
	}
	m->nfds = 0;
}
