package HarborToken;

# Bearer tokens as Harbor's token service issues them, for the t/*.t
# files of harbor_auth: RS256 JWTs signed with a key whose self-signed
# certificate is what harbor_token_cert names.  The keys are made once per
# test file with the openssl command, in a temporary directory removed at
# the end; tokens are signed on the spot.
#
#     use HarborToken;
#     HarborToken::setup();     # $ENV{TEST_NGINX_TOKEN_CERT}, ..._KEY
#     $HarborTest::HttpConfig = $HarborToken::HttpConfig;
#     my $t = HarborToken::mint(access => [HarborToken::pull('a/b/c')]);
#     my $t = HarborToken::mint(exp => time - 300, key => 'other');
#
# mint() starts from the claims Harbor writes (iss harbor-token-issuer,
# aud harbor-registry, sub, iat, nbf, exp in an hour, access) and takes
# any of them, or undef to leave one out, as named arguments.

use strict;
use warnings;

use File::Temp ();
use JSON::PP ();
use MIME::Base64 ();

our $Dir;
our %Keys;

# the http{} lines of a server that checks these tokens
our $HttpConfig = <<'_EOC_';
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_token_realm https://harbor.test/service/token;
harbor_token_cert $TEST_NGINX_TOKEN_CERT;
_EOC_

my $json = JSON::PP->new->canonical(1);

sub run_openssl {
    my @cmd = ('openssl', @_);
    # its progress dots on stderr are noise in the test output
    system(join(' ', map { quotemeta } @cmd) . ' 2>/dev/null') == 0
        or die "HarborToken: \"@cmd\" failed (status $?)\n";
}

# A key and its certificate under $Dir: $Keys{$name} = [key, cert].
sub make_key {
    my $name = shift;
    my ($key, $cert) = ("$Dir/$name.key", "$Dir/$name.crt");
    run_openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256',
                '-days', '2', '-subj', "/CN=harbor-edge-test-$name",
                '-keyout', $key, '-out', $cert, '-batch');
    $Keys{$name} = [$key, $cert];
}

sub setup {
    return if $Dir;
    $Dir = File::Temp::tempdir('harbor-token.XXXXXX', TMPDIR => 1,
                               CLEANUP => 1);
    make_key('harbor');
    make_key('other');
    $ENV{TEST_NGINX_TOKEN_CERT} = $Keys{harbor}[1];
    $ENV{TEST_NGINX_TOKEN_KEY} = $Keys{harbor}[0];
    $ENV{TEST_NGINX_OTHER_KEY} = $Keys{other}[0];
}

sub b64url {
    my $s = MIME::Base64::encode_base64(shift, '');
    $s =~ tr{+/}{-_};
    $s =~ s/=+$//;
    return $s;
}

sub sign {
    my ($key, $input) = @_;
    my ($in, $sig) = ("$Dir/input", "$Dir/sig");
    open my $out, '>', $in or die "HarborToken: cannot write $in: $!\n";
    binmode $out;
    print $out $input;
    close $out;
    run_openssl('dgst', '-sha256', '-sign', $key, '-out', $sig, $in);
    open my $s, '<', $sig or die "HarborToken: cannot read $sig: $!\n";
    binmode $s;
    local $/;
    my $bytes = <$s>;
    close $s;
    return $bytes;
}

sub pull {
    my $name = shift;
    return { type => 'repository', name => $name, actions => ['pull'] };
}

sub mint {
    my %arg = @_;
    setup();
    my $now = time;
    my %claims = (iss => 'harbor-token-issuer', aud => 'harbor-registry',
                  sub => 'alice', iat => $now, nbf => $now - 10,
                  exp => $now + 3600, access => []);
    my $key = $Keys{ delete $arg{key} // 'harbor' }[0];
    for my $k (keys %arg) {
        if (defined $arg{$k}) {
            $claims{$k} = $arg{$k};
        } else {
            delete $claims{$k};
        }
    }
    my $input = b64url($json->encode({ alg => 'RS256', typ => 'JWT' }))
                . '.' . b64url($json->encode(\%claims));
    return $input . '.' . b64url(sign($key, $input));
}

1;
