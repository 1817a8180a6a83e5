/*
 * store.c: the layout writer (docs/store.md).
 *
 * Durability.  The guarantee: a reader that sees a tag can read everything
 * under it; a crash leaves only invisible temporaries or, for files other
 * than a tag's current link, a file a reader treats as absent.
 *
 * Every file under V2/ is written as a temporary in V2/_harbor_tmp, where
 * no reader looks (blob downloads under ROOT/_harbor_edge/partial), and made
 * visible by rename(2); its target's directories are made at the rename,
 * so that a crash leaves no tag directory that distribution would list.
 * On ext4 or xfs a file renamed before its data reached the disk can be
 * empty, or missing, after a crash; a rename or a mkdir not followed by an
 * fsync of its directory can be lost.  Two ways are used here:
 *
 *   - The plain calls (hr_store_link(), hr_store_put_blob(), ...; the
 *     webhook and miss paths) do it file by file, as Redis's rdb.c: fsync
 *     the temporary, rename, fsync the directory, and fsync the parent of
 *     every directory created.  Each file is durable before the next is
 *     written, so the order alone keeps the guarantee.  Three to six
 *     fsyncs a file.
 *
 *   - A run (plan.c) stages its small files in a batch (the _b calls):
 *     layer links, manifests, revision links, referrers indexes, tag index
 *     links, and the tags' current links, each written to its temporary
 *     and closed, without fsync; new directories are not fsynced either.
 *     hr_store_batch_publish() then takes three barriers, syncfs(2) on
 *     every filesystem the batch touched:
 *
 *       1. syncfs: every temporary's data, every new directory and every
 *          blob renamed into blobs/ during the fetch is on the disk;
 *       2. rename every staged file but the tags' current links, syncfs:
 *          those names are on the disk, each naming complete data;
 *       3. rename the tags' current and index links (not those of a task
 *          whose other files failed; a new tag's directory is made in
 *          _harbor_tmp with its current link and renamed into tags/
 *          whole, so no reader ever lists a tag without current/link),
 *          syncfs, and only then is the run recorded.
 *
 *     A crash before 1 leaves temporaries only (in _harbor_tmp, named
 *     <name>.tmp-<pid>-<n>; the next run removes those of a dead pid).
 *     A crash between 1 and the end of 2 leaves any subset of the
 *     renames done, each naming data
 *     already on the disk: a link is there with its 71 bytes or not there.
 *     No tag was renamed yet, so no reader can reach a file of this run
 *     through a tag.  A crash between 2 and 3 leaves each current link old
 *     or new, both complete, and the new one names only what barrier 2 made
 *     durable.  Three syncfs calls instead of 3-6 fsyncs per file.
 *
 * Blob data keeps its fsync before the rename (it is large, verified, and
 * a torn blob must never have its final name); in a batch only its
 * directories wait for barrier 1.  A manifest is staged like a link:
 * barrier 1 writes its data before any name reaches it.
 *
 * Another writer (a second run, the webhook path of the daemon) may see a
 * blob this run renamed before barrier 1 and link it.  A second run's own
 * syncfs covers our rename (it syncs the whole filesystem).  The webhook
 * path's fsync of its own link does on ext4 and xfs as well: their
 * journals commit metadata in order, so the earlier rename is committed
 * with or before it (not so with ext4's fast_commit, off by default).
 *
 * syncfs(2) writes every dirty page of the filesystem, not only ours; on
 * Linux >= 5.8 it reports writeback errors, which fail the publish (no
 * tag is renamed after a failed barrier).  A store spread over several
 * filesystems gets one syncfs each (HR_BATCH_FS at most).
 *
 * Nothing found on the disk is trusted because it is there: a file can
 * have been damaged by hand or by a crash on a filesystem with weaker
 * ordering than this reasoning assumes.  A link is left alone only when it
 * holds exactly the digest it should (hr_store_read_link() refuses any
 * other content, and hr_store_link() then rewrites it); an existing blob is
 * only linked when its size is the descriptor's (an empty one is absent);
 * a stored manifest is reused only when it hashes to its digest; the
 * referrers index is rewritten unless it already holds the descriptor.
 *
 * Blob downloads write to ROOT/_harbor_edge/partial/sha256-<hex>, with the
 * durable byte count in sha256-<hex>.offset beside it: after a crash the
 * next run re-hashes that prefix and asks the primary for the rest with a
 * Range request.  The partial file is renamed into blobs/ when its digest
 * matches, so blobs/ only ever holds verified content.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "verify.h"

/* a well-formed placeholder where a path needs no digest */
#define HR_STORE_ZERO_DIGEST                                                  \
    "sha256:0000000000000000000000000000000000000000000000000000000000000000"

/* the partial data is fdatasync'ed and its offset recorded this often */
#define HR_STORE_SYNC_EVERY  (8 * 1024 * 1024)


static int hr_store_path(hr_store_t *st, char *out, size_t outlen,
    const char *repo, hr_link_e kind, const char *tag, const char *digest);
static int hr_store_fsync_dir(const char *dir);
static int hr_store_write_all(int fd, const void *p, size_t n);
static int hr_store_fix_mode(hr_store_t *st, int fd, int dir);
static int hr_store_record_offset(hr_blob_writer_t *w);
static int hr_store_copy_file(hr_store_t *st, const char *from, int tofd,
    char *err, size_t errlen);
static int hr_store_desc_cmp(const void *a, const void *b);
static int hr_store_mkdirs_s(hr_store_t *st, const char *dir, int sync,
    char *err, size_t errlen);
static int hr_store_tmp_name(hr_store_t *st, const char *path, char *tmp,
    size_t len, char *tdir, size_t dlen);
static int hr_store_write_file_b(hr_store_t *st, hr_store_batch_t *b,
    int group, int tag, const char *path, const void *p, size_t n,
    char *err, size_t errlen);
static int hr_store_batch_fs(hr_store_batch_t *b, const char *dir, char *err,
    size_t errlen);
static int hr_store_batch_stage(hr_store_batch_t *b, int group, int tag,
    const char *tmp, const char *final, char *err, size_t errlen);
static hr_staged_t *hr_store_batch_find(hr_store_batch_t *b,
    const char *final);
static int hr_store_batch_barrier(hr_store_batch_t *b);
static int hr_store_batch_dir(hr_store_batch_t *b, hr_staged_t *f);
static int hr_store_batch_place(hr_store_batch_t *b, hr_staged_t *f);
static int hr_store_rm_tagdir(const char *path);
static void hr_store_batch_fail(hr_store_batch_t *b, hr_staged_t *f,
    const char *what);


/*
 * The OCI grammars are he_oci_grammar.c's, which the nginx module shares;
 * these take the NUL-terminated strings of the replicator.  The store
 * holds sha256 content only (HR_DIGEST_LEN).
 */

int
hr_valid_digest(const char *d)
{
    return d != NULL
           && he_oci_digest((const unsigned char *) d,
                            strnlen(d, HE_OCI_SHA256_LEN + 1), NULL)
              == HE_OCI_SHA256;
}


int
hr_valid_repo(const char *name)
{
    return name != NULL
           && he_oci_name((const unsigned char *) name,
                          strnlen(name, HE_OCI_NAME_MAX + 1));
}


int
hr_valid_tag(const char *tag)
{
    return tag != NULL
           && he_oci_tag((const unsigned char *) tag,
                         strnlen(tag, HE_OCI_TAG_MAX + 1));
}


void
hr_sha256_digest(const void *p, size_t n, char *out)
{
    unsigned char  md[32];

    EVP_Digest(p, n, md, NULL, EVP_sha256(), NULL);

    hr_sha256_format(md, out);
}


/* "sha256:" and 64 lowercase hex digits of md, NUL-terminated. */
void
hr_sha256_format(const unsigned char *md, char *out)
{
    unsigned int       i;
    static const char  hex[] = "0123456789abcdef";

    memcpy(out, "sha256:", 7);

    for (i = 0; i < 32; i++) {
        out[7 + i * 2] = hex[md[i] >> 4];
        out[8 + i * 2] = hex[md[i] & 0xf];
    }

    out[HR_DIGEST_LEN] = '\0';
}


int
hr_store_init(hr_store_t *st, const char *root, const char *state_dir,
    const char *group, char *err, size_t errlen)
{
    char           path[PATH_MAX];
    struct group  *gr;

    memset(st, 0, sizeof(hr_store_t));

    st->fmode = 0644;
    st->dmode = 0755;

    if (group != NULL && group[0] != '\0') {
        gr = getgrnam(group);
        if (gr == NULL) {
            snprintf(err, errlen, "storage.group: unknown group \"%s\"",
                     group);
            return -1;
        }

        st->gid = gr->gr_gid;
        st->grouped = 1;
        st->fmode = 0640;
        st->dmode = 0750;
    }

    st->root = strdup(root);
    if (asprintf(&st->v2, "%s/docker/registry/v2", root) == -1) {
        st->v2 = NULL;
    }

    if (state_dir != NULL) {
        st->state = strdup(state_dir);

    } else if (asprintf(&st->state, "%s/_harbor_edge", root) == -1) {
        st->state = NULL;
    }

    if (st->root == NULL || st->v2 == NULL || st->state == NULL) {
        snprintf(err, errlen, "out of memory");
        hr_store_free(st);
        return -1;
    }

    if (hr_store_mkdirs(st, st->v2, err, errlen) == -1) {
        hr_store_free(st);
        return -1;
    }

    snprintf(path, sizeof(path), "%s/partial", st->state);

    if (hr_store_mkdirs(st, path, err, errlen) == -1) {
        hr_store_free(st);
        return -1;
    }

    return 0;
}


void
hr_store_free(hr_store_t *st)
{
    free(st->root);
    free(st->v2);
    free(st->state);
    st->root = NULL;
    st->v2 = NULL;
    st->state = NULL;
}


static int
hr_store_fix_mode(hr_store_t *st, int fd, int dir)
{
    if (fchmod(fd, dir ? st->dmode : st->fmode) == -1) {
        return -1;
    }

    if (st->grouped && fchown(fd, (uid_t) -1, st->gid) == -1) {
        return -1;
    }

    return 0;
}


static int
hr_store_fsync_dir(const char *dir)
{
    int  fd, rc;

    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1) {
        return -1;
    }

    rc = fsync(fd);
    close(fd);

    return rc;
}


int
hr_store_mkdirs(hr_store_t *st, const char *dir, char *err, size_t errlen)
{
    return hr_store_mkdirs_s(st, dir, 1, err, errlen);
}


/* sync 0: the new directories are left to the batch's barrier */
static int
hr_store_mkdirs_s(hr_store_t *st, const char *dir, int sync, char *err,
    size_t errlen)
{
    int     fd;
    char    parent[PATH_MAX];
    char   *slash;

    if (mkdir(dir, st->dmode) == 0) {
        goto created;
    }

    if (errno == EEXIST) {
        return 0;
    }

    if (errno != ENOENT) {
        snprintf(err, errlen, "mkdir(\"%s\") failed: %s", dir,
                 strerror(errno));
        return -1;
    }

    if (strlen(dir) >= sizeof(parent)) {
        snprintf(err, errlen, "path too long: %s", dir);
        return -1;
    }

    memcpy(parent, dir, strlen(dir) + 1);
    slash = strrchr(parent, '/');

    if (slash == NULL || slash == parent) {
        snprintf(err, errlen, "mkdir(\"%s\") failed: %s", dir,
                 strerror(ENOENT));
        return -1;
    }

    *slash = '\0';

    if (hr_store_mkdirs_s(st, parent, sync, err, errlen) == -1) {
        return -1;
    }

    if (mkdir(dir, st->dmode) == -1 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir(\"%s\") failed: %s", dir,
                 strerror(errno));
        return -1;
    }

created:

    /* the umask must not decide what nginx's workers can read */
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1 || hr_store_fix_mode(st, fd, 1) == -1) {
        snprintf(err, errlen, "chmod(\"%s\") failed: %s", dir,
                 strerror(errno));
        if (fd != -1) {
            close(fd);
        }
        return -1;
    }

    close(fd);

    if (!sync) {
        return 0;
    }

    /* make the new entry durable in its parent */
    memcpy(parent, dir, strlen(dir) + 1);
    slash = strrchr(parent, '/');

    if (slash != NULL && slash != parent) {
        *slash = '\0';
        (void) hr_store_fsync_dir(parent);
    }

    return 0;
}


static int
hr_store_write_all(int fd, const void *p, size_t n)
{
    ssize_t      w;
    const char  *c;

    c = p;

    while (n) {
        w = write(fd, c, n);

        if (w == -1) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }

        c += w;
        n -= w;
    }

    return 0;
}


/*
 * The temporary of path, and the directory it goes in: V2/_harbor_tmp for
 * a file under V2/ (the same filesystem, so rename(2) works), else beside
 * path (the replicator's state).
 */
static int
hr_store_tmp_name(hr_store_t *st, const char *path, char *tmp, size_t len,
    char *tdir, size_t dlen)
{
    int          n;
    size_t       v2len;
    const char  *base;

    v2len = strlen(st->v2);
    base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;

    if (strncmp(path, st->v2, v2len) == 0 && path[v2len] == '/') {
        n = snprintf(tdir, dlen, "%s/" HR_STORE_TMP_DIR, st->v2);
        if (n < 0 || (size_t) n >= dlen) {
            return -1;
        }

        n = snprintf(tmp, len, "%s/%s.tmp-%d-%u", tdir, base, (int) getpid(),
                     st->tmpn++);

    } else {
        n = snprintf(tdir, dlen, "%.*s", (int) (base - path - 1), path);
        if (n < 0 || (size_t) n >= dlen) {
            return -1;
        }

        n = snprintf(tmp, len, "%s.tmp-%d-%u", path, (int) getpid(),
                     st->tmpn++);
    }

    return (n < 0 || (size_t) n >= len) ? -1 : 0;
}


/* <tmp>.d/current/link, <tmp>.d/current, <tmp>.d: 0 when all are gone */
static int
hr_store_rm_tagdir(const char *path)
{
    char  p[PATH_MAX + 400];

    snprintf(p, sizeof(p), "%s/current/link", path);
    (void) unlink(p);
    snprintf(p, sizeof(p), "%s/current", path);
    (void) rmdir(p);

    return rmdir(path);
}


/*
 * Temporaries of processes that are gone (a kill -9, a crash): nobody will
 * rename them.  A live process's are left alone, whoever it is.
 */
long
hr_store_clean_tmp(hr_store_t *st, long min_interval)
{
    DIR            *d;
    long            n, pid;
    char            dir[PATH_MAX], path[PATH_MAX + 300], *p, *end;
    time_t          now;
    struct dirent  *de;

    now = time(NULL);

    if (min_interval > 0 && st->tmp_cleaned != 0
        && now - st->tmp_cleaned < min_interval)
    {
        return 0;
    }

    st->tmp_cleaned = now;
    snprintf(dir, sizeof(dir), "%s/" HR_STORE_TMP_DIR, st->v2);

    d = opendir(dir);
    if (d == NULL) {
        return 0;
    }

    n = 0;

    while ((de = readdir(d)) != NULL) {
        p = strstr(de->d_name, ".tmp-");
        if (p == NULL) {
            continue;
        }

        errno = 0;
        pid = strtol(p + 5, &end, 10);

        if (errno != 0 || end == p + 5 || *end != '-' || pid <= 0
            || pid == (long) getpid()
            || kill((pid_t) pid, 0) == 0 || errno != ESRCH)
        {
            continue;
        }

        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);

        if (unlink(path) == 0) {
            n++;
            continue;
        }

        /* a new tag's directory (hr_store_batch_place): <tmp>.d/current */
        if (errno == EISDIR && hr_store_rm_tagdir(path) == 0) {
            n++;
        }
    }

    closedir(d);

    return n;
}


int
hr_store_write_file(hr_store_t *st, const char *path, const void *p,
    size_t n, char *err, size_t errlen)
{
    return hr_store_write_file_b(st, NULL, -1, 0, path, p, n, err, errlen);
}


/*
 * Without a batch: temp, fsync, rename, directory fsync.  With one: temp,
 * close, and the rename is left to hr_store_batch_publish().
 */
static int
hr_store_write_file_b(hr_store_t *st, hr_store_batch_t *b, int group,
    int tag, const char *path, const void *p, size_t n, char *err,
    size_t errlen)
{
    int     fd, e;
    char    tmp[PATH_MAX], dir[PATH_MAX], tdir[PATH_MAX];
    char   *slash;

    if (strlen(path) + 32 >= sizeof(tmp)) {
        snprintf(err, errlen, "path too long: %s", path);
        return -1;
    }

    memcpy(dir, path, strlen(path) + 1);
    slash = strrchr(dir, '/');
    if (slash == NULL) {
        snprintf(err, errlen, "bad path: %s", path);
        return -1;
    }

    *slash = '\0';

    if (hr_store_tmp_name(st, path, tmp, sizeof(tmp), tdir, sizeof(tdir))
        == -1)
    {
        snprintf(err, errlen, "path too long: %s", path);
        return -1;
    }

    /*
     * under V2/ the temporary is in _harbor_tmp, where no reader looks, and
     * the target's directories are made only when it is renamed: a crash
     * leaves no tag directory behind that a reader would list
     */
    if (hr_store_mkdirs_s(st, tdir, b == NULL, err, errlen) == -1) {
        return -1;
    }

    if (b != NULL && hr_store_batch_fs(b, tdir, err, errlen) == -1) {
        return -1;
    }

    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st->fmode);
    if (fd == -1) {
        snprintf(err, errlen, "open(\"%s\") failed: %s", tmp,
                 strerror(errno));
        return -1;
    }

    if (hr_store_write_all(fd, p, n) == -1) {
        e = errno;
        snprintf(err, errlen, "write(\"%s\") failed: %s", tmp, strerror(e));
        goto failed;
    }

    if (hr_store_fix_mode(st, fd, 0) == -1) {
        e = errno;
        snprintf(err, errlen, "fchmod(\"%s\") failed: %s", tmp, strerror(e));
        goto failed;
    }

    if (b == NULL && fsync(fd) == -1) {
        e = errno;
        snprintf(err, errlen, "fsync(\"%s\") failed: %s", tmp, strerror(e));
        goto failed;
    }

    if (close(fd) == -1) {
        e = errno;
        fd = -1;
        snprintf(err, errlen, "close(\"%s\") failed: %s", tmp, strerror(e));
        goto failed;
    }

    fd = -1;

    if (b != NULL) {
        if (hr_store_batch_stage(b, group, tag, tmp, path, err, errlen)
            == -1)
        {
            e = errno;
            goto failed;
        }

        return 0;
    }

    if (hr_store_mkdirs_s(st, dir, 1, err, errlen) == -1) {
        e = errno;
        goto failed;
    }

    if (rename(tmp, path) == -1) {
        e = errno;
        snprintf(err, errlen, "rename(\"%s\", \"%s\") failed: %s", tmp, path,
                 strerror(e));
        goto failed;
    }

    if (hr_store_fsync_dir(dir) == -1) {
        snprintf(err, errlen, "fsync(\"%s\") failed: %s", dir,
                 strerror(errno));
        return -1;
    }

    return 0;

failed:

    if (fd != -1) {
        close(fd);
    }

    unlink(tmp);
    errno = e;

    return -1;
}


char *
hr_store_read_file(const char *path, size_t max, size_t *len, char *err,
    size_t errlen)
{
    int          fd;
    char        *p;
    size_t       got;
    ssize_t      n;
    struct stat  sb;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd == -1) {
        snprintf(err, errlen, "open(\"%s\") failed: %s", path,
                 strerror(errno));
        return NULL;
    }

    if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)
        || (size_t) sb.st_size > max)
    {
        snprintf(err, errlen, "\"%s\" is not a regular file of at most %zu "
                 "bytes", path, max);
        close(fd);
        return NULL;
    }

    p = malloc(sb.st_size + 1);
    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        close(fd);
        return NULL;
    }

    got = 0;

    while (got < (size_t) sb.st_size) {
        n = read(fd, p + got, sb.st_size - got);

        if (n <= 0) {
            if (n == -1 && errno == EINTR) {
                continue;
            }

            snprintf(err, errlen, "read(\"%s\") failed: %s", path,
                     n == 0 ? "short file" : strerror(errno));
            free(p);
            close(fd);
            return NULL;
        }

        got += n;
    }

    close(fd);

    p[got] = '\0';
    *len = got;

    return p;
}


json_t *
hr_store_read_object(const char *state, const char *name, size_t max)
{
    char     path[PATH_MAX], err[256], *text;
    size_t   len;
    json_t  *js;

    snprintf(path, sizeof(path), "%s/%s", state, name);

    text = hr_store_read_file(path, max, &len, err, sizeof(err));
    if (text == NULL) {
        return NULL;
    }

    js = json_loadb(text, len, 0, NULL);
    free(text);

    if (!json_is_object(js)) {
        json_decref(js);
        return NULL;
    }

    return js;
}


static int
hr_store_path(hr_store_t *st, char *out, size_t outlen, const char *repo,
    hr_link_e kind, const char *tag, const char *digest)
{
    int  n;

    if (!hr_valid_repo(repo) || !hr_valid_digest(digest)) {
        return -1;
    }

    switch (kind) {

    case HR_LINK_LAYER:
        n = snprintf(out, outlen, "%s/repositories/%s/_layers/sha256/%s/link",
                     st->v2, repo, digest + 7);
        break;

    case HR_LINK_REVISION:
        n = snprintf(out, outlen,
                     "%s/repositories/%s/_manifests/revisions/sha256/%s/link",
                     st->v2, repo, digest + 7);
        break;

    case HR_LINK_TAG_INDEX:
        if (!hr_valid_tag(tag)) {
            return -1;
        }

        n = snprintf(out, outlen,
                     "%s/repositories/%s/_manifests/tags/%s/index/sha256/%s"
                     "/link", st->v2, repo, tag, digest + 7);
        break;

    default: /* HR_LINK_TAG_CURRENT */
        if (!hr_valid_tag(tag)) {
            return -1;
        }

        n = snprintf(out, outlen,
                     "%s/repositories/%s/_manifests/tags/%s/current/link",
                     st->v2, repo, tag);
        break;
    }

    return (n < 0 || (size_t) n >= outlen) ? -1 : 0;
}


int
hr_store_link(hr_store_t *st, const char *repo, hr_link_e kind,
    const char *tag, const char *digest, char *err, size_t errlen)
{
    return hr_store_link_b(st, NULL, -1, repo, kind, tag, digest, err,
                           errlen);
}


int
hr_store_link_b(hr_store_t *st, hr_store_batch_t *b, int group,
    const char *repo, hr_link_e kind, const char *tag, const char *digest,
    char *err, size_t errlen)
{
    char  path[PATH_MAX], cur[HR_DIGEST_LEN + 1];

    if (hr_store_path(st, path, sizeof(path), repo, kind, tag, digest)
        == -1)
    {
        snprintf(err, errlen, "refusing link: repository \"%s\", tag \"%s\", "
                 "digest \"%s\"", repo, tag ? tag : "", digest);
        return -1;
    }

    /*
     * an identical link is left alone: no rename, no fsync; anything else
     * (torn, empty, another digest) is rewritten
     */
    if (hr_store_read_link(st, repo, kind, tag, digest, cur) == 1
        && strcmp(cur, digest) == 0)
    {
        return 0;
    }

    /* a tag's directory appears with its current link, in the last pass */
    return hr_store_write_file_b(st, b, group,
                                 kind == HR_LINK_TAG_CURRENT
                                 || kind == HR_LINK_TAG_INDEX,
                                 path, digest, HR_DIGEST_LEN, err, errlen);
}


int
hr_store_read_link(hr_store_t *st, const char *repo, hr_link_e kind,
    const char *tag, const char *digest, char *out)
{
    int      fd;
    char     path[PATH_MAX], buf[HR_DIGEST_LEN + 2];
    ssize_t  n;

    /* the tag current link's path does not depend on the digest */
    if (hr_store_path(st, path, sizeof(path), repo, kind, tag,
                      digest ? digest : HR_STORE_ZERO_DIGEST)
        == -1)
    {
        return -1;
    }

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd == -1) {
        return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
    }

    n = read(fd, buf, sizeof(buf));
    close(fd);

    if (n != HR_DIGEST_LEN) {
        return -1;
    }

    buf[n] = '\0';

    if (!hr_valid_digest(buf)) {
        return -1;
    }

    memcpy(out, buf, HR_DIGEST_LEN + 1);

    return 1;
}


int
hr_store_blob_exists(hr_store_t *st, const char *digest, long long *size)
{
    char         path[PATH_MAX];
    struct stat  sb;

    if (!hr_valid_digest(digest)) {
        return 0;
    }

    snprintf(path, sizeof(path), "%s/blobs/sha256/%.2s/%s/data", st->v2,
             digest + 7, digest + 7);

    if (lstat(path, &sb) == -1 || !S_ISREG(sb.st_mode)) {
        return 0;
    }

    if (sb.st_size == 0 && strcmp(digest, HR_STORE_EMPTY_DIGEST) != 0) {
        return 0;
    }

    if (size != NULL) {
        *size = sb.st_size;
    }

    return 1;
}


int
hr_store_manifest_read(hr_store_t *st, const char *digest, char **p,
    size_t *len)
{
    char   path[PATH_MAX], got[HR_DIGEST_LEN + 1], err[PATH_MAX + 64];
    char  *data;

    *p = NULL;
    *len = 0;

    if (!hr_valid_digest(digest)) {
        return 0;
    }

    snprintf(path, sizeof(path), "%s/blobs/sha256/%.2s/%s/data", st->v2,
             digest + 7, digest + 7);

    data = hr_store_read_file(path, HR_MANIFEST_MAX, len, err, sizeof(err));
    if (data == NULL) {
        return 0;
    }

    hr_sha256_digest(data, *len, got);

    if (strcmp(got, digest) != 0) {
        free(data);
        *len = 0;
        return 0;
    }

    *p = data;

    return 1;
}


int
hr_store_put_blob(hr_store_t *st, const char *digest, const void *p, size_t n,
    char *err, size_t errlen)
{
    return hr_store_put_blob_b(st, NULL, -1, digest, p, n, err, errlen);
}


int
hr_store_put_blob_b(hr_store_t *st, hr_store_batch_t *b, int group,
    const char *digest, const void *p, size_t n, char *err, size_t errlen)
{
    char       path[PATH_MAX], got[HR_DIGEST_LEN + 1], *have;
    size_t     len;
    long long  size;

    if (!hr_valid_digest(digest)) {
        snprintf(err, errlen, "bad digest \"%s\"", digest);
        return -1;
    }

    hr_sha256_digest(p, n, got);

    if (strcmp(got, digest) != 0) {
        snprintf(err, errlen, "digest mismatch: expected %s, got %s", digest,
                 got);
        return -1;
    }

    /* what is there is kept only when it is these very bytes */
    if (hr_store_blob_exists(st, digest, &size) && size == (long long) n
        && hr_store_manifest_read(st, digest, &have, &len) == 1)
    {
        free(have);
        return 0;
    }

    snprintf(path, sizeof(path), "%s/blobs/sha256/%.2s/%s/data", st->v2,
             digest + 7, digest + 7);

    return hr_store_write_file_b(st, b, group, 0, path, p, n, err, errlen);
}


static int
hr_store_record_offset(hr_blob_writer_t *w)
{
    int   n;
    char  line[64];
    char  err[256];

    if (fdatasync(w->fd) == -1) {
        return -1;
    }

    n = snprintf(line, sizeof(line), "%lld\n", w->offset);

    if (hr_store_write_file(w->st, w->meta, line, n, err, sizeof(err))
        == -1)
    {
        return -1;
    }

    w->recorded = w->offset;

    return 0;
}


int
hr_store_blob_begin(hr_store_t *st, hr_blob_writer_t *w, const char *digest,
    long long size, char *err, size_t errlen)
{
    int          tries, busy;
    char         buf[65536], *line;
    size_t       len;
    ssize_t      n;
    long long    off, left, have;
    struct stat  sb, sn;

    busy = 0;
    memset(w, 0, sizeof(hr_blob_writer_t));
    w->st = st;
    w->fd = -1;
    w->size = size;

    if (!hr_valid_digest(digest)) {
        snprintf(err, errlen, "bad digest \"%s\"", digest);
        return -1;
    }

    memcpy(w->digest, digest, HR_DIGEST_LEN + 1);
    snprintf(w->path, sizeof(w->path), "%s/partial/sha256-%s", st->state,
             digest + 7);
    snprintf(w->meta, sizeof(w->meta), "%s.offset", w->path);

    w->md = EVP_MD_CTX_new();
    if (w->md == NULL || EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1) {
        snprintf(err, errlen, "EVP_DigestInit_ex() failed");
        goto failed;
    }

    /*
     * One writer per partial file, across processes (a daemon and a manual
     * run): an exclusive flock, taken on the inode that still has the name,
     * since a committing writer renames it into blobs/ under our feet.
     */
    for (tries = 0; ; tries++) {
        w->fd = open(w->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                     st->fmode);
        if (w->fd == -1) {
            snprintf(err, errlen, "open(\"%s\") failed: %s", w->path,
                     strerror(errno));
            goto failed;
        }

        if (flock(w->fd, LOCK_EX | LOCK_NB) == -1) {
            busy = errno == EWOULDBLOCK;
            snprintf(err, errlen, "flock(\"%s\") failed: %s", w->path,
                     busy ? "being fetched by another process"
                          : strerror(errno));
            goto failed;
        }

        if (fstat(w->fd, &sb) == 0 && stat(w->path, &sn) == 0
            && sb.st_ino == sn.st_ino && sb.st_dev == sn.st_dev)
        {
            break;
        }

        close(w->fd);
        w->fd = -1;

        if (tries == 3) {
            snprintf(err, errlen, "\"%s\" keeps changing", w->path);
            goto failed;
        }
    }

    if (hr_store_blob_exists(st, digest, &have) && (size < 0 || have == size))
    {
        /* another process committed it meanwhile; what we hold is new */
        unlink(w->path);
        unlink(w->meta);
        close(w->fd);
        w->fd = -1;
        EVP_MD_CTX_free(w->md);
        w->md = NULL;
        return 1;
    }

    /* the durable prefix: what the .offset file says, if the data has it */
    off = 0;
    line = hr_store_read_file(w->meta, 64, &len, buf, sizeof(buf));

    if (line != NULL) {
        off = strtoll(line, NULL, 10);
        free(line);
    }

    if (fstat(w->fd, &sb) == -1) {
        snprintf(err, errlen, "fstat(\"%s\") failed: %s", w->path,
                 strerror(errno));
        goto failed;
    }

    if (off < 0 || off > sb.st_size || (size >= 0 && off > size)) {
        off = 0;
    }

    if (ftruncate(w->fd, off) == -1) {
        snprintf(err, errlen, "ftruncate(\"%s\") failed: %s", w->path,
                 strerror(errno));
        goto failed;
    }

    /* re-hash the kept prefix: the digest needs every byte */
    if (lseek(w->fd, 0, SEEK_SET) == -1) {
        snprintf(err, errlen, "lseek() failed: %s", strerror(errno));
        goto failed;
    }

    left = off;

    while (left > 0) {
        n = read(w->fd, buf, left < (long long) sizeof(buf)
                             ? (size_t) left : sizeof(buf));
        if (n <= 0) {
            if (n == -1 && errno == EINTR) {
                continue;
            }

            snprintf(err, errlen, "read(\"%s\") failed: %s", w->path,
                     n == 0 ? "short file" : strerror(errno));
            goto failed;
        }

        EVP_DigestUpdate(w->md, buf, n);
        left -= n;
    }

    w->offset = off;
    w->recorded = off;
    w->resumed = off;

    if (hr_store_fix_mode(st, w->fd, 0) == -1) {
        snprintf(err, errlen, "fchmod(\"%s\") failed: %s", w->path,
                 strerror(errno));
        goto failed;
    }

    return 0;

failed:

    if (w->fd != -1) {
        close(w->fd);
        w->fd = -1;
    }

    EVP_MD_CTX_free(w->md);
    w->md = NULL;

    return busy ? -2 : -1;
}


int
hr_store_blob_restart(hr_blob_writer_t *w, char *err, size_t errlen)
{
    if (ftruncate(w->fd, 0) == -1 || lseek(w->fd, 0, SEEK_SET) == -1) {
        snprintf(err, errlen, "ftruncate(\"%s\") failed: %s", w->path,
                 strerror(errno));
        return -1;
    }

    if (EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1) {
        snprintf(err, errlen, "EVP_DigestInit_ex() failed");
        return -1;
    }

    w->offset = 0;
    w->recorded = 0;
    w->resumed = 0;
    unlink(w->meta);

    return 0;
}


int
hr_store_blob_write(hr_blob_writer_t *w, const void *p, size_t n, char *err,
    size_t errlen)
{
    if (w->size >= 0 && w->offset + (long long) n > w->size) {
        snprintf(err, errlen, "%s: the primary sent more than the %lld bytes "
                 "the descriptor gives", w->digest, w->size);
        return -1;
    }

    if (hr_store_write_all(w->fd, p, n) == -1) {
        snprintf(err, errlen, "write(\"%s\") failed: %s", w->path,
                 strerror(errno));
        return -1;
    }

    EVP_DigestUpdate(w->md, p, n);
    w->offset += n;

    if (w->offset - w->recorded >= HR_STORE_SYNC_EVERY) {
        if (hr_store_record_offset(w) == -1) {
            snprintf(err, errlen, "recording the offset of \"%s\" failed: %s",
                     w->path, strerror(errno));
            return -1;
        }
    }

    return 0;
}


static int
hr_store_copy_file(hr_store_t *st, const char *from, int tofd, char *err,
    size_t errlen)
{
    int      fd;
    char     buf[65536];
    ssize_t  n;

    fd = open(from, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        snprintf(err, errlen, "open(\"%s\") failed: %s", from,
                 strerror(errno));
        return -1;
    }

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        if (hr_store_write_all(tofd, buf, n) == -1) {
            break;
        }
    }

    close(fd);

    if (n != 0) {
        snprintf(err, errlen, "copying \"%s\" failed: %s", from,
                 strerror(errno));
        return -1;
    }

    return 0;
}


int
hr_store_blob_commit(hr_blob_writer_t *w, char *err, size_t errlen)
{
    return hr_store_blob_commit_b(w, NULL, err, errlen);
}


int
hr_store_blob_commit_b(hr_blob_writer_t *w, hr_store_batch_t *b, char *err,
    size_t errlen)
{
    int            fd;
    char           got[HR_DIGEST_LEN + 1], dir[PATH_MAX], tdir[PATH_MAX];
    char           final[PATH_MAX + 16], tmp[PATH_MAX + 64];
    unsigned int   mdlen;
    unsigned char  md[32];

    if (w->size >= 0 && w->offset != w->size) {
        snprintf(err, errlen, "%s: got %lld bytes, the descriptor says %lld",
                 w->digest, w->offset, w->size);
        hr_store_blob_discard(w);
        return -1;
    }

    EVP_DigestFinal_ex(w->md, md, &mdlen);

    hr_sha256_format(md, got);

    if (strcmp(got, w->digest) != 0) {
        snprintf(err, errlen, "digest mismatch: expected %s, the primary "
                 "sent %lld bytes hashing to %s", w->digest, w->offset, got);
        hr_store_blob_discard(w);
        return -1;
    }

    if (fsync(w->fd) == -1) {
        snprintf(err, errlen, "fsync(\"%s\") failed: %s", w->path,
                 strerror(errno));
        hr_store_blob_suspend(w);
        return -1;
    }

    snprintf(dir, sizeof(dir), "%s/blobs/sha256/%.2s/%s", w->st->v2,
             w->digest + 7, w->digest + 7);
    snprintf(final, sizeof(final), "%s/data", dir);

    if (hr_store_mkdirs_s(w->st, dir, b == NULL, err, errlen) == -1
        || (b != NULL && hr_store_batch_fs(b, dir, err, errlen) == -1))
    {
        hr_store_blob_suspend(w);
        return -1;
    }

    if (rename(w->path, final) == -1) {
        if (errno != EXDEV) {
            snprintf(err, errlen, "rename(\"%s\", \"%s\") failed: %s",
                     w->path, final, strerror(errno));
            hr_store_blob_suspend(w);
            return -1;
        }

        /* the state dir is on another filesystem: copy next to the target */
        if (hr_store_tmp_name(w->st, final, tmp, sizeof(tmp), tdir,
                              sizeof(tdir))
            == -1
            || hr_store_mkdirs_s(w->st, tdir, b == NULL, err, errlen) == -1)
        {
            hr_store_blob_suspend(w);
            return -1;
        }

        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, w->st->fmode);
        if (fd == -1
            || hr_store_copy_file(w->st, w->path, fd, err, errlen) == -1
            || hr_store_fix_mode(w->st, fd, 0) == -1
            || fsync(fd) == -1
            || rename(tmp, final) == -1)
        {
            if (fd != -1) {
                close(fd);
            }

            unlink(tmp);
            snprintf(err, errlen, "copying \"%s\" into the store failed",
                     w->path);
            hr_store_blob_suspend(w);
            return -1;
        }

        close(fd);
        unlink(w->path);
    }

    /* hashed on the way in: no reader needs to hash it again */
    hr_verify_remember(w->st, w->digest);

    /* in a batch, barrier 1 makes the rename durable before any link */
    if (b == NULL && hr_store_fsync_dir(dir) == -1) {
        snprintf(err, errlen, "fsync(\"%s\") failed: %s", dir,
                 strerror(errno));
        hr_store_blob_discard(w);
        return -1;
    }

    close(w->fd);
    w->fd = -1;
    unlink(w->meta);
    EVP_MD_CTX_free(w->md);
    w->md = NULL;

    return 0;
}


void
hr_store_blob_suspend(hr_blob_writer_t *w)
{
    if (w->fd != -1) {
        (void) hr_store_record_offset(w);
        close(w->fd);
        w->fd = -1;
    }

    EVP_MD_CTX_free(w->md);
    w->md = NULL;
}


void
hr_store_blob_discard(hr_blob_writer_t *w)
{
    if (w->fd != -1) {
        close(w->fd);
        w->fd = -1;
    }

    unlink(w->path);
    unlink(w->meta);
    EVP_MD_CTX_free(w->md);
    w->md = NULL;
}


int
hr_store_tag_delete(hr_store_t *st, const char *repo, const char *tag,
    char *err, size_t errlen)
{
    DIR            *d;
    char            path[PATH_MAX], sub[PATH_MAX + 300];
    struct dirent  *de;

    if (!hr_valid_repo(repo) || !hr_valid_tag(tag)) {
        snprintf(err, errlen, "refusing to delete tag \"%s\" of \"%s\"", tag,
                 repo);
        return -1;
    }

    /* current/link first: from then on the tag is gone for readers */
    snprintf(path, sizeof(path), "%s/repositories/%s/_manifests/tags/%s",
             st->v2, repo, tag);
    snprintf(sub, sizeof(sub), "%s/current/link", path);

    if (unlink(sub) == -1 && errno != ENOENT) {
        snprintf(err, errlen, "unlink(\"%s\") failed: %s", sub,
                 strerror(errno));
        return -1;
    }

    snprintf(sub, sizeof(sub), "%s/current", path);
    (void) rmdir(sub);

    snprintf(sub, sizeof(sub), "%s/index/sha256", path);

    d = opendir(sub);
    if (d != NULL) {
        while ((de = readdir(d)) != NULL) {
            char  l[PATH_MAX + 600];

            if (de->d_name[0] == '.') {
                continue;
            }

            snprintf(l, sizeof(l), "%s/%s/link", sub, de->d_name);
            unlink(l);
            snprintf(l, sizeof(l), "%s/%s", sub, de->d_name);
            rmdir(l);
        }

        closedir(d);
    }

    (void) rmdir(sub);
    snprintf(sub, sizeof(sub), "%s/index", path);
    (void) rmdir(sub);

    if (rmdir(path) == -1 && errno != ENOENT) {
        snprintf(err, errlen, "rmdir(\"%s\") failed: %s", path,
                 strerror(errno));
        return -1;
    }

    snprintf(sub, sizeof(sub), "%s/repositories/%s/_manifests/tags",
             st->v2, repo);
    (void) hr_store_fsync_dir(sub);

    return 0;
}


void
hr_store_free_list(char **list, size_t n)
{
    size_t  i;

    if (list == NULL) {
        return;
    }

    for (i = 0; i < n; i++) {
        free(list[i]);
    }

    free(list);
}


int
hr_store_tags(hr_store_t *st, const char *repo, char ***tags, size_t *ntags,
    char *err, size_t errlen)
{
    DIR             *d;
    char             path[PATH_MAX];
    char           **list, **nl;
    size_t           n, cap;
    struct dirent   *de;

    *tags = NULL;
    *ntags = 0;

    if (!hr_valid_repo(repo)) {
        snprintf(err, errlen, "bad repository name \"%s\"", repo);
        return -1;
    }

    snprintf(path, sizeof(path), "%s/repositories/%s/_manifests/tags",
             st->v2, repo);

    d = opendir(path);
    if (d == NULL) {
        if (errno == ENOENT) {
            return 0;
        }

        snprintf(err, errlen, "opendir(\"%s\") failed: %s", path,
                 strerror(errno));
        return -1;
    }

    list = NULL;
    n = 0;
    cap = 0;

    while ((de = readdir(d)) != NULL) {
        if (!hr_valid_tag(de->d_name)) {
            continue;       /* ".", "..", temporaries */
        }

        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            nl = realloc(list, cap * sizeof(char *));
            if (nl == NULL) {
                goto nomem;
            }
            list = nl;
        }

        list[n] = strdup(de->d_name);
        if (list[n] == NULL) {
            goto nomem;
        }

        n++;
    }

    closedir(d);

    *tags = list;
    *ntags = n;

    return 0;

nomem:

    closedir(d);
    hr_store_free_list(list, n);
    snprintf(err, errlen, "out of memory");

    return -1;
}


static int
hr_store_desc_cmp(const void *a, const void *b)
{
    json_t * const  *x = a;
    json_t * const  *y = b;

    return strcmp(json_string_value(json_object_get(*x, "digest")),
                  json_string_value(json_object_get(*y, "digest")));
}


int
hr_store_referrer_add(hr_store_t *st, const char *repo, const char *subject,
    json_t *desc, char *err, size_t errlen)
{
    return hr_store_referrer_add_b(st, NULL, -1, repo, subject, desc, err,
                                   errlen);
}


int
hr_store_referrer_add_b(hr_store_t *st, hr_store_batch_t *b, int group,
    const char *repo, const char *subject, json_t *desc, char *err,
    size_t errlen)
{
    int            rc, same;
    char           path[PATH_MAX], *text, *old;
    size_t         i, n, len;
    json_t        *idx, *list, *m, **sorted;
    const char    *dg, *from;
    hr_staged_t   *f;
    json_error_t   je;

    dg = json_string_value(json_object_get(desc, "digest"));

    if (!hr_valid_repo(repo) || !hr_valid_digest(subject)
        || !hr_valid_digest(dg))
    {
        snprintf(err, errlen, "refusing referrer of \"%s\" in \"%s\"",
                 subject, repo);
        return -1;
    }

    snprintf(path, sizeof(path),
             "%s/repositories/%s/_harbor/referrers/sha256/%s/index.json",
             st->v2, repo, subject + 7);

    list = json_array();
    if (list == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    /* the newest version: the one this batch staged, if any */
    f = b != NULL ? hr_store_batch_find(b, path) : NULL;
    from = f != NULL ? f->tmp : path;
    same = 0;

    old = hr_store_read_file(from, HR_REFERRERS_MAX, &len, err, errlen);

    if (old != NULL) {
        idx = json_loadb(old, len, 0, &je);
        free(old);

        /* keep the others; a broken file is rebuilt from what we add */
        json_array_foreach(json_object_get(idx, "manifests"), i, m) {
            const char  *md = json_string_value(json_object_get(m, "digest"));

            if (md == NULL || !hr_valid_digest(md)) {
                continue;
            }

            if (strcmp(md, dg) != 0) {
                json_array_append(list, m);

            } else if (json_equal(m, desc)) {
                same = 1;
            }
        }

        json_decref(idx);
    }

    err[0] = '\0';

    if (same) {
        /* already listed as it is: a run over an unchanged tree writes
           nothing */
        json_decref(list);
        return 0;
    }

    json_array_append(list, desc);

    n = json_array_size(list);
    sorted = malloc(n * sizeof(json_t *));
    if (sorted == NULL) {
        json_decref(list);
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    for (i = 0; i < n; i++) {
        sorted[i] = json_array_get(list, i);
    }

    qsort(sorted, n, sizeof(json_t *), hr_store_desc_cmp);

    idx = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType",
                    "application/vnd.oci.image.index.v1+json", "manifests");
    if (idx == NULL) {
        free(sorted);
        json_decref(list);
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    for (i = 0; i < n; i++) {
        json_array_append(json_object_get(idx, "manifests"), sorted[i]);
    }

    free(sorted);
    json_decref(list);

    text = json_dumps(idx, JSON_COMPACT);
    json_decref(idx);

    if (text == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    len = strlen(text);

    if (len > HR_REFERRERS_MAX) {
        snprintf(err, errlen, "referrers index of %s over 4 MiB", subject);
        free(text);
        return -1;
    }

    rc = hr_store_write_file_b(st, b, group, 0, path, text, len, err,
                               errlen);
    free(text);

    return rc;
}


void
hr_store_batch_init(hr_store_batch_t *b, hr_store_t *st)
{
    memset(b, 0, sizeof(hr_store_batch_t));
    b->st = st;
}


void
hr_store_batch_free(hr_store_batch_t *b)
{
    int     i;
    size_t  k;

    for (k = 0; k < b->nfiles; k++) {
        if (b->files[k].tmp != NULL) {
            (void) unlink(b->files[k].tmp);     /* never published */
        }

        free(b->files[k].tmp);
        free(b->files[k].final);
    }

    for (i = 0; i < b->nfs; i++) {
        close(b->fds[i]);
    }

    free(b->files);
    free(b->failed);
    hr_store_batch_init(b, b->st);
}


/* Keeps an fd on the filesystem of dir, for syncfs(2). */
static int
hr_store_batch_fs(hr_store_batch_t *b, const char *dir, char *err,
    size_t errlen)
{
    int          i, fd;
    struct stat  sb;

    if (stat(dir, &sb) == -1) {
        snprintf(err, errlen, "stat(\"%s\") failed: %s", dir,
                 strerror(errno));
        return -1;
    }

    for (i = 0; i < b->nfs; i++) {
        if (b->devs[i] == sb.st_dev) {
            return 0;
        }
    }

    if (b->nfs == HR_BATCH_FS) {
        snprintf(err, errlen, "the store spans more than %d filesystems",
                 HR_BATCH_FS);
        return -1;
    }

    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1) {
        snprintf(err, errlen, "open(\"%s\") failed: %s", dir,
                 strerror(errno));
        return -1;
    }

    b->fds[b->nfs] = fd;
    b->devs[b->nfs] = sb.st_dev;
    b->nfs++;

    return 0;
}


static hr_staged_t *
hr_store_batch_find(hr_store_batch_t *b, const char *final)
{
    size_t  k;

    /* newest first: an older entry for the same name is dead anyway */
    for (k = b->nfiles; k > 0; k--) {
        if (!b->files[k - 1].dead && b->files[k - 1].tmp != NULL
            && strcmp(b->files[k - 1].final, final) == 0)
        {
            return &b->files[k - 1];
        }
    }

    return NULL;
}


static int
hr_store_batch_stage(hr_store_batch_t *b, int group, int tag,
    const char *tmp, const char *final, char *err, size_t errlen)
{
    hr_staged_t  *f, *nf;

    /*
     * A name staged again (a referrers index growing) replaces the older
     * entry, and goes to the end: renamed after what the new content names.
     */
    f = tag ? NULL : hr_store_batch_find(b, final);

    if (b->nfiles == b->cfiles) {
        b->cfiles = b->cfiles ? b->cfiles * 2 : 64;
        nf = realloc(b->files, b->cfiles * sizeof(hr_staged_t));
        if (nf == NULL) {
            b->cfiles = b->nfiles;
            snprintf(err, errlen, "out of memory");
            errno = ENOMEM;
            return -1;
        }

        if (f != NULL) {
            f = nf + (f - b->files);
        }

        b->files = nf;
    }

    nf = &b->files[b->nfiles];
    memset(nf, 0, sizeof(hr_staged_t));
    nf->tmp = strdup(tmp);
    nf->final = strdup(final);

    if (nf->tmp == NULL || nf->final == NULL) {
        free(nf->tmp);
        free(nf->final);
        snprintf(err, errlen, "out of memory");
        errno = ENOMEM;
        return -1;
    }

    nf->group = group;
    nf->tag = tag ? 1 : 0;
    b->nfiles++;

    if (f != NULL) {
        (void) unlink(f->tmp);
        free(f->tmp);
        f->tmp = NULL;
        f->dead = 1;
    }

    return 0;
}


static int
hr_store_batch_barrier(hr_store_batch_t *b)
{
    int  i;

    b->barriers++;

    for (i = 0; i < b->nfs; i++) {
        if (syncfs(b->fds[i]) == -1) {
            snprintf(b->err, sizeof(b->err), "syncfs() of the store failed: "
                     "%s; nothing of this run is published", strerror(errno));
            b->broken = 1;
            return -1;
        }
    }

    return 0;
}


static void
hr_store_batch_fail(hr_store_batch_t *b, hr_staged_t *f, const char *what)
{
    int     *ng;
    size_t   k;

    if (what != NULL) {
        snprintf(b->err, sizeof(b->err), "rename(\"%s\", \"%s\") failed: %s",
                 f->tmp, f->final, what);
    }

    (void) unlink(f->tmp);
    free(f->tmp);
    f->tmp = NULL;
    f->failed = 1;

    if (f->group < 0) {
        return;
    }

    for (k = 0; k < b->nfailed; k++) {
        if (b->failed[k] == f->group) {
            return;
        }
    }

    ng = realloc(b->failed, (b->nfailed + 1) * sizeof(int));
    if (ng == NULL) {
        b->broken = 1;          /* cannot say which: none holds */
        return;
    }

    b->failed = ng;
    b->failed[b->nfailed++] = f->group;
}


/* The directories of a staged file, made at its rename (synced by the
   barrier that follows). */
static int
hr_store_batch_dir(hr_store_batch_t *b, hr_staged_t *f)
{
    char   dir[PATH_MAX], err[PATH_MAX + 64];
    char  *slash;

    if (strlen(f->final) >= sizeof(dir)) {
        errno = ENAMETOOLONG;
        return -1;
    }

    memcpy(dir, f->final, strlen(f->final) + 1);
    slash = strrchr(dir, '/');

    if (slash == NULL) {
        errno = EINVAL;
        return -1;
    }

    *slash = '\0';

    return hr_store_mkdirs_s(b->st, dir, 0, err, sizeof(err));
}


/*
 * Renames f into place.  A new tag's current link comes with its
 * directory: distribution lists every directory under tags/ as a tag, so a
 * tag directory must never be seen without current/link, whenever a crash
 * comes.  It is made in _harbor_tmp (as <tmp>.d/current/link, which
 * hr_store_clean_tmp() removes if it is left) and renamed into tags/ whole.
 * 0, or -1 with errno.
 */
static int
hr_store_batch_place(hr_store_batch_t *b, hr_staged_t *f)
{
    int           e;
    char          tagdir[PATH_MAX], nd[PATH_MAX], cur[PATH_MAX + 16];
    char          link[PATH_MAX + 32], err[PATH_MAX + 64], *slash, *tmp;
    size_t        n, sl;
    struct stat   sb;
    const char   *suffix = "/current/link";

    n = strlen(f->final);
    sl = strlen(suffix);

    tagdir[0] = '\0';

    if (f->tag && n > sl && n - sl < sizeof(tagdir)
        && strcmp(f->final + n - sl, suffix) == 0)
    {
        memcpy(tagdir, f->final, n - sl);
        tagdir[n - sl] = '\0';

        if (lstat(tagdir, &sb) == 0 || errno != ENOENT) {
            tagdir[0] = '\0';
        }
    }

    if (tagdir[0] == '\0') {
        /* a file, or a tag that exists: only the name changes */
        if (hr_store_batch_dir(b, f) == -1) {
            return -1;
        }

        return rename(f->tmp, f->final);
    }

    /* tags/ itself may be new: an empty tags/ lists no tag */
    slash = strrchr(tagdir, '/');
    *slash = '\0';

    if (hr_store_mkdirs_s(b->st, tagdir, 0, err, sizeof(err)) == -1) {
        return -1;
    }

    *slash = '/';

    if ((size_t) snprintf(nd, sizeof(nd), "%s.d", f->tmp) >= sizeof(nd)) {
        errno = ENAMETOOLONG;
        return -1;
    }

    snprintf(cur, sizeof(cur), "%s/current", nd);
    snprintf(link, sizeof(link), "%s/link", cur);

    if (hr_store_mkdirs_s(b->st, cur, 0, err, sizeof(err)) == -1) {
        return -1;
    }

    if (rename(f->tmp, link) == -1) {
        e = errno;
        (void) rmdir(cur);
        (void) rmdir(nd);
        errno = e;
        return -1;
    }

    tmp = strdup(link);
    if (tmp == NULL) {
        (void) rename(link, f->tmp);
        (void) rmdir(cur);
        (void) rmdir(nd);
        errno = ENOMEM;
        return -1;
    }

    free(f->tmp);
    f->tmp = tmp;

    if (rename(nd, tagdir) == 0) {
        return 0;
    }

    if (errno != EEXIST && errno != ENOTEMPTY) {
        e = errno;
        (void) rmdir(cur);      /* the link goes with hr_store_batch_fail */
        errno = e;
        return -1;
    }

    /* another writer made the tag meanwhile: the link alone goes in */
    if (hr_store_batch_dir(b, f) == -1 || rename(f->tmp, f->final) == -1) {
        return -1;
    }

    (void) rmdir(cur);
    (void) rmdir(nd);

    return 0;
}


int
hr_store_batch_publish(hr_store_batch_t *b, char *err, size_t errlen)
{
    int           pass;
    size_t        k;
    hr_staged_t  *f;

    if (b->nfiles == 0 && b->nfs == 0) {
        return 0;
    }

    /* 1: every temporary's data, new directory and blob rename durable */
    if (hr_store_batch_barrier(b) == -1) {
        goto broken;
    }

    /* 2: the files, then barrier; 3: the tags, then barrier */
    for (pass = 0; pass < 2; pass++) {
        for (k = 0; k < b->nfiles; k++) {
            f = &b->files[k];

            if (f->tmp == NULL || f->tag != pass) {
                continue;
            }

            if (pass == 1 && hr_store_batch_failed(b, f->group, NULL, 0)) {
                /* the tag would name what did not make it */
                hr_store_batch_fail(b, f, NULL);
                continue;
            }

            if (hr_store_batch_place(b, f) == -1) {
                hr_store_batch_fail(b, f, strerror(errno));
                continue;
            }

            free(f->tmp);
            f->tmp = NULL;
        }

        if (hr_store_batch_barrier(b) == -1) {
            goto broken;
        }
    }

    return 0;

broken:

    snprintf(err, errlen, "%s", b->err);

    /* no tag after a failed barrier: what it would name may be lost */
    for (k = 0; k < b->nfiles; k++) {
        f = &b->files[k];

        if (f->tmp != NULL) {
            hr_store_batch_fail(b, f, NULL);
        }
    }

    return -1;
}


int
hr_store_batch_failed(hr_store_batch_t *b, int group, char *err,
    size_t errlen)
{
    size_t  k;

    if (b->broken) {
        if (err != NULL) {
            snprintf(err, errlen, "%s", b->err);
        }
        return 1;
    }

    for (k = 0; k < b->nfailed; k++) {
        if (b->failed[k] == group) {
            if (err != NULL) {
                snprintf(err, errlen, "%s", b->err[0] ? b->err
                         : "a file of this task was not published");
            }
            return 1;
        }
    }

    return 0;
}
