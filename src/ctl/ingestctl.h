/* ingestctl: what main and the commands share: options, output choice, exits. */
#ifndef INGESTCTL_H
#define INGESTCTL_H

#include <getopt.h>
#include <stdint.h>

#include "ctldb.h"
#include "output.h"

struct ctl {
	const char	*socket;	/* -s SOCKET */
	const char	*db_path;	/* --db FILE, or the daemon's */
	char		*db_owned;	/* the daemon's, to free */
	int		 json;		/* --json */
	int		 no_color;	/* --no-color */
	int		 tty;		/* stdout is a terminal */
	int64_t		 now_ns;	/* one "now" per run */
};

/* Option codes shared by every command; commands use letters or >= 0x200. */
enum {
	OPT_DB = 0x100,
	OPT_JSON,
	OPT_NO_COLOR,
};

/* The global options, accepted after the command name too. */
#define CTL_GLOBAL_LONGOPTS \
	{ "db",		required_argument,	NULL, OPT_DB }, \
	{ "json",	no_argument,		NULL, OPT_JSON }, \
	{ "no-color",	no_argument,		NULL, OPT_NO_COLOR }, \
	{ "socket",	required_argument,	NULL, 's' }, \
	{ "help",	no_argument,		NULL, 'h' }
#define CTL_GLOBAL_SHORTOPTS	":s:h"

/*
 * getopt_long over a command's arguments (argv[0] is the command name):
 * handles the global options and --help itself, exits 64 on an unknown
 * option or a missing argument, and returns the command's own options
 * (-1 at the end, optind then indexes the first operand).
 */
int	ctl_getopt(struct ctl *, const char *cmd, int argc, char **argv,
	    const char *shortopts, const struct option *longopts);

/* Print "ingestctl: [cmd: ]message (see ingestctl [cmd] --help)", exit 64. */
void	ctl_usage_error(const char *cmd, const char *fmt, ...)
	    __attribute__((noreturn, format(printf, 2, 3)));
/* Print "ingestctl: message" and return 65 (a bad argument value). */
int	ctl_value_error(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));

/*
 * Reach the data for a read-only command: the database --db names, else
 * the one the daemon says it keeps, opened read-only.  Returns 0 or an
 * exit status.
 */
int	ctl_open(struct ctl *, struct ctldb *);
/* The daemon's audit database path (free it), or NULL with *rc set. */
char	*ctl_daemon_db(struct ctl *, int *rc);

/* Table/TSV by terminal, or JSON with --json; colour only on a terminal. */
enum out_mode	ctl_mode(const struct ctl *);
int		ctl_color(const struct ctl *);
/* fflush stdout: 0, or 70 after saying why. */
int		ctl_finish_output(void);

/* JSON object body of a record (no braces), keys documented in ingestctl.8. */
void	rec_json(struct buf *, const struct rec *);

int	cmd_status(struct ctl *, int argc, char **argv);
int	cmd_query(struct ctl *, int argc, char **argv);
int	cmd_show(struct ctl *, int argc, char **argv);
/* The daemon's own view (no --db): records rendered generically. */
int	ctl_remote_status(struct ctl *);
int	cmd_retry(struct ctl *, int argc, char **argv);
int	cmd_reconcile(struct ctl *, int argc, char **argv);
int	cmd_reload(struct ctl *, int argc, char **argv);
int	cmd_pause(struct ctl *, int argc, char **argv);

#endif
