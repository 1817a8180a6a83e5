
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * Digest verification.  Manifests are hashed in memory by the caller
 * (ngx_http_harbor_hash()).  Blobs can be gigabytes, so they are hashed in
 * nginx's thread pool, as ngx_http_copy_filter_module reads files there:
 *
 *   - the task handler runs in a pool thread and does nothing but pread(2)
 *     on the descriptor the request holds open (from the open file cache)
 *     and feed OpenSSL's EVP digest; it keeps its result in its context;
 *   - while the task is pending the request is blocked (r->main->blocked,
 *     r->aio) and referenced (r->main->count), so it cannot be freed under
 *     the thread, and ctx->pending makes a stray write event a no-op;
 *   - the completion event runs in the worker's loop, unblocks the request
 *     and calls ctx->done, which answers or passes the miss on.
 *
 * A request terminated meanwhile is finalized by nginx itself once it is
 * unblocked (ngx_http_terminate_request() swaps in the finalizer).  A task
 * cannot be cancelled, so the request keeps a timer that only re-arms
 * itself while the task runs: a worker shutting down gracefully exits
 * when no timers are left, and must not leave the request behind.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>

#include "ngx_http_harbor_module.h"


#define NGX_HTTP_HARBOR_VERIFY_BUF    (256 * 1024)
#define NGX_HTTP_HARBOR_VERIFY_GUARD  60000


typedef struct {
    ngx_http_harbor_ctx_t      *ctx;
    ngx_fd_t                    fd;
    off_t                       size;
    ngx_uint_t                  type;
    u_char                     *buf;
    size_t                      buf_size;
    ngx_err_t                   err;
    ngx_int_t                   rc;
    u_char                      hash[NGX_HTTP_HARBOR_HASH_MAX];
} ngx_http_harbor_verify_task_t;


static const EVP_MD *ngx_http_harbor_md(ngx_uint_t type);
static void ngx_http_harbor_verify_file(void *data, ngx_log_t *log);
static ngx_int_t ngx_http_harbor_verify_done(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx);
#if (NGX_THREADS)
static void ngx_http_harbor_verify_event(ngx_event_t *ev);
static void ngx_http_harbor_verify_resume(ngx_http_request_t *r);
static void ngx_http_harbor_verify_guard(ngx_event_t *ev);
#endif


static const EVP_MD *
ngx_http_harbor_md(ngx_uint_t type)
{
    return (type == NGX_HTTP_HARBOR_SHA512) ? EVP_sha512() : EVP_sha256();
}


ngx_int_t
ngx_http_harbor_hash(ngx_uint_t type, u_char *data, size_t len, u_char *out)
{
    if (EVP_Digest(data, len, out, NULL, ngx_http_harbor_md(type), NULL)
        != 1)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_harbor_hash_equal(ngx_http_harbor_digest_t *d, u_char *hash)
{
    size_t  n;
    u_char  hex[2 * NGX_HTTP_HARBOR_HASH_MAX];

    n = (d->type == NGX_HTTP_HARBOR_SHA512) ? 64 : 32;

    if (d->hex.len != 2 * n) {
        return NGX_DECLINED;
    }

    ngx_hex_dump(hex, hash, n);

    return (ngx_strncmp(hex, d->hex.data, 2 * n) == 0) ? NGX_OK
                                                        : NGX_DECLINED;
}


/*
 * hashes the opened data file ctx->of and calls ctx->done(r, ctx, rc),
 * rc being NGX_OK (matches), NGX_DECLINED (does not) or NGX_ERROR;
 * returns NGX_DONE while the thread works, or what ctx->done returned
 */

ngx_int_t
ngx_http_harbor_verify(ngx_http_request_t *r, ngx_http_harbor_ctx_t *ctx)
{
    ngx_http_harbor_verify_task_t  *vt;
#if (NGX_THREADS)
    ngx_thread_task_t              *task;
    ngx_http_harbor_loc_conf_t     *hlcf;
#endif

#if (NGX_THREADS)

    task = ngx_thread_task_alloc(r->pool,
                                 sizeof(ngx_http_harbor_verify_task_t));
    if (task == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    vt = task->ctx;

#else

    vt = ngx_pcalloc(r->pool, sizeof(ngx_http_harbor_verify_task_t));
    if (vt == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

#endif

    vt->ctx = ctx;
    vt->fd = ctx->of.fd;
    vt->size = ctx->of.size;
    vt->type = ctx->digest.type;
    vt->buf_size = ngx_min(NGX_HTTP_HARBOR_VERIFY_BUF,
                           (size_t) ngx_max(ctx->of.size, 1));

    vt->buf = ngx_palloc(r->pool, vt->buf_size);
    if (vt->buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->verify = vt;

#if (NGX_THREADS)

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    task->handler = ngx_http_harbor_verify_file;
    task->event.data = task;
    task->event.handler = ngx_http_harbor_verify_event;

    if (ngx_thread_task_post(hlcf->thread_pool, task) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "harbor verify posted: \"%s\"", ctx->path.data);

    ctx->pending = 1;

    ctx->guard.handler = ngx_http_harbor_verify_guard;
    ctx->guard.data = ctx;
    ctx->guard.log = r->connection->log;

    ngx_add_timer(&ctx->guard, NGX_HTTP_HARBOR_VERIFY_GUARD);

    r->main->blocked++;
    r->aio = 1;
    r->main->count++;
    r->write_event_handler = ngx_http_harbor_verify_resume;

    return NGX_DONE;

#else

    ngx_http_harbor_verify_file(vt, r->connection->log);

    return ngx_http_harbor_verify_done(r, ctx);

#endif
}


/*
 * runs in a thread of the pool: pread and hash, nothing else
 */

static void
ngx_http_harbor_verify_file(void *data, ngx_log_t *log)
{
    ngx_http_harbor_verify_task_t *vt = data;

    off_t        offset;
    size_t       size;
    ssize_t      n;
    EVP_MD_CTX  *md;

    vt->rc = NGX_ERROR;
    vt->err = 0;

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return;
    }

    if (EVP_DigestInit_ex(md, ngx_http_harbor_md(vt->type), NULL) != 1) {
        goto done;
    }

    offset = 0;

    while (offset < vt->size) {
        size = (size_t) ngx_min((off_t) vt->buf_size, vt->size - offset);

        n = pread(vt->fd, vt->buf, size, offset);

        if (n == -1) {
            vt->err = ngx_errno;

            if (vt->err == NGX_EINTR) {
                continue;
            }

            goto done;
        }

        if (n == 0) {
            /* truncated under us: cannot match */
            vt->rc = NGX_DECLINED;
            goto done;
        }

        if (EVP_DigestUpdate(md, vt->buf, n) != 1) {
            goto done;
        }

        offset += n;
    }

    if (EVP_DigestFinal_ex(md, vt->hash, NULL) != 1) {
        goto done;
    }

    vt->rc = NGX_OK;

done:

    EVP_MD_CTX_free(md);
}


#if (NGX_THREADS)

static void
ngx_http_harbor_verify_event(ngx_event_t *ev)
{
    ngx_connection_t               *c;
    ngx_thread_task_t              *task;
    ngx_http_request_t             *r;
    ngx_http_harbor_verify_task_t  *vt;

    task = ev->data;
    vt = task->ctx;
    r = vt->ctx->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "harbor verify done: \"%s\"", vt->ctx->path.data);

    vt->ctx->pending = 0;

    if (vt->ctx->guard.timer_set) {
        ngx_del_timer(&vt->ctx->guard);
    }

    r->main->blocked--;
    r->aio = 0;

    c->write->handler(c->write);
}


static void
ngx_http_harbor_verify_resume(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_http_harbor_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    if (ctx == NULL || ctx->pending) {
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    rc = ngx_http_harbor_verify_done(r, ctx);

    ngx_http_finalize_request(r, ngx_http_harbor_internal_error(r, rc));
}


static void
ngx_http_harbor_verify_guard(ngx_event_t *ev)
{
    ngx_http_harbor_ctx_t *ctx = ev->data;

    ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                  "harbor: still hashing \"%s\"", ctx->path.data);

    ngx_add_timer(ev, NGX_HTTP_HARBOR_VERIFY_GUARD);
}

#endif


static ngx_int_t
ngx_http_harbor_verify_done(ngx_http_request_t *r, ngx_http_harbor_ctx_t *ctx)
{
    ngx_http_harbor_verify_task_t  *vt;

    vt = ctx->verify;

    if (vt->rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, vt->err,
                      "harbor: hashing \"%s\" failed", ctx->path.data);
        return ctx->done(r, ctx, NGX_ERROR);
    }

    if (vt->rc == NGX_OK && ngx_http_harbor_hash_equal(&ctx->digest, vt->hash)
                            == NGX_OK)
    {
        ngx_memcpy(ctx->hash, vt->hash, NGX_HTTP_HARBOR_HASH_MAX);
        return ctx->done(r, ctx, NGX_OK);
    }

    return ctx->done(r, ctx, NGX_DECLINED);
}
