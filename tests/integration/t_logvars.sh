#!/usr/bin/env bash
# t_logvars.sh: the access-log variables of ngx_http_harbor_metrics_module,
# $harbor_cache_status, $harbor_repository, $harbor_reference and
# $harbor_digest, read back from nginx's own access log for each kind of
# outcome: a hit by tag and by digest, a miss, a refusal by harbor_auth
# (the content handler never ran), a miss passed to the primary (an
# internal redirect that clears the read path's context), the ?ns= mapping
# on a hit and on a pass, an invalid name, and a location that has nothing
# to do with the module ("-" everywhere).
#
# HE_MODULE picks the .so (default: the repo's build/ngx_http_harbor_module.so).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MINT=$REPO/tests/tools/mint-token.py

for t in skopeo curl jq openssl python3 docker-registry; do
    command -v "$t" >/dev/null || he_skip "$t is not installed"
done
[ -f "$HE_MODULE" ] || he_skip "no $HE_MODULE (make module, or set HE_MODULE)"
grep -qa ngx_http_harbor_metrics_module "$HE_MODULE" \
    || he_fail "$HE_MODULE lacks ngx_http_harbor_metrics_module (see config)"

d=$(he_tmpdir logvars)

he_registry_start "$d/reg"
he_push_test_images "$REGISTRY" "$d/img" --big-kib 16 \
    || he_fail "pushing test images"
digest_of() { awk -v r="$1" '$1 == r { print $3 }' "$d/img/pushed.tsv"; }
single=$(digest_of test/single:v1)
[ -n "$single" ] || he_fail "pushed.tsv lacks test/single:v1"

store=$d/store
cp -a "$HE_REGISTRY_ROOT" "$store"
rm -rf "$store/docker/registry/v2/repositories/test/chart"
chmod -R a+rX "$store"
h=${single#sha256:}
config=$(jq -r .config.digest \
         "$store/docker/registry/v2/blobs/sha256/${h:0:2}/$h/data")

python3 "$MINT" keygen "$d/keys" > /dev/null

ndir=$d/ngx
mkdir -p "$ndir/logs" "$ndir/tmp" "$ndir/html"
echo static > "$ndir/html/index.html"
cp "$HE_MODULE" "$ndir/ngx_http_harbor_module.so"
sport=$(he_port); pport=$(he_port); aport=$(he_port)

cat > "$ndir/nginx.conf" <<EOF
load_module $ndir/ngx_http_harbor_module.so;
worker_processes 1;
daemon on;
pid $ndir/nginx.pid;
error_log $ndir/logs/error.log info;
events { worker_connections 256; }
http {
    log_format vars '\$status|\$harbor_cache_status|\$harbor_repository|'
                    '\$harbor_reference|\$harbor_digest|\$request_uri';
    access_log $ndir/logs/vars.log vars;
    client_body_temp_path $ndir/tmp/client;
    proxy_temp_path $ndir/tmp/proxy;
    fastcgi_temp_path $ndir/tmp/fastcgi;
    uwsgi_temp_path $ndir/tmp/uwsgi;
    scgi_temp_path $ndir/tmp/scgi;
    harbor_root $store;

    server {
        listen 127.0.0.1:$sport;
        location /v2/ {
            harbor_registry on;
            harbor_ns docker.io test;
        }
        location /static/ {
            alias $ndir/html/;
        }
    }
    server {
        listen 127.0.0.1:$pport;
        location /v2/ {
            harbor_registry on;
            harbor_ns docker.io test;
            harbor_miss_pass @primary;
        }
        location @primary {
            # the primary knows test/chart, not chart: as a real mirror
            # entry would, hand it the store's name
            rewrite ^/v2/chart/(.*)\$ /v2/test/chart/\$1 break;
            proxy_pass $REGISTRY_URL;
        }
    }
    server {
        listen 127.0.0.1:$aport;
        location /v2/ {
            harbor_registry on;
            harbor_auth token;
            harbor_token_realm http://127.0.0.1:1/service/token;
            harbor_token_cert $d/keys/cert.pem;
        }
    }
}
EOF
"$NGINX" -p "$ndir" -c "$ndir/nginx.conf" -e "$ndir/logs/error.log" \
    || he_fail "nginx did not start"
he_defer "he_nginx_stop $(printf '%q' "$ndir")"
he_wait_http "http://127.0.0.1:$sport/static/" || he_fail "nginx does not answer"
LOG=$ndir/logs/vars.log
ACCEPT='application/vnd.oci.image.manifest.v1+json'

# line URL WANT_STATUS [curl options]: the log line of one request, less URI
line() {
    local url=$1 want=$2 got n
    shift 2
    n=$(wc -l < "$LOG")
    got=$(curl -s -o /dev/null -w '%{http_code}' -H "Accept: $ACCEPT" \
          "$@" "$url")
    [ "$got" = "$want" ] || he_fail "$url: status $got, want $want"
    # the line is written when the request ends: wait for it
    for i in $(seq 50); do
        [ "$(wc -l < "$LOG")" -gt "$n" ] && break
        sleep 0.05
    done
    tail -n +"$((n + 1))" "$LOG" | head -1 | cut -d'|' -f1-5
}

S=http://127.0.0.1:$sport
he_eq "hit by tag" "$(line "$S/v2/test/single/manifests/v1" 200)" \
    "200|HIT|test/single|v1|$single"
he_eq "hit by digest (a blob)" \
    "$(line "$S/v2/test/single/blobs/$config" 200)" \
    "200|HIT|test/single|$config|$config"
he_eq "HEAD hit" "$(line "$S/v2/test/single/manifests/$single" 200 -I)" \
    "200|HIT|test/single|$single|$single"
he_eq "miss" "$(line "$S/v2/test/single/manifests/nope" 404)" \
    "404|MISS|test/single|nope|-"
he_eq "ns mapping on a hit: the store's name" \
    "$(line "$S/v2/single/manifests/v1?ns=docker.io" 200)" \
    "200|HIT|test/single|v1|$single"
he_eq "invalid name: not looked up" \
    "$(line "$S/v2/Bad/manifests/v1" 400)" "400|BYPASS|-|v1|-"
he_eq "write method: not looked up" \
    "$(line "$S/v2/test/single/manifests/v1" 405 -X DELETE)" \
    "405|BYPASS|test/single|v1|-"
he_eq "a static location: nothing" "$(line "$S/static/" 200)" "200|-|-|-|-"

P=http://127.0.0.1:$pport
he_eq "pass to the primary" \
    "$(line "$P/v2/test/chart/manifests/0.1.0" 200)" \
    "200|PASS|test/chart|0.1.0|-"
he_eq "pass with the ns mapping" \
    "$(line "$P/v2/chart/manifests/0.1.0?ns=docker.io" 200)" \
    "200|PASS|test/chart|0.1.0|-"

A=http://127.0.0.1:$aport
he_eq "denied: no token" "$(line "$A/v2/test/single/manifests/v1" 401)" \
    "401|DENIED|test/single|v1|-"
he_eq "denied: a broken token, by digest" \
    "$(line "$A/v2/test/single/blobs/$config" 401 \
       -H 'Authorization: Bearer x.y.z')" \
    "401|DENIED|test/single|$config|$config"
good=$(python3 "$MINT" mint --key "$d/keys/key.pem" \
       --scope repository:test/single:pull)
he_eq "a good token: hit" \
    "$(line "$A/v2/test/single/manifests/v1" 200 \
       -H "Authorization: Bearer $good")" \
    "200|HIT|test/single|v1|$single"

he_log "done in $(he_elapsed)s"
