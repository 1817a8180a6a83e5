/*
 * queue.h: the replicator's side of the event queue in Redis.
 *
 * The nginx module RPUSHes one compact JSON line per event to a list
 * (default "harbor:events"):
 *
 *   {"kind":"push"|"delete","repository":R,"digest":D[,"tag":T],
 *    "occurred_at":N,"source":"webhook"}
 *   {"kind":"preheat","repository":R,"digest":D[,"tag":T],
 *    "occurred_at":N,"source":"preheat"}     (Harbor's P2P preheat)
 *   {"kind":"miss","object":"manifest"|"blob","repository":R,
 *    "reference":REF,"occurred_at":N,"source":"edge"}
 *
 * and fill requests, on the list <list>:fill (docs/store.md, "Fills"):
 *
 *   {"kind":"fill","object":"manifest"|"blob","repository":R,
 *    "reference":REF,"auth":"token"|"none","occurred_at":N}
 *
 * Reliable consumption (Redis's "reliable queue" pattern):
 *
 *   - a line is taken with BLMOVE <list> <list>:processing LEFT RIGHT
 *     (BRPOPLPUSH on a Redis older than 6.2), so it is always in one of the
 *     two lists, never only in our memory;
 *   - when its work is done, LREM <list>:processing 1 <line>;
 *   - on a permanent failure (a malformed line, a task that failed every
 *     retry), RPUSH <list>:failed {"line":...,"error":...,"failed_at":N}
 *     first, then the LREM: a crash between the two gives a duplicate,
 *     never a loss.  The failed list is capped (LTRIM);
 *   - on every connect, lines in processing that this process does not
 *     hold (all of them at startup) go back to the head of the list, in
 *     order: what a crashed run took is done again.
 *
 * One daemon consumes a list: two daemons on one list would requeue each
 * other's lines on a reconnect (a duplicate, never a loss).
 *
 * Three connections: the blocking pop holds its connection while it
 * waits, so acknowledgements and records go over a second one, and fill
 * requests are popped (BLPOP, not reliably) on a third, so a client's fill
 * never waits behind a backlog of events.  Any error on one closes all;
 * they are opened again with a backoff (100 ms doubling to 5 s).
 * Acknowledgements wait in an outbox until Redis has answered them, and
 * are sent again after a reconnect.
 *
 * Events waiting for their turn are coalesced: a line whose event is the
 * same work as one already waiting (same kind, repository and tag or
 * reference) joins it, and both lines are acknowledged when the work is
 * done.  Decoding and coalescing are pure functions (unit tests, fuzzing).
 */

#ifndef HR_QUEUE_H
#define HR_QUEUE_H

#include <stddef.h>

#include "log.h"
#include "loop.h"
#include "store.h"

#define HR_QUEUE_NAME         "harbor:events"
#define HR_QUEUE_LINE_MAX     4096
#define HR_QUEUE_FAILED_MAX   10000       /* LTRIM of the failed list */
#define HR_QUEUE_WAITING_MAX  256         /* lines held in memory */

typedef enum {
    HR_EVENT_PUSH = 1,
    HR_EVENT_DELETE,
    HR_EVENT_MISS,
    HR_EVENT_FILL,              /* on <queue>:fill, docs/store.md */
    HR_EVENT_PREHEAT            /* a pinned copy of one artifact, no policy */
} hr_event_kind_e;

typedef enum {
    HR_OBJECT_NONE = 0,
    HR_OBJECT_MANIFEST,
    HR_OBJECT_BLOB
} hr_event_object_e;

typedef struct {
    hr_event_kind_e     kind;
    hr_event_object_e   object;                 /* miss only */
    long long           occurred_at;            /* 0: not given */
    char                repository[256];
    char                digest[HR_DIGEST_LEN + 1];  /* "" none; a miss by
                                                       digest has it here */
    char                tag[129];               /* "" none; a miss by tag
                                                   has it here */
    char                source[32];
    int                 auth_token;     /* fill: the client's token was
                                           checked ("auth":"token") */
} hr_event_t;

/*
 * Decodes one line.  Returns 0, or -1 with err saying what is wrong
 * ("not JSON at byte 12: ...", "repository: not a valid name", ...).
 * Unknown keys are ignored; known keys must have their type.
 */
int hr_event_decode(const char *line, size_t len, hr_event_t *ev, char *err,
    size_t errlen);

/* "kind object repository ref": equal keys are the same work. */
void hr_event_key(const hr_event_t *ev, char *out, size_t outlen);

/* "push prod/api:v1", "miss blob prod/api@sha256:..." for logs */
void hr_event_describe(const hr_event_t *ev, char *out, size_t outlen);


typedef struct hr_qitem_s  hr_qitem_t;

struct hr_qitem_s {
    hr_event_t    ev;
    int           bad;          /* the line did not decode: err says why */
    char          err[256];
    char          key[512];
    char        **lines;        /* the raw lines, each held in processing
                                   (NUL-terminated, but binary: lens) */
    size_t       *lens;
    size_t        nlines;
    int           attempts;     /* handlings that failed */
    long long     due;          /* monotonic ms; 0: now */
    long long     taken;        /* monotonic ms the first line came */
    hr_qitem_t   *next;
};

/* Waiting items, in arrival order. */
typedef struct {
    hr_qitem_t   *head;
    hr_qitem_t   *tail;
    size_t        n;            /* items */
    size_t        nlines;       /* lines held by them */
    long long     coalesced;    /* lines that joined an item */
} hr_qset_t;

void hr_qset_init(hr_qset_t *s);
void hr_qset_free(hr_qset_t *s);

/*
 * Adds a raw line: decoded, and joined to a waiting item with the same key
 * (returns 1) or appended as a new item (returns 0; a line that does not
 * decode is an item of its own with bad set).  -1: out of memory.
 */
int hr_qset_add(hr_qset_t *s, const char *line, size_t len, long long now);

/* Puts an item back (a retry), at the tail, due at due. */
void hr_qset_requeue(hr_qset_t *s, hr_qitem_t *it, long long due);

/*
 * Takes the first item due at now out of the set, or NULL.  An item waits
 * while an earlier one, or one of busy (a list through next: the items
 * being handled), has its target.
 */
hr_qitem_t *hr_qset_take(hr_qset_t *s, long long now, hr_qitem_t *busy);

/* ms until the soonest item is due (0: one is), -1: none waits. */
long hr_qset_next_ms(hr_qset_t *s, long long now);

/* How many of the held lines equal line (len bytes). */
size_t hr_qset_holds(hr_qset_t *s, const char *line, size_t len);

void hr_qitem_free(hr_qitem_t *it);


typedef struct hr_queue_s  hr_queue_t;

typedef struct {
    long long   taken;          /* lines moved to processing */
    long long   coalesced;
    long long   done;           /* lines acknowledged (LREM) */
    long long   failed;         /* lines moved to the failed list */
    long long   requeued;       /* lines given back at a connect */
    long long   connects;
    long long   disconnects;
} hr_queue_stats_t;

/*
 * addr: "unix:PATH" or "HOST:PORT" (an IP address; no name lookup on the
 * loop).  name: the list, NULL for HR_QUEUE_NAME.  Connecting starts at
 * once, on the loop; nothing blocks.
 */
hr_queue_t *hr_queue_create(hr_loop_t *loop, hr_log_t *log, const char *addr,
    const char *name, char *err, size_t errlen);
void hr_queue_free(hr_queue_t *q);

/* An item due now, out of the waiting set (the caller owns it), or NULL. */
hr_qitem_t *hr_queue_take(hr_queue_t *q);
/* ms until an item is due, -1: none. */
long hr_queue_next_ms(hr_queue_t *q);

/* The item's work is done: its lines are acknowledged; it is freed. */
void hr_queue_done(hr_queue_t *q, hr_qitem_t *it);
/* Permanent failure: its lines go to the failed list with error. */
void hr_queue_fail(hr_queue_t *q, hr_qitem_t *it, const char *error);
/* Try again in ms. */
void hr_queue_retry(hr_queue_t *q, hr_qitem_t *it, long ms);

/*
 * Sends a command over the second connection, kept in the outbox until
 * Redis answers it (and sent again after a reconnect).  droppable: may be
 * dropped when the outbox is full (records; never acknowledgements).
 * Returns 0, or -1 when out of memory or dropped.
 */
int hr_queue_command(hr_queue_t *q, int droppable, int argc,
    const char **argv, const size_t *argvlen);

/*
 * A fill request from the list <name>:fill (docs/store.md, "Fills"),
 * popped on a third connection without the reliable pattern: a line,
 * malloc'ed and NUL-ended (len bytes), or NULL.
 */
char *hr_queue_take_fill(hr_queue_t *q, size_t *len);

/*
 * A command whose answer the caller wants: reply(data, r) is called with
 * the redisReply once Redis answers (a reply of type error included).  A
 * question asked while Redis is away waits in the outbox like any other
 * command.  Returns a handle for hr_queue_forget() (the asker gives up:
 * reply is not called), or NULL when it cannot be queued.
 */
typedef void (*hr_queue_reply_pt)(void *data, void *reply);

void *hr_queue_ask(hr_queue_t *q, int argc, const char **argv,
    const size_t *argvlen, hr_queue_reply_pt reply, void *data);
void hr_queue_forget(hr_queue_t *q, void *ask);

int hr_queue_connected(hr_queue_t *q);
const char *hr_queue_name(hr_queue_t *q);
void hr_queue_get_stats(hr_queue_t *q, hr_queue_stats_t *st);
/* Lines held in memory, waiting or being handled. */
size_t hr_queue_held(hr_queue_t *q);
/* Outbox commands Redis has not answered yet. */
size_t hr_queue_unacked(hr_queue_t *q);

#endif /* HR_QUEUE_H */
