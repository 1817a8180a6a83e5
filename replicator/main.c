/*
 * main.c: harbor-replicator's command line.
 *
 *   harbor-replicator -c FILE run [--policy NAME] [--dry-run]
 *   harbor-replicator -c FILE daemon
 *   harbor-replicator -c FILE status [--json]
 *   harbor-replicator -c FILE gc [--dry-run]
 *   harbor-replicator -c FILE evict [--dry-run]
 *   harbor-replicator -c FILE scrub
 *   harbor-replicator -c FILE check
 *   harbor-replicator -c FILE metrics [--output FILE.prom]
 *   harbor-replicator --version
 *
 * Exit codes: 0 success, 1 a task or the command failed, 2 bad usage or
 * configuration.  Everything a command needs lives in one hr_ctx_t built
 * here; SIGHUP in the daemon builds a new configuration and swaps it in
 * only when it loads.
 */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cache.h"
#include "events.h"
#include "exec.h"
#include "exec_redis.h"
#include "fill.h"
#include "gc.h"
#include "hr.h"
#include "metrics.h"
#include "plan.h"
#include "queue.h"
#include "scrub.h"

#define HR_EXIT_FAILED  1
#define HR_EXIT_USAGE   2


static void hr_usage(FILE *fp);
static int hr_ctx_open(hr_ctx_t *ctx, const char *conf, int writes,
    char *err, size_t errlen);
static int hr_ctx_check(hr_config_t *cf, const char *conf, int writes,
    char *err, size_t errlen);
static int hr_dir_creatable(const char *dir, char *err, size_t errlen);
static int hr_ctx_writable(hr_config_t *cf, const char *conf, char *err,
    size_t errlen);
static void hr_ctx_warnings(hr_ctx_t *ctx, hr_config_t *cf);
static void hr_ctx_close(hr_ctx_t *ctx);
static int hr_ctx_start(hr_ctx_t *ctx, char *err, size_t errlen);
static int hr_cmd_check(hr_ctx_t *ctx);
static int hr_cmd_run(hr_ctx_t *ctx, const char *policy);
static int hr_cmd_daemon(hr_ctx_t *ctx);
static int hr_cmd_status(hr_ctx_t *ctx, int json);
static int hr_cmd_metrics(hr_ctx_t *ctx, const char *output);
static int hr_cmd_scrub(hr_ctx_t *ctx);
static int hr_reload(hr_ctx_t *ctx);
static void hr_log_reopen_on_usr1(hr_ctx_t *ctx);
static int hr_run_policy(hr_ctx_t *ctx, hr_config_t *cf, hr_policy_t *p,
    const char *trigger);


static void
hr_usage(FILE *fp)
{
    fprintf(fp,
        "usage: harbor-replicator -c FILE run [--policy NAME] [--dry-run]\n"
        "       harbor-replicator -c FILE daemon\n"
        "       harbor-replicator -c FILE status [--json]\n"
        "       harbor-replicator -c FILE metrics [--output FILE.prom]\n"
        "       harbor-replicator -c FILE gc [--dry-run]\n"
        "       harbor-replicator -c FILE evict [--dry-run]\n"
        "       harbor-replicator -c FILE scrub\n"
        "       harbor-replicator -c FILE check\n"
        "       harbor-replicator --version\n");
}


static int
hr_ctx_open(hr_ctx_t *ctx, const char *conf, int writes, char *err,
    size_t errlen)
{
    memset(ctx, 0, sizeof(hr_ctx_t));
    ctx->conf_path = conf;

    hr_log_init(&ctx->log, stderr, NULL);

    ctx->cf = hr_config_open(conf, err, errlen);
    if (ctx->cf == NULL) {
        return -1;
    }

    if (hr_ctx_check(ctx->cf, conf, writes, err, errlen) == -1) {
        return -1;
    }

    hr_log_set_level(&ctx->log, ctx->cf->log_level);
    hr_ctx_warnings(ctx, ctx->cf);

    return 0;
}


static void
hr_ctx_warnings(hr_ctx_t *ctx, hr_config_t *cf)
{
    size_t  i;

    for (i = 0; i < cf->nwarnings; i++) {
        hr_log(&ctx->log, HR_LOG_WARN, "%s: %s", ctx->conf_path,
               cf->warnings[i]);
    }
}


/*
 * The directory exists and this process may create entries in it, or its
 * nearest existing ancestor is such a directory: `check` then fails where
 * `run` would fail, before anything is created.
 */
static int
hr_dir_creatable(const char *dir, char *err, size_t errlen)
{
    char         path[PATH_MAX], *slash;
    struct stat  st;

    if (snprintf(path, sizeof(path), "%s", dir) >= (int) sizeof(path)) {
        snprintf(err, errlen, "\"%.100s\": too long", dir);
        return -1;
    }

    for ( ;; ) {
        if (stat(path, &st) == 0) {
            if (!S_ISDIR(st.st_mode)) {
                snprintf(err, errlen, "\"%.100s\" cannot be created: "
                         "\"%.100s\" is not a directory", dir, path);
                return -1;
            }

            if (access(path, W_OK | X_OK) == -1) {
                snprintf(err, errlen, "\"%.100s\" cannot be %s: \"%.100s\":"
                         " %s", dir, strcmp(path, dir) == 0 ? "written"
                         : "created", path, strerror(errno));
                return -1;
            }

            return 0;
        }

        if (errno != ENOENT) {
            snprintf(err, errlen, "\"%.100s\": %s", path, strerror(errno));
            return -1;
        }

        slash = strrchr(path, '/');
        if (slash == NULL || slash == path) {
            /* "/" does not exist: stat() said something else first */
            snprintf(err, errlen, "\"%.100s\": no existing parent", dir);
            return -1;
        }

        *slash = '\0';
    }
}


/* The store, state_dir and log_file can be written or created. */
static int
hr_ctx_writable(hr_config_t *cf, const char *conf, char *err, size_t errlen)
{
    int   fd;
    char  msg[256];

    if (hr_dir_creatable(cf->store_root, msg, sizeof(msg)) == -1) {
        snprintf(err, errlen, "%.200s: storage.root: %s", conf, msg);
        return -1;
    }

    if (cf->state_dir != NULL
        && hr_dir_creatable(cf->state_dir, msg, sizeof(msg)) == -1)
    {
        snprintf(err, errlen, "%.200s: state_dir: %s", conf, msg);
        return -1;
    }

    if (cf->log_file != NULL) {
        fd = open(cf->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC
                  | O_NOCTTY, 0640);
        if (fd == -1) {
            snprintf(err, errlen, "%s: log_file: open \"%.200s\": %s", conf,
                     cf->log_file, strerror(errno));
            return -1;
        }

        close(fd);
    }

    return 0;
}


/*
 * What a configuration needs beyond its syntax, at a start or a reload;
 * writes: the command writes to the store (run, daemon, gc, evict, and
 * check, which answers for them), so its directories must be creatable.
 * status and metrics only read: a user who may not write still may look.
 */
static int
hr_ctx_check(hr_config_t *cf, const char *conf, int writes, char *err,
    size_t errlen)
{
    if (hr_log_level(cf->log_level) == -1) {
        snprintf(err, errlen, "%s: log_level: unknown level \"%s\"", conf,
                 cf->log_level);
        return -1;
    }

    if (cf->store_root == NULL || cf->store_root[0] != '/') {
        snprintf(err, errlen, "%s: storage.root: an absolute path is needed",
                 conf);
        return -1;
    }

    if (cf->store_group != NULL && cf->store_group[0] != '\0'
        && getgrnam(cf->store_group) == NULL)
    {
        snprintf(err, errlen, "%s: storage.group: unknown group \"%.64s\"",
                 conf, cf->store_group);
        return -1;
    }

    if (writes && hr_ctx_writable(cf, conf, err, errlen) == -1) {
        return -1;
    }

    if (cf->primary.url == NULL
        || (strncmp(cf->primary.url, "http://", 7) != 0
            && strncmp(cf->primary.url, "https://", 8) != 0))
    {
        snprintf(err, errlen, "%s: primary.url: an http:// or https:// URL "
                 "is needed", conf);
        return -1;
    }

    return 0;
}


static void
hr_ctx_close(hr_ctx_t *ctx)
{
    hr_engine_free(ctx->engine);
    hr_auth_cache_free(&ctx->auth);
    hr_http_free(ctx->http);
    hr_loop_free(ctx->loop);
    hr_store_free(&ctx->store);
    hr_config_release(ctx->cf);
    hr_log_close(&ctx->log);
}


static int
hr_ctx_start(hr_ctx_t *ctx, char *err, size_t errlen)
{
    if (hr_store_init(&ctx->store, ctx->cf->store_root, ctx->cf->state_dir,
                      ctx->cf->store_group, err, errlen)
        == -1)
    {
        return -1;
    }

    ctx->loop = hr_loop_create(4096, err, errlen);
    if (ctx->loop == NULL) {
        return -1;
    }

    if (hr_loop_signals(ctx->loop, err, errlen) == -1) {
        return -1;
    }

    ctx->http = hr_http_create(ctx->loop, ctx->cf->concurrency, err, errlen);
    if (ctx->http == NULL) {
        return -1;
    }

    ctx->engine = hr_engine_create(ctx->loop, ctx->http, ctx->cf->concurrency,
                                   ctx->cf->concurrency, err, errlen);
    if (ctx->engine == NULL) {
        return -1;
    }

    return 0;
}


static int
hr_cmd_check(hr_ctx_t *ctx)
{
    size_t   i, j;
    time_t   next;
    json_t  *figures;

    for (i = 0; i < ctx->cf->npolicies; i++) {
        hr_policy_t  *p = &ctx->cf->policies[i];

        for (j = 0; j < i; j++) {
            if (strcmp(ctx->cf->policies[j].name, p->name) == 0) {
                fprintf(stderr, "harbor-replicator: %s: policies[%zu].name: "
                        "\"%s\" is used twice\n", ctx->conf_path, i, p->name);
                return HR_EXIT_USAGE;
            }
        }

        if (p->trigger == HR_TRIGGER_SCHEDULED) {
            next = hr_cron_next(&p->cron_parsed, time(NULL));

            if (next == (time_t) -1) {
                fprintf(stderr, "harbor-replicator: %s: policies[%zu].trigger:"
                        " cron \"%s\" never fires\n", ctx->conf_path, i,
                        p->cron);
                return HR_EXIT_USAGE;
            }
        }
    }

    /* the last eviction pass found pinned content alone over the budget */
    figures = hr_cache_figures(ctx->cf->state_dir);

    if (figures != NULL && ctx->cf->cache_max > 0
        && json_integer_value(json_object_get(figures, "pinned_bytes"))
           > ctx->cf->cache_max)
    {
        fprintf(stderr, "harbor-replicator: warning: cache.max_bytes %lld is "
                "less than the pinned content alone (%lld bytes at the last "
                "pass): nothing pinned is evicted\n", ctx->cf->cache_max,
                (long long) json_integer_value(json_object_get(figures,
                                                          "pinned_bytes")));
    }

    json_decref(figures);

    fprintf(stderr, "harbor-replicator: the configuration file %s syntax is "
            "ok\nharbor-replicator: configuration file %s test is "
            "successful (%zu policies)\n", ctx->conf_path, ctx->conf_path,
            ctx->cf->npolicies);

    return 0;
}


/*
 * One policy execution, in a job.  Holds the gc lease shared and, with
 * single_active_replication, the policy's own lock.
 */
static int
hr_run_policy(hr_ctx_t *ctx, hr_config_t *cf, hr_policy_t *p,
    const char *trigger)
{
    int            rc, lease, one;
    char           err[HR_ERR_LEN], path[PATH_MAX], name[128];
    size_t         i;
    hr_plan_req_t  rq;

    /* shared with other runs, exclusive of gc */
    lease = hr_exec_lease(ctx, 0, 1, err, sizeof(err));
    if (lease == -1) {
        hr_log(&ctx->log, HR_LOG_ERROR, "policy \"%s\" not run: %s", p->name,
               err);
        return -1;
    }

    /*
     * single_active_replication: skip while another execution (this
     * daemon's, another process's) runs the same policy.  Without it
     * overlapping runs are still safe: a blob has one writer at a time.
     */
    one = -1;

    if (p->single_active_replication) {
        for (i = 0; p->name[i] && i < sizeof(name) - 1; i++) {
            name[i] = isalnum((unsigned char) p->name[i]) ? p->name[i] : '_';
        }
        name[i] = '\0';

        snprintf(path, sizeof(path), "%s/policy-%s.lock", ctx->store.state,
                 name);

        one = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (one != -1 && flock(one, LOCK_EX | LOCK_NB) == -1) {
            hr_log(&ctx->log, HR_LOG_WARN, "policy \"%s\" skipped: an "
                   "execution of it is still active "
                   "(single_active_replication)", p->name);
            close(one);
            close(lease);
            return 0;
        }
    }

    memset(&rq, 0, sizeof(rq));
    rq.cf = cf;
    rq.p = p;
    rq.trigger = trigger;

    rc = hr_plan_execute(ctx, &rq, NULL, err, sizeof(err));

    if (one != -1) {
        close(one);
    }

    close(lease);

    return rc;
}


/* A job of policy executions: one policy, or every enabled one in turn. */
typedef struct {
    hr_ctx_t     *ctx;
    hr_config_t  *cf;               /* held for the job's life */
    hr_policy_t  *p;                /* NULL: every enabled policy */
    const char   *trigger;
    int           ran;
    int           failed;
} hr_runjob_t;


static void
hr_run_job(hr_job_t *j)
{
    size_t        i;
    hr_runjob_t  *rj;
    hr_policy_t  *p;

    rj = j->data;

    if (rj->p != NULL) {
        rj->ran = 1;
        rj->failed = hr_run_policy(rj->ctx, rj->cf, rj->p, rj->trigger) == -1;
        return;
    }

    for (i = 0; i < rj->cf->npolicies && !hr_job_stopping(j); i++) {
        p = &rj->cf->policies[i];

        if (!p->enabled) {
            hr_log(&rj->ctx->log, HR_LOG_INFO, "policy \"%s\" is disabled",
                   p->name);
            continue;
        }

        rj->ran++;

        if (hr_run_policy(rj->ctx, rj->cf, p, rj->trigger) == -1) {
            rj->failed++;
        }
    }
}


static void
hr_run_job_done(hr_job_t *j)
{
    hr_runjob_t  *rj;

    rj = j->data;

    /* the daemon's scheduled jobs are not waited for: they clean up here */
    if (strcmp(rj->trigger, "scheduled") == 0) {
        hr_config_release(rj->cf);
        free(rj);
    }
}


static int
hr_run_spawn(hr_ctx_t *ctx, hr_runjob_t *rj)
{
    char  err[HR_ERR_LEN], name[160];

    snprintf(name, sizeof(name), "%s %s", rj->trigger,
             rj->p ? rj->p->name : "(every policy)");

    if (hr_engine_spawn(ctx->engine, HR_PRIO_SCHEDULE, name, hr_run_job,
                        hr_run_job_done, rj, err, sizeof(err))
        == NULL)
    {
        hr_log(&ctx->log, HR_LOG_ERROR, "%s: %s", name, err);
        return -1;
    }

    return 0;
}


/* `run`: the engine with one job, until it ends. */
static int
hr_cmd_run(hr_ctx_t *ctx, const char *policy)
{
    hr_runjob_t  rj;

    memset(&rj, 0, sizeof(rj));
    rj.ctx = ctx;
    rj.cf = ctx->cf;
    rj.trigger = "manual";

    if (policy != NULL) {
        rj.p = hr_config_policy(ctx->cf, policy);
        if (rj.p == NULL) {
            fprintf(stderr, "harbor-replicator: no policy named \"%s\" in "
                    "%s\n", policy, ctx->conf_path);
            return HR_EXIT_USAGE;
        }
    }

    if (hr_run_spawn(ctx, &rj) == -1) {
        return HR_EXIT_FAILED;
    }

    while (hr_engine_jobs(ctx->engine, -1) > 0) {
        hr_log_reopen_on_usr1(ctx);

        if (hr_engine_turn(ctx->engine, 1000) == -1) {
            hr_log(&ctx->log, HR_LOG_ERROR, "epoll_wait() failed: %s",
                   strerror(errno));
            return HR_EXIT_FAILED;
        }
    }

    if (policy == NULL) {
        hr_log(&ctx->log, rj.failed ? HR_LOG_ERROR : HR_LOG_INFO,
               "run: %d policies, %d failed", rj.ran, rj.failed);
    }

    return rj.failed ? HR_EXIT_FAILED : 0;
}


/* SIGUSR1 (logrotate's postrotate): "log_file" is opened again. */
static void
hr_log_reopen_on_usr1(hr_ctx_t *ctx)
{
    char  err[HR_ERR_LEN];

    if (!hr_loop_usr1(ctx->loop)) {
        return;
    }

    if (hr_log_reopen(&ctx->log, err, sizeof(err)) == -1) {
        hr_log(&ctx->log, HR_LOG_ERROR, "SIGUSR1: %s; logging on to the "
               "file that was open", err);
        return;
    }

    hr_log(&ctx->log, HR_LOG_INFO, "SIGUSR1: %s", ctx->log.owned
           ? "log file reopened" : "no log_file, logging to stderr");
}


typedef struct {
    hr_ctx_t          *ctx;
    hr_scrub_stats_t   ss;
    int                rc;
} hr_scrubrun_t;


static void
hr_scrub_job(hr_job_t *j)
{
    char            err[HR_ERR_LEN];
    hr_scrubrun_t  *sr;

    sr = j->data;
    sr->rc = hr_scrub_pass(sr->ctx, sr->ctx->cf, j, sr->ctx->cf->scrub_rate,
                           &sr->ss, err, sizeof(err));

    if (sr->rc == -1 && !sr->ss.stopped) {
        hr_log(&sr->ctx->log, HR_LOG_ERROR, "scrub: %s", err);
    }
}


/*
 * `scrub`: one pass at "scrub.bytes_per_second" (full speed without it).
 * Exit 0 when the store is right at the end (nothing corrupt, or all of it
 * fetched again), 1 when not.
 */
static int
hr_cmd_scrub(hr_ctx_t *ctx)
{
    char           err[HR_ERR_LEN];
    hr_scrubrun_t  sr;

    memset(&sr, 0, sizeof(sr));
    sr.ctx = ctx;
    sr.rc = -1;

    if (hr_engine_spawn(ctx->engine, HR_PRIO_SCHEDULE, "scrub", hr_scrub_job,
                        NULL, &sr, err, sizeof(err))
        == NULL)
    {
        hr_log(&ctx->log, HR_LOG_ERROR, "scrub: %s", err);
        return HR_EXIT_FAILED;
    }

    while (hr_engine_jobs(ctx->engine, -1) > 0) {
        if (hr_engine_turn(ctx->engine, 1000) == -1 && errno != EINTR) {
            hr_log(&ctx->log, HR_LOG_ERROR, "epoll_wait() failed: %s",
                   strerror(errno));
            return HR_EXIT_FAILED;
        }
    }

    return sr.rc == 0 && sr.ss.repaired == sr.ss.corrupt && sr.ss.errors == 0
           ? 0 : HR_EXIT_FAILED;
}


/*
 * SIGHUP: a new configuration for the jobs that start from now on; the
 * running ones keep theirs until they end.
 */
static int
hr_reload(hr_ctx_t *ctx)
{
    char          err[HR_ERR_LEN];
    hr_config_t  *ncf;

    ncf = hr_config_open(ctx->conf_path, err, sizeof(err));

    if (ncf == NULL
        || hr_ctx_check(ncf, ctx->conf_path, 1, err, sizeof(err)) == -1)
    {
        hr_log(&ctx->log, HR_LOG_ERROR, "reload: %s; keeping the running "
               "configuration", err);
        hr_config_release(ncf);
        return -1;
    }

    if (strcmp(ncf->store_root, ctx->cf->store_root) != 0) {
        hr_log(&ctx->log, HR_LOG_ERROR, "reload: storage.root cannot change "
               "without a restart; keeping the running configuration");
        hr_config_release(ncf);
        return -1;
    }

    if ((ncf->redis == NULL) != (ctx->cf->redis == NULL)
        || (ncf->redis != NULL && strcmp(ncf->redis, ctx->cf->redis) != 0))
    {
        hr_log(&ctx->log, HR_LOG_WARN, "reload: redis changes at the next "
               "restart only");
    }

    hr_ctx_warnings(ctx, ncf);

    if (ncf->log_file == NULL && ctx->log.owned) {
        hr_log_close(&ctx->log);

    } else if (ncf->log_file != NULL
               && (ctx->cf->log_file == NULL
                   || strcmp(ncf->log_file, ctx->cf->log_file) != 0)
               && hr_log_open(&ctx->log, ncf->log_file, err, sizeof(err))
                  == -1)
    {
        hr_log(&ctx->log, HR_LOG_ERROR, "reload: %s", err);
    }

    hr_config_release(ctx->cf);
    ctx->cf = ncf;
    hr_log_set_level(&ctx->log, ctx->cf->log_level);
    hr_engine_limits(ctx->engine, ctx->cf->concurrency,
                     ctx->cf->concurrency);

    hr_log(&ctx->log, HR_LOG_INFO, "reload: %zu policies", ctx->cf->npolicies);

    return 0;
}


/* When each scheduled policy of the current configuration runs next. */
static time_t *
hr_daemon_schedule(hr_ctx_t *ctx)
{
    size_t        i;
    time_t       *next, now;
    hr_policy_t  *p;

    next = calloc(ctx->cf->npolicies + 1, sizeof(time_t));
    if (next == NULL) {
        return NULL;
    }

    now = time(NULL);

    for (i = 0; i < ctx->cf->npolicies; i++) {
        p = &ctx->cf->policies[i];
        next[i] = (time_t) -1;

        if (p->enabled && p->trigger == HR_TRIGGER_SCHEDULED) {
            next[i] = hr_cron_next(&p->cron_parsed, now);

            if (next[i] != (time_t) -1) {
                hr_log(&ctx->log, HR_LOG_DEBUG, "policy \"%s\": next at %lld",
                       p->name, (long long) next[i]);
            }
        }
    }

    return next;
}


/*
 * The daemon: one loop.  Each turn starts the policies whose time has come
 * and the events that are due as jobs of the engine, then runs the engine
 * for a turn; nothing waits for anything else.
 */
static int
hr_cmd_daemon(hr_ctx_t *ctx)
{
    int           rc;
    long          ms, due;
    char          err[HR_ERR_LEN];
    size_t        i;
    time_t        now, *next, soonest, until;
    hr_cache_t     *cache;
    hr_fills_t     *fills;
    hr_events_t    *ev;
    hr_runjob_t    *rj;
    hr_scrubber_t  *scrub;

    hr_log(&ctx->log, HR_LOG_INFO, "daemon started, pid %d, %zu policies%s%s",
           (int) getpid(), ctx->cf->npolicies,
           ctx->cf->redis ? ", events from Redis at " : "",
           ctx->cf->redis ? ctx->cf->redis : "");

    /* event_based policies and misses: the queue the module fills */
    ev = NULL;
    fills = NULL;

    if (ctx->cf->redis != NULL) {
        ev = hr_events_start(ctx, err, sizeof(err));
        if (ev == NULL) {
            hr_log(&ctx->log, HR_LOG_ERROR, "events: %s", err);
            return HR_EXIT_FAILED;
        }

        /* a client's miss, fetched once and streamed by the module */
        fills = hr_fills_create(ctx, hr_events_queue(ev), err, sizeof(err));
        if (fills == NULL) {
            hr_log(&ctx->log, HR_LOG_ERROR, "fill: %s", err);
            hr_events_stop(ev);
            return HR_EXIT_FAILED;
        }
    }

    /* the byte budget, when "cache.max_bytes" is (or is later) set */
    cache = hr_cache_create(ctx, ev != NULL ? hr_events_queue(ev) : NULL,
                            err, sizeof(err));
    if (cache == NULL) {
        hr_log(&ctx->log, HR_LOG_ERROR, "evict: %s", err);
    }

    /* the background scrub, when "scrub.interval" is (or is later) set */
    scrub = hr_scrubber_create(ctx);

    next = hr_daemon_schedule(ctx);
    rc = next != NULL && cache != NULL && scrub != NULL ? 0 : HR_EXIT_FAILED;

    if (rc != 0) {
        free(next);
        next = NULL;
    }

    while (next != NULL) {
        if (hr_loop_term(ctx->loop)) {
            hr_log(&ctx->log, HR_LOG_INFO, "daemon: stopping on a signal");
            break;
        }

        hr_log_reopen_on_usr1(ctx);

        if (hr_loop_hup(ctx->loop, 1) && hr_reload(ctx) == 0) {
            free(next);
            next = hr_daemon_schedule(ctx);
            if (next == NULL) {
                rc = HR_EXIT_FAILED;
                break;
            }
        }

        now = time(NULL);
        soonest = (time_t) -1;

        for (i = 0; i < ctx->cf->npolicies; i++) {
            if (next[i] == (time_t) -1) {
                continue;
            }

            if (next[i] <= now) {
                rj = calloc(1, sizeof(hr_runjob_t));

                if (rj != NULL) {
                    rj->ctx = ctx;
                    rj->cf = hr_config_hold(ctx->cf);
                    rj->p = &ctx->cf->policies[i];
                    rj->trigger = "scheduled";

                    if (hr_run_spawn(ctx, rj) == -1) {
                        hr_config_release(rj->cf);
                        free(rj);
                    }
                }

                next[i] = hr_cron_next(&ctx->cf->policies[i].cron_parsed,
                                       now + 1);
            }

            if (next[i] != (time_t) -1
                && (soonest == (time_t) -1 || next[i] < soonest))
            {
                soonest = next[i];
            }
        }

        ms = soonest == (time_t) -1 ? 60000 : (long) (soonest - now) * 1000;
        if (ms > 60000) {
            ms = 60000;
        }

        if (fills != NULL) {
            hr_fills_dispatch(fills);
        }

        if (ev != NULL) {
            due = hr_events_dispatch(ev);

            if (due >= 0 && due < ms) {
                ms = due;
            }
        }

        due = hr_scrubber_dispatch(scrub);

        if (due >= 0 && due < ms) {
            ms = due;
        }

        if (hr_engine_turn(ctx->engine, ms) == -1 && errno != EINTR) {
            hr_log(&ctx->log, HR_LOG_ERROR, "epoll_wait() failed: %s",
                   strerror(errno));
            rc = HR_EXIT_FAILED;
            break;
        }
    }

    /* the jobs saw the stop: they suspend their transfers and end */
    until = time(NULL) + 30;

    while (hr_engine_jobs(ctx->engine, -1) > 0 && time(NULL) < until) {
        if (hr_engine_turn(ctx->engine, 100) == -1 && errno != EINTR) {
            break;
        }
    }

    hr_scrubber_free(scrub);
    hr_cache_free(cache);
    hr_fills_free(fills);

    if (ev != NULL) {
        hr_events_stop(ev);
    }

    free(next);

    return rc;
}


/*
 * executions.jsonl, and with "redis" the event-driven executions too; with
 * --json then one object: {"executions": [...], "events": {...}}.
 */
static const char *
hr_status_time(json_t *v, char *out, size_t len)
{
    time_t     t;
    struct tm  tm;

    t = (time_t) json_integer_value(v);

    if (t <= 0 || gmtime_r(&t, &tm) == NULL
        || strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    {
        snprintf(out, len, "never");
    }

    return out;
}


static int
hr_cmd_status(hr_ctx_t *ctx, int json)
{
    char         err[HR_ERR_LEN], *text, when[32];
    size_t       i;
    json_t      *cache, *scrub, *v;
    const char  *queue;

    queue = ctx->cf->redis_queue ? ctx->cf->redis_queue : HR_QUEUE_NAME;

    if (json && ctx->cf->redis != NULL) {
        printf("{\"executions\":\n");
    }

    if (hr_exec_status(ctx, json, err, sizeof(err)) == -1) {
        fprintf(stderr, "harbor-replicator: %s\n", err);
        return HR_EXIT_FAILED;
    }

    cache = hr_cache_figures(ctx->store.state);

    if (!json && cache != NULL) {
        printf("cache: %lld bytes stored (pinned %lld, cached %lld), budget "
               "%lld%s; last pass: %lld evicted, %lld bytes freed\n",
               (long long) json_integer_value(json_object_get(cache,
                                                              "total_bytes")),
               (long long) json_integer_value(json_object_get(cache,
                                                             "pinned_bytes")),
               (long long) json_integer_value(json_object_get(cache,
                                                             "cached_bytes")),
               (long long) json_integer_value(json_object_get(cache,
                                                                "max_bytes")),
               json_is_true(json_object_get(cache, "pinned_over_budget"))
               ? " (pinned content alone is over it)" : "",
               (long long) json_integer_value(json_object_get(cache,
                                                                  "evicted")),
               (long long) json_integer_value(json_object_get(cache,
                                                          "evicted_bytes")));
    }

    scrub = hr_scrub_figures(ctx->store.state);

    if (!json && scrub != NULL) {
        printf("scrub: last pass %s, %lld files, %lld bytes hashed; %lld "
               "corrupt, %lld fetched again, %lld unreadable%s\n",
               hr_status_time(json_object_get(scrub, "finished"), when,
                              sizeof(when)),
               (long long) json_integer_value(json_object_get(scrub, "files")),
               (long long) json_integer_value(json_object_get(scrub, "bytes")),
               (long long) json_integer_value(json_object_get(scrub,
                                                              "corrupt")),
               (long long) json_integer_value(json_object_get(scrub,
                                                              "repaired")),
               (long long) json_integer_value(json_object_get(scrub,
                                                              "unreadable")),
               json_is_true(json_object_get(scrub, "stopped"))
               ? " (stopped before the end)" : "");

        json_array_foreach(json_object_get(scrub, "found"), i, v) {
            printf("scrub: corrupt %s%s%s: %s\n",
                   json_string_value(json_object_get(v, "digest")),
                   json_object_get(v, "repository") ? " in " : "",
                   json_object_get(v, "repository")
                   ? json_string_value(json_object_get(v, "repository")) : "",
                   json_is_true(json_object_get(v, "repaired"))
                   ? "fetched again"
                   : (json_object_get(v, "why")
                      ? json_string_value(json_object_get(v, "why"))
                      : "not fetched again"));
        }
    }

    if (ctx->cf->redis == NULL) {
        json_decref(cache);
        json_decref(scrub);
        return 0;
    }

    if (json) {
        text = cache != NULL ? json_dumps(cache, JSON_COMPACT) : NULL;
        printf(",\"cache\":%s\n", text != NULL ? text : "null");
        free(text);
        text = scrub != NULL ? json_dumps(scrub, JSON_COMPACT) : NULL;
        printf(",\"scrub\":%s\n", text != NULL ? text : "null");
        free(text);
    }

    json_decref(cache);
    json_decref(scrub);

    if (json) {
        printf(",\"events\":\n");
    }

    fflush(stdout);

    if (hr_exec_redis_status(ctx->cf->redis, queue, json, err, sizeof(err))
        == -1)
    {
        if (json) {
            printf("null}\n");
        }

        fprintf(stderr, "harbor-replicator: events: %s\n", err);
        return HR_EXIT_FAILED;
    }

    if (json) {
        printf("}\n");
    }

    return 0;
}


/*
 * The node_exporter textfile (metrics.h): to stdout, or replacing FILE
 * atomically; with "redis", the queue's lengths and counters too.  Meant
 * for a timer (harbor-replicator-metrics.timer) or cron, every 15-60 s.
 */
static int
hr_cmd_metrics(hr_ctx_t *ctx, const char *output)
{
    int               rc;
    char              err[HR_ERR_LEN];
    json_t           *stats, *execs;
    const char       *queue;
    hr_buf_t          out;
    hr_metrics_src_t  src;

    hr_metrics_src_init(&src);
    stats = NULL;

    if (ctx->cf->redis != NULL) {
        queue = ctx->cf->redis_queue ? ctx->cf->redis_queue : HR_QUEUE_NAME;

        /* without Redis the file still tells about the executions */
        if (hr_metrics_redis(ctx->cf->redis, queue, &src, &stats, err,
                             sizeof(err))
            == -1)
        {
            hr_log(&ctx->log, HR_LOG_WARN, "metrics: %s", err);
        }
    }

    src.stats = stats;
    src.cache = hr_cache_figures(ctx->store.state);
    src.scrub = hr_scrub_figures(ctx->store.state);

    if (output != NULL && strcmp(output, "-") != 0) {
        rc = hr_metrics_write(ctx, output, &src, err, sizeof(err));

    } else {
        hr_buf_init(&out, HR_METRICS_MAX);

        rc = hr_metrics_load(ctx->store.state, &execs, err, sizeof(err));

        if (rc == 0) {
            src.execs = execs;
            rc = hr_metrics_render(&src, &out, err, sizeof(err));
            json_decref(execs);
        }

        if (rc == 0 && fwrite(out.data, 1, out.len, stdout) != out.len) {
            snprintf(err, sizeof(err), "write to stdout failed");
            rc = -1;
        }

        hr_buf_free(&out);
    }

    json_decref(stats);
    json_decref(src.cache);
    json_decref(src.scrub);

    if (rc == -1) {
        fprintf(stderr, "harbor-replicator: metrics: %s\n", err);
        return HR_EXIT_FAILED;
    }

    return 0;
}


int
main(int argc, char **argv)
{
    int          i, rc, dry_run, json;
    char         err[HR_ERR_LEN];
    hr_ctx_t     ctx;
    const char  *conf, *cmd, *policy, *output;

    conf = NULL;
    cmd = NULL;
    policy = NULL;
    output = NULL;
    dry_run = 0;
    json = 0;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-v") == 0) {
            printf("harbor-replicator %s (%s)\n", HR_VERSION,
                   curl_version());
            return 0;

        } else if (strcmp(argv[i], "-h") == 0
                   || strcmp(argv[i], "--help") == 0)
        {
            hr_usage(stdout);
            return 0;

        } else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            conf = argv[++i];

        } else if (strcmp(argv[i], "--policy") == 0 && i + 1 < argc) {
            policy = argv[++i];

        } else if (strcmp(argv[i], "--output") == 0 && i + 1 < argc) {
            output = argv[++i];

        } else if (strcmp(argv[i], "--dry-run") == 0) {
            dry_run = 1;

        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;

        } else if (cmd == NULL && argv[i][0] != '-') {
            cmd = argv[i];

        } else {
            fprintf(stderr, "harbor-replicator: unexpected argument \"%s\"\n",
                    argv[i]);
            hr_usage(stderr);
            return HR_EXIT_USAGE;
        }
    }

    if (conf == NULL || cmd == NULL) {
        hr_usage(stderr);
        return HR_EXIT_USAGE;
    }

    if (strcmp(cmd, "run") != 0 && strcmp(cmd, "daemon") != 0
        && strcmp(cmd, "status") != 0 && strcmp(cmd, "gc") != 0
        && strcmp(cmd, "evict") != 0 && strcmp(cmd, "scrub") != 0
        && strcmp(cmd, "check") != 0 && strcmp(cmd, "metrics") != 0)
    {
        fprintf(stderr, "harbor-replicator: unknown command \"%s\"\n", cmd);
        hr_usage(stderr);
        return HR_EXIT_USAGE;
    }

    if ((policy != NULL && strcmp(cmd, "run") != 0)
        || (dry_run && strcmp(cmd, "run") != 0 && strcmp(cmd, "gc") != 0
            && strcmp(cmd, "evict") != 0)
        || (json && strcmp(cmd, "status") != 0)
        || (output != NULL && strcmp(cmd, "metrics") != 0))
    {
        fprintf(stderr, "harbor-replicator: option not valid with \"%s\"\n",
                cmd);
        return HR_EXIT_USAGE;
    }

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "harbor-replicator: curl_global_init() failed\n");
        return HR_EXIT_FAILED;
    }

    if (hr_ctx_open(&ctx, conf, strcmp(cmd, "status") != 0
                              && strcmp(cmd, "metrics") != 0,
                    err, sizeof(err))
        == -1)
    {
        fprintf(stderr, "harbor-replicator: %s\n", err);
        if (strcmp(cmd, "check") == 0) {
            fprintf(stderr, "harbor-replicator: configuration file %s test "
                    "failed\n", conf);
        }
        hr_ctx_close(&ctx);
        curl_global_cleanup();
        return HR_EXIT_USAGE;
    }

    ctx.dry_run = dry_run;

    /* the long-running commands log to "log_file"; the others to stderr */
    if (ctx.cf->log_file != NULL
        && (strcmp(cmd, "run") == 0 || strcmp(cmd, "daemon") == 0)
        && hr_log_open(&ctx.log, ctx.cf->log_file, err, sizeof(err)) == -1)
    {
        fprintf(stderr, "harbor-replicator: %s: %s\n", conf, err);
        hr_ctx_close(&ctx);
        curl_global_cleanup();
        return HR_EXIT_USAGE;
    }

    if (strcmp(cmd, "check") == 0) {
        rc = hr_cmd_check(&ctx);
        hr_ctx_close(&ctx);
        curl_global_cleanup();
        return rc;
    }

    if (hr_ctx_start(&ctx, err, sizeof(err)) == -1) {
        fprintf(stderr, "harbor-replicator: %s\n", err);
        hr_ctx_close(&ctx);
        curl_global_cleanup();
        return HR_EXIT_FAILED;
    }

    if (strcmp(cmd, "run") == 0) {
        rc = hr_cmd_run(&ctx, policy);

    } else if (strcmp(cmd, "daemon") == 0) {
        rc = hr_cmd_daemon(&ctx);

    } else if (strcmp(cmd, "status") == 0) {
        rc = hr_cmd_status(&ctx, json);

    } else if (strcmp(cmd, "metrics") == 0) {
        rc = hr_cmd_metrics(&ctx, output);

    } else if (strcmp(cmd, "scrub") == 0) {
        rc = hr_cmd_scrub(&ctx);

    } else if (strcmp(cmd, "evict") == 0) {
        rc = hr_cache_evict(&ctx, dry_run, err, sizeof(err)) == 0
             ? 0 : HR_EXIT_FAILED;
        if (rc) {
            fprintf(stderr, "harbor-replicator: evict: %s\n", err);
        }

    } else {
        rc = hr_gc(&ctx, dry_run, err, sizeof(err)) == 0 ? 0 : HR_EXIT_FAILED;
        if (rc) {
            fprintf(stderr, "harbor-replicator: gc: %s\n", err);
        }
    }

    hr_ctx_close(&ctx);
    curl_global_cleanup();

    return rc;
}
