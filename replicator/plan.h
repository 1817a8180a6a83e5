/*
 * plan.h: the copy engine's one execution: list, walk, fetch, commit.
 *
 *   1. list: repositories (catalog or Harbor API) through the name filters,
 *      artifacts/tags through the tag and label filters; or the one
 *      reference, blob or deletion a request names;
 *   2. walk: fetch each selected manifest, then index children, cosign-style
 *      tags sha256-<hex>.sig/.att/.sbom and OCI referrers of what is copied;
 *      note every blob the store lacks (a blob already in blobs/ is only
 *      linked);
 *   3. fetch: the missing blobs in parallel over libcurl multi, resumable,
 *      each under a transfer slot and a claim of the engine (engine.h), so a
 *      blob is fetched once whoever else wants it;
 *   4. commit: per repository, in docs/store.md's order (children first,
 *      tags last); a manifest whose blobs failed is not written, nor
 *      anything above it.
 *
 * Whatever asked for it — a policy run (manual, scheduled), a webhook event
 * or a client's miss — goes through here, with one integrity rule (nothing
 * found on disk is trusted: a stored manifest is re-hashed, a stored blob of
 * the wrong size is fetched again) and one record (exec.h).  Every call
 * here runs inside a job of ctx->engine: it waits by yielding, never by
 * running the loop.
 */

#ifndef HR_PLAN_H
#define HR_PLAN_H

#include <jansson.h>

#include "hr.h"

typedef struct {
    hr_config_t   *cf;          /* the configuration the job runs under */
    hr_policy_t   *p;           /* a policy of cf */
    const char    *trigger;     /* "manual", "scheduled", "event_based",
                                   "on_demand" */
    const char    *repo;        /* NULL: the whole policy; else the source
                                   repository of ref, blob or deleted */
    const char    *ref;         /* a tag or digest, copied with its closure */
    const char    *blob;        /* a digest: one blob, linked into the
                                   destination once the primary serves it
                                   from repo */
    const char    *deleted;     /* a digest deleted on the primary: with ref
                                   (the tag) that tag, else every tag naming
                                   it, is removed at the destination */
    json_t        *event;       /* added to the record as "event", or NULL */
    long long      size;        /* blob: its size, when checked */
    unsigned       checked:1;   /* blob: the caller has just had the
                                   primary confirm that repo serves it
                                   (and learned size): not asked again */
    unsigned       shallow:1;   /* ref: the manifest alone (and its tag),
                                   without children, blobs, signatures or
                                   referrers: a fill publishes it at once
                                   and fills the rest as clients ask */
} hr_plan_req_t;

typedef struct {
    json_t        *rec;         /* the record, when the caller keeps it */
    int            notfound;    /* the primary answered 404 for it */
} hr_plan_res_t;

/*
 * One execution.  With res NULL the record goes to executions.jsonl; else
 * it is returned in res->rec for the caller to keep and free.  The
 * policy's filters are not applied to a single reference: the caller
 * decides (hr_policy_match_repo(), hr_policy_filter_artifact()).
 * Returns 0, or -1 when a task failed or the run was stopped (err says
 * why).
 */
int hr_plan_execute(hr_ctx_t *ctx, const hr_plan_req_t *rq,
    hr_plan_res_t *res, char *err, size_t errlen);

#endif /* HR_PLAN_H */
