/*
 * fuzz_wwwauth.c: hr_wwwauth_parse() on arbitrary header values (not
 * NUL-terminated: the input buffer is used as it is, so ASan sees any read
 * past its end).  Checks: on success every field is NUL-terminated within
 * its array and a Bearer challenge has a realm.
 *
 * fuzz-srcs: replicator/wwwauth.c
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wwwauth.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hr_wwwauth_t  wa;

    if (hr_wwwauth_parse(&wa, (const char *) data, size) != 0) {
        if (wa.scheme != HR_AUTH_NONE) {
            abort();
        }
        return 0;
    }

    if (memchr(wa.realm, '\0', sizeof(wa.realm)) == NULL
        || memchr(wa.service, '\0', sizeof(wa.service)) == NULL
        || memchr(wa.scope, '\0', sizeof(wa.scope)) == NULL
        || memchr(wa.error, '\0', sizeof(wa.error)) == NULL
        || wa.scheme == HR_AUTH_NONE
        || (wa.scheme == HR_AUTH_BEARER && wa.realm[0] == '\0'))
    {
        abort();
    }

    return 0;
}
