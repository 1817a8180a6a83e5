#!/usr/bin/env bash
# t_region.sh: a region of three edges sharing their fills, and a cascade
# (docs/deploy.md, "A region of edges"; conf/region-edge.conf).
#
# Real parts: docker-registry as the primary, behind a plain nginx that
# logs the bytes it sends (the primary's egress); three edges, each its
# own nginx (a client server and a sibling server, as region-edge.conf),
# store, Redis and harbor-replicator daemon; a site edge below edge 1.
#
#   1. 30 clients, 10 per edge, cold-pull an image with a 64 MiB layer at
#      once: every body hashes to its digest, and the primary sends each
#      blob once: `primary egress N.NNx` (bytes the primary sent / the
#      image's unique blob bytes) <= 1.05;
#   2. hops: every request a sibling server got came from a client server
#      (hop=1) and went nowhere but the store or the primary; a request
#      carrying the hop header at a client server is refused (508);
#   3. edge 3 stopped while 12 clients pull 16 blobs through edges 1 and 2:
#      every pull succeeds, and a blob edge 3 owned is served by the next
#      edge on the ring (its upstream list shows edge 3 tried, then another);
#   4. a two-tier cascade, primary -> edge 1 -> site edge: the site's
#      replicator runs a policy against edge 1 (catalog, tags, manifests,
#      blobs, referrers as a registry answers them) and ends with the
#      primary's tags; the site serves them; a cold pull through the site
#      costs the primary no blob bytes the region has (only those of the
#      stopped edge 3, once).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

for t in docker-registry skopeo jq curl python3 redis-server redis-cli; do
    command -v "$t" >/dev/null || he_skip "$t is not installed"
done
[ -f "$HE_MODULE" ] || he_fail "no $HE_MODULE (make module)"
[ -x "$HE_REPLICATOR" ] || he_fail "no $HE_REPLICATOR (make replicator)"

d=$(he_tmpdir) || he_fail "mktemp"
T0=$(date +%s)
ACCEPT='application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json'

# ------------------------------------------------------------- primary

he_registry_start "$d/primary" || he_fail "docker-registry"
PRIMARY=$REGISTRY
# cascade/* (an index, a chart, Docker types) for part 4, pushed meanwhile
( he_push_test_images "$PRIMARY" "$d/img2" --ns cascade && touch "$d/img2.ok" ) &
PUSHPID=$!

# push_blob REPO FILE: a blob of its own in REPO; echoes its digest
push_blob() {
    local repo=$1 f=$2 dg loc sep code
    dg=sha256:$(sha256sum < "$f" | cut -d' ' -f1)
    loc=$(curl -s -D - -o /dev/null -X POST "http://$PRIMARY/v2/$repo/blobs/uploads/" \
          | tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
    case $loc in /*) loc=http://$PRIMARY$loc ;; esac
    case $loc in *\?*) sep='&' ;; *) sep='?' ;; esac
    code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT \
           -H 'Content-Type: application/octet-stream' \
           --data-binary @"$f" "$loc${sep}digest=$dg")
    [ "$code" = 201 ] || { he_log "blob upload to $repo: $code"; return 1; }
    echo "$dg"
}
# region/single:v1, an OCI image of a config, a 64 MiB layer and a small
# one (the clients here are curl: the layers need not be tar files)
head -c $((64 * 1048576)) /dev/urandom > "$d/big.layer"
head -c 4096 /dev/urandom > "$d/small.layer"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' \
    > "$d/config.json"
cfg=$(push_blob region/single "$d/config.json") || he_fail "config upload"
big=$(push_blob region/single "$d/big.layer") || he_fail "64 MiB layer upload"
small=$(push_blob region/single "$d/small.layer") || he_fail "layer upload"
size() { stat -c %s "$1"; }
cat > "$d/manifest.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
 "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$cfg","size":$(size "$d/config.json")},
 "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"$big","size":$(size "$d/big.layer")},
           {"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"$small","size":$(size "$d/small.layer")}]}
EOF
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT \
       -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
       --data-binary @"$d/manifest.json" "http://$PRIMARY/v2/region/single/manifests/v1")
[ "$code" = 201 ] || he_fail "manifest upload: $code"

RAND=()
for n in $(seq 16); do
    head -c $((1048576 + n)) /dev/urandom > "$d/rand.$n"
    dg=$(push_blob region/rand "$d/rand.$n") || he_fail "blob upload"
    RAND+=("$dg")
done
he_pass "primary $PRIMARY: region/* (a 64 MiB layer), cascade/*, 16 blobs of 1 MiB"

# the way to the primary, counting what it sends
pport=$(he_port)
mkdir -p "$d/count/logs" "$d/count/tmp"
cat > "$d/count/nginx.conf" <<EOF
worker_processes 1;
daemon on;
pid $d/count/nginx.pid;
error_log $d/count/logs/error.log;
events { worker_connections 1024; }
http {
    log_format bytes '\$request_method \$uri \$status \$body_bytes_sent';
    access_log $d/count/logs/bytes.log bytes;
    proxy_temp_path $d/count/tmp;
    client_body_temp_path $d/count/tmp;
    server {
        listen 127.0.0.1:$pport;
        location / {
            proxy_pass http://$PRIMARY;
            proxy_buffering off;
        }
    }
}
EOF
"$NGINX" -p "$d/count" -c "$d/count/nginx.conf" 2>"$d/count/start.err" \
    || { cat "$d/count/start.err"; he_fail "the counting proxy"; }
he_defer "he_nginx_stop $(printf '%q' "$d/count")"
he_wait_tcp "$pport" || he_fail "the counting proxy"
UP=127.0.0.1:$pport

# sent_since LINE: bytes the primary sent after line LINE of its log
sent_since() {
    tail -n +"$(($1 + 1))" "$d/count/logs/bytes.log" | awk '{ s += $4 } END { print s + 0 }'
}
mark() { wc -l < "$d/count/logs/bytes.log"; }

# ---------------------------------------------------------------- edges

CPORT=() SPORT=()
for i in 1 2 3; do
    CPORT[$i]=$(he_port)
    SPORT[$i]=$(he_port)
done
REGION_SERVERS=''
for i in 1 2 3; do
    REGION_SERVERS="$REGION_SERVERS
        server 127.0.0.1:${SPORT[$i]} max_fails=1 fail_timeout=10s;"
done

# edge_start I: edge I's redis, daemon and nginx (region-edge.conf's shape)
edge_start() {
    local i=$1 e=$d/edge$1 redis policies=''
    mkdir -p "$e/store" "$e/ngx/logs"
    redis=$(he_redis_start "$e/redis") || return 1
    [ "$i" = 1 ] && policies='{"name": "pin", "enabled": true,
         "trigger": {"type": "manual"},
         "filters": [{"type": "name", "value": "cascade/**"}],
         "override": true}'
    cat > "$e/replicator.json" <<EOF
{
    "storage": {"root": "$e/store"},
    "primary": {"url": "http://$UP", "type": "docker-registry"},
    "redis": "127.0.0.1:$redis",
    "log_level": "info",
    "policies": [$policies]
}
EOF
    "$HE_REPLICATOR" -c "$e/replicator.json" daemon > "$e/daemon.log" 2>&1 &
    echo $! > "$e/daemon.pid"
    he_defer "he_kill_pid $!"

    HE_NGINX_HTTP_EXTRA="harbor_redis 127.0.0.1:$redis;
    log_format region '\$request_method \$uri \$status \$body_bytes_sent '
                      'cache=\$harbor_cache_status hop=\$http_x_harbor_region_hop '
                      'up=\"\$upstream_addr\"';
    upstream harbor_primary { server $UP; }
    upstream harbor_region {
        hash \$harbor_digest consistent;$REGION_SERVERS
    }
    server {
        listen 127.0.0.1:${SPORT[$i]};
        harbor_root $e/store;
        access_log $e/ngx/logs/sibling.log region;
        location /v2/ {
            harbor_registry on;
            harbor_miss_pass @primary;
        }
        location ~ \"^/v2/.+/blobs/sha256:[0-9a-f]{64}\$\" {
            harbor_registry on;
            harbor_fill on;
            harbor_fill_wait 10s;
            harbor_fill_timeout 30s;
            harbor_miss_pass @primary;
        }
        location @primary {
            proxy_pass http://harbor_primary;
            proxy_buffering off;
        }
    }"
    HE_NGINX_SERVER_EXTRA="access_log $e/ngx/logs/client.log region;
        if (\$http_x_harbor_region_hop) {
            return 508;
        }
        location ~ \"^/v2/.+/blobs/sha256:[0-9a-f]{64}\$\" {
            harbor_registry on;
            harbor_miss_pass @region;
        }
        location @region {
            proxy_pass http://harbor_region;
            proxy_set_header X-Harbor-Region-Hop 1;
            proxy_buffering off;
            proxy_connect_timeout 1s;
            proxy_next_upstream error timeout http_502 http_503 http_504;
            proxy_next_upstream_tries 3;
            proxy_next_upstream_timeout 20s;
        }
        location @primary {
            proxy_pass http://harbor_primary;
            proxy_buffering off;
        }"
    HE_NGINX_PORT_WANT=${CPORT[$i]} he_nginx_start "$e/ngx" "$e/store" \
        "harbor_miss_pass @primary;" > /dev/null
}
for i in 1 2 3; do
    edge_start "$i" || he_fail "edge $i"
done
he_pass "edges on ${CPORT[1]} ${CPORT[2]} ${CPORT[3]} (client), ${SPORT[1]} ${SPORT[2]} ${SPORT[3]} (sibling)"

# pull PORT REPO REF OUT: a client's pull (manifest, every blob hashed)
pull() {
    local port=$1 repo=$2 ref=$3 out=$4 m dg got
    m=$(curl -sf --max-time 60 -H "Accept: $ACCEPT" \
        "http://127.0.0.1:$port/v2/$repo/manifests/$ref") \
        || { echo "manifest: curl failed" > "$out"; return; }
    for dg in $(echo "$m" | jq -r '.config.digest, .layers[].digest'); do
        got=$(curl -sf --max-time 180 "http://127.0.0.1:$port/v2/$repo/blobs/$dg" \
              | sha256sum | cut -d' ' -f1)
        [ "sha256:$got" = "$dg" ] \
            || { echo "blob $dg: body hashes to sha256:$got" > "$out"; return; }
    done
    echo ok > "$out"
}

# blobs PORT OUT DIGEST...: GET each blob of region/rand, hashed
blobs() {
    local port=$1 out=$2 dg got
    shift 2
    for dg in "$@"; do
        got=$(curl -sf --max-time 60 "http://127.0.0.1:$port/v2/region/rand/blobs/$dg" \
              | sha256sum | cut -d' ' -f1)
        [ "sha256:$got" = "$dg" ] \
            || { echo "blob $dg via $port: body hashes to sha256:$got" > "$out"; return; }
    done
    echo ok > "$out"
}

# all_ok PREFIX N: every $d/PREFIX.* says ok
all_ok() {
    local n=0 f
    for f in "$d/$1".*; do
        [ "$(cat "$f")" = ok ] && n=$((n + 1)) || he_log "$f: $(cat "$f")"
    done
    [ "$n" = "$2" ]
}

he_log "set up in $(( $(date +%s) - T0 )) s"

# ------------------------------------------ 1. 30 clients, one egress

M=$(curl -sf -H "Accept: $ACCEPT" "http://$PRIMARY/v2/region/single/manifests/v1") \
    || he_fail "the manifest from the primary"
UNIQUE=$(echo "$M" | jq '.config.size + ([.layers[].size] | add)')
BIGGEST=$(echo "$M" | jq '[.layers[].size] | max')
[ "$BIGGEST" -ge $((64 * 1048576)) ] || he_fail "no 64 MiB layer: $BIGGEST"

m0=$(mark)
t1=$(date +%s.%N)
pids=''
for c in $(seq 30); do
    i=$(( (c - 1) % 3 + 1 ))
    pull "${CPORT[$i]}" region/single v1 "$d/p1.$c" &
    pids="$pids $!"
done
wait $pids
t2=$(date +%s.%N)
all_ok p1 30 || he_fail "a cold pull failed or hashed wrong"
he_pass "30 cold pulls over 3 edges, every body hashes to its digest ($(echo "$t2 - $t1" | bc) s)"

SENT=$(sent_since "$m0")
RATIO=$(echo "scale=4; $SENT / $UNIQUE" | bc)
printf 'primary egress %.2fx (%s bytes sent, %s unique blob bytes, 30 clients)\n' \
    "$RATIO" "$SENT" "$UNIQUE"
[ "$(echo "$RATIO <= 1.05" | bc)" = 1 ] \
    || { cat "$d/count/logs/bytes.log" | tail -40; he_fail "primary egress ${RATIO}x > 1.05"; }
he_pass "the primary sent each blob once"

# each blob is on one edge of the region: its owner
declare -A HOLDER
for dg in $(echo "$M" | jq -r '.config.digest, .layers[].digest'); do
    holders=0
    for i in 1 2 3; do
        if [ -f "$d/edge$i/store/docker/registry/v2/blobs/sha256/${dg:7:2}/${dg:7}/data" ]
        then
            holders=$((holders + 1))
            HOLDER[$dg]=$i
        fi
    done
    he_eq "one edge of the region holds $dg" "$holders" 1
done

# ------------------------------------------------------------- 2. hops

bad=0 nsib=0
for i in 1 2 3; do
    l=$d/edge$i/ngx/logs/sibling.log
    [ -f "$l" ] || continue
    nsib=$((nsib + $(grep -c . "$l")))
    # every sibling request came with hop=1, and went to the store ("-")
    # or to the primary, never to a sibling
    bad=$((bad + $(grep -vc 'hop=1 ' "$l")))
    for j in 1 2 3; do
        bad=$((bad + $(grep -c "127.0.0.1:${SPORT[$j]}" "$l")))
    done
done
[ "$nsib" -gt 0 ] || he_fail "no sibling server got a request"
he_eq "$nsib sibling requests, all one hop from a client server" "$bad" 0
npass=$(cat "$d"/edge*/ngx/logs/client.log | grep -c '/blobs/.* cache=PASS ')
he_eq "each blob pass of a client server is one sibling request" "$npass" "$nsib"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Harbor-Region-Hop: 1' \
       "http://127.0.0.1:${CPORT[1]}/v2/region/rand/blobs/${RAND[0]}")
he_eq "a request with the hop header at a client server: 508" "$code" 508
he_eq "hop=1 never reached a client server's store or siblings" \
    "$(cat "$d"/edge*/ngx/logs/client.log | grep -c 'hop=1 .*up="127')" 0

# ---------------------------------------------- 3. an edge stops midway

he_log "$(( $(date +%s) - T0 )) s so far"

# who owns what: a first pass over edge 1 alone
blobs "${CPORT[1]}" "$d/own" "${RAND[@]}"
[ "$(cat "$d/own")" = ok ] || he_fail "$(cat "$d/own")"
OWNED3=()
for dg in "${RAND[@]}"; do
    grep -q "/blobs/$dg " "$d/edge3/ngx/logs/sibling.log" 2>/dev/null && OWNED3+=("$dg")
done
he_log "edge 3 owns ${#OWNED3[@]} of the 16 blobs"
# the owner is the digest's: 16 digests spread over the edges (one owner
# for all would be a key that does not vary, odds 3 x 3^-16 by chance)
owners=0
for i in 1 2 3; do
    for dg in "${RAND[@]}"; do
        if grep -q "/blobs/$dg " "$d/edge$i/ngx/logs/sibling.log" 2>/dev/null; then
            owners=$((owners + 1))
            break
        fi
    done
done
[ "$owners" -ge 2 ] || he_fail "the 16 blobs have $owners owner(s): the hash key does not vary"
he_pass "the 16 blobs are spread over $owners owners"

m3=$(wc -l < "$d/edge3/ngx/logs/sibling.log" 2>/dev/null || echo 0)
pids=''
for c in $(seq 12); do
    i=$(( (c - 1) % 2 + 1 ))
    # each client: every blob, in its own order
    ( order=$(printf '%s\n' "${RAND[@]}" | shuf)
      blobs "${CPORT[$i]}" "$d/p3.$c" $order ) &
    pids="$pids $!"
done
# midway: once edge 3 has answered some of this round
for k in $(seq 200); do
    [ "$(wc -l < "$d/edge3/ngx/logs/sibling.log" 2>/dev/null || echo 0)" -gt $((m3 + 5)) ] && break
    [ "${#OWNED3[@]}" = 0 ] && break
    sleep 0.05
done
he_nginx_stop "$d/edge3/ngx"
he_kill_pid "$(cat "$d/edge3/daemon.pid")"
wait $pids
all_ok p3 12 || he_fail "a pull failed after edge 3 stopped"
he_pass "edge 3 stopped midway: 12 clients x 16 blobs through edges 1 and 2 all hash right"
if [ "${#OWNED3[@]}" -gt 0 ]; then
    # and after the round (which may have ended before the stop took hold)
    for i in 1 2; do
        blobs "${CPORT[$i]}" "$d/after.$i" "${OWNED3[@]}"
    done
    all_ok after 2 || he_fail "edge 3's blobs through edges 1 and 2 after the stop"
    skipped=$(cat "$d"/edge[12]/ngx/logs/client.log \
              | grep -c "up=\"127.0.0.1:${SPORT[3]}, 127.0.0.1:")
    [ "$skipped" -gt 0 ] || he_fail "no request shows edge 3 tried and another edge answering"
    he_pass "$skipped requests show edge 3 tried, then the next edge on the ring"
else
    he_log "edge 3 owned none of the 16 blobs (odds (2/3)^16): the skip is not shown"
fi

# ------------------------------------------------------- 4. a cascade

he_log "$(( $(date +%s) - T0 )) s so far"

wait "$PUSHPID"
[ -f "$d/img2.ok" ] || he_fail "test images (cascade/*)"

# edge 1 pins cascade/* from the primary (a policy of its own)
"$HE_REPLICATOR" -c "$d/edge1/replicator.json" run --policy pin > "$d/pin.log" 2>&1 \
    || { cat "$d/pin.log"; he_fail "edge 1's policy run"; }
he_pass "edge 1 ran its policy: cascade/* pinned"

s=$d/site
mkdir -p "$s/store" "$s/ngx/logs"
sredis=$(he_redis_start "$s/redis") || he_fail "site redis"
cat > "$s/replicator.json" <<EOF
{
    "storage": {"root": "$s/store"},
    "primary": {"url": "http://127.0.0.1:${CPORT[1]}", "type": "docker-registry"},
    "redis": "127.0.0.1:$sredis",
    "log_level": "info",
    "policies": [{"name": "site", "enabled": true,
                  "trigger": {"type": "manual"},
                  "filters": [{"type": "name", "value": "cascade/**"}],
                  "override": true}]
}
EOF
"$HE_REPLICATOR" -c "$s/replicator.json" daemon > "$s/daemon.log" 2>&1 &
he_defer "he_kill_pid $!"
HE_NGINX_HTTP_EXTRA="harbor_redis 127.0.0.1:$sredis;"
HE_NGINX_SERVER_EXTRA="location @regional {
            proxy_pass http://127.0.0.1:${CPORT[1]};
            proxy_buffering off;
        }"
sport=$(he_nginx_start "$s/ngx" "$s/store" \
        "harbor_fill on; harbor_fill_wait 10s; harbor_miss_pass @regional;") \
    || he_fail "site nginx"
he_pass "site edge on $sport: its primary is edge 1 (${CPORT[1]})"

m4=$(mark)
"$HE_REPLICATOR" -c "$s/replicator.json" run --policy site > "$s/run.log" 2>&1 \
    || { cat "$s/run.log"; he_fail "the site's policy run against edge 1"; }
he_eq "the site's run sent nothing to the primary" "$(sent_since "$m4")" 0
SV2=$s/store/docker/registry/v2
n=0
while IFS=$'\t' read -r ref mt dg; do
    repo=${ref%%:*} tag=${ref#*:}
    got=$(cat "$SV2/repositories/$repo/_manifests/tags/$tag/current/link" 2>/dev/null)
    [ "$got" = "$dg" ] || he_fail "site: $ref is '$got', the primary's is $dg"
    n=$((n + 1))
done < <(grep '^cascade/' "$d/img2/pushed.tsv")
he_pass "the site holds the primary's $n cascade tags, by the primary's digests"

he_skopeo copy --all --src-tls-verify=false "docker://127.0.0.1:$sport/cascade/multiarch:v1" \
    "oci:$d/site-multiarch:v1" > "$d/site-skopeo.out" 2>&1 \
    || { cat "$d/site-skopeo.out"; he_fail "skopeo copy --all from the site"; }
he_eq "skopeo copied cascade/multiarch:v1 --all from the site's store alone" \
    "$(grep -c '/v2/cascade/.* 404 ' "$s/ngx/logs/access.log")" 0

# a cold pull through the site: blobs the region has cost the primary
# nothing; those edge 3 (stopped) held are filled once by the next owner
expect=0
for dg in $(echo "$M" | jq -r '.config.digest, .layers[].digest'); do
    [ "${HOLDER[$dg]}" = 3 ] \
        && expect=$((expect + $(echo "$M" | jq --arg d "$dg" \
                                '[.config, .layers[]] | map(select(.digest == $d)) | .[0].size')))
done
m5=$(mark)
pids=''
for c in 1 2 3; do
    pull "$sport" region/single v1 "$d/p5.$c" &
    pids="$pids $!"
done
wait $pids
all_ok p5 3 || he_fail "a cold pull through the site"
sent=$(sent_since "$m5")
blobsent=$(tail -n +"$((m5 + 1))" "$d/count/logs/bytes.log" \
           | awk '$2 ~ /\/blobs\// { s += $4 } END { print s + 0 }')
he_eq "3 cold pulls through the site: blob bytes from the primary (those edge 3 held: $expect)" \
    "$blobsent" "$expect"
he_pass "... (the primary sent $sent bytes in all, manifests included)"

he_log "t_region took $(( $(date +%s) - T0 )) s"
he_pass "t_region"
