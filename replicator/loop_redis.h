/*
 * loop_redis.h: hiredis's async API on the replicator's loop (loop.c), in
 * the shape of hiredis's own adapters/ae.h: hr_redis_attach() hangs the
 * add/del read/write hooks and a cleanup hook on a redisAsyncContext.
 *
 * The hooks are idempotent (reading/writing flags), because hiredis calls
 * addWrite for every command and delRead more than once on a disconnect.
 *
 * hiredis may call cleanup (and so free our state) from inside
 * redisAsyncHandleRead/Write, i.e. from inside our own file proc: the
 * ENTERED flag marks that we are inside, cleanup then only sets DELETED,
 * and the proc frees the state when hiredis returns to it.
 *
 * hiredis 0.14.1 has no timer hook (1.x added scheduleTimer), so a connect
 * or a reply that never comes would wait forever.  hr_redis_deadline() arms
 * one loop.c timer per context; when it fires, the owner's timeout proc is
 * called (outside any hiredis callback), which typically frees the
 * context.  A deadline of 0 disarms it.
 *
 * Header-only, as hiredis's adapters: include it in one file.
 */

#ifndef HR_LOOP_REDIS_H
#define HR_LOOP_REDIS_H

#include <stdlib.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "loop.h"

#define HR_REDIS_ENTERED  0x01
#define HR_REDIS_DELETED  0x02

typedef void (*hr_redis_timeout_pt)(redisAsyncContext *ac, void *data);

typedef struct {
    redisAsyncContext    *ac;
    hr_loop_t            *loop;
    int                   fd;
    int                   reading;
    int                   writing;
    int                   state;        /* HR_REDIS_ENTERED | _DELETED */
    long long             timer;        /* loop timer id, -1: none */
    hr_redis_timeout_pt   timeout;
    void                 *timeout_data;
} hr_redis_events_t;


static void hr_redis_free_events(hr_redis_events_t *e);
static void hr_redis_event(hr_loop_t *loop, int fd, void *data, int mask);
static void hr_redis_add_read(void *data);
static void hr_redis_del_read(void *data);
static void hr_redis_add_write(void *data);
static void hr_redis_del_write(void *data);
static void hr_redis_cleanup(void *data);
static long hr_redis_timer(hr_loop_t *loop, long long id, void *data);
static int hr_redis_attach(hr_loop_t *loop, redisAsyncContext *ac,
    hr_redis_timeout_pt timeout, void *timeout_data);
static void hr_redis_deadline(redisAsyncContext *ac, long ms);


static void
hr_redis_free_events(hr_redis_events_t *e)
{
    if (e->timer != -1) {
        hr_loop_del_timer(e->loop, e->timer);
        e->timer = -1;
    }

    free(e);
}


/*
 * One proc for both directions: loop.c keeps one data pointer per fd and
 * sets the proc of every direction already wanted to the one being added,
 * so separate read and write procs would replace each other.
 */
static void
hr_redis_event(hr_loop_t *loop, int fd, void *data, int mask)
{
    hr_redis_events_t  *e = data;

    e->state |= HR_REDIS_ENTERED;

    if ((mask & HR_LOOP_READABLE) && e->reading) {
        redisAsyncHandleRead(e->ac);

        if (e->state & HR_REDIS_DELETED) {
            hr_redis_free_events(e);
            return;
        }
    }

    if ((mask & HR_LOOP_WRITABLE) && e->writing) {
        redisAsyncHandleWrite(e->ac);

        if (e->state & HR_REDIS_DELETED) {
            hr_redis_free_events(e);
            return;
        }
    }

    e->state &= ~HR_REDIS_ENTERED;
}


static void
hr_redis_add_read(void *data)
{
    char                err[128];
    hr_redis_events_t  *e = data;

    if (e->reading) {
        return;
    }

    if (hr_loop_add_file(e->loop, e->fd, HR_LOOP_READABLE, hr_redis_event,
                         e, err, sizeof(err))
        == 0)
    {
        e->reading = 1;
    }
}


static void
hr_redis_del_read(void *data)
{
    hr_redis_events_t  *e = data;

    if (!e->reading) {
        return;
    }

    e->reading = 0;
    hr_loop_del_file(e->loop, e->fd, HR_LOOP_READABLE);
}


static void
hr_redis_add_write(void *data)
{
    char                err[128];
    hr_redis_events_t  *e = data;

    if (e->writing) {
        return;
    }

    if (hr_loop_add_file(e->loop, e->fd, HR_LOOP_WRITABLE, hr_redis_event,
                         e, err, sizeof(err))
        == 0)
    {
        e->writing = 1;
    }
}


static void
hr_redis_del_write(void *data)
{
    hr_redis_events_t  *e = data;

    if (!e->writing) {
        return;
    }

    e->writing = 0;
    hr_loop_del_file(e->loop, e->fd, HR_LOOP_WRITABLE);
}


static void
hr_redis_cleanup(void *data)
{
    hr_redis_events_t  *e = data;

    hr_redis_del_read(e);
    hr_redis_del_write(e);
    e->ac->ev.data = NULL;

    if (e->state & HR_REDIS_ENTERED) {
        /* inside our own proc: it frees e when hiredis returns */
        e->state |= HR_REDIS_DELETED;
        return;
    }

    hr_redis_free_events(e);
}


static long
hr_redis_timer(hr_loop_t *loop, long long id, void *data)
{
    hr_redis_events_t  *e = data;

    e->timer = -1;

    if (e->timeout != NULL) {
        e->state |= HR_REDIS_ENTERED;
        e->timeout(e->ac, e->timeout_data);

        if (e->state & HR_REDIS_DELETED) {
            free(e);            /* the timer is already gone */
            return HR_LOOP_NOMORE;
        }

        e->state &= ~HR_REDIS_ENTERED;
    }

    return HR_LOOP_NOMORE;
}


/* Returns REDIS_OK, or REDIS_ERR (already attached, out of memory). */
static int
hr_redis_attach(hr_loop_t *loop, redisAsyncContext *ac,
    hr_redis_timeout_pt timeout, void *timeout_data)
{
    hr_redis_events_t  *e;

    if (ac->ev.data != NULL) {
        return REDIS_ERR;
    }

    e = calloc(1, sizeof(hr_redis_events_t));
    if (e == NULL) {
        return REDIS_ERR;
    }

    e->ac = ac;
    e->loop = loop;
    e->fd = ac->c.fd;
    e->timer = -1;
    e->timeout = timeout;
    e->timeout_data = timeout_data;

    ac->ev.addRead = hr_redis_add_read;
    ac->ev.delRead = hr_redis_del_read;
    ac->ev.addWrite = hr_redis_add_write;
    ac->ev.delWrite = hr_redis_del_write;
    ac->ev.cleanup = hr_redis_cleanup;
    ac->ev.data = e;

    return REDIS_OK;
}


/* (Re)arms the context's deadline in ms from now; 0 disarms it. */
static void
hr_redis_deadline(redisAsyncContext *ac, long ms)
{
    hr_redis_events_t  *e = ac->ev.data;

    if (e == NULL) {
        return;
    }

    if (e->timer != -1) {
        hr_loop_del_timer(e->loop, e->timer);
        e->timer = -1;
    }

    if (ms > 0) {
        e->timer = hr_loop_add_timer(e->loop, ms, hr_redis_timer, e);
    }
}

#endif /* HR_LOOP_REDIS_H */
