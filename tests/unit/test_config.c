/*
 * test_config.c: the config loader.  The Harbor policy below is the
 * example of docs/facts.md (Replication policies), verbatim (only split
 * into C string pieces), as GET /api/v2.0/replication/policies returns it: it must load
 * as it is.  Then every kind of bad input, each error naming its JSON path.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "policy.h"


static const char  harbor_policy[] =
    "{\n"
    "  \"id\": 7,\n"
    "  \"name\": \"edge-prod\",\n"
    "  \"description\": \"prod images for edge\",\n"
    "  \"src_registry\": {\n"
    "    \"id\": 3, \"name\": \"primary\", \"type\": \"harbor\", \"url\": \"ht"
    "tps://harbor.example.com\",\n"
    "    \"insecure\": false, \"status\": \"healthy\",\n"
    "    \"credential\": {\"type\": \"basic\", \"access_key\": \"robot$edg"
    "e-reader\", \"access_secret\": \"*****\"},\n"
    "    \"creation_time\": \"2024-04-01T08:00:00.000Z\", \"update_tim"
    "e\": \"2024-04-01T08:00:00.000Z\"\n"
    "  },\n"
    "  \"dest_registry\": {\n"
    "    \"id\": 0, \"name\": \"Local\", \"type\": \"harbor\", \"url\": \"http"
    "://core:8080\", \"insecure\": true,\n"
    "    \"status\": \"healthy\", \"credential\": {\"type\": \"secret\", \"a"
    "ccess_secret\": \"*****\"},\n"
    "    \"creation_time\": \"0001-01-01T00:00:00.000Z\", \"update_tim"
    "e\": \"0001-01-01T00:00:00.000Z\"\n"
    "  },\n"
    "  \"dest_namespace\": \"mirror\",\n"
    "  \"dest_namespace_replace_count\": 1,\n"
    "  \"trigger\": {\"type\": \"scheduled\", \"trigger_settings\": {\"cro"
    "n\": \"0 */15 * * * *\"}},\n"
    "  \"filters\": [\n"
    "    {\"type\": \"name\", \"value\": \"prod/**\"},\n"
    "    {\"type\": \"tag\", \"value\": \"{v*,latest}\", \"decoration\": \"m"
    "atches\"},\n"
    "    {\"type\": \"label\", \"value\": [\"approved\"], \"decoration\": \""
    "matches\"},\n"
    "    {\"type\": \"resource\", \"value\": \"image\"}\n"
    "  ],\n"
    "  \"override\": true,\n"
    "  \"enabled\": true,\n"
    "  \"speed\": 0,\n"
    "  \"copy_by_chunk\": false,\n"
    "  \"single_active_replication\": true,\n"
    "  \"creation_time\": \"2024-04-02T09:30:00.000Z\",\n"
    "  \"update_time\": \"2024-04-02T09:30:00.000Z\"\n"
    "}\n";


static int load(hr_config_t *cf, const char *policies_json, char *err);
static char *make_config(const char *primary_extra, const char *policies);


/* A config around the given policies array (or "null"). */
static char *
make_config(const char *primary_extra, const char *policies)
{
    char    *buf;
    size_t   len;

    len = strlen(policies) + strlen(primary_extra) + 512;
    buf = malloc(len);
    assert_non_null(buf);

    snprintf(buf, len,
             "{\"storage\":{\"root\":\"/srv/store/\",\"group\":null},"
             "\"primary\":{\"url\":\"https://harbor.example.com/\","
             "\"username\":\"robot$edge\"%s},"
             "\"redis\":\"127.0.0.1:6379\",\"concurrency\":8,"
             "\"log_level\":\"debug\",\"policies\":%s}",
             primary_extra, policies);

    return buf;
}


static int
load(hr_config_t *cf, const char *policies_json, char *err)
{
    int    rc;
    char  *json;

    json = make_config(",\"password\":\"s3cret\"", policies_json);
    err[0] = '\0';
    rc = hr_config_parse(cf, json, strlen(json), err, HR_ERR_LEN);
    free(json);

    return rc;
}


static void
test_harbor_example(void **state)
{
    char          err[HR_ERR_LEN], *pols, out[256];
    size_t        keep[2];
    hr_config_t   cf;
    hr_policy_t  *p;
    hr_artifact_t a;
    const char   *tags[] = { "v1.2", "dev" };
    const char   *labels[] = { "approved" };

    (void) state;

    pols = malloc(sizeof(harbor_policy) + 2);
    assert_non_null(pols);
    snprintf(pols, sizeof(harbor_policy) + 2, "[%s]", harbor_policy);

    if (load(&cf, pols, err) != 0) {
        fail_msg("%s", err);
    }
    free(pols);

    assert_string_equal(cf.store_root, "/srv/store");
    assert_null(cf.store_group);
    assert_string_equal(cf.state_dir, "/srv/store/_harbor_edge");
    assert_string_equal(cf.primary.url, "https://harbor.example.com");
    assert_string_equal(cf.primary.username, "robot$edge");
    assert_string_equal(cf.primary.password, "s3cret");
    assert_string_equal(cf.redis, "127.0.0.1:6379");
    assert_int_equal(cf.concurrency, 8);
    assert_string_equal(cf.log_level, "debug");
    assert_int_equal(cf.npolicies, 1);

    p = hr_config_policy(&cf, "edge-prod");
    assert_non_null(p);
    assert_null(hr_config_policy(&cf, "other"));

    assert_int_equal(p->id, 7);
    assert_string_equal(p->description, "prod images for edge");
    assert_int_equal(p->enabled, 1);
    assert_int_equal(p->override, 1);
    assert_int_equal(p->deletion, 0);       /* absent: false */
    assert_int_equal(p->speed, 0);
    assert_int_equal(p->copy_by_chunk, 0);
    assert_int_equal(p->single_active_replication, 1);
    assert_string_equal(p->dest_namespace, "mirror");
    assert_int_equal(p->dest_namespace_replace_count, 1);
    assert_int_equal(p->trigger, HR_TRIGGER_SCHEDULED);
    assert_string_equal(p->cron, "0 */15 * * * *");
    assert_int_equal(hr_cron_next(&p->cron_parsed, 1714558050), 1714558500);

    assert_int_equal(p->nfilters, 4);
    assert_int_equal(p->filters[0].type, HR_FILTER_NAME);
    assert_string_equal(p->filters[0].value, "prod/**");
    assert_int_equal(p->filters[1].type, HR_FILTER_TAG);
    assert_int_equal(p->filters[1].excludes, 0);
    assert_string_equal(p->filters[1].value, "{v*,latest}");
    assert_int_equal(p->filters[2].type, HR_FILTER_LABEL);
    assert_int_equal(p->filters[2].nlabels, 1);
    assert_string_equal(p->filters[2].labels[0], "approved");
    assert_int_equal(p->filters[3].type, HR_FILTER_RESOURCE);
    assert_string_equal(p->filters[3].value, "image");

    /* src_registry: the masked secret comes from primary.password */
    assert_non_null(p->src);
    assert_string_equal(p->src->url, "https://harbor.example.com");
    assert_string_equal(p->src->username, "robot$edge-reader");
    assert_string_equal(p->src->password, "s3cret");
    assert_string_equal(p->src->type, "harbor");
    assert_int_equal(p->src->insecure, 0);

    /* and the loaded policy filters and rewrites as Harbor would */
    assert_int_equal(hr_policy_match_repo(p, "prod/api"), 1);
    assert_int_equal(hr_policy_match_repo(p, "stage/api"), 0);

    memset(&a, 0, sizeof(a));
    a.tags = tags;
    a.ntags = 2;
    a.labels = labels;
    a.nlabels = 1;
    assert_int_equal(hr_policy_filter_artifact(p, &a, keep), 1);
    assert_int_equal(keep[0], 0);

    assert_int_equal(hr_policy_dest_repo(p, "prod/api", out, sizeof(out),
                                         err, sizeof(err)), 0);
    assert_string_equal(out, "mirror/api");

    hr_config_free(&cf);
    hr_config_free(&cf);        /* safe twice */
}


static void
test_masked_secret_needs_primary(void **state)
{
    int           rc;
    char          err[HR_ERR_LEN], *json;
    hr_config_t   cf;

    (void) state;

    json = make_config("", "[{\"name\":\"p\",\"src_registry\":{\"id\":3,"
                       "\"url\":\"https://h\",\"credential\":{\"type\":"
                       "\"basic\",\"access_key\":\"k\",\"access_secret\":"
                       "\"*****\"}}}]");
    rc = hr_config_parse(&cf, json, strlen(json), err, sizeof(err));
    free(json);

    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "policies[0].src_registry.credential."
                            "access_secret"));

    /* an unmasked secret is taken as it is; the local Harbor (id 0) is
       the primary itself */
    assert_int_equal(load(&cf, "[{\"name\":\"p\",\"src_registry\":{\"id\":3,"
                          "\"url\":\"http://h:80\",\"credential\":{"
                          "\"access_key\":\"k\",\"access_secret\":\"x\"}}},"
                          "{\"name\":\"q\",\"src_registry\":{\"id\":0,"
                          "\"url\":\"http://core:8080\"}}]", err), 0);
    assert_string_equal(cf.policies[0].src->password, "x");
    assert_null(cf.policies[1].src);
    assert_int_equal(cf.policies[1].dest_namespace_replace_count, -1);
    assert_int_equal(cf.policies[1].trigger, HR_TRIGGER_MANUAL);
    hr_config_free(&cf);
}


static void
test_password_file(void **state)
{
    int           fd;
    char          path[] = "/tmp/hr-test-pw-XXXXXX", err[HR_ERR_LEN];
    char          extra[128], *json;
    hr_config_t   cf;

    (void) state;

    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "from-file\r\n", 11), 11);
    close(fd);

    snprintf(extra, sizeof(extra), ",\"password_file\":\"%s\"", path);
    json = make_config(extra, "[]");
    assert_int_equal(hr_config_parse(&cf, json, strlen(json), err,
                                     sizeof(err)), 0);
    assert_string_equal(cf.primary.password, "from-file");
    hr_config_free(&cf);
    free(json);

    /* both password and password_file */
    snprintf(extra, sizeof(extra), ",\"password\":\"x\",\"password_file\":"
             "\"%s\"", path);
    json = make_config(extra, "[]");
    assert_int_equal(hr_config_parse(&cf, json, strlen(json), err,
                                     sizeof(err)), -1);
    free(json);

    unlink(path);

    /* missing file, and a directory */
    json = make_config(",\"password_file\":\"/nonexistent/pw\"", "[]");
    assert_int_equal(hr_config_parse(&cf, json, strlen(json), err,
                                     sizeof(err)), -1);
    assert_non_null(strstr(err, "primary.password_file"));
    free(json);

    json = make_config(",\"password_file\":\"/tmp\"", "[]");
    assert_int_equal(hr_config_parse(&cf, json, strlen(json), err,
                                     sizeof(err)), -1);
    free(json);
}


static void
test_load_file(void **state)
{
    int           fd;
    char          path[] = "/tmp/hr-test-cf-XXXXXX", err[HR_ERR_LEN];
    char         *json;
    hr_config_t   cf;

    (void) state;

    json = make_config(",\"password\":\"p\"", "null");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, json, strlen(json)), (ssize_t) strlen(json));
    close(fd);
    free(json);

    assert_int_equal(hr_config_load(&cf, path, err, sizeof(err)), 0);
    assert_int_equal(cf.npolicies, 0);
    hr_config_free(&cf);
    unlink(path);

    assert_int_equal(hr_config_load(&cf, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, path));
    hr_config_free(&cf);

    assert_int_equal(hr_config_load(&cf, "/tmp", err, sizeof(err)), -1);
    hr_config_free(&cf);
}


static void
test_defaults_and_zero_values(void **state)
{
    char          err[HR_ERR_LEN];
    const char   *json;
    hr_config_t   cf;

    (void) state;

    json = "{\"storage\":{\"root\":\"/\"},\"primary\":{\"url\":"
           "\"http://127.0.0.1:5000\"},\"policies\":[{\"name\":\"a\","
           "\"trigger\":{\"type\":\"event_based\"},\"speed\":null,"
           "\"replicate_deletion\":true,\"dest_namespace_replace_count\":"
           "null,\"filters\":[{\"type\":\"tag\",\"value\":\"v*\","
           "\"decoration\":\"excludes\"},{\"type\":\"label\"},"
           "{\"type\":\"name\",\"value\":null}]}]}";

    if (hr_config_parse(&cf, json, strlen(json), err, sizeof(err)) != 0) {
        fail_msg("%s", err);
    }

    assert_string_equal(cf.state_dir, "/_harbor_edge");
    assert_null(cf.primary.username);
    assert_null(cf.primary.password);
    assert_null(cf.redis);
    assert_int_equal(cf.concurrency, 4);
    assert_string_equal(cf.log_level, "info");
    assert_int_equal(cf.policies[0].enabled, 0);
    assert_int_equal(cf.policies[0].speed, 0);      /* null: 0 */
    assert_int_equal(cf.nwarnings, 0);
    assert_int_equal(cf.policies[0].deletion, 1);
    assert_int_equal(cf.policies[0].dest_namespace_replace_count, -1);
    assert_int_equal(cf.policies[0].trigger, HR_TRIGGER_EVENT);
    assert_int_equal(cf.policies[0].filters[0].excludes, 1);
    assert_int_equal(cf.policies[0].filters[1].nlabels, 0);
    assert_null(cf.policies[0].filters[2].value);
    hr_config_free(&cf);

    /* legacy filters and trigger kinds */
    json = "{\"storage\":{\"root\":\"/s\"},\"primary\":{\"url\":"
           "\"http://h\"},\"policies\":[{\"name\":\"a\",\"trigger\":"
           "{\"kind\":\"Immediate\"},\"filters\":[{\"kind\":\"repository\","
           "\"pattern\":\"lib/**\"},{\"kind\":\"tag\",\"pattern\":\"v*\"}]}]}";

    if (hr_config_parse(&cf, json, strlen(json), err, sizeof(err)) != 0) {
        fail_msg("%s", err);
    }

    assert_int_equal(cf.policies[0].trigger, HR_TRIGGER_EVENT);
    assert_int_equal(cf.policies[0].filters[0].type, HR_FILTER_NAME);
    assert_string_equal(cf.policies[0].filters[0].value, "lib/**");
    assert_string_equal(cf.policies[0].filters[1].value, "v*");
    hr_config_free(&cf);
}


static void
test_bad_input(void **state)
{
    int           bad;
    char          err[HR_ERR_LEN];
    size_t        i;
    hr_config_t   cf;
    static const struct {
        const char  *policies;
        const char  *want;      /* a substring of the error */
    } t[] = {
        { "{}", "policies: expected an array" },
        { "[1]", "policies[0]: expected an object" },
        { "[{}]", "policies[0].name: is required" },
        { "[{\"name\":\"\"}]", "policies[0].name: must not be empty" },
        { "[{\"name\":7}]", "policies[0].name: expected a string" },
        { "[{\"name\":\"a\"},{\"name\":\"a\"}]",
          "policies[1].name: \"a\" is also the name of policies[0]" },
        { "[{\"name\":\"a\",\"enabled\":\"yes\"}]",
          "policies[0].enabled: expected true or false" },
        { "[{\"name\":\"a\",\"trigger\":{\"type\":\"hourly\"}}]",
          "policies[0].trigger.type: unknown trigger type" },
        { "[{\"name\":\"a\",\"trigger\":[]}]",
          "policies[0].trigger: expected an object" },
        { "[{\"name\":\"a\",\"trigger\":{\"type\":\"scheduled\"}}]",
          "policies[0].trigger.trigger_settings.cron: is required" },
        { "[{\"name\":\"a\",\"trigger\":{\"type\":\"scheduled\","
          "\"trigger_settings\":{\"cron\":\"0 0 0 * *\"}}}]",
          "policies[0].trigger.trigger_settings.cron: invalid cron" },
        { "[{\"name\":\"a\",\"trigger\":{\"type\":\"scheduled\","
          "\"trigger_settings\":{\"cron\":\"5 0 0 * * *\"}}}]",
          "must be 0" },
        { "[{\"name\":\"a\",\"trigger\":{\"type\":\"scheduled\","
          "\"trigger_settings\":{\"cron\":\"0 * * * * *\"}}}]",
          "not allowed for the minutes" },
        { "[{\"name\":\"a\",\"trigger\":{\"type\":\"scheduled\","
          "\"trigger_settings\":{\"cron\":\"@daily\"}}}]",
          "descriptors" },
        { "[{\"name\":\"a\",\"trigger\":{\"type\":\"event_based\"},"
          "\"single_active_replication\":true}]",
          "policies[0].single_active_replication" },
        { "[{\"name\":\"a\",\"filters\":{}}]",
          "policies[0].filters: expected an array" },
        { "[{\"name\":\"a\",\"filters\":[{\"type\":\"size\"}]}]",
          "policies[0].filters[0].type: unknown filter type \"size\"" },
        { "[{\"name\":\"a\",\"filters\":[{\"value\":\"x\"}]}]",
          "policies[0].filters[0].type: is required" },
        { "[{\"name\":\"a\",\"filters\":[\"x\"]}]",
          "policies[0].filters[0]: expected an object" },
        { "[{\"name\":\"a\",\"filters\":[{\"type\":\"name\","
          "\"decoration\":\"matches\"}]}]",
          "policies[0].filters[0].decoration: only tag and label" },
        { "[{\"name\":\"a\",\"filters\":[{\"type\":\"resource\","
          "\"value\":\"image\",\"decoration\":\"excludes\"}]}]",
          "policies[0].filters[0].decoration: only tag and label" },
        { "[{\"name\":\"a\",\"filters\":[{\"type\":\"tag\","
          "\"decoration\":\"include\"}]}]",
          "policies[0].filters[0].decoration: \"include\" is not" },
        { "[{\"name\":\"a\",\"filters\":[{\"type\":\"tag\","
          "\"value\":[\"v1\"]}]}]",
          "policies[0].filters[0].value: expected a string" },
        { "[{\"name\":\"a\",\"filters\":[{\"type\":\"label\","
          "\"value\":\"approved\"}]}]",
          "policies[0].filters[0].value: expected an array" },
        { "[{\"name\":\"a\",\"filters\":[{\"type\":\"label\","
          "\"value\":[\"ok\",3]}]}]",
          "policies[0].filters[0].value: [1]: expected a string" },
        { "[{\"name\":\"a\",\"filters\":[{\"type\":\"name\","
          "\"value\":\"prod/[\"}]}]",
          "policies[0].filters[0].value: bad pattern" },
        { "[{\"name\":\"a\",\"filters\":[{\"type\":\"tag\","
          "\"value\":\"{v*,latest\"}]}]",
          "policies[0].filters[0].value: bad pattern" },
        { "[{\"name\":\"a\",\"filters\":[{\"type\":\"resource\","
          "\"value\":\"helm\"}]}]",
          "policies[0].filters[0].value: unknown resource type" },
        { "[{\"name\":\"a\",\"dest_namespace\":\"Bad Name\"}]",
          "policies[0].dest_namespace: \"Bad Name\" is not a valid" },
        { "[{\"name\":\"a\",\"dest_namespace\":\"a/\"}]",
          "policies[0].dest_namespace" },
        { "[{\"name\":\"a\",\"dest_namespace_replace_count\":-2}]",
          "policies[0].dest_namespace_replace_count: -2 is out of range" },
        { "[{\"name\":\"a\",\"dest_namespace_replace_count\":128}]",
          "policies[0].dest_namespace_replace_count" },
        { "[{\"name\":\"a\",\"dest_namespace_replace_count\":1.5}]",
          "expected an integer" },
        { "[{\"name\":\"a\",\"speed\":\"fast\"}]",
          "policies[0].speed: expected an integer" },
        { "[{\"name\":\"a\",\"speed\":9999999999}]",
          "policies[0].speed: out of range" },
        { "[{\"name\":\"a\",\"speed\":-1}]",
          "policies[0].speed: -1 is not a speed" },
        { "[{\"name\":\"a\",\"src_registry\":{\"id\":2}}]",
          "policies[0].src_registry.url: is required" },
        { "[{\"name\":\"a\",\"src_registry\":{\"id\":2,\"url\":"
          "\"ftp://x\"}}]", "policies[0].src_registry.url" },
        { "[{\"name\":\"a\",\"src_registry\":{\"id\":2,\"url\":\"http://x\","
          "\"credential\":{\"type\":\"token\"}}}]",
          "policies[0].src_registry.credential.type: unknown" },
        { "[{\"name\":\"a\",\"src_registry\":\"primary\"}]",
          "policies[0].src_registry: expected an object" },
    };

    (void) state;
    bad = 0;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (load(&cf, t[i].policies, err) == 0) {
            print_error("accepted: %s\n", t[i].policies);
            hr_config_free(&cf);
            bad++;
            continue;
        }

        if (strstr(err, t[i].want) == NULL) {
            print_error("%s\n  error \"%s\"\n  want  \"%s\"\n",
                        t[i].policies, err, t[i].want);
            bad++;
        }

        /* a failed load leaves nothing to free, and freeing is safe */
        assert_null(cf.policies);
        hr_config_free(&cf);
    }

    assert_int_equal(bad, 0);
}


/* a misspelt key is named by its JSON path; known ones are not */
static void
test_unknown_keys(void **state)
{
    char          err[HR_ERR_LEN];
    size_t        i;
    const char   *json;
    hr_config_t   cf;
    static const char  *want[] = {
        "concurency: unknown key",
        "polices: unknown key",
        "storage.rot: unknown key",
        "policies[0].sped: unknown key",
        "policies[0].trigger.trigger_setings: unknown key",
        "policies[0].src_registry.credential.acess_key: unknown key",
        "policies[0].filters[1].valeu: unknown key",
    };

    (void) state;

    json = "{\"storage\":{\"root\":\"/s\",\"rot\":1},\"primary\":{"
           "\"url\":\"http://p\"},\"concurency\":8,\"polices\":[],"
           "\"log_file\":\"/var/log/hr.log\",\"scrub\":{},"
           "\"fill\":{},\"cache\":{},\"policies\":[{\"name\":\"a\","
           "\"sped\":1,\"id\":3,\"creation_time\":\"x\","
           "\"trigger\":{\"type\":\"manual\",\"trigger_setings\":{}},"
           "\"filters\":[{\"type\":\"name\",\"value\":\"a\"},"
           "{\"type\":\"tag\",\"valeu\":\"b\"}],"
           "\"src_registry\":{\"id\":2,\"url\":\"http://s\","
           "\"name\":\"s\",\"status\":\"healthy\",\"credential\":{"
           "\"type\":\"basic\",\"acess_key\":\"u\"}}}]}";

    if (hr_config_parse(&cf, json, strlen(json), err, sizeof(err)) != 0) {
        fail_msg("%s", err);
    }

    assert_string_equal(cf.log_file, "/var/log/hr.log");

    for (i = 0; i < cf.nwarnings; i++) {
        print_message("warning: %s\n", cf.warnings[i]);
    }

    assert_int_equal(cf.nwarnings, sizeof(want) / sizeof(want[0]));

    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_non_null(strstr(cf.warnings[i], want[i]));
    }

    hr_config_free(&cf);
}


static void
test_bad_top_level(void **state)
{
    int                 bad;
    char                err[HR_ERR_LEN];
    size_t              i;
    hr_config_t         cf;
    static const struct {
        const char  *json;
        const char  *want;
    } t[] = {
        { "", "line 1" },
        { "{", "line 1" },
        { "[]", "must be a JSON object" },
        { "{\"a\":1,\"a\":2}", "duplicate" },
        { "{}", "storage: is required" },
        { "{\"storage\":[]}", "storage: expected an object" },
        { "{\"storage\":{}}", "storage.root: is required" },
        { "{\"storage\":{\"root\":\"rel/path\"}}",
          "storage.root: \"rel/path\" is not an absolute path" },
        { "{\"storage\":{\"root\":\"/s\"}}", "primary: is required" },
        { "{\"storage\":{\"root\":\"/s\"},\"primary\":{}}",
          "primary.url: is required" },
        { "{\"storage\":{\"root\":\"/s\"},\"primary\":{\"url\":\"h:80\"}}",
          "primary.url: \"h:80\" is not an http" },
        { "{\"storage\":{\"root\":\"/s\"},\"primary\":{\"url\":\"http://\"}}",
          "primary.url: URL \"http://\" has no host" },
        { "{\"storage\":{\"root\":\"/s\"},\"primary\":{\"url\":"
          "\"http://a b\"}}", "primary.url: white space" },
        { "{\"storage\":{\"root\":\"/s\"},\"primary\":{\"url\":\"http://h\","
          "\"insecure\":1}}", "primary.insecure: expected true or false" },
        { "{\"storage\":{\"root\":\"/s\"},\"primary\":{\"url\":\"http://h\","
          "\"type\":\"quay\"}}", "primary.type: \"quay\" is not" },
        { "{\"storage\":{\"root\":\"/s\"},\"primary\":{\"url\":\"http://h\"},"
          "\"concurrency\":0}", "concurrency: 0 is out of range" },
        { "{\"storage\":{\"root\":\"/s\"},\"primary\":{\"url\":\"http://h\"},"
          "\"concurrency\":65}", "concurrency: 65 is out of range" },
        { "{\"storage\":{\"root\":\"/s\"},\"primary\":{\"url\":\"http://h\"},"
          "\"log_level\":\"trace\"}", "log_level: \"trace\" is not" },
        { "{\"storage\":{\"root\":\"/s\"},\"primary\":{\"url\":\"http://h\"},"
          "\"redis\":\"localhost\"}", "redis: \"localhost\" is not" },
        { "{\"storage\":{\"root\":\"/s\"},\"primary\":{\"url\":\"http://h\"},"
          "\"redis\":\"h:99999\"}", "redis: \"h:99999\": bad port" },
        { "{\"storage\":{\"root\":\"/s\"},\"primary\":{\"url\":\"http://h\"},"
          "\"redis_queue\":\"a b\"}", "redis_queue: \"a b\" is not a key" },
        { "{\"storage\":{\"root\":\"/s\"},\"primary\":{\"url\":\"http://h\"},"
          "\"redis_queue\":7}", "redis_queue: expected a string" },
        { "{\"storage\":{\"root\":\"/s\"},\"primary\":{\"url\":\"http://h\"},"
          "\"state_dir\":5}", "state_dir: expected a string" },
        { "{\"storage\":{\"root\":\"/s\\u0000x\"}}", "not allowed" },
    };

    (void) state;
    bad = 0;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        err[0] = '\0';

        if (hr_config_parse(&cf, t[i].json, strlen(t[i].json), err,
                            sizeof(err)) == 0)
        {
            print_error("accepted: %s\n", t[i].json);
            hr_config_free(&cf);
            bad++;
            continue;
        }

        if (strstr(err, t[i].want) == NULL) {
            print_error("%s\n  error \"%s\"\n  want  \"%s\"\n", t[i].json,
                        err, t[i].want);
            bad++;
        }

        hr_config_free(&cf);
    }

    assert_int_equal(bad, 0);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_harbor_example),
        cmocka_unit_test(test_masked_secret_needs_primary),
        cmocka_unit_test(test_password_file),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_defaults_and_zero_values),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_bad_top_level),
        cmocka_unit_test(test_unknown_keys),
    };

    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
