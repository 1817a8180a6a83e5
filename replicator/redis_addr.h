/*
 * redis_addr.h: the one parser of the "redis" setting ("unix:/PATH" or
 * "HOST:PORT", "[v6]:PORT"), shared by the config check, the event queue,
 * the execution records and the metrics command, and a blocking connect
 * for the one-shot commands (status, metrics) that have no event loop.
 */

#ifndef HR_REDIS_ADDR_H
#define HR_REDIS_ADDR_H

#include <stddef.h>

#include <hiredis/hiredis.h>

typedef struct {
    int   unix_socket;      /* 1: path is set; 0: host and port are */
    char  path[108];        /* sizeof(sun_path) */
    char  host[256];        /* without the brackets of "[v6]" */
    int   port;             /* 1-65535 */
} hr_redis_addr_t;

/* Returns 0, or -1 with err naming what is wrong with s. */
int hr_redis_addr_parse(hr_redis_addr_t *a, const char *s, char *err,
    size_t errlen);

/*
 * A blocking connection with a connect and command timeout of timeout_ms;
 * NULL with err filled on failure.  Only for commands that run once and
 * exit: the daemon talks to Redis on its loop (loop_redis.h).
 */
redisContext *hr_redis_connect(const char *s, int timeout_ms, char *err,
    size_t errlen);

#endif /* HR_REDIS_ADDR_H */
