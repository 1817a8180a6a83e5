/*
 * test_store.c: the layout writer (replicator/store.c) against a temp dir.
 *
 * What docs/store.md promises and this file checks: paths exactly as
 * distribution lays them out; link files of exactly 71 bytes; a wrong digest
 * refused with nothing left behind; every file appearing atomically (a
 * reader racing a writer sees the old link or the new one, never a torn
 * one); the tag's current link removed first when a tag is deleted; 0644 /
 * 0755 whatever the umask, 0640 / 0750 and the group when one is set; the
 * partial blob kept with its offset and resumed by re-hashing the prefix;
 * the referrers index sorted, unique and compact; names that could escape
 * the store refused before any path is built.  And what a crash or a hand
 * can leave is not trusted: a torn or garbage link is rewritten by the next
 * write, a blob of the wrong size is fetched again, a manifest that does
 * not hash to its digest is rewritten; a batch shows nothing before its
 * publish, and nothing after hr_store_batch_free() without one.
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
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "store.h"


typedef struct {
    char        dir[256];
    char        v2[512];
    hr_store_t  st;
} hr_tstate_t;


static int setup(void **state);
static int teardown(void **state);
static int rm_cb(const char *p, const struct stat *sb, int flag,
    struct FTW *ftw);
static int count_tmp(const char *dir);
static int count_tmp_cb(const char *p, const struct stat *sb, int flag,
    struct FTW *ftw);
static mode_t file_mode(const char *path);
static char *slurp(const char *path, size_t *len);
static void digest_of(const char *s, char *out);
static void put_file(const char *path, const char *s, size_t n);


/* nftw has no user pointer: a counter reset by count_tmp() each time */
static int  hr_tmp_found;


static int
rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}


static int
count_tmp_cb(const char *p, const struct stat *sb, int flag,
    struct FTW *ftw)
{
    if (strstr(p, ".tmp-") != NULL) {
        hr_tmp_found++;
    }

    return 0;
}


static int
count_tmp(const char *dir)
{
    hr_tmp_found = 0;
    nftw(dir, count_tmp_cb, 16, FTW_PHYS);

    return hr_tmp_found;
}


static mode_t
file_mode(const char *path)
{
    struct stat  sb;

    if (stat(path, &sb) == -1) {
        return (mode_t) -1;
    }

    return sb.st_mode & 07777;
}


static char *
slurp(const char *path, size_t *len)
{
    char  err[256];

    return hr_store_read_file(path, 1 << 24, len, err, sizeof(err));
}


static void
digest_of(const char *s, char *out)
{
    hr_sha256_digest(s, strlen(s), out);
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
setup(void **state)
{
    char          err[512];
    hr_tstate_t  *ts;

    ts = calloc(1, sizeof(hr_tstate_t));
    if (ts == NULL) {
        return -1;
    }

    snprintf(ts->dir, sizeof(ts->dir), "/tmp/test_store.XXXXXX");
    if (mkdtemp(ts->dir) == NULL) {
        free(ts);
        return -1;
    }

    snprintf(ts->v2, sizeof(ts->v2), "%s/docker/registry/v2", ts->dir);

    /* the umask must not matter: modes are set explicitly */
    umask(077);

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
    umask(022);

    return 0;
}


static void
test_grammar(void **state)
{
    size_t  i;

    static const char  *good_repos[] = {
        "a", "library/nginx", "a/b/c/d", "a.b", "a_b", "a__b", "a---b",
        "0abc/x-y.z", NULL
    };

    static const char  *bad_repos[] = {
        "", "/a", "a/", "a//b", "../etc", "a/../b", "a/./b", "A", "a b",
        "a:b", "a/_layers", "a..b", "a___b", ".a", "a-", "a/b\n", "%2e%2e",
        NULL
    };

    static const char  *bad_digests[] = {
        "", "sha256:", "sha256:ABCDEF0000000000000000000000000000000000000000"
        "00000000000000000", "sha512:00", "md5:abc",
        "sha256:../../../../etc/passwd0000000000000000000000000000000000000",
        "sha256:0000000000000000000000000000000000000000000000000000000000000"
        "00000", NULL
    };

    for (i = 0; good_repos[i]; i++) {
        if (!hr_valid_repo(good_repos[i])) {
            fail_msg("\"%s\" refused", good_repos[i]);
        }
    }

    for (i = 0; bad_repos[i]; i++) {
        if (hr_valid_repo(bad_repos[i])) {
            fail_msg("\"%s\" accepted", bad_repos[i]);
        }
    }

    for (i = 0; bad_digests[i]; i++) {
        if (hr_valid_digest(bad_digests[i])) {
            fail_msg("digest \"%s\" accepted", bad_digests[i]);
        }
    }

    assert_true(hr_valid_tag("v1.0_rc-1"));
    assert_true(hr_valid_tag("_x"));
    assert_false(hr_valid_tag(".hidden"));
    assert_false(hr_valid_tag("-x"));
    assert_false(hr_valid_tag("a/b"));
    assert_false(hr_valid_tag(".."));
    assert_false(hr_valid_tag(""));
    assert_true(hr_valid_tag("sha256-0123abcd.sig"));
}


static void
test_init_layout_and_modes(void **state)
{
    char          path[1024];
    hr_tstate_t  *ts = *state;

    assert_int_equal(file_mode(ts->v2), 0755);

    snprintf(path, sizeof(path), "%s/docker", ts->dir);
    assert_int_equal(file_mode(path), 0755);

    snprintf(path, sizeof(path), "%s/_harbor_edge/partial", ts->dir);
    assert_int_equal(file_mode(path), 0755);
}


static void
test_put_blob_and_links(void **state)
{
    char          err[512], dg[HR_DIGEST_LEN + 1], path[1024], *c;
    char          got[HR_DIGEST_LEN + 1];
    size_t        len;
    hr_tstate_t  *ts = *state;

    digest_of("hello layer", dg);

    assert_int_equal(hr_store_put_blob(&ts->st, dg, "hello layer", 11, err,
                                       sizeof(err)), 0);

    snprintf(path, sizeof(path), "%s/blobs/sha256/%.2s/%s/data", ts->v2,
             dg + 7, dg + 7);
    c = slurp(path, &len);
    assert_non_null(c);
    assert_int_equal(len, 11);
    assert_memory_equal(c, "hello layer", 11);
    free(c);
    assert_int_equal(file_mode(path), 0644);
    assert_true(hr_store_blob_exists(&ts->st, dg, NULL));

    /* distribution's paths, 71-byte links, no newline */
    assert_int_equal(hr_store_link(&ts->st, "lib/app", HR_LINK_LAYER, NULL,
                                   dg, err, sizeof(err)), 0);
    assert_int_equal(hr_store_link(&ts->st, "lib/app", HR_LINK_REVISION,
                                   NULL, dg, err, sizeof(err)), 0);
    assert_int_equal(hr_store_link(&ts->st, "lib/app", HR_LINK_TAG_INDEX,
                                   "v1", dg, err, sizeof(err)), 0);
    assert_int_equal(hr_store_link(&ts->st, "lib/app", HR_LINK_TAG_CURRENT,
                                   "v1", dg, err, sizeof(err)), 0);

    snprintf(path, sizeof(path),
             "%s/repositories/lib/app/_layers/sha256/%s/link", ts->v2,
             dg + 7);
    c = slurp(path, &len);
    assert_non_null(c);
    assert_int_equal(len, 71);
    assert_memory_equal(c, dg, 71);
    free(c);
    assert_int_equal(file_mode(path), 0644);

    snprintf(path, sizeof(path),
             "%s/repositories/lib/app/_manifests/revisions/sha256/%s/link",
             ts->v2, dg + 7);
    assert_int_equal(file_mode(path), 0644);

    snprintf(path, sizeof(path),
             "%s/repositories/lib/app/_manifests/tags/v1/index/sha256/%s/"
             "link", ts->v2, dg + 7);
    assert_int_equal(file_mode(path), 0644);

    snprintf(path, sizeof(path),
             "%s/repositories/lib/app/_manifests/tags/v1/current", ts->v2);
    assert_int_equal(file_mode(path), 0755);

    assert_int_equal(hr_store_read_link(&ts->st, "lib/app",
                                        HR_LINK_TAG_CURRENT, "v1", NULL, got),
                     1);
    assert_string_equal(got, dg);

    assert_int_equal(hr_store_read_link(&ts->st, "lib/app",
                                        HR_LINK_TAG_CURRENT, "v2", NULL, got),
                     0);

    assert_int_equal(count_tmp(ts->dir), 0);
}


static void
test_wrong_digest_refused(void **state)
{
    char          err[512], dg[HR_DIGEST_LEN + 1], path[1024];
    hr_tstate_t  *ts = *state;

    digest_of("the real bytes", dg);

    assert_int_equal(hr_store_put_blob(&ts->st, dg, "forged bytes", 12, err,
                                       sizeof(err)), -1);
    assert_non_null(strstr(err, "digest mismatch"));

    snprintf(path, sizeof(path), "%s/blobs/sha256/%.2s/%s", ts->v2, dg + 7,
             dg + 7);
    assert_int_equal(access(path, F_OK), -1);
    assert_false(hr_store_blob_exists(&ts->st, dg, NULL));
    assert_int_equal(count_tmp(ts->dir), 0);
}


static void
test_bad_names_refused(void **state)
{
    char          err[512], dg[HR_DIGEST_LEN + 1], path[1024];
    hr_tstate_t  *ts = *state;

    digest_of("x", dg);

    assert_int_equal(hr_store_link(&ts->st, "../../../tmp/evil",
                                   HR_LINK_LAYER, NULL, dg, err, sizeof(err)),
                     -1);
    assert_int_equal(hr_store_link(&ts->st, "ok/repo", HR_LINK_TAG_CURRENT,
                                   "../../x", dg, err, sizeof(err)), -1);
    assert_int_equal(hr_store_link(&ts->st, "ok/repo", HR_LINK_LAYER, NULL,
                                   "sha256:../../../../x", err, sizeof(err)),
                     -1);
    assert_int_equal(hr_store_put_blob(&ts->st, "sha256:..", "x", 1, err,
                                       sizeof(err)), -1);

    snprintf(path, sizeof(path), "%s/repositories", ts->v2);
    assert_int_equal(access(path, F_OK), -1);
}


static void
test_link_atomic(void **state)
{
    int           i, torn, reads, status;
    char          err[512], a[HR_DIGEST_LEN + 1], b[HR_DIGEST_LEN + 1];
    char          path[1024], buf[128];
    pid_t         pid;
    ssize_t       n;
    hr_tstate_t  *ts = *state;

    digest_of("a", a);
    digest_of("b", b);

    assert_int_equal(hr_store_link(&ts->st, "race/r", HR_LINK_TAG_CURRENT,
                                   "t", a, err, sizeof(err)), 0);

    snprintf(path, sizeof(path),
             "%s/repositories/race/r/_manifests/tags/t/current/link", ts->v2);

    pid = fork();
    assert_true(pid != -1);

    if (pid == 0) {
        for (i = 0; i < 400; i++) {
            if (hr_store_link(&ts->st, "race/r", HR_LINK_TAG_CURRENT, "t",
                              i % 2 ? a : b, err, sizeof(err))
                == -1)
            {
                _exit(1);
            }
        }
        _exit(0);
    }

    torn = 0;
    reads = 0;

    for ( ;; ) {
        int  fd = open(path, O_RDONLY);

        if (fd != -1) {
            n = read(fd, buf, sizeof(buf));
            close(fd);
            reads++;

            if (!(n == 71 && (memcmp(buf, a, 71) == 0
                              || memcmp(buf, b, 71) == 0)))
            {
                torn++;
            }

        } else {
            torn++;             /* the name must never vanish either */
        }

        if (waitpid(pid, &status, WNOHANG) == pid) {
            break;
        }
    }

    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(reads > 0);
    assert_int_equal(torn, 0);
    assert_int_equal(count_tmp(ts->dir), 0);
}


static void
test_blob_writer_resume(void **state)
{
    char               err[512], dg[HR_DIGEST_LEN + 1], path[1024];
    char              *data, *c;
    size_t             len, i, half;
    hr_tstate_t       *ts = *state;
    hr_blob_writer_t   w;

    len = 3 * 1024 * 1024 + 17;
    data = malloc(len);
    assert_non_null(data);

    for (i = 0; i < len; i++) {
        data[i] = (char) (i * 7 + (i >> 11));
    }

    hr_sha256_digest(data, len, dg);
    half = len / 2 + 3;

    /* first run: half, then interrupted */
    assert_int_equal(hr_store_blob_begin(&ts->st, &w, dg, (long long) len,
                                         err, sizeof(err)), 0);
    assert_int_equal(w.offset, 0);
    assert_int_equal(hr_store_blob_write(&w, data, half, err, sizeof(err)),
                     0);
    hr_store_blob_suspend(&w);

    /* nothing visible in blobs/ */
    assert_false(hr_store_blob_exists(&ts->st, dg, NULL));

    /* an unrecorded tail (a crash after the last sync) is cut off */
    snprintf(path, sizeof(path), "%s/_harbor_edge/partial/sha256-%s",
             ts->dir, dg + 7);
    {
        int  fd = open(path, O_WRONLY | O_APPEND);

        assert_true(fd != -1);
        assert_int_equal(write(fd, "garbage", 7), 7);
        close(fd);
    }

    /* second run: resumes at the recorded offset, prefix re-hashed */
    assert_int_equal(hr_store_blob_begin(&ts->st, &w, dg, (long long) len,
                                         err, sizeof(err)), 0);
    assert_int_equal(w.offset, (long long) half);
    assert_int_equal(w.resumed, (long long) half);
    assert_int_equal(hr_store_blob_write(&w, data + half, len - half, err,
                                         sizeof(err)), 0);
    assert_int_equal(hr_store_blob_commit(&w, err, sizeof(err)), 0);

    assert_true(hr_store_blob_exists(&ts->st, dg, NULL));
    assert_int_equal(access(path, F_OK), -1);

    snprintf(path, sizeof(path), "%s/blobs/sha256/%.2s/%s/data", ts->v2,
             dg + 7, dg + 7);
    c = slurp(path, &i);
    assert_non_null(c);
    assert_int_equal(i, len);
    assert_memory_equal(c, data, len);
    assert_int_equal(file_mode(path), 0644);
    free(c);
    free(data);
}


static void
test_blob_writer_lies(void **state)
{
    char               err[512], dg[HR_DIGEST_LEN + 1], path[1024];
    hr_tstate_t       *ts = *state;
    hr_blob_writer_t   w;

    digest_of("promised content", dg);

    /* same size, other bytes: refused at commit, partial data dropped */
    assert_int_equal(hr_store_blob_begin(&ts->st, &w, dg, 16, err,
                                         sizeof(err)), 0);
    assert_int_equal(hr_store_blob_write(&w, "delivered lies!!", 16, err,
                                         sizeof(err)), 0);
    assert_int_equal(hr_store_blob_commit(&w, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "digest mismatch"));
    assert_false(hr_store_blob_exists(&ts->st, dg, NULL));

    snprintf(path, sizeof(path), "%s/_harbor_edge/partial/sha256-%s",
             ts->dir, dg + 7);
    assert_int_equal(access(path, F_OK), -1);

    /* more bytes than the descriptor: refused while writing */
    assert_int_equal(hr_store_blob_begin(&ts->st, &w, dg, 16, err,
                                         sizeof(err)), 0);
    assert_int_equal(hr_store_blob_write(&w, "promised content and more",
                                         25, err, sizeof(err)), -1);
    hr_store_blob_discard(&w);

    /* fewer bytes: refused at commit */
    assert_int_equal(hr_store_blob_begin(&ts->st, &w, dg, 16, err,
                                         sizeof(err)), 0);
    assert_int_equal(hr_store_blob_write(&w, "promised", 8, err,
                                         sizeof(err)), 0);
    assert_int_equal(hr_store_blob_commit(&w, err, sizeof(err)), -1);
    assert_false(hr_store_blob_exists(&ts->st, dg, NULL));
    assert_int_equal(count_tmp(ts->dir), 0);
}


static void
test_blob_writer_one_at_a_time(void **state)
{
    char               err[512], dg[HR_DIGEST_LEN + 1];
    hr_tstate_t       *ts = *state;
    hr_blob_writer_t   w1, w2;

    digest_of("shared blob", dg);

    /* a second writer (another process: flock is per open file) waits */
    assert_int_equal(hr_store_blob_begin(&ts->st, &w1, dg, 11, err,
                                         sizeof(err)), 0);
    assert_int_equal(hr_store_blob_begin(&ts->st, &w2, dg, 11, err,
                                         sizeof(err)), -2);
    assert_non_null(strstr(err, "another process"));

    assert_int_equal(hr_store_blob_write(&w1, "shared blob", 11, err,
                                         sizeof(err)), 0);
    assert_int_equal(hr_store_blob_commit(&w1, err, sizeof(err)), 0);

    /* once committed, a late writer learns there is nothing to do */
    assert_int_equal(hr_store_blob_begin(&ts->st, &w2, dg, 11, err,
                                         sizeof(err)), 1);
    assert_true(hr_store_blob_exists(&ts->st, dg, NULL));
    assert_int_equal(count_tmp(ts->dir), 0);
}


static void
test_tag_delete(void **state)
{
    char          err[512], dg[HR_DIGEST_LEN + 1], path[1024];
    char        **tags;
    size_t        n;
    hr_tstate_t  *ts = *state;

    digest_of("m", dg);

    assert_int_equal(hr_store_link(&ts->st, "d/r", HR_LINK_TAG_INDEX, "old",
                                   dg, err, sizeof(err)), 0);
    assert_int_equal(hr_store_link(&ts->st, "d/r", HR_LINK_TAG_CURRENT,
                                   "old", dg, err, sizeof(err)), 0);
    assert_int_equal(hr_store_link(&ts->st, "d/r", HR_LINK_TAG_CURRENT,
                                   "keep", dg, err, sizeof(err)), 0);

    assert_int_equal(hr_store_tags(&ts->st, "d/r", &tags, &n, err,
                                   sizeof(err)), 0);
    assert_int_equal(n, 2);
    hr_store_free_list(tags, n);

    assert_int_equal(hr_store_tag_delete(&ts->st, "d/r", "old", err,
                                         sizeof(err)), 0);

    snprintf(path, sizeof(path), "%s/repositories/d/r/_manifests/tags/old",
             ts->v2);
    assert_int_equal(access(path, F_OK), -1);

    assert_int_equal(hr_store_tags(&ts->st, "d/r", &tags, &n, err,
                                   sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_string_equal(tags[0], "keep");
    hr_store_free_list(tags, n);
}


static void
test_referrers_index(void **state)
{
    char          err[512], subj[HR_DIGEST_LEN + 1], r1[HR_DIGEST_LEN + 1];
    char          r2[HR_DIGEST_LEN + 1], path[1024], *c, *lo, *hi;
    size_t        len;
    json_t       *d;
    hr_tstate_t  *ts = *state;

    digest_of("subject", subj);
    digest_of("sig", r1);
    digest_of("sbom", r2);

    lo = strcmp(r1, r2) < 0 ? r1 : r2;
    hi = lo == r1 ? r2 : r1;

    d = json_pack("{s:s, s:s, s:i, s:s}", "mediaType",
                  "application/vnd.oci.image.manifest.v1+json", "digest", hi,
                  "size", 10, "artifactType", "application/x-a");
    assert_int_equal(hr_store_referrer_add(&ts->st, "ref/r", subj, d, err,
                                           sizeof(err)), 0);
    json_decref(d);

    d = json_pack("{s:s, s:s, s:i, s:s}", "mediaType",
                  "application/vnd.oci.image.manifest.v1+json", "digest", lo,
                  "size", 11, "artifactType", "application/x-b");
    assert_int_equal(hr_store_referrer_add(&ts->st, "ref/r", subj, d, err,
                                           sizeof(err)), 0);

    /* the same referrer again: replaced, not duplicated */
    assert_int_equal(hr_store_referrer_add(&ts->st, "ref/r", subj, d, err,
                                           sizeof(err)), 0);
    json_decref(d);

    snprintf(path, sizeof(path),
             "%s/repositories/ref/r/_harbor/referrers/sha256/%s/index.json",
             ts->v2, subj + 7);
    c = slurp(path, &len);
    assert_non_null(c);

    /* compact, sorted by digest, unique */
    assert_null(strchr(c, ' '));
    assert_null(strchr(c, '\n'));
    assert_non_null(strstr(c, "\"schemaVersion\":2"));
    assert_true(strstr(c, lo) < strstr(c, hi));
    assert_true(strstr(strstr(c, lo) + 1, lo) == NULL);
    assert_int_equal(file_mode(path), 0644);
    free(c);
}


/* what a crash leaves of a link (empty, cut, another digest) is redone */
static void
test_bad_link_rewritten(void **state)
{
    char          err[512], dg[HR_DIGEST_LEN + 1], other[HR_DIGEST_LEN + 1];
    char          path[1024], got[HR_DIGEST_LEN + 1], *c;
    size_t        len, i;
    hr_tstate_t  *ts = *state;
    const char   *bad[4];

    digest_of("layer", dg);
    digest_of("another", other);

    bad[0] = "";
    bad[1] = "sha256:0123";
    bad[2] = "garbage garbage garbage";
    bad[3] = other;

    snprintf(path, sizeof(path),
             "%s/repositories/lib/app/_layers/sha256/%s/link", ts->v2,
             dg + 7);

    for (i = 0; i < 4; i++) {
        assert_int_equal(hr_store_link(&ts->st, "lib/app", HR_LINK_LAYER,
                                       NULL, dg, err, sizeof(err)), 0);

        put_file(path, bad[i], strlen(bad[i]));

        if (i < 3) {
            /* a reader refuses it: absent or bad, never a digest */
            assert_int_not_equal(hr_store_read_link(&ts->st, "lib/app",
                                                    HR_LINK_LAYER, NULL, dg,
                                                    got), 1);
        }

        assert_int_equal(hr_store_link(&ts->st, "lib/app", HR_LINK_LAYER,
                                       NULL, dg, err, sizeof(err)), 0);

        c = slurp(path, &len);
        assert_non_null(c);
        assert_int_equal(len, HR_DIGEST_LEN);
        assert_memory_equal(c, dg, HR_DIGEST_LEN);
        free(c);
    }

    /* the same through a batch: rewritten, visible at publish only */
    snprintf(path, sizeof(path),
             "%s/repositories/lib/app/_manifests/tags/v1/current/link",
             ts->v2);
    assert_int_equal(hr_store_link(&ts->st, "lib/app", HR_LINK_TAG_CURRENT,
                                   "v1", dg, err, sizeof(err)), 0);
    put_file(path, dg, 40);

    {
        hr_store_batch_t  b;

        hr_store_batch_init(&b, &ts->st);
        assert_int_equal(hr_store_link_b(&ts->st, &b, 0, "lib/app",
                                         HR_LINK_TAG_CURRENT, "v1", dg, err,
                                         sizeof(err)), 0);
        assert_int_equal(b.nfiles, 1);
        assert_int_equal(count_tmp(ts->dir), 1);

        c = slurp(path, &len);
        assert_non_null(c);
        assert_int_equal(len, 40);
        free(c);

        assert_int_equal(hr_store_batch_publish(&b, err, sizeof(err)), 0);
        assert_int_equal(hr_store_batch_failed(&b, 0, err, sizeof(err)), 0);
        hr_store_batch_free(&b);
    }

    c = slurp(path, &len);
    assert_non_null(c);
    assert_int_equal(len, HR_DIGEST_LEN);
    assert_memory_equal(c, dg, HR_DIGEST_LEN);
    free(c);
    assert_int_equal(count_tmp(ts->dir), 0);
}


/* a blob in blobs/ is only reused when its size (a manifest: its hash) fits */
static void
test_wrong_blob_not_trusted(void **state)
{
    char               err[512], dg[HR_DIGEST_LEN + 1], path[1100];
    char               dir[1024], *c;
    size_t             len;
    long long          size;
    hr_tstate_t       *ts = *state;
    hr_blob_writer_t   w;
    const char        *body = "the real layer bytes";

    digest_of(body, dg);
    snprintf(dir, sizeof(dir), "%s/blobs/sha256/%.2s", ts->v2, dg + 7);
    assert_int_equal(hr_store_mkdirs(&ts->st, dir, err, sizeof(err)), 0);
    snprintf(dir, sizeof(dir), "%s/blobs/sha256/%.2s/%s", ts->v2, dg + 7,
             dg + 7);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(path, sizeof(path), "%s/data", dir);

    /* empty: what a crash leaves of unsynced data; absent */
    put_file(path, "", 0);
    assert_false(hr_store_blob_exists(&ts->st, dg, NULL));

    /* cut short: there, but its size says it is not the blob */
    put_file(path, body, 7);
    assert_true(hr_store_blob_exists(&ts->st, dg, &size));
    assert_int_equal(size, 7);

    /* the writer does not take it for "stored meanwhile": fetched again */
    assert_int_equal(hr_store_blob_begin(&ts->st, &w, dg,
                                         (long long) strlen(body), err,
                                         sizeof(err)), 0);
    assert_int_equal(hr_store_blob_write(&w, body, strlen(body), err,
                                         sizeof(err)), 0);
    assert_int_equal(hr_store_blob_commit(&w, err, sizeof(err)), 0);

    c = slurp(path, &len);
    assert_non_null(c);
    assert_int_equal(len, strlen(body));
    assert_memory_equal(c, body, len);
    free(c);

    /* with the right size it is the blob: begin says so */
    assert_int_equal(hr_store_blob_begin(&ts->st, &w, dg,
                                         (long long) strlen(body), err,
                                         sizeof(err)), 1);

    /* a manifest of the right size but other bytes is rewritten */
    put_file(path, "THE REAL LAYER BYTES", strlen(body));
    assert_int_equal(hr_store_manifest_read(&ts->st, dg, &c, &len), 0);
    assert_null(c);
    assert_int_equal(hr_store_put_blob(&ts->st, dg, body, strlen(body), err,
                                       sizeof(err)), 0);
    assert_int_equal(hr_store_manifest_read(&ts->st, dg, &c, &len), 1);
    assert_int_equal(len, strlen(body));
    assert_memory_equal(c, body, len);
    free(c);
    assert_int_equal(count_tmp(ts->dir), 0);
}


/* nothing staged is visible before publish; free without publish drops it */
static void
test_batch(void **state)
{
    char               err[512], dg[HR_DIGEST_LEN + 1], subj[HR_DIGEST_LEN + 1];
    char               r1[HR_DIGEST_LEN + 1], r2[HR_DIGEST_LEN + 1];
    char               path[1024], got[HR_DIGEST_LEN + 1], *c;
    size_t             len;
    json_t            *d;
    hr_tstate_t       *ts = *state;
    hr_store_batch_t   b;

    digest_of("{\"schemaVersion\":2}", dg);
    digest_of("subject", subj);
    digest_of("r1", r1);
    digest_of("r2", r2);

    /* dropped: nothing left behind */
    hr_store_batch_init(&b, &ts->st);
    assert_int_equal(hr_store_link_b(&ts->st, &b, 0, "lib/app", HR_LINK_LAYER,
                                     NULL, dg, err, sizeof(err)), 0);
    assert_int_equal(count_tmp(ts->dir), 1);
    hr_store_batch_free(&b);
    assert_int_equal(count_tmp(ts->dir), 0);
    assert_int_equal(hr_store_read_link(&ts->st, "lib/app", HR_LINK_LAYER,
                                        NULL, dg, got), 0);

    hr_store_batch_init(&b, &ts->st);
    assert_int_equal(hr_store_put_blob_b(&ts->st, &b, 0, dg,
                                         "{\"schemaVersion\":2}", 19, err,
                                         sizeof(err)), 0);
    assert_int_equal(hr_store_link_b(&ts->st, &b, 0, "lib/app",
                                     HR_LINK_REVISION, NULL, dg, err,
                                     sizeof(err)), 0);
    assert_int_equal(hr_store_link_b(&ts->st, &b, 0, "lib/app",
                                     HR_LINK_TAG_CURRENT, "v1", dg, err,
                                     sizeof(err)), 0);

    /* two referrers of one subject in one batch: the second sees the first */
    d = json_pack("{s:s, s:s, s:i}", "mediaType", "application/x", "digest",
                  r1, "size", 1);
    assert_int_equal(hr_store_referrer_add_b(&ts->st, &b, 0, "lib/app", subj,
                                             d, err, sizeof(err)), 0);
    json_decref(d);
    d = json_pack("{s:s, s:s, s:i}", "mediaType", "application/x", "digest",
                  r2, "size", 1);
    assert_int_equal(hr_store_referrer_add_b(&ts->st, &b, 0, "lib/app", subj,
                                             d, err, sizeof(err)), 0);

    /* invisible until published */
    assert_false(hr_store_blob_exists(&ts->st, dg, NULL));
    assert_int_equal(hr_store_read_link(&ts->st, "lib/app",
                                        HR_LINK_TAG_CURRENT, "v1", NULL, got),
                     0);
    assert_int_equal(count_tmp(ts->dir), 4);

    assert_int_equal(hr_store_batch_publish(&b, err, sizeof(err)), 0);
    assert_int_equal(b.barriers, 3);
    hr_store_batch_free(&b);
    assert_int_equal(count_tmp(ts->dir), 0);

    assert_true(hr_store_blob_exists(&ts->st, dg, NULL));
    assert_int_equal(hr_store_read_link(&ts->st, "lib/app",
                                        HR_LINK_TAG_CURRENT, "v1", NULL, got),
                     1);
    assert_string_equal(got, dg);

    snprintf(path, sizeof(path),
             "%s/repositories/lib/app/_harbor/referrers/sha256/%s/index.json",
             ts->v2, subj + 7);
    c = slurp(path, &len);
    assert_non_null(c);
    assert_non_null(strstr(c, r1));
    assert_non_null(strstr(c, r2));
    free(c);

    /* the same referrer again: already there, nothing staged */
    hr_store_batch_init(&b, &ts->st);
    assert_int_equal(hr_store_referrer_add_b(&ts->st, &b, 0, "lib/app", subj,
                                             d, err, sizeof(err)), 0);
    assert_int_equal(hr_store_link_b(&ts->st, &b, 0, "lib/app",
                                     HR_LINK_TAG_CURRENT, "v1", dg, err,
                                     sizeof(err)), 0);
    assert_int_equal(b.nfiles, 0);
    hr_store_batch_free(&b);
    json_decref(d);
}


static void
test_group_modes(void **state)
{
    char           err[512], dir[256], dg[HR_DIGEST_LEN + 1], path[1024];
    hr_store_t     st;
    struct stat    sb;
    struct group  *gr;

    gr = getgrnam("daemon");
    if (gr == NULL || geteuid() != 0) {
        skip();
    }

    snprintf(dir, sizeof(dir), "/tmp/test_store_grp.XXXXXX");
    assert_non_null(mkdtemp(dir));

    assert_int_equal(hr_store_init(&st, dir, NULL, "daemon", err,
                                   sizeof(err)), 0);

    digest_of("grouped", dg);
    assert_int_equal(hr_store_put_blob(&st, dg, "grouped", 7, err,
                                       sizeof(err)), 0);
    assert_int_equal(hr_store_link(&st, "g/r", HR_LINK_LAYER, NULL, dg, err,
                                   sizeof(err)), 0);

    snprintf(path, sizeof(path),
             "%s/docker/registry/v2/repositories/g/r/_layers/sha256/%s/link",
             dir, dg + 7);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0640);
    assert_int_equal(sb.st_gid, gr->gr_gid);

    snprintf(path, sizeof(path), "%s/docker/registry/v2/repositories/g/r",
             dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0750);
    assert_int_equal(sb.st_gid, gr->gr_gid);

    hr_store_free(&st);

    assert_int_equal(hr_store_init(&st, dir, NULL, "no-such-group-hr", err,
                                   sizeof(err)), -1);
    assert_non_null(strstr(err, "unknown group"));
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_grammar),
        cmocka_unit_test_setup_teardown(test_init_layout_and_modes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_put_blob_and_links, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wrong_digest_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_names_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_link_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blob_writer_resume, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_blob_writer_lies, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_blob_writer_one_at_a_time,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_tag_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_referrers_index, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_link_rewritten, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wrong_blob_not_trusted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
        cmocka_unit_test(test_group_modes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
