/*
 * scrub.c: a pass over blobs/, and the daemon's timer for it (scrub.h).
 *
 * Hashing goes through hr_verify_blob() with force set: the file is read
 * at the pass's pace (the job sleeps between chunks, so events and fills
 * go on meanwhile), and a mismatch is quarantined there.  The repair runs
 * after the walk, one execution of the engine per corrupt file, under the
 * run lease, as a miss event would: the repository is one that links the
 * digest, the policy the first enabled one that covers that repository
 * without renaming it.
 */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "exec.h"
#include "plan.h"
#include "policy.h"
#include "scrub.h"
#include "verify.h"

#define HR_SCRUB_FOUND_MAX  100         /* corrupt files listed in the json */
#define HR_SCRUB_DEPTH      32          /* nested repository names */
#define HR_SCRUB_RETRY      300         /* s: a pass that could not run */


typedef struct hr_scrubjob_s  hr_scrubjob_t;

struct hr_scrubber_s {
    hr_ctx_t       *ctx;
    time_t          next;
    hr_scrubjob_t  *running;        /* the pass under way, or NULL */
};

struct hr_scrubjob_s {
    hr_scrubber_t  *sc;             /* NULL once the scrubber is freed */
    hr_ctx_t       *ctx;
    hr_config_t    *cf;
};


static int hr_scrub_find(hr_ctx_t *ctx, const char *dir, const char *name,
    int depth, const char *digest, char *repo, size_t len, int *manifest);
static int hr_scrub_repair(hr_ctx_t *ctx, hr_config_t *cf,
    const char *digest, json_t *item);
static void hr_scrub_save(hr_ctx_t *ctx, hr_scrub_stats_t *ss, json_t *found,
    long long rate, time_t start);
static void hr_scrubber_job(hr_job_t *j);
static void hr_scrubber_done(hr_job_t *j);


int
hr_scrub_pass(hr_ctx_t *ctx, hr_config_t *cf, hr_job_t *j, long long rate,
    hr_scrub_stats_t *ss, char *err, size_t errlen)
{
    DIR            *d1, *d2;
    char            path[PATH_MAX], sub[PATH_MAX + 300];
    char            digest[HR_DIGEST_LEN + 1], verr[2 * PATH_MAX];
    size_t          i;
    json_t         *found, *item;
    time_t          start;
    hr_pace_t       pace;
    long long       size;
    struct dirent  *e1, *e2;

    memset(ss, 0, sizeof(hr_scrub_stats_t));
    memset(&pace, 0, sizeof(pace));
    pace.rate = rate;
    pace.t0 = hr_verify_now_ms();
    start = time(NULL);

    found = json_array();
    if (found == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    hr_log(&ctx->log, HR_LOG_INFO, "scrub: hashing every blob of the store%s",
           rate > 0 ? "" : ", at full speed");
    if (rate > 0) {
        hr_log(&ctx->log, HR_LOG_INFO, "scrub: at most %lld bytes/s", rate);
    }

    snprintf(path, sizeof(path), "%s/blobs/sha256", ctx->store.v2);

    d1 = opendir(path);
    if (d1 == NULL && errno != ENOENT) {
        snprintf(err, errlen, "opendir(\"%s\") failed: %s", path,
                 strerror(errno));
        json_decref(found);
        return -1;
    }

    while (d1 != NULL && !ss->stopped && (e1 = readdir(d1)) != NULL) {
        if (strlen(e1->d_name) != 2) {
            continue;
        }

        snprintf(sub, sizeof(sub), "%s/%s", path, e1->d_name);

        d2 = opendir(sub);

        while (d2 != NULL && (e2 = readdir(d2)) != NULL) {
            if (strlen(e2->d_name) != 64) {
                continue;
            }

            snprintf(digest, sizeof(digest), "sha256:%s", e2->d_name);

            if (!hr_valid_digest(digest)) {
                continue;
            }

            if (j != NULL && hr_job_stopping(j)) {
                ss->stopped = 1;
                break;
            }

            switch (hr_verify_blob(&ctx->store, digest, &size, 1, j, &pace,
                                   verr, sizeof(verr)))
            {
            case HR_VERIFY_OK:
                ss->files++;
                ss->bytes += size;
                break;

            case HR_VERIFY_BAD:
                ss->files++;
                ss->bytes += size;
                ss->corrupt++;
                hr_log(&ctx->log, HR_LOG_ERROR, "scrub: blob %s is corrupt: "
                       "%s", digest, verr);

                item = json_pack("{s:s, s:s, s:I}", "digest", digest,
                                 "quarantine", verr,
                                 "found_at", (json_int_t) time(NULL));

                if (item != NULL
                    && json_array_size(found) < HR_SCRUB_FOUND_MAX)
                {
                    json_array_append(found, item);
                }

                /* the list keeps every digest for the repair below */
                json_decref(item);

                if (item == NULL) {
                    ss->errors++;
                }
                break;

            case HR_VERIFY_ERROR:
                if (j != NULL && hr_job_stopping(j)) {
                    ss->stopped = 1;
                    break;
                }

                ss->errors++;
                hr_log(&ctx->log, HR_LOG_WARN, "scrub: %s", verr);
                break;

            default:
                break;          /* gone meanwhile (gc, eviction) */
            }

            if (ss->stopped) {
                break;
            }
        }

        if (d2 != NULL) {
            closedir(d2);
        }
    }

    if (d1 != NULL) {
        closedir(d1);
    }

    /* fetched again where a policy covers a repository that links it */
    for (i = 0; i < json_array_size(found) && !ss->stopped; i++) {
        item = json_array_get(found, i);

        if (hr_scrub_repair(ctx, cf,
                            json_string_value(json_object_get(item, "digest")),
                            item)
            == 1)
        {
            ss->repaired++;
        }

        if (j != NULL && hr_job_stopping(j)) {
            ss->stopped = 1;
        }
    }

    hr_scrub_save(ctx, ss, found, rate, start);
    json_decref(found);

    hr_log(&ctx->log, ss->corrupt > ss->repaired ? HR_LOG_ERROR : HR_LOG_INFO,
           "scrub%s: %lld files, %lld bytes hashed in %llds; %lld corrupt, "
           "%lld fetched again, %lld unreadable", ss->stopped ? " (stopped)"
           : "", ss->files, ss->bytes, (long long) (time(NULL) - start),
           ss->corrupt, ss->repaired, ss->errors);

    if (ss->stopped) {
        snprintf(err, errlen, "scrub stopped by a signal");
        return -1;
    }

    return 0;
}


/*
 * The first repository under dir that links digest: 1 with its name in
 * repo (*manifest: by a revision link), 0 none.
 */
static int
hr_scrub_find(hr_ctx_t *ctx, const char *dir, const char *name, int depth,
    const char *digest, char *repo, size_t len, int *manifest)
{
    DIR            *d;
    int             rc, isrepo;
    char            path[PATH_MAX], sub[PATH_MAX], cur[HR_DIGEST_LEN + 1];
    struct stat     sb;
    struct dirent  *de;

    if (depth > HR_SCRUB_DEPTH) {
        return 0;
    }

    if (name[0] != '\0' && hr_valid_repo(name)) {
        snprintf(path, sizeof(path), "%s/_layers", dir);
        snprintf(sub, sizeof(sub), "%s/_manifests", dir);
        isrepo = stat(path, &sb) == 0 || stat(sub, &sb) == 0;

        if (isrepo) {
            if (hr_store_read_link(&ctx->store, name, HR_LINK_REVISION, NULL,
                                   digest, cur)
                == 1)
            {
                *manifest = 1;
                snprintf(repo, len, "%s", name);
                return 1;
            }

            if (hr_store_read_link(&ctx->store, name, HR_LINK_LAYER, NULL,
                                   digest, cur)
                == 1)
            {
                *manifest = 0;
                snprintf(repo, len, "%s", name);
                return 1;
            }
        }
    }

    d = opendir(dir);
    if (d == NULL) {
        return 0;
    }

    rc = 0;

    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || de->d_name[0] == '_') {
            continue;
        }

        if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, de->d_name)
            >= sizeof(path)
            || (size_t) snprintf(sub, sizeof(sub), "%s%s%s", name,
                                 name[0] ? "/" : "", de->d_name)
               >= sizeof(sub))
        {
            continue;
        }

        if (lstat(path, &sb) == -1 || !S_ISDIR(sb.st_mode)) {
            continue;
        }

        rc = hr_scrub_find(ctx, path, sub, depth + 1, digest, repo, len,
                           manifest);
    }

    closedir(d);

    return rc;
}


/* 1 when digest is back, right, 0 when not; what happened goes in item. */
static int
hr_scrub_repair(hr_ctx_t *ctx, hr_config_t *cf, const char *digest,
    json_t *item)
{
    int             manifest, lease, rc;
    char            repo[512], dst[512], dir[PATH_MAX], err[HR_ERR_LEN];
    size_t          i;
    hr_policy_t    *p;
    long long       size;
    hr_plan_req_t   rq;

    if (digest == NULL) {
        return 0;
    }

    snprintf(dir, sizeof(dir), "%s/repositories", ctx->store.v2);
    manifest = 0;

    if (hr_scrub_find(ctx, dir, "", 0, digest, repo, sizeof(repo), &manifest)
        != 1)
    {
        hr_log(&ctx->log, HR_LOG_INFO, "scrub: %s: no repository links it; "
               "left to gc", digest);
        json_object_set_new(item, "repaired", json_false());
        json_object_set_new(item, "why", json_string("no repository links "
                                                     "it"));
        return 0;
    }

    json_object_set_new(item, "repository", json_string(repo));
    json_object_set_new(item, "object",
                        json_string(manifest ? "manifest" : "blob"));

    p = NULL;

    for (i = 0; i < cf->npolicies; i++) {
        if (cf->policies[i].enabled
            && hr_policy_match_repo(&cf->policies[i], repo)
            && hr_policy_dest_repo(&cf->policies[i], repo, dst, sizeof(dst),
                                   err, sizeof(err))
               == 0
            && strcmp(dst, repo) == 0)
        {
            p = &cf->policies[i];
            break;
        }
    }

    if (p == NULL) {
        hr_log(&ctx->log, HR_LOG_WARN, "scrub: %s of %s: no enabled policy "
               "covers the repository; it stays absent until a client's "
               "miss or a run fetches it", digest, repo);
        json_object_set_new(item, "repaired", json_false());
        json_object_set_new(item, "why", json_string("no policy covers the "
                                                     "repository"));
        return 0;
    }

    lease = hr_exec_lease(ctx, 0, 1, err, sizeof(err));
    if (lease == -1) {
        hr_log(&ctx->log, HR_LOG_WARN, "scrub: %s: %s", digest, err);
        json_object_set_new(item, "repaired", json_false());
        json_object_set_new(item, "why", json_string(err));
        return 0;
    }

    memset(&rq, 0, sizeof(rq));
    rq.cf = cf;
    rq.p = p;
    rq.trigger = "scrub";
    rq.repo = repo;

    if (manifest) {
        rq.ref = digest;

    } else {
        rq.blob = digest;
    }

    rc = hr_plan_execute(ctx, &rq, NULL, err, sizeof(err));
    close(lease);

    if (rc == 0
        && hr_verify_blob(&ctx->store, digest, &size, 0, NULL, NULL, err,
                          sizeof(err))
           == HR_VERIFY_OK)
    {
        hr_log(&ctx->log, HR_LOG_INFO, "scrub: %s fetched again from %s "
               "(policy \"%s\")", digest, repo, p->name);
        json_object_set_new(item, "repaired", json_true());
        return 1;
    }

    hr_log(&ctx->log, HR_LOG_ERROR, "scrub: %s of %s not fetched again: %s",
           digest, repo, err);
    json_object_set_new(item, "repaired", json_false());
    json_object_set_new(item, "why", json_string(err));

    return 0;
}


json_t *
hr_scrub_figures(const char *state)
{
    return hr_store_read_object(state, HR_SCRUB_FIGURES, 1024 * 1024);
}


/* The last pass, and totals over every pass (they only grow). */
static void
hr_scrub_save(hr_ctx_t *ctx, hr_scrub_stats_t *ss, json_t *found,
    long long rate, time_t start)
{
    char        path[PATH_MAX], err[PATH_MAX + 64], *text;
    json_t     *old, *js;
    long long   t[5];

    old = hr_scrub_figures(ctx->store.state);

#define HR_SCRUB_TOTAL(k)                                                     \
    (old != NULL ? (long long) json_integer_value(json_object_get(old, k)) : 0)

    t[0] = HR_SCRUB_TOTAL("total_passes") + 1;
    t[1] = HR_SCRUB_TOTAL("total_files") + ss->files;
    t[2] = HR_SCRUB_TOTAL("total_bytes") + ss->bytes;
    t[3] = HR_SCRUB_TOTAL("total_corrupt") + ss->corrupt;
    t[4] = HR_SCRUB_TOTAL("total_repaired") + ss->repaired;

#undef HR_SCRUB_TOTAL

    json_decref(old);

    js = json_pack("{s:I, s:I, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:O, "
                   "s:I, s:I, s:I, s:I, s:I}",
                   "started", (json_int_t) start,
                   "finished", (json_int_t) time(NULL),
                   "stopped", ss->stopped,
                   "bytes_per_second", (json_int_t) rate,
                   "files", (json_int_t) ss->files,
                   "bytes", (json_int_t) ss->bytes,
                   "corrupt", (json_int_t) ss->corrupt,
                   "repaired", (json_int_t) ss->repaired,
                   "unreadable", (json_int_t) ss->errors,
                   "found", found,
                   "total_passes", (json_int_t) t[0],
                   "total_files", (json_int_t) t[1],
                   "total_bytes", (json_int_t) t[2],
                   "total_corrupt", (json_int_t) t[3],
                   "total_repaired", (json_int_t) t[4]);

    text = js != NULL ? json_dumps(js, JSON_COMPACT) : NULL;
    json_decref(js);

    snprintf(path, sizeof(path), "%s/%s", ctx->store.state,
             HR_SCRUB_FIGURES);

    if (text == NULL
        || hr_store_write_file(&ctx->store, path, text, strlen(text), err,
                               sizeof(err))
           == -1)
    {
        hr_log(&ctx->log, HR_LOG_WARN, "scrub: %s not written: %s", path,
               text == NULL ? "out of memory" : err);
    }

    free(text);
}


/* ---- the daemon's background scrub ---- */

hr_scrubber_t *
hr_scrubber_create(hr_ctx_t *ctx)
{
    json_t         *last;
    time_t          now;
    hr_scrubber_t  *sc;

    sc = calloc(1, sizeof(hr_scrubber_t));
    if (sc == NULL) {
        return NULL;
    }

    sc->ctx = ctx;
    now = time(NULL);

    /* the next pass is due an interval after the last one ended */
    last = hr_scrub_figures(ctx->store.state);
    sc->next = last != NULL
               ? (time_t) json_integer_value(json_object_get(last,
                                                             "finished"))
                 + ctx->cf->scrub_interval
               : now;
    json_decref(last);

    if (sc->next > now + ctx->cf->scrub_interval) {
        sc->next = now + ctx->cf->scrub_interval;     /* a clock jump */
    }

    return sc;
}


long
hr_scrubber_dispatch(hr_scrubber_t *sc)
{
    char            err[HR_ERR_LEN];
    time_t          now;
    hr_scrubjob_t  *sj;

    if (sc == NULL || sc->ctx->cf->scrub_interval <= 0) {
        return -1;
    }

    if (sc->running != NULL) {
        return -1;
    }

    now = time(NULL);

    if (sc->next > now) {
        return (long) (sc->next - now) * 1000;
    }

    sj = calloc(1, sizeof(hr_scrubjob_t));
    if (sj == NULL) {
        sc->next = now + HR_SCRUB_RETRY;
        return HR_SCRUB_RETRY * 1000;
    }

    sj->sc = sc;
    sj->ctx = sc->ctx;
    sj->cf = hr_config_hold(sc->ctx->cf);

    if (hr_engine_spawn(sc->ctx->engine, HR_PRIO_SCHEDULE, "scrub",
                        hr_scrubber_job, hr_scrubber_done, sj, err,
                        sizeof(err))
        == NULL)
    {
        hr_log(&sc->ctx->log, HR_LOG_ERROR, "scrub: %s", err);
        hr_config_release(sj->cf);
        free(sj);
        sc->next = now + HR_SCRUB_RETRY;
        return HR_SCRUB_RETRY * 1000;
    }

    sc->running = sj;

    return -1;
}


static void
hr_scrubber_job(hr_job_t *j)
{
    char              err[HR_ERR_LEN];
    hr_scrubjob_t    *sj;
    hr_scrub_stats_t  ss;

    sj = j->data;

    j->rc = hr_scrub_pass(sj->ctx, sj->cf, j, sj->cf->scrub_rate, &ss, err,
                          sizeof(err));

    if (j->rc == -1 && !ss.stopped) {
        hr_log(&sj->ctx->log, HR_LOG_ERROR, "scrub: %s", err);
    }
}


static void
hr_scrubber_done(hr_job_t *j)
{
    hr_scrubjob_t  *sj;

    sj = j->data;

    if (sj->sc != NULL) {
        sj->sc->running = NULL;
        sj->sc->next = time(NULL) + (sj->cf->scrub_interval > 0
                                     ? sj->cf->scrub_interval
                                     : HR_SCRUB_RETRY);
    }

    hr_config_release(sj->cf);
    free(sj);
}


void
hr_scrubber_free(hr_scrubber_t *sc)
{
    if (sc == NULL) {
        return;
    }

    /* a pass still running ends with the engine, after us */
    if (sc->running != NULL) {
        sc->running->sc = NULL;
    }

    free(sc);
}
