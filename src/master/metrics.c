/* master: the metrics model: counters, the duration histogram, the rate ring, and the Prometheus text rendering. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "metrics.h"
#include "util.h"

#define NS		1000000000LL
#define RING_SECS	3600	/* longest rate window, one bucket a second */

/*
 * Discovery to MANIFESTED includes the completeness wait (stability 10s by
 * default), so the buckets reach from sub-second (close-write, small files)
 * to an hour (large copies behind a long queue).
 */
static const double duration_bounds[] = {
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600,
};
#define NBOUNDS	(sizeof(duration_bounds) / sizeof(duration_bounds[0]))

/* The final states, as `state` label values (Prometheus style: lower case). */
static const struct {
	int		 state;
	const char	*label;
} final_states[] = {
	{ ST_MANIFESTED,	"manifested" },
	{ ST_SKIPPED_DUPLICATE,	"skipped_duplicate" },
	{ ST_REJECTED,		"rejected" },
	{ ST_FAILED,		"failed" },
};
#define NFINAL	(sizeof(final_states) / sizeof(final_states[0]))

static const char *const rescan_labels[RESCAN_NREASONS] = {
	"start", "periodic", "overflow", "other",
};

struct ring_slot {
	int64_t		 sec;		/* monotonic second it counts, -1: unused */
	uint64_t	 files;
	uint64_t	 bytes;
};

static struct {
	struct metrics_watch	**watches;	/* in order of first appearance */
	size_t			  nwatches;
	uint64_t		  hash_bytes;
	uint64_t		  buckets[NBOUNDS + 1];	/* not cumulative; last: +Inf */
	uint64_t		  duration_count;
	double			  duration_sum;
	struct ring_slot	  ring[RING_SECS];
	int64_t			  start_sec;	/* monotonic, for short uptimes */
	int64_t			(*mono_ns)(void);
	int64_t			(*wall_ns)(void);
} m = { .mono_ns = now_monotonic_ns, .wall_ns = now_realtime_ns };

void
metrics_set_clock(int64_t (*monotonic_ns)(void), int64_t (*realtime_ns)(void))
{
	m.mono_ns = monotonic_ns != NULL ? monotonic_ns : now_monotonic_ns;
	m.wall_ns = realtime_ns != NULL ? realtime_ns : now_realtime_ns;
}

void
metrics_free(void)
{
	size_t i;

	for (i = 0; i < m.nwatches; i++) {
		free(m.watches[i]->name);
		free(m.watches[i]);
	}
	free(m.watches);
	m.watches = NULL;
	m.nwatches = 0;
}

void
metrics_init(void)
{
	size_t i;

	metrics_free();
	m.hash_bytes = 0;
	memset(m.buckets, 0, sizeof(m.buckets));
	m.duration_count = 0;
	m.duration_sum = 0;
	for (i = 0; i < RING_SECS; i++) {
		m.ring[i].sec = -1;
		m.ring[i].files = m.ring[i].bytes = 0;
	}
	m.start_sec = m.mono_ns() / NS;
}

/* A few watches: a linear search is cheaper than keeping a table. */
static struct metrics_watch *
watch_lookup(const char *name)
{
	size_t i;

	for (i = 0; i < m.nwatches; i++)
		if (strcmp(m.watches[i]->name, name) == 0)
			return m.watches[i];
	return NULL;
}

static struct metrics_watch *
watch_get(const char *name)
{
	struct metrics_watch *w;

	if ((w = watch_lookup(name)) != NULL)
		return w;
	w = xcalloc(1, sizeof(*w));
	w->name = xstrdup(name);
	m.watches = xrealloc(m.watches, (m.nwatches + 1) * sizeof(*m.watches));
	m.watches[m.nwatches++] = w;
	return w;
}

const struct metrics_watch *
metrics_watch_get(const char *name)
{
	return name != NULL ? watch_lookup(name) : NULL;
}

void
metrics_watch_add(const char *watch)
{
	watch_get(watch);
}

static void
duration_observe(double secs)
{
	size_t i;

	for (i = 0; i < NBOUNDS && secs > duration_bounds[i]; i++)
		;
	m.buckets[i]++;
	m.duration_count++;
	m.duration_sum += secs;
}

/* The slot of the current second, emptied if it last held an older one. */
static struct ring_slot *
ring_now(void)
{
	int64_t sec = m.mono_ns() / NS;
	struct ring_slot *s = &m.ring[sec % RING_SECS];

	if (s->sec != sec) {
		s->sec = sec;
		s->files = s->bytes = 0;
	}
	return s;
}

void
metrics_file_done(const char *watch, int state, int64_t bytes,
    int64_t discovered_ns)
{
	struct metrics_watch *w = watch_get(watch);
	struct ring_slot *s;
	int64_t took;

	if (state < 0 || state >= ST_END)
		return;
	w->files[state]++;
	if (state != ST_MANIFESTED)
		return;
	if (bytes < 0)
		bytes = 0;
	w->bytes += (uint64_t)bytes;
	took = m.wall_ns() - discovered_ns;
	duration_observe(took > 0 ? (double)took / NS : 0);
	s = ring_now();
	s->files++;
	s->bytes += (uint64_t)bytes;
}

void
metrics_hash_bytes(uint64_t n)
{
	m.hash_bytes += n;
}

void
metrics_overflow(const char *watch)
{
	watch_get(watch)->overflows++;
}

void
metrics_rescan(const char *watch, const char *reason)
{
	struct metrics_watch *w = watch_get(watch);
	int r;

	for (r = 0; r < RESCAN_OTHER; r++)
		if (strcmp(reason, rescan_labels[r]) == 0)
			break;
	w->rescans++;
	w->rescans_by[r]++;
	w->last_rescan_ns = m.wall_ns();
}

void
metrics_watch_event(const char *watch)
{
	watch_get(watch)->last_event_ns = m.wall_ns();
}

int
metrics_rate(int window_s, double *files_per_s, double *bytes_per_s)
{
	int64_t now = m.mono_ns() / NS, span;
	uint64_t files = 0, bytes = 0;
	size_t i;

	if (window_s < 1 || window_s > RING_SECS)
		return -1;
	for (i = 0; i < RING_SECS; i++) {
		if (m.ring[i].sec >= 0 && m.ring[i].sec > now - window_s &&
		    m.ring[i].sec <= now) {
			files += m.ring[i].files;
			bytes += m.ring[i].bytes;
		}
	}
	span = now - m.start_sec + 1;
	if (span > window_s)
		span = window_s;
	if (span < 1)
		span = 1;
	*files_per_s = (double)files / (double)span;
	*bytes_per_s = (double)bytes / (double)span;
	return 0;
}

/* --- rendering --- */

static void
family(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void
label_value(struct buf *b, const char *v)
{
	buf_addc(b, '"');
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			buf_addc(b, '\\');
		if (*v == '\n') {
			buf_adds(b, "\\n");
			continue;
		}
		buf_addc(b, *v);
	}
	buf_addc(b, '"');
}

/* name{watch="W"[,key="V"]} */
static void
sample_head(struct buf *b, const char *name, const char *watch,
    const char *key, const char *value)
{
	buf_printf(b, "%s{watch=", name);
	label_value(b, watch);
	if (key != NULL) {
		buf_printf(b, ",%s=", key);
		label_value(b, value);
	}
	buf_adds(b, "} ");
}

static void
render_seconds(struct buf *b, const char *name, int64_t ns)
{
	buf_printf(b, "%s %lld.%03lld\n", name, (long long)(ns / NS),
	    (long long)(ns % NS / 1000000));
}

static void
render_watch_families(struct buf *b)
{
	const struct metrics_watch *w;
	size_t i, k;

	family(b, "ingestd_files_total", "counter",
	    "Files that reached a final state, by watch and state.");
	for (i = 0; i < m.nwatches; i++) {
		w = m.watches[i];
		for (k = 0; k < NFINAL; k++) {
			sample_head(b, "ingestd_files_total", w->name, "state",
			    final_states[k].label);
			buf_printf(b, "%llu\n", (unsigned long long)
			    w->files[final_states[k].state]);
		}
	}
	family(b, "ingestd_bytes_total", "counter",
	    "Bytes of the files ingested (that reached MANIFESTED), by watch.");
	for (i = 0; i < m.nwatches; i++) {
		sample_head(b, "ingestd_bytes_total", m.watches[i]->name, NULL,
		    NULL);
		buf_printf(b, "%llu\n", (unsigned long long)m.watches[i]->bytes);
	}
	family(b, "ingestd_inotify_overflows_total", "counter",
	    "Overflows of the inotify queue (shared: counted on every watch).");
	for (i = 0; i < m.nwatches; i++) {
		sample_head(b, "ingestd_inotify_overflows_total",
		    m.watches[i]->name, NULL, NULL);
		buf_printf(b, "%llu\n",
		    (unsigned long long)m.watches[i]->overflows);
	}
	family(b, "ingestd_rescans_total", "counter",
	    "Walks of a watch's tree, by watch and reason.");
	for (i = 0; i < m.nwatches; i++) {
		for (k = 0; k < RESCAN_NREASONS; k++) {
			sample_head(b, "ingestd_rescans_total",
			    m.watches[i]->name, "reason", rescan_labels[k]);
			buf_printf(b, "%llu\n", (unsigned long long)
			    m.watches[i]->rescans_by[k]);
		}
	}
}

static void
render_histogram(struct buf *b)
{
	static const char name[] = "ingestd_ingest_duration_seconds";
	uint64_t cum = 0;
	size_t i;

	family(b, name, "histogram",
	    "Seconds from discovery to MANIFESTED of the files ingested.");
	for (i = 0; i < NBOUNDS; i++) {
		cum += m.buckets[i];
		buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name,
		    duration_bounds[i], (unsigned long long)cum);
	}
	cum += m.buckets[NBOUNDS];
	buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name,
	    (unsigned long long)cum);
	buf_printf(b, "%s_sum %.6f\n", name, m.duration_sum);
	buf_printf(b, "%s_count %llu\n", name,
	    (unsigned long long)m.duration_count);
}

void
metrics_render(struct buf *b, const struct metrics_gauges *g)
{
	family(b, "ingestd_build_info", "gauge",
	    "The version of ingestd running; the value is always 1.");
	buf_adds(b, "ingestd_build_info{version=");
	label_value(b, g->version != NULL ? g->version : "");
	buf_adds(b, "} 1\n");
	family(b, "ingestd_start_time_seconds", "gauge",
	    "When the daemon started, in seconds since the Unix epoch.");
	render_seconds(b, "ingestd_start_time_seconds", g->start_ns);
	render_watch_families(b);
	family(b, "ingestd_queue_depth", "gauge",
	    "Files complete and waiting for a worker.");
	buf_printf(b, "ingestd_queue_depth %lld\n", (long long)g->queue_depth);
	render_histogram(b);
	family(b, "ingestd_hash_bytes_total", "counter",
	    "Bytes the workers read to hash files.");
	buf_printf(b, "ingestd_hash_bytes_total %llu\n",
	    (unsigned long long)m.hash_bytes);
	family(b, "ingestd_worker_restarts_total", "counter",
	    "Workers started again after one exited or was killed.");
	buf_printf(b, "ingestd_worker_restarts_total %lld\n",
	    (long long)g->worker_restarts);
	family(b, "ingestd_reload_success", "gauge",
	    "1 if the last configuration reload (or the start) succeeded.");
	buf_printf(b, "ingestd_reload_success %d\n", g->reload_ok ? 1 : 0);
	family(b, "ingestd_reload_timestamp_seconds", "gauge",
	    "When the last reload was tried (or the start), since the epoch.");
	render_seconds(b, "ingestd_reload_timestamp_seconds", g->reload_ns);
}
