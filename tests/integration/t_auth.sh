#!/usr/bin/env bash
# t_auth.sh: Harbor token auth at the edge (ngx_http_harbor_auth_module),
# end to end with real servers and real clients:
#
#   docker-registry (the store, test images pushed by he_push_test_images)
#   mint-token.py serve (a token service answering like Harbor's)
#   nginx with the module: three servers with "harbor_auth token"
#     P  proxy_pass to docker-registry: auth in front of any backend
#     S  harbor_registry on: auth in front of the read path
#     T  HTTPS + HTTP/2 with the cert from conf/tls/make-certs.sh
#
# Checks: the 401 challenge (realm, service, scope, error), skopeo's token
# flow (inspect and copy with --creds), anonymous pull of a public
# repository and the harbor_public globs, _catalog needing
# registry:catalog:*, every forged token from mint-token.py refused with 401
# and a log line naming the reason, HTTPS with skopeo --cert-dir and curl
# --http2, ?ns= mapping authorizing the repository actually served, a
# keep-alive connection surviving refusals, reloads, zero cost where
# harbor_auth is not configured (nginx's debug log), and nginx -t errors.
#
# HE_MODULE picks the .so (default: the repo's build/ngx_http_harbor_module.so).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MINT=$REPO/tests/tools/mint-token.py
MAKE_CERTS=$REPO/conf/tls/make-certs.sh

for t in skopeo curl jq openssl python3 docker-registry; do
    command -v "$t" >/dev/null || he_skip "$t is not installed"
done
[ -f "$HE_MODULE" ] || he_skip "no $HE_MODULE (make module, or set HE_MODULE)"
# built, but without the auth module: that is a build defect, not a skip
grep -qa ngx_http_harbor_auth_module "$HE_MODULE" \
    || he_fail "$HE_MODULE lacks ngx_http_harbor_auth_module (see config)"

d=$(he_tmpdir auth)

# ------------------------------------------------------------ the primary
he_registry_start "$d/reg"
he_push_test_images "$REGISTRY" "$d/img" --big-kib 64 \
    || he_fail "pushing test images"
digest_of() { awk -v r="$1" '$1 == r { print $3 }' "$d/img/pushed.tsv"; }
single_digest=$(digest_of test/single:v1)
chart_digest=$(digest_of test/chart:0.1.0)
[ -n "$single_digest" ] && [ -n "$chart_digest" ] \
    || he_fail "pushed.tsv lacks test/single:v1 or test/chart:0.1.0"
chmod -R a+rX "$HE_REGISTRY_ROOT"

# ------------------------------------------------------ keys and services
python3 "$MINT" keygen "$d/keys/main" > /dev/null
python3 "$MINT" keygen "$d/keys/other" --bits 2048 > /dev/null
python3 "$MINT" keygen "$d/keys/ec" --type ec > /dev/null
"$MAKE_CERTS" "$d/tls" --bits 2048 > /dev/null
KEY=$d/keys/main/key.pem
CERT=$d/keys/main/cert.pem

tport=$(he_port)
python3 "$MINT" serve --port "$tport" --key "$KEY" \
    --users alice:alice-secret,bob:bob-secret --admin alice \
    --public 'test/chart' --log "$d/token.log" 2> "$d/token.err" &
tpid=$!
he_defer "he_kill_pid $tpid"
he_wait_tcp "$tport" || { cat "$d/token.err"; he_fail "token server"; }
REALM=http://127.0.0.1:$tport/service/token

# ------------------------------------------------------------------ nginx
ndir=$d/ngx
mkdir -p "$ndir/logs" "$ndir/tmp"
pport=$(he_port); sport=$(he_port); tlsport=$(he_port); rport=$(he_port)

auth_conf="harbor_auth token;
            harbor_token_realm $REALM;
            harbor_token_cert $CERT;
            harbor_public test/chart pub/* deep/**;"

cat > "$ndir/nginx.conf" <<EOF
load_module $HE_MODULE;
worker_processes 1;
daemon on;
pid $ndir/nginx.pid;
error_log $ndir/logs/error.log info;
events { worker_connections 256; }
http {
    access_log $ndir/logs/access.log;
    client_body_temp_path $ndir/tmp/client;
    proxy_temp_path $ndir/tmp/proxy;
    fastcgi_temp_path $ndir/tmp/fastcgi;
    uwsgi_temp_path $ndir/tmp/uwsgi;
    scgi_temp_path $ndir/tmp/scgi;
    # room for the 9 KiB forged token: our own 8 KiB cap must answer it
    large_client_header_buffers 4 16k;
    harbor_root $HE_REGISTRY_ROOT;

    server {
        listen 127.0.0.1:$pport;
        location /v2/ {
            $auth_conf
            proxy_pass $REGISTRY_URL;
            proxy_set_header Authorization "";
        }
    }
    server {
        listen 127.0.0.1:$sport;
        location /v2/ {
            harbor_registry on;
            harbor_ns docker.io test;
            $auth_conf
        }
    }
    server {
        listen 127.0.0.1:$tlsport ssl http2;
        ssl_certificate $d/tls/server.crt;
        ssl_certificate_key $d/tls/server.key;
        location /v2/ {
            $auth_conf
            proxy_pass $REGISTRY_URL;
            proxy_set_header Authorization "";
        }
    }
    server {
        # no harbor_auth: the read path alone, to see if it serves yet
        listen 127.0.0.1:$rport;
        location /v2/ {
            harbor_registry on;
        }
    }
}
EOF
"$NGINX" -p "$ndir" -c "$ndir/nginx.conf" -e "$ndir/logs/error.log" \
    || he_fail "nginx did not start"
he_defer "he_nginx_stop $(printf '%q' "$ndir")"
he_wait_http "http://127.0.0.1:$pport/v2/" || he_fail "nginx does not answer"
P=127.0.0.1:$pport
ERRLOG=$ndir/logs/error.log

token_for() {   # token_for USER:PASS SCOPE...  (from our token service)
    local creds=$1 q="service=harbor-registry" s
    shift
    for s in "$@"; do
        q="$q&scope=$(jq -rn --arg s "$s" '$s | @uri')"
    done
    curl -sf ${creds:+-u "$creds"} "$REALM?$q" | jq -r .token
}

ACCEPT='application/vnd.oci.image.manifest.v1+json'
ACCEPT+=', application/vnd.oci.image.index.v1+json'
ACCEPT+=', application/vnd.docker.distribution.manifest.v2+json, */*'

# status URL [TOKEN] [curl options...]
status() {
    local url=$1 tok=${2:-}
    shift 2 || shift $#
    curl -s -o "$d/body" -D "$d/hdrs" -w '%{http_code}' \
        -H "Accept: $ACCEPT" ${tok:+-H "Authorization: Bearer $tok"} "$@" "$url"
}

header() {      # header NAME: its value in the last response
    tr -d '\r' < "$d/hdrs" | awk -v n="$1" -F': ' \
        'tolower($1) == tolower(n) { sub(/^[^:]*: /, ""); print }'
}
challenge() { header WWW-Authenticate; }

# ---------------------------------------------------------------- the 401s
code=$(status "http://$P/v2/")
he_eq "GET /v2/ without a token is 401" "$code" 401
he_eq "ping challenge" "$(challenge)" \
    "Bearer realm=\"$REALM\",service=\"harbor-registry\""
he_eq "ping body code" "$(jq -r '.errors[0].code' "$d/body")" UNAUTHORIZED
grep -qi '^docker-distribution-api-version: registry/2.0' "$d/hdrs" \
    || he_fail "401 lacks Docker-Distribution-API-Version"
he_pass "401 carries Docker-Distribution-API-Version"

code=$(status "http://$P/v2/test/single/manifests/v1")
he_eq "manifest without a token is 401" "$code" 401
he_eq "repository challenge has the scope" "$(challenge)" \
    "Bearer realm=\"$REALM\",service=\"harbor-registry\"$(
    ),scope=\"repository:test/single:pull\""
he_eq "detail names the repository" \
    "$(jq -r '.errors[0].detail[0].Name' "$d/body")" test/single

code=$(status "http://$P/v2/test/single/blobs/$single_digest" "" -I)
he_eq "HEAD blob without a token is 401" "$code" 401

code=$(status "http://$P/v2/test/single/tags/list")
he_eq "tags/list without a token is 401" "$code" 401

# -------------------------------------------------------- valid tokens
tok=$(token_for alice:alice-secret repository:test/single:pull)
code=$(status "http://$P/v2/test/single/manifests/v1" "$tok")
he_eq "a valid token for test/single gets the manifest" "$code" 200
he_eq "the digest is the pushed one" \
    "$(header Docker-Content-Digest)" \
    "$single_digest"
code=$(status "http://$P/v2/" "$tok")
he_eq "the same token passes the ping" "$code" 200

code=$(status "http://$P/v2/test/multiarch/manifests/v1" "$tok")
he_eq "the same token on test/multiarch is 401" "$code" 401
case "$(challenge)" in
    *'scope="repository:test/multiarch:pull",error="insufficient_scope"') \
        he_pass "the challenge says insufficient_scope" ;;
    *) he_fail "challenge: $(challenge)" ;;
esac

# ------------------------------------------------------------ public
code=$(status "http://$P/v2/test/chart/manifests/0.1.0")
he_eq "public repository manifest without a token" "$code" 200
chart_config=$(jq -r .config.digest "$d/body")
code=$(status "http://$P/v2/test/chart/blobs/$chart_config" "" -I)
he_eq "public repository blob HEAD without a token" "$code" 200
code=$(status "http://$P/v2/test/chart/tags/list")
he_eq "public repository tags/list without a token" "$code" 200
code=$(status "http://$P/v2/test/chart/blobs/uploads/" "" -X POST)
he_eq "public repository upload without a token still 401" "$code" 401
case "$(challenge)" in
    *'scope="repository:test/chart:pull,push"') he_pass "push scope asked" ;;
    *) he_fail "upload challenge: $(challenge)" ;;
esac

# public patterns: '*' stays in one component, '**' crosses them; a 404
# from the primary (no such repository) shows that auth let it through
for u in pub/x:404 pub/x/y:401 pubx:401 deep/a:404 deep/a/b/c:404 \
         deepx/a:401 test/chartx:401 test/char:401; do
    code=$(status "http://$P/v2/${u%:*}/manifests/v1")
    he_eq "public pattern for ${u%:*}" "$code" "${u#*:}"
done

# ------------------------------------------------------------ catalog
code=$(status "http://$P/v2/_catalog")
he_eq "catalog without a token" "$code" 401
case "$(challenge)" in
    *'scope="registry:catalog:*"') he_pass "catalog challenge scope" ;;
    *) he_fail "catalog challenge: $(challenge)" ;;
esac
btok=$(token_for bob:bob-secret 'registry:catalog:*')
code=$(status "http://$P/v2/_catalog" "$btok")
he_eq "catalog with a non-admin token (no catalog action)" "$code" 401
atok=$(token_for alice:alice-secret 'registry:catalog:*')
code=$(status "http://$P/v2/_catalog" "$atok")
he_eq "catalog with the admin's catalog token" "$code" 200
jq -e '.repositories | index("test/single")' "$d/body" > /dev/null \
    || he_fail "catalog lacks test/single"
he_pass "catalog lists test/single"

# ------------------------------------------------------------ skopeo
sk=(--tls-verify=false --retry-times 0)
out=$(skopeo inspect "${sk[@]}" --creds alice:alice-secret \
      "docker://$P/test/single:v1" 2>"$d/sk.err") \
    || { cat "$d/sk.err"; he_fail "skopeo inspect --creds through the edge"; }
he_eq "skopeo inspect --creds: digest" "$(echo "$out" | jq -r .Digest)" \
    "$single_digest"
grep -q 'alice repository:test/single:pull' "$d/token.log" \
    || he_fail "skopeo did not ask the token service for test/single"
he_pass "skopeo fetched its token from the realm in the challenge"

rm -rf "$d/copy"
skopeo copy "${sk[@]}" --all --src-creds alice:alice-secret \
    "docker://$P/test/multiarch:v1" "oci:$d/copy:multiarch" \
    > /dev/null 2>"$d/sk.err" \
    || { cat "$d/sk.err"; he_fail "skopeo copy --all through the edge"; }
he_eq "skopeo copy --all: index digest" \
    "$(jq -r '.manifests[0].digest' "$d/copy/index.json")" \
    "$(digest_of test/multiarch:v1)"

if skopeo inspect "${sk[@]}" --creds alice:wrong \
       "docker://$P/test/single:v1" > /dev/null 2>&1; then
    he_fail "skopeo with a wrong password got through"
fi
he_pass "skopeo with a wrong password is refused"

if skopeo inspect "${sk[@]}" --no-creds \
       "docker://$P/test/single:v1" > /dev/null 2>&1; then
    he_fail "anonymous skopeo got a private repository"
fi
he_pass "anonymous skopeo is refused a private repository"

out=$(skopeo inspect "${sk[@]}" --no-creds --raw \
      "docker://$P/test/chart:0.1.0" 2>"$d/sk.err") \
    || { cat "$d/sk.err"; he_fail "anonymous skopeo on the public repository"; }
he_pass "anonymous skopeo pulls the public repository"

# ------------------------------------------------------------ forgeries
he_log "forged tokens (mint-token.py forge list)"
n=0
while IFS=$'\t' read -r variant what; do
    tok=$(python3 "$MINT" forge "$variant" --key "$KEY" --cert "$CERT" \
          --other-key "$d/keys/other/key.pem" --ec-key "$d/keys/ec/key.pem" \
          --scope repository:test/single:pull)
    before=$(grep -ac 'harbor auth: ' "$ERRLOG" || true)
    code=$(status "http://$P/v2/test/single/manifests/v1" "$tok")
    sleep 0.05
    after=$(grep -ac 'harbor auth: ' "$ERRLOG" || true)
    [ "$code" = 401 ] || he_fail "forged '$variant' ($what): got $code"
    [ "$after" -gt "$before" ] || he_fail "forged '$variant' was not logged"
    reason=$(grep -a 'harbor auth: ' "$ERRLOG" | tail -1 \
             | sed 's/.*harbor auth: \([^,]*\),.*/\1/')
    case "$(challenge)" in
        *error=\"invalid_token\"|*error=\"insufficient_scope\") ;;
        *) he_fail "forged '$variant': challenge $(challenge)" ;;
    esac
    case $variant in
        expired) want='token refused: expired' ;;
        not-yet-valid) want='not yet valid' ;;
        no-exp|dup-access) want='bad claims' ;;
        wrong-issuer) want='wrong issuer' ;;
        wrong-audience*) want='wrong audience' ;;
        wrong-key*|sig-flipped|claims-swapped) want='bad signature' ;;
        alg-none) want='malformed token|algorithm not accepted' ;;
        alg-none-upper|hs256-*|rs512) want='algorithm not accepted' ;;
        es256-*) want='no key for the algorithm' ;;
        other-repository|push-only|no-access) want='does not grant' ;;
        truncated) want='bad signature|bad base64url' ;;
        oversized) want='token too large' ;;
        *base64) want='bad base64url' ;;
        two-parts|four-parts|garbage) want='malformed token' ;;
        crit|dup-alg) want='bad header' ;;
        *) want='UNLISTED' ;;
    esac
    echo "$reason" | grep -qE "$want" \
        || he_fail "forged '$variant': logged '$reason', want '$want'"
    printf '    %-22s 401  %s\n' "$variant" "$reason"
    n=$((n + 1))
done < <(python3 "$MINT" forge list)
he_pass "$n forged tokens refused with 401, each logged with its reason"

# the 8 KiB cap is ours (nginx would allow the header: 16k buffers)
tok=$(python3 "$MINT" forge oversized --key "$KEY" --cert "$CERT")
status "http://$P/v2/test/single/manifests/v1" "$tok" > /dev/null
grep -aq 'token refused: token too large' "$ERRLOG" \
    || he_fail "no 'token too large' in the log"
he_pass "an oversized token is refused by the module's own cap"

# a Basic header is no token: plain challenge, no error
code=$(status "http://$P/v2/test/single/manifests/v1" "" -u alice:alice-secret)
he_eq "Basic credentials at the edge get the challenge" "$code" 401
case "$(challenge)" in *error=*) he_fail "Basic got an error= challenge" ;; esac
he_pass "Basic credentials get a plain challenge"

if grep -aqE '\[(alert|crit|emerg)\]|signal 11|exited on signal' "$ERRLOG"; then
    grep -E '\[(alert|crit|emerg)\]|signal' "$ERRLOG" | head -5
    he_fail "nginx logged a crash or alert"
fi
he_pass "no crash or alert in the error log"

# ------------------------------------------------------------ HTTPS + h2
T=127.0.0.1:$tlsport
out=$(skopeo inspect --cert-dir "$d/tls/certs.d" --creds alice:alice-secret \
      "docker://$T/test/single:v1" 2>"$d/sk.err") \
    || { cat "$d/sk.err"; he_fail "skopeo over HTTPS with --cert-dir"; }
he_eq "skopeo over HTTPS (verified by the CA)" \
    "$(echo "$out" | jq -r .Digest)" "$single_digest"
rm -rf "$d/copy2"
skopeo copy --src-cert-dir "$d/tls/certs.d" --src-creds alice:alice-secret \
    "docker://$T/test/single:v1" "oci:$d/copy2:single" \
    > /dev/null 2>"$d/sk.err" \
    || { cat "$d/sk.err"; he_fail "skopeo copy over HTTPS"; }
he_pass "skopeo copy over HTTPS"
if skopeo inspect --creds alice:alice-secret "docker://$T/test/single:v1" \
       > /dev/null 2>&1; then
    he_fail "skopeo trusted the edge without the CA"
fi
he_pass "without the CA, skopeo refuses the edge's certificate"

v=$(curl -s -o /dev/null -w '%{http_version} %{http_code}' --http2 \
    --cacert "$d/tls/ca.crt" "https://$T/v2/")
he_eq "curl --http2 over TLS: ping" "$v" "2 401"
tok=$(token_for alice:alice-secret repository:test/single:pull)
v=$(curl -s -o /dev/null -w '%{http_version} %{http_code}' --http2 \
    --cacert "$d/tls/ca.crt" -H "Accept: $ACCEPT" \
    -H "Authorization: Bearer $tok" "https://$T/v2/test/single/manifests/v1")
he_eq "curl --http2 over TLS with a token" "$v" "2 200"

# ------------------------------------------------- the read path behind auth
# the read path serves the store without auth (server R): the baseline
code=$(status "http://127.0.0.1:$rport/v2/test/single/manifests/v1")
he_eq "read path without auth serves the manifest" "$code" 200

S=127.0.0.1:$sport
code=$(status "http://$S/v2/test/single/manifests/v1")
he_eq "read path: no token is 401" "$code" 401
out=$(skopeo inspect "${sk[@]}" --creds alice:alice-secret \
      "docker://$S/test/single:v1" 2>"$d/sk.err") \
    || { cat "$d/sk.err"; he_fail "skopeo through auth + read path"; }
he_eq "read path: skopeo inspect --creds" \
    "$(echo "$out" | jq -r .Digest)" "$single_digest"
code=$(status "http://$S/v2/test/chart/manifests/0.1.0")
he_eq "read path: public repository without a token" "$code" 200
rm -rf "$d/copy3"
skopeo copy "${sk[@]}" --all --src-creds alice:alice-secret \
    "docker://$S/test/multiarch:v1" "oci:$d/copy3:m" \
    > /dev/null 2>"$d/sk.err" \
    || { cat "$d/sk.err"; he_fail "skopeo copy --all, auth + read path"; }
he_pass "read path: skopeo copy --all with a token"

# ?ns=docker.io serves test/<name>: that is what the token must grant
code=$(status "http://$S/v2/single/manifests/v1?ns=docker.io")
he_eq "ns: no token is 401" "$code" 401
case "$(challenge)" in
    *'scope="repository:test/single:pull"') he_pass "ns: scope names test/single" ;;
    *) he_fail "ns challenge: $(challenge)" ;;
esac
tok=$(token_for alice:alice-secret repository:single:pull)
code=$(status "http://$S/v2/single/manifests/v1?ns=docker.io" "$tok")
he_eq "ns: a token for 'single' does not open test/single" "$code" 401
tok=$(token_for alice:alice-secret repository:test/single:pull)
code=$(status "http://$S/v2/single/manifests/v1?ns=docker.io" "$tok")
he_eq "ns: a token for test/single does" "$code" 200

# ---------------------------------- keepalive after a refusal (and a body)
tok=$(token_for alice:alice-secret repository:test/single:pull)
# small enough for curl to have sent it all before the 401 arrives (curl
# drops a connection whose upload a server answered early)
head -c 3000 /dev/zero > "$d/zeros"
c=(-s -o /dev/null -w '%{http_code} %{num_connects}\n' -H "Accept: $ACCEPT"
   -H "Authorization: Bearer $tok")
out=$(curl "${c[@]}" "http://$P/v2/test/multiarch/manifests/v1" \
      --next "${c[@]}" "http://$P/v2/test/single/manifests/v1" \
      --next "${c[@]}" --data-binary @"$d/zeros" \
      "http://$P/v2/test/single/blobs/uploads/" \
      --next "${c[@]}" "http://$P/v2/test/single/manifests/v1" \
      | tr '\n' ' ')
he_eq "one connection: refused, served, refused POST with a body, served" \
    "$out" "401 1 200 0 401 0 200 0 "

# ----------------------------------- reload: keys loaded again, old freed
for i in 1 2 3; do he_nginx_reload "$ndir"; done
code=$(status "http://$P/v2/test/single/manifests/v1" "$tok")
he_eq "after three reloads a valid token still passes" "$code" 200
code=$(status "http://$P/v2/test/multiarch/manifests/v1" "$tok")
he_eq "after three reloads the scope is still enforced" "$code" 401

# -------------------------- zero cost: no ACCESS handler unless configured
# nginx's debug log names every access-phase handler it runs (Debian's nginx
# is built --with-debug): with the module loaded but no "harbor_auth token"
# anywhere, a request runs exactly as many as with no module at all.
access_handlers() {   # access_handlers LOAD_MODULE_LINE LOCATION_EXTRA
    local dir=$d/zc.$RANDOM port
    mkdir -p "$dir/html/v2"
    echo ok > "$dir/html/v2/index.html"
    port=$(he_port)
    cat > "$dir/nginx.conf" <<EOF
$1
daemon on;
master_process off;
pid $dir/nginx.pid;
error_log $dir/error.log debug;
events { }
http {
    access_log off;
    client_body_temp_path $dir; proxy_temp_path $dir;
    fastcgi_temp_path $dir; uwsgi_temp_path $dir; scgi_temp_path $dir;
    server {
        listen 127.0.0.1:$port;
        root $dir/html;
        location /v2/ { }
        location /other/ { $2 }
    }
}
EOF
    "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" || return 1
    he_defer "he_kill_pid $(cat "$dir/nginx.pid")"
    he_wait_tcp "$port"
    # a file, not the directory: index would redirect and run the phases twice
    curl -s -o /dev/null "http://127.0.0.1:$port/v2/index.html"
    kill -QUIT "$(cat "$dir/nginx.pid")"
    sleep 0.3
    grep -ac 'access phase:' "$dir/error.log"
}
base=$(access_handlers "" "")
unused=$(access_handlers "load_module $HE_MODULE;" "")
used=$(access_handlers "load_module $HE_MODULE;" \
       "harbor_auth token; harbor_token_realm $REALM; harbor_token_cert $CERT;")
he_eq "module loaded, no harbor_auth: no extra access handler" "$unused" "$base"
he_eq "harbor_auth token somewhere: one more handler" "$used" "$((base + 1))"

# ------------------------------------------------------------ nginx -t
badconf() {   # badconf WHAT EXPECTED_MESSAGE LOCATION_BODY
    local f=$d/bad.conf
    cat > "$f" <<EOF
load_module $HE_MODULE;
pid $d/bad.pid;
error_log stderr;
events { }
http { server { listen 127.0.0.1:$(he_port); location /v2/ { $3 } } }
EOF
    if "$NGINX" -t -p "$d" -c "$f" > "$d/bad.out" 2>&1; then
        he_fail "nginx -t accepted: $1"
    fi
    grep -q "$2" "$d/bad.out" || { cat "$d/bad.out"; he_fail "$1: message"; }
    he_pass "nginx -t refuses $1"
}
badconf "token auth without a cert" "needs harbor_token_cert" \
    "harbor_auth token; harbor_token_realm $REALM;"
badconf "token auth without a realm" "needs harbor_token_realm" \
    "harbor_auth token; harbor_token_cert $CERT;"
badconf "a private key as the cert" "private key has no place" \
    "harbor_token_cert $KEY;"
badconf "a quote in the realm" "must not contain quotes" \
    "harbor_token_realm 'http://x/\"a';"
badconf "an uppercase public pattern" "invalid character" \
    "harbor_public Library/*;"
badconf "a missing cert file" "failed" \
    "harbor_token_cert $d/nonexistent.pem;"

he_log "done in $(he_elapsed)s"
