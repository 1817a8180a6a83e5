
/*
 * Harbor Edge: one Redis link per worker, on nginx's event loop.
 *
 * The link pushes event lines (RPUSH to the queue list) through hiredis's
 * async API (Debian 12: hiredis 0.14.1) with nginx as its event library,
 * so a worker never waits for Redis.  Every command lives in one of a fixed
 * number of slots made at start: a slot is free, pending (held while Redis
 * is away), or sent (in hiredis, awaiting its reply).  The slot count is
 * the only bound on memory, and when no slot is free the event is dropped
 * and counted instead of delaying the request that caused it.
 */


#ifndef _NGX_HTTP_HARBOR_REDIS_H_INCLUDED_
#define _NGX_HTTP_HARBOR_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* the longest event line, with room to spare (see ngx_http_harbor_events.h) */
#define NGX_HTTP_HARBOR_REDIS_LINE_MAX  640
#define NGX_HTTP_HARBOR_REDIS_SLOTS     512


typedef struct ngx_http_harbor_redis_s      ngx_http_harbor_redis_t;
typedef struct ngx_http_harbor_redis_cmd_s  ngx_http_harbor_redis_cmd_t;

/* rc: NGX_OK once Redis has the line, NGX_ERROR if it never will */
typedef void (*ngx_http_harbor_redis_done_pt)(void *data, ngx_int_t rc);


typedef struct {
    ngx_atomic_t         queued;     /* lines Redis acknowledged */
    ngx_atomic_t         dropped;    /* events lost: no slot, or refused */
    ngx_atomic_t         coalesced;  /* misses folded into a recent one */
} ngx_http_harbor_redis_counters_t;


/* what a command does with its line */
#define NGX_HTTP_HARBOR_REDIS_EVENT     0   /* RPUSH <queue> line */
#define NGX_HTTP_HARBOR_REDIS_FILL      1   /* RPUSH <queue>:fill line */
#define NGX_HTTP_HARBOR_REDIS_SERVED    2   /* ZADD <queue>:served GT T line */
#define NGX_HTTP_HARBOR_REDIS_MISS      3   /* EVAL: RPUSH <queue> line,
                                               folded and capped */

/*
 * Misses in Redis, across workers and edges on one queue: a name asked for
 * again within MISS_WINDOW s makes no new event, and at most MISS_MAX
 * names per window make one (made-up names cannot flood the queue or the
 * primary); what is folded or dropped is counted in <queue>:stats
 * (misses_folded, misses_dropped).  <queue>:misses, a sorted set of the
 * names by time, is the window: at most MISS_MAX members.
 */
#define NGX_HTTP_HARBOR_MISS_WINDOW     60
#define NGX_HTTP_HARBOR_MISS_MAX        256


typedef struct {
    ngx_str_t                          addr;     /* as configured, for logs */
    ngx_str_t                          key;      /* the queue list */
    ngx_str_t                          fill_key;    /* <queue>:fill */
    ngx_str_t                          served_key;  /* <queue>:served */
    ngx_str_t                          misses_key;  /* <queue>:misses */
    ngx_str_t                          stats_key;   /* <queue>:stats */
    u_char                            *host;     /* NUL-terminated IP */
    u_char                            *path;     /* or a unix socket */
    int                                port;
    ngx_msec_t                         timeout;  /* connect, and replies */
    ngx_uint_t                         slots;
    ngx_http_harbor_redis_counters_t  *counters; /* in shared memory */
} ngx_http_harbor_redis_conf_t;


ngx_http_harbor_redis_t *ngx_http_harbor_redis_create(
    ngx_http_harbor_redis_conf_t *conf, ngx_pool_t *pool, ngx_log_t *log);
void ngx_http_harbor_redis_destroy(ngx_http_harbor_redis_t *rl);

/*
 * Hands one line to the link, for the command op
 * (NGX_HTTP_HARBOR_REDIS_*).  done == NULL: fire and forget (a miss),
 * kept pending while Redis is away.  done != NULL: the caller waits (a
 * webhook); refused at once with NGX_DECLINED if Redis is known to be
 * down, and later failed with NGX_ERROR rather than held across a failed
 * connect; when all slots are taken it takes the oldest held miss's.
 * NGX_BUSY: no slot.  On NGX_OK, *cmdp (if not NULL) can be given to
 * ngx_http_harbor_redis_cancel() until done has been called.
 */
ngx_int_t ngx_http_harbor_redis_push(ngx_http_harbor_redis_t *rl,
    ngx_uint_t op, u_char *line, size_t len,
    ngx_http_harbor_redis_done_pt done, void *data,
    ngx_http_harbor_redis_cmd_t **cmdp);
void ngx_http_harbor_redis_cancel(ngx_http_harbor_redis_cmd_t *cmd);
ngx_uint_t ngx_http_harbor_redis_is_down(ngx_http_harbor_redis_t *rl);


#endif /* _NGX_HTTP_HARBOR_REDIS_H_INCLUDED_ */
