
/*
 * Harbor Edge: hiredis 0.14.1 async on nginx's event loop, one link per
 * worker.
 *
 * The adapter: hiredis's socket is wrapped in an ngx_connection_t, and its
 * five hooks (addRead, delRead, addWrite, delWrite, cleanup) turn into
 * level-triggered ngx_add_event()/ngx_del_event() calls, guarded by the
 * events' own "active" bits so that every hook is idempotent, as async.h
 * asks.  hiredis calls cleanup from inside redisAsyncHandleRead/Write when
 * the link fails, so the handlers set ENTERED and cleanup only marks the
 * connection DELETED; the handler frees it on the way out.  cleanup never
 * closes the fd: redisFree() does, right after.
 *
 * hiredis 0.14.1 has no timeouts, so they are ours: one timer bounds the
 * connect, then serves as a watchdog while replies are owed (it is re-armed
 * on every reply, so it fires only when Redis makes no progress at all).
 * On expiry the link is freed, which hands every unanswered command back
 * to us with a NULL reply.  A lost link is retried from a timer with
 * exponential backoff, never from inside a hiredis callback.
 *
 * Commands sit in fixed slots (see the header).  Fire-and-forget lines
 * survive a lost link: they go back to the pending queue and are sent after
 * the reconnect (a miss may then reach Redis twice, which the replicator
 * coalesces anyway).  Lines someone waits for fail fast instead, so that
 * the webhook can answer 503 and Harbor retries.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_harbor_redis.h"


#define NGX_HTTP_HARBOR_REDIS_DOWN         0
#define NGX_HTTP_HARBOR_REDIS_CONNECTING   1
#define NGX_HTTP_HARBOR_REDIS_CONNECTED    2

/*
 * A miss: KEYS queue, misses, stats; ARGV line, name (the line without its
 * time), now, window, max.  Returns 1 queued, 0 folded, -1 dropped.
 */
#define NGX_HTTP_HARBOR_REDIS_MISS_LUA                                        \
    "local now = tonumber(ARGV[3]) "                                          \
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ARGV[4]) "        \
    "if redis.call('ZSCORE', KEYS[2], ARGV[2]) then "                        \
    "  redis.call('HINCRBY', KEYS[3], 'misses_folded', 1) return 0 end "     \
    "if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then "             \
    "  redis.call('HINCRBY', KEYS[3], 'misses_dropped', 1) return -1 end "   \
    "redis.call('ZADD', KEYS[2], now, ARGV[2]) "                              \
    "redis.call('EXPIRE', KEYS[2], ARGV[4]) "                                 \
    "redis.call('RPUSH', KEYS[1], ARGV[1]) return 1"

#define NGX_HTTP_HARBOR_REDIS_BACKOFF_MIN  100
#define NGX_HTTP_HARBOR_REDIS_BACKOFF_MAX  5000


struct ngx_http_harbor_redis_cmd_s {
    ngx_queue_t                     queue;     /* free or pending; not sent */
    ngx_http_harbor_redis_t        *link;
    ngx_http_harbor_redis_done_pt   done;
    void                           *data;
    ngx_uint_t                      op;        /* NGX_HTTP_HARBOR_REDIS_* */
    time_t                          time;      /* a served one's score */
    size_t                          len;
    u_char                          line[NGX_HTTP_HARBOR_REDIS_LINE_MAX];
};


struct ngx_http_harbor_redis_s {
    ngx_http_harbor_redis_conf_t   *conf;
    redisAsyncContext              *ac;
    ngx_connection_t               *c;
    ngx_log_t                      *log;
    ngx_event_t                     reconnect;
    ngx_event_t                     timer;     /* connect, or reply watchdog */
    ngx_queue_t                     free;
    ngx_queue_t                     pending;
    ngx_uint_t                      nfree;
    ngx_uint_t                      nsent;
    ngx_uint_t                      state;
    ngx_msec_t                      backoff;
    unsigned                        entered:1;
    unsigned                        deleted:1;
    unsigned                        exiting:1;
    unsigned                        closing:1;
    unsigned                        down_logged:1;
    unsigned                        refused_logged:1;
};


static void ngx_http_harbor_redis_connect(ngx_http_harbor_redis_t *rl);
static void ngx_http_harbor_redis_close(ngx_http_harbor_redis_t *rl);
static void ngx_http_harbor_redis_lost(ngx_http_harbor_redis_t *rl);
static void ngx_http_harbor_redis_flush(ngx_http_harbor_redis_t *rl);
static ngx_int_t ngx_http_harbor_redis_send(ngx_http_harbor_redis_t *rl,
    ngx_http_harbor_redis_cmd_t *cmd);
static void ngx_http_harbor_redis_release(ngx_http_harbor_redis_t *rl,
    ngx_http_harbor_redis_cmd_t *cmd);
static ngx_http_harbor_redis_cmd_t *ngx_http_harbor_redis_evict(
    ngx_http_harbor_redis_t *rl);
static void ngx_http_harbor_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_harbor_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_harbor_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_http_harbor_redis_handler(ngx_event_t *ev);
static void ngx_http_harbor_redis_add_read(void *privdata);
static void ngx_http_harbor_redis_del_read(void *privdata);
static void ngx_http_harbor_redis_add_write(void *privdata);
static void ngx_http_harbor_redis_del_write(void *privdata);
static void ngx_http_harbor_redis_event(ngx_http_harbor_redis_t *rl,
    ngx_int_t event, ngx_uint_t add);
static void ngx_http_harbor_redis_cleanup(void *privdata);
static void ngx_http_harbor_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_http_harbor_redis_timer_handler(ngx_event_t *ev);


ngx_http_harbor_redis_t *
ngx_http_harbor_redis_create(ngx_http_harbor_redis_conf_t *conf,
    ngx_pool_t *pool, ngx_log_t *log)
{
    ngx_uint_t                    i;
    ngx_http_harbor_redis_t      *rl;
    ngx_http_harbor_redis_cmd_t  *cmds;

    rl = ngx_pcalloc(pool, sizeof(ngx_http_harbor_redis_t));
    if (rl == NULL) {
        return NULL;
    }

    cmds = ngx_palloc(pool, conf->slots * sizeof(ngx_http_harbor_redis_cmd_t));
    if (cmds == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     rl->ac = NULL;
     *     rl->c = NULL;
     *     rl->nsent = 0;
     *     rl->state = NGX_HTTP_HARBOR_REDIS_DOWN;
     *     rl->entered = 0; ...
     */

    rl->conf = conf;
    rl->log = log;
    rl->backoff = NGX_HTTP_HARBOR_REDIS_BACKOFF_MIN;

    ngx_queue_init(&rl->free);
    ngx_queue_init(&rl->pending);

    for (i = 0; i < conf->slots; i++) {
        cmds[i].link = rl;
        cmds[i].done = NULL;
        cmds[i].data = NULL;
        cmds[i].len = 0;
        ngx_queue_insert_tail(&rl->free, &cmds[i].queue);
    }

    rl->nfree = conf->slots;

    rl->reconnect.handler = ngx_http_harbor_redis_reconnect_handler;
    rl->reconnect.data = rl;
    rl->reconnect.log = log;
    rl->reconnect.cancelable = 1;

    rl->timer.handler = ngx_http_harbor_redis_timer_handler;
    rl->timer.data = rl;
    rl->timer.log = log;

    ngx_http_harbor_redis_connect(rl);

    return rl;
}


void
ngx_http_harbor_redis_destroy(ngx_http_harbor_redis_t *rl)
{
    rl->exiting = 1;

    if (rl->reconnect.timer_set) {
        ngx_del_timer(&rl->reconnect);
    }

    if (rl->ac != NULL) {
        ngx_http_harbor_redis_close(rl);
    }

    if (rl->timer.timer_set) {
        ngx_del_timer(&rl->timer);
    }
}


ngx_int_t
ngx_http_harbor_redis_push(ngx_http_harbor_redis_t *rl, ngx_uint_t op,
    u_char *line, size_t len, ngx_http_harbor_redis_done_pt done, void *data,
    ngx_http_harbor_redis_cmd_t **cmdp)
{
    ngx_queue_t                  *q;
    ngx_http_harbor_redis_cmd_t  *cmd;

    if (rl->exiting || len > NGX_HTTP_HARBOR_REDIS_LINE_MAX) {
        return NGX_ERROR;
    }

    if (done != NULL && rl->state == NGX_HTTP_HARBOR_REDIS_DOWN) {
        return NGX_DECLINED;
    }

    /*
     * what was served is worth sending only now, and never at the cost of
     * an event: it takes no slot while Redis is away, nor the last half
     */
    if (op == NGX_HTTP_HARBOR_REDIS_SERVED
        && (rl->state != NGX_HTTP_HARBOR_REDIS_CONNECTED
            || rl->nfree < rl->conf->slots / 2))
    {
        return NGX_DECLINED;
    }

    if (!ngx_queue_empty(&rl->free)) {
        q = ngx_queue_head(&rl->free);
        ngx_queue_remove(q);
        rl->nfree--;

        cmd = ngx_queue_data(q, ngx_http_harbor_redis_cmd_t, queue);

    } else if (done != NULL) {
        cmd = ngx_http_harbor_redis_evict(rl);

        if (cmd == NULL) {
            return NGX_BUSY;
        }

        q = &cmd->queue;

    } else {
        return NGX_BUSY;
    }

    cmd->done = done;
    cmd->data = data;
    cmd->op = op;
    cmd->time = ngx_time();
    cmd->len = len;
    ngx_memcpy(cmd->line, line, len);

    if (rl->state != NGX_HTTP_HARBOR_REDIS_CONNECTED
        || ngx_http_harbor_redis_send(rl, cmd) != NGX_OK)
    {
        ngx_queue_insert_tail(&rl->pending, q);
    }

    if (cmdp != NULL) {
        *cmdp = cmd;
    }

    return NGX_OK;
}


/* the waiter is gone; the line itself is still delivered if it can be */

void
ngx_http_harbor_redis_cancel(ngx_http_harbor_redis_cmd_t *cmd)
{
    cmd->done = NULL;
    cmd->data = NULL;
}


ngx_uint_t
ngx_http_harbor_redis_is_down(ngx_http_harbor_redis_t *rl)
{
    return rl->state == NGX_HTTP_HARBOR_REDIS_DOWN;
}


static void
ngx_http_harbor_redis_connect(ngx_http_harbor_redis_t *rl)
{
    ngx_uint_t                     level;
    ngx_connection_t              *c;
    redisAsyncContext             *ac;
    ngx_http_harbor_redis_conf_t  *conf;

    if (rl->exiting || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    conf = rl->conf;
    level = rl->down_logged ? NGX_LOG_DEBUG : NGX_LOG_ERR;

    if (conf->path != NULL) {
        ac = redisAsyncConnectUnix((char *) conf->path);

    } else {
        ac = redisAsyncConnect((char *) conf->host, conf->port);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ALERT, rl->log, 0,
                      "harbor: redisAsyncConnect(\"%V\") failed: no memory",
                      &conf->addr);
        ngx_http_harbor_redis_lost(rl);
        return;
    }

    if (ac->err) {
        ngx_log_error(level, rl->log, 0,
                      "harbor: cannot connect to redis \"%V\": %s",
                      &conf->addr, ac->errstr);
        rl->down_logged = 1;
        redisAsyncFree(ac);
        ngx_http_harbor_redis_lost(rl);
        return;
    }

    c = ngx_get_connection(ac->c.fd, rl->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_harbor_redis_lost(rl);
        return;
    }

    c->data = rl;
    c->read->handler = ngx_http_harbor_redis_handler;
    c->write->handler = ngx_http_harbor_redis_handler;
    c->read->log = rl->log;
    c->write->log = rl->log;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    rl->ac = ac;
    rl->c = c;
    rl->state = NGX_HTTP_HARBOR_REDIS_CONNECTING;

    ac->data = rl;
    ac->ev.data = rl;
    ac->ev.addRead = ngx_http_harbor_redis_add_read;
    ac->ev.delRead = ngx_http_harbor_redis_del_read;
    ac->ev.addWrite = ngx_http_harbor_redis_add_write;
    ac->ev.delWrite = ngx_http_harbor_redis_del_write;
    ac->ev.cleanup = ngx_http_harbor_redis_cleanup;

    /* this one also asks for the write event that reports the connect */
    redisAsyncSetConnectCallback(ac, ngx_http_harbor_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, ngx_http_harbor_redis_on_disconnect);

    rl->timer.cancelable = 1;
    ngx_add_timer(&rl->timer, conf->timeout);

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, rl->log, 0,
                   "harbor redis: connecting to \"%V\", fd:%d",
                   &conf->addr, c->fd);
}


/* outside hiredis callbacks only: the timer, or the worker's exit */

static void
ngx_http_harbor_redis_close(ngx_http_harbor_redis_t *rl)
{
    redisAsyncContext  *ac;

    ac = rl->ac;
    rl->ac = NULL;
    rl->closing = 1;

    /*
     * Replies owed come back NULL, cleanup() runs, then on_disconnect()
     * if the link had been up; for a link still connecting, nothing.
     */

    redisAsyncFree(ac);

    rl->closing = 0;

    ngx_http_harbor_redis_lost(rl);
}


static void
ngx_http_harbor_redis_lost(ngx_http_harbor_redis_t *rl)
{
    void                           *data;
    ngx_queue_t                    *q, *next;
    ngx_http_harbor_redis_cmd_t    *cmd;
    ngx_http_harbor_redis_done_pt   done;

    if (rl->state == NGX_HTTP_HARBOR_REDIS_DOWN && rl->ac == NULL
        && (rl->reconnect.timer_set || rl->exiting))
    {
        return;
    }

    rl->state = NGX_HTTP_HARBOR_REDIS_DOWN;
    rl->ac = NULL;
    rl->nsent = 0;

    if (rl->timer.timer_set) {
        ngx_del_timer(&rl->timer);
    }

    /* whoever waits is told now; misses stay for the next link */

    for (q = ngx_queue_head(&rl->pending);
         q != ngx_queue_sentinel(&rl->pending);
         q = next)
    {
        next = ngx_queue_next(q);
        cmd = ngx_queue_data(q, ngx_http_harbor_redis_cmd_t, queue);

        if (cmd->done == NULL) {
            continue;
        }

        ngx_queue_remove(q);
        done = cmd->done;
        data = cmd->data;
        ngx_http_harbor_redis_release(rl, cmd);

        if (!rl->exiting) {
            done(data, NGX_ERROR);
        }
    }

    if (rl->exiting || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    if (!rl->reconnect.timer_set) {
        ngx_add_timer(&rl->reconnect, rl->backoff);

        rl->backoff *= 2;

        if (rl->backoff > NGX_HTTP_HARBOR_REDIS_BACKOFF_MAX) {
            rl->backoff = NGX_HTTP_HARBOR_REDIS_BACKOFF_MAX;
        }
    }
}


static void
ngx_http_harbor_redis_flush(ngx_http_harbor_redis_t *rl)
{
    ngx_queue_t                  *q;
    ngx_http_harbor_redis_cmd_t  *cmd;

    while (rl->state == NGX_HTTP_HARBOR_REDIS_CONNECTED
           && !ngx_queue_empty(&rl->pending))
    {
        q = ngx_queue_head(&rl->pending);
        ngx_queue_remove(q);
        cmd = ngx_queue_data(q, ngx_http_harbor_redis_cmd_t, queue);

        if (ngx_http_harbor_redis_send(rl, cmd) != NGX_OK) {
            ngx_queue_insert_head(&rl->pending, q);
            return;
        }
    }
}


static ngx_int_t
ngx_http_harbor_redis_send(ngx_http_harbor_redis_t *rl,
    ngx_http_harbor_redis_cmd_t *cmd)
{
    int          argc;
    u_char       score[NGX_TIME_T_LEN], window[NGX_INT_T_LEN],
                 max[NGX_INT_T_LEN], *p;
    size_t       argvlen[11];
    ngx_str_t   *key;
    const char  *argv[11];

    key = cmd->op == NGX_HTTP_HARBOR_REDIS_FILL ? &rl->conf->fill_key
          : cmd->op == NGX_HTTP_HARBOR_REDIS_SERVED ? &rl->conf->served_key
          : &rl->conf->key;

    argv[1] = (const char *) key->data;
    argvlen[1] = key->len;

    if (cmd->op == NGX_HTTP_HARBOR_REDIS_MISS) {
        argv[0] = "EVAL";
        argvlen[0] = sizeof("EVAL") - 1;
        argv[1] = NGX_HTTP_HARBOR_REDIS_MISS_LUA;
        argvlen[1] = sizeof(NGX_HTTP_HARBOR_REDIS_MISS_LUA) - 1;
        argv[2] = "3";
        argvlen[2] = 1;
        argv[3] = (const char *) rl->conf->key.data;
        argvlen[3] = rl->conf->key.len;
        argv[4] = (const char *) rl->conf->misses_key.data;
        argvlen[4] = rl->conf->misses_key.len;
        argv[5] = (const char *) rl->conf->stats_key.data;
        argvlen[5] = rl->conf->stats_key.len;
        argv[6] = (const char *) cmd->line;
        argvlen[6] = cmd->len;

        /* the name: the line up to its time */
        p = ngx_strlcasestrn(cmd->line, cmd->line + cmd->len,
                             (u_char *) ",\"occurred_at\"", 14 - 1);
        argv[7] = (const char *) cmd->line;
        argvlen[7] = p != NULL ? (size_t) (p - cmd->line) : cmd->len;

        argv[8] = (const char *) score;
        argvlen[8] = ngx_sprintf(score, "%T", cmd->time) - score;
        argv[9] = (const char *) window;
        argvlen[9] = ngx_sprintf(window, "%d", NGX_HTTP_HARBOR_MISS_WINDOW)
                     - window;
        argv[10] = (const char *) max;
        argvlen[10] = ngx_sprintf(max, "%d", NGX_HTTP_HARBOR_MISS_MAX) - max;
        argc = 11;

    } else if (cmd->op == NGX_HTTP_HARBOR_REDIS_SERVED) {
        /* GT: an older report never moves a newer time back */
        argv[0] = "ZADD";
        argvlen[0] = sizeof("ZADD") - 1;
        argv[2] = "GT";
        argvlen[2] = sizeof("GT") - 1;
        argv[3] = (const char *) score;
        argvlen[3] = ngx_sprintf(score, "%T", cmd->time) - score;
        argv[4] = (const char *) cmd->line;
        argvlen[4] = cmd->len;
        argc = 5;

    } else {
        argv[0] = "RPUSH";
        argvlen[0] = sizeof("RPUSH") - 1;
        argv[2] = (const char *) cmd->line;
        argvlen[2] = cmd->len;
        argc = 3;
    }

    /* hiredis copies the command into its output buffer */

    if (redisAsyncCommandArgv(rl->ac, ngx_http_harbor_redis_reply, cmd, argc,
                              argv, argvlen)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    rl->nsent++;

    if (!rl->timer.timer_set) {
        rl->timer.cancelable = 0;
        ngx_add_timer(&rl->timer, rl->conf->timeout);
    }

    return NGX_OK;
}


static void
ngx_http_harbor_redis_release(ngx_http_harbor_redis_t *rl,
    ngx_http_harbor_redis_cmd_t *cmd)
{
    cmd->done = NULL;
    ngx_queue_insert_tail(&rl->free, &cmd->queue);
    rl->nfree++;
}


/*
 * All slots taken and someone waits for a line: a webhook event is worth
 * more than a miss hint (Harbor will not send it again once acknowledged,
 * a miss repeats by itself), so the oldest held miss gives its slot.
 */

static ngx_http_harbor_redis_cmd_t *
ngx_http_harbor_redis_evict(ngx_http_harbor_redis_t *rl)
{
    ngx_queue_t                  *q;
    ngx_http_harbor_redis_cmd_t  *cmd;

    for (q = ngx_queue_head(&rl->pending);
         q != ngx_queue_sentinel(&rl->pending);
         q = ngx_queue_next(q))
    {
        cmd = ngx_queue_data(q, ngx_http_harbor_redis_cmd_t, queue);

        if (cmd->done == NULL) {
            ngx_queue_remove(q);

            if (rl->conf->counters != NULL) {
                (void) ngx_atomic_fetch_add(&rl->conf->counters->dropped, 1);
            }

            return cmd;
        }
    }

    return NULL;
}


static void
ngx_http_harbor_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    void                              *data;
    ngx_int_t                          rc;
    ngx_uint_t                         level;
    redisReply                        *reply;
    ngx_http_harbor_redis_t           *rl;
    ngx_http_harbor_redis_cmd_t       *cmd;
    ngx_http_harbor_redis_done_pt      done;
    ngx_http_harbor_redis_counters_t  *counters;

    reply = r;
    cmd = privdata;
    rl = cmd->link;
    done = cmd->done;
    data = cmd->data;
    counters = rl->conf->counters;

    if (rl->nsent) {
        rl->nsent--;
    }

    if (reply == NULL) {

        /* the link is going away with this command unanswered */

        if (done == NULL && !rl->exiting) {
            ngx_queue_insert_tail(&rl->pending, &cmd->queue);
            return;
        }

        ngx_http_harbor_redis_release(rl, cmd);

        if (done != NULL && !rl->exiting) {
            done(data, NGX_ERROR);
        }

        return;
    }

    /* an answer, not just a connect, shows that Redis is really back */
    rl->backoff = NGX_HTTP_HARBOR_REDIS_BACKOFF_MIN;
    rl->down_logged = 0;

    if (reply->type == REDIS_REPLY_INTEGER) {
        rc = NGX_OK;
        rl->refused_logged = 0;

        /* the events family counts events; fills and reports are not */
        if (counters != NULL && cmd->op == NGX_HTTP_HARBOR_REDIS_EVENT) {
            (void) ngx_atomic_fetch_add(&counters->queued, 1);

        } else if (counters != NULL
                   && cmd->op == NGX_HTTP_HARBOR_REDIS_MISS)
        {
            (void) ngx_atomic_fetch_add(reply->integer > 0
                                        ? &counters->queued
                                        : reply->integer == 0
                                        ? &counters->coalesced
                                        : &counters->dropped, 1);
        }

    } else {
        rc = NGX_ERROR;
        level = rl->refused_logged ? NGX_LOG_DEBUG : NGX_LOG_ERR;

        ngx_log_error(level, rl->log, 0,
                      "harbor: redis \"%V\" refused %s \"%V\": %*s",
                      &rl->conf->addr,
                      cmd->op == NGX_HTTP_HARBOR_REDIS_SERVED ? "ZADD"
                      : cmd->op == NGX_HTTP_HARBOR_REDIS_MISS ? "EVAL"
                      : "RPUSH",
                      cmd->op == NGX_HTTP_HARBOR_REDIS_FILL
                      ? &rl->conf->fill_key
                      : cmd->op == NGX_HTTP_HARBOR_REDIS_SERVED
                      ? &rl->conf->served_key : &rl->conf->key,
                      reply->type == REDIS_REPLY_ERROR ? reply->len : 0,
                      reply->type == REDIS_REPLY_ERROR ? reply->str : "");

        rl->refused_logged = 1;

        if (done == NULL && counters != NULL) {
            (void) ngx_atomic_fetch_add(&counters->dropped, 1);
        }
    }

    ngx_http_harbor_redis_release(rl, cmd);

    /* progress: the watchdog starts again, or stops if nothing is owed */

    if (rl->nsent) {
        ngx_add_timer(&rl->timer, rl->conf->timeout);

    } else if (rl->timer.timer_set) {
        ngx_del_timer(&rl->timer);
    }

    if (done != NULL) {
        done(data, rc);
    }
}


static void
ngx_http_harbor_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_uint_t                level;
    ngx_http_harbor_redis_t  *rl;

    rl = ac->data;

    if (status != REDIS_OK) {
        level = rl->down_logged ? NGX_LOG_DEBUG : NGX_LOG_ERR;

        ngx_log_error(level, rl->log, 0,
                      "harbor: cannot connect to redis \"%V\": %s",
                      &rl->conf->addr, ac->c.errstr);
        rl->down_logged = 1;

        /* hiredis frees the context when this returns */
        rl->ac = NULL;
        ngx_http_harbor_redis_lost(rl);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, rl->log, 0,
                  "harbor: connected to redis \"%V\"", &rl->conf->addr);

    rl->state = NGX_HTTP_HARBOR_REDIS_CONNECTED;

    if (rl->timer.timer_set) {
        ngx_del_timer(&rl->timer);
    }

    ngx_http_harbor_redis_flush(rl);
}


static void
ngx_http_harbor_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_uint_t                level;
    ngx_http_harbor_redis_t  *rl;

    rl = ac->data;

    /* when we closed it, the reason is logged already */

    if (!rl->exiting && !rl->closing) {
        level = rl->down_logged ? NGX_LOG_DEBUG : NGX_LOG_WARN;

        ngx_log_error(level, rl->log, 0,
                      "harbor: lost the link to redis \"%V\": %s",
                      &rl->conf->addr,
                      ac->errstr ? ac->errstr : "closed");
        rl->down_logged = 1;
    }

    rl->ac = NULL;
    ngx_http_harbor_redis_lost(rl);
}


/*
 * Either event of the connection; hiredis may free the connection from
 * inside its callback (the cleanup hook), which is then only marked and
 * freed here on the way out.
 */

static void
ngx_http_harbor_redis_handler(ngx_event_t *ev)
{
    ngx_connection_t         *c;
    ngx_http_harbor_redis_t  *rl;

    c = ev->data;
    rl = c->data;

    if (rl->c != c || rl->ac == NULL) {
        return;
    }

    rl->entered = 1;

    if (ev->write) {
        redisAsyncHandleWrite(rl->ac);

    } else {
        redisAsyncHandleRead(rl->ac);
    }

    rl->entered = 0;

    if (rl->deleted) {
        rl->deleted = 0;
        ngx_free_connection(c);
    }
}


/*
 * The hooks.  Level-triggered on purpose: hiredis reads at most 16k per
 * call and relies on being called again while data is left.
 */

static void
ngx_http_harbor_redis_add_read(void *privdata)
{
    ngx_http_harbor_redis_event(privdata, NGX_READ_EVENT, 1);
}


static void
ngx_http_harbor_redis_del_read(void *privdata)
{
    ngx_http_harbor_redis_event(privdata, NGX_READ_EVENT, 0);
}


static void
ngx_http_harbor_redis_add_write(void *privdata)
{
    ngx_http_harbor_redis_event(privdata, NGX_WRITE_EVENT, 1);
}


static void
ngx_http_harbor_redis_del_write(void *privdata)
{
    ngx_http_harbor_redis_event(privdata, NGX_WRITE_EVENT, 0);
}


/* idempotent, as hiredis asks of its hooks */

static void
ngx_http_harbor_redis_event(ngx_http_harbor_redis_t *rl, ngx_int_t event,
    ngx_uint_t add)
{
    ngx_event_t  *ev;

    if (rl->c == NULL) {
        return;
    }

    ev = (event == NGX_READ_EVENT) ? rl->c->read : rl->c->write;

    if (!add) {
        if (ev->active) {
            (void) ngx_del_event(ev, event, 0);
        }

        return;
    }

    if (!ev->active && ngx_add_event(ev, event, NGX_LEVEL_EVENT) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, rl->log, 0,
                      "harbor: adding the redis %s event failed",
                      (event == NGX_READ_EVENT) ? "read" : "write");
    }
}


static void
ngx_http_harbor_redis_cleanup(void *privdata)
{
    ngx_connection_t         *c;
    ngx_http_harbor_redis_t  *rl = privdata;

    c = rl->c;

    if (c == NULL) {
        return;
    }

    rl->c = NULL;

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    /* redisFree() closes the fd next, which takes it out of epoll */

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    /* events of this fd still queued in this cycle are seen as stale */
    c->fd = (ngx_socket_t) -1;

    if (rl->entered) {
        rl->deleted = 1;
        return;
    }

    ngx_free_connection(c);
}


static void
ngx_http_harbor_redis_reconnect_handler(ngx_event_t *ev)
{
    ngx_http_harbor_redis_t  *rl;

    rl = ev->data;

    if (rl->ac != NULL || rl->exiting) {
        return;
    }

    ngx_http_harbor_redis_connect(rl);
}


static void
ngx_http_harbor_redis_timer_handler(ngx_event_t *ev)
{
    ngx_uint_t                level;
    ngx_http_harbor_redis_t  *rl;

    rl = ev->data;

    if (rl->ac == NULL) {
        return;
    }

    if (rl->state == NGX_HTTP_HARBOR_REDIS_CONNECTING) {
        level = rl->down_logged ? NGX_LOG_DEBUG : NGX_LOG_ERR;

        ngx_log_error(level, rl->log, 0,
                      "harbor: connect to redis \"%V\" timed out",
                      &rl->conf->addr);

    } else {
        level = rl->down_logged ? NGX_LOG_DEBUG : NGX_LOG_ERR;

        ngx_log_error(level, rl->log, 0,
                      "harbor: redis \"%V\" sent no reply in %M ms, "
                      "reconnecting", &rl->conf->addr, rl->conf->timeout);
    }

    rl->down_logged = 1;

    ngx_http_harbor_redis_close(rl);
}
