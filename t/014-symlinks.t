# Symlinks in place of data files.  The store never holds symlinks, so the
# module refuses every symlink below harbor_root, whatever disable_symlinks
# says (as "disable_symlinks on from=<harbor_root>", or stricter if the
# location says so: docs/architecture.md); a refused symlink is logged at
# [error] (the store is damaged, a client cannot cause it).  A symlink to
# /etc/passwd is never served.  harbor_verify off isolates the symlink rule
# from hashing.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;

our $S = HarborStore::build();

repeat_each(2);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: disable_symlinks on: a symlinked data file is 404
--- config
location /v2/ {
    harbor_registry on;
    harbor_verify off;
    disable_symlinks on;
}
--- request eval
"GET /v2/sym/repo/blobs/" . ::D('sym_root')
--- error_code: 404
--- response_body_like eval: HarborTest::err('BLOB_UNKNOWN')
--- error_log eval
qr/\Q$::S->{b}{sym_root}{hex}\E\/data/



=== TEST 2: disable_symlinks on: the /etc/passwd symlink is 404
--- config
location /v2/ {
    harbor_registry on;
    harbor_verify off;
    disable_symlinks on;
}
--- request eval
"GET /v2/sym/repo/blobs/" . ::D('sym_passwd')
--- error_code: 404
--- response_body_like eval: HarborTest::err('BLOB_UNKNOWN')
--- error_log eval
qr/\Q$::S->{b}{sym_passwd}{hex}\E\/data/



=== TEST 3: disable_symlinks on: regular files are still served
--- config
location /v2/ {
    harbor_registry on;
    harbor_verify off;
    disable_symlinks on;
}
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('small')
--- response_body eval: $::S->{b}{small}{body}
--- no_error_log
[error]



=== TEST 4: if_not_owner: even a link owned like its target is refused
--- config
location /v2/ {
    harbor_registry on;
    harbor_verify off;
    disable_symlinks if_not_owner;
}
--- request eval
"GET /v2/sym/repo/blobs/" . ::D('sym_root')
--- error_code: 404
--- response_body_like eval: HarborTest::err('BLOB_UNKNOWN')
--- error_log eval
qr/\Q$::S->{b}{sym_root}{hex}\E\/data/



=== TEST 5: if_not_owner: a link owned by another user is 404
--- config
location /v2/ {
    harbor_registry on;
    harbor_verify off;
    disable_symlinks if_not_owner;
}
--- request eval
"GET /v2/sym/repo/blobs/" . ::D('sym_nobody')
--- error_code: 404
--- response_body_like eval: HarborTest::err('BLOB_UNKNOWN')
--- error_log eval
qr/\Q$::S->{b}{sym_nobody}{hex}\E\/data/



=== TEST 6: if_not_owner: the /etc/passwd link (owned by nobody) is 404
--- config
location /v2/ {
    harbor_registry on;
    harbor_verify off;
    disable_symlinks if_not_owner;
}
--- request eval
"GET /v2/sym/repo/blobs/" . ::D('sym_passwd')
--- error_code: 404
--- response_body_unlike: root:
--- error_log eval
qr/\Q$::S->{b}{sym_passwd}{hex}\E\/data/



=== TEST 7: disable_symlinks off (default), verify off: even a link inside the store is refused
--- config
location /v2/ {
    harbor_registry on;
    harbor_verify off;
}
--- request eval
"GET /v2/sym/repo/blobs/" . ::D('sym_root')
--- error_code: 404
--- response_body_like eval: HarborTest::err('BLOB_UNKNOWN')
--- error_log eval
qr/\Q$::S->{b}{sym_root}{hex}\E\/data/



=== TEST 8: default settings (verify once): /etc/passwd is 404 (refused or fails its digest)
--- request eval
"GET /v2/sym/repo/blobs/" . ::D('sym_passwd')
--- error_code: 404
--- response_body_like eval: HarborTest::err('BLOB_UNKNOWN')
--- error_log eval
qr/\Q$::S->{b}{sym_passwd}{hex}\E\/data/



=== TEST 9: disable_symlinks off, verify off: /etc/passwd is still never served
--- config
location /v2/ {
    harbor_registry on;
    harbor_verify off;
}
--- request eval
"GET /v2/sym/repo/blobs/" . ::D('sym_passwd')
--- error_code: 404
--- response_body_unlike: root:
--- error_log eval
qr/\Q$::S->{b}{sym_passwd}{hex}\E\/data/



=== TEST 10: ... nor through HEAD (no size leak)
--- config
location /v2/ {
    harbor_registry on;
    harbor_verify off;
}
--- request eval
"HEAD /v2/sym/repo/blobs/" . ::D('sym_passwd')
--- error_code: 404
--- response_body:
--- error_log eval
qr/\Q$::S->{b}{sym_passwd}{hex}\E\/data/
