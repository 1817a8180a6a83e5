/*
 * gc.c: the mark set is a sorted array of 64-character hex strings; a store
 * with a million blobs costs 65 MB of it, and one sort.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "exec.h"
#include "gc.h"

#define HR_GC_TMP_AGE  (24 * 3600)


typedef struct {
    char     (*hex)[65];
    size_t     n;
    size_t     cap;
    long long  tmp_removed;
    int        dry_run;
    time_t     now;
    hr_ctx_t  *ctx;
} hr_gc_t;


static int hr_gc_mark(hr_gc_t *gc, const char *dir, int depth, char *err,
    size_t errlen);
static int hr_gc_add(hr_gc_t *gc, const char *hex);
static int hr_gc_cmp(const void *a, const void *b);
static void hr_gc_tmp(hr_gc_t *gc, const char *path, struct stat *sb);


static int
hr_gc_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 64);
}


static int
hr_gc_add(hr_gc_t *gc, const char *hex)
{
    char  (*nh)[65];

    if (gc->n == gc->cap) {
        gc->cap = gc->cap ? gc->cap * 2 : 1024;
        nh = realloc(gc->hex, gc->cap * sizeof(*gc->hex));
        if (nh == NULL) {
            return -1;
        }
        gc->hex = nh;
    }

    memcpy(gc->hex[gc->n], hex, 64);
    gc->hex[gc->n][64] = '\0';
    gc->n++;

    return 0;
}


/*
 * A temporary goes when its process is gone (the pid in <name>.tmp-<pid>-
 * <n>: a kill -9 or a crash, also one of a version that wrote them beside
 * their target), or when it is older than a day.
 */
static void
hr_gc_tmp(hr_gc_t *gc, const char *path, struct stat *sb)
{
    long         pid;
    char        *end;
    const char  *p;

    p = strstr(path, ".tmp-");
    if (p == NULL) {
        return;
    }

    errno = 0;
    pid = strtol(p + 5, &end, 10);

    if (gc->now - sb->st_mtime < HR_GC_TMP_AGE
        && (errno != 0 || end == p + 5 || *end != '-' || pid <= 0
            || pid == (long) getpid() || kill((pid_t) pid, 0) == 0
            || errno != ESRCH))
    {
        return;
    }

    gc->tmp_removed++;

    if (gc->dry_run) {
        hr_log(&gc->ctx->log, HR_LOG_INFO, "gc: would remove temporary %s",
               path);
        return;
    }

    unlink(path);
}


static int
hr_gc_mark(hr_gc_t *gc, const char *dir, int depth, char *err, size_t errlen)
{
    DIR            *d;
    int             fd;
    char            path[PATH_MAX], buf[80];
    ssize_t         n;
    struct stat     sb;
    struct dirent  *de;

    if (depth > 64) {
        return 0;
    }

    d = opendir(dir);
    if (d == NULL) {
        if (errno == ENOENT) {
            return 0;
        }

        snprintf(err, errlen, "opendir(\"%s\") failed: %s", dir,
                 strerror(errno));
        return -1;
    }

    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }

        if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, de->d_name)
            >= sizeof(path))
        {
            continue;
        }

        if (lstat(path, &sb) == -1) {
            continue;
        }

        if (S_ISDIR(sb.st_mode)) {
            if (hr_gc_mark(gc, path, depth + 1, err, errlen) == -1) {
                closedir(d);
                return -1;
            }
            continue;
        }

        if (!S_ISREG(sb.st_mode)) {
            continue;
        }

        if (strcmp(de->d_name, "link") != 0) {
            hr_gc_tmp(gc, path, &sb);
            continue;
        }

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd == -1) {
            continue;
        }

        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);

        if (n != HR_DIGEST_LEN) {
            continue;
        }

        buf[n] = '\0';

        if (hr_valid_digest(buf) && hr_gc_add(gc, buf + 7) == -1) {
            closedir(d);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }

    closedir(d);

    return 0;
}


int
hr_gc(hr_ctx_t *ctx, int dry_run, char *err, size_t errlen)
{
    int             lease;
    DIR            *d1, *d2;
    char            path[PATH_MAX], data[2 * PATH_MAX + 600];
    hr_gc_t         gc;
    long long       swept, kept, bytes;
    struct stat     sb;
    struct dirent  *e1, *e2;

    lease = hr_exec_lease(ctx, 1, 1, err, errlen);
    if (lease == -1) {
        return -1;
    }

    memset(&gc, 0, sizeof(hr_gc_t));
    gc.dry_run = dry_run;
    gc.now = time(NULL);
    gc.ctx = ctx;

    snprintf(path, sizeof(path), "%s/repositories", ctx->store.v2);

    if (hr_gc_mark(&gc, path, 0, err, errlen) == -1) {
        free(gc.hex);
        close(lease);
        return -1;
    }

    /* temporaries: a dead process's at once, any other after a day */
    snprintf(path, sizeof(path), "%s/" HR_STORE_TMP_DIR, ctx->store.v2);

    if (hr_gc_mark(&gc, path, 0, err, errlen) == -1) {
        free(gc.hex);
        close(lease);
        return -1;
    }

    qsort(gc.hex, gc.n, sizeof(*gc.hex), hr_gc_cmp);

    swept = 0;
    kept = 0;
    bytes = 0;

    snprintf(path, sizeof(path), "%s/blobs/sha256", ctx->store.v2);

    d1 = opendir(path);

    while (d1 != NULL && (e1 = readdir(d1)) != NULL) {
        char  sub[PATH_MAX + 300];

        if (strlen(e1->d_name) != 2) {
            continue;
        }

        snprintf(sub, sizeof(sub), "%s/%s", path, e1->d_name);

        d2 = opendir(sub);

        while (d2 != NULL && (e2 = readdir(d2)) != NULL) {
            char  hexdigest[HR_DIGEST_LEN + 1];

            if (strlen(e2->d_name) != 64) {
                continue;
            }

            snprintf(hexdigest, sizeof(hexdigest), "sha256:%s", e2->d_name);
            if (!hr_valid_digest(hexdigest)) {
                continue;
            }

            if (bsearch(e2->d_name, gc.hex, gc.n, sizeof(*gc.hex), hr_gc_cmp)
                != NULL)
            {
                kept++;
                continue;
            }

            snprintf(data, sizeof(data), "%s/%s/data", sub, e2->d_name);

            if (lstat(data, &sb) == 0) {
                bytes += sb.st_size;
            }

            swept++;

            if (dry_run) {
                hr_log(&ctx->log, HR_LOG_INFO, "gc: would remove blob %s",
                       hexdigest);
                continue;
            }

            unlink(data);
            snprintf(data, sizeof(data), "%s/%s", sub, e2->d_name);
            rmdir(data);
            hr_log(&ctx->log, HR_LOG_DEBUG, "gc: removed blob %s", hexdigest);
        }

        if (d2 != NULL) {
            closedir(d2);
        }
    }

    if (d1 != NULL) {
        closedir(d1);
    }

    hr_log(&ctx->log, HR_LOG_INFO, "gc%s: %lld blobs referenced, %lld "
           "unreferenced (%lld bytes) %s, %lld temporaries %s",
           dry_run ? " (dry run)" : "", kept, swept, bytes,
           dry_run ? "would be removed" : "removed", gc.tmp_removed,
           dry_run ? "would be removed" : "removed");

    free(gc.hex);
    close(lease);

    return 0;
}
