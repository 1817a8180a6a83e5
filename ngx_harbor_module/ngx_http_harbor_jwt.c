
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * ngx_http_harbor_jwt.c: verifies the bearer tokens of Harbor's token
 * service at the edge, without calling the primary.
 *
 * A token is a compact JWS: base64url(header) "." base64url(claims) "."
 * base64url(signature).  Harbor signs with RS256 and the key of the cert
 * that the registry trusts (root.crt); other token services may use ES256.
 * We accept exactly those two, each only with a key of its own type, so
 * "none", HS256 with the public key as the secret, or an ES256 header with
 * an RSA key can never verify.  Keys come from the configuration only:
 * "kid" picks among them, "jwk", "jku" and "x5c" are never used.
 *
 * The JSON is read by the module's one bounded scanner
 * (ngx_http_harbor_json.c), strictly: the whole text is checked, UTF-8
 * too, nesting deeper than NGX_HTTP_HARBOR_JWT_MAX_DEPTH is refused, and
 * here a duplicated claim that we read is refused, so that no other
 * parser can see a different token than we do.  The signature is checked
 * before the claims are read at all.
 *
 * No nginx dependency: the unit tests and the fuzzer link this file and
 * the scanner alone.
 */


#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "ngx_http_harbor_jwt.h"
#include "ngx_http_harbor_json.h"


typedef unsigned char  u_char;


/* NGX_HTTP_HARBOR_JWT_MAX_DEPTH levels inside the top object */
#define NGX_HTTP_HARBOR_JWT_JSON_DEPTH  (NGX_HTTP_HARBOR_JWT_MAX_DEPTH + 1)


/* the members we read, each at most once in its object */
#define NGX_HTTP_HARBOR_JWT_ALG      0x0001
#define NGX_HTTP_HARBOR_JWT_KID      0x0002
#define NGX_HTTP_HARBOR_JWT_ISS      0x0004
#define NGX_HTTP_HARBOR_JWT_AUD      0x0008
#define NGX_HTTP_HARBOR_JWT_EXP      0x0010
#define NGX_HTTP_HARBOR_JWT_NBF      0x0020
#define NGX_HTTP_HARBOR_JWT_IAT      0x0040
#define NGX_HTTP_HARBOR_JWT_SUB      0x0080
#define NGX_HTTP_HARBOR_JWT_ACCESS   0x0100
#define NGX_HTTP_HARBOR_JWT_TYPE     0x0200
#define NGX_HTTP_HARBOR_JWT_NAME     0x0400
#define NGX_HTTP_HARBOR_JWT_ACTIONS  0x0800


static int ngx_http_harbor_jwt_key_add(ngx_http_harbor_jwt_keys_t *keys,
    EVP_PKEY *pkey, char *err, size_t errlen);
static int ngx_http_harbor_jwt_kid(EVP_PKEY *pkey, char *kid);
static int ngx_http_harbor_jwt_header(const u_char *p, size_t len,
    ngx_http_harbor_jwt_alg_e *alg, ngx_http_harbor_json_str_t *kid);
static int ngx_http_harbor_jwt_try_keys(ngx_http_harbor_jwt_keys_t *keys,
    ngx_http_harbor_jwt_alg_e alg, const ngx_http_harbor_json_str_t *kid,
    const u_char *in, size_t inlen, const u_char *sig, size_t siglen,
    size_t *tried);
static int ngx_http_harbor_jwt_check_sig(const ngx_http_harbor_jwt_key_t *key,
    const u_char *in, size_t inlen, const u_char *sig, size_t siglen);
static int ngx_http_harbor_jwt_audience(ngx_http_harbor_json_t *j,
    const char *audience, int *ok);
static int ngx_http_harbor_jwt_strings(ngx_http_harbor_json_t *j,
    const char *lit, int star, int *ok);
static int ngx_http_harbor_jwt_date(ngx_http_harbor_json_t *j,
    long long *v);
static int ngx_http_harbor_jwt_str_is(const ngx_http_harbor_json_str_t *s,
    const char *lit);
static int ngx_http_harbor_jwt_once(unsigned *seen, unsigned member);
static int ngx_http_harbor_jwt_grants_entry(ngx_http_harbor_json_t *j,
    const char *type, const u_char *name, size_t name_len,
    const char *action);


static const char  *ngx_http_harbor_jwt_errors[] = {
    "ok",
    "token too large",
    "malformed token",
    "bad base64url",
    "bad header",
    "bad claims",
    "algorithm not accepted",
    "no key for the algorithm",
    "bad signature",
    "expired",
    "not yet valid",
    "wrong issuer",
    "wrong audience",
    "internal error"
};


const char *
ngx_http_harbor_jwt_strerror(ngx_http_harbor_jwt_rc_e rc)
{
    if ((size_t) rc >= sizeof(ngx_http_harbor_jwt_errors)
                       / sizeof(ngx_http_harbor_jwt_errors[0]))
    {
        return "unknown error";
    }

    return ngx_http_harbor_jwt_errors[rc];
}


/* keys */


int
ngx_http_harbor_jwt_keys_load(ngx_http_harbor_jwt_keys_t *keys,
    const u_char *pem, size_t len, size_t cache_slots, char *err,
    size_t errlen)
{
    BIO            *bio;
    long            dlen;
    char           *name, *header;
    X509           *x;
    EVP_PKEY       *pkey;
    const u_char   *p;
    unsigned char  *data;

    memset(keys, 0, sizeof(ngx_http_harbor_jwt_keys_t));

    if (len > 1024 * 1024) {
        snprintf(err, errlen, "certificate file larger than 1 MiB");
        return -1;
    }

    bio = BIO_new_mem_buf(pem, (int) len);
    if (bio == NULL) {
        snprintf(err, errlen, "BIO_new_mem_buf() failed");
        return -1;
    }

    for ( ;; ) {
        name = NULL;
        header = NULL;
        data = NULL;

        if (PEM_read_bio(bio, &name, &header, &data, &dlen) != 1) {
            /* the end of the text, or a broken block after the last one */
            ERR_clear_error();
            break;
        }

        pkey = NULL;
        p = data;

        if (strcmp(name, "CERTIFICATE") == 0
            || strcmp(name, "TRUSTED CERTIFICATE") == 0)
        {
            x = (name[0] == 'C') ? d2i_X509(NULL, &p, dlen)
                                 : d2i_X509_AUX(NULL, &p, dlen);
            if (x == NULL) {
                snprintf(err, errlen, "bad certificate in PEM text");
                goto failed;
            }

            pkey = X509_get_pubkey(x);
            X509_free(x);

            if (pkey == NULL) {
                snprintf(err, errlen, "no public key in certificate");
                goto failed;
            }

        } else if (strcmp(name, "PUBLIC KEY") == 0) {
            pkey = d2i_PUBKEY(NULL, &p, dlen);
            if (pkey == NULL) {
                snprintf(err, errlen, "bad public key in PEM text");
                goto failed;
            }

        } else if (strstr(name, "PRIVATE KEY") != NULL) {
            snprintf(err, errlen, "a private key has no place here, "
                     "give the certificate");
            goto failed;
        }

        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);

        if (pkey == NULL) {
            /* other blocks (parameters, CRLs) are not ours to judge */
            continue;
        }

        if (ngx_http_harbor_jwt_key_add(keys, pkey, err, errlen) != 0) {
            EVP_PKEY_free(pkey);
            BIO_free(bio);
            ngx_http_harbor_jwt_keys_free(keys);
            return -1;
        }
    }

    BIO_free(bio);

    if (keys->nkeys == 0) {
        snprintf(err, errlen, "no certificate or public key found");
        return -1;
    }

    if (cache_slots > 0) {
        keys->cache = OPENSSL_zalloc(cache_slots * SHA256_DIGEST_LENGTH);
        if (keys->cache == NULL) {
            snprintf(err, errlen, "cannot allocate the token cache");
            ngx_http_harbor_jwt_keys_free(keys);
            return -1;
        }

        keys->cache_slots = cache_slots;
    }

    return 0;

failed:

    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    BIO_free(bio);
    ERR_clear_error();
    ngx_http_harbor_jwt_keys_free(keys);

    return -1;
}


static int
ngx_http_harbor_jwt_key_add(ngx_http_harbor_jwt_keys_t *keys, EVP_PKEY *pkey,
    char *err, size_t errlen)
{
    int                         bits;
    char                        group[64];
    size_t                      glen;
    ngx_http_harbor_jwt_key_t  *key;

    if (keys->nkeys == NGX_HTTP_HARBOR_JWT_MAX_KEYS) {
        snprintf(err, errlen, "more than %d keys",
                 NGX_HTTP_HARBOR_JWT_MAX_KEYS);
        return -1;
    }

    key = &keys->keys[keys->nkeys];

    switch (EVP_PKEY_get_base_id(pkey)) {

    case EVP_PKEY_RSA:
        bits = EVP_PKEY_get_bits(pkey);
        if (bits < 2048) {
            snprintf(err, errlen, "RSA key of %d bits, at least 2048 needed",
                     bits);
            return -1;
        }

        key->alg = NGX_HTTP_HARBOR_JWT_RS256;
        break;

    case EVP_PKEY_EC:
        if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen) != 1
            || strcmp(group, "prime256v1") != 0)
        {
            ERR_clear_error();
            snprintf(err, errlen, "EC key not on P-256, ES256 needs P-256");
            return -1;
        }

        key->alg = NGX_HTTP_HARBOR_JWT_ES256;
        break;

    default:
        snprintf(err, errlen, "key type not RSA or EC P-256");
        return -1;
    }

    if (ngx_http_harbor_jwt_kid(pkey, key->kid) != 0) {
        snprintf(err, errlen, "cannot compute the key id");
        return -1;
    }

    key->pkey = pkey;
    keys->nkeys++;

    return 0;
}


/*
 * The libtrust key id that Harbor writes in "kid": sha256 of the DER
 * SubjectPublicKeyInfo, first 30 bytes in base32, 12 groups of 4.
 */

static int
ngx_http_harbor_jwt_kid(EVP_PKEY *pkey, char *kid)
{
    int             n, i, bit, v;
    char           *k;
    u_char         *der, *p;
    unsigned int    hlen;
    unsigned char   hash[EVP_MAX_MD_SIZE];
    static const char  alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

    n = i2d_PUBKEY(pkey, NULL);
    if (n <= 0) {
        return -1;
    }

    der = OPENSSL_malloc(n);
    if (der == NULL) {
        return -1;
    }

    p = der;
    if (i2d_PUBKEY(pkey, &p) != n
        || EVP_Digest(der, n, hash, &hlen, EVP_sha256(), NULL) != 1)
    {
        OPENSSL_free(der);
        return -1;
    }

    OPENSSL_free(der);

    /* 30 bytes are 240 bits: exactly 48 base32 characters */

    k = kid;

    for (i = 0; i < 48; i++) {
        if (i > 0 && i % 4 == 0) {
            *k++ = ':';
        }

        bit = i * 5;
        v = (hash[bit / 8] << 8) | (bit / 8 + 1 < 30 ? hash[bit / 8 + 1] : 0);
        v = (v >> (11 - bit % 8)) & 0x1f;
        *k++ = alphabet[v];
    }

    *k = '\0';

    return 0;
}


void
ngx_http_harbor_jwt_keys_free(ngx_http_harbor_jwt_keys_t *keys)
{
    size_t  i;

    for (i = 0; i < keys->nkeys; i++) {
        EVP_PKEY_free(keys->keys[i].pkey);
        keys->keys[i].pkey = NULL;
    }

    keys->nkeys = 0;

    OPENSSL_free(keys->cache);
    keys->cache = NULL;
    keys->cache_slots = 0;
}


/* base64url */


long
ngx_http_harbor_jwt_b64url_decode(const u_char *in, size_t len, u_char *out,
    size_t outlen)
{
    size_t    i, n;
    u_char    c;
    uint32_t  acc, v;
    int       bits;

    if (len % 4 == 1 || len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0) > outlen) {
        return -1;
    }

    acc = 0;
    bits = 0;
    n = 0;

    for (i = 0; i < len; i++) {
        c = in[i];

        if (c >= 'A' && c <= 'Z') {
            v = c - 'A';

        } else if (c >= 'a' && c <= 'z') {
            v = c - 'a' + 26;

        } else if (c >= '0' && c <= '9') {
            v = c - '0' + 52;

        } else if (c == '-') {
            v = 62;

        } else if (c == '_') {
            v = 63;

        } else {
            /* '=' padding too: RFC 7515 tokens have none */
            return -1;
        }

        acc = (acc << 6) | v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            out[n++] = (u_char) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }

    /* leftover bits must be zero: one encoding per value */
    if (acc != 0) {
        return -1;
    }

    return (long) n;
}


/* verification */


ngx_http_harbor_jwt_rc_e
ngx_http_harbor_jwt_verify(ngx_http_harbor_jwt_keys_t *keys,
    const ngx_http_harbor_jwt_opts_t *opts, const u_char *token, size_t len,
    u_char *work, size_t worklen, ngx_http_harbor_jwt_claims_t *claims)
{
    int                         ok;
    long                        hlen, clen, slen;
    size_t                      i, tried, dot1, dot2;
    u_char                     *hdr, *cl, *sig, *slot;
    u_char                      hash[SHA256_DIGEST_LENGTH];
    ngx_http_harbor_json_str_t  kid;
    ngx_http_harbor_jwt_alg_e   alg;
    ngx_http_harbor_jwt_rc_e    rc;

    memset(claims, 0, sizeof(ngx_http_harbor_jwt_claims_t));

    if (len > NGX_HTTP_HARBOR_JWT_MAX_SIZE) {
        return NGX_HTTP_HARBOR_JWT_TOO_LARGE;
    }

    if (worklen < len) {
        return NGX_HTTP_HARBOR_JWT_INTERNAL;
    }

    /* exactly three non-empty parts */

    dot1 = 0;
    dot2 = 0;

    for (i = 0; i < len; i++) {
        if (token[i] != '.') {
            continue;
        }

        if (dot1 == 0) {
            dot1 = i;

        } else if (dot2 == 0) {
            dot2 = i;

        } else {
            return NGX_HTTP_HARBOR_JWT_MALFORMED;
        }
    }

    if (dot1 == 0 || dot2 == 0 || dot2 == dot1 + 1 || dot2 + 1 == len) {
        return NGX_HTTP_HARBOR_JWT_MALFORMED;
    }

    /* the decoded parts together are shorter than the token */

    hdr = work;
    hlen = ngx_http_harbor_jwt_b64url_decode(token, dot1, hdr, worklen);
    if (hlen < 0) {
        return NGX_HTTP_HARBOR_JWT_BAD_BASE64;
    }

    cl = hdr + hlen;
    clen = ngx_http_harbor_jwt_b64url_decode(token + dot1 + 1,
                                             dot2 - dot1 - 1, cl,
                                             worklen - hlen);
    if (clen < 0) {
        return NGX_HTTP_HARBOR_JWT_BAD_BASE64;
    }

    sig = cl + clen;
    slen = ngx_http_harbor_jwt_b64url_decode(token + dot2 + 1,
                                             len - dot2 - 1, sig,
                                             worklen - hlen - clen);
    if (slen < 0) {
        return NGX_HTTP_HARBOR_JWT_BAD_BASE64;
    }

    switch (ngx_http_harbor_jwt_header(hdr, hlen, &alg, &kid)) {
    case 0:
        break;
    case -2:
        return NGX_HTTP_HARBOR_JWT_BAD_ALG;
    default:
        return NGX_HTTP_HARBOR_JWT_BAD_HEADER;
    }

    /* the same bytes whose signature held before, under these keys */

    slot = NULL;

    if (keys->cache != NULL) {
        if (EVP_Digest(token, len, hash, NULL, EVP_sha256(), NULL) != 1) {
            return NGX_HTTP_HARBOR_JWT_INTERNAL;
        }

        slot = keys->cache
               + ((hash[0] | (hash[1] << 8) | ((size_t) hash[2] << 16))
                  % keys->cache_slots) * SHA256_DIGEST_LENGTH;

        if (CRYPTO_memcmp(slot, hash, SHA256_DIGEST_LENGTH) == 0) {
            keys->cache_hits++;
            goto verified;
        }

        keys->cache_misses++;
    }

    /*
     * A "kid" naming one of our keys selects it; an unknown or absent kid
     * lets every key of the algorithm's type try.
     */

    tried = 0;
    ok = 0;

    if (kid.data != NULL) {
        ok = ngx_http_harbor_jwt_try_keys(keys, alg, &kid, token, dot2, sig,
                                          slen, &tried);
    }

    if (tried == 0) {
        ok = ngx_http_harbor_jwt_try_keys(keys, alg, NULL, token, dot2, sig,
                                          slen, &tried);
    }

    if (!ok) {
        return (tried == 0) ? NGX_HTTP_HARBOR_JWT_NO_KEY
                            : NGX_HTTP_HARBOR_JWT_BAD_SIGNATURE;
    }

    if (slot != NULL) {
        memcpy(slot, hash, SHA256_DIGEST_LENGTH);
    }

verified:

    rc = ngx_http_harbor_jwt_parse_claims(opts, cl, clen, claims);
    claims->alg = alg;

    return rc;
}


/*
 * Tries the keys of the algorithm, only those whose key id is kid when
 * kid is given, on the signature: 1 when one holds; *tried counts the
 * keys tried.
 */

static int
ngx_http_harbor_jwt_try_keys(ngx_http_harbor_jwt_keys_t *keys,
    ngx_http_harbor_jwt_alg_e alg, const ngx_http_harbor_json_str_t *kid,
    const u_char *in, size_t inlen, const u_char *sig, size_t siglen,
    size_t *tried)
{
    size_t                      i;
    ngx_http_harbor_jwt_key_t  *key;

    for (i = 0; i < keys->nkeys; i++) {
        key = &keys->keys[i];

        if (key->alg != alg
            || (kid != NULL
                && (strlen(key->kid) != kid->len
                    || memcmp(key->kid, kid->data, kid->len) != 0)))
        {
            continue;
        }

        (*tried)++;

        if (ngx_http_harbor_jwt_check_sig(key, in, inlen, sig, siglen) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
ngx_http_harbor_jwt_check_sig(const ngx_http_harbor_jwt_key_t *key,
    const u_char *in, size_t inlen, const u_char *sig, size_t siglen)
{
    int          rc, n;
    u_char      *p;
    BIGNUM      *br, *bs;
    ECDSA_SIG   *es;
    EVP_MD_CTX  *md;
    u_char       der[80];

    if (key->alg == NGX_HTTP_HARBOR_JWT_RS256) {
        if ((int) siglen != EVP_PKEY_get_size(key->pkey)) {
            return -1;
        }

    } else {
        /* JWS ES256 signatures are r || s, 32 bytes each, not DER */

        if (siglen != 64) {
            return -1;
        }

        es = ECDSA_SIG_new();
        br = BN_bin2bn(sig, 32, NULL);
        bs = BN_bin2bn(sig + 32, 32, NULL);

        if (es == NULL || br == NULL || bs == NULL
            || ECDSA_SIG_set0(es, br, bs) != 1)
        {
            ECDSA_SIG_free(es);
            BN_free(br);
            BN_free(bs);
            return -1;
        }

        n = i2d_ECDSA_SIG(es, NULL);
        if (n <= 0 || n > (int) sizeof(der)) {
            ECDSA_SIG_free(es);
            return -1;
        }

        p = der;
        n = i2d_ECDSA_SIG(es, &p);
        ECDSA_SIG_free(es);

        if (n <= 0) {
            return -1;
        }

        sig = der;
        siglen = n;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return -1;
    }

    rc = -1;

    if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key->pkey) == 1
        && EVP_DigestVerify(md, sig, siglen, in, inlen) == 1)
    {
        rc = 0;
    }

    EVP_MD_CTX_free(md);
    ERR_clear_error();

    return rc;
}


/*
 * {"alg":"RS256","kid":"...","typ":"JWT"}: alg is required, "crit" is
 * refused (we understand no extension), a repeated alg or kid is refused.
 * Returns 0, -1 for a bad header, -2 for a well-formed header whose alg we
 * do not accept.
 */

int
ngx_http_harbor_jwt_parse_header(const u_char *p, size_t len,
    ngx_http_harbor_jwt_alg_e *alg)
{
    ngx_http_harbor_json_str_t  kid;

    return ngx_http_harbor_jwt_header(p, len, alg, &kid);
}


static int
ngx_http_harbor_jwt_header(const u_char *p, size_t len,
    ngx_http_harbor_jwt_alg_e *alg, ngx_http_harbor_json_str_t *kid)
{
    int                         first, rc, bad_alg;
    unsigned                    seen;
    ngx_http_harbor_json_t      j;
    ngx_http_harbor_json_str_t  key, val;

    *alg = 0;
    kid->data = NULL;
    kid->len = 0;

    seen = 0;
    bad_alg = 0;

    ngx_http_harbor_json_init(&j, p, len, NGX_HTTP_HARBOR_JWT_JSON_DEPTH, 1);

    if (ngx_http_harbor_json_open(&j, '{') != 0) {
        return -1;
    }

    first = 1;

    while ((rc = ngx_http_harbor_json_member(&j, &first, &key)) == 1) {

        if (ngx_http_harbor_json_is(&key, "alg")) {
            if (!ngx_http_harbor_jwt_once(&seen, NGX_HTTP_HARBOR_JWT_ALG)
                || ngx_http_harbor_json_string(&j, &val) != 0)
            {
                return -1;
            }

            if (ngx_http_harbor_json_is(&val, "RS256")) {
                *alg = NGX_HTTP_HARBOR_JWT_RS256;

            } else if (ngx_http_harbor_json_is(&val, "ES256")) {
                *alg = NGX_HTTP_HARBOR_JWT_ES256;

            } else {
                bad_alg = 1;
            }

        } else if (ngx_http_harbor_json_is(&key, "kid")) {
            if (!ngx_http_harbor_jwt_once(&seen, NGX_HTTP_HARBOR_JWT_KID)
                || ngx_http_harbor_json_string(&j, kid) != 0)
            {
                return -1;
            }

        } else if (ngx_http_harbor_json_is(&key, "crit")
                   || ngx_http_harbor_json_skip(&j) != 0)
        {
            return -1;
        }
    }

    if (rc != 0 || ngx_http_harbor_json_end(&j) != 0
        || !(seen & NGX_HTTP_HARBOR_JWT_ALG))
    {
        return -1;
    }

    if (bad_alg) {
        *alg = 0;
        return -2;
    }

    return 0;
}


ngx_http_harbor_jwt_rc_e
ngx_http_harbor_jwt_parse_claims(const ngx_http_harbor_jwt_opts_t *opts,
    const u_char *p, size_t len, ngx_http_harbor_jwt_claims_t *claims)
{
    int                         first, rc, iss_ok, aud_ok;
    unsigned                    seen;
    long long                   iat;
    const u_char               *start;
    ngx_http_harbor_json_t      j;
    ngx_http_harbor_json_str_t  key, val;

    memset(claims, 0, sizeof(ngx_http_harbor_jwt_claims_t));

    seen = 0;
    iss_ok = 0;
    aud_ok = 0;

    ngx_http_harbor_json_init(&j, p, len, NGX_HTTP_HARBOR_JWT_JSON_DEPTH, 1);

    if (ngx_http_harbor_json_open(&j, '{') != 0) {
        return NGX_HTTP_HARBOR_JWT_BAD_CLAIMS;
    }

    first = 1;

    while ((rc = ngx_http_harbor_json_member(&j, &first, &key)) == 1) {

        if (ngx_http_harbor_json_is(&key, "iss")) {
            if (!ngx_http_harbor_jwt_once(&seen, NGX_HTTP_HARBOR_JWT_ISS)
                || ngx_http_harbor_json_string(&j, &val) != 0)
            {
                return NGX_HTTP_HARBOR_JWT_BAD_CLAIMS;
            }

            iss_ok = ngx_http_harbor_jwt_str_is(&val, opts->issuer);

        } else if (ngx_http_harbor_json_is(&key, "aud")) {
            if (!ngx_http_harbor_jwt_once(&seen, NGX_HTTP_HARBOR_JWT_AUD)
                || ngx_http_harbor_jwt_audience(&j, opts->audience, &aud_ok)
                   != 0)
            {
                return NGX_HTTP_HARBOR_JWT_BAD_CLAIMS;
            }

        } else if (ngx_http_harbor_json_is(&key, "exp")) {
            if (!ngx_http_harbor_jwt_once(&seen, NGX_HTTP_HARBOR_JWT_EXP)
                || ngx_http_harbor_jwt_date(&j, &claims->exp) != 0)
            {
                return NGX_HTTP_HARBOR_JWT_BAD_CLAIMS;
            }

        } else if (ngx_http_harbor_json_is(&key, "nbf")) {
            if (!ngx_http_harbor_jwt_once(&seen, NGX_HTTP_HARBOR_JWT_NBF)
                || ngx_http_harbor_jwt_date(&j, &claims->nbf) != 0)
            {
                return NGX_HTTP_HARBOR_JWT_BAD_CLAIMS;
            }

        } else if (ngx_http_harbor_json_is(&key, "iat")) {
            if (!ngx_http_harbor_jwt_once(&seen, NGX_HTTP_HARBOR_JWT_IAT)
                || ngx_http_harbor_jwt_date(&j, &iat) != 0)
            {
                return NGX_HTTP_HARBOR_JWT_BAD_CLAIMS;
            }

        } else if (ngx_http_harbor_json_is(&key, "sub")) {
            if (!ngx_http_harbor_jwt_once(&seen, NGX_HTTP_HARBOR_JWT_SUB)
                || ngx_http_harbor_json_string(&j, &val) != 0)
            {
                return NGX_HTTP_HARBOR_JWT_BAD_CLAIMS;
            }

            claims->sub = val.data;
            claims->sub_len = val.len;

        } else if (ngx_http_harbor_json_is(&key, "access")) {
            if (!ngx_http_harbor_jwt_once(&seen, NGX_HTTP_HARBOR_JWT_ACCESS)
                || *j.pos != '[')
            {
                return NGX_HTTP_HARBOR_JWT_BAD_CLAIMS;
            }

            start = j.pos;

            if (ngx_http_harbor_json_skip(&j) != 0) {
                return NGX_HTTP_HARBOR_JWT_BAD_CLAIMS;
            }

            claims->access = start;
            claims->access_len = j.pos - start;

        } else if (ngx_http_harbor_json_skip(&j) != 0) {
            return NGX_HTTP_HARBOR_JWT_BAD_CLAIMS;
        }
    }

    if (rc != 0 || ngx_http_harbor_json_end(&j) != 0
        || !(seen & NGX_HTTP_HARBOR_JWT_EXP))
    {
        return NGX_HTTP_HARBOR_JWT_BAD_CLAIMS;
    }

    /* dates are capped at 18 digits, leeway is small: no overflow */

    if (opts->now > claims->exp + opts->leeway) {
        return NGX_HTTP_HARBOR_JWT_EXPIRED;
    }

    if ((seen & NGX_HTTP_HARBOR_JWT_NBF)
        && opts->now + opts->leeway < claims->nbf)
    {
        return NGX_HTTP_HARBOR_JWT_NOT_YET_VALID;
    }

    if (!iss_ok) {
        return NGX_HTTP_HARBOR_JWT_BAD_ISSUER;
    }

    if (!aud_ok) {
        return NGX_HTTP_HARBOR_JWT_BAD_AUDIENCE;
    }

    return NGX_HTTP_HARBOR_JWT_OK;
}


/* "aud": a string (Harbor) or an array of strings (RFC 7519) */

static int
ngx_http_harbor_jwt_audience(ngx_http_harbor_json_t *j, const char *audience,
    int *ok)
{
    ngx_http_harbor_json_str_t  val;

    if (*j->pos == '[') {
        return ngx_http_harbor_jwt_strings(j, audience, 0, ok);
    }

    if (ngx_http_harbor_json_string(j, &val) != 0) {
        return -1;
    }

    *ok = ngx_http_harbor_jwt_str_is(&val, audience);

    return 0;
}


/*
 * An array of strings: *ok is set when one of them is lit, or "*" when
 * star is set; anything but strings is an error.
 */

static int
ngx_http_harbor_jwt_strings(ngx_http_harbor_json_t *j, const char *lit,
    int star, int *ok)
{
    int                         first, rc;
    ngx_http_harbor_json_str_t  val;

    if (ngx_http_harbor_json_open(j, '[') != 0) {
        return -1;
    }

    first = 1;

    while ((rc = ngx_http_harbor_json_element(j, &first)) == 1) {
        if (ngx_http_harbor_json_string(j, &val) != 0) {
            return -1;
        }

        if (ngx_http_harbor_jwt_str_is(&val, lit)
            || (star && ngx_http_harbor_json_is(&val, "*")))
        {
            *ok = 1;
        }
    }

    return rc;
}


/*
 * A NumericDate: an integer, with an optional fraction that is dropped.
 * At most 18 digits, so sums with a leeway cannot overflow.  Exponents
 * are refused: no token service writes dates that way.
 */

static int
ngx_http_harbor_jwt_date(ngx_http_harbor_json_t *j, long long *v)
{
    int64_t   n;
    unsigned  flags;

    if (ngx_http_harbor_json_number(j, &n, &flags) != 0
        || (flags & (NGX_HTTP_HARBOR_JSON_EXPONENT
                     |NGX_HTTP_HARBOR_JSON_OVERFLOW))
        || n >= 1000000000000000000LL || n <= -1000000000000000000LL)
    {
        return -1;
    }

    *v = n;

    return 0;
}


static int
ngx_http_harbor_jwt_str_is(const ngx_http_harbor_json_str_t *s,
    const char *lit)
{
    return ngx_http_harbor_json_eq(s, (const u_char *) lit, strlen(lit), 0);
}


/* 1 the first time a member is read, 0 when it repeats */

static int
ngx_http_harbor_jwt_once(unsigned *seen, unsigned member)
{
    if (*seen & member) {
        return 0;
    }

    *seen |= member;

    return 1;
}


/* the access claim */


int
ngx_http_harbor_jwt_grants(const ngx_http_harbor_jwt_claims_t *claims,
    const char *type, const u_char *name, size_t name_len, const char *action)
{
    int                     first, rc;
    ngx_http_harbor_json_t  j;

    if (claims->access == NULL) {
        return 0;
    }

    ngx_http_harbor_json_init(&j, claims->access, claims->access_len,
                              NGX_HTTP_HARBOR_JWT_JSON_DEPTH, 1);

    if (ngx_http_harbor_json_open(&j, '[') != 0) {
        return 0;
    }

    first = 1;

    while (ngx_http_harbor_json_element(&j, &first) == 1) {

        rc = ngx_http_harbor_jwt_grants_entry(&j, type, name, name_len,
                                              action);
        if (rc != 0) {
            /* 1: granted; -1: broken entry, refuse the whole claim */
            return rc == 1;
        }
    }

    return 0;
}


/*
 * {"type":"repository","name":"prod/api","actions":["pull"]}: returns 1 if
 * it grants, 0 if not, -1 if it is not an object of that shape or repeats
 * a member.
 */

static int
ngx_http_harbor_jwt_grants_entry(ngx_http_harbor_json_t *j, const char *type,
    const u_char *name, size_t name_len, const char *action)
{
    int                         first, rc, type_ok, name_ok, act_ok;
    unsigned                    seen;
    ngx_http_harbor_json_str_t  key, val;

    if (ngx_http_harbor_json_open(j, '{') != 0) {
        return -1;
    }

    seen = 0;
    type_ok = 0;
    name_ok = 0;
    act_ok = 0;

    first = 1;

    while ((rc = ngx_http_harbor_json_member(j, &first, &key)) == 1) {

        if (ngx_http_harbor_json_is(&key, "type")) {
            if (!ngx_http_harbor_jwt_once(&seen, NGX_HTTP_HARBOR_JWT_TYPE)
                || ngx_http_harbor_json_string(j, &val) != 0)
            {
                return -1;
            }

            type_ok = ngx_http_harbor_jwt_str_is(&val, type);

        } else if (ngx_http_harbor_json_is(&key, "name")) {
            if (!ngx_http_harbor_jwt_once(&seen, NGX_HTTP_HARBOR_JWT_NAME)
                || ngx_http_harbor_json_string(j, &val) != 0)
            {
                return -1;
            }

            name_ok = ngx_http_harbor_json_eq(&val, name, name_len, 0);

        } else if (ngx_http_harbor_json_is(&key, "actions")) {
            if (!ngx_http_harbor_jwt_once(&seen, NGX_HTTP_HARBOR_JWT_ACTIONS)) {
                return -1;
            }

            /* Harbor may write null for no actions */

            if (*j->pos == 'n') {
                if (ngx_http_harbor_json_skip(j) != 0) {
                    return -1;
                }

                continue;
            }

            if (ngx_http_harbor_jwt_strings(j, action, 1, &act_ok) != 0) {
                return -1;
            }

        } else if (ngx_http_harbor_json_skip(j) != 0) {
            return -1;
        }
    }

    if (rc != 0) {
        return -1;
    }

    return type_ok && name_ok && act_ok;
}
