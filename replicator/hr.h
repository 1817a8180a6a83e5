/*
 * hr.h: the replicator's context, passed to everything that needs more than
 * its arguments.  There are no globals: a test builds a context, uses it
 * and frees it, and the daemon builds a new one on SIGHUP.
 */

#ifndef HR_H
#define HR_H

#include "config.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "store.h"

#define HR_VERSION  "0.1.0"

typedef struct {
    hr_config_t   cf;
    const char   *conf_path;
    hr_log_t      log;
    hr_loop_t    *loop;
    hr_http_t    *http;
    hr_store_t    store;
    int           dry_run;
    int           lease_fd;     /* shared flock on the gc lease, -1: none */
} hr_ctx_t;

#endif /* HR_H */
