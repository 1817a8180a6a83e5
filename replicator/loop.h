/*
 * loop.h: the replicator's event loop, in the shape of Redis's ae: a table
 * of file events indexed by fd, a list of timers, one epoll_wait per turn.
 * libcurl's sockets and timer, the signal fd and the daemon's cron timers
 * all live here, so one thread owns every fd and every timer.
 *
 * Signals arrive through signalfd: the handler side only sets flags in the
 * loop (term, hup, usr1), which the caller reads between turns.
 */

#ifndef HR_LOOP_H
#define HR_LOOP_H

#define HR_LOOP_NONE       0
#define HR_LOOP_READABLE   1
#define HR_LOOP_WRITABLE   2

#define HR_LOOP_NOMORE    -1        /* a timer proc's "do not re-arm" */

typedef struct hr_loop_s  hr_loop_t;

typedef void (*hr_file_proc_pt)(hr_loop_t *loop, int fd, void *data,
    int mask);
typedef long (*hr_time_proc_pt)(hr_loop_t *loop, long long id, void *data);

hr_loop_t *hr_loop_create(int setsize, char *err, size_t errlen);
void hr_loop_free(hr_loop_t *loop);

/* mask is added to what fd already has; del removes bits. */
int hr_loop_add_file(hr_loop_t *loop, int fd, int mask, hr_file_proc_pt proc,
    void *data, char *err, size_t errlen);
void hr_loop_del_file(hr_loop_t *loop, int fd, int mask);

/* Fires after ms milliseconds (0: on the next turn); returns the id. */
long long hr_loop_add_timer(hr_loop_t *loop, long ms, hr_time_proc_pt proc,
    void *data);
void hr_loop_del_timer(hr_loop_t *loop, long long id);

/*
 * One turn: waits at most max_ms (-1: until something happens), runs the
 * ready file events, then the due timers.  Returns the number of events
 * handled, or -1 on an epoll error other than EINTR.
 */
int hr_loop_once(hr_loop_t *loop, long max_ms);

/*
 * Blocks TERM, INT, QUIT (stop), HUP (reload), USR1 (reopen the log), USR2
 * and ALRM (ignored) and reads them from a signalfd; SIGPIPE is ignored.
 */
int hr_loop_signals(hr_loop_t *loop, char *err, size_t errlen);

/* Signal flags: set by the loop, cleared by the caller. */
int hr_loop_term(hr_loop_t *loop);
int hr_loop_hup(hr_loop_t *loop, int clear);
/* SIGUSR1 came since the last call: reopen the log */
int hr_loop_usr1(hr_loop_t *loop);

#endif /* HR_LOOP_H */
