/* common: the IPC protocols (worker and control): msgpack encoding and strict decoding of each message body. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <msgpack.h>

#include "buf.h"
#include "ipc.h"
#include "proto.h"
#include "util.h"

/*
 * Every body is one msgpack map whose keys are the names of the members of
 * the message struct.  A table of fields per message drives both the
 * encoder and the decoder, so the two cannot drift apart.
 */
enum field_kind {
	FIELD_UINT,	/* positive integer that fits a uint32_t/uint64_t */
	FIELD_INT32,	/* any integer in int32_t range */
	FIELD_BOOL,	/* true/false into a uint8_t */
	FIELD_STR,	/* string that fits the char array with its NUL */
	FIELD_BIN,	/* binary of exactly the array's size */
};

struct field {
	const char	*key;
	enum field_kind	 kind;
	size_t		 off;
	size_t		 size;
	const char	*missing;	/* reasons, static for *why */
	const char	*duplicate;
	const char	*bad;
};

#define FIELD(type, member, kind) {					\
	#member, (kind), offsetof(type, member),			\
	sizeof(((type *)0)->member),					\
	"missing key " #member, "duplicate key " #member,		\
	"bad value for " #member					\
}

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static const struct field hello_fields[] = {
	FIELD(struct msg_hello, pid, FIELD_UINT),
	FIELD(struct msg_hello, level, FIELD_STR),
	FIELD(struct msg_hello, steps, FIELD_STR),
	FIELD(struct msg_hello, skipped, FIELD_STR),
};

static const struct field job_fields[] = {
	FIELD(struct msg_job, size, FIELD_UINT),
	FIELD(struct msg_job, flags, FIELD_UINT),
};

static const struct field progress_fields[] = {
	FIELD(struct msg_progress, bytes, FIELD_UINT),
};

static const struct field result_fields[] = {
	FIELD(struct msg_result, ok, FIELD_BOOL),
	FIELD(struct msg_result, err, FIELD_INT32),
	FIELD(struct msg_result, stage, FIELD_STR),
	FIELD(struct msg_result, bytes, FIELD_UINT),
	FIELD(struct msg_result, sha256, FIELD_BIN),
	FIELD(struct msg_result, xxh128, FIELD_BIN),
};

static const struct field ctl_request_fields[] = {
	FIELD(struct msg_ctl_request, cmd, FIELD_STR),
	FIELD(struct msg_ctl_request, watch, FIELD_STR),
	FIELD(struct msg_ctl_request, ids, FIELD_STR),
	FIELD(struct msg_ctl_request, all, FIELD_BOOL),
	FIELD(struct msg_ctl_request, dry_run, FIELD_BOOL),
	FIELD(struct msg_ctl_request, check, FIELD_BOOL),
	FIELD(struct msg_ctl_request, wait, FIELD_BOOL),
};

static const struct field ctl_end_fields[] = {
	FIELD(struct msg_ctl_end, status, FIELD_INT32),
	FIELD(struct msg_ctl_end, message, FIELD_STR),
};

/* The field code below relies on these widths. */
_Static_assert(sizeof(((struct msg_hello *)0)->pid) == 4, "pid is u32");
_Static_assert(sizeof(((struct msg_job *)0)->size) == 8, "size is u64");
_Static_assert(sizeof(((struct msg_job *)0)->flags) == 4, "flags is u32");
_Static_assert(sizeof(((struct msg_progress *)0)->bytes) == 8, "bytes is u64");
_Static_assert(sizeof(((struct msg_result *)0)->ok) == 1, "ok is u8");
_Static_assert(sizeof(((struct msg_result *)0)->err) == 4, "err is i32");
_Static_assert(sizeof(((struct msg_result *)0)->bytes) == 8, "bytes is u64");

int
proto_fds_expected(uint16_t type)
{
	switch (type) {
	case MSG_HELLO:
	case MSG_PROGRESS:
	case MSG_RESULT:
	case MSG_SHUTDOWN:
	case MSG_CTL_REQUEST:
	case MSG_CTL_RECORD:
	case MSG_CTL_END:
		return 0;
	case MSG_JOB_HASH:
		return 1;
	case MSG_JOB_COPY:
		return 2;
	default:
		return -1;
	}
}

const char *
proto_type_name(uint16_t type)
{
	switch (type) {
	case MSG_HELLO:
		return "HELLO";
	case MSG_JOB_HASH:
		return "JOB_HASH";
	case MSG_JOB_COPY:
		return "JOB_COPY";
	case MSG_PROGRESS:
		return "PROGRESS";
	case MSG_RESULT:
		return "RESULT";
	case MSG_SHUTDOWN:
		return "SHUTDOWN";
	case MSG_CTL_REQUEST:
		return "CTL_REQUEST";
	case MSG_CTL_RECORD:
		return "CTL_RECORD";
	case MSG_CTL_END:
		return "CTL_END";
	default:
		return "UNKNOWN";
	}
}

/* Encoding. */

static int
field_pack_value(msgpack_packer *pk, const struct field *f, const void *msg)
{
	const char *p = (const char *)msg + f->off;
	uint64_t u64;
	uint32_t u32;
	int32_t i32;
	size_t len;

	switch (f->kind) {
	case FIELD_UINT:
		if (f->size == sizeof(u32)) {
			memcpy(&u32, p, sizeof(u32));
			return msgpack_pack_uint32(pk, u32);
		}
		memcpy(&u64, p, sizeof(u64));
		return msgpack_pack_uint64(pk, u64);
	case FIELD_INT32:
		memcpy(&i32, p, sizeof(i32));
		return msgpack_pack_int32(pk, i32);
	case FIELD_BOOL:
		return *p ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	case FIELD_STR:
		len = strnlen(p, f->size);
		if (len == f->size)
			return -2;	/* not NUL-terminated: would not decode */
		if (msgpack_pack_str(pk, len) != 0)
			return -1;
		return msgpack_pack_str_body(pk, p, len);
	case FIELD_BIN:
		if (msgpack_pack_bin(pk, f->size) != 0)
			return -1;
		return msgpack_pack_bin_body(pk, p, f->size);
	}
	return -2;
}

/* Returns 0, or -1 with errno (EINVAL for a bad struct, ENOMEM). */
static int
body_pack(msgpack_packer *pk, const struct field *fields, size_t nfields,
    const void *msg)
{
	size_t i, klen;
	int rc;

	if (msgpack_pack_map(pk, nfields) != 0)
		goto nomem;
	for (i = 0; i < nfields; i++) {
		klen = strlen(fields[i].key);
		if (msgpack_pack_str(pk, klen) != 0 ||
		    msgpack_pack_str_body(pk, fields[i].key, klen) != 0)
			goto nomem;
		if ((rc = field_pack_value(pk, &fields[i], msg)) == -2) {
			errno = EINVAL;
			return -1;
		}
		if (rc != 0)
			goto nomem;
	}
	return 0;
nomem:
	errno = ENOMEM;
	return -1;
}

static int
msg_send(int sock, uint16_t type, uint64_t id, const struct field *fields,
    size_t nfields, const void *msg, const int *fds, int nfds)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc = -1;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (body_pack(&pk, fields, nfields, msg) == 0)
		rc = ipc_send(sock, type, id, sb.data, sb.size, fds, nfds);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

int
proto_send_hello(int sock, const struct msg_hello *hello)
{
	return msg_send(sock, MSG_HELLO, 0, hello_fields,
	    NITEMS(hello_fields), hello, NULL, 0);
}

int
proto_send_job(int sock, uint16_t type, uint64_t id, const struct msg_job *job,
    const int *fds, int nfds)
{
	if ((type != MSG_JOB_HASH && type != MSG_JOB_COPY) ||
	    nfds != proto_fds_expected(type)) {
		errno = EINVAL;
		return -1;
	}
	return msg_send(sock, type, id, job_fields, NITEMS(job_fields), job,
	    fds, nfds);
}

int
proto_send_progress(int sock, uint64_t id, const struct msg_progress *progress)
{
	return msg_send(sock, MSG_PROGRESS, id, progress_fields,
	    NITEMS(progress_fields), progress, NULL, 0);
}

int
proto_send_result(int sock, uint64_t id, const struct msg_result *result)
{
	return msg_send(sock, MSG_RESULT, id, result_fields,
	    NITEMS(result_fields), result, NULL, 0);
}

int
proto_send_shutdown(int sock)
{
	return msg_send(sock, MSG_SHUTDOWN, 0, NULL, 0, NULL, NULL, 0);
}

int
proto_send_ctl_request(int sock, uint64_t id,
    const struct msg_ctl_request *req)
{
	return msg_send(sock, MSG_CTL_REQUEST, id, ctl_request_fields,
	    NITEMS(ctl_request_fields), req, NULL, 0);
}

int
proto_send_ctl_end(int sock, uint64_t id, const struct msg_ctl_end *end)
{
	return msg_send(sock, MSG_CTL_END, id, ctl_end_fields,
	    NITEMS(ctl_end_fields), end, NULL, 0);
}

/* Records: the key/value pairs are packed as they are added. */

void
record_init(struct ctl_record *r)
{
	msgpack_sbuffer *sb = xcalloc(1, sizeof(*sb));
	msgpack_packer *pk = xcalloc(1, sizeof(*pk));

	memset(r, 0, sizeof(*r));
	msgpack_sbuffer_init(sb);
	msgpack_packer_init(pk, sb, msgpack_sbuffer_write);
	r->sb = sb;
	r->pk = pk;
}

static msgpack_packer *
record_key(struct ctl_record *r, const char *key)
{
	size_t len = strlen(key);

	msgpack_pack_str(r->pk, len);
	msgpack_pack_str_body(r->pk, key, len);
	r->n++;
	return r->pk;
}

void
record_str(struct ctl_record *r, const char *key, const char *val)
{
	msgpack_packer *pk = record_key(r, key);
	size_t len;

	if (val == NULL) {
		msgpack_pack_nil(pk);
		return;
	}
	/* a NUL cannot travel: the decoder refuses it; cut there */
	len = strlen(val);
	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, val, len);
}

void
record_int(struct ctl_record *r, const char *key, int64_t val)
{
	msgpack_pack_int64(record_key(r, key), val);
}

void
record_uint(struct ctl_record *r, const char *key, uint64_t val)
{
	msgpack_pack_uint64(record_key(r, key), val);
}

void
record_float(struct ctl_record *r, const char *key, double val)
{
	msgpack_pack_double(record_key(r, key), val);
}

void
record_bool(struct ctl_record *r, const char *key, int val)
{
	msgpack_packer *pk = record_key(r, key);

	if (val)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
}

void
record_nil(struct ctl_record *r, const char *key)
{
	msgpack_pack_nil(record_key(r, key));
}

/* The record's body: a map header, then the pairs as they were packed. */
static int
record_body(msgpack_sbuffer *out, const struct ctl_record *r)
{
	msgpack_sbuffer *kv = r->sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(out);
	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	if (msgpack_pack_map(&pk, (uint32_t)r->n) != 0 ||
	    msgpack_sbuffer_write(out, kv->data, kv->size) != 0) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

int
proto_send_record(int sock, uint64_t id, const struct ctl_record *r)
{
	msgpack_sbuffer body;
	int rc = -1;

	if (record_body(&body, r) == 0)
		rc = ipc_send(sock, MSG_CTL_RECORD, id, body.data, body.size,
		    NULL, 0);
	msgpack_sbuffer_destroy(&body);
	return rc;
}

int
proto_frame_record(struct buf *out, uint64_t id, const struct ctl_record *r)
{
	msgpack_sbuffer body;
	int rc = -1;

	if (record_body(&body, r) == 0)
		rc = ipc_frame_build(out, MSG_CTL_RECORD, id, body.data,
		    body.size);
	msgpack_sbuffer_destroy(&body);
	return rc;
}

int
proto_frame_ctl_end(struct buf *out, uint64_t id, const struct msg_ctl_end *end)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc = -1;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (body_pack(&pk, ctl_end_fields, NITEMS(ctl_end_fields), end) == 0)
		rc = ipc_frame_build(out, MSG_CTL_END, id, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

void
record_free(struct ctl_record *r)
{
	size_t i;

	for (i = 0; i < r->n && r->v != NULL; i++) {
		free(r->v[i].key);
		free(r->v[i].s);
	}
	free(r->v);
	if (r->sb != NULL) {
		msgpack_sbuffer_destroy(r->sb);
		free(r->sb);
	}
	free(r->pk);
	memset(r, 0, sizeof(*r));
}

const struct rec_value *
record_get(const struct ctl_record *r, const char *key)
{
	size_t i;

	for (i = 0; i < r->n && r->v != NULL; i++)
		if (strcmp(r->v[i].key, key) == 0)
			return &r->v[i];
	return NULL;
}

/* Decoding. */

static uint64_t
be_read(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/*
 * Size of the scalar msgpack object at p (n bytes available) in *size.
 * Returns -1 for a map or array, an unused type byte, or a truncated
 * object.  Lengths are checked in 64 bits so nothing can wrap.
 */
static int
scalar_size(const uint8_t *p, size_t n, uint64_t *size)
{
	/* Bytes of big-endian length after the type byte, then fixed extra. */
	size_t lenbytes = 0;
	uint64_t fixed = 1;
	uint8_t b;

	if (n == 0)
		return -1;
	b = p[0];
	if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
		fixed = 1;			/* fixint, nil, bool */
	else if (b >= 0xa0 && b <= 0xbf)
		fixed = 1 + (b & 0x1f);		/* fixstr */
	else {
		switch (b) {
		case 0xc4: case 0xd9:		/* bin8, str8 */
			lenbytes = 1, fixed = 2;
			break;
		case 0xc5: case 0xda:		/* bin16, str16 */
			lenbytes = 2, fixed = 3;
			break;
		case 0xc6: case 0xdb:		/* bin32, str32 */
			lenbytes = 4, fixed = 5;
			break;
		case 0xc7:			/* ext8 */
			lenbytes = 1, fixed = 3;
			break;
		case 0xc8:			/* ext16 */
			lenbytes = 2, fixed = 4;
			break;
		case 0xc9:			/* ext32 */
			lenbytes = 4, fixed = 6;
			break;
		case 0xcc: case 0xd0:		/* uint8, int8 */
			fixed = 2;
			break;
		case 0xcd: case 0xd1:		/* uint16, int16 */
			fixed = 3;
			break;
		case 0xca: case 0xce: case 0xd2: /* float32, uint32, int32 */
			fixed = 5;
			break;
		case 0xcb: case 0xcf: case 0xd3: /* float64, uint64, int64 */
			fixed = 9;
			break;
		case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
			fixed = 2 + (1u << (b - 0xd4));	/* fixext 1..16 */
			break;
		default:			/* containers, 0xc1 */
			return -1;
		}
	}
	if (n < 1 + lenbytes)
		return -1;
	*size = fixed + be_read(p + 1, lenbytes);
	return *size <= n ? 0 : -1;
}

/*
 * msgpack-c (4.0.0) allocates a container's declared element count up front
 * (n * sizeof(msgpack_object)) before it has seen a single element, and its
 * C API has no limits, so a 5-byte body could ask for 64 GiB.  So before
 * unpacking we walk the body once and check its shape: one map whose keys
 * and values are all scalars, every one of them complete, nothing after it.
 * This bounds what msgpack-c allocates by the body length; the decoding
 * proper is still msgpack-c's.
 */
static int
body_check_shape(const uint8_t *p, size_t n, const char **why)
{
	uint64_t count, i, size;
	size_t pos;

	if (n == 0) {
		*why = "empty body";
		return -1;
	}
	if (p[0] >= 0x80 && p[0] <= 0x8f) {
		count = p[0] & 0x0f;
		pos = 1;
	} else if (p[0] == 0xde && n >= 3) {
		count = be_read(p + 1, 2);
		pos = 3;
	} else if (p[0] == 0xdf && n >= 5) {
		count = be_read(p + 1, 4);
		pos = 5;
	} else {
		*why = "body is not a map";
		return -1;
	}
	for (i = 0; i < 2 * count; i++) {
		if (scalar_size(p + pos, n - pos, &size) == -1) {
			*why = "truncated or nested map entry";
			return -1;
		}
		pos += (size_t)size;
	}
	if (pos != n) {
		*why = "trailing bytes after map";
		return -1;
	}
	return 0;
}

static int
field_decode(const struct field *f, const msgpack_object *o, void *msg)
{
	char *p = (char *)msg + f->off;
	uint32_t u32;
	int32_t i32;

	switch (f->kind) {
	case FIELD_UINT:
		if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return -1;
		if (f->size == sizeof(u32)) {
			if (o->via.u64 > UINT32_MAX)
				return -1;
			u32 = (uint32_t)o->via.u64;
			memcpy(p, &u32, sizeof(u32));
		} else
			memcpy(p, &o->via.u64, sizeof(o->via.u64));
		return 0;
	case FIELD_INT32:
		if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
		    o->via.u64 <= INT32_MAX)
			i32 = (int32_t)o->via.u64;
		else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER &&
		    o->via.i64 >= INT32_MIN)
			i32 = (int32_t)o->via.i64;
		else
			return -1;
		memcpy(p, &i32, sizeof(i32));
		return 0;
	case FIELD_BOOL:
		if (o->type != MSGPACK_OBJECT_BOOLEAN)
			return -1;
		*p = o->via.boolean ? 1 : 0;
		return 0;
	case FIELD_STR:
		if (o->type != MSGPACK_OBJECT_STR ||
		    o->via.str.size >= f->size ||
		    (o->via.str.size > 0 &&
		    memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL))
			return -1;
		if (o->via.str.size > 0)
			memcpy(p, o->via.str.ptr, o->via.str.size);
		p[o->via.str.size] = '\0';
		return 0;
	case FIELD_BIN:
		if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != f->size)
			return -1;
		memcpy(p, o->via.bin.ptr, f->size);
		return 0;
	}
	return -1;
}

static int
field_find(const struct field *fields, size_t nfields,
    const msgpack_object_str *key)
{
	size_t i;

	for (i = 0; i < nfields; i++)
		if (strlen(fields[i].key) == key->size &&
		    memcmp(fields[i].key, key->ptr, key->size) == 0)
			return (int)i;
	return -1;
}

static int
map_decode(const msgpack_object_map *map, const struct field *fields,
    size_t nfields, void *msg, const char **why)
{
	const msgpack_object_kv *kv;
	uint32_t seen = 0;	/* bit i: fields[i] was found */
	size_t i;
	int idx;

	for (i = 0; i < map->size; i++) {
		kv = &map->ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR) {
			*why = "key is not a string";
			return -1;
		}
		if ((idx = field_find(fields, nfields, &kv->key.via.str)) == -1) {
			*why = "unknown key";
			return -1;
		}
		if (seen & (1u << idx)) {
			*why = fields[idx].duplicate;
			return -1;
		}
		seen |= 1u << idx;
		if (field_decode(&fields[idx], &kv->val, msg) == -1) {
			*why = fields[idx].bad;
			return -1;
		}
	}
	for (i = 0; i < nfields; i++)
		if (!(seen & (1u << i))) {
			*why = fields[i].missing;
			return -1;
		}
	return 0;
}

/*
 * Check the body's length and shape and unpack it into u (the caller
 * destroys u).  Returns its map, or NULL with a reason in *why.
 */
static const msgpack_object_map *
body_map(const struct ipc_msg *m, msgpack_unpacked *u, const char **why)
{
	size_t off = 0;

	if (m->len > IPC_MAX_BODY || m->len != m->hdr.len ||
	    (m->len > 0 && m->body == NULL)) {
		*why = "bad body length";
		return NULL;
	}
	if (body_check_shape(m->body, m->len, why) == -1)
		return NULL;
	if (msgpack_unpack_next(u, (const char *)m->body, m->len, &off) !=
	    MSGPACK_UNPACK_SUCCESS)
		*why = "bad msgpack";
	else if (off != m->len)
		*why = "trailing bytes after map";
	else if (u->data.type != MSGPACK_OBJECT_MAP)
		*why = "body is not a map";
	else
		return &u->data.via.map;
	return NULL;
}

static int
body_decode(const struct ipc_msg *m, const struct field *fields,
    size_t nfields, void *msg, const char **why)
{
	const msgpack_object_map *map;
	msgpack_unpacked u;
	int rc = -1;

	msgpack_unpacked_init(&u);
	if ((map = body_map(m, &u, why)) != NULL)
		rc = map_decode(map, fields, nfields, msg, why);
	msgpack_unpacked_destroy(&u);
	return rc;
}

/* Type and fd count checks shared by every decoder. */
static int
msg_check(const struct ipc_msg *m, int type_ok, const char **why)
{
	if (!type_ok) {
		*why = "wrong message type";
		return -1;
	}
	if (m->nfds != proto_fds_expected(m->hdr.type)) {
		*why = "wrong fd count";
		return -1;
	}
	return 0;
}

int
proto_decode_hello(const struct ipc_msg *m, struct msg_hello *hello,
    const char **why)
{
	const char *unused;

	if (why == NULL)
		why = &unused;
	memset(hello, 0, sizeof(*hello));
	if (msg_check(m, m->hdr.type == MSG_HELLO, why) == -1)
		return -1;
	return body_decode(m, hello_fields, NITEMS(hello_fields), hello, why);
}

int
proto_decode_job(const struct ipc_msg *m, struct msg_job *job,
    const char **why)
{
	const char *unused;

	if (why == NULL)
		why = &unused;
	memset(job, 0, sizeof(*job));
	if (msg_check(m, m->hdr.type == MSG_JOB_HASH ||
	    m->hdr.type == MSG_JOB_COPY, why) == -1)
		return -1;
	return body_decode(m, job_fields, NITEMS(job_fields), job, why);
}

int
proto_decode_progress(const struct ipc_msg *m, struct msg_progress *progress,
    const char **why)
{
	const char *unused;

	if (why == NULL)
		why = &unused;
	memset(progress, 0, sizeof(*progress));
	if (msg_check(m, m->hdr.type == MSG_PROGRESS, why) == -1)
		return -1;
	return body_decode(m, progress_fields, NITEMS(progress_fields),
	    progress, why);
}

int
proto_decode_result(const struct ipc_msg *m, struct msg_result *result,
    const char **why)
{
	const char *unused;

	if (why == NULL)
		why = &unused;
	memset(result, 0, sizeof(*result));
	if (msg_check(m, m->hdr.type == MSG_RESULT, why) == -1)
		return -1;
	return body_decode(m, result_fields, NITEMS(result_fields), result,
	    why);
}

int
proto_decode_shutdown(const struct ipc_msg *m, const char **why)
{
	const char *unused;

	if (why == NULL)
		why = &unused;
	if (msg_check(m, m->hdr.type == MSG_SHUTDOWN, why) == -1)
		return -1;
	return body_decode(m, NULL, 0, NULL, why);
}

int
proto_decode_ctl_request(const struct ipc_msg *m, struct msg_ctl_request *req,
    const char **why)
{
	const char *unused;

	if (why == NULL)
		why = &unused;
	memset(req, 0, sizeof(*req));
	if (msg_check(m, m->hdr.type == MSG_CTL_REQUEST, why) == -1)
		return -1;
	return body_decode(m, ctl_request_fields, NITEMS(ctl_request_fields),
	    req, why);
}

int
proto_decode_ctl_end(const struct ipc_msg *m, struct msg_ctl_end *end,
    const char **why)
{
	const char *unused;

	if (why == NULL)
		why = &unused;
	memset(end, 0, sizeof(*end));
	if (msg_check(m, m->hdr.type == MSG_CTL_END, why) == -1)
		return -1;
	return body_decode(m, ctl_end_fields, NITEMS(ctl_end_fields), end,
	    why);
}

#define RECORD_MAX_KEYS	256

static char *
mp_strdup(const msgpack_object_str *s)
{
	char *p;

	if (s->size > 0 && memchr(s->ptr, '\0', s->size) != NULL)
		return NULL;
	p = xmalloc((size_t)s->size + 1);
	if (s->size > 0)
		memcpy(p, s->ptr, s->size);
	p[s->size] = '\0';
	return p;
}

static int
value_decode(const msgpack_object *o, struct rec_value *v)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		v->kind = RV_NIL;
		return 0;
	case MSGPACK_OBJECT_BOOLEAN:
		v->kind = RV_BOOL;
		v->i = o->via.boolean ? 1 : 0;
		return 0;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 <= INT64_MAX) {
			v->kind = RV_INT;
			v->i = (int64_t)o->via.u64;
		} else {
			v->kind = RV_UINT;
			v->u = o->via.u64;
		}
		return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		v->kind = RV_INT;
		v->i = o->via.i64;
		return 0;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		v->kind = RV_FLOAT;
		v->f = o->via.f64;
		return 0;
	case MSGPACK_OBJECT_STR:
		v->kind = RV_STR;
		return (v->s = mp_strdup(&o->via.str)) == NULL ? -1 : 0;
	default:
		return -1;
	}
}

static int
record_from_map(const msgpack_object_map *map, struct ctl_record *r,
    const char **why)
{
	const msgpack_object_kv *kv;
	size_t i, j;

	if (map->size > RECORD_MAX_KEYS) {
		*why = "too many keys";
		return -1;
	}
	r->v = xcalloc(map->size ? map->size : 1, sizeof(*r->v));
	for (i = 0; i < map->size; i++) {
		kv = &map->ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR ||
		    (r->v[i].key = mp_strdup(&kv->key.via.str)) == NULL) {
			*why = "key is not a string";
			return -1;
		}
		r->n = i + 1;
		for (j = 0; j < i; j++)
			if (strcmp(r->v[j].key, r->v[i].key) == 0) {
				*why = "duplicate key";
				return -1;
			}
		if (value_decode(&kv->val, &r->v[i]) == -1) {
			*why = "bad value";
			return -1;
		}
	}
	return 0;
}

int
proto_decode_record(const struct ipc_msg *m, struct ctl_record *r,
    const char **why)
{
	const msgpack_object_map *map;
	msgpack_unpacked u;
	const char *unused;
	int rc = -1;

	if (why == NULL)
		why = &unused;
	memset(r, 0, sizeof(*r));
	if (msg_check(m, m->hdr.type == MSG_CTL_RECORD, why) == -1)
		return -1;
	msgpack_unpacked_init(&u);
	if ((map = body_map(m, &u, why)) != NULL)
		rc = record_from_map(map, r, why);
	msgpack_unpacked_destroy(&u);
	if (rc == -1)
		record_free(r);
	return rc;
}
