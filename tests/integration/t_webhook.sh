#!/usr/bin/env bash
# t_webhook.sh: the webhook location against a real Redis and a real nginx.
#
# Harbor delivers PUSH_ARTIFACT / DELETE_ARTIFACT in its Default format and
# as CloudEvents; each must land in the Redis list as one compact JSON line,
# and the answer must say whether it did (Harbor retries on non-2xx).  Bad
# input -- broken JSON, a wrong shape, a bad repository name or digest, too
# large a body, a missing or wrong Authorization header, a wrong method --
# gets its 4xx and queues nothing.  With Redis stopped the answer is 503.
#
# HE_MODULE: the .so holding ngx_http_harbor_events_module (default: the
# project's build/ngx_http_harbor_module.so).

set -u
. "$(dirname "$0")/lib.sh"

command -v redis-server >/dev/null || he_skip "redis-server not installed"
command -v redis-cli >/dev/null || he_skip "redis-cli not installed"
[ -f "$HE_MODULE" ] || he_skip "no module at $HE_MODULE (make module)"

d=$(he_tmpdir)
rport=$(he_redis_start "$d/redis") || he_fail "redis did not start"
HE_REDIS_DIR=$d/redis
Q=test:events
AUTH='Bearer s3cr3t-webhook'

# ---------------------------------------------------------------- nginx

ngx_start() {
    local dir=$1 port=$2

    mkdir -p "$dir/logs" "$dir/tmp" "$dir/html/static"
    echo hello > "$dir/html/static/index.html"
    cat > "$dir/nginx.conf" <<CONF
load_module $HE_MODULE;
worker_processes 1;
daemon on;
master_process on;
pid $dir/nginx.pid;
error_log $dir/logs/error.log info;
events { worker_connections 1024; }
http {
    access_log $dir/logs/access.log;
    client_body_temp_path $dir/tmp/client;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    harbor_redis 127.0.0.1:$rport;
    harbor_redis_queue $Q;
    harbor_redis_timeout 500ms;
    server {
        listen 127.0.0.1:$port;
        location = /hook {
            harbor_webhook;
            harbor_webhook_auth "$AUTH";
            harbor_webhook_max_size 4k;
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
    he_wait_http "http://127.0.0.1:$port/static/index.html"
}

# conf_refused NAME HTTP-EXTRA LOCATION-EXTRA EXPECT: nginx -t must refuse
# it, naming the problem (EXPECT, a grep pattern)
conf_refused() {
    local name=$1 http=$2 loc=$3 expect=$4 dir=$d/conf-$RANDOM
    mkdir -p "$dir/logs"
    cat > "$dir/nginx.conf" <<CONF
load_module $HE_MODULE;
pid $dir/nginx.pid;
error_log $dir/logs/error.log;
events { worker_connections 64; }
http {
    $http
    server { listen 127.0.0.1:1; location = /hook { $loc } }
}
CONF
    if "$NGINX" -t -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" \
       > "$dir/t.out" 2>&1
    then
        he_fail "$name: nginx -t accepted it"
    fi
    grep -q 'unknown directive "harbor_' "$dir/t.out" \
        && he_skip "$HE_MODULE has no ngx_http_harbor_events_module"
    grep -q "$expect" "$dir/t.out" \
        || he_fail "$name: nginx -t said: $(cat "$dir/t.out")"
    he_pass "$name: refused by nginx -t"
}

conf_refused "harbor_webhook without harbor_redis" "" \
    'harbor_webhook; harbor_webhook_auth off;' 'needs "harbor_redis"'
conf_refused "harbor_webhook without harbor_webhook_auth" \
    "harbor_redis 127.0.0.1:$rport;" 'harbor_webhook;' \
    'needs "harbor_webhook_auth"'
conf_refused "an empty harbor_webhook_auth" \
    "harbor_redis 127.0.0.1:$rport;" 'harbor_webhook; harbor_webhook_auth "";' \
    'must not be empty'
conf_refused "a second harbor_redis" \
    "harbor_redis 127.0.0.1:$rport; harbor_redis unix:/tmp/x.sock;" '' \
    'is duplicate'
conf_refused "a harbor_redis address with a bad port" \
    "harbor_redis 127.0.0.1:99999;" "" "invalid port"

port=$(he_port)
ngx_start "$d/ngx" "$port" || he_fail "nginx did not start"
URL=http://127.0.0.1:$port/hook

# post BODY [CONTENT-TYPE] [curl args...]: prints "STATUS BODY"
post() {
    local body=$1 ct=${2:-application/json}
    shift 2 2>/dev/null || shift $#
    curl -s -o "$d/resp" -w '%{http_code}' --max-time 5 -X POST \
        -H "Content-Type: $ct" -H "Authorization: $AUTH" "$@" \
        --data-binary "$body" "$URL"
    echo " $(cat "$d/resp" 2>/dev/null)"
}

llen() {
    redis-cli -p "$rport" llen "$Q"
}

# wait_503: Redis was just stopped; the worker notices at once (EOF on the
# link), this only absorbs scheduling delays
D1=sha256:4c1d2d5bd0e2b1b9e1a0c0e7f4d3b2a1908f7e6d5c4b3a29180f7e6d5c4b3ae9
D2=sha256:9ab0cd11d5a25e2b0c7f2e6c4d1b7f0a3e5c9d8b7a6f5e4d3c2b1a0f9e8d7c13
D3=sha256:0000000000000000000000000000000000000000000000000000000000000001

# ------------------------------------------------------- accepted events

r=$(post '{"type":"PUSH_ARTIFACT","occur_at":1717000000,"operator":"robot$ci+builder",
 "event_data":{
  "resources":[{"digest":"'$D1'","tag":"v1.4.0","resource_url":"harbor.example.com/prod/api:v1.4.0"}],
  "repository":{"date_created":1716000000,"name":"api","namespace":"prod","repo_full_name":"prod/api","repo_type":"private"}}}')
he_eq "Default PUSH_ARTIFACT is acknowledged" "$r" '200 {"queued":1}'
he_eq "it is queued as one compact line" \
    "$(redis-cli -p "$rport" lindex "$Q" -1)" \
    '{"kind":"push","repository":"prod/api","digest":"'$D1'","tag":"v1.4.0","occurred_at":1717000000,"source":"webhook"}'

r=$(post '{"specversion":"1.0","requestid":"2eedfab8-61d3-4f3c-8ec3-8f82d1ec4c84","id":"4b2f89a6-548d-4c12-9993-a1f5790b97d2","source":"/projects/1/webhook/policies/3","type":"harbor.artifact.pushed","datacontenttype":"application/json","time":"2023-03-06T06:08:43Z","data":{"resources":[{"digest":"'$D2'","tag":"latest","resource_url":"harbor.dev/library/busybox:latest"}],"repository":{"date_created":1677053165,"name":"busybox","namespace":"library","repo_full_name":"library/busybox","repo_type":"public"}},"operator":"admin"}' \
    application/cloudevents+json)
he_eq "CloudEvents harbor.artifact.pushed is acknowledged" "$r" '200 {"queued":1}'
he_eq "it is queued with the CloudEvents time" \
    "$(redis-cli -p "$rport" lindex "$Q" -1)" \
    '{"kind":"push","repository":"library/busybox","digest":"'$D2'","tag":"latest","occurred_at":1678082923,"source":"webhook"}'

r=$(post '{"type":"DELETE_ARTIFACT","occur_at":1717000500,"operator":"admin","event_data":{"resources":[{"digest":"'$D2'","tag":"'$D2'","resource_url":"harbor.example.com/prod/api@'$D2'"}],"repository":{"name":"api","namespace":"prod","repo_full_name":"prod/api","repo_type":"private"}}}')
he_eq "an untagged DELETE_ARTIFACT is acknowledged" "$r" '200 {"queued":1}'
he_eq "it is queued without a tag" \
    "$(redis-cli -p "$rport" lindex "$Q" -1)" \
    '{"kind":"delete","repository":"prod/api","digest":"'$D2'","occurred_at":1717000500,"source":"webhook"}'

r=$(post '{"type":"PUSH_ARTIFACT","occur_at":1717000600,"event_data":{"resources":[{"digest":"'$D1'","tag":"a"},{"digest":"'$D3'","tag":"b"}],"repository":{"namespace":"prod","name":"team/web"}}}')
he_eq "two resources give two lines" "$r" '200 {"queued":2}'
he_eq "namespace/name make the repository" \
    "$(redis-cli -p "$rport" lrange "$Q" -2 -1 | tr '\n' ' ')" \
    '{"kind":"push","repository":"prod/team/web","digest":"'$D1'","tag":"a","occurred_at":1717000600,"source":"webhook"} {"kind":"push","repository":"prod/team/web","digest":"'$D3'","tag":"b","occurred_at":1717000600,"source":"webhook"} '

n=$(llen)
he_eq "5 lines so far" "$n" 5

r=$(post '{"type":"PULL_ARTIFACT","occur_at":1,"event_data":{"resources":[{"digest":"'$D1'","tag":"v1"}],"repository":{"repo_full_name":"prod/api"}}}')
he_eq "PULL_ARTIFACT is acknowledged and ignored" "$r" '200 {"queued":0}'
r=$(post '{"specversion":"1.0","type":"harbor.scan.completed","data":{}}' \
    application/cloudevents+json)
he_eq "harbor.scan.completed is acknowledged and ignored" "$r" '200 {"queued":0}'

# ------------------------------------------------------- refused input

r=$(post '{"type":"PUSH_ARTIFACT","event_data":{')
case $r in
    '400 {"error":"invalid JSON at byte '*) he_pass "truncated JSON: $r" ;;
    *) he_fail "truncated JSON: $r" ;;
esac

r=$(post 'not json at all')
he_eq "not JSON: 400" "${r%% *}" 400

r=$(post '{"type":"PUSH_ARTIFACT","event_data":{"resources":{"digest":"'$D1'"},"repository":{"repo_full_name":"prod/api"}}}')
he_eq "resources not an array: 400" "$r" '400 {"error":"resources must be an array"}'

r=$(post '{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"digest":"'$D1'","tag":"v1"}]}}')
he_eq "no repository: 400" "$r" '400 {"error":"missing repository"}'

r=$(post '{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"digest":"'$D1'","tag":"v1"}],"repository":{"repo_full_name":"Prod/../api"}}}')
he_eq "bad repository name: 400" "$r" '400 {"error":"invalid repository name"}'

r=$(post '{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"digest":"sha256:1234","tag":"v1"}],"repository":{"repo_full_name":"prod/api"}}}')
he_eq "bad digest: 400" "$r" '400 {"error":"invalid digest"}'

r=$(post '{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"digest":"'$D1'","tag":"-v1"}],"repository":{"repo_full_name":"prod/api"}}}')
he_eq "bad tag: 400" "$r" '400 {"error":"invalid tag"}'

r=$(post '{"specversion":"1.0","type":"harbor.artifact.pushed"}' application/cloudevents+json)
he_eq "CloudEvents without data: 400" "$r" '400 {"error":"missing data"}'

big=$(python3 -c 'print("{\"type\":\"PUSH_ARTIFACT\",\"pad\":\"" + "x" * 5000 + "\"}")')
r=$(post "$big")
he_eq "5 KB body over a 4k limit: 413" "${r%% *}" 413
r=$(post "$big" application/json -H 'Transfer-Encoding: chunked')
he_eq "the same, chunked: 413" "${r%% *}" 413

code=$(curl -s -D "$d/hdr" -o /dev/null -w '%{http_code}' -X POST --data-binary '{}' "$URL")
he_eq "no Authorization header: 401" "$code" 401
grep -qi '^WWW-Authenticate: Bearer realm="harbor-edge"' "$d/hdr" \
    || he_fail "the 401 has no Bearer challenge: $(cat "$d/hdr")"
he_pass "... with a Bearer challenge"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: Bearer s3cr3t-webhooK' \
       --data-binary '{}' "$URL")
he_eq "wrong Authorization header: 401" "$code" 401
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: ${AUTH}x" \
       --data-binary '{}' "$URL")
he_eq "Authorization header with a byte more: 401" "$code" 401
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: ${AUTH%?}" \
       --data-binary '{}' "$URL")
he_eq "Authorization header with a byte less: 401" "$code" 401
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: $AUTH" "$URL")
he_eq "GET: 405" "$code" 405

he_eq "nothing refused was queued" "$(llen)" 5

# ------------------------------------------- Redis refuses the command

# the queue key holds a string: RPUSH gets WRONGTYPE, the event is not safe
redis-cli -p "$rport" rename "$Q" "$Q.saved" >/dev/null
redis-cli -p "$rport" set "$Q" not-a-list >/dev/null
r=$(post '{"type":"PUSH_ARTIFACT","occur_at":1717000650,"event_data":{"resources":[{"digest":"'$D1'","tag":"wrongtype"}],"repository":{"repo_full_name":"prod/api"}}}')
he_eq "RPUSH refused by Redis (WRONGTYPE): 503" "${r%% *}" 503
grep -q 'refused RPUSH "test:events": WRONGTYPE' "$d/ngx/logs/error.log" \
    || he_fail "the refusal is not in the error log"
he_pass "the error log names the refusal"
redis-cli -p "$rport" del "$Q" >/dev/null
redis-cli -p "$rport" rename "$Q.saved" "$Q" >/dev/null
r=$(post '{"type":"PUSH_ARTIFACT","occur_at":1717000650,"event_data":{"resources":[{"digest":"'$D1'","tag":"wrongtype"}],"repository":{"repo_full_name":"prod/api"}}}')
he_eq "the same event once the key is a list again: 200" "$r" '200 {"queued":1}'
he_eq "6 lines" "$(llen)" 6

# ------------------------------------------------------- Redis stopped

he_redis_stop "$d/redis"
r=''
for i in $(seq 20); do
    r=$(post '{"type":"PUSH_ARTIFACT","occur_at":1717000700,"event_data":{"resources":[{"digest":"'$D1'","tag":"v2"}],"repository":{"repo_full_name":"prod/api"}}}')
    [ "${r%% *}" = 503 ] && break
    sleep 0.1
done
he_eq "Redis stopped: 503" "$r" '503 {"error":"cannot queue the event now: redis unavailable"}'

t0=$(date +%s%N)
r=$(post '{"type":"PUSH_ARTIFACT","occur_at":1717000700,"event_data":{"resources":[{"digest":"'$D1'","tag":"v2"}],"repository":{"repo_full_name":"prod/api"}}}')
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
he_eq "again 503" "${r%% *}" 503
[ "$ms" -lt 1000 ] || he_fail "the 503 took $ms ms"
he_pass "the 503 came in $ms ms"

grep -q '\[alert\]\|\[crit\]\|\[emerg\]' "$d/ngx/logs/error.log" \
    && he_fail "alerts in the error log: $(grep '\[alert\]\|\[crit\]' "$d/ngx/logs/error.log" | head -3)"
he_pass "no alert or crit in the error log"
