# Conditional requests: If-None-Match with the digest answers 304 for
# manifests (the module) and blobs (nginx's not_modified filter).
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;

our $S = HarborStore::build();

repeat_each(2);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: manifest, If-None-Match "digest": 304 with the digest headers
--- request
GET /v2/library/alpine/manifests/latest
--- more_headers eval
"Accept: application/vnd.oci.image.manifest.v1+json
If-None-Match: \"" . ::D('amd64') . "\""
--- error_code: 304
--- response_headers eval
"Docker-Content-Digest: $::S->{m}{amd64}{digest}
ETag: \"$::S->{m}{amd64}{digest}\"
Docker-Distribution-API-Version: registry/2.0"
--- response_body:
--- no_error_log
[error]



=== TEST 2: manifest, If-None-Match with the bare digest
--- request
GET /v2/library/alpine/manifests/latest
--- more_headers eval
"Accept: application/vnd.oci.image.manifest.v1+json
If-None-Match: " . ::D('amd64')
--- error_code: 304
--- response_body:
--- no_error_log
[error]



=== TEST 3: manifest, If-None-Match: *
--- request
GET /v2/a/b/c/manifests/v1
--- more_headers
If-None-Match: *
--- error_code: 304
--- response_headers eval
"Docker-Content-Digest: $::S->{m}{docker}{digest}"
--- no_error_log
[error]



=== TEST 4: manifest, If-None-Match with another digest: 200
--- request
GET /v2/library/alpine/manifests/latest
--- more_headers
Accept: application/vnd.oci.image.manifest.v1+json
If-None-Match: "sha256:0000000000000000000000000000000000000000000000000000000000000000"
--- error_code: 200
--- response_body eval: $::S->{m}{amd64}{body}
--- no_error_log
[error]



=== TEST 5: HEAD manifest with a matching If-None-Match: 304
--- request
HEAD /v2/library/alpine/manifests/multi
--- more_headers eval
"Accept: application/vnd.oci.image.index.v1+json
If-None-Match: \"" . ::D('index') . "\""
--- error_code: 304
--- response_body:
--- no_error_log
[error]



=== TEST 6: blob, If-None-Match "digest": 304
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('small')
--- more_headers eval
"If-None-Match: \"" . ::D('small') . "\""
--- error_code: 304
--- response_headers eval
"ETag: \"$::S->{b}{small}{digest}\""
--- response_body:
--- no_error_log
[error]



=== TEST 7: blob, If-None-Match with another digest: 200
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('small')
--- more_headers
If-None-Match: "sha256:0000000000000000000000000000000000000000000000000000000000000000"
--- error_code: 200
--- response_body eval: $::S->{b}{small}{body}
--- no_error_log
[error]



=== TEST 8: a 304 is not given for a blob the repository does not link
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('secret')
--- more_headers eval
"If-None-Match: \"" . ::D('secret') . "\""
--- error_code: 404
--- response_body_like eval: HarborTest::err('BLOB_UNKNOWN')
--- no_error_log
[error]
