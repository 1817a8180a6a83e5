/*
 * match.c: doublestar glob matching, a port of bmatcuk/doublestar v1.3.4
 * Match(), the matcher behind Harbor's name and tag filters.
 *
 * Why a port and not fnmatch(3): Harbor users write patterns that were
 * checked against doublestar, quirks included ("**" only as a whole
 * component, "{a,a/b}" not matching "a", a '*' that never swallows the rest
 * of a component when more pattern follows).  So the control flow below is
 * doublestar's: the name is split on '/', doMatching() walks components and
 * matchComponent() walks runes (UTF-8 decoded the way Go does) and returns
 * the list of patterns left for the next component.  An alternative
 * "{o1,o2}" is expanded, as in Go, into the string "o + rest"; those strings
 * are built in a bounded arena.
 *
 * Why it cannot blow up: doublestar recurses on every '*', '**' and '{', so
 * "*a*a*a*a*b", or "**" repeated as components, against a long name is
 * exponential.  Every failed (pattern, position) pair is remembered, a '*'
 * or '**' loop that failed from position n is known to fail from any later
 * position, and a step budget bounds what is left.  Over the budget, or
 * over the size limits below, hr_match() answers -1 rather than run long.
 */

/*
 * Derived from bmatcuk/doublestar v1.3.4 (doublestar.go), under this
 * notice:
 *
 * The MIT License (MIT)
 *
 * Copyright (c) 2014 Bob Matcuk
 *
 * Permission is hereby granted, free of charge, to any person obtaining a
 * copy of this software and associated documentation files (the
 * "Software"), to deal in the Software without restriction, including
 * without limitation the rights to use, copy, modify, merge, publish,
 * distribute, sublicense, and/or sell copies of the Software, and to permit
 * persons to whom the Software is furnished to do so, subject to the
 * following conditions:
 *
 * The above copyright notice and this permission notice shall be included
 * in all copies or substantial portions of the Software.
 *
 * THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS
 * OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
 * MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN
 * NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
 * DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
 * OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE
 * USE OR OTHER DEALINGS IN THE SOFTWARE.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "match.h"


#define HR_MATCH_MAX_PATTERN   4096
#define HR_MATCH_MAX_NAME      4096
#define HR_MATCH_MAX_COMPS     (HR_MATCH_MAX_NAME + 1)   /* all '/' */
#define HR_MATCH_MAX_ITEMS     512
#define HR_MATCH_MAX_DEPTH     600
#define HR_MATCH_BUDGET        (1 << 20)
#define HR_MATCH_MEMO_STACK    512
#define HR_MATCH_MEMO_MAX      (1 << 18)
#define HR_MATCH_INTERN        256
#define HR_MATCH_ARENA_STACK   4096
#define HR_MATCH_CHUNK         65536
#define HR_MATCH_MAX_CHUNKS    16

#define HR_RUNE_ERROR          0xfffd

/* memo key tags, in the top bits of the 32-bit position */
#define HR_MEMO_MC             0x00000000u  /* matchComponent failed */
#define HR_MEMO_DM             0x40000000u  /* doMatching failed */
#define HR_MEMO_STAR           0x80000000u  /* '*' loop failed from val */
#define HR_MEMO_DSTAR          0xc0000000u  /* '**' loop failed from val */
#define HR_MEMO_POS            0x3fffffffu


typedef struct {
    const unsigned char  *p;
    size_t                len;
} hr_mstr_t;

typedef struct {
    const unsigned char  *p;       /* NULL: empty slot */
    uint32_t              len;
    uint32_t              key;
    uint32_t              val;
} hr_memo_t;

typedef struct hr_chunk_s  hr_chunk_t;

struct hr_chunk_s {
    hr_chunk_t           *next;
    size_t                used;
    unsigned char         data[HR_MATCH_CHUNK];
};

typedef struct {
    const unsigned char  *name;
    uint16_t              cstart[HR_MATCH_MAX_COMPS];  /* name <= 4096 */
    uint16_t              cend[HR_MATCH_MAX_COMPS];
    size_t                ncomps;

    hr_mstr_t             items[HR_MATCH_MAX_ITEMS];
    size_t                nitems;

    hr_memo_t             memo_stack[HR_MATCH_MEMO_STACK];
    hr_memo_t            *memo;
    size_t                memo_cap;
    size_t                memo_used;

    hr_mstr_t             intern[HR_MATCH_INTERN];

    unsigned char         arena[HR_MATCH_ARENA_STACK];
    size_t                arena_used;
    hr_chunk_t           *chunks;
    size_t                nchunks;

    size_t                steps;
    size_t                depth;
    int                   fail;     /* a limit was hit: the answer is -1 */
} hr_mctx_t;


static uint32_t hr_decode(const unsigned char *p, size_t len, size_t *adj);
static long hr_index_esc(const unsigned char *p, size_t len, int c);
static long hr_alt_end(const unsigned char *p, size_t len);
static size_t hr_alt_next(const unsigned char *p, size_t from, int *last);
static int hr_step(hr_mctx_t *ctx, size_t n);
static hr_memo_t *hr_memo_find(hr_mctx_t *ctx, const unsigned char *p,
    size_t len, uint32_t key, int insert);
static int hr_memo_grow(hr_mctx_t *ctx);
static const unsigned char *hr_concat(hr_mctx_t *ctx, const unsigned char *a,
    size_t alen, const unsigned char *b, size_t blen);
static int hr_push(hr_mctx_t *ctx, const unsigned char *p, size_t len);
static void hr_dedupe(hr_mctx_t *ctx, size_t base);
static int hr_zero_length(hr_mctx_t *ctx, const unsigned char *p,
    size_t len);
static int hr_class(const unsigned char *p, size_t len, uint32_t nr);
static int hr_match_component(hr_mctx_t *ctx, const unsigned char *p,
    size_t plen, size_t noff, size_t nend);
static int hr_do_matching(hr_mctx_t *ctx, const unsigned char *p,
    size_t plen, size_t ci);
static int hr_check(const unsigned char *p, size_t len, size_t depth);
static void hr_mctx_free(hr_mctx_t *ctx);


/*
 * utf8.DecodeRuneInString: an invalid or truncated sequence is RuneError
 * with width 1, the empty string is RuneError with width 0.
 */
static uint32_t
hr_decode(const unsigned char *p, size_t len, size_t *adj)
{
    size_t         need, i;
    uint32_t       r;
    unsigned char  lo, hi, b0;

    if (len == 0) {
        *adj = 0;
        return HR_RUNE_ERROR;
    }

    b0 = p[0];
    *adj = 1;

    if (b0 < 0x80) {
        return b0;
    }

    lo = 0x80;
    hi = 0xbf;

    if (b0 >= 0xc2 && b0 <= 0xdf) {
        need = 2;
        r = b0 & 0x1f;

    } else if (b0 >= 0xe0 && b0 <= 0xef) {
        need = 3;
        r = b0 & 0x0f;
        if (b0 == 0xe0) {
            lo = 0xa0;
        } else if (b0 == 0xed) {
            hi = 0x9f;
        }

    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        need = 4;
        r = b0 & 0x07;
        if (b0 == 0xf0) {
            lo = 0x90;
        } else if (b0 == 0xf4) {
            hi = 0x8f;
        }

    } else {
        return HR_RUNE_ERROR;
    }

    if (len < need || p[1] < lo || p[1] > hi) {
        return HR_RUNE_ERROR;
    }

    r = (r << 6) | (p[1] & 0x3f);

    for (i = 2; i < need; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return HR_RUNE_ERROR;
        }
        r = (r << 6) | (p[i] & 0x3f);
    }

    *adj = need;
    return r;
}


/* indexRuneWithEscaping(): the first c not right after a backslash. */
static long
hr_index_esc(const unsigned char *p, size_t len, int c)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (p[i] == c && (i == 0 || p[i - 1] != '\\')) {
            return (long) i;
        }
    }

    return -1;
}


/*
 * splitAlternatives(): p is just after a '{'; returns the index just after
 * the matching '}', or -1.  Scanning bytes is the same as scanning runes
 * here: only ASCII is special and no ASCII byte occurs inside a rune.
 */
static long
hr_alt_end(const unsigned char *p, size_t len)
{
    int     esc;
    size_t  i, cnt;

    cnt = 1;
    esc = 0;

    for (i = 0; cnt > 0; i++) {
        if (i >= len) {
            return -1;
        }

        if (esc) {
            esc = 0;

        } else if (p[i] == '\\') {
            esc = 1;

        } else if (p[i] == '{') {
            cnt++;

        } else if (p[i] == '}') {
            cnt--;
        }
    }

    return (long) i;
}


/* The end of the option starting at from; *last is set on the final one. */
static size_t
hr_alt_next(const unsigned char *p, size_t from, int *last)
{
    int     esc;
    size_t  i, cnt;

    cnt = 1;
    esc = 0;

    for (i = from; /* void */; i++) {
        if (esc) {
            esc = 0;

        } else if (p[i] == '\\') {
            esc = 1;

        } else if (p[i] == '{') {
            cnt++;

        } else if (p[i] == '}') {
            if (--cnt == 0) {
                *last = 1;
                return i;
            }

        } else if (p[i] == ',' && cnt == 1) {
            *last = 0;
            return i;
        }
    }
}


static int
hr_step(hr_mctx_t *ctx, size_t n)
{
    ctx->steps += n;

    if (ctx->steps > HR_MATCH_BUDGET) {
        ctx->fail = 1;
        return -1;
    }

    return 0;
}


static hr_memo_t *
hr_memo_find(hr_mctx_t *ctx, const unsigned char *p, size_t len,
    uint32_t key, int insert)
{
    size_t      h, mask;
    uintptr_t   x;
    hr_memo_t  *m;

    if (insert && ctx->memo_used * 2 >= ctx->memo_cap) {
        if (hr_memo_grow(ctx) != 0) {
            return NULL;
        }
    }

    x = (uintptr_t) p;
    h = (size_t) (x ^ (x >> 17) ^ ((uint64_t) len * 0x9e3779b97f4a7c15ull)
                  ^ ((uint64_t) key * 0xff51afd7ed558ccdull));
    h ^= h >> 29;
    mask = ctx->memo_cap - 1;

    for (h &= mask; /* void */; h = (h + 1) & mask) {
        m = &ctx->memo[h];

        if (m->p == NULL) {
            if (!insert) {
                return NULL;
            }
            m->p = p;
            m->len = (uint32_t) len;
            m->key = key;
            m->val = UINT32_MAX;
            ctx->memo_used++;
            return m;
        }

        if (m->p == p && m->len == len && m->key == key) {
            return m;
        }
    }
}


/* Doubles the memo table; when it is at its cap, stops remembering. */
static int
hr_memo_grow(hr_mctx_t *ctx)
{
    size_t      cap, i, h, mask;
    uintptr_t   x;
    hr_memo_t  *old, *nm, *m;

    if (ctx->memo_cap >= HR_MATCH_MEMO_MAX) {
        return -1;
    }

    cap = ctx->memo_cap * 4;
    nm = calloc(cap, sizeof(hr_memo_t));
    if (nm == NULL) {
        return -1;
    }

    old = ctx->memo;
    mask = cap - 1;

    for (i = 0; i < ctx->memo_cap; i++) {
        if (old[i].p == NULL) {
            continue;
        }

        x = (uintptr_t) old[i].p;
        h = (size_t) (x ^ (x >> 17)
                      ^ ((uint64_t) old[i].len * 0x9e3779b97f4a7c15ull)
                      ^ ((uint64_t) old[i].key * 0xff51afd7ed558ccdull));
        h ^= h >> 29;

        for (h &= mask; nm[h].p != NULL; h = (h + 1) & mask) {
            /* void */
        }

        m = &nm[h];
        *m = old[i];
    }

    if (old != ctx->memo_stack) {
        free(old);
    }

    ctx->memo = nm;
    ctx->memo_cap = cap;

    return 0;
}


/* "o + rest" as one string, interned so equal strings memoize together. */
static const unsigned char *
hr_concat(hr_mctx_t *ctx, const unsigned char *a, size_t alen,
    const unsigned char *b, size_t blen)
{
    size_t          len, h, i, slot;
    hr_chunk_t     *c;
    unsigned char  *dst;

    len = alen + blen;

    if (hr_step(ctx, len + 1) != 0) {
        return NULL;
    }

    h = 2166136261u;
    for (i = 0; i < alen; i++) {
        h = (h ^ a[i]) * 16777619u;
    }
    for (i = 0; i < blen; i++) {
        h = (h ^ b[i]) * 16777619u;
    }
    slot = h % HR_MATCH_INTERN;

    if (ctx->intern[slot].p != NULL && ctx->intern[slot].len == len
        && memcmp(ctx->intern[slot].p, a, alen) == 0
        && memcmp(ctx->intern[slot].p + alen, b, blen) == 0)
    {
        return ctx->intern[slot].p;
    }

    if (len + 1 <= HR_MATCH_ARENA_STACK - ctx->arena_used) {
        dst = ctx->arena + ctx->arena_used;
        ctx->arena_used += len + 1;

    } else {
        c = ctx->chunks;

        if (c == NULL || len + 1 > HR_MATCH_CHUNK - c->used) {
            if (ctx->nchunks >= HR_MATCH_MAX_CHUNKS) {
                ctx->fail = 1;
                return NULL;
            }

            c = malloc(sizeof(hr_chunk_t));
            if (c == NULL) {
                ctx->fail = 1;
                return NULL;
            }

            c->next = ctx->chunks;
            c->used = 0;
            ctx->chunks = c;
            ctx->nchunks++;
        }

        dst = c->data + c->used;
        c->used += len + 1;
    }

    memcpy(dst, a, alen);
    memcpy(dst + alen, b, blen);
    dst[len] = '\0';

    ctx->intern[slot].p = dst;
    ctx->intern[slot].len = len;

    return dst;
}


static int
hr_push(hr_mctx_t *ctx, const unsigned char *p, size_t len)
{
    if (ctx->nitems >= HR_MATCH_MAX_ITEMS) {
        ctx->fail = 1;
        return -1;
    }

    ctx->items[ctx->nitems].p = p;
    ctx->items[ctx->nitems].len = len;
    ctx->nitems++;

    return 0;
}


/*
 * Go keeps duplicates in the list; trying an equal pattern twice gives the
 * same answer, so only the first of equal strings is kept.
 */
static void
hr_dedupe(hr_mctx_t *ctx, size_t base)
{
    size_t      i, j, n;
    hr_mstr_t  *it;

    it = ctx->items;
    n = base;

    for (i = base; i < ctx->nitems; i++) {
        for (j = base; j < n; j++) {
            if (it[j].len == it[i].len
                && memcmp(it[j].p, it[i].p, it[i].len) == 0)
            {
                break;
            }
        }

        if (j == n) {
            it[n++] = it[i];
        }
    }

    ctx->nitems = n;
}


/* isZeroLengthPattern(): 1, 0, or -1 for a bad pattern. */
static int
hr_zero_length(hr_mctx_t *ctx, const unsigned char *p, size_t len)
{
    int     rc, last;
    long    end;
    size_t  from, to;

    if (len == 0 || (len == 1 && p[0] == '*')
        || (len == 2 && p[0] == '*' && p[1] == '*'))
    {
        return 1;
    }

    if (p[0] != '{') {
        return 0;
    }

    if (ctx->depth >= HR_MATCH_MAX_DEPTH || hr_step(ctx, len) != 0) {
        ctx->fail = 1;
        return -1;
    }

    end = hr_alt_end(p + 1, len - 1);
    if (end == -1) {
        return -1;
    }

    ctx->depth++;

    rc = hr_zero_length(ctx, p + 1 + end, len - 1 - end);
    if (rc != 1) {
        ctx->depth--;
        return rc;
    }

    from = 1;
    rc = 0;

    do {
        to = hr_alt_next(p, from, &last);
        rc = hr_zero_length(ctx, p + from, to - from);
        from = to + 1;
    } while (rc == 0 && !last);

    ctx->depth--;

    return rc;
}


/*
 * One character class, p..len being what lies between '[' and ']'.
 * Returns 1 when nr is accepted, 0 when not, -1 for a bad class.  '^' is
 * the only negation doublestar v1.3.4 knows: "[!a]" is a class of '!' and
 * 'a'.
 */
static int
hr_class(const unsigned char *p, size_t len, uint32_t nr)
{
    int       neg, hit;
    size_t    i, adj;
    uint32_t  lo, hi;

    if (len == 0) {
        return -1;
    }

    i = 0;
    hit = 0;
    neg = (p[0] == '^');

    if (neg) {
        i = 1;
    }

    while (i < len) {
        lo = hr_decode(p + i, len - i, &adj);
        if (lo == '-') {
            return -1;
        }
        i += adj;

        if (lo == '\\') {
            if (i >= len) {
                return -1;
            }
            lo = hr_decode(p + i, len - i, &adj);
            i += adj;
        }

        hi = lo;

        if (i < len && p[i] == '-') {
            if (++i >= len) {
                return -1;
            }

            hi = hr_decode(p + i, len - i, &adj);
            if (hi == '-') {
                return -1;
            }
            i += adj;

            if (hi == '\\') {
                if (i >= len) {
                    return -1;
                }
                hi = hr_decode(p + i, len - i, &adj);
                i += adj;
            }
        }

        if (lo <= nr && nr <= hi) {
            hit = 1;
        }
    }

    return hit != neg;
}


/*
 * matchComponent(): matches pattern p against the name from noff to the
 * end of its component nend.  Returns 1 with the patterns left for the next
 * component appended to ctx->items (none: the pattern is used up), 0 for no
 * match, -1 for a bad pattern or a limit.
 */
static int
hr_match_component(hr_mctx_t *ctx, const unsigned char *p, size_t plen,
    size_t noff, size_t nend)
{
    int                   rc, any, last;
    long                  idx;
    size_t                pi, ni, padj, nadj, base, from, to, rlen;
    uint32_t              pr, nr, minfail;
    hr_memo_t            *m;
    const unsigned char  *s, *rest, *alt;

    if (ctx->fail || hr_step(ctx, 1) != 0) {
        return -1;
    }

    if (hr_memo_find(ctx, p, plen, HR_MEMO_MC | (uint32_t) noff, 0)
        != NULL)
    {
        return 0;
    }

    if (ctx->depth >= HR_MATCH_MAX_DEPTH) {
        ctx->fail = 1;
        return -1;
    }

    ctx->depth++;

    s = ctx->name;
    pi = 0;
    ni = noff;
    rc = 0;

    while (pi < plen && ni < nend) {
        pr = hr_decode(p + pi, plen - pi, &padj);
        nr = hr_decode(s + ni, nend - ni, &nadj);

        if (pr == '/') {
            pi++;
            break;

        } else if (pr == '\\') {
            pi += padj;
            pr = hr_decode(p + pi, plen - pi, &padj);

            if (pr == HR_RUNE_ERROR) {
                rc = -1;
                goto done;
            }

            if (pr != nr) {
                goto done;
            }

            pi += padj;
            ni += nadj;

        } else if (pr == '*') {
            pi += padj;

            if (pi >= plen) {
                rc = 1;
                goto done;
            }

            pr = hr_decode(p + pi, plen - pi, &padj);
            if (pr == '/') {
                rc = hr_push(ctx, p + pi + padj, plen - pi - padj) == 0
                     ? 1 : -1;
                goto done;
            }

            /* the loop failed from minfail before: it fails from later on */
            m = hr_memo_find(ctx, p + pi, plen - pi,
                             HR_MEMO_STAR | (uint32_t) nend, 0);
            minfail = (m != NULL) ? m->val : UINT32_MAX;
            from = ni;

            for ( /* void */ ; ni < nend; ni += nadj) {
                if (ni >= minfail) {
                    break;
                }

                rc = hr_match_component(ctx, p + pi, plen - pi, ni, nend);
                if (rc != 0) {
                    goto done;
                }

                (void) hr_decode(s + ni, nend - ni, &nadj);
            }

            /* found again: the recursion may have moved the table */
            m = hr_memo_find(ctx, p + pi, plen - pi,
                             HR_MEMO_STAR | (uint32_t) nend, 1);
            if (m != NULL && from < m->val) {
                m->val = (uint32_t) from;
            }

            rc = 0;
            goto done;

        } else if (pr == '[') {
            pi += padj;

            idx = hr_index_esc(p + pi, plen - pi, ']');
            if (idx == -1) {
                rc = -1;
                goto done;
            }

            rc = hr_class(p + pi, (size_t) idx, nr);
            if (rc != 1) {
                goto done;
            }

            rc = 0;
            pi += (size_t) idx + 1;
            ni += nadj;

        } else if (pr == '{') {
            pi += padj;

            idx = hr_alt_end(p + pi, plen - pi);
            if (idx == -1) {
                rc = -1;
                goto done;
            }

            rest = p + pi + idx;
            rlen = plen - pi - (size_t) idx;
            base = ctx->nitems;
            any = 0;
            from = pi;

            do {
                to = hr_alt_next(p, from, &last);

                alt = hr_concat(ctx, p + from, to - from, rest, rlen);
                if (alt == NULL) {
                    ctx->nitems = base;
                    rc = -1;
                    goto done;
                }

                rc = hr_match_component(ctx, alt, to - from + rlen, ni, nend);
                if (rc == -1) {
                    ctx->nitems = base;
                    goto done;
                }

                if (rc == 1) {
                    any = 1;
                }

                from = to + 1;

            } while (!last);

            if (any) {
                hr_dedupe(ctx, base);
            }

            rc = any;
            goto done;

        } else if (pr == '?' || pr == nr) {
            pi += padj;
            ni += nadj;

        } else {
            goto done;
        }
    }

    if (ni >= nend) {
        if (pi >= plen) {
            rc = 1;
            goto done;
        }

        idx = hr_index_esc(p + pi, plen - pi, '/');

        rc = hr_zero_length(ctx, p + pi, idx >= 0 ? (size_t) idx : plen - pi);
        if (rc == 1 && idx >= 0) {
            rc = hr_push(ctx, p + pi + idx + 1, plen - pi - idx - 1) == 0
                 ? 1 : -1;
        }
    }

done:

    ctx->depth--;

    if (rc == 0) {
        (void) hr_memo_find(ctx, p, plen, HR_MEMO_MC | (uint32_t) noff, 1);
    }

    return ctx->fail ? -1 : rc;
}


/* doMatching(): pattern p against components ci and after. */
static int
hr_do_matching(hr_mctx_t *ctx, const unsigned char *p, size_t plen,
    size_t ci)
{
    int         rc;
    long        slash;
    size_t      nlen, k, base, i, n;
    uint32_t    minfail;
    hr_memo_t  *m;

    if (ctx->fail || hr_step(ctx, 1) != 0) {
        return -1;
    }

    nlen = ctx->ncomps - ci;

    if (plen == 0 && nlen == 1 && ctx->cstart[ci] == ctx->cend[ci]) {
        return 1;
    }

    if (hr_memo_find(ctx, p, plen, HR_MEMO_DM | (uint32_t) ci, 0) != NULL) {
        return 0;
    }

    if (ctx->depth >= HR_MATCH_MAX_DEPTH) {
        ctx->fail = 1;
        return -1;
    }

    ctx->depth++;
    rc = 0;

    slash = hr_index_esc(p, plen, '/');

    if ((slash == 2 || (slash == -1 && plen == 2))
        && p[0] == '*' && p[1] == '*')
    {
        if (slash == -1) {
            rc = 1;
            goto done;
        }

        /* a "**" that failed from component minfail fails from later ones */
        m = hr_memo_find(ctx, p, plen, HR_MEMO_DSTAR, 0);
        minfail = (m != NULL) ? m->val : UINT32_MAX;

        for (k = ci; k < ctx->ncomps; k++) {
            if (k >= minfail) {
                break;
            }

            /* doublestar ignores errors here */
            if (hr_do_matching(ctx, p + 3, plen - 3, k) == 1) {
                rc = 1;
                goto done;
            }

            if (ctx->fail) {
                goto done;
            }
        }

        m = hr_memo_find(ctx, p, plen, HR_MEMO_DSTAR, 1);
        if (m != NULL && ci < m->val) {
            m->val = (uint32_t) ci;
        }

        goto done;
    }

    base = ctx->nitems;

    rc = hr_match_component(ctx, p, plen, ctx->cstart[ci], ctx->cend[ci]);
    if (rc != 1) {
        ctx->nitems = base;
        goto done;
    }

    n = ctx->nitems;
    rc = 0;

    if (n == base && nlen == 1) {
        rc = 1;

    } else if (nlen > 1) {
        for (i = base; i < n; i++) {
            rc = hr_do_matching(ctx, ctx->items[i].p, ctx->items[i].len,
                                ci + 1);
            if (rc != 0) {
                break;
            }
        }
    }

    ctx->nitems = base;

done:

    ctx->depth--;

    if (rc == 0) {
        (void) hr_memo_find(ctx, p, plen, HR_MEMO_DM | (uint32_t) ci, 1);
    }

    return ctx->fail ? -1 : rc;
}


/*
 * A linear scan for what doublestar reports as ErrBadPattern: a '\' with
 * nothing (or no valid rune) after it, '[' without ']', an empty or bad
 * class, '{' without its '}'.  Options of a '{...}' are checked on their
 * own, so a class cannot end past its option.
 */
static int
hr_check(const unsigned char *p, size_t len, size_t depth)
{
    int       last;
    long      idx;
    size_t    i, adj, from, to, end;
    uint32_t  r;

    if (depth > 64) {
        return -1;
    }

    i = 0;

    while (i < len) {
        r = hr_decode(p + i, len - i, &adj);

        if (r == '\\') {
            i += adj;
            r = hr_decode(p + i, len - i, &adj);
            if (r == HR_RUNE_ERROR) {
                return -1;
            }
            i += adj;

        } else if (r == '[') {
            i++;
            idx = hr_index_esc(p + i, len - i, ']');
            if (idx == -1 || hr_class(p + i, (size_t) idx, 0) == -1) {
                return -1;
            }
            i += (size_t) idx + 1;

        } else if (r == '{') {
            i++;
            idx = hr_alt_end(p + i, len - i);
            if (idx == -1) {
                return -1;
            }

            end = i + (size_t) idx;
            from = i;

            do {
                to = hr_alt_next(p, from, &last);
                if (hr_check(p + from, to - from, depth + 1) != 0) {
                    return -1;
                }
                from = to + 1;
            } while (!last);

            i = end;

        } else {
            i += adj;
        }
    }

    return 0;
}


int
hr_match_check(const char *pattern)
{
    size_t  len;

    if (pattern == NULL) {
        return -1;
    }

    len = strlen(pattern);
    if (len > HR_MATCH_MAX_PATTERN) {
        return -1;
    }

    return hr_check((const unsigned char *) pattern, len, 0);
}


static void
hr_mctx_free(hr_mctx_t *ctx)
{
    hr_chunk_t  *c, *next;

    for (c = ctx->chunks; c != NULL; c = next) {
        next = c->next;
        free(c);
    }

    if (ctx->memo != ctx->memo_stack) {
        free(ctx->memo);
    }
}


int
hr_match(const char *pattern, const char *s)
{
    int         rc;
    size_t      plen, nlen, i, start;
    hr_mctx_t  *ctx, cbuf;

    if (pattern == NULL || s == NULL) {
        return -1;
    }

    plen = strlen(pattern);
    nlen = strlen(s);

    if (plen > HR_MATCH_MAX_PATTERN || nlen > HR_MATCH_MAX_NAME
        || hr_check((const unsigned char *) pattern, plen, 0) != 0)
    {
        return -1;
    }

    ctx = &cbuf;
    ctx->name = (const unsigned char *) s;
    ctx->ncomps = 0;
    ctx->nitems = 0;
    memset(ctx->memo_stack, 0, sizeof(ctx->memo_stack));
    ctx->memo = ctx->memo_stack;
    ctx->memo_cap = HR_MATCH_MEMO_STACK;
    ctx->memo_used = 0;
    memset(ctx->intern, 0, sizeof(ctx->intern));
    ctx->arena_used = 0;
    ctx->chunks = NULL;
    ctx->nchunks = 0;
    ctx->steps = 0;
    ctx->depth = 0;
    ctx->fail = 0;

    /* splitPathOnSeparator(): a '/' right after a '\' does not split */
    start = 0;

    for (i = 0; i < nlen; i++) {
        if (s[i] == '/' && (i == 0 || s[i - 1] != '\\')) {
            ctx->cstart[ctx->ncomps] = (uint16_t) start;
            ctx->cend[ctx->ncomps] = (uint16_t) i;
            ctx->ncomps++;
            start = i + 1;
        }
    }

    ctx->cstart[ctx->ncomps] = (uint16_t) start;
    ctx->cend[ctx->ncomps] = (uint16_t) nlen;
    ctx->ncomps++;

    rc = hr_do_matching(ctx, (const unsigned char *) pattern, plen, 0);

    hr_mctx_free(ctx);

    return ctx->fail ? -1 : rc;
}
