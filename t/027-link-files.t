# Link files of every wrong shape, read both ways: with open_file_cache off
# (one openat2(2) and one pread(2), no stat) and on (nginx's cache and its
# component walk).  Each is a miss, logged, never a hang or a 500: a link
# longer than any digest, an empty one, a directory and a FIFO where the
# link should be.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;

our $S = HarborStore::build();

our $OFC = <<'_EOC_';
open_file_cache max=100;
location /v2/ {
    harbor_registry on;
}
_EOC_

repeat_each(2);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: no open_file_cache: a link of 213 bytes is refused, and logged
--- request
GET /v2/broken/repo/manifests/long
--- error_code: 404
--- response_body_like eval: HarborTest::err('MANIFEST_UNKNOWN')
--- error_log
tags/long/current/link" has invalid size



=== TEST 2: no open_file_cache: an empty link is refused, and logged
--- request
GET /v2/broken/repo/manifests/empty
--- error_code: 404
--- response_body_like eval: HarborTest::err('MANIFEST_UNKNOWN')
--- error_log
tags/empty/current/link" has invalid size 0



=== TEST 3: no open_file_cache: a directory and a FIFO in place of a link are misses
--- request eval
["GET /v2/broken/repo/manifests/dirlink", "HEAD /v2/broken/repo/manifests/fifo",
 "GET /v2/broken/repo/manifests/fifo"]
--- error_code eval
[404, 404, 404]
--- no_error_log
[crit]
[alert]



=== TEST 4: open_file_cache: a link of 213 bytes is refused, and logged
--- config eval: $::OFC
--- request
GET /v2/broken/repo/manifests/long
--- error_code: 404
--- response_body_like eval: HarborTest::err('MANIFEST_UNKNOWN')
--- error_log
tags/long/current/link" has invalid size



=== TEST 5: open_file_cache: a directory and a FIFO in place of a link are misses
--- config eval: $::OFC
--- request eval
["GET /v2/broken/repo/manifests/dirlink", "HEAD /v2/broken/repo/manifests/fifo",
 "GET /v2/broken/repo/manifests/fifo", "GET /v2/broken/repo/manifests/good"]
--- more_headers
Accept: application/vnd.oci.image.manifest.v1+json
--- error_code eval
[404, 404, 404, 200]
--- no_error_log
[crit]
[alert]



=== TEST 6: no open_file_cache: a FIFO in place of a link fails its read, not its open
--- request
GET /v2/broken/repo/manifests/fifo
--- error_code: 404
--- error_log
tags/fifo/current/link" is not a regular file
