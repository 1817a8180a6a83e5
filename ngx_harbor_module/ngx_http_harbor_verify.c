
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
 *
 * One hash per file, not per request ("harbor_verify once"): N clients
 * asking at once for a blob not verified yet, GET or HEAD, would cost N
 * full reads and hashes, and every other first serve would queue behind
 * them in the pool.  So each worker keeps the files its tasks are hashing
 * in an rbtree keyed like the verified-file cache (dev, inode, size, mtime,
 * ctime, digest; in the main configuration, which fork made the worker's
 * own).  A request for a file in the tree posts nothing: it is blocked
 * exactly like the request that posted the task, queued on the task, and
 * given its result when the task completes (its own descriptor is sent,
 * the same file by the key).  Lifetimes:
 *
 *   - the task, its buffer and the list of waiters live in the pool of the
 *     request that posted it, which stays blocked, so alive, until the
 *     completion event, whatever happens to its client; that event first
 *     takes the task out of the tree, then hands the result to every
 *     waiter (copied into the waiter's own context, so nothing points
 *     into the task afterwards), unblocks it and posts its write event,
 *     and only then resumes the request that posted the task;
 *   - a waiter is blocked and referenced too, so nginx frees it only once
 *     it is woken; still, a pool cleanup takes it off the list and stops
 *     its timer should its pool go first;
 *   - a waiter has its own guard timer, so a worker shutting down waits
 *     for it as for the task.
 *
 * "harbor_verify always" hashes per request, as its name says.  Either
 * way a worker runs at most harbor_verify_max_hashes tasks at a time (16
 * by default; the location of the request that would post one more
 * decides): beyond that, or when the pool's queue is full, the request
 * gets NGX_BUSY, and the blob handler answers 503 or passes it to
 * harbor_miss_pass.  A task whose client went away still counts: it still
 * reads and hashes.  Waiting for a task costs no thread and is not capped.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>

#include "ngx_http_harbor_module.h"


#define NGX_HTTP_HARBOR_VERIFY_BUF    (256 * 1024)
#define NGX_HTTP_HARBOR_VERIFY_GUARD  60000


typedef struct {
    /* in the worker's tree while hashing for "once"; vn.queue: waiters */
    ngx_http_harbor_vnode_t     vn;
    ngx_http_harbor_ctx_t      *ctx;
    ngx_fd_t                    fd;
    off_t                       size;
    ngx_uint_t                  type;
    u_char                     *buf;
    size_t                      buf_size;
    ngx_err_t                   err;
    ngx_int_t                   rc;
    ngx_uint_t                  coalesce;   /* in the tree */
    u_char                      hash[NGX_HTTP_HARBOR_HASH_MAX];
} ngx_http_harbor_verify_task_t;


static const EVP_MD *ngx_http_harbor_md(ngx_uint_t type);
static void ngx_http_harbor_verify_file(void *data, ngx_log_t *log);
static ngx_int_t ngx_http_harbor_verify_result(ngx_http_harbor_ctx_t *ctx,
    ngx_http_harbor_verify_task_t *vt);
static ngx_int_t ngx_http_harbor_verify_done(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx);
#if (NGX_THREADS)
static ngx_int_t ngx_http_harbor_verify_wait(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, ngx_http_harbor_verify_task_t *vt);
static void ngx_http_harbor_verify_block(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx);
static void ngx_http_harbor_verify_event(ngx_event_t *ev);
static void ngx_http_harbor_verify_wake(ngx_http_harbor_verify_task_t *vt,
    ngx_int_t rc);
static void ngx_http_harbor_verify_resume(ngx_http_request_t *r);
static void ngx_http_harbor_verify_guard(ngx_event_t *ev);
static void ngx_http_harbor_verify_cleanup(void *data);
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
 * with coalesce, ctx->vkey is set and a task already hashing that file is
 * waited for rather than a new one posted.  Returns NGX_DONE while the
 * thread works, NGX_BUSY when the worker hashes too many blobs already
 * (nothing was done: the caller answers), or what ctx->done returned.
 */

ngx_int_t
ngx_http_harbor_verify(ngx_http_request_t *r, ngx_http_harbor_ctx_t *ctx,
    ngx_uint_t coalesce)
{
    ngx_http_harbor_verify_task_t  *vt;
#if (NGX_THREADS)
    uint32_t                        hash;
    ngx_thread_task_t              *task;
    ngx_http_harbor_vnode_t        *vn;
    ngx_http_harbor_loc_conf_t     *hlcf;
    ngx_http_harbor_main_conf_t    *hmcf;
#endif

    ctx->verified = NGX_ERROR;

#if (NGX_THREADS)

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_harbor_module);

    if (hmcf->hashing.root == NULL) {
        ngx_rbtree_init(&hmcf->hashing, &hmcf->hashing_sentinel,
                        ngx_http_harbor_vkey_rbtree_insert);
    }

    hash = 0;

    if (coalesce) {
        hash = ngx_http_harbor_vkey_hash(&ctx->vkey);

        vn = ngx_http_harbor_vkey_find(&hmcf->hashing, &ctx->vkey, hash);

        if (vn) {
            vt = (ngx_http_harbor_verify_task_t *) vn;
            return ngx_http_harbor_verify_wait(r, ctx, vt);
        }
    }

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    if (hmcf->nhashing >= hlcf->verify_max_hashes) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "harbor: %ui blobs are being hashed already, "
                      "not \"%s\"", hmcf->nhashing, ctx->path.data);
        return NGX_BUSY;
    }

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
    ctx->hashed = 1;

#if (NGX_THREADS)

    task->handler = ngx_http_harbor_verify_file;
    task->event.data = task;
    task->event.handler = ngx_http_harbor_verify_event;

    if (ngx_thread_task_post(hlcf->thread_pool, task) != NGX_OK) {
        /* the pool's queue is full: as busy as it gets */
        ctx->verify = NULL;
        ctx->hashed = 0;
        return NGX_BUSY;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "harbor verify posted: \"%s\"", ctx->path.data);

    hmcf->nhashing++;

    ngx_queue_init(&vt->vn.queue);

    if (coalesce) {
        vt->vn.node.key = hash;
        vt->vn.key = ctx->vkey;
        ngx_rbtree_insert(&hmcf->hashing, &vt->vn.node);
        vt->coalesce = 1;
    }

    ngx_http_harbor_verify_block(r, ctx);

    return NGX_DONE;

#else

    ngx_http_harbor_verify_file(vt, r->connection->log);

    ctx->verified = ngx_http_harbor_verify_result(ctx, vt);

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


/*
 * the task's outcome for ctx: NGX_OK, NGX_DECLINED or NGX_ERROR; the
 * digest is the same for every request that waited (it is in the key)
 */

static ngx_int_t
ngx_http_harbor_verify_result(ngx_http_harbor_ctx_t *ctx,
    ngx_http_harbor_verify_task_t *vt)
{
    if (vt->rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (vt->rc == NGX_OK
        && ngx_http_harbor_hash_equal(&ctx->digest, vt->hash) == NGX_OK)
    {
        ngx_memcpy(ctx->hash, vt->hash, NGX_HTTP_HARBOR_HASH_MAX);
        return NGX_OK;
    }

    return NGX_DECLINED;
}


#if (NGX_THREADS)

/*
 * another request of this worker is hashing the file: wait for its task
 */

static ngx_int_t
ngx_http_harbor_verify_wait(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, ngx_http_harbor_verify_task_t *vt)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_harbor_verify_cleanup;
    cln->data = ctx;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "harbor verify waits: \"%s\"", ctx->path.data);

    ctx->wait_for = vt;
    ngx_queue_insert_tail(&vt->vn.queue, &ctx->wait);

    ngx_http_harbor_verify_block(r, ctx);

    return NGX_DONE;
}


/*
 * the request waits for a task: blocked and referenced so that nginx
 * does not free it, guarded by a timer for a worker shutting down
 */

static void
ngx_http_harbor_verify_block(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx)
{
    ctx->pending = 1;

    ctx->guard.handler = ngx_http_harbor_verify_guard;
    ctx->guard.data = ctx;
    ctx->guard.log = r->connection->log;

    ngx_add_timer(&ctx->guard, NGX_HTTP_HARBOR_VERIFY_GUARD);

    r->main->blocked++;
    r->aio = 1;
    r->main->count++;
    r->write_event_handler = ngx_http_harbor_verify_resume;
}


static void
ngx_http_harbor_verify_event(ngx_event_t *ev)
{
    ngx_int_t                       rc;
    ngx_connection_t               *c;
    ngx_thread_task_t              *task;
    ngx_http_request_t             *r;
    ngx_http_harbor_main_conf_t    *hmcf;
    ngx_http_harbor_verify_task_t  *vt;

    task = ev->data;
    vt = task->ctx;
    r = vt->ctx->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "harbor verify done: \"%s\"", vt->ctx->path.data);

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_harbor_module);

    hmcf->nhashing--;

    /* no request may join the task from here on */

    if (vt->coalesce) {
        ngx_rbtree_delete(&hmcf->hashing, &vt->vn.node);
        vt->coalesce = 0;
    }

    rc = ngx_http_harbor_verify_result(vt->ctx, vt);

    ngx_http_harbor_verify_wake(vt, rc);

    vt->ctx->verified = rc;
    vt->ctx->pending = 0;

    if (vt->ctx->guard.timer_set) {
        ngx_del_timer(&vt->ctx->guard);
    }

    r->main->blocked--;
    r->aio = 0;

    c->write->handler(c->write);
}


/*
 * hands the result to the requests waiting for the task and unblocks
 * them; they run from the posted events, after the task's own request
 */

static void
ngx_http_harbor_verify_wake(ngx_http_harbor_verify_task_t *vt, ngx_int_t rc)
{
    ngx_queue_t            *q;
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_http_harbor_ctx_t  *ctx;

    while (!ngx_queue_empty(&vt->vn.queue)) {

        q = ngx_queue_head(&vt->vn.queue);
        ctx = ngx_queue_data(q, ngx_http_harbor_ctx_t, wait);

        ngx_queue_remove(q);

        ctx->wait_for = NULL;
        ctx->verified = rc;

        if (rc == NGX_OK) {
            ngx_memcpy(ctx->hash, vt->hash, NGX_HTTP_HARBOR_HASH_MAX);
        }

        ctx->pending = 0;

        if (ctx->guard.timer_set) {
            ngx_del_timer(&ctx->guard);
        }

        r = ctx->request;
        c = r->connection;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "harbor verify woken: \"%s\"", ctx->path.data);

        r->main->blocked--;
        r->aio = 0;

        ngx_post_event(c->write, &ngx_posted_events);
    }
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
                  "harbor: still %s \"%s\"",
                  ctx->hashed ? "hashing" : "waiting for the hash of",
                  ctx->path.data);

    ngx_add_timer(ev, NGX_HTTP_HARBOR_VERIFY_GUARD);
}


/*
 * a waiter's pool is going: nginx frees a blocked request only once it is
 * unblocked, that is woken, but should it go first, the task must not
 * find it in its list nor the timer tree its guard
 */

static void
ngx_http_harbor_verify_cleanup(void *data)
{
    ngx_http_harbor_ctx_t *ctx = data;

    if (ctx->wait_for == NULL) {
        return;
    }

    ngx_queue_remove(&ctx->wait);
    ctx->wait_for = NULL;

    if (ctx->guard.timer_set) {
        ngx_del_timer(&ctx->guard);
    }
}

#endif


static ngx_int_t
ngx_http_harbor_verify_done(ngx_http_request_t *r, ngx_http_harbor_ctx_t *ctx)
{
    ngx_http_harbor_verify_task_t  *vt;

    if (ctx->verified == NGX_ERROR) {

        if (ctx->hashed) {
            vt = ctx->verify;
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, vt->err,
                          "harbor: hashing \"%s\" failed", ctx->path.data);
        }

        return ctx->done(r, ctx, NGX_ERROR);
    }

    return ctx->done(r, ctx, ctx->verified);
}
