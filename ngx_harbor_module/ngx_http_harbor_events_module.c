
/*
 * Harbor Edge: the events module: directives, configuration and the
 * worker's Redis link.
 *
 *   harbor_redis unix:PATH | HOST[:PORT];   http; enables everything below
 *   harbor_redis_queue NAME;                http; default harbor:events
 *   harbor_redis_timeout TIME;              http; default 1s (connect and
 *                                           reply; Harbor waits 3s)
 *   harbor_webhook;                         location: accept Harbor's POSTs
 *   harbor_webhook_auth VALUE | off;        location: required with
 *                                           harbor_webhook
 *   harbor_webhook_max_size SIZE;           location; default 64k
 *   harbor_preheat;                         location: Harbor's preheat
 *                                           provider ("Kraken") API under
 *                                           the location's prefix; auth and
 *                                           size as harbor_webhook
 *   harbor_events_test_miss;                location; tests only: queue a
 *                                           miss from ?object=&repository=
 *                                           &reference=
 *
 * Variables: $harbor_events_queued, $harbor_events_dropped,
 * $harbor_events_coalesced (all workers, kept across reloads).
 *
 * A separate module from the read path so that each can be built and
 * tested alone; both go into ngx_http_harbor_module.so.  A HOST is
 * resolved here, at configuration time, so that hiredis is only ever given
 * an address and never resolves names inside a worker.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_events.h"


#define NGX_HTTP_HARBOR_EVENTS_ZONE  "harbor_events"


static ngx_int_t ngx_http_harbor_events_add_variables(ngx_conf_t *cf);
static void *ngx_http_harbor_events_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_harbor_events_init_main_conf(ngx_conf_t *cf,
    void *conf);
static void *ngx_http_harbor_events_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_harbor_events_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_harbor_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_harbor_webhook(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_harbor_preheat(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_harbor_webhook_auth(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_harbor_events_test_miss(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_harbor_events_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_harbor_events_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_harbor_events_init_process(ngx_cycle_t *cycle);
static void ngx_http_harbor_events_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_harbor_events_commands[] = {

    { ngx_string("harbor_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_harbor_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("harbor_redis_queue"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_harbor_events_main_conf_t, redis.key),
      NULL },

    { ngx_string("harbor_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_harbor_events_main_conf_t, redis.timeout),
      NULL },

    { ngx_string("harbor_webhook"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_harbor_webhook,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("harbor_preheat"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_harbor_preheat,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("harbor_webhook_auth"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_harbor_webhook_auth,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("harbor_webhook_max_size"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_events_loc_conf_t, max_size),
      NULL },

    { ngx_string("harbor_events_test_miss"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_harbor_events_test_miss,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_harbor_events_module_ctx = {
    ngx_http_harbor_events_add_variables,   /* preconfiguration */
    NULL,                                   /* postconfiguration */

    ngx_http_harbor_events_create_main_conf, /* create main configuration */
    ngx_http_harbor_events_init_main_conf,  /* init main configuration */

    NULL,                                   /* create server configuration */
    NULL,                                   /* merge server configuration */

    ngx_http_harbor_events_create_loc_conf, /* create location configuration */
    ngx_http_harbor_events_merge_loc_conf   /* merge location configuration */
};


ngx_module_t  ngx_http_harbor_events_module = {
    NGX_MODULE_V1,
    &ngx_http_harbor_events_module_ctx,     /* module context */
    ngx_http_harbor_events_commands,        /* module directives */
    NGX_HTTP_MODULE,                        /* module type */
    NULL,                                   /* init master */
    NULL,                                   /* init module */
    ngx_http_harbor_events_init_process,    /* init process */
    NULL,                                   /* init thread */
    NULL,                                   /* exit thread */
    ngx_http_harbor_events_exit_process,    /* exit process */
    NULL,                                   /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_harbor_events_vars[] = {

    { ngx_string("harbor_events_queued"), NULL,
      ngx_http_harbor_events_variable,
      offsetof(ngx_http_harbor_redis_counters_t, queued),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("harbor_events_dropped"), NULL,
      ngx_http_harbor_events_variable,
      offsetof(ngx_http_harbor_redis_counters_t, dropped),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("harbor_events_coalesced"), NULL,
      ngx_http_harbor_events_variable,
      offsetof(ngx_http_harbor_redis_counters_t, coalesced),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_harbor_events_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_harbor_events_vars; v->name.len; v++) {
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
ngx_http_harbor_events_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_harbor_events_main_conf_t  *hmcf;

    hmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_harbor_events_main_conf_t));
    if (hmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     hmcf->redis.addr = { 0, NULL };
     *     hmcf->redis.key = { 0, NULL };
     *     hmcf->redis.host = NULL;
     *     hmcf->redis.path = NULL;
     *     hmcf->redis.counters = NULL;
     *     hmcf->shm_zone = NULL;
     *     hmcf->link = NULL;
     *     hmcf->miss_cache = NULL;
     *     hmcf->fill_cache = NULL;
     *     hmcf->served_cache = NULL;
     */

    hmcf->redis.timeout = NGX_CONF_UNSET_MSEC;

    return hmcf;
}


static char *
ngx_http_harbor_events_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_harbor_events_main_conf_t  *hmcf = conf;

    if (hmcf->redis.key.data == NULL) {
        ngx_str_set(&hmcf->redis.key, "harbor:events");

    } else if (hmcf->redis.key.len == 0) {
        return "\"harbor_redis_queue\" must not be empty";
    }

    /* the replicator's names beside the queue (docs/store.md) */

    hmcf->redis.fill_key.len = hmcf->redis.key.len + sizeof(":fill") - 1;
    hmcf->redis.fill_key.data = ngx_pnalloc(cf->pool,
                                            hmcf->redis.fill_key.len);
    hmcf->redis.served_key.len = hmcf->redis.key.len
                                 + sizeof(":served") - 1;
    hmcf->redis.served_key.data = ngx_pnalloc(cf->pool,
                                              hmcf->redis.served_key.len);

    hmcf->redis.misses_key.len = hmcf->redis.key.len
                                 + sizeof(":misses") - 1;
    hmcf->redis.misses_key.data = ngx_pnalloc(cf->pool,
                                              hmcf->redis.misses_key.len);
    hmcf->redis.stats_key.len = hmcf->redis.key.len + sizeof(":stats") - 1;
    hmcf->redis.stats_key.data = ngx_pnalloc(cf->pool,
                                             hmcf->redis.stats_key.len);

    if (hmcf->redis.fill_key.data == NULL
        || hmcf->redis.served_key.data == NULL
        || hmcf->redis.misses_key.data == NULL
        || hmcf->redis.stats_key.data == NULL)
    {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(hmcf->redis.fill_key.data, "%V:fill", &hmcf->redis.key);
    ngx_sprintf(hmcf->redis.served_key.data, "%V:served", &hmcf->redis.key);
    ngx_sprintf(hmcf->redis.misses_key.data, "%V:misses", &hmcf->redis.key);
    ngx_sprintf(hmcf->redis.stats_key.data, "%V:stats", &hmcf->redis.key);

    ngx_conf_init_msec_value(hmcf->redis.timeout, 1000);

    if (hmcf->redis.timeout == 0) {
        return "\"harbor_redis_timeout\" must not be 0";
    }

    hmcf->redis.slots = NGX_HTTP_HARBOR_REDIS_SLOTS;

    return NGX_CONF_OK;
}


static void *
ngx_http_harbor_events_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_harbor_events_loc_conf_t  *hlcf;

    hlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_harbor_events_loc_conf_t));
    if (hlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     hlcf->auth = { 0, NULL };
     *     hlcf->auth_set = 0;
     *     hlcf->test_miss = 0;
     */

    hlcf->webhook = NGX_CONF_UNSET;
    hlcf->max_size = NGX_CONF_UNSET_SIZE;

    return hlcf;
}


static char *
ngx_http_harbor_events_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_harbor_events_loc_conf_t *prev = parent;
    ngx_http_harbor_events_loc_conf_t *conf = child;

    char                                *name;
    ngx_http_core_loc_conf_t            *clcf;
    ngx_http_harbor_events_main_conf_t  *hmcf;

    /* harbor_webhook itself is not inherited: it names one location */

    if (conf->webhook == NGX_CONF_UNSET) {
        conf->webhook = 0;
    }

    ngx_conf_merge_size_value(conf->max_size, prev->max_size, 64 * 1024);

    if (!conf->auth_set) {
        conf->auth = prev->auth;
        conf->auth_set = prev->auth_set;
    }

    if (conf->webhook == 0) {
        return NGX_CONF_OK;
    }

    name = (conf->webhook == NGX_HTTP_HARBOR_EVENTS_PREHEAT)
           ? "harbor_preheat" : "harbor_webhook";

    hmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_harbor_events_module);

    if (hmcf->redis.addr.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" needs \"harbor_redis\" "
                           "in the http block", name);
        return NGX_CONF_ERROR;
    }

    if (!conf->auth_set) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" needs \"harbor_webhook_auth\" "
                           "(the Authorization value Harbor sends, "
                           "or \"off\")", name);
        return NGX_CONF_ERROR;
    }

    if (conf->max_size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"harbor_webhook_max_size\" must not be 0");
        return NGX_CONF_ERROR;
    }

    /*
     * The handler wants the body in one memory buffer: a body that fits
     * harbor_webhook_max_size must never be written to a temp file.  The
     * core module's merge has run already, so this is the final value.
     */

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->client_body_buffer_size < conf->max_size) {
        clcf->client_body_buffer_size = conf->max_size;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_harbor_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_harbor_events_main_conf_t *hmcf = conf;

    u_char     *p;
    size_t      len;
    ngx_str_t  *value, name;
    ngx_url_t   u;

    if (hmcf->redis.addr.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    hmcf->redis.addr = value[1];

    if (ngx_strncmp(value[1].data, "unix:", 5) == 0) {
        len = value[1].len - 5;

        if (len == 0) {
            return "has an empty unix socket path";
        }

        p = ngx_pnalloc(cf->pool, len + 1);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(p, value[1].data + 5, len);
        p[len] = '\0';
        hmcf->redis.path = p;

    } else {
        ngx_memzero(&u, sizeof(ngx_url_t));

        u.url = value[1];
        u.default_port = 6379;

        if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
            if (u.err) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "%s in \"%V\" of \"harbor_redis\"",
                                   u.err, &u.url);
            }

            return NGX_CONF_ERROR;
        }

        if (u.naddrs == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"harbor_redis\" host \"%V\" has no address",
                               &u.host);
            return NGX_CONF_ERROR;
        }

        p = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, p,
                            NGX_SOCKADDR_STRLEN, 0);
        p[len] = '\0';

        hmcf->redis.host = p;
        hmcf->redis.port = ngx_inet_get_port(u.addrs[0].sockaddr);
    }

    ngx_str_set(&name, NGX_HTTP_HARBOR_EVENTS_ZONE);

    hmcf->shm_zone = ngx_shared_memory_add(cf, &name, 8 * ngx_pagesize,
                                           &ngx_http_harbor_events_module);
    if (hmcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    hmcf->shm_zone->init = ngx_http_harbor_events_init_zone;

    return NGX_CONF_OK;
}


static char *
ngx_http_harbor_webhook(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_harbor_events_loc_conf_t *hlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (hlcf->webhook != NGX_CONF_UNSET || hlcf->test_miss) {
        return "is duplicate";
    }

    hlcf->webhook = NGX_HTTP_HARBOR_EVENTS_WEBHOOK;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_harbor_webhook_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_harbor_preheat(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_harbor_events_loc_conf_t *hlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (hlcf->webhook != NGX_CONF_UNSET || hlcf->test_miss) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /* the provider's endpoint is a prefix: its paths are found below it */

    if (clcf->named
#if (NGX_PCRE)
        || clcf->regex
#endif
        || clcf->exact_match)
    {
        return "must be in a prefix location";
    }

    hlcf->webhook = NGX_HTTP_HARBOR_EVENTS_PREHEAT;
    clcf->handler = ngx_http_harbor_preheat_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_harbor_webhook_auth(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_harbor_events_loc_conf_t *hlcf = conf;

    ngx_uint_t   i;
    ngx_str_t   *value;

    if (hlcf->auth_set) {
        return "is duplicate";
    }

    value = cf->args->elts;
    hlcf->auth_set = 1;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        return NGX_CONF_OK;
    }

    if (value[1].len == 0) {
        return "must not be empty (use \"off\" to accept any request)";
    }

    /* what an HTTP header value can hold, as Harbor sends it verbatim */

    for (i = 0; i < value[1].len; i++) {
        if (value[1].data[i] < 0x20 || value[1].data[i] == 0x7f) {
            return "has a control character";
        }
    }

    hlcf->auth = value[1];

    return NGX_CONF_OK;
}


static char *
ngx_http_harbor_events_test_miss(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_harbor_events_loc_conf_t *hlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (hlcf->test_miss || hlcf->webhook != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    hlcf->test_miss = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_harbor_events_test_miss_handler;

    return NGX_CONF_OK;
}


/* the counters survive a reload: the new cycle takes the old zone's */

static ngx_int_t
ngx_http_harbor_events_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t                   *shpool;
    ngx_http_harbor_redis_counters_t  *counters;

    if (data) {
        shm_zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    counters = ngx_slab_calloc(shpool,
                               sizeof(ngx_http_harbor_redis_counters_t));
    if (counters == NULL) {
        return NGX_ERROR;
    }

    shpool->data = counters;
    shm_zone->data = counters;

    return NGX_OK;
}


static ngx_int_t
ngx_http_harbor_events_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                              *p;
    ngx_atomic_t                        *value;
    ngx_http_harbor_events_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_harbor_events_module);

    if (hmcf->shm_zone == NULL || hmcf->shm_zone->data == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_ATOMIC_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    value = (ngx_atomic_t *) ((u_char *) hmcf->shm_zone->data + data);

    v->len = ngx_sprintf(p, "%uA", *value) - p;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_harbor_events_init_process(ngx_cycle_t *cycle)
{
    ngx_http_harbor_events_main_conf_t  *hmcf;

    hmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_harbor_events_module);

    if (hmcf == NULL || hmcf->redis.addr.len == 0) {
        return NGX_OK;
    }

    hmcf->redis.counters = hmcf->shm_zone->data;

    hmcf->miss_cache = ngx_pcalloc(cycle->pool,
                                   NGX_HTTP_HARBOR_MISS_CACHE
                                   * sizeof(ngx_http_harbor_miss_entry_t));
    hmcf->fill_cache = ngx_pcalloc(cycle->pool,
                                   NGX_HTTP_HARBOR_FILL_CACHE
                                   * sizeof(ngx_http_harbor_miss_entry_t));
    hmcf->served_cache = ngx_pcalloc(cycle->pool,
                                     NGX_HTTP_HARBOR_SERVED_CACHE
                                     * sizeof(ngx_http_harbor_miss_entry_t));

    if (hmcf->miss_cache == NULL || hmcf->fill_cache == NULL
        || hmcf->served_cache == NULL)
    {
        return NGX_ERROR;
    }

    hmcf->link = ngx_http_harbor_redis_create(&hmcf->redis, cycle->pool,
                                              cycle->log);
    if (hmcf->link == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_harbor_events_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_harbor_events_main_conf_t  *hmcf;

    hmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_harbor_events_module);

    if (hmcf == NULL || hmcf->link == NULL) {
        return;
    }

    ngx_http_harbor_redis_destroy(hmcf->link);
    hmcf->link = NULL;
}
