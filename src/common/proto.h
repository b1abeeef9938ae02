/* common: the IPC protocols (master<->worker, ingestctl<->master): message types and typed msgpack bodies. */
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
	MSG_TYPE_END,

	/* control socket (ingestctl <-> master), never an fd */
	MSG_CTL_REQUEST = 100,	/* client -> master: one command */
	MSG_CTL_RECORD,		/* master -> client: one output record */
	MSG_CTL_END,		/* master -> client: the command's outcome */
	MSG_CTL_TYPE_END
};

/* Where the control socket is unless configured otherwise. */
#define CTL_SOCKET_DEFAULT	"/run/ingestd/ingestd.sock"

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
#define JOB_F_NO_SYNC	0x2	/* copy job: no fdatasync, the master syncfs()s */

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
 * A control request.  Every key is always present (empty string / false
 * when unused) so the decoder can insist on exactly this set.
 */
struct msg_ctl_request {
	char		cmd[16];	/* status retry reconcile reload pause ... */
	char		watch[256];	/* "" for all */
	char		ids[1024];	/* retry: decimal ids separated by ',' */
	uint8_t		all;
	uint8_t		dry_run;
	uint8_t		check;
	uint8_t		wait;
};

/* The end of a command's reply: exit status for ingestctl and a message. */
struct msg_ctl_end {
	int32_t		status;		/* sysexits code, 0 ok */
	char		message[4096];
};

/*
 * A record is one flat map: string keys, scalar values (string, integer,
 * float, bool, nil) in the order they were added.  Built by the master,
 * read generically by ingestctl.
 */
enum rec_kind { RV_NIL, RV_BOOL, RV_INT, RV_UINT, RV_FLOAT, RV_STR };

struct rec_value {
	char		*key;
	enum rec_kind	 kind;
	int64_t		 i;		/* RV_INT, RV_BOOL */
	uint64_t	 u;		/* RV_UINT */
	double		 f;		/* RV_FLOAT */
	char		*s;		/* RV_STR, NUL-terminated (no NUL inside) */
};

struct ctl_record {
	struct rec_value	*v;
	size_t			 n;
	/* builder state (master side) */
	void			*pk;
	void			*sb;
};

/* Builder: add in order, then proto_send_record; freed by record_free. */
void	record_init(struct ctl_record *);
void	record_str(struct ctl_record *, const char *key, const char *val);
void	record_int(struct ctl_record *, const char *key, int64_t val);
void	record_uint(struct ctl_record *, const char *key, uint64_t val);
void	record_float(struct ctl_record *, const char *key, double val);
void	record_bool(struct ctl_record *, const char *key, int val);
void	record_nil(struct ctl_record *, const char *key);
int	proto_send_record(int sock, uint64_t id, const struct ctl_record *);
/* The whole frame of a record / an end, for a queueing sender (0 or -1). */
struct buf;
int	proto_frame_record(struct buf *, uint64_t id, const struct ctl_record *);
int	proto_frame_ctl_end(struct buf *, uint64_t id,
	    const struct msg_ctl_end *);
void	record_free(struct ctl_record *);
/* The value under key, or NULL. */
const struct rec_value *record_get(const struct ctl_record *, const char *key);

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
int	proto_send_ctl_request(int sock, uint64_t id,
	    const struct msg_ctl_request *);
int	proto_send_ctl_end(int sock, uint64_t id, const struct msg_ctl_end *);

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
int	proto_decode_ctl_request(const struct ipc_msg *,
	    struct msg_ctl_request *, const char **why);
int	proto_decode_ctl_end(const struct ipc_msg *, struct msg_ctl_end *,
	    const char **why);
/* Any flat map of scalars with string keys (unique, no NUL) of bounded size. */
int	proto_decode_record(const struct ipc_msg *, struct ctl_record *,
	    const char **why);

#endif
