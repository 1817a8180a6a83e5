/*
 * policy.h: Harbor's replication filters and destination rewrite, applied to
 * what a source lists.  Pure: no I/O.
 *
 * Filters form an AND chain in array order.  Name filters act on the
 * repository ("project/repo" for Harbor, the full path for a plain v2
 * registry); tag and label filters act on artifacts; an empty pattern passes
 * everything.
 */

#ifndef HR_POLICY_H
#define HR_POLICY_H

#include <stddef.h>

#include "config.h"

typedef struct {
    const char          *digest;    /* sha256:... */
    const char          *type;      /* Harbor's artifact type: "image",
                                       "chart", ...; NULL: unknown */
    const char  *const  *tags;
    size_t               ntags;
    const char  *const  *labels;    /* NULL/0 for a plain v2 source */
    size_t               nlabels;
} hr_artifact_t;

/* 1 when every name filter passes for repo, 0 otherwise. */
int hr_policy_match_repo(const hr_policy_t *p, const char *repo);

/*
 * Applies the tag, label and resource filters to one artifact.  Returns -1 if
 * the artifact is filtered out, else the number of its tags that pass; those
 * tags' indexes are written to keep[] (ntags entries of room; NULL is fine
 * when ntags is 0).  0 means the artifact is kept untagged, by digest.  As in
 * Harbor, an untagged artifact is tested against the empty string: it is
 * kept by an empty tag filter, by "*" or "**" (matches), or by an excludes
 * pattern that does not match "" (e.g. "excludes v*"); "v*" (matches) and
 * "excludes *" drop it.  The resource filter is a no-op, as in Harbor.
 */
int hr_policy_filter_artifact(const hr_policy_t *p, const hr_artifact_t *a,
    size_t *keep);

/*
 * The destination repository for a source repository under p's
 * dest_namespace and dest_namespace_replace_count, in Harbor's rules:
 * namespace "n", source "a/b/c/img": -1 gives n/img, 0 gives n/a/b/c/img,
 * 1 gives n/b/c/img, 3 gives n/img, 4 is an error.  Writes a NUL-terminated
 * name to out; returns 0, or -1 with err filled (too many components, result
 * over outlen or not a valid repository name).
 */
int hr_policy_dest_repo(const hr_policy_t *p, const char *src_repo, char *out,
    size_t outlen, char *err, size_t errlen);

/*
 * 1 when s[0..len) is a repository name in the OCI distribution grammar
 * (he_oci_name(), which the nginx module shares), at most 255 bytes.
 */
int hr_repo_name_valid(const char *s, size_t len);

#endif /* HR_POLICY_H */
