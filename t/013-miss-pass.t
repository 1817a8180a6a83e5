# harbor_miss_pass @x: a manifest or blob the edge does not have (or that
# fails verification) goes to the named location, which would proxy to the
# primary; here it answers with a marker.  Other answers stay local.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;
use Digest::SHA ();

our $S = HarborStore::build();

$HarborTest::Config = <<'_EOC_';
location /v2/ {
    harbor_registry on;
    harbor_miss_pass @primary;
}
location @primary {
    add_header X-Primary yes always;
    return 200 "primary $request_method $uri$is_args$args\n";
}
_EOC_

repeat_each(2);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: manifest miss goes to the primary
--- request
GET /v2/library/alpine/manifests/nope
--- response_headers
X-Primary: yes
--- response_body
primary GET /v2/library/alpine/manifests/nope
--- no_error_log
[error]



=== TEST 2: blob miss goes to the primary, query string kept
--- request
GET /v2/library/alpine/blobs/sha256:2222222222222222222222222222222222222222222222222222222222222222?ns=docker.io
--- response_body
primary GET /v2/library/alpine/blobs/sha256:2222222222222222222222222222222222222222222222222222222222222222?ns=docker.io
--- no_error_log
[error]



=== TEST 3: a blob not linked in this repository is a miss
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('secret')
--- response_body eval
"primary GET /v2/library/alpine/blobs/" . ::D('secret') . "\n"
--- no_error_log
[error]



=== TEST 4: a blob failing verification is a miss, and logged
--- request eval
"GET /v2/broken/repo/blobs/" . ::D('corrupt')
--- response_headers
X-Primary: yes
--- response_body eval
"primary GET /v2/broken/repo/blobs/" . ::D('corrupt') . "\n"
--- error_log eval
qr/harbor: digest mismatch in "\Q$::S->{b}{corrupt}{path}\E"/



=== TEST 5: a manifest failing verification is a miss
--- request
GET /v2/broken/repo/manifests/corrupt
--- response_body
primary GET /v2/broken/repo/manifests/corrupt
--- error_log
harbor: digest mismatch in "



=== TEST 6: HEAD miss goes to the primary as HEAD
--- request
HEAD /v2/library/alpine/manifests/nope
--- response_headers
X-Primary: yes
--- response_body:
--- no_error_log
[error]



=== TEST 7: a hit is served locally
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('big')
--- response_headers
!X-Primary
--- response_body_filters eval
\&Digest::SHA::sha256_hex
--- response_body eval: $::S->{b}{big}{hex}
--- no_error_log
[error]



=== TEST 8: manifest hit served locally
--- request
GET /v2/library/alpine/manifests/latest
--- response_headers
!X-Primary
--- response_body eval: $::S->{m}{amd64}{body}
--- no_error_log
[error]



=== TEST 9: a bad name is refused locally, never passed
--- request
GET /v2/Library/alpine/manifests/latest
--- error_code: 400
--- response_headers
!X-Primary
--- response_body_like eval: HarborTest::err('NAME_INVALID')
--- no_error_log
[error]



=== TEST 10: tags/list of an unknown repository is not a miss
--- request
GET /v2/no/such/tags/list
--- error_code: 404
--- response_headers
!X-Primary
--- response_body_like eval: HarborTest::err('NAME_UNKNOWN')
--- no_error_log
[error]



=== TEST 11: referrers never miss: an empty index, locally
--- request eval
"GET /v2/no/such/referrers/" . ::D('amd64')
--- response_headers
!X-Primary
--- response_body_like eval
HarborTest::jbody('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}')
--- no_error_log
[error]



=== TEST 12: writes are refused locally, never passed
--- request
PUT /v2/library/alpine/manifests/nope
--- error_code: 405
--- response_headers
!X-Primary
--- response_body_like eval: HarborTest::err('UNSUPPORTED')
--- no_error_log
[error]
