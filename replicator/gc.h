/*
 * gc.h: mark and sweep of the store.  Mark: every digest named by any link
 * file under repositories/ (layers, revisions, tags).  Sweep: every blob in
 * blobs/ that no link names, and temporaries older than a day.  gc holds
 * the lease exclusively, runs hold it shared, so a blob that a run has
 * written but not linked yet is never swept.
 */

#ifndef HR_GC_H
#define HR_GC_H

#include "hr.h"

int hr_gc(hr_ctx_t *ctx, int dry_run, char *err, size_t errlen);

#endif /* HR_GC_H */
