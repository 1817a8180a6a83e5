/*
 * test_wwwauth.c: WWW-Authenticate challenges as registries send them
 * (distribution's token auth, Harbor, Docker Hub) and malformed ones.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "wwwauth.h"


static int parse(hr_wwwauth_t *wa, const char *v);


static int
parse(hr_wwwauth_t *wa, const char *v)
{
    return hr_wwwauth_parse(wa, v, strlen(v));
}


static void
test_bearer(void **state)
{
    hr_wwwauth_t  wa;

    (void) state;

    /* distribution's docs, verbatim: the comma inside quotes stays */
    assert_int_equal(parse(&wa, "Bearer realm=\"https://auth.docker.io/token"
                     "\",service=\"registry.docker.io\",scope=\"repository:"
                     "samalba/my-app:pull,push\""), 0);
    assert_int_equal(wa.scheme, HR_AUTH_BEARER);
    assert_string_equal(wa.realm, "https://auth.docker.io/token");
    assert_string_equal(wa.service, "registry.docker.io");
    assert_string_equal(wa.scope, "repository:samalba/my-app:pull,push");
    assert_string_equal(wa.error, "");

    /* Harbor's form */
    assert_int_equal(parse(&wa, "Bearer realm=\"https://harbor.example.com/"
                     "service/token\",service=\"harbor-registry\""), 0);
    assert_string_equal(wa.realm, "https://harbor.example.com/service/token");
    assert_string_equal(wa.service, "harbor-registry");
    assert_string_equal(wa.scope, "");

    /* case, spaces around '=' and ',', unknown params, escapes, error */
    assert_int_equal(parse(&wa, "bEaReR  REALM = \"a\\\"b\\\\c\" ,  foo=bar,"
                     " Error=\"insufficient_scope\", x=\"y,z\""), 0);
    assert_string_equal(wa.realm, "a\"b\\c");
    assert_string_equal(wa.error, "insufficient_scope");

    /* token values and several scopes, joined with spaces */
    assert_int_equal(parse(&wa, "Bearer realm=http://t/token,scope="
                     "\"repository:a:pull repository:b:pull\","
                     "scope=repository:c:pull"), 0);
    assert_string_equal(wa.realm, "http://t/token");
    assert_string_equal(wa.scope,
                        "repository:a:pull repository:b:pull "
                        "repository:c:pull");

    /* empty list elements are allowed */
    assert_int_equal(parse(&wa, ", Bearer realm=\"r\",, service=s ,"), 0);
    assert_string_equal(wa.service, "s");

    /* a value that is not NUL-terminated: only len bytes are read */
    assert_int_equal(hr_wwwauth_parse(&wa, "Bearer realm=\"r\"XYZ", 16), 0);
    assert_string_equal(wa.realm, "r");
}


static void
test_basic_and_several(void **state)
{
    hr_wwwauth_t  wa;

    (void) state;

    assert_int_equal(parse(&wa, "Basic realm=\"Registry Realm\""), 0);
    assert_int_equal(wa.scheme, HR_AUTH_BASIC);
    assert_string_equal(wa.realm, "Registry Realm");

    assert_int_equal(parse(&wa, "Basic"), 0);
    assert_int_equal(wa.scheme, HR_AUTH_BASIC);

    /* token68 forms are skipped */
    assert_int_equal(parse(&wa, "Basic dXNlcjpwYXNz"), 0);
    assert_int_equal(parse(&wa, "Basic YWJj=="), 0);

    /* several challenges: Bearer wins wherever it is */
    assert_int_equal(parse(&wa, "Basic realm=\"b\", Bearer realm=\"t\","
                     "service=\"s\""), 0);
    assert_int_equal(wa.scheme, HR_AUTH_BEARER);
    assert_string_equal(wa.realm, "t");
    assert_string_equal(wa.service, "s");

    assert_int_equal(parse(&wa, "Negotiate abc==, Basic realm=\"x\""), 0);
    assert_int_equal(wa.scheme, HR_AUTH_BASIC);
    assert_string_equal(wa.realm, "x");

    assert_int_equal(parse(&wa, "Bearer realm=\"1\", Bearer realm=\"2\""),
                     0);
    assert_string_equal(wa.realm, "1");
}


static void
test_malformed(void **state)
{
    int                 bad;
    size_t              i;
    char                big[2100];
    hr_wwwauth_t        wa;
    static const char  *t[] = {
        "",
        "   ",
        "Digest realm=\"x\"",               /* neither Basic nor Bearer */
        "Bearer",                           /* no realm */
        "Bearer service=\"s\"",
        "Bearer realm=\"\"",
        "Bearer realm=\"unterminated",
        "Bearer realm=\"a\\",               /* escape at the end */
        "Bearer realm=",
        "Bearer realm=a b",
        "Bearer realm=\"a\" b=",
        "Bearer =x",
        "Bearer realm=\"a\"\"b\"",
        "Bearer realm=\"a\x01\"",           /* control character */
        "Bearer; realm=x",
        "Bearer realm=\"a\" junk",
        "\"Bearer\" realm=x",
    };

    (void) state;
    bad = 0;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (parse(&wa, t[i]) == 0) {
            print_error("\"%s\" accepted\n", t[i]);
            bad++;
        }
        if (wa.scheme != HR_AUTH_NONE || wa.realm[0] != '\0') {
            print_error("\"%s\": result not cleared\n", t[i]);
            bad++;
        }
    }

    assert_int_equal(bad, 0);

    assert_int_equal(hr_wwwauth_parse(&wa, NULL, 0), -1);

    /*
     * Found by fuzz_wwwauth: a good Bearer challenge followed by a bad
     * token ("x:y=") returned -1 but left the Bearer in *wa, so a caller
     * that looked at wa after the error would have used half a header.
     */
    assert_int_equal(parse(&wa, "Bearer realm=\"r\", x:y=z"), -1);
    assert_int_equal(wa.scheme, HR_AUTH_NONE);
    assert_string_equal(wa.realm, "");

    /* a NUL inside the value is not a character we take */
    assert_int_equal(hr_wwwauth_parse(&wa, "Bearer realm=\"a\0b\"", 17),
                     -1);

    /* values that do not fit their field */
    memcpy(big, "Bearer realm=\"", 14);
    memset(big + 14, 'r', 1100);
    memcpy(big + 1114, "\"", 2);
    assert_int_equal(parse(&wa, big), -1);

    memset(big + 14, 'r', 1023);
    memcpy(big + 1037, "\"", 2);
    assert_int_equal(parse(&wa, big), 0);
    assert_int_equal(strlen(wa.realm), 1023);

    assert_int_equal(parse(&wa, "Bearer realm=r,error=\"0123456789012345678"
                     "90123456789012345678901234567890123456789012345\""),
                     -1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_basic_and_several),
        cmocka_unit_test(test_malformed),
    };

    return cmocka_run_group_tests_name("wwwauth", tests, NULL, NULL);
}
