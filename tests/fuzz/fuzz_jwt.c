/* fuzz-srcs: ngx_harbor_module/ngx_http_harbor_jwt.c */
/* fuzz-srcs: ngx_harbor_module/ngx_http_harbor_json.c */
/* fuzz-libs: -lcrypto */

/*
 * fuzz_jwt.c: libFuzzer target for the edge's JWT verifier.  The first
 * byte picks what the rest of the input is:
 *
 *   0  a whole token for ngx_http_harbor_jwt_verify() (base64url, header,
 *      the signature paths with an RSA and a P-256 key)
 *   1  claims JSON for the claims reader, then the access check
 *   2  header JSON
 *   3  base64url text
 *   4  claims JSON that we sign with ES256 on the spot, so that verify()
 *      runs to the end: claims, exp/nbf, iss, aud, access
 *   5  a PEM text for the key loader
 *
 * Keys are generated once in LLVMFuzzerInitialize().
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "../../ngx_harbor_module/ngx_http_harbor_jwt.h"


static ngx_http_harbor_jwt_keys_t  keys;
static EVP_PKEY                   *ec_key;


static size_t
b64url(const unsigned char *in, size_t len, char *out)
{
    static const char  a[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t    i, n;
    uint32_t  v;

    n = 0;

    for (i = 0; i + 2 < len; i += 3) {
        v = (in[i] << 16) | (in[i + 1] << 8) | in[i + 2];
        out[n++] = a[(v >> 18) & 63];
        out[n++] = a[(v >> 12) & 63];
        out[n++] = a[(v >> 6) & 63];
        out[n++] = a[v & 63];
    }

    if (len - i == 1) {
        v = in[i] << 16;
        out[n++] = a[(v >> 18) & 63];
        out[n++] = a[(v >> 12) & 63];

    } else if (len - i == 2) {
        v = (in[i] << 16) | (in[i + 1] << 8);
        out[n++] = a[(v >> 18) & 63];
        out[n++] = a[(v >> 12) & 63];
        out[n++] = a[(v >> 6) & 63];
    }

    return n;
}


static void
add_pub(BIO *bio, EVP_PKEY *pkey)
{
    if (PEM_write_bio_PUBKEY(bio, pkey) != 1) {
        abort();
    }
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    BIO       *bio;
    char      *pem, err[256];
    long       len;
    EVP_PKEY  *rsa;

    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

    if (rsa == NULL || ec_key == NULL) {
        abort();
    }

    bio = BIO_new(BIO_s_mem());
    add_pub(bio, rsa);
    add_pub(bio, ec_key);

    len = BIO_get_mem_data(bio, &pem);

    /* a small signature cache, so that its hits and misses are fuzzed */
    if (ngx_http_harbor_jwt_keys_load(&keys, (unsigned char *) pem,
                                      (size_t) len, 64, err, sizeof(err))
        != 0)
    {
        fprintf(stderr, "keys: %s\n", err);
        abort();
    }

    BIO_free(bio);
    EVP_PKEY_free(rsa);

    return 0;
}


static void
check_grants(ngx_http_harbor_jwt_claims_t *claims)
{
    static const char  *names[] = { "test/single", "a", "", "library/x" };
    size_t              i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        (void) ngx_http_harbor_jwt_grants(claims, "repository",
                                          (const unsigned char *) names[i],
                                          strlen(names[i]), "pull");
    }

    (void) ngx_http_harbor_jwt_grants(claims, "registry",
                                      (const unsigned char *) "catalog", 7,
                                      "*");
}


static void
signed_claims(const uint8_t *data, size_t size,
    ngx_http_harbor_jwt_opts_t *opts)
{
    static const char  hdr[] = "{\"alg\":\"ES256\",\"typ\":\"JWT\"}";
    size_t          n, slen, siglen;
    char           *tok;
    unsigned char  *work, der[128], rs[64], *p;
    EVP_MD_CTX     *md;
    ECDSA_SIG      *es;
    const BIGNUM   *r, *s;
    const unsigned char  *dp;
    ngx_http_harbor_jwt_claims_t  claims;

    if (size > 4096) {
        return;
    }

    tok = malloc(8 + 2 * sizeof(hdr) + 2 * size + 100);
    if (tok == NULL) {
        abort();
    }

    n = b64url((const unsigned char *) hdr, sizeof(hdr) - 1, tok);
    tok[n++] = '.';
    n += b64url(data, size, tok + n);

    md = EVP_MD_CTX_new();
    siglen = sizeof(der);

    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, ec_key) != 1
        || EVP_DigestSign(md, der, &siglen, (unsigned char *) tok, n) != 1)
    {
        abort();
    }

    EVP_MD_CTX_free(md);

    dp = der;
    es = d2i_ECDSA_SIG(NULL, &dp, (long) siglen);
    if (es == NULL) {
        abort();
    }

    ECDSA_SIG_get0(es, &r, &s);
    BN_bn2binpad(r, rs, 32);
    BN_bn2binpad(s, rs + 32, 32);
    ECDSA_SIG_free(es);

    tok[n++] = '.';
    n += b64url(rs, 64, tok + n);

    work = malloc(n);
    if (work == NULL) {
        abort();
    }

    slen = n;

    if (ngx_http_harbor_jwt_verify(&keys, opts, (unsigned char *) tok, slen,
                                   work, slen, &claims)
        == NGX_HTTP_HARBOR_JWT_OK)
    {
        check_grants(&claims);
    }

    p = work;
    free(p);
    free(tok);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                           err[256];
    unsigned char                 *buf;
    ngx_http_harbor_jwt_alg_e      alg;
    ngx_http_harbor_jwt_opts_t     opts;
    ngx_http_harbor_jwt_keys_t     k;
    ngx_http_harbor_jwt_claims_t   claims;

    if (size < 1) {
        return 0;
    }

    opts.issuer = "harbor-token-issuer";
    opts.audience = "harbor-registry";
    opts.now = 1700000000;
    opts.leeway = 60;

    /* an exact-size copy, so ASan sees any read past the end */
    buf = malloc(size - 1 ? size - 1 : 1);
    if (buf == NULL) {
        abort();
    }

    memcpy(buf, data + 1, size - 1);

    switch (data[0] % 6) {

    case 0:
        {
            unsigned char  *work = malloc(size - 1 ? size - 1 : 1);

            if (ngx_http_harbor_jwt_verify(&keys, &opts, buf, size - 1, work,
                                           size - 1, &claims)
                == NGX_HTTP_HARBOR_JWT_OK)
            {
                check_grants(&claims);
            }

            free(work);
        }
        break;

    case 1:
        (void) ngx_http_harbor_jwt_parse_claims(&opts, buf, size - 1,
                                                &claims);
        if (claims.access != NULL) {
            check_grants(&claims);
        }
        break;

    case 2:
        (void) ngx_http_harbor_jwt_parse_header(buf, size - 1, &alg);
        break;

    case 3:
        {
            unsigned char  *out = malloc(size);

            (void) ngx_http_harbor_jwt_b64url_decode(buf, size - 1, out,
                                                     size - 1);
            free(out);
        }
        break;

    case 4:
        signed_claims(buf, size - 1, &opts);
        break;

    default:
        if (size < 8192
            && ngx_http_harbor_jwt_keys_load(&k, buf, size - 1, 4, err,
                                             sizeof(err))
               == 0)
        {
            ngx_http_harbor_jwt_keys_free(&k);
        }
        break;
    }

    free(buf);

    return 0;
}
