/*
 * main.c: harbor-replicator's command line.
 *
 *   harbor-replicator -c FILE run [--policy NAME] [--dry-run]
 *   harbor-replicator -c FILE daemon
 *   harbor-replicator -c FILE status [--json]
 *   harbor-replicator -c FILE gc [--dry-run]
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
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "events.h"
#include "exec.h"
#include "exec_redis.h"
#include "gc.h"
#include "hr.h"
#include "metrics.h"
#include "plan.h"
#include "queue.h"

#define HR_EXIT_FAILED  1
#define HR_EXIT_USAGE   2


static void hr_usage(FILE *fp);
static int hr_ctx_open(hr_ctx_t *ctx, const char *conf, char *err,
    size_t errlen);
static void hr_ctx_close(hr_ctx_t *ctx);
static int hr_ctx_start(hr_ctx_t *ctx, char *err, size_t errlen);
static int hr_cmd_check(hr_ctx_t *ctx);
static int hr_cmd_run(hr_ctx_t *ctx, const char *policy);
static int hr_cmd_daemon(hr_ctx_t *ctx);
static int hr_cmd_status(hr_ctx_t *ctx, int json);
static int hr_cmd_metrics(hr_ctx_t *ctx, const char *output);
static int hr_reload(hr_ctx_t *ctx);
static int hr_run_policy(hr_ctx_t *ctx, hr_policy_t *p, const char *trigger);


static void
hr_usage(FILE *fp)
{
    fprintf(fp,
        "usage: harbor-replicator -c FILE run [--policy NAME] [--dry-run]\n"
        "       harbor-replicator -c FILE daemon\n"
        "       harbor-replicator -c FILE status [--json]\n"
        "       harbor-replicator -c FILE metrics [--output FILE.prom]\n"
        "       harbor-replicator -c FILE gc [--dry-run]\n"
        "       harbor-replicator -c FILE check\n"
        "       harbor-replicator --version\n");
}


static int
hr_ctx_open(hr_ctx_t *ctx, const char *conf, char *err, size_t errlen)
{
    memset(ctx, 0, sizeof(hr_ctx_t));
    ctx->lease_fd = -1;
    ctx->conf_path = conf;

    hr_log_init(&ctx->log, stderr, NULL);

    if (hr_config_load(&ctx->cf, conf, err, errlen) == -1) {
        return -1;
    }

    if (hr_log_level(ctx->cf.log_level) == -1) {
        snprintf(err, errlen, "%s: log_level: unknown level \"%s\"", conf,
                 ctx->cf.log_level);
        return -1;
    }

    hr_log_init(&ctx->log, stderr, ctx->cf.log_level);

    if (ctx->cf.store_root == NULL || ctx->cf.store_root[0] != '/') {
        snprintf(err, errlen, "%s: storage.root: an absolute path is needed",
                 conf);
        return -1;
    }

    if (ctx->cf.primary.url == NULL
        || (strncmp(ctx->cf.primary.url, "http://", 7) != 0
            && strncmp(ctx->cf.primary.url, "https://", 8) != 0))
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
    hr_http_free(ctx->http);
    hr_loop_free(ctx->loop);
    hr_store_free(&ctx->store);
    hr_config_free(&ctx->cf);

    if (ctx->lease_fd != -1) {
        close(ctx->lease_fd);
    }
}


static int
hr_ctx_start(hr_ctx_t *ctx, char *err, size_t errlen)
{
    if (hr_store_init(&ctx->store, ctx->cf.store_root, ctx->cf.state_dir,
                      ctx->cf.store_group, err, errlen)
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

    ctx->http = hr_http_create(ctx->loop, ctx->cf.concurrency, err, errlen);
    if (ctx->http == NULL) {
        return -1;
    }

    return 0;
}


static int
hr_cmd_check(hr_ctx_t *ctx)
{
    size_t   i, j;
    time_t   next;

    for (i = 0; i < ctx->cf.npolicies; i++) {
        hr_policy_t  *p = &ctx->cf.policies[i];

        for (j = 0; j < i; j++) {
            if (strcmp(ctx->cf.policies[j].name, p->name) == 0) {
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

    fprintf(stderr, "harbor-replicator: the configuration file %s syntax is "
            "ok\nharbor-replicator: configuration file %s test is "
            "successful (%zu policies)\n", ctx->conf_path, ctx->conf_path,
            ctx->cf.npolicies);

    return 0;
}


static int
hr_run_policy(hr_ctx_t *ctx, hr_policy_t *p, const char *trigger)
{
    int     rc, lease, one;
    char    err[HR_ERR_LEN], path[PATH_MAX], name[128];
    size_t  i;

    /* shared with other runs, exclusive of gc */
    lease = hr_exec_lease(ctx, 0, 1, err, sizeof(err));
    if (lease == -1) {
        hr_log(&ctx->log, HR_LOG_ERROR, "policy \"%s\" not run: %s", p->name,
               err);
        return -1;
    }

    /*
     * single_active_replication: skip while another process (a daemon, a
     * manual run) executes the same policy.  Without it overlapping runs
     * are still safe: a blob has one writer at a time (store.c).
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

    rc = hr_plan_run(ctx, p, trigger, err, sizeof(err));

    if (one != -1) {
        close(one);
    }

    close(lease);

    return rc;
}


static int
hr_cmd_run(hr_ctx_t *ctx, const char *policy)
{
    int           ran, failed;
    size_t        i;
    hr_policy_t  *p;

    if (policy != NULL) {
        p = hr_config_policy(&ctx->cf, policy);
        if (p == NULL) {
            fprintf(stderr, "harbor-replicator: no policy named \"%s\" in "
                    "%s\n", policy, ctx->conf_path);
            return HR_EXIT_USAGE;
        }

        return hr_run_policy(ctx, p, "manual") == 0 ? 0 : HR_EXIT_FAILED;
    }

    ran = 0;
    failed = 0;

    for (i = 0; i < ctx->cf.npolicies && !hr_loop_term(ctx->loop); i++) {
        p = &ctx->cf.policies[i];

        if (!p->enabled) {
            hr_log(&ctx->log, HR_LOG_INFO, "policy \"%s\" is disabled",
                   p->name);
            continue;
        }

        ran++;

        if (hr_run_policy(ctx, p, "manual") == -1) {
            failed++;
        }
    }

    hr_log(&ctx->log, failed ? HR_LOG_ERROR : HR_LOG_INFO,
           "run: %d policies, %d failed", ran, failed);

    return failed ? HR_EXIT_FAILED : 0;
}


static int
hr_reload(hr_ctx_t *ctx)
{
    char         err[HR_ERR_LEN];
    hr_config_t  ncf;

    if (hr_config_load(&ncf, ctx->conf_path, err, sizeof(err)) == -1) {
        hr_log(&ctx->log, HR_LOG_ERROR, "reload: %s; keeping the running "
               "configuration", err);
        hr_config_free(&ncf);
        return -1;
    }

    if (ncf.store_root == NULL
        || strcmp(ncf.store_root, ctx->cf.store_root) != 0)
    {
        hr_log(&ctx->log, HR_LOG_ERROR, "reload: storage.root cannot change "
               "without a restart; keeping the running configuration");
        hr_config_free(&ncf);
        return -1;
    }

    hr_config_free(&ctx->cf);
    ctx->cf = ncf;
    hr_log_init(&ctx->log, stderr, ctx->cf.log_level);

    hr_log(&ctx->log, HR_LOG_INFO, "reload: %zu policies", ctx->cf.npolicies);

    return 0;
}


static int
hr_cmd_daemon(hr_ctx_t *ctx)
{
    int           rc;
    long          ms, due;
    char          err[HR_ERR_LEN];
    size_t        i;
    time_t        now, *next, soonest;
    hr_policy_t  *p;
    hr_events_t  *ev;

    hr_log(&ctx->log, HR_LOG_INFO, "daemon started, pid %d, %zu policies%s%s",
           (int) getpid(), ctx->cf.npolicies,
           ctx->cf.redis ? ", events from Redis at " : "",
           ctx->cf.redis ? ctx->cf.redis : "");

    /* event_based policies and misses: the queue the module fills */
    ev = NULL;

    if (ctx->cf.redis != NULL) {
        ev = hr_events_start(ctx, err, sizeof(err));
        if (ev == NULL) {
            hr_log(&ctx->log, HR_LOG_ERROR, "events: %s", err);
            return HR_EXIT_FAILED;
        }
    }

    next = NULL;
    rc = 0;

    for ( ;; ) {
        free(next);
        next = calloc(ctx->cf.npolicies + 1, sizeof(time_t));
        if (next == NULL) {
            hr_log(&ctx->log, HR_LOG_ERROR, "out of memory");
            rc = HR_EXIT_FAILED;
            break;
        }

        now = time(NULL);

        for (i = 0; i < ctx->cf.npolicies; i++) {
            p = &ctx->cf.policies[i];
            next[i] = (time_t) -1;

            if (p->enabled && p->trigger == HR_TRIGGER_SCHEDULED) {
                next[i] = hr_cron_next(&p->cron_parsed, now);

                if (next[i] != (time_t) -1) {
                    hr_log(&ctx->log, HR_LOG_DEBUG, "policy \"%s\": next at "
                           "%lld", p->name, (long long) next[i]);
                }
            }
        }

        /* wait for the soonest, an event, a signal, or a HUP */
        for ( ;; ) {
            if (hr_loop_term(ctx->loop)) {
                hr_log(&ctx->log, HR_LOG_INFO, "daemon: stopping on a signal");
                goto done;
            }

            if (hr_loop_hup(ctx->loop, 1)) {
                hr_reload(ctx);
                break;
            }

            now = time(NULL);
            soonest = (time_t) -1;

            for (i = 0; i < ctx->cf.npolicies; i++) {
                if (next[i] != (time_t) -1
                    && (soonest == (time_t) -1 || next[i] < soonest))
                {
                    soonest = next[i];
                }
            }

            if (soonest != (time_t) -1 && soonest <= now) {
                for (i = 0; i < ctx->cf.npolicies; i++) {
                    if (next[i] != (time_t) -1 && next[i] <= now
                        && !hr_loop_term(ctx->loop))
                    {
                        hr_run_policy(ctx, &ctx->cf.policies[i], "scheduled");
                        next[i] = hr_cron_next(&ctx->cf.policies[i].cron_parsed,
                                               time(NULL));
                    }
                }
                continue;
            }

            ms = soonest == (time_t) -1 ? 60000 : (long) (soonest - now) * 1000;
            if (ms > 60000) {
                ms = 60000;
            }

            /* one event per turn, so cron and signals are never starved */
            if (ev != NULL) {
                due = hr_events_dispatch(ev);

                if (due >= 0 && due < ms) {
                    ms = due;
                }
            }

            if (hr_loop_once(ctx->loop, ms) == -1 && errno != EINTR) {
                hr_log(&ctx->log, HR_LOG_ERROR, "epoll_wait() failed: %s",
                       strerror(errno));
                rc = HR_EXIT_FAILED;
                goto done;
            }
        }
    }

done:

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
static int
hr_cmd_status(hr_ctx_t *ctx, int json)
{
    char         err[HR_ERR_LEN];
    const char  *queue;

    queue = ctx->cf.redis_queue ? ctx->cf.redis_queue : HR_QUEUE_NAME;

    if (json && ctx->cf.redis != NULL) {
        printf("{\"executions\":\n");
    }

    if (hr_exec_status(ctx, json, err, sizeof(err)) == -1) {
        fprintf(stderr, "harbor-replicator: %s\n", err);
        return HR_EXIT_FAILED;
    }

    if (ctx->cf.redis == NULL) {
        return 0;
    }

    if (json) {
        printf(",\"events\":\n");
    }

    fflush(stdout);

    if (hr_exec_redis_status(ctx->cf.redis, queue, json, err, sizeof(err))
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

    if (ctx->cf.redis != NULL) {
        queue = ctx->cf.redis_queue ? ctx->cf.redis_queue : HR_QUEUE_NAME;

        /* without Redis the file still tells about the executions */
        if (hr_metrics_redis(ctx->cf.redis, queue, &src, &stats, err,
                             sizeof(err))
            == -1)
        {
            hr_log(&ctx->log, HR_LOG_WARN, "metrics: %s", err);
        }
    }

    src.stats = stats;

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
        && strcmp(cmd, "check") != 0 && strcmp(cmd, "metrics") != 0)
    {
        fprintf(stderr, "harbor-replicator: unknown command \"%s\"\n", cmd);
        hr_usage(stderr);
        return HR_EXIT_USAGE;
    }

    if ((policy != NULL && strcmp(cmd, "run") != 0)
        || (dry_run && strcmp(cmd, "run") != 0 && strcmp(cmd, "gc") != 0)
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

    if (hr_ctx_open(&ctx, conf, err, sizeof(err)) == -1) {
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
