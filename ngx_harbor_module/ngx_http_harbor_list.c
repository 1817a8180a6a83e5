
/*
 * Copyright (C) Harbor Edge authors
 */


/*
 * The listings: tags/list, _catalog and referrers.  Tags and repositories
 * come from directory names, which are checked against the OCI grammars
 * before they are emitted (so they need no JSON escaping), sorted bytewise
 * and paged with n/last and a Link header in distribution's format (query
 * keys sorted: last, n, then ns; values percent-encoded).  Every
 * directory is opened as the store's files are (ngx_http_harbor_open_dir():
 * symlinks refused), and the catalog walk never descends into a symlinked
 * entry (d_type or lstat).  A directory the worker may not read is a store
 * fault: 500 with one [error] line naming it, for the catalog as for
 * tags/list, never a shorter list.  A referrers index is served as
 * stored, or re-emitted with only the descriptors of the requested
 * artifactType.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_harbor_module.h"


#define NGX_HTTP_HARBOR_CATALOG_DEFAULT  100


typedef struct {
    ngx_uint_t                  n;
    ngx_str_t                   last;
    unsigned                    has_n:1;
} ngx_http_harbor_page_t;


static ngx_int_t ngx_http_harbor_page_args(ngx_http_request_t *r,
    ngx_http_harbor_page_t *page, ngx_uint_t catalog);
static ngx_int_t ngx_http_harbor_list_tags(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, ngx_array_t *tags);
static ngx_int_t ngx_http_harbor_catalog_walk(ngx_http_request_t *r,
    ngx_array_t *repos, u_char *buf, size_t base, size_t rel);
static ngx_int_t ngx_http_harbor_send_list(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, ngx_array_t *items,
    ngx_http_harbor_page_t *page);
static int ngx_libc_cdecl ngx_http_harbor_cmp(const void *one,
    const void *two);
static ngx_int_t ngx_http_harbor_push(ngx_array_t *a, ngx_pool_t *pool,
    u_char *data, size_t len);
static u_char *ngx_http_harbor_escape_arg(u_char *dst, ngx_str_t *src);


static ngx_str_t  ngx_http_harbor_index_type =
    ngx_string("application/vnd.oci.image.index.v1+json");


/*
 * n and last; NGX_OK, or the error response has been sent and its code is
 * in page->n
 */

static ngx_int_t
ngx_http_harbor_page_args(ngx_http_request_t *r, ngx_http_harbor_page_t *page,
    ngx_uint_t catalog)
{
    ngx_int_t                    rc;
    ngx_str_t                    value;
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    ngx_memzero(page, sizeof(ngx_http_harbor_page_t));

    rc = ngx_http_harbor_arg(r, "n", 1, &value);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK) {
        if (ngx_http_harbor_parse_number(value.data, value.len, &page->n)
            != NGX_OK
            || (catalog && page->n > hlcf->catalog_max_entries))
        {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "harbor: invalid n argument");
            page->n = ngx_http_harbor_send_error(r,
                                     NGX_HTTP_HARBOR_PAGINATION_NUMBER_INVALID,
                                     0, NULL);
            return NGX_DECLINED;
        }

        page->has_n = 1;

    } else if (catalog) {
        page->n = ngx_min(NGX_HTTP_HARBOR_CATALOG_DEFAULT,
                          hlcf->catalog_max_entries);
        page->has_n = 1;
    }

    rc = ngx_http_harbor_arg(r, "last", 4, &page->last);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        page->last.len = 0;
        return NGX_OK;
    }

    if (catalog) {
        if (!he_oci_name(page->last.data, page->last.len)) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "harbor: invalid last argument");
            page->n = ngx_http_harbor_send_error(r,
                                                 NGX_HTTP_HARBOR_NAME_INVALID,
                                                 0, "invalid last argument");
            return NGX_DECLINED;
        }

    } else if (!he_oci_tag(page->last.data, page->last.len)) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "harbor: invalid last argument");
        page->n = ngx_http_harbor_send_error(r, NGX_HTTP_HARBOR_TAG_INVALID,
                                             0, "invalid last argument");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_harbor_tags_handler(ngx_http_request_t *r, ngx_http_harbor_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_str_t                    path, parts[4];
    ngx_uint_t                   i;
    ngx_array_t                  tags;
    ngx_open_file_info_t         of;
    ngx_http_harbor_page_t       page;
    ngx_http_harbor_loc_conf_t  *hlcf;

    static ngx_str_t  dirs[2] = {
        ngx_string("/_manifests"),
        ngx_string("/_layers")
    };

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    rc = ngx_http_harbor_page_args(r, &page, 0);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return page.n;
    }

    /* the repository exists if it has _manifests or _layers */

    parts[0] = hlcf->v2;
    ngx_str_set(&parts[1], "/repositories/");
    parts[2] = ctx->repo;

    for (i = 0; i < 2; i++) {
        parts[3] = dirs[i];

        if (ngx_http_harbor_path(r->pool, &path, parts, 4) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = ngx_http_harbor_open(r, &path, &of, NGX_HTTP_HARBOR_TEST_DIR);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_OK) {
            break;
        }
    }

    if (i == 2) {
        return ngx_http_harbor_send_error(r, NGX_HTTP_HARBOR_NAME_UNKNOWN, 0,
                                          NULL);
    }

    if (ngx_array_init(&tags, r->pool, 16, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_harbor_list_tags(r, ctx, &tags) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_harbor_send_list(r, ctx, &tags, &page);
}


/*
 * the valid tags under _manifests/tags/ that have a current/link
 */

static ngx_int_t
ngx_http_harbor_list_tags(ngx_http_request_t *r, ngx_http_harbor_ctx_t *ctx,
    ngx_array_t *tags)
{
    u_char                      *name;
    size_t                       len;
    ngx_int_t                    rc;
    ngx_err_t                    err;
    ngx_str_t                    dirpath, path, parts[4];
    ngx_dir_t                    dir;
    ngx_open_file_info_t         of;
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    parts[0] = hlcf->v2;
    ngx_str_set(&parts[1], "/repositories/");
    parts[2] = ctx->repo;
    ngx_str_set(&parts[3], "/_manifests/tags");

    if (ngx_http_harbor_path(r->pool, &dirpath, parts, 4) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_harbor_open_dir(r, &dirpath, &dir);

    if (rc != NGX_OK) {
        return (rc == NGX_DECLINED) ? NGX_OK : NGX_ERROR;
    }

    parts[0] = dirpath;
    ngx_str_set(&parts[1], "/");
    ngx_str_set(&parts[3], "/current/link");

    rc = NGX_OK;

    for ( ;; ) {
        ngx_set_errno(0);

        if (ngx_read_dir(&dir) == NGX_ERROR) {
            err = ngx_errno;

            if (err != NGX_ENOMOREFILES) {
                ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                              ngx_read_dir_n " \"%s\" failed", dirpath.data);
                rc = NGX_ERROR;
            }

            break;
        }

        name = ngx_de_name(&dir);
        len = ngx_de_namelen(&dir);

        /* temporaries of the replicator are invisible */

        if (!he_oci_tag(name, len)
            || ngx_strlcasestrn(name, name + len, (u_char *) ".tmp-",
                                sizeof(".tmp-") - 2)
               != NULL)
        {
            continue;
        }

        parts[2].data = name;
        parts[2].len = len;

        if (ngx_http_harbor_path(r->pool, &path, parts, 4) != NGX_OK) {
            rc = NGX_ERROR;
            break;
        }

        rc = ngx_http_harbor_open(r, &path, &of, NGX_HTTP_HARBOR_TEST_FILE
                                                 |NGX_HTTP_HARBOR_FRESH);

        if (rc == NGX_ERROR) {
            break;
        }

        rc = NGX_OK;

        if (of.is_file
            && ngx_http_harbor_push(tags, r->pool, name, len) != NGX_OK)
        {
            rc = NGX_ERROR;
            break;
        }
    }

    if (ngx_close_dir(&dir) == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                      ngx_close_dir_n " \"%s\" failed", dirpath.data);
    }

    return rc;
}


ngx_int_t
ngx_http_harbor_catalog_handler(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx)
{
    u_char                      *buf, *p;
    size_t                       base;
    ngx_int_t                    rc;
    ngx_array_t                  repos;
    ngx_http_harbor_page_t       page;
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    rc = ngx_http_harbor_page_args(r, &page, 1);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return page.n;
    }

    if (ngx_array_init(&repos, r->pool, 16, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* V2/repositories, then "/" name (at most NAME_MAX), "/", NUL */

    base = hlcf->v2.len + sizeof("/repositories") - 1;

    buf = ngx_pnalloc(r->pool, base + 1 + NGX_HTTP_HARBOR_NAME_MAX + 1);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(buf, hlcf->v2.data, hlcf->v2.len);
    p = ngx_cpymem(p, "/repositories", sizeof("/repositories") - 1);
    *p = '\0';

    /* an unreadable directory anywhere fails the whole catalog: 500 */

    if (ngx_http_harbor_catalog_walk(r, &repos, buf, base, 0) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_harbor_send_list(r, ctx, &repos, &page);
}


/*
 * depth first; buf holds V2/repositories and, from base, "/" and the
 * relative path of rel bytes; a directory holding _layers is a repository
 */

static ngx_int_t
ngx_http_harbor_catalog_walk(ngx_http_request_t *r, ngx_array_t *repos,
    u_char *buf, size_t base, size_t rel)
{
    u_char      *name;
    size_t       len;
    ngx_int_t    rc;
    ngx_err_t    err;
    ngx_str_t    path;
    ngx_dir_t    dir;
    ngx_uint_t   repo;

    buf[base + rel] = '\0';

    path.data = buf;
    path.len = base + rel;

    /* absent (a fresh store, a repository deleted meanwhile): nothing */

    rc = ngx_http_harbor_open_dir(r, &path, &dir);

    if (rc != NGX_OK) {
        return (rc == NGX_DECLINED) ? NGX_OK : NGX_ERROR;
    }

    rc = NGX_OK;
    repo = 0;

    for ( ;; ) {
        ngx_set_errno(0);

        if (ngx_read_dir(&dir) == NGX_ERROR) {
            err = ngx_errno;

            if (err != NGX_ENOMOREFILES) {
                buf[base + rel] = '\0';
                ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                              ngx_read_dir_n " \"%s\" failed", buf);
                rc = NGX_ERROR;
            }

            break;
        }

        name = ngx_de_name(&dir);
        len = ngx_de_namelen(&dir);

        if (len == sizeof("_layers") - 1
            && ngx_strncmp(name, "_layers", len) == 0)
        {
            repo = 1;
            continue;
        }

        if (!he_oci_component(name, len)
            || rel + 1 + len > 1 + NGX_HTTP_HARBOR_NAME_MAX)
        {
            continue;
        }

        buf[base + rel] = '/';
        ngx_memcpy(buf + base + rel + 1, name, len);
        buf[base + rel + 1 + len] = '\0';

        /* never follow a symlink: lstat when d_type is unknown */

        if (dir.type == 0
            && ngx_de_link_info(buf, &dir) == NGX_FILE_ERROR)
        {
            continue;
        }

        if (!ngx_de_is_dir(&dir)) {
            continue;
        }

        rc = ngx_http_harbor_catalog_walk(r, repos, buf, base, rel + 1 + len);

        if (rc != NGX_OK) {
            break;
        }
    }

    buf[base + rel] = '\0';

    if (ngx_close_dir(&dir) == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                      ngx_close_dir_n " \"%s\" failed", buf);
    }

    if (rc == NGX_OK && repo && rel > 0) {
        if (ngx_http_harbor_push(repos, r->pool, buf + base + 1, rel - 1)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return rc;
}


static ngx_int_t
ngx_http_harbor_push(ngx_array_t *a, ngx_pool_t *pool, u_char *data,
    size_t len)
{
    ngx_str_t  *s;

    s = ngx_array_push(a);
    if (s == NULL) {
        return NGX_ERROR;
    }

    s->data = ngx_pnalloc(pool, len);
    if (s->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(s->data, data, len);
    s->len = len;

    return NGX_OK;
}


/*
 * a query value: every byte but the unreserved ones (RFC 3986) becomes
 * %XX, so "a/b" is "a%2Fb" as in distribution's Link; at most 3 bytes per
 * byte of src
 */

static u_char *
ngx_http_harbor_escape_arg(u_char *dst, ngx_str_t *src)
{
    u_char      c;
    ngx_uint_t  i;

    static u_char  hex[] = "0123456789ABCDEF";

    for (i = 0; i < src->len; i++) {
        c = src->data[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9')
            || c == '-' || c == '.' || c == '_' || c == '~')
        {
            *dst++ = c;
            continue;
        }

        *dst++ = '%';
        *dst++ = hex[c >> 4];
        *dst++ = hex[c & 0xf];
    }

    return dst;
}


static int ngx_libc_cdecl
ngx_http_harbor_cmp(const void *one, const void *two)
{
    ngx_str_t  *a = (ngx_str_t *) one;
    ngx_str_t  *b = (ngx_str_t *) two;

    return ngx_memn2cmp(a->data, b->data, a->len, b->len);
}


/*
 * sorts, pages and sends {"name":..,"tags":[..]} or {"repositories":[..]}
 * with a Link to the next page when one remains
 */

static ngx_int_t
ngx_http_harbor_send_list(ngx_http_request_t *r, ngx_http_harbor_ctx_t *ctx,
    ngx_array_t *items, ngx_http_harbor_page_t *page)
{
    u_char      *body, *p, *q;
    size_t       len;
    ngx_str_t    link, type, *s;
    ngx_uint_t   i, start, end, catalog;

    catalog = (ctx->kind == NGX_HTTP_HARBOR_CATALOG);

    s = items->elts;

    ngx_qsort(s, items->nelts, sizeof(ngx_str_t), ngx_http_harbor_cmp);

    start = 0;

    if (page->last.len) {
        while (start < items->nelts
               && ngx_memn2cmp(s[start].data, page->last.data, s[start].len,
                               page->last.len)
                  <= 0)
        {
            start++;
        }
    }

    end = items->nelts;

    if (page->has_n && end - start > page->n) {
        end = start + page->n;
    }

    /* the body */

    if (catalog) {
        len = sizeof("{\"repositories\":[]}") - 1;

    } else {
        len = sizeof("{\"name\":\"\",\"tags\":[]}") - 1 + ctx->name.len;
    }

    for (i = start; i < end; i++) {
        len += s[i].len + sizeof("\"\",") - 1;
    }

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (catalog) {
        p = ngx_cpymem(body, "{\"repositories\":[",
                       sizeof("{\"repositories\":[") - 1);

    } else {
        p = ngx_cpymem(body, "{\"name\":\"", sizeof("{\"name\":\"") - 1);
        p = ngx_cpymem(p, ctx->name.data, ctx->name.len);
        p = ngx_cpymem(p, "\",\"tags\":[", sizeof("\",\"tags\":[") - 1);
    }

    for (i = start; i < end; i++) {
        if (i != start) {
            *p++ = ',';
        }

        *p++ = '"';
        p = ngx_cpymem(p, s[i].data, s[i].len);
        *p++ = '"';
    }

    *p++ = ']';
    *p++ = '}';

    /* the Link to the next page */

    if (end < items->nelts && end > start) {

        /* query values escaped as Go's url.Values.Encode() does */

        len = sizeof("</v2/_catalog?last=&n=>; rel=\"next\"") - 1
              + sizeof("/tags/list") - 1 + ctx->name.len
              + 3 * s[end - 1].len + NGX_INT_T_LEN
              + sizeof("&ns=") - 1 + 3 * ctx->ns.len;

        link.data = ngx_pnalloc(r->pool, len);
        if (link.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (catalog) {
            q = ngx_cpymem(link.data, "</v2/_catalog?last=",
                           sizeof("</v2/_catalog?last=") - 1);

        } else {
            q = ngx_sprintf(link.data, "</v2/%V/tags/list?last=",
                            &ctx->name);
        }

        q = ngx_http_harbor_escape_arg(q, &s[end - 1]);
        q = ngx_sprintf(q, "&n=%ui", page->n);

        if (!catalog && ctx->ns.len) {
            q = ngx_cpymem(q, "&ns=", sizeof("&ns=") - 1);
            q = ngx_http_harbor_escape_arg(q, &ctx->ns);
        }

        q = ngx_cpymem(q, ">; rel=\"next\"", sizeof(">; rel=\"next\"") - 1);

        link.len = q - link.data;

        if (ngx_http_harbor_add_header(r, "Link", &link) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    type = ngx_http_harbor_json_type;

    return ngx_http_harbor_send_memory(r, NGX_HTTP_OK, &type, body,
                                       p - body);
}


ngx_int_t
ngx_http_harbor_referrers_handler(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx)
{
    u_char                      *data;
    ngx_int_t                    rc;
    ngx_str_t                    filter, body, parts[8], applied;
    ngx_http_harbor_loc_conf_t  *hlcf;

    static u_char  empty[] = "{\"schemaVersion\":2,\"mediaType\":"
                             "\"application/vnd.oci.image.index.v1+json\","
                             "\"manifests\":[]}";

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    rc = ngx_http_harbor_arg(r, "artifactType", sizeof("artifactType") - 1,
                             &filter);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        filter.len = 0;

    } else {
        if (ngx_http_harbor_parse_media_type(filter.data, filter.len)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "harbor: invalid artifactType argument");
            return ngx_http_harbor_send_error(r, NGX_HTTP_HARBOR_UNSUPPORTED,
                                              NGX_HTTP_BAD_REQUEST,
                                              "invalid artifactType");
        }

        ngx_str_set(&applied, "artifactType");

        if (ngx_http_harbor_add_header(r, "OCI-Filters-Applied", &applied)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    parts[0] = hlcf->v2;
    ngx_str_set(&parts[1], "/repositories/");
    parts[2] = ctx->repo;
    ngx_str_set(&parts[3], "/_harbor/referrers/");
    parts[4] = ctx->digest.alg;
    ngx_str_set(&parts[5], "/");
    parts[6] = ctx->digest.hex;
    ngx_str_set(&parts[7], "/index.json");

    if (ngx_http_harbor_path(r->pool, &ctx->path, parts, 8) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* rewritten by rename(2) whenever a referrer arrives */

    rc = ngx_http_harbor_open(r, &ctx->path, &ctx->of, NGX_HTTP_HARBOR_FRESH);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        /* no referrers: an empty index, never a 404 */
        return ngx_http_harbor_send_memory(r, NGX_HTTP_OK,
                                           &ngx_http_harbor_index_type,
                                           empty, sizeof(empty) - 1);
    }

    if (filter.len) {

        if ((size_t) ctx->of.size > hlcf->manifest_max_size) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "harbor: referrers index \"%s\" is too large",
                          ctx->path.data);
            return ngx_http_harbor_send_error(r, NGX_HTTP_HARBOR_UNKNOWN, 0,
                                              NULL);
        }

        data = ngx_pnalloc(r->pool, ctx->of.size ? (size_t) ctx->of.size : 1);
        if (data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = ngx_http_harbor_read_file(r, &ctx->path, &ctx->of, data);

        if (rc == NGX_OK) {
            rc = ngx_http_harbor_referrers_filter(r->pool, data,
                                                  ctx->of.size, &filter,
                                                  &body);
        }

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_DECLINED) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "harbor: invalid referrers index \"%s\"",
                          ctx->path.data);
            return ngx_http_harbor_send_error(r, NGX_HTTP_HARBOR_UNKNOWN, 0,
                                              NULL);
        }

        return ngx_http_harbor_send_memory(r, NGX_HTTP_OK,
                                           &ngx_http_harbor_index_type,
                                           body.data, body.len);
    }

    /* unfiltered: the file as it is */

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = ctx->of.size;
    r->headers_out.content_type = ngx_http_harbor_index_type;
    r->headers_out.content_type_len = ngx_http_harbor_index_type.len;
    r->headers_out.content_type_lowcase = NULL;

    return ngx_http_harbor_send_file(r, ctx);
}
