/* master: the configuration language: bison grammar, lexer (includes, macros), validation. */

/*
 * The lexer is written by hand, as in the OpenBSD daemons: it is small, it
 * has to follow includes and expand macros inside quoted strings, and it
 * has to keep file:line for every token.  Bison does the grammar, the
 * error recovery (one error per line, then go on) and the list of tokens
 * valid at an error, which feeds the "did you mean" hint.
 *
 * Everything lives in one struct parse handed to the pure parser, so a
 * reload can parse a new file while the old config is in use.
 */

%require "3.6"
%define api.pure full
%define api.token.prefix {TOK_}
%define api.location.type {struct cfloc}
%define parse.error custom
%define parse.lac full
%locations
%parse-param {struct parse *ps}
%lex-param {struct parse *ps}

%code requires {
#include <stddef.h>

/* Where a token was read: the file name outlives the parse's file stack. */
struct cfloc {
	const char	*file;
	int		 line;
};

struct parse;

/* One or more strings (`match "*.csv" "*.gz"`). */
struct strlist {
	char		**v;
	size_t		 n;
};

#define YYLLOC_DEFAULT(cur, rhs, n) do {				\
	if (n)								\
		(cur) = YYRHSLOC(rhs, 1);				\
	else								\
		(cur) = YYRHSLOC(rhs, 0);				\
} while (0)
}

%{
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "util.h"
/*
 * Reached through src/common (always on the include path): bison's output
 * may be generated in the build tree, where a plain "config.h" would be
 * autoconf's.
 */
#include "../master/config.h"
#include "../master/template.h"
%}

%union {
	char		*str;
	struct strlist	*list;
	int		 num;
}

%code {
static int	yylex(YYSTYPE *, YYLTYPE *, struct parse *);
static void	yyerror(YYLTYPE *, struct parse *, const char *);
static void	parse_verror(struct parse *, const char *, int, const char *,
		    va_list) __attribute__((format(printf, 4, 0)));
static void	parse_error(struct parse *, const struct cfloc *,
		    const char *, ...) __attribute__((format(printf, 3, 4)));
static void	strlist_free(struct strlist *);
static struct strlist *strlist_add(struct strlist *, char *);

static void	include_push(struct parse *, const struct cfloc *, char *);
static void	macro_set(struct parse *, char *, char *, int);
static void	global_statedir(struct parse *, const struct cfloc *, char *);
static void	global_control(struct parse *, const struct cfloc *, char *);
static void	global_group(struct parse *, const struct cfloc *, char *, int);
static void	global_user(struct parse *, const struct cfloc *, char *);
static void	global_workers(struct parse *, const struct cfloc *, char *);
static void	global_hash(struct parse *, const struct cfloc *, int);
static void	global_log(struct parse *, const struct cfloc *, int);
static void	global_rescan(struct parse *, const struct cfloc *, char *);
static void	global_sandbox(struct parse *, const struct cfloc *,
		    const char *);
static void	global_logfile(struct parse *, const struct cfloc *, char *);
static void	global_listen(struct parse *, const struct cfloc *, char *);
static void	global_textfile(struct parse *, const struct cfloc *, char *,
		    const struct cfloc *, char *);
static void	watch_begin(struct parse *, const struct cfloc *, char *);
static void	watch_end(struct parse *);
static void	watch_abandon(struct parse *);
static void	watch_path(struct parse *, const struct cfloc *, char *);
static void	watch_recursive(struct parse *, const struct cfloc *, int);
static void	watch_globs(struct parse *, const struct cfloc *, int,
		    struct strlist *);
static void	watch_stability(struct parse *, const struct cfloc *, char *);
static void	watch_sidecar(struct parse *, const struct cfloc *, char *);
static void	watch_closewrite(struct parse *, const struct cfloc *);
static void	watch_size(struct parse *, const struct cfloc *, int, char *);
static void	watch_action(struct parse *, const struct cfloc *, int);
static void	watch_route(struct parse *, const struct cfloc *, char *,
		    char *);
static void	watch_to(struct parse *, const struct cfloc *, char *);
static void	watch_manifest(struct parse *, const struct cfloc *, char *);
static void	watch_duplicate(struct parse *, const struct cfloc *, int,
		    char *);
static void	watch_retry(struct parse *, const struct cfloc *, char *,
		    const struct cfloc *, char *);
}

%destructor { free($$); } <str>
%destructor { strlist_free($$); } <list>

%initial-action {
	@$.file = NULL;
	@$.line = 0;
}

/* Keywords; the lexer and the hint spell them from the table `keywords`. */
%token INCLUDE "include" STATEDIR "state-dir" CONTROL "control" USER "user"
%token WORKERS "workers" HASH "hash" LOG "log" RESCAN "rescan"
%token SANDBOX "sandbox" WATCH "watch"
%token LOGFILE "log-file" METRICS "metrics" LISTEN "listen"
%token TEXTFILE "textfile" INTERVAL "interval"
%token READGROUP "read-group" ADMINGROUP "admin-group"
%token PATH "path" RECURSIVE "recursive" MATCH "match" IGNORE "ignore"
%token COMPLETE "complete" STABILITY "stability" SIDECAR "sidecar"
%token CLOSEWRITE "close-write" MINSIZE "min-size" MAXSIZE "max-size"
%token ACTION "action" MOVE "move" COPY "copy" LINK "link" ROUTE "route"
%token TO "to" MANIFEST "manifest" DUPLICATE "duplicate" DELETE "delete"
%token KEEP "keep" MOVETO "move-to" RETRY "retry" BACKOFF "backoff"
%token YES "yes" NO "no" SHA256 "sha256" XXH128 "xxh128" TEXT "text"
%token JSON "json" REQUIRED "required" AUTO "auto" OFF "off"
%token NL "end of line"
/* A token the lexer already reported: the parser only recovers. */
%token BADTOKEN "invalid token"
%token <str> STRING "value"
%token <str> MACRONAME "macro name"

%type <str> string include
%type <list> strings
%type <num> yesno hashkind logkind actionkind

%%

grammar	: %empty
	| grammar NL
	| grammar include NL		{ include_push(ps, &@2, $2); }
	| grammar varset NL
	| grammar main NL
	| grammar watch NL
	| grammar error NL		{ watch_abandon(ps); yyerrok; }
	;

string	: STRING
	;

strings	: string			{ $$ = strlist_add(NULL, $1); }
	| strings string		{ $$ = strlist_add($1, $2); }
	;

optnl	: %empty
	| optnl NL
	;

include	: INCLUDE string		{ $$ = $2; }
	;

varset	: MACRONAME '=' string		{ macro_set(ps, $1, $3, 0); }
	;

main	: STATEDIR string		{ global_statedir(ps, &@1, $2); }
	| CONTROL string		{ global_control(ps, &@1, $2); }
	| USER string			{ global_user(ps, &@1, $2); }
	| WORKERS string		{ global_workers(ps, &@1, $2); }
	| HASH hashkind			{ global_hash(ps, &@1, $2); }
	| LOG logkind			{ global_log(ps, &@1, $2); }
	| RESCAN string			{ global_rescan(ps, &@1, $2); }
	| SANDBOX REQUIRED		{ global_sandbox(ps, &@1, "required"); }
	| SANDBOX AUTO			{ global_sandbox(ps, &@1, "auto"); }
	| SANDBOX OFF			{ global_sandbox(ps, &@1, "off"); }
	| READGROUP string		{ global_group(ps, &@1, $2, 0); }
	| ADMINGROUP string		{ global_group(ps, &@1, $2, 1); }
	| LOGFILE string		{ global_logfile(ps, &@1, $2); }
	| METRICS LISTEN string		{ global_listen(ps, &@1, $3); }
	| METRICS TEXTFILE string	{ global_textfile(ps, &@1, $3, NULL, NULL); }
	| METRICS TEXTFILE string INTERVAL string {
					  global_textfile(ps, &@1, $3, &@4, $5); }
	;

hashkind : SHA256			{ $$ = HASH_SHA256; }
	| XXH128			{ $$ = HASH_XXH128; }
	;

logkind	: TEXT				{ $$ = 0; }
	| JSON				{ $$ = 1; }
	;

yesno	: YES				{ $$ = 1; }
	| NO				{ $$ = 0; }
	;

actionkind : MOVE			{ $$ = ACTION_MOVE; }
	| COPY				{ $$ = ACTION_COPY; }
	| LINK				{ $$ = ACTION_LINK; }
	;

/* The closing brace may follow the last option, even a wrong one. */
watch	: watchhead watchbody '}'		{ watch_end(ps); }
	| watchhead watchbody watchopt '}'	{ watch_end(ps); }
	| watchhead watchbody error '}'		{ watch_end(ps); yyerrok; }
	;

watchhead : WATCH string optnl '{'	{ watch_begin(ps, &@1, $2); }
	;

watchbody : %empty
	| watchbody NL
	| watchbody watchopt NL
	| watchbody error NL		{ yyerrok; }
	;

watchopt : PATH string			{ watch_path(ps, &@1, $2); }
	| RECURSIVE yesno		{ watch_recursive(ps, &@1, $2); }
	| MATCH strings			{ watch_globs(ps, &@1, 0, $2); }
	| IGNORE strings		{ watch_globs(ps, &@1, 1, $2); }
	| COMPLETE STABILITY string	{ watch_stability(ps, &@1, $3); }
	| COMPLETE SIDECAR string	{ watch_sidecar(ps, &@1, $3); }
	| COMPLETE CLOSEWRITE		{ watch_closewrite(ps, &@1); }
	| MINSIZE string		{ watch_size(ps, &@1, 0, $2); }
	| MAXSIZE string		{ watch_size(ps, &@1, 1, $2); }
	| ACTION actionkind		{ watch_action(ps, &@1, $2); }
	| ROUTE string TO string	{ watch_route(ps, &@1, $2, $4); }
	| TO string			{ watch_to(ps, &@1, $2); }
	| MANIFEST string		{ watch_manifest(ps, &@1, $2); }
	| DUPLICATE DELETE		{ watch_duplicate(ps, &@1, DUP_DELETE, NULL); }
	| DUPLICATE KEEP		{ watch_duplicate(ps, &@1, DUP_KEEP, NULL); }
	| DUPLICATE MOVETO string	{ watch_duplicate(ps, &@1, DUP_MOVE_TO, $3); }
	| RETRY string			{ watch_retry(ps, &@1, $2, NULL, NULL); }
	| RETRY string BACKOFF string	{ watch_retry(ps, &@1, $2, &@3, $4); }
	;

%%

#define MAX_ERRORS		30	/* then give up: the rest is noise */
#define MAX_INCLUDE_DEPTH	16
#define MAX_INCLUDE_FILES	256
#define MAX_FILE_SIZE		(1024 * 1024)
#define MAX_TOKEN		8192
#define UNGET_EXPANDED		0x100	/* pushed-back char came from a macro */

#define WORKERS_MAX		256
#define RETRY_MAX		100
#define SECS_PER_DAY		86400LL
#define RESCAN_MAX		(7 * SECS_PER_DAY)
#define STABILITY_MAX		SECS_PER_DAY
#define BACKOFF_MAX		SECS_PER_DAY
#define METRICS_INTERVAL_MAX	SECS_PER_DAY
#define SIZE_MAX_BYTES		(1LL << 60)

enum kwclass {
	KW_TOP,		/* starts a global statement */
	KW_WATCH,	/* starts a statement inside a watch block */
	KW_VALUE,	/* a word in a fixed set of values */
};

struct keyword {
	const char	*name;
	int		 token;
	yysymbol_kind_t	 kind;
	enum kwclass	 class;
};

/* Linear search: a few dozen entries, read once per word. */
static const struct keyword keywords[] = {
	{ "include",	TOK_INCLUDE,	YYSYMBOL_INCLUDE,	KW_TOP },
	{ "state-dir",	TOK_STATEDIR,	YYSYMBOL_STATEDIR,	KW_TOP },
	{ "control",	TOK_CONTROL,	YYSYMBOL_CONTROL,	KW_TOP },
	{ "user",	TOK_USER,	YYSYMBOL_USER,		KW_TOP },
	{ "workers",	TOK_WORKERS,	YYSYMBOL_WORKERS,	KW_TOP },
	{ "hash",	TOK_HASH,	YYSYMBOL_HASH,		KW_TOP },
	{ "log",	TOK_LOG,	YYSYMBOL_LOG,		KW_TOP },
	{ "rescan",	TOK_RESCAN,	YYSYMBOL_RESCAN,	KW_TOP },
	{ "sandbox",	TOK_SANDBOX,	YYSYMBOL_SANDBOX,	KW_TOP },
	{ "watch",	TOK_WATCH,	YYSYMBOL_WATCH,		KW_TOP },
	{ "read-group",	TOK_READGROUP,	YYSYMBOL_READGROUP,	KW_TOP },
	{ "admin-group", TOK_ADMINGROUP, YYSYMBOL_ADMINGROUP,	KW_TOP },
	{ "log-file",	TOK_LOGFILE,	YYSYMBOL_LOGFILE,	KW_TOP },
	{ "metrics",	TOK_METRICS,	YYSYMBOL_METRICS,	KW_TOP },
	{ "path",	TOK_PATH,	YYSYMBOL_PATH,		KW_WATCH },
	{ "recursive",	TOK_RECURSIVE,	YYSYMBOL_RECURSIVE,	KW_WATCH },
	{ "match",	TOK_MATCH,	YYSYMBOL_MATCH,		KW_WATCH },
	{ "ignore",	TOK_IGNORE,	YYSYMBOL_IGNORE,	KW_WATCH },
	{ "complete",	TOK_COMPLETE,	YYSYMBOL_COMPLETE,	KW_WATCH },
	{ "min-size",	TOK_MINSIZE,	YYSYMBOL_MINSIZE,	KW_WATCH },
	{ "max-size",	TOK_MAXSIZE,	YYSYMBOL_MAXSIZE,	KW_WATCH },
	{ "action",	TOK_ACTION,	YYSYMBOL_ACTION,	KW_WATCH },
	{ "route",	TOK_ROUTE,	YYSYMBOL_ROUTE,		KW_WATCH },
	{ "to",		TOK_TO,		YYSYMBOL_TO,		KW_WATCH },
	{ "manifest",	TOK_MANIFEST,	YYSYMBOL_MANIFEST,	KW_WATCH },
	{ "duplicate",	TOK_DUPLICATE,	YYSYMBOL_DUPLICATE,	KW_WATCH },
	{ "retry",	TOK_RETRY,	YYSYMBOL_RETRY,		KW_WATCH },
	{ "backoff",	TOK_BACKOFF,	YYSYMBOL_BACKOFF,	KW_VALUE },
	{ "stability",	TOK_STABILITY,	YYSYMBOL_STABILITY,	KW_VALUE },
	{ "sidecar",	TOK_SIDECAR,	YYSYMBOL_SIDECAR,	KW_VALUE },
	{ "close-write", TOK_CLOSEWRITE, YYSYMBOL_CLOSEWRITE,	KW_VALUE },
	{ "move",	TOK_MOVE,	YYSYMBOL_MOVE,		KW_VALUE },
	{ "copy",	TOK_COPY,	YYSYMBOL_COPY,		KW_VALUE },
	{ "link",	TOK_LINK,	YYSYMBOL_LINK,		KW_VALUE },
	{ "delete",	TOK_DELETE,	YYSYMBOL_DELETE,	KW_VALUE },
	{ "keep",	TOK_KEEP,	YYSYMBOL_KEEP,		KW_VALUE },
	{ "move-to",	TOK_MOVETO,	YYSYMBOL_MOVETO,	KW_VALUE },
	{ "yes",	TOK_YES,	YYSYMBOL_YES,		KW_VALUE },
	{ "no",		TOK_NO,		YYSYMBOL_NO,		KW_VALUE },
	{ "sha256",	TOK_SHA256,	YYSYMBOL_SHA256,	KW_VALUE },
	{ "xxh128",	TOK_XXH128,	YYSYMBOL_XXH128,	KW_VALUE },
	{ "text",	TOK_TEXT,	YYSYMBOL_TEXT,		KW_VALUE },
	{ "json",	TOK_JSON,	YYSYMBOL_JSON,		KW_VALUE },
	{ "required",	TOK_REQUIRED,	YYSYMBOL_REQUIRED,	KW_VALUE },
	{ "auto",	TOK_AUTO,	YYSYMBOL_AUTO,		KW_VALUE },
	{ "off",	TOK_OFF,	YYSYMBOL_OFF,		KW_VALUE },
	{ "listen",	TOK_LISTEN,	YYSYMBOL_LISTEN,	KW_VALUE },
	{ "textfile",	TOK_TEXTFILE,	YYSYMBOL_TEXTFILE,	KW_VALUE },
	{ "interval",	TOK_INTERVAL,	YYSYMBOL_INTERVAL,	KW_VALUE },
};
#define NKEYWORDS	(sizeof(keywords) / sizeof(keywords[0]))

/* One file being read, or waiting its turn after a glob include. */
struct cfile {
	TAILQ_ENTRY(cfile)	 entry;
	const char		*name;		/* in parse.names */
	FILE			*fp;		/* NULL until it is read */
	int			 line;
	int			 depth;		/* include depth, 0: main file */
	struct cfile		*parent;	/* the includer, below on the stack */
	struct cfloc		 from;		/* the include statement */
	dev_t			 dev;
	ino_t			 ino;
	size_t			 nread;
	int			 opened;	/* file_open() was tried */
	int			 eof_nl;	/* the '\n' ending the file was sent */
	int			 braces;	/* blocks open in this file */
	int			 brace_line;	/* line of the outermost open '{' */
};
TAILQ_HEAD(cfileq, cfile);

struct macro {
	TAILQ_ENTRY(macro)	 entry;
	char			*name;
	char			*value;
	int			 persist;	/* from -D: the file cannot redefine it */
};
TAILQ_HEAD(macroq, macro);

/* Keys that may appear once (global, and per watch block). */
enum {
	G_STATEDIR = 1 << 0, G_CONTROL = 1 << 1, G_USER = 1 << 2,
	G_WORKERS = 1 << 3, G_HASH = 1 << 4, G_LOG = 1 << 5,
	G_RESCAN = 1 << 6, G_SANDBOX = 1 << 7, G_READGROUP = 1 << 8,
	G_ADMINGROUP = 1 << 9, G_LOGFILE = 1 << 10, G_LISTEN = 1 << 11,
	G_TEXTFILE = 1 << 12,
};
enum {
	W_PATH = 1 << 0, W_RECURSIVE = 1 << 1, W_COMPLETE = 1 << 2,
	W_MINSIZE = 1 << 3, W_MAXSIZE = 1 << 4, W_ACTION = 1 << 5,
	W_TO = 1 << 6, W_MANIFEST = 1 << 7, W_DUPLICATE = 1 << 8,
	W_RETRY = 1 << 9,
};

struct parse {
	struct config		*conf;
	struct config		*junk;		/* watches kept out (bad name) */
	FILE			*errs;
	int			 nerrors;
	struct cfileq		 files;		/* include stack, current first */
	int			 nfiles;
	char			**names;	/* every file name seen */
	size_t			 nnames;
	struct macroq		 macros;
	int			*unget;		/* pushed-back chars, LIFO */
	size_t			 nunget;
	size_t			 unget_cap;
	int			 expanded;	/* last char came from a macro */
	struct buf		 tok;		/* the token being read */
	int			 quoted;	/* it was a quoted string */
	struct buf		 text[2];	/* last two tokens, for messages */
	int			 cur_text;
	int			 cur_quoted;
	int			 bol;		/* next token starts a statement */
	struct cfloc		 last;		/* where the input ended */
	struct watch_conf	*w;		/* the watch block being read */
	unsigned		 wseen;
	unsigned		 gseen;
};

/* Errors. */

static void
parse_verror(struct parse *ps, const char *file, int line, const char *fmt,
    va_list ap)
{
	if (ps->nerrors < MAX_ERRORS && ps->errs != NULL) {
		fprintf(ps->errs, "%s:%d: ", file ? file : "?", line);
		vfprintf(ps->errs, fmt, ap);
		fputc('\n', ps->errs);
	}
	if (++ps->nerrors == MAX_ERRORS && ps->errs != NULL)
		fprintf(ps->errs, "%s:%d: too many errors, giving up\n",
		    file ? file : "?", line);
}

static void
parse_error(struct parse *ps, const struct cfloc *loc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	parse_verror(ps, loc->file, loc->line, fmt, ap);
	va_end(ap);
}

static void
yyerror(YYLTYPE *loc, struct parse *ps, const char *msg)
{
	parse_error(ps, loc, "%s", msg);
}

/* Lists of strings. */

static struct strlist *
strlist_add(struct strlist *l, char *s)
{
	if (l == NULL)
		l = xcalloc(1, sizeof(*l));
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = s;
	return l;
}

static void
strlist_free(struct strlist *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l);
}

/* Macros. */

static int
macro_name_ok(const char *s)
{
	const char *p;

	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
	    *s == '_'))
		return 0;
	for (p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_'))
			return 0;
	return 1;
}

static int
macro_char(int c, int first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	    (!first && c >= '0' && c <= '9');
}

static struct macro *
macro_find(struct parse *ps, const char *name)
{
	struct macro *m;

	TAILQ_FOREACH(m, &ps->macros, entry)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

/* Takes name and value.  A later definition wins, except over -D. */
static void
macro_set(struct parse *ps, char *name, char *value, int persist)
{
	struct macro *m;

	if ((m = macro_find(ps, name)) != NULL) {
		if (m->persist && !persist) {
			free(name);
			free(value);
			return;
		}
		free(m->value);
		m->value = value;
		m->persist = persist;
		free(name);
		return;
	}
	m = xcalloc(1, sizeof(*m));
	m->name = name;
	m->value = value;
	m->persist = persist;
	TAILQ_INSERT_TAIL(&ps->macros, m, entry);
}

/* The input: pushed-back characters first, then the current file. */

static void
lex_unget(struct parse *ps, int c, int expanded)
{
	if (c == EOF)
		return;
	if (ps->nunget == ps->unget_cap) {
		ps->unget_cap = ps->unget_cap ? ps->unget_cap * 2 : 64;
		ps->unget = xrealloc(ps->unget, ps->unget_cap *
		    sizeof(*ps->unget));
	}
	ps->unget[ps->nunget++] = (c & 0xff) | (expanded ? UNGET_EXPANDED : 0);
}

/* Push a macro's value so it is read next; its '$' are not expanded. */
static void
lex_expand(struct parse *ps, const char *value)
{
	size_t n = strlen(value);

	while (n > 0)
		lex_unget(ps, (unsigned char)value[--n], 1);
}

static int
lex_getc(struct parse *ps)
{
	struct cfile *f = TAILQ_FIRST(&ps->files);
	int c;

	if (ps->nunget > 0) {
		c = ps->unget[--ps->nunget];
		ps->expanded = (c & UNGET_EXPANDED) != 0;
		return c & 0xff;
	}
	ps->expanded = 0;
	if (f == NULL || f->fp == NULL)
		return EOF;
	if ((c = getc(f->fp)) == EOF) {
		if (ferror(f->fp)) {
			parse_error(ps, &(struct cfloc){ f->name, f->line },
			    "read error: %s", strerror(errno));
			clearerr(f->fp);
			fclose(f->fp);
			f->fp = NULL;
		}
		return EOF;
	}
	if (++f->nread > MAX_FILE_SIZE) {
		parse_error(ps, &(struct cfloc){ f->name, f->line },
		    "file too large (more than %d bytes)", MAX_FILE_SIZE);
		fclose(f->fp);
		f->fp = NULL;
		return EOF;
	}
	return c;
}

/* Undo the last lex_getc(). */
static void
lex_putback(struct parse *ps, int c)
{
	lex_unget(ps, c, ps->expanded);
}

/* Files. */

static const char *
name_keep(struct parse *ps, char *name)
{
	ps->names = xrealloc(ps->names, (ps->nnames + 1) * sizeof(*ps->names));
	ps->names[ps->nnames++] = name;
	return name;
}

/* Queue a file to be read next (on top of the stack); takes name. */
static struct cfile *
file_push(struct parse *ps, char *name, struct cfile *parent,
    const struct cfloc *from)
{
	struct cfile *f = xcalloc(1, sizeof(*f));

	f->name = name_keep(ps, name);
	f->line = 1;
	f->parent = parent;
	f->depth = parent ? parent->depth + 1 : 0;
	if (from != NULL)
		f->from = *from;
	TAILQ_INSERT_HEAD(&ps->files, f, entry);
	ps->nfiles++;
	return f;
}

static void
file_pop(struct parse *ps)
{
	struct cfile *f = TAILQ_FIRST(&ps->files);

	if (f == NULL)
		return;
	ps->last.file = f->name;
	ps->last.line = f->line;
	TAILQ_REMOVE(&ps->files, f, entry);
	if (f->fp != NULL)
		fclose(f->fp);
	free(f);
}

/*
 * Open the file on top of the stack: a regular file (never block on a
 * FIFO), not one of its own includers.  -1 after reporting an error.
 */
static int
file_open(struct parse *ps, struct cfile *f)
{
	const struct cfloc *at = &f->from;
	struct cfloc here = { f->name, 0 };
	struct cfile *p;
	struct stat st;
	int fd;

	f->opened = 1;
	if (f->parent == NULL)
		at = &here;
	fd = open(f->name, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd == -1) {
		if (f->parent == NULL)
			parse_error(ps, at, "cannot open: %s", strerror(errno));
		else
			parse_error(ps, at, "include '%s': %s", f->name,
			    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		if (f->parent == NULL)
			parse_error(ps, at, "not a regular file");
		else
			parse_error(ps, at, "include '%s': not a regular file",
			    f->name);
		close(fd);
		return -1;
	}
	for (p = f->parent; p != NULL; p = p->parent) {
		if (p->dev == st.st_dev && p->ino == st.st_ino) {
			parse_error(ps, at, "include loop: '%s' is already "
			    "being read", f->name);
			close(fd);
			return -1;
		}
	}
	if ((f->fp = fdopen(fd, "r")) == NULL) {
		parse_error(ps, at, "include '%s': %s", f->name,
		    strerror(errno));
		close(fd);
		return -1;
	}
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	return 0;
}

static int
has_glob_chars(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* dir + "/" + name; dir's glob characters escaped when glob is set. */
static char *
path_join(const char *dir, const char *name, int escape)
{
	struct buf b;
	const char *p;

	buf_init(&b);
	for (p = dir; *p != '\0'; p++) {
		if (escape && strchr("*?[\\", *p) != NULL)
			buf_addc(&b, '\\');
		buf_addc(&b, *p);
	}
	buf_addc(&b, '/');
	buf_adds(&b, name);
	return buf_release(&b);
}

/*
 * `include "PATTERN"`: relative to the including file's directory; a
 * glob may match nothing; the matches are read in sorted order.
 */
static void
include_push(struct parse *ps, const struct cfloc *loc, char *pattern)
{
	struct cfile *cur = TAILQ_FIRST(&ps->files);
	char *path, *slash;
	glob_t g;
	size_t i;
	int glob_rc, isglob = has_glob_chars(pattern);

	if (cur == NULL) {
		free(pattern);
		return;
	}
	if (*pattern == '\0') {
		parse_error(ps, loc, "include: empty path");
		free(pattern);
		return;
	}
	if (*pattern != '/' && (slash = strrchr(cur->name, '/')) != NULL) {
		char *dir = xstrdup(cur->name);

		dir[slash - cur->name] = '\0';
		path = path_join(*dir ? dir : "", pattern, isglob);
		free(dir);
		free(pattern);
	} else
		path = pattern;
	if (cur->depth + 1 > MAX_INCLUDE_DEPTH) {
		parse_error(ps, loc, "include '%s': include depth limit (%d) "
		    "exceeded", path, MAX_INCLUDE_DEPTH);
		free(path);
		return;
	}

	if (!isglob) {
		if (ps->nfiles >= MAX_INCLUDE_FILES) {
			parse_error(ps, loc, "too many included files "
			    "(more than %d)", MAX_INCLUDE_FILES);
			free(path);
			return;
		}
		file_push(ps, path, cur, loc);
		return;
	}
	memset(&g, 0, sizeof(g));
	glob_rc = glob(path, 0, NULL, &g);
	if (glob_rc != 0 && glob_rc != GLOB_NOMATCH) {
		parse_error(ps, loc, "include '%s': %s", path,
		    glob_rc == GLOB_NOSPACE ? "out of memory" : "read error");
	} else if (glob_rc == 0 &&
	    ps->nfiles + g.gl_pathc > MAX_INCLUDE_FILES) {
		parse_error(ps, loc, "include '%s': too many included files "
		    "(more than %d)", path, MAX_INCLUDE_FILES);
	} else if (glob_rc == 0) {
		/* pushed last first, so the first match is read first */
		for (i = g.gl_pathc; i > 0; i--)
			file_push(ps, xstrdup(g.gl_pathv[i - 1]), cur, loc);
	}
	if (glob_rc == 0 || glob_rc == GLOB_NOMATCH)
		globfree(&g);
	free(path);
}

/* The lexer. */

static const struct keyword *
keyword_find(const char *s)
{
	size_t i;

	for (i = 0; i < NKEYWORDS; i++)
		if (strcmp(keywords[i].name, s) == 0)
			return &keywords[i];
	return NULL;
}

static const struct keyword *
keyword_by_kind(yysymbol_kind_t kind)
{
	size_t i;

	for (i = 0; i < NKEYWORDS; i++)
		if (keywords[i].kind == kind)
			return &keywords[i];
	return NULL;
}

/* Characters of an unquoted word (a keyword, number, duration, path). */
static int
word_char(int c)
{
	if (c == EOF || c <= ' ' || c == 0x7f)
		return 0;
	return strchr("\"#{}=$\\", c) == NULL;
}

/* Read a macro name after '$' ($name or ${name}) into b; 0 if none. */
static int
lex_macro_name(struct parse *ps, struct buf *b)
{
	int c, braced = 0;

	buf_reset(b);
	if ((c = lex_getc(ps)) == '{' && !ps->expanded)
		braced = 1;
	else
		lex_putback(ps, c);
	for (;;) {
		c = lex_getc(ps);
		if (c == EOF || ps->expanded || !macro_char(c, b->len == 0)) {
			if (braced && c == '}' && !ps->expanded)
				return b->len > 0;
			lex_putback(ps, c);
			break;
		}
		if (b->len < MAX_TOKEN)
			buf_addc(b, (char)c);
	}
	return !braced && b->len > 0;
}

/*
 * After '$': the macro's value, or NULL after reporting the error (an
 * undefined macro, or a '$' not followed by a name).
 */
static const char *
lex_macro(struct parse *ps, const struct cfloc *loc)
{
	struct buf name;
	struct macro *m;
	const char *value = NULL;

	buf_init(&name);
	if (!lex_macro_name(ps, &name))
		parse_error(ps, loc, "'$' must start $name or ${name} (write "
		    "\\$ in a quoted string for a literal '$')");
	else if ((m = macro_find(ps, name.data)) == NULL)
		parse_error(ps, loc, "undefined macro '$%s'", name.data);
	else
		value = m->value;
	buf_free(&name);
	return value;
}

static void
tok_addc(struct parse *ps, int c, int *toolong)
{
	if (ps->tok.len >= MAX_TOKEN)
		*toolong = 1;
	else
		buf_addc(&ps->tok, (char)c);
}

/*
 * A quoted string: \" \\ and \$ are escapes, $name expands in place.
 * Ends at the closing quote; a newline or the end of the file first is
 * an unterminated string.
 */
static int
lex_string(struct parse *ps, const struct cfloc *loc, YYSTYPE *lval)
{
	const char *value;
	int c, bad = 0, toolong = 0;

	buf_reset(&ps->tok);
	ps->quoted = 1;
	for (;;) {
		c = lex_getc(ps);
		if (c == EOF || c == '\n') {
			lex_putback(ps, c);
			parse_error(ps, loc, "unterminated string");
			return TOK_BADTOKEN;
		}
		if (c == '"' && !ps->expanded)
			break;
		if (c == '\\' && !ps->expanded) {
			c = lex_getc(ps);
			if (c == '"' || c == '\\' || c == '$') {
				tok_addc(ps, c, &toolong);
				continue;
			}
			if (c == EOF || c == '\n') {
				lex_putback(ps, c);
				continue;	/* reported as unterminated */
			}
			if (!bad)
				parse_error(ps, loc, "unknown escape '\\%c' in "
				    "string (only \\\" \\\\ and \\$)", c >= ' ' &&
				    c < 0x7f ? c : '?');
			bad = 1;
			continue;
		}
		if (c == '$' && !ps->expanded) {
			if ((value = lex_macro(ps, loc)) == NULL)
				bad = 1;
			else
				for (; *value != '\0'; value++)
					tok_addc(ps, (unsigned char)*value,
					    &toolong);
			continue;
		}
		if ((c < ' ' && c != '\t') || c == 0x7f) {
			if (!bad)
				parse_error(ps, loc, "control character 0x%02x "
				    "in string", c);
			bad = 1;
			continue;
		}
		tok_addc(ps, c, &toolong);
	}
	if (toolong && !bad) {
		parse_error(ps, loc, "string too long (more than %d bytes)",
		    MAX_TOKEN);
		bad = 1;
	}
	if (bad)
		return TOK_BADTOKEN;
	lval->str = xstrdup(ps->tok.data ? ps->tok.data : "");
	return TOK_STRING;
}

/*
 * An unquoted word: a keyword, a macro name (when '=' follows) or a value.
 * $name inside a word expands in place.
 */
static int
lex_word(struct parse *ps, const struct cfloc *loc, int c, YYSTYPE *lval)
{
	const struct keyword *kw;
	const char *value;
	int toolong = 0, bad = 0;

	buf_reset(&ps->tok);
	ps->quoted = 0;
	for (;;) {
		if (c == '$' && !ps->expanded) {
			if ((value = lex_macro(ps, loc)) == NULL)
				bad = 1;
			else
				lex_expand(ps, value);
		} else if (word_char(c) || (ps->expanded && c != EOF &&
		    c > ' ' && strchr("\"{}=", c) == NULL)) {
			tok_addc(ps, c, &toolong);
		} else {
			lex_putback(ps, c);
			break;
		}
		c = lex_getc(ps);
	}
	if (bad)
		return TOK_BADTOKEN;
	if (toolong) {
		parse_error(ps, loc, "word too long (more than %d bytes)",
		    MAX_TOKEN);
		return TOK_BADTOKEN;
	}
	if (ps->tok.len == 0)		/* a macro that expanded to nothing */
		return -1;

	/* NAME = VALUE, as a statement, defines a macro */
	if (!ps->bol)
		goto notmacro;
	do {
		c = lex_getc(ps);
	} while (c == ' ' || c == '\t');
	lex_putback(ps, c);
	if (c == '=') {
		if (keyword_find(ps->tok.data) != NULL) {
			parse_error(ps, loc, "'%s' is a keyword, not a macro "
			    "name (write '%s VALUE')", ps->tok.data,
			    ps->tok.data);
			return TOK_BADTOKEN;
		}
		if (!macro_name_ok(ps->tok.data)) {
			parse_error(ps, loc, "bad macro name '%s' (letters, "
			    "digits and '_')", ps->tok.data);
			return TOK_BADTOKEN;
		}
		lval->str = xstrdup(ps->tok.data);
		return TOK_MACRONAME;
	}
notmacro:
	if ((kw = keyword_find(ps->tok.data)) != NULL)
		return kw->token;
	lval->str = xstrdup(ps->tok.data);
	return TOK_STRING;
}

/* At the end of a file: end the line, close its blocks, go back up. */
static int
lex_eof(struct parse *ps, struct cfile *f, YYLTYPE *lloc)
{
	lloc->file = f->name;
	lloc->line = f->line;
	if (!f->eof_nl) {
		f->eof_nl = 1;
		return TOK_NL;
	}
	if (f->braces > 0) {
		struct cfloc at = { f->name, f->brace_line };

		if (ps->w != NULL)
			parse_error(ps, &at, "unterminated block: watch '%s' "
			    "has no closing '}'", ps->w->name);
		else
			parse_error(ps, &at, "unterminated block: '{' has no "
			    "closing '}'");
		f->braces--;
		f->eof_nl = 0;
		return '}';
	}
	file_pop(ps);
	return -1;
}

static int
lex_token(struct parse *ps, YYSTYPE *lval, YYLTYPE *lloc)
{
	struct cfile *f;
	const char *value;
	int c, tok;

	for (;;) {
		if (ps->nerrors >= MAX_ERRORS)
			return TOK_YYEOF;
		if ((f = TAILQ_FIRST(&ps->files)) == NULL) {
			*lloc = ps->last;
			return TOK_YYEOF;
		}
		if (!f->opened && file_open(ps, f) == -1) {
			file_pop(ps);
			continue;
		}
		do {
			c = lex_getc(ps);
		} while (c == ' ' || c == '\t' || c == '\r');
		lloc->file = f->name;
		lloc->line = f->line;

		if (c == '#' && !ps->expanded) {
			do {
				c = lex_getc(ps);
			} while (c != '\n' && c != EOF);
		}
		if (c == '\\' && !ps->expanded) {
			if ((c = lex_getc(ps)) == '\n' && !ps->expanded) {
				f->line++;		/* continued line */
				continue;
			}
			lex_putback(ps, c);
			parse_error(ps, lloc, "unexpected '\\' (only at the "
			    "end of a line, to continue it)");
			return TOK_BADTOKEN;
		}
		switch (c) {
		case EOF:
			if ((tok = lex_eof(ps, f, lloc)) != -1)
				return tok;
			continue;
		case '\n':
			if (!ps->expanded)
				f->line++;
			return TOK_NL;
		case '{':
			if (f->braces++ == 0)
				f->brace_line = lloc->line;
			return '{';
		case '}':
			if (f->braces == 0) {
				parse_error(ps, lloc, "stray '}' (no block is "
				    "open)");
				return TOK_BADTOKEN;
			}
			f->braces--;
			return '}';
		case '=':
			return '=';
		case '"':
			return lex_string(ps, lloc, lval);
		case '$':
			if (ps->expanded)
				break;
			if ((value = lex_macro(ps, lloc)) == NULL)
				return TOK_BADTOKEN;
			lex_expand(ps, value);
			continue;
		default:
			break;
		}
		if (word_char(c) || (ps->expanded && c > ' ')) {
			if ((tok = lex_word(ps, lloc, c, lval)) == -1)
				continue;
			return tok;
		}
		if (c >= ' ' && c < 0x7f)
			parse_error(ps, lloc, "unexpected character '%c'", c);
		else
			parse_error(ps, lloc, "unexpected byte 0x%02x", c);
		return TOK_BADTOKEN;
	}
}

/* The token's text is kept for messages about it and about the next one. */
static int
yylex(YYSTYPE *lval, YYLTYPE *lloc, struct parse *ps)
{
	struct buf *t;
	const struct keyword *kw;
	int tok;

	ps->quoted = 0;
	buf_reset(&ps->tok);
	tok = lex_token(ps, lval, lloc);
	ps->bol = tok == TOK_NL;
	ps->cur_text ^= 1;
	t = &ps->text[ps->cur_text];
	buf_reset(t);
	ps->cur_quoted = ps->quoted;
	if (tok == TOK_STRING || tok == TOK_MACRONAME)
		buf_adds(t, lval->str);
	else if (tok == TOK_NL)
		buf_adds(t, "end of line");
	else if (tok == TOK_YYEOF)
		buf_adds(t, "end of file");
	else if (tok > 0 && tok < 256)
		buf_addc(t, (char)tok);
	else {
		for (kw = keywords; kw < keywords + NKEYWORDS; kw++)
			if (kw->token == tok)
				buf_adds(t, kw->name);
	}
	if (t->data == NULL)
		buf_adds(t, "");
	return tok;
}

/* Syntax errors, with the "did you mean" hint. */

/* Optimal string alignment distance (edits, adjacent swaps). */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, d, best;
	size_t *row0, *row1, *row2, *tmp;

	if (la > 64 || lb > 64)
		return (size_t)-1;
	row0 = xcalloc(lb + 1, sizeof(*row0));
	row1 = xcalloc(lb + 1, sizeof(*row1));
	row2 = xcalloc(lb + 1, sizeof(*row2));
	for (j = 0; j <= lb; j++)
		row1[j] = j;
	for (i = 1; i <= la; i++) {
		row2[0] = i;
		for (j = 1; j <= lb; j++) {
			d = a[i - 1] == b[j - 1] ? 0 : 1;
			best = row1[j - 1] + d;
			if (row1[j] + 1 < best)
				best = row1[j] + 1;
			if (row2[j - 1] + 1 < best)
				best = row2[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && row0[j - 2] + 1 < best)
				best = row0[j - 2] + 1;
			row2[j] = best;
		}
		tmp = row0;
		row0 = row1;
		row1 = row2;
		row2 = tmp;
	}
	d = row1[lb];
	free(row0);
	free(row1);
	free(row2);
	return d;
}

static void
describe_symbol(struct buf *b, yysymbol_kind_t kind)
{
	const struct keyword *kw;

	if ((kw = keyword_by_kind(kind)) != NULL)
		buf_printf(b, "'%s'", kw->name);
	else if (kind == YYSYMBOL_STRING)
		buf_adds(b, "a value");
	else if (kind == YYSYMBOL_MACRONAME)
		buf_adds(b, "a macro definition");
	else if (kind == YYSYMBOL_YYEOF)
		buf_adds(b, "end of file");
	else if (kind == YYSYMBOL_NL)
		buf_adds(b, "end of line");
	else
		buf_adds(b, yysymbol_name(kind));
}

/* ", expected A, B or C" when the list is short enough to help. */
static void
describe_expected(struct buf *b, const yysymbol_kind_t *exp, int n,
    const char *lead)
{
	int i;

	if (n <= 0 || n > 6)
		return;
	buf_adds(b, lead);
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_adds(b, i == n - 1 ? " or " : ", ");
		describe_symbol(b, exp[i]);
	}
}

/* "(did you mean 'recursive'?)" or the short list of keywords valid here. */
static void
hint_keyword(struct buf *b, const char *word, const yysymbol_kind_t *exp,
    int n)
{
	yysymbol_kind_t kws[YYNTOKENS];
	const struct keyword *kw, *best = NULL;
	size_t d, bestd = (size_t)-1, limit;
	int i, nkw = 0;

	for (i = 0; i < n; i++) {
		if ((kw = keyword_by_kind(exp[i])) == NULL)
			continue;
		kws[nkw++] = exp[i];
		d = edit_distance(word, kw->name);
		if (d < bestd) {
			bestd = d;
			best = kw;
		}
	}
	if (best != NULL) {
		limit = strlen(best->name) / 3;
		if (limit < 1)
			limit = 1;
		if (limit > 3)
			limit = 3;
		if (bestd <= limit) {
			buf_printf(b, " (did you mean '%s'?)", best->name);
			return;
		}
	}
	if (nkw > 0 && nkw <= 6) {
		describe_expected(b, kws, nkw, " (expected ");
		buf_addc(b, ')');
	}
}

static int
yyreport_syntax_error(const yypcontext_t *ctx, struct parse *ps)
{
	yysymbol_kind_t tok = yypcontext_token(ctx);
	yysymbol_kind_t exp[YYNTOKENS];
	const struct keyword *kw;
	const char *text = ps->text[ps->cur_text].data;
	const char *prev = ps->text[ps->cur_text ^ 1].data;
	struct buf b;
	int i, n, nkw = 0, only_value;

	if (tok == YYSYMBOL_BADTOKEN)		/* the lexer said why */
		return 0;
	n = yypcontext_expected_tokens(ctx, exp, YYNTOKENS);
	if (n < 0)
		n = 0;
	for (i = 0; i < n; i++)
		if (keyword_by_kind(exp[i]) != NULL)
			nkw++;
	only_value = n == 1 && exp[0] == YYSYMBOL_STRING;
	if (text == NULL)
		text = "";
	if (prev == NULL)
		prev = "";

	buf_init(&b);
	kw = keyword_by_kind(tok);
	if (tok == YYSYMBOL_STRING && !ps->cur_quoted && nkw > 0) {
		buf_printf(&b, "unknown keyword '%s'", text);
		hint_keyword(&b, text, exp, n);
	} else if (kw != NULL && kw->class == KW_WATCH && ps->w == NULL &&
	    nkw > 6) {
		buf_printf(&b, "'%s' is only valid inside a watch block",
		    kw->name);
	} else if (kw != NULL && kw->class == KW_TOP && ps->w != NULL &&
	    nkw > 6) {
		buf_printf(&b, "'%s' is not valid inside a watch block "
		    "(missing '}'?)", kw->name);
	} else if (tok == YYSYMBOL_NL && only_value) {
		buf_printf(&b, "missing value after '%s'", prev);
	} else {
		buf_adds(&b, "unexpected ");
		if (kw != NULL)
			buf_printf(&b, "keyword '%s'", kw->name);
		else if (tok == YYSYMBOL_STRING && ps->cur_quoted)
			buf_printf(&b, "string \"%s\"", text);
		else if (tok == YYSYMBOL_STRING)
			buf_printf(&b, "'%s'", text);
		else if (tok == YYSYMBOL_MACRONAME)
			buf_printf(&b, "macro definition '%s ='", text);
		else
			describe_symbol(&b, tok);
		if (tok == YYSYMBOL_NL && *prev != '\0')
			buf_printf(&b, " after '%s'", prev);
		describe_expected(&b, exp, n, ", expected ");
		if (only_value && kw != NULL)
			buf_adds(&b, " (quote it to use it as a value)");
	}
	parse_error(ps, yypcontext_location(ctx), "%s", b.data);
	buf_free(&b);
	return 0;
}

/* Values. */

/* Digits only, no sign, no overflow; -1 if malformed. */
static int
digits_parse(const char *s, size_t len, long long *out)
{
	long long v = 0;
	size_t i;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (LLONG_MAX - (s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int
number_take(struct parse *ps, const struct cfloc *loc, const char *what,
    char *s, long long min, long long max, long long *out)
{
	long long v;
	int rc = -1;

	if (digits_parse(s, strlen(s), &v) == -1)
		parse_error(ps, loc, "%s: bad number '%s'", what, s);
	else if (v < min || v > max)
		parse_error(ps, loc, "%s %s is out of range (%lld to %lld)",
		    what, s, min, max);
	else {
		*out = v;
		rc = 0;
	}
	free(s);
	return rc;
}

/* N, Ns, Nm, Nh or Nd, in seconds within [min, max]. */
static int
duration_take(struct parse *ps, const struct cfloc *loc, const char *what,
    char *s, long long min, long long max, int *out)
{
	size_t len = strlen(s);
	long long v, mult = 1;
	int rc = -1;

	if (len > 0) {
		switch (s[len - 1]) {
		case 's':
			mult = 1;
			len--;
			break;
		case 'm':
			mult = 60;
			len--;
			break;
		case 'h':
			mult = 3600;
			len--;
			break;
		case 'd':
			mult = SECS_PER_DAY;
			len--;
			break;
		default:
			break;
		}
	}
	if (digits_parse(s, len, &v) == -1)
		parse_error(ps, loc, "%s: bad duration '%s' (expected N, Ns, "
		    "Nm, Nh or Nd)", what, s);
	else if (v > max / mult || v * mult < min)
		parse_error(ps, loc, "%s %s is out of range (%llds to %llds)",
		    what, s, min, max);
	else {
		*out = (int)(v * mult);
		rc = 0;
	}
	free(s);
	return rc;
}

/* Bytes, or N with a K, M, G or T suffix (powers of 1024). */
static int
size_take(struct parse *ps, const struct cfloc *loc, const char *what,
    char *s, long long *out)
{
	size_t len = strlen(s);
	long long v, mult = 1;
	int rc = -1;

	if (len > 0) {
		switch (s[len - 1]) {
		case 'K': case 'k':
			mult = 1LL << 10;
			break;
		case 'M': case 'm':
			mult = 1LL << 20;
			break;
		case 'G': case 'g':
			mult = 1LL << 30;
			break;
		case 'T': case 't':
			mult = 1LL << 40;
			break;
		default:
			break;
		}
		if (mult > 1)
			len--;
	}
	if (digits_parse(s, len, &v) == -1)
		parse_error(ps, loc, "%s: bad size '%s' (expected bytes, or "
		    "N with a K, M, G or T suffix)", what, s);
	else if (v > SIZE_MAX_BYTES / mult)
		parse_error(ps, loc, "%s %s is out of range (at most %lld "
		    "bytes)", what, s, SIZE_MAX_BYTES);
	else {
		*out = v * mult;
		rc = 0;
	}
	free(s);
	return rc;
}

/*
 * An absolute path, normalized: no "//", no trailing '/', no "." or ".."
 * component (so prefixes can be compared as strings).  Takes s; returns
 * the path or NULL after reporting.
 */
static char *
path_take(struct parse *ps, const struct cfloc *loc, const char *what,
    char *s)
{
	struct buf b;
	const char *p, *end;
	size_t n;

	if (*s != '/') {
		parse_error(ps, loc, "%s '%s' must be an absolute path", what,
		    s);
		free(s);
		return NULL;
	}
	if (strlen(s) >= PATH_MAX) {
		parse_error(ps, loc, "%s: path too long", what);
		free(s);
		return NULL;
	}
	buf_init(&b);
	for (p = s; *p != '\0'; p = end) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		end = strchr(p, '/');
		if (end == NULL)
			end = p + strlen(p);
		n = (size_t)(end - p);
		if ((n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.')) {
			parse_error(ps, loc, "%s '%s' must not contain '.' or "
			    "'..' components", what, s);
			buf_free(&b);
			free(s);
			return NULL;
		}
		buf_addc(&b, '/');
		buf_add(&b, p, n);
	}
	if (b.len == 0)
		buf_addc(&b, '/');
	free(s);
	return buf_release(&b);
}

/*
 * The fixed directory of a template: the text before its first field, up
 * to the last '/' (as template_expand() sees it), normalized.  NULL if it
 * has none besides "/".
 */
static char *
template_dir(const char *tmpl)
{
	const char *p, *slash = NULL;
	struct buf b;

	for (p = tmpl; *p != '\0' && *p != '{' && *p != '}'; p++)
		if (*p == '/')
			slash = p;
	buf_init(&b);
	for (p = tmpl; slash != NULL && p < slash; p++) {
		if (*p == '/' && b.len > 0 && b.data[b.len - 1] == '/')
			continue;		/* "//" */
		buf_addc(&b, *p);
	}
	if (b.len <= 1) {			/* nothing, or only "/" */
		buf_free(&b);
		return NULL;
	}
	return buf_release(&b);
}

/* A destination or manifest template; takes s, NULL after reporting. */
static char *
template_take(struct parse *ps, const struct cfloc *loc, const char *what,
    char *s)
{
	const char *why = NULL;
	char *dir, *p;

	if (*s != '/') {
		parse_error(ps, loc, "%s '%s' must be an absolute path "
		    "template", what, s);
		free(s);
		return NULL;
	}
	if (strlen(s) >= PATH_MAX) {
		parse_error(ps, loc, "%s: template too long", what);
		free(s);
		return NULL;
	}
	if (template_check(s, &why) == -1) {
		parse_error(ps, loc, "%s '%s': %s", what, s,
		    why ? why : "bad template");
		free(s);
		return NULL;
	}
	if ((dir = template_dir(s)) == NULL) {
		if (strpbrk(s, "{}") != NULL)
			parse_error(ps, loc, "%s '%s' needs a fixed directory "
			    "before its first '{' (like \"/srv/warehouse/\")",
			    what, s);
		else
			parse_error(ps, loc, "%s '%s' needs a directory below "
			    "'/' (like \"/srv/manifests/\")", what, s);
		free(s);
		return NULL;
	}
	for (p = dir; *p != '\0'; p++) {
		if (*p == '/' && p[1] == '.' && (p[2] == '/' || p[2] == '\0' ||
		    (p[2] == '.' && (p[3] == '/' || p[3] == '\0')))) {
			parse_error(ps, loc, "%s '%s' must not contain '.' or "
			    "'..' components", what, s);
			free(dir);
			free(s);
			return NULL;
		}
	}
	free(dir);
	return s;
}

/* A glob on file names: fnmatch(3) never sees a '/' there. */
static int
glob_ok(struct parse *ps, const struct cfloc *loc, const char *what,
    const char *g)
{
	if (*g == '\0') {
		parse_error(ps, loc, "%s: empty pattern", what);
		return 0;
	}
	if (strchr(g, '/') != NULL) {
		parse_error(ps, loc, "%s '%s' can never match: patterns apply "
		    "to file names, which have no '/'", what, g);
		return 0;
	}
	return 1;
}

/* Global settings. */

static int
global_once(struct parse *ps, const struct cfloc *loc, unsigned bit,
    const char *what)
{
	if (ps->gseen & bit) {
		parse_error(ps, loc, "duplicate '%s'", what);
		return 0;
	}
	ps->gseen |= bit;
	return 1;
}

static void
global_statedir(struct parse *ps, const struct cfloc *loc, char *s)
{
	char *p;

	if (!global_once(ps, loc, G_STATEDIR, "state-dir")) {
		free(s);
		return;
	}
	if ((p = path_take(ps, loc, "state-dir", s)) == NULL)
		return;
	free(ps->conf->state_dir);
	ps->conf->state_dir = p;
}

static void
global_control(struct parse *ps, const struct cfloc *loc, char *s)
{
	struct sockaddr_un sa;
	char *p;

	if (!global_once(ps, loc, G_CONTROL, "control")) {
		free(s);
		return;
	}
	if ((p = path_take(ps, loc, "control", s)) == NULL)
		return;
	if (strlen(p) >= sizeof(sa.sun_path)) {
		parse_error(ps, loc, "control '%s': too long for a socket "
		    "path (at most %zu bytes)", p, sizeof(sa.sun_path) - 1);
		free(p);
		return;
	}
	free(ps->conf->control_path);
	ps->conf->control_path = p;
}

/* read-group / admin-group: who may use the control socket (checked here). */
static void
global_group(struct parse *ps, const struct cfloc *loc, char *s, int admin)
{
	const char *kw = admin ? "admin-group" : "read-group";
	char **slot = admin ? &ps->conf->control_admin_group :
	    &ps->conf->control_read_group;

	if (!global_once(ps, loc, admin ? G_ADMINGROUP : G_READGROUP, kw)) {
		free(s);
		return;
	}
	if (*s == '\0' || getgrnam(s) == NULL) {
		parse_error(ps, loc, "%s '%s': no such group", kw, s);
		free(s);
		return;
	}
	free(*slot);
	*slot = s;
}

static void
global_user(struct parse *ps, const struct cfloc *loc, char *s)
{
	if (!global_once(ps, loc, G_USER, "user")) {
		free(s);
		return;
	}
	if (*s == '\0') {
		parse_error(ps, loc, "user: empty name");
		free(s);
		return;
	}
	free(ps->conf->user);
	ps->conf->user = s;
}

static void
global_workers(struct parse *ps, const struct cfloc *loc, char *s)
{
	long long v;

	if (!global_once(ps, loc, G_WORKERS, "workers")) {
		free(s);
		return;
	}
	if (number_take(ps, loc, "workers", s, 1, WORKERS_MAX, &v) == 0)
		ps->conf->workers = (int)v;
}

static void
global_hash(struct parse *ps, const struct cfloc *loc, int kind)
{
	if (global_once(ps, loc, G_HASH, "hash"))
		ps->conf->hash = kind;
}

static void
global_log(struct parse *ps, const struct cfloc *loc, int json)
{
	if (global_once(ps, loc, G_LOG, "log"))
		ps->conf->log_json = json;
}

static void
global_rescan(struct parse *ps, const struct cfloc *loc, char *s)
{
	int v;

	if (!global_once(ps, loc, G_RESCAN, "rescan")) {
		free(s);
		return;
	}
	if (duration_take(ps, loc, "rescan", s, 1, RESCAN_MAX, &v) == 0)
		ps->conf->rescan_secs = v;
}

static void
global_sandbox(struct parse *ps, const struct cfloc *loc, const char *level)
{
	if (!global_once(ps, loc, G_SANDBOX, "sandbox"))
		return;
	free(ps->conf->sandbox);
	ps->conf->sandbox = xstrdup(level);
}

static void
global_logfile(struct parse *ps, const struct cfloc *loc, char *s)
{
	char *p;

	if (!global_once(ps, loc, G_LOGFILE, "log-file")) {
		free(s);
		return;
	}
	if ((p = path_take(ps, loc, "log-file", s)) == NULL)
		return;
	free(ps->conf->log_file);
	ps->conf->log_file = p;
}

/* `metrics listen [ADDR:]PORT`: checked here, bound at start-up. */
static void
global_listen(struct parse *ps, const struct cfloc *loc, char *s)
{
	const char *why;
	char *addr;
	int port;

	if (!global_once(ps, loc, G_LISTEN, "metrics listen")) {
		free(s);
		return;
	}
	if (config_listen_parse(s, &addr, &port, &why) == -1) {
		parse_error(ps, loc, "metrics listen '%s': %s", s, why);
		free(s);
		return;
	}
	free(s);
	free(ps->conf->metrics_addr);
	free(ps->conf->metrics_at);
	ps->conf->metrics_addr = addr;
	ps->conf->metrics_port = port;
	if (asprintf(&ps->conf->metrics_at, "%s:%d", loc->file ? loc->file :
	    "?", loc->line) == -1)
		ps->conf->metrics_at = NULL;
}

static void
global_textfile(struct parse *ps, const struct cfloc *loc, char *s,
    const struct cfloc *iloc, char *interval)
{
	char *p;
	int v;

	if (!global_once(ps, loc, G_TEXTFILE, "metrics textfile")) {
		free(s);
		free(interval);
		return;
	}
	if (interval != NULL && duration_take(ps, iloc, "metrics textfile "
	    "interval", interval, 1, METRICS_INTERVAL_MAX, &v) == 0)
		ps->conf->metrics_interval_secs = v;
	if ((p = path_take(ps, loc, "metrics textfile", s)) == NULL)
		return;
	free(ps->conf->metrics_textfile);
	ps->conf->metrics_textfile = p;
}

/* Watch blocks. */

/* A watch name appears in logs, the DB, {watch} and `ingestctl --watch`. */
static int
watch_name_ok(const char *s)
{
	const char *p;

	if (*s == '\0' || strlen(s) > 64 || *s == '.' || *s == '-')
		return 0;
	for (p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' ||
		    *p == '-'))
			return 0;
	return 1;
}

static struct watch_conf *
watch_new(char *name, const char *file, int line)
{
	struct watch_conf *w = xcalloc(1, sizeof(*w));

	w->name = name;
	w->recursive = 1;
	w->complete = COMPLETE_STABILITY;
	w->stability_secs = 10;
	w->action = ACTION_MOVE;
	TAILQ_INIT(&w->routes);
	w->duplicate = DUP_DELETE;
	w->retry = 5;
	w->backoff_secs = 1;
	w->file = xstrdup(file ? file : "");
	w->line = line;
	return w;
}

/*
 * `watch "NAME" {`: the block is read into a new watch.  A watch with a
 * bad or duplicate name is still read (its options checked) but kept out
 * of the config.
 */
static void
watch_begin(struct parse *ps, const struct cfloc *loc, char *name)
{
	struct watch_conf *w, *old;
	struct config *into = ps->conf;

	if (!watch_name_ok(name)) {
		parse_error(ps, loc, "bad watch name '%s' (1 to 64 letters, "
		    "digits, '_', '.' or '-', not starting with '.' or '-')",
		    name);
		into = ps->junk;
	} else if ((old = config_watch_find(ps->conf, name)) != NULL) {
		parse_error(ps, loc, "duplicate watch '%s' (first defined at "
		    "%s:%d)", name, old->file, old->line);
		into = ps->junk;
	}
	w = watch_new(name, loc->file, loc->line);
	TAILQ_INSERT_TAIL(&into->watches, w, entry);
	ps->w = w;
	ps->wseen = 0;
}

static void
watch_end(struct parse *ps)
{
	struct watch_conf *w = ps->w;
	struct cfloc at;

	if (w == NULL)
		return;
	at.file = w->file;
	at.line = w->line;
	if (!(ps->wseen & W_PATH) && w->path == NULL)
		parse_error(ps, &at, "watch '%s': missing 'path'", w->name);
	if (!(ps->wseen & W_TO) && w->to == NULL)
		parse_error(ps, &at, "watch '%s': missing 'to'", w->name);
	if (!(ps->wseen & W_MANIFEST) && w->manifest == NULL)
		parse_error(ps, &at, "watch '%s': missing 'manifest'",
		    w->name);
	if (w->max_size > 0 && w->min_size > w->max_size)
		parse_error(ps, &at, "watch '%s': min-size %lld is larger "
		    "than max-size %lld", w->name, w->min_size, w->max_size);
	ps->w = NULL;
}

/* Error recovery left a block: forget it (it stays in its list). */
static void
watch_abandon(struct parse *ps)
{
	ps->w = NULL;
}

static int
watch_once(struct parse *ps, const struct cfloc *loc, unsigned bit,
    const char *what)
{
	if (ps->wseen & bit) {
		parse_error(ps, loc, "duplicate '%s' in watch '%s'", what,
		    ps->w->name);
		return 0;
	}
	ps->wseen |= bit;
	return 1;
}

static void
watch_path(struct parse *ps, const struct cfloc *loc, char *s)
{
	if (!watch_once(ps, loc, W_PATH, "path")) {
		free(s);
		return;
	}
	ps->w->path = path_take(ps, loc, "path", s);
}

static void
watch_recursive(struct parse *ps, const struct cfloc *loc, int yes)
{
	if (watch_once(ps, loc, W_RECURSIVE, "recursive"))
		ps->w->recursive = yes;
}

/* `match`/`ignore` accumulate over several lines. */
static void
watch_globs(struct parse *ps, const struct cfloc *loc, int ignore,
    struct strlist *l)
{
	const char *what = ignore ? "ignore" : "match";
	char ***v = ignore ? &ps->w->ignore : &ps->w->match;
	size_t *n = ignore ? &ps->w->nignore : &ps->w->nmatch;
	size_t i;

	for (i = 0; i < l->n; i++) {
		if (!glob_ok(ps, loc, what, l->v[i])) {
			free(l->v[i]);
			continue;
		}
		*v = xrealloc(*v, (*n + 1) * sizeof(**v));
		(*v)[(*n)++] = l->v[i];
	}
	l->n = 0;
	strlist_free(l);
}

static void
watch_stability(struct parse *ps, const struct cfloc *loc, char *s)
{
	int v;

	if (!watch_once(ps, loc, W_COMPLETE, "complete")) {
		free(s);
		return;
	}
	ps->w->complete = COMPLETE_STABILITY;
	if (duration_take(ps, loc, "stability", s, 1, STABILITY_MAX, &v) == 0)
		ps->w->stability_secs = v;
}

static void
watch_sidecar(struct parse *ps, const struct cfloc *loc, char *s)
{
	if (!watch_once(ps, loc, W_COMPLETE, "complete")) {
		free(s);
		return;
	}
	ps->w->complete = COMPLETE_SIDECAR;
	if (*s == '\0' || strchr(s, '/') != NULL || strlen(s) > NAME_MAX) {
		parse_error(ps, loc, "sidecar '%s': the suffix must be a "
		    "non-empty part of a file name (like \".ok\")", s);
		free(s);
		return;
	}
	free(ps->w->sidecar_suffix);
	ps->w->sidecar_suffix = s;
}

static void
watch_closewrite(struct parse *ps, const struct cfloc *loc)
{
	if (watch_once(ps, loc, W_COMPLETE, "complete"))
		ps->w->complete = COMPLETE_CLOSE_WRITE;
}

static void
watch_size(struct parse *ps, const struct cfloc *loc, int max, char *s)
{
	const char *what = max ? "max-size" : "min-size";
	long long v;

	if (!watch_once(ps, loc, max ? W_MAXSIZE : W_MINSIZE, what)) {
		free(s);
		return;
	}
	if (size_take(ps, loc, what, s, &v) == -1)
		return;
	if (max)
		ps->w->max_size = v;
	else
		ps->w->min_size = v;
}

static void
watch_action(struct parse *ps, const struct cfloc *loc, int action)
{
	if (watch_once(ps, loc, W_ACTION, "action"))
		ps->w->action = action;
}

static void
watch_route(struct parse *ps, const struct cfloc *loc, char *pattern,
    char *to)
{
	struct route *r;

	if (!glob_ok(ps, loc, "route", pattern)) {
		free(pattern);
		free(to);
		return;
	}
	if ((to = template_take(ps, loc, "route to", to)) == NULL) {
		free(pattern);
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->glob = pattern;
	r->to = to;
	TAILQ_INSERT_TAIL(&ps->w->routes, r, entry);
}

static void
watch_to(struct parse *ps, const struct cfloc *loc, char *s)
{
	if (!watch_once(ps, loc, W_TO, "to")) {
		free(s);
		return;
	}
	ps->w->to = template_take(ps, loc, "to", s);
}

static void
watch_manifest(struct parse *ps, const struct cfloc *loc, char *s)
{
	if (!watch_once(ps, loc, W_MANIFEST, "manifest")) {
		free(s);
		return;
	}
	ps->w->manifest = template_take(ps, loc, "manifest", s);
}

static void
watch_duplicate(struct parse *ps, const struct cfloc *loc, int policy,
    char *dir)
{
	if (!watch_once(ps, loc, W_DUPLICATE, "duplicate")) {
		free(dir);
		return;
	}
	ps->w->duplicate = policy;
	if (dir != NULL)
		ps->w->duplicate_dir = path_take(ps, loc, "move-to", dir);
}

static void
watch_retry(struct parse *ps, const struct cfloc *loc, char *n,
    const struct cfloc *bloc, char *backoff)
{
	long long v;
	int secs;

	if (!watch_once(ps, loc, W_RETRY, "retry")) {
		free(n);
		free(backoff);
		return;
	}
	if (number_take(ps, loc, "retry", n, 1, RETRY_MAX, &v) == 0)
		ps->w->retry = (int)v;
	if (backoff != NULL && duration_take(ps, bloc, "backoff", backoff, 1,
	    BACKOFF_MAX, &secs) == 0)
		ps->w->backoff_secs = secs;
}

/* Checks across the whole file. */

/* 1 if path is dir or below it (both normalized). */
static int
path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return 1;
	return strncmp(path, dir, n) == 0 &&
	    (path[n] == '\0' || path[n] == '/');
}

/* Output must not land where a watch would pick it up again. */
static void
check_outside_watches(struct parse *ps, const struct cfloc *at,
    const char *owner, const char *what, const char *dir)
{
	struct watch_conf *v;

	if (dir == NULL)
		return;
	TAILQ_FOREACH(v, &ps->conf->watches, entry) {
		if (v->path == NULL || !path_within(dir, v->path))
			continue;
		parse_error(ps, at, "%s%s %s is inside watch '%s' path %s",
		    owner, what, dir, v->name, v->path);
	}
}

static void
check_template(struct parse *ps, const struct cfloc *at, const char *owner,
    const char *what, const char *tmpl)
{
	char *dir;

	if (tmpl == NULL || (dir = template_dir(tmpl)) == NULL)
		return;
	check_outside_watches(ps, at, owner, what, dir);
	free(dir);
}

static void
config_check(struct parse *ps)
{
	struct watch_conf *w, *v;
	struct route *r;
	struct buf owner;
	struct cfloc at;

	buf_init(&owner);
	TAILQ_FOREACH(w, &ps->conf->watches, entry) {
		at.file = w->file;
		at.line = w->line;
		for (v = TAILQ_FIRST(&ps->conf->watches); v != w;
		    v = TAILQ_NEXT(v, entry)) {
			if (w->path == NULL || v->path == NULL)
				continue;
			if (path_within(w->path, v->path) ||
			    path_within(v->path, w->path))
				parse_error(ps, &at, "watch '%s' path %s "
				    "overlaps watch '%s' path %s", w->name,
				    w->path, v->name, v->path);
		}
		buf_reset(&owner);
		buf_printf(&owner, "watch '%s': ", w->name);
		check_template(ps, &at, owner.data, "to", w->to);
		check_template(ps, &at, owner.data, "manifest", w->manifest);
		TAILQ_FOREACH(r, &w->routes, entry)
			check_template(ps, &at, owner.data, "route to", r->to);
		if (w->duplicate == DUP_MOVE_TO)
			check_outside_watches(ps, &at, owner.data, "move-to",
			    w->duplicate_dir);
		if (w->path != NULL &&
		    path_within(ps->conf->state_dir, w->path))
			parse_error(ps, &at, "state-dir %s is inside watch "
			    "'%s' path %s", ps->conf->state_dir, w->name,
			    w->path);
	}
	buf_free(&owner);
}

/* -D name=value */
static void
define_cmdline(struct parse *ps, size_t i, const char *def)
{
	struct cfloc at = { "-D", (int)i + 1 };
	const char *eq = strchr(def, '=');
	char *name;

	if (eq == NULL) {
		parse_error(ps, &at, "bad macro definition '%s' (expected "
		    "NAME=VALUE)", def);
		return;
	}
	name = xmalloc((size_t)(eq - def) + 1);
	memcpy(name, def, (size_t)(eq - def));
	name[eq - def] = '\0';
	if (!macro_name_ok(name) || keyword_find(name) != NULL) {
		parse_error(ps, &at, "bad macro name '%s' (letters, digits "
		    "and '_', not a keyword)", name);
		free(name);
		return;
	}
	if (strchr(eq + 1, '\n') != NULL) {
		parse_error(ps, &at, "macro '%s': the value must not contain "
		    "a newline", name);
		free(name);
		return;
	}
	macro_set(ps, name, xstrdup(eq + 1), 1);
}

static void
parse_cleanup(struct parse *ps)
{
	struct macro *m;
	size_t i;

	while (!TAILQ_EMPTY(&ps->files))
		file_pop(ps);
	while ((m = TAILQ_FIRST(&ps->macros)) != NULL) {
		TAILQ_REMOVE(&ps->macros, m, entry);
		free(m->name);
		free(m->value);
		free(m);
	}
	for (i = 0; i < ps->nnames; i++)
		free(ps->names[i]);
	free(ps->names);
	free(ps->unget);
	buf_free(&ps->tok);
	buf_free(&ps->text[0]);
	buf_free(&ps->text[1]);
	config_free(ps->junk);
}

struct config *
config_load(const char *path, char *const *defines, size_t ndefines,
    FILE *errs)
{
	struct parse ps;
	struct config *conf;
	struct cfile *f;
	struct cfloc at;
	size_t i, len;

	memset(&ps, 0, sizeof(ps));
	TAILQ_INIT(&ps.files);
	TAILQ_INIT(&ps.macros);
	buf_init(&ps.tok);
	buf_init(&ps.text[0]);
	buf_init(&ps.text[1]);
	ps.errs = errs;
	ps.conf = conf = config_new();
	ps.junk = config_new();
	conf->file = xstrdup(path);

	for (i = 0; i < ndefines; i++)
		define_cmdline(&ps, i, defines[i]);
	f = file_push(&ps, xstrdup(path), NULL, NULL);
	ps.last.file = f->name;
	ps.last.line = 0;
	ps.bol = 1;
	if (file_open(&ps, f) == 0) {
		if (yyparse(&ps) != 0 && ps.nerrors == 0) {
			at = ps.last;
			parse_error(&ps, &at, "cannot parse (out of memory)");
		}
		if (ps.nerrors < MAX_ERRORS)
			config_check(&ps);
	}

	len = strlen(conf->state_dir);
	free(conf->state_path);
	conf->state_path = xmalloc(len + sizeof("/audit.db"));
	snprintf(conf->state_path, len + sizeof("/audit.db"), "%s/audit.db",
	    strcmp(conf->state_dir, "/") == 0 ? "" : conf->state_dir);

	parse_cleanup(&ps);
	if (ps.nerrors > 0) {
		config_free(conf);
		return NULL;
	}
	return conf;
}
