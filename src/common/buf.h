/* common: growable byte buffer used by the JSON writer, the IPC encoder and logging. */
#ifndef INGESTD_BUF_H
#define INGESTD_BUF_H

#include <stddef.h>

struct buf {
	char	*data;		/* always NUL-terminated when non-NULL */
	size_t	 len;
	size_t	 cap;
};

void	buf_init(struct buf *);
void	buf_free(struct buf *);
void	buf_reset(struct buf *);	/* len = 0, keeps the memory */
void	buf_add(struct buf *, const void *, size_t);
void	buf_addc(struct buf *, char);
void	buf_adds(struct buf *, const char *);
void	buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* Take ownership of the data; the buffer is left empty. */
char	*buf_release(struct buf *);

#endif
