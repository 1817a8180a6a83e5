#!/usr/bin/env bash
# tests/bench/fill.sh: 20 clients cold-pull one image with a 200 MiB layer
# at once, through four caches in front of the same rate-limited primary
# (make bench; not part of make test):
#
#   fill      the edge, harbor_fill on (the replicator fetches it once, the
#             clients follow the file as it is written)
#   pass      the edge, harbor_miss_pass only (every miss proxied)
#   distproxy docker-registry in proxy mode (distribution's pull-through
#             cache, proxy.remoteurl)
#   cachelock nginx proxy_cache with proxy_cache_lock on (lock timeout 120 s)
#
# Each starts cold (an empty store or cache).  The primary is docker-registry
# behind a plain nginx that sends each response at BENCH_RATE (default 40m,
# nginx's limit_rate: 40 MB/s per connection) and logs the bytes it sends.
# A client GETs the manifest by tag, then the layer; we time the layer:
# first byte and last byte (curl), and check its size.  One client pulling
# alone through the edge (cold) is the yardstick for the last byte.
#
# Prints, per cache: primary egress / layer bytes, p50 and p99 time to
# first byte and to last byte, and p50 last byte / one client alone.
# BENCH_CLIENTS (20), BENCH_MIB (200), BENCH_RATE (40m), KEEP=1.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"

N=${BENCH_CLIENTS:-20}
MIB=${BENCH_MIB:-200}
RATE=${BENCH_RATE:-40m}

for t in docker-registry redis-server curl jq; do
    command -v "$t" >/dev/null || he_fail "$t is not installed"
done
[ -f "$HE_MODULE" ] || he_fail "no $HE_MODULE: run make module"
[ -x "$HE_REPLICATOR" ] || he_fail "no $HE_REPLICATOR: run make replicator"

d=$(he_tmpdir fill)
log() { echo "bench: $*" >&2; }

# ------------------------------------------------------------- primary

he_registry_start "$d/reg" || he_fail "docker-registry"
PRIM=$REGISTRY

upload() {  # upload REPO FILE: echoes the digest
    local dg loc sep
    dg=sha256:$(sha256sum < "$2" | cut -d' ' -f1)
    loc=$(curl -s -D - -o /dev/null -X POST "http://$PRIM/v2/$1/blobs/uploads/" \
          | tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
    case $loc in /*) loc=http://$PRIM$loc ;; esac
    case $loc in *\?*) sep='&' ;; *) sep='?' ;; esac
    curl -sf -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' \
        --data-binary @"$2" "$loc${sep}digest=$dg" || return 1
    echo "$dg"
}

log "building bench/big:v1 with a $MIB MiB layer"
head -c $((MIB * 1048576)) /dev/urandom > "$d/layer"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' > "$d/config"
LAYER=$(upload bench/big "$d/layer")
CONFIG=$(upload bench/big "$d/config")
SIZE=$(stat -c %s "$d/layer")
jq -cn --arg c "$CONFIG" --argjson cs "$(stat -c %s "$d/config")" \
       --arg l "$LAYER" --argjson ls "$SIZE" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs},
      layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $l, size: $ls}]}' \
    | curl -sf -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
        --data-binary @- "http://$PRIM/v2/bench/big/manifests/v1" || he_fail "manifest push"
rm -f "$d/layer"

# the primary as every cache sees it: rate-limited, counting its bytes
sport=$(he_port)
mkdir -p "$d/slow/logs" "$d/slow/tmp"
cat > "$d/slow/nginx.conf" <<EOF
worker_processes 1;
daemon on;
pid $d/slow/nginx.pid;
error_log $d/slow/logs/error.log;
events { worker_connections 1024; }
http {
    log_format bytes '\$request_method \$uri \$status \$body_bytes_sent';
    access_log $d/slow/logs/bytes.log bytes;
    proxy_temp_path $d/slow/tmp;
    client_body_temp_path $d/slow/tmp;
    server {
        listen 127.0.0.1:$sport;
        location / { proxy_pass http://$PRIM; limit_rate $RATE; }
    }
}
EOF
"$NGINX" -p "$d/slow" -c "$d/slow/nginx.conf" || he_fail "the slow primary"
he_defer "kill -QUIT \$(cat $d/slow/nginx.pid) 2>/dev/null"
he_wait_tcp "$sport"
SLOW=127.0.0.1:$sport

egress() {
    awk -v dg="${LAYER#sha256:}" '$1 == "GET" && index($2, dg) { s += $4 }
        END { printf "%.0f\n", s }' "$d/slow/logs/bytes.log"
}

# ---------------------------------------------------------------- caches

redis=$(he_redis_start "$d/redis") || he_fail "redis"

# edge NAME EXTRA: an edge on an empty store, echoes its host:port
edge() {
    local name=$1 store=$d/$1-store port
    mkdir -p "$store" "$d/$name"
    chmod 0755 "$store"
    cat > "$d/$name.json" <<EOF
{"storage": {"root": "$store"}, "primary": {"url": "http://$SLOW"},
 "redis": "127.0.0.1:$redis", "redis_queue": "$name", "log_level": "warn",
 "policies": []}
EOF
    case $2 in
    *harbor_fill*)
        "$HE_REPLICATOR" -c "$d/$name.json" daemon > "$d/$name.daemon.log" 2>&1 &
        he_defer "he_kill_pid $!"
        ;;
    esac
    HE_NGINX_HTTP_EXTRA="harbor_redis 127.0.0.1:$redis; harbor_redis_queue $name;"
    HE_NGINX_SERVER_EXTRA="location @primary { proxy_pass http://$SLOW; proxy_buffering off; }"
    port=$(he_nginx_start "$d/$name" "$store" "$2") || return 1
    echo "127.0.0.1:$port"
}

distproxy() {
    local dir=$d/distproxy port out
    mkdir -p "$dir"
    he_registry_start "$dir" --proxy-remote "http://$SLOW" || return 1
    echo "$REGISTRY"
}

cachelock() {
    local dir=$d/cachelock port
    port=$(he_port)
    mkdir -p "$dir/logs" "$dir/cache" "$dir/tmp"
    cat > "$dir/nginx.conf" <<EOF
worker_processes 1;
daemon on;
pid $dir/nginx.pid;
error_log $dir/logs/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    proxy_temp_path $dir/tmp;
    client_body_temp_path $dir/tmp;
    proxy_cache_path $dir/cache keys_zone=reg:10m max_size=2g inactive=1h
                     use_temp_path=off;
    server {
        listen 127.0.0.1:$port;
        location /v2/ {
            proxy_pass http://$SLOW;
            proxy_cache reg;
            proxy_cache_key \$uri\$http_accept;
            proxy_cache_valid 200 1h;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 120s;
            proxy_cache_lock_age 120s;
        }
    }
}
EOF
    "$NGINX" -p "$dir" -c "$dir/nginx.conf" || return 1
    he_defer "kill -QUIT \$(cat $dir/nginx.pid) 2>/dev/null"
    he_wait_tcp "$port"
    echo "127.0.0.1:$port"
}

# pull HOST N OUT: N clients at once: manifest, then the layer, timed
pull() {
    local host=$1 n=$2 out=$3 i pids=''
    rm -f "$out".*
    for i in $(seq "$n"); do
        (
            curl -sf -o /dev/null \
                -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
                "http://$host/v2/bench/big/manifests/v1" || true
            curl -s -o /dev/null --max-time 600 \
                -w '%{http_code} %{time_starttransfer} %{time_total} %{size_download}\n' \
                "http://$host/v2/bench/big/blobs/$LAYER" > "$out.$i"
        ) &
        pids="$pids $!"
    done
    wait $pids
}

# pct FILE COLUMN P: the P-th percentile (nearest rank) of a column
pct() {
    awk -v c="$2" '{ print $c }' "$1" | sort -n \
        | awk -v p="$3" '{ a[NR] = $1 } END { i = int((NR * p + 99) / 100); if (i < 1) i = 1; print a[i] }'
}

results=$d/results
: > "$results"

run() {     # run NAME HOST
    local name=$1 host=$2 e0 e1 bad
    e0=$(egress)
    log "$name: $N clients on $host"
    pull "$host" "$N" "$d/$name.t"
    e1=$(egress)
    cat "$d/$name.t".* > "$d/$name.all"
    bad=$(awk -v s="$SIZE" '$1 != 200 || $4 != s' "$d/$name.all" | wc -l)
    printf '%s %s %s %s %s %s %s\n' "$name" \
        "$(awk -v a="$((e1 - e0))" -v b="$SIZE" 'BEGIN { printf "%.2f", a / b }')" \
        "$(pct "$d/$name.all" 2 50)" "$(pct "$d/$name.all" 2 99)" \
        "$(pct "$d/$name.all" 3 50)" "$(pct "$d/$name.all" 3 99)" "$bad" \
        >> "$results"
}

# the yardstick: one client alone through a cold edge that fills
alone=$(edge alone "harbor_fill on;") || he_fail "edge"
sleep 0.5
pull "$alone" 1 "$d/alone.t"
ALONE=$(awk '{ print $3 }' "$d/alone.t.1")
log "one client alone: last byte after ${ALONE}s"

run fill "$(edge fill 'harbor_fill on;')"
run pass "$(edge pass 'harbor_miss_pass @primary;')"
run distproxy "$(distproxy)"
run cachelock "$(cachelock)"

printf '\n%d clients, one %s-byte layer, primary at %s per connection\n' \
    "$N" "$SIZE" "$RATE"
printf '%-10s %8s %9s %9s %9s %9s %10s %6s\n' cache egress 'ttfb p50' \
    'ttfb p99' 'last p50' 'last p99' 'last/alone' errors
while read -r name eg t50 t99 l50 l99 bad; do
    printf '%-10s %7sx %8ss %8ss %8ss %8ss %9sx %6s\n' "$name" "$eg" "$t50" \
        "$t99" "$l50" "$l99" \
        "$(awk -v a="$l50" -v b="$ALONE" 'BEGIN { printf "%.2f", a / b }')" "$bad"
done < "$results"
printf 'one client alone (cold, through the edge): %ss to the last byte\n' \
    "$ALONE"
printf 'targets for fill: egress 1.00x, last p50 <= 1.1x alone\n'
