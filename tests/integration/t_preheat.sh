#!/usr/bin/env bash
# t_preheat.sh: harbor_preheat, the edge as Harbor's P2P preheat provider.
#
# Harbor's preheat policy calls a "Kraken" provider: GET <endpoint>/health
# (2xx: healthy) and POST <endpoint>/registry/notifications with one push
# event in Go's default JSON field names (docs/deploy.md, "Harbor's
# preheat policies").  Real parts: docker-registry as the primary with the
# test images, Redis, the edge's nginx with `location /preheat/ {
# harbor_preheat; }`, the replicator's daemon with no policy at all.
#
#   1. nginx -t refuses harbor_preheat without harbor_redis, without
#      harbor_webhook_auth, and outside a prefix location;
#   2. health: 200 with the right Authorization, 401 without, 405 for a
#      POST; an unknown path under the prefix is 404;
#   3. malformed notifications (broken JSON, no Events, a wrong Action, no
#      Target, a bad repository, digest or tag, two repositories, too
#      large) and a wrong Authorization are refused with a 4xx, and
#      nothing reaches the queue (the daemon is not running yet, so the
#      list's length is exact);
#   4. a notification shaped as Harbor sends it is answered 200 and
#      queued as one "preheat" line; once the daemon runs, the tag is in
#      the store, pinned (no cache marker), and the edge serves it as a HIT.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

for t in docker-registry skopeo jq curl redis-server redis-cli; do
    command -v "$t" >/dev/null || he_skip "$t is not installed"
done
[ -f "$HE_MODULE" ] || he_fail "no $HE_MODULE (make module)"
[ -x "$HE_REPLICATOR" ] || he_fail "no $HE_REPLICATOR (make replicator)"

d=$(he_tmpdir) || he_fail "mktemp"
AUTH='Basic cHJlaGVhdDpzM2NyM3Q='     # what Harbor sends for auth mode BASIC
Q=harbor:events

he_registry_start "$d/primary" || he_fail "docker-registry"
PRIMARY=$REGISTRY
he_push_test_images "$PRIMARY" "$d/img" --ns prod || he_fail "test images"
DIGEST=$(awk -F'\t' '$1 == "prod/single:v1" { print $3 }' "$d/img/pushed.tsv")
[ -n "$DIGEST" ] || he_fail "prod/single:v1 is not in pushed.tsv"
he_pass "primary $PRIMARY holds prod/single:v1 = $DIGEST"

redis=$(he_redis_start "$d/redis") || he_fail "redis"
store=$d/store
mkdir -p "$store"
V2=$store/docker/registry/v2

# ------------------------------------------------------ 1. nginx -t

conf_refused() {   # NAME HTTP LOCATION EXPECT
    local name=$1 http=$2 loc=$3 expect=$4 dir=$d/conf-$RANDOM
    mkdir -p "$dir/logs"
    cat > "$dir/nginx.conf" <<CONF
load_module $HE_MODULE;
pid $dir/nginx.pid;
error_log $dir/logs/error.log;
events { worker_connections 64; }
http {
    $http
    server { listen 127.0.0.1:1; $loc }
}
CONF
    if "$NGINX" -t -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" \
       > "$dir/t.out" 2>&1
    then
        he_fail "$name: nginx -t accepted it"
    fi
    grep -q -- "$expect" "$dir/t.out" \
        || he_fail "$name: nginx -t said: $(cat "$dir/t.out")"
    he_pass "$name: refused by nginx -t"
}
conf_refused "harbor_preheat without harbor_redis" "" \
    'location /preheat/ { harbor_preheat; harbor_webhook_auth off; }' \
    '"harbor_preheat" needs "harbor_redis"'
conf_refused "harbor_preheat without harbor_webhook_auth" \
    "harbor_redis 127.0.0.1:$redis;" 'location /preheat/ { harbor_preheat; }' \
    '"harbor_preheat" needs "harbor_webhook_auth"'
conf_refused "harbor_preheat in an exact location" \
    "harbor_redis 127.0.0.1:$redis;" \
    'location = /preheat/health { harbor_preheat; harbor_webhook_auth off; }' \
    'must be in a prefix location'

# ---------------------------------------------------------------- edge

HE_NGINX_HTTP_EXTRA="harbor_redis 127.0.0.1:$redis;"
HE_NGINX_SERVER_EXTRA="location /preheat/ {
            harbor_preheat;
            harbor_webhook_auth \"$AUTH\";
            harbor_webhook_max_size 4k;
        }"
port=$(he_nginx_start "$d/ngx" "$store") || he_fail "edge nginx"
EDGE=127.0.0.1:$port
URL=http://$EDGE/preheat

# ---------------------------------------------------------- 2. health

code() { curl -s -o "$d/resp" -w '%{http_code}' --max-time 10 "$@"; }

he_eq "GET /preheat/health with the credential: 200" \
    "$(code -H 'Accept: application/json' -H "Authorization: $AUTH" "$URL/health")" 200
jq -e '.status == "healthy"' "$d/resp" >/dev/null \
    || he_fail "health body: $(cat "$d/resp")"
he_eq "GET /preheat/health without it: 401" "$(code "$URL/health")" 401
he_eq "GET /preheat/health with a wrong one: 401" \
    "$(code -H "Authorization: ${AUTH%?}x" "$URL/health")" 401
he_eq "POST /preheat/health: 405" \
    "$(code -X POST -H "Authorization: $AUTH" --data-binary '{}' "$URL/health")" 405
he_eq "GET /preheat/registry/unknown: 404" \
    "$(code -H "Authorization: $AUTH" "$URL/registry/unknown")" 404
he_eq "GET /preheat/registry/notifications: 405" \
    "$(code -H "Authorization: $AUTH" "$URL/registry/notifications")" 405

# -------------------------------------------------- 3. refused bodies

# notify BODY [curl args]: "STATUS BODY"
notify() {
    local body=$1
    shift
    curl -s -o "$d/resp" -w '%{http_code}' --max-time 10 -X POST \
        -H 'Content-Type: application/json' -H "Authorization: $AUTH" "$@" \
        --data-binary "$body" "$URL/registry/notifications"
    echo " $(cat "$d/resp" 2>/dev/null)"
}

# event ACTION REPOSITORY DIGEST TAG: one event as Harbor's driver sends it
event() {
    printf '{"Id":"c2a4d6f0-1b3e-4c5d-8e7f-901a2b3c4d5e","TimeStamp":"2026-12-07T10:00:00.123456789Z","Action":"%s","Target":{"MediaType":"application/vnd.docker.distribution.manifest.v2+json","Digest":"%s","Repository":"%s","Url":"http://%s/v2/%s/manifests/%s","Tag":"%s"},"Request":null,"Actor":null}' \
        "$1" "$3" "$2" "$PRIMARY" "$2" "$3" "$4"
}
GOOD=$(event push prod/single "$DIGEST" v1)
D0=sha256:0000000000000000000000000000000000000000000000000000000000000001

refused() {   # NAME BODY WANT-STATUS [WANT-ERROR]
    local r
    r=$(notify "$2")
    he_eq "$1: ${3}" "${r%% *}" "$3"
    if [ -n "${4:-}" ]; then
        he_eq "$1: says why" "$(jq -r .error "$d/resp")" "$4"
    fi
}
refused "truncated JSON" '{"Events":[' 400
refused "not an object" '[1,2]' 400 "payload must be a JSON object"
refused "no Events" '{"events":[]}' 400 "missing Events"
refused "empty Events" '{"Events":[]}' 400 "no events"
refused "Events not an array" '{"Events":{}}' 400 "Events must be an array"
refused "a pull, not a push" "{\"Events\":[$(event pull prod/single "$DIGEST" v1)]}" \
    400 "Action must be push"
refused "no Target" '{"Events":[{"Action":"push"}]}' 400 "event without Target"
refused "a bad repository" "{\"Events\":[$(event push 'Prod/../x' "$DIGEST" v1)]}" \
    400 "invalid repository name"
refused "a bad digest" "{\"Events\":[$(event push prod/single sha256:1234 v1)]}" \
    400 "invalid digest"
refused "a bad tag" "{\"Events\":[$(event push prod/single "$DIGEST" -v1)]}" \
    400 "invalid tag"
refused "two repositories" \
    "{\"Events\":[$GOOD,$(event push prod/other "$D0" v1)]}" \
    400 "events for more than one repository"
refused "a duplicate key" \
    "{\"Events\":[{\"Action\":\"push\",\"Action\":\"push\",\"Target\":{\"Digest\":\"$DIGEST\",\"Repository\":\"prod/single\"}}]}" \
    400 "duplicate key Action"
refused "a bad TimeStamp" "{\"Events\":[${GOOD/2026-12-07T/yesterday }]}" \
    400 "TimeStamp is not an RFC 3339 date"
big=$(python3 -c 'import sys; print("{\"Events\":[" + sys.argv[1] + "],\"pad\":\"" + "x" * 5000 + "\"}")' "$GOOD")
refused "5 KB over a 4k limit" "$big" 413
r=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: ${AUTH%?}x" \
    --data-binary "{\"Events\":[$GOOD]}" "$URL/registry/notifications")
he_eq "a wrong Authorization: 401" "$r" 401
r=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary "{\"Events\":[$GOOD]}" \
    "$URL/registry/notifications")
he_eq "no Authorization: 401" "$r" 401
he_eq "nothing refused was queued" "$(redis-cli -p "$redis" llen "$Q")" 0

# ---------------------------------------------------- 4. the preheat

r=$(notify "{\"Events\":[$GOOD]}")
he_eq "Harbor's notification: 200" "$r" '200 {"queued":1}'
he_eq "one preheat line" "$(redis-cli -p "$redis" lindex "$Q" -1)" \
    "{\"kind\":\"preheat\",\"repository\":\"prod/single\",\"digest\":\"$DIGEST\",\"tag\":\"v1\",\"occurred_at\":$(date -u -d 2026-12-07T10:00:00Z +%s),\"source\":\"preheat\"}"
[ -e "$V2/repositories/prod/single/_manifests/tags/v1/current/link" ] \
    && he_fail "the tag is in the store before the daemon ran"

cat > "$d/replicator.json" <<EOF
{
    "storage": {"root": "$store"},
    "primary": {"url": "http://$PRIMARY", "type": "docker-registry"},
    "redis": "127.0.0.1:$redis",
    "log_level": "info",
    "policies": []
}
EOF
"$HE_REPLICATOR" -c "$d/replicator.json" daemon > "$d/daemon.log" 2>&1 &
DPID=$!
he_defer "he_kill_pid $DPID"

link=$V2/repositories/prod/single/_manifests/tags/v1/current/link
for i in $(seq 300); do
    [ -s "$link" ] && break
    kill -0 "$DPID" 2>/dev/null || { cat "$d/daemon.log"; he_fail "the daemon died"; }
    sleep 0.1
done
[ -s "$link" ] || { tail -20 "$d/daemon.log"; he_fail "the tag never reached the store"; }
he_eq "the store's tag is the notification's digest" "$(cat "$link")" "$DIGEST"
he_log "daemon: $(grep -m1 'preheat prod/single' "$d/daemon.log")"

if [ -d "$V2/repositories/prod/single/_harbor/cached" ] \
   && [ -n "$(find "$V2/repositories/prod/single/_harbor/cached" -type f)" ]
then
    he_fail "preheated content is marked cached: $(find "$V2/repositories/prod/single/_harbor/cached" -type f)"
fi
he_pass "pinned: no cache marker"

# every blob of it, and the edge serves it from the store
he_skopeo copy --src-tls-verify=false --dest-tls-verify=false \
    "docker://$EDGE/prod/single:v1" "oci:$d/pulled:v1" > "$d/skopeo.out" 2>&1 \
    || { cat "$d/skopeo.out"; he_fail "skopeo copy from the edge"; }
he_pass "skopeo copies prod/single:v1 from the edge"
he_eq "every request of the pull was answered from the store (no 404)" \
    "$(grep -c ' /v2/[^ ]* 404 ' "$d/ngx/logs/access.log")" 0
he_eq "... and there were such requests" \
    "$(grep -c ' /v2/prod/single/blobs/[^ ]* 200 ' "$d/ngx/logs/access.log")" 3

he_eq "the queue is drained" "$(redis-cli -p "$redis" llen "$Q")" 0
he_pass "t_preheat"
