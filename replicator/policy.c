/*
 * policy.c: Harbor's replication filters and the dest_namespace rewrite,
 * applied to what a source lists.  Pure: no I/O, no allocation.
 *
 * Semantics follow Harbor's src/pkg/reg/filter/{repository,artifact}.go and
 * src/controller/replication/flow/stage.go (replaceNamespace):
 *
 * - the filters are an AND chain in array order; an empty pattern or label
 *   list passes everything;
 * - a name filter matches the whole repository name with doublestar;
 * - a tag filter tests each tag; "matches" keeps the matching tags,
 *   "excludes" the others; an artifact left with no tag is dropped, a kept
 *   one carries only its kept tags; an untagged artifact is tested as the
 *   empty string (so "*" keeps it, "v*" drops it, "excludes *" drops it);
 * - a label filter matches when the artifact has every listed label;
 * - the resource filter is validated by Harbor but no code path filters on
 *   it (docs/facts.md, Filters): it passes everything here too.
 *
 * A pattern the matcher refuses drops the repository or the artifact:
 * Harbor fails the task in that case, and copying nothing is the safe side.
 */

#include <stdio.h>
#include <string.h>

#include "he_oci_grammar.h"
#include "match.h"
#include "policy.h"


static int hr_policy_has_label(const hr_artifact_t *a, const char *label);


/* the OCI name grammar, shared with the nginx module */

int
hr_repo_name_valid(const char *s, size_t len)
{
    return he_oci_name((const unsigned char *) s, len);
}


int
hr_policy_match_repo(const hr_policy_t *p, const char *repo)
{
    size_t              i;
    const hr_filter_t  *f;

    for (i = 0; i < p->nfilters; i++) {
        f = &p->filters[i];

        if (f->type != HR_FILTER_NAME || f->value == NULL
            || f->value[0] == '\0')
        {
            continue;
        }

        if (hr_match(f->value, repo) != 1) {
            return 0;
        }
    }

    return 1;
}


static int
hr_policy_has_label(const hr_artifact_t *a, const char *label)
{
    size_t  i;

    for (i = 0; i < a->nlabels; i++) {
        if (a->labels[i] != NULL && strcmp(a->labels[i], label) == 0) {
            return 1;
        }
    }

    return 0;
}


int
hr_policy_filter_artifact(const hr_policy_t *p, const hr_artifact_t *a,
    size_t *keep)
{
    int                 m;
    size_t              i, j, n, nkeep;
    const hr_filter_t  *f;

    nkeep = a->ntags;
    for (i = 0; i < nkeep; i++) {
        keep[i] = i;
    }

    for (i = 0; i < p->nfilters; i++) {
        f = &p->filters[i];

        switch (f->type) {

        case HR_FILTER_TAG:
            if (f->value == NULL || f->value[0] == '\0') {
                break;
            }

            if (a->ntags == 0) {
                /* untagged: tested as "" */
                m = hr_match(f->value, "");
                if (m == -1 || (m == 1) == (f->excludes != 0)) {
                    return -1;
                }
                break;
            }

            n = 0;

            for (j = 0; j < nkeep; j++) {
                m = hr_match(f->value, a->tags[keep[j]]);
                if (m == -1) {
                    return -1;
                }

                if ((m == 1) != (f->excludes != 0)) {
                    keep[n++] = keep[j];
                }
            }

            if (n == 0) {
                return -1;
            }

            nkeep = n;
            break;

        case HR_FILTER_LABEL:
            if (f->nlabels == 0) {
                break;
            }

            m = 1;

            for (j = 0; j < f->nlabels; j++) {
                if (!hr_policy_has_label(a, f->labels[j])) {
                    m = 0;
                    break;
                }
            }

            if (m == (f->excludes != 0)) {
                return -1;
            }

            break;

        default:
            /* name: repository level; resource: no-op in Harbor */
            break;
        }
    }

    return (int) nkeep;
}


int
hr_policy_dest_repo(const hr_policy_t *p, const char *src_repo, char *out,
    size_t outlen, char *err, size_t errlen)
{
    int          count;
    size_t       n, len, nslash, i;
    const char  *ns, *rest, *slash;

    ns = p->dest_namespace;
    len = strlen(src_repo);

    if (ns == NULL || ns[0] == '\0') {
        rest = src_repo;
        n = snprintf(out, outlen, "%s", src_repo);
        goto check;
    }

    count = p->dest_namespace_replace_count;

    if (count < 0) {
        /* legacy: every component but the last is replaced */
        slash = strrchr(src_repo, '/');
        rest = (slash != NULL) ? slash + 1 : src_repo;

    } else {
        nslash = 0;
        for (i = 0; i < len; i++) {
            if (src_repo[i] == '/') {
                nslash++;
            }
        }

        if ((size_t) count > nslash) {
            snprintf(err, errlen, "the source repository \"%.256s\" has "
                     "only %zu path components before its last one, but "
                     "dest_namespace_replace_count is %d",
                     src_repo, nslash, count);
            return -1;
        }

        rest = src_repo;
        for (i = 0; i < (size_t) count; i++) {
            rest = strchr(rest, '/') + 1;
        }
    }

    n = snprintf(out, outlen, "%s/%s", ns, rest);

check:

    if (n >= outlen) {
        snprintf(err, errlen, "destination repository for \"%.256s\" "
                 "does not fit in %zu bytes", src_repo, outlen);
        if (outlen > 0) {
            out[0] = '\0';
        }
        return -1;
    }

    if (!hr_repo_name_valid(out, n)) {
        snprintf(err, errlen, "destination repository \"%.300s\" is not a "
                 "valid repository name", out);
        out[0] = '\0';
        return -1;
    }

    return 0;
}
