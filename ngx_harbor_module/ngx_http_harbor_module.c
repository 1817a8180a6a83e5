
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * Directives, configuration create/merge and postconfiguration of
 * ngx_http_harbor_module.  Everything that can be checked at "nginx -t"
 * is checked here (bad values, harbor_registry without harbor_root, an
 * invalid ns prefix), so the request path only meets valid settings.
 * The content handler is installed only when some location says
 * "harbor_registry on", and it declines at once elsewhere.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_module.h"

#if (NGX_HTTP_HARBOR_EVENTS)
#include "ngx_http_harbor_events.h"
#endif


static void *ngx_http_harbor_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_harbor_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_harbor_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_harbor_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_harbor_root(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_harbor_ns(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_harbor_miss_pass(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_harbor_tag_max_age(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_harbor_shm_size(ngx_conf_t *cf, void *post,
    void *data);
static ngx_int_t ngx_http_harbor_check_miss_pass(ngx_conf_t *cf,
    ngx_http_harbor_main_conf_t *hmcf);
static ngx_int_t ngx_http_harbor_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_harbor_init_module(ngx_cycle_t *cycle);


static ngx_conf_enum_t  ngx_http_harbor_verify_modes[] = {
    { ngx_string("off"), NGX_HTTP_HARBOR_VERIFY_OFF },
    { ngx_string("once"), NGX_HTTP_HARBOR_VERIFY_ONCE },
    { ngx_string("always"), NGX_HTTP_HARBOR_VERIFY_ALWAYS },
    { ngx_null_string, 0 }
};


static ngx_conf_num_bounds_t  ngx_http_harbor_catalog_bounds = {
    ngx_conf_check_num_bounds, 1, 1000000
};


static ngx_conf_num_bounds_t  ngx_http_harbor_max_hashes_bounds = {
    ngx_conf_check_num_bounds, 1, 1024
};


static ngx_conf_post_handler_pt  ngx_http_harbor_shm_size_p =
    ngx_http_harbor_shm_size;


static ngx_command_t  ngx_http_harbor_commands[] = {

    { ngx_string("harbor_root"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_harbor_root,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("harbor_registry"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_loc_conf_t, registry),
      NULL },

    { ngx_string("harbor_verify"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_loc_conf_t, verify),
      &ngx_http_harbor_verify_modes },

    { ngx_string("harbor_verify_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_loc_conf_t, thread_pool_name),
      NULL },

    { ngx_string("harbor_verify_max_hashes"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_loc_conf_t, verify_max_hashes),
      &ngx_http_harbor_max_hashes_bounds },

    { ngx_string("harbor_ns"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_harbor_ns,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("harbor_manifest_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_loc_conf_t, manifest_max_size),
      NULL },

    { ngx_string("harbor_catalog_max_entries"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_loc_conf_t, catalog_max_entries),
      &ngx_http_harbor_catalog_bounds },

    { ngx_string("harbor_miss_pass"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_harbor_miss_pass,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("harbor_fill"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_loc_conf_t, fill),
      NULL },

    { ngx_string("harbor_fill_wait"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_loc_conf_t, fill_wait),
      NULL },

    { ngx_string("harbor_fill_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_loc_conf_t, fill_timeout),
      NULL },

    { ngx_string("harbor_state_dir"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_loc_conf_t, state_dir),
      NULL },

    { ngx_string("harbor_tag_max_age"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_harbor_tag_max_age,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_loc_conf_t, tag_max_age),
      NULL },

    { ngx_string("harbor_shm_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_harbor_main_conf_t, shm_size),
      &ngx_http_harbor_shm_size_p },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_harbor_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_harbor_init,                  /* postconfiguration */

    ngx_http_harbor_create_main_conf,      /* create main configuration */
    ngx_http_harbor_init_main_conf,        /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_harbor_create_loc_conf,       /* create location configuration */
    ngx_http_harbor_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_harbor_module = {
    NGX_MODULE_V1,
    &ngx_http_harbor_module_ctx,           /* module context */
    ngx_http_harbor_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_harbor_init_module,           /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_harbor_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_harbor_main_conf_t  *hmcf;

    hmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_harbor_main_conf_t));
    if (hmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     hmcf->shm_zone = NULL;
     *     hmcf->enabled = 0;
     */

    hmcf->shm_size = NGX_CONF_UNSET_SIZE;

    if (ngx_array_init(&hmcf->miss_passes, cf->pool, 2,
                       sizeof(ngx_http_harbor_miss_pass_t))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&hmcf->roots, cf->pool, 2,
                       sizeof(ngx_http_harbor_root_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return hmcf;
}


static char *
ngx_http_harbor_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_harbor_main_conf_t  *hmcf = conf;

    ngx_conf_init_size_value(hmcf->shm_size, 1024 * 1024);

    return NGX_CONF_OK;
}


static void *
ngx_http_harbor_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_harbor_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_harbor_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->root = { 0, NULL };
     *     conf->v2 = { 0, NULL };
     *     conf->store = NULL;
     *     conf->thread_pool_name = { 0, NULL };
     *     conf->thread_pool = NULL;
     *     conf->miss_pass = { 0, NULL };
     */

    conf->registry = NGX_CONF_UNSET;
    conf->verify = NGX_CONF_UNSET_UINT;
    conf->verify_max_hashes = NGX_CONF_UNSET_UINT;
    conf->ns = NGX_CONF_UNSET_PTR;
    conf->manifest_max_size = NGX_CONF_UNSET_SIZE;
    conf->catalog_max_entries = NGX_CONF_UNSET_UINT;
    conf->fill = NGX_CONF_UNSET;
    conf->fill_wait = NGX_CONF_UNSET_MSEC;
    conf->fill_timeout = NGX_CONF_UNSET_MSEC;
    conf->tag_max_age = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_harbor_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_harbor_loc_conf_t *prev = parent;
    ngx_http_harbor_loc_conf_t *conf = child;

    ngx_http_harbor_miss_pass_t  *mp;
    ngx_http_harbor_main_conf_t  *hmcf;

    if (conf->root.data == NULL) {
        conf->root = prev->root;
        conf->v2 = prev->v2;
        conf->store = prev->store;
    }

    ngx_conf_merge_value(conf->registry, prev->registry, 0);
    ngx_conf_merge_uint_value(conf->verify, prev->verify,
                              NGX_HTTP_HARBOR_VERIFY_ONCE);
    ngx_conf_merge_str_value(conf->thread_pool_name, prev->thread_pool_name,
                             "default");
    ngx_conf_merge_uint_value(conf->verify_max_hashes,
                              prev->verify_max_hashes,
                              NGX_HTTP_HARBOR_VERIFY_MAX_HASHES);
    ngx_conf_merge_ptr_value(conf->ns, prev->ns, NULL);
    ngx_conf_merge_size_value(conf->manifest_max_size,
                              prev->manifest_max_size, 4 * 1024 * 1024);
    ngx_conf_merge_uint_value(conf->catalog_max_entries,
                              prev->catalog_max_entries, 1000);
    ngx_conf_merge_str_value(conf->miss_pass, prev->miss_pass, "");
    ngx_conf_merge_value(conf->fill, prev->fill, 0);
    ngx_conf_merge_msec_value(conf->fill_wait, prev->fill_wait, 2000);
    ngx_conf_merge_msec_value(conf->fill_timeout, prev->fill_timeout, 60000);
    ngx_conf_merge_str_value(conf->state_dir, prev->state_dir, "");
    ngx_conf_merge_value(conf->tag_max_age, prev->tag_max_age, 0);

    /* the replicator's default state_dir: ROOT/_harbor_edge */

    if (conf->state_dir.len == 0 && conf->root.len) {
        conf->state_dir.len = conf->root.len + sizeof("/_harbor_edge") - 1;
        conf->state_dir.data = ngx_pnalloc(cf->pool, conf->state_dir.len);
        if (conf->state_dir.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_sprintf(conf->state_dir.data, "%V/_harbor_edge", &conf->root);
    }

    if (!conf->registry) {
        return NGX_CONF_OK;
    }

    if (conf->root.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"harbor_registry on\" requires \"harbor_root\"");
        return NGX_CONF_ERROR;
    }

    if (conf->manifest_max_size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"harbor_manifest_max_size\" must not be 0");
        return NGX_CONF_ERROR;
    }

    /* a fill is asked for through Redis: without it nothing would come */

    if (conf->fill) {
#if (NGX_HTTP_HARBOR_EVENTS)
        ngx_http_harbor_events_main_conf_t  *emcf;

        emcf = ngx_http_conf_get_module_main_conf(cf,
                                             ngx_http_harbor_events_module);

        if (emcf == NULL || emcf->redis.addr.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"harbor_fill on\" requires \"harbor_redis\"");
            return NGX_CONF_ERROR;
        }
#else
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"harbor_fill on\" needs the events module");
        return NGX_CONF_ERROR;
#endif

        if (conf->fill_wait == 0 || conf->fill_timeout == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"harbor_fill_wait\" and "
                               "\"harbor_fill_timeout\" must not be 0");
            return NGX_CONF_ERROR;
        }
    }

#if (NGX_THREADS)

    /*
     * like "aio threads": an undeclared "default" pool is created with
     * nginx's defaults by the thread pool module at init_conf time
     */

    if (conf->verify != NGX_HTTP_HARBOR_VERIFY_OFF) {
        conf->thread_pool = ngx_thread_pool_add(cf, &conf->thread_pool_name);
        if (conf->thread_pool == NULL) {
            return NGX_CONF_ERROR;
        }
    }

#endif

    hmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_harbor_module);
    hmcf->enabled = 1;

    if (conf->miss_pass.len) {
        mp = ngx_array_push(&hmcf->miss_passes);
        if (mp == NULL) {
            return NGX_CONF_ERROR;
        }

        mp->name = conf->miss_pass;
        mp->cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_harbor_root(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_harbor_loc_conf_t *hlcf = conf;

    u_char     *p;
    ngx_str_t  *value;

    if (hlcf->root.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    hlcf->root = value[1];

    while (hlcf->root.len > 1 && hlcf->root.data[hlcf->root.len - 1] == '/') {
        hlcf->root.len--;
    }

    if (hlcf->root.len == 0 || ngx_strlchr(hlcf->root.data,
                                           hlcf->root.data + hlcf->root.len,
                                           '\0'))
    {
        return "has an invalid value";
    }

    if (ngx_conf_full_name(cf->cycle, &hlcf->root, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (hlcf->root.len == 1) {
        /* "/" itself: avoid a double slash in every path */
        hlcf->root.len = 0;
    }

    hlcf->v2.len = hlcf->root.len + sizeof(NGX_HTTP_HARBOR_V2) - 1;
    hlcf->v2.data = ngx_pnalloc(cf->pool, hlcf->v2.len + 1);
    if (hlcf->v2.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(hlcf->v2.data, hlcf->root.data, hlcf->root.len);
    p = ngx_cpymem(p, NGX_HTTP_HARBOR_V2, sizeof(NGX_HTTP_HARBOR_V2) - 1);
    *p = '\0';

    if (hlcf->root.len == 0) {
        hlcf->root.len = 1;
    }

    hlcf->store = ngx_http_harbor_root_add(cf, &hlcf->root);
    if (hlcf->store == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_harbor_ns(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_harbor_loc_conf_t *hlcf = conf;

    ngx_str_t             *value;
    ngx_uint_t             i;
    ngx_http_harbor_ns_t  *ns;

    value = cf->args->elts;

    if (ngx_http_harbor_parse_host(value[1].data, value[1].len) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid host \"%V\" in \"harbor_ns\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (value[2].len >= NGX_HTTP_HARBOR_NAME_MAX
        || !he_oci_name(value[2].data, value[2].len))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid repository prefix \"%V\" in \"harbor_ns\"",
                           &value[2]);
        return NGX_CONF_ERROR;
    }

    if (hlcf->ns == NGX_CONF_UNSET_PTR) {
        hlcf->ns = ngx_array_create(cf->pool, 2,
                                    sizeof(ngx_http_harbor_ns_t));
        if (hlcf->ns == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    ns = hlcf->ns->elts;

    for (i = 0; i < hlcf->ns->nelts; i++) {
        if (ns[i].host.len == value[1].len
            && ngx_strncasecmp(ns[i].host.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate host \"%V\" in \"harbor_ns\"",
                               &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    ns = ngx_array_push(hlcf->ns);
    if (ns == NULL) {
        return NGX_CONF_ERROR;
    }

    ns->host = value[1];
    ns->prefix = value[2];

    return NGX_CONF_OK;
}


static char *
ngx_http_harbor_miss_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_harbor_loc_conf_t *hlcf = conf;

    ngx_str_t  *value;

    if (hlcf->miss_pass.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        ngx_str_set(&hlcf->miss_pass, "");
        return NGX_CONF_OK;
    }

    if (value[1].len < 2 || value[1].data[0] != '@') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"harbor_miss_pass\" needs a named location "
                           "(\"@name\"), not \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    hlcf->miss_pass = value[1];

    return NGX_CONF_OK;
}


/* harbor_tag_max_age TIME | off: in seconds, 0 is off */

static char *
ngx_http_harbor_tag_max_age(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_harbor_loc_conf_t *hlcf = conf;

    time_t      t;
    ngx_str_t  *value;

    if (hlcf->tag_max_age != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        hlcf->tag_max_age = 0;
        return NGX_CONF_OK;
    }

    t = ngx_parse_time(&value[1], 1);

    if (t == (time_t) NGX_ERROR || t == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"harbor_tag_max_age\" needs a time of at least "
                           "a second, or \"off\", not \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    hlcf->tag_max_age = t;

    return NGX_CONF_OK;
}


static char *
ngx_http_harbor_shm_size(ngx_conf_t *cf, void *post, void *data)
{
    size_t *sp = data;

    if (*sp < 8 * ngx_pagesize) {
        return "is too small, the minimum is 8 pages";
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_harbor_init(ngx_conf_t *cf)
{
    ngx_str_t                     name;
    ngx_http_handler_pt          *h;
    ngx_http_harbor_shm_t        *shm;
    ngx_http_core_main_conf_t    *cmcf;
    ngx_http_harbor_main_conf_t  *hmcf;

    hmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_harbor_module);

    if (!hmcf->enabled) {
        return NGX_OK;
    }

    if (ngx_http_harbor_check_miss_pass(cf, hmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    shm = ngx_pcalloc(cf->pool, sizeof(ngx_http_harbor_shm_t));
    if (shm == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&name, "harbor");

    hmcf->shm_zone = ngx_shared_memory_add(cf, &name, hmcf->shm_size,
                                           &ngx_http_harbor_module);
    if (hmcf->shm_zone == NULL) {
        return NGX_ERROR;
    }

    if (hmcf->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "shared zone \"harbor\" is already used");
        return NGX_ERROR;
    }

    hmcf->shm_zone->init = ngx_http_harbor_shm_init_zone;
    hmcf->shm_zone->data = shm;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_CONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_harbor_handler;

    return NGX_OK;
}


/*
 * the roots are opened once the configuration is whole (the worker user is
 * known then, for the warnings), also by "nginx -t"
 */

static ngx_int_t
ngx_http_harbor_init_module(ngx_cycle_t *cycle)
{
    ngx_http_harbor_main_conf_t  *hmcf;

    hmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_harbor_module);

    if (hmcf == NULL) {
        return NGX_OK;
    }

    return ngx_http_harbor_roots_init(cycle, hmcf);
}


/*
 * named locations are known only once all servers are parsed: a
 * harbor_miss_pass naming none of its server's would fail every miss
 */

static ngx_int_t
ngx_http_harbor_check_miss_pass(ngx_conf_t *cf,
    ngx_http_harbor_main_conf_t *hmcf)
{
    ngx_uint_t                    i;
    ngx_http_core_loc_conf_t    **clcfp;
    ngx_http_harbor_miss_pass_t  *mp;

    mp = hmcf->miss_passes.elts;

    for (i = 0; i < hmcf->miss_passes.nelts; i++) {

        clcfp = mp[i].cscf->named_locations;

        if (clcfp) {
            for ( /* void */ ; *clcfp; clcfp++) {
                if (mp[i].name.len == (*clcfp)->name.len
                    && ngx_strncmp(mp[i].name.data, (*clcfp)->name.data,
                                   mp[i].name.len)
                       == 0)
                {
                    break;
                }
            }
        }

        if (clcfp == NULL || *clcfp == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"harbor_miss_pass\" names \"%V\", "
                               "but the server has no such named location",
                               &mp[i].name);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}
