/*
 * buf.h: a growable byte buffer with a hard cap, as curl's dynbuf: every
 * buffer is created with the most it may ever hold, so a peer that sends a
 * 10 GiB "manifest" costs us the cap and an error, never the memory.
 */

#ifndef HR_BUF_H
#define HR_BUF_H

#include <stddef.h>

typedef struct {
    char    *data;      /* always NUL-terminated when not NULL */
    size_t   len;
    size_t   cap;
    size_t   max;       /* hard cap on len */
} hr_buf_t;

void hr_buf_init(hr_buf_t *b, size_t max);
/* Returns 0, or -1 when the cap would be passed or memory is short. */
int hr_buf_append(hr_buf_t *b, const void *p, size_t n);
int hr_buf_appendz(hr_buf_t *b, const char *s);
void hr_buf_reset(hr_buf_t *b);
void hr_buf_free(hr_buf_t *b);

#endif /* HR_BUF_H */
