/* unit test (worker): one-pass SHA-256 + XXH3-128 and the copy/hash data path. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/sha.h>

/* Makefile.am puts only src/common on the include path: reach the worker. */
#include "../../src/worker/copy.h"
#include "../../src/worker/hashpass.h"
#include "util.h"

#define PATTERN_LEN	(1024 * 1024 + 1)
#define FILE_LEN	(5 * 1024 * 1024 + 12345)

/* Expected values computed with `sha256sum` and `xxh128sum` (xxhash 0.8.1). */
#define SHA256_EMPTY \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA256_ABC \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA256_PATTERN \
	"7ed1a867fef5bc18d106d7aced8a855a53ed0e2b29bda79775bf715e4263411c"
#define XXH128_EMPTY	"99aa06d3014798d86001c324468d497f"
#define XXH128_ABC	"06b05ab6733a618578af5f94892f3950"
#define XXH128_PATTERN	"7f5efe0d87ec0c217cfaf758586ad4d2"

struct digests {
	char	sha256[2 * HASHPASS_SHA256_LEN + 1];
	char	xxh128[2 * HASHPASS_XXH128_LEN + 1];
};

/* A deterministic, non-periodic-looking byte pattern (see the values above). */
static uint8_t *
pattern_make(size_t n)
{
	uint8_t *p;
	size_t i;

	p = xmalloc(n);
	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(((i * 31 + 7) ^ (i >> 8)) & 0xff);
	return p;
}

static void
digests_hex(const uint8_t *sha, const uint8_t *xxh, struct digests *d)
{
	hex_encode(sha, HASHPASS_SHA256_LEN, d->sha256);
	hex_encode(xxh, HASHPASS_XXH128_LEN, d->xxh128);
}

/* Hash p[0..n) feeding it in pieces of the given sizes, cycled (0: one call). */
static void
hash_chunked(const uint8_t *p, size_t n, const size_t *sizes, size_t nsizes,
    struct digests *d)
{
	uint8_t sha[HASHPASS_SHA256_LEN], xxh[HASHPASS_XXH128_LEN];
	struct hashpass hp;
	size_t off = 0, k = 0, len;

	assert_int_equal(hashpass_init(&hp), 0);
	while (off < n) {
		len = nsizes == 0 ? n : sizes[k++ % nsizes];
		if (len > n - off)
			len = n - off;
		assert_int_equal(hashpass_update(&hp, p + off, len), 0);
		off += len;
	}
	assert_int_equal(hashpass_final(&hp, sha, xxh), 0);
	hashpass_free(&hp);
	digests_hex(sha, xxh, d);
}

static void
hash_string(const char *s, struct digests *d)
{
	hash_chunked((const uint8_t *)s, strlen(s), NULL, 0, d);
}

static void
test_sha256_of_known_vectors(void **state)
{
	struct digests d;

	hash_string("", &d);
	assert_string_equal(d.sha256, SHA256_EMPTY);
	hash_string("abc", &d);
	assert_string_equal(d.sha256, SHA256_ABC);
}

static void
test_sha256_of_1mib_plus_1_matches_openssl_one_shot(void **state)
{
	uint8_t one_shot[SHA256_DIGEST_LENGTH];
	char hex[2 * SHA256_DIGEST_LENGTH + 1];
	struct digests d;
	uint8_t *p;

	p = pattern_make(PATTERN_LEN);
	hash_chunked(p, PATTERN_LEN, NULL, 0, &d);
	SHA256(p, PATTERN_LEN, one_shot);
	hex_encode(one_shot, sizeof(one_shot), hex);
	assert_string_equal(d.sha256, hex);
	assert_string_equal(d.sha256, SHA256_PATTERN);
	free(p);
}

static void
test_xxh128_of_known_vectors_in_canonical_form(void **state)
{
	struct digests d;
	uint8_t *p;

	hash_string("", &d);
	assert_string_equal(d.xxh128, XXH128_EMPTY);
	hash_string("abc", &d);
	assert_string_equal(d.xxh128, XXH128_ABC);
	p = pattern_make(PATTERN_LEN);
	hash_chunked(p, PATTERN_LEN, NULL, 0, &d);
	assert_string_equal(d.xxh128, XXH128_PATTERN);
	free(p);
}

static void
test_odd_sized_chunks_give_the_same_digests_as_one_call(void **state)
{
	static const size_t sizes[] = { 1, 3, 7, 61, 240, 4093, 65537, 0, 2 };
	static const size_t single[] = { 1 };
	struct digests whole, pieces;
	uint8_t *p;

	p = pattern_make(PATTERN_LEN);
	hash_chunked(p, PATTERN_LEN, NULL, 0, &whole);
	hash_chunked(p, PATTERN_LEN, sizes, sizeof(sizes) / sizeof(sizes[0]),
	    &pieces);
	assert_string_equal(pieces.sha256, whole.sha256);
	assert_string_equal(pieces.xxh128, whole.xxh128);
	/* Byte by byte over a prefix that crosses XXH3's internal blocks. */
	hash_chunked(p, 3000, NULL, 0, &whole);
	hash_chunked(p, 3000, single, 1, &pieces);
	assert_string_equal(pieces.sha256, whole.sha256);
	assert_string_equal(pieces.xxh128, whole.xxh128);
	free(p);
}

static int
tmpfile_make(char *path, size_t size)
{
	const char *dir = getenv("TMPDIR");
	int fd, n;

	n = snprintf(path, size, "%s/test_hashpass.XXXXXX",
	    dir != NULL && *dir != '\0' ? dir : "/tmp");
	assert_true(n > 0 && (size_t)n < size);
	fd = mkstemp(path);
	assert_true(fd != -1);
	return fd;
}

static void
file_fill(int fd, const uint8_t *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		assert_true(w > 0);
		p += w;
		n -= (size_t)w;
	}
}

static void
file_check_equal(int fd, const uint8_t *want, size_t n)
{
	struct stat st;
	uint8_t *got;
	size_t off = 0;
	ssize_t r;

	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal((size_t)st.st_size, n);
	got = xmalloc(n);
	while (off < n) {
		r = pread(fd, got + off, n - off, (off_t)off);
		assert_true(r > 0);
		off += (size_t)r;
	}
	assert_memory_equal(got, want, n);
	free(got);
}

static int
progress_count(uint64_t bytes, void *arg)
{
	int *calls = arg;

	(*calls)++;
	return 0;
}

static void
test_copy_and_hash_writes_an_identical_file_with_hash_only_digests(void **state)
{
	char src_path[4096], dst_path[4096];
	struct copy_result copied, hashed;
	struct digests one_call, c, h;
	struct copy_ctx ctx;
	int src, dst, calls = 0;
	uint8_t *p;

	p = pattern_make(FILE_LEN);
	src = tmpfile_make(src_path, sizeof(src_path));
	dst = tmpfile_make(dst_path, sizeof(dst_path));
	file_fill(src, p, FILE_LEN);
	ctx.buf = copy_buf_alloc(COPY_CHUNK);
	assert_non_null(ctx.buf);
	ctx.bufsize = COPY_CHUNK;
	ctx.progress = progress_count;
	ctx.arg = &calls;
	ctx.progress_every = COPY_CHUNK;

	assert_int_equal(copy_and_hash(src, dst, 1, &ctx, &copied), 0);
	assert_int_equal(copied.bytes, FILE_LEN);
	assert_int_equal(calls, FILE_LEN / COPY_CHUNK);
	file_check_equal(dst, p, FILE_LEN);

	assert_int_equal(copy_hash(src, 1, &ctx, &hashed), 0);
	assert_int_equal(hashed.bytes, FILE_LEN);
	digests_hex(copied.sha256, copied.xxh128, &c);
	digests_hex(hashed.sha256, hashed.xxh128, &h);
	hash_chunked(p, FILE_LEN, NULL, 0, &one_call);
	assert_string_equal(c.sha256, h.sha256);
	assert_string_equal(c.xxh128, h.xxh128);
	assert_string_equal(c.sha256, one_call.sha256);
	assert_string_equal(c.xxh128, one_call.xxh128);

	close(src);
	close(dst);
	unlink(src_path);
	unlink(dst_path);
	free(ctx.buf);
	free(p);
}

static void
test_failed_write_is_reported_with_errno_and_stage(void **state)
{
	char src_path[4096];
	struct copy_result res;
	struct copy_ctx ctx = { NULL, COPY_CHUNK, NULL, NULL, 0 };
	int src, full;
	uint8_t *p;

	if ((full = open("/dev/full", O_WRONLY)) == -1)
		skip();
	p = pattern_make(4096);
	src = tmpfile_make(src_path, sizeof(src_path));
	file_fill(src, p, 4096);
	ctx.buf = copy_buf_alloc(COPY_CHUNK);
	assert_non_null(ctx.buf);
	assert_int_equal(copy_and_hash(src, full, 1, &ctx, &res), -1);
	assert_int_equal(res.err, ENOSPC);
	assert_string_equal(res.stage, "write");
	/* A directory cannot be read: the read stage fails, not the process. */
	close(src);
	unlink(src_path);
	src = open(".", O_RDONLY | O_DIRECTORY);
	assert_true(src != -1);
	assert_int_equal(copy_hash(src, 0, &ctx, &res), -1);
	assert_int_equal(res.err, EISDIR);
	assert_string_equal(res.stage, "read");
	close(src);
	close(full);
	free(ctx.buf);
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_of_known_vectors),
		cmocka_unit_test(test_sha256_of_1mib_plus_1_matches_openssl_one_shot),
		cmocka_unit_test(test_xxh128_of_known_vectors_in_canonical_form),
		cmocka_unit_test(test_odd_sized_chunks_give_the_same_digests_as_one_call),
		cmocka_unit_test(test_copy_and_hash_writes_an_identical_file_with_hash_only_digests),
		cmocka_unit_test(test_failed_write_is_reported_with_errno_and_stage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
