/*
 * exec.c: the execution log and the lease.
 *
 * The log is append-only JSON lines, written under executions.lock and
 * O_APPEND and fsynced, so concurrent runs (a daemon and a manual `run`)
 * never interleave a line.  `status` reads the tail; the file is small
 * (a few hundred bytes per execution).
 *
 * A full disk: a line that cannot be written whole is cut off again (no
 * torn line is left for the next one to be glued to), and the error is the
 * write's own errno.  A result must not be lost while its "Running" line is
 * there (the execution would be shown as Interrupted), so
 * executions.reserve holds some allocated space that a result may free
 * when the disk is full.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "exec.h"

#define HR_EXEC_LOG_MAX  (64 * 1024 * 1024)
#define HR_EXEC_SHOW     20
#define HR_EXEC_RESERVE  (256 * 1024)


static json_t *hr_exec_load(hr_ctx_t *ctx, char *err, size_t errlen);
static void hr_exec_progress_merge(hr_ctx_t *ctx, json_t *all);
static json_t *hr_exec_collapse(json_t *all);
static void hr_exec_time(json_t *v, char *out, size_t outlen);
static int hr_exec_lock(hr_ctx_t *ctx);
static void hr_exec_reserve(hr_ctx_t *ctx);
static int hr_exec_write(hr_ctx_t *ctx, json_t *rec, int reserve, char *err,
    size_t errlen);


static json_t *
hr_exec_load(hr_ctx_t *ctx, char *err, size_t errlen)
{
    char          path[PATH_MAX], *text, *line, *nl;
    size_t        len;
    json_t       *all, *js;
    json_error_t  je;

    snprintf(path, sizeof(path), "%s/executions.jsonl", ctx->store.state);

    all = json_array();
    if (all == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    text = hr_store_read_file(path, HR_EXEC_LOG_MAX, &len, err, errlen);
    if (text == NULL) {
        if (errno == ENOENT) {
            err[0] = '\0';
            return all;
        }

        json_decref(all);
        return NULL;
    }

    for (line = text; line < text + len; line = nl + 1) {
        nl = strchr(line, '\n');
        if (nl == NULL) {
            break;          /* a torn last line: ignored */
        }

        *nl = '\0';
        js = json_loads(line, 0, &je);

        if (json_is_object(js)) {
            json_array_append_new(all, js);

        } else {
            json_decref(js);
        }
    }

    free(text);

    all = hr_exec_collapse(all);
    hr_exec_progress_merge(ctx, all);

    return all;
}


/* Running and Interrupted executions: what they had copied so far. */
static void
hr_exec_progress_merge(hr_ctx_t *ctx, json_t *all)
{
    char          path[PATH_MAX], err[256], *text;
    size_t        i, len;
    json_t       *v, *p;
    const char   *st;
    json_error_t  je;

    json_array_foreach(all, i, v) {
        st = json_string_value(json_object_get(v, "status"));

        if (st == NULL || (strcmp(st, "Running") != 0
                           && strcmp(st, "Interrupted") != 0))
        {
            continue;
        }

        snprintf(path, sizeof(path), "%s/execution-%lld.progress",
                 ctx->store.state,
                 (long long) json_integer_value(json_object_get(v, "id")));

        text = hr_store_read_file(path, 4096, &len, err, sizeof(err));
        if (text == NULL) {
            continue;
        }

        p = json_loadb(text, len, 0, &je);
        free(text);

        if (json_is_object(p)) {
            json_object_update(v, p);
        }

        json_decref(p);
    }
}


void
hr_exec_progress(hr_ctx_t *ctx, long long id, json_t *rec)
{
    int     fd;
    char    path[PATH_MAX], tmp[PATH_MAX + 8], *text;
    size_t  len;

    if (id <= 0) {
        return;
    }

    snprintf(path, sizeof(path), "%s/execution-%lld.progress",
             ctx->store.state, id);

    if (rec == NULL) {
        (void) unlink(path);
        return;
    }

    text = json_dumps(rec, JSON_COMPACT);
    if (text == NULL) {
        return;
    }

    /* a reader sees the old figures or the new, never half */
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    len = strlen(text);

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (fd != -1) {
        if (write(fd, text, len) == (ssize_t) len) {
            close(fd);
            if (rename(tmp, path) == -1) {
                (void) unlink(tmp);
            }

        } else {
            close(fd);
            (void) unlink(tmp);
        }
    }

    free(text);
}


/*
 * An execution is logged twice: "Running" when it starts, and its result.
 * The last line of an id wins; a "Running" one whose process is gone was
 * killed (SIGKILL, a crash, a power cut) and is shown as "Interrupted".
 */
static json_t *
hr_exec_collapse(json_t *all)
{
    pid_t      pid;
    size_t     i, j;
    json_t    *out, *v, *w;
    long long  id;

    out = json_array();
    if (out == NULL) {
        return all;
    }

    json_array_foreach(all, i, v) {
        id = json_integer_value(json_object_get(v, "id"));

        json_array_foreach(out, j, w) {
            if (json_integer_value(json_object_get(w, "id")) == id) {
                break;
            }
        }

        if (j < json_array_size(out)) {
            json_array_set(out, j, v);

        } else {
            json_array_append(out, v);
        }
    }

    json_decref(all);

    json_array_foreach(out, i, v) {
        const char  *st = json_string_value(json_object_get(v, "status"));

        pid = (pid_t) json_integer_value(json_object_get(v, "pid"));

        if (st != NULL && strcmp(st, "Running") == 0 && pid > 0
            && kill(pid, 0) == -1 && errno == ESRCH)
        {
            json_object_set_new(v, "status", json_string("Interrupted"));
        }
    }

    return out;
}


long long
hr_exec_next_id(hr_ctx_t *ctx)
{
    char        err[256];
    size_t      i;
    json_t     *all, *v;
    long long   id, max;

    all = hr_exec_load(ctx, err, sizeof(err));
    max = 0;

    json_array_foreach(all, i, v) {
        id = json_integer_value(json_object_get(v, "id"));
        if (id > max) {
            max = id;
        }
    }

    json_decref(all);

    return max + 1;
}


long long
hr_exec_begin(hr_ctx_t *ctx, const char *policy, const char *trigger,
    time_t start)
{
    int         fd;
    char        err[256];
    json_t     *rec;
    long long   id;

    /* the id is picked and its "Running" line written under one lock */
    fd = hr_exec_lock(ctx);

    hr_exec_reserve(ctx);

    id = hr_exec_next_id(ctx);

    rec = json_pack("{s:I, s:s, s:s, s:s, s:I, s:i}", "id", (json_int_t) id,
                    "policy", policy, "trigger", trigger, "status", "Running",
                    "start_time", (json_int_t) start, "pid", (int) getpid());

    if (rec == NULL || hr_exec_write(ctx, rec, 0, err, sizeof(err)) == -1) {
        hr_log(&ctx->log, HR_LOG_WARN, "execution %lld not recorded: %s",
               id, rec ? err : "out of memory");
    }

    json_decref(rec);

    if (fd != -1) {
        close(fd);
    }

    return id;
}


static int
hr_exec_lock(hr_ctx_t *ctx)
{
    int   fd;
    char  path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/executions.lock", ctx->store.state);

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd != -1) {
        while (flock(fd, LOCK_EX) == -1 && errno == EINTR) {
            /* void */
        }
    }

    return fd;
}


/* Space for a result on a full disk; made again when there is room. */
static void
hr_exec_reserve(hr_ctx_t *ctx)
{
    int          fd;
    char         path[PATH_MAX];
    struct stat  st;

    snprintf(path, sizeof(path), "%s/executions.reserve", ctx->store.state);

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd == -1) {
        return;
    }

    if (fstat(fd, &st) == 0 && st.st_blocks * 512 < HR_EXEC_RESERVE
        && posix_fallocate(fd, 0, HR_EXEC_RESERVE) != 0)
    {
        /* no room now: the next execution tries again */
        if (ftruncate(fd, 0) == -1) {
            hr_log(&ctx->log, HR_LOG_WARN, "ftruncate(%s) failed: %s", path,
                   strerror(errno));
        }
    }

    close(fd);
}


int
hr_exec_append(hr_ctx_t *ctx, json_t *rec, char *err, size_t errlen)
{
    int  fd, rc;

    fd = hr_exec_lock(ctx);
    rc = hr_exec_write(ctx, rec, 1, err, errlen);

    if (fd != -1) {
        close(fd);
    }

    return rc;
}


/* One line, whole or not at all; the caller holds executions.lock. */
static int
hr_exec_write(hr_ctx_t *ctx, json_t *rec, int reserve, char *err,
    size_t errlen)
{
    int          fd, rc, e, freed;
    char         path[PATH_MAX], rpath[PATH_MAX], *text, *line;
    size_t       len, done;
    ssize_t      n;
    struct stat  st, rst;

    snprintf(path, sizeof(path), "%s/executions.jsonl", ctx->store.state);

    text = json_dumps(rec, JSON_COMPACT);
    if (text == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    len = strlen(text);
    line = realloc(text, len + 2);
    if (line == NULL) {
        free(text);
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    line[len++] = '\n';
    line[len] = '\0';

    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd == -1) {
        snprintf(err, errlen, "open(\"%s\") failed: %s", path,
                 strerror(errno));
        free(line);
        return -1;
    }

    rc = -1;
    freed = 0;

    for ( ;; ) {
        if (fstat(fd, &st) == -1) {
            snprintf(err, errlen, "fstat(\"%s\") failed: %s", path,
                     strerror(errno));
            break;
        }

        e = 0;

        for (done = 0; done < len; done += (size_t) n) {
            n = write(fd, line + done, len - done);

            if (n == -1 && errno == EINTR) {
                n = 0;
                continue;
            }

            if (n <= 0) {
                /* a short write is followed by one that says why */
                e = n == 0 ? EIO : errno;
                break;
            }
        }

        if (e == 0 && fsync(fd) == 0) {
            rc = 0;
            break;
        }

        if (e == 0) {
            e = errno;
        }

        /* cut the part that was written off again: no torn line */
        if (ftruncate(fd, st.st_size) == -1) {
            hr_log(&ctx->log, HR_LOG_ERROR, "ftruncate(\"%s\", %lld) "
                   "failed: %s", path, (long long) st.st_size,
                   strerror(errno));
        }

        if ((e == ENOSPC || e == EDQUOT) && reserve && !freed) {
            snprintf(rpath, sizeof(rpath), "%s/executions.reserve",
                     ctx->store.state);

            if (stat(rpath, &rst) == 0 && rst.st_blocks > 0
                && truncate(rpath, 0) == 0)
            {
                hr_log(&ctx->log, HR_LOG_WARN, "%s: %s; the reserved space "
                       "(%s) is used for this result", path, strerror(e),
                       rpath);
                freed = 1;
                continue;
            }
        }

        snprintf(err, errlen, "write(\"%s\") failed: %s", path,
                 strerror(e));
        break;
    }

    close(fd);
    free(line);

    return rc;
}


static void
hr_exec_time(json_t *v, char *out, size_t outlen)
{
    time_t     t;
    struct tm  tm;

    t = (time_t) json_integer_value(v);
    gmtime_r(&t, &tm);
    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}


int
hr_exec_status(hr_ctx_t *ctx, int json, char *err, size_t errlen)
{
    char       *text;
    size_t      i, n, first;
    json_t     *all, *out;

    all = hr_exec_load(ctx, err, errlen);
    if (all == NULL) {
        return -1;
    }

    n = json_array_size(all);
    first = n > HR_EXEC_SHOW ? n - HR_EXEC_SHOW : 0;

    if (json) {
        out = json_array();

        for (i = first; out != NULL && i < n; i++) {
            json_array_append(out, json_array_get(all, i));
        }

        text = out ? json_dumps(out, JSON_INDENT(2)) : NULL;
        json_decref(out);

        if (text == NULL) {
            json_decref(all);
            snprintf(err, errlen, "out of memory");
            return -1;
        }

        printf("%s\n", text);
        free(text);
        json_decref(all);

        return 0;
    }

    if (n == 0) {
        printf("no executions recorded in %s\n", ctx->store.state);
    }

    for (i = first; i < n; i++) {
        hr_exec_print(json_array_get(all, i));
    }

    json_decref(all);

    return 0;
}


/* One record, as `status` shows it (both stores of records use it). */
void
hr_exec_print(json_t *v)
{
    char          ts[64];
    size_t        k;
    json_t       *t, *e;
    long long     end;

    hr_exec_time(json_object_get(v, "start_time"), ts, sizeof(ts));

    /* a Running or Interrupted execution has no end yet */
    end = json_integer_value(json_object_get(v, "end_time"));
    if (end == 0) {
        end = time(NULL);
    }

    printf("execution %lld  %s  policy %s  %s  trigger %s  tasks %lld "
           "(%lld failed)  %lld bytes (%lld resumed)  %llds\n",
           (long long) json_integer_value(json_object_get(v, "id")), ts,
           json_string_value(json_object_get(v, "policy")),
           json_string_value(json_object_get(v, "status")),
           json_string_value(json_object_get(v, "trigger")),
           (long long) json_integer_value(json_object_get(v, "total")),
           (long long) json_integer_value(json_object_get(v, "failed")),
           (long long) json_integer_value(json_object_get(v, "bytes")),
           (long long) json_integer_value(json_object_get(v,
                                                        "resumed_bytes")),
           end - (long long) json_integer_value(json_object_get(v,
                                                          "start_time")));

    /* a running execution's figures so far */
    if (json_object_get(v, "blobs_total") != NULL) {
        printf("  progress: blobs %lld/%lld, %lld of %lld bytes\n",
               (long long) json_integer_value(json_object_get(v,
                                                          "blobs_done")),
               (long long) json_integer_value(json_object_get(v,
                                                         "blobs_total")),
               (long long) json_integer_value(json_object_get(v, "bytes")),
               (long long) json_integer_value(json_object_get(v,
                                                         "bytes_total")));
    }

    e = json_object_get(v, "event");
    if (json_is_object(e)) {
        printf("  event %s  attempt %lld  waited %lldms\n",
               json_string_value(json_object_get(e, "what")),
               (long long) json_integer_value(json_object_get(e, "attempt")),
               (long long) json_integer_value(json_object_get(e,
                                                            "waited_ms")));
    }

    json_array_foreach(json_object_get(v, "tasks"), k, t) {
        printf("  task %lld  %s -> %s  %s  copied %lld unchanged %lld "
               "kept %lld deleted %lld  %lld bytes%s%s\n",
               (long long) json_integer_value(json_object_get(t, "id")),
               json_string_value(json_object_get(t, "src_resource")),
               json_string_value(json_object_get(t, "dst_resource")),
               json_string_value(json_object_get(t, "status")),
               (long long) json_integer_value(json_object_get(t,
                                                           "tags_copied")),
               (long long) json_integer_value(json_object_get(t,
                                                        "tags_unchanged")),
               (long long) json_integer_value(json_object_get(t,
                                                             "tags_kept")),
               (long long) json_integer_value(json_object_get(t,
                                                          "tags_deleted")),
               (long long) json_integer_value(json_object_get(t, "bytes")),
               json_object_get(t, "error") ? "  error: " : "",
               json_object_get(t, "error")
               ? json_string_value(json_object_get(t, "error")) : "");
    }

    if (json_object_get(v, "error")) {
        printf("  error: %s\n",
               json_string_value(json_object_get(v, "error")));
    }
}


int
hr_exec_lease(hr_ctx_t *ctx, int exclusive, int nowait, char *err,
    size_t errlen)
{
    int   fd, op;
    char  path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/gc.lease", ctx->store.state);

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd == -1) {
        snprintf(err, errlen, "open(\"%s\") failed: %s", path,
                 strerror(errno));
        return -1;
    }

    op = (exclusive ? LOCK_EX : LOCK_SH) | (nowait ? LOCK_NB : 0);

    while (flock(fd, op) == -1) {
        if (errno == EINTR) {
            continue;
        }

        snprintf(err, errlen, "%s is held by %s: %s", path,
                 exclusive ? "a running replication" : "a running gc",
                 strerror(errno));
        close(fd);
        return -1;
    }

    return fd;
}
