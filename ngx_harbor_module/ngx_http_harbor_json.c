
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * A small, bounded JSON scanner: enough to detect a manifest's media type
 * (top-level "schemaVersion", "mediaType", "signatures", "manifests") and
 * to filter the descriptors of a referrers index by "artifactType".  It
 * validates as it goes (strings, escapes, numbers, literals, nesting at
 * most NGX_HTTP_HARBOR_JSON_DEPTH deep), never reads past the end of the
 * buffer, and allocates nothing except the filtered output: values are
 * returned as ranges of the input.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_module.h"


#define NGX_HTTP_HARBOR_JSON_DEPTH  32


typedef struct {
    u_char      *pos;
    u_char      *last;
    ngx_uint_t   depth;
} ngx_http_harbor_json_t;


static void ngx_http_harbor_json_ws(ngx_http_harbor_json_t *j);
static ngx_int_t ngx_http_harbor_json_string(ngx_http_harbor_json_t *j,
    ngx_str_t *raw);
static ngx_int_t ngx_http_harbor_json_value(ngx_http_harbor_json_t *j);
static ngx_int_t ngx_http_harbor_json_container(ngx_http_harbor_json_t *j);
static ngx_int_t ngx_http_harbor_json_number(ngx_http_harbor_json_t *j);
static ngx_int_t ngx_http_harbor_json_key(ngx_http_harbor_json_t *j,
    ngx_str_t *key);
static ngx_int_t ngx_http_harbor_json_next(ngx_http_harbor_json_t *j,
    u_char close);
static ngx_int_t ngx_http_harbor_json_eq(ngx_str_t *raw, ngx_str_t *s);
static ngx_int_t ngx_http_harbor_json_unescape(ngx_pool_t *pool,
    ngx_str_t *raw);
static ngx_int_t ngx_http_harbor_json_descriptor(ngx_http_harbor_json_t *j,
    ngx_str_t *artifact_type, ngx_uint_t *match);


/*
 * keys of a manifest are matched as Go's encoding/json (distribution)
 * matches struct fields: ASCII case-insensitively ("MediaType" is
 * mediaType); a key written with escapes is not matched
 */
#define ngx_http_harbor_json_key_is(raw, lit)                                 \
    ((raw)->len == sizeof(lit) - 1                                            \
     && ngx_strncasecmp((raw)->data, (u_char *) lit, sizeof(lit) - 1) == 0)

#define ngx_http_harbor_json_is(raw, lit)                                     \
    ((raw)->len == sizeof(lit) - 1                                            \
     && ngx_strncmp((raw)->data, lit, sizeof(lit) - 1) == 0)


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


/*
 * a string at j->pos; raw is its content between the quotes, escapes
 * validated but not decoded
 */

static ngx_int_t
ngx_http_harbor_json_string(ngx_http_harbor_json_t *j, ngx_str_t *raw)
{
    u_char      *p;
    ngx_uint_t   i;

    p = j->pos;

    if (p == j->last || *p != '"') {
        return NGX_ERROR;
    }

    p++;
    raw->data = p;

    while (p < j->last) {

        if (*p == '"') {
            raw->len = p - raw->data;
            j->pos = p + 1;
            return NGX_OK;
        }

        if (*p < 0x20) {
            return NGX_ERROR;
        }

        if (*p != '\\') {
            p++;
            continue;
        }

        p++;

        if (p == j->last) {
            return NGX_ERROR;
        }

        switch (*p) {

        case '"': case '\\': case '/': case 'b':
        case 'f': case 'n': case 'r': case 't':
            p++;
            break;

        case 'u':
            if (j->last - p < 5) {
                return NGX_ERROR;
            }

            for (i = 1; i <= 4; i++) {
                if (ngx_hextoi(&p[i], 1) == NGX_ERROR) {
                    return NGX_ERROR;
                }
            }

            p += 5;
            break;

        default:
            return NGX_ERROR;
        }
    }

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_harbor_json_number(ngx_http_harbor_json_t *j)
{
    u_char  *p, *start;

    p = j->pos;

    if (p < j->last && *p == '-') {
        p++;
    }

    start = p;

    while (p < j->last && *p >= '0' && *p <= '9') {
        p++;
    }

    if (p == start || (*start == '0' && p - start > 1)) {
        return NGX_ERROR;
    }

    if (p < j->last && *p == '.') {
        start = ++p;

        while (p < j->last && *p >= '0' && *p <= '9') {
            p++;
        }

        if (p == start) {
            return NGX_ERROR;
        }
    }

    if (p < j->last && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < j->last && (*p == '+' || *p == '-')) {
            p++;
        }

        start = p;

        while (p < j->last && *p >= '0' && *p <= '9') {
            p++;
        }

        if (p == start) {
            return NGX_ERROR;
        }
    }

    j->pos = p;

    return NGX_OK;
}


/*
 * skips one value of any type at j->pos
 */

static ngx_int_t
ngx_http_harbor_json_value(ngx_http_harbor_json_t *j)
{
    size_t     len;
    ngx_str_t  raw;

    if (j->pos == j->last) {
        return NGX_ERROR;
    }

    switch (*j->pos) {

    case '"':
        return ngx_http_harbor_json_string(j, &raw);

    case '{':
    case '[':
        return ngx_http_harbor_json_container(j);

    case 't':
    case 'n':
        len = 4;
        break;

    case 'f':
        len = 5;
        break;

    default:
        return ngx_http_harbor_json_number(j);
    }

    if ((size_t) (j->last - j->pos) < len
        || (ngx_strncmp(j->pos, "true", 4) != 0
            && ngx_strncmp(j->pos, "null", 4) != 0
            && ngx_strncmp(j->pos, "false", 5) != 0))
    {
        return NGX_ERROR;
    }

    j->pos += len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_harbor_json_container(ngx_http_harbor_json_t *j)
{
    u_char     close;
    ngx_int_t  rc;
    ngx_str_t  key;

    if (++j->depth > NGX_HTTP_HARBOR_JSON_DEPTH) {
        return NGX_ERROR;
    }

    close = (*j->pos == '{') ? '}' : ']';

    j->pos++;
    ngx_http_harbor_json_ws(j);

    if (j->pos < j->last && *j->pos == close) {
        j->pos++;
        j->depth--;
        return NGX_OK;
    }

    for ( ;; ) {

        if (close == '}') {
            if (ngx_http_harbor_json_key(j, &key) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        if (ngx_http_harbor_json_value(j) != NGX_OK) {
            return NGX_ERROR;
        }

        rc = ngx_http_harbor_json_next(j, close);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DONE) {
            j->depth--;
            return NGX_OK;
        }
    }
}


/*
 * "key" ':' with the whitespace around; j->pos is left at the value
 */

static ngx_int_t
ngx_http_harbor_json_key(ngx_http_harbor_json_t *j, ngx_str_t *key)
{
    if (ngx_http_harbor_json_string(j, key) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_harbor_json_ws(j);

    if (j->pos == j->last || *j->pos != ':') {
        return NGX_ERROR;
    }

    j->pos++;
    ngx_http_harbor_json_ws(j);

    return NGX_OK;
}


/*
 * after a member or element: NGX_OK at the next one, NGX_DONE past the
 * closing bracket
 */

static ngx_int_t
ngx_http_harbor_json_next(ngx_http_harbor_json_t *j, u_char close)
{
    ngx_http_harbor_json_ws(j);

    if (j->pos == j->last) {
        return NGX_ERROR;
    }

    if (*j->pos == ',') {
        j->pos++;
        ngx_http_harbor_json_ws(j);
        return NGX_OK;
    }

    if (*j->pos == close) {
        j->pos++;
        return NGX_DONE;
    }

    return NGX_ERROR;
}


/*
 * compares a raw JSON string with a plain ASCII string, decoding escapes
 */

static ngx_int_t
ngx_http_harbor_json_eq(ngx_str_t *raw, ngx_str_t *s)
{
    u_char     *p, *last, ch;
    size_t      i;
    ngx_int_t   code;

    p = raw->data;
    last = p + raw->len;
    i = 0;

    while (p < last) {
        ch = *p++;

        if (ch == '\\') {
            ch = *p++;

            switch (ch) {
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'n': ch = '\n'; break;
            case 'r': ch = '\r'; break;
            case 't': ch = '\t'; break;

            case 'u':
                code = ngx_hextoi(p, 4);
                p += 4;

                if (code < 0 || code > 0x7f) {
                    return NGX_DECLINED;
                }

                ch = (u_char) code;
                break;

            default: /* '"', '\\', '/' */
                break;
            }
        }

        if (i == s->len || s->data[i] != ch) {
            return NGX_DECLINED;
        }

        i++;
    }

    return (i == s->len) ? NGX_OK : NGX_DECLINED;
}


/*
 * decodes a validated raw JSON string into the pool; only ASCII results
 * are accepted (a media type is ASCII)
 */

static ngx_int_t
ngx_http_harbor_json_unescape(ngx_pool_t *pool, ngx_str_t *raw)
{
    u_char     *p, *last, *d, *out, ch;
    ngx_int_t   code;

    out = ngx_pnalloc(pool, raw->len);
    if (out == NULL) {
        return NGX_ERROR;
    }

    p = raw->data;
    last = p + raw->len;
    d = out;

    while (p < last) {
        ch = *p++;

        if (ch == '\\') {
            ch = *p++;

            switch (ch) {

            case 'u':
                code = ngx_hextoi(p, 4);
                p += 4;

                if (code < 0x20 || code > 0x7e) {
                    return NGX_ERROR;
                }

                ch = (u_char) code;
                break;

            case '"':
            case '\\':
            case '/':
                break;

            default:
                /* \b, \f, \n, \r, \t: never in a media type */
                return NGX_ERROR;
            }
        }

        *d++ = ch;
    }

    raw->data = out;
    raw->len = d - out;

    return NGX_OK;
}


/*
 * the media type of a manifest, as distribution 2.8 detects it;
 * type points into p, into the pool (an escaped mediaType), or to a
 * static string
 */

ngx_int_t
ngx_http_harbor_manifest_type(ngx_pool_t *pool, u_char *p, size_t len,
    ngx_str_t *type)
{
    u_char                  *start;
    ngx_int_t                rc;
    ngx_str_t                key, media_type;
    ngx_uint_t               version, signatures, manifests;
    ngx_http_harbor_json_t   j;

    j.pos = p;
    j.last = p + len;
    j.depth = 1;

    version = 0;
    signatures = 0;
    manifests = 0;
    media_type.len = 0;
    media_type.data = NULL;

    ngx_http_harbor_json_ws(&j);

    if (j.pos == j.last || *j.pos != '{') {
        return NGX_ERROR;
    }

    j.pos++;
    ngx_http_harbor_json_ws(&j);

    if (j.pos < j.last && *j.pos == '}') {
        j.pos++;
        goto done;
    }

    for ( ;; ) {
        if (ngx_http_harbor_json_key(&j, &key) != NGX_OK) {
            return NGX_ERROR;
        }

        start = j.pos;

        if (ngx_http_harbor_json_key_is(&key, "mediaType")
            && j.pos < j.last && *j.pos == '"')
        {
            if (ngx_http_harbor_json_string(&j, &media_type) != NGX_OK) {
                return NGX_ERROR;
            }

        } else if (ngx_http_harbor_json_value(&j) != NGX_OK) {
            return NGX_ERROR;
        }

        if (ngx_http_harbor_json_key_is(&key, "schemaVersion")) {
            if (j.pos - start == 1 && (*start == '1' || *start == '2')) {
                version = *start - '0';

            } else {
                version = 0;
            }

        } else if (ngx_http_harbor_json_key_is(&key, "signatures")) {
            signatures = 1;

        } else if (ngx_http_harbor_json_key_is(&key, "manifests")) {
            manifests = 1;
        }

        rc = ngx_http_harbor_json_next(&j, '}');

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DONE) {
            break;
        }
    }

done:

    ngx_http_harbor_json_ws(&j);

    if (j.pos != j.last) {
        return NGX_ERROR;
    }

    switch (version) {

    case 1:
        if (signatures) {
            ngx_str_set(type,
                 "application/vnd.docker.distribution.manifest.v1+prettyjws");

        } else {
            ngx_str_set(type,
                        "application/vnd.docker.distribution.manifest.v1+json");
        }

        return NGX_OK;

    case 2:
        if (media_type.len
            && ngx_strlchr(media_type.data, media_type.data + media_type.len,
                           '\\'))
        {
            if (ngx_http_harbor_json_unescape(pool, &media_type) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        if (media_type.len) {
            if (ngx_http_harbor_parse_media_type(media_type.data,
                                                 media_type.len)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            *type = media_type;

        } else if (manifests) {
            ngx_str_set(type, "application/vnd.oci.image.index.v1+json");

        } else {
            ngx_str_set(type, "application/vnd.oci.image.manifest.v1+json");
        }

        return NGX_OK;

    default:
        return NGX_ERROR;
    }
}


/*
 * one descriptor object of "manifests"; match is set when its
 * "artifactType" equals the filter
 */

static ngx_int_t
ngx_http_harbor_json_descriptor(ngx_http_harbor_json_t *j,
    ngx_str_t *artifact_type, ngx_uint_t *match)
{
    ngx_int_t  rc;
    ngx_str_t  key, value;

    *match = 0;

    if (j->pos == j->last || *j->pos != '{') {
        return NGX_ERROR;
    }

    j->pos++;
    j->depth++;
    ngx_http_harbor_json_ws(j);

    if (j->pos < j->last && *j->pos == '}') {
        j->pos++;
        j->depth--;
        return NGX_OK;
    }

    for ( ;; ) {
        if (ngx_http_harbor_json_key(j, &key) != NGX_OK) {
            return NGX_ERROR;
        }

        if (ngx_http_harbor_json_is(&key, "artifactType")
            && j->pos < j->last && *j->pos == '"')
        {
            if (ngx_http_harbor_json_string(j, &value) != NGX_OK) {
                return NGX_ERROR;
            }

            *match = (ngx_http_harbor_json_eq(&value, artifact_type)
                      == NGX_OK);

        } else if (ngx_http_harbor_json_value(j) != NGX_OK) {
            return NGX_ERROR;
        }

        rc = ngx_http_harbor_json_next(j, '}');

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DONE) {
            j->depth--;
            return NGX_OK;
        }
    }
}


/*
 * re-emits a referrers index with only the descriptors whose artifactType
 * equals the filter; the descriptors are copied byte for byte
 */

ngx_int_t
ngx_http_harbor_referrers_filter(ngx_pool_t *pool, u_char *p, size_t len,
    ngx_str_t *artifact_type, ngx_str_t *out)
{
    u_char                  *q, *start;
    size_t                   size;
    ngx_int_t                rc;
    ngx_str_t                key, *d;
    ngx_uint_t               i, match, found;
    ngx_array_t              keep;
    ngx_http_harbor_json_t   j;

    static u_char  head[] = "{\"schemaVersion\":2,\"mediaType\":"
                            "\"application/vnd.oci.image.index.v1+json\","
                            "\"manifests\":[";

    if (ngx_array_init(&keep, pool, 4, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    j.pos = p;
    j.last = p + len;
    j.depth = 1;

    found = 0;

    ngx_http_harbor_json_ws(&j);

    if (j.pos == j.last || *j.pos != '{') {
        return NGX_DECLINED;
    }

    j.pos++;
    ngx_http_harbor_json_ws(&j);

    if (j.pos < j.last && *j.pos == '}') {
        j.pos++;
        goto done;
    }

    for ( ;; ) {
        if (ngx_http_harbor_json_key(&j, &key) != NGX_OK) {
            return NGX_DECLINED;
        }

        if (!ngx_http_harbor_json_is(&key, "manifests")) {
            if (ngx_http_harbor_json_value(&j) != NGX_OK) {
                return NGX_DECLINED;
            }

            goto next;
        }

        if (j.pos == j.last || *j.pos != '[' || found) {
            return NGX_DECLINED;
        }

        found = 1;

        j.pos++;
        ngx_http_harbor_json_ws(&j);

        if (j.pos < j.last && *j.pos == ']') {
            j.pos++;
            goto next;
        }

        for ( ;; ) {
            start = j.pos;

            if (ngx_http_harbor_json_descriptor(&j, artifact_type, &match)
                != NGX_OK)
            {
                return NGX_DECLINED;
            }

            if (match) {
                d = ngx_array_push(&keep);
                if (d == NULL) {
                    return NGX_ERROR;
                }

                d->data = start;
                d->len = j.pos - start;
            }

            rc = ngx_http_harbor_json_next(&j, ']');

            if (rc == NGX_ERROR) {
                return NGX_DECLINED;
            }

            if (rc == NGX_DONE) {
                break;
            }
        }

    next:

        rc = ngx_http_harbor_json_next(&j, '}');

        if (rc == NGX_ERROR) {
            return NGX_DECLINED;
        }

        if (rc == NGX_DONE) {
            break;
        }
    }

done:

    ngx_http_harbor_json_ws(&j);

    if (j.pos != j.last || !found) {
        return NGX_DECLINED;
    }

    d = keep.elts;
    size = sizeof(head) - 1 + sizeof("]}") - 1;

    for (i = 0; i < keep.nelts; i++) {
        size += d[i].len + 1;
    }

    out->data = ngx_pnalloc(pool, size);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    q = ngx_cpymem(out->data, head, sizeof(head) - 1);

    for (i = 0; i < keep.nelts; i++) {
        if (i) {
            *q++ = ',';
        }

        q = ngx_cpymem(q, d[i].data, d[i].len);
    }

    *q++ = ']';
    *q++ = '}';

    out->len = q - out->data;

    return NGX_OK;
}
