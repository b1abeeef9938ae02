/* tests: unit tests of common's JSON string writer and structured logger. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "json.h"
#include "log.h"
#include "util.h"

/*
 * Helpers.  The test carries its own UTF-8 checker and JSON string decoder,
 * written differently from json.c on purpose, and cross-checks with
 * Python's json module (and its "surrogateescape" codec) where available.
 */

/* Length of the valid UTF-8 sequence at p, or 0: decode, then judge. */
static size_t
utf8_valid_len(const uint8_t *p, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && cp < 0x10000))
		return 0;		/* overlong */
	if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

static int
utf8_is_valid(const void *s, size_t n)
{
	const uint8_t *p = s;
	size_t i = 0, len;

	while (i < n) {
		if ((len = utf8_valid_len(p + i, n - i)) == 0)
			return 0;
		i += len;
	}
	return 1;
}

static int
hex4_parse(const uint8_t *p, unsigned *v)
{
	int i, d;

	*v = 0;
	for (i = 0; i < 4; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			d = p[i] - '0';
		else if (p[i] >= 'a' && p[i] <= 'f')
			d = p[i] - 'a' + 10;
		else if (p[i] >= 'A' && p[i] <= 'F')
			d = p[i] - 'A' + 10;
		else
			return -1;
		*v = *v << 4 | (unsigned)d;
	}
	return 0;
}

/* Decode one escape after the backslash at *pp; -1 if not what we emit. */
static int
json_unescape(const uint8_t **pp, struct buf *out)
{
	const uint8_t *p = *pp;
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *q;
	unsigned v;

	if (*p == 'u') {
		if (hex4_parse(p + 1, &v) == -1)
			return -1;
		if (v >= 0xdc80 && v <= 0xdcff)
			buf_addc(out, (char)(v & 0xff));
		else if (v < 0x20 || v == 0x7f)
			buf_addc(out, (char)v);
		else
			return -1;	/* json.c never needs any other \u */
		*pp = p + 5;
		return 0;
	}
	if (*p == '\0' || (q = strchr(from, *p)) == NULL)
		return -1;
	buf_addc(out, to[q - from]);
	*pp = p + 1;
	return 0;
}

/*
 * Strictly validate a JSON string (the whole of in) and decode it to the
 * original bytes, mapping \udcXX back to byte XX.  -1 if invalid.
 */
static int
json_decode(const char *in, struct buf *out)
{
	const uint8_t *p = (const uint8_t *)in;
	size_t n;

	if (*p++ != '"')
		return -1;
	for (;;) {
		if (*p == '"')
			return p[1] == '\0' ? 0 : -1;
		if (*p == '\0' || *p < 0x20 || *p == 0x7f)
			return -1;
		if (*p == '\\') {
			p++;
			if (json_unescape(&p, out) == -1)
				return -1;
		} else if (*p >= 0x80) {
			if ((n = utf8_valid_len(p, strlen((const char *)p))) ==
			    0)
				return -1;
			buf_add(out, p, n);
			p += n;
		} else
			buf_addc(out, (char)*p++);
	}
}

/* Encode s[0..len) and return the JSON text (caller frees). */
static char *
encode(const void *s, size_t len, int *flagged)
{
	struct buf b;

	buf_init(&b);
	*flagged = json_add_string(&b, s, len);
	assert_int_equal(strlen(b.data), b.len);
	return buf_release(&b);
}

/* Encode, check the exact text and the flag. */
static void
assert_encodes_to(const void *s, size_t len, const char *want, int flag)
{
	char *got;
	int flagged;

	got = encode(s, len, &flagged);
	assert_string_equal(got, want);
	assert_int_equal(flagged, flag);
	free(got);
}

/* Encode, then decode independently: same bytes, right flag, valid JSON. */
static void
assert_round_trips(const void *s, size_t len)
{
	struct buf dec;
	char *enc;
	int flagged;

	buf_init(&dec);
	enc = encode(s, len, &flagged);
	assert_true(utf8_is_valid(enc, strlen(enc)));
	assert_int_equal(json_decode(enc, &dec), 0);
	assert_int_equal(dec.len, len);
	if (len > 0)
		assert_memory_equal(dec.data, s, len);
	assert_int_equal(flagged, !utf8_is_valid(s, len));
	free(enc);
	buf_free(&dec);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t
rng_next(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 32);
}

/* Append a UTF-8 encoding of a random scalar value, sometimes truncated. */
static void
rng_add_utf8(struct buf *b)
{
	static const uint32_t edges[] = {
		0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff,
		0x10000, 0x10ffff,
	};
	uint8_t u[4];
	uint32_t cp;
	size_t n;

	if (rng_next() % 4 == 0)
		cp = edges[rng_next() % (sizeof(edges) / sizeof(edges[0]))];
	else
		cp = 0x80 + rng_next() % (0x110000 - 0x80);
	if (cp >= 0xd800 && cp <= 0xdfff)
		cp += 0x800;
	if (cp < 0x800) {
		u[0] = (uint8_t)(0xc0 | cp >> 6);
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (uint8_t)(0xe0 | cp >> 12);
		u[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		n = 3;
	} else {
		u[0] = (uint8_t)(0xf0 | cp >> 18);
		u[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		n = 4;
	}
	u[n - 1] = (uint8_t)(0x80 | (cp & 0x3f));
	if (rng_next() % 8 == 0)
		n = 1 + rng_next() % (n - 1);	/* truncated */
	buf_add(b, u, n);
}

/* A random mix of arbitrary bytes, ASCII and (maybe broken) UTF-8. */
static void
rng_fill(struct buf *b)
{
	size_t len = rng_next() % 48, i;
	char c;

	buf_reset(b);
	for (i = 0; i < len; i++) {
		switch (rng_next() % 3) {
		case 0:
			c = (char)(rng_next() & 0xff);
			buf_addc(b, c);
			break;
		case 1:
			c = (char)(rng_next() % 0x80);
			buf_addc(b, c);
			break;
		default:
			rng_add_utf8(b);
			break;
		}
	}
}

static int
python_available(void)
{
	fflush(NULL);
	return system("python3 -c pass >/dev/null 2>&1") == 0;
}

static char *
temp_path(void)
{
	const char *dir = getenv("TMPDIR");
	struct buf b;

	buf_init(&b);
	buf_printf(&b, "%s/test_json.XXXXXX",
	    dir != NULL && *dir != '\0' ? dir : "/tmp");
	return buf_release(&b);
}

static char *
temp_file_write(const char *data, size_t len)
{
	char *path = temp_path();
	int fd;

	assert_true((fd = mkstemp(path)) != -1);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	return path;
}

/* Run a Python script on a data file; 0 if it exits 0. */
static int
python_run(const char *script, const char *data, size_t datalen)
{
	char *spath, *dpath;
	struct buf cmd;
	int rc;

	spath = temp_file_write(script, strlen(script));
	dpath = temp_file_write(data, datalen);
	buf_init(&cmd);
	buf_printf(&cmd, "python3 %s %s", spath, dpath);
	fflush(NULL);		/* keep TAP lines in order */
	rc = system(cmd.data);
	unlink(spath);
	unlink(dpath);
	free(spath);
	free(dpath);
	buf_free(&cmd);
	return rc;
}

static char *
hex_of(const void *s, size_t n)
{
	char *out = xmalloc(2 * n + 1);

	hex_encode(s, n, out);
	return out;
}

/* Redirect fd 2 into a temp file until capture_end(). */
struct capture {
	char	*path;
	int	 fd;
	int	 saved;
};

static void
capture_begin(struct capture *c)
{
	c->path = temp_path();
	assert_true((c->fd = mkstemp(c->path)) != -1);
	assert_true((c->saved = dup(STDERR_FILENO)) != -1);
	assert_int_equal(dup2(c->fd, STDERR_FILENO), STDERR_FILENO);
}

static char *
capture_read_fd(int fd)
{
	struct buf b;
	char chunk[4096];
	ssize_t n;

	buf_init(&b);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(&b, chunk, (size_t)n);
	assert_int_equal(n, 0);
	return buf_release(&b);
}

/* Restore fd 2 and return everything written to it (caller frees). */
static char *
capture_end(struct capture *c)
{
	char *out;

	assert_int_equal(dup2(c->saved, STDERR_FILENO), STDERR_FILENO);
	close(c->saved);
	out = capture_read_fd(c->fd);
	close(c->fd);
	unlink(c->path);
	free(c->path);
	return out;
}

static size_t
count_char(const char *s, char c)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == c;
	return n;
}

/* Every line of out looks like {...}: no record was split or merged. */
static void
assert_lines_are_objects(const char *out)
{
	const char *nl;

	for (; *out != '\0'; out = nl + 1) {
		assert_non_null(nl = strchr(out, '\n'));
		assert_true(nl - out >= 2);
		assert_int_equal(out[0], '{');
		assert_int_equal(nl[-1], '}');
	}
}

/* 2026-11-22T03:04:05.123Z */
static int
is_iso_time(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	size_t i;

	for (i = 0; shape[i] != '\0'; i++) {
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') :
		    s[i] != shape[i])
			return 0;
	}
	return 1;
}

/* Run fn in a child with stderr captured; return its wait status. */
static char *
run_in_child(void (*fn)(void), int *status)
{
	struct capture c;
	pid_t pid;

	fflush(NULL);
	capture_begin(&c);
	if ((pid = fork()) == 0) {
		fn();
		_exit(99);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, status, 0), pid);
	return capture_end(&c);
}

/* Tests: JSON strings. */

static void
test_quotes_and_backslashes_are_escaped(void **state)
{
	assert_encodes_to("", 0, "\"\"", 0);
	assert_encodes_to("plain", 5, "\"plain\"", 0);
	assert_encodes_to("a\"b\\c", 5, "\"a\\\"b\\\\c\"", 0);
	assert_encodes_to("\"\"\\\\", 4, "\"\\\"\\\"\\\\\\\\\"", 0);
	assert_encodes_to("/srv/x", 6, "\"/srv/x\"", 0);
	assert_round_trips("a\"b\\c", 5);
}

static void
test_control_characters_and_newlines_are_escaped(void **state)
{
	static const char in[] = "\x00\x01\b\t\n\x0b\f\r\x1b\x1f\x7f";
	char all[33];
	int i;

	assert_encodes_to(in, sizeof(in) - 1,
	    "\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001b\\u001f\\u007f\"",
	    0);
	assert_encodes_to("line1\nline2\r\n", 13,
	    "\"line1\\nline2\\r\\n\"", 0);
	for (i = 0; i < 32; i++)
		all[i] = (char)i;
	all[32] = 0x7f;
	assert_round_trips(all, sizeof(all));
}

static void
test_valid_utf8_passes_through(void **state)
{
	static const char *const ok[] = {
		"caf\xc3\xa9",			/* é */
		"\xe2\x82\xac 5",		/* € */
		"\xf0\x9f\x98\x80.csv",		/* U+1F600 */
		"\xc2\x80",			/* U+0080, smallest 2-byte */
		"\xdf\xbf",			/* U+07FF */
		"\xe0\xa0\x80",			/* U+0800, smallest 3-byte */
		"\xed\x9f\xbf",			/* U+D7FF, below surrogates */
		"\xee\x80\x80",			/* U+E000, above surrogates */
		"\xef\xbf\xbd",			/* U+FFFD */
		"\xef\xbf\xbf",			/* U+FFFF */
		"\xf0\x90\x80\x80",		/* U+10000, smallest 4-byte */
		"\xf4\x8f\xbf\xbf",		/* U+10FFFF, the largest */
		"\xe2\x80\xa8\xe2\x80\xa9",	/* U+2028 U+2029 */
	};
	struct buf want;
	size_t i;

	buf_init(&want);
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		buf_reset(&want);
		buf_printf(&want, "\"%s\"", ok[i]);
		assert_encodes_to(ok[i], strlen(ok[i]), want.data, 0);
		assert_round_trips(ok[i], strlen(ok[i]));
	}
	buf_free(&want);
}

static void
test_invalid_utf8_is_escaped_reversibly_and_flagged(void **state)
{
	static const struct {
		const char	*in;
		const char	*out;
	} cases[] = {
		{ "caf\xe9.csv", "\"caf\\udce9.csv\"" },	/* Latin-1 */
		{ "\xff\xfe", "\"\\udcff\\udcfe\"" },
		{ "\x80\xc3\xa9", "\"\\udc80\xc3\xa9\"" },	/* then valid */
		{ "\xe2\x82x", "\"\\udce2\\udc82x\"" },	/* cut short */
		{ "a\xf0\x9f\x98", "\"a\\udcf0\\udc9f\\udc98\"" },
		{ "\xc3\"", "\"\\udcc3\\\"\"" },	/* then a quote */
	};
	static const char euro[] = "\xe2\x82\xac";
	struct buf dec;
	char *enc;
	size_t i, len;
	int flagged;

	buf_init(&dec);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = strlen(cases[i].in);
		enc = encode(cases[i].in, len, &flagged);
		assert_string_equal(enc, cases[i].out);
		assert_int_equal(flagged, 1);
		buf_reset(&dec);
		assert_int_equal(json_decode(enc, &dec), 0);
		assert_int_equal(dec.len, len);
		assert_memory_equal(dec.data, cases[i].in, len);
		free(enc);
	}
	buf_free(&dec);
	/* The rest of a sequence beyond len does not complete it. */
	assert_encodes_to(euro, 2, "\"\\udce2\\udc82\"", 1);
}

static void
test_overlong_and_surrogate_encodings_are_not_valid_utf8(void **state)
{
	static const char *const bad[] = {
		"\xc0\x80",		/* overlong NUL */
		"\xc0\xaf",		/* overlong '/' */
		"\xc1\xbf",		/* overlong U+007F */
		"\xe0\x80\xaf",		/* overlong '/' */
		"\xe0\x9f\xbf",		/* overlong U+07FF */
		"\xf0\x80\x80\xaf",	/* overlong '/' */
		"\xf0\x8f\xbf\xbf",	/* overlong U+FFFF */
		"\xed\xa0\x80",		/* U+D800 */
		"\xed\xb3\x80",		/* U+DCC0: must not fake an escape */
		"\xed\xbf\xbf",		/* U+DFFF */
		"\xed\xa0\xbd\xed\xb8\x80", /* CESU-8 surrogate pair */
		"\xf4\x90\x80\x80",	/* U+110000 */
		"\xf5\x80\x80\x80",
		"\xf8\x88\x80\x80\x80",	/* old 5-byte form */
		"\xfc\x84\x80\x80\x80\x80",
		"\xbf",			/* lone continuation */
		"\xe2\x82",		/* truncated at the end */
	};
	struct buf want;
	size_t i, j;

	buf_init(&want);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&want);
		buf_addc(&want, '"');
		for (j = 0; bad[i][j] != '\0'; j++)
			buf_printf(&want, "\\udc%02x", (uint8_t)bad[i][j]);
		buf_addc(&want, '"');
		assert_encodes_to(bad[i], strlen(bad[i]), want.data, 1);
		assert_round_trips(bad[i], strlen(bad[i]));
	}
	buf_free(&want);
}

static const char python_round_trip[] =
    "import json, sys\n"
    "text = open(sys.argv[1], 'rb').read().decode('utf-8')\n"
    "lines = text.split('\\n')\n"
    "assert lines.pop() == ''\n"
    "for line in lines:\n"
    "    h, j = line.split('\\t', 1)\n"
    "    s = json.loads(j)\n"
    "    assert isinstance(s, str), line\n"
    "    b = s.encode('utf-8', 'surrogateescape')\n"
    "    assert b == bytes.fromhex(h), line\n"
    "print('# python checked %d strings' % len(lines))\n";

/* Append "hex<TAB>json\n" for Python to check. */
static void
add_python_case(struct buf *all, const void *s, size_t len)
{
	char *hex = hex_of(s, len);

	buf_adds(all, hex);
	buf_addc(all, '\t');
	json_add_string(all, s, len);
	buf_addc(all, '\n');
	free(hex);
}

static void
test_every_byte_value_yields_valid_json(void **state)
{
	struct buf all, rnd;
	unsigned char c;
	int i;

	buf_init(&all);
	buf_init(&rnd);
	for (i = 0; i < 256; i++) {
		c = (unsigned char)i;
		assert_round_trips(&c, 1);
		add_python_case(&all, &c, 1);
	}
	for (i = 0; i < 20000; i++) {
		rng_fill(&rnd);
		assert_round_trips(rnd.data, rnd.len);
		if (i < 3000)
			add_python_case(&all, rnd.data, rnd.len);
	}
	if (python_available())
		assert_int_equal(python_run(python_round_trip, all.data,
		    all.len), 0);
	else
		print_message("# python3 not found: C decoder only\n");
	buf_free(&all);
	buf_free(&rnd);
}

static void
test_keys_and_numbers_are_written_as_json(void **state)
{
	struct buf b;

	buf_init(&b);
	buf_addc(&b, '{');
	json_add_key(&b, "id", 1);
	json_add_int(&b, LLONG_MIN);
	json_add_key(&b, "size", 0);
	json_add_uint(&b, ULLONG_MAX);
	json_add_key(&b, "n", 0);
	json_add_int(&b, 0);
	json_add_key(&b, "d", 0);
	json_add_int(&b, -42);
	json_add_key(&b, "u", 0);
	json_add_uint(&b, 1234567890);
	json_add_key(&b, "watch", 0);
	assert_int_equal(json_add_cstring(&b, "in\"coming"), 0);
	json_add_key(&b, "none", 0);
	assert_int_equal(json_add_cstring(&b, NULL), 0);
	buf_addc(&b, '}');
	assert_string_equal(b.data, "{\"id\":-9223372036854775808,"
	    "\"size\":18446744073709551615,\"n\":0,\"d\":-42,"
	    "\"u\":1234567890,"
	    "\"watch\":\"in\\\"coming\",\"none\":null}");
	buf_free(&b);
}

/* Tests: logging. */

/* A NULL %s argument that gcc cannot see (-Wformat-overflow). */
static const char *volatile no_string = NULL;

static void
test_log_line_is_one_json_object(void **state)
{
	static const char path[] = "/srv/in/a \"quoted\"\nname\\\x01\x7f"
	    "\xc3\xa9\xff.csv";
	static const char evil_event[] = "ev\"ent\n";
	struct capture c;
	struct buf script;
	char *out, *hex, *hex_event;

	log_init("ingestd-test", LOG_INFO, 1);
	capture_begin(&c);
	errno = EBADF;
	log_ev(LOG_WARN, "file_ingested", "path=%s bytes=%lld none=%s "
	    "i=%d u=%u l=%ld lu=%lu llu=%llu z=%zu j=%jd ju=%ju",
	    path, -12LL, no_string, INT_MIN, UINT_MAX, LONG_MIN,
	    ULONG_MAX, ULLONG_MAX, SIZE_MAX, INTMAX_MIN, UINTMAX_MAX);
	assert_int_equal(errno, EBADF);
	log_ev(LOG_ERR, evil_event, NULL);
	log_ev(LOG_INFO, "no_fields", NULL);
	out = capture_end(&c);

	assert_int_equal(count_char(out, '\n'), 3);
	assert_lines_are_objects(out);
	assert_int_equal(strncmp(out, "{\"ts\":\"", 7), 0);
	assert_true(is_iso_time(out + 7));

	assert_non_null(strstr(out, ",\"event\":\"file_ingested\","
	    "\"path\":\"/srv/in/a \\\"quoted\\\"\\nname\\\\\\u0001\\u007f"
	    "\xc3\xa9\\udcff.csv\",\"bytes\":-12,\"none\":null,"));
	assert_non_null(strstr(out, ",\"event\":\"ev\\\"ent\\n\"}\n"));

	/* Not skip(): cmocka 1.1.5 prints "not ok # SKIP", a FAIL in TAP. */
	if (!python_available()) {
		print_message("# python3 not found: C checks only\n");
		free(out);
		return;
	}
	hex = hex_of(path, sizeof(path) - 1);
	hex_event = hex_of(evil_event, sizeof(evil_event) - 1);
	buf_init(&script);
	buf_printf(&script,
	    "import json, re, sys\n"
	    "lines = open(sys.argv[1], 'rb').read().split(b'\\n')\n"
	    "assert lines.pop() == b''\n"
	    "objs = [json.loads(l.decode('utf-8')) for l in lines]\n"
	    "assert all(isinstance(o, dict) for o in objs)\n"
	    "o = objs[0]\n"
	    "assert list(o)[:5] == ['ts', 'level', 'proc', 'pid', 'event'], o\n"
	    "assert re.fullmatch(r'\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d"
	    "\\.\\d{3}Z', o['ts']), o\n"
	    "assert o['level'] == 'warn' and o['proc'] == 'ingestd-test', o\n"
	    "assert o['pid'] == %ld and o['event'] == 'file_ingested', o\n"
	    "assert o['path'].encode('utf-8', 'surrogateescape') == "
	    "bytes.fromhex('%s'), o\n"
	    "assert o['bytes'] == -12 and o['none'] is None, o\n"
	    "assert o['i'] == %d and o['u'] == %u, o\n"
	    "assert o['l'] == %ld and o['lu'] == %lu, o\n"
	    "assert o['llu'] == %llu and o['z'] == %zu, o\n"
	    "assert o['j'] == %jd and o['ju'] == %ju, o\n"
	    "assert len(o) == 5 + 11, o\n"
	    "assert objs[1]['level'] == 'error' and len(objs[1]) == 5\n"
	    "assert objs[1]['event'].encode() == bytes.fromhex('%s')\n"
	    "assert objs[2]['event'] == 'no_fields' and len(objs[2]) == 5\n",
	    (long)getpid(), hex, INT_MIN, UINT_MAX, LONG_MIN, ULONG_MAX,
	    ULLONG_MAX, SIZE_MAX, INTMAX_MIN, UINTMAX_MAX, hex_event);
	assert_int_equal(python_run(script.data, out, strlen(out)), 0);
	buf_free(&script);
	free(hex);
	free(hex_event);
	free(out);
}

static void
test_log_level_filters_records(void **state)
{
	struct capture c;
	char *out;

	assert_int_equal(log_level_parse("debug"), LOG_DEBUG);
	assert_int_equal(log_level_parse("info"), LOG_INFO);
	assert_int_equal(log_level_parse("warn"), LOG_WARN);
	assert_int_equal(log_level_parse("error"), LOG_ERR);
	assert_int_equal(log_level_parse("verbose"), -1);
	assert_int_equal(log_level_parse(""), -1);

	log_init("ingestd", LOG_INFO, 1);
	log_set_level(LOG_WARN);
	assert_int_equal(log_get_level(), LOG_WARN);
	capture_begin(&c);
	errno = ENOENT;
	log_ev(LOG_DEBUG, "dropped_debug", "n=%d", 1);
	log_ev(LOG_INFO, "dropped_info", "n=%d", 2);
	assert_int_equal(errno, ENOENT);
	log_ev(LOG_WARN, "kept_warn", "n=%d", 3);
	log_ev(LOG_ERR, "kept_error", "n=%d", 4);
	log_set_level(LOG_DEBUG);
	log_ev(LOG_DEBUG, "kept_debug", "n=%d", 5);
	out = capture_end(&c);

	assert_int_equal(count_char(out, '\n'), 3);
	assert_null(strstr(out, "dropped"));
	assert_non_null(strstr(out, "\"level\":\"warn\",\"proc\":\"ingestd\""));
	assert_non_null(strstr(out, "\"event\":\"kept_warn\",\"n\":3}\n"));
	assert_non_null(strstr(out, "\"level\":\"error\""));
	assert_non_null(strstr(out, "\"event\":\"kept_error\",\"n\":4}\n"));
	assert_non_null(strstr(out, "\"level\":\"debug\""));
	assert_non_null(strstr(out, "\"event\":\"kept_debug\",\"n\":5}\n"));
	free(out);
	log_init("ingestd", LOG_INFO, 1);
}

static void
test_logging_keeps_errno(void **state)
{
	int saved, after_failed_write, after_dropped;

	log_init("ingestd", LOG_INFO, 1);
	fflush(stderr);
	assert_true((saved = dup(STDERR_FILENO)) != -1);
	close(STDERR_FILENO);		/* the write fails with EBADF */
	errno = ENOENT;
	log_ev(LOG_ERR, "open_failed", "path=%s", "/nonexistent");
	after_failed_write = errno;
	errno = EACCES;
	log_ev(LOG_DEBUG, "dropped", "n=%d", 1);
	after_dropped = errno;
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	assert_int_equal(after_failed_write, ENOENT);
	assert_int_equal(after_dropped, EACCES);
}

static void
test_text_mode_format(void **state)
{
	struct capture c;
	struct buf want;
	char *out, *line2;

	log_init("ingestd", LOG_INFO, 0);
	capture_begin(&c);
	log_ev(LOG_INFO, "file_ingested", "path=%s bytes=%d", "a b", 12);
	log_ev(LOG_WARN, "odd_name", "path=%s watch=%s", "x\"\n\xff",
	    no_string);
	out = capture_end(&c);
	log_init("ingestd", LOG_INFO, 1);

	assert_int_equal(count_char(out, '\n'), 2);
	assert_true(is_iso_time(out));
	buf_init(&want);
	buf_printf(&want, " ingestd[%ld]: info: file_ingested path=\"a b\" "
	    "bytes=12\n", (long)getpid());
	assert_int_equal(strncmp(out + 24, want.data, want.len), 0);
	line2 = strchr(out, '\n') + 1;
	assert_true(is_iso_time(line2));
	buf_reset(&want);
	buf_printf(&want, " ingestd[%ld]: warn: odd_name "
	    "path=\"x\\\"\\n\\udcff\" watch=null\n", (long)getpid());
	assert_string_equal(line2 + 24, want.data);
	buf_free(&want);
	free(out);
}

static void
child_bad_format(void)
{
	log_init("ingestd", LOG_INFO, 1);
	log_ev(LOG_INFO, "bad_format", "n=%x", 1u);
}

static void
child_fatal(void)
{
	log_init("ingestd", LOG_INFO, 1);
	fatal("cannot_start", "reason=%s", "no config");
}

static void
test_malformed_format_aborts(void **state)
{
	char *out;
	int status;

	out = run_in_child(child_bad_format, &status);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	assert_non_null(strstr(out, "malformed format for event "
	    "\"bad_format\""));
	free(out);
}

static void
test_fatal_logs_an_error_and_exits_1(void **state)
{
	char *out;
	int status;

	out = run_in_child(child_fatal, &status);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	assert_non_null(strstr(out, "\"level\":\"error\""));
	assert_non_null(strstr(out,
	    "\"event\":\"cannot_start\",\"reason\":\"no config\"}\n"));
	free(out);
}

/*
 * Log lines, rows and manifest lines carry these stamps; the date part is
 * reused within a second, so a stamp must follow the second it is given,
 * forwards and back.
 */
static void
test_timestamps_follow_every_second(void **state)
{
	/* 2026-11-22T03:04:05.123Z */
	const int64_t t0 = 1795316645LL * 1000000000LL + 123000000LL;
	const int64_t sec = 1000000000LL;
	const struct {
		int64_t		 ns;
		const char	*want;
	} c[] = {
		{ t0, "2026-11-22T03:04:05.123Z" },
		{ t0 + 1000000LL, "2026-11-22T03:04:05.124Z" },
		{ t0 + 1005000000LL, "2026-11-22T03:04:06.128Z" },
		{ t0 - 123000000LL + 9999999LL, "2026-11-22T03:04:05.009Z" },
		/* two seconds in turn (two cached), a third, both again */
		{ t0 + sec, "2026-11-22T03:04:06.123Z" },
		{ t0, "2026-11-22T03:04:05.123Z" },
		{ t0 + 2 * sec, "2026-11-22T03:04:07.123Z" },
		{ t0 + sec, "2026-11-22T03:04:06.123Z" },
		{ t0, "2026-11-22T03:04:05.123Z" },
		{ t0 + 2 * sec, "2026-11-22T03:04:07.123Z" },
		{ t0 + 86400 * sec - 123000000LL, "2026-11-23T03:04:05.000Z" },
		{ 0, "1970-01-01T00:00:00.000Z" },
		{ -1, "1970-01-01T00:00:00.000Z" },
		/* the last instant an int64 of nanoseconds holds */
		{ INT64_MAX, "2262-04-11T23:47:16.854Z" },
		{ t0, "2026-11-22T03:04:05.123Z" },
	};
	char out[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		time_format_iso(c[i].ns, out);
		assert_string_equal(out, c[i].want);
	}
}

int
main(void)
{
#define T(f) cmocka_unit_test(f)
	const struct CMUnitTest tests[] = {
		T(test_quotes_and_backslashes_are_escaped),
		T(test_control_characters_and_newlines_are_escaped),
		T(test_valid_utf8_passes_through),
		T(test_invalid_utf8_is_escaped_reversibly_and_flagged),
		T(test_overlong_and_surrogate_encodings_are_not_valid_utf8),
		T(test_every_byte_value_yields_valid_json),
		T(test_keys_and_numbers_are_written_as_json),
		T(test_log_line_is_one_json_object),
		T(test_log_level_filters_records),
		T(test_logging_keeps_errno),
		T(test_text_mode_format),
		T(test_malformed_format_aborts),
		T(test_fatal_logs_an_error_and_exits_1),
		T(test_timestamps_follow_every_second),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
