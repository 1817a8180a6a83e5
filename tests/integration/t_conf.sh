#!/usr/bin/env bash
# t_conf.sh: configuration checks, with the real nginx and the built module.
#
# 1. Every nginx configuration in conf/ (nginx-harbor.conf and the deployment
#    guides' regional-mirror.conf, containerd-mirror.conf, cascade.conf)
#    passes `nginx -t` as shipped, with only what cannot exist here moved:
#    the module's path to the build, /var/lib/harbor-edge, /etc/harbor-edge,
#    /var/log/nginx and /run to a temp directory (with certificates made by
#    conf/tls/make-certs.sh and mint-token.py), *.example.com upstreams to
#    127.0.0.1 (nginx -t resolves them, and there is no DNS in CI), and
#    temp paths added.
# 2. Misuse is refused by `nginx -t` with a message that says what is wrong:
#    wrong context, bad values, a thread pool or zone that does not exist or
#    is taken, harbor_metrics twice or beside another handler, a missing
#    named location, ...
# 3. A location without harbor_registry behaves exactly as stock nginx: the
#    same static requests (GET, HEAD, Range, conditional, 404, 301, 405,
#    403) against nginx without the module and nginx with the module loaded
#    and used elsewhere give the same status, headers and body; and they
#    are counted nowhere.
#
# HE_MODULE picks the .so (default: the repo's build/ngx_http_harbor_module.so).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PROMCHECK=$REPO/tests/tools/promcheck.py

for t in curl openssl python3; do
    command -v "$t" >/dev/null || he_skip "$t is not installed"
done
[ -f "$HE_MODULE" ] || he_skip "no $HE_MODULE (make module, or set HE_MODULE)"
grep -qa ngx_http_harbor_metrics_module "$HE_MODULE" \
    || he_fail "$HE_MODULE lacks ngx_http_harbor_metrics_module (see config)"

t=$(he_tmpdir conf)
MODULE=$t/ngx_http_harbor_module.so
cp "$HE_MODULE" "$MODULE"
mkdir -p "$t/lib/store/docker/registry/v2" "$t/etc" "$t/log" "$t/run" \
         "$t/tmp"
"$REPO/conf/tls/make-certs.sh" "$t/etc/tls" --bits 2048 > /dev/null
cp "$t/etc/tls/ca.crt" "$t/etc/primary-ca.crt"
cp "$t/etc/tls/ca.crt" "$t/etc/edge-ca.crt"
python3 "$REPO/tests/tools/mint-token.py" keygen "$t/keys" > /dev/null
cp "$t/keys/cert.pem" "$t/etc/token-signer.crt"
if [ -f /etc/nginx/mime.types ]; then
    cp /etc/nginx/mime.types "$t/mime.types"
else
    echo 'types { text/plain txt; }' > "$t/mime.types"
fi

TEMPS="client_body_temp_path $t/tmp/body; proxy_temp_path $t/tmp/proxy; \
fastcgi_temp_path $t/tmp/fastcgi; uwsgi_temp_path $t/tmp/uwsgi; \
scgi_temp_path $t/tmp/scgi;"

# localize FILE OUT: the config with the paths moved (see the top)
localize() {
    sed -E \
        -e "s#/usr/lib/nginx/modules/ngx_http_harbor_module\.so#$MODULE#" \
        -e "s#/var/lib/harbor-edge/#$t/lib/#g" \
        -e "s#/etc/harbor-edge/#$t/etc/#g" \
        -e "s#/var/log/nginx/#$t/log/#g" \
        -e "s#/run/nginx\.pid#$t/run/nginx.pid#" \
        -e "s#/run/redis/#$t/run/#g" \
        -e "s#include /etc/nginx/mime\.types;#include $t/mime.types;#" \
        -e '/^[[:space:]]*server[[:space:]]/s#[a-z0-9.-]+\.example\.com#127.0.0.1#' \
        -e '/proxy_pass/s#//[a-z0-9.-]+\.example\.com#//127.0.0.1#' \
        -e "s#^http \{#http { $TEMPS#" \
        "$1" > "$2"
}

# ------------------------------------------------ 1. conf/*.conf pass -t
n=0
for f in "$REPO"/conf/*.conf; do
    name=$(basename "$f")
    localize "$f" "$t/$name"
    grep -q '^http { client_body_temp_path' "$t/$name" \
        || he_fail "$name: no 'http {' line at column 0 to add temp paths to"
    if ! "$NGINX" -t -q -p "$t" -c "$t/$name" -e "$t/log/error.log" \
         > "$t/$name.out" 2>&1
    then
        cat "$t/$name.out"
        he_fail "conf/$name does not pass nginx -t"
    fi
    grep -q 'ngx_http_harbor_module' "$t/$name" \
        || he_fail "conf/$name does not load the module"
    he_pass "conf/$name passes nginx -t"
    n=$((n + 1))
done
[ "$n" -ge 4 ] || he_fail "only $n configurations in conf/"

# ----------------------------------------------- 2. misuse is refused
# refused WHAT MESSAGE MAIN HTTP SERVER LOCATION: nginx -t must fail, and
# say MESSAGE (a fixed string)
refused() {
    local what=$1 msg=$2
    cat > "$t/bad.conf" <<EOF
load_module $MODULE;
pid $t/run/bad.pid;
error_log $t/log/bad.log;
$3
events { worker_connections 64; }
http {
    $TEMPS
    access_log off;
    $4
    server {
        listen 127.0.0.1:1;
        harbor_root $t/lib/store;
        $5
        location /v2/ {
            harbor_registry on;
            $6
        }
        location @primary {
            return 502;
        }
    }
}
EOF
    if "$NGINX" -t -q -p "$t" -c "$t/bad.conf" -e "$t/log/bad.log" \
       > "$t/bad.out" 2>&1
    then
        he_fail "$what: accepted by nginx -t"
    fi
    if ! grep -qF -- "$msg" "$t/bad.out"; then
        cat "$t/bad.out"
        he_fail "$what: refused, but without '$msg'"
    fi
    he_pass "$what: $(grep -o 'emerg\] .*' "$t/bad.out" | head -1 \
                      | sed "s#in $t/bad.conf#in bad.conf#")"
}

# the base itself must pass, or every refusal below proves nothing
cat > "$t/base.conf" <<EOF
load_module $MODULE;
pid $t/run/bad.pid;
events { worker_connections 64; }
http {
    $TEMPS
    access_log off;
    server {
        listen 127.0.0.1:1;
        harbor_root $t/lib/store;
        location /v2/ { harbor_registry on; }
        location = /metrics { harbor_metrics; }
        location @primary { return 502; }
    }
}
EOF
"$NGINX" -t -q -p "$t" -c "$t/base.conf" -e "$t/log/bad.log" \
    || he_fail "the base of the misuse configurations does not pass -t"
he_pass "the base of the misuse configurations passes nginx -t"

refused "harbor_metrics in http{}" \
    '"harbor_metrics" directive is not allowed here' \
    "" "harbor_metrics;" "" ""
refused "harbor_metrics in server{}" \
    '"harbor_metrics" directive is not allowed here' \
    "" "" "harbor_metrics;" ""
refused "harbor_metrics twice" \
    '"harbor_metrics" directive is duplicate' \
    "" "" "location = /m { harbor_metrics; harbor_metrics; }" ""
refused "harbor_metrics with an argument" \
    'invalid number of arguments in "harbor_metrics"' \
    "" "" "location = /m { harbor_metrics on; }" ""
refused "harbor_metrics beside harbor_registry" \
    '"harbor_metrics" cannot be used in a location with "harbor_registry on"' \
    "" "" "" "harbor_metrics;"
refused "harbor_metrics beside proxy_pass" \
    'cannot be combined with another content handler' \
    "" "" "location = /m { proxy_pass http://127.0.0.1:1; harbor_metrics; }" ""
refused "harbor_metrics zone taken by another module" \
    'harbor_metrics' \
    "" "limit_req_zone \$binary_remote_addr zone=harbor_metrics:1m rate=1r/s;" \
    "location = /m { harbor_metrics; }" ""
refused "zone \"harbor\" taken by another module" \
    '"harbor"' \
    "" "limit_req_zone \$binary_remote_addr zone=harbor:1m rate=1r/s;" "" ""
refused "harbor_registry with a bad value" \
    'it must be "on" or "off"' "" "" "harbor_registry maybe;" ""
refused "harbor_registry in http{}" \
    '"harbor_registry" directive is not allowed here' \
    "" "harbor_registry on;" "" ""
refused "harbor_verify with a bad value" \
    'invalid value "sometimes"' "" "" "" "harbor_verify sometimes;"
refused "harbor_verify_thread_pool naming no pool" \
    'unknown thread pool "nosuch"' "" "" "" "harbor_verify_thread_pool nosuch;"
refused "harbor_miss_pass to no named location" \
    'but the server has no such named location' \
    "" "" "" "harbor_miss_pass @nowhere;"
refused "harbor_miss_pass without @" \
    'needs a named location' "" "" "" "harbor_miss_pass primary;"
refused "harbor_shm_size below 8 pages" \
    'is too small' "" "harbor_shm_size 4k;" "" ""
refused "harbor_manifest_max_size 0" \
    'must not be 0' "" "" "" "harbor_manifest_max_size 0;"
refused "harbor_catalog_max_entries 0" \
    'value must be between 1 and 1000000' "" "" "" "harbor_catalog_max_entries 0;"
refused "harbor_ns with an invalid host" \
    'invalid host "bad host!"' "" "" "" 'harbor_ns "bad host!" x;'
refused "harbor_ns with an invalid prefix" \
    'invalid repository prefix "UPPER"' "" "" "" 'harbor_ns docker.io UPPER;'
refused "harbor_root in the main context" \
    '"harbor_root" directive is not allowed here' \
    "harbor_root /tmp;" "" "" ""
refused "harbor_auth token without a realm" \
    'needs harbor_token_realm' "" "" "" "harbor_auth token;"
refused "harbor_webhook without harbor_redis" \
    'needs "harbor_redis"' "" "" \
    "location = /hook { harbor_webhook; harbor_webhook_auth off; }" ""
refused "harbor_metrics beside harbor_webhook" \
    'harbor_metrics' "" "harbor_redis 127.0.0.1:6379;" \
    "location = /hook { harbor_webhook; harbor_webhook_auth off; harbor_metrics; }" ""

# harbor_registry on without harbor_root: a server of its own
cat > "$t/bad.conf" <<EOF
load_module $MODULE;
pid $t/run/bad.pid;
events { worker_connections 64; }
http {
    $TEMPS
    server { listen 127.0.0.1:1; location /v2/ { harbor_registry on; } }
}
EOF
"$NGINX" -t -q -p "$t" -c "$t/bad.conf" -e "$t/log/bad.log" \
    > "$t/bad.out" 2>&1 && he_fail "harbor_registry without harbor_root: accepted"
grep -qF '"harbor_registry on" requires "harbor_root"' "$t/bad.out" \
    || { cat "$t/bad.out"; he_fail "harbor_registry without harbor_root: message"; }
he_pass "harbor_registry without harbor_root is refused"

# --------------------------- 3. a static location is stock nginx's
mkdir -p "$t/html/dir" "$t/s1/logs" "$t/s2/logs"
head -c 5000 /dev/urandom > "$t/html/file.bin"
echo 'hello, static' > "$t/html/index.html"
touch -d '2024-01-02 03:04:05 UTC' "$t/html/file.bin" "$t/html/index.html"
chmod -R a+rX "$t/html"
p1=$(he_port); p2=$(he_port)

static_server() {   # static_server PORT
    cat <<EOF
    server {
        listen 127.0.0.1:$1;
        location /static/ {
            alias $t/html/;
        }
    }
EOF
}

cat > "$t/s1/nginx.conf" <<EOF
pid $t/s1/nginx.pid;
worker_processes 1;
error_log $t/s1/logs/error.log info;
events { worker_connections 64; }
http {
    $TEMPS
    include $t/mime.types;
    access_log $t/s1/logs/access.log;
$(static_server "$p1")
}
EOF
mport=$(he_port)
cat > "$t/s2/nginx.conf" <<EOF
load_module $MODULE;
pid $t/s2/nginx.pid;
worker_processes 1;
error_log $t/s2/logs/error.log info;
events { worker_connections 64; }
http {
    $TEMPS
    include $t/mime.types;
    log_format h '\$status \$harbor_cache_status \$harbor_repository';
    access_log $t/s2/logs/access.log h;
    harbor_root $t/lib/store;
    harbor_redis 127.0.0.1:1;
$(static_server "$p2")
    server {
        listen 127.0.0.1:$mport;
        location /v2/ {
            harbor_registry on;
            harbor_auth token;
            harbor_token_realm http://127.0.0.1:1/token;
            harbor_token_cert $t/etc/token-signer.crt;
        }
        location = /metrics { harbor_metrics; }
    }
}
EOF
for s in s1 s2; do
    "$NGINX" -p "$t/$s" -c "$t/$s/nginx.conf" -e "$t/$s/logs/error.log" \
        || he_fail "nginx ($s) did not start"
    he_defer "he_nginx_stop $(printf '%q' "$t/$s")"
done
he_wait_http "http://127.0.0.1:$p1/static/" || he_fail "stock nginx"
he_wait_http "http://127.0.0.1:$p2/static/" || he_fail "nginx with the module"

lm=$(curl -s -I "http://127.0.0.1:$p1/static/file.bin" | tr -d '\r' \
     | awk -F': ' 'tolower($1) == "last-modified" { print $2 }')
etag=$(curl -s -I "http://127.0.0.1:$p1/static/file.bin" | tr -d '\r' \
       | awk -F': ' 'tolower($1) == "etag" { print $2 }')
[ -n "$lm" ] && [ -n "$etag" ] || he_fail "no Last-Modified or ETag"

# answer PORT NAME PATH [curl options]: status, headers (less Date, port
# numbers and multipart boundaries made neutral) and the body's digest
answer() {
    local port=$1 name=$2 path=$3
    shift 3
    : > "$t/$name.b"
    curl -s -D "$t/$name.h" -o "$t/$name.b" "$@" "http://127.0.0.1:$port$path"
    # a multipart boundary is a per-process counter of 20 digits
    {
        tr -d '\r' < "$t/$name.h" | grep -vi '^date:' \
            | sed -E -e "s/:$port/:PORT/g" -e 's/[0-9]{20}/BOUNDARY/g'
        LC_ALL=C sed -E 's/[0-9]{20}/BOUNDARY/g' "$t/$name.b" | sha256sum
    }
}

k=0
compare() {     # compare WHAT PATH [curl options]
    local what=$1
    shift
    k=$((k + 1))
    answer "$p1" "a$k" "$@" > "$t/a$k.txt"
    answer "$p2" "b$k" "$@" > "$t/b$k.txt"
    if ! diff "$t/a$k.txt" "$t/b$k.txt" > "$t/d$k.txt"; then
        cat "$t/d$k.txt"
        he_fail "$what differs with the module loaded"
    fi
    he_pass "$what: the same as stock nginx ($(head -1 "$t/a$k.txt"))"
}

compare "GET a file" /static/file.bin
compare "HEAD a file" /static/file.bin -I
compare "a Range" /static/file.bin -H 'Range: bytes=100-199'
compare "two Ranges" /static/file.bin -H 'Range: bytes=0-9,20-29'
compare "an unsatisfiable Range" /static/file.bin -H 'Range: bytes=9000-'
compare "If-Modified-Since" /static/file.bin -H "If-Modified-Since: $lm"
compare "If-None-Match" /static/file.bin -H "If-None-Match: $etag"
compare "the index" /static/
compare "a missing file" /static/nope
compare "a directory without a slash" /static/dir
compare "a directory without an index" /static/dir/
compare "POST" /static/index.html -X POST -d x
compare "a static file with an Authorization header" /static/index.html \
    -H 'Authorization: Bearer x'

# nothing of the module ran for them
curl -s "http://127.0.0.1:$mport/metrics" > "$t/m.txt"
python3 "$PROMCHECK" --print "$t/m.txt" > "$t/m.series" 2>/dev/null \
    || he_fail "the metrics of the module's nginx do not pass promcheck"
if grep -v ' 0$' "$t/m.series" | grep -q .; then
    grep -v ' 0$' "$t/m.series"
    he_fail "static requests were counted"
fi
he_pass "the static requests were counted nowhere"
if awk '$2 != "-" || $3 != "-"' "$t/s2/logs/access.log" | grep -q .; then
    cat "$t/s2/logs/access.log"
    he_fail "harbor variables set on static requests"
fi
he_pass "the harbor variables are empty ('-') on static requests"

# ------------------------------- 4. conf/*.json pass the replicator's check
if [ -x "$HE_REPLICATOR" ]; then
    mkdir -p "$t/lib/harbor-edge/store"
    echo 'robot-secret' > "$t/etc/robot.secret"
    for f in "$REPO"/conf/*.json; do
        name=$(basename "$f")
        sed -e "s#/var/lib/harbor-edge/#$t/lib/harbor-edge/#g" \
            -e "s#/etc/harbor-edge/#$t/etc/#g" "$f" > "$t/$name"
        "$HE_REPLICATOR" -c "$t/$name" check > "$t/$name.out" 2>&1 \
            || { cat "$t/$name.out"; he_fail "conf/$name does not pass check"; }
        he_pass "conf/$name passes harbor-replicator check"
    done
fi

he_log "done in $(he_elapsed)s"
