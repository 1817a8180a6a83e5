#!/usr/bin/env bash
# t_repair.sh: a corrupt file in the store is repaired by the next run.
#
# A policy copies test/single; nginx with the module serves the store.  A
# byte is flipped in a stored layer and in the stored manifest: the edge
# refuses them (404: verification).  The policy runs again: it finds both
# corrupt, moves the layer to the quarantine, fetches both again, exits 0,
# and the edge serves 200 with the primary's bytes.  A third run hashes
# nothing: the verified cache knows every blob (dev/inode/size/mtime/ctime).
# Then the same through the daemon: a PUSH_ARTIFACT webhook for the tag
# whose layer was flipped again makes the event's copy find and repair it.
#
# Exit 0 pass, 77 skip, anything else fail.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

for t in docker-registry skopeo jq curl redis-server redis-cli; do
    command -v "$t" >/dev/null || he_skip "$t is not installed"
done
[ -x "$HE_REPLICATOR" ] || he_skip "no $HE_REPLICATOR (make replicator)"
[ -f "$HE_MODULE" ] || he_skip "no $HE_MODULE (make module)"

d=$(he_tmpdir) || he_fail "mktemp"
Q=harbor:events
rport=$(he_redis_start "$d/redis") || he_fail "redis did not start"
he_registry_start "$d/prim" || he_fail "primary docker-registry did not start"
PRIM=$REGISTRY
he_push_test_images "$PRIM" "$d/img" --big-kib 2048 \
    || he_fail "pushing the test images"

store=$d/store
v2=$store/docker/registry/v2
conf=$d/replicator.json
cat > "$conf" <<JSON
{
  "primary": {"url": "http://$PRIM"},
  "storage": {"root": "$store"},
  "redis": "127.0.0.1:$rport",
  "redis_queue": "$Q",
  "policies": [
    {"name": "single", "enabled": true, "override": true,
     "trigger": {"type": "manual"},
     "filters": [{"type": "name", "value": "test/single"}]},
    {"name": "events", "enabled": true, "override": true,
     "trigger": {"type": "event_based"},
     "filters": [{"type": "name", "value": "test/single"}]}
  ]
}
JSON

"$HE_REPLICATOR" -c "$conf" run --policy single > "$d/run1.log" 2>&1 \
    || { cat "$d/run1.log"; he_fail "first run"; }
HE_NGINX_HTTP_EXTRA="harbor_redis 127.0.0.1:$rport; harbor_redis_queue $Q;"
HE_NGINX_SERVER_EXTRA="location = /hook { harbor_webhook; harbor_webhook_auth off; }"
port=$(he_nginx_start "$d/ngx" "$store") || he_fail "nginx did not start"
E=http://127.0.0.1:$port

mdg=$(awk -F'\t' '$1 == "test/single:v1" { print $3 }' "$d/img/pushed.tsv")
m=$v2/blobs/sha256/${mdg:7:2}/${mdg#sha256:}/data
[ -f "$m" ] || he_fail "manifest $mdg not stored"
# the largest layer of the image
ldg=$(jq -r '.layers | max_by(.size) | .digest' "$m")
l=$v2/blobs/sha256/${ldg:7:2}/${ldg#sha256:}/data
lsize=$(stat -c %s "$l")
he_pass "stored: manifest $mdg, layer $ldg ($lsize bytes)"

# served verified once, so that the module remembers it
curl -sf -o "$d/l0" "$E/v2/test/single/blobs/$ldg" || he_fail "layer not served"
[ "$(he_sha256 "$d/l0")" = "$ldg" ] || he_fail "layer served with wrong bytes"

[ -f "$store/_harbor_edge/verified/${ldg:7:2}/${ldg#sha256:}" ] \
    || he_fail "the commit did not remember the layer as verified"
he_pass "the commit remembered the layer as verified"

# flip_byte FILE OFFSET: xor the byte at OFFSET with 0x01, in place
flip_byte() {
    local b
    b=$(dd if="$1" bs=1 skip="$2" count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
    printf "$(printf '\\%03o' $(( b ^ 1 )))" \
        | dd of="$1" bs=1 seek="$2" count=1 conv=notrunc 2>/dev/null
}
flip_byte "$l" $((lsize / 2))
flip_byte "$m" 10
[ "$(he_sha256 "$l")" != "$ldg" ] || he_fail "the flip did not change the layer"
[ "$(he_sha256 "$m")" != "$mdg" ] || he_fail "the flip did not change the manifest"
linode=$(stat -c %i "$l")

code=$(curl -s -o /dev/null -w '%{http_code}' "$E/v2/test/single/blobs/$ldg")
he_eq "the edge refuses the corrupt layer" "$code" 404
code=$(curl -s -o /dev/null -w '%{http_code}' "$E/v2/test/single/manifests/v1")
he_eq "the edge refuses the corrupt manifest" "$code" 404

"$HE_REPLICATOR" -c "$conf" run --policy single > "$d/run2.log" 2>&1 \
    || { cat "$d/run2.log"; he_fail "the run after the flips failed"; }
grep -q "blob $ldg: the stored copy is corrupt" "$d/run2.log" \
    || { cat "$d/run2.log"; he_fail "the run did not see the corrupt layer"; }
grep -q "manifest $mdg: the stored copy does not hash" "$d/run2.log" \
    || { cat "$d/run2.log"; he_fail "the run did not see the corrupt manifest"; }
st=$("$HE_REPLICATOR" -c "$conf" status --json | jq .executions)
he_eq "the record counts 2 repaired" "$(jq '.[-1].repaired' <<<"$st")" 2
he_check "the layer was fetched again" \
    test "$(jq '.[-1].blobs_fetched' <<<"$st")" -ge 1
q=$(ls "$store/_harbor_edge/quarantine/" | grep -c "^sha256-${ldg#sha256:}\.")
he_eq "the corrupt layer is in the quarantine" "$q" 1
[ "$(he_sha256 "$l")" = "$ldg" ] && [ "$(he_sha256 "$m")" = "$mdg" ] \
    || he_fail "the store still holds corrupt bytes"
[ "$(stat -c %i "$l")" != "$linode" ] || he_fail "the layer kept its inode"
he_pass "run 2: both files repaired ($(grep -c 'corrupt\|does not hash' "$d/run2.log") log lines)"

curl -sf -o "$d/l1" "$E/v2/test/single/blobs/$ldg" || he_fail "layer not served after the repair"
he_eq "the edge serves the layer's right bytes" "$(he_sha256 "$d/l1")" "$ldg"
curl -sf -o "$d/m1" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "$E/v2/test/single/manifests/v1" || he_fail "manifest not served after the repair"
he_eq "the edge serves the manifest's right bytes" "$(he_sha256 "$d/m1")" "$mdg"

# a third run trusts what the cache knows: no corrupt line, nothing fetched
"$HE_REPLICATOR" -c "$conf" run --policy single > "$d/run3.log" 2>&1 \
    || { cat "$d/run3.log"; he_fail "third run"; }
! grep -q 'corrupt' "$d/run3.log" || he_fail "the third run found corruption"
he_eq "the third run fetches nothing" \
    "$("$HE_REPLICATOR" -c "$conf" status --json | jq '.executions[-1].blobs_fetched')" 0

# ------------------------------------------------ an event's copy repairs
"$HE_REPLICATOR" -c "$conf" daemon > "$d/daemon.log" 2>&1 &
dpid=$!
he_defer "he_kill_pid $dpid"
for i in $(seq 100); do
    grep -q 'events: taking events' "$d/daemon.log" && break
    sleep 0.1
done
grep -q 'events: taking events' "$d/daemon.log" || { cat "$d/daemon.log"; he_fail "the daemon takes no events"; }
flip_byte "$l" 7
code=$(curl -s -o /dev/null -w '%{http_code}' "$E/v2/test/single/blobs/$ldg")
he_eq "the edge refuses the layer flipped again" "$code" 404
payload=$(printf '{"type":"PUSH_ARTIFACT","occur_at":%s,"operator":"admin","event_data":{"resources":[{"digest":"%s","tag":"v1","resource_url":"%s/test/single:v1"}],"repository":{"date_created":1,"name":"single","namespace":"test","repo_full_name":"test/single","repo_type":"private"}}}' \
    "$(date +%s)" "$mdg" "$PRIM")
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data-binary "$payload" "$E/hook")
he_eq "PUSH_ARTIFACT webhook accepted" "$code" 200
for i in $(seq 200); do
    grep -q "policy \"events\" (event_based) Succeed" "$d/daemon.log" && break
    sleep 0.1
done
grep -q "blob $ldg: the stored copy is corrupt" "$d/daemon.log" \
    || { cat "$d/daemon.log"; he_fail "the event's copy did not see the corrupt layer"; }
grep -q "policy \"events\" (event_based) Succeed" "$d/daemon.log" \
    || { cat "$d/daemon.log"; he_fail "the event's copy did not succeed"; }
curl -sf -o "$d/l2" "$E/v2/test/single/blobs/$ldg" || he_fail "layer not served after the event's repair"
he_eq "the edge serves the right bytes after the event's repair" "$(he_sha256 "$d/l2")" "$ldg"
he_pass "t_repair done in $(he_elapsed) s"
