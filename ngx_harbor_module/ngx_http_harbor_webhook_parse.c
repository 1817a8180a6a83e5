
/*
 * Harbor Edge: Harbor webhook payloads, checked without nginx.
 *
 * A strict recursive-descent JSON reader (RFC 8259: UTF-8 checked, escapes
 * decoded, surrogate pairs joined, depth bounded, trailing bytes refused)
 * that walks the body once.  It keeps only the fields the edge uses, each
 * in a fixed buffer of the event struct, and skips everything else, since
 * Harbor adds fields over time.  Whether the event matters is known only at
 * the end (JSON keys come in any order), so a shape error inside
 * event_data is remembered and reported only for the kinds we queue: a
 * PULL_ARTIFACT with an odd field is still acknowledged.
 *
 * Keys we read must not repeat: two "repository" objects would let the
 * edge and another reader of the same body disagree on what was pushed.
 */


#include <stdio.h>
#include <string.h>

#include "ngx_http_harbor_webhook_parse.h"


#define HW_DEPTH_MAX  32
#define HW_KEY_MAX    32


typedef struct {
    const unsigned char  *start;
    const unsigned char  *p;
    const unsigned char  *end;
    char                 *err;
    int                   depth;
} hw_json_t;


static int hw_syntax(hw_json_t *j, const char *what);
static void hw_ws(hw_json_t *j);
static int hw_string(hw_json_t *j, char *dst, size_t cap, size_t *len);
static int hw_utf8(hw_json_t *j, char *dst, size_t cap, size_t *n);
static int hw_hex4(hw_json_t *j, unsigned *cp);
static void hw_put(char *dst, size_t cap, size_t *n, unsigned c);
static int hw_number(hw_json_t *j, int64_t *value, int *integer);
static int hw_skip(hw_json_t *j);
static int hw_member(hw_json_t *j, int *first, char *key, size_t *klen);
static int hw_element(hw_json_t *j, int *first);
static int hw_key_is(const char *key, size_t klen, const char *name);
static int hw_field(hw_json_t *j, ngx_http_harbor_webhook_field_t *f,
    const char **shape, const char *msg);
static int hw_data(hw_json_t *j, ngx_http_harbor_webhook_data_t *d);
static int hw_repository(hw_json_t *j, ngx_http_harbor_webhook_data_t *d);
static int hw_resources(hw_json_t *j, ngx_http_harbor_webhook_data_t *d);
static int hw_resource(hw_json_t *j, ngx_http_harbor_webhook_data_t *d,
    ngx_http_harbor_webhook_resource_t *res);
static int hw_check(ngx_http_harbor_webhook_event_t *ev,
    ngx_http_harbor_webhook_data_t *d);
static int64_t hw_time(const char *s, size_t len);
static int hw_error(ngx_http_harbor_webhook_event_t *ev, const char *what);


int
ngx_http_harbor_webhook_parse(const unsigned char *body, size_t len,
    int cloudevents, ngx_http_harbor_webhook_event_t *ev)
{
    int          first, rc, saw_type;
    char         key[HW_KEY_MAX + 1];
    size_t       klen;
    int64_t      occur_at;
    hw_json_t    j;
    const char  *shape;

    memset(ev, 0, sizeof(ngx_http_harbor_webhook_event_t));
    ev->occurred_at = -1;

    j.start = body;
    j.p = body;
    j.end = body + len;
    j.err = ev->err;
    j.depth = 0;

    shape = NULL;
    saw_type = 0;
    occur_at = -1;

    hw_ws(&j);

    if (j.p == j.end || *j.p != '{') {
        if (j.p == j.end) {
            return hw_error(ev, "empty body");
        }

        if (hw_skip(&j) != 0) {
            return -1;
        }

        return hw_error(ev, "payload must be a JSON object");
    }

    j.p++;
    j.depth++;
    first = 1;

    for ( ;; ) {
        rc = hw_member(&j, &first, key, &klen);

        if (rc < 0) {
            return -1;
        }

        if (rc == 0) {
            break;
        }

        if (hw_key_is(key, klen, "type")) {
            if (saw_type) {
                return hw_error(ev, "duplicate key type");
            }

            saw_type = 1;

            if (j.p < j.end && *j.p != '"') {
                if (hw_skip(&j) != 0) {
                    return -1;
                }

                return hw_error(ev, "type must be a string");
            }

            if (hw_string(&j, ev->type.data, NGX_HTTP_HARBOR_WEBHOOK_NAME_MAX,
                          &ev->type.len)
                != 0)
            {
                return -1;
            }

            ev->type.present = 1;

        } else if (hw_key_is(key, klen, "occur_at")) {
            if (occur_at != -1) {
                return hw_error(ev, "duplicate key occur_at");
            }

            if (j.p < j.end && (*j.p == '-' || (*j.p >= '0' && *j.p <= '9')))
            {
                if (hw_number(&j, &occur_at, &rc) != 0) {
                    return -1;
                }

                if (!rc || occur_at < 0) {
                    occur_at = 0;
                    shape = "occur_at must be a non-negative integer";
                }

            } else {
                if (hw_skip(&j) != 0) {
                    return -1;
                }

                occur_at = 0;
                shape = "occur_at must be a non-negative integer";
            }

        } else if (hw_key_is(key, klen, "specversion")) {
            if (hw_field(&j, &ev->specversion, &shape,
                         "specversion must be a string")
                != 0)
            {
                return -1;
            }

        } else if (hw_key_is(key, klen, "time")) {
            if (hw_field(&j, &ev->time, &shape, "time must be a string") != 0)
            {
                return -1;
            }

        } else if (hw_key_is(key, klen, "event_data")) {
            if (ev->event_data.present) {
                return hw_error(ev, "duplicate key event_data");
            }

            if (hw_data(&j, &ev->event_data) != 0) {
                return -1;
            }

        } else if (hw_key_is(key, klen, "data")) {
            if (ev->data.present) {
                return hw_error(ev, "duplicate key data");
            }

            if (hw_data(&j, &ev->data) != 0) {
                return -1;
            }

        } else {
            if (hw_skip(&j) != 0) {
                return -1;
            }
        }
    }

    hw_ws(&j);

    if (j.p != j.end) {
        return hw_syntax(&j, "trailing data after the JSON value");
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
        if (hw_key_is(ev->type.data, ev->type.len, "harbor.artifact.pushed"))
        {
            ev->kind = NGX_HTTP_HARBOR_WEBHOOK_PUSH;

        } else if (hw_key_is(ev->type.data, ev->type.len,
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

    if (hw_key_is(ev->type.data, ev->type.len, "PUSH_ARTIFACT")) {
        ev->kind = NGX_HTTP_HARBOR_WEBHOOK_PUSH;

    } else if (hw_key_is(ev->type.data, ev->type.len, "DELETE_ARTIFACT")) {
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
hw_data(hw_json_t *j, ngx_http_harbor_webhook_data_t *d)
{
    int     first, rc, saw_repository;
    char    key[HW_KEY_MAX + 1];
    size_t  klen;

    d->present = 1;

    if (j->p == j->end || *j->p != '{') {
        d->err = "event data must be an object";
        return hw_skip(j);
    }

    if (++j->depth > HW_DEPTH_MAX) {
        return hw_syntax(j, "nested too deep");
    }

    j->p++;
    first = 1;
    saw_repository = 0;

    for ( ;; ) {
        rc = hw_member(j, &first, key, &klen);

        if (rc <= 0) {
            break;
        }

        if (hw_key_is(key, klen, "repository")) {
            if (saw_repository) {
                d->err = "duplicate key repository";
            }

            saw_repository = 1;
            rc = hw_repository(j, d);

        } else if (hw_key_is(key, klen, "resources")) {
            if (d->has_resources) {
                d->err = "duplicate key resources";
                d->nresources = 0;
            }

            rc = hw_resources(j, d);

        } else {
            rc = hw_skip(j);
        }

        if (rc != 0) {
            return -1;
        }
    }

    j->depth--;

    return rc;
}


static int
hw_repository(hw_json_t *j, ngx_http_harbor_webhook_data_t *d)
{
    int                               first, rc;
    char                              key[HW_KEY_MAX + 1];
    size_t                            klen;
    ngx_http_harbor_webhook_field_t  *f;

    if (j->p == j->end || *j->p != '{') {
        d->err = "repository must be an object";
        return hw_skip(j);
    }

    if (++j->depth > HW_DEPTH_MAX) {
        return hw_syntax(j, "nested too deep");
    }

    j->p++;
    first = 1;
    d->has_repository = 1;

    for ( ;; ) {
        rc = hw_member(j, &first, key, &klen);

        if (rc <= 0) {
            break;
        }

        if (hw_key_is(key, klen, "name")) {
            f = &d->name;

        } else if (hw_key_is(key, klen, "namespace")) {
            f = &d->namespace_;

        } else if (hw_key_is(key, klen, "repo_full_name")) {
            f = &d->full_name;

        } else {
            f = NULL;
        }

        if (f == NULL) {
            rc = hw_skip(j);

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

    j->depth--;

    return rc;
}


static int
hw_resources(hw_json_t *j, ngx_http_harbor_webhook_data_t *d)
{
    int                                 first, rc;
    ngx_http_harbor_webhook_resource_t  dummy;

    d->has_resources = 1;

    if (j->p == j->end || *j->p != '[') {
        d->err = "resources must be an array";
        return hw_skip(j);
    }

    if (++j->depth > HW_DEPTH_MAX) {
        return hw_syntax(j, "nested too deep");
    }

    j->p++;
    first = 1;

    for ( ;; ) {
        rc = hw_element(j, &first);

        if (rc <= 0) {
            break;
        }

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

    j->depth--;

    return rc;
}


static int
hw_resource(hw_json_t *j, ngx_http_harbor_webhook_data_t *d,
    ngx_http_harbor_webhook_resource_t *res)
{
    int     first, rc, saw_digest, saw_tag;
    char    key[HW_KEY_MAX + 1];
    size_t  klen;

    memset(res, 0, sizeof(ngx_http_harbor_webhook_resource_t));

    if (j->p == j->end || *j->p != '{') {
        d->err = "resources must be objects";
        return hw_skip(j);
    }

    if (++j->depth > HW_DEPTH_MAX) {
        return hw_syntax(j, "nested too deep");
    }

    j->p++;
    first = 1;
    saw_digest = 0;
    saw_tag = 0;

    for ( ;; ) {
        rc = hw_member(j, &first, key, &klen);

        if (rc <= 0) {
            break;
        }

        if (hw_key_is(key, klen, "digest") || hw_key_is(key, klen, "tag")) {

            if (j->p < j->end && *j->p != '"') {
                d->err = "digest and tag must be strings";
                rc = hw_skip(j);

            } else if (key[0] == 'd') {
                if (saw_digest++) {
                    d->err = "duplicate key digest";
                }

                rc = hw_string(j, res->digest,
                               NGX_HTTP_HARBOR_WEBHOOK_DIGEST_MAX,
                               &res->digest_len);

            } else {
                if (saw_tag++) {
                    d->err = "duplicate key tag";
                }

                rc = hw_string(j, res->tag, NGX_HTTP_HARBOR_WEBHOOK_TAG_MAX,
                               &res->tag_len);
            }

        } else {
            rc = hw_skip(j);
        }

        if (rc != 0) {
            return -1;
        }
    }

    j->depth--;

    return rc;
}


/* a string member we keep; a value of another type is a shape error */

static int
hw_field(hw_json_t *j, ngx_http_harbor_webhook_field_t *f, const char **shape,
    const char *msg)
{
    if (j->p < j->end && *j->p != '"') {
        *shape = msg;
        return hw_skip(j);
    }

    f->present = 1;

    return hw_string(j, f->data, NGX_HTTP_HARBOR_WEBHOOK_NAME_MAX, &f->len);
}


/*
 * Object members: call with *first = 1 right after '{'.  Returns 1 with the
 * key decoded (truncated keys never match) and j->p at the value, 0 after
 * the closing '}', -1 on a syntax error.
 */

static int
hw_member(hw_json_t *j, int *first, char *key, size_t *klen)
{
    hw_ws(j);

    if (j->p == j->end) {
        return hw_syntax(j, "unterminated object");
    }

    if (*first) {
        *first = 0;

        if (*j->p == '}') {
            j->p++;
            return 0;
        }

    } else {
        if (*j->p == '}') {
            j->p++;
            return 0;
        }

        if (*j->p != ',') {
            return hw_syntax(j, "expected , or }");
        }

        j->p++;
        hw_ws(j);
    }

    if (j->p == j->end || *j->p != '"') {
        return hw_syntax(j, "expected a string key");
    }

    if (hw_string(j, key, HW_KEY_MAX, klen) != 0) {
        return -1;
    }

    hw_ws(j);

    if (j->p == j->end || *j->p != ':') {
        return hw_syntax(j, "expected :");
    }

    j->p++;
    hw_ws(j);

    if (j->p == j->end) {
        return hw_syntax(j, "missing value");
    }

    return 1;
}


/* array elements, as hw_member() */

static int
hw_element(hw_json_t *j, int *first)
{
    hw_ws(j);

    if (j->p == j->end) {
        return hw_syntax(j, "unterminated array");
    }

    if (*j->p == ']') {
        j->p++;
        *first = 0;
        return 0;
    }

    if (*first) {
        *first = 0;
        return 1;
    }

    if (*j->p != ',') {
        return hw_syntax(j, "expected , or ]");
    }

    j->p++;
    hw_ws(j);

    if (j->p == j->end || *j->p == ']') {
        return hw_syntax(j, "missing value");
    }

    return 1;
}


/* any JSON value, checked and thrown away */

static int
hw_skip(hw_json_t *j)
{
    int      first, rc;
    size_t   len;
    int64_t  n;

    hw_ws(j);

    if (j->p == j->end) {
        return hw_syntax(j, "missing value");
    }

    switch (*j->p) {

    case '{':
    case '[':
        if (++j->depth > HW_DEPTH_MAX) {
            return hw_syntax(j, "nested too deep");
        }

        first = 1;

        if (*j->p++ == '{') {
            while ((rc = hw_member(j, &first, NULL, &len)) == 1) {
                if (hw_skip(j) != 0) {
                    return -1;
                }
            }

        } else {
            while ((rc = hw_element(j, &first)) == 1) {
                if (hw_skip(j) != 0) {
                    return -1;
                }
            }
        }

        j->depth--;

        return rc;

    case '"':
        return hw_string(j, NULL, 0, &len);

    case 't':
        if (j->end - j->p >= 4 && memcmp(j->p, "true", 4) == 0) {
            j->p += 4;
            return 0;
        }

        break;

    case 'f':
        if (j->end - j->p >= 5 && memcmp(j->p, "false", 5) == 0) {
            j->p += 5;
            return 0;
        }

        break;

    case 'n':
        if (j->end - j->p >= 4 && memcmp(j->p, "null", 4) == 0) {
            j->p += 4;
            return 0;
        }

        break;

    default:
        if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) {
            return hw_number(j, &n, &rc);
        }
    }

    return hw_syntax(j, "unexpected character");
}


/*
 * A string at j->p (which is '"').  Decodes into dst up to cap bytes (dst
 * may be NULL) and NUL-terminates; *len is the full decoded length, so a
 * caller sees len > cap when the value did not fit.
 */

static int
hw_string(hw_json_t *j, char *dst, size_t cap, size_t *len)
{
    size_t    n;
    unsigned  c, lo;

    n = 0;
    j->p++;

    for ( ;; ) {
        if (j->p == j->end) {
            return hw_syntax(j, "unterminated string");
        }

        c = *j->p;

        if (c == '"') {
            j->p++;
            break;
        }

        if (c < 0x20) {
            return hw_syntax(j, "control character in a string");
        }

        if (c >= 0x80) {
            if (hw_utf8(j, dst, cap, &n) != 0) {
                return -1;
            }

            continue;
        }

        j->p++;

        if (c != '\\') {
            hw_put(dst, cap, &n, c);
            continue;
        }

        if (j->p == j->end) {
            return hw_syntax(j, "unterminated string");
        }

        c = *j->p++;

        switch (c) {
        case '"':
        case '\\':
        case '/':
            break;
        case 'b':
            c = '\b';
            break;
        case 'f':
            c = '\f';
            break;
        case 'n':
            c = '\n';
            break;
        case 'r':
            c = '\r';
            break;
        case 't':
            c = '\t';
            break;

        case 'u':
            if (hw_hex4(j, &c) != 0) {
                return -1;
            }

            if (c >= 0xdc00 && c <= 0xdfff) {
                return hw_syntax(j, "lone low surrogate");
            }

            if (c >= 0xd800 && c <= 0xdbff) {
                if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u') {
                    return hw_syntax(j, "lone high surrogate");
                }

                j->p += 2;

                if (hw_hex4(j, &lo) != 0) {
                    return -1;
                }

                if (lo < 0xdc00 || lo > 0xdfff) {
                    return hw_syntax(j, "bad surrogate pair");
                }

                c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
            }

            if (c < 0x80) {
                hw_put(dst, cap, &n, c);

            } else if (c < 0x800) {
                hw_put(dst, cap, &n, 0xc0 | (c >> 6));
                hw_put(dst, cap, &n, 0x80 | (c & 0x3f));

            } else if (c < 0x10000) {
                hw_put(dst, cap, &n, 0xe0 | (c >> 12));
                hw_put(dst, cap, &n, 0x80 | ((c >> 6) & 0x3f));
                hw_put(dst, cap, &n, 0x80 | (c & 0x3f));

            } else {
                hw_put(dst, cap, &n, 0xf0 | (c >> 18));
                hw_put(dst, cap, &n, 0x80 | ((c >> 12) & 0x3f));
                hw_put(dst, cap, &n, 0x80 | ((c >> 6) & 0x3f));
                hw_put(dst, cap, &n, 0x80 | (c & 0x3f));
            }

            continue;

        default:
            return hw_syntax(j, "bad escape in a string");
        }

        hw_put(dst, cap, &n, c);
    }

    if (dst != NULL) {
        dst[n < cap ? n : cap] = '\0';
    }

    *len = n;

    return 0;
}


/* one UTF-8 sequence, copied: no overlong forms, no surrogates */

static int
hw_utf8(hw_json_t *j, char *dst, size_t cap, size_t *n)
{
    size_t    i, need;
    unsigned  c, cp, min;

    c = *j->p;

    if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
        cp = c & 0x1f;
        min = 0x80;

    } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        cp = c & 0x0f;
        min = 0x800;

    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        cp = c & 0x07;
        min = 0x10000;

    } else {
        return hw_syntax(j, "invalid UTF-8");
    }

    if ((size_t) (j->end - j->p) <= need) {
        return hw_syntax(j, "invalid UTF-8");
    }

    for (i = 1; i <= need; i++) {
        if ((j->p[i] & 0xc0) != 0x80) {
            return hw_syntax(j, "invalid UTF-8");
        }

        cp = (cp << 6) | (j->p[i] & 0x3f);
    }

    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return hw_syntax(j, "invalid UTF-8");
    }

    for (i = 0; i <= need; i++) {
        hw_put(dst, cap, n, j->p[i]);
    }

    j->p += need + 1;

    return 0;
}


static int
hw_hex4(hw_json_t *j, unsigned *cp)
{
    int       i;
    unsigned  c, v;

    if (j->end - j->p < 4) {
        return hw_syntax(j, "short unicode escape");
    }

    v = 0;

    for (i = 0; i < 4; i++) {
        c = j->p[i];

        if (c >= '0' && c <= '9') {
            c -= '0';

        } else if (c >= 'a' && c <= 'f') {
            c -= 'a' - 10;

        } else if (c >= 'A' && c <= 'F') {
            c -= 'A' - 10;

        } else {
            return hw_syntax(j, "bad unicode escape");
        }

        v = (v << 4) | c;
    }

    j->p += 4;
    *cp = v;

    return 0;
}


static void
hw_put(char *dst, size_t cap, size_t *n, unsigned c)
{
    if (dst != NULL && *n < cap) {
        dst[*n] = (char) c;
    }

    (*n)++;
}


/*
 * A number by the JSON grammar.  *integer is set when it has no fraction,
 * no exponent and its value (then in *value) fits an int64_t.
 */

static int
hw_number(hw_json_t *j, int64_t *value, int *integer)
{
    int      neg, fits;
    int64_t  v, cutoff, cutlim, d;

    neg = 0;
    fits = 1;
    v = 0;
    cutoff = INT64_MAX / 10;
    cutlim = INT64_MAX % 10;

    if (*j->p == '-') {
        neg = 1;
        j->p++;
    }

    if (j->p == j->end || *j->p < '0' || *j->p > '9') {
        return hw_syntax(j, "bad number");
    }

    if (*j->p == '0') {
        j->p++;

    } else {
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
            d = *j->p++ - '0';

            if (v > cutoff || (v == cutoff && d > cutlim)) {
                fits = 0;

            } else if (fits) {
                v = v * 10 + d;
            }
        }
    }

    if (j->p < j->end && *j->p == '.') {
        j->p++;
        fits = 0;

        if (j->p == j->end || *j->p < '0' || *j->p > '9') {
            return hw_syntax(j, "bad number");
        }

        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
            j->p++;
        }
    }

    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        fits = 0;

        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) {
            j->p++;
        }

        if (j->p == j->end || *j->p < '0' || *j->p > '9') {
            return hw_syntax(j, "bad number");
        }

        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
            j->p++;
        }
    }

    *integer = fits;
    *value = neg ? -v : v;

    return 0;
}


static void
hw_ws(hw_json_t *j)
{
    while (j->p < j->end
           && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n'
               || *j->p == '\r'))
    {
        j->p++;
    }
}


static int
hw_key_is(const char *key, size_t klen, const char *name)
{
    size_t  n;

    if (key == NULL) {
        return 0;
    }

    n = strlen(name);

    return klen == n && memcmp(key, name, n) == 0;
}


static int
hw_syntax(hw_json_t *j, const char *what)
{
    if (j->err[0] == '\0') {
        snprintf(j->err, NGX_HTTP_HARBOR_WEBHOOK_ERR_LEN,
                 "invalid JSON at byte %zu: %s",
                 (size_t) (j->p - j->start), what);
    }

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
