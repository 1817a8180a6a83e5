/*
 * test_queue.c: the event lines of the Redis queue (queue.h): decoding of
 * the exact lines the nginx module writes (webhook and miss), refusal of
 * bad lines with an error that says why, and the coalescing of the events
 * that wait in memory (same work joined, order of effects on one target
 * kept, a retrying item not overtaken).
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "queue.h"


#define D1                                                                    \
    "sha256:4c1d2d5bd0e2b1b9e1a0c0e7f4d3b2a1908f7e6d5c4b3a29180f7e6d5c4b3ae9"
#define D2                                                                    \
    "sha256:9ab0cd11d5a25e2b0c7f2e6c4d1b7f0a3e5c9d8b7a6f5e4d3c2b1a0f9e8d7c13"

/* the lines exactly as the module writes them */
#define PUSH_V1                                                               \
    "{\"kind\":\"push\",\"repository\":\"prod/api\",\"digest\":\"" D1        \
    "\",\"tag\":\"v1\",\"occurred_at\":1717000000,\"source\":\"webhook\"}"
#define DEL_V1                                                                \
    "{\"kind\":\"delete\",\"repository\":\"prod/api\",\"digest\":\"" D1      \
    "\",\"tag\":\"v1\",\"occurred_at\":1717000001,\"source\":\"webhook\"}"
#define MISS_V1                                                               \
    "{\"kind\":\"miss\",\"object\":\"manifest\",\"repository\":"              \
    "\"prod/api\",\"reference\":\"v1\",\"occurred_at\":1717000000,"            \
    "\"source\":\"edge\"}"
#define MISS_B1                                                               \
    "{\"kind\":\"miss\",\"object\":\"blob\",\"repository\":\"prod/api\","    \
    "\"reference\":\"" D1 "\",\"occurred_at\":1717000000,\"source\":\"edge\"}"


static int
decode(const char *line, hr_event_t *ev, char *err, size_t errlen)
{
    return hr_event_decode(line, strlen(line), ev, err, errlen);
}


/* a preheat (harbor_preheat): a push's fields, its own kind and key */
static void
test_decode_preheat(void **state)
{
    char        err[256], k1[512], k2[512];
    hr_event_t  ev, push;

    assert_int_equal(decode("{\"kind\":\"preheat\",\"repository\":"
                            "\"prod/api\",\"digest\":\"" D1 "\",\"tag\":"
                            "\"v1\",\"occurred_at\":1717000000,\"source\":"
                            "\"preheat\"}", &ev, err, sizeof(err)), 0);
    assert_int_equal(ev.kind, HR_EVENT_PREHEAT);
    assert_string_equal(ev.repository, "prod/api");
    assert_string_equal(ev.digest, D1);
    assert_string_equal(ev.tag, "v1");
    assert_string_equal(ev.source, "preheat");

    /* never coalesced with a webhook's push of the same tag */
    assert_int_equal(decode(PUSH_V1, &push, err, sizeof(err)), 0);
    hr_event_key(&ev, k1, sizeof(k1));
    hr_event_key(&push, k2, sizeof(k2));
    assert_string_not_equal(k1, k2);

    /* a digest is required, as for a push */
    assert_int_equal(decode("{\"kind\":\"preheat\",\"repository\":"
                            "\"prod/api\",\"tag\":\"v1\"}", &ev, err,
                            sizeof(err)), -1);
}


static void
test_decode_webhook(void **state)
{
    char        err[256];
    hr_event_t  ev;

    assert_int_equal(decode(PUSH_V1, &ev, err, sizeof(err)), 0);
    assert_int_equal(ev.kind, HR_EVENT_PUSH);
    assert_int_equal(ev.object, HR_OBJECT_NONE);
    assert_string_equal(ev.repository, "prod/api");
    assert_string_equal(ev.digest, D1);
    assert_string_equal(ev.tag, "v1");
    assert_int_equal(ev.occurred_at, 1717000000);
    assert_string_equal(ev.source, "webhook");

    /* untagged: no "tag" key at all */
    assert_int_equal(decode("{\"kind\":\"delete\",\"repository\":\"prod/api\""
                            ",\"digest\":\"" D2 "\",\"occurred_at\":"
                            "1717000500,\"source\":\"webhook\"}", &ev, err,
                            sizeof(err)), 0);
    assert_int_equal(ev.kind, HR_EVENT_DELETE);
    assert_string_equal(ev.digest, D2);
    assert_string_equal(ev.tag, "");

    /* nested names, unknown keys ignored, occurred_at optional */
    assert_int_equal(decode("{\"kind\":\"push\",\"repository\":"
                            "\"prod/team/web\",\"digest\":\"" D1 "\","
                            "\"future\":[1,{\"x\":null}]}", &ev, err,
                            sizeof(err)), 0);
    assert_string_equal(ev.repository, "prod/team/web");
    assert_int_equal(ev.occurred_at, 0);
}


static void
test_decode_miss(void **state)
{
    char        err[256];
    hr_event_t  ev;

    assert_int_equal(decode(MISS_V1, &ev, err, sizeof(err)), 0);
    assert_int_equal(ev.kind, HR_EVENT_MISS);
    assert_int_equal(ev.object, HR_OBJECT_MANIFEST);
    assert_string_equal(ev.tag, "v1");
    assert_string_equal(ev.digest, "");
    assert_string_equal(ev.source, "edge");

    /* a manifest by digest */
    assert_int_equal(decode("{\"kind\":\"miss\",\"object\":\"manifest\","
                            "\"repository\":\"a/b\",\"reference\":\"" D2
                            "\"}", &ev, err, sizeof(err)), 0);
    assert_string_equal(ev.digest, D2);
    assert_string_equal(ev.tag, "");

    assert_int_equal(decode(MISS_B1, &ev, err, sizeof(err)), 0);
    assert_int_equal(ev.object, HR_OBJECT_BLOB);
    assert_string_equal(ev.digest, D1);
}


typedef struct {
    const char  *line;
    const char  *why;       /* a part of the error */
} hr_bad_t;


static void
test_bad_lines(void **state)
{
    int                     bad;
    char                    err[256], *big, *p;
    size_t                  i;
    hr_event_t              ev;
    static const hr_bad_t   t[] = {
        { "", "not JSON" },
        { "not json", "not JSON" },
        { "{\"kind\":\"push\"", "not JSON" },
        { PUSH_V1 "x", "not JSON" },
        { "[1,2]", "not a JSON object" },
        { "\"push\"", "not JSON" },
        { "{}", "kind: missing" },
        { "{\"kind\":1,\"repository\":\"a/b\"}", "kind: not a string" },
        { "{\"kind\":\"pull\",\"repository\":\"a/b\",\"digest\":\"" D1 "\"}",
          "unknown kind" },
        { "{\"kind\":\"push\",\"digest\":\"" D1 "\"}", "repository: missing" },
        { "{\"kind\":\"push\",\"repository\":\"Prod/api\",\"digest\":\"" D1
          "\"}", "not a valid repository" },
        { "{\"kind\":\"push\",\"repository\":\"prod/../etc\",\"digest\":\""
          D1 "\"}", "not a valid repository" },
        { "{\"kind\":\"push\",\"repository\":\"/abs\",\"digest\":\"" D1
          "\"}", "not a valid repository" },
        { "{\"kind\":\"push\",\"repository\":\"a/b\"}", "digest: missing" },
        { "{\"kind\":\"push\",\"repository\":\"a/b\",\"digest\":\"sha256:"
          "abc\"}", "not a sha256 digest" },
        { "{\"kind\":\"push\",\"repository\":\"a/b\",\"digest\":\"sha512:"
          "4c1d2d5bd0e2b1b9e1a0c0e7f4d3b2a1908f7e6d5c4b3a29180f7e6d5c4b3ae9"
          "\"}", "not a sha256 digest" },
        { "{\"kind\":\"push\",\"repository\":\"a/b\",\"digest\":\"sha256:"
          "4C1D2D5BD0E2B1B9E1A0C0E7F4D3B2A1908F7E6D5C4B3A29180F7E6D5C4B3AE9"
          "\"}", "not a sha256 digest" },
        { "{\"kind\":\"push\",\"repository\":\"a/b\",\"digest\":\"" D1
          "\",\"tag\":\".hidden\"}", "not a valid tag" },
        { "{\"kind\":\"push\",\"repository\":\"a/b\",\"digest\":\"" D1
          "\",\"tag\":\"v1/../x\"}", "not a valid tag" },
        { "{\"kind\":\"push\",\"repository\":\"a/b\",\"digest\":\"" D1
          "\",\"tag\":7}", "tag: not a string" },
        { "{\"kind\":\"push\",\"repository\":\"a/b\",\"digest\":\"" D1
          "\",\"occurred_at\":\"now\"}", "occurred_at" },
        { "{\"kind\":\"push\",\"repository\":\"a/b\",\"digest\":\"" D1
          "\",\"occurred_at\":-1}", "occurred_at" },
        { "{\"kind\":\"push\",\"repository\":\"a/b\",\"digest\":\"" D1
          "\",\"occurred_at\":1.5}", "occurred_at" },
        { "{\"kind\":\"push\",\"kind\":\"delete\",\"repository\":\"a/b\","
          "\"digest\":\"" D1 "\"}", "not JSON" },
        { "{\"kind\":\"push\",\"repository\":\"a/b\\u0000c\",\"digest\":\""
          D1 "\"}", "not JSON" },
        { "{\"kind\":\"miss\",\"repository\":\"a/b\",\"reference\":\"v1\"}",
          "object: missing" },
        { "{\"kind\":\"miss\",\"object\":\"tag\",\"repository\":\"a/b\","
          "\"reference\":\"v1\"}", "unknown object" },
        { "{\"kind\":\"miss\",\"object\":\"blob\",\"repository\":\"a/b\","
          "\"reference\":\"v1\"}", "is not a sha256 digest" },
        { "{\"kind\":\"miss\",\"object\":\"manifest\",\"repository\":"
          "\"a/b\"}", "reference: missing" },
        { "{\"kind\":\"miss\",\"object\":\"manifest\",\"repository\":"
          "\"a/b\",\"reference\":\"a b\"}", "tag or sha256 digest" },
        { "{\"kind\":\"push\",\"repository\":\"a/b\",\"digest\":\"" D1
          "\",\"source\":\"0123456789012345678901234567890123456789\"}",
          "source: longer" },
        { "{\"kind\":\"push\",\"repository\":\"a/\xff\",\"digest\":\"" D1
          "\"}", "not JSON" },
    };

    bad = 0;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        err[0] = '\0';

        if (decode(t[i].line, &ev, err, sizeof(err)) != -1) {
            print_error("accepted: %s\n", t[i].line);
            bad++;
            continue;
        }

        if (strstr(err, t[i].why) == NULL) {
            print_error("%s: error \"%s\", want \"%s\"\n", t[i].line, err,
                        t[i].why);
            bad++;
        }

        /* errors quote the line, but never a control or 8-bit byte */
        for (p = err; *p; p++) {
            if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f) {
                print_error("%s: raw byte in the error\n", t[i].line);
                bad++;
                break;
            }
        }
    }

    assert_int_equal(bad, 0);

    /* a tag of 129 bytes (the grammar allows 128) */
    big = malloc(HR_QUEUE_LINE_MAX + 64);
    assert_non_null(big);
    snprintf(big, 400, "{\"kind\":\"push\",\"repository\":\"a/b\",\"digest\""
             ":\"" D1 "\",\"tag\":\"%0129d\"}", 0);
    assert_int_equal(decode(big, &ev, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a valid tag"));

    snprintf(big, 400, "{\"kind\":\"push\",\"repository\":\"a/b\",\"digest\""
             ":\"" D1 "\",\"tag\":\"%0128d\"}", 0);
    assert_int_equal(decode(big, &ev, err, sizeof(err)), 0);

    /* a line longer than the cap, whatever it holds */
    memset(big, ' ', HR_QUEUE_LINE_MAX + 1);
    memcpy(big, PUSH_V1, strlen(PUSH_V1));
    big[HR_QUEUE_LINE_MAX + 1] = '\0';
    assert_int_equal(decode(big, &ev, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "more than"));

    /* the length given counts, not the NUL */
    assert_int_equal(hr_event_decode(PUSH_V1 "garbage", strlen(PUSH_V1), &ev,
                                     err, sizeof(err)), 0);

    free(big);
}


static void
test_keys(void **state)
{
    char        err[256], k1[512], k2[512];
    hr_event_t  a, b;

    /* two pushes of one tag are one piece of work, whatever the digest */
    assert_int_equal(decode(PUSH_V1, &a, err, sizeof(err)), 0);
    assert_int_equal(decode("{\"kind\":\"push\",\"repository\":\"prod/api\","
                            "\"digest\":\"" D2 "\",\"tag\":\"v1\"}", &b, err,
                            sizeof(err)), 0);
    hr_event_key(&a, k1, sizeof(k1));
    hr_event_key(&b, k2, sizeof(k2));
    assert_string_equal(k1, k2);

    /* a miss of that tag is other work */
    assert_int_equal(decode(MISS_V1, &b, err, sizeof(err)), 0);
    hr_event_key(&b, k2, sizeof(k2));
    assert_string_not_equal(k1, k2);

    /* so is another repository */
    assert_int_equal(decode("{\"kind\":\"push\",\"repository\":\"prod/api2\","
                            "\"digest\":\"" D1 "\",\"tag\":\"v1\"}", &b, err,
                            sizeof(err)), 0);
    hr_event_key(&b, k2, sizeof(k2));
    assert_string_not_equal(k1, k2);

    hr_event_describe(&a, k1, sizeof(k1));
    assert_string_equal(k1, "push prod/api:v1@" D1);
}


static void
add(hr_qset_t *s, const char *line, int want)
{
    assert_int_equal(hr_qset_add(s, line, strlen(line), 1000), want);
}


static void
test_coalesce(void **state)
{
    hr_qset_t    s;
    hr_qitem_t  *it;

    hr_qset_init(&s);

    add(&s, PUSH_V1, 0);
    add(&s, PUSH_V1, 1);            /* the same line again */
    add(&s, MISS_B1, 0);
    add(&s, MISS_B1, 1);
    add(&s, MISS_B1, 1);
    add(&s, "garbage", 0);
    add(&s, "garbage", 0);          /* bad lines are never joined */

    assert_int_equal(s.n, 4);
    assert_int_equal(s.nlines, 7);
    assert_int_equal(s.coalesced, 3);
    assert_int_equal(hr_qset_holds(&s, MISS_B1, strlen(MISS_B1)), 3);
    assert_int_equal(hr_qset_holds(&s, PUSH_V1, strlen(PUSH_V1)), 2);
    assert_int_equal(hr_qset_holds(&s, "garb", 4), 0);

    it = hr_qset_take(&s, 1000, NULL);
    assert_non_null(it);
    assert_int_equal(it->ev.kind, HR_EVENT_PUSH);
    assert_int_equal(it->nlines, 2);
    assert_int_equal(it->bad, 0);
    hr_qitem_free(it);

    it = hr_qset_take(&s, 1000, NULL);
    assert_non_null(it);
    assert_int_equal(it->ev.object, HR_OBJECT_BLOB);
    assert_int_equal(it->nlines, 3);
    hr_qitem_free(it);

    it = hr_qset_take(&s, 1000, NULL);
    assert_non_null(it);
    assert_int_equal(it->bad, 1);
    assert_non_null(strstr(it->err, "not JSON"));
    assert_string_equal(it->lines[0], "garbage");
    hr_qitem_free(it);

    it = hr_qset_take(&s, 1000, NULL);
    assert_non_null(it);
    assert_int_equal(it->bad, 1);
    hr_qitem_free(it);

    assert_null(hr_qset_take(&s, 1000, NULL));
    assert_int_equal(s.n, 0);
    assert_int_equal(s.nlines, 0);
    assert_int_equal(hr_qset_next_ms(&s, 1000), -1);

    hr_qset_free(&s);
}


/* push, delete, push of one tag: three items, in that order */
static void
test_order_of_effects(void **state)
{
    hr_qset_t    s;
    hr_qitem_t  *it;

    hr_qset_init(&s);

    add(&s, PUSH_V1, 0);
    add(&s, DEL_V1, 0);
    add(&s, PUSH_V1, 0);            /* not joined to the first */
    add(&s, PUSH_V1, 1);            /* joined to the last */

    assert_int_equal(s.n, 3);

    it = hr_qset_take(&s, 1000, NULL);
    assert_int_equal(it->ev.kind, HR_EVENT_PUSH);
    assert_int_equal(it->nlines, 1);
    hr_qitem_free(it);

    it = hr_qset_take(&s, 1000, NULL);
    assert_int_equal(it->ev.kind, HR_EVENT_DELETE);
    hr_qitem_free(it);

    it = hr_qset_take(&s, 1000, NULL);
    assert_int_equal(it->ev.kind, HR_EVENT_PUSH);
    assert_int_equal(it->nlines, 2);
    hr_qitem_free(it);

    hr_qset_free(&s);
}


/* an item being handled is not overtaken on its target either */
static void
test_busy(void **state)
{
    hr_qset_t    s;
    hr_qitem_t  *busy, *it;

    hr_qset_init(&s);

    add(&s, PUSH_V1, 0);
    busy = hr_qset_take(&s, 1000, NULL);
    assert_non_null(busy);

    add(&s, DEL_V1, 0);
    add(&s, MISS_B1, 0);

    /* the delete of v1 waits while the push of v1 is handled */
    it = hr_qset_take(&s, 1000, busy);
    assert_non_null(it);
    assert_int_equal(it->ev.kind, HR_EVENT_MISS);
    hr_qitem_free(it);

    assert_null(hr_qset_take(&s, 1000, busy));

    it = hr_qset_take(&s, 1000, NULL);
    assert_non_null(it);
    assert_int_equal(it->ev.kind, HR_EVENT_DELETE);
    hr_qitem_free(it);

    hr_qitem_free(busy);
    hr_qset_free(&s);
}


/* an item waiting for its retry is not overtaken on its target */
static void
test_retry(void **state)
{
    hr_qset_t    s;
    hr_qitem_t  *it, *other;

    hr_qset_init(&s);

    add(&s, PUSH_V1, 0);
    it = hr_qset_take(&s, 1000, NULL);
    assert_non_null(it);

    /* the push failed: back, due in 2 s */
    it->attempts = 1;
    hr_qset_requeue(&s, it, 3000);
    assert_int_equal(hr_qset_next_ms(&s, 1000), 2000);

    /* a delete of the same tag arrives: it must wait for the push */
    add(&s, DEL_V1, 0);
    /* a miss elsewhere may go */
    add(&s, "{\"kind\":\"miss\",\"object\":\"manifest\",\"repository\":"
        "\"other/app\",\"reference\":\"v1\"}", 0);

    other = hr_qset_take(&s, 1500, NULL);
    assert_non_null(other);
    assert_string_equal(other->ev.repository, "other/app");
    hr_qitem_free(other);

    assert_null(hr_qset_take(&s, 1500, NULL));
    assert_int_equal(hr_qset_next_ms(&s, 1500), 0);    /* the delete */

    /* another push of v1 joins the retrying one */
    add(&s, PUSH_V1, 0);            /* after the delete: a new item */
    assert_int_equal(s.n, 3);

    it = hr_qset_take(&s, 3000, NULL);
    assert_non_null(it);
    assert_int_equal(it->ev.kind, HR_EVENT_PUSH);
    assert_int_equal(it->attempts, 1);
    hr_qitem_free(it);

    it = hr_qset_take(&s, 3000, NULL);
    assert_int_equal(it->ev.kind, HR_EVENT_DELETE);
    hr_qitem_free(it);

    it = hr_qset_take(&s, 3000, NULL);
    assert_int_equal(it->ev.kind, HR_EVENT_PUSH);
    hr_qitem_free(it);

    hr_qset_free(&s);
}


/* a line with a NUL inside (Redis strings are binary) is a bad item */
static void
test_binary_line(void **state)
{
    hr_qset_t    s;
    hr_qitem_t  *it;
    static const char  line[] = "{\"kind\":\"push\"}\0{\"kind\":\"push\"}";

    hr_qset_init(&s);
    assert_int_equal(hr_qset_add(&s, line, sizeof(line) - 1, 0), 0);

    it = hr_qset_take(&s, 0, NULL);
    assert_non_null(it);
    assert_int_equal(it->bad, 1);
    assert_non_null(strstr(it->err, "NUL"));
    hr_qitem_free(it);

    hr_qset_free(&s);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_decode_webhook),
        cmocka_unit_test(test_decode_preheat),
        cmocka_unit_test(test_decode_miss),
        cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_coalesce),
        cmocka_unit_test(test_order_of_effects),
        cmocka_unit_test(test_busy),
        cmocka_unit_test(test_retry),
        cmocka_unit_test(test_binary_line),
    };

    return cmocka_run_group_tests_name("queue", tests, NULL, NULL);
}
