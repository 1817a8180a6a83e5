/*
 * store.h: the writer of the store described in docs/store.md: CNCF
 * distribution's filesystem layout under ROOT/docker/registry/v2, plus the
 * referrers index files and the replicator's own state under ROOT/_harbor_edge.
 *
 * Every file becomes visible by rename(2) after its data is durable.  The
 * plain calls fsync each file and its directory; the _b calls stage their
 * files in a batch (hr_store_batch_t) that hr_store_batch_publish() makes
 * visible behind three syncfs(2) barriers (store.c, "Durability").  The
 * caller keeps the order docs/store.md gives (blob, layer link, manifest
 * blob, revision link, referrers, tag index, tag current).
 * Names, tags and digests are checked against the OCI grammars here, before
 * any path is built, whatever the caller already checked.
 */

#ifndef HR_STORE_H
#define HR_STORE_H

#include <limits.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "he_oci_grammar.h"

#define HR_DIGEST_LEN       HE_OCI_SHA256_LEN   /* "sha256:" + 64 hex */
#define HR_MANIFEST_MAX     (4 * 1024 * 1024)
#define HR_REFERRERS_MAX    (4 * 1024 * 1024)

/* the one blob that may be empty */
#define HR_STORE_EMPTY_DIGEST                                                 \
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct {
    char        *root;
    char        *v2;            /* ROOT/docker/registry/v2 */
    char        *state;         /* ROOT/_harbor_edge or configured */
    mode_t       fmode;
    mode_t       dmode;
    gid_t        gid;
    int          grouped;
    unsigned     tmpn;          /* temp names: <final>.tmp-<pid>-<n> */
    time_t       tmp_cleaned;   /* hr_store_clean_tmp() last ran */
} hr_store_t;

/* Temporaries of files under V2/, where no reader looks. */
#define HR_STORE_TMP_DIR  "_harbor_tmp"

typedef enum {
    HR_LINK_LAYER = 0,
    HR_LINK_REVISION,
    HR_LINK_TAG_INDEX,
    HR_LINK_TAG_CURRENT
} hr_link_e;

/* A file written as a temporary, renamed by hr_store_batch_publish(). */
typedef struct {
    char        *tmp;
    char        *final;
    int          group;         /* the caller's unit (a task), -1: none */
    unsigned     tag:1;         /* a tag's link (index, then current):
                                   renamed last */
    unsigned     dead:1;        /* replaced by a later entry */
    unsigned     failed:1;
} hr_staged_t;

#define HR_BATCH_FS  8

/*
 * Files staged for one publish, and the filesystems to sync.  Nothing in
 * it is visible to readers until hr_store_batch_publish().
 */
typedef struct {
    hr_store_t   *st;
    hr_staged_t  *files;
    size_t        nfiles;
    size_t        cfiles;
    int           fds[HR_BATCH_FS];     /* one directory per filesystem */
    dev_t         devs[HR_BATCH_FS];
    int           nfs;
    int          *failed;               /* groups with a file not published */
    size_t        nfailed;
    unsigned      barriers;             /* syncfs rounds taken */
    int           broken;               /* a barrier failed: nothing holds */
    char          err[512];
} hr_store_batch_t;

/* A blob being downloaded: partial data under state/partial, resumable. */
typedef struct {
    hr_store_t  *st;
    int          fd;
    EVP_MD_CTX  *md;
    long long    size;          /* expected, -1: unknown */
    long long    offset;        /* bytes in the partial file */
    long long    recorded;      /* offset last written to the .offset file */
    long long    resumed;       /* offset the download started from */
    char         digest[HR_DIGEST_LEN + 1];
    char         path[PATH_MAX];
    char         meta[PATH_MAX + 16];
} hr_blob_writer_t;

int hr_valid_digest(const char *d);
int hr_valid_repo(const char *name);
int hr_valid_tag(const char *tag);

int hr_store_init(hr_store_t *st, const char *root, const char *state_dir,
    const char *group, char *err, size_t errlen);
void hr_store_free(hr_store_t *st);

/*
 * 1 when blobs/.../data is a regular file (its size in *size), else 0.
 * An empty file is absent unless the digest is the empty blob's: that is
 * what a crash can leave of a file whose data never reached the disk.
 */
int hr_store_blob_exists(hr_store_t *st, const char *digest, long long *size);

/*
 * 1 with the stored manifest (malloc'ed, NUL-ended, at most
 * HR_MANIFEST_MAX bytes) when blobs/.../data hashes to digest; 0 when it
 * is absent, too large or does not hash to digest.
 */
int hr_store_manifest_read(hr_store_t *st, const char *digest, char **p,
    size_t *len);

/* Writes bytes held in memory (a manifest) as a blob, digest checked. */
int hr_store_put_blob(hr_store_t *st, const char *digest, const void *p,
    size_t n, char *err, size_t errlen);

/*
 * Streaming blob writer.  begin() reuses a partial file left by an
 * interrupted run: it re-hashes the kept prefix and w->offset says where
 * the download resumes (0: from the start).  restart() drops the prefix
 * (the server ignored the Range).  commit() checks size and digest, fsyncs
 * and renames into blobs/; a mismatch removes the partial file.
 * suspend() keeps the partial data and its offset for the next run.
 * begin() returns 0; 1 when the blob is already in blobs/ (another process
 * committed it: nothing to do); -2 when another process is fetching it
 * (try later); -1 on an error.
 */
int hr_store_blob_begin(hr_store_t *st, hr_blob_writer_t *w,
    const char *digest, long long size, char *err, size_t errlen);
int hr_store_blob_restart(hr_blob_writer_t *w, char *err, size_t errlen);
int hr_store_blob_write(hr_blob_writer_t *w, const void *p, size_t n,
    char *err, size_t errlen);
int hr_store_blob_commit(hr_blob_writer_t *w, char *err, size_t errlen);
void hr_store_blob_suspend(hr_blob_writer_t *w);
void hr_store_blob_discard(hr_blob_writer_t *w);

/* tag is used by the tag kinds only. */
int hr_store_link(hr_store_t *st, const char *repo, hr_link_e kind,
    const char *tag, const char *digest, char *err, size_t errlen);
/* 1 with the link's digest in out, 0 when absent, -1 on a bad link. */
int hr_store_read_link(hr_store_t *st, const char *repo, hr_link_e kind,
    const char *tag, const char *digest, char *out);
int hr_store_tag_delete(hr_store_t *st, const char *repo, const char *tag,
    char *err, size_t errlen);
/* The repository's tags (malloc'ed array of malloc'ed strings). */
int hr_store_tags(hr_store_t *st, const char *repo, char ***tags,
    size_t *ntags, char *err, size_t errlen);
void hr_store_free_list(char **list, size_t n);

/*
 * Adds (or replaces, by digest) a referrer descriptor in the referrers
 * index of subject in repo, and rewrites the file atomically.
 */
int hr_store_referrer_add(hr_store_t *st, const char *repo,
    const char *subject, json_t *desc, char *err, size_t errlen);

/*
 * The batch.  The _b calls with b NULL are the plain calls.  group is the
 * caller's unit of failure: publish() leaves the tags of a group alone
 * when another of its files could not be renamed.
 */
void hr_store_batch_init(hr_store_batch_t *b, hr_store_t *st);
/* Unlinks whatever was staged and not published. */
void hr_store_batch_free(hr_store_batch_t *b);
int hr_store_link_b(hr_store_t *st, hr_store_batch_t *b, int group,
    const char *repo, hr_link_e kind, const char *tag, const char *digest,
    char *err, size_t errlen);
int hr_store_put_blob_b(hr_store_t *st, hr_store_batch_t *b, int group,
    const char *digest, const void *p, size_t n, char *err, size_t errlen);
int hr_store_referrer_add_b(hr_store_t *st, hr_store_batch_t *b, int group,
    const char *repo, const char *subject, json_t *desc, char *err,
    size_t errlen);
/* As hr_store_blob_commit(); the directories are synced by the batch. */
int hr_store_blob_commit_b(hr_blob_writer_t *w, hr_store_batch_t *b,
    char *err, size_t errlen);
/*
 * syncfs; rename every staged file but the tags; syncfs; rename the tags
 * (not those of a group with a failed file); syncfs.  -1 (with err) when
 * a barrier failed: then nothing staged is to be trusted as published.
 */
int hr_store_batch_publish(hr_store_batch_t *b, char *err, size_t errlen);
/* 1 with the first error when a file of group was not published. */
int hr_store_batch_failed(hr_store_batch_t *b, int group, char *err,
    size_t errlen);

/*
 * Removes the temporaries in V2/_harbor_tmp of processes that are gone;
 * not again within min_interval seconds.  Returns how many.
 */
long hr_store_clean_tmp(hr_store_t *st, long min_interval);

/* Atomic write of a whole file under the store (temp, fsync, rename). */
int hr_store_write_file(hr_store_t *st, const char *path, const void *p,
    size_t n, char *err, size_t errlen);
int hr_store_mkdirs(hr_store_t *st, const char *dir, char *err,
    size_t errlen);
/* Reads a whole small file (at most max bytes); malloc'ed, NUL-ended. */
char *hr_store_read_file(const char *path, size_t max, size_t *len,
    char *err, size_t errlen);
/* STATE/name, a JSON object of at most max bytes; NULL: none or not one. */
json_t *hr_store_read_object(const char *state, const char *name, size_t max);

/* sha256 of a buffer as "sha256:<hex>". */
void hr_sha256_digest(const void *p, size_t n, char *out);

/* Formats a raw sha256 (32 bytes) as "sha256:<hex>" into out (72 bytes). */
void hr_sha256_format(const unsigned char *md, char *out);

#endif /* HR_STORE_H */
