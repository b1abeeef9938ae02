/* master: ingestctl reconcile: compares staging, archive, manifests and the audit DB; repairs what is safe. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "buf.h"
#include "control.h"
#include "db.h"
#include "htab.h"
#include "ingestd.h"
#include "log.h"
#include "manifest.h"
#include "privop.h"
#include "proto.h"
#include "reconcile.h"
#include "sched.h"
#include "util.h"
#include "watch.h"

/* Unknown archive files are moved here, inside their own archive root. */
#define QUARANTINE	".ingestd-quarantine"

enum phase {
	P_ROWS,		/* every ingested row: archive copy there and intact */
	P_MANIFESTS,	/* every manifest line against the rows */
	P_ARCHIVE,	/* every archive file known to the DB */
	P_INFLIGHT,	/* unfinished rows somebody is working on */
	P_DONE,
};

struct reconcile {
	struct conn		*c;
	int			 repair;
	char			**watches;	/* names still to do */
	size_t			 nwatches, wi;
	enum phase		 phase;
	struct file_rec		*rows;
	size_t			 nrows, ri;
	struct htab		 expect;	/* "manifest\nid" of MANIFESTED rows */
	struct event		*step;
	long long		 checked, drifts, repaired, unrepaired;
};

/* nftw has no user argument: the walk in progress. */
static struct {
	struct reconcile	*rc;
	struct watch		*w;
	struct droot		*root;
	size_t			 rootlen;
} walk;

static struct watch *
cur_watch(struct reconcile *rc)
{
	struct watch *w = watch_find(rc->watches[rc->wi]);

	return w != NULL && !w->retired ? w : NULL;
}

/* One drift: a record for the client; repaired says what was done. */
static void
drift(struct reconcile *rc, const char *kind, int64_t id, const char *path,
    const char *detail, const char *repaired)
{
	struct ctl_record r;

	rc->drifts++;
	if (repaired != NULL)
		rc->repaired++;
	else
		rc->unrepaired++;
	log_ev(LOG_WARN, "reconcile_drift", "watch=%s drift=%s id=%lld path=%s"
	    " detail=%s repaired=%s", rc->watches[rc->wi], kind, (long long)id,
	    path, detail, repaired ? repaired : "no");
	record_init(&r);
	record_str(&r, "kind", "drift");
	record_str(&r, "watch", rc->watches[rc->wi]);
	record_str(&r, "drift", kind);
	if (id > 0)
		record_int(&r, "id", id);
	else
		record_nil(&r, "id");
	record_str(&r, "path", path);
	record_str(&r, "detail", detail);
	record_str(&r, "action", repaired ? repaired : rc->repair ?
	    "none: needs an operator" : "none (--check)");
	control_record(rc->c, &r);
}

static void
progress(struct reconcile *rc)
{
	struct ctl_record r;

	if (++rc->checked % 1000 != 0)
		return;
	record_init(&r);
	record_str(&r, "kind", "progress");
	record_str(&r, "watch", rc->watches[rc->wi]);
	record_int(&r, "checked", rc->checked);
	record_int(&r, "drifts", rc->drifts);
	control_record(rc->c, &r);
}

/* SHA-256 of an open file, hex.  0, or -1 on a read error. */
static int
file_sha256(int fd, char out[65])
{
	static unsigned char buf[1 << 20];
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	ssize_t n;
	int rc = -1;

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto done;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
			goto done;
	if (n == 0 && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32) {
		hex_encode(md, sizeof(md), out);
		rc = 0;
	}
done:
	EVP_MD_CTX_free(ctx);
	return rc;
}

/*
 * Move an archive file into the quarantine of the root holding it, under
 * its own relative path; a name already there gets ".N" (never replaced).
 */
static const char *
quarantine(struct watch *w, const char *path)
{
	struct droot *d = NULL;
	const char *rel, *base, *qbase;
	struct buf q, name;
	char *qdir;
	size_t i, n;
	int sdir, ddir, ok = -1, k;

	if (strncmp(path, w->rules->to.path, strlen(w->rules->to.path)) == 0)
		d = &w->rules->to;
	for (i = 0; d == NULL && i < w->rules->nroutes; i++)
		if (strncmp(path, w->rules->routes[i].path,
		    strlen(w->rules->routes[i].path)) == 0)
			d = &w->rules->routes[i];
	if (d == NULL || path[(n = strlen(d->path))] != '/')
		return NULL;
	rel = path + n + 1;
	if ((sdir = privop_open_parent(d->fd, rel, &base)) == -1)
		return NULL;
	buf_init(&q);
	buf_printf(&q, "%s/%s", QUARANTINE, rel);
	qdir = privop_dirname(q.data, &qbase);
	if ((ddir = privop_mkdirs(d->fd, qdir)) != -1) {
		buf_init(&name);
		buf_adds(&name, qbase);
		for (k = 1; k < 1000; k++) {
			if ((ok = privop_rename(sdir, base, ddir,
			    name.data)) == 0 || errno != EEXIST)
				break;
			buf_reset(&name);
			buf_printf(&name, "%s.%d", qbase, k);
		}
		buf_free(&name);
		if (ok == 0) {
			privop_fsync_dir(ddir);
			privop_fsync_dir(sdir);
		}
		close(ddir);
	}
	free(qdir);
	close(sdir);
	buf_free(&q);
	return ok == 0 ? "moved to " QUARANTINE " in its archive root" : NULL;
}

/* The DB must stop claiming content it no longer holds. */
static const char *
forget_copy(struct reconcile *rc, struct file_rec *r, const char *why)
{
	char detail[160];
	const char *no;

	if (db_file_set_error(env->db, r->id, ST_FAILED, r->attempts, why) ==
	    -1)
		return NULL;
	r->state = ST_FAILED;
	snprintf(detail, sizeof(detail), "reconcile: %s", why);
	/* the source may still be in staging (action copy): ingest it again */
	no = sched_retry(r, detail, 0);
	return no == NULL ? "marked FAILED and queued again from staging" :
	    "marked FAILED (no copy left in staging)";
}

static void
expect_line(struct reconcile *rc, const struct file_rec *r)
{
	struct buf k;

	buf_init(&k);
	buf_printf(&k, "%s\n%lld", r->manifest, (long long)r->id);
	htab_put(&rc->expect, k.data, (void *)1);
	buf_free(&k);
}

static void
check_staging_copy(struct reconcile *rc, struct watch *w, struct file_rec *r)
{
	struct stat st;
	const char *base, *done = NULL;
	int dfd;

	if (r->state != ST_MANIFESTED || r->source_removed ||
	    w->rules->c->action != ACTION_MOVE ||
	    sched_has_job(w, r->relpath, r->id) ||
	    privop_lstat(w->fd, r->relpath, &st) == -1 ||
	    (uint64_t)st.st_ino != r->inode || (uint64_t)st.st_dev != r->device)
		return;
	if (rc->repair && (dfd = privop_open_parent(w->fd, r->relpath,
	    &base)) != -1) {
		if (privop_unlink_if_same(dfd, base, st.st_dev, st.st_ino) ==
		    0 && privop_fsync_dir(dfd) == 0 &&
		    db_file_set_source_removed(env->db, r->id) == 0)
			done = "source removed from staging";
		close(dfd);
	}
	drift(rc, "staging_already_ingested", r->id, r->source_path,
	    "the source of an ingested file is still in staging", done);
}

/* P_ROWS: one ingested row. */
static void
check_row(struct reconcile *rc, struct watch *w, struct file_rec *r)
{
	struct stat st;
	char sha[65], detail[200], action[160];
	const char *done = NULL;
	int fd;

	progress(rc);
	if (r->state == ST_MANIFESTED && r->manifest != NULL)
		expect_line(rc, r);
	check_staging_copy(rc, w, r);
	if (r->dest == NULL || sched_has_job(w, r->relpath, r->id))
		return;
	fd = open(r->dest, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd == -1 && errno == ENOENT) {
		if (rc->repair)
			done = forget_copy(rc, r, "archive copy missing");
		drift(rc, "archive_missing", r->id, r->dest,
		    "the archive copy is gone", done);
		return;
	}
	if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(detail, sizeof(detail), "cannot read the archive"
		    " copy: %s", fd == -1 ? strerror(errno) : "not a file");
		if (fd != -1)
			close(fd);
		drift(rc, "archive_unreadable", r->id, r->dest, detail, NULL);
		return;
	}
	if (st.st_size != r->size)
		snprintf(detail, sizeof(detail), "size %lld, recorded %lld",
		    (long long)st.st_size, (long long)r->size);
	else if (file_sha256(fd, sha) == -1)
		snprintf(detail, sizeof(detail), "read error: %s",
		    strerror(errno));
	else if (r->sha256[0] != '\0' && strcmp(sha, r->sha256) != 0)
		snprintf(detail, sizeof(detail), "sha256 %.16s..., recorded"
		    " %.16s...", sha, r->sha256);
	else
		detail[0] = '\0';
	close(fd);
	if (detail[0] == '\0')
		return;
	if (rc->repair && quarantine(w, r->dest) != NULL &&
	    (done = forget_copy(rc, r, "archive copy corrupt (quarantined)")) !=
	    NULL) {
		snprintf(action, sizeof(action), "copy moved to " QUARANTINE
		    "; %s", done);
		done = action;
	}
	drift(rc, "hash_mismatch", r->id, r->dest, detail, done);
}

/* Cut a torn last line (a crash in mid-append) off a manifest. */
static const char *
manifest_cut(const char *path, off_t keep)
{
	int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	int rc;

	if (fd == -1)
		return NULL;
	rc = ftruncate(fd, keep) == 0 && fdatasync(fd) == 0 ? 0 : -1;
	close(fd);
	return rc == 0 ? "torn line cut off" : NULL;
}

/* The id of a line we wrote: it starts {"id":N, */
static int64_t
line_id(const char *line, size_t len)
{
	long long id = 0;
	size_t i = 7;

	if (len < 9 || memcmp(line, "{\"id\":", 6) != 0)
		return -1;
	for (i = 6; i < len && line[i] >= '0' && line[i] <= '9'; i++)
		id = id * 10 + (line[i] - '0');
	return i > 6 && i < len && line[i] == ',' && line[len - 1] == '}' ?
	    id : -1;
}

static void
check_manifest_line(struct reconcile *rc, const char *rel, const char *path,
    const char *line, size_t len, struct htab *seen)
{
	struct file_rec r;
	struct buf k;
	int64_t id = line_id(line, len);
	char detail[64];

	progress(rc);
	if (id <= 0) {
		drift(rc, "manifest_bad_line", 0, path, "a line that is not"
		    " one of ours", NULL);
		return;
	}
	buf_init(&k);
	buf_printf(&k, "%s\n%lld", rel, (long long)id);
	if (htab_get(seen, k.data) != NULL) {
		snprintf(detail, sizeof(detail), "id %lld appears twice",
		    (long long)id);
		drift(rc, "manifest_duplicate_line", id, path, detail, NULL);
	} else if (htab_get(&rc->expect, k.data) != NULL) {
		htab_del(&rc->expect, k.data);
		htab_put(seen, k.data, (void *)1);
	} else if (db_file_get(env->db, id, &r) == 0) {
		/* another watch may share this manifest */
		if (strcmp(r.watch, rc->watches[rc->wi]) == 0)
			drift(rc, "manifest_extra_line", id, path,
			    "the DB does not record this line here", NULL);
		file_rec_free(&r);
	} else
		drift(rc, "manifest_extra_line", id, path, "no such file in"
		    " the DB", NULL);
	buf_free(&k);
}

static void
check_manifest(struct reconcile *rc, const char *path, const char *rel)
{
	struct htab seen;
	char *data = NULL, *p, *nl;
	size_t len = 0;
	FILE *fp;
	const char *done = NULL;

	if ((fp = fopen(path, "re")) == NULL)
		return;
	{
		struct buf b;
		char chunk[65536];
		size_t n;

		buf_init(&b);
		while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
			buf_add(&b, chunk, n);
		len = b.len;
		data = buf_release(&b);
	}
	fclose(fp);
	htab_init(&seen);
	for (p = data; data != NULL && p < data + len; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(data + len - p))) == NULL) {
			if (rc->repair)
				done = manifest_cut(path, (off_t)(p - data));
			drift(rc, "manifest_torn_line", 0, path, "the last line"
			    " has no newline", done);
			break;
		}
		check_manifest_line(rc, rel, path, p, (size_t)(nl - p), &seen);
	}
	htab_free(&seen);
	free(data);
}

static int
manifest_walk_cb(const char *path, const struct stat *st, int type,
    struct FTW *ftw)
{
	if (type == FTW_F && S_ISREG(st->st_mode) &&
	    strlen(path) > walk.rootlen)
		check_manifest(walk.rc, path, path + walk.rootlen + 1);
	return 0;
}

struct missing_ctx {
	char	**keys;
	size_t	  n;
};

static void
collect_key(const char *key, void *value, void *arg)
{
	struct missing_ctx *m = arg;

	m->keys = xrealloc(m->keys, (m->n + 1) * sizeof(*m->keys));
	m->keys[m->n++] = xstrdup(key);
}

/* A MANIFESTED row whose line is in no manifest: write it again. */
static void
check_missing_line(struct reconcile *rc, struct watch *w, const char *key)
{
	const char *nl = strchr(key, '\n');
	const char *done = NULL;
	long long id;
	struct file_rec r;
	struct buf line, path;

	if (nl == NULL || parse_uint(nl + 1, 1, INT64_MAX, &id) == -1)
		return;
	buf_init(&path);
	buf_printf(&path, "%s/%.*s", w->rules->manifest.path, (int)(nl - key),
	    key);
	if (rc->repair && db_file_get(env->db, id, &r) == 0) {
		buf_init(&line);
		manifest_line(&line, &r);
		if (manifest_has_id(w->rules->manifest.fd, r.manifest, id) == 0 &&
		    manifest_append(w->rules->manifest.fd, r.manifest,
		    line.data, line.len) == 0)
			done = "line appended";
		buf_free(&line);
		file_rec_free(&r);
	}
	drift(rc, "manifest_missing_line", id, path.data, "an ingested file"
	    " has no manifest line", done);
	buf_free(&path);
}

static void
phase_manifests(struct reconcile *rc, struct watch *w)
{
	struct missing_ctx m = { NULL, 0 };
	size_t i;

	walk.rc = rc;
	walk.w = w;
	walk.rootlen = strlen(w->rules->manifest.path);
	(void)nftw(w->rules->manifest.path, manifest_walk_cb, 16, FTW_PHYS);
	htab_foreach(&rc->expect, collect_key, &m);
	for (i = 0; i < m.n; i++) {
		check_missing_line(rc, w, m.keys[i]);
		free(m.keys[i]);
	}
	free(m.keys);
}

static int
archive_walk_cb(const char *path, const struct stat *st, int type,
    struct FTW *ftw)
{
	struct reconcile *rc = walk.rc;
	const char *rel = path + walk.rootlen;
	const char *done = NULL;
	int known;

	if (strncmp(rel, "/" QUARANTINE, sizeof(QUARANTINE)) == 0 &&
	    (rel[sizeof(QUARANTINE)] == '/' || rel[sizeof(QUARANTINE)] == '\0'))
		return type == FTW_D ? FTW_SKIP_SUBTREE : 0;
	if (type != FTW_F)
		return 0;
	progress(rc);
	if ((known = db_dest_known(env->db, path)) != 0)
		return 0;
	if (rc->repair)
		done = quarantine(walk.w, path);
	drift(rc, "archive_unknown", 0, path, S_ISREG(st->st_mode) ?
	    "a file in the archive that the DB does not know" :
	    "not a regular file", done);
	return 0;
}

static void
phase_archive(struct reconcile *rc, struct watch *w)
{
	struct wrules *r = w->rules;
	size_t i, j;
	int seen;

	walk.rc = rc;
	walk.w = w;
	for (i = 0; i <= r->nroutes; i++) {
		walk.root = i == 0 ? &r->to : &r->routes[i - 1];
		for (seen = 0, j = 0; j < i; j++)
			seen |= strcmp((j == 0 ? &r->to :
			    &r->routes[j - 1])->path, walk.root->path) == 0;
		if (seen)
			continue;
		walk.rootlen = strlen(walk.root->path);
		(void)nftw(walk.root->path, archive_walk_cb, 16,
		    FTW_PHYS | FTW_ACTIONRETVAL);
	}
}

static int
inflight_check(struct file_rec *r, void *arg)
{
	struct reconcile *rc = arg;
	struct watch *w = cur_watch(rc);
	char detail[64];

	if (w == NULL || sched_has_job(w, r->relpath, r->id))
		return 0;
	snprintf(detail, sizeof(detail), "%s, and nothing works on it",
	    state_name(r->state));
	drift(rc, "stuck_in_flight", r->id, r->source_path, detail,
	    rc->repair ? "resumed from its last durable state" : NULL);
	return 0;
}

/* Collect first: resuming a row writes to the DB being read. */
static int
rows_collect(struct file_rec *r, void *arg)
{
	struct reconcile *rc = arg;

	rc->rows = xrealloc(rc->rows, (rc->nrows + 1) * sizeof(*rc->rows));
	rc->rows[rc->nrows++] = *r;
	memset(r, 0, sizeof(*r));
	return 0;
}

static void
rows_free(struct reconcile *rc)
{
	size_t i;

	for (i = 0; i < rc->nrows; i++)
		file_rec_free(&rc->rows[i]);
	free(rc->rows);
	rc->rows = NULL;
	rc->nrows = rc->ri = 0;
}

static void
phase_inflight(struct reconcile *rc, struct watch *w)
{
	size_t i;

	db_foreach(env->db, ROWS_INFLIGHT, w->name, rows_collect, rc);
	for (i = 0; i < rc->nrows; i++) {
		inflight_check(&rc->rows[i], rc);
		if (rc->repair && !sched_has_job(w, rc->rows[i].relpath,
		    rc->rows[i].id))
			sched_recover_row(w, &rc->rows[i]);
	}
	rows_free(rc);
}

static void
reconcile_finish(struct reconcile *rc)
{
	char msg[160];
	int status;

	if (rc->drifts == 0) {
		snprintf(msg, sizeof(msg), "no drift (%lld items checked)",
		    rc->checked);
		status = 0;
	} else if (!rc->repair) {
		snprintf(msg, sizeof(msg), "%lld drift(s) found", rc->drifts);
		status = 1;
	} else {
		snprintf(msg, sizeof(msg), "%lld drift(s): %lld repaired, %lld"
		    " need an operator", rc->drifts, rc->repaired,
		    rc->unrepaired);
		status = rc->unrepaired > 0 ? 1 : 0;
	}
	log_ev(LOG_INFO, "reconcile_done", "drifts=%lld repaired=%lld"
	    " unrepaired=%lld", rc->drifts, rc->repaired, rc->unrepaired);
	control_task_done(rc->c, status, msg);
	reconcile_abort(rc);
}

/* One step per loop turn, so that ingestion goes on meanwhile. */
static void
step_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reconcile *rc = arg;
	struct watch *w;
	size_t n;

	if (rc->wi >= rc->nwatches) {
		reconcile_finish(rc);
		return;
	}
	if ((w = cur_watch(rc)) == NULL)
		rc->phase = P_DONE;
	switch (rc->phase) {
	case P_ROWS:
		if (rc->nrows == 0 && rc->ri == 0)
			db_foreach(env->db, ROWS_INGESTED, w->name,
			    rows_collect, rc);
		for (n = 0; n < 64 && rc->ri < rc->nrows; n++)
			check_row(rc, w, &rc->rows[rc->ri++]);
		if (rc->ri >= rc->nrows) {
			rows_free(rc);
			rc->phase = P_MANIFESTS;
		}
		break;
	case P_MANIFESTS:
		phase_manifests(rc, w);
		rc->phase = P_ARCHIVE;
		break;
	case P_ARCHIVE:
		phase_archive(rc, w);
		rc->phase = P_INFLIGHT;
		break;
	case P_INFLIGHT:
		phase_inflight(rc, w);
		rc->phase = P_DONE;
		break;
	case P_DONE:
		htab_free(&rc->expect);
		htab_init(&rc->expect);
		rc->wi++;
		rc->phase = P_ROWS;
		break;
	}
	event_active(rc->step, EV_TIMEOUT, 0);
}

struct reconcile *
reconcile_start(struct conn *c, const char *watch, int repair, char **err)
{
	struct reconcile *rc = xcalloc(1, sizeof(*rc));
	struct watch *w;

	*err = NULL;
	rc->c = c;
	rc->repair = repair;
	htab_init(&rc->expect);
	TAILQ_FOREACH(w, &watches, entry) {
		if (w->retired || (watch != NULL && strcmp(w->name, watch) != 0))
			continue;
		rc->watches = xrealloc(rc->watches, (rc->nwatches + 1) *
		    sizeof(*rc->watches));
		rc->watches[rc->nwatches++] = xstrdup(w->name);
	}
	rc->step = event_new(env->base, -1, 0, step_cb, rc);
	log_ev(LOG_INFO, "reconcile_started", "watches=%d repair=%d",
	    (int)rc->nwatches, repair);
	event_active(rc->step, EV_TIMEOUT, 0);
	return rc;
}

void
reconcile_abort(struct reconcile *rc)
{
	size_t i;

	event_free(rc->step);
	rows_free(rc);
	htab_free(&rc->expect);
	for (i = 0; i < rc->nwatches; i++)
		free(rc->watches[i]);
	free(rc->watches);
	free(rc);
}
