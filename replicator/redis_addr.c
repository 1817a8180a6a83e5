/*
 * redis_addr.c: parses the "redis" setting once, strictly (an absolute
 * unix path that fits sun_path, or a host and a decimal port of 1-65535
 * with nothing after it), so every user of the address agrees on it.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "redis_addr.h"


int
hr_redis_addr_parse(hr_redis_addr_t *a, const char *s, char *err,
    size_t errlen)
{
    long         port;
    char        *end;
    size_t       len;
    const char  *colon, *host;

    memset(a, 0, sizeof(hr_redis_addr_t));

    if (strncmp(s, "unix:", 5) == 0) {
        len = strlen(s + 5);

        if (s[5] != '/' || len >= sizeof(a->path)) {
            snprintf(err, errlen, "redis: \"%.200s\": unix: needs an "
                     "absolute path of at most %zu bytes", s,
                     sizeof(a->path) - 1);
            return -1;
        }

        memcpy(a->path, s + 5, len + 1);
        a->unix_socket = 1;
        return 0;
    }

    colon = strrchr(s, ':');

    if (colon == NULL || colon == s || colon[1] < '0' || colon[1] > '9') {
        snprintf(err, errlen, "redis: \"%.200s\" is not unix:/PATH or "
                 "HOST:PORT", s);
        return -1;
    }

    errno = 0;
    port = strtol(colon + 1, &end, 10);

    if (errno != 0 || *end != '\0' || port < 1 || port > 65535) {
        snprintf(err, errlen, "redis: \"%.200s\": bad port", s);
        return -1;
    }

    host = s;
    len = colon - s;

    /* [::1]:6379 */
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }

    if (len == 0 || len >= sizeof(a->host)) {
        snprintf(err, errlen, "redis: \"%.200s\": bad host", s);
        return -1;
    }

    memcpy(a->host, host, len);
    a->host[len] = '\0';
    a->port = (int) port;

    return 0;
}


redisContext *
hr_redis_connect(const char *s, int timeout_ms, char *err, size_t errlen)
{
    redisContext     *c;
    struct timeval    tv;
    hr_redis_addr_t   a;

    if (hr_redis_addr_parse(&a, s, err, errlen) != 0) {
        return NULL;
    }

    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;

    if (a.unix_socket) {
        c = redisConnectUnixWithTimeout(a.path, tv);

    } else {
        c = redisConnectWithTimeout(a.host, a.port, tv);
    }

    if (c == NULL) {
        snprintf(err, errlen, "redis: out of memory");
        return NULL;
    }

    if (c->err) {
        snprintf(err, errlen, "redis: connect to %.200s: %s", s, c->errstr);
        redisFree(c);
        return NULL;
    }

    if (redisSetTimeout(c, tv) != REDIS_OK) {
        snprintf(err, errlen, "redis: %.200s: cannot set a timeout", s);
        redisFree(c);
        return NULL;
    }

    return c;
}
