/*
 * test_engine.c: the engine (replicator/engine.c, fiber.c) on a real loop:
 * jobs run in their fibers and wait without running the loop, the most
 * urgent ready job runs first, transfer slots are handed out in priority
 * order with the reserve kept for clients, a claimed blob has one holder
 * and its waiters are woken at the release (or the holder's end), sleeps
 * end at their timer, and freeing the engine makes its jobs stop.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "engine.h"


typedef struct {
    hr_engine_t  *e;
    char          trace[64];
    size_t        n;
    int           done;
    int           got;          /* slots or claims obtained */
    int           waits;
    int           stop_seen;
} tctx_t;

typedef struct {
    tctx_t       *t;
    char          mark;
    int           hold;         /* slots to take */
    const char   *digest;
} tjob_t;


static hr_engine_t *
new_engine(hr_loop_t **loop, hr_http_t **http, int conc, int reserve)
{
    char          err[256];
    hr_engine_t  *e;

    *loop = hr_loop_create(64, err, sizeof(err));
    assert_non_null(*loop);
    *http = hr_http_create(*loop, 4, err, sizeof(err));
    assert_non_null(*http);
    e = hr_engine_create(*loop, *http, conc, reserve, err, sizeof(err));
    assert_non_null(e);

    return e;
}


static void
free_engine(hr_loop_t *loop, hr_http_t *http, hr_engine_t *e)
{
    hr_engine_free(e);
    hr_http_free(http);
    hr_loop_free(loop);
}


static void
run_until_idle(hr_engine_t *e)
{
    int  i;

    for (i = 0; i < 1000 && hr_engine_jobs(e, -1) > 0; i++) {
        assert_int_equal(hr_engine_turn(e, 50), 0);
    }

    assert_int_equal(hr_engine_jobs(e, -1), 0);
}


static void
mark(tctx_t *t, char c)
{
    if (t->n + 1 < sizeof(t->trace)) {
        t->trace[t->n++] = c;
        t->trace[t->n] = '\0';
    }
}


static void
job_done(hr_job_t *j)
{
    tjob_t  *tj = j->data;

    tj->t->done++;
    free(tj);
}


static hr_job_t *
spawn(tctx_t *t, hr_prio_e prio, char c, hr_job_fn_pt fn, int hold,
    const char *digest)
{
    char       err[256];
    tjob_t    *tj;
    hr_job_t  *j;

    tj = calloc(1, sizeof(tjob_t));
    assert_non_null(tj);
    tj->t = t;
    tj->mark = c;
    tj->hold = hold;
    tj->digest = digest;

    j = hr_engine_spawn(t->e, prio, "test", fn, job_done, tj, err,
                        sizeof(err));
    assert_non_null(j);

    return j;
}


/* marks itself, sleeps a turn, marks again in upper case */
static void
fn_twice(hr_job_t *j)
{
    tjob_t  *tj = j->data;

    mark(tj->t, tj->mark);
    hr_job_sleep(j, 0);
    mark(tj->t, (char) (tj->mark - 'a' + 'A'));
}


static void
test_priority_order(void **state)
{
    tctx_t       t;
    hr_loop_t   *loop;
    hr_http_t   *http;

    memset(&t, 0, sizeof(t));
    t.e = new_engine(&loop, &http, 4, 0);

    spawn(&t, HR_PRIO_SCHEDULE, 's', fn_twice, 0, NULL);
    spawn(&t, HR_PRIO_EVENT, 'e', fn_twice, 0, NULL);
    spawn(&t, HR_PRIO_CLIENT, 'c', fn_twice, 0, NULL);
    assert_int_equal(hr_engine_jobs(t.e, -1), 3);
    assert_int_equal(hr_engine_jobs(t.e, HR_PRIO_CLIENT), 1);

    run_until_idle(t.e);

    /* each first half in priority order, then each second half */
    assert_string_equal(t.trace, "cesCES");
    assert_int_equal(t.done, 3);

    free_engine(loop, http, t.e);
}


/* takes tj->hold slots (sleeping while none is free), keeps them a turn */
static void
fn_slots(hr_job_t *j)
{
    int      have;
    tjob_t  *tj = j->data;

    for (have = 0; have < tj->hold; ) {
        if (hr_job_slot_try(j)) {
            have++;
            tj->t->got++;
            continue;
        }

        tj->t->waits++;
        hr_job_sleep(j, 1000);
    }

    mark(tj->t, tj->mark);
    hr_job_sleep(j, 10);

    while (have-- > 0) {
        hr_job_slot_release(j);
    }
}


static void
test_slots(void **state)
{
    tctx_t       t;
    hr_loop_t   *loop;
    hr_http_t   *http;

    memset(&t, 0, sizeof(t));
    t.e = new_engine(&loop, &http, 2, 1);

    /* a schedule takes both shared slots; an event must wait; a client
       gets the reserve at once */
    spawn(&t, HR_PRIO_SCHEDULE, 's', fn_slots, 2, NULL);
    assert_int_equal(hr_engine_turn(t.e, 0), 0);
    spawn(&t, HR_PRIO_SCHEDULE, 't', fn_slots, 1, NULL);
    spawn(&t, HR_PRIO_EVENT, 'e', fn_slots, 1, NULL);
    spawn(&t, HR_PRIO_CLIENT, 'c', fn_slots, 1, NULL);

    run_until_idle(t.e);

    /* s first; the client at once from the reserve; then the event
       before the second schedule, although it came later */
    assert_string_equal(t.trace, "sce" "t");
    assert_int_equal(t.got, 5);
    assert_true(t.waits >= 2);

    free_engine(loop, http, t.e);
}


/* claims tj->digest and keeps it a while; a waiter tries again */
static void
fn_claim(hr_job_t *j)
{
    tjob_t  *tj = j->data;

    while (!hr_engine_blob_claim(tj->t->e, tj->digest, j)) {
        tj->t->waits++;
        mark(tj->t, 'w');
        hr_job_sleep(j, -1);
    }

    tj->t->got++;
    mark(tj->t, tj->mark);
    hr_job_sleep(j, 20);

    /* without hold the claim is dropped by the job's end */
    if (tj->hold) {
        hr_engine_blob_release(tj->t->e, tj->digest, j);
    }
}


static void
test_claims(void **state)
{
    tctx_t       t;
    hr_loop_t   *loop;
    hr_http_t   *http;

    memset(&t, 0, sizeof(t));
    t.e = new_engine(&loop, &http, 2, 0);

    spawn(&t, HR_PRIO_SCHEDULE, 'a', fn_claim, 1, "sha256:aa");
    spawn(&t, HR_PRIO_SCHEDULE, 'b', fn_claim, 0, "sha256:aa");
    spawn(&t, HR_PRIO_SCHEDULE, 'x', fn_claim, 0, "sha256:bb");

    run_until_idle(t.e);

    /* b waited for a's release; x's digest was free */
    assert_string_equal(t.trace, "awxb");
    assert_int_equal(t.got, 3);
    assert_int_equal(t.waits, 1);

    /* the end of a holder wakes its waiters as a release does */
    memset(t.trace, 0, sizeof(t.trace));
    t.n = 0;
    spawn(&t, HR_PRIO_SCHEDULE, 'p', fn_claim, 0, "sha256:cc");
    spawn(&t, HR_PRIO_SCHEDULE, 'q', fn_claim, 0, "sha256:cc");

    run_until_idle(t.e);
    assert_string_equal(t.trace, "pwq");

    free_engine(loop, http, t.e);
}


static long long
now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* sleeps 100 ms; then sleeps for ever, until a stop */
static void
fn_sleep(hr_job_t *j)
{
    tjob_t     *tj = j->data;
    long long   t0;

    t0 = now_ms();
    hr_job_sleep(j, 100);
    assert_true(now_ms() - t0 >= 95);
    mark(tj->t, tj->mark);

    while (!hr_job_stopping(j)) {
        hr_job_sleep(j, -1);
    }

    tj->t->stop_seen = 1;
}


static void
test_sleep_and_stop(void **state)
{
    int          i;
    tctx_t       t;
    hr_loop_t   *loop;
    hr_http_t   *http;

    memset(&t, 0, sizeof(t));
    t.e = new_engine(&loop, &http, 2, 0);

    spawn(&t, HR_PRIO_EVENT, 'z', fn_sleep, 0, NULL);

    for (i = 0; i < 100 && t.n == 0; i++) {
        assert_int_equal(hr_engine_turn(t.e, 50), 0);
    }

    assert_string_equal(t.trace, "z");
    assert_int_equal(hr_engine_jobs(t.e, -1), 1);

    /* freeing the engine cancels the job and runs it to its end */
    hr_engine_free(t.e);
    assert_int_equal(t.stop_seen, 1);
    assert_int_equal(t.done, 1);

    hr_http_free(http);
    hr_loop_free(loop);
}


/* a transfer waited for outside a job fails, it never runs the loop */
static void
test_wait_outside_a_job(void **state)
{
    char          err[256];
    hr_loop_t    *loop;
    hr_http_t    *http;
    hr_xfer_t    *x;
    hr_engine_t  *e;

    e = new_engine(&loop, &http, 2, 0);

    x = hr_xfer_create(http, "http://127.0.0.1:9/", 1024);
    assert_non_null(x);
    assert_int_equal(hr_xfer_start(x, err, sizeof(err)), 0);
    assert_int_equal(hr_xfer_wait(x, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "outside a job"));
    hr_xfer_free(x);

    free_engine(loop, http, e);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_priority_order),
        cmocka_unit_test(test_slots),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_sleep_and_stop),
        cmocka_unit_test(test_wait_outside_a_job),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
