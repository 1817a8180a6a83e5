#!/usr/bin/env bash
# registry.sh: a throwaway docker-registry (Debian's CNCF distribution 2.8)
# on 127.0.0.1, the primary (or a pull-through cache) the tests talk to.
#
#   registry.sh start DIR [--port N] [--htpasswd USER:PASS] [--tls]
#                         [--token REALM ISSUER SERVICE CERT]
#                         [--proxy-remote URL]
#   registry.sh stop DIR
#
# start writes DIR/config.yml and DIR/registry.log, stores in DIR/data (the
# filesystem driver's rootdirectory), writes the PID to DIR/pid, waits until
# /v2/ answers (200, or 401 when it asks for credentials) and prints, as its
# last line, shell assignments for the caller to eval:
#   REGISTRY=127.0.0.1:PORT REGISTRY_PID=PID REGISTRY_URL=http(s)://...
# Without --port it picks a free port.
#   --htpasswd  basic auth (distribution takes bcrypt entries only)
#   --tls       a private CA and a server certificate for 127.0.0.1 and
#               localhost: DIR/tls/ca.crt, and DIR/certs.d/ca.crt for
#               skopeo's --cert-dir
#   --token     distribution's `auth: token`: REALM is the token service's
#               URL, CERT the certificate whose key signs the tokens (see
#               tests/tools/token-issuer)
#   --proxy-remote  a read-only pull-through cache of URL (distribution
#               sends no credentials upstream here: the upstream is open)
# stop sends TERM to the PID in DIR/pid, and only to it.
set -euo pipefail

die() {
    echo "registry.sh: $*" >&2
    exit 1
}

free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

stop() {
    local dir=$1 pid i

    [ -f "$dir/pid" ] || return 0
    pid=$(cat "$dir/pid")
    if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
        for i in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    fi
    rm -f "$dir/pid"
}

# make_tls DIR: a CA and a server certificate signed by it (once per DIR)
make_tls() {
    local t=$1/tls

    mkdir -p "$t" "$1/certs.d"
    if [ ! -s "$t/server.crt" ]; then
        openssl req -x509 -newkey rsa:2048 -nodes -days 30 \
            -subj '/CN=harbor-edge test CA' \
            -addext 'basicConstraints=critical,CA:TRUE' \
            -addext 'keyUsage=critical,keyCertSign,cRLSign' \
            -keyout "$t/ca.key" -out "$t/ca.crt" 2>/dev/null \
            || die "openssl: CA"
        openssl req -newkey rsa:2048 -nodes -subj '/CN=127.0.0.1' \
            -keyout "$t/server.key" -out "$t/server.csr" 2>/dev/null \
            || die "openssl: server key"
        printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
            'basicConstraints=CA:FALSE' 'extendedKeyUsage=serverAuth' \
            > "$t/server.ext"
        openssl x509 -req -in "$t/server.csr" -CA "$t/ca.crt" \
            -CAkey "$t/ca.key" -CAcreateserial -days 30 \
            -extfile "$t/server.ext" -out "$t/server.crt" 2>/dev/null \
            || die "openssl: server certificate"
    fi
    cp "$t/ca.crt" "$1/certs.d/ca.crt"
}

start() {
    local dir=$1 port='' htpw='' tls=0 remote='' realm='' issuer='' \
          service='' cert='' scheme=http code='' i pid
    local -a cacert=()
    shift

    while [ $# -gt 0 ]; do
        case "$1" in
            --port) port=$2; shift 2 ;;
            --htpasswd) htpw=$2; shift 2 ;;
            --tls) tls=1; shift ;;
            --token)
                [ $# -ge 5 ] || die "--token REALM ISSUER SERVICE CERT"
                realm=$2 issuer=$3 service=$4 cert=$5
                shift 5 ;;
            --proxy-remote) remote=$2; shift 2 ;;
            *) die "unknown option $1" ;;
        esac
    done
    [ -z "$htpw" ] || [ -z "$realm" ] || die "--htpasswd or --token, not both"
    command -v docker-registry > /dev/null \
        || die "docker-registry is not installed (make deps)"
    [ -n "$port" ] || port=$(free_port)

    mkdir -p "$dir/data"
    dir=$(cd "$dir" && pwd)
    if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
        die "already running in $dir (pid $(cat "$dir/pid"))"
    fi

    if [ -n "$htpw" ]; then
        command -v htpasswd > /dev/null \
            || die "htpasswd is not installed (apache2-utils)"
        htpasswd -Bbn "${htpw%%:*}" "${htpw#*:}" > "$dir/htpasswd"
    fi
    if [ "$tls" = 1 ]; then
        make_tls "$dir"
        scheme=https
        cacert=(--cacert "$dir/tls/ca.crt")
    fi
    if [ -n "$cert" ]; then
        cert=$(cd "$(dirname "$cert")" && pwd)/$(basename "$cert")
        [ -s "$cert" ] || die "no token certificate $cert"
    fi

    {
        echo "version: 0.1"
        echo "log: {level: info, formatter: text}"
        echo "storage:"
        echo "  filesystem: {rootdirectory: $dir/data}"
        echo "  delete: {enabled: true}"
        echo "  cache: {blobdescriptor: inmemory}"
        echo "http:"
        echo "  addr: 127.0.0.1:$port"
        echo "  secret: throwaway-$port"
        if [ "$tls" = 1 ]; then
            echo "  tls: {certificate: $dir/tls/server.crt," \
                 "key: $dir/tls/server.key}"
        fi
        if [ -n "$htpw" ]; then
            echo "auth:"
            echo "  htpasswd: {realm: harbor-edge-test, path: $dir/htpasswd}"
        elif [ -n "$realm" ]; then
            echo "auth:"
            echo "  token:"
            echo "    realm: $realm"
            echo "    issuer: $issuer"
            echo "    service: $service"
            echo "    rootcertbundle: $cert"
        fi
        if [ -n "$remote" ]; then
            echo "proxy: {remoteurl: $remote}"
        fi
    } > "$dir/config.yml"

    # its own session: a test's Ctrl-C goes to the test, which stops it
    setsid docker-registry serve "$dir/config.yml" \
        > "$dir/registry.log" 2>&1 < /dev/null &
    pid=$!
    echo "$pid" > "$dir/pid"

    for i in $(seq 300); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
               ${cacert[@]+"${cacert[@]}"} "$scheme://127.0.0.1:$port/v2/") \
            || true
        case "$code" in 200|401) break ;; esac
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$dir/pid"
            tail -5 "$dir/registry.log" >&2
            die "docker-registry exited (port $port)"
        fi
        sleep 0.1
    done
    case "$code" in
        200|401) ;;
        *) stop "$dir"
           die "docker-registry on $port did not answer /v2/ ($code)" ;;
    esac
    echo "REGISTRY=127.0.0.1:$port REGISTRY_PID=$pid" \
         "REGISTRY_URL=$scheme://127.0.0.1:$port"
}

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: registry.sh start|stop DIR [options]"
shift 2
case "$cmd" in
    start) start "$dir" "$@" ;;
    stop) stop "$dir" ;;
    *) die "unknown command $cmd" ;;
esac
