/*
 * auth.h: credentials towards one registry.  The scheme is learnt from the
 * registry's first 401 (wwwauth.h): Basic sends the configured credentials
 * on every request; Bearer fetches a token from the realm with GET
 * ?service=&scope= (Basic credentials when configured, anonymous otherwise),
 * and caches it per scope until expires_in runs out.
 */

#ifndef HR_AUTH_H
#define HR_AUTH_H

#include <time.h>

#include "config.h"
#include "http.h"
#include "wwwauth.h"

typedef struct hr_token_s  hr_token_t;

struct hr_token_s {
    char        *scope;
    char        *token;
    time_t       expires;
    hr_token_t  *next;
};

/*
 * What a registry taught about one identity (its scheme, realm, tokens):
 * kept in an hr_auth_cache_t for every hr_auth_t of that registry and
 * username, so jobs do not fetch the same token each.
 */
typedef struct hr_auth_shared_s  hr_auth_shared_t;

struct hr_auth_shared_s {
    char                *url;
    char                *username;      /* NULL: anonymous */
    hr_auth_scheme_e     scheme;
    char                 realm[1024];
    char                 service[256];
    hr_token_t          *tokens;
    unsigned             fetched;       /* tokens fetched, for the logs */
    hr_auth_shared_t    *next;
};

typedef struct {
    hr_auth_shared_t    *list;
} hr_auth_cache_t;

typedef struct {
    hr_http_t           *http;
    hr_registry_conf_t  *rc;
    hr_auth_shared_t    *sh;            /* the cache's entry, or own */
    hr_auth_shared_t     own;
} hr_auth_t;

/* cache NULL: a's own state, freed by hr_auth_free(). */
void hr_auth_init(hr_auth_t *a, hr_http_t *http, hr_registry_conf_t *rc,
    hr_auth_cache_t *cache);
void hr_auth_free(hr_auth_t *a);
void hr_auth_cache_free(hr_auth_cache_t *cache);

/*
 * Adds the Authorization header a request for scope needs ("" for none:
 * REST calls, the ping).  For a Bearer registry a missing or expired token
 * is fetched first.
 */
int hr_auth_apply(hr_auth_t *a, hr_xfer_t *x, const char *scope, char *err,
    size_t errlen);

/*
 * Learns from a 401's WWW-Authenticate.  Returns 0 when retrying may now
 * succeed, -1 (err filled) when it cannot: no credentials for Basic, a
 * token that was just fetched and still refused, a bad challenge.
 */
int hr_auth_challenge(hr_auth_t *a, const char *www_auth, const char *scope,
    char *err, size_t errlen);

/* The Basic header value for the configured credentials, or NULL. */
int hr_auth_basic(hr_registry_conf_t *rc, char *out, size_t outlen);

#endif /* HR_AUTH_H */
