/*
 * http.c: libcurl multi on the replicator's loop.
 *
 * curl tells us which sockets to watch (hr_http_socket_cb) and when to wake
 * it (hr_http_timer_cb); the loop calls back into curl_multi_socket_action()
 * and we then drain CURLMSG_DONE messages.  The result of a transfer is
 * copied out before curl_multi_remove_handle(), as curl's docs require.
 * A transfer's done callback runs from hr_http_check(), outside any curl
 * callback, so it may start new transfers or free its own.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"


struct hr_http_s {
    CURLM            *multi;
    hr_loop_t        *loop;
    long long         timer_id;
    int               running;
    hr_http_wait_pt   wait;
    void             *wait_data;
};


static int hr_http_socket_cb(CURL *easy, curl_socket_t s, int what,
    void *userp, void *socketp);
static int hr_http_timer_cb(CURLM *multi, long timeout_ms, void *userp);
static long hr_http_timeout(hr_loop_t *loop, long long id, void *data);
static void hr_http_event(hr_loop_t *loop, int fd, void *data, int mask);
static void hr_http_check(hr_http_t *h);
static size_t hr_xfer_header_cb(char *p, size_t size, size_t n, void *data);
static size_t hr_xfer_write_cb(char *p, size_t size, size_t n, void *data);
static void hr_xfer_copy_header(char *dst, size_t dstlen, const char *v,
    size_t len);


hr_http_t *
hr_http_create(hr_loop_t *loop, int maxconn, char *err, size_t errlen)
{
    hr_http_t  *h;

    h = calloc(1, sizeof(hr_http_t));
    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    h->loop = loop;

    h->multi = curl_multi_init();
    if (h->multi == NULL) {
        snprintf(err, errlen, "curl_multi_init() failed");
        free(h);
        return NULL;
    }

    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, hr_http_socket_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, hr_http_timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      (long) (maxconn > 0 ? maxconn : 4));

    return h;
}


void
hr_http_free(hr_http_t *h)
{
    if (h == NULL) {
        return;
    }

    if (h->timer_id) {
        hr_loop_del_timer(h->loop, h->timer_id);
    }

    curl_multi_cleanup(h->multi);
    free(h);
}


int
hr_http_running(hr_http_t *h)
{
    return h->running;
}


hr_loop_t *
hr_http_loop(hr_http_t *h)
{
    return h->loop;
}


static int
hr_http_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
    void *socketp)
{
    int         mask;
    char        err[128];
    hr_http_t  *h;

    h = userp;

    if (what == CURL_POLL_REMOVE) {
        hr_loop_del_file(h->loop, s, HR_LOOP_READABLE | HR_LOOP_WRITABLE);
        return 0;
    }

    mask = 0;

    if (what & CURL_POLL_IN) {
        mask |= HR_LOOP_READABLE;
    }

    if (what & CURL_POLL_OUT) {
        mask |= HR_LOOP_WRITABLE;
    }

    hr_loop_del_file(h->loop, s,
                     (HR_LOOP_READABLE | HR_LOOP_WRITABLE) & ~mask);

    if (hr_loop_add_file(h->loop, s, mask, hr_http_event, h, err,
                         sizeof(err))
        == -1)
    {
        /* curl notices the stall through its timeout */
        return -1;
    }

    return 0;
}


static int
hr_http_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    hr_http_t  *h;

    h = userp;

    if (h->timer_id) {
        hr_loop_del_timer(h->loop, h->timer_id);
        h->timer_id = 0;
    }

    if (timeout_ms >= 0) {
        /* 0 means "soon", never from inside this callback: next turn */
        h->timer_id = hr_loop_add_timer(h->loop, timeout_ms, hr_http_timeout,
                                        h);
        if (h->timer_id == -1) {
            h->timer_id = 0;
            return -1;
        }
    }

    return 0;
}


static long
hr_http_timeout(hr_loop_t *loop, long long id, void *data)
{
    hr_http_t  *h;

    h = data;

    if (h->timer_id == id) {
        h->timer_id = 0;
    }

    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &h->running);
    hr_http_check(h);

    return HR_LOOP_NOMORE;
}


static void
hr_http_event(hr_loop_t *loop, int fd, void *data, int mask)
{
    int         ev;
    hr_http_t  *h;

    h = data;
    ev = 0;

    if (mask & HR_LOOP_READABLE) {
        ev |= CURL_CSELECT_IN;
    }

    if (mask & HR_LOOP_WRITABLE) {
        ev |= CURL_CSELECT_OUT;
    }

    curl_multi_socket_action(h->multi, fd, ev, &h->running);
    hr_http_check(h);
}


static void
hr_http_check(hr_http_t *h)
{
    int         left;
    CURL       *easy;
    CURLMsg    *msg;
    CURLcode    result;
    hr_xfer_t  *x;

    while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }

        easy = msg->easy_handle;
        result = msg->data.result;      /* before remove_handle */

        x = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &x);
        curl_multi_remove_handle(h->multi, easy);

        if (x == NULL) {
            continue;
        }

        x->result = result;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &x->status);
        curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &x->version);
        x->running = 0;
        x->done = 1;

        if (x->sink_failed && x->sink_err[0]) {
            /* curl wrote "Failure writing output": say why instead */
            snprintf(x->errbuf, sizeof(x->errbuf), "%s", x->sink_err);

        } else if (result != CURLE_OK && x->errbuf[0] == '\0') {
            snprintf(x->errbuf, sizeof(x->errbuf), "%s",
                     curl_easy_strerror(result));
        }

        if (x->wake) {
            x->wake(x->wake_arg);
        }

        if (x->done_cb) {
            x->done_cb(x);
        }
    }
}


hr_xfer_t *
hr_xfer_create(hr_http_t *h, const char *url, size_t body_max)
{
    hr_xfer_t  *x;

    x = calloc(1, sizeof(hr_xfer_t));
    if (x == NULL) {
        return NULL;
    }

    x->easy = curl_easy_init();
    if (x->easy == NULL) {
        free(x);
        return NULL;
    }

    x->http = h;
    x->content_length = -1;
    hr_buf_init(&x->body, body_max);

    curl_easy_setopt(x->easy, CURLOPT_URL, url);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, hr_xfer_header_cb);
    curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, hr_xfer_write_cb);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(x->easy, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(x->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(x->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(x->easy, CURLOPT_LOW_SPEED_TIME, 120L);
    curl_easy_setopt(x->easy, CURLOPT_HTTP_VERSION,
                     (long) CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(x->easy, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(x->easy, CURLOPT_USERAGENT, "harbor-replicator/0.1");

    return x;
}


void
hr_xfer_free(hr_xfer_t *x)
{
    if (x == NULL) {
        return;
    }

    if (x->running) {
        curl_multi_remove_handle(x->http->multi, x->easy);
    }

    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    hr_buf_free(&x->body);
    free(x);
}


int
hr_xfer_add_header(hr_xfer_t *x, const char *line)
{
    struct curl_slist  *l;

    l = curl_slist_append(x->headers, line);
    if (l == NULL) {
        return -1;
    }

    x->headers = l;

    return 0;
}


void
hr_xfer_tls(hr_xfer_t *x, const char *ca_file, const char *ca_pem,
    int insecure)
{
    struct curl_blob  blob;

    if (ca_file != NULL) {
        curl_easy_setopt(x->easy, CURLOPT_CAINFO, ca_file);
    }

    if (ca_pem != NULL) {
        blob.data = (void *) ca_pem;
        blob.len = strlen(ca_pem);
        blob.flags = CURL_BLOB_COPY;
        curl_easy_setopt(x->easy, CURLOPT_CAINFO_BLOB, &blob);
    }

    if (insecure) {
        curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}


void
hr_xfer_speed(hr_xfer_t *x, long long bps)
{
    curl_easy_setopt(x->easy, CURLOPT_MAX_RECV_SPEED_LARGE,
                     (curl_off_t) (bps > 0 ? bps : 0));
}


void
hr_xfer_head(hr_xfer_t *x)
{
    curl_easy_setopt(x->easy, CURLOPT_NOBODY, 1L);
}


int
hr_xfer_start(hr_xfer_t *x, char *err, size_t errlen)
{
    CURLMcode  rc;

    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);

    x->status = 0;
    x->done = 0;
    x->received = 0;
    x->errbuf[0] = '\0';
    x->sink_err[0] = '\0';
    x->sink_failed = 0;

    rc = curl_multi_add_handle(x->http->multi, x->easy);
    if (rc != CURLM_OK) {
        snprintf(err, errlen, "curl_multi_add_handle() failed: %s",
                 curl_multi_strerror(rc));
        return -1;
    }

    x->running = 1;

    return 0;
}


void
hr_xfer_cancel(hr_xfer_t *x)
{
    if (x->running) {
        curl_multi_remove_handle(x->http->multi, x->easy);
        x->running = 0;
    }

    x->done = 1;
    x->result = CURLE_ABORTED_BY_CALLBACK;
    snprintf(x->errbuf, sizeof(x->errbuf), "stopped by a signal");
}


void
hr_http_set_wait(hr_http_t *h, hr_http_wait_pt wait, void *data)
{
    h->wait = wait;
    h->wait_data = data;
}


int
hr_xfer_wait(hr_xfer_t *x, char *err, size_t errlen)
{
    hr_http_t  *h;

    h = x->http;

    /* the engine's job waits; nothing here ever runs the loop itself */
    if (h->wait == NULL) {
        hr_xfer_cancel(x);
        snprintf(x->errbuf, sizeof(x->errbuf), "a transfer waited for "
                 "outside a job");

    } else if (h->wait(h->wait_data, x) == -1 && !x->done) {
        hr_xfer_cancel(x);
    }

    if (x->result != CURLE_OK) {
        snprintf(err, errlen, "%s", x->errbuf);
        return -1;
    }

    return 0;
}


static void
hr_xfer_copy_header(char *dst, size_t dstlen, const char *v, size_t len)
{
    while (len && (v[0] == ' ' || v[0] == '\t')) {
        v++;
        len--;
    }

    while (len && (v[len - 1] == '\r' || v[len - 1] == '\n'
                   || v[len - 1] == ' '))
    {
        len--;
    }

    if (len >= dstlen) {
        len = dstlen - 1;       /* over-long values are cut, then refused */
    }

    memcpy(dst, v, len);
    dst[len] = '\0';
}


static size_t
hr_xfer_header_cb(char *p, size_t size, size_t n, void *data)
{
    char        *colon;
    size_t       len, nl;
    hr_xfer_t   *x;

    x = data;
    len = size * n;

    if (len > 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* a new response (after a redirect or 100): forget the last one */
        x->status = 0;
        x->content_length = -1;
        x->content_type[0] = '\0';
        x->digest[0] = '\0';
        x->content_range[0] = '\0';
        x->www_auth[0] = '\0';
        x->link[0] = '\0';

        colon = memchr(p, ' ', len);
        if (colon != NULL) {
            x->status = strtol(colon + 1, NULL, 10);
        }

        return len;
    }

    colon = memchr(p, ':', len);
    if (colon == NULL) {
        return len;
    }

    nl = colon - p;
    colon++;

#define HR_HDR(name)  (nl == sizeof(name) - 1 && strncasecmp(p, name, nl) == 0)

    if (HR_HDR("content-type")) {
        hr_xfer_copy_header(x->content_type, sizeof(x->content_type), colon,
                            len - nl - 1);

    } else if (HR_HDR("docker-content-digest")) {
        hr_xfer_copy_header(x->digest, sizeof(x->digest), colon,
                            len - nl - 1);

    } else if (HR_HDR("content-range")) {
        hr_xfer_copy_header(x->content_range, sizeof(x->content_range),
                            colon, len - nl - 1);

    } else if (HR_HDR("www-authenticate")) {
        hr_xfer_copy_header(x->www_auth, sizeof(x->www_auth), colon,
                            len - nl - 1);

    } else if (HR_HDR("link")) {
        hr_xfer_copy_header(x->link, sizeof(x->link), colon, len - nl - 1);

    } else if (HR_HDR("content-length")) {
        char  v[32];

        hr_xfer_copy_header(v, sizeof(v), colon, len - nl - 1);
        x->content_length = strtoll(v, NULL, 10);
    }

#undef HR_HDR

    return len;
}


static size_t
hr_xfer_write_cb(char *p, size_t size, size_t n, void *data)
{
    size_t      len;
    hr_xfer_t  *x;

    x = data;
    len = size * n;

    if (x->status >= 200 && x->status < 300) {
        x->received += len;

        if (x->sink != NULL) {
            if (x->sink(x, p, len) != 0) {
                x->sink_failed = 1;
                return 0;
            }

            return len;
        }
    }

    if (hr_buf_append(&x->body, p, len) != 0) {
        snprintf(x->sink_err, sizeof(x->sink_err),
                 "response body larger than %zu bytes", x->body.max);
        x->sink_failed = 1;
        return 0;
    }

    return len;
}
