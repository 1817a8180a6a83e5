#!/usr/bin/env bash
# t_scrub.sh: the scrub finds what no cache sees, moves it out of the
# served path and fetches it again.
#
# A byte is flipped in place in a stored layer and in a stored manifest,
# the mtime put back with `touch -r` (the size too is unchanged).
#  1. `harbor-replicator scrub`: both found corrupt, quarantined, fetched
#     again (exit 0); `status` and the metrics textfile say so; the edge
#     serves the primary's bytes.
#  2. The daemon with "scrub": {"bytes_per_second", "interval"}: a new
#     flip is found and repaired by the background pass, which reads no
#     faster than bytes_per_second; the edge serves the right bytes.
#
# Exit 0 pass, 77 skip, anything else fail.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

for t in docker-registry skopeo jq curl; do
    command -v "$t" >/dev/null || he_skip "$t is not installed"
done
[ -x "$HE_REPLICATOR" ] || he_skip "no $HE_REPLICATOR (make replicator)"
[ -f "$HE_MODULE" ] || he_skip "no $HE_MODULE (make module)"

d=$(he_tmpdir) || he_fail "mktemp"
he_registry_start "$d/prim" || he_fail "primary docker-registry did not start"
PRIM=$REGISTRY
he_push_test_images "$PRIM" "$d/img" --big-kib 4096 \
    || he_fail "pushing the test images"

store=$d/store
v2=$store/docker/registry/v2
# write_conf FILE [SCRUB-JSON]
write_conf() {
    cat > "$1" <<JSON
{
  "primary": {"url": "http://$PRIM"},
  "storage": {"root": "$store"},
  ${2:+\"scrub\": $2,}
  "policies": [
    {"name": "all", "enabled": true, "override": true,
     "trigger": {"type": "manual"},
     "filters": [{"type": "name", "value": "test/**"}]}
  ]
}
JSON
}
write_conf "$d/conf.json"
"$HE_REPLICATOR" -c "$d/conf.json" run > "$d/run1.log" 2>&1 \
    || { cat "$d/run1.log"; he_fail "first run"; }
port=$(he_nginx_start "$d/ngx" "$store") || he_fail "nginx did not start"
E=http://127.0.0.1:$port

digest_of() { awk -F'\t' -v r="$1" '$1 == r { print $3 }' "$d/img/pushed.tsv"; }
blob() { echo "$v2/blobs/sha256/${1:7:2}/${1#sha256:}/data"; }
# flip FILE OFFSET: xor one byte in place, then put the mtime back
flip() {
    local b
    cp -p "$1" "$d/ref"
    b=$(dd if="$1" bs=1 skip="$2" count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
    printf "$(printf '\\%03o' $(( b ^ 1 )))" \
        | dd of="$1" bs=1 seek="$2" count=1 conv=notrunc 2>/dev/null
    touch -r "$d/ref" "$1"
    [ "$(stat -c %s.%Y "$1")" = "$(stat -c %s.%Y "$d/ref")" ] || he_fail "flip changed size or mtime"
}
served_right() { # REPO DIGEST KIND
    local out=$d/served
    curl -sf -o "$out" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        "$E/v2/$1/$3/$2" || return 1
    [ "$(he_sha256 "$out")" = "$2" ]
}

mdg=$(digest_of test/single:v1)
ldg=$(jq -r '.layers | max_by(.size) | .digest' "$(blob "$mdg")")
cdg=$(digest_of test/chart:0.1.0)
served_right test/single "$ldg" blobs || he_fail "layer not served before"
served_right test/chart "$cdg" manifests || he_fail "chart manifest not served before"
lsize=$(stat -c %s "$(blob "$ldg")")
flip "$(blob "$ldg")" $((lsize / 3))
flip "$(blob "$cdg")" 20
he_pass "flipped a byte of layer $ldg ($lsize bytes) and of manifest $cdg, size and mtime kept"

# ------------------------------------------------------------ 1. scrub
t0=$(date +%s.%N)
"$HE_REPLICATOR" -c "$d/conf.json" scrub > "$d/scrub1.log" 2>&1
rc=$?
t1=$(date +%s.%N)
[ $rc = 0 ] || { cat "$d/scrub1.log"; he_fail "scrub exited $rc"; }
for g in "$ldg" "$cdg"; do
    grep -q "scrub: blob $g is corrupt" "$d/scrub1.log" \
        || { cat "$d/scrub1.log"; he_fail "scrub did not find $g"; }
    grep -q "scrub: $g fetched again" "$d/scrub1.log" \
        || { cat "$d/scrub1.log"; he_fail "scrub did not fetch $g again"; }
    [ "$(he_sha256 "$(blob "$g")")" = "$g" ] || he_fail "$g still corrupt in the store"
done
nq=$(ls "$store/_harbor_edge/quarantine" | wc -l)
he_eq "two files in the quarantine" "$nq" 2
files=$(jq .files "$store/_harbor_edge/scrub.json")
bytes=$(jq .bytes "$store/_harbor_edge/scrub.json")
he_pass "scrub: $files files, $bytes bytes in $(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.2f", b-a}') s; 2 corrupt, 2 fetched again"
"$HE_REPLICATOR" -c "$d/conf.json" status > "$d/status.txt" 2>&1
grep -q "2 corrupt, 2 fetched again" "$d/status.txt" \
    || { cat "$d/status.txt"; he_fail "status does not show the scrub"; }
grep -Eq "scrub: corrupt $ldg in test/[a-z-]+: fetched again" "$d/status.txt" \
    || { cat "$d/status.txt"; he_fail "status does not name the corrupt layer"; }
"$HE_REPLICATOR" -c "$d/conf.json" metrics > "$d/metrics.prom" 2>&1
grep -qx 'harbor_replicator_scrub_corrupt_total{result="repaired"} 2' "$d/metrics.prom" \
    || { grep scrub "$d/metrics.prom"; he_fail "metrics do not count the repairs"; }
grep -qx "harbor_replicator_scrub_files_total $files" "$d/metrics.prom" \
    || he_fail "metrics do not count the files"
if command -v promtool >/dev/null; then
    promtool check metrics < "$d/metrics.prom" || he_fail "promtool check metrics"
fi
he_pass "status and metrics report the scrub"
served_right test/single "$ldg" blobs || he_fail "the edge does not serve the repaired layer"
served_right test/chart "$cdg" manifests || he_fail "the edge does not serve the repaired manifest"
he_pass "the edge serves the right bytes of both"

# ------------------------------------------- 2. the daemon's scrub
rate=1048576
write_conf "$d/daemon.json" "{\"bytes_per_second\": $rate, \"interval\": 1}"
flip "$(blob "$ldg")" $((lsize / 2))
"$HE_REPLICATOR" -c "$d/daemon.json" daemon > "$d/daemon.log" 2>&1 &
dpid=$!
he_defer "he_kill_pid $dpid"
for i in $(seq 600); do
    grep -q "scrub: $ldg fetched again" "$d/daemon.log" && break
    kill -0 "$dpid" 2>/dev/null || break
    sleep 0.1
done
grep -q "scrub: blob $ldg is corrupt" "$d/daemon.log" \
    || { cat "$d/daemon.log"; he_fail "the daemon's scrub did not find the flip"; }
grep -q "scrub: $ldg fetched again" "$d/daemon.log" \
    || { cat "$d/daemon.log"; he_fail "the daemon's scrub did not repair it"; }
# a full pass ends before the next can start: wait for its figures
for i in $(seq 300); do
    [ "$(jq -r .total_passes "$store/_harbor_edge/scrub.json")" -ge 2 ] && break
    sleep 0.1
done
js=$store/_harbor_edge/scrub.json
secs=$(( $(jq .finished "$js") - $(jq .started "$js") ))
b=$(jq .bytes "$js")
# at most rate bytes a second: a pass of b bytes takes at least b/rate - 1 s
min=$(( b / rate - 1 ))
[ "$secs" -ge "$min" ] || he_fail "the pass hashed $b bytes in $secs s: faster than $rate bytes/s"
he_pass "background pass: $b bytes in $secs s at bytes_per_second $rate (at least $min s)"
kill -TERM "$dpid"
wait "$dpid"
served_right test/single "$ldg" blobs || he_fail "the edge does not serve the layer after the daemon's repair"
he_pass "t_scrub done in $(he_elapsed) s"
