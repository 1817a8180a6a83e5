/*
 * evict.h: the byte budget of the store ("cache": {"max_bytes",
 * "low_water", "interval"}).  When the blobs of the store take more than
 * max_bytes, cached content (tier.h) is evicted, least recently served
 * first, until they take at most low_water * max_bytes.
 *
 * Never evicted: pinned content; a blob a kept manifest references; what a
 * job of this process is fetching or about to link (engine.h's uses and
 * claims).  In a reader-safe order: a manifest's tags, then its revision
 * link (and those of its cached children nobody else needs), then the
 * layer links no kept manifest of the repository needs, then the blob
 * data that no repository links any more.  A client reading a blob that is
 * removed finishes its download (the file goes when it is closed).
 *
 * "Served" is what nginx served: the module reports each manifest and
 * blob it serves to Redis (<queue>:served, a sorted set scored by the
 * time, at most once a second per object and worker); content never
 * served counts from when it was cached.
 *
 * A pass runs in three steps so that the daemon can ask Redis without
 * blocking: hr_evict_scan() reads the store, the caller gives the served
 * times of hr_evict_candidates() with hr_evict_served(), then
 * hr_evict_apply() removes.
 */

#ifndef HR_EVICT_H
#define HR_EVICT_H

#include <time.h>

#include "hr.h"

typedef struct hr_evict_s  hr_evict_t;

typedef struct {
    long long     total;            /* blob bytes in the store */
    long long     pinned;           /* bytes pinned content references */
    long long     cached;           /* the rest */
    long long     max;              /* the budget, 0: none */
    long long     target;           /* low_water * max */
    long long     freed;            /* bytes removed by this pass */
    long long     evicted;          /* manifests and layer links removed */
    long long     blobs;            /* blob files removed */
    long long     skipped;          /* candidates in use, left */
    int           over_pinned;      /* pinned alone is over the budget */
} hr_evict_stats_t;

/*
 * Reads the store.  j: the job to yield in now and then (NULL: none).
 * NULL with err.
 */
hr_evict_t *hr_evict_scan(hr_ctx_t *ctx, hr_job_t *j, char *err,
    size_t errlen);

/* The digests whose served time matters (cached content), n of them. */
const char **hr_evict_candidates(hr_evict_t *ev, size_t *n);
void hr_evict_served(hr_evict_t *ev, const char *digest, time_t when);

/*
 * Evicts down to the target when over max (max 0: only the figures).
 * dry_run: says what it would remove, removes nothing.  Each removal is
 * logged; removed digests are listed for hr_evict_removed().
 */
int hr_evict_apply(hr_evict_t *ev, long long max, double low, int dry_run,
    hr_evict_stats_t *st, char *err, size_t errlen);

/* Digests whose blob data went, to forget in <queue>:served. */
const char **hr_evict_removed(hr_evict_t *ev, size_t *n);

void hr_evict_free(hr_evict_t *ev);

#endif /* HR_EVICT_H */
