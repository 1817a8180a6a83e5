# harbor_metrics and the log variables ($harbor_cache_status,
# $harbor_repository, $harbor_reference, $harbor_digest), read here through
# add_header so that every block sees what the access log would.  A miss
# passed to harbor_miss_pass is still known as such in the named location
# (the request's route survives the internal redirect), and a request that
# comes back into a harbor_registry location (error_page after the
# primary failed) is routed and served afresh.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;
use HarborToken;

our $S = HarborStore::build();
HarborToken::setup();

$HarborTest::Config = <<'_EOC_';
location /v2/ {
    harbor_registry on;
    harbor_miss_pass @primary;
    add_header X-Cache $harbor_cache_status always;
    add_header X-Repository $harbor_repository always;
    add_header X-Reference $harbor_reference always;
    add_header X-Digest $harbor_digest always;
}
location @primary {
    add_header X-Cache $harbor_cache_status always;
    add_header X-Repository $harbor_repository always;
    add_header X-Reference $harbor_reference always;
    return 502;
}
location = /metrics {
    harbor_metrics;
}
_EOC_

repeat_each(2);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: a hit by tag: the tag's digest once resolved
--- request
GET /v2/library/alpine/manifests/latest
--- response_headers eval
"X-Cache: HIT
X-Repository: library/alpine
X-Reference: latest
X-Digest: " . ::D('amd64')
--- no_error_log
[error]



=== TEST 2: a miss passed on: PASS in the named location, with the route
--- request
GET /v2/library/alpine/manifests/nope
--- error_code: 502
--- response_headers
X-Cache: PASS
X-Repository: library/alpine
X-Reference: nope
--- no_error_log
[error]



=== TEST 3: a miss answered here: MISS
--- config
location /v2/ {
    harbor_registry on;
    add_header X-Cache $harbor_cache_status always;
    add_header X-Reference $harbor_reference always;
}
--- request
GET /v2/library/alpine/manifests/nope
--- error_code: 404
--- response_headers
X-Cache: MISS
X-Reference: nope
--- no_error_log
[error]



=== TEST 4: an invalid name: BYPASS, the valid tag kept, no repository
--- request
GET /v2/Library/alpine/manifests/v1
--- error_code: 400
--- response_headers
X-Cache: BYPASS
X-Reference: v1
!X-Repository
--- no_error_log
[error]



=== TEST 5: a method the edge does not serve: BYPASS, with the route
--- request
DELETE /v2/library/alpine/manifests/latest
--- error_code: 405
--- response_headers
X-Cache: BYPASS
X-Repository: library/alpine
X-Reference: latest
--- no_error_log
[error]



=== TEST 6: under ?ns= the repository is the store's
--- config
location /v2/ {
    harbor_registry on;
    harbor_ns docker.io library;
    add_header X-Cache $harbor_cache_status always;
    add_header X-Repository $harbor_repository always;
}
--- request
GET /v2/alpine/manifests/latest?ns=docker.io
--- response_headers
X-Cache: HIT
X-Repository: library/alpine
--- no_error_log
[error]



=== TEST 7: back from the primary into a harbor_registry location: served afresh
--- user_files
>>> empty-store/docker/registry/v2/repositories/.keep
--- config
location /v2/ {
    harbor_root $TEST_NGINX_SERVER_ROOT/html/empty-store;
    harbor_registry on;
    harbor_miss_pass @primary;
}
location @primary {
    error_page 502 = @stale;
    return 502;
}
location @stale {
    harbor_registry on;
    add_header X-Cache $harbor_cache_status always;
    add_header X-Digest $harbor_digest always;
}
--- request
GET /v2/library/alpine/manifests/latest
--- response_headers eval
"X-Cache: HIT
X-Digest: " . ::D('amd64') . "
Docker-Content-Digest: " . ::D('amd64')
--- response_body eval: $::S->{m}{amd64}{body}
--- error_log
harbor miss, passed to "@primary"
--- no_error_log
[error]
[alert]



=== TEST 8: refused by harbor_auth: DENIED, counted by reason
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_token_realm https://harbor.test/service/token;
harbor_token_cert $TEST_NGINX_TOKEN_CERT;
--- config
location /v2/ {
    harbor_registry on;
    harbor_auth token;
    add_header X-Cache $harbor_cache_status always;
    add_header X-Repository $harbor_repository always;
}
location = /metrics {
    harbor_metrics;
}
--- request eval
["GET /v2/a/b/c/tags/list", "GET /metrics"]
--- error_code eval
[401, 200]
--- response_headers eval
["X-Cache: DENIED\nX-Repository: a/b/c", "!X-Cache"]
--- response_body_like eval
[qr/UNAUTHORIZED/, qr/^harbor_edge_auth_denied_total\{reason="no_token"\} [1-9]\d*$/m]
--- no_error_log
[error]



=== TEST 9: the exposition: text format 0.0.4, every family
--- request
GET /metrics
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
!Docker-Distribution-API-Version
--- response_body_like eval
qr/\A# HELP harbor_edge_requests_total .*# TYPE harbor_edge_cache_requests_total counter\n.*^harbor_edge_store_sent_bytes_total \d+\n.*^harbor_edge_verify_hashes_total \d+\n.*^harbor_edge_auth_denied_total\{reason="insufficient_scope"\} \d+\n.*^harbor_edge_webhook_requests_total\{result="refused"\} \d+\n\z/ms
--- no_error_log
[error]



=== TEST 10: a hit is counted after the response, with its bytes
--- request eval
["GET /v2/library/alpine/manifests/arm64", "GET /metrics"]
--- response_body_like eval
[qr/"schemaVersion":2/, qr/^harbor_edge_requests_total\{endpoint="manifest",code="2xx"\} [1-9]\d*\n.*^harbor_edge_cache_requests_total\{status="hit"\} [1-9]\d*\n.*^harbor_edge_store_sent_bytes_total [1-9]\d*$/ms]
--- no_error_log
[error]



=== TEST 11: a pass is counted as a pass, with the primary's status class
--- request eval
["GET /v2/library/alpine/blobs/sha256:" . ('4' x 64), "GET /metrics"]
--- error_code eval
[502, 200]
--- response_body_like eval
[qr/502/, qr/^harbor_edge_requests_total\{endpoint="blob",code="5xx"\} [1-9]\d*\n.*^harbor_edge_cache_requests_total\{status="pass"\} [1-9]\d*$/ms]
--- no_error_log
[error]



=== TEST 12: only GET and HEAD on the metrics location
--- request
POST /metrics
--- error_code: 405
--- no_error_log
[error]



=== TEST 13: outside the module's locations the variables are empty
--- config
location /v2/ {
    harbor_registry on;
}
location /plain/ {
    root html;
    add_header X-Cache "[$harbor_cache_status][$harbor_repository]";
}
location = /metrics {
    harbor_metrics;
}
--- user_files
>>> plain/v2/library/alpine/manifests/latest
plain
--- request
GET /plain/v2/library/alpine/manifests/latest
--- response_headers
X-Cache: [][]
--- response_body
plain
--- no_error_log
[error]



=== TEST 14: harbor_metrics in a location that serves the registry
--- config
location /v2/ {
    harbor_registry on;
    harbor_metrics;
}
--- must_die
--- error_log
"harbor_metrics" cannot be used in a location with "harbor_registry on"



=== TEST 15: harbor_metrics in a webhook location (webhook given last)
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_redis 127.0.0.1:6379;
--- config
location = /hook {
    harbor_metrics;
    harbor_webhook;
    harbor_webhook_auth off;
}
--- must_die
--- error_log
"harbor_metrics" cannot be used in a location with "harbor_webhook"



=== TEST 16: harbor_metrics twice
--- config
location = /metrics {
    harbor_metrics;
    harbor_metrics;
}
--- must_die
--- error_log
"harbor_metrics" directive is duplicate



=== TEST 17: harbor_metrics with a content handler of another module
--- config
location = /metrics {
    proxy_pass http://127.0.0.1:1;
    harbor_metrics;
}
--- must_die
--- error_log
"harbor_metrics" directive cannot be combined with another content handler
