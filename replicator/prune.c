/*
 * prune.c: the links of a deleted manifest (see prune.h).
 *
 * The repository's kept manifests are read from the store each time: a
 * deletion is rare, and the store is the truth (another process may have
 * linked something since).  Sets are small arrays searched linearly: a
 * repository holds tens to a few thousand revisions.
 */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "prune.h"

#define HR_PRUNE_DEPTH  8


typedef struct {
    char   **d;
    size_t   n;
    size_t   cap;
} hr_dset_t;


static int hr_prune_one(hr_store_t *st, const char *repo, const char *digest,
    int depth, hr_prune_stats_t *ps, char *err, size_t errlen);
static int hr_dset_add(hr_dset_t *s, const char *digest);
static int hr_dset_has(hr_dset_t *s, const char *digest);
static void hr_dset_free(hr_dset_t *s);
static int hr_prune_refs(hr_store_t *st, const char *digest, hr_dset_t *refs,
    hr_dset_t *children, char *subject);
static int hr_prune_referrer(hr_store_t *st, const char *repo,
    const char *subject, const char *digest, char *err, size_t errlen);
static int hr_prune_kept(hr_store_t *st, const char *repo, const char *digest,
    hr_dset_t *need, char *err, size_t errlen);
static void hr_prune_unlink(const char *dir);


static int
hr_dset_add(hr_dset_t *s, const char *digest)
{
    char  **nd;

    if (!hr_valid_digest(digest) || hr_dset_has(s, digest)) {
        return 0;
    }

    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        nd = realloc(s->d, s->cap * sizeof(char *));
        if (nd == NULL) {
            return -1;
        }
        s->d = nd;
    }

    s->d[s->n] = strdup(digest);
    if (s->d[s->n] == NULL) {
        return -1;
    }

    s->n++;

    return 0;
}


static int
hr_dset_has(hr_dset_t *s, const char *digest)
{
    size_t  i;

    for (i = 0; i < s->n; i++) {
        if (strcmp(s->d[i], digest) == 0) {
            return 1;
        }
    }

    return 0;
}


static void
hr_dset_free(hr_dset_t *s)
{
    size_t  i;

    for (i = 0; i < s->n; i++) {
        free(s->d[i]);
    }

    free(s->d);
    memset(s, 0, sizeof(hr_dset_t));
}


/*
 * What a stored manifest refers to: config, layers, blobs and index
 * children in refs; the children also in children (may be NULL); its
 * subject in subject (may be NULL; "" none).  A manifest that is absent
 * or corrupt refers to nothing we can know.  -1: out of memory.
 */
static int
hr_prune_refs(hr_store_t *st, const char *digest, hr_dset_t *refs,
    hr_dset_t *children, char *subject)
{
    int           rc;
    char         *p;
    size_t        len, i, k;
    json_t       *js, *arr, *v;
    const char   *keys[] = { "layers", "blobs", "manifests" };

    if (hr_store_manifest_read(st, digest, &p, &len) != 1) {
        return 0;
    }

    js = json_loadb(p, len, 0, NULL);
    free(p);

    if (!json_is_object(js)) {
        json_decref(js);
        return 0;
    }

    rc = 0;

    if (subject != NULL) {
        v = json_object_get(json_object_get(js, "subject"), "digest");
        subject[0] = '\0';

        if (json_is_string(v) && hr_valid_digest(json_string_value(v))) {
            memcpy(subject, json_string_value(v), HR_DIGEST_LEN + 1);
        }
    }

    v = json_object_get(json_object_get(js, "config"), "digest");

    if (json_is_string(v) && hr_dset_add(refs, json_string_value(v)) == -1) {
        rc = -1;
    }

    for (k = 0; k < 3 && rc == 0; k++) {
        arr = json_object_get(js, keys[k]);

        for (i = 0; i < json_array_size(arr); i++) {
            v = json_object_get(json_array_get(arr, i), "digest");

            if (!json_is_string(v)) {
                continue;
            }

            if (hr_dset_add(refs, json_string_value(v)) == -1
                || (k == 2 && children != NULL
                    && hr_dset_add(children, json_string_value(v)) == -1))
            {
                rc = -1;
                break;
            }
        }
    }

    json_decref(js);

    return rc;
}


/* Every revision of repo but digest, and what each refers to. */
static int
hr_prune_kept(hr_store_t *st, const char *repo, const char *digest,
    hr_dset_t *need, char *err, size_t errlen)
{
    DIR            *d;
    char            dir[PATH_MAX], rev[HR_DIGEST_LEN + 1];
    struct dirent  *de;

    snprintf(dir, sizeof(dir), "%s/repositories/%s/_manifests/revisions/"
             "sha256", st->v2, repo);

    d = opendir(dir);
    if (d == NULL) {
        if (errno == ENOENT) {
            return 0;
        }

        snprintf(err, errlen, "opendir(\"%s\") failed: %s", dir,
                 strerror(errno));
        return -1;
    }

    while ((de = readdir(d)) != NULL) {
        if (strlen(de->d_name) != 64) {
            continue;
        }

        snprintf(rev, sizeof(rev), "sha256:%s", de->d_name);

        if (!hr_valid_digest(rev) || strcmp(rev, digest) == 0
            || hr_store_read_link(st, repo, HR_LINK_REVISION, NULL, rev,
                                  rev)
               != 1)
        {
            continue;
        }

        if (hr_dset_add(need, rev) == -1
            || hr_prune_refs(st, rev, need, NULL, NULL) == -1)
        {
            closedir(d);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }

    closedir(d);

    return 0;
}


/*
 * Takes digest's descriptor out of the referrers index of subject in repo
 * (the file is rewritten atomically, or removed when nothing is left).
 */
static int
hr_prune_referrer(hr_store_t *st, const char *repo, const char *subject,
    const char *digest, char *err, size_t errlen)
{
    int      rc, found;
    char     path[PATH_MAX], *text;
    size_t   len, i;
    json_t  *idx, *list, *m, *kept;

    snprintf(path, sizeof(path),
             "%s/repositories/%s/_harbor/referrers/sha256/%s/index.json",
             st->v2, repo, subject + 7);

    text = hr_store_read_file(path, HR_REFERRERS_MAX, &len, err, errlen);
    if (text == NULL) {
        err[0] = '\0';
        return 0;               /* none: nothing lists it */
    }

    idx = json_loadb(text, len, 0, NULL);
    free(text);

    list = json_object_get(idx, "manifests");
    kept = json_array();

    if (!json_is_array(list) || kept == NULL) {
        json_decref(idx);
        json_decref(kept);
        return 0;
    }

    found = 0;

    json_array_foreach(list, i, m) {
        if (json_is_string(json_object_get(m, "digest"))
            && strcmp(json_string_value(json_object_get(m, "digest")),
                      digest)
               == 0)
        {
            found = 1;
            continue;
        }

        json_array_append(kept, m);
    }

    if (!found) {
        json_decref(idx);
        json_decref(kept);
        return 0;
    }

    if (json_array_size(kept) == 0) {
        json_decref(idx);
        json_decref(kept);
        (void) unlink(path);
        return 0;
    }

    json_object_set_new(idx, "manifests", kept);
    text = json_dumps(idx, JSON_COMPACT);
    json_decref(idx);

    if (text == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    rc = hr_store_write_file(st, path, text, strlen(text), err, errlen);
    free(text);

    return rc;
}


/* Removes dir/link and dir (a link's own directory). */
static void
hr_prune_unlink(const char *dir)
{
    int   n;
    char  path[PATH_MAX + 8];

    n = snprintf(path, sizeof(path), "%s/link", dir);

    if (n > 0 && (size_t) n < sizeof(path)) {
        (void) unlink(path);
        (void) rmdir(dir);
    }
}


int
hr_prune_manifest(hr_store_t *st, const char *repo, const char *digest,
    hr_prune_stats_t *ps, char *err, size_t errlen)
{
    err[0] = '\0';

    if (!hr_valid_repo(repo) || !hr_valid_digest(digest)) {
        snprintf(err, errlen, "refusing to prune \"%s\" of \"%s\"", digest,
                 repo);
        return -1;
    }

    return hr_prune_one(st, repo, digest, 0, ps, err, errlen);
}


static int
hr_prune_one(hr_store_t *st, const char *repo, const char *digest,
    int depth, hr_prune_stats_t *ps, char *err, size_t errlen)
{
    int         rc;
    char      **tags, cur[HR_DIGEST_LEN + 1], base[PATH_MAX];
    char        subject[HR_DIGEST_LEN + 1];
    char        dir[PATH_MAX + 400];
    size_t      i, ntags;
    hr_dset_t   need, refs, children;

    tags = NULL;
    ntags = 0;

    if (hr_store_tags(st, repo, &tags, &ntags, err, errlen) == -1) {
        tags = NULL;
        ntags = 0;
        err[0] = '\0';
    }

    for (i = 0; i < ntags; i++) {
        if (hr_store_read_link(st, repo, HR_LINK_TAG_CURRENT, tags[i], NULL,
                               cur)
            == 1
            && strcmp(cur, digest) == 0)
        {
            hr_store_free_list(tags, ntags);
            return 0;           /* still tagged: still wanted */
        }
    }

    memset(&need, 0, sizeof(need));
    memset(&refs, 0, sizeof(refs));
    memset(&children, 0, sizeof(children));

    if (hr_prune_kept(st, repo, digest, &need, err, errlen) == -1) {
        rc = -1;
        goto done;
    }

    if (hr_dset_has(&need, digest)) {
        rc = 0;                 /* a child of a kept index */
        goto done;
    }

    if (hr_prune_refs(st, digest, &refs, &children, subject) == -1) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
        goto done;
    }

    snprintf(base, sizeof(base), "%s/repositories/%s", st->v2, repo);

    /* a referrers index names only manifests that can be read: first */
    if (subject[0] != '\0'
        && hr_prune_referrer(st, repo, subject, digest, err, errlen) == -1)
    {
        rc = -1;
        goto done;
    }

    /* and its own referrers index goes with it */
    snprintf(dir, sizeof(dir), "%s/_harbor/referrers/sha256/%s/index.json",
             base, digest + 7);
    (void) unlink(dir);
    snprintf(dir, sizeof(dir), "%s/_harbor/referrers/sha256/%s", base,
             digest + 7);
    (void) rmdir(dir);

    /* readers reach a manifest by tag index, revision, then layer link */
    for (i = 0; i < ntags; i++) {
        snprintf(dir, sizeof(dir), "%s/_manifests/tags/%s/index/sha256/%s",
                 base, tags[i], digest + 7);
        hr_prune_unlink(dir);
    }

    snprintf(dir, sizeof(dir), "%s/_manifests/revisions/sha256/%s", base,
             digest + 7);

    if (access(dir, F_OK) == 0) {
        hr_prune_unlink(dir);
        ps->revisions++;
    }

    snprintf(dir, sizeof(dir), "%s/_harbor/cached/sha256/%s", base,
             digest + 7);
    (void) unlink(dir);

    snprintf(dir, sizeof(dir), "%s/_layers/sha256/%s", base, digest + 7);
    hr_prune_unlink(dir);

    for (i = 0; i < refs.n; i++) {
        if (hr_dset_has(&children, refs.d[i])) {
            if (depth < HR_PRUNE_DEPTH
                && hr_prune_one(st, repo, refs.d[i], depth + 1, ps, err,
                                errlen)
                   == -1)
            {
                rc = -1;
                goto done;
            }
            continue;
        }

        if (hr_dset_has(&need, refs.d[i])) {
            continue;
        }

        snprintf(dir, sizeof(dir), "%s/_layers/sha256/%s", base,
                 refs.d[i] + 7);

        if (access(dir, F_OK) == 0) {
            hr_prune_unlink(dir);
            ps->layers++;
        }

        snprintf(dir, sizeof(dir), "%s/_harbor/cached/layers/sha256/%s", base,
                 refs.d[i] + 7);
        (void) unlink(dir);
    }

    rc = 1;

done:

    hr_store_free_list(tags, ntags);
    hr_dset_free(&need);
    hr_dset_free(&refs);
    hr_dset_free(&children);

    return rc;
}
