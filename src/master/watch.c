/* master: owns the watched trees: staging roots, destination roots, inotify, tree walks; reports paths to the scheduler. */
#include <sys/inotify.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "buf.h"
#include "config.h"
#include "htab.h"
#include "ingestd.h"
#include "log.h"
#include "metrics.h"
#include "privop.h"
#include "sched.h"
#include "template.h"
#include "util.h"
#include "watch.h"

/*
 * No IN_DONT_FOLLOW: the path is /proc/self/fd/N, a magic link to the very
 * directory we opened without following symlinks.
 */
#define WATCH_MASK	(IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | \
			 IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | \
			 IN_EXCL_UNLINK)

struct watchlist watches = TAILQ_HEAD_INITIALIZER(watches);

/* What an inotify watch descriptor stands for. */
struct wdent {
	struct watch	*w;
	char		*rel;		/* directory below the watch root */
};

static struct {
	int		 fd;
	struct event	*ev;
	struct event	*rescan;
	struct htab	 wds;		/* "wd" -> struct wdent */
	int		 overflows;
} in = { -1, NULL, NULL, { NULL, 0, 0 }, 0 };

static void	watch_dir(struct watch *, const char *rel, int scan);

/* --- roots --- */

static void
droot_close(struct droot *d)
{
	if (d->fd != -1)
		close(d->fd);
	free(d->path);
	free(d->tmpl);
	memset(d, 0, sizeof(*d));
	d->fd = -1;
}

/* Create an absolute directory and its parents (operator-given roots). */
static int
mkdir_abs(const char *path)
{
	char *copy = xstrdup(path), *p;
	int rc = 0;

	for (p = copy + 1; rc == 0; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		if (*p == '\0')
			p = NULL;
		else
			*p = '\0';
		if (mkdir(copy, 0755) == -1 && errno != EEXIST)
			rc = -1;
		if (p == NULL)
			break;
		*p = '/';
	}
	free(copy);
	return rc;
}

static int
droot_open(struct droot *d, const char *tmpl, char **err)
{
	size_t n = template_prefix_len(tmpl);
	struct stat st;

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	if (n < 2 || tmpl[0] != '/') {
		if (asprintf(err, "%s: template needs an absolute fixed"
		    " directory before its first field", tmpl) == -1)
			*err = NULL;
		return -1;
	}
	d->path = xmalloc(n);
	memcpy(d->path, tmpl, n - 1);
	d->path[n - 1] = '\0';
	d->tmpl = xstrdup(tmpl + n);
	if (mkdir_abs(d->path) == -1 ||
	    (d->fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fstat(d->fd, &st) == -1) {
		if (asprintf(err, "%s: %s", d->path, strerror(errno)) == -1)
			*err = NULL;
		droot_close(d);
		return -1;
	}
	d->dev = st.st_dev;
	return 0;
}

struct wrules *
wrules_open(const struct watch_conf *conf, char **err)
{
	struct wrules *r = xcalloc(1, sizeof(*r));
	struct watch_conf *c = config_watch_dup(conf);
	struct route *rt;
	size_t i = 0;

	*err = NULL;
	r->c = c;
	r->refs = 1;
	r->dupfd = -1;
	r->to.fd = r->manifest.fd = -1;
	TAILQ_FOREACH(rt, &c->routes, entry)
		r->nroutes++;
	r->routes = xcalloc(r->nroutes ? r->nroutes : 1, sizeof(*r->routes));
	for (i = 0; i < r->nroutes; i++)
		r->routes[i].fd = -1;
	if (droot_open(&r->to, c->to, err) == -1 ||
	    droot_open(&r->manifest, c->manifest, err) == -1)
		goto fail;
	i = 0;
	TAILQ_FOREACH(rt, &c->routes, entry)
		if (droot_open(&r->routes[i++], rt->to, err) == -1)
			goto fail;
	if (c->duplicate == DUP_MOVE_TO) {
		if (mkdir_abs(c->duplicate_dir) == -1 ||
		    (r->dupfd = open(c->duplicate_dir, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) == -1) {
			if (asprintf(err, "%s: %s", c->duplicate_dir,
			    strerror(errno)) == -1)
				*err = NULL;
			goto fail;
		}
	}
	return r;
fail:
	wrules_unref(r);
	return NULL;
}

void
wrules_ref(struct wrules *r)
{
	r->refs++;
}

void
wrules_unref(struct wrules *r)
{
	size_t i;

	if (r == NULL || --r->refs > 0)
		return;
	droot_close(&r->to);
	droot_close(&r->manifest);
	for (i = 0; i < r->nroutes; i++)
		droot_close(&r->routes[i]);
	free(r->routes);
	if (r->dupfd != -1)
		close(r->dupfd);
	config_watch_free(r->c);
	free(r);
}

struct watch *
watch_add(struct wrules *r, char **err)
{
	struct watch *w;
	struct stat st;
	int fd;

	*err = NULL;
	fd = open(r->c->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1) {
		if (asprintf(err, "%s: %s", r->c->path, strerror(errno)) == -1)
			*err = NULL;
		if (fd != -1)
			close(fd);
		return NULL;
	}
	w = xcalloc(1, sizeof(*w));
	w->name = xstrdup(r->c->name);
	w->path = xstrdup(r->c->path);
	w->fd = fd;
	w->dev = st.st_dev;
	w->rules = r;
	htab_init(&w->jobs);
	TAILQ_INSERT_TAIL(&watches, w, entry);
	metrics_watch_add(w->name);
	return w;
}

struct watch *
watch_find(const char *name)
{
	struct watch *w;

	TAILQ_FOREACH(w, &watches, entry)
		if (!w->retired && strcmp(w->name, name) == 0)
			return w;
	return NULL;
}

/* --- inotify --- */

static void
wd_key(int wd, char key[16])
{
	snprintf(key, 16, "%d", wd);
}

static char *
rel_join(const char *dir, const char *name)
{
	struct buf b;

	buf_init(&b);
	if (*dir != '\0')
		buf_printf(&b, "%s/", dir);
	buf_adds(&b, name);
	return buf_release(&b);
}

static void
wdent_free(struct wdent *e)
{
	if (e != NULL) {
		free(e->rel);
		free(e);
	}
}

/*
 * Watch one directory: open it beneath the root without following
 * symlinks, and point inotify at that very directory via /proc/self/fd.
 */
static int
watch_inotify_add(struct watch *w, const char *rel)
{
	char proc[64], key[16];
	struct wdent *e;
	int dfd, wd;

	if (in.fd == -1)
		return 0;
	if ((dfd = privop_open_dir(w->fd, rel)) == -1)
		return -1;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dfd);
	wd = inotify_add_watch(in.fd, proc, WATCH_MASK);
	close(dfd);
	if (wd == -1) {
		log_ev(LOG_ERR, "watch_failed", "watch=%s dir=%s errno=%d",
		    w->name, rel, errno);
		w->unwatched++;
		return -1;
	}
	wd_key(wd, key);
	e = xmalloc(sizeof(*e));
	e->w = w;
	e->rel = xstrdup(rel);
	wdent_free(htab_put(&in.wds, key, e));
	return 0;
}

static int
is_hidden(const char *name)
{
	return name[0] == '.';
}

/* Notice every entry of directory rel; descend into subdirectories. */
static void
scan_dir(struct watch *w, const char *rel)
{
	struct dirent *de;
	struct stat st;
	char *child;
	DIR *dir;
	int dfd, isdir;

	if ((dfd = privop_open_dir(w->fd, rel)) == -1) {
		if (errno != ENOENT)
			log_ev(LOG_WARN, "scan_failed", "watch=%s dir=%s"
			    " errno=%d", w->name, rel, errno);
		return;
	}
	if ((dir = fdopendir(dfd)) == NULL) {
		close(dfd);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		isdir = de->d_type == DT_DIR;
		if (de->d_type == DT_UNKNOWN)
			isdir = fstatat(dirfd(dir), de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
		child = rel_join(rel, de->d_name);
		if (isdir) {
			if (w->rules->c->recursive && !is_hidden(de->d_name))
				watch_dir(w, child, 1);
		} else {
			sched_notice(w, child, 0);
		}
		free(child);
	}
	closedir(dir);
}

static void
watch_dir(struct watch *w, const char *rel, int scan)
{
	watch_inotify_add(w, rel);
	if (scan)
		scan_dir(w, rel);
}

void
watch_rescan(const char *why)
{
	struct watch *w;

	log_ev(LOG_DEBUG, "rescan", "reason=%s", why);
	TAILQ_FOREACH(w, &watches, entry) {
		if (w->retired)
			continue;
		w->unwatched = 0;
		metrics_rescan(w->name, why);
		watch_dir(w, "", 1);
	}
}

static void
watch_event(const struct inotify_event *ev)
{
	struct wdent *e;
	struct watch *w;
	char key[16], *rel;

	if (ev->mask & IN_Q_OVERFLOW) {
		in.overflows++;
		log_ev(LOG_WARN, "inotify_overflow", "count=%d", in.overflows);
		TAILQ_FOREACH(w, &watches, entry)
			if (!w->retired)
				metrics_overflow(w->name);
		watch_rescan("overflow");
		return;
	}
	wd_key(ev->wd, key);
	if (ev->mask & IN_IGNORED) {
		wdent_free(htab_del(&in.wds, key));
		return;
	}
	if ((e = htab_get(&in.wds, key)) == NULL || e->w->retired)
		return;
	metrics_watch_event(e->w->name);
	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
		if (*e->rel == '\0')
			log_ev(LOG_ERR, "staging_root_gone", "watch=%s path=%s",
			    e->w->name, e->w->path);
		return;
	}
	if (ev->len == 0)
		return;
	rel = rel_join(e->rel, ev->name);
	if (ev->mask & IN_ISDIR) {
		/* a new subdirectory: watch it first, then look inside */
		if (e->w->rules->c->recursive && !is_hidden(ev->name) &&
		    (ev->mask & (IN_CREATE | IN_MOVED_TO)))
			watch_dir(e->w, rel, 1);
	} else {
		sched_notice(e->w, rel,
		    (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) != 0);
	}
	free(rel);
}

static void
inotify_cb(evutil_socket_t fd, short what, void *arg)
{
	char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t n;
	char *p;

	for (;;) {
		n = read(in.fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)(void *)p;
			watch_event(ev);
		}
	}
}

static void
rescan_cb(evutil_socket_t fd, short what, void *arg)
{
	watch_rescan("periodic");
}

int
watch_arm(struct watch *w)
{
	/* the root watch goes up before the scan so nothing falls between */
	if (in.fd != -1 && watch_inotify_add(w, "") == -1)
		return -1;
	metrics_rescan(w->name, "start");
	watch_dir(w, "", 1);
	return 0;
}

int
watch_start(void)
{
	struct timeval tv = { env->conf->rescan_secs, 0 };
	struct watch *w;

	htab_init(&in.wds);
	if (!env->conf->once) {
		in.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (in.fd == -1) {
			log_ev(LOG_ERR, "inotify_failed", "errno=%d", errno);
			return -1;
		}
		in.ev = event_new(env->base, in.fd, EV_READ | EV_PERSIST,
		    inotify_cb, NULL);
		event_add(in.ev, NULL);
		in.rescan = event_new(env->base, -1, EV_PERSIST, rescan_cb,
		    NULL);
		event_add(in.rescan, &tv);
	}
	log_ev(LOG_DEBUG, "rescan", "reason=%s", "start");
	TAILQ_FOREACH(w, &watches, entry)
		if (watch_arm(w) == -1)
			return -1;
	return 0;
}

struct retire_ctx {
	struct watch	*w;
	struct buf	 wds;
};

static void
collect_wds(const char *key, void *value, void *arg)
{
	struct wdent *e = value;
	struct retire_ctx *rc = arg;
	int wd = atoi(key);

	if (e->w == rc->w)
		buf_add(&rc->wds, &wd, sizeof(wd));
}

void
watch_retire(struct watch *w)
{
	struct retire_ctx rc;
	size_t i;
	int *wds;

	w->retired = 1;
	if (in.fd == -1 || in.wds.slots == NULL)
		return;
	rc.w = w;
	buf_init(&rc.wds);
	htab_foreach(&in.wds, collect_wds, &rc);
	wds = (int *)(void *)rc.wds.data;
	for (i = 0; i < rc.wds.len / sizeof(int); i++)
		inotify_rm_watch(in.fd, wds[i]);	/* IN_IGNORED frees the entry */
	buf_free(&rc.wds);
}

static void
frewdent(const char *key, void *value, void *arg)
{
	wdent_free(value);
}

void
watch_stop(void)
{
	if (in.ev) {
		event_free(in.ev);
		in.ev = NULL;
	}
	if (in.rescan) {
		event_free(in.rescan);
		in.rescan = NULL;
	}
	if (in.fd != -1) {
		close(in.fd);
		in.fd = -1;
	}
	if (in.wds.slots) {
		htab_foreach(&in.wds, frewdent, NULL);
		htab_free(&in.wds);
	}
}
