
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * The handlers of ngx_http_harbor_metrics_module: the Prometheus
 * exposition of a harbor_metrics location, the LOG phase handler that
 * counts every finished request, and the values of $harbor_cache_status,
 * $harbor_repository, $harbor_reference and $harbor_digest:
 *
 *   HIT     answered from the store (2xx, 304, 416)
 *   MISS    not in the store, or failed verification: answered 404
 *   PASS    a miss handed to harbor_miss_pass (the status is the primary's)
 *   DENIED  refused by harbor_auth (or 401/403)
 *   BYPASS  not looked up: a method other than GET/HEAD, an invalid name,
 *           tag or digest, an unknown endpoint
 *   ERROR   5xx, or the client went away (499)
 *
 * (no STALE: a file that fails verification is never served, it is a MISS
 * or a PASS).  The variables are empty, logged as "-", outside the
 * module's locations.
 *
 * What a request was comes from its route (ngx_http_harbor_request.c),
 * which the auth module or the content handler made and which survives the
 * internal redirect of harbor_miss_pass; a request refused before either
 * ran (auth_basic, limit_req) is routed here, at LOG time, from its URI.
 * Counting is done in the LOG phase, after the response, into the shared
 * zone "harbor_metrics" with atomic adds, and never fails the request.
 * The verification counters are the read path's (zone "harbor") and the
 * event counters the events module's (zone "harbor_events"): they are
 * read, never copied.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_module.h"
#include "ngx_http_harbor_metrics.h"

#if (NGX_HTTP_HARBOR_EVENTS)
#include "ngx_http_harbor_events.h"
#endif


/* what a request was, worked out at LOG time (or when a variable asks) */
typedef struct {
    ngx_uint_t                   kind;
    ngx_uint_t                   cache;
    ngx_str_t                    repo;
    ngx_str_t                    reference;
    ngx_str_t                    digest;
    ngx_uint_t                   denied;    /* the reason + 1, or 0 */
    unsigned                     registry:1;
} ngx_http_harbor_metrics_req_t;


static ngx_int_t ngx_http_harbor_metrics_classify(ngx_http_request_t *r,
    ngx_http_harbor_metrics_req_t *mr);
static ngx_uint_t ngx_http_harbor_metrics_cache_status(
    ngx_http_harbor_ctx_t *ctx, ngx_uint_t status);


/* label values, indexed by ngx_http_harbor_kind_e */
static char  *ngx_http_harbor_metrics_kinds[NGX_HTTP_HARBOR_NKINDS] = {
    "ping", "catalog", "manifest", "blob", "tags", "referrers", "other"
};

static char  *ngx_http_harbor_metrics_classes[] = {
    "2xx", "3xx", "4xx", "5xx"
};

static char  *ngx_http_harbor_metrics_cache_labels[NGX_HTTP_HARBOR_NCACHE] = {
    "hit", "miss", "pass", "denied", "bypass", "error", "fill"
};

static ngx_str_t  ngx_http_harbor_metrics_cache_values[] = {
    ngx_string("HIT"),
    ngx_string("MISS"),
    ngx_string("PASS"),
    ngx_string("DENIED"),
    ngx_string("BYPASS"),
    ngx_string("ERROR"),
    ngx_string("FILL")
};

static char  *ngx_http_harbor_metrics_denied_labels[NGX_HTTP_HARBOR_NDENIED] = {
    "no_token", "invalid_token", "insufficient_scope"
};

static char  *ngx_http_harbor_metrics_webhook_labels[] = {
    "accepted", "refused"
};


ngx_int_t
ngx_http_harbor_metrics_handler(ngx_http_request_t *r)
{
    u_char                               *p, *body;
    size_t                                len;
    ngx_int_t                             rc;
    ngx_str_t                             type;
    ngx_uint_t                            i, k, c;
    ngx_atomic_uint_t                     ok, failed;
    ngx_http_harbor_shm_t                *shm;
    ngx_http_harbor_metrics_shctx_t      *sh;
    ngx_http_harbor_metrics_main_conf_t  *mmcf;
#if (NGX_HTTP_HARBOR_EVENTS)
    ngx_http_harbor_redis_counters_t     *ev;
    ngx_http_harbor_events_main_conf_t   *emcf;
#endif

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_harbor_metrics_module);
    sh = mmcf->shm_zone->data;

    /* the read path's zone exists only where some location serves */

    shm = ngx_http_harbor_shm_get(r);

    if (shm) {
        ok = shm->sh->counters[NGX_HTTP_HARBOR_VERIFY_OK];
        failed = shm->sh->counters[NGX_HTTP_HARBOR_VERIFY_FAILED];

    } else {
        ok = 0;
        failed = 0;
    }

#if (NGX_HTTP_HARBOR_EVENTS)
    emcf = ngx_http_get_module_main_conf(r, ngx_http_harbor_events_module);
    ev = (emcf->shm_zone) ? emcf->shm_zone->data : NULL;
#endif

    /* we need to allocate all before the header would be sent */

#define ngx_http_harbor_metrics_line(fmt)                                     \
    (sizeof(fmt) - 1 + 2 * NGX_HTTP_HARBOR_METRICS_LABEL_MAX                  \
     + NGX_ATOMIC_T_LEN)

    len = sizeof(NGX_HTTP_HARBOR_METRICS_REQUESTS) - 1
          + NGX_HTTP_HARBOR_NKINDS * NGX_HTTP_HARBOR_METRICS_NCLASSES
            * ngx_http_harbor_metrics_line(NGX_HTTP_HARBOR_METRICS_REQUESTS_S)
          + sizeof(NGX_HTTP_HARBOR_METRICS_CACHE) - 1
          + NGX_HTTP_HARBOR_NCACHE
            * ngx_http_harbor_metrics_line(NGX_HTTP_HARBOR_METRICS_CACHE_S)
          + sizeof(NGX_HTTP_HARBOR_METRICS_SENT) - 1 + NGX_ATOMIC_T_LEN
          + sizeof(NGX_HTTP_HARBOR_METRICS_VERIFY) - 1 + 2 * NGX_ATOMIC_T_LEN
          + sizeof(NGX_HTTP_HARBOR_METRICS_FILL) - 1 + 4 * NGX_ATOMIC_T_LEN
          + sizeof(NGX_HTTP_HARBOR_METRICS_FRESH) - 1 + 2 * NGX_ATOMIC_T_LEN
          + sizeof(NGX_HTTP_HARBOR_METRICS_DENIED) - 1
          + NGX_HTTP_HARBOR_NDENIED
            * ngx_http_harbor_metrics_line(NGX_HTTP_HARBOR_METRICS_DENIED_S)
          + sizeof(NGX_HTTP_HARBOR_METRICS_PREHEAT) - 1
          + 2 * ngx_http_harbor_metrics_line(
                                        NGX_HTTP_HARBOR_METRICS_PREHEAT_S)
          + sizeof(NGX_HTTP_HARBOR_METRICS_WEBHOOK) - 1
          + 2 * ngx_http_harbor_metrics_line(
                                        NGX_HTTP_HARBOR_METRICS_WEBHOOK_S)
          + sizeof(NGX_HTTP_HARBOR_METRICS_EVENTS) - 1 + 3 * NGX_ATOMIC_T_LEN;

#undef ngx_http_harbor_metrics_line

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body, NGX_HTTP_HARBOR_METRICS_REQUESTS,
                   sizeof(NGX_HTTP_HARBOR_METRICS_REQUESTS) - 1);

    for (k = 0; k < NGX_HTTP_HARBOR_NKINDS; k++) {
        for (c = 0; c < NGX_HTTP_HARBOR_METRICS_NCLASSES; c++) {
            p = ngx_sprintf(p, NGX_HTTP_HARBOR_METRICS_REQUESTS_S,
                            ngx_http_harbor_metrics_kinds[k],
                            ngx_http_harbor_metrics_classes[c],
                            sh->requests[k][c]);
        }
    }

    p = ngx_cpymem(p, NGX_HTTP_HARBOR_METRICS_CACHE,
                   sizeof(NGX_HTTP_HARBOR_METRICS_CACHE) - 1);

    for (i = 0; i < NGX_HTTP_HARBOR_NCACHE; i++) {
        p = ngx_sprintf(p, NGX_HTTP_HARBOR_METRICS_CACHE_S,
                        ngx_http_harbor_metrics_cache_labels[i],
                        sh->cache[i]);
    }

    p = ngx_sprintf(p, NGX_HTTP_HARBOR_METRICS_SENT, sh->sent);

    p = ngx_sprintf(p, NGX_HTTP_HARBOR_METRICS_VERIFY, ok + failed, failed);

    p = ngx_sprintf(p, NGX_HTTP_HARBOR_METRICS_FILL,
                    shm ? shm->sh->counters[NGX_HTTP_HARBOR_FILL_STARTED] : 0,
                    shm ? shm->sh->counters[NGX_HTTP_HARBOR_FILL_JOINED] : 0,
                    shm ? shm->sh->counters[NGX_HTTP_HARBOR_FILL_DONE] : 0,
                    shm ? shm->sh->counters[NGX_HTTP_HARBOR_FILL_FAILED] : 0);

    p = ngx_sprintf(p, NGX_HTTP_HARBOR_METRICS_FRESH,
                    shm ? shm->sh->counters[NGX_HTTP_HARBOR_REVALIDATED] : 0,
                    shm ? shm->sh->counters[NGX_HTTP_HARBOR_STALE] : 0);

    p = ngx_cpymem(p, NGX_HTTP_HARBOR_METRICS_DENIED,
                   sizeof(NGX_HTTP_HARBOR_METRICS_DENIED) - 1);

    for (i = 0; i < NGX_HTTP_HARBOR_NDENIED; i++) {
        p = ngx_sprintf(p, NGX_HTTP_HARBOR_METRICS_DENIED_S,
                        ngx_http_harbor_metrics_denied_labels[i],
                        sh->denied[i]);
    }

    p = ngx_cpymem(p, NGX_HTTP_HARBOR_METRICS_PREHEAT,
                   sizeof(NGX_HTTP_HARBOR_METRICS_PREHEAT) - 1);

    for (i = 0; i < 2; i++) {
        p = ngx_sprintf(p, NGX_HTTP_HARBOR_METRICS_PREHEAT_S,
                        ngx_http_harbor_metrics_webhook_labels[i],
                        sh->preheat[i]);
    }

    p = ngx_cpymem(p, NGX_HTTP_HARBOR_METRICS_WEBHOOK,
                   sizeof(NGX_HTTP_HARBOR_METRICS_WEBHOOK) - 1);

    for (i = 0; i < 2; i++) {
        p = ngx_sprintf(p, NGX_HTTP_HARBOR_METRICS_WEBHOOK_S,
                        ngx_http_harbor_metrics_webhook_labels[i],
                        sh->webhook[i]);
    }

#if (NGX_HTTP_HARBOR_EVENTS)

    /* without harbor_redis there are no events, and no family */

    if (ev) {
        p = ngx_sprintf(p, NGX_HTTP_HARBOR_METRICS_EVENTS,
                        ev->queued, ev->dropped, ev->coalesced);
    }

#endif

    ngx_str_set(&type, NGX_HTTP_HARBOR_METRICS_TYPE);

    return ngx_http_harbor_send_body(r, NGX_HTTP_OK, &type, body, p - body);
}


/* counts a finished request; never fails it */

ngx_int_t
ngx_http_harbor_metrics_log(ngx_http_request_t *r)
{
    off_t                                 sent;
    ngx_uint_t                            status, cls;
    ngx_http_harbor_metrics_req_t         mr;
    ngx_http_harbor_metrics_shctx_t      *sh;
    ngx_http_harbor_metrics_main_conf_t  *mmcf;
#if (NGX_HTTP_HARBOR_EVENTS)
    ngx_http_harbor_events_loc_conf_t    *elcf;
#endif

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_harbor_metrics_module);
    sh = mmcf->shm_zone->data;

    if (sh == NULL) {
        return NGX_DECLINED;
    }

    /* 2xx, 3xx, 4xx, 5xx; 1xx and 0 (nothing sent) as 5xx */
    status = r->headers_out.status;
    cls = (status >= 200 && status < 600) ? status / 100 - 2 : 3;

#if (NGX_HTTP_HARBOR_EVENTS)

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_events_module);

    if (elcf->webhook == NGX_HTTP_HARBOR_EVENTS_WEBHOOK) {
        (void) ngx_atomic_fetch_add(&sh->webhook[(cls == 0) ? 0 : 1], 1);
        return NGX_DECLINED;
    }

    if (elcf->webhook == NGX_HTTP_HARBOR_EVENTS_PREHEAT) {
        (void) ngx_atomic_fetch_add(&sh->preheat[(cls == 0) ? 0 : 1], 1);
        return NGX_DECLINED;
    }

#endif

    if (ngx_http_harbor_metrics_classify(r, &mr) != NGX_OK) {
        return NGX_DECLINED;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "harbor metrics: kind %ui, cache %ui, status %ui%s",
                   mr.kind, mr.cache, status,
                   mr.registry ? "" : ", not counted");

    if (mr.denied) {
        (void) ngx_atomic_fetch_add(&sh->denied[mr.denied - 1], 1);
    }

    if (!mr.registry) {
        return NGX_DECLINED;
    }

    (void) ngx_atomic_fetch_add(&sh->requests[mr.kind][cls], 1);
    (void) ngx_atomic_fetch_add(&sh->cache[mr.cache], 1);

    if (mr.cache == NGX_HTTP_HARBOR_CACHE_HIT) {
        /* as $body_bytes_sent */
        sent = r->connection->sent - r->header_size;

        if (sent > 0) {
            (void) ngx_atomic_fetch_add(&sh->sent, (ngx_atomic_int_t) sent);
        }
    }

    return NGX_DECLINED;
}


/*
 * NGX_OK: mr describes a request of the module (mr->registry: one routed
 * in a harbor_registry location, which the figures count); NGX_DECLINED:
 * not ours; NGX_ERROR: no memory
 */

static ngx_int_t
ngx_http_harbor_metrics_classify(ngx_http_request_t *r,
    ngx_http_harbor_metrics_req_t *mr)
{
    ngx_http_harbor_ctx_t       *ctx;
    ngx_http_harbor_loc_conf_t  *hlcf;

    ngx_memzero(mr, sizeof(ngx_http_harbor_metrics_req_t));

    ctx = ngx_http_harbor_get_request(r);

    if (ctx == NULL) {
        hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

        if (!hlcf->registry) {
            return NGX_DECLINED;
        }

        /* refused before any handler of the module ran: route it now */

        ctx = ngx_http_harbor_request(r);
        if (ctx == NULL) {
            return NGX_ERROR;
        }
    }

    mr->registry = ctx->registry;
    mr->denied = ctx->denied;
    mr->kind = ctx->kind;
    mr->repo = ctx->repo;
    mr->reference = ctx->reference;
    mr->cache = ngx_http_harbor_metrics_cache_status(ctx,
                                                     r->headers_out.status);

    /* set once checked: from the URI, or from the tag's link */

    if (mr->cache != NGX_HTTP_HARBOR_CACHE_ERROR) {
        mr->digest = ctx->digest.value;
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_harbor_metrics_cache_status(ngx_http_harbor_ctx_t *ctx,
    ngx_uint_t status)
{
    if (ctx->denied) {
        return NGX_HTTP_HARBOR_CACHE_DENIED;
    }

    if (ctx->passed) {
        return NGX_HTTP_HARBOR_CACHE_PASS;
    }

    if (ctx->filled) {
        return (status == 0 || status >= NGX_HTTP_INTERNAL_SERVER_ERROR
                || status == NGX_HTTP_CLIENT_CLOSED_REQUEST)
               ? NGX_HTTP_HARBOR_CACHE_ERROR : NGX_HTTP_HARBOR_CACHE_FILL;
    }

    if (status == 0 || status >= NGX_HTTP_INTERNAL_SERVER_ERROR
        || status == NGX_HTTP_CLIENT_CLOSED_REQUEST)
    {
        return NGX_HTTP_HARBOR_CACHE_ERROR;
    }

    if (status == NGX_HTTP_UNAUTHORIZED || status == NGX_HTTP_FORBIDDEN) {
        return NGX_HTTP_HARBOR_CACHE_DENIED;
    }

    /* refused by another module before the content handler ran */

    if (!ctx->served) {
        return NGX_HTTP_HARBOR_CACHE_BYPASS;
    }

    if (status < NGX_HTTP_BAD_REQUEST
        || status == NGX_HTTP_RANGE_NOT_SATISFIABLE)
    {
        return NGX_HTTP_HARBOR_CACHE_HIT;
    }

    if (status == NGX_HTTP_NOT_FOUND && !ctx->invalid
        && ctx->kind != NGX_HTTP_HARBOR_PING
        && ctx->kind != NGX_HTTP_HARBOR_CATALOG)
    {
        return NGX_HTTP_HARBOR_CACHE_MISS;
    }

    return NGX_HTTP_HARBOR_CACHE_BYPASS;
}


ngx_int_t
ngx_http_harbor_metrics_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_int_t                      rc;
    ngx_str_t                     *s;
    ngx_http_harbor_metrics_req_t  mr;

    rc = ngx_http_harbor_metrics_classify(r->main, &mr);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {

    case NGX_HTTP_HARBOR_VAR_CACHE_STATUS:
        s = &ngx_http_harbor_metrics_cache_values[mr.cache];
        break;

    case NGX_HTTP_HARBOR_VAR_REPOSITORY:
        s = &mr.repo;
        break;

    case NGX_HTTP_HARBOR_VAR_REFERENCE:
        s = &mr.reference;
        break;

    default: /* NGX_HTTP_HARBOR_VAR_DIGEST */
        s = &mr.digest;
        break;
    }

    if (s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = s->data;

    return NGX_OK;
}
