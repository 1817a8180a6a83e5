/* fuzz-srcs: lib/he_oci_grammar.c */

/*
 * fuzz_grammar.c: differential libFuzzer target for the OCI grammars that
 * the nginx module and harbor-replicator share (lib/he_oci_grammar.c).
 * Every input is given to each scanner and to an independent reference:
 * POSIX extended regular expressions (glibc's regcomp/regexec) written
 * from the grammars of the OCI distribution and image specs,
 *
 *   name       [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/<the same>)*, <= 255
 *   component  [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
 *   tag        [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
 *   digest     [a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+, <= 1024;
 *              sha256:[a-f0-9]{64} and sha512:[a-f0-9]{128} are the
 *              two the edge verifies, any other sha256/sha512 is invalid
 *
 * and abort()s where the two disagree, so that a change to one scanner
 * that drifts from the spec is found, whichever way it drifts.  The input
 * is copied into an exactly sized heap buffer, so ASan also sees any read
 * past the end; regexec() gets a NUL-terminated copy, and an input with a
 * NUL byte is outside every grammar's alphabet.
 */

#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "he_oci_grammar.h"


#define COMPONENT  "[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*"


static regex_t  re_name, re_component, re_tag, re_digest, re_sha256,
                re_sha512;


static void
compile(regex_t *re, const char *pattern)
{
    char  err[256];
    int   rc;

    rc = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB);

    if (rc != 0) {
        regerror(rc, re, err, sizeof(err));
        fprintf(stderr, "fuzz_grammar: regcomp(\"%s\"): %s\n", pattern, err);
        abort();
    }
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    compile(&re_name, "^" COMPONENT "(/" COMPONENT ")*$");
    compile(&re_component, "^" COMPONENT "$");
    compile(&re_tag, "^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$");
    compile(&re_digest, "^[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$");
    compile(&re_sha256, "^sha256:[a-f0-9]{64}$");
    compile(&re_sha512, "^sha512:[a-f0-9]{128}$");

    return 0;
}


static int
matches(regex_t *re, const char *s)
{
    return regexec(re, s, 0, NULL, 0) == 0;
}


static void
differ(const char *what, long got, long want, const unsigned char *p,
    size_t len)
{
    fprintf(stderr, "fuzz_grammar: %s: scanner says %ld, reference %ld on "
            "%zu bytes: \"", what, got, want, len);
    fwrite(p, 1, len > 300 ? 300 : len, stderr);
    fprintf(stderr, "\"\n");
    abort();
}


static he_oci_digest_e
reference_digest(const char *s, size_t len)
{
    if (len > HE_OCI_DIGEST_LEN_MAX || !matches(&re_digest, s)) {
        return HE_OCI_DIGEST_INVALID;
    }

    if (strncmp(s, "sha256:", 7) == 0) {
        return matches(&re_sha256, s) ? HE_OCI_SHA256 : HE_OCI_DIGEST_INVALID;
    }

    if (strncmp(s, "sha512:", 7) == 0) {
        return matches(&re_sha512, s) ? HE_OCI_SHA512 : HE_OCI_DIGEST_INVALID;
    }

    return HE_OCI_DIGEST_OTHER;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int              ref;
    char            *s;
    size_t           alg;
    unsigned char   *p;
    he_oci_digest_e  got, want;

    /* exactly sized: one byte past the end is an ASan report */
    p = malloc(size ? size : 1);
    s = malloc(size + 1);

    if (p == NULL || s == NULL) {
        free(p);
        free(s);
        return 0;
    }

    memcpy(p, data, size);
    memcpy(s, data, size);
    s[size] = '\0';

    /* a NUL is in no alphabet: the reference refuses such an input */
    ref = (memchr(data, '\0', size) == NULL);

    want = ref && size <= HE_OCI_NAME_MAX && matches(&re_name, s);
    if (he_oci_name(p, size) != (int) want) {
        differ("name", he_oci_name(p, size), want, p, size);
    }

    want = ref && matches(&re_component, s);
    if (he_oci_component(p, size) != (int) want) {
        differ("component", he_oci_component(p, size), want, p, size);
    }

    want = ref && matches(&re_tag, s);
    if (he_oci_tag(p, size) != (int) want) {
        differ("tag", he_oci_tag(p, size), want, p, size);
    }

    want = ref ? reference_digest(s, size) : HE_OCI_DIGEST_INVALID;
    alg = (size_t) -1;
    got = he_oci_digest(p, size, &alg);

    if (got != want) {
        differ("digest", got, want, p, size);
    }

    if (got != HE_OCI_DIGEST_INVALID
        && (alg == 0 || alg >= size || p[alg] != ':'
            || memchr(p, ':', alg) != NULL))
    {
        differ("digest algorithm length", (long) alg, -1, p, size);
    }

    free(p);
    free(s);

    return 0;
}
