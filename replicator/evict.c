/*
 * evict.c: one eviction pass (see evict.h).
 *
 * The model of the store: every digest met (a blob file, a link) is an
 * object in one hash table, with its size, the number of links that name
 * it across all repositories, and, for a manifest, the digests it refers
 * to (config, layers, blobs, index children).  Repositories keep their
 * revisions, layer links and tags as pointers into it.  A store of a
 * million objects costs some hundred MB here, for the length of a pass.
 */

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "evict.h"
#include "tier.h"

#define HR_EVICT_YIELD      64          /* repositories between yields */
#define HR_EVICT_DEPTH      32          /* nested repository names */


typedef struct hr_eobj_s  hr_eobj_t;

struct hr_eobj_s {
    char           digest[HR_DIGEST_LEN + 1];
    long long      size;            /* -1: no blob file */
    long           links;           /* layer and revision links */
    time_t         served;
    hr_eobj_t    **refs;            /* a manifest's */
    size_t         nrefs;
    unsigned       parsed:1;
    unsigned       pinned:1;
    unsigned       mark:1;          /* scratch, for one candidate */
    unsigned       removed:1;       /* blob data gone */
};

typedef struct {
    hr_eobj_t     *obj;
    time_t         since;           /* cached since; 0: pinned */
    unsigned       cached:1;
    unsigned       gone:1;
} hr_eref_t;

typedef struct {
    char          *name;
    hr_eref_t     *revs;
    size_t         nrevs;
    hr_eref_t     *layers;
    size_t         nlayers;
    char         **tags;
    hr_eobj_t    **tag_obj;
    size_t         ntags;
} hr_erepo_t;

typedef struct {
    hr_erepo_t    *repo;
    hr_eref_t     *ref;
    int            layer;
    time_t         when;            /* last served, or cached since */
} hr_ecand_t;

struct hr_evict_s {
    hr_ctx_t      *ctx;
    hr_job_t      *job;
    hr_eobj_t    **table;
    size_t         cap;
    size_t         nobj;
    hr_erepo_t    *repos;
    size_t         nrepos;
    size_t         crepos;
    long long      total;
    const char   **cands;           /* digests for hr_evict_candidates() */
    size_t         ncands;
    const char   **removed;
    size_t         nremoved;
    size_t         cremoved;
    unsigned       since_yield;
};


static hr_eobj_t *hr_evict_obj(hr_evict_t *ev, const char *digest);
static int hr_evict_blobs(hr_evict_t *ev, char *err, size_t errlen);
static int hr_evict_walk(hr_evict_t *ev, const char *dir, const char *name,
    int depth, char *err, size_t errlen);
static int hr_evict_repo(hr_evict_t *ev, const char *name, char *err,
    size_t errlen);
static int hr_evict_list(hr_evict_t *ev, hr_erepo_t *rp, int layer,
    char *err, size_t errlen);
static void hr_evict_parse(hr_evict_t *ev, hr_eobj_t *o);
static void hr_evict_ref(hr_evict_t *ev, hr_eobj_t *o, json_t *desc,
    const char *key);
static void hr_evict_pin(hr_eobj_t *o, int depth);
static int hr_evict_refers(hr_erepo_t *rp, hr_eobj_t *o, int going);
static int hr_evict_busy(hr_evict_t *ev, hr_eobj_t *o, int depth);
static void hr_evict_one(hr_evict_t *ev, hr_ecand_t *c, int dry_run,
    hr_evict_stats_t *st);
static void hr_evict_unlink(hr_evict_t *ev, hr_erepo_t *rp, hr_eref_t *e,
    int layer, int dry_run, hr_evict_stats_t *st);
static int hr_evict_cmp(const void *a, const void *b);
static void hr_evict_yield(hr_evict_t *ev);


/* ------------------------------------------------------------ objects */

/* hex: 16 hex digits of a sha256, uniform already */
static unsigned long
hr_evict_hash(const char *hex)
{
    return strtoul(hex, NULL, 16);
}


static hr_eobj_t *
hr_evict_obj(hr_evict_t *ev, const char *digest)
{
    char            hex[17];
    size_t          i, k, ncap;
    hr_eobj_t      *o, **nt;
    unsigned long   h;

    if (!hr_valid_digest(digest)) {
        return NULL;
    }

    if (ev->nobj * 2 >= ev->cap) {
        ncap = ev->cap ? ev->cap * 2 : 4096;
        nt = calloc(ncap, sizeof(hr_eobj_t *));
        if (nt == NULL) {
            return NULL;
        }

        for (i = 0; i < ev->cap; i++) {
            if (ev->table[i] == NULL) {
                continue;
            }

            memcpy(hex, ev->table[i]->digest + 7, 16);
            hex[16] = '\0';
            h = hr_evict_hash(hex);

            for (k = h & (ncap - 1); nt[k] != NULL; k = (k + 1) & (ncap - 1))
            {
                /* probe on */
            }

            nt[k] = ev->table[i];
        }

        free(ev->table);
        ev->table = nt;
        ev->cap = ncap;
    }

    memcpy(hex, digest + 7, 16);
    hex[16] = '\0';
    h = hr_evict_hash(hex);

    for (k = h & (ev->cap - 1); ev->table[k] != NULL;
         k = (k + 1) & (ev->cap - 1))
    {
        if (strcmp(ev->table[k]->digest, digest) == 0) {
            return ev->table[k];
        }
    }

    o = calloc(1, sizeof(hr_eobj_t));
    if (o == NULL) {
        return NULL;
    }

    memcpy(o->digest, digest, HR_DIGEST_LEN + 1);
    o->size = -1;
    ev->table[k] = o;
    ev->nobj++;

    return o;
}


static void
hr_evict_yield(hr_evict_t *ev)
{
    if (ev->job != NULL && ++ev->since_yield >= HR_EVICT_YIELD) {
        ev->since_yield = 0;
        hr_job_sleep(ev->job, 0);
    }
}


/* ------------------------------------------------------------- scan */

hr_evict_t *
hr_evict_scan(hr_ctx_t *ctx, hr_job_t *j, char *err, size_t errlen)
{
    char          dir[PATH_MAX];
    size_t        i, k;
    hr_evict_t   *ev;
    hr_erepo_t   *rp;

    ev = calloc(1, sizeof(hr_evict_t));
    if (ev == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    ev->ctx = ctx;
    ev->job = j;

    if (hr_evict_blobs(ev, err, errlen) == -1) {
        goto failed;
    }

    snprintf(dir, sizeof(dir), "%s/repositories", ctx->store.v2);

    if (hr_evict_walk(ev, dir, "", 0, err, errlen) == -1) {
        goto failed;
    }

    /* pinned: what a revision or a layer link without a marker needs */
    for (i = 0; i < ev->nrepos; i++) {
        rp = &ev->repos[i];

        for (k = 0; k < rp->nrevs; k++) {
            hr_evict_parse(ev, rp->revs[k].obj);
        }

        for (k = 0; k < rp->nrevs; k++) {
            if (!rp->revs[k].cached) {
                hr_evict_pin(rp->revs[k].obj, 0);
            }
        }

        /*
         * A layer link without a marker is pinned, unless a cached
         * revision here refers to it: then it goes with that revision
         * (a fill or a miss copy writes its manifest's links unmarked).
         */
        for (k = 0; k < rp->nrevs; k++) {
            size_t  r;

            if (!rp->revs[k].cached) {
                continue;
            }

            rp->revs[k].obj->mark = 1;

            for (r = 0; r < rp->revs[k].obj->nrefs; r++) {
                rp->revs[k].obj->refs[r]->mark = 1;
            }
        }

        for (k = 0; k < rp->nlayers; k++) {
            if (!rp->layers[k].cached && !rp->layers[k].obj->mark) {
                rp->layers[k].obj->pinned = 1;
            }
        }

        for (k = 0; k < rp->nrevs; k++) {
            size_t  r;

            rp->revs[k].obj->mark = 0;

            for (r = 0; r < rp->revs[k].obj->nrefs; r++) {
                rp->revs[k].obj->refs[r]->mark = 0;
            }
        }

        hr_evict_yield(ev);
    }

    /* the digests whose served time is asked for */
    for (i = 0; i < ev->nrepos; i++) {
        rp = &ev->repos[i];

        for (k = 0; k < rp->nrevs + rp->nlayers; k++) {
            hr_eref_t  *e;

            e = k < rp->nrevs ? &rp->revs[k] : &rp->layers[k - rp->nrevs];

            if (!e->cached) {
                continue;
            }

            if (ev->ncands % 256 == 0) {
                const char  **nc;

                nc = realloc(ev->cands, (ev->ncands + 256)
                                        * sizeof(const char *));
                if (nc == NULL) {
                    snprintf(err, errlen, "out of memory");
                    goto failed;
                }

                ev->cands = nc;
            }

            ev->cands[ev->ncands++] = e->obj->digest;
        }
    }

    return ev;

failed:

    hr_evict_free(ev);

    return NULL;
}


/* Every blob file: its size, and the store's total. */
static int
hr_evict_blobs(hr_evict_t *ev, char *err, size_t errlen)
{
    DIR            *d1, *d2;
    char            p1[PATH_MAX], p2[PATH_MAX + 8], data[PATH_MAX + 80];
    char            digest[HR_DIGEST_LEN + 1];
    hr_eobj_t      *o;
    struct stat     sb;
    struct dirent  *e1, *e2;

    snprintf(p1, sizeof(p1), "%s/blobs/sha256", ev->ctx->store.v2);

    d1 = opendir(p1);
    if (d1 == NULL) {
        if (errno == ENOENT) {
            return 0;
        }

        snprintf(err, errlen, "opendir(\"%s\") failed: %s", p1,
                 strerror(errno));
        return -1;
    }

    while ((e1 = readdir(d1)) != NULL) {
        if (strlen(e1->d_name) != 2) {
            continue;
        }

        snprintf(p2, sizeof(p2), "%s/%s", p1, e1->d_name);

        d2 = opendir(p2);
        if (d2 == NULL) {
            continue;
        }

        while ((e2 = readdir(d2)) != NULL) {
            snprintf(digest, sizeof(digest), "sha256:%.64s", e2->d_name);

            if (strlen(e2->d_name) != 64 || !hr_valid_digest(digest)) {
                continue;
            }

            snprintf(data, sizeof(data), "%s/%s/data", p2, e2->d_name);

            if (lstat(data, &sb) == -1 || !S_ISREG(sb.st_mode)) {
                continue;
            }

            o = hr_evict_obj(ev, digest);
            if (o == NULL) {
                closedir(d2);
                closedir(d1);
                snprintf(err, errlen, "out of memory");
                return -1;
            }

            o->size = (long long) sb.st_size;
            ev->total += o->size;
        }

        closedir(d2);
        hr_evict_yield(ev);
    }

    closedir(d1);

    return 0;
}


/*
 * Repositories under dir: a directory that holds _manifests or _layers is
 * one (name is its path under repositories/); names may nest.
 */
static int
hr_evict_walk(hr_evict_t *ev, const char *dir, const char *name, int depth,
    char *err, size_t errlen)
{
    int             repo;
    DIR            *d;
    char            sub[PATH_MAX], subname[512];
    struct stat     sb;
    struct dirent  *de;

    if (depth > HR_EVICT_DEPTH) {
        return 0;
    }

    d = opendir(dir);
    if (d == NULL) {
        if (errno == ENOENT) {
            return 0;
        }

        snprintf(err, errlen, "opendir(\"%s\") failed: %s", dir,
                 strerror(errno));
        return -1;
    }

    repo = 0;

    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, "_manifests") == 0
            || strcmp(de->d_name, "_layers") == 0)
        {
            repo = 1;
            continue;
        }

        if (de->d_name[0] == '.' || de->d_name[0] == '_') {
            continue;
        }

        if ((size_t) snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name)
            >= sizeof(sub)
            || (size_t) snprintf(subname, sizeof(subname), "%s%s%s", name,
                                 name[0] ? "/" : "", de->d_name)
               >= sizeof(subname))
        {
            continue;
        }

        if (lstat(sub, &sb) == -1 || !S_ISDIR(sb.st_mode)) {
            continue;
        }

        if (hr_evict_walk(ev, sub, subname, depth + 1, err, errlen) == -1) {
            closedir(d);
            return -1;
        }
    }

    closedir(d);

    if (repo && hr_valid_repo(name)) {
        return hr_evict_repo(ev, name, err, errlen);
    }

    return 0;
}


static int
hr_evict_repo(hr_evict_t *ev, const char *name, char *err, size_t errlen)
{
    char         cur[HR_DIGEST_LEN + 1];
    size_t       k;
    hr_erepo_t  *rp, *nr;

    if (ev->nrepos == ev->crepos) {
        nr = realloc(ev->repos, (ev->crepos * 2 + 16) * sizeof(hr_erepo_t));
        if (nr == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }

        ev->repos = nr;
        ev->crepos = ev->crepos * 2 + 16;
    }

    rp = &ev->repos[ev->nrepos];
    memset(rp, 0, sizeof(hr_erepo_t));

    rp->name = strdup(name);
    if (rp->name == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    ev->nrepos++;

    if (hr_evict_list(ev, rp, 0, err, errlen) == -1
        || hr_evict_list(ev, rp, 1, err, errlen) == -1)
    {
        return -1;
    }

    if (hr_store_tags(&ev->ctx->store, name, &rp->tags, &rp->ntags, err,
                      errlen)
        == -1)
    {
        /* no tags directory: none */
        rp->tags = NULL;
        rp->ntags = 0;
        err[0] = '\0';
    }

    rp->tag_obj = calloc(rp->ntags + 1, sizeof(hr_eobj_t *));
    if (rp->tag_obj == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    for (k = 0; k < rp->ntags; k++) {
        if (hr_store_read_link(&ev->ctx->store, name, HR_LINK_TAG_CURRENT,
                               rp->tags[k], NULL, cur)
            == 1)
        {
            rp->tag_obj[k] = hr_evict_obj(ev, cur);
        }
    }

    hr_evict_yield(ev);

    return 0;
}


/* The revision links (layer 0) or layer links (layer 1) of rp. */
static int
hr_evict_list(hr_evict_t *ev, hr_erepo_t *rp, int layer, char *err,
    size_t errlen)
{
    DIR            *d;
    char            dir[PATH_MAX], digest[HR_DIGEST_LEN + 1];
    char            cur[HR_DIGEST_LEN + 1];
    size_t          n;
    hr_eref_t      *list, *nl, *e;
    hr_eobj_t      *o;
    struct dirent  *de;

    snprintf(dir, sizeof(dir), "%s/repositories/%s/%s/sha256",
             ev->ctx->store.v2, rp->name,
             layer ? "_layers" : "_manifests/revisions");

    d = opendir(dir);
    if (d == NULL) {
        return 0;
    }

    list = NULL;
    n = 0;

    while ((de = readdir(d)) != NULL) {
        snprintf(digest, sizeof(digest), "sha256:%.64s", de->d_name);

        if (strlen(de->d_name) != 64 || !hr_valid_digest(digest)) {
            continue;
        }

        /* a link that does not hold its digest is not one */
        if (hr_store_read_link(&ev->ctx->store, rp->name,
                               layer ? HR_LINK_LAYER : HR_LINK_REVISION, NULL,
                               digest, cur)
            != 1
            || strcmp(cur, digest) != 0)
        {
            continue;
        }

        if (n % 64 == 0) {
            nl = realloc(list, (n + 64) * sizeof(hr_eref_t));
            if (nl == NULL) {
                closedir(d);
                free(list);
                snprintf(err, errlen, "out of memory");
                return -1;
            }

            list = nl;
        }

        o = hr_evict_obj(ev, digest);
        if (o == NULL) {
            closedir(d);
            free(list);
            snprintf(err, errlen, "out of memory");
            return -1;
        }

        e = &list[n++];
        memset(e, 0, sizeof(hr_eref_t));
        e->obj = o;
        e->cached = hr_tier_cached(&ev->ctx->store, rp->name, digest,
                                   layer ? HR_TIER_LAYER : HR_TIER_REVISION,
                                   &e->since);
        o->links++;
    }

    closedir(d);

    if (layer) {
        rp->layers = list;
        rp->nlayers = n;

    } else {
        rp->revs = list;
        rp->nrevs = n;
    }

    return 0;
}


static void
hr_evict_ref(hr_evict_t *ev, hr_eobj_t *o, json_t *desc, const char *key)
{
    hr_eobj_t   *r, **nr;
    const char  *d;

    d = json_string_value(json_object_get(desc, key));

    if (d == NULL || (r = hr_evict_obj(ev, d)) == NULL) {
        return;
    }

    nr = realloc(o->refs, (o->nrefs + 1) * sizeof(hr_eobj_t *));
    if (nr == NULL) {
        return;
    }

    o->refs = nr;
    o->refs[o->nrefs++] = r;
}


/* What a manifest refers to: its blobs and, for an index, its children. */
static void
hr_evict_parse(hr_evict_t *ev, hr_eobj_t *o)
{
    char    *bytes;
    size_t   len, i, k;
    json_t  *js, *v;

    static const char  *lists[] = { "layers", "blobs", "manifests" };

    if (o->parsed) {
        return;
    }

    o->parsed = 1;

    if (hr_store_manifest_read(&ev->ctx->store, o->digest, &bytes, &len)
        != 1)
    {
        return;
    }

    js = json_loadb(bytes, len, 0, NULL);
    free(bytes);

    if (!json_is_object(js)) {
        json_decref(js);
        return;
    }

    hr_evict_ref(ev, o, json_object_get(js, "config"), "digest");

    for (k = 0; k < sizeof(lists) / sizeof(lists[0]); k++) {
        json_array_foreach(json_object_get(js, lists[k]), i, v) {
            hr_evict_ref(ev, o, v, "digest");
        }
    }

    /* schema 1 */
    json_array_foreach(json_object_get(js, "fsLayers"), i, v) {
        hr_evict_ref(ev, o, v, "blobSum");
    }

    json_decref(js);
}


static void
hr_evict_pin(hr_eobj_t *o, int depth)
{
    size_t  i;

    if (o->pinned || depth > 8) {
        return;
    }

    o->pinned = 1;

    for (i = 0; i < o->nrefs; i++) {
        hr_evict_pin(o->refs[i], depth + 1);
    }
}


const char **
hr_evict_candidates(hr_evict_t *ev, size_t *n)
{
    *n = ev->ncands;

    return ev->cands;
}


void
hr_evict_served(hr_evict_t *ev, const char *digest, time_t when)
{
    hr_eobj_t  *o;

    o = hr_evict_obj(ev, digest);

    if (o != NULL && when > o->served) {
        o->served = when;
    }
}


const char **
hr_evict_removed(hr_evict_t *ev, size_t *n)
{
    *n = ev->nremoved;

    return ev->removed;
}


/* ------------------------------------------------------------ apply */

static int
hr_evict_cmp(const void *a, const void *b)
{
    const hr_ecand_t  *x = a, *y = b;

    if (x->when != y->when) {
        return x->when < y->when ? -1 : 1;
    }

    /* of two served at once, the larger goes first */
    return x->ref->obj->size > y->ref->obj->size ? -1
           : x->ref->obj->size < y->ref->obj->size;
}


int
hr_evict_apply(hr_evict_t *ev, long long max, double low, int dry_run,
    hr_evict_stats_t *st, char *err, size_t errlen)
{
    size_t       i, k, n;
    hr_ecand_t  *cands;
    hr_erepo_t  *rp;
    hr_eref_t   *e;

    memset(st, 0, sizeof(hr_evict_stats_t));
    st->total = ev->total;
    st->max = max;
    st->target = (long long) ((double) max * low);

    for (i = 0; i < ev->cap; i++) {
        if (ev->table[i] != NULL && ev->table[i]->pinned
            && ev->table[i]->size > 0)
        {
            st->pinned += ev->table[i]->size;
        }
    }

    st->cached = st->total - st->pinned;
    st->over_pinned = max > 0 && st->pinned > max;

    if (max == 0 || ev->total <= max) {
        return 0;
    }

    n = 0;

    for (i = 0; i < ev->nrepos; i++) {
        n += ev->repos[i].nrevs + ev->repos[i].nlayers;
    }

    cands = calloc(n + 1, sizeof(hr_ecand_t));
    if (cands == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    n = 0;

    for (i = 0; i < ev->nrepos; i++) {
        rp = &ev->repos[i];

        for (k = 0; k < rp->nrevs + rp->nlayers; k++) {
            e = k < rp->nrevs ? &rp->revs[k] : &rp->layers[k - rp->nrevs];

            if (!e->cached) {
                continue;
            }

            cands[n].repo = rp;
            cands[n].ref = e;
            cands[n].layer = k >= rp->nrevs;
            cands[n].when = e->obj->served > e->since ? e->obj->served
                                                      : e->since;
            n++;
        }
    }

    qsort(cands, n, sizeof(hr_ecand_t), hr_evict_cmp);

    for (i = 0; i < n && ev->total > st->target; i++) {
        hr_evict_one(ev, &cands[i], dry_run, st);
    }

    free(cands);

    st->total = ev->total;
    st->cached = st->total - st->pinned;

    return 0;
}


/* 1 when o or anything it refers to is used by a job of this process. */
static int
hr_evict_busy(hr_evict_t *ev, hr_eobj_t *o, int depth)
{
    size_t  i;

    if (depth > 8) {
        return 0;
    }

    if (hr_engine_in_use(ev->ctx->engine, o->digest)) {
        return 1;
    }

    for (i = 0; i < o->nrefs; i++) {
        if (hr_evict_busy(ev, o->refs[i], depth + 1)) {
            return 1;
        }
    }

    return 0;
}


/*
 * 1 when a revision of rp refers to o (or is o): one that stays (going 0),
 * or one that goes now, marked, whether its link is unlinked already or
 * not (going 1).
 */
static int
hr_evict_refers(hr_erepo_t *rp, hr_eobj_t *o, int going)
{
    size_t      k, i;
    hr_eref_t  *e;

    for (k = 0; k < rp->nrevs; k++) {
        e = &rp->revs[k];

        if (going ? !e->obj->mark : (e->gone || e->obj->mark)) {
            continue;
        }

        if (e->obj == o) {
            return 1;
        }

        for (i = 0; i < e->obj->nrefs; i++) {
            if (e->obj->refs[i] == o) {
                return 1;
            }
        }
    }

    return 0;
}


static void
hr_evict_one(hr_evict_t *ev, hr_ecand_t *c, int dry_run,
    hr_evict_stats_t *st)
{
    int          changed;
    char         err[256], when[32];
    size_t       k, t;
    time_t       tt;
    struct tm    tm;
    hr_eref_t   *e;
    hr_eobj_t   *o;
    hr_erepo_t  *rp;
    long long    before;

    rp = c->repo;
    e = c->ref;
    o = e->obj;

    if (e->gone) {
        return;
    }

    before = ev->total;

    if (c->layer) {
        /* a blob fill's link: only while no manifest here needs it */
        if (hr_evict_refers(rp, o, 0)) {
            return;
        }

        if (hr_evict_busy(ev, o, 0)) {
            st->skipped++;
            return;
        }

        hr_evict_unlink(ev, rp, e, 1, dry_run, st);
        goto done;
    }

    if (hr_evict_busy(ev, o, 0)) {
        st->skipped++;
        return;
    }

    /*
     * The revision, and its cached children (an index's) that no revision
     * that stays here refers to: marked, then removed together.
     */
    o->mark = 1;

    do {
        changed = 0;

        for (k = 0; k < rp->nrevs; k++) {
            hr_eref_t  *ch = &rp->revs[k];

            if (!ch->gone && !ch->obj->mark && ch->cached
                && hr_evict_refers(rp, ch->obj, 1)
                && !hr_evict_refers(rp, ch->obj, 0))
            {
                ch->obj->mark = 1;
                changed = 1;
            }
        }

    } while (changed);

    /* tags first: a reader never finds a tag naming a removed revision */
    for (t = 0; t < rp->ntags; t++) {
        if (rp->tag_obj[t] == NULL || !rp->tag_obj[t]->mark) {
            continue;
        }

        hr_log(&ev->ctx->log, HR_LOG_INFO, "evict: %s %s:%s",
               dry_run ? "would remove tag" : "tag", rp->name, rp->tags[t]);

        if (!dry_run && hr_store_tag_delete(&ev->ctx->store, rp->name,
                                            rp->tags[t], err, sizeof(err))
                        == -1)
        {
            hr_log(&ev->ctx->log, HR_LOG_ERROR, "evict: %s", err);
        }

        rp->tag_obj[t] = NULL;
    }

    for (k = 0; k < rp->nrevs; k++) {
        if (rp->revs[k].obj->mark && !rp->revs[k].gone) {
            hr_evict_unlink(ev, rp, &rp->revs[k], 0, dry_run, st);
        }
    }

    /* then the layer links that only what goes referred to */
    for (k = 0; k < rp->nlayers; k++) {
        hr_eref_t  *l = &rp->layers[k];

        if (!l->gone && hr_evict_refers(rp, l->obj, 1)
            && !hr_evict_refers(rp, l->obj, 0))
        {
            hr_evict_unlink(ev, rp, l, 1, dry_run, st);
        }
    }

    for (k = 0; k < rp->nrevs; k++) {
        rp->revs[k].obj->mark = 0;
    }

done:

    st->evicted++;
    st->freed += before - ev->total;

    tt = c->when;
    gmtime_r(&tt, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);

    hr_log(&ev->ctx->log, HR_LOG_INFO, "evict: %s %s@%s (last served %s): "
           "%lld bytes freed", dry_run ? "would remove" : "removed",
           rp->name, o->digest, when, before - ev->total);
}


/*
 * One link of rp goes; the blob data too once no link of any repository
 * names it and no job uses it.
 */
static void
hr_evict_unlink(hr_evict_t *ev, hr_erepo_t *rp, hr_eref_t *e, int layer,
    int dry_run, hr_evict_stats_t *st)
{
    char          path[PATH_MAX + 8], dir[PATH_MAX];
    hr_eobj_t    *o;
    const char  **nr;

    o = e->obj;
    e->gone = 1;
    o->links--;

    snprintf(dir, sizeof(dir), "%s/repositories/%s/%s/sha256/%s",
             ev->ctx->store.v2, rp->name,
             layer ? "_layers" : "_manifests/revisions", o->digest + 7);
    snprintf(path, sizeof(path), "%s/link", dir);

    if (!dry_run) {
        if (unlink(path) == -1 && errno != ENOENT) {
            hr_log(&ev->ctx->log, HR_LOG_ERROR, "evict: unlink(\"%s\") "
                   "failed: %s", path, strerror(errno));
        }

        (void) rmdir(dir);
        (void) hr_tier_unmark(&ev->ctx->store, rp->name, o->digest,
                              layer ? HR_TIER_LAYER : HR_TIER_REVISION);
    }

    if (o->links > 0 || o->size < 0 || o->removed || o->pinned
        || hr_engine_in_use(ev->ctx->engine, o->digest))
    {
        return;
    }

    snprintf(dir, sizeof(dir), "%s/blobs/sha256/%.2s/%s", ev->ctx->store.v2,
             o->digest + 7, o->digest + 7);
    snprintf(path, sizeof(path), "%s/data", dir);

    if (!dry_run) {
        if (unlink(path) == -1 && errno != ENOENT) {
            hr_log(&ev->ctx->log, HR_LOG_ERROR, "evict: unlink(\"%s\") "
                   "failed: %s", path, strerror(errno));
            return;
        }

        (void) rmdir(dir);
    }

    o->removed = 1;
    ev->total -= o->size;
    st->blobs++;

    if (ev->nremoved % 64 == 0) {
        nr = realloc(ev->removed, (ev->nremoved + 64) * sizeof(char *));
        if (nr == NULL) {
            return;
        }

        ev->removed = nr;
    }

    ev->removed[ev->nremoved++] = o->digest;
}


void
hr_evict_free(hr_evict_t *ev)
{
    size_t       i;
    hr_erepo_t  *rp;

    if (ev == NULL) {
        return;
    }

    for (i = 0; i < ev->nrepos; i++) {
        rp = &ev->repos[i];
        free(rp->name);
        free(rp->revs);
        free(rp->layers);
        hr_store_free_list(rp->tags, rp->ntags);
        free(rp->tag_obj);
    }

    free(ev->repos);

    for (i = 0; i < ev->cap; i++) {
        if (ev->table[i] != NULL) {
            free(ev->table[i]->refs);
            free(ev->table[i]);
        }
    }

    free(ev->table);
    free(ev->cands);
    free(ev->removed);
    free(ev);
}
