/* unit test: master's config file (grammar, every error path with FILE:LINE, defaults, macros, includes, -T round trip). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
/* "config.h" alone could be autoconf's: reach the master's by path. */
#include "../../src/master/config.h"

/* A watch block whose first four lines are valid; rows add line 5. */
#define W4 \
	"watch \"w\" {\n" \
	"\tpath \"/srv/in\"\n" \
	"\tto \"/srv/out/{date}/{name}\"\n" \
	"\tmanifest \"/srv/manifests/{date}.jsonl\"\n"
/* The same block without a destination, for rows about `to`. */
#define W3 \
	"watch \"w\" {\n" \
	"\tpath \"/srv/in\"\n" \
	"\tmanifest \"/srv/manifests/{date}.jsonl\"\n"

/* Helpers. */

struct tmpdir {
	char	 path[PATH_MAX];
};

static void
tmpdir_make(struct tmpdir *t)
{
	const char *base = getenv("TMPDIR");
	int n;

	n = snprintf(t->path, sizeof(t->path), "%s/test_config.XXXXXX",
	    base && *base ? base : "/tmp");
	assert_true(n > 0 && (size_t)n < sizeof(t->path));
	assert_non_null(mkdtemp(t->path));
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
tmpdir_remove(struct tmpdir *t)
{
	assert_int_equal(nftw(t->path, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* dir/name into out (PATH_MAX). */
static void
path_in(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

	assert_true(n > 0 && n < PATH_MAX);
}

static void
file_write(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *fp;

	path_in(path, dir, name);
	assert_non_null(fp = fopen(path, "w"));
	assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
	assert_int_equal(fclose(fp), 0);
}

/* Load dir/name; *errs gets everything config_load() reported. */
static struct config *
load_file(const char *dir, const char *name, char *const *defines,
    size_t ndefines, char **errs)
{
	struct config *conf;
	char path[PATH_MAX];
	size_t len;
	FILE *fp;

	path_in(path, dir, name);
	assert_non_null(fp = open_memstream(errs, &len));
	conf = config_load(path, defines, ndefines, fp);
	assert_int_equal(fclose(fp), 0);
	return conf;
}

/* Write text as dir/main.conf and load it; it must load without a word. */
static struct config *
load_ok(const char *dir, const char *text)
{
	struct config *conf;
	char *errs = NULL;

	file_write(dir, "main.conf", text);
	conf = load_file(dir, "main.conf", NULL, 0, &errs);
	if (conf == NULL || *errs != '\0')
		print_error("unexpected errors:\n%s", errs);
	assert_non_null(conf);
	assert_string_equal(errs, "");
	free(errs);
	return conf;
}

static char *
print_to_string(const struct config *conf)
{
	char *out = NULL;
	size_t len;
	FILE *fp;

	assert_non_null(fp = open_memstream(&out, &len));
	config_print(fp, conf);
	assert_int_equal(fclose(fp), 0);
	return out;
}

/* -T: print, load the output back, print again: the same text and watches. */
static void
assert_round_trip(const struct config *conf, const char *dir)
{
	const struct watch_conf *w, *w2;
	struct config *again;
	char *first, *second;

	first = print_to_string(conf);
	again = load_ok(dir, first);
	second = print_to_string(again);
	assert_string_equal(first, second);
	w2 = TAILQ_FIRST(&again->watches);
	TAILQ_FOREACH(w, &conf->watches, entry) {
		assert_non_null(w2);
		assert_true(config_watch_equal(w, w2));
		w2 = TAILQ_NEXT(w2, entry);
	}
	assert_null(w2);
	free(first);
	free(second);
	config_free(again);
}

/* tests/unit/config, from the source tree. */
static void
fixture_dir(char *out)
{
	const char *top = getenv("TOP_SRCDIR");
	const char *slash;
	int n;

	if (top != NULL && *top != '\0') {
		n = snprintf(out, PATH_MAX, "%s/tests/unit/config", top);
	} else {
		/* run by hand: next to this source file */
		slash = strrchr(__FILE__, '/');
		n = snprintf(out, PATH_MAX, "%.*s/config",
		    slash ? (int)(slash - __FILE__) : 1,
		    slash ? __FILE__ : ".");
	}
	assert_true(n > 0 && n < PATH_MAX);
}

static int
cpus_default(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

/* Defaults. */

static void
test_defaults_are_the_documented_ones(void **state)
{
	struct config *conf = config_new();

	assert_true(TAILQ_EMPTY(&conf->watches));
	assert_null(conf->file);
	assert_string_equal(conf->state_dir, "/var/lib/ingestd");
	assert_string_equal(conf->state_path, "/var/lib/ingestd/audit.db");
	assert_string_equal(conf->control_path, "/run/ingestd/ingestd.sock");
	assert_null(conf->user);
	assert_int_equal(conf->workers, cpus_default());
	assert_true(conf->workers >= 1 && conf->workers <= 64);
	assert_int_equal(conf->hash, HASH_SHA256);
	assert_int_equal(conf->log_json, 1);
	assert_int_equal(conf->rescan_secs, 60);
	assert_string_equal(conf->sandbox, "auto");
	assert_int_equal(conf->dry_run, 0);
	assert_int_equal(conf->once, 0);
	assert_int_equal(conf->log_level, LOG_INFO);
	assert_null(conf->worker_path);
	assert_null(conf->chroot_dir);
	assert_int_equal(conf->backoff_max_secs, 60);
	assert_int_equal(conf->watchdog_secs, 60);
	config_free(conf);
	config_free(NULL);
}

static void
test_empty_file_gives_the_defaults(void **state)
{
	struct tmpdir t;
	struct config *conf, *def = config_new();
	char *a, *b;

	tmpdir_make(&t);
	conf = load_ok(t.path, "# nothing but a comment\n\n");
	a = print_to_string(conf);
	b = print_to_string(def);
	assert_string_equal(a, b);
	assert_non_null(conf->file);
	assert_string_equal(conf->state_path, "/var/lib/ingestd/audit.db");
	free(a);
	free(b);
	config_free(conf);
	config_free(def);
	tmpdir_remove(&t);
}

static void
test_defaults_print_every_setting(void **state)
{
	struct config *conf = config_new();
	char want[1024], *got;

	snprintf(want, sizeof(want),
	    "state-dir \"/var/lib/ingestd\"\n"
	    "control \"/run/ingestd/ingestd.sock\"\n"
	    "# user: none (the worker's default)\n"
	    "workers %d\n"
	    "hash sha256\n"
	    "log json\n"
	    "rescan 60s\n"
	    "sandbox auto\n"
	    "# log-file: none (stderr, or syslog with --daemon)\n"
	    "# metrics listen: off\n"
	    "# metrics textfile: off\n", cpus_default());
	got = print_to_string(conf);
	assert_string_equal(got, want);
	free(got);
	config_free(conf);
}

static void
test_watch_defaults_are_spelled_out(void **state)
{
	struct tmpdir t;
	struct config *conf;
	struct watch_conf *w;
	char *got, *watch;

	tmpdir_make(&t);
	conf = load_ok(t.path, W4 "}\n");
	w = config_watch_find(conf, "w");
	assert_non_null(w);
	assert_int_equal(w->recursive, 1);
	assert_int_equal(w->nmatch, 0);
	assert_int_equal(w->nignore, 0);
	assert_int_equal(w->complete, COMPLETE_STABILITY);
	assert_int_equal(w->stability_secs, 10);
	assert_null(w->sidecar_suffix);
	assert_int_equal(w->min_size, 0);
	assert_int_equal(w->max_size, 0);
	assert_int_equal(w->action, ACTION_MOVE);
	assert_true(TAILQ_EMPTY(&w->routes));
	assert_int_equal(w->duplicate, DUP_DELETE);
	assert_null(w->duplicate_dir);
	assert_int_equal(w->retry, 5);
	assert_int_equal(w->backoff_secs, 1);

	got = print_to_string(conf);
	assert_non_null(watch = strstr(got, "\nwatch "));
	assert_string_equal(watch + 1,
	    "watch \"w\" {\n"
	    "\tpath \"/srv/in\"\n"
	    "\trecursive yes\n"
	    "\t# match: none (every name)\n"
	    "\t# ignore: none (nothing)\n"
	    "\tcomplete stability 10s\n"
	    "\tmin-size 0\n"
	    "\tmax-size 0\n"
	    "\taction move\n"
	    "\tto \"/srv/out/{date}/{name}\"\n"
	    "\tmanifest \"/srv/manifests/{date}.jsonl\"\n"
	    "\tduplicate delete\n"
	    "\tretry 5 backoff 1s\n"
	    "}\n");
	free(got);
	config_free(conf);
	tmpdir_remove(&t);
}

/* The DESIGN.md example. */

static void
test_design_example_loads_as_written(void **state)
{
	struct config *conf;
	struct watch_conf *w;
	struct route *r;
	char dir[PATH_MAX], want[PATH_MAX], *errs = NULL;

	fixture_dir(dir);
	conf = load_file(dir, "design.conf", NULL, 0, &errs);
	if (conf == NULL)
		print_error("%s", errs);
	assert_non_null(conf);
	assert_string_equal(errs, "");
	free(errs);

	path_in(want, dir, "design.conf");
	assert_string_equal(conf->file, want);
	assert_string_equal(conf->state_dir, "/var/lib/ingestd");
	assert_string_equal(conf->state_path, "/var/lib/ingestd/audit.db");
	assert_string_equal(conf->control_path, "/run/ingestd/ingestd.sock");
	assert_string_equal(conf->user, "_ingestd");
	assert_int_equal(conf->workers, 4);
	assert_int_equal(conf->hash, HASH_SHA256);
	assert_int_equal(conf->log_json, 1);
	assert_int_equal(conf->rescan_secs, 60);
	assert_string_equal(conf->sandbox, "auto");
	assert_string_equal(conf->metrics_addr, "127.0.0.1");
	assert_int_equal(conf->metrics_port, 9464);
	assert_string_equal(conf->metrics_textfile,
	    "/var/lib/node_exporter/ingestd.prom");
	assert_int_equal(conf->metrics_interval_secs, 30);
	assert_string_equal(conf->log_file, "/var/log/ingestd/ingestd.log");

	w = TAILQ_FIRST(&conf->watches);
	assert_non_null(w);
	assert_null(TAILQ_NEXT(w, entry));
	assert_ptr_equal(config_watch_find(conf, "incoming"), w);
	assert_null(config_watch_find(conf, "incomin"));
	assert_string_equal(w->name, "incoming");
	assert_string_equal(w->path, "/srv/staging/incoming");
	assert_int_equal(w->recursive, 1);
	assert_int_equal(w->nmatch, 2);
	assert_string_equal(w->match[0], "*.csv");
	assert_string_equal(w->match[1], "*.csv.gz");
	assert_int_equal(w->nignore, 1);
	assert_string_equal(w->ignore[0], "*.bak");
	assert_int_equal(w->complete, COMPLETE_STABILITY);
	assert_int_equal(w->stability_secs, 10);
	assert_null(w->sidecar_suffix);
	assert_int_equal(w->min_size, 1);
	assert_int_equal(w->max_size, 1024LL * 1024 * 1024);
	assert_int_equal(w->action, ACTION_MOVE);
	r = TAILQ_FIRST(&w->routes);
	assert_non_null(r);
	assert_string_equal(r->glob, "*.gz");
	assert_string_equal(r->to, "/srv/warehouse/gz/{date}/{name}");
	assert_null(TAILQ_NEXT(r, entry));
	assert_string_equal(w->to, "/srv/warehouse/ingest_date={date}/{name}");
	assert_string_equal(w->manifest,
	    "/srv/manifests/{yyyy}/{mm}/{dd}/{hh}/manifest.jsonl");
	assert_int_equal(w->duplicate, DUP_DELETE);
	assert_null(w->duplicate_dir);
	assert_int_equal(w->retry, 5);
	assert_int_equal(w->backoff_secs, 30);
	assert_string_equal(w->file, want);
	assert_int_equal(w->line, 13);
	config_free(conf);
}

static void
test_design_example_round_trips(void **state)
{
	struct tmpdir t;
	struct config *conf;
	char dir[PATH_MAX], *errs = NULL;

	fixture_dir(dir);
	conf = load_file(dir, "design.conf", NULL, 0, &errs);
	assert_non_null(conf);
	free(errs);
	tmpdir_make(&t);
	assert_round_trip(conf, t.path);
	config_free(conf);
	tmpdir_remove(&t);
}

static void
test_defaults_round_trip(void **state)
{
	struct tmpdir t;
	struct config *conf = config_new();

	tmpdir_make(&t);
	assert_round_trip(conf, t.path);
	config_free(conf);
	tmpdir_remove(&t);
}

/* Every other value of every keyword, and awkward strings, survive -T. */
static void
test_every_alternative_value_round_trips(void **state)
{
	static const char text[] =
	    "state-dir \"/var//lib/ingestd/\"\n"
	    "control \"/run/x.sock\"\n"
	    "user \"svc \\\"q\\\" \\\\ \\$HOME\"\n"
	    "workers 256\n"
	    "hash xxh128\n"
	    "log text\n"
	    "rescan 7d\n"
	    "sandbox required\n"
	    "watch \"a\" {\n"
	    "\tpath \"/srv/a/\"\n"
	    "\trecursive no\n"
	    "\tmatch \"*.{csv}\" \"[ab]?.txt\"\n"
	    "\tmatch \"more\"\n"
	    "\tignore \"*.bak\" \"*~\"\n"
	    "\tcomplete sidecar \".ok\"\n"
	    "\tmin-size 1K\n"
	    "\tmax-size 2T\n"
	    "\taction link\n"
	    "\troute \"*.gz\" to \"/w/gz/{{literal}}/{sha256:8}/{name}\"\n"
	    "\troute \"*.zip\" to \"/w/zip/{xxh128}\"\n"
	    "\tto \"/w/{watch}/{relpath}/{stem}.{ext}\"\n"
	    "\tmanifest \"/m/manifest.jsonl\"\n"
	    "\tduplicate move-to \"/srv/dups\"\n"
	    "\tretry 100 backoff 1d\n"
	    "}\n"
	    "watch \"b\" {\n"
	    "\tpath \"/srv/b\"\n"
	    "\tcomplete close-write\n"
	    "\taction copy\n"
	    "\tto \"/w/b/{name}\"\n"
	    "\tmanifest \"/m/b.jsonl\"\n"
	    "\tduplicate keep\n"
	    "\tretry 1\n"
	    "}\n";
	struct tmpdir t;
	struct config *conf;
	struct watch_conf *a, *b;
	struct route *r;

	tmpdir_make(&t);
	conf = load_ok(t.path, text);
	assert_string_equal(conf->state_dir, "/var/lib/ingestd");
	assert_string_equal(conf->state_path, "/var/lib/ingestd/audit.db");
	assert_string_equal(conf->user, "svc \"q\" \\ $HOME");
	assert_int_equal(conf->workers, 256);
	assert_int_equal(conf->hash, HASH_XXH128);
	assert_int_equal(conf->log_json, 0);
	assert_int_equal(conf->rescan_secs, 7 * 86400);
	assert_string_equal(conf->sandbox, "required");
	a = config_watch_find(conf, "a");
	b = config_watch_find(conf, "b");
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(a->path, "/srv/a");
	assert_int_equal(a->recursive, 0);
	assert_int_equal(a->nmatch, 3);
	assert_string_equal(a->match[2], "more");
	assert_int_equal(a->nignore, 2);
	assert_int_equal(a->complete, COMPLETE_SIDECAR);
	assert_string_equal(a->sidecar_suffix, ".ok");
	assert_int_equal(a->min_size, 1024);
	assert_int_equal(a->max_size, 2LL << 40);
	assert_int_equal(a->action, ACTION_LINK);
	r = TAILQ_FIRST(&a->routes);
	assert_string_equal(r->glob, "*.gz");
	r = TAILQ_NEXT(r, entry);
	assert_string_equal(r->glob, "*.zip");
	assert_int_equal(a->duplicate, DUP_MOVE_TO);
	assert_string_equal(a->duplicate_dir, "/srv/dups");
	assert_int_equal(a->retry, 100);
	assert_int_equal(a->backoff_secs, 86400);
	assert_int_equal(b->complete, COMPLETE_CLOSE_WRITE);
	assert_int_equal(b->action, ACTION_COPY);
	assert_int_equal(b->duplicate, DUP_KEEP);
	assert_int_equal(b->retry, 1);
	assert_int_equal(b->backoff_secs, 1);
	assert_round_trip(conf, t.path);
	config_free(conf);
	tmpdir_remove(&t);
}

static void
test_durations_and_sizes_take_their_units(void **state)
{
	static const struct {
		const char	*rescan;
		int		 secs;
		const char	*size;
		long long	 bytes;
	} cases[] = {
		{ "45", 45, "0", 0 },
		{ "45s", 45, "512", 512 },
		{ "5m", 300, "1K", 1024 },
		{ "2h", 7200, "3M", 3LL << 20 },
		{ "1d", 86400, "1G", 1LL << 30 },
		{ "\"90s\"", 90, "1T", 1LL << 40 },
	};
	struct tmpdir t;
	struct config *conf;
	char text[512];
	size_t i;

	tmpdir_make(&t);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "rescan %s\n" W4
		    "\tmax-size %s\n}\n", cases[i].rescan, cases[i].size);
		conf = load_ok(t.path, text);
		assert_int_equal(conf->rescan_secs, cases[i].secs);
		assert_int_equal(TAILQ_FIRST(&conf->watches)->max_size,
		    cases[i].bytes);
		config_free(conf);
	}
	tmpdir_remove(&t);
}

/* Macros and -D. */

static void
test_macros_expand_in_strings_and_words(void **state)
{
	struct tmpdir t;
	struct config *conf;
	struct watch_conf *w;

	tmpdir_make(&t);
	conf = load_ok(t.path,
	    "root = \"/srv/staging\"\n"
	    "n = 6\n"
	    "secs=90\n"
	    "workers $n\n"
	    "rescan ${secs}s\n"
	    "user \"u$n\\$x\"\n"
	    "watch \"w\" {\n"
	    "\tpath $root/in\n"
	    "\tto \"/srv/out/$n/{name}\"\n"
	    "\tmanifest \"${root}-manifests/{date}.jsonl\"\n"
	    "}\n");
	assert_int_equal(conf->workers, 6);
	assert_int_equal(conf->rescan_secs, 90);
	assert_string_equal(conf->user, "u6$x");
	w = TAILQ_FIRST(&conf->watches);
	assert_string_equal(w->path, "/srv/staging/in");
	assert_string_equal(w->to, "/srv/out/6/{name}");
	assert_string_equal(w->manifest,
	    "/srv/staging-manifests/{date}.jsonl");
	config_free(conf);
	tmpdir_remove(&t);
}

static void
test_later_macro_definition_wins(void **state)
{
	struct tmpdir t;
	struct config *conf;

	tmpdir_make(&t);
	conf = load_ok(t.path, "n = 2\nn = 3\nworkers $n\n");
	assert_int_equal(conf->workers, 3);
	config_free(conf);
	tmpdir_remove(&t);
}

static void
test_define_overrides_the_file(void **state)
{
	char *defs[] = { "n=7", "who=ingest", "unused=" };
	struct tmpdir t;
	struct config *conf;
	char *errs = NULL;

	tmpdir_make(&t);
	file_write(t.path, "main.conf",
	    "n = 2\nworkers $n\nn = 3\nrescan ${n}m\nuser \"$who\"\n");
	conf = load_file(t.path, "main.conf", defs, 3, &errs);
	assert_non_null(conf);
	assert_string_equal(errs, "");
	assert_int_equal(conf->workers, 7);
	assert_int_equal(conf->rescan_secs, 7 * 60);
	assert_string_equal(conf->user, "ingest");
	config_free(conf);
	free(errs);
	tmpdir_remove(&t);
}

static void
test_bad_defines_are_reported(void **state)
{
	static const struct {
		const char	*def;
		int		 index;
		const char	*msg;
	} cases[] = {
		{ "novalue", 1, "bad macro definition 'novalue' (expected "
		    "NAME=VALUE)" },
		{ "1x=2", 1, "bad macro name '1x'" },
		{ "workers=2", 1, "bad macro name 'workers'" },
		{ "x=a\nb", 1, "macro 'x': the value must not contain a "
		    "newline" },
	};
	struct tmpdir t;
	char *defs[2], want[256], *errs;
	size_t i;

	tmpdir_make(&t);
	file_write(t.path, "main.conf", "workers 2\n");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		errs = NULL;
		defs[0] = (char *)cases[i].def;
		assert_null(load_file(t.path, "main.conf", defs, 1, &errs));
		snprintf(want, sizeof(want), "-D:%d: %s", cases[i].index,
		    cases[i].msg);
		if (strstr(errs, want) == NULL)
			print_error("want \"%s\"\ngot  \"%s\"\n", want, errs);
		assert_non_null(strstr(errs, want));
		free(errs);
	}
	tmpdir_remove(&t);
}

/* Includes. */

static void
test_include_glob_reads_matches_in_sorted_order(void **state)
{
	static const char *order[] = { "first", "second", "third", "last" };
	struct config *conf;
	struct watch_conf *w;
	char dir[PATH_MAX], want[PATH_MAX], *errs = NULL;
	size_t i = 0;

	fixture_dir(dir);
	strncat(dir, "/include", PATH_MAX - strlen(dir) - 1);
	conf = load_file(dir, "main.conf", NULL, 0, &errs);
	if (conf == NULL)
		print_error("%s", errs);
	assert_non_null(conf);
	assert_string_equal(errs, "");
	assert_int_equal(conf->workers, 3);
	TAILQ_FOREACH(w, &conf->watches, entry) {
		assert_true(i < 4);
		assert_string_equal(w->name, order[i]);
		i++;
	}
	assert_int_equal(i, 4);
	/* each watch knows the file and line of its block */
	w = config_watch_find(conf, "second");
	path_in(want, dir, "conf.d/20-second.conf");
	assert_string_equal(w->file, want);
	assert_int_equal(w->line, 2);
	w = config_watch_find(conf, "last");
	path_in(want, dir, "main.conf");
	assert_string_equal(w->file, want);
	assert_int_equal(w->line, 6);
	config_free(conf);
	free(errs);
}

static void
test_include_of_a_file_that_ends_without_newline(void **state)
{
	struct tmpdir t;
	struct config *conf;

	tmpdir_make(&t);
	file_write(t.path, "a.conf", "user \"x\"");
	file_write(t.path, "b.conf", "rescan 5s");
	conf = load_ok(t.path, "include \"a.conf\"\ninclude \"" "b.conf\"\n"
	    "workers 2");
	assert_string_equal(conf->user, "x");
	assert_int_equal(conf->rescan_secs, 5);
	assert_int_equal(conf->workers, 2);
	config_free(conf);
	tmpdir_remove(&t);
}

static void
test_include_depth_is_limited(void **state)
{
	struct tmpdir t;
	char name[32], text[64], want[2 * PATH_MAX + 64], path[PATH_MAX];
	char *errs = NULL;
	int i;

	tmpdir_make(&t);
	for (i = 0; i <= 20; i++) {
		snprintf(name, sizeof(name), "d%d.conf", i);
		snprintf(text, sizeof(text), "include \"d%d.conf\"\n", i + 1);
		file_write(t.path, name, text);
	}
	file_write(t.path, "d21.conf", "workers 2\n");
	assert_null(load_file(t.path, "d0.conf", NULL, 0, &errs));
	path_in(path, t.path, "d16.conf");
	snprintf(want, sizeof(want), "%s:1: include '%s/d17.conf': include "
	    "depth limit (16) exceeded", path, t.path);
	if (strstr(errs, want) == NULL)
		print_error("want \"%s\"\ngot  \"%s\"\n", want, errs);
	assert_non_null(strstr(errs, want));
	free(errs);
	tmpdir_remove(&t);
}

/* Several watches. */

static void
test_two_watches_keep_their_own_rules(void **state)
{
	struct tmpdir t;
	struct config *conf;
	struct watch_conf *a, *b;

	tmpdir_make(&t);
	conf = load_ok(t.path,
	    "watch \"csv\" {\n"
	    "\tpath \"/srv/in/csv\"\n"
	    "\tmatch \"*.csv\"\n"
	    "\tto \"/lake/bronze/system=crm/table=orders/dt={date}/{name}\"\n"
	    "\tmanifest \"/lake/manifests/csv.jsonl\"\n"
	    "}\n"
	    "\n"
	    "watch \"bin\" {\n"
	    "\tpath \"/srv/in/bin\"\n"
	    "\tcomplete sidecar \".done\"\n"
	    "\taction copy\n"
	    "\tto \"/lake/bin/{sha256}\"\n"
	    "\tmanifest \"/lake/manifests/bin.jsonl\"\n"
	    "}\n");
	a = config_watch_find(conf, "csv");
	b = config_watch_find(conf, "bin");
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_equal(TAILQ_NEXT(a, entry), b);
	assert_int_equal(a->line, 1);
	assert_int_equal(b->line, 8);
	assert_int_equal(a->complete, COMPLETE_STABILITY);
	assert_int_equal(b->complete, COMPLETE_SIDECAR);
	assert_int_equal(a->action, ACTION_MOVE);
	assert_int_equal(b->action, ACTION_COPY);
	assert_int_equal(a->nmatch, 1);
	assert_int_equal(b->nmatch, 0);
	assert_false(config_watch_equal(a, b));
	assert_true(config_watch_equal(a, a));
	assert_round_trip(conf, t.path);
	config_free(conf);
	tmpdir_remove(&t);
}

static void
test_overlapping_watch_paths_are_rejected(void **state)
{
	static const struct {
		const char	*a, *b;
	} cases[] = {
		{ "/srv/a", "/srv/a/b" },	/* b below a */
		{ "/srv/a/b", "/srv/a" },	/* a below b */
		{ "/srv/a", "/srv/a/" },	/* the same directory */
		{ "/", "/srv" },
	};
	struct tmpdir t;
	char text[512], want[PATH_MAX + 128], path[PATH_MAX], *errs;
	size_t i;

	tmpdir_make(&t);
	path_in(path, t.path, "main.conf");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text),
		    "watch \"a\" {\n\tpath \"%s\"\n\tto \"/w/a/{name}\"\n"
		    "\tmanifest \"/m/a\"\n}\n"
		    "watch \"b\" {\n\tpath \"%s\"\n\tto \"/w/b/{name}\"\n"
		    "\tmanifest \"/m/b\"\n}\n", cases[i].a, cases[i].b);
		file_write(t.path, "main.conf", text);
		errs = NULL;
		assert_null(load_file(t.path, "main.conf", NULL, 0, &errs));
		snprintf(want, sizeof(want), "%s:6: watch 'b' path %s overlaps "
		    "watch 'a' path %s", path,
		    strcmp(cases[i].b, "/srv/a/") == 0 ? "/srv/a" : cases[i].b,
		    cases[i].a);
		if (strstr(errs, want) == NULL)
			print_error("want \"%s\"\ngot  \"%s\"\n", want, errs);
		assert_non_null(strstr(errs, want));
		free(errs);
	}
	/* siblings with a common prefix do not overlap */
	config_free(load_ok(t.path,
	    "watch \"a\" {\n\tpath \"/srv/a\"\n\tto \"/w/a/{name}\"\n"
	    "\tmanifest \"/m/a\"\n}\n"
	    "watch \"b\" {\n\tpath \"/srv/ab\"\n\tto \"/w/b/{name}\"\n"
	    "\tmanifest \"/m/b\"\n}\n"));
	tmpdir_remove(&t);
}

static void
test_link_with_close_write_is_fine(void **state)
{
	struct tmpdir t;
	struct config *conf;

	tmpdir_make(&t);
	conf = load_ok(t.path, W4 "\taction link\n\tcomplete close-write\n}\n");
	assert_int_equal(TAILQ_FIRST(&conf->watches)->action, ACTION_LINK);
	assert_int_equal(TAILQ_FIRST(&conf->watches)->complete,
	    COMPLETE_CLOSE_WRITE);
	config_free(conf);
	tmpdir_remove(&t);
}

/* The lexer's conveniences: continuations, CRLF, Allman braces, '}' last. */
static void
test_layout_variants_are_accepted(void **state)
{
	struct tmpdir t;
	struct config *conf;
	struct watch_conf *w;

	tmpdir_make(&t);
	conf = load_ok(t.path,
	    "workers \\\n  5\r\n"
	    "watch \"two\"\n"
	    "{\n"
	    "\tpath \"/srv/2\"\n"
	    "\n"
	    "# inside\n"
	    "\tto \"/w/2/{name}\"  # trailing\n"
	    "\tmanifest \"/m/2\" }\n"
	    "hash xxh128");
	assert_int_equal(conf->workers, 5);
	assert_int_equal(conf->hash, HASH_XXH128);
	w = config_watch_find(conf, "two");
	assert_non_null(w);
	assert_int_equal(w->line, 3);
	assert_string_equal(w->manifest, "/m/2");
	config_free(conf);
	tmpdir_remove(&t);
}

/* config_watch_equal() notices a change of any one field. */
static void
test_watch_equal_notices_every_field(void **state)
{
	static const char *variants[] = {
		"\tpath \"/srv/other\"\n",
		"\trecursive no\n",
		"\tmatch \"*.csv\"\n",
		"\tmatch \"*.csv\" \"*.gz\"\n",
		"\tignore \"*.bak\"\n",
		"\tcomplete stability 11s\n",
		"\tcomplete sidecar \".ok\"\n",
		"\tcomplete close-write\n",
		"\tmin-size 1\n",
		"\tmax-size 1\n",
		"\taction copy\n",
		"\taction link\n",
		"\troute \"*.gz\" to \"/srv/gz/{name}\"\n",
		"\tto \"/srv/out2/{name}\"\n",
		"\tmanifest \"/srv/manifests/other.jsonl\"\n",
		"\tduplicate keep\n",
		"\tduplicate move-to \"/srv/dups\"\n",
		"\tretry 6\n",
		"\tretry 5 backoff 2s\n",
	};
	static const char *keys[] = { "\tpath ", "\tto ", "\tmanifest " };
	const char *slots[4] = {
		"\tpath \"/srv/in\"\n",
		"\tto \"/srv/out/{date}/{name}\"\n",
		"\tmanifest \"/srv/manifests/{date}.jsonl\"\n",
		"",
	};
	const char *use[4];
	struct tmpdir t;
	struct config *a, *b, *c;
	char text[1024];
	size_t i, k;

	tmpdir_make(&t);
	snprintf(text, sizeof(text), "watch \"w\" {\n%s%s%s%s}\n", slots[0],
	    slots[1], slots[2], slots[3]);
	a = load_ok(t.path, text);
	c = load_ok(t.path, text);
	assert_true(config_watch_equal(TAILQ_FIRST(&a->watches),
	    TAILQ_FIRST(&c->watches)));
	for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		/* the variant replaces its key, or comes in addition */
		memcpy(use, slots, sizeof(use));
		for (k = 0; k < 3; k++)
			if (strncmp(variants[i], keys[k], strlen(keys[k])) == 0)
				break;
		use[k] = variants[i];
		snprintf(text, sizeof(text), "watch \"w\" {\n%s%s%s%s}\n",
		    use[0], use[1], use[2], use[3]);
		b = load_ok(t.path, text);
		if (config_watch_equal(TAILQ_FIRST(&a->watches),
		    TAILQ_FIRST(&b->watches)))
			print_error("not noticed: %s", variants[i]);
		assert_false(config_watch_equal(TAILQ_FIRST(&a->watches),
		    TAILQ_FIRST(&b->watches)));
		config_free(b);
	}
	/* the name counts too, the file and line do not */
	snprintf(text, sizeof(text), "\n\nwatch \"x\" {\n%s%s%s}\n",
	    slots[0], slots[1], slots[2]);
	b = load_ok(t.path, text);
	assert_false(config_watch_equal(TAILQ_FIRST(&a->watches),
	    TAILQ_FIRST(&b->watches)));
	free(TAILQ_FIRST(&b->watches)->name);
	TAILQ_FIRST(&b->watches)->name = strdup("w");
	assert_true(config_watch_equal(TAILQ_FIRST(&a->watches),
	    TAILQ_FIRST(&b->watches)));
	config_free(b);
	config_free(a);
	config_free(c);
	tmpdir_remove(&t);
}

/* Errors: every keyword and every error path, with FILE:LINE. */

struct bad_case {
	const char	*text;		/* main.conf */
	const char	*aux;		/* aux.conf, or NULL */
	const char	*file;		/* where the error is reported */
	int		 line;
	const char	*msg;		/* @DIR@ stands for the test's directory */
};

#define MAIN	"main.conf"
#define AUX	"aux.conf"
/* 108 bytes: one more than sun_path holds with its NUL */
#define LONG_SOCKET \
	"/run/ingestd/0123456789012345678901234567890123456789" \
	"01234567890123456789012345678901234567890123456789.sock"

static const struct bad_case bad_cases[] = {
	/* unknown keywords and the hint */
	{ "workrs 4\n", NULL, MAIN, 1,
	    "unknown keyword 'workrs' (did you mean 'workers'?)" },
	{ "\n\nstate_dir \"/x\"\n", NULL, MAIN, 3,
	    "unknown keyword 'state_dir' (did you mean 'state-dir'?)" },
	{ W4 "\trecursiv yes\n}\n", NULL, MAIN, 5,
	    "unknown keyword 'recursiv' (did you mean 'recursive'?)" },
	{ W4 "\tfrobnicate 1\n}\n", NULL, MAIN, 5,
	    "unknown keyword 'frobnicate'" },
	{ "metrics listen 300.0.0.1:9464\n", NULL, MAIN, 1,
	    "metrics listen '300.0.0.1:9464': not a numeric IPv4 address" },
	{ "metrics listen 127.0.0.1:65536\n", NULL, MAIN, 1,
	    "metrics listen '127.0.0.1:65536': expected a port from 0 to "
	    "65535" },
	{ "metrics listen ::1:9464\n", NULL, MAIN, 1,
	    "metrics listen '::1:9464': write an IPv6 address in brackets" },
	{ "metrics listen 1\nmetrics listen 2\n", NULL, MAIN, 2,
	    "duplicate 'metrics listen'" },
	{ "metrics textfile \"m.prom\"\n", NULL, MAIN, 1,
	    "metrics textfile 'm.prom' must be an absolute path" },
	{ "metrics textfile \"/m.prom\" interval 0s\n", NULL, MAIN, 1,
	    "metrics textfile interval 0s is out of range (1s to 86400s)" },
	{ "metrics\n", NULL, MAIN, 1, "unexpected end of line after "
	    "'metrics', expected 'listen' or 'textfile'" },
	{ "log-file \"x.log\"\n", NULL, MAIN, 1,
	    "log-file 'x.log' must be an absolute path" },
	{ "path \"/srv\"\n", NULL, MAIN, 1,
	    "'path' is only valid inside a watch block" },
	{ W4 "\tworkers 2\n}\n", NULL, MAIN, 5,
	    "'workers' is not valid inside a watch block (missing '}'?)" },
	{ "\"workers\" 2\n", NULL, MAIN, 1,
	    "unexpected string \"workers\"" },
	/* state-dir */
	{ "state-dir \"var/lib/ingestd\"\n", NULL, MAIN, 1,
	    "state-dir 'var/lib/ingestd' must be an absolute path" },
	{ "state-dir \"/var/lib/../x\"\n", NULL, MAIN, 1,
	    "state-dir '/var/lib/../x' must not contain '.' or '..' "
	    "components" },
	{ "state-dir \"/a\"\nstate-dir \"/b\"\n", NULL, MAIN, 2,
	    "duplicate 'state-dir'" },
	{ "state-dir\n", NULL, MAIN, 1, "missing value after 'state-dir'" },
	{ "state-dir \"/srv/in/state\"\n" W4 "}\n", NULL, MAIN, 2,
	    "state-dir /srv/in/state is inside watch 'w' path /srv/in" },
	/* control */
	{ "control \"ingestd.sock\"\n", NULL, MAIN, 1,
	    "control 'ingestd.sock' must be an absolute path" },
	{ "control \"" LONG_SOCKET "\"\n", NULL, MAIN, 1,
	    "control '" LONG_SOCKET "': too long for a socket path (at most "
	    "107 bytes)" },
	/* user */
	{ "user \"\"\n", NULL, MAIN, 1, "user: empty name" },
	{ "user a b\n", NULL, MAIN, 1, "unexpected 'b', expected end of line" },
	/* workers */
	{ "workers 0\n", NULL, MAIN, 1, "workers 0 is out of range (1 to 256)" },
	{ "workers 257\n", NULL, MAIN, 1,
	    "workers 257 is out of range (1 to 256)" },
	{ "workers four\n", NULL, MAIN, 1, "workers: bad number 'four'" },
	{ "workers -1\n", NULL, MAIN, 1, "workers: bad number '-1'" },
	{ "workers 99999999999999999999999\n", NULL, MAIN, 1,
	    "workers: bad number '99999999999999999999999'" },
	/* hash, log, sandbox */
	{ "hash md5\n", NULL, MAIN, 1,
	    "unknown keyword 'md5' (expected 'sha256' or 'xxh128')" },
	{ "hash sha265\n", NULL, MAIN, 1,
	    "unknown keyword 'sha265' (did you mean 'sha256'?)" },
	{ "log xml\n", NULL, MAIN, 1,
	    "unknown keyword 'xml' (expected 'text' or 'json')" },
	{ "sandbox strict\n", NULL, MAIN, 1, "unknown keyword 'strict' "
	    "(expected 'required', 'auto' or 'off')" },
	{ "sandbox \"off\"\n", NULL, MAIN, 1, "unexpected string \"off\", "
	    "expected 'required', 'auto' or 'off'" },
	/* rescan and durations */
	{ "rescan 10x\n", NULL, MAIN, 1, "rescan: bad duration '10x' "
	    "(expected N, Ns, Nm, Nh or Nd)" },
	{ "rescan s\n", NULL, MAIN, 1, "rescan: bad duration 's'" },
	{ "rescan 0s\n", NULL, MAIN, 1,
	    "rescan 0s is out of range (1s to 604800s)" },
	{ "rescan 8d\n", NULL, MAIN, 1,
	    "rescan 8d is out of range (1s to 604800s)" },
	/* watch */
	{ "watch \"w\"\n\tpath \"/srv/in\"\n", NULL, MAIN, 2,
	    "unexpected keyword 'path', expected end of line or '{'" },
	{ "watch \"a/b\" {\n}\n", NULL, MAIN, 1, "bad watch name 'a/b'" },
	{ "watch \"\" {\n}\n", NULL, MAIN, 1, "bad watch name ''" },
	{ W4 "}\n" W4 "}\n", NULL, MAIN, 6, "duplicate watch 'w' (first "
	    "defined at " },
	{ "watch \"w\" {\n\tto \"/w/{name}\"\n\tmanifest \"/m\"\n}\n", NULL,
	    MAIN, 1, "watch 'w': missing 'path'" },
	{ W3 "}\n", NULL, MAIN, 1, "watch 'w': missing 'to'" },
	{ "watch \"w\" {\n\tpath \"/srv/in\"\n\tto \"/w/{name}\"\n}\n", NULL,
	    MAIN, 1, "watch 'w': missing 'manifest'" },
	/* path */
	{ "watch \"w\" {\n\tpath \"srv/in\"\n}\n", NULL, MAIN, 2,
	    "path 'srv/in' must be an absolute path" },
	{ "watch \"w\" {\n\tpath \"/srv/./in\"\n}\n", NULL, MAIN, 2,
	    "path '/srv/./in' must not contain '.' or '..' components" },
	{ W4 "\tpath \"/srv/in2\"\n}\n", NULL, MAIN, 5,
	    "duplicate 'path' in watch 'w'" },
	/* recursive */
	{ W4 "\trecursive maybe\n}\n", NULL, MAIN, 5,
	    "unknown keyword 'maybe' (expected 'yes' or 'no')" },
	{ W4 "\trecursive yes\n\trecursive no\n}\n", NULL, MAIN, 6,
	    "duplicate 'recursive' in watch 'w'" },
	/* an error on the last line still closes the block */
	{ W4 "\trecursive }\nworkers 0\n", NULL, MAIN, 6,
	    "workers 0 is out of range" },
	/* match, ignore */
	{ W4 "\tmatch\n}\n", NULL, MAIN, 5, "missing value after 'match'" },
	{ W4 "\tmatch \"*.csv\" \"in/*.csv\"\n}\n", NULL, MAIN, 5,
	    "match 'in/*.csv' can never match" },
	{ W4 "\tignore \"\"\n}\n", NULL, MAIN, 5, "ignore: empty pattern" },
	/* complete */
	{ W4 "\tcomplete soon\n}\n", NULL, MAIN, 5, "unknown keyword 'soon' "
	    "(expected 'stability', 'sidecar' or 'close-write')" },
	{ W4 "\tcomplete stabilty 5s\n}\n", NULL, MAIN, 5,
	    "unknown keyword 'stabilty' (did you mean 'stability'?)" },
	{ W4 "\tcomplete stability 10x\n}\n", NULL, MAIN, 5,
	    "stability: bad duration '10x'" },
	{ W4 "\tcomplete stability 0\n}\n", NULL, MAIN, 5,
	    "stability 0 is out of range (1s to 86400s)" },
	{ W4 "\tcomplete stability\n}\n", NULL, MAIN, 5,
	    "missing value after 'stability'" },
	{ W4 "\tcomplete sidecar\n}\n", NULL, MAIN, 5,
	    "missing value after 'sidecar'" },
	{ W4 "\tcomplete sidecar \"ok/\"\n}\n", NULL, MAIN, 5,
	    "sidecar 'ok/': the suffix must be a non-empty part of a file "
	    "name" },
	{ W4 "\tcomplete close-write\n\tcomplete sidecar \".ok\"\n}\n", NULL,
	    MAIN, 6, "duplicate 'complete' in watch 'w'" },
	/* min-size, max-size and sizes */
	{ W4 "\tmin-size 1Q\n}\n", NULL, MAIN, 5, "min-size: bad size '1Q' "
	    "(expected bytes, or N with a K, M, G or T suffix)" },
	{ W4 "\tmax-size 1Q\n}\n", NULL, MAIN, 5, "max-size: bad size '1Q'" },
	{ W4 "\tmax-size G\n}\n", NULL, MAIN, 5, "max-size: bad size 'G'" },
	{ W4 "\tmax-size 2000000T\n}\n", NULL, MAIN, 5,
	    "max-size 2000000T is out of range" },
	{ W4 "\tmin-size 2K\n\tmax-size 1K\n}\n", NULL, MAIN, 1,
	    "watch 'w': min-size 2048 is larger than max-size 1024" },
	/* action */
	{ W4 "\taction mvoe\n}\n", NULL, MAIN, 5,
	    "unknown keyword 'mvoe' (did you mean 'move'?)" },
	{ W4 "\taction shred\n}\n", NULL, MAIN, 5, "unknown keyword 'shred' "
	    "(expected 'move', 'copy' or 'link')" },
	/* route */
	{ W4 "\troute \"*.gz\" \"/w/gz/{name}\"\n}\n", NULL, MAIN, 5,
	    "unexpected string \"/w/gz/{name}\", expected 'to'" },
	{ W4 "\troute \"*.gz\" to\n}\n", NULL, MAIN, 5,
	    "missing value after 'to'" },
	{ W4 "\troute \"gz/*\" to \"/w/gz/{name}\"\n}\n", NULL, MAIN, 5,
	    "route 'gz/*' can never match" },
	{ W4 "\troute \"*.gz\" to \"/w/gz/{nmae}\"\n}\n", NULL, MAIN, 5,
	    "route to '/w/gz/{nmae}': unknown template field" },
	{ W4 "\troute \"*.gz\" to \"gz/{name}\"\n}\n", NULL, MAIN, 5,
	    "route to 'gz/{name}' must be an absolute path template" },
	{ W4 "\troute \"*.gz\" to \"/srv/in/gz/{name}\"\n}\n", NULL, MAIN, 1,
	    "watch 'w': route to /srv/in/gz is inside watch 'w' path /srv/in" },
	/* to and templates */
	{ W3 "\tto \"warehouse/{name}\"\n}\n", NULL, MAIN, 4,
	    "to 'warehouse/{name}' must be an absolute path template" },
	{ W3 "\tto \"/w/{nam}\"\n}\n", NULL, MAIN, 4,
	    "to '/w/{nam}': unknown template field" },
	{ W3 "\tto \"/w/{name\"\n}\n", NULL, MAIN, 4,
	    "to '/w/{name': unbalanced '{' in template" },
	{ W3 "\tto \"/w/name}\"\n}\n", NULL, MAIN, 4,
	    "to '/w/name}': unbalanced '}' in template" },
	{ W3 "\tto \"/{date}/{name}\"\n}\n", NULL, MAIN, 4,
	    "to '/{date}/{name}' needs a fixed directory before its first '{' "
	    "(like \"/srv/warehouse/\")" },
	{ W3 "\tto \"/w/../{name}\"\n}\n", NULL, MAIN, 4,
	    "to '/w/../{name}' must not contain '.' or '..' components" },
	{ W3 "\tto \"/srv/in/done/{name}\"\n}\n", NULL, MAIN, 1,
	    "watch 'w': to /srv/in/done is inside watch 'w' path /srv/in" },
	{ W3 "\tto \"/srv/in/{name}\"\n}\n", NULL, MAIN, 1,
	    "watch 'w': to /srv/in is inside watch 'w' path /srv/in" },
	{ W4 "\tto \"/w/{name}\"\n}\n", NULL, MAIN, 5,
	    "duplicate 'to' in watch 'w'" },
	/* manifest */
	{ "watch \"w\" {\n\tpath \"/srv/in\"\n\tto \"/w/{name}\"\n"
	    "\tmanifest \"manifest.jsonl\"\n}\n", NULL, MAIN, 4,
	    "manifest 'manifest.jsonl' must be an absolute path template" },
	{ "watch \"w\" {\n\tpath \"/srv/in\"\n\tto \"/w/{name}\"\n"
	    "\tmanifest \"/m/{yyyyy}.jsonl\"\n}\n", NULL, MAIN, 4,
	    "manifest '/m/{yyyyy}.jsonl': unknown template field" },
	{ "watch \"w\" {\n\tpath \"/srv/in\"\n\tto \"/w/{name}\"\n"
	    "\tmanifest \"/m.jsonl\"\n}\n", NULL, MAIN, 4,
	    "manifest '/m.jsonl' needs a directory below '/' (like "
	    "\"/srv/manifests/\")" },
	{ "watch \"w\" {\n\tpath \"/srv/in\"\n\tto \"/w/{name}\"\n"
	    "\tmanifest \"/srv/in/m.jsonl\"\n}\n", NULL, MAIN, 1,
	    "watch 'w': manifest /srv/in is inside watch 'w' path /srv/in" },
	/* duplicate */
	{ W4 "\tduplicate ignore\n}\n", NULL, MAIN, 5, "unexpected keyword "
	    "'ignore', expected 'delete', 'keep' or 'move-to'" },
	{ W4 "\tduplicate kepe\n}\n", NULL, MAIN, 5,
	    "unknown keyword 'kepe' (did you mean 'keep'?)" },
	{ W4 "\tduplicate move-to \"dups\"\n}\n", NULL, MAIN, 5,
	    "move-to 'dups' must be an absolute path" },
	{ W4 "\tduplicate move-to\n}\n", NULL, MAIN, 5,
	    "missing value after 'move-to'" },
	{ W4 "\tduplicate move-to \"/srv/in/dups\"\n}\n", NULL, MAIN, 1,
	    "watch 'w': move-to /srv/in/dups is inside watch 'w' path /srv/in" },
	/* retry, backoff */
	{ W4 "\tretry 0\n}\n", NULL, MAIN, 5,
	    "retry 0 is out of range (1 to 100)" },
	{ W4 "\tretry 101 backoff 1s\n}\n", NULL, MAIN, 5,
	    "retry 101 is out of range (1 to 100)" },
	{ W4 "\tretry many\n}\n", NULL, MAIN, 5, "retry: bad number 'many'" },
	{ W4 "\tretry 3 backoff 10x\n}\n", NULL, MAIN, 5,
	    "backoff: bad duration '10x'" },
	{ W4 "\tretry 3 backoff 2d\n}\n", NULL, MAIN, 5,
	    "backoff 2d is out of range (1s to 86400s)" },
	{ W4 "\tretry 3 backof 1s\n}\n", NULL, MAIN, 5,
	    "unknown keyword 'backof' (did you mean 'backoff'?)" },
	{ W4 "\tbackoff 1s\n}\n", NULL, MAIN, 5, "unexpected keyword 'backoff'" },
	/* include */
	{ "include \"missing.conf\"\n", NULL, MAIN, 1,
	    "include '@DIR@/missing.conf': No such file or directory" },
	{ "include \"/nonexistent/dir/x.conf\"\n", NULL, MAIN, 1,
	    "include '/nonexistent/dir/x.conf': No such file or directory" },
	{ "include \"" AUX "\"\n", "include \"" MAIN "\"\n", AUX, 1,
	    "include loop: '@DIR@/" MAIN "' is already being read" },
	{ "\n\ninclude \"" MAIN "\"\n", NULL, MAIN, 3,
	    "include loop: '@DIR@/" MAIN "' is already being read" },
	{ "include \"/\"\n", NULL, MAIN, 1,
	    "include '/': not a regular file" },
	{ "include \"*\"\n", NULL, MAIN, 1,
	    "include loop: '@DIR@/" MAIN "' is already being read" },
	{ "include \"\"\n", NULL, MAIN, 1, "include: empty path" },
	{ "include\n", NULL, MAIN, 1, "missing value after 'include'" },
	{ W4 "\tinclude \"" AUX "\"\n}\n", "", MAIN, 5,
	    "'include' is not valid inside a watch block" },
	/* errors in an included file are reported there */
	{ "workers 2\ninclude \"" AUX "\"\n", "\n\nhash md4\n", AUX, 3,
	    "unknown keyword 'md4'" },
	{ "include \"" AUX "\"\n}\n", W4 "\tpath \"/x\"\n", AUX, 1,
	    "unterminated block: watch 'w' has no closing '}'" },
	/* lexer */
	{ "user \"_ingestd\n", NULL, MAIN, 1, "unterminated string" },
	{ "workers 2\nuser \"_ingestd", NULL, MAIN, 2, "unterminated string" },
	{ W4, NULL, MAIN, 1,
	    "unterminated block: watch 'w' has no closing '}'" },
	{ "\n}\n", NULL, MAIN, 2, "stray '}' (no block is open)" },
	{ W4 "}\n}\n", NULL, MAIN, 6, "stray '}' (no block is open)" },
	{ "{\n", NULL, MAIN, 1, "unterminated block: '{' has no closing '}'" },
	{ "user \"a\\qb\"\n", NULL, MAIN, 1, "unknown escape '\\q' in string" },
	{ "user \"a\tb\x01\"\n", NULL, MAIN, 1,
	    "control character 0x01 in string" },
	{ "workers 2 \x01\n", NULL, MAIN, 1, "unexpected byte 0x01" },
	{ "workers \\ 2\n", NULL, MAIN, 1, "unexpected '\\'" },
	{ "workers 2 =\n", NULL, MAIN, 1, "unexpected '='" },
	/* macros */
	{ "user $nobody\n", NULL, MAIN, 1, "undefined macro '$nobody'" },
	{ "\nuser \"x$nobody\"\n", NULL, MAIN, 2, "undefined macro '$nobody'" },
	{ "user \"a$\"\n", NULL, MAIN, 1, "'$' must start $name or ${name}" },
	{ "user \"${x\"\n", NULL, MAIN, 1, "'$' must start $name or ${name}" },
	{ "my-dir = \"/x\"\n", NULL, MAIN, 1, "bad macro name 'my-dir'" },
	{ "workers = 4\n", NULL, MAIN, 1, "'workers' is a keyword, not a macro "
	    "name" },
	{ "x =\n", NULL, MAIN, 1, "missing value after '='" },
	{ "x = 1\n$x = 2\n", NULL, MAIN, 2, "bad macro name '1'" },
	{ W4 "\tx = 1\n}\n", NULL, MAIN, 5,
	    "unexpected macro definition 'x ='" },
};

/* "FILE:LINE: MSG" with @DIR@ in MSG replaced by dir. */
static void
want_format(char *out, size_t size, const char *file, int line,
    const char *msg, const char *dir)
{
	const char *at = strstr(msg, "@DIR@");
	int n;

	if (at == NULL)
		n = snprintf(out, size, "%s:%d: %s", file, line, msg);
	else
		n = snprintf(out, size, "%s:%d: %.*s%s%s", file, line,
		    (int)(at - msg), msg, dir, at + strlen("@DIR@"));
	assert_true(n > 0 && (size_t)n < size);
}

static void
test_every_error_is_reported_with_file_and_line(void **state)
{
	struct tmpdir t;
	struct config *conf;
	char want[2 * PATH_MAX + 512], path[PATH_MAX], *errs;
	size_t i;

	tmpdir_make(&t);
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];

		file_write(t.path, MAIN, c->text);
		if (c->aux != NULL)
			file_write(t.path, AUX, c->aux);
		errs = NULL;
		conf = load_file(t.path, MAIN, NULL, 0, &errs);
		path_in(path, t.path, c->file);
		want_format(want, sizeof(want), path, c->line, c->msg, t.path);
		if (conf != NULL || strstr(errs, want) == NULL)
			print_error("case %zu: %s\nwant \"%s\"\ngot  \"%s\"\n",
			    i, c->text, want, errs);
		assert_null(conf);
		assert_non_null(strstr(errs, want));
		free(errs);
		if (c->aux != NULL) {
			path_in(path, t.path, AUX);
			assert_int_equal(unlink(path), 0);
		}
	}
	tmpdir_remove(&t);
}

static void
test_several_errors_in_one_run(void **state)
{
	static const char *want[] = {
		":1: workers 0 is out of range",
		":2: unterminated string",
		":3: unknown keyword 'md5'",
		":4: stray '}'",
		":6: path 'rel' must be an absolute path",
		":7: unknown keyword 'recursiv' (did you mean 'recursive'?)",
		":8: to '/w/{bad}': unknown template field",
		":5: watch 'x': missing 'manifest'",
	};
	struct tmpdir t;
	char *errs = NULL, *p;
	size_t i;

	tmpdir_make(&t);
	file_write(t.path, MAIN,
	    "workers 0\n"
	    "user \"abc\n"
	    "hash md5\n"
	    "}\n"
	    "watch \"x\" {\n"
	    "\tpath \"rel\"\n"
	    "\trecursiv no\n"
	    "\tto \"/w/{bad}\"\n"
	    "}\n"
	    "rescan 1h\n");
	assert_null(load_file(t.path, MAIN, NULL, 0, &errs));
	p = errs;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if ((p = strstr(p, want[i])) == NULL)
			print_error("missing or out of order: %s\n%s", want[i],
			    errs);
		assert_non_null(p);
		p = strchr(p, '\n');
		assert_non_null(p);
	}
	free(errs);
	tmpdir_remove(&t);
}

static void
test_errors_stop_after_a_few_dozen(void **state)
{
	struct tmpdir t;
	FILE *fp;
	char *text = NULL, *errs = NULL;
	size_t len;
	size_t lines = 0;
	const char *p;
	int i;

	tmpdir_make(&t);
	assert_non_null(fp = open_memstream(&text, &len));
	for (i = 0; i < 1000; i++)
		fputs("bogus 1\n", fp);
	assert_int_equal(fclose(fp), 0);
	file_write(t.path, MAIN, text);
	free(text);
	assert_null(load_file(t.path, MAIN, NULL, 0, &errs));
	for (p = errs; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	assert_true(lines >= 10 && lines <= 50);
	assert_non_null(strstr(errs, "too many errors"));
	free(errs);
	tmpdir_remove(&t);
}

static void
test_missing_main_file_is_reported(void **state)
{
	struct tmpdir t;
	char want[PATH_MAX + 64], path[PATH_MAX], *errs = NULL;

	tmpdir_make(&t);
	assert_null(load_file(t.path, "nope.conf", NULL, 0, &errs));
	path_in(path, t.path, "nope.conf");
	snprintf(want, sizeof(want), "%s:0: cannot open: No such file or "
	    "directory\n", path);
	assert_string_equal(errs, want);
	free(errs);
	/* a NULL stream is allowed: errors are only counted */
	path_in(path, t.path, "nope.conf");
	assert_null(config_load(path, NULL, 0, NULL));
	tmpdir_remove(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_are_the_documented_ones),
		cmocka_unit_test(test_empty_file_gives_the_defaults),
		cmocka_unit_test(test_defaults_print_every_setting),
		cmocka_unit_test(test_watch_defaults_are_spelled_out),
		cmocka_unit_test(test_design_example_loads_as_written),
		cmocka_unit_test(test_design_example_round_trips),
		cmocka_unit_test(test_defaults_round_trip),
		cmocka_unit_test(test_every_alternative_value_round_trips),
		cmocka_unit_test(test_durations_and_sizes_take_their_units),
		cmocka_unit_test(test_macros_expand_in_strings_and_words),
		cmocka_unit_test(test_later_macro_definition_wins),
		cmocka_unit_test(test_define_overrides_the_file),
		cmocka_unit_test(test_bad_defines_are_reported),
		cmocka_unit_test(test_include_glob_reads_matches_in_sorted_order),
		cmocka_unit_test(test_include_of_a_file_that_ends_without_newline),
		cmocka_unit_test(test_include_depth_is_limited),
		cmocka_unit_test(test_two_watches_keep_their_own_rules),
		cmocka_unit_test(test_overlapping_watch_paths_are_rejected),
		cmocka_unit_test(test_link_with_close_write_is_fine),
		cmocka_unit_test(test_layout_variants_are_accepted),
		cmocka_unit_test(test_watch_equal_notices_every_field),
		cmocka_unit_test(test_every_error_is_reported_with_file_and_line),
		cmocka_unit_test(test_several_errors_in_one_run),
		cmocka_unit_test(test_errors_stop_after_a_few_dozen),
		cmocka_unit_test(test_missing_main_file_is_reported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
