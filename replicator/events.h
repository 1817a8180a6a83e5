/*
 * events.h: event-driven and on-demand replication.  The daemon takes the
 * events the nginx module queues in Redis (queue.h) and acts on them:
 *
 *   push    every enabled event_based policy whose filters pass for the
 *           repository and tag copies that artifact, with its closure
 *           (an image's config and layers, an index's children);
 *   delete  every enabled event_based policy with deletion:true whose
 *           filters pass removes the tag (an untagged delete: every local
 *           tag naming that digest);
 *   miss    the first enabled policy (any trigger) whose name filters pass
 *           for the repository, and which keeps the name (no
 *           dest_namespace rewrite of it), fetches what the edge lacked:
 *           a manifest by tag or digest with its closure, or one blob once
 *           the primary confirms the repository holds it.  A miss no
 *           policy covers is ignored and counted.
 *
 * Each event is a job of the engine (engine.h, priority "event"), the
 * copy is the engine's (plan.h), so an event runs at once beside a long
 * scheduled run, never after it.  At most HR_EVENTS_JOBS run at a time,
 * and two events on one target (a tag, a blob) never overtake each other.
 * A failed handling is retried (1 s, 2 s, 4 s, 8 s), then the event goes
 * to the failed list with its error; a line that does not decode goes
 * there at once.  Each execution is recorded in Redis (exec_redis.h) in
 * the record schema of exec.h, with the event in it.
 *
 * The daemon needs three calls: hr_events_start() when cf.redis is set,
 * hr_events_dispatch() between loop turns, hr_events_stop() at the end.
 * Jobs are started from hr_events_dispatch(), never from a Redis callback.
 */

#ifndef HR_EVENTS_H
#define HR_EVENTS_H

#include "hr.h"
#include "queue.h"

#define HR_EVENTS_ATTEMPTS  5
#define HR_EVENTS_JOBS      8

typedef struct hr_events_s  hr_events_t;

/*
 * Connects (on the loop, without blocking) to ctx->cf.redis and starts
 * taking events from the list named by the configuration's optional
 * "redis_queue" key (default "harbor:events").  Returns NULL with err.
 */
hr_events_t *hr_events_start(hr_ctx_t *ctx, char *err, size_t errlen);

/*
 * Starts a job for each event due now, as long as fewer than
 * HR_EVENTS_JOBS run.  Returns the ms until the next one is due: 0 when
 * one is, -1 when none waits.  The loop's file events bring new lines
 * meanwhile.
 */
long hr_events_dispatch(hr_events_t *ev);

/* The queue: fills (fill.h) share its connection, counters, records. */
hr_queue_t *hr_events_queue(hr_events_t *ev);

/* Events being handled. */
size_t hr_events_running(hr_events_t *ev);

/*
 * Once no event job runs any more: sends what is not acknowledged yet
 * (up to 2 s), then frees.
 */
void hr_events_stop(hr_events_t *ev);

#endif /* HR_EVENTS_H */
