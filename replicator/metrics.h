/*
 * metrics.h: the replicator's figures as a node_exporter textfile (the
 * Prometheus text format 0.0.4), for node_exporter's textfile collector
 * (--collector.textfile.directory) to publish.
 *
 * The figures come from the execution records, never from counters kept in
 * memory, so a restart, a reload or a second process (`run` beside the
 * daemon) cannot make them go backwards: executions.jsonl only grows, and
 * Redis's <queue>:stats hash is only ever incremented.
 *
 *   harbor_replicator_info{version}                               gauge
 *   harbor_replicator_executions_total{policy,status}             counter
 *   harbor_replicator_executions_running{policy}                  gauge
 *   harbor_replicator_artifacts_copied_total{policy}              counter
 *   harbor_replicator_blobs_total{policy,result=fetched|linked}   counter
 *   harbor_replicator_copied_bytes_total{policy}                  counter
 *   harbor_replicator_task_failures_total{policy}                 counter
 *   harbor_replicator_last_success_timestamp_seconds{policy}      gauge
 *   harbor_replicator_events_total{result}                        counter
 *   harbor_replicator_queue_depth{queue=waiting|processing|failed} gauge
 *   harbor_replicator_scrub_files_total                           counter
 *   harbor_replicator_scrub_bytes_total                           counter
 *   harbor_replicator_scrub_corrupt_total{result=repaired|not_repaired}
 *                                                                 counter
 *   harbor_replicator_scrub_last_pass_timestamp_seconds           gauge
 *   harbor_replicator_scrub_last_pass_corrupt                     gauge
 *
 * The file is replaced atomically (a temp file in the same directory whose
 * name does not end in .prom, fsync, rename, fsync of the directory), so
 * the collector never reads half of it.
 */

#ifndef HR_METRICS_H
#define HR_METRICS_H

#include <stddef.h>

#include <jansson.h>

#include "buf.h"
#include "hr.h"

#define HR_METRICS_MAX      (4 * 1024 * 1024)

enum {
    HR_METRICS_WAITING = 0,
    HR_METRICS_PROCESSING,
    HR_METRICS_FAILED,
    HR_METRICS_NQUEUES
};

typedef struct {
    /*
     * Borrowed.  execs: the records of executions.jsonl, one per
     * execution (the last line of an id), as hr_metrics_load() gives
     * them; NULL: none.  stats: the <queue>:stats hash of exec_redis.h as
     * an object of integers (events, copied, failed, ...); NULL: no Redis.
     */
    json_t     *execs;
    json_t     *stats;
    json_t     *scrub;          /* STATE/scrub.json (scrub.h), or NULL */

    /* STATE/cache.json, the last eviction pass's figures; NULL: none */
    json_t     *cache;

    /* list lengths of the event queue; < 0: unknown, not written */
    long long   queue[HR_METRICS_NQUEUES];
} hr_metrics_src_t;

/* Sets every field to "nothing known". */
void hr_metrics_src_init(hr_metrics_src_t *src);

/*
 * Reads STATE/executions.jsonl into *execs (an array, one record per id,
 * the last line of an id winning; a missing file is an empty array).
 */
int hr_metrics_load(const char *state_dir, json_t **execs, char *err,
    size_t errlen);

/* Appends the exposition to out (pure: no I/O). */
int hr_metrics_render(const hr_metrics_src_t *src, hr_buf_t *out, char *err,
    size_t errlen);

/*
 * Renders src and replaces path with it atomically.  With src->execs NULL
 * the records are read from ctx's state directory.
 */
int hr_metrics_write(hr_ctx_t *ctx, const char *path,
    const hr_metrics_src_t *src, char *err, size_t errlen);

/*
 * For the one-shot `metrics` command, not the daemon (it blocks, 2 s at
 * most): reads the lengths of queue, queue:processing and queue:failed
 * into src->queue and the queue:stats hash into *stats (an object of
 * integers, the caller's to json_decref).
 */
int hr_metrics_redis(const char *addr, const char *queue,
    hr_metrics_src_t *src, json_t **stats, char *err, size_t errlen);

#endif /* HR_METRICS_H */
