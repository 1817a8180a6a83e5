
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * ngx_http_harbor_json.h: the module's one JSON scanner.  Every JSON the
 * edge reads goes through it: stored manifests and referrers indexes
 * (ngx_http_harbor_oci_json.c), token headers and claims
 * (ngx_http_harbor_jwt.c) and webhook bodies
 * (ngx_http_harbor_webhook_parse.c).
 *
 * It is a pull scanner over a byte range: the caller walks objects and
 * arrays member by member and takes or skips each value, so nothing is
 * built that is not kept.  It checks the whole of RFC 8259 as it goes,
 * never reads outside the range, refuses nesting deeper than the caller's
 * bound and allocates nothing: strings come back as ranges of the input
 * (escapes checked, not decoded) to be compared or decoded on demand.
 *
 * Plain C, no nginx types, so that the unit tests and the fuzzers link it
 * with the readers above.
 */


#ifndef _NGX_HTTP_HARBOR_JSON_H_INCLUDED_
#define _NGX_HTTP_HARBOR_JSON_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* ngx_http_harbor_json_number() flags */
#define NGX_HTTP_HARBOR_JSON_FRACTION  0x01
#define NGX_HTTP_HARBOR_JSON_EXPONENT  0x02
#define NGX_HTTP_HARBOR_JSON_OVERFLOW  0x04   /* integer part > INT64 */


/* a string's contents between the quotes, escapes not decoded */
typedef struct {
    const unsigned char        *data;
    size_t                      len;
} ngx_http_harbor_json_str_t;


typedef struct {
    const unsigned char        *start;
    const unsigned char        *pos;
    const unsigned char        *last;
    unsigned                    depth;
    unsigned                    depth_max;

    /*
     * strings must be Unicode: UTF-8 checked, \u surrogates paired (token
     * and webhook bodies); off for stored manifests, which distribution's
     * Go decoder accepts with invalid UTF-8 in them
     */
    unsigned                    strict:1;

    const char                 *err;      /* the first syntax error */
    size_t                      err_at;   /* its byte offset */
} ngx_http_harbor_json_t;


void ngx_http_harbor_json_init(ngx_http_harbor_json_t *j,
    const unsigned char *p, size_t len, unsigned depth_max, unsigned strict);

/*
 * Objects and arrays: open() at '{' or '[', then call member() (element())
 * with *first set to 1 until it returns 0, past the closing bracket.  It
 * returns 1 with j->pos at the member's value (never at the end of the
 * input), the key in *key; the caller must then take the value or skip()
 * it.  -1 on a syntax error, here and in every call below.
 */
int ngx_http_harbor_json_open(ngx_http_harbor_json_t *j, unsigned char c);
int ngx_http_harbor_json_member(ngx_http_harbor_json_t *j, int *first,
    ngx_http_harbor_json_str_t *key);
int ngx_http_harbor_json_element(ngx_http_harbor_json_t *j, int *first);

int ngx_http_harbor_json_string(ngx_http_harbor_json_t *j,
    ngx_http_harbor_json_str_t *s);

/* *value is the integer part, unless NGX_HTTP_HARBOR_JSON_OVERFLOW */
int ngx_http_harbor_json_number(ngx_http_harbor_json_t *j, int64_t *value,
    unsigned *flags);

/* the next byte after white space, or -1 at the end of the input */
int ngx_http_harbor_json_peek(ngx_http_harbor_json_t *j);

/* any value, checked and thrown away */
int ngx_http_harbor_json_skip(ngx_http_harbor_json_t *j);

/* 0 when only white space is left after the value */
int ngx_http_harbor_json_end(ngx_http_harbor_json_t *j);

/*
 * Decodes a string the scanner returned into dst, at most cap bytes, and
 * returns its whole decoded length: more than cap means it did not fit.
 * No NUL is added.
 */
size_t ngx_http_harbor_json_decode(const ngx_http_harbor_json_str_t *s,
    unsigned char *dst, size_t cap);

/* 1 when the decoded string equals lit[0..len) (ASCII case-insensitively) */
int ngx_http_harbor_json_eq(const ngx_http_harbor_json_str_t *s,
    const unsigned char *lit, size_t len, int caseless);

#define ngx_http_harbor_json_is(s, lit)                                       \
    ngx_http_harbor_json_eq(s, (const unsigned char *) lit, sizeof(lit) - 1, 0)


#endif /* _NGX_HTTP_HARBOR_JSON_H_INCLUDED_ */
