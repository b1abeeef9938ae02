/* common: structured logging to stderr (JSON lines or text), shared by every process. */
#ifndef INGESTD_LOG_H
#define INGESTD_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_DEBUG = 0,
	LOG_INFO,
	LOG_WARN,
	LOG_ERR,
};

/*
 * Set the program name (goes into every record as "proc"), the lowest level
 * emitted and the format (json != 0: one JSON object per line).  When
 * stderr is the systemd journal (JOURNAL_STREAM names it), every record
 * starts with its sd-daemon(3) priority prefix "<N>".
 */
void	log_init(const char *proc, int level, int json);
void	log_set_level(int level);
void	log_set_json(int json);
/* From now on records go to syslog(3) (facility daemon), not stderr. */
void	log_use_syslog(const char *ident);
/*
 * From now on records (and anything else written to stderr, workers
 * started later included) are appended to path: it is opened
 * O_APPEND|O_CLOEXEC, mode 0640, and put on stderr.  Replaces syslog.
 * Returns 0, or -1 with errno (nothing changed).
 */
int	log_file_open(const char *path);
/* The log file's path, or NULL when there is none. */
const char *log_file_path(void);
/*
 * SIGUSR1: reopen the log file by name (logrotate), or reconnect to
 * syslog.  Returns -1 with errno if the file could not be reopened (the
 * old one is kept).
 */
int	log_reopen(void);
int	log_get_level(void);
/* "debug", "info", "warn", "error" -> level; -1 if unknown. */
int	log_level_parse(const char *name);

/*
 * Emit one record with a stable event name.  fmt is a space separated list
 * of key=%spec fields, e.g. "path=%s bytes=%lld"; every spec is one of
 * %s %d %u %ld %lu %lld %llu %zu %jd %ju and is type-checked by the
 * compiler.  Strings are JSON-escaped (invalid UTF-8 escaped reversibly).
 * A NULL fmt means no fields.
 */
void	log_ev(int level, const char *event, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	log_evv(int level, const char *event, const char *fmt, va_list ap);

/* Start-up failure or programmer error: log at error level and exit(1). */
void	fatal(const char *event, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3), noreturn));

#endif
