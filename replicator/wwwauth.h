/*
 * wwwauth.h: parser of the WWW-Authenticate challenge a registry answers
 * with (RFC 7235 auth-params: token or quoted-string values, backslash
 * escapes, any order, case-insensitive names).  Pure: no allocation.
 */

#ifndef HR_WWWAUTH_H
#define HR_WWWAUTH_H

#include <stddef.h>

typedef enum {
    HR_AUTH_NONE = 0,
    HR_AUTH_BASIC,
    HR_AUTH_BEARER
} hr_auth_scheme_e;

typedef struct {
    hr_auth_scheme_e  scheme;
    char              realm[1024];
    char              service[256];
    char              scope[1024];  /* may hold several, space-separated */
    char              error[64];    /* error="insufficient_scope" ... */
} hr_wwwauth_t;

/*
 * Parses one header value.  Returns 0, or -1 when it is malformed, a value
 * does not fit its field, or the scheme is neither Basic nor Bearer.
 */
int hr_wwwauth_parse(hr_wwwauth_t *wa, const char *value, size_t len);

#endif /* HR_WWWAUTH_H */
