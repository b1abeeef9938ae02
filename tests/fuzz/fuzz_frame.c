/* fuzz: libFuzzer target for the frame header check and every protocol body decoder (workers and control socket). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ipc.h"
#include "proto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * Input: one byte choosing how many fds the frame pretends to carry (mod 3),
 * then the frame itself.  The selector is not taken from the frame: its
 * first byte is half of the version field, which must be IPC_VERSION for
 * the decoders to be reached at all.  The fds are -1 so nothing is closed.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ipc_msg m;
	struct msg_hello hello;
	struct msg_job job;
	struct msg_progress progress;
	struct msg_result result;
	struct msg_ctl_request req;
	static struct msg_ctl_end end;
	struct ctl_record rec;
	const char *why;
	int i;

	if (size < 1 || size - 1 > sizeof(m.buf))
		return 0;
	memcpy(m.buf, data + 1, size - 1);
	if (ipc_frame_parse(&m, size - 1) == -1)
		return 0;
	for (i = 0; i < IPC_MAX_FDS; i++)
		m.fds[i] = -1;
	m.nfds = data[0] % 3;

	(void)proto_fds_expected(m.hdr.type);
	(void)proto_type_name(m.hdr.type);
	(void)proto_decode_hello(&m, &hello, &why);
	(void)proto_decode_job(&m, &job, &why);
	(void)proto_decode_progress(&m, &progress, &why);
	(void)proto_decode_result(&m, &result, &why);
	(void)proto_decode_shutdown(&m, &why);
	/* what ingestctl sends the master, and what the master answers */
	(void)proto_decode_ctl_request(&m, &req, &why);
	(void)proto_decode_ctl_end(&m, &end, &why);
	if (proto_decode_record(&m, &rec, &why) == 0) {
		(void)record_get(&rec, "kind");
		record_free(&rec);
	}
	return 0;
}
