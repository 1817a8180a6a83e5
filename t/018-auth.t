# harbor_auth token and the harbor_token_* directives: the 401 challenge
# as distribution's token controller writes it, tokens signed by the key
# of harbor_token_cert (made for the run by t/lib/HarborToken.pm), the
# scope each endpoint needs, harbor_public, and what nginx -t refuses.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;
use HarborToken;

our $S = HarborStore::build();
HarborToken::setup();

$HarborTest::HttpConfig = $HarborToken::HttpConfig;

$HarborTest::Config = <<'_EOC_';
location /v2/ {
    harbor_registry on;
    harbor_auth token;
}
_EOC_

repeat_each(2);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: no token: 401 with the challenge and the scope the request needs
--- request
GET /v2/a/b/c/tags/list
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="https://harbor.test/service/token",service="harbor-registry",scope="repository:a/b/c:pull"
Docker-Distribution-API-Version: registry/2.0
Content-Type: application/json; charset=utf-8
--- response_body chomp
{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Name":"a/b/c","Action":"pull"}]}]}
--- error_log
harbor auth: needs repository:a/b/c:pull
--- no_error_log
[error]



=== TEST 2: a token granting pull on the repository is served
--- more_headers eval
"Authorization: Bearer " . HarborToken::mint(access => [HarborToken::pull('a/b/c')])
--- request
GET /v2/a/b/c/tags/list
--- response_body_like: ^\{"name":"a/b/c","tags":\["list","v1","v1-signed"\]\}\n?$
--- error_log
harbor auth: token of "alice" accepted
--- no_error_log
[error]



=== TEST 3: a good token for another repository: insufficient_scope
--- more_headers eval
"Authorization: Bearer " . HarborToken::mint(access => [HarborToken::pull('library/alpine')])
--- request
GET /v2/a/b/c/tags/list
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="https://harbor.test/service/token",service="harbor-registry",scope="repository:a/b/c:pull",error="insufficient_scope"
--- response_body_like: "message":"insufficient scope"
--- error_log
harbor auth: token of "alice" does not grant "pull" on "a/b/c"
--- no_error_log
[error]



=== TEST 4: an expired token is refused, and the log says why
--- more_headers eval
"Authorization: Bearer " . HarborToken::mint(exp => time - 3600, access => [HarborToken::pull('a/b/c')])
--- request
GET /v2/a/b/c/tags/list
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="https://harbor.test/service/token",service="harbor-registry",scope="repository:a/b/c:pull",error="invalid_token"
--- error_log
harbor auth: token refused: expired
--- no_error_log
[error]



=== TEST 5: a token signed by a key harbor_token_cert does not hold
--- more_headers eval
"Authorization: Bearer " . HarborToken::mint(key => 'other', access => [HarborToken::pull('a/b/c')])
--- request
GET /v2/a/b/c/tags/list
--- error_code: 401
--- error_log
harbor auth: token refused: bad signature
--- no_error_log
[error]



=== TEST 6: GET /v2/ needs any valid token, and no scope is asked
--- more_headers eval
"Authorization: Bearer " . HarborToken::mint()
--- request
GET /v2/
--- response_headers
Docker-Distribution-API-Version: registry/2.0
--- response_body_like eval: HarborTest::jbody('{}')
--- error_log
harbor auth: needs (any token)
--- no_error_log
[error]



=== TEST 7: GET /v2/ without a token: a challenge without scope
--- request
GET /v2/
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="https://harbor.test/service/token",service="harbor-registry"
--- response_body chomp
{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}
--- no_error_log
[error]



=== TEST 8: _catalog needs registry:catalog:*
--- more_headers eval
"Authorization: Bearer " . HarborToken::mint(access => [HarborToken::pull('a/b/c')])
--- request
GET /v2/_catalog
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="https://harbor.test/service/token",service="harbor-registry",scope="registry:catalog:*",error="insufficient_scope"
--- response_body_like: "detail":\[\{"Type":"registry","Name":"catalog","Action":"\*"\}\]
--- no_error_log
[error]



=== TEST 9: _catalog with registry:catalog:* is served
--- more_headers eval
"Authorization: Bearer " . HarborToken::mint(access => [{type => 'registry', name => 'catalog', actions => ['*']}])
--- request
GET /v2/_catalog
--- response_body_like: ^\{"repositories":\[.*"a/b/c"
--- no_error_log
[error]



=== TEST 10: writes ask pull,push on the upload endpoint's repository
--- request
POST /v2/a/b/c/blobs/uploads/
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="https://harbor.test/service/token",service="harbor-registry",scope="repository:a/b/c:pull,push"
--- no_error_log
[error]



=== TEST 11: DELETE asks delete; a token with pull only is not enough
--- more_headers eval
"Authorization: Bearer " . HarborToken::mint(access => [HarborToken::pull('a/b/c')])
--- request
DELETE /v2/a/b/c/manifests/v1
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="https://harbor.test/service/token",service="harbor-registry",scope="repository:a/b/c:delete",error="insufficient_scope"
--- no_error_log
[error]



=== TEST 12: a name that breaks the grammar still needs a valid token
--- request
GET /v2/A/B/tags/list
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="https://harbor.test/service/token",service="harbor-registry"
--- no_error_log
[error]



=== TEST 13: harbor_public: GET and HEAD without a token, other methods not
--- config
location /v2/ {
    harbor_registry on;
    harbor_auth token;
    harbor_public a/** library/*;
}
--- request eval
["GET /v2/a/b/c/tags/list", "HEAD /v2/library/alpine/manifests/latest", "DELETE /v2/a/b/c/manifests/v1", "GET /v2/many/tags/tags/list"]
--- error_code eval
[200, 200, 401, 401]
--- no_error_log
[error]



=== TEST 14: a public repository is served without a token, and logged so
--- config
location /v2/ {
    harbor_registry on;
    harbor_auth token;
    harbor_public a/**;
}
--- request
GET /v2/a/b/c/tags/list
--- response_body_like: ^\{"name":"a/b/c"
--- error_log
harbor auth: public repository "a/b/c"
--- no_error_log
[error]



=== TEST 15: harbor_token_service: a token for harbor-registry is refused
--- config
location /v2/ {
    harbor_registry on;
    harbor_auth token;
    harbor_token_service edge-test;
}
--- more_headers eval
"Authorization: Bearer " . HarborToken::mint(access => [HarborToken::pull('a/b/c')])
--- request
GET /v2/a/b/c/tags/list
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="https://harbor.test/service/token",service="edge-test",scope="repository:a/b/c:pull",error="invalid_token"
--- error_log
harbor auth: token refused: wrong audience
--- no_error_log
[error]



=== TEST 16: harbor_token_service: a token whose aud names it is served
--- config
location /v2/ {
    harbor_registry on;
    harbor_auth token;
    harbor_token_service edge-test;
}
--- more_headers eval
"Authorization: Bearer " . HarborToken::mint(aud => ['other', 'edge-test'], access => [HarborToken::pull('a/b/c')])
--- request
GET /v2/a/b/c/tags/list
--- response_body_like: ^\{"name":"a/b/c"
--- no_error_log
[error]



=== TEST 17: harbor_token_issuer: the token's iss must name it
--- config
location /v2/ {
    harbor_registry on;
    harbor_auth token;
    harbor_token_issuer edge-issuer;
}
--- more_headers eval
["Authorization: Bearer " . HarborToken::mint(access => [HarborToken::pull('a/b/c')]),
 "Authorization: Bearer " . HarborToken::mint(iss => 'edge-issuer', access => [HarborToken::pull('a/b/c')])]
--- request eval
["GET /v2/a/b/c/tags/list", "GET /v2/a/b/c/tags/list"]
--- error_code eval
[401, 200]
--- no_error_log
[error]



=== TEST 18: expired five minutes ago: refused with the default leeway of 60s
--- more_headers eval
"Authorization: Bearer " . HarborToken::mint(exp => time - 300, access => [HarborToken::pull('a/b/c')])
--- request
GET /v2/a/b/c/tags/list
--- error_code: 401
--- error_log
harbor auth: token refused: expired
--- no_error_log
[error]



=== TEST 19: expired five minutes ago: harbor_token_leeway 10m takes it
--- config
location /v2/ {
    harbor_registry on;
    harbor_auth token;
    harbor_token_leeway 10m;
}
--- more_headers eval
"Authorization: Bearer " . HarborToken::mint(exp => time - 300, access => [HarborToken::pull('a/b/c')])
--- request
GET /v2/a/b/c/tags/list
--- response_body_like: ^\{"name":"a/b/c"
--- no_error_log
[error]



=== TEST 20: ?ns= maps the name: the scope is the repository served
--- config
location /v2/ {
    harbor_registry on;
    harbor_auth token;
    harbor_ns docker.io a;
}
--- more_headers eval
["", "Authorization: Bearer " . HarborToken::mint(access => [HarborToken::pull('b/c')]),
 "Authorization: Bearer " . HarborToken::mint(access => [HarborToken::pull('a/b/c')])]
--- request eval
["GET /v2/b/c/tags/list?ns=docker.io", "GET /v2/b/c/tags/list?ns=docker.io", "GET /v2/b/c/tags/list?ns=docker.io"]
--- error_code eval
[401, 401, 200]
--- response_headers eval
['WWW-Authenticate: Bearer realm="https://harbor.test/service/token",service="harbor-registry",scope="repository:a/b/c:pull"',
 'WWW-Authenticate: Bearer realm="https://harbor.test/service/token",service="harbor-registry",scope="repository:a/b/c:pull",error="insufficient_scope"',
 '!WWW-Authenticate']
--- no_error_log
[error]



=== TEST 21: harbor_auth off in a nested location: no token asked, no work
--- config
location /v2/ {
    harbor_registry on;
    harbor_auth token;

    location /v2/a/ {
        harbor_auth off;
    }
}
--- request
GET /v2/a/b/c/tags/list
--- response_body_like: ^\{"name":"a/b/c"
--- no_error_log
[error]
harbor auth:



=== TEST 22: harbor_auth token without harbor_token_realm
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_token_cert $TEST_NGINX_TOKEN_CERT;
--- must_die
--- error_log
"harbor_auth token" needs harbor_token_realm



=== TEST 23: harbor_auth token without harbor_token_cert
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_token_realm https://harbor.test/service/token;
--- must_die
--- error_log
"harbor_auth token" needs harbor_token_cert



=== TEST 24: harbor_token_cert naming a missing file
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_token_realm https://harbor.test/service/token;
harbor_token_cert /nonexistent/harbor-edge-root.crt;
--- must_die
--- error_log
open() "/nonexistent/harbor-edge-root.crt" failed



=== TEST 25: harbor_token_cert naming a private key
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_token_realm https://harbor.test/service/token;
harbor_token_cert $TEST_NGINX_TOKEN_KEY;
--- must_die
--- error_log
a private key has no place here



=== TEST 26: a quote in harbor_token_realm would break the challenge
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_token_realm 'https://harbor.test/"x';
harbor_token_cert $TEST_NGINX_TOKEN_CERT;
--- must_die
--- error_log
must not contain quotes, backslashes or control characters



=== TEST 27: harbor_public pattern with an uppercase letter
--- config
location /v2/ {
    harbor_registry on;
    harbor_auth token;
    harbor_public Library/*;
}
--- must_die
--- error_log
invalid character in harbor_public pattern "Library/*"



=== TEST 28: harbor_token_leeway over a day
--- config
location /v2/ {
    harbor_registry on;
    harbor_auth token;
    harbor_token_leeway 2d;
}
--- must_die
--- error_log
harbor_token_leeway is larger than one day



=== TEST 29: harbor_auth with a value other than off or token
--- config
location /v2/ {
    harbor_registry on;
    harbor_auth basic;
}
--- must_die
--- error_log
invalid value "basic"
