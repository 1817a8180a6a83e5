/*
 * http.h: HTTP transfers over one libcurl multi handle driven by loop.c
 * (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION, as curl's
 * ephiperfifo.c), so every transfer shares the connection cache, HTTP/2
 * multiplexing when the server offers it, and one thread.
 *
 * A transfer (hr_xfer_t) is the per-request state hung on the easy handle
 * with CURLOPT_PRIVATE.  Its 2xx body goes to a sink callback when one is
 * set (blobs stream to disk), else into a capped buffer (manifests, JSON);
 * a non-2xx body always goes to the buffer, for the error message.
 */

#ifndef HR_HTTP_H
#define HR_HTTP_H

#include <curl/curl.h>

#include "buf.h"
#include "loop.h"

typedef struct hr_http_s  hr_http_t;
typedef struct hr_xfer_s  hr_xfer_t;

/* Returns 0, or -1 to abort the transfer (err in x->errbuf). */
typedef int (*hr_xfer_sink_pt)(hr_xfer_t *x, const char *p, size_t n);
/* Called once when the transfer ends; it may free x. */
typedef void (*hr_xfer_done_pt)(hr_xfer_t *x);

struct hr_xfer_s {
    CURL                *easy;
    hr_http_t           *http;
    struct curl_slist   *headers;
    hr_buf_t             body;
    hr_xfer_sink_pt      sink;
    hr_xfer_done_pt      done_cb;
    void                *data;
    void               (*wake)(void *arg);  /* hr_xfer_wait()'s waiter */
    void                *wake_arg;
    long                 status;
    long                 version;           /* CURL_HTTP_VERSION_* used */
    CURLcode             result;
    long long            content_length;    /* header value, -1: none */
    long long            received;          /* 2xx body bytes */
    unsigned             running:1;
    unsigned             done:1;
    unsigned             sink_failed:1;
    char                 content_type[256];
    char                 digest[96];        /* Docker-Content-Digest */
    char                 content_range[128];
    char                 www_auth[2048];
    char                 link[2048];
    char                 errbuf[CURL_ERROR_SIZE + 256];
    char                 sink_err[256];     /* why a sink aborted */
};

hr_http_t *hr_http_create(hr_loop_t *loop, int maxconn, char *err,
    size_t errlen);
void hr_http_free(hr_http_t *h);

/* body_max caps the buffered body. */
hr_xfer_t *hr_xfer_create(hr_http_t *h, const char *url, size_t body_max);
void hr_xfer_free(hr_xfer_t *x);
int hr_xfer_add_header(hr_xfer_t *x, const char *line);
/* ca_pem: PEM text (a Harbor registry's ca_certificate), or NULL. */
void hr_xfer_tls(hr_xfer_t *x, const char *ca_file, const char *ca_pem,
    int insecure);
/* Bytes per second, 0: unlimited. */
void hr_xfer_speed(hr_xfer_t *x, long long bps);
void hr_xfer_head(hr_xfer_t *x);
int hr_xfer_start(hr_xfer_t *x, char *err, size_t errlen);
/* Stops a running transfer; done_cb is not called. */
void hr_xfer_cancel(hr_xfer_t *x);

/*
 * Waits until x is done: the waiter (engine.c) suspends the running job
 * and resumes it then, or at a stop (x is cancelled).  Returns 0 when x
 * completed at the HTTP level (look at status), -1 with err filled for a
 * transport error, a stop, or a call outside a job.
 */
int hr_xfer_wait(hr_xfer_t *x, char *err, size_t errlen);

/* Blocks the caller until x->done; -1 at a stop or outside a job. */
typedef int (*hr_http_wait_pt)(void *data, hr_xfer_t *x);
void hr_http_set_wait(hr_http_t *h, hr_http_wait_pt wait, void *data);

/* Transfers currently running. */
int hr_http_running(hr_http_t *h);
hr_loop_t *hr_http_loop(hr_http_t *h);

#endif /* HR_HTTP_H */
