#!/usr/bin/env bash
# t_misses.sh: misses for made-up names are bounded.
#
# Real parts: nginx with the module (misses queued in Redis), redis-server,
# docker-registry as the primary, harbor-replicator daemon with an
# event_based policy that covers every name.
#  1. 1,500 GETs for 1,500 made-up repository names, and 500 for one more
#     name: every one answers 404 at once; at most NGX_HTTP_HARBOR_MISS_MAX
#     (256) events reach the queue, the rest are counted as dropped, the
#     repeats as folded (<queue>:stats misses_dropped, misses_folded);
#  2. the daemon asks the primary once per queued name (NotFound records,
#     no more), and the Redis keys stay bounded: the NotFound records
#     expire within an hour, not 7 days;
#  3. a miss the primary answered 404 a moment ago is not asked again (the
#     replicator's negative cache: misses_negative_cached);
#  4. the counts are in `harbor-replicator metrics`;
#  5. an event that failed every attempt while the primary was down is
#     queued again when the primary answers again (requeued_failed), and
#     done.
# Before: 1,500 events, 1,500 lookups on the primary and 1,500 Redis keys
# with a 7-day TTL.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

for t in redis-server redis-cli docker-registry skopeo jq curl; do
    command -v "$t" >/dev/null || he_skip "$t is not installed"
done
[ -f "$HE_MODULE" ] || he_skip "no module at $HE_MODULE (make module)"
[ -x "$HE_REPLICATOR" ] || he_skip "no replicator at $HE_REPLICATOR"

d=$(he_tmpdir)
Q=t:events
N=1500
MAX=256

rport=$(he_redis_start "$d/redis") || he_fail "redis did not start"
rcli() { redis-cli -p "$rport" "$@"; }

he_registry_start "$d/reg" || he_fail "docker-registry did not start"
he_push_test_images "$REGISTRY" "$d/img" || he_fail "test images not pushed"

# for the outage (5): the primary behind a forwarder on a port of its own,
# down until it is started
cat > "$d/fwd.py" <<'PY'
import http.client, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
UP = sys.argv[2]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def fwd(self, head):
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
fport=$(he_port)
fwd_start() {
    python3 "$d/fwd.py" "$fport" "$REGISTRY" > "$d/fwd.log" 2>&1 < /dev/null &
    FWD=$!
    he_defer "he_kill_pid $FWD"
    he_wait_tcp "$fport" || he_fail "the forwarder did not start"
}

store=$d/store
mkdir -p "$store/docker/registry/v2"
chmod -R 0755 "$store"

HE_NGINX_HTTP_EXTRA="harbor_redis 127.0.0.1:$rport;
    harbor_redis_queue $Q;
    harbor_redis_timeout 1s;"
HE_NGINX_SERVER_EXTRA="location = /counters {
            default_type text/plain;
            return 200 \"queued=\$harbor_events_queued dropped=\$harbor_events_dropped coalesced=\$harbor_events_coalesced\n\";
        }"
mkdir -p "$d/ngx"
port=$(he_nginx_start "$d/ngx" "$store") || he_fail "nginx did not start"
EDGE=http://127.0.0.1:$port

cat > "$d/hr.json" <<JSON
{"storage": {"root": "$store"},
 "primary": {"url": "PRIMARY"},
 "redis": "127.0.0.1:$rport", "redis_queue": "$Q",
 "log_level": "debug",
 "policies": [{"name": "all", "enabled": true, "override": true,
               "trigger": {"type": "event_based"},
               "filters": [{"type": "name", "value": "**"}]}]}
JSON
sed -i "s|PRIMARY|http://$REGISTRY|" "$d/hr.json"
"$HE_REPLICATOR" -c "$d/hr.json" daemon > "$d/daemon.log" 2>&1 &
DPID=$!
he_defer "kill -9 $DPID"
for i in $(seq 100); do
    grep -q 'events: taking events' "$d/daemon.log" && break
    sleep 0.1
done

# 1. the requests, in one curl (keepalive): the repeated name first
{
    for i in $(seq 500); do
        echo "url = \"$EDGE/v2/made-up/again/manifests/latest\""
        echo "output = /dev/null"
    done
    for i in $(seq "$N"); do
        echo "url = \"$EDGE/v2/made-up/name-$i/manifests/latest\""
        echo "output = /dev/null"
    done
} > "$d/curl.cfg"
curl -s -K "$d/curl.cfg" -w '%{http_code}\n' > "$d/codes"
he_eq "$((N + 500)) requests for made-up names answer 404" \
    "$(sort -u "$d/codes" | tr '\n' ' ')" "404 "

# the daemon drains the queue: a record for each event
stat() { v=$(rcli hget "$Q:stats" "$1"); echo "${v:-0}"; }
for i in $(seq 600); do
    nf=$(rcli zcount "$Q:executions" -inf +inf)
    [ "$(rcli llen "$Q")" = 0 ] && [ "$(rcli llen "$Q:processing")" = 0 ] \
        && [ "$nf" -ge "$(stat events)" ] && break
    sleep 0.1
done

events=$(stat events)
dropped=$(stat misses_dropped)
folded=$(stat misses_folded)
he_log "stats: $(rcli hgetall "$Q:stats" | paste -sd' ')"
he_log "nginx: $(curl -s "$EDGE/counters")"
[ "$events" -le "$MAX" ] || he_fail "$events events queued, more than $MAX"
[ "$events" -ge 100 ] || he_fail "only $events events: misses are lost"
# every request is accounted for by the module: queued, dropped or folded
c=$(curl -s "$EDGE/counters")
q=$(sed 's/.*queued=\([0-9]*\).*/\1/' <<<"$c")
dr=$(sed 's/.*dropped=\([0-9]*\).*/\1/' <<<"$c")
co=$(sed 's/.*coalesced=\([0-9]*\).*/\1/' <<<"$c")
he_eq "every miss is queued, dropped or folded" "$((q + dr + co))" \
    $((N + 500))
[ "$q" = "$events" ] || he_fail "nginx queued $q, the daemon took $events"
[ "$(curl -s "$EDGE/counters" | sed 's/.*coalesced=//')" -ge 499 ] \
    || he_fail "the repeats of one name were not folded in the worker"
he_log "queue drained at $(he_elapsed) s"
he_pass "$((N + 500)) misses: $events events, $dropped dropped (nginx: $(curl -s "$EDGE/counters"))"

# a second edge on the same queue: its miss for a name the first queued
# is folded in Redis
mkdir -p "$d/ngx2"
port2=$(he_nginx_start "$d/ngx2" "$store") || he_fail "nginx 2 did not start"
code=$(curl -s -o /dev/null -w '%{http_code}' \
       "http://127.0.0.1:$port2/v2/made-up/name-1/manifests/latest")
for i in $(seq 50); do
    [ "$(stat misses_folded)" -ge 1 ] && break
    sleep 0.1
done
he_eq "a second edge's miss for a queued name is folded in Redis" \
    "$code $(stat misses_folded) $(rcli llen "$Q")" "404 1 0"

# 2. one lookup per queued name, and bounded keys
notfound=$(rcli zrange "$Q:executions" 0 -1 \
           | sed "s/^/HGET $Q:exec:/; s/\$/ status/" | rcli | grep -c NotFound)
[ "$notfound" -le "$events" ] || he_fail "$notfound lookups for $events events"
keys=$(rcli --scan --pattern "$Q*" | wc -l)
[ "$keys" -le $((MAX + 10)) ] || he_fail "$keys Redis keys"
id=$(rcli zrange "$Q:executions" -1 -1)
ttl=$(rcli ttl "$Q:exec:$id")
[ "$ttl" -gt 0 ] && [ "$ttl" -le 3600 ] || he_fail "a NotFound record's TTL is $ttl s"
he_pass "$notfound lookups on the primary (NotFound), $keys Redis keys, a NotFound record expires in $ttl s"

# 3. the negative cache: a name just answered 404, straight into the queue
# (past the module's fold, as after its window)
nc0=$(stat misses_negative_cached)
repo=made-up/again
rcli rpush "$Q" '{"kind":"miss","object":"manifest","repository":"'"$repo"'","reference":"latest","occurred_at":1,"source":"edge"}' > /dev/null
for i in $(seq 100); do
    [ "$(stat misses_negative_cached)" -gt "$nc0" ] && break
    sleep 0.1
done
[ "$(stat misses_negative_cached)" -gt "$nc0" ] \
    || he_fail "a repeated 404 was asked again ($repo): $(grep "$repo" "$d/daemon.log" | tail -3)"
he_pass "a name the primary had not a moment ago is not asked again ($repo)"

# 4. metrics
"$HE_REPLICATOR" -c "$d/hr.json" metrics > "$d/metrics" 2>&1
for r in misses_dropped misses_folded misses_negative_cached; do
    grep -q "harbor_replicator_events_total{result=\"$r\"} [1-9]" "$d/metrics" \
        || he_fail "no $r in the metrics: $(grep events_total "$d/metrics")"
done
he_pass "metrics: $(grep -o 'result="misses_[a-z_]*"} [0-9]*' "$d/metrics" | paste -sd' ')"

# 5. the primary down (the forwarder, not started yet; HUP takes the new
# address): an event fails every attempt (1+2+4+8 s apart)
sed -i "s|http://$REGISTRY|http://127.0.0.1:$fport|" "$d/hr.json"
kill -HUP "$DPID"
for i in $(seq 100); do
    grep -q 'reload: 1 policies' "$d/daemon.log" && break
    sleep 0.1
done
grep -q 'reload: 1 policies' "$d/daemon.log" || he_fail "no reload"
rcli rpush "$Q" '{"kind":"miss","object":"manifest","repository":"test/single","reference":"v1","occurred_at":1,"source":"edge"}' > /dev/null
for i in $(seq 900); do
    [ "$(rcli llen "$Q:failed")" -ge 1 ] && break
    sleep 0.1
done
[ "$(rcli llen "$Q:failed")" -ge 1 ] \
    || he_fail "the event did not fail while the primary was down: $(tail -3 "$d/daemon.log")"
fwd_start
# the next event reaches the primary: what failed is queued again
rcli rpush "$Q" '{"kind":"miss","object":"manifest","repository":"test/chart","reference":"0.1.0","occurred_at":1,"source":"edge"}' > /dev/null
link=$store/docker/registry/v2/repositories/test/single/_manifests/tags/v1/current/link
for i in $(seq 300); do
    [ -f "$link" ] && break
    sleep 0.1
done
[ -f "$link" ] || he_fail "the failed event was not done after the primary came back: $(grep -i 'again\|failed' "$d/daemon.log" | tail -3)"
he_eq "requeued_failed" "$(stat requeued_failed) $(rcli llen "$Q:failed")" "1 0"
he_pass "an event failed while the primary was down is done when it is back: $(grep -m1 -o 'the primary answers again.*' "$d/daemon.log")"
