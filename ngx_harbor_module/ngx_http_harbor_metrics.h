
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * ngx_http_harbor_metrics_module: what the edge did, for Prometheus and for
 * the access log.  Its directive, configuration, zone and variables are
 * in ngx_http_harbor_metrics_module.c; the handlers (the exposition, the
 * LOG phase counter, the variables' values) in
 * ngx_http_harbor_metrics_handler.c.
 *
 * This header holds the exposition, top to bottom, as format strings:
 * each family is a HELP/TYPE block followed by the format of one sample,
 * so that the wire format (text format 0.0.4) can be read here without
 * the code that fills it.  Label values are fixed words from the tables
 * in ngx_http_harbor_metrics_handler.c, never request data, so no series
 * can be added by a client and no escaping is ever needed.
 */


#ifndef _NGX_HTTP_HARBOR_METRICS_H_INCLUDED_
#define _NGX_HTTP_HARBOR_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_module.h"


#define NGX_HTTP_HARBOR_METRICS_TYPE                                          \
    "text/plain; version=0.0.4; charset=utf-8"


#define NGX_HTTP_HARBOR_METRICS_REQUESTS                                      \
    "# HELP harbor_edge_requests_total Requests to harbor_registry "          \
    "locations, by endpoint and status class.\n"                              \
    "# TYPE harbor_edge_requests_total counter\n"

#define NGX_HTTP_HARBOR_METRICS_REQUESTS_S                                    \
    "harbor_edge_requests_total{endpoint=\"%s\",code=\"%s\"} %uA\n"


#define NGX_HTTP_HARBOR_METRICS_CACHE                                         \
    "# HELP harbor_edge_cache_requests_total Requests to harbor_registry "    \
    "locations by cache status ($harbor_cache_status): hit (answered from "   \
    "the store), miss (404), pass (harbor_miss_pass to the primary), "        \
    "denied, bypass (not looked up), error, fill (answered from a fill "     \
    "under way, harbor_fill).\n"                                \
    "# TYPE harbor_edge_cache_requests_total counter\n"

#define NGX_HTTP_HARBOR_METRICS_CACHE_S                                       \
    "harbor_edge_cache_requests_total{status=\"%s\"} %uA\n"


#define NGX_HTTP_HARBOR_METRICS_SENT                                          \
    "# HELP harbor_edge_store_sent_bytes_total Response body bytes sent "     \
    "from the store (hits).\n"                                                \
    "# TYPE harbor_edge_store_sent_bytes_total counter\n"                     \
    "harbor_edge_store_sent_bytes_total %uA\n"


#define NGX_HTTP_HARBOR_METRICS_VERIFY                                        \
    "# HELP harbor_edge_verify_hashes_total Manifests and blobs hashed to "   \
    "check their digest.\n"                                                   \
    "# TYPE harbor_edge_verify_hashes_total counter\n"                        \
    "harbor_edge_verify_hashes_total %uA\n"                                   \
    "# HELP harbor_edge_verify_failures_total Hashes that did not match the " \
    "digest: the file was not served.\n"                                      \
    "# TYPE harbor_edge_verify_failures_total counter\n"                      \
    "harbor_edge_verify_failures_total %uA\n"


#define NGX_HTTP_HARBOR_METRICS_FILL                                          \
    "# HELP harbor_edge_fill_requests_total Requests that missed and "        \
    "followed a fill (harbor_fill): started (asked the replicator), joined "  \
    "(one under way), completed (answered whole), failed (cut: the fill "     \
    "failed or stalled).\n"                                                   \
    "# TYPE harbor_edge_fill_requests_total counter\n"                        \
    "harbor_edge_fill_requests_total{result=\"started\"} %uA\n"               \
    "harbor_edge_fill_requests_total{result=\"joined\"} %uA\n"                \
    "harbor_edge_fill_requests_total{result=\"completed\"} %uA\n"             \
    "harbor_edge_fill_requests_total{result=\"failed\"} %uA\n"


#define NGX_HTTP_HARBOR_METRICS_FRESH                                         \
    "# HELP harbor_edge_revalidations_total Tags older than "                 \
    "harbor_tag_max_age: revalidated (passed to the primary, a refresh "      \
    "queued), stale (served from the store after the primary failed).\n"     \
    "# TYPE harbor_edge_revalidations_total counter\n"                        \
    "harbor_edge_revalidations_total{result=\"revalidated\"} %uA\n"           \
    "harbor_edge_revalidations_total{result=\"stale\"} %uA\n"


#define NGX_HTTP_HARBOR_METRICS_DENIED                                        \
    "# HELP harbor_edge_auth_denied_total Requests refused by harbor_auth, "  \
    "by reason.\n"                                                            \
    "# TYPE harbor_edge_auth_denied_total counter\n"

#define NGX_HTTP_HARBOR_METRICS_DENIED_S                                      \
    "harbor_edge_auth_denied_total{reason=\"%s\"} %uA\n"


#define NGX_HTTP_HARBOR_METRICS_PREHEAT                                       \
    "# HELP harbor_edge_preheat_requests_total Requests to harbor_preheat "  \
    "locations (notifications, health checks): accepted (2xx) or "           \
    "refused.\n"                                                             \
    "# TYPE harbor_edge_preheat_requests_total counter\n"

#define NGX_HTTP_HARBOR_METRICS_PREHEAT_S                                     \
    "harbor_edge_preheat_requests_total{result=\"%s\"} %uA\n"


#define NGX_HTTP_HARBOR_METRICS_WEBHOOK                                       \
    "# HELP harbor_edge_webhook_requests_total Deliveries to harbor_webhook " \
    "locations: accepted (2xx) or refused.\n"                                 \
    "# TYPE harbor_edge_webhook_requests_total counter\n"

#define NGX_HTTP_HARBOR_METRICS_WEBHOOK_S                                     \
    "harbor_edge_webhook_requests_total{result=\"%s\"} %uA\n"


#define NGX_HTTP_HARBOR_METRICS_EVENTS                                        \
    "# HELP harbor_edge_events_total Events for the replicator: queued in "   \
    "Redis, dropped, or coalesced into a recent miss.\n"                      \
    "# TYPE harbor_edge_events_total counter\n"                               \
    "harbor_edge_events_total{result=\"queued\"} %uA\n"                       \
    "harbor_edge_events_total{result=\"dropped\"} %uA\n"                      \
    "harbor_edge_events_total{result=\"coalesced\"} %uA\n"


#define NGX_HTTP_HARBOR_METRICS_ZONE     "harbor_metrics"

/* status classes 2xx, 3xx, 4xx, 5xx */
#define NGX_HTTP_HARBOR_METRICS_NCLASSES  4

/* the longest label value of any table, with room to spare */
#define NGX_HTTP_HARBOR_METRICS_LABEL_MAX  16


/* $harbor_cache_status, and the label of harbor_edge_cache_requests_total */
typedef enum {
    NGX_HTTP_HARBOR_CACHE_HIT = 0,
    NGX_HTTP_HARBOR_CACHE_MISS,
    NGX_HTTP_HARBOR_CACHE_PASS,
    NGX_HTTP_HARBOR_CACHE_DENIED,
    NGX_HTTP_HARBOR_CACHE_BYPASS,
    NGX_HTTP_HARBOR_CACHE_ERROR,
    NGX_HTTP_HARBOR_CACHE_FILL,
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
    ngx_atomic_t                 preheat[2];    /* accepted, refused */
} ngx_http_harbor_metrics_shctx_t;


typedef struct {
    ngx_shm_zone_t              *shm_zone;  /* NULL: no harbor_metrics */
} ngx_http_harbor_metrics_main_conf_t;


typedef struct {
    ngx_flag_t                   enable;
} ngx_http_harbor_metrics_loc_conf_t;


ngx_int_t ngx_http_harbor_metrics_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_harbor_metrics_log(ngx_http_request_t *r);
ngx_int_t ngx_http_harbor_metrics_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


extern ngx_module_t  ngx_http_harbor_metrics_module;


#endif /* _NGX_HTTP_HARBOR_METRICS_H_INCLUDED_ */
