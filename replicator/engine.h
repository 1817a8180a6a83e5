/*
 * engine.h: the replicator's one engine.  Everything that copies — a
 * policy execution, a webhook or miss event, a fill a client waits for —
 * is a job: straight-line code in a fiber (fiber.h) that waits for its
 * transfers by yielding to the scheduler.  The scheduler runs the one loop
 * (loop.h) with the one libcurl multi handle (http.h); no job ever runs
 * the loop, so a long scheduled run never holds up an event or a fill.
 *
 * Priorities: a job a client waits for runs before an event, an event
 * before a schedule, whenever several are ready.  Blob transfers take a
 * slot: "concurrency" slots are shared by every job, handed out in
 * priority order; jobs a client waits for have "reserve" more slots that
 * only they may use, so a fill never queues behind a schedule's large
 * layers.
 *
 * Blobs are fetched once however many jobs want them: a job claims a
 * digest before it fetches it, and a job that finds it claimed waits for
 * the holder and then finds it in the store.  A client's job that joins a
 * schedule's throttled transfer lifts the policy's speed limit on it.
 */

#ifndef HR_ENGINE_H
#define HR_ENGINE_H

#include <stddef.h>

#include "fiber.h"
#include "http.h"
#include "loop.h"

typedef enum {
    HR_PRIO_CLIENT = 0,         /* a client waits for it: fills */
    HR_PRIO_EVENT,              /* webhooks, misses, preheat */
    HR_PRIO_SCHEDULE,           /* policy executions */
    HR_NPRIO
} hr_prio_e;

typedef struct hr_engine_s  hr_engine_t;
typedef struct hr_job_s     hr_job_t;

/* The job's code, in its fiber. */
typedef void (*hr_job_fn_pt)(hr_job_t *j);
/* After fn returned, in the scheduler: results, then the job's data. */
typedef void (*hr_job_done_pt)(hr_job_t *j);

struct hr_job_s {
    hr_engine_t     *engine;
    hr_fiber_t      *fiber;
    hr_prio_e        prio;
    hr_job_fn_pt     fn;
    hr_job_done_pt   done;
    void            *data;
    int              rc;            /* fn's result, for done */
    int              slots;         /* transfer slots held */
    long long        timer;         /* wake-up timer, 0: none */
    long long        started;       /* monotonic ms */
    hr_job_t        *next;          /* every job */
    hr_job_t        *rnext;         /* the ready list */
    hr_job_t        *wnext;         /* a slot's wait list */
    unsigned         ready:1;
    unsigned         woken:1;       /* woken while running: do not sleep */
    unsigned         slot_wait:1;
    unsigned         cancelled:1;
    char             name[160];
};

hr_engine_t *hr_engine_create(hr_loop_t *loop, hr_http_t *http,
    int concurrency, int reserve, char *err, size_t errlen);
/* Jobs still there are cancelled and run to their end first. */
void hr_engine_free(hr_engine_t *e);

/* Slots, for a reload; held slots are kept. */
void hr_engine_limits(hr_engine_t *e, int concurrency, int reserve);

/* A new job, ready to run at the next turn.  NULL with err. */
hr_job_t *hr_engine_spawn(hr_engine_t *e, hr_prio_e prio, const char *name,
    hr_job_fn_pt fn, hr_job_done_pt done, void *data, char *err,
    size_t errlen);

/*
 * One turn: the ready jobs, in priority order, each until it waits; then
 * one loop turn of at most max_ms (0 when a job became ready); then the
 * jobs that became ready.  Returns -1 on a loop error.
 */
int hr_engine_turn(hr_engine_t *e, long max_ms);

/* Jobs alive (prio -1: all). */
size_t hr_engine_jobs(hr_engine_t *e, int prio);

/* The running job, NULL in the scheduler. */
hr_job_t *hr_engine_current(hr_engine_t *e);

hr_loop_t *hr_engine_loop(hr_engine_t *e);

/* ---- inside a job ---- */

/*
 * Waits until woken, or ms passed (-1: no limit).  A wake that came while
 * the job ran makes the next sleep return at once.
 */
void hr_job_sleep(hr_job_t *j, long ms);

/* Makes j ready (from anywhere: a callback, the scheduler, a job). */
void hr_job_wake(hr_job_t *j);

/* A TERM was seen, or the job was cancelled: finish or abandon now. */
int hr_job_stopping(hr_job_t *j);

/*
 * A transfer slot: 1 when j got one; 0 when none is free for its
 * priority (j is woken when one may be).
 */
int hr_job_slot_try(hr_job_t *j);
void hr_job_slot_release(hr_job_t *j);

/*
 * Single flight of a blob across jobs.  claim(): 1 when j may fetch it
 * (it holds the claim until release() or its end); 0 when another job
 * holds it: j is woken at the release, and should then look in the store.
 */
int hr_engine_blob_claim(hr_engine_t *e, const char *digest, hr_job_t *j);
void hr_engine_blob_release(hr_engine_t *e, const char *digest, hr_job_t *j);
/* The holder's running transfer, so a more urgent joiner can speed it. */
void hr_engine_blob_xfer(hr_engine_t *e, const char *digest, hr_xfer_t *x);
/* 1 when a job more urgent than the holder waits for the digest. */
int hr_engine_blob_urgent(hr_engine_t *e, const char *digest);

/*
 * Digests a job is about to link (found in the store, or fetched and not
 * published yet): counted, so that eviction leaves them alone.  delta +1
 * or -1; hr_engine_in_use() is 1 for a digest used or claimed.
 */
void hr_engine_use(hr_engine_t *e, const char *digest, int delta);
int hr_engine_in_use(hr_engine_t *e, const char *digest);

#endif /* HR_ENGINE_H */
