/*
 * fuzz_cron.c: hr_cron_parse(), hr_cron_parse_harbor() and hr_cron_next().
 * Input: the expression.  Checks: the next fire time is strictly later and
 * every field of it (seen through gmtime_r) is one the schedule allows.
 *
 * fuzz-srcs: replicator/cron.c
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cron.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static void check(const hr_cron_t *c, time_t after);


static void
check(const hr_cron_t *c, time_t after)
{
    int        dom, dow;
    time_t     t;
    struct tm  tm;

    t = hr_cron_next(c, after);
    if (t == (time_t) -1) {
        return;
    }

    if (t <= after || t - after > (time_t) 6 * 366 * 86400) {
        abort();
    }

    if (gmtime_r(&t, &tm) == NULL) {
        abort();
    }

    dom = (c->dom >> tm.tm_mday) & 1;
    dow = (c->dow >> tm.tm_wday) & 1;

    if (!((c->sec >> tm.tm_sec) & 1) || !((c->min >> tm.tm_min) & 1)
        || !((c->hour >> tm.tm_hour) & 1)
        || !((c->month >> (tm.tm_mon + 1)) & 1)
        || ((c->dom_star || c->dow_star) ? !(dom && dow) : !(dom || dow)))
    {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char       *expr, err[256];
    hr_cron_t   c;

    expr = malloc(size + 1);
    if (expr == NULL) {
        return 0;
    }

    memcpy(expr, data, size);
    expr[size] = '\0';

    if (hr_cron_parse(&c, expr, err, sizeof(err)) == 0) {
        check(&c, 0);
        check(&c, 1714558050);
        check(&c, 4102444799);          /* 2099-12-31T23:59:59Z */
        check(&c, -86401);
    } else if (err[0] == '\0') {
        abort();
    }

    if (hr_cron_parse_harbor(&c, expr, err, sizeof(err)) == 0) {
        check(&c, 1714558050);
    }

    free(expr);
    return 0;
}
