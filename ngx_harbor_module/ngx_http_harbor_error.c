
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * The OCI error table (code -> HTTP status, default message) and the
 * writer of the error body {"errors":[{"code":..,"message":..}]}.  The
 * body is built here rather than left to nginx's error pages: clients
 * parse it, so it must be JSON with an exact Content-Length, and HEAD
 * must get the same status and headers without it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_module.h"


typedef struct {
    ngx_str_t      code;
    ngx_uint_t     status;
    char          *message;
} ngx_http_harbor_error_t;


static ngx_http_harbor_error_t  ngx_http_harbor_errors[] = {

    /* NGX_HTTP_HARBOR_BLOB_UNKNOWN */
    { ngx_string("BLOB_UNKNOWN"), NGX_HTTP_NOT_FOUND,
      "blob unknown to registry" },

    /* NGX_HTTP_HARBOR_MANIFEST_UNKNOWN */
    { ngx_string("MANIFEST_UNKNOWN"), NGX_HTTP_NOT_FOUND,
      "manifest unknown" },

    /* NGX_HTTP_HARBOR_NAME_UNKNOWN */
    { ngx_string("NAME_UNKNOWN"), NGX_HTTP_NOT_FOUND,
      "repository name not known to registry" },

    /* NGX_HTTP_HARBOR_NAME_INVALID */
    { ngx_string("NAME_INVALID"), NGX_HTTP_BAD_REQUEST,
      "invalid repository name" },

    /* NGX_HTTP_HARBOR_TAG_INVALID */
    { ngx_string("TAG_INVALID"), NGX_HTTP_BAD_REQUEST,
      "manifest tag did not match URI" },

    /* NGX_HTTP_HARBOR_DIGEST_INVALID */
    { ngx_string("DIGEST_INVALID"), NGX_HTTP_BAD_REQUEST,
      "provided digest did not match uploaded content" },

    /* NGX_HTTP_HARBOR_PAGINATION_NUMBER_INVALID */
    { ngx_string("PAGINATION_NUMBER_INVALID"), NGX_HTTP_BAD_REQUEST,
      "invalid number of results requested" },

    /* NGX_HTTP_HARBOR_UNSUPPORTED */
    { ngx_string("UNSUPPORTED"), NGX_HTTP_NOT_ALLOWED,
      "The operation is unsupported." },

    /* NGX_HTTP_HARBOR_UNAUTHORIZED */
    { ngx_string("UNAUTHORIZED"), NGX_HTTP_UNAUTHORIZED,
      "authentication required" },

    /* NGX_HTTP_HARBOR_DENIED */
    { ngx_string("DENIED"), NGX_HTTP_FORBIDDEN,
      "requested access to the resource is denied" },

    /* NGX_HTTP_HARBOR_UNKNOWN */
    { ngx_string("UNKNOWN"), NGX_HTTP_INTERNAL_SERVER_ERROR,
      "unknown error" },

    /* NGX_HTTP_HARBOR_UNAVAILABLE */
    { ngx_string("UNAVAILABLE"), NGX_HTTP_SERVICE_UNAVAILABLE,
      "service unavailable" }
};


/*
 * status 0 means the code's own status; message NULL the code's own text.
 * Messages are fixed strings of the module: they need no JSON escaping.
 */

ngx_int_t
ngx_http_harbor_send_error(ngx_http_request_t *r, ngx_uint_t err,
    ngx_uint_t status, char *message)
{
    u_char                   *body, *p;
    size_t                    len, mlen;
    ngx_str_t                 type;
    ngx_http_harbor_error_t  *e;

    e = &ngx_http_harbor_errors[err];

    if (status == 0) {
        status = e->status;
    }

    if (message == NULL) {
        message = e->message;
    }

    mlen = ngx_strlen(message);

    len = sizeof("{\"errors\":[{\"code\":\"\",\"message\":\"\","
                 "\"detail\":{}}]}") - 1
          + e->code.len + mlen;

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body, "{\"errors\":[{\"code\":\"",
                   sizeof("{\"errors\":[{\"code\":\"") - 1);
    p = ngx_cpymem(p, e->code.data, e->code.len);
    p = ngx_cpymem(p, "\",\"message\":\"", sizeof("\",\"message\":\"") - 1);
    p = ngx_cpymem(p, message, mlen);
    p = ngx_cpymem(p, "\",\"detail\":{}}]}",
                   sizeof("\",\"detail\":{}}]}") - 1);

    type = ngx_http_harbor_json_type;

    return ngx_http_harbor_send_memory(r, status, &type, body, p - body);
}
