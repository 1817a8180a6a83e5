/*
 * harbor.c: the Harbor v2.0 REST API, read side, with Basic credentials on
 * every call (robot accounts work).  Lists follow Link rel="next" like the
 * v2 lists.  A repository path below the project is URL-path-escaped twice
 * in the artifacts URL, as Harbor's own adapter does ("a/b" -> "a%252Fb").
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "harbor.h"


static json_t *hr_harbor_get_list(hr_src_t *s, const char *path, char *err,
    size_t errlen);
static char **hr_harbor_names(json_t *arr, const char *key, size_t *n);


void
hr_harbor_detect(hr_src_t *s)
{
    char           err[512];
    json_t        *js, *v;
    hr_xfer_t     *x;
    json_error_t   je;

    s->harbor = 0;

    if (s->rc->type != NULL) {
        s->harbor = strcasecmp(s->rc->type, "harbor") == 0;
        return;
    }

    x = hr_reg_get(s, "/api/version", NULL, NULL, 65536, 0, err,
                    sizeof(err));
    if (x == NULL) {
        return;
    }

    if (x->status == 200) {
        js = json_loadb(x->body.data, x->body.len, 0, &je);
        v = json_object_get(js, "version");

        if (json_is_string(v)) {
            s->harbor = 1;
            snprintf(s->version, sizeof(s->version), "%s",
                     json_string_value(v));
        }

        json_decref(js);
    }

    hr_xfer_free(x);
}


static json_t *
hr_harbor_get_list(hr_src_t *s, const char *path, char *err, size_t errlen)
{
    int            pages;
    char           url[4096], basic[2048];
    size_t         i;
    json_t        *all, *js, *v;
    hr_xfer_t     *x;
    const char    *hdrs[2];
    json_error_t   je;

    hdrs[0] = NULL;
    hdrs[1] = NULL;

    if (hr_auth_basic(s->rc, basic, sizeof(basic)) == 0) {
        hdrs[0] = basic;
    }

    all = json_array();
    if (all == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    snprintf(url, sizeof(url), "%s", path);

    for (pages = 0; url[0] != '\0' && pages < 10000; pages++) {
        /* REST calls carry Basic themselves: no token scope */
        x = hr_reg_get(s, url, NULL, hdrs, 16 * 1024 * 1024, 0, err,
                       errlen);
        if (x == NULL) {
            json_decref(all);
            return NULL;
        }

        if (x->status != 200) {
            snprintf(err, errlen, "GET %s: %ld %.300s", url, x->status,
                     x->body.data ? x->body.data : "");
            hr_xfer_free(x);
            json_decref(all);
            return NULL;
        }

        js = json_loadb(x->body.data, x->body.len, 0, &je);

        if (hr_reg_next_link(s, x->link, url, sizeof(url)) == -1) {
            url[0] = '\0';
        }

        hr_xfer_free(x);

        if (!json_is_array(js)) {
            snprintf(err, errlen, "GET %s: not a JSON array", path);
            json_decref(js);
            json_decref(all);
            return NULL;
        }

        json_array_foreach(js, i, v) {
            json_array_append(all, v);
        }

        json_decref(js);
    }

    return all;
}


static char **
hr_harbor_names(json_t *arr, const char *key, size_t *n)
{
    char        **list;
    size_t        i, cnt;
    json_t       *v;
    const char   *name;

    *n = 0;
    list = calloc(json_array_size(arr) + 1, sizeof(char *));
    if (list == NULL) {
        return NULL;
    }

    cnt = 0;

    json_array_foreach(arr, i, v) {
        name = json_string_value(json_object_get(v, key));

        if (name == NULL) {
            continue;
        }

        list[cnt] = strdup(name);
        if (list[cnt] == NULL) {
            hr_store_free_list(list, cnt);
            return NULL;
        }

        cnt++;
    }

    *n = cnt;

    return list;
}


int
hr_harbor_repos(hr_src_t *s, char ***repos, size_t *n, char *err,
    size_t errlen)
{
    char     path[1024], **projects, **list, **names, **nl;
    size_t   i, j, np, nn, cnt;
    json_t  *arr;

    *repos = NULL;
    *n = 0;

    arr = hr_harbor_get_list(s, "/api/v2.0/projects?page_size=100", err,
                             errlen);
    if (arr == NULL) {
        return -1;
    }

    projects = hr_harbor_names(arr, "name", &np);
    json_decref(arr);

    if (projects == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    list = NULL;
    cnt = 0;

    for (i = 0; i < np; i++) {
        if (!hr_valid_repo(projects[i])) {
            continue;
        }

        snprintf(path, sizeof(path),
                 "/api/v2.0/projects/%s/repositories?page_size=100",
                 projects[i]);

        arr = hr_harbor_get_list(s, path, err, errlen);
        if (arr == NULL) {
            goto failed;
        }

        names = hr_harbor_names(arr, "name", &nn);
        json_decref(arr);

        if (names == NULL) {
            snprintf(err, errlen, "out of memory");
            goto failed;
        }

        nl = realloc(list, (cnt + nn + 1) * sizeof(char *));
        if (nl == NULL) {
            hr_store_free_list(names, nn);
            snprintf(err, errlen, "out of memory");
            goto failed;
        }

        list = nl;

        for (j = 0; j < nn; j++) {
            list[cnt++] = names[j];
        }

        free(names);
    }

    hr_store_free_list(projects, np);

    *repos = list;
    *n = cnt;

    return 0;

failed:

    hr_store_free_list(projects, np);
    hr_store_free_list(list, cnt);

    return -1;
}


int
hr_harbor_artifacts(hr_src_t *s, const char *repo, hr_art_t **arts,
    size_t *n, char *err, size_t errlen)
{
    char          path[2048], project[256], rest[1024], *o;
    size_t        i, k, cnt;
    json_t       *arr, *a, *tags, *labels;
    hr_art_t     *list;
    const char   *slash, *p;

    *arts = NULL;
    *n = 0;

    slash = strchr(repo, '/');
    if (slash == NULL || (size_t) (slash - repo) >= sizeof(project)) {
        snprintf(err, errlen, "\"%s\" is not project/repository", repo);
        return -1;
    }

    snprintf(project, sizeof(project), "%.*s", (int) (slash - repo), repo);

    /* "/" -> "%252F": escaped twice */
    o = rest;
    for (p = slash + 1; *p && o < rest + sizeof(rest) - 6; p++) {
        if (*p == '/') {
            memcpy(o, "%252F", 5);
            o += 5;

        } else {
            *o++ = *p;
        }
    }
    *o = '\0';

    snprintf(path, sizeof(path),
             "/api/v2.0/projects/%s/repositories/%s/artifacts"
             "?page_size=100&with_label=true&with_tag=true", project, rest);

    arr = hr_harbor_get_list(s, path, err, errlen);
    if (arr == NULL) {
        return -1;
    }

    list = calloc(json_array_size(arr) + 1, sizeof(hr_art_t));
    if (list == NULL) {
        json_decref(arr);
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    cnt = 0;

    json_array_foreach(arr, i, a) {
        hr_art_t  *art = &list[cnt];

        if (!hr_valid_digest(json_string_value(json_object_get(a, "digest"))))
        {
            continue;
        }

        art->digest = strdup(json_string_value(json_object_get(a, "digest")));

        if (json_is_string(json_object_get(a, "type"))) {
            art->type = strdup(json_string_value(json_object_get(a, "type")));
        }

        tags = json_object_get(a, "tags");
        labels = json_object_get(a, "labels");

        art->tags = hr_harbor_names(tags, "name", &art->ntags);
        art->labels = hr_harbor_names(labels, "name", &art->nlabels);

        cnt++;

        if (art->digest == NULL || art->tags == NULL || art->labels == NULL) {
            hr_art_free(list, cnt);
            json_decref(arr);
            snprintf(err, errlen, "out of memory");
            return -1;
        }

        for (k = 0; k < art->ntags; k++) {
            if (!hr_valid_tag(art->tags[k])) {
                art->tags[k][0] = '\0';     /* dropped by the caller */
            }
        }
    }

    json_decref(arr);

    *arts = list;
    *n = cnt;

    return 0;
}


void
hr_art_free(hr_art_t *arts, size_t n)
{
    size_t  i;

    if (arts == NULL) {
        return;
    }

    for (i = 0; i < n; i++) {
        free(arts[i].digest);
        free(arts[i].type);
        hr_store_free_list(arts[i].tags, arts[i].ntags);
        hr_store_free_list(arts[i].labels, arts[i].nlabels);
    }

    free(arts);
}
