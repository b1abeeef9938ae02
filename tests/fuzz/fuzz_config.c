/* fuzz: libFuzzer target for the master's config parser (lexer, grammar, includes, validation, -T round trip). */
#include <sys/stat.h>

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "config.h" alone could be autoconf's: reach the master's by path. */
#include "../../src/master/config.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * The input is written to a file alone in a private directory, so relative
 * includes only ever find the input itself (an include loop).  A config
 * that loads must survive -T: print, load the output, print the same text.
 */
static char	 dir[PATH_MAX];
static char	 input[PATH_MAX];
static char	 printed[PATH_MAX];
static FILE	*devnull;

static void
cleanup(void)
{
	unlink(input);
	unlink(printed);
	rmdir(dir);
}

static void
setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/fuzz_config.XXXXXX",
	    tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(input, sizeof(input), "%s/in.conf", dir);
	snprintf(printed, sizeof(printed), "%s.printed", dir);
	if ((devnull = fopen("/dev/null", "w")) == NULL)
		abort();
	atexit(cleanup);
}

static void
write_file(const char *path, const void *data, size_t size)
{
	FILE *fp;

	if ((fp = fopen(path, "w")) == NULL)
		abort();
	if (size > 0 && fwrite(data, 1, size, fp) != size)
		abort();
	if (fclose(fp) != 0)
		abort();
}

static char *
print_to_string(const struct config *conf)
{
	char *out = NULL;
	size_t len;
	FILE *fp;

	if ((fp = open_memstream(&out, &len)) == NULL)
		abort();
	config_print(fp, conf);
	if (fclose(fp) != 0)
		abort();
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *conf, *again;
	const struct watch_conf *w, *w2;
	char *first, *second;

	if (devnull == NULL)
		setup();
	write_file(input, data, size);
	if ((conf = config_load(input, NULL, 0, devnull)) == NULL)
		return 0;

	first = print_to_string(conf);
	write_file(printed, first, strlen(first));
	if ((again = config_load(printed, NULL, 0, devnull)) == NULL)
		abort();		/* -T printed what -n rejects */
	second = print_to_string(again);
	if (strcmp(first, second) != 0)
		abort();		/* the round trip changed something */
	w2 = TAILQ_FIRST(&again->watches);
	TAILQ_FOREACH(w, &conf->watches, entry) {
		if (w2 == NULL || !config_watch_equal(w, w2))
			abort();
		w2 = TAILQ_NEXT(w2, entry);
	}
	if (w2 != NULL)
		abort();
	free(first);
	free(second);
	config_free(again);
	config_free(conf);
	return 0;
}
