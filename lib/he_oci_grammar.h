
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * he_oci_grammar.h: the OCI distribution grammars that the nginx module
 * and harbor-replicator both apply (distribution's reference package, the
 * OCI distribution spec): repository name, path component, tag, digest.
 * One definition for both programs, so the edge never serves a name the
 * replicator would refuse to write, nor the other way round.
 *
 * Plain C over (pointer, length): no allocation, no NUL termination
 * assumed, no nginx or libc dependency, so both builds and the fuzzers
 * compile the same file.
 */


#ifndef _HE_OCI_GRAMMAR_H_INCLUDED_
#define _HE_OCI_GRAMMAR_H_INCLUDED_


#include <stddef.h>


/* a repository name, all components and slashes */
#define HE_OCI_NAME_MAX        255

#define HE_OCI_TAG_MAX         128

/* "sha256:" and 64 hex digits; "sha512:" and 128 */
#define HE_OCI_SHA256_LEN      71
#define HE_OCI_SHA512_LEN      135

/* longer than any digest of any algorithm a registry could route */
#define HE_OCI_DIGEST_LEN_MAX  1024


typedef enum {
    HE_OCI_DIGEST_INVALID = 0,
    HE_OCI_SHA256,
    HE_OCI_SHA512,
    HE_OCI_DIGEST_OTHER         /* well formed, another algorithm */
} he_oci_digest_e;


/* 1 when p[0..len) is valid, 0 when not */
int he_oci_name(const unsigned char *p, size_t len);
int he_oci_component(const unsigned char *p, size_t len);
int he_oci_tag(const unsigned char *p, size_t len);

/*
 * What the digest p[0..len) is; sha256 and sha512 need exactly 64 and 128
 * lowercase hex digits.  *alg_len (when not NULL) is the length of the
 * algorithm, before the ':', for any result but INVALID.
 */
he_oci_digest_e he_oci_digest(const unsigned char *p, size_t len,
    size_t *alg_len);


#endif /* _HE_OCI_GRAMMAR_H_INCLUDED_ */
