/*
 * plan.c: list, walk, fetch and commit for one policy (see plan.h).
 *
 * Nodes (manifests) of a task live in one growable array and refer to each
 * other by index, because the array moves while the walk recurses.  Blob
 * downloads are shared by every task of the execution: a layer used by
 * three repositories is fetched once and linked three times.
 *
 * The fetch phase sleeps in its job until a transfer ends, a slot frees
 * or a claimed blob is released, and handles finished transfers then,
 * never from inside a curl callback: a retry, a token refresh or a commit
 * may run more transfers.
 *
 * The commit stages every task's files in one store batch, tags apart, and
 * publishes them behind three syncfs barriers (store.c, "Durability");
 * the execution is recorded after the last.  What the store already holds
 * is checked, not assumed: a stored manifest is reused when it hashes to
 * its digest, and walked like a fetched one, so each of its links and
 * blobs is checked again and whatever a crash or a hand damaged is
 * written again.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "exec.h"
#include "harbor.h"
#include "plan.h"
#include "policy.h"
#include "prune.h"
#include "registry.h"
#include "tier.h"
#include "verify.h"

#define HR_WALK_DEPTH     8
#define HR_DL_ATTEMPTS    4
#define HR_ERR            512


typedef struct {
    char        digest[HR_DIGEST_LEN + 1];
    char        subject[HR_DIGEST_LEN + 1];     /* "" none */
    char        mt[256];
    hr_buf_t    bytes;
    json_t     *json;
    char      **blobs;
    size_t      nblobs;
    size_t     *children;
    size_t      nchildren;
    unsigned    present:1;      /* revision and bytes already stored */
    unsigned    failed:1;
    unsigned    written:1;
} hr_node_t;

typedef struct {
    char       *tag;
    char        digest[HR_DIGEST_LEN + 1];
    size_t      node;
    unsigned    skip:1;         /* up to date, or kept (override false) */
    unsigned    kept:1;         /* not walked at all: node is not set */
    unsigned    failed:1;
    unsigned    staged:1;       /* written to the batch, not yet visible */
} hr_tagent_t;

typedef struct {
    char         *src_repo;
    char         *dst_repo;
    char         *blob;         /* a single blob to copy, or NULL */
    char         *gone;         /* a digest deleted on the primary, or NULL */
    char        **upstream;     /* every tag the source lists */
    size_t        nupstream;
    hr_node_t    *nodes;
    size_t        nnodes;
    size_t        cnodes;
    hr_tagent_t  *tags;
    size_t        ntags;
    size_t        ctags;
    int           failed;
    int           copied;
    int           uptodate;
    int           kept;
    int           deleted;
    unsigned      notfound:1;   /* the primary answered 404 */
    unsigned      blob_new:1;   /* blob: the layer link is made here */
    long long     bytes;
    time_t        start;
    time_t        end;
    char          err[HR_ERR];
} hr_task_t;

typedef enum {
    HR_DL_PENDING = 0,
    HR_DL_RUNNING,
    HR_DL_FINISHED,             /* transfer over, not yet handled */
    HR_DL_OK,
    HR_DL_FAILED
} hr_dl_state_e;

typedef struct {
    char              digest[HR_DIGEST_LEN + 1];
    long long         size;
    hr_job_t         *job;          /* woken when the transfer ends */
    char             *repo;         /* source repository to fetch from */
    hr_dl_state_e     state;
    int               attempts;
    int               auth_retried;
    int               busy_logged;
    int               claimed;      /* holds the engine's claim */
    int               elsewhere;    /* stored meanwhile by another */
    int               slot;         /* holds a transfer slot */
    time_t            not_before;   /* retry backoff, or another's fetch */
    long long         got;          /* bytes received in this run */
    hr_xfer_t        *x;
    hr_blob_writer_t  w;
    char              err[HR_ERR];
} hr_dl_t;

typedef struct {
    hr_ctx_t         *ctx;
    hr_job_t         *job;
    const hr_plan_req_t  *rq;
    hr_policy_t      *p;
    hr_src_t          src;
    hr_task_t        *tasks;
    size_t            ntasks;
    hr_dl_t         **dls;
    size_t            ndls;
    size_t            cdls;
    long long         bytes;        /* blob bytes received */
    long long         bytes_total;  /* blob bytes to fetch */
    long long         resumed;      /* bytes not fetched again */
    long long         linked;       /* blobs found in the store */
    long long         elsewhere;    /* blobs another process stored */
    long long         id;           /* the execution's, 0: not recorded */
    long long         repaired;     /* stored copies found corrupt */
    long long         started_ms;   /* for the progress log */
    char            **uses;         /* told to the engine: hr_plan_use() */
    size_t            nuses;
    size_t            cuses;
    int               stopped;
    hr_store_batch_t  batch;        /* the commit's files, published once */
} hr_run_t;


static int hr_plan_one(hr_run_t *r, char *err, size_t errlen);
static void hr_plan_progress(hr_run_t *r, size_t done, long long got,
    time_t now);
static int hr_plan_walk_blob(hr_run_t *r, hr_task_t *t);
static void hr_plan_deleted(hr_run_t *r, hr_task_t *t);
static void hr_plan_prune(hr_run_t *r, hr_task_t *t, const char *digest);
static void hr_plan_dl_end(hr_run_t *r, hr_dl_t *d);
static void hr_plan_use(hr_run_t *r, const char *digest);
static void hr_plan_tier(hr_run_t *r, hr_task_t *t);
static int hr_plan_list(hr_run_t *r, char *err, size_t errlen);
static int hr_plan_literal_repo(hr_policy_t *p, char ***repos, size_t *n);
static int hr_plan_task_tags(hr_run_t *r, hr_task_t *t, char *err,
    size_t errlen);
static int hr_plan_add_tag(hr_task_t *t, const char *tag);
static int hr_plan_walk_task(hr_run_t *r, hr_task_t *t);
static long hr_plan_walk(hr_run_t *r, hr_task_t *t, const char *digest,
    hr_buf_t *bytes, const char *mt, int depth, char *err, size_t errlen);
static long hr_plan_find_node(hr_task_t *t, const char *digest);
static long hr_plan_new_node(hr_task_t *t, const char *digest);
static int hr_plan_node_blob(hr_run_t *r, hr_task_t *t, size_t ni,
    json_t *desc, char *err, size_t errlen);
static int hr_plan_referrers(hr_run_t *r, hr_task_t *t, size_t ni, int depth,
    char *err, size_t errlen);
static int hr_plan_need_blob(hr_run_t *r, hr_task_t *t, const char *digest,
    long long size, char *err, size_t errlen);
static hr_dl_t *hr_plan_find_dl(hr_run_t *r, const char *digest);
static int hr_plan_fetch(hr_run_t *r);
static int hr_plan_dl_start(hr_run_t *r, hr_dl_t *d, int par);
static int hr_plan_dl_sink(hr_xfer_t *x, const char *p, size_t n);
static void hr_plan_dl_done(hr_xfer_t *x);
static void hr_plan_dl_finish(hr_run_t *r, hr_dl_t *d);
static int hr_plan_commit_task(hr_run_t *r, hr_task_t *t);
static void hr_plan_publish(hr_run_t *r);
static int hr_plan_stored(hr_run_t *r, hr_task_t *t, const char *digest,
    hr_buf_t *bytes);
static int hr_plan_commit_node(hr_run_t *r, hr_task_t *t, size_t ni,
    char *err, size_t errlen);
static void hr_plan_delete_tags(hr_run_t *r, hr_task_t *t);
static json_t *hr_plan_descriptor(hr_node_t *n);
static void hr_plan_free(hr_run_t *r);
static json_t *hr_plan_record(hr_run_t *r, time_t start, long long id,
    const char *status);
static int hr_plan_has(char **list, size_t n, const char *s);
static long long hr_plan_share(long long speed, int n);


/*
 * A digest this execution will link: the engine's eviction leaves it
 * alone until the execution ends (hr_plan_free()).
 */
static void
hr_plan_use(hr_run_t *r, const char *digest)
{
    char  **nu, *d;

    /* the engine counts: a digest told twice is let go twice */
    if (r->nuses == r->cuses) {
        nu = realloc(r->uses, (r->cuses * 2 + 16) * sizeof(char *));
        if (nu == NULL) {
            return;
        }

        r->uses = nu;
        r->cuses = r->cuses * 2 + 16;
    }

    d = strdup(digest);
    if (d == NULL) {
        return;
    }

    r->uses[r->nuses++] = d;
    hr_engine_use(r->ctx->engine, digest, 1);
}


/* speed is Kbit/s for the whole policy (Harbor: bytes/s = speed * 128) */
static long long
hr_plan_share(long long speed, int n)
{
    long long  bps;

    bps = speed * 128 / (n > 0 ? n : 1);

    return bps > 0 ? bps : 1;
}


static int
hr_plan_has(char **list, size_t n, const char *s)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (strcmp(list[i], s) == 0) {
            return 1;
        }
    }

    return 0;
}


/*
 * One execution: the whole policy (rq->repo NULL), one reference, one blob
 * or one deletion.  With res the record is handed to the caller instead of
 * executions.jsonl.
 */
int
hr_plan_execute(hr_ctx_t *ctx, const hr_plan_req_t *rq, hr_plan_res_t *res,
    char *err, size_t errlen)
{
    int          failed;
    long         ntmp;
    char         lerr[HR_ERR];
    double       secs;
    size_t       i;
    json_t      *rec;
    time_t       start;
    hr_run_t     run;
    long long    id;
    const char  *status, *what;

    memset(&run, 0, sizeof(hr_run_t));
    run.ctx = ctx;
    run.rq = rq;
    run.p = rq->p;
    run.job = hr_engine_current(ctx->engine);
    hr_store_batch_init(&run.batch, &ctx->store);

    if (res != NULL) {
        res->rec = NULL;
        res->notfound = 0;
    }

    start = time(NULL);
    id = (ctx->dry_run || res != NULL)
         ? 0 : hr_exec_begin(ctx, rq->p->name, rq->trigger, start);
    run.id = id;
    err[0] = '\0';

    hr_src_init(&run.src, ctx, rq->p->src ? rq->p->src : &rq->cf->primary);

    what = rq->deleted ? " delete " : " ";

    hr_log(&ctx->log, HR_LOG_INFO, "execution %lld: policy \"%s\" (%s) from "
           "%s%s%s%s%s", id, rq->p->name, rq->trigger, run.src.rc->url,
           rq->repo ? what : "", rq->repo ? rq->repo : "",
           rq->ref ? (hr_valid_digest(rq->ref) ? "@" : ":")
                   : (rq->blob || rq->deleted ? "@" : ""),
           rq->ref ? rq->ref
                   : (rq->blob ? rq->blob
                               : (rq->deleted ? rq->deleted : "")));

    /* what a killed run left in _harbor_tmp: nobody will rename it now */
    if (!ctx->dry_run) {
        ntmp = hr_store_clean_tmp(&ctx->store, 60);

        if (ntmp > 0) {
            hr_log(&ctx->log, HR_LOG_INFO, "removed %ld temporaries left by "
                   "processes that are gone", ntmp);
        }
    }

    failed = 0;

    if (run.job == NULL) {
        snprintf(err, errlen, "an execution outside a job");
        failed = 1;
        goto done;
    }

    if ((rq->repo == NULL ? hr_plan_list(&run, err, errlen)
                          : hr_plan_one(&run, err, errlen))
        == -1)
    {
        hr_log(&ctx->log, HR_LOG_ERROR, "policy \"%s\": %s", rq->p->name,
               err);
        failed = 1;
        goto done;
    }

    if (rq->deleted != NULL) {
        if (!ctx->dry_run) {
            hr_plan_deleted(&run, &run.tasks[0]);
        }

        goto done;
    }

    for (i = 0; i < run.ntasks && !hr_job_stopping(run.job); i++) {
        hr_plan_walk_task(&run, &run.tasks[i]);
    }

    if (ctx->dry_run) {
        for (i = 0; i < run.ntasks; i++) {
            hr_task_t  *t = &run.tasks[i];
            size_t      k;

            for (k = 0; k < t->ntags; k++) {
                hr_log(&ctx->log, HR_LOG_INFO, "dry run: %s:%s -> %s:%s %s%s",
                       t->src_repo, t->tags[k].tag, t->dst_repo,
                       t->tags[k].tag, t->tags[k].digest,
                       t->tags[k].skip ? " (unchanged)" : "");
            }
        }

        hr_log(&ctx->log, HR_LOG_INFO, "dry run: %zu blobs to fetch, %lld "
               "bytes; %lld blobs already in the store", run.ndls,
               run.bytes_total, run.linked);
        goto done;
    }

    if (hr_plan_fetch(&run) == -1) {
        failed = 1;
    }

    for (i = 0; i < run.ntasks; i++) {
        if (!run.stopped) {
            hr_plan_commit_task(&run, &run.tasks[i]);
        }
    }

    /* the files of every task, then the tags, then recorded */
    if (!run.stopped) {
        hr_plan_publish(&run);
    }

done:

    for (i = 0; i < run.ntasks; i++) {
        if (run.tasks[i].notfound && res != NULL) {
            res->notfound = 1;
        }

        if (run.tasks[i].failed) {
            failed = 1;

            if (err[0] == '\0') {
                snprintf(err, errlen, "%s: %s", run.tasks[i].src_repo,
                         run.tasks[i].err);
            }
        }
    }

    if (run.stopped || (run.job != NULL && hr_job_stopping(run.job))) {
        status = "Stopped";
        failed = 1;

    } else if (failed && res != NULL && res->notfound) {
        status = "NotFound";

    } else {
        status = failed ? "Failed" : "Succeed";
    }

    if (!ctx->dry_run) {
        rec = hr_plan_record(&run, start, id, status);
        if (rec != NULL) {
            if (err[0] != '\0') {
                json_object_set_new(rec, "error", json_string(err));
            }

            if (rq->event != NULL) {
                json_object_set(rec, "event", rq->event);
            }

            if (res != NULL) {
                res->rec = rec;
                rec = NULL;

            } else if (hr_exec_append(ctx, rec, lerr, sizeof(lerr)) == -1) {
                hr_log(&ctx->log, HR_LOG_ERROR, "%s", lerr);

            } else {
                /* the result says it all now */
                hr_exec_progress(ctx, id, NULL);
            }

            json_decref(rec);
        }
    }

    secs = (double) (time(NULL) - start);

    hr_log(&ctx->log, failed && strcmp(status, "NotFound") != 0
                      ? HR_LOG_ERROR : HR_LOG_INFO,
           "execution %lld: policy \"%s\" %s: %zu tasks, %lld bytes fetched "
           "(%lld resumed), %lld blobs fetched, %lld already stored, %lld "
           "stored meanwhile by another process, %.0fs, %.1f MiB/s", id,
           rq->p->name, status, run.ntasks, run.bytes, run.resumed,
           (long long) run.ndls - run.elsewhere, run.linked, run.elsewhere,
           secs,
           run.bytes / 1048576.0 / (secs > 0 ? secs : 1));

    if (run.repaired > 0) {
        hr_log(&ctx->log, HR_LOG_WARN, "execution %lld: %lld corrupt stored "
               "files were quarantined and fetched again", id, run.repaired);
    }

    if (failed && err[0] == '\0') {
        snprintf(err, errlen, "policy \"%s\": %s", rq->p->name, status);
    }

    hr_plan_free(&run);

    return failed ? -1 : 0;
}


/* One task for one reference, one blob or one deletion of rq->repo. */
static int
hr_plan_one(hr_run_t *r, char *err, size_t errlen)
{
    char                  dst[512];
    hr_task_t            *t;
    const char           *repo;
    const hr_plan_req_t  *rq;

    rq = r->rq;
    repo = rq->repo;

    if (!hr_valid_repo(repo)
        || (rq->ref != NULL && !hr_valid_tag(rq->ref)
            && !hr_valid_digest(rq->ref))
        || (rq->blob != NULL && !hr_valid_digest(rq->blob))
        || (rq->deleted != NULL && !hr_valid_digest(rq->deleted))
        || (rq->ref == NULL && rq->blob == NULL && rq->deleted == NULL))
    {
        snprintf(err, errlen, "bad reference \"%.256s\" \"%.100s\"", repo,
                 rq->ref ? rq->ref : (rq->blob ? rq->blob : ""));
        return -1;
    }

    if (hr_policy_dest_repo(r->p, repo, dst, sizeof(dst), err, errlen) == -1)
    {
        return -1;
    }

    if (!hr_valid_repo(dst)) {
        snprintf(err, errlen, "destination \"%s\" is not a valid name", dst);
        return -1;
    }

    r->tasks = calloc(1, sizeof(hr_task_t));
    if (r->tasks == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    r->ntasks = 1;
    t = &r->tasks[0];
    t->start = time(NULL);
    t->src_repo = strdup(repo);
    t->dst_repo = strdup(dst);

    if (t->src_repo == NULL || t->dst_repo == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    if (rq->blob != NULL || rq->deleted != NULL) {
        t->blob = rq->blob ? strdup(rq->blob) : NULL;
        t->gone = rq->deleted ? strdup(rq->deleted) : NULL;

        if ((rq->blob != NULL && t->blob == NULL)
            || (rq->deleted != NULL && t->gone == NULL)
            || (rq->deleted != NULL && rq->ref != NULL
                && hr_plan_add_tag(t, rq->ref) == -1))
        {
            snprintf(err, errlen, "out of memory");
            return -1;
        }

        return 0;
    }

    /* the tag list, for the signature tags of what is copied */
    if (!rq->shallow
        && hr_reg_tags(&r->src, repo, &t->upstream, &t->nupstream, err,
                       errlen)
           == -1)
    {
        hr_log(&r->ctx->log, HR_LOG_WARN, "%s; signature tags not looked "
               "for", err);
        err[0] = '\0';
    }

    if (hr_plan_add_tag(t, rq->ref) == -1) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    return 0;
}


static int
hr_plan_list(hr_run_t *r, char *err, size_t errlen)
{
    int          rc;
    char       **repos, dst[512];
    size_t       i, n;
    hr_task_t   *t;

    hr_harbor_detect(&r->src);

    if (r->src.harbor) {
        hr_log(&r->ctx->log, HR_LOG_INFO, "%s is Harbor %s", r->src.rc->url,
               r->src.version);
        rc = hr_harbor_repos(&r->src, &repos, &n, err, errlen);

    } else {
        rc = hr_reg_catalog(&r->src, &repos, &n, err, errlen);

        if (rc == -1 && hr_plan_literal_repo(r->p, &repos, &n) == 0) {
            /* no catalog rights (Harbor gives them to admins only) */
            hr_log(&r->ctx->log, HR_LOG_WARN, "%s; using the repository the "
                   "name filter names", err);
            err[0] = '\0';
            rc = 0;
        }
    }

    if (rc == -1) {
        return -1;
    }

    r->tasks = calloc(n + 1, sizeof(hr_task_t));
    if (r->tasks == NULL) {
        hr_store_free_list(repos, n);
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (!hr_valid_repo(repos[i])) {
            hr_log(&r->ctx->log, HR_LOG_WARN, "skipping repository \"%.200s\""
                   ": not a valid name", repos[i]);
            continue;
        }

        if (!hr_policy_match_repo(r->p, repos[i])) {
            continue;
        }

        if (hr_policy_dest_repo(r->p, repos[i], dst, sizeof(dst), err, errlen)
            == -1 || !hr_valid_repo(dst))
        {
            hr_log(&r->ctx->log, HR_LOG_ERROR, "repository \"%s\": %s",
                   repos[i], err);
            t = &r->tasks[r->ntasks++];
            t->src_repo = strdup(repos[i]);
            t->dst_repo = strdup(repos[i]);
            t->failed = 1;
            snprintf(t->err, sizeof(t->err), "destination name: %s", err);
            err[0] = '\0';
            continue;
        }

        t = &r->tasks[r->ntasks++];
        t->src_repo = strdup(repos[i]);
        t->dst_repo = strdup(dst);
        t->start = time(NULL);

        if (t->src_repo == NULL || t->dst_repo == NULL) {
            hr_store_free_list(repos, n);
            snprintf(err, errlen, "out of memory");
            return -1;
        }

        if (hr_plan_task_tags(r, t, t->err, sizeof(t->err)) == -1) {
            t->failed = 1;
            hr_log(&r->ctx->log, HR_LOG_ERROR, "%s: %s", t->src_repo,
                   t->err);
        }
    }

    hr_store_free_list(repos, n);

    return 0;
}


/*
 * The first name filter, when it is a plain name without any pattern
 * character, is the only repository the policy can match.
 */
static int
hr_plan_literal_repo(hr_policy_t *p, char ***repos, size_t *n)
{
    size_t        i;
    const char   *v;

    for (i = 0; i < p->nfilters; i++) {
        if (p->filters[i].type != HR_FILTER_NAME) {
            continue;
        }

        v = p->filters[i].value;

        if (v == NULL || strpbrk(v, "*?[]{}\\") != NULL
            || !hr_valid_repo(v))
        {
            return -1;
        }

        *repos = calloc(2, sizeof(char *));
        if (*repos == NULL || ((*repos)[0] = strdup(v)) == NULL) {
            free(*repos);
            *repos = NULL;
            return -1;
        }

        *n = 1;

        return 0;
    }

    return -1;
}


static int
hr_plan_add_tag(hr_task_t *t, const char *tag)
{
    size_t        i;
    hr_tagent_t  *nt;

    for (i = 0; i < t->ntags; i++) {
        if (strcmp(t->tags[i].tag, tag) == 0) {
            return 0;
        }
    }

    if (t->ntags == t->ctags) {
        t->ctags = t->ctags ? t->ctags * 2 : 16;
        nt = realloc(t->tags, t->ctags * sizeof(hr_tagent_t));
        if (nt == NULL) {
            return -1;
        }
        t->tags = nt;
    }

    memset(&t->tags[t->ntags], 0, sizeof(hr_tagent_t));

    /* an untagged artifact is kept under its digest, tag "" */
    t->tags[t->ntags].tag = strdup(tag);
    if (t->tags[t->ntags].tag == NULL) {
        return -1;
    }

    t->ntags++;

    return 0;
}


static int
hr_plan_task_tags(hr_run_t *r, hr_task_t *t, char *err, size_t errlen)
{
    int             kept;
    size_t          i, k, nart, *keep;
    hr_art_t       *arts;
    hr_artifact_t   a;

    if (r->src.harbor) {
        if (hr_harbor_artifacts(&r->src, t->src_repo, &arts, &nart, err,
                                errlen)
            == -1)
        {
            return -1;
        }

        /* every tag, for the deletion check and the accessory tags */
        for (i = 0; i < nart; i++) {
            for (k = 0; k < arts[i].ntags; k++) {
                char  **nl;

                if (arts[i].tags[k][0] == '\0') {
                    continue;
                }

                nl = realloc(t->upstream, (t->nupstream + 1) * sizeof(char *));
                if (nl == NULL) {
                    hr_art_free(arts, nart);
                    snprintf(err, errlen, "out of memory");
                    return -1;
                }

                t->upstream = nl;
                t->upstream[t->nupstream] = strdup(arts[i].tags[k]);
                if (t->upstream[t->nupstream] != NULL) {
                    t->nupstream++;
                }
            }
        }

    } else {
        if (hr_reg_tags(&r->src, t->src_repo, &t->upstream, &t->nupstream,
                        err, errlen)
            == -1)
        {
            return -1;
        }

        /* a plain v2 registry: one artifact per tag, digest unknown */
        nart = t->nupstream;
        arts = calloc(nart + 1, sizeof(hr_art_t));
        if (arts == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }

        for (i = 0; i < nart; i++) {
            arts[i].tags = malloc(sizeof(char *));
            if (arts[i].tags == NULL
                || (arts[i].tags[0] = strdup(t->upstream[i])) == NULL)
            {
                hr_art_free(arts, nart);
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            arts[i].ntags = 1;
        }
    }

    for (i = 0; i < nart; i++) {
        keep = calloc(arts[i].ntags + 1, sizeof(size_t));
        if (keep == NULL) {
            hr_art_free(arts, nart);
            snprintf(err, errlen, "out of memory");
            return -1;
        }

        memset(&a, 0, sizeof(a));
        a.digest = arts[i].digest;
        a.type = arts[i].type;
        a.tags = (const char * const *) arts[i].tags;
        a.ntags = arts[i].ntags;
        a.labels = (const char * const *) arts[i].labels;
        a.nlabels = arts[i].nlabels;

        kept = hr_policy_filter_artifact(r->p, &a, keep);

        for (k = 0; kept > 0 && k < (size_t) kept; k++) {
            const char  *tag = arts[i].tags[keep[k]];

            if (!hr_valid_tag(tag)) {
                continue;
            }

            if (hr_plan_add_tag(t, tag) == -1) {
                free(keep);
                hr_art_free(arts, nart);
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        }

        if (kept == 0 && arts[i].digest != NULL) {
            /* kept untagged: copied by digest, the tag entry names it */
            if (hr_plan_add_tag(t, arts[i].digest) == -1) {
                free(keep);
                hr_art_free(arts, nart);
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        }

        free(keep);
    }

    hr_art_free(arts, nart);

    return 0;
}


static long
hr_plan_find_node(hr_task_t *t, const char *digest)
{
    size_t  i;

    for (i = 0; i < t->nnodes; i++) {
        if (strcmp(t->nodes[i].digest, digest) == 0) {
            return (long) i;
        }
    }

    return -1;
}


static long
hr_plan_new_node(hr_task_t *t, const char *digest)
{
    hr_node_t  *nn;

    if (t->nnodes == t->cnodes) {
        t->cnodes = t->cnodes ? t->cnodes * 2 : 16;
        nn = realloc(t->nodes, t->cnodes * sizeof(hr_node_t));
        if (nn == NULL) {
            return -1;
        }
        t->nodes = nn;
    }

    memset(&t->nodes[t->nnodes], 0, sizeof(hr_node_t));
    memcpy(t->nodes[t->nnodes].digest, digest, HR_DIGEST_LEN + 1);
    hr_buf_init(&t->nodes[t->nnodes].bytes, HR_MANIFEST_MAX);

    return (long) t->nnodes++;
}


static hr_dl_t *
hr_plan_find_dl(hr_run_t *r, const char *digest)
{
    size_t  i;

    for (i = 0; i < r->ndls; i++) {
        if (strcmp(r->dls[i]->digest, digest) == 0) {
            return r->dls[i];
        }
    }

    return NULL;
}


static int
hr_plan_node_blob(hr_run_t *r, hr_task_t *t, size_t ni, json_t *desc,
    char *err, size_t errlen)
{
    char        **nb;
    json_t       *sz;
    hr_node_t    *n;
    long long     size;
    const char   *digest, *mt;

    digest = json_string_value(json_object_get(desc, "digest"));
    if (digest == NULL) {
        digest = json_string_value(json_object_get(desc, "blobSum"));
    }

    mt = json_string_value(json_object_get(desc, "mediaType"));
    sz = json_object_get(desc, "size");
    size = json_is_integer(sz) ? json_integer_value(sz) : -1;

    if (!hr_valid_digest(digest)) {
        snprintf(err, errlen, "manifest %s names blob \"%.100s\": not a "
                 "sha256 digest", t->nodes[ni].digest,
                 digest ? digest : "(none)");
        return -1;
    }

    /* Harbor skips foreign layers: they live outside any registry */
    if (mt != NULL && strstr(mt, ".foreign.") != NULL) {
        return 0;
    }

    n = &t->nodes[ni];

    if (hr_plan_has(n->blobs, n->nblobs, digest)) {
        return 0;
    }

    nb = realloc(n->blobs, (n->nblobs + 1) * sizeof(char *));
    if (nb == NULL || (nb[n->nblobs] = strdup(digest)) == NULL) {
        if (nb != NULL) {
            n->blobs = nb;
        }
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    n->blobs = nb;
    n->nblobs++;
    hr_plan_use(r, digest);

    return hr_plan_need_blob(r, t, digest, size, err, errlen);
}


/* Notes a blob to fetch unless the store or this run already has it. */
static int
hr_plan_need_blob(hr_run_t *r, hr_task_t *t, const char *digest,
    long long size, char *err, size_t errlen)
{
    char        verr[PATH_MAX + 256];
    hr_dl_t    *d, **nd;
    long long   have;

    if (hr_plan_find_dl(r, digest) != NULL) {
        return 0;
    }

    /* a stored blob is trusted once it hashed right and did not change */
    switch (hr_verify_blob(&r->ctx->store, digest, &have, 0, r->job, NULL,
                           verr, sizeof(verr)))
    {
    case HR_VERIFY_OK:
        if (size < 0 || have == size) {
            r->linked++;        /* linked, not downloaded */
            return 0;
        }

        hr_log(&r->ctx->log, HR_LOG_WARN, "blob %s: %lld bytes stored, the "
               "manifest says %lld; not trusted, fetched again", digest,
               have, size);
        break;

    case HR_VERIFY_BAD:
        r->repaired++;
        hr_log(&r->ctx->log, HR_LOG_WARN, "blob %s: the stored copy is "
               "corrupt (%s); fetched again", digest, verr);
        break;

    case HR_VERIFY_ERROR:
        hr_log(&r->ctx->log, HR_LOG_WARN, "blob %s: %s; fetched again",
               digest, verr);
        break;

    default:
        break;
    }

    d = calloc(1, sizeof(hr_dl_t));
    if (d == NULL || (d->repo = strdup(t->src_repo)) == NULL) {
        free(d);
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    memcpy(d->digest, digest, HR_DIGEST_LEN + 1);
    d->size = size;
    d->w.fd = -1;

    if (r->ndls == r->cdls) {
        r->cdls = r->cdls ? r->cdls * 2 : 32;
        nd = realloc(r->dls, r->cdls * sizeof(hr_dl_t *));
        if (nd == NULL) {
            free(d->repo);
            free(d);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        r->dls = nd;
    }

    r->dls[r->ndls++] = d;

    if (size > 0) {
        r->bytes_total += size;
    }

    return 0;
}


/*
 * 1 with the stored manifest in bytes when t's destination has a revision
 * link for digest and the stored bytes hash to it; 0 when not; -1 out of
 * memory.
 */
static int
hr_plan_stored(hr_run_t *r, hr_task_t *t, const char *digest,
    hr_buf_t *bytes)
{
    char    cur[HR_DIGEST_LEN + 1], *p;
    size_t  len;

    if (hr_store_read_link(&r->ctx->store, t->dst_repo, HR_LINK_REVISION,
                           NULL, digest, cur)
        != 1
        || strcmp(cur, digest) != 0)
    {
        return 0;
    }

    if (hr_store_manifest_read(&r->ctx->store, digest, &p, &len) != 1) {
        if (hr_store_blob_exists(&r->ctx->store, digest, NULL)) {
            /* rewritten by the commit (hr_store_put_blob_b) */
            r->repaired++;
            hr_log(&r->ctx->log, HR_LOG_WARN, "manifest %s: the stored copy "
                   "does not hash to its digest; fetched again", digest);
        }

        return 0;
    }

    hr_buf_free(bytes);
    hr_buf_init(bytes, HR_MANIFEST_MAX);

    if (hr_buf_append(bytes, p, len) == -1) {
        free(p);
        return -1;
    }

    free(p);

    return 1;
}


static long
hr_plan_walk(hr_run_t *r, hr_task_t *t, const char *digest, hr_buf_t *bytes,
    const char *mt, int depth, char *err, size_t errlen)
{
    long           ni, ci;
    char           cmt[256], cdigest[HR_DIGEST_LEN + 1];
    size_t         i, *nc;
    json_t        *js, *arr, *v, *subj;
    hr_buf_t       cb;
    hr_node_t     *n;
    json_error_t   je;

    ni = hr_plan_find_node(t, digest);
    if (ni != -1) {
        return ni;
    }

    if (depth > HR_WALK_DEPTH) {
        snprintf(err, errlen, "manifest %s nested deeper than %d", digest,
                 HR_WALK_DEPTH);
        return -1;
    }

    ni = hr_plan_new_node(t, digest);
    if (ni == -1) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    hr_plan_use(r, digest);

    n = &t->nodes[ni];
    snprintf(n->mt, sizeof(n->mt), "%s", mt);

    /*
     * A revision link and bytes that hash to the digest: the stored copy
     * is walked instead of the primary's, and everything under it is
     * checked at commit, not assumed (a crash or a hand may have left a
     * link or a blob bad).
     */
    switch (hr_plan_stored(r, t, digest, &n->bytes)) {

    case 1:
        n->present = 1;
        hr_buf_free(bytes);
        break;

    case -1:
        snprintf(err, errlen, "out of memory");
        return -1;

    default:
        if (bytes->len == 0) {
            /* the caller counted on the stored copy: fetch it */
            hr_buf_init(&cb, HR_MANIFEST_MAX);

            if (hr_reg_manifest(&r->src, t->src_repo, digest, &cb, cmt,
                                sizeof(cmt), cdigest, err, errlen)
                == -1)
            {
                hr_buf_free(&cb);
                return -1;
            }

            n = &t->nodes[ni];

            if (strcmp(cdigest, digest) != 0) {
                hr_buf_free(&cb);
                snprintf(err, errlen, "manifest %s: the primary sent %s",
                         digest, cdigest);
                return -1;
            }

            if (n->mt[0] == '\0') {
                snprintf(n->mt, sizeof(n->mt), "%s", cmt);
            }

            hr_buf_free(&n->bytes);
            n->bytes = cb;

        } else {
            hr_buf_free(&n->bytes);
            n->bytes = *bytes;
            hr_buf_init(bytes, 0);
        }
    }

    js = json_loadb(n->bytes.data, n->bytes.len, 0, &je);
    if (!json_is_object(js)) {
        snprintf(err, errlen, "manifest %s: not a JSON object: %s", digest,
                 je.text);
        json_decref(js);
        return -1;
    }

    n->json = js;

    subj = json_object_get(js, "subject");
    if (hr_valid_digest(json_string_value(json_object_get(subj, "digest")))) {
        snprintf(n->subject, sizeof(n->subject), "%s",
                 json_string_value(json_object_get(subj, "digest")));
    }

    if (n->mt[0] == '\0') {
        v = json_object_get(js, "mediaType");
        snprintf(n->mt, sizeof(n->mt), "%s", json_is_string(v)
                 ? json_string_value(v)
                 : json_object_get(js, "manifests")
                   ? "application/vnd.oci.image.index.v1+json"
                   : "application/vnd.oci.image.manifest.v1+json");
    }

    /* a shallow copy (a fill) publishes the manifest alone */
    if (r->rq->shallow) {
        return ni;
    }

    arr = json_object_get(js, "manifests");

    if (json_is_array(arr)) {
        /* an index: children first, each by digest */
        json_array_foreach(arr, i, v) {
            const char  *d = json_string_value(json_object_get(v, "digest"));

            if (!hr_valid_digest(d)) {
                snprintf(err, errlen, "index %s: child \"%.100s\" is not a "
                         "sha256 digest", digest, d ? d : "(none)");
                return -1;
            }

            ci = hr_plan_find_node(t, d);

            if (ci == -1) {
                hr_buf_init(&cb, HR_MANIFEST_MAX);
                cmt[0] = '\0';
                memcpy(cdigest, d, HR_DIGEST_LEN + 1);

                /* a child stored intact costs no GET */
                if (!n->present
                    && hr_reg_manifest(&r->src, t->src_repo, d, &cb, cmt,
                                       sizeof(cmt), cdigest, err, errlen)
                       == -1)
                {
                    hr_buf_free(&cb);
                    return -1;
                }

                if (cmt[0] == '\0'
                    && json_is_string(json_object_get(v, "mediaType")))
                {
                    snprintf(cmt, sizeof(cmt), "%s", json_string_value(
                                 json_object_get(v, "mediaType")));
                }

                ci = hr_plan_walk(r, t, cdigest, &cb, cmt, depth + 1, err,
                                  errlen);
                hr_buf_free(&cb);

                if (ci == -1) {
                    return -1;
                }
            }

            n = &t->nodes[ni];          /* the array may have moved */

            nc = realloc(n->children, (n->nchildren + 1) * sizeof(size_t));
            if (nc == NULL) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }

            n->children = nc;
            n->children[n->nchildren++] = (size_t) ci;
        }

    } else if (json_integer_value(json_object_get(js, "schemaVersion"))
               == 1)
    {
        json_array_foreach(json_object_get(js, "fsLayers"), i, v) {
            if (hr_plan_node_blob(r, t, ni, v, err, errlen) == -1) {
                return -1;
            }
        }

    } else {
        v = json_object_get(js, "config");

        if (json_is_object(v)
            && hr_plan_node_blob(r, t, ni, v, err, errlen) == -1)
        {
            return -1;
        }

        json_array_foreach(json_object_get(js, "layers"), i, v) {
            if (hr_plan_node_blob(r, t, ni, v, err, errlen) == -1) {
                return -1;
            }
        }

        /* OCI 1.1 artifact manifests used "blobs" */
        json_array_foreach(json_object_get(js, "blobs"), i, v) {
            if (hr_plan_node_blob(r, t, ni, v, err, errlen) == -1) {
                return -1;
            }
        }
    }

    if (hr_plan_referrers(r, t, (size_t) ni, depth, err, errlen) == -1) {
        return -1;
    }

    return ni;
}


static int
hr_plan_referrers(hr_run_t *r, hr_task_t *t, size_t ni, int depth,
    char *err, size_t errlen)
{
    long         ci;
    char         tag[HR_DIGEST_LEN + 16], cmt[256];
    char         cdigest[HR_DIGEST_LEN + 1], subject[HR_DIGEST_LEN + 1];
    size_t       i;
    json_t      *idx, *v;
    hr_buf_t     cb;
    const char  *sfx[] = { "sig", "att", "sbom" };

    memcpy(subject, t->nodes[ni].digest, sizeof(subject));

    /* cosign's tag convention: copied under their own tags */
    for (i = 0; i < 3; i++) {
        snprintf(tag, sizeof(tag), "sha256-%s.%s", subject + 7, sfx[i]);

        if (hr_plan_has(t->upstream, t->nupstream, tag)
            && hr_plan_add_tag(t, tag) == -1)
        {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }

    /* OCI 1.1 referrers, when the source has the API */
    idx = hr_reg_referrers(&r->src, t->src_repo, subject, err, errlen);
    if (idx == NULL) {
        if (err[0] != '\0') {
            hr_log(&r->ctx->log, HR_LOG_WARN, "%s", err);
            err[0] = '\0';
        }
        return 0;
    }

    json_array_foreach(json_object_get(idx, "manifests"), i, v) {
        const char  *d = json_string_value(json_object_get(v, "digest"));

        if (!hr_valid_digest(d) || hr_plan_find_node(t, d) != -1) {
            continue;
        }

        hr_buf_init(&cb, HR_MANIFEST_MAX);

        if (hr_reg_manifest(&r->src, t->src_repo, d, &cb, cmt, sizeof(cmt),
                            cdigest, err, errlen)
            == -1)
        {
            hr_buf_free(&cb);
            json_decref(idx);
            return -1;
        }

        ci = hr_plan_walk(r, t, cdigest, &cb, cmt, depth + 1, err, errlen);
        hr_buf_free(&cb);

        if (ci == -1) {
            json_decref(idx);
            return -1;
        }

        if (t->nodes[ci].subject[0] == '\0') {
            memcpy(t->nodes[ci].subject, subject, sizeof(subject));
        }
    }

    json_decref(idx);

    return 0;
}


/*
 * A blob asked for by itself (a client missed it): linked into the
 * destination only when the primary serves it from the source repository,
 * even when the store holds it already for another repository — or a
 * private repository's layer could be read through a public one.  The HEAD
 * also gives the size the fetch is checked against.
 */
static int
hr_plan_walk_blob(hr_run_t *r, hr_task_t *t)
{
    char        url[512], scope[512], cur[HR_DIGEST_LEN + 1];
    hr_xfer_t  *x;
    long long   size;

    hr_plan_use(r, t->blob);
    t->blob_new = hr_store_read_link(&r->ctx->store, t->dst_repo,
                                     HR_LINK_LAYER, NULL, t->blob, cur)
                  != 1;

    if (r->rq->checked) {
        /* the caller has just asked the primary (a fill's HEAD) */
        if (hr_plan_need_blob(r, t, t->blob, r->rq->size, t->err,
                              sizeof(t->err))
            == -1)
        {
            t->failed = 1;
            return -1;
        }

        return 0;
    }

    snprintf(url, sizeof(url), "/v2/%s/blobs/%s", t->src_repo, t->blob);
    hr_reg_scope(scope, sizeof(scope), t->src_repo);

    x = hr_reg_get(&r->src, url, scope, NULL, 4096, 1, t->err,
                   sizeof(t->err));
    if (x == NULL) {
        t->failed = 1;
        return -1;
    }

    if (x->status != 200) {
        t->notfound = x->status == 404;
        snprintf(t->err, sizeof(t->err), "HEAD %.400s: HTTP %ld", url,
                 x->status);
        hr_xfer_free(x);
        t->failed = 1;
        return -1;
    }

    size = x->content_length;
    hr_xfer_free(x);

    if (hr_plan_need_blob(r, t, t->blob, size, t->err, sizeof(t->err)) == -1)
    {
        t->failed = 1;
        return -1;
    }

    return 0;
}


static int
hr_plan_walk_task(hr_run_t *r, hr_task_t *t)
{
    long         ni;
    char         mt[256], digest[HR_DIGEST_LEN + 1], cur[HR_DIGEST_LEN + 1];
    char         rev[HR_DIGEST_LEN + 1];
    size_t       k;
    hr_buf_t     b;
    hr_tagent_t  *te;

    if (t->failed) {
        return -1;
    }

    if (t->blob != NULL) {
        return hr_plan_walk_blob(r, t);
    }

    /* t->tags grows while we walk (accessory tags): index, not pointer */
    for (k = 0; k < t->ntags; k++) {
        if (hr_job_stopping(r->job)) {
            return -1;
        }

        hr_buf_init(&b, HR_MANIFEST_MAX);

        /* a tag that did not move costs a HEAD, not a GET of its tree */
        if (hr_valid_tag(t->tags[k].tag)
            && hr_store_read_link(&r->ctx->store, t->dst_repo,
                                  HR_LINK_TAG_CURRENT, t->tags[k].tag, NULL,
                                  cur)
               == 1
            && hr_reg_head_digest(&r->src, t->src_repo, t->tags[k].tag,
                                  digest)
               == 0
            && strcmp(cur, digest) == 0
            && hr_store_read_link(&r->ctx->store, t->dst_repo,
                                  HR_LINK_REVISION, NULL, digest, rev)
               == 1
            && hr_store_blob_exists(&r->ctx->store, digest, NULL))
        {
            /* the walk takes its "present" path: no GET, signature tags
               and referrers still looked for */
            ni = hr_plan_walk(r, t, digest, &b, "", 0, t->err,
                              sizeof(t->err));
            hr_buf_free(&b);

            if (ni == -1) {
                t->failed = 1;
                hr_log(&r->ctx->log, HR_LOG_ERROR, "%s:%s: %s", t->src_repo,
                       t->tags[k].tag, t->err);
                return -1;
            }

            te = &t->tags[k];
            memcpy(te->digest, digest, sizeof(digest));
            te->node = (size_t) ni;
            te->skip = 1;
            t->uptodate++;
            continue;
        }

        if (hr_reg_manifest(&r->src, t->src_repo, t->tags[k].tag, &b, mt,
                            sizeof(mt), digest, t->err, sizeof(t->err))
            == -1)
        {
            hr_buf_free(&b);
            t->failed = 1;
            t->notfound = r->src.status == 404 && k == 0;
            hr_log(&r->ctx->log, HR_LOG_ERROR, "%s:%s: %s", t->src_repo,
                   t->tags[k].tag, t->err);
            return -1;
        }

        te = &t->tags[k];
        memcpy(te->digest, digest, sizeof(digest));

        if (hr_valid_tag(te->tag)
            && hr_store_read_link(&r->ctx->store, t->dst_repo,
                                  HR_LINK_TAG_CURRENT, te->tag, NULL, cur)
               == 1)
        {
            if (strcmp(cur, digest) == 0) {
                te->skip = 1;
                t->uptodate++;

            } else if (!r->p->override) {
                te->skip = 1;
                te->kept = 1;
                t->kept++;
                hr_log(&r->ctx->log, HR_LOG_WARN, "%s:%s is %s here and %s "
                       "on the primary; kept (override is off)", t->dst_repo,
                       te->tag, cur, digest);
                hr_buf_free(&b);
                continue;
            }
        }

        ni = hr_plan_walk(r, t, digest, &b, mt, 0, t->err, sizeof(t->err));
        hr_buf_free(&b);

        if (ni == -1) {
            t->failed = 1;
            hr_log(&r->ctx->log, HR_LOG_ERROR, "%s:%s: %s", t->src_repo,
                   t->tags[k].tag, t->err);
            return -1;
        }

        t->tags[k].node = (size_t) ni;
    }

    return 0;
}


static int
hr_plan_dl_sink(hr_xfer_t *x, const char *p, size_t n)
{
    char      exp[64];
    hr_dl_t  *d;

    d = x->data;

    if (x->received == (long long) n) {
        /* first bytes of the body: was the Range honoured? */
        if (d->w.offset > 0) {
            snprintf(exp, sizeof(exp), "bytes %lld-", d->w.offset);

            if (x->status != 206
                || strncmp(x->content_range, exp, strlen(exp)) != 0)
            {
                if (hr_store_blob_restart(&d->w, x->sink_err,
                                          sizeof(x->sink_err))
                    == -1)
                {
                    return -1;
                }
            }
        }
    }

    if (hr_store_blob_write(&d->w, p, n, x->sink_err, sizeof(x->sink_err))
        == -1)
    {
        return -1;
    }

    d->got += n;

    return 0;
}


static void
hr_plan_dl_done(hr_xfer_t *x)
{
    hr_dl_t  *d;

    d = x->data;
    d->state = HR_DL_FINISHED;
    hr_job_wake(d->job);
}


/* Gives back the slot and, once the blob is settled, the claim. */
static void
hr_plan_dl_end(hr_run_t *r, hr_dl_t *d)
{
    if (d->slot) {
        d->slot = 0;
        hr_job_slot_release(r->job);
    }

    if (d->claimed
        && (d->state == HR_DL_OK || d->state == HR_DL_FAILED || r->stopped))
    {
        d->claimed = 0;
        hr_engine_blob_release(r->ctx->engine, d->digest, r->job);
    }
}


/*
 * Starts d: 0 when it runs or is settled, -1 when it waits (another job's
 * fetch of the same blob, another process, a backoff) or failed, -2 when
 * no transfer slot is free: nothing more can start now.
 */
static int
hr_plan_dl_start(hr_run_t *r, hr_dl_t *d, int par)
{
    int   rc;
    char  range[64];

    /* the engine's single flight: one job fetches, the others wait */
    if (!d->claimed) {
        if (!hr_engine_blob_claim(r->ctx->engine, d->digest, r->job)) {
            if (!d->busy_logged) {
                d->busy_logged = 1;
                hr_log(&r->ctx->log, HR_LOG_DEBUG, "blob %s: fetched by "
                       "another job; waiting for it", d->digest);
            }

            return -1;
        }

        d->claimed = 1;
    }

    /* the slot before begin(): begin() re-hashes a kept prefix */
    if (!d->slot) {
        if (!hr_job_slot_try(r->job)) {
            return -2;
        }

        d->slot = 1;
    }

    d->attempts++;

    rc = hr_store_blob_begin(&r->ctx->store, &d->w, d->digest, d->size,
                             d->err, sizeof(d->err));

    if (rc == 1) {
        hr_log(&r->ctx->log, HR_LOG_INFO, "blob %s: stored meanwhile by "
               "another job or process", d->digest);
        d->state = HR_DL_OK;

        /* not counted as this run's: the summary says what it stored */
        if (!d->elsewhere) {
            d->elsewhere = 1;
            r->elsewhere++;
        }

        hr_plan_dl_end(r, d);
        return 0;
    }

    if (rc == -2) {
        /* another process fetches it: look again in a moment */
        d->attempts--;
        d->not_before = time(NULL) + 1;

        if (!d->busy_logged) {
            d->busy_logged = 1;
            hr_log(&r->ctx->log, HR_LOG_INFO, "blob %s: %s; waiting",
                   d->digest, d->err);
        }

        hr_plan_dl_end(r, d);
        return -1;
    }

    if (rc == -1) {
        d->state = HR_DL_FAILED;
        hr_plan_dl_end(r, d);
        return -1;
    }

    if (d->w.offset > 0 && d->w.offset == d->size) {
        /* complete before an interruption: only the commit was missing */
        hr_log(&r->ctx->log, HR_LOG_INFO, "blob %s: all %lld bytes kept from "
               "an earlier run", d->digest, d->size);
        r->resumed += d->w.offset;
        d->state = hr_store_blob_commit_b(&d->w, &r->batch, d->err,
                                          sizeof(d->err))
                   == 0 ? HR_DL_OK : HR_DL_FAILED;
        hr_plan_dl_end(r, d);
        return 0;
    }

    if (d->w.offset > 0) {
        hr_log(&r->ctx->log, HR_LOG_INFO, "blob %s: resuming at byte %lld "
               "of %lld (partial data kept from an earlier run)", d->digest,
               d->w.offset, d->size);
    }

    d->x = hr_reg_blob_xfer(&r->src, d->repo, d->digest, d->err,
                            sizeof(d->err));
    if (d->x == NULL) {
        hr_store_blob_suspend(&d->w);
        d->state = HR_DL_FAILED;
        hr_plan_dl_end(r, d);
        return -1;
    }

    if (d->w.offset > 0 && (d->size < 0 || d->w.offset < d->size)) {
        snprintf(range, sizeof(range), "Range: bytes=%lld-", d->w.offset);
        hr_xfer_add_header(d->x, range);
    }

    hr_xfer_add_header(d->x, "Accept-Encoding: identity");

    /* speed is the policy's total: shared by the transfers in flight */
    if (r->p->speed > 0 && !hr_engine_blob_urgent(r->ctx->engine, d->digest))
    {
        hr_xfer_speed(d->x, hr_plan_share(r->p->speed, par));
    }

    d->job = r->job;
    d->x->sink = hr_plan_dl_sink;
    d->x->done_cb = hr_plan_dl_done;
    d->x->data = d;

    if (hr_xfer_start(d->x, d->err, sizeof(d->err)) == -1) {
        hr_xfer_free(d->x);
        d->x = NULL;
        hr_store_blob_suspend(&d->w);
        d->state = HR_DL_FAILED;
        hr_plan_dl_end(r, d);
        return -1;
    }

    hr_engine_blob_xfer(r->ctx->engine, d->digest, d->x);
    d->state = HR_DL_RUNNING;

    return 0;
}


static void
hr_plan_dl_finish(hr_run_t *r, hr_dl_t *d)
{
    int         transport, retry;
    char        scope[512];
    hr_xfer_t  *x;

    x = d->x;
    d->x = NULL;
    hr_engine_blob_xfer(r->ctx->engine, d->digest, NULL);

    transport = x->result != CURLE_OK && !x->sink_failed;

    if (x->result == CURLE_OK && (x->status == 200 || x->status == 206)) {
        r->resumed += d->w.resumed;

        if (hr_store_blob_commit_b(&d->w, &r->batch, d->err, sizeof(d->err))
            == 0)
        {
            d->state = HR_DL_OK;
            hr_log(&r->ctx->log, HR_LOG_DEBUG, "blob %s: %lld bytes over %s",
                   d->digest, d->w.offset,
                   x->version == CURL_HTTP_VERSION_2_0 ? "HTTP/2"
                   : x->version == CURL_HTTP_VERSION_3 ? "HTTP/3"
                   : "HTTP/1.1");

        } else {
            /* a digest or size mismatch: the primary lies; never retried */
            d->state = HR_DL_FAILED;
        }

        hr_xfer_free(x);
        hr_plan_dl_end(r, d);
        return;
    }

    if (x->status == 401 && !d->auth_retried) {
        hr_store_blob_suspend(&d->w);
        d->auth_retried = 1;
        d->attempts--;

        hr_reg_scope(scope, sizeof(scope), d->repo);

        d->state = hr_auth_challenge(&r->src.auth, x->www_auth, scope, d->err,
                                     sizeof(d->err))
                   == 0 ? HR_DL_PENDING : HR_DL_FAILED;
        hr_xfer_free(x);
        hr_plan_dl_end(r, d);
        return;
    }

    if (x->sink_failed) {
        snprintf(d->err, sizeof(d->err), "%s", x->errbuf);

        /* a size overrun means lying content: drop the partial data */
        hr_store_blob_discard(&d->w);
        d->state = HR_DL_FAILED;
        hr_xfer_free(x);
        hr_plan_dl_end(r, d);
        return;
    }

    if (transport) {
        snprintf(d->err, sizeof(d->err), "GET blob %s: %.300s", d->digest,
                 x->errbuf);
    } else {
        snprintf(d->err, sizeof(d->err), "GET blob %s: HTTP %ld %.200s",
                 d->digest, x->status, x->body.data ? x->body.data : "");
    }

    hr_store_blob_suspend(&d->w);

    /* transport errors, 5xx and 429 are worth another try, with Range */
    retry = transport || x->status >= 500 || x->status == 429;
    hr_xfer_free(x);

    if (retry && d->attempts < HR_DL_ATTEMPTS && !hr_job_stopping(r->job)) {
        /*
         * 2 s, 4 s, 8 s, as Harbor's copy retries; resumed with Range.  A
         * client waits for a fill: 1 s each, so that it fails (and the
         * client falls back, or asks again) in seconds, not a quarter
         * of a minute.
         */
        d->not_before = time(NULL) + (r->job->prio == HR_PRIO_CLIENT
                                      ? 1 : 2 << (d->attempts - 1));
        hr_log(&r->ctx->log, HR_LOG_WARN, "%s; retrying in %lds", d->err,
               (long) (d->not_before - time(NULL)));
        d->state = HR_DL_PENDING;
        hr_plan_dl_end(r, d);
        return;
    }

    d->state = HR_DL_FAILED;
    hr_plan_dl_end(r, d);
}


/* The progress log's interval: a long run says what it does. */
#define HR_PLAN_PROGRESS_S  5


static void
hr_plan_progress(hr_run_t *r, size_t done, long long got, time_t now)
{
    json_t  *p;

    if (r->id <= 0) {
        return;
    }

    p = json_pack("{s:I, s:I, s:I, s:I, s:I}",
                  "bytes", (json_int_t) (r->bytes + got),
                  "bytes_total", (json_int_t) r->bytes_total,
                  "blobs_done", (json_int_t) done,
                  "blobs_total", (json_int_t) r->ndls,
                  "updated", (json_int_t) now);

    if (p != NULL) {
        hr_exec_progress(r->ctx, r->id, p);
        json_decref(p);
    }
}


static int
hr_plan_fetch(hr_run_t *r)
{
    int         active, par, failed, shared, noslot;
    long        ms;
    char        line[256];
    size_t      i, pending, done;
    time_t      t0, last, lastfile, now;
    hr_dl_t    *d;
    long long   got;

    par = (int) (r->ndls < 64 ? r->ndls : 64);
    t0 = time(NULL);
    last = t0;
    lastfile = 0;
    failed = 0;
    shared = 0;

    for ( ;; ) {
        active = 0;

        for (i = 0; i < r->ndls; i++) {
            d = r->dls[i];

            if (d->state == HR_DL_FINISHED) {
                hr_plan_dl_finish(r, d);
            }

            if (d->state == HR_DL_RUNNING) {
                active++;
            }
        }

        if (hr_job_stopping(r->job)) {
            r->stopped = 1;
            break;
        }

        noslot = 0;
        now = time(NULL);

        for (i = 0; i < r->ndls && !noslot; i++) {
            d = r->dls[i];

            if (d->state == HR_DL_PENDING && d->not_before <= now) {
                if (hr_plan_dl_start(r, d, par) == -2) {
                    noslot = 1;

                } else if (d->state == HR_DL_RUNNING) {
                    active++;
                }
            }
        }

        /* speed is the policy's total: re-shared when the count changes */
        if (r->p->speed > 0 && active > 0 && active != shared) {
            shared = active;

            for (i = 0; i < r->ndls; i++) {
                d = r->dls[i];

                if (d->state == HR_DL_RUNNING
                    && !hr_engine_blob_urgent(r->ctx->engine, d->digest))
                {
                    hr_xfer_speed(d->x, hr_plan_share(r->p->speed, active));
                }
            }
        }

        pending = 0;
        done = 0;
        ms = 1000;

        for (i = 0; i < r->ndls; i++) {
            d = r->dls[i];

            if (d->state == HR_DL_PENDING) {
                pending++;

                if (d->not_before > now
                    && (d->not_before - now) * 1000 < ms)
                {
                    ms = (long) (d->not_before - now) * 1000;
                }
            }

            if (d->state == HR_DL_OK || d->state == HR_DL_FAILED) {
                done++;
            }
        }

        if (active == 0 && pending == 0) {
            break;
        }

        /* a transfer's end, a free slot or a released claim wakes it */
        hr_job_sleep(r->job, ms);

        now = time(NULL);
        got = 0;

        for (i = 0; i < r->ndls; i++) {
            got += r->dls[i]->got;
        }

        /* for `status`: what this execution has copied so far */
        if (now - lastfile >= 2) {
            lastfile = now;
            hr_plan_progress(r, done, got, now);
        }

        if (now - last >= (r->ctx->log.tty ? 1 : HR_PLAN_PROGRESS_S)) {
            last = now;

            snprintf(line, sizeof(line), "%s: blobs %zu/%zu, %.1f/%.1f MiB, "
                     "%.1f MiB/s", r->p->name, done, r->ndls,
                     got / 1048576.0, r->bytes_total / 1048576.0,
                     got / 1048576.0
                     / (now > t0 ? (double) (now - t0) : 1.0));

            /* a terminal sees a live line; a log a line every 10 s */
            if (r->ctx->log.tty) {
                hr_log_progress(&r->ctx->log, "%s", line);
            } else {
                hr_log(&r->ctx->log, HR_LOG_INFO, "progress: %s", line);
            }
        }
    }

    /* a stop leaves every running download resumable */
    for (i = 0; i < r->ndls; i++) {
        d = r->dls[i];

        if (d->x != NULL) {
            hr_engine_blob_xfer(r->ctx->engine, d->digest, NULL);
            hr_xfer_free(d->x);
            d->x = NULL;
            hr_store_blob_suspend(&d->w);
            hr_log(&r->ctx->log, HR_LOG_INFO, "blob %s: stopped at byte %lld"
                   ", kept for resume", d->digest, d->w.offset);
        }

        hr_plan_dl_end(r, d);

        r->bytes += d->got;

        if (d->state == HR_DL_FAILED) {
            failed = 1;
            hr_log(&r->ctx->log, HR_LOG_ERROR, "blob %s from %s: %s",
                   d->digest, d->repo, d->err);
        }
    }

    return failed || r->stopped ? -1 : 0;
}


static json_t *
hr_plan_descriptor(hr_node_t *n)
{
    json_t      *desc, *cfg, *at, *ann;

    desc = json_pack("{s:s, s:s, s:I}", "mediaType", n->mt, "digest",
                     n->digest, "size", (json_int_t) n->bytes.len);
    if (desc == NULL) {
        return NULL;
    }

    at = json_object_get(n->json, "artifactType");

    if (!json_is_string(at) || json_string_length(at) == 0) {
        cfg = json_object_get(n->json, "config");
        at = json_object_get(cfg, "mediaType");
    }

    if (json_is_string(at) && json_string_length(at) > 0) {
        json_object_set(desc, "artifactType", at);
    }

    ann = json_object_get(n->json, "annotations");

    if (json_is_object(ann) && json_object_size(ann) > 0) {
        json_object_set(desc, "annotations", ann);
    }

    return desc;
}


static int
hr_plan_commit_node(hr_run_t *r, hr_task_t *t, size_t ni, char *err,
    size_t errlen)
{
    int                g;
    size_t             i;
    json_t            *desc;
    hr_dl_t           *d;
    hr_node_t         *n;
    hr_store_t        *st;
    hr_store_batch_t  *b;

    n = &t->nodes[ni];
    st = &r->ctx->store;
    b = &r->batch;
    g = (int) (t - r->tasks);

    /*
     * A present node goes through it too: every call below leaves a good
     * file alone and rewrites a bad one.
     */
    if (n->written) {
        return 0;
    }

    if (n->failed) {
        snprintf(err, errlen, "manifest %s not written: a blob failed",
                 n->digest);
        return -1;
    }

    /* children first: an index is written only above complete children */
    for (i = 0; i < n->nchildren; i++) {
        if (hr_plan_commit_node(r, t, n->children[i], err, errlen) == -1) {
            t->nodes[ni].failed = 1;
            return -1;
        }
    }

    n = &t->nodes[ni];

    for (i = 0; i < n->nblobs; i++) {
        d = hr_plan_find_dl(r, n->blobs[i]);

        if (d != NULL && d->state != HR_DL_OK) {
            n->failed = 1;
            snprintf(err, errlen, "manifest %s not written: blob %s: %.300s",
                     n->digest, d->digest, d->err);
            return -1;
        }

        if (!hr_store_blob_exists(st, n->blobs[i], NULL)) {
            n->failed = 1;
            snprintf(err, errlen, "manifest %s not written: blob %s missing",
                     n->digest, n->blobs[i]);
            return -1;
        }

        if (hr_store_link_b(st, b, g, t->dst_repo, HR_LINK_LAYER, NULL,
                            n->blobs[i], err, errlen)
            == -1)
        {
            n->failed = 1;
            return -1;
        }
    }

    /* the bytes exactly as received; their digest was checked on arrival
       and is checked again here */
    if (hr_store_put_blob_b(st, b, g, n->digest, n->bytes.data, n->bytes.len,
                            err, errlen)
        == -1
        || hr_store_link_b(st, b, g, t->dst_repo, HR_LINK_LAYER, NULL,
                           n->digest, err, errlen)
           == -1
        || hr_store_link_b(st, b, g, t->dst_repo, HR_LINK_REVISION, NULL,
                           n->digest, err, errlen)
           == -1)
    {
        n->failed = 1;
        return -1;
    }

    if (n->subject[0] != '\0') {
        desc = hr_plan_descriptor(n);

        if (desc == NULL
            || hr_store_referrer_add_b(st, b, g, t->dst_repo, n->subject,
                                       desc, err, errlen)
               == -1)
        {
            json_decref(desc);
            n->failed = 1;
            return -1;
        }

        json_decref(desc);
    }

    n->written = 1;

    if (!n->present) {
        t->bytes += n->bytes.len;
    }

    return 0;
}


static int
hr_plan_commit_task(hr_run_t *r, hr_task_t *t)
{
    char          err[HR_ERR];
    size_t        k;
    hr_dl_t      *d;
    hr_node_t    *n;
    hr_tagent_t  *te;

    if (t->failed) {
        t->end = time(NULL);
        return -1;
    }

    if (t->blob != NULL) {
        d = hr_plan_find_dl(r, t->blob);

        if (d != NULL && d->state != HR_DL_OK) {
            t->failed = 1;
            snprintf(t->err, sizeof(t->err), "blob %s: %.400s", t->blob,
                     d->err);

        } else if (hr_store_link_b(&r->ctx->store, &r->batch,
                                   (int) (t - r->tasks), t->dst_repo,
                                   HR_LINK_LAYER, NULL, t->blob, err,
                                   sizeof(err))
                   == -1)
        {
            t->failed = 1;
            snprintf(t->err, sizeof(t->err), "%s", err);

        } else {
            t->bytes = d != NULL ? d->got : 0;     /* logged when published */
        }

        t->end = time(NULL);

        return t->failed ? -1 : 0;
    }

    /*
     * Every manifest first (children before their index, each referrer
     * after its own blobs, with its subject's referrers index), tags last.
     */
    for (k = 0; k < t->nnodes; k++) {
        if (t->nodes[k].failed) {
            continue;           /* already reported through its parent */
        }

        if (hr_plan_commit_node(r, t, k, err, sizeof(err)) == -1) {
            t->failed = 1;
            snprintf(t->err, sizeof(t->err), "%s", err);
            hr_log(&r->ctx->log, HR_LOG_ERROR, "%s: %s", t->dst_repo, err);
        }
    }

    for (k = 0; k < t->ntags; k++) {
        te = &t->tags[k];

        if (te->kept) {
            continue;
        }

        if (t->nodes[te->node].failed) {
            te->failed = 1;
            t->failed = 1;
            hr_log(&r->ctx->log, HR_LOG_ERROR, "%s:%s not written: its "
                   "manifest %s failed", t->dst_repo, te->tag,
                   te->digest);
            continue;
        }

        if (te->skip || !hr_valid_tag(te->tag)) {
            continue;           /* up to date, kept, or untagged */
        }

        /*
         * the tag last (renamed after the rest): current, then index, so
         * that a new tag's directory comes with its current link
         */
        if (hr_store_link_b(&r->ctx->store, &r->batch, (int) (t - r->tasks),
                            t->dst_repo, HR_LINK_TAG_CURRENT, te->tag,
                            te->digest, err, sizeof(err))
            == -1
            || hr_store_link_b(&r->ctx->store, &r->batch,
                               (int) (t - r->tasks), t->dst_repo,
                               HR_LINK_TAG_INDEX, te->tag, te->digest, err,
                               sizeof(err))
               == -1)
        {
            te->failed = 1;
            t->failed = 1;
            snprintf(t->err, sizeof(t->err), "%s", err);
            hr_log(&r->ctx->log, HR_LOG_ERROR, "%s:%s: %s", t->dst_repo,
                   te->tag, err);
            continue;
        }

        te->staged = 1;         /* counted and logged when published */
    }

    /* bytes fetched for this task's own blobs */
    for (k = 0; k < t->nnodes; k++) {
        size_t  i;

        n = &t->nodes[k];

        for (i = 0; i < n->nblobs; i++) {
            d = hr_plan_find_dl(r, n->blobs[i]);

            if (d != NULL && strcmp(d->repo, t->src_repo) == 0) {
                t->bytes += d->got;
            }
        }
    }

    t->end = time(NULL);

    return t->failed ? -1 : 0;
}


/*
 * Makes every task's staged files visible, tags last, and only then says
 * what was copied and deletes what the primary dropped.
 */
static void
hr_plan_publish(hr_run_t *r)
{
    char          err[HR_ERR];
    size_t        i, k;
    hr_task_t    *t;
    hr_tagent_t  *te;

    if (hr_store_batch_publish(&r->batch, err, sizeof(err)) == -1) {
        hr_log(&r->ctx->log, HR_LOG_ERROR, "%s", err);

    } else {
        hr_log(&r->ctx->log, HR_LOG_DEBUG, "%zu files published behind %u "
               "syncfs barriers", r->batch.nfiles, r->batch.barriers);
    }

    for (i = 0; i < r->ntasks; i++) {
        t = &r->tasks[i];

        if (hr_store_batch_failed(&r->batch, (int) i, err, sizeof(err))) {
            if (!t->failed) {
                t->failed = 1;
                snprintf(t->err, sizeof(t->err), "%s", err);
            }

            hr_log(&r->ctx->log, HR_LOG_ERROR, "%s: %s", t->dst_repo, err);

            for (k = 0; k < t->ntags; k++) {
                if (t->tags[k].staged) {
                    t->tags[k].failed = 1;
                }
            }

            t->end = time(NULL);
            continue;
        }

        if (t->blob != NULL && !t->failed) {
            hr_log(&r->ctx->log, HR_LOG_INFO, "%s@%s -> %s", t->src_repo,
                   t->blob, t->dst_repo);
        }

        for (k = 0; k < t->ntags; k++) {
            te = &t->tags[k];

            if (te->staged) {
                t->copied++;
                hr_log(&r->ctx->log, HR_LOG_INFO, "%s:%s -> %s:%s %s",
                       t->src_repo, te->tag, t->dst_repo, te->tag,
                       te->digest);
            }
        }

        if (!t->failed) {
            hr_plan_tier(r, t);
        }

        if (r->p->deletion && !t->failed && t->blob == NULL) {
            hr_plan_delete_tags(r, t);
        }

        t->end = time(NULL);
    }
}


/*
 * The tier of what a task published (tier.h): a client's miss (a fill, a
 * miss event) leaves it in the cache tier, unless a policy had it already;
 * a policy's copy pins it.
 */
static void
hr_plan_tier(hr_run_t *r, hr_task_t *t)
{
    int          cached;
    char         err[256];
    size_t       k;
    hr_node_t   *n;
    hr_store_t  *st;

    st = &r->ctx->store;

    if (strcmp(r->rq->trigger, "scrub") == 0) {
        return;                 /* a repair: the tier stays what it was */
    }

    cached = strcmp(r->rq->trigger, "fill") == 0
             || strcmp(r->rq->trigger, "on_demand") == 0;

    if (t->blob != NULL) {
        if (cached && t->blob_new
            && hr_tier_mark(st, t->dst_repo, t->blob, HR_TIER_LAYER, err,
                            sizeof(err))
               == -1)
        {
            hr_log(&r->ctx->log, HR_LOG_WARN, "%s", err);
        }

        if (!cached) {
            (void) hr_tier_unmark(st, t->dst_repo, t->blob, HR_TIER_LAYER);
        }

        return;
    }

    for (k = 0; k < t->nnodes; k++) {
        n = &t->nodes[k];

        if (!n->written) {
            continue;
        }

        if (!cached) {
            (void) hr_tier_unmark(st, t->dst_repo, n->digest,
                                  HR_TIER_REVISION);

        } else if ((!n->present
                    || hr_tier_cached(st, t->dst_repo, n->digest,
                                      HR_TIER_REVISION, NULL))
                   && hr_tier_mark(st, t->dst_repo, n->digest,
                                   HR_TIER_REVISION, err, sizeof(err))
                      == -1)
        {
            hr_log(&r->ctx->log, HR_LOG_WARN, "%s", err);
        }
    }
}


/*
 * A manifest the primary no longer has loses its links once no local tag
 * names it (prune.h), so that the edge answers 404 by digest and gc frees
 * its blobs.  The primary is asked first: a late or replayed delete of
 * something pushed again must not remove it.
 */
static void
hr_plan_prune(hr_run_t *r, hr_task_t *t, const char *digest)
{
    int               rc;
    char              mt[256], got[HR_DIGEST_LEN + 1], err[HR_ERR];
    hr_buf_t          b;
    hr_prune_stats_t  ps;

    if (hr_plan_find_node(t, digest) != -1) {
        return;                 /* copied by this very run: wanted */
    }

    hr_buf_init(&b, HR_MANIFEST_MAX);
    rc = hr_reg_manifest(&r->src, t->src_repo, digest, &b, mt, sizeof(mt),
                         got, err, sizeof(err));
    hr_buf_free(&b);

    if (rc == 0 || r->src.status != 404) {
        hr_log(&r->ctx->log, rc == 0 ? HR_LOG_INFO : HR_LOG_WARN, "%s@%s: "
               "kept (revision and layers): %s", t->dst_repo, digest,
               rc == 0 ? "the primary still has it" : err);
        return;
    }

    memset(&ps, 0, sizeof(ps));

    rc = hr_prune_manifest(&r->ctx->store, t->dst_repo, digest, &ps, err,
                           sizeof(err));

    if (rc == -1) {
        t->failed = 1;
        snprintf(t->err, sizeof(t->err), "%s", err);
        hr_log(&r->ctx->log, HR_LOG_ERROR, "%s@%s: %s", t->dst_repo, digest,
               err);
        return;
    }

    if (rc == 1) {
        hr_log(&r->ctx->log, HR_LOG_INFO, "%s@%s deleted: %ld revision and "
               "%ld layer links removed (policy \"%s\"); gc frees the blobs",
               t->dst_repo, digest, ps.revisions, ps.layers, r->p->name);
    }
}


/*
 * What the primary deleted (a DELETE_ARTIFACT event): the tag the event
 * names, or every local tag naming the digest.  A tag that moved since
 * the delete is not the one deleted, and stays.
 */
static void
hr_plan_deleted(hr_run_t *r, hr_task_t *t)
{
    int          rc;
    char       **tags, cur[HR_DIGEST_LEN + 1];
    size_t       k, ntags;
    hr_store_t  *st;

    st = &r->ctx->store;

    if (t->ntags > 0) {
        tags = calloc(1, sizeof(char *));
        if (tags == NULL || (tags[0] = strdup(t->tags[0].tag)) == NULL) {
            free(tags);
            t->failed = 1;
            snprintf(t->err, sizeof(t->err), "out of memory");
            return;
        }

        ntags = 1;

    } else if (hr_store_tags(st, t->dst_repo, &tags, &ntags, t->err,
                             sizeof(t->err))
               == -1)
    {
        /* no such repository here: nothing to delete */
        t->err[0] = '\0';
        t->end = time(NULL);
        return;
    }

    for (k = 0; k < ntags; k++) {
        rc = hr_store_read_link(st, t->dst_repo, HR_LINK_TAG_CURRENT, tags[k],
                                NULL, cur);

        if (rc != 1 || strcmp(cur, t->gone) != 0) {
            continue;
        }

        if (hr_store_tag_delete(st, t->dst_repo, tags[k], t->err,
                                sizeof(t->err))
            == -1)
        {
            t->failed = 1;
            hr_log(&r->ctx->log, HR_LOG_ERROR, "%s", t->err);
            continue;
        }

        t->deleted++;
        hr_log(&r->ctx->log, HR_LOG_INFO, "%s:%s deleted: deleted on the "
               "primary (policy \"%s\")", t->dst_repo, tags[k], r->p->name);
    }

    hr_store_free_list(tags, ntags);

    if (!t->failed) {
        hr_plan_prune(r, t, t->gone);
    }

    t->end = time(NULL);
}


static void
hr_plan_delete_tags(hr_run_t *r, hr_task_t *t)
{
    int             kept;
    char          **local, err[HR_ERR], cur[HR_DIGEST_LEN + 1];
    size_t          i, n, keep[1], ngone;
    const char     *one[1];
    hr_artifact_t   a;
    char          (*gone)[HR_DIGEST_LEN + 1];

    if (hr_store_tags(&r->ctx->store, t->dst_repo, &local, &n, err,
                      sizeof(err))
        == -1)
    {
        hr_log(&r->ctx->log, HR_LOG_ERROR, "%s", err);
        return;
    }

    /* the manifests the deleted tags named, pruned after the tags */
    gone = n > 0 ? calloc(n, sizeof(*gone)) : NULL;
    ngone = 0;

    for (i = 0; i < n; i++) {
        if (hr_plan_has(t->upstream, t->nupstream, local[i])) {
            continue;
        }

        /* only tags this policy would have copied are its business */
        memset(&a, 0, sizeof(a));
        one[0] = local[i];
        a.tags = one;
        a.ntags = 1;

        kept = hr_policy_filter_artifact(r->p, &a, keep);
        if (kept != 1) {
            continue;
        }

        if (hr_store_read_link(&r->ctx->store, t->dst_repo,
                               HR_LINK_TAG_CURRENT, local[i], NULL, cur)
            != 1)
        {
            cur[0] = '\0';
        }

        if (hr_store_tag_delete(&r->ctx->store, t->dst_repo, local[i], err,
                                sizeof(err))
            == -1)
        {
            hr_log(&r->ctx->log, HR_LOG_ERROR, "%s", err);
            continue;
        }

        t->deleted++;
        hr_log(&r->ctx->log, HR_LOG_INFO, "%s:%s deleted: gone from the "
               "primary", t->dst_repo, local[i]);

        if (gone != NULL && cur[0] != '\0') {
            memcpy(gone[ngone++], cur, HR_DIGEST_LEN + 1);
        }
    }

    hr_store_free_list(local, n);

    for (i = 0; i < ngone; i++) {
        hr_plan_prune(r, t, gone[i]);
    }

    free(gone);
}


static json_t *
hr_plan_record(hr_run_t *r, time_t start, long long id, const char *status)
{
    int       succeed, failed;
    size_t    i;
    json_t   *rec, *tasks, *tj;

    tasks = json_array();
    if (tasks == NULL) {
        return NULL;
    }

    succeed = 0;
    failed = 0;

    for (i = 0; i < r->ntasks; i++) {
        hr_task_t  *t = &r->tasks[i];

        if (t->failed) {
            failed++;
        } else {
            succeed++;
        }

        tj = json_pack("{s:I, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:I, s:I, "
                       "s:I}",
                       "id", (json_int_t) (i + 1),
                       "src_resource", t->src_repo,
                       "dst_resource", t->dst_repo,
                       "status", t->failed ? "Failed" : "Succeed",
                       "tags_copied", t->copied,
                       "tags_unchanged", t->uptodate,
                       "tags_kept", t->kept,
                       "tags_deleted", t->deleted,
                       "bytes", (json_int_t) t->bytes,
                       "start_time", (json_int_t) t->start,
                       "end_time", (json_int_t) (t->end ? t->end : time(NULL)));

        if (tj != NULL && t->failed && t->err[0]) {
            json_object_set_new(tj, "error", json_string(t->err));
        }

        if (tj != NULL) {
            json_array_append_new(tasks, tj);
        }
    }

    rec = json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:i, s:i, s:i, s:I, "
                    "s:I, s:I, s:I, s:o}",
                    "id", (json_int_t) id,
                    "policy", r->p->name,
                    "trigger", r->rq->trigger,
                    "status", status,
                    "start_time", (json_int_t) start,
                    "end_time", (json_int_t) time(NULL),
                    "total", (int) r->ntasks,
                    "succeed", succeed,
                    "failed", failed,
                    "bytes", (json_int_t) r->bytes,
                    "resumed_bytes", (json_int_t) r->resumed,
                    "blobs_fetched", (json_int_t) (r->ndls - r->elsewhere),
                    "blobs_linked", (json_int_t) r->linked,
                    "tasks", tasks);

    if (rec != NULL) {
        json_object_set_new(rec, "blobs_elsewhere",
                            json_integer(r->elsewhere));
    }

    if (rec != NULL && r->repaired > 0) {
        json_object_set_new(rec, "repaired", json_integer(r->repaired));
    }

    return rec;
}


static void
hr_plan_free(hr_run_t *r)
{
    size_t  i, k, b;

    for (i = 0; i < r->ntasks; i++) {
        hr_task_t  *t = &r->tasks[i];

        for (k = 0; k < t->nnodes; k++) {
            hr_buf_free(&t->nodes[k].bytes);
            json_decref(t->nodes[k].json);
            for (b = 0; b < t->nodes[k].nblobs; b++) {
                free(t->nodes[k].blobs[b]);
            }
            free(t->nodes[k].blobs);
            free(t->nodes[k].children);
        }

        for (k = 0; k < t->ntags; k++) {
            free(t->tags[k].tag);
        }

        free(t->nodes);
        free(t->tags);
        hr_store_free_list(t->upstream, t->nupstream);
        free(t->src_repo);
        free(t->dst_repo);
        free(t->blob);
        free(t->gone);
    }

    free(r->tasks);

    for (i = 0; i < r->ndls; i++) {
        if (r->dls[i]->x != NULL) {
            hr_xfer_free(r->dls[i]->x);
        }
        if (r->dls[i]->w.fd != -1) {
            hr_store_blob_suspend(&r->dls[i]->w);
        }
        free(r->dls[i]->repo);
        free(r->dls[i]);
    }

    free(r->dls);

    for (i = 0; i < r->nuses; i++) {
        hr_engine_use(r->ctx->engine, r->uses[i], -1);
        free(r->uses[i]);
    }

    free(r->uses);
    hr_src_free(&r->src);
    hr_store_batch_free(&r->batch);
}
