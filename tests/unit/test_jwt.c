
/*
 * test_jwt.c: unit tests for ngx_harbor_module/ngx_http_harbor_jwt.c, the
 * edge's JWT verifier (cmocka).  The file under test and the module's JSON
 * scanner it reads with are included, not linked, so that this test builds
 * with the same rule as the replicator's unit tests and can reach their
 * static functions too.
 *
 * Keys are made at start-up with OpenSSL (RSA 2048 twice, P-256 twice, and
 * the keys we must refuse: RSA 1024, P-384), and tokens are signed here, so
 * every refusal is tested against a signature that is otherwise right.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/hmac.h>
#include <openssl/x509.h>

#include "../../ngx_harbor_module/ngx_http_harbor_jwt.c"
#include "../../ngx_harbor_module/ngx_http_harbor_json.c"


#define NOW  1700000000LL

/* a fixed P-256 key and its libtrust kid, computed by mint-token.py */
static const char  fixed_pub[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEKhbKROLBwBa/YdZbKI+KdNhwNc12\n"
    "VzSkXhCq0iDixz2oFqdoKwogLTcv+EwTQv4pwm9PlRa+7hJYssi7Wno+TQ==\n"
    "-----END PUBLIC KEY-----\n";
static const char  fixed_kid[] =
    "MYE3:MCPD:VYUF:YWRR:XKH4:B6XZ:3IX3:MTIU:OQZA:ZHEP:5JMK:PJB7";


static EVP_PKEY  *rsa1, *rsa2, *ec1, *ec2, *rsa_small, *ec384;


/* helpers */


static size_t
b64url_enc(const u_char *in, size_t len, char *out)
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

    out[n] = '\0';

    return n;
}


/* the PEM text of a key's public half, in a static buffer */
static const char *
pub_pem(EVP_PKEY *k)
{
    static char  buf[4][4096];
    static int   which;
    BIO         *bio;
    char        *p;
    long         len;

    which = (which + 1) % 4;

    bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(bio, k), 1);
    len = BIO_get_mem_data(bio, &p);
    assert_true(len < 4096);
    memcpy(buf[which], p, len);
    buf[which][len] = '\0';
    BIO_free(bio);

    return buf[which];
}


/* a self-signed cert for k, as PEM */
static const char *
cert_pem(EVP_PKEY *k)
{
    static char  buf[8192];
    X509        *x;
    BIO         *bio;
    char        *p;
    long         len;

    x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (u_char *) "harbor-token", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);

    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, x);
    len = BIO_get_mem_data(bio, &p);
    assert_true(len < (long) sizeof(buf));
    memcpy(buf, p, len);
    buf[len] = '\0';
    BIO_free(bio);
    X509_free(x);

    return buf;
}


static void
load(ngx_http_harbor_jwt_keys_t *keys, const char *pem)
{
    char  err[256];

    /* a tiny signature cache: every test runs through it, collisions too */
    if (ngx_http_harbor_jwt_keys_load(keys, (const u_char *) pem,
                                      strlen(pem), 8, err, sizeof(err))
        != 0)
    {
        fail_msg("keys_load: %s", err);
    }
}


/*
 * header.claims.signature: how is "RS256", "ES256" (the key signs),
 * "HS256" (secret signs), "none" (empty), or "raw" (sig as given)
 */
static char *
mint(const char *header, const char *claims, const char *how, EVP_PKEY *k,
    const u_char *secret, size_t secret_len)
{
    char           *tok;
    size_t          n, siglen;
    u_char          sig[1024], rs[64];
    unsigned int    hlen;
    EVP_MD_CTX     *md;
    ECDSA_SIG      *es;
    const BIGNUM   *r, *s;
    const u_char   *dp;

    tok = malloc(4 * (strlen(header) + strlen(claims)) + 2048);
    assert_non_null(tok);

    n = b64url_enc((const u_char *) header, strlen(header), tok);
    tok[n++] = '.';
    n += b64url_enc((const u_char *) claims, strlen(claims), tok + n);

    siglen = 0;

    if (strcmp(how, "RS256") == 0 || strcmp(how, "ES256") == 0) {
        md = EVP_MD_CTX_new();
        siglen = sizeof(sig);
        assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k),
                         1);
        assert_int_equal(EVP_DigestSign(md, sig, &siglen, (u_char *) tok, n),
                         1);
        EVP_MD_CTX_free(md);

        if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC) {
            dp = sig;
            es = d2i_ECDSA_SIG(NULL, &dp, (long) siglen);
            assert_non_null(es);
            ECDSA_SIG_get0(es, &r, &s);
            BN_bn2binpad(r, rs, 32);
            BN_bn2binpad(s, rs + 32, 32);
            ECDSA_SIG_free(es);
            memcpy(sig, rs, 64);
            siglen = 64;
        }

    } else if (strcmp(how, "HS256") == 0) {
        hlen = sizeof(sig);
        HMAC(EVP_sha256(), secret, (int) secret_len, (u_char *) tok, n, sig,
             &hlen);
        siglen = hlen;
    }

    tok[n++] = '.';
    b64url_enc(sig, siglen, tok + n);

    return tok;
}


static char *
claims_std(const char *access, long long exp, long long nbf)
{
    static char  buf[4096];

    snprintf(buf, sizeof(buf),
             "{\"iss\":\"harbor-token-issuer\",\"sub\":\"alice\","
             "\"aud\":\"harbor-registry\",\"exp\":%lld,\"nbf\":%lld,"
             "\"iat\":%lld,\"jti\":\"0123456789abcdef\",\"access\":%s}",
             exp, nbf, nbf, access);

    return buf;
}


static const char  *access_single =
    "[{\"type\":\"repository\",\"name\":\"test/single\","
    "\"actions\":[\"pull\"]}]";

static const char  *hdr_rs = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
static const char  *hdr_es = "{\"alg\":\"ES256\",\"typ\":\"JWT\"}";


static ngx_http_harbor_jwt_rc_e
verify_with(ngx_http_harbor_jwt_keys_t *keys, const char *tok,
    ngx_http_harbor_jwt_claims_t *claims, u_char *work, size_t worklen)
{
    ngx_http_harbor_jwt_opts_t  opts;

    opts.issuer = "harbor-token-issuer";
    opts.audience = "harbor-registry";
    opts.now = NOW;
    opts.leeway = 60;

    return ngx_http_harbor_jwt_verify(keys, &opts, (const u_char *) tok,
                                      strlen(tok), work, worklen, claims);
}


/* verify against the RSA+EC key set and free the token */
static ngx_http_harbor_jwt_rc_e
check(char *tok)
{
    static u_char                 work[16384];
    ngx_http_harbor_jwt_rc_e      rc;
    ngx_http_harbor_jwt_keys_t    keys;
    ngx_http_harbor_jwt_claims_t  claims;
    char                          bundle[8192];

    snprintf(bundle, sizeof(bundle), "%s%s", cert_pem(rsa1), pub_pem(ec1));
    load(&keys, bundle);

    rc = verify_with(&keys, tok, &claims, work, sizeof(work));

    ngx_http_harbor_jwt_keys_free(&keys);
    free(tok);

    return rc;
}


static ngx_http_harbor_jwt_rc_e
check_claims(const char *claims_json)
{
    return check(mint(hdr_rs, claims_json, "RS256", rsa1, NULL, 0));
}


/* parse claims directly and ask for a grant */
static int
grants(const char *access, const char *type, const char *name,
    const char *action)
{
    ngx_http_harbor_jwt_opts_t    opts;
    ngx_http_harbor_jwt_claims_t  claims;
    const char                   *json;

    opts.issuer = "harbor-token-issuer";
    opts.audience = "harbor-registry";
    opts.now = NOW;
    opts.leeway = 60;

    json = claims_std(access, NOW + 600, NOW);

    if (ngx_http_harbor_jwt_parse_claims(&opts, (const u_char *) json,
                                         strlen(json), &claims)
        != NGX_HTTP_HARBOR_JWT_OK)
    {
        return -1;
    }

    return ngx_http_harbor_jwt_grants(&claims, type, (const u_char *) name,
                                      strlen(name), action);
}


/* tests: base64url */


static long
dec(const char *s, u_char *out, size_t outlen)
{
    return ngx_http_harbor_jwt_b64url_decode((const u_char *) s, strlen(s),
                                             out, outlen);
}


static void
test_b64url(void **state)
{
    u_char  out[64];

    assert_int_equal(dec("", out, sizeof(out)), 0);
    assert_int_equal(dec("Zg", out, sizeof(out)), 1);
    assert_memory_equal(out, "f", 1);
    assert_int_equal(dec("Zm8", out, sizeof(out)), 2);
    assert_memory_equal(out, "fo", 2);
    assert_int_equal(dec("Zm9v", out, sizeof(out)), 3);
    assert_memory_equal(out, "foo", 3);
    assert_int_equal(dec("-_-_", out, sizeof(out)), 3);
    assert_memory_equal(out, "\xfb\xff\xbf", 3);

    /* padding, the standard alphabet, a lone char, stray bits */
    assert_int_equal(dec("Zg==", out, sizeof(out)), -1);
    assert_int_equal(dec("+/+/", out, sizeof(out)), -1);
    assert_int_equal(dec("Zm9vZ", out, sizeof(out)), -1);
    assert_int_equal(dec("Zh", out, sizeof(out)), -1);
    assert_int_equal(dec("Zm9", out, sizeof(out)), -1);
    assert_int_equal(dec("Zm 9v", out, sizeof(out)), -1);

    /* never writes past outlen */
    assert_int_equal(dec("Zm9v", out, 2), -1);
    assert_int_equal(dec("Zm9v", out, 3), 3);
}


/* tests: keys */


static void
test_keys_load(void **state)
{
    char                        err[256], bundle[16384];
    ngx_http_harbor_jwt_keys_t  keys;
    size_t                      i;

    load(&keys, cert_pem(rsa1));
    assert_int_equal(keys.nkeys, 1);
    assert_int_equal(keys.keys[0].alg, NGX_HTTP_HARBOR_JWT_RS256);
    assert_int_equal(strlen(keys.keys[0].kid), 59);
    ngx_http_harbor_jwt_keys_free(&keys);

    snprintf(bundle, sizeof(bundle), "junk before\n%s%s%s", cert_pem(ec1),
             pub_pem(rsa2), pub_pem(ec2));
    load(&keys, bundle);
    assert_int_equal(keys.nkeys, 3);
    assert_int_equal(keys.keys[0].alg, NGX_HTTP_HARBOR_JWT_ES256);
    assert_int_equal(keys.keys[1].alg, NGX_HTTP_HARBOR_JWT_RS256);
    ngx_http_harbor_jwt_keys_free(&keys);
    assert_int_equal(keys.nkeys, 0);

    /* libtrust's kid, as Harbor writes it */
    load(&keys, fixed_pub);
    assert_string_equal(keys.keys[0].kid, fixed_kid);
    ngx_http_harbor_jwt_keys_free(&keys);

#define REFUSED(pem, msg)                                                     \
    assert_int_equal(ngx_http_harbor_jwt_keys_load(&keys,                     \
                         (const u_char *) (pem), strlen(pem), 8, err,         \
                         sizeof(err)), -1);                                   \
    assert_non_null(strstr(err, msg));                                        \
    assert_int_equal(keys.nkeys, 0)

    REFUSED("", "no certificate or public key");
    REFUSED("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "bad certificate");
    REFUSED(pub_pem(rsa_small), "at least 2048");
    REFUSED(pub_pem(ec384), "P-256");
    REFUSED("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "private key");

    /* a good key then a bad one: nothing is kept */
    snprintf(bundle, sizeof(bundle), "%s%s", pub_pem(rsa1),
             pub_pem(rsa_small));
    REFUSED(bundle, "at least 2048");

    bundle[0] = '\0';
    for (i = 0; i <= NGX_HTTP_HARBOR_JWT_MAX_KEYS; i++) {
        strcat(bundle, pub_pem(ec1));
        assert_true(strlen(bundle) < sizeof(bundle) - 512);
    }
    REFUSED(bundle, "more than");

#undef REFUSED
}


/* tests: verification */


static void
test_valid_rs256(void **state)
{
    static u_char                 work[4096];
    char                         *tok;
    ngx_http_harbor_jwt_keys_t    keys;
    ngx_http_harbor_jwt_claims_t  claims;

    load(&keys, cert_pem(rsa1));
    tok = mint(hdr_rs, claims_std(access_single, NOW + 1800, NOW), "RS256",
               rsa1, NULL, 0);

    assert_int_equal(verify_with(&keys, tok, &claims, work, sizeof(work)),
                     NGX_HTTP_HARBOR_JWT_OK);
    assert_int_equal(claims.exp, NOW + 1800);
    assert_int_equal(claims.alg, NGX_HTTP_HARBOR_JWT_RS256);
    assert_int_equal(claims.sub_len, 5);
    assert_memory_equal(claims.sub, "alice", 5);

    assert_true(ngx_http_harbor_jwt_grants(&claims, "repository",
                                           (u_char *) "test/single", 11,
                                           "pull"));
    assert_false(ngx_http_harbor_jwt_grants(&claims, "repository",
                                            (u_char *) "test/single", 11,
                                            "push"));
    assert_false(ngx_http_harbor_jwt_grants(&claims, "repository",
                                            (u_char *) "test/singlex", 12,
                                            "pull"));
    assert_false(ngx_http_harbor_jwt_grants(&claims, "repository",
                                            (u_char *) "test/singl", 10,
                                            "pull"));
    assert_false(ngx_http_harbor_jwt_grants(&claims, "registry",
                                            (u_char *) "catalog", 7, "*"));

    /* the work buffer must hold the token */
    assert_int_equal(verify_with(&keys, tok, &claims, work, strlen(tok) - 1),
                     NGX_HTTP_HARBOR_JWT_INTERNAL);
    assert_int_equal(verify_with(&keys, tok, &claims, work, strlen(tok)),
                     NGX_HTTP_HARBOR_JWT_OK);

    free(tok);
    ngx_http_harbor_jwt_keys_free(&keys);
}


static void
test_valid_es256(void **state)
{
    assert_int_equal(check(mint(hdr_es,
                                claims_std(access_single, NOW + 60, NOW),
                                "ES256", ec1, NULL, 0)),
                     NGX_HTTP_HARBOR_JWT_OK);

    /* an EC key we do not trust */
    assert_int_equal(check(mint(hdr_es,
                                claims_std(access_single, NOW + 60, NOW),
                                "ES256", ec2, NULL, 0)),
                     NGX_HTTP_HARBOR_JWT_BAD_SIGNATURE);
}


static void
test_times(void **state)
{
    /* exp and nbf with 60 s of leeway */
    assert_int_equal(check_claims(claims_std(access_single, NOW - 60, NOW)),
                     NGX_HTTP_HARBOR_JWT_OK);
    assert_int_equal(check_claims(claims_std(access_single, NOW - 61, NOW)),
                     NGX_HTTP_HARBOR_JWT_EXPIRED);
    assert_int_equal(check_claims(claims_std(access_single, NOW + 600,
                                             NOW + 60)),
                     NGX_HTTP_HARBOR_JWT_OK);
    assert_int_equal(check_claims(claims_std(access_single, NOW + 600,
                                             NOW + 61)),
                     NGX_HTTP_HARBOR_JWT_NOT_YET_VALID);

    /* no exp: refused; no nbf: fine; a fraction is dropped */
    assert_int_equal(check_claims("{\"iss\":\"harbor-token-issuer\","
                                  "\"aud\":\"harbor-registry\"}"),
                     NGX_HTTP_HARBOR_JWT_BAD_CLAIMS);
    assert_int_equal(check_claims("{\"iss\":\"harbor-token-issuer\","
                                  "\"aud\":\"harbor-registry\","
                                  "\"exp\":1700000100.75}"),
                     NGX_HTTP_HARBOR_JWT_OK);

    /* numbers we refuse: exponents, 19 digits, leading zeros, strings */
    assert_int_equal(check_claims("{\"iss\":\"harbor-token-issuer\","
                                  "\"aud\":\"harbor-registry\","
                                  "\"exp\":1.7e9}"),
                     NGX_HTTP_HARBOR_JWT_BAD_CLAIMS);
    assert_int_equal(check_claims("{\"iss\":\"harbor-token-issuer\","
                                  "\"aud\":\"harbor-registry\","
                                  "\"exp\":9223372036854775807}"),
                     NGX_HTTP_HARBOR_JWT_BAD_CLAIMS);
    assert_int_equal(check_claims("{\"iss\":\"harbor-token-issuer\","
                                  "\"aud\":\"harbor-registry\","
                                  "\"exp\":01700000100}"),
                     NGX_HTTP_HARBOR_JWT_BAD_CLAIMS);
    assert_int_equal(check_claims("{\"iss\":\"harbor-token-issuer\","
                                  "\"aud\":\"harbor-registry\","
                                  "\"exp\":\"1700000100\"}"),
                     NGX_HTTP_HARBOR_JWT_BAD_CLAIMS);
    assert_int_equal(check_claims("{\"iss\":\"harbor-token-issuer\","
                                  "\"aud\":\"harbor-registry\","
                                  "\"exp\":-5}"),
                     NGX_HTTP_HARBOR_JWT_EXPIRED);
}


static void
test_issuer_audience(void **state)
{
    assert_int_equal(check_claims("{\"iss\":\"other\","
                                  "\"aud\":\"harbor-registry\","
                                  "\"exp\":1700000100}"),
                     NGX_HTTP_HARBOR_JWT_BAD_ISSUER);
    assert_int_equal(check_claims("{\"aud\":\"harbor-registry\","
                                  "\"exp\":1700000100}"),
                     NGX_HTTP_HARBOR_JWT_BAD_ISSUER);
    assert_int_equal(check_claims("{\"iss\":\"harbor-token-issuer\","
                                  "\"exp\":1700000100}"),
                     NGX_HTTP_HARBOR_JWT_BAD_AUDIENCE);
    assert_int_equal(check_claims("{\"iss\":\"harbor-token-issuer\","
                                  "\"aud\":\"harbor-registryx\","
                                  "\"exp\":1700000100}"),
                     NGX_HTTP_HARBOR_JWT_BAD_AUDIENCE);
    assert_int_equal(check_claims("{\"iss\":\"harbor-token-issuer\","
                                  "\"aud\":[\"a\",\"harbor-registry\"],"
                                  "\"exp\":1700000100}"),
                     NGX_HTTP_HARBOR_JWT_OK);
    assert_int_equal(check_claims("{\"iss\":\"harbor-token-issuer\","
                                  "\"aud\":[],\"exp\":1700000100}"),
                     NGX_HTTP_HARBOR_JWT_BAD_AUDIENCE);
    assert_int_equal(check_claims("{\"iss\":\"harbor-token-issuer\","
                                  "\"aud\":[\"a\",1],\"exp\":1700000100}"),
                     NGX_HTTP_HARBOR_JWT_BAD_CLAIMS);

    /* escapes are decoded before comparing */
    assert_int_equal(check_claims("{\"iss\":\"harbor-token-\\u0069ssuer\","
                                  "\"aud\":\"harbor\\/registry\","
                                  "\"exp\":1700000100}"),
                     NGX_HTTP_HARBOR_JWT_BAD_AUDIENCE);
    assert_int_equal(check_claims("{\"iss\":\"harbor-token-\\u0069ssuer\","
                                  "\"aud\":\"harbor-registr\\u0079\","
                                  "\"exp\":1700000100}"),
                     NGX_HTTP_HARBOR_JWT_OK);

    /* a repeated claim is refused, whatever the values */
    assert_int_equal(check_claims("{\"iss\":\"harbor-token-issuer\","
                                  "\"iss\":\"harbor-token-issuer\","
                                  "\"aud\":\"harbor-registry\","
                                  "\"exp\":1700000100}"),
                     NGX_HTTP_HARBOR_JWT_BAD_CLAIMS);
    assert_int_equal(check_claims("{\"iss\":\"harbor-token-issuer\","
                                  "\"aud\":\"harbor-registry\","
                                  "\"exp\":1,\"exp\":1700000100}"),
                     NGX_HTTP_HARBOR_JWT_BAD_CLAIMS);
}


static void
test_algorithms(void **state)
{
    const char    *claims;
    const char    *pem;
    unsigned char  der[1024], *p;
    int            n;

    claims = claims_std(access_single, NOW + 600, NOW);

    /* none, with and without a signature */
    assert_int_equal(check(mint("{\"alg\":\"none\"}", claims, "none", NULL,
                                NULL, 0)),
                     NGX_HTTP_HARBOR_JWT_MALFORMED);
    {
        char  *t = mint("{\"alg\":\"none\"}", claims, "none", NULL, NULL, 0);
        char  *t2 = malloc(strlen(t) + 8);

        sprintf(t2, "%sAAAA", t);
        free(t);
        assert_int_equal(check(t2), NGX_HTTP_HARBOR_JWT_BAD_ALG);
    }

    /* HS256 keyed with the trusted public key, PEM and DER */
    pem = pub_pem(rsa1);
    assert_int_equal(check(mint("{\"alg\":\"HS256\"}", claims, "HS256", NULL,
                                (const u_char *) pem, strlen(pem))),
                     NGX_HTTP_HARBOR_JWT_BAD_ALG);
    p = der;
    n = i2d_PUBKEY(rsa1, &p);
    assert_true(n > 0);
    assert_int_equal(check(mint("{\"alg\":\"HS256\"}", claims, "HS256", NULL,
                                der, n)),
                     NGX_HTTP_HARBOR_JWT_BAD_ALG);

    /* other names, lower case, a non-string alg, no alg */
    assert_int_equal(check(mint("{\"alg\":\"RS512\"}", claims, "RS256", rsa1,
                                NULL, 0)),
                     NGX_HTTP_HARBOR_JWT_BAD_ALG);
    assert_int_equal(check(mint("{\"alg\":\"rs256\"}", claims, "RS256", rsa1,
                                NULL, 0)),
                     NGX_HTTP_HARBOR_JWT_BAD_ALG);
    assert_int_equal(check(mint("{\"alg\":1}", claims, "RS256", rsa1, NULL,
                                0)),
                     NGX_HTTP_HARBOR_JWT_BAD_HEADER);
    assert_int_equal(check(mint("{\"typ\":\"JWT\"}", claims, "RS256", rsa1,
                                NULL, 0)),
                     NGX_HTTP_HARBOR_JWT_BAD_HEADER);

    /* the header's alg and the key's type must agree */
    assert_int_equal(check(mint(hdr_es, claims, "RS256", rsa1, NULL, 0)),
                     NGX_HTTP_HARBOR_JWT_BAD_SIGNATURE);
    assert_int_equal(check(mint(hdr_rs, claims, "ES256", ec1, NULL, 0)),
                     NGX_HTTP_HARBOR_JWT_BAD_SIGNATURE);
}


static void
test_alg_needs_key_type(void **state)
{
    static u_char                 work[8192];
    char                         *tok;
    ngx_http_harbor_jwt_keys_t    keys;
    ngx_http_harbor_jwt_claims_t  claims;

    /* only an RSA key is trusted: an ES256 token finds no key at all */
    load(&keys, cert_pem(rsa1));
    tok = mint(hdr_es, claims_std(access_single, NOW + 600, NOW), "RS256",
               rsa1, NULL, 0);
    assert_int_equal(verify_with(&keys, tok, &claims, work, sizeof(work)),
                     NGX_HTTP_HARBOR_JWT_NO_KEY);
    free(tok);
    ngx_http_harbor_jwt_keys_free(&keys);
}


static void
test_kid(void **state)
{
    static u_char                 work[8192];
    char                          hdr[256], bundle[8192], *tok;
    const char                   *claims;
    ngx_http_harbor_jwt_keys_t    keys;
    ngx_http_harbor_jwt_claims_t  c;

    snprintf(bundle, sizeof(bundle), "%s%s", pub_pem(rsa1), pub_pem(rsa2));
    load(&keys, bundle);
    claims = claims_std(access_single, NOW + 600, NOW);

    /* signed by key 2, the kid names key 2 */
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"kid\":\"%s\"}",
             keys.keys[1].kid);
    tok = mint(hdr, claims, "RS256", rsa2, NULL, 0);
    assert_int_equal(verify_with(&keys, tok, &c, work, sizeof(work)),
                     NGX_HTTP_HARBOR_JWT_OK);
    free(tok);

    /* signed by key 2, the kid names key 1: only key 1 is tried */
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"kid\":\"%s\"}",
             keys.keys[0].kid);
    tok = mint(hdr, claims, "RS256", rsa2, NULL, 0);
    assert_int_equal(verify_with(&keys, tok, &c, work, sizeof(work)),
                     NGX_HTTP_HARBOR_JWT_BAD_SIGNATURE);
    free(tok);

    /* an unknown kid: every RSA key is tried */
    tok = mint("{\"alg\":\"RS256\",\"kid\":\"AAAA:BBBB\"}", claims, "RS256",
               rsa2, NULL, 0);
    assert_int_equal(verify_with(&keys, tok, &c, work, sizeof(work)),
                     NGX_HTTP_HARBOR_JWT_OK);
    free(tok);

    /* kid twice */
    tok = mint("{\"alg\":\"RS256\",\"kid\":\"A\",\"kid\":\"B\"}", claims,
               "RS256", rsa2, NULL, 0);
    assert_int_equal(verify_with(&keys, tok, &c, work, sizeof(work)),
                     NGX_HTTP_HARBOR_JWT_BAD_HEADER);
    free(tok);

    ngx_http_harbor_jwt_keys_free(&keys);
}


static void
test_header_json(void **state)
{
    const char  *claims;

    claims = claims_std(access_single, NOW + 600, NOW);

#define HDR(h, want)                                                          \
    assert_int_equal(check(mint(h, claims, "RS256", rsa1, NULL, 0)), want)

    HDR(" { \"alg\" : \"RS256\" , \"x\" : [ { } , [ ] , null , true ,"
        " false , -1.5e+3 , \"\\u00e9\\n\" ] } ", NGX_HTTP_HARBOR_JWT_OK);
    HDR("{\"alg\":\"RS256\",\"crit\":[\"exp\"]}",
        NGX_HTTP_HARBOR_JWT_BAD_HEADER);
    HDR("{\"alg\":\"RS256\",\"alg\":\"RS256\"}",
        NGX_HTTP_HARBOR_JWT_BAD_HEADER);
    HDR("{\"alg\":\"RS256\",}", NGX_HTTP_HARBOR_JWT_BAD_HEADER);
    HDR("{\"alg\":\"RS256\"} x", NGX_HTTP_HARBOR_JWT_BAD_HEADER);
    HDR("{\"alg\":\"RS256\"", NGX_HTTP_HARBOR_JWT_BAD_HEADER);
    HDR("[\"alg\",\"RS256\"]", NGX_HTTP_HARBOR_JWT_BAD_HEADER);
    HDR("{\"alg\":\"RS256\",\"x\":\"a\\qb\"}",
        NGX_HTTP_HARBOR_JWT_BAD_HEADER);
    HDR("{\"alg\":\"RS256\",\"x\":\"a\\u12\"}",
        NGX_HTTP_HARBOR_JWT_BAD_HEADER);
    HDR("{\"alg\":\"RS256\",\"x\":\"a\tb\"}", NGX_HTTP_HARBOR_JWT_BAD_HEADER);
    HDR("{\"alg\":\"RS256\",\"x\":tru}", NGX_HTTP_HARBOR_JWT_BAD_HEADER);
    HDR("{\"alg\":\"RS256\",\"x\":-}", NGX_HTTP_HARBOR_JWT_BAD_HEADER);
    HDR("{\"alg\":\"RS256\",\"x\":[1 2]}", NGX_HTTP_HARBOR_JWT_BAD_HEADER);
    HDR("{\"alg\":\"RS256\" \"x\":1}", NGX_HTTP_HARBOR_JWT_BAD_HEADER);
    HDR("", NGX_HTTP_HARBOR_JWT_MALFORMED);

    /* 16 levels are fine, 17 are not */
    HDR("{\"alg\":\"RS256\",\"x\":[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]}",
        NGX_HTTP_HARBOR_JWT_OK);
    HDR("{\"alg\":\"RS256\",\"x\":[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]}",
        NGX_HTTP_HARBOR_JWT_BAD_HEADER);

#undef HDR
}


static void
test_structure(void **state)
{
    char         c, *tok, *big;
    size_t       len;
    const char  *claims;

    claims = claims_std(access_single, NOW + 600, NOW);

    assert_int_equal(check(strdup("")), NGX_HTTP_HARBOR_JWT_MALFORMED);
    assert_int_equal(check(strdup("a.b")), NGX_HTTP_HARBOR_JWT_MALFORMED);
    assert_int_equal(check(strdup("..")), NGX_HTTP_HARBOR_JWT_MALFORMED);
    assert_int_equal(check(strdup("a..c")), NGX_HTTP_HARBOR_JWT_MALFORMED);
    assert_int_equal(check(strdup(".b.c")), NGX_HTTP_HARBOR_JWT_MALFORMED);
    assert_int_equal(check(strdup("a.b.c.d")),
                     NGX_HTTP_HARBOR_JWT_MALFORMED);

    tok = mint(hdr_rs, claims, "RS256", rsa1, NULL, 0);
    len = strlen(tok);

    /* the signature one character short, then one bit changed inside */
    c = tok[len - 1];
    tok[len - 1] = '\0';
    assert_int_not_equal(check(strdup(tok)), NGX_HTTP_HARBOR_JWT_OK);
    tok[len - 1] = c;
    assert_int_equal(check(strdup(tok)), NGX_HTTP_HARBOR_JWT_OK);
    tok[len - 10] = (tok[len - 10] == 'A') ? 'B' : 'A';
    assert_int_equal(check(strdup(tok)), NGX_HTTP_HARBOR_JWT_BAD_SIGNATURE);
    free(tok);

    /* larger than the cap */
    big = malloc(NGX_HTTP_HARBOR_JWT_MAX_SIZE + 2);
    memset(big, 'A', NGX_HTTP_HARBOR_JWT_MAX_SIZE + 1);
    big[10] = '.';
    big[20] = '.';
    big[NGX_HTTP_HARBOR_JWT_MAX_SIZE + 1] = '\0';
    assert_int_equal(check(big), NGX_HTTP_HARBOR_JWT_TOO_LARGE);

    /* a signature over other claims */
    {
        char  *a = mint(hdr_rs, claims, "RS256", rsa1, NULL, 0);
        char  *b = mint(hdr_rs,
                        claims_std("[{\"type\":\"registry\",\"name\":"
                                   "\"catalog\",\"actions\":[\"*\"]}]",
                                   NOW + 600, NOW),
                        "RS256", rsa1, NULL, 0);
        char  *m = malloc(strlen(a) + strlen(b));

        sprintf(m, "%.*s%s", (int) (strchr(a, '.') - a), a,
                strchr(b, '.'));
        *strrchr(m, '.') = '\0';
        strcat(m, strrchr(a, '.'));
        assert_int_equal(check(m), NGX_HTTP_HARBOR_JWT_BAD_SIGNATURE);
        free(a);
        free(b);
    }
}


static void
test_access(void **state)
{
    const char  *acc;

    acc = "[{\"type\":\"repository\",\"name\":\"test/single\","
          "\"actions\":[\"push\",\"pull\"]},"
          "{\"type\":\"repository\",\"name\":\"lib/x\",\"actions\":[\"*\"]},"
          "{\"type\":\"repository\",\"name\":\"lib/none\",\"actions\":null},"
          "{\"type\":\"repository\",\"name\":\"lib/empty\",\"actions\":[]},"
          "{\"type\":\"registry\",\"name\":\"catalog\",\"actions\":[\"*\"]}]";

    assert_int_equal(grants(acc, "repository", "test/single", "pull"), 1);
    assert_int_equal(grants(acc, "repository", "test/single", "push"), 1);
    assert_int_equal(grants(acc, "repository", "test/single", "delete"), 0);
    assert_int_equal(grants(acc, "repository", "lib/x", "pull"), 1);
    assert_int_equal(grants(acc, "repository", "lib/none", "pull"), 0);
    assert_int_equal(grants(acc, "repository", "lib/empty", "pull"), 0);
    assert_int_equal(grants(acc, "registry", "catalog", "*"), 1);
    assert_int_equal(grants(acc, "repository", "catalog", "*"), 0);
    assert_int_equal(grants(acc, "repository", "test", "pull"), 0);
    assert_int_equal(grants("[]", "repository", "test/single", "pull"), 0);

    /* escaped names match their decoded form; non-ASCII never matches */
    assert_int_equal(grants("[{\"type\":\"repository\",\"name\":"
                            "\"test\\/single\",\"actions\":[\"pull\"]}]",
                            "repository", "test/single", "pull"), 1);
    assert_int_equal(grants("[{\"type\":\"repository\",\"name\":"
                            "\"\\u0074est/single\","
                            "\"actions\":[\"p\\u0075ll\"]}]",
                            "repository", "test/single", "pull"), 1);
    assert_int_equal(grants("[{\"type\":\"repository\",\"name\":"
                            "\"test/single\\u0000\",\"actions\":[\"pull\"]}]",
                            "repository", "test/single", "pull"), 0);

    /* an entry that repeats a member poisons the whole claim */
    assert_int_equal(grants("[{\"type\":\"repository\",\"name\":\"a\","
                            "\"name\":\"test/single\",\"actions\":[\"pull\"]}]",
                            "repository", "test/single", "pull"), 0);
    assert_int_equal(grants("[{\"type\":\"repository\",\"name\":\"a\","
                            "\"name\":\"b\",\"actions\":[\"pull\"]},"
                            "{\"type\":\"repository\",\"name\":"
                            "\"test/single\",\"actions\":[\"pull\"]}]",
                            "repository", "test/single", "pull"), 0);

    /* members in any order, unknown members skipped */
    assert_int_equal(grants("[{\"class\":\"image\",\"actions\":[\"pull\"],"
                            "\"name\":\"test/single\",\"x\":{\"y\":[1]},"
                            "\"type\":\"repository\"}]",
                            "repository", "test/single", "pull"), 1);

    /* access must be an array, and only once */
    assert_int_equal(grants("{}", "repository", "test/single", "pull"), -1);
    assert_int_equal(grants("[1]", "repository", "test/single", "pull"), 0);
}


/*
 * The signature cache remembers only tokens whose signature held, per key
 * set, and never spares the claims: a cached token that has expired since
 * is refused, and a token differing in one byte is verified afresh.
 */

static void
test_cache(void **state)
{
    static u_char                 work[8192];
    char                         *tok, *tok2;
    size_t                        len;
    ngx_http_harbor_jwt_keys_t    keys, other;
    ngx_http_harbor_jwt_opts_t    opts;
    ngx_http_harbor_jwt_claims_t  c;

    load(&keys, pub_pem(rsa1));
    load(&other, pub_pem(rsa2));

    opts.issuer = "harbor-token-issuer";
    opts.audience = "harbor-registry";
    opts.now = NOW;
    opts.leeway = 60;

    tok = mint(hdr_rs, claims_std(access_single, NOW + 600, NOW), "RS256",
               rsa1, NULL, 0);
    len = strlen(tok);

#define V(k)                                                                  \
    ngx_http_harbor_jwt_verify(k, &opts, (u_char *) tok, len, work,          \
                               sizeof(work), &c)

    assert_int_equal(V(&keys), NGX_HTTP_HARBOR_JWT_OK);
    assert_int_equal(keys.cache_hits, 0);
    assert_int_equal(keys.cache_misses, 1);
    assert_int_equal(V(&keys), NGX_HTTP_HARBOR_JWT_OK);
    assert_int_equal(keys.cache_hits, 1);
    assert_true(ngx_http_harbor_jwt_grants(&c, "repository",
                                           (u_char *) "test/single", 11,
                                           "pull"));

    /* another key set has its own cache: no hit, bad signature */
    assert_int_equal(V(&other), NGX_HTTP_HARBOR_JWT_BAD_SIGNATURE);
    assert_int_equal(other.cache_hits, 0);
    assert_int_equal(V(&other), NGX_HTTP_HARBOR_JWT_BAD_SIGNATURE);

    /* cached, but expired now: the claims are checked every time */
    opts.now = NOW + 3600;
    assert_int_equal(V(&keys), NGX_HTTP_HARBOR_JWT_EXPIRED);
    assert_int_equal(keys.cache_hits, 2);
    opts.now = NOW;

    /* one byte of the signature changed: verified afresh, and refused */
    tok2 = strdup(tok);
    tok2[len - 2] = (tok2[len - 2] == 'A') ? 'B' : 'A';
    assert_int_equal(ngx_http_harbor_jwt_verify(&keys, &opts,
                                                (u_char *) tok2, len, work,
                                                sizeof(work), &c),
                     NGX_HTTP_HARBOR_JWT_BAD_SIGNATURE);
    assert_int_equal(ngx_http_harbor_jwt_verify(&keys, &opts,
                                                (u_char *) tok2, len, work,
                                                sizeof(work), &c),
                     NGX_HTTP_HARBOR_JWT_BAD_SIGNATURE);
    assert_int_equal(keys.cache_hits, 2);

    /* a refused token never entered: the good one still hits */
    assert_int_equal(V(&keys), NGX_HTTP_HARBOR_JWT_OK);
    assert_int_equal(keys.cache_hits, 3);

#undef V

    free(tok);
    free(tok2);
    ngx_http_harbor_jwt_keys_free(&keys);
    ngx_http_harbor_jwt_keys_free(&other);
    assert_null(keys.cache);
}


static void
test_strerror(void **state)
{
    int  i;

    for (i = 0; i <= NGX_HTTP_HARBOR_JWT_INTERNAL; i++) {
        assert_non_null(ngx_http_harbor_jwt_strerror(i));
    }

    assert_string_equal(ngx_http_harbor_jwt_strerror(
                            NGX_HTTP_HARBOR_JWT_EXPIRED), "expired");
    assert_string_equal(ngx_http_harbor_jwt_strerror(99), "unknown error");
}


static int
setup(void **state)
{
    rsa1 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    rsa2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    rsa_small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);
    ec1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ec2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ec384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");

    if (rsa1 == NULL || rsa2 == NULL || rsa_small == NULL || ec1 == NULL
        || ec2 == NULL || ec384 == NULL)
    {
        return -1;
    }

    return 0;
}


static int
teardown(void **state)
{
    EVP_PKEY_free(rsa1);
    EVP_PKEY_free(rsa2);
    EVP_PKEY_free(rsa_small);
    EVP_PKEY_free(ec1);
    EVP_PKEY_free(ec2);
    EVP_PKEY_free(ec384);

    return 0;
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_b64url),
        cmocka_unit_test(test_keys_load),
        cmocka_unit_test(test_valid_rs256),
        cmocka_unit_test(test_valid_es256),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_issuer_audience),
        cmocka_unit_test(test_algorithms),
        cmocka_unit_test(test_alg_needs_key_type),
        cmocka_unit_test(test_kid),
        cmocka_unit_test(test_header_json),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_access),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_strerror),
    };

    return cmocka_run_group_tests_name("ngx_http_harbor_jwt", tests, setup,
                                       teardown);
}
