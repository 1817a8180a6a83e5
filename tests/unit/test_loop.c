/*
 * test_loop.c: the event loop (replicator/loop.c): timers fire in time
 * order and may delete themselves or others from inside a proc, file
 * events fire for a readable pipe and stop after hr_loop_del_file(), and a
 * SIGTERM/SIGHUP sent to ourselves arrives as a flag through the signalfd.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "loop.h"


typedef struct {
    int        order[8];
    int        n;
    long long  other;       /* a timer the first proc deletes */
    int        reads;
} hr_tctx_t;


static long proc_a(hr_loop_t *loop, long long id, void *data);
static long proc_b(hr_loop_t *loop, long long id, void *data);
static long proc_never(hr_loop_t *loop, long long id, void *data);
static long proc_twice(hr_loop_t *loop, long long id, void *data);
static void on_read(hr_loop_t *loop, int fd, void *data, int mask);


static long
proc_a(hr_loop_t *loop, long long id, void *data)
{
    hr_tctx_t  *t = data;

    t->order[t->n++] = 1;
    hr_loop_del_timer(loop, t->other);

    return HR_LOOP_NOMORE;
}


static long
proc_b(hr_loop_t *loop, long long id, void *data)
{
    hr_tctx_t  *t = data;

    t->order[t->n++] = 2;

    return HR_LOOP_NOMORE;
}


static long
proc_never(hr_loop_t *loop, long long id, void *data)
{
    hr_tctx_t  *t = data;

    t->order[t->n++] = 99;

    return HR_LOOP_NOMORE;
}


static long
proc_twice(hr_loop_t *loop, long long id, void *data)
{
    hr_tctx_t  *t = data;

    t->order[t->n++] = 3;

    /* re-armed once, then deletes itself from inside its own proc */
    if (t->n >= 4) {
        hr_loop_del_timer(loop, id);
    }

    return 5;
}


static void
on_read(hr_loop_t *loop, int fd, void *data, int mask)
{
    char        c;
    hr_tctx_t  *t = data;

    assert_true(mask & HR_LOOP_READABLE);
    assert_int_equal(read(fd, &c, 1), 1);
    t->reads++;
}


static void
test_timers(void **state)
{
    int         i;
    char        err[256];
    hr_loop_t  *loop;
    hr_tctx_t   t;

    memset(&t, 0, sizeof(t));

    loop = hr_loop_create(64, err, sizeof(err));
    assert_non_null(loop);

    hr_loop_add_timer(loop, 30, proc_b, &t);
    hr_loop_add_timer(loop, 10, proc_a, &t);
    t.other = hr_loop_add_timer(loop, 20, proc_never, &t);
    hr_loop_add_timer(loop, 40, proc_twice, &t);

    for (i = 0; i < 50 && t.n < 4; i++) {
        assert_true(hr_loop_once(loop, 100) >= 0);
    }

    /* a few more turns: the self-deleted timer must not fire again */
    for (i = 0; i < 5; i++) {
        hr_loop_once(loop, 10);
    }

    assert_int_equal(t.n, 4);
    assert_int_equal(t.order[0], 1);
    assert_int_equal(t.order[1], 2);
    assert_int_equal(t.order[2], 3);
    assert_int_equal(t.order[3], 3);

    hr_loop_free(loop);
}


static void
test_file_events(void **state)
{
    int         p[2];
    char        err[256];
    hr_loop_t  *loop;
    hr_tctx_t   t;

    memset(&t, 0, sizeof(t));

    loop = hr_loop_create(1024, err, sizeof(err));
    assert_non_null(loop);
    assert_int_equal(pipe(p), 0);

    assert_int_equal(hr_loop_add_file(loop, p[0], HR_LOOP_READABLE, on_read,
                                      &t, err, sizeof(err)), 0);

    assert_int_equal(hr_loop_once(loop, 0), 0);     /* nothing yet */
    assert_int_equal(write(p[1], "ab", 2), 2);
    assert_int_equal(hr_loop_once(loop, 100), 1);
    assert_int_equal(hr_loop_once(loop, 100), 1);
    assert_int_equal(t.reads, 2);

    hr_loop_del_file(loop, p[0], HR_LOOP_READABLE);
    assert_int_equal(write(p[1], "c", 1), 1);
    assert_int_equal(hr_loop_once(loop, 20), 0);
    assert_int_equal(t.reads, 2);

    /* out of range fds are refused, not written past the table */
    assert_int_equal(hr_loop_add_file(loop, 5000, HR_LOOP_READABLE, on_read,
                                      &t, err, sizeof(err)), -1);

    close(p[0]);
    close(p[1]);
    hr_loop_free(loop);
}


static void
test_signals(void **state)
{
    int         i;
    char        err[256];
    sigset_t    set;
    hr_loop_t  *loop;

    loop = hr_loop_create(64, err, sizeof(err));
    assert_non_null(loop);
    assert_int_equal(hr_loop_signals(loop, err, sizeof(err)), 0);

    assert_int_equal(hr_loop_term(loop), 0);
    kill(getpid(), SIGHUP);

    for (i = 0; i < 10 && !hr_loop_hup(loop, 0); i++) {
        hr_loop_once(loop, 50);
    }

    assert_int_equal(hr_loop_hup(loop, 1), 1);
    assert_int_equal(hr_loop_hup(loop, 0), 0);
    assert_int_equal(hr_loop_term(loop), 0);

    kill(getpid(), SIGTERM);

    for (i = 0; i < 10 && !hr_loop_term(loop); i++) {
        hr_loop_once(loop, 50);
    }

    assert_int_equal(hr_loop_term(loop), 1);

    hr_loop_free(loop);

    /* leave the signals as we found them for the next tests */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_timers),
        cmocka_unit_test(test_file_events),
        cmocka_unit_test(test_signals),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
