/*
 * exec.h: execution records and the gc lease, under the state directory
 * (ROOT/_harbor_edge by default), where distribution never looks.
 *
 *   executions.jsonl   JSON lines: an execution's "Running" line when it
 *                      starts, then its result with its tasks (policy,
 *                      status, counts, bytes, errors, times); the last
 *                      line of an id wins
 *   gc.lease           flock(2)ed: shared by runs, exclusive by gc
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

/* Prints the last executions; json: one array on stdout. */
int hr_exec_status(hr_ctx_t *ctx, int json, char *err, size_t errlen);

/*
 * Takes the lease: shared (runs, many at once) or exclusive (gc).  With
 * nowait a held lease fails at once.  Returns the fd to close, or -1.
 */
int hr_exec_lease(hr_ctx_t *ctx, int exclusive, int nowait, char *err,
    size_t errlen);

#endif /* HR_EXEC_H */
