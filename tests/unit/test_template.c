/* unit test: master's path templates (quick-mode layout, every field, hostile names, collisions). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
/* Makefile.am puts only src/common on the include path: reach the master. */
#include "../../src/master/template.h"

/* 2026-11-22T03:04:05.678Z */
#define T0_NS	(1795316645LL * 1000000000LL + 678000000LL)
#define SHA	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define XXH	"fedcba9876543210fedcba9876543210"

/* Helpers. */

static struct tmpl_ctx
ctx_for(const char *name)
{
	struct tmpl_ctx c;

	memset(&c, 0, sizeof(c));
	c.now_ns = T0_NS;
	c.name = name;
	c.relpath = "";
	c.watch = "incoming";
	c.sha256 = SHA;
	c.xxh128 = XXH;
	return c;
}

/* Expand and compare; the result must also be NUL-terminated at len. */
static void
assert_expands(const char *tmpl, const struct tmpl_ctx *c, const char *want)
{
	struct buf b;
	const char *why = NULL;
	int rc;

	buf_init(&b);
	rc = template_expand(tmpl, c, &b, &why);
	if (rc != 0)
		print_error("%s: %s\n", tmpl, why ? why : "?");
	assert_int_equal(rc, 0);
	assert_non_null(b.data);
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len + 1);
	buf_free(&b);
}

/*
 * Expansion must fail with a reason and leave out exactly as it was
 * (here: holding "keep").
 */
static void
assert_rejected(const char *tmpl, const struct tmpl_ctx *c)
{
	struct buf b;
	const char *why = NULL;

	buf_init(&b);
	buf_adds(&b, "keep");
	if (template_expand(tmpl, c, &b, &why) != -1) {
		print_error("\"%s\" with name \"%s\" relpath \"%s\" was"
		    " accepted as \"%s\"\n", tmpl, c->name,
		    c->relpath ? c->relpath : "", b.data + 4);
		buf_free(&b);
		fail();
	}
	assert_non_null(why);
	assert_true(strlen(why) > 0);
	assert_int_equal(b.len, 4);
	assert_string_equal(b.data, "keep");
	buf_free(&b);
}

/*
 * Written independently of template.c: does path start with prefix and
 * consist, after it, only of non-empty components other than "." and ".."
 * (so that resolving it can never climb above the prefix)?
 */
static int
stays_under(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *p, *q;

	if (strncmp(path, prefix, n) != 0)
		return 0;
	for (p = path + n;; p = q + 1) {
		q = strchrnul(p, '/');
		if (q == p || (q - p == 1 && p[0] == '.') ||
		    (q - p == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if (*q == '\0')
			return 1;
	}
}

/* A string of n copies of c (caller frees). */
static char *
repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* A relative path of exactly n bytes made of components of <= 255 bytes. */
static char *
relpath_of_len(size_t n)
{
	char *s = malloc(n + 1), *p = s;

	assert_non_null(s);
	while (n > 255) {
		memset(p, 'r', 254);
		p[254] = '/';
		p += 255;
		n -= 255;
	}
	memset(p, 'r', n);
	p[n] = '\0';
	return s;
}

/* Tests. */

static void
test_quick_mode_layout(void **state)
{
	static const char *zones[] = { "UTC+11", "UTC-14", "UTC" };
	struct tmpl_ctx c = ctx_for("orders.csv");
	size_t i;

	/* fields are UTC whatever the local zone says */
	for (i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		assert_int_equal(setenv("TZ", zones[i], 1), 0);
		tzset();
		assert_expands("ingest_date={date}/{name}", &c,
		    "ingest_date=2026-11-22/orders.csv");
		assert_expands("/srv/warehouse/ingest_date={date}/{name}", &c,
		    "/srv/warehouse/ingest_date=2026-11-22/orders.csv");
		assert_expands("{yyyy}/{mm}/{dd}/{hh}/manifest.jsonl", &c,
		    "2026/11/22/03/manifest.jsonl");
		assert_expands("/srv/manifests/{yyyy}/{mm}/{dd}/{hh}/"
		    "manifest.jsonl", &c,
		    "/srv/manifests/2026/11/22/03/manifest.jsonl");
	}
	unsetenv("TZ");
	tzset();

	/* day and hour boundaries: zero padding, no rounding */
	c.now_ns = 1798761599LL * 1000000000LL + 999999999LL;
	assert_expands("{date}/{hh}", &c, "2026-12-31/23");
	c.now_ns += 1;
	assert_expands("{date}/{hh}", &c, "2027-01-01/00");
	assert_expands("{yyyy}-{mm}-{dd}", &c, "2027-01-01");
}

static void
test_bronze_layout(void **state)
{
	struct tmpl_ctx c = ctx_for("orders.csv");

	assert_expands("/lake/bronze/system=crm/table=orders/dt={date}/{name}",
	    &c, "/lake/bronze/system=crm/table=orders/dt=2026-11-22/orders.csv");
	assert_int_equal(template_check(
	    "/lake/bronze/system=crm/table=orders/dt={date}/{name}",
	    &(const char *){ 0 }), 0);
}

static void
test_all_fields(void **state)
{
	struct tmpl_ctx c = ctx_for("orders.csv");

	c.relpath = "crm/2026";
	assert_expands("/a/{stem}/{ext}/{watch}/{relpath}/{name}", &c,
	    "/a/orders/csv/incoming/crm/2026/orders.csv");
	assert_expands("/a/{sha256}", &c, "/a/" SHA);
	assert_expands("/a/{sha256:8}/{sha256:1}/{sha256:64}", &c,
	    "/a/01234567/0/" SHA);
	assert_expands("/a/{xxh128}", &c, "/a/" XXH);
	assert_expands("/a/{stem}.{sha256:8}.{ext}", &c,
	    "/a/orders.01234567.csv");
	assert_expands("/a/{yyyy}{mm}{dd}T{hh}", &c, "/a/20261122T03");

	/* only the last dot starts the extension */
	c.name = "archive.tar.gz";
	assert_expands("/a/{stem}/{ext}", &c, "/a/archive.tar/gz");
	/* no extension: {ext} is empty */
	c.name = "README";
	assert_expands("/a/{stem}/x{ext}", &c, "/a/README/x");
	/* a leading dot is not an extension */
	c.name = ".bashrc";
	assert_expands("/a/{stem}/x{ext}", &c, "/a/.bashrc/x");
	c.name = ".config.json";
	assert_expands("/a/{stem}/{ext}", &c, "/a/.config/json");

	/* field widths outside 1..64 and other near-misses are unknown */
	assert_int_equal(template_check("/a/{sha256:0}", &(const char *){ 0 }),
	    -1);
	assert_int_equal(template_check("/a/{sha256:65}", &(const char *){ 0 }),
	    -1);
	assert_int_equal(template_check("/a/{sha256:}", &(const char *){ 0 }),
	    -1);
	assert_int_equal(template_check("/a/{sha256:8x}", &(const char *){ 0 }),
	    -1);
	assert_int_equal(template_check("/a/{xxh128:8}", &(const char *){ 0 }),
	    -1);
	assert_int_equal(template_check("/a/{NAME}", &(const char *){ 0 }), -1);
}

static void
test_dotdot_name_is_rejected(void **state)
{
	struct tmpl_ctx c = ctx_for("..");

	assert_rejected("/lake/{date}/{name}", &c);
	assert_rejected("{name}", &c);
	c.name = ".";
	assert_rejected("/lake/{date}/{name}", &c);

	c.name = "orders.csv";
	c.relpath = "a/../b";
	assert_rejected("/lake/{relpath}/{name}", &c);
	c.relpath = "..";
	assert_rejected("/lake/{relpath}/{name}", &c);
	assert_rejected("{relpath}/{name}", &c);
	c.relpath = "a/./b";
	assert_rejected("/lake/{relpath}/{name}", &c);
	c.relpath = "a//b";
	assert_rejected("/lake/{relpath}/{name}", &c);
	c.relpath = "/etc";
	assert_rejected("/lake/{relpath}/{name}", &c);
	assert_rejected("{relpath}/{name}", &c);

	c.relpath = "sub";
	c.watch = "..";
	assert_rejected("/lake/{watch}/{relpath}/{name}", &c);

	/* the same names are fine when they are not a whole component */
	c.watch = "incoming";
	c.name = "..orders";
	assert_expands("/lake/{name}", &c, "/lake/..orders");
	c.name = "...";
	assert_expands("/lake/{name}", &c, "/lake/...");
	c.name = "..";
	assert_expands("/lake/x{name}", &c, "/lake/x..");
}

static void
test_name_with_slash_cannot_escape(void **state)
{
	static const char *hostile[] = {
		"../x", "../../../etc/passwd", "x/..", "x/../..", "/etc/passwd",
		"./x", "a/./b", "..", ".",
	};
	static const char *tmpls[] = {
		"/lake/{date}/{name}", "/lake/x{name}", "/lake/{stem}.{ext}",
		"/lake/{relpath}/{name}", "/lake/{name}{relpath}", "{name}",
	};
	struct tmpl_ctx c = ctx_for("orders.csv");
	struct buf b;
	const char *why;
	size_t i, j;

	/* a name that would be "..", "." or empty as a component: rejected */
	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		c.name = hostile[i];
		assert_rejected("/lake/{date}/{name}", &c);
		c.relpath = hostile[i];
		c.name = "orders.csv";
		assert_rejected("/lake/{relpath}/{name}", &c);
		c.relpath = "";
	}

	/* in any position, whatever is accepted stays below the prefix */
	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		for (j = 0; j < sizeof(tmpls) / sizeof(tmpls[0]); j++) {
			c.name = hostile[i];
			c.relpath = hostile[i];
			buf_init(&b);
			why = NULL;
			if (template_expand(tmpls[j], &c, &b, &why) == 0) {
				if (!stays_under(b.data,
				    tmpls[j][0] == '/' ? "/lake/" : ""))
					fail_msg("%s with %s escaped: %s",
					    tmpls[j], hostile[i], b.data);
			} else
				assert_non_null(why);
			buf_free(&b);
		}
	}

	/*
	 * "a/b" as a name yields two plain components: the implementation
	 * accepts it (readdir never returns such a name), below the prefix.
	 */
	c.name = "a/b";
	c.relpath = "";
	assert_expands("/lake/{date}/{name}", &c, "/lake/2026-11-22/a/b");
}

/*
 * A field that expands to nothing at the end of the template leaves a
 * trailing '/', i.e. an empty last component: the header promises "no
 * empty component", and such a destination names a directory, not a file.
 */
static void
test_trailing_empty_component_is_rejected(void **state)
{
	struct tmpl_ctx c = ctx_for("README");

	assert_rejected("/lake/{stem}/{ext}", &c);
	c.name = "orders.csv";
	assert_rejected("/lake/{name}/{relpath}", &c);
	c.name = "a/";
	assert_rejected("/lake/{date}/{name}", &c);
	c.name = "";
	assert_rejected("/lake/{date}/{name}", &c);
	c.watch = "";
	assert_rejected("/lake/{watch}", &c);
}

static void
test_overlong_component_is_rejected(void **state)
{
	char *name = repeat('n', NAME_MAX + 1);
	struct tmpl_ctx c = ctx_for(name);

	assert_rejected("/lake/{date}/{name}", &c);
	/* also when the field is only part of the component */
	name[NAME_MAX - 4] = '\0';
	assert_rejected("/lake/{date}/{name}.{sha256:8}", &c);
	c.name = "orders.csv";
	c.relpath = name;
	memset(name, 'n', NAME_MAX + 1);
	assert_rejected("/lake/{relpath}/{name}", &c);
	free(name);
}

static void
test_255_byte_name_is_accepted(void **state)
{
	char *name = repeat('n', NAME_MAX), want[PATH_MAX];
	struct tmpl_ctx c = ctx_for(name);

	memcpy(name + NAME_MAX - 4, ".csv", 4);
	snprintf(want, sizeof(want), "/lake/2026-11-22/%s", name);
	assert_expands("/lake/{date}/{name}", &c, want);
	c.relpath = name;
	c.name = name;
	snprintf(want, sizeof(want), "/lake/%s/%s", name, name);
	assert_expands("/lake/{relpath}/{name}", &c, want);
	free(name);
}

static void
test_expanded_path_longer_than_path_max_is_rejected(void **state)
{
	struct tmpl_ctx c = ctx_for("orders.csv");
	char *rel;

	/* "/" + relpath: PATH_MAX - 1 bytes fit (with the NUL), PATH_MAX not */
	rel = relpath_of_len(PATH_MAX - 2);
	c.relpath = rel;
	{
		char *want = malloc(PATH_MAX);

		assert_non_null(want);
		snprintf(want, PATH_MAX, "/%s", rel);
		assert_expands("/{relpath}", &c, want);
		free(want);
	}
	free(rel);
	rel = relpath_of_len(PATH_MAX - 1);
	c.relpath = rel;
	assert_rejected("/{relpath}", &c);
	free(rel);
	/* far beyond */
	rel = relpath_of_len(3 * PATH_MAX);
	c.relpath = rel;
	assert_rejected("/lake/{relpath}/{name}", &c);
	free(rel);
}

static void
test_unknown_field_and_unbalanced_braces_are_syntax_errors(void **state)
{
	static const char *bad[] = {
		"/a/{nope}", "/a/{}", "/a/{name", "/a/name}", "/a/{name}}",
		"/a/{{name}", "/a/{na{me}", "{", "}", "/a/{ name}",
		"/a/{date}/{sha256:x}",
	};
	static const char *good[] = {
		"/a/{date}/{name}", "/a/{{name}}", "/a/{{{name}}}", "", "plain",
		"{yyyy}{mm}{dd}{hh}{stem}{ext}{watch}{relpath}{sha256}"
		"{sha256:12}{xxh128}",
	};
	struct tmpl_ctx c = ctx_for("orders.csv");
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (template_check(bad[i], &why) != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(why);
		/* and expansion refuses it too, leaving out alone */
		assert_rejected(bad[i], &c);
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		why = NULL;
		if (template_check(good[i], &why) != 0)
			fail_msg("rejected: %s: %s", good[i], why ? why : "?");
	}
}

static void
test_escaped_braces(void **state)
{
	struct tmpl_ctx c = ctx_for("orders.csv");

	assert_expands("{{x}}", &c, "{x}");
	assert_expands("/lake/{{x}}/{name}", &c, "/lake/{x}/orders.csv");
	assert_expands("/lake/{{{name}}}", &c, "/lake/{orders.csv}");
	assert_expands("/lake/a}}b{{c/{name}", &c, "/lake/a}b{c/orders.csv");
	/* braces in values are data, never re-expanded */
	c.name = "{date}";
	assert_expands("/lake/{name}", &c, "/lake/{date}");
}

static void
test_template_escape_round_trip(void **state)
{
	static const char *roots[] = {
		"/srv/we{ir}d/root", "/srv/{{x}}", "/srv/}{", "/srv/plain",
		"/srv/{date}",
	};
	struct tmpl_ctx c = ctx_for("orders.csv");
	struct buf t, want;
	size_t i;

	for (i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		buf_init(&t);
		template_escape(&t, roots[i]);
		assert_int_equal(template_check(t.data, &(const char *){ 0 }), 0);
		/* on its own it expands back to itself */
		assert_expands(t.data, &c, roots[i]);
		/* and as the fixed part of a real template */
		buf_adds(&t, "/{date}/{name}");
		buf_init(&want);
		buf_printf(&want, "%s/2026-11-22/orders.csv", roots[i]);
		assert_expands(t.data, &c, want.data);
		buf_free(&want);
		buf_free(&t);
	}
	/* escape appends, and leaves brace-free text alone */
	buf_init(&t);
	buf_adds(&t, "x:");
	template_escape(&t, "a{b}c");
	assert_string_equal(t.data, "x:a{{b}}c");
	buf_free(&t);
}

static void
test_sha_fields_unknown_before_hashing_fail(void **state)
{
	struct tmpl_ctx c = ctx_for("orders.csv");

	c.sha256 = NULL;
	assert_rejected("/lake/{sha256}/{name}", &c);
	assert_rejected("/lake/{name}.{sha256:8}", &c);
	/* the other fields still work without it */
	assert_expands("/lake/{date}/{xxh128}/{name}", &c,
	    "/lake/2026-11-22/" XXH "/orders.csv");
	c.xxh128 = NULL;
	assert_rejected("/lake/{xxh128}/{name}", &c);
	assert_expands("/lake/{date}/{name}", &c, "/lake/2026-11-22/orders.csv");
}

static void
test_collision_name_is_deterministic_and_fits(void **state)
{
	struct buf a, b;
	char *name;
	size_t n;

	buf_init(&a);
	template_collision_name("orders.csv", SHA, &a);
	assert_string_equal(a.data, "orders~0123456789ab.csv");
	buf_reset(&a);
	template_collision_name("README", SHA, &a);
	assert_string_equal(a.data, "README~0123456789ab");
	buf_reset(&a);
	template_collision_name("archive.tar.gz", SHA, &a);
	assert_string_equal(a.data, "archive.tar~0123456789ab.gz");
	buf_reset(&a);
	template_collision_name(".bashrc", SHA, &a);
	assert_string_equal(a.data, ".bashrc~0123456789ab");
	buf_reset(&a);
	/* different content, different name */
	template_collision_name("orders.csv",
	    "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
	    &a);
	assert_string_equal(a.data, "orders~fedcba987654.csv");
	buf_free(&a);

	/* a 255-byte name is shortened in the stem and keeps its extension */
	name = repeat('n', NAME_MAX);
	memcpy(name + NAME_MAX - 4, ".csv", 4);
	buf_init(&a);
	buf_init(&b);
	template_collision_name(name, SHA, &a);
	template_collision_name(name, SHA, &b);
	assert_true(a.len <= NAME_MAX);
	assert_int_equal(a.len, strlen(a.data));
	n = strlen("~0123456789ab.csv");
	assert_true(a.len > n);
	assert_string_equal(a.data + a.len - n, "~0123456789ab.csv");
	assert_memory_equal(a.data, name, a.len - n);
	assert_string_equal(a.data, b.data);
	buf_free(&a);
	buf_free(&b);

	/* without an extension */
	memset(name, 'n', NAME_MAX);
	buf_init(&a);
	template_collision_name(name, SHA, &a);
	assert_true(a.len <= NAME_MAX);
	n = strlen("~0123456789ab");
	assert_string_equal(a.data + a.len - n, "~0123456789ab");
	assert_memory_equal(a.data, name, a.len - n);
	buf_free(&a);

	/* an absurd extension still gives a usable, unique-enough name */
	name[0] = 'x';
	name[1] = '.';
	buf_init(&a);
	template_collision_name(name, SHA, &a);
	assert_true(a.len <= NAME_MAX);
	assert_true(a.len > 0);
	assert_non_null(strstr(a.data, "~0123456789ab"));
	assert_null(strchr(a.data, '/'));
	buf_free(&a);
	free(name);

	/* the result is a valid component for the template layer */
	{
		struct tmpl_ctx c = ctx_for("");

		buf_init(&a);
		template_collision_name("orders.csv", SHA, &a);
		c.name = a.data;
		assert_expands("/lake/{date}/{name}", &c,
		    "/lake/2026-11-22/orders~0123456789ab.csv");
		buf_free(&a);
	}
}

static void
test_newline_and_invalid_utf8_names_pass_through_unchanged(void **state)
{
	static const char *names[] = {
		"line\nbreak.csv", "\xff\xfe.csv", "bad \xc3\x28 \xed\xa0\x80",
		"tab\tcr\r\x01\x7f", "quote\"'\\.csv", "caf\xc3\xa9.csv",
		" leading and trailing ", "-rf", "~", "*?[",
	};
	struct tmpl_ctx c = ctx_for("x");
	struct buf want;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		c.name = names[i];
		buf_init(&want);
		buf_printf(&want, "/lake/2026-11-22/%s", names[i]);
		assert_expands("/lake/{date}/{name}", &c, want.data);
		buf_free(&want);
		c.relpath = names[i];
		c.name = "orders.csv";
		buf_init(&want);
		buf_printf(&want, "/lake/%s/orders.csv", names[i]);
		assert_expands("/lake/{relpath}/{name}", &c, want.data);
		buf_free(&want);
		c.relpath = "";
	}
	c.name = "\xff\xfe.csv";
	assert_expands("/lake/{stem}/{ext}", &c, "/lake/\xff\xfe/csv");
	c.name = "line\nbreak.csv";
	assert_expands("/lake/{stem}.{sha256:4}.{ext}", &c,
	    "/lake/line\nbreak.0123.csv");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quick_mode_layout),
		cmocka_unit_test(test_bronze_layout),
		cmocka_unit_test(test_all_fields),
		cmocka_unit_test(test_dotdot_name_is_rejected),
		cmocka_unit_test(test_name_with_slash_cannot_escape),
		cmocka_unit_test(test_trailing_empty_component_is_rejected),
		cmocka_unit_test(test_overlong_component_is_rejected),
		cmocka_unit_test(test_255_byte_name_is_accepted),
		cmocka_unit_test(test_expanded_path_longer_than_path_max_is_rejected),
		cmocka_unit_test(test_unknown_field_and_unbalanced_braces_are_syntax_errors),
		cmocka_unit_test(test_escaped_braces),
		cmocka_unit_test(test_template_escape_round_trip),
		cmocka_unit_test(test_sha_fields_unknown_before_hashing_fail),
		cmocka_unit_test(test_collision_name_is_deterministic_and_fits),
		cmocka_unit_test(test_newline_and_invalid_utf8_names_pass_through_unchanged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
