
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * GET|HEAD /v2/<name>/blobs/<digest>.  A blob is served only for a
 * repository that links it, from a regular file opened through the open
 * file cache, as a file buffer (sendfile) with r->allow_ranges set so that
 * nginx's range filter answers Range requests (206, 416).  Depending on
 * harbor_verify the file is trusted, looked up in the shared zone of files
 * verified before, or hashed in the thread pool first; a file that does
 * not match its digest is never sent: the request becomes a miss.
 *
 * Hashing is bounded per worker (ngx_http_harbor_verify.c): under "once"
 * concurrent requests for one file share a single hash, and a worker has
 * at most harbor_verify_max_hashes (default 16) hashes in flight.  A
 * request that would start one more is answered 503 UNAVAILABLE with
 * "Retry-After: 1" (distribution's code for a registry that cannot serve
 * now), or passed to harbor_miss_pass when there is one; it is not a
 * miss (no miss event: the blob is there).  Counters and the mismatch
 * log line are per hash, not per request that waited for it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_module.h"


static ngx_int_t ngx_http_harbor_blob_verified(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_http_harbor_blob_send(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx);
static ngx_int_t ngx_http_harbor_blob_busy(ngx_http_request_t *r);


ngx_int_t
ngx_http_harbor_blob_handler(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_uint_t                   coalesce;
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    r->connection->log->action = "opening blob";

    /* a blob's key is taken afresh, HEAD too: a corrupt blob is 404 */

    rc = ngx_http_harbor_open_content(r, ctx, 0);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_harbor_miss(r, NGX_HTTP_HARBOR_BLOB_UNKNOWN, NULL);
    }

    /* the client has these bytes already: nothing to verify */

    if (ngx_http_harbor_if_none_match(r, &ctx->digest.value) == NGX_OK) {

        if (ngx_http_harbor_digest_headers(r, &ctx->digest.value) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_harbor_count(r, NGX_HTTP_HARBOR_HITS);

        return ngx_http_harbor_not_modified(r);
    }

    switch (hlcf->verify) {

    case NGX_HTTP_HARBOR_VERIFY_OFF:
        return ngx_http_harbor_blob_send(r, ctx);

    case NGX_HTTP_HARBOR_VERIFY_ONCE:

        rc = ngx_http_harbor_file_key(r, ctx, 0);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_DECLINED) {
            return ngx_http_harbor_miss(r, NGX_HTTP_HARBOR_BLOB_UNKNOWN, NULL);
        }

        switch (ngx_http_harbor_shm_lookup(r, &ctx->vkey, NULL)) {

        case NGX_OK:
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "harbor: \"%s\" verified before", ctx->path.data);
            return ngx_http_harbor_blob_send(r, ctx);

        case NGX_ABORT:
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "harbor: digest mismatch in \"%s\", remembered "
                          "from an earlier hash", ctx->path.data);
            return ngx_http_harbor_miss(r, NGX_HTTP_HARBOR_BLOB_UNKNOWN, NULL);

        default:
            break;
        }

        /* a hash of this very file under way in the worker is shared */
        coalesce = 1;
        break;

    default: /* NGX_HTTP_HARBOR_VERIFY_ALWAYS */
        coalesce = 0;
        break;
    }

    r->connection->log->action = "verifying blob";

    ctx->done = ngx_http_harbor_blob_verified;

    rc = ngx_http_harbor_verify(r, ctx, coalesce);

    if (rc == NGX_BUSY) {
        return ngx_http_harbor_blob_busy(r);
    }

    return rc;
}


/*
 * the worker hashes as many blobs as it may: 503 UNAVAILABLE, or the
 * primary through harbor_miss_pass
 */

static ngx_int_t
ngx_http_harbor_blob_busy(ngx_http_request_t *r)
{
    ngx_str_t                    retry;
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    if (hlcf->miss_pass.len) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "harbor busy, passed to \"%V\"", &hlcf->miss_pass);

        return ngx_http_named_location(r, &hlcf->miss_pass);
    }

    ngx_str_set(&retry, "1");

    if (ngx_http_harbor_add_header(r, "Retry-After", &retry) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_harbor_send_error(r, NGX_HTTP_HARBOR_UNAVAILABLE, 0,
                                      "too many blobs are being verified, "
                                      "retry later");
}


static ngx_int_t
ngx_http_harbor_blob_verified(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, ngx_int_t rc)
{
    ngx_http_harbor_loc_conf_t  *hlcf;

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a request that waited for another's hash neither counts nor logs */

    if (rc == NGX_DECLINED) {

        if (ctx->hashed) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "harbor: digest mismatch in \"%s\"",
                          ctx->path.data);
            ngx_http_harbor_count(r, NGX_HTTP_HARBOR_VERIFY_FAILED);

            hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

            if (hlcf->verify == NGX_HTTP_HARBOR_VERIFY_ONCE) {
                ngx_http_harbor_shm_insert(r, &ctx->vkey, NULL, 1);
            }
        }

        return ngx_http_harbor_miss(r, NGX_HTTP_HARBOR_BLOB_UNKNOWN, NULL);
    }

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    if (ctx->hashed) {
        ngx_http_harbor_count(r, NGX_HTTP_HARBOR_VERIFY_OK);

        if (hlcf->verify == NGX_HTTP_HARBOR_VERIFY_ONCE) {
            ngx_http_harbor_shm_insert(r, &ctx->vkey, NULL, 0);
        }
    }

    return ngx_http_harbor_blob_send(r, ctx);
}


static ngx_int_t
ngx_http_harbor_blob_send(ngx_http_request_t *r, ngx_http_harbor_ctx_t *ctx)
{
    ngx_str_t  cache;

    ngx_http_harbor_count(r, NGX_HTTP_HARBOR_HITS);
    ngx_http_harbor_served(r, &ctx->digest.value);

    r->connection->log->action = "sending blob to client";

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = ctx->of.size;
    ngx_str_set(&r->headers_out.content_type, "application/octet-stream");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    ngx_str_set(&cache, "max-age=31536000, immutable");

    if (ngx_http_harbor_digest_headers(r, &ctx->digest.value) != NGX_OK
        || ngx_http_harbor_add_header(r, "Cache-Control", &cache) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->allow_ranges = 1;

    return ngx_http_harbor_send_file(r, ctx);
}
