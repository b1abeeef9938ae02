/* common: the master<->worker protocol: message types and typed msgpack bodies. */
#ifndef INGESTD_PROTO_H
#define INGESTD_PROTO_H

#include <stdint.h>

#include "ipc.h"

enum msg_type {
	MSG_HELLO = 1,		/* worker -> master, no fd: sandbox report */
	MSG_JOB_HASH,		/* master -> worker, 1 fd: hash (and sync) src */
	MSG_JOB_COPY,		/* master -> worker, 2 fds: src, dst (O_TMPFILE) */
	MSG_PROGRESS,		/* worker -> master, no fd: bytes done so far */
	MSG_RESULT,		/* worker -> master, no fd: outcome of the job */
	MSG_SHUTDOWN,		/* master -> worker, no fd: exit after this */
	MSG_TYPE_END
};

/* Number of fds a frame of this type must carry; -1 for an unknown type. */
int		 proto_fds_expected(uint16_t type);
const char	*proto_type_name(uint16_t type);

struct msg_hello {
	uint32_t	pid;
	char		level[16];	/* "full", "partial", "none" */
	char		steps[256];	/* achieved, comma separated */
	char		skipped[256];	/* skipped or failed, comma separated */
};

#define JOB_F_SYNC_SRC	0x1	/* hash job: fdatasync the source too */

struct msg_job {
	uint64_t	size;		/* size the master saw at open */
	uint32_t	flags;
};

struct msg_progress {
	uint64_t	bytes;
};

struct msg_result {
	uint8_t		ok;		/* 1 success, 0 failure */
	int32_t		err;		/* errno on failure, 0 on success */
	char		stage[16];	/* on failure: "read", "write", "sync", ... */
	uint64_t	bytes;		/* bytes read (and written) */
	uint8_t		sha256[32];
	uint8_t		xxh128[16];	/* XXH128 canonical (big-endian) form */
};

/*
 * Senders: encode the body as one msgpack map and ipc_send it.  Return 0 or
 * -1 with errno.
 */
int	proto_send_hello(int sock, const struct msg_hello *);
int	proto_send_job(int sock, uint16_t type, uint64_t id,
	    const struct msg_job *, const int *fds, int nfds);
int	proto_send_progress(int sock, uint64_t id, const struct msg_progress *);
int	proto_send_result(int sock, uint64_t id, const struct msg_result *);
int	proto_send_shutdown(int sock);

/*
 * Decoders: check the frame type, the fd count for the type, that the body
 * is exactly one map holding exactly the expected keys with the expected
 * msgpack types and sizes (strings fit, binaries are exact length), and
 * nothing after it.  Return 0, or -1 with a static reason in *why.
 */
int	proto_decode_hello(const struct ipc_msg *, struct msg_hello *,
	    const char **why);
int	proto_decode_job(const struct ipc_msg *, struct msg_job *,
	    const char **why);
int	proto_decode_progress(const struct ipc_msg *, struct msg_progress *,
	    const char **why);
int	proto_decode_result(const struct ipc_msg *, struct msg_result *,
	    const char **why);
int	proto_decode_shutdown(const struct ipc_msg *, const char **why);

#endif
