# harbor_ns: ?ns=HOST (containerd's mirror parameter) maps a request to the
# repository PREFIX/<name>; no mapping means the plain name.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;

our $S = HarborStore::build();

$HarborTest::Config = <<'_EOC_';
location /v2/ {
    harbor_registry on;
    harbor_ns docker.io dockerhub;
    harbor_ns registry.local:5000 dockerhub;
}
_EOC_

our $N250 = join('/', ('a' x 49) x 5);     # 249 bytes; +"dockerhub/" = 259

repeat_each(2);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: ns=docker.io serves dockerhub/library/nginx
--- request
GET /v2/library/nginx/manifests/latest?ns=docker.io
--- more_headers
Accept: application/vnd.oci.image.manifest.v1+json
--- response_headers eval
"Docker-Content-Digest: $::S->{m}{nginx}{digest}"
--- response_body eval: $::S->{m}{nginx}{body}
--- no_error_log
[error]



=== TEST 2: without ns the plain name is used (and is unknown)
--- request
GET /v2/library/nginx/manifests/latest
--- error_code: 404
--- response_body_like eval: HarborTest::err('MANIFEST_UNKNOWN')
--- no_error_log
[error]



=== TEST 3: an ns without mapping is ignored
--- request
GET /v2/library/alpine/manifests/latest?ns=quay.io
--- more_headers
Accept: application/vnd.oci.image.manifest.v1+json
--- response_headers eval
"Docker-Content-Digest: $::S->{m}{amd64}{digest}"
--- no_error_log
[error]



=== TEST 4: an ns without mapping does not reach dockerhub/
--- request
GET /v2/library/nginx/manifests/latest?ns=quay.io
--- error_code: 404
--- response_body_like eval: HarborTest::err('MANIFEST_UNKNOWN')
--- no_error_log
[error]



=== TEST 5: ns with a port
--- request
GET /v2/library/nginx/manifests/1.25?ns=registry.local:5000
--- more_headers
Accept: application/vnd.oci.image.manifest.v1+json
--- response_body eval: $::S->{m}{nginx}{body}
--- no_error_log
[error]



=== TEST 6: blobs through ns
--- request eval
"GET /v2/library/nginx/blobs/" . ::D('nginx_layer') . "?ns=docker.io"
--- response_body eval: $::S->{b}{nginx_layer}{body}
--- no_error_log
[error]



=== TEST 7: the blob is not linked in the plain name
--- request eval
"GET /v2/library/nginx/blobs/" . ::D('nginx_layer')
--- error_code: 404
--- response_body_like eval: HarborTest::err('BLOB_UNKNOWN')
--- no_error_log
[error]



=== TEST 8: tags/list through ns: the name as the client sent it
--- request
GET /v2/library/nginx/tags/list?ns=docker.io
--- response_body_like eval
HarborTest::jbody('{"name":"library/nginx","tags":["1.25","latest"]}')
--- no_error_log
[error]



=== TEST 9: the Link of a paginated tags/list keeps ns
--- request
GET /v2/library/nginx/tags/list?n=1&ns=docker.io
--- response_headers
Link: </v2/library/nginx/tags/list?last=1.25&n=1&ns=docker.io>; rel="next"
--- response_body_like eval
HarborTest::jbody('{"name":"library/nginx","tags":["1.25"]}')
--- no_error_log
[error]



=== TEST 13: the Link of a paginated tags/list percent-encodes ns (":" is %3A), and following it pages on
--- request eval
["GET /v2/library/nginx/tags/list?n=1&ns=registry.local:5000",
 "GET /v2/library/nginx/tags/list?last=1.25&n=1&ns=registry.local%3A5000"]
--- response_headers eval
["Link: </v2/library/nginx/tags/list?last=1.25&n=1&ns=registry.local%3A5000>; rel=\"next\"",
 "!Link"]
--- response_body_like eval
[HarborTest::jbody('{"name":"library/nginx","tags":["1.25"]}'),
 HarborTest::jbody('{"name":"library/nginx","tags":["latest"]}')]
--- no_error_log
[error]



=== TEST 10: referrers through ns (none: empty index)
--- request eval
"GET /v2/library/nginx/referrers/" . ::D('nginx') . "?ns=docker.io"
--- response_body_like eval
HarborTest::jbody('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}')
--- no_error_log
[error]



=== TEST 11: the 255-byte limit counts the prefix
--- request eval
["GET /v2/$::N250/tags/list", "GET /v2/$::N250/tags/list?ns=docker.io"]
--- error_code eval
[404, 400]
--- response_body_like eval
[HarborTest::err('NAME_UNKNOWN'), HarborTest::err('NAME_INVALID')]
--- no_error_log
[error]



=== TEST 12: ns does not apply to _catalog
--- request
GET /v2/_catalog?ns=docker.io&n=2
--- response_body_like eval
HarborTest::jbody('{"repositories":["a/b","a/b/c"]}')
--- no_error_log
[error]
