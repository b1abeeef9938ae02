/* common: string-keyed chained hash table (FNV-1a), grows at load factor 1. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"
#include "util.h"

struct htab_entry {
	struct htab_entry	*next;
	char			*key;
	void			*value;
};

static uint64_t
htab_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

void
htab_init(struct htab *t)
{
	t->nslots = 64;
	t->count = 0;
	t->slots = xcalloc(t->nslots, sizeof(*t->slots));
}

void
htab_free(struct htab *t)
{
	struct htab_entry *e, *next;
	size_t i;

	for (i = 0; i < t->nslots; i++) {
		for (e = t->slots[i]; e != NULL; e = next) {
			next = e->next;
			free(e->key);
			free(e);
		}
	}
	free(t->slots);
	t->slots = NULL;
	t->nslots = t->count = 0;
}

static struct htab_entry **
htab_find(const struct htab *t, const char *key)
{
	struct htab_entry **ep;

	ep = &t->slots[htab_hash(key) & (t->nslots - 1)];
	for (; *ep != NULL; ep = &(*ep)->next)
		if (strcmp((*ep)->key, key) == 0)
			break;
	return ep;
}

static void
htab_grow(struct htab *t)
{
	struct htab_entry **old = t->slots, *e, *next;
	size_t i, oldn = t->nslots;

	t->nslots *= 2;
	t->slots = xcalloc(t->nslots, sizeof(*t->slots));
	for (i = 0; i < oldn; i++) {
		for (e = old[i]; e != NULL; e = next) {
			next = e->next;
			e->next = t->slots[htab_hash(e->key) & (t->nslots - 1)];
			t->slots[htab_hash(e->key) & (t->nslots - 1)] = e;
		}
	}
	free(old);
}

void *
htab_get(const struct htab *t, const char *key)
{
	struct htab_entry *e = *htab_find(t, key);

	return e != NULL ? e->value : NULL;
}

void *
htab_put(struct htab *t, const char *key, void *value)
{
	struct htab_entry **ep = htab_find(t, key), *e;
	void *old;

	if ((e = *ep) != NULL) {
		old = e->value;
		e->value = value;
		return old;
	}
	e = xmalloc(sizeof(*e));
	e->key = xstrdup(key);
	e->value = value;
	e->next = NULL;
	*ep = e;
	if (++t->count > t->nslots)
		htab_grow(t);
	return NULL;
}

void *
htab_del(struct htab *t, const char *key)
{
	struct htab_entry **ep = htab_find(t, key), *e;
	void *value;

	if ((e = *ep) == NULL)
		return NULL;
	*ep = e->next;
	value = e->value;
	free(e->key);
	free(e);
	t->count--;
	return value;
}

void
htab_foreach(const struct htab *t, void (*fn)(const char *, void *, void *),
    void *arg)
{
	struct htab_entry *e;
	size_t i;

	for (i = 0; i < t->nslots; i++)
		for (e = t->slots[i]; e != NULL; e = e->next)
			fn(e->key, e->value, arg);
}
