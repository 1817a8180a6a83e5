
/*
 * Harbor Edge: events for the replicator, queued in Redis.
 *
 * Two producers, one queue (a Redis list, RPUSH; the replicator pops):
 *
 *   - the webhook location (harbor_webhook) turns Harbor's PUSH_ARTIFACT
 *     and DELETE_ARTIFACT deliveries into lines such as
 *     {"kind":"push","repository":"prod/api","digest":"sha256:...",
 *      "tag":"v1","occurred_at":1717000000,"source":"webhook"}
 *   - the read path calls ngx_http_harbor_events_miss() when a manifest or
 *     blob is not in the store:
 *     {"kind":"miss","object":"manifest","repository":"prod/api",
 *      "reference":"v1","occurred_at":1717000000,"source":"edge"}
 *
 * Every value in a line has passed the OCI grammars, so no escaping is
 * ever needed.  This module is separate from the read path's
 * (ngx_http_harbor_module) and costs nothing unless harbor_redis is set.
 */


#ifndef _NGX_HTTP_HARBOR_EVENTS_H_INCLUDED_
#define _NGX_HTTP_HARBOR_EVENTS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_redis.h"


#define NGX_HTTP_HARBOR_MISS_MANIFEST  0
#define NGX_HTTP_HARBOR_MISS_BLOB      1

/* misses of one object within this time are sent once (per worker) */
#define NGX_HTTP_HARBOR_MISS_TTL       5000
#define NGX_HTTP_HARBOR_MISS_CACHE     1024


typedef struct {
    uint64_t                           key;
    ngx_msec_t                         expires;
} ngx_http_harbor_miss_entry_t;


/* fill requests of one object are sent once a second (per worker) */
#define NGX_HTTP_HARBOR_FILL_TTL       1000
#define NGX_HTTP_HARBOR_FILL_CACHE     1024

/* what was served is reported once a second (per worker and object) */
#define NGX_HTTP_HARBOR_SERVED_CACHE   4096


typedef struct {
    ngx_http_harbor_redis_conf_t       redis;
    ngx_shm_zone_t                    *shm_zone;  /* the counters */

    /* this worker's, made in init_process */
    ngx_http_harbor_redis_t           *link;
    ngx_http_harbor_miss_entry_t      *miss_cache;
    ngx_http_harbor_miss_entry_t      *fill_cache;
    ngx_http_harbor_miss_entry_t      *served_cache;
} ngx_http_harbor_events_main_conf_t;


/* what a location with a body of Harbor's takes: ..._loc_conf_t.webhook */
#define NGX_HTTP_HARBOR_EVENTS_WEBHOOK     1     /* harbor_webhook */
#define NGX_HTTP_HARBOR_EVENTS_PREHEAT     2     /* harbor_preheat */


typedef struct {
    ngx_int_t                          webhook;    /* 0 or one of above */
    ngx_str_t                          auth;       /* data NULL: off */
    ngx_uint_t                         auth_set;
    size_t                             max_size;
    ngx_uint_t                         test_miss;
} ngx_http_harbor_events_loc_conf_t;


/*
 * Called by the read path on a manifest or blob miss (kind: one of
 * NGX_HTTP_HARBOR_MISS_*).  Never blocks, never fails the request: with
 * Redis away the event waits in a bounded queue or is dropped and counted.
 * Does nothing when harbor_redis is not configured.
 */
void ngx_http_harbor_events_miss(ngx_http_request_t *r,
    ngx_str_t *repository, ngx_str_t *reference, ngx_uint_t kind);

/*
 * A fill request (docs/store.md, "Fills") to <queue>:fill: NGX_OK when
 * queued, or folded into one sent within the last second; NGX_DECLINED
 * when it cannot be (no harbor_redis, Redis down, no slot): the caller
 * does not wait for a fill then.
 */
ngx_int_t ngx_http_harbor_events_fill(ngx_http_request_t *r,
    ngx_str_t *repository, ngx_str_t *reference, ngx_uint_t kind,
    ngx_uint_t auth_token);

/*
 * digest was served from the store (or a fill): ZADD <queue>:served, at
 * most once a second per object and worker; the replicator evicts what
 * was served least recently.  Never blocks, never fails the request.
 */
void ngx_http_harbor_events_served(ngx_http_request_t *r, ngx_str_t *digest);

/* FNV-1a of (kind, repository, reference): the folding tables' key */
uint64_t ngx_http_harbor_events_hash(ngx_uint_t kind, ngx_str_t *repository,
    ngx_str_t *reference);

ngx_int_t ngx_http_harbor_webhook_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_harbor_preheat_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_harbor_events_test_miss_handler(ngx_http_request_t *r);


extern ngx_module_t  ngx_http_harbor_events_module;


#endif /* _NGX_HTTP_HARBOR_EVENTS_H_INCLUDED_ */
