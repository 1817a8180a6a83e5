/*
 * auth.c: Basic and the Bearer token flow (distribution's token auth, which
 * Harbor's token service speaks).  Tokens live in a short list keyed by the
 * scope string, shared by every job of the process that talks to the same
 * registry as the same identity: twenty fills of one image's layers fetch
 * one token.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "auth.h"


static hr_token_t *hr_auth_find(hr_auth_t *a, const char *scope);
static int hr_auth_fetch(hr_auth_t *a, const char *scope, char *err,
    size_t errlen);


void
hr_auth_init(hr_auth_t *a, hr_http_t *http, hr_registry_conf_t *rc,
    hr_auth_cache_t *cache)
{
    size_t             len;
    hr_auth_shared_t  *sh;

    memset(a, 0, sizeof(hr_auth_t));
    a->http = http;
    a->rc = rc;
    a->sh = &a->own;

    if (cache == NULL || rc->url == NULL) {
        return;
    }

    /* one entry per registry and identity: jobs share what they learn */
    for (sh = cache->list; sh; sh = sh->next) {
        if (strcmp(sh->url, rc->url) == 0
            && (sh->username == NULL) == (rc->username == NULL)
            && (sh->username == NULL
                || strcmp(sh->username, rc->username) == 0))
        {
            a->sh = sh;
            return;
        }
    }

    sh = calloc(1, sizeof(hr_auth_shared_t));
    if (sh == NULL) {
        return;
    }

    len = strlen(rc->url) + 1;
    sh->url = malloc(len);
    sh->username = rc->username ? strdup(rc->username) : NULL;

    if (sh->url == NULL || (rc->username != NULL && sh->username == NULL)) {
        free(sh->url);
        free(sh->username);
        free(sh);
        return;
    }

    memcpy(sh->url, rc->url, len);
    sh->next = cache->list;
    cache->list = sh;
    a->sh = sh;
}


static void
hr_auth_tokens_free(hr_auth_shared_t *sh)
{
    hr_token_t  *t, *next;

    for (t = sh->tokens; t; t = next) {
        next = t->next;
        free(t->scope);
        free(t->token);
        free(t);
    }

    sh->tokens = NULL;
}


void
hr_auth_free(hr_auth_t *a)
{
    /* a shared entry is the cache's */
    hr_auth_tokens_free(&a->own);
}


void
hr_auth_cache_free(hr_auth_cache_t *cache)
{
    hr_auth_shared_t  *sh, *next;

    if (cache == NULL) {
        return;
    }

    for (sh = cache->list; sh; sh = next) {
        next = sh->next;
        hr_auth_tokens_free(sh);
        free(sh->url);
        free(sh->username);
        free(sh);
    }

    cache->list = NULL;
}


int
hr_auth_basic(hr_registry_conf_t *rc, char *out, size_t outlen)
{
    char    plain[1024];
    size_t  n;

    if (rc->username == NULL) {
        return -1;
    }

    n = snprintf(plain, sizeof(plain), "%s:%s", rc->username,
                 rc->password ? rc->password : "");

    if (n >= sizeof(plain) || 4 * ((n + 2) / 3) + 32 > outlen) {
        return -1;
    }

    n = snprintf(out, outlen, "Authorization: Basic ");
    EVP_EncodeBlock((unsigned char *) out + n, (unsigned char *) plain,
                    strlen(plain));

    return 0;
}


static hr_token_t *
hr_auth_find(hr_auth_t *a, const char *scope)
{
    hr_token_t  *t;

    for (t = a->sh->tokens; t; t = t->next) {
        if (strcmp(t->scope, scope) == 0) {
            return t;
        }
    }

    return NULL;
}


int
hr_auth_apply(hr_auth_t *a, hr_xfer_t *x, const char *scope, char *err,
    size_t errlen)
{
    char         line[8192];
    hr_token_t  *t;

    switch (a->sh->scheme) {

    case HR_AUTH_BASIC:
        if (hr_auth_basic(a->rc, line, sizeof(line)) == 0) {
            return hr_xfer_add_header(x, line);
        }
        return 0;

    case HR_AUTH_BEARER:
        t = hr_auth_find(a, scope);

        if (t == NULL || t->expires <= time(NULL)) {
            if (hr_auth_fetch(a, scope, err, errlen) == -1) {
                return -1;
            }

            t = hr_auth_find(a, scope);
        }

        if (t == NULL || t->token[0] == '\0') {
            return 0;
        }

        if ((size_t) snprintf(line, sizeof(line), "Authorization: Bearer %s",
                              t->token)
            >= sizeof(line))
        {
            snprintf(err, errlen, "token too long");
            return -1;
        }

        return hr_xfer_add_header(x, line);

    default:
        return 0;
    }
}


int
hr_auth_challenge(hr_auth_t *a, const char *www_auth, const char *scope,
    char *err, size_t errlen)
{
    hr_token_t    *t;
    hr_wwwauth_t   wa;

    if (www_auth == NULL || www_auth[0] == '\0') {
        snprintf(err, errlen, "401 without a WWW-Authenticate challenge");
        return -1;
    }

    if (hr_wwwauth_parse(&wa, www_auth, strlen(www_auth)) == -1) {
        snprintf(err, errlen, "unusable WWW-Authenticate: %.200s", www_auth);
        return -1;
    }

    if (wa.scheme == HR_AUTH_BASIC) {
        if (a->rc->username == NULL) {
            snprintf(err, errlen, "the registry asks for Basic credentials "
                     "and none are configured");
            return -1;
        }

        if (a->sh->scheme == HR_AUTH_BASIC) {
            snprintf(err, errlen, "the registry refused the configured "
                     "credentials (401)");
            return -1;
        }

        a->sh->scheme = HR_AUTH_BASIC;
        return 0;
    }

    /* Bearer */

    if (wa.realm[0] == '\0') {
        snprintf(err, errlen, "Bearer challenge without a realm");
        return -1;
    }

    t = hr_auth_find(a, scope);

    if (a->sh->scheme == HR_AUTH_BEARER && t != NULL
        && t->expires > time(NULL) + 30
        && strcmp(a->sh->realm, wa.realm) == 0)
    {
        /* a fresh token was refused: more fetching will not help */
        snprintf(err, errlen, "the registry refused the token for \"%s\"%s%s",
                 scope, wa.error[0] ? ": " : "", wa.error);
        return -1;
    }

    if (t != NULL) {
        t->expires = 0;         /* forces a new fetch */
    }

    a->sh->scheme = HR_AUTH_BEARER;
    memcpy(a->sh->realm, wa.realm, sizeof(a->sh->realm));
    memcpy(a->sh->service, wa.service, sizeof(a->sh->service));

    return 0;
}


static int
hr_auth_fetch(hr_auth_t *a, const char *scope, char *err, size_t errlen)
{
    int            rc;
    char          *esc_service, *esc_scope, url[4096], line[2048];
    time_t         now;
    json_t        *js, *tok, *exp;
    hr_xfer_t     *x;
    hr_token_t    *t;
    json_error_t   je;

    esc_service = curl_easy_escape(NULL, a->sh->service, 0);
    esc_scope = curl_easy_escape(NULL, scope, 0);

    if (esc_service == NULL || esc_scope == NULL) {
        curl_free(esc_service);
        curl_free(esc_scope);
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    snprintf(url, sizeof(url), "%s%sservice=%s%s%s", a->sh->realm,
             strchr(a->sh->realm, '?') ? "&" : "?", esc_service,
             scope[0] ? "&scope=" : "", esc_scope);

    curl_free(esc_service);
    curl_free(esc_scope);

    x = hr_xfer_create(a->http, url, 1024 * 1024);
    if (x == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    hr_xfer_tls(x, a->rc->ca_file, a->rc->ca_pem, a->rc->insecure);

    if (hr_auth_basic(a->rc, line, sizeof(line)) == 0) {
        hr_xfer_add_header(x, line);
    }

    if (hr_xfer_start(x, err, errlen) == -1
        || hr_xfer_wait(x, err, errlen) == -1)
    {
        hr_xfer_free(x);
        return -1;
    }

    if (x->status != 200) {
        snprintf(err, errlen, "token service %s answered %ld: %.200s",
                 a->sh->realm, x->status, x->body.data ? x->body.data : "");
        hr_xfer_free(x);
        return -1;
    }

    js = json_loadb(x->body.data, x->body.len, 0, &je);
    hr_xfer_free(x);

    if (js == NULL) {
        snprintf(err, errlen, "token service %s: bad JSON: %s", a->sh->realm,
                 je.text);
        return -1;
    }

    tok = json_object_get(js, "token");
    if (!json_is_string(tok) || json_string_length(tok) == 0) {
        tok = json_object_get(js, "access_token");
    }

    if (!json_is_string(tok)) {
        snprintf(err, errlen, "token service %s: no token in the answer",
                 a->sh->realm);
        json_decref(js);
        return -1;
    }

    now = time(NULL);
    exp = json_object_get(js, "expires_in");

    t = hr_auth_find(a, scope);
    if (t == NULL) {
        t = calloc(1, sizeof(hr_token_t));
        if (t == NULL || (t->scope = strdup(scope)) == NULL) {
            free(t);
            json_decref(js);
            snprintf(err, errlen, "out of memory");
            return -1;
        }

        t->next = a->sh->tokens;
        a->sh->tokens = t;
    }

    free(t->token);
    t->token = strdup(json_string_value(tok));

    /* the spec's default is 60 s; keep a margin for the clock and the trip */
    t->expires = now + (json_is_integer(exp) && json_integer_value(exp) > 20
                        ? json_integer_value(exp) : 60) - 10;

    json_decref(js);

    rc = t->token == NULL ? -1 : 0;
    if (rc == -1) {
        snprintf(err, errlen, "out of memory");
    }

    a->sh->fetched++;

    return rc;
}
