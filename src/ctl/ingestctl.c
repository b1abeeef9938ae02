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
#include "util.h"

struct command {
	const char	*name;
	/* NULL: the command needs the control socket */
	int		(*run)(struct ctl *, int, char **);
	const char	*help;
};

static const struct command commands[] = {
	{ "status", cmd_status,
"usage: ingestctl [--db FILE] status [--json]\n"
"\n"
"From the audit database: files per state and per watch, bytes ingested,\n"
"the oldest unfinished file and its age, the last file ingested and the\n"
"schema version.  --json prints one object.\n" },
	{ "query", cmd_query,
"usage: ingestctl [--db FILE] query [--state S[,S...]] [--watch W] [--name GLOB]\n"
"                 [--hash PREFIX] [--since DUR|TIME] [--until DUR|TIME]\n"
"                 [--limit N] [--format table|tsv|json|csv] [--count]\n"
"\n"
"List files, newest first.  Filters combine with AND.\n"
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
"usage: ingestctl [--db FILE] show [--json] ID | HASH-PREFIX | PATH\n"
"\n"
"One file with every field and its full event trail, in order.  A number is\n"
"an id; an argument with a '/' is a source or archive path; 4 to 64 hex\n"
"digits are a SHA-256 prefix that must name one content (otherwise exit 65\n"
"with the candidates); anything else is a path below its watch.  A\n"
"SKIPPED_DUPLICATE shows the original it points at.  Exits 1 if no file\n"
"matches.\n" },
	{ "retry", NULL,
"usage: ingestctl [-s SOCKET] retry [--watch W] [--dry-run] --all | ID...\n"
"\n"
"Put FAILED (and RETRY_PENDING) files back in the queue.\n" },
	{ "reconcile", NULL,
"usage: ingestctl [-s SOCKET] reconcile [--watch W] [--check]\n"
"\n"
"Compare staging, archive, manifests and database and report each drift;\n"
"without --check, repair what is safe.\n" },
	{ "reload", NULL,
"usage: ingestctl [-s SOCKET] reload [--wait]\n"
"\n"
"Validate and apply the configuration, like SIGHUP.\n" },
	{ "pause", NULL,
"usage: ingestctl [-s SOCKET] pause [WATCH]\n"
"\n"
"Stop taking new files from one watch, or from all.\n" },
	{ "resume", NULL,
"usage: ingestctl [-s SOCKET] resume [WATCH]\n"
"\n"
"Undo pause.\n" },
	{ "help", NULL,
"usage: ingestctl help [COMMAND]\n"
"\n"
"Describe ingestctl, or one command.\n" },
};

#define NCOMMANDS	(sizeof(commands) / sizeof(commands[0]))

static const char not_yet[] =
"\nNot available yet: this command needs the ingestd control socket, which\n"
"this version does not have; it exits 69.\n";

static const char usage_text[] =
"usage: ingestctl [-s SOCKET | --db FILE] [--json] [--no-color] COMMAND [ARGS]\n"
"       ingestctl help [COMMAND] | --help | --version\n"
"\n"
"Read the audit database (works whether or not ingestd runs):\n"
"  status      files per state and per watch, bytes ingested, oldest\n"
"              unfinished file, last ingested file, schema version\n"
"  query       list files by state, watch, name, hash or time\n"
"  show        one file (ID, HASH-PREFIX or PATH) with its event trail\n"
"\n"
"Need the daemon's control socket, which does not exist yet (they exit 69):\n"
"  retry, reconcile, reload, pause, resume\n"
"\n"
"Options:\n"
"  --db FILE       read the audit database FILE directly, read-only\n"
"  -s, --socket SOCKET\n"
"                  the control socket (not available yet: exits 69; use --db)\n"
"  --json          NDJSON output: one object per record\n"
"  --no-color      no colour (nor with NO_COLOR set, nor when not a terminal)\n"
"  -h, --help      this text; ingestctl help COMMAND for one command\n"
"  -V, --version   print the version\n"
"\n"
"Output is an aligned table on a terminal and tab-separated without a\n"
"header when piped.  Exit status: 0 ok, 1 nothing found, 64 usage error,\n"
"65 bad argument value or database, 66 database missing or unreadable,\n"
"69 daemon unreachable, 70 internal error, 75 database busy.\n"
"See ingestctl(8).\n";

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
	if (cmd->run == NULL && strcmp(cmd->name, "help") != 0)
		fputs(not_yet, fp);
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
			return ch;
		}
	}
}

int
ctl_open(struct ctl *c, struct ctldb *db)
{
	if (c->socket != NULL && c->db_path != NULL)
		ctl_usage_error(NULL, "-s and --db cannot be used together");
	if (c->db_path == NULL) {
		fprintf(stderr, "ingestctl: %s%singestd control socket not"
		    " available yet; use --db FILE\n", c->socket ? c->socket :
		    "", c->socket ? ": " : "");
		return EX_UNAVAILABLE;
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

/*
 * The mutating commands are known but need the control socket: say so
 * (exit 69) rather than pretend.  --help still describes them.
 */
static int
cmd_unavailable(const struct command *cmd, int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			command_help(cmd, stdout);
			return ctl_finish_output();
		}
	}
	fprintf(stderr, "ingestctl: %s: needs the ingestd control socket,"
	    " which is not available yet (--db only reads)\n", cmd->name);
	return EX_UNAVAILABLE;
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
	int ch;

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
	if (optind >= argc)
		ctl_usage_error(NULL, "missing command");
	if ((cmd = command_find(argv[optind])) == NULL)
		ctl_usage_error(NULL, "unknown command '%s'", argv[optind]);
	argc -= optind;
	argv += optind;
	if (strcmp(cmd->name, "help") == 0)
		return cmd_help(argc, argv);
	if (cmd->run == NULL)
		return cmd_unavailable(cmd, argc, argv);
	c.tty = isatty(STDOUT_FILENO);
	c.now_ns = now_realtime_ns();
	optind = 0;	/* glibc: start over on the command's arguments */
	return cmd->run(&c, argc, argv);
}
