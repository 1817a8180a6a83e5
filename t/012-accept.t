# Accept: every Accept line counts, lists are split on ',', parameters are
# dropped; no Accept at all serves as stored; an OCI manifest or index is
# not served to a client that cannot take it (distribution's 404).
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;

our $S = HarborStore::build();

repeat_each(2);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: two Accept lines, the OCI type on the second
--- request
GET /v2/library/alpine/manifests/latest
--- more_headers
Accept: application/vnd.docker.distribution.manifest.v2+json
Accept: application/vnd.oci.image.manifest.v1+json
--- response_headers eval
"Content-Type: application/vnd.oci.image.manifest.v1+json
Docker-Content-Digest: $::S->{m}{amd64}{digest}"
--- response_body eval: $::S->{m}{amd64}{body}
--- no_error_log
[error]



=== TEST 2: containerd's comma-joined Accept
--- request
GET /v2/library/alpine/manifests/multi
--- more_headers
Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, */*
--- response_headers
Content-Type: application/vnd.oci.image.index.v1+json
--- response_body eval: $::S->{m}{index}{body}
--- no_error_log
[error]



=== TEST 3: no Accept at all: served as stored
--- request
GET /v2/library/alpine/manifests/latest
--- response_headers
Content-Type: application/vnd.oci.image.manifest.v1+json
--- response_body eval: $::S->{m}{amd64}{body}
--- no_error_log
[error]



=== TEST 4: Docker-only Accept, OCI manifest stored: 404
--- request
GET /v2/library/alpine/manifests/latest
--- more_headers
Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json
--- error_code: 404
--- response_body_like eval: HarborTest::err('MANIFEST_UNKNOWN')
--- no_error_log
[error]



=== TEST 5: Docker-only Accept, OCI index stored: 404
--- request
GET /v2/library/alpine/manifests/multi
--- more_headers
Accept: application/vnd.docker.distribution.manifest.list.v2+json
--- error_code: 404
--- response_body_like eval: HarborTest::err('MANIFEST_UNKNOWN')
--- no_error_log
[error]



=== TEST 6: HEAD with a Docker-only Accept on an OCI manifest: 404, no body
--- request
HEAD /v2/library/alpine/manifests/latest
--- more_headers
Accept: application/vnd.docker.distribution.manifest.v2+json
--- error_code: 404
--- response_body:
--- no_error_log
[error]



=== TEST 7: parameters and blanks are stripped
--- request
GET /v2/library/alpine/manifests/latest
--- more_headers
Accept: text/plain;q=0.1,   application/vnd.oci.image.manifest.v1+json ; q=0.5
--- response_body eval: $::S->{m}{amd64}{body}
--- no_error_log
[error]



=== TEST 8: application/* accepts OCI
--- request
GET /v2/library/alpine/manifests/latest
--- more_headers
Accept: application/*
--- response_body eval: $::S->{m}{amd64}{body}
--- no_error_log
[error]



=== TEST 9: */* accepts OCI
--- request
GET /v2/library/alpine/manifests/multi
--- more_headers
Accept: */*
--- response_body eval: $::S->{m}{index}{body}
--- no_error_log
[error]



=== TEST 10: OCI manifest type only does not accept an OCI index
--- request
GET /v2/library/alpine/manifests/multi
--- more_headers
Accept: application/vnd.oci.image.manifest.v1+json
--- error_code: 404
--- response_body_like eval: HarborTest::err('MANIFEST_UNKNOWN')
--- no_error_log
[error]



=== TEST 11: OCI index type only does not accept an OCI manifest
--- request
GET /v2/library/alpine/manifests/latest
--- more_headers
Accept: application/vnd.oci.image.index.v1+json
--- error_code: 404
--- response_body_like eval: HarborTest::err('MANIFEST_UNKNOWN')
--- no_error_log
[error]



=== TEST 12: Docker types are served as stored whatever the Accept
--- request eval
["GET /v2/a/b/c/manifests/v1", "GET /v2/a/b/c/manifests/list"]
--- more_headers
Accept: application/vnd.oci.image.manifest.v1+json
--- error_code eval
[200, 200]
--- response_body eval
[$::S->{m}{docker}{body}, $::S->{m}{docker_list}{body}]
--- no_error_log
[error]



=== TEST 13: a Helm client (OCI manifest Accept) gets the chart manifest
--- request
GET /v2/charts/mychart/manifests/0.1.0
--- more_headers
Accept: application/vnd.oci.image.manifest.v1+json
--- response_body eval: $::S->{m}{helm}{body}
--- no_error_log
[error]
