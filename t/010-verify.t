# Digest verification of blobs: off trusts the store, once remembers a
# verified file by (dev, inode, size, mtime, digest), always hashes every
# time.  A mismatch is never served: 404 and the error log names the file.
# Manifests are verified whatever harbor_verify says.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;
use Digest::SHA ();
use IO::Socket::INET ();

our $S = HarborStore::build();

# --- mutate_between: change the blob "mutable" in place after the first
# request of a block and put it back after the second.  "same-mtime" keeps
# size, inode and mtime (only ctime moves: the module keys its once-cache
# on ctime too, so the rewrite is still noticed); "new-mtime" moves mtime.
add_response_body_check(sub {
    my ($block, $body, $req_idx, $rep, $dry_run) = @_;
    my $mode = $block->mutate_between or return;
    my $path = $::S->{b}{mutable}{path};
    my $orig = substr $::S->{b}{mutable}{body}, 0, 1;
    open my $fh, '+<', $path or die "open $path: $!";
    binmode $fh;
    print $fh ($req_idx == 0 ? chr(ord($orig) ^ 0xff) : $orig);
    close $fh;
    my $t = $HarborStore::MTIME;
    $t += 1000 if $req_idx == 0 && $mode =~ /new-mtime/;
    utime $t, $t, $path;
});

# One GET outside the test's own requests (run from --- init), so that the
# block's request is the second one nginx sees for that blob.
sub warm {
    my ($path, $want) = @_;
    $want //= 200;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => server_port_for_client(),
                                     Proto => 'tcp', Timeout => 5)
        or die "warm: cannot connect: $!\n";
    print $sock "GET $path HTTP/1.1\r\nHost: localhost\r\n"
                . "Connection: close\r\n\r\n";
    local $/;
    my $resp = <$sock>;
    close $sock;
    die "warm: $path: no 200\n"
        if ($resp // '') !~ m{^HTTP/1\.1 $want };
}

our $MUT = "GET /v2/verify/repo/blobs/" . $S->{b}{mutable}{digest};

repeat_each(2);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: once (the default): a corrupted blob is 404, the log names the file
--- request eval
"GET /v2/broken/repo/blobs/" . ::D('corrupt')
--- error_code: 404
--- response_body_like eval: HarborTest::err('BLOB_UNKNOWN')
--- error_log eval
qr/harbor: digest mismatch in "\Q$::S->{b}{corrupt}{path}\E"/



=== TEST 2: once, explicit: HEAD of the corrupted blob is verified too
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify once;
--- request eval
"HEAD /v2/broken/repo/blobs/" . ::D('corrupt')
--- error_code: 404
--- response_body:
--- error_log eval
qr/harbor: digest mismatch in "\Q$::S->{b}{corrupt}{path}\E"/



=== TEST 3: once: a file that failed its hash is remembered, not hashed again per request
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify once;
harbor_shm_size 2m;
--- init
main::warm("/v2/broken/repo/blobs/" . main::D('corrupt'), 404);
--- request eval
"GET /v2/broken/repo/blobs/" . ::D('corrupt')
--- error_code: 404
--- response_body_like eval: HarborTest::err('BLOB_UNKNOWN')
--- error_log eval
qr/harbor: digest mismatch in "\Q$::S->{b}{corrupt}{path}\E", remembered from an earlier hash/



=== TEST 4: always: the corrupted blob is 404, logged
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify always;
--- request eval
"GET /v2/verify/repo/blobs/" . ::D('corrupt')
--- error_code: 404
--- response_body_like eval: HarborTest::err('BLOB_UNKNOWN')
--- error_log eval
qr/harbor: digest mismatch in "\Q$::S->{b}{corrupt}{path}\E"/



=== TEST 5: off: the store is trusted, the bytes are sent as stored
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify off;
--- request eval
"GET /v2/broken/repo/blobs/" . ::D('corrupt')
--- response_body eval: $::S->{b}{corrupt}{stored}
--- no_error_log
[error]



=== TEST 6: once: a good blob over 1 MiB passes
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify once;
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('big')
--- response_body_filters eval
\&Digest::SHA::sha256_hex
--- response_body eval: $::S->{b}{big}{hex}
--- no_error_log
[error]



=== TEST 7: always: a good blob over 1 MiB passes, HEAD too
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify always;
--- request eval
["GET /v2/library/alpine/blobs/" . ::D('big'),
 "HEAD /v2/library/alpine/blobs/" . ::D('big')]
--- error_code eval
[200, 200]
--- response_body_filters eval
\&Digest::SHA::sha256_hex
--- response_body eval
[$::S->{b}{big}{hex}, Digest::SHA::sha256_hex('')]
--- no_error_log
[error]



=== TEST 8: once: a verified file rewritten in place (size and mtime put back) is hashed again, never served
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify once;
--- mutate_between: same-mtime
--- request eval
[$::MUT, $::MUT]
--- error_code eval
[200, 404]
--- response_body_like eval
[qr/\A\Q$::S->{b}{mutable}{body}\E\z/, HarborTest::err('BLOB_UNKNOWN')]
--- no_error_log
[crit]
[alert]




=== TEST 9: once: a verified file whose mtime changed is hashed again and refused
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify once;
harbor_shm_size 2m;
--- mutate_between: new-mtime
--- request eval
[$::MUT, $::MUT]
--- error_code eval
[200, 404]
--- response_body_like eval
[qr/\A\Q$::S->{b}{mutable}{body}\E\z/, HarborTest::err('BLOB_UNKNOWN')]
--- no_error_log
[crit]
[alert]




=== TEST 10: always: the same in-place change is caught on the next request
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify always;
--- mutate_between: same-mtime
--- request eval
[$::MUT, $::MUT]
--- error_code eval
[200, 404]
--- response_body_like eval
[qr/\A\Q$::S->{b}{mutable}{body}\E\z/, HarborTest::err('BLOB_UNKNOWN')]
--- no_error_log
[crit]
[alert]




=== TEST 11: harbor_verify_thread_pool with a declared pool
--- main_config
load_module $TEST_NGINX_HARBOR_MODULE;
thread_pool harbor_hash threads=2;
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify always;
harbor_verify_thread_pool harbor_hash;
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('k1')
--- response_body eval: $::S->{b}{k1}{body}
--- no_error_log
[error]



=== TEST 12: harbor_verify_thread_pool default, not declared: created like aio threads does
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify always;
harbor_verify_thread_pool default;
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('small')
--- response_body eval: $::S->{b}{small}{body}
--- no_error_log
[error]



=== TEST 13: manifests are verified even with harbor_verify off
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify off;
--- request
GET /v2/broken/repo/manifests/corrupt
--- more_headers
Accept: application/vnd.oci.image.manifest.v1+json
--- error_code: 404
--- response_body_like eval: HarborTest::err('MANIFEST_UNKNOWN')
--- error_log
harbor: digest mismatch in "



=== TEST 14: verify set per location
--- config
location /v2/ {
    harbor_registry on;
    harbor_verify off;
}
location /v2/broken/ {
    harbor_registry on;
    harbor_verify always;
}
--- request eval
"GET /v2/broken/repo/blobs/" . ::D('corrupt')
--- error_code: 404
--- response_body_like eval: HarborTest::err('BLOB_UNKNOWN')
--- error_log eval
qr/harbor: digest mismatch in "\Q$::S->{b}{corrupt}{path}\E"/



=== TEST 15: once: the second request for a verified blob uses the cache
--- log_level: debug
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify once;
harbor_shm_size 3m;
--- init
main::warm("/v2/library/alpine/blobs/" . main::D('k1'));
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('k1')
--- response_body eval: $::S->{b}{k1}{body}
--- error_log
verified before
--- no_error_log
[error]



=== TEST 16: always: never from the cache
--- log_level: debug
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify always;
harbor_shm_size 3m;
--- init
main::warm("/v2/library/alpine/blobs/" . main::D('k1'));
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('k1')
--- response_body eval: $::S->{b}{k1}{body}
--- no_error_log
verified before
[error]
