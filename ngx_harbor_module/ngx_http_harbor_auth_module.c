
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * ngx_http_harbor_auth_module: Harbor token auth at the edge.  An ACCESS
 * phase handler checks the Bearer JWT that the primary's token service
 * issued (ngx_http_harbor_jwt.c does the cryptography), without calling
 * the primary, and answers a refusal the way distribution's token access
 * controller does: always 401 with a Bearer challenge, adding the scope
 * the request needs, and error="invalid_token" for a token we refuse or
 * error="insufficient_scope" for a good token that does not grant it.
 *
 * It is a second module in the same .so so that it shares the read path's
 * URI grammar (ngx_http_harbor_split_uri) and ns mapping: the repository
 * that is authorized is exactly the one that will be served.  The handler
 * is installed only when some location says "harbor_auth token".
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
 *
 * What each request needs: GET /v2/ any valid token; /v2/_catalog
 * registry:catalog:*; /v2/<name>/... repository:<name>:pull for GET and
 * HEAD, pull,push for POST, PUT and PATCH, delete for DELETE; anything
 * else under the location (including names that break the grammar) a
 * valid token.  With ?ns=HOST and "harbor_ns HOST PREFIX", <name> is
 * PREFIX/<name>, for harbor_public too.  The response is sent here, so
 * "satisfy any" does not combine with harbor_auth.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_module.h"
#include "ngx_http_harbor_jwt.h"

#if (NGX_HTTP_HARBOR_METRICS)
#include "ngx_http_harbor_metrics.h"
#endif


#define NGX_HTTP_HARBOR_AUTH_OFF     0
#define NGX_HTTP_HARBOR_AUTH_TOKEN   1

/* a leeway larger than this is a mistake, and could overflow the checks */
#define NGX_HTTP_HARBOR_AUTH_LEEWAY_MAX  86400


typedef enum {
    NGX_HTTP_HARBOR_AUTH_PING = 0,   /* GET /v2/: any valid token */
    NGX_HTTP_HARBOR_AUTH_CATALOG,    /* registry:catalog:* */
    NGX_HTTP_HARBOR_AUTH_REPO,       /* repository:<name>:<actions> */
    NGX_HTTP_HARBOR_AUTH_OTHER       /* anything else: any valid token */
} ngx_http_harbor_auth_kind_e;


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


typedef struct {
    ngx_http_harbor_auth_kind_e  kind;
    ngx_str_t                    name;      /* the repository in the store */
    char                        *actions;   /* "pull", "pull,push", ... */
} ngx_http_harbor_auth_req_t;


static ngx_int_t ngx_http_harbor_auth_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_harbor_auth_route(ngx_http_request_t *r,
    ngx_http_harbor_auth_req_t *req);
static ngx_int_t ngx_http_harbor_auth_ns(ngx_http_request_t *r,
    ngx_http_harbor_auth_req_t *req);
static ngx_int_t ngx_http_harbor_auth_token(ngx_http_request_t *r,
    ngx_str_t *token);
static ngx_int_t ngx_http_harbor_auth_granted(ngx_http_request_t *r,
    ngx_http_harbor_auth_req_t *req, ngx_http_harbor_jwt_claims_t *claims);
static ngx_int_t ngx_http_harbor_auth_challenge(ngx_http_request_t *r,
    ngx_http_harbor_auth_loc_conf_t *alcf, ngx_http_harbor_auth_req_t *req,
    char *error, char *message);
static ngx_int_t ngx_http_harbor_auth_public(
    ngx_http_harbor_auth_loc_conf_t *alcf, ngx_str_t *name);
static ngx_int_t ngx_http_harbor_auth_match(u_char *pat, size_t plen,
    u_char *name, size_t nlen);
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


static ngx_int_t
ngx_http_harbor_auth_handler(ngx_http_request_t *r)
{
    u_char                           *work;
    ngx_int_t                         rc;
    ngx_str_t                         token;
    ngx_http_harbor_jwt_rc_e          jrc;
    ngx_http_harbor_auth_req_t        req;
    ngx_http_harbor_jwt_opts_t        opts;
    ngx_http_harbor_jwt_claims_t      claims;
    ngx_http_harbor_auth_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_auth_module);

    if (alcf->mode == NGX_HTTP_HARBOR_AUTH_OFF) {
        return NGX_DECLINED;
    }

    rc = ngx_http_harbor_auth_route(r, &req);
    if (rc != NGX_OK) {
        return rc;
    }

    if (req.kind == NGX_HTTP_HARBOR_AUTH_REPO
        && (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))
        && ngx_http_harbor_auth_public(alcf, &req.name) == NGX_OK)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "harbor auth: public repository \"%V\"", &req.name);
        return NGX_OK;
    }

    rc = ngx_http_harbor_auth_token(r, &token);

    if (rc == NGX_DECLINED) {
        /* no Bearer token: the client is told where to get one */
        return ngx_http_harbor_auth_challenge(r, alcf, &req, NULL,
                                              "authentication required");
    }

    if (token.len > NGX_HTTP_HARBOR_JWT_MAX_SIZE) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "harbor auth: token refused: token too large "
                      "(%uz bytes)", token.len);
        return ngx_http_harbor_auth_challenge(r, alcf, &req, "invalid_token",
                                              "invalid token");
    }

    work = ngx_pnalloc(r->pool, token.len);
    if (work == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    opts.issuer = (const char *) alcf->issuer.data;
    opts.audience = (const char *) alcf->service.data;
    opts.now = ngx_time();
    opts.leeway = alcf->leeway;

    jrc = ngx_http_harbor_jwt_verify(alcf->keys, &opts, token.data,
                                     token.len, work, token.len, &claims);

    if (jrc != NGX_HTTP_HARBOR_JWT_OK) {
        /*
         * At info: any client can send a bad token on every request, and
         * a warning per request would let it flood the log.
         */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "harbor auth: token refused: %s",
                      ngx_http_harbor_jwt_strerror(jrc));

        return ngx_http_harbor_auth_challenge(r, alcf, &req, "invalid_token",
                                              "invalid token");
    }

    if (claims.sub == NULL) {
        claims.sub = (u_char *) "";
    }

    if (ngx_http_harbor_auth_granted(r, &req, &claims) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "harbor auth: token of \"%*s\" does not grant "
                      "\"%s\" on \"%V\"",
                      ngx_min(claims.sub_len, 64), claims.sub,
                      req.actions, &req.name);

        return ngx_http_harbor_auth_challenge(r, alcf, &req,
                                              "insufficient_scope",
                                              "insufficient scope");
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "harbor auth: token of \"%*s\" accepted",
                   ngx_min(claims.sub_len, 64), claims.sub);

    return NGX_OK;
}


/*
 * Routes r->uri from the right exactly as the content handler does, so the
 * name authorized is the name served: <name>/tags/list, or
 * <name>/{manifests,blobs,referrers}/<ref>; writes add the upload paths.
 * A URI that is no repository endpoint, or whose name breaks the grammar,
 * still needs a valid token (kind OTHER), never less.
 */

static ngx_int_t
ngx_http_harbor_auth_route(ngx_http_request_t *r,
    ngx_http_harbor_auth_req_t *req)
{
    u_char     *p, *last, *c1, *c2, *c3;
    size_t      len;
    ngx_str_t   ref;

    req->kind = NGX_HTTP_HARBOR_AUTH_OTHER;
    req->name.len = 0;
    req->name.data = NULL;

    switch (r->method) {

    case NGX_HTTP_GET:
    case NGX_HTTP_HEAD:
        req->actions = "pull";
        break;

    case NGX_HTTP_DELETE:
        req->actions = "delete";
        break;

    default:
        /* Harbor asks pull,push for POST, PUT and PATCH */
        req->actions = "pull,push";
        break;
    }

    switch (ngx_http_harbor_split_uri(&r->uri, &req->name, &ref)) {

    case NGX_HTTP_HARBOR_PING:
        req->kind = NGX_HTTP_HARBOR_AUTH_PING;
        return NGX_OK;

    case NGX_HTTP_HARBOR_CATALOG:
        req->kind = NGX_HTTP_HARBOR_AUTH_CATALOG;
        ngx_str_set(&req->name, "catalog");
        req->actions = "*";
        return NGX_OK;

    case NGX_HTTP_HARBOR_OTHER:
        break;

    default:
        /* a GET of .../blobs/uploads/<id> is no blob either: same name */
        goto name;
    }

    /* <name>/blobs/uploads/ and <name>/blobs/uploads/<id> (writes) */

    if (r->uri.len <= sizeof("/v2/") - 1
        || ngx_strncmp(r->uri.data, "/v2/", sizeof("/v2/") - 1) != 0)
    {
        return NGX_OK;
    }

    p = r->uri.data + sizeof("/v2/") - 1;
    last = r->uri.data + r->uri.len;

    for (c1 = last; c1 > p && c1[-1] != '/'; c1--) { /* void */ }

    if (c1 == p) {
        return NGX_OK;
    }

    for (c2 = c1 - 1; c2 > p && c2[-1] != '/'; c2--) { /* void */ }

    len = (c1 - 1) - c2;

    if (c2 > p && len == sizeof("uploads") - 1
        && ngx_strncmp(c2, "uploads", len) == 0)
    {
        for (c3 = c2 - 1; c3 > p && c3[-1] != '/'; c3--) { /* void */ }

        if (c3 > p && (c2 - 1) - c3 == sizeof("blobs") - 1
            && ngx_strncmp(c3, "blobs", sizeof("blobs") - 1) == 0)
        {
            req->name.data = p;
            req->name.len = (c3 - 1) - p;
            goto name;
        }
    }

    ngx_str_null(&req->name);

    return NGX_OK;

name:

    if (req->name.len == 0
        || !he_oci_name(req->name.data, req->name.len))
    {
        ngx_str_null(&req->name);
        return NGX_OK;
    }

    req->kind = NGX_HTTP_HARBOR_AUTH_REPO;

    return ngx_http_harbor_auth_ns(r, req);
}


/*
 * With "harbor_ns HOST PREFIX" in the read path's configuration, ?ns=HOST
 * serves PREFIX/<name>: that is the repository the token must grant (and
 * the scope the client is told to ask for).  Same rules as the content
 * handler: an invalid or unmapped ns is ignored.
 */

static ngx_int_t
ngx_http_harbor_auth_ns(ngx_http_request_t *r,
    ngx_http_harbor_auth_req_t *req)
{
    ngx_str_t                    value;
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    if (hlcf == NULL || hlcf->ns == NULL || r->args.len == 0) {
        return NGX_OK;
    }

    switch (ngx_http_harbor_arg(r, "ns", 2, &value)) {
    case NGX_OK:
        break;
    case NGX_ERROR:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    default:
        return NGX_OK;
    }

    if (ngx_http_harbor_parse_host(value.data, value.len) != NGX_OK) {
        return NGX_OK;
    }

    switch (ngx_http_harbor_ns_map(r->pool, hlcf->ns, &value, &req->name,
                                   &req->name))
    {
    case NGX_OK:
        return NGX_OK;

    case NGX_DECLINED:
        /* the content handler refuses it; we want a token all the same */
        req->kind = NGX_HTTP_HARBOR_AUTH_OTHER;
        ngx_str_null(&req->name);
        return NGX_OK;

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/* NGX_OK with the token, or NGX_DECLINED when there is no Bearer token */

static ngx_int_t
ngx_http_harbor_auth_token(ngx_http_request_t *r, ngx_str_t *token)
{
    u_char           *p, *last;
    ngx_table_elt_t  *h;

    h = r->headers_in.authorization;

    if (h == NULL
        || h->value.len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(h->value.data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1)
           != 0)
    {
        return NGX_DECLINED;
    }

    p = h->value.data + sizeof("Bearer ") - 1;
    last = h->value.data + h->value.len;

    while (p < last && *p == ' ') {
        p++;
    }

    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    if (p == last) {
        return NGX_DECLINED;
    }

    token->data = p;
    token->len = last - p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_harbor_auth_granted(ngx_http_request_t *r,
    ngx_http_harbor_auth_req_t *req, ngx_http_harbor_jwt_claims_t *claims)
{
    char    *a, *comma;
    u_char   action[16];
    size_t   len;

    switch (req->kind) {

    case NGX_HTTP_HARBOR_AUTH_CATALOG:
        return ngx_http_harbor_jwt_grants(claims, "registry",
                                          (u_char *) "catalog",
                                          sizeof("catalog") - 1, "*")
               ? NGX_OK : NGX_DECLINED;

    case NGX_HTTP_HARBOR_AUTH_REPO:
        break;

    default:
        /* the ping and unknown endpoints: any valid token will do */
        return NGX_OK;
    }

    /* every action asked for must be granted */

    for (a = req->actions; *a; a = comma + 1) {
        comma = (char *) ngx_strchr(a, ',');
        if (comma == NULL) {
            comma = a + ngx_strlen(a);
        }

        len = comma - a;
        if (len >= sizeof(action)) {
            return NGX_DECLINED;
        }

        ngx_memcpy(action, a, len);
        action[len] = '\0';

        if (!ngx_http_harbor_jwt_grants(claims, "repository", req->name.data,
                                        req->name.len, (char *) action))
        {
            return NGX_DECLINED;
        }

        if (*comma == '\0') {
            break;
        }
    }

    return NGX_OK;
}


/*
 * 401 with WWW-Authenticate: Bearer realm="...",service="..."[,scope="..."]
 * [,error="..."] and the OCI error body, as distribution's token access
 * controller answers.  The response is sent here and the request
 * finalized, so the phase engine stops (NGX_DONE).
 */

static ngx_int_t
ngx_http_harbor_auth_challenge(ngx_http_request_t *r,
    ngx_http_harbor_auth_loc_conf_t *alcf, ngx_http_harbor_auth_req_t *req,
    char *error, char *message)
{
    u_char           *p;
    size_t            len, slen;
    ngx_int_t         rc;
    ngx_str_t         scope;
    ngx_buf_t        *b;
    ngx_chain_t       out;
    ngx_table_elt_t  *h;

#if (NGX_HTTP_HARBOR_METRICS)
    ngx_http_harbor_metrics_denied(r, error);
#endif

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /* the scope: repository:<name>:<actions> or registry:catalog:* */

    ngx_str_null(&scope);

    if (req->kind == NGX_HTTP_HARBOR_AUTH_REPO
        || req->kind == NGX_HTTP_HARBOR_AUTH_CATALOG)
    {
        slen = sizeof("repository::") - 1 + req->name.len
               + ngx_strlen(req->actions);

        scope.data = ngx_pnalloc(r->pool, slen);
        if (scope.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = (req->kind == NGX_HTTP_HARBOR_AUTH_REPO)
            ? ngx_cpymem(scope.data, "repository:", sizeof("repository:") - 1)
            : ngx_cpymem(scope.data, "registry:", sizeof("registry:") - 1);
        p = ngx_cpymem(p, req->name.data, req->name.len);
        *p++ = ':';
        p = ngx_cpymem(p, req->actions, ngx_strlen(req->actions));

        scope.len = p - scope.data;
    }

    /* the header */

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = sizeof("Bearer realm=\"\",service=\"\"") - 1
          + alcf->realm.len + alcf->service.len
          + sizeof(",scope=\"\"") - 1 + scope.len
          + sizeof(",error=\"\"") - 1 + (error ? ngx_strlen(error) : 0);

    h->value.data = ngx_pnalloc(r->pool, len);
    if (h->value.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(h->value.data, "Bearer realm=\"%V\",service=\"%V\"",
                    &alcf->realm, &alcf->service);

    if (scope.len) {
        p = ngx_sprintf(p, ",scope=\"%V\"", &scope);
    }

    if (error) {
        p = ngx_sprintf(p, ",error=\"%s\"", error);
    }

    h->value.len = p - h->value.data;
    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    r->headers_out.www_authenticate = h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Docker-Distribution-API-Version");
    ngx_str_set(&h->value, NGX_HTTP_HARBOR_API_VERSION);

    /* the body, with distribution's detail: the access that was needed */

    len = sizeof("{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"\""
                 ",\"detail\":[{\"Type\":\"repository\",\"Name\":\"\","
                 "\"Action\":\"\"}]}]}") - 1
          + ngx_strlen(message) + req->name.len + ngx_strlen(req->actions);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(b->last,
                    "{\"errors\":[{\"code\":\"UNAUTHORIZED\","
                    "\"message\":\"%s\"", message);

    if (scope.len) {
        p = ngx_sprintf(p, ",\"detail\":[{\"Type\":\"%s\",\"Name\":\"%V\","
                        "\"Action\":\"%s\"}]",
                        (req->kind == NGX_HTTP_HARBOR_AUTH_REPO)
                        ? "repository" : "registry",
                        &req->name, req->actions);
    }

    p = ngx_cpymem(p, "}]}", sizeof("}]}") - 1);
    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_UNAUTHORIZED;
    r->headers_out.content_type_len = ngx_http_harbor_json_type.len;
    r->headers_out.content_type = ngx_http_harbor_json_type;
    r->headers_out.content_length_n = b->last - b->pos;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    out.buf = b;
    out.next = NULL;

    ngx_http_finalize_request(r, ngx_http_output_filter(r, &out));

    return NGX_DONE;
}


static ngx_int_t
ngx_http_harbor_auth_public(ngx_http_harbor_auth_loc_conf_t *alcf,
    ngx_str_t *name)
{
    ngx_str_t   *pat;
    ngx_uint_t   i;

    if (alcf->public == NULL) {
        return NGX_DECLINED;
    }

    pat = alcf->public->elts;

    for (i = 0; i < alcf->public->nelts; i++) {
        if (ngx_http_harbor_auth_match(pat[i].data, pat[i].len, name->data,
                                       name->len)
            == NGX_OK)
        {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/*
 * Glob match: '*' is any run within one component, "**" any run across
 * components, other bytes stand for themselves.  The set of name positions
 * reachable after each pattern token is carried in an array, so the cost
 * is (pattern length) x (name length) at most, whatever the pattern.
 */

static ngx_int_t
ngx_http_harbor_auth_match(u_char *pat, size_t plen, u_char *name,
    size_t nlen)
{
    size_t      i, k;
    u_char      cur[NGX_HTTP_HARBOR_NAME_MAX + 1];
    u_char      next[NGX_HTTP_HARBOR_NAME_MAX + 1];
    ngx_uint_t  any;

    if (nlen > NGX_HTTP_HARBOR_NAME_MAX) {
        return NGX_DECLINED;
    }

    ngx_memzero(cur, nlen + 1);
    cur[0] = 1;

    for (k = 0; k < plen; k++) {
        ngx_memzero(next, nlen + 1);
        any = 0;

        if (pat[k] == '*' && k + 1 < plen && pat[k + 1] == '*') {
            /* "**": every position from the first reachable one */
            for (i = 0; i <= nlen; i++) {
                any |= cur[i];
                next[i] = (u_char) any;
            }

            k++;

        } else if (pat[k] == '*') {
            for (i = 0; i <= nlen; i++) {
                if (cur[i]) {
                    any = 1;

                } else if (i == 0 || name[i - 1] == '/') {
                    any = 0;
                }

                next[i] = (u_char) any;
            }

        } else {
            for (i = 0; i < nlen; i++) {
                if (cur[i] && name[i] == pat[k]) {
                    next[i + 1] = 1;
                    any = 1;
                }
            }
        }

        if (!any) {
            return NGX_DECLINED;
        }

        ngx_memcpy(cur, next, nlen + 1);
    }

    return cur[nlen] ? NGX_OK : NGX_DECLINED;
}


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
