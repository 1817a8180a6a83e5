/*
 * log.c: timestamped lines "2026-11-27T18:00:00Z info message" to one FILE,
 * and a single progress line that is redrawn with '\r' on a terminal.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"


static const char  *hr_log_names[] = { "debug", "info", "warn", "error" };


int
hr_log_level(const char *name)
{
    int  i;

    if (name == NULL) {
        return HR_LOG_INFO;
    }

    for (i = 0; i < 4; i++) {
        if (strcasecmp(name, hr_log_names[i]) == 0) {
            return i;
        }
    }

    return -1;
}


void
hr_log_init(hr_log_t *log, FILE *fp, const char *level)
{
    int  lv;

    lv = hr_log_level(level);

    log->fp = fp;
    log->level = lv < 0 ? HR_LOG_INFO : lv;
    log->tty = isatty(fileno(fp));
    log->progress = 0;
    log->owned = 0;
    log->path = NULL;
}


void
hr_log_set_level(hr_log_t *log, const char *level)
{
    int  lv;

    lv = hr_log_level(level);
    log->level = lv < 0 ? HR_LOG_INFO : lv;
}


int
hr_log_open(hr_log_t *log, const char *path, char *err, size_t errlen)
{
    int    fd;
    char  *p;
    FILE  *fp;

    p = strdup(path);
    if (p == NULL) {
        snprintf(err, errlen, "log_file: out of memory");
        return -1;
    }

    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
              0640);
    fp = fd != -1 ? fdopen(fd, "a") : NULL;

    if (fp == NULL) {
        snprintf(err, errlen, "log_file: open \"%.200s\": %s", path,
                 strerror(errno));
        if (fd != -1) {
            close(fd);
        }
        free(p);
        return -1;
    }

    hr_log_close(log);

    log->fp = fp;
    log->owned = 1;
    log->path = p;
    log->tty = 0;
    log->progress = 0;

    return 0;
}


int
hr_log_reopen(hr_log_t *log, char *err, size_t errlen)
{
    char  *path;
    int    rc;

    if (!log->owned) {
        return 0;
    }

    path = strdup(log->path);
    if (path == NULL) {
        snprintf(err, errlen, "log_file: out of memory");
        return -1;
    }

    rc = hr_log_open(log, path, err, errlen);
    free(path);

    return rc;
}


void
hr_log_close(hr_log_t *log)
{
    if (log->owned) {
        fclose(log->fp);
        log->fp = stderr;
        log->owned = 0;
    }

    free(log->path);
    log->path = NULL;
}


void
hr_log(hr_log_t *log, int level, const char *fmt, ...)
{
    char       ts[32];
    time_t     now;
    va_list    ap;
    struct tm  tm;

    if (log == NULL || level < log->level) {
        return;
    }

    if (log->progress) {
        fputs("\r\033[K", log->fp);
        log->progress = 0;
    }

    now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);

    fprintf(log->fp, "%s %s ", ts, hr_log_names[level]);

    va_start(ap, fmt);
    vfprintf(log->fp, fmt, ap);
    va_end(ap);

    fputc('\n', log->fp);
    fflush(log->fp);
}


void
hr_log_progress(hr_log_t *log, const char *fmt, ...)
{
    va_list  ap;

    if (log == NULL || !log->tty) {
        return;
    }

    fputs("\r\033[K", log->fp);

    va_start(ap, fmt);
    vfprintf(log->fp, fmt, ap);
    va_end(ap);

    fflush(log->fp);
    log->progress = 1;
}
