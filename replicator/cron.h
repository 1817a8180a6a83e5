/*
 * cron.h: Harbor's 6-field cron expressions ("sec min hour dom month dow"),
 * as robfig/cron v3 parses them with the seconds field first.
 *
 * Pure: no allocation, no I/O.  Times are UTC unix seconds.
 */

#ifndef HR_CRON_H
#define HR_CRON_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct {
    uint64_t  sec;          /* bit n set: second n matches (0-59) */
    uint64_t  min;          /* 0-59 */
    uint32_t  hour;         /* 0-23 */
    uint32_t  dom;          /* 1-31 */
    uint16_t  month;        /* 1-12 */
    uint8_t   dow;          /* 0-6, Sunday is 0 (robfig v3 refuses 7) */
    unsigned  dom_star:1;   /* dom was '*' or '?' */
    unsigned  dow_star:1;   /* dow was '*' or '?' */
} hr_cron_t;

/*
 * Parses expr into c.  Accepts numbers, ranges "a-b", steps "*\/n" and
 * "a-b/n", lists "a,b", '?' (as '*', in any field, like robfig), month and
 * weekday names (JAN, MON, any case), and the descriptors @yearly @annually
 * @monthly @weekly @daily @midnight @hourly.  "TZ=" prefixes are refused.
 * Returns 0, or -1 with a message in err naming the bad field.
 */
int hr_cron_parse(hr_cron_t *c, const char *expr, char *err, size_t errlen);

/*
 * What Harbor's API accepts for a scheduled trigger: hr_cron_parse() without
 * descriptors, the first field exactly "0", the minutes field not "*".  The
 * config loader uses this one, so a policy Harbor would refuse is refused.
 */
int hr_cron_parse_harbor(hr_cron_t *c, const char *expr, char *err,
    size_t errlen);

/*
 * The first time strictly after "after" that c matches, or (time_t) -1 when
 * there is none within five years.  dom and dow combine as in robfig/cron:
 * when both are restricted, either may match.
 */
time_t hr_cron_next(const hr_cron_t *c, time_t after);

#endif /* HR_CRON_H */
