
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * ngx_http_harbor_metrics_module: the edge's figures for Prometheus and its
 * words for the access log.
 *
 *   harbor_metrics;          location: answer with the text format 0.0.4
 *
 * Variables, for log_format (empty, logged as "-", outside the module's
 * locations):
 *
 *   $harbor_cache_status     HIT     answered from the store (2xx, 304, 416)
 *                            MISS    not in the store, or failed
 *                                    verification: answered 404
 *                            PASS    a miss handed to harbor_miss_pass
 *                                    (the status is the primary's)
 *                            DENIED  refused by harbor_auth (or 401/403)
 *                            BYPASS  not looked up: a method other than
 *                                    GET/HEAD, an invalid name, tag or
 *                                    digest, an unknown endpoint
 *                            ERROR   5xx, or the client went away (499)
 *                            (no STALE: a file that fails verification is
 *                            never served, it is a MISS or a PASS)
 *   $harbor_repository       the repository in the store (ns prefix applied)
 *   $harbor_reference        the tag or digest of the URI
 *   $harbor_digest           the digest served or asked for (a tag's digest
 *                            once resolved)
 *
 * Counting is done in the LOG phase, after the response, into the shared
 * zone "harbor_metrics" with atomic adds: every worker adds to the same
 * counters, and a reload keeps them (the new cycle takes the old zone).
 * The verification counters are the read path's (zone "harbor") and the
 * event counters the events module's (zone "harbor_events"): they are read,
 * never copied.  The LOG handler and the zone exist only when some
 * location says harbor_metrics; the variables cost nothing until used;
 * locations without harbor_registry see one declined PREACCESS call.
 *
 * A miss passed to harbor_miss_pass is an internal redirect, which clears
 * every module's request context, the read path's too.  So that the LOG
 * phase still knows where the request came from, this module's own context
 * is made in the PREACCESS phase of a harbor_registry location and hung on
 * a pool cleanup, where ngx_http_realip_module keeps its own for the same
 * reason; the URI is then routed again, by the read path's grammars.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_module.h"
#include "ngx_http_harbor_metrics.h"

#if (NGX_HTTP_HARBOR_EVENTS)
#include "ngx_http_harbor_events.h"
#endif


#define NGX_HTTP_HARBOR_METRICS_ZONE     "harbor_metrics"

/* status classes 2xx, 3xx, 4xx, 5xx */
#define NGX_HTTP_HARBOR_METRICS_NCLASSES  4

/* the longest label value of any table below, with room to spare */
#define NGX_HTTP_HARBOR_METRICS_LABEL_MAX  16


typedef enum {
    NGX_HTTP_HARBOR_CACHE_HIT = 0,
    NGX_HTTP_HARBOR_CACHE_MISS,
    NGX_HTTP_HARBOR_CACHE_PASS,
    NGX_HTTP_HARBOR_CACHE_DENIED,
    NGX_HTTP_HARBOR_CACHE_BYPASS,
    NGX_HTTP_HARBOR_CACHE_ERROR,
    NGX_HTTP_HARBOR_NCACHE
} ngx_http_harbor_cache_e;


typedef enum {
    NGX_HTTP_HARBOR_VAR_CACHE_STATUS = 0,
    NGX_HTTP_HARBOR_VAR_REPOSITORY,
    NGX_HTTP_HARBOR_VAR_REFERENCE,
    NGX_HTTP_HARBOR_VAR_DIGEST
} ngx_http_harbor_var_e;


/* in the shared zone; only ever added to */
typedef struct {
    ngx_atomic_t                 requests[NGX_HTTP_HARBOR_NKINDS]
                                         [NGX_HTTP_HARBOR_METRICS_NCLASSES];
    ngx_atomic_t                 cache[NGX_HTTP_HARBOR_NCACHE];
    ngx_atomic_t                 sent;
    ngx_atomic_t                 denied[NGX_HTTP_HARBOR_NDENIED];
    ngx_atomic_t                 webhook[2];    /* accepted, refused */
} ngx_http_harbor_metrics_shctx_t;


typedef struct {
    ngx_shm_zone_t              *shm_zone;  /* NULL: no harbor_metrics */
} ngx_http_harbor_metrics_main_conf_t;


typedef struct {
    ngx_flag_t                   enable;
} ngx_http_harbor_metrics_loc_conf_t;


/* survives internal redirects: found again through its pool cleanup */
typedef struct {
    ngx_http_request_t          *request;
    ngx_http_harbor_loc_conf_t  *hlcf;      /* where the request came in */

    /* as routed there: a named location may rewrite them */
    ngx_str_t                    uri;
    ngx_str_t                    args;

    ngx_uint_t                   denied;    /* reason + 1, or 0 */
    unsigned                     registry:1;
} ngx_http_harbor_metrics_ctx_t;


/* what a request was, worked out at LOG time (or when a variable asks) */
typedef struct {
    ngx_uint_t                   kind;
    ngx_uint_t                   cache;
    ngx_str_t                    repo;
    ngx_str_t                    reference;
    ngx_str_t                    digest;
    unsigned                     registry:1;
} ngx_http_harbor_metrics_req_t;


static ngx_int_t ngx_http_harbor_metrics_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_harbor_metrics_preaccess(ngx_http_request_t *r);
static ngx_int_t ngx_http_harbor_metrics_log(ngx_http_request_t *r);
static ngx_http_harbor_metrics_ctx_t *ngx_http_harbor_metrics_get_ctx(
    ngx_http_request_t *r, ngx_uint_t create);
static void ngx_http_harbor_metrics_cleanup(void *data);
static ngx_int_t ngx_http_harbor_metrics_classify(ngx_http_request_t *r,
    ngx_http_harbor_metrics_req_t *mr);
static ngx_uint_t ngx_http_harbor_metrics_cache_status(ngx_uint_t status,
    ngx_uint_t kind);
static ngx_int_t ngx_http_harbor_metrics_route(ngx_http_request_t *r,
    ngx_http_harbor_metrics_ctx_t *ctx, ngx_http_harbor_metrics_req_t *mr);
static ngx_int_t ngx_http_harbor_metrics_ns(ngx_http_request_t *r,
    ngx_http_harbor_metrics_ctx_t *ctx, ngx_http_harbor_metrics_req_t *mr);
static ngx_int_t ngx_http_harbor_metrics_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_harbor_metrics_add_variables(ngx_conf_t *cf);
static void *ngx_http_harbor_metrics_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_harbor_metrics_create_conf(ngx_conf_t *cf);
static char *ngx_http_harbor_metrics_merge_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_harbor_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_harbor_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_harbor_metrics_init(ngx_conf_t *cf);


/* label values, indexed by ngx_http_harbor_kind_e */
static char  *ngx_http_harbor_metrics_kinds[NGX_HTTP_HARBOR_NKINDS] = {
    "ping", "catalog", "manifest", "blob", "tags", "referrers", "other"
};

static char  *ngx_http_harbor_metrics_classes[] = {
    "2xx", "3xx", "4xx", "5xx"
};

static char  *ngx_http_harbor_metrics_cache_labels[NGX_HTTP_HARBOR_NCACHE] = {
    "hit", "miss", "pass", "denied", "bypass", "error"
};

static ngx_str_t  ngx_http_harbor_metrics_cache_values[] = {
    ngx_string("HIT"),
    ngx_string("MISS"),
    ngx_string("PASS"),
    ngx_string("DENIED"),
    ngx_string("BYPASS"),
    ngx_string("ERROR")
};

static char  *ngx_http_harbor_metrics_denied_labels[NGX_HTTP_HARBOR_NDENIED] = {
    "no_token", "invalid_token", "insufficient_scope"
};

static char  *ngx_http_harbor_metrics_webhook_labels[] = {
    "accepted", "refused"
};


static ngx_command_t  ngx_http_harbor_metrics_commands[] = {

    { ngx_string("harbor_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_harbor_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_harbor_metrics_module_ctx = {
    ngx_http_harbor_metrics_add_variables,    /* preconfiguration */
    ngx_http_harbor_metrics_init,             /* postconfiguration */

    ngx_http_harbor_metrics_create_main_conf, /* create main configuration */
    NULL,                                     /* init main configuration */

    NULL,                                     /* create server configuration */
    NULL,                                     /* merge server configuration */

    ngx_http_harbor_metrics_create_conf,      /* create location conf */
    ngx_http_harbor_metrics_merge_conf        /* merge location conf */
};


ngx_module_t  ngx_http_harbor_metrics_module = {
    NGX_MODULE_V1,
    &ngx_http_harbor_metrics_module_ctx,      /* module context */
    ngx_http_harbor_metrics_commands,         /* module directives */
    NGX_HTTP_MODULE,                          /* module type */
    NULL,                                     /* init master */
    NULL,                                     /* init module */
    NULL,                                     /* init process */
    NULL,                                     /* init thread */
    NULL,                                     /* exit thread */
    NULL,                                     /* exit process */
    NULL,                                     /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_harbor_metrics_vars[] = {

    { ngx_string("harbor_cache_status"), NULL,
      ngx_http_harbor_metrics_variable, NGX_HTTP_HARBOR_VAR_CACHE_STATUS,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("harbor_repository"), NULL,
      ngx_http_harbor_metrics_variable, NGX_HTTP_HARBOR_VAR_REPOSITORY,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("harbor_reference"), NULL,
      ngx_http_harbor_metrics_variable, NGX_HTTP_HARBOR_VAR_REFERENCE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("harbor_digest"), NULL,
      ngx_http_harbor_metrics_variable, NGX_HTTP_HARBOR_VAR_DIGEST,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_harbor_metrics_handler(ngx_http_request_t *r)
{
    u_char                               *p;
    size_t                                len;
    ngx_int_t                             rc;
    ngx_buf_t                            *b;
    ngx_uint_t                            i, k, c;
    ngx_chain_t                           out;
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
          + sizeof(NGX_HTTP_HARBOR_METRICS_DENIED) - 1
          + NGX_HTTP_HARBOR_NDENIED
            * ngx_http_harbor_metrics_line(NGX_HTTP_HARBOR_METRICS_DENIED_S)
          + sizeof(NGX_HTTP_HARBOR_METRICS_WEBHOOK) - 1
          + 2 * ngx_http_harbor_metrics_line(
                                        NGX_HTTP_HARBOR_METRICS_WEBHOOK_S)
          + sizeof(NGX_HTTP_HARBOR_METRICS_EVENTS) - 1 + 3 * NGX_ATOMIC_T_LEN;

#undef ngx_http_harbor_metrics_line

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(b->last, NGX_HTTP_HARBOR_METRICS_REQUESTS,
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

    p = ngx_cpymem(p, NGX_HTTP_HARBOR_METRICS_DENIED,
                   sizeof(NGX_HTTP_HARBOR_METRICS_DENIED) - 1);

    for (i = 0; i < NGX_HTTP_HARBOR_NDENIED; i++) {
        p = ngx_sprintf(p, NGX_HTTP_HARBOR_METRICS_DENIED_S,
                        ngx_http_harbor_metrics_denied_labels[i],
                        sh->denied[i]);
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

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = p - b->pos;
    ngx_str_set(&r->headers_out.content_type, NGX_HTTP_HARBOR_METRICS_TYPE);
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * marks a request that entered a harbor_registry location, before the
 * ACCESS phase can refuse it and before a miss can redirect it
 */

static ngx_int_t
ngx_http_harbor_metrics_preaccess(ngx_http_request_t *r)
{
    ngx_http_harbor_loc_conf_t     *hlcf;
    ngx_http_harbor_metrics_ctx_t  *ctx;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    if (!hlcf->registry || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_harbor_metrics_get_ctx(r, 1);

    if (ctx == NULL) {
        /* only the figures of this request are lost */
        return NGX_DECLINED;
    }

    ctx->registry = 1;
    ctx->hlcf = hlcf;
    ctx->uri = r->uri;
    ctx->args = r->args;

    return NGX_DECLINED;
}


/* counts a finished request; never fails it */

static ngx_int_t
ngx_http_harbor_metrics_log(ngx_http_request_t *r)
{
    off_t                                 sent;
    ngx_uint_t                            status, cls;
    ngx_http_harbor_metrics_ctx_t        *ctx;
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

    if (elcf->webhook == 1) {
        (void) ngx_atomic_fetch_add(&sh->webhook[(cls == 0) ? 0 : 1], 1);
        return NGX_DECLINED;
    }

#endif

    ctx = ngx_http_harbor_metrics_get_ctx(r, 0);

    if (ctx && ctx->denied) {
        (void) ngx_atomic_fetch_add(&sh->denied[ctx->denied - 1], 1);
    }

    if (ngx_http_harbor_metrics_classify(r, &mr) != NGX_OK || !mr.registry) {
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
 * this module's context; after an internal redirect (which zeroes r->ctx)
 * it is found again through the pool cleanup that holds it
 */

static ngx_http_harbor_metrics_ctx_t *
ngx_http_harbor_metrics_get_ctx(ngx_http_request_t *r, ngx_uint_t create)
{
    ngx_pool_cleanup_t             *cln;
    ngx_http_harbor_metrics_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_metrics_module);

    if (ctx) {
        return ctx;
    }

    if (r->internal) {
        for (cln = r->pool->cleanup; cln; cln = cln->next) {
            if (cln->handler == ngx_http_harbor_metrics_cleanup) {
                ctx = cln->data;

                if (ctx->request == r) {
                    ngx_http_set_ctx(r, ctx, ngx_http_harbor_metrics_module);
                    return ctx;
                }
            }
        }
    }

    if (!create) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool,
                               sizeof(ngx_http_harbor_metrics_ctx_t));
    if (cln == NULL) {
        return NULL;
    }

    ctx = cln->data;
    ngx_memzero(ctx, sizeof(ngx_http_harbor_metrics_ctx_t));

    ctx->request = r;

    cln->handler = ngx_http_harbor_metrics_cleanup;

    ngx_http_set_ctx(r, ctx, ngx_http_harbor_metrics_module);

    return ctx;
}


/* nothing to free: the cleanup only marks where the context lives */

static void
ngx_http_harbor_metrics_cleanup(void *data)
{
    /* void */
}


/*
 * NGX_OK: mr describes a request of the module (mr->registry: one that
 * entered a harbor_registry location); NGX_DECLINED: not ours;
 * NGX_ERROR: no memory
 */

static ngx_int_t
ngx_http_harbor_metrics_classify(ngx_http_request_t *r,
    ngx_http_harbor_metrics_req_t *mr)
{
    ngx_uint_t                      status;
    ngx_http_harbor_ctx_t          *hctx;
    ngx_http_harbor_loc_conf_t     *hlcf;
    ngx_http_harbor_metrics_ctx_t  *ctx;

    ngx_memzero(mr, sizeof(ngx_http_harbor_metrics_req_t));

    status = r->headers_out.status;

    hctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
    ctx = ngx_http_harbor_metrics_get_ctx(r, 0);

    if (ctx && ctx->denied) {
        /* the content handler never ran: route the URI as it would */
        mr->cache = NGX_HTTP_HARBOR_CACHE_DENIED;
        mr->registry = ctx->registry;
        return ngx_http_harbor_metrics_route(r, ctx, mr);
    }

    if (hctx) {
        mr->registry = 1;
        mr->kind = hctx->kind;
        mr->repo = hctx->repo;
        mr->reference = hctx->reference;
        mr->cache = ngx_http_harbor_metrics_cache_status(status, hctx->kind);

        /* set once checked: from the URI, or from the tag's link */

        if (mr->cache != NGX_HTTP_HARBOR_CACHE_ERROR) {
            mr->digest = hctx->digest.value;
        }

        return NGX_OK;
    }

    if (ctx == NULL || !ctx->registry) {
        return NGX_DECLINED;
    }

    /*
     * The read path's context is gone or was never made.  Outside the
     * harbor_registry location now: a miss was passed on.  Still in it:
     * refused before the content handler (auth_basic, limit_req), or a
     * method the edge does not serve.
     */

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    if (!hlcf->registry) {
        mr->cache = NGX_HTTP_HARBOR_CACHE_PASS;

    } else if (status == NGX_HTTP_UNAUTHORIZED
               || status == NGX_HTTP_FORBIDDEN)
    {
        mr->cache = NGX_HTTP_HARBOR_CACHE_DENIED;

    } else if (status >= NGX_HTTP_INTERNAL_SERVER_ERROR || status == 0) {
        mr->cache = NGX_HTTP_HARBOR_CACHE_ERROR;

    } else {
        mr->cache = NGX_HTTP_HARBOR_CACHE_BYPASS;
    }

    mr->registry = 1;

    return ngx_http_harbor_metrics_route(r, ctx, mr);
}


static ngx_uint_t
ngx_http_harbor_metrics_cache_status(ngx_uint_t status, ngx_uint_t kind)
{
    if (status == 0 || status >= NGX_HTTP_INTERNAL_SERVER_ERROR
        || status == NGX_HTTP_CLIENT_CLOSED_REQUEST)
    {
        return NGX_HTTP_HARBOR_CACHE_ERROR;
    }

    if (status < NGX_HTTP_BAD_REQUEST
        || status == NGX_HTTP_RANGE_NOT_SATISFIABLE)
    {
        return NGX_HTTP_HARBOR_CACHE_HIT;
    }

    if (status == NGX_HTTP_UNAUTHORIZED || status == NGX_HTTP_FORBIDDEN) {
        return NGX_HTTP_HARBOR_CACHE_DENIED;
    }

    if (status == NGX_HTTP_NOT_FOUND && kind != NGX_HTTP_HARBOR_OTHER
        && kind != NGX_HTTP_HARBOR_PING && kind != NGX_HTTP_HARBOR_CATALOG)
    {
        return NGX_HTTP_HARBOR_CACHE_MISS;
    }

    return NGX_HTTP_HARBOR_CACHE_BYPASS;
}


/*
 * Routes the URI the request came in with (saved before a named location
 * could rewrite it) from the right, as the read path does, whose context
 * is not there to ask: the kind, and the name and reference only when they
 * pass the read path's own grammars, so that a log line never carries
 * bytes the module would have refused.
 */

static ngx_int_t
ngx_http_harbor_metrics_route(ngx_http_request_t *r,
    ngx_http_harbor_metrics_ctx_t *ctx, ngx_http_harbor_metrics_req_t *mr)
{
    ngx_str_t                  name, ref;
    ngx_http_harbor_digest_t   d;

    mr->kind = ngx_http_harbor_split_uri(&ctx->uri, &name, &ref);

    switch (mr->kind) {

    case NGX_HTTP_HARBOR_PING:
    case NGX_HTTP_HARBOR_CATALOG:
    case NGX_HTTP_HARBOR_OTHER:
        return NGX_OK;

    case NGX_HTTP_HARBOR_TAGS:
        goto name;

    default:
        if (ref.len == 0) {
            mr->kind = NGX_HTTP_HARBOR_OTHER;
            return NGX_OK;
        }
    }

    if (ngx_http_harbor_parse_digest(ref.data, ref.len, &d) == NGX_OK) {
        mr->digest = ref;
        mr->reference = ref;

    } else if (mr->kind == NGX_HTTP_HARBOR_MANIFEST
               && he_oci_tag(ref.data, ref.len))
    {
        mr->reference = ref;
    }

name:

    if (name.len == 0
        || !he_oci_name(name.data, name.len))
    {
        return NGX_OK;
    }

    mr->repo = name;

    return ngx_http_harbor_metrics_ns(r, ctx, mr);
}


/* the read path's harbor_ns rule: an invalid or unmapped ns is ignored */

static ngx_int_t
ngx_http_harbor_metrics_ns(ngx_http_request_t *r,
    ngx_http_harbor_metrics_ctx_t *ctx, ngx_http_harbor_metrics_req_t *mr)
{
    ngx_int_t                    rc;
    ngx_str_t                    value, args;
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ctx->hlcf;

    if (hlcf == NULL || hlcf->ns == NULL || ctx->args.len == 0) {
        return NGX_OK;
    }

    /* the arguments the request came in with, for the read path's parser */

    args = r->args;
    r->args = ctx->args;

    rc = ngx_http_harbor_arg(r, "ns", 2, &value);

    r->args = args;

    if (rc != NGX_OK) {
        return (rc == NGX_DECLINED) ? NGX_OK : NGX_ERROR;
    }

    if (ngx_http_harbor_parse_host(value.data, value.len) != NGX_OK) {
        return NGX_OK;
    }

    rc = ngx_http_harbor_ns_map(r->pool, hlcf->ns, &value, &mr->repo,
                                &mr->repo);

    return (rc == NGX_ERROR) ? NGX_ERROR : NGX_OK;
}


void
ngx_http_harbor_metrics_denied(ngx_http_request_t *r, char *error)
{
    ngx_uint_t                      reason;
    ngx_http_harbor_metrics_ctx_t  *ctx;

    if (error == NULL) {
        reason = NGX_HTTP_HARBOR_DENIED_NO_TOKEN;

    } else if (ngx_strcmp(error, "insufficient_scope") == 0) {
        reason = NGX_HTTP_HARBOR_DENIED_INSUFFICIENT_SCOPE;

    } else {
        reason = NGX_HTTP_HARBOR_DENIED_INVALID_TOKEN;
    }

    ctx = ngx_http_harbor_metrics_get_ctx(r, 1);

    if (ctx == NULL) {
        return;
    }

    ctx->denied = reason + 1;

    if (ctx->hlcf == NULL) {
        ctx->hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);
        ctx->uri = r->uri;
        ctx->args = r->args;
    }
}


static ngx_int_t
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


static ngx_int_t
ngx_http_harbor_metrics_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_harbor_metrics_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static void *
ngx_http_harbor_metrics_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_harbor_metrics_main_conf_t  *mmcf;

    mmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_harbor_metrics_main_conf_t));
    if (mmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mmcf->shm_zone = NULL;
     */

    return mmcf;
}


static void *
ngx_http_harbor_metrics_create_conf(ngx_conf_t *cf)
{
    ngx_http_harbor_metrics_loc_conf_t  *mlcf;

    mlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_harbor_metrics_loc_conf_t));
    if (mlcf == NULL) {
        return NULL;
    }

    mlcf->enable = NGX_CONF_UNSET;

    return mlcf;
}


/*
 * harbor_metrics names one location and is not inherited; a location that
 * also serves the registry or a webhook would answer only one of them
 */

static char *
ngx_http_harbor_metrics_merge_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_harbor_metrics_loc_conf_t *conf = child;

    ngx_http_harbor_loc_conf_t         *hlcf;
#if (NGX_HTTP_HARBOR_EVENTS)
    ngx_http_harbor_events_loc_conf_t  *elcf;
#endif

    if (conf->enable == NGX_CONF_UNSET) {
        conf->enable = 0;
    }

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    hlcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_harbor_module);

    if (hlcf->registry == 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"harbor_metrics\" cannot be used in a location "
                           "with \"harbor_registry on\"");
        return NGX_CONF_ERROR;
    }

#if (NGX_HTTP_HARBOR_EVENTS)

    elcf = ngx_http_conf_get_module_loc_conf(cf,
                                             ngx_http_harbor_events_module);

    if (elcf->webhook == 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"harbor_metrics\" cannot be used in a location "
                           "with \"harbor_webhook\"");
        return NGX_CONF_ERROR;
    }

#endif

    return NGX_CONF_OK;
}


static char *
ngx_http_harbor_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_harbor_metrics_loc_conf_t *mlcf = conf;

    ngx_str_t                             name;
    ngx_http_core_loc_conf_t             *clcf;
    ngx_http_harbor_metrics_main_conf_t  *mmcf;

    if (mlcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    mlcf->enable = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "cannot be combined with another content handler "
               "in this location";
    }

    clcf->handler = ngx_http_harbor_metrics_handler;

    mmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_harbor_metrics_module);

    if (mmcf->shm_zone) {
        return NGX_CONF_OK;
    }

    ngx_str_set(&name, NGX_HTTP_HARBOR_METRICS_ZONE);

    mmcf->shm_zone = ngx_shared_memory_add(cf, &name, 8 * ngx_pagesize,
                                           &ngx_http_harbor_metrics_module);
    if (mmcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    mmcf->shm_zone->init = ngx_http_harbor_metrics_init_zone;

    return NGX_CONF_OK;
}


/*
 * On reload the new cycle takes the old cycle's zone as it is: the old
 * workers go on adding to the same counters while they finish their
 * requests, so nothing may be reset or moved.
 */

static ngx_int_t
ngx_http_harbor_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t                  *shpool;
    ngx_http_harbor_metrics_shctx_t  *sh;

    if (data) {
        shm_zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_harbor_metrics_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = sh;
    shm_zone->data = sh;

    return NGX_OK;
}


/*
 * The PREACCESS mark costs a pool cleanup per request, and only in
 * harbor_registry locations; the LOG handler exists only with a
 * harbor_metrics location to read what it counts.
 */

static ngx_int_t
ngx_http_harbor_metrics_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt                  *h;
    ngx_http_core_main_conf_t            *cmcf;
    ngx_http_harbor_main_conf_t          *hmcf;
    ngx_http_harbor_metrics_main_conf_t  *mmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    hmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_harbor_module);
    mmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_harbor_metrics_module);

    if (hmcf->enabled) {
        h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = ngx_http_harbor_metrics_preaccess;
    }

    if (mmcf->shm_zone) {
        h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = ngx_http_harbor_metrics_log;
    }

    return NGX_OK;
}
