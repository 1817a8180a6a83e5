/*
 * fuzz_config.c: hr_config_parse() on arbitrary JSON, then every loaded
 * policy through the filters and the dest_namespace rewrite.  Checks: no
 * crash or leak; an error always has a message; a loaded scheduled policy
 * has a cron with a next time or none, never garbage.
 *
 * fuzz-srcs: replicator/config.c replicator/config_keys.c replicator/cron.c
 * fuzz-srcs: replicator/match.c
 * fuzz-srcs: replicator/policy.c replicator/redis_addr.c
 * fuzz-srcs: lib/he_oci_grammar.c
 * fuzz-libs: -ljansson -lhiredis
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "policy.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char            err[HR_ERR_LEN], out[300];
    size_t          i, keep[2];
    time_t          t;
    hr_config_t     cf;
    hr_artifact_t   a;
    const char     *tags[] = { "v1.0", "latest" };
    const char     *labels[] = { "approved" };

    err[0] = '\0';

    if (hr_config_parse(&cf, (const char *) data, size, err, sizeof(err))
        != 0)
    {
        if (err[0] == '\0' || cf.policies != NULL) {
            abort();
        }
        return 0;
    }

    memset(&a, 0, sizeof(a));
    a.tags = tags;
    a.ntags = 2;
    a.labels = labels;
    a.nlabels = 1;

    for (i = 0; i < cf.npolicies; i++) {
        if (cf.policies[i].name == NULL || cf.policies[i].name[0] == '\0') {
            abort();
        }

        if (hr_config_policy(&cf, cf.policies[i].name)
            != &cf.policies[i])
        {
            abort();
        }

        (void) hr_policy_match_repo(&cf.policies[i], "prod/api");
        (void) hr_policy_filter_artifact(&cf.policies[i], &a, keep);
        (void) hr_policy_dest_repo(&cf.policies[i], "prod/team/api", out,
                                   sizeof(out), err, sizeof(err));

        if (cf.policies[i].trigger == HR_TRIGGER_SCHEDULED) {
            t = hr_cron_next(&cf.policies[i].cron_parsed, 1714558050);
            if (t != (time_t) -1 && t <= 1714558050) {
                abort();
            }
        }
    }

    hr_config_free(&cf);
    return 0;
}
