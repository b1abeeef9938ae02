/* master: owns the inotify descriptor and the staging tree walk; reports paths to the scheduler. */
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
#include "htab.h"
#include "ingestd.h"
#include "log.h"
#include "privop.h"
#include "sched.h"
#include "util.h"
#include "watch.h"

/*
 * No IN_DONT_FOLLOW: the path is /proc/self/fd/N, a magic link to the very
 * directory we opened without following symlinks.
 */
#define WATCH_MASK	(IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | \
			 IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | \
			 IN_EXCL_UNLINK)

static struct {
	int		 fd;
	struct event	*ev;
	struct event	*rescan;
	struct htab	 wds;		/* "wd" -> relpath of the directory */
	int		 overflows;
} w = { -1, NULL, NULL, { NULL, 0, 0 }, 0 };

static void	watch_dir(const char *rel, int scan);

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

/*
 * Watch one directory: open it beneath the root without following
 * symlinks, and point inotify at that very directory via /proc/self/fd.
 */
static int
watch_add(const char *rel)
{
	char proc[64], key[16];
	int dfd, wd;
	char *old;

	if (w.fd == -1)
		return 0;
	if ((dfd = privop_open_dir(env->staging_fd, rel)) == -1)
		return -1;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dfd);
	wd = inotify_add_watch(w.fd, proc, WATCH_MASK);
	close(dfd);
	if (wd == -1) {
		log_ev(LOG_ERR, "watch_failed", "dir=%s errno=%d", rel, errno);
		return -1;
	}
	wd_key(wd, key);
	if ((old = htab_put(&w.wds, key, xstrdup(rel))) != NULL)
		free(old);
	return 0;
}

static int
is_hidden(const char *name)
{
	return name[0] == '.';
}

/* Notice every entry of directory rel; descend into subdirectories. */
static void
scan_dir(const char *rel)
{
	struct dirent *de;
	struct stat st;
	char *child;
	DIR *dir;
	int dfd, isdir;

	if ((dfd = privop_open_dir(env->staging_fd, rel)) == -1) {
		if (errno != ENOENT)
			log_ev(LOG_WARN, "scan_failed", "dir=%s errno=%d", rel,
			    errno);
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
			if (!is_hidden(de->d_name))
				watch_dir(child, 1);
		} else {
			sched_notice(child);
		}
		free(child);
	}
	closedir(dir);
}

static void
watch_dir(const char *rel, int scan)
{
	watch_add(rel);
	if (scan)
		scan_dir(rel);
}

void
watch_rescan(const char *why)
{
	log_ev(LOG_DEBUG, "rescan", "reason=%s", why);
	watch_dir("", 1);
}

static void
watch_event(const struct inotify_event *ev)
{
	char key[16], *dir, *rel;

	if (ev->mask & IN_Q_OVERFLOW) {
		w.overflows++;
		log_ev(LOG_WARN, "inotify_overflow", "count=%d", w.overflows);
		watch_rescan("overflow");
		return;
	}
	wd_key(ev->wd, key);
	if (ev->mask & IN_IGNORED) {
		free(htab_del(&w.wds, key));
		return;
	}
	if ((dir = htab_get(&w.wds, key)) == NULL)
		return;
	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
		if (*dir == '\0')
			log_ev(LOG_ERR, "staging_root_gone", "path=%s",
			    env->conf->watch.path);
		return;
	}
	if (ev->len == 0)
		return;
	rel = rel_join(dir, ev->name);
	if (ev->mask & IN_ISDIR) {
		/* a new subdirectory: watch it first, then look inside */
		if (env->conf->watch.recursive && !is_hidden(ev->name) &&
		    (ev->mask & (IN_CREATE | IN_MOVED_TO)))
			watch_dir(rel, 1);
	} else {
		sched_notice(rel);
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
		n = read(w.fd, buf, sizeof(buf));
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
watch_start(void)
{
	struct timeval tv = { env->conf->rescan_secs, 0 };

	htab_init(&w.wds);
	if (!env->conf->once) {
		w.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (w.fd == -1) {
			log_ev(LOG_ERR, "inotify_failed", "errno=%d", errno);
			return -1;
		}
		w.ev = event_new(env->base, w.fd, EV_READ | EV_PERSIST,
		    inotify_cb, NULL);
		event_add(w.ev, NULL);
		w.rescan = event_new(env->base, -1, EV_PERSIST, rescan_cb, NULL);
		event_add(w.rescan, &tv);
	}
	/* watches go up before the scan so nothing falls in between */
	if (watch_add("") == -1)
		return -1;
	watch_rescan("start");
	return 0;
}

static void
free_path(const char *key, void *value, void *arg)
{
	free(value);
}

void
watch_stop(void)
{
	if (w.ev) {
		event_free(w.ev);
		w.ev = NULL;
	}
	if (w.rescan) {
		event_free(w.rescan);
		w.rescan = NULL;
	}
	if (w.fd != -1) {
		close(w.fd);
		w.fd = -1;
	}
	if (w.wds.slots) {
		htab_foreach(&w.wds, free_path, NULL);
		htab_free(&w.wds);
	}
}
