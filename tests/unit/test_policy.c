/*
 * test_policy.c: Harbor's filter semantics (docs/facts.md, Filters) and the
 * dest_namespace rewrite (docs/facts.md, Replication policies), as tables.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "policy.h"


#define NTAGS(a)  (sizeof(a) / sizeof((a)[0]))


static void one_filter(hr_policy_t *p, hr_filter_t *f, hr_filter_type_e type,
    int excludes, char *value);


static void
one_filter(hr_policy_t *p, hr_filter_t *f, hr_filter_type_e type,
    int excludes, char *value)
{
    memset(p, 0, sizeof(hr_policy_t));
    memset(f, 0, sizeof(hr_filter_t));
    f->type = type;
    f->excludes = excludes;
    f->value = value;
    p->filters = f;
    p->nfilters = 1;
    p->dest_namespace_replace_count = -1;
}


static void
test_name_filter(void **state)
{
    int          bad;
    size_t       i;
    hr_filter_t  f;
    hr_policy_t  p;
    static const struct {
        const char  *pattern;
        const char  *repo;
        int          want;
    } t[] = {
        { "library/**", "library/nginx", 1 },
        { "library/**", "library/a/b", 1 },
        { "library/**", "library", 0 },
        { "library/*", "library/a/b", 0 },
        { "*", "library/nginx", 0 },
        { "**", "library/nginx", 1 },
        { "**/nginx", "library/nginx", 1 },
        { "lib**", "library/nginx", 0 },
        { "{library,harbor}/**", "harbor/x", 1 },
        { "prod/**", "prod/api", 1 },
        { "prod/**", "stage/api", 0 },
        { "", "anything/at/all", 1 },         /* empty pattern: pass */
        { "[", "library/nginx", 0 },          /* bad pattern: dropped */
    };

    (void) state;
    bad = 0;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        one_filter(&p, &f, HR_FILTER_NAME, 0, (char *) t[i].pattern);

        if (hr_policy_match_repo(&p, t[i].repo) != t[i].want) {
            print_error("name \"%s\" on \"%s\": want %d\n", t[i].pattern,
                        t[i].repo, t[i].want);
            bad++;
        }
    }

    assert_int_equal(bad, 0);

    /* no filter at all, and a NULL value: everything passes */
    memset(&p, 0, sizeof(p));
    assert_int_equal(hr_policy_match_repo(&p, "a/b"), 1);
    one_filter(&p, &f, HR_FILTER_NAME, 0, NULL);
    assert_int_equal(hr_policy_match_repo(&p, "a/b"), 1);

    /* tag filters do not act on repositories */
    one_filter(&p, &f, HR_FILTER_TAG, 0, (char *) "v*");
    assert_int_equal(hr_policy_match_repo(&p, "a/b"), 1);
}


static void
test_tag_filter(void **state)
{
    int                 bad, got;
    size_t              i, keep[4];
    hr_filter_t         f;
    hr_policy_t         p;
    hr_artifact_t       a;
    static const char  *tags[] = { "v1.0", "latest", "dev" };
    static const struct {
        const char  *pattern;
        int          excludes;
        size_t       ntags;         /* 0: the untagged artifact */
        int          want;          /* -1 dropped, else kept tag count */
        size_t       keep0;
    } t[] = {
        { "{v*,latest}", 0, 3, 2, 0 },
        { "v*", 0, 3, 1, 0 },
        { "latest", 0, 3, 1, 1 },
        { "dev", 1, 3, 2, 0 },
        { "nomatch", 0, 3, -1, 0 },
        { "*", 1, 3, -1, 0 },               /* excludes everything */
        { "", 0, 3, 3, 0 },                 /* empty: pass */
        /* untagged artifacts are tested against "" */
        { "*", 0, 0, 0, 0 },
        { "**", 0, 0, 0, 0 },
        { "v*", 0, 0, -1, 0 },
        { "*", 1, 0, -1, 0 },
        { "v*", 1, 0, 0, 0 },
        { "", 0, 0, 0, 0 },
        { "{v*,latest}", 0, 0, -1, 0 },
    };

    (void) state;
    bad = 0;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        one_filter(&p, &f, HR_FILTER_TAG, t[i].excludes,
                   (char *) t[i].pattern);
        memset(&a, 0, sizeof(a));
        a.digest = "sha256:00";
        a.tags = t[i].ntags ? tags : NULL;
        a.ntags = t[i].ntags;

        got = hr_policy_filter_artifact(&p, &a, keep);
        if (got != t[i].want || (got > 0 && keep[0] != t[i].keep0)) {
            print_error("tag %s\"%s\" on %zu tags: got %d, want %d\n",
                        t[i].excludes ? "excludes " : "", t[i].pattern,
                        t[i].ntags, got, t[i].want);
            bad++;
        }
    }

    assert_int_equal(bad, 0);

    /* the kept tags are exactly the matching ones, in order */
    one_filter(&p, &f, HR_FILTER_TAG, 0, (char *) "{v*,latest}");
    memset(&a, 0, sizeof(a));
    a.tags = tags;
    a.ntags = NTAGS(tags);
    assert_int_equal(hr_policy_filter_artifact(&p, &a, keep), 2);
    assert_int_equal(keep[0], 0);
    assert_int_equal(keep[1], 1);
}


static void
test_label_and_chain(void **state)
{
    size_t              keep[4];
    hr_filter_t         fs[4];
    hr_policy_t         p;
    hr_artifact_t       a;
    static const char  *tags[] = { "v1", "v2", "latest" };
    static const char  *labels[] = { "approved", "prod" };
    static char        *want1[] = { (char *) "approved" };
    static char        *want2[] = { (char *) "approved", (char *) "qa" };
    static char        *want3[] = { (char *) "qa" };

    (void) state;

    memset(&a, 0, sizeof(a));
    a.digest = "sha256:00";
    a.type = "image";
    a.tags = tags;
    a.ntags = NTAGS(tags);
    a.labels = labels;
    a.nlabels = 2;

    one_filter(&p, &fs[0], HR_FILTER_LABEL, 0, NULL);

    /* all listed labels must be present */
    fs[0].labels = want1;
    fs[0].nlabels = 1;
    assert_int_equal(hr_policy_filter_artifact(&p, &a, keep), 3);

    fs[0].labels = want2;
    fs[0].nlabels = 2;
    assert_int_equal(hr_policy_filter_artifact(&p, &a, keep), -1);

    /* excludes keeps what does not match */
    fs[0].excludes = 1;
    assert_int_equal(hr_policy_filter_artifact(&p, &a, keep), 3);

    fs[0].labels = want1;
    fs[0].nlabels = 1;
    assert_int_equal(hr_policy_filter_artifact(&p, &a, keep), -1);

    /* no labels on the artifact (a plain v2 source) */
    fs[0].excludes = 0;
    a.labels = NULL;
    a.nlabels = 0;
    assert_int_equal(hr_policy_filter_artifact(&p, &a, keep), -1);
    fs[0].labels = want3;
    fs[0].excludes = 1;
    assert_int_equal(hr_policy_filter_artifact(&p, &a, keep), 3);

    /* an empty label list passes */
    fs[0].nlabels = 0;
    fs[0].excludes = 0;
    assert_int_equal(hr_policy_filter_artifact(&p, &a, keep), 3);

    /* a chain, in order: tag v*, then tag excludes v1, resource image */
    a.labels = labels;
    a.nlabels = 2;
    memset(fs, 0, sizeof(fs));
    fs[0].type = HR_FILTER_TAG;
    fs[0].value = (char *) "v*";
    fs[1].type = HR_FILTER_TAG;
    fs[1].excludes = 1;
    fs[1].value = (char *) "v1";
    fs[2].type = HR_FILTER_LABEL;
    fs[2].labels = want1;
    fs[2].nlabels = 1;
    fs[3].type = HR_FILTER_RESOURCE;
    fs[3].value = (char *) "image";
    p.filters = fs;
    p.nfilters = 4;

    assert_int_equal(hr_policy_filter_artifact(&p, &a, keep), 1);
    assert_int_equal(keep[0], 1);

    /* the resource filter is a no-op in Harbor: a chart passes "image" */
    a.type = "chart";
    assert_int_equal(hr_policy_filter_artifact(&p, &a, keep), 1);

    /* the second tag filter empties the list: dropped */
    fs[1].value = (char *) "v*";
    assert_int_equal(hr_policy_filter_artifact(&p, &a, keep), -1);
}


static void
test_dest_repo(void **state)
{
    int          bad, rc;
    char         out[300], err[300];
    size_t       i;
    hr_policy_t  p;
    static const struct {
        const char  *ns;
        int          count;
        const char  *src;
        const char  *want;      /* NULL: an error */
    } t[] = {
        /* docs/facts.md: namespace "n", source a/b/c/img */
        { "n", -1, "a/b/c/img", "n/img" },
        { "n", 0, "a/b/c/img", "n/a/b/c/img" },
        { "n", 1, "a/b/c/img", "n/b/c/img" },
        { "n", 3, "a/b/c/img", "n/img" },
        { "n", 4, "a/b/c/img", NULL },
        /* the policy example: mirror, 1 */
        { "mirror", 1, "prod/api", "mirror/api" },
        { "mirror", 2, "prod/api", NULL },
        { "x/y", 0, "lib", "x/y/lib" },
        { "n", -1, "img", "n/img" },
        { "n", 0, "img", "n/img" },
        { "n", 1, "img", NULL },
        /* no namespace: the source path is kept */
        { NULL, 1, "a/b/c/img", "a/b/c/img" },
        { "", -1, "prod/api", "prod/api" },
        /* the result must be a valid repository name */
        { NULL, -1, "Prod/API", NULL },
        { "n", 0, "a//b", NULL },
        { "n", -1, "a/", NULL },
    };

    (void) state;
    bad = 0;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        memset(&p, 0, sizeof(p));
        p.dest_namespace = (char *) t[i].ns;
        p.dest_namespace_replace_count = t[i].count;
        err[0] = '\0';

        rc = hr_policy_dest_repo(&p, t[i].src, out, sizeof(out), err,
                                 sizeof(err));

        if (t[i].want == NULL) {
            if (rc != -1 || err[0] == '\0') {
                print_error("ns \"%s\" %d \"%s\": want an error\n",
                            t[i].ns ? t[i].ns : "(null)", t[i].count,
                            t[i].src);
                bad++;
            }

        } else if (rc != 0 || strcmp(out, t[i].want) != 0) {
            print_error("ns \"%s\" %d \"%s\": got %d \"%s\" (%s), want "
                        "\"%s\"\n", t[i].ns ? t[i].ns : "(null)",
                        t[i].count, t[i].src, rc, out, err, t[i].want);
            bad++;
        }
    }

    assert_int_equal(bad, 0);

    /* too small an output buffer */
    memset(&p, 0, sizeof(p));
    p.dest_namespace = (char *) "mirror";
    p.dest_namespace_replace_count = -1;
    assert_int_equal(hr_policy_dest_repo(&p, "prod/api", out, 8, err,
                                         sizeof(err)), -1);
    assert_int_equal(hr_policy_dest_repo(&p, "prod/api", out, 11, err,
                                         sizeof(err)), 0);
    assert_string_equal(out, "mirror/api");
}


static void
test_repo_name_grammar(void **state)
{
    size_t              i;
    char                long_name[300];
    static const char  *good[] = {
        "a", "library/nginx", "a.b", "a_b", "a__b", "a-b", "a---b",
        "0/1/2", "mirror/prod/api-v2.x_y",
    };
    static const char  *bad[] = {
        "", "A", "a/", "/a", "a//b", "a___b", "-a", "a-", "a.", ".a",
        "a..b", "a._b", "a b", "a:b", "a@b", "a/./b", "a/../b",
    };

    (void) state;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(hr_repo_name_valid(good[i], strlen(good[i])), 1);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (hr_repo_name_valid(bad[i], strlen(bad[i])) != 0) {
            fail_msg("\"%s\" accepted", bad[i]);
        }
    }

    memset(long_name, 'a', sizeof(long_name));
    assert_int_equal(hr_repo_name_valid(long_name, 255), 1);
    assert_int_equal(hr_repo_name_valid(long_name, 256), 0);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_name_filter),
        cmocka_unit_test(test_tag_filter),
        cmocka_unit_test(test_label_and_chain),
        cmocka_unit_test(test_dest_repo),
        cmocka_unit_test(test_repo_name_grammar),
    };

    return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
