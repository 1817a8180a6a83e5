
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * The bounded JSON scanner (see ngx_http_harbor_json.h).  Each function
 * checks what it consumes against RFC 8259 and tests j->pos against
 * j->last before every read; the first error is kept, with its offset, for
 * the caller's message.  Recursion happens only in skip(), one level per
 * open container, so the stack is bounded by depth_max.
 */


#include <string.h>

#include "ngx_http_harbor_json.h"


static int ngx_http_harbor_json_error(ngx_http_harbor_json_t *j,
    const char *what);
static void ngx_http_harbor_json_ws(ngx_http_harbor_json_t *j);
static int ngx_http_harbor_json_close(ngx_http_harbor_json_t *j);
static int ngx_http_harbor_json_utf8(ngx_http_harbor_json_t *j,
    const unsigned char *p);
static int ngx_http_harbor_json_hex4(const unsigned char *p, unsigned *cp);
static int ngx_http_harbor_json_escape(ngx_http_harbor_json_t *j,
    const unsigned char *p);
static size_t ngx_http_harbor_json_next_char(const unsigned char **pp,
    const unsigned char *last, unsigned char *out);


void
ngx_http_harbor_json_init(ngx_http_harbor_json_t *j, const unsigned char *p,
    size_t len, unsigned depth_max, unsigned strict)
{
    memset(j, 0, sizeof(ngx_http_harbor_json_t));

    j->start = p;
    j->pos = p;
    j->last = p + len;
    j->depth_max = depth_max;
    j->strict = strict ? 1 : 0;
}


static int
ngx_http_harbor_json_error(ngx_http_harbor_json_t *j, const char *what)
{
    if (j->err == NULL) {
        j->err = what;
        j->err_at = j->pos - j->start;
    }

    return -1;
}


static void
ngx_http_harbor_json_ws(ngx_http_harbor_json_t *j)
{
    while (j->pos < j->last
           && (*j->pos == ' ' || *j->pos == '\t' || *j->pos == '\n'
               || *j->pos == '\r'))
    {
        j->pos++;
    }
}


int
ngx_http_harbor_json_open(ngx_http_harbor_json_t *j, unsigned char c)
{
    ngx_http_harbor_json_ws(j);

    if (j->pos == j->last || *j->pos != c) {
        return ngx_http_harbor_json_error(j, (c == '{') ? "expected {"
                                                        : "expected [");
    }

    if (++j->depth > j->depth_max) {
        return ngx_http_harbor_json_error(j, "nested too deep");
    }

    j->pos++;

    return 0;
}


static int
ngx_http_harbor_json_close(ngx_http_harbor_json_t *j)
{
    j->pos++;
    j->depth--;

    return 0;
}


int
ngx_http_harbor_json_member(ngx_http_harbor_json_t *j, int *first,
    ngx_http_harbor_json_str_t *key)
{
    ngx_http_harbor_json_ws(j);

    if (j->pos == j->last) {
        return ngx_http_harbor_json_error(j, "unterminated object");
    }

    if (*j->pos == '}') {
        return ngx_http_harbor_json_close(j);
    }

    if (*first) {
        *first = 0;

    } else {
        if (*j->pos != ',') {
            return ngx_http_harbor_json_error(j, "expected , or }");
        }

        j->pos++;
        ngx_http_harbor_json_ws(j);
    }

    /* after a comma a key must follow: no trailing comma */

    if (j->pos == j->last || *j->pos != '"') {
        return ngx_http_harbor_json_error(j, "expected a string key");
    }

    if (ngx_http_harbor_json_string(j, key) != 0) {
        return -1;
    }

    ngx_http_harbor_json_ws(j);

    if (j->pos == j->last || *j->pos != ':') {
        return ngx_http_harbor_json_error(j, "expected :");
    }

    j->pos++;
    ngx_http_harbor_json_ws(j);

    if (j->pos == j->last) {
        return ngx_http_harbor_json_error(j, "missing value");
    }

    return 1;
}


int
ngx_http_harbor_json_element(ngx_http_harbor_json_t *j, int *first)
{
    ngx_http_harbor_json_ws(j);

    if (j->pos == j->last) {
        return ngx_http_harbor_json_error(j, "unterminated array");
    }

    if (*first) {
        *first = 0;

        if (*j->pos == ']') {
            return ngx_http_harbor_json_close(j);
        }

        return 1;
    }

    if (*j->pos == ']') {
        return ngx_http_harbor_json_close(j);
    }

    if (*j->pos != ',') {
        return ngx_http_harbor_json_error(j, "expected , or ]");
    }

    j->pos++;
    ngx_http_harbor_json_ws(j);

    if (j->pos == j->last || *j->pos == ']') {
        return ngx_http_harbor_json_error(j, "missing value");
    }

    return 1;
}


/*
 * A string at j->pos; s is its contents between the quotes.  Every escape
 * is checked here, so decode() and eq() may trust them.
 */

int
ngx_http_harbor_json_string(ngx_http_harbor_json_t *j,
    ngx_http_harbor_json_str_t *s)
{
    int                   n;
    const unsigned char  *p;

    ngx_http_harbor_json_ws(j);

    if (j->pos == j->last || *j->pos != '"') {
        return ngx_http_harbor_json_error(j, "expected a string");
    }

    /* an empty string until the whole of it has been checked */

    p = j->pos + 1;
    s->data = p;
    s->len = 0;

    for ( ;; ) {
        if (p == j->last) {
            j->pos = p;
            return ngx_http_harbor_json_error(j, "unterminated string");
        }

        if (*p == '"') {
            break;
        }

        if (*p < 0x20) {
            j->pos = p;
            return ngx_http_harbor_json_error(j,
                                            "control character in a string");
        }

        if (*p == '\\') {
            n = ngx_http_harbor_json_escape(j, p);

        } else if (*p >= 0x80 && j->strict) {
            n = ngx_http_harbor_json_utf8(j, p);

        } else {
            n = 1;
        }

        if (n < 0) {
            return -1;
        }

        p += n;
    }

    s->len = p - s->data;
    j->pos = p + 1;

    return 0;
}


/* the length of the escape at p, or -1 */

static int
ngx_http_harbor_json_escape(ngx_http_harbor_json_t *j, const unsigned char *p)
{
    unsigned  c, lo;

    j->pos = p;

    if (j->last - p < 2) {
        return ngx_http_harbor_json_error(j, "unterminated string");
    }

    switch (p[1]) {

    case '"': case '\\': case '/': case 'b':
    case 'f': case 'n': case 'r': case 't':
        return 2;

    case 'u':
        break;

    default:
        return ngx_http_harbor_json_error(j, "bad escape in a string");
    }

    if (j->last - p < 6) {
        return ngx_http_harbor_json_error(j, "short unicode escape");
    }

    if (ngx_http_harbor_json_hex4(p + 2, &c) != 0) {
        return ngx_http_harbor_json_error(j, "bad unicode escape");
    }

    if (!j->strict || c < 0xd800 || c > 0xdfff) {
        return 6;
    }

    if (c >= 0xdc00) {
        return ngx_http_harbor_json_error(j, "lone low surrogate");
    }

    if (j->last - p < 12 || p[6] != '\\' || p[7] != 'u') {
        return ngx_http_harbor_json_error(j, "lone high surrogate");
    }

    if (ngx_http_harbor_json_hex4(p + 8, &lo) != 0) {
        return ngx_http_harbor_json_error(j, "bad unicode escape");
    }

    if (lo < 0xdc00 || lo > 0xdfff) {
        return ngx_http_harbor_json_error(j, "bad surrogate pair");
    }

    return 12;
}


static int
ngx_http_harbor_json_hex4(const unsigned char *p, unsigned *cp)
{
    int       i;
    unsigned  c, v;

    v = 0;

    for (i = 0; i < 4; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            c -= '0';

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            c = (c | 0x20) - 'a' + 10;

        } else {
            return -1;
        }

        v = (v << 4) | c;
    }

    *cp = v;

    return 0;
}


/* the length of one UTF-8 sequence at p: no overlong forms, no surrogates */

static int
ngx_http_harbor_json_utf8(ngx_http_harbor_json_t *j, const unsigned char *p)
{
    size_t    i, need;
    unsigned  cp, min;

    j->pos = p;

    if (*p >= 0xc2 && *p <= 0xdf) {
        need = 1;
        cp = *p & 0x1f;
        min = 0x80;

    } else if (*p >= 0xe0 && *p <= 0xef) {
        need = 2;
        cp = *p & 0x0f;
        min = 0x800;

    } else if (*p >= 0xf0 && *p <= 0xf4) {
        need = 3;
        cp = *p & 0x07;
        min = 0x10000;

    } else {
        return ngx_http_harbor_json_error(j, "invalid UTF-8");
    }

    if ((size_t) (j->last - p) <= need) {
        return ngx_http_harbor_json_error(j, "invalid UTF-8");
    }

    for (i = 1; i <= need; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return ngx_http_harbor_json_error(j, "invalid UTF-8");
        }

        cp = (cp << 6) | (p[i] & 0x3f);
    }

    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return ngx_http_harbor_json_error(j, "invalid UTF-8");
    }

    return need + 1;
}


/*
 * A number by the JSON grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?
 * [0-9]+)?; *value is its integer part, with an overflow guard.
 */

int
ngx_http_harbor_json_number(ngx_http_harbor_json_t *j, int64_t *value,
    unsigned *flags)
{
    int                   neg;
    int64_t               v, d;
    const unsigned char  *p, *start;

    ngx_http_harbor_json_ws(j);

    p = j->pos;
    neg = 0;
    v = 0;
    *flags = 0;

    if (p < j->last && *p == '-') {
        neg = 1;
        p++;
    }

    if (p == j->last || *p < '0' || *p > '9') {
        return ngx_http_harbor_json_error(j, "bad number");
    }

    if (*p == '0') {
        p++;

    } else {
        while (p < j->last && *p >= '0' && *p <= '9') {
            d = *p++ - '0';

            if (v > (INT64_MAX - d) / 10) {
                *flags |= NGX_HTTP_HARBOR_JSON_OVERFLOW;

            } else {
                v = v * 10 + d;
            }
        }
    }

    if (p < j->last && *p == '.') {
        *flags |= NGX_HTTP_HARBOR_JSON_FRACTION;

        for (start = ++p; p < j->last && *p >= '0' && *p <= '9'; p++) {
            /* void */
        }

        if (p == start) {
            j->pos = p;
            return ngx_http_harbor_json_error(j, "bad number");
        }
    }

    if (p < j->last && (*p == 'e' || *p == 'E')) {
        *flags |= NGX_HTTP_HARBOR_JSON_EXPONENT;
        p++;

        if (p < j->last && (*p == '+' || *p == '-')) {
            p++;
        }

        for (start = p; p < j->last && *p >= '0' && *p <= '9'; p++) {
            /* void */
        }

        if (p == start) {
            j->pos = p;
            return ngx_http_harbor_json_error(j, "bad number");
        }
    }

    j->pos = p;
    *value = neg ? -v : v;

    return 0;
}


int
ngx_http_harbor_json_peek(ngx_http_harbor_json_t *j)
{
    ngx_http_harbor_json_ws(j);

    return (j->pos < j->last) ? *j->pos : -1;
}


int
ngx_http_harbor_json_skip(ngx_http_harbor_json_t *j)
{
    int                         first, rc;
    size_t                      n;
    int64_t                     v;
    unsigned                    flags;
    const char                 *lit;
    ngx_http_harbor_json_str_t  s;

    ngx_http_harbor_json_ws(j);

    if (j->pos == j->last) {
        return ngx_http_harbor_json_error(j, "missing value");
    }

    switch (*j->pos) {

    case '{':
        if (ngx_http_harbor_json_open(j, '{') != 0) {
            return -1;
        }

        first = 1;

        while ((rc = ngx_http_harbor_json_member(j, &first, &s)) == 1) {
            if (ngx_http_harbor_json_skip(j) != 0) {
                return -1;
            }
        }

        return rc;

    case '[':
        if (ngx_http_harbor_json_open(j, '[') != 0) {
            return -1;
        }

        first = 1;

        while ((rc = ngx_http_harbor_json_element(j, &first)) == 1) {
            if (ngx_http_harbor_json_skip(j) != 0) {
                return -1;
            }
        }

        return rc;

    case '"':
        return ngx_http_harbor_json_string(j, &s);

    case 't':
        lit = "true";
        break;

    case 'f':
        lit = "false";
        break;

    case 'n':
        lit = "null";
        break;

    default:
        if (*j->pos == '-' || (*j->pos >= '0' && *j->pos <= '9')) {
            return ngx_http_harbor_json_number(j, &v, &flags);
        }

        return ngx_http_harbor_json_error(j, "unexpected character");
    }

    n = strlen(lit);

    if ((size_t) (j->last - j->pos) < n || memcmp(j->pos, lit, n) != 0) {
        return ngx_http_harbor_json_error(j, "unexpected character");
    }

    j->pos += n;

    return 0;
}


int
ngx_http_harbor_json_end(ngx_http_harbor_json_t *j)
{
    ngx_http_harbor_json_ws(j);

    if (j->pos != j->last) {
        return ngx_http_harbor_json_error(j,
                                         "trailing data after the JSON value");
    }

    return 0;
}


/*
 * Decodes the character at *pp (a byte, or an escape the scanner checked)
 * into out, UTF-8 for \u escapes (a lone surrogate, which only a lenient
 * scan lets through, becomes U+FFFD); returns the bytes written.
 */

static size_t
ngx_http_harbor_json_next_char(const unsigned char **pp,
    const unsigned char *last, unsigned char *out)
{
    unsigned              c, lo;
    const unsigned char  *p;

    p = *pp;

    if (*p != '\\') {
        *out = *p;
        *pp = p + 1;
        return 1;
    }

    *pp = p + 2;

    switch (p[1]) {
    case 'b': *out = '\b'; return 1;
    case 'f': *out = '\f'; return 1;
    case 'n': *out = '\n'; return 1;
    case 'r': *out = '\r'; return 1;
    case 't': *out = '\t'; return 1;
    case 'u': break;
    default: *out = p[1]; return 1;     /* '"', '\\', '/' */
    }

    c = 0xfffd;
    (void) ngx_http_harbor_json_hex4(p + 2, &c);
    *pp = p + 6;

    if (c >= 0xd800 && c <= 0xdbff && last - p >= 12 && p[6] == '\\'
        && p[7] == 'u' && ngx_http_harbor_json_hex4(p + 8, &lo) == 0
        && lo >= 0xdc00 && lo <= 0xdfff)
    {
        c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
        *pp = p + 12;

    } else if (c >= 0xd800 && c <= 0xdfff) {
        c = 0xfffd;
    }

    if (c < 0x80) {
        out[0] = (unsigned char) c;
        return 1;
    }

    if (c < 0x800) {
        out[0] = 0xc0 | (c >> 6);
        out[1] = 0x80 | (c & 0x3f);
        return 2;
    }

    if (c < 0x10000) {
        out[0] = 0xe0 | (c >> 12);
        out[1] = 0x80 | ((c >> 6) & 0x3f);
        out[2] = 0x80 | (c & 0x3f);
        return 3;
    }

    out[0] = 0xf0 | (c >> 18);
    out[1] = 0x80 | ((c >> 12) & 0x3f);
    out[2] = 0x80 | ((c >> 6) & 0x3f);
    out[3] = 0x80 | (c & 0x3f);

    return 4;
}


size_t
ngx_http_harbor_json_decode(const ngx_http_harbor_json_str_t *s,
    unsigned char *dst, size_t cap)
{
    size_t                n, k, i;
    unsigned char         ch[4];
    const unsigned char  *p, *last;

    p = s->data;
    last = s->data + s->len;
    n = 0;

    while (p < last) {
        k = ngx_http_harbor_json_next_char(&p, last, ch);

        for (i = 0; i < k; i++, n++) {
            if (n < cap) {
                dst[n] = ch[i];
            }
        }
    }

    return n;
}


int
ngx_http_harbor_json_eq(const ngx_http_harbor_json_str_t *s,
    const unsigned char *lit, size_t len, int caseless)
{
    size_t                n, k, i;
    unsigned char         a, b, ch[4];
    const unsigned char  *p, *last;

    p = s->data;
    last = s->data + s->len;

    for (n = 0; p < last; n += k) {
        k = ngx_http_harbor_json_next_char(&p, last, ch);

        if (k > len - n) {
            return 0;
        }

        for (i = 0; i < k; i++) {
            a = ch[i];
            b = lit[n + i];

            if (caseless) {
                a = (a >= 'A' && a <= 'Z') ? (a | 0x20) : a;
                b = (b >= 'A' && b <= 'Z') ? (b | 0x20) : b;
            }

            if (a != b) {
                return 0;
            }
        }
    }

    return n == len;
}
