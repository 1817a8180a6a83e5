/*
 * config.c: the replicator's JSON configuration, loaded with jansson.
 *
 * The policies are Harbor's replication policy objects exactly as
 * GET /api/v2.0/replication/policies returns them, so the loader reads
 * Harbor's model (docs/facts.md: Replication policies, Filters, Scheduled
 * triggers) and checks what Harbor's API checks:
 * a known trigger type, a cron Harbor accepts, known filter types, a
 * decoration only on tag and label filters, string or string-array values,
 * well-formed patterns, a valid dest_namespace.  Harbor omits false and
 * empty values, so a missing key is its zero value; JSON null is the same.
 * Fields the edge has no use for (dest_registry, creation_time, status...)
 * are ignored.  Every error names its JSON path, so a user can find the bad
 * key in a file of many policies.
 *
 * A src_registry in Harbor's output has its secret masked as "*****"; the
 * real one must then come from the edge's own "primary" section.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "match.h"
#include "policy.h"
#include "redis_addr.h"


#define HR_CONFIG_MAX_SIZE    (16 * 1024 * 1024)
#define HR_PASSWORD_MAX       4096
#define HR_PATH_LEN           128
#define HR_MASKED_SECRET      "*****"


static void hr_cerr(char *err, size_t errlen, const char *path,
    const char *key, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int hr_get_str(json_t *obj, const char *key, const char *path,
    char **out, int required, char *err, size_t errlen);
static int hr_get_bool(json_t *obj, const char *key, const char *path,
    int *out, char *err, size_t errlen);
static int hr_get_int(json_t *obj, const char *key, const char *path,
    int64_t *out, int *present, char *err, size_t errlen);
static int hr_get_obj(json_t *obj, const char *key, const char *path,
    json_t **out, int required, char *err, size_t errlen);
static int hr_check_url(char *url, const char *path, const char *key,
    char *err, size_t errlen);
static int hr_read_secret(const char *file, char **out, const char *path,
    char *err, size_t errlen);
static int hr_parse_primary(hr_config_t *cf, json_t *obj, char *err,
    size_t errlen);
static int hr_parse_src(hr_config_t *cf, hr_policy_t *p, json_t *obj,
    const char *path, char *err, size_t errlen);
static int hr_parse_trigger(hr_policy_t *p, json_t *obj, const char *path,
    char *err, size_t errlen);
static int hr_parse_filter(hr_filter_t *f, json_t *obj, const char *path,
    char *err, size_t errlen);
static int hr_parse_policy(hr_config_t *cf, hr_policy_t *p, json_t *obj,
    const char *path, char *err, size_t errlen);
static void hr_registry_free(hr_registry_conf_t *r);
static void hr_policy_free(hr_policy_t *p);


static void
hr_cerr(char *err, size_t errlen, const char *path, const char *key,
    const char *fmt, ...)
{
    int      n;
    va_list  args;

    if (path != NULL && path[0] != '\0' && key != NULL) {
        n = snprintf(err, errlen, "%s.%s: ", path, key);

    } else if (key != NULL) {
        n = snprintf(err, errlen, "%s: ", key);

    } else if (path != NULL && path[0] != '\0') {
        n = snprintf(err, errlen, "%s: ", path);

    } else {
        n = 0;
    }

    if (n < 0 || (size_t) n >= errlen) {
        return;
    }

    va_start(args, fmt);
    vsnprintf(err + n, errlen - n, fmt, args);
    va_end(args);
}


static int
hr_get_str(json_t *obj, const char *key, const char *path, char **out,
    int required, char *err, size_t errlen)
{
    json_t  *v;

    v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v)) {
        if (required) {
            hr_cerr(err, errlen, path, key, "is required");
            return -1;
        }
        return 0;
    }

    if (!json_is_string(v)) {
        hr_cerr(err, errlen, path, key, "expected a string");
        return -1;
    }

    if (strlen(json_string_value(v)) != json_string_length(v)) {
        hr_cerr(err, errlen, path, key, "NUL byte in string");
        return -1;
    }

    if (required && json_string_length(v) == 0) {
        hr_cerr(err, errlen, path, key, "must not be empty");
        return -1;
    }

    free(*out);
    *out = strdup(json_string_value(v));
    if (*out == NULL) {
        hr_cerr(err, errlen, path, key, "out of memory");
        return -1;
    }

    return 0;
}


static int
hr_get_bool(json_t *obj, const char *key, const char *path, int *out,
    char *err, size_t errlen)
{
    json_t  *v;

    v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v)) {
        return 0;
    }

    if (!json_is_boolean(v)) {
        hr_cerr(err, errlen, path, key, "expected true or false");
        return -1;
    }

    *out = json_is_true(v);
    return 0;
}


static int
hr_get_int(json_t *obj, const char *key, const char *path, int64_t *out,
    int *present, char *err, size_t errlen)
{
    json_t  *v;

    v = json_object_get(obj, key);
    *present = 0;

    if (v == NULL || json_is_null(v)) {
        return 0;
    }

    if (!json_is_integer(v)) {
        hr_cerr(err, errlen, path, key, "expected an integer");
        return -1;
    }

    *out = (int64_t) json_integer_value(v);
    *present = 1;
    return 0;
}


static int
hr_get_obj(json_t *obj, const char *key, const char *path, json_t **out,
    int required, char *err, size_t errlen)
{
    json_t  *v;

    v = json_object_get(obj, key);
    *out = NULL;

    if (v == NULL || json_is_null(v)) {
        if (required) {
            hr_cerr(err, errlen, path, key, "is required");
            return -1;
        }
        return 0;
    }

    if (!json_is_object(v)) {
        hr_cerr(err, errlen, path, key, "expected an object");
        return -1;
    }

    *out = v;
    return 0;
}


/* http:// or https:// with a host; a trailing '/' is dropped. */
static int
hr_check_url(char *url, const char *path, const char *key, char *err,
    size_t errlen)
{
    size_t       len, skip;
    const char  *p;

    if (strncmp(url, "http://", 7) == 0) {
        skip = 7;

    } else if (strncmp(url, "https://", 8) == 0) {
        skip = 8;

    } else {
        hr_cerr(err, errlen, path, key, "\"%.200s\" is not an http:// or "
                "https:// URL", url);
        return -1;
    }

    for (p = url; *p != '\0'; p++) {
        if ((unsigned char) *p <= 0x20 || *p == 0x7f) {
            hr_cerr(err, errlen, path, key, "white space or control "
                    "character in URL");
            return -1;
        }
    }

    len = strlen(url);
    while (len > skip && url[len - 1] == '/') {
        url[--len] = '\0';
    }

    if (len == skip || url[skip] == '/') {
        hr_cerr(err, errlen, path, key, "URL \"%.200s\" has no host", url);
        return -1;
    }

    return 0;
}


/* A password file: a regular file of at most 4 KiB; trailing CR/LF go. */
static int
hr_read_secret(const char *file, char **out, const char *path, char *err,
    size_t errlen)
{
    int          fd;
    char        *buf;
    size_t       len;
    ssize_t      n;
    struct stat  st;

    fd = open(file, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd == -1) {
        hr_cerr(err, errlen, path, "password_file", "open \"%.200s\": %s",
                file, strerror(errno));
        return -1;
    }

    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)
        || st.st_size > HR_PASSWORD_MAX)
    {
        hr_cerr(err, errlen, path, "password_file", "\"%.200s\" is not a "
                "regular file of at most %d bytes", file, HR_PASSWORD_MAX);
        close(fd);
        return -1;
    }

    buf = malloc(HR_PASSWORD_MAX + 1);
    if (buf == NULL) {
        close(fd);
        hr_cerr(err, errlen, path, "password_file", "out of memory");
        return -1;
    }

    len = 0;

    for ( ;; ) {
        n = read(fd, buf + len, HR_PASSWORD_MAX - len);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        len += (size_t) n;
        if (len == HR_PASSWORD_MAX) {
            break;
        }
    }

    close(fd);

    if (n == -1) {
        hr_cerr(err, errlen, path, "password_file", "read \"%.200s\": %s",
                file, strerror(errno));
        free(buf);
        return -1;
    }

    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) {
        len--;
    }
    buf[len] = '\0';

    if (len == 0 || strlen(buf) != len) {
        hr_cerr(err, errlen, path, "password_file", "\"%.200s\" is empty "
                "or holds a NUL byte", file);
        free(buf);
        return -1;
    }

    free(*out);
    *out = buf;
    return 0;
}


static int
hr_parse_primary(hr_config_t *cf, json_t *obj, char *err, size_t errlen)
{
    char                *file;
    hr_registry_conf_t  *r;

    r = &cf->primary;
    file = NULL;

    if (hr_get_str(obj, "url", "primary", &r->url, 1, err, errlen) != 0
        || hr_check_url(r->url, "primary", "url", err, errlen) != 0
        || hr_get_str(obj, "username", "primary", &r->username, 0, err,
                      errlen) != 0
        || hr_get_str(obj, "password", "primary", &r->password, 0, err,
                      errlen) != 0
        || hr_get_str(obj, "password_file", "primary", &file, 0, err,
                      errlen) != 0
        || hr_get_str(obj, "ca_file", "primary", &r->ca_file, 0, err,
                      errlen) != 0
        || hr_get_bool(obj, "insecure", "primary", &r->insecure, err,
                       errlen) != 0
        || hr_get_str(obj, "type", "primary", &r->type, 0, err, errlen) != 0)
    {
        free(file);
        return -1;
    }

    if (r->username != NULL && r->username[0] == '\0') {
        free(r->username);
        r->username = NULL;
    }

    if (file != NULL) {
        if (r->password != NULL) {
            hr_cerr(err, errlen, "primary", NULL, "give \"password\" or "
                    "\"password_file\", not both");
            free(file);
            return -1;
        }

        if (hr_read_secret(file, &r->password, "primary", err, errlen)
            != 0)
        {
            free(file);
            return -1;
        }

        free(file);
    }

    if (r->type != NULL && strcmp(r->type, "harbor") != 0
        && strcmp(r->type, "docker-registry") != 0)
    {
        hr_cerr(err, errlen, "primary", "type", "\"%.64s\" is not "
                "\"harbor\" or \"docker-registry\" (leave it out to detect)",
                r->type);
        return -1;
    }

    return 0;
}


/*
 * Harbor's Registry object.  The local Harbor (id 0) seen from the primary
 * is the primary itself: src stays NULL.
 */
static int
hr_parse_src(hr_config_t *cf, hr_policy_t *p, json_t *obj, const char *path,
    char *err, size_t errlen)
{
    int                  present;
    char                 sub[HR_PATH_LEN + 32], *ctype, *secret, *type;
    json_t              *cred;
    int64_t              id;
    hr_registry_conf_t  *r;

    if (hr_get_int(obj, "id", path, &id, &present, err, errlen) != 0) {
        return -1;
    }

    if (present && id == 0) {
        return 0;
    }

    r = calloc(1, sizeof(hr_registry_conf_t));
    if (r == NULL) {
        hr_cerr(err, errlen, path, NULL, "out of memory");
        return -1;
    }

    p->src = r;
    type = NULL;

    if (hr_get_str(obj, "url", path, &r->url, 1, err, errlen) != 0
        || hr_check_url(r->url, path, "url", err, errlen) != 0
        || hr_get_bool(obj, "insecure", path, &r->insecure, err, errlen) != 0
        || hr_get_str(obj, "ca_certificate", path, &r->ca_pem, 0, err,
                      errlen) != 0
        || hr_get_str(obj, "type", path, &type, 0, err, errlen) != 0
        || hr_get_obj(obj, "credential", path, &cred, 0, err, errlen) != 0)
    {
        free(type);
        return -1;
    }

    /* only these two are sources the replicator knows; others: detect */
    if (type != NULL && (strcmp(type, "harbor") == 0
                         || strcmp(type, "docker-registry") == 0))
    {
        r->type = type;

    } else {
        free(type);
    }

    if (r->ca_pem != NULL && r->ca_pem[0] == '\0') {
        free(r->ca_pem);
        r->ca_pem = NULL;
    }

    if (cred == NULL) {
        return 0;
    }

    snprintf(sub, sizeof(sub), "%.120s.credential", path);
    ctype = NULL;
    secret = NULL;

    if (hr_get_str(cred, "type", sub, &ctype, 0, err, errlen) != 0
        || hr_get_str(cred, "access_key", sub, &r->username, 0, err, errlen)
           != 0
        || hr_get_str(cred, "access_secret", sub, &secret, 0, err, errlen)
           != 0)
    {
        free(ctype);
        free(secret);
        return -1;
    }

    if (ctype != NULL && ctype[0] != '\0' && strcmp(ctype, "basic") != 0
        && strcmp(ctype, "oauth") != 0 && strcmp(ctype, "secret") != 0)
    {
        hr_cerr(err, errlen, sub, "type", "unknown credential type "
                "\"%.64s\" (basic, oauth, secret)", ctype);
        free(ctype);
        free(secret);
        return -1;
    }

    free(ctype);

    if (r->username != NULL && r->username[0] == '\0') {
        free(r->username);
        r->username = NULL;
    }

    if (secret != NULL && strcmp(secret, HR_MASKED_SECRET) == 0) {
        free(secret);
        secret = NULL;

        if (cf->primary.password == NULL) {
            hr_cerr(err, errlen, sub, "access_secret", "is masked "
                    "(\"*****\") as Harbor's API returns it: set "
                    "primary.password or primary.password_file");
            return -1;
        }

        secret = strdup(cf->primary.password);
        if (secret == NULL) {
            hr_cerr(err, errlen, sub, "access_secret", "out of memory");
            return -1;
        }

        if (r->username == NULL && cf->primary.username != NULL) {
            r->username = strdup(cf->primary.username);
            if (r->username == NULL) {
                free(secret);
                hr_cerr(err, errlen, sub, "access_key", "out of memory");
                return -1;
            }
        }
    }

    r->password = secret;

    return 0;
}


static int
hr_parse_trigger(hr_policy_t *p, json_t *obj, const char *path, char *err,
    size_t errlen)
{
    char     sub[HR_PATH_LEN + 32], *type, cerr[HR_ERR_LEN];
    json_t  *ts;

    type = NULL;

    if (hr_get_str(obj, "type", path, &type, 0, err, errlen) != 0) {
        return -1;
    }

    if (type == NULL
        && hr_get_str(obj, "kind", path, &type, 0, err, errlen) != 0)
    {
        return -1;
    }

    if (type == NULL || type[0] == '\0' || strcmp(type, "manual") == 0
        || strcmp(type, "Manual") == 0)
    {
        p->trigger = HR_TRIGGER_MANUAL;

    } else if (strcmp(type, "scheduled") == 0
               || strcmp(type, "Scheduled") == 0)
    {
        p->trigger = HR_TRIGGER_SCHEDULED;

    } else if (strcmp(type, "event_based") == 0
               || strcmp(type, "Immediate") == 0)
    {
        p->trigger = HR_TRIGGER_EVENT;

    } else {
        hr_cerr(err, errlen, path, "type", "unknown trigger type \"%.64s\" "
                "(manual, scheduled, event_based)", type);
        free(type);
        return -1;
    }

    free(type);

    if (p->trigger != HR_TRIGGER_SCHEDULED) {
        return 0;
    }

    snprintf(sub, sizeof(sub), "%.120s.trigger_settings", path);

    if (hr_get_obj(obj, "trigger_settings", path, &ts, 0, err, errlen) != 0
        || (ts != NULL
            && hr_get_str(ts, "cron", sub, &p->cron, 0, err, errlen) != 0))
    {
        return -1;
    }

    if (p->cron == NULL || p->cron[0] == '\0') {
        hr_cerr(err, errlen, sub, "cron", "is required when the trigger "
                "type is scheduled");
        return -1;
    }

    if (hr_cron_parse_harbor(&p->cron_parsed, p->cron, cerr, sizeof(cerr))
        != 0)
    {
        hr_cerr(err, errlen, sub, "cron", "invalid cron \"%.100s\": %s",
                p->cron, cerr);
        return -1;
    }

    return 0;
}


static int
hr_parse_filter(hr_filter_t *f, json_t *obj, const char *path, char *err,
    size_t errlen)
{
    char        *type, *dec;
    size_t       i, n;
    json_t      *v, *item;
    const char  *vkey;

    type = NULL;
    dec = NULL;

    if (hr_get_str(obj, "type", path, &type, 0, err, errlen) != 0
        || (type == NULL
            && hr_get_str(obj, "kind", path, &type, 0, err, errlen) != 0))
    {
        return -1;
    }

    if (type == NULL) {
        hr_cerr(err, errlen, path, "type", "is required");
        return -1;
    }

    if (strcmp(type, "name") == 0 || strcmp(type, "repository") == 0) {
        f->type = HR_FILTER_NAME;

    } else if (strcmp(type, "tag") == 0) {
        f->type = HR_FILTER_TAG;

    } else if (strcmp(type, "label") == 0) {
        f->type = HR_FILTER_LABEL;

    } else if (strcmp(type, "resource") == 0) {
        f->type = HR_FILTER_RESOURCE;

    } else {
        hr_cerr(err, errlen, path, "type", "unknown filter type \"%.64s\" "
                "(name, tag, label, resource)", type);
        free(type);
        return -1;
    }

    free(type);

    if (hr_get_str(obj, "decoration", path, &dec, 0, err, errlen) != 0) {
        return -1;
    }

    if (dec != NULL && dec[0] != '\0') {
        if (f->type != HR_FILTER_TAG && f->type != HR_FILTER_LABEL) {
            hr_cerr(err, errlen, path, "decoration", "only tag and label "
                    "filters take a decoration");
            free(dec);
            return -1;
        }

        if (strcmp(dec, "excludes") == 0) {
            f->excludes = 1;

        } else if (strcmp(dec, "matches") != 0) {
            hr_cerr(err, errlen, path, "decoration", "\"%.64s\" is not "
                    "\"matches\" or \"excludes\"", dec);
            free(dec);
            return -1;
        }
    }

    free(dec);

    /* legacy filters carry "pattern" instead of "value" */
    vkey = "value";
    v = json_object_get(obj, "value");
    if (v == NULL && json_object_get(obj, "pattern") != NULL) {
        vkey = "pattern";
        v = json_object_get(obj, "pattern");
    }

    if (f->type == HR_FILTER_LABEL) {
        if (v == NULL || json_is_null(v)) {
            return 0;
        }

        if (!json_is_array(v)) {
            hr_cerr(err, errlen, path, vkey, "expected an array of label "
                    "names");
            return -1;
        }

        n = json_array_size(v);
        if (n == 0) {
            return 0;
        }

        f->labels = calloc(n, sizeof(char *));
        if (f->labels == NULL) {
            hr_cerr(err, errlen, path, vkey, "out of memory");
            return -1;
        }

        json_array_foreach(v, i, item) {
            if (!json_is_string(item)
                || strlen(json_string_value(item))
                   != json_string_length(item))
            {
                hr_cerr(err, errlen, path, vkey, "[%zu]: expected a string",
                        i);
                return -1;
            }

            f->labels[i] = strdup(json_string_value(item));
            if (f->labels[i] == NULL) {
                hr_cerr(err, errlen, path, vkey, "out of memory");
                return -1;
            }
            f->nlabels++;
        }

        return 0;
    }

    if (v != NULL && !json_is_null(v) && !json_is_string(v)) {
        hr_cerr(err, errlen, path, vkey, "expected a string");
        return -1;
    }

    if (hr_get_str(obj, vkey, path, &f->value, 0, err, errlen) != 0) {
        return -1;
    }

    if (f->value == NULL || f->value[0] == '\0') {
        return 0;
    }

    if (f->type == HR_FILTER_RESOURCE) {
        if (strcmp(f->value, "image") != 0
            && strcmp(f->value, "artifact") != 0
            && strcmp(f->value, "chart") != 0)
        {
            hr_cerr(err, errlen, path, vkey, "unknown resource type "
                    "\"%.64s\" (image, artifact, chart)", f->value);
            return -1;
        }

        return 0;
    }

    if (hr_match_check(f->value) != 0) {
        hr_cerr(err, errlen, path, vkey, "bad pattern \"%.200s\"",
                f->value);
        return -1;
    }

    return 0;
}


static int
hr_parse_policy(hr_config_t *cf, hr_policy_t *p, json_t *obj,
    const char *path, char *err, size_t errlen)
{
    int       present, v;
    char      sub[HR_PATH_LEN + 32];
    size_t    i;
    json_t   *o, *filters, *item;
    int64_t   n;

    if (!json_is_object(obj)) {
        hr_cerr(err, errlen, path, NULL, "expected an object");
        return -1;
    }

    p->dest_namespace_replace_count = -1;

    if (hr_get_int(obj, "id", path, &p->id, &present, err, errlen) != 0
        || hr_get_str(obj, "name", path, &p->name, 1, err, errlen) != 0
        || hr_get_str(obj, "description", path, &p->description, 0, err,
                      errlen) != 0
        || hr_get_bool(obj, "enabled", path, &p->enabled, err, errlen) != 0
        || hr_get_bool(obj, "override", path, &p->override, err, errlen)
           != 0
        || hr_get_bool(obj, "copy_by_chunk", path, &p->copy_by_chunk, err,
                       errlen) != 0
        || hr_get_bool(obj, "single_active_replication", path,
                       &p->single_active_replication, err, errlen) != 0
        || hr_get_str(obj, "dest_namespace", path, &p->dest_namespace, 0,
                      err, errlen) != 0)
    {
        return -1;
    }

    /* POST/PUT read only "deletion"; GET returns both with one value */
    v = 0;
    if (hr_get_bool(obj, "deletion", path, &v, err, errlen) != 0) {
        return -1;
    }
    p->deletion = v;

    v = 0;
    if (hr_get_bool(obj, "replicate_deletion", path, &v, err, errlen) != 0) {
        return -1;
    }
    p->deletion |= v;

    for (i = 0; i < cf->npolicies; i++) {
        if (strcmp(cf->policies[i].name, p->name) == 0) {
            hr_cerr(err, errlen, path, "name", "\"%.128s\" is also the name "
                    "of policies[%zu]", p->name, i);
            return -1;
        }
    }

    if (hr_get_int(obj, "speed", path, &n, &present, err, errlen) != 0) {
        return -1;
    }

    if (present) {
        if (n > INT32_MAX) {
            hr_cerr(err, errlen, path, "speed", "out of range (Kbit/s, "
                    "32 bits)");
            return -1;
        }

        /* Harbor's UI sends -1 for "unlimited"; here that is 0 */
        if (n < 0) {
            hr_cerr(err, errlen, path, "speed", "%lld is not a speed "
                    "(Kbit/s; 0 means unlimited)", (long long) n);
            return -1;
        }

        p->speed = n;
    }

    if (hr_get_int(obj, "dest_namespace_replace_count", path, &n, &present,
                   err, errlen) != 0)
    {
        return -1;
    }

    if (present) {
        if (n < -1 || n > 127) {
            hr_cerr(err, errlen, path, "dest_namespace_replace_count",
                    "%lld is out of range (-1 to 127)", (long long) n);
            return -1;
        }
        p->dest_namespace_replace_count = (int) n;
    }

    if (p->dest_namespace != NULL && p->dest_namespace[0] != '\0'
        && !hr_repo_name_valid(p->dest_namespace,
                               strlen(p->dest_namespace)))
    {
        hr_cerr(err, errlen, path, "dest_namespace", "\"%.128s\" is not a "
                "valid repository name prefix", p->dest_namespace);
        return -1;
    }

    if (hr_get_obj(obj, "trigger", path, &o, 0, err, errlen) != 0) {
        return -1;
    }

    if (o != NULL) {
        snprintf(sub, sizeof(sub), "%.100s.trigger", path);
        if (hr_parse_trigger(p, o, sub, err, errlen) != 0) {
            return -1;
        }
    }

    if (p->trigger == HR_TRIGGER_EVENT && p->single_active_replication) {
        hr_cerr(err, errlen, path, "single_active_replication", "cannot be "
                "combined with an event_based trigger");
        return -1;
    }

    filters = json_object_get(obj, "filters");

    if (filters != NULL && !json_is_null(filters)) {
        if (!json_is_array(filters)) {
            hr_cerr(err, errlen, path, "filters", "expected an array");
            return -1;
        }

        if (json_array_size(filters) > 0) {
            p->filters = calloc(json_array_size(filters),
                                sizeof(hr_filter_t));
            if (p->filters == NULL) {
                hr_cerr(err, errlen, path, "filters", "out of memory");
                return -1;
            }
        }

        json_array_foreach(filters, i, item) {
            snprintf(sub, sizeof(sub), "%.100s.filters[%zu]", path, i);

            if (!json_is_object(item)) {
                hr_cerr(err, errlen, sub, NULL, "expected an object");
                return -1;
            }

            p->nfilters++;

            if (hr_parse_filter(&p->filters[i], item, sub, err, errlen)
                != 0)
            {
                return -1;
            }
        }
    }

    if (hr_get_obj(obj, "src_registry", path, &o, 0, err, errlen) != 0) {
        return -1;
    }

    if (o != NULL) {
        snprintf(sub, sizeof(sub), "%.100s.src_registry", path);
        if (hr_parse_src(cf, p, o, sub, err, errlen) != 0) {
            return -1;
        }
    }

    return 0;
}


/*
 * "fill": {"repositories": ["pattern", ...]}: the repositories a fill may
 * copy; each names a repository an anonymous client may cause a fill of
 * even when the primary would not serve it anonymously.
 */
static int
hr_parse_fill(hr_config_t *cf, json_t *o, char *err, size_t errlen)
{
    char         path[64];
    size_t       i;
    json_t      *arr, *v;
    const char  *s;

    arr = json_object_get(o, "repositories");

    if (arr == NULL || json_is_null(arr)) {
        return 0;
    }

    if (!json_is_array(arr)) {
        hr_cerr(err, errlen, "fill", "repositories", "expected an array of "
                "patterns");
        return -1;
    }

    cf->fill_repos = calloc(json_array_size(arr) + 1, sizeof(char *));
    if (cf->fill_repos == NULL) {
        hr_cerr(err, errlen, "fill", "repositories", "out of memory");
        return -1;
    }

    json_array_foreach(arr, i, v) {
        snprintf(path, sizeof(path), "repositories[%zu]", i);
        s = json_string_value(v);

        if (s == NULL || s[0] == '\0' || hr_match_check(s) != 0) {
            hr_cerr(err, errlen, "fill", path, "expected a name pattern");
            return -1;
        }

        cf->fill_repos[cf->nfill_repos] = strdup(s);
        if (cf->fill_repos[cf->nfill_repos] == NULL) {
            hr_cerr(err, errlen, "fill", path, "out of memory");
            return -1;
        }

        cf->nfill_repos++;
    }

    return 0;
}


/*
 * A byte count: an integer, or a string with a unit ("50GiB", "500MB",
 * "1.5T"): K M G T of 1024 (with or without "i") or 1000 (kB MB GB TB).
 * Returns -1 when it is not one.
 */
long long
hr_config_bytes(json_t *v)
{
    char         *end;
    double        n;
    size_t        i;
    const char   *s;

    static const struct {
        const char  *unit;
        double       mul;
    } units[] = {
        { "", 1 }, { "B", 1 },
        { "K", 1024.0 }, { "Ki", 1024.0 }, { "KiB", 1024.0 },
        { "M", 1048576.0 }, { "Mi", 1048576.0 }, { "MiB", 1048576.0 },
        { "G", 1073741824.0 }, { "Gi", 1073741824.0 },
        { "GiB", 1073741824.0 },
        { "T", 1099511627776.0 }, { "Ti", 1099511627776.0 },
        { "TiB", 1099511627776.0 },
        { "kB", 1e3 }, { "KB", 1e3 }, { "MB", 1e6 }, { "GB", 1e9 },
        { "TB", 1e12 }
    };

    if (json_is_integer(v)) {
        return json_integer_value(v) > 0 ? json_integer_value(v) : -1;
    }

    s = json_string_value(v);
    if (s == NULL) {
        return -1;
    }

    errno = 0;
    n = strtod(s, &end);
    if (errno != 0 || end == s || !(n > 0)) {
        return -1;
    }

    while (*end == ' ') {
        end++;
    }

    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].unit) == 0) {
            if (n * units[i].mul >= 9.0e18) {
                return -1;
            }

            return (long long) (n * units[i].mul);
        }
    }

    return -1;
}


/*
 * "scrub": {"bytes_per_second": N | "20MiB", "interval": S}: the daemon
 * re-hashes the store every S seconds (from the end of a pass), reading at
 * most N bytes a second; `scrub` reads at that rate too.
 */
static int
hr_parse_scrub(hr_config_t *cf, json_t *o, char *err, size_t errlen)
{
    int       present;
    json_t   *v;
    int64_t   n;

    v = json_object_get(o, "bytes_per_second");

    if (v != NULL && !json_is_null(v)) {
        cf->scrub_rate = hr_config_bytes(v);

        if (cf->scrub_rate <= 0) {
            hr_cerr(err, errlen, "scrub", "bytes_per_second", "expected a "
                    "positive byte count, e.g. 20971520 or \"20MiB\"");
            return -1;
        }
    }

    cf->scrub_interval = 86400;

    if (hr_get_int(o, "interval", "scrub", &n, &present, err, errlen) != 0) {
        return -1;
    }

    if (present) {
        if (n < 0 || n > 366 * 86400) {
            hr_cerr(err, errlen, "scrub", "interval", "%lld is out of range "
                    "(0: off, up to 31622400 seconds)", (long long) n);
            return -1;
        }

        cf->scrub_interval = (int) n;
    }

    return 0;
}


/* "cache": {"max_bytes": N | "50GiB", "low_water": 0.9, "interval": 30} */
static int
hr_parse_cache(hr_config_t *cf, json_t *o, char *err, size_t errlen)
{
    int       present;
    json_t   *v;
    int64_t   n;

    v = json_object_get(o, "max_bytes");

    if (v != NULL && !json_is_null(v)) {
        cf->cache_max = hr_config_bytes(v);

        if (cf->cache_max <= 0) {
            hr_cerr(err, errlen, "cache", "max_bytes", "expected a positive "
                    "byte count, e.g. 53687091200 or \"50GiB\"");
            return -1;
        }
    }

    v = json_object_get(o, "low_water");

    if (v != NULL && !json_is_null(v)) {
        if (!json_is_number(v) || json_number_value(v) <= 0
            || json_number_value(v) > 1)
        {
            hr_cerr(err, errlen, "cache", "low_water", "expected a number "
                    "above 0 and at most 1");
            return -1;
        }

        cf->cache_low = json_number_value(v);
    }

    if (hr_get_int(o, "interval", "cache", &n, &present, err, errlen) != 0) {
        return -1;
    }

    if (present) {
        if (n < 1 || n > 86400) {
            hr_cerr(err, errlen, "cache", "interval", "%lld is out of range "
                    "(1 to 86400 seconds)", (long long) n);
            return -1;
        }

        cf->cache_interval = (int) n;
    }

    return 0;
}


int
hr_config_parse(hr_config_t *cf, const char *json, size_t len, char *err,
    size_t errlen)
{
    int              present;
    char             path[HR_PATH_LEN], msg[HR_ERR_LEN];
    size_t           i, n, rl;
    json_t          *root, *o, *pols, *item;
    int64_t          v;
    json_error_t     jerr;
    hr_redis_addr_t  ra;

    memset(cf, 0, sizeof(hr_config_t));
    cf->concurrency = 4;

    if (len > HR_CONFIG_MAX_SIZE) {
        snprintf(err, errlen, "config is larger than %d bytes",
                 HR_CONFIG_MAX_SIZE);
        return -1;
    }

    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, errlen, "line %d column %d: %s", jerr.line,
                 jerr.column, jerr.text);
        return -1;
    }

    if (!json_is_object(root)) {
        snprintf(err, errlen, "the config must be a JSON object");
        goto failed;
    }

    if (hr_get_obj(root, "storage", "", &o, 1, err, errlen) != 0
        || hr_get_str(o, "root", "storage", &cf->store_root, 1, err, errlen)
           != 0
        || hr_get_str(o, "group", "storage", &cf->store_group, 0, err,
                      errlen) != 0)
    {
        goto failed;
    }

    if (cf->store_root[0] != '/') {
        hr_cerr(err, errlen, "storage", "root", "\"%.200s\" is not an "
                "absolute path", cf->store_root);
        goto failed;
    }

    rl = strlen(cf->store_root);
    while (rl > 1 && cf->store_root[rl - 1] == '/') {
        cf->store_root[--rl] = '\0';
    }

    if (hr_get_str(root, "state_dir", "", &cf->state_dir, 0, err, errlen)
        != 0)
    {
        goto failed;
    }

    if (cf->state_dir == NULL || cf->state_dir[0] == '\0') {
        free(cf->state_dir);
        cf->state_dir = malloc(rl + sizeof("/_harbor_edge"));
        if (cf->state_dir == NULL) {
            snprintf(err, errlen, "state_dir: out of memory");
            goto failed;
        }
        snprintf(cf->state_dir, rl + sizeof("/_harbor_edge"),
                 "%s/_harbor_edge", rl == 1 ? "" : cf->store_root);
    }

    if (hr_get_obj(root, "primary", "", &o, 1, err, errlen) != 0
        || hr_parse_primary(cf, o, err, errlen) != 0)
    {
        goto failed;
    }

    if (hr_get_str(root, "redis", "", &cf->redis, 0, err, errlen) != 0) {
        goto failed;
    }

    if (cf->redis != NULL && cf->redis[0] == '\0') {
        free(cf->redis);
        cf->redis = NULL;
    }

    if (cf->redis != NULL
        && hr_redis_addr_parse(&ra, cf->redis, msg, sizeof(msg)) != 0)
    {
        hr_cerr(err, errlen, NULL, NULL, "%s", msg);
        goto failed;
    }

    if (hr_get_str(root, "redis_queue", "", &cf->redis_queue, 0, err, errlen)
        != 0)
    {
        goto failed;
    }

    if (cf->redis_queue != NULL
        && (cf->redis_queue[0] == '\0' || strlen(cf->redis_queue) > 200
            || strcspn(cf->redis_queue, " \t\r\n") != strlen(cf->redis_queue)))
    {
        hr_cerr(err, errlen, NULL, "redis_queue", "\"%.200s\" is not a key "
                "name of 1 to 200 bytes without blanks", cf->redis_queue);
        goto failed;
    }

    if (hr_get_int(root, "concurrency", "", &v, &present, err, errlen) != 0)
    {
        goto failed;
    }

    if (present) {
        if (v < 1 || v > 64) {
            hr_cerr(err, errlen, NULL, "concurrency", "%lld is out of range "
                    "(1 to 64)", (long long) v);
            goto failed;
        }
        cf->concurrency = (int) v;
    }

    if (hr_get_str(root, "log_level", "", &cf->log_level, 0, err, errlen)
        != 0)
    {
        goto failed;
    }

    if (cf->log_level == NULL) {
        cf->log_level = strdup("info");
        if (cf->log_level == NULL) {
            snprintf(err, errlen, "log_level: out of memory");
            goto failed;
        }

    } else if (strcmp(cf->log_level, "debug") != 0
               && strcmp(cf->log_level, "info") != 0
               && strcmp(cf->log_level, "warn") != 0
               && strcmp(cf->log_level, "error") != 0)
    {
        hr_cerr(err, errlen, NULL, "log_level", "\"%.64s\" is not debug, "
                "info, warn or error", cf->log_level);
        goto failed;
    }

    if (hr_get_str(root, "log_file", "", &cf->log_file, 0, err, errlen)
        != 0)
    {
        goto failed;
    }

    if (cf->log_file != NULL && cf->log_file[0] != '/') {
        hr_cerr(err, errlen, NULL, "log_file", "\"%.200s\" is not an "
                "absolute path", cf->log_file);
        goto failed;
    }

    if (hr_get_obj(root, "fill", "", &o, 0, err, errlen) != 0
        || (o != NULL && hr_parse_fill(cf, o, err, errlen) != 0))
    {
        goto failed;
    }

    cf->cache_low = 0.9;
    cf->cache_interval = 30;

    if (hr_get_obj(root, "cache", "", &o, 0, err, errlen) != 0
        || (o != NULL && hr_parse_cache(cf, o, err, errlen) != 0))
    {
        goto failed;
    }

    if (hr_get_obj(root, "scrub", "", &o, 0, err, errlen) != 0
        || (o != NULL && hr_parse_scrub(cf, o, err, errlen) != 0))
    {
        goto failed;
    }

    pols = json_object_get(root, "policies");

    if (pols != NULL && !json_is_null(pols)) {
        if (!json_is_array(pols)) {
            hr_cerr(err, errlen, NULL, "policies", "expected an array");
            goto failed;
        }

        n = json_array_size(pols);

        if (n > 0) {
            cf->policies = calloc(n, sizeof(hr_policy_t));
            if (cf->policies == NULL) {
                snprintf(err, errlen, "policies: out of memory");
                goto failed;
            }
        }

        json_array_foreach(pols, i, item) {
            snprintf(path, sizeof(path), "policies[%zu]", i);

            if (hr_parse_policy(cf, &cf->policies[i], item, path, err,
                                errlen)
                != 0)
            {
                /* cf->npolicies does not count it yet: free it here */
                hr_policy_free(&cf->policies[i]);
                goto failed;
            }

            cf->npolicies++;
        }
    }

    hr_config_check_keys(cf, root);

    json_decref(root);
    return 0;

failed:

    json_decref(root);
    hr_config_free(cf);
    return -1;
}


int
hr_config_load(hr_config_t *cf, const char *path, char *err, size_t errlen)
{
    int          fd, rc;
    char        *buf, sub[HR_ERR_LEN];
    size_t       len;
    ssize_t      n;
    struct stat  st;

    memset(cf, 0, sizeof(hr_config_t));

    fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
    if (fd == -1) {
        snprintf(err, errlen, "open \"%.200s\": %s", path, strerror(errno));
        return -1;
    }

    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)
        || st.st_size > HR_CONFIG_MAX_SIZE)
    {
        snprintf(err, errlen, "\"%.200s\" is not a regular file of at most "
                 "%d bytes", path, HR_CONFIG_MAX_SIZE);
        close(fd);
        return -1;
    }

    buf = malloc((size_t) st.st_size + 1);
    if (buf == NULL) {
        snprintf(err, errlen, "\"%.200s\": out of memory", path);
        close(fd);
        return -1;
    }

    len = 0;

    while (len < (size_t) st.st_size) {
        n = read(fd, buf + len, (size_t) st.st_size - len);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n == -1) {
            snprintf(err, errlen, "read \"%.200s\": %s", path,
                     strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        if (n == 0) {
            break;
        }
        len += (size_t) n;
    }

    close(fd);

    rc = hr_config_parse(cf, buf, len, sub, sizeof(sub));
    free(buf);

    if (rc != 0) {
        snprintf(err, errlen, "%.200s: %s", path, sub);
    }

    return rc;
}


static void
hr_registry_free(hr_registry_conf_t *r)
{
    free(r->url);
    free(r->username);
    if (r->password != NULL) {
        explicit_bzero(r->password, strlen(r->password));
    }
    free(r->password);
    free(r->ca_file);
    free(r->ca_pem);
    free(r->type);
    memset(r, 0, sizeof(hr_registry_conf_t));
}


static void
hr_policy_free(hr_policy_t *p)
{
    size_t  i, j;

    free(p->name);
    free(p->description);
    free(p->dest_namespace);
    free(p->cron);

    if (p->filters != NULL) {
        /* nfilters counts the one that failed half-way too */
        for (i = 0; i < p->nfilters; i++) {
            free(p->filters[i].value);

            if (p->filters[i].labels != NULL) {
                for (j = 0; j < p->filters[i].nlabels; j++) {
                    free(p->filters[i].labels[j]);
                }
                free(p->filters[i].labels);
            }
        }
        free(p->filters);
    }

    if (p->src != NULL) {
        hr_registry_free(p->src);
        free(p->src);
    }

    memset(p, 0, sizeof(hr_policy_t));
}


void
hr_config_free(hr_config_t *cf)
{
    size_t  i;

    free(cf->store_root);
    free(cf->store_group);
    free(cf->state_dir);
    hr_registry_free(&cf->primary);
    free(cf->redis);
    free(cf->redis_queue);
    free(cf->log_level);
    free(cf->log_file);
    hr_config_free_warnings(cf);

    for (i = 0; i < cf->npolicies; i++) {
        hr_policy_free(&cf->policies[i]);
    }

    free(cf->policies);

    for (i = 0; i < cf->nfill_repos; i++) {
        free(cf->fill_repos[i]);
    }

    free(cf->fill_repos);
    memset(cf, 0, sizeof(hr_config_t));
}


hr_config_t *
hr_config_open(const char *path, char *err, size_t errlen)
{
    hr_config_t  *cf;

    cf = malloc(sizeof(hr_config_t));
    if (cf == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    if (hr_config_load(cf, path, err, errlen) == -1) {
        hr_config_free(cf);
        free(cf);
        return NULL;
    }

    cf->refs = 1;

    return cf;
}


hr_config_t *
hr_config_hold(hr_config_t *cf)
{
    cf->refs++;

    return cf;
}


void
hr_config_release(hr_config_t *cf)
{
    if (cf == NULL || --cf->refs > 0) {
        return;
    }

    hr_config_free(cf);
    free(cf);
}


hr_policy_t *
hr_config_policy(hr_config_t *cf, const char *name)
{
    size_t  i;

    for (i = 0; i < cf->npolicies; i++) {
        if (strcmp(cf->policies[i].name, name) == 0) {
            return &cf->policies[i];
        }
    }

    return NULL;
}
