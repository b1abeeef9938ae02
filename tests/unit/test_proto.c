/* tests: unit tests of the protocol bodies, master<->worker and ingestctl<->master (src/common/proto.c). */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <msgpack.h>

#include "ipc.h"
#include "proto.h"

struct fixture {
	int		 sv[2];		/* [0] sends, [1] receives */
	struct ipc_msg	*m;
	msgpack_sbuffer	 sb;		/* hand-packed bodies */
	msgpack_packer	 pk;
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
	msgpack_sbuffer_init(&fx->sb);
	msgpack_packer_init(&fx->pk, &fx->sb, msgpack_sbuffer_write);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	ipc_msg_close_fds(fx->m);
	close(fx->sv[0]);
	close(fx->sv[1]);
	msgpack_sbuffer_destroy(&fx->sb);
	free(fx->m);
	free(fx);
	return 0;
}

/* Receive one frame that must arrive intact. */
static struct ipc_msg *
recv_frame(struct fixture *fx)
{
	assert_int_equal(ipc_recv(fx->sv[1], fx->m), 1);
	return fx->m;
}

/* Turn the hand-packed body into a received-looking frame of this type. */
static const struct ipc_msg *
frame_from_packed(struct fixture *fx, uint16_t type, int nfds)
{
	struct ipc_msg *m = fx->m;
	uint16_t version = IPC_VERSION;
	uint32_t len = (uint32_t)fx->sb.size;
	uint64_t id = 9;
	int i;

	assert_true(fx->sb.size <= IPC_MAX_BODY);
	memcpy(m->buf + 0, &version, 2);
	memcpy(m->buf + 2, &type, 2);
	memcpy(m->buf + 4, &len, 4);
	memcpy(m->buf + 8, &id, 8);
	if (fx->sb.size > 0)
		memcpy(m->buf + IPC_HDR_LEN, fx->sb.data, fx->sb.size);
	assert_int_equal(ipc_frame_parse(m, IPC_HDR_LEN + fx->sb.size), 0);
	for (i = 0; i < IPC_MAX_FDS; i++)
		m->fds[i] = -1;		/* nothing real to close */
	m->nfds = nfds;
	return m;
}

static void
body_reset(struct fixture *fx)
{
	msgpack_sbuffer_clear(&fx->sb);
}

static void
pack_cstr(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str(pk, strlen(s));
	msgpack_pack_str_body(pk, s, strlen(s));
}

static void
pack_key(msgpack_packer *pk, const char *key)
{
	pack_cstr(pk, key);
}

static void
pack_bin(msgpack_packer *pk, size_t n)
{
	uint8_t zero[64] = { 0 };

	assert_true(n <= sizeof(zero));
	msgpack_pack_bin(pk, n);
	msgpack_pack_bin_body(pk, zero, n);
}

/* The well-formed RESULT entries, minus the one a test wants to spoil. */
static void
pack_result_except(msgpack_packer *pk, const char *skip)
{
	if (strcmp(skip, "ok") != 0) {
		pack_key(pk, "ok");
		msgpack_pack_true(pk);
	}
	if (strcmp(skip, "err") != 0) {
		pack_key(pk, "err");
		msgpack_pack_int(pk, 0);
	}
	if (strcmp(skip, "stage") != 0) {
		pack_key(pk, "stage");
		pack_cstr(pk, "");
	}
	if (strcmp(skip, "bytes") != 0) {
		pack_key(pk, "bytes");
		msgpack_pack_uint64(pk, 12);
	}
	if (strcmp(skip, "sha256") != 0) {
		pack_key(pk, "sha256");
		pack_bin(pk, 32);
	}
	if (strcmp(skip, "xxh128") != 0) {
		pack_key(pk, "xxh128");
		pack_bin(pk, 16);
	}
}

static void
assert_result_rejected(struct fixture *fx, const char *reason)
{
	struct msg_result r;
	const char *why = NULL;

	assert_int_equal(proto_decode_result(frame_from_packed(fx, MSG_RESULT,
	    0), &r, &why), -1);
	assert_non_null(why);
	assert_string_equal(why, reason);
}

static struct msg_result
result_example(void)
{
	struct msg_result r;
	size_t i;

	memset(&r, 0, sizeof(r));
	r.ok = 0;
	r.err = -5;
	strcpy(r.stage, "write");
	r.bytes = UINT64_MAX - 1;
	for (i = 0; i < sizeof(r.sha256); i++)
		r.sha256[i] = (uint8_t)i;
	for (i = 0; i < sizeof(r.xxh128); i++)
		r.xxh128[i] = (uint8_t)(0xf0 + i);
	return r;
}

static void
test_result_round_trip(void **state)
{
	struct fixture *fx = *state;
	struct msg_result in = result_example(), out;
	const char *why = NULL;
	struct ipc_msg *m;

	assert_int_equal(proto_send_result(fx->sv[0], 77, &in), 0);
	m = recv_frame(fx);
	assert_int_equal(m->hdr.type, MSG_RESULT);
	assert_int_equal(m->hdr.id, 77);
	assert_int_equal(proto_decode_result(m, &out, &why), 0);
	assert_int_equal(out.ok, 0);
	assert_int_equal(out.err, -5);
	assert_string_equal(out.stage, "write");
	assert_int_equal(out.bytes, UINT64_MAX - 1);
	assert_memory_equal(out.sha256, in.sha256, 32);
	assert_memory_equal(out.xxh128, in.xxh128, 16);

	/* The extremes of err and a success survive too. */
	in.ok = 1;
	in.err = INT32_MIN;
	assert_int_equal(proto_send_result(fx->sv[0], 78, &in), 0);
	assert_int_equal(proto_decode_result(recv_frame(fx), &out, &why), 0);
	assert_int_equal(out.ok, 1);
	assert_int_equal(out.err, INT32_MIN);
	in.err = INT32_MAX;
	assert_int_equal(proto_send_result(fx->sv[0], 79, &in), 0);
	assert_int_equal(proto_decode_result(recv_frame(fx), &out, &why), 0);
	assert_int_equal(out.err, INT32_MAX);
}

static void
test_result_with_wrong_types_is_rejected(void **state)
{
	struct fixture *fx = *state;
	msgpack_packer *pk = &fx->pk;

	/* The well-formed body decodes, so each failure below is its own. */
	body_reset(fx);
	msgpack_pack_map(pk, 6);
	pack_result_except(pk, "");
	{
		struct msg_result r;
		const char *why;

		assert_int_equal(proto_decode_result(frame_from_packed(fx,
		    MSG_RESULT, 0), &r, &why), 0);
	}

	/* A string where a uint belongs. */
	body_reset(fx);
	msgpack_pack_map(pk, 6);
	pack_result_except(pk, "bytes");
	pack_key(pk, "bytes");
	pack_cstr(pk, "12");
	assert_result_rejected(fx, "bad value for bytes");

	/* A negative number where a uint belongs. */
	body_reset(fx);
	msgpack_pack_map(pk, 6);
	pack_result_except(pk, "bytes");
	pack_key(pk, "bytes");
	msgpack_pack_int64(pk, -1);
	assert_result_rejected(fx, "bad value for bytes");

	/* A 31-byte sha256. */
	body_reset(fx);
	msgpack_pack_map(pk, 6);
	pack_result_except(pk, "sha256");
	pack_key(pk, "sha256");
	pack_bin(pk, 31);
	assert_result_rejected(fx, "bad value for sha256");

	/* A sha256 sent as a 32-byte string instead of bin. */
	body_reset(fx);
	msgpack_pack_map(pk, 6);
	pack_result_except(pk, "sha256");
	pack_key(pk, "sha256");
	pack_cstr(pk, "0123456789abcdef0123456789abcdef");
	assert_result_rejected(fx, "bad value for sha256");

	/* An integer where the bool belongs. */
	body_reset(fx);
	msgpack_pack_map(pk, 6);
	pack_result_except(pk, "ok");
	pack_key(pk, "ok");
	msgpack_pack_uint8(pk, 1);
	assert_result_rejected(fx, "bad value for ok");

	/* err outside int32 in either direction. */
	body_reset(fx);
	msgpack_pack_map(pk, 6);
	pack_result_except(pk, "err");
	pack_key(pk, "err");
	msgpack_pack_int64(pk, (int64_t)INT32_MAX + 1);
	assert_result_rejected(fx, "bad value for err");
	body_reset(fx);
	msgpack_pack_map(pk, 6);
	pack_result_except(pk, "err");
	pack_key(pk, "err");
	msgpack_pack_int64(pk, (int64_t)INT32_MIN - 1);
	assert_result_rejected(fx, "bad value for err");

	/* A missing key. */
	body_reset(fx);
	msgpack_pack_map(pk, 5);
	pack_result_except(pk, "xxh128");
	assert_result_rejected(fx, "missing key xxh128");

	/* An extra key. */
	body_reset(fx);
	msgpack_pack_map(pk, 7);
	pack_result_except(pk, "");
	pack_key(pk, "extra");
	msgpack_pack_uint8(pk, 1);
	assert_result_rejected(fx, "unknown key");

	/* A duplicate key, even with the same value. */
	body_reset(fx);
	msgpack_pack_map(pk, 7);
	pack_result_except(pk, "");
	pack_key(pk, "bytes");
	msgpack_pack_uint64(pk, 12);
	assert_result_rejected(fx, "duplicate key bytes");

	/* A key that is not a string. */
	body_reset(fx);
	msgpack_pack_map(pk, 7);
	pack_result_except(pk, "");
	msgpack_pack_uint8(pk, 1);
	msgpack_pack_uint8(pk, 1);
	assert_result_rejected(fx, "key is not a string");

	/* Trailing bytes after the map. */
	body_reset(fx);
	msgpack_pack_map(pk, 6);
	pack_result_except(pk, "");
	msgpack_pack_nil(pk);
	assert_result_rejected(fx, "trailing bytes after map");

	/* A map cut short. */
	body_reset(fx);
	msgpack_pack_map(pk, 6);
	pack_result_except(pk, "");
	fx->sb.size -= 3;
	assert_result_rejected(fx, "truncated or nested map entry");

	/* A non-map top level. */
	body_reset(fx);
	msgpack_pack_array(pk, 12);
	pack_result_except(pk, "");
	assert_result_rejected(fx, "body is not a map");

	/* A nested container as a value. */
	body_reset(fx);
	msgpack_pack_map(pk, 6);
	pack_result_except(pk, "bytes");
	pack_key(pk, "bytes");
	msgpack_pack_array(pk, 0);
	assert_result_rejected(fx, "truncated or nested map entry");

	/* An empty body. */
	body_reset(fx);
	assert_result_rejected(fx, "empty body");
}

static void
test_huge_declared_sizes_are_rejected_without_allocating(void **state)
{
	struct fixture *fx = *state;
	static const char map32[] = "\xdf\xff\xff\xff\xff";
	static const char nested[] = "\x81\xa5" "bytes" "\xdd\xff\xff\xff\xff";
	static const char bigstr[] = "\x81\xa5" "stage" "\xdb\xff\xff\xff\xff";

	body_reset(fx);
	msgpack_sbuffer_write(&fx->sb, map32, sizeof(map32) - 1);
	assert_result_rejected(fx, "truncated or nested map entry");
	body_reset(fx);
	msgpack_sbuffer_write(&fx->sb, nested, sizeof(nested) - 1);
	assert_result_rejected(fx, "truncated or nested map entry");
	body_reset(fx);
	msgpack_sbuffer_write(&fx->sb, bigstr, sizeof(bigstr) - 1);
	assert_result_rejected(fx, "truncated or nested map entry");
}

static void
test_hello_round_trip(void **state)
{
	struct fixture *fx = *state;
	struct msg_hello in, out;
	const char *why = NULL;
	struct ipc_msg *m;

	memset(&in, 0, sizeof(in));
	in.pid = 4242;
	strcpy(in.level, "partial");
	strcpy(in.steps, "rlimits,no_new_privs,seccomp");
	strcpy(in.skipped, "");
	assert_int_equal(proto_send_hello(fx->sv[0], &in), 0);
	m = recv_frame(fx);
	assert_int_equal(m->hdr.type, MSG_HELLO);
	assert_int_equal(m->hdr.id, 0);
	assert_int_equal(proto_decode_hello(m, &out, &why), 0);
	assert_int_equal(out.pid, 4242);
	assert_string_equal(out.level, "partial");
	assert_string_equal(out.steps, in.steps);
	assert_string_equal(out.skipped, "");
}

static void
pack_hello_except(msgpack_packer *pk, const char *skip)
{
	if (strcmp(skip, "pid") != 0) {
		pack_key(pk, "pid");
		msgpack_pack_uint32(pk, 1);
	}
	if (strcmp(skip, "level") != 0) {
		pack_key(pk, "level");
		pack_cstr(pk, "full");
	}
	if (strcmp(skip, "steps") != 0) {
		pack_key(pk, "steps");
		pack_cstr(pk, "all");
	}
	if (strcmp(skip, "skipped") != 0) {
		pack_key(pk, "skipped");
		pack_cstr(pk, "");
	}
}

static void
assert_hello_rejected(struct fixture *fx, const char *reason)
{
	struct msg_hello h;
	const char *why = NULL;

	assert_int_equal(proto_decode_hello(frame_from_packed(fx, MSG_HELLO, 0),
	    &h, &why), -1);
	assert_string_equal(why, reason);
}

static void
test_hello_overlong_string_is_rejected(void **state)
{
	struct fixture *fx = *state;
	msgpack_packer *pk = &fx->pk;
	struct msg_hello h;
	char s[sizeof(h.level) + 1];
	const char *why = NULL;

	/* 15 characters fit level[16] with the NUL ... */
	memset(s, 'a', sizeof(s));
	s[sizeof(h.level) - 1] = '\0';
	body_reset(fx);
	msgpack_pack_map(pk, 4);
	pack_hello_except(pk, "level");
	pack_key(pk, "level");
	pack_cstr(pk, s);
	assert_int_equal(proto_decode_hello(frame_from_packed(fx, MSG_HELLO, 0),
	    &h, &why), 0);
	assert_string_equal(h.level, s);

	/* ... 16 do not. */
	s[sizeof(h.level) - 1] = 'a';
	s[sizeof(h.level)] = '\0';
	body_reset(fx);
	msgpack_pack_map(pk, 4);
	pack_hello_except(pk, "level");
	pack_key(pk, "level");
	pack_cstr(pk, s);
	assert_hello_rejected(fx, "bad value for level");

	/* An embedded NUL would silently shorten the string. */
	body_reset(fx);
	msgpack_pack_map(pk, 4);
	pack_hello_except(pk, "steps");
	pack_key(pk, "steps");
	msgpack_pack_str(pk, 3);
	msgpack_pack_str_body(pk, "a\0b", 3);
	assert_hello_rejected(fx, "bad value for steps");

	/* A pid beyond uint32. */
	body_reset(fx);
	msgpack_pack_map(pk, 4);
	pack_hello_except(pk, "pid");
	pack_key(pk, "pid");
	msgpack_pack_uint64(pk, (uint64_t)UINT32_MAX + 1);
	assert_hello_rejected(fx, "bad value for pid");
}

static void
test_overlong_string_is_refused_on_send(void **state)
{
	struct fixture *fx = *state;
	struct msg_hello h;

	memset(&h, 'a', sizeof(h));	/* level has no NUL */
	h.steps[0] = h.skipped[0] = '\0';
	errno = 0;
	assert_int_equal(proto_send_hello(fx->sv[0], &h), -1);
	assert_int_equal(errno, EINVAL);
}

static void
test_job_round_trips_with_its_fds(void **state)
{
	struct fixture *fx = *state;
	struct msg_job in = { .size = 1ULL << 40, .flags = JOB_F_SYNC_SRC };
	struct msg_job out;
	const char *why = NULL;
	struct ipc_msg *m;
	int p[2];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(proto_send_job(fx->sv[0], MSG_JOB_HASH, 5, &in, p, 1),
	    0);
	m = recv_frame(fx);
	assert_int_equal(m->nfds, 1);
	assert_int_equal(proto_decode_job(m, &out, &why), 0);
	assert_int_equal(out.size, 1ULL << 40);
	assert_int_equal(out.flags, JOB_F_SYNC_SRC);
	ipc_msg_close_fds(m);

	in.flags = 0;
	assert_int_equal(proto_send_job(fx->sv[0], MSG_JOB_COPY, 6, &in, p, 2),
	    0);
	m = recv_frame(fx);
	assert_int_equal(m->hdr.type, MSG_JOB_COPY);
	assert_int_equal(m->hdr.id, 6);
	assert_int_equal(m->nfds, 2);
	assert_int_equal(proto_decode_job(m, &out, &why), 0);
	assert_int_equal(out.flags, 0);
	ipc_msg_close_fds(m);
	close(p[0]);
	close(p[1]);
}

static void
test_job_with_wrong_fd_count_is_refused_on_send(void **state)
{
	struct fixture *fx = *state;
	struct msg_job job = { .size = 1, .flags = 0 };
	int p[2];

	assert_int_equal(pipe(p), 0);
	errno = 0;
	assert_int_equal(proto_send_job(fx->sv[0], MSG_JOB_COPY, 1, &job, p, 1),
	    -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(proto_send_job(fx->sv[0], MSG_RESULT, 1, &job, NULL, 0),
	    -1);
	assert_int_equal(errno, EINVAL);
	close(p[0]);
	close(p[1]);
}

static void
test_job_with_wrong_fd_count_is_rejected(void **state)
{
	struct fixture *fx = *state;
	msgpack_packer *pk = &fx->pk;
	struct msg_job job;
	const char *why = NULL;

	body_reset(fx);
	msgpack_pack_map(pk, 2);
	pack_key(pk, "size");
	msgpack_pack_uint64(pk, 1);
	pack_key(pk, "flags");
	msgpack_pack_uint32(pk, 0);
	assert_int_equal(proto_decode_job(frame_from_packed(fx, MSG_JOB_COPY,
	    2), &job, &why), 0);
	assert_int_equal(proto_decode_job(frame_from_packed(fx, MSG_JOB_COPY,
	    1), &job, &why), -1);
	assert_string_equal(why, "wrong fd count");
	assert_int_equal(proto_decode_job(frame_from_packed(fx, MSG_JOB_HASH,
	    2), &job, &why), -1);
	assert_string_equal(why, "wrong fd count");
	assert_int_equal(proto_decode_job(frame_from_packed(fx, MSG_JOB_HASH,
	    0), &job, &why), -1);
	assert_string_equal(why, "wrong fd count");
}

static void
test_decoder_refuses_other_message_types(void **state)
{
	struct fixture *fx = *state;
	struct msg_progress p = { .bytes = 1 };
	struct msg_result r;
	struct msg_hello h;
	struct msg_job j;
	const char *why = NULL;
	struct ipc_msg *m;

	assert_int_equal(proto_send_progress(fx->sv[0], 3, &p), 0);
	m = recv_frame(fx);
	assert_int_equal(proto_decode_result(m, &r, &why), -1);
	assert_string_equal(why, "wrong message type");
	assert_int_equal(proto_decode_hello(m, &h, &why), -1);
	assert_int_equal(proto_decode_job(m, &j, &why), -1);
	assert_int_equal(proto_decode_shutdown(m, &why), -1);
	assert_string_equal(why, "wrong message type");
}

static void
test_progress_round_trip(void **state)
{
	struct fixture *fx = *state;
	struct msg_progress in = { .bytes = 123456789012ULL }, out;
	const char *why = NULL;
	struct ipc_msg *m;

	assert_int_equal(proto_send_progress(fx->sv[0], 11, &in), 0);
	m = recv_frame(fx);
	assert_int_equal(m->hdr.id, 11);
	assert_int_equal(proto_decode_progress(m, &out, &why), 0);
	assert_int_equal(out.bytes, 123456789012ULL);
}

static void
test_shutdown_is_an_empty_map(void **state)
{
	struct fixture *fx = *state;
	msgpack_packer *pk = &fx->pk;
	const char *why = NULL;
	struct ipc_msg *m;

	assert_int_equal(proto_send_shutdown(fx->sv[0]), 0);
	m = recv_frame(fx);
	assert_int_equal(m->hdr.type, MSG_SHUTDOWN);
	assert_int_equal(m->len, 1);
	assert_int_equal(proto_decode_shutdown(m, &why), 0);

	body_reset(fx);
	msgpack_pack_map(pk, 1);
	pack_key(pk, "now");
	msgpack_pack_true(pk);
	assert_int_equal(proto_decode_shutdown(frame_from_packed(fx,
	    MSG_SHUTDOWN, 0), &why), -1);
	assert_string_equal(why, "unknown key");
}

static void
test_unknown_type_has_no_fd_count(void **state)
{
	assert_int_equal(proto_fds_expected(0), -1);
	assert_int_equal(proto_fds_expected(MSG_TYPE_END), -1);
	assert_int_equal(proto_fds_expected(0xffff), -1);
	assert_string_equal(proto_type_name(0), "UNKNOWN");
	assert_string_equal(proto_type_name(MSG_TYPE_END), "UNKNOWN");

	assert_int_equal(proto_fds_expected(MSG_HELLO), 0);
	assert_int_equal(proto_fds_expected(MSG_JOB_HASH), 1);
	assert_int_equal(proto_fds_expected(MSG_JOB_COPY), 2);
	assert_int_equal(proto_fds_expected(MSG_PROGRESS), 0);
	assert_int_equal(proto_fds_expected(MSG_RESULT), 0);
	assert_int_equal(proto_fds_expected(MSG_SHUTDOWN), 0);
	assert_string_equal(proto_type_name(MSG_HELLO), "HELLO");
	assert_string_equal(proto_type_name(MSG_JOB_HASH), "JOB_HASH");
	assert_string_equal(proto_type_name(MSG_JOB_COPY), "JOB_COPY");
	assert_string_equal(proto_type_name(MSG_PROGRESS), "PROGRESS");
	assert_string_equal(proto_type_name(MSG_RESULT), "RESULT");
	assert_string_equal(proto_type_name(MSG_SHUTDOWN), "SHUTDOWN");
}

static void
test_ctl_request_round_trip(void **state)
{
	struct fixture *fx = *state;
	struct msg_ctl_request in, out;
	const char *why = NULL;
	struct ipc_msg *m;

	memset(&in, 0, sizeof(in));
	strcpy(in.cmd, "retry");
	strcpy(in.watch, "w\"\n");
	strcpy(in.ids, "1,2,30");
	in.dry_run = 1;
	assert_int_equal(proto_send_ctl_request(fx->sv[0], 4, &in), 0);
	m = recv_frame(fx);
	assert_int_equal(m->hdr.type, MSG_CTL_REQUEST);
	assert_int_equal(proto_decode_ctl_request(m, &out, &why), 0);
	assert_string_equal(out.cmd, "retry");
	assert_string_equal(out.watch, "w\"\n");
	assert_string_equal(out.ids, "1,2,30");
	assert_int_equal(out.dry_run, 1);
	assert_int_equal(out.all + out.check + out.wait, 0);
}

/* A complete request body for cmd, every flag false. */
static void
pack_request(struct fixture *fx, const char *cmd)
{
	static const char *const flags[] = { "all", "dry_run", "check", "wait" };
	msgpack_packer *pk = &fx->pk;
	size_t i;

	body_reset(fx);
	msgpack_pack_map(pk, 7);
	pack_key(pk, "cmd");
	pack_cstr(pk, cmd);
	pack_key(pk, "watch");
	pack_cstr(pk, "");
	pack_key(pk, "ids");
	pack_cstr(pk, "");
	for (i = 0; i < 4; i++) {
		pack_key(pk, flags[i]);
		msgpack_pack_false(pk);
	}
}

/* A request missing a key, or with an overlong command, or with an fd. */
static void
test_ctl_request_malformed_is_rejected(void **state)
{
	struct fixture *fx = *state;
	msgpack_packer *pk = &fx->pk;
	struct msg_ctl_request out;
	const char *why = NULL;
	char big[64];

	body_reset(fx);
	msgpack_pack_map(pk, 1);
	pack_key(pk, "cmd");
	pack_cstr(pk, "status");
	assert_int_equal(proto_decode_ctl_request(frame_from_packed(fx,
	    MSG_CTL_REQUEST, 0), &out, &why), -1);
	assert_non_null(why);

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	pack_request(fx, big);
	assert_int_equal(proto_decode_ctl_request(frame_from_packed(fx,
	    MSG_CTL_REQUEST, 0), &out, &why), -1);

	/* the same with a short command decodes; with an fd it does not */
	pack_request(fx, "status");
	assert_int_equal(proto_decode_ctl_request(frame_from_packed(fx,
	    MSG_CTL_REQUEST, 0), &out, &why), 0);
	assert_string_equal(out.cmd, "status");
	assert_int_equal(proto_decode_ctl_request(frame_from_packed(fx,
	    MSG_CTL_REQUEST, 1), &out, &why), -1);
}

static void
test_record_keeps_order_and_types(void **state)
{
	struct fixture *fx = *state;
	struct ctl_record in, out;
	const struct rec_value *v;
	const char *why = NULL;
	struct ipc_msg *m;

	record_init(&in);
	record_str(&in, "kind", "daemon");
	record_int(&in, "pid", -5);
	record_uint(&in, "bytes", UINT64_MAX);
	record_float(&in, "rate", 2.5);
	record_bool(&in, "paused", 1);
	record_nil(&in, "oldest");
	record_str(&in, "null_string", NULL);
	assert_int_equal(proto_send_record(fx->sv[0], 2, &in), 0);
	record_free(&in);
	m = recv_frame(fx);
	assert_int_equal(proto_decode_record(m, &out, &why), 0);
	assert_int_equal(out.n, 7);
	assert_string_equal(out.v[0].key, "kind");
	assert_string_equal(out.v[0].s, "daemon");
	assert_string_equal(out.v[1].key, "pid");
	assert_int_equal(out.v[1].kind, RV_INT);
	assert_int_equal(out.v[1].i, -5);
	assert_true((v = record_get(&out, "bytes")) != NULL);
	assert_true(v->u == UINT64_MAX);
	assert_true((v = record_get(&out, "rate")) != NULL);
	assert_int_equal(v->kind, RV_FLOAT);
	assert_true(v->f == 2.5);
	assert_int_equal(record_get(&out, "paused")->kind, RV_BOOL);
	assert_int_equal(record_get(&out, "oldest")->kind, RV_NIL);
	assert_int_equal(record_get(&out, "null_string")->kind, RV_NIL);
	assert_null(record_get(&out, "missing"));
	record_free(&out);
}

/* Keys must be unique strings and values scalars. */
static void
test_record_with_duplicate_key_or_nested_value_is_rejected(void **state)
{
	struct fixture *fx = *state;
	msgpack_packer *pk = &fx->pk;
	struct ctl_record out;
	const char *why = NULL;

	body_reset(fx);
	msgpack_pack_map(pk, 2);
	pack_key(pk, "a");
	msgpack_pack_int(pk, 1);
	pack_key(pk, "a");
	msgpack_pack_int(pk, 2);
	assert_int_equal(proto_decode_record(frame_from_packed(fx,
	    MSG_CTL_RECORD, 0), &out, &why), -1);

	body_reset(fx);
	msgpack_pack_map(pk, 1);
	pack_key(pk, "a");
	msgpack_pack_array(pk, 0);
	assert_int_equal(proto_decode_record(frame_from_packed(fx,
	    MSG_CTL_RECORD, 0), &out, &why), -1);

	body_reset(fx);
	msgpack_pack_map(pk, 1);
	msgpack_pack_int(pk, 3);
	msgpack_pack_int(pk, 1);
	assert_int_equal(proto_decode_record(frame_from_packed(fx,
	    MSG_CTL_RECORD, 0), &out, &why), -1);
}

static void
test_ctl_end_round_trip(void **state)
{
	struct fixture *fx = *state;
	static struct msg_ctl_end in, out;
	const char *why = NULL;
	struct ipc_msg *m;

	in.status = 78;
	strcpy(in.message, "ingestd.conf:3: unknown keyword 'x'");
	assert_int_equal(proto_send_ctl_end(fx->sv[0], 1, &in), 0);
	m = recv_frame(fx);
	assert_int_equal(m->hdr.type, MSG_CTL_END);
	assert_int_equal(proto_decode_ctl_end(m, &out, &why), 0);
	assert_int_equal(out.status, 78);
	assert_string_equal(out.message, in.message);
	assert_int_equal(proto_decode_ctl_request(m, &(struct msg_ctl_request){
	    0 }, &why), -1);
	assert_string_equal(why, "wrong message type");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_result_round_trip),
		T(test_result_with_wrong_types_is_rejected),
		T(test_huge_declared_sizes_are_rejected_without_allocating),
		T(test_hello_round_trip),
		T(test_hello_overlong_string_is_rejected),
		T(test_overlong_string_is_refused_on_send),
		T(test_job_round_trips_with_its_fds),
		T(test_job_with_wrong_fd_count_is_refused_on_send),
		T(test_job_with_wrong_fd_count_is_rejected),
		T(test_decoder_refuses_other_message_types),
		T(test_progress_round_trip),
		T(test_shutdown_is_an_empty_map),
		T(test_unknown_type_has_no_fd_count),
		T(test_ctl_request_round_trip),
		T(test_ctl_request_malformed_is_rejected),
		T(test_record_keeps_order_and_types),
		T(test_record_with_duplicate_key_or_nested_value_is_rejected),
		T(test_ctl_end_round_trip),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
