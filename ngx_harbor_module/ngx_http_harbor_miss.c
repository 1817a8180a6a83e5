
/*
 * Harbor Edge: miss events, from the read path to the replicator.
 *
 * A popular image missing from the store is asked for by every client at
 * once, so repeats of one object are folded: a direct-mapped table per
 * worker (NGX_HTTP_HARBOR_MISS_CACHE entries keyed by a 64-bit hash of
 * kind, repository and reference) remembers what was queued in the last
 * NGX_HTTP_HARBOR_MISS_TTL ms.  A collision only evicts the older entry,
 * so the worst case is a duplicate event, never a lost one.  Only events
 * the link accepted are remembered: after a drop, the next miss retries.
 *
 * The request that missed is never delayed: the line goes into a slot of
 * the worker's Redis link, or is dropped and counted.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_events.h"
#include "he_oci_grammar.h"


void
ngx_http_harbor_events_miss(ngx_http_request_t *r, ngx_str_t *repository,
    ngx_str_t *reference, ngx_uint_t kind)
{
    u_char                              *p;
    uint64_t                             key;
    ngx_int_t                            rc;
    he_oci_digest_e                      dt;
    ngx_http_harbor_miss_entry_t        *e;
    ngx_http_harbor_redis_counters_t    *counters;
    ngx_http_harbor_events_main_conf_t  *hmcf;
    u_char                               line[NGX_HTTP_HARBOR_REDIS_LINE_MAX];

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_harbor_events_module);

    if (hmcf == NULL || hmcf->link == NULL) {
        return;
    }

    /*
     * The read path checked both already; checking again keeps the
     * promise that a queued line never needs escaping.
     */

    dt = he_oci_digest(reference->data, reference->len, NULL);

    if (kind > NGX_HTTP_HARBOR_MISS_BLOB
        || !he_oci_name(repository->data, repository->len)
        || (dt != HE_OCI_SHA256 && dt != HE_OCI_SHA512
            && !he_oci_tag(reference->data, reference->len)))
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "harbor: miss event for an invalid name \"%V\" "
                      "or reference \"%V\" not queued",
                      repository, reference);
        return;
    }

    counters = hmcf->redis.counters;

    key = ngx_http_harbor_events_hash(kind, repository, reference);
    e = &hmcf->miss_cache[key & (NGX_HTTP_HARBOR_MISS_CACHE - 1)];

    if (e->key == key && (ngx_msec_int_t) (e->expires - ngx_current_msec) > 0)
    {
        (void) ngx_atomic_fetch_add(&counters->coalesced, 1);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "harbor miss event coalesced: \"%V\" \"%V\"",
                       repository, reference);
        return;
    }

    p = ngx_snprintf(line, sizeof(line),
                     "{\"kind\":\"miss\",\"object\":\"%s\","
                     "\"repository\":\"%V\",\"reference\":\"%V\","
                     "\"occurred_at\":%T,\"source\":\"edge\"}",
                     kind == NGX_HTTP_HARBOR_MISS_BLOB ? "blob" : "manifest",
                     repository, reference, ngx_time());

    /* folded with other workers' and edges' misses, and capped, in Redis */
    rc = ngx_http_harbor_redis_push(hmcf->link, NGX_HTTP_HARBOR_REDIS_MISS,
                                    line, p - line, NULL, NULL, NULL);

    if (rc != NGX_OK) {
        (void) ngx_atomic_fetch_add(&counters->dropped, 1);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "harbor miss event dropped: \"%V\" \"%V\"",
                       repository, reference);
        return;
    }

    e->key = key;
    e->expires = ngx_current_msec + NGX_HTTP_HARBOR_MISS_TTL;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "harbor miss event: \"%V\" \"%V\"",
                   repository, reference);
}


/*
 * harbor_events_test_miss: GET ?object=manifest|blob&repository=R
 * &reference=REF queues a miss as the read path would, and answers 204.
 * For tests of this module alone; the arguments are used as they come,
 * not URL-decoded.
 */

ngx_int_t
ngx_http_harbor_events_test_miss_handler(ngx_http_request_t *r)
{
    ngx_int_t   rc;
    ngx_str_t   object, repository, reference;
    ngx_uint_t  kind;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_arg(r, (u_char *) "object", 6, &object) != NGX_OK
        || ngx_http_arg(r, (u_char *) "repository", 10, &repository)
           != NGX_OK
        || ngx_http_arg(r, (u_char *) "reference", 9, &reference) != NGX_OK)
    {
        return NGX_HTTP_BAD_REQUEST;
    }

    if (object.len == 4 && ngx_strncmp(object.data, "blob", 4) == 0) {
        kind = NGX_HTTP_HARBOR_MISS_BLOB;

    } else if (object.len == 8
               && ngx_strncmp(object.data, "manifest", 8) == 0)
    {
        kind = NGX_HTTP_HARBOR_MISS_MANIFEST;

    } else {
        return NGX_HTTP_BAD_REQUEST;
    }

    ngx_http_harbor_events_miss(r, &repository, &reference, kind);

    return NGX_HTTP_NO_CONTENT;
}


/* FNV-1a, 64 bits; the NUL keeps "a/b"+"c" apart from "a/bc"+"" */

uint64_t
ngx_http_harbor_events_hash(ngx_uint_t kind, ngx_str_t *repository,
    ngx_str_t *reference)
{
    size_t    i;
    uint64_t  h;

    h = 0xcbf29ce484222325ULL;

    h ^= (u_char) kind;
    h *= 0x100000001b3ULL;

    for (i = 0; i < repository->len; i++) {
        h ^= repository->data[i];
        h *= 0x100000001b3ULL;
    }

    h ^= 0;
    h *= 0x100000001b3ULL;

    for (i = 0; i < reference->len; i++) {
        h ^= reference->data[i];
        h *= 0x100000001b3ULL;
    }

    /* 0 marks an empty table entry */
    return h ? h : 1;
}
