/*
 * engine.c: jobs on fibers, their scheduler, transfer slots and the single
 * flight of blobs (see engine.h).
 *
 * Jobs are few (a policy each, a handful of events and fills), so the
 * lists are plain linked lists.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"

#define HR_ENGINE_DIGEST_MAX  136


typedef struct hr_claim_s  hr_claim_t;
typedef struct hr_use_s    hr_use_t;

struct hr_use_s {
    char          digest[HR_ENGINE_DIGEST_MAX];
    long          n;
    hr_use_t     *next;
};

struct hr_claim_s {
    char          digest[HR_ENGINE_DIGEST_MAX];
    hr_job_t     *holder;
    hr_xfer_t    *x;
    hr_job_t    **waiters;
    size_t        nwaiters;
    size_t        cwaiters;
    hr_claim_t   *next;
};

struct hr_engine_s {
    hr_loop_t    *loop;
    hr_http_t    *http;
    hr_job_t     *jobs;
    hr_job_t     *ready_head[HR_NPRIO];
    hr_job_t     *ready_tail[HR_NPRIO];
    hr_job_t     *wait_head[HR_NPRIO];     /* waiting for a slot */
    hr_job_t     *wait_tail[HR_NPRIO];
    hr_job_t     *current;
    hr_claim_t   *claims;
    hr_use_t     *uses[256];        /* by the digest's first hex byte */
    int           limit;
    int           reserve;
    int           used;
    size_t        njobs[HR_NPRIO];
};


static void hr_engine_fiber(void *arg);
static void hr_engine_ready(hr_engine_t *e, hr_job_t *j);
static hr_job_t *hr_engine_pop_ready(hr_engine_t *e, int prio);
static int hr_engine_run_ready(hr_engine_t *e);
static void hr_engine_end(hr_engine_t *e, hr_job_t *j);
static long hr_engine_timer(hr_loop_t *loop, long long id, void *data);
static int hr_engine_wait_xfer(void *data, hr_xfer_t *x);
static void hr_engine_xfer_wake(void *arg);
static void hr_engine_unwait_slot(hr_engine_t *e, hr_job_t *j);
static void hr_engine_wake_slot(hr_engine_t *e);
static void hr_engine_drop_claims(hr_engine_t *e, hr_job_t *j);
static long long hr_engine_now(void);


static long long
hr_engine_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


hr_engine_t *
hr_engine_create(hr_loop_t *loop, hr_http_t *http, int concurrency,
    int reserve, char *err, size_t errlen)
{
    hr_engine_t  *e;

    e = calloc(1, sizeof(hr_engine_t));
    if (e == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    e->loop = loop;
    e->http = http;
    hr_engine_limits(e, concurrency, reserve);
    hr_http_set_wait(http, hr_engine_wait_xfer, e);

    return e;
}


void
hr_engine_limits(hr_engine_t *e, int concurrency, int reserve)
{
    e->limit = concurrency > 0 ? concurrency : 1;
    e->reserve = reserve >= 0 ? reserve : 0;
    hr_engine_wake_slot(e);
}


void
hr_engine_free(hr_engine_t *e)
{
    size_t     i;
    hr_job_t  *j;
    hr_use_t  *u;

    if (e == NULL) {
        return;
    }

    /* a job left is told to stop, and is given turns until it has */
    for (j = e->jobs; j; j = j->next) {
        j->cancelled = 1;
        hr_job_wake(j);
    }

    while (e->jobs != NULL) {
        if (hr_engine_turn(e, 100) == -1) {
            break;
        }
    }

    hr_http_set_wait(e->http, NULL, NULL);

    for (i = 0; i < 256; i++) {
        while (e->uses[i] != NULL) {
            u = e->uses[i];
            e->uses[i] = u->next;
            free(u);
        }
    }

    free(e);
}


hr_loop_t *
hr_engine_loop(hr_engine_t *e)
{
    return e->loop;
}


hr_job_t *
hr_engine_current(hr_engine_t *e)
{
    return e->current;
}


size_t
hr_engine_jobs(hr_engine_t *e, int prio)
{
    int     p;
    size_t  n;

    if (prio >= 0 && prio < HR_NPRIO) {
        return e->njobs[prio];
    }

    for (n = 0, p = 0; p < HR_NPRIO; p++) {
        n += e->njobs[p];
    }

    return n;
}


hr_job_t *
hr_engine_spawn(hr_engine_t *e, hr_prio_e prio, const char *name,
    hr_job_fn_pt fn, hr_job_done_pt done, void *data, char *err,
    size_t errlen)
{
    hr_job_t  *j;

    j = calloc(1, sizeof(hr_job_t));
    if (j == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    j->fiber = hr_fiber_create(HR_FIBER_STACK, hr_engine_fiber, j, err,
                               errlen);
    if (j->fiber == NULL) {
        free(j);
        return NULL;
    }

    j->engine = e;
    j->prio = prio < HR_NPRIO ? prio : HR_PRIO_SCHEDULE;
    j->fn = fn;
    j->done = done;
    j->data = data;
    j->started = hr_engine_now();
    snprintf(j->name, sizeof(j->name), "%s", name);

    j->next = e->jobs;
    e->jobs = j;
    e->njobs[j->prio]++;

    hr_engine_ready(e, j);

    return j;
}


static void
hr_engine_fiber(void *arg)
{
    hr_job_t  *j;

    j = arg;
    j->fn(j);
}


static void
hr_engine_ready(hr_engine_t *e, hr_job_t *j)
{
    if (j->ready) {
        return;
    }

    j->ready = 1;
    j->rnext = NULL;

    if (e->ready_tail[j->prio] != NULL) {
        e->ready_tail[j->prio]->rnext = j;
    } else {
        e->ready_head[j->prio] = j;
    }

    e->ready_tail[j->prio] = j;
}


static hr_job_t *
hr_engine_pop_ready(hr_engine_t *e, int prio)
{
    hr_job_t  *j;

    j = e->ready_head[prio];
    if (j == NULL) {
        return NULL;
    }

    e->ready_head[prio] = j->rnext;

    if (e->ready_head[prio] == NULL) {
        e->ready_tail[prio] = NULL;
    }

    j->rnext = NULL;
    j->ready = 0;

    return j;
}


/*
 * Each job that is ready now runs once, most urgent first, and again
 * from the top after each: a job it woke that is more urgent goes next.
 * A job that wakes itself waits for the next turn, so the loop is never
 * starved.
 */
static int
hr_engine_run_ready(hr_engine_t *e)
{
    int        p, n, budget;
    hr_job_t  *j;
    size_t     k;

    budget = 0;

    for (k = 0; k < HR_NPRIO; k++) {
        for (j = e->ready_head[k]; j; j = j->rnext) {
            budget++;
        }
    }

    for (n = 0; n < budget; n++) {
        j = NULL;

        for (p = 0; p < HR_NPRIO && j == NULL; p++) {
            j = hr_engine_pop_ready(e, p);
        }

        if (j == NULL) {
            break;
        }

        e->current = j;
        j->woken = 0;

        if (hr_fiber_resume(j->fiber)) {
            e->current = NULL;
            hr_engine_end(e, j);
            continue;
        }

        e->current = NULL;

        /* a wake while it ran: it goes again at the next turn */
        if (j->woken) {
            j->woken = 0;
            hr_engine_ready(e, j);
        }
    }

    return n;
}


static void
hr_engine_end(hr_engine_t *e, hr_job_t *j)
{
    hr_job_t  **pp;

    for (pp = &e->jobs; *pp; pp = &(*pp)->next) {
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    }

    e->njobs[j->prio]--;

    if (j->timer) {
        hr_loop_del_timer(e->loop, j->timer);
        j->timer = 0;
    }

    hr_engine_unwait_slot(e, j);
    hr_engine_drop_claims(e, j);

    /* slots a job forgot are given back, or they would be lost for good */
    while (j->slots > 0) {
        hr_job_slot_release(j);
    }

    if (j->done != NULL) {
        j->done(j);
    }

    hr_fiber_free(j->fiber);
    free(j);
}


int
hr_engine_turn(hr_engine_t *e, long max_ms)
{
    int  p, rc;

    hr_engine_run_ready(e);

    for (p = 0; p < HR_NPRIO; p++) {
        if (e->ready_head[p] != NULL) {
            max_ms = 0;
        }
    }

    rc = hr_loop_once(e->loop, max_ms);

    hr_engine_run_ready(e);

    return rc == -1 ? -1 : 0;
}


/* ------------------------------------------------------------ waiting */

static long
hr_engine_timer(hr_loop_t *loop, long long id, void *data)
{
    hr_job_t  *j;

    j = data;

    if (j->timer == id) {
        j->timer = 0;
        hr_job_wake(j);
    }

    return HR_LOOP_NOMORE;
}


void
hr_job_sleep(hr_job_t *j, long ms)
{
    hr_engine_t  *e;

    e = j->engine;

    if (e->current != j) {
        /* only the running job sleeps; anything else is a bug */
        return;
    }

    if (j->woken) {
        j->woken = 0;
        return;
    }

    if (ms >= 0) {
        j->timer = hr_loop_add_timer(e->loop, ms, hr_engine_timer, j);
    }

    hr_fiber_yield(j->fiber);

    if (j->timer) {
        hr_loop_del_timer(e->loop, j->timer);
        j->timer = 0;
    }
}


void
hr_job_wake(hr_job_t *j)
{
    hr_engine_t  *e;

    e = j->engine;

    if (e->current == j) {
        j->woken = 1;
        return;
    }

    hr_engine_ready(e, j);
}


int
hr_job_stopping(hr_job_t *j)
{
    return j->cancelled || hr_loop_term(j->engine->loop);
}


static void
hr_engine_xfer_wake(void *arg)
{
    hr_job_wake(arg);
}


/* http.c's hr_xfer_wait(), for the running job. */
static int
hr_engine_wait_xfer(void *data, hr_xfer_t *x)
{
    hr_job_t     *j;
    hr_engine_t  *e;

    e = data;
    j = e->current;

    if (j == NULL) {
        hr_xfer_cancel(x);
        snprintf(x->errbuf, sizeof(x->errbuf), "a transfer waited for "
                 "outside a job");
        return -1;
    }

    x->wake = hr_engine_xfer_wake;
    x->wake_arg = j;

    while (!x->done) {
        if (hr_job_stopping(j)) {
            x->wake = NULL;
            return -1;
        }

        hr_job_sleep(j, 1000);
    }

    x->wake = NULL;

    return 0;
}


/* ------------------------------------------------------------- slots */

int
hr_job_slot_try(hr_job_t *j)
{
    int           p, limit;
    hr_engine_t  *e;

    e = j->engine;

    /* a more urgent job waiting for a slot goes first */
    for (p = 0; p < (int) j->prio; p++) {
        if (e->wait_head[p] != NULL) {
            goto wait;
        }
    }

    limit = e->limit + (j->prio == HR_PRIO_CLIENT ? e->reserve : 0);

    if (e->used < limit) {
        hr_engine_unwait_slot(e, j);
        e->used++;
        j->slots++;
        return 1;
    }

wait:

    if (!j->slot_wait) {
        j->slot_wait = 1;
        j->wnext = NULL;

        if (e->wait_tail[j->prio] != NULL) {
            e->wait_tail[j->prio]->wnext = j;
        } else {
            e->wait_head[j->prio] = j;
        }

        e->wait_tail[j->prio] = j;
    }

    return 0;
}


void
hr_job_slot_release(hr_job_t *j)
{
    hr_engine_t  *e;

    e = j->engine;

    if (j->slots <= 0) {
        return;
    }

    j->slots--;
    e->used--;

    hr_engine_wake_slot(e);
}


/* The most urgent waiter that could take a slot now tries again. */
static void
hr_engine_wake_slot(hr_engine_t *e)
{
    int        p, limit;
    hr_job_t  *j;

    for (p = 0; p < HR_NPRIO; p++) {
        j = e->wait_head[p];
        if (j == NULL) {
            continue;
        }

        limit = e->limit + (p == HR_PRIO_CLIENT ? e->reserve : 0);

        if (e->used < limit) {
            hr_engine_unwait_slot(e, j);
            hr_job_wake(j);
        }

        return;
    }
}


static void
hr_engine_unwait_slot(hr_engine_t *e, hr_job_t *j)
{
    hr_job_t  **pp, *prev;

    if (!j->slot_wait) {
        return;
    }

    prev = NULL;

    for (pp = &e->wait_head[j->prio]; *pp; pp = &(*pp)->wnext) {
        if (*pp == j) {
            *pp = j->wnext;

            if (e->wait_tail[j->prio] == j) {
                e->wait_tail[j->prio] = prev;
            }

            break;
        }

        prev = *pp;
    }

    j->slot_wait = 0;
    j->wnext = NULL;
}


/* ------------------------------------------------------------- claims */

int
hr_engine_blob_claim(hr_engine_t *e, const char *digest, hr_job_t *j)
{
    size_t        k;
    hr_job_t    **w;
    hr_claim_t   *c;

    for (c = e->claims; c; c = c->next) {
        if (strcmp(c->digest, digest) == 0) {
            break;
        }
    }

    if (c == NULL) {
        c = calloc(1, sizeof(hr_claim_t));
        if (c == NULL) {
            /* without a claim the store's own lock still keeps one writer */
            return 1;
        }

        snprintf(c->digest, sizeof(c->digest), "%s", digest);
        c->holder = j;
        c->next = e->claims;
        e->claims = c;

        return 1;
    }

    if (c->holder == j) {
        return 1;
    }

    for (k = 0; k < c->nwaiters; k++) {
        if (c->waiters[k] == j) {
            return 0;
        }
    }

    if (c->nwaiters == c->cwaiters) {
        w = realloc(c->waiters, (c->cwaiters * 2 + 4) * sizeof(hr_job_t *));
        if (w == NULL) {
            return 0;
        }

        c->waiters = w;
        c->cwaiters = c->cwaiters * 2 + 4;
    }

    c->waiters[c->nwaiters++] = j;

    /* a client waits behind a throttled schedule: no limit for it now */
    if (j->prio < c->holder->prio && c->x != NULL) {
        hr_xfer_speed(c->x, 0);
    }

    return 0;
}


void
hr_engine_blob_xfer(hr_engine_t *e, const char *digest, hr_xfer_t *x)
{
    hr_claim_t  *c;

    for (c = e->claims; c; c = c->next) {
        if (strcmp(c->digest, digest) == 0) {
            c->x = x;
            return;
        }
    }
}


int
hr_engine_blob_urgent(hr_engine_t *e, const char *digest)
{
    size_t       k;
    hr_claim_t  *c;

    for (c = e->claims; c; c = c->next) {
        if (strcmp(c->digest, digest) != 0) {
            continue;
        }

        for (k = 0; k < c->nwaiters; k++) {
            if (c->waiters[k]->prio < c->holder->prio) {
                return 1;
            }
        }

        return 0;
    }

    return 0;
}


void
hr_engine_blob_release(hr_engine_t *e, const char *digest, hr_job_t *j)
{
    size_t        k;
    hr_claim_t  **pp, *c;

    for (pp = &e->claims; *pp; pp = &(*pp)->next) {
        c = *pp;

        if (c->holder != j || strcmp(c->digest, digest) != 0) {
            continue;
        }

        *pp = c->next;

        for (k = 0; k < c->nwaiters; k++) {
            hr_job_wake(c->waiters[k]);
        }

        free(c->waiters);
        free(c);

        return;
    }
}


/* A job that ends gives up its claims, and stops waiting on others'. */
static void
hr_engine_drop_claims(hr_engine_t *e, hr_job_t *j)
{
    size_t        k;
    hr_claim_t  **pp, *c;

    pp = &e->claims;

    while (*pp) {
        c = *pp;

        for (k = 0; k < c->nwaiters; k++) {
            if (c->waiters[k] == j) {
                c->waiters[k] = c->waiters[--c->nwaiters];
                break;
            }
        }

        if (c->holder == j) {
            *pp = c->next;

            for (k = 0; k < c->nwaiters; k++) {
                hr_job_wake(c->waiters[k]);
            }

            free(c->waiters);
            free(c);
            continue;
        }

        pp = &c->next;
    }
}


/* -------------------------------------------------------------- uses */

static hr_use_t **
hr_engine_use_bucket(hr_engine_t *e, const char *digest)
{
    const char  *hex;
    unsigned     b;

    /* "sha256:<hex>": the hex is spread evenly enough */
    hex = strchr(digest, ':');
    hex = hex != NULL ? hex + 1 : digest;

    b = (unsigned char) hex[0] * 31u + (hex[0] ? (unsigned char) hex[1] : 0);

    return &e->uses[b % 256];
}


void
hr_engine_use(hr_engine_t *e, const char *digest, int delta)
{
    hr_use_t  **pp, *u;

    for (pp = hr_engine_use_bucket(e, digest); *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->digest, digest) == 0) {
            break;
        }
    }

    u = *pp;

    if (u == NULL) {
        if (delta <= 0) {
            return;
        }

        u = calloc(1, sizeof(hr_use_t));
        if (u == NULL) {
            return;
        }

        snprintf(u->digest, sizeof(u->digest), "%s", digest);
        u->next = NULL;
        *pp = u;
    }

    u->n += delta;

    if (u->n <= 0) {
        *pp = u->next;
        free(u);
    }
}


int
hr_engine_in_use(hr_engine_t *e, const char *digest)
{
    hr_use_t    *u;
    hr_claim_t  *c;

    for (u = *hr_engine_use_bucket(e, digest); u; u = u->next) {
        if (strcmp(u->digest, digest) == 0) {
            return 1;
        }
    }

    for (c = e->claims; c; c = c->next) {
        if (strcmp(c->digest, digest) == 0) {
            return 1;
        }
    }

    return 0;
}
