/*
 * fiber.c: ucontext(3) coroutines (see fiber.h).
 *
 * makecontext() passes int arguments only: the fiber's address is split
 * into two 32-bit halves and put together again in the trampoline.
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "fiber.h"

/* valgrind is told about each stack, so a switch is not taken for an
   overflow; without its header the calls are nothing */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define HR_FIBER_VALGRIND  1
#endif
#endif

#ifndef HR_FIBER_VALGRIND
#define VALGRIND_STACK_REGISTER(start, end)  0
#define VALGRIND_STACK_DEREGISTER(id)        ((void) (id))
#endif

#if defined(__SANITIZE_ADDRESS__)
#define HR_FIBER_ASAN  1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HR_FIBER_ASAN  1
#endif
#endif

#ifdef HR_FIBER_ASAN
#include <sanitizer/common_interface_defs.h>
#endif


struct hr_fiber_s {
    ucontext_t       uc;
    ucontext_t       caller;        /* the scheduler, while f runs */
    hr_fiber_fn_pt   fn;
    void            *arg;
    char            *map;           /* guard page + stack */
    size_t           maplen;
    char            *stack;
    size_t           stacklen;
    unsigned         vg_id;
    unsigned         started:1;
    unsigned         done:1;
    unsigned         running:1;
#ifdef HR_FIBER_ASAN
    void            *fake;          /* ASan's fake stack of the side left */
    const void      *caller_bottom;
    size_t           caller_size;
#endif
};


static void hr_fiber_main(unsigned hi, unsigned lo);
static int hr_fiber_context(hr_fiber_t *f) __attribute__((noinline));


static void
hr_fiber_main(unsigned hi, unsigned lo)
{
    hr_fiber_t  *f;

    f = (hr_fiber_t *) (uintptr_t) (((uint64_t) hi << 32) | lo);

#ifdef HR_FIBER_ASAN
    __sanitizer_finish_switch_fiber(NULL, &f->caller_bottom, &f->caller_size);
#endif

    f->fn(f->arg);
    f->done = 1;

#ifdef HR_FIBER_ASAN
    /* NULL: this stack is left for good, its fake frames can go */
    __sanitizer_start_switch_fiber(NULL, f->caller_bottom, f->caller_size);
#endif

    /* uc_link is not used: returning by hand keeps the ASan calls paired */
    setcontext(&f->caller);
}


hr_fiber_t *
hr_fiber_create(size_t stack, hr_fiber_fn_pt fn, void *arg, char *err,
    size_t errlen)
{
    long         page;
    hr_fiber_t  *f;

    f = calloc(1, sizeof(hr_fiber_t));
    if (f == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    page = sysconf(_SC_PAGESIZE);
    if (page <= 0) {
        page = 4096;
    }

    stack = (stack + page - 1) / page * page;
    f->maplen = stack + page;

    f->map = mmap(NULL, f->maplen, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (f->map == MAP_FAILED) {
        snprintf(err, errlen, "mmap() of a %zu-byte stack failed: %s",
                 f->maplen, strerror(errno));
        free(f);
        return NULL;
    }

    /* stacks grow down: the guard is the lowest page */
    if (mprotect(f->map, page, PROT_NONE) == -1) {
        snprintf(err, errlen, "mprotect() failed: %s", strerror(errno));
        munmap(f->map, f->maplen);
        free(f);
        return NULL;
    }

    f->stack = f->map + page;
    f->stacklen = stack;
    f->fn = fn;
    f->arg = arg;
    f->vg_id = VALGRIND_STACK_REGISTER(f->stack, f->stack + f->stacklen);

    if (hr_fiber_context(f) == -1) {
        snprintf(err, errlen, "getcontext() failed: %s", strerror(errno));
        hr_fiber_free(f);
        return NULL;
    }

    return f;
}


/*
 * Apart, so that no local of hr_fiber_create() lives across getcontext(),
 * which returns twice in principle.
 */
static int
hr_fiber_context(hr_fiber_t *f)
{
    uint64_t  addr;

    if (getcontext(&f->uc) == -1) {
        return -1;
    }

    f->uc.uc_stack.ss_sp = f->stack;
    f->uc.uc_stack.ss_size = f->stacklen;
    f->uc.uc_link = NULL;

    addr = (uint64_t) (uintptr_t) f;
    makecontext(&f->uc, (void (*)(void)) hr_fiber_main, 2,
                (unsigned) (addr >> 32), (unsigned) (addr & 0xffffffffu));

    return 0;
}


int
hr_fiber_resume(hr_fiber_t *f)
{
#ifdef HR_FIBER_ASAN
    void  *fake;
#endif

    if (f->done || f->running) {
        return f->done;
    }

    f->started = 1;
    f->running = 1;

#ifdef HR_FIBER_ASAN
    __sanitizer_start_switch_fiber(&fake, f->stack, f->stacklen);
#endif

    swapcontext(&f->caller, &f->uc);

#ifdef HR_FIBER_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif

    f->running = 0;

    return f->done;
}


void
hr_fiber_yield(hr_fiber_t *f)
{
#ifdef HR_FIBER_ASAN
    __sanitizer_start_switch_fiber(&f->fake, f->caller_bottom,
                                   f->caller_size);
#endif

    swapcontext(&f->uc, &f->caller);

#ifdef HR_FIBER_ASAN
    __sanitizer_finish_switch_fiber(f->fake, &f->caller_bottom,
                                    &f->caller_size);
#endif
}


int
hr_fiber_done(hr_fiber_t *f)
{
    return f->done;
}


void
hr_fiber_free(hr_fiber_t *f)
{
    if (f == NULL) {
        return;
    }

    VALGRIND_STACK_DEREGISTER(f->vg_id);
    munmap(f->map, f->maplen);
    free(f);
}
