
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * The store: distribution's filesystem layout under harbor_root.  Paths are
 * built from parts that the parser has already checked, into buffers of
 * exactly their size (plus the NUL that open(2) needs).  No file is ever
 * opened through a symlink below harbor_root, nor outside it:
 *
 *   - where the kernel has openat2(2) (Linux 5.6) and open_file_cache is
 *     off, a file or directory is opened with one openat2() relative to
 *     the root's directory descriptor (ngx_http_harbor_root.c), with
 *     RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS: a symlink anywhere below the
 *     root, or an escape from it, fails the call (ELOOP, EXDEV).  Not
 *     RESOLVE_NO_XDEV: a store may span mounts (blobs on another disk);
 *   - else through ngx_open_cached_file(), so open_file_cache applies
 *     (a cached file costs no system call at all), with symlinks refused
 *     component by component: "disable_symlinks on" is honoured as it is
 *     (its "from=" too, when it starts above the store); "off" and
 *     "if_not_owner" become "on from=<harbor_root>": nginx then opens every
 *     component after harbor_root with openat(O_NOFOLLOW).  This is also
 *     the fallback when the kernel says ENOSYS;
 *   - directory listings open their directory the same way and never
 *     descend into a symlinked entry (d_type, or lstat when unknown).
 *
 * Either way neither a symlinked link file nor a symlinked repository or
 * blob directory can lead anywhere, and what a symlink points to is never
 * opened (no byte, size or existence of it leaks).  distribution's layout
 * has no symlinks; a refused one is logged at [error] since it means a
 * damaged store, and the request is a miss.  harbor_root itself may be a
 * symlink: with openat2() its path is resolved when the configuration is
 * loaded, so a "disable_symlinks" whose "from=" starts above harbor_root
 * is applied to the directories above the store by the component walk
 * only.
 *
 * Errors: absent (ENOENT, ENOTDIR) is a miss; a file the worker may not
 * read (EACCES) or any other failure is a store fault: one [error] (or
 * [crit] for the unexpected) line naming the path, and NGX_ERROR, which
 * the handlers answer with 500.
 *
 * Link files are read with one bounded pread (at most
 * NGX_HTTP_HARBOR_LINK_MAX bytes) and must hold exactly a digest.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_module.h"


#if (NGX_LINUX) && defined(__has_include)
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#include <sys/syscall.h>
#if defined(SYS_openat2)
#define NGX_HTTP_HARBOR_OPENAT2  1
#endif
#endif
#endif


/* as ngx_open_file_cache.c: smaller files get no read-ahead advice */
#define NGX_HTTP_HARBOR_MIN_READ_AHEAD  (128 * 1024)


#if (NGX_HTTP_HARBOR_OPENAT2)
static ngx_fd_t ngx_http_harbor_openat2(ngx_http_request_t *r,
    ngx_str_t *path, int flags);
static ngx_int_t ngx_http_harbor_open_beneath(ngx_http_request_t *r,
    ngx_str_t *path, ngx_open_file_info_t *of, ngx_http_harbor_ctx_t *ctx);
static ngx_int_t ngx_http_harbor_read_beneath(ngx_http_request_t *r,
    ngx_str_t *path, u_char *buf, ssize_t *n);
#endif
static ngx_inline ngx_uint_t ngx_http_harbor_nibble(u_char c);
static ngx_int_t ngx_http_harbor_open_file(ngx_http_request_t *r,
    ngx_str_t *path, ngx_open_file_info_t *of, ngx_uint_t flags,
    ngx_http_harbor_ctx_t *ctx);
static void ngx_http_harbor_open_info(ngx_http_core_loc_conf_t *clcf,
    ngx_open_file_info_t *of, ngx_uint_t flags);
static ngx_int_t ngx_http_harbor_open_type(ngx_http_request_t *r,
    ngx_str_t *path, ngx_open_file_info_t *of, ngx_uint_t test);
static ngx_int_t ngx_http_harbor_open_error(ngx_http_request_t *r,
    ngx_str_t *path, ngx_err_t err, char *failed, ngx_uint_t test);


#if (NGX_HTTP_HARBOR_OPENAT2)

/* the kernel has no openat2() (or a seccomp filter refuses it) */
static ngx_uint_t  ngx_http_harbor_no_openat2;

#endif


ngx_int_t
ngx_http_harbor_path(ngx_pool_t *pool, ngx_str_t *path, ngx_str_t *parts,
    ngx_uint_t n)
{
    u_char      *p;
    size_t       len;
    ngx_uint_t   i;

    len = 0;

    for (i = 0; i < n; i++) {
        len += parts[i].len;
    }

    path->data = ngx_pnalloc(pool, len + 1);
    if (path->data == NULL) {
        return NGX_ERROR;
    }

    p = path->data;

    for (i = 0; i < n; i++) {
        p = ngx_cpymem(p, parts[i].data, parts[i].len);
    }

    *p = '\0';

    path->len = len;

    return NGX_OK;
}


/*
 * V2/blobs/<alg>/<hex[0:2]>/<hex>/data
 */

ngx_int_t
ngx_http_harbor_blob_path(ngx_http_request_t *r, ngx_http_harbor_digest_t *d,
    ngx_str_t *path)
{
    ngx_str_t                    parts[8];
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    parts[0] = hlcf->v2;
    ngx_str_set(&parts[1], "/blobs/");
    parts[2] = d->alg;
    ngx_str_set(&parts[3], "/");
    parts[4].data = d->hex.data;
    parts[4].len = 2;
    ngx_str_set(&parts[5], "/");
    parts[6] = d->hex;
    ngx_str_set(&parts[7], "/data");

    return ngx_http_harbor_path(r->pool, path, parts, 8);
}


/*
 * NGX_OK: opened (or with NGX_HTTP_HARBOR_TEST_* only tested: no descriptor
 * is kept) a regular file, or with NGX_HTTP_HARBOR_TEST_DIR a directory;
 * NGX_DECLINED: absent or refused, logged; NGX_ERROR: logged
 */

ngx_int_t
ngx_http_harbor_open(ngx_http_request_t *r, ngx_str_t *path,
    ngx_open_file_info_t *of, ngx_uint_t flags)
{
    return ngx_http_harbor_open_file(r, path, of, flags, NULL);
}


/* as ngx_http_harbor_open(); with ctx, a stat taken on the way is kept */

static ngx_int_t
ngx_http_harbor_open_file(ngx_http_request_t *r, ngx_str_t *path,
    ngx_open_file_info_t *of, ngx_uint_t flags, ngx_http_harbor_ctx_t *ctx)
{
    ngx_uint_t                   test;
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_harbor_loc_conf_t  *hlcf;
#if (NGX_HTTP_HARBOR_OPENAT2)
    ngx_int_t                    rc;
#endif
#if (NGX_HAVE_OPENAT)
    size_t                       from;
#endif

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    test = flags & NGX_HTTP_HARBOR_TEST_MASK;

    ngx_http_harbor_open_info(clcf, of, flags);

    /* a root that cannot be opened is a store fault, not a miss */

    if (ngx_http_harbor_root_fd(r, hlcf->store) == NGX_INVALID_FILE) {
        return NGX_ERROR;
    }

#if (NGX_HTTP_HARBOR_OPENAT2)

    if (clcf->open_file_cache == NULL && !ngx_http_harbor_no_openat2) {

        rc = ngx_http_harbor_open_beneath(r, path, of, ctx);

        if (rc == NGX_OK) {
            return ngx_http_harbor_open_type(r, path, of, test);
        }

        if (rc == NGX_ERROR) {
            return ngx_http_harbor_open_error(r, path, of->err, of->failed,
                                              test);
        }

        /* NGX_DECLINED: no openat2(), the walk below */
    }

#endif

    if (ngx_http_set_disable_symlinks(r, clcf, path, of) != NGX_OK) {
        return NGX_ERROR;
    }

#if (NGX_HAVE_OPENAT)

    /* the '/' that follows harbor_root in every path */
    from = hlcf->v2.len - (sizeof(NGX_HTTP_HARBOR_V2) - 1);

    /* "off" and "if_not_owner" become "on from=<harbor_root>" */

    if (of->disable_symlinks != NGX_DISABLE_SYMLINKS_ON
        || of->disable_symlinks_from > from)
    {
        of->disable_symlinks_from = from;
    }

    of->disable_symlinks = NGX_DISABLE_SYMLINKS_ON;

#endif

    if (ngx_open_cached_file(clcf->open_file_cache, path, of, r->pool)
        != NGX_OK)
    {
        return ngx_http_harbor_open_error(r, path, of->err, of->failed, test);
    }

    return ngx_http_harbor_open_type(r, path, of, test);
}


#if (NGX_HTTP_HARBOR_OPENAT2)

/*
 * path (under harbor_root) relative to the root's descriptor, in one
 * system call that refuses symlinks and escapes; NGX_INVALID_FILE with
 * errno set, or with ngx_http_harbor_no_openat2 set when the kernel has
 * no openat2()
 */

static ngx_fd_t
ngx_http_harbor_openat2(ngx_http_request_t *r, ngx_str_t *path, int flags)
{
    long                         fd;
    size_t                       from;
    ngx_err_t                    err;
    struct open_how              how;
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    /* the '/' after harbor_root: every store path starts with hlcf->v2 */
    from = hlcf->v2.len - (sizeof(NGX_HTTP_HARBOR_V2) - 1);

    ngx_memzero(&how, sizeof(struct open_how));

    how.flags = flags | O_CLOEXEC;

    /* RESOLVE_NO_SYMLINKS implies RESOLVE_NO_MAGICLINKS */
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;

    fd = syscall(SYS_openat2, hlcf->store->fd, path->data + from + 1, &how,
                 sizeof(struct open_how));

    if (fd != -1) {
        return (ngx_fd_t) fd;
    }

    err = ngx_errno;

    /*
     * ENOSYS: a kernel before 5.6; EPERM: a seccomp filter that does not
     * know the call (older container runtimes), as a read-only open never
     * fails with EPERM otherwise
     */

    if (err == NGX_ENOSYS || err == NGX_EPERM) {
        ngx_http_harbor_no_openat2 = 1;

        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, err,
                      "harbor: openat2() is not available, store files "
                      "are opened component by component");
    }

    ngx_set_errno(err);

    return NGX_INVALID_FILE;
}


/*
 * what ngx_open_cached_file() does without a cache, through openat2():
 * NGX_OK with of filled (a regular file stays open until the request ends,
 * unless only tested) and, with ctx, the stat in ctx->fi; NGX_ERROR with
 * of->err (0: no memory), NGX_DECLINED when openat2() is not available
 */

static ngx_int_t
ngx_http_harbor_open_beneath(ngx_http_request_t *r, ngx_str_t *path,
    ngx_open_file_info_t *of, ngx_http_harbor_ctx_t *ctx)
{
    ngx_fd_t                  fd;
    ngx_file_info_t           fi;
    ngx_pool_cleanup_t       *cln;
    ngx_pool_cleanup_file_t  *clnf;

    of->fd = NGX_INVALID_FILE;
    of->err = 0;

    cln = NULL;

    if (!of->test_only) {
        cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_pool_cleanup_file_t));
        if (cln == NULL) {
            return NGX_ERROR;
        }
    }

    /* O_NONBLOCK as nginx: not to hang on a FIFO */

    fd = ngx_http_harbor_openat2(r, path,
                                 of->test_only ? O_PATH
                                               : O_RDONLY|O_NONBLOCK);

    if (fd == NGX_INVALID_FILE) {

        if (ngx_http_harbor_no_openat2) {
            return NGX_DECLINED;
        }

        of->err = ngx_errno;
        of->failed = "openat2()";
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        of->err = ngx_errno;
        of->failed = ngx_fd_info_n;

        if (ngx_close_file(fd) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                          ngx_close_file_n " \"%s\" failed", path->data);
        }

        return NGX_ERROR;
    }

    if (of->test_only || ngx_is_dir(&fi)) {
        if (ngx_close_file(fd) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                          ngx_close_file_n " \"%s\" failed", path->data);
        }

    } else {
        of->fd = fd;

        cln->handler = ngx_pool_cleanup_file;
        clnf = cln->data;

        clnf->fd = fd;
        clnf->name = path->data;
        clnf->log = r->pool->log;

        if (of->read_ahead
            && ngx_file_size(&fi) > NGX_HTTP_HARBOR_MIN_READ_AHEAD)
        {
            if (ngx_read_ahead(fd, of->read_ahead) == NGX_ERROR) {
                ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                              ngx_read_ahead_n " \"%s\" failed",
                              path->data);
            }
        }
    }

    of->uniq = ngx_file_uniq(&fi);
    of->mtime = ngx_file_mtime(&fi);
    of->size = ngx_file_size(&fi);
    of->fs_size = ngx_file_fs_size(&fi);
    of->is_dir = ngx_is_dir(&fi);
    of->is_file = ngx_is_file(&fi);
    of->is_link = ngx_is_link(&fi);
    of->is_exec = ngx_is_exec(&fi);

    /* the file's key needs no second fstat() */

    if (ctx) {
        ctx->fi = fi;
        ctx->fi_set = 1;
    }

    return NGX_OK;
}

#endif


/*
 * a directory of the store to list, opened as its files are: NGX_OK,
 * NGX_DECLINED if it is absent or refused (logged), NGX_ERROR (logged)
 */

ngx_int_t
ngx_http_harbor_open_dir(ngx_http_request_t *r, ngx_str_t *path,
    ngx_dir_t *dir)
{
    ngx_int_t                    rc;
    ngx_err_t                    err;
    ngx_open_file_info_t         of;
    ngx_http_harbor_loc_conf_t  *hlcf;
#if (NGX_HTTP_HARBOR_OPENAT2)
    ngx_fd_t                     fd;
#endif

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    if (ngx_http_harbor_root_fd(r, hlcf->store) == NGX_INVALID_FILE) {
        return NGX_ERROR;
    }

#if (NGX_HTTP_HARBOR_OPENAT2)

    if (!ngx_http_harbor_no_openat2) {

        fd = ngx_http_harbor_openat2(r, path, O_RDONLY|O_DIRECTORY);

        if (fd != NGX_INVALID_FILE) {
            dir->dir = fdopendir(fd);

            if (dir->dir == NULL) {
                err = ngx_errno;
                (void) ngx_close_file(fd);
                ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                              "fdopendir() \"%s\" failed", path->data);
                return NGX_ERROR;
            }

            dir->valid_info = 0;

            return NGX_OK;
        }

        if (!ngx_http_harbor_no_openat2) {
            return ngx_http_harbor_open_error(r, path, ngx_errno,
                                              "openat2()",
                                              NGX_HTTP_HARBOR_TEST_DIR);
        }
    }

#endif

    /* tested with symlinks refused first: opendir() would follow them */

    rc = ngx_http_harbor_open(r, path, &of, NGX_HTTP_HARBOR_TEST_DIR);

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_open_dir(path, dir) == NGX_ERROR) {
        err = ngx_errno;
        return ngx_http_harbor_open_error(r, path, err, ngx_open_dir_n,
                                          NGX_HTTP_HARBOR_TEST_DIR);
    }

    return NGX_OK;
}


static void
ngx_http_harbor_open_info(ngx_http_core_loc_conf_t *clcf,
    ngx_open_file_info_t *of, ngx_uint_t flags)
{
    ngx_uint_t  test;

    test = flags & NGX_HTTP_HARBOR_TEST_MASK;

    ngx_memzero(of, sizeof(ngx_open_file_info_t));

    of->read_ahead = clcf->read_ahead;
    of->directio = NGX_OPEN_FILE_DIRECTIO_OFF;
    of->valid = clcf->open_file_cache_valid;
    of->min_uses = clcf->open_file_cache_min_uses;

    /*
     * a miss is never cached, whatever open_file_cache_errors says: the
     * replicator fills the store right after a miss, and the next request
     * must see the file
     */
    of->errors = 0;

    of->events = clcf->open_file_cache_events;

    if (test == NGX_HTTP_HARBOR_TEST_DIR) {
        of->test_dir = 1;
    }

    if (test != NGX_HTTP_HARBOR_OPEN) {
        of->test_only = 1;
    }

    if ((flags & NGX_HTTP_HARBOR_FRESH) && of->valid > 1) {
        of->valid = 1;
    }
}


static ngx_int_t
ngx_http_harbor_open_type(ngx_http_request_t *r, ngx_str_t *path,
    ngx_open_file_info_t *of, ngx_uint_t test)
{
    if ((test == NGX_HTTP_HARBOR_TEST_DIR) ? !of->is_dir : !of->is_file) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "harbor: \"%s\" is not a %s", path->data,
                      (test == NGX_HTTP_HARBOR_TEST_DIR) ? "directory"
                                                         : "regular file");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_harbor_open_error(ngx_http_request_t *r, ngx_str_t *path,
    ngx_err_t err, char *failed, ngx_uint_t test)
{
    ngx_uint_t  level;

    switch (err) {

    case 0:
        return NGX_ERROR;

    case NGX_ENOENT:
    case NGX_ENOTDIR:
    case NGX_ENAMETOOLONG:

        /* an ordinary miss; a listing probes, it expects misses */

        if (test == NGX_HTTP_HARBOR_OPEN) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, err,
                          "harbor: %s \"%s\" failed", failed, path->data);

        } else {
            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, err,
                           "harbor: %s \"%s\" failed", failed, path->data);
        }

        return NGX_DECLINED;

    case NGX_ELOOP:
    case NGX_EMLINK:
    case NGX_EXDEV:

        /* a symlink refused: a damaged store, and a miss */

        ngx_log_error(NGX_LOG_ERR, r->connection->log, err,
                      "harbor: %s \"%s\" failed", failed, path->data);
        return NGX_DECLINED;

    case NGX_EACCES:

        /* a store fault (permissions), never reported as "missing" */

        level = NGX_LOG_ERR;
        break;

    default:
        level = NGX_LOG_CRIT;
        break;
    }

    ngx_log_error(level, r->connection->log, err,
                  "harbor: %s \"%s\" failed", failed, path->data);

    return NGX_ERROR;
}


#if (NGX_HTTP_HARBOR_OPENAT2)

/*
 * A link file read without a stat, where open_file_cache is off and the
 * kernel has openat2(): open, one pread(2), close.  A link holds a digest
 * and nothing else, so one read of a byte more than the longest link
 * tells its size; what is not a regular file fails the read (a directory:
 * EISDIR, a FIFO: ESPIPE; opened O_NONBLOCK, nothing waits).  NGX_OK with
 * *n bytes in buf (NGX_HTTP_HARBOR_LINK_MAX at most), NGX_DECLINED (absent,
 * refused, not a link: logged), NGX_ERROR (logged), NGX_AGAIN: not here.
 */

static ngx_int_t
ngx_http_harbor_read_beneath(ngx_http_request_t *r, ngx_str_t *path,
    u_char *buf, ssize_t *n)
{
    u_char                       more[NGX_HTTP_HARBOR_LINK_MAX + 1];
    ssize_t                      got;
    ngx_fd_t                     fd;
    ngx_err_t                    err;
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_harbor_loc_conf_t  *hlcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    if (clcf->open_file_cache != NULL || ngx_http_harbor_no_openat2) {
        return NGX_AGAIN;
    }

    if (ngx_http_harbor_root_fd(r, hlcf->store) == NGX_INVALID_FILE) {
        return NGX_ERROR;
    }

    fd = ngx_http_harbor_openat2(r, path, O_RDONLY|O_NONBLOCK);

    if (fd == NGX_INVALID_FILE) {

        if (ngx_http_harbor_no_openat2) {
            return NGX_AGAIN;
        }

        return ngx_http_harbor_open_error(r, path, ngx_errno, "openat2()",
                                          NGX_HTTP_HARBOR_OPEN);
    }

    got = pread(fd, more, sizeof(more), 0);
    err = ngx_errno;

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", path->data);
    }

    if (got == -1) {

        if (err == NGX_EISDIR || err == ESPIPE || err == NGX_EINVAL) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, err,
                          "harbor: \"%s\" is not a regular file",
                          path->data);
            return NGX_DECLINED;
        }

        ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                      "pread() \"%s\" failed", path->data);
        return NGX_ERROR;
    }

    if (got == 0 || got > NGX_HTTP_HARBOR_LINK_MAX) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "harbor: link file \"%s\" has invalid size %s%z",
                      path->data, (got > NGX_HTTP_HARBOR_LINK_MAX) ? "> " : "",
                      (got > NGX_HTTP_HARBOR_LINK_MAX)
                      ? (ssize_t) NGX_HTTP_HARBOR_LINK_MAX : got);
        return NGX_DECLINED;
    }

    ngx_memcpy(buf, more, got);
    *n = got;

    return NGX_OK;
}

#endif


/*
 * reads a link file into d (the digest points into the request pool);
 * NGX_DECLINED if it is absent or does not hold exactly a digest.  With
 * open_file_cache on, what it said is kept in the worker's memo as long as
 * the cache would trust its descriptor (ngx_http_harbor_memo.c); without
 * it, and when the caller needs no mtime, it is read without a stat.
 */

ngx_int_t
ngx_http_harbor_read_link(ngx_http_request_t *r, ngx_str_t *path,
    ngx_http_harbor_digest_t *d, ngx_uint_t flags, time_t *mtime)
{
    u_char                buf[NGX_HTTP_HARBOR_LINK_MAX], *p;
    size_t                len;
    ssize_t               n;
    time_t                kept;
    ngx_int_t             rc;
    ngx_file_t            file;
    ngx_open_file_info_t  of;

    n = 0;

    if (ngx_http_harbor_memo_get(r, path, flags, buf, &len, &kept) == NGX_OK) {
        n = len;
        of.mtime = kept;
        goto found;
    }

#if (NGX_HTTP_HARBOR_OPENAT2)

    if (mtime == NULL) {
        rc = ngx_http_harbor_read_beneath(r, path, buf, &n);

        if (rc == NGX_OK) {
            of.mtime = 0;
            goto read;
        }

        if (rc != NGX_AGAIN) {
            return rc;
        }

        /* NGX_AGAIN: through the open file cache, or without openat2() */
    }

#endif

    rc = ngx_http_harbor_open(r, path, &of, flags);
    if (rc != NGX_OK) {
        return rc;
    }

    if (of.size == 0 || of.size > NGX_HTTP_HARBOR_LINK_MAX) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "harbor: link file \"%s\" has invalid size %O",
                      path->data, of.size);
        return NGX_DECLINED;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));

    file.fd = of.fd;
    file.name = *path;
    file.log = r->connection->log;

    n = ngx_read_file(&file, buf, NGX_HTTP_HARBOR_LINK_MAX, 0);

    if (n == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (n != of.size) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "harbor: link file \"%s\" changed while read",
                      path->data);
        return NGX_DECLINED;
    }

#if (NGX_HTTP_HARBOR_OPENAT2)
read:
#endif

    if (ngx_http_harbor_parse_digest(buf, n, d) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "harbor: invalid link file \"%s\"", path->data);
        return NGX_DECLINED;
    }

    ngx_http_harbor_memo_put(r, path, flags, buf, n, of.mtime);

found:

    if (mtime != NULL) {
        *mtime = of.mtime;
    }

    p = ngx_pnalloc(r->pool, n);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, buf, n);

    return ngx_http_harbor_parse_digest(p, n, d);
}


/*
 * The content of ctx->digest for ctx->repo, as manifests and blobs both
 * find it: the repository must link the digest (revisions first with
 * NGX_HTTP_HARBOR_VKEY_MANIFEST), then its data file is opened into
 * ctx->path and ctx->of.  NGX_DECLINED is a miss: not linked, or no data.
 *
 * With NGX_HTTP_HARBOR_KEY_MEMO (no byte of the file will be sent on the
 * key) a data file whose key the worker's memo holds is not opened: ctx->of
 * has its size and no descriptor, ctx->vkey the memo's key, ctx->memo_key
 * is set, and ngx_http_harbor_open_data() opens it if it must be read after
 * all.
 */

ngx_int_t
ngx_http_harbor_open_content(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, ngx_uint_t flags)
{
    size_t     n;
    ngx_int_t  rc;

    rc = ngx_http_harbor_linked(r, &ctx->repo, &ctx->digest,
                                flags & NGX_HTTP_HARBOR_VKEY_MANIFEST);

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_harbor_blob_path(r, &ctx->digest, &ctx->path) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->fi_set = 0;
    ctx->memo_key = 0;

    if ((flags & NGX_HTTP_HARBOR_KEY_MEMO)
        && ngx_http_harbor_memo_get(r, &ctx->path, 0, (u_char *) &ctx->vkey,
                                    &n, NULL)
           == NGX_OK
        && n == sizeof(ngx_http_harbor_vkey_t))
    {
        ngx_memzero(&ctx->of, sizeof(ngx_open_file_info_t));

        ctx->of.fd = NGX_INVALID_FILE;
        ctx->of.uniq = ctx->vkey.ino;
        ctx->of.size = ctx->vkey.size;
        ctx->of.mtime = ctx->vkey.mtime;
        ctx->of.is_file = 1;

        ctx->memo_key = 1;

        return NGX_OK;
    }

    ctx->of.fd = NGX_INVALID_FILE;

    return ngx_http_harbor_open_data(r, ctx);
}


/*
 * opens the data file of ctx->path, unless open already: NGX_OK,
 * NGX_DECLINED (a miss), NGX_ERROR
 */

ngx_int_t
ngx_http_harbor_open_data(ngx_http_request_t *r, ngx_http_harbor_ctx_t *ctx)
{
    if (ctx->of.fd != NGX_INVALID_FILE) {
        return NGX_OK;
    }

    ctx->fi_set = 0;
    ctx->memo_key = 0;

    return ngx_http_harbor_open_file(r, &ctx->path, &ctx->of,
                                     NGX_HTTP_HARBOR_OPEN, ctx);
}


/*
 * NGX_OK if repository repo links digest d: a manifest revision link or a
 * layer link holding exactly d (manifests look at revisions first, blobs at
 * layers first, as distribution does)
 */

ngx_int_t
ngx_http_harbor_linked(ngx_http_request_t *r, ngx_str_t *repo,
    ngx_http_harbor_digest_t *d, ngx_uint_t manifest)
{
    ngx_int_t                    rc;
    ngx_str_t                    path, parts[8];
    ngx_uint_t                   i;
    ngx_http_harbor_digest_t     link;
    ngx_http_harbor_loc_conf_t  *hlcf;

    static ngx_str_t  kinds[2] = {
        ngx_string("/_layers/"),
        ngx_string("/_manifests/revisions/")
    };

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    parts[0] = hlcf->v2;
    ngx_str_set(&parts[1], "/repositories/");
    parts[2] = *repo;
    parts[4] = d->alg;
    ngx_str_set(&parts[5], "/");
    parts[6] = d->hex;
    ngx_str_set(&parts[7], "/link");

    for (i = 0; i < 2; i++) {
        parts[3] = kinds[manifest ? 1 - i : i];

        if (ngx_http_harbor_path(r->pool, &path, parts, 8) != NGX_OK) {
            return NGX_ERROR;
        }

        rc = ngx_http_harbor_read_link(r, &path, &link, NGX_HTTP_HARBOR_OPEN,
                                       NULL);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED) {
            continue;
        }

        if (link.value.len == d->value.len
            && ngx_strncmp(link.value.data, d->value.data, d->value.len) == 0)
        {
            return NGX_OK;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "harbor: link file \"%s\" names another digest",
                      path.data);
    }

    return NGX_DECLINED;
}


/*
 * reads a whole opened file (of->size bytes) into buf
 */

ngx_int_t
ngx_http_harbor_read_file(ngx_http_request_t *r, ngx_str_t *path,
    ngx_open_file_info_t *of, u_char *buf)
{
    off_t       offset;
    ssize_t     n;
    ngx_file_t  file;

    ngx_memzero(&file, sizeof(ngx_file_t));

    file.fd = of->fd;
    file.name = *path;
    file.log = r->connection->log;

    offset = 0;

    while (offset < of->size) {
        n = ngx_read_file(&file, buf + offset, of->size - offset, offset);

        if (n == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (n == 0) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "harbor: file \"%s\" was truncated while read",
                          path->data);
            return NGX_DECLINED;
        }

        offset += n;
    }

    return NGX_OK;
}


/*
 * the (dev, inode, size, mtime, ctime, digest) key of the data file of
 * ctx->path, for the verified-file cache; flags: NGX_HTTP_HARBOR_VKEY_MANIFEST
 * for a manifest's entry, NGX_HTTP_HARBOR_KEY_MEMO if the memo's key that
 * ngx_http_harbor_open_content() found will do (only when no byte read
 * from the file is sent on this key).  Otherwise the file is opened if it
 * is not yet (NGX_DECLINED: it is gone), and the stat comes from the open
 * when it took one, else from one fstat(2); with open_file_cache on, the
 * memo keeps it.
 */

ngx_int_t
ngx_http_harbor_file_key(ngx_http_request_t *r, ngx_http_harbor_ctx_t *ctx,
    ngx_uint_t flags)
{
    u_char           *p;
    size_t            n, i;
    ngx_int_t         rc;
    ngx_uint_t        hi, lo;
    ngx_file_info_t  *fi, sb;

    if ((flags & NGX_HTTP_HARBOR_KEY_MEMO) && ctx->memo_key) {
        goto digest;
    }

    rc = ngx_http_harbor_open_data(r, ctx);

    if (rc != NGX_OK) {
        return rc;
    }

    ctx->memo_key = 0;

    if (ctx->fi_set) {
        fi = &ctx->fi;

    } else {
        fi = &sb;

        if (ngx_fd_info(ctx->of.fd, fi) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                          ngx_fd_info_n " \"%s\" failed", ctx->path.data);
            return NGX_ERROR;
        }
    }

    /* zeroed as a whole: the key is compared with memcmp, padding too */
    ngx_memzero(&ctx->vkey, sizeof(ngx_http_harbor_vkey_t));

    ctx->vkey.dev = fi->st_dev;
    ctx->vkey.ino = fi->st_ino;
    ctx->vkey.size = fi->st_size;
    ctx->vkey.mtime = fi->st_mtim.tv_sec;
    ctx->vkey.mtime_nsec = fi->st_mtim.tv_nsec;
    ctx->vkey.ctime = fi->st_ctim.tv_sec;
    ctx->vkey.ctime_nsec = fi->st_ctim.tv_nsec;

    /* the file's part of the key only: type and digest are the request's */
    ngx_http_harbor_memo_put(r, &ctx->path, 0, (u_char *) &ctx->vkey,
                             sizeof(ngx_http_harbor_vkey_t), 0);

digest:

    ctx->vkey.type = ctx->digest.type
                     | (flags & NGX_HTTP_HARBOR_VKEY_MANIFEST);

    n = ngx_min(ctx->digest.hex.len / 2, NGX_HTTP_HARBOR_HASH_MAX);

    /* the parser let only lowercase hex through */

    p = ctx->digest.hex.data;

    for (i = 0; i < n; i++) {
        hi = ngx_http_harbor_nibble(p[2 * i]);
        lo = ngx_http_harbor_nibble(p[2 * i + 1]);

        if ((hi | lo) > 0xf) {
            return NGX_ERROR;
        }

        ctx->vkey.hash[i] = (u_char) (hi << 4 | lo);
    }

    return NGX_OK;
}


/* a lowercase hex digit's value, or 0x10 for any other byte */

static ngx_inline ngx_uint_t
ngx_http_harbor_nibble(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return 0x10;
}
