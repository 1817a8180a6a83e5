/*
 * cache.c: eviction passes, in the daemon and on the command line (see
 * cache.h).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "cache.h"
#include "exec.h"
#include "exec_redis.h"
#include "redis_addr.h"

#define HR_CACHE_ASK        500         /* digests per ZMSCORE */
#define HR_CACHE_ASK_MS     3000        /* served times wait no longer */


struct hr_cache_s {
    hr_ctx_t     *ctx;
    hr_queue_t   *q;
    long long     timer;
    int           running;
    int           warned;           /* pinned over the budget, said once */
};

/* One pass: the job's data. */
typedef struct {
    hr_cache_t   *c;                /* NULL on the command line */
    hr_ctx_t     *ctx;
    hr_config_t  *cf;
    hr_evict_t   *ev;
    int           dry_run;
    void         *ask;              /* the ZMSCORE waiting for its answer */
    size_t        ask_off;          /* its first candidate */
    size_t        ask_n;
    int           rc;
    hr_job_t     *job;
    char          err[HR_ERR_LEN];
    hr_evict_stats_t  st;
} hr_cpass_t;


static long hr_cache_timer(hr_loop_t *loop, long long id, void *data);
static void hr_cache_job(hr_job_t *j);
static void hr_cache_job_done(hr_job_t *j);
static void hr_cache_ask(hr_cpass_t *cp, hr_job_t *j);
static void hr_cache_answer(void *data, void *reply);
static void hr_cache_scores(hr_evict_t *ev, const char **digests, size_t n,
    redisReply *r);
static size_t hr_cache_argv(hr_cpass_t *cp, size_t off, const char **argv,
    size_t *argvlen, char *key, size_t keylen);
static void hr_cache_redis_sync(hr_cpass_t *cp);
static void hr_cache_save(hr_cpass_t *cp);
static char *hr_cache_key(const char *queue, char *buf, size_t len);


static char *
hr_cache_key(const char *queue, char *buf, size_t len)
{
    snprintf(buf, len, "%s:served", queue ? queue : HR_QUEUE_NAME);

    return buf;
}


hr_cache_t *
hr_cache_create(hr_ctx_t *ctx, hr_queue_t *q, char *err, size_t errlen)
{
    hr_cache_t  *c;

    c = calloc(1, sizeof(hr_cache_t));
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    c->ctx = ctx;
    c->q = q;

    /* the first pass soon after the start: a budget cut while down */
    c->timer = hr_loop_add_timer(ctx->loop, 1000, hr_cache_timer, c);

    return c;
}


void
hr_cache_free(hr_cache_t *c)
{
    if (c == NULL) {
        return;
    }

    if (c->timer > 0) {
        hr_loop_del_timer(c->ctx->loop, c->timer);
    }

    free(c);
}


static long
hr_cache_timer(hr_loop_t *loop, long long id, void *data)
{
    char         err[256];
    hr_cache_t  *c = data;
    hr_cpass_t  *cp;

    /* the configuration of now: a reload may have set or changed it */
    if (c->ctx->cf->cache_max > 0 && !c->running) {
        cp = calloc(1, sizeof(hr_cpass_t));

        if (cp != NULL) {
            cp->c = c;
            cp->ctx = c->ctx;
            cp->cf = hr_config_hold(c->ctx->cf);

            if (hr_engine_spawn(c->ctx->engine, HR_PRIO_SCHEDULE, "eviction",
                                hr_cache_job, hr_cache_job_done, cp, err,
                                sizeof(err))
                == NULL)
            {
                hr_log(&c->ctx->log, HR_LOG_ERROR, "evict: %s", err);
                hr_config_release(cp->cf);
                free(cp);

            } else {
                c->running = 1;
            }
        }
    }

    return (long) c->ctx->cf->cache_interval * 1000;
}


static void
hr_cache_job(hr_job_t *j)
{
    size_t        n, i;
    char          key[256];
    const char  **removed, *argv[HR_CACHE_ASK + 2];
    size_t        argvlen[HR_CACHE_ASK + 2];
    hr_cpass_t   *cp;

    cp = j->data;
    cp->job = j;

    cp->ev = hr_evict_scan(cp->ctx, j, cp->err, sizeof(cp->err));
    if (cp->ev == NULL) {
        cp->rc = -1;
        return;
    }

    /* the served times: asked on the loop, or at once on the command line */
    if (cp->cf->redis != NULL) {
        if (cp->c != NULL && cp->c->q != NULL) {
            hr_cache_ask(cp, j);

        } else {
            hr_cache_redis_sync(cp);
        }
    }

    if (hr_job_stopping(j)) {
        cp->rc = -1;
        snprintf(cp->err, sizeof(cp->err), "stopped");
        return;
    }

    cp->rc = hr_evict_apply(cp->ev, cp->cf->cache_max, cp->cf->cache_low,
                            cp->dry_run, &cp->st, cp->err, sizeof(cp->err));

    if (cp->rc == 0 && !cp->dry_run) {
        hr_cache_save(cp);

        /* what went is forgotten in the served set */
        removed = hr_evict_removed(cp->ev, &n);

        if (n > 0 && cp->c != NULL && cp->c->q != NULL) {
            argv[0] = "ZREM";
            argv[1] = hr_cache_key(cp->cf->redis_queue, key, sizeof(key));

            for (i = 0; i < n; i++) {
                argv[2 + i % HR_CACHE_ASK] = removed[i];

                if (i % HR_CACHE_ASK == HR_CACHE_ASK - 1 || i == n - 1) {
                    size_t  k, m = i % HR_CACHE_ASK + 3;

                    for (k = 0; k < m; k++) {
                        argvlen[k] = strlen(argv[k]);
                    }

                    (void) hr_queue_command(cp->c->q, 1, (int) m, argv,
                                            argvlen);
                }
            }
        }

        if (cp->c != NULL && cp->c->q != NULL && cp->st.evicted > 0) {
            hr_exec_redis_count(cp->c->q, "evictions", cp->st.evicted);
            hr_exec_redis_count(cp->c->q, "evicted_bytes", cp->st.freed);
        }
    }
}


static void
hr_cache_job_done(hr_job_t *j)
{
    hr_cpass_t        *cp;
    hr_evict_stats_t  *st;

    cp = j->data;
    st = &cp->st;

    if (cp->rc == -1) {
        hr_log(&cp->ctx->log, HR_LOG_ERROR, "evict: %s", cp->err);

    } else if (st->evicted > 0) {
        hr_log(&cp->ctx->log, HR_LOG_INFO, "evict: %lld evicted, %lld blobs, "
               "%lld bytes freed; the store holds %lld bytes (budget %lld, "
               "pinned %lld)", st->evicted, st->blobs, st->freed, st->total,
               st->max, st->pinned);
    }

    if (cp->c != NULL) {
        if (st->over_pinned && !cp->c->warned) {
            hr_log(&cp->ctx->log, HR_LOG_WARN, "evict: pinned content alone "
                   "takes %lld bytes, over the budget of %lld: nothing "
                   "pinned is evicted", st->pinned, st->max);
        }

        cp->c->warned = st->over_pinned;
        cp->c->running = 0;
    }

    hr_evict_free(cp->ev);
    cp->ev = NULL;

    if (cp->c != NULL) {
        hr_config_release(cp->cf);
        free(cp);
    }
}


/* ZMSCORE <queue>:served D1 D2 ... for the candidates from off on. */
static size_t
hr_cache_argv(hr_cpass_t *cp, size_t off, const char **argv,
    size_t *argvlen, char *key, size_t keylen)
{
    size_t        n, m, k;
    const char  **d;

    d = hr_evict_candidates(cp->ev, &n);
    m = n - off < HR_CACHE_ASK ? n - off : HR_CACHE_ASK;

    argv[0] = "ZMSCORE";
    argv[1] = hr_cache_key(cp->cf->redis_queue, key, keylen);

    for (k = 0; k < m; k++) {
        argv[2 + k] = d[off + k];
    }

    for (k = 0; k < m + 2; k++) {
        argvlen[k] = strlen(argv[k]);
    }

    return m;
}


/*
 * The served times, one ZMSCORE at a time over the queue's connection;
 * each answer wakes the job.  Redis away or slow: the pass goes on with
 * the times content was cached.
 */
static void
hr_cache_ask(hr_cpass_t *cp, hr_job_t *j)
{
    char         key[256];
    size_t       n, m;
    const char  *argv[HR_CACHE_ASK + 2];
    size_t       argvlen[HR_CACHE_ASK + 2];
    time_t       until;

    (void) hr_evict_candidates(cp->ev, &n);
    until = time(NULL) + HR_CACHE_ASK_MS / 1000;

    for (cp->ask_off = 0; cp->ask_off < n; cp->ask_off += m) {
        m = hr_cache_argv(cp, cp->ask_off, argv, argvlen, key, sizeof(key));
        cp->ask_n = m;

        cp->ask = hr_queue_ask(cp->c->q, (int) (m + 2), argv, argvlen,
                               hr_cache_answer, cp);

        while (cp->ask != NULL && time(NULL) <= until
               && !hr_job_stopping(j))
        {
            hr_job_sleep(j, 200);
        }

        if (cp->ask != NULL) {
            hr_queue_forget(cp->c->q, cp->ask);
            cp->ask = NULL;
            hr_log(&cp->ctx->log, HR_LOG_WARN, "evict: Redis did not say "
                   "when content was served; evicting by the time it was "
                   "cached");
            return;
        }
    }
}


static void
hr_cache_answer(void *data, void *reply)
{
    size_t         n;
    hr_cpass_t    *cp = data;
    const char   **d;

    d = hr_evict_candidates(cp->ev, &n);

    hr_cache_scores(cp->ev, d + cp->ask_off, cp->ask_n, reply);

    cp->ask = NULL;
    hr_job_wake(cp->job);
}


/* A ZMSCORE reply: each element the score of the same digest, or nil. */
static void
hr_cache_scores(hr_evict_t *ev, const char **digests, size_t n,
    redisReply *r)
{
    size_t  k;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != n) {
        return;
    }

    for (k = 0; k < n; k++) {
        if (r->element[k]->type == REDIS_REPLY_STRING) {
            hr_evict_served(ev, digests[k],
                            (time_t) strtoll(r->element[k]->str, NULL, 10));
        }
    }
}


/* The command line's way: one blocking connection, as `status` does. */
static void
hr_cache_redis_sync(hr_cpass_t *cp)
{
    char           err[256], key[256];
    size_t         n, off, m;
    redisReply    *r;
    const char   **d, *argv[HR_CACHE_ASK + 2];
    size_t         argvlen[HR_CACHE_ASK + 2];
    redisContext  *rc;

    rc = hr_redis_connect(cp->cf->redis, 2000, err, sizeof(err));
    if (rc == NULL) {
        hr_log(&cp->ctx->log, HR_LOG_WARN, "evict: %s; evicting by the time "
               "content was cached", err);
        return;
    }

    d = hr_evict_candidates(cp->ev, &n);

    for (off = 0; off < n; off += m) {
        m = hr_cache_argv(cp, off, argv, argvlen, key, sizeof(key));

        r = redisCommandArgv(rc, (int) (m + 2), argv, argvlen);
        hr_cache_scores(cp->ev, d + off, m, r);
        freeReplyObject(r);
    }

    redisFree(rc);
}


/* STATE/cache.json: the figures `status` and `metrics` show. */
static void
hr_cache_save(hr_cpass_t *cp)
{
    char               err[256], path[4200], *text;
    json_t            *js;
    hr_evict_stats_t  *st;

    st = &cp->st;

    js = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                   "s:b}",
                   "time", (json_int_t) time(NULL),
                   "total_bytes", (json_int_t) st->total,
                   "pinned_bytes", (json_int_t) st->pinned,
                   "cached_bytes", (json_int_t) st->cached,
                   "max_bytes", (json_int_t) st->max,
                   "target_bytes", (json_int_t) st->target,
                   "evicted", (json_int_t) st->evicted,
                   "evicted_bytes", (json_int_t) st->freed,
                   "blobs_removed", (json_int_t) st->blobs,
                   "skipped_in_use", (json_int_t) st->skipped,
                   "pinned_over_budget", st->over_pinned);

    text = js != NULL ? json_dumps(js, JSON_COMPACT) : NULL;
    json_decref(js);

    if (text == NULL) {
        return;
    }

    snprintf(path, sizeof(path), "%s/%s", cp->ctx->store.state,
             HR_CACHE_FIGURES);

    if (hr_store_write_file(&cp->ctx->store, path, text, strlen(text), err,
                            sizeof(err))
        == -1)
    {
        hr_log(&cp->ctx->log, HR_LOG_WARN, "evict: %s", err);
    }

    free(text);
}


json_t *
hr_cache_figures(const char *state)
{
    return hr_store_read_object(state, HR_CACHE_FIGURES, 65536);
}


int
hr_cache_evict(hr_ctx_t *ctx, int dry_run, char *err, size_t errlen)
{
    int                lease;
    hr_cpass_t         cp;
    hr_evict_stats_t  *st;

    /* exclusive of replication, as gc: a run may be about to link a blob */
    lease = hr_exec_lease(ctx, 1, 1, err, errlen);
    if (lease == -1) {
        return -1;
    }

    memset(&cp, 0, sizeof(cp));
    cp.ctx = ctx;
    cp.cf = ctx->cf;
    cp.dry_run = dry_run;

    if (hr_engine_spawn(ctx->engine, HR_PRIO_SCHEDULE, "eviction",
                        hr_cache_job, hr_cache_job_done, &cp, err, errlen)
        == NULL)
    {
        close(lease);
        return -1;
    }

    while (hr_engine_jobs(ctx->engine, -1) > 0) {
        if (hr_engine_turn(ctx->engine, 1000) == -1) {
            break;
        }
    }

    close(lease);

    if (cp.rc == -1) {
        snprintf(err, errlen, "%s", cp.err);
        return -1;
    }

    st = &cp.st;

    printf("%s%lld evicted, %lld blobs, %lld bytes freed\n"
           "store: %lld bytes (pinned %lld, cached %lld); budget %lld, "
           "evicting down to %lld%s\n",
           dry_run ? "dry run: would be " : "", st->evicted, st->blobs,
           st->freed, st->total, st->pinned, st->cached, st->max, st->target,
           st->over_pinned ? "; pinned content alone is over the budget"
                           : "");

    return 0;
}
