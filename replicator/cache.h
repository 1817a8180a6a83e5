/*
 * cache.h: the budget in the daemon, and the `evict` command (evict.h is
 * the pass itself).
 *
 * Every "cache.interval" seconds the daemon runs a pass as a job of the
 * engine (priority "schedule"): the store is read, the served times of the
 * cached content are asked from Redis (ZMSCORE <queue>:served, answered
 * on the loop), and what is over the budget goes.  Each pass leaves its
 * figures in STATE/cache.json (bytes per tier, budget, what it removed),
 * which `status` and `metrics` read.
 */

#ifndef HR_CACHE_H
#define HR_CACHE_H

#include "evict.h"
#include "hr.h"
#include "queue.h"

#define HR_CACHE_FIGURES  "cache.json"

typedef struct hr_cache_s  hr_cache_t;

/* q: the events queue (NULL without Redis: cached since, not served). */
hr_cache_t *hr_cache_create(hr_ctx_t *ctx, hr_queue_t *q, char *err,
    size_t errlen);
void hr_cache_free(hr_cache_t *c);

/* `evict [--dry-run]`: one pass now; prints what goes and the figures. */
int hr_cache_evict(hr_ctx_t *ctx, int dry_run, char *err, size_t errlen);

/* The last pass's figures (STATE/cache.json of state), or NULL. */
json_t *hr_cache_figures(const char *state);

#endif /* HR_CACHE_H */
