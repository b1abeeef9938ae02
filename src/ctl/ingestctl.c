/* ingestctl: the operator's command line: options, help, dispatch to the commands. */
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "ingestctl.h"
#include "log.h"
#include "proto.h"
#include "util.h"

struct command {
	const char	*name;
	/* NULL: the command needs the control socket */
	int		(*run)(struct ctl *, int, char **);
	const char	*help;
};

static const struct command commands[] = {
	{ "status", cmd_status,
"usage: ingestctl [-s SOCKET | --db FILE] status [--json]\n"
"\n"
"From the running daemon: pid, version, uptime, configuration generation\n"
"and the last reload's result, sandbox level, workers (busy, idle,\n"
"restarts), queue depth, files/s and bytes/s over 1m/5m/1h, the oldest\n"
"unfinished file; each watch's health (watching, polling or paused, last\n"
"event, last rescan, overflows); files per state.\n"
"\n"
"With --db FILE, from the audit database alone (the daemon may be down):\n"
"files per state and per watch, bytes ingested, the oldest unfinished\n"
"file, the last file ingested and the schema version.\n" },
	{ "query", cmd_query,
"usage: ingestctl [-s SOCKET | --db FILE] query [--state S[,S...]] [--watch W]\n"
"                 [--name GLOB] [--hash PREFIX] [--since DUR|TIME]\n"
"                 [--until DUR|TIME] [--limit N]\n"
"                 [--format table|tsv|json|csv] [--count]\n"
"\n"
"List files, newest first.  Filters combine with AND.  Without --db the\n"
"daemon names its audit database, which is then read directly.\n"
"  --state S      DISCOVERED QUEUED PROCESSING HASHED MOVED MANIFESTED\n"
"                 SKIPPED_DUPLICATE REJECTED RETRY_PENDING FAILED; repeat it or\n"
"                 separate states with commas to match any of them\n"
"  --watch W      files of the watch named W\n"
"  --name GLOB    shell glob on the file name (last part of its source path)\n"
"  --hash PREFIX  4 to 64 hex digits of the file's SHA-256\n"
"  --since DUR    discovered within DUR (90s, 10m, 2h, 3d, 1w, 1h30m) or since\n"
"                 an ISO time\n"
"  --until TIME   discovered before TIME (2026-11-22, 2026-11-22T03:04:05Z;\n"
"                 UTC unless a zone is given) or before DUR ago\n"
"  --limit N      at most N files (default 100, 0 for no limit)\n"
"  --format F     table: aligned with a header on a terminal, tab-separated\n"
"                 without one otherwise; tsv; json (NDJSON, like --json); csv\n"
"  --count        print only the number of matching files (--limit ignored)\n"
"\n"
"Exits 1 when nothing matches.\n" },
	{ "show", cmd_show,
"usage: ingestctl [-s SOCKET | --db FILE] show [--json] ID | HASH-PREFIX | PATH\n"
"\n"
"One file with every field and its full event trail, in order.  A number is\n"
"an id; an argument with a '/' is a source or archive path; 4 to 64 hex\n"
"digits are a SHA-256 prefix that must name one content (otherwise exit 65\n"
"with the candidates); anything else is a path below its watch.  A\n"
"SKIPPED_DUPLICATE shows the original it points at.  Exits 1 if no file\n"
"matches.\n" },
	{ "retry", cmd_retry,
"usage: ingestctl [-s SOCKET] retry [--dry-run] --all | --watch W | ID...\n"
"\n"
"Put FAILED and RETRY_PENDING files back in the queue with a fresh attempt\n"
"count: every such file (--all), those of one watch (--watch W, which also\n"
"restricts a list of ids), or the files with these ids.  One line per file:\n"
"id, watch, path, former state, result (queued, would retry, skipped) and\n"
"why it was skipped.  --dry-run changes nothing.  Exits 1 when no file\n"
"was queued.  Needs the admin group.\n" },
	{ "reconcile", cmd_reconcile,
"usage: ingestctl [-s SOCKET] reconcile [--watch W] [--check]\n"
"\n"
"Compare staging, archive, manifests and the audit database, and report\n"
"each drift: archive_missing (an archived file is gone), archive_unknown\n"
"(a file in the archive the database does not know), archive_unreadable,\n"
"hash_mismatch (content or size), manifest_missing_line,\n"
"manifest_extra_line, manifest_duplicate_line, manifest_bad_line,\n"
"manifest_torn_line, staging_already_ingested and stuck_in_flight.  Without --check, repair what is safe and say what was\n"
"done: re-queue a file whose archive copy is missing, move corrupt or\n"
"unknown archive files to .ingestd-quarantine/ under the archive root,\n"
"re-append missing manifest lines, cut a torn last line, remove staging\n"
"copies of ingested content, re-queue stuck rows.  Progress goes to\n"
"stderr when it is a terminal.  Exits 1 when it found drift (--check) or\n"
"left some unrepaired.  --check needs the read group, a repair the admin\n"
"group.\n" },
	{ "reload", cmd_reload,
"usage: ingestctl [-s SOCKET] reload [--wait]\n"
"\n"
"Validate and apply the configuration, like SIGHUP.  With --wait, return\n"
"once it is applied (exit 0) or rejected (exit 78, with the FILE:LINE\n"
"errors); the running configuration stays as it was when it is rejected.\n"
"Needs the admin group.\n" },
	{ "pause", cmd_pause,
"usage: ingestctl [-s SOCKET] pause [WATCH]\n"
"\n"
"Stop starting new files from one watch, or from all: files already being\n"
"copied finish, new arrivals are still noticed and recorded, and wait in\n"
"the queue until resume.  A pause lasts until resume or a restart.  Needs\n"
"the admin group.\n" },
	{ "resume", cmd_pause,
"usage: ingestctl [-s SOCKET] resume [WATCH]\n"
"\n"
"Undo pause for one watch, or for all.  Needs the admin group.\n" },
	{ "help", NULL,
"usage: ingestctl help [COMMAND]\n"
"\n"
"Describe ingestctl, or one command.\n" },
};

#define NCOMMANDS	(sizeof(commands) / sizeof(commands[0]))

static const char usage_text[] =
"usage: ingestctl [-s SOCKET | --db FILE] [--json] [--no-color] COMMAND [ARGS]\n"
"       ingestctl help [COMMAND] | --help | --version\n"
"\n"
"Read (the read group; --db FILE works when the daemon is down):\n"
"  status      the daemon, its watches, workers, rates and files per state\n"
"  query       list files by state, watch, name, hash or time\n"
"  show        one file (ID, HASH-PREFIX or PATH) with its event trail\n"
"\n"
"Change (the admin group; need the daemon):\n"
"  retry       put FAILED and RETRY_PENDING files back in the queue\n"
"  reconcile   compare staging, archive, manifests and database; repair\n"
"  reload      apply the configuration file, like SIGHUP\n"
"  pause       stop taking new files from a watch, or from all\n"
"  resume      undo pause\n"
"\n"
"Options:\n"
"  -s, --socket SOCKET\n"
"                  the daemon's control socket (default $INGESTD_SOCKET, else\n"
"                  " CTL_SOCKET_DEFAULT ")\n"
"  --db FILE       read the audit database FILE directly, read-only\n"
"  --json          NDJSON output: one object per record\n"
"  --no-color      no colour (nor with NO_COLOR set, nor when not a terminal)\n"
"  -h, --help      this text; ingestctl help COMMAND for one command\n"
"  -V, --version   print the version\n"
"\n"
"Output is an aligned table on a terminal and tab-separated without a\n"
"header when piped.  Exit status: 0 ok, 1 found a problem or nothing,\n"
"64 usage error, 65 bad argument value or database, 66 database missing or\n"
"unreadable, 69 daemon unreachable, 70 internal error, 75 busy,\n"
"77 permission denied, 78 configuration rejected.  See ingestctl(8).\n";

static const struct command *
command_find(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void
command_help(const struct command *cmd, FILE *fp)
{
	fputs(cmd->help, fp);
}

void
ctl_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ingestctl: ");
	if (cmd != NULL)
		fprintf(stderr, "%s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see ingestctl%s%s --help)\n", cmd ? " " : "",
	    cmd ? cmd : "");
	exit(EX_USAGE);
}

int
ctl_value_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ingestctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EX_DATAERR;
}

/* The option getopt complained about, for the message. */
static const char *
bad_option(char **argv, char *out, size_t size)
{
	if (optopt > 0 && optopt < 0x80 && optopt != '?') {
		snprintf(out, size, "-%c", optopt);
		return out;
	}
	return argv[optind - 1];
}

int
ctl_getopt(struct ctl *c, const char *cmd, int argc, char **argv,
    const char *shortopts, const struct option *longopts)
{
	char name[4];
	int ch;

	for (;;) {
		ch = getopt_long(argc, argv, shortopts, longopts, NULL);
		switch (ch) {
		case OPT_DB:
			c->db_path = optarg;
			break;
		case OPT_JSON:
			c->json = 1;
			break;
		case OPT_NO_COLOR:
			c->no_color = 1;
			break;
		case 's':
			c->socket = optarg;
			break;
		case 'h':
			command_help(command_find(cmd), stdout);
			exit(ctl_finish_output());
		case ':':
			ctl_usage_error(cmd, "option '%s' needs an argument",
			    bad_option(argv, name, sizeof(name)));
		case '?':
			ctl_usage_error(cmd, "unknown option '%s'",
			    bad_option(argv, name, sizeof(name)));
		default:
			if (ch == -1 && c->socket != NULL && c->db_path != NULL)
				ctl_usage_error(cmd, "-s and --db cannot be"
				    " used together");
			return ch;
		}
	}
}

int
ctl_open(struct ctl *c, struct ctldb *db)
{
	int rc;

	if (c->db_path == NULL) {
		if ((c->db_owned = ctl_daemon_db(c, &rc)) == NULL)
			return rc;
		c->db_path = c->db_owned;
	}
	return ctldb_open(db, c->db_path);
}

enum out_mode
ctl_mode(const struct ctl *c)
{
	if (c->json)
		return OUT_JSON;
	return c->tty ? OUT_TABLE : OUT_TSV;
}

int
ctl_color(const struct ctl *c)
{
	const char *v;

	if (!c->tty || c->no_color)
		return 0;
	if ((v = getenv("NO_COLOR")) != NULL && *v != '\0')
		return 0;
	if ((v = getenv("TERM")) != NULL && strcmp(v, "dumb") == 0)
		return 0;
	return 1;
}

int
ctl_finish_output(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "ingestctl: cannot write the output: %s\n",
		    strerror(errno));
		return EX_SOFTWARE;
	}
	return 0;
}

/* help [COMMAND] */
static int
cmd_help(int argc, char **argv)
{
	const struct command *cmd;

	if (argc > 2)
		ctl_usage_error(NULL, "help: unexpected argument '%s'",
		    argv[2]);
	if (argc < 2) {
		fputs(usage_text, stdout);
		return ctl_finish_output();
	}
	if ((cmd = command_find(argv[1])) == NULL)
		ctl_usage_error(NULL, "help: unknown command '%s'", argv[1]);
	command_help(cmd, stdout);
	return ctl_finish_output();
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		CTL_GLOBAL_LONGOPTS,
		{ "version",	no_argument,	NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const struct command *cmd;
	struct ctl c;
	char name[4];
	int ch, rc;

	setlocale(LC_CTYPE, "");
	log_init("ingestctl", LOG_WARN, 0);
	memset(&c, 0, sizeof(c));
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+" CTL_GLOBAL_SHORTOPTS "V",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_DB:
			c.db_path = optarg;
			break;
		case OPT_JSON:
			c.json = 1;
			break;
		case OPT_NO_COLOR:
			c.no_color = 1;
			break;
		case 's':
			c.socket = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return ctl_finish_output();
		case 'V':
			printf("ingestctl %s\n", PACKAGE_VERSION);
			return ctl_finish_output();
		case ':':
			ctl_usage_error(NULL, "option '%s' needs an argument",
			    bad_option(argv, name, sizeof(name)));
		default:
			ctl_usage_error(NULL, "unknown option '%s'",
			    bad_option(argv, name, sizeof(name)));
		}
	}
	if (c.socket != NULL && c.db_path != NULL)
		ctl_usage_error(NULL, "-s and --db cannot be used together");
	if (optind >= argc)
		ctl_usage_error(NULL, "missing command");
	if ((cmd = command_find(argv[optind])) == NULL)
		ctl_usage_error(NULL, "unknown command '%s'", argv[optind]);
	argc -= optind;
	argv += optind;
	if (strcmp(cmd->name, "help") == 0)
		return cmd_help(argc, argv);
	c.tty = isatty(STDOUT_FILENO);
	c.now_ns = now_realtime_ns();
	optind = 0;	/* glibc: start over on the command's arguments */
	rc = cmd->run(&c, argc, argv);
	free(c.db_owned);
	return rc;
}
