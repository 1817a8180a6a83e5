#!/usr/bin/env bash
# t_fill.sh: harbor_fill end to end (docs/store.md, "Fills").
#
# Real parts: a token-auth docker-registry as the primary (the token
# issuer makes public/* public, as Harbor's public projects), behind a
# plain nginx that limits its rate (16 MB/s per connection) and logs the
# bytes it sends; redis; the edge (nginx with the module, harbor_fill on,
# no auth of its own); the replicator's daemon with a robot account.
#
#   1. 20 parallel cold GETs of a 64 MiB blob: the primary sends it once
#      (<= 1.05x), all 20 bodies hash to the digest, the median time to
#      the first byte is under 1 s while the transfer takes seconds;
#      $harbor_cache_status says FILL; the next GET is a HIT;
#   2. a Range request on a fill in progress gets its 206 with the right
#      bytes;
#   3. the primary killed mid-fill: the clients see a short read, nothing
#      is published; once it is back a GET completes (the partial data is
#      resumed with a Range) and hashes right;
#   4. a primary that sends wrong bytes: no client gets a complete body,
#      nothing is published, the error log and the metrics say so;
#   5. a private repository of the primary is never filled for an
#      anonymous client of an edge without auth: 404, nothing stored;
#   6. skopeo copies a cold image (an index, its children, every blob)
#      through the edge.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

for t in docker-registry skopeo jq curl openssl python3 redis-server; do
    command -v "$t" >/dev/null || he_skip "$t is not installed"
done
[ -f "$HE_MODULE" ] || he_fail "no $HE_MODULE (make module)"
[ -x "$HE_REPLICATOR" ] || he_fail "no $HE_REPLICATOR (make replicator)"

d=$(he_tmpdir) || he_fail "mktemp"
BIG=$((64 * 1048576))

# ------------------------------------------------------------- primary

openssl genrsa -out "$d/token.key" 2048 2>/dev/null || he_fail "openssl genrsa"
tport=$(he_port)
"$REPO/tests/tools/token-issuer" --port "$tport" --key "$d/token.key" \
    --cert-out "$d/token.crt" --user admin:adminpw:pull,push,* \
    --user robot:robotpw:pull --public 'public/*' \
    > "$d/issuer.out" 2>&1 < /dev/null &
he_defer "he_kill_pid $!"
he_wait_tcp "$tport" || { cat "$d/issuer.out"; he_fail "token issuer"; }

he_registry_start "$d/treg" --token "http://127.0.0.1:$tport/service/token" \
    harbor-token-issuer harbor-registry "$d/token.crt" \
    || he_fail "token docker-registry did not start"
TOKREG=$REGISTRY
PRIMDATA=$d/treg/data/docker/registry/v2

he_push_test_images "$TOKREG" "$d/img" --ns public --creds admin:adminpw \
    || he_fail "push of public/*"
he_push_test_images "$TOKREG" "$d/img2" --ns private --creds admin:adminpw \
    || he_fail "push of private/*"

token() {
    curl -s -u admin:adminpw \
        "http://127.0.0.1:$tport/service/token?service=harbor-registry&scope=$1" \
        | jq -r .token
}

# push_blob REPO FILE: a blob of its own in REPO (no manifest); echoes it
push_blob() {
    local repo=$1 f=$2 dg tok loc sep code
    dg=sha256:$(sha256sum < "$f" | cut -d' ' -f1)
    tok=$(token "repository:$repo:push,pull")
    loc=$(curl -s -D - -o /dev/null -X POST -H "Authorization: Bearer $tok" \
          "http://$TOKREG/v2/$repo/blobs/uploads/" \
          | tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
    case $loc in /*) loc=http://$TOKREG$loc ;; esac
    case $loc in *\?*) sep='&' ;; *) sep='?' ;; esac
    code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT \
           -H "Authorization: Bearer $tok" \
           -H 'Content-Type: application/octet-stream' \
           --data-binary @"$f" "$loc${sep}digest=$dg")
    [ "$code" = 201 ] || { he_log "blob upload to $repo: $code"; return 1; }
    echo "$dg"
}

for n in 1 2 3 4; do
    head -c "$BIG" /dev/urandom > "$d/rand$n"
    eval "R$n=\$(push_blob public/rand \"\$d/rand$n\")" \
        || he_fail "blob upload"
done
he_pass "primary $TOKREG (token auth, public/* public) holds the images and 4 blobs of 64 MiB"

# the slow way to it, counting what it sends
pport=$(he_port)
slow_start() {
    mkdir -p "$d/slow/logs" "$d/slow/tmp"
    cat > "$d/slow/nginx.conf" <<EOF
worker_processes 1;
daemon on;
pid $d/slow/nginx.pid;
error_log $d/slow/logs/error.log;
events { worker_connections 256; }
http {
    log_format bytes '\$request_method \$uri \$status \$body_bytes_sent';
    access_log $d/slow/logs/bytes.log bytes;
    proxy_temp_path $d/slow/tmp;
    client_body_temp_path $d/slow/tmp;
    server {
        listen 127.0.0.1:$pport;
        location / {
            proxy_pass http://$TOKREG;
            limit_rate 16m;
        }
    }
}
EOF
    "$NGINX" -p "$d/slow" -c "$d/slow/nginx.conf" 2>"$d/slow/start.err" \
        || { cat "$d/slow/start.err"; return 1; }
    he_wait_tcp "$pport"
}
slow_stop() {   # the fast way: active transfers are cut
    [ -f "$d/slow/nginx.pid" ] && kill -TERM "$(cat "$d/slow/nginx.pid")" 2>/dev/null
    for i in $(seq 50); do
        [ -f "$d/slow/nginx.pid" ] || break
        sleep 0.1
    done
}
slow_start || he_fail "the slow proxy did not start"
he_defer "slow_stop"

# primary bytes of GETs for digest D (what it sent for the blob)
egress() {
    awk -v dg="$1" '$1 == "GET" && index($2, dg) { s += $4 } END { print s + 0 }' \
        "$d/slow/logs/bytes.log"
}

# ---------------------------------------------------------------- edge

redis=$(he_redis_start "$d/redis") || he_fail "redis"
store=$d/store
mkdir -p "$store"
chmod 0755 "$store"
V2=$store/docker/registry/v2

cat > "$d/replicator.json" <<EOF
{
    "storage": {"root": "$store"},
    "primary": {"url": "http://127.0.0.1:$pport",
                "username": "robot", "password": "robotpw"},
    "redis": "127.0.0.1:$redis",
    "log_level": "info",
    "policies": []
}
EOF
"$HE_REPLICATOR" -c "$d/replicator.json" daemon > "$d/daemon.log" 2>&1 &
DPID=$!
he_defer "he_kill_pid $DPID"

HE_NGINX_HTTP_EXTRA="harbor_redis 127.0.0.1:$redis;
    log_format cs '\$request_method \$request_uri \$status \$harbor_cache_status \$body_bytes_sent';"
HE_NGINX_SERVER_EXTRA="access_log $d/ngx/logs/cs.log cs;
        location = /metrics { harbor_metrics; }"
mkdir -p "$d/ngx"
port=$(he_nginx_start "$d/ngx" "$store" "harbor_fill on; harbor_fill_wait 10s; harbor_fill_timeout 5s;") \
    || he_fail "edge nginx"
EDGE=127.0.0.1:$port
he_pass "edge on $EDGE (harbor_fill on, no auth), daemon pid $DPID"

# get N URL: N parallel GETs; $d/get.I: code ttfb total size; $d/sum.I
get() {
    local n=$1 url=$2 i pids=''
    rm -f "$d"/get.* "$d"/sum.*
    for i in $(seq "$n"); do
        ( curl -s -w '%{http_code} %{time_starttransfer} %{time_total} %{size_download}\n' \
               -o >(sha256sum | cut -d' ' -f1 > "$d/sum.$i") "${@:3}" "$url" \
               > "$d/get.$i"; echo "$?" >> "$d/get.$i" ) &
        pids="$pids $!"
    done
    wait $pids
    sleep 0.2
}

# ------------------------------------------------ 1. 20 clients, 1 fetch

get 20 "http://$EDGE/v2/public/rand/blobs/$R1"
ok=0
for i in $(seq 20); do
    [ "$(cat "$d/sum.$i")" = "${R1#sha256:}" ] && [ "$(head -c3 "$d/get.$i")" = 200 ] \
        && ok=$((ok + 1))
done
he_eq "20 parallel cold GETs: every body hashes to the digest" "$ok" 20
out=$(egress "${R1#sha256:}")
ratio=$(awk -v a="$out" -v b="$BIG" 'BEGIN { printf "%.2f", a / b }')
awk -v r="$ratio" 'BEGIN { exit !(r <= 1.05 && r >= 1.0) }' \
    || he_fail "the primary sent $out bytes for a $BIG-byte blob (${ratio}x)"
ttfb=$(head -qn1 "$d"/get.* | awk '{ print $2 }' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
last=$(head -qn1 "$d"/get.* | awk '{ print $3 }' | sort -n | tail -1)
awk -v t="$ttfb" 'BEGIN { exit !(t < 1.0) }' || he_fail "median time to first byte ${ttfb}s"
awk -v t="$last" 'BEGIN { exit !(t > 2.0) }' \
    || he_fail "the transfer took ${last}s: the primary was not slow enough to show anything"
he_pass "primary egress ${ratio}x the blob; median first byte ${ttfb}s, last byte ${last}s"
n=$(grep -c "/blobs/$R1 200 FILL" "$d/ngx/logs/cs.log")
he_eq "\$harbor_cache_status FILL for each of them" "$n" 20
[ -s "$V2/blobs/sha256/${R1:7:2}/${R1#sha256:}/data" ] || he_fail "the blob was not published"
[ -s "$V2/repositories/public/rand/_layers/sha256/${R1#sha256:}/link" ] \
    || he_fail "the blob was not linked into public/rand"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$EDGE/v2/public/rand/blobs/$R1")
he_eq "the next GET is answered from the store" "$code $(tail -1 "$d/ngx/logs/cs.log" | awk '{ print $4 }')" "200 HIT"

# ------------------------------------------- 2. a Range on a fill under way

curl -s -o "$d/whole" "http://$EDGE/v2/public/rand/blobs/$R2" &
wpid=$!
sleep 1
want=$(tail -c +$((40 * 1048576 + 1)) "$d/rand2" | head -c 100 | od -An -tx1 | tr -d ' \n')
code=$(curl -s -o "$d/range" -w '%{http_code}' -r $((40 * 1048576))-$((40 * 1048576 + 99)) \
       "http://$EDGE/v2/public/rand/blobs/$R2")
got=$(od -An -tx1 < "$d/range" | tr -d ' \n')
wait $wpid
he_eq "a Range on a fill under way: 206" "$code" 206
he_eq "with the range's bytes" "$got" "$want"
he_eq "the whole blob meanwhile" "$(sha256sum < "$d/whole" | cut -d' ' -f1)" "${R2#sha256:}"

# ------------------------------------------------ 3. the primary dies

get 2 "http://$EDGE/v2/public/rand/blobs/$R3" &
gpid=$!
for i in $(seq 100); do
    [ -s "$store/_harbor_edge/partial/sha256-${R3#sha256:}" ] && break
    sleep 0.05
done
sleep 1
slow_stop
wait $gpid
for i in 1 2; do
    read -r c t1 t2 size < "$d/get.$i"
    [ "$size" -lt "$BIG" ] || he_fail "a client got the whole blob from a dead primary"
done
[ -e "$V2/blobs/sha256/${R3:7:2}/${R3#sha256:}/data" ] \
    && he_fail "a blob was published from a dead primary"
he_pass "the primary killed mid-fill: the clients got a short read ($(cut -d' ' -f4 "$d/get.1" | head -1) bytes), nothing published"
slow_start || he_fail "the slow proxy did not come back"
# the failed fill's clients are gone; a new one starts a new fill
for i in $(seq 100); do
    grep -q "fill: fill blob public/rand@$R3 failed" "$d/daemon.log" && break
    sleep 0.1
done
code=$(curl -s -o "$d/after" -w '%{http_code}' --max-time 60 "http://$EDGE/v2/public/rand/blobs/$R3")
he_eq "after the primary is back the GET completes" "$code" 200
he_eq "and hashes right" "$(sha256sum < "$d/after" | cut -d' ' -f1)" "${R3#sha256:}"
grep -q "blob $R3: resuming at byte" "$d/daemon.log" \
    && he_pass "the fill after the outage resumed the partial data with a Range"

# ------------------------------------------------ 4. a lying primary

f=$PRIMDATA/blobs/sha256/${R4:7:2}/${R4#sha256:}/data
printf '\xff' | dd of="$f" bs=1 seek=$((BIG / 2)) conv=notrunc status=none \
    || he_fail "could not corrupt the primary's copy"
get 2 "http://$EDGE/v2/public/rand/blobs/$R4"
for i in 1 2; do
    read -r c t1 t2 size < "$d/get.$i"
    [ "$size" -lt "$BIG" ] || he_fail "a client got a complete body of wrong bytes"
done
[ -e "$V2/blobs/sha256/${R4:7:2}/${R4#sha256:}/data" ] && he_fail "wrong bytes were published"
grep -q "digest mismatch" "$d/daemon.log" || he_fail "the replicator did not log the mismatch"
grep -q "the fill of \"$R4\" failed" "$d/ngx/logs/error.log" \
    || he_fail "the edge's error log says nothing of the failed fill"
curl -s "http://$EDGE/metrics" > "$d/metrics"
failed=$(awk '/^harbor_edge_fill_requests_total\{result="failed"\}/ { print $2 }' "$d/metrics")
[ "${failed:-0}" -ge 2 ] || he_fail "harbor_edge_fill_requests_total{result=\"failed\"} is ${failed:-0}"
he_pass "a primary that lies: both clients cut short ($(cut -d' ' -f4 "$d/get.1" | head -1) of $BIG bytes), nothing published, logged, failed=$failed"

# ------------------------------------- 5. private stays private

pdg=$(curl -s -H "Authorization: Bearer $(token repository:private/single:pull)" \
       -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
       "http://$TOKREG/v2/private/single/manifests/v1" | jq -r '.layers[-1].digest')
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$EDGE/v2/private/single/blobs/$pdg")
he_eq "an anonymous client asking the edge for a private blob: 404" "$code" 404
code=$(curl -s -o /dev/null -w '%{http_code}' \
       -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
       "http://$EDGE/v2/private/single/manifests/v1")
he_eq "and for a private manifest: 404" "$code" 404
[ -e "$V2/repositories/private" ] && he_fail "something of private/* was stored"
grep -q "private/single is not served to anonymous clients" "$d/daemon.log" \
    || he_fail "the daemon did not say why"
he_pass "a private repository is never filled for an anonymous client"

# ------------------------------------------------ 6. skopeo, cold

he_skopeo copy -q --all --src-tls-verify=false \
    "docker://$EDGE/public/multiarch:v1" "oci:$d/pulled:x" > "$d/skopeo.err" 2>&1 \
    || { cat "$d/skopeo.err"; tail -20 "$d/daemon.log"; he_fail "skopeo copy --all of a cold index through the edge"; }
he_pass "skopeo copied public/multiarch:v1 (index, children, blobs) through a cold edge: $(grep -c ' FILL ' "$d/ngx/logs/cs.log") requests answered from fills"
grep -q ' 200 PASS ' "$d/ngx/logs/cs.log" && he_fail "something was passed to the primary"

grep -E ' (error|alert|crit|emerg)' "$d/ngx/logs/error.log" \
    | grep -v -e 'the fill of "'"$R4"'" failed' -e "the fill of \"$R3\"" \
              -e 'no progress' > "$d/unexpected.log"
[ -s "$d/unexpected.log" ] && he_fail "unexpected errors in the edge's log: $(head -3 "$d/unexpected.log")"

he_pass "t_fill done in $(he_elapsed) s"
