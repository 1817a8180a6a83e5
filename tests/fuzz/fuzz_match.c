/*
 * fuzz_match.c: hr_match() on hostile patterns and names.
 * Input: pattern, '\n', name (no '\n': the whole input is the pattern and
 * the name is empty).  Checks: no crash, no slow input (run.sh sets
 * -timeout), a pattern hr_match_check() refuses never matches, and a
 * pattern with every byte escaped matches exactly its own text.
 *
 * fuzz-srcs: replicator/match.c
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "match.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          rc;
    char        *buf, *pat, *name, *nl, *esc;
    size_t       i, n, plen;

    buf = malloc(size + 1);
    if (buf == NULL) {
        return 0;
    }

    memcpy(buf, data, size);
    buf[size] = '\0';

    pat = buf;
    nl = memchr(buf, '\n', size);
    name = (nl != NULL) ? nl + 1 : buf + size;
    if (nl != NULL) {
        *nl = '\0';
    }

    rc = hr_match(pat, name);

    if (hr_match_check(pat) != 0 && rc != -1) {
        abort();
    }

    /* escape every byte of a name without '/', '\\' or NUL: an exact match */
    plen = strlen(name);
    if (plen > 0 && plen < 512 && strpbrk(name, "/\\") == NULL) {
        esc = malloc(plen * 2 + 1);
        if (esc != NULL) {
            for (i = 0, n = 0; i < plen; i++) {
                esc[n++] = '\\';
                esc[n++] = name[i];
            }
            esc[n] = '\0';

            rc = hr_match(esc, name);

            /* an escaped invalid or U+FFFD rune is a bad pattern in Go */
            if (rc == 0) {
                abort();
            }

            free(esc);
        }
    }

    free(buf);
    return 0;
}
