
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * ngx_http_harbor_module: the registry v2 / OCI distribution read API served
 * straight from a CNCF distribution filesystem store.  This header holds the
 * types every file of the module shares (configuration, request context,
 * shared zone) and the prototypes that cross file boundaries; each .c file
 * owns one concern (see the comment at its top).
 */


#ifndef _NGX_HTTP_HARBOR_MODULE_H_INCLUDED_
#define _NGX_HTTP_HARBOR_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "he_oci_grammar.h"


#define NGX_HTTP_HARBOR_VERIFY_OFF       0
#define NGX_HTTP_HARBOR_VERIFY_ONCE      1
#define NGX_HTTP_HARBOR_VERIFY_ALWAYS    2

/*
 * harbor_verify_max_hashes: blobs one worker hashes at a time.  Each
 * worker has its own thread pool (32 threads by default); half of it
 * keeps threads free for aio and for a small blob's first hash, which
 * then never queues behind big ones
 */
#define NGX_HTTP_HARBOR_VERIFY_MAX_HASHES  16

#define NGX_HTTP_HARBOR_NAME_MAX         HE_OCI_NAME_MAX
#define NGX_HTTP_HARBOR_TAG_MAX          HE_OCI_TAG_MAX
#define NGX_HTTP_HARBOR_MEDIA_TYPE_MAX   255
#define NGX_HTTP_HARBOR_HOST_MAX         255

/* a link file holds "sha512:" and 128 hex digits at most */
#define NGX_HTTP_HARBOR_LINK_MAX         140

/* the store's own directory under harbor_root */
#define NGX_HTTP_HARBOR_V2               "/docker/registry/v2"

/* ngx_http_harbor_open(): open a file, or only test a file or directory */
#define NGX_HTTP_HARBOR_OPEN             0
#define NGX_HTTP_HARBOR_TEST_FILE        1
#define NGX_HTTP_HARBOR_TEST_DIR         2
#define NGX_HTTP_HARBOR_TEST_MASK        3

/*
 * a file that is replaced by rename(2) (a tag's current/link): an open file
 * cache entry is checked against the name at most a second old
 */
#define NGX_HTTP_HARBOR_FRESH            4

/*
 * what the worker's memo (ngx_http_harbor_memo.c) keeps of a file: a link
 * file's bytes, or a data file's key
 */
#define NGX_HTTP_HARBOR_MEMO_MAX         NGX_HTTP_HARBOR_LINK_MAX

/* digest algorithms the module can verify */
#define NGX_HTTP_HARBOR_SHA256           1
#define NGX_HTTP_HARBOR_SHA512           2

#define NGX_HTTP_HARBOR_HASH_MAX         64

/* in a vkey's type: the entry of a verified manifest, with its media type */
#define NGX_HTTP_HARBOR_VKEY_MANIFEST    0x100

/*
 * to ngx_http_harbor_file_key(): no byte of the file will be sent on this
 * key, so the worker's memo of it will do (not part of the key)
 */
#define NGX_HTTP_HARBOR_KEY_MEMO         0x200

/*
 * a verified manifest of at most this many bytes is kept in the zone with
 * its media type, so that a repeat GET reads nothing; a larger one is read
 * from its file (a bigger entry would push verified blobs out sooner, and
 * a blob that is pushed out is hashed again)
 */
#define NGX_HTTP_HARBOR_MANIFEST_KEEP    1024

/* what an entry of the zone holds: a type's length, the type, a manifest */
#define NGX_HTTP_HARBOR_SHM_VALUE_MAX                                         \
    (1 + NGX_HTTP_HARBOR_MEDIA_TYPE_MAX + NGX_HTTP_HARBOR_MANIFEST_KEEP)

#define NGX_HTTP_HARBOR_API_VERSION      "registry/2.0"


/* what a request asked for; also the index of its request counter */
typedef enum {
    NGX_HTTP_HARBOR_PING = 0,
    NGX_HTTP_HARBOR_CATALOG,
    NGX_HTTP_HARBOR_MANIFEST,
    NGX_HTTP_HARBOR_BLOB,
    NGX_HTTP_HARBOR_TAGS,
    NGX_HTTP_HARBOR_REFERRERS,
    NGX_HTTP_HARBOR_OTHER,
    NGX_HTTP_HARBOR_NKINDS
} ngx_http_harbor_kind_e;


/* the OCI error codes, index into the table in ngx_http_harbor_error.c */
typedef enum {
    NGX_HTTP_HARBOR_BLOB_UNKNOWN = 0,
    NGX_HTTP_HARBOR_MANIFEST_UNKNOWN,
    NGX_HTTP_HARBOR_NAME_UNKNOWN,
    NGX_HTTP_HARBOR_NAME_INVALID,
    NGX_HTTP_HARBOR_TAG_INVALID,
    NGX_HTTP_HARBOR_DIGEST_INVALID,
    NGX_HTTP_HARBOR_PAGINATION_NUMBER_INVALID,
    NGX_HTTP_HARBOR_UNSUPPORTED,
    NGX_HTTP_HARBOR_UNAUTHORIZED,
    NGX_HTTP_HARBOR_DENIED,
    NGX_HTTP_HARBOR_UNKNOWN,
    NGX_HTTP_HARBOR_UNAVAILABLE
} ngx_http_harbor_err_e;


/* counters in the shared zone, read later by the metrics endpoint */
typedef enum {
    NGX_HTTP_HARBOR_HITS = 0,
    NGX_HTTP_HARBOR_MISSES,
    NGX_HTTP_HARBOR_VERIFY_OK,
    NGX_HTTP_HARBOR_VERIFY_FAILED,
    NGX_HTTP_HARBOR_FILL_STARTED,       /* requests that asked for a fill */
    NGX_HTTP_HARBOR_FILL_JOINED,        /* ... that followed one under way */
    NGX_HTTP_HARBOR_FILL_DONE,          /* answered whole from a fill */
    NGX_HTTP_HARBOR_FILL_FAILED,        /* cut: the fill failed or stalled */
    NGX_HTTP_HARBOR_REVALIDATED,        /* tags older than harbor_tag_max_age
                                           sent to the primary */
    NGX_HTTP_HARBOR_STALE,              /* ... served from the store after the
                                           primary failed (@stale) */
    NGX_HTTP_HARBOR_NCOUNTERS
} ngx_http_harbor_counter_e;


typedef struct {
    ngx_str_t                   value;     /* "sha256:<hex>" */
    ngx_str_t                   alg;       /* "sha256" */
    ngx_str_t                   hex;       /* the encoded part */
    ngx_uint_t                  type;      /* NGX_HTTP_HARBOR_SHA256, ... */
} ngx_http_harbor_digest_t;


typedef struct {
    ngx_str_t                   host;
    ngx_str_t                   prefix;
} ngx_http_harbor_ns_t;


/*
 * the key of a verified file: changes whenever the file is replaced or
 * written to (mtime and ctime to the nanosecond: a write in the same
 * second as the hash, or a utimes(2) that restores mtime, still shows)
 */
typedef struct {
    dev_t                       dev;
    ino_t                       ino;
    off_t                       size;
    time_t                      mtime;
    long                        mtime_nsec;
    time_t                      ctime;
    long                        ctime_nsec;
    ngx_uint_t                  type;
    u_char                      hash[NGX_HTTP_HARBOR_HASH_MAX];
} ngx_http_harbor_vkey_t;


/*
 * a node keyed by a vkey: of the verified-file cache in the shared zone
 * (queue: the LRU link) and of a worker's table of files being hashed in
 * verify.c (queue: the head of the requests waiting for that hash)
 */
typedef struct {
    ngx_rbtree_node_t           node;
    ngx_queue_t                 queue;
    ngx_http_harbor_vkey_t      key;
} ngx_http_harbor_vnode_t;


typedef struct {
    ngx_rbtree_t                rbtree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 queue;      /* LRU, most recent first */
    ngx_atomic_t                requests[NGX_HTTP_HARBOR_NKINDS];
    ngx_atomic_t                counters[NGX_HTTP_HARBOR_NCOUNTERS];
} ngx_http_harbor_shctx_t;


typedef struct {
    ngx_http_harbor_shctx_t    *sh;
    ngx_slab_pool_t            *shpool;
} ngx_http_harbor_shm_t;


typedef struct {
    ngx_str_t                   name;
    ngx_http_core_srv_conf_t   *cscf;
} ngx_http_harbor_miss_pass_t;


/*
 * a harbor_root: its directory opened once per configuration, the base of
 * every openat2(2) of the store (ngx_http_harbor_root.c)
 */
typedef struct {
    ngx_str_t                   path;       /* NUL-terminated */
    ngx_fd_t                    fd;         /* O_PATH, or NGX_INVALID_FILE */
    u_char                     *file;       /* where harbor_root was set */
    ngx_uint_t                  line;
} ngx_http_harbor_root_t;


typedef struct {
    size_t                      shm_size;
    ngx_shm_zone_t             *shm_zone;
    ngx_flag_t                  enabled;    /* some location serves */

    /* harbor_miss_pass names, checked once the named locations are known */
    ngx_array_t                 miss_passes;

    ngx_array_t                 roots;      /* of ngx_http_harbor_root_t * */

    /*
     * each worker's own (the configuration is copied by fork): the blobs
     * its thread tasks are hashing for "harbor_verify once", and how many
     * tasks it has in the thread pool; verify.c inits the tree on first use
     */
    ngx_rbtree_t                hashing;
    ngx_rbtree_node_t           hashing_sentinel;
    ngx_uint_t                  nhashing;

    /* each worker's memo of link files and keys (ngx_http_harbor_memo.c) */
    ngx_rbtree_t                memo;
    ngx_rbtree_node_t           memo_sentinel;
    ngx_queue_t                 memo_queue;
    ngx_uint_t                  nmemo;
} ngx_http_harbor_main_conf_t;


typedef struct {
    ngx_str_t                   root;       /* harbor_root as given */
    ngx_str_t                   v2;         /* root + "/docker/registry/v2" */
    ngx_http_harbor_root_t     *store;      /* the root opened */
    ngx_flag_t                  registry;
    ngx_uint_t                  verify;
    ngx_str_t                   thread_pool_name;
    ngx_uint_t                  verify_max_hashes;
#if (NGX_THREADS)
    ngx_thread_pool_t          *thread_pool;
#endif
    ngx_array_t                *ns;         /* of ngx_http_harbor_ns_t */
    size_t                      manifest_max_size;
    ngx_uint_t                  catalog_max_entries;
    ngx_str_t                   miss_pass;
    ngx_flag_t                  fill;
    ngx_msec_t                  fill_wait;
    ngx_msec_t                  fill_timeout;
    ngx_str_t                   state_dir;  /* the replicator's state_dir */
    time_t                      tag_max_age;  /* 0: off */
} ngx_http_harbor_loc_conf_t;


/* why harbor_auth refused a request: label values of the metrics too */
typedef enum {
    NGX_HTTP_HARBOR_DENIED_NO_TOKEN = 0,
    NGX_HTTP_HARBOR_DENIED_INVALID_TOKEN,
    NGX_HTTP_HARBOR_DENIED_INSUFFICIENT_SCOPE,
    NGX_HTTP_HARBOR_NDENIED
} ngx_http_harbor_denied_e;


typedef struct ngx_http_harbor_ctx_s  ngx_http_harbor_ctx_t;

typedef ngx_int_t (*ngx_http_harbor_done_pt)(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, ngx_int_t ok);


/*
 * The request's context, shared by the read path, the auth module and the
 * metrics module.  The first part is the route, made once per request by
 * ngx_http_harbor_request() (see ngx_http_harbor_request.c for when and
 * how it survives an internal redirect); the rest is what one run of the
 * content handler works with.
 */

struct ngx_http_harbor_ctx_s {
    ngx_http_request_t         *request;

    /* the route: what the URI asks for, each part checked */
    ngx_str_t                   uri;        /* routed from: r->uri, r->args */
    ngx_str_t                   args;
    ngx_uint_t                  kind;
    ngx_str_t                   name;       /* valid, as the client sent it */
    ngx_str_t                   repo;       /* in the store: PREFIX/name */
    ngx_str_t                   reference;  /* a valid tag or digest */
    ngx_str_t                   ns;         /* decoded ?ns=, if a host */
    ngx_http_harbor_digest_t    digest;     /* the URI's, or the tag's */

    /* why the request is invalid, when ctx->invalid */
    ngx_uint_t                  err;
    ngx_uint_t                  err_status;
    char                       *err_message;

    /* set by harbor_auth as it refuses: the reason + 1 */
    ngx_uint_t                  denied;

    /* harbor_auth accepted a token granting pull (not harbor_public) */
    unsigned                    token_ok:1;

    ngx_str_t                   path;       /* the data file */
    ngx_open_file_info_t        of;
    ngx_file_info_t             fi;         /* its stat, if fi_set */

    /* the result of a thread-pool hash */
    u_char                      hash[NGX_HTTP_HARBOR_HASH_MAX];
    ngx_http_harbor_vkey_t      vkey;
    ngx_http_harbor_done_pt     done;
    void                       *verify;     /* the task this request posted */
    ngx_int_t                   verified;   /* NGX_OK, NGX_DECLINED, ... */

    /*
     * "harbor_verify once": a request for a file that another request of
     * the worker is hashing waits for that task (see verify.c) instead of
     * hashing the file again; "wait" links it into the task's waiters
     */
    void                       *wait_for;
    ngx_queue_t                 wait;

    /*
     * a timer while the thread hashes: a worker that is shutting down
     * waits for the pending requests only while they have timers
     */
    ngx_event_t                 guard;

    unsigned                    invalid:1;

    /* routed in a harbor_registry location: the metrics count it */
    unsigned                    registry:1;

    /* the content handler ran on this route */
    unsigned                    served:1;

    /* a miss went to harbor_miss_pass: what was sent is the primary's */
    unsigned                    passed:1;

    /* r->main->blocked is not enough: a stray write event must not resume */
    unsigned                    pending:1;

    /* harbor_fill: the request follows a fill (ngx_http_harbor_fill.c) */
    void                       *fill;
    unsigned                    filling:1;
    unsigned                    filled:1;   /* answered from a fill */
    unsigned                    revalidated:1;  /* a stale tag went to the
                                                   primary */
    unsigned                    stale:1;    /* ... and came back: stale */

    /* this request ran the hash: it counts and logs the result */
    unsigned                    hashed:1;

    /* ctx->fi was taken as the data file was opened */
    unsigned                    fi_set:1;

    /* ctx->vkey came from the worker's memo, not from a stat just now */
    unsigned                    memo_key:1;
};


extern ngx_module_t  ngx_http_harbor_module;


/* ngx_http_harbor_request.c */
ngx_http_harbor_ctx_t *ngx_http_harbor_request(ngx_http_request_t *r);
ngx_http_harbor_ctx_t *ngx_http_harbor_get_request(ngx_http_request_t *r);

/* ngx_http_harbor_handler.c */
ngx_int_t ngx_http_harbor_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_harbor_miss(ngx_http_request_t *r, ngx_uint_t err,
    char *message);
ngx_int_t ngx_http_harbor_miss_fallback(ngx_http_request_t *r,
    ngx_uint_t err, char *message);
void ngx_http_harbor_served(ngx_http_request_t *r, ngx_str_t *digest);

/* ngx_http_harbor_fill.c */
ngx_int_t ngx_http_harbor_fill(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, ngx_uint_t err, char *message);
ngx_int_t ngx_http_harbor_revalidate(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx);

/* ngx_http_harbor_auth_handler.c: harbor_auth token checked this request */
ngx_uint_t ngx_http_harbor_auth_checked(ngx_http_request_t *r);
ngx_int_t ngx_http_harbor_add_header(ngx_http_request_t *r, char *key,
    ngx_str_t *value);
ngx_int_t ngx_http_harbor_send_header(ngx_http_request_t *r);
ngx_int_t ngx_http_harbor_send_file(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx);
ngx_int_t ngx_http_harbor_internal_error(ngx_http_request_t *r,
    ngx_int_t rc);
ngx_int_t ngx_http_harbor_digest_headers(ngx_http_request_t *r,
    ngx_str_t *digest);
ngx_int_t ngx_http_harbor_not_modified(ngx_http_request_t *r);
ngx_int_t ngx_http_harbor_send_memory(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *type, u_char *body, size_t len);
ngx_int_t ngx_http_harbor_send_body(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *type, u_char *body, size_t len);
ngx_int_t ngx_http_harbor_if_none_match(ngx_http_request_t *r,
    ngx_str_t *digest);
ngx_int_t ngx_http_harbor_arg(ngx_http_request_t *r, char *name, size_t len,
    ngx_str_t *value);

/* ngx_http_harbor_parse.c */
ngx_http_harbor_kind_e ngx_http_harbor_split_uri(ngx_str_t *uri,
    ngx_str_t *name, ngx_str_t *ref);
ngx_int_t ngx_http_harbor_parse_digest(u_char *p, size_t len,
    ngx_http_harbor_digest_t *d);
ngx_int_t ngx_http_harbor_parse_number(u_char *p, size_t len,
    ngx_uint_t *n);
ngx_int_t ngx_http_harbor_parse_host(u_char *p, size_t len);
ngx_int_t ngx_http_harbor_parse_media_type(u_char *p, size_t len);

/* ngx_http_harbor_root.c */
ngx_http_harbor_root_t *ngx_http_harbor_root_add(ngx_conf_t *cf,
    ngx_str_t *path);
ngx_int_t ngx_http_harbor_roots_init(ngx_cycle_t *cycle,
    ngx_http_harbor_main_conf_t *hmcf);
ngx_fd_t ngx_http_harbor_root_fd(ngx_http_request_t *r,
    ngx_http_harbor_root_t *root);
ngx_int_t ngx_http_harbor_root_usable(ngx_http_request_t *r,
    ngx_http_harbor_root_t *root);

/* ngx_http_harbor_store.c */
ngx_int_t ngx_http_harbor_path(ngx_pool_t *pool, ngx_str_t *path,
    ngx_str_t *parts, ngx_uint_t n);
ngx_int_t ngx_http_harbor_blob_path(ngx_http_request_t *r,
    ngx_http_harbor_digest_t *d, ngx_str_t *path);
ngx_int_t ngx_http_harbor_open(ngx_http_request_t *r, ngx_str_t *path,
    ngx_open_file_info_t *of, ngx_uint_t flags);
ngx_int_t ngx_http_harbor_open_dir(ngx_http_request_t *r, ngx_str_t *path,
    ngx_dir_t *dir);
ngx_int_t ngx_http_harbor_read_link(ngx_http_request_t *r, ngx_str_t *path,
    ngx_http_harbor_digest_t *d, ngx_uint_t flags, time_t *mtime);
ngx_int_t ngx_http_harbor_linked(ngx_http_request_t *r, ngx_str_t *repo,
    ngx_http_harbor_digest_t *d, ngx_uint_t manifest);
ngx_int_t ngx_http_harbor_open_content(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, ngx_uint_t flags);
ngx_int_t ngx_http_harbor_open_data(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx);
ngx_int_t ngx_http_harbor_read_file(ngx_http_request_t *r, ngx_str_t *path,
    ngx_open_file_info_t *of, u_char *buf);
ngx_int_t ngx_http_harbor_file_key(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, ngx_uint_t flags);

/* ngx_http_harbor_memo.c */
ngx_int_t ngx_http_harbor_memo_get(ngx_http_request_t *r, ngx_str_t *path,
    ngx_uint_t flags, u_char *value, size_t *len, time_t *mtime);
void ngx_http_harbor_memo_put(ngx_http_request_t *r, ngx_str_t *path,
    ngx_uint_t flags, u_char *value, size_t len, time_t mtime);

/* ngx_http_harbor_manifest.c */
ngx_int_t ngx_http_harbor_manifest_handler(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx);

/* ngx_http_harbor_blob.c */
ngx_int_t ngx_http_harbor_blob_handler(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx);

/* ngx_http_harbor_list.c */
ngx_int_t ngx_http_harbor_tags_handler(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx);
ngx_int_t ngx_http_harbor_catalog_handler(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx);
ngx_int_t ngx_http_harbor_referrers_handler(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx);

/* ngx_http_harbor_verify.c */
ngx_int_t ngx_http_harbor_hash(ngx_uint_t type, u_char *data, size_t len,
    u_char *out);
ngx_int_t ngx_http_harbor_hash_equal(ngx_http_harbor_digest_t *d,
    u_char *hash);
ngx_int_t ngx_http_harbor_verify(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, ngx_uint_t coalesce);

/* ngx_http_harbor_shm.c */
ngx_int_t ngx_http_harbor_shm_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
ngx_int_t ngx_http_harbor_shm_lookup(ngx_http_request_t *r,
    ngx_http_harbor_vkey_t *key, ngx_str_t *value);
void ngx_http_harbor_shm_insert(ngx_http_request_t *r,
    ngx_http_harbor_vkey_t *key, ngx_str_t *value, ngx_uint_t bad);
ngx_http_harbor_shm_t *ngx_http_harbor_shm_get(ngx_http_request_t *r);
uint32_t ngx_http_harbor_vkey_hash(ngx_http_harbor_vkey_t *key);
void ngx_http_harbor_vkey_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
ngx_http_harbor_vnode_t *ngx_http_harbor_vkey_find(ngx_rbtree_t *rbtree,
    ngx_http_harbor_vkey_t *key, uint32_t hash);
void ngx_http_harbor_count(ngx_http_request_t *r, ngx_uint_t counter);
void ngx_http_harbor_count_request(ngx_http_request_t *r, ngx_uint_t kind);

/* ngx_http_harbor_error.c */
ngx_int_t ngx_http_harbor_send_error(ngx_http_request_t *r, ngx_uint_t err,
    ngx_uint_t status, char *message);

/* ngx_http_harbor_oci_json.c */
ngx_int_t ngx_http_harbor_manifest_type(ngx_pool_t *pool, u_char *p,
    size_t len, ngx_str_t *type);
ngx_int_t ngx_http_harbor_referrers_filter(ngx_pool_t *pool, u_char *p,
    size_t len, ngx_str_t *artifact_type, ngx_str_t *out);


extern ngx_str_t  ngx_http_harbor_json_type;


#endif /* _NGX_HTTP_HARBOR_MODULE_H_INCLUDED_ */
