# lib.sh: helpers for Harbor Edge's integration tests (bash, sourced).
#
# Every test script starts real servers (docker-registry, nginx with the
# built module, redis) on random 127.0.0.1 ports in temp dirs under /tmp, and
# must stop exactly what it started, even when it fails half-way.  So every
# start function pushes its stop command on a cleanup stack, and one EXIT trap
# runs the stack in reverse order.  The stack is a file, not a bash array, so
# that a function called inside $(...) (a subshell) still registers its
# cleanup with the test's main shell.
#
#   . "$(dirname "$0")/lib.sh"
#   d=$(he_tmpdir)                         # removed on exit unless KEEP=1
#   he_registry_start "$d/reg"             # sets REGISTRY REGISTRY_URL
#                                          #   HE_REGISTRY_ROOT (the store)
#   he_push_test_images "$REGISTRY" "$d/img" --big-kib 64
#   port=$(he_nginx_start "$d/ngx" "$HE_REGISTRY_ROOT")
#   he_nginx_start "$d/ngx" "$ROOT" > /dev/null   # direct call: also sets
#                                  # HE_NGINX_PORT HE_NGINX_DIR HE_NGINX_PID
#   he_pass "what was shown"   /   he_fail "what went wrong"   (exit 1)
#   he_skip "why"                                              (exit 77)
#
# Also: he_port, he_defer, he_wait_http URL, he_wait_tcp PORT, he_kill_pid,
# he_registry_stop, he_nginx_stop [DIR], he_nginx_reload [DIR],
# he_nginx_workers [DIR], he_redis_start DIR / he_redis_stop [DIR],
# he_reqlog_start LOG UPSTREAM, he_skopeo, he_sha256 FILE, he_check, he_eq,
# he_log, he_elapsed, he_copy_module; HE_CONTAINERD_ACCEPT.  nginx config
# hooks: 3rd argument of he_nginx_start (inside location /v2/),
# HE_NGINX_HTTP_EXTRA, HE_NGINX_SERVER_EXTRA, HE_NGINX_LOG_LEVEL.
#
# Do not set your own EXIT trap; use he_defer 'shell command' instead.
# Function names here are a stable interface: other test files source them.
#
# Environment: KEEP=1 keeps temp dirs (servers are still stopped);
# HE_VERBOSE=1 shows helper logs; NGINX (default /usr/sbin/nginx);
# HE_NGINX_USER (default: nginx's default, "nobody", so the store must be
# world-readable as docs/store.md requires).

HE_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=${REPO:-$(cd "$HE_LIB_DIR/../.." && pwd)}
HE_TOOLS=$REPO/tests/tools
HE_MODULE=${HE_MODULE:-$REPO/build/ngx_http_harbor_module.so}
HE_REPLICATOR=${HE_REPLICATOR:-$REPO/build/harbor-replicator}
NGINX=${NGINX:-/usr/sbin/nginx}

# containerd's resolve Accept header (docs/facts.md, What containerd sends).
HE_CONTAINERD_ACCEPT='application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, */*'

HE_MAIN_BASHPID=$BASHPID
HE_STATE=$(mktemp -d /tmp/he-state.XXXXXX)
: > "$HE_STATE/cleanup"
HE_T0=$(date +%s.%N)


he_log() {
    echo "[$(basename "$0" .sh)] $*" >&2
}


he_vlog() {
    [ "${HE_VERBOSE:-0}" = 1 ] && he_log "$@"
    return 0
}


# he_defer 'shell command': run it at exit (last registered runs first).
he_defer() {
    printf '%s\n' "$*" >> "$HE_STATE/cleanup"
}


he_cleanup() {
    local rc=$? line

    # only the test's own shell cleans up, never a subshell
    [ "$BASHPID" = "$HE_MAIN_BASHPID" ] || return 0
    trap - EXIT INT TERM
    set +e
    if [ -f "$HE_STATE/cleanup" ]; then
        while IFS= read -r line; do
            [ -n "$line" ] || continue
            he_vlog "cleanup: $line"
            eval "$line" >/dev/null 2>&1
        done < <(tac "$HE_STATE/cleanup")
    fi
    rm -rf -- "$HE_STATE"
    return $rc
}

trap he_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


he_pass() {
    printf 'ok   - %s\n' "$*"
}


he_fail() {
    printf 'FAIL - %s\n' "$*"
    exit 1
}


he_skip() {
    printf 'SKIP - %s\n' "$*"
    exit 77
}


# he_check DESCRIPTION COMMAND...: pass if the command succeeds, else fail.
he_check() {
    local what=$1
    shift
    if "$@"; then
        he_pass "$what"
    else
        he_fail "$what (command: $*)"
    fi
}


# he_eq DESCRIPTION GOT WANT
he_eq() {
    if [ "$2" = "$3" ]; then
        he_pass "$1"
    else
        he_fail "$1: got '$2', want '$3'"
    fi
}


he_elapsed() {
    awk -v a="$HE_T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}


he_sha256() {
    echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"
}


# he_tmpdir [NAME]: a fresh directory under /tmp, mode 0755 so that nginx's
# unprivileged workers can traverse it.  Removed at exit unless KEEP=1.
he_tmpdir() {
    local d

    d=$(mktemp -d "/tmp/he-${1:-$(basename "$0" .sh)}.XXXXXX") || return 1
    chmod 0755 "$d"
    if [ "${KEEP:-0}" = 1 ]; then
        he_log "KEEP=1: keeping $d"
    else
        he_defer "rm -rf -- $(printf '%q' "$d")"
    fi
    echo "$d"
}


# he_port: a free TCP port on 127.0.0.1 (free now; bind soon).
he_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}


# he_wait_http URL [TRIES]: wait until URL gives any HTTP status.
he_wait_http() {
    local url=$1 tries=${2:-100} code

    while [ "$tries" -gt 0 ]; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" \
               2>/dev/null) || true
        case "$code" in
            ''|000) ;;
            *) return 0 ;;
        esac
        sleep 0.1
        tries=$((tries - 1))
    done
    return 1
}


# he_wait_tcp PORT [TRIES]: wait until 127.0.0.1:PORT accepts connections.
he_wait_tcp() {
    local port=$1 tries=${2:-100}

    while [ "$tries" -gt 0 ]; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
        tries=$((tries - 1))
    done
    return 1
}


# he_kill_pid PID: TERM, wait up to 5 s, then KILL.  Only PIDs we started.
he_kill_pid() {
    local pid=$1 i

    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null
    return 0
}


# --------------------------------------------------------- docker-registry

# he_registry_start DIR [--htpasswd U:P] [--tls] [--proxy-remote URL]
#                        [--token REALM ISSUER SERVICE CERT]
# (tests/tools/registry.sh's options).
# Sets REGISTRY (127.0.0.1:PORT), REGISTRY_URL, REGISTRY_PID and
# HE_REGISTRY_ROOT (DIR/data, distribution's rootdirectory: the store).
# Call it directly, not inside $(...), so that the variables are set.
he_registry_start() {
    local dir=$1 out try port
    shift

    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    for try in 1 2 3; do
        port=$(he_port)
        if out=$("$HE_TOOLS/registry.sh" start "$dir" \
                 --port "$port" "$@" 2>"$dir/up.err")
        then
            he_defer "$(printf '%q' "$HE_TOOLS/registry.sh") stop $(printf '%q' "$dir")"
            eval "$(echo "$out" | tail -1)"
            HE_REGISTRY_ROOT=$dir/data
            HE_REGISTRY_DIR=$dir
            export REGISTRY REGISTRY_URL REGISTRY_PID HE_REGISTRY_ROOT
            he_vlog "docker-registry on $REGISTRY, store $HE_REGISTRY_ROOT"
            return 0
        fi
        # a port race with a concurrent test: try another port
        [ -f "$dir/pid" ] && "$HE_TOOLS/registry.sh" stop "$dir"
    done
    cat "$dir/up.err" >&2
    return 1
}


# he_registry_stop [DIR]
he_registry_stop() {
    local dir=${1:-$HE_REGISTRY_DIR}

    [ -f "$dir/pid" ] || return 0
    "$HE_TOOLS/registry.sh" stop "$dir"
}


# he_push_test_images HOST:PORT OUTDIR [--big-kib N] [other
# make-test-images.sh options]: build the deterministic test images and push
# them (NS "test"); OUTDIR/pushed.tsv lists repo:tag, mediaType, digest.
he_push_test_images() {
    local host=$1 out=$2
    shift 2

    mkdir -p "$out"
    if ! "$HE_TOOLS/make-test-images.sh" --out "$out" --push "$host" \
         --quiet "$@" > "$out/make-test-images.log" 2>&1
    then
        cat "$out/make-test-images.log" >&2
        return 1
    fi
    [ -s "$out/pushed.tsv" ]
}


# ------------------------------------------------------------------- nginx

# he_copy_module DEST: copy build/ngx_http_harbor_module.so, waiting out a
# rebuild in progress (a half-written ELF has its section headers missing).
he_copy_module() {
    local i

    for i in $(seq 20); do
        if cp "$HE_MODULE" "$1" 2>/dev/null && cmp -s "$HE_MODULE" "$1" \
           && readelf -S "$1" > /dev/null 2>&1
        then
            return 0
        fi
        sleep 0.5
    done
    he_log "could not get a complete copy of $HE_MODULE"
    return 1
}


# he_nginx_conf DIR STORE_ROOT PORT [EXTRA]: write DIR/nginx.conf.
# EXTRA goes inside `location /v2/`; HE_NGINX_HTTP_EXTRA into http{} and
# HE_NGINX_SERVER_EXTRA into server{} (e.g. a named location for
# harbor_miss_pass).
he_nginx_conf() {
    local dir=$1 root=$2 port=$3 extra=${4:-} user=''

    [ -n "${HE_NGINX_USER:-}" ] && user="user ${HE_NGINX_USER};"
    mkdir -p "$dir/logs" "$dir/tmp"
    # load a private copy: `make module` rewrites build/*.so in place, and
    # a running nginx whose mapped .so is rewritten dies of SIGBUS/SIGSEGV
    he_copy_module "$dir/ngx_http_harbor_module.so" || return 1
    cat > "$dir/nginx.conf" <<EOF
# written by tests/integration/lib.sh
load_module $dir/ngx_http_harbor_module.so;
$user
worker_processes 1;
daemon on;
master_process on;
pid $dir/nginx.pid;
error_log $dir/logs/error.log ${HE_NGINX_LOG_LEVEL:-info};
events { worker_connections 1024; }
http {
    log_format he '\$msec \$request_method \$request_uri \$status '
                  '\$body_bytes_sent "\$http_accept" "\$http_range" '
                  '"\$http_user_agent"';
    access_log $dir/logs/access.log he;
    client_body_temp_path $dir/tmp/client;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    ${HE_NGINX_HTTP_EXTRA:-}
    server {
        listen 127.0.0.1:$port;
        harbor_root $root;
        ${HE_NGINX_SERVER_EXTRA:-}
        location /v2/ {
            harbor_registry on;
            $extra
        }
    }
}
EOF
}


# he_nginx_start DIR STORE_ROOT [EXTRA]: start nginx with the module serving
# STORE_ROOT, wait until /v2/ answers, echo the port.  Sets HE_NGINX_PORT,
# HE_NGINX_DIR and HE_NGINX_PID when called directly (not in $(...)).
# HE_NGINX_PORT_WANT set beforehand picks the port.
he_nginx_start() {
    local dir=$1 root=$2 extra=${3:-} port try pid

    [ -f "$HE_MODULE" ] || { he_log "no $HE_MODULE (make module)"; return 1; }
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    for try in 1 2 3; do
        port=${HE_NGINX_PORT_WANT:-$(he_port)}
        he_nginx_conf "$dir" "$root" "$port" "$extra"
        rm -f "$dir/nginx.pid"
        if ! "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" \
             2>"$dir/start.err"
        then
            if grep -q 'Address already in use' "$dir/start.err"; then
                continue
            fi
            cat "$dir/start.err" >&2
            return 1
        fi
        pid=$(cat "$dir/nginx.pid" 2>/dev/null)
        he_defer "he_nginx_stop $(printf '%q' "$dir")"
        if ! he_wait_http "http://127.0.0.1:$port/v2/"; then
            he_log "nginx in $dir did not answer on $port"
            tail -20 "$dir/logs/error.log" >&2
            return 1
        fi
        HE_NGINX_PORT=$port
        HE_NGINX_DIR=$dir
        HE_NGINX_PID=$pid
        he_vlog "nginx (pid $pid) on 127.0.0.1:$port serving $root"
        echo "$port"
        return 0
    done
    cat "$dir/start.err" >&2
    return 1
}


# he_nginx_stop [DIR]: graceful stop of the master whose pid is in
# DIR/nginx.pid (the one we started), then TERM/KILL if it lingers.
he_nginx_stop() {
    local dir=${1:-$HE_NGINX_DIR} pid i

    [ -f "$dir/nginx.pid" ] || return 0
    pid=$(cat "$dir/nginx.pid")
    [ -n "$pid" ] || return 0
    kill -QUIT "$pid" 2>/dev/null || { rm -f "$dir/nginx.pid"; return 0; }
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    he_kill_pid "$pid"
    rm -f "$dir/nginx.pid"
    return 0
}


# he_nginx_reload [DIR]: HUP and wait for the new worker.
he_nginx_reload() {
    local dir=${1:-$HE_NGINX_DIR}

    kill -HUP "$(cat "$dir/nginx.pid")" && sleep 0.5
}


# he_nginx_workers [DIR]: PIDs of the master's children.
he_nginx_workers() {
    local dir=${1:-$HE_NGINX_DIR}

    ps -o pid= --ppid "$(cat "$dir/nginx.pid")" | tr -d ' '
}


# ------------------------------------------------------------------- redis

# he_redis_start DIR: redis on a random port, no persistence.  Echoes the
# port; sets HE_REDIS_PORT and HE_REDIS_DIR when called directly.
he_redis_start() {
    local dir=$1 port try i

    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    for try in 1 2 3; do
        port=$(he_port)
        rm -f "$dir/redis.pid"
        redis-server --port "$port" --bind 127.0.0.1 --daemonize yes \
            --dir "$dir" --pidfile "$dir/redis.pid" \
            --logfile "$dir/redis.log" --save '' --appendonly no \
            >/dev/null 2>&1 || continue
        for i in $(seq 50); do
            [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break
            sleep 0.1
        done
        if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] \
           && [ -s "$dir/redis.pid" ]
        then
            he_defer "he_redis_stop $(printf '%q' "$dir")"
            HE_REDIS_PORT=$port
            HE_REDIS_DIR=$dir
            echo "$port"
            return 0
        fi
        [ -s "$dir/redis.pid" ] && he_kill_pid "$(cat "$dir/redis.pid")"
    done
    tail -5 "$dir/redis.log" >&2
    return 1
}


he_redis_stop() {
    local dir=${1:-$HE_REDIS_DIR}

    [ -s "$dir/redis.pid" ] || return 0
    he_kill_pid "$(cat "$dir/redis.pid")"
    rm -f "$dir/redis.pid"
}


# ------------------------------------------------------------ reqlog-proxy

# he_reqlog_start LOGFILE UPSTREAM_HOST:PORT: a logging proxy in front of
# UPSTREAM; echoes its port, sets HE_REQLOG_PORT when called directly.
he_reqlog_start() {
    local log=$1 up=$2 port pid

    port=$(he_port)
    python3 "$HE_TOOLS/reqlog-proxy.py" --listen "127.0.0.1:$port" \
        --upstream "$up" --log "$log" >/dev/null 2>&1 < /dev/null &
    pid=$!
    he_defer "he_kill_pid $pid"
    if ! he_wait_tcp "$port"; then
        he_log "reqlog-proxy did not start"
        return 1
    fi
    HE_REQLOG_PORT=$port
    echo "$port"
}


# he_skopeo ARGS...: skopeo with a private auth file (never the user's).
he_skopeo() {
    REGISTRY_AUTH_FILE=$HE_STATE/auth.json skopeo "$@"
}
