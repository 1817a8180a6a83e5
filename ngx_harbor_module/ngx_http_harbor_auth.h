
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * ngx_http_harbor_auth_module: Harbor token auth at the edge.  The
 * directives and configuration are in ngx_http_harbor_auth_module.c, the
 * ACCESS phase handler in ngx_http_harbor_auth_handler.c, the JWT
 * cryptography in ngx_http_harbor_jwt.c; this header holds what the first
 * two share.
 */


#ifndef _NGX_HTTP_HARBOR_AUTH_H_INCLUDED_
#define _NGX_HTTP_HARBOR_AUTH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_jwt.h"


#define NGX_HTTP_HARBOR_AUTH_OFF     0
#define NGX_HTTP_HARBOR_AUTH_TOKEN   1


typedef struct {
    ngx_flag_t                   used;   /* some location says token */
} ngx_http_harbor_auth_main_conf_t;


typedef struct {
    ngx_uint_t                   mode;
    ngx_str_t                    realm;
    ngx_str_t                    service;   /* NUL-terminated */
    ngx_str_t                    issuer;    /* NUL-terminated */
    ngx_http_harbor_jwt_keys_t  *keys;
    ngx_array_t                 *public;    /* of ngx_str_t */
    time_t                       leeway;
} ngx_http_harbor_auth_loc_conf_t;


ngx_int_t ngx_http_harbor_auth_handler(ngx_http_request_t *r);


extern ngx_module_t  ngx_http_harbor_auth_module;


#endif /* _NGX_HTTP_HARBOR_AUTH_H_INCLUDED_ */
