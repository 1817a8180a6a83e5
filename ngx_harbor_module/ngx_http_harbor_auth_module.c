
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * ngx_http_harbor_auth_module: Harbor token auth at the edge.  This file
 * holds its directives, configuration and postconfiguration; the ACCESS
 * phase handler is in ngx_http_harbor_auth_handler.c, the JWT
 * cryptography in ngx_http_harbor_jwt.c.  The handler is installed only
 * when some location says "harbor_auth token", and declines at once in
 * the locations that do not.
 *
 * It is a module of the same .so as the read path so that it authorizes
 * the request's own route (ngx_http_harbor_request.c): the repository
 * that is authorized is exactly the one that will be served.
 *
 * Directives (http, server, location):
 *
 *   harbor_auth off | token;          default off
 *   harbor_token_realm URL;           the token service (Harbor: https://
 *                                     HOST/service/token); required
 *   harbor_token_service NAME;        aud to require; default harbor-registry
 *   harbor_token_issuer NAME;         iss to require; default
 *                                     harbor-token-issuer
 *   harbor_token_cert FILE;           PEM cert(s) or public key(s) whose keys
 *                                     sign tokens (Harbor's root.crt);
 *                                     read at configuration time; required
 *   harbor_public PATTERN ...;        repositories anyone may pull (GET/HEAD)
 *                                     without a token: '*' within a path
 *                                     component, '**' across them
 *   harbor_token_leeway TIME;         clock skew allowed on exp and nbf;
 *                                     default 60s, at most 1d
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_module.h"
#include "ngx_http_harbor_auth.h"


/* a leeway larger than this is a mistake, and could overflow the checks */
#define NGX_HTTP_HARBOR_AUTH_LEEWAY_MAX  86400


static void *ngx_http_harbor_auth_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_harbor_auth_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_harbor_auth_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_harbor_auth(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_harbor_auth_quoted(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_harbor_auth_cert(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_harbor_auth_cleanup_keys(void *data);
static char *ngx_http_harbor_auth_public_patterns(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_harbor_auth_init(ngx_conf_t *cf);


static ngx_conf_enum_t  ngx_http_harbor_auth_modes[] = {
    { ngx_string("off"), NGX_HTTP_HARBOR_AUTH_OFF },
    { ngx_string("token"), NGX_HTTP_HARBOR_AUTH_TOKEN },
    { ngx_null_string, 0 }
};


/* realm, service and issuer end up inside quoted challenge parameters */
static ngx_conf_post_handler_pt  ngx_http_harbor_auth_quoted_p =
    ngx_http_harbor_auth_quoted;


static ngx_command_t  ngx_http_harbor_auth_commands[] = {

    { ngx_string("harbor_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_harbor_auth,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_auth_loc_conf_t, mode),
      &ngx_http_harbor_auth_modes },

    { ngx_string("harbor_token_realm"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_auth_loc_conf_t, realm),
      &ngx_http_harbor_auth_quoted_p },

    { ngx_string("harbor_token_service"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_auth_loc_conf_t, service),
      &ngx_http_harbor_auth_quoted_p },

    { ngx_string("harbor_token_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_auth_loc_conf_t, issuer),
      &ngx_http_harbor_auth_quoted_p },

    { ngx_string("harbor_token_cert"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_harbor_auth_cert,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("harbor_public"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_harbor_auth_public_patterns,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("harbor_token_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_auth_loc_conf_t, leeway),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_harbor_auth_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_harbor_auth_init,             /* postconfiguration */

    ngx_http_harbor_auth_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_harbor_auth_create_loc_conf,  /* create location configuration */
    ngx_http_harbor_auth_merge_loc_conf    /* merge location configuration */
};


ngx_module_t  ngx_http_harbor_auth_module = {
    NGX_MODULE_V1,
    &ngx_http_harbor_auth_module_ctx,      /* module context */
    ngx_http_harbor_auth_commands,         /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* configuration */


static void *
ngx_http_harbor_auth_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_harbor_auth_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_harbor_auth_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     amcf->used = 0;
     */

    return amcf;
}


static void *
ngx_http_harbor_auth_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_harbor_auth_loc_conf_t  *alcf;

    alcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_harbor_auth_loc_conf_t));
    if (alcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     alcf->realm = { 0, NULL };
     *     alcf->service = { 0, NULL };
     *     alcf->issuer = { 0, NULL };
     */

    alcf->mode = NGX_CONF_UNSET_UINT;
    alcf->keys = NGX_CONF_UNSET_PTR;
    alcf->public = NGX_CONF_UNSET_PTR;
    alcf->leeway = NGX_CONF_UNSET;

    return alcf;
}


static char *
ngx_http_harbor_auth_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_harbor_auth_loc_conf_t  *prev = parent;
    ngx_http_harbor_auth_loc_conf_t  *conf = child;

    ngx_conf_merge_uint_value(conf->mode, prev->mode,
                              NGX_HTTP_HARBOR_AUTH_OFF);
    ngx_conf_merge_str_value(conf->realm, prev->realm, "");
    ngx_conf_merge_str_value(conf->service, prev->service, "harbor-registry");
    ngx_conf_merge_str_value(conf->issuer, prev->issuer,
                             "harbor-token-issuer");
    ngx_conf_merge_ptr_value(conf->keys, prev->keys, NULL);
    ngx_conf_merge_ptr_value(conf->public, prev->public, NULL);
    ngx_conf_merge_sec_value(conf->leeway, prev->leeway, 60);

    if (conf->leeway > NGX_HTTP_HARBOR_AUTH_LEEWAY_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "harbor_token_leeway is larger than one day");
        return NGX_CONF_ERROR;
    }

    if (conf->mode != NGX_HTTP_HARBOR_AUTH_TOKEN) {
        return NGX_CONF_OK;
    }

    if (conf->realm.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"harbor_auth token\" needs harbor_token_realm");
        return NGX_CONF_ERROR;
    }

    if (conf->keys == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"harbor_auth token\" needs harbor_token_cert");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_harbor_auth(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                              *rv;
    ngx_http_harbor_auth_loc_conf_t   *alcf = conf;
    ngx_http_harbor_auth_main_conf_t  *amcf;

    rv = ngx_conf_set_enum_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (alcf->mode == NGX_HTTP_HARBOR_AUTH_TOKEN) {
        amcf = ngx_http_conf_get_module_main_conf(cf,
                                                  ngx_http_harbor_auth_module);
        amcf->used = 1;
    }

    return NGX_CONF_OK;
}


/* no quote, backslash or control byte: they would break the challenge */

static char *
ngx_http_harbor_auth_quoted(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *s = data;

    u_char  *p;

    if (s->len == 0) {
        return "must not be empty";
    }

    for (p = s->data; p < s->data + s->len; p++) {
        if (*p < 0x20 || *p == '"' || *p == '\\' || *p == 0x7f) {
            return "must not contain quotes, backslashes or control "
                   "characters";
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_harbor_auth_cert(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_harbor_auth_loc_conf_t *alcf = conf;

    char                         err[256];
    u_char                      *buf;
    ssize_t                      n;
    ngx_str_t                   *value, name;
    ngx_file_t                   file;
    ngx_file_info_t              fi;
    ngx_pool_cleanup_t          *cln;
    ngx_http_harbor_jwt_keys_t  *keys;

    if (alcf->keys != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = name;
    file.log = cf->log;

    file.fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed", name.data);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%s\" failed", name.data);
        goto failed;
    }

    if (ngx_file_size(&fi) > 1024 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" is larger than 1m", name.data);
        goto failed;
    }

    buf = ngx_pnalloc(cf->temp_pool, (size_t) ngx_file_size(&fi) + 1);
    if (buf == NULL) {
        goto failed;
    }

    n = ngx_read_file(&file, buf, (size_t) ngx_file_size(&fi), 0);
    if (n == NGX_ERROR) {
        goto failed;
    }

    if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%s\" failed", name.data);
    }

    keys = ngx_pcalloc(cf->pool, sizeof(ngx_http_harbor_jwt_keys_t));
    if (keys == NULL) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_harbor_jwt_keys_load(keys, buf, (size_t) n,
                                      NGX_HTTP_HARBOR_JWT_CACHE_SLOTS, err,
                                      sizeof(err))
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "harbor_token_cert \"%s\": %s", name.data, err);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_harbor_auth_cleanup_keys;
    cln->data = keys;

    alcf->keys = keys;

    return NGX_CONF_OK;

failed:

    if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%s\" failed", name.data);
    }

    return NGX_CONF_ERROR;
}


static void
ngx_http_harbor_auth_cleanup_keys(void *data)
{
    ngx_http_harbor_jwt_keys_t  *keys = data;

    ngx_http_harbor_jwt_keys_free(keys);
}


/* patterns use the name alphabet plus '*': anything else is a typo */

static char *
ngx_http_harbor_auth_public_patterns(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_harbor_auth_loc_conf_t *alcf = conf;

    u_char      *p;
    ngx_str_t   *value, *pat;
    ngx_uint_t   i;

    if (alcf->public == NGX_CONF_UNSET_PTR) {
        alcf->public = ngx_array_create(cf->pool, 4, sizeof(ngx_str_t));
        if (alcf->public == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 0 || value[i].len > NGX_HTTP_HARBOR_NAME_MAX) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid harbor_public pattern \"%V\"",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        for (p = value[i].data; p < value[i].data + value[i].len; p++) {
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
                  || *p == '.' || *p == '_' || *p == '-' || *p == '/'
                  || *p == '*'))
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid character in harbor_public "
                                   "pattern \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }
        }

        pat = ngx_array_push(alcf->public);
        if (pat == NULL) {
            return NGX_CONF_ERROR;
        }

        *pat = value[i];
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_harbor_auth_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt               *h;
    ngx_http_core_main_conf_t         *cmcf;
    ngx_http_harbor_auth_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_harbor_auth_module);

    /* nothing to pay where token auth is not configured */
    if (!amcf->used) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_harbor_auth_handler;

    return NGX_OK;
}
