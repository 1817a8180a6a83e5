/* fuzz-srcs: replicator/queue.c lib/he_oci_grammar.c */
/* fuzz-srcs: replicator/store.c replicator/loop.c replicator/log.c replicator/redis_addr.c replicator/verify.c replicator/engine.c replicator/fiber.c replicator/http.c replicator/buf.c */
/* fuzz-libs: -ljansson -lhiredis -lcrypto -lcurl */

/*
 * libFuzzer target for the event lines of the Redis queue (queue.c): the
 * decoder and the coalescing set.  The input is split at '\n' into lines,
 * as many Redis list elements, each added to one set.  Beyond "no crash,
 * no leak" (ASan), it checks what events.c relies on:
 *
 *   - a decoded event has a valid repository and a valid digest or tag,
 *     NUL-terminated within its field, and decoding is deterministic;
 *   - an error message never holds a control or 8-bit byte (it is logged);
 *   - every line added is held exactly once: the set's counts and
 *     hr_qset_holds() agree with what was added, and taking every item
 *     gives back every line (no line lost by coalescing).
 *
 *   tests/fuzz/run.sh 60 fuzz_event
 */

#include <stdlib.h>
#include <string.h>

#include "queue.h"


static void
fuzz_check_event(const hr_event_t *ev)
{
    if (memchr(ev->repository, '\0', sizeof(ev->repository)) == NULL
        || memchr(ev->digest, '\0', sizeof(ev->digest)) == NULL
        || memchr(ev->tag, '\0', sizeof(ev->tag)) == NULL
        || memchr(ev->source, '\0', sizeof(ev->source)) == NULL)
    {
        abort();
    }

    if (!hr_valid_repo(ev->repository)) {
        abort();
    }

    if (ev->digest[0] != '\0' && !hr_valid_digest(ev->digest)) {
        abort();
    }

    if (ev->tag[0] != '\0' && !hr_valid_tag(ev->tag)) {
        abort();
    }

    switch (ev->kind) {

    case HR_EVENT_PUSH:
    case HR_EVENT_DELETE:
        if (ev->digest[0] == '\0' || ev->object != HR_OBJECT_NONE) {
            abort();
        }
        break;

    case HR_EVENT_MISS:
        if ((ev->digest[0] == '\0') == (ev->tag[0] == '\0')) {
            abort();        /* exactly one reference */
        }

        if (ev->object == HR_OBJECT_BLOB && ev->digest[0] == '\0') {
            abort();
        }

        if (ev->object == HR_OBJECT_NONE) {
            abort();
        }
        break;

    default:
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char          err[256], key1[512], key2[512], *p;
    size_t        i, n, len, lines, taken;
    hr_event_t    ev, ev2;
    hr_qset_t     s;
    hr_qitem_t   *it;
    const char   *line, *end, *nl;

    hr_qset_init(&s);

    lines = 0;
    line = (const char *) data;
    end = line + size;

    while (line <= end && lines < 64) {
        nl = memchr(line, '\n', end - line);
        len = nl ? (size_t) (nl - line) : (size_t) (end - line);

        err[0] = '\0';

        if (hr_event_decode(line, len, &ev, err, sizeof(err)) == 0) {
            fuzz_check_event(&ev);

            if (hr_event_decode(line, len, &ev2, err, sizeof(err)) != 0) {
                abort();
            }

            hr_event_key(&ev, key1, sizeof(key1));
            hr_event_key(&ev2, key2, sizeof(key2));

            if (strcmp(key1, key2) != 0 || key1[0] == '\0') {
                abort();
            }

            hr_event_describe(&ev, key1, sizeof(key1));

        } else {
            if (err[0] == '\0') {
                abort();        /* a refusal always says why */
            }

            for (p = err; *p; p++) {
                if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f)
                {
                    abort();
                }
            }
        }

        if (hr_qset_add(&s, line, len, (long long) lines) == -1) {
            abort();
        }

        lines++;

        if (s.nlines != lines) {
            abort();
        }

        if (nl == NULL) {
            break;
        }

        line = nl + 1;
    }

    /* every line added is held once, and comes back out */
    taken = 0;

    for (n = 0; (it = hr_qset_take(&s, 1000000, NULL)) != NULL; n++) {
        if (it->nlines == 0) {
            abort();
        }

        for (i = 0; i < it->nlines; i++) {
            if (it->lines[i][it->lens[i]] != '\0') {
                abort();
            }
        }

        if (!it->bad) {
            fuzz_check_event(&it->ev);
        }

        taken += it->nlines;
        hr_qitem_free(it);
    }

    if (taken != lines || s.n != 0 || s.nlines != 0) {
        abort();
    }

    hr_qset_free(&s);

    return 0;
}
