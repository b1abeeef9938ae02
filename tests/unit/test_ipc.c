/* tests: unit tests of the IPC framing (src/common/ipc.c) over real socketpairs. */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ipc.h"

struct fixture {
	int		 sv[2];		/* [0] sends, [1] receives */
	struct ipc_msg	*m;
};

static int
setup(void **state)
{
	struct fixture *fx;

	if ((fx = calloc(1, sizeof(*fx))) == NULL ||
	    (fx->m = calloc(1, sizeof(*fx->m))) == NULL)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fx->sv) == -1)
		return -1;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	ipc_msg_close_fds(fx->m);
	if (fx->sv[0] != -1)
		close(fx->sv[0]);
	close(fx->sv[1]);
	free(fx->m);
	free(fx);
	return 0;
}

/* Encode a header the way the wire format says, independently of ipc.c. */
static size_t
frame_raw(uint8_t *out, uint16_t version, uint16_t type, uint32_t len,
    uint64_t id, const void *body, size_t bodylen)
{
	memcpy(out + 0, &version, 2);
	memcpy(out + 2, &type, 2);
	memcpy(out + 4, &len, 4);
	memcpy(out + 8, &id, 8);
	if (bodylen > 0)
		memcpy(out + IPC_HDR_LEN, body, bodylen);
	return IPC_HDR_LEN + bodylen;
}

/* sendmsg() bytes with any number of fds, bypassing ipc_send's checks. */
static void
send_raw(int sock, const void *data, size_t len, const int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 8)];
	struct iovec iov;
	struct msghdr msg;
	struct cmsghdr *cmsg;

	assert_true(nfds <= 8);
	memset(&msg, 0, sizeof(msg));
	memset(cbuf, 0, sizeof(cbuf));
	iov.iov_base = (void *)(uintptr_t)data;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds > 0) {
		msg.msg_control = cbuf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
	}
	assert_int_equal(sendmsg(sock, &msg, 0), (ssize_t)len);
}

static int
fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

/* Enough to cover every fd these tests can create. */
#define FD_SCAN	1024

/* Which fd numbers are open, as fcntl(F_GETFD) sees them. */
static void
fds_snapshot(unsigned char open[FD_SCAN])
{
	int fd;

	for (fd = 0; fd < FD_SCAN; fd++)
		open[fd] = fd_is_open(fd);
}

/* No fd opened since the snapshot (e.g. by a failed ipc_recv) is left open. */
static void
assert_no_fd_leaked_since(const unsigned char before[FD_SCAN])
{
	int fd;

	for (fd = 0; fd < FD_SCAN; fd++)
		if (!before[fd]) {
			errno = 0;
			assert_int_equal(fcntl(fd, F_GETFD), -1);
			assert_int_equal(errno, EBADF);
		}
}

static void
assert_recv_badmsg(struct fixture *fx)
{
	errno = 0;
	assert_int_equal(ipc_recv(fx->sv[1], fx->m), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(fx->m->nfds, 0);
}

static void
test_frame_round_trip_with_two_fds(void **state)
{
	struct fixture *fx = *state;
	int a[2], b[2], fds[2];
	char c = 0;

	assert_int_equal(pipe(a), 0);
	assert_int_equal(pipe(b), 0);
	fds[0] = a[1];		/* write end of pipe a */
	fds[1] = b[0];		/* read end of pipe b */
	assert_int_equal(ipc_send(fx->sv[0], 3, 0x1122334455667788ULL,
	    "hello", 5, fds, 2), 0);

	assert_int_equal(ipc_recv(fx->sv[1], fx->m), 1);
	assert_int_equal(fx->m->hdr.version, IPC_VERSION);
	assert_int_equal(fx->m->hdr.type, 3);
	assert_int_equal(fx->m->hdr.id, 0x1122334455667788ULL);
	assert_int_equal(fx->m->hdr.len, 5);
	assert_int_equal(fx->m->len, 5);
	assert_memory_equal(fx->m->body, "hello", 5);
	assert_int_equal(fx->m->nfds, 2);

	/* Same pipes: write through one end, read through the other. */
	assert_int_equal(write(fx->m->fds[0], "x", 1), 1);
	assert_int_equal(read(a[0], &c, 1), 1);
	assert_int_equal(c, 'x');
	assert_int_equal(write(b[1], "y", 1), 1);
	assert_int_equal(read(fx->m->fds[1], &c, 1), 1);
	assert_int_equal(c, 'y');

	/* Received with MSG_CMSG_CLOEXEC. */
	assert_true(fcntl(fx->m->fds[0], F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(fx->m->fds[1], F_GETFD) & FD_CLOEXEC);

	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

static void
test_empty_body_without_fds_round_trips(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(ipc_send(fx->sv[0], 6, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(ipc_recv(fx->sv[1], fx->m), 1);
	assert_int_equal(fx->m->hdr.type, 6);
	assert_int_equal(fx->m->len, 0);
	assert_int_equal(fx->m->nfds, 0);
}

static void
test_largest_body_round_trips(void **state)
{
	struct fixture *fx = *state;
	uint8_t *body;

	body = malloc(IPC_MAX_BODY);
	assert_non_null(body);
	memset(body, 0xab, IPC_MAX_BODY);
	body[IPC_MAX_BODY - 1] = 0xcd;
	assert_int_equal(ipc_send(fx->sv[0], 1, 7, body, IPC_MAX_BODY, NULL, 0),
	    0);
	assert_int_equal(ipc_recv(fx->sv[1], fx->m), 1);
	assert_int_equal(fx->m->len, IPC_MAX_BODY);
	assert_memory_equal(fx->m->body, body, IPC_MAX_BODY);
	free(body);
}

static void
test_oversized_body_is_refused_on_send(void **state)
{
	struct fixture *fx = *state;
	uint8_t *body;

	body = calloc(1, IPC_MAX_BODY + 1);
	assert_non_null(body);
	errno = 0;
	assert_int_equal(ipc_send(fx->sv[0], 1, 0, body, IPC_MAX_BODY + 1,
	    NULL, 0), -1);
	assert_int_equal(errno, EMSGSIZE);
	free(body);

	/* Nothing went out. */
	fcntl(fx->sv[1], F_SETFL, O_NONBLOCK);
	assert_int_equal(ipc_recv(fx->sv[1], fx->m), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static void
test_bad_fd_count_is_refused_on_send(void **state)
{
	struct fixture *fx = *state;
	int fds[IPC_MAX_FDS + 1] = { 0, 0, 0 };

	errno = 0;
	assert_int_equal(ipc_send(fx->sv[0], 1, 0, "x", 1, fds,
	    IPC_MAX_FDS + 1), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(ipc_send(fx->sv[0], 1, 0, "x", 1, fds, -1), -1);
	assert_int_equal(errno, EINVAL);
}

static void
test_empty_socket_gives_eagain(void **state)
{
	struct fixture *fx = *state;

	fcntl(fx->sv[1], F_SETFL, O_NONBLOCK);
	errno = 0;
	assert_int_equal(ipc_recv(fx->sv[1], fx->m), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static void
test_peer_close_is_eof(void **state)
{
	struct fixture *fx = *state;

	close(fx->sv[0]);
	fx->sv[0] = -1;
	assert_int_equal(ipc_recv(fx->sv[1], fx->m), 0);
}

static void
test_send_to_closed_peer_fails_without_sigpipe(void **state)
{
	struct fixture *fx = *state;

	close(fx->sv[1]);
	fx->sv[1] = dup(0);	/* keep teardown simple */
	errno = 0;
	assert_int_equal(ipc_send(fx->sv[0], 1, 0, "x", 1, NULL, 0), -1);
	assert_int_equal(errno, EPIPE);
}

static void
test_truncated_frame_is_rejected(void **state)
{
	struct fixture *fx = *state;
	uint8_t frame[IPC_HDR_LEN + 100];
	size_t n;

	/* The header promises 100 body bytes, only 50 arrive. */
	n = frame_raw(frame, IPC_VERSION, 1, 100, 0, NULL, 0);
	memset(frame + n, 'b', 50);
	send_raw(fx->sv[0], frame, n + 50, NULL, 0);
	assert_recv_badmsg(fx);
}

static void
test_frame_shorter_than_header_is_rejected(void **state)
{
	struct fixture *fx = *state;
	uint8_t frame[IPC_HDR_LEN];

	frame_raw(frame, IPC_VERSION, 1, 0, 0, NULL, 0);
	send_raw(fx->sv[0], frame, IPC_HDR_LEN - 1, NULL, 0);
	assert_recv_badmsg(fx);
}

static void
test_body_longer_than_header_says_is_rejected(void **state)
{
	struct fixture *fx = *state;
	uint8_t frame[IPC_HDR_LEN + 8];
	size_t n;

	n = frame_raw(frame, IPC_VERSION, 1, 7, 0, "12345678", 8);
	send_raw(fx->sv[0], frame, n, NULL, 0);
	assert_recv_badmsg(fx);
}

static void
test_bad_version_is_rejected(void **state)
{
	struct fixture *fx = *state;
	uint8_t frame[IPC_HDR_LEN + 2];
	unsigned char before[FD_SCAN];
	int p[2];
	size_t n;

	assert_int_equal(pipe(p), 0);
	fds_snapshot(before);
	n = frame_raw(frame, IPC_VERSION + 1, 1, 2, 0, "ok", 2);
	send_raw(fx->sv[0], frame, n, &p[0], 1);
	assert_recv_badmsg(fx);
	assert_no_fd_leaked_since(before);
	close(p[0]);
	close(p[1]);
}

static void
test_wrong_fd_count_is_rejected_and_fds_closed(void **state)
{
	struct fixture *fx = *state;
	uint8_t frame[IPC_HDR_LEN];
	unsigned char before[FD_SCAN];
	int p[2], fds[IPC_MAX_FDS + 1], i;
	size_t n;

	/* One more fd than any frame may carry: fits the control buffer. */
	assert_int_equal(pipe(p), 0);
	for (i = 0; i < IPC_MAX_FDS + 1; i++)
		fds[i] = p[1];
	fds_snapshot(before);
	n = frame_raw(frame, IPC_VERSION, 1, 0, 0, NULL, 0);
	send_raw(fx->sv[0], frame, n, fds, IPC_MAX_FDS + 1);
	assert_recv_badmsg(fx);
	assert_no_fd_leaked_since(before);
	/* Our own ends are untouched. */
	assert_true(fd_is_open(p[0]) && fd_is_open(p[1]));
	close(p[0]);
	close(p[1]);
}

static void
test_fds_beyond_control_buffer_are_rejected_and_closed(void **state)
{
	struct fixture *fx = *state;
	uint8_t frame[IPC_HDR_LEN];
	unsigned char before[FD_SCAN];
	int p[2], fds[8], i;
	size_t n;

	/* Far more fds than fit: MSG_CTRUNC, the installed ones are closed. */
	assert_int_equal(pipe(p), 0);
	for (i = 0; i < 8; i++)
		fds[i] = p[1];
	fds_snapshot(before);
	n = frame_raw(frame, IPC_VERSION, 1, 0, 0, NULL, 0);
	send_raw(fx->sv[0], frame, n, fds, 8);
	assert_recv_badmsg(fx);
	assert_no_fd_leaked_since(before);
	close(p[0]);
	close(p[1]);
}

static void
test_oversized_datagram_is_rejected_and_fds_closed(void **state)
{
	struct fixture *fx = *state;
	uint8_t *frame;
	size_t len = IPC_MAX_FRAME + 100;
	unsigned char before[FD_SCAN];
	int p[2];

	/* Larger than the receive buffer: MSG_TRUNC. */
	frame = calloc(1, len);
	assert_non_null(frame);
	frame_raw(frame, IPC_VERSION, 1, (uint32_t)(len - IPC_HDR_LEN), 0,
	    NULL, 0);
	assert_int_equal(pipe(p), 0);
	fds_snapshot(before);
	send_raw(fx->sv[0], frame, len, p, 2);
	assert_recv_badmsg(fx);
	assert_no_fd_leaked_since(before);
	free(frame);
	close(p[0]);
	close(p[1]);
}

static void
test_credentials_control_message_is_rejected(void **state)
{
	struct fixture *fx = *state;
	int on = 1;

	/* With SO_PASSCRED every frame carries SCM_CREDENTIALS: not ours. */
	assert_int_equal(setsockopt(fx->sv[1], SOL_SOCKET, SO_PASSCRED, &on,
	    sizeof(on)), 0);
	assert_int_equal(ipc_send(fx->sv[0], 1, 0, "x", 1, NULL, 0), 0);
	assert_recv_badmsg(fx);
}

static void
test_frame_parse_reads_header_fields(void **state)
{
	struct fixture *fx = *state;
	size_t n;

	n = frame_raw(fx->m->buf, IPC_VERSION, 0xbeef, 3, 42, "abc", 3);
	assert_int_equal(ipc_frame_parse(fx->m, n), 0);
	assert_int_equal(fx->m->hdr.version, IPC_VERSION);
	assert_int_equal(fx->m->hdr.type, 0xbeef);
	assert_int_equal(fx->m->hdr.len, 3);
	assert_int_equal(fx->m->hdr.id, 42);
	assert_ptr_equal(fx->m->body, fx->m->buf + IPC_HDR_LEN);
	assert_int_equal(fx->m->len, 3);
}

static void
test_frame_parse_rejects_length_mismatch_and_short_input(void **state)
{
	struct fixture *fx = *state;
	size_t n;

	n = frame_raw(fx->m->buf, IPC_VERSION, 1, 4, 0, "abc", 3);
	errno = 0;
	assert_int_equal(ipc_frame_parse(fx->m, n), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(ipc_frame_parse(fx->m, 0), -1);
	assert_int_equal(ipc_frame_parse(fx->m, IPC_HDR_LEN - 1), -1);
	assert_int_equal(ipc_frame_parse(fx->m, IPC_MAX_FRAME + 1), -1);
	assert_int_equal(errno, EBADMSG);
}

static void
test_close_fds_closes_and_forgets(void **state)
{
	struct fixture *fx = *state;
	int p[2];

	assert_int_equal(pipe(p), 0);
	fx->m->fds[0] = p[0];
	fx->m->fds[1] = p[1];
	fx->m->nfds = 2;
	ipc_msg_close_fds(fx->m);
	assert_int_equal(fx->m->nfds, 0);
	assert_false(fd_is_open(p[0]));
	assert_false(fd_is_open(p[1]));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_frame_round_trip_with_two_fds),
		T(test_empty_body_without_fds_round_trips),
		T(test_largest_body_round_trips),
		T(test_oversized_body_is_refused_on_send),
		T(test_bad_fd_count_is_refused_on_send),
		T(test_empty_socket_gives_eagain),
		T(test_peer_close_is_eof),
		T(test_send_to_closed_peer_fails_without_sigpipe),
		T(test_truncated_frame_is_rejected),
		T(test_frame_shorter_than_header_is_rejected),
		T(test_body_longer_than_header_says_is_rejected),
		T(test_bad_version_is_rejected),
		T(test_wrong_fd_count_is_rejected_and_fds_closed),
		T(test_fds_beyond_control_buffer_are_rejected_and_closed),
		T(test_oversized_datagram_is_rejected_and_fds_closed),
		T(test_credentials_control_message_is_rejected),
		T(test_frame_parse_reads_header_fields),
		T(test_frame_parse_rejects_length_mismatch_and_short_input),
		T(test_close_fds_closes_and_forgets),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
