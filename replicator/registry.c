/*
 * registry.c: v2 client requests.  Every name that reaches a URL was
 * checked against the OCI grammar by the caller or here, so no path
 * escaping is needed: the grammar admits no character that would need it.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "registry.h"


static int hr_reg_list(hr_src_t *s, const char *first, const char *scope,
    const char *key, char ***out, size_t *n, char *err, size_t errlen);


void
hr_src_init(hr_src_t *s, hr_ctx_t *ctx, hr_registry_conf_t *rc)
{
    memset(s, 0, sizeof(hr_src_t));
    s->ctx = ctx;
    s->rc = rc;
    hr_auth_init(&s->auth, ctx->http, rc, &ctx->auth);
}


void
hr_src_free(hr_src_t *s)
{
    hr_auth_free(&s->auth);
}


void
hr_reg_scope(char *out, size_t outlen, const char *repo)
{
    snprintf(out, outlen, "repository:%s:pull", repo);
}


hr_xfer_t *
hr_reg_get(hr_src_t *s, const char *url, const char *scope,
    const char *const *headers, size_t body_max, int head, char *err,
    size_t errlen)
{
    int                  attempt;
    char                 full[4096];
    hr_xfer_t           *x;
    const char *const   *h;

    if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) {
        snprintf(full, sizeof(full), "%s", url);

    } else {
        snprintf(full, sizeof(full), "%s%s", s->rc->url, url);
    }

    s->status = 0;

    for (attempt = 0; attempt < 3; attempt++) {
        x = hr_xfer_create(s->ctx->http, full, body_max);
        if (x == NULL) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }

        hr_xfer_tls(x, s->rc->ca_file, s->rc->ca_pem, s->rc->insecure);

        if (head) {
            hr_xfer_head(x);
        }

        /* every attempt sends them all: the retry after a 401 too */
        for (h = headers; h != NULL && *h != NULL; h++) {
            if (hr_xfer_add_header(x, *h) == -1) {
                snprintf(err, errlen, "out of memory");
                goto failed;
            }
        }

        /* scope NULL: a REST call that carries its own credentials */
        if ((scope != NULL
             && hr_auth_apply(&s->auth, x, scope, err, errlen) == -1)
            || hr_xfer_start(x, err, errlen) == -1
            || hr_xfer_wait(x, err, errlen) == -1)
        {
            goto failed;
        }

        s->status = x->status;

        if (x->status != 401 || scope == NULL) {
            return x;
        }

        if (hr_auth_challenge(&s->auth, x->www_auth, scope, err, errlen)
            == -1)
        {
            goto failed;
        }

        hr_xfer_free(x);
    }

    snprintf(err, errlen, "GET %s: still 401 after authenticating", full);

    return NULL;

failed:

    hr_xfer_free(x);

    return NULL;
}


int
hr_reg_next_link(hr_src_t *s, const char *link, char *out, size_t outlen)
{
    size_t       len;
    const char  *lt, *gt;

    out[0] = '\0';

    if (link == NULL || strstr(link, "rel=\"next\"") == NULL) {
        return 0;
    }

    lt = strchr(link, '<');
    gt = lt ? strchr(lt, '>') : NULL;

    if (lt == NULL || gt == NULL) {
        return -1;
    }

    lt++;
    len = gt - lt;

    if (len == 0 || len + strlen(s->rc->url) + 1 >= outlen) {
        return -1;
    }

    if (lt[0] == '/') {
        snprintf(out, outlen, "%s%.*s", s->rc->url, (int) len, lt);

    } else if (strncmp(lt, "http://", 7) == 0
               || strncmp(lt, "https://", 8) == 0)
    {
        snprintf(out, outlen, "%.*s", (int) len, lt);

    } else {
        return -1;
    }

    return 0;
}


static int
hr_reg_list(hr_src_t *s, const char *first, const char *scope,
    const char *key, char ***out, size_t *n, char *err, size_t errlen)
{
    int            pages;
    char           url[4096], **list, **nl;
    size_t         i, cnt, cap;
    json_t        *js, *arr, *v;
    hr_xfer_t     *x;
    json_error_t   je;

    list = NULL;
    cnt = 0;
    cap = 0;

    snprintf(url, sizeof(url), "%s", first);

    for (pages = 0; url[0] != '\0'; pages++) {
        if (pages == 10000) {
            snprintf(err, errlen, "more than 10000 pages at %s", first);
            goto failed;
        }

        x = hr_reg_get(s, url, scope, NULL, 16 * 1024 * 1024, 0, err,
                       errlen);
        if (x == NULL) {
            goto failed;
        }

        if (x->status != 200) {
            snprintf(err, errlen, "GET %s: %ld %.300s", url, x->status,
                     x->body.data ? x->body.data : "");
            hr_xfer_free(x);
            goto failed;
        }

        js = json_loadb(x->body.data ? x->body.data : "", x->body.len, 0,
                        &je);

        if (hr_reg_next_link(s, x->link, url, sizeof(url)) == -1) {
            snprintf(err, errlen, "GET %s: bad Link header", url);
            json_decref(js);
            hr_xfer_free(x);
            goto failed;
        }

        hr_xfer_free(x);

        arr = json_object_get(js, key);

        if (js == NULL || !(json_is_array(arr) || json_is_null(arr))) {
            snprintf(err, errlen, "%s: no \"%s\" array in the answer", first,
                     key);
            json_decref(js);
            goto failed;
        }

        json_array_foreach(arr, i, v) {
            if (!json_is_string(v)) {
                continue;
            }

            if (cnt == cap) {
                cap = cap ? cap * 2 : 64;
                nl = realloc(list, cap * sizeof(char *));
                if (nl == NULL) {
                    json_decref(js);
                    goto nomem;
                }
                list = nl;
            }

            list[cnt] = strdup(json_string_value(v));
            if (list[cnt] == NULL) {
                json_decref(js);
                goto nomem;
            }

            cnt++;
        }

        json_decref(js);
    }

    *out = list;
    *n = cnt;

    return 0;

nomem:

    snprintf(err, errlen, "out of memory");

failed:

    hr_store_free_list(list, cnt);

    return -1;
}


int
hr_reg_catalog(hr_src_t *s, char ***repos, size_t *n, char *err,
    size_t errlen)
{
    return hr_reg_list(s, "/v2/_catalog?n=100", "registry:catalog:*",
                       "repositories", repos, n, err, errlen);
}


int
hr_reg_tags(hr_src_t *s, const char *repo, char ***tags, size_t *n,
    char *err, size_t errlen)
{
    char  url[512], scope[512];

    if (!hr_valid_repo(repo)) {
        snprintf(err, errlen, "bad repository name \"%s\"", repo);
        return -1;
    }

    snprintf(url, sizeof(url), "/v2/%s/tags/list?n=1000", repo);
    hr_reg_scope(scope, sizeof(scope), repo);

    return hr_reg_list(s, url, scope, "tags", tags, n, err, errlen);
}


int
hr_reg_manifest(hr_src_t *s, const char *repo, const char *ref,
    hr_buf_t *out, char *mt, size_t mtlen, char *digest, char *err,
    size_t errlen)
{
    char                 url[512], scope[512], got[HR_DIGEST_LEN + 1];
    char                *semi;
    hr_xfer_t           *x;
    static const char   *hdrs[] = { HR_ACCEPT_MANIFESTS, NULL };

    if (!hr_valid_repo(repo) || !(hr_valid_tag(ref) || hr_valid_digest(ref)))
    {
        snprintf(err, errlen, "bad reference \"%s:%s\"", repo, ref);
        return -1;
    }

    snprintf(url, sizeof(url), "/v2/%s/manifests/%s", repo, ref);
    hr_reg_scope(scope, sizeof(scope), repo);

    x = hr_reg_get(s, url, scope, hdrs, HR_MANIFEST_MAX, 0, err, errlen);
    if (x == NULL) {
        return -1;
    }

    if (x->status != 200) {
        snprintf(err, errlen, "GET %s: %ld %.300s", url, x->status,
                 x->body.data ? x->body.data : "");
        hr_xfer_free(x);
        return -1;
    }

    hr_sha256_digest(x->body.data ? x->body.data : "", x->body.len, got);

    if (hr_valid_digest(ref) && strcmp(ref, got) != 0) {
        snprintf(err, errlen, "manifest %s@%s: the bytes hash to %s", repo,
                 ref, got);
        hr_xfer_free(x);
        return -1;
    }

    if (x->digest[0] != '\0' && strcmp(x->digest, got) != 0) {
        snprintf(err, errlen, "manifest %s:%s: Docker-Content-Digest %s but "
                 "the bytes hash to %s", repo, ref, x->digest, got);
        hr_xfer_free(x);
        return -1;
    }

    snprintf(mt, mtlen, "%s", x->content_type);
    semi = strchr(mt, ';');
    if (semi != NULL) {
        *semi = '\0';
    }

    memcpy(digest, got, HR_DIGEST_LEN + 1);

    /* hand the buffer over instead of copying up to 4 MiB */
    hr_buf_free(out);
    *out = x->body;
    hr_buf_init(&x->body, 0);
    hr_xfer_free(x);

    if (out->data == NULL && hr_buf_append(out, "", 0) == -1) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    return 0;
}


int
hr_reg_head_digest(hr_src_t *s, const char *repo, const char *ref,
    char *digest)
{
    char                 url[512], scope[512], err[512];
    hr_xfer_t           *x;
    static const char   *hdrs[] = { HR_ACCEPT_MANIFESTS, NULL };

    if (!hr_valid_repo(repo) || !hr_valid_tag(ref)) {
        return -1;
    }

    snprintf(url, sizeof(url), "/v2/%s/manifests/%s", repo, ref);
    hr_reg_scope(scope, sizeof(scope), repo);

    x = hr_reg_get(s, url, scope, hdrs, 65536, 1, err, sizeof(err));
    if (x == NULL) {
        return -1;
    }

    if (x->status != 200 || !hr_valid_digest(x->digest)) {
        hr_xfer_free(x);
        return -1;
    }

    memcpy(digest, x->digest, HR_DIGEST_LEN + 1);
    hr_xfer_free(x);

    return 0;
}


json_t *
hr_reg_referrers(hr_src_t *s, const char *repo, const char *digest,
    char *err, size_t errlen)
{
    char           url[512], scope[512];
    json_t        *js;
    hr_xfer_t     *x;
    json_error_t   je;

    err[0] = '\0';

    if (s->no_referrers) {
        return NULL;
    }

    snprintf(url, sizeof(url), "/v2/%s/referrers/%s", repo, digest);
    hr_reg_scope(scope, sizeof(scope), repo);

    x = hr_reg_get(s, url, scope, NULL, HR_REFERRERS_MAX, 0, err, errlen);
    if (x == NULL) {
        return NULL;
    }

    /* the spec: a registry with the API answers 200, never 404 */
    if (x->status == 404) {
        s->no_referrers = 1;
    }

    if (x->status != 200 || strncmp(x->content_type,
                                    "application/vnd.oci.image.index.v1+json",
                                    39) != 0)
    {
        /* no referrers API: not an error, the tag schema still works */
        err[0] = '\0';
        hr_xfer_free(x);
        return NULL;
    }

    js = json_loadb(x->body.data, x->body.len, 0, &je);
    hr_xfer_free(x);

    if (js == NULL || !json_is_array(json_object_get(js, "manifests"))) {
        snprintf(err, errlen, "referrers of %s@%s: not an index", repo,
                 digest);
        json_decref(js);
        return NULL;
    }

    return js;
}


hr_xfer_t *
hr_reg_blob_xfer(hr_src_t *s, const char *repo, const char *digest,
    char *err, size_t errlen)
{
    char        url[4096], scope[512];
    hr_xfer_t  *x;

    if (!hr_valid_repo(repo) || !hr_valid_digest(digest)) {
        snprintf(err, errlen, "bad blob reference \"%s@%s\"", repo, digest);
        return NULL;
    }

    snprintf(url, sizeof(url), "%s/v2/%s/blobs/%s", s->rc->url, repo, digest);
    hr_reg_scope(scope, sizeof(scope), repo);

    x = hr_xfer_create(s->ctx->http, url, 64 * 1024);
    if (x == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    hr_xfer_tls(x, s->rc->ca_file, s->rc->ca_pem, s->rc->insecure);

    if (hr_auth_apply(&s->auth, x, scope, err, errlen) == -1) {
        hr_xfer_free(x);
        return NULL;
    }

    return x;
}
