/*
 * plan.h: one execution of one policy.
 *
 *   1. list: repositories (catalog or Harbor API) through the name filters,
 *      artifacts/tags through the tag and label filters;
 *   2. walk: fetch each selected manifest, then index children, cosign-style
 *      tags sha256-<hex>.sig/.att/.sbom and OCI referrers of what is copied;
 *      note every blob the store lacks (a blob already in blobs/ is only
 *      linked);
 *   3. fetch: the missing blobs in parallel over libcurl multi, resumable;
 *   4. commit: per repository, in docs/store.md's order (children first,
 *      tags last); a manifest whose blobs failed is not written, nor
 *      anything above it.
 *
 * Each source repository is one task, as in Harbor.  The execution record
 * is handed to exec.c.
 */

#ifndef HR_PLAN_H
#define HR_PLAN_H

#include <jansson.h>

#include "hr.h"

/*
 * The whole policy; the execution is recorded in executions.jsonl.
 * trigger: "manual", "scheduled", ...  Returns 0, or -1 when a task failed
 * or the run was stopped (err says why).
 */
int hr_plan_run(hr_ctx_t *ctx, hr_policy_t *p, const char *trigger,
    char *err, size_t errlen);

/*
 * One reference (tag or digest) of the source repository repo, with its
 * closure (blobs, index children, signature tags, referrers), to repo's
 * destination under p (dest_namespace).  The policy's filters are NOT
 * applied here: the caller decides (hr_policy_match_repo(),
 * hr_policy_filter_artifact()).  override applies as in a run.  When rec
 * is not NULL the execution record (executions.jsonl's shape, with one
 * task) is returned there for the caller to keep and free, and nothing is
 * written to executions.jsonl.  Returns 0 or -1 with err.
 */
int hr_plan_copy(hr_ctx_t *ctx, hr_policy_t *p, const char *repo,
    const char *ref, const char *trigger, json_t **rec, char *err,
    size_t errlen);

/* One blob of repo (a miss on /blobs/), linked into the destination. */
int hr_plan_copy_blob(hr_ctx_t *ctx, hr_policy_t *p, const char *repo,
    const char *digest, const char *trigger, json_t **rec, char *err,
    size_t errlen);

#endif /* HR_PLAN_H */
