/*
 * verify.h: is a stored blob what its name says?  (docs/store.md,
 * "Verification and repair")
 *
 * Hashing every stored blob on every run is too slow for a big store, so
 * a blob's good hash is remembered in STATE/verified/<hh>/<hex>, keyed by
 * the data file's device, inode, size, mtime and ctime (nanoseconds).  A
 * file whose key changed (rewritten, replaced, touched, restored from a
 * backup) is hashed again before it is trusted; one whose key did not
 * change is trusted without reading it.  What the key cannot see — a flip
 * on the medium below the filesystem — is the scrub's (scrub.h).
 *
 * A blob that does not hash to its digest is moved out of the served path
 * into STATE/quarantine/ (or removed when the state directory is on
 * another filesystem): from then on it is absent for every reader, the
 * module's verified-file cache (keyed by inode) no longer matches it, and
 * the writer that fetches it again finds nothing in its way.
 */

#ifndef HR_VERIFY_H
#define HR_VERIFY_H

#include "engine.h"
#include "store.h"

/* The pace of a scrub: bytes read since t0 (monotonic ms), at rate. */
typedef struct {
    long long   rate;           /* bytes per second, 0: no limit */
    long long   t0;
    long long   bytes;
} hr_pace_t;

typedef enum {
    HR_VERIFY_ABSENT = 0,
    HR_VERIFY_OK,
    HR_VERIFY_BAD,              /* wrong bytes: quarantined */
    HR_VERIFY_ERROR = -1        /* could not read it: err */
} hr_verify_e;

/*
 * The blob's state; *size gets its size when it is there.  force: hash
 * it whatever the cache says (the scrub).  j: the job to yield in between
 * chunks (NULL: none); pace: how fast to read, and what was read (NULL:
 * as fast as it goes).
 */
hr_verify_e hr_verify_blob(hr_store_t *st, const char *digest,
    long long *size, int force, hr_job_t *j,
    hr_pace_t *pace, char *err, size_t errlen);

long long hr_verify_now_ms(void);

/* Remembers that blobs/.../data of digest was just written verified. */
void hr_verify_remember(hr_store_t *st, const char *digest);

/*
 * Moves blobs/.../data of digest out of the served path; where it went in
 * err ("quarantined as ..." or "removed").  -1 when it could not.
 */
int hr_verify_quarantine(hr_store_t *st, const char *digest, char *err,
    size_t errlen);

#endif /* HR_VERIFY_H */
