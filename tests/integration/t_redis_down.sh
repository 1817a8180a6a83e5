#!/usr/bin/env bash
# t_redis_down.sh: Redis going away never slows nginx down.
#
# The events module talks to Redis through hiredis on nginx's event loop.
# The failure this guards against: a worker that waits on Redis -- a
# connect that hangs, a reply that never comes -- delays every request it
# serves.  So with Redis up, stopped, and replaced by a listener that
# accepts and never answers, the same wrk load runs against a static file
# and against the test location that queues a miss event per request: no
# request may fail and the 99th percentile must stay far below the Redis
# timeout.  Misses that cannot be held are dropped and counted
# ($harbor_events_dropped).  When Redis comes back on the same port, the
# held misses are delivered and webhooks are queued again.

set -u
. "$(dirname "$0")/lib.sh"

command -v redis-server >/dev/null || he_skip "redis-server not installed"
command -v redis-cli >/dev/null || he_skip "redis-cli not installed"
command -v wrk >/dev/null || he_skip "wrk not installed"
[ -f "$HE_MODULE" ] || he_skip "no module at $HE_MODULE (make module)"

d=$(he_tmpdir)
rport=$(he_redis_start "$d/redis") || he_fail "redis did not start"
Q=test:events
AUTH='Bearer down-test'
TIMEOUT_MS=500
SECS=${T_REDIS_DOWN_SECS:-4}

ngx_start() {
    local dir=$1 port=$2

    mkdir -p "$dir/logs" "$dir/tmp" "$dir/html/static"
    head -c 4096 /dev/urandom > "$dir/html/static/file"
    cat > "$dir/nginx.conf" <<CONF
load_module $HE_MODULE;
worker_processes 1;
daemon on;
master_process on;
pid $dir/nginx.pid;
error_log $dir/logs/error.log info;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/client;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    keepalive_requests 1000000;
    harbor_redis 127.0.0.1:$rport;
    harbor_redis_queue $Q;
    harbor_redis_timeout ${TIMEOUT_MS}ms;
    server {
        listen 127.0.0.1:$port;
        location = /hook {
            harbor_webhook;
            harbor_webhook_auth "$AUTH";
        }
        location = /miss { harbor_events_test_miss; }
        location = /counters {
            default_type text/plain;
            return 200 "queued=\$harbor_events_queued dropped=\$harbor_events_dropped coalesced=\$harbor_events_coalesced\n";
        }
        location / { root $dir/html; }
    }
}
CONF
    if ! "$NGINX" -t -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" \
         > "$dir/t.out" 2>&1
    then
        if grep -q 'unknown directive "harbor_redis"' "$dir/t.out"; then
            he_skip "$HE_MODULE has no ngx_http_harbor_events_module"
        fi
        cat "$dir/t.out"
        return 1
    fi
    "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" \
        || return 1
    he_defer "he_nginx_stop $(printf '%q' "$dir")"
    he_wait_http "http://127.0.0.1:$port/static/file"
}

port=$(he_port)
ngx_start "$d/ngx" "$port" || he_fail "nginx did not start"
BASE=http://127.0.0.1:$port

# a miss per request: references PREFIX1, PREFIX2, ... cycling through
# MOD distinct ones (0: all distinct, so that nothing is coalesced)
cat > "$d/miss.lua" <<'LUA'
counter = 0
request = function()
    counter = counter + 1
    if mod > 0 then
        counter = counter % mod
    end
    return wrk.format("GET", "/miss?object=manifest&repository=load/test"
                      .. "&reference=" .. prefix .. counter)
end
init = function(args)
    prefix = args[1] or "t"
    mod = tonumber(args[2] or "0")
end
LUA

counter() {
    curl -s "$BASE/counters" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# run NAME PATH [PREFIX MOD]: wrk for SECS s on 4 connections; prints
# "p99_ms requests errors" and keeps the output in $d/wrk.NAME
run() {
    local name=$1 path=$2 out=$d/wrk.$1
    if [ $# -ge 3 ]; then
        wrk -t1 -c4 -d"${SECS}s" --latency -s "$d/miss.lua" "$BASE$path" \
            -- "$3" "$4" > "$out" 2>&1
    else
        wrk -t1 -c4 -d"${SECS}s" --latency "$BASE$path" > "$out" 2>&1
    fi
    awk '
        function ms(v) {
            if (v ~ /us$/) return v / 1000;
            if (v ~ /ms$/) return v + 0;
            if (v ~ /s$/) return v * 1000;
            return v;
        }
        $1 == "99%"                { p99 = ms($2) }
        /requests in/              { n = $1 }
        /Non-2xx or 3xx/           { err += $NF }
        /Socket errors/            { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
        END { printf "%.2f %d %d\n", p99, n, err }
    ' "$out"
}

# check NAME P99 N ERR: no failure, and a p99 well below the Redis
# timeout (a worker that waited for Redis would show it; the bound is loose
# because other tests may share the machine)
check() {
    local name=$1 p99=$2 n=$3 err=$4
    [ "$n" -gt 0 ] || he_fail "$name: wrk made no requests: $(cat "$d/wrk.$name")"
    [ "$err" -eq 0 ] || he_fail "$name: $err failed requests: $(cat "$d/wrk.$name")"
    awk -v p="$p99" -v t="$TIMEOUT_MS" 'BEGIN { exit !(p < t / 3) }' \
        || he_fail "$name: p99 $p99 ms, not far below the ${TIMEOUT_MS} ms Redis timeout"
    he_pass "$name: $n requests in ${SECS}s, 0 failed, p99 $p99 ms"
}

# ------------------------------------------------------------ Redis up

read -r s_up_p99 s_up_n s_up_err < <(run static_up /static/file)
check static_up "$s_up_p99" "$s_up_n" "$s_up_err"
read -r m_up_p99 m_up_n m_up_err < <(run miss_up /miss up 200)
check miss_up "$m_up_p99" "$m_up_n" "$m_up_err"

curl -s -o /dev/null "$BASE/miss?object=blob&repository=prod/api&reference=sha256:4c1d2d5bd0e2b1b9e1a0c0e7f4d3b2a1908f7e6d5c4b3a29180f7e6d5c4b3ae9"
sleep 0.2
he_eq "a blob miss is queued as one line" \
    "$(redis-cli -p "$rport" lindex "$Q" -1 | sed 's/"occurred_at":[0-9]*/"occurred_at":N/')" \
    '{"kind":"miss","object":"blob","repository":"prod/api","reference":"sha256:4c1d2d5bd0e2b1b9e1a0c0e7f4d3b2a1908f7e6d5c4b3a29180f7e6d5c4b3ae9","occurred_at":N,"source":"edge"}'
c0=$(counter coalesced)
n0=$(redis-cli -p "$rport" llen "$Q")
for i in 1 2 3; do
    curl -s -o /dev/null "$BASE/miss?object=manifest&repository=prod/api&reference=v1"
done
sleep 0.2
he_eq "three misses of one manifest within 5 s: one line" \
    "$(( $(redis-cli -p "$rport" llen "$Q") - n0 ))" 1
he_eq "... and two coalesced" "$(( $(counter coalesced) - c0 ))" 2
d0=$(counter dropped)
he_eq "no drops while Redis is up (200 distinct misses, coalesced)" "$d0" 0

# ------------------------------------------------------- Redis stopped

he_redis_stop "$d/redis"
sleep 0.2

read -r s_dn_p99 s_dn_n s_dn_err < <(run static_down /static/file)
check static_down "$s_dn_p99" "$s_dn_n" "$s_dn_err"
read -r m_dn_p99 m_dn_n m_dn_err < <(run miss_down /miss down 0)
check miss_down "$m_dn_p99" "$m_dn_n" "$m_dn_err"
he_pass "static p99: $s_up_p99 ms with Redis up, $s_dn_p99 ms down; miss p99: $m_up_p99 ms up, $m_dn_p99 ms down"

d1=$(counter dropped)
[ "$d1" -gt 0 ] || he_fail "the drop counter did not move ($d1)"
he_pass "misses beyond the pending slots were dropped and counted: $d1"

# --------------------------------------- a Redis that accepts, never answers

python3 - "$rport" > "$d/blackhole.log" 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
s.settimeout(0.2)
conns = []
end = time.time() + 60
while time.time() < end:
    try:
        c, _ = s.accept()
        conns.append(c)
        print("accepted", flush=True)
    except socket.timeout:
        pass
PY
bh=$!
he_defer "he_kill_pid $bh"
he_wait_tcp "$rport" || he_fail "the silent listener did not start"

# a fresh worker connects to the silent listener and takes it for Redis:
# the webhook's line is sent and only the reply watchdog can end the wait
kill -HUP "$(cat "$d/ngx/nginx.pid")"
for i in $(seq 50); do
    grep -q accepted "$d/blackhole.log" && break
    sleep 0.1
done
grep -q accepted "$d/blackhole.log" || he_fail "nginx never connected to the silent listener"
sleep 0.3
t0=$(date +%s%N)
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST -H "Authorization: $AUTH" \
       --data-binary '{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000002","tag":"x"}],"repository":{"repo_full_name":"prod/api"}}}' \
       "$BASE/hook")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
he_eq "webhook while Redis accepts but never answers: 503" "$code" 503
# nginx timers may fire up to 300 ms early or late (NGX_TIMER_LAZY_DELAY)
[ "$ms" -ge $((TIMEOUT_MS - 350)) ] && [ "$ms" -le $((TIMEOUT_MS * 2 + 300)) ] \
    || he_fail "that 503 took $ms ms, not about the ${TIMEOUT_MS} ms reply timeout"
he_pass "... after $ms ms: the reply timeout (${TIMEOUT_MS} ms) ended the wait"

read -r m_bh_p99 m_bh_n m_bh_err < <(run miss_silent /miss silent 0)
check miss_silent "$m_bh_p99" "$m_bh_n" "$m_bh_err"
read -r s_bh_p99 s_bh_n s_bh_err < <(run static_silent /static/file)
check static_silent "$s_bh_p99" "$s_bh_n" "$s_bh_err"
he_pass "nginx reconnected with backoff to the silent listener ($(grep -c accepted "$d/blackhole.log") connections in $((2 * SECS)) s)"
he_kill_pid "$bh"

# ------------------------------------------------------- Redis is back

redis-server --port "$rport" --bind 127.0.0.1 --daemonize yes \
    --dir "$d/redis" --pidfile "$d/redis/redis.pid" \
    --logfile "$d/redis/redis.log" --save '' --appendonly no >/dev/null 2>&1 \
    || he_fail "redis did not restart on port $rport"
for i in $(seq 50); do
    [ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] && break
    sleep 0.1
done

code=''
for i in $(seq 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: $AUTH" \
           --data-binary '{"type":"PUSH_ARTIFACT","occur_at":5,"event_data":{"resources":[{"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000003","tag":"back"}],"repository":{"repo_full_name":"prod/api"}}}' \
           "$BASE/hook")
    [ "$code" = 200 ] && break
    sleep 0.1
done
he_eq "after Redis is back, a webhook is queued again (after $i tries)" "$code" 200
held=$(redis-cli -p "$rport" lrange "$Q" 0 -1 | grep -c '"kind":"miss"')
[ "$held" -gt 0 ] || he_fail "no held miss was delivered after the reconnect"
he_pass "$held misses held while Redis was away were delivered"
redis-cli -p "$rport" lrange "$Q" 0 -1 | grep -q '"tag":"back","occurred_at":5,' \
    || he_fail "the webhook line is not in the queue"
he_pass "the webhook line is in the queue"

grep '\[alert\]\|\[crit\]\|\[emerg\]' "$d/ngx/logs/error.log" \
    && he_fail "alerts in the error log"
he_pass "no alert or crit in the error log"
