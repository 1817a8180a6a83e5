/*
 * buf.c: the capped growable buffer.  Growth doubles, and the data is kept
 * NUL-terminated so that JSON and header text can be handed to parsers as C
 * strings without another copy.
 */

#include <stdlib.h>
#include <string.h>

#include "buf.h"


void
hr_buf_init(hr_buf_t *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}


int
hr_buf_append(hr_buf_t *b, const void *p, size_t n)
{
    char    *nd;
    size_t   ncap;

    if (n > b->max || b->len > b->max - n) {
        return -1;
    }

    if (b->len + n + 1 > b->cap) {
        ncap = b->cap ? b->cap : 256;

        while (ncap < b->len + n + 1) {
            ncap *= 2;
        }

        nd = realloc(b->data, ncap);
        if (nd == NULL) {
            return -1;
        }

        b->data = nd;
        b->cap = ncap;
    }

    if (n) {
        memcpy(b->data + b->len, p, n);
    }

    b->len += n;
    b->data[b->len] = '\0';

    return 0;
}


int
hr_buf_appendz(hr_buf_t *b, const char *s)
{
    return hr_buf_append(b, s, strlen(s));
}


void
hr_buf_reset(hr_buf_t *b)
{
    b->len = 0;

    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}


void
hr_buf_free(hr_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}
