#!/usr/bin/env bash
# run-tests.sh - run the module's Test::Nginx suite (t/*.t) with prove.
#
# Uses upstream Test::Nginx when it is installed, else our runner in
# tests/tnginx/lib (same file format).  nginx is Debian's /usr/sbin/nginx
# (override with TEST_NGINX_BINARY) loading build/ngx_http_harbor_module.so
# (TEST_NGINX_HARBOR_MODULE); it listens on 127.0.0.1 on a port picked here.
#
#   tests/tnginx/run-tests.sh [prove args, e.g. t/003-range.t]
#
# Run from anywhere; it changes to the repository root.  nginx's servroot
# and the fixture store live in a temporary directory removed at the end.
# Exits with prove's status.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

export TEST_NGINX_BINARY=${TEST_NGINX_BINARY:-/usr/sbin/nginx}
: "${TEST_NGINX_HARBOR_MODULE:=$root/build/ngx_http_harbor_module.so}"
export TEST_NGINX_HARBOR_MODULE

if [ ! -f "$TEST_NGINX_HARBOR_MODULE" ]; then
    echo "run-tests.sh: no $TEST_NGINX_HARBOR_MODULE (make module)" >&2
    exit 1
fi

port=$(python3 -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

inc=()
if perl -MTest::Nginx::Socket -e1 2>/dev/null; then
    # upstream listens on TEST_NGINX_SERVER_PORT as given and connects to
    # TEST_NGINX_CLIENT_PORT: keep the server on 127.0.0.1
    export TEST_NGINX_SERVER_PORT=127.0.0.1:$port
    export TEST_NGINX_CLIENT_PORT=$port
else
    export TEST_NGINX_SERVER_PORT=$port
    inc=(-I "$root/tests/tnginx/lib")
fi

# Our own servroot and fixture store, so that two runs (or a run and
# someone's `make test`) never share an nginx, a log or a store.
work=$(mktemp -d /tmp/tnginx.XXXXXX)
cleanup() { [ -n "${TN_KEEP:-}" ] && { echo "kept $work" >&2; return; }; rm -rf "$work"; }
trap cleanup EXIT
# a snapshot of the module: a rebuild during the run must not change it
cp "$TEST_NGINX_HARBOR_MODULE" "$work/module.so"
export TEST_NGINX_HARBOR_MODULE=$work/module.so
export TEST_NGINX_SERVROOT=${TEST_NGINX_SERVROOT:-$work/servroot}
export TEST_NGINX_HARBOR_STORE=${TEST_NGINX_HARBOR_STORE:-$work/store}

if [ $# -eq 0 ]; then
    set -- -r t/
fi
# prove's own report, then one line "N passed, N failed" over the subtests
# (as the other runners end): a file that failed without a failed subtest
# (a bad plan, a crash) counts as one failed
set +eo pipefail
prove "${inc[@]}" "$@" 2>&1 | tee "$work/prove.out"
rc=${PIPESTATUS[0]}
total=$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' "$work/prove.out" \
        | tail -1)
failed=$(grep -oE 'Tests: [0-9]+ Failed: [0-9]+\)' "$work/prove.out" \
         | awk '{ n += $4 } END { print n + 0 }')
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1
fi
passed=$(( ${total:-0} - failed ))
[ "$passed" -ge 0 ] || passed=0
echo "$passed passed, $failed failed"
exit $rc
