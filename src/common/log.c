/* common: structured logging to stderr, one write per record (all processes). */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "buf.h"
#include "json.h"
#include "log.h"
#include "logsys.h"
#include "util.h"

/*
 * Fields are written by our own small "key=%spec" parser rather than
 * vsnprintf: every string must go through the JSON escaper, and printf
 * cannot do that.  The format attribute in log.h still lets the compiler
 * check the argument types against the specs.
 */

enum log_arg {
	ARG_STR,
	ARG_INT,
	ARG_UINT,
	ARG_LONG,
	ARG_ULONG,
	ARG_LLONG,
	ARG_ULLONG,
	ARG_SIZE,
	ARG_INTMAX,
	ARG_UINTMAX,
};

static const struct {
	const char	*spec;
	enum log_arg	 arg;
} log_specs[] = {
	{ "s",		ARG_STR },
	{ "d",		ARG_INT },
	{ "u",		ARG_UINT },
	{ "ld",		ARG_LONG },
	{ "lu",		ARG_ULONG },
	{ "lld",	ARG_LLONG },
	{ "llu",	ARG_ULLONG },
	{ "zu",		ARG_SIZE },
	{ "jd",		ARG_INTMAX },
	{ "ju",		ARG_UINTMAX },
};

_Static_assert(sizeof(intmax_t) <= sizeof(long long),
    "intmax_t values are logged as long long");

static const char *const log_level_names[] = {
	"debug", "info", "warn", "error",
};

static char			log_proc[64] = "ingestd";
static int			log_min_level = LOG_INFO;
static int			log_json = 1;
static int			log_syslog;
static char			*log_path;	/* log-file: stderr is this file */
static int			log_journal;	/* stderr is the journal */

/* sd-daemon(3) "<N>" prefixes: syslog priorities of debug..error. */
static const int log_journal_prio[] = { 7, 6, 4, 3 };
static volatile sig_atomic_t	log_in_fatal;

/*
 * systemd connects stderr to the journal and says so in JOURNAL_STREAM
 * ("DEV:INODE" of that stream); a stderr redirected elsewhere since (by a
 * shell, or log-file) no longer matches and gets no prefixes.
 */
static void
log_journal_check(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char end;

	log_journal = 0;
	if (js == NULL || sscanf(js, "%llu:%llu%c", &dev, &ino, &end) != 2 ||
	    fstat(STDERR_FILENO, &st) == -1)
		return;
	log_journal = (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(const char *proc, int level, int json)
{
	if (proc != NULL)
		snprintf(log_proc, sizeof(log_proc), "%s", proc);
	log_min_level = level;
	log_json = json != 0;
	log_journal_check();
}

int
log_file_open(const char *path)
{
	int fd, saved;
	char *copy;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
	    0640);
	if (fd == -1)
		return -1;
	if (fd != STDERR_FILENO) {
		/* the copy on 2 has no FD_CLOEXEC: workers inherit it */
		if (dup2(fd, STDERR_FILENO) == -1) {
			saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		close(fd);
	}
	if (log_path != path) {
		copy = xstrdup(path);
		free(log_path);
		log_path = copy;
	}
	log_syslog = 0;
	log_journal_check();
	return 0;
}

const char *
log_file_path(void)
{
	return log_path;
}

void
log_use_syslog(const char *ident)
{
	logsys_open(ident);
	log_syslog = 1;
}

/*
 * SIGUSR1: open the log file again by name (after logrotate renamed it);
 * reconnect to syslog.  If the file cannot be opened the old one stays.
 */
int
log_reopen(void)
{
	if (log_path != NULL)
		return log_file_open(log_path);
	if (log_syslog)
		logsys_reopen();
	return 0;
}

void
log_set_json(int json)
{
	log_json = json != 0;
}

void
log_set_level(int level)
{
	log_min_level = level;
}

int
log_get_level(void)
{
	return log_min_level;
}

int
log_level_parse(const char *name)
{
	size_t i;

	if (name == NULL)
		return -1;
	for (i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]);
	    i++)
		if (strcmp(name, log_level_names[i]) == 0)
			return (int)i;
	return -1;
}

static const char *
log_level_name(int level)
{
	if (level <= LOG_DEBUG)
		return log_level_names[LOG_DEBUG];
	if (level >= LOG_ERR)
		return log_level_names[LOG_ERR];
	return log_level_names[level];
}

/* Write all of p to stderr, retrying on EINTR and short writes. */
static void
log_write(const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(STDERR_FILENO, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (w == 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* A malformed fmt is a bug in the caller: say where, then abort. */
static void __attribute__((noreturn))
log_bad_format(struct buf *b, const char *event, const char *fmt, size_t off,
    const char *why)
{
	buf_free(b);
	dprintf(STDERR_FILENO, "%s[%ld]: log_ev: malformed format for event "
	    "\"%s\": %s at offset %zu of \"%s\"\n", log_proc, (long)getpid(),
	    event != NULL ? event : "(null)", why, off, fmt);
	abort();
}

static int
log_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_';
}

/* Match the spec at p (just after '%'); its length goes to *len. */
static int
log_spec_lookup(const char *p, enum log_arg *arg, size_t *len)
{
	size_t i, n;

	n = strcspn(p, " ");
	for (i = 0; i < sizeof(log_specs) / sizeof(log_specs[0]); i++) {
		if (strlen(log_specs[i].spec) == n &&
		    memcmp(p, log_specs[i].spec, n) == 0) {
			*arg = log_specs[i].arg;
			*len = n;
			return 0;
		}
	}
	return -1;
}

/* Consume one argument of the given type and append its value. */
static void
log_add_value(struct buf *b, enum log_arg arg, va_list *ap)
{
	const char *s;

	switch (arg) {
	case ARG_STR:
		if ((s = va_arg(*ap, const char *)) == NULL)
			buf_add(b, "null", 4);
		else
			json_add_cstring(b, s);
		break;
	case ARG_INT:
		json_add_int(b, va_arg(*ap, int));
		break;
	case ARG_UINT:
		json_add_uint(b, va_arg(*ap, unsigned int));
		break;
	case ARG_LONG:
		json_add_int(b, va_arg(*ap, long));
		break;
	case ARG_ULONG:
		json_add_uint(b, va_arg(*ap, unsigned long));
		break;
	case ARG_LLONG:
		json_add_int(b, va_arg(*ap, long long));
		break;
	case ARG_ULLONG:
		json_add_uint(b, va_arg(*ap, unsigned long long));
		break;
	case ARG_SIZE:
		json_add_uint(b, va_arg(*ap, size_t));
		break;
	case ARG_INTMAX:
		json_add_int(b, (long long)va_arg(*ap, intmax_t));
		break;
	case ARG_UINTMAX:
		json_add_uint(b, (unsigned long long)va_arg(*ap, uintmax_t));
		break;
	default:
		abort();
	}
}

/* Append the key of a field: ,"key": in JSON, " key=" in text. */
static void
log_add_key(struct buf *b, const char *key, size_t len)
{
	if (log_json) {
		buf_addc(b, ',');
		json_add_string(b, key, len);
		buf_addc(b, ':');
	} else {
		buf_addc(b, ' ');
		buf_add(b, key, len);
		buf_addc(b, '=');
	}
}

/* Parse fmt ("k1=%s k2=%d") and append one field per token. */
static void
log_add_fields(struct buf *b, const char *event, const char *fmt,
    va_list *ap)
{
	const char *p = fmt, *key;
	enum log_arg arg;
	size_t keylen, speclen;

	while (*p != '\0') {
		key = p;
		while (log_key_char(*p))
			p++;
		if ((keylen = (size_t)(p - key)) == 0)
			log_bad_format(b, event, fmt, (size_t)(p - fmt),
			    "expected a key of [A-Za-z0-9_]");
		if (p[0] != '=' || p[1] != '%')
			log_bad_format(b, event, fmt, (size_t)(p - fmt),
			    "expected =% after the key");
		p += 2;
		if (log_spec_lookup(p, &arg, &speclen) == -1)
			log_bad_format(b, event, fmt, (size_t)(p - fmt),
			    "unsupported conversion (want s d u ld lu lld llu "
			    "zu jd ju)");
		p += speclen;
		log_add_key(b, key, keylen);
		log_add_value(b, arg, ap);
		if (*p == ' ') {
			p++;
			if (*p == '\0' || *p == ' ')
				log_bad_format(b, event, fmt,
				    (size_t)(p - fmt), "stray space");
		}
	}
}

/* Append the fixed part of a record: time, level, process, event. */
static void
log_add_header(struct buf *b, int level, const char *event)
{
	char ts[32];

	time_format_iso(now_realtime_ns(), ts);
	if (log_json) {
		buf_addc(b, '{');
		json_add_key(b, "ts", 1);
		json_add_cstring(b, ts);
		json_add_key(b, "level", 0);
		json_add_cstring(b, log_level_name(level));
		json_add_key(b, "proc", 0);
		json_add_cstring(b, log_proc);
		json_add_key(b, "pid", 0);
		json_add_int(b, (long long)getpid());
		json_add_key(b, "event", 0);
		json_add_cstring(b, event);
	} else
		buf_printf(b, "%s %s[%ld]: %s: %s", ts, log_proc,
		    (long)getpid(), log_level_name(level),
		    event != NULL ? event : "null");
}

/* Build the whole record, then emit it with a single write. */
static void
log_emit(int level, const char *event, const char *fmt, va_list ap)
{
	struct buf b;
	va_list aq;

	buf_init(&b);
	if (log_journal && !log_syslog)
		buf_printf(&b, "<%d>", log_journal_prio[level < LOG_DEBUG ?
		    LOG_DEBUG : level > LOG_ERR ? LOG_ERR : level]);
	log_add_header(&b, level, event);
	if (fmt != NULL) {
		va_copy(aq, ap);
		log_add_fields(&b, event, fmt, &aq);
		va_end(aq);
	}
	if (log_json)
		buf_addc(&b, '}');
	if (log_syslog) {
		logsys_write(level, b.data);
	} else {
		buf_addc(&b, '\n');
		log_write(b.data, b.len);
	}
	buf_free(&b);
}

void
log_evv(int level, const char *event, const char *fmt, va_list ap)
{
	int saved_errno;

	if (level < log_min_level)
		return;
	saved_errno = errno;
	log_emit(level, event, fmt, ap);
	errno = saved_errno;
}

void
log_ev(int level, const char *event, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_evv(level, event, fmt, ap);
	va_end(ap);
}

void
fatal(const char *event, const char *fmt, ...)
{
	static const char again[] = "ingestd: fatal error while reporting "
	    "a fatal error\n";
	va_list ap;

	/* Logging itself failed (e.g. out of memory): no more allocation. */
	if (log_in_fatal) {
		log_write(again, sizeof(again) - 1);
		_exit(1);
	}
	log_in_fatal = 1;
	va_start(ap, fmt);
	log_emit(LOG_ERR, event, fmt, ap);
	va_end(ap);
	_exit(1);
}
