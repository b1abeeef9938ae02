/* common: string-keyed hash table (chained), used for in-memory indexes. */
#ifndef INGESTD_HTAB_H
#define INGESTD_HTAB_H

#include <stddef.h>

struct htab_entry;

struct htab {
	struct htab_entry	**slots;
	size_t			  nslots;
	size_t			  count;
};

void	 htab_init(struct htab *);
/* Frees the table and its key copies, not the values. */
void	 htab_free(struct htab *);
void	*htab_get(const struct htab *, const char *key);
/* Insert or replace; the key is copied.  Returns the old value or NULL. */
void	*htab_put(struct htab *, const char *key, void *value);
/* Remove; returns the value or NULL. */
void	*htab_del(struct htab *, const char *key);
/* Call fn for every entry; fn must not modify the table. */
void	 htab_foreach(const struct htab *, void (*fn)(const char *, void *, void *),
	    void *arg);

#endif
