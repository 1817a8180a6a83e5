
/*
 * Harbor Edge: Harbor webhook payloads, checked without nginx.
 *
 * The body is walked once by the module's JSON scanner
 * (ngx_http_harbor_json.c) in its strict mode (RFC 8259: UTF-8 checked,
 * escapes and surrogate pairs checked, depth bounded, trailing bytes
 * refused).  Only the fields the edge uses are kept, each decoded into a
 * fixed buffer of the event struct; everything else is skipped, since
 * Harbor adds fields over time.  Whether the event matters is known only
 * at the end (JSON keys come in any order), so a shape error inside
 * event_data is remembered and reported only for the kinds we queue: a
 * PULL_ARTIFACT with an odd field is still acknowledged.
 *
 * Keys we read must not repeat: two "repository" objects would let the
 * edge and another reader of the same body disagree on what was pushed.
 */


#include <stdio.h>
#include <string.h>

#include "ngx_http_harbor_json.h"
#include "ngx_http_harbor_webhook_parse.h"


#define HW_DEPTH_MAX  32


static int hw_take(ngx_http_harbor_json_t *j, char *dst, size_t cap,
    size_t *len);
static int hw_field(ngx_http_harbor_json_t *j,
    ngx_http_harbor_webhook_field_t *f, const char **shape,
    const char *msg);
static int hw_data(ngx_http_harbor_json_t *j,
    ngx_http_harbor_webhook_data_t *d);
static int hw_repository(ngx_http_harbor_json_t *j,
    ngx_http_harbor_webhook_data_t *d);
static int hw_resources(ngx_http_harbor_json_t *j,
    ngx_http_harbor_webhook_data_t *d);
static int hw_resource(ngx_http_harbor_json_t *j,
    ngx_http_harbor_webhook_data_t *d,
    ngx_http_harbor_webhook_resource_t *res);
static int hw_check(ngx_http_harbor_webhook_event_t *ev,
    ngx_http_harbor_webhook_data_t *d);
static int64_t hw_time(const char *s, size_t len);
static int hw_is(const char *s, size_t len, const char *lit);
static int hw_error(ngx_http_harbor_webhook_event_t *ev, const char *what);
static int hw_open_object(ngx_http_harbor_webhook_event_t *ev,
    ngx_http_harbor_json_t *j);
static int hw_syntax(ngx_http_harbor_webhook_event_t *ev,
    ngx_http_harbor_json_t *j);


int
ngx_http_harbor_webhook_parse(const unsigned char *body, size_t len,
    int cloudevents, ngx_http_harbor_webhook_event_t *ev)
{
    int                         first, rc, saw_type;
    int64_t                     occur_at;
    unsigned                    flags;
    const char                 *shape;
    ngx_http_harbor_json_t      j;
    ngx_http_harbor_json_str_t  key;

    memset(ev, 0, sizeof(ngx_http_harbor_webhook_event_t));
    ev->occurred_at = -1;

    ngx_http_harbor_json_init(&j, body, len, HW_DEPTH_MAX, 1);

    shape = NULL;
    saw_type = 0;
    occur_at = -1;

    if (hw_open_object(ev, &j) != 0) {
        return -1;
    }

    first = 1;

    while ((rc = ngx_http_harbor_json_member(&j, &first, &key)) == 1) {

        if (ngx_http_harbor_json_is(&key, "type")) {
            if (saw_type++) {
                return hw_error(ev, "duplicate key type");
            }

            if (*j.pos != '"') {
                if (ngx_http_harbor_json_skip(&j) != 0) {
                    return hw_syntax(ev, &j);
                }

                return hw_error(ev, "type must be a string");
            }

            rc = hw_take(&j, ev->type.data, NGX_HTTP_HARBOR_WEBHOOK_NAME_MAX,
                         &ev->type.len);
            ev->type.present = 1;

        } else if (ngx_http_harbor_json_is(&key, "occur_at")) {
            if (occur_at != -1) {
                return hw_error(ev, "duplicate key occur_at");
            }

            if (*j.pos == '-' || (*j.pos >= '0' && *j.pos <= '9')) {
                rc = ngx_http_harbor_json_number(&j, &occur_at, &flags);

            } else {
                rc = ngx_http_harbor_json_skip(&j);
                flags = 0;
            }

            /* not a number, not an integer that fits, or negative */

            if (flags != 0 || occur_at < 0) {
                occur_at = 0;
                shape = "occur_at must be a non-negative integer";
            }

        } else if (ngx_http_harbor_json_is(&key, "specversion")) {
            rc = hw_field(&j, &ev->specversion, &shape,
                          "specversion must be a string");

        } else if (ngx_http_harbor_json_is(&key, "time")) {
            rc = hw_field(&j, &ev->time, &shape, "time must be a string");

        } else if (ngx_http_harbor_json_is(&key, "event_data")) {
            if (ev->event_data.present) {
                return hw_error(ev, "duplicate key event_data");
            }

            rc = hw_data(&j, &ev->event_data);

        } else if (ngx_http_harbor_json_is(&key, "data")) {
            if (ev->data.present) {
                return hw_error(ev, "duplicate key data");
            }

            rc = hw_data(&j, &ev->data);

        } else {
            rc = ngx_http_harbor_json_skip(&j);
        }

        if (rc != 0) {
            return hw_syntax(ev, &j);
        }
    }

    if (rc != 0 || ngx_http_harbor_json_end(&j) != 0) {
        return hw_syntax(ev, &j);
    }

    if (!ev->type.present) {
        return hw_error(ev, "missing type");
    }

    if (ev->specversion.present) {
        ev->cloudevents = 1;

    } else if (cloudevents) {
        return hw_error(ev, "CloudEvents payload without specversion");
    }

    if (ev->cloudevents) {
        if (hw_is(ev->type.data, ev->type.len, "harbor.artifact.pushed")) {
            ev->kind = NGX_HTTP_HARBOR_WEBHOOK_PUSH;

        } else if (hw_is(ev->type.data, ev->type.len,
                         "harbor.artifact.deleted"))
        {
            ev->kind = NGX_HTTP_HARBOR_WEBHOOK_DELETE;

        } else {
            return 0;
        }

        if (ev->time.present) {
            if (ev->time.len > NGX_HTTP_HARBOR_WEBHOOK_NAME_MAX) {
                return hw_error(ev, "time is not an RFC 3339 date");
            }

            ev->occurred_at = hw_time(ev->time.data, ev->time.len);

            if (ev->occurred_at < 0) {
                return hw_error(ev, "time is not an RFC 3339 date");
            }
        }

        if (shape != NULL) {
            return hw_error(ev, shape);
        }

        if (!ev->data.present) {
            return hw_error(ev, "missing data");
        }

        return hw_check(ev, &ev->data);
    }

    if (hw_is(ev->type.data, ev->type.len, "PUSH_ARTIFACT")) {
        ev->kind = NGX_HTTP_HARBOR_WEBHOOK_PUSH;

    } else if (hw_is(ev->type.data, ev->type.len, "DELETE_ARTIFACT")) {
        ev->kind = NGX_HTTP_HARBOR_WEBHOOK_DELETE;

    } else {
        return 0;
    }

    if (shape != NULL) {
        return hw_error(ev, shape);
    }

    ev->occurred_at = occur_at;

    if (!ev->event_data.present) {
        return hw_error(ev, "missing event_data");
    }

    return hw_check(ev, &ev->event_data);
}


/* the checks that make an artifact event usable: names, digests, tags */

static int
hw_check(ngx_http_harbor_webhook_event_t *ev,
    ngx_http_harbor_webhook_data_t *d)
{
    size_t                               i, n;
    ngx_http_harbor_webhook_resource_t  *res;

    if (d->err != NULL) {
        return hw_error(ev, d->err);
    }

    if (!d->has_repository) {
        return hw_error(ev, "missing repository");
    }

    if (!d->has_resources || d->nresources == 0) {
        return hw_error(ev, "no resources");
    }

    if (d->full_name.present) {
        n = d->full_name.len;

        if (n > NGX_HTTP_HARBOR_WEBHOOK_NAME_MAX) {
            return hw_error(ev, "repository name too long");
        }

        memcpy(ev->repository, d->full_name.data, n);

        /* both given: they must agree, or a reader could pick either */

        if (d->namespace_.present && d->name.present
            && (d->namespace_.len + 1 + d->name.len != n
                || memcmp(ev->repository, d->namespace_.data,
                          d->namespace_.len) != 0
                || ev->repository[d->namespace_.len] != '/'
                || memcmp(ev->repository + d->namespace_.len + 1,
                          d->name.data, d->name.len) != 0))
        {
            return hw_error(ev,
                          "repo_full_name disagrees with namespace and name");
        }

    } else if (d->namespace_.present && d->name.present) {
        n = d->namespace_.len + 1 + d->name.len;

        if (d->namespace_.len > NGX_HTTP_HARBOR_WEBHOOK_NAME_MAX
            || d->name.len > NGX_HTTP_HARBOR_WEBHOOK_NAME_MAX
            || n > NGX_HTTP_HARBOR_WEBHOOK_NAME_MAX)
        {
            return hw_error(ev, "repository name too long");
        }

        memcpy(ev->repository, d->namespace_.data, d->namespace_.len);
        ev->repository[d->namespace_.len] = '/';
        memcpy(ev->repository + d->namespace_.len + 1, d->name.data,
               d->name.len);

    } else {
        return hw_error(ev, "missing repository name");
    }

    ev->repository[n] = '\0';
    ev->repository_len = n;

    if (!he_oci_name((unsigned char *) ev->repository, n)) {
        return hw_error(ev, "invalid repository name");
    }

    for (i = 0; i < d->nresources; i++) {
        res = &d->resources[i];

        if (res->digest_len == 0) {
            return hw_error(ev, "resource without digest");
        }

        if (res->digest_len > NGX_HTTP_HARBOR_WEBHOOK_DIGEST_MAX) {
            return hw_error(ev, "invalid digest");
        }

        switch (he_oci_digest((unsigned char *) res->digest,
                              res->digest_len, NULL))
        {
        case HE_OCI_SHA256:
        case HE_OCI_SHA512:
            break;

        case HE_OCI_DIGEST_OTHER:
            return hw_error(ev, "unsupported digest algorithm");

        default:
            return hw_error(ev, "invalid digest");
        }

        /* an untagged artifact: Harbor puts the digest in "tag" */

        if (res->tag_len == res->digest_len
            && memcmp(res->tag, res->digest, res->tag_len) == 0)
        {
            res->tag_len = 0;
        }

        if (res->tag_len > NGX_HTTP_HARBOR_WEBHOOK_TAG_MAX
            || (res->tag_len
                && !he_oci_tag((unsigned char *) res->tag, res->tag_len)))
        {
            return hw_error(ev, "invalid tag");
        }

        res->tag[res->tag_len] = '\0';
    }

    ev->resources = d->resources;
    ev->nresources = d->nresources;

    return 0;
}


static int
hw_data(ngx_http_harbor_json_t *j, ngx_http_harbor_webhook_data_t *d)
{
    int                         first, rc, saw_repository;
    ngx_http_harbor_json_str_t  key;

    d->present = 1;

    if (ngx_http_harbor_json_peek(j) != '{') {
        d->err = "event data must be an object";
        return ngx_http_harbor_json_skip(j);
    }

    if (ngx_http_harbor_json_open(j, '{') != 0) {
        return -1;
    }

    first = 1;
    saw_repository = 0;

    while ((rc = ngx_http_harbor_json_member(j, &first, &key)) == 1) {

        if (ngx_http_harbor_json_is(&key, "repository")) {
            if (saw_repository++) {
                d->err = "duplicate key repository";
            }

            rc = hw_repository(j, d);

        } else if (ngx_http_harbor_json_is(&key, "resources")) {
            if (d->has_resources) {
                d->err = "duplicate key resources";
                d->nresources = 0;
            }

            rc = hw_resources(j, d);

        } else {
            rc = ngx_http_harbor_json_skip(j);
        }

        if (rc != 0) {
            return -1;
        }
    }

    return rc;
}


static int
hw_repository(ngx_http_harbor_json_t *j, ngx_http_harbor_webhook_data_t *d)
{
    int                               first, rc;
    ngx_http_harbor_json_str_t        key;
    ngx_http_harbor_webhook_field_t  *f;

    if (ngx_http_harbor_json_peek(j) != '{') {
        d->err = "repository must be an object";
        return ngx_http_harbor_json_skip(j);
    }

    if (ngx_http_harbor_json_open(j, '{') != 0) {
        return -1;
    }

    first = 1;
    d->has_repository = 1;

    while ((rc = ngx_http_harbor_json_member(j, &first, &key)) == 1) {

        if (ngx_http_harbor_json_is(&key, "name")) {
            f = &d->name;

        } else if (ngx_http_harbor_json_is(&key, "namespace")) {
            f = &d->namespace_;

        } else if (ngx_http_harbor_json_is(&key, "repo_full_name")) {
            f = &d->full_name;

        } else {
            f = NULL;
        }

        if (f == NULL) {
            rc = ngx_http_harbor_json_skip(j);

        } else {
            if (f->present) {
                d->err = "duplicate key in repository";
            }

            rc = hw_field(j, f, &d->err, "repository names must be strings");
        }

        if (rc != 0) {
            return -1;
        }
    }

    return rc;
}


static int
hw_resources(ngx_http_harbor_json_t *j, ngx_http_harbor_webhook_data_t *d)
{
    int                                 first, rc;
    ngx_http_harbor_webhook_resource_t  dummy;

    d->has_resources = 1;

    if (ngx_http_harbor_json_peek(j) != '[') {
        d->err = "resources must be an array";
        return ngx_http_harbor_json_skip(j);
    }

    if (ngx_http_harbor_json_open(j, '[') != 0) {
        return -1;
    }

    first = 1;

    while ((rc = ngx_http_harbor_json_element(j, &first)) == 1) {

        if (d->nresources == NGX_HTTP_HARBOR_WEBHOOK_RESOURCES_MAX) {
            d->err = "too many resources";
            rc = hw_resource(j, d, &dummy);

        } else {
            rc = hw_resource(j, d, &d->resources[d->nresources++]);
        }

        if (rc != 0) {
            return -1;
        }
    }

    return rc;
}


static int
hw_resource(ngx_http_harbor_json_t *j, ngx_http_harbor_webhook_data_t *d,
    ngx_http_harbor_webhook_resource_t *res)
{
    int                         first, rc, saw_digest, saw_tag;
    ngx_http_harbor_json_str_t  key;

    memset(res, 0, sizeof(ngx_http_harbor_webhook_resource_t));

    if (ngx_http_harbor_json_peek(j) != '{') {
        d->err = "resources must be objects";
        return ngx_http_harbor_json_skip(j);
    }

    if (ngx_http_harbor_json_open(j, '{') != 0) {
        return -1;
    }

    first = 1;
    saw_digest = 0;
    saw_tag = 0;

    while ((rc = ngx_http_harbor_json_member(j, &first, &key)) == 1) {

        if (!ngx_http_harbor_json_is(&key, "digest")
            && !ngx_http_harbor_json_is(&key, "tag"))
        {
            rc = ngx_http_harbor_json_skip(j);

        } else if (*j->pos != '"') {
            d->err = "digest and tag must be strings";
            rc = ngx_http_harbor_json_skip(j);

        } else if (ngx_http_harbor_json_is(&key, "digest")) {
            if (saw_digest++) {
                d->err = "duplicate key digest";
            }

            rc = hw_take(j, res->digest, NGX_HTTP_HARBOR_WEBHOOK_DIGEST_MAX,
                         &res->digest_len);

        } else {
            if (saw_tag++) {
                d->err = "duplicate key tag";
            }

            rc = hw_take(j, res->tag, NGX_HTTP_HARBOR_WEBHOOK_TAG_MAX,
                         &res->tag_len);
        }

        if (rc != 0) {
            return -1;
        }
    }

    return rc;
}


/* a string member we keep; a value of another type is a shape error */

static int
hw_field(ngx_http_harbor_json_t *j, ngx_http_harbor_webhook_field_t *f,
    const char **shape, const char *msg)
{
    if (*j->pos != '"') {
        *shape = msg;
        return ngx_http_harbor_json_skip(j);
    }

    f->present = 1;

    return hw_take(j, f->data, NGX_HTTP_HARBOR_WEBHOOK_NAME_MAX, &f->len);
}


/*
 * A string value decoded into dst (cap bytes and a NUL); *len is the whole
 * decoded length, so a caller sees len > cap when the value did not fit.
 */

static int
hw_take(ngx_http_harbor_json_t *j, char *dst, size_t cap, size_t *len)
{
    size_t                      n;
    ngx_http_harbor_json_str_t  s;

    if (ngx_http_harbor_json_string(j, &s) != 0) {
        return -1;
    }

    n = ngx_http_harbor_json_decode(&s, (unsigned char *) dst, cap);

    dst[n < cap ? n : cap] = '\0';
    *len = n;

    return 0;
}


static int
hw_is(const char *s, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(s, lit, len) == 0;
}


/* the body must be one JSON object: opened, or ev->err says why not */

static int
hw_open_object(ngx_http_harbor_webhook_event_t *ev, ngx_http_harbor_json_t *j)
{
    switch (ngx_http_harbor_json_peek(j)) {

    case -1:
        return hw_error(ev, "empty body");

    case '{':
        break;

    default:
        if (ngx_http_harbor_json_skip(j) != 0) {
            return hw_syntax(ev, j);
        }

        return hw_error(ev, "payload must be a JSON object");
    }

    if (ngx_http_harbor_json_open(j, '{') != 0) {
        return hw_syntax(ev, j);
    }

    return 0;
}


static int
hw_syntax(ngx_http_harbor_webhook_event_t *ev, ngx_http_harbor_json_t *j)
{
    snprintf(ev->err, NGX_HTTP_HARBOR_WEBHOOK_ERR_LEN,
             "invalid JSON at byte %zu: %s", j->err_at,
             (j->err != NULL) ? j->err : "syntax error");

    return -1;
}


static int
hw_error(ngx_http_harbor_webhook_event_t *ev, const char *what)
{
    snprintf(ev->err, NGX_HTTP_HARBOR_WEBHOOK_ERR_LEN, "%s", what);

    return -1;
}


/*
 * RFC 3339 date-time ("2023-03-06T06:08:43Z", fraction and offset
 * allowed) to Unix seconds; -1 if malformed or before 1970.
 */

static int64_t
hw_time(const char *s, size_t len)
{
    int          i, n;
    size_t       k;
    int64_t      y, m, d, hh, mm, ss, off, era, yoe, doy, doe, days, t;
    int64_t      v[6];
    const char  *p;

    /* digit counts at even places, separators at odd ones */
    static const int  fields[] = { 4, '-', 2, '-', 2, 'T', 2, ':', 2, ':', 2 };

    p = s;
    k = 0;

    for (i = 0; i < (int) (sizeof(fields) / sizeof(fields[0])); i++) {
        if (i % 2) {
            if (k == len
                || (p[k] != fields[i]
                    && !(fields[i] == 'T' && (p[k] == 't' || p[k] == ' '))))
            {
                return -1;
            }

            k++;
            continue;
        }

        v[i / 2] = 0;

        for (n = 0; n < fields[i]; n++, k++) {
            if (k == len || p[k] < '0' || p[k] > '9') {
                return -1;
            }

            v[i / 2] = v[i / 2] * 10 + (p[k] - '0');
        }
    }

    y = v[0];
    m = v[1];
    d = v[2];
    hh = v[3];
    mm = v[4];
    ss = v[5];

    if (m < 1 || m > 12 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60)
    {
        return -1;
    }

    if (k < len && p[k] == '.') {
        k++;

        if (k == len || p[k] < '0' || p[k] > '9') {
            return -1;
        }

        while (k < len && p[k] >= '0' && p[k] <= '9') {
            k++;
        }
    }

    if (k == len) {
        return -1;
    }

    if (p[k] == 'Z' || p[k] == 'z') {
        off = 0;
        k++;

    } else if ((p[k] == '+' || p[k] == '-') && len - k == 6
               && p[k + 1] >= '0' && p[k + 1] <= '9'
               && p[k + 2] >= '0' && p[k + 2] <= '9' && p[k + 3] == ':'
               && p[k + 4] >= '0' && p[k + 4] <= '9'
               && p[k + 5] >= '0' && p[k + 5] <= '9')
    {
        off = ((p[k + 1] - '0') * 10 + (p[k + 2] - '0')) * 3600
              + ((p[k + 4] - '0') * 10 + (p[k + 5] - '0')) * 60;

        if (p[k] == '-') {
            off = -off;
        }

        k += 6;

    } else {
        return -1;
    }

    if (k != len) {
        return -1;
    }

    /* days from 1970-01-01 in the proleptic Gregorian calendar */

    y -= m <= 2;
    era = y / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    days = era * 146097 + doe - 719468;

    t = days * 86400 + hh * 3600 + mm * 60 + ss - off;

    return t < 0 ? -1 : t;
}


/*
 * Harbor's preheat notification (the "Kraken" provider API).  Each event's
 * Target becomes one resource of a data struct, which then goes through
 * the webhook's own checks (hw_check): the same grammars, the same limits.
 * Shape errors are remembered in d->err (the first one) while the whole
 * body is still checked for syntax.
 */

static void hp_shape(ngx_http_harbor_webhook_data_t *d, const char *msg);
static int hp_event(ngx_http_harbor_json_t *j,
    ngx_http_harbor_webhook_data_t *d,
    ngx_http_harbor_webhook_resource_t *res, int64_t *at);
static int hp_target(ngx_http_harbor_json_t *j,
    ngx_http_harbor_webhook_data_t *d,
    ngx_http_harbor_webhook_resource_t *res);


int
ngx_http_harbor_preheat_parse(const unsigned char *body, size_t len,
    ngx_http_harbor_webhook_event_t *ev)
{
    int                                  first, efirst, rc, saw_events;
    int64_t                              at;
    ngx_http_harbor_json_t               j;
    ngx_http_harbor_json_str_t           key;
    ngx_http_harbor_webhook_data_t      *d;
    ngx_http_harbor_webhook_resource_t   dummy;

    memset(ev, 0, sizeof(ngx_http_harbor_webhook_event_t));
    ev->occurred_at = -1;
    ev->kind = NGX_HTTP_HARBOR_WEBHOOK_PREHEAT;

    d = &ev->data;
    d->present = 1;
    at = -1;

    ngx_http_harbor_json_init(&j, body, len, HW_DEPTH_MAX, 1);

    if (hw_open_object(ev, &j) != 0) {
        return -1;
    }

    first = 1;
    saw_events = 0;

    while ((rc = ngx_http_harbor_json_member(&j, &first, &key)) == 1) {

        if (!ngx_http_harbor_json_is(&key, "Events")) {
            rc = ngx_http_harbor_json_skip(&j);

        } else if (saw_events++) {
            hp_shape(d, "duplicate key Events");
            rc = ngx_http_harbor_json_skip(&j);

        } else if (ngx_http_harbor_json_peek(&j) != '[') {
            hp_shape(d, "Events must be an array");
            rc = ngx_http_harbor_json_skip(&j);

        } else if (ngx_http_harbor_json_open(&j, '[') != 0) {
            rc = -1;

        } else {
            efirst = 1;

            while ((rc = ngx_http_harbor_json_element(&j, &efirst)) == 1) {

                if (d->nresources == NGX_HTTP_HARBOR_WEBHOOK_RESOURCES_MAX) {
                    hp_shape(d, "too many events");
                    rc = hp_event(&j, d, &dummy, &at);

                } else {
                    rc = hp_event(&j, d, &d->resources[d->nresources++],
                                  &at);
                }

                if (rc != 0) {
                    break;
                }
            }
        }

        if (rc != 0) {
            return hw_syntax(ev, &j);
        }
    }

    if (rc != 0 || ngx_http_harbor_json_end(&j) != 0) {
        return hw_syntax(ev, &j);
    }

    if (!saw_events) {
        return hw_error(ev, "missing Events");
    }

    if (d->err == NULL && d->nresources == 0) {
        return hw_error(ev, "no events");
    }

    d->has_repository = 1;
    d->has_resources = 1;
    ev->occurred_at = at;

    return hw_check(ev, d);
}


static void
hp_shape(ngx_http_harbor_webhook_data_t *d, const char *msg)
{
    if (d->err == NULL) {
        d->err = msg;
    }
}


static int
hp_event(ngx_http_harbor_json_t *j, ngx_http_harbor_webhook_data_t *d,
    ngx_http_harbor_webhook_resource_t *res, int64_t *at)
{
    int                              first, rc, saw_action, saw_target;
    int                              saw_time;
    int64_t                          t;
    const char                      *shape;
    ngx_http_harbor_json_str_t       key;
    ngx_http_harbor_webhook_field_t  f;

    memset(res, 0, sizeof(ngx_http_harbor_webhook_resource_t));

    if (ngx_http_harbor_json_peek(j) != '{') {
        hp_shape(d, "events must be objects");
        return ngx_http_harbor_json_skip(j);
    }

    if (ngx_http_harbor_json_open(j, '{') != 0) {
        return -1;
    }

    first = 1;
    saw_action = 0;
    saw_target = 0;
    saw_time = 0;

    while ((rc = ngx_http_harbor_json_member(j, &first, &key)) == 1) {

        shape = NULL;

        if (ngx_http_harbor_json_is(&key, "Action")) {
            if (saw_action++) {
                hp_shape(d, "duplicate key Action");
            }

            memset(&f, 0, sizeof(f));
            rc = hw_field(j, &f, &shape, "Action must be a string");

            if (rc == 0 && shape == NULL && !hw_is(f.data, f.len, "push")) {
                shape = "Action must be push";
            }

        } else if (ngx_http_harbor_json_is(&key, "Target")) {
            if (saw_target++) {
                hp_shape(d, "duplicate key Target");
            }

            rc = hp_target(j, d, res);

        } else if (ngx_http_harbor_json_is(&key, "TimeStamp")) {
            if (saw_time++) {
                hp_shape(d, "duplicate key TimeStamp");
            }

            memset(&f, 0, sizeof(f));
            rc = hw_field(j, &f, &shape, "TimeStamp must be a string");

            if (rc == 0 && shape == NULL) {
                t = (f.len > NGX_HTTP_HARBOR_WEBHOOK_NAME_MAX)
                    ? -1 : hw_time(f.data, f.len);

                if (t < 0) {
                    shape = "TimeStamp is not an RFC 3339 date";

                } else if (t > *at) {
                    *at = t;
                }
            }

        } else {
            rc = ngx_http_harbor_json_skip(j);
        }

        if (shape != NULL) {
            hp_shape(d, shape);
        }

        if (rc != 0) {
            return -1;
        }
    }

    if (rc != 0) {
        return -1;
    }

    if (!saw_action) {
        hp_shape(d, "event without Action");
    }

    if (!saw_target) {
        hp_shape(d, "event without Target");
    }

    return 0;
}


static int
hp_target(ngx_http_harbor_json_t *j, ngx_http_harbor_webhook_data_t *d,
    ngx_http_harbor_webhook_resource_t *res)
{
    int                              first, rc, saw_digest, saw_tag;
    const char                      *shape;
    ngx_http_harbor_json_str_t       key;
    ngx_http_harbor_webhook_field_t  repo;

    if (ngx_http_harbor_json_peek(j) != '{') {
        hp_shape(d, "Target must be an object");
        return ngx_http_harbor_json_skip(j);
    }

    if (ngx_http_harbor_json_open(j, '{') != 0) {
        return -1;
    }

    memset(&repo, 0, sizeof(repo));
    first = 1;
    saw_digest = 0;
    saw_tag = 0;

    while ((rc = ngx_http_harbor_json_member(j, &first, &key)) == 1) {

        shape = NULL;

        if (ngx_http_harbor_json_is(&key, "Repository")) {
            if (repo.present) {
                hp_shape(d, "duplicate key Repository");
            }

            rc = hw_field(j, &repo, &shape, "Repository must be a string");

        } else if (!ngx_http_harbor_json_is(&key, "Digest")
                   && !ngx_http_harbor_json_is(&key, "Tag"))
        {
            rc = ngx_http_harbor_json_skip(j);

        } else if (*j->pos != '"') {
            shape = "Digest and Tag must be strings";
            rc = ngx_http_harbor_json_skip(j);

        } else if (ngx_http_harbor_json_is(&key, "Digest")) {
            if (saw_digest++) {
                shape = "duplicate key Digest";
            }

            rc = hw_take(j, res->digest, NGX_HTTP_HARBOR_WEBHOOK_DIGEST_MAX,
                         &res->digest_len);

        } else {
            if (saw_tag++) {
                shape = "duplicate key Tag";
            }

            rc = hw_take(j, res->tag, NGX_HTTP_HARBOR_WEBHOOK_TAG_MAX,
                         &res->tag_len);
        }

        if (shape != NULL) {
            hp_shape(d, shape);
        }

        if (rc != 0) {
            return -1;
        }
    }

    if (rc != 0) {
        return -1;
    }

    if (!repo.present) {
        hp_shape(d, "Target without Repository");
        return 0;
    }

    /* one repository per body: the queue's lines carry one name */

    if (!d->full_name.present) {
        d->full_name = repo;

    } else if (repo.len != d->full_name.len
               || memcmp(repo.data, d->full_name.data,
                         repo.len < NGX_HTTP_HARBOR_WEBHOOK_NAME_MAX
                         ? repo.len : NGX_HTTP_HARBOR_WEBHOOK_NAME_MAX)
                  != 0)
    {
        hp_shape(d, "events for more than one repository");
    }

    return 0;
}
