
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * The shared zone "harbor": the verified-file cache of "harbor_verify once"
 * and of manifests, and the module's counters, shared by all workers.
 *
 * A verified blob is remembered by (device, inode, size, mtime, ctime,
 * digest), times to the nanosecond: the replicator replaces files with
 * rename(2), which gives a new inode, and a file written in place gets a
 * new ctime, so a replaced or rewritten file is hashed again.  Entries
 * live in an rbtree (keyed by a CRC32 of the key, ties broken by memcmp of
 * the whole key, as ngx_http_limit_req_module orders its nodes) and in an
 * LRU queue; when the slab is full the least recently used entries are
 * dropped, which costs only a re-hash.  Counters are ngx_atomic_t and need
 * no lock.
 *
 * A verified manifest's entry (NGX_HTTP_HARBOR_VKEY_MANIFEST in its key's
 * type) also holds the media type found in its JSON, and a small manifest
 * itself, so that a repeat read of an unchanged manifest neither hashes
 * nor scans it again: its digest and size are in the key itself.
 *
 * On reload the zone of the old cycle is reused as it is (the old workers
 * still use it while they finish), so neither the cache nor the counters
 * are lost.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_module.h"


/* an entry of the zone: the vnode and the value remembered with it */
typedef struct {
    ngx_http_harbor_vnode_t     vn;
    size_t                      len;
    u_char                      data[1];
} ngx_http_harbor_shm_node_t;


ngx_int_t
ngx_http_harbor_shm_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_harbor_shm_t  *oshm = data;

    size_t                  len;
    ngx_http_harbor_shm_t  *shm;

    shm = shm_zone->data;

    if (oshm) {
        shm->sh = oshm->sh;
        shm->shpool = oshm->shpool;
        return NGX_OK;
    }

    shm->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm->sh = shm->shpool->data;
        return NGX_OK;
    }

    shm->sh = ngx_slab_alloc(shm->shpool, sizeof(ngx_http_harbor_shctx_t));
    if (shm->sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(shm->sh, sizeof(ngx_http_harbor_shctx_t));

    shm->shpool->data = shm->sh;

    ngx_rbtree_init(&shm->sh->rbtree, &shm->sh->sentinel,
                    ngx_http_harbor_vkey_rbtree_insert);

    ngx_queue_init(&shm->sh->queue);

    len = sizeof(" in harbor zone \"\"") + shm_zone->shm.name.len;

    shm->shpool->log_ctx = ngx_slab_alloc(shm->shpool, len);
    if (shm->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shm->shpool->log_ctx, " in harbor zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is expected: old entries are evicted */
    shm->shpool->log_nomem = 0;

    return NGX_OK;
}


/*
 * the insert of an rbtree of ngx_http_harbor_vnode_t, node->key being
 * ngx_http_harbor_vkey_hash(); also used by verify.c for its table of files
 * being hashed
 */

void
ngx_http_harbor_vkey_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t       **p;
    ngx_http_harbor_vnode_t  *vn, *vnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            vn = (ngx_http_harbor_vnode_t *) node;
            vnt = (ngx_http_harbor_vnode_t *) temp;

            p = (ngx_memcmp(&vn->key, &vnt->key,
                            sizeof(ngx_http_harbor_vkey_t)) < 0)
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


/*
 * the zone of this configuration, or NULL when no location serves; the
 * metrics endpoint reads shm->sh->requests[] and counters[] through it
 * (ngx_atomic_t, no lock needed)
 */

ngx_http_harbor_shm_t *
ngx_http_harbor_shm_get(ngx_http_request_t *r)
{
    ngx_http_harbor_shm_t        *shm;
    ngx_http_harbor_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_harbor_module);

    if (hmcf->shm_zone == NULL) {
        return NULL;
    }

    shm = hmcf->shm_zone->data;

    return (shm->sh == NULL) ? NULL : shm;
}


/*
 * the rbtree key of a vkey: murmur2 takes four bytes a step, where
 * ngx_crc32_short() takes half a byte, and a request hashes a key or two
 */

uint32_t
ngx_http_harbor_vkey_hash(ngx_http_harbor_vkey_t *key)
{
    return ngx_murmur_hash2((u_char *) key, sizeof(ngx_http_harbor_vkey_t));
}


/* the node of key in an rbtree of vnodes; the zone's is used locked */

ngx_http_harbor_vnode_t *
ngx_http_harbor_vkey_find(ngx_rbtree_t *rbtree, ngx_http_harbor_vkey_t *key,
    uint32_t hash)
{
    ngx_int_t                 rc;
    ngx_rbtree_node_t        *node, *sentinel;
    ngx_http_harbor_vnode_t  *vn;

    node = rbtree->root;
    sentinel = rbtree->sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        /* hash == node->key */

        vn = (ngx_http_harbor_vnode_t *) node;

        rc = ngx_memcmp(key, &vn->key, sizeof(ngx_http_harbor_vkey_t));

        if (rc == 0) {
            return vn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * NGX_OK if the file under key has been verified before (value, when not
 * NULL, gets what was remembered with it, copied into the request's pool:
 * at most value->len bytes of it if that is set),
 * NGX_ABORT if it failed its hash before (the same file is corrupt still:
 * hashing it again per request would let any client make the worker read
 * it whole), NGX_DECLINED if it is not known, NGX_ERROR: no memory
 */

ngx_int_t
ngx_http_harbor_shm_lookup(ngx_http_request_t *r, ngx_http_harbor_vkey_t *key,
    ngx_str_t *value)
{
    u_char                       buf[NGX_HTTP_HARBOR_SHM_VALUE_MAX];
    size_t                       len;
    uint32_t                     hash;
    ngx_int_t                    rc;
    ngx_http_harbor_shm_t       *shm;
    ngx_http_harbor_vnode_t     *vn;
    ngx_http_harbor_shm_node_t  *sn;

    shm = ngx_http_harbor_shm_get(r);
    if (shm == NULL) {
        return NGX_DECLINED;
    }

    hash = ngx_http_harbor_vkey_hash(key);
    len = 0;

    ngx_shmtx_lock(&shm->shpool->mutex);

    vn = ngx_http_harbor_vkey_find(&shm->sh->rbtree, key, hash);

    if (vn) {
        ngx_queue_remove(&vn->queue);
        ngx_queue_insert_head(&shm->sh->queue, &vn->queue);

        if (value) {
            sn = (ngx_http_harbor_shm_node_t *) vn;
            len = ngx_min(sn->len, sizeof(buf));

            if (value->len) {
                len = ngx_min(len, value->len);
            }

            ngx_memcpy(buf, sn->data, len);
        }
    }

    rc = (vn == NULL) ? NGX_DECLINED : (vn->node.data ? NGX_ABORT : NGX_OK);

    ngx_shmtx_unlock(&shm->shpool->mutex);

    if (rc != NGX_OK) {
        return rc;
    }

    if (value) {
        value->data = ngx_pnalloc(r->pool, len ? len : 1);
        if (value->data == NULL) {
            return NGX_ERROR;
        }

        value->len = len;
        ngx_memcpy(value->data, buf, len);
    }

    return NGX_OK;
}


/*
 * remembers a verified file, and value with it when not NULL (at most
 * NGX_HTTP_HARBOR_SHM_VALUE_MAX bytes), or one that failed its hash (bad);
 * evicts the least recently used entries when the zone is full (a failure
 * only means the file is hashed again)
 */

void
ngx_http_harbor_shm_insert(ngx_http_request_t *r, ngx_http_harbor_vkey_t *key,
    ngx_str_t *value, ngx_uint_t bad)
{
    size_t                       len;
    uint32_t                     hash;
    ngx_uint_t                   i;
    ngx_queue_t                 *q;
    ngx_http_harbor_shm_t       *shm;
    ngx_http_harbor_vnode_t     *vn, *old;
    ngx_http_harbor_shm_node_t  *sn;

    shm = ngx_http_harbor_shm_get(r);
    if (shm == NULL) {
        return;
    }

    len = value ? value->len : 0;

    if (len > NGX_HTTP_HARBOR_SHM_VALUE_MAX) {
        return;
    }

    hash = ngx_http_harbor_vkey_hash(key);

    ngx_shmtx_lock(&shm->shpool->mutex);

    if (ngx_http_harbor_vkey_find(&shm->sh->rbtree, key, hash)) {
        ngx_shmtx_unlock(&shm->shpool->mutex);
        return;
    }

    for (i = 0; /* void */ ; i++) {

        sn = ngx_slab_alloc_locked(shm->shpool,
                          offsetof(ngx_http_harbor_shm_node_t, data) + len);
        if (sn) {
            break;
        }

        if (i == 16 || ngx_queue_empty(&shm->sh->queue)) {
            ngx_shmtx_unlock(&shm->shpool->mutex);

            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "harbor: could not remember verified file, "
                          "zone \"harbor\" is full");
            return;
        }

        q = ngx_queue_last(&shm->sh->queue);
        old = ngx_queue_data(q, ngx_http_harbor_vnode_t, queue);

        ngx_queue_remove(q);
        ngx_rbtree_delete(&shm->sh->rbtree, &old->node);
        ngx_slab_free_locked(shm->shpool, old);
    }

    sn->len = len;

    if (len) {
        ngx_memcpy(sn->data, value->data, len);
    }

    vn = &sn->vn;
    vn->node.key = hash;
    vn->node.data = bad ? 1 : 0;
    vn->key = *key;

    ngx_rbtree_insert(&shm->sh->rbtree, &vn->node);
    ngx_queue_insert_head(&shm->sh->queue, &vn->queue);

    ngx_shmtx_unlock(&shm->shpool->mutex);
}


void
ngx_http_harbor_count(ngx_http_request_t *r, ngx_uint_t counter)
{
    ngx_http_harbor_shm_t  *shm;

    shm = ngx_http_harbor_shm_get(r);

    if (shm) {
        (void) ngx_atomic_fetch_add(&shm->sh->counters[counter], 1);
    }
}


void
ngx_http_harbor_count_request(ngx_http_request_t *r, ngx_uint_t kind)
{
    ngx_http_harbor_shm_t  *shm;

    shm = ngx_http_harbor_shm_get(r);

    if (shm) {
        (void) ngx_atomic_fetch_add(&shm->sh->requests[kind], 1);
    }
}
