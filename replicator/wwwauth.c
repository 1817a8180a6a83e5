/*
 * wwwauth.c: the WWW-Authenticate parser, RFC 7235 section 4.1 and the
 * list rules of RFC 7230 section 7.
 *
 * A registry's 401 carries one or more challenges, each a scheme followed
 * by auth-params (name=token or name="quoted string") or by a token68.
 * Values may hold commas, spaces and backslash escapes inside quotes, so the
 * value is never split naively.  Several challenges may share one header
 * ("Bearer realm=..., Basic realm=..."): a new challenge starts where a
 * token is not followed by '='.  The first Bearer challenge wins, else the
 * first Basic one.  Parameters other than realm, service, scope and error
 * are ignored; scope may repeat, and the scopes are joined with spaces.
 * A Bearer challenge without a realm cannot be answered and is refused.
 */

#include <string.h>

#include "wwwauth.h"


typedef struct {
    const char  *p;
    size_t       len;
    size_t       i;
} hr_wa_scan_t;


static int hr_wa_tchar(int c);
static int hr_wa_vchar(int c);
static void hr_wa_ows(hr_wa_scan_t *s);
static size_t hr_wa_token(hr_wa_scan_t *s);
static int hr_wa_value(hr_wa_scan_t *s, char *out, size_t outlen,
    size_t *outpos);
static int hr_wa_token68(hr_wa_scan_t *s);
static int hr_wa_bare_eq(hr_wa_scan_t *s);
static int hr_wa_ieq(const char *a, size_t alen, const char *b);
static int hr_wa_challenge(hr_wa_scan_t *s, hr_wwwauth_t *wa);


/* RFC 7230 tchar */
static int
hr_wa_tchar(int c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9'))
    {
        return 1;
    }

    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}


/*
 * An unquoted value: RFC 7235 says token, but registries send bare URLs
 * (realm=https://...), so any visible character but ',', '"' and '\\'.
 */
static int
hr_wa_vchar(int c)
{
    return c > 0x20 && c < 0x7f && c != ',' && c != '"' && c != '\\';
}


static void
hr_wa_ows(hr_wa_scan_t *s)
{
    while (s->i < s->len && (s->p[s->i] == ' ' || s->p[s->i] == '\t')) {
        s->i++;
    }
}


static size_t
hr_wa_token(hr_wa_scan_t *s)
{
    size_t  start;

    start = s->i;

    while (s->i < s->len && hr_wa_tchar((unsigned char) s->p[s->i])) {
        s->i++;
    }

    return s->i - start;
}


/*
 * A token or a quoted-string, unescaped into out (NULL: skip it).  The
 * value is appended at *outpos; -1 when it is malformed or does not fit.
 */
static int
hr_wa_value(hr_wa_scan_t *s, char *out, size_t outlen, size_t *outpos)
{
    unsigned char  c;

    if (s->i >= s->len) {
        return -1;
    }

    if (s->p[s->i] != '"') {
        if (!hr_wa_vchar((unsigned char) s->p[s->i])) {
            return -1;
        }

        while (s->i < s->len && hr_wa_vchar((unsigned char) s->p[s->i])) {
            if (out != NULL) {
                if (*outpos + 1 >= outlen) {
                    return -1;
                }
                out[(*outpos)++] = s->p[s->i];
            }
            s->i++;
        }

        if (out != NULL) {
            out[*outpos] = '\0';
        }

        return 0;
    }

    s->i++;

    for ( ;; ) {
        if (s->i >= s->len) {
            return -1;                  /* unterminated */
        }

        c = (unsigned char) s->p[s->i++];

        if (c == '"') {
            break;
        }

        if (c == '\\') {
            if (s->i >= s->len) {
                return -1;
            }
            c = (unsigned char) s->p[s->i++];
        }

        /* qdtext and quoted-pair: HTAB, SP, VCHAR, obs-text */
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return -1;
        }

        if (out != NULL) {
            if (*outpos + 1 >= outlen) {
                return -1;
            }
            out[(*outpos)++] = (char) c;
        }
    }

    if (out != NULL) {
        out[*outpos] = '\0';
    }

    return 0;
}


/* token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
static int
hr_wa_token68(hr_wa_scan_t *s)
{
    int     c;
    size_t  start;

    start = s->i;

    while (s->i < s->len) {
        c = (unsigned char) s->p[s->i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || strchr("-._~+/", c) != NULL)
        {
            s->i++;
            continue;
        }
        break;
    }

    if (s->i == start) {
        return -1;
    }

    while (s->i < s->len && s->p[s->i] == '=') {
        s->i++;
    }

    hr_wa_ows(s);

    return (s->i == s->len || s->p[s->i] == ',') ? 0 : -1;
}


/* At '=': true when only more '=', then the end or ',' follow (token68). */
static int
hr_wa_bare_eq(hr_wa_scan_t *s)
{
    size_t  i, neq;

    for (i = s->i; i < s->len && s->p[i] == '='; i++) {
        /* void */
    }

    neq = i - s->i;

    while (i < s->len && (s->p[i] == ' ' || s->p[i] == '\t')) {
        i++;
    }

    return i == s->len || s->p[i] == ',' || neq > 1;
}


static int
hr_wa_ieq(const char *a, size_t alen, const char *b)
{
    size_t  i;

    for (i = 0; i < alen; i++) {
        if (b[i] == '\0' || (a[i] | 0x20) != b[i]) {
            return 0;
        }
    }

    return b[alen] == '\0';
}


/*
 * The params of one challenge, the scheme already read; stops before the
 * scheme of the next challenge or at the end.  wa NULL: parse and drop.
 */
static int
hr_wa_challenge(hr_wa_scan_t *s, hr_wwwauth_t *wa)
{
    char         *out;
    size_t        nlen, save, outlen, pos;
    const char   *name;

    hr_wa_ows(s);

    /* a token68 instead of params ("Basic dXNlcjpw", "Negotiate abc==") */
    if (s->i < s->len && s->p[s->i] != ',') {
        save = s->i;
        nlen = hr_wa_token(s);
        hr_wa_ows(s);

        if (nlen == 0 || s->i >= s->len || s->p[s->i] != '='
            || hr_wa_bare_eq(s))
        {
            s->i = save;
            if (hr_wa_token68(s) != 0) {
                return -1;
            }
        } else {
            s->i = save;
        }
    }

    for ( ;; ) {
        /* empty list elements are allowed: ", ," */
        for ( ;; ) {
            hr_wa_ows(s);
            if (s->i < s->len && s->p[s->i] == ',') {
                s->i++;
                continue;
            }
            break;
        }

        if (s->i >= s->len) {
            return 0;
        }

        save = s->i;
        name = s->p + s->i;
        nlen = hr_wa_token(s);
        if (nlen == 0) {
            return -1;
        }

        hr_wa_ows(s);

        if (s->i >= s->len || s->p[s->i] != '=') {
            /* the scheme of the next challenge */
            s->i = save;
            return 0;
        }

        s->i++;
        hr_wa_ows(s);

        out = NULL;
        outlen = 0;
        pos = 0;

        if (wa != NULL) {
            if (hr_wa_ieq(name, nlen, "realm")) {
                out = wa->realm;
                outlen = sizeof(wa->realm);

            } else if (hr_wa_ieq(name, nlen, "service")) {
                out = wa->service;
                outlen = sizeof(wa->service);

            } else if (hr_wa_ieq(name, nlen, "error")) {
                out = wa->error;
                outlen = sizeof(wa->error);

            } else if (hr_wa_ieq(name, nlen, "scope")) {
                out = wa->scope;
                outlen = sizeof(wa->scope);
                pos = strlen(wa->scope);

                if (pos > 0) {
                    if (pos + 1 >= outlen) {
                        return -1;
                    }
                    out[pos++] = ' ';
                    out[pos] = '\0';
                }
            }
        }

        if (hr_wa_value(s, out, outlen, &pos) != 0) {
            return -1;
        }

        hr_wa_ows(s);

        if (s->i < s->len && s->p[s->i] != ',') {
            return -1;
        }
    }
}


int
hr_wwwauth_parse(hr_wwwauth_t *wa, const char *value, size_t len)
{
    int            have;
    size_t         nlen;
    const char    *scheme;
    hr_wwwauth_t   cur;
    hr_wa_scan_t   s;

    memset(wa, 0, sizeof(hr_wwwauth_t));

    if (value == NULL) {
        return -1;
    }

    s.p = value;
    s.len = len;
    s.i = 0;
    have = HR_AUTH_NONE;

    for ( ;; ) {
        for ( ;; ) {
            hr_wa_ows(&s);
            if (s.i < s.len && s.p[s.i] == ',') {
                s.i++;
                continue;
            }
            break;
        }

        if (s.i >= s.len) {
            break;
        }

        scheme = s.p + s.i;
        nlen = hr_wa_token(&s);
        if (nlen == 0) {
            goto failed;
        }

        /* the scheme must be followed by white space, ',' or the end */
        if (s.i < s.len && s.p[s.i] != ' ' && s.p[s.i] != '\t'
            && s.p[s.i] != ',')
        {
            goto failed;
        }

        memset(&cur, 0, sizeof(hr_wwwauth_t));

        if (hr_wa_ieq(scheme, nlen, "bearer")) {
            cur.scheme = HR_AUTH_BEARER;

        } else if (hr_wa_ieq(scheme, nlen, "basic")) {
            cur.scheme = HR_AUTH_BASIC;
        }

        if (hr_wa_challenge(&s, cur.scheme != HR_AUTH_NONE ? &cur : NULL)
            != 0)
        {
            goto failed;
        }

        if (cur.scheme == HR_AUTH_BEARER && have != HR_AUTH_BEARER) {
            *wa = cur;
            have = HR_AUTH_BEARER;

        } else if (cur.scheme == HR_AUTH_BASIC && have == HR_AUTH_NONE) {
            *wa = cur;
            have = HR_AUTH_BASIC;
        }
    }

    if (have == HR_AUTH_NONE
        || (have == HR_AUTH_BEARER && wa->realm[0] == '\0'))
    {
        goto failed;
    }

    return 0;

failed:

    /* a challenge taken before the bad part must not be used */
    memset(wa, 0, sizeof(hr_wwwauth_t));
    return -1;
}
