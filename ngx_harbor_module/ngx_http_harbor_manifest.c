
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * GET|HEAD /v2/<name>/manifests/<tag|digest>.  A manifest is small (at
 * most harbor_manifest_max_size), so it is read into memory, hashed, and
 * sent from that same buffer.  Its media type is detected from the JSON as
 * distribution 2.8 does, and OCI types are refused to clients whose Accept
 * lines do not list them.  If-None-Match is checked here because the
 * not_modified filter accepts only the quoted form and clients send both.
 *
 * A manifest that matched its digest is remembered in the shared zone
 * with its media type, and when it is small (NGX_HTTP_HARBOR_MANIFEST_KEEP)
 * with its bytes, keyed like a verified blob (device, inode, size, mtime
 * and ctime to the nanosecond, digest): a repeat request for the unchanged
 * file neither hashes nor scans it, a HEAD does not read it, and a GET of
 * a small one reads nothing either.  A file replaced or written to has
 * another key and is hashed again, whatever harbor_verify says: manifests
 * are always verified.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_module.h"


static ngx_int_t ngx_http_harbor_manifest_known(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, ngx_str_t *type, u_char **body);
static ngx_int_t ngx_http_harbor_manifest_read(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, u_char **body, ngx_str_t *type);
static void ngx_http_harbor_manifest_kept(ngx_http_harbor_ctx_t *ctx,
    ngx_str_t *kept, ngx_str_t *type, u_char **body);
static ngx_int_t ngx_http_harbor_manifest_keep(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, ngx_str_t *type, u_char *body);
static ngx_int_t ngx_http_harbor_accepts(ngx_http_request_t *r,
    ngx_str_t *accept);


static ngx_str_t  ngx_http_harbor_oci_manifest =
    ngx_string("application/vnd.oci.image.manifest.v1+json");
static ngx_str_t  ngx_http_harbor_oci_index =
    ngx_string("application/vnd.oci.image.index.v1+json");


ngx_int_t
ngx_http_harbor_manifest_handler(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx)
{
    u_char                      *body;
    time_t                       mtime;
    ngx_int_t                    rc;
    ngx_str_t                    path, type, parts[6];
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    r->connection->log->action = "reading manifest";

    if (ctx->digest.value.len == 0) {

        /* by tag: the tag's current link names the digest */

        parts[0] = hlcf->v2;
        ngx_str_set(&parts[1], "/repositories/");
        parts[2] = ctx->repo;
        ngx_str_set(&parts[3], "/_manifests/tags/");
        parts[4] = ctx->reference;
        ngx_str_set(&parts[5], "/current/link");

        if (ngx_http_harbor_path(r->pool, &path, parts, 6) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* the link's mtime only for harbor_tag_max_age: it costs a stat */

        rc = ngx_http_harbor_read_link(r, &path, &ctx->digest,
                                       NGX_HTTP_HARBOR_FRESH,
                                       hlcf->tag_max_age ? &mtime : NULL);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_DECLINED) {
            return ngx_http_harbor_miss(r, NGX_HTTP_HARBOR_MANIFEST_UNKNOWN,
                                        NULL);
        }

        /* harbor_tag_max_age: the tag is revalidated through the primary */

        if (hlcf->tag_max_age && ngx_time() - mtime > hlcf->tag_max_age) {
            rc = ngx_http_harbor_revalidate(r, ctx);

            if (rc != NGX_DECLINED) {
                return rc;
            }
        }
    }

    rc = ngx_http_harbor_open_content(r, ctx, NGX_HTTP_HARBOR_VKEY_MANIFEST
                                              |NGX_HTTP_HARBOR_KEY_MEMO);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_harbor_miss(r, NGX_HTTP_HARBOR_MANIFEST_UNKNOWN, NULL);
    }

    if ((size_t) ctx->of.size > hlcf->manifest_max_size) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "harbor: manifest \"%s\" is too large (%O bytes)",
                      ctx->path.data, ctx->of.size);
        return ngx_http_harbor_miss(r, NGX_HTTP_HARBOR_MANIFEST_UNKNOWN, NULL);
    }

    /* a manifest verified before: its media type was remembered */

    body = NULL;

    rc = ngx_http_harbor_manifest_known(r, ctx, &type, &body);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_ABORT) {
        return ngx_http_harbor_miss(r, NGX_HTTP_HARBOR_MANIFEST_UNKNOWN, NULL);
    }

    if (rc == NGX_DECLINED || (body == NULL && r->method != NGX_HTTP_HEAD)) {
        rc = ngx_http_harbor_manifest_read(r, ctx, &body,
                                           (rc == NGX_DECLINED) ? &type
                                                                : NULL);
        switch (rc) {

        case NGX_OK:
            break;

        case NGX_DECLINED:
            return ngx_http_harbor_miss(r, NGX_HTTP_HARBOR_MANIFEST_UNKNOWN,
                                        NULL);

        case NGX_ABORT:
            return ngx_http_harbor_send_error(r, NGX_HTTP_HARBOR_UNKNOWN, 0,
                                              "unrecognized manifest");

        default: /* NGX_ERROR */
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (type.len == ngx_http_harbor_oci_manifest.len
        && ngx_strncmp(type.data, ngx_http_harbor_oci_manifest.data,
                       type.len) == 0
        && ngx_http_harbor_accepts(r, &ngx_http_harbor_oci_manifest)
           != NGX_OK)
    {
        return ngx_http_harbor_send_error(r,
                       NGX_HTTP_HARBOR_MANIFEST_UNKNOWN, 0,
                       "OCI manifest found, but accept header does not "
                       "support OCI manifests");
    }

    if (type.len == ngx_http_harbor_oci_index.len
        && ngx_strncmp(type.data, ngx_http_harbor_oci_index.data,
                       type.len) == 0
        && ngx_http_harbor_accepts(r, &ngx_http_harbor_oci_index)
           != NGX_OK)
    {
        return ngx_http_harbor_send_error(r,
                       NGX_HTTP_HARBOR_MANIFEST_UNKNOWN, 0,
                       "OCI index found, but accept header does not "
                       "support OCI indexes");
    }

    if (ngx_http_harbor_digest_headers(r, &ctx->digest.value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_harbor_if_none_match(r, &ctx->digest.value) == NGX_OK) {
        ngx_http_harbor_count(r, NGX_HTTP_HARBOR_HITS);
        return ngx_http_harbor_not_modified(r);
    }

    ngx_http_harbor_count(r, NGX_HTTP_HARBOR_HITS);
    ngx_http_harbor_served(r, &ctx->digest.value);

    if (ctx->stale) {
        ngx_http_harbor_count(r, NGX_HTTP_HARBOR_STALE);
    }

    r->connection->log->action = "sending manifest to client";

    return ngx_http_harbor_send_memory(r, NGX_HTTP_OK, &type, body,
                                       ctx->of.size);
}


/*
 * NGX_OK if the manifest of ctx->path was verified before: *type is its
 * media type and *body the manifest when the zone kept it whole; else
 * NGX_DECLINED, with ctx->vkey the file's key to remember it under;
 * NGX_ABORT if the file is gone.  The worker's memo of the key will do
 * while nothing is to be read from the file (a HEAD, a manifest kept
 * whole); bytes that are read are read from a file open now, on a key
 * just taken.
 */

static ngx_int_t
ngx_http_harbor_manifest_known(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, ngx_str_t *type, u_char **body)
{
    ngx_int_t   rc;
    ngx_str_t   kept;
    ngx_uint_t  flags;

    flags = NGX_HTTP_HARBOR_VKEY_MANIFEST|NGX_HTTP_HARBOR_KEY_MEMO;

    for ( ;; ) {

        rc = ngx_http_harbor_file_key(r, ctx, flags);

        if (rc != NGX_OK) {
            return (rc == NGX_DECLINED) ? NGX_ABORT : NGX_ERROR;
        }

        /* a HEAD needs the media type only */

        kept.len = (r->method == NGX_HTTP_HEAD)
                   ? 1 + NGX_HTTP_HARBOR_MEDIA_TYPE_MAX : 0;

        rc = ngx_http_harbor_shm_lookup(r, &ctx->vkey, &kept);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_OK) {
            ngx_http_harbor_manifest_kept(ctx, &kept, type, body);

            if (*body != NULL || r->method == NGX_HTTP_HEAD) {
                return NGX_OK;
            }
        }

        /* NGX_ABORT: only blobs are remembered as bad; hashed again */

        if (!ctx->memo_key) {
            return (rc == NGX_OK) ? NGX_OK : NGX_DECLINED;
        }

        flags &= ~NGX_HTTP_HARBOR_KEY_MEMO;
    }
}


/*
 * Reads the manifest open in ctx->of into *body.  With type (a manifest
 * not remembered yet) it is also hashed, its media type found, and the
 * result remembered under ctx->vkey.  NGX_DECLINED: a miss (truncated, or
 * not its digest); NGX_ABORT: not a manifest distribution knows.
 */

static ngx_int_t
ngx_http_harbor_manifest_read(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, u_char **body, ngx_str_t *type)
{
    u_char     *p, hash[NGX_HTTP_HARBOR_HASH_MAX];
    ngx_int_t   rc;

    /* we need to allocate all before the header would be sent */

    p = ngx_pnalloc(r->pool, ctx->of.size ? (size_t) ctx->of.size : 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_harbor_read_file(r, &ctx->path, &ctx->of, p);

    if (rc != NGX_OK) {
        return rc;
    }

    *body = p;

    if (type == NULL) {
        return NGX_OK;
    }

    if (ngx_http_harbor_hash(ctx->digest.type, p, ctx->of.size, hash)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_harbor_hash_equal(&ctx->digest, hash) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "harbor: digest mismatch in \"%s\"", ctx->path.data);
        ngx_http_harbor_count(r, NGX_HTTP_HARBOR_VERIFY_FAILED);
        return NGX_DECLINED;
    }

    ngx_http_harbor_count(r, NGX_HTTP_HARBOR_VERIFY_OK);

    if (ngx_http_harbor_manifest_type(r->pool, p, ctx->of.size, type)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "harbor: unrecognized manifest in \"%s\"",
                      ctx->path.data);
        return NGX_ABORT;
    }

    return ngx_http_harbor_manifest_keep(r, ctx, type, p);
}


/*
 * What the zone keeps of a verified manifest: the length of its media type
 * in one byte, the type, and the manifest itself when it is small
 */

static ngx_int_t
ngx_http_harbor_manifest_keep(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, ngx_str_t *type, u_char *body)
{
    u_char     *p;
    size_t      size;
    ngx_str_t   kept;

    if (type->len > NGX_HTTP_HARBOR_MEDIA_TYPE_MAX) {
        return NGX_OK;
    }

    size = (ctx->of.size <= NGX_HTTP_HARBOR_MANIFEST_KEEP)
           ? (size_t) ctx->of.size : 0;

    kept.len = 1 + type->len + size;
    kept.data = ngx_pnalloc(r->pool, kept.len);
    if (kept.data == NULL) {
        return NGX_ERROR;
    }

    p = kept.data;
    *p++ = (u_char) type->len;
    p = ngx_cpymem(p, type->data, type->len);
    ngx_memcpy(p, body, size);

    ngx_http_harbor_shm_insert(r, &ctx->vkey, &kept, 0);

    return NGX_OK;
}


/* the media type, and the manifest if it was kept whole, from the zone */

static void
ngx_http_harbor_manifest_kept(ngx_http_harbor_ctx_t *ctx, ngx_str_t *kept,
    ngx_str_t *type, u_char **body)
{
    size_t  len;

    len = (kept->len > 0) ? kept->data[0] : 0;

    if (kept->len < 1 + len) {
        ngx_str_null(type);
        return;
    }

    type->data = kept->data + 1;
    type->len = len;

    if (ctx->of.size > 0 && kept->len - 1 - len == (size_t) ctx->of.size) {
        *body = kept->data + 1 + len;
    }
}


/*
 * NGX_OK if the request has no Accept line at all, or one of its lines
 * lists the type itself, "* / *" or "application/ *"
 */

static ngx_int_t
ngx_http_harbor_accepts(ngx_http_request_t *r, ngx_str_t *accept)
{
    u_char           *p, *last, *start, *end;
    size_t            len;
    ngx_uint_t        i, seen;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    seen = 0;
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != sizeof("Accept") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Accept",
                               sizeof("Accept") - 1) != 0)
        {
            continue;
        }

        seen = 1;

        p = h[i].value.data;
        last = p + h[i].value.len;

        while (p < last) {

            start = p;

            while (p < last && *p != ',') {
                p++;
            }

            end = ngx_strlchr(start, p, ';');
            if (end == NULL) {
                end = p;
            }

            if (p < last) {
                p++;
            }

            while (start < end && (*start == ' ' || *start == '\t')) {
                start++;
            }

            while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
                end--;
            }

            len = end - start;

            if ((len == accept->len
                 && ngx_strncasecmp(start, accept->data, len) == 0)
                || (len == 3 && ngx_strncmp(start, "*/*", 3) == 0)
                || (len == sizeof("application/*") - 1
                    && ngx_strncasecmp(start, (u_char *) "application/*",
                                       len) == 0))
            {
                return NGX_OK;
            }
        }
    }

    return seen ? NGX_DECLINED : NGX_OK;
}
