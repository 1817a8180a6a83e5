/*
 * fiber.h: stackful coroutines for the engine's jobs (engine.h).
 *
 * A job's code is written as straight-line code (list, walk, fetch,
 * commit) and waits for its transfers; a fiber lets it wait without
 * running the loop itself: hr_fiber_yield() goes back to the scheduler,
 * which runs the one loop and resumes the fiber when what it waits for is
 * there.  So the loop never nests, and many jobs share it.
 *
 * A fiber only ever switches to and from its scheduler (the code that
 * called hr_fiber_resume()), never to another fiber.  Stacks are mmap()ed
 * with a guard page below them: an overflow faults instead of writing
 * over the heap.  AddressSanitizer and valgrind are told about every
 * switch and every stack.
 */

#ifndef HR_FIBER_H
#define HR_FIBER_H

#include <stddef.h>

#define HR_FIBER_STACK  (1024 * 1024)

typedef struct hr_fiber_s  hr_fiber_t;

typedef void (*hr_fiber_fn_pt)(void *arg);

/* A fiber that runs fn(arg) at its first resume.  NULL with err. */
hr_fiber_t *hr_fiber_create(size_t stack, hr_fiber_fn_pt fn, void *arg,
    char *err, size_t errlen);

/*
 * From the scheduler: runs f until it yields or returns.  Returns 1 when
 * fn has returned (f may then only be freed), 0 when it yielded.
 */
int hr_fiber_resume(hr_fiber_t *f);

/* From inside f: back to the scheduler; returns at the next resume. */
void hr_fiber_yield(hr_fiber_t *f);

int hr_fiber_done(hr_fiber_t *f);

/* A fiber that has not started or has returned; never a running one. */
void hr_fiber_free(hr_fiber_t *f);

#endif /* HR_FIBER_H */
