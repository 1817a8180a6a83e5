
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * The content handler: method check, the request's route
 * (ngx_http_harbor_request.c) and dispatch to the manifest, blob and list
 * handlers; plus the helpers every handler uses to answer (headers,
 * in-memory bodies, If-None-Match, query arguments, misses).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_module.h"

#if (NGX_HTTP_HARBOR_EVENTS)
#include "ngx_http_harbor_events.h"
#endif


static ngx_int_t ngx_http_harbor_ping(ngx_http_request_t *r);
static ngx_int_t ngx_http_harbor_not_allowed(ngx_http_request_t *r);
static ngx_int_t ngx_http_harbor_api_version(ngx_http_request_t *r);


ngx_str_t  ngx_http_harbor_json_type =
    ngx_string("application/json; charset=utf-8");


ngx_int_t
ngx_http_harbor_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_harbor_ctx_t       *ctx;
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    if (!hlcf->registry) {
        return NGX_DECLINED;
    }

    /* made by harbor_auth already, or now */

    ctx = ngx_http_harbor_request(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->served = 1;
    ctx->registry = 1;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        ngx_http_harbor_count_request(r, NGX_HTTP_HARBOR_OTHER);
        return ngx_http_harbor_not_allowed(r);
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    ngx_http_harbor_count_request(r, ctx->kind);

    if (ctx->invalid) {
        return ngx_http_harbor_send_error(r, ctx->err, ctx->err_status,
                                          ctx->err_message);
    }

    switch (ctx->kind) {

    case NGX_HTTP_HARBOR_PING:
        rc = ngx_http_harbor_ping(r);
        break;

    case NGX_HTTP_HARBOR_CATALOG:
        rc = ngx_http_harbor_catalog_handler(r, ctx);
        break;

    case NGX_HTTP_HARBOR_MANIFEST:
        rc = ngx_http_harbor_manifest_handler(r, ctx);
        break;

    case NGX_HTTP_HARBOR_BLOB:
        rc = ngx_http_harbor_blob_handler(r, ctx);
        break;

    case NGX_HTTP_HARBOR_TAGS:
        rc = ngx_http_harbor_tags_handler(r, ctx);
        break;

    default: /* NGX_HTTP_HARBOR_REFERRERS */
        rc = ngx_http_harbor_referrers_handler(r, ctx);
        break;
    }

    return ngx_http_harbor_internal_error(r, rc);
}


/*
 * a 5xx the handlers returned becomes the OCI error UNKNOWN, so that it
 * carries the JSON body and the API version header too
 */

ngx_int_t
ngx_http_harbor_internal_error(ngx_http_request_t *r, ngx_int_t rc)
{
    if (rc < NGX_HTTP_INTERNAL_SERVER_ERROR || r->header_sent) {
        return rc;
    }

    return ngx_http_harbor_send_error(r, NGX_HTTP_HARBOR_UNKNOWN, rc, NULL);
}


/*
 * 503 while the store cannot be served (harbor_root missing, replaced or
 * unreadable), so that health checks take the edge out
 */

static ngx_int_t
ngx_http_harbor_ping(ngx_http_request_t *r)
{
    ngx_str_t                    type;
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    if (ngx_http_harbor_root_usable(r, hlcf->store) != NGX_OK) {
        return ngx_http_harbor_send_error(r, NGX_HTTP_HARBOR_UNAVAILABLE, 0,
                                          "the store is not usable");
    }

    type = ngx_http_harbor_json_type;

    return ngx_http_harbor_send_memory(r, NGX_HTTP_OK, &type,
                                       (u_char *) "{}", 2);
}


static ngx_int_t
ngx_http_harbor_not_allowed(ngx_http_request_t *r)
{
    ngx_int_t  rc;
    ngx_str_t  allow;

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    ngx_str_set(&allow, "GET, HEAD");

    if (ngx_http_harbor_add_header(r, "Allow", &allow) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_harbor_send_error(r, NGX_HTTP_HARBOR_UNSUPPORTED, 0,
                                      "the edge is read-only");
}


ngx_int_t
ngx_http_harbor_add_header(ngx_http_request_t *r, char *key,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value = *value;

#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


/*
 * sends the header with Docker-Distribution-API-Version, which every
 * answer of the read path carries
 */

ngx_int_t
ngx_http_harbor_send_header(ngx_http_request_t *r)
{
    if (ngx_http_harbor_api_version(r) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_send_header(r);
}


static ngx_int_t
ngx_http_harbor_api_version(ngx_http_request_t *r)
{
    ngx_str_t  version;

    ngx_str_set(&version, NGX_HTTP_HARBOR_API_VERSION);

    return ngx_http_harbor_add_header(r, "Docker-Distribution-API-Version",
                                      &version);
}


/* an answer of the read path (or of harbor_auth) from memory */

ngx_int_t
ngx_http_harbor_send_memory(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *body, size_t len)
{
    if (ngx_http_harbor_api_version(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_harbor_send_body(r, status, type, body, len);
}


/*
 * The whole response, from memory that lives as long as the request (the
 * pool, or static); the metrics and webhook locations answer with it too.
 */

ngx_int_t
ngx_http_harbor_send_body(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *body, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_type_lowcase = NULL;

    /* the body is exactly what we say: no ranges, no 304 from the filter */
    r->allow_ranges = 0;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->pos = body;
    b->last = body + len;
    b->memory = len ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * NGX_OK if If-None-Match names the digest: quoted, unquoted, weak, or "*"
 */

ngx_int_t
ngx_http_harbor_if_none_match(ngx_http_request_t *r, ngx_str_t *digest)
{
    u_char           *p, *last, *start, *end;
    ngx_table_elt_t  *h;

    h = r->headers_in.if_none_match;

    if (h == NULL) {
        return NGX_DECLINED;
    }

    p = h->value.data;
    last = p + h->value.len;

    while (p < last) {

        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        start = p;

        while (p < last && *p != ',') {
            p++;
        }

        end = p;

        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }

        if (end - start == 1 && *start == '*') {
            return NGX_OK;
        }

        if (end - start > 2 && start[0] == 'W' && start[1] == '/') {
            start += 2;
        }

        if (end - start >= 2 && *start == '"' && end[-1] == '"') {
            start++;
            end--;
        }

        if ((size_t) (end - start) == digest->len
            && ngx_strncmp(start, digest->data, digest->len) == 0)
        {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/*
 * a query argument, URL-decoded into the request pool;
 * NGX_DECLINED if absent
 */

ngx_int_t
ngx_http_harbor_arg(ngx_http_request_t *r, char *name, size_t len,
    ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   raw;

    if (ngx_http_arg(r, (u_char *) name, len, &raw) != NGX_OK) {
        return NGX_DECLINED;
    }

    dst = ngx_pnalloc(r->pool, raw.len + 1);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    value->data = dst;
    src = raw.data;

    ngx_unescape_uri(&dst, &src, raw.len, 0);

    value->len = dst - value->data;

    return NGX_OK;
}


/*
 * a manifest or blob is absent or failed verification: tell the replicator
 * (when the events module is built in), then pass the request to
 * harbor_miss_pass, or answer with the OCI error
 */

ngx_int_t
ngx_http_harbor_miss(ngx_http_request_t *r, ngx_uint_t err, char *message)
{
    ngx_int_t                    rc;
    ngx_http_harbor_ctx_t       *ctx;
    ngx_http_harbor_loc_conf_t  *hlcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    /* harbor_fill: the replicator fetches it once, the client follows */

    if (hlcf->fill && ctx->fill == NULL
        && (ctx->kind == NGX_HTTP_HARBOR_BLOB
            || ctx->kind == NGX_HTTP_HARBOR_MANIFEST))
    {
        rc = ngx_http_harbor_fill(r, ctx, err, message);

        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    ngx_http_harbor_count(r, NGX_HTTP_HARBOR_MISSES);

#if (NGX_HTTP_HARBOR_EVENTS)

    /* the store's name (ns prefix applied): that is what must be filled */

    ngx_http_harbor_events_miss(r, &ctx->repo, &ctx->reference,
                                (ctx->kind == NGX_HTTP_HARBOR_BLOB)
                                ? NGX_HTTP_HARBOR_MISS_BLOB
                                : NGX_HTTP_HARBOR_MISS_MANIFEST);

#endif

    return ngx_http_harbor_miss_fallback(r, err, message);
}


/* what a miss gets without a fill: harbor_miss_pass, or the OCI error */

ngx_int_t
ngx_http_harbor_miss_fallback(ngx_http_request_t *r, ngx_uint_t err,
    char *message)
{
    ngx_http_harbor_ctx_t       *ctx;
    ngx_http_harbor_loc_conf_t  *hlcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    if (hlcf->miss_pass.len) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "harbor miss, passed to \"%V\"", &hlcf->miss_pass);

        ctx->passed = 1;

        return ngx_http_named_location(r, &hlcf->miss_pass);
    }

    return ngx_http_harbor_send_error(r, err, 0, message);
}


/*
 * Docker-Content-Digest: D and ETag: "D"; the ETag goes into
 * r->headers_out.etag so that nginx's filters know it
 */

ngx_int_t
ngx_http_harbor_digest_headers(ngx_http_request_t *r, ngx_str_t *digest)
{
    u_char           *p;
    ngx_table_elt_t  *etag;

    if (ngx_http_harbor_add_header(r, "Docker-Content-Digest", digest)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    etag = ngx_list_push(&r->headers_out.headers);
    if (etag == NULL) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, digest->len + 2);
    if (p == NULL) {
        etag->hash = 0;
        return NGX_ERROR;
    }

    etag->hash = 1;
    ngx_str_set(&etag->key, "ETag");
    etag->value.data = p;
    etag->value.len = digest->len + 2;

#if (nginx_version >= 1023000)
    etag->next = NULL;
#endif

    *p++ = '"';
    p = ngx_cpymem(p, digest->data, digest->len);
    *p = '"';

    r->headers_out.etag = etag;

    return NGX_OK;
}


/*
 * 304 with the digest headers already set, no body
 */

ngx_int_t
ngx_http_harbor_not_modified(ngx_http_request_t *r)
{
    r->headers_out.status = NGX_HTTP_NOT_MODIFIED;
    r->headers_out.content_type.len = 0;
    r->headers_out.content_type_len = 0;
    r->headers_out.content_length_n = -1;
    r->allow_ranges = 0;
    r->header_only = 1;

    return ngx_http_harbor_send_header(r);
}


/*
 * Sends the file open in ctx->of as the whole body, as a file buffer
 * (sendfile, and nginx's range filter when r->allow_ranges is set); the
 * headers are set by the caller.  As in nginx's static module, everything
 * is allocated before the header is sent.
 */

ngx_int_t
ngx_http_harbor_send_file(ngx_http_request_t *r, ngx_http_harbor_ctx_t *ctx)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->file = ngx_pcalloc(r->pool, sizeof(ngx_file_t));
    if (b->file == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_harbor_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->file_pos = 0;
    b->file_last = ctx->of.size;

    b->in_file = b->file_last ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    b->file->fd = ctx->of.fd;
    b->file->name = ctx->path;
    b->file->log = r->connection->log;
    b->file->directio = ctx->of.is_directio;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * digest went out from the store: the replicator's budget evicts what was
 * served least recently (with the events module; else nothing)
 */

void
ngx_http_harbor_served(ngx_http_request_t *r, ngx_str_t *digest)
{
#if (NGX_HTTP_HARBOR_EVENTS)
    ngx_http_harbor_events_served(r, digest);
#endif
}
