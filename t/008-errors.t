# Errors: every OCI error code the read path produces, with its status, the
# JSON body and headers; the edge is read-only (405 for writes); HEAD gets
# the status and headers without a body.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;

our $S = HarborStore::build();

repeat_each(2);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: PUT a manifest: 405 UNSUPPORTED, Allow: GET, HEAD
--- request
PUT /v2/library/alpine/manifests/latest
{"schemaVersion":2}
--- more_headers
Content-Type: application/vnd.oci.image.manifest.v1+json
--- error_code: 405
--- response_headers
Allow: GET, HEAD
Content-Type: application/json; charset=utf-8
Docker-Distribution-API-Version: registry/2.0
--- response_body_like eval: HarborTest::err('UNSUPPORTED')
--- no_error_log
[error]



=== TEST 2: POST a blob upload: 405
--- request
POST /v2/library/alpine/blobs/uploads/
--- error_code: 405
--- response_headers
Allow: GET, HEAD
--- response_body_like eval: HarborTest::err('UNSUPPORTED')
--- no_error_log
[error]



=== TEST 3: PATCH: 405
--- request
PATCH /v2/library/alpine/blobs/uploads/1234
data
--- error_code: 405
--- response_headers
Allow: GET, HEAD
--- response_body_like eval: HarborTest::err('UNSUPPORTED')
--- no_error_log
[error]



=== TEST 4: DELETE a manifest: 405
--- request eval
"DELETE /v2/library/alpine/manifests/" . ::D('amd64')
--- error_code: 405
--- response_headers
Allow: GET, HEAD
--- response_body_like eval: HarborTest::err('UNSUPPORTED')
--- no_error_log
[error]



=== TEST 5: DELETE a blob: 405, the blob is still there afterwards
--- request eval
["DELETE /v2/library/alpine/blobs/" . ::D('small'),
 "GET /v2/library/alpine/blobs/" . ::D('small')]
--- error_code eval
[405, 200]
--- response_body_like eval
[HarborTest::err('UNSUPPORTED'), qr/\A\Q$::S->{b}{small}{body}\E\z/]
--- no_error_log
[error]



=== TEST 6: OPTIONS /v2/: 405
--- request
OPTIONS /v2/
--- error_code: 405
--- response_headers
Allow: GET, HEAD
--- response_body_like eval: HarborTest::err('UNSUPPORTED')
--- no_error_log
[error]



=== TEST 7: unknown endpoint: 404 UNSUPPORTED "unsupported endpoint"
--- request
GET /v2/library/alpine/foo/bar
--- error_code: 404
--- response_headers
Content-Type: application/json; charset=utf-8
Docker-Distribution-API-Version: registry/2.0
--- response_body_like: ^\{"errors":\[\{"code":"UNSUPPORTED","message":"unsupported endpoint"(,"detail":\{\})?\}\]\}\n?$
--- no_error_log
[error]



=== TEST 8: blob upload endpoint is not served: 404 or 405, never 200
--- request
GET /v2/library/alpine/blobs/uploads/
--- error_code_like: ^(400|404|405)$
--- response_body_like: ^\{"errors":\[
--- no_error_log
[error]



=== TEST 9: MANIFEST_UNKNOWN: 404
--- request
GET /v2/library/alpine/manifests/nope
--- error_code: 404
--- response_body_like eval: HarborTest::err('MANIFEST_UNKNOWN')
--- no_error_log
[error]



=== TEST 10: BLOB_UNKNOWN: 404
--- request
GET /v2/library/alpine/blobs/sha256:1111111111111111111111111111111111111111111111111111111111111111
--- error_code: 404
--- response_body_like eval: HarborTest::err('BLOB_UNKNOWN')
--- no_error_log
[error]



=== TEST 11: NAME_UNKNOWN: 404
--- request
GET /v2/nothing/here/tags/list
--- error_code: 404
--- response_body_like eval: HarborTest::err('NAME_UNKNOWN')
--- no_error_log
[error]



=== TEST 12: NAME_INVALID: 400
--- request
GET /v2/Library/alpine/manifests/latest
--- error_code: 400
--- response_body_like eval: HarborTest::err('NAME_INVALID')
--- no_error_log
[error]



=== TEST 13: a malformed tag names no manifest: 404 MANIFEST_UNKNOWN, not 400 TAG_INVALID (OCI spec, distribution, Harbor)
--- request
GET /v2/library/alpine/manifests/-latest
--- error_code: 404
--- response_headers
Content-Type: application/json; charset=utf-8
Docker-Distribution-API-Version: registry/2.0
--- response_body_like eval: HarborTest::err('MANIFEST_UNKNOWN')
--- error_log
invalid tag
--- no_error_log
[error]



=== TEST 14: DIGEST_INVALID: 400
--- request
GET /v2/library/alpine/blobs/sha256:xyz
--- error_code: 400
--- response_body_like eval: HarborTest::err('DIGEST_INVALID')
--- no_error_log
[error]



=== TEST 15: DIGEST_INVALID for an unsupported algorithm says so
--- request
GET /v2/library/alpine/blobs/md5:d41d8cd98f00b204e9800998ecf8427e
--- error_code: 400
--- response_body_like: ^\{"errors":\[\{"code":"DIGEST_INVALID","message":"[^"]*unsupported digest algorithm
--- no_error_log
[error]



=== TEST 16: PAGINATION_NUMBER_INVALID: 400
--- request
GET /v2/_catalog?n=x
--- error_code: 400
--- response_body_like eval: HarborTest::err('PAGINATION_NUMBER_INVALID')
--- no_error_log
[error]



=== TEST 17: HEAD of an unknown manifest: 404, JSON headers, no body
--- request
HEAD /v2/library/alpine/manifests/nope
--- error_code: 404
--- response_headers
Content-Type: application/json; charset=utf-8
Docker-Distribution-API-Version: registry/2.0
--- response_body:
--- no_error_log
[error]



=== TEST 18: HEAD with a malformed digest: 400, no body
--- request
HEAD /v2/library/alpine/blobs/sha256:xyz
--- error_code: 400
--- response_body:
--- no_error_log
[error]



=== TEST 19: Content-Length of an error body is exact (keep-alive, two requests)
--- pipelined_requests eval
["GET /v2/library/alpine/manifests/nope", "GET /v2/"]
--- error_code eval
[404, 200]
--- response_body_like eval
[HarborTest::err('MANIFEST_UNKNOWN'), HarborTest::jbody('{}')]
--- no_error_log
[error]



=== TEST 20: HEAD of a malformed tag (the conformance suite's): 404, no body; a malformed digest stays 400 DIGEST_INVALID
--- request eval
["HEAD /v2/library/alpine/manifests/.INVALID_MANIFEST_NAME",
 "GET /v2/library/alpine/manifests/.INVALID_MANIFEST_NAME",
 "GET /v2/library/alpine/manifests/sha256:xyz"]
--- error_code eval
[404, 404, 400]
--- response_body_like eval
[qr/\A\z/, HarborTest::err('MANIFEST_UNKNOWN'),
 HarborTest::err('DIGEST_INVALID')]
--- no_error_log
[error]
