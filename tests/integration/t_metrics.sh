#!/usr/bin/env bash
# t_metrics.sh: the harbor_metrics endpoint (ngx_http_harbor_metrics_module)
# against real servers: docker-registry as the primary, a copy of its store
# served by nginx with the module, Redis for events, mint-token.py for
# tokens.
#
# One nginx, four servers sharing the zone "harbor_metrics":
#   S  harbor_registry (verify always), /metrics, a webhook location
#   P  harbor_registry with harbor_miss_pass @primary (docker-registry)
#   A  harbor_registry behind harbor_auth token
# The test drives a known set of requests -- hits, a miss, a blob that fails
# verification, a write (405), a pass to the primary, three refusals (no
# token, a forged one, one without the scope), webhook deliveries accepted
# and refused -- then scrapes, checks the exposition with
# tests/tools/promcheck.py, and compares every counter with what was sent
# (bytes to the byte).  Then `nginx -s reload` (HUP): the counters are kept,
# and go on counting in the new workers.
#
# HE_MODULE picks the .so (default: the repo's build/ngx_http_harbor_module.so).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PROMCHECK=$REPO/tests/tools/promcheck.py
MINT=$REPO/tests/tools/mint-token.py

for t in skopeo curl jq openssl python3 docker-registry redis-server; do
    command -v "$t" >/dev/null || he_skip "$t is not installed"
done
[ -f "$HE_MODULE" ] || he_skip "no $HE_MODULE (make module, or set HE_MODULE)"
grep -qa ngx_http_harbor_metrics_module "$HE_MODULE" \
    || he_fail "$HE_MODULE lacks ngx_http_harbor_metrics_module (see config)"

# the checker itself must refuse what it should, or its OK means nothing
python3 "$PROMCHECK" --self-test > /dev/null \
    || he_fail "promcheck.py --self-test"
he_pass "promcheck.py refuses every broken exposition of its self-test"

d=$(he_tmpdir metrics)

# ------------------------------------------------- primary, store, redis
he_registry_start "$d/reg"
he_push_test_images "$REGISTRY" "$d/img" --big-kib 64 \
    || he_fail "pushing test images"
digest_of() { awk -v r="$1" '$1 == r { print $3 }' "$d/img/pushed.tsv"; }
single=$(digest_of test/single:v1)
[ -n "$single" ] || he_fail "pushed.tsv lacks test/single:v1"

# the edge's store: a copy, so that the primary stays intact
store=$d/store
cp -a "$HE_REGISTRY_ROOT" "$store"
V2=$store/docker/registry/v2
# test/chart exists only on the primary: a pull of it is passed on
rm -rf "$V2/repositories/test/chart"
chmod -R a+rX "$store"
blob_path() { local h=${1#sha256:}; echo "$V2/blobs/sha256/${h:0:2}/$h/data"; }

manifest=$(cat "$(blob_path "$single")")
config=$(jq -r .config.digest <<< "$manifest")
layer=$(jq -r '.layers[0].digest' <<< "$manifest")
# one byte of the layer changed in place, size kept: verification must fail
printf 'X' | dd of="$(blob_path "$layer")" bs=1 count=1 conv=notrunc \
    2>/dev/null

rport=$(he_redis_start "$d/redis") || he_fail "redis did not start"
HE_REDIS_DIR=$d/redis
Q=metrics:events

python3 "$MINT" keygen "$d/keys" > /dev/null
KEY=$d/keys/key.pem
CERT=$d/keys/cert.pem

# ------------------------------------------------------------------ nginx
ndir=$d/ngx
mkdir -p "$ndir/logs" "$ndir/tmp"
cp "$HE_MODULE" "$ndir/ngx_http_harbor_module.so"
sport=$(he_port); pport=$(he_port); aport=$(he_port)

cat > "$ndir/nginx.conf" <<EOF
load_module $ndir/ngx_http_harbor_module.so;
worker_processes 2;
daemon on;
pid $ndir/nginx.pid;
error_log $ndir/logs/error.log info;
events { worker_connections 256; }
http {
    log_format harbor '\$pid \$status \$harbor_cache_status '
                      '\$harbor_repository \$harbor_reference '
                      '\$harbor_digest \$request_uri';
    access_log $ndir/logs/access.log harbor;
    client_body_temp_path $ndir/tmp/client;
    proxy_temp_path $ndir/tmp/proxy;
    fastcgi_temp_path $ndir/tmp/fastcgi;
    uwsgi_temp_path $ndir/tmp/uwsgi;
    scgi_temp_path $ndir/tmp/scgi;
    harbor_root $store;
    harbor_verify always;
    harbor_redis 127.0.0.1:$rport;
    harbor_redis_queue $Q;

    server {
        # reuseport: the kernel spreads connections over both workers
        listen 127.0.0.1:$sport reuseport;
        location /v2/ {
            harbor_registry on;
        }
        location = /metrics {
            harbor_metrics;
        }
        location = /hook {
            harbor_webhook;
            harbor_webhook_auth "Bearer hook-secret";
        }
        location / {
            return 404;
        }
    }
    server {
        listen 127.0.0.1:$pport;
        location /v2/ {
            harbor_registry on;
            harbor_miss_pass @primary;
        }
        location @primary {
            proxy_pass $REGISTRY_URL;
        }
    }
    server {
        listen 127.0.0.1:$aport;
        location /v2/ {
            harbor_registry on;
            harbor_auth token;
            harbor_token_realm http://127.0.0.1:1/service/token;
            harbor_token_cert $CERT;
        }
    }
}
EOF
"$NGINX" -p "$ndir" -c "$ndir/nginx.conf" -e "$ndir/logs/error.log" \
    || he_fail "nginx did not start"
he_defer "he_nginx_stop $(printf '%q' "$ndir")"
# /metrics is no registry location: waiting on it counts nothing
he_wait_http "http://127.0.0.1:$sport/metrics" || he_fail "nginx does not answer"
S=http://127.0.0.1:$sport
P=http://127.0.0.1:$pport
A=http://127.0.0.1:$aport
ACCEPT='application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json'

# get URL [curl options]: "CODE BYTES" of the body
get() {
    local url=$1
    shift
    curl -s -o /dev/null -w '%{http_code} %{size_download}' \
        -H "Accept: $ACCEPT" "$@" "$url"
}

scrape() {      # scrape FILE: the exposition, checked
    curl -sf -o "$1" -D "$1.hdrs" "$S/metrics" || he_fail "GET /metrics"
    python3 "$PROMCHECK" --print "$1" > "$1.series" 2> "$1.check" \
        || { cat "$1.check"; he_fail "promcheck refused $1"; }
}

val() {         # val FILE SERIES: its value, or "absent"
    S=$2 awk '{ s = $0; sub(/ [^ ]*$/, "", s) }
              s == ENVIRON["S"] { print $NF; f = 1 }
              END { if (!f) print "absent" }' "$1.series"
}

# ------------------------------------------------------------ nothing yet
scrape "$d/m0"
he_pass "a fresh exposition passes promcheck ($(cat "$d/m0.check" | sed 's/.*OK, //'))"
he_eq "Content-Type is the 0.0.4 text format" \
    "$(tr -d '\r' < "$d/m0.hdrs" | awk -F': ' 'tolower($1) == "content-type" { print $2 }')" \
    "text/plain; version=0.0.4; charset=utf-8"
he_eq "no request counted yet" "$(val "$d/m0" 'harbor_edge_cache_requests_total{status="hit"}')" 0

# ------------------------------------------------------------- the drive
sent=0
r=$(get "$S/v2/test/single/manifests/v1")
he_eq "hit: manifest by tag" "${r% *}" 200
sent=$((sent + ${r#* }))
r=$(get "$S/v2/test/single/blobs/$config")
he_eq "hit: config blob" "${r% *}" 200
sent=$((sent + ${r#* }))
r=$(get "$S/v2/")
he_eq "hit: ping" "${r% *}" 200
sent=$((sent + ${r#* }))
r=$(get "$S/v2/test/single/manifests/nope")
he_eq "miss: unknown tag" "${r% *}" 404
r=$(get "$S/v2/test/single/blobs/$layer")
he_eq "miss: the corrupted layer is not served" "${r% *}" 404
r=$(get "$S/v2/test/single/manifests/v1" -X PUT -d '{}')
he_eq "bypass: PUT is 405" "${r% *}" 405
r=$(get "$P/v2/test/chart/manifests/0.1.0")
he_eq "pass: a manifest only the primary has, through harbor_miss_pass" \
    "${r% *}" 200
r=$(get "$A/v2/test/single/manifests/v1")
he_eq "denied: no token" "${r% *}" 401
r=$(get "$A/v2/test/single/manifests/v1" -H 'Authorization: Bearer a.b.c')
he_eq "denied: a broken token" "${r% *}" 401
other=$(python3 "$MINT" mint --key "$KEY" --scope repository:test/other:pull)
r=$(get "$A/v2/test/single/manifests/v1" -H "Authorization: Bearer $other")
he_eq "denied: a token without the scope" "${r% *}" 401
good=$(python3 "$MINT" mint --key "$KEY" --scope repository:test/single:pull)
r=$(get "$A/v2/test/single/manifests/v1" -H "Authorization: Bearer $good")
he_eq "hit: with a good token" "${r% *}" 200
sent=$((sent + ${r#* }))

hook() {        # hook AUTH: POST a PUSH_ARTIFACT, the status
    curl -s -o /dev/null -w '%{http_code}' -H "Authorization: $1" \
        -H 'Content-Type: application/json' --data-binary \
        '{"type":"PUSH_ARTIFACT","occur_at":1717000000,"event_data":{"resources":[{"digest":"'"$single"'","tag":"v1"}],"repository":{"namespace":"test","name":"single"}}}' \
        "$S/hook"
}
he_eq "webhook: accepted" "$(hook 'Bearer hook-secret')" 200
he_eq "webhook: wrong secret refused" "$(hook 'Bearer wrong')" 401

# Redis acknowledges asynchronously: wait for the queued counter to settle
want_queued=$(( $(redis-cli -p "$rport" llen "$Q") ))
for i in $(seq 50); do
    scrape "$d/m1"
    q=$(val "$d/m1" 'harbor_edge_events_total{result="queued"}')
    [ "$q" = "$(redis-cli -p "$rport" llen "$Q")" ] && [ "$q" != 0 ] && break
    sleep 0.1
done

# ------------------------------------------------------------- the figures
check() {       # check SERIES WANT [FILE]
    he_eq "$1" "$(val "${3:-$d/m1}" "$1")" "$2"
}
he_pass "after the drive the exposition passes promcheck ($(sed 's/.*OK, //' "$d/m1.check"))"
check 'harbor_edge_requests_total{code="2xx",endpoint="manifest"}' 3
check 'harbor_edge_requests_total{code="4xx",endpoint="manifest"}' 5
check 'harbor_edge_requests_total{code="2xx",endpoint="blob"}' 1
check 'harbor_edge_requests_total{code="4xx",endpoint="blob"}' 1
check 'harbor_edge_requests_total{code="2xx",endpoint="ping"}' 1
check 'harbor_edge_requests_total{code="5xx",endpoint="manifest"}' 0
check 'harbor_edge_cache_requests_total{status="hit"}' 4
check 'harbor_edge_cache_requests_total{status="miss"}' 2
check 'harbor_edge_cache_requests_total{status="pass"}' 1
check 'harbor_edge_cache_requests_total{status="denied"}' 3
check 'harbor_edge_cache_requests_total{status="bypass"}' 1
check 'harbor_edge_cache_requests_total{status="error"}' 0
check 'harbor_edge_store_sent_bytes_total' "$sent"
# manifest (S), config blob, corrupted layer: hashed; the manifest again (A)
# is the same file, remembered in the zone
check 'harbor_edge_verify_hashes_total' 3
check 'harbor_edge_verify_failures_total' 1
check 'harbor_edge_auth_denied_total{reason="no_token"}' 1
check 'harbor_edge_auth_denied_total{reason="invalid_token"}' 1
check 'harbor_edge_auth_denied_total{reason="insufficient_scope"}' 1
check 'harbor_edge_webhook_requests_total{result="accepted"}' 1
check 'harbor_edge_webhook_requests_total{result="refused"}' 1
check 'harbor_edge_events_total{result="queued"}' \
    "$(redis-cli -p "$rport" llen "$Q")"
check 'harbor_edge_events_total{result="dropped"}' 0
[ "$(redis-cli -p "$rport" llen "$Q")" -ge 3 ] \
    || he_fail "fewer than 3 events in Redis (2 misses, 1 pass, 1 webhook)"
he_pass "Redis holds $(redis-cli -p "$rport" llen "$Q") events, as counted"

# the counters are the sum over the workers that served the drive
he_pass "the drive was served by $(awk '{ print $1 }' "$ndir/logs/access.log" \
    | sort -u | wc -l) worker(s), summed in one zone"

# every sample's labels come from fixed tables: nothing from the requests
if grep -E 'single|chart|nope|sha256' "$d/m1"; then
    he_fail "request data leaked into a label"
fi
he_pass "no label carries request data"

# ------------------------------------------------------------------ reload
old_workers=$(ps -o pid= --ppid "$(cat "$ndir/nginx.pid")" | tr -d ' ' | sort)
"$NGINX" -p "$ndir" -c "$ndir/nginx.conf" -e "$ndir/logs/error.log" -s reload \
    || he_fail "nginx -s reload"
for i in $(seq 50); do
    now=$(ps -o pid= --ppid "$(cat "$ndir/nginx.pid")" | tr -d ' ' | sort)
    [ -n "$now" ] && [ -z "$(comm -12 <(echo "$old_workers") <(echo "$now"))" ] \
        && break
    sleep 0.1
done
[ -z "$(comm -12 <(echo "$old_workers") <(echo "$now"))" ] \
    || he_fail "the old workers did not exit after the reload"
he_pass "reloaded: new workers $(echo $now)"

scrape "$d/m2"
grep -v '^#' "$d/m1.series" | grep -v 'events_total' > "$d/m1.cmp"
grep -v '^#' "$d/m2.series" | grep -v 'events_total' > "$d/m2.cmp"
diff "$d/m1.cmp" "$d/m2.cmp" || he_fail "counters changed across the reload"
he_pass "every counter is kept across the reload ($(wc -l < "$d/m2.cmp") series)"

r=$(get "$S/v2/test/single/manifests/v1")
he_eq "hit after the reload" "${r% *}" 200
scrape "$d/m3"
check 'harbor_edge_cache_requests_total{status="hit"}' 5 "$d/m3"
check 'harbor_edge_requests_total{code="2xx",endpoint="manifest"}' 4 "$d/m3"
check 'harbor_edge_store_sent_bytes_total' "$((sent + ${r#* }))" "$d/m3"

# ------------------------------------------------------- the endpoint itself
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$S/metrics")
he_eq "POST /metrics is 405" "$code" 405
code=$(curl -s -o "$d/head" -w '%{http_code}' -I "$S/metrics")
he_eq "HEAD /metrics is 200" "$code" 200

grep -E '\[(alert|crit|emerg)\]' "$ndir/logs/error.log" \
    && he_fail "alerts in the error log"
he_pass "no alert in the error log"

[ "${HE_VERBOSE:-0}" = 1 ] && cat "$d/m3"
cp "$d/m3" "${METRICS_SCRAPE_OUT:-/dev/null}" 2>/dev/null || true
he_log "done in $(he_elapsed)s"
