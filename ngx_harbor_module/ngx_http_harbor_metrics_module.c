
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * ngx_http_harbor_metrics_module: the edge's figures for Prometheus and its
 * words for the access log.  This file holds the directive, configuration,
 * shared zone, variables and postconfiguration; the handlers are in
 * ngx_http_harbor_metrics_handler.c.
 *
 *   harbor_metrics;          location: answer with the text format 0.0.4
 *
 * Variables, for log_format: $harbor_cache_status, $harbor_repository
 * (the repository in the store, ns prefix applied), $harbor_reference
 * (the tag or digest of the URI) and $harbor_digest (the digest served or
 * asked for, a tag's digest once resolved).
 *
 * The counters live in the shared zone "harbor_metrics": every worker
 * adds to the same counters, and a reload keeps them (the new cycle takes
 * the old zone).  The LOG handler and the zone exist only when some
 * location says harbor_metrics; the variables cost nothing until used.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_module.h"
#include "ngx_http_harbor_metrics.h"

#if (NGX_HTTP_HARBOR_EVENTS)
#include "ngx_http_harbor_events.h"
#endif


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


/* the LOG handler exists only with a harbor_metrics location to read it */

static ngx_int_t
ngx_http_harbor_metrics_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt                  *h;
    ngx_http_core_main_conf_t            *cmcf;
    ngx_http_harbor_metrics_main_conf_t  *mmcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_harbor_metrics_module);

    if (mmcf->shm_zone == NULL) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_harbor_metrics_log;

    return NGX_OK;
}
