package HarborStore;

# Builds the fixture store the t/*.t files serve: CNCF distribution's
# filesystem layout (docs/store.md) under ROOT/docker/registry/v2, the same
# bytes on every run, plus the broken and hostile pieces the edge must
# survive (corrupted data, garbage link files, a symlink to /etc/passwd, a
# blob linked only in another repository).
#
#     use lib 't/lib';
#     use HarborStore;
#     our $S = HarborStore::build();          # t/servroot-store by default
#     $S->{m}{amd64}{digest}, {size}, {body}, {media_type}
#     $S->{b}{big}{digest}, ...
#
# build() also sets $ENV{TEST_NGINX_HARBOR_ROOT} for the configs.  Plain
# Perl: Digest::SHA, JSON::PP and POSIX are core modules.

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use File::Path qw(make_path remove_tree);
use File::Spec ();
use JSON::PP ();
use POSIX ();

our $MTIME = 1700000000;    # every file gets this mtime: deterministic

my $json = JSON::PP->new->canonical(1);

sub new {
    my ($class, $root) = @_;
    $root = File::Spec->rel2abs($root);
    my $self = bless { root => $root,
                       v2 => "$root/docker/registry/v2",
                       b => {}, m => {}, repos => {} }, $class;
    return $self;
}

sub write_file {
    my ($self, $path, $bytes) = @_;
    return if $self->{dry};
    (my $dir = $path) =~ s{/[^/]+$}{};
    make_path($dir) if !-d $dir;
    open my $out, '>', $path or die "cannot write $path: $!\n";
    binmode $out;
    print $out $bytes;
    close $out or die "cannot write $path: $!\n";
    utime $MTIME, $MTIME, $path;
}

sub blob_path {
    my ($self, $digest) = @_;
    my ($alg, $hex) = split /:/, $digest, 2;
    return "$self->{v2}/blobs/$alg/" . substr($hex, 0, 2) . "/$hex/data";
}

sub repo_dir {
    my ($self, $repo) = @_;
    return "$self->{v2}/repositories/$repo";
}

# Store bytes as a blob; returns a descriptor-ish hash.
sub put_blob {
    my ($self, $bytes, $media_type) = @_;
    my $d = 'sha256:' . sha256_hex($bytes);
    $self->write_file($self->blob_path($d), $bytes);
    return { digest => $d, hex => substr($d, 7), size => length $bytes,
             body => $bytes, media_type => $media_type };
}

sub link_layer {
    my ($self, $repo, $digest, $content) = @_;
    my $hex = substr $digest, 7;
    $self->{repos}{$repo} = 1;
    $self->write_file($self->repo_dir($repo) . "/_layers/sha256/$hex/link",
                      $content // $digest);
}

sub link_revision {
    my ($self, $repo, $digest, $content) = @_;
    my $hex = substr $digest, 7;
    $self->write_file(
        $self->repo_dir($repo) . "/_manifests/revisions/sha256/$hex/link",
        $content // $digest);
}

sub tag {
    my ($self, $repo, $tag, $digest, $content) = @_;
    my $hex = substr $digest, 7;
    my $t = $self->repo_dir($repo) . "/_manifests/tags/$tag";
    $self->write_file("$t/index/sha256/$hex/link", $digest);
    $self->write_file("$t/current/link", $content // $digest);
}

sub desc {
    my ($b, %extra) = @_;
    return { mediaType => $b->{media_type}, digest => $b->{digest},
             size => $b->{size}, %extra };
}

# A manifest: stored as a blob, linked as a revision and as a layer (the
# write order of docs/store.md), optionally tagged.
sub put_manifest {
    my ($self, $repo, $body, $media_type, @tags) = @_;
    my $m = $self->put_blob($body, $media_type);
    $self->link_layer($repo, $m->{digest});
    $self->link_revision($repo, $m->{digest});
    $self->tag($repo, $_, $m->{digest}) for @tags;
    return $m;
}

# Deterministic pseudo-random bytes: a sha256 chain.
sub prng_bytes {
    my ($seed, $len) = @_;
    my $out = '';
    my $s = $seed;
    while (length $out < $len) {
        $s = Digest::SHA::sha256($s);
        $out .= $s;
    }
    return substr $out, 0, $len;
}

use constant {
    OCI_MANIFEST  => 'application/vnd.oci.image.manifest.v1+json',
    OCI_INDEX     => 'application/vnd.oci.image.index.v1+json',
    OCI_CONFIG    => 'application/vnd.oci.image.config.v1+json',
    OCI_LAYER     => 'application/vnd.oci.image.layer.v1.tar+gzip',
    OCI_EMPTY     => 'application/vnd.oci.empty.v1+json',
    DOCKER_V2     => 'application/vnd.docker.distribution.manifest.v2+json',
    DOCKER_LIST   =>
        'application/vnd.docker.distribution.manifest.list.v2+json',
    DOCKER_CONFIG => 'application/vnd.docker.container.image.v1+json',
    DOCKER_LAYER  => 'application/vnd.docker.image.rootfs.diff.tar.gzip',
    HELM_CONFIG   => 'application/vnd.cncf.helm.config.v1+json',
    HELM_CHART    => 'application/vnd.cncf.helm.chart.content.v1.tar+gzip',
    COSIGN_SIG    => 'application/vnd.dev.cosign.artifact.sig.v1+json',
    SPDX          => 'application/spdx+json',
    OTHER_TYPE    => 'application/vnd.example.other.v1',
    V1_SIGNED     =>
        'application/vnd.docker.distribution.manifest.v1+prettyjws',
};

sub oci_manifest {
    my ($config, $layers, %extra) = @_;
    return $json->encode({ schemaVersion => 2, mediaType => OCI_MANIFEST,
                           config => desc($config),
                           layers => [map { desc($_) } @$layers],
                           %extra });
}

# The store takes seconds to write on a slow disk, so it is written once:
# a stamp (the sha256 of this file) says the tree on disk is what this code
# builds, and then only the descriptions are computed.  A blob the verify
# tests change in place is checked too; anything odd means a full rebuild.
sub build {
    my ($root, %opt) = @_;
    $root //= $ENV{TEST_NGINX_HARBOR_STORE} // 't/servroot-store';
    my $stamp = stamp();
    my $s = HarborStore->new($root);
    if (!$opt{fresh} && open my $in, '<', "$s->{root}/.stamp") {
        my $have = <$in> // '';
        close $in;
        if ($have eq $stamp) {
            $s->{dry} = 1;
            $s->fill;
            delete $s->{dry};
            return $s if $s->intact;
        }
        $s = HarborStore->new($root);
    }
    remove_tree($s->{root}) if -d $s->{root};
    make_path($s->{v2});
    $s->fill;
    $s->write_file("$s->{root}/.stamp", $stamp);
    return $s;
}

sub stamp {
    my $me = $INC{'HarborStore.pm'} // __FILE__;
    open my $in, '<', $me or die "cannot read $me: $!\n";
    local $/;
    my $src = <$in>;
    close $in;
    return sha256_hex($src);
}

# Files the tests may touch are as built.
sub intact {
    my $s = shift;
    for my $k (qw(mutable big small)) {
        my $p = $s->blob_path($s->{b}{$k}{digest});
        open my $in, '<', $p or return 0;
        binmode $in;
        local $/;
        my $data = <$in>;
        close $in;
        return 0 if !defined $data || $data ne $s->{b}{$k}{body};
        my @st = stat $p;
        return 0 if $st[9] != $MTIME;
    }
    my $mm = $s->{m}{mutable};
    open my $in, '<', $s->blob_path($mm->{digest}) or return 0;
    binmode $in;
    my $data = do { local $/; <$in> };
    close $in;
    return 0 if !defined $data || $data ne $mm->{body};
    return -l $s->{b}{sym_passwd}{path} ? 1 : 0;
}

sub fill {
    my $s = shift;
    my ($bl, $m) = ($s->{b}, $s->{m});

    # --- blobs -------------------------------------------------------------
    $bl->{cfg_amd64} = $s->put_blob($json->encode({
        architecture => 'amd64', os => 'linux',
        rootfs => { type => 'layers', diff_ids => [] } }), OCI_CONFIG);
    $bl->{cfg_arm64} = $s->put_blob($json->encode({
        architecture => 'arm64', os => 'linux',
        rootfs => { type => 'layers', diff_ids => [] } }), OCI_CONFIG);
    $bl->{small} = $s->put_blob("harbor edge small layer\n", OCI_LAYER);
    $bl->{k1} = $s->put_blob(prng_bytes('k1', 1024), OCI_LAYER);
    # >= 1 MiB and not a round number, for Range tests
    $bl->{big} = $s->put_blob(prng_bytes('big', 1048576 + 4099), OCI_LAYER);
    $bl->{empty} = $s->put_blob('{}', OCI_EMPTY);
    $bl->{sigpayload} = $s->put_blob('{"critical":{}}',
        'application/vnd.dev.cosign.simplesigning.v1+json');
    $bl->{spdx_a} = $s->put_blob('{"spdxVersion":"SPDX-2.3","name":"a"}',
                                'application/spdx+json');
    $bl->{spdx_b} = $s->put_blob('{"spdxVersion":"SPDX-2.3","name":"b"}',
                                'application/spdx+json');

    # --- library/alpine: OCI manifests, an index, referrers ------------------
    my $r = 'library/alpine';
    $s->link_layer($r, $bl->{$_}{digest})
        for qw(cfg_amd64 cfg_arm64 small k1 big empty sigpayload spdx_a spdx_b);
    $m->{amd64} = $s->put_manifest($r,
        oci_manifest($bl->{cfg_amd64}, [$bl->{small}, $bl->{big}]),
        OCI_MANIFEST, 'latest', '3.19');
    $m->{arm64} = $s->put_manifest($r,
        oci_manifest($bl->{cfg_arm64}, [$bl->{k1}]), OCI_MANIFEST, 'arm64');
    $m->{index} = $s->put_manifest($r, $json->encode({
        schemaVersion => 2, mediaType => OCI_INDEX,
        manifests => [
            desc($m->{amd64}, platform => { architecture => 'amd64',
                                            os => 'linux' }),
            desc($m->{arm64}, platform => { architecture => 'arm64',
                                            os => 'linux' }) ] }),
        OCI_INDEX, 'multi');
    # no mediaType field: detected from the content (distribution 2.8)
    $m->{nomt} = $s->put_manifest($r, $json->encode({
        schemaVersion => 2, config => desc($bl->{cfg_amd64}),
        layers => [desc($bl->{small})] }), OCI_MANIFEST, 'nomt');
    $m->{nomt_index} = $s->put_manifest($r, $json->encode({
        schemaVersion => 2, manifests => [desc($m->{arm64})] }),
        OCI_INDEX, 'nomt-index');
    # linked through _layers only (distribution's legacy quirk)
    $m->{legacy} = $s->put_blob(oci_manifest($bl->{cfg_arm64}, [$bl->{small}],
                                  annotations => { legacy => 'yes' }),
                                OCI_MANIFEST);
    $s->link_layer($r, $m->{legacy}{digest});
    $s->tag($r, 'legacy', $m->{legacy}{digest});

    # referrers of amd64: a signature, two SBOMs, one other artifact
    my $subject = desc($m->{amd64});
    $m->{sig} = $s->put_manifest($r, oci_manifest($bl->{empty},
        [$bl->{sigpayload}], artifactType => COSIGN_SIG, subject => $subject,
        annotations => { 'dev.cosignproject.cosign/signature' => 'MEUCIQ' }),
        OCI_MANIFEST, 'sha256-' . $m->{amd64}{hex} . '.sig');
    $m->{sbom_a} = $s->put_manifest($r, oci_manifest($bl->{empty},
        [$bl->{spdx_a}], artifactType => SPDX, subject => $subject),
        OCI_MANIFEST);
    $m->{sbom_b} = $s->put_manifest($r, oci_manifest($bl->{empty},
        [$bl->{spdx_b}], artifactType => SPDX, subject => $subject),
        OCI_MANIFEST);
    # no artifactType: the config mediaType stands in (docs/store.md)
    $bl->{other_cfg} = $s->put_blob('{"other":true}', OTHER_TYPE);
    $s->link_layer($r, $bl->{other_cfg}{digest});
    $m->{other} = $s->put_manifest($r, oci_manifest($bl->{other_cfg},
        [$bl->{small}], subject => $subject), OCI_MANIFEST);

    my %atype = (sig => COSIGN_SIG, sbom_a => SPDX, sbom_b => SPDX,
                 other => OTHER_TYPE);
    my %annot = (sig => { 'dev.cosignproject.cosign/signature' => 'MEUCIQ' });
    my @keys = sort { $m->{$a}{digest} cmp $m->{$b}{digest} }
               qw(sig sbom_a sbom_b other);
    $s->{referrers_order} = \@keys;
    # Written the way docs/store.md shows it: compact, fields in order.
    my @descs = map {
        '{"mediaType":"' . OCI_MANIFEST . '","digest":"' . $m->{$_}{digest}
        . '","size":' . $m->{$_}{size} . ',"artifactType":"' . $atype{$_}
        . '"' . ($annot{$_} ? ',"annotations":' . $json->encode($annot{$_})
                            : '') . '}'
    } @keys;
    $s->{referrers_desc} = { map { $keys[$_] => $descs[$_] } 0 .. $#keys };
    my $ref_index = '{"schemaVersion":2,"mediaType":"' . OCI_INDEX
                    . '","manifests":[' . join(',', @descs) . ']}';
    $s->{referrers}{amd64} = $ref_index;
    $s->write_file($s->repo_dir($r) . "/_harbor/referrers/sha256/"
                   . $m->{amd64}{hex} . "/index.json", $ref_index);
    # a broken referrers file for arm64
    $s->{referrers}{arm64_broken} =
        '{"schemaVersion":2,"mediaType":"' . OCI_INDEX . '","manifests":[{"dig';
    $s->write_file($s->repo_dir($r) . "/_harbor/referrers/sha256/"
                   . $m->{arm64}{hex} . "/index.json",
                   $s->{referrers}{arm64_broken});

    # --- a/b/c: Docker types, schema 1; a/b: a repository above it -----------
    $r = 'a/b/c';
    $bl->{dcfg} = $s->put_blob('{"architecture":"amd64","os":"linux"}',
                              DOCKER_CONFIG);
    $bl->{dlayer} = $s->put_blob(prng_bytes('dlayer', 3000), DOCKER_LAYER);
    $s->link_layer($r, $bl->{$_}{digest}) for qw(dcfg dlayer);
    $m->{docker} = $s->put_manifest($r, $json->encode({
        schemaVersion => 2, mediaType => DOCKER_V2,
        config => desc($bl->{dcfg}), layers => [desc($bl->{dlayer})] }),
        DOCKER_V2, 'v1');
    $m->{docker_list} = $s->put_manifest($r, $json->encode({
        schemaVersion => 2, mediaType => DOCKER_LIST,
        manifests => [desc($m->{docker},
                           platform => { architecture => 'amd64',
                                         os => 'linux' })] }),
        DOCKER_LIST, 'list');
    $m->{schema1} = $s->put_manifest($r, $json->encode({
        schemaVersion => 1, name => 'a/b/c', tag => 'v1-signed',
        architecture => 'amd64',
        fsLayers => [{ blobSum => $bl->{dlayer}{digest} }],
        history => [{ v1Compatibility => '{}' }],
        signatures => [{ header => { alg => 'ES256' },
                         signature => 'c2ln', protected => 'cHJv' }] }),
        V1_SIGNED, 'v1-signed');

    $r = 'a/b';
    $s->link_layer($r, $bl->{$_}{digest}) for qw(cfg_amd64 small big);
    $s->put_manifest($r, $m->{amd64}{body}, OCI_MANIFEST, 'latest');

    # --- charts/mychart: a Helm chart --------------------------------------
    $r = 'charts/mychart';
    $bl->{helm_cfg} = $s->put_blob(
        '{"apiVersion":"v2","name":"mychart","version":"0.1.0"}',
        HELM_CONFIG);
    $bl->{helm_chart} = $s->put_blob(prng_bytes('chart', 700), HELM_CHART);
    $s->link_layer($r, $bl->{$_}{digest}) for qw(helm_cfg helm_chart);
    $m->{helm} = $s->put_manifest($r,
        oci_manifest($bl->{helm_cfg}, [$bl->{helm_chart}]), OCI_MANIFEST,
        '0.1.0');

    # --- many/tags: pagination ------------------------------------------------
    $r = 'many/tags';
    $s->link_layer($r, $bl->{$_}{digest}) for qw(cfg_arm64 k1);
    my @tags = ((map { sprintf 't%03d', $_ } 0 .. 149), 'A', '_under',
                'v1.0-rc.1');
    $m->{many} = $s->put_manifest($r, $m->{arm64}{body}, OCI_MANIFEST,
                                  @tags);
    $s->{many_tags} = [sort @tags];
    # not tags: an invalid name, a tag directory without current/link
    $s->write_file($s->repo_dir($r) . '/_manifests/tags/-bad/current/link',
                   $m->{many}{digest});
    make_path($s->repo_dir($r) . '/_manifests/tags/nolink/index')
        if !$s->{dry};
    # a tag being written: only the replicator's temporary exists so far
    $s->write_file($s->repo_dir($r)
                   . '/_manifests/tags/pending/current/link.tmp-4242-1',
                   $m->{many}{digest});

    # --- private/secret: a blob no other repository links ---------------------
    $r = 'private/secret';
    $bl->{secret} = $s->put_blob("top secret layer\n", OCI_LAYER);
    $s->link_layer($r, $bl->{$_}{digest}) for qw(cfg_amd64 secret);
    $m->{secret_manifest} = $s->put_manifest($r,
        oci_manifest($bl->{cfg_amd64}, [$bl->{secret}]), OCI_MANIFEST,
        'latest');

    # --- dockerhub/library/nginx: the ns mapping target -----------------------
    $r = 'dockerhub/library/nginx';
    $bl->{nginx_cfg} = $s->put_blob('{"architecture":"amd64","os":"linux",'
                                   . '"config":{"Cmd":["nginx"]}}',
                                   OCI_CONFIG);
    $bl->{nginx_layer} = $s->put_blob("nginx layer\n", OCI_LAYER);
    $s->link_layer($r, $bl->{$_}{digest}) for qw(nginx_cfg nginx_layer);
    $m->{nginx} = $s->put_manifest($r,
        oci_manifest($bl->{nginx_cfg}, [$bl->{nginx_layer}]), OCI_MANIFEST,
        'latest', '1.25');

    # --- broken/repo: bad links, corrupted and missing data ----------------
    $r = 'broken/repo';
    $s->link_layer($r, $bl->{$_}{digest}) for qw(cfg_amd64 small);
    my $good = $s->put_manifest($r, $m->{amd64}{body}, OCI_MANIFEST, 'good');
    $s->tag($r, 'garbage', $good->{digest}, "hello, I am not a digest");
    $s->tag($r, 'newline', $good->{digest}, "$good->{digest}\n");
    $s->tag($r, 'upper', $good->{digest}, 'sha256:' . uc $good->{hex});
    $s->tag($r, 'empty', $good->{digest}, '');
    # a link longer than any digest; a directory and a FIFO where a link
    # should be
    $s->tag($r, 'long', $good->{digest}, $good->{digest} x 3);
    for my $k (qw(dirlink fifo)) {
        my $t = $s->repo_dir($r) . "/_manifests/tags/$k/current";
        next if $s->{dry};
        make_path($k eq 'dirlink' ? "$t/link" : $t);
        POSIX::mkfifo("$t/link", 0644) or die "mkfifo $t/link: $!\n"
            if $k eq 'fifo';
    }
    # a tag naming a manifest the repository does not link
    $s->tag($r, 'dangling', $m->{arm64}{digest});
    # a manifest whose bytes changed after its digest was taken
    $m->{bad_manifest} = $s->put_manifest($r,
        oci_manifest($bl->{cfg_amd64}, [$bl->{small}],
                     annotations => { state => 'will be corrupted' }),
        OCI_MANIFEST, 'corrupt');
    (my $bad = $m->{bad_manifest}{body})
        =~ s/will be corrupted/WILL BE CORRUPTED/;
    $s->write_file($s->blob_path($m->{bad_manifest}{digest}), $bad);
    # a manifest linked but without data
    $m->{nodata} = { digest => 'sha256:' . sha256_hex('no data manifest') };
    $m->{nodata}{hex} = substr $m->{nodata}{digest}, 7;
    $s->link_revision($r, $m->{nodata}{digest});
    $s->tag($r, 'nodata', $m->{nodata}{digest});
    # a blob whose bytes changed after its digest was taken (same size)
    $bl->{corrupt} = $s->put_blob("this layer will be corrupted\n", OCI_LAYER);
    $s->write_file($s->blob_path($bl->{corrupt}{digest}),
                   "THIS layer will be corrupted\n");
    $bl->{corrupt}{stored} = "THIS layer will be corrupted\n";
    $bl->{corrupt}{path} = $s->blob_path($bl->{corrupt}{digest});
    $s->link_layer($r, $bl->{corrupt}{digest});
    # linked, no data file
    $bl->{missing} = { digest => 'sha256:' . sha256_hex("missing data\n") };
    $s->link_layer($r, $bl->{missing}{digest});
    # a layer link that holds another digest than its path says
    $bl->{mislinked} = $s->put_blob("mislinked layer\n", OCI_LAYER);
    $s->link_layer($r, $bl->{mislinked}{digest}, $bl->{small}{digest});
    # a layer link with a trailing newline
    $bl->{nl_linked} = $s->put_blob("newline linked layer\n", OCI_LAYER);
    $s->link_layer($r, $bl->{nl_linked}{digest}, "$bl->{nl_linked}{digest}\n");

    # --- verify/repo: a blob and a manifest the tests may change in place ----
    $r = 'verify/repo';
    $bl->{mutable} = $s->put_blob(prng_bytes('mutable', 70000), OCI_LAYER);
    $bl->{mutable}{path} = $s->blob_path($bl->{mutable}{digest});
    $s->link_layer($r, $bl->{mutable}{digest});
    $s->link_layer($r, $bl->{corrupt}{digest});
    $m->{mutable} = $s->put_manifest($r,
        oci_manifest($bl->{cfg_amd64}, [$bl->{mutable}]), OCI_MANIFEST,
        'mutable');
    $m->{mutable}{path} = $s->blob_path($m->{mutable}{digest});

    # --- sym/repo: symlinks in place of data files ---------------------------
    $r = 'sym/repo';
    my $outside = "$s->{v2}/_fixture/target.data";
    $s->write_file($outside, "symlink target inside the store\n");
    for my $k (qw(sym_root sym_nobody sym_passwd)) {
        my $d = 'sha256:' . sha256_hex("symlink blob $k");
        my $path = $s->blob_path($d);
        (my $dir = $path) =~ s{/data$}{};
        if (!$s->{dry}) {
            make_path($dir);
            symlink($k eq 'sym_passwd' ? '/etc/passwd' : $outside, $path)
                or die "symlink $path: $!\n";
            # nobody owns these links: disable_symlinks if_not_owner refuses
            POSIX::lchown(65534, 65534, $path)
                if $k ne 'sym_root' && $> == 0;
        }
        $bl->{$k} = { digest => $d, hex => substr($d, 7), path => $path };
        $s->link_layer($r, $d);
    }
    $bl->{sym_root}{body} = "symlink target inside the store\n";
    $bl->{sym_nobody}{body} = $bl->{sym_root}{body};

    # --- catalog corner cases --------------------------------------------
    # a manifests-only directory is not a repository for the catalog
    # an invalid path component with _layers under it: skipped
    if (!$s->{dry}) {
        make_path($s->repo_dir('onlymanifests/repo') . '/_manifests/tags');
        make_path($s->repo_dir('Bad_Upper') . '/_layers/sha256');
    }
    $s->{catalog} = [sort(keys %{ $s->{repos} })];

    $ENV{TEST_NGINX_HARBOR_ROOT} = $s->{root};
}

1;
