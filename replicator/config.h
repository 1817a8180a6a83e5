/*
 * config.h: the replicator's configuration, one JSON file loaded with
 * jansson.  Policies are in exactly Harbor's replication policy model, so a
 * policy exported from GET /api/v2.0/replication/policies loads as it is.
 *
 * Unknown keys are ignored.  A key of the wrong type, an unknown filter type,
 * a bad pattern or a bad cron expression is an error whose message names the
 * JSON path, e.g. "policies[2].filters[0].type: unknown filter type \"foo\"".
 * Harbor omits false and empty values from its output, so a missing key is
 * its zero value unless noted.
 */

#ifndef HR_CONFIG_H
#define HR_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cron.h"

#define HR_ERR_LEN  512

typedef struct {
    char       *url;            /* scheme://host[:port], no trailing '/' */
    char       *username;       /* NULL: anonymous; "robot$edge" works */
    char       *password;       /* "password", or read from "password_file" */
    char       *ca_file;        /* NULL: system CAs */
    char       *ca_pem;         /* PEM text: a src_registry's
                                   "ca_certificate" (CURLOPT_CAINFO_BLOB) */
    int         insecure;       /* skip TLS verification */
    char       *type;           /* "harbor", "docker-registry", NULL: detect */
} hr_registry_conf_t;

typedef enum {
    HR_FILTER_NAME = 0,
    HR_FILTER_TAG,
    HR_FILTER_LABEL,
    HR_FILTER_RESOURCE
} hr_filter_type_e;

typedef struct {
    hr_filter_type_e    type;
    int                 excludes;   /* decoration "excludes" (tag, label) */
    char               *value;      /* pattern (name, tag), type (resource) */
    char              **labels;     /* label: the names, all must be present */
    size_t              nlabels;
} hr_filter_t;

typedef enum {
    HR_TRIGGER_MANUAL = 0,
    HR_TRIGGER_SCHEDULED,
    HR_TRIGGER_EVENT
} hr_trigger_e;

typedef struct {
    int64_t              id;
    char                *name;
    char                *description;
    int                  enabled;       /* missing: false, as Harbor omits it */
    int                  deletion;      /* "deletion" or "replicate_deletion" */
    int                  override;
    int64_t              speed;         /* Kbit/s, 0 unlimited, bytes/s *128 */
    char                *dest_namespace;             /* NULL or "" : keep */
    int                  dest_namespace_replace_count; /* missing: -1 */
    hr_trigger_e         trigger;
    char                *cron;          /* scheduled only */
    hr_cron_t            cron_parsed;
    hr_filter_t         *filters;
    size_t               nfilters;
    hr_registry_conf_t  *src;           /* "src_registry" if present, or NULL:
                                           the primary */
    int                  copy_by_chunk;
    int                  single_active_replication;
} hr_policy_t;

typedef struct {
    char                *store_root;    /* "storage": {"root": ...} */
    char                *store_group;   /* "storage": {"group": ...} or NULL */
    char                *state_dir;     /* default <root>/_harbor_edge */
    hr_registry_conf_t   primary;       /* "primary" */
    char                *redis;         /* "unix:PATH", "HOST:PORT" or NULL */
    char                *redis_queue;   /* "redis_queue": the event list,
                                           NULL: queue.h's harbor:events */
    int                  concurrency;   /* parallel transfers, 1-64, def. 4 */
    char                *log_level;     /* "debug" "info" "warn" "error" */
    char                *log_file;      /* "log_file": reopened on SIGUSR1;
                                           NULL: stderr (systemd's journal) */
    char               **warnings;      /* unknown keys, by JSON path */
    size_t               nwarnings;
    hr_policy_t         *policies;
    size_t               npolicies;
    char               **fill_repos;    /* "fill": {"repositories": [...]}:
                                           doublestar patterns on the
                                           repository; NULL: any */
    size_t               nfill_repos;
    long long            cache_max;     /* "cache": {"max_bytes"}: blob
                                           bytes of the store; 0: none */
    double               cache_low;     /* "low_water", default 0.9 */
    int                  cache_interval;  /* "interval" s, default 30 */
    long long            scrub_rate;    /* "scrub": {"bytes_per_second"},
                                           0: no limit */
    int                  scrub_interval;  /* "interval" s between the
                                           daemon's passes; 0: no scrub */
    int                  refs;          /* hr_config_open()'s holders */
} hr_config_t;

/* Both return 0, or -1 with err filled; cf is always safe to free. */
int hr_config_load(hr_config_t *cf, const char *path, char *err,
    size_t errlen);
int hr_config_parse(hr_config_t *cf, const char *json, size_t len,
    char *err, size_t errlen);
void hr_config_free(hr_config_t *cf);

/*
 * A configuration on the heap, held once; the jobs that run under it hold
 * it too, so a reload can put a new one in place while they finish.
 */
hr_config_t *hr_config_open(const char *path, char *err, size_t errlen);
hr_config_t *hr_config_hold(hr_config_t *cf);
void hr_config_release(hr_config_t *cf);

/*
 * A byte count from JSON: an integer, or a string with a unit ("50GiB",
 * "500MB"); -1 when it is not one.
 */
long long hr_config_bytes(json_t *v);

/* config_keys.c: a warning in cf->warnings for each unknown key. */
void hr_config_check_keys(hr_config_t *cf, json_t *root);
void hr_config_free_warnings(hr_config_t *cf);

/* The policy named name, or NULL. */
hr_policy_t *hr_config_policy(hr_config_t *cf, const char *name);

#endif /* HR_CONFIG_H */
