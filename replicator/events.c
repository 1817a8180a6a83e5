/*
 * events.c: what the daemon does with each event from the queue (see
 * events.h): which policies it concerns, a job of the engine per event,
 * and the acknowledgement of its lines when the job is done.
 *
 * The copy itself is the engine's (plan.c), the one every policy run
 * uses: the same walk (index children, cosign tags, referrers), the same
 * integrity rule, the same record.  A blob a client missed is linked into
 * a repository only when the primary serves it from that repository: a
 * blob already in the store for another repository is never linked on a
 * client's say-so, or a private repository's layer could be read through a
 * public one.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "events.h"
#include "exec.h"
#include "exec_redis.h"
#include "plan.h"
#include "policy.h"
#include "queue.h"

#define HR_EV_RETRY_MS      1000

/*
 * The primary's 404s for misses, remembered for HR_EV_NEG_MS: a name it
 * does not have is not asked for again at every client's request.  A
 * direct-mapped table: a collision forgets the older entry, so the worst
 * case is one lookup more.
 */
#define HR_EV_NEG_SIZE      1024
#define HR_EV_NEG_MS        (5 * 60 * 1000)

typedef struct {
    uint64_t      key;              /* 0: empty */
    long long     expires;          /* monotonic ms */
} hr_ev_neg_t;


struct hr_events_s {
    hr_ctx_t     *ctx;
    hr_queue_t   *q;
    unsigned      seq;
    long long     coalesced;        /* last count sent to the stats */
    size_t        running;          /* event jobs alive */
    long long     last_ok;          /* monotonic ms the primary last
                                       answered an event's copy */
    time_t        down_since;       /* events failed as the primary
                                       seemed down, since; 0: none */
    hr_ev_neg_t   neg[HR_EV_NEG_SIZE];
};

/* One event being handled: the job's data. */
typedef struct {
    hr_events_t  *ev;
    hr_qitem_t   *it;
    hr_config_t  *cf;               /* held for the job's life */
    int           rc;
    int           permanent;
    long long     t0;               /* monotonic ms the job started */
    char          what[512];
    char          err[HR_ERR_LEN];
} hr_evjob_t;


static void hr_events_job(hr_job_t *j);
static void hr_events_job_done(hr_job_t *j);
static int hr_events_push(hr_evjob_t *ej);
static int hr_events_delete(hr_evjob_t *ej);
static int hr_events_miss(hr_evjob_t *ej);
static int hr_events_preheat(hr_evjob_t *ej);
static int hr_events_filter(hr_policy_t *p, const hr_event_t *e);
static int hr_events_copy(hr_evjob_t *ej, hr_policy_t *p,
    hr_plan_req_t *rq, const char *counter);
static json_t *hr_events_json(hr_evjob_t *ej);
static long long hr_events_now(void);
static void hr_events_printable(const char *in, char *out, size_t outlen);
static void hr_events_count(hr_events_t *ev, const char *field, long long n);
static hr_ev_neg_t *hr_events_neg(hr_events_t *ev, const hr_event_t *e,
    uint64_t *key);
static void hr_events_requeue(hr_events_t *ev);


static long long
hr_events_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* A line from the queue, fit for the log: no control or 8-bit bytes. */
static void
hr_events_printable(const char *in, char *out, size_t outlen)
{
    size_t  i;

    for (i = 0; in[i] != '\0' && i + 1 < outlen; i++) {
        out[i] = ((unsigned char) in[i] < 0x20
                  || (unsigned char) in[i] >= 0x7f) ? '?' : in[i];
    }

    out[i] = '\0';
}


hr_events_t *
hr_events_start(hr_ctx_t *ctx, char *err, size_t errlen)
{
    hr_events_t  *ev;

    if (ctx->cf->redis == NULL) {
        snprintf(err, errlen, "redis: not configured");
        return NULL;
    }

    ev = calloc(1, sizeof(hr_events_t));
    if (ev == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    ev->ctx = ctx;

    ev->q = hr_queue_create(ctx->loop, &ctx->log, ctx->cf->redis,
                            ctx->cf->redis_queue, err, errlen);
    if (ev->q == NULL) {
        free(ev);
        return NULL;
    }

    hr_log(&ctx->log, HR_LOG_INFO, "events: taking events from %s in redis "
           "%s", hr_queue_name(ev->q), ctx->cf->redis);

    return ev;
}


hr_queue_t *
hr_events_queue(hr_events_t *ev)
{
    return ev->q;
}


size_t
hr_events_running(hr_events_t *ev)
{
    return ev != NULL ? ev->running : 0;
}


void
hr_events_stop(hr_events_t *ev)
{
    long long  until;

    if (ev == NULL) {
        return;
    }

    /* acknowledgements and records still in the outbox get 2 s */
    until = hr_events_now() + 2000;

    while (hr_queue_unacked(ev->q) > 0 && hr_queue_connected(ev->q)
           && hr_events_now() < until)
    {
        if (hr_engine_turn(ev->ctx->engine, 100) == -1) {
            break;
        }
    }

    if (hr_queue_unacked(ev->q) > 0) {
        hr_log(&ev->ctx->log, HR_LOG_WARN, "events: %zu command(s) not "
               "acknowledged by redis; their events run again at the next "
               "start", hr_queue_unacked(ev->q));
    }

    hr_queue_free(ev->q);
    free(ev);
}


static void
hr_events_count(hr_events_t *ev, const char *field, long long n)
{
    hr_exec_redis_count(ev->q, field, n);
}


long
hr_events_dispatch(hr_events_t *ev)
{
    char                what[512], err[HR_ERR_LEN];
    hr_qitem_t         *it;
    hr_evjob_t         *ej;
    hr_queue_stats_t    st;

    hr_queue_get_stats(ev->q, &st);

    if (st.coalesced != ev->coalesced) {
        hr_events_count(ev, "coalesced", st.coalesced - ev->coalesced);
        ev->coalesced = st.coalesced;
    }

    if (hr_loop_term(ev->ctx->loop)) {
        return -1;
    }

    while (ev->running < HR_EVENTS_JOBS) {
        it = hr_queue_take(ev->q);
        if (it == NULL) {
            break;
        }

        if (it->attempts == 0) {
            hr_events_count(ev, "events", (long long) it->nlines);
        }

        if (it->bad) {
            hr_events_printable(it->lines[0], what, 201);
            hr_log(&ev->ctx->log, HR_LOG_WARN, "events: malformed event (%s),"
                   " moved to %s:failed: %s", it->err, hr_queue_name(ev->q),
                   what);
            hr_events_count(ev, "malformed", (long long) it->nlines);
            hr_queue_fail(ev->q, it, it->err);
            continue;
        }

        ej = calloc(1, sizeof(hr_evjob_t));
        if (ej == NULL) {
            hr_queue_retry(ev->q, it, HR_EV_RETRY_MS);
            break;
        }

        ej->ev = ev;
        ej->it = it;
        ej->cf = hr_config_hold(ev->ctx->cf);
        hr_event_describe(&it->ev, ej->what, sizeof(ej->what));

        if (hr_engine_spawn(ev->ctx->engine, HR_PRIO_EVENT, ej->what,
                            hr_events_job, hr_events_job_done, ej, err,
                            sizeof(err))
            == NULL)
        {
            hr_log(&ev->ctx->log, HR_LOG_ERROR, "events: %s: %s", ej->what,
                   err);
            hr_config_release(ej->cf);
            free(ej);
            hr_queue_retry(ev->q, it, HR_EV_RETRY_MS);
            break;
        }

        ev->running++;
    }

    return hr_queue_next_ms(ev->q);
}


/* The job: 0 done; -1 failed (err), permanent when a retry cannot help. */
static void
hr_events_job(hr_job_t *j)
{
    int          lease;
    hr_evjob_t  *ej;

    ej = j->data;
    ej->t0 = hr_events_now();

    /* shared with other runs, exclusive of gc: as a policy run */
    lease = hr_exec_lease(ej->ev->ctx, 0, 1, ej->err, sizeof(ej->err));
    if (lease == -1) {
        ej->rc = -1;
        return;
    }

    switch (ej->it->ev.kind) {

    case HR_EVENT_PUSH:
        ej->rc = hr_events_push(ej);
        break;

    case HR_EVENT_DELETE:
        ej->rc = hr_events_delete(ej);
        break;

    case HR_EVENT_PREHEAT:
        ej->rc = hr_events_preheat(ej);
        break;

    default:
        ej->rc = hr_events_miss(ej);
        break;
    }

    close(lease);
}


/* In the scheduler: the event's lines are acknowledged, failed or retried. */
static void
hr_events_job_done(hr_job_t *j)
{
    long          ms;
    hr_evjob_t   *ej;
    hr_events_t  *ev;
    hr_qitem_t   *it;

    ej = j->data;
    ev = ej->ev;
    it = ej->it;
    ev->running--;

    if (ej->rc == 0) {
        hr_queue_done(ev->q, it);

        if (ev->down_since != 0 && ev->last_ok >= ej->t0) {
            hr_events_requeue(ev);
        }

    } else if (hr_job_stopping(j)) {
        /* stopped half-way: the line stays in processing, done next start */
        hr_log(&ev->ctx->log, HR_LOG_INFO, "events: %s interrupted by a "
               "signal; it runs again at the next start", ej->what);
        hr_queue_retry(ev->q, it, 0);

    } else {
        it->attempts++;

        if (ej->permanent || it->attempts >= HR_EVENTS_ATTEMPTS) {
            hr_log(&ev->ctx->log, HR_LOG_ERROR, "events: %s failed %d "
                   "time(s), moved to %s:failed: %s", ej->what, it->attempts,
                   hr_queue_name(ev->q), ej->err);
            hr_events_count(ev, "failed", (long long) it->nlines);

            /*
             * no event reached the primary during the last attempt: it
             * seems down, and this one is worth another try once it is
             * back (a failure of its own is not: others succeed meanwhile)
             */
            if (!ej->permanent && ev->last_ok < ej->t0
                && ev->down_since == 0)
            {
                ev->down_since = time(NULL);
            }

            hr_queue_fail(ev->q, it, ej->err);

        } else {
            ms = HR_EV_RETRY_MS << (it->attempts - 1);

            hr_log(&ev->ctx->log, HR_LOG_WARN, "events: %s: %s; retry %d in "
                   "%ldms", ej->what, ej->err, it->attempts, ms);
            hr_events_count(ev, "retried", 1);
            hr_queue_retry(ev->q, it, ms);
        }
    }

    hr_config_release(ej->cf);
    free(ej);
}


/*
 * The policy's tag and label filters on the event's artifact.  Returns -1
 * when filtered out, 1 when the tag passes, 0 when the artifact is kept
 * untagged (by digest).  A webhook carries no labels: a policy with a
 * label filter that must match drops the event, as Harbor does for an
 * artifact without the label.
 */
static int
hr_events_filter(hr_policy_t *p, const hr_event_t *e)
{
    size_t          keep[1];
    const char     *tags[1];
    hr_artifact_t   a;

    memset(&a, 0, sizeof(a));
    a.digest = e->digest[0] ? e->digest : NULL;

    if (e->tag[0] != '\0') {
        tags[0] = e->tag;
        a.tags = tags;
        a.ntags = 1;
    }

    return hr_policy_filter_artifact(p, &a, keep);
}


/* What the record says of the event that caused it. */
static json_t *
hr_events_json(hr_evjob_t *ej)
{
    hr_qitem_t  *it;

    it = ej->it;

    return json_pack("{s:s, s:s, s:I, s:i, s:I, s:I}",
                     "what", ej->what,
                     "source", it->ev.source[0] ? it->ev.source : "edge",
                     "lines", (json_int_t) it->nlines,
                     "attempt", it->attempts + 1,
                     "waited_ms", (json_int_t) (ej->t0 - it->taken),
                     "occurred_at", (json_int_t) it->ev.occurred_at);
}


/*
 * One execution of the engine for the event under p; its record goes to
 * Redis.  Returns 0, 1 when the primary does not have it (404), -1 on a
 * failure (ej->err).
 */
static int
hr_events_copy(hr_evjob_t *ej, hr_policy_t *p, hr_plan_req_t *rq,
    const char *counter)
{
    int             rc;
    char            err[HR_ERR_LEN], rerr[256];
    hr_events_t    *ev;
    hr_plan_res_t   res;

    ev = ej->ev;
    rq->cf = ej->cf;
    rq->p = p;
    rq->event = hr_events_json(ej);

    rc = hr_plan_execute(ev->ctx, rq, &res, err, sizeof(err));

    json_decref(rq->event);
    rq->event = NULL;

    if (res.rec != NULL) {
        json_object_set_new(res.rec, "id",
                            json_integer(hr_exec_redis_id(&ev->seq)));

        if (hr_exec_redis_put(ev->q, res.rec, rerr, sizeof(rerr)) == -1) {
            hr_log(&ev->ctx->log, HR_LOG_WARN, "events: %s", rerr);
        }

        json_decref(res.rec);
    }

    /* the primary answered: for the requeue of what failed while down */
    if (rc == 0 || res.notfound) {
        ev->last_ok = hr_events_now();
    }

    if (rc == 0) {
        hr_log(&ev->ctx->log, HR_LOG_INFO, "events: %s: policy \"%s\" (%s) "
               "Succeed, %lldms", ej->what, p->name, rq->trigger,
               hr_events_now() - ej->t0);
        hr_events_count(ev, counter, 1);
        return 0;
    }

    if (res.notfound) {
        /* a client asked for what the primary does not have either */
        hr_log(&ev->ctx->log, HR_LOG_INFO, "events: %s: not on the primary "
               "either (%s)", ej->what, err);
        hr_events_count(ev, "not_found", 1);
        return 1;
    }

    snprintf(ej->err, sizeof(ej->err), "policy \"%.100s\": %.380s", p->name,
             err);
    hr_log(&ev->ctx->log, HR_LOG_ERROR, "events: %s: policy \"%s\" (%s) "
           "Failed: %s", ej->what, p->name, rq->trigger, err);

    return -1;
}


static int
hr_events_push(hr_evjob_t *ej)
{
    int             kept, failed, matched;
    size_t          i;
    hr_event_t     *e;
    hr_policy_t    *p;
    hr_plan_req_t   rq;

    e = &ej->it->ev;
    failed = 0;
    matched = 0;

    for (i = 0; i < ej->cf->npolicies; i++) {
        p = &ej->cf->policies[i];

        if (!p->enabled || p->trigger != HR_TRIGGER_EVENT
            || !hr_policy_match_repo(p, e->repository))
        {
            continue;
        }

        kept = hr_events_filter(p, e);
        if (kept < 0) {
            continue;
        }

        matched++;

        /* a tag is copied as it is now on the primary; untagged by digest */
        memset(&rq, 0, sizeof(rq));
        rq.trigger = "event_based";
        rq.repo = e->repository;
        rq.ref = kept == 1 ? e->tag : e->digest;

        if (hr_events_copy(ej, p, &rq, "copied") == -1) {
            failed++;
        }
    }

    if (matched == 0) {
        hr_log(&ej->ev->ctx->log, HR_LOG_DEBUG, "events: push %s: no enabled "
               "event_based policy takes it", e->repository);
        hr_events_count(ej->ev, "ignored_events", 1);
    }

    return failed ? -1 : 0;
}


static int
hr_events_delete(hr_evjob_t *ej)
{
    int             failed, matched;
    size_t          i;
    hr_event_t     *e;
    hr_policy_t    *p;
    hr_plan_req_t   rq;

    e = &ej->it->ev;
    failed = 0;
    matched = 0;

    for (i = 0; i < ej->cf->npolicies; i++) {
        p = &ej->cf->policies[i];

        if (!p->enabled || p->trigger != HR_TRIGGER_EVENT
            || !hr_policy_match_repo(p, e->repository)
            || hr_events_filter(p, e) < 0)
        {
            continue;
        }

        if (!p->deletion) {
            /* Harbor's "Delete remote resources when locally deleted" */
            hr_log(&ej->ev->ctx->log, HR_LOG_INFO, "events: %s: policy "
                   "\"%s\" has deletion off; the edge keeps it", ej->what,
                   p->name);
            continue;
        }

        matched++;

        memset(&rq, 0, sizeof(rq));
        rq.trigger = "event_based";
        rq.repo = e->repository;
        rq.deleted = e->digest;
        rq.ref = e->tag[0] != '\0' ? e->tag : NULL;

        if (hr_events_copy(ej, p, &rq, "deleted") == -1) {
            failed++;
        }
    }

    if (matched == 0) {
        hr_log(&ej->ev->ctx->log, HR_LOG_INFO, "events: %s: no enabled "
               "event_based policy with deletion on takes it; dropped",
               ej->what);
        hr_events_count(ej->ev, "ignored_events", 1);
    }

    return failed ? -1 : 0;
}


/*
 * The primary answers again: the events that failed every attempt while it
 * seemed down (in <queue>:failed since down_since, with all their
 * attempts) go back to the queue, once; counted as requeued_failed.
 */
static void
hr_events_requeue(hr_events_t *ev)
{
    char         failed[512], stats[512], since[32], attempts[32];
    size_t       argvlen[8];
    size_t       i;
    const char  *argv[8];

    snprintf(failed, sizeof(failed), "%s:failed", hr_queue_name(ev->q));
    snprintf(stats, sizeof(stats), "%s:stats", hr_queue_name(ev->q));
    snprintf(since, sizeof(since), "%lld", (long long) ev->down_since);
    snprintf(attempts, sizeof(attempts), "%d", HR_EVENTS_ATTEMPTS);

    argv[0] = "EVAL";
    argv[1] = "local n = 0 "
              "for _, e in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do "
              "local ok, r = pcall(cjson.decode, e) "
              "if ok and type(r) == 'table' and type(r.line) == 'string' "
              "and not r.line_sanitized "
              "and tonumber(r.failed_at or 0) >= tonumber(ARGV[1]) "
              "and tonumber(r.attempts or 0) >= tonumber(ARGV[2]) then "
              "redis.call('LREM', KEYS[1], 1, e) "
              "redis.call('RPUSH', KEYS[2], r.line) n = n + 1 end end "
              "if n > 0 then "
              "redis.call('HINCRBY', KEYS[3], 'requeued_failed', n) end "
              "return n";
    argv[2] = "3";
    argv[3] = failed;
    argv[4] = hr_queue_name(ev->q);
    argv[5] = stats;
    argv[6] = since;
    argv[7] = attempts;

    for (i = 0; i < 8; i++) {
        argvlen[i] = strlen(argv[i]);
    }

    if (hr_queue_command(ev->q, 0, 8, argv, argvlen) == -1) {
        hr_log(&ev->ctx->log, HR_LOG_WARN, "events: the events that failed "
               "while the primary was down are not queued again: out of "
               "memory");
        return;
    }

    hr_log(&ev->ctx->log, HR_LOG_INFO, "events: the primary answers again: "
           "the events that failed since %lld are queued again",
           (long long) ev->down_since);

    ev->down_since = 0;
}


/* The miss's entry in the negative cache, and the key it has there. */
static hr_ev_neg_t *
hr_events_neg(hr_events_t *ev, const hr_event_t *e, uint64_t *key)
{
    size_t       i;
    uint64_t     h;
    const char  *s[3];
    size_t       k;

    s[0] = e->object == HR_OBJECT_MANIFEST ? "m" : "b";
    s[1] = e->repository;
    s[2] = e->tag[0] ? e->tag : e->digest;

    /* FNV-1a, with a NUL between the parts */
    h = 0xcbf29ce484222325ULL;

    for (k = 0; k < 3; k++) {
        for (i = 0; s[k][i] != '\0'; i++) {
            h ^= (unsigned char) s[k][i];
            h *= 0x100000001b3ULL;
        }

        h *= 0x100000001b3ULL;
    }

    *key = h ? h : 1;

    return &ev->neg[*key % HR_EV_NEG_SIZE];
}


static int
hr_events_miss(hr_evjob_t *ej)
{
    int             rc;
    char            dst[256], lerr[256];
    size_t          i;
    uint64_t        key;
    hr_event_t     *e;
    hr_policy_t    *p;
    hr_ev_neg_t    *neg;
    hr_plan_req_t   rq;

    e = &ej->it->ev;
    p = NULL;

    for (i = 0; i < ej->cf->npolicies; i++) {
        if (!ej->cf->policies[i].enabled
            || !hr_policy_match_repo(&ej->cf->policies[i], e->repository))
        {
            continue;
        }

        /* the edge serves the name it was asked for: no rewrite of it */
        if (hr_policy_dest_repo(&ej->cf->policies[i], e->repository, dst,
                                sizeof(dst), lerr, sizeof(lerr))
            == -1
            || strcmp(dst, e->repository) != 0)
        {
            continue;
        }

        p = &ej->cf->policies[i];
        break;
    }

    if (p == NULL) {
        hr_log(&ej->ev->ctx->log, HR_LOG_DEBUG, "events: miss %s: no policy "
               "covers the repository; ignored", e->repository);
        hr_events_count(ej->ev, "ignored_misses", 1);
        return 0;
    }

    neg = hr_events_neg(ej->ev, e, &key);

    if (neg->key == key && neg->expires > hr_events_now()) {
        hr_log(&ej->ev->ctx->log, HR_LOG_DEBUG, "events: miss %s: the "
               "primary had none a moment ago; not asked again", ej->what);
        hr_events_count(ej->ev, "misses_negative_cached", 1);
        return 0;
    }

    memset(&rq, 0, sizeof(rq));
    rq.trigger = "on_demand";
    rq.repo = e->repository;

    if (e->object == HR_OBJECT_MANIFEST) {
        rq.ref = e->tag[0] ? e->tag : e->digest;

    } else {
        rq.blob = e->digest;
    }

    rc = hr_events_copy(ej, p, &rq, "fetched_on_demand");

    /* the primary has none either: done, not failed, and remembered */
    if (rc == 1) {
        neg->key = key;
        neg->expires = hr_events_now() + HR_EV_NEG_MS;
        return 0;
    }

    return rc;
}


/*
 * Harbor's P2P preheat (the module's harbor_preheat): Harbor's preheat
 * policy has already chosen the artifact (repository, tag, label,
 * signature, severity), so no policy of ours is asked.  The copy is a
 * policy's, pinned: a tag as it is now on the primary, else the digest.
 */
static int
hr_events_preheat(hr_evjob_t *ej)
{
    int             rc;
    hr_event_t     *e;
    hr_policy_t     p;
    hr_plan_req_t   rq;

    e = &ej->it->ev;

    memset(&p, 0, sizeof(p));
    p.name = "preheat";
    p.enabled = 1;
    p.override = 1;
    p.dest_namespace_replace_count = -1;

    memset(&rq, 0, sizeof(rq));
    rq.trigger = "preheat";
    rq.repo = e->repository;
    rq.ref = e->tag[0] != '\0' ? e->tag : e->digest;

    rc = hr_events_copy(ej, &p, &rq, "preheated");

    /* gone from the primary since Harbor asked: nothing to keep */
    return rc == 1 ? 0 : rc;
}
