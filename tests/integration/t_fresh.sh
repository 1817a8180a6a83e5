#!/usr/bin/env bash
# t_fresh.sh: harbor_tag_max_age and stale-if-error, with the plain nginx
# composition operators write (conf/fresh.conf):
#
#   location /v2/ { harbor_registry on; harbor_tag_max_age 2s;
#                   harbor_miss_pass @primary; }
#   location @primary { proxy_pass http://primary; proxy_intercept_errors on;
#                       error_page 429 500 502 503 504 = @stale; }
#   location @stale { harbor_registry on; harbor_tag_max_age off; }
#
# Real parts: docker-registry as the primary behind a plain nginx that
# logs what reaches it and can be told to answer 429; redis; the edge; the
# replicator's daemon (the refreshes).
#
#   1. a tag younger than 2 s is served from the store, nothing reaches the
#      primary;
#   2. the tag moved on the primary, no webhook: after 2 s the edge serves
#      the new digest (the primary's answer), the refresh stores it, and the
#      next requests are served from the store again;
#   3. a tag that did not move: the refresh asks with a HEAD only (no GET)
#      and makes the tag fresh again;
#   4. the primary stopped: the stale manifest is served with 200;
#   5. the primary answering 429: stale 200 too;
#   6. requests by digest never reach the primary.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

for t in docker-registry skopeo jq curl redis-server; do
    command -v "$t" >/dev/null || he_skip "$t is not installed"
done
[ -f "$HE_MODULE" ] || he_fail "no $HE_MODULE (make module)"
[ -x "$HE_REPLICATOR" ] || he_fail "no $HE_REPLICATOR (make replicator)"

d=$(he_tmpdir) || he_fail "mktemp"
OCI='application/vnd.oci.image.manifest.v1+json'

he_registry_start "$d/reg" || he_fail "docker-registry"
he_push_test_images "$REGISTRY" "$d/img" --big-kib 64 || he_fail "test images"

# the primary as the edge sees it: logs each request, 429 on demand
fport=$(he_port)
front_start() {
    mkdir -p "$d/front/logs" "$d/front/tmp"
    cat > "$d/front/nginx.conf" <<EOF
worker_processes 1;
daemon on;
pid $d/front/nginx.pid;
error_log $d/front/logs/error.log;
events { worker_connections 256; }
http {
    log_format r '\$request_method \$uri \$status "\$http_user_agent"';
    access_log $d/front/logs/req.log r;
    proxy_temp_path $d/front/tmp;
    client_body_temp_path $d/front/tmp;
    server {
        listen 127.0.0.1:$fport;
        location / {
            if (-f $d/front/429) { return 429; }
            proxy_pass http://$REGISTRY;
        }
    }
}
EOF
    "$NGINX" -p "$d/front" -c "$d/front/nginx.conf" 2>"$d/front/start.err" \
        || { cat "$d/front/start.err"; return 1; }
    he_wait_tcp "$fport"
}
front_stop() {
    [ -f "$d/front/nginx.pid" ] && kill -TERM "$(cat "$d/front/nginx.pid")" 2>/dev/null
    for i in $(seq 50); do [ -f "$d/front/nginx.pid" ] || break; sleep 0.1; done
}
front_start || he_fail "the primary's front did not start"
he_defer "front_stop"

redis=$(he_redis_start "$d/redis") || he_fail "redis"
store=$d/store
mkdir -p "$store"
chmod 0755 "$store"
V2=$store/docker/registry/v2
link=$V2/repositories/test/single/_manifests/tags/v1/current/link

cat > "$d/replicator.json" <<EOF
{
    "storage": {"root": "$store"},
    "primary": {"url": "http://127.0.0.1:$fport"},
    "redis": "127.0.0.1:$redis",
    "log_level": "info",
    "policies": [{"name": "test", "enabled": true, "override": true,
                  "trigger": {"type": "manual"},
                  "filters": [{"type": "name", "value": "test/single"}]}]
}
EOF
"$HE_REPLICATOR" -c "$d/replicator.json" run > "$d/run.log" 2>&1 \
    || { cat "$d/run.log"; he_fail "the policy run"; }
D1=$(cat "$link")

"$HE_REPLICATOR" -c "$d/replicator.json" daemon > "$d/daemon.log" 2>&1 &
he_defer "he_kill_pid $!"

HE_NGINX_HTTP_EXTRA="harbor_redis 127.0.0.1:$redis;
    log_format cs '\$request_method \$request_uri \$status \$harbor_cache_status';"
HE_NGINX_SERVER_EXTRA="access_log $d/ngx/logs/cs.log cs;
        location @primary {
            proxy_pass http://127.0.0.1:$fport;
            proxy_intercept_errors on;
            error_page 429 500 502 503 504 = @stale;
        }
        location @stale {
            harbor_registry on;
            harbor_tag_max_age off;
        }
        location = /metrics { harbor_metrics; }"
mkdir -p "$d/ngx"
port=$(he_nginx_start "$d/ngx" "$store" "harbor_tag_max_age 2s; harbor_miss_pass @primary;") \
    || he_fail "edge nginx"
EDGE=127.0.0.1:$port

front_reqs() { wc -l < "$d/front/logs/req.log"; }
tag_digest() {  # what the edge answers for test/single:v1 now
    curl -s -H "Accept: $OCI" -o "$d/m" -w '%{http_code}' \
        "http://$EDGE/v2/test/single/manifests/v1" > "$d/code"
    echo "$(cat "$d/code") sha256:$(sha256sum < "$d/m" | cut -d' ' -f1)"
}
age() { echo $(( $(date +%s) - $(stat -c %Y "$link") )); }

# ------------------------------------------------- 1. young: the store

touch "$link"
n0=$(front_reqs)
he_eq "a tag younger than 2 s is served from the store" "$(tag_digest)" "200 $D1"
he_eq "nothing reached the primary" "$(front_reqs)" "$n0"

# ------------------------------------------ 2. moved on the primary, no hook

he_skopeo copy -q --dest-tls-verify=false --preserve-digests \
    "oci:$d/img/oci:arm64" "docker://$REGISTRY/test/single:v1" > "$d/push.err" 2>&1 \
    || { cat "$d/push.err"; he_fail "push of a new test/single:v1"; }
D2=sha256:$(curl -s -H "Accept: $OCI" "http://$REGISTRY/v2/test/single/manifests/v1" \
            | sha256sum | cut -d' ' -f1)
[ "$D1" != "$D2" ] || he_fail "the push did not move the tag"
he_eq "before 2 s the edge still serves the stored digest" "$(tag_digest)" "200 $D1"
while [ "$(age)" -le 2 ]; do sleep 0.2; done
he_eq "after 2 s the edge serves the primary's new digest" "$(tag_digest)" "200 $D2"
tail -1 "$d/ngx/logs/cs.log" | grep -q ' 200 PASS$' || he_fail "that answer did not come through the primary"
for i in $(seq 100); do [ "$(cat "$link")" = "$D2" ] && break; sleep 0.05; done
he_eq "the refresh stored the new manifest under the tag" "$(cat "$link")" "$D2"
n0=$(front_reqs)
he_eq "and the next request is served from the store" "$(tag_digest)" "200 $D2"
he_eq "without the primary" "$(front_reqs)" "$n0"

# --------------------------------------- 3. unchanged: a HEAD, fresh again

while [ "$(age)" -le 2 ]; do sleep 0.2; done
m0=$(stat -c %Y "$link")
n0=$(front_reqs)
he_eq "an old tag that did not move: the primary's answer" "$(tag_digest)" "200 $D2"
for i in $(seq 100); do [ "$(stat -c %Y "$link")" -gt "$m0" ] && break; sleep 0.05; done
[ "$(stat -c %Y "$link")" -gt "$m0" ] || he_fail "the refresh did not make the tag fresh again"
tail -n +"$((n0 + 1))" "$d/front/logs/req.log" | grep -v '"curl/' > "$d/refresh.log"
grep -q '^HEAD /v2/test/single/manifests/v1 200' "$d/refresh.log" \
    || he_fail "the refresh did not ask with a HEAD: $(cat "$d/refresh.log")"
grep -q '^GET /v2/test/single/manifests' "$d/refresh.log" \
    && he_fail "the refresh fetched a manifest that did not change"
he_pass "the unchanged tag was refreshed by a HEAD alone and is fresh again"

# ----------------------------------------------- 4. the primary stopped

front_stop
while [ "$(age)" -le 2 ]; do sleep 0.2; done
he_eq "primary stopped: the stale manifest, 200" "$(tag_digest)" "200 $D2"

# ------------------------------------------------- 5. the primary's 429

front_start || he_fail "the front did not come back"
touch "$d/front/429"
while [ "$(age)" -le 2 ]; do sleep 0.2; done
he_eq "primary answering 429: the stale manifest, 200" "$(tag_digest)" "200 $D2"
grep -q '^GET /v2/test/single/manifests/v1 429' "$d/front/logs/req.log" \
    || he_fail "the request did not reach the 429"
rm -f "$d/front/429"
curl -s "http://$EDGE/metrics" > "$d/metrics"
stale=$(awk '/^harbor_edge_revalidations_total\{result="stale"\}/ { print $2 }' "$d/metrics")
[ "${stale:-0}" -ge 2 ] || he_fail "stale served counted ${stale:-0} times"
he_pass "harbor_edge_revalidations_total: $(grep '^harbor_edge_revalidations_total' "$d/metrics" | tr '\n' ' ')"

# --------------------------------------- 6. by digest: never the primary

n0=$(front_reqs)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Accept: $OCI" \
       "http://$EDGE/v2/test/single/manifests/$D2")
he_eq "by digest: served" "$code" 200
lay=$(jq -r '.layers[0].digest' "$d/m")
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$EDGE/v2/test/single/blobs/$lay")
he_eq "a blob by digest: served" "$code" 200
sleep 2.5
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Accept: $OCI" \
       "http://$EDGE/v2/test/single/manifests/$D2")
he_eq "by digest, however old: served" "$code" 200
he_eq "no request by digest reached the primary" "$(front_reqs)" "$n0"

he_pass "t_fresh done in $(he_elapsed) s"
