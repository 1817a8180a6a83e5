/*
 * fuzz_policy_dest.c: hr_policy_dest_repo() and the filters.
 * Input: one byte of replace count (as int8), then dest_namespace, '\n',
 * the source repository, '\n', a tag pattern, '\n', tags separated by ','.
 * Checks: a rewritten name is a valid repository name that fits, starts
 * with "<namespace>/" and ends with the source's last component; kept tag
 * indexes are in range and increasing.
 *
 * fuzz-srcs: replicator/policy.c replicator/match.c
 * fuzz-srcs: lib/he_oci_grammar.c
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"


#define MAX_TAGS  16


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static char *next_field(char **p);


static char *
next_field(char **p)
{
    char  *start, *nl;

    start = *p;
    if (start == NULL) {
        return NULL;
    }

    nl = strchr(start, '\n');
    if (nl != NULL) {
        *nl = '\0';
        *p = nl + 1;
    } else {
        *p = NULL;
    }

    return start;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             rc, n, i;
    char           *buf, *p, *ns, *src, *pat, *tagstr, *t, *last;
    char            out[300], err[512];
    size_t          nslen, keep[MAX_TAGS], ntags;
    const char     *tags[MAX_TAGS];
    hr_filter_t     f;
    hr_policy_t     pol;
    hr_artifact_t   a;

    if (size < 1) {
        return 0;
    }

    buf = malloc(size);
    if (buf == NULL) {
        return 0;
    }

    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';

    p = buf;
    ns = next_field(&p);
    src = next_field(&p);
    pat = next_field(&p);
    tagstr = next_field(&p);

    memset(&pol, 0, sizeof(pol));
    pol.dest_namespace = ns;
    pol.dest_namespace_replace_count = (int8_t) data[0];

    if (src != NULL) {
        rc = hr_policy_dest_repo(&pol, src, out, sizeof(out), err,
                                 sizeof(err));
        if (rc == 0) {
            if (!hr_repo_name_valid(out, strlen(out))) {
                abort();
            }

            nslen = strlen(ns);
            if (nslen > 0 && (strncmp(out, ns, nslen) != 0
                              || out[nslen] != '/'))
            {
                abort();
            }

            last = strrchr(src, '/');
            last = (last != NULL) ? last + 1 : src;
            if (strlen(out) < strlen(last)
                || strcmp(out + strlen(out) - strlen(last), last) != 0)
            {
                abort();
            }

        } else if (err[0] == '\0') {
            abort();
        }
    }

    if (pat != NULL && tagstr != NULL) {
        ntags = 0;
        for (t = strtok(tagstr, ","); t != NULL && ntags < MAX_TAGS;
             t = strtok(NULL, ","))
        {
            tags[ntags++] = t;
        }

        memset(&f, 0, sizeof(f));
        f.type = HR_FILTER_TAG;
        f.excludes = data[0] & 1;
        f.value = pat;
        pol.filters = &f;
        pol.nfilters = 1;

        memset(&a, 0, sizeof(a));
        a.tags = tags;
        a.ntags = ntags;

        n = hr_policy_filter_artifact(&pol, &a, keep);
        if (n > (int) ntags) {
            abort();
        }

        for (i = 0; i < n; i++) {
            if (keep[i] >= ntags || (i > 0 && keep[i] <= keep[i - 1])) {
                abort();
            }
        }

        (void) hr_policy_match_repo(&pol, src != NULL ? src : "");
        f.type = HR_FILTER_NAME;
        (void) hr_policy_match_repo(&pol, src != NULL ? src : "");
    }

    free(buf);
    return 0;
}
