/*
 * metrics.c: the node_exporter textfile of the replicator (see metrics.h).
 *
 * Rendering is a pure function of the records: it sums them per policy
 * (a small array, sorted by name so the file is stable from one write to
 * the next) and prints each family with its HELP and TYPE lines, skipping
 * families that have no sample.  Policy names come from the operator's
 * configuration, so they are escaped as label values and never trusted.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "metrics.h"
#include "redis_addr.h"
#include "store.h"

#define HR_METRICS_LOG_MAX  (64 * 1024 * 1024)


enum {
    HR_METRICS_SUCCEED = 0,
    HR_METRICS_FAILED_EXEC,
    HR_METRICS_STOPPED,
    HR_METRICS_INTERRUPTED,
    HR_METRICS_OTHER,
    HR_METRICS_NSTATUS
};

typedef struct {
    char       *policy;
    long long   execs[HR_METRICS_NSTATUS];
    long long   running;
    long long   copied;
    long long   fetched;
    long long   linked;
    long long   bytes;
    long long   failures;
    long long   last_success;       /* 0: never */
} hr_metrics_policy_t;

typedef struct {
    hr_metrics_policy_t  *p;
    size_t                n;
    size_t                cap;
} hr_metrics_sum_t;


static const char  *hr_metrics_status_labels[HR_METRICS_NSTATUS] = {
    "succeed", "failed", "stopped", "interrupted", "other"
};

static const char  *hr_metrics_queue_labels[HR_METRICS_NQUEUES] = {
    "waiting", "processing", "failed"
};


static hr_metrics_policy_t *hr_metrics_policy(hr_metrics_sum_t *sum,
    const char *name);
static int hr_metrics_add(hr_metrics_sum_t *sum, json_t *rec);
static long long hr_metrics_int(json_t *rec, const char *key);
static int hr_metrics_cmp(const void *a, const void *b);
static int hr_metrics_printf(hr_buf_t *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int hr_metrics_label(hr_buf_t *out, const char *value);
static int hr_metrics_family(hr_buf_t *out, const char *name,
    const char *type, const char *help);
static int hr_metrics_policy_sample(hr_buf_t *out, const char *name,
    const char *policy, const char *extra, long long value);
static void hr_metrics_sum_free(hr_metrics_sum_t *sum);
static int hr_metrics_scrub(hr_buf_t *out, json_t *js);


void
hr_metrics_src_init(hr_metrics_src_t *src)
{
    int  i;

    src->execs = NULL;
    src->stats = NULL;
    src->cache = NULL;
    src->scrub = NULL;

    for (i = 0; i < HR_METRICS_NQUEUES; i++) {
        src->queue[i] = -1;
    }
}


int
hr_metrics_load(const char *state_dir, json_t **execs, char *err,
    size_t errlen)
{
    char          path[PATH_MAX], *text, *line, *nl;
    size_t        len, i;
    json_t       *all, *js, *v;
    json_int_t    id;
    json_error_t  je;

    *execs = NULL;

    if ((size_t) snprintf(path, sizeof(path), "%s/executions.jsonl",
                          state_dir)
        >= sizeof(path))
    {
        snprintf(err, errlen, "state directory path too long");
        return -1;
    }

    all = json_array();
    if (all == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    text = hr_store_read_file(path, HR_METRICS_LOG_MAX, &len, err, errlen);
    if (text == NULL) {
        if (errno == ENOENT) {
            err[0] = '\0';
            *execs = all;
            return 0;
        }

        json_decref(all);
        return -1;
    }

    /* the last line of an id wins, as `status` shows them */

    for (line = text; line < text + len; line = nl + 1) {
        nl = strchr(line, '\n');
        if (nl == NULL) {
            break;          /* a torn last line: being written */
        }

        *nl = '\0';
        js = json_loads(line, 0, &je);

        if (!json_is_object(js)) {
            json_decref(js);
            continue;
        }

        id = json_integer_value(json_object_get(js, "id"));

        json_array_foreach(all, i, v) {
            if (json_integer_value(json_object_get(v, "id")) == id) {
                break;
            }
        }

        if (i < json_array_size(all)) {
            json_array_set_new(all, i, js);

        } else if (json_array_append_new(all, js) == -1) {
            free(text);
            json_decref(all);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }

    free(text);
    *execs = all;

    return 0;
}


static long long
hr_metrics_int(json_t *rec, const char *key)
{
    json_t  *v;

    v = json_object_get(rec, key);

    return json_is_integer(v) && json_integer_value(v) > 0
           ? (long long) json_integer_value(v) : 0;
}


static hr_metrics_policy_t *
hr_metrics_policy(hr_metrics_sum_t *sum, const char *name)
{
    size_t                i, cap;
    hr_metrics_policy_t  *p;

    for (i = 0; i < sum->n; i++) {
        if (strcmp(sum->p[i].policy, name) == 0) {
            return &sum->p[i];
        }
    }

    if (sum->n == sum->cap) {
        cap = sum->cap ? sum->cap * 2 : 8;
        p = realloc(sum->p, cap * sizeof(hr_metrics_policy_t));
        if (p == NULL) {
            return NULL;
        }

        sum->p = p;
        sum->cap = cap;
    }

    p = &sum->p[sum->n];
    memset(p, 0, sizeof(hr_metrics_policy_t));

    p->policy = strdup(name);
    if (p->policy == NULL) {
        return NULL;
    }

    sum->n++;

    return p;
}


static int
hr_metrics_add(hr_metrics_sum_t *sum, json_t *rec)
{
    int                   st;
    pid_t                 pid;
    size_t                i;
    json_t               *t;
    long long             end, copied;
    const char           *name, *status;
    hr_metrics_policy_t  *p;

    name = json_string_value(json_object_get(rec, "policy"));
    status = json_string_value(json_object_get(rec, "status"));

    p = hr_metrics_policy(sum, name ? name : "");
    if (p == NULL) {
        return -1;
    }

    if (status != NULL && strcmp(status, "Running") == 0) {
        /* a Running line whose process is gone was killed */
        pid = (pid_t) hr_metrics_int(rec, "pid");

        if (pid > 0 && kill(pid, 0) == -1 && errno == ESRCH) {
            p->execs[HR_METRICS_INTERRUPTED]++;

        } else {
            p->running++;
        }

        return 0;
    }

    if (status == NULL) {
        st = HR_METRICS_OTHER;

    } else if (strcmp(status, "Succeed") == 0) {
        st = HR_METRICS_SUCCEED;

    } else if (strcmp(status, "Failed") == 0) {
        st = HR_METRICS_FAILED_EXEC;

    } else if (strcmp(status, "Stopped") == 0) {
        st = HR_METRICS_STOPPED;

    } else if (strcmp(status, "Interrupted") == 0) {
        st = HR_METRICS_INTERRUPTED;

    } else {
        st = HR_METRICS_OTHER;
    }

    p->execs[st]++;

    /* the tags copied are counted per task */
    copied = 0;

    json_array_foreach(json_object_get(rec, "tasks"), i, t) {
        copied += hr_metrics_int(t, "tags_copied");
    }

    p->copied += copied;
    p->fetched += hr_metrics_int(rec, "blobs_fetched");
    p->linked += hr_metrics_int(rec, "blobs_linked");
    p->bytes += hr_metrics_int(rec, "bytes");
    p->failures += hr_metrics_int(rec, "failed");

    end = hr_metrics_int(rec, "end_time");

    if (st == HR_METRICS_SUCCEED && end > p->last_success) {
        p->last_success = end;
    }

    return 0;
}


static int
hr_metrics_cmp(const void *a, const void *b)
{
    const hr_metrics_policy_t  *pa = a, *pb = b;

    return strcmp(pa->policy, pb->policy);
}


static int
hr_metrics_printf(hr_buf_t *out, const char *fmt, ...)
{
    int      n;
    char     line[512];
    va_list  ap;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);

    if (n < 0 || (size_t) n >= sizeof(line)) {
        return -1;
    }

    return hr_buf_append(out, line, (size_t) n);
}


/* a label value: \, " and newline escaped, as 0.0.4 requires */

static int
hr_metrics_label(hr_buf_t *out, const char *value)
{
    const char  *p;

    for (p = value; *p; p++) {
        if (*p == '\\' || *p == '"') {
            if (hr_buf_append(out, "\\", 1) == -1
                || hr_buf_append(out, p, 1) == -1)
            {
                return -1;
            }

        } else if (*p == '\n') {
            if (hr_buf_append(out, "\\n", 2) == -1) {
                return -1;
            }

        } else if (hr_buf_append(out, p, 1) == -1) {
            return -1;
        }
    }

    return 0;
}


static int
hr_metrics_family(hr_buf_t *out, const char *name, const char *type,
    const char *help)
{
    return hr_metrics_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
                             name, type);
}


/* name{policy="<policy>"<extra>} value */

static int
hr_metrics_policy_sample(hr_buf_t *out, const char *name, const char *policy,
    const char *extra, long long value)
{
    if (hr_metrics_printf(out, "%s{policy=\"", name) == -1
        || hr_metrics_label(out, policy) == -1
        || hr_metrics_printf(out, "\"%s} %lld\n", extra, value) == -1)
    {
        return -1;
    }

    return 0;
}


static void
hr_metrics_sum_free(hr_metrics_sum_t *sum)
{
    size_t  i;

    for (i = 0; i < sum->n; i++) {
        free(sum->p[i].policy);
    }

    free(sum->p);
}


/* The store's tiers and budget, as the last eviction pass measured them. */
static int
hr_metrics_cache(json_t *cache, hr_buf_t *out)
{
    json_t  *v;

    if (!json_is_object(cache)
        || !json_is_integer(json_object_get(cache, "pinned_bytes")))
    {
        return 0;
    }

    if (hr_metrics_family(out, "harbor_replicator_store_bytes", "gauge",
                          "Blob bytes in the store, by tier (pinned: "
                          "copied by a policy; cached: evictable).") == -1
        || hr_metrics_printf(out, "harbor_replicator_store_bytes"
               "{tier=\"pinned\"} %lld\n", (long long) json_integer_value(
               json_object_get(cache, "pinned_bytes"))) == -1
        || hr_metrics_printf(out, "harbor_replicator_store_bytes"
               "{tier=\"cached\"} %lld\n", (long long) json_integer_value(
               json_object_get(cache, "cached_bytes"))) == -1)
    {
        return -1;
    }

    v = json_object_get(cache, "max_bytes");

    if (json_is_integer(v) && json_integer_value(v) > 0
        && (hr_metrics_family(out, "harbor_replicator_cache_budget_bytes",
                              "gauge", "cache.max_bytes of the config.") == -1
            || hr_metrics_printf(out,
                   "harbor_replicator_cache_budget_bytes %lld\n",
                   (long long) json_integer_value(v)) == -1))
    {
        return -1;
    }

    if (hr_metrics_family(out, "harbor_replicator_cache_pinned_over_budget",
                          "gauge", "1 when pinned content alone is over "
                          "the budget (nothing pinned is evicted).") == -1
        || hr_metrics_printf(out,
               "harbor_replicator_cache_pinned_over_budget %d\n",
               json_is_true(json_object_get(cache, "pinned_over_budget")))
           == -1)
    {
        return -1;
    }

    v = json_object_get(cache, "time");

    if (json_is_integer(v)
        && (hr_metrics_family(out, "harbor_replicator_cache_pass_timestamp"
                              "_seconds", "gauge", "When the last eviction "
                              "pass measured the store.") == -1
            || hr_metrics_printf(out, "harbor_replicator_cache_pass_"
                   "timestamp_seconds %lld\n",
                   (long long) json_integer_value(v)) == -1))
    {
        return -1;
    }

    return 0;
}


/* What the scrub passes found (scrub.h); the totals only ever grow. */
static int
hr_metrics_scrub(hr_buf_t *out, json_t *js)
{
    long long  corrupt, repaired;

    corrupt = hr_metrics_int(js, "total_corrupt");
    repaired = hr_metrics_int(js, "total_repaired");

    if (hr_metrics_family(out, "harbor_replicator_scrub_files_total",
            "counter", "Blob files the scrub hashed.") == -1
        || hr_metrics_printf(out, "harbor_replicator_scrub_files_total %lld\n",
               hr_metrics_int(js, "total_files")) == -1
        || hr_metrics_family(out, "harbor_replicator_scrub_bytes_total",
               "counter", "Bytes the scrub hashed.") == -1
        || hr_metrics_printf(out, "harbor_replicator_scrub_bytes_total %lld\n",
               hr_metrics_int(js, "total_bytes")) == -1
        || hr_metrics_family(out, "harbor_replicator_scrub_corrupt_total",
               "counter", "Corrupt files the scrub quarantined, by whether "
               "they were fetched again.") == -1
        || hr_metrics_printf(out, "harbor_replicator_scrub_corrupt_total"
               "{result=\"repaired\"} %lld\n", repaired) == -1
        || hr_metrics_printf(out, "harbor_replicator_scrub_corrupt_total"
               "{result=\"not_repaired\"} %lld\n",
               corrupt > repaired ? corrupt - repaired : 0) == -1
        || hr_metrics_family(out,
               "harbor_replicator_scrub_last_pass_timestamp_seconds",
               "gauge", "When the last scrub pass ended.") == -1
        || hr_metrics_printf(out,
               "harbor_replicator_scrub_last_pass_timestamp_seconds %lld\n",
               hr_metrics_int(js, "finished")) == -1
        || hr_metrics_family(out, "harbor_replicator_scrub_last_pass_corrupt",
               "gauge", "Corrupt files the last scrub pass found.") == -1
        || hr_metrics_printf(out,
               "harbor_replicator_scrub_last_pass_corrupt %lld\n",
               hr_metrics_int(js, "corrupt")) == -1)
    {
        return -1;
    }

    return 0;
}


int
hr_metrics_render(const hr_metrics_src_t *src, hr_buf_t *out, char *err,
    size_t errlen)
{
    int                    rc, any;
    char                   extra[64];
    size_t                 i, k;
    json_t                *rec, *v;
    const char            *key;
    hr_metrics_sum_t       sum;
    hr_metrics_policy_t   *p;

    memset(&sum, 0, sizeof(hr_metrics_sum_t));
    rc = -1;

    json_array_foreach(src->execs, i, rec) {
        if (json_is_object(rec) && hr_metrics_add(&sum, rec) == -1) {
            goto nomem;
        }
    }

    if (sum.n) {
        qsort(sum.p, sum.n, sizeof(hr_metrics_policy_t), hr_metrics_cmp);
    }

    if (hr_metrics_family(out, "harbor_replicator_info", "gauge",
                          "The replicator that wrote this file.") == -1
        || hr_metrics_printf(out, "harbor_replicator_info{version=\"%s\"} 1\n",
                             HR_VERSION) == -1)
    {
        goto nomem;
    }

#define HR_METRICS_EACH(name, type, help, field)                              \
    if (sum.n) {                                                              \
        if (hr_metrics_family(out, name, type, help) == -1) {                 \
            goto nomem;                                                       \
        }                                                                     \
        for (i = 0; i < sum.n; i++) {                                         \
            p = &sum.p[i];                                                    \
            if (hr_metrics_policy_sample(out, name, p->policy, "",            \
                                         p->field) == -1)                     \
            {                                                                 \
                goto nomem;                                                   \
            }                                                                 \
        }                                                                     \
    }

    if (sum.n) {
        if (hr_metrics_family(out, "harbor_replicator_executions_total",
                              "counter", "Finished executions (manual and "
                              "scheduled), by policy and status.") == -1)
        {
            goto nomem;
        }

        for (i = 0; i < sum.n; i++) {
            for (k = 0; k < HR_METRICS_NSTATUS; k++) {
                snprintf(extra, sizeof(extra), ",status=\"%s\"",
                         hr_metrics_status_labels[k]);

                if (hr_metrics_policy_sample(out,
                        "harbor_replicator_executions_total",
                        sum.p[i].policy, extra, sum.p[i].execs[k])
                    == -1)
                {
                    goto nomem;
                }
            }
        }
    }

    HR_METRICS_EACH("harbor_replicator_executions_running", "gauge",
                    "Executions under way.", running)
    HR_METRICS_EACH("harbor_replicator_artifacts_copied_total", "counter",
                    "Tags copied to the store (new, or moved upstream).",
                    copied)

    if (sum.n) {
        if (hr_metrics_family(out, "harbor_replicator_blobs_total", "counter",
                              "Blobs fetched from the primary, or linked "
                              "from the store without a download.") == -1)
        {
            goto nomem;
        }

        for (i = 0; i < sum.n; i++) {
            if (hr_metrics_policy_sample(out, "harbor_replicator_blobs_total",
                                         sum.p[i].policy,
                                         ",result=\"fetched\"",
                                         sum.p[i].fetched) == -1
                || hr_metrics_policy_sample(out,
                                         "harbor_replicator_blobs_total",
                                         sum.p[i].policy,
                                         ",result=\"linked\"",
                                         sum.p[i].linked) == -1)
            {
                goto nomem;
            }
        }
    }

    HR_METRICS_EACH("harbor_replicator_copied_bytes_total", "counter",
                    "Bytes downloaded into the store.", bytes)
    HR_METRICS_EACH("harbor_replicator_task_failures_total", "counter",
                    "Tasks (one repository of an execution) that failed.",
                    failures)

#undef HR_METRICS_EACH

    any = 0;

    for (i = 0; i < sum.n; i++) {
        p = &sum.p[i];

        if (p->last_success == 0) {
            continue;
        }

        if (!any
            && hr_metrics_family(out,
                   "harbor_replicator_last_success_timestamp_seconds",
                   "gauge", "End of the policy's last successful execution, "
                   "in seconds since the epoch.") == -1)
        {
            goto nomem;
        }

        any = 1;

        if (hr_metrics_policy_sample(out,
                "harbor_replicator_last_success_timestamp_seconds",
                p->policy, "", p->last_success) == -1)
        {
            goto nomem;
        }
    }

    /* event-driven work: Redis's counters, whose names are the code's */

    any = 0;

    json_object_foreach(src->stats, key, v) {
        if (!json_is_integer(v) || key[0] == '\0'
            || strspn(key, "abcdefghijklmnopqrstuvwxyz_") != strlen(key))
        {
            continue;
        }

        if (!any
            && hr_metrics_family(out, "harbor_replicator_events_total",
                   "counter", "Event-driven work (webhooks and misses), "
                   "by result.") == -1)
        {
            goto nomem;
        }

        any = 1;

        if (hr_metrics_printf(out,
                "harbor_replicator_events_total{result=\"%s\"} %lld\n",
                key, (long long) json_integer_value(v)) == -1)
        {
            goto nomem;
        }
    }

    any = 0;

    for (i = 0; i < HR_METRICS_NQUEUES; i++) {
        if (src->queue[i] < 0) {
            continue;
        }

        if (!any
            && hr_metrics_family(out, "harbor_replicator_queue_depth",
                   "gauge", "Events in the Redis queue, by list.") == -1)
        {
            goto nomem;
        }

        any = 1;

        if (hr_metrics_printf(out,
                "harbor_replicator_queue_depth{queue=\"%s\"} %lld\n",
                hr_metrics_queue_labels[i], src->queue[i]) == -1)
        {
            goto nomem;
        }
    }

    if (hr_metrics_cache(src->cache, out) == -1) {
        goto nomem;
    }

    if (src->scrub != NULL && hr_metrics_scrub(out, src->scrub) == -1) {
        goto nomem;
    }

    rc = 0;

nomem:

    if (rc == -1) {
        snprintf(err, errlen, "metrics: out of memory, or more than %zu "
                 "bytes", out->max);
    }

    hr_metrics_sum_free(&sum);

    return rc;
}


int
hr_metrics_write(hr_ctx_t *ctx, const char *path,
    const hr_metrics_src_t *src, char *err, size_t errlen)
{
    int               fd, rc;
    char              tmp[PATH_MAX], dir[PATH_MAX], *slash;
    size_t            off;
    ssize_t           n;
    hr_buf_t          out;
    hr_metrics_src_t  s;

    s = *src;

    if (s.execs == NULL
        && hr_metrics_load(ctx->store.state, &s.execs, err, errlen) == -1)
    {
        return -1;
    }

    hr_buf_init(&out, HR_METRICS_MAX);
    rc = hr_metrics_render(&s, &out, err, errlen);

    if (s.execs != src->execs) {
        json_decref(s.execs);
    }

    if (rc == -1) {
        hr_buf_free(&out);
        return -1;
    }

    /* the collector reads *.prom only: the temp file must not match */

    if ((size_t) snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int) getpid())
        >= sizeof(tmp))
    {
        hr_buf_free(&out);
        snprintf(err, errlen, "path too long: %s", path);
        return -1;
    }

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
              0644);
    if (fd == -1) {
        snprintf(err, errlen, "open(\"%s\") failed: %s", tmp,
                 strerror(errno));
        hr_buf_free(&out);
        return -1;
    }

    for (off = 0; off < out.len; off += (size_t) n) {
        n = write(fd, out.data + off, out.len - off);

        if (n == -1 && errno == EINTR) {
            n = 0;
            continue;
        }

        if (n <= 0) {
            snprintf(err, errlen, "write(\"%s\") failed: %s", tmp,
                     n == 0 ? "no progress" : strerror(errno));
            goto failed;
        }
    }

    /* the umask must not hide the file from node_exporter */
    if (fchmod(fd, 0644) == -1 || fsync(fd) == -1) {
        snprintf(err, errlen, "fchmod/fsync(\"%s\") failed: %s", tmp,
                 strerror(errno));
        goto failed;
    }

    if (close(fd) == -1) {
        fd = -1;
        snprintf(err, errlen, "close(\"%s\") failed: %s", tmp,
                 strerror(errno));
        goto failed;
    }

    fd = -1;

    if (rename(tmp, path) == -1) {
        snprintf(err, errlen, "rename(\"%s\", \"%s\") failed: %s", tmp, path,
                 strerror(errno));
        goto failed;
    }

    hr_buf_free(&out);

    /* the rename itself must survive a crash */

    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');

    if (slash == dir) {
        slash[1] = '\0';

    } else if (slash != NULL) {
        *slash = '\0';

    } else {
        snprintf(dir, sizeof(dir), ".");
    }

    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd != -1) {
        (void) fsync(fd);
        close(fd);
    }

    return 0;

failed:

    if (fd != -1) {
        close(fd);
    }

    unlink(tmp);
    hr_buf_free(&out);

    return -1;
}


int
hr_metrics_redis(const char *addr, const char *queue, hr_metrics_src_t *src,
    json_t **stats, char *err, size_t errlen)
{
    int              rc;
    char             key[512];
    size_t           i;
    redisReply      *r;
    redisContext    *c;
    const char      *suffix[HR_METRICS_NQUEUES] = {
                         "", ":processing", ":failed"
                     };

    *stats = NULL;

    c = hr_redis_connect(addr, 2000, err, errlen);
    if (c == NULL) {
        return -1;
    }

    rc = -1;

    for (i = 0; i < HR_METRICS_NQUEUES; i++) {
        snprintf(key, sizeof(key), "%s%s", queue, suffix[i]);

        r = redisCommand(c, "LLEN %s", key);

        if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
            snprintf(err, errlen, "redis %s: LLEN %s: %s", addr, key,
                     r ? (r->type == REDIS_REPLY_ERROR ? r->str
                                                       : "not an integer")
                       : c->errstr);
            freeReplyObject(r);
            goto done;
        }

        src->queue[i] = r->integer;
        freeReplyObject(r);
    }

    snprintf(key, sizeof(key), "%s:stats", queue);

    r = redisCommand(c, "HGETALL %s", key);

    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "redis %s: HGETALL %s: %s", addr, key,
                 r ? (r->type == REDIS_REPLY_ERROR ? r->str : "not an array")
                   : c->errstr);
        freeReplyObject(r);
        goto done;
    }

    *stats = json_object();
    if (*stats == NULL) {
        snprintf(err, errlen, "out of memory");
        freeReplyObject(r);
        goto done;
    }

    for (i = 0; i + 1 < r->elements; i += 2) {
        if (r->element[i]->type == REDIS_REPLY_STRING
            && r->element[i + 1]->type == REDIS_REPLY_STRING)
        {
            json_object_set_new(*stats, r->element[i]->str,
                                json_integer(strtoll(r->element[i + 1]->str,
                                                     NULL, 10)));
        }
    }

    freeReplyObject(r);
    rc = 0;

done:

    redisFree(c);

    return rc;
}
