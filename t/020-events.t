# The read path's miss events: with harbor_redis, a manifest or blob the
# store lacks is queued for the replicator (harbor_redis_queue) under the
# store's name, repeats within a short window are coalesced, a Redis that
# is not there drops the event without delaying the answer, and without
# harbor_redis nothing is queued.  harbor_events_test_miss queues one as
# the read path would.  A real Redis (t/lib/HarborRedis.pm) takes them.
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
harbor_redis_queue harbor:t020;
_EOC_

$HarborTest::Config = <<'_EOC_';
location /v2/ {
    harbor_registry on;
    harbor_ns docker.io library;
}
location = /test_miss {
    harbor_events_test_miss;
}
location = /events {
    return 200 "queued $harbor_events_queued dropped $harbor_events_dropped coalesced $harbor_events_coalesced\n";
}
_EOC_

repeat_each(2);
HarborTest::setup(extra => 2);
run_tests();

# the lines as the replicator reads them
my @lines = HarborRedis::cmd('LRANGE', 'harbor:t020', '0', '-1');
my $d = 'sha256:' . ('2' x 64);

ok((grep { /^\{"kind":"miss","object":"blob","repository":"library\/alpine","reference":"\Q$d\E","occurred_at":\d+,"source":"edge"\}$/ } @lines),
   "Redis holds the blob miss, named as in the store");
ok((grep { /^\{"kind":"miss","object":"manifest","repository":"library\/alpine","reference":"nope-ns","occurred_at":\d+,"source":"edge"\}$/ } @lines),
   "a miss under ?ns= is queued with the store's name");

__DATA__

=== TEST 1: a blob miss is queued, and the client still gets its 404
--- request eval
"GET /v2/library/alpine/blobs/sha256:" . ('2' x 64)
--- error_code: 404
--- response_body_like eval: HarborTest::err('BLOB_UNKNOWN')
--- error_log eval
qr/harbor miss event(?: coalesced)?: "library\/alpine" "sha256:2{64}"/
--- no_error_log
[error]



=== TEST 2: under ?ns= the event names the repository in the store
--- request
GET /v2/alpine/manifests/nope-ns?ns=docker.io
--- error_code: 404
--- error_log eval
qr/harbor miss event(?: coalesced)?: "library\/alpine" "nope-ns"/
--- no_error_log
[error]



=== TEST 3: the same miss again at once is coalesced, not queued twice
--- request eval
["GET /v2/library/alpine/manifests/nope-twice", "GET /v2/library/alpine/manifests/nope-twice", "GET /events"]
--- error_code eval
[404, 404, 200]
--- response_body_like eval
[qr/MANIFEST_UNKNOWN/, qr/MANIFEST_UNKNOWN/, qr/^queued \d+ dropped 0 coalesced [1-9]\d*$/]
--- no_error_log
[error]



=== TEST 4: a hit queues nothing
--- request
GET /v2/library/alpine/manifests/latest
--- error_code: 200
--- no_error_log
[error]
harbor miss event



=== TEST 5: an invalid name is refused by the router, never queued
--- request
GET /v2/Library/alpine/manifests/nope
--- error_code: 400
--- no_error_log
[error]
harbor miss event



=== TEST 6: harbor_events_test_miss queues a miss as the read path would
--- request eval
"GET /test_miss?object=blob&repository=a/b/c&reference=sha256:" . ('3' x 64)
--- error_code: 204
--- error_log eval
qr/harbor miss event(?: coalesced)?: "a\/b\/c" "sha256:3{64}"/
--- no_error_log
[error]



=== TEST 7: the events module checks the grammars again: nothing to escape
--- request
GET /test_miss?object=manifest&repository=a/%22x&reference=v1
--- error_code: 204
--- error_log
harbor: miss event for an invalid name "a/%22x" or reference "v1" not queued
--- no_error_log
[error]
harbor miss event:



=== TEST 8: no harbor_redis: a miss queues nothing
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
--- config
location /v2/ {
    harbor_registry on;
}
--- request
GET /v2/library/alpine/manifests/nope-no-redis
--- error_code: 404
--- no_error_log
[error]
harbor miss event



=== TEST 9: Redis not there: the client still gets its 404 at once
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_redis 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
harbor_redis_timeout 300ms;
--- config
location /v2/ {
    harbor_registry on;
}
--- request
GET /v2/library/alpine/manifests/nope-down
--- error_code: 404
--- response_body_like eval: HarborTest::err('MANIFEST_UNKNOWN')
--- error_log eval
qr/harbor miss event(?: dropped| coalesced)?: "library\/alpine" "nope-down"/
--- no_error_log
[alert]
[crit]



=== TEST 10: harbor_events_test_miss and harbor_webhook in one location
--- config
location = /x {
    harbor_webhook;
    harbor_webhook_auth off;
    harbor_events_test_miss;
}
--- must_die
--- error_log
"harbor_events_test_miss" directive is duplicate



=== TEST 11: harbor_redis outside the http block
--- config
location /v2/ {
    harbor_registry on;
    harbor_redis 127.0.0.1:6379;
}
--- must_die
--- error_log
"harbor_redis" directive is not allowed here
