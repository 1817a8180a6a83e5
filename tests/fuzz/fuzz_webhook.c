/* fuzz-srcs: ngx_harbor_module/ngx_http_harbor_webhook_parse.c */
/* fuzz-srcs: ngx_harbor_module/ngx_http_harbor_json.c */
/* fuzz-srcs: lib/he_oci_grammar.c */
/* fuzz-cflags: -Ingx_harbor_module */

/*
 * libFuzzer target for the webhook and preheat payload validators.  Beyond
 * "no crash, no out-of-bounds read" (ASan), it checks the promise the
 * module relies on: whatever is accepted as a push, delete or preheat
 * carries a valid repository name, digests and tags, each NUL-terminated
 * and free of the bytes that would need escaping in the JSON line queued
 * for the replicator.
 *
 *   tests/fuzz/run.sh 60 fuzz_webhook      (or by hand:)
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined \
 *       tests/fuzz/fuzz_webhook.c \
 *       ngx_harbor_module/ngx_http_harbor_webhook_parse.c \
 *       ngx_harbor_module/ngx_http_harbor_json.c \
 *       lib/he_oci_grammar.c -Ilib -Ingx_harbor_module
 *   ./a.out tests/fuzz/corpus/fuzz_webhook
 *
 * The first input byte chooses the parser and the format hint: bit 1 set,
 * a preheat notification (ngx_http_harbor_preheat_parse); else a webhook,
 * bit 0 set meaning the request said application/cloudevents+json.  The
 * rest is the body.
 */

#include <stdlib.h>
#include <string.h>

#include "ngx_http_harbor_webhook_parse.h"


static void
fuzz_check_safe(const char *s, size_t len)
{
    size_t  i;

    if (strlen(s) != len) {
        abort();
    }

    for (i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\' || (unsigned char) s[i] < 0x20) {
            abort();
        }
    }
}


int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    size_t                               i;
    he_oci_digest_e                      dt;
    ngx_http_harbor_webhook_event_t     *ev;
    ngx_http_harbor_webhook_resource_t  *res;

    if (size == 0) {
        return 0;
    }

    ev = malloc(sizeof(ngx_http_harbor_webhook_event_t));
    if (ev == NULL) {
        return 0;
    }

    if (((data[0] & 2)
         ? ngx_http_harbor_preheat_parse(data + 1, size - 1, ev)
         : ngx_http_harbor_webhook_parse(data + 1, size - 1, data[0] & 1,
                                         ev))
        != 0)
    {
        if (ev->err[0] == '\0') {
            abort();
        }

        fuzz_check_safe(ev->err, strlen(ev->err));
        free(ev);
        return 0;
    }

    if (ev->kind == NGX_HTTP_HARBOR_WEBHOOK_IGNORED) {
        if (data[0] & 2) {
            abort();        /* a preheat is queued or refused, never ignored */
        }

        free(ev);
        return 0;
    }

    if (!he_oci_name((unsigned char *) ev->repository, ev->repository_len)
        || ev->nresources == 0
        || ev->nresources > NGX_HTTP_HARBOR_WEBHOOK_RESOURCES_MAX)
    {
        abort();
    }

    fuzz_check_safe(ev->repository, ev->repository_len);

    for (i = 0; i < ev->nresources; i++) {
        res = &ev->resources[i];

        dt = he_oci_digest((unsigned char *) res->digest, res->digest_len,
                           NULL);

        if (dt != HE_OCI_SHA256 && dt != HE_OCI_SHA512) {
            abort();
        }

        fuzz_check_safe(res->digest, res->digest_len);

        if (res->tag_len
            && !he_oci_tag((unsigned char *) res->tag, res->tag_len))
        {
            abort();
        }

        fuzz_check_safe(res->tag, res->tag_len);
    }

    free(ev);

    return 0;
}
