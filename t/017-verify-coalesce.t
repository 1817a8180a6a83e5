# harbor_verify_max_hashes: the blobs one worker hashes at a time.  The
# concurrent side (one hash for N parallel requests under "once", 503
# UNAVAILABLE or miss pass beyond the cap) needs parallel clients and is in
# tests/integration/t_verify_load.sh; here: the directive's values, and
# that a slot is given back after every outcome, so that with a cap of 1
# request after request (repeat_each, several per block) is still hashed
# and answered, never 503.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;
use Digest::SHA ();

our $S = HarborStore::build();

repeat_each(2);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: harbor_verify_max_hashes 0 is refused
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify_max_hashes 0;
--- must_die
--- error_log
value must be between 1 and 1024 in



=== TEST 2: harbor_verify_max_hashes that is not a number
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify_max_hashes many;
--- must_die
--- error_log
"harbor_verify_max_hashes" directive invalid number



=== TEST 3: harbor_verify_max_hashes above 1024
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify_max_hashes 1025;
--- must_die
--- error_log
value must be between 1 and 1024 in



=== TEST 4: always, cap 1: a good blob over 1 MiB, GET then HEAD then GET
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify always;
harbor_verify_max_hashes 1;
--- request eval
["GET /v2/library/alpine/blobs/" . ::D('big'),
 "HEAD /v2/library/alpine/blobs/" . ::D('big'),
 "GET /v2/library/alpine/blobs/" . ::D('big')]
--- error_code eval
[200, 200, 200]
--- response_body_filters eval
\&Digest::SHA::sha256_hex
--- response_body eval
[$::S->{b}{big}{hex}, Digest::SHA::sha256_hex(''), $::S->{b}{big}{hex}]
--- no_error_log
[error]
being hashed already



=== TEST 5: always, cap 1: a mismatch gives its slot back too
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify always;
harbor_verify_max_hashes 1;
--- request eval
["GET /v2/broken/repo/blobs/" . ::D('corrupt'),
 "HEAD /v2/broken/repo/blobs/" . ::D('corrupt')]
--- error_code eval
[404, 404]
--- response_body_like eval
[HarborTest::err('BLOB_UNKNOWN'), qr/\A\z/]
--- error_log eval
qr/harbor: digest mismatch in "\Q$::S->{b}{corrupt}{path}\E"/
--- no_error_log
being hashed already
[crit]



=== TEST 6: once, cap 1, set per location
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify once;
harbor_shm_size 4m;
--- config
location /v2/ {
    harbor_registry on;
    harbor_verify_max_hashes 1;
}
--- request eval
["GET /v2/library/alpine/blobs/" . ::D('k1'),
 "HEAD /v2/library/alpine/blobs/" . ::D('k1')]
--- error_code eval
[200, 200]
--- response_body eval
[$::S->{b}{k1}{body}, '']
--- no_error_log
[error]
being hashed already
