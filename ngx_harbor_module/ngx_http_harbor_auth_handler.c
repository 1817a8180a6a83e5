
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * The ACCESS phase handler of ngx_http_harbor_auth_module: it checks the
 * Bearer JWT that the primary's token service issued
 * (ngx_http_harbor_jwt.c does the cryptography), without calling the
 * primary, and answers a refusal the way distribution's token access
 * controller does: always 401 with a Bearer challenge, adding the scope
 * the request needs, and error="invalid_token" for a token we refuse or
 * error="insufficient_scope" for a good token that does not grant it.
 *
 * The scope comes from the request's route (ngx_http_harbor_request.c),
 * which the content handler serves from next: the repository authorized
 * is exactly the one that will be served, ns mapping included.
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
#include "ngx_http_harbor_auth.h"


/* the access a request needs */
typedef struct {
    char                         *type;     /* NULL: any valid token */
    ngx_str_t                     name;     /* "prod/api", "catalog" */
    char                         *actions;  /* "pull", "pull,push", "*" */
} ngx_http_harbor_auth_scope_t;


/* the challenge's error parameter and the body's message, by reason */
typedef struct {
    char                         *error;
    char                         *message;
} ngx_http_harbor_auth_refusal_t;


static void ngx_http_harbor_auth_scope(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, ngx_http_harbor_auth_scope_t *scope);
static ngx_int_t ngx_http_harbor_auth_token(ngx_http_request_t *r,
    ngx_str_t *token);
static ngx_int_t ngx_http_harbor_auth_granted(
    ngx_http_harbor_auth_scope_t *scope,
    ngx_http_harbor_jwt_claims_t *claims);
static ngx_int_t ngx_http_harbor_auth_challenge(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, ngx_http_harbor_auth_scope_t *scope,
    ngx_uint_t reason);
static ngx_int_t ngx_http_harbor_auth_public(
    ngx_http_harbor_auth_loc_conf_t *alcf, ngx_str_t *name);
static ngx_int_t ngx_http_harbor_auth_match(u_char *pat, size_t plen,
    u_char *name, size_t nlen);


static ngx_http_harbor_auth_refusal_t
    ngx_http_harbor_auth_refusals[NGX_HTTP_HARBOR_NDENIED] =
{
    { NULL, "authentication required" },
    { "invalid_token", "invalid token" },
    { "insufficient_scope", "insufficient scope" }
};


ngx_int_t
ngx_http_harbor_auth_handler(ngx_http_request_t *r)
{
    u_char                           *work;
    ngx_str_t                         token;
    ngx_http_harbor_ctx_t            *ctx;
    ngx_http_harbor_jwt_rc_e          jrc;
    ngx_http_harbor_jwt_opts_t        opts;
    ngx_http_harbor_jwt_claims_t      claims;
    ngx_http_harbor_auth_scope_t      scope;
    ngx_http_harbor_auth_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_auth_module);

    if (alcf->mode == NGX_HTTP_HARBOR_AUTH_OFF) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_harbor_request(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_harbor_auth_scope(r, ctx, &scope);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "harbor auth: needs %s:%V:%s",
                   scope.type ? scope.type : "(any token)", &scope.name,
                   scope.actions);

    if (ctx->repo.len && (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))
        && ngx_http_harbor_auth_public(alcf, &ctx->repo) == NGX_OK)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "harbor auth: public repository \"%V\"", &ctx->repo);
        return NGX_OK;
    }

    if (ngx_http_harbor_auth_token(r, &token) == NGX_DECLINED) {
        /* no Bearer token: the client is told where to get one */
        return ngx_http_harbor_auth_challenge(r, ctx, &scope,
                                             NGX_HTTP_HARBOR_DENIED_NO_TOKEN);
    }

    if (token.len > NGX_HTTP_HARBOR_JWT_MAX_SIZE) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "harbor auth: token refused: token too large "
                      "(%uz bytes)", token.len);
        return ngx_http_harbor_auth_challenge(r, ctx, &scope,
                                        NGX_HTTP_HARBOR_DENIED_INVALID_TOKEN);
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

        return ngx_http_harbor_auth_challenge(r, ctx, &scope,
                                        NGX_HTTP_HARBOR_DENIED_INVALID_TOKEN);
    }

    if (claims.sub == NULL) {
        claims.sub = (u_char *) "";
    }

    if (ngx_http_harbor_auth_granted(&scope, &claims) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "harbor auth: token of \"%*s\" does not grant "
                      "\"%s\" on \"%V\"",
                      ngx_min(claims.sub_len, 64), claims.sub,
                      scope.actions, &scope.name);

        return ngx_http_harbor_auth_challenge(r, ctx, &scope,
                                   NGX_HTTP_HARBOR_DENIED_INSUFFICIENT_SCOPE);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "harbor auth: token of \"%*s\" accepted",
                   ngx_min(claims.sub_len, 64), claims.sub);

    ctx->token_ok = 1;

    return NGX_OK;
}


/*
 * 1 when a token the primary issued granted this request pull on its
 * repository: a fill of it may then use the replicator's credentials.  A
 * harbor_public repository passes without one: 0.
 */

ngx_uint_t
ngx_http_harbor_auth_checked(ngx_http_request_t *r)
{
    ngx_http_harbor_ctx_t  *ctx;

    ctx = ngx_http_harbor_get_request(r);

    return ctx != NULL && ctx->token_ok;
}


/*
 * The access the route needs.  A URI that names a repository (tags,
 * manifests, blobs, referrers, uploads) needs actions on it by method;
 * any other URI under the location, a name that breaks the grammar
 * included, needs a valid token, never less.
 */

static void
ngx_http_harbor_auth_scope(ngx_http_request_t *r, ngx_http_harbor_ctx_t *ctx,
    ngx_http_harbor_auth_scope_t *scope)
{
    scope->type = NULL;
    ngx_str_null(&scope->name);

    switch (r->method) {

    case NGX_HTTP_GET:
    case NGX_HTTP_HEAD:
        scope->actions = "pull";
        break;

    case NGX_HTTP_DELETE:
        scope->actions = "delete";
        break;

    default:
        /* Harbor asks pull,push for POST, PUT and PATCH */
        scope->actions = "pull,push";
        break;
    }

    if (ctx->kind == NGX_HTTP_HARBOR_CATALOG) {
        scope->type = "registry";
        ngx_str_set(&scope->name, "catalog");
        scope->actions = "*";

    } else if (ctx->repo.len) {
        scope->type = "repository";
        scope->name = ctx->repo;
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


/* every action of the scope must be granted */

static ngx_int_t
ngx_http_harbor_auth_granted(ngx_http_harbor_auth_scope_t *scope,
    ngx_http_harbor_jwt_claims_t *claims)
{
    char    *a, *comma;
    u_char   action[16];
    size_t   len;

    if (scope->type == NULL) {
        /* the ping and unknown endpoints: any valid token will do */
        return NGX_OK;
    }

    for (a = scope->actions; /* void */ ; a = comma + 1) {
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

        if (!ngx_http_harbor_jwt_grants(claims, scope->type,
                                        scope->name.data, scope->name.len,
                                        (char *) action))
        {
            return NGX_DECLINED;
        }

        if (*comma == '\0') {
            return NGX_OK;
        }
    }
}


/*
 * 401 with WWW-Authenticate: Bearer realm="...",service="..."[,scope="..."]
 * [,error="..."] and the OCI error body, as distribution's token access
 * controller answers.  The response is sent here and the request
 * finalized, so the phase engine stops (NGX_DONE).
 */

static ngx_int_t
ngx_http_harbor_auth_challenge(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, ngx_http_harbor_auth_scope_t *scope,
    ngx_uint_t reason)
{
    u_char                           *p, *body;
    char                             *error, *message;
    size_t                            len;
    ngx_int_t                         rc;
    ngx_str_t                         s;
    ngx_table_elt_t                  *h;
    ngx_http_harbor_auth_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_auth_module);

    error = ngx_http_harbor_auth_refusals[reason].error;
    message = ngx_http_harbor_auth_refusals[reason].message;

    /* for the metrics module's LOG handler and variables */
    ctx->denied = reason + 1;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /* the scope: repository:<name>:<actions> or registry:catalog:* */

    ngx_str_null(&s);

    if (scope->type != NULL) {
        len = ngx_strlen(scope->type) + 1 + scope->name.len + 1
              + ngx_strlen(scope->actions);

        s.data = ngx_pnalloc(r->pool, len);
        if (s.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        s.len = ngx_sprintf(s.data, "%s:%V:%s", scope->type, &scope->name,
                            scope->actions)
                - s.data;
    }

    /* the header */

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = sizeof("Bearer realm=\"\",service=\"\"") - 1
          + alcf->realm.len + alcf->service.len
          + sizeof(",scope=\"\"") - 1 + s.len
          + sizeof(",error=\"\"") - 1 + (error ? ngx_strlen(error) : 0);

    h->value.data = ngx_pnalloc(r->pool, len);
    if (h->value.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(h->value.data, "Bearer realm=\"%V\",service=\"%V\"",
                    &alcf->realm, &alcf->service);

    if (s.len) {
        p = ngx_sprintf(p, ",scope=\"%V\"", &s);
    }

    if (error) {
        p = ngx_sprintf(p, ",error=\"%s\"", error);
    }

    h->value.len = p - h->value.data;
    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    r->headers_out.www_authenticate = h;

    /* the body, with distribution's detail: the access that was needed */

    len = sizeof("{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"\""
                 ",\"detail\":[{\"Type\":\"repository\",\"Name\":\"\","
                 "\"Action\":\"\"}]}]}") - 1
          + ngx_strlen(message) + scope->name.len
          + ngx_strlen(scope->actions);

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body,
                    "{\"errors\":[{\"code\":\"UNAUTHORIZED\","
                    "\"message\":\"%s\"", message);

    if (s.len) {
        p = ngx_sprintf(p, ",\"detail\":[{\"Type\":\"%s\",\"Name\":\"%V\","
                        "\"Action\":\"%s\"}]",
                        scope->type, &scope->name, scope->actions);
    }

    p = ngx_cpymem(p, "}]}", sizeof("}]}") - 1);

    rc = ngx_http_harbor_send_memory(r, NGX_HTTP_UNAUTHORIZED,
                                     &ngx_http_harbor_json_type, body,
                                     p - body);

    /* answered here: the phase engine stops */

    ngx_http_finalize_request(r, rc);

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
