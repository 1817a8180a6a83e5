# A harbor_root that cannot be served: nginx starts (a store may appear
# later), the ping answers 503 so that health checks take the edge out,
# and every read is a store fault (500 with an [error] line naming the
# root), never a miss.  The [warn] at start and in "nginx -t", and wrong
# permissions (they need an unprivileged worker), are checked by
# tests/integration/t_store_faults.sh.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;

our $S = HarborStore::build();

repeat_each(1);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: a harbor_root that does not exist: ping 503, reads 500, each with an [error] line naming it
--- http_config
harbor_root /nonexistent/harbor-edge-store;
--- request eval
["GET /v2/", "GET /v2/library/alpine/manifests/latest",
 "GET /v2/_catalog", "HEAD /v2/"]
--- error_code eval
[503, 500, 500, 503]
--- response_body_like eval
[HarborTest::err('UNAVAILABLE'), HarborTest::err('UNKNOWN'),
 HarborTest::err('UNKNOWN'), qr/\A\z/]
--- error_log
harbor_root "/nonexistent/harbor-edge-store" failed (2: No such file or directory)



=== TEST 2: a harbor_root that is a file: ping 503, blobs 500
--- http_config
harbor_root /etc/hostname;
--- request eval
["GET /v2/", "GET /v2/library/alpine/blobs/" . ::D('small')]
--- error_code eval
[503, 500]
--- response_body_like eval
[HarborTest::err('UNAVAILABLE'), HarborTest::err('UNKNOWN')]
--- error_log
open() harbor_root "/etc/hostname" failed (20: Not a directory)



=== TEST 3: a usable root: no warning, ping 200
--- request
GET /v2/
--- error_code: 200
--- response_body_like eval: HarborTest::jbody('{}')
--- no_error_log
[error]
harbor_root
