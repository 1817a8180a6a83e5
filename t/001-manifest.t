# Manifests: by tag and by digest, every media type the store holds, the
# headers, the repository link check, and broken link files.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;

our $S = HarborStore::build();

repeat_each(2);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: OCI manifest by tag
--- request
GET /v2/library/alpine/manifests/latest
--- more_headers
Accept: application/vnd.oci.image.manifest.v1+json
--- response_headers eval
"Content-Type: application/vnd.oci.image.manifest.v1+json
Content-Length: $::S->{m}{amd64}{size}
Docker-Content-Digest: $::S->{m}{amd64}{digest}
ETag: \"$::S->{m}{amd64}{digest}\"
Docker-Distribution-API-Version: registry/2.0"
--- response_body eval: $::S->{m}{amd64}{body}
--- no_error_log
[error]



=== TEST 2: OCI manifest by digest
--- request eval
"GET /v2/library/alpine/manifests/" . ::D('amd64')
--- more_headers
Accept: application/vnd.oci.image.manifest.v1+json
--- response_headers eval
"Content-Type: application/vnd.oci.image.manifest.v1+json
Docker-Content-Digest: $::S->{m}{amd64}{digest}"
--- response_body eval: $::S->{m}{amd64}{body}
--- no_error_log
[error]



=== TEST 3: HEAD by tag: headers, no body
--- request
HEAD /v2/library/alpine/manifests/3.19
--- more_headers
Accept: application/vnd.oci.image.manifest.v1+json
--- response_headers eval
"Content-Type: application/vnd.oci.image.manifest.v1+json
Content-Length: $::S->{m}{amd64}{size}
Docker-Content-Digest: $::S->{m}{amd64}{digest}"
--- response_body:
--- no_error_log
[error]



=== TEST 4: OCI index
--- request
GET /v2/library/alpine/manifests/multi
--- more_headers
Accept: application/vnd.oci.image.index.v1+json
--- response_headers eval
"Content-Type: application/vnd.oci.image.index.v1+json
Docker-Content-Digest: $::S->{m}{index}{digest}"
--- response_body eval: $::S->{m}{index}{body}
--- no_error_log
[error]



=== TEST 5: index child by digest
--- request eval
"GET /v2/library/alpine/manifests/" . ::D('arm64')
--- more_headers
Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json
--- response_headers eval
"Docker-Content-Digest: $::S->{m}{arm64}{digest}"
--- response_body eval: $::S->{m}{arm64}{body}
--- no_error_log
[error]



=== TEST 6: Docker v2 manifest, served as stored (no conversion)
--- request
GET /v2/a/b/c/manifests/v1
--- response_headers eval
"Content-Type: application/vnd.docker.distribution.manifest.v2+json
Docker-Content-Digest: $::S->{m}{docker}{digest}"
--- response_body eval: $::S->{m}{docker}{body}
--- no_error_log
[error]



=== TEST 7: Docker manifest list
--- request
GET /v2/a/b/c/manifests/list
--- more_headers
Accept: application/vnd.docker.distribution.manifest.list.v2+json
--- response_headers eval
"Content-Type: application/vnd.docker.distribution.manifest.list.v2+json
Docker-Content-Digest: $::S->{m}{docker_list}{digest}"
--- response_body eval: $::S->{m}{docker_list}{body}
--- no_error_log
[error]



=== TEST 8: schema 1 with signatures is prettyjws
--- request
GET /v2/a/b/c/manifests/v1-signed
--- response_headers
Content-Type: application/vnd.docker.distribution.manifest.v1+prettyjws
--- response_body eval: $::S->{m}{schema1}{body}
--- no_error_log
[error]



=== TEST 9: no mediaType field, no "manifests": OCI manifest
--- request
GET /v2/library/alpine/manifests/nomt
--- more_headers
Accept: application/vnd.oci.image.manifest.v1+json
--- response_headers
Content-Type: application/vnd.oci.image.manifest.v1+json
--- response_body eval: $::S->{m}{nomt}{body}
--- no_error_log
[error]



=== TEST 10: no mediaType field, "manifests" present: OCI index
--- request
GET /v2/library/alpine/manifests/nomt-index
--- more_headers
Accept: */*
--- response_headers
Content-Type: application/vnd.oci.image.index.v1+json
--- response_body eval: $::S->{m}{nomt_index}{body}
--- no_error_log
[error]



=== TEST 11: a Helm chart is an OCI manifest with a Helm config
--- request
GET /v2/charts/mychart/manifests/0.1.0
--- more_headers
Accept: application/vnd.oci.image.manifest.v1+json
--- response_headers eval
"Content-Type: application/vnd.oci.image.manifest.v1+json
Docker-Content-Digest: $::S->{m}{helm}{digest}"
--- response_body eval: $::S->{m}{helm}{body}
--- no_error_log
[error]



=== TEST 12: a manifest linked only under _layers (legacy quirk)
--- request
GET /v2/library/alpine/manifests/legacy
--- more_headers
Accept: application/vnd.oci.image.manifest.v1+json
--- response_headers eval
"Docker-Content-Digest: $::S->{m}{legacy}{digest}"
--- response_body eval: $::S->{m}{legacy}{body}
--- no_error_log
[error]



=== TEST 13: a digest the repository does not link is unknown
--- request eval
"GET /v2/a/b/c/manifests/" . ::D('arm64')
--- error_code: 404
--- response_headers
Content-Type: application/json; charset=utf-8
Docker-Distribution-API-Version: registry/2.0
--- response_body_like eval: HarborTest::err('MANIFEST_UNKNOWN')
--- no_error_log
[error]



=== TEST 14: unknown tag
--- request
GET /v2/library/alpine/manifests/nope
--- error_code: 404
--- response_body_like eval: HarborTest::err('MANIFEST_UNKNOWN')
--- no_error_log
[error]



=== TEST 15: unknown repository
--- request
GET /v2/no/such/repo/manifests/latest
--- error_code: 404
--- response_body_like eval: HarborTest::err('MANIFEST_UNKNOWN')
--- no_error_log
[error]



=== TEST 16: a tag pointing at a manifest not linked in the repository
--- request
GET /v2/broken/repo/manifests/dangling
--- error_code: 404
--- response_body_like eval: HarborTest::err('MANIFEST_UNKNOWN')
--- no_error_log
[error]



=== TEST 17: link file with garbage is treated as absent, and logged
--- request
GET /v2/broken/repo/manifests/garbage
--- error_code: 404
--- response_body_like eval: HarborTest::err('MANIFEST_UNKNOWN')
--- error_log
tags/garbage/current/link



=== TEST 18: link file with a trailing newline (72 bytes) is refused
--- request
GET /v2/broken/repo/manifests/newline
--- error_code: 404
--- response_body_like eval: HarborTest::err('MANIFEST_UNKNOWN')
--- error_log
tags/newline/current/link



=== TEST 19: link file with uppercase hex is refused
--- request
GET /v2/broken/repo/manifests/upper
--- error_code: 404
--- response_body_like eval: HarborTest::err('MANIFEST_UNKNOWN')
--- error_log
tags/upper/current/link



=== TEST 20: the good tag of the same repository is served
--- request
GET /v2/broken/repo/manifests/good
--- more_headers
Accept: application/vnd.oci.image.manifest.v1+json
--- response_body eval: $::S->{m}{amd64}{body}
--- no_error_log
[error]



=== TEST 21: manifest bytes that do not match the digest: 404, logged
--- request
GET /v2/broken/repo/manifests/corrupt
--- more_headers
Accept: application/vnd.oci.image.manifest.v1+json
--- error_code: 404
--- response_body_like eval: HarborTest::err('MANIFEST_UNKNOWN')
--- error_log eval
qr/harbor: digest mismatch in "[^"]*\Q$::S->{m}{bad_manifest}{hex}\E\/data"/



=== TEST 22: revision linked but data file missing
--- request
GET /v2/broken/repo/manifests/nodata
--- error_code: 404
--- response_body_like eval: HarborTest::err('MANIFEST_UNKNOWN')
--- no_error_log
[crit]
[alert]




=== TEST 23: a manifest can be fetched through /blobs/ too
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('amd64')
--- response_headers eval
"Content-Type: application/octet-stream
Docker-Content-Digest: $::S->{m}{amd64}{digest}"
--- response_body eval: $::S->{m}{amd64}{body}
--- no_error_log
[error]



=== TEST 24: harbor_manifest_max_size: a larger manifest is a miss, logged
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_manifest_max_size 100;
--- request
GET /v2/library/alpine/manifests/latest
--- more_headers
Accept: application/vnd.oci.image.manifest.v1+json
--- error_code: 404
--- response_body_like eval: HarborTest::err('MANIFEST_UNKNOWN')
--- error_log eval
qr/\Q$::S->{m}{amd64}{hex}\E/



=== TEST 25: a tag whose current/link exists only as a temporary is not there yet
--- request
GET /v2/many/tags/manifests/pending
--- error_code: 404
--- response_body_like eval: HarborTest::err('MANIFEST_UNKNOWN')
--- no_error_log
[error]
