/*
 * harbor.h: Harbor's REST API as a replication source (docs/facts.md,
 * A Harbor source):
 * the /api/version probe, projects, repositories, and artifacts with their
 * tags, labels, index children and accessories.  Needed for label filters
 * and untagged artifacts, which a plain v2 registry cannot express.
 */

#ifndef HR_HARBOR_H
#define HR_HARBOR_H

#include "registry.h"

/* One artifact as a source lists it; a plain v2 source gives one per tag. */
typedef struct {
    char    *digest;        /* NULL: not known before the manifest GET */
    char    *type;          /* Harbor's "IMAGE", "CHART"...; NULL */
    char   **tags;
    size_t   ntags;
    char   **labels;
    size_t   nlabels;
} hr_art_t;

/*
 * Sets s->harbor when GET /api/version answers {"version":"v2.0"}, unless
 * the configuration names the type.  Never fails the run: a registry
 * without the API is a plain v2 registry.
 */
void hr_harbor_detect(hr_src_t *s);

/* Every repository ("project/repo...") the credential can see. */
int hr_harbor_repos(hr_src_t *s, char ***repos, size_t *n, char *err,
    size_t errlen);

/* The top-level artifacts of repo with tags and labels. */
int hr_harbor_artifacts(hr_src_t *s, const char *repo, hr_art_t **arts,
    size_t *n, char *err, size_t errlen);

void hr_art_free(hr_art_t *arts, size_t n);

#endif /* HR_HARBOR_H */
