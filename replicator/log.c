/*
 * log.c: timestamped lines "2026-11-27T18:00:00Z info message" to one FILE,
 * and a single progress line that is redrawn with '\r' on a terminal.
 */

#include <stdarg.h>
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
