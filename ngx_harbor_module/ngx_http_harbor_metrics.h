
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * ngx_http_harbor_metrics_module: what the edge did, for Prometheus and for
 * the access log.  This header holds the exposition, top to bottom, as
 * format strings: each family is a HELP/TYPE block followed by the format
 * of one sample, so that the wire format (text format 0.0.4) can be read
 * here without the code that fills it.  Label values are fixed words from
 * the tables in ngx_http_harbor_metrics_module.c, never request data, so
 * no series can be added by a client and no escaping is ever needed.
 *
 * It also declares the one call the auth module makes when it refuses a
 * request.
 */


#ifndef _NGX_HTTP_HARBOR_METRICS_H_INCLUDED_
#define _NGX_HTTP_HARBOR_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


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
    "denied, bypass (not looked up), error.\n"                                \
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


#define NGX_HTTP_HARBOR_METRICS_DENIED                                        \
    "# HELP harbor_edge_auth_denied_total Requests refused by harbor_auth, "  \
    "by reason.\n"                                                            \
    "# TYPE harbor_edge_auth_denied_total counter\n"

#define NGX_HTTP_HARBOR_METRICS_DENIED_S                                      \
    "harbor_edge_auth_denied_total{reason=\"%s\"} %uA\n"


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


/* reasons of a refusal, the label values of harbor_edge_auth_denied_total */
typedef enum {
    NGX_HTTP_HARBOR_DENIED_NO_TOKEN = 0,
    NGX_HTTP_HARBOR_DENIED_INVALID_TOKEN,
    NGX_HTTP_HARBOR_DENIED_INSUFFICIENT_SCOPE,
    NGX_HTTP_HARBOR_NDENIED
} ngx_http_harbor_denied_e;


/*
 * Called by the auth module as it refuses a request; error is the
 * challenge's error parameter (NULL: no token at all, "invalid_token",
 * "insufficient_scope").  Marks the request DENIED for the log variables
 * and the LOG-phase counters; never fails the request.
 */
void ngx_http_harbor_metrics_denied(ngx_http_request_t *r, char *error);


extern ngx_module_t  ngx_http_harbor_metrics_module;


#endif /* _NGX_HTTP_HARBOR_METRICS_H_INCLUDED_ */
