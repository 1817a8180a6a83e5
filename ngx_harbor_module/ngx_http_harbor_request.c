
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * The route: what a request asks for, worked out once and read by the
 * three places that need it, the auth module's ACCESS handler, the content
 * handler and the metrics module's LOG handler and variables.  Whichever
 * runs first builds it (ngx_http_harbor_request()); the others find it.
 *
 * It lives in the context of ngx_http_harbor_module, which is allocated on
 * a pool cleanup of the request.  An internal redirect (harbor_miss_pass's
 * named location, an error_page) zeroes every module's context, so
 * ngx_http_harbor_get_request() finds it again through that cleanup and
 * puts it back, as ngx_http_realip_module does with its own; the cleanup
 * frees nothing, the pool owns the memory.
 *
 * A route belongs to the URI and arguments it was made from.  A request
 * that comes back with another URI (an error_page to a URI) is routed
 * again; one that comes back with the same URI keeps its route, so the
 * log phase after harbor_miss_pass still knows what was asked for.  A
 * request that enters the content handler a second time (an error_page to
 * a harbor_registry location after a miss was passed on) is routed afresh:
 * nothing of the first run (a tag's digest, an open file, a hash) is
 * carried into the second.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_module.h"


static ngx_int_t ngx_http_harbor_route(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx);
static ngx_int_t ngx_http_harbor_route_invalid(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, ngx_uint_t err, char *log, char *message);
static ngx_int_t ngx_http_harbor_route_reference(ngx_http_harbor_ctx_t *ctx,
    ngx_str_t *ref, ngx_uint_t *err, char **log, char **message);
static ngx_int_t ngx_http_harbor_map_ns(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, ngx_array_t *nss);
static void ngx_http_harbor_request_cleanup(void *data);


#define ngx_http_harbor_str_eq(a, b)                                          \
    ((a)->len == (b)->len                                                     \
     && ((a)->data == (b)->data                                               \
         || ngx_strncmp((a)->data, (b)->data, (a)->len) == 0))


/*
 * The request's route: found, or made from r->uri and r->args with the
 * harbor_ns of the current location.  NULL: no memory.
 */

ngx_http_harbor_ctx_t *
ngx_http_harbor_request(ngx_http_request_t *r)
{
    ngx_uint_t              stale;
    ngx_pool_cleanup_t     *cln;
    ngx_http_harbor_ctx_t  *ctx;

    ctx = ngx_http_harbor_get_request(r);

    if (ctx != NULL && !ctx->served
        && ngx_http_harbor_str_eq(&ctx->uri, &r->uri)
        && ngx_http_harbor_str_eq(&ctx->args, &r->args))
    {
        return ctx;
    }

    /*
     * A tag sent to the primary for revalidation that comes back here
     * (error_page ... = @stale after the primary failed) is served stale:
     * the one thing the new route keeps of the old.
     */
    stale = ctx != NULL && ctx->revalidated;

    if (ctx == NULL) {
        cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_harbor_ctx_t));
        if (cln == NULL) {
            return NULL;
        }

        cln->handler = ngx_http_harbor_request_cleanup;
        ctx = cln->data;

        ngx_http_set_ctx(r, ctx, ngx_http_harbor_module);

    } else if (ctx->pending || ctx->wait_for != NULL || ctx->guard.timer_set)
    {
        /* a request waiting for a hash is blocked: it cannot get here */
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "harbor: request routed again while hashing");
        return NULL;
    }

    ngx_memzero(ctx, sizeof(ngx_http_harbor_ctx_t));

    ctx->request = r;
    ctx->stale = stale;

    if (ngx_http_harbor_route(r, ctx) != NGX_OK) {
        return NULL;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "harbor route: %ui \"%V\" \"%V\"%s",
                   ctx->kind, &ctx->repo, &ctx->reference,
                   ctx->invalid ? " (invalid)" : "");

    return ctx;
}


/* the request's route if it has one, also after an internal redirect */

ngx_http_harbor_ctx_t *
ngx_http_harbor_get_request(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_harbor_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    if (ctx != NULL || !(r->internal || r->filter_finalize)) {
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {

        if (cln->handler != ngx_http_harbor_request_cleanup) {
            continue;
        }

        ctx = cln->data;

        /* subrequests share the pool: each has its own route */

        if (ctx->request == r) {
            ngx_http_set_ctx(r, ctx, ngx_http_harbor_module);
            return ctx;
        }
    }

    return NULL;
}


static void
ngx_http_harbor_request_cleanup(void *data)
{
    /* void: only a marker to find the context by */
}


/*
 * Fills the route.  Routing is done from the right because a repository
 * name contains slashes: the last two components of the URI say what is
 * asked for, everything before them is the name.  Every part is checked
 * against its grammar here, before any handler builds a path from it;
 * what fails sets ctx->invalid and the OCI error the content handler
 * answers with, in the order distribution checks them.  The name (and
 * repo) is kept whenever it is valid, even for an endpoint the edge does
 * not serve, since that is the scope a token must grant.
 *
 * NGX_ERROR: no memory.
 */

static ngx_int_t
ngx_http_harbor_route(ngx_http_request_t *r, ngx_http_harbor_ctx_t *ctx)
{
    char                        *log, *message;
    ngx_int_t                    rc, ref_rc;
    ngx_str_t                    name, ref;
    ngx_uint_t                   valid, err;
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    ctx->uri = r->uri;
    ctx->args = r->args;
    ctx->registry = hlcf->registry ? 1 : 0;

    ctx->kind = ngx_http_harbor_split_uri(&r->uri, &name, &ref);

    /* the name and the reference each on their own, for the logs too */

    valid = (name.len > 0 && he_oci_name(name.data, name.len));
    rc = NGX_OK;

    if (valid) {
        ctx->name = name;

        rc = ngx_http_harbor_map_ns(r, ctx, hlcf->ns);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    ref_rc = NGX_OK;
    err = 0;
    log = NULL;
    message = NULL;

    if (ref.len) {
        ref_rc = ngx_http_harbor_route_reference(ctx, &ref, &err, &log,
                                                 &message);
    }

    /* what fails first, in the order distribution checks */

    switch (ctx->kind) {

    case NGX_HTTP_HARBOR_PING:
    case NGX_HTTP_HARBOR_CATALOG:
        return NGX_OK;

    case NGX_HTTP_HARBOR_TAGS:
        break;

    case NGX_HTTP_HARBOR_OTHER:
        goto unsupported;

    default:
        if (ref.len == 0) {
            goto unsupported;
        }
    }

    if (name.len == 0) {
        goto unsupported;
    }

    if (!valid) {
        return ngx_http_harbor_route_invalid(r, ctx,
                                             NGX_HTTP_HARBOR_NAME_INVALID,
                                             "invalid repository name", NULL);
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_harbor_route_invalid(r, ctx,
                                             NGX_HTTP_HARBOR_NAME_INVALID,
                                             "repository name too long with "
                                             "the prefix of ns", NULL);
    }

    if (ref_rc != NGX_OK) {
        return ngx_http_harbor_route_invalid(r, ctx, err, log, message);
    }

    return NGX_OK;

unsupported:

    ctx->kind = NGX_HTTP_HARBOR_OTHER;
    ctx->invalid = 1;
    ctx->err = NGX_HTTP_HARBOR_UNSUPPORTED;
    ctx->err_status = NGX_HTTP_NOT_FOUND;
    ctx->err_message = "unsupported endpoint";

    return NGX_OK;
}


static ngx_int_t
ngx_http_harbor_route_invalid(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, ngx_uint_t err, char *log, char *message)
{
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "harbor: %s in \"%V\"", log, &r->unparsed_uri);

    ctx->invalid = 1;
    ctx->err = err;
    ctx->err_message = message;

    return NGX_OK;
}


/*
 * The reference of a manifest (a tag, or a digest when it has a ':'), of a
 * blob or of referrers (a digest): NGX_OK with ctx->reference (and
 * ctx->digest) set, or NGX_DECLINED with the OCI error, what to log and
 * the message (NULL: the error's own).
 */

static ngx_int_t
ngx_http_harbor_route_reference(ngx_http_harbor_ctx_t *ctx, ngx_str_t *ref,
    ngx_uint_t *err, char **log, char **message)
{
    ngx_int_t  rc;

    if (ctx->kind == NGX_HTTP_HARBOR_MANIFEST
        && ngx_strlchr(ref->data, ref->data + ref->len, ':') == NULL)
    {
        /*
         * no manifest has such a tag: 404 MANIFEST_UNKNOWN, as the OCI
         * spec asks and distribution and Harbor answer (not 400)
         */

        if (!he_oci_tag(ref->data, ref->len)) {
            *err = NGX_HTTP_HARBOR_MANIFEST_UNKNOWN;
            *log = "invalid tag";
            return NGX_DECLINED;
        }

        ctx->reference = *ref;
        return NGX_OK;
    }

    rc = ngx_http_harbor_parse_digest(ref->data, ref->len, &ctx->digest);

    if (rc != NGX_OK) {
        ngx_memzero(&ctx->digest, sizeof(ngx_http_harbor_digest_t));
        *err = NGX_HTTP_HARBOR_DIGEST_INVALID;
        *message = (rc == NGX_DECLINED) ? "unsupported digest algorithm"
                                        : "invalid digest";
        *log = *message;
        return NGX_DECLINED;
    }

    ctx->reference = *ref;

    return NGX_OK;
}


/*
 * ?ns=HOST with "harbor_ns HOST PREFIX" serves PREFIX/<name> from the
 * store: ctx->repo.  An ns that is not a host, or has no mapping, is
 * ignored.  NGX_DECLINED: the prefixed name would be too long.
 */

static ngx_int_t
ngx_http_harbor_map_ns(ngx_http_request_t *r, ngx_http_harbor_ctx_t *ctx,
    ngx_array_t *nss)
{
    u_char                *p;
    ngx_int_t              rc;
    ngx_str_t              host;
    ngx_uint_t             i;
    ngx_http_harbor_ns_t  *ns;

    ctx->repo = ctx->name;

    if (r->args.len == 0) {
        return NGX_OK;
    }

    rc = ngx_http_harbor_arg(r, "ns", 2, &host);

    if (rc != NGX_OK) {
        return (rc == NGX_DECLINED) ? NGX_OK : NGX_ERROR;
    }

    if (ngx_http_harbor_parse_host(host.data, host.len) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "harbor: ignored invalid ns argument");
        return NGX_OK;
    }

    ctx->ns = host;

    if (nss == NULL) {
        return NGX_OK;
    }

    ns = nss->elts;

    for (i = 0; i < nss->nelts; i++) {
        if (ns[i].host.len == host.len
            && ngx_strncasecmp(ns[i].host.data, host.data, host.len) == 0)
        {
            break;
        }
    }

    if (i == nss->nelts) {
        return NGX_OK;
    }

    if (ns[i].prefix.len + 1 + ctx->name.len > NGX_HTTP_HARBOR_NAME_MAX) {
        ngx_str_null(&ctx->repo);
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(r->pool, ns[i].prefix.len + 1 + ctx->name.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->repo.data = p;
    p = ngx_cpymem(p, ns[i].prefix.data, ns[i].prefix.len);
    *p++ = '/';
    p = ngx_cpymem(p, ctx->name.data, ctx->name.len);
    ctx->repo.len = p - ctx->repo.data;

    return NGX_OK;
}
