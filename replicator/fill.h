/*
 * fill.h: fills (docs/store.md, "Fills"): a client's miss fetched once from
 * the primary while the module streams it to every waiting client.
 *
 * The module RPUSHes fill requests to <queue>:fill; the queue (queue.h)
 * pops them on a connection of its own; each request is a job of the
 * engine at the "client" priority (engine.h), so it starts at once,
 * whatever schedule or event is running:
 *
 *   blob      the primary is asked whether the repository serves the blob
 *             (HEAD: its size), the fill's header STATE/fill/sha256-<hex>
 *             says "running" with that size and repository, and the
 *             engine's copy (plan.c) fetches it into the partial file the
 *             module follows; "done" once the digest matched and the blob
 *             is published and linked, "failed" if not;
 *   manifest  fetched, checked and published at once with its tag, before
 *             its layers (plan.c's shallow copy); then a blob fill is
 *             started for each of an image's config and layers, so a pull
 *             streams from the first layer on.
 *
 * Who may cause a fill: a client whose token the module checked; else
 * only repositories "fill.repositories" names, or that the primary serves
 * anonymously (asked without credentials, remembered a minute).  With
 * "fill.repositories" set, nothing outside it is filled at all.
 */

#ifndef HR_FILL_H
#define HR_FILL_H

#include "hr.h"
#include "queue.h"

#define HR_FILL_JOBS        64          /* fill jobs at once */
#define HR_FILL_KEEP_S      60          /* a finished fill's header */
#define HR_FILL_PROBE_S     60          /* an anonymous answer */

typedef struct hr_fills_s  hr_fills_t;

/*
 * Fills from q's fill list (the events queue: its connection, counters
 * and records).  Removes every header a fill of an earlier run left.
 */
hr_fills_t *hr_fills_create(hr_ctx_t *ctx, hr_queue_t *q, char *err,
    size_t errlen);

/* Starts a job for each fill request waiting; between loop turns. */
void hr_fills_dispatch(hr_fills_t *f);

/* Fill jobs running. */
size_t hr_fills_running(hr_fills_t *f);

/* Once no fill job runs any more. */
void hr_fills_free(hr_fills_t *f);

/*
 * A fill header (docs/store.md): parsed from text, or printed.  Exposed
 * for the unit tests.
 */
#define HR_FILL_REPOS_MAX   64

typedef struct {
    long long     size;                 /* -1: not known yet */
    char          state[16];            /* running done failed notfound */
    char         *repos[HR_FILL_REPOS_MAX];
    size_t        nrepos;
    char         *denied[HR_FILL_REPOS_MAX];
    size_t        ndenied;
    char          error[256];
} hr_fill_header_t;

int hr_fill_header_parse(hr_fill_header_t *h, const char *text, size_t len);
/* Into out (at most outlen bytes, NUL-ended); -1 when it does not fit. */
int hr_fill_header_print(const hr_fill_header_t *h, char *out,
    size_t outlen);
/* Adds name to repos (deny 0) or denied (deny 1) once; -1 when full. */
int hr_fill_header_add(hr_fill_header_t *h, const char *name, int deny);
void hr_fill_header_free(hr_fill_header_t *h);

#endif /* HR_FILL_H */
