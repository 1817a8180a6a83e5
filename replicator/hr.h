/*
 * hr.h: the replicator's context, passed to everything that needs more than
 * its arguments.  There are no globals: a test builds a context, uses it
 * and frees it.  The configuration is shared: a job holds the one it
 * started under (hr_config_hold()), and a reload (SIGHUP) swaps in a new
 * one for the jobs that start after it.
 */

#ifndef HR_H
#define HR_H

#include "auth.h"
#include "config.h"
#include "engine.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "store.h"

#define HR_VERSION  "0.2.0"

typedef struct {
    hr_config_t   *cf;
    const char    *conf_path;
    hr_log_t       log;
    hr_loop_t     *loop;
    hr_http_t     *http;
    hr_engine_t   *engine;
    hr_auth_cache_t  auth;      /* tokens, shared by the jobs */
    hr_store_t     store;
    int            dry_run;
} hr_ctx_t;

#endif /* HR_H */
