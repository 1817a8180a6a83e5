
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * The request's grammars: the split of a v2 URI, the digest ranges, and
 * the query arguments n (decimal, overflow guarded), ns (host[:port]) and
 * artifactType (media type).  Names, tags and the digest grammar itself
 * are the OCI grammars the replicator shares (he_oci_grammar.c).  Every
 * scanner here is a hand-written state machine over a byte range with an
 * explicit end check: no allocation, no I/O, no NUL termination assumed.
 * Nothing from a request reaches a path before it has passed one of
 * these, which is what keeps "..", "%2e", NUL and "//" out of the store
 * paths.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_module.h"


#define ngx_http_harbor_alnum_lc(ch)                                          \
    (((ch) >= 'a' && (ch) <= 'z') || ((ch) >= '0' && (ch) <= '9'))

#define ngx_http_harbor_alnum(ch)                                             \
    (ngx_http_harbor_alnum_lc(ch) || ((ch) >= 'A' && (ch) <= 'Z'))

#define ngx_http_harbor_hex_lc(ch)                                            \
    (((ch) >= 'a' && (ch) <= 'f') || ((ch) >= '0' && (ch) <= '9'))


/*
 * Splits a v2 API path into what is asked for, the repository name and the
 * reference, from the right, since a name contains slashes:
 *
 *   /v2/                                 PING
 *   /v2/_catalog                         CATALOG
 *   /v2/<name>/tags/list                 TAGS
 *   /v2/<name>/manifests/<reference>     MANIFEST (blobs: BLOB,
 *                                        referrers: REFERRERS)
 *   /v2/<name>/blobs/uploads/[<id>]      OTHER, with the name: a write
 *                                        the edge refuses, but whose
 *                                        scope a token must grant
 *
 * and OTHER for anything else.  name and ref are byte ranges of uri, either
 * may be empty; nothing is checked against a grammar here.  The request's
 * one route (ngx_http_harbor_request.c) is made by this function, so the
 * read path, the auth module and the metrics module can never disagree on
 * which repository a URI names.
 */

ngx_http_harbor_kind_e
ngx_http_harbor_split_uri(ngx_str_t *uri, ngx_str_t *name, ngx_str_t *ref)
{
    u_char                  *p, *last, *c1, *c2, *c3;
    size_t                   len;
    ngx_http_harbor_kind_e   kind;

    ngx_str_null(name);
    ngx_str_null(ref);

    if (uri->len < sizeof("/v2/") - 1
        || ngx_strncmp(uri->data, "/v2/", sizeof("/v2/") - 1) != 0)
    {
        return NGX_HTTP_HARBOR_OTHER;
    }

    p = uri->data + sizeof("/v2/") - 1;
    last = uri->data + uri->len;
    len = last - p;

    if (len == 0) {
        return NGX_HTTP_HARBOR_PING;
    }

    if (len == sizeof("_catalog") - 1
        && ngx_strncmp(p, "_catalog", sizeof("_catalog") - 1) == 0)
    {
        return NGX_HTTP_HARBOR_CATALOG;
    }

    if (len > sizeof("/tags/list") - 1
        && ngx_strncmp(last - (sizeof("/tags/list") - 1), "/tags/list",
                       sizeof("/tags/list") - 1) == 0)
    {
        name->data = p;
        name->len = len - (sizeof("/tags/list") - 1);
        return NGX_HTTP_HARBOR_TAGS;
    }

    /* c1 and c2 start the last two components */

    for (c1 = last; c1 > p && c1[-1] != '/'; c1--) { /* void */ }

    if (c1 == p) {
        return NGX_HTTP_HARBOR_OTHER;
    }

    for (c2 = c1 - 1; c2 > p && c2[-1] != '/'; c2--) { /* void */ }

    if (c2 == p) {
        return NGX_HTTP_HARBOR_OTHER;
    }

    len = (c1 - 1) - c2;

    if (len == sizeof("manifests") - 1
        && ngx_strncmp(c2, "manifests", len) == 0)
    {
        kind = NGX_HTTP_HARBOR_MANIFEST;

    } else if (len == sizeof("blobs") - 1
               && ngx_strncmp(c2, "blobs", len) == 0)
    {
        kind = NGX_HTTP_HARBOR_BLOB;

    } else if (len == sizeof("referrers") - 1
               && ngx_strncmp(c2, "referrers", len) == 0)
    {
        kind = NGX_HTTP_HARBOR_REFERRERS;

    } else if (len == sizeof("uploads") - 1
               && ngx_strncmp(c2, "uploads", len) == 0)
    {
        for (c3 = c2 - 1; c3 > p && c3[-1] != '/'; c3--) { /* void */ }

        if (c3 > p && (c2 - 1) - c3 == sizeof("blobs") - 1
            && ngx_strncmp(c3, "blobs", sizeof("blobs") - 1) == 0)
        {
            name->data = p;
            name->len = (c3 - 1) - p;
        }

        return NGX_HTTP_HARBOR_OTHER;

    } else {
        return NGX_HTTP_HARBOR_OTHER;
    }

    name->data = p;
    name->len = (c2 - 1) - p;
    ref->data = c1;
    ref->len = last - c1;

    return kind;
}


/*
 * digest: the shared grammar (he_oci_grammar.c), with the ranges the
 * handlers use.  NGX_OK: a digest the module can verify; NGX_DECLINED:
 * well formed but of another algorithm; NGX_ERROR: malformed.
 */

ngx_int_t
ngx_http_harbor_parse_digest(u_char *p, size_t len,
    ngx_http_harbor_digest_t *d)
{
    size_t           alg;
    he_oci_digest_e  type;

    type = he_oci_digest(p, len, &alg);

    if (type == HE_OCI_DIGEST_INVALID) {
        return NGX_ERROR;
    }

    d->value.data = p;
    d->value.len = len;
    d->alg.data = p;
    d->alg.len = alg;
    d->hex.data = p + alg + 1;
    d->hex.len = len - alg - 1;

    switch (type) {

    case HE_OCI_SHA256:
        d->type = NGX_HTTP_HARBOR_SHA256;
        return NGX_OK;

    case HE_OCI_SHA512:
        d->type = NGX_HTTP_HARBOR_SHA512;
        return NGX_OK;

    default:
        d->type = 0;
        return NGX_DECLINED;
    }
}


/*
 * a non-negative decimal; overflow is an error, as in nginx's own parsers
 */

ngx_int_t
ngx_http_harbor_parse_number(u_char *p, size_t len, ngx_uint_t *n)
{
    u_char      *last;
    ngx_uint_t   value, cutoff, cutlim;

    if (len == 0) {
        return NGX_ERROR;
    }

    cutoff = NGX_MAX_INT_T_VALUE / 10;
    cutlim = NGX_MAX_INT_T_VALUE % 10;

    value = 0;
    last = p + len;

    for ( /* void */ ; p < last; p++) {
        if (*p < '0' || *p > '9') {
            return NGX_ERROR;
        }

        if (value >= cutoff && (value > cutoff || (ngx_uint_t) (*p - '0')
                                                  > cutlim))
        {
            return NGX_ERROR;
        }

        value = value * 10 + (*p - '0');
    }

    *n = value;

    return NGX_OK;
}


/*
 * host[:port] as containerd sends it in ?ns=: letters, digits, '.', '-',
 * '_', an optional bracketed IPv6 literal, and an optional decimal port
 */

ngx_int_t
ngx_http_harbor_parse_host(u_char *p, size_t len)
{
    u_char  *last, ch;
    size_t   port;

    if (len == 0 || len > NGX_HTTP_HARBOR_HOST_MAX) {
        return NGX_ERROR;
    }

    last = p + len;

    if (*p == '[') {
        for (p++; p < last && *p != ']'; p++) {
            ch = *p;

            if (!ngx_http_harbor_hex_lc(ch) && !(ch >= 'A' && ch <= 'F')
                && ch != ':' && ch != '.')
            {
                return NGX_ERROR;
            }
        }

        if (p == last) {
            return NGX_ERROR;
        }

        p++;

    } else {
        if (*p == '.' || *p == '-' || *p == ':') {
            return NGX_ERROR;
        }

        for ( /* void */ ; p < last && *p != ':'; p++) {
            ch = *p;

            if (!ngx_http_harbor_alnum(ch) && ch != '.' && ch != '-'
                && ch != '_')
            {
                return NGX_ERROR;
            }
        }
    }

    if (p == last) {
        return NGX_OK;
    }

    if (*p != ':') {
        return NGX_ERROR;
    }

    p++;

    if (p == last || last - p > 5) {
        return NGX_ERROR;
    }

    port = 0;

    for ( /* void */ ; p < last; p++) {
        if (*p < '0' || *p > '9') {
            return NGX_ERROR;
        }

        port = port * 10 + (*p - '0');
    }

    return (port > 0 && port < 65536) ? NGX_OK : NGX_ERROR;
}


/*
 * a media type for ?artifactType=: printable ASCII without quotes,
 * backslashes or spaces, at most NGX_HTTP_HARBOR_MEDIA_TYPE_MAX bytes;
 * what is left can be compared with a JSON string and echoed safely
 */

ngx_int_t
ngx_http_harbor_parse_media_type(u_char *p, size_t len)
{
    size_t  i;

    if (len == 0 || len > NGX_HTTP_HARBOR_MEDIA_TYPE_MAX) {
        return NGX_ERROR;
    }

    for (i = 0; i < len; i++) {
        if (p[i] <= ' ' || p[i] >= 0x7f || p[i] == '"' || p[i] == '\\') {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}
