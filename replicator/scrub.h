/*
 * scrub.h: re-hashing the whole store (`harbor-replicator scrub`, and in
 * the daemon with "scrub": {"bytes_per_second": N, "interval": S}).
 *
 * The verified cache (verify.h) trusts a blob whose device, inode, size,
 * mtime and ctime did not change, and so does the module under
 * "harbor_verify once".  Neither sees a flip on the medium, below the
 * filesystem.  A scrub pass hashes every file under blobs/ whatever any
 * cache says, at most bytes_per_second, and for each that does not hash to
 * its name: moves it out of the served path (the quarantine), so that no
 * reader finds it any more, then fetches it again from the primary for a
 * repository that links it, under the policy that covers that repository.
 * What it found is in STATE/scrub.json (`status`, the metrics textfile).
 */

#ifndef HR_SCRUB_H
#define HR_SCRUB_H

#include <jansson.h>

#include "hr.h"

#define HR_SCRUB_FIGURES  "scrub.json"

typedef struct {
    long long   files;          /* hashed */
    long long   bytes;
    long long   corrupt;        /* quarantined */
    long long   repaired;       /* fetched again, and right */
    long long   errors;         /* could not be read */
    int         stopped;        /* the pass did not finish */
} hr_scrub_stats_t;

/*
 * One pass, inside job j of ctx->engine; rate: bytes per second (0: no
 * limit).  0, or -1 with err (the pass could not run, or was stopped).
 * The figures go to STATE/scrub.json.
 */
int hr_scrub_pass(hr_ctx_t *ctx, hr_config_t *cf, hr_job_t *j,
    long long rate, hr_scrub_stats_t *ss, char *err, size_t errlen);

/* STATE/scrub.json, or NULL. */
json_t *hr_scrub_figures(const char *state);

/* The daemon's background scrub: a pass every "interval" seconds. */
typedef struct hr_scrubber_s  hr_scrubber_t;

hr_scrubber_t *hr_scrubber_create(hr_ctx_t *ctx);
/* Starts a pass when one is due; ms until the next is due (-1: off). */
long hr_scrubber_dispatch(hr_scrubber_t *sc);
void hr_scrubber_free(hr_scrubber_t *sc);

#endif /* HR_SCRUB_H */
