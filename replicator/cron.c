/*
 * cron.c: Harbor's scheduled-trigger cron, as robfig/cron v3.0.1 parses it
 * with Second|Minute|Hour|Dom|Month|Dow, and the next fire time in UTC.
 *
 * The parser follows robfig's getRange() closely, quirks included: "*-5" is
 * "*" (the part after '-' is ignored), "5/15" means "5-max/15", "*\/1" still
 * counts as '*' for the day rule while "*\/2" does not, empty list items
 * ("1,,2") are dropped, and a leading '+' on a number is taken (strconv.Atoi).
 * hr_cron_parse_harbor() adds the two rules Harbor's API applies on top:
 * the seconds field must be exactly "0" and minutes must not be "*".
 *
 * Next-fire search works on broken-down UTC fields with its own calendar
 * arithmetic (days from civil), so it needs neither timegm() nor the TZ, and
 * it gives up after five years like robfig does.
 */

/*
 * The parser follows robfig/cron v3.0.1 (parser.go, spec.go), under this
 * notice:
 *
 * Copyright (C) 2012 Rob Figueiredo
 * All Rights Reserved.
 *
 * MIT LICENSE
 *
 * Permission is hereby granted, free of charge, to any person obtaining a
 * copy of this software and associated documentation files (the
 * "Software"), to deal in the Software without restriction, including
 * without limitation the rights to use, copy, modify, merge, publish,
 * distribute, sublicense, and/or sell copies of the Software, and to permit
 * persons to whom the Software is furnished to do so, subject to the
 * following conditions:
 *
 * The above copyright notice and this permission notice shall be included
 * in all copies or substantial portions of the Software.
 *
 * THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS
 * OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
 * MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN
 * NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
 * DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
 * OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE
 * USE OR OTHER DEALINGS IN THE SOFTWARE.
 */


#include <stdio.h>
#include <string.h>

#include "cron.h"


#define HR_CRON_STAR  1     /* a '*' or '?' field item without a step > 1 */

typedef struct {
    const char   *name;
    unsigned      min;
    unsigned      max;
    const char  *const  *names;     /* lower case, index + min is the value */
} hr_cron_bounds_t;

typedef struct {
    int       y;
    unsigned  mo, d, h, mi, s;
} hr_tm_t;


static int hr_cron_field(const char *f, size_t len,
    const hr_cron_bounds_t *b, uint64_t *bits, int *star, char *err,
    size_t errlen);
static int hr_cron_range(const char *e, size_t len, const hr_cron_bounds_t *b,
    uint64_t *bits, int *star, char *err, size_t errlen);
static int hr_cron_num(const char *s, size_t len, const hr_cron_bounds_t *b,
    unsigned *v);
static int hr_cron_int(const char *s, size_t len, unsigned *v);
static int hr_cron_descriptor(hr_cron_t *c, const char *expr);
static int64_t hr_days_from_civil(int64_t y, unsigned m, unsigned d);
static void hr_civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d);
static unsigned hr_days_in_month(int y, unsigned m);
static int hr_day_matches(const hr_cron_t *c, const hr_tm_t *t);


static const char  *hr_month_names[] = {
    "jan", "feb", "mar", "apr", "may", "jun",
    "jul", "aug", "sep", "oct", "nov", "dec", NULL
};

static const char  *hr_dow_names[] = {
    "sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL
};

static const hr_cron_bounds_t  hr_cron_fields[6] = {
    { "second", 0, 59, NULL },
    { "minute", 0, 59, NULL },
    { "hour", 0, 23, NULL },
    { "day of month", 1, 31, NULL },
    { "month", 1, 12, hr_month_names },
    { "day of week", 0, 6, hr_dow_names }
};


int
hr_cron_parse(hr_cron_t *c, const char *expr, char *err, size_t errlen)
{
    int          star;
    size_t       n, i, len;
    uint64_t     bits[6];
    const char  *p, *start[6], *q;

    memset(c, 0, sizeof(hr_cron_t));

    if (expr == NULL || *expr == '\0') {
        snprintf(err, errlen, "empty cron expression");
        return -1;
    }

    /* strings.Fields(): split on any run of white space */
    p = expr;
    n = 0;
    len = 0;

    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'
           || *p == '\v' || *p == '\f')
    {
        p++;
    }

    if (*p == '@') {
        if (hr_cron_descriptor(c, p) == 0) {
            return 0;
        }
        snprintf(err, errlen, "unrecognized descriptor \"%.32s\"", p);
        return -1;
    }

    if (strncmp(p, "TZ=", 3) == 0 || strncmp(p, "CRON_TZ=", 8) == 0) {
        snprintf(err, errlen, "time zones are not supported, "
                 "schedules run in UTC");
        return -1;
    }

    while (*p != '\0') {
        q = p;
        while (*q != '\0' && *q != ' ' && *q != '\t' && *q != '\n'
               && *q != '\r' && *q != '\v' && *q != '\f')
        {
            q++;
        }

        if (n < 6) {
            start[n] = p;
        }
        n++;

        p = q;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'
               || *p == '\v' || *p == '\f')
        {
            p++;
        }
    }

    if (n != 6) {
        snprintf(err, errlen, "expected exactly 6 fields "
                 "(second minute hour day-of-month month day-of-week), "
                 "found %zu", n);
        return -1;
    }

    for (i = 0; i < 6; i++) {
        for (len = 0; start[i][len] != '\0' && start[i][len] != ' '
                      && start[i][len] != '\t' && start[i][len] != '\n'
                      && start[i][len] != '\r' && start[i][len] != '\v'
                      && start[i][len] != '\f';
             len++)
        {
            /* void */
        }

        star = 0;

        if (hr_cron_field(start[i], len, &hr_cron_fields[i], &bits[i],
                          &star, err, errlen)
            != 0)
        {
            return -1;
        }

        if (i == 3) {
            c->dom_star = star;

        } else if (i == 5) {
            c->dow_star = star;
        }
    }

    c->sec = bits[0];
    c->min = bits[1];
    c->hour = (uint32_t) bits[2];
    c->dom = (uint32_t) bits[3];
    c->month = (uint16_t) bits[4];
    c->dow = (uint8_t) bits[5];

    return 0;
}


int
hr_cron_parse_harbor(hr_cron_t *c, const char *expr, char *err,
    size_t errlen)
{
    const char  *sp;

    if (expr != NULL && expr[0] == '@') {
        snprintf(err, errlen, "descriptors such as @daily are not accepted "
                 "by Harbor: use 6 fields, e.g. \"0 0 0 * * *\"");
        memset(c, 0, sizeof(hr_cron_t));
        return -1;
    }

    if (hr_cron_parse(c, expr, err, errlen) != 0) {
        return -1;
    }

    /* Harbor splits on one space and checks the first two parts */
    sp = strchr(expr, ' ');

    if (sp == NULL || sp - expr != 1 || expr[0] != '0') {
        snprintf(err, errlen, "the 1st field (seconds) of the cron setting "
                 "must be 0");
        return -1;
    }

    if (sp[1] == '*' && (sp[2] == ' ' || sp[2] == '\0')) {
        snprintf(err, errlen, "* is not allowed for the minutes field "
                 "of the cron setting");
        return -1;
    }

    return 0;
}


/* getField(): items separated by ',', empty ones dropped. */
static int
hr_cron_field(const char *f, size_t len, const hr_cron_bounds_t *b,
    uint64_t *bits, int *star, char *err, size_t errlen)
{
    size_t  i, j;

    *bits = 0;

    for (i = 0; i < len; i = j + 1) {
        for (j = i; j < len && f[j] != ','; j++) {
            /* void */
        }

        if (j > i
            && hr_cron_range(f + i, j - i, b, bits, star, err, errlen) != 0)
        {
            return -1;
        }
    }

    return 0;
}


static int
hr_cron_range(const char *e, size_t len, const hr_cron_bounds_t *b,
    uint64_t *bits, int *star, char *err, size_t errlen)
{
    int          single, is_star;
    size_t       slash, dash, nslash, ndash, i, rlen;
    unsigned     start, end, step, v;
    const char  *r;

    nslash = 0;
    slash = len;

    for (i = 0; i < len; i++) {
        if (e[i] == '/') {
            if (nslash++ == 0) {
                slash = i;
            }
        }
    }

    if (nslash > 1) {
        snprintf(err, errlen, "%s: too many slashes: %.*s", b->name,
                 (int) len, e);
        return -1;
    }

    r = e;
    rlen = slash;
    ndash = 0;
    dash = rlen;

    for (i = 0; i < rlen; i++) {
        if (r[i] == '-') {
            if (ndash++ == 0) {
                dash = i;
            }
        }
    }

    single = (ndash == 0);
    is_star = 0;

    if (dash == 1 && (r[0] == '*' || r[0] == '?')) {
        /* robfig looks only at the part before '-' here */
        is_star = 1;

    } else if (rlen == 1 && (r[0] == '*' || r[0] == '?')) {
        is_star = 1;
    }

    if (is_star) {
        start = b->min;
        end = b->max;

    } else {
        if (hr_cron_num(r, dash, b, &start) != 0) {
            snprintf(err, errlen, "%s: bad value \"%.*s\"", b->name,
                     (int) dash, r);
            return -1;
        }

        if (ndash == 0) {
            end = start;

        } else if (ndash == 1) {
            if (hr_cron_num(r + dash + 1, rlen - dash - 1, b, &end) != 0) {
                snprintf(err, errlen, "%s: bad value \"%.*s\"", b->name,
                         (int) (rlen - dash - 1), r + dash + 1);
                return -1;
            }

        } else {
            snprintf(err, errlen, "%s: too many hyphens: %.*s", b->name,
                     (int) len, e);
            return -1;
        }
    }

    step = 1;

    if (nslash == 1) {
        if (hr_cron_int(e + slash + 1, len - slash - 1, &step) != 0) {
            snprintf(err, errlen, "%s: bad step \"%.*s\"", b->name,
                     (int) (len - slash - 1), e + slash + 1);
            return -1;
        }

        /* "N/step" means "N-max/step" */
        if (single) {
            end = b->max;
        }

        if (step > 1) {
            is_star = 0;
        }
    }

    if (start < b->min) {
        snprintf(err, errlen, "%s: beginning of range (%u) below minimum "
                 "(%u): %.*s", b->name, start, b->min, (int) len, e);
        return -1;
    }

    if (end > b->max) {
        snprintf(err, errlen, "%s: end of range (%u) above maximum (%u): "
                 "%.*s", b->name, end, b->max, (int) len, e);
        return -1;
    }

    if (start > end) {
        snprintf(err, errlen, "%s: beginning of range (%u) beyond end of "
                 "range (%u): %.*s", b->name, start, end, (int) len, e);
        return -1;
    }

    if (step == 0) {
        snprintf(err, errlen, "%s: step of range should be a positive "
                 "number: %.*s", b->name, (int) len, e);
        return -1;
    }

    for (v = start; v <= end; v += step) {
        *bits |= (uint64_t) 1 << v;
    }

    if (is_star) {
        *star = 1;
    }

    return 0;
}


/* parseIntOrName(): a name (any case) when the field has names, or a number */
static int
hr_cron_num(const char *s, size_t len, const hr_cron_bounds_t *b,
    unsigned *v)
{
    size_t  i, k;

    if (b->names != NULL && len == 3) {
        for (i = 0; b->names[i] != NULL; i++) {
            for (k = 0; k < 3; k++) {
                if ((s[k] | 0x20) != b->names[i][k]) {
                    break;
                }
            }

            if (k == 3) {
                *v = (unsigned) i + b->min;
                return 0;
            }
        }
    }

    return hr_cron_int(s, len, v);
}


/*
 * mustParseInt(): strconv.Atoi (an optional sign, decimal digits), then no
 * negative numbers.  Values above 9999 cannot be in any range; they are
 * clamped so that the range check reports them.
 */
static int
hr_cron_int(const char *s, size_t len, unsigned *v)
{
    int       neg;
    size_t    i;
    unsigned  n;

    if (len == 0) {
        return -1;
    }

    i = 0;
    neg = 0;

    if (s[0] == '+' || s[0] == '-') {
        neg = (s[0] == '-');
        i = 1;
        if (len == 1) {
            return -1;
        }
    }

    n = 0;

    /* Atoi fails beyond int64; keep well inside that */
    if (len - i > 18) {
        return -1;
    }

    for ( /* void */ ; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        if (n < 100000) {
            n = n * 10 + (unsigned) (s[i] - '0');
        }
    }

    if (neg && n != 0) {
        return -1;
    }

    *v = n;
    return 0;
}


static int
hr_cron_descriptor(hr_cron_t *c, const char *expr)
{
    size_t  len;

    len = strlen(expr);
    while (len > 0 && (expr[len - 1] == ' ' || expr[len - 1] == '\t'
                       || expr[len - 1] == '\n' || expr[len - 1] == '\r'))
    {
        len--;
    }

#define HR_IS(s)  (len == sizeof(s) - 1 && strncmp(expr, s, len) == 0)

    c->sec = 1;
    c->min = 1;
    c->hour = 1;
    c->dom = 0xfffffffe;          /* 1-31 */
    c->month = 0x1ffe;            /* 1-12 */
    c->dow = 0x7f;
    c->dom_star = 1;
    c->dow_star = 1;

    if (HR_IS("@yearly") || HR_IS("@annually")) {
        c->dom = 1 << 1;
        c->month = 1 << 1;
        c->dom_star = 0;

    } else if (HR_IS("@monthly")) {
        c->dom = 1 << 1;
        c->dom_star = 0;

    } else if (HR_IS("@weekly")) {
        c->dow = 1;
        c->dow_star = 0;

    } else if (HR_IS("@daily") || HR_IS("@midnight")) {
        /* void */

    } else if (HR_IS("@hourly")) {
        c->hour = 0xffffff;

    } else {
        memset(c, 0, sizeof(hr_cron_t));
        return -1;
    }

#undef HR_IS

    return 0;
}


/* Howard Hinnant's days_from_civil(): days since 1970-01-01. */
static int64_t
hr_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t   era;
    unsigned  yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned) (y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + (int64_t) doe - 719468;
}


static void
hr_civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    int64_t   era, yy;
    unsigned  doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned) (z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    yy = (int64_t) yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int) (yy + (*m <= 2));
}


static unsigned
hr_days_in_month(int y, unsigned m)
{
    static const unsigned  dim[] = { 31, 28, 31, 30, 31, 30,
                                     31, 31, 30, 31, 30, 31 };

    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) {
        return 29;
    }

    return dim[m - 1];
}


/* dayMatches(): with a '*' in dom or dow both must match, else either. */
static int
hr_day_matches(const hr_cron_t *c, const hr_tm_t *t)
{
    int       dom, dow;
    int64_t   days;
    unsigned  wd;

    days = hr_days_from_civil(t->y, t->mo, t->d);
    wd = (unsigned) (((days % 7) + 11) % 7);      /* 1970-01-01: Thursday */

    dom = (c->dom >> t->d) & 1;
    dow = (c->dow >> wd) & 1;

    if (c->dom_star || c->dow_star) {
        return dom && dow;
    }

    return dom || dow;
}


enum {
    HR_TM_SEC = 0,
    HR_TM_MIN,
    HR_TM_HOUR,
    HR_TM_DAY
};


/*
 * One more of unit (the fields below it are the caller's to reset); 1 when
 * the unit overflowed into the next one, which the walk must check again.
 */
static int
hr_tm_step(hr_tm_t *tm, int unit)
{
    switch (unit) {
    case HR_TM_SEC:
        if (++tm->s <= 59) {
            return 0;
        }
        tm->s = 0;
        /* fall through */
    case HR_TM_MIN:
        if (++tm->mi <= 59) {
            return unit != HR_TM_MIN;
        }
        tm->mi = 0;
        /* fall through */
    case HR_TM_HOUR:
        if (++tm->h <= 23) {
            return unit < HR_TM_HOUR;
        }
        tm->h = 0;
        /* fall through */
    default:
        if (++tm->d > hr_days_in_month(tm->y, tm->mo)) {
            tm->d = 1;
            if (++tm->mo > 12) {
                tm->mo = 1;
                tm->y++;
            }
        }
        return unit != HR_TM_DAY || tm->d == 1;
    }
}


time_t
hr_cron_next(const hr_cron_t *c, time_t after)
{
    int      limit;
    int64_t  t, days, rem;
    hr_tm_t  tm;

    /* a field that allows nothing ("0 , * * * *"): never, without a
       five-year walk second by second */
    if (c->sec == 0 || c->min == 0 || c->hour == 0 || c->month == 0
        || ((c->dom_star || c->dow_star) ? (c->dom == 0 || c->dow == 0)
                                         : (c->dom == 0 && c->dow == 0)))
    {
        return (time_t) -1;
    }

    /* keep the arithmetic far from overflow: years 1 to 9999 */
    if (after < -62135596800LL || after > 253402300799LL - 1) {
        return (time_t) -1;
    }

    t = (int64_t) after + 1;

    days = t / 86400;
    rem = t % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }

    hr_civil_from_days(days, &tm.y, &tm.mo, &tm.d);
    tm.h = (unsigned) (rem / 3600);
    tm.mi = (unsigned) (rem / 60 % 60);
    tm.s = (unsigned) (rem % 60);

    limit = tm.y + 5;

wrap:

    if (tm.y > limit) {
        return (time_t) -1;
    }

    while (!((c->month >> tm.mo) & 1)) {
        tm.d = 1;
        tm.h = 0;
        tm.mi = 0;
        tm.s = 0;

        if (++tm.mo > 12) {
            tm.mo = 1;
            tm.y++;
            goto wrap;
        }
    }

    while (!hr_day_matches(c, &tm)) {
        tm.h = 0;
        tm.mi = 0;
        tm.s = 0;

        if (hr_tm_step(&tm, HR_TM_DAY)) {
            goto wrap;
        }
    }

    while (!((c->hour >> tm.h) & 1)) {
        tm.mi = 0;
        tm.s = 0;

        if (hr_tm_step(&tm, HR_TM_HOUR)) {
            goto wrap;
        }
    }

    while (!((c->min >> tm.mi) & 1)) {
        tm.s = 0;

        if (hr_tm_step(&tm, HR_TM_MIN)) {
            goto wrap;
        }
    }

    while (!((c->sec >> tm.s) & 1)) {
        if (hr_tm_step(&tm, HR_TM_SEC)) {
            goto wrap;
        }
    }

    return (time_t) (hr_days_from_civil(tm.y, tm.mo, tm.d) * 86400
                     + tm.h * 3600 + tm.mi * 60 + tm.s);
}
