/*
 * registry.h: the client of a v2 / OCI distribution registry: _catalog and
 * tags/list with Link pagination, manifests with every docker and OCI type
 * in Accept and their digest checked, referrers, blob URLs.
 *
 * Requests here are sequential (metadata is small); blobs are streamed in
 * parallel by plan.c with hr_reg_blob_xfer().  A 401 is answered through
 * auth.c and the request retried once.
 */

#ifndef HR_REGISTRY_H
#define HR_REGISTRY_H

#include <jansson.h>

#include "auth.h"
#include "hr.h"

#define HR_ACCEPT_MANIFESTS                                                   \
    "Accept: application/vnd.oci.image.index.v1+json, "                       \
    "application/vnd.docker.distribution.manifest.list.v2+json, "            \
    "application/vnd.oci.image.manifest.v1+json, "                            \
    "application/vnd.docker.distribution.manifest.v2+json, "                 \
    "application/vnd.docker.distribution.manifest.v1+prettyjws, "            \
    "application/vnd.docker.distribution.manifest.v1+json"

typedef struct {
    hr_ctx_t            *ctx;
    hr_registry_conf_t  *rc;
    hr_auth_t            auth;
    int                  harbor;        /* Harbor's REST API answered */
    int                  no_referrers;  /* a 404 on /referrers/: no API */
    long                 status;        /* of the last request, 0: none */
    char                 version[64];   /* Harbor's /api/version */
} hr_src_t;

void hr_src_init(hr_src_t *s, hr_ctx_t *ctx, hr_registry_conf_t *rc);
void hr_src_free(hr_src_t *s);

/* "repository:<repo>:pull" */
void hr_reg_scope(char *out, size_t outlen, const char *repo);

/*
 * A GET (HEAD when head) of url (absolute, or a path under the registry),
 * with auth for scope (NULL: none, a REST call with its own credentials)
 * and extra header lines.  Returns the finished
 * transfer (any status but 401 after the retry), or NULL with err.
 */
hr_xfer_t *hr_reg_get(hr_src_t *s, const char *url, const char *scope,
    const char *const *headers, size_t body_max, int head, char *err,
    size_t errlen);

int hr_reg_catalog(hr_src_t *s, char ***repos, size_t *n, char *err,
    size_t errlen);
int hr_reg_tags(hr_src_t *s, const char *repo, char ***tags, size_t *n,
    char *err, size_t errlen);

/*
 * Fetches a manifest by tag or digest into out (capped at 4 MiB).  Its
 * sha256 must equal ref when ref is a digest, and Docker-Content-Digest when
 * the registry sent one.  digest gets the verified digest, mt the type.
 */
int hr_reg_manifest(hr_src_t *s, const char *repo, const char *ref,
    hr_buf_t *out, char *mt, size_t mtlen, char *digest, char *err,
    size_t errlen);

/*
 * HEAD of a tag: the Docker-Content-Digest the registry gives, or -1 when
 * it gives none (then only a GET and hashing tell).  Used to skip the GET
 * of a tag that did not change; everything copied is still verified.
 */
int hr_reg_head_digest(hr_src_t *s, const char *repo, const char *ref,
    char *digest);

/* The referrers index, or NULL when the registry has none (404...). */
json_t *hr_reg_referrers(hr_src_t *s, const char *repo, const char *digest,
    char *err, size_t errlen);

/* A transfer for GET /v2/<repo>/blobs/<digest>, auth applied, not started. */
hr_xfer_t *hr_reg_blob_xfer(hr_src_t *s, const char *repo,
    const char *digest, char *err, size_t errlen);

/* The absolute URL of Link: <...>; rel="next", or "" when none. */
int hr_reg_next_link(hr_src_t *s, const char *link, char *out, size_t outlen);

#endif /* HR_REGISTRY_H */
