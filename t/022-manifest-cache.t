# The verified-manifest cache: a manifest that matched its digest is
# remembered in the shared zone with its media type, keyed by (dev, inode,
# size, mtime, ctime, digest), so a repeat GET neither hashes nor scans it
# and a HEAD does not read it.  A hit answers exactly as the miss did; a
# file changed in place (even with its size and mtime put back) has
# another key and is hashed again, so it is never served from the cache.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;

our $S = HarborStore::build();

# --- mutate_between: change the manifest "mutable" in place after the
# first request of a block and put it back after the second, restoring its
# mtime each time: only ctime (and the bytes) tell the change.
add_response_body_check(sub {
    my ($block, $body, $req_idx, $rep, $dry_run) = @_;
    $block->mutate_between or return;
    my $path = $::S->{m}{mutable}{path};
    my $orig = substr $::S->{m}{mutable}{body}, 0, 1;
    open my $fh, '+<', $path or die "open $path: $!";
    binmode $fh;
    print $fh ($req_idx == 0 ? ' ' : $orig);
    close $fh;
    utime $HarborStore::MTIME, $HarborStore::MTIME, $path;
});

$HarborTest::Config = <<'_EOC_';
location /v2/ {
    harbor_registry on;
}
location = /metrics {
    harbor_metrics;
}
_EOC_

# --- response_body_filters for a block that reads /metrics first and last:
# the first answer becomes "first", the last "hashed N", N being how many
# hashes were counted in between (the zone outlives a block)
our $Hashes;
sub hashes {
    my $body = shift;
    $body =~ /^harbor_edge_verify_hashes_total (\d+)$/m or return $body;
    if (!defined $Hashes) {
        $Hashes = $1;
        return 'first';
    }
    my $n = $1 - $Hashes;
    undef $Hashes;
    return "hashed $n";
}

our $MUT = "/v2/verify/repo/manifests/mutable";
our $ACCEPT = "Accept: application/vnd.oci.image.manifest.v1+json";

repeat_each(2);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: by tag: the miss (first) and the hit (repeat) answer the same
--- request
GET /v2/library/alpine/manifests/latest
--- more_headers
Accept: application/vnd.oci.image.manifest.v1+json
--- response_headers eval
"Content-Type: application/vnd.oci.image.manifest.v1+json
Content-Length: $::S->{m}{amd64}{size}
Docker-Content-Digest: $::S->{m}{amd64}{digest}
ETag: \"$::S->{m}{amd64}{digest}\"
Docker-Distribution-API-Version: registry/2.0"
--- response_body eval: $::S->{m}{amd64}{body}
--- no_error_log
[error]



=== TEST 2: HEAD by digest, miss then hit: the same headers, no body
--- request eval
"HEAD /v2/library/alpine/manifests/" . ::D('index')
--- more_headers
Accept: application/vnd.oci.image.index.v1+json
--- response_headers eval
"Content-Type: application/vnd.oci.image.index.v1+json
Content-Length: $::S->{m}{index}{size}
Docker-Content-Digest: $::S->{m}{index}{digest}
ETag: \"$::S->{m}{index}{digest}\"
Docker-Distribution-API-Version: registry/2.0"
--- response_body:
--- no_error_log
[error]



=== TEST 3: a Docker manifest's remembered type is its own, for GET and HEAD
--- request eval
["GET /v2/a/b/c/manifests/v1",
 "HEAD /v2/a/b/c/manifests/v1",
 "GET /v2/a/b/c/manifests/" . ::D('docker')]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["Content-Type: application/vnd.docker.distribution.manifest.v2+json
Content-Length: $::S->{m}{docker}{size}",
"Content-Type: application/vnd.docker.distribution.manifest.v2+json
Content-Length: $::S->{m}{docker}{size}",
"Content-Type: application/vnd.docker.distribution.manifest.v2+json
Content-Length: $::S->{m}{docker}{size}"]
--- response_body eval
[$::S->{m}{docker}{body}, '', $::S->{m}{docker}{body}]
--- no_error_log
[error]



=== TEST 4: at most one hash for a manifest read by tag, by digest, GET and HEAD
--- request eval
["GET /metrics",
 "GET /v2/library/alpine/manifests/arm64",
 "HEAD /v2/library/alpine/manifests/arm64",
 "GET /v2/library/alpine/manifests/" . ::D('arm64'),
 "HEAD /v2/library/alpine/manifests/" . ::D('arm64'),
 "GET /v2/library/alpine/manifests/arm64",
 "GET /metrics"]
--- more_headers
Accept: application/vnd.oci.image.manifest.v1+json
--- response_body_filters eval: \&::hashes
--- error_code eval
[200, 200, 200, 200, 200, 200, 200]
--- response_body_like eval
[qr/\Afirst\z/,
 qr/\A\Q$::S->{m}{arm64}{body}\E\z/, qr/\A\z/,
 qr/\A\Q$::S->{m}{arm64}{body}\E\z/, qr/\A\z/,
 qr/\A\Q$::S->{m}{arm64}{body}\E\z/, qr/\Ahashed [01]\z/]
--- no_error_log
[error]



=== TEST 5: the Accept check applies to a hit too: OCI manifest, Docker-only Accept
--- request eval
["GET /v2/library/alpine/manifests/latest",
 "GET /v2/library/alpine/manifests/latest"]
--- more_headers eval
["Accept: application/vnd.oci.image.manifest.v1+json",
 "Accept: application/vnd.docker.distribution.manifest.v2+json"]
--- error_code eval
[200, 404]
--- response_body_like eval
[qr/\A\Q$::S->{m}{amd64}{body}\E\z/, HarborTest::err('MANIFEST_UNKNOWN')]
--- no_error_log
[error]



=== TEST 6: a manifest changed in place (size and mtime put back) is hashed again, never served
--- mutate_between: 1
--- request eval
["GET $::MUT", "GET $::MUT"]
--- more_headers eval
[$::ACCEPT, $::ACCEPT]
--- error_code eval
[200, 404]
--- response_body_like eval
[qr/\A\Q$::S->{m}{mutable}{body}\E\z/, HarborTest::err('MANIFEST_UNKNOWN')]
--- no_error_log
[crit]
[alert]



=== TEST 7: ... and so is a HEAD, which reads nothing on a hit
--- mutate_between: 1
--- request eval
["HEAD $::MUT", "HEAD $::MUT"]
--- more_headers eval
[$::ACCEPT, $::ACCEPT]
--- error_code eval
[200, 404]
--- response_body eval
['', '']
--- no_error_log
[crit]
[alert]
