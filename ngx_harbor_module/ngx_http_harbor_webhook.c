
/*
 * Harbor Edge: the webhook location (harbor_webhook).
 *
 * Harbor's jobservice POSTs one event per delivery, waits 3 s at most and
 * retries on anything but 2xx.  So the answer says exactly whether the
 * event is safe in Redis: 200 {"queued":N} once Redis has acknowledged
 * every line (N: one line per artifact in the payload), 503 if it cannot
 * be queued now (Redis down, no reply within harbor_redis_timeout, or the
 * worker's slots are full) so that Harbor tries again later.  Events the
 * edge does not use (PULL_ARTIFACT, SCANNING_*, REPLICATION, ...) get 200
 * {"queued":0}: refusing them would only make Harbor retry them.
 *
 * Order of checks: method (405), Authorization (401, compared in constant
 * time, before the body is read), size (413), payload (400, with the
 * reason), then Redis (503).  The body is read into one memory buffer (the
 * module raises client_body_buffer_size to harbor_webhook_max_size in this
 * location) and checked by ngx_http_harbor_webhook_parse.c.
 *
 * harbor_preheat is the same location for Harbor's P2P preheat, which
 * calls a "Kraken" provider: GET <prefix>health (any 2xx is healthy) and
 * POST <prefix>registry/notifications, one push event per call.  The
 * notification takes exactly the webhook's path (auth, size, parse, the
 * answer after Redis); only the parser and the line differ: kind
 * "preheat", which the replicator copies pinned, without a policy.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_module.h"
#include "ngx_http_harbor_events.h"
#include "ngx_http_harbor_webhook_parse.h"


typedef struct ngx_http_harbor_webhook_ctx_s  ngx_http_harbor_webhook_ctx_t;


typedef struct {
    ngx_http_harbor_webhook_ctx_t  *ctx;
    ngx_http_harbor_redis_cmd_t    *cmd;      /* NULL once answered */
} ngx_http_harbor_webhook_item_t;


struct ngx_http_harbor_webhook_ctx_s {
    ngx_http_request_t             *request;
    ngx_http_harbor_webhook_item_t *items;
    ngx_uint_t                      nitems;
    ngx_uint_t                      waiting;
    ngx_uint_t                      queued;
    unsigned                        failed:1;
};


static void ngx_http_harbor_webhook_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_harbor_webhook_queue(ngx_http_request_t *r,
    ngx_http_harbor_webhook_event_t *ev);
static void ngx_http_harbor_webhook_done(void *data, ngx_int_t rc);
static void ngx_http_harbor_webhook_cancel(void *data);
static ngx_int_t ngx_http_harbor_webhook_unauthorized(ngx_http_request_t *r,
    ngx_str_t *want);
static ngx_uint_t ngx_http_harbor_webhook_auth_ok(ngx_http_request_t *r,
    ngx_str_t *want);
static ngx_uint_t ngx_http_harbor_webhook_is_cloudevents(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_harbor_webhook_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *reason);
static ngx_int_t ngx_http_harbor_webhook_send(ngx_http_request_t *r,
    ngx_uint_t status, u_char *body, size_t len);


#define NGX_HTTP_HARBOR_PREHEAT_HEALTHY  "{\"status\":\"healthy\"}\n"

#define NGX_HTTP_HARBOR_WEBHOOK_UNAVAILABLE                                   \
    "cannot queue the event now: redis unavailable"


ngx_int_t
ngx_http_harbor_preheat_handler(ngx_http_request_t *r)
{
    ngx_str_t                           path;
    ngx_http_core_loc_conf_t           *clcf;
    ngx_http_harbor_events_loc_conf_t  *hlcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    /* a prefix location (harbor_preheat refuses any other) */

    if (r->uri.len < clcf->name.len) {
        return NGX_HTTP_NOT_FOUND;
    }

    path.data = r->uri.data + clcf->name.len;
    path.len = r->uri.len - clcf->name.len;

    if (clcf->name.len && clcf->name.data[clcf->name.len - 1] != '/') {
        if (path.len == 0 || path.data[0] != '/') {
            return NGX_HTTP_NOT_FOUND;
        }

        path.data++;
        path.len--;
    }

    if (path.len == sizeof("registry/notifications") - 1
        && ngx_strncmp(path.data, "registry/notifications", path.len) == 0)
    {
        return ngx_http_harbor_webhook_handler(r);
    }

    if (path.len != sizeof("health") - 1
        || ngx_strncmp(path.data, "health", path.len) != 0)
    {
        return NGX_HTTP_NOT_FOUND;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    /* Harbor sends its credential here too: a wrong one shows unhealthy */

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_events_module);

    if (!ngx_http_harbor_webhook_auth_ok(r, &hlcf->auth)) {
        return ngx_http_harbor_webhook_unauthorized(r, &hlcf->auth);
    }

    return ngx_http_harbor_webhook_send(r, NGX_HTTP_OK,
                                 (u_char *) NGX_HTTP_HARBOR_PREHEAT_HEALTHY,
                                 sizeof(NGX_HTTP_HARBOR_PREHEAT_HEALTHY) - 1);
}


ngx_int_t
ngx_http_harbor_webhook_handler(ngx_http_request_t *r)
{
    ngx_int_t                           rc;
    ngx_table_elt_t                    *h;
    ngx_http_harbor_events_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_events_module);

    if (r->method != NGX_HTTP_POST) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "POST");

        return ngx_http_harbor_webhook_error(r, NGX_HTTP_NOT_ALLOWED,
                                             "method not allowed: use POST");
    }

    if (!ngx_http_harbor_webhook_auth_ok(r, &hlcf->auth)) {
        return ngx_http_harbor_webhook_unauthorized(r, &hlcf->auth);
    }

    if (r->headers_in.content_length_n > (off_t) hlcf->max_size) {
        return ngx_http_harbor_webhook_error(r,
                                      NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                      "payload larger than the limit");
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_harbor_webhook_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_harbor_webhook_body(ngx_http_request_t *r)
{
    u_char                             *p, *data;
    size_t                              len;
    ngx_buf_t                          *b;
    ngx_chain_t                        *cl;
    ngx_http_request_body_t            *rb;
    ngx_http_harbor_webhook_event_t    *ev;
    ngx_http_harbor_events_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_events_module);
    rb = r->request_body;

    if (rb == NULL || rb->bufs == NULL) {
        ngx_http_finalize_request(r,
            ngx_http_harbor_webhook_error(r, NGX_HTTP_BAD_REQUEST,
                                          "empty body"));
        return;
    }

    /* anything that did not fit the memory buffer is too large */

    len = 0;

    for (cl = rb->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (rb->temp_file || b->in_file
            || len + (b->last - b->pos) > hlcf->max_size)
        {
            ngx_http_finalize_request(r,
                ngx_http_harbor_webhook_error(r,
                                      NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                      "payload larger than the limit"));
            return;
        }

        len += b->last - b->pos;
    }

    if (rb->bufs->next == NULL) {
        data = rb->bufs->buf->pos;

    } else {
        data = ngx_pnalloc(r->pool, len);
        if (data == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        p = data;

        for (cl = rb->bufs; cl; cl = cl->next) {
            p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
        }
    }

    ev = ngx_palloc(r->pool, sizeof(ngx_http_harbor_webhook_event_t));
    if (ev == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if ((hlcf->webhook == NGX_HTTP_HARBOR_EVENTS_PREHEAT)
        ? ngx_http_harbor_preheat_parse(data, len, ev)
        : ngx_http_harbor_webhook_parse(data, len,
                                  ngx_http_harbor_webhook_is_cloudevents(r),
                                  ev))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "harbor %s: bad payload: %s",
                      (hlcf->webhook == NGX_HTTP_HARBOR_EVENTS_PREHEAT)
                      ? "preheat" : "webhook", ev->err);

        ngx_http_finalize_request(r,
            ngx_http_harbor_webhook_error(r, NGX_HTTP_BAD_REQUEST, ev->err));
        return;
    }

    if (ev->kind == NGX_HTTP_HARBOR_WEBHOOK_IGNORED) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "harbor webhook: \"%s\" ignored", ev->type.data);

        ngx_http_finalize_request(r,
            ngx_http_harbor_webhook_send(r, NGX_HTTP_OK,
                                         (u_char *) "{\"queued\":0}\n",
                                         sizeof("{\"queued\":0}\n") - 1));
        return;
    }

    if (ngx_http_harbor_webhook_queue(r, ev) != NGX_OK) {
        ngx_http_finalize_request(r,
            ngx_http_harbor_webhook_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         NGX_HTTP_HARBOR_WEBHOOK_UNAVAILABLE));
    }

    /* else the answer is sent when Redis replies: webhook_done() */
}


/* one line per resource; NGX_OK: the request now waits for the replies */

static ngx_int_t
ngx_http_harbor_webhook_queue(ngx_http_request_t *r,
    ngx_http_harbor_webhook_event_t *ev)
{
    u_char                              *p;
    time_t                               at;
    ngx_uint_t                           i;
    const char                          *kind, *source;
    ngx_pool_cleanup_t                  *cln;
    ngx_http_harbor_webhook_ctx_t       *ctx;
    ngx_http_harbor_webhook_item_t      *item;
    ngx_http_harbor_events_main_conf_t  *hmcf;
    ngx_http_harbor_webhook_resource_t  *res;
    u_char                               line[NGX_HTTP_HARBOR_REDIS_LINE_MAX];

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_harbor_events_module);

    /*
     * Known down: answer at once.  Otherwise a line that finds no slot
     * fails the whole answer (503), and Harbor sends the event again.
     */

    if (hmcf->link == NULL || ngx_http_harbor_redis_is_down(hmcf->link)) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "harbor webhook: event for \"%s\" not queued: "
                      "redis \"%V\" unavailable",
                      ev->repository, &hmcf->redis.addr);
        return NGX_ERROR;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_harbor_webhook_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->items = ngx_pcalloc(r->pool, ev->nresources
                                      * sizeof(ngx_http_harbor_webhook_item_t));
    if (ctx->items == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_harbor_webhook_cancel;
    cln->data = ctx;

    ctx->request = r;
    ctx->nitems = ev->nresources;

    at = ev->occurred_at >= 0 ? (time_t) ev->occurred_at : ngx_time();

    switch (ev->kind) {

    case NGX_HTTP_HARBOR_WEBHOOK_PREHEAT:
        kind = "preheat";
        source = "preheat";
        break;

    case NGX_HTTP_HARBOR_WEBHOOK_DELETE:
        kind = "delete";
        source = "webhook";
        break;

    default:
        kind = "push";
        source = "webhook";
        break;
    }

    for (i = 0; i < ev->nresources; i++) {
        res = &ev->resources[i];
        item = &ctx->items[i];
        item->ctx = ctx;

        p = ngx_snprintf(line, sizeof(line),
                         "{\"kind\":\"%s\",\"repository\":\"%s\","
                         "\"digest\":\"%s\"",
                         kind, ev->repository, res->digest);

        if (res->tag_len) {
            p = ngx_snprintf(p, line + sizeof(line) - p, ",\"tag\":\"%s\"",
                             res->tag);
        }

        p = ngx_snprintf(p, line + sizeof(line) - p,
                         ",\"occurred_at\":%T,\"source\":\"%s\"}", at,
                         source);

        if (ngx_http_harbor_redis_push(hmcf->link,
                                       NGX_HTTP_HARBOR_REDIS_EVENT, line,
                                       p - line, ngx_http_harbor_webhook_done,
                                       item, &item->cmd)
            != NGX_OK)
        {
            item->cmd = NULL;
            ctx->failed = 1;
            continue;
        }

        ctx->waiting++;
    }

    if (ctx->waiting == 0) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "harbor webhook: event for \"%s\" not queued: "
                      "no free slot for redis \"%V\"",
                      ev->repository, &hmcf->redis.addr);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_harbor_webhook_done(void *data, ngx_int_t rc)
{
    u_char                          *p;
    ngx_int_t                        rv;
    ngx_connection_t                *c;
    ngx_http_request_t              *r;
    ngx_http_harbor_webhook_ctx_t   *ctx;
    ngx_http_harbor_webhook_item_t  *item;
    u_char                           body[sizeof("{\"queued\":}\n")
                                          + NGX_INT_T_LEN];

    item = data;
    ctx = item->ctx;
    item->cmd = NULL;

    if (rc == NGX_OK) {
        ctx->queued++;

    } else {
        ctx->failed = 1;
    }

    if (--ctx->waiting) {
        return;
    }

    r = ctx->request;
    c = r->connection;

    if (ctx->failed) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "harbor webhook: %ui of %ui event lines not queued",
                      ctx->nitems - ctx->queued, ctx->nitems);

        rv = ngx_http_harbor_webhook_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          NGX_HTTP_HARBOR_WEBHOOK_UNAVAILABLE);

    } else {
        p = ngx_sprintf(body, "{\"queued\":%ui}\n", ctx->queued);
        rv = ngx_http_harbor_webhook_send(r, NGX_HTTP_OK, body, p - body);
    }

    ngx_http_finalize_request(r, rv);
    ngx_http_run_posted_requests(c);
}


/* the request is freed before Redis answered: forget it, keep the line */

static void
ngx_http_harbor_webhook_cancel(void *data)
{
    ngx_http_harbor_webhook_ctx_t *ctx = data;

    ngx_uint_t  i;

    for (i = 0; i < ctx->nitems; i++) {
        if (ctx->items[i].cmd != NULL) {
            ngx_http_harbor_redis_cancel(ctx->items[i].cmd);
            ctx->items[i].cmd = NULL;
        }
    }
}


/* a 401 carries a challenge: the scheme of the configured value */

static ngx_int_t
ngx_http_harbor_webhook_unauthorized(ngx_http_request_t *r, ngx_str_t *want)
{
    u_char           *p;
    size_t            len;
    ngx_table_elt_t  *h;

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "harbor webhook: %s Authorization header",
                  r->headers_in.authorization ? "wrong" : "no");

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_strlchr(want->data, want->data + want->len, ' ');
    len = (p ? p : want->data + want->len) - want->data;

    h->value.data = ngx_pnalloc(r->pool,
                                len + sizeof(" realm=\"harbor-edge\"") - 1);
    if (h->value.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->value.len = ngx_sprintf(h->value.data, "%*s realm=\"harbor-edge\"",
                               len, want->data)
                   - h->value.data;
    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");

    return ngx_http_harbor_webhook_error(r, NGX_HTTP_UNAUTHORIZED,
                                     "missing or wrong Authorization header");
}


/* exact match; the time taken depends on the configured length only */

static ngx_uint_t
ngx_http_harbor_webhook_auth_ok(ngx_http_request_t *r, ngx_str_t *want)
{
    size_t      i;
    u_char      diff;
    ngx_str_t  *got;

    if (want->data == NULL) {
        return 1;
    }

    if (r->headers_in.authorization == NULL) {
        return 0;
    }

    got = &r->headers_in.authorization->value;
    diff = (got->len != want->len);

    for (i = 0; i < want->len; i++) {
        diff |= want->data[i] ^ (i < got->len ? got->data[i] : 0);
    }

    return diff == 0;
}


static ngx_uint_t
ngx_http_harbor_webhook_is_cloudevents(ngx_http_request_t *r)
{
    size_t      n;
    ngx_str_t  *ct;

    static const char  type[] = "application/cloudevents+json";

    if (r->headers_in.content_type == NULL) {
        return 0;
    }

    ct = &r->headers_in.content_type->value;
    n = sizeof(type) - 1;

    return ct->len >= n
           && ngx_strncasecmp(ct->data, (u_char *) type, n) == 0
           && (ct->len == n || ct->data[n] == ';' || ct->data[n] == ' ');
}


/* reason: ASCII without quotes or backslashes (the parser's promise) */

static ngx_int_t
ngx_http_harbor_webhook_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *reason)
{
    u_char  *p, *body;
    size_t   len;

    len = sizeof("{\"error\":\"\"}\n") - 1 + ngx_strlen(reason);

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"error\":\"%s\"}\n", reason);

    return ngx_http_harbor_webhook_send(r, status, body, p - body);
}


static ngx_int_t
ngx_http_harbor_webhook_send(ngx_http_request_t *r, ngx_uint_t status,
    u_char *body, size_t len)
{
    u_char     *p;
    ngx_str_t   type;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    /* the body may be on the caller's stack */

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(p, body, len);

    ngx_str_set(&type, "application/json");

    return ngx_http_harbor_send_body(r, status, &type, p, len);
}
