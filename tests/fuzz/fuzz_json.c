/* fuzz-srcs: ngx_harbor_module/ngx_http_harbor_json.c */
/* fuzz-srcs: ngx_harbor_module/ngx_http_harbor_oci_json.c */
/* fuzz-srcs: ngx_harbor_module/ngx_http_harbor_parse.c */
/* fuzz-srcs: lib/he_oci_grammar.c */
/* fuzz-cflags: -Ibuild/nginx/src/core -Ibuild/nginx/src/event */
/* fuzz-cflags: -Ibuild/nginx/src/event/modules -Ibuild/nginx/src/os/unix */
/* fuzz-cflags: -Ibuild/nginx/src/http -Ibuild/nginx/src/http/modules */
/* fuzz-cflags: -Ibuild/nginx/src/http/v2 -Ibuild/nginx/objs */
/* fuzz-cflags: -Ingx_harbor_module */

/*
 * fuzz_json.c: libFuzzer target for the module's bounded JSON scanner
 * (ngx_http_harbor_json.c) as the read path uses it
 * (ngx_http_harbor_oci_json.c): the manifest media type detector, which
 * feeds the Content-Type header, and the referrers artifactType filter,
 * which re-emits parts of a stored file.  The first byte picks:
 *
 *   even  ngx_http_harbor_manifest_type() on the rest; an accepted type
 *         must be a header-safe media type (printable, no quote, no
 *         backslash, no space, no CR/LF) that lies inside the input, the
 *         pool, or is one of the fixed strings
 *   odd   ngx_http_harbor_referrers_filter(): the second byte is the
 *         length of the artifactType filter that follows, the rest is the
 *         index; on success the output must start and end as an OCI index
 *         and filtering it again must give the same bytes (the filter is
 *         idempotent, and its output is JSON the scanner accepts)
 *
 * nginx's pool and array functions are replaced by small stubs below: every
 * allocation is its own exactly sized malloc(), so ASan sees any overrun,
 * and all are freed after each input.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_module.h"


/* the pool: a list of mallocs, freed after each input */

#define FUZZ_ALLOCS  65536

static void    *allocs[FUZZ_ALLOCS];
static size_t   nallocs;


static void *
fuzz_alloc(size_t size)
{
    void  *p;

    if (nallocs == FUZZ_ALLOCS) {
        return NULL;
    }

    p = malloc(size ? size : 1);
    if (p != NULL) {
        allocs[nallocs++] = p;
    }

    return p;
}


static void
fuzz_free_all(void)
{
    while (nallocs) {
        free(allocs[--nallocs]);
    }
}


void *
ngx_palloc(ngx_pool_t *pool, size_t size)
{
    return fuzz_alloc(size);
}


void *
ngx_pnalloc(ngx_pool_t *pool, size_t size)
{
    return fuzz_alloc(size);
}


void *
ngx_pcalloc(ngx_pool_t *pool, size_t size)
{
    void  *p;

    p = fuzz_alloc(size);
    if (p != NULL) {
        memset(p, 0, size);
    }

    return p;
}


void *
ngx_array_push(ngx_array_t *a)
{
    void  *elt, *new;

    if (a->nelts == a->nalloc) {
        new = fuzz_alloc(2 * a->size * a->nalloc);
        if (new == NULL) {
            return NULL;
        }

        memcpy(new, a->elts, a->size * a->nalloc);
        a->elts = new;
        a->nalloc *= 2;
    }

    elt = (u_char *) a->elts + a->size * a->nelts;
    a->nelts++;

    return elt;
}


static void
check(int ok, const char *what, const u_char *p, size_t len)
{
    if (ok) {
        return;
    }

    fprintf(stderr, "fuzz_json: invariant broken: %s on %zu bytes: \"",
            what, len);
    fwrite(p, 1, len > 300 ? 300 : len, stderr);
    fprintf(stderr, "\"\n");
    abort();
}


static void
fuzz_manifest(u_char *p, size_t len)
{
    size_t     i;
    ngx_str_t  type;

    if (ngx_http_harbor_manifest_type((ngx_pool_t *) 1, p, len, &type)
        != NGX_OK)
    {
        return;
    }

    check(type.len > 0 && type.len <= NGX_HTTP_HARBOR_MEDIA_TYPE_MAX
          && type.data != NULL, "type length", p, len);

    for (i = 0; i < type.len; i++) {
        check(type.data[i] > ' ' && type.data[i] < 0x7f
              && type.data[i] != '"' && type.data[i] != '\\',
              "type byte", p, len);
    }

    /* the input holds a JSON object: it starts with '{' after whitespace */
    for (i = 0; i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n'
                            || p[i] == '\r'); i++)
    {
        /* void */
    }

    check(i < len && p[i] == '{', "accepted a non-object", p, len);
}


static void
fuzz_referrers(u_char *p, size_t len)
{
    size_t     flen;
    ngx_int_t  rc;
    ngx_str_t  filter, out, again;

    static const char  head[] = "{\"schemaVersion\":2,\"mediaType\":"
                                "\"application/vnd.oci.image.index.v1+json\","
                                "\"manifests\":[";

    if (len < 1) {
        return;
    }

    flen = p[0];

    if (flen > len - 1) {
        flen = len - 1;
    }

    /* the handler passes only what parse_media_type() accepted */

    filter.data = fuzz_alloc(flen);
    if (filter.data == NULL) {
        return;
    }

    memcpy(filter.data, p + 1, flen);
    filter.len = flen;

    if (ngx_http_harbor_parse_media_type(filter.data, filter.len) != NGX_OK) {
        return;
    }

    p += 1 + flen;
    len -= 1 + flen;

    rc = ngx_http_harbor_referrers_filter((ngx_pool_t *) 1, p, len, &filter,
                                          &out);

    if (rc != NGX_OK) {
        check(rc == NGX_DECLINED || rc == NGX_ERROR, "filter rc", p, len);
        return;
    }

    check(out.len >= sizeof(head) - 1 + 2
          && memcmp(out.data, head, sizeof(head) - 1) == 0
          && out.data[out.len - 2] == ']' && out.data[out.len - 1] == '}',
          "filter output shape", out.data, out.len);

    check(out.len <= sizeof(head) - 1 + 2 + len + 1, "filter output size",
          out.data, out.len);

    rc = ngx_http_harbor_referrers_filter((ngx_pool_t *) 1, out.data, out.len,
                                          &filter, &again);

    check(rc == NGX_OK, "filter output not accepted again", out.data, out.len);

    check(again.len == out.len && memcmp(again.data, out.data, out.len) == 0,
          "filter not idempotent", out.data, out.len);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char  *p;
    size_t   len;

    if (size < 1) {
        return 0;
    }

    len = size - 1;

    /* exactly sized: one byte past the end is an ASan report */
    p = fuzz_alloc(len);
    if (p == NULL) {
        return 0;
    }

    memcpy(p, data + 1, len);

    if (data[0] % 2 == 0) {
        fuzz_manifest(p, len);

    } else {
        fuzz_referrers(p, len);
    }

    fuzz_free_all();

    return 0;
}
