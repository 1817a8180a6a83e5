/*
 * exec_redis.c: execution records and counters of event-driven replication
 * in Redis (see exec_redis.h).  The daemon writes through the queue's
 * outbox (async, resent after a reconnect); `status` reads with a short
 * blocking connection of its own.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "exec.h"
#include "exec_redis.h"
#include "redis_addr.h"




long long
hr_exec_redis_id(unsigned *seq)
{
    struct timeval  tv;

    gettimeofday(&tv, NULL);

    return ((long long) tv.tv_sec * 1000 + tv.tv_usec / 1000) * 100
           + (long long) ((*seq)++ % 100);
}


int
hr_exec_redis_put(hr_queue_t *q, json_t *rec, char *err, size_t errlen)
{
    char         key[512], idx[512], id[32], ttl[32], start[32], rank[32];
    char        *text;
    const char  *argv[12], *status, *policy, *trigger;
    size_t       argvlen[12];
    int          i, rc;

    snprintf(id, sizeof(id), "%lld",
             (long long) json_integer_value(json_object_get(rec, "id")));
    snprintf(start, sizeof(start), "%lld",
             (long long) json_integer_value(json_object_get(rec,
                                                            "start_time")));
    status = json_string_value(json_object_get(rec, "status"));
    policy = json_string_value(json_object_get(rec, "policy"));
    trigger = json_string_value(json_object_get(rec, "trigger"));

    snprintf(key, sizeof(key), "%s:exec:%s", hr_queue_name(q), id);
    snprintf(idx, sizeof(idx), "%s:executions", hr_queue_name(q));

    text = json_dumps(rec, JSON_COMPACT);
    if (text == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    argv[0] = "HSET";
    argv[1] = key;
    argv[2] = "json";
    argv[3] = text;
    argv[4] = "status";
    argv[5] = status ? status : "";
    argv[6] = "policy";
    argv[7] = policy ? policy : "";
    argv[8] = "trigger";
    argv[9] = trigger ? trigger : "";
    argv[10] = "start_time";
    argv[11] = start;

    for (i = 0; i < 12; i++) {
        argvlen[i] = strlen(argv[i]);
    }

    rc = hr_queue_command(q, 1, 12, argv, argvlen);
    free(text);

    /* a name the primary does not have: worth an hour, not a week */
    snprintf(ttl, sizeof(ttl), "%d",
             status != NULL && strcmp(status, "NotFound") == 0
             ? HR_EXEC_REDIS_NOTFOUND_TTL : HR_EXEC_REDIS_TTL);
    argv[0] = "EXPIRE";
    argv[1] = key;
    argv[2] = ttl;

    for (i = 0; i < 3; i++) {
        argvlen[i] = strlen(argv[i]);
    }

    rc |= hr_queue_command(q, 1, 3, argv, argvlen);

    argv[0] = "ZADD";
    argv[1] = idx;
    argv[2] = id;
    argv[3] = id;

    for (i = 0; i < 4; i++) {
        argvlen[i] = strlen(argv[i]);
    }

    rc |= hr_queue_command(q, 1, 4, argv, argvlen);

    /* the cap: keep the newest, and delete the hashes of the others */
    snprintf(rank, sizeof(rank), "-%d", HR_EXEC_REDIS_MAX + 1);
    snprintf(key, sizeof(key), "%s:exec:", hr_queue_name(q));
    argv[0] = "EVAL";
    argv[1] = "local old = redis.call('ZRANGE', KEYS[1], 0, ARGV[1]) "
              "for _, id in ipairs(old) do "
              "redis.call('DEL', ARGV[2] .. id) end "
              "redis.call('ZREMRANGEBYRANK', KEYS[1], 0, ARGV[1]) "
              "return #old";
    argv[2] = "1";
    argv[3] = idx;
    argv[4] = rank;
    argv[5] = key;

    for (i = 0; i < 6; i++) {
        argvlen[i] = strlen(argv[i]);
    }

    rc |= hr_queue_command(q, 1, 6, argv, argvlen);

    if (rc != 0) {
        snprintf(err, errlen, "execution %s not recorded in Redis: outbox "
                 "full or out of memory", id);
        return -1;
    }

    return 0;
}


void
hr_exec_redis_count(hr_queue_t *q, const char *field, long long n)
{
    char         key[512], num[32];
    const char  *argv[4];
    size_t       argvlen[4];
    int          i;

    snprintf(key, sizeof(key), "%s:stats", hr_queue_name(q));
    snprintf(num, sizeof(num), "%lld", n);

    argv[0] = "HINCRBY";
    argv[1] = key;
    argv[2] = field;
    argv[3] = num;

    for (i = 0; i < 4; i++) {
        argvlen[i] = strlen(argv[i]);
    }

    (void) hr_queue_command(q, 1, 4, argv, argvlen);
}




int
hr_exec_redis_status(const char *addr, const char *queue, int json,
    char *err, size_t errlen)
{
    int            rc;
    char           key[512], *text;
    size_t         i;
    json_t        *out, *execs, *stats, *lists, *rec;
    redisReply    *r, *h;
    redisContext  *c;
    const char    *suffix[] = { "", ":processing", ":failed" };
    const char    *names[] = { "waiting", "processing", "failed" };

    c = hr_redis_connect(addr, 2000, err, errlen);
    if (c == NULL) {
        return -1;
    }

    rc = -1;
    out = json_object();
    execs = json_array();
    stats = json_object();
    lists = json_object();

    if (out == NULL || execs == NULL || stats == NULL || lists == NULL) {
        snprintf(err, errlen, "out of memory");
        json_decref(execs);
        json_decref(stats);
        json_decref(lists);
        goto done;
    }

    json_object_set_new(out, "executions", execs);
    json_object_set_new(out, "stats", stats);
    json_object_set_new(out, "queue", lists);

    snprintf(key, sizeof(key), "%s:executions", queue);
    r = redisCommand(c, "ZREVRANGE %s 0 %d", key, HR_EXEC_REDIS_SHOW - 1);

    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "redis %s: ZREVRANGE: %s", addr,
                 r ? (r->type == REDIS_REPLY_ERROR ? r->str : "not an array")
                   : c->errstr);
        freeReplyObject(r);
        goto done;
    }

    /* oldest first, as executions.jsonl is printed */
    for (i = r->elements; i > 0; i--) {
        if (r->element[i - 1]->type != REDIS_REPLY_STRING) {
            continue;
        }

        snprintf(key, sizeof(key), "%s:exec:%s", queue,
                 r->element[i - 1]->str);
        h = redisCommand(c, "HGET %s json", key);

        if (h != NULL && h->type == REDIS_REPLY_STRING) {
            rec = json_loadb(h->str, h->len, 0, NULL);

            if (json_is_object(rec)) {
                json_array_append_new(execs, rec);

            } else {
                json_decref(rec);
            }
        }

        freeReplyObject(h);
    }

    freeReplyObject(r);

    snprintf(key, sizeof(key), "%s:stats", queue);
    r = redisCommand(c, "HGETALL %s", key);

    if (r != NULL && r->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i + 1 < r->elements; i += 2) {
            json_object_set_new(stats, r->element[i]->str,
                                json_integer(strtoll(r->element[i + 1]->str,
                                                     NULL, 10)));
        }
    }

    freeReplyObject(r);

    for (i = 0; i < 3; i++) {
        snprintf(key, sizeof(key), "%s%s", queue, suffix[i]);
        r = redisCommand(c, "LLEN %s", key);

        if (r != NULL && r->type == REDIS_REPLY_INTEGER) {
            json_object_set_new(lists, names[i], json_integer(r->integer));
        }

        freeReplyObject(r);
    }

    if (json) {
        text = json_dumps(out, JSON_INDENT(2));
        if (text == NULL) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }

        printf("%s\n", text);
        free(text);

    } else {
        printf("events: queue %s in redis %s: %lld waiting, %lld processing, "
               "%lld failed\n", queue, addr,
               (long long) json_integer_value(json_object_get(lists,
                                                              "waiting")),
               (long long) json_integer_value(json_object_get(lists,
                                                              "processing")),
               (long long) json_integer_value(json_object_get(lists,
                                                              "failed")));

        {
            const char  *k;
            json_t      *v;

            printf("events:");

            json_object_foreach(stats, k, v) {
                printf(" %s %lld", k, (long long) json_integer_value(v));
            }

            printf("\n");
        }

        json_array_foreach(execs, i, rec) {
            hr_exec_print(rec);
        }
    }

    rc = 0;

done:

    json_decref(out);
    redisFree(c);

    return rc;
}
