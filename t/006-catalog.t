# _catalog: a depth-first walk of repositories/ where a directory holding
# _layers is a repository; sorted, n/last, Link, harbor_catalog_max_entries.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;

our $S = HarborStore::build();

sub cat_json {
    return '{"repositories":[' . join(',', map { "\"$_\"" } @_) . ']}';
}

repeat_each(2);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: the whole catalog, sorted; invalid names and _manifests-only dirs left out
--- request
GET /v2/_catalog
--- response_headers
Content-Type: application/json; charset=utf-8
Docker-Distribution-API-Version: registry/2.0
!Link
--- response_body_like eval
HarborTest::jbody(::cat_json(@{ $::S->{catalog} }))
--- no_error_log
[error]



=== TEST 2: n=3 and the Link to the next page: last percent-encoded ("/" is %2F) as distribution sends it
--- request
GET /v2/_catalog?n=3
--- response_headers
Link: </v2/_catalog?last=broken%2Frepo&n=3>; rel="next"
--- response_body_like eval
HarborTest::jbody(::cat_json('a/b', 'a/b/c', 'broken/repo'))
--- no_error_log
[error]



=== TEST 3: last=library/alpine
--- request
GET /v2/_catalog?last=library/alpine
--- response_body_like eval
HarborTest::jbody(::cat_json('many/tags', 'private/secret', 'sym/repo', 'verify/repo'))
--- no_error_log
[error]



=== TEST 4: last URL-encoded
--- request
GET /v2/_catalog?last=library%2Falpine&n=2
--- response_headers
Link: </v2/_catalog?last=private%2Fsecret&n=2>; rel="next"
--- response_body_like eval
HarborTest::jbody(::cat_json('many/tags', 'private/secret'))
--- no_error_log
[error]



=== TEST 5: n=0: empty
--- request
GET /v2/_catalog?n=0
--- response_body_like eval
HarborTest::jbody(::cat_json())
--- no_error_log
[error]



=== TEST 6: n=1000 is the default maximum
--- request
GET /v2/_catalog?n=1000
--- response_body_like eval
HarborTest::jbody(::cat_json(@{ $::S->{catalog} }))
--- no_error_log
[error]



=== TEST 7: n=1001 is over the default maximum
--- request
GET /v2/_catalog?n=1001
--- error_code: 400
--- response_body_like eval: HarborTest::err('PAGINATION_NUMBER_INVALID')
--- no_error_log
[error]



=== TEST 8: harbor_catalog_max_entries 5: n=6 refused
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_catalog_max_entries 5;
--- request
GET /v2/_catalog?n=6
--- error_code: 400
--- response_body_like eval: HarborTest::err('PAGINATION_NUMBER_INVALID')
--- no_error_log
[error]



=== TEST 9: harbor_catalog_max_entries 5: n=5 served
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_catalog_max_entries 5;
--- request
GET /v2/_catalog?n=5
--- response_headers
Link: </v2/_catalog?last=dockerhub%2Flibrary%2Fnginx&n=5>; rel="next"
--- response_body_like eval
HarborTest::jbody(::cat_json(@{ $::S->{catalog} }[0 .. 4]))
--- no_error_log
[error]



=== TEST 10: n=abc
--- request
GET /v2/_catalog?n=abc
--- error_code: 400
--- response_body_like eval: HarborTest::err('PAGINATION_NUMBER_INVALID')
--- no_error_log
[error]



=== TEST 11: last that is not a repository name
--- request
GET /v2/_catalog?last=Bad_Upper
--- error_code: 400
--- response_body_like: ^\{"errors":\[\{"code":"[A-Z_]+"
--- no_error_log
[error]



=== TEST 12: HEAD: headers, no body
--- request
HEAD /v2/_catalog
--- response_headers
Content-Type: application/json; charset=utf-8
Docker-Distribution-API-Version: registry/2.0
--- response_body:
--- no_error_log
[error]



=== TEST 13: following the Links pages through the catalog, each last percent-encoded
--- request eval
["GET /v2/_catalog?n=2",
 "GET /v2/_catalog?last=a%2Fb%2Fc&n=2",
 "GET /v2/_catalog?last=charts%2Fmychart&n=2"]
--- response_headers eval
["Link: </v2/_catalog?last=a%2Fb%2Fc&n=2>; rel=\"next\"",
 "Link: </v2/_catalog?last=charts%2Fmychart&n=2>; rel=\"next\"",
 "Link: </v2/_catalog?last=library%2Falpine&n=2>; rel=\"next\""]
--- response_body_like eval
[HarborTest::jbody(::cat_json(@{ $::S->{catalog} }[0 .. 1])),
 HarborTest::jbody(::cat_json(@{ $::S->{catalog} }[2 .. 3])),
 HarborTest::jbody(::cat_json(@{ $::S->{catalog} }[4 .. 5]))]
--- no_error_log
[error]
