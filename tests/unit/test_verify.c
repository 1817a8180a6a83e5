/*
 * test_verify.c: the verified-blob cache, the quarantine, the temporaries
 * of dead processes and the pruning of a deleted manifest (verify.c,
 * store.c, prune.c) against a temp dir.
 *
 * What docs/store.md promises and this file checks: a committed blob is
 * remembered and then trusted without a hash; a blob whose key changed is
 * hashed again, and a wrong one is moved to the quarantine; what the key
 * cannot see (rot below the filesystem, made here by remembering a bad
 * file) passes the cache and is caught by a forced hash (the scrub); the
 * temporaries of a process that is gone are removed, a live one's kept;
 * a deleted index goes with its children and the layer links only they
 * needed, while a layer another kept manifest needs stays linked; a
 * deleted referrer leaves its subject's referrers index.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "prune.h"
#include "store.h"
#include "verify.h"


typedef struct {
    char        dir[256];
    char        v2[512];
    hr_store_t  st;
} hr_tstate_t;


static int setup(void **state);
static int teardown(void **state);
static int rm_cb(const char *p, const struct stat *sb, int flag,
    struct FTW *ftw);
static void blob_path(hr_tstate_t *ts, const char *dg, char *out,
    size_t len);
static void commit_blob(hr_tstate_t *ts, const char *body, char *dg);
static void put_file(const char *path, const char *s, size_t n);
static int exists(const char *fmt, ...);
static int count_dir(const char *dir);


static int
rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}


static int
setup(void **state)
{
    char          err[512];
    hr_tstate_t  *ts;

    ts = calloc(1, sizeof(hr_tstate_t));
    if (ts == NULL) {
        return -1;
    }

    snprintf(ts->dir, sizeof(ts->dir), "/tmp/test_verify.XXXXXX");
    if (mkdtemp(ts->dir) == NULL) {
        free(ts);
        return -1;
    }

    snprintf(ts->v2, sizeof(ts->v2), "%s/docker/registry/v2", ts->dir);

    if (hr_store_init(&ts->st, ts->dir, NULL, NULL, err, sizeof(err)) == -1)
    {
        print_error("hr_store_init: %s\n", err);
        free(ts);
        return -1;
    }

    *state = ts;

    return 0;
}


static int
teardown(void **state)
{
    hr_tstate_t  *ts = *state;

    hr_store_free(&ts->st);
    nftw(ts->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(ts);

    return 0;
}


static void
blob_path(hr_tstate_t *ts, const char *dg, char *out, size_t len)
{
    snprintf(out, len, "%s/blobs/sha256/%.2s/%s/data", ts->v2, dg + 7,
             dg + 7);
}


/* Through the streaming writer, as a download does. */
static void
commit_blob(hr_tstate_t *ts, const char *body, char *dg)
{
    char              err[512];
    hr_blob_writer_t  w;

    hr_sha256_digest(body, strlen(body), dg);
    assert_int_equal(hr_store_blob_begin(&ts->st, &w, dg,
                                         (long long) strlen(body), err,
                                         sizeof(err)), 0);
    assert_int_equal(hr_store_blob_write(&w, body, strlen(body), err,
                                         sizeof(err)), 0);
    assert_int_equal(hr_store_blob_commit(&w, err, sizeof(err)), 0);
}


static void
put_file(const char *path, const char *s, size_t n)
{
    int  fd;

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd != -1);
    assert_int_equal(write(fd, s, n), (ssize_t) n);
    close(fd);
}


static int
exists(const char *fmt, ...)
{
    char         path[2048];
    va_list      ap;
    struct stat  sb;

    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);

    return lstat(path, &sb) == 0;
}


static int
count_dir(const char *dir)
{
    int             n;
    DIR            *d;
    struct dirent  *de;

    d = opendir(dir);
    if (d == NULL) {
        return 0;
    }

    n = 0;

    while ((de = readdir(d)) != NULL) {
        n += de->d_name[0] != '.';
    }

    closedir(d);

    return n;
}


static void
test_commit_remembers(void **state)
{
    char          dg[HR_DIGEST_LEN + 1], err[2048], path[1100];
    hr_pace_t     pace;
    long long     size;
    hr_tstate_t  *ts = *state;

    commit_blob(ts, "layer bytes, verified on the way in", dg);
    assert_true(exists("%s/_harbor_edge/verified/%.2s/%s", ts->dir, dg + 7,
                       dg + 7));

    /* trusted from the cache: nothing read */
    memset(&pace, 0, sizeof(pace));
    assert_int_equal(hr_verify_blob(&ts->st, dg, &size, 0, NULL, &pace, err,
                                    sizeof(err)), HR_VERIFY_OK);
    assert_int_equal(pace.bytes, 0);
    assert_int_equal(size, (long long) strlen("layer bytes, verified on the "
                                              "way in"));

    /* forced (the scrub): read, and right */
    assert_int_equal(hr_verify_blob(&ts->st, dg, &size, 1, NULL, &pace, err,
                                    sizeof(err)), HR_VERIFY_OK);
    assert_int_equal(pace.bytes, size);

    blob_path(ts, dg, path, sizeof(path));
    unlink(path);
    assert_int_equal(hr_verify_blob(&ts->st, dg, &size, 0, NULL, NULL, err,
                                    sizeof(err)), HR_VERIFY_ABSENT);
}


static void
test_changed_is_hashed_and_quarantined(void **state)
{
    char          dg[HR_DIGEST_LEN + 1], err[2048], path[1100], q[600];
    long long     size;
    hr_tstate_t  *ts = *state;
    const char   *body = "the real layer bytes";

    commit_blob(ts, body, dg);
    blob_path(ts, dg, path, sizeof(path));

    /* same size, other bytes, written through the filesystem: new ctime */
    put_file(path, "THE REAL LAYER BYTES", strlen(body));
    assert_int_equal(hr_verify_blob(&ts->st, dg, &size, 0, NULL, NULL, err,
                                    sizeof(err)), HR_VERIFY_BAD);
    assert_non_null(strstr(err, "quarantined as"));
    assert_false(exists("%s", path));
    assert_false(exists("%s/_harbor_edge/verified/%.2s/%s", ts->dir, dg + 7,
                        dg + 7));
    snprintf(q, sizeof(q), "%s/_harbor_edge/quarantine", ts->dir);
    assert_int_equal(count_dir(q), 1);

    /* now absent: the writer fetches it, nothing in its way */
    assert_int_equal(hr_verify_blob(&ts->st, dg, &size, 0, NULL, NULL, err,
                                    sizeof(err)), HR_VERIFY_ABSENT);
    commit_blob(ts, body, dg);
    assert_int_equal(hr_verify_blob(&ts->st, dg, &size, 0, NULL, NULL, err,
                                    sizeof(err)), HR_VERIFY_OK);
}


static void
test_scrub_sees_what_the_cache_cannot(void **state)
{
    char          dg[HR_DIGEST_LEN + 1], err[2048], path[1100];
    long long     size;
    hr_tstate_t  *ts = *state;
    const char   *body = "bytes that rot on the medium";

    commit_blob(ts, body, dg);
    blob_path(ts, dg, path, sizeof(path));

    /* rot below the filesystem leaves the key as it was: remembered */
    put_file(path, "bytes that rot on the MEDIUM", strlen(body));
    hr_verify_remember(&ts->st, dg);

    assert_int_equal(hr_verify_blob(&ts->st, dg, &size, 0, NULL, NULL, err,
                                    sizeof(err)), HR_VERIFY_OK);
    assert_int_equal(hr_verify_blob(&ts->st, dg, &size, 1, NULL, NULL, err,
                                    sizeof(err)), HR_VERIFY_BAD);
    assert_false(exists("%s", path));
}


static void
test_dead_temporaries_removed(void **state)
{
    char          dir[600], mine[700], dead[700];
    pid_t         pid;
    hr_tstate_t  *ts = *state;

    /* a pid that is gone: a child that exited and was reaped */
    pid = fork();
    assert_true(pid != -1);
    if (pid == 0) {
        _exit(0);
    }
    assert_int_equal(waitpid(pid, NULL, 0), pid);

    snprintf(dir, sizeof(dir), "%s/" HR_STORE_TMP_DIR, ts->v2);
    mkdir(dir, 0755);
    snprintf(dead, sizeof(dead), "%s/link.tmp-%d-3", dir, (int) pid);
    snprintf(mine, sizeof(mine), "%s/link.tmp-%d-4", dir, (int) getpid());
    put_file(dead, "x", 1);
    put_file(mine, "y", 1);

    assert_int_equal(hr_store_clean_tmp(&ts->st, 0), 1);
    assert_false(exists("%s", dead));
    assert_true(exists("%s", mine));

    /* not again within the interval */
    put_file(dead, "x", 1);
    assert_int_equal(hr_store_clean_tmp(&ts->st, 3600), 0);
    assert_true(exists("%s", dead));
}


static void
test_link_temporaries_outside(void **state)
{
    char              dg[HR_DIGEST_LEN + 1], err[512], dir[700];
    hr_tstate_t      *ts = *state;
    hr_store_batch_t  b;

    hr_sha256_digest("m", 1, dg);
    hr_store_batch_init(&b, &ts->st);
    assert_int_equal(hr_store_link_b(&ts->st, &b, 0, "a/b",
                                     HR_LINK_TAG_CURRENT, "v1", dg, err,
                                     sizeof(err)), 0);

    /* staged: no tag directory a reader would list */
    snprintf(dir, sizeof(dir), "%s/repositories/a/b/_manifests/tags",
             ts->v2);
    assert_int_equal(count_dir(dir), 0);
    snprintf(dir, sizeof(dir), "%s/" HR_STORE_TMP_DIR, ts->v2);
    assert_int_equal(count_dir(dir), 1);

    assert_int_equal(hr_store_batch_publish(&b, err, sizeof(err)), 0);
    assert_true(exists("%s/repositories/a/b/_manifests/tags/v1/current/link",
                       ts->v2));
    assert_int_equal(count_dir(dir), 0);
    hr_store_batch_free(&b);
}


/* A manifest's bytes and its links, as a run leaves them. */
static void
put_manifest(hr_tstate_t *ts, const char *repo, const char *json, char *dg)
{
    char  err[512];

    hr_sha256_digest(json, strlen(json), dg);
    assert_int_equal(hr_store_put_blob(&ts->st, dg, json, strlen(json), err,
                                       sizeof(err)), 0);
    assert_int_equal(hr_store_link(&ts->st, repo, HR_LINK_LAYER, NULL, dg,
                                   err, sizeof(err)), 0);
    assert_int_equal(hr_store_link(&ts->st, repo, HR_LINK_REVISION, NULL, dg,
                                   err, sizeof(err)), 0);
}


static void
test_prune_index(void **state)
{
    char               l1[HR_DIGEST_LEN + 1], l2[HR_DIGEST_LEN + 1];
    char               l3[HR_DIGEST_LEN + 1], a[HR_DIGEST_LEN + 1];
    char               m[HR_DIGEST_LEN + 1], idx[HR_DIGEST_LEN + 1];
    char               err[512], json[2048];
    const char        *r = "p/app";
    hr_tstate_t       *ts = *state;
    hr_prune_stats_t   ps;

    hr_sha256_digest("l1", 2, l1);
    hr_sha256_digest("l2", 2, l2);
    hr_sha256_digest("l3", 2, l3);

    assert_int_equal(hr_store_link(&ts->st, r, HR_LINK_LAYER, NULL, l1, err,
                                   sizeof(err)), 0);
    assert_int_equal(hr_store_link(&ts->st, r, HR_LINK_LAYER, NULL, l2, err,
                                   sizeof(err)), 0);
    assert_int_equal(hr_store_link(&ts->st, r, HR_LINK_LAYER, NULL, l3, err,
                                   sizeof(err)), 0);

    /* child a: l1, l2; the index names a; m (kept, tagged): l1, l3 */
    snprintf(json, sizeof(json), "{\"config\":{\"digest\":\"%s\"},"
             "\"layers\":[{\"digest\":\"%s\"}]}", l2, l1);
    put_manifest(ts, r, json, a);
    snprintf(json, sizeof(json), "{\"manifests\":[{\"digest\":\"%s\"}]}", a);
    put_manifest(ts, r, json, idx);
    snprintf(json, sizeof(json), "{\"config\":{\"digest\":\"%s\"},"
             "\"layers\":[{\"digest\":\"%s\"}]}", l3, l1);
    put_manifest(ts, r, json, m);
    assert_int_equal(hr_store_link(&ts->st, r, HR_LINK_TAG_CURRENT, "old",
                                   idx, err, sizeof(err)), 0);
    assert_int_equal(hr_store_link(&ts->st, r, HR_LINK_TAG_CURRENT, "keep",
                                   m, err, sizeof(err)), 0);

    /* still tagged: kept */
    memset(&ps, 0, sizeof(ps));
    assert_int_equal(hr_prune_manifest(&ts->st, r, idx, &ps, err,
                                       sizeof(err)), 0);

    /* a child of a kept index: kept */
    assert_int_equal(hr_prune_manifest(&ts->st, r, a, &ps, err,
                                       sizeof(err)), 0);

    assert_int_equal(hr_store_tag_delete(&ts->st, r, "old", err,
                                         sizeof(err)), 0);
    assert_int_equal(hr_prune_manifest(&ts->st, r, idx, &ps, err,
                                       sizeof(err)), 1);
    assert_int_equal(ps.revisions, 2);          /* the index and a */
    assert_int_equal(ps.layers, 1);             /* l2 only */

#define REV(d)  "%s/repositories/p/app/_manifests/revisions/sha256/%s/link", \
                ts->v2, (d) + 7
#define LAY(d)  "%s/repositories/p/app/_layers/sha256/%s/link", ts->v2, (d) + 7

    assert_false(exists(REV(idx)));
    assert_false(exists(REV(a)));
    assert_true(exists(REV(m)));
    assert_false(exists(LAY(idx)));
    assert_false(exists(LAY(a)));
    assert_false(exists(LAY(l2)));
    assert_true(exists(LAY(l1)));               /* m needs it */
    assert_true(exists(LAY(l3)));
    assert_true(exists(LAY(m)));
    assert_true(exists("%s/repositories/p/app/_manifests/tags/keep/current/"
                       "link", ts->v2));

#undef REV
#undef LAY
}


static void
test_prune_referrer(void **state)
{
    char               m[HR_DIGEST_LEN + 1], r1[HR_DIGEST_LEN + 1];
    char               r2[HR_DIGEST_LEN + 1], l[HR_DIGEST_LEN + 1];
    char               err[512], json[2048], path[1100], *text;
    size_t             len;
    json_t            *d1, *d2;
    const char        *repo = "p/sig";
    hr_tstate_t       *ts = *state;
    hr_prune_stats_t   ps;

    hr_sha256_digest("cfg", 3, l);
    assert_int_equal(hr_store_link(&ts->st, repo, HR_LINK_LAYER, NULL, l, err,
                                   sizeof(err)), 0);
    snprintf(json, sizeof(json), "{\"config\":{\"digest\":\"%s\"}}", l);
    put_manifest(ts, repo, json, m);
    assert_int_equal(hr_store_link(&ts->st, repo, HR_LINK_TAG_CURRENT, "v1",
                                   m, err, sizeof(err)), 0);

    /* two referrers of m, untagged */
    snprintf(json, sizeof(json), "{\"subject\":{\"digest\":\"%s\"},"
             "\"config\":{\"digest\":\"%s\"},\"artifactType\":\"a/1\"}",
             m, l);
    put_manifest(ts, repo, json, r1);
    snprintf(json, sizeof(json), "{\"subject\":{\"digest\":\"%s\"},"
             "\"config\":{\"digest\":\"%s\"},\"artifactType\":\"a/2\"}",
             m, l);
    put_manifest(ts, repo, json, r2);
    d1 = json_pack("{s:s, s:s, s:i}", "mediaType", "x", "digest", r1, "size",
                   1);
    d2 = json_pack("{s:s, s:s, s:i}", "mediaType", "x", "digest", r2, "size",
                   1);
    assert_int_equal(hr_store_referrer_add(&ts->st, repo, m, d1, err,
                                           sizeof(err)), 0);
    assert_int_equal(hr_store_referrer_add(&ts->st, repo, m, d2, err,
                                           sizeof(err)), 0);
    json_decref(d1);
    json_decref(d2);

    memset(&ps, 0, sizeof(ps));
    assert_int_equal(hr_prune_manifest(&ts->st, repo, r1, &ps, err,
                                       sizeof(err)), 1);

    snprintf(path, sizeof(path), "%s/repositories/p/sig/_harbor/referrers/"
             "sha256/%s/index.json", ts->v2, m + 7);
    text = hr_store_read_file(path, 1 << 20, &len, err, sizeof(err));
    assert_non_null(text);
    assert_null(strstr(text, r1));
    assert_non_null(strstr(text, r2));
    free(text);

    /* the last one: no file, no referrers */
    assert_int_equal(hr_prune_manifest(&ts->st, repo, r2, &ps, err,
                                       sizeof(err)), 1);
    assert_false(exists("%s", path));
    assert_int_equal(ps.revisions, 2);

    /* the config is m's too: still linked */
    assert_true(exists("%s/repositories/p/sig/_layers/sha256/%s/link",
                       ts->v2, l + 7));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_setup_teardown(test_commit_remembers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_changed_is_hashed_and_quarantined,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_scrub_sees_what_the_cache_cannot,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_temporaries_removed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_link_temporaries_outside, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_prune_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_referrer, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
