/*
 * fill.c: fill jobs (see fill.h and docs/store.md, "Fills").
 *
 * A header is rewritten whole (temporary, then rename(2)) each time it
 * changes, so the module never reads half of one.  It is not fsync'ed: a
 * header means something only while this daemon runs, and the daemon
 * removes them all when it starts.  Jobs run one at a time on the loop,
 * so a read-modify-write of a header by one job is never interleaved
 * with another's.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "exec_redis.h"
#include "fill.h"
#include "match.h"
#include "plan.h"
#include "policy.h"
#include "registry.h"
#include "verify.h"

#define HR_FILL_HEADER_MAX  65536
#define HR_FILL_SWEEP_MS    30000


typedef struct hr_fjob_s   hr_fjob_t;
typedef struct hr_probe_s  hr_probe_t;

/* One fill being done: the job's data. */
struct hr_fjob_s {
    hr_fills_t   *f;
    hr_event_t    ev;
    hr_config_t  *cf;               /* held for the job's life */
    int           trusted;          /* started by a manifest fill */
    long long     t0;
    char          key[512];
    char          what[512];
    char          header[4096];     /* its header's path */
    hr_fjob_t    *next;
};

/* What an anonymous request for a repository got, for a minute. */
struct hr_probe_s {
    char          repo[256];
    int           allowed;
    time_t        until;
    hr_probe_t   *next;
};

struct hr_fills_s {
    hr_ctx_t     *ctx;
    hr_queue_t   *q;
    hr_policy_t   policy;           /* "fill": names kept, no speed limit */
    hr_fjob_t    *jobs;
    size_t        running;
    hr_probe_t   *probes;
    long long     sweep_timer;
    unsigned      seq;
    char          dir[3072];        /* STATE/fill */
};


static int hr_fills_spawn(hr_fills_t *f, const hr_event_t *ev, int trusted);
static void hr_fill_job(hr_job_t *j);
static void hr_fill_job_done(hr_job_t *j);
static void hr_fill_blob(hr_fjob_t *fj, hr_job_t *j);
static void hr_fill_manifest(hr_fjob_t *fj, hr_job_t *j);
static void hr_fill_prefetch(hr_fjob_t *fj, const char *digest);
static int hr_fill_allowed(hr_fjob_t *fj, const char *url);
static int hr_fill_exec(hr_fjob_t *fj, hr_plan_req_t *rq, hr_plan_res_t *res,
    char *err, size_t errlen);
static int hr_fill_blob_jobs(hr_fills_t *f, const char *digest,
    hr_fjob_t *except);
static int hr_fill_read(const char *path, hr_fill_header_t *h);
static void hr_fill_write(hr_fills_t *f, const char *path,
    hr_fill_header_t *h);
static void hr_fill_manifest_path(hr_fills_t *f, const hr_event_t *ev,
    char *out, size_t outlen);
static long hr_fills_sweep(hr_loop_t *loop, long long id, void *data);
static void hr_fills_clean(hr_fills_t *f, int all);
static void hr_fills_count(hr_fills_t *f, const char *field, long long n);


/* ------------------------------------------------------------ headers */

int
hr_fill_header_parse(hr_fill_header_t *h, const char *text, size_t len)
{
    char         line[512], *sp, *end;
    size_t       i, n;
    long long    v;
    const char  *p, *nl;

    memset(h, 0, sizeof(hr_fill_header_t));
    h->size = -1;

    if (len > HR_FILL_HEADER_MAX) {
        return -1;
    }

    for (p = text; p < text + len; p = nl + 1) {
        nl = memchr(p, '\n', text + len - p);
        if (nl == NULL) {
            nl = text + len;
        }

        n = (size_t) (nl - p);

        if (n == 0) {
            continue;
        }

        if (n >= sizeof(line)) {
            goto bad;
        }

        memcpy(line, p, n);
        line[n] = '\0';

        for (i = 0; i < n; i++) {
            if ((unsigned char) line[i] < 0x20 || line[i] == 0x7f) {
                goto bad;
            }
        }

        sp = strchr(line, ' ');
        if (sp == NULL) {
            goto bad;
        }

        *sp++ = '\0';

        if (strcmp(line, "size") == 0) {
            errno = 0;
            v = strtoll(sp, &end, 10);
            if (errno != 0 || *end != '\0' || end == sp || v < 0) {
                goto bad;
            }
            h->size = v;

        } else if (strcmp(line, "state") == 0) {
            if (strcmp(sp, "running") != 0 && strcmp(sp, "done") != 0
                && strcmp(sp, "failed") != 0 && strcmp(sp, "notfound") != 0)
            {
                goto bad;
            }
            snprintf(h->state, sizeof(h->state), "%s", sp);

        } else if (strcmp(line, "repo") == 0 || strcmp(line, "deny") == 0) {
            if (!hr_valid_repo(sp)
                || hr_fill_header_add(h, sp, line[0] == 'd') == -1)
            {
                goto bad;
            }

        } else if (strcmp(line, "error") == 0) {
            snprintf(h->error, sizeof(h->error), "%s", sp);
        }

        /* unknown keys: a later writer may say more */
    }

    return 0;

bad:

    hr_fill_header_free(h);
    h->size = -1;

    return -1;
}


int
hr_fill_header_print(const hr_fill_header_t *h, char *out, size_t outlen)
{
    int     n;
    size_t  i, off;

    off = 0;

#define HR_FILL_OUT(...)                                                     \
    n = snprintf(out + off, outlen - off, __VA_ARGS__);                      \
    if (n < 0 || (size_t) n >= outlen - off) {                               \
        return -1;                                                           \
    }                                                                        \
    off += (size_t) n

    if (h->size >= 0) {
        HR_FILL_OUT("size %lld\n", h->size);
    }

    HR_FILL_OUT("state %s\n", h->state[0] ? h->state : "running");

    for (i = 0; i < h->nrepos; i++) {
        HR_FILL_OUT("repo %s\n", h->repos[i]);
    }

    for (i = 0; i < h->ndenied; i++) {
        HR_FILL_OUT("deny %s\n", h->denied[i]);
    }

    if (h->error[0] != '\0') {
        HR_FILL_OUT("error %s\n", h->error);
    }

#undef HR_FILL_OUT

    return 0;
}


int
hr_fill_header_add(hr_fill_header_t *h, const char *name, int deny)
{
    char    **list;
    size_t   *n, i;

    list = deny ? h->denied : h->repos;
    n = deny ? &h->ndenied : &h->nrepos;

    for (i = 0; i < *n; i++) {
        if (strcmp(list[i], name) == 0) {
            return 0;
        }
    }

    if (*n == HR_FILL_REPOS_MAX) {
        return -1;
    }

    list[*n] = strdup(name);
    if (list[*n] == NULL) {
        return -1;
    }

    (*n)++;

    return 0;
}


void
hr_fill_header_free(hr_fill_header_t *h)
{
    size_t  i;

    for (i = 0; i < h->nrepos; i++) {
        free(h->repos[i]);
    }

    for (i = 0; i < h->ndenied; i++) {
        free(h->denied[i]);
    }

    h->nrepos = 0;
    h->ndenied = 0;
}


/* 0 with the header, -1 when there is none or it does not parse. */
static int
hr_fill_read(const char *path, hr_fill_header_t *h)
{
    int     rc;
    char   *text, err[256];
    size_t  len;

    memset(h, 0, sizeof(hr_fill_header_t));
    h->size = -1;

    text = hr_store_read_file(path, HR_FILL_HEADER_MAX, &len, err,
                              sizeof(err));
    if (text == NULL) {
        return -1;
    }

    rc = hr_fill_header_parse(h, text, len);
    free(text);

    return rc;
}


static void
hr_fill_write(hr_fills_t *f, const char *path, hr_fill_header_t *h)
{
    int          fd;
    char         text[HR_FILL_HEADER_MAX], tmp[4200];
    size_t       len;
    hr_store_t  *st;

    st = &f->ctx->store;

    if (hr_fill_header_print(h, text, sizeof(text)) == -1) {
        hr_log(&f->ctx->log, HR_LOG_ERROR, "fill: the header %s is too "
               "large", path);
        return;
    }

    len = strlen(text);
    snprintf(tmp, sizeof(tmp), "%s/.tmp-%d-%u", f->dir, (int) getpid(),
             st->tmpn++);

    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
              st->fmode);
    if (fd == -1) {
        hr_log(&f->ctx->log, HR_LOG_ERROR, "fill: open(\"%s\") failed: %s",
               tmp, strerror(errno));
        return;
    }

    /* readable by nginx's user: the umask must not narrow it */
    if (fchmod(fd, st->fmode) == -1
        || (st->grouped && fchown(fd, (uid_t) -1, st->gid) == -1)
        || write(fd, text, len) != (ssize_t) len
        || close(fd) == -1)
    {
        hr_log(&f->ctx->log, HR_LOG_ERROR, "fill: writing \"%s\" failed: %s",
               tmp, strerror(errno ? errno : EIO));
        (void) unlink(tmp);
        return;
    }

    if (rename(tmp, path) == -1) {
        hr_log(&f->ctx->log, HR_LOG_ERROR, "fill: rename(\"%s\", \"%s\") "
               "failed: %s", tmp, path, strerror(errno));
        (void) unlink(tmp);
    }
}


/* STATE/fill/manifest-<sha256 of "R:REF">: a fixed-length name. */
static void
hr_fill_manifest_path(hr_fills_t *f, const hr_event_t *ev, char *out,
    size_t outlen)
{
    char  key[512], digest[HR_DIGEST_LEN + 1];

    snprintf(key, sizeof(key), "%s:%s", ev->repository,
             ev->tag[0] ? ev->tag : ev->digest);
    hr_sha256_digest(key, strlen(key), digest);

    snprintf(out, outlen, "%s/manifest-%s", f->dir, digest + 7);
}


/* ------------------------------------------------------------- fills */

hr_fills_t *
hr_fills_create(hr_ctx_t *ctx, hr_queue_t *q, char *err, size_t errlen)
{
    hr_fills_t  *f;

    f = calloc(1, sizeof(hr_fills_t));
    if (f == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    f->ctx = ctx;
    f->q = q;

    /* the name asked for is the name stored: no rewrite, no limit */
    f->policy.name = "fill";
    f->policy.enabled = 1;
    f->policy.override = 1;
    f->policy.dest_namespace_replace_count = -1;

    snprintf(f->dir, sizeof(f->dir), "%s/fill", ctx->store.state);

    if (hr_store_mkdirs(&ctx->store, f->dir, err, errlen) == -1) {
        free(f);
        return NULL;
    }

    /* a fill of an earlier run is over: its clients have given up */
    hr_fills_clean(f, 1);

    f->sweep_timer = hr_loop_add_timer(ctx->loop, HR_FILL_SWEEP_MS,
                                       hr_fills_sweep, f);

    return f;
}


size_t
hr_fills_running(hr_fills_t *f)
{
    return f != NULL ? f->running : 0;
}


void
hr_fills_free(hr_fills_t *f)
{
    hr_probe_t  *p, *next;

    if (f == NULL) {
        return;
    }

    if (f->sweep_timer > 0) {
        hr_loop_del_timer(f->ctx->loop, f->sweep_timer);
    }

    for (p = f->probes; p; p = next) {
        next = p->next;
        free(p);
    }

    free(f);
}


static void
hr_fills_count(hr_fills_t *f, const char *field, long long n)
{
    hr_exec_redis_count(f->q, field, n);
}


void
hr_fills_dispatch(hr_fills_t *f)
{
    char        *line, err[256], what[512];
    size_t       len;
    hr_event_t   ev;

    while ((line = hr_queue_take_fill(f->q, &len)) != NULL) {
        if (hr_event_decode(line, len, &ev, err, sizeof(err)) == -1
            || ev.kind != HR_EVENT_FILL)
        {
            hr_log(&f->ctx->log, HR_LOG_WARN, "fill: malformed request "
                   "(%s) dropped", ev.kind != HR_EVENT_FILL && err[0] == '\0'
                                   ? "not a fill" : err);
            hr_fills_count(f, "fill_malformed", 1);
            free(line);
            continue;
        }

        free(line);

        hr_event_describe(&ev, what, sizeof(what));

        switch (hr_fills_spawn(f, &ev, 0)) {

        case 1:
            hr_log(&f->ctx->log, HR_LOG_DEBUG, "fill: %s joins the fill "
                   "under way", what);
            hr_fills_count(f, "fill_joined", 1);
            break;

        case -1:
            hr_fills_count(f, "fill_dropped", 1);
            break;

        default:
            hr_fills_count(f, "fills", 1);
            break;
        }
    }
}


/* 0 a job started; 1 one for the same object runs; -1 none could start. */
static int
hr_fills_spawn(hr_fills_t *f, const hr_event_t *ev, int trusted)
{
    char        key[512], err[256];
    hr_fjob_t  *fj;

    hr_event_key(ev, key, sizeof(key));

    for (fj = f->jobs; fj; fj = fj->next) {
        if (strcmp(fj->key, key) == 0) {
            return 1;
        }
    }

    if (f->running >= HR_FILL_JOBS) {
        hr_log(&f->ctx->log, HR_LOG_WARN, "fill: %zu fills under way; %s "
               "dropped (its clients fall back)", f->running, key);
        return -1;
    }

    fj = calloc(1, sizeof(hr_fjob_t));
    if (fj == NULL) {
        return -1;
    }

    fj->f = f;
    fj->ev = *ev;
    fj->trusted = trusted;
    fj->cf = hr_config_hold(f->ctx->cf);
    snprintf(fj->key, sizeof(fj->key), "%s", key);
    hr_event_describe(ev, fj->what, sizeof(fj->what));

    if (ev->object == HR_OBJECT_BLOB) {
        snprintf(fj->header, sizeof(fj->header), "%s/sha256-%s", f->dir,
                 ev->digest + 7);

    } else {
        hr_fill_manifest_path(f, ev, fj->header, sizeof(fj->header));
    }

    if (hr_engine_spawn(f->ctx->engine, HR_PRIO_CLIENT, fj->what,
                        hr_fill_job, hr_fill_job_done, fj, err, sizeof(err))
        == NULL)
    {
        hr_log(&f->ctx->log, HR_LOG_ERROR, "fill: %s: %s", fj->what, err);
        hr_config_release(fj->cf);
        free(fj);
        return -1;
    }

    fj->next = f->jobs;
    f->jobs = fj;
    f->running++;

    return 0;
}


static void
hr_fill_job(hr_job_t *j)
{
    hr_fjob_t  *fj;

    fj = j->data;
    fj->t0 = time(NULL);

    if (fj->ev.object == HR_OBJECT_BLOB) {
        hr_fill_blob(fj, j);

    } else {
        hr_fill_manifest(fj, j);
    }
}


static void
hr_fill_job_done(hr_job_t *j)
{
    hr_fjob_t   *fj, **pp;
    hr_fills_t  *f;

    fj = j->data;
    f = fj->f;

    for (pp = &f->jobs; *pp; pp = &(*pp)->next) {
        if (*pp == fj) {
            *pp = fj->next;
            break;
        }
    }

    f->running--;
    hr_config_release(fj->cf);
    free(fj);
}


/* Other fill jobs of the same blob (another repository asked for it). */
static int
hr_fill_blob_jobs(hr_fills_t *f, const char *digest, hr_fjob_t *except)
{
    int         n;
    hr_fjob_t  *fj;

    n = 0;

    for (fj = f->jobs; fj; fj = fj->next) {
        if (fj != except && fj->ev.object == HR_OBJECT_BLOB
            && strcmp(fj->ev.digest, digest) == 0)
        {
            n++;
        }
    }

    return n;
}


/*
 * May this request cause a fill?  1 yes, 0 no.  url: the object on the
 * primary, for the anonymous probe.  The probe's 200 or 401/403 is
 * remembered for the repository; a 404 (a public repository without the
 * object, as far as an anonymous client can tell) refuses this object
 * only: the fill would find nothing either.
 */
static int
hr_fill_allowed(hr_fjob_t *fj, const char *url)
{
    int                  allowed, status;
    char                 scope[512], err[256];
    size_t               i;
    time_t               now;
    hr_src_t             anon;
    hr_xfer_t           *x;
    hr_fills_t          *f;
    hr_probe_t          *p;
    hr_config_t         *cf;
    hr_registry_conf_t   rc;
    static const char   *hdrs[] = { HR_ACCEPT_MANIFESTS, NULL };

    f = fj->f;
    cf = fj->cf;

    /* fill.repositories narrows every fill and names who may, anyway */
    if (cf->nfill_repos > 0) {
        for (i = 0; i < cf->nfill_repos; i++) {
            if (hr_match(cf->fill_repos[i], fj->ev.repository) == 1) {
                return 1;
            }
        }

        return 0;
    }

    if (fj->ev.auth_token || fj->trusted) {
        return 1;
    }

    /* a repository a policy replicates is the operator's explicit choice */
    for (i = 0; i < cf->npolicies; i++) {
        char  dst[512], perr[256];

        if (cf->policies[i].enabled
            && hr_policy_match_repo(&cf->policies[i], fj->ev.repository)
            && hr_policy_dest_repo(&cf->policies[i], fj->ev.repository, dst,
                                   sizeof(dst), perr, sizeof(perr))
               == 0
            && strcmp(dst, fj->ev.repository) == 0)
        {
            return 1;
        }
    }

    now = time(NULL);

    for (p = f->probes; p; p = p->next) {
        if (strcmp(p->repo, fj->ev.repository) == 0 && p->until > now) {
            return p->allowed;
        }
    }

    /* the primary's answer to a client without credentials */
    rc = cf->primary;
    rc.username = NULL;
    rc.password = NULL;

    hr_src_init(&anon, f->ctx, &rc);
    hr_reg_scope(scope, sizeof(scope), fj->ev.repository);

    x = hr_reg_get(&anon, url, scope,
                   fj->ev.object == HR_OBJECT_MANIFEST ? hdrs : NULL, 4096, 1,
                   err, sizeof(err));
    /* a 401 that no anonymous token got past is an answer too */
    status = x != NULL ? (int) x->status : (int) anon.status;
    hr_xfer_free(x);
    hr_src_free(&anon);

    if (status != 200 && status != 401 && status != 403) {
        hr_log(&f->ctx->log, HR_LOG_INFO, "fill: an anonymous request for "
               "%s got %d: not filled", url, status);
        return 0;
    }

    allowed = status == 200;

    hr_log(&f->ctx->log, HR_LOG_INFO, "fill: %s is %sserved to anonymous "
           "clients by the primary", fj->ev.repository,
           allowed ? "" : "not ");

    for (p = f->probes; p; p = p->next) {
        if (strcmp(p->repo, fj->ev.repository) == 0) {
            break;
        }
    }

    if (p == NULL && (p = calloc(1, sizeof(hr_probe_t))) != NULL) {
        snprintf(p->repo, sizeof(p->repo), "%s", fj->ev.repository);
        p->next = f->probes;
        f->probes = p;
    }

    if (p != NULL) {
        p->allowed = allowed;
        p->until = now + HR_FILL_PROBE_S;
    }

    return allowed;
}


/* One execution of the engine for a fill, recorded in Redis. */
static int
hr_fill_exec(hr_fjob_t *fj, hr_plan_req_t *rq, hr_plan_res_t *res,
    char *err, size_t errlen)
{
    int          rc;
    char         rerr[256];
    hr_fills_t  *f;

    f = fj->f;
    rq->cf = fj->cf;
    rq->p = &f->policy;
    rq->trigger = "fill";
    rq->event = json_pack("{s:s, s:s, s:i, s:I}", "what", fj->what,
                          "source", "edge", "attempt", 1,
                          "occurred_at", (json_int_t) fj->ev.occurred_at);

    rc = hr_plan_execute(f->ctx, rq, res, err, errlen);

    json_decref(rq->event);
    rq->event = NULL;

    if (res->rec != NULL) {
        hr_fills_count(f, "fill_bytes",
                       json_integer_value(json_object_get(res->rec,
                                                          "bytes")));
        json_object_set_new(res->rec, "id",
                            json_integer(hr_exec_redis_id(&f->seq)));

        if (hr_exec_redis_put(f->q, res->rec, rerr, sizeof(rerr)) == -1) {
            hr_log(&f->ctx->log, HR_LOG_WARN, "fill: %s", rerr);
        }

        json_decref(res->rec);
        res->rec = NULL;
    }

    return rc;
}


static void
hr_fill_blob(hr_fjob_t *fj, hr_job_t *j)
{
    int                others, rc;
    char               url[512], scope[512], err[HR_ERR_LEN];
    char               cur[HR_DIGEST_LEN + 1];
    hr_src_t           src;
    hr_xfer_t         *x;
    hr_fills_t        *f;
    long long          size, have;
    hr_event_t        *ev;
    hr_plan_req_t      rq;
    hr_plan_res_t      res;
    hr_fill_header_t   h;

    f = fj->f;
    ev = &fj->ev;
    others = hr_fill_blob_jobs(f, ev->digest, fj);

    /* a fill of another run, or a miss served meanwhile: start afresh */
    if (others == 0 || hr_fill_read(fj->header, &h) == -1) {
        memset(&h, 0, sizeof(h));
        h.size = -1;
    }

    snprintf(url, sizeof(url), "/v2/%s/blobs/%s", ev->repository,
             ev->digest);

    if (!hr_fill_allowed(fj, url)) {
        hr_log(&f->ctx->log, HR_LOG_INFO, "fill: %s refused: %s is not "
               "filled for this client (fill.repositories, or the primary "
               "does not serve it anonymously)", fj->what, ev->repository);
        hr_fill_header_add(&h, ev->repository, 1);

        if (others == 0) {
            snprintf(h.state, sizeof(h.state), "notfound");
        }

        hr_fill_write(f, fj->header, &h);
        hr_fill_header_free(&h);
        hr_fills_count(f, "fill_denied", 1);
        return;
    }

    /*
     * already here, linked and of the right bytes: a waiting client can be
     * served now (a corrupt copy is quarantined here and filled again)
     */
    if (hr_store_read_link(&f->ctx->store, ev->repository, HR_LINK_LAYER,
                           NULL, ev->digest, cur)
        == 1
        && hr_verify_blob(&f->ctx->store, ev->digest, &have, 0, j, NULL, err,
                          sizeof(err))
           == HR_VERIFY_OK)
    {
        h.size = have;
        snprintf(h.state, sizeof(h.state), "done");
        hr_fill_header_add(&h, ev->repository, 0);
        hr_fill_write(f, fj->header, &h);
        hr_fill_header_free(&h);
        return;
    }

    /* does the primary serve it from this repository, and how large */
    hr_src_init(&src, f->ctx, &fj->cf->primary);
    hr_reg_scope(scope, sizeof(scope), ev->repository);

    x = hr_reg_get(&src, url, scope, NULL, 4096, 1, err, sizeof(err));
    rc = x == NULL ? -1 : (int) x->status;
    size = x != NULL ? x->content_length : -1;
    hr_xfer_free(x);
    hr_src_free(&src);

    if (rc != 200 || size < 0) {
        if (rc == 404 || rc == 401 || rc == 403) {
            hr_fill_header_add(&h, ev->repository, 1);
            hr_fills_count(f, "fill_not_found", 1);
            hr_log(&f->ctx->log, HR_LOG_INFO, "fill: %s: the primary "
                   "answers %d", fj->what, rc);

        } else {
            snprintf(h.error, sizeof(h.error), "HEAD %.100s: %.120s", url,
                     rc == -1 ? err : "no size");
            hr_fills_count(f, "fill_failed", 1);
            hr_log(&f->ctx->log, HR_LOG_WARN, "fill: %s: %s", fj->what,
                   h.error);
        }

        if (others == 0) {
            snprintf(h.state, sizeof(h.state), "%s",
                     rc == 404 || rc == 401 || rc == 403 ? "notfound"
                                                         : "failed");
        }

        hr_fill_write(f, fj->header, &h);
        hr_fill_header_free(&h);
        return;
    }

    h.size = size;
    snprintf(h.state, sizeof(h.state), "running");
    h.error[0] = '\0';
    hr_fill_header_add(&h, ev->repository, 0);
    hr_fill_write(f, fj->header, &h);
    hr_fill_header_free(&h);

    hr_log(&f->ctx->log, HR_LOG_INFO, "fill: %s: %lld bytes", fj->what,
           size);

    memset(&rq, 0, sizeof(rq));
    rq.repo = ev->repository;
    rq.blob = ev->digest;
    rq.size = size;
    rq.checked = 1;

    rc = hr_fill_exec(fj, &rq, &res, err, sizeof(err));

    /* the header again: another job may have added its repository */
    if (hr_fill_read(fj->header, &h) == -1) {
        memset(&h, 0, sizeof(h));
        h.size = size;
    }

    hr_fill_header_add(&h, ev->repository, 0);

    if (rc == 0) {
        snprintf(h.state, sizeof(h.state), "done");
        hr_fills_count(f, "fill_done", 1);
        hr_log(&f->ctx->log, HR_LOG_INFO, "fill: %s done in %llds", fj->what,
               (long long) (time(NULL) - fj->t0));

    } else if (hr_fill_blob_jobs(f, ev->digest, fj) == 0
               || hr_job_stopping(j))
    {
        snprintf(h.state, sizeof(h.state), "failed");
        snprintf(h.error, sizeof(h.error), "%.250s", err);
        hr_fills_count(f, "fill_failed", 1);
        hr_log(&f->ctx->log, HR_LOG_ERROR, "fill: %s failed: %s", fj->what,
               err);
    }

    hr_fill_write(f, fj->header, &h);
    hr_fill_header_free(&h);
}


static void
hr_fill_manifest(hr_fjob_t *fj, hr_job_t *j)
{
    int                rc;
    char               url[512], err[HR_ERR_LEN], digest[HR_DIGEST_LEN + 1];
    char               old[HR_DIGEST_LEN + 1];
    char              *bytes;
    size_t             len, i;
    json_t            *js, *v;
    hr_fills_t        *f;
    hr_event_t        *ev;
    const char        *ref, *d;
    hr_plan_req_t      rq;
    hr_plan_res_t      res;
    hr_fill_header_t   h;

    f = fj->f;
    ev = &fj->ev;
    ref = ev->tag[0] ? ev->tag : ev->digest;

    memset(&h, 0, sizeof(h));
    h.size = -1;

    snprintf(url, sizeof(url), "/v2/%s/manifests/%s", ev->repository, ref);

    if (!hr_fill_allowed(fj, url)) {
        hr_log(&f->ctx->log, HR_LOG_INFO, "fill: %s refused: %s is not "
               "filled for this client", fj->what, ev->repository);
        snprintf(h.state, sizeof(h.state), "notfound");
        hr_fill_write(f, fj->header, &h);
        hr_fills_count(f, "fill_denied", 1);
        return;
    }

    snprintf(h.state, sizeof(h.state), "running");
    hr_fill_write(f, fj->header, &h);

    /* a tag the store has: this fill is a refresh (harbor_tag_max_age) */
    old[0] = '\0';

    if (ev->tag[0] != '\0'
        && hr_store_read_link(&f->ctx->store, ev->repository,
                              HR_LINK_TAG_CURRENT, ev->tag, NULL, old)
           != 1)
    {
        old[0] = '\0';
    }

    memset(&rq, 0, sizeof(rq));
    rq.repo = ev->repository;
    rq.ref = ref;
    rq.shallow = 1;

    rc = hr_fill_exec(fj, &rq, &res, err, sizeof(err));

    if (rc != 0) {
        snprintf(h.state, sizeof(h.state), "%s",
                 res.notfound ? "notfound" : "failed");
        snprintf(h.error, sizeof(h.error), "%.250s", err);
        hr_fill_write(f, fj->header, &h);
        hr_fills_count(f, res.notfound ? "fill_not_found" : "fill_failed",
                       1);
        hr_log(&f->ctx->log, res.notfound ? HR_LOG_INFO : HR_LOG_ERROR,
               "fill: %s: %s", fj->what, err);
        return;
    }

    snprintf(h.state, sizeof(h.state), "done");
    hr_fill_write(f, fj->header, &h);
    hr_fills_count(f, "fill_done", 1);

    /*
     * The primary has just confirmed the tag: it is fresh again
     * (harbor_tag_max_age counts from the link's mtime), whether it moved
     * or not.
     */
    if (ev->tag[0] != '\0') {
        char  link[4096];

        snprintf(link, sizeof(link), "%s/repositories/%s/_manifests/tags/%s"
                 "/current/link", f->ctx->store.v2, ev->repository, ev->tag);
        (void) utimensat(AT_FDCWD, link, NULL, AT_SYMLINK_NOFOLLOW);
    }

    /* an image's config and layers: filled now, the client asks next */
    if (ev->tag[0] != '\0') {
        if (hr_store_read_link(&f->ctx->store, ev->repository,
                               HR_LINK_TAG_CURRENT, ev->tag, NULL, digest)
            != 1)
        {
            return;
        }

    } else {
        snprintf(digest, sizeof(digest), "%s", ev->digest);
    }

    if (old[0] != '\0') {
        hr_fills_count(f, strcmp(old, digest) == 0 ? "refresh_fresh"
                                                   : "refresh_changed", 1);
    }

    if (hr_job_stopping(j)
        || hr_store_manifest_read(&f->ctx->store, digest, &bytes, &len) != 1)
    {
        return;
    }

    js = json_loadb(bytes, len, 0, NULL);
    free(bytes);

    d = json_string_value(json_object_get(json_object_get(js, "config"),
                                          "digest"));
    if (d != NULL) {
        hr_fill_prefetch(fj, d);
    }

    json_array_foreach(json_object_get(js, "layers"), i, v) {
        d = json_string_value(json_object_get(v, "digest"));
        if (d != NULL) {
            hr_fill_prefetch(fj, d);
        }
    }

    json_decref(js);
}


/* A blob fill for a blob of a manifest just filled, unless stored. */
static void
hr_fill_prefetch(hr_fjob_t *fj, const char *digest)
{
    char        cur[HR_DIGEST_LEN + 1];
    hr_event_t  ev;

    if (!hr_valid_digest(digest)) {
        return;
    }

    if (hr_store_read_link(&fj->f->ctx->store, fj->ev.repository,
                           HR_LINK_LAYER, NULL, digest, cur)
        == 1
        && hr_store_blob_exists(&fj->f->ctx->store, digest, NULL))
    {
        return;
    }

    memset(&ev, 0, sizeof(ev));
    ev.kind = HR_EVENT_FILL;
    ev.object = HR_OBJECT_BLOB;
    ev.occurred_at = fj->ev.occurred_at;
    ev.auth_token = fj->ev.auth_token;
    snprintf(ev.repository, sizeof(ev.repository), "%s", fj->ev.repository);
    snprintf(ev.digest, sizeof(ev.digest), "%s", digest);
    snprintf(ev.source, sizeof(ev.source), "prefetch");

    /* the manifest's fill was allowed: so are its blobs */
    (void) hr_fills_spawn(fj->f, &ev, 1);
}


/* ------------------------------------------------------------ sweeping */

static long
hr_fills_sweep(hr_loop_t *loop, long long id, void *data)
{
    hr_fills_t  *f = data;

    hr_fills_clean(f, 0);

    return HR_FILL_SWEEP_MS;
}


/*
 * Removes the headers of finished fills older than HR_FILL_KEEP_S, and
 * with all every header: a fill of an earlier run is over.
 */
static void
hr_fills_clean(hr_fills_t *f, int all)
{
    int             busy;
    DIR            *dir;
    char            path[4400];
    time_t          now;
    hr_fjob_t      *fj;
    struct stat     sb;
    struct dirent  *de;

    dir = opendir(f->dir);
    if (dir == NULL) {
        return;
    }

    now = time(NULL);

    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.' && strncmp(de->d_name, ".tmp-", 5) != 0) {
            continue;
        }

        snprintf(path, sizeof(path), "%s/%s", f->dir, de->d_name);

        if (lstat(path, &sb) == -1 || !S_ISREG(sb.st_mode)) {
            continue;
        }

        busy = 0;

        for (fj = f->jobs; fj; fj = fj->next) {
            if (strcmp(fj->header, path) == 0) {
                busy = 1;
            }
        }

        if (all || (!busy && now - sb.st_mtime >= HR_FILL_KEEP_S)) {
            (void) unlink(path);
        }
    }

    closedir(dir);
}
