/*
 * test_buf.c: the capped buffer (replicator/buf.c): growth, NUL
 * termination, and the hard cap that turns a peer's oversized body into an
 * error instead of memory.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"


static void
test_grow_and_terminate(void **state)
{
    int       i;
    hr_buf_t  b;

    hr_buf_init(&b, 1 << 20);

    for (i = 0; i < 1000; i++) {
        assert_int_equal(hr_buf_appendz(&b, "0123456789"), 0);
    }

    assert_int_equal(b.len, 10000);
    assert_int_equal(b.data[b.len], '\0');
    assert_memory_equal(b.data + 9990, "0123456789", 10);

    hr_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");

    hr_buf_free(&b);
    assert_null(b.data);
}


static void
test_cap(void **state)
{
    hr_buf_t  b;

    hr_buf_init(&b, 16);

    assert_int_equal(hr_buf_append(&b, "0123456789abcdef", 16), 0);
    assert_int_equal(hr_buf_append(&b, "x", 1), -1);
    assert_int_equal(b.len, 16);

    /* a length that would wrap size_t is refused, not added */
    assert_int_equal(hr_buf_append(&b, "x", (size_t) -1), -1);
    assert_int_equal(b.len, 16);

    hr_buf_free(&b);

    hr_buf_init(&b, 0);
    assert_int_equal(hr_buf_append(&b, "", 0), 0);
    assert_int_equal(hr_buf_append(&b, "a", 1), -1);
    hr_buf_free(&b);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_grow_and_terminate),
        cmocka_unit_test(test_cap),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
