# OCI 1.1 referrers: the index file served as it is, the artifactType
# filter, an empty index (never 404) when there are none, a broken file.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;

our $S = HarborStore::build();

our $EMPTY = '{"schemaVersion":2,"mediaType":'
             . '"application/vnd.oci.image.index.v1+json","manifests":[]}';

# A filtered answer: an OCI index holding exactly these descriptors (as the
# store wrote them), in the store's order, and no others.
sub filtered {
    my @keys = @_;
    my %want = map { $_ => 1 } @keys;
    my @in = grep { $want{$_} } @{ $::S->{referrers_order} };
    my $list = join ',', map { quotemeta $::S->{referrers_desc}{$_} } @in;
    return qr/\A\{(?=.*"schemaVersion":2)(?=.*"mediaType":"application\/vnd\.oci\.image\.index\.v1\+json").*"manifests":\[$list\].*\}\n?\z/s;
}

repeat_each(2);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: the index file, unfiltered, as it is
--- request eval
"GET /v2/library/alpine/referrers/" . ::D('amd64')
--- response_headers
Content-Type: application/vnd.oci.image.index.v1+json
Docker-Distribution-API-Version: registry/2.0
!OCI-Filters-Applied
--- response_body eval: $::S->{referrers}{amd64}
--- no_error_log
[error]



=== TEST 2: artifactType=application/spdx+json: the two SBOMs
--- request eval
"GET /v2/library/alpine/referrers/" . ::D('amd64') . "?artifactType=application/spdx%2Bjson"
--- response_headers
Content-Type: application/vnd.oci.image.index.v1+json
OCI-Filters-Applied: artifactType
--- response_body_like eval: ::filtered('sbom_a', 'sbom_b')
--- no_error_log
[error]



=== TEST 3: artifactType fully URL-encoded
--- request eval
"GET /v2/library/alpine/referrers/" . ::D('amd64') . "?artifactType=application%2Fspdx%2Bjson"
--- response_headers
OCI-Filters-Applied: artifactType
--- response_body_like eval: ::filtered('sbom_a', 'sbom_b')
--- no_error_log
[error]



=== TEST 4: the cosign signature, annotations kept
--- request eval
"GET /v2/library/alpine/referrers/" . ::D('amd64') . "?artifactType=application/vnd.dev.cosign.artifact.sig.v1%2Bjson"
--- response_headers
OCI-Filters-Applied: artifactType
--- response_body_like eval: ::filtered('sig')
--- no_error_log
[error]



=== TEST 5: artifactType taken from config.mediaType
--- request eval
"GET /v2/library/alpine/referrers/" . ::D('amd64') . "?artifactType=application/vnd.example.other.v1"
--- response_body_like eval: ::filtered('other')
--- no_error_log
[error]



=== TEST 6: an artifactType nobody has: empty manifests, filter header set
--- request eval
"GET /v2/library/alpine/referrers/" . ::D('amd64') . "?artifactType=application/x-none"
--- response_headers
OCI-Filters-Applied: artifactType
--- response_body_like eval: ::filtered()
--- no_error_log
[error]



=== TEST 7: a subject without referrers: empty index, 200
--- request eval
"GET /v2/library/alpine/referrers/" . ::D('index')
--- response_headers
Content-Type: application/vnd.oci.image.index.v1+json
--- response_body_like eval: HarborTest::jbody($::EMPTY)
--- no_error_log
[error]



=== TEST 8: an unknown repository: still an empty index, never 404
--- request eval
"GET /v2/no/such/repo/referrers/" . ::D('amd64')
--- error_code: 200
--- response_body_like eval: HarborTest::jbody($::EMPTY)
--- no_error_log
[error]



=== TEST 9: malformed digest: 400 DIGEST_INVALID
--- request
GET /v2/library/alpine/referrers/sha256:1234
--- error_code: 400
--- response_body_like eval: HarborTest::err('DIGEST_INVALID')
--- no_error_log
[error]



=== TEST 10: a broken index file without a filter is served as it is
--- request eval
"GET /v2/library/alpine/referrers/" . ::D('arm64')
--- response_body eval: $::S->{referrers}{arm64_broken}
--- no_error_log
[error]



=== TEST 11: a broken index file with a filter: 500 UNKNOWN, logged
--- request eval
"GET /v2/library/alpine/referrers/" . ::D('arm64') . "?artifactType=application/spdx%2Bjson"
--- error_code: 500
--- response_body_like eval: HarborTest::err('UNKNOWN')
--- error_log eval
qr/\Q$::S->{m}{arm64}{hex}\E\/index\.json/



=== TEST 12: HEAD: headers and no body
--- request eval
"HEAD /v2/library/alpine/referrers/" . ::D('amd64')
--- response_headers
Content-Type: application/vnd.oci.image.index.v1+json
--- response_body:
--- no_error_log
[error]



=== TEST 13: a well-formed sha512 subject: empty index
--- request eval
"GET /v2/library/alpine/referrers/sha512:" . ('ab' x 64)
--- response_body_like eval: HarborTest::jbody($::EMPTY)
--- no_error_log
[error]
