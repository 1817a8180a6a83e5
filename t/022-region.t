# A region of edges (docs/deploy.md, "A region of edges"): a blob miss goes
# to the sibling that owns its digest, chosen by nginx's own
# `hash $harbor_digest consistent`.  $harbor_digest must therefore be set
# before the content phase answers: in the named location a miss is passed
# to, when the upstream is picked.  Here the "siblings" are two servers of
# the same nginx that say who they are; a third address is dead (nothing
# listens, never marked down: each request whose digest it owns tries it),
# and proxy_next_upstream skips it.  Twelve digests over three owners: the
# odds that none is the dead one's are (2/3)^12, under 1%.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;

our $S = HarborStore::build();

$HarborTest::HttpConfig = <<'_EOC_';
harbor_root $TEST_NGINX_HARBOR_ROOT;

upstream region {
    hash $harbor_digest consistent;
    server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    server 127.0.0.1:$TEST_NGINX_RAND_PORT_2;
}

# the same two, and one that refuses connections
upstream region_dead {
    hash $harbor_digest consistent;
    server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    server 127.0.0.1:$TEST_NGINX_RAND_PORT_2;
    server 127.0.0.1:$TEST_NGINX_RAND_PORT_3 max_fails=0;
}

server {
    listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    location / {
        return 200 "sibling 1 $uri hop=$http_x_harbor_region_hop\n";
    }
}

server {
    listen 127.0.0.1:$TEST_NGINX_RAND_PORT_2;
    location / {
        return 200 "sibling 2 $uri hop=$http_x_harbor_region_hop\n";
    }
}
_EOC_

$HarborTest::Config = <<'_EOC_';
location /v2/ {
    harbor_registry on;
    harbor_miss_pass @show;
}
location /dead/v2/ {
    rewrite ^/dead(/v2/.*)$ $1 break;
    harbor_registry on;
    harbor_miss_pass @dead;
}
location /region/v2/ {
    rewrite ^/region(/v2/.*)$ $1 break;
    harbor_registry on;
    harbor_miss_pass @region;
}
location @show {
    return 200 "digest=$harbor_digest repo=$harbor_repository ref=$harbor_reference\n";
}
location @region {
    proxy_pass http://region;
    proxy_set_header X-Harbor-Region-Hop 1;
}
location @dead {
    proxy_pass http://region_dead;
    proxy_set_header X-Harbor-Region-Hop 1;
    proxy_connect_timeout 1s;
    proxy_next_upstream error timeout;
    add_header X-Upstream $upstream_addr always;
}
_EOC_

repeat_each(2);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: a blob miss: $harbor_digest is the digest in the named location
--- request
GET /v2/library/alpine/blobs/sha256:2222222222222222222222222222222222222222222222222222222222222222
--- response_body
digest=sha256:2222222222222222222222222222222222222222222222222222222222222222 repo=library/alpine ref=sha256:2222222222222222222222222222222222222222222222222222222222222222
--- no_error_log
[error]



=== TEST 2: a tag miss: no digest yet (the tag was not found), the name is
--- request
GET /v2/library/alpine/manifests/nope
--- response_body
digest= repo=library/alpine ref=nope
--- no_error_log
[error]



=== TEST 3: a blob miss proxied by the digest's hash, with the hop header
--- request eval
[ map { "GET /region/v2/$_/blobs/sha256:2222222222222222222222222222222222222222222222222222222222222222" }
  qw(library/alpine other/repo a/b/c) ]
--- response_body_like eval
[ map { qr{^sibling [12] /v2/\Q$_\E/blobs/sha256:2{64} hop=1$} }
  qw(library/alpine other/repo a/b/c) ]
--- no_error_log
[error]



=== TEST 4: a dead sibling is skipped: every digest gets an answer
--- request eval
[ map { sprintf "GET /dead/v2/library/alpine/blobs/sha256:%064x", $_ } 1 .. 12 ]
--- response_body_like eval
[ map { qr{^sibling [12] /v2/library/alpine/blobs/sha256:[0-9a-f]{64} hop=1$} } 1 .. 12 ]
