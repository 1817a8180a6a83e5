# Blobs: headers, bodies (small and > 1 MiB), the per-repository link check
# (a blob linked only in another repository never leaks), bad links.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;
use Digest::SHA ();

our $S = HarborStore::build();

repeat_each(2);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: small blob, every header
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('small')
--- response_headers eval
"Content-Type: application/octet-stream
Content-Length: $::S->{b}{small}{size}
Docker-Content-Digest: $::S->{b}{small}{digest}
ETag: \"$::S->{b}{small}{digest}\"
Cache-Control: max-age=31536000, immutable
Accept-Ranges: bytes
Docker-Distribution-API-Version: registry/2.0"
--- response_body eval: $::S->{b}{small}{body}
--- no_error_log
[error]



=== TEST 2: HEAD of a blob: headers, no body
--- request eval
"HEAD /v2/library/alpine/blobs/" . ::D('small')
--- response_headers eval
"Content-Type: application/octet-stream
Content-Length: $::S->{b}{small}{size}
Docker-Content-Digest: $::S->{b}{small}{digest}"
--- response_body:
--- no_error_log
[error]



=== TEST 3: a blob over 1 MiB arrives whole (sha256 of the body)
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('big')
--- response_headers eval
"Content-Length: $::S->{b}{big}{size}"
--- response_body_filters eval
\&Digest::SHA::sha256_hex
--- response_body eval: $::S->{b}{big}{hex}
--- no_error_log
[error]



=== TEST 4: config blob
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('cfg_amd64')
--- response_body eval: $::S->{b}{cfg_amd64}{body}
--- no_error_log
[error]



=== TEST 5: blob of a nested repository a/b/c
--- request eval
"GET /v2/a/b/c/blobs/" . ::D('dlayer')
--- response_headers eval
"Docker-Content-Digest: $::S->{b}{dlayer}{digest}"
--- response_body eval: $::S->{b}{dlayer}{body}
--- no_error_log
[error]



=== TEST 6: the same blob through the parent repository a/b is not linked there
--- request eval
"GET /v2/a/b/blobs/" . ::D('dlayer')
--- error_code: 404
--- response_body_like eval: HarborTest::err('BLOB_UNKNOWN')
--- no_error_log
[error]



=== TEST 7: a blob linked only in private/secret does not leak through library/alpine
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('secret')
--- error_code: 404
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body_like eval: HarborTest::err('BLOB_UNKNOWN')
--- no_error_log
[error]



=== TEST 8: ... and HEAD does not leak it either
--- request eval
"HEAD /v2/library/alpine/blobs/" . ::D('secret')
--- error_code: 404
--- response_body:
--- no_error_log
[error]



=== TEST 9: the secret blob is served from its own repository
--- request eval
"GET /v2/private/secret/blobs/" . ::D('secret')
--- response_body eval: $::S->{b}{secret}{body}
--- no_error_log
[error]



=== TEST 10: unknown blob
--- request
GET /v2/library/alpine/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000
--- error_code: 404
--- response_body_like eval: HarborTest::err('BLOB_UNKNOWN')
--- no_error_log
[error]



=== TEST 11: linked blob without a data file
--- request eval
"GET /v2/broken/repo/blobs/" . ::D('missing')
--- error_code: 404
--- response_body_like eval: HarborTest::err('BLOB_UNKNOWN')
--- no_error_log
[crit]
[alert]




=== TEST 12: a layer link holding another digest is not a link
--- request eval
"GET /v2/broken/repo/blobs/" . ::D('mislinked')
--- error_code: 404
--- response_body_like eval: HarborTest::err('BLOB_UNKNOWN')
--- error_log eval
qr/\Q$::S->{b}{mislinked}{hex}\E\/link/




=== TEST 13: a layer link with a trailing newline is not a link
--- request eval
"GET /v2/broken/repo/blobs/" . ::D('nl_linked')
--- error_code: 404
--- response_body_like eval: HarborTest::err('BLOB_UNKNOWN')
--- error_log eval
qr/\Q$::S->{b}{nl_linked}{hex}\E\/link/




=== TEST 14: unknown repository
--- request eval
"GET /v2/no/such/blobs/" . ::D('small')
--- error_code: 404
--- response_body_like eval: HarborTest::err('BLOB_UNKNOWN')
--- no_error_log
[error]



=== TEST 15: sha512 digest, well formed, not in the store
--- request eval
"GET /v2/library/alpine/blobs/sha512:" . ("ab" x 64)
--- error_code: 404
--- response_body_like eval: HarborTest::err('BLOB_UNKNOWN')
--- no_error_log
[error]
