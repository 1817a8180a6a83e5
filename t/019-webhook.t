# harbor_webhook, harbor_webhook_auth, harbor_webhook_max_size and
# harbor_redis / harbor_redis_queue / harbor_redis_timeout, against a real
# Redis (t/lib/HarborRedis.pm): an event is answered 200 only once Redis
# has acknowledged every line, so {"queued":N} is Redis's word.  The
# checks before the body (method, Authorization, size), the payload's,
# and a Redis that is not there.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;
use HarborRedis;

our $S = HarborStore::build();
HarborRedis::start();

$HarborTest::HttpConfig = <<'_EOC_';
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
harbor_redis_queue harbor:t019;
harbor_redis_timeout 500ms;
_EOC_

$HarborTest::Config = <<'_EOC_';
location = /hook {
    harbor_webhook;
    harbor_webhook_auth "Basic aGFyYm9yOnNlY3JldA==";
    harbor_webhook_max_size 1k;
}
location = /open-hook {
    harbor_webhook;
    harbor_webhook_auth off;
}
location = /events {
    return 200 "queued $harbor_events_queued dropped $harbor_events_dropped\n";
}
_EOC_

our $Push = '{"type":"PUSH_ARTIFACT","occur_at":1700000000,"operator":"admin","event_data":{"resources":[{"digest":"sha256:1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef","tag":"v1","resource_url":"harbor.test/library/alpine:v1"}],"repository":{"name":"alpine","namespace":"library","repo_full_name":"library/alpine","repo_type":"public"}}}';

repeat_each(2);
HarborTest::setup(extra => 3);
run_tests();

# What Redis holds is what the replicator reads: one line per resource,
# no tag where Harbor wrote the digest as the tag, nothing refused.
my @lines = HarborRedis::cmd('LRANGE', 'harbor:t019', '0', '-1');
my $hex = '1234567890abcdef' x 4;
my $untagged = 'f' x 64;

ok((grep { $_ eq '{"kind":"push","repository":"library/alpine",'
                 . qq{"digest":"sha256:$hex","tag":"v1",}
                 . '"occurred_at":1700000000,"source":"webhook"}' } @lines),
   "Redis holds the push event line");
ok((grep { $_ eq '{"kind":"push","repository":"library/alpine",'
                 . qq{"digest":"sha256:$untagged",}
                 . '"occurred_at":1700000001,"source":"webhook"}' } @lines),
   "an untagged resource is queued without a tag");
ok(!(grep { /Library|PULL/ } @lines), "nothing refused or ignored was queued");

__DATA__

=== TEST 1: a push event with the right Authorization: queued in Redis
--- more_headers
Authorization: Basic aGFyYm9yOnNlY3JldA==
Content-Type: application/json
--- request eval
"POST /hook\n$::Push"
--- response_headers
Content-Type: application/json
--- response_body
{"queued":1}
--- no_error_log
[error]
[warn]



=== TEST 2: after an acknowledged event the counter says so
--- more_headers
Authorization: Basic aGFyYm9yOnNlY3JldA==
--- request eval
["POST /hook\n$::Push", "GET /events"]
--- response_body_like eval
[qr/^\{"queued":1\}$/, qr/^queued [1-9]\d* dropped 0$/]
--- no_error_log
[error]



=== TEST 3: one line per resource; Harbor's untagged "tag" is not a tag
--- more_headers
Authorization: Basic aGFyYm9yOnNlY3JldA==
--- request
POST /hook
{"type":"PUSH_ARTIFACT","occur_at":1700000001,"event_data":{"resources":[{"digest":"sha256:1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef","tag":"v2"},{"digest":"sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff","tag":"sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"}],"repository":{"namespace":"library","name":"alpine"}}}
--- response_body
{"queued":2}
--- no_error_log
[error]



=== TEST 4: a CloudEvents delete
--- more_headers
Authorization: Basic aGFyYm9yOnNlY3JldA==
Content-Type: application/cloudevents+json
--- request
POST /hook
{"specversion":"1.0","type":"harbor.artifact.deleted","time":"2023-03-06T06:08:43Z","data":{"resources":[{"digest":"sha256:1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef","tag":"v1"}],"repository":{"repo_full_name":"library/alpine"}}}
--- response_body
{"queued":1}
--- no_error_log
[error]



=== TEST 5: an event the edge does not use is acknowledged, not queued
--- more_headers
Authorization: Basic aGFyYm9yOnNlY3JldA==
--- request
POST /hook
{"type":"PULL_ARTIFACT","occur_at":1700000000,"event_data":{"resources":[{"digest":"sha256:1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef"}],"repository":{"repo_full_name":"library/alpine"}}}
--- response_body
{"queued":0}
--- error_log
harbor webhook: "PULL_ARTIFACT" ignored
--- no_error_log
[error]



=== TEST 6: a wrong Authorization value: 401 before the body is read
--- more_headers
Authorization: Basic aGFyYm9yOndyb25n
--- request eval
"POST /hook\n$::Push"
--- error_code: 401
--- response_body
{"error":"missing or wrong Authorization header"}
--- no_error_log
[error]



=== TEST 7: no Authorization at all: 401
--- request eval
"POST /hook\n$::Push"
--- error_code: 401
--- response_body
{"error":"missing or wrong Authorization header"}
--- no_error_log
[error]



=== TEST 8: harbor_webhook_auth off takes a delivery without the header
--- request eval
"POST /open-hook\n$::Push"
--- response_body
{"queued":1}
--- no_error_log
[error]



=== TEST 9: only POST
--- more_headers
Authorization: Basic aGFyYm9yOnNlY3JldA==
--- request
GET /hook
--- error_code: 405
--- response_body
{"error":"method not allowed: use POST"}
--- no_error_log
[error]



=== TEST 10: a body over harbor_webhook_max_size: 413
--- more_headers
Authorization: Basic aGFyYm9yOnNlY3JldA==
--- request eval
"POST /hook\n" . ('{"type":"PUSH_ARTIFACT","x":"' . ('a' x 2000) . '"}')
--- error_code: 413
--- response_body
{"error":"payload larger than the limit"}
--- no_error_log
[error]



=== TEST 11: a body that is not JSON: 400 with where and why
--- more_headers
Authorization: Basic aGFyYm9yOnNlY3JldA==
--- request
POST /hook
{"type":"PUSH_ARTIFACT","event_data":{"resources":[
--- error_code: 400
--- response_body_like: ^\{"error":"invalid JSON at byte \d+: [a-z ,]+"\}$
--- error_log
harbor webhook: bad payload: invalid JSON at byte
--- no_error_log
[error]



=== TEST 12: a repository name outside the grammar is refused, not queued
--- more_headers
Authorization: Basic aGFyYm9yOnNlY3JldA==
--- request
POST /hook
{"type":"PUSH_ARTIFACT","occur_at":1700000000,"operator":"admin","event_data":{"resources":[{"digest":"sha256:1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef","tag":"v1","resource_url":"harbor.test/library/alpine:v1"}],"repository":{"repo_full_name":"Library/../alpine","repo_type":"public"}}}
--- error_code: 400
--- response_body
{"error":"invalid repository name"}
--- no_error_log
[error]



=== TEST 13: Redis not there: 503, so that Harbor delivers again
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_redis 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
harbor_redis_timeout 300ms;
--- config
location = /hook {
    harbor_webhook;
    harbor_webhook_auth off;
}
--- request eval
"POST /hook\n$::Push"
--- error_code: 503
--- response_body
{"error":"cannot queue the event now: redis unavailable"}
--- error_log
harbor webhook: event for "library/alpine" not queued
--- no_error_log
[alert]
[crit]



=== TEST 14: harbor_webhook without harbor_redis
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
--- config
location = /hook {
    harbor_webhook;
    harbor_webhook_auth off;
}
--- must_die
--- error_log
"harbor_webhook" needs "harbor_redis" in the http block



=== TEST 15: harbor_webhook without harbor_webhook_auth
--- config
location = /hook {
    harbor_webhook;
}
--- must_die
--- error_log
"harbor_webhook" needs "harbor_webhook_auth"



=== TEST 16: harbor_webhook_max_size 0
--- config
location = /hook {
    harbor_webhook;
    harbor_webhook_auth off;
    harbor_webhook_max_size 0;
}
--- must_die
--- error_log
"harbor_webhook_max_size" must not be 0



=== TEST 17: harbor_redis_timeout 0
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
harbor_redis_timeout 0;
--- must_die
--- error_log
"harbor_redis_timeout" must not be 0



=== TEST 18: harbor_redis given twice
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
harbor_redis 127.0.0.1:6379;
--- must_die
--- error_log
"harbor_redis" directive is duplicate



=== TEST 19: harbor_redis with an empty unix socket path
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_redis unix:;
--- must_die
--- error_log
"harbor_redis" directive has an empty unix socket path
