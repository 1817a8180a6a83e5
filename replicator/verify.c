/*
 * verify.c: the verified-blob cache and the quarantine (see verify.h).
 *
 * An entry is one line, "v1 <dev> <ino> <size> <mtime> <ctime>\n", the
 * times in nanoseconds, written without fsync: a torn or lost entry only
 * costs a hash.  Any write to the data file, a chmod, a rename or a
 * restore changes its ctime, which nothing outside the kernel can set.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "verify.h"

#define HR_VERIFY_CHUNK   (256 * 1024)
#define HR_VERIFY_YIELD   (16 * 1024 * 1024)    /* bytes between yields */


static void hr_verify_paths(hr_store_t *st, const char *digest, char *data,
    char *entry, size_t len);
static int hr_verify_key(const struct stat *sb, char *out, size_t len);
static int hr_verify_hash(const char *path, hr_job_t *j, hr_pace_t *pace,
    char *got, char *err, size_t errlen);
static void hr_verify_pace(hr_job_t *j, hr_pace_t *pace, size_t n);


long long
hr_verify_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static void
hr_verify_paths(hr_store_t *st, const char *digest, char *data, char *entry,
    size_t len)
{
    snprintf(data, len, "%s/blobs/sha256/%.2s/%s/data", st->v2, digest + 7,
             digest + 7);
    snprintf(entry, len, "%s/verified/%.2s/%s", st->state, digest + 7,
             digest + 7);
}


static int
hr_verify_key(const struct stat *sb, char *out, size_t len)
{
    int  n;

    n = snprintf(out, len, "v1 %llu %llu %lld %lld%09ld %lld%09ld\n",
                 (unsigned long long) sb->st_dev,
                 (unsigned long long) sb->st_ino, (long long) sb->st_size,
                 (long long) sb->st_mtim.tv_sec, sb->st_mtim.tv_nsec,
                 (long long) sb->st_ctim.tv_sec, sb->st_ctim.tv_nsec);

    return (n < 0 || (size_t) n >= len) ? -1 : n;
}


/* Sleeps (or yields) so that pace->bytes are read at pace->rate at most. */
static void
hr_verify_pace(hr_job_t *j, hr_pace_t *pace, size_t n)
{
    long long        due, now, before;
    struct timespec  ts;

    before = pace->bytes;
    pace->bytes += n;

    if (pace->rate <= 0) {
        if (j != NULL && before / HR_VERIFY_YIELD
                         != pace->bytes / HR_VERIFY_YIELD)
        {
            hr_job_sleep(j, 0);
        }
        return;
    }

    due = pace->t0 + pace->bytes * 1000 / pace->rate;
    now = hr_verify_now_ms();

    if (due <= now) {
        return;
    }

    if (j != NULL) {
        hr_job_sleep(j, (long) (due - now));
        return;
    }

    ts.tv_sec = (due - now) / 1000;
    ts.tv_nsec = (long) ((due - now) % 1000) * 1000000;
    (void) nanosleep(&ts, NULL);
}


static int
hr_verify_hash(const char *path, hr_job_t *j, hr_pace_t *pace, char *got,
    char *err, size_t errlen)
{
    int             fd, rc;
    char           *buf;
    ssize_t         n;
    hr_pace_t       own;
    EVP_MD_CTX     *md;
    unsigned int    mdlen;
    unsigned char   h[EVP_MAX_MD_SIZE];

    if (pace == NULL) {
        memset(&own, 0, sizeof(own));
        pace = &own;
    }

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd == -1) {
        snprintf(err, errlen, "open(\"%s\") failed: %s", path,
                 strerror(errno));
        return errno == ENOENT ? 0 : -1;
    }

    /* on the heap: a job's fiber has a small stack */
    buf = malloc(HR_VERIFY_CHUNK);
    md = EVP_MD_CTX_new();

    if (buf == NULL || md == NULL
        || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
    {
        snprintf(err, errlen, "out of memory");
        rc = -1;
        goto done;
    }

    for ( ;; ) {
        n = read(fd, buf, HR_VERIFY_CHUNK);

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n == -1) {
            snprintf(err, errlen, "read(\"%s\") failed: %s", path,
                     strerror(errno));
            rc = -1;
            goto done;
        }

        if (n == 0) {
            break;
        }

        EVP_DigestUpdate(md, buf, n);
        hr_verify_pace(j, pace, (size_t) n);

        if (j != NULL && hr_job_stopping(j)) {
            snprintf(err, errlen, "stopped while hashing \"%s\"", path);
            rc = -1;
            goto done;
        }
    }

    EVP_DigestFinal_ex(md, h, &mdlen);
    hr_sha256_format(h, got);
    rc = 1;

done:

    close(fd);
    free(buf);
    EVP_MD_CTX_free(md);

    return rc;
}


hr_verify_e
hr_verify_blob(hr_store_t *st, const char *digest, long long *size,
    int force, hr_job_t *j, hr_pace_t *pace, char *err, size_t errlen)
{
    int          fd, rc;
    char         data[PATH_MAX], entry[PATH_MAX], key[160], have[160];
    char         got[HR_DIGEST_LEN + 1], qerr[PATH_MAX + 64];
    ssize_t      n;
    struct stat  sb, sa;

    err[0] = '\0';

    if (!hr_valid_digest(digest)) {
        return HR_VERIFY_ABSENT;
    }

    hr_verify_paths(st, digest, data, entry, sizeof(data));

    if (lstat(data, &sb) == -1 || !S_ISREG(sb.st_mode)) {
        return HR_VERIFY_ABSENT;
    }

    /* what a crash leaves of a file whose data never reached the disk */
    if (sb.st_size == 0 && strcmp(digest, HR_STORE_EMPTY_DIGEST) != 0) {
        return HR_VERIFY_ABSENT;
    }

    if (size != NULL) {
        *size = sb.st_size;
    }

    if (hr_verify_key(&sb, key, sizeof(key)) == -1) {
        snprintf(err, errlen, "%s: no key", data);
        return HR_VERIFY_ERROR;
    }

    if (!force) {
        fd = open(entry, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

        if (fd != -1) {
            n = read(fd, have, sizeof(have) - 1);
            close(fd);

            if (n > 0) {
                have[n] = '\0';

                if (strcmp(have, key) == 0) {
                    return HR_VERIFY_OK;
                }
            }
        }
    }

    rc = hr_verify_hash(data, j, pace, got, err, errlen);

    if (rc == 0) {
        return HR_VERIFY_ABSENT;
    }

    if (rc == -1) {
        return HR_VERIFY_ERROR;
    }

    if (strcmp(got, digest) == 0) {
        /* remembered only when the file did not change while read */
        if (lstat(data, &sa) == 0 && sa.st_ino == sb.st_ino
            && sa.st_dev == sb.st_dev
            && sa.st_ctim.tv_sec == sb.st_ctim.tv_sec
            && sa.st_ctim.tv_nsec == sb.st_ctim.tv_nsec)
        {
            hr_verify_remember(st, digest);
        }

        return HR_VERIFY_OK;
    }

    /* a writer may have put the right file in its place meanwhile */
    if (lstat(data, &sa) == -1 || sa.st_ino != sb.st_ino
        || sa.st_dev != sb.st_dev)
    {
        snprintf(err, errlen, "%s was replaced while it was hashed", data);
        return HR_VERIFY_ERROR;
    }

    if (hr_verify_quarantine(st, digest, qerr, sizeof(qerr)) == -1) {
        snprintf(err, errlen, "%s hashes to %s, and %s", data, got, qerr);
        return HR_VERIFY_ERROR;
    }

    snprintf(err, errlen, "%s hashes to %s: %s", data, got, qerr);

    return HR_VERIFY_BAD;
}


void
hr_verify_remember(hr_store_t *st, const char *digest)
{
    int          fd, n;
    char         data[PATH_MAX], entry[PATH_MAX], key[160];
    char         tmp[PATH_MAX + 32], dir[PATH_MAX], err[PATH_MAX + 64];
    struct stat  sb;

    if (!hr_valid_digest(digest)) {
        return;
    }

    hr_verify_paths(st, digest, data, entry, sizeof(data));

    if (lstat(data, &sb) == -1 || !S_ISREG(sb.st_mode)) {
        return;
    }

    n = hr_verify_key(&sb, key, sizeof(key));
    if (n == -1) {
        return;
    }

    snprintf(dir, sizeof(dir), "%s/verified/%.2s", st->state, digest + 7);

    if (hr_store_mkdirs(st, dir, err, sizeof(err)) == -1) {
        return;
    }

    snprintf(tmp, sizeof(tmp), "%s.tmp-%d-%u", entry, (int) getpid(),
             st->tmpn++);

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        return;
    }

    if (write(fd, key, n) != n || close(fd) == -1 || rename(tmp, entry) == -1)
    {
        unlink(tmp);
    }
}


int
hr_verify_quarantine(hr_store_t *st, const char *digest, char *err,
    size_t errlen)
{
    char  data[PATH_MAX], entry[PATH_MAX], q[PATH_MAX + 128];
    char  dir[PATH_MAX], merr[PATH_MAX + 64];

    hr_verify_paths(st, digest, data, entry, sizeof(data));
    unlink(entry);

    snprintf(dir, sizeof(dir), "%s/quarantine", st->state);
    snprintf(q, sizeof(q), "%s/sha256-%s.%lld-%d", dir, digest + 7,
             (long long) time(NULL), (int) getpid());

    if (hr_store_mkdirs(st, dir, merr, sizeof(merr)) == 0
        && rename(data, q) == 0)
    {
        snprintf(err, errlen, "quarantined as %s", q);
        return 0;
    }

    /* the state directory is elsewhere (EXDEV), or not writable */
    if (unlink(data) == 0 || errno == ENOENT) {
        snprintf(err, errlen, "removed (not movable to %s)", dir);
        return 0;
    }

    snprintf(err, errlen, "could not be moved out of the way: unlink(\"%s\") "
             "failed: %s", data, strerror(errno));

    return -1;
}
