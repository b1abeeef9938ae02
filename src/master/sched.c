/* master: owns every file's lifecycle: discovery, completeness, dispatch, and the durable commit order. */
#include <sys/resource.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "buf.h"
#include "htab.h"
#include "ingestd.h"
#include "log.h"
#include "manifest.h"
#include "metrics.h"
#include "pool.h"
#include "privop.h"
#include "sched.h"
#include "template.h"
#include "util.h"
#include "watch.h"

#define NS	1000000000LL

TAILQ_HEAD(jobq, job);

static struct {
	struct jobq	 runq;
	int		 live;		/* jobs in the table that are not parked */
	int		 scan_done;	/* --once: stop at incomplete files */
	struct htab	 dry_seen;	/* --dry-run: content decided this run */
	struct jobq	 newq;		/* new arrivals waiting for their rows */
	struct job	**proc;		/* PROCESSING not yet written */
	size_t		 nproc, capproc;
	struct event	*proc_ev;
	struct event	*insert_ev;
	struct jobq	 batchq;	/* results waiting for the group commit */
	size_t		 batch_n;
	size_t		 batch_max;	/* batch_limit() */
	struct event	*batch_ev;
} s;

static void	job_check(struct job *);
static void	job_enqueue(struct job *, int front);
static void	job_retry(struct job *, const char *why);
static void	job_publish(struct job *);
static void	job_moved(struct job *);
static void	job_manifest(struct job *);
static void	job_finish(struct job *);
static void	job_batch_add(struct job *);
static void	job_processing_forget(struct job *);
static void	job_processing_write(struct job *);
static void	batch_schedule(void);
static char	*job_manifest_rel(int64_t, const struct job *, const char **);
static void	 job_row_failed(struct job *, const char *);

/* The rules the job runs under. */
static const struct watch_conf *
jc(const struct job *j)
{
	return j->r->c;
}

static int64_t
stat_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * NS + ts->tv_nsec;
}

static int
same_signature(const struct fsig *a, const struct fsig *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	    a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

static void
fsig_of(struct fsig *sig, const struct stat *st)
{
	sig->dev = st->st_dev;
	sig->ino = st->st_ino;
	sig->size = st->st_size;
	sig->mtime_ns = stat_ns(&st->st_mtim);
	sig->ctime_ns = stat_ns(&st->st_ctim);
}

static const char *
job_base(const struct job *j)
{
	const char *slash = strrchr(j->rel, '/');

	return slash ? slash + 1 : j->rel;
}

/* j's hashes ("" when it has none yet). */
static const char *
job_sha256(const struct job *j)
{
	return j->h != NULL ? j->h->sha256 : "";
}

static const char *
job_xxh128(const struct job *j)
{
	return j->h != NULL ? j->h->xxh128 : "";
}

static const char *
job_sc_sha256(const struct job *j)
{
	return j->h != NULL ? j->h->sc_sha256 : "";
}

/* j's hashes, to be filled in. */
static struct jhash *
job_hashes(struct job *j)
{
	if (j->h == NULL)
		j->h = xcalloc(1, sizeof(*j->h));
	return j->h;
}

/* dir/name into b (no printf: it runs a few times per file) */
static void
path_add(struct buf *b, const char *dir, const char *name)
{
	buf_adds(b, dir);
	buf_addc(b, '/');
	buf_adds(b, name);
}

static char *
job_source_path(const struct job *j)
{
	struct buf b;

	buf_init(&b);
	path_add(&b, j->w->path, j->rel);
	return buf_release(&b);
}

/* Absolute source path for log records (valid until the next call). */
static const char *
job_logpath(const struct job *j)
{
	static struct buf b;

	buf_reset(&b);
	path_add(&b, j->w->path, j->rel);
	return b.data;
}

static char *
job_dest_path(const struct job *j)
{
	struct buf b;

	buf_init(&b);
	path_add(&b, j->droot->path, j->dest);
	return buf_release(&b);
}

/* --- in-memory table --- */

static struct job *
job_new(struct watch *w, const char *rel)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->w = w;
	j->r = w->rules;
	wrules_ref(j->r);
	j->droot = &j->r->to;
	j->rel = xstrdup(rel);
	j->srcfd = j->tmpfd = j->destdirfd = -1;
	j->first_seen_ns = now_realtime_ns();
	j->state = ST_DISCOVERED;
	j->sc_size = -1;
	htab_put(&w->jobs, rel, j);
	s.live++;
	return j;
}

static void
job_close_fds(struct job *j)
{
	if (j->srcfd != -1)
		close(j->srcfd);
	if (j->tmpfd != -1)
		close(j->tmpfd);
	if (j->destdirfd != -1)
		close(j->destdirfd);
	j->srcfd = j->tmpfd = j->destdirfd = -1;
}

/* --once ends when nothing is left to look at. */
static void
job_check_idle(void)
{
	if (env->conf->once && sched_idle())
		ingestd_idle();
}

static void
job_free(struct job *j)
{
	if (htab_get(&j->w->jobs, j->rel) == j)
		htab_del(&j->w->jobs, j->rel);
	if (j->queued)
		TAILQ_REMOVE(&s.runq, j, entry);
	if (j->batched) {
		TAILQ_REMOVE(&s.batchq, j, entry);
		s.batch_n--;
	}
	if (j->inserting)
		TAILQ_REMOVE(&s.newq, j, entry);
	if (j->proc_pending)
		job_processing_forget(j);
	if (!j->parked)
		s.live--;
	if (j->timer)
		event_free(j->timer);
	job_close_fds(j);
	wrules_unref(j->r);
	free(j->rel);
	free(j->dest);
	free(j->h);
	free(j);
	job_check_idle();
}

static void
job_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct job *j = arg;

	if (j->state == ST_DISCOVERED)
		job_check(j);
	else if (j->state == ST_RETRY_PENDING)
		job_enqueue(j, 0);
	else if (j->state == ST_MOVED)
		job_manifest(j);
}

static void
job_arm(struct job *j, int64_t delay_ns)
{
	struct timeval tv;

	if (delay_ns < 0)
		delay_ns = 0;
	tv.tv_sec = (time_t)(delay_ns / NS);
	tv.tv_usec = (suseconds_t)(delay_ns % NS / 1000);
	if (j->timer == NULL)
		j->timer = evtimer_new(env->base, job_timer_cb, j);
	evtimer_add(j->timer, &tv);
}

/* Terminal, but the source stays in staging: rescans must leave it be. */
static void
job_park(struct job *j, int state)
{
	job_close_fds(j);
	if (j->timer)
		evtimer_del(j->timer);
	j->state = state;
	j->worker = NULL;
	if (!j->parked) {
		j->parked = 1;
		s.live--;
	}
	job_check_idle();
}

/*
 * Done: the source is gone from staging, nothing to remember.  If another
 * file took its name before the source could go (the producer dropped the
 * same name again, and its events found this job on its way), that file
 * is looked at now, not at the next rescan: its job is made before this
 * one leaves, so --once does not stop in between.
 */
static void
job_finish(struct job *j)
{
	struct watch *w = j->w;
	char *rel;

	if (!j->name_taken) {
		job_free(j);
		return;
	}
	rel = xstrdup(j->rel);
	if (htab_get(&w->jobs, rel) == j)
		htab_del(&w->jobs, rel);
	sched_notice(w, rel, 0);
	job_free(j);
	free(rel);
}

/* --- name rules --- */

/* Never a candidate: hidden (rsync temporaries), temp suffixes, globs. */
static int
name_ignored(const struct watch_conf *c, const char *name)
{
	static const char *suffixes[] = { ".tmp", ".part", ".swp" };
	size_t i;

	if (name[0] == '.')
		return 1;
	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (str_has_suffix(name, suffixes[i]))
			return 1;
	for (i = 0; i < c->nignore; i++)
		if (fnmatch(c->ignore[i], name, 0) == 0)
			return 1;
	if (c->nmatch == 0)
		return 0;
	for (i = 0; i < c->nmatch; i++)
		if (fnmatch(c->match[i], name, 0) == 0)
			return 0;
	return 1;
}

static int
is_sidecar(const struct watch_conf *c, const char *name)
{
	return c->complete == COMPLETE_SIDECAR &&
	    str_has_suffix(name, c->sidecar_suffix) &&
	    strlen(name) > strlen(c->sidecar_suffix);
}

/* --- discovery and completeness --- */

static void
rec_from_job(struct file_rec *r, const struct job *j, char *src)
{
	memset(r, 0, sizeof(*r));
	r->id = j->id;
	r->watch = j->w->name;
	r->source_path = src;
	r->relpath = j->rel;
	r->device = j->sig.dev;
	r->inode = j->sig.ino;
	r->size = j->sig.size;
	r->mtime_ns = j->sig.mtime_ns;
	r->ctime_ns = j->sig.ctime_ns;
	r->attempts = j->attempts;
}

static void
job_reject(struct job *j, const char *why)
{
	struct file_rec r;
	char *src = job_source_path(j);

	job_processing_write(j);
	if (!env->conf->dry_run) {
		if (j->id == 0) {
			rec_from_job(&r, j, src);
			r.state = ST_REJECTED;
			if (db_file_insert(env->db, &r, j->first_seen_ns,
			    why) == 0)
				j->id = r.id;
		} else {
			db_file_set_error(env->db, j->id, ST_REJECTED,
			    j->attempts, why);
		}
	}
	log_ev(LOG_WARN, env->conf->dry_run ? "would_reject" : "file_rejected",
	    "path=%s id=%lld reason=%s", src, (long long)j->id, why);
	if (!env->conf->dry_run)
		metrics_file_done(j->w->name, ST_REJECTED, 0, 0);
	free(src);
	job_park(j, ST_REJECTED);
}

static int
sidecar_present(const struct job *j)
{
	struct buf b;
	struct stat st;
	int rc;

	buf_init(&b);
	buf_printf(&b, "%s%s", j->rel, jc(j)->sidecar_suffix);
	rc = privop_lstat(j->w->fd, b.data, &st) == 0 &&
	    S_ISREG(st.st_mode);
	buf_free(&b);
	return rc;
}

/*
 * Stability: the kernel sets ctime on every write, rename and metadata
 * change and nobody can set it back, so a file whose signature is unchanged
 * since we last looked and whose mtime and ctime are both N seconds old has
 * not been touched for N seconds.
 */
static int64_t
stability_left_ns(const struct job *j, int64_t window_ns)
{
	int64_t last = j->sig.ctime_ns, now = now_realtime_ns();

	if (j->sig.mtime_ns > last)
		last = j->sig.mtime_ns;
	return last + window_ns - now;
}

/*
 * close-write: the writer closed the file (or renamed it into place) and
 * nothing touched it for a short settle; a file found by a scan, with no
 * event seen, falls back to the stability window.
 */
#define CLOSE_WRITE_SETTLE_NS	(NS / 2)

static int64_t
job_window_ns(const struct job *j)
{
	if (jc(j)->complete == COMPLETE_CLOSE_WRITE && j->closed)
		return CLOSE_WRITE_SETTLE_NS;
	return (int64_t)jc(j)->stability_secs * NS;
}

#define SIDECAR_MAX	4096

/*
 * A sidecar may vouch for its file: lines "size N" and "sha256 HEX" (also
 * with '=' or ':'), or a sha256sum(1) line "HEX  NAME".  Other lines are
 * ignored.  Returns 0, or -1 with a reason (the file is then REJECTED).
 */
static int
sidecar_read(struct job *j, const char **why)
{
	char buf[SIDECAR_MAX + 1], *line, *save = NULL, *key, *val;
	const char *swhy;
	struct stat st;
	struct buf rel;
	long long size;
	ssize_t n;
	int fd;

	j->sc_size = -1;
	if (j->h != NULL)
		j->h->sc_sha256[0] = '\0';
	buf_init(&rel);
	buf_printf(&rel, "%s%s", j->rel, jc(j)->sidecar_suffix);
	fd = privop_open_source(j->w->fd, rel.data, &st, &swhy);
	buf_free(&rel);
	if (fd == -1) {
		*why = "sidecar cannot be read";
		return -1;
	}
	n = st.st_size > SIDECAR_MAX ? -1 : read(fd, buf, SIDECAR_MAX);
	close(fd);
	if (n < 0) {
		*why = "sidecar larger than 4 KiB or unreadable";
		return -1;
	}
	buf[n] = '\0';
	for (line = strtok_r(buf, "\r\n", &save); line != NULL;
	    line = strtok_r(NULL, "\r\n", &save)) {
		key = line + strspn(line, " \t");
		val = key + strcspn(key, " \t=:");
		if (*val != '\0')
			*val++ = '\0';
		val += strspn(val, " \t=:");
		val[strcspn(val, " \t")] = '\0';
		if (strcmp(key, "size") == 0) {
			if (parse_uint(val, 0, INT64_MAX, &size) == -1) {
				*why = "sidecar has a malformed size";
				return -1;
			}
			j->sc_size = size;
		} else if (strcmp(key, "sha256") == 0 ||
		    (strlen(key) == 64 && strspn(key, "0123456789abcdefABCDEF") == 64)) {
			if (strcmp(key, "sha256") != 0)
				val = key;
			if (strlen(val) != 64 ||
			    strspn(val, "0123456789abcdefABCDEF") != 64) {
				*why = "sidecar has a malformed sha256";
				return -1;
			}
			for (n = 0; n < 64; n++)
				job_hashes(j)->sc_sha256[n] =
				    (char)(val[n] | 0x20);
			j->h->sc_sha256[64] = '\0';
		}
	}
	return 0;
}

/* Complete: check the size rules (and what a sidecar vouches), then queue. */
static void
job_complete(struct job *j)
{
	const char *swhy;
	char why[96];

	if (jc(j)->complete == COMPLETE_SIDECAR && sidecar_read(j, &swhy) == -1) {
		job_reject(j, swhy);
		return;
	}
	if (j->sc_size >= 0 && j->sig.size != j->sc_size) {
		snprintf(why, sizeof(why), "sidecar mismatch: size %lld,"
		    " sidecar says %lld", (long long)j->sig.size,
		    (long long)j->sc_size);
		job_reject(j, why);
	} else if (jc(j)->min_size > 0 && j->sig.size < jc(j)->min_size) {
		snprintf(why, sizeof(why), "smaller than min-size %lld",
		    jc(j)->min_size);
		job_reject(j, why);
	} else if (jc(j)->max_size > 0 && j->sig.size > jc(j)->max_size) {
		snprintf(why, sizeof(why), "larger than max-size %lld",
		    jc(j)->max_size);
		job_reject(j, why);
	} else {
		job_enqueue(j, 0);
	}
}

static const char *
filetype_reason(mode_t mode)
{
	if (S_ISLNK(mode))
		return "not a regular file: symlink";
	if (S_ISFIFO(mode))
		return "not a regular file: fifo";
	if (S_ISSOCK(mode))
		return "not a regular file: socket";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "not a regular file: device";
	return "not a regular file";
}

static void
job_check(struct job *j)
{
	struct stat st;
	struct fsig sig;
	int64_t left;
	int changed;

	if (env->draining)
		return;
	if (privop_lstat(j->w->fd, j->rel, &st) == -1) {
		if (errno != ENOENT && errno != ENOTDIR) {
			if (errno == ELOOP || errno == EXDEV) {
				job_reject(j, "symlink in path");
				return;
			}
			log_ev(LOG_WARN, "stat_failed", "path=%s errno=%d",
			    job_logpath(j), errno);
		} else if (j->id != 0) {
			/*
			 * Renamed away or deleted after its row was made (it
			 * changed while a worker read it): the row ends now,
			 * not at the next restart.  Back under a name, it is
			 * a new arrival.
			 */
			log_ev(LOG_WARN, "file_vanished", "path=%s id=%lld",
			    job_logpath(j), (long long)j->id);
			job_row_failed(j, "source vanished before ingestion");
		} else
			log_ev(LOG_DEBUG, "file_vanished", "path=%s",
			    job_logpath(j));
		job_free(j);		/* gone before it was complete */
		return;
	}
	fsig_of(&sig, &st);
	if (!S_ISREG(st.st_mode)) {
		j->sig = sig;
		job_reject(j, filetype_reason(st.st_mode));
		return;
	}
	changed = !same_signature(&sig, &j->sig);
	j->sig = sig;
	if (jc(j)->complete == COMPLETE_SIDECAR) {
		if (sidecar_present(j))
			job_complete(j);
		else if (env->conf->once && s.scan_done) {
			log_ev(LOG_INFO, "file_incomplete", "path=%s reason=%s",
			    job_logpath(j), "no sidecar");
			job_free(j);	/* no sidecar yet: a later run */
		}
		return;
	}
	left = stability_left_ns(j, job_window_ns(j));
	if (!changed && left <= 0) {
		job_complete(j);
		return;
	}
	if (env->conf->once && s.scan_done && left > 0) {
		log_ev(LOG_INFO, "file_incomplete", "path=%s reason=%s",
		    job_logpath(j), "stability window");
		job_free(j);		/* not complete: a later run takes it */
		return;
	}
	/* look again once the window may have passed (at least 100 ms) */
	job_arm(j, left > 100000000 ? left : 100000000);
}

void
sched_notice(struct watch *w, const char *rel, int closed)
{
	const struct watch_conf *c = w->rules->c;
	const char *base = strrchr(rel, '/');
	struct job *j;
	struct stat st;
	struct buf b;

	base = base ? base + 1 : rel;
	if (env->draining || w->retired)
		return;
	if (is_sidecar(c, base)) {
		buf_init(&b);
		buf_add(&b, rel, strlen(rel) - strlen(c->sidecar_suffix));
		if ((j = htab_get(&w->jobs, b.data)) != NULL &&
		    j->state == ST_DISCOVERED)
			job_check(j);
		else if (j == NULL)
			sched_notice(w, b.data, 0);
		buf_free(&b);
		return;
	}
	if (name_ignored(c, base))
		return;
	if ((j = htab_get(&w->jobs, rel)) != NULL) {
		if (j->state == ST_DISCOVERED) {
			j->closed |= closed;
			if (j->timer == NULL || !evtimer_pending(j->timer, NULL) ||
			    closed)
				job_check(j);
			return;
		}
		if (!j->parked)
			return;		/* on its way */
		/* parked: only a different file under the same name is new */
		if (privop_lstat(w->fd, rel, &st) == -1 ||
		    (st.st_dev == j->sig.dev && st.st_ino == j->sig.ino &&
		    st.st_size == j->sig.size &&
		    stat_ns(&st.st_mtim) == j->sig.mtime_ns))
			return;
		job_free(j);
	}
	j = job_new(w, rel);
	j->closed = closed;
	log_ev(LOG_DEBUG, "file_discovered", "path=%s", job_logpath(j));
	job_check(j);
}

static void
collect_jobs(const char *key, void *value, void *arg)
{
	buf_add(arg, &value, sizeof(value));
}

/* Every job of every watch, collected first so fn may free them. */
static void
jobs_foreach(int (*want)(const struct job *), void (*fn)(struct job *))
{
	struct watch *w;
	struct buf list;
	struct job **jp;
	size_t i, n;

	buf_init(&list);
	TAILQ_FOREACH(w, &watches, entry)
		htab_foreach(&w->jobs, collect_jobs, &list);
	jp = (struct job **)(void *)list.data;
	n = list.len / sizeof(*jp);
	for (i = 0; i < n; i++)
		if (want == NULL || want(jp[i]))
			fn(jp[i]);
	buf_free(&list);
}

static int
is_discovered(const struct job *j)
{
	return j->state == ST_DISCOVERED && !j->parked;
}

static void
recheck_now(struct job *j)
{
	if (j->timer)
		evtimer_del(j->timer);
	job_check(j);
}

void
sched_scan_done(void)
{
	s.scan_done = 1;
	/* --once: decide every file still being looked at, now */
	if (env->conf->once)
		jobs_foreach(is_discovered, recheck_now);
	job_check_idle();
}

int
sched_idle(void)
{
	return s.scan_done && s.live == 0;
}

/* --- queue and dispatch --- */

/* On the run queue (its row says QUEUED), then to an idle worker. */
static void
job_queue(struct job *j, int front)
{
	if (j->timer)
		evtimer_del(j->timer);
	if (!j->verifying)
		j->state = ST_QUEUED;
	log_ev(LOG_DEBUG, "file_queued", "path=%s id=%lld", job_logpath(j),
	    (long long)j->id);
	if (front)
		TAILQ_INSERT_HEAD(&s.runq, j, entry);
	else
		TAILQ_INSERT_TAIL(&s.runq, j, entry);
	j->queued = 1;
}

/*
 * New arrivals found in the same loop round get their rows in one
 * transaction.  A row is no acknowledgment: a file whose row is lost in
 * a crash is still in staging and is simply found again.
 */
static void
insert_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct jobq done = TAILQ_HEAD_INITIALIZER(done);
	struct file_rec r;
	struct job *j;
	char *src;
	int began;

	/* nothing leaves staging before a durable commit (HASHED) covers these */
	began = db_begin_lazy(env->db) == 0;
	while ((j = TAILQ_FIRST(&s.newq)) != NULL) {
		TAILQ_REMOVE(&s.newq, j, entry);
		j->inserting = 0;
		src = job_source_path(j);
		rec_from_job(&r, j, src);
		r.state = ST_QUEUED;
		if (db_file_insert(env->db, &r, j->first_seen_ns, NULL) == -1) {
			log_ev(LOG_ERR, "db_write_failed", "path=%s", j->rel);
			j->state = ST_DISCOVERED;
			job_arm(j, 5 * NS);	/* look again later */
		} else {
			j->id = r.id;
			TAILQ_INSERT_TAIL(&done, j, entry);
		}
		free(src);
	}
	if (began && db_commit(env->db) == -1) {
		log_ev(LOG_ERR, "db_write_failed", "rows=%s", "new arrivals");
		while ((j = TAILQ_FIRST(&done)) != NULL) {
			TAILQ_REMOVE(&done, j, entry);
			j->id = 0;
			j->state = ST_DISCOVERED;
			job_arm(j, 5 * NS);
		}
	}
	while ((j = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, j, entry);
		job_queue(j, 0);
	}
	sched_dispatch();
}

static void
job_enqueue(struct job *j, int front)
{
	struct timeval tv = { 0, 0 };

	if (j->id == 0 && j->r != j->w->rules) {
		/* not started yet: it runs under the rules in force now */
		wrules_unref(j->r);
		j->r = j->w->rules;
		wrules_ref(j->r);
		j->droot = &j->r->to;
	}
	if (!env->conf->dry_run && j->id == 0) {
		/* its row first, with the others of this loop round */
		if (j->timer)
			evtimer_del(j->timer);
		j->state = ST_QUEUED;	/* in memory: notices leave it be */
		j->inserting = 1;
		TAILQ_INSERT_TAIL(&s.newq, j, entry);
		if (s.insert_ev == NULL)
			s.insert_ev = evtimer_new(env->base, insert_cb, NULL);
		if (!evtimer_pending(s.insert_ev, NULL))
			evtimer_add(s.insert_ev, &tv);
		return;
	}
	if (!env->conf->dry_run && !j->verifying) {
		/* the file may have changed (or been replaced) since */
		db_file_set_stat(env->db, j->id, j->sig.dev, j->sig.ino,
		    j->sig.size, j->sig.mtime_ns, j->sig.ctime_ns);
		db_file_set_state(env->db, j->id, ST_QUEUED, NULL);
	}
	job_queue(j, front);
	sched_dispatch();
}

/* The first route whose glob matches the name, else `to`. */
static void
job_pick_droot(struct job *j)
{
	const struct route *rt;
	size_t i = 0;

	j->droot = &j->r->to;
	TAILQ_FOREACH(rt, &jc(j)->routes, entry) {
		if (fnmatch(rt->glob, job_base(j), 0) == 0) {
			j->droot = &j->r->routes[i];
			return;
		}
		i++;
	}
}

static int
job_dest_compute(struct job *j)
{
	struct tmpl_ctx c;
	struct buf b;
	const char *why;
	char *dir, *mrel, reason[96];

	if (j->dest != NULL)
		return 0;
	job_pick_droot(j);
	memset(&c, 0, sizeof(c));
	c.now_ns = now_realtime_ns();
	dir = privop_dirname(j->rel, &c.name);
	c.relpath = dir;
	c.watch = j->w->name;
	c.sha256 = job_sha256(j);	/* "" expands as unknown */
	c.xxh128 = job_xxh128(j);
	buf_init(&b);
	if (template_expand(j->droot->tmpl, &c, &b, &why) == -1) {
		free(dir);
		buf_free(&b);
		job_reject(j, why);
		return -1;
	}
	free(dir);
	/*
	 * The manifest template may use the name too: a name it cannot take
	 * is refused now, before anything is published, not after.
	 */
	if ((mrel = job_manifest_rel(c.now_ns, j, &why)) == NULL) {
		buf_free(&b);
		snprintf(reason, sizeof(reason), "manifest: %s", why);
		job_reject(j, reason);
		return -1;
	}
	free(mrel);
	j->dest = buf_release(&b);
	return 0;
}

static int
job_open_destdir(struct job *j)
{
	const char *base;
	char *dir;

	if (j->destdirfd != -1)
		return 0;
	dir = privop_dirname(j->dest, &base);
	j->destdirfd = privop_mkdirs(j->droot->fd, dir);
	free(dir);
	return j->destdirfd == -1 ? -1 : 0;
}

static const char *
dest_base(const struct job *j)
{
	const char *slash = strrchr(j->dest, '/');

	return slash ? slash + 1 : j->dest;
}

static void
job_fail_errno(struct job *j, const char *stage)
{
	char why[160];

	snprintf(why, sizeof(why), "%s: %s", stage, strerror(errno));
	job_retry(j, why);
}

/*
 * The row's arrival ends FAILED with why, no attempt left: its file is
 * gone or another one took its name.  The job no longer has a row.
 */
static void
job_row_failed(struct job *j, const char *why)
{
	if (!env->conf->dry_run)
		db_file_set_error(env->db, j->id, ST_FAILED, j->attempts, why);
	env->failed++;
	metrics_file_done(j->w->name, ST_FAILED, 0, 0);
	j->id = 0;
}

/*
 * The name now holds another file than the row's (renamed over it): the
 * row's arrival ends FAILED with why, its content superseded before it
 * was ingested; the file under the name now is a new arrival (new row).
 */
static void
job_replaced(struct job *j, const char *why)
{
	log_ev(LOG_WARN, "file_replaced", "path=%s id=%lld reason=%s",
	    job_logpath(j), (long long)j->id, why);
	job_row_failed(j, why);
	j->attempts = 0;
	j->first_seen_ns = now_realtime_ns();
}

/*
 * Back to watching: the file changed under us (not an attempt), or another
 * file took its name (its row ends with the reason `replaced`).
 */
static void
job_rediscover(struct job *j, const struct fsig *sig, const char *replaced)
{
	struct fsig fresh;
	struct stat now;

	log_ev(LOG_INFO, "file_changed", "path=%s id=%lld", job_logpath(j),
	    (long long)j->id);
	job_processing_write(j);
	job_close_fds(j);
	j->state = ST_DISCOVERED;
	j->worker = NULL;
	free(j->dest);
	j->dest = NULL;
	if (j->id != 0 && !env->conf->dry_run &&
	    privop_lstat(j->w->fd, j->rel, &now) == 0 &&
	    (now.st_dev != j->sig.dev || now.st_ino != j->sig.ino)) {
		job_replaced(j, replaced);
		fsig_of(&fresh, &now);
		sig = &fresh;
	} else {
		j->attempts--;
		if (j->id != 0 && !env->conf->dry_run)
			db_file_set_stat(env->db, j->id, sig->dev, sig->ino,
			    sig->size, sig->mtime_ns, sig->ctime_ns);
	}
	j->sig = *sig;
	job_arm(j, 100000000);
}

/* Open an existing archive file to compare its content with ours. */
static int
job_open_verify(struct job *j, int *fd)
{
	struct stat st;

	if (job_open_destdir(j) == -1)
		return -1;
	*fd = openat(j->destdirfd, dest_base(j), O_RDONLY | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC);
	if (*fd == -1)
		return -1;
	if (fstat(*fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(*fd);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/*
 * PROCESSING (with the attempt count) is written with the next group
 * commit, or within PROC_WAIT_NS, not once per dispatch: the worker may
 * start before its row says so.  It acknowledges nothing; after a crash
 * the row is still QUEUED and the file is resumed like any queued one.
 * Any other write for the file writes its PROCESSING first.
 */
#define PROC_WAIT_NS	(NS / 50)

static void
processing_flush(void)
{
	struct job *j;
	size_t i;

	for (i = 0; i < s.nproc; i++) {
		if ((j = s.proc[i]) == NULL)
			continue;
		j->proc_pending = 0;
		if (db_file_set_processing(env->db, j->id, j->attempts) == -1)
			log_ev(LOG_ERR, "db_write_failed", "path=%s id=%lld",
			    job_logpath(j), (long long)j->id);
	}
	s.nproc = 0;
}

static void
processing_cb(evutil_socket_t fd, short ev, void *arg)
{
	int began = db_begin_lazy(env->db) == 0;	/* the HASHED commit's */

	processing_flush();
	if (began)
		db_commit(env->db);
}

static void
job_processing_later(struct job *j)
{
	struct timeval tv = { 0, (suseconds_t)(PROC_WAIT_NS / 1000) };

	if (s.nproc == s.capproc) {
		s.capproc = s.capproc ? 2 * s.capproc : 16;
		s.proc = xrealloc(s.proc, s.capproc * sizeof(*s.proc));
	}
	s.proc[s.nproc++] = j;
	j->proc_pending = 1;
	if (s.proc_ev == NULL)
		s.proc_ev = evtimer_new(env->base, processing_cb, NULL);
	if (!evtimer_pending(s.proc_ev, NULL))
		evtimer_add(s.proc_ev, &tv);
}

static void
job_processing_forget(struct job *j)
{
	size_t i;

	for (i = 0; i < s.nproc; i++)
		if (s.proc[i] == j)
			s.proc[i] = NULL;
	j->proc_pending = 0;
}

/* Before any other write for j: its pending PROCESSING, in order. */
static void
job_processing_write(struct job *j)
{
	if (!j->proc_pending)
		return;
	job_processing_forget(j);
	if (db_file_set_processing(env->db, j->id, j->attempts) == -1)
		log_ev(LOG_ERR, "db_write_failed", "path=%s id=%lld",
		    job_logpath(j), (long long)j->id);
}

/*
 * Copies up to this size are written without fdatasync, and files up to
 * this size archived by rename or link (same filesystem) are not
 * fdatasynced by their worker; the batch makes them durable with one
 * syncfs of the destination filesystem before any is linked or renamed.
 * Larger ones are fdatasynced by their worker.
 */
#define SYNCFS_MAX	(1024 * 1024)

/* Open what the worker needs and hand the job over. */
static void
job_start(struct job *j, struct worker *w)
{
	struct stat ost;
	const char *why;
	int fds[2], nfds = 1, rc;
	uint16_t type = MSG_JOB_HASH;
	uint32_t flags = 0;
	uint64_t size;

	if (j->verifying) {
		if (job_open_verify(j, &fds[0]) == -1) {
			job_fail_errno(j, "open archive file");
			return;
		}
		j->worker = w;
		rc = pool_submit(w, j, MSG_JOB_HASH, fds, 1, 0, 0);
		close(fds[0]);
		if (rc == -1)
			sched_job_lost(j, "cannot send job to worker");
		return;
	}
	j->attempts++;
	j->srcfd = privop_open_source(j->w->fd, j->rel, &ost, &why);
	if (j->srcfd == -1) {
		if (why != NULL) {
			job_reject(j, why);
		} else if (errno == ENOENT) {
			j->attempts = jc(j)->retry;
			job_retry(j, "source vanished before ingestion");
		} else {
			job_fail_errno(j, "open source");
		}
		return;
	}
	fsig_of(&j->open_sig, &ost);
	if (!same_signature(&j->open_sig, &j->sig)) {
		job_rediscover(j, &j->open_sig, "replaced before copy");
		return;
	}
	fds[0] = j->srcfd;
	j->src_in_staging = 1;
	j->nosync = 0;
	if (j->dest == NULL)
		job_pick_droot(j);
	if (env->conf->dry_run) {
		j->kind = K_HASH;
	} else if (jc(j)->action != ACTION_COPY &&
	    j->open_sig.dev == j->droot->dev &&
	    (jc(j)->action == ACTION_LINK || ost.st_nlink == 1)) {
		/*
		 * move renames, link hard-links: the file itself is archived.
		 * Not for move when the file has another name (a hard link
		 * outside the watch): writes through that name would change
		 * the archive, so it is copied like across filesystems.
		 */
		j->kind = K_HASH;
		/* small files: one syncfs per batch instead (group commit) */
		j->nosync = j->open_sig.size <= SYNCFS_MAX;
		flags = j->nosync ? 0 : JOB_F_SYNC_SRC;
	} else {
		/*
		 * The temp file lives in the destination root: the final
		 * directory may depend on the hash, and linkat can give it
		 * its name anywhere on that filesystem.
		 */
		j->kind = K_COPY;
		if ((j->tmpfd = privop_tmpfile(j->droot->fd)) == -1) {
			job_fail_errno(j, "create temp file");
			return;
		}
		fds[1] = j->tmpfd;
		nfds = 2;
		type = MSG_JOB_COPY;
		/* small copies: one syncfs per batch instead (group commit) */
		j->nosync = j->open_sig.size <= SYNCFS_MAX;
		if (j->nosync)
			flags = JOB_F_NO_SYNC;
	}
	if (!env->conf->dry_run)
		job_processing_later(j);
	j->state = ST_PROCESSING;
	j->worker = w;
	size = (uint64_t)j->open_sig.size;
	if (pool_submit(w, j, type, fds, nfds, flags, size) == -1)
		sched_job_lost(j, "cannot send job to worker");
}

/* The first queued job whose watch is not paused. */
static struct job *
runq_first_runnable(void)
{
	struct job *j;

	TAILQ_FOREACH(j, &s.runq, entry)
		if (!j->w->paused)
			return j;
	return NULL;
}

int
sched_queue_depth(void)
{
	struct job *j;
	int n = 0;

	TAILQ_FOREACH(j, &s.runq, entry)
		n++;
	return n;
}

void
sched_dispatch(void)
{
	struct worker *w;
	struct job *j;

	if (env->draining) {
		/* SIGTERM: let in-flight files finish, start nothing new */
		if (pool_busy() == 0 && s.batch_n == 0)
			ingestd_idle();
		return;
	}
	/* what the workers hold joins the batch: both count (BATCH_FDS) */
	while (s.batch_n + (size_t)pool_busy() < s.batch_max &&
	    (j = runq_first_runnable()) != NULL &&
	    (w = pool_idle()) != NULL) {
		TAILQ_REMOVE(&s.runq, j, entry);
		j->queued = 0;
		job_start(j, w);
	}
}

/* --- failures --- */

static void
job_retry(struct job *j, const char *why)
{
	int64_t delay;
	int shift;

	job_processing_write(j);
	job_close_fds(j);
	j->nosync = 0;
	j->worker = NULL;
	j->verifying = 0;
	j->manifest_fresh = 0;
	if (j->attempts >= jc(j)->retry) {
		log_ev(LOG_ERR, "file_failed", "path=%s id=%lld attempts=%d"
		    " error=%s", job_logpath(j), (long long)j->id, j->attempts, why);
		if (!env->conf->dry_run && j->id != 0)
			db_file_set_error(env->db, j->id, ST_FAILED,
			    j->attempts, why);
		env->failed++;
		metrics_file_done(j->w->name, ST_FAILED, 0, 0);
		if (j->src_in_staging || j->kind == K_COPY ||
		    j->state != ST_HASHED)
			job_park(j, ST_FAILED);
		else
			job_finish(j);
		return;
	}
	shift = j->attempts > 1 ? j->attempts - 1 : 0;
	delay = (int64_t)jc(j)->backoff_secs * NS << (shift > 16 ? 16 : shift);
	if (delay > (int64_t)env->conf->backoff_max_secs * NS)
		delay = (int64_t)env->conf->backoff_max_secs * NS;
	log_ev(LOG_WARN, "file_retry", "path=%s id=%lld attempt=%d error=%s"
	    " retry_in_ms=%lld", job_logpath(j), (long long)j->id, j->attempts, why,
	    (long long)(delay / 1000000));
	if (!env->conf->dry_run && j->id != 0)
		db_file_set_error(env->db, j->id, ST_RETRY_PENDING, j->attempts,
		    why);
	j->state = ST_RETRY_PENDING;
	job_arm(j, delay);
}

void
sched_job_lost(struct job *j, const char *why)
{
	if (j->state == ST_MOVED)
		return;		/* nothing of it was with the worker */
	job_retry(j, why);
	sched_dispatch();
}

/* --- results --- */

static void
job_dry_run_verdict(struct job *j)
{
	int64_t orig;
	char *dest = NULL;
	int dup;

	dup = env->db ? db_find_content(env->db, job_sha256(j), 0, &orig,
	    &dest) : 0;
	if (dup != 1 && htab_get(&s.dry_seen, job_sha256(j)) != NULL)
		dup = 1;
	if (dup == 1) {
		log_ev(LOG_INFO, "would_skip_duplicate", "path=%s sha256=%s"
		    " original=%s", job_logpath(j), job_sha256(j),
		    dest ? dest : "");
	} else if (job_dest_compute(j) == 0) {
		htab_put(&s.dry_seen, job_sha256(j), j);
		free(dest);
		dest = job_dest_path(j);
		log_ev(LOG_INFO, "would_ingest", "path=%s dest=%s sha256=%s"
		    " bytes=%lld", job_logpath(j), dest, job_sha256(j),
		    (long long)j->open_sig.size);
	} else {
		return;		/* job_dest_compute rejected it */
	}
	free(dest);
	job_park(j, ST_MANIFESTED);
}

/* Sidecar mode: NAME.ok goes with its file (best effort, logged). */
static void
job_remove_sidecar(struct job *j, int dfd, const char *base)
{
	struct buf side;

	if (jc(j)->complete != COMPLETE_SIDECAR)
		return;
	buf_init(&side);
	buf_printf(&side, "%s%s", base, jc(j)->sidecar_suffix);
	if (unlinkat(dfd, side.data, 0) == -1 && errno != ENOENT)
		log_ev(LOG_WARN, "sidecar_remove_failed", "path=%s errno=%d",
		    job_logpath(j), errno);
	buf_free(&side);
}

/* Does removing j's source touch its staging directory? */
static int
job_has_source(const struct job *j)
{
	return j->src_in_staging || jc(j)->complete == COMPLETE_SIDECAR;
}

/*
 * Unlink the source (still in staging unless renamed away) and its
 * sidecar from dfd, their staging directory (job_has_source).  Returns 0,
 * or -1 (logged; recovery retries at the next start).
 */
static int
job_unlink_at(struct job *j, int dfd)
{
	const char *base = job_base(j);
	int rc = 0;

	if (j->src_in_staging) {
		rc = privop_unlink_if_same(dfd, base, j->sig.dev,
		    j->sig.ino);
		if (rc == 1)
			log_ev(LOG_WARN, "source_gone", "path=%s",
			    job_logpath(j));
		if (rc == 2) {
			log_ev(LOG_WARN, "source_replaced", "path=%s",
			    job_logpath(j));
			j->name_taken = 1;
		}
	}
	if (rc == -1) {
		log_ev(LOG_ERR, "source_remove_failed", "path=%s errno=%d",
		    job_logpath(j), errno);
		return -1;
	}
	if (!j->name_taken)	/* else it may be the new file's sidecar */
		job_remove_sidecar(j, dfd, base);
	return 0;
}

/*
 * job_unlink_at, with the staging directory opened here and handed back
 * in *dfdp to be fsynced by the caller (-1 when there was nothing to
 * remove).
 */
static int
job_unlink_source(struct job *j, int *dfdp)
{
	const char *base;
	int dfd;

	*dfdp = -1;
	if (!job_has_source(j))
		return 0;
	if ((dfd = privop_open_parent(j->w->fd, j->rel, &base)) == -1) {
		log_ev(LOG_ERR, "source_remove_failed", "path=%s errno=%d",
		    job_logpath(j), errno);
		return -1;
	}
	if (job_unlink_at(j, dfd) == -1) {
		close(dfd);
		return -1;
	}
	*dfdp = dfd;
	return 0;
}

/* Last step: the source goes, its directory is fsynced, then recorded. */
static void
job_remove_source(struct job *j)
{
	int dfd;

	if (job_unlink_source(j, &dfd) == -1)
		return;
	if (dfd != -1) {
		if (privop_fsync_dir(dfd) == -1) {
			log_ev(LOG_ERR, "source_remove_failed", "path=%s"
			    " errno=%d", job_logpath(j), errno);
			close(dfd);
			return;
		}
		close(dfd);
		j->src_in_staging = 0;
	}
	db_file_set_source_removed(env->db, j->id);
}

/* `duplicate delete | keep | move-to DIR` for a source already ingested. */
static void
job_dispose_duplicate(struct job *j)
{
	const char *base;
	struct buf name;
	int dfd, rc;

	switch (jc(j)->duplicate) {
	case DUP_KEEP:
		job_park(j, ST_SKIPPED_DUPLICATE);
		return;
	case DUP_MOVE_TO:
		if ((dfd = privop_open_parent(j->w->fd, j->rel, &base)) == -1)
			break;
		buf_init(&name);
		buf_adds(&name, base);
		rc = privop_rename(dfd, base, j->r->dupfd, name.data);
		if (rc == -1 && errno == EEXIST) {
			buf_reset(&name);
			template_collision_name(base, job_sha256(j), &name);
			rc = privop_rename(dfd, base, j->r->dupfd, name.data);
		}
		if (rc == 0 && (privop_fsync_dir(j->r->dupfd) == -1 ||
		    privop_fsync_dir(dfd) == -1))
			log_ev(LOG_WARN, "fsync_failed", "path=%s errno=%d",
			    job_logpath(j), errno);
		if (rc == 0) {
			log_ev(LOG_INFO, "duplicate_moved", "path=%s dir=%s"
			    " name=%s", job_logpath(j), jc(j)->duplicate_dir,
			    name.data);
			j->src_in_staging = 0;
			job_remove_sidecar(j, dfd, base);
			db_file_set_source_removed(env->db, j->id);
		} else {
			log_ev(LOG_WARN, "duplicate_move_failed", "path=%s"
			    " errno=%d", job_logpath(j), errno);
		}
		buf_free(&name);
		close(dfd);
		if (rc == 0) {
			job_finish(j);
			return;
		}
		job_park(j, ST_SKIPPED_DUPLICATE);	/* left in staging */
		return;
	default:
		break;
	}
	job_remove_source(j);
	job_finish(j);
}

static void
job_duplicate(struct job *j, int64_t orig, const char *orig_dest)
{
	if (db_file_set_duplicate(env->db, j->id, job_sha256(j),
	    job_xxh128(j), orig) == -1) {
		job_retry(j, "database write failed");
		return;
	}
	log_ev(LOG_INFO, "file_duplicate", "path=%s id=%lld sha256=%s"
	    " original_id=%lld original=%s", job_logpath(j), (long long)j->id,
	    job_sha256(j), (long long)orig, orig_dest ? orig_dest : "");
	metrics_file_done(j->w->name, ST_SKIPPED_DUPLICATE, 0, 0);
	job_close_fds(j);	/* the O_TMPFILE copy vanishes */
	j->state = ST_SKIPPED_DUPLICATE;
	job_dispose_duplicate(j);
}

static void
job_verified(struct job *j, const char *sha)
{
	j->verifying = 0;
	if (strcmp(sha, job_sha256(j)) == 0) {
		log_ev(LOG_INFO, "archive_copy_adopted", "path=%s dest=%s",
		    job_logpath(j), j->dest);
		job_close_fds(j);	/* our own copy is not needed */
		job_moved(j);
	} else if (j->name_try == 0 && (j->src_in_staging || j->tmpfd != -1)) {
		j->name_try = 1;
		job_publish(j);
	} else {
		j->attempts = jc(j)->retry;
		job_retry(j, "archive name taken by different content");
	}
}

void
sched_job_result(struct job *j, const struct msg_result *res)
{
	struct fsig sig;
	struct stat now;
	char sha[65], why[128];

	j->worker = NULL;
	if (!res->ok) {
		snprintf(why, sizeof(why), "%s: %s", res->stage,
		    strerror(res->err));
		job_retry(j, why);
		goto out;
	}
	metrics_hash_bytes(res->bytes);
	hex_encode(res->sha256, sizeof(res->sha256), sha);
	if (j->verifying) {
		job_verified(j, sha);
		goto out;
	}
	/* the file must not have changed while the worker read it */
	if (fstat(j->srcfd, &now) == -1) {
		job_fail_errno(j, "fstat source");
		goto out;
	}
	fsig_of(&sig, &now);
	if (res->bytes != (uint64_t)j->open_sig.size ||
	    !same_signature(&sig, &j->open_sig)) {
		job_rediscover(j, &sig, "replaced during copy");
		goto out;
	}
	if (*job_sc_sha256(j) != '\0' && strcmp(sha, job_sc_sha256(j)) != 0) {
		job_reject(j, "sidecar mismatch: sha256");	/* temp vanishes */
		goto out;
	}
	memcpy(job_hashes(j)->sha256, sha, sizeof(sha));
	hex_encode(res->xxh128, sizeof(res->xxh128), j->h->xxh128);
	if (env->conf->dry_run) {
		job_dry_run_verdict(j);
		goto out;
	}
	job_batch_add(j);	/* published with the results close to it */
out:
	sched_dispatch();
	batch_schedule();
}

/* --- publishing, in the durable order of DESIGN.md section 3 --- */

static void
job_verify_existing(struct job *j)
{
	log_ev(LOG_INFO, "archive_name_taken", "path=%s dest=%s", job_logpath(j),
	    j->dest);
	j->verifying = 1;
	TAILQ_INSERT_HEAD(&s.runq, j, entry);
	j->queued = 1;
}

static int
job_use_collision_name(struct job *j)
{
	const char *slash = strrchr(j->dest, '/');
	struct buf b;
	char *dest;
	int rc;

	buf_init(&b);
	buf_add(&b, j->dest, slash ? (size_t)(slash - j->dest) + 1 : 0);
	template_collision_name(slash ? slash + 1 : j->dest, job_sha256(j), &b);
	free(j->dest);
	j->dest = buf_release(&b);
	log_ev(LOG_INFO, "archive_name_collision", "path=%s dest=%s", job_logpath(j),
	    j->dest);
	dest = job_dest_path(j);
	rc = db_file_set_dest(env->db, j->id, dest);
	free(dest);
	return rc;
}

/*
 * Same filesystem: move the very file we hashed and synced from its
 * staging directory sdir to the archive directory ddir.  Neither is
 * fsynced here.
 */
static int
job_rename_source(struct job *j, int ddir, int sdir)
{
	const char *sbase = job_base(j);
	struct stat st;

	if (fstatat(sdir, sbase, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return -1;
	if (st.st_ino != j->open_sig.ino || st.st_dev != j->open_sig.dev) {
		errno = ESTALE;
		return -1;
	}
	if (privop_rename(sdir, sbase, ddir, dest_base(j)) == -1)
		return -1;
	j->src_in_staging = 0;
	return 0;
}

/* Does j's file reach the archive by a rename of its source? */
static int
job_renames(const struct job *j)
{
	return j->kind != K_COPY && jc(j)->action != ACTION_LINK;
}

/*
 * Give the file its archive name in ddir: link the synced temp copy or
 * (action link) the very file that was hashed; or rename the source out
 * of sdir, its staging directory (job_renames).  No directory is synced:
 * the caller syncs ddir and, after a rename, sdir.  -1 with errno; EEXIST:
 * the name is taken.
 */
static int
job_place(struct job *j, int ddir, int sdir)
{
	if (!job_renames(j))
		return privop_link_tmp(j->kind == K_COPY ? j->tmpfd :
		    j->srcfd, ddir, dest_base(j));
	return job_rename_source(j, ddir, sdir);
}

static void
job_publish(struct job *j)
{
	const char *sbase;
	int rc, saved, sdir = -1;

	if (j->name_try == 1) {
		j->name_try = 2;	/* from now on the collision name */
		if (job_use_collision_name(j) == -1) {
			job_retry(j, "database write failed");
			return;
		}
	}
	if (job_open_destdir(j) == -1) {
		job_fail_errno(j, "create archive directory");
		return;
	}
	if (j->nosync) {
		if (syncfs(j->droot->fd) == -1) {
			job_fail_errno(j, "sync");
			return;
		}
		j->nosync = 0;
	}
	rc = 0;
	if (job_renames(j) && (sdir = privop_open_parent(j->w->fd, j->rel,
	    &sbase)) == -1)
		rc = -1;
	if (rc == 0)
		rc = job_place(j, j->destdirfd, sdir);
	if (rc == 0)
		rc = privop_fsync_dir(j->destdirfd);
	if (rc == 0 && sdir != -1)
		rc = privop_fsync_dir(sdir);
	if (sdir != -1) {
		saved = errno;
		close(sdir);
		errno = saved;
	}
	if (rc == -1 && errno == EEXIST) {
		/* ours from before a crash, a twin, or another file? */
		job_verify_existing(j);
		return;
	}
	if (rc == -1) {
		job_fail_errno(j, "publish");
		return;
	}
	/*
	 * Published under a name that was free: no earlier attempt got as
	 * far as MOVED, and lines are written only for MOVED rows, so its
	 * line cannot be in the manifest yet.  The first attempt need not
	 * read the whole manifest looking for it (that made an hour's
	 * ingest quadratic); retries, adoptions and recovery still look.
	 */
	j->manifest_fresh = 1;
	job_moved(j);
}

/* The manifest's path for j at now_ns, or NULL with why. */
static char *
job_manifest_rel(int64_t now_ns, const struct job *j, const char **why)
{
	struct tmpl_ctx c;
	struct buf b;

	memset(&c, 0, sizeof(c));
	c.now_ns = now_ns;
	c.name = job_base(j);
	c.relpath = "";
	c.watch = j->w->name;
	c.sha256 = job_sha256(j);
	c.xxh128 = job_xxh128(j);
	buf_init(&b);
	if (template_expand(j->r->manifest.tmpl, &c, &b, why) == -1) {
		log_ev(LOG_ERR, "manifest_template_failed", "reason=%s", *why);
		buf_free(&b);
		return NULL;
	}
	return buf_release(&b);
}

/* The archive copy is durable: record it, then write its manifest line. */
static void
job_moved(struct job *j)
{
	int64_t now = now_realtime_ns();
	const char *why;
	char at[32], *dest, *mrel;

	time_format_iso(now, at);
	if ((mrel = job_manifest_rel(now, j, &why)) == NULL) {
		job_retry(j, "manifest template");
		return;
	}
	dest = job_dest_path(j);
	if (db_file_set_moved(env->db, j->id, dest, mrel, at,
	    !j->src_in_staging) == -1) {
		free(dest);
		free(mrel);
		job_retry(j, "database write failed");
		return;
	}
	free(dest);
	free(mrel);
	j->state = ST_MOVED;
	job_close_fds(j);
	job_manifest(j);
}

/* The manifest line or MANIFESTED did not become durable: stays MOVED. */
static void
job_manifest_failed(struct job *j, const char *manifest)
{
	log_ev(LOG_ERR, "manifest_write_failed", "path=%s id=%lld"
	    " manifest=%s errno=%d", job_logpath(j), (long long)j->id,
	    manifest, errno);
	if (++j->manifest_failures >= jc(j)->retry) {
		/* durable in the archive; the next start retries */
		log_ev(LOG_ERR, "manifest_gave_up", "path=%s id=%lld",
		    job_logpath(j), (long long)j->id);
		env->failed++;
		job_park(j, ST_MOVED);
		return;
	}
	job_arm(j, 5 * NS);	/* stays MOVED; try again */
}

/* MANIFESTED is durable. */
static void
job_manifested(struct job *j, const struct file_rec *r)
{
	log_ev(LOG_INFO, "file_ingested", "path=%s dest=%s sha256=%s"
	    " xxh128=%s bytes=%lld id=%lld", r->source_path, r->dest, r->sha256,
	    r->xxh128, (long long)r->size, (long long)r->id);
	env->ingested++;
	metrics_file_done(j->w->name, ST_MANIFESTED, r->size, j->first_seen_ns);
	j->state = ST_MANIFESTED;
}

/* MOVED -> MANIFESTED; idempotent (the line is written once per id). */
static void
job_manifest(struct job *j)
{
	struct file_rec r;
	struct buf line;
	int has;

	if (db_file_get(env->db, j->id, &r) == -1) {
		log_ev(LOG_ERR, "db_read_failed", "id=%lld", (long long)j->id);
		job_arm(j, 5 * NS);
		return;
	}
	has = j->manifest_fresh ? 0 :
	    manifest_has_id(j->r->manifest.fd, r.manifest, r.id);
	j->manifest_fresh = 0;
	buf_init(&line);
	if (has == 0) {
		manifest_line(&line, &r);
		if (manifest_append(j->r->manifest.fd, r.manifest, line.data,
		    line.len) == -1)
			has = -1;
	} else if (has == 1) {
		/* written before a crash, maybe never synced */
		if (manifest_sync_path(j->r->manifest.fd, r.manifest) == -1)
			has = -1;
	}
	buf_free(&line);
	if (has == -1 || db_file_set_state(env->db, j->id, ST_MANIFESTED,
	    r.manifest) == -1) {
		job_manifest_failed(j, r.manifest);
		file_rec_free(&r);
		return;
	}
	job_manifested(j, &r);
	file_rec_free(&r);
	if (jc(j)->action == ACTION_MOVE) {
		job_remove_source(j);
		job_finish(j);
	} else {
		job_park(j, ST_MANIFESTED);	/* copy/link: the source stays */
	}
}

/* --- group commit --- */

/*
 * Results that complete close together are published as one batch
 * (DESIGN.md section 3, "Batching"): one transaction records them HASHED;
 * all are linked or renamed, then each distinct directory is fsynced once;
 * one transaction records them MOVED; their manifest lines are written
 * with one fdatasync per manifest file; one transaction records them
 * MANIFESTED; only then are the sources unlinked, with one fsync per
 * staging directory.  Each step waits for the barrier before it, so no
 * file is acknowledged earlier than on the one-file path.  A file that
 * needs anything unusual (a duplicate, a taken name, an error) leaves the
 * batch for that one-file path.
 */
#define BATCH_MAX	1024
/*
 * A batched file holds up to four descriptors until its batch is flushed
 * (the source and the temp file; its archive directory and, while it is
 * renamed, its staging directory, which files of the same directories
 * share, see struct dirset), so a batch is also bounded by the
 * descriptor limit, with room kept for the rest (workers, watches, the
 * database, manifests, control clients).  No job starts while the batch
 * and the jobs in the workers fill it: a backlog never turns into open
 * descriptors.
 */
#define BATCH_FDS	4
#define FD_RESERVE	128
#define BATCH_WAIT_NS	(NS / 500)	/* let busy workers add to the batch */
/*
 * With files waiting for a worker, a batch waits longer: the fixed cost
 * of a flush (three durable commits, the syncfs, the dir and manifest
 * fsyncs: about 10 ms here) is then shared by up to BATCH_MAX files
 * instead of the few that finish in BATCH_WAIT_NS; their latency is the
 * backlog's anyway.  100 ms and 1,024 files: 20,000 small files to an
 * ext4 image took about 10 % less time than with 50 ms and 256.
 */
#define BATCH_BACKLOG_WAIT_NS	(NS / 10)

/*
 * The directories a batch touches, each opened once however many of its
 * files are in it (archive directories under a destination root, staging
 * directories under a watch root) and fsynced once (dirset_sync).  A
 * directory reached by two names shares one slot.
 */
struct dirset {
	struct {
		dev_t	 dev;
		ino_t	 ino;
		int	 fd;
		int	 err;		/* errno of a failed fsync, else 0 */
	}	*d;
	size_t	 n;
	struct htab byname;		/* "rootfd:dir" -> slot + 1 */
	struct buf key;			/* the lookup's, reused */
};

static void
dirset_init(struct dirset *ds, size_t max)
{
	ds->d = xcalloc(max, sizeof(*ds->d));
	ds->n = 0;
	htab_init(&ds->byname);
	buf_init(&ds->key);
}

/* Close every directory; the set can be filled again. */
static void
dirset_clear(struct dirset *ds)
{
	size_t i;

	for (i = 0; i < ds->n; i++)
		close(ds->d[i].fd);
	ds->n = 0;
	htab_free(&ds->byname);
	htab_init(&ds->byname);
}

static void
dirset_free(struct dirset *ds)
{
	dirset_clear(ds);
	htab_free(&ds->byname);
	buf_free(&ds->key);
	free(ds->d);
}

/*
 * Slot of the directory holding rel (below rootfd), opened at its first
 * use in the batch (created with its parents when mk); -1 with errno.
 * Looking up a directory already open costs no allocation: files of a
 * batch nearly always share theirs.
 */
static int
dirset_parent(struct dirset *ds, int rootfd, const char *rel, int mk)
{
	const char *slash = strrchr(rel, '/'), *dir;
	struct stat st;
	size_t i, off;
	void *v;
	int fd, saved;

	buf_reset(&ds->key);
	buf_printf(&ds->key, "%d:", rootfd);
	off = ds->key.len;
	buf_add(&ds->key, rel, slash != NULL ? (size_t)(slash - rel) : 0);
	if ((v = htab_get(&ds->byname, ds->key.data)) != NULL)
		return (int)((intptr_t)v - 1);
	dir = ds->key.data + off;	/* rel's directory, "" for the root */
	fd = mk ? privop_mkdirs(rootfd, dir) : privop_open_dir(rootfd, dir);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	for (i = 0; i < ds->n; i++)
		if (ds->d[i].dev == st.st_dev && ds->d[i].ino == st.st_ino)
			break;
	if (i < ds->n) {
		close(fd);
	} else {
		ds->d[i].dev = st.st_dev;
		ds->d[i].ino = st.st_ino;
		ds->d[i].fd = fd;
		ds->d[i].err = 0;
		ds->n++;
	}
	htab_put(&ds->byname, ds->key.data, (void *)(intptr_t)(i + 1));
	return (int)i;
}

static int
dirset_fd(const struct dirset *ds, int slot)
{
	return slot < 0 ? -1 : ds->d[slot].fd;
}

static void
dirset_sync(struct dirset *ds)
{
	size_t i;

	for (i = 0; i < ds->n; i++)
		if (privop_fsync_dir(ds->d[i].fd) == -1)
			ds->d[i].err = errno ? errno : EIO;
}

/* 0 if the slot's directory is durable, else -1 with errno. */
static int
dirset_ok(const struct dirset *ds, int slot)
{
	if (slot < 0)
		return 0;
	if (ds->d[slot].err == 0)
		return 0;
	errno = ds->d[slot].err;
	return -1;
}

struct bent {
	struct job	*j;		/* NULL once it left the batch */
	struct job	*held;		/* a duplicate of orig, out of the batch */
	int64_t		 orig;
	char		*orig_dest;
	int		 dslot, sslot;	/* their dirset slots */
	struct file_rec	 r;
	int		 have_r;
	int		 synced;	/* manifest line durable */
};

static void	batch_flush(void);

static void
batch_cb(evutil_socket_t fd, short ev, void *arg)
{
	batch_flush();
	sched_dispatch();
}

/*
 * Flush now when nothing else can join (no worker busy, draining, full),
 * else a moment later so the busy workers' results join this batch.
 */
static void
batch_schedule(void)
{
	struct timeval tv = { 0, 0 };

	if (s.batch_n == 0)
		return;
	if (s.batch_ev == NULL)
		s.batch_ev = evtimer_new(env->base, batch_cb, NULL);
	if (s.batch_n < s.batch_max && pool_busy() > 0 && !env->draining) {
		if (evtimer_pending(s.batch_ev, NULL))
			return;
		tv.tv_usec = (suseconds_t)((runq_first_runnable() != NULL ?
		    BATCH_BACKLOG_WAIT_NS : BATCH_WAIT_NS) / 1000);
	}
	evtimer_add(s.batch_ev, &tv);
}

/* A worker's result passed its checks: publish it with the next batch. */
static void
job_batch_add(struct job *j)
{
	j->batched = 1;
	TAILQ_INSERT_TAIL(&s.batchq, j, entry);
	s.batch_n++;
}

static void
job_batch_remove(struct job *j)
{
	TAILQ_REMOVE(&s.batchq, j, entry);
	j->batched = 0;
	s.batch_n--;
}

/* HASHED for every file, or out of the batch.  In the open transaction. */
static void
batch_hashed(struct bent *b, size_t n)
{
	struct job *j;
	char *dest;
	size_t i;
	int dup, rc;

	for (i = 0; i < n; i++) {
		if ((j = b[i].j) == NULL)
			continue;
		dup = db_find_content(env->db, job_sha256(j), j->id, &b[i].orig,
		    &b[i].orig_dest);
		if (dup == -1) {
			job_retry(j, "database read failed");
			b[i].j = NULL;
		} else if (dup == 1) {
			/*
			 * Aside until its original is durable (after step 5):
			 * the original may be in this very batch, only
			 * HASHED so far, and a duplicate's source may go only
			 * once it is.
			 */
			b[i].held = j;
			b[i].j = NULL;
		} else if (job_dest_compute(j) == -1) {
			b[i].j = NULL;	/* rejected */
		} else {
			dest = job_dest_path(j);
			rc = db_file_set_hashed(env->db, j->id, job_sha256(j),
			    job_xxh128(j), dest);
			free(dest);
			if (rc == -1) {
				job_retry(j, "database write failed");
				b[i].j = NULL;
			} else {
				j->state = ST_HASHED;
			}
		}
	}
}

/* Every file still in the batch leaves it through job_retry. */
static void
batch_retry_all(struct bent *b, size_t n, const char *why)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (b[i].j != NULL) {
			job_retry(b[i].j, why);
			b[i].j = NULL;
		}
	}
}

/*
 * Small copies were written, and small files to rename were hashed,
 * without fdatasync: one syncfs per destination filesystem makes all
 * their data durable before any of them is linked or renamed.  After a
 * failure they are done again (a failed sync is never retried).
 */
static void
batch_syncfs(struct bent *b, size_t n)
{
	struct {
		dev_t	 dev;
		int	 err;
	} *fs;
	struct job *j;
	size_t i, k, nfs = 0;

	fs = xcalloc(n, sizeof(*fs));
	for (i = 0; i < n; i++) {
		if ((j = b[i].j) == NULL || !j->nosync)
			continue;
		for (k = 0; k < nfs; k++)
			if (fs[k].dev == j->droot->dev)
				break;
		if (k == nfs) {
			fs[k].dev = j->droot->dev;
			fs[k].err = syncfs(j->droot->fd) == -1 ?
			    (errno ? errno : EIO) : 0;
			nfs++;
		}
		if (fs[k].err == 0) {
			j->nosync = 0;
		} else {
			errno = fs[k].err;
			job_fail_errno(j, "sync");
			b[i].j = NULL;
		}
	}
	free(fs);
}

/* Link or rename each file into the archive; directories not yet synced. */
static void
batch_publish(struct bent *b, size_t n, struct dirset *ds)
{
	struct job *j;
	size_t i;
	int rc;

	batch_syncfs(b, n);
	for (i = 0; i < n; i++) {
		if ((j = b[i].j) == NULL)
			continue;
		if ((b[i].dslot = dirset_parent(ds, j->droot->fd, j->dest,
		    1)) == -1) {
			job_fail_errno(j, "create archive directory");
			b[i].j = NULL;
			continue;
		}
		rc = 0;
		if (job_renames(j) && (b[i].sslot = dirset_parent(ds,
		    j->w->fd, j->rel, 0)) == -1)
			rc = -1;
		if (rc == 0)
			rc = job_place(j, dirset_fd(ds, b[i].dslot),
			    dirset_fd(ds, b[i].sslot));
		if (rc == -1 && errno == EEXIST) {
			job_verify_existing(j);	/* the one-file path */
			b[i].j = NULL;
			continue;
		}
		if (rc == -1) {
			job_fail_errno(j, "publish");
			b[i].j = NULL;
			continue;
		}
		j->manifest_fresh = 1;	/* see job_publish */
	}
	dirset_sync(ds);
	for (i = 0; i < n; i++) {
		if ((j = b[i].j) == NULL)
			continue;
		if (dirset_ok(ds, b[i].dslot) == -1 ||
		    dirset_ok(ds, b[i].sslot) == -1) {
			job_fail_errno(j, "publish");
			b[i].j = NULL;
		}
	}
}

/* MOVED for every published file.  In the open transaction. */
static void
batch_moved(struct bent *b, size_t n)
{
	int64_t now = now_realtime_ns();
	const char *why;
	char at[32], *dest, *mrel;
	struct job *j;
	size_t i;
	int rc;

	time_format_iso(now, at);
	for (i = 0; i < n; i++) {
		if ((j = b[i].j) == NULL)
			continue;
		if ((mrel = job_manifest_rel(now, j, &why)) == NULL) {
			job_retry(j, "manifest template");
			b[i].j = NULL;
			continue;
		}
		dest = job_dest_path(j);
		rc = db_file_set_moved(env->db, j->id, dest, mrel, at,
		    !j->src_in_staging);
		free(dest);
		free(mrel);
		if (rc == -1) {
			job_retry(j, "database write failed");
			b[i].j = NULL;
		}
	}
}

/* Mark the lines written since the last sync durable, or failed. */
static void
batch_sync_lines(struct bent *b, size_t from, size_t to, int *nsync)
{
	size_t i;
	int rc;

	for (i = from; i < to; i++)
		if (b[i].j != NULL && b[i].have_r)
			break;
	if (i == to)
		return;
	rc = manifest_sync();
	(*nsync)++;
	for (i = from; i < to; i++) {
		if (b[i].j == NULL || !b[i].have_r)
			continue;
		if (rc == 0) {
			b[i].synced = 1;
		} else {
			job_manifest_failed(b[i].j, b[i].r.manifest);
			b[i].j = NULL;
		}
	}
}

/* Append every line, one fdatasync per manifest file. */
static int
batch_lines(struct bent *b, size_t n)
{
	struct buf line;
	struct job *j;
	size_t i, from = 0;
	int rootfd = -1, nsync = 0;
	const char *rel = NULL;

	buf_init(&line);
	for (i = 0; i < n; i++) {
		if ((j = b[i].j) == NULL)
			continue;
		j->manifest_fresh = 0;
		if (db_file_get(env->db, j->id, &b[i].r) == -1) {
			log_ev(LOG_ERR, "db_read_failed", "id=%lld",
			    (long long)j->id);
			job_arm(j, 5 * NS);	/* stays MOVED */
			b[i].j = NULL;
			continue;
		}
		b[i].have_r = 1;
		if (rel != NULL && (rootfd != j->r->manifest.fd ||
		    strcmp(rel, b[i].r.manifest) != 0)) {
			/* another manifest: this one is synced first */
			batch_sync_lines(b, from, i, &nsync);
			from = i;
		}
		rootfd = j->r->manifest.fd;
		rel = b[i].r.manifest;
		buf_reset(&line);
		manifest_line(&line, &b[i].r);
		if (manifest_write(rootfd, rel, line.data, line.len) == -1) {
			/* the manifest was closed: what came before is unsynced */
			job_manifest_failed(j, rel);
			b[i].j = NULL;
			batch_sync_lines(b, from, i, &nsync);
			from = i + 1;
			rel = NULL;
		}
	}
	batch_sync_lines(b, from, n, &nsync);
	buf_free(&line);
	return nsync;
}

/* MANIFESTED for every durable line.  In the open transaction. */
static void
batch_manifested(struct bent *b, size_t n)
{
	struct job *j;
	size_t i;

	for (i = 0; i < n; i++) {
		if ((j = b[i].j) == NULL)
			continue;
		if (!b[i].synced || db_file_set_state(env->db, j->id,
		    ST_MANIFESTED, b[i].r.manifest) == -1) {
			job_manifest_failed(j, b[i].r.manifest);
			b[i].j = NULL;
		}
	}
}

/* MANIFESTED could not be committed: every file stays MOVED. */
static void
batch_manifest_failed_all(struct bent *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (b[i].j != NULL) {
			job_manifest_failed(b[i].j, b[i].r.manifest);
			b[i].j = NULL;
		}
	}
}

/* Unlink the sources, fsync each staging directory once, record it. */
static void
batch_remove_sources(struct bent *b, size_t n, struct dirset *ds)
{
	struct job *j;
	size_t i;
	int began;

	dirset_clear(ds);	/* the archive's, and those renamed from */
	for (i = 0; i < n; i++) {
		b[i].sslot = -1;
		if ((j = b[i].j) == NULL)
			continue;
		if (jc(j)->action != ACTION_MOVE) {
			job_park(j, ST_MANIFESTED);	/* the source stays */
			b[i].j = NULL;
			continue;
		}
		if (!job_has_source(j))
			continue;	/* renamed away: nothing left */
		if ((b[i].sslot = dirset_parent(ds, j->w->fd, j->rel,
		    0)) == -1) {
			log_ev(LOG_ERR, "source_remove_failed", "path=%s"
			    " errno=%d", job_logpath(j), errno);
			job_finish(j);	/* recovery removes it later */
			b[i].j = NULL;
		} else if (job_unlink_at(j, dirset_fd(ds, b[i].sslot)) == -1) {
			job_finish(j);
			b[i].j = NULL;
		}
	}
	dirset_sync(ds);
	began = db_begin_lazy(env->db) == 0;
	for (i = 0; i < n; i++) {
		if ((j = b[i].j) == NULL)
			continue;
		if (dirset_ok(ds, b[i].sslot) == -1) {
			log_ev(LOG_ERR, "source_remove_failed", "path=%s"
			    " errno=%d", job_logpath(j), errno);
		} else {
			if (b[i].sslot != -1)
				j->src_in_staging = 0;
			db_file_set_source_removed(env->db, j->id);
		}
	}
	if (began)
		db_commit(env->db);	/* not a barrier: recovery redoes it */
	for (i = 0; i < n; i++) {
		if ((j = b[i].j) == NULL)
			continue;
		job_finish(j);
		b[i].j = NULL;
	}
}

/* Is the original a duplicate points at in the archive for good? */
static int
original_durable(int64_t id)
{
	struct file_rec r;
	int ok;

	memset(&r, 0, sizeof(r));
	ok = db_file_get(env->db, id, &r) == 0 && (r.state == ST_MOVED ||
	    r.state == ST_MANIFESTED);
	file_rec_free(&r);
	return ok;
}

static void
batch_flush(void)
{
	struct dirset ds;
	struct bent *b;
	struct job *j;
	size_t i, n = 0, ndirs = 0;
	int nsync = 0;

	if (s.batch_n == 0)
		return;
	b = xcalloc(s.batch_n, sizeof(*b));
	dirset_init(&ds, 2 * s.batch_n);
	while ((j = TAILQ_FIRST(&s.batchq)) != NULL) {
		job_batch_remove(j);
		b[n].j = j;
		b[n].dslot = b[n].sslot = -1;
		n++;
	}

	/* 1: HASHED, durable before anything is published */
	if (db_begin(env->db) == -1) {
		batch_retry_all(b, n, "database write failed");
		goto out;
	}
	processing_flush();	/* PROCESSING events precede HASHED */
	batch_hashed(b, n);
	if (db_commit(env->db) == -1) {
		batch_retry_all(b, n, "database write failed");
		goto out;
	}

	/* 2: link/rename, then one fsync per directory */
	batch_publish(b, n, &ds);
	ndirs = ds.n;

	/* 3: MOVED, durable before any manifest line */
	if (db_begin(env->db) == -1) {
		batch_retry_all(b, n, "database write failed");
		goto out;
	}
	batch_moved(b, n);
	if (db_commit(env->db) == -1) {
		batch_retry_all(b, n, "database write failed");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((j = b[i].j) != NULL) {
			j->state = ST_MOVED;
			job_close_fds(j);
		}
	}

	/* 4: manifest lines, one fdatasync per manifest file */
	nsync = batch_lines(b, n);

	/* 5: MANIFESTED, durable before any source is removed */
	if (db_begin(env->db) == -1) {
		batch_manifest_failed_all(b, n);
		goto out;
	}
	batch_manifested(b, n);
	if (db_commit(env->db) == -1) {
		batch_manifest_failed_all(b, n);
		goto out;
	}
	for (i = 0; i < n; i++)
		if (b[i].j != NULL)
			job_manifested(b[i].j, &b[i].r);
	log_ev(LOG_DEBUG, "batch_committed", "files=%zu dirs=%zu"
	    " manifest_syncs=%d", n, ndirs, nsync);
	for (i = 0; i < n; i++) {
		if ((j = b[i].held) == NULL)
			continue;
		b[i].held = NULL;
		if (original_durable(b[i].orig))
			job_duplicate(j, b[i].orig, b[i].orig_dest);
		else
			job_retry(j, "its original is not durable yet");
	}

	/* 6: the sources go */
	batch_remove_sources(b, n, &ds);
out:
	/* the batch failed before its originals were durable: look again */
	for (i = 0; i < n; i++) {
		if (b[i].held != NULL)
			job_retry(b[i].held, "its original is not durable yet");
		if (b[i].have_r)
			file_rec_free(&b[i].r);
		free(b[i].orig_dest);
	}
	dirset_free(&ds);
	free(b);
}

/* --- start-up recovery --- */

struct recover_list {
	struct file_rec	*recs;
	size_t		 n, cap;
};

static int
recover_collect(struct file_rec *r, void *arg)
{
	struct recover_list *l = arg;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->recs = xrealloc(l->recs, l->cap * sizeof(*l->recs));
	}
	l->recs[l->n++] = *r;
	memset(r, 0, sizeof(*r));	/* ownership moves to the list */
	return 0;
}

static int
stat_is(const struct stat *st, const struct file_rec *r)
{
	return (uint64_t)st->st_dev == r->device &&
	    (uint64_t)st->st_ino == r->inode;
}

/* The destination root an absolute archive path lies under. */
static int
job_dest_from_db(struct job *j, const char *dest)
{
	struct droot *cand[1 + 64];
	size_t i, n = 0, len;

	cand[n++] = &j->r->to;
	for (i = 0; i < j->r->nroutes && n < 65; i++)
		cand[n++] = &j->r->routes[i];
	for (i = 0; i < n; i++) {
		len = strlen(cand[i]->path);
		if (strncmp(dest, cand[i]->path, len) == 0 && dest[len] == '/') {
			j->droot = cand[i];
			j->dest = xstrdup(dest + len + 1);
			return 0;
		}
	}
	return -1;
}

/* A terminal row whose source is still in staging. */
static void
recover_terminal(struct watch *w, struct file_rec *r, const struct stat *st)
{
	struct job *j = job_new(w, r->relpath);
	int state = r->state;

	j->id = r->id;
	fsig_of(&j->sig, st);
	j->src_in_staging = 1;
	memcpy(job_hashes(j)->sha256, r->sha256, sizeof(j->h->sha256));
	if (state == ST_MANIFESTED && jc(j)->action == ACTION_MOVE) {
		log_ev(LOG_INFO, "recover_remove_source", "path=%s id=%lld",
		    job_logpath(j), (long long)r->id);
		job_remove_source(j);
		job_finish(j);
	} else if (state == ST_SKIPPED_DUPLICATE) {
		j->state = state;
		job_dispose_duplicate(j);
	} else {
		/* REJECTED, FAILED, copy/link MANIFESTED: the file stays */
		job_park(j, state);
	}
}

static void
recover_one(struct watch *w, struct file_rec *r)
{
	struct stat st, dst;
	struct job *j;
	int present;

	present = privop_lstat(w->fd, r->relpath, &st) == 0 &&
	    stat_is(&st, r);
	if (state_is_terminal(r->state)) {
		if (present)
			recover_terminal(w, r, &st);
		else
			db_file_set_source_removed(env->db, r->id);
		return;
	}
	j = job_new(w, r->relpath);
	j->id = r->id;
	j->attempts = r->attempts;
	if (present)
		fsig_of(&j->sig, &st);
	j->src_in_staging = present;
	if (r->sha256[0]) {
		memcpy(job_hashes(j)->sha256, r->sha256, sizeof(j->h->sha256));
		memcpy(j->h->xxh128, r->xxh128, sizeof(j->h->xxh128));
	}
	if (r->dest != NULL && job_dest_from_db(j, r->dest) == -1)
		log_ev(LOG_WARN, "recover_dest_unknown", "path=%s dest=%s",
		    job_logpath(j), r->dest);
	log_ev(LOG_INFO, "recover_file", "path=%s id=%lld state=%s",
	    job_logpath(j), (long long)r->id, state_name(r->state));
	if (r->state == ST_MOVED) {
		j->state = ST_MOVED;
		j->src_in_staging = present && !r->source_removed;
		job_manifest(j);
	} else if (r->state == ST_HASHED && j->dest != NULL && (!present ||
	    privop_lstat(j->droot->fd, j->dest, &dst) == 0)) {
		/*
		 * Renamed, or a copy linked, into the archive before the
		 * crash: check it is ours and adopt it.  Going back to QUEUED
		 * instead would give up the row's claim on the content, a
		 * duplicate could take it, and this copy would stay behind.
		 */
		j->state = ST_HASHED;
		j->kind = K_HASH;
		j->name_try = 2;	/* no other name to fall back to */
		job_verify_existing(j);
	} else if (present) {
		j->state = ST_RETRY_PENDING;	/* resume like a retry */
		job_enqueue(j, 0);
	} else {
		j->attempts = jc(j)->retry;
		job_retry(j, "source vanished before ingestion");
	}
}

int
sched_recover(struct watch *w)
{
	struct recover_list l = { NULL, 0, 0 };
	size_t i;
	int rc;

	if (env->conf->dry_run || env->db == NULL)
		return 0;
	rc = db_foreach_unfinished(env->db, w->name, recover_collect, &l);
	for (i = 0; i < l.n; i++) {
		if (rc == 0)
			recover_one(w, &l.recs[i]);
		file_rec_free(&l.recs[i]);
	}
	free(l.recs);
	return rc;
}

const char *
sched_retry(struct file_rec *r, const char *detail, int dry_run)
{
	struct watch *w = watch_find(r->watch);
	struct job *j;
	struct stat st;

	if (r->state != ST_FAILED && r->state != ST_RETRY_PENDING)
		return "not FAILED or RETRY_PENDING";
	if (w == NULL || w->retired)
		return "its watch is no longer configured";
	if ((j = htab_get(&w->jobs, r->relpath)) != NULL && j->id != r->id)
		return "a newer file with this name is being ingested";
	if (j != NULL && !j->parked && j->state != ST_RETRY_PENDING)
		return "already in flight";
	if (privop_lstat(w->fd, r->relpath, &st) == -1)
		return "source no longer in staging";
	if (!stat_is(&st, r))
		return "source changed: it is a new arrival";
	if (dry_run)
		return NULL;
	if (db_file_requeue(env->db, r->id, detail) != 0)
		return "database error";
	log_ev(LOG_INFO, "file_retry_requested", "path=%s id=%lld by=%s",
	    r->relpath, (long long)r->id, detail);
	if (j != NULL && !j->parked) {
		j->attempts = 0;
		job_enqueue(j, 0);
		return NULL;
	}
	if (j != NULL)
		job_free(j);
	r->state = ST_RETRY_PENDING;	/* recover_one resumes it like a retry */
	r->attempts = 0;
	recover_one(w, r);
	return NULL;
}

int
sched_has_job(struct watch *w, const char *rel, int64_t id)
{
	struct job *j = htab_get(&w->jobs, rel);

	return j != NULL && j->id == id;
}

void
sched_recover_row(struct watch *w, struct file_rec *r)
{
	recover_one(w, r);
}

/* BATCH_MAX, or fewer under a low RLIMIT_NOFILE (see BATCH_FDS). */
static size_t
batch_limit(void)
{
	struct rlimit rl;
	rlim_t n;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 ||
	    rl.rlim_cur == RLIM_INFINITY)
		return BATCH_MAX;
	n = rl.rlim_cur > FD_RESERVE ? (rl.rlim_cur - FD_RESERVE) / BATCH_FDS :
	    0;
	if (n < 1)
		return 1;
	return n > BATCH_MAX ? BATCH_MAX : (size_t)n;
}

void
sched_init(void)
{
	s.batch_max = batch_limit();
	htab_init(&s.dry_seen);
	TAILQ_INIT(&s.runq);
	TAILQ_INIT(&s.batchq);
	TAILQ_INIT(&s.newq);
}


void
sched_shutdown(void)
{
	jobs_foreach(NULL, job_free);
	if (s.batch_ev != NULL) {
		event_free(s.batch_ev);
		s.batch_ev = NULL;
	}
	if (s.insert_ev != NULL) {
		event_free(s.insert_ev);
		s.insert_ev = NULL;
	}
	if (s.proc_ev != NULL) {
		event_free(s.proc_ev);
		s.proc_ev = NULL;
	}
	free(s.proc);
	s.proc = NULL;
	s.nproc = s.capproc = 0;
	htab_free(&s.dry_seen);
	manifest_close();
}
