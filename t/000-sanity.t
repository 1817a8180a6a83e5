# Sanity: the base endpoint, the API version header, and that locations
# without harbor_registry are left alone.  Those locations serve static
# files, so the content phase runs there and the module's handler must
# decline: no "harbor route" in the debug log, which TEST 1 shows is
# written where the module does route.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;

our $S = HarborStore::build();

repeat_each(2);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: GET /v2/ answers {} as JSON
--- request
GET /v2/
--- response_headers
Content-Type: application/json; charset=utf-8
Docker-Distribution-API-Version: registry/2.0
--- response_body_like eval: HarborTest::jbody('{}')
--- error_log
harbor route: 0 "" ""
--- no_error_log
[error]



=== TEST 2: HEAD /v2/ has the headers and no body
--- request
HEAD /v2/
--- response_headers
Docker-Distribution-API-Version: registry/2.0
Content-Type: application/json; charset=utf-8
--- response_body:
--- no_error_log
[error]



=== TEST 3: query arguments on /v2/ are ignored
--- request
GET /v2/?foo=bar&n=abc
--- response_headers
Docker-Distribution-API-Version: registry/2.0
--- response_body_like eval: HarborTest::jbody('{}')
--- no_error_log
[error]



=== TEST 4: a location without harbor_registry is not touched
--- config
location /v2/ {
    harbor_registry on;
}
location /other/ {
    root html;
}
--- user_files
>>> other/v2/index.html
other
--- request
GET /other/v2/
--- response_headers
!Docker-Distribution-API-Version
Content-Type: text/html
--- response_body
other
--- no_error_log
[error]
harbor route



=== TEST 5: module loaded, harbor_root set, registry off: plain nginx
--- config
location /v2/ {
    root html;
}
--- user_files
>>> v2/library/alpine/manifests/latest
plain
--- request
GET /v2/library/alpine/manifests/latest
--- response_headers
!Docker-Distribution-API-Version
!Docker-Content-Digest
Content-Type: text/plain
--- response_body
plain
--- no_error_log
[error]
harbor route



=== TEST 6: harbor_registry off in a nested location wins
--- config
location /v2/ {
    harbor_registry on;

    location /v2/off/ {
        harbor_registry off;
        root html;
    }
}
--- user_files
>>> v2/off/tags/list
off
--- request
GET /v2/off/tags/list
--- response_headers
!Docker-Distribution-API-Version
--- response_body
off
--- no_error_log
[error]
harbor route



=== TEST 7: the static root location still serves files
--- request
GET /index.html
--- response_headers
!Docker-Distribution-API-Version
--- response_body_like: It works!
--- no_error_log
[error]



=== TEST 8: harbor_root at location level
--- http_config
--- config
location /v2/ {
    harbor_root $TEST_NGINX_HARBOR_ROOT;
    harbor_registry on;
}
--- request
GET /v2/a/b/c/tags/list
--- response_body_like: ^\{"name":"a/b/c","tags":\["list","v1","v1-signed"\]\}\n?$
--- no_error_log
[error]



=== TEST 9: two locations, two roots: the second sees an empty store
--- user_files
>>> empty-store/docker/registry/v2/repositories/.keep
--- config
location /v2/ {
    harbor_registry on;
}
location /v2/library/ {
    harbor_root $TEST_NGINX_SERVER_ROOT/html/empty-store;
    harbor_registry on;
}
--- request eval
["GET /v2/a/b/c/tags/list", "GET /v2/library/alpine/tags/list"]
--- error_code eval
[200, 404]
--- response_body_like eval
[qr/^\{"name":"a\/b\/c"/, HarborTest::err('NAME_UNKNOWN')]
--- no_error_log
[error]
