/*
 * exec.h: execution records and the gc lease, under the state directory
 * (ROOT/_harbor_edge by default), where distribution never looks.
 *
 *   executions.jsonl   JSON lines: an execution's "Running" line when it
 *                      starts, then its result; the last line of an id
 *                      wins
 *   gc.lease           flock(2)ed: shared by runs, exclusive by gc
 *   execution-ID.progress   a running execution's figures so far
 *                      ({"bytes", "bytes_total", "blobs_done",
 *                      "blobs_total", "updated"}), rewritten every few
 *                      seconds and removed with its result; `status`
 *                      shows them for a Running (or Interrupted) one
 *
 * One record schema for every execution, whatever caused it (plan.c makes
 * them; policy runs go to executions.jsonl, event-driven ones to Redis,
 * exec_redis.h):
 *
 *   {"id", "policy", "trigger" (manual|scheduled|event_based|on_demand),
 *    "status" (Running|Succeed|Failed|NotFound|Stopped|Interrupted),
 *    "start_time", "end_time", "total", "succeed", "failed", "bytes",
 *    "resumed_bytes", "blobs_fetched", "blobs_linked",
 *    "blobs_elsewhere" (stored meanwhile by another process), ["error"],
 *    ["event": {"what", "source", "lines", "attempt", "waited_ms",
 *               "occurred_at"}],
 *    "tasks": [{"id", "src_resource", "dst_resource", "status",
 *               "tags_copied", "tags_unchanged", "tags_kept",
 *               "tags_deleted", "bytes", "start_time", "end_time",
 *               ["error"]}]}
 */

#ifndef HR_EXEC_H
#define HR_EXEC_H

#include <time.h>

#include <jansson.h>

#include "hr.h"

long long hr_exec_next_id(hr_ctx_t *ctx);
/* Picks the next id and records the execution as "Running". */
long long hr_exec_begin(hr_ctx_t *ctx, const char *policy,
    const char *trigger, time_t start);
int hr_exec_append(hr_ctx_t *ctx, json_t *rec, char *err, size_t errlen);

/* A running execution's figures so far; NULL rec: it has ended. */
void hr_exec_progress(hr_ctx_t *ctx, long long id, json_t *rec);

/* One record, as `status` prints it, whichever store holds it. */
void hr_exec_print(json_t *rec);

/* Prints the last executions; json: one array on stdout. */
int hr_exec_status(hr_ctx_t *ctx, int json, char *err, size_t errlen);

/*
 * Takes the lease: shared (runs, many at once) or exclusive (gc).  With
 * nowait a held lease fails at once.  Returns the fd to close, or -1.
 */
int hr_exec_lease(hr_ctx_t *ctx, int exclusive, int nowait, char *err,
    size_t errlen);

#endif /* HR_EXEC_H */
