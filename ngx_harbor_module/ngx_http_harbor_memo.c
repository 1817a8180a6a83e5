
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * A worker's memo of the store's small facts, kept only where
 * open_file_cache is on: what a link file says (with its mtime), and the
 * key of a data file (its stat, as ngx_http_harbor_file_key() makes it).
 *
 * A fact is kept no longer than the open file cache trusts its own:
 * open_file_cache_valid, and a second for a tag's current link
 * (NGX_HTTP_HARBOR_FRESH).  That is the promise nginx already makes with
 * the cache on: a link file replaced by rename(2), or removed, reads as it
 * was through the cached descriptor until the entry is checked again.  The
 * memo saves what the cache cannot: the pread(2) of each link and the
 * fstat(2) of a key, so that a HEAD, or a GET of a manifest kept whole in
 * the zone, costs no system call beyond the client's.  Bytes read from a
 * file are never trusted on a memo's key: see the callers.
 *
 * Only what was found is kept: a miss is looked up again at once (a fill
 * may be on its way).  The entries are the worker's own memory (the
 * configuration's copy made by fork), at most open_file_cache max= of them,
 * the least recently used dropped first, and freed with the cycle's pool.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_module.h"


typedef struct {
    ngx_rbtree_node_t           node;       /* key: memo_hash() of path */
    ngx_queue_t                 queue;      /* most recently used first */
    time_t                      created;
    time_t                      mtime;
    size_t                      len;
    u_char                      value[NGX_HTTP_HARBOR_MEMO_MAX];
    size_t                      path_len;
    u_char                      path[1];
} ngx_http_harbor_memo_node_t;


static time_t ngx_http_harbor_memo_valid(ngx_http_request_t *r,
    ngx_uint_t flags);
static uint32_t ngx_http_harbor_memo_hash(ngx_http_request_t *r,
    ngx_str_t *path);
static ngx_http_harbor_memo_node_t *ngx_http_harbor_memo_find(
    ngx_http_harbor_main_conf_t *hmcf, ngx_str_t *path, uint32_t hash);
static void ngx_http_harbor_memo_remove(ngx_http_harbor_main_conf_t *hmcf,
    ngx_http_harbor_memo_node_t *mn);
static void ngx_http_harbor_memo_cleanup(void *data);
static void ngx_http_harbor_memo_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);


/*
 * NGX_OK and the value (at most NGX_HTTP_HARBOR_MEMO_MAX bytes) with the
 * mtime it was kept with, if path's fact is still valid; else NGX_DECLINED
 */

ngx_int_t
ngx_http_harbor_memo_get(ngx_http_request_t *r, ngx_str_t *path,
    ngx_uint_t flags, u_char *value, size_t *len, time_t *mtime)
{
    time_t                        valid;
    uint32_t                      hash;
    ngx_http_harbor_memo_node_t  *mn;
    ngx_http_harbor_main_conf_t  *hmcf;

    valid = ngx_http_harbor_memo_valid(r, flags);
    if (valid == 0) {
        return NGX_DECLINED;
    }

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_harbor_module);

    if (hmcf->memo.root == NULL) {
        return NGX_DECLINED;
    }

    hash = ngx_http_harbor_memo_hash(r, path);

    mn = ngx_http_harbor_memo_find(hmcf, path, hash);
    if (mn == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_time() - mn->created >= valid) {
        ngx_http_harbor_memo_remove(hmcf, mn);
        return NGX_DECLINED;
    }

    ngx_queue_remove(&mn->queue);
    ngx_queue_insert_head(&hmcf->memo_queue, &mn->queue);

    ngx_memcpy(value, mn->value, mn->len);
    *len = mn->len;

    if (mtime) {
        *mtime = mn->mtime;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "harbor memo hit \"%s\"", path->data);

    return NGX_OK;
}


/*
 * keeps what path was just found to hold; nothing where open_file_cache is
 * off (or in the rare case memory runs short: the memo is only a saving)
 */

void
ngx_http_harbor_memo_put(ngx_http_request_t *r, ngx_str_t *path,
    ngx_uint_t flags, u_char *value, size_t len, time_t mtime)
{
    uint32_t                      hash;
    ngx_queue_t                  *q;
    ngx_pool_cleanup_t           *cln;
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_harbor_memo_node_t  *mn;
    ngx_http_harbor_main_conf_t  *hmcf;

    if (len > NGX_HTTP_HARBOR_MEMO_MAX
        || ngx_http_harbor_memo_valid(r, flags) == 0)
    {
        return;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    hmcf = ngx_http_get_module_main_conf(r, ngx_http_harbor_module);

    if (hmcf->memo.root == NULL) {
        cln = ngx_pool_cleanup_add(ngx_cycle->pool, 0);
        if (cln == NULL) {
            return;
        }

        cln->handler = ngx_http_harbor_memo_cleanup;
        cln->data = hmcf;

        ngx_rbtree_init(&hmcf->memo, &hmcf->memo_sentinel,
                        ngx_http_harbor_memo_rbtree_insert);
        ngx_queue_init(&hmcf->memo_queue);
    }

    hash = ngx_http_harbor_memo_hash(r, path);

    mn = ngx_http_harbor_memo_find(hmcf, path, hash);

    if (mn == NULL) {

        while (hmcf->nmemo > 0 && hmcf->nmemo >= clcf->open_file_cache->max) {
            q = ngx_queue_last(&hmcf->memo_queue);
            ngx_http_harbor_memo_remove(hmcf,
                ngx_queue_data(q, ngx_http_harbor_memo_node_t, queue));
        }

        mn = ngx_alloc(sizeof(ngx_http_harbor_memo_node_t) + path->len,
                       r->connection->log);
        if (mn == NULL) {
            return;
        }

        mn->node.key = hash;
        mn->path_len = path->len;
        ngx_memcpy(mn->path, path->data, path->len);

        ngx_rbtree_insert(&hmcf->memo, &mn->node);
        hmcf->nmemo++;

    } else {
        ngx_queue_remove(&mn->queue);
    }

    ngx_queue_insert_head(&hmcf->memo_queue, &mn->queue);

    mn->created = ngx_time();
    mn->mtime = mtime;
    mn->len = len;
    ngx_memcpy(mn->value, value, len);
}


/* how long a fact may be kept here: 0 where the memo is off */

static time_t
ngx_http_harbor_memo_valid(ngx_http_request_t *r, ngx_uint_t flags)
{
    time_t                     valid;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->open_file_cache == NULL || clcf->open_file_cache->max == 0) {
        return 0;
    }

    valid = clcf->open_file_cache_valid;

    if ((flags & NGX_HTTP_HARBOR_FRESH) && valid > 1) {
        valid = 1;
    }

    return valid;
}


/*
 * the rbtree key: the path after harbor_root's docker/registry/v2, which
 * every path of a location shares (the whole path is compared on a match)
 */

static uint32_t
ngx_http_harbor_memo_hash(ngx_http_request_t *r, ngx_str_t *path)
{
    size_t                       skip;
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    skip = (path->len > hlcf->v2.len) ? hlcf->v2.len : 0;

    return ngx_murmur_hash2(path->data + skip, path->len - skip);
}


static ngx_http_harbor_memo_node_t *
ngx_http_harbor_memo_find(ngx_http_harbor_main_conf_t *hmcf, ngx_str_t *path,
    uint32_t hash)
{
    ngx_int_t                     rc;
    ngx_rbtree_node_t            *node, *sentinel;
    ngx_http_harbor_memo_node_t  *mn;

    node = hmcf->memo.root;
    sentinel = hmcf->memo.sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        mn = (ngx_http_harbor_memo_node_t *) node;

        rc = ngx_memn2cmp(path->data, mn->path, path->len, mn->path_len);

        if (rc == 0) {
            return mn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_harbor_memo_remove(ngx_http_harbor_main_conf_t *hmcf,
    ngx_http_harbor_memo_node_t *mn)
{
    ngx_queue_remove(&mn->queue);
    ngx_rbtree_delete(&hmcf->memo, &mn->node);
    hmcf->nmemo--;

    ngx_free(mn);
}


static void
ngx_http_harbor_memo_cleanup(void *data)
{
    ngx_http_harbor_main_conf_t *hmcf = data;

    ngx_queue_t  *q;

    while (!ngx_queue_empty(&hmcf->memo_queue)) {
        q = ngx_queue_head(&hmcf->memo_queue);
        ngx_http_harbor_memo_remove(hmcf,
            ngx_queue_data(q, ngx_http_harbor_memo_node_t, queue));
    }
}


/* as ngx_str_rbtree_insert_value(), for a key and a path */

static void
ngx_http_harbor_memo_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t           **p;
    ngx_http_harbor_memo_node_t  *mn, *mt;

    for ( ;; ) {

        mn = (ngx_http_harbor_memo_node_t *) node;
        mt = (ngx_http_harbor_memo_node_t *) temp;

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            p = (ngx_memn2cmp(mn->path, mt->path, mn->path_len,
                              mt->path_len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}
