/* fuzz-srcs: ngx_harbor_module/ngx_http_harbor_parse.c */
/* fuzz-srcs: lib/he_oci_grammar.c */
/* fuzz-cflags: -Ibuild/nginx/src/core -Ibuild/nginx/src/event */
/* fuzz-cflags: -Ibuild/nginx/src/event/modules -Ibuild/nginx/src/os/unix */
/* fuzz-cflags: -Ibuild/nginx/src/http -Ibuild/nginx/src/http/modules */
/* fuzz-cflags: -Ibuild/nginx/src/http/v2 -Ibuild/nginx/objs */
/* fuzz-cflags: -Ingx_harbor_module */

/*
 * fuzz_parse.c: libFuzzer target for the module's request grammars
 * (ngx_http_harbor_parse.c) and the OCI grammars it takes from
 * he_oci_grammar.c.  These scanners are what keeps "..", "%2e",
 * NUL and "//" out of every store path, so besides memory safety the target
 * checks what an accepted input may look like, and abort()s when a scanner
 * lets through something that could leave the store or break a header:
 *
 *   name       only [a-z0-9._/-], 1..255 bytes, no leading, trailing or
 *              double '/', no component that is "." or "..", none starting
 *              with a separator
 *   component  the same, without '/' (and without the length limit,
 *              which its callers apply to the whole name)
 *   tag        [A-Za-z0-9_.-], 1..128 bytes, not starting with '.' or '-'
 *   digest     NGX_OK only for sha256:<64 lc hex> or sha512:<128 lc hex>,
 *              with alg/hex ranges inside the input; NGX_DECLINED only for
 *              a well-formed digest of another algorithm
 *   number     the value equals strtoull() of the input
 *   host       no '/', no '\\', no control byte, no space, <= 255 bytes
 *   media type printable, no quote, backslash, space, <= 255 bytes
 *
 * The first byte picks the scanner; the rest is its input, copied into an
 * exactly sized heap buffer so that ASan sees any read past the end.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_module.h"


static void
check(int ok, const char *what, const u_char *p, size_t len)
{
    if (ok) {
        return;
    }

    fprintf(stderr, "fuzz_parse: invariant broken: %s on %zu bytes: \"",
            what, len);
    fwrite(p, 1, len > 300 ? 300 : len, stderr);
    fprintf(stderr, "\"\n");
    abort();
}


static int
name_byte(u_char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')
           || ch == '.' || ch == '_' || ch == '-' || ch == '/';
}


static int
sep(u_char ch)
{
    return ch == '.' || ch == '_' || ch == '-' || ch == '/';
}


/* an accepted name or component could never climb out of a directory */

static void
check_name(const u_char *p, size_t len, int slash_ok)
{
    size_t  i, start;

    /* a lone component has no length limit of its own: callers bound it */
    check(len > 0 && (!slash_ok || len <= NGX_HTTP_HARBOR_NAME_MAX),
          "name length", p, len);

    for (i = 0; i < len; i++) {
        check(name_byte(p[i]), "name byte", p, len);
        check(slash_ok || p[i] != '/', "slash in component", p, len);
    }

    check(!sep(p[0]) && !sep(p[len - 1]), "name edge", p, len);

    start = 0;

    for (i = 0; i <= len; i++) {
        if (i < len && p[i] != '/') {
            continue;
        }

        /* component p[start, i) */
        check(i > start, "empty component", p, len);
        check(!sep(p[start]), "component starts with a separator", p, len);
        check(!(i - start == 1 && p[start] == '.'), "\".\" component", p, len);
        check(!(i - start == 2 && p[start] == '.' && p[start + 1] == '.'),
              "\"..\" component", p, len);

        start = i + 1;
    }
}


static void
fuzz_digest(u_char *p, size_t len)
{
    size_t                    i, n;
    ngx_int_t                 rc;
    ngx_http_harbor_digest_t  d;

    memset(&d, 0, sizeof(d));

    rc = ngx_http_harbor_parse_digest(p, len, &d);

    if (rc == NGX_ERROR) {
        return;
    }

    check(rc == NGX_OK || rc == NGX_DECLINED, "digest rc", p, len);

    /* the ranges point into the input */
    check(d.value.data == p && d.value.len == len, "digest value", p, len);
    check(d.alg.data == p && d.alg.len > 0 && d.alg.len < len,
          "digest alg range", p, len);
    check(d.hex.data == p + d.alg.len + 1
          && d.alg.len + 1 + d.hex.len == len, "digest hex range", p, len);
    check(p[d.alg.len] == ':', "digest colon", p, len);

    for (i = 0; i < len; i++) {
        check(p[i] != '/' && p[i] != '\\' && p[i] > ' ' && p[i] < 0x7f
              && p[i] != '%' && p[i] != '"', "digest byte", p, len);
    }

    if (rc == NGX_DECLINED) {
        check(d.type == 0, "declined digest has a type", p, len);
        check(!(d.alg.len == 6 && (memcmp(p, "sha256", 6) == 0
                                   || memcmp(p, "sha512", 6) == 0)),
              "sha256/sha512 declined", p, len);
        return;
    }

    if (d.type == NGX_HTTP_HARBOR_SHA256) {
        check(d.alg.len == 6 && memcmp(p, "sha256", 6) == 0, "sha256 alg",
              p, len);
        n = 64;

    } else {
        check(d.type == NGX_HTTP_HARBOR_SHA512, "digest type", p, len);
        check(d.alg.len == 6 && memcmp(p, "sha512", 6) == 0, "sha512 alg",
              p, len);
        n = 128;
    }

    check(d.hex.len == n, "digest hex length", p, len);

    for (i = 0; i < n; i++) {
        check((d.hex.data[i] >= '0' && d.hex.data[i] <= '9')
              || (d.hex.data[i] >= 'a' && d.hex.data[i] <= 'f'),
              "digest hex byte", p, len);
    }
}


static void
fuzz_number(u_char *p, size_t len)
{
    char        buf[64];
    size_t      i;
    ngx_uint_t  n;

    if (ngx_http_harbor_parse_number(p, len, &n) != NGX_OK) {
        return;
    }

    check(len > 0, "empty number", p, len);

    for (i = 0; i < len; i++) {
        check(p[i] >= '0' && p[i] <= '9', "number byte", p, len);
    }

    check(n <= (ngx_uint_t) NGX_MAX_INT_T_VALUE, "number range", p, len);

    /* leading zeros aside, no accepted number is longer than 19 digits */
    for (i = 0; i + 1 < len && p[i] == '0'; i++) { /* void */ }

    check(len - i < sizeof(buf), "number length", p, len);

    memcpy(buf, p + i, len - i);
    buf[len - i] = '\0';

    check(strtoull(buf, NULL, 10) == (unsigned long long) n, "number value",
          p, len);
}


static void
fuzz_printable(u_char *p, size_t len, ngx_int_t rc, const char *what,
    size_t max)
{
    size_t  i;

    if (rc != NGX_OK) {
        return;
    }

    check(len > 0 && len <= max, what, p, len);

    for (i = 0; i < len; i++) {
        check(p[i] > ' ' && p[i] < 0x7f && p[i] != '"' && p[i] != '\\',
              what, p, len);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char  *p;
    size_t   len, i;

    if (size < 1) {
        return 0;
    }

    len = size - 1;

    /* exactly sized: one byte past the end is an ASan report */
    p = malloc(len ? len : 1);
    if (p == NULL) {
        return 0;
    }

    memcpy(p, data + 1, len);

    switch (data[0] % 7) {

    case 0:
        if (he_oci_name(p, len)) {
            check_name(p, len, 1);
        }
        break;

    case 1:
        if (he_oci_component(p, len)) {
            check_name(p, len, 0);
        }
        break;

    case 2:
        if (he_oci_tag(p, len)) {
            check(len > 0 && len <= NGX_HTTP_HARBOR_TAG_MAX, "tag length",
                  p, len);
            check(p[0] != '.' && p[0] != '-', "tag start", p, len);

            for (i = 0; i < len; i++) {
                check((p[i] >= 'a' && p[i] <= 'z')
                      || (p[i] >= 'A' && p[i] <= 'Z')
                      || (p[i] >= '0' && p[i] <= '9')
                      || p[i] == '_' || p[i] == '.' || p[i] == '-',
                      "tag byte", p, len);
            }
        }
        break;

    case 3:
        fuzz_digest(p, len);
        break;

    case 4:
        fuzz_number(p, len);
        break;

    case 5:
        if (ngx_http_harbor_parse_host(p, len) == NGX_OK) {
            check(len > 0 && len <= NGX_HTTP_HARBOR_HOST_MAX, "host length",
                  p, len);

            for (i = 0; i < len; i++) {
                check(p[i] > ' ' && p[i] < 0x7f && p[i] != '/'
                      && p[i] != '\\' && p[i] != '"' && p[i] != '%'
                      && p[i] != '&' && p[i] != '?' && p[i] != '#',
                      "host byte", p, len);
            }
        }
        break;

    default:
        fuzz_printable(p, len, ngx_http_harbor_parse_media_type(p, len),
                       "media type", NGX_HTTP_HARBOR_MEDIA_TYPE_MAX);
        break;
    }

    free(p);

    return 0;
}
