# Zero cost where the modules are not configured.  The module is loaded
# in every block; a location without any harbor_* directive must answer
# as plain nginx would, and none of the modules' handlers may do any work
# for it: their debug lines (which TEST 1 shows are written where they do
# work) stay out of the log, and the metrics counters do not move.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;
use HarborToken;

our $S = HarborStore::build();
HarborToken::setup();

# every module of the .so configured somewhere, and a plain location
$HarborTest::HttpConfig = $HarborToken::HttpConfig;

$HarborTest::Config = <<'_EOC_';
location /v2/ {
    harbor_registry on;
    harbor_auth token;
    harbor_public library/*;
}
location = /metrics {
    harbor_metrics;
}
location /static/ {
    root html;
    log_not_found off;
}
_EOC_

repeat_each(2);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: where they are configured, the handlers work and say so
--- request
GET /v2/library/alpine/tags/list
--- response_headers
Docker-Distribution-API-Version: registry/2.0
--- error_log
harbor auth: needs repository:library/alpine:pull
harbor route: 4 "library/alpine" ""
harbor metrics: kind 4, cache 0, status 200
--- no_error_log
[error]



=== TEST 2: a location without the directives: plain nginx, no work
--- user_files
>>> static/v2/library/alpine/tags/list
static bytes
--- request
GET /static/v2/library/alpine/tags/list
--- response_headers
Content-Type: text/plain
Content-Length: 13
!Docker-Distribution-API-Version
!WWW-Authenticate
--- response_body
static bytes
--- no_error_log
harbor
[error]



=== TEST 3: not even the access phase: no token asked outside harbor_auth
--- user_files
>>> static/private/secret
no token needed
--- request
GET /static/private/secret
--- response_body
no token needed
--- no_error_log
harbor auth
[error]



=== TEST 4: a 404 outside the modules is nginx's, not an OCI error
--- request
GET /static/v2/library/alpine/manifests/nope
--- error_code: 404
--- response_headers
Content-Type: text/html
!Docker-Distribution-API-Version
--- response_body_like: <center>nginx(?:/[\d.]+)?</center>
--- no_error_log
harbor
[error]



=== TEST 5: requests outside the modules leave every counter at zero
--- config
location /v2/ {
    harbor_registry on;
}
location = /metrics {
    harbor_metrics;
}
location /static/ {
    root html;
    log_not_found off;
}
--- user_files
>>> static/plain
plain
--- request eval
["GET /static/plain", "GET /static/missing", "GET /metrics"]
--- error_code eval
[200, 404, 200]
--- response_body_unlike eval
[qr/harbor/, qr/harbor/, qr/^harbor_edge_(?:requests|cache_requests|auth_denied|webhook_requests)_total\{[^}]*\} [1-9]/m]
--- no_error_log
harbor metrics: kind
[error]



=== TEST 6: the module loaded, no harbor_* directive at all: nothing installed
--- http_config
--- config
location /static/ {
    root html;
    log_not_found off;
}
--- user_files
>>> static/plain
plain
--- request
GET /static/plain
--- response_headers
Content-Type: text/plain
Content-Length: 6
!Docker-Distribution-API-Version
--- response_body
plain
--- no_error_log
harbor
[error]
