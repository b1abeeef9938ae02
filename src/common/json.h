/* common: JSON string and number writer (manifest lines, JSON logs). */
#ifndef INGESTD_JSON_H
#define INGESTD_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * Append s[0..len) as a quoted JSON string.  Quotes, backslashes and every
 * control character are escaped (\n \t ... or \u00XX).  Bytes that are not
 * part of valid UTF-8 are escaped reversibly as lone low surrogates
 * \udc80..\udcff (Python's "surrogateescape"), so the original bytes can be
 * recovered.  Returns 1 if any such byte was escaped, 0 otherwise.
 */
int	json_add_string(struct buf *, const char *s, size_t len);
int	json_add_cstring(struct buf *, const char *s);
void	json_add_int(struct buf *, long long);
void	json_add_uint(struct buf *, unsigned long long);
/* Append "key": (key must be plain ASCII), preceded by ',' unless first. */
void	json_add_key(struct buf *, const char *key, int first);

#endif
