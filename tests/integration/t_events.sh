#!/usr/bin/env bash
# t_events.sh: event-driven and on-demand replication end to end.
#
# Real parts: redis-server, docker-registry as the primary, nginx with the
# module as the edge (harbor_miss_pass to the primary, the webhook, misses
# queued in Redis), harbor-replicator daemon taking the events, skopeo as
# the client.  Checks:
#
#   1. a cold pull through the edge succeeds (proxied); within 5 s the
#      daemon has fetched it into the store, and the next pull is served
#      from the store: the edge's access log shows no proxied request
#      ($upstream_addr is "-") -- prints the miss-to-local latency;
#   2. a skopeo push to the primary, then Harbor's PUSH_ARTIFACT webhook
#      POSTed to the edge: the new tag is in the store and served by the
#      edge within 2 s -- prints the push-to-served latency; a
#      DELETE_ARTIFACT removes it again (deletion: true);
#   3. Redis stopped under load: no pull fails; the daemon lives on,
#      reconnects when Redis is back, and consumes new events;
#   4. malformed lines go to <queue>:failed with an error and the daemon
#      goes on with the next event;
#   5. a line left in <queue>:processing by a killed daemon is queued
#      again and done at the next start; a miss no policy covers is
#      ignored and counted; `status` and `status --json` show the
#      executions recorded in Redis;
#   6. one engine, one loop: a webhook event queued while a scheduled run
#      copies a 200 MiB repository (speed-limited, ~15 s) is copied and
#      served within 2 s, the run still going; an event copy of a signed
#      image brings its cosign .sig tag; an event copy repairs a corrupt
#      revision link in the store.
#
# HE_MODULE and HE_REPLICATOR: the built module (harbor_redis) and
# replicator (its daemon takes "redis").

set -u
. "$(dirname "$0")/lib.sh"

command -v redis-server >/dev/null || he_skip "redis-server not installed"
command -v redis-cli >/dev/null || he_skip "redis-cli not installed"
command -v skopeo >/dev/null || he_skip "skopeo not installed"
command -v jq >/dev/null || he_skip "jq not installed"
command -v docker-registry >/dev/null || he_skip "docker-registry not installed"
[ -f "$HE_MODULE" ] || he_skip "no module at $HE_MODULE (make module)"
[ -x "$HE_REPLICATOR" ] || he_skip "no replicator at $HE_REPLICATOR"

d=$(he_tmpdir)
Q=harbor:events
AUTH='Bearer s3cr3t'

# ------------------------------------------------------------- servers

rport=$(he_redis_start "$d/redis") || he_fail "redis did not start"
HE_REDIS_PORT=$rport
HE_REDIS_DIR=$d/redis
rcli() { redis-cli -p "$rport" "$@"; }

he_registry_start "$d/reg" || he_fail "docker-registry did not start"
he_push_test_images "$REGISTRY" "$d/img" --big-kib 256 \
    || he_fail "test images not pushed"
he_pass "primary $REGISTRY holds the test images"

store=$d/store
mkdir -p "$store"
chmod 0755 "$store"
V2=$store/docker/registry/v2

HE_NGINX_HTTP_EXTRA="harbor_redis 127.0.0.1:$rport;
    harbor_redis_queue $Q;
    harbor_redis_timeout 300ms;
    log_format up '\$msec \$request_method \$request_uri \$status \"\$upstream_addr\"';"
HE_NGINX_SERVER_EXTRA="access_log $d/ngx/logs/up.log up;
        location @primary { proxy_pass http://$REGISTRY; }
        location = /hook {
            harbor_webhook;
            harbor_webhook_auth \"$AUTH\";
        }
        location = /test_miss { harbor_events_test_miss; }"

mkdir -p "$d/ngx"
if ! he_nginx_start "$d/ngx" "$store" "harbor_miss_pass @primary;" \
     > "$d/ngx.port" 2> "$d/ngx.err"
then
    # a module built without the events module is a build defect too
    cat "$d/ngx.err" "$d/ngx/start.err" 2>/dev/null
    he_fail "nginx did not start"
fi
port=$(cat "$d/ngx.port")
HE_NGINX_DIR=$d/ngx
EDGE=127.0.0.1:$port
he_pass "edge nginx on $EDGE, misses passed to the primary"

# the slow policy's source: the primary behind a proxy that holds every
# blob GET for 3 s, so a copy is still running when Redis restarts (4c)
cat > "$d/slow.py" <<'PY'
import http.client, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
UP = sys.argv[2]
class H(BaseHTTPRequestHandler):
    def fwd(self, head):
        if "/blobs/" in self.path and not head:
            time.sleep(3)
        c = http.client.HTTPConnection(UP, timeout=30)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        c.request(self.command, self.path, headers=hdrs)
        r = c.getresponse()
        body = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)
    def do_GET(self):
        self.fwd(False)
    def do_HEAD(self):
        self.fwd(True)
    def log_message(self, *a):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
slowport=$(he_port)
python3 "$d/slow.py" "$slowport" "$REGISTRY" > "$d/slow.log" 2>&1 < /dev/null &
he_defer "he_kill_pid $!"
he_wait_tcp "$slowport" || he_fail "the slow proxy did not start"

cat > "$d/replicator.json" <<EOF
{
    "storage": {"root": "$store"},
    "primary": {"url": "http://$REGISTRY"},
    "redis": "127.0.0.1:$rport",
    "redis_queue": "$Q",
    "log_level": "info",
    "policies": [
        {
            "name": "edge-events",
            "trigger": {"type": "event_based"},
            "filters": [{"type": "name", "value": "test/**"}],
            "enabled": true,
            "override": true,
            "deletion": true
        },
        {
            "name": "slow-events",
            "trigger": {"type": "event_based"},
            "filters": [{"type": "name", "value": "slow/**"}],
            "src_registry": {"url": "http://127.0.0.1:$slowport",
                             "type": "docker-registry"},
            "enabled": true
        },
        {
            "name": "disabled-catch-all",
            "trigger": {"type": "event_based"},
            "filters": [{"type": "name", "value": "**"}],
            "enabled": false
        }
    ]
}
EOF

DPID=
daemon_start() {
    "$HE_REPLICATOR" -c "$d/replicator.json" daemon >> "$d/daemon.log" 2>&1 &
    DPID=$!
    he_defer "he_kill_pid $DPID"
    sleep 0.3
    kill -0 "$DPID" 2>/dev/null || { cat "$d/daemon.log"; return 1; }
}

daemon_start || he_fail "the daemon did not start"
for i in $(seq 20); do
    grep -q 'events: taking events' "$d/daemon.log" && break
    sleep 0.05
done
grep -q 'events: taking events' "$d/daemon.log" \
    || { cat "$d/daemon.log"; he_fail "the daemon does not take events from $Q"; }
he_pass "harbor-replicator daemon (pid $DPID) takes $Q"

now_ms() { date +%s%3N; }

# wait_file PATH MAX_MS: prints the ms waited, fails after MAX_MS
wait_file() {
    local f=$1 max=$2 t0 t
    t0=$(now_ms)
    while :; do
        [ -s "$f" ] && { echo $(( $(now_ms) - t0 )); return 0; }
        t=$(( $(now_ms) - t0 ))
        [ "$t" -ge "$max" ] && return 1
        sleep 0.02
    done
}

tagfile() { echo "$V2/repositories/$1/_manifests/tags/$2/current/link"; }

# every blob a pulled dir: copy names is in the store
blobs_in_store() {
    local dir=$1 f h
    for f in "$dir"/*; do
        h=$(basename "$f")
        case $h in manifest.json|version|signature*) continue ;; esac
        [ -s "$V2/blobs/sha256/${h:0:2}/$h/data" ] || return 1
    done
}

# --------------------------------------------- 1. cold pull, then local

t0=$(now_ms)
he_skopeo copy -q --src-tls-verify=false "docker://$EDGE/test/single:v1" \
    "dir:$d/pull1" > "$d/pull1.err" 2>&1 \
    || { cat "$d/pull1.err"; he_fail "cold pull through the edge"; }
t1=$(now_ms)
he_pass "cold pull of test/single:v1 through the edge ($((t1 - t0)) ms, proxied)"

grep -q '"127.0.0.1:' "$d/ngx/logs/up.log" \
    || he_fail "the cold pull was not proxied to the primary"

w=$(wait_file "$(tagfile test/single v1)" 5000) \
    || { tail -20 "$d/daemon.log"; he_fail "test/single:v1 not in the store 5 s after the pull"; }
sleep 0.3   # blob misses that follow the manifest's
blobs_in_store "$d/pull1" || he_fail "a blob of test/single:v1 is missing from the store"
MISS_MS=$((t1 - t0 + w))
he_pass "miss-to-local: test/single:v1 and its blobs in the store ${w} ms after the pull ended (${MISS_MS} ms after it began)"

want=$(cat "$(tagfile test/single v1)")
got=$(curl -s "http://$REGISTRY/v2/test/single/manifests/v1" \
       -H 'Accept: application/vnd.oci.image.manifest.v1+json' | sha256sum | cut -d' ' -f1)
he_eq "the stored tag names the primary's manifest" "$want" "sha256:$got"

lines0=$(wc -l < "$d/ngx/logs/up.log")
he_skopeo copy -q --src-tls-verify=false "docker://$EDGE/test/single:v1" \
    "dir:$d/pull2" > "$d/pull2.err" 2>&1 \
    || { cat "$d/pull2.err"; he_fail "second pull through the edge"; }
tail -n +"$((lines0 + 1))" "$d/ngx/logs/up.log" > "$d/pull2.log"
n=$(wc -l < "$d/pull2.log")
proxied=$(grep -vc ' "-"$' "$d/pull2.log")
[ "$n" -gt 0 ] || he_fail "the second pull left no access log lines"
he_eq "second pull: $n requests, none proxied (upstream_addr -)" "$proxied" 0
cmp -s "$d/pull1/manifest.json" "$d/pull2/manifest.json" \
    || he_fail "the second pull's manifest differs from the first"
he_pass "second pull is the same image, served from the store"

# ------------------------------------- 2. push, webhook, served in 2 s

he_skopeo copy -q --dest-tls-verify=false --all --preserve-digests \
    "oci:$d/img/oci:multiarch" "docker://$REGISTRY/test/newapp:v2" \
    > "$d/push.err" 2>&1 || { cat "$d/push.err"; he_fail "skopeo push to the primary"; }
dg=$(he_skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/test/newapp:v2" \
     | sha256sum | cut -d' ' -f1)
he_pass "pushed test/newapp:v2 (an index, sha256:${dg:0:12}...) to the primary"

[ -e "$(tagfile test/newapp v2)" ] && he_fail "test/newapp:v2 in the store before the webhook"

hook() {
    curl -s -o "$d/hook.out" -w '%{http_code}' --max-time 5 -X POST \
        -H 'Content-Type: application/json' -H "Authorization: $AUTH" \
        --data-binary "$1" "http://$EDGE/hook"
}
payload() { # TYPE TAG DIGEST REPO-NAME
    printf '{"type":"%s","occur_at":%s,"operator":"admin","event_data":{"resources":[{"digest":"%s","tag":"%s","resource_url":"%s/test/%s:%s"}],"repository":{"date_created":1,"name":"%s","namespace":"test","repo_full_name":"test/%s","repo_type":"private"}}}' \
        "$1" "$(date +%s)" "$3" "$2" "$REGISTRY" "$4" "$2" "$4" "$4"
}

t0=$(now_ms)
code=$(hook "$(payload PUSH_ARTIFACT v2 "sha256:$dg" newapp)")
he_eq "PUSH_ARTIFACT webhook accepted by the edge" "$code $(cat "$d/hook.out")" '200 {"queued":1}'
w=$(wait_file "$(tagfile test/newapp v2)" 2000) \
    || { tail -20 "$d/daemon.log"; he_fail "test/newapp:v2 not in the store 2 s after the webhook"; }
lines0=$(wc -l < "$d/ngx/logs/up.log")
code=$(curl -s -o "$d/newapp.idx" -w '%{http_code}' \
       -H 'Accept: application/vnd.oci.image.index.v1+json' \
       "http://$EDGE/v2/test/newapp/manifests/v2")
t1=$(now_ms)
tail -n +"$((lines0 + 1))" "$d/ngx/logs/up.log" > "$d/newapp.log"
he_eq "the edge serves test/newapp:v2" "$code" 200
he_eq "from its store (not proxied)" "$(grep -vc ' "-"$' "$d/newapp.log")" 0
he_eq "the served index is the pushed one" \
    "$(sha256sum < "$d/newapp.idx" | cut -d' ' -f1)" "$dg"
PUSH_MS=$((t1 - t0))
[ "$PUSH_MS" -le 2000 ] || he_fail "push-to-served took ${PUSH_MS} ms (> 2000)"
he_pass "push-to-served: ${PUSH_MS} ms from the webhook POST to the edge serving the tag from its store (link after ${w} ms)"

he_skopeo copy -q --src-tls-verify=false --all "docker://$EDGE/test/newapp:v2" \
    "oci:$d/pull3:x" > "$d/pull3.err" 2>&1 \
    || { cat "$d/pull3.err"; he_fail "pull of test/newapp:v2 --all through the edge"; }
n=$(grep -c '/v2/test/newapp/' "$d/ngx/logs/up.log")
he_eq "pull --all of test/newapp:v2 (index, children, blobs): nothing proxied" \
    "$(grep '/v2/test/newapp/' "$d/ngx/logs/up.log" | grep -vc ' "-"$')" 0

code=$(hook "$(payload DELETE_ARTIFACT v2 "sha256:$dg" newapp)")
he_eq "DELETE_ARTIFACT webhook accepted" "$code" 200
for i in $(seq 100); do
    [ -e "$(tagfile test/newapp v2)" ] || break
    sleep 0.02
done
[ -e "$(tagfile test/newapp v2)" ] && he_fail "test/newapp:v2 still in the store after DELETE_ARTIFACT"
he_pass "DELETE_ARTIFACT removed test/newapp:v2 from the store (deletion: true)"

# -------------------------------------------- 3. Redis down under load

load() { # pulls that must all succeed, counted in $d/load.*
    local ok=0 bad=0 i
    for i in $(seq "$1"); do
        if he_skopeo copy -q --src-tls-verify=false \
           "docker://$EDGE/test/single:v1" "dir:$d/load-$2-$i" \
           > /dev/null 2>&1
        then ok=$((ok + 1)); else bad=$((bad + 1)); fi
        # a miss too: test/chart is not in the store (proxied)
        if curl -sf -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
           "http://$EDGE/v2/test/chart/manifests/0.1.0"
        then ok=$((ok + 1)); else bad=$((bad + 1)); fi
        rm -rf "$d/load-$2-$i"
    done
    echo "$ok $bad" > "$d/load.$2"
}

load 4 before
load 8 during &
lpid=$!
sleep 0.3
he_redis_stop "$d/redis"
rcli ping > /dev/null 2>&1 && he_fail "redis still answers after the stop"
wait "$lpid"
read -r ok bad < "$d/load.during"
[ "$bad" = 0 ] || he_fail "Redis stopped under load: $bad of $((ok + bad)) requests failed"
he_pass "Redis stopped under load: all $ok pulls and proxied misses succeeded"
kill -0 "$DPID" 2>/dev/null || { tail "$d/daemon.log"; he_fail "the daemon died with Redis"; }
he_pass "the daemon runs on while Redis is away"

# the same port again, as a restarted Redis would be
redis-server --port "$rport" --bind 127.0.0.1 --daemonize yes --dir "$d/redis" \
    --pidfile "$d/redis/redis.pid" --logfile "$d/redis/redis.log" --save '' \
    --appendonly no > /dev/null 2>&1 || he_fail "redis did not restart"
for i in $(seq 50); do [ "$(rcli ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
he_pass "Redis back on port $rport"

# the webhook is refused (503) until the module's link is back; then queued
dmd=$(he_skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/test/docker-multiarch:v1" \
      | sha256sum | cut -d' ' -f1)
[ -e "$(tagfile test/docker-multiarch v1)" ] && he_fail "test/docker-multiarch:v1 in the store already"
t0=$(now_ms)
for i in $(seq 50); do
    code=$(hook "$(payload PUSH_ARTIFACT v1 "sha256:$dmd" docker-multiarch)")
    [ "$code" = 200 ] && break
    sleep 0.1
done
he_eq "webhook queued again after Redis returned" "$code" 200
w=$(wait_file "$(tagfile test/docker-multiarch v1)" 8000) \
    || { tail -20 "$d/daemon.log"; he_fail "the daemon did not take events after Redis returned"; }
he_pass "the daemon reconnected and copied test/docker-multiarch:v1 $(( $(now_ms) - t0 )) ms after Redis returned"
grep -q 'redis: connected again' "$d/daemon.log" \
    || he_fail "no reconnect in the daemon's log"
he_pass "daemon log: $(grep -m1 'redis: connected again' "$d/daemon.log" | cut -d' ' -f3-)"

# ------------------------------------------------- 4. malformed lines

nf0=$(rcli llen "$Q:failed")
rcli rpush "$Q" 'not json at all' > /dev/null
rcli rpush "$Q" '{"kind":"push","repository":"test/single"}' > /dev/null
rcli rpush "$Q" '{"kind":"push","repository":"../../etc","digest":"sha256:'"$(printf %064d 1)"'"}' > /dev/null
rcli rpush "$Q" '{"kind":"teleport","repository":"test/single","digest":"sha256:'"$(printf %064d 1)"'"}' > /dev/null
printf '{"kind":"miss","object":"blob","repository":"test/\xff","reference":"x"}' \
    | redis-cli -p "$rport" -x rpush "$Q" > /dev/null
# a valid one after them: it must still be done
dsd=$(he_skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/test/docker-single:v1" \
      | sha256sum | cut -d' ' -f1)
rcli rpush "$Q" '{"kind":"push","repository":"test/docker-single","digest":"sha256:'"$dsd"'","tag":"v1","occurred_at":1,"source":"test"}' > /dev/null
wait_file "$(tagfile test/docker-single v1)" 5000 > /dev/null \
    || { tail -20 "$d/daemon.log"; he_fail "the valid event after the malformed ones was not done"; }
for i in $(seq 50); do
    [ "$(rcli llen "$Q:failed")" -ge $((nf0 + 5)) ] && break
    sleep 0.05
done
he_eq "5 malformed lines in $Q:failed" "$(( $(rcli llen "$Q:failed") - nf0 ))" 5
rcli lrange "$Q:failed" 0 -1 > "$d/failed.txt"
jq -e -s 'all(.[]; (.error | type == "string" and length > 0) and has("line"))' \
    "$d/failed.txt" > /dev/null || he_fail "a failed entry has no error: $(cat "$d/failed.txt")"
he_pass "each failed entry has its error: $(jq -r -s 'map(.error) | join(" | ")' "$d/failed.txt")"
kill -0 "$DPID" 2>/dev/null || he_fail "the daemon died on malformed events"
he_pass "the daemon goes on after malformed events"
for i in $(seq 50); do [ "$(rcli llen "$Q:processing")" = 0 ] && break; sleep 0.05; done
he_eq "nothing left in $Q:processing" "$(rcli llen "$Q:processing")" 0

# ------------------------- 4b. a failed handling is retried with backoff

regport=${REGISTRY##*:}
he_registry_stop
rcli rpush "$Q" '{"kind":"push","repository":"test/single","digest":"'"$want"'","tag":"latest","occurred_at":3,"source":"test"}' > /dev/null
for i in $(seq 60); do
    grep -q 'push test/single:latest.*retry 1 in 1000ms' "$d/daemon.log" && break
    sleep 0.05
done
grep -q 'push test/single:latest.*retry 1 in 1000ms' "$d/daemon.log" \
    || { tail -5 "$d/daemon.log"; he_fail "no retry while the primary is down"; }
he_pass "primary down: $(grep -m1 'push test/single:latest.*retry 1' "$d/daemon.log" | cut -d' ' -f3- | cut -c1-160)"
"$HE_TOOLS/registry.sh" start "$HE_REGISTRY_DIR" --port "$regport" \
    > /dev/null 2>&1 || he_fail "docker-registry did not restart on $regport"
wait_file "$(tagfile test/single latest)" 8000 > /dev/null \
    || { tail -5 "$d/daemon.log"; he_fail "the retried push was not done after the primary returned"; }
he_pass "the primary is back: the retried push is done ($(grep -c 'push test/single:latest.*retry' "$d/daemon.log") retry/retries)"
he_eq "still nothing in processing" "$(rcli llen "$Q:processing")" 0

# ------------- 4c. Redis restarts while an event is being handled
#
# The slow policy's source holds each blob for 3 s.  The line taken stays
# in processing, the acknowledgement waits in the outbox and is sent after
# the reconnect: the event is done once, and nothing is lost.

he_push_test_images "$REGISTRY" "$d/img2" --big-kib 512 --ns slow \
    || he_fail "slow/* images not pushed"
sdg=$(he_skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/slow/single:v1" \
      | sha256sum | cut -d' ' -f1)
rcli config set appendonly yes > /dev/null
rcli rpush "$Q" '{"kind":"push","repository":"slow/single","digest":"sha256:'"$sdg"'","tag":"v1","occurred_at":4,"source":"test"}' > /dev/null
for i in $(seq 100); do
    [ "$(rcli llen "$Q:processing")" = 1 ] && break
    sleep 0.02
done
he_eq "the slow event is taken (in processing)" "$(rcli llen "$Q:processing")" 1
sleep 0.3
[ -e "$(tagfile slow/single v1)" ] && he_fail "slow/single:v1 copied too fast to test a restart under it"
rcli shutdown > /dev/null 2>&1
sleep 0.5
redis-server --port "$rport" --bind 127.0.0.1 --daemonize yes --dir "$d/redis" \
    --pidfile "$d/redis/redis.pid" --logfile "$d/redis/redis.log" --save '' \
    --appendonly yes > /dev/null 2>&1 || he_fail "redis did not restart"
for i in $(seq 50); do [ "$(rcli ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
he_eq "Redis restarted (AOF): the line is still in processing" \
    "$(rcli llen "$Q:processing")" 1
wait_file "$(tagfile slow/single v1)" 15000 > /dev/null \
    || { tail -5 "$d/daemon.log"; he_fail "slow/single:v1 not copied"; }
for i in $(seq 100); do [ "$(rcli llen "$Q:processing")" = 0 ] && break; sleep 0.05; done
he_eq "after the reconnect the acknowledgement removed it from processing" \
    "$(rcli llen "$Q:processing")" 0
he_eq "and it was not queued again" "$(rcli llen "$Q")" 0
he_eq "slow/single:v1 was handled once" \
    "$(grep -c 'push slow/single:v1.*Succeed' "$d/daemon.log")" 1

# --------------------------- 5. requeue at start, ignored misses, status

code=$(curl -s -o /dev/null -w '%{http_code}' "http://$EDGE/test_miss?object=manifest&repository=elsewhere/app&reference=v1")
he_eq "a miss outside every policy queued" "$code" 204
for i in $(seq 50); do
    [ "$(rcli hget "$Q:stats" ignored_misses)" = 1 ] && break
    sleep 0.05
done
he_eq "it is ignored and counted" "$(rcli hget "$Q:stats" ignored_misses)" 1

kill -9 "$DPID"
wait "$DPID" 2>/dev/null
mdg=$(he_skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/test/multiarch:v1" \
      | sha256sum | cut -d' ' -f1)
# as if the killed daemon had taken it and not finished
rcli rpush "$Q:processing" '{"kind":"push","repository":"test/multiarch","digest":"sha256:'"$mdg"'","tag":"v1","occurred_at":2,"source":"test"}' > /dev/null
daemon_start || he_fail "the daemon did not start again"
wait_file "$(tagfile test/multiarch v1)" 5000 > /dev/null \
    || { tail -20 "$d/daemon.log"; he_fail "the line left in processing was not done after the restart"; }
he_pass "a line left in $Q:processing by a killed daemon is done after the restart"
for i in $(seq 50); do [ "$(rcli llen "$Q:processing")" = 0 ] && break; sleep 0.05; done
he_eq "processing is empty again" "$(rcli llen "$Q:processing")" 0
grep -q "left in $Q:processing by an earlier run queued again" "$d/daemon.log" \
    || he_fail "the requeue is not logged"

# a blob the store holds for test/single, asked for through test/chart:
# the primary has no such blob in test/chart, so it is never linked there
lay=$(jq -r '.layers[0].digest' "$d/pull1/manifest.json")
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$EDGE/test_miss?object=blob&repository=test/chart&reference=$lay")
he_eq "a blob miss for test/chart naming a test/single layer queued" "$code" 204
# and a covered miss (the restart of Redis above lost the older records)
# (the module sends a miss once per 5 s: a reference not asked for yet)
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$EDGE/test_miss?object=manifest&repository=test/docker-single&reference=v1")
he_eq "a miss for test/docker-single:v1 queued" "$code" 204
for i in $(seq 100); do
    [ "$(rcli hget "$Q:stats" not_found)" = 1 ] \
        && [ "$(rcli hget "$Q:stats" fetched_on_demand)" = 1 ] && break
    sleep 0.05
done
he_eq "the blob miss: not on the primary in test/chart" "$(rcli hget "$Q:stats" not_found)" 1
he_eq "the manifest miss: done (already in the store)" "$(rcli hget "$Q:stats" fetched_on_demand)" 1
[ -e "$V2/repositories/test/chart/_layers/sha256/${lay#sha256:}/link" ] \
    && he_fail "a test/single layer was linked into test/chart on a client's miss"
he_pass "the test/single layer is not linked into test/chart"

"$HE_REPLICATOR" -c "$d/replicator.json" status > "$d/status.txt" 2>&1 \
    || { cat "$d/status.txt"; he_fail "status"; }
grep -q 'trigger on_demand' "$d/status.txt" || he_fail "status shows no on_demand execution: $(cat "$d/status.txt")"
grep -q 'trigger event_based' "$d/status.txt" || he_fail "status shows no event_based execution"
he_pass "status: $(grep -c '^execution' "$d/status.txt") executions; $(grep -m1 '^events: ' "$d/status.txt")"
"$HE_REPLICATOR" -c "$d/replicator.json" status --json > "$d/status.json" 2>&1 \
    || { cat "$d/status.json"; he_fail "status --json"; }
jq -e '.events.executions | map(select(.status == "Succeed" and .trigger == "on_demand")) | length > 0' \
    "$d/status.json" > /dev/null || he_fail "status --json: no succeeded on_demand execution"
he_pass "status --json: $(jq -c '.events.queue' "$d/status.json"), stats $(jq -c '.events.stats' "$d/status.json")"

# the malformed events were sent on purpose, Redis was restarted, and the
# primary stopped (4b: its execution's summary line has no reason, the
# lines around it say "connect"): any other error or warning is one nobody
# expected
grep -E ' (error|warn) ' "$d/daemon.log" | grep -v -e 'malformed event' \
    -e 'redis: ' -e 'connect' \
    -e 'execution [0-9]*: policy "edge-events" Failed: 1 tasks, 0 bytes' \
    > "$d/unexpected.log"
if [ -s "$d/unexpected.log" ]; then
    cat "$d/unexpected.log"
    he_fail "the daemon logged errors or warnings nobody expected (above)"
fi
he_pass "no unexpected error or warning in the daemon's log"

# a TERM ends the daemon cleanly (acknowledgements flushed, state freed;
# a sanitizer build reports leaks and errors here)
kill -TERM "$DPID"
wait "$DPID"
rc=$?
he_eq "the daemon exits 0 on SIGTERM" "$rc" 0
grep -q -e 'Sanitizer' -e 'runtime error' "$d/daemon.log" \
    && he_fail "sanitizer report in the daemon's log: $(grep -m3 -e Sanitizer -e 'runtime error' "$d/daemon.log")"
he_pass "no sanitizer report in the daemon's log"

echo "latency: miss-to-local ${MISS_MS} ms (cold pull start to store), push-to-served ${PUSH_MS} ms"

# ----------------------------------- 6. one engine: events beside a run

# Harbor's cron fires on a whole minute (its seconds field must be 0): the
# daemon starts first, the 200 MiB image is pushed meanwhile.  It is built
# before (make-test-images.sh pushes a layout it built with the same options
# as it is), so that only the push races the schedule on a loaded machine.
"$HE_TOOLS/make-test-images.sh" --out "$d/img3" --big-kib 204800 --ns big \
    --quiet > "$d/img3.log" 2>&1 || { cat "$d/img3.log"; he_fail "big/* images not built"; }
fire=$(( ($(date +%s) / 60 + 1) * 60 ))
[ $((fire - $(date +%s))) -lt 50 ] && fire=$((fire + 60))
cron="0 $(date -u -d "@$fire" +'%-M %-H') * * *"
cat > "$d/replicator.json" <<EOF
{
    "storage": {"root": "$store"},
    "primary": {"url": "http://$REGISTRY"},
    "redis": "127.0.0.1:$rport",
    "redis_queue": "$Q",
    "log_level": "info",
    "policies": [
        {
            "name": "edge-events",
            "trigger": {"type": "event_based"},
            "filters": [{"type": "name", "value": "test/**"}],
            "enabled": true,
            "override": true,
            "deletion": true
        },
        {
            "name": "big-schedule",
            "trigger": {"type": "scheduled",
                        "trigger_settings": {"cron": "$cron"}},
            "filters": [{"type": "name", "value": "big/single"},
                        {"type": "tag", "value": "v1"}],
            "speed": 100000,
            "enabled": true
        }
    ]
}
EOF
daemon_start || he_fail "the daemon did not start with the scheduled policy"
he_push_test_images "$REGISTRY" "$d/img3" --big-kib 204800 --ns big \
    || he_fail "big/* images not pushed"
[ "$(date +%s)" -lt "$fire" ] \
    || he_fail "the 200 MiB image was pushed after the schedule fired"
he_pass "primary holds big/single:v1 with a 200 MiB layer; the schedule (speed 12.8 MB/s) fires in $((fire - $(date +%s))) s"

# the run is under way once its partial layer grows
state=$store/_harbor_edge
part=
for i in $(seq 1400); do
    part=$(find "$state/partial" -name 'sha256-*' ! -name '*.offset' -size +1M 2>/dev/null | head -1)
    [ -n "$part" ] && break
    sleep 0.05
done
[ -n "$part" ] || { tail -20 "$d/daemon.log"; he_fail "the scheduled run did not start fetching"; }
he_pass "scheduled run of big-schedule under way ($(stat -c %s "$part") bytes of the layer so far)"

he_skopeo copy -q --dest-tls-verify=false --preserve-digests \
    "oci:$d/img/oci:amd64" "docker://$REGISTRY/test/evdemo:v1" \
    > "$d/push4.err" 2>&1 || { cat "$d/push4.err"; he_fail "push of test/evdemo:v1"; }
edg=$(he_skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/test/evdemo:v1" \
      | sha256sum | cut -d' ' -f1)
t0=$(now_ms)
code=$(hook "$(payload PUSH_ARTIFACT v1 "sha256:$edg" evdemo)")
he_eq "PUSH_ARTIFACT for test/evdemo:v1 accepted during the run" "$code" 200
wait_file "$(tagfile test/evdemo v1)" 2000 > /dev/null \
    || { tail -20 "$d/daemon.log"; he_fail "test/evdemo:v1 not in the store 2 s after the webhook, beside the run"; }
code=$(curl -s -o "$d/evdemo.json" -w '%{http_code}' \
       -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
       "http://$EDGE/v2/test/evdemo/manifests/v1")
t1=$(now_ms)
he_eq "the edge serves test/evdemo:v1" "$code" 200
he_eq "the served manifest is the pushed one" \
    "$(sha256sum < "$d/evdemo.json" | cut -d' ' -f1)" "$edg"
EV_MS=$((t1 - t0))
[ "$EV_MS" -le 2000 ] || he_fail "event beside a run: ${EV_MS} ms (> 2000)"
[ -e "$(tagfile big/single v1)" ] \
    && he_fail "the scheduled run ended before the event was served: nothing shown"
he_pass "event beside a 200 MiB scheduled run: served in ${EV_MS} ms, the run still copying ($(stat -c %s "$part" 2>/dev/null || echo '?') bytes)"

# ---- a signed image: the event copy brings the cosign signature tag
he_skopeo copy -q --dest-tls-verify=false --preserve-digests \
    "oci:$d/img/oci:arm64" "docker://$REGISTRY/test/signed:v1" \
    > "$d/push5.err" 2>&1 || { cat "$d/push5.err"; he_fail "push of test/signed:v1"; }
sgd=$(he_skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/test/signed:v1" \
      | sha256sum | cut -d' ' -f1)
he_skopeo copy -q --dest-tls-verify=false --preserve-digests \
    "oci:$d/img/oci:chart" "docker://$REGISTRY/test/signed:sha256-$sgd.sig" \
    > "$d/push6.err" 2>&1 || { cat "$d/push6.err"; he_fail "push of the .sig tag"; }
code=$(hook "$(payload PUSH_ARTIFACT v1 "sha256:$sgd" signed)")
he_eq "PUSH_ARTIFACT for test/signed:v1 accepted" "$code" 200
wait_file "$(tagfile test/signed "sha256-$sgd.sig")" 5000 > /dev/null \
    || { tail -20 "$d/daemon.log"; he_fail "the event copy of test/signed:v1 did not bring its .sig tag"; }
he_pass "the event copy of test/signed:v1 brought test/signed:sha256-${sgd:0:12}....sig"

# ---- a corrupt revision link in the store: the event copy repairs it
rev=$V2/repositories/test/signed/_manifests/revisions/sha256/$sgd/link
lay=$V2/repositories/test/signed/_layers/sha256/$sgd/link
[ -s "$rev" ] || he_fail "no revision link for test/signed:v1"
printf 'sha256:%064d' 0 > "$rev"
printf 'garbage' > "$lay"
code=$(hook "$(payload PUSH_ARTIFACT v1 "sha256:$sgd" signed)")
he_eq "PUSH_ARTIFACT for test/signed:v1 again" "$code" 200
for i in $(seq 100); do
    [ "$(cat "$rev")" = "sha256:$sgd" ] && [ "$(cat "$lay")" = "sha256:$sgd" ] && break
    sleep 0.05
done
he_eq "the event copy rewrote the corrupt revision link" "$(cat "$rev")" "sha256:$sgd"
he_eq "and the corrupt layer link of the manifest" "$(cat "$lay")" "sha256:$sgd"
code=$(curl -s -o /dev/null -w '%{http_code}' \
       -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
       "http://$EDGE/v2/test/signed/manifests/sha256:$sgd")
he_eq "and the edge serves it by digest again" "$code" 200

# the scheduled run ends well too
wait_file "$(tagfile big/single v1)" 90000 > /dev/null \
    || { tail -20 "$d/daemon.log"; he_fail "the scheduled run of big/single did not finish"; }
grep -q 'policy "big-schedule" Succeed' "$d/daemon.log" \
    || { tail -20 "$d/daemon.log"; he_fail "the scheduled run did not succeed"; }
he_pass "the scheduled run of big/single:v1 (200 MiB) finished and succeeded"

kill -TERM "$DPID"
wait "$DPID"
he_eq "the daemon exits 0 on SIGTERM" "$?" 0

echo "latency: event beside a scheduled run ${EV_MS} ms"
