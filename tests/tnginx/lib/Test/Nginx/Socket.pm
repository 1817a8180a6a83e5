package Test::Nginx::Socket;

# A small runner for Test::Nginx-format test files (t/*.t).
#
# Upstream Test::Nginx lives on CPAN only; this machine has Debian's Perl
# with Test::Base.  This module implements the part of upstream
# Test::Nginx::Socket's interface our t/*.t files use, with upstream's
# semantics (section names, test counts per section, $TEST_NGINX_*
# expansion, servroot layout), so the same files run unchanged under
# upstream Test::Nginx when it is installed.
#
# Differences, on purpose:
#   - nginx is started with -e servroot/logs/error.log, so that its
#     startup errors are in the block's error log (upstream assumes an
#     nginx built with a relative error log path);
#   - nginx is restarted only when the generated nginx.conf changes
#     between blocks (upstream restarts for every block); the error log is
#     truncated at the start of every block that does not restart, so
#     --- error_log / --- no_error_log stay per block;
#   - the server listens on 127.0.0.1 only;
#   - master_process defaults to on (upstream: off);
#   - strings are compared with Test::More::is (no Test::LongString).
#
# Every sub here carries a prototype: "use Test::Base -Base" runs Spiffy's
# source filter, which injects "my $self = shift;" into subs without one.

use Test::Base -Base;

use POSIX ();
use Time::HiRes qw(sleep time);
use IO::Socket::INET ();
use IO::Select ();
use File::Path qw(make_path remove_tree);
use File::Spec ();
use List::Util qw(shuffle);

our $VERSION = '0.1';

our @EXPORT = qw(
    run_tests repeat_each no_shuffle log_level master_on master_off
    master_process_enabled workers worker_connections no_long_string
    add_block_preprocessor add_response_body_check add_cleanup_handler
    server_root html_dir server_port server_port_for_client server_addr
    server_name timeout no_root_location env_to_nginx bail_out
    config_preamble
);

our $RepeatEach        = 1;
our $NoShuffle         = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $LogLevel          = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $Master            = $ENV{TEST_NGINX_MASTER_PROCESS} || 'on';
our $Workers           = 1;
our $WorkerConnections = 64;
our $Timeout           = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $NginxBinary       = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $Verbose           = $ENV{TEST_NGINX_VERBOSE};
our $ServerAddr        = '127.0.0.1';
our $ServerName        = 'localhost';
our $NoRootLocation    = 0;
our $NoLongString      = 0;
our $ConfigPreamble    = '';
our @BlockPreprocessors;
our @ResponseBodyChecks;
our @CleanupHandlers;
our @EnvToNginx;

our ($ServerPort, $ListenAddr);

our $ServRoot = File::Spec->rel2abs($ENV{TEST_NGINX_SERVROOT} || 't/servroot');
our $LogDir     = "$ServRoot/logs";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $HtmlDir    = "$ServRoot/html";
our $ConfDir    = "$ServRoot/conf";
our $ConfFile   = "$ConfDir/nginx.conf";
our $PidFile    = "$LogDir/nginx.pid";

$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $NginxPid;          # the master we started, if running
our $PrevConfText;      # the nginx.conf it runs with
our $PrevConfig;        # the last block's expanded --- config
our $ErrLogPos = 0;
our $NginxVersion;

sub expand_env ($$);
sub build_conf ($$);
sub start_nginx ($$);
sub run_block ($);
sub run_one_repetition ($$);
sub build_requests ($);
sub make_request ($$$);
sub parse_more_headers ($);
sub send_raw ($$);
sub parse_response ($$);
sub decode_chunked ($);
sub indexed ($$$$);
sub check_response ($$$$$);
sub check_error_log ($$);
sub parse_header_spec ($);
sub write_user_files ($);
sub parse_time ($);

# ---- settings the .t files call -------------------------------------------

sub repeat_each (@) {
    $RepeatEach = shift if @_;
    return $RepeatEach;
}

sub no_shuffle () { $NoShuffle = 1; }
sub no_long_string () { $NoLongString = 1; }
sub no_root_location () { $NoRootLocation = 1; }
sub master_on () { $Master = 'on'; }
sub master_off () { $Master = 'off'; }

sub master_process_enabled (@) {
    $Master = shift() ? 'on' : 'off' if @_;
    return $Master;
}

sub log_level (@) {
    $LogLevel = shift if @_;
    return $LogLevel;
}

sub workers (@) {
    $Workers = shift if @_;
    return $Workers;
}

sub worker_connections (@) {
    $WorkerConnections = shift if @_;
    return $WorkerConnections;
}

sub timeout (@) {
    $Timeout = shift if @_;
    return $Timeout;
}

sub server_name (@) {
    $ServerName = shift if @_;
    return $ServerName;
}

sub server_addr (@) {
    $ServerAddr = shift if @_;
    return $ServerAddr;
}

sub config_preamble ($) { $ConfigPreamble = shift; }
sub server_root () { return $ServRoot; }
sub html_dir () { return $HtmlDir; }

sub server_port (@) {
    init_port();
    $ServerPort = shift if @_;
    return $ServerPort;
}

sub server_port_for_client (@) {
    return server_port(@_);
}

sub env_to_nginx (@) {
    for my $v (@_) {
        die "env_to_nginx: bad name $v\n" if $v !~ /^[A-Za-z_]\w*(=.*)?$/;
        push @EnvToNginx, $v;
    }
}

sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift; }
sub add_response_body_check ($) { push @ResponseBodyChecks, shift; }
sub add_cleanup_handler ($) { unshift @CleanupHandlers, shift; }

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# ---- port and environment ---------------------------------------------------

# A free port on 127.0.0.1: bind port 0 and ask the kernel which one it gave.
sub pick_port () {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1)
        or die "cannot bind 127.0.0.1:0: $!\n";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# TEST_NGINX_SERVER_PORT may be "PORT" or "127.0.0.1:PORT"; we always
# listen on 127.0.0.1 and the client port is TEST_NGINX_CLIENT_PORT or PORT.
sub init_port () {
    return if defined $ServerPort;
    my $v = $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT};
    if (defined $v && $v =~ /^(?:([\d.]+):)?(\d+)$/) {
        $ServerPort = $2;
        $ServerAddr = $1 if defined $1;
    } elsif (defined $v) {
        die "bad TEST_NGINX_SERVER_PORT \"$v\"\n";
    } else {
        $ServerPort = pick_port();
        $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort;
    }
    $ServerPort = $ENV{TEST_NGINX_CLIENT_PORT}
        if defined $ENV{TEST_NGINX_CLIENT_PORT}
           && $ENV{TEST_NGINX_CLIENT_PORT} =~ /^\d+$/;
    $ListenAddr = "$ServerAddr:$ServerPort";
}

# Upstream's rule: $TEST_NGINX_FOO is replaced by $ENV{TEST_NGINX_FOO};
# an unset variable is fatal.  $TEST_NGINX_RAND_PORT_N gets a free port.
my %RandPorts;

sub expand_env ($$) {
    my ($text, $name) = @_;
    return undef if !defined $text;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $v = $1;
        if ($v =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
            $RandPorts{$v} //= pick_port();
        } elsif (!defined $ENV{$v}) {
            bail_out("$name - No environment $v defined.\n");
        } else {
            $ENV{$v};
        }
    }ge;
    return $text;
}

sub parse_time ($) {
    my $t = shift;
    return undef if !defined $t;
    $t =~ s/^\s+|\s+$//g;
    return $1 / 1000 if $t =~ /^([\d.]+)ms$/;
    return $1 if $t =~ /^([\d.]+)s?$/;
    return $t;
}

sub nginx_version () {
    return $NginxVersion if defined $NginxVersion;
    my $out = `$NginxBinary -V 2>&1`;
    if ($? != 0 || $out !~ m{nginx/(\d+)\.(\d+)\.(\d+)}) {
        bail_out("cannot run \"$NginxBinary -V\": $out");
    }
    $NginxVersion = sprintf "%d.%03d%03d", $1, $2, $3;
    return $NginxVersion;
}

# ---- nginx.conf and the nginx process ----------------------------------------

sub build_conf ($$) {
    my ($block, $config) = @_;
    my $name = $block->name;

    my $main = expand_env($block->main_config // '', $name);
    my $http = expand_env($block->http_config // '', $name);
    my $post = expand_env($block->post_main_config // '', $name);
    my $level = $block->log_level // $LogLevel;
    $level =~ s/^\s+|\s+$//g;

    if ($ENV{TEST_NGINX_LOAD_MODULES}) {
        $main .= join '', map { "load_module $_;\n" }
                          grep { length } split /\s+/,
                          $ENV{TEST_NGINX_LOAD_MODULES};
    }

    my $env = join '', map { "env $_;\n" } @EnvToNginx;
    my $root = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_
    my $user = $> == 0 ? "user root;\n" : '';

    return <<"_EOC_";
worker_processes  $Workers;
daemon on;
master_process $Master;
error_log $ErrLogFile $level;
pid       $PidFile;
$env$user
$main

http {
    access_log $AccLogFile;
    default_type text/plain;
    keepalive_timeout  68;

$http

    server {
        listen          $ListenAddr;
        server_name     '$ServerName';
        client_max_body_size 30M;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

$root    }
}

$post

events {
    accept_mutex off;
    worker_connections  $WorkerConnections;
}
_EOC_
}

# The daemonized master is not our child: once it exits it may stay a zombie
# until init reaps it, and kill(0) still succeeds on a zombie.
sub is_running ($) {
    my $pid = shift;
    return 0 if !$pid || !kill(0, $pid);
    if (open my $st, '<', "/proc/$pid/stat") {
        my $line = <$st> // '';
        close $st;
        return 0 if $line =~ /^\d+ \(.*\) [ZX]/s;
    }
    return 1;
}

sub read_pid () {
    open my $in, '<', $PidFile or return undef;
    my $pid = <$in>;
    close $in;
    return undef if !defined $pid || $pid !~ /^(\d+)/;
    return $1;
}

# Stop the master we started (or one a crashed earlier run of this servroot
# left behind: its pid file is ours).  QUIT, then TERM, then KILL.
sub stop_nginx () {
    my $pid = $NginxPid // read_pid();
    undef $NginxPid;
    undef $PrevConfText;
    return if !is_running($pid);
    if (open my $c, '<', "/proc/$pid/cmdline") {
        my $cmd = <$c> // '';
        close $c;
        return if $cmd !~ /nginx/;
    }
    for my $sig ('QUIT', 'TERM', 'KILL') {
        kill $sig, $pid;
        my $until = time + ($sig eq 'KILL' ? 2 : $Timeout);
        while (time < $until) {
            return if !is_running($pid);
            sleep 0.01;
        }
    }
    warn "WARNING: nginx master $pid did not exit\n";
}

# Returns an error text or undef.
sub start_nginx ($$) {
    my ($block, $conf) = @_;

    stop_nginx();

    remove_tree($ConfDir, $LogDir, glob("$ServRoot/*_temp"));
    for my $d ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        make_path($d) if !-d $d;
    }
    if (!-e "$HtmlDir/index.html" && open my $idx, '>', "$HtmlDir/index.html") {
        print $idx '<html><head><title>It works!</title></head>'
                   . '<body>It works!</body></html>';
        close $idx;
    }

    open my $out, '>', $ConfFile or bail_out("cannot write $ConfFile: $!");
    print $out $conf;
    close $out;

    # -e: what nginx says before it has read error_log (a refused
    # directive, say) goes to the block's error log too, as with an nginx
    # built with a relative error log path, which upstream assumes
    my $errf = "$ServRoot/nginx-start.out";
    my $cmd = "$NginxBinary -p $ServRoot/ -e $ErrLogFile -c $ConfFile"
              . " >$errf 2>&1 </dev/null";
    warn "starting: $cmd\n" if $Verbose;
    system($cmd);
    my $status = $?;
    my $msg = '';
    if (open my $e, '<', $errf) {
        local $/;
        $msg = <$e> // '';
        close $e;
    }
    unlink $errf;
    if ($status != 0) {
        my $log = '';
        if (open my $e, '<', $ErrLogFile) {
            my @l = <$e>;
            close $e;
            $log = join '', grep { /\[(?:emerg|alert|crit)\]/ } @l;
        }
        return "nginx failed to start (status $status): $msg$log";
    }

    # The daemon writes the pid file after the parent has exited.
    my $until = time + 5;
    my $pid;
    while (time < $until) {
        $pid = read_pid();
        last if $pid;
        sleep 0.005;
    }
    return "nginx did not write $PidFile" if !$pid;
    $NginxPid = $pid;
    $PrevConfText = $conf;
    $ErrLogPos = 0;
    return undef;
}

sub cleanup () {
    for my $h (@CleanupHandlers) {
        $h->();
    }
    stop_nginx();
}

END {
    cleanup() if defined $NginxPid;
}

for my $sig (qw(INT TERM HUP)) {
    $SIG{$sig} = sub { cleanup(); POSIX::_exit(130); };
}

# ---- user files -------------------------------------------------------------

sub write_user_files ($) {
    my $block = shift;
    my $files = $block->user_files;
    return if !defined $files;

    if (!ref $files) {
        my @list;
        my ($fname, $date, $body);
        for my $line (split /^/, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+))?/) {
                push @list, [$fname, $body, $date] if defined $fname;
                ($fname, $date, $body) = ($1, $2, undef);
            } else {
                $body .= $line;
            }
        }
        push @list, [$fname, $body, $date] if defined $fname;
        $files = \@list;
    }

    for my $f (@$files) {
        my ($fname, $body, $date) = @$f;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        (my $dir = $path) =~ s{/[^/]*$}{};
        make_path($dir) if !-d $dir;
        $body = expand_env($body // '', $block->name);
        open my $out, '>', $path or bail_out("cannot write $path: $!");
        binmode $out;
        print $out $body;
        close $out;
        if ($date) {
            system('env', 'TZ=GMT', 'touch', '-t', $date, $path) == 0
                or bail_out("touch -t $date $path failed");
        }
    }
}

# ---- requests -------------------------------------------------------------

sub parse_more_headers ($) {
    my $in = shift // '';
    my ($out, $chunked) = ('', 0);
    for my $h (split /\n+/, $in) {
        next if $h =~ /^\s*#/ || $h !~ /\S/;
        my ($k, $v) = split /:\s*/, $h, 2;
        $v //= '';
        $chunked = 1 if lc $k eq 'transfer-encoding' && $v eq 'chunked';
        $out .= "$k: $v\r\n";
    }
    return ($out, $chunked);
}

# "METHOD [URL [VERSION]]\nbody" -> a complete HTTP/1.x request with Host
# and Connection added unless --- more_headers has them (upstream's rules).
sub make_request ($$$) {
    my ($req, $more, $conn) = @_;
    $req =~ s/^(?:\s*#[^\n]*\n|\s+)+//s;
    my ($first, $body) = split /\n/, $req, 2;
    $first =~ s/\r$//;
    my ($meth, $url, $ver) = split ' ', $first;
    bail_out("bad request line \"$first\"") if !defined $meth;
    $url //= '/';
    $ver //= 'HTTP/1.1';

    my ($hdr, $chunked) = parse_more_headers($more);
    my $len = '';
    if (defined $body && $body ne '' && !$chunked
        && $hdr !~ /(?:^|\n)Content-Length:/i)
    {
        $body =~ s/^\s+|\s+$//gs;
        $len = 'Content-Length: ' . length($body) . "\r\n";
    }
    my $h = '';
    $h .= "Host: $ServerName\r\n" if $hdr !~ /(?:^|\n)Host:/i;
    $h .= "Connection: $conn\r\n" if $hdr !~ /(?:^|\n)Connection/i;
    return "$meth $url $ver\r\n$h$hdr$len\r\n" . ($body // '');
}

# A list of [raw bytes, number of responses expected, is HEAD].
sub build_requests ($) {
    my $block = shift;
    my $more = $block->more_headers;
    my $hdr_for = sub {
        my $i = shift;
        return $more if !ref $more;
        bail_out($block->name . " - --- more_headers lacks data for"
                 . " request $i") if !defined $more->[$i];
        return $more->[$i];
    };

    if (defined $block->raw_request) {
        my $raw = $block->raw_request;
        $raw = join '', @$raw if ref $raw;
        return [[$raw, 1, $raw =~ /^\s*HEAD\s/ ? 1 : 0]];
    }

    if (my $p = $block->pipelined_requests) {
        bail_out($block->name . " - pipelined_requests must be an array")
            if ref $p ne 'ARRAY';
        my $raw = '';
        my @heads;
        for my $i (0 .. $#$p) {
            my $conn = $i == $#$p ? 'close' : 'keep-alive';
            $raw .= make_request($p->[$i], $hdr_for->($i), $conn);
            push @heads, $p->[$i] =~ /^\s*HEAD\s/ ? 1 : 0;
        }
        return [[$raw, scalar @$p, \@heads]];
    }

    my $req = $block->request;
    if (!defined $req && defined $block->request_eval) {
        $req = eval $block->request_eval;
        bail_out($block->name . " - request_eval: $@") if $@;
    }
    bail_out($block->name . " - request empty") if !defined $req;

    my @reqs = ref $req eq 'ARRAY' ? @$req : ($req);
    my @out;
    for my $i (0 .. $#reqs) {
        my $r = $reqs[$i];
        $r = join '', map { ref $_ ? $_->{value} : $_ } @$r if ref $r;
        my $raw = make_request($r, $hdr_for->($i), 'close');
        push @out, [$raw, 1, $raw =~ /^HEAD\s/ ? 1 : 0];
    }
    return \@out;
}

# Connect (retrying while nginx comes up), write everything, read to EOF.
sub send_raw ($$) {
    my ($raw, $timeout) = @_;
    local $SIG{PIPE} = 'IGNORE';

    my $sock;
    for my $try (1 .. 50) {
        $sock = IO::Socket::INET->new(PeerAddr => $ServerAddr,
                                      PeerPort => $ServerPort,
                                      Proto => 'tcp', Timeout => $timeout);
        last if $sock;
        sleep 0.02 * $try > 0.5 ? 0.5 : 0.02 * $try;
    }
    return (undef, "cannot connect to $ServerAddr:$ServerPort: $!")
        if !$sock;
    binmode $sock;

    my $sel = IO::Select->new($sock);
    my $off = 0;
    while ($off < length $raw) {
        if (!$sel->can_write($timeout)) {
            return (undef, "timeout writing the request");
        }
        my $n = syswrite($sock, $raw, length($raw) - $off, $off);
        if (!defined $n) {
            next if $!{EINTR} || $!{EAGAIN};
            last;   # the server may answer and close early (e.g. 400)
        }
        $off += $n;
    }

    my $resp = '';
    while (1) {
        if (!$sel->can_read($timeout)) {
            close $sock;
            return ($resp, "timeout reading the response (got "
                           . length($resp) . " bytes)");
        }
        my $n = sysread($sock, my $buf, 65536);
        if (!defined $n) {
            next if $!{EINTR} || $!{EAGAIN};
            last if $!{ECONNRESET};
            close $sock;
            return ($resp, "read failed: $!");
        }
        last if $n == 0;
        $resp .= $buf;
    }
    close $sock;
    return ($resp, undef);
}

sub decode_chunked ($) {
    my $raw = shift;
    my $out = '';
    while (1) {
        return (undef, "no chunk size line")
            if $raw !~ s/^[ \t]*([0-9A-Fa-f]+)[^\r\n]*\r\n//;
        my $size = hex $1;
        if ($size == 0) {
            # trailers, then the empty line
            while ($raw =~ s/^([^\r\n]*)\r\n//) {
                last if $1 eq '';
            }
            return ($out, undef, $raw);
        }
        return (undef, "chunk shorter than $size bytes")
            if length $raw < $size + 2;
        $out .= substr($raw, 0, $size);
        return (undef, "no CRLF after chunk data")
            if substr($raw, $size, 2) ne "\r\n";
        substr($raw, 0, $size + 2) = '';
    }
}

# Returns a hash: code, raw_headers, headers (list of [k, v]), body, left,
# err.
sub parse_response ($$) {
    my ($raw, $head) = @_;
    my %r = (code => undef, raw_headers => '', headers => [], body => '',
             left => '');
    my $i = index $raw, "\r\n\r\n";
    if ($i < 0) {
        $r{err} = "no complete response header in \"" . substr($raw, 0, 200)
                  . "\"";
        return \%r;
    }
    my $head_text = substr $raw, 0, $i + 2;
    my $rest = substr $raw, $i + 4;
    $r{raw_headers} = $head_text;
    my @lines = split /\r\n/, $head_text;
    my $status = shift @lines;
    ($r{code}) = $status =~ m{^HTTP/\d\.\d\s+(\d{3})\b};
    for my $l (@lines) {
        if ($l =~ /^([^:\s]+)\s*:\s*(.*?)\s*$/) {
            push @{ $r{headers} }, [$1, $2];
        }
    }
    my $hv = sub {
        my $k = lc shift;
        my @v = map { $_->[1] } grep { lc $_->[0] eq $k } @{ $r{headers} };
        return @v ? join(', ', @v) : undef;
    };
    my $code = $r{code} // 0;
    my $te = $hv->('transfer-encoding');
    my $len = $hv->('content-length');
    if ($head || $code == 304 || $code == 204 || $code < 200) {
        $r{left} = $rest;
    } elsif (defined $te && lc $te eq 'chunked') {
        my ($body, $err, $left) = decode_chunked($rest);
        $r{err} = "bad chunked body: $err" if $err;
        $r{body} = $body // '';
        $r{left} = $left // '';
    } elsif (defined $len && $len =~ /^\d+$/) {
        if (length $rest < $len) {
            $r{err} = "body truncated: $len expected, got " . length $rest;
            $r{body} = $rest;
        } else {
            $r{body} = substr $rest, 0, $len;
            $r{left} = substr $rest, $len;
        }
    } else {
        $r{body} = $rest;
    }
    $r{header} = $hv;
    return \%r;
}

# ---- checks ---------------------------------------------------------------

sub indexed ($$$$) {
    my ($name, $v, $idx, $need_array) = @_;
    if ($need_array) {
        return $v->[$idx] if ref $v eq 'ARRAY';
        bail_out("$name - You asked for many requests, the expected results"
                 . " should be arrays as well.");
    }
    return ref $v eq 'ARRAY' ? $v->[0] : $v;
}

sub parse_header_spec ($) {
    my $s = shift;
    my @h;
    for my $line (split /\n/, $s) {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        if ($line =~ s/^!\s*//) {
            push @h, [$line, undef];
        } else {
            my ($k, $v) = split /\s*:\s*/, $line, 2;
            push @h, [$k, $v // ''];
        }
    }
    return \@h;
}

sub check_response ($$$$$) {
    my ($block, $res, $idx, $rep, $need_array) = @_;
    my $name = $block->name;

    if (defined $block->error_code_like) {
        my $v = indexed($name, $block->error_code_like, $idx, $need_array);
        like($res->{code} // '', qr/$v/sm, "$name - status code ok");
    } else {
        my $v = defined $block->error_code
                ? indexed($name, $block->error_code, $idx, $need_array) : 200;
        $v =~ s/^\s+|\s+$//g;
        is($res->{code} // '', $v, "$name - status code ok");
    }

    if (defined $block->response_headers) {
        my $spec = indexed($name, $block->response_headers, $idx, $need_array);
        for my $h (@{ parse_header_spec($spec) }) {
            my ($k, $v) = @$h;
            if (!defined $v) {
                unlike($res->{raw_headers}, qr/^\s*\Q$k\E\s*:/msi,
                       "$name - header $k not present in the raw headers");
                next;
            }
            $v =~ s/\$ServerPort\b/$ServerPort/g;
            is($res->{header} ? $res->{header}->($k) // '' : '', $v,
               "$name - header $k ok");
        }
    } elsif (defined $block->response_headers_like) {
        my $spec = indexed($name, $block->response_headers_like, $idx,
                           $need_array);
        for my $h (@{ parse_header_spec($spec) }) {
            my ($k, $v) = @$h;
            $v //= '';
            like($res->{header} ? $res->{header}->($k) // '' : '',
                 qr/^$v$/, "$name - header $k like ok");
        }
    }

    my $body = $res->{body};
    if (defined(my $f = $block->response_body_filters)) {
        if (!ref $f) {
            $f =~ s/^\s+|\s+$//g;
            $f = [split /\s+/, $f];
        } elsif (ref $f ne 'ARRAY') {
            $f = [$f];
        }
        $f = $f->[$idx] if ref $f->[0] eq 'ARRAY';
        for my $one (@$f) {
            if (ref $one eq 'CODE') {
                $body = $one->($body);
                next;
            }
            require Digest::MD5;
            require Digest::SHA;
            my %by_name = (md5_hex => \&Digest::MD5::md5_hex,
                           sha1_hex => \&Digest::SHA::sha1_hex,
                           uc => sub { uc shift }, lc => sub { lc shift },
                           ucfirst => sub { ucfirst shift },
                           lcfirst => sub { lcfirst shift },
                           length => sub { length shift });
            bail_out("$name - unknown filter \"$one\" in"
                     . " --- response_body_filters") if !$by_name{$one};
            $body = $by_name{$one}->($body);
        }
    }

    if (defined $block->response_body || defined $block->response_body_eval) {
        my $exp;
        if (defined $block->response_body_eval) {
            $exp = eval indexed($name, $block->response_body_eval, $idx,
                                $need_array);
            warn $@ if $@;
        } else {
            $exp = indexed($name, $block->response_body, $idx, $need_array);
        }
        if (defined $exp && !ref $exp) {
            $exp =~ s/\$ServerPort\b/$ServerPort/g;
        }
        if (ref $exp) {
            like($body, $exp, "$name - response_body - like (repeated req"
                              . " $rep, req $idx)");
        } else {
            is($body, $exp, "$name - response_body - response is expected"
                            . " (repeated req $rep, req $idx)");
        }
    } elsif (defined $block->response_body_like
             || defined $block->response_body_unlike)
    {
        my $like = defined $block->response_body_like;
        my $pat = indexed($name, $like ? $block->response_body_like
                                       : $block->response_body_unlike,
                          $idx, $need_array);
        $pat =~ s/\$ServerPort\b/$ServerPort/g;
        my $summary = $body // '';
        $summary =~ s/\s+/ /g;
        $summary = substr($summary, 0, 200) . '...' if length $summary > 200;
        if ($like) {
            like($body, qr/$pat/s, "$name - response_body_like - response is"
                                   . " expected ($summary)");
        } else {
            unlike($body, qr/$pat/s, "$name - response_body_unlike -"
                                     . " response is expected ($summary)");
        }
    }

    for my $check (@ResponseBodyChecks) {
        $check->($block, $body, $idx, $rep, 0);
    }
}

# Lines the error log gained since the last call.
sub error_log_lines () {
    open my $in, '<', $ErrLogFile or return [];
    seek $in, $ErrLogPos, 0 if $ErrLogPos > 0;
    my @lines = <$in>;
    $ErrLogPos = tell $in;
    close $in;
    return \@lines;
}

sub pattern_list ($) {
    my $p = shift;
    return [$p] if ref $p eq 'Regexp';
    return [@$p] if ref $p eq 'ARRAY';
    chomp $p;
    return [split /\n+/, $p];
}

sub fmt ($) {
    my $s = shift;
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

sub check_error_log ($$) {
    my ($block, $rep) = @_;
    my $name = $block->name;

    # nginx logs (log phase) before it closes the connection, and we read
    # to EOF; a short pause still covers lines written by other events.
    sleep 0.01 if defined $block->error_log || defined $block->no_error_log;
    my $lines = error_log_lines();

    # As upstream: an [alert], [crit] or [emerg] nobody asked about (a
    # worker that died on a signal, say) is worth a warning.
    my $asked = join "\n", grep { defined && !ref } $block->error_log,
                                                   $block->no_error_log;
    for my $lvl (qw(alert crit emerg)) {
        next if index($asked, "[$lvl") >= 0;
        next if $lvl eq 'emerg' && defined $block->must_die;
        for my $l (grep { /\[$lvl\]/ } @$lines) {
            warn "WARNING: $name - " . fmt($l) . "\n";
        }
    }

    if (defined $block->error_log) {
        for my $pat (@{ pattern_list($block->error_log) }) {
            my $hit = grep { ref $pat ? $_ =~ $pat : index($_, $pat) >= 0 }
                      @$lines;
            ok($hit, "$name - pattern \"" . fmt($pat) . "\" "
                     . ($hit ? "matches a line" : "should match a line")
                     . " in error.log (req $rep)");
        }
    }
    if (defined $block->no_error_log) {
        for my $pat (@{ pattern_list($block->no_error_log) }) {
            my ($hit) = grep { ref $pat ? $_ =~ $pat : index($_, $pat) >= 0 }
                        @$lines;
            if (defined $hit) {
                fail("$name - pattern \"" . fmt($pat) . "\" should not match"
                     . " any line in error.log but matches line \""
                     . fmt($hit) . "\" (req $rep)");
            } else {
                pass("$name - pattern \"" . fmt($pat) . "\" does not match a"
                     . " line in error.log (req $rep)");
            }
        }
    }
}

# ---- the driver -----------------------------------------------------------

sub run_one_repetition ($$) {
    my ($block, $rep) = @_;
    my $name = $block->name;
    my $timeout = parse_time($block->timeout) // $Timeout;

    my $reqs = build_requests($block);
    my $nresp = 0;
    $nresp += $_->[1] for @$reqs;
    my $need_array = $nresp > 1;
    my $idx = 0;

    for my $r (@$reqs) {
        my ($raw, $n, $heads) = @$r;
        my ($resp, $err) = send_raw($raw, $timeout);
        diag("$name - $err") if $err;
        $resp //= '';
        for my $k (1 .. $n) {
            my $head = ref $heads ? $heads->[$k - 1] : $heads;
            my $res = parse_response($resp, $head);
            diag("$name - $res->{err}") if $res->{err} && !$err;
            if ($k == $n && length $res->{left} && $res->{left} =~ /\S/) {
                warn "WARNING: $name - unexpected extra bytes after the"
                     . " response: \"" . fmt(substr $res->{left}, 0, 100)
                     . "\"\n";
            }
            $resp = $res->{left};
            if (!defined $block->ignore_response) {
                check_response($block, $res, $idx, $rep, $need_array);
            }
            check_error_log($block, $rep);
            $idx++;
        }
    }
}

sub run_block ($) {
    my $block = shift;
    my $name = $block->name;

    my ($skip_n, $skip_reason);
    if (defined(my $s = $block->skip_nginx)) {
        $s =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)
               (?:\s*:\s*(.*))?\s*$/x
            or bail_out("$name - Invalid --- skip_nginx spec: $s");
        my $v = sprintf "%d.%03d%03d", $3, $4, $5;
        if (eval nginx_version() . " $2 $v") {
            ($skip_n, $skip_reason) = ($1, $6 || "nginx version $2 $3.$4.$5");
        }
    }
    if (defined(my $s = $block->skip_eval)) {
        $s =~ /^\s*(\d+)\s*:\s*(.*)/s
            or bail_out("$name - Invalid --- skip_eval spec: $s");
        my $n = $1;
        my $cond = eval $2;
        bail_out("$name - skip_eval: $@") if $@;
        ($skip_n, $skip_reason) = ($n, 'skip_eval') if $cond;
    }
    if (defined $skip_n) {
        SKIP: { skip("$name - $skip_reason", $skip_n * $RepeatEach); }
        return;
    }

    my $config = $block->config;
    if (defined $config) {
        $config = expand_env($config, $name);
        $PrevConfig = $config;
    } else {
        $config = $PrevConfig // '';
    }

    my $conf = build_conf($block, $config);
    write_user_files($block);

    # --- must_die: the configuration must be refused at startup, and
    # --- error_log / --- no_error_log are checked against what nginx said
    # (the error log, where -e sends its startup errors), as upstream does.
    if (defined $block->must_die) {
        for my $rep (0 .. $RepeatEach - 1) {
            my $err = start_nginx($block, $conf);
            if (defined $err) {
                pass("$name - die as expected");
                diag("$name - $err") if $Verbose;
            } else {
                fail("$name - nginx must die but it does not");
                stop_nginx();
            }
            $ErrLogPos = 0;
            check_error_log($block, $rep);
        }
        return;
    }

    if (!defined $PrevConfText || $conf ne $PrevConfText
        || !is_running($NginxPid))
    {
        if (my $err = start_nginx($block, $conf)) {
            fail("$name - $err");
            return;
        }
    } else {
        # Same nginx, same config: cut the log so the checks see this block.
        truncate $ErrLogFile, 0;
        $ErrLogPos = 0;
    }

    if (defined $block->init) {
        eval $block->init;
        bail_out("$name - init failed: $@") if $@;
    }

    for my $rep (0 .. $RepeatEach - 1) {
        run_one_repetition($block, $rep);
    }
}

sub run_tests () {
    init_port();
    nginx_version();
    $ENV{TEST_NGINX_SERVER_PORT} //= $ServerPort;

    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks if !$NoShuffle;

    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value('name', "$0 " . $block->name);
        run_block($block);
    }

    cleanup();
}

1;
