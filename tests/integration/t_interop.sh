#!/usr/bin/env bash
# t_interop.sh: the edge serves a store written by CNCF distribution exactly
# as distribution itself serves it.
#
# docker-registry (Debian's distribution 2.8) gets the test images pushed by
# skopeo: an OCI image with a ~30 MiB layer, an OCI index, a Helm-like
# artifact and Docker schema2 copies.  nginx with the module then serves the
# SAME directory (harbor_root = the registry's rootdirectory) and, for every
# pushed tag, we compare the two servers byte for byte: raw manifests
# (skopeo inspect --raw), HEAD headers with containerd's Accept, every
# manifest and blob below each tag (each hashed against its digest), Accept
# negotiation, ETag and If-None-Match, Range on the big blob (206 and 416),
# tags/list and _catalog; finally skopeo copies every tag from the edge into
# an OCI layout.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -f "$HE_MODULE" ] || he_fail "no $HE_MODULE: run make module"

d=$(he_tmpdir interop)
he_registry_start "$d/reg"
he_push_test_images "$REGISTRY" "$d/img" --big-kib 30720 \
    || he_fail "could not push the test images to docker-registry"
he_pass "pushed $(wc -l < "$d/img/pushed.tsv") tags to docker-registry $REGISTRY"

he_nginx_start "$d/ngx" "$HE_REGISTRY_ROOT" > /dev/null \
    || he_fail "nginx with the module did not start"
EDGE=127.0.0.1:$HE_NGINX_PORT
he_pass "edge on $EDGE serving $HE_REGISTRY_ROOT"

w=$d/work
mkdir -p "$w"

# hdr DUMPFILE NAME: the value of a response header (case-insensitive),
# without CR; empty if absent.
hdr() {
    { grep -i "^$2:" "$1" || true; } | head -1 | cut -d: -f2- \
        | tr -d '\r' | sed 's/^ *//; s/ *$//'
}

# status DUMPFILE: the HTTP status of the last response in the dump
status() {
    { grep '^HTTP/' "$1" || true; } | tail -1 | awk '{ print $2 }'
}

# get HOST PATH OUT [curl args]: GET, headers to OUT.h, body to OUT
get() {
    local host=$1 path=$2 out=$3
    shift 3
    : > "$out.h"
    curl -s -D "$out.h" -o "$out" "$@" "http://$host$path" || true
}

# head_req HOST PATH OUT [curl args]: HEAD, headers to OUT.h
head_req() {
    local host=$1 path=$2 out=$3
    shift 3
    : > "$out.h"
    curl -s -I -o "$out.h" "$@" "http://$host$path" || true
}

fails=0
bad() {
    echo "FAIL - $*"
    fails=$((fails + 1))
}

# ---------------------------------------------------------------- tags

: > "$w/blobs.txt"
: > "$w/manifests.txt"

# same_head WHAT PATH: HEAD on both servers with containerd's Accept gives
# the same status, Docker-Content-Digest, Content-Type and Content-Length
same_head() {
    local what=$1 path=$2 h ok=1
    head_req "$REGISTRY" "$path" "$w/rh" -H "Accept: $HE_CONTAINERD_ACCEPT"
    head_req "$EDGE" "$path" "$w/eh" -H "Accept: $HE_CONTAINERD_ACCEPT"
    [ "$(status "$w/eh.h")" = "$(status "$w/rh.h")" ] || {
        bad "$what: HEAD status edge $(status "$w/eh.h") registry $(status "$w/rh.h")"
        ok=0
    }
    for h in Docker-Content-Digest Content-Type Content-Length; do
        if [ "$(hdr "$w/eh.h" $h)" != "$(hdr "$w/rh.h" $h)" ]; then
            bad "$what: HEAD $h edge '$(hdr "$w/eh.h" $h)' registry '$(hdr "$w/rh.h" $h)'"
            ok=0
        fi
    done
    [ -n "$(hdr "$w/eh.h" Docker-Content-Digest)" ] || {
        bad "$what: HEAD without Docker-Content-Digest"
        ok=0
    }
    return $((1 - ok))
}

# walk REPO DIGEST MEDIATYPE: check a manifest by digest and everything
# under it; blobs go to blobs.txt for the blob pass.
walk() {
    local repo=$1 dg=$2 mt=$3 m child cmt
    m=$w/m-${dg#sha256:}
    get "$EDGE" "/v2/$repo/manifests/$dg" "$m" -H "Accept: $mt"
    get "$REGISTRY" "/v2/$repo/manifests/$dg" "$m.reg" -H "Accept: $mt"
    if [ "$(status "$m.h")" != 200 ]; then
        bad "$repo@$dg: GET by digest gave $(status "$m.h")"
        return
    fi
    [ "$(he_sha256 "$m")" = "$dg" ] \
        || bad "$repo@$dg: manifest body hashes to $(he_sha256 "$m")"
    cmp -s "$m" "$m.reg" || bad "$repo@$dg: manifest bytes differ from docker-registry's"
    [ "$(hdr "$m.h" Content-Type)" = "$(hdr "$m.reg.h" Content-Type)" ] \
        || bad "$repo@$dg: Content-Type '$(hdr "$m.h" Content-Type)' != '$(hdr "$m.reg.h" Content-Type)'"
    [ "$(hdr "$m.h" Docker-Content-Digest)" = "$dg" ] \
        || bad "$repo@$dg: GET Docker-Content-Digest '$(hdr "$m.h" Docker-Content-Digest)'"
    same_head "$repo@$dg" "/v2/$repo/manifests/$dg" || true
    echo "$repo $dg" >> "$w/manifests.txt"
    if jq -e 'has("manifests")' "$m" > /dev/null; then
        while read -r child cmt; do
            walk "$repo" "$child" "$cmt"
        done < <(jq -r '.manifests[] | "\(.digest) \(.mediaType)"' "$m")
    else
        jq -r --arg r "$repo" \
            '(.config, .layers[]) | "\($r) \(.digest) \(.size)"' "$m" \
            >> "$w/blobs.txt"
    fi
}

ntags=0
while IFS=$'\t' read -r ref mt dg; do
    repo=${ref%:*}
    tag=${ref##*:}
    ntags=$((ntags + 1))
    f0=$fails
    t=$w/t-${repo//\//_}-$tag

    # skopeo's view of the raw manifest, edge vs registry
    he_skopeo inspect --raw --tls-verify=false "docker://$EDGE/$ref" > "$t.edge" \
        || bad "$ref: skopeo inspect --raw through the edge failed"
    he_skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/$ref" > "$t.reg"
    cmp -s "$t.edge" "$t.reg" \
        || bad "$ref: skopeo inspect --raw differs (edge $(wc -c < "$t.edge") bytes, registry $(wc -c < "$t.reg"))"

    # HEAD by tag, containerd's Accept
    same_head "$ref" "/v2/$repo/manifests/$tag" || true
    [ "$(hdr "$w/eh.h" Docker-Content-Digest)" = "$dg" ] \
        || bad "$ref: HEAD digest '$(hdr "$w/eh.h" Docker-Content-Digest)', pushed $dg"

    # GET by tag without any Accept header: the module serves the manifest
    # as stored (docs/module-spec; distribution 2.8 would 404 an OCI
    # manifest and convert schema2 to schema1 here)
    get "$EDGE" "/v2/$repo/manifests/$tag" "$t.get" -H 'Accept:'
    [ "$(status "$t.get.h")" = 200 ] && [ "$(he_sha256 "$t.get")" = "$dg" ] \
        || bad "$ref: GET by tag gave $(status "$t.get.h"), body $(he_sha256 "$t.get")"

    walk "$repo" "$dg" "$mt"
    [ "$fails" = "$f0" ] && he_pass "$ref ($mt): raw manifest, HEAD headers, GET bodies identical to docker-registry"
done < "$d/img/pushed.tsv"
[ "$ntags" -ge 6 ] || bad "only $ntags tags in pushed.tsv"

# ---------------------------------------------------------------- Accept, ETag

# An OCI manifest asked for with Docker types only is refused by both
# (404); ETag and If-None-Match behave the same way on both.
f0=$fails
while IFS=$'\t' read -r ref mt dg; do
    repo=${ref%:*}
    tag=${ref##*:}
    case $mt in
        application/vnd.oci.*) ;;
        *) continue ;;      # distribution may convert schema2 to schema1
    esac
    p=/v2/$repo/manifests/$tag
    dacc='Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json'
    get "$EDGE" "$p" "$w/acc" -H "$dacc"
    get "$REGISTRY" "$p" "$w/acc.reg" -H "$dacc"
    [ "$(status "$w/acc.h")" = "$(status "$w/acc.reg.h")" ] \
        || bad "$ref with Docker-only Accept: edge $(status "$w/acc.h"), registry $(status "$w/acc.reg.h")"
    [ "$(status "$w/acc.h")" != 404 ] \
        || jq -e '.errors[0].code == "MANIFEST_UNKNOWN"' "$w/acc" > /dev/null \
        || bad "$ref with Docker-only Accept: body $(head -c 200 "$w/acc")"
    head_req "$EDGE" "$p" "$w/et" -H "Accept: $mt"
    head_req "$REGISTRY" "$p" "$w/et.reg" -H "Accept: $mt"
    [ "$(hdr "$w/et.h" ETag)" = "$(hdr "$w/et.reg.h" ETag)" ] \
        || bad "$ref ETag edge '$(hdr "$w/et.h" ETag)' registry '$(hdr "$w/et.reg.h" ETag)'"
    get "$EDGE" "$p" "$w/inm" -H "Accept: $mt" -H "If-None-Match: \"$dg\""
    get "$REGISTRY" "$p" "$w/inm.reg" -H "Accept: $mt" -H "If-None-Match: \"$dg\""
    [ "$(status "$w/inm.h")" = 304 ] && [ "$(status "$w/inm.reg.h")" = 304 ] \
        && [ ! -s "$w/inm" ] \
        || bad "$ref If-None-Match: edge $(status "$w/inm.h") ($(wc -c < "$w/inm") bytes), registry $(status "$w/inm.reg.h")"
done < "$d/img/pushed.tsv"
[ "$fails" = "$f0" ] && he_pass "OCI tags: Docker-only Accept refused like docker-registry; same ETag; If-None-Match gives 304 on both"

# ---------------------------------------------------------------- blobs

sort -u -o "$w/blobs.txt" "$w/blobs.txt"
nblobs=0
f0=$fails
while read -r repo dg size; do
    nblobs=$((nblobs + 1))
    b=$w/b-${dg#sha256:}
    get "$EDGE" "/v2/$repo/blobs/$dg" "$b" -H 'Accept-Encoding: zstd;q=1.0, gzip;q=0.8, deflate;q=0.5'
    if [ "$(status "$b.h")" != 200 ]; then
        bad "$repo blob $dg: GET gave $(status "$b.h")"
        continue
    fi
    [ "$(he_sha256 "$b")" = "$dg" ] \
        || bad "$repo blob $dg: body hashes to $(he_sha256 "$b")"
    [ "$(stat -c %s "$b")" = "$size" ] \
        || bad "$repo blob $dg: $(stat -c %s "$b") bytes, descriptor says $size"
    [ -z "$(hdr "$b.h" Content-Encoding)" ] \
        || bad "$repo blob $dg: Content-Encoding $(hdr "$b.h" Content-Encoding)"
    [ "$(hdr "$b.h" Docker-Content-Digest)" = "$dg" ] \
        || bad "$repo blob $dg: Docker-Content-Digest '$(hdr "$b.h" Docker-Content-Digest)'"
    same_head "$repo blob $dg" "/v2/$repo/blobs/$dg" || true
    rm -f "$b"
done < "$w/blobs.txt"
[ "$nblobs" -ge 10 ] || bad "only $nblobs blobs found under the tags"
[ "$fails" = "$f0" ] && he_pass "$nblobs blobs (repo, digest) via GET hash to their digests; HEAD headers match docker-registry"

# ---------------------------------------------------------------- Range

read -r brepo bdg bsize < <(sort -k3,3n "$w/blobs.txt" | tail -1)
[ "$bsize" -gt $((30 * 1024 * 1024)) ] || bad "biggest blob is only $bsize bytes"
f0=$fails
get "$EDGE" "/v2/$brepo/blobs/$bdg" "$w/range" -H 'Range: bytes=1000-'
get "$REGISTRY" "/v2/$brepo/blobs/$bdg" "$w/full"
[ "$(status "$w/range.h")" = 206 ] || bad "Range bytes=1000-: status $(status "$w/range.h")"
[ "$(hdr "$w/range.h" Content-Range)" = "bytes 1000-$((bsize - 1))/$bsize" ] \
    || bad "Range bytes=1000-: Content-Range '$(hdr "$w/range.h" Content-Range)'"
[ "$(hdr "$w/range.h" Content-Length)" = "$((bsize - 1000))" ] \
    || bad "Range bytes=1000-: Content-Length '$(hdr "$w/range.h" Content-Length)'"
tail -c +1001 "$w/full" > "$w/full.tail"
cmp -s "$w/range" "$w/full.tail" || bad "Range bytes=1000-: wrong bytes"
get "$EDGE" "/v2/$brepo/blobs/$bdg" "$w/range2" -H 'Range: bytes=0-99'
[ "$(status "$w/range2.h")" = 206 ] && cmp -s "$w/range2" <(head -c 100 "$w/full") \
    || bad "Range bytes=0-99: status $(status "$w/range2.h") or wrong bytes"
get "$EDGE" "/v2/$brepo/blobs/$bdg" "$w/range3" -H "Range: bytes=$bsize-"
[ "$(status "$w/range3.h")" = 416 ] || bad "Range bytes=$bsize-: status $(status "$w/range3.h"), want 416"
[ "$(hdr "$w/range3.h" Content-Range)" = "bytes */$bsize" ] \
    || bad "416: Content-Range '$(hdr "$w/range3.h" Content-Range)', want 'bytes */$bsize'"
rm -f "$w/full" "$w/full.tail" "$w/range"
[ "$fails" = "$f0" ] && he_pass "Range on the $bsize-byte blob: 206 for bytes=1000- and 0-99 with the right bytes, 416 + bytes */$bsize past the end"

# ---------------------------------------------------------------- listings

f0=$fails
get "$EDGE" "/v2/_catalog" "$w/cat"
get "$REGISTRY" "/v2/_catalog" "$w/cat.reg"
[ "$(jq -cS . "$w/cat" 2>/dev/null)" = "$(jq -cS . "$w/cat.reg")" ] \
    || bad "_catalog: edge '$(head -c 300 "$w/cat")' registry '$(cat "$w/cat.reg")'"
for repo in $(cut -f1 "$d/img/pushed.tsv" | sed 's/:[^:]*$//' | sort -u); do
    get "$EDGE" "/v2/$repo/tags/list" "$w/tags"
    get "$REGISTRY" "/v2/$repo/tags/list" "$w/tags.reg"
    [ "$(jq -cS . "$w/tags" 2>/dev/null)" = "$(jq -cS . "$w/tags.reg")" ] \
        || bad "$repo tags/list: edge '$(head -c 300 "$w/tags")' registry '$(cat "$w/tags.reg")'"
done
[ "$fails" = "$f0" ] && he_pass "_catalog and every tags/list equal docker-registry's (as JSON)"

# ---------------------------------------------------------------- skopeo copy

f0=$fails
while IFS=$'\t' read -r ref mt dg; do
    all=()
    case $mt in
        *index*|*list*) all=(--all) ;;
    esac
    dst=$w/oci-${ref//[\/:]/_}
    if ! he_skopeo copy --quiet "${all[@]}" --src-tls-verify=false \
         "docker://$EDGE/$ref" "oci:$dst:x" > "$w/copy.log" 2>&1
    then
        bad "skopeo copy ${all[*]} docker://$EDGE/$ref: $(tail -3 "$w/copy.log")"
        continue
    fi
    # the copied index.json names a manifest with the same digest
    # (v2s2 copies are converted to OCI by skopeo, so compare OCI tags only)
    case $mt in
        application/vnd.oci.*)
            got=$(jq -r '.manifests[0].digest' "$dst/index.json")
            [ "$got" = "$dg" ] || bad "skopeo copy $ref: layout holds $got, want $dg" ;;
    esac
    rm -rf "$dst"
done < "$d/img/pushed.tsv"
[ "$fails" = "$f0" ] && he_pass "skopeo copy docker://EDGE/... oci: succeeded for every tag (--all for indexes)"

# the edge must not have logged a digest mismatch or an alert
if grep -E '\[(alert|crit|emerg)\]|digest mismatch' "$HE_NGINX_DIR/logs/error.log"; then
    bad "nginx error.log has alerts or digest mismatches"
fi

echo "# $(wc -l < "$HE_NGINX_DIR/logs/access.log") requests to the edge in $(he_elapsed)s"
[ "$fails" = 0 ] || he_fail "$fails check(s) failed"
he_pass "interop with docker-registry on one store"
