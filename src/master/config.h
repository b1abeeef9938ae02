/* master: the configuration file: parse.y grammar, validation, printing (-T), comparison for reload. */
#ifndef INGESTD_CONFIG_H
#define INGESTD_CONFIG_H

#include <stdint.h>
#include <stdio.h>
#include <sys/queue.h>

#include "conf.h"

/*
 * Parse the configuration file at path (following includes) into a fresh
 * struct config, starting from the built-in defaults.  defines holds
 * "name=value" strings from -D (they override macros defined in the file).
 * On error returns NULL and writes every error as "FILE:LINE: message\n"
 * to errs (at most a few dozen); nothing is half-applied.
 */
struct config	*config_load(const char *path, char *const *defines,
		    size_t ndefines, FILE *errs);
/* The built-in defaults, with no watch. */
struct config	*config_new(void);

#define CONFIG_METRICS_ADDR	"127.0.0.1"	/* `metrics listen PORT` */
#define CONFIG_METRICS_INTERVAL	15		/* textfile period, seconds */

/*
 * `metrics listen` and --metrics-listen: [ADDR:]PORT with a numeric IPv4
 * address or [IPv6]; ADDR defaults to CONFIG_METRICS_ADDR.  Returns 0 with
 * *addr (allocated, no brackets) and *port, or -1 with a reason in *why.
 */
int		 config_listen_parse(const char *s, char **addr, int *port,
		    const char **why);
void		 config_free(struct config *);
/*
 * Print the full effective configuration (defaults included) in the same
 * grammar; config_load() accepts the output back and yields an equal
 * configuration.
 */
void		 config_print(FILE *, const struct config *);
/* 1 if the two watches are configured identically. */
int		 config_watch_equal(const struct watch_conf *,
		    const struct watch_conf *);
struct watch_conf *config_watch_find(const struct config *, const char *name);
/* A deep copy of one watch, and its release. */
struct watch_conf *config_watch_dup(const struct watch_conf *);
void		 config_watch_free(struct watch_conf *);

#endif
