/* unit test: manifest lines (JSON for any file name), durable append, torn-line repair, lookup by id. */
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

#include "buf.h"
#include "db.h"
#include "manifest.h"

struct fixture {
	char	dir[64];
	int	rootfd;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/test_manifest.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->rootfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	assert_true(f->rootfd >= 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	manifest_close();
	close(f->rootfd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void
rec_fill(struct file_rec *r, int64_t id, const char *path)
{
	memset(r, 0, sizeof(*r));
	r->id = id;
	r->watch = (char *)"incoming";
	r->source_path = (char *)path;
	r->relpath = (char *)"x";
	r->dest = (char *)"/srv/warehouse/ingest_date=2026-11-22/x";
	r->size = 987654;
	r->mtime_ns = 1763780645LL * 1000000000;
	r->device = 2049;
	r->inode = 1234567;
	strcpy(r->sha256, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
	strcpy(r->xxh128, "00112233445566778899aabbccddeeff");
	strcpy(r->ingested_at, "2026-11-22T03:04:05.123Z");
}

/* Parse the line with Python's strict json and return its "path" as bytes (surrogateescape). */
static char *
python_path_of(const char *line, int *escaped_flag)
{
	char tmpl[] = "/tmp/test_manifest_line.XXXXXX", cmd[256], *out;
	FILE *fp;
	int fd;
	size_t n;

	fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	close(fd);
	snprintf(cmd, sizeof(cmd), "python3 -c 'import json,sys;"
	    "o=json.loads(open(sys.argv[1],\"rb\").read());"
	    "sys.stdout.buffer.write(b\"%%d\" %% o.get(\"name_escaped\",False)+"
	    "o[\"path\"].encode(\"utf-8\",\"surrogateescape\"))' %s", tmpl);
	fp = popen(cmd, "r");
	assert_non_null(fp);
	out = calloc(1, 4096);
	n = fread(out, 1, 4095, fp);
	assert_int_equal(pclose(fp), 0);
	unlink(tmpl);
	assert_true(n >= 1);
	*escaped_flag = out[0] == '1';
	memmove(out, out + 1, n);
	return out;
}

static void
test_line_is_one_json_object_with_the_contract_fields(void **state)
{
	struct file_rec r;
	struct buf b;

	rec_fill(&r, 42, "/srv/staging/orders.csv");
	buf_init(&b);
	manifest_line(&b, &r);
	assert_string_equal(b.data,
	    "{\"id\":42,\"ingested_at\":\"2026-11-22T03:04:05.123Z\","
	    "\"watch\":\"incoming\",\"path\":\"/srv/staging/orders.csv\","
	    "\"dest\":\"/srv/warehouse/ingest_date=2026-11-22/x\","
	    "\"size\":987654,\"mtime\":1763780645,\"device\":2049,"
	    "\"inode\":1234567,\"sha256\":\"9f86d081884c7d659a2feaa0c55ad015"
	    "a3bf4f1b2b0b822cd15d6c15b0f00a08\",\"xxh128\":"
	    "\"00112233445566778899aabbccddeeff\"}\n");
	buf_free(&b);
}

static void
test_hostile_names_stay_one_valid_line_and_round_trip(void **state)
{
	static const char *names[] = {
		"/s/quote\"name.csv",
		"/s/back\\slash.csv",
		"/s/new\nline.csv",
		"/s/tab\tand\x01ctrl.csv",
		"/s/caf\xc3\xa9.csv",
	};
	struct file_rec r;
	struct buf b;
	char *path;
	size_t i;
	int escaped;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		rec_fill(&r, 1, names[i]);
		buf_init(&b);
		manifest_line(&b, &r);
		/* exactly one newline, at the end */
		assert_ptr_equal(strchr(b.data, '\n'), b.data + b.len - 1);
		path = python_path_of(b.data, &escaped);
		assert_string_equal(path, names[i]);
		assert_false(escaped);
		free(path);
		buf_free(&b);
	}
}

static void
test_invalid_utf8_name_is_escaped_reversibly_and_flagged(void **state)
{
	const char *name = "/s/bad\xff\xfe name\x80.csv";
	struct file_rec r;
	struct buf b;
	char *path;
	int escaped;

	rec_fill(&r, 7, name);
	buf_init(&b);
	manifest_line(&b, &r);
	assert_non_null(strstr(b.data, "\"name_escaped\":true"));
	path = python_path_of(b.data, &escaped);
	assert_true(escaped);
	assert_memory_equal(path, name, strlen(name) + 1);
	free(path);
	buf_free(&b);
}

static char *
slurp(struct fixture *f, const char *rel)
{
	char path[256], *data;
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	data = calloc(1, (size_t)st.st_size + 1);
	assert_int_equal(read(fd, data, (size_t)st.st_size), st.st_size);
	close(fd);
	return data;
}

static void
test_append_creates_directories_and_appends_lines(void **state)
{
	struct fixture *f = *state;
	char *data;

	assert_int_equal(manifest_append(f->rootfd, "2026/11/22/03/manifest.jsonl",
	    "{\"id\":1,\"a\":1}\n", 15), 0);
	assert_int_equal(manifest_append(f->rootfd, "2026/11/22/03/manifest.jsonl",
	    "{\"id\":2,\"a\":2}\n", 15), 0);
	data = slurp(f, "2026/11/22/03/manifest.jsonl");
	assert_string_equal(data, "{\"id\":1,\"a\":1}\n{\"id\":2,\"a\":2}\n");
	free(data);
}

static void
test_has_id_matches_whole_ids_only(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(manifest_has_id(f->rootfd, "m.jsonl", 1), 0);
	assert_int_equal(manifest_append(f->rootfd, "m.jsonl",
	    "{\"id\":12,\"a\":1}\n", 16), 0);
	assert_int_equal(manifest_has_id(f->rootfd, "m.jsonl", 12), 1);
	assert_int_equal(manifest_has_id(f->rootfd, "m.jsonl", 1), 0);
	assert_int_equal(manifest_has_id(f->rootfd, "m.jsonl", 123), 0);
}

static void
test_torn_last_line_is_cut_before_the_next_append(void **state)
{
	struct fixture *f = *state;
	char path[256], *data;
	int fd;

	snprintf(path, sizeof(path), "%s/m.jsonl", f->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"id\":1}\n{\"id\":2,\"in", 20), 20);
	close(fd);
	/* a torn line is not a recorded line */
	assert_int_equal(manifest_has_id(f->rootfd, "m.jsonl", 2), 0);
	assert_int_equal(manifest_append(f->rootfd, "m.jsonl",
	    "{\"id\":2}\n", 9), 0);
	data = slurp(f, "m.jsonl");
	assert_string_equal(data, "{\"id\":1}\n{\"id\":2}\n");
	free(data);
}

static void
test_append_refuses_a_symlinked_manifest(void **state)
{
	struct fixture *f = *state;
	char path[256];

	snprintf(path, sizeof(path), "%s/evil.jsonl", f->dir);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_int_equal(manifest_append(f->rootfd, "evil.jsonl", "x\n", 2), -1);
	assert_int_equal(errno, ELOOP);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_is_one_json_object_with_the_contract_fields),
		cmocka_unit_test(test_hostile_names_stay_one_valid_line_and_round_trip),
		cmocka_unit_test(test_invalid_utf8_name_is_escaped_reversibly_and_flagged),
		cmocka_unit_test_setup_teardown(test_append_creates_directories_and_appends_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_has_id_matches_whole_ids_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_last_line_is_cut_before_the_next_append, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_refuses_a_symlinked_manifest, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
