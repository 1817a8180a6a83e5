package HarborRedis;

# A real Redis for the t/*.t files of the events module: redis-server on
# 127.0.0.1 and a port picked here, no persistence, in a temporary
# directory; stopped and removed when the test file ends.
#
#     use HarborRedis;
#     HarborRedis::start();     # $ENV{TEST_NGINX_REDIS_PORT}
#     my @lines = HarborRedis::cmd('LRANGE', 'harbor:events', 0, -1);
#
# redis-server is one of the project's test dependencies
# (tests/tools/install-deps.sh): without it the file dies, it does not
# skip.

use strict;
use warnings;

use File::Temp ();
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes ();

our ($Pid, $Port, $Dir);

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1)
        or die "HarborRedis: cannot bind 127.0.0.1:0: $!\n";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub start {
    return $Port if $Pid;

    $Dir = File::Temp::tempdir('harbor-redis.XXXXXX', TMPDIR => 1,
                               CLEANUP => 1);
    $Port = free_port();

    $Pid = fork;
    die "HarborRedis: fork failed: $!\n" if !defined $Pid;

    if ($Pid == 0) {
        open STDOUT, '>', "$Dir/redis.log";
        open STDERR, '>&', \*STDOUT;
        exec 'redis-server', '--bind', '127.0.0.1', '--port', $Port,
             '--save', '', '--appendonly', 'no', '--dir', $Dir;
        POSIX::_exit(127);
    }

    my $until = Time::HiRes::time() + 5;
    while (Time::HiRes::time() < $until) {
        my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $Port, Proto => 'tcp');
        if ($c) {
            close $c;
            $ENV{TEST_NGINX_REDIS_PORT} = $Port;
            return $Port;
        }
        die "HarborRedis: redis-server exited (see $Dir/redis.log)\n"
            if waitpid($Pid, POSIX::WNOHANG()) == $Pid;
        Time::HiRes::sleep(0.02);
    }

    stop();
    die "HarborRedis: redis-server did not listen on 127.0.0.1:$Port\n";
}

# One command through redis-cli; its output lines.
sub cmd {
    my @args = map { quotemeta } @_;
    my @out = `redis-cli -h 127.0.0.1 -p $Port @args`;
    die "HarborRedis: redis-cli @_ failed (status $?)\n" if $? != 0;
    chomp @out;
    return @out;
}

sub stop {
    return if !$Pid;
    kill 'TERM', $Pid;
    waitpid $Pid, 0;
    undef $Pid;
}

END {
    # waitpid sets $?, which is the test file's exit status in an END
    local $?;
    stop();
}

1;
