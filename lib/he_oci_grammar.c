
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * The OCI grammars, as the distribution spec writes them:
 *
 *   name       component ("/" component)*, at most 255 bytes
 *   component  [a-z0-9]+ (separator [a-z0-9]+)*
 *   separator  "." | "_" | "__" | "-"+
 *   tag        [a-zA-Z0-9_] [a-zA-Z0-9._-]{0,127}
 *   digest     algorithm ":" encoded
 *   algorithm  [a-z0-9]+ ([+._-] [a-z0-9]+)*
 *   encoded    [a-zA-Z0-9=_-]+
 *
 * Each is a hand-written scanner with an explicit end check.  Nothing a
 * client or a primary sends reaches a path in the store, in either
 * program, before it has passed one of these: no "..", no "//", no "%",
 * no NUL, no byte outside the alphabets above.  tests/fuzz/fuzz_grammar.c
 * holds them against POSIX regular expressions of the same grammars.
 */


#include "he_oci_grammar.h"


#define he_oci_lower_alnum(c)                                                 \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= '0' && (c) <= '9'))

#define he_oci_alnum(c)                                                       \
    (he_oci_lower_alnum(c) || ((c) >= 'A' && (c) <= 'Z'))

#define he_oci_lower_hex(c)                                                   \
    (((c) >= 'a' && (c) <= 'f') || ((c) >= '0' && (c) <= '9'))


static size_t he_oci_component_len(const unsigned char *p, size_t len);


/*
 * The length of the component that starts p[0..len): it ends at len or at
 * the first byte that cannot continue it ('/' in a name).  0 when p does
 * not start with one, or a separator is not followed by [a-z0-9].
 */

static size_t
he_oci_component_len(const unsigned char *p, size_t len)
{
    size_t  i;

    i = 0;

    for ( ;; ) {
        if (i == len || !he_oci_lower_alnum(p[i])) {
            return 0;
        }

        while (i < len && he_oci_lower_alnum(p[i])) {
            i++;
        }

        if (i == len) {
            return i;
        }

        switch (p[i]) {

        case '.':
            i++;
            break;

        case '_':
            i++;

            if (i < len && p[i] == '_') {
                i++;
            }

            break;

        case '-':
            while (i < len && p[i] == '-') {
                i++;
            }

            break;

        default:
            return i;
        }
    }
}


int
he_oci_component(const unsigned char *p, size_t len)
{
    return len > 0 && he_oci_component_len(p, len) == len;
}


int
he_oci_name(const unsigned char *p, size_t len)
{
    size_t  i, n;

    if (len == 0 || len > HE_OCI_NAME_MAX) {
        return 0;
    }

    i = 0;

    for ( ;; ) {
        /* after a slash, a component must follow: no "//", no trailing */

        n = he_oci_component_len(p + i, len - i);

        if (n == 0) {
            return 0;
        }

        i += n;

        if (i == len) {
            return 1;
        }

        if (p[i] != '/') {
            return 0;
        }

        i++;
    }
}


int
he_oci_tag(const unsigned char *p, size_t len)
{
    size_t  i;

    if (len == 0 || len > HE_OCI_TAG_MAX) {
        return 0;
    }

    if (!he_oci_alnum(p[0]) && p[0] != '_') {
        return 0;
    }

    for (i = 1; i < len; i++) {
        if (!he_oci_alnum(p[i]) && p[i] != '_' && p[i] != '.' && p[i] != '-')
        {
            return 0;
        }
    }

    return 1;
}


he_oci_digest_e
he_oci_digest(const unsigned char *p, size_t len, size_t *alg_len)
{
    size_t  i, alg, hex;

    if (len == 0 || len > HE_OCI_DIGEST_LEN_MAX) {
        return HE_OCI_DIGEST_INVALID;
    }

    /* the algorithm: alphanumeric runs joined by one separator each */

    i = 0;

    for ( ;; ) {
        if (i == len || !he_oci_lower_alnum(p[i])) {
            return HE_OCI_DIGEST_INVALID;
        }

        while (i < len && he_oci_lower_alnum(p[i])) {
            i++;
        }

        if (i < len
            && (p[i] == '+' || p[i] == '.' || p[i] == '_' || p[i] == '-'))
        {
            i++;
            continue;
        }

        break;
    }

    if (i == len || p[i] != ':' || i + 1 == len) {
        return HE_OCI_DIGEST_INVALID;
    }

    alg = i++;

    /* the encoded part; hex counts the bytes that are lowercase hex */

    for (hex = 0; i < len; i++) {
        if (he_oci_lower_hex(p[i])) {
            hex++;
            continue;
        }

        if (!he_oci_alnum(p[i]) && p[i] != '=' && p[i] != '_' && p[i] != '-')
        {
            return HE_OCI_DIGEST_INVALID;
        }
    }

    if (alg_len != NULL) {
        *alg_len = alg;
    }

    if (alg == 6 && p[0] == 's' && p[1] == 'h' && p[2] == 'a') {

        if (p[3] == '2' && p[4] == '5' && p[5] == '6') {
            return (len == HE_OCI_SHA256_LEN && hex == 64)
                   ? HE_OCI_SHA256 : HE_OCI_DIGEST_INVALID;
        }

        if (p[3] == '5' && p[4] == '1' && p[5] == '2') {
            return (len == HE_OCI_SHA512_LEN && hex == 128)
                   ? HE_OCI_SHA512 : HE_OCI_DIGEST_INVALID;
        }
    }

    return HE_OCI_DIGEST_OTHER;
}
