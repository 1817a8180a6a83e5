# A reload (SIGHUP to the master) keeps the shared zone: a blob verified
# before the reload is still known to the new workers (init_zone reuses the
# old zone's data), and the edge keeps answering.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;
use IO::Socket::INET ();
use Time::HiRes ();

our $S = HarborStore::build();

sub get {
    my $path = shift;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => server_port_for_client(),
                                     Proto => 'tcp', Timeout => 5)
        or die "get: cannot connect: $!\n";
    print $sock "GET $path HTTP/1.1\r\nHost: localhost\r\n"
                . "Connection: close\r\n\r\n";
    local $/;
    my $resp = <$sock>;
    close $sock;
    die "get: $path: no 200\n" if ($resp // '') !~ m{^HTTP/1\.1 200 };
}

# HUP the master, then wait until the old worker is gone, so the next
# request is served by a worker of the new cycle (dies otherwise: --- init
# failing bails out, so the reload itself is checked too).
sub reload {
    my $pidfile = server_root() . '/logs/nginx.pid';
    open my $in, '<', $pidfile or die "reload: $pidfile: $!\n";
    my ($pid) = <$in> =~ /(\d+)/;
    close $in;
    my @old = workers_of($pid);
    kill 'HUP', $pid or die "reload: kill HUP $pid: $!\n";
    for (1 .. 300) {
        Time::HiRes::sleep(0.01);
        my %now = map { $_ => 1 } workers_of($pid);
        return if %now && !grep { $now{$_} } @old;
    }
    die "reload: the old workers of $pid did not go away\n";
}

sub workers_of {
    my $ppid = shift;
    my @w;
    for my $st (glob '/proc/[0-9]*/stat') {
        open my $in, '<', $st or next;
        my $line = <$in> // '';
        close $in;
        push @w, $1 if $line =~ /^(\d+) \(nginx\) [RSD] (\d+)/ && $2 == $ppid;
    }
    return @w;
}

master_on();     # upstream Test::Nginx defaults to master_process off
repeat_each(2);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: verified before a reload, still verified after it
--- log_level: debug
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify once;
--- init
main::get("/v2/library/alpine/blobs/" . main::D('k1'));
main::reload();
--- request eval
"GET /v2/library/alpine/blobs/" . ::D('k1')
--- response_body eval: $::S->{b}{k1}{body}
--- error_log
verified before
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 2: after a reload every endpoint still answers
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify always;
--- init
main::reload();
--- request eval
["GET /v2/", "GET /v2/library/alpine/tags/list",
 "GET /v2/_catalog?n=1", "GET /v2/library/alpine/blobs/" . ::D('small')]
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
[qr/^\{\}/, qr/^\{"name":"library\/alpine"/, qr/^\{"repositories":\["a\/b"\]\}/,
 qr/\A\Q$::S->{b}{small}{body}\E\z/]
--- no_error_log
[error]
[alert]
[emerg]
