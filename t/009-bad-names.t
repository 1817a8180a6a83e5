# The attacker's list: names, tags, digests and query arguments that must be
# refused by the grammar before any path is built (400; a malformed tag names
# no manifest: 404 MANIFEST_UNKNOWN, as the OCI spec asks), or that nginx's
# URI normalisation turns into something harmless.  Nothing here may reach
# a file outside the repository asked for.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;

our $S = HarborStore::build();

our $N255 = join('/', ('a' x 63) x 4);            # 255 bytes
our $N256 = $N255 . 'b';                           # 256 bytes
our $T128 = 'x' x 128;
our $T129 = 'x' x 129;
our $H64 = 'a' x 64;

repeat_each(2);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: ".." as a tag: nginx folds it away, nothing is served
--- request
GET /v2/library/alpine/manifests/..
--- error_code: 404
--- response_body_like eval: HarborTest::err('UNSUPPORTED')
--- no_error_log
[error]



=== TEST 2: "%2e%2e" inside the name: folded by nginx, the name is then empty
--- request
GET /v2/library/alpine/%2e%2e/%2e%2e/manifests/latest
--- error_code_like: ^(400|404)$
--- response_body_like: ^\{"errors":\[\{"code":"(NAME_INVALID|UNSUPPORTED)"
--- no_error_log
[error]



=== TEST 3: "%2e%2e" climbing above /v2/ is refused by nginx itself
--- request
GET /v2/%2e%2e/%2e%2e/etc/passwd
--- error_code: 400
--- response_body_unlike: root:
--- no_error_log
[error]



=== TEST 4: a digest with ../ in it becomes an unknown endpoint
--- request
GET /v2/library/alpine/blobs/sha256:../../../etc/passwd
--- error_code: 404
--- response_body_like eval: HarborTest::err('UNSUPPORTED')
--- no_error_log
[error]



=== TEST 5: %2F in the name is a slash after decoding: the same repository
--- request
GET /v2/library%2Falpine/manifests/latest
--- more_headers
Accept: application/vnd.oci.image.manifest.v1+json
--- response_headers eval
"Docker-Content-Digest: " . ::D('amd64')
--- no_error_log
[error]



=== TEST 6: "//" with merge_slashes on (default): the same repository
--- request
GET /v2/library//alpine/tags/list
--- response_body_like: ^\{"name":"library/alpine",
--- no_error_log
[error]



=== TEST 7: "//" with merge_slashes off: NAME_INVALID
--- config
merge_slashes off;
location /v2/ {
    harbor_registry on;
}
--- request
GET /v2/library//alpine/tags/list
--- error_code: 400
--- response_body_like eval: HarborTest::err('NAME_INVALID')
--- no_error_log
[error]



=== TEST 8: NUL (%00) never reaches the module: nginx answers 400
--- request
GET /v2/library/alpine/manifests/la%00test
--- error_code: 400
--- no_error_log
[error]



=== TEST 9: uppercase in the name
--- request
GET /v2/library/Alpine/tags/list
--- error_code: 400
--- response_body_like eval: HarborTest::err('NAME_INVALID')
--- no_error_log
[error]



=== TEST 10: a name component starting with "_" (store internals)
--- request
GET /v2/library/alpine/_manifests/tags/list
--- error_code: 400
--- response_body_like eval: HarborTest::err('NAME_INVALID')
--- no_error_log
[error]



=== TEST 11: separators: "a..b", "a___b", "-a", "a-" are invalid
--- request eval
["GET /v2/a..b/tags/list", "GET /v2/a___b/tags/list",
 "GET /v2/-a/tags/list", "GET /v2/a-/tags/list"]
--- error_code eval
[400, 400, 400, 400]
--- response_body_like eval
[HarborTest::err('NAME_INVALID'), HarborTest::err('NAME_INVALID'),
 HarborTest::err('NAME_INVALID'), HarborTest::err('NAME_INVALID')]
--- no_error_log
[error]



=== TEST 12: separators: "a__b", "a--b", "a.b" are valid (unknown here)
--- request eval
["GET /v2/a__b/tags/list", "GET /v2/a--b/tags/list", "GET /v2/a.b/tags/list"]
--- error_code eval
[404, 404, 404]
--- response_body_like eval
[HarborTest::err('NAME_UNKNOWN'), HarborTest::err('NAME_UNKNOWN'),
 HarborTest::err('NAME_UNKNOWN')]
--- no_error_log
[error]



=== TEST 13: a 255-byte name is valid, a 256-byte name is not
--- request eval
["GET /v2/$::N255/tags/list", "GET /v2/$::N256/tags/list"]
--- error_code eval
[404, 400]
--- response_body_like eval
[HarborTest::err('NAME_UNKNOWN'), HarborTest::err('NAME_INVALID')]
--- no_error_log
[error]



=== TEST 14: a very long name (4000 bytes)
--- request eval
"GET /v2/" . ('abcdefgh/' x 443) . "abcdefgh/manifests/latest"
--- error_code: 400
--- response_body_like eval: HarborTest::err('NAME_INVALID')
--- no_error_log
[error]



=== TEST 15: a 128-character tag is valid, 129 is not: both name no manifest (404)
--- request eval
["GET /v2/library/alpine/manifests/$::T128",
 "GET /v2/library/alpine/manifests/$::T129"]
--- error_code eval
[404, 404]
--- response_body_like eval
[HarborTest::err('MANIFEST_UNKNOWN'), HarborTest::err('MANIFEST_UNKNOWN')]
--- no_error_log
[error]



=== TEST 16: tags with a space, a leading dot (404 MANIFEST_UNKNOWN), a slash-less "%2f"
--- request eval
["GET /v2/library/alpine/manifests/latest%20x",
 "GET /v2/library/alpine/manifests/.latest",
 "GET /v2/library/alpine/manifests/a%2fb"]
--- error_code eval
[404, 404, 404]
--- response_body_like eval
[HarborTest::err('MANIFEST_UNKNOWN'), HarborTest::err('MANIFEST_UNKNOWN'),
 HarborTest::err('UNSUPPORTED')]
--- no_error_log
[error]



=== TEST 17: digests: 63 hex, 65 hex, uppercase hex, empty
--- request eval
["GET /v2/library/alpine/blobs/sha256:" . ('a' x 63),
 "GET /v2/library/alpine/blobs/sha256:" . ('a' x 65),
 "GET /v2/library/alpine/blobs/sha256:" . uc(::D('small') =~ s/^sha256://r),
 "GET /v2/library/alpine/blobs/sha256:"]
--- error_code eval
[400, 400, 400, 400]
--- response_body_like eval
[HarborTest::err('DIGEST_INVALID'), HarborTest::err('DIGEST_INVALID'),
 HarborTest::err('DIGEST_INVALID'), HarborTest::err('DIGEST_INVALID')]
--- no_error_log
[error]



=== TEST 18: digests: unknown algorithm, uppercase algorithm, no algorithm, sha512 of 64 hex
--- request eval
["GET /v2/library/alpine/blobs/sha1:" . ('a' x 40),
 "GET /v2/library/alpine/blobs/SHA256:$::H64",
 "GET /v2/library/alpine/blobs/$::H64",
 "GET /v2/library/alpine/blobs/sha512:$::H64"]
--- error_code eval
[400, 400, 400, 400]
--- response_body_like eval
[HarborTest::err('DIGEST_INVALID'), HarborTest::err('DIGEST_INVALID'),
 HarborTest::err('DIGEST_INVALID'), HarborTest::err('DIGEST_INVALID')]
--- no_error_log
[error]



=== TEST 19: manifest reference with ':' is a digest and must be one
--- request eval
["GET /v2/library/alpine/manifests/sha256:$::H64" . "0",
 "GET /v2/library/alpine/manifests/foo:bar"]
--- error_code eval
[400, 400]
--- response_body_like eval
[HarborTest::err('DIGEST_INVALID'), HarborTest::err('DIGEST_INVALID')]
--- no_error_log
[error]



=== TEST 20: ns with a path in it maps nowhere (refused, or ignored)
--- request
GET /v2/library/nginx/manifests/latest?ns=../../etc
--- error_code_like: ^(400|404)$
--- response_body_like: ^\{"errors":\[\{"code":"[A-Z_]+"
--- no_error_log
[error]



=== TEST 21: ns with an encoded slash maps nowhere (refused, or ignored)
--- request
GET /v2/library/nginx/manifests/latest?ns=docker.io%2F..%2Fprivate
--- error_code_like: ^(400|404)$
--- response_body_like: ^\{"errors":\[\{"code":"[A-Z_]+"
--- no_error_log
[error]



=== TEST 22: last with a path in it (tags/list): 400
--- request
GET /v2/library/alpine/tags/list?last=..%2F..%2Fprivate
--- error_code: 400
--- response_body_like: ^\{"errors":\[\{"code":"[A-Z_]+"
--- no_error_log
[error]



=== TEST 23: last with a path in it (_catalog): 400
--- request
GET /v2/_catalog?last=..%2Fprivate
--- error_code: 400
--- response_body_like: ^\{"errors":\[\{"code":"[A-Z_]+"
--- no_error_log
[error]



=== TEST 24: artifactType with a quote (JSON injection): 400
--- request eval
"GET /v2/library/alpine/referrers/" . ::D('amd64') . '?artifactType=a%22,%22x'
--- error_code: 400
--- response_body_like: ^\{"errors":\[\{"code":"[A-Z_]+"
--- no_error_log
[error]



=== TEST 25: artifactType over 255 bytes: 400
--- request eval
"GET /v2/library/alpine/referrers/" . ::D('amd64') . '?artifactType=application/' . ('x' x 250)
--- error_code: 400
--- response_body_like: ^\{"errors":\[\{"code":"[A-Z_]+"
--- no_error_log
[error]



=== TEST 26: n with garbage after the digits
--- request
GET /v2/library/alpine/tags/list?n=5abc
--- error_code: 400
--- response_body_like eval: HarborTest::err('PAGINATION_NUMBER_INVALID')
--- no_error_log
[error]
