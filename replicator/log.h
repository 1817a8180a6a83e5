/*
 * log.h: the replicator's log.  Library code does not log: it fills an err
 * buffer and returns -1; the level that knows what was under way logs once.
 * The log state lives in the context (no globals), so a test can make one.
 */

#ifndef HR_LOG_H
#define HR_LOG_H

#include <stdio.h>

#define HR_LOG_DEBUG  0
#define HR_LOG_INFO   1
#define HR_LOG_WARN   2
#define HR_LOG_ERROR  3

typedef struct {
    FILE    *fp;
    int      level;
    int      tty;           /* fp is a terminal: a progress line is shown */
    int      progress;      /* a progress line is on screen, clear it first */
    int      owned;         /* fp is "log_file", opened here */
    char    *path;
} hr_log_t;

void hr_log_init(hr_log_t *log, FILE *fp, const char *level);
void hr_log_set_level(hr_log_t *log, const char *level);
/*
 * "log_file": appends to path from now on; hr_log_reopen() opens the same
 * path again (SIGUSR1, after logrotate moved it) and keeps the old file
 * when the new one cannot be opened.  Both return 0, or -1 with err.
 */
int hr_log_open(hr_log_t *log, const char *path, char *err, size_t errlen);
int hr_log_reopen(hr_log_t *log, char *err, size_t errlen);
void hr_log_close(hr_log_t *log);
int hr_log_level(const char *name);
void hr_log(hr_log_t *log, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Rewrites the one progress line on a terminal; nothing otherwise. */
void hr_log_progress(hr_log_t *log, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* HR_LOG_H */
