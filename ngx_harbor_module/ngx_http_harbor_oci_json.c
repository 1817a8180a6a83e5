
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * What the read path reads in stored OCI JSON, through the module's JSON
 * scanner (ngx_http_harbor_json.c): a manifest's media type, for the
 * Content-Type header, and a referrers index's descriptors, filtered by
 * "artifactType".  Values are taken as ranges of the stored file; only
 * an escaped media type and the filtered index are allocated.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_module.h"
#include "ngx_http_harbor_json.h"


#define NGX_HTTP_HARBOR_JSON_DEPTH  32


static ngx_int_t ngx_http_harbor_json_descriptor(ngx_http_harbor_json_t *j,
    ngx_str_t *artifact_type, ngx_uint_t *match);


/*
 * keys of a manifest are matched as Go's encoding/json (distribution)
 * matches struct fields: decoded, then ASCII case-insensitively
 * ("MediaType" is mediaType)
 */
#define ngx_http_harbor_json_key_is(key, lit)                                 \
    ngx_http_harbor_json_eq(key, (const unsigned char *) lit,                 \
                            sizeof(lit) - 1, 1)


/*
 * the media type of a manifest, as distribution 2.8 detects it;
 * type points into p, into the pool (an escaped mediaType), or to a
 * static string
 */

ngx_int_t
ngx_http_harbor_manifest_type(ngx_pool_t *pool, u_char *p, size_t len,
    ngx_str_t *type)
{
    int                         first, rc;
    const u_char               *start;
    ngx_uint_t                  version, signatures, manifests, escaped;
    ngx_http_harbor_json_t      j;
    ngx_http_harbor_json_str_t  key, media_type;

    ngx_http_harbor_json_init(&j, p, len, NGX_HTTP_HARBOR_JSON_DEPTH, 0);

    version = 0;
    signatures = 0;
    manifests = 0;
    media_type.len = 0;
    media_type.data = NULL;

    if (ngx_http_harbor_json_open(&j, '{') != 0) {
        return NGX_ERROR;
    }

    first = 1;

    while ((rc = ngx_http_harbor_json_member(&j, &first, &key)) == 1) {

        start = j.pos;

        if (ngx_http_harbor_json_key_is(&key, "mediaType") && *j.pos == '"') {
            rc = ngx_http_harbor_json_string(&j, &media_type);

        } else {
            rc = ngx_http_harbor_json_skip(&j);
        }

        if (rc != 0) {
            return NGX_ERROR;
        }

        if (ngx_http_harbor_json_key_is(&key, "schemaVersion")) {
            version = (j.pos - start == 1 && (*start == '1' || *start == '2'))
                      ? (ngx_uint_t) (*start - '0') : 0;

        } else if (ngx_http_harbor_json_key_is(&key, "signatures")) {
            signatures = 1;

        } else if (ngx_http_harbor_json_key_is(&key, "manifests")) {
            manifests = 1;
        }
    }

    if (rc != 0 || ngx_http_harbor_json_end(&j) != 0) {
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
        break;

    default:
        return NGX_ERROR;
    }

    if (media_type.len == 0) {
        if (manifests) {
            ngx_str_set(type, "application/vnd.oci.image.index.v1+json");

        } else {
            ngx_str_set(type, "application/vnd.oci.image.manifest.v1+json");
        }

        return NGX_OK;
    }

    escaped = (ngx_strlchr((u_char *) media_type.data,
                           (u_char *) media_type.data + media_type.len, '\\')
               != NULL);

    if (escaped) {
        /* decoded, never longer than the escaped text */

        type->data = ngx_pnalloc(pool, media_type.len);
        if (type->data == NULL) {
            return NGX_ERROR;
        }

        type->len = ngx_http_harbor_json_decode(&media_type, type->data,
                                                media_type.len);

    } else {
        type->data = (u_char *) media_type.data;
        type->len = media_type.len;
    }

    /* it goes into a header: printable ASCII, no quote, no backslash */

    if (ngx_http_harbor_parse_media_type(type->data, type->len) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * one descriptor object of "manifests"; match is set when its
 * "artifactType" equals the filter
 */

static ngx_int_t
ngx_http_harbor_json_descriptor(ngx_http_harbor_json_t *j,
    ngx_str_t *artifact_type, ngx_uint_t *match)
{
    int                         first, rc;
    ngx_http_harbor_json_str_t  key, value;

    *match = 0;

    if (ngx_http_harbor_json_open(j, '{') != 0) {
        return NGX_ERROR;
    }

    first = 1;

    while ((rc = ngx_http_harbor_json_member(j, &first, &key)) == 1) {

        if (ngx_http_harbor_json_is(&key, "artifactType") && *j->pos == '"') {
            rc = ngx_http_harbor_json_string(j, &value);

            if (rc == 0) {
                *match = ngx_http_harbor_json_eq(&value, artifact_type->data,
                                                 artifact_type->len, 0);
            }

        } else {
            rc = ngx_http_harbor_json_skip(j);
        }

        if (rc != 0) {
            return NGX_ERROR;
        }
    }

    return (rc == 0) ? NGX_OK : NGX_ERROR;
}


/*
 * re-emits a referrers index with only the descriptors whose artifactType
 * equals the filter; the descriptors are copied byte for byte
 */

ngx_int_t
ngx_http_harbor_referrers_filter(ngx_pool_t *pool, u_char *p, size_t len,
    ngx_str_t *artifact_type, ngx_str_t *out)
{
    int                          first, dfirst, rc;
    u_char                      *q;
    size_t                       size;
    ngx_str_t                   *d;
    ngx_uint_t                   i, match, found;
    ngx_array_t                  keep;
    const u_char                *start;
    ngx_http_harbor_json_t       j;
    ngx_http_harbor_json_str_t   key;

    static u_char  head[] = "{\"schemaVersion\":2,\"mediaType\":"
                            "\"application/vnd.oci.image.index.v1+json\","
                            "\"manifests\":[";

    if (ngx_array_init(&keep, pool, 4, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_harbor_json_init(&j, p, len, NGX_HTTP_HARBOR_JSON_DEPTH, 0);

    found = 0;

    if (ngx_http_harbor_json_open(&j, '{') != 0) {
        return NGX_DECLINED;
    }

    first = 1;

    while ((rc = ngx_http_harbor_json_member(&j, &first, &key)) == 1) {

        if (!ngx_http_harbor_json_is(&key, "manifests")) {
            if (ngx_http_harbor_json_skip(&j) != 0) {
                return NGX_DECLINED;
            }

            continue;
        }

        if (found || ngx_http_harbor_json_open(&j, '[') != 0) {
            return NGX_DECLINED;
        }

        found = 1;
        dfirst = 1;

        while ((rc = ngx_http_harbor_json_element(&j, &dfirst)) == 1) {
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

                d->data = (u_char *) start;
                d->len = j.pos - start;
            }
        }

        if (rc != 0) {
            return NGX_DECLINED;
        }
    }

    if (rc != 0 || ngx_http_harbor_json_end(&j) != 0 || !found) {
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
