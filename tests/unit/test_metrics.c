/* unit test: master's metrics model: Prometheus text rendering, the duration histogram, rates over windows (with an injected clock). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "metrics.h"

#define NS	1000000000LL

static int64_t fake_mono, fake_wall;

static int64_t
mono_now(void)
{
	return fake_mono;
}

static int64_t
wall_now(void)
{
	return fake_wall;
}

static int
setup(void **state)
{
	fake_mono = 1000 * NS;
	fake_wall = 1800000000 * NS;
	metrics_set_clock(mono_now, wall_now);
	metrics_init();
	return 0;
}

static int
teardown(void **state)
{
	metrics_free();
	metrics_set_clock(NULL, NULL);
	return 0;
}

static char *
render(void)
{
	struct metrics_gauges g = {
		.version = "1.2.3",
		.start_ns = 1700000000 * NS + 250000000,
		.queue_depth = 7,
		.worker_restarts = 2,
		.reload_ok = 0,
		.reload_ns = 1700000100 * NS,
	};
	struct buf b;

	buf_init(&b);
	metrics_render(&b, &g);
	return buf_release(&b);
}

/* The value of the sample line that starts with "prefix " (exactly). */
static double
sample(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *p;

	for (p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'),
	    p = p ? p + 1 : NULL) {
		if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	}
	print_error("no sample \"%s\" in:\n%s", prefix, text);
	fail();
	return -1;
}

/* The family a sample belongs to: its name, less a histogram suffix. */
static void
family_of(const char *line, char *out, size_t size)
{
	static const char *suffixes[] = { "_bucket", "_sum", "_count" };
	size_t n = strcspn(line, "{ "), i, s;

	assert_true(n < size);
	memcpy(out, line, n);
	out[n] = '\0';
	for (i = 0; i < 3; i++) {
		s = strlen(suffixes[i]);
		if (n > s && strcmp(out + n - s, suffixes[i]) == 0 &&
		    strstr(line, "ingestd_ingest_duration_seconds") == line)
			out[n - s] = '\0';
	}
}

static void
test_every_sample_has_help_and_type(void **state)
{
	char *text, *copy, *line, *save = NULL, fam[128], want[256];
	int samples = 0;

	metrics_watch_add("main");
	text = render();
	copy = strdup(text);
	assert_non_null(copy);
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		samples++;
		family_of(line, fam, sizeof(fam));
		assert_int_equal(strncmp(fam, "ingestd_", 8), 0);
		snprintf(want, sizeof(want), "# HELP %s ", fam);
		if (strstr(text, want) == NULL)
			print_error("no HELP for %s\n", fam);
		assert_non_null(strstr(text, want));
		snprintf(want, sizeof(want), "# TYPE %s ", fam);
		assert_non_null(strstr(text, want));
	}
	assert_true(samples > 20);
	free(copy);
	free(text);
}

static void
test_families_and_types_are_the_documented_ones(void **state)
{
	static const char *const want[] = {
		"# TYPE ingestd_build_info gauge\n",
		"# TYPE ingestd_start_time_seconds gauge\n",
		"# TYPE ingestd_files_total counter\n",
		"# TYPE ingestd_bytes_total counter\n",
		"# TYPE ingestd_queue_depth gauge\n",
		"# TYPE ingestd_ingest_duration_seconds histogram\n",
		"# TYPE ingestd_hash_bytes_total counter\n",
		"# TYPE ingestd_inotify_overflows_total counter\n",
		"# TYPE ingestd_rescans_total counter\n",
		"# TYPE ingestd_worker_restarts_total counter\n",
		"# TYPE ingestd_reload_success gauge\n",
		"# TYPE ingestd_reload_timestamp_seconds gauge\n",
	};
	char *text;
	size_t i;

	text = render();
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (strstr(text, want[i]) == NULL)
			print_error("missing %s", want[i]);
		assert_non_null(strstr(text, want[i]));
	}
	assert_non_null(strstr(text, "ingestd_build_info{version=\"1.2.3\"} 1\n"));
	assert_non_null(strstr(text, "ingestd_start_time_seconds "
	    "1700000000.250\n"));
	assert_non_null(strstr(text, "ingestd_queue_depth 7\n"));
	assert_non_null(strstr(text, "ingestd_worker_restarts_total 2\n"));
	assert_non_null(strstr(text, "ingestd_reload_success 0\n"));
	assert_non_null(strstr(text, "ingestd_reload_timestamp_seconds "
	    "1700000100.000\n"));
	free(text);
}

static void
test_files_count_by_watch_and_final_state(void **state)
{
	const struct metrics_watch *w;
	char *text;

	metrics_watch_add("a");
	metrics_file_done("a", ST_MANIFESTED, 100, fake_wall);
	metrics_file_done("a", ST_MANIFESTED, 23, fake_wall);
	metrics_file_done("a", ST_SKIPPED_DUPLICATE, 999, fake_wall);
	metrics_file_done("b", ST_REJECTED, 0, 0);
	metrics_file_done("b", ST_FAILED, 0, 0);
	metrics_file_done("b", ST_END, 0, 0);		/* ignored */
	metrics_hash_bytes(4096);
	metrics_hash_bytes(1);

	text = render();
	assert_true(sample(text, "ingestd_files_total{watch=\"a\","
	    "state=\"manifested\"}") == 2);
	assert_true(sample(text, "ingestd_files_total{watch=\"a\","
	    "state=\"skipped_duplicate\"}") == 1);
	assert_true(sample(text, "ingestd_files_total{watch=\"a\","
	    "state=\"rejected\"}") == 0);
	assert_true(sample(text, "ingestd_files_total{watch=\"b\","
	    "state=\"rejected\"}") == 1);
	assert_true(sample(text, "ingestd_files_total{watch=\"b\","
	    "state=\"failed\"}") == 1);
	/* only ingested bytes count, a duplicate's do not */
	assert_true(sample(text, "ingestd_bytes_total{watch=\"a\"}") == 123);
	assert_true(sample(text, "ingestd_bytes_total{watch=\"b\"}") == 0);
	assert_true(sample(text, "ingestd_hash_bytes_total") == 4097);
	free(text);

	w = metrics_watch_get("a");
	assert_non_null(w);
	assert_int_equal(w->files[ST_MANIFESTED], 2);
	assert_int_equal(w->bytes, 123);
	assert_null(metrics_watch_get("c"));
	assert_null(metrics_watch_get(NULL));
}

static void
test_histogram_buckets_are_cumulative(void **state)
{
	static const char h[] = "ingestd_ingest_duration_seconds";
	char *text, name[128];
	int64_t took[] = { NS / 20, NS * 3 / 10, 7 * NS, 5000 * NS, -NS };
	size_t i;

	for (i = 0; i < sizeof(took) / sizeof(took[0]); i++)
		metrics_file_done("w", ST_MANIFESTED, 1, fake_wall - took[i]);
	text = render();
#define BUCKET(le)	(snprintf(name, sizeof(name), "%s_bucket{le=\"%s\"}", \
			    h, le), sample(text, name))
	/* a negative duration (clock step) counts as 0 */
	assert_true(BUCKET("0.1") == 2);
	assert_true(BUCKET("0.25") == 2);
	assert_true(BUCKET("0.5") == 3);
	assert_true(BUCKET("5") == 3);
	assert_true(BUCKET("10") == 4);
	assert_true(BUCKET("3600") == 4);
	assert_true(BUCKET("+Inf") == 5);
#undef BUCKET
	snprintf(name, sizeof(name), "%s_count", h);
	assert_true(sample(text, name) == 5);
	snprintf(name, sizeof(name), "%s_sum", h);
	assert_true(sample(text, name) > 5007.34 &&
	    sample(text, name) < 5007.36);
	/* buckets never decrease from one le to the next */
	{
		const char *p = text;
		double prev = -1, v;

		while ((p = strstr(p, "_bucket{le=")) != NULL) {
			p = strchr(p, ' ');
			v = strtod(p, NULL);
			assert_true(v >= prev);
			prev = v;
		}
	}
	free(text);
}

static void
test_rates_over_the_status_windows(void **state)
{
	double fps, bps;
	int i;

	/* one 1000-byte file a second for 600 s, from t=1000 to t=1599 */
	for (i = 0; i < 600; i++) {
		fake_mono = (1000 + i) * NS + NS / 2;
		metrics_file_done("w", ST_MANIFESTED, 1000, fake_wall);
	}
	metrics_file_done("w", ST_REJECTED, 0, 0);	/* not a rate */
	assert_int_equal(metrics_rate(60, &fps, &bps), 0);
	assert_true(fps == 1.0);
	assert_true(bps == 1000.0);
	assert_int_equal(metrics_rate(300, &fps, &bps), 0);
	assert_true(fps == 1.0);
	/* up 600 s only: the hour's rate is over those 600 s */
	assert_int_equal(metrics_rate(3600, &fps, &bps), 0);
	assert_true(fps == 1.0);

	/* two quiet minutes later */
	fake_mono = 1719 * NS;
	assert_int_equal(metrics_rate(60, &fps, &bps), 0);
	assert_true(fps == 0.0 && bps == 0.0);
	assert_int_equal(metrics_rate(300, &fps, &bps), 0);
	assert_true(fps > 0.5999 && fps < 0.6001);	/* 180 in 300 s */
	assert_int_equal(metrics_rate(3600, &fps, &bps), 0);
	assert_true(fps > 600.0 / 720 - 1e-9 && fps < 600.0 / 720 + 1e-9);

	/* two hours later the ring has forgotten everything */
	fake_mono = (1719 + 7200) * NS;
	assert_int_equal(metrics_rate(3600, &fps, &bps), 0);
	assert_true(fps == 0.0 && bps == 0.0);

	assert_int_equal(metrics_rate(0, &fps, &bps), -1);
	assert_int_equal(metrics_rate(3601, &fps, &bps), -1);
}

static void
test_watch_health_for_status(void **state)
{
	const struct metrics_watch *w;
	char *text;

	metrics_watch_add("in");
	w = metrics_watch_get("in");
	assert_non_null(w);
	assert_int_equal(w->last_event_ns, 0);
	assert_int_equal(w->last_rescan_ns, 0);

	metrics_rescan("in", "start");
	fake_wall += 5 * NS;
	metrics_rescan("in", "periodic");
	metrics_rescan("in", "overflow");
	metrics_rescan("in", "by hand");
	metrics_overflow("in");
	fake_wall += NS;
	metrics_watch_event("in");

	w = metrics_watch_get("in");
	assert_int_equal(w->rescans, 4);
	assert_int_equal(w->rescans_by[RESCAN_START], 1);
	assert_int_equal(w->rescans_by[RESCAN_PERIODIC], 1);
	assert_int_equal(w->rescans_by[RESCAN_OVERFLOW], 1);
	assert_int_equal(w->rescans_by[RESCAN_OTHER], 1);
	assert_int_equal(w->overflows, 1);
	assert_true(w->last_rescan_ns == fake_wall - NS);
	assert_true(w->last_event_ns == fake_wall);

	text = render();
	assert_true(sample(text, "ingestd_rescans_total{watch=\"in\","
	    "reason=\"periodic\"}") == 1);
	assert_true(sample(text, "ingestd_inotify_overflows_total"
	    "{watch=\"in\"}") == 1);
	free(text);
}

static void
test_label_values_are_escaped(void **state)
{
	char *text;

	metrics_watch_add("a\"b\\c\nd");
	text = render();
	assert_non_null(strstr(text,
	    "ingestd_bytes_total{watch=\"a\\\"b\\\\c\\nd\"} 0\n"));
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_every_sample_has_help_and_type, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_families_and_types_are_the_documented_ones, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_files_count_by_watch_and_final_state, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_histogram_buckets_are_cumulative, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_rates_over_the_status_windows, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_watch_health_for_status, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_label_values_are_escaped, setup, teardown),
	};

	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
