
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * harbor_root as an open directory.  Each distinct harbor_root is opened
 * once per configuration, by the master in init_module, with
 * O_PATH|O_DIRECTORY|O_CLOEXEC; the workers inherit that descriptor and
 * open every store file relative to it with one openat2(2)
 * (ngx_http_harbor_store.c).
 * So the root is the directory that was there when the configuration was
 * loaded: a root re-pointed since (a symlink flipped, a mount) is served
 * after a reload, and until then the ping says so.  A root that is missing
 * at load time is opened by each worker when a request first finds it.
 *
 * The same place warns at "nginx -t" (and at every load) about a root that
 * does not exist or that the worker user cannot read, and tells the ping
 * whether the store is usable.  The permission check reads the mode bits
 * of every component as the worker user would meet them (owner, groups,
 * others); ACLs and capabilities are not looked at: it is a warning, the
 * request path reports what the kernel says.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_module.h"


#define NGX_HTTP_HARBOR_GROUPS_MAX  256

/* a descriptor to look up from, not to read: O_PATH where there is one */
#if (NGX_HAVE_O_PATH)
#define NGX_HTTP_HARBOR_ROOT_FLAGS  (O_PATH|O_DIRECTORY|O_CLOEXEC)
#else
#define NGX_HTTP_HARBOR_ROOT_FLAGS  (O_RDONLY|O_DIRECTORY|O_CLOEXEC)
#endif

#define NGX_HTTP_HARBOR_MAY_READ    4
#define NGX_HTTP_HARBOR_MAY_SEARCH  1


typedef struct {
    uid_t                       uid;
    char                       *name;
    int                         ngroups;
    gid_t                       groups[NGX_HTTP_HARBOR_GROUPS_MAX];
} ngx_http_harbor_user_t;


static void ngx_http_harbor_root_open(ngx_cycle_t *cycle,
    ngx_http_harbor_root_t *root);
static void ngx_http_harbor_root_check(ngx_cycle_t *cycle,
    ngx_http_harbor_root_t *root, ngx_http_harbor_user_t *user);
static ngx_int_t ngx_http_harbor_root_walk(ngx_cycle_t *cycle,
    ngx_http_harbor_root_t *root, ngx_http_harbor_user_t *user, char *path,
    size_t from);
static ngx_uint_t ngx_http_harbor_may(ngx_file_info_t *fi,
    ngx_http_harbor_user_t *user, ngx_uint_t want);
static ngx_int_t ngx_http_harbor_worker_user(ngx_cycle_t *cycle,
    ngx_http_harbor_user_t *user);
static void ngx_http_harbor_roots_close(void *data);


/*
 * harbor_root DIR: the root of the location, shared by every location
 * that names the same directory
 */

ngx_http_harbor_root_t *
ngx_http_harbor_root_add(ngx_conf_t *cf, ngx_str_t *path)
{
    ngx_uint_t                    i;
    ngx_http_harbor_root_t      **rootp, *root;
    ngx_http_harbor_main_conf_t  *hmcf;

    hmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_harbor_module);

    rootp = hmcf->roots.elts;

    for (i = 0; i < hmcf->roots.nelts; i++) {
        if (rootp[i]->path.len == path->len
            && ngx_strncmp(rootp[i]->path.data, path->data, path->len) == 0)
        {
            return rootp[i];
        }
    }

    root = ngx_pcalloc(cf->pool, sizeof(ngx_http_harbor_root_t));
    if (root == NULL) {
        return NULL;
    }

    root->path.len = path->len;
    root->path.data = ngx_pnalloc(cf->pool, path->len + 1);
    if (root->path.data == NULL) {
        return NULL;
    }

    ngx_memcpy(root->path.data, path->data, path->len);
    root->path.data[path->len] = '\0';

    root->fd = NGX_INVALID_FILE;
    root->file = cf->conf_file->file.name.data;
    root->line = cf->conf_file->line;

    rootp = ngx_array_push(&hmcf->roots);
    if (rootp == NULL) {
        return NULL;
    }

    *rootp = root;

    return root;
}


/*
 * init_module: in the master (and in "nginx -t"), once the configuration is
 * complete and the worker user known
 */

ngx_int_t
ngx_http_harbor_roots_init(ngx_cycle_t *cycle,
    ngx_http_harbor_main_conf_t *hmcf)
{
    ngx_uint_t                i, checked;
    ngx_pool_cleanup_t       *cln;
    ngx_http_harbor_user_t    user;
    ngx_http_harbor_root_t  **rootp;

    if (hmcf->roots.nelts == 0) {
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(cycle->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_harbor_roots_close;
    cln->data = hmcf;

    checked = (ngx_http_harbor_worker_user(cycle, &user) == NGX_OK);

    rootp = hmcf->roots.elts;

    for (i = 0; i < hmcf->roots.nelts; i++) {
        ngx_http_harbor_root_open(cycle, rootp[i]);

        if (checked && rootp[i]->fd != NGX_INVALID_FILE) {
            ngx_http_harbor_root_check(cycle, rootp[i], &user);
        }
    }

    return NGX_OK;
}


static void
ngx_http_harbor_root_open(ngx_cycle_t *cycle, ngx_http_harbor_root_t *root)
{
    ngx_err_t  err;

    root->fd = open((char *) root->path.data, NGX_HTTP_HARBOR_ROOT_FLAGS);

    if (root->fd != NGX_INVALID_FILE) {
        return;
    }

    err = ngx_errno;

    ngx_log_error(NGX_LOG_WARN, cycle->log, err,
                  "harbor_root \"%s\" %s (set in %s:%ui)",
                  root->path.data,
                  (err == NGX_ENOENT) ? "does not exist"
                  : (err == NGX_ENOTDIR) ? "is not a directory"
                                         : "cannot be opened",
                  root->file, root->line);
}


/*
 * the worker user must search every directory down to harbor_root, and
 * read and search harbor_root and its docker/registry/v2 when there is one
 */

static void
ngx_http_harbor_root_check(ngx_cycle_t *cycle, ngx_http_harbor_root_t *root,
    ngx_http_harbor_user_t *user)
{
    char             *real, *v2;
    size_t            len;
    ngx_file_info_t   fi;

    real = realpath((char *) root->path.data, NULL);
    if (real == NULL) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, ngx_errno,
                      "harbor_root \"%s\": realpath() failed (set in %s:%ui)",
                      root->path.data, root->file, root->line);
        return;
    }

    if (ngx_http_harbor_root_walk(cycle, root, user, real, 0) != NGX_OK) {
        ngx_free(real);
        return;
    }

    len = ngx_strlen(real);

    v2 = ngx_alloc(len + sizeof(NGX_HTTP_HARBOR_V2), cycle->log);
    if (v2 == NULL) {
        ngx_free(real);
        return;
    }

    /* "/" itself: no double slash */
    ngx_memcpy(v2, real, len);
    len = (len == 1) ? 0 : len;
    ngx_memcpy(v2 + len, NGX_HTTP_HARBOR_V2, sizeof(NGX_HTTP_HARBOR_V2));

    ngx_free(real);

    if (ngx_file_info(v2, &fi) == 0) {
        (void) ngx_http_harbor_root_walk(cycle, root, user, v2, len);
    }

    ngx_free(v2);
}


/*
 * checks each directory of path after its first "from" bytes: search for
 * every one, read too for the last; warns and returns NGX_DECLINED at the
 * first the user may not use
 */

static ngx_int_t
ngx_http_harbor_root_walk(ngx_cycle_t *cycle, ngx_http_harbor_root_t *root,
    ngx_http_harbor_user_t *user, char *path, size_t from)
{
    char             *p, c;
    ngx_uint_t        want;
    ngx_file_info_t   fi;

    if (user->uid == 0 && user->name == NULL) {
        /* not root: the kernel answers for this very user */

        if (access(path, R_OK|X_OK) == 0) {
            return NGX_OK;
        }

        ngx_log_error(NGX_LOG_WARN, cycle->log, ngx_errno,
                      "harbor_root \"%s\": the worker process cannot "
                      "read \"%s\" (set in %s:%ui)",
                      root->path.data, path, root->file, root->line);
        return NGX_DECLINED;
    }

    for (p = path + from + 1; /* void */ ; p++) {

        if (*p != '/' && *p != '\0') {
            continue;
        }

        c = *p;
        *p = '\0';

        want = NGX_HTTP_HARBOR_MAY_SEARCH;

        if (c == '\0') {
            want |= NGX_HTTP_HARBOR_MAY_READ;
        }

        if (ngx_file_info(path, &fi) == 0
            && !ngx_http_harbor_may(&fi, user, want))
        {
            ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                          "harbor_root \"%s\": the worker user \"%s\" "
                          "cannot %s \"%s\" (set in %s:%ui)",
                          root->path.data, user->name,
                          (want & NGX_HTTP_HARBOR_MAY_READ)
                          ? "read" : "search",
                          path, root->file, root->line);
            *p = c;
            return NGX_DECLINED;
        }

        *p = c;

        if (c == '\0') {
            return NGX_OK;
        }
    }
}


static ngx_uint_t
ngx_http_harbor_may(ngx_file_info_t *fi, ngx_http_harbor_user_t *user,
    ngx_uint_t want)
{
    int     i;
    mode_t  mode;

    mode = fi->st_mode;

    if (user->uid == 0) {
        return 1;
    }

    if (fi->st_uid == user->uid) {
        return ((mode >> 6) & want) == want;
    }

    for (i = 0; i < user->ngroups; i++) {
        if (fi->st_gid == user->groups[i]) {
            return ((mode >> 3) & want) == want;
        }
    }

    return (mode & want) == want;
}


/*
 * whom the workers run as: the "user" directive (nobody by default) when
 * the master is root, with its groups as initgroups() will set them; else
 * the master's own user (user->name NULL: ask access(2))
 */

static ngx_int_t
ngx_http_harbor_worker_user(ngx_cycle_t *cycle, ngx_http_harbor_user_t *user)
{
    ngx_core_conf_t  *ccf;

    ngx_memzero(user, sizeof(ngx_http_harbor_user_t));

    if (geteuid() != 0) {
        return NGX_OK;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (ccf->user == (uid_t) NGX_CONF_UNSET_UINT || ccf->username == NULL) {
        return NGX_DECLINED;
    }

    user->uid = ccf->user;
    user->name = ccf->username;
    user->ngroups = NGX_HTTP_HARBOR_GROUPS_MAX;

    /* more groups than fit: the first ones are checked */

    if (getgrouplist(ccf->username, ccf->group, user->groups, &user->ngroups)
        == -1)
    {
        user->ngroups = NGX_HTTP_HARBOR_GROUPS_MAX;
    }

    return NGX_OK;
}


static void
ngx_http_harbor_roots_close(void *data)
{
    ngx_http_harbor_main_conf_t  *hmcf = data;

    ngx_uint_t                i;
    ngx_http_harbor_root_t  **rootp;

    rootp = hmcf->roots.elts;

    for (i = 0; i < hmcf->roots.nelts; i++) {
        if (rootp[i]->fd != NGX_INVALID_FILE) {
            (void) close(rootp[i]->fd);
            rootp[i]->fd = NGX_INVALID_FILE;
        }
    }
}


/*
 * the root's descriptor in a worker; a root missing when the configuration
 * was loaded is opened now.  NGX_INVALID_FILE: logged.
 */

ngx_fd_t
ngx_http_harbor_root_fd(ngx_http_request_t *r, ngx_http_harbor_root_t *root)
{
    if (root->fd != NGX_INVALID_FILE) {
        return root->fd;
    }

    root->fd = open((char *) root->path.data, NGX_HTTP_HARBOR_ROOT_FLAGS);

    if (root->fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                      "harbor: open() harbor_root \"%s\" failed",
                      root->path.data);
    }

    return root->fd;
}


/*
 * The ping: NGX_OK if the store can be served, else NGX_DECLINED with one
 * [error] line naming what is wrong: harbor_root is missing, is not the
 * directory opened at load time, or the worker may not read it or its
 * docker/registry/v2 (absent is an empty store, not a fault).
 */

ngx_int_t
ngx_http_harbor_root_usable(ngx_http_request_t *r,
    ngx_http_harbor_root_t *root)
{
    ngx_fd_t         fd;
    ngx_err_t        err;
    ngx_file_info_t  fi, ofi;

    if (ngx_file_info(root->path.data, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                      "harbor: store unusable: " ngx_file_info_n
                      " harbor_root \"%s\" failed", root->path.data);
        return NGX_DECLINED;
    }

    fd = ngx_http_harbor_root_fd(r, root);

    if (fd == NGX_INVALID_FILE) {
        return NGX_DECLINED;
    }

    if (ngx_fd_info(fd, &ofi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                      "harbor: store unusable: " ngx_fd_info_n
                      " harbor_root \"%s\" failed", root->path.data);
        return NGX_DECLINED;
    }

    if (fi.st_dev != ofi.st_dev || fi.st_ino != ofi.st_ino) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "harbor: store unusable: harbor_root \"%s\" is no "
                      "longer the directory opened when the configuration "
                      "was loaded, reload nginx", root->path.data);
        return NGX_DECLINED;
    }

    if (faccessat(fd, ".", R_OK|X_OK, AT_EACCESS) == -1) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                      "harbor: store unusable: access() harbor_root "
                      "\"%s\" failed", root->path.data);
        return NGX_DECLINED;
    }

    if (faccessat(fd, NGX_HTTP_HARBOR_V2 + 1, R_OK|X_OK, AT_EACCESS) == -1) {
        err = ngx_errno;

        if (err == NGX_ENOENT) {
            return NGX_OK;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, err,
                      "harbor: store unusable: access() \"%s"
                      NGX_HTTP_HARBOR_V2 "\" failed", root->path.data);
        return NGX_DECLINED;
    }

    return NGX_OK;
}
