/*
 * prune.h: what goes with a manifest deleted on the primary (a policy with
 * "deletion": true; docs/store.md, "Deletion").
 *
 * Once no tag of the repository names it, a deleted manifest loses, in
 * this order, so that a reader never finds a name whose content is gone:
 * its descriptor in its subject's referrers index (and its own referrers
 * index), the tag index links that name it, its revision link (the edge answers
 * 404 by digest from then on), its own layer link, and the layer links of
 * what it refers to that no kept manifest of the repository needs; an
 * index's children go the same way unless a kept manifest refers to them.
 * The blob data stays for `gc`, which frees what no link names any more.
 */

#ifndef HR_PRUNE_H
#define HR_PRUNE_H

#include "store.h"

typedef struct {
    long    revisions;      /* revision links removed */
    long    layers;         /* layer links removed */
} hr_prune_stats_t;

/*
 * Returns 1 when digest's links were removed, 0 when it is kept (a tag
 * still names it, or a kept index refers to it), -1 with err.
 */
int hr_prune_manifest(hr_store_t *st, const char *repo, const char *digest,
    hr_prune_stats_t *ps, char *err, size_t errlen);

#endif /* HR_PRUNE_H */
