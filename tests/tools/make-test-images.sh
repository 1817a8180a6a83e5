#!/usr/bin/env bash
# make-test-images.sh: the test images, built from nothing with Debian's tools
# (tar, gzip -n, jq, sha256sum, openssl) as an OCI image layout, and pushed
# with skopeo.  The same options give the same digests on every run.
#
#   make-test-images.sh --out DIR [--push HOST:PORT] [--ns NS]
#                       [--creds USER:PASS] [--tls-verify true|false]
#                       [--cert-dir DIR] [--big-kib N] [--accessories]
#                       [--quiet]
#
# The layout DIR/oci holds these refs (org.opencontainers.image.ref.name):
#   single     OCI image manifest, linux/amd64: the base layer and a layer
#              of BIG_KIB KiB (default 1024) of incompressible bytes
#   amd64      OCI image manifest, linux/amd64: base + a small amd64 layer
#   arm64      OCI image manifest, linux/arm64/v8: base + an arm64 layer
#   multiarch  OCI image index of amd64 and arm64, with platforms
#   chart      a Helm chart as OCI artifact (helm's config and layer types)
#   sig        a cosign-style signature of single (simplesigning layer,
#              dev.cosignproject.cosign/signature annotation)
#   sbom       an OCI referrer of single: artifactType application/spdx+json,
#              empty config, "subject" = single
# The base layer is the same in every image and every namespace (a blob
# shared across repositories); every other layer depends on NS, so two
# namespaces have distinct layers.
#
# --push HOST:PORT pushes, as NS/REPO:TAG (NS default "test"):
#   single:v1, single:latest     the OCI manifest (digests preserved)
#   multiarch:v1                 the OCI index and its children
#   chart:0.1.0                  the Helm-like artifact
#   docker-single:v1             single converted to Docker schema 2
#   docker-multiarch:v1          multiarch as a Docker manifest list
# and with --accessories also single:sha256-<hex>.sig (the signature tag
# cosign would push) and single:v1-sbom (the referrer).  Each pushed
# manifest is read back and compared with the layout.
#
# A layout built before in DIR with the same NS and BIG_KIB (DIR/stamp) is
# pushed as it is, not built again.
#
# Outputs: DIR/oci; DIR/refs.tsv (ref, mediaType, digest, size); DIR/blobs.tsv
# (digest, size, mediaType of every blob, the base layer first); with --push
# DIR/pushed.tsv (NS/REPO:TAG, mediaType, digest as the registry serves it).
set -euo pipefail

OUT='' PUSH='' NS=test CREDS='' TLS_VERIFY=false CERT_DIR='' BIG_KIB=1024
QUIET=0 ACC=0

die() {
    echo "make-test-images: $*" >&2
    exit 1
}

log() {
    [ "$QUIET" = 1 ] || echo "make-test-images: $*" >&2
}

while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT=$2; shift 2 ;;
        --push) PUSH=$2; shift 2 ;;
        --ns) NS=$2; shift 2 ;;
        --creds) CREDS=$2; shift 2 ;;
        --tls-verify) TLS_VERIFY=$2; shift 2 ;;
        --cert-dir) CERT_DIR=$2; shift 2 ;;
        --big-kib) BIG_KIB=$2; shift 2 ;;
        --accessories) ACC=1; shift ;;
        --quiet|-q) QUIET=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
                   exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
[ -n "$OUT" ] || die "--out DIR is required"
case "$BIG_KIB" in ''|*[!0-9]*) die "--big-kib takes a number" ;; esac
case "$NS" in ''|*[!a-z0-9._/-]*) die "--ns: lower-case name components" ;; esac
for t in tar gzip jq sha256sum openssl stat head; do
    command -v "$t" > /dev/null || die "$t is not installed (make deps)"
done
[ -z "$PUSH" ] || command -v skopeo > /dev/null \
    || die "skopeo is not installed (make deps)"

export LC_ALL=C TZ=UTC
umask 022
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
L=$OUT/oci
W=$OUT/work

# refdigest REF: a layout manifest's digest, from refs.tsv
refdigest() {
    awk -F'\t' -v r="$1" '$1 == r { print $3 }' "$OUT/refs.tsv"
}

# A layout built before by this script with the same NS and BIG_KIB is
# used again: a test may build a big image ahead, then push it in no time.
stamp="$NS $BIG_KIB $(sha256sum < "$0" | cut -d' ' -f1)"
if [ -s "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$stamp" ] \
   && [ -s "$L/index.json" ] && [ -s "$OUT/refs.tsv" ]
then
    log "layout $L: built before with the same options, used as it is"
else
    rm -rf "$L" "$W" "$OUT/stamp"
    mkdir -p "$L/blobs/sha256" "$W"
    printf '{"imageLayoutVersion":"1.0.0"}' > "$L/oci-layout"
    : > "$OUT/blobs.tsv"
    : > "$OUT/refs.tsv"
    : > "$W/index"

    MTIME='2024-01-01 00:00:00'
    CREATED='2024-01-01T00:00:00Z'
    OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
    OCI_INDEX=application/vnd.oci.image.index.v1+json
    OCI_CONFIG=application/vnd.oci.image.config.v1+json
    OCI_LAYER=application/vnd.oci.image.layer.v1.tar+gzip

    # blob FILE MEDIATYPE: store FILE in the layout, print its descriptor
    blob() {
        local hex size

        hex=$(sha256sum "$1" | cut -d' ' -f1)
        size=$(stat -c %s "$1")
        cp "$1" "$L/blobs/sha256/$hex"
        printf 'sha256:%s\t%s\t%s\n' "$hex" "$size" "$2" >> "$OUT/blobs.tsv"
        jq -cn --arg m "$2" --arg d "sha256:$hex" --argjson s "$size" \
            '{mediaType: $m, digest: $d, size: $s}'
    }

    # json_blob MEDIATYPE JSON: the compact JSON as a blob (no newline)
    json_blob() {
        jq -cj . <<< "$2" > "$W/json"
        blob "$W/json" "$1"
    }

    # layer NAME: DIR W/NAME as a reproducible tar.gz layer; print its
    # descriptor, and keep its diff_id in W/NAME.diffid
    layer() {
        tar --sort=name --mtime="$MTIME" --owner=0 --group=0 --numeric-owner \
            --mode='u+rwX,go+rX,go-w' --format=gnu -C "$W/$1" -cf "$W/$1.tar" .
        echo "sha256:$(sha256sum "$W/$1.tar" | cut -d' ' -f1)" > "$W/$1.diffid"
        gzip -n -9 -c "$W/$1.tar" > "$W/$1.tar.gz"
        blob "$W/$1.tar.gz" "$OCI_LAYER" > "$W/$1.desc"
    }

    # ref NAME DESCRIPTOR: name a manifest in index.json and refs.tsv
    ref() {
        jq -c --arg r "$1" \
            '. + {annotations: {"org.opencontainers.image.ref.name": $r}}' \
            <<< "$2" >> "$W/index"
        jq -r --arg r "$1" '[$r, .mediaType, .digest, (.size | tostring)]
                            | join("\t")' <<< "$2" >> "$OUT/refs.tsv"
    }

    # image ARCH VARIANT LAYER...: an image manifest; print its descriptor
    image() {
        local arch=$1 variant=$2 n layers diffids history cfg
        shift 2

        layers=$(for n in "$@"; do cat "$W/$n.desc"; done | jq -cs .)
        diffids=$(for n in "$@"; do cat "$W/$n.diffid"; done | jq -Rcs 'split("\n")[:-1]')
        history=$(printf '%s\n' "$@" | jq -Rc --arg c "$CREATED" \
            '{created: $c, created_by: ("make-test-images layer " + .)}' | jq -cs .)
        cfg=$(jq -cn --arg a "$arch" --arg v "$variant" --arg c "$CREATED" \
            --argjson d "$diffids" --argjson h "$history" --arg ns "$NS" '
            {created: $c, architecture: $a, os: "linux"}
            + (if $v != "" then {variant: $v} else {} end)
            + {config: {Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                        Cmd: ["/bin/hello"],
                        Labels: {"org.example.harbor-edge.ns": $ns}},
               rootfs: {type: "layers", diff_ids: $d}, history: $h}')
        cfg=$(json_blob "$OCI_CONFIG" "$cfg")
        json_blob "$OCI_MANIFEST" "$(jq -cn --arg m "$OCI_MANIFEST" \
            --argjson c "$cfg" --argjson l "$layers" --arg t "$CREATED" \
            '{schemaVersion: 2, mediaType: $m, config: $c, layers: $l,
              annotations: {"org.opencontainers.image.created": $t}}')"
    }

    # ------------------------------------------------------------------ layers

    # base: the same bytes whatever NS, first in blobs.tsv
    mkdir -p "$W/base/etc" "$W/base/bin"
    printf 'NAME="harbor-edge test image"\nID=harbor-edge-test\n' \
        > "$W/base/etc/os-release"
    printf '#!/bin/sh\necho hello from a harbor-edge test image\n' \
        > "$W/base/bin/hello"
    chmod 0755 "$W/base/bin/hello"
    layer base

    # big: BIG_KIB KiB of an AES-CTR keystream keyed by NS (incompressible,
    # reproducible, distinct per namespace)
    key=$(printf 'harbor-edge test layer %s' "$NS" | sha256sum | cut -c1-32)
    mkdir -p "$W/big/data"
    head -c $((BIG_KIB * 1024)) /dev/zero \
        | openssl enc -aes-128-ctr -nosalt -K "$key" \
              -iv 00000000000000000000000000000000 > "$W/big/data/random.bin"
    layer big

    for arch in amd64 arm64; do
        mkdir -p "$W/$arch/etc"
        printf 'namespace %s, built for linux/%s\n' "$NS" "$arch" \
            > "$W/$arch/etc/arch.txt"
        layer "$arch"
    done

    # ------------------------------------------------------------------ images

    SINGLE=$(image amd64 '' base big)
    ref single "$SINGLE"

    AMD=$(image amd64 '' base amd64)
    ARM=$(image arm64 v8 base arm64)
    P_AMD='{"architecture":"amd64","os":"linux"}'
    P_ARM='{"architecture":"arm64","os":"linux","variant":"v8"}'
    ref amd64 "$(jq -c --argjson p "$P_AMD" '. + {platform: $p}' <<< "$AMD")"
    ref arm64 "$(jq -c --argjson p "$P_ARM" '. + {platform: $p}' <<< "$ARM")"
    INDEX=$(json_blob "$OCI_INDEX" "$(jq -cn --arg m "$OCI_INDEX" \
        --argjson a "$AMD" --argjson b "$ARM" \
        --argjson pa "$P_AMD" --argjson pb "$P_ARM" \
        '{schemaVersion: 2, mediaType: $m,
          manifests: [$a + {platform: $pa}, $b + {platform: $pb}]}')")
    ref multiarch "$INDEX"

    # a Helm chart the way `helm push` stores it
    mkdir -p "$W/chart/mychart/templates"
    printf 'apiVersion: v2\nname: mychart\nversion: 0.1.0\ntype: application\n' \
        > "$W/chart/mychart/Chart.yaml"
    printf 'replicaCount: 1\nimage:\n  repository: %s/single\n  tag: v1\n' "$NS" \
        > "$W/chart/mychart/values.yaml"
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n' \
        > "$W/chart/mychart/templates/configmap.yaml"
    tar --sort=name --mtime="$MTIME" --owner=0 --group=0 --numeric-owner \
        --mode='u+rwX,go+rX,go-w' --format=gnu -C "$W/chart" -cf - mychart \
        | gzip -n -9 > "$W/mychart-0.1.0.tgz"
    CH_LAYER=$(blob "$W/mychart-0.1.0.tgz" \
        application/vnd.cncf.helm.chart.content.v1.tar+gzip)
    CH_CONFIG=$(json_blob application/vnd.cncf.helm.config.v1+json \
        '{"name":"mychart","version":"0.1.0","apiVersion":"v2","type":"application"}')
    CHART=$(json_blob "$OCI_MANIFEST" "$(jq -cn --arg m "$OCI_MANIFEST" \
        --argjson c "$CH_CONFIG" --argjson l "$CH_LAYER" --arg t "$CREATED" \
        '{schemaVersion: 2, mediaType: $m, config: $c, layers: [$l],
          annotations: {"org.opencontainers.image.created": $t}}')")
    ref chart "$CHART"

    # a cosign-style signature of single: what `cosign sign` pushes to the tag
    # sha256-<hex>.sig (the signature itself is not a real one)
    sdg=$(jq -r .digest <<< "$SINGLE")
    jq -cn --arg r "registry.example/$NS/single" --arg d "$sdg" \
        '{critical: {identity: {"docker-reference": $r},
                     image: {"docker-manifest-digest": $d},
                     type: "cosign container image signature"},
          optional: null}' | jq -cj . > "$W/payload"
    SIG_LAYER=$(blob "$W/payload" application/vnd.dev.cosign.simplesigning.v1+json \
        | jq -c --arg s "$(printf 'not a signature of %s' "$sdg" | base64 -w0)" \
            '. + {annotations: {"dev.cosignproject.cosign/signature": $s}}')
    SIG_CONFIG=$(json_blob "$OCI_CONFIG" "$(jq -cn --arg c "$CREATED" \
        --arg d "sha256:$(sha256sum "$W/payload" | cut -d' ' -f1)" \
        '{architecture: "", created: $c, os: "",
          rootfs: {type: "layers", diff_ids: [$d]}, config: {}}')")
    SIG=$(json_blob "$OCI_MANIFEST" "$(jq -cn --arg m "$OCI_MANIFEST" \
        --argjson c "$SIG_CONFIG" --argjson l "$SIG_LAYER" \
        '{schemaVersion: 2, mediaType: $m, config: $c, layers: [$l]}')")
    ref sig "$SIG"

    # an OCI referrer of single (an SBOM), found by /referrers/<digest>
    printf '{}' > "$W/empty"
    EMPTY=$(blob "$W/empty" application/vnd.oci.empty.v1+json)
    printf '{"spdxVersion":"SPDX-2.3","name":"%s/single"}' "$NS" > "$W/sbom"
    SBOM_LAYER=$(blob "$W/sbom" application/spdx+json)
    SBOM=$(json_blob "$OCI_MANIFEST" "$(jq -cn --arg m "$OCI_MANIFEST" \
        --argjson c "$EMPTY" --argjson l "$SBOM_LAYER" --argjson s "$SINGLE" \
        '{schemaVersion: 2, mediaType: $m, artifactType: "application/spdx+json",
          config: $c, layers: [$l], subject: $s,
          annotations: {"org.example.kind": "sbom"}}')")
    ref sbom "$SBOM"

    jq -cs --arg m "$OCI_INDEX" '{schemaVersion: 2, mediaType: $m, manifests: .}' \
        "$W/index" > "$L/index.json"
    # one line per blob, in the order made: the base layer first
    awk -F'\t' '!seen[$1]++' "$OUT/blobs.tsv" > "$W/blobs" \
        && mv "$W/blobs" "$OUT/blobs.tsv"
    rm -rf "$W"
    echo "$stamp" > "$OUT/stamp"
    log "layout $L: $(wc -l < "$OUT/refs.tsv") refs, $(wc -l < "$OUT/blobs.tsv") blobs"
    fi
    [ -n "$PUSH" ] || exit 0
    sdg=$(refdigest single)

    # -------------------------------------------------------------------- push

    dst=(--dest-tls-verify="$TLS_VERIFY")
    src=(--tls-verify="$TLS_VERIFY")
    if [ -n "$CERT_DIR" ]; then
        dst+=(--dest-cert-dir "$CERT_DIR")
        src+=(--cert-dir "$CERT_DIR")
    fi
    if [ -n "$CREDS" ]; then
        dst+=(--dest-creds "$CREDS")
        src+=(--creds "$CREDS")
    fi
    q=()
    [ "$QUIET" = 1 ] && q=(--quiet)

    # push REF NS-RELATIVE-REPO:TAG [skopeo options]
    push() {
        local r=$1 to=$NS/$2
        shift 2

        log "push $r -> $PUSH/$to"
        skopeo copy ${q[@]+"${q[@]}"} "${dst[@]}" "$@" "oci:$L:$r" \
            "docker://$PUSH/$to" >&2 || die "skopeo copy $r to $PUSH/$to"
    }

    # check NS-RELATIVE-REPO:TAG [DIGEST]: read it back; a pushed layout
    # manifest must keep its digest
    : > "$OUT/pushed.tsv"
    check() {
        local to=$NS/$1 want=${2:-} raw got mt

        raw=$(skopeo inspect --raw "${src[@]}" "docker://$PUSH/$to") \
            || die "skopeo inspect $PUSH/$to"
        got=sha256:$(printf '%s' "$raw" | sha256sum | cut -d' ' -f1)
        [ -z "$want" ] || [ "$got" = "$want" ] \
            || die "$to: the registry serves $got, the layout has $want"
        mt=$(jq -r '.mediaType // "?"' <<< "$raw")
        printf '%s\t%s\t%s\n' "$to" "$mt" "$got" >> "$OUT/pushed.tsv"
    }

    push single single:v1 --preserve-digests
    push single single:latest --preserve-digests
    push multiarch multiarch:v1 --all --preserve-digests
    push chart chart:0.1.0 --preserve-digests
    push single docker-single:v1 --format v2s2
    push multiarch docker-multiarch:v1 --all --format v2s2
    if [ "$ACC" = 1 ]; then
        push sig "single:sha256-${sdg#sha256:}.sig" --preserve-digests
        push sbom single:v1-sbom --preserve-digests
    fi

    check single:v1 "$sdg"
    check single:latest "$sdg"
    check multiarch:v1 "$(refdigest multiarch)"
    check chart:0.1.0 "$(refdigest chart)"
    check docker-single:v1
    check docker-multiarch:v1
    if [ "$ACC" = 1 ]; then
        check "single:sha256-${sdg#sha256:}.sig" "$(refdigest sig)"
        check single:v1-sbom "$(refdigest sbom)"
fi
log "pushed $(wc -l < "$OUT/pushed.tsv") tags to $PUSH"
