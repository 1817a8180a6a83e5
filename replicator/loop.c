/*
 * loop.c: epoll backend, timers and signalfd for loop.h.
 *
 * Timers are an unsorted list, as in ae: the replicator has a handful
 * (curl's one timer, the daemon's next cron fire), so a linear scan costs
 * nothing.  A timer deleted while the list is walked is only marked, and
 * freed on the next walk, so a timer proc may delete any timer, itself too.
 * Due timers fire in the order of their deadlines.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"


typedef struct {
    int               mask;
    hr_file_proc_pt   rproc;
    hr_file_proc_pt   wproc;
    void             *data;
} hr_file_event_t;

typedef struct hr_timer_s  hr_timer_t;

struct hr_timer_s {
    long long         id;
    long long         when;       /* monotonic ms */
    hr_time_proc_pt   proc;
    void             *data;
    int               deleted;
    long long         turn;       /* the last run_timers turn it fired in */
    hr_timer_t       *next;
};

struct hr_loop_s {
    int                  epfd;
    long long            timer_turn;
    int                  setsize;
    int                  sigfd;
    int                  term;
    int                  hup;
    int                  usr1;
    long long            next_timer_id;
    hr_file_event_t     *events;
    struct epoll_event  *fired;
    hr_timer_t          *timers;
};


static long long hr_loop_now(void);
static void hr_loop_signal_read(hr_loop_t *loop, int fd, void *data,
    int mask);
static int hr_loop_run_timers(hr_loop_t *loop);
static long hr_loop_nearest(hr_loop_t *loop);


static long long
hr_loop_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


hr_loop_t *
hr_loop_create(int setsize, char *err, size_t errlen)
{
    hr_loop_t  *loop;

    loop = calloc(1, sizeof(hr_loop_t));
    if (loop == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    loop->setsize = setsize;
    loop->sigfd = -1;
    loop->events = calloc(setsize, sizeof(hr_file_event_t));
    loop->fired = calloc(setsize, sizeof(struct epoll_event));

    if (loop->events == NULL || loop->fired == NULL) {
        snprintf(err, errlen, "out of memory");
        goto failed;
    }

    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd == -1) {
        snprintf(err, errlen, "epoll_create1() failed: %s", strerror(errno));
        goto failed;
    }

    return loop;

failed:

    free(loop->events);
    free(loop->fired);
    free(loop);

    return NULL;
}


void
hr_loop_free(hr_loop_t *loop)
{
    hr_timer_t  *t, *next;

    if (loop == NULL) {
        return;
    }

    for (t = loop->timers; t; t = next) {
        next = t->next;
        free(t);
    }

    if (loop->sigfd != -1) {
        close(loop->sigfd);
    }

    close(loop->epfd);
    free(loop->events);
    free(loop->fired);
    free(loop);
}


int
hr_loop_add_file(hr_loop_t *loop, int fd, int mask, hr_file_proc_pt proc,
    void *data, char *err, size_t errlen)
{
    int                  op;
    hr_file_event_t     *fe;
    struct epoll_event   ee;

    if (fd < 0 || fd >= loop->setsize) {
        snprintf(err, errlen, "fd %d out of the loop's range", fd);
        return -1;
    }

    fe = &loop->events[fd];
    op = fe->mask == HR_LOOP_NONE ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;

    memset(&ee, 0, sizeof(ee));
    ee.data.fd = fd;
    mask |= fe->mask;

    if (mask & HR_LOOP_READABLE) {
        ee.events |= EPOLLIN;
    }

    if (mask & HR_LOOP_WRITABLE) {
        ee.events |= EPOLLOUT;
    }

    if (epoll_ctl(loop->epfd, op, fd, &ee) == -1) {
        snprintf(err, errlen, "epoll_ctl(%d) failed: %s", fd,
                 strerror(errno));
        return -1;
    }

    fe->mask = mask;
    fe->data = data;

    if (mask & HR_LOOP_READABLE) {
        fe->rproc = proc;
    }

    if (mask & HR_LOOP_WRITABLE) {
        fe->wproc = proc;
    }

    return 0;
}


void
hr_loop_del_file(hr_loop_t *loop, int fd, int mask)
{
    hr_file_event_t     *fe;
    struct epoll_event   ee;

    if (fd < 0 || fd >= loop->setsize) {
        return;
    }

    fe = &loop->events[fd];

    if (fe->mask == HR_LOOP_NONE) {
        return;
    }

    fe->mask &= ~mask;

    memset(&ee, 0, sizeof(ee));
    ee.data.fd = fd;

    if (fe->mask & HR_LOOP_READABLE) {
        ee.events |= EPOLLIN;
    }

    if (fe->mask & HR_LOOP_WRITABLE) {
        ee.events |= EPOLLOUT;
    }

    /* the fd may already be closed by its owner: errors do not matter */
    (void) epoll_ctl(loop->epfd,
                     fe->mask == HR_LOOP_NONE ? EPOLL_CTL_DEL : EPOLL_CTL_MOD,
                     fd, &ee);
}


long long
hr_loop_add_timer(hr_loop_t *loop, long ms, hr_time_proc_pt proc, void *data)
{
    hr_timer_t  *t;

    t = calloc(1, sizeof(hr_timer_t));
    if (t == NULL) {
        return -1;
    }

    t->id = ++loop->next_timer_id;
    t->when = hr_loop_now() + (ms < 0 ? 0 : ms);
    t->proc = proc;
    t->data = data;
    t->next = loop->timers;
    loop->timers = t;

    return t->id;
}


void
hr_loop_del_timer(hr_loop_t *loop, long long id)
{
    hr_timer_t  *t;

    for (t = loop->timers; t; t = t->next) {
        if (t->id == id) {
            t->deleted = 1;
            return;
        }
    }
}


static long
hr_loop_nearest(hr_loop_t *loop)
{
    long long    now, best;
    hr_timer_t  *t;

    best = -1;

    for (t = loop->timers; t; t = t->next) {
        if (!t->deleted && (best == -1 || t->when < best)) {
            best = t->when;
        }
    }

    if (best == -1) {
        return -1;
    }

    now = hr_loop_now();

    return best > now ? (long) (best - now) : 0;
}


static int
hr_loop_run_timers(hr_loop_t *loop)
{
    int           n;
    long          ms;
    long long     now, maxid, turn;
    hr_timer_t   *t, *due, **pp;

    n = 0;
    now = hr_loop_now();
    turn = ++loop->timer_turn;

    /* timers added by the procs below wait for the next turn */
    maxid = loop->next_timer_id;

    /*
     * Due timers fire earliest first, each once a turn, whatever the list's
     * order: a turn that comes late (a loaded machine) finds several due,
     * and a proc may delete a later one before it fires.
     */
    for ( ;; ) {
        due = NULL;

        for (t = loop->timers; t; t = t->next) {
            if (t->deleted || t->id > maxid || t->when > now
                || t->turn == turn)
            {
                continue;
            }

            if (due == NULL || t->when < due->when
                || (t->when == due->when && t->id < due->id))
            {
                due = t;
            }
        }

        if (due == NULL) {
            break;
        }

        due->turn = turn;
        ms = due->proc(loop, due->id, due->data);
        n++;

        if (ms == HR_LOOP_NOMORE) {
            due->deleted = 1;

        } else if (!due->deleted) {
            due->when = hr_loop_now() + ms;
        }
    }

    /* free what was deleted, now that nobody walks the list */
    pp = &loop->timers;

    while (*pp) {
        t = *pp;

        if (t->deleted) {
            *pp = t->next;
            free(t);
            continue;
        }

        pp = &t->next;
    }

    return n;
}


int
hr_loop_once(hr_loop_t *loop, long max_ms)
{
    int               i, n, fd, mask, called, handled;
    long              ms;
    hr_file_event_t  *fe;

    ms = hr_loop_nearest(loop);

    if (ms == -1 || (max_ms >= 0 && max_ms < ms)) {
        ms = max_ms;
    }

    n = epoll_wait(loop->epfd, loop->fired, loop->setsize,
                   ms > 0x7fffffff ? 0x7fffffff : (int) ms);

    if (n == -1) {
        if (errno != EINTR) {
            return -1;
        }

        n = 0;
    }

    handled = 0;

    for (i = 0; i < n; i++) {
        fd = loop->fired[i].data.fd;
        fe = &loop->events[fd];

        mask = 0;

        if (loop->fired[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            mask |= HR_LOOP_READABLE;
        }

        if (loop->fired[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
            mask |= HR_LOOP_WRITABLE;
        }

        /* an earlier proc of this turn may have removed the interest */
        called = 0;

        if (fe->mask & mask & HR_LOOP_READABLE) {
            fe->rproc(loop, fd, fe->data, mask);
            called = 1;
            handled++;
        }

        /* refresh: the read proc may have changed the entry */
        if ((fe->mask & mask & HR_LOOP_WRITABLE)
            && !(called && fe->wproc == fe->rproc))
        {
            fe->wproc(loop, fd, fe->data, mask);
            handled++;
        }
    }

    handled += hr_loop_run_timers(loop);

    return handled;
}


static void
hr_loop_signal_read(hr_loop_t *loop, int fd, void *data, int mask)
{
    struct signalfd_siginfo  si;

    while (read(fd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGHUP:
            loop->hup = 1;
            break;
        case SIGUSR1:
            loop->usr1 = 1;
            break;
        case SIGUSR2:
        case SIGALRM:
            /* nothing to do: taken here so that they do not kill */
            break;
        default:
            /* TERM, INT, QUIT: a graceful stop */
            loop->term = 1;
            break;
        }
    }
}


int
hr_loop_signals(hr_loop_t *loop, char *err, size_t errlen)
{
    sigset_t  set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGUSR1);       /* logrotate's postrotate: reopen */
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGALRM);

    if (sigprocmask(SIG_BLOCK, &set, NULL) == -1) {
        snprintf(err, errlen, "sigprocmask() failed: %s", strerror(errno));
        return -1;
    }

    loop->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (loop->sigfd == -1) {
        snprintf(err, errlen, "signalfd() failed: %s", strerror(errno));
        return -1;
    }

    signal(SIGPIPE, SIG_IGN);

    return hr_loop_add_file(loop, loop->sigfd, HR_LOOP_READABLE,
                            hr_loop_signal_read, NULL, err, errlen);
}


int
hr_loop_term(hr_loop_t *loop)
{
    return loop->term;
}


int
hr_loop_usr1(hr_loop_t *loop)
{
    int  usr1;

    usr1 = loop->usr1;
    loop->usr1 = 0;

    return usr1;
}


int
hr_loop_hup(hr_loop_t *loop, int clear)
{
    int  hup;

    hup = loop->hup;

    if (clear) {
        loop->hup = 0;
    }

    return hup;
}
