#!/usr/bin/env bash
# t_verify_load.sh: blob verification under load (ngx_http_harbor_verify.c).
#
# Many clients asking at once for a blob the edge has not verified yet must
# cost ONE hash per worker, not one per request, and must not hold up the
# first serve of other blobs; a worker hashes at most harbor_verify_max_hashes
# blobs at a time (16 by default) and answers beyond that 503 UNAVAILABLE
# with Retry-After (or passes to harbor_miss_pass).  A regression test: N
# parallel HEADs of one 256 MiB blob once cost N hashes and made a 64 KiB
# first serve wait 7 s.
#
# The store is written by hand in distribution's layout (blobs/ and one
# repository's _layers links).  One nginx, one worker (coalescing is per
# worker), three servers sharing the zone "harbor":
#   O  harbor_verify once, /metrics, a debug log of the read path
#   A  harbor_verify always, harbor_verify_max_hashes 4
#   M  harbor_verify always (the default cap, 16), harbor_miss_pass @primary
#      (answers a marker)
# Hashes are counted with harbor_edge_verify_hashes_total and
# harbor_edge_verify_failures_total (one per hash, not per request).
#
# HE_MODULE picks the .so; HE_VERIFY_BIG_MIB the big blob's size (256).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

for t in curl python3 sha256sum; do
    command -v "$t" >/dev/null || he_skip "$t is not installed"
done
[ -f "$HE_MODULE" ] || he_skip "no $HE_MODULE (make module, or set HE_MODULE)"
grep -qa ngx_http_harbor_metrics_module "$HE_MODULE" \
    || he_skip "$HE_MODULE lacks ngx_http_harbor_metrics_module"

d=$(he_tmpdir verify-load)
big_mib=${HE_VERIFY_BIG_MIB:-256}

# ------------------------------------------------------------------ store
store=$d/store
V2=$store/docker/registry/v2
REPO_NAME=load/test
mkdir -p "$V2/blobs/sha256" "$V2/repositories/$REPO_NAME/_layers/sha256"

# put FILE: move FILE into the store under its digest, link it in the
# repository, echo the digest
put() {
    local f=$1 dg hex dir

    dg=$(he_sha256 "$f")
    hex=${dg#sha256:}
    dir=$V2/blobs/sha256/${hex:0:2}/$hex
    mkdir -p "$dir" "$V2/repositories/$REPO_NAME/_layers/sha256/$hex"
    mv "$f" "$dir/data"
    printf '%s' "$dg" \
        > "$V2/repositories/$REPO_NAME/_layers/sha256/$hex/link"
    echo "$dg"
}

blob_path() { local h=${1#sha256:}; echo "$V2/blobs/sha256/${h:0:2}/$h/data"; }

head -c $((big_mib * 1024 * 1024)) /dev/urandom > "$d/big"
cp "$d/big" "$d/big.copy"
big=$(put "$d/big")
# two more big blobs from the same bytes: other digests, same hashing cost
{ cat "$d/big.copy"; printf 'x'; } > "$d/big2"
big2=$(put "$d/big2")
{ cat "$d/big.copy"; printf 'yy'; } > "$d/bad"
bad=$(put "$d/bad")
rm -f "$d/big.copy"
# one byte changed in place, size kept: verification must fail
printf 'X' | dd of="$(blob_path "$bad")" bs=1 seek=4096 count=1 \
    conv=notrunc 2>/dev/null
for i in 1 2; do
    head -c 65536 /dev/urandom > "$d/small$i"
done
small1=$(put "$d/small1")
small2=$(put "$d/small2")
chmod -R a+rX "$store"
big_size=$(stat -c %s "$(blob_path "$big")")
he_pass "store: ${big_mib} MiB blobs $big, $big2, $bad (corrupted), two of 64 KiB"

# ------------------------------------------------------------------ nginx
ndir=$d/ngx
mkdir -p "$ndir/logs" "$ndir/tmp"
he_copy_module "$ndir/ngx_http_harbor_module.so" || he_fail "copying the module"
oport=$(he_port); aport=$(he_port); mport=$(he_port)

cat > "$ndir/nginx.conf" <<EOF
load_module $ndir/ngx_http_harbor_module.so;
worker_processes 1;
daemon on;
pid $ndir/nginx.pid;
error_log $ndir/logs/error.log info;
events { worker_connections 1024; }
http {
    access_log $ndir/logs/access.log;
    client_body_temp_path $ndir/tmp/client;
    proxy_temp_path $ndir/tmp/proxy;
    fastcgi_temp_path $ndir/tmp/fastcgi;
    uwsgi_temp_path $ndir/tmp/uwsgi;
    scgi_temp_path $ndir/tmp/scgi;
    sendfile on;
    harbor_root $store;

    server {
        listen 127.0.0.1:$oport;
        location /v2/ {
            harbor_registry on;
            harbor_verify once;
            error_log $ndir/logs/debug.log debug;
        }
        location = /metrics {
            harbor_metrics;
        }
    }
    server {
        listen 127.0.0.1:$aport;
        location /v2/ {
            harbor_registry on;
            harbor_verify always;
            harbor_verify_max_hashes 4;
            error_log $ndir/logs/debug-always.log debug;
        }
    }
    server {
        listen 127.0.0.1:$mport;
        location /v2/ {
            harbor_registry on;
            harbor_verify always;
            harbor_miss_pass @primary;
            error_log $ndir/logs/debug-always.log debug;
        }
        location @primary {
            add_header X-Primary yes always;
            return 200 "primary\n";
        }
    }
}
EOF
"$NGINX" -p "$ndir" -c "$ndir/nginx.conf" -e "$ndir/logs/error.log" \
    || he_fail "nginx did not start"
he_defer "he_nginx_stop $(printf '%q' "$ndir")"
he_wait_http "http://127.0.0.1:$oport/metrics" || he_fail "nginx does not answer"
O=http://127.0.0.1:$oport
A=http://127.0.0.1:$aport
M=http://127.0.0.1:$mport
B=/v2/$REPO_NAME/blobs

metric() {
    curl -sf "$O/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}
hashes() { metric harbor_edge_verify_hashes_total; }
failures() { metric harbor_edge_verify_failures_total; }

# the checks on the debug log need an nginx built --with-debug (Debian's is)
has_debug=0
"$NGINX" -V 2>&1 | grep -q -- '--with-debug' && has_debug=1

# line number of the first debug line matching a fixed string, or 0
line_of() {
    grep -n -F -m1 -- "$1" "$ndir/logs/debug.log" | cut -d: -f1 || true
}

# -------------------------- 40 HEADs of one unverified blob, then a small GET
h0=$(hashes)
t0=$(date +%s.%N)
for i in $(seq 40); do
    curl -s -o /dev/null -I -w '%{http_code}\n' "$O$B/$big2" \
        > "$d/h40.$i" &
done
sleep 0.05
small=$(curl -s -o "$d/small2.body" -w '%{http_code} %{time_total}' \
        "$O$B/$small2")
wait
he_log "40 HEADs of an unverified ${big_mib} MiB blob: a GET of an unverified" \
       "64 KiB blob meanwhile took ${small#* } s" \
       "(all done in $(awk -v a="$t0" -v b="$(date +%s.%N)" \
                       'BEGIN { printf "%.2f", b - a }') s)"
he_eq "the small blob meanwhile: 200" "${small% *}" 200
he_eq "the small blob meanwhile: its bytes" "$(he_sha256 "$d/small2.body")" \
    "$small2"
he_check "the small blob meanwhile: answered in under 1 s (${small#* } s)" \
    awk -v t="${small#* }" 'BEGIN { exit !(t < 1) }'
he_eq "40 HEADs: all 200" "$(cat "$d"/h40.* | sort | uniq -c | awk '{ print $1, $2 }')" \
    "40 200"
he_eq "40 HEADs + the small GET: 2 hashes" "$(( $(hashes) - h0 ))" 2

if [ "$has_debug" = 1 ]; then
    p_big=$(line_of "harbor verify posted: \"$(blob_path "$big2")\"")
    p_small=$(line_of "harbor verify posted: \"$(blob_path "$small2")\"")
    d_big=$(line_of "harbor verify done: \"$(blob_path "$big2")\"")
    he_eq "the big blob's hash was posted once" \
        "$(grep -c -F "harbor verify posted: \"$(blob_path "$big2")\"" \
           "$ndir/logs/debug.log")" 1
    # The rest waited, or came after the hash and found it remembered:
    # how many of each depends on the machine; the hash count above is
    # the invariant.
    waits=$(grep -c -F "harbor verify waits: \"$(blob_path "$big2")\"" \
            "$ndir/logs/debug.log" || true)
    later=$(grep -c -F "harbor: \"$(blob_path "$big2")\" verified before" \
            "$ndir/logs/debug.log" || true)
    he_check "the 39 others waited for that one hash ($waits) or found it remembered ($later)" \
        test $((waits + later)) -eq 39
    # Whether the small hash overlapped the big one depends on the disk
    # and the load: logged, not asserted (the latency check above is).
    he_log "debug log lines: big posted $p_big, small $p_small," \
           "big done $d_big"
else
    he_log "$NGINX lacks --with-debug: posted/waited counts not checked"
fi

# -------------- 10 HEADs and 10 GETs of another unverified blob, small GET
h0=$(hashes)
f0=$(failures)
for i in $(seq 10); do
    curl -s -o /dev/null -I -w '%{http_code} %header{content-length}\n' \
        "$O$B/$big" > "$d/head.$i" &
    curl -s -w '%{stderr}%{http_code}' "$O$B/$big" 2> "$d/get.$i.code" \
        | sha256sum | cut -d' ' -f1 > "$d/get.$i.sha" &
done
sleep 0.05
small=$(curl -s -o "$d/small1.body" -w '%{http_code} %{time_total}' \
        "$O$B/$small1")
wait
ok=0
for i in $(seq 10); do
    [ "$(cat "$d/head.$i")" = "200 $big_size" ] && ok=$((ok + 1))
    [ "$(cat "$d/get.$i.code")" = 200 ] \
        && [ "sha256:$(cat "$d/get.$i.sha")" = "$big" ] && ok=$((ok + 1))
done
he_eq "10 HEADs (200, Content-Length $big_size) and 10 GETs (200, the exact bytes)" \
    "$ok" 20
he_eq "a small blob meanwhile: 200 in ${small#* } s" "${small% *}" 200
he_check "a small blob meanwhile: under 1 s" \
    awk -v t="${small#* }" 'BEGIN { exit !(t < 1) }'
he_eq "20 parallel requests + the small one: 2 hashes" \
    "$(( $(hashes) - h0 ))" 2
he_eq "no verification failure" "$(( $(failures) - f0 ))" 0

# ------------------- 10 parallel requests for a corrupted blob: all 404
h0=$(hashes)
f0=$(failures)
# O's location logs to debug.log, all levels
mismatches() {  # hashes that found the corrupt blob (not the remembered)
    grep -F "digest mismatch in \"$(blob_path "$bad")\"" \
        "$ndir/logs/debug.log" | grep -c -v 'remembered' || true
}
m0=$(mismatches)
for i in $(seq 5); do
    curl -s -o "$d/bad.get.$i" -w '%{http_code}' "$O$B/$bad" \
        > "$d/bad.get.$i.code" &
    curl -s -o "$d/bad.head.$i" -I -w '%{http_code}' "$O$B/$bad" \
        > "$d/bad.head.$i.code" &
done
wait
codes=$(cat "$d"/bad.*.code | fold -w3 | sort | uniq -c | awk '{ print $1, $2 }')
he_eq "10 requests for the corrupted blob: all 404" "$codes" "10 404"
for i in $(seq 5); do
    grep -q '"code":"BLOB_UNKNOWN"' "$d/bad.get.$i" \
        || he_fail "GET $i of the corrupted blob: not BLOB_UNKNOWN"
    [ "$(stat -c %s "$d/bad.get.$i")" -lt 200 ] \
        || he_fail "GET $i of the corrupted blob: bytes of the blob sent"
done
he_pass "the 5 GETs got the JSON BLOB_UNKNOWN, not a byte of the blob"
he_eq "1 hash for the 10" "$(( $(hashes) - h0 ))" 1
he_eq "1 verification failure counted" "$(( $(failures) - f0 ))" 1
he_eq "1 mismatch logged" \
    "$(( $(mismatches) - m0 ))" 1

# ------------ always: hashing per request, at most max_hashes at a time
# A Range GET: 206 with 16 bytes when verified and served, 503 otherwise.
first16=$(head -c 16 "$(blob_path "$big")" | od -An -tx1 | tr -d ' \n')

burst() {   # burst URL PREFIX N: N parallel Range GETs
    local i
    for i in $(seq "$3"); do
        curl -s -D "$d/$2.$i.hdr" -o "$d/$2.$i.body" -H 'Range: bytes=0-15' \
            -w '%{http_code}' "$1" > "$d/$2.$i.code" &
    done
    wait
}

# the most hashes of FILE under way at once in the debug log from line L on
# (served counts are no measure: a hash done frees its slot for a late
# request of the burst on a loaded machine)
dlines() { wc -l < "$ndir/logs/${1:-debug}.log"; }
maxconc() {     # maxconc L FILE: in debug-always.log (servers A and M)
    tail -n +"$(( $1 + 1 ))" "$ndir/logs/debug-always.log" | awk -v p="\"$2\"" '
        index($0, "harbor verify posted: " p) { if (++c > m) m = c }
        index($0, "harbor verify done: " p)   { c-- }
        END { print m + 0 }'
}

h0=$(hashes)
l0=$(dlines debug-always)
burst "$A$B/$big" cap 20
n206=0; n503=0
for i in $(seq 20); do
    case $(cat "$d/cap.$i.code") in
        206)
            [ "$(od -An -tx1 "$d/cap.$i.body" | tr -d ' \n')" = "$first16" ] \
                || he_fail "request $i: 206 with the wrong bytes"
            n206=$((n206 + 1)) ;;
        503)
            tr -d '\r' < "$d/cap.$i.hdr" | grep -qix 'retry-after: 1' \
                || he_fail "request $i: 503 without Retry-After: 1"
            grep -q '"code":"UNAVAILABLE"' "$d/cap.$i.body" \
                || he_fail "request $i: 503 without UNAVAILABLE"
            n503=$((n503 + 1)) ;;
        *)
            he_fail "request $i: status $(cat "$d/cap.$i.code")" ;;
    esac
done
he_log "always, max_hashes 4, 20 parallel: $n206 served, $n503 refused"
he_check "always, max_hashes 4: some served ($n206), some refused ($n503)" \
    test "$n206" -ge 1 -a "$n503" -ge 1
if [ "$has_debug" = 1 ]; then
    c=$(maxconc "$l0" "$(blob_path "$big")")
    he_check "always, max_hashes 4: at most 4 hashes at once ($c)" \
        test "$c" -ge 1 -a "$c" -le 4
fi
he_eq "always: one hash per request served" "$(( $(hashes) - h0 ))" "$n206"
he_check "always: the rest got 503 UNAVAILABLE, Retry-After: 1 ($n503)" \
    test "$n503" -eq $((20 - n206))
grep -q 'blobs are being hashed already' "$ndir/logs/debug-always.log" \
    || he_fail "the refusals are not logged"
he_pass "the refusals are logged at info"

h0=$(hashes)
l0=$(dlines debug-always)
burst "$M$B/$big" pass 30
n206=0; npass=0
for i in $(seq 30); do
    case $(cat "$d/pass.$i.code") in
        206) n206=$((n206 + 1)) ;;
        200)
            grep -qix 'x-primary: yes' <(tr -d '\r' < "$d/pass.$i.hdr") \
                || he_fail "request $i: 200 not from @primary"
            npass=$((npass + 1)) ;;
        *)   he_fail "request $i: status $(cat "$d/pass.$i.code")" ;;
    esac
done
he_log "always, default cap, harbor_miss_pass, 30 parallel:" \
       "$n206 served, $npass passed"
he_check "always, default cap 16: beyond it passed to @primary ($npass), no 503" \
    test "$npass" -ge 1 -a $((n206 + npass)) -eq 30
if [ "$has_debug" = 1 ]; then
    c=$(maxconc "$l0" "$(blob_path "$big")")
    he_check "always, default cap 16: at most 16 hashes at once ($c)" \
        test "$c" -ge 1 -a "$c" -le 16
fi
he_eq "always + miss pass: one hash per request served" \
    "$(( $(hashes) - h0 ))" "$n206"

# ------------------------------------------------------------- lifetimes
# touch(1) gives the file a new mtime and ctime: "once" hashes it again.
# Clients that reset their connection while their request hashes or waits;
# a reload and a graceful stop while requests wait for a hash.
waits() { grep -c -F "harbor verify waits" "$ndir/logs/debug.log" || true; }

abandon() {     # abandon N URL: N GETs torn down (RST) 20 ms after sending
    python3 - "$@" <<'PY'
import socket, sys, time, urllib.parse
n, url = int(sys.argv[1]), urllib.parse.urlsplit(sys.argv[2])
ss = []
for _ in range(n):
    s = socket.create_connection((url.hostname, url.port), timeout=5)
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % url.path).encode())
    ss.append(s)
time.sleep(0.02)
for s in ss:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
    s.close()
PY
}

getall() {      # getall PREFIX N: N GETs of the big blob in the background
    local i
    for i in $(seq "$2"); do
        curl -s -w '%{stderr}%{http_code}' "$O$B/$big" 2> "$d/$1.$i.code" \
            | sha256sum | cut -d' ' -f1 > "$d/$1.$i.sha" &
    done
}

# arrived L N: wait until N requests for the big blob have reached the
# handler (posted a hash, wait for one, or found it verified) since debug
# log line L.  A connection still in the listen queue when a graceful
# stop closes the listening socket is reset by the kernel: that request was
# never in flight, and nginx promises nothing for it.
arrived() {
    local i n
    if [ "$has_debug" = 0 ]; then sleep 0.5; return 0; fi
    for i in $(seq 200); do
        n=$(tail -n +"$(( $1 + 1 ))" "$ndir/logs/debug.log" \
            | grep -F "$(blob_path "$big")" \
            | grep -c -E 'harbor verify (posted|waits)|verified before' \
            || true)
        [ "$n" -ge "$2" ] && return 0
        sleep 0.05
    done
    he_fail "only $n of $2 requests reached nginx in 10 s"
}

allwhole() {    # allwhole PREFIX N: every GET got 200 and the exact bytes
    local i
    for i in $(seq "$2"); do
        [ "$(cat "$d/$1.$i.code")" = 200 ] \
            && [ "sha256:$(cat "$d/$1.$i.sha")" = "$big" ] || return 1
    done
}

touch "$(blob_path "$big")"
h0=$(hashes)
w0=$(waits)
abandon 12 "$O$B/$big" &
sleep 0.01
getall gone 3
wait
he_check "12 clients reset while hashing or waiting: the 3 others got the whole blob" \
    allwhole gone 3
he_eq "... after one hash" "$(( $(hashes) - h0 ))" 1
[ "$has_debug" = 0 ] || he_check "... and requests did wait ($(( $(waits) - w0 )))" \
    test $(( $(waits) - w0 )) -ge 1
r=$(curl -s -o /dev/null -I -w '%{http_code}' "$O$B/$big")
he_eq "once: the blob is now served from the cache" "$r" 200
he_eq "... without a hash" "$(( $(hashes) - h0 ))" 1

touch "$(blob_path "$big")"
w0=$(waits)
worker=$(he_nginx_workers "$ndir")
l0=$(dlines)
getall reload 4
arrived "$l0" 4
kill -HUP "$(cat "$ndir/nginx.pid")"
wait
he_check "a reload while 4 requests hash or wait: all 4 got the whole blob" \
    allwhole reload 4
he_check "... the old worker ($worker) is gone" \
    bash -c "for i in \$(seq 50); do kill -0 $worker 2>/dev/null || exit 0; sleep 0.1; done; exit 1"

if grep -E '\[(alert|crit|emerg)\]' "$ndir"/logs/*.log; then
    he_fail "alert, crit or emerg in the error log"
fi
he_pass "no alert, crit or emerg in the error log"

touch "$(blob_path "$big")"
w0=$(waits)
l0=$(dlines)
getall stop 4
arrived "$l0" 4
master=$(cat "$ndir/nginx.pid")
kill -QUIT "$master"
wait
he_check "a graceful stop while 4 requests hash or wait: all 4 got the whole blob" \
    allwhole stop 4
[ "$has_debug" = 0 ] || he_check "... requests did wait ($(( $(waits) - w0 )))" \
    test $(( $(waits) - w0 )) -ge 1
for i in $(seq 50); do
    kill -0 "$master" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$master" 2>/dev/null && he_fail "nginx did not exit after QUIT"
if grep -E 'open socket .* left in connection|\[(alert|crit|emerg)\]' \
        "$ndir"/logs/*.log
then
    he_fail "a connection left open at exit, or an alert"
fi
he_pass "nginx exited cleanly, no connection left behind ($(he_elapsed) s)"
