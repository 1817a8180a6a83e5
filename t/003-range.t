# Range requests on blobs: nginx's range filter answers them because the
# module sets allow_ranges on a file buffer.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;

our $S = HarborStore::build();

repeat_each(2);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: bytes=0-99
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('big')
--- more_headers
Range: bytes=0-99
--- error_code: 206
--- response_headers eval
"Content-Range: bytes 0-99/$::S->{b}{big}{size}
Content-Length: 100
Docker-Content-Digest: $::S->{b}{big}{digest}"
--- response_body eval: substr($::S->{b}{big}{body}, 0, 100)
--- no_error_log
[error]



=== TEST 2: bytes=1048576- (the tail past 1 MiB)
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('big')
--- more_headers
Range: bytes=1048576-
--- error_code: 206
--- response_headers eval
"Content-Range: bytes 1048576-" . ($::S->{b}{big}{size} - 1) . "/$::S->{b}{big}{size}
Content-Length: " . ($::S->{b}{big}{size} - 1048576)
--- response_body eval: substr($::S->{b}{big}{body}, 1048576)
--- no_error_log
[error]



=== TEST 3: suffix range bytes=-10
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('big')
--- more_headers
Range: bytes=-10
--- error_code: 206
--- response_headers eval
"Content-Range: bytes " . ($::S->{b}{big}{size} - 10) . "-" . ($::S->{b}{big}{size} - 1) . "/$::S->{b}{big}{size}"
--- response_body eval: substr($::S->{b}{big}{body}, -10)
--- no_error_log
[error]



=== TEST 4: a range in the middle, across the 1 MiB mark
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('big')
--- more_headers
Range: bytes=1048000-1049000
--- error_code: 206
--- response_headers
Content-Length: 1001
--- response_body eval: substr($::S->{b}{big}{body}, 1048000, 1001)
--- no_error_log
[error]



=== TEST 5: unsatisfiable range: 416 with bytes */size
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('big')
--- more_headers
Range: bytes=2000000-3000000
--- error_code: 416
--- response_headers eval
"Content-Range: bytes */$::S->{b}{big}{size}"
--- no_error_log
[error]



=== TEST 6: one byte of the small blob
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('small')
--- more_headers
Range: bytes=0-0
--- error_code: 206
--- response_headers eval
"Content-Range: bytes 0-0/$::S->{b}{small}{size}"
--- response_body eval: substr($::S->{b}{small}{body}, 0, 1)
--- no_error_log
[error]



=== TEST 7: If-Range with the ETag: the range is honoured
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('big')
--- more_headers eval
"Range: bytes=10-19\nIf-Range: \"" . ::D('big') . "\""
--- error_code: 206
--- response_body eval: substr($::S->{b}{big}{body}, 10, 10)
--- no_error_log
[error]



=== TEST 8: If-Range with another ETag: the whole blob
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('small')
--- more_headers
Range: bytes=0-3
If-Range: "sha256:0000000000000000000000000000000000000000000000000000000000000000"
--- error_code: 200
--- response_body eval: $::S->{b}{small}{body}
--- no_error_log
[error]



=== TEST 9: Range on a blob another repository owns is still 404
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('secret')
--- more_headers
Range: bytes=0-3
--- error_code: 404
--- response_body_like eval: HarborTest::err('BLOB_UNKNOWN')
--- no_error_log
[error]
