/*
 * exec_redis.h: the executions of event-driven and on-demand replication,
 * recorded in Redis next to the queue, capped, so that
 * `harbor-replicator status` shows them (executions.jsonl keeps the
 * manual and scheduled ones; an event-driven edge may see thousands of
 * misses a day, which a file that is re-read for every id cannot take).
 *
 *   <queue>:exec:<id>     hash: json (the whole record, exec.h's schema),
 *                         status, policy, trigger, start_time; expires
 *                         after 7 days (a NotFound one after an hour), or
 *                         is deleted when its id leaves the index
 *   <queue>:executions    sorted set of ids (score: the id), the newest
 *                         HR_EXEC_REDIS_MAX kept
 *   <queue>:stats         hash of counters (HINCRBY): events, copied,
 *                         deleted, ignored_misses, failed, retried, ...
 *
 * An id is the start time in ms times 100 plus a per-process sequence, so
 * ids grow with time without asking Redis.  Writes go through the queue's
 * outbox: a record made while Redis is away is sent when it is back.
 */

#ifndef HR_EXEC_REDIS_H
#define HR_EXEC_REDIS_H

#include <jansson.h>

#include "hr.h"
#include "queue.h"

#define HR_EXEC_REDIS_MAX   1000
#define HR_EXEC_REDIS_TTL   (7 * 24 * 3600)
#define HR_EXEC_REDIS_NOTFOUND_TTL  3600
#define HR_EXEC_REDIS_SHOW  20

long long hr_exec_redis_id(unsigned *seq);

/* rec must hold "id", "status", "policy", "trigger", "start_time". */
int hr_exec_redis_put(hr_queue_t *q, json_t *rec, char *err, size_t errlen);

/* HINCRBY <queue>:stats field n */
void hr_exec_redis_count(hr_queue_t *q, const char *field, long long n);

/*
 * For `status`: connects (blocking, 2 s timeout) to addr and prints the
 * newest executions, the counters and the list lengths; json: one object
 * {"executions":[...],"stats":{...},"queue":{...}} on stdout.
 */
int hr_exec_redis_status(const char *addr, const char *queue, int json,
    char *err, size_t errlen);

#endif /* HR_EXEC_REDIS_H */
