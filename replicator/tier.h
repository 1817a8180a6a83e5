/*
 * tier.h: the two tiers of one store (docs/store.md, "Tiers").  Content a
 * replication policy copied is pinned; content that came because a client
 * missed it (a fill, a miss event) is cached, and only cached content is
 * ever evicted (evict.h).  A cached revision carries a marker in a
 * directory distribution never reads:
 *
 *   repositories/<name>/_harbor/cached/sha256/<hex>          a revision
 *   repositories/<name>/_harbor/cached/layers/sha256/<hex>   a layer link
 *                                                            a blob fill made
 *
 * An empty file; its mtime is when the content was cached.  A policy copy
 * of cached content removes the marker: it is pinned from then on.
 */

#ifndef HR_TIER_H
#define HR_TIER_H

#include "store.h"

#define HR_TIER_REVISION  0
#define HR_TIER_LAYER     1

/* Marks (or pins: unmark) digest of repo.  0, or -1 with err. */
int hr_tier_mark(hr_store_t *st, const char *repo, const char *digest,
    int kind, char *err, size_t errlen);
int hr_tier_unmark(hr_store_t *st, const char *repo, const char *digest,
    int kind);

/* 1 when marked cached (*since: when), 0 when not. */
int hr_tier_cached(hr_store_t *st, const char *repo, const char *digest,
    int kind, time_t *since);

#endif /* HR_TIER_H */
