/*
 * config_keys.c: every key the configuration knows, so that a misspelt one
 * ("concurency", "polices") is reported by its JSON path instead of being
 * ignored without a word.  An unknown key is a warning, not an error: a
 * policy copied from a newer Harbor may carry fields this version has no
 * use for.  The parsers in config.c read the values; this only names them.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"


#define HR_KEYS_MAX_WARNINGS  32


/* a NULL-terminated list of the keys of one object */
static const char  *hr_keys_top[] = {
    "storage", "state_dir", "primary", "redis", "redis_queue",
    "concurrency", "log_level", "log_file", "fill", "cache", "scrub",
    "policies", NULL
};

static const char  *hr_keys_storage[] = { "root", "group", NULL };

static const char  *hr_keys_primary[] = {
    "url", "username", "password", "password_file", "ca_file", "insecure",
    "type", NULL
};

static const char  *hr_keys_fill[] = { "repositories", NULL };

static const char  *hr_keys_cache[] = {
    "max_bytes", "low_water", "interval", NULL
};

/* Harbor's ReplicationPolicy, Registry, credential, trigger and filter */
static const char  *hr_keys_policy[] = {
    "id", "name", "description", "src_registry", "dest_registry",
    "dest_namespace", "dest_namespace_replace_count", "trigger", "filters",
    "replicate_deletion", "deletion", "override", "enabled",
    "creation_time", "update_time", "speed", "copy_by_chunk",
    "single_active_replication", NULL
};

static const char  *hr_keys_registry[] = {
    "id", "url", "name", "credential", "type", "insecure", "ca_certificate",
    "description", "status", "creation_time", "update_time", NULL
};

static const char  *hr_keys_credential[] = {
    "type", "access_key", "access_secret", NULL
};

/* "kind": Harbor's legacy name of "type" */
static const char  *hr_keys_trigger[] = {
    "type", "kind", "trigger_settings", NULL
};

static const char  *hr_keys_trigger_settings[] = { "cron", NULL };

static const char  *hr_keys_filter[] = {
    "type", "kind", "value", "pattern", "decoration", NULL
};


static void hr_keys_object(hr_config_t *cf, json_t *obj, const char *path,
    const char **known);
static void hr_keys_warn(hr_config_t *cf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


static void
hr_keys_warn(hr_config_t *cf, const char *fmt, ...)
{
    char     *w, **ws;
    va_list   args;

    if (cf->nwarnings >= HR_KEYS_MAX_WARNINGS) {
        return;
    }

    ws = realloc(cf->warnings, (cf->nwarnings + 1) * sizeof(char *));
    if (ws == NULL) {
        return;
    }

    cf->warnings = ws;

    va_start(args, fmt);
    if (vasprintf(&w, fmt, args) == -1) {
        w = NULL;
    }
    va_end(args);

    if (w != NULL) {
        cf->warnings[cf->nwarnings++] = w;
    }
}


static void
hr_keys_object(hr_config_t *cf, json_t *obj, const char *path,
    const char **known)
{
    size_t       i;
    json_t      *v;
    const char  *key;

    if (!json_is_object(obj)) {
        return;
    }

    json_object_foreach(obj, key, v) {
        for (i = 0; known[i] != NULL; i++) {
            if (strcmp(known[i], key) == 0) {
                break;
            }
        }

        if (known[i] == NULL) {
            hr_keys_warn(cf, "%s%s%.100s: unknown key, ignored", path,
                         path[0] ? "." : "", key);
        }
    }
}


void
hr_config_check_keys(hr_config_t *cf, json_t *root)
{
    char     path[128], sub[192];
    size_t   i, j;
    json_t  *p, *o, *f;

    hr_keys_object(cf, root, "", hr_keys_top);
    hr_keys_object(cf, json_object_get(root, "storage"), "storage",
                   hr_keys_storage);
    hr_keys_object(cf, json_object_get(root, "primary"), "primary",
                   hr_keys_primary);
    hr_keys_object(cf, json_object_get(root, "fill"), "fill", hr_keys_fill);
    hr_keys_object(cf, json_object_get(root, "cache"), "cache",
                   hr_keys_cache);

    /* "scrub" is read (and checked) by its own parser */

    json_array_foreach(json_object_get(root, "policies"), i, p) {
        snprintf(path, sizeof(path), "policies[%zu]", i);
        hr_keys_object(cf, p, path, hr_keys_policy);

        o = json_object_get(p, "trigger");
        snprintf(sub, sizeof(sub), "%s.trigger", path);
        hr_keys_object(cf, o, sub, hr_keys_trigger);

        snprintf(sub, sizeof(sub), "%s.trigger.trigger_settings", path);
        hr_keys_object(cf, json_object_get(o, "trigger_settings"), sub,
                       hr_keys_trigger_settings);

        o = json_object_get(p, "src_registry");
        snprintf(sub, sizeof(sub), "%s.src_registry", path);
        hr_keys_object(cf, o, sub, hr_keys_registry);

        snprintf(sub, sizeof(sub), "%s.src_registry.credential", path);
        hr_keys_object(cf, json_object_get(o, "credential"), sub,
                       hr_keys_credential);

        json_array_foreach(json_object_get(p, "filters"), j, f) {
            snprintf(sub, sizeof(sub), "%s.filters[%zu]", path, j);
            hr_keys_object(cf, f, sub, hr_keys_filter);
        }
    }
}


void
hr_config_free_warnings(hr_config_t *cf)
{
    size_t  i;

    for (i = 0; i < cf->nwarnings; i++) {
        free(cf->warnings[i]);
    }

    free(cf->warnings);
    cf->warnings = NULL;
    cf->nwarnings = 0;
}
