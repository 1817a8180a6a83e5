/*
 * test_cron.c: hr_cron_parse() against robfig/cron v3.0.1 with seconds
 * (Harbor's CronParser), hr_cron_parse_harbor() against the two extra rules
 * of Harbor's policy validation (docs/facts.md, Scheduled triggers), and
 * hr_cron_next() in UTC.
 * Expected times were computed with Python's calendar.timegm().
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "cron.h"


typedef struct {
    const char  *expr;
    time_t       after;
    time_t       want;
} hr_ccase_t;


/* 2024-05-01T10:07:30Z, a Wednesday */
#define T0  ((time_t) 1714558050)


static void
test_next_table(void **state)
{
    int                       bad;
    char                      err[256];
    size_t                    i;
    time_t                    got;
    hr_cron_t                 c;
    static const hr_ccase_t   t[] = {
        /* the example of docs/facts.md, Replication policies: every 15 min */
        { "0 */15 * * * *", T0, 1714558500 },
        /* strictly after: at 10:15:00 the next one is 10:30:00 */
        { "0 */15 * * * *", 1714558500, 1714559400 },
        /* the UI's presets: hourly, daily, weekly (Sunday) */
        { "0 0 * * * *", T0, 1714561200 },
        { "0 0 0 * * *", T0, 1714608000 },
        { "0 0 0 * * 0", T0, 1714867200 },
        /* dom and dow both restricted: either matches (Friday the 3rd) */
        { "0 0 0 13 * 5", T0, 1714694400 },
        /* dow '*': dom alone */
        { "0 0 0 13 * *", T0, 1715558400 },
        /* "*\/1" still counts as '*': Mondays only */
        { "0 0 0 */1 * 1", T0, 1714953600 },
        /* "*\/2" does not: odd days or Mondays */
        { "0 0 0 */2 * 1", T0, 1714694400 },
        /* names, any case, and lists */
        { "0 0 12 1 JAN,jul *", T0, 1719835200 },
        { "0 30 9 * * MON-FRI", T0, 1714642200 },
        { "0 30 9 ? * mon-fri", T0, 1714642200 },
        /* "N/step" is "N-max/step" */
        { "0 5/15 * * * *", T0, 1714558800 },
        /* "*-5" is '*' in robfig (the part after '-' is ignored) */
        { "0 *-5 * * * *", T0, 1714558080 },
        /* a leap day four years away is still found */
        { "0 0 0 29 2 *", 1709251200, 1835395200 },
        /* year end */
        { "0 0 0 1 1 *", 1735689599, 1735689600 },
        /* never: none within five years */
        { "0 0 0 30 2 *", T0, (time_t) -1 },
        { "0 0 0 31 4 *", T0, (time_t) -1 },
        /* descriptors (hr_cron_parse only) */
        { "@daily", T0, 1714608000 },
        { "@hourly", T0, 1714561200 },
        { "@weekly", T0, 1714867200 },
        { "@yearly", T0, 1735689600 },
    };

    (void) state;
    bad = 0;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (hr_cron_parse(&c, t[i].expr, err, sizeof(err)) != 0) {
            print_error("parse \"%s\": %s\n", t[i].expr, err);
            bad++;
            continue;
        }

        got = hr_cron_next(&c, t[i].after);
        if (got != t[i].want) {
            print_error("next(\"%s\", %lld) = %lld, want %lld\n", t[i].expr,
                        (long long) t[i].after, (long long) got,
                        (long long) t[i].want);
            bad++;
        }
    }

    assert_int_equal(bad, 0);
}


static void
test_bad_expressions(void **state)
{
    int                 bad;
    char                err[256];
    size_t              i;
    hr_cron_t           c;
    static const char  *t[] = {
        "",
        "   ",
        "* * * * *",                    /* 5 fields */
        "0 0 0 * * * *",                /* 7 fields */
        "60 * * * * *",
        "0 60 * * * *",
        "0 0 24 * * *",
        "0 0 0 0 * *",
        "0 0 0 32 * *",
        "0 0 0 * 0 *",
        "0 0 0 * 13 *",
        "0 0 0 * * 7",                  /* robfig v3: 0-6 only */
        "0 0 0 * * 8",
        "a * * * * *",
        "0 5-1 * * * *",
        "0 */0 * * * *",
        "0 */-1 * * * *",
        "0 1/2/3 * * * *",
        "0 1-2-3 * * * *",
        "0 0 0 * FOO *",
        "0 0 0 * * SUNDAY",
        "0 -1 * * * *",
        "0 ** * * * *",
        "0 /5 * * * *",
        "0 5- * * * *",
        "0 99999999999999999999 * * * *",
        "TZ=UTC 0 0 * * * *",
        "CRON_TZ=UTC 0 0 * * * *",
        "@every 5m",
        "@reboot",
        "@",
    };

    (void) state;
    bad = 0;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        err[0] = '\0';
        if (hr_cron_parse(&c, t[i], err, sizeof(err)) == 0) {
            print_error("\"%s\" parsed, want an error\n", t[i]);
            bad++;
        } else if (err[0] == '\0') {
            print_error("\"%s\": no error message\n", t[i]);
            bad++;
        }
    }

    assert_int_equal(bad, 0);

    /* the message names the field */
    assert_int_equal(hr_cron_parse(&c, "0 61 * * * *", err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "minute"));
    assert_int_equal(hr_cron_parse(&c, "0 0 0 * * 7", err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "day of week"));
}


static void
test_robfig_quirks(void **state)
{
    char       err[256];
    hr_cron_t  c;

    (void) state;

    /* a leading '+' is taken by strconv.Atoi */
    assert_int_equal(hr_cron_parse(&c, "0 +5 * * * *", err, sizeof(err)), 0);
    assert_true(c.min == ((uint64_t) 1 << 5));

    /* empty list items are dropped */
    assert_int_equal(hr_cron_parse(&c, "0 1,,2 * * * *", err, sizeof(err)),
                     0);
    assert_true(c.min == (((uint64_t) 1 << 1) | ((uint64_t) 1 << 2)));

    /* any white space separates fields */
    assert_int_equal(hr_cron_parse(&c, " 0\t0  0 * * * ", err, sizeof(err)),
                     0);
    assert_true(c.dom_star && c.dow_star);

    /* '?' is '*' in every field */
    assert_int_equal(hr_cron_parse(&c, "? ? ? ? ? ?", err, sizeof(err)), 0);
    assert_true(c.sec == 0x0fffffffffffffffULL);

    /* a field of only commas matches nothing: never fires */
    assert_int_equal(hr_cron_parse(&c, "0 , * * * *", err, sizeof(err)), 0);
    assert_int_equal(hr_cron_next(&c, T0), (time_t) -1);

    /* far outside the calendar */
    assert_int_equal(hr_cron_parse(&c, "0 0 0 * * *", err, sizeof(err)), 0);
    assert_int_equal(hr_cron_next(&c, (time_t) INT64_MAX), (time_t) -1);
    assert_int_equal(hr_cron_next(&c, (time_t) INT64_MIN), (time_t) -1);
    assert_int_equal(hr_cron_next(&c, 0), 86400);
}


static void
test_harbor_rules(void **state)
{
    int                 bad;
    char                err[256];
    size_t              i;
    hr_cron_t           c;
    static const char  *ok[] = {
        "0 0 * * * *",
        "0 0 0 * * *",
        "0 0 0 * * 0",
        "0 */15 * * * *",
        "0 0  * * * *",                 /* Harbor splits on one space */
    };
    static const char  *refused[] = {
        "1 0 * * * *",                  /* seconds must be exactly 0 */
        "*/5 0 * * * *",
        "00 0 * * * *",
        "0 * * * * *",                  /* minutes must not be '*' */
        " 0 0 * * * *",
        "@daily",
        "@hourly",
        "0 0 0 * * 7",
    };

    (void) state;
    bad = 0;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (hr_cron_parse_harbor(&c, ok[i], err, sizeof(err)) != 0) {
            print_error("\"%s\": %s\n", ok[i], err);
            bad++;
        }
    }

    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        if (hr_cron_parse_harbor(&c, refused[i], err, sizeof(err)) == 0) {
            print_error("\"%s\" accepted, Harbor refuses it\n", refused[i]);
            bad++;
        }
    }

    assert_int_equal(bad, 0);

    assert_int_equal(hr_cron_parse_harbor(&c, "0 * * * * *", err,
                                          sizeof(err)), -1);
    assert_non_null(strstr(err, "inute"));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_next_table),
        cmocka_unit_test(test_bad_expressions),
        cmocka_unit_test(test_robfig_quirks),
        cmocka_unit_test(test_harbor_rules),
    };

    return cmocka_run_group_tests_name("cron", tests, NULL, NULL);
}
