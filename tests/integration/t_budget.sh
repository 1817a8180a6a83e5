#!/usr/bin/env bash
# t_budget.sh: the store's byte budget evicts cached content least
# recently served first (replicator/evict.h, docs/store.md "Tiers").
#
# Real parts: docker-registry as the primary, redis, the edge (nginx with
# the module, harbor_fill on: what it serves is reported to Redis), the
# replicator's daemon with "cache": {"max_bytes": 3.3 images,
# "low_water": 0.95, "interval": 1}, skopeo as the client.  Seven images of
# 8 MiB with layers of their own; a policy pins one (pin/app).
#
#   pull app1, app2; pull app1 again; pull app3  -> app2 goes (least
#   recently served), not app1 (first in);
#   pull app4 -> app1 goes; pull app3 again; pull app5 -> app4 goes;
#   pull app6 -> app3 goes.
#
# After each pull the store is under the budget within interval + 5 s;
# the pinned image and the survivors are complete and pull with skopeo; a
# client reading a blob while it is evicted gets every byte right; 8
# clients pulling the pinned image in a loop meanwhile get no error and no
# wrong byte; `evict --dry-run` says what would go and removes nothing;
# an evicted image pulls again (filled anew); status shows the tiers.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

for t in docker-registry skopeo jq curl redis-server; do
    command -v "$t" >/dev/null || he_skip "$t is not installed"
done
[ -f "$HE_MODULE" ] || he_fail "no $HE_MODULE (make module)"
[ -x "$HE_REPLICATOR" ] || he_fail "no $HE_REPLICATOR (make replicator)"

d=$(he_tmpdir) || he_fail "mktemp"
LAYER=$((8 * 1048576))

he_registry_start "$d/reg" || he_fail "docker-registry"

# upload REPO FILE: a blob into REPO; echoes its digest
upload() {
    local repo=$1 f=$2 dg loc sep code
    dg=sha256:$(sha256sum < "$f" | cut -d' ' -f1)
    loc=$(curl -s -D - -o /dev/null -X POST "http://$REGISTRY/v2/$repo/blobs/uploads/" \
          | tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
    case $loc in /*) loc=http://$REGISTRY$loc ;; esac
    case $loc in *\?*) sep='&' ;; *) sep='?' ;; esac
    code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT \
           -H 'Content-Type: application/octet-stream' \
           --data-binary @"$f" "$loc${sep}digest=$dg")
    [ "$code" = 201 ] || return 1
    echo "$dg"
}

# image REPO: an OCI image of one random 8 MiB layer, tag v1
image() {
    local repo=$1 l c m code
    head -c "$LAYER" /dev/urandom > "$d/layer"
    printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"created":"%s"}' \
        "$repo" > "$d/config"
    l=$(upload "$repo" "$d/layer") && c=$(upload "$repo" "$d/config") || return 1
    m=$(jq -cn --arg c "$c" --argjson cs "$(stat -c %s "$d/config")" \
               --arg l "$l" --argjson ls "$LAYER" \
        '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
          config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs},
          layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $l, size: $ls}]}')
    code=$(printf '%s' "$m" | curl -s -o /dev/null -w '%{http_code}' -X PUT \
           -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
           --data-binary @- "http://$REGISTRY/v2/$repo/manifests/v1")
    [ "$code" = 201 ] || return 1
    eval "LAYER_${repo//[\/-]/_}=$l"
}

for a in pin/app cache/app1 cache/app2 cache/app3 cache/app4 cache/app5 cache/app6; do
    image "$a" || he_fail "image $a"
done
IMG=$((LAYER + 1024))
MAX=$((IMG * 33 / 10))
he_pass "primary $REGISTRY holds 7 images of 8 MiB; budget $MAX bytes (3.3 images), low water 0.95"

redis=$(he_redis_start "$d/redis") || he_fail "redis"
store=$d/store
mkdir -p "$store"
chmod 0755 "$store"
V2=$store/docker/registry/v2

conf() {    # conf FILE MAX
    cat > "$1" <<EOF
{
    "storage": {"root": "$store"},
    "primary": {"url": "http://$REGISTRY"},
    "redis": "127.0.0.1:$redis",
    "log_level": "info",
    "cache": {"max_bytes": $2, "low_water": 0.95, "interval": 1},
    "policies": [{"name": "pin", "enabled": true,
                  "trigger": {"type": "manual"},
                  "filters": [{"type": "name", "value": "pin/**"}]}]
}
EOF
}
conf "$d/replicator.json" "$MAX"
"$HE_REPLICATOR" -c "$d/replicator.json" run > "$d/run.log" 2>&1 \
    || { cat "$d/run.log"; he_fail "the pinning policy run"; }

"$HE_REPLICATOR" -c "$d/replicator.json" daemon > "$d/daemon.log" 2>&1 &
he_defer "he_kill_pid $!"

HE_NGINX_HTTP_EXTRA="harbor_redis 127.0.0.1:$redis;"
mkdir -p "$d/ngx"
port=$(he_nginx_start "$d/ngx" "$store" "harbor_fill on; harbor_fill_wait 10s;") \
    || he_fail "edge nginx"
EDGE=127.0.0.1:$port
he_pass "edge $EDGE with harbor_fill; pin/app pinned by a policy run"

blob_bytes() {
    find "$V2/blobs" -name data -type f -printf '%s\n' 2>/dev/null \
        | awk '{ s += $1 } END { print s + 0 }'
}
has_tag() { [ -s "$V2/repositories/$1/_manifests/tags/v1/current/link" ]; }

pull() {    # pull REPO: through the edge, every byte checked by skopeo
    rm -rf "$d/pull"
    he_skopeo copy -q --src-tls-verify=false "docker://$EDGE/$1:v1" \
        "dir:$d/pull" > "$d/pull.err" 2>&1 \
        || { cat "$d/pull.err"; he_fail "pull of $1 through the edge"; }
}

# under REPO...: after a pull, under the budget within interval + 5 s,
# and then exactly the cached images named are there (and pin/app)
under() {
    local i a t0
    t0=$(date +%s)
    for i in $(seq 60); do
        [ "$(blob_bytes)" -le "$MAX" ] && break
        sleep 0.1
    done
    [ "$(blob_bytes)" -le "$MAX" ] \
        || he_fail "$(blob_bytes) bytes stored 6 s after a pull, budget $MAX"
    sleep 1.2   # a pass runs every second: the store has settled
    for a in cache/app1 cache/app2 cache/app3 cache/app4 cache/app5 cache/app6; do
        case " $* " in
            *" $a "*) has_tag "$a" || he_fail "$a was evicted, it should stay" ;;
            *)        has_tag "$a" && he_fail "$a is still stored, it should be gone" ;;
        esac
    done
    has_tag pin/app || he_fail "the pinned image was evicted"
}

# 8 clients pull the pinned image's layer in a loop, hashes checked
pl=$LAYER_pin_app
lpids=
for c in $(seq 8); do
    (
        n=0 bad=0
        while [ ! -e "$d/stop" ]; do
            got=$(curl -sf "http://$EDGE/v2/pin/app/blobs/$pl" | sha256sum | cut -d' ' -f1)
            [ "sha256:$got" = "$pl" ] || bad=$((bad + 1))
            n=$((n + 1))
        done
        echo "$n $bad" > "$d/loop.$c"
    ) &
    lpids="$lpids $!"
done

pull cache/app1; sleep 1.1
pull cache/app2; sleep 1.1
pull cache/app1; sleep 1.1
# a slow reader of app2's layer while app2 is evicted
curl -s --limit-rate 2m -o "$d/slow" "http://$EDGE/v2/cache/app2/blobs/$LAYER_cache_app2" &
spid=$!
sleep 0.5
pull cache/app3
under cache/app1 cache/app3
he_pass "app2 evicted, not app1: least recently served, not first in"
wait $spid
he_eq "a client reading app2's layer while it was evicted got every byte" \
    "sha256:$(sha256sum < "$d/slow" | cut -d' ' -f1)" "$LAYER_cache_app2"
sleep 1.1
pull cache/app4
under cache/app3 cache/app4
sleep 1.1
pull cache/app3; sleep 1.1
pull cache/app5
under cache/app3 cache/app5
sleep 1.1
pull cache/app6
under cache/app5 cache/app6
he_pass "evictions kept the budget after every pull: $(blob_bytes) bytes stored, budget $MAX"

touch "$d/stop"
wait $lpids
tot=0 bad=0
for c in $(seq 8); do
    read -r n b < "$d/loop.$c"
    tot=$((tot + n)); bad=$((bad + b))
done
he_eq "8 clients pulling the pinned image during the evictions: $tot pulls, no error, no wrong byte" "$bad" 0
[ "$tot" -ge 8 ] || he_fail "the clients made only $tot pulls"

order=$(grep -o 'evict: removed cache/app[0-9]' "$d/daemon.log" | awk '{ print $3 }' | uniq | tr '\n' ' ')
he_eq "eviction order (least recently served first)" "$order" "cache/app2 cache/app1 cache/app4 cache/app3 "

for a in pin/app cache/app5 cache/app6; do
    pull "$a"
done
he_pass "the pinned image and the survivors pull complete through the edge"

# dry run at a lower budget: what would go, nothing goes
conf "$d/low.json" "$((IMG / 2))"
find "$V2" -type f | sort > "$d/before"
"$HE_REPLICATOR" -c "$d/low.json" evict --dry-run > "$d/dry.out" 2>&1 \
    || { cat "$d/dry.out"; he_fail "evict --dry-run"; }
find "$V2" -type f | sort > "$d/after"
cmp -s "$d/before" "$d/after" || he_fail "evict --dry-run changed the store"
grep -q 'would remove' "$d/dry.out" || he_fail "evict --dry-run said nothing: $(cat "$d/dry.out")"
grep -q 'pinned content alone is over the budget' "$d/dry.out" \
    || he_fail "a budget under the pinned content is not said"
he_pass "evict --dry-run: $(grep -c 'would remove' "$d/dry.out") removals said, none done"

pull cache/app2
he_pass "an evicted image pulls again (filled anew)"

"$HE_REPLICATOR" -c "$d/replicator.json" status > "$d/status" 2>&1
grep -q '^cache: .*pinned' "$d/status" || he_fail "status shows no tiers: $(cat "$d/status")"
he_pass "status: $(grep '^cache:' "$d/status")"

"$HE_REPLICATOR" -c "$d/replicator.json" metrics > "$d/metrics" 2>&1 \
    || { cat "$d/metrics"; he_fail "metrics"; }
python3 "$REPO/tests/tools/promcheck.py" < "$d/metrics" > /dev/null \
    || he_fail "metrics: not valid exposition"
pinned=$(awk '/^harbor_replicator_store_bytes\{tier="pinned"\}/ { print $2 }' "$d/metrics")
cached=$(awk '/^harbor_replicator_store_bytes\{tier="cached"\}/ { print $2 }' "$d/metrics")
budget=$(awk '/^harbor_replicator_cache_budget_bytes / { print $2 }' "$d/metrics")
evicted=$(awk '/^harbor_replicator_events_total\{result="evicted_bytes"\}/ { print $2 }' "$d/metrics")
he_check "metrics: pinned $pinned + cached $cached bytes under the budget $budget" \
    test "${pinned:-0}" -gt 0 -a "${cached:-0}" -gt 0 \
         -a $(( ${pinned:-0} + ${cached:-0} )) -le "${budget:-0}"
he_check "metrics: bytes evicted so far ($evicted)" test "${evicted:-0}" -gt 0

he_pass "t_budget done in $(he_elapsed) s"
