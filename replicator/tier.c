/*
 * tier.c: the cache tier's markers (see tier.h).  Names and digests are
 * checked against the grammars before a path is built, as everywhere in
 * the store.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tier.h"


static int
hr_tier_path(hr_store_t *st, const char *repo, const char *digest, int kind,
    char *dir, size_t dirlen, char *path, size_t pathlen)
{
    if (!hr_valid_repo(repo) || !hr_valid_digest(digest)) {
        return -1;
    }

    if ((size_t) snprintf(dir, dirlen, "%s/repositories/%s/_harbor/cached%s"
                          "/sha256", st->v2, repo,
                          kind == HR_TIER_LAYER ? "/layers" : "")
        >= dirlen
        || (size_t) snprintf(path, pathlen, "%s/%s", dir, digest + 7)
           >= pathlen)
    {
        return -1;
    }

    return 0;
}


int
hr_tier_mark(hr_store_t *st, const char *repo, const char *digest, int kind,
    char *err, size_t errlen)
{
    int   fd;
    char  dir[PATH_MAX], path[PATH_MAX];

    if (hr_tier_path(st, repo, digest, kind, dir, sizeof(dir), path,
                     sizeof(path))
        == -1)
    {
        snprintf(err, errlen, "bad name \"%.200s\" or digest", repo);
        return -1;
    }

    if (hr_store_mkdirs(st, dir, err, errlen) == -1) {
        return -1;
    }

    fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, st->fmode);
    if (fd == -1) {
        snprintf(err, errlen, "open(\"%s\") failed: %s", path,
                 strerror(errno));
        return -1;
    }

    /* an older marker says "cached since" from now on */
    (void) futimens(fd, NULL);
    close(fd);

    return 0;
}


int
hr_tier_unmark(hr_store_t *st, const char *repo, const char *digest,
    int kind)
{
    char  dir[PATH_MAX], path[PATH_MAX];

    if (hr_tier_path(st, repo, digest, kind, dir, sizeof(dir), path,
                     sizeof(path))
        == -1)
    {
        return -1;
    }

    if (unlink(path) == -1 && errno != ENOENT) {
        return -1;
    }

    return 0;
}


int
hr_tier_cached(hr_store_t *st, const char *repo, const char *digest, int kind,
    time_t *since)
{
    char         dir[PATH_MAX], path[PATH_MAX];
    struct stat  sb;

    if (hr_tier_path(st, repo, digest, kind, dir, sizeof(dir), path,
                     sizeof(path))
        == -1
        || lstat(path, &sb) == -1 || !S_ISREG(sb.st_mode))
    {
        return 0;
    }

    if (since != NULL) {
        *since = sb.st_mtime;
    }

    return 1;
}
