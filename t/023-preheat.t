# harbor_preheat: the edge as a provider of Harbor's P2P preheat (the
# "Kraken" API) below a location's prefix, against a real Redis
# (t/lib/HarborRedis.pm).  GET <prefix>health after the Authorization
# check; POST <prefix>registry/notifications through the webhook's path,
# each target one "preheat" line; other paths 404; nginx -t refusals.
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
harbor_redis_queue harbor:t023;
harbor_redis_timeout 500ms;
_EOC_

$HarborTest::Config = <<'_EOC_';
location /preheat/ {
    harbor_preheat;
    harbor_webhook_auth "Bearer t0ken";
    harbor_webhook_max_size 1k;
}
location = /metrics {
    harbor_metrics;
}
_EOC_

# --- response_body_filters for a block that reads /metrics first and last:
# the first answer becomes "first", the last "accepted A refused R webhook W",
# the preheat (and webhook) deliveries counted in between
our %Seen;
sub deliveries {
    my $body = shift;
    my %n;
    while ($body =~ /^harbor_edge_(preheat|webhook)_requests_total\{result="(\w+)"\} (\d+)$/mg) {
        $n{"$1 $2"} = $3;
    }
    return $body if !%n;
    if (!%Seen) {
        %Seen = %n;
        return 'first';
    }
    my %d = map { $_ => $n{$_} - $Seen{$_} } keys %n;
    %Seen = ();
    return "accepted $d{'preheat accepted'} refused $d{'preheat refused'} "
           . "webhook " . ($d{'webhook accepted'} + $d{'webhook refused'});
}

our $Hex = '1234567890abcdef' x 4;
our $Event = '{"Events":[{"Id":"a1b2","TimeStamp":"2023-11-14T22:13:20.123456789Z","Action":"push","Target":{"MediaType":"application/vnd.docker.distribution.manifest.v2+json","Digest":"sha256:' . $Hex . '","Repository":"library/alpine","Url":"https://harbor.test/v2/library/alpine/manifests/sha256:' . $Hex . '","Tag":"3.19"},"Request":null,"Actor":null}]}';

repeat_each(2);
HarborTest::setup(extra => 2);
run_tests();

my @lines = HarborRedis::cmd('LRANGE', 'harbor:t023', '0', '-1');

ok((grep { $_ eq '{"kind":"preheat","repository":"library/alpine",'
                 . qq{"digest":"sha256:$::Hex","tag":"3.19",}
                 . '"occurred_at":1700000000,"source":"preheat"}' } @lines),
   "Redis holds the preheat line");
ok(!(grep { /"kind":"push"|other/ } @lines),
   "nothing refused was queued");

__DATA__

=== TEST 1: health with the credential
--- more_headers
Authorization: Bearer t0ken
Accept: application/json
--- request
GET /preheat/health
--- response_headers
Content-Type: application/json
--- response_body
{"status":"healthy"}
--- no_error_log
[error]



=== TEST 2: health without it: 401, as a webhook
--- request
GET /preheat/health
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="harbor-edge"



=== TEST 3: Harbor's notification: queued in Redis
--- more_headers
Authorization: Bearer t0ken
Content-Type: application/json
--- request eval
"POST /preheat/registry/notifications\n$::Event"
--- response_body
{"queued":1}
--- no_error_log
[error]
[warn]



=== TEST 4: harbor_edge_preheat_requests_total counts health checks and notifications, accepted and refused
--- request eval
["GET /metrics",
 "GET /preheat/health",
 "GET /preheat/health",
 "POST /preheat/registry/notifications\n$::Event",
 "GET /metrics"]
--- more_headers eval
["", "Authorization: Bearer t0ken", "", "Authorization: Bearer t0ken\nContent-Type: application/json", ""]
--- response_body_filters eval: \&::deliveries
--- error_code eval
[200, 200, 401, 200, 200]
--- response_body_like eval
[qr/\Afirst\z/, qr/healthy/, qr/Authorization/, qr/\A\{"queued":1\}\n?\z/,
 qr/\Aaccepted 2 refused 1 webhook 0\z/]



=== TEST 5: an Action other than push: 400, nothing queued
--- more_headers
Authorization: Bearer t0ken
--- request eval
my $e = $::Event;
$e =~ s/"push"/"pull"/;
$e =~ s{library/alpine}{library/other}g;
"POST /preheat/registry/notifications\n$e"
--- error_code: 400
--- response_body
{"error":"Action must be push"}



=== TEST 6: another path under the prefix: 404
--- more_headers
Authorization: Bearer t0ken
--- request
GET /preheat/registry/other
--- error_code: 404



=== TEST 7: the notifications path takes POST only
--- more_headers
Authorization: Bearer t0ken
--- request
GET /preheat/registry/notifications
--- error_code: 405
--- response_headers
Allow: POST



=== TEST 8: harbor_preheat in an exact location
--- config
location = /preheat/health {
    harbor_preheat;
    harbor_webhook_auth off;
}
--- must_die
--- error_log
"harbor_preheat" directive must be in a prefix location



=== TEST 9: harbor_preheat without harbor_webhook_auth
--- config
location /preheat/ {
    harbor_preheat;
}
--- must_die
--- error_log
"harbor_preheat" needs "harbor_webhook_auth"
