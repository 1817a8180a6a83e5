
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * ngx_http_harbor_jwt.h: verification of the JWTs that Harbor's token
 * service issues (RS256, or ES256 for other token services), as plain C
 * over OpenSSL with no nginx dependency, so that the unit tests and the
 * fuzzer link it alone.
 *
 * Nothing here allocates except key loading: a verification works in a
 * buffer the caller supplies (at least as large as the token), and the
 * claims it returns point into that buffer.
 */


#ifndef _NGX_HTTP_HARBOR_JWT_H_INCLUDED_
#define _NGX_HTTP_HARBOR_JWT_H_INCLUDED_


#include <stddef.h>
#include <time.h>
#include <openssl/evp.h>


/* larger Authorization values are refused before any decoding */
#define NGX_HTTP_HARBOR_JWT_MAX_SIZE   8192

/* keys kept from one harbor_token_cert bundle */
#define NGX_HTTP_HARBOR_JWT_MAX_KEYS   16

/* libtrust key id: 12 groups of 4 base32 characters joined by ':' */
#define NGX_HTTP_HARBOR_JWT_KID_LEN    59

/* nesting allowed in the header and claims before we refuse them */
#define NGX_HTTP_HARBOR_JWT_MAX_DEPTH  16


typedef enum {
    NGX_HTTP_HARBOR_JWT_OK = 0,
    NGX_HTTP_HARBOR_JWT_TOO_LARGE,
    NGX_HTTP_HARBOR_JWT_MALFORMED,
    NGX_HTTP_HARBOR_JWT_BAD_BASE64,
    NGX_HTTP_HARBOR_JWT_BAD_HEADER,
    NGX_HTTP_HARBOR_JWT_BAD_CLAIMS,
    NGX_HTTP_HARBOR_JWT_BAD_ALG,
    NGX_HTTP_HARBOR_JWT_NO_KEY,
    NGX_HTTP_HARBOR_JWT_BAD_SIGNATURE,
    NGX_HTTP_HARBOR_JWT_EXPIRED,
    NGX_HTTP_HARBOR_JWT_NOT_YET_VALID,
    NGX_HTTP_HARBOR_JWT_BAD_ISSUER,
    NGX_HTTP_HARBOR_JWT_BAD_AUDIENCE,
    NGX_HTTP_HARBOR_JWT_INTERNAL
} ngx_http_harbor_jwt_rc_e;


typedef enum {
    NGX_HTTP_HARBOR_JWT_RS256 = 1,
    NGX_HTTP_HARBOR_JWT_ES256
} ngx_http_harbor_jwt_alg_e;


typedef struct {
    EVP_PKEY                   *pkey;
    ngx_http_harbor_jwt_alg_e   alg;     /* the only algorithm this key does */
    char                        kid[NGX_HTTP_HARBOR_JWT_KID_LEN + 1];
} ngx_http_harbor_jwt_key_t;


/*
 * Tokens whose signature held, remembered by the sha256 of the whole token
 * so that a client sending the same token again costs a hash, not an RSA
 * or ECDSA verification.  Direct-mapped, per key set (a token verified
 * with one harbor_token_cert is never trusted under another), and per
 * process: after fork each nginx worker writes its own copy.  Only the
 * signature is remembered; header, claims, times and access are checked
 * on every request, so nothing refused can pass through it.
 */
#define NGX_HTTP_HARBOR_JWT_CACHE_SLOTS  1024


typedef struct {
    size_t                      nkeys;
    ngx_http_harbor_jwt_key_t   keys[NGX_HTTP_HARBOR_JWT_MAX_KEYS];
    unsigned char              *cache;   /* slots * 32 bytes, or NULL */
    size_t                      cache_slots;
    unsigned long               cache_hits;
    unsigned long               cache_misses;
} ngx_http_harbor_jwt_keys_t;


typedef struct {
    const char                 *issuer;    /* NUL-terminated */
    const char                 *audience;  /* NUL-terminated (the service) */
    long long                   now;
    long long                   leeway;    /* seconds, for exp and nbf */
} ngx_http_harbor_jwt_opts_t;


typedef struct {
    /* raw JSON text of the "access" array (or NULL), inside the work buf */
    const unsigned char        *access;
    size_t                      access_len;
    /* raw (still escaped) contents of "sub", for logs; may be NULL */
    const unsigned char        *sub;
    size_t                      sub_len;
    long long                   exp;
    long long                   nbf;
    ngx_http_harbor_jwt_alg_e   alg;
} ngx_http_harbor_jwt_claims_t;


/*
 * Loads every CERTIFICATE and PUBLIC KEY block of a PEM text: RSA keys of
 * at least 2048 bits (RS256) and P-256 keys (ES256).  Any other key, a
 * private key block, or no usable key at all is an error written to err.
 * cache_slots is the size of the signature cache (0: none).  Returns 0 or
 * -1; on -1 nothing is left allocated.
 */
int ngx_http_harbor_jwt_keys_load(ngx_http_harbor_jwt_keys_t *keys,
    const unsigned char *pem, size_t len, size_t cache_slots, char *err,
    size_t errlen);
void ngx_http_harbor_jwt_keys_free(ngx_http_harbor_jwt_keys_t *keys);

/*
 * Verifies the compact JWS token[0..len) with the keys and opts.  work must
 * hold at least len bytes; on NGX_HTTP_HARBOR_JWT_OK the claims point into
 * it.  Never reads outside token and work.
 */
ngx_http_harbor_jwt_rc_e ngx_http_harbor_jwt_verify(
    ngx_http_harbor_jwt_keys_t *keys,
    const ngx_http_harbor_jwt_opts_t *opts, const unsigned char *token,
    size_t len, unsigned char *work, size_t worklen,
    ngx_http_harbor_jwt_claims_t *claims);

/*
 * 1 if the verified claims grant action on the resource type:name (an
 * "actions" entry equal to action, or "*"), 0 otherwise.
 */
int ngx_http_harbor_jwt_grants(const ngx_http_harbor_jwt_claims_t *claims,
    const char *type, const unsigned char *name, size_t name_len,
    const char *action);

/*
 * The readers of the header and the claims, exposed for the unit tests
 * and the fuzzer:
 * verify() calls them on the decoded parts (the claims only after the
 * signature holds).  parse_header returns 0, -1 (bad header) or -2 (an
 * algorithm we do not accept).
 */
int ngx_http_harbor_jwt_parse_header(const unsigned char *p, size_t len,
    ngx_http_harbor_jwt_alg_e *alg);
ngx_http_harbor_jwt_rc_e ngx_http_harbor_jwt_parse_claims(
    const ngx_http_harbor_jwt_opts_t *opts, const unsigned char *p,
    size_t len, ngx_http_harbor_jwt_claims_t *claims);

/* a short reason for logs: "expired", "bad signature", ... */
const char *ngx_http_harbor_jwt_strerror(ngx_http_harbor_jwt_rc_e rc);

/* strict unpadded base64url; returns the decoded length or -1 */
long ngx_http_harbor_jwt_b64url_decode(const unsigned char *in, size_t len,
    unsigned char *out, size_t outlen);


#endif /* _NGX_HTTP_HARBOR_JWT_H_INCLUDED_ */
