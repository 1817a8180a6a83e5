
/*
 * Harbor Edge: validation of Harbor webhook payloads, without nginx.
 *
 * Harbor posts artifact events in one of two formats, as its webhook
 * policy chooses: "Default" ({type, occur_at, operator, event_data}) and
 * structured CloudEvents ({specversion, type, time, data}, where data is
 * the Default event_data).  This parser checks the whole body is strict
 * JSON, finds the few fields the edge needs and checks the repository
 * name, digests and tags against the OCI grammars (he_oci_grammar.c, which
 * the replicator shares), so that the event put in the queue never
 * carries anything a path could be built from unchecked.
 *
 * It is plain C (no nginx types, no allocation: everything lands in fixed
 * buffers of the caller's event struct) so that a libFuzzer target can
 * run it with the JSON scanner alone.
 */


#ifndef _NGX_HTTP_HARBOR_WEBHOOK_PARSE_H_INCLUDED_
#define _NGX_HTTP_HARBOR_WEBHOOK_PARSE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "he_oci_grammar.h"


#define NGX_HTTP_HARBOR_WEBHOOK_NAME_MAX       HE_OCI_NAME_MAX
#define NGX_HTTP_HARBOR_WEBHOOK_TAG_MAX        HE_OCI_TAG_MAX
/* the longest digest the edge accepts */
#define NGX_HTTP_HARBOR_WEBHOOK_DIGEST_MAX     HE_OCI_SHA512_LEN
#define NGX_HTTP_HARBOR_WEBHOOK_RESOURCES_MAX  16
#define NGX_HTTP_HARBOR_WEBHOOK_ERR_LEN        128

/* the event kinds; anything else Harbor sends is acknowledged and ignored */
#define NGX_HTTP_HARBOR_WEBHOOK_IGNORED        0
#define NGX_HTTP_HARBOR_WEBHOOK_PUSH           1
#define NGX_HTTP_HARBOR_WEBHOOK_DELETE         2
/* a preheat (Harbor's "Kraken" provider API): a pinned copy, no policy */
#define NGX_HTTP_HARBOR_WEBHOOK_PREHEAT        3


typedef struct {
    size_t     digest_len;
    size_t     tag_len;        /* 0: no tag (untagged or pushed by digest) */
    char       digest[NGX_HTTP_HARBOR_WEBHOOK_DIGEST_MAX + 1];
    char       tag[NGX_HTTP_HARBOR_WEBHOOK_TAG_MAX + 1];
} ngx_http_harbor_webhook_resource_t;


/* one string field as found; len > cap means "too long", data truncated */
typedef struct {
    size_t     len;
    int        present;
    char       data[NGX_HTTP_HARBOR_WEBHOOK_NAME_MAX + 1];
} ngx_http_harbor_webhook_field_t;


/* event_data (Default) or data (CloudEvents), before it is checked */
typedef struct {
    int                                  present;
    const char                          *err;   /* first shape error */
    ngx_http_harbor_webhook_field_t      name;
    ngx_http_harbor_webhook_field_t      namespace_;
    ngx_http_harbor_webhook_field_t      full_name;
    int                                  has_repository;
    int                                  has_resources;
    size_t                               nresources;
    ngx_http_harbor_webhook_resource_t   resources[
                                        NGX_HTTP_HARBOR_WEBHOOK_RESOURCES_MAX];
} ngx_http_harbor_webhook_data_t;


typedef struct {
    int                                  kind;
    int                                  cloudevents;
    int64_t                              occurred_at;  /* -1: not given */
    size_t                               repository_len;
    char                                 repository[
                                        NGX_HTTP_HARBOR_WEBHOOK_NAME_MAX + 1];
    size_t                               nresources;
    ngx_http_harbor_webhook_resource_t  *resources;    /* into a data below */
    char                                 err[NGX_HTTP_HARBOR_WEBHOOK_ERR_LEN];

    /* parser scratch: filled while the body is read, checked at the end */
    ngx_http_harbor_webhook_field_t      type;
    ngx_http_harbor_webhook_field_t      specversion;
    ngx_http_harbor_webhook_field_t      time;
    ngx_http_harbor_webhook_data_t       event_data;   /* Default */
    ngx_http_harbor_webhook_data_t       data;         /* CloudEvents */
} ngx_http_harbor_webhook_event_t;


/*
 * Parses and checks one webhook body.  cloudevents: the request said
 * Content-Type: application/cloudevents+json.  Returns 0 and fills ev
 * (kind IGNORED for events the edge does not use), or -1 with a short
 * reason in ev->err (ASCII, no quotes: it goes into a JSON answer as is).
 */
int ngx_http_harbor_webhook_parse(const unsigned char *body, size_t len,
    int cloudevents, ngx_http_harbor_webhook_event_t *ev);


/*
 * Parses and checks one preheat notification, as Harbor's Kraken driver
 * posts it to <endpoint>/registry/notifications:
 *
 *   {"Events":[{"Id":..,"TimeStamp":RFC3339,"Action":"push",
 *               "Target":{"MediaType":..,"Digest":D,"Repository":R,
 *                         "Url":..,"Tag":T},"Request":..,"Actor":..}]}
 *
 * Go's default field names.  Every event must be a push of one and the
 * same repository (Harbor sends one event per call), with the checks of
 * a webhook on names, digests and tags; kind is PREHEAT, never IGNORED.
 * Returns 0, or -1 with ev->err.
 */
int ngx_http_harbor_preheat_parse(const unsigned char *body, size_t len,
    ngx_http_harbor_webhook_event_t *ev);


#endif /* _NGX_HTTP_HARBOR_WEBHOOK_PARSE_H_INCLUDED_ */
