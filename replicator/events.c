/*
 * events.c: what the daemon does with each event from the queue (see
 * events.h): which policies it concerns, and the copy of one artifact with
 * its closure, for the latency an event asks for.
 *
 * plan.c copies whole policies: it lists the catalog and every tag first,
 * which is right for a schedule and far too slow for a miss.  Here one
 * reference is copied: its manifest, an index's children, an image's
 * config and layers, in docs/store.md's order (blob, layer link, manifest,
 * revision link, referrers index of its subject, tag index, tag current),
 * blobs one at a time (an on-demand fetch is usually one image), resumable
 * as plan.c's are, through the same store.c writer.
 *
 * A blob is linked into a repository only when the primary serves it from
 * that repository (as a layer of a manifest fetched from there, or by an
 * explicit HEAD for a blob miss): a blob already in the store for another
 * repository is never linked on a client's say-so, or a private
 * repository's layer could be read through a public one.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "events.h"
#include "exec.h"
#include "exec_redis.h"
#include "policy.h"
#include "queue.h"
#include "registry.h"

#define HR_EV_DEPTH         8
#define HR_EV_BLOB_TRIES    3
#define HR_EV_RETRY_MS      1000


struct hr_events_s {
    hr_ctx_t     *ctx;
    hr_queue_t   *q;
    unsigned      seq;
    long long     coalesced;        /* last count sent to the stats */
};

typedef struct {
    hr_events_t      *ev;
    hr_policy_t      *p;
    hr_src_t          src;
    const char       *src_repo;
    char              dst_repo[256];
    int               manifests;        /* written */
    int               present;          /* already in the store */
    int               blobs_fetched;
    int               blobs_linked;     /* in the store already */
    int               tags_copied;
    int               tags_unchanged;
    int               tags_kept;
    int               tags_deleted;
    long long         bytes;
    unsigned          notfound:1;       /* the primary answered 404 */
    char              err[HR_ERR_LEN];
} hr_copy_t;

typedef struct {
    hr_copy_t         *c;
    hr_blob_writer_t  *w;
} hr_sink_ctx_t;


static int hr_events_handle(hr_events_t *ev, hr_qitem_t *it, int *permanent,
    char *err, size_t errlen);
static int hr_events_push(hr_events_t *ev, hr_qitem_t *it, char *err,
    size_t errlen);
static int hr_events_delete(hr_events_t *ev, hr_qitem_t *it, char *err,
    size_t errlen);
static int hr_events_miss(hr_events_t *ev, hr_qitem_t *it, int *permanent,
    char *err, size_t errlen);
static int hr_events_filter(hr_policy_t *p, const hr_event_t *e);
static void hr_copy_init(hr_copy_t *c, hr_events_t *ev, hr_policy_t *p,
    const char *src_repo, const char *dst_repo);
static void hr_copy_free(hr_copy_t *c);
static int hr_copy_ref(hr_copy_t *c, const char *ref, const char *tag);
static int hr_copy_walk(hr_copy_t *c, const char *digest, hr_buf_t *bytes,
    const char *mt, int depth);
static int hr_copy_blob_desc(hr_copy_t *c, json_t *desc);
static int hr_copy_blob(hr_copy_t *c, const char *digest, long long size);
static int hr_copy_fetch(hr_copy_t *c, const char *digest, long long size);
static int hr_copy_sink(hr_xfer_t *x, const char *p, size_t n);
static int hr_copy_referrer(hr_copy_t *c, const char *digest,
    const char *mt, hr_buf_t *bytes, json_t *js);
static void hr_events_record(hr_events_t *ev, hr_qitem_t *it, hr_copy_t *c,
    const char *trigger, const char *status, long long t0, time_t start);
static long long hr_events_now(void);
static void hr_events_printable(const char *in, char *out, size_t outlen);
static void hr_events_count(hr_events_t *ev, const char *field, long long n);


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
    char          name[256];
    hr_events_t  *ev;

    if (ctx->cf.redis == NULL) {
        snprintf(err, errlen, "redis: not configured");
        return NULL;
    }

    ev = calloc(1, sizeof(hr_events_t));
    if (ev == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    ev->ctx = ctx;

    ev->q = hr_queue_create(ctx->loop, &ctx->log, ctx->cf.redis,
                            ctx->cf.redis_queue, err, errlen);
    if (ev->q == NULL) {
        free(ev);
        return NULL;
    }

    hr_log(&ctx->log, HR_LOG_INFO, "events: taking events from %s in redis "
           "%s", name, ctx->cf.redis);

    return ev;
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
        if (hr_loop_once(ev->ctx->loop, 100) == -1 && errno != EINTR) {
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
    int                 rc, permanent;
    long                ms;
    char                what[512], err[HR_ERR_LEN];
    hr_qitem_t         *it;
    hr_queue_stats_t    st;

    hr_queue_get_stats(ev->q, &st);

    if (st.coalesced != ev->coalesced) {
        hr_events_count(ev, "coalesced", st.coalesced - ev->coalesced);
        ev->coalesced = st.coalesced;
    }

    if (hr_loop_term(ev->ctx->loop)) {
        return -1;
    }

    it = hr_queue_take(ev->q);
    if (it == NULL) {
        return hr_queue_next_ms(ev->q);
    }

    if (it->attempts == 0) {
        hr_events_count(ev, "events", (long long) it->nlines);
    }

    if (it->bad) {
        hr_events_printable(it->lines[0], what, 201);
        hr_log(&ev->ctx->log, HR_LOG_WARN, "events: malformed event (%s), "
               "moved to %s:failed: %s", it->err, hr_queue_name(ev->q), what);
        hr_events_count(ev, "malformed", (long long) it->nlines);
        hr_queue_fail(ev->q, it, it->err);
        return 0;
    }

    hr_event_describe(&it->ev, what, sizeof(what));

    permanent = 0;
    err[0] = '\0';

    rc = hr_events_handle(ev, it, &permanent, err, sizeof(err));

    if (rc == 0) {
        hr_queue_done(ev->q, it);
        return 0;
    }

    if (hr_loop_term(ev->ctx->loop)) {
        /* stopped half-way: the line stays in processing, done next start */
        hr_log(&ev->ctx->log, HR_LOG_INFO, "events: %s interrupted by a "
               "signal; it runs again at the next start", what);
        hr_queue_retry(ev->q, it, 0);
        return -1;
    }

    it->attempts++;

    if (permanent || it->attempts >= HR_EVENTS_ATTEMPTS) {
        hr_log(&ev->ctx->log, HR_LOG_ERROR, "events: %s failed %d time(s), "
               "moved to %s:failed: %s", what, it->attempts,
               hr_queue_name(ev->q), err);
        hr_events_count(ev, "failed", (long long) it->nlines);
        hr_queue_fail(ev->q, it, err);
        return 0;
    }

    ms = HR_EV_RETRY_MS << (it->attempts - 1);

    hr_log(&ev->ctx->log, HR_LOG_WARN, "events: %s: %s; retry %d in %ldms",
           what, err, it->attempts, ms);
    hr_events_count(ev, "retried", 1);
    hr_queue_retry(ev->q, it, ms);

    return 0;
}


/* 0 done; -1 failed (err), *permanent when a retry cannot help. */
static int
hr_events_handle(hr_events_t *ev, hr_qitem_t *it, int *permanent, char *err,
    size_t errlen)
{
    int  rc, lease;

    /* shared with other runs, exclusive of gc: as a policy run */
    lease = hr_exec_lease(ev->ctx, 0, 1, err, errlen);
    if (lease == -1) {
        return -1;
    }

    switch (it->ev.kind) {

    case HR_EVENT_PUSH:
        rc = hr_events_push(ev, it, err, errlen);
        break;

    case HR_EVENT_DELETE:
        rc = hr_events_delete(ev, it, err, errlen);
        break;

    default:
        rc = hr_events_miss(ev, it, permanent, err, errlen);
        break;
    }

    close(lease);

    return rc;
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


static int
hr_events_push(hr_events_t *ev, hr_qitem_t *it, char *err, size_t errlen)
{
    int           kept, failed, matched;
    char          dst[256];
    size_t        i;
    time_t        start;
    hr_copy_t     c;
    hr_policy_t  *p;
    long long     t0;
    hr_event_t   *e;

    e = &it->ev;
    failed = 0;
    matched = 0;

    for (i = 0; i < ev->ctx->cf.npolicies; i++) {
        p = &ev->ctx->cf.policies[i];

        if (!p->enabled || p->trigger != HR_TRIGGER_EVENT
            || !hr_policy_match_repo(p, e->repository))
        {
            continue;
        }

        kept = hr_events_filter(p, e);
        if (kept < 0) {
            continue;
        }

        if (hr_policy_dest_repo(p, e->repository, dst, sizeof(dst), err,
                                errlen)
            == -1)
        {
            failed++;
            continue;
        }

        matched++;
        t0 = hr_events_now();
        start = time(NULL);
        hr_copy_init(&c, ev, p, e->repository, dst);

        /* a tag is copied as it is now on the primary; untagged by digest */
        if (hr_copy_ref(&c, kept == 1 ? e->tag : e->digest,
                        kept == 1 ? e->tag : NULL)
            == -1)
        {
            failed++;
            snprintf(err, errlen, "policy \"%.100s\": %.380s", p->name, c.err);
            hr_events_record(ev, it, &c, "event_based", "Failed", t0, start);

        } else {
            hr_events_count(ev, "copied", 1);
            hr_events_record(ev, it, &c, "event_based", "Succeed", t0, start);
        }

        hr_copy_free(&c);
    }

    if (matched == 0 && failed == 0) {
        hr_log(&ev->ctx->log, HR_LOG_DEBUG, "events: push %s: no enabled "
               "event_based policy takes it", e->repository);
        hr_events_count(ev, "ignored_events", 1);
    }

    return failed ? -1 : 0;
}


static int
hr_events_delete(hr_events_t *ev, hr_qitem_t *it, char *err, size_t errlen)
{
    int           rc, failed;
    char          dst[256], cur[HR_DIGEST_LEN + 1], **tags;
    size_t        i, k, ntags;
    time_t        start;
    hr_copy_t     c;
    hr_store_t   *st;
    long long     t0;
    hr_event_t   *e;
    hr_policy_t  *p;

    e = &it->ev;
    st = &ev->ctx->store;
    failed = 0;

    for (i = 0; i < ev->ctx->cf.npolicies; i++) {
        p = &ev->ctx->cf.policies[i];

        if (!p->enabled || p->trigger != HR_TRIGGER_EVENT || !p->deletion
            || !hr_policy_match_repo(p, e->repository)
            || hr_events_filter(p, e) < 0)
        {
            continue;
        }

        if (hr_policy_dest_repo(p, e->repository, dst, sizeof(dst), err,
                                errlen)
            == -1)
        {
            failed++;
            continue;
        }

        t0 = hr_events_now();
        start = time(NULL);
        hr_copy_init(&c, ev, p, e->repository, dst);

        if (e->tag[0] != '\0') {
            tags = calloc(1, sizeof(char *));
            if (tags == NULL || (tags[0] = strdup(e->tag)) == NULL) {
                free(tags);
                snprintf(err, errlen, "out of memory");
                hr_copy_free(&c);
                return -1;
            }
            ntags = 1;

        } else if (hr_store_tags(st, dst, &tags, &ntags, c.err,
                                 sizeof(c.err))
                   == -1)
        {
            /* no such repository here: nothing to delete */
            tags = NULL;
            ntags = 0;
            c.err[0] = '\0';
        }

        for (k = 0; k < ntags; k++) {
            rc = hr_store_read_link(st, dst, HR_LINK_TAG_CURRENT, tags[k],
                                    NULL, cur);

            /* a tag that moved since the delete is not the one deleted */
            if (rc != 1 || strcmp(cur, e->digest) != 0) {
                continue;
            }

            if (hr_store_tag_delete(st, dst, tags[k], c.err, sizeof(c.err))
                == -1)
            {
                failed++;
                snprintf(err, errlen, "policy \"%.100s\": %.380s", p->name,
                         c.err);
                continue;
            }

            c.tags_deleted++;
            hr_log(&ev->ctx->log, HR_LOG_INFO, "events: %s:%s deleted: "
                   "deleted on the primary (policy \"%s\")", dst, tags[k],
                   p->name);
        }

        hr_store_free_list(tags, ntags);

        hr_events_count(ev, "deleted", c.tags_deleted);
        hr_events_record(ev, it, &c, "event_based",
                         c.err[0] ? "Failed" : "Succeed", t0, start);
        hr_copy_free(&c);
    }

    return failed ? -1 : 0;
}


static int
hr_events_miss(hr_events_t *ev, hr_qitem_t *it, int *permanent, char *err,
    size_t errlen)
{
    int           rc, linked;
    char          dst[256], lerr[256], cur[HR_DIGEST_LEN + 1], url[512];
    char          scope[512];
    size_t        i;
    time_t        start;
    hr_copy_t     c;
    hr_xfer_t    *x;
    long long     t0, size;
    hr_event_t   *e;
    hr_policy_t  *p;

    e = &it->ev;
    p = NULL;

    for (i = 0; i < ev->ctx->cf.npolicies; i++) {
        if (!ev->ctx->cf.policies[i].enabled
            || !hr_policy_match_repo(&ev->ctx->cf.policies[i], e->repository))
        {
            continue;
        }

        /* the edge serves the name it was asked for: no rewrite of it */
        if (hr_policy_dest_repo(&ev->ctx->cf.policies[i], e->repository, dst,
                                sizeof(dst), lerr, sizeof(lerr))
            == -1
            || strcmp(dst, e->repository) != 0)
        {
            continue;
        }

        p = &ev->ctx->cf.policies[i];
        break;
    }

    if (p == NULL) {
        hr_log(&ev->ctx->log, HR_LOG_DEBUG, "events: miss %s: no policy "
               "covers the repository; ignored", e->repository);
        hr_events_count(ev, "ignored_misses", 1);
        return 0;
    }

    t0 = hr_events_now();
    start = time(NULL);
    hr_copy_init(&c, ev, p, e->repository, e->repository);

    if (e->object == HR_OBJECT_MANIFEST) {
        rc = hr_copy_ref(&c, e->tag[0] ? e->tag : e->digest,
                         e->tag[0] ? e->tag : NULL);
        goto done;
    }

    /* a blob: linked here only if the primary has it in this repository */
    rc = hr_store_read_link(&ev->ctx->store, e->repository, HR_LINK_LAYER,
                            NULL, e->digest, cur);

    if (rc == 1 && hr_store_blob_exists(&ev->ctx->store, e->digest, NULL)) {
        c.present++;
        rc = 0;
        goto done;
    }

    snprintf(url, sizeof(url), "/v2/%s/blobs/%s", e->repository, e->digest);
    hr_reg_scope(scope, sizeof(scope), e->repository);

    x = hr_reg_get(&c.src, url, scope, NULL, 4096, 1, c.err, sizeof(c.err));
    if (x == NULL) {
        rc = -1;
        goto done;
    }

    if (x->status == 404) {
        c.notfound = 1;
        snprintf(c.err, sizeof(c.err), "HEAD %.400s: 404", url);
        hr_xfer_free(x);
        rc = -1;
        goto done;
    }

    if (x->status != 200) {
        snprintf(c.err, sizeof(c.err), "HEAD %.400s: HTTP %ld", url, x->status);
        hr_xfer_free(x);
        rc = -1;
        goto done;
    }

    size = x->content_length;
    hr_xfer_free(x);

    linked = c.blobs_linked;
    rc = hr_copy_blob(&c, e->digest, size);

    if (rc == 0 && c.blobs_linked > linked) {
        hr_log(&ev->ctx->log, HR_LOG_INFO, "events: blob %s linked into %s "
               "(the primary has it there)", e->digest, e->repository);
    }

done:

    if (rc == 0) {
        hr_events_count(ev, "fetched_on_demand", 1);
        hr_events_record(ev, it, &c, "on_demand", "Succeed", t0, start);

    } else if (c.notfound) {
        /* a client asked for what the primary does not have either */
        hr_log(&ev->ctx->log, HR_LOG_INFO, "events: miss %s: not on the "
               "primary either (%s)", e->repository, c.err);
        hr_events_count(ev, "not_found", 1);
        hr_events_record(ev, it, &c, "on_demand", "NotFound", t0, start);
        rc = 0;

    } else {
        snprintf(err, errlen, "policy \"%.100s\": %.380s", p->name, c.err);
        hr_events_record(ev, it, &c, "on_demand", "Failed", t0, start);
    }

    hr_copy_free(&c);

    (void) permanent;

    return rc;
}


static void
hr_events_record(hr_events_t *ev, hr_qitem_t *it, hr_copy_t *c,
    const char *trigger, const char *status, long long t0, time_t start)
{
    char         what[512], src[600], dst[600], err[256];
    json_t      *rec;
    long long    now, ms;
    const char  *ref;

    now = hr_events_now();
    ms = now - t0;

    hr_event_describe(&it->ev, what, sizeof(what));
    ref = it->ev.tag[0] ? it->ev.tag : it->ev.digest;
    snprintf(src, sizeof(src), "%s%s%s", c->src_repo,
             it->ev.tag[0] ? ":" : "@", ref);
    snprintf(dst, sizeof(dst), "%s%s%s", c->dst_repo,
             it->ev.tag[0] ? ":" : "@", ref);

    rec = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, "
                    "s:I, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:I, s:i, s:i, "
                    "s:I}",
                    "id", (json_int_t) hr_exec_redis_id(&ev->seq),
                    "policy", c->p->name,
                    "trigger", trigger,
                    "status", status,
                    "event", what,
                    "src_resource", src,
                    "dst_resource", dst,
                    "start_time", (json_int_t) start,
                    "end_time", (json_int_t) time(NULL),
                    "duration_ms", (json_int_t) ms,
                    "waited_ms", (json_int_t) (t0 - it->taken),
                    "manifests", c->manifests,
                    "manifests_present", c->present,
                    "blobs_fetched", c->blobs_fetched,
                    "blobs_linked", c->blobs_linked,
                    "tags_copied", c->tags_copied,
                    "tags_unchanged", c->tags_unchanged,
                    "tags_kept", c->tags_kept,
                    "bytes", (json_int_t) c->bytes,
                    "tags_deleted", c->tags_deleted,
                    "attempt", it->attempts + 1,
                    "occurred_at", (json_int_t) it->ev.occurred_at);

    if (rec == NULL) {
        hr_log(&ev->ctx->log, HR_LOG_ERROR, "events: out of memory");
        return;
    }

    if (c->err[0] != '\0') {
        json_object_set_new(rec, "error", json_string(c->err));
    }

    json_object_set_new(rec, "lines", json_integer((json_int_t) it->nlines));

    hr_log(&ev->ctx->log, strcmp(status, "Failed") == 0 ? HR_LOG_ERROR
                                                        : HR_LOG_INFO,
           "events: %s: policy \"%s\" (%s) %s: %d manifest(s) written, %d "
           "present, %d blob(s) fetched, %d linked, %d tag(s) copied, %d "
           "deleted, %lld bytes, %lldms%s%s", what, c->p->name, trigger,
           status, c->manifests, c->present, c->blobs_fetched,
           c->blobs_linked, c->tags_copied, c->tags_deleted, c->bytes, ms,
           c->err[0] ? ": " : "", c->err);

    if (hr_exec_redis_put(ev->q, rec, err, sizeof(err)) == -1) {
        hr_log(&ev->ctx->log, HR_LOG_WARN, "events: %s", err);
    }

    json_decref(rec);
}


/* ------------------------------------------------------------- copy */

static void
hr_copy_init(hr_copy_t *c, hr_events_t *ev, hr_policy_t *p,
    const char *src_repo, const char *dst_repo)
{
    memset(c, 0, sizeof(hr_copy_t));
    c->ev = ev;
    c->p = p;
    c->src_repo = src_repo;
    snprintf(c->dst_repo, sizeof(c->dst_repo), "%s", dst_repo);
    hr_src_init(&c->src, ev->ctx, p->src ? p->src : &ev->ctx->cf.primary);
}


static void
hr_copy_free(hr_copy_t *c)
{
    hr_src_free(&c->src);
}


/* Copies ref (a tag or a digest) and, when tag is set, points tag at it. */
static int
hr_copy_ref(hr_copy_t *c, const char *ref, const char *tag)
{
    int          rc;
    char         mt[256], digest[HR_DIGEST_LEN + 1], cur[HR_DIGEST_LEN + 1];
    hr_buf_t     b;
    hr_store_t  *st;

    st = &c->ev->ctx->store;
    hr_buf_init(&b, HR_MANIFEST_MAX);

    if (hr_reg_manifest(&c->src, c->src_repo, ref, &b, mt, sizeof(mt),
                        digest, c->err, sizeof(c->err))
        == -1)
    {
        if (strstr(c->err, ": 404 ") != NULL) {
            c->notfound = 1;
        }

        hr_buf_free(&b);
        return -1;
    }

    if (tag != NULL
        && hr_store_read_link(st, c->dst_repo, HR_LINK_TAG_CURRENT, tag,
                              NULL, cur)
           == 1
        && strcmp(cur, digest) != 0 && !c->p->override)
    {
        c->tags_kept++;
        hr_log(&c->ev->ctx->log, HR_LOG_WARN, "events: %s:%s is %s here and "
               "%s on the primary; kept (override is off)", c->dst_repo, tag,
               cur, digest);
        hr_buf_free(&b);
        return 0;
    }

    rc = hr_copy_walk(c, digest, &b, mt, 0);
    hr_buf_free(&b);

    if (rc == -1) {
        return -1;
    }

    if (tag == NULL) {
        return 0;
    }

    if (hr_store_read_link(st, c->dst_repo, HR_LINK_TAG_CURRENT, tag, NULL,
                           cur)
        == 1 && strcmp(cur, digest) == 0)
    {
        c->tags_unchanged++;
        return 0;
    }

    /* the tag last: index, then current */
    if (hr_store_link(st, c->dst_repo, HR_LINK_TAG_INDEX, tag, digest,
                      c->err, sizeof(c->err))
        == -1
        || hr_store_link(st, c->dst_repo, HR_LINK_TAG_CURRENT, tag, digest,
                         c->err, sizeof(c->err))
           == -1)
    {
        return -1;
    }

    c->tags_copied++;

    return 0;
}


static int
hr_copy_walk(hr_copy_t *c, const char *digest, hr_buf_t *bytes,
    const char *mt, int depth)
{
    int            rc;
    char           cur[HR_DIGEST_LEN + 1], cmt[256];
    char           cdigest[HR_DIGEST_LEN + 1], type[256];
    size_t         i;
    json_t        *js, *arr, *v;
    hr_buf_t       cb;
    hr_store_t    *st;
    json_error_t   je;

    st = &c->ev->ctx->store;

    if (depth > HR_EV_DEPTH) {
        snprintf(c->err, sizeof(c->err), "manifest %s nested deeper than %d",
                 digest, HR_EV_DEPTH);
        return -1;
    }

    /* a revision link means everything under it is there (write order) */
    if (hr_store_read_link(st, c->dst_repo, HR_LINK_REVISION, NULL, digest,
                           cur)
        == 1 && hr_store_blob_exists(st, digest, NULL))
    {
        c->present++;
        return 0;
    }

    js = json_loadb(bytes->data, bytes->len, 0, &je);
    if (!json_is_object(js)) {
        snprintf(c->err, sizeof(c->err), "manifest %s: not a JSON object: "
                 "%s", digest, je.text);
        json_decref(js);
        return -1;
    }

    snprintf(type, sizeof(type), "%s", mt);

    if (type[0] == '\0') {
        v = json_object_get(js, "mediaType");
        snprintf(type, sizeof(type), "%s", json_is_string(v)
                 ? json_string_value(v)
                 : json_object_get(js, "manifests")
                   ? "application/vnd.oci.image.index.v1+json"
                   : "application/vnd.oci.image.manifest.v1+json");
    }

    rc = 0;
    arr = json_object_get(js, "manifests");

    if (json_is_array(arr)) {
        /* an index: every child before the index itself */
        json_array_foreach(arr, i, v) {
            const char  *d = json_string_value(json_object_get(v, "digest"));

            if (!hr_valid_digest(d)) {
                snprintf(c->err, sizeof(c->err), "index %s: child \"%.100s\" "
                         "is not a sha256 digest", digest, d ? d : "(none)");
                rc = -1;
                break;
            }

            hr_buf_init(&cb, HR_MANIFEST_MAX);

            if (hr_reg_manifest(&c->src, c->src_repo, d, &cb, cmt,
                                sizeof(cmt), cdigest, c->err, sizeof(c->err))
                == -1
                || hr_copy_walk(c, cdigest, &cb, cmt, depth + 1) == -1)
            {
                hr_buf_free(&cb);
                rc = -1;
                break;
            }

            hr_buf_free(&cb);
        }

    } else if (json_integer_value(json_object_get(js, "schemaVersion"))
               == 1)
    {
        json_array_foreach(json_object_get(js, "fsLayers"), i, v) {
            if (hr_copy_blob_desc(c, v) == -1) {
                rc = -1;
                break;
            }
        }

    } else {
        v = json_object_get(js, "config");

        if (json_is_object(v) && hr_copy_blob_desc(c, v) == -1) {
            rc = -1;
        }

        json_array_foreach(json_object_get(js, "layers"), i, v) {
            if (rc == -1 || hr_copy_blob_desc(c, v) == -1) {
                rc = -1;
                break;
            }
        }

        /* OCI 1.1 artifact manifests used "blobs" */
        json_array_foreach(json_object_get(js, "blobs"), i, v) {
            if (rc == -1 || hr_copy_blob_desc(c, v) == -1) {
                rc = -1;
                break;
            }
        }
    }

    if (rc == 0) {
        /* the bytes exactly as received, checked again by store.c */
        if (hr_store_put_blob(st, digest, bytes->data, bytes->len, c->err,
                              sizeof(c->err))
            == -1
            || hr_store_link(st, c->dst_repo, HR_LINK_LAYER, NULL, digest,
                             c->err, sizeof(c->err))
               == -1
            || hr_store_link(st, c->dst_repo, HR_LINK_REVISION, NULL, digest,
                             c->err, sizeof(c->err))
               == -1
            || hr_copy_referrer(c, digest, type, bytes, js) == -1)
        {
            rc = -1;

        } else {
            c->manifests++;
            c->bytes += (long long) bytes->len;
        }
    }

    json_decref(js);

    return rc;
}


/* A manifest with a subject is listed in its subject's referrers index. */
static int
hr_copy_referrer(hr_copy_t *c, const char *digest, const char *mt,
    hr_buf_t *bytes, json_t *js)
{
    int          rc;
    json_t      *desc, *at, *ann, *subj;
    const char  *subject;

    subj = json_object_get(js, "subject");
    subject = json_string_value(json_object_get(subj, "digest"));

    if (!hr_valid_digest(subject)) {
        return 0;
    }

    desc = json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest", digest,
                     "size", (json_int_t) bytes->len);
    if (desc == NULL) {
        snprintf(c->err, sizeof(c->err), "out of memory");
        return -1;
    }

    at = json_object_get(js, "artifactType");

    if (!json_is_string(at) || json_string_length(at) == 0) {
        at = json_object_get(json_object_get(js, "config"), "mediaType");
    }

    if (json_is_string(at) && json_string_length(at) > 0) {
        json_object_set(desc, "artifactType", at);
    }

    ann = json_object_get(js, "annotations");

    if (json_is_object(ann) && json_object_size(ann) > 0) {
        json_object_set(desc, "annotations", ann);
    }

    rc = hr_store_referrer_add(&c->ev->ctx->store, c->dst_repo, subject, desc,
                               c->err, sizeof(c->err));
    json_decref(desc);

    return rc;
}


static int
hr_copy_blob_desc(hr_copy_t *c, json_t *desc)
{
    json_t       *sz;
    const char   *digest, *mt;

    digest = json_string_value(json_object_get(desc, "digest"));
    if (digest == NULL) {
        digest = json_string_value(json_object_get(desc, "blobSum"));
    }

    if (!hr_valid_digest(digest)) {
        snprintf(c->err, sizeof(c->err), "a manifest names blob \"%.100s\": "
                 "not a sha256 digest", digest ? digest : "(none)");
        return -1;
    }

    /* Harbor skips foreign layers: they live outside any registry */
    mt = json_string_value(json_object_get(desc, "mediaType"));
    if (mt != NULL && strstr(mt, ".foreign.") != NULL) {
        return 0;
    }

    sz = json_object_get(desc, "size");

    return hr_copy_blob(c, digest, json_is_integer(sz)
                                   ? json_integer_value(sz) : -1);
}


/* The blob in the store and linked into dst_repo. */
static int
hr_copy_blob(hr_copy_t *c, const char *digest, long long size)
{
    char         cur[HR_DIGEST_LEN + 1];
    hr_store_t  *st;

    st = &c->ev->ctx->store;

    if (hr_store_blob_exists(st, digest, NULL)) {
        if (hr_store_read_link(st, c->dst_repo, HR_LINK_LAYER, NULL, digest,
                               cur)
            != 1)
        {
            c->blobs_linked++;
        }

    } else if (hr_copy_fetch(c, digest, size) == -1) {
        return -1;
    }

    return hr_store_link(st, c->dst_repo, HR_LINK_LAYER, NULL, digest,
                         c->err, sizeof(c->err));
}


static int
hr_copy_sink(hr_xfer_t *x, const char *p, size_t n)
{
    char            exp[64];
    hr_sink_ctx_t  *s;

    s = x->data;

    if (x->received == (long long) n && s->w->offset > 0) {
        /* first bytes of the body: was the Range honoured? */
        snprintf(exp, sizeof(exp), "bytes %lld-", s->w->offset);

        if (x->status != 206
            || strncmp(x->content_range, exp, strlen(exp)) != 0)
        {
            if (hr_store_blob_restart(s->w, x->sink_err, sizeof(x->sink_err))
                == -1)
            {
                return -1;
            }
        }
    }

    return hr_store_blob_write(s->w, p, n, x->sink_err, sizeof(x->sink_err));
}


static int
hr_copy_fetch(hr_copy_t *c, const char *digest, long long size)
{
    int               attempt, auth_retried;
    char              range[64], scope[512];
    hr_xfer_t        *x;
    long long         from;
    hr_sink_ctx_t     s;
    hr_blob_writer_t  w;

    auth_retried = 0;
    hr_reg_scope(scope, sizeof(scope), c->src_repo);

    for (attempt = 0; attempt < HR_EV_BLOB_TRIES; attempt++) {
        memset(&w, 0, sizeof(w));
        w.fd = -1;

        if (hr_store_blob_begin(&c->ev->ctx->store, &w, digest, size, c->err,
                                sizeof(c->err))
            == -1)
        {
            return -1;
        }

        if (w.offset > 0 && w.offset == size) {
            /* complete before an interruption: only the commit was missing */
            if (hr_store_blob_commit(&w, c->err, sizeof(c->err)) == -1) {
                return -1;
            }

            c->blobs_fetched++;
            return 0;
        }

        from = w.offset;

        x = hr_reg_blob_xfer(&c->src, c->src_repo, digest, c->err,
                             sizeof(c->err));
        if (x == NULL) {
            hr_store_blob_suspend(&w);
            return -1;
        }

        if (w.offset > 0) {
            snprintf(range, sizeof(range), "Range: bytes=%lld-", w.offset);
            hr_xfer_add_header(x, range);
        }

        hr_xfer_add_header(x, "Accept-Encoding: identity");

        if (c->p->speed > 0) {
            hr_xfer_speed(x, c->p->speed * 128);
        }

        s.c = c;
        s.w = &w;
        x->sink = hr_copy_sink;
        x->data = &s;

        if (hr_xfer_start(x, c->err, sizeof(c->err)) == -1
            || hr_xfer_wait(x, c->err, sizeof(c->err)) == -1)
        {
            if (x->sink_failed) {
                /* a size overrun means lying content: drop the partial */
                snprintf(c->err, sizeof(c->err), "blob %s: %s", digest,
                         x->sink_err);
                hr_xfer_free(x);
                hr_store_blob_discard(&w);
                return -1;
            }

            hr_xfer_free(x);
            hr_store_blob_suspend(&w);

            if (hr_loop_term(c->ev->ctx->loop)) {
                return -1;
            }

            continue;
        }

        if (x->status == 200 || x->status == 206) {
            hr_xfer_free(x);

            /* size and digest are checked here; a mismatch is dropped */
            if (hr_store_blob_commit(&w, c->err, sizeof(c->err)) == -1) {
                return -1;
            }

            c->blobs_fetched++;
            c->bytes += w.offset - from;
            return 0;
        }

        hr_store_blob_suspend(&w);

        if (x->status == 401 && !auth_retried) {
            auth_retried = 1;
            attempt--;

            if (hr_auth_challenge(&c->src.auth, x->www_auth, scope, c->err,
                                  sizeof(c->err))
                == -1)
            {
                hr_xfer_free(x);
                return -1;
            }

            hr_xfer_free(x);
            continue;
        }

        snprintf(c->err, sizeof(c->err), "GET blob %s: HTTP %ld %.200s",
                 digest, x->status, x->body.data ? x->body.data : "");

        if (x->status == 404) {
            c->notfound = 1;
        }

        /* only transport errors, 5xx and 429 are worth another try */
        if (x->status < 500 && x->status != 429) {
            hr_xfer_free(x);
            return -1;
        }

        hr_xfer_free(x);
    }

    return -1;
}
