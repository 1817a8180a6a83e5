# tags/list: sorted bytewise, only valid tags with a current/link, n/last
# pagination with a Link header, 404 for an unknown repository.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;

our $S = HarborStore::build();

sub tags_json {
    my ($name, @tags) = @_;
    return '{"name":"' . $name . '","tags":['
           . join(',', map { "\"$_\"" } @tags) . ']}';
}

our @ALPINE_TAGS = sort('latest', '3.19', 'arm64', 'multi', 'nomt',
                        'nomt-index', 'legacy',
                        'sha256-' . $S->{m}{amd64}{hex} . '.sig');

repeat_each(2);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: library/alpine, sorted bytewise
--- request
GET /v2/library/alpine/tags/list
--- response_headers
Content-Type: application/json; charset=utf-8
Docker-Distribution-API-Version: registry/2.0
!Link
--- response_body_like eval
HarborTest::jbody(::tags_json('library/alpine', @::ALPINE_TAGS))
--- no_error_log
[error]



=== TEST 2: all 153 tags without n; invalid names and tags without current/link left out
--- request
GET /v2/many/tags/tags/list
--- response_headers
!Link
--- response_body_like eval
HarborTest::jbody(::tags_json('many/tags', @{ $::S->{many_tags} }))
--- no_error_log
[error]



=== TEST 3: n=5: first page and a Link to the next
--- request
GET /v2/many/tags/tags/list?n=5
--- response_headers
Link: </v2/many/tags/tags/list?last=t002&n=5>; rel="next"
--- response_body_like eval
HarborTest::jbody(::tags_json('many/tags', 'A', '_under', 't000', 't001', 't002'))
--- no_error_log
[error]



=== TEST 4: n=3&last=t010
--- request
GET /v2/many/tags/tags/list?n=3&last=t010
--- response_headers
Link: </v2/many/tags/tags/list?last=t013&n=3>; rel="next"
--- response_body_like eval
HarborTest::jbody(::tags_json('many/tags', 't011', 't012', 't013'))
--- no_error_log
[error]



=== TEST 5: last only: everything after it
--- request
GET /v2/many/tags/tags/list?last=t147
--- response_headers
!Link
--- response_body_like eval
HarborTest::jbody(::tags_json('many/tags', 't148', 't149', 'v1.0-rc.1'))
--- no_error_log
[error]



=== TEST 6: n equal to what remains: no Link
--- request
GET /v2/many/tags/tags/list?last=t147&n=3
--- response_headers
!Link
--- response_body_like eval
HarborTest::jbody(::tags_json('many/tags', 't148', 't149', 'v1.0-rc.1'))
--- no_error_log
[error]



=== TEST 7: n=0: empty list, no Link
--- request
GET /v2/many/tags/tags/list?n=0
--- response_headers
!Link
--- response_body_like eval
HarborTest::jbody(::tags_json('many/tags'))
--- no_error_log
[error]



=== TEST 8: last after every tag: empty list
--- request
GET /v2/many/tags/tags/list?last=zzz
--- response_body_like eval
HarborTest::jbody(::tags_json('many/tags'))
--- no_error_log
[error]



=== TEST 9: nested repository a/b/c
--- request
GET /v2/a/b/c/tags/list
--- response_body_like eval
HarborTest::jbody(::tags_json('a/b/c', 'list', 'v1', 'v1-signed'))
--- no_error_log
[error]



=== TEST 10: unknown repository: 404 NAME_UNKNOWN
--- request
GET /v2/no/such/repo/tags/list
--- error_code: 404
--- response_body_like eval: HarborTest::err('NAME_UNKNOWN')
--- no_error_log
[error]



=== TEST 11: a directory with only _manifests is a repository for tags/list
--- request
GET /v2/onlymanifests/repo/tags/list
--- response_body_like eval
HarborTest::jbody(::tags_json('onlymanifests/repo'))
--- no_error_log
[error]



=== TEST 12: n=abc: 400 PAGINATION_NUMBER_INVALID
--- request
GET /v2/many/tags/tags/list?n=abc
--- error_code: 400
--- response_body_like eval: HarborTest::err('PAGINATION_NUMBER_INVALID')
--- no_error_log
[error]



=== TEST 13: n that overflows: 400 PAGINATION_NUMBER_INVALID
--- request
GET /v2/many/tags/tags/list?n=184467440737095516160
--- error_code: 400
--- response_body_like eval: HarborTest::err('PAGINATION_NUMBER_INVALID')
--- no_error_log
[error]



=== TEST 14: negative n: 400
--- request
GET /v2/many/tags/tags/list?n=-1
--- error_code: 400
--- response_body_like eval: HarborTest::err('PAGINATION_NUMBER_INVALID')
--- no_error_log
[error]



=== TEST 15: last that is not a tag: 400
--- request
GET /v2/many/tags/tags/list?last=-bad
--- error_code: 400
--- response_body_like: ^\{"errors":\[\{"code":"[A-Z_]+"
--- no_error_log
[error]



=== TEST 16: HEAD: headers, no body
--- request
HEAD /v2/library/alpine/tags/list
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body:
--- no_error_log
[error]



=== TEST 17: n with leading zeros is decimal
--- request
GET /v2/many/tags/tags/list?n=003
--- response_body_like eval
HarborTest::jbody(::tags_json('many/tags', 'A', '_under', 't000'))
--- no_error_log
[error]



=== TEST 18: a large n has no cap for tags: everything, no Link
--- request
GET /v2/many/tags/tags/list?n=1000000
--- response_headers
!Link
--- response_body_like eval
HarborTest::jbody(::tags_json('many/tags', @{ $::S->{many_tags} }))
--- no_error_log
[error]



=== TEST 19: last URL-encoded
--- request
GET /v2/many/tags/tags/list?last=t%30%31%30&n=2
--- response_body_like eval
HarborTest::jbody(::tags_json('many/tags', 't011', 't012'))
--- no_error_log
[error]
