# open_file_cache on: the worker's memo of link files and data-file keys
# (ngx_http_harbor_memo.c).  What it may and may not do:
#   - a GET sends no byte on a memo's key: a blob changed in place is still
#     404 at once, and a manifest is either its verified bytes or 404;
#   - a HEAD within open_file_cache_valid answers from what the worker saw
#     (as nginx answers a static file from its cached descriptor);
#   - a tag's current link is trusted for a second at most, whatever
#     open_file_cache_valid says;
#   - nothing missing is remembered: a layer linked after a 404 is served
#     by the very next request;
#   - a memo smaller than the requests (max=2) still answers right.
# Each block puts the shared fixture store back as it found it.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;
use File::Path qw(remove_tree);

our $S = HarborStore::build();

my $V2 = $S->{v2};
my $ALPINE = "$V2/repositories/library/alpine";
my $LATEST = "$ALPINE/_manifests/tags/latest/current/link";
my $VREPO = "$V2/repositories/verify/repo";
my $SMALL_LINK = "$VREPO/_layers/sha256/$S->{b}{small}{hex}";

# flip the first byte of a file in place, or put it back, keeping its mtime
sub flip {
    my ($path, $byte) = @_;
    open my $fh, '+<', $path or die "open $path: $!";
    binmode $fh;
    print $fh $byte;
    close $fh;
    utime $HarborStore::MTIME, $HarborStore::MTIME, $path;
}

# replace a link file as the replicator does: a new file renamed over it
sub relink {
    my ($path, $digest) = @_;
    open my $fh, '>', "$path.new" or die "open $path.new: $!";
    print $fh $digest;
    close $fh;
    rename "$path.new", $path or die "rename $path: $!";
}

# --- memo_step: what to do to the store after each response of a block
add_response_body_check(sub {
    my ($block, $body, $req_idx, $rep, $dry_run) = @_;
    my $step = $block->memo_step or return;
    my $last = (ref $block->request eq 'ARRAY')
               ? $#{ $block->request } : 0;

    if ($step eq 'blob') {
        my $b = $::S->{b}{mutable};
        flip($b->{path}, ($req_idx == 0) ? chr(ord(substr $b->{body}, 0, 1) ^ 1)
                                         : substr($b->{body}, 0, 1))
            if $req_idx == 0 || $req_idx == $last;

    } elsif ($step eq 'manifest') {
        my $m = $::S->{m}{mutable};
        flip($m->{path}, ($req_idx == 0) ? ' ' : substr($m->{body}, 0, 1))
            if $req_idx == 0 || $req_idx == $last;

    } elsif ($step eq 'tag') {
        if ($req_idx == 0) {
            relink($LATEST, $::S->{m}{arm64}{digest});
            # past the second a tag link may be trusted for
            select(undef, undef, undef, 2.2);
        } elsif ($req_idx == $last) {
            relink($LATEST, $::S->{m}{amd64}{digest});
            utime $HarborStore::MTIME, $HarborStore::MTIME, $LATEST;
        }

    } elsif ($step eq 'link') {
        if ($req_idx == 0) {
            $::S->link_layer('verify/repo', $::S->{b}{small}{digest});
        } elsif ($req_idx == $last) {
            remove_tree($SMALL_LINK);
        }
    }
});

$HarborTest::Config = <<'_EOC_';
open_file_cache max=100 inactive=60s;
open_file_cache_valid 60s;
location /v2/ {
    harbor_registry on;
}
_EOC_

our $MBLOB = "/v2/verify/repo/blobs/$S->{b}{mutable}{digest}";
our $MMAN = "/v2/verify/repo/manifests/mutable";
our $ACCEPT = "Accept: application/vnd.oci.image.manifest.v1+json";

repeat_each(1);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: a blob changed in place after its hash: a GET is 404 at once, a HEAD answers from the memo
--- memo_step: blob
--- request eval
["GET $::MBLOB", "HEAD $::MBLOB", "GET $::MBLOB"]
--- error_code eval
[200, 404, 404]
--- response_body_like eval
[qr/\A\Q$::S->{b}{mutable}{body}\E\z/, qr/\A\z/, HarborTest::err('BLOB_UNKNOWN')]
--- no_error_log
[crit]
[alert]



=== TEST 2: a manifest changed in place: a GET sends the bytes that were verified, never the new ones
--- memo_step: manifest
--- request eval
["GET $::MMAN", "GET $::MMAN", "HEAD $::MMAN"]
--- more_headers eval
[$::ACCEPT, $::ACCEPT, $::ACCEPT]
--- error_code eval
[200, 200, 200]
--- response_body eval
[$::S->{m}{mutable}{body}, $::S->{m}{mutable}{body}, '']
--- no_error_log
[error]



=== TEST 3: a tag moved by rename: seen after a second, though open_file_cache_valid is 60s
--- memo_step: tag
--- request eval
["HEAD /v2/library/alpine/manifests/latest",
 "HEAD /v2/library/alpine/manifests/latest",
 "GET /v2/library/alpine/manifests/latest"]
--- more_headers eval
[$::ACCEPT, $::ACCEPT, $::ACCEPT]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["Docker-Content-Digest: $::S->{m}{amd64}{digest}",
 "Docker-Content-Digest: $::S->{m}{arm64}{digest}",
 "Docker-Content-Digest: $::S->{m}{arm64}{digest}"]
--- no_error_log
[error]



=== TEST 4: a 404 is not remembered: a layer linked after it is served by the next request
--- memo_step: link
--- request eval
["HEAD /v2/verify/repo/blobs/$::S->{b}{small}{digest}",
 "HEAD /v2/verify/repo/blobs/$::S->{b}{small}{digest}",
 "GET /v2/verify/repo/blobs/$::S->{b}{small}{digest}"]
--- error_code eval
[404, 200, 200]
--- response_body eval
['', '', $::S->{b}{small}{body}]
--- no_error_log
[error]



=== TEST 5: a memo of two entries, many files: every answer right, twice over
--- config
open_file_cache max=2 inactive=60s;
open_file_cache_valid 60s;
location /v2/ {
    harbor_registry on;
}
--- request eval
my @r;
for (1, 2) {
    push @r, "HEAD /v2/library/alpine/manifests/latest",
             "GET /v2/library/alpine/manifests/arm64",
             "HEAD /v2/library/alpine/blobs/$::S->{b}{small}{digest}",
             "GET /v2/library/alpine/blobs/$::S->{b}{k1}{digest}",
             "HEAD /v2/library/alpine/manifests/$::S->{m}{amd64}{digest}";
}
\@r
--- more_headers
Accept: application/vnd.oci.image.manifest.v1+json
--- error_code eval
[(200) x 10]
--- response_headers eval
[("Docker-Content-Digest: $::S->{m}{amd64}{digest}",
  "Docker-Content-Digest: $::S->{m}{arm64}{digest}",
  "Docker-Content-Digest: $::S->{b}{small}{digest}",
  "Docker-Content-Digest: $::S->{b}{k1}{digest}",
  "Docker-Content-Digest: $::S->{m}{amd64}{digest}") x 2]
--- response_body eval
[('', $::S->{m}{arm64}{body}, '', $::S->{b}{k1}{body}, '') x 2]
--- no_error_log
[error]
[alert]
