
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * harbor_fill: a miss is filled by the replicator once, and every client
 * that asks for it meanwhile is served from the file as it is written
 * (docs/store.md, "Fills", is the contract).
 *
 * A request that misses asks for a fill (a line on <queue>:fill, folded
 * per worker) and follows it on a timer of NGX_HTTP_HARBOR_FILL_TICK ms:
 *
 *   blob      the fill's header STATE/fill/sha256-<hex> says the size and
 *             which repositories the primary serves it from; once it names
 *             the request's repository, the answer starts (200 with the
 *             size, or 206 once a Range's first byte is there) and the
 *             bytes of STATE/partial/sha256-<hex> go out as they reach the
 *             disk, as file buffers (sendfile).  The last byte waits for
 *             "state done": only then has the replicator checked the
 *             digest and published the file, so no client ever gets a
 *             complete body of wrong bytes.  "failed", a file that
 *             vanished unpublished, or no progress for harbor_fill_timeout
 *             close the connection before the end;
 *   manifest  the replicator publishes a filled manifest at once: the
 *             request looks again in the store each tick and is answered
 *             as a hit when it is there.
 *
 * Nothing that started within harbor_fill_wait, a refusal ("deny" the
 * repository, "notfound") or no Redis: the miss goes on as without
 * harbor_fill (harbor_miss_pass, or the OCI 404).
 *
 * The request is referenced (r->main->count) while it follows, and its
 * timer keeps a worker that is shutting down alive until it is answered.
 * The module reads only: the header, the partial file, the store.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_module.h"

#if (NGX_HTTP_HARBOR_EVENTS)
#include "ngx_http_harbor_events.h"
#endif


#define NGX_HTTP_HARBOR_FILL_TICK     20
#define NGX_HTTP_HARBOR_FILL_HEADER   65536
#define NGX_HTTP_HARBOR_FILL_REPOS    64


typedef struct {
    off_t                       size;       /* -1: not said */
    ngx_msec_t                  written;    /* its mtime, wall clock ms */
    ngx_uint_t                  state;
    ngx_uint_t                  listed;     /* "repo" names ours */
    ngx_uint_t                  denied;     /* "deny" names ours */
} ngx_http_harbor_fill_header_t;


/* a header's state */
enum {
    NGX_HTTP_HARBOR_FILL_S_NONE = 0,
    NGX_HTTP_HARBOR_FILL_S_RUNNING,
    NGX_HTTP_HARBOR_FILL_S_DONE,
    NGX_HTTP_HARBOR_FILL_S_FAILED,
    NGX_HTTP_HARBOR_FILL_S_NOTFOUND
};


typedef struct {
    ngx_http_request_t         *request;
    ngx_http_harbor_ctx_t      *ctx;
    ngx_event_t                 timer;
    ngx_str_t                   header;     /* the fill's header file */
    ngx_str_t                   partial;    /* the data being written */
    ngx_file_t                  file;       /* what is followed; fd -1 */
    off_t                       size;
    off_t                       sent;       /* bytes given to the filters */
    off_t                       start;      /* a Range's first byte */
    ngx_msec_t                  began;
    ngx_msec_t                  progress;   /* when bytes last came */
    ngx_msec_t                  looked;     /* the header last read */
    ngx_msec_t                  asked;      /* wall clock ms, 0: joined */
    ngx_uint_t                  err;        /* the miss, for a fallback */
    char                       *message;
    ngx_uint_t                  state;
    unsigned                    manifest:1;
    unsigned                    answering:1;  /* the header went out */
    unsigned                    finished:1;
} ngx_http_harbor_fill_t;


static ngx_int_t ngx_http_harbor_fill_paths(ngx_http_request_t *r,
    ngx_http_harbor_fill_t *f);
static ngx_int_t ngx_http_harbor_fill_read_header(ngx_http_harbor_fill_t *f,
    ngx_http_harbor_fill_header_t *h);
static void ngx_http_harbor_fill_tick(ngx_event_t *ev);
static void ngx_http_harbor_fill_write(ngx_http_request_t *r);
static ngx_int_t ngx_http_harbor_fill_step(ngx_http_harbor_fill_t *f);
static ngx_int_t ngx_http_harbor_fill_manifest(ngx_http_harbor_fill_t *f);
static ngx_int_t ngx_http_harbor_fill_blob(ngx_http_harbor_fill_t *f);
static ngx_int_t ngx_http_harbor_fill_open(ngx_http_harbor_fill_t *f,
    ngx_uint_t done);
static ngx_int_t ngx_http_harbor_fill_answer(ngx_http_harbor_fill_t *f);
static ngx_int_t ngx_http_harbor_fill_send(ngx_http_harbor_fill_t *f);
static ngx_int_t ngx_http_harbor_fill_output(ngx_http_harbor_fill_t *f,
    ngx_chain_t *in);
static off_t ngx_http_harbor_fill_range_start(ngx_http_request_t *r);
static void ngx_http_harbor_fill_end(ngx_http_harbor_fill_t *f,
    ngx_int_t rc);
static void ngx_http_harbor_fill_cleanup(void *data);


/*
 * Called for a miss with harbor_fill on.  NGX_DONE: the request follows a
 * fill and is answered later; NGX_DECLINED: no fill, the caller goes on
 * with the miss.
 */

ngx_int_t
ngx_http_harbor_fill(ngx_http_request_t *r, ngx_http_harbor_ctx_t *ctx,
    ngx_uint_t err, char *message)
{
#if (NGX_HTTP_HARBOR_EVENTS)

    ngx_int_t                       rc;
    ngx_uint_t                      kind;
    struct timeval                  tv;
    ngx_pool_cleanup_t             *cln;
    ngx_http_harbor_fill_t         *f;
    ngx_http_harbor_fill_header_t   h;

    /* the replicator fills sha256 content; a subrequest is not followed */
    if (ctx->fill != NULL || r != r->main
        || (ctx->kind == NGX_HTTP_HARBOR_BLOB
            && ctx->digest.type != NGX_HTTP_HARBOR_SHA256))
    {
        return NGX_DECLINED;
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_harbor_fill_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    f = cln->data;
    ngx_memzero(f, sizeof(ngx_http_harbor_fill_t));

    f->request = r;
    f->ctx = ctx;
    f->err = err;
    f->message = message;
    f->size = -1;
    f->file.fd = NGX_INVALID_FILE;
    f->file.log = r->connection->log;
    f->manifest = (ctx->kind == NGX_HTTP_HARBOR_MANIFEST);
    f->began = ngx_current_msec;
    f->progress = f->began;

    cln->handler = ngx_http_harbor_fill_cleanup;
    ctx->fill = f;

    if (ngx_http_harbor_fill_paths(r, f) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a fill of this blob for this repository under way: just follow it */

    rc = NGX_DECLINED;

    if (!f->manifest
        && ngx_http_harbor_fill_read_header(f, &h) == NGX_OK
        && h.listed
        && h.state == NGX_HTTP_HARBOR_FILL_S_RUNNING)
    {
        /*
         * Not a "done": the store has just missed, so a finished fill
         * was evicted since and this miss needs a new one.
         */
        rc = NGX_OK;
        ngx_http_harbor_count(r, NGX_HTTP_HARBOR_FILL_JOINED);
    }

    if (rc != NGX_OK) {
        kind = f->manifest ? NGX_HTTP_HARBOR_MISS_MANIFEST
                           : NGX_HTTP_HARBOR_MISS_BLOB;

        rc = ngx_http_harbor_events_fill(r, &ctx->repo, &ctx->reference, kind,
                                         ngx_http_harbor_auth_checked(r));

        /* the clock now, not the cached one: headers carry real mtimes */
        ngx_gettimeofday(&tv);
        f->asked = (ngx_msec_t) tv.tv_sec * 1000 + tv.tv_usec / 1000;

        if (rc != NGX_OK) {
            /* no Redis: nobody could fill it, the miss goes on now */
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "harbor fill: no request could be sent");
            return NGX_DECLINED;
        }

        ngx_http_harbor_count(r, NGX_HTTP_HARBOR_FILL_STARTED);
    }

    ctx->filling = 1;

    f->timer.handler = ngx_http_harbor_fill_tick;
    f->timer.data = f;
    f->timer.log = r->connection->log;

    r->main->count++;
    r->write_event_handler = ngx_http_harbor_fill_write;

    /* the first look at once: a fill may be well under way */
    ngx_add_timer(&f->timer, 1);

    return NGX_DONE;

#else

    return NGX_DECLINED;

#endif
}


/* STATE/fill/sha256-<hex> and STATE/partial/sha256-<hex>, or a manifest's */

static ngx_int_t
ngx_http_harbor_fill_paths(ngx_http_request_t *r, ngx_http_harbor_fill_t *f)
{
    u_char                      *p, key[NGX_HTTP_HARBOR_HASH_MAX];
    ngx_str_t                    raw;
    ngx_http_harbor_ctx_t       *ctx;
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);
    ctx = f->ctx;

    f->header.len = hlcf->state_dir.len + sizeof("/fill/manifest-") - 1
                    + 64;
    f->header.data = ngx_pnalloc(r->pool, f->header.len + 1);

    f->partial.len = hlcf->state_dir.len + sizeof("/partial/sha256-") - 1
                     + 64;
    f->partial.data = ngx_pnalloc(r->pool, f->partial.len + 1);

    if (f->header.data == NULL || f->partial.data == NULL) {
        return NGX_ERROR;
    }

    if (!f->manifest) {
        if (ctx->digest.type != NGX_HTTP_HARBOR_SHA256) {
            return NGX_ERROR;
        }

        p = ngx_sprintf(f->header.data, "%V/fill/sha256-%V%Z",
                        &hlcf->state_dir, &ctx->digest.hex);
        f->header.len = p - f->header.data - 1;

        p = ngx_sprintf(f->partial.data, "%V/partial/sha256-%V%Z",
                        &hlcf->state_dir, &ctx->digest.hex);
        f->partial.len = p - f->partial.data - 1;

        return NGX_OK;
    }

    /* a manifest's: the sha256 of "repository:reference", in hex */

    raw.len = ctx->repo.len + 1 + ctx->reference.len;
    raw.data = ngx_pnalloc(r->pool, raw.len);
    if (raw.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(raw.data, "%V:%V", &ctx->repo, &ctx->reference);

    if (ngx_http_harbor_hash(NGX_HTTP_HARBOR_SHA256, raw.data, raw.len, key)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = ngx_sprintf(f->header.data, "%V/fill/manifest-", &hlcf->state_dir);
    p = ngx_hex_dump(p, key, 32);
    *p++ = '\0';
    f->header.len = p - f->header.data - 1;

    return NGX_OK;
}


/*
 * The fill's header, parsed into h (for the request's repository).
 * NGX_DECLINED: no header, or one that does not parse.
 */

static ngx_int_t
ngx_http_harbor_fill_read_header(ngx_http_harbor_fill_t *f,
    ngx_http_harbor_fill_header_t *h)
{
    u_char          *p, *last, *eol, *sp, *buf;
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_str_t        key, value;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    ngx_memzero(h, sizeof(ngx_http_harbor_fill_header_t));
    h->size = -1;

    f->looked = ngx_current_msec;

    fd = ngx_open_file(f->header.data, NGX_FILE_RDONLY | NGX_FILE_NOFOLLOW,
                       NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        return NGX_DECLINED;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || !ngx_is_file(&fi)
        || ngx_file_size(&fi) > NGX_HTTP_HARBOR_FILL_HEADER)
    {
        ngx_close_file(fd);
        return NGX_DECLINED;
    }

    h->written = (ngx_msec_t) fi.st_mtim.tv_sec * 1000
                 + fi.st_mtim.tv_nsec / 1000000;

    buf = ngx_pnalloc(f->request->pool, ngx_file_size(&fi) + 1);
    if (buf == NULL) {
        ngx_close_file(fd);
        return NGX_DECLINED;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = f->header;
    file.log = f->request->connection->log;

    n = ngx_read_file(&file, buf, ngx_file_size(&fi), 0);

    ngx_close_file(fd);

    if (n == NGX_ERROR) {
        return NGX_DECLINED;
    }

    /* "key value" lines; unknown keys are for later writers */

    for (p = buf, last = buf + n; p < last; p = eol + 1) {

        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        sp = ngx_strlchr(p, eol, ' ');
        if (sp == NULL) {
            continue;
        }

        key.data = p;
        key.len = sp - p;
        value.data = sp + 1;
        value.len = eol - sp - 1;

        if (key.len == 4 && ngx_strncmp(key.data, "size", 4) == 0) {
            h->size = ngx_atoof(value.data, value.len);

        } else if (key.len == 5 && ngx_strncmp(key.data, "state", 5) == 0) {

            if (value.len == 7
                && ngx_strncmp(value.data, "running", 7) == 0)
            {
                h->state = NGX_HTTP_HARBOR_FILL_S_RUNNING;

            } else if (value.len == 4
                       && ngx_strncmp(value.data, "done", 4) == 0)
            {
                h->state = NGX_HTTP_HARBOR_FILL_S_DONE;

            } else if (value.len == 6
                       && ngx_strncmp(value.data, "failed", 6) == 0)
            {
                h->state = NGX_HTTP_HARBOR_FILL_S_FAILED;

            } else if (value.len == 8
                       && ngx_strncmp(value.data, "notfound", 8) == 0)
            {
                h->state = NGX_HTTP_HARBOR_FILL_S_NOTFOUND;
            }

        } else if (value.len == f->ctx->repo.len
                   && ngx_strncmp(value.data, f->ctx->repo.data,
                                  value.len) == 0)
        {
            if (key.len == 4 && ngx_strncmp(key.data, "repo", 4) == 0) {
                h->listed = 1;

            } else if (key.len == 4 && ngx_strncmp(key.data, "deny", 4) == 0)
            {
                h->denied = 1;
            }
        }
    }

    /*
     * The end of a fill before the one this request asked for is not
     * its answer: a failure then may be a success now, and what was done
     * then may have been evicted since (the store missed).
     */
    if (f->asked && h->written < f->asked
        && (h->state == NGX_HTTP_HARBOR_FILL_S_FAILED
            || h->state == NGX_HTTP_HARBOR_FILL_S_DONE
            || h->state == NGX_HTTP_HARBOR_FILL_S_NOTFOUND || h->denied))
    {
        h->state = NGX_HTTP_HARBOR_FILL_S_NONE;
        h->denied = 0;
    }

    return NGX_OK;
}


static void
ngx_http_harbor_fill_tick(ngx_event_t *ev)
{
    ngx_int_t                rc;
    ngx_http_request_t      *r;
    ngx_http_harbor_fill_t  *f;

    f = ev->data;
    r = f->request;

    ngx_http_set_log_request(r->connection->log, r);

    rc = ngx_http_harbor_fill_step(f);

    if (rc == NGX_AGAIN) {
        if (!f->timer.timer_set) {
            ngx_add_timer(&f->timer, NGX_HTTP_HARBOR_FILL_TICK);
        }

    } else {
        ngx_http_harbor_fill_end(f, rc);
    }

    ngx_http_run_posted_requests(r->connection);
}


/* the client can take more: flush, and send what came meanwhile */

static void
ngx_http_harbor_fill_write(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_http_harbor_ctx_t   *ctx;
    ngx_http_harbor_fill_t  *f;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    if (ctx == NULL || ctx->fill == NULL) {
        return;
    }

    f = ctx->fill;

    if (f->finished || !f->answering) {
        return;
    }

    if (r->connection->write->timedout) {
        r->connection->timedout = 1;
        ngx_log_error(NGX_LOG_INFO, r->connection->log, NGX_ETIMEDOUT,
                      "client timed out");
        ngx_http_harbor_fill_end(f, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    rc = ngx_http_harbor_fill_send(f);

    if (rc != NGX_AGAIN) {
        ngx_http_harbor_fill_end(f, rc);
    }
}


/*
 * One look at the fill.  NGX_AGAIN: look again later; anything else is
 * the request's end, for ngx_http_finalize_request() (NGX_DECLINED: no
 * fill, the miss goes on).
 */

static ngx_int_t
ngx_http_harbor_fill_step(ngx_http_harbor_fill_t *f)
{
    if (f->request->connection->error) {
        return NGX_HTTP_CLIENT_CLOSED_REQUEST;
    }

    if (f->manifest) {
        return ngx_http_harbor_fill_manifest(f);
    }

    if (f->answering) {
        return ngx_http_harbor_fill_send(f);
    }

    return ngx_http_harbor_fill_blob(f);
}


/* a manifest is published whole: it is a hit once it is in the store */

static ngx_int_t
ngx_http_harbor_fill_manifest(ngx_http_harbor_fill_t *f)
{
    ngx_int_t                       rc;
    ngx_http_request_t             *r;
    ngx_http_harbor_ctx_t          *ctx;
    ngx_http_harbor_loc_conf_t     *hlcf;
    ngx_http_harbor_fill_header_t   h;

    r = f->request;
    ctx = f->ctx;
    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    rc = ngx_http_harbor_fill_read_header(f, &h);

    if (rc == NGX_OK && h.state == NGX_HTTP_HARBOR_FILL_S_DONE) {
        /*
         * The handler runs again; a tag is read again (it may name another
         * manifest now), and a miss now is final: ctx->fill is set.
         */
        if (ctx->digest.value.len != ctx->reference.len
            || ngx_strncmp(ctx->digest.value.data, ctx->reference.data,
                           ctx->reference.len) != 0)
        {
            ngx_memzero(&ctx->digest, sizeof(ngx_http_harbor_digest_t));
        }

        ctx->filled = 1;

        return ngx_http_harbor_manifest_handler(r, ctx);
    }

    if ((rc == NGX_OK && (h.state == NGX_HTTP_HARBOR_FILL_S_FAILED
                          || h.state == NGX_HTTP_HARBOR_FILL_S_NOTFOUND))
        || ngx_current_msec - f->began >= hlcf->fill_wait)
    {
        return NGX_DECLINED;
    }

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_harbor_fill_blob(ngx_http_harbor_fill_t *f)
{
    ngx_int_t                       rc;
    ngx_http_request_t             *r;
    ngx_http_harbor_loc_conf_t     *hlcf;
    ngx_http_harbor_fill_header_t   h;

    r = f->request;
    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    rc = ngx_http_harbor_fill_read_header(f, &h);

    if (rc == NGX_OK
        && (h.denied || h.state == NGX_HTTP_HARBOR_FILL_S_NOTFOUND
            || h.state == NGX_HTTP_HARBOR_FILL_S_FAILED))
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "harbor fill: refused, not found or failed");
        return NGX_DECLINED;
    }

    if (rc != NGX_OK || !h.listed || h.size < 0
        || h.state == NGX_HTTP_HARBOR_FILL_S_NONE)
    {
        return ngx_current_msec - f->began >= hlcf->fill_wait
               ? NGX_DECLINED : NGX_AGAIN;
    }

    f->size = h.size;
    f->state = h.state;

    if (f->file.fd == NGX_INVALID_FILE) {
        rc = ngx_http_harbor_fill_open(f,
                                       h.state == NGX_HTTP_HARBOR_FILL_S_DONE);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_DECLINED) {
            /* renamed into the store between the two looks: again */
            return ngx_current_msec - f->began >= hlcf->fill_wait
                   ? NGX_DECLINED : NGX_AGAIN;
        }
    }

    return ngx_http_harbor_fill_answer(f);
}


/*
 * The data: the partial file while the fill runs, the store's file once
 * it is done (the same inode, renamed).  NGX_DECLINED: neither is there.
 */

static ngx_int_t
ngx_http_harbor_fill_open(ngx_http_harbor_fill_t *f, ngx_uint_t done)
{
    ngx_fd_t                fd;
    ngx_str_t               path;
    ngx_http_request_t     *r;
    ngx_http_harbor_ctx_t  *ctx;

    r = f->request;
    ctx = f->ctx;

    path = f->partial;

    fd = ngx_open_file(path.data, NGX_FILE_RDONLY | NGX_FILE_NOFOLLOW,
                       NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {

        if (ngx_errno != NGX_ENOENT) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                          ngx_open_file_n " \"%s\" failed", path.data);
            return NGX_DECLINED;
        }

        /* published already: the blob itself, by its digest */

        if (ngx_http_harbor_blob_path(r, &ctx->digest, &path) != NGX_OK) {
            return NGX_ERROR;
        }

        fd = ngx_open_file(path.data, NGX_FILE_RDONLY | NGX_FILE_NOFOLLOW,
                           NGX_FILE_OPEN, 0);

        if (fd == NGX_INVALID_FILE) {
            return NGX_DECLINED;
        }
    }

    f->file.fd = fd;
    f->file.name = path;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "harbor fill: following \"%s\"%s", path.data,
                   done ? " (done)" : "");

    return NGX_OK;
}


/*
 * The response's header: once the fill said its size (and, for a Range,
 * once the range's first byte is on disk).  Then the body as it comes.
 */

static ngx_int_t
ngx_http_harbor_fill_answer(ngx_http_harbor_fill_t *f)
{
    ngx_int_t                    rc;
    ngx_str_t                    cache;
    ngx_file_info_t              fi;
    ngx_http_request_t          *r;
    ngx_http_harbor_ctx_t       *ctx;
    ngx_http_harbor_loc_conf_t  *hlcf;

    r = f->request;
    ctx = f->ctx;
    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    if (ngx_fd_info(f->file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      ngx_fd_info_n " \"%s\" failed", f->file.name.data);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    f->start = ngx_http_harbor_fill_range_start(r);

    if (f->start > 0 && f->start < f->size
        && ngx_file_size(&fi) <= f->start
        && f->state != NGX_HTTP_HARBOR_FILL_S_DONE)
    {
        if (ngx_current_msec - f->progress >= hlcf->fill_timeout) {
            return NGX_HTTP_SERVICE_UNAVAILABLE;
        }

        return NGX_AGAIN;
    }

    ctx->filled = 1;
    f->answering = 1;

    ngx_http_harbor_served(r, &ctx->digest.value);

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = f->size;
    ngx_str_set(&r->headers_out.content_type, "application/octet-stream");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    ngx_str_set(&cache, "max-age=31536000, immutable");

    if (ngx_http_harbor_digest_headers(r, &ctx->digest.value) != NGX_OK
        || ngx_http_harbor_add_header(r, "Cache-Control", &cache) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * nginx's range filter trims a growing body as it goes for a single
     * range; several ranges need the whole body at once: a 200 then
     */
    r->allow_ranges = (r->headers_in.range == NULL
                       || ngx_strlchr(r->headers_in.range->value.data,
                                      r->headers_in.range->value.data
                                      + r->headers_in.range->value.len, ',')
                          == NULL);

    rc = ngx_http_harbor_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_harbor_fill_send(f);
}


/*
 * What is on disk and not sent yet goes out, but never the last byte
 * before the fill is done.  NGX_AGAIN while more is to come.
 */

static ngx_int_t
ngx_http_harbor_fill_send(ngx_http_harbor_fill_t *f)
{
    off_t                           avail, limit;
    ngx_buf_t                      *b;
    ngx_chain_t                     out;
    ngx_file_info_t                 fi;
    ngx_http_request_t             *r;
    ngx_http_harbor_loc_conf_t     *hlcf;
    ngx_http_harbor_fill_header_t   h;

    r = f->request;
    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    if (r->connection->error) {
        return NGX_HTTP_CLIENT_CLOSED_REQUEST;
    }

    /*
     * What the client has not taken yet goes first.  (r->out alone is no
     * backlog: the header waits there for the body, postpone_output.)
     */

    if (r->connection->buffered) {
        if (ngx_http_harbor_fill_output(f, NULL) == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (r->connection->buffered) {
            return NGX_AGAIN;
        }
    }

    if (f->sent == f->size) {
        return NGX_OK;
    }

    if (ngx_fd_info(f->file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      ngx_fd_info_n " \"%s\" failed", f->file.name.data);
        return NGX_ERROR;
    }

    avail = ngx_file_size(&fi);

    /* the end, or no progress: what does the fill say */

    if (avail >= f->size - 1 || avail <= f->sent
        || ngx_current_msec - f->looked >= 1000)
    {
        if (ngx_http_harbor_fill_read_header(f, &h) == NGX_OK) {
            f->state = h.state;

        } else if (f->state != NGX_HTTP_HARBOR_FILL_S_DONE) {
            /* the header went: a fill of an earlier daemon, or swept */
            f->state = NGX_HTTP_HARBOR_FILL_S_FAILED;
        }

        if (f->state == NGX_HTTP_HARBOR_FILL_S_FAILED
            || f->state == NGX_HTTP_HARBOR_FILL_S_NOTFOUND)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "harbor: the fill of \"%V\" failed after %O of "
                          "%O bytes; the client's response is cut",
                          &f->ctx->digest.value, f->sent, f->size);
            ngx_http_harbor_count(r, NGX_HTTP_HARBOR_FILL_FAILED);
            return NGX_ERROR;
        }
    }

    limit = (f->state == NGX_HTTP_HARBOR_FILL_S_DONE) ? f->size : f->size - 1;

    if (avail > limit) {
        avail = limit;
    }

    if (avail <= f->sent) {

        /* a dead daemon, or a primary that stopped sending */

        if (ngx_current_msec - f->progress >= hlcf->fill_timeout) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "harbor: the fill of \"%V\" made no progress for "
                          "%M ms; the client's response is cut",
                          &f->ctx->digest.value, hlcf->fill_timeout);
            ngx_http_harbor_count(r, NGX_HTTP_HARBOR_FILL_FAILED);
            return NGX_ERROR;
        }

        return NGX_AGAIN;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->file = &f->file;
    b->in_file = 1;
    b->file_pos = f->sent;
    b->file_last = avail;
    b->last_buf = (avail == f->size) ? 1 : 0;
    b->last_in_chain = 1;
    b->flush = 1;

    out.buf = b;
    out.next = NULL;

    f->sent = avail;
    f->progress = ngx_current_msec;

    if (ngx_http_harbor_fill_output(f, &out) == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (f->sent == f->size && !r->connection->buffered) {
        return NGX_OK;
    }

    return NGX_AGAIN;
}


/*
 * The output filters; what the socket did not take waits for a write
 * event, which nginx delivers only once asked for (as the upstream module
 * does for an unbuffered response), under send_timeout.
 */

static ngx_int_t
ngx_http_harbor_fill_output(ngx_http_harbor_fill_t *f, ngx_chain_t *in)
{
    ngx_int_t                  rc;
    ngx_event_t               *wev;
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_core_loc_conf_t  *clcf;

    r = f->request;
    c = r->connection;
    wev = c->write;

    rc = ngx_http_output_filter(r, in);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (ngx_handle_write_event(wev, clcf->send_lowat) != NGX_OK) {
        return NGX_ERROR;
    }

    if (c->buffered && wev->active && !wev->ready) {
        ngx_add_timer(wev, clcf->send_timeout);

    } else if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    return rc;
}


/* the first byte of a "Range: bytes=N-..." request, 0 for any other */

static off_t
ngx_http_harbor_fill_range_start(ngx_http_request_t *r)
{
    u_char  *p, *last;
    off_t    start;

    if (r->headers_in.range == NULL
        || r->headers_in.range->value.len < 7
        || ngx_strncasecmp(r->headers_in.range->value.data,
                           (u_char *) "bytes=", 6) != 0)
    {
        return 0;
    }

    p = r->headers_in.range->value.data + 6;
    last = r->headers_in.range->value.data + r->headers_in.range->value.len;

    while (p < last && *p == ' ') {
        p++;
    }

    start = 0;

    while (p < last && *p >= '0' && *p <= '9') {
        if (start >= (NGX_MAX_OFF_T_VALUE - 9) / 10) {
            return 0;
        }

        start = start * 10 + (*p++ - '0');
    }

    return start;
}


/*
 * The request is answered (or falls back): it no longer follows the fill.
 * rc NGX_DECLINED: no fill, the miss goes on as without harbor_fill.
 */

static void
ngx_http_harbor_fill_end(ngx_http_harbor_fill_t *f, ngx_int_t rc)
{
    ngx_http_request_t  *r;

    r = f->request;

    if (f->finished) {
        return;
    }

    f->finished = 1;

    if (f->timer.timer_set) {
        ngx_del_timer(&f->timer);
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    if (rc == NGX_DECLINED) {
        f->ctx->filled = 0;
        rc = ngx_http_harbor_miss_fallback(r, f->err, f->message);

    } else if (rc == NGX_OK && f->answering && !f->manifest) {
        ngx_http_harbor_count(r, NGX_HTTP_HARBOR_FILL_DONE);
    }

    ngx_http_finalize_request(r, ngx_http_harbor_internal_error(r, rc));
}


static void
ngx_http_harbor_fill_cleanup(void *data)
{
    ngx_http_harbor_fill_t  *f = data;

    if (f->timer.timer_set) {
        ngx_del_timer(&f->timer);
    }

    if (f->file.fd != NGX_INVALID_FILE) {
        if (ngx_close_file(f->file.fd) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_ALERT, f->file.log, ngx_errno,
                          ngx_close_file_n " \"%s\" failed",
                          f->file.name.data);
        }

        f->file.fd = NGX_INVALID_FILE;
    }
}


/*
 * harbor_tag_max_age: a tag older than that is asked for again.  The
 * replicator refreshes it (a manifest fill of the tag: a HEAD when it did
 * not move, and the tag is fresh again), and the client gets the
 * primary's answer through harbor_miss_pass; without harbor_miss_pass it
 * gets the stored one meanwhile (NGX_DECLINED: go on serving).
 */

ngx_int_t
ngx_http_harbor_revalidate(ngx_http_request_t *r, ngx_http_harbor_ctx_t *ctx)
{
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

#if (NGX_HTTP_HARBOR_EVENTS)
    (void) ngx_http_harbor_events_fill(r, &ctx->repo, &ctx->reference,
                                       NGX_HTTP_HARBOR_MISS_MANIFEST,
                                       ngx_http_harbor_auth_checked(r));
#endif

    if (hlcf->miss_pass.len == 0) {
        return NGX_DECLINED;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "harbor tag \"%V\" revalidated through \"%V\"",
                   &ctx->reference, &hlcf->miss_pass);

    ctx->revalidated = 1;
    ctx->passed = 1;

    ngx_http_harbor_count(r, NGX_HTTP_HARBOR_REVALIDATED);

    return ngx_http_named_location(r, &hlcf->miss_pass);
}
