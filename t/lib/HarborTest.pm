package HarborTest;

# Helpers shared by the t/*.t files: the default nginx config every block
# gets unless it brings its own, the test count (computed from the blocks
# with upstream Test::Nginx's counting rules, so `plan` stays exact when a
# block is added), and matchers for the JSON bodies.
#
#     use Test::Nginx::Socket;
#     use lib 't/lib';
#     use HarborStore;
#     use HarborTest;
#     our $S = HarborStore::build();
#     repeat_each(2);
#     HarborTest::setup();            # defaults + plan
#     run_tests();
#
# count_tests() follows upstream: a --- must_die block is one test, plus one
# per --- error_log / --- no_error_log pattern, checked against what nginx
# said when it refused to start.
#
# In *_eval sections (evaluated outside package main) use ::D('amd64') for
# a digest and $::S for the whole store.

use strict;
use warnings;

our $MainConfig = "load_module \$TEST_NGINX_HARBOR_MODULE;\n";
our $HttpConfig = "harbor_root \$TEST_NGINX_HARBOR_ROOT;\n";
our $Config = <<'_EOC_';
location /v2/ {
    harbor_registry on;
}
_EOC_

# Fill in the sections a block leaves out.
sub preprocess {
    my $block = shift;
    if (!defined $block->main_config) {
        $block->set_value('main_config', $MainConfig);
    } elsif ($block->main_config !~ /\bload_module\b/) {
        $block->set_value('main_config', $MainConfig . $block->main_config);
    }
    $block->set_value('http_config', $HttpConfig)
        if !defined $block->http_config;
    $block->set_value('config', $Config) if !defined $block->config;
}

sub count_lines {
    my $v = shift;
    return 0 if !defined $v;
    return scalar @$v if ref $v eq 'ARRAY';
    return 1 if ref $v;
    return scalar grep { /\S/ } split /\n+/, $v;
}

# Test::Nginx's count: per response, one for the status, one per
# response_headers(_like) line, one for response_body(_like), and one per
# error_log / no_error_log pattern; all of it repeat_each() times.
sub count_tests {
    my @blocks = @_;
    my $n = 0;
    for my $b (@blocks) {
        my $reqs = 1;
        if (ref $b->request eq 'ARRAY') {
            $reqs = @{ $b->request };
        } elsif (ref $b->pipelined_requests eq 'ARRAY') {
            $reqs = @{ $b->pipelined_requests };
        }
        my $hdr = $b->response_headers // $b->response_headers_like;
        my $per = 1 + ((defined $b->response_body
                        || defined $b->response_body_like
                        || defined $b->response_body_unlike) ? 1 : 0)
                  + count_lines($b->error_log)
                  + count_lines($b->no_error_log);
        $n += $reqs * $per;
        # header checks: one per line, of each response's own list
        if (ref $hdr eq 'ARRAY') {
            $n += count_lines($_) for @$hdr;
        } else {
            $n += $reqs * count_lines($hdr);
        }
    }
    return $n;
}

# extra => N: tests the file runs itself after run_tests()
sub setup {
    my %opt = @_;
    main::add_block_preprocessor(\&preprocess);
    main::plan(tests => main::repeat_each() * count_tests(main::blocks())
                        + ($opt{extra} // 0));
}

# A JSON body matched exactly, with or without a trailing newline (Go's
# encoder in distribution adds one; the spec does not require it).
sub jbody {
    my $json = shift;
    return qr/\A\Q$json\E\n?\z/;
}

# An OCI error body with this code (message free, detail optional).
sub err {
    my $code = shift;
    return qr/\A\{"errors":\[\{"code":"\Q$code\E","message":"[^"]*"
              (?:,"detail":(?:\{.*\}|"[^"]*"|null))?\}\]\}\n?\z/sx;
}

package main;

# digest of a manifest or blob of the fixture store by its key
sub D {
    my $k = shift;
    my $o = $::S->{m}{$k} // $::S->{b}{$k} // die "no fixture $k\n";
    return $o->{digest};
}

1;
