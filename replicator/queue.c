/*
 * queue.c: decoding, coalescing and reliable consumption of the event lines
 * the nginx module queues in Redis (see queue.h for the protocol).
 *
 * Nothing here blocks: both Redis connections are hiredis async contexts on
 * loop.c (loop_redis.h).  Callbacks only move lines between lists in
 * memory; the work an event asks for is done by the caller (events.c)
 * between loop turns, never from inside a hiredis callback.
 *
 * Teardown is always deferred to a timer: freeing a context from inside
 * one of its callbacks is what hiredis warns against.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "loop_redis.h"
#include "queue.h"
#include "redis_addr.h"

#define HR_QUEUE_BLOCK_S        5           /* BLMOVE's own timeout */
#define HR_QUEUE_CONNECT_MS     3000
#define HR_QUEUE_REPLY_MS       10000
#define HR_QUEUE_BACKOFF_MIN    100
#define HR_QUEUE_BACKOFF_MAX    5000
#define HR_QUEUE_OUTBOX_MAX     100000
#define HR_QUEUE_OUTBOX_DROP    10000       /* droppable ops beyond this */
#define HR_QUEUE_FILLS_MAX      1024        /* fill lines held in memory */


typedef struct hr_qop_s  hr_qop_t;
typedef struct hr_fline_s  hr_fline_t;

/* A fill request taken from <name>:fill, until the daemon takes it. */
struct hr_fline_s {
    char         *line;
    size_t        len;
    hr_fline_t   *next;
};

/* One command of the outbox: kept until Redis has answered it. */
struct hr_qop_s {
    hr_queue_t   *q;
    int           argc;
    char        **argv;
    size_t       *argvlen;
    unsigned      droppable:1;
    unsigned      sent:1;
    unsigned      lrem:1;       /* LREM of a processing line (held) */
    hr_queue_reply_pt  reply;   /* hr_queue_ask()'s, NULL: none */
    void         *reply_data;
    hr_qop_t     *prev;
    hr_qop_t     *next;
};

struct hr_queue_s {
    hr_loop_t            *loop;
    hr_log_t             *log;
    char                 *name;
    char                 *processing;
    char                 *failed;
    char                 *fill;             /* <name>:fill */
    char                 *unix_path;        /* or host and port */
    char                  host[INET6_ADDRSTRLEN];
    int                   port;

    redisAsyncContext    *cmd;
    redisAsyncContext    *pop;
    redisAsyncContext    *fpop;             /* BLPOP of the fill list */
    unsigned              cmd_up:1;
    unsigned              pop_up:1;
    unsigned              fpop_up:1;
    unsigned              fpopping:1;
    unsigned              ready:1;          /* requeue done: pop allowed */
    unsigned              popping:1;
    unsigned              brpoplpush:1;     /* Redis < 6.2 */
    unsigned              broken:1;
    unsigned              freeing:1;
    unsigned              logged_down:1;
    int                   cmd_pending;      /* replies awaited on cmd */

    long                  backoff;
    long long             teardown_timer;
    long long             connect_timer;

    hr_qset_t             waiting;
    hr_qitem_t           *busy;             /* taken, being handled */

    hr_qop_t             *ob_head;
    hr_qop_t             *ob_tail;
    size_t                ob_n;

    hr_fline_t           *fills_head;
    hr_fline_t           *fills_tail;
    size_t                nfills;

    hr_queue_stats_t      stats;
};


static long long hr_queue_now(void);
static void hr_event_clean(char *s);
static int hr_event_str(json_t *o, const char *key, int required,
    const char **out, char *err, size_t errlen);
static void hr_event_target(const hr_event_t *ev, char *out, size_t outlen);
static int hr_qset_keyed(hr_qitem_t *it, const char *line, size_t len);
static size_t hr_item_holds(hr_qitem_t *it, const char *line, size_t len);

static void hr_queue_connect(hr_queue_t *q);
static long hr_queue_connect_timer(hr_loop_t *loop, long long id,
    void *data);
static long hr_queue_teardown_timer(hr_loop_t *loop, long long id,
    void *data);
static void hr_queue_broken(hr_queue_t *q, const char *fmt, const char *why);
static void hr_queue_close(hr_queue_t *q);
static redisAsyncContext *hr_queue_open(hr_queue_t *q, char *err,
    size_t errlen);
static void hr_queue_on_connect(const redisAsyncContext *ac, int status);
static void hr_queue_on_disconnect(const redisAsyncContext *ac, int status);
static void hr_queue_on_timeout(redisAsyncContext *ac, void *data);
static void hr_queue_requeue(hr_queue_t *q);
static void hr_queue_requeue_reply(redisAsyncContext *ac, void *r,
    void *data);
static void hr_queue_pop(hr_queue_t *q);
static void hr_queue_pop_reply(redisAsyncContext *ac, void *r, void *data);
static void hr_queue_fill_pop(hr_queue_t *q);
static void hr_queue_fill_reply(redisAsyncContext *ac, void *r, void *data);
static void hr_queue_flush(hr_queue_t *q);
static void hr_queue_op_reply(redisAsyncContext *ac, void *r, void *data);
static int hr_queue_op_send(hr_queue_t *q, hr_qop_t *op);
static void hr_queue_op_free(hr_qop_t *op);
static void hr_queue_op_unlink(hr_queue_t *q, hr_qop_t *op);
static int hr_queue_add_op(hr_queue_t *q, int droppable, int lrem, int argc,
    const char **argv, const size_t *argvlen);
static void hr_queue_cmd_sent(hr_queue_t *q);
static void hr_queue_cmd_replied(hr_queue_t *q);
static size_t hr_queue_holds(hr_queue_t *q, const char *line, size_t len);
static void hr_queue_ack(hr_queue_t *q, hr_qitem_t *it);
static void hr_queue_unbusy(hr_queue_t *q, hr_qitem_t *it);


static long long
hr_queue_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* ---------------------------------------------------------- decoding */

/* Errors quote the line: no control or 8-bit bytes reach a log. */
static void
hr_event_clean(char *s)
{
    for ( /* void */ ; *s != '\0'; s++) {
        if ((unsigned char) *s < 0x20 || (unsigned char) *s >= 0x7f) {
            *s = '?';
        }
    }
}


static int
hr_event_str(json_t *o, const char *key, int required, const char **out,
    char *err, size_t errlen)
{
    json_t  *v;

    v = json_object_get(o, key);
    *out = NULL;

    if (v == NULL) {
        if (required) {
            snprintf(err, errlen, "%s: missing", key);
            return -1;
        }
        return 0;
    }

    if (!json_is_string(v)) {
        snprintf(err, errlen, "%s: not a string", key);
        return -1;
    }

    *out = json_string_value(v);

    return 0;
}


int
hr_event_decode(const char *line, size_t len, hr_event_t *ev, char *err,
    size_t errlen)
{
    int            rc;
    json_t        *js, *v;
    const char    *kind, *repo, *digest, *tag, *object, *ref, *source, *auth;
    json_error_t   je;

    memset(ev, 0, sizeof(hr_event_t));
    rc = -1;

    if (len > HR_QUEUE_LINE_MAX) {
        snprintf(err, errlen, "line of %zu bytes, more than %d", len,
                 HR_QUEUE_LINE_MAX);
        return -1;
    }

    js = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (js == NULL) {
        snprintf(err, errlen, "not JSON at byte %d: %.100s", je.position,
                 je.text);
        hr_event_clean(err);
        return -1;
    }

    if (!json_is_object(js)) {
        snprintf(err, errlen, "not a JSON object");
        goto done;
    }

    if (hr_event_str(js, "kind", 1, &kind, err, errlen) == -1
        || hr_event_str(js, "repository", 1, &repo, err, errlen) == -1
        || hr_event_str(js, "source", 0, &source, err, errlen) == -1)
    {
        goto done;
    }

    if (strcmp(kind, "push") == 0) {
        ev->kind = HR_EVENT_PUSH;

    } else if (strcmp(kind, "delete") == 0) {
        ev->kind = HR_EVENT_DELETE;

    } else if (strcmp(kind, "miss") == 0) {
        ev->kind = HR_EVENT_MISS;

    } else if (strcmp(kind, "fill") == 0) {
        ev->kind = HR_EVENT_FILL;

    } else if (strcmp(kind, "preheat") == 0) {
        ev->kind = HR_EVENT_PREHEAT;

    } else {
        snprintf(err, errlen, "kind: unknown kind \"%.40s\"", kind);
        goto done;
    }

    if (strlen(repo) >= sizeof(ev->repository) || !hr_valid_repo(repo)) {
        snprintf(err, errlen, "repository: \"%.100s\" is not a valid "
                 "repository name", repo);
        goto done;
    }

    snprintf(ev->repository, sizeof(ev->repository), "%s", repo);

    v = json_object_get(js, "occurred_at");

    if (v != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            snprintf(err, errlen, "occurred_at: not a non-negative integer");
            goto done;
        }

        ev->occurred_at = json_integer_value(v);
    }

    if (source != NULL) {
        if (strlen(source) >= sizeof(ev->source)) {
            snprintf(err, errlen, "source: longer than %zu bytes",
                     sizeof(ev->source) - 1);
            goto done;
        }

        snprintf(ev->source, sizeof(ev->source), "%s", source);
    }

    if (ev->kind == HR_EVENT_FILL) {
        if (hr_event_str(js, "auth", 0, &auth, err, errlen) == -1) {
            goto done;
        }

        if (auth != NULL && strcmp(auth, "token") != 0
            && strcmp(auth, "none") != 0)
        {
            snprintf(err, errlen, "auth: \"%.40s\" is not token or none",
                     auth);
            goto done;
        }

        ev->auth_token = auth != NULL && strcmp(auth, "token") == 0;
    }

    if (ev->kind == HR_EVENT_PUSH || ev->kind == HR_EVENT_DELETE
        || ev->kind == HR_EVENT_PREHEAT)
    {
        if (hr_event_str(js, "digest", 1, &digest, err, errlen) == -1
            || hr_event_str(js, "tag", 0, &tag, err, errlen) == -1)
        {
            goto done;
        }

        if (!hr_valid_digest(digest)) {
            snprintf(err, errlen, "digest: \"%.100s\" is not a sha256 digest",
                     digest);
            goto done;
        }

        snprintf(ev->digest, sizeof(ev->digest), "%s", digest);

        if (tag != NULL) {
            if (strlen(tag) >= sizeof(ev->tag) || !hr_valid_tag(tag)) {
                snprintf(err, errlen, "tag: \"%.140s\" is not a valid tag",
                         tag);
                goto done;
            }

            snprintf(ev->tag, sizeof(ev->tag), "%s", tag);
        }

        rc = 0;
        goto done;
    }

    if (hr_event_str(js, "object", 1, &object, err, errlen) == -1
        || hr_event_str(js, "reference", 1, &ref, err, errlen) == -1)
    {
        goto done;
    }

    if (strcmp(object, "manifest") == 0) {
        ev->object = HR_OBJECT_MANIFEST;

    } else if (strcmp(object, "blob") == 0) {
        ev->object = HR_OBJECT_BLOB;

    } else {
        snprintf(err, errlen, "object: unknown object \"%.40s\"", object);
        goto done;
    }

    if (hr_valid_digest(ref)) {
        snprintf(ev->digest, sizeof(ev->digest), "%s", ref);

    } else if (ev->object == HR_OBJECT_MANIFEST && strlen(ref) < sizeof(ev->tag)
               && hr_valid_tag(ref))
    {
        snprintf(ev->tag, sizeof(ev->tag), "%s", ref);

    } else {
        snprintf(err, errlen, "reference: \"%.140s\" is not a %s", ref,
                 ev->object == HR_OBJECT_BLOB ? "sha256 digest"
                                              : "tag or sha256 digest");
        goto done;
    }

    rc = 0;

done:

    json_decref(js);

    if (rc == -1) {
        hr_event_clean(err);
    }

    return rc;
}


/* What an event acts on: events on one target keep their order. */
static void
hr_event_target(const hr_event_t *ev, char *out, size_t outlen)
{
    if ((ev->kind == HR_EVENT_MISS || ev->kind == HR_EVENT_FILL)
        && ev->object == HR_OBJECT_BLOB)
    {
        snprintf(out, outlen, "%s blob %s", ev->repository, ev->digest);
        return;
    }

    snprintf(out, outlen, "%s %s", ev->repository,
             ev->tag[0] != '\0' ? ev->tag : ev->digest);
}


void
hr_event_key(const hr_event_t *ev, char *out, size_t outlen)
{
    char         target[512];
    const char  *kind;

    kind = ev->kind == HR_EVENT_PUSH ? "push"
           : ev->kind == HR_EVENT_DELETE ? "delete"
           : ev->kind == HR_EVENT_PREHEAT ? "preheat"
           : ev->kind == HR_EVENT_FILL
             ? (ev->object == HR_OBJECT_BLOB ? "fill-blob" : "fill-manifest")
           : ev->object == HR_OBJECT_BLOB ? "miss-blob" : "miss-manifest";

    hr_event_target(ev, target, sizeof(target));
    snprintf(out, outlen, "%s %.480s", kind, target);
}


void
hr_event_describe(const hr_event_t *ev, char *out, size_t outlen)
{
    const char  *kind;

    kind = ev->kind == HR_EVENT_PUSH ? "push"
           : ev->kind == HR_EVENT_DELETE ? "delete"
           : ev->kind == HR_EVENT_PREHEAT ? "preheat"
           : ev->kind == HR_EVENT_FILL
             ? (ev->object == HR_OBJECT_BLOB ? "fill blob" : "fill manifest")
           : ev->object == HR_OBJECT_BLOB ? "miss blob" : "miss manifest";

    if (ev->tag[0] != '\0') {
        snprintf(out, outlen, "%s %s:%s%s%s", kind, ev->repository, ev->tag,
                 ev->digest[0] ? "@" : "", ev->digest);

    } else {
        snprintf(out, outlen, "%s %s@%s", kind, ev->repository, ev->digest);
    }
}


/* -------------------------------------------------------- coalescing */

void
hr_qset_init(hr_qset_t *s)
{
    memset(s, 0, sizeof(hr_qset_t));
}


void
hr_qitem_free(hr_qitem_t *it)
{
    size_t  i;

    if (it == NULL) {
        return;
    }

    for (i = 0; i < it->nlines; i++) {
        free(it->lines[i]);
    }

    free(it->lines);
    free(it->lens);
    free(it);
}


void
hr_qset_free(hr_qset_t *s)
{
    hr_qitem_t  *it, *next;

    for (it = s->head; it; it = next) {
        next = it->next;
        hr_qitem_free(it);
    }

    hr_qset_init(s);
}


/* Appends a copy of line to the item's lines. */
static int
hr_qset_keyed(hr_qitem_t *it, const char *line, size_t len)
{
    char    **nl, *copy;
    size_t   *ns;

    copy = malloc(len + 1);
    if (copy == NULL) {
        return -1;
    }

    memcpy(copy, line, len);
    copy[len] = '\0';

    nl = realloc(it->lines, (it->nlines + 1) * sizeof(char *));
    if (nl == NULL) {
        free(copy);
        return -1;
    }

    it->lines = nl;

    ns = realloc(it->lens, (it->nlines + 1) * sizeof(size_t));
    if (ns == NULL) {
        free(copy);
        return -1;
    }

    it->lens = ns;
    it->lines[it->nlines] = copy;
    it->lens[it->nlines] = len;
    it->nlines++;

    return 0;
}


int
hr_qset_add(hr_qset_t *s, const char *line, size_t len, long long now)
{
    char         target[512], t2[512];
    hr_qitem_t  *it, *last, *e;

    it = calloc(1, sizeof(hr_qitem_t));
    if (it == NULL) {
        return -1;
    }

    if (memchr(line, '\0', len) != NULL) {
        it->bad = 1;
        snprintf(it->err, sizeof(it->err), "a NUL byte in the line");

    } else if (hr_event_decode(line, len, &it->ev, it->err, sizeof(it->err))
               == -1)
    {
        it->bad = 1;
    }

    if (!it->bad) {
        hr_event_key(&it->ev, it->key, sizeof(it->key));
        hr_event_target(&it->ev, target, sizeof(target));

        /*
         * Join the last waiting item on the same target when it is the
         * same work; a different kind in between (push, delete, push)
         * keeps its place, so the order of effects is kept.
         */
        last = NULL;

        for (e = s->head; e; e = e->next) {
            if (e->bad) {
                continue;
            }

            hr_event_target(&e->ev, t2, sizeof(t2));

            if (strcmp(t2, target) == 0) {
                last = e;
            }
        }

        if (last != NULL && strcmp(last->key, it->key) == 0) {
            if (hr_qset_keyed(last, line, len) == -1) {
                free(it);
                return -1;
            }

            free(it);
            s->nlines++;
            s->coalesced++;
            return 1;
        }
    }

    if (hr_qset_keyed(it, line, len) == -1) {
        free(it);
        return -1;
    }

    it->taken = now;
    it->due = 0;

    if (s->tail != NULL) {
        s->tail->next = it;

    } else {
        s->head = it;
    }

    s->tail = it;
    s->n++;
    s->nlines++;

    return 0;
}


void
hr_qset_requeue(hr_qset_t *s, hr_qitem_t *it, long long due)
{
    it->due = due;
    it->next = NULL;

    if (s->tail != NULL) {
        s->tail->next = it;

    } else {
        s->head = it;
    }

    s->tail = it;
    s->n++;
    s->nlines += it->nlines;
}


hr_qitem_t *
hr_qset_take(hr_qset_t *s, long long now, hr_qitem_t *busy)
{
    char         target[512], t2[512];
    hr_qitem_t  *it, *prev, *e;
    int          blocked;

    for (prev = NULL, it = s->head; it; prev = it, it = it->next) {
        if (it->due > now) {
            continue;
        }

        /*
         * an earlier item on the same target waiting for a retry goes
         * first, and one being handled ends first: a push and a delete of
         * one tag never overtake each other
         */
        blocked = 0;

        if (!it->bad) {
            hr_event_target(&it->ev, target, sizeof(target));

            for (e = s->head; e != it && !blocked; e = e->next) {
                if (e->bad) {
                    continue;
                }

                hr_event_target(&e->ev, t2, sizeof(t2));
                blocked = strcmp(t2, target) == 0;
            }

            for (e = busy; e != NULL && !blocked; e = e->next) {
                if (e->bad) {
                    continue;
                }

                hr_event_target(&e->ev, t2, sizeof(t2));
                blocked = strcmp(t2, target) == 0;
            }
        }

        if (blocked) {
            continue;
        }

        if (prev != NULL) {
            prev->next = it->next;

        } else {
            s->head = it->next;
        }

        if (s->tail == it) {
            s->tail = prev;
        }

        it->next = NULL;
        s->n--;
        s->nlines -= it->nlines;

        return it;
    }

    return NULL;
}


long
hr_qset_next_ms(hr_qset_t *s, long long now)
{
    long long    best;
    hr_qitem_t  *it;

    best = -1;

    for (it = s->head; it; it = it->next) {
        if (best == -1 || it->due < best) {
            best = it->due;
        }
    }

    if (best == -1) {
        return -1;
    }

    return best <= now ? 0 : (long) (best - now);
}


static size_t
hr_item_holds(hr_qitem_t *it, const char *line, size_t len)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < it->nlines; i++) {
        if (it->lens[i] == len && memcmp(it->lines[i], line, len) == 0)
        {
            n++;
        }
    }

    return n;
}


size_t
hr_qset_holds(hr_qset_t *s, const char *line, size_t len)
{
    size_t       n;
    hr_qitem_t  *it;

    n = 0;

    for (it = s->head; it; it = it->next) {
        n += hr_item_holds(it, line, len);
    }

    return n;
}


/* ------------------------------------------------------- consumption */

hr_queue_t *
hr_queue_create(hr_loop_t *loop, hr_log_t *log, const char *addr,
    const char *name, char *err, size_t errlen)
{
    int                rc;
    size_t             n;
    hr_queue_t        *q;
    hr_redis_addr_t    ra;
    struct addrinfo    hints, *ai;

    if (name == NULL) {
        name = HR_QUEUE_NAME;
    }

    if (addr == NULL || addr[0] == '\0') {
        snprintf(err, errlen, "redis: no address");
        return NULL;
    }

    if (name[0] == '\0' || strlen(name) > 200) {
        snprintf(err, errlen, "redis queue name: empty or too long");
        return NULL;
    }

    q = calloc(1, sizeof(hr_queue_t));
    if (q == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    q->loop = loop;
    q->log = log;
    q->backoff = HR_QUEUE_BACKOFF_MIN;
    q->teardown_timer = -1;
    q->connect_timer = -1;
    hr_qset_init(&q->waiting);

    n = strlen(name) + sizeof(":processing");
    q->name = strdup(name);
    q->processing = malloc(n);
    q->failed = malloc(n);
    q->fill = malloc(n);

    if (q->name == NULL || q->processing == NULL || q->failed == NULL
        || q->fill == NULL)
    {
        snprintf(err, errlen, "out of memory");
        goto failed;
    }

    snprintf(q->processing, n, "%s:processing", name);
    snprintf(q->failed, n, "%s:failed", name);
    snprintf(q->fill, n, "%s:fill", name);

    if (hr_redis_addr_parse(&ra, addr, err, errlen) != 0) {
        goto failed;
    }

    if (ra.unix_socket) {
        q->unix_path = strdup(ra.path);
        if (q->unix_path == NULL) {
            snprintf(err, errlen, "out of memory");
            goto failed;
        }

    } else {
        q->port = ra.port;

        /*
         * Resolved once, here, at startup: hiredis would call
         * getaddrinfo() on every connect, blocking the loop.
         */
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;

        rc = getaddrinfo(ra.host, NULL, &hints, &ai);
        if (rc != 0) {
            snprintf(err, errlen, "redis: \"%s\": %s", ra.host,
                     gai_strerror(rc));
            goto failed;
        }

        rc = getnameinfo(ai->ai_addr, ai->ai_addrlen, q->host,
                         sizeof(q->host), NULL, 0, NI_NUMERICHOST);
        freeaddrinfo(ai);

        if (rc != 0) {
            snprintf(err, errlen, "redis: \"%s\": %s", ra.host,
                     gai_strerror(rc));
            goto failed;
        }
    }

    q->connect_timer = hr_loop_add_timer(loop, 0, hr_queue_connect_timer, q);
    if (q->connect_timer == -1) {
        snprintf(err, errlen, "out of memory");
        goto failed;
    }

    return q;

failed:

    free(q->name);
    free(q->processing);
    free(q->failed);
    free(q->fill);
    free(q->unix_path);
    free(q);

    return NULL;
}


void
hr_queue_free(hr_queue_t *q)
{
    hr_qop_t    *op, *next;
    hr_qitem_t  *it, *inext;
    hr_fline_t  *fl, *fnext;

    if (q == NULL) {
        return;
    }

    q->freeing = 1;
    hr_queue_close(q);

    if (q->teardown_timer != -1) {
        hr_loop_del_timer(q->loop, q->teardown_timer);
    }

    if (q->connect_timer != -1) {
        hr_loop_del_timer(q->loop, q->connect_timer);
    }

    /* lines still held stay in processing: requeued at the next start */
    hr_qset_free(&q->waiting);

    for (it = q->busy; it; it = inext) {
        inext = it->next;
        hr_qitem_free(it);
    }

    for (op = q->ob_head; op; op = next) {
        next = op->next;
        hr_queue_op_free(op);
    }

    for (fl = q->fills_head; fl; fl = fnext) {
        fnext = fl->next;
        free(fl->line);
        free(fl);
    }

    free(q->name);
    free(q->processing);
    free(q->failed);
    free(q->fill);
    free(q->unix_path);
    free(q);
}


static redisAsyncContext *
hr_queue_open(hr_queue_t *q, char *err, size_t errlen)
{
    redisAsyncContext  *ac;

    if (q->unix_path != NULL) {
        ac = redisAsyncConnectUnix(q->unix_path);

    } else {
        ac = redisAsyncConnect(q->host, q->port);
    }

    if (ac == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    if (ac->err) {
        snprintf(err, errlen, "%s", ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }

    ac->data = q;

    if (hr_redis_attach(q->loop, ac, hr_queue_on_timeout, q) != REDIS_OK) {
        snprintf(err, errlen, "out of memory");
        redisAsyncFree(ac);
        return NULL;
    }

    redisAsyncSetConnectCallback(ac, hr_queue_on_connect);
    redisAsyncSetDisconnectCallback(ac, hr_queue_on_disconnect);

    /* the connect is in progress: a write event says when it is done */
    ac->ev.addWrite(ac->ev.data);
    hr_redis_deadline(ac, HR_QUEUE_CONNECT_MS);

    return ac;
}


static long
hr_queue_connect_timer(hr_loop_t *loop, long long id, void *data)
{
    hr_queue_t  *q = data;

    q->connect_timer = -1;
    hr_queue_connect(q);

    return HR_LOOP_NOMORE;
}


static void
hr_queue_connect(hr_queue_t *q)
{
    char  err[256];

    q->broken = 0;

    q->cmd = hr_queue_open(q, err, sizeof(err));
    if (q->cmd == NULL) {
        hr_queue_broken(q, "redis: connect failed: %s", err);
        return;
    }

    q->pop = hr_queue_open(q, err, sizeof(err));
    if (q->pop == NULL) {
        hr_queue_broken(q, "redis: connect failed: %s", err);
        return;
    }

    q->fpop = hr_queue_open(q, err, sizeof(err));
    if (q->fpop == NULL) {
        hr_queue_broken(q, "redis: connect failed: %s", err);
        return;
    }
}


/*
 * Something went wrong on either connection: close both (from a timer,
 * never inside a hiredis callback) and connect again after the backoff.
 */
static void
hr_queue_broken(hr_queue_t *q, const char *fmt, const char *why)
{
    if (q->freeing || q->broken) {
        return;
    }

    q->broken = 1;

    if (!q->logged_down) {
        hr_log(q->log, HR_LOG_WARN, fmt, why);
        q->logged_down = 1;

    } else {
        hr_log(q->log, HR_LOG_DEBUG, fmt, why);
    }

    if (q->teardown_timer == -1) {
        q->teardown_timer = hr_loop_add_timer(q->loop, 0,
                                              hr_queue_teardown_timer, q);
    }
}


static void
hr_queue_close(hr_queue_t *q)
{
    redisAsyncContext  *ac;

    if (q->cmd_up || q->pop_up) {
        q->stats.disconnects++;
    }

    /* pending callbacks run with a NULL reply: ops go back to unsent */
    if (q->cmd != NULL) {
        ac = q->cmd;
        q->cmd = NULL;
        redisAsyncFree(ac);
    }

    if (q->pop != NULL) {
        ac = q->pop;
        q->pop = NULL;
        redisAsyncFree(ac);
    }

    if (q->fpop != NULL) {
        ac = q->fpop;
        q->fpop = NULL;
        redisAsyncFree(ac);
    }

    q->cmd_up = 0;
    q->pop_up = 0;
    q->fpop_up = 0;
    q->fpopping = 0;
    q->ready = 0;
    q->popping = 0;
    q->cmd_pending = 0;
}


static long
hr_queue_teardown_timer(hr_loop_t *loop, long long id, void *data)
{
    hr_queue_t  *q = data;

    q->teardown_timer = -1;
    hr_queue_close(q);

    if (q->connect_timer == -1) {
        q->connect_timer = hr_loop_add_timer(q->loop, q->backoff,
                                             hr_queue_connect_timer, q);
    }

    q->backoff *= 2;
    if (q->backoff > HR_QUEUE_BACKOFF_MAX) {
        q->backoff = HR_QUEUE_BACKOFF_MAX;
    }

    return HR_LOOP_NOMORE;
}


static void
hr_queue_on_timeout(redisAsyncContext *ac, void *data)
{
    hr_queue_t  *q = data;

    hr_queue_broken(q, "redis: %s", ac == q->pop
                    ? (q->pop_up ? "no answer to the pop" : "connect timed out")
                    : ac == q->fpop
                    ? (q->fpop_up ? "no answer to the fill pop"
                                  : "connect timed out")
                    : (q->cmd_up ? "no answer to a command"
                                 : "connect timed out"));
}


static void
hr_queue_on_connect(const redisAsyncContext *cac, int status)
{
    hr_queue_t         *q;
    redisAsyncContext  *ac = (redisAsyncContext *) cac;

    q = ac->data;

    if (q == NULL || q->freeing) {
        return;
    }

    if (status != REDIS_OK) {
        /* hiredis frees ac after this callback */
        if (ac == q->cmd) {
            q->cmd = NULL;

        } else if (ac == q->pop) {
            q->pop = NULL;

        } else if (ac == q->fpop) {
            q->fpop = NULL;
        }

        hr_queue_broken(q, "redis: connect failed: %s", ac->errstr);
        return;
    }

    hr_redis_deadline(ac, 0);

    if (ac == q->cmd) {
        q->cmd_up = 1;
        hr_queue_requeue(q);

    } else if (ac == q->pop) {
        q->pop_up = 1;

    } else if (ac == q->fpop) {
        /* fills are not reliable: nothing to requeue, pop at once */
        q->fpop_up = 1;
        hr_queue_fill_pop(q);
        return;
    }

    /* popping waits for the requeue's answer (hr_queue_requeue_reply) */
    hr_queue_pop(q);
}


static void
hr_queue_on_disconnect(const redisAsyncContext *cac, int status)
{
    hr_queue_t         *q;
    redisAsyncContext  *ac = (redisAsyncContext *) cac;

    q = ac->data;

    if (q == NULL || q->freeing) {
        return;
    }

    /* hiredis frees ac after this callback */
    if (ac == q->cmd) {
        q->cmd = NULL;
        q->cmd_up = 0;

    } else if (ac == q->pop) {
        q->pop = NULL;
        q->pop_up = 0;

    } else if (ac == q->fpop) {
        q->fpop = NULL;
        q->fpop_up = 0;
        q->fpopping = 0;

    } else {
        return;     /* closed by us */
    }

    hr_queue_broken(q, "redis: connection lost: %s",
                    status == REDIS_OK ? "closed" : ac->errstr);
}


/* --------------------------------------------------------- requeue */

static void
hr_queue_requeue(hr_queue_t *q)
{
    if (redisAsyncCommand(q->cmd, hr_queue_requeue_reply, NULL,
                          "LRANGE %s 0 -1", q->processing)
        != REDIS_OK)
    {
        hr_queue_broken(q, "redis: %s", "LRANGE failed");
        return;
    }

    hr_queue_cmd_sent(q);

    /* acknowledgements go after LRANGE: their lines count as held */
    hr_queue_flush(q);
}


static void
hr_queue_requeue_reply(redisAsyncContext *ac, void *r, void *data)
{
    long          n;
    size_t        i, held;
    hr_queue_t   *q;
    redisReply   *reply = r, *e;
    const char   *argv[4];
    size_t        argvlen[4];

    q = ac->data;

    if (reply == NULL || q == NULL || q->freeing || ac != q->cmd) {
        return;
    }

    hr_queue_cmd_replied(q);

    if (reply->type != REDIS_REPLY_ARRAY) {
        hr_queue_broken(q, "redis: LRANGE: %s", reply->type
                        == REDIS_REPLY_ERROR ? reply->str : "not an array");
        return;
    }

    n = 0;

    /* newest first, each pushed on the head: the old order is kept */
    for (i = reply->elements; i > 0; i--) {
        e = reply->element[i - 1];

        if (e->type != REDIS_REPLY_STRING) {
            continue;
        }

        held = hr_queue_holds(q, e->str, e->len);

        /* count what this pass already skipped as held, by lines before */
        {
            size_t  j, seen;

            seen = 0;

            for (j = i; j < reply->elements; j++) {
                redisReply  *o = reply->element[j];

                if (o->type == REDIS_REPLY_STRING && o->len == e->len
                    && memcmp(o->str, e->str, e->len) == 0)
                {
                    seen++;
                }
            }

            if (seen < held) {
                continue;
            }
        }

        /* the LPUSH first: a crash between the two gives a duplicate */
        argv[0] = "LPUSH";
        argvlen[0] = 5;
        argv[1] = q->name;
        argvlen[1] = strlen(q->name);
        argv[2] = e->str;
        argvlen[2] = e->len;

        if (hr_queue_add_op(q, 0, 0, 3, argv, argvlen) == -1) {
            hr_queue_broken(q, "redis: %s", "out of memory");
            return;
        }

        argv[0] = "LREM";
        argvlen[0] = 4;
        argv[1] = q->processing;
        argvlen[1] = strlen(q->processing);
        argv[2] = "-1";
        argvlen[2] = 2;
        argv[3] = e->str;
        argvlen[3] = e->len;

        if (hr_queue_add_op(q, 0, 0, 4, argv, argvlen) == -1) {
            hr_queue_broken(q, "redis: %s", "out of memory");
            return;
        }

        n++;
    }

    if (n > 0) {
        q->stats.requeued += n;
        hr_log(q->log, HR_LOG_INFO, "redis: %ld event(s) left in %s by an "
               "earlier run queued again", n, q->processing);
    }

    /* Redis answered: only now is it "back" */
    q->ready = 1;
    q->stats.connects++;

    if (q->logged_down) {
        hr_log(q->log, HR_LOG_INFO, "redis: connected again to %s (port %d)",
               q->unix_path ? q->unix_path : q->host, q->port);
    }

    q->logged_down = 0;
    q->backoff = HR_QUEUE_BACKOFF_MIN;

    hr_queue_pop(q);
}


/* ------------------------------------------------------------- pop */

static void
hr_queue_pop(hr_queue_t *q)
{
    int  rc;

    if (!q->ready || !q->pop_up || q->popping || q->broken
        || q->waiting.nlines >= HR_QUEUE_WAITING_MAX)
    {
        return;
    }

    if (q->brpoplpush) {
        rc = redisAsyncCommand(q->pop, hr_queue_pop_reply, NULL,
                               "BRPOPLPUSH %s %s %d", q->name,
                               q->processing, HR_QUEUE_BLOCK_S);

    } else {
        rc = redisAsyncCommand(q->pop, hr_queue_pop_reply, NULL,
                               "BLMOVE %s %s LEFT RIGHT %d", q->name,
                               q->processing, HR_QUEUE_BLOCK_S);
    }

    if (rc != REDIS_OK) {
        hr_queue_broken(q, "redis: %s", "the pop could not be sent");
        return;
    }

    q->popping = 1;
    hr_redis_deadline(q->pop, HR_QUEUE_BLOCK_S * 1000 + HR_QUEUE_REPLY_MS);
}


static void
hr_queue_pop_reply(redisAsyncContext *ac, void *r, void *data)
{
    hr_queue_t  *q;
    redisReply  *reply = r;

    q = ac->data;

    if (reply == NULL || q == NULL || q->freeing || ac != q->pop) {
        return;
    }

    q->popping = 0;
    hr_redis_deadline(ac, 0);

    if (reply->type == REDIS_REPLY_ERROR) {
        if (!q->brpoplpush && strstr(reply->str, "unknown command") != NULL)
        {
            /* Redis before 6.2: LIFO, but still reliable */
            hr_log(q->log, HR_LOG_WARN, "redis: no BLMOVE (Redis < 6.2); "
                   "using BRPOPLPUSH, newest events first");
            q->brpoplpush = 1;
            hr_queue_pop(q);
            return;
        }

        hr_queue_broken(q, "redis: pop: %s", reply->str);
        return;
    }

    if (reply->type == REDIS_REPLY_STRING) {
        q->stats.taken++;

        switch (hr_qset_add(&q->waiting, reply->str, reply->len,
                            hr_queue_now()))
        {
        case 1:
            q->stats.coalesced++;
            break;

        case -1:
            /* the line stays in processing: requeued at the next start */
            hr_log(q->log, HR_LOG_ERROR, "redis: out of memory for an "
                   "event line");
            break;

        default:
            break;
        }
    }

    /* nil: the block timed out, pop again */
    hr_queue_pop(q);
}


/* ----------------------------------------------------------- outbox */

static void
hr_queue_op_free(hr_qop_t *op)
{
    int  i;

    for (i = 0; i < op->argc; i++) {
        free(op->argv[i]);
    }

    free(op->argv);
    free(op->argvlen);
    free(op);
}


static void
hr_queue_op_unlink(hr_queue_t *q, hr_qop_t *op)
{
    if (op->prev != NULL) {
        op->prev->next = op->next;

    } else {
        q->ob_head = op->next;
    }

    if (op->next != NULL) {
        op->next->prev = op->prev;

    } else {
        q->ob_tail = op->prev;
    }

    q->ob_n--;
}


static int
hr_queue_add_op(hr_queue_t *q, int droppable, int lrem, int argc,
    const char **argv, const size_t *argvlen)
{
    int        i;
    hr_qop_t  *op;

    if (q->ob_n >= HR_QUEUE_OUTBOX_MAX
        || (droppable && q->ob_n >= HR_QUEUE_OUTBOX_DROP))
    {
        return -1;
    }

    op = calloc(1, sizeof(hr_qop_t));
    if (op == NULL) {
        return -1;
    }

    op->q = q;
    op->argv = calloc(argc, sizeof(char *));
    op->argvlen = calloc(argc, sizeof(size_t));

    if (op->argv == NULL || op->argvlen == NULL) {
        hr_queue_op_free(op);
        return -1;
    }

    for (i = 0; i < argc; i++) {
        op->argv[i] = malloc(argvlen[i] + 1);
        if (op->argv[i] == NULL) {
            op->argc = i;
            hr_queue_op_free(op);
            return -1;
        }

        memcpy(op->argv[i], argv[i], argvlen[i]);
        op->argv[i][argvlen[i]] = '\0';
        op->argvlen[i] = argvlen[i];
    }

    op->argc = argc;
    op->droppable = droppable;
    op->lrem = lrem;

    op->prev = q->ob_tail;

    if (q->ob_tail != NULL) {
        q->ob_tail->next = op;

    } else {
        q->ob_head = op;
    }

    q->ob_tail = op;
    q->ob_n++;

    if (q->cmd_up && !q->broken) {
        hr_queue_op_send(q, op);
    }

    return 0;
}


static int
hr_queue_op_send(hr_queue_t *q, hr_qop_t *op)
{
    if (redisAsyncCommandArgv(q->cmd, hr_queue_op_reply, op, op->argc,
                              (const char **) op->argv, op->argvlen)
        != REDIS_OK)
    {
        hr_queue_broken(q, "redis: %s", "a command could not be sent");
        return -1;
    }

    op->sent = 1;
    hr_queue_cmd_sent(q);

    return 0;
}


static void
hr_queue_flush(hr_queue_t *q)
{
    hr_qop_t  *op;

    for (op = q->ob_head; op && q->cmd_up && !q->broken; op = op->next) {
        if (!op->sent) {
            hr_queue_op_send(q, op);
        }
    }
}


static void
hr_queue_op_reply(redisAsyncContext *ac, void *r, void *data)
{
    hr_qop_t    *op = data;
    hr_queue_t  *q;
    redisReply  *reply = r;

    q = op->q;

    if (reply == NULL || q->freeing || ac != q->cmd) {
        /* the connection is going: sent again after the reconnect */
        op->sent = 0;
        return;
    }

    hr_queue_cmd_replied(q);

    if (reply->type == REDIS_REPLY_ERROR) {
        /* a refused command would be refused again: log and drop it */
        hr_log(q->log, HR_LOG_ERROR, "redis: %s %s: %s", op->argv[0],
               op->argc > 1 ? op->argv[1] : "", reply->str);
    }

    if (op->reply != NULL) {
        op->reply(op->reply_data, reply);
    }

    hr_queue_op_unlink(q, op);
    hr_queue_op_free(op);
}


void *
hr_queue_ask(hr_queue_t *q, int argc, const char **argv,
    const size_t *argvlen, hr_queue_reply_pt reply, void *data)
{
    hr_qop_t  *op;

    if (hr_queue_add_op(q, 1, 0, argc, argv, argvlen) == -1) {
        return NULL;
    }

    op = q->ob_tail;
    op->reply = reply;
    op->reply_data = data;

    return op;
}


void
hr_queue_forget(hr_queue_t *q, void *ask)
{
    hr_qop_t  *op;

    for (op = q->ob_head; op; op = op->next) {
        if (op == ask) {
            op->reply = NULL;
            return;
        }
    }
}


static void
hr_queue_cmd_sent(hr_queue_t *q)
{
    if (q->cmd_pending++ == 0) {
        hr_redis_deadline(q->cmd, HR_QUEUE_REPLY_MS);
    }
}


static void
hr_queue_cmd_replied(hr_queue_t *q)
{
    if (q->cmd_pending > 0) {
        q->cmd_pending--;
    }

    /* each answer proves the link alive: the deadline restarts */
    hr_redis_deadline(q->cmd, q->cmd_pending > 0 ? HR_QUEUE_REPLY_MS : 0);
}


int
hr_queue_command(hr_queue_t *q, int droppable, int argc, const char **argv,
    const size_t *argvlen)
{
    return hr_queue_add_op(q, droppable, 0, argc, argv, argvlen);
}


/* -------------------------------------------------------- the items */

static size_t
hr_queue_holds(hr_queue_t *q, const char *line, size_t len)
{
    size_t       n;
    hr_qop_t    *op;
    hr_qitem_t  *it;

    n = hr_qset_holds(&q->waiting, line, len);

    for (it = q->busy; it; it = it->next) {
        n += hr_item_holds(it, line, len);
    }

    for (op = q->ob_head; op; op = op->next) {
        if (op->lrem && op->argvlen[3] == len
            && memcmp(op->argv[3], line, len) == 0)
        {
            n++;
        }
    }

    return n;
}


hr_qitem_t *
hr_queue_take(hr_queue_t *q)
{
    hr_qitem_t  *it;

    it = hr_qset_take(&q->waiting, hr_queue_now(), q->busy);
    if (it == NULL) {
        return NULL;
    }

    it->next = q->busy;
    q->busy = it;

    /* room again: keep taking */
    hr_queue_pop(q);

    return it;
}


long
hr_queue_next_ms(hr_queue_t *q)
{
    return hr_qset_next_ms(&q->waiting, hr_queue_now());
}


static void
hr_queue_unbusy(hr_queue_t *q, hr_qitem_t *it)
{
    hr_qitem_t  **pp;

    for (pp = &q->busy; *pp; pp = &(*pp)->next) {
        if (*pp == it) {
            *pp = it->next;
            it->next = NULL;
            return;
        }
    }
}


/* LREM of every line: the op keeps the line held until Redis answers */
static void
hr_queue_ack(hr_queue_t *q, hr_qitem_t *it)
{
    size_t       i;
    const char  *argv[4];
    size_t       argvlen[4];

    argv[0] = "LREM";
    argvlen[0] = 4;
    argv[1] = q->processing;
    argvlen[1] = strlen(q->processing);
    argv[2] = "1";
    argvlen[2] = 1;

    for (i = 0; i < it->nlines; i++) {
        argv[3] = it->lines[i];
        argvlen[3] = it->lens[i];

        if (hr_queue_add_op(q, 0, 1, 4, argv, argvlen) == -1) {
            /* still in processing: done again after the next start */
            hr_log(q->log, HR_LOG_ERROR, "redis: acknowledgement lost (out "
                   "of memory or outbox full)");
        }
    }
}


void
hr_queue_done(hr_queue_t *q, hr_qitem_t *it)
{
    hr_queue_unbusy(q, it);
    hr_queue_ack(q, it);
    q->stats.done += it->nlines;
    hr_qitem_free(it);
}


void
hr_queue_fail(hr_queue_t *q, hr_qitem_t *it, const char *error)
{
    char        *text, *clean, num[32];
    size_t       i, k, len;
    json_t      *rec, *line;
    const char  *argv[4];
    size_t       argvlen[4];

    hr_queue_unbusy(q, it);

    for (i = 0; i < it->nlines; i++) {
        /* a huge line is kept whole in processing, cut in the record */
        len = it->lens[i] > 2 * HR_QUEUE_LINE_MAX ? 2 * HR_QUEUE_LINE_MAX
                                                  : it->lens[i];
        line = json_stringn(it->lines[i], len);
        clean = NULL;

        if (line == NULL) {
            /* not UTF-8: kept readable, bytes outside printable ASCII as '?' */
            clean = malloc(len + 1);
            if (clean != NULL) {
                memcpy(clean, it->lines[i], len);
                clean[len] = '\0';

                for (k = 0; k < len; k++) {
                    if ((unsigned char) clean[k] >= 0x80
                        || (unsigned char) clean[k] < 0x20)
                    {
                        clean[k] = '?';
                    }
                }
                line = json_string(clean);
            }
        }

        rec = json_pack("{s:o*, s:s, s:I, s:i, s:b, s:I}", "line", line,
                        "error", error ? error : "unknown error",
                        "failed_at", (json_int_t) time(NULL),
                        "attempts", it->attempts, "line_sanitized",
                        clean != NULL, "line_bytes",
                        (json_int_t) it->lens[i]);
        free(clean);

        text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
        json_decref(rec);

        if (text != NULL) {
            argv[0] = "RPUSH";
            argvlen[0] = 5;
            argv[1] = q->failed;
            argvlen[1] = strlen(q->failed);
            argv[2] = text;
            argvlen[2] = strlen(text);

            if (hr_queue_add_op(q, 0, 0, 3, argv, argvlen) == -1) {
                hr_log(q->log, HR_LOG_ERROR, "redis: failed event not "
                       "recorded: %s", text);
            }

            free(text);
        }
    }

    snprintf(num, sizeof(num), "-%d", HR_QUEUE_FAILED_MAX);
    argv[0] = "LTRIM";
    argvlen[0] = 5;
    argv[1] = q->failed;
    argvlen[1] = strlen(q->failed);
    argv[2] = num;
    argvlen[2] = strlen(num);
    argv[3] = "-1";
    argvlen[3] = 2;
    (void) hr_queue_add_op(q, 1, 0, 4, argv, argvlen);

    hr_queue_ack(q, it);
    q->stats.failed += it->nlines;
    hr_qitem_free(it);
}


void
hr_queue_retry(hr_queue_t *q, hr_qitem_t *it, long ms)
{
    hr_queue_unbusy(q, it);
    hr_qset_requeue(&q->waiting, it, hr_queue_now() + ms);
}


int
hr_queue_connected(hr_queue_t *q)
{
    return q->cmd_up && q->pop_up && q->ready && !q->broken;
}


const char *
hr_queue_name(hr_queue_t *q)
{
    return q->name;
}


void
hr_queue_get_stats(hr_queue_t *q, hr_queue_stats_t *st)
{
    *st = q->stats;
    st->coalesced = q->waiting.coalesced;
}


size_t
hr_queue_held(hr_queue_t *q)
{
    size_t       n;
    hr_qitem_t  *it;

    n = q->waiting.nlines;

    for (it = q->busy; it; it = it->next) {
        n += it->nlines;
    }

    return n;
}


/* Outbox commands Redis has not answered yet. */
size_t
hr_queue_unacked(hr_queue_t *q)
{
    return q->ob_n;
}


/* ------------------------------------------------------------ fills */

/*
 * The fill list is popped plainly (BLPOP): a fill request is worth
 * something only while its client waits, so one lost in a crash is not
 * done again later.
 */
static void
hr_queue_fill_pop(hr_queue_t *q)
{
    if (!q->fpop_up || q->fpopping || q->broken
        || q->nfills >= HR_QUEUE_FILLS_MAX)
    {
        return;
    }

    if (redisAsyncCommand(q->fpop, hr_queue_fill_reply, NULL, "BLPOP %s %d",
                          q->fill, HR_QUEUE_BLOCK_S)
        != REDIS_OK)
    {
        hr_queue_broken(q, "redis: %s", "the fill pop could not be sent");
        return;
    }

    q->fpopping = 1;
    hr_redis_deadline(q->fpop, HR_QUEUE_BLOCK_S * 1000 + HR_QUEUE_REPLY_MS);
}


static void
hr_queue_fill_reply(redisAsyncContext *ac, void *r, void *data)
{
    hr_queue_t   *q;
    hr_fline_t   *fl;
    redisReply   *reply = r, *v;

    q = ac->data;

    if (reply == NULL || q == NULL || q->freeing || ac != q->fpop) {
        return;
    }

    q->fpopping = 0;
    hr_redis_deadline(ac, 0);

    if (reply->type == REDIS_REPLY_ERROR) {
        hr_queue_broken(q, "redis: fill pop: %s", reply->str);
        return;
    }

    /* nil: BLPOP's own timeout, nothing came */
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
        && reply->element[1]->type == REDIS_REPLY_STRING)
    {
        v = reply->element[1];

        fl = calloc(1, sizeof(hr_fline_t));
        if (fl == NULL || (fl->line = malloc(v->len + 1)) == NULL) {
            free(fl);
            hr_log(q->log, HR_LOG_ERROR, "redis: out of memory; a fill "
                   "request is dropped");

        } else {
            memcpy(fl->line, v->str, v->len);
            fl->line[v->len] = '\0';
            fl->len = v->len;

            if (q->fills_tail != NULL) {
                q->fills_tail->next = fl;
            } else {
                q->fills_head = fl;
            }

            q->fills_tail = fl;
            q->nfills++;
        }
    }

    hr_queue_fill_pop(q);
}


char *
hr_queue_take_fill(hr_queue_t *q, size_t *len)
{
    char        *line;
    hr_fline_t  *fl;

    fl = q->fills_head;
    if (fl == NULL) {
        return NULL;
    }

    q->fills_head = fl->next;
    if (q->fills_head == NULL) {
        q->fills_tail = NULL;
    }

    q->nfills--;

    line = fl->line;
    *len = fl->len;
    free(fl);

    /* room again: keep taking */
    hr_queue_fill_pop(q);

    return line;
}
