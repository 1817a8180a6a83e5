
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * Harbor Edge: what the read path tells the replicator for the cache:
 * fill requests (docs/store.md, "Fills") and what was served (the
 * replicator's budget evicts the least recently served first).
 *
 * Both are folded per worker in direct-mapped tables, as misses are
 * (ngx_http_harbor_miss.c): a fill request of one object goes out once a
 * second while its clients wait, a served object is reported once a
 * second.  A collision only costs a duplicate line.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_events.h"
#include "he_oci_grammar.h"


ngx_int_t
ngx_http_harbor_events_fill(ngx_http_request_t *r, ngx_str_t *repository,
    ngx_str_t *reference, ngx_uint_t kind, ngx_uint_t auth_token)
{
    u_char                              *p;
    uint64_t                             key;
    ngx_int_t                            rc;
    he_oci_digest_e                      dt;
    ngx_http_harbor_miss_entry_t        *e;
    ngx_http_harbor_events_main_conf_t  *hmcf;
    u_char                               line[NGX_HTTP_HARBOR_REDIS_LINE_MAX];

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_harbor_events_module);

    if (hmcf == NULL || hmcf->link == NULL
        || ngx_http_harbor_redis_is_down(hmcf->link))
    {
        return NGX_DECLINED;
    }

    /* checked by the read path; again here: a line never needs escaping */

    dt = he_oci_digest(reference->data, reference->len, NULL);

    if (kind > NGX_HTTP_HARBOR_MISS_BLOB
        || !he_oci_name(repository->data, repository->len)
        || (dt != HE_OCI_SHA256
            && (kind == NGX_HTTP_HARBOR_MISS_BLOB
                || !he_oci_tag(reference->data, reference->len))))
    {
        return NGX_DECLINED;
    }

    key = ngx_http_harbor_events_hash(kind + 2, repository, reference);
    e = &hmcf->fill_cache[key & (NGX_HTTP_HARBOR_FILL_CACHE - 1)];

    if (e->key == key && (ngx_msec_int_t) (e->expires - ngx_current_msec) > 0)
    {
        return NGX_OK;
    }

    p = ngx_snprintf(line, sizeof(line),
                     "{\"kind\":\"fill\",\"object\":\"%s\","
                     "\"repository\":\"%V\",\"reference\":\"%V\","
                     "\"auth\":\"%s\",\"occurred_at\":%T}",
                     kind == NGX_HTTP_HARBOR_MISS_BLOB ? "blob" : "manifest",
                     repository, reference, auth_token ? "token" : "none",
                     ngx_time());

    rc = ngx_http_harbor_redis_push(hmcf->link, NGX_HTTP_HARBOR_REDIS_FILL,
                                    line, p - line, NULL, NULL, NULL);

    if (rc != NGX_OK) {
        (void) ngx_atomic_fetch_add(&hmcf->redis.counters->dropped, 1);
        return NGX_DECLINED;
    }

    e->key = key;
    e->expires = ngx_current_msec + NGX_HTTP_HARBOR_FILL_TTL;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "harbor fill request: \"%V\" \"%V\"",
                   repository, reference);

    return NGX_OK;
}


void
ngx_http_harbor_events_served(ngx_http_request_t *r, ngx_str_t *digest)
{
    uint64_t                             key;
    ngx_str_t                            none;
    ngx_http_harbor_miss_entry_t        *e;
    ngx_http_harbor_events_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_harbor_events_module);

    if (hmcf == NULL || hmcf->link == NULL
        || he_oci_digest(digest->data, digest->len, NULL) != HE_OCI_SHA256)
    {
        return;
    }

    ngx_str_null(&none);

    key = ngx_http_harbor_events_hash(4, &none, digest);
    e = &hmcf->served_cache[key & (NGX_HTTP_HARBOR_SERVED_CACHE - 1)];

    /* the replicator counts in seconds: more often says nothing new */
    if (e->key == key && e->expires == (ngx_msec_t) ngx_time()) {
        return;
    }

    if (ngx_http_harbor_redis_push(hmcf->link, NGX_HTTP_HARBOR_REDIS_SERVED,
                                   digest->data, digest->len, NULL, NULL,
                                   NULL)
        != NGX_OK)
    {
        return;
    }

    e->key = key;
    e->expires = (ngx_msec_t) ngx_time();
}
