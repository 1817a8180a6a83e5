#!/usr/bin/env bash
# tests/bench/run.sh: Harbor Edge's side-by-side benchmark (make bench).
#
# One run, one machine, loopback: the same files served by
#   edge       nginx + ngx_http_harbor_module on a distribution store;
#   static     plain nginx, the same bytes as static files at the same URIs
#              (blobs hard-linked to the store's data files: same inode,
#              same page cache);
#   pcache     an nginx proxy_cache mirror of docker-registry, warm;
#   registry   docker-registry (distribution 2.8) on the same store;
# the three nginx each with and without open_file_cache ("ofc" / "no ofc":
# two servers in each nginx).  Requests: manifest GET and HEAD by tag and by
# digest, blob GET (4 MiB and 64 MiB) and blob HEAD.  Every nginx runs one
# worker; the serving process's utime+stime from /proc before and after
# each run gives its CPU per request and per GiB served.
#
# BENCH_ROUNDS (default 3) rounds, interleaved (every server for one
# request, then the next request, ...); each figure is the median of the
# rounds.  GETs are timed with wrk, HEADs with ab -i (Debian's wrk 4.1
# waits for a body after a HEAD).  Prints the table, the ratios (edge ÷
# static, edge ÷ proxy_cache, edge ÷ docker-registry) and the targets of
# tests/bench/README.md, and exits 0: a loaded CI box is no place to fail a build on
# throughput.
#
# BENCH_SECS (default 2) per run, BENCH_CONNS (default 8), BENCH_REQS and
# BENCH_SERVERS (a subset, for a quick look: "mtaghead bhead", "edge:1
# static:1"; the ratios and targets need the servers they compare),
# BENCH_OPEN_FILE_CACHE ("max=1000 inactive=20s"), KEEP=1 keeps the temp
# dir.  A full run takes about 6 minutes.  See tests/bench/README.md.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"

SECS=${BENCH_SECS:-2}
CONNS=${BENCH_CONNS:-8}
ROUNDS=${BENCH_ROUNDS:-3}
OFC=${BENCH_OPEN_FILE_CACHE:-max=1000 inactive=20s}
HZ=$(getconf CLK_TCK)
T0=$(date +%s)

[ -f "$HE_MODULE" ] || he_fail "no $HE_MODULE: run make module"
command -v wrk > /dev/null || he_fail "wrk is not installed (apt-get install wrk)"
command -v ab > /dev/null || he_fail "ab is not installed (apt-get install apache2-utils)"

d=$(he_tmpdir bench)
log() { echo "bench: $*" >&2; }

# ---------------------------------------------------------------- the store

# A two-layer OCI image (64 MiB and 4 MiB of AES-CTR keystream:
# incompressible, deterministic), copied with skopeo into docker-registry so
# that the store is distribution's own.
log "building the image"
lay=$d/layout
mkdir -p "$lay/blobs/sha256"
printf '{"imageLayoutVersion":"1.0.0"}' > "$lay/oci-layout"
add_blob() { # add_blob FILE -> hex
    local hex
    hex=$(sha256sum "$1" | cut -d' ' -f1)
    mv "$1" "$lay/blobs/sha256/$hex"
    echo "$hex"
}
keystream() { # keystream MIB IV
    head -c $(($1 * 1024 * 1024)) /dev/zero \
        | openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f \
            -iv "$2"
}
keystream 64 00000000000000000000000000000000 > "$d/big"
keystream 4 00000000000000000000000000000001 > "$d/small"
bigsize=$(stat -c %s "$d/big")
smallsize=$(stat -c %s "$d/small")
bighex=$(add_blob "$d/big")
smallhex=$(add_blob "$d/small")
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s","sha256:%s"]}}' \
    "$bighex" "$smallhex" > "$d/config"
csize=$(stat -c %s "$d/config")
chex=$(add_blob "$d/config")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d},{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d}]}' \
    "$chex" "$csize" "$bighex" "$bigsize" "$smallhex" "$smallsize" > "$d/manifest"
msize=$(stat -c %s "$d/manifest")
cp "$d/manifest" "$d/manifest.json"
mhex=$(add_blob "$d/manifest")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
    "$mhex" "$msize" > "$lay/index.json"

he_registry_start "$d/reg"
he_skopeo copy --quiet --preserve-digests --dest-tls-verify=false \
    "oci:$lay:v1" "docker://$REGISTRY/bench/big:v1" >&2
he_registry_stop "$d/reg"
ROOT=$HE_REGISTRY_ROOT
V2=$ROOT/docker/registry/v2
blobdata() { echo "$V2/blobs/sha256/${1:0:2}/$1/data"; }
[ -f "$(blobdata "$bighex")" ] || he_fail "the blob is not in the store"

# the requests: name, method, URI, the sha256 its GET must return
R=/v2/bench/big
REQS=${BENCH_REQS:-mtagget mtaghead mdigget mdighead b4get b64get bhead}
declare -A METHOD URI WANT
METHOD=([mtagget]=GET [mtaghead]=HEAD [mdigget]=GET [mdighead]=HEAD
        [b4get]=GET [b64get]=GET [bhead]=HEAD)
URI=([mtagget]=$R/manifests/v1 [mtaghead]=$R/manifests/v1
     [mdigget]=$R/manifests/sha256:$mhex [mdighead]=$R/manifests/sha256:$mhex
     [b4get]=$R/blobs/sha256:$smallhex [b64get]=$R/blobs/sha256:$bighex
     [bhead]=$R/blobs/sha256:$bighex)
WANT=([mtagget]=$mhex [mdigget]=$mhex [b4get]=$smallhex [b64get]=$bighex)
ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json'

# static's files at the same URIs
S=$d/static$R
mkdir -p "$S/manifests" "$S/blobs"
cp "$d/manifest.json" "$S/manifests/v1"
cp "$d/manifest.json" "$S/manifests/sha256:$mhex"
ln "$(blobdata "$bighex")" "$S/blobs/sha256:$bighex"
ln "$(blobdata "$smallhex")" "$S/blobs/sha256:$smallhex"
chmod -R a+rX "$d/static"

# ---------------------------------------------------------------- servers

# docker-registry again on the same store, with request logging off so
# it is not slowed by its own logs
rport=$(he_port)
cat > "$d/reg/quiet.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $ROOT
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$rport
EOF
docker-registry serve "$d/reg/quiet.yml" > "$d/reg/quiet.log" 2>&1 < /dev/null &
RPID=$!
he_defer "he_kill_pid $RPID"
he_wait_http "http://127.0.0.1:$rport/v2/" || he_fail "docker-registry did not start"

nginx_conf() { # nginx_conf DIR MODULE(0|1) LINES...
    local dir=$1 mod=$2
    shift 2
    mkdir -p "$dir/logs" "$dir/tmp"
    # a private copy: `make module` rewrites build/*.so in place
    if [ "$mod" = 1 ]; then
        he_copy_module "$dir/ngx_http_harbor_module.so" \
            || he_fail "no usable $HE_MODULE"
    fi
    {
        if [ "$mod" = 1 ]; then
            echo "load_module $dir/ngx_http_harbor_module.so;"
        fi
        cat <<EOF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log notice;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path $dir/tmp/client;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
EOF
        printf '    %s\n' "$@"
        echo "}"
    } > "$dir/nginx.conf"
}

start_nginx() { # start_nginx DIR
    "$NGINX" -p "$1" -c "$1/nginx.conf" -e "$1/logs/error.log" \
        || he_fail "nginx in $1 did not start: $(tail -3 "$1/logs/error.log")"
    he_defer "he_nginx_stop $(printf '%q' "$1")"
}

# one server with open_file_cache, one without, in each nginx
declare -A PORT PID
for s in edge static pcache; do
    PORT[$s:1]=$(he_port)
    PORT[$s:0]=$(he_port)
done
PORT[registry:1]=$rport
two() { # two NAME BODY: the server lines of NAME, with and without ofc
    echo "server { listen 127.0.0.1:${PORT[$1:1]}; open_file_cache $OFC; $2 }"
    echo "server { listen 127.0.0.1:${PORT[$1:0]}; open_file_cache off; $2 }"
}
mapfile -t lines < <(two edge "harbor_root $ROOT; location /v2/ { harbor_registry on; }")
nginx_conf "$d/edge" 1 "${lines[@]}"
mapfile -t lines < <(two static "root $d/static; default_type application/octet-stream;")
nginx_conf "$d/static" 0 "${lines[@]}"
# the mirror a site would put in front of its registry: everything cached
# for a day under the URI, HEAD answered from the GET's entry
mapfile -t lines < <(two pcache "location / { proxy_pass http://127.0.0.1:$rport; proxy_cache mirror; proxy_cache_key \$uri; proxy_cache_valid 200 1d; proxy_cache_lock on; proxy_http_version 1.1; proxy_set_header Connection \"\"; add_header X-Cache-Status \$upstream_cache_status; }")
nginx_conf "$d/pcache" 0 \
    "proxy_cache_path $d/pcache/cache levels=1:2 keys_zone=mirror:10m inactive=1d use_temp_path=off;" \
    "${lines[@]}"
for s in edge static pcache; do
    start_nginx "$d/$s"
    for o in 1 0; do
        he_wait_http "http://127.0.0.1:${PORT[$s:$o]}/" \
            || he_fail "$s nginx on ${PORT[$s:$o]} does not answer"
    done
    # the worker, not proxy_cache's cache manager and loader
    PID[$s]=$(for p in $(he_nginx_workers "$d/$s"); do
                  if grep -q 'worker process' "/proc/$p/cmdline"; then
                      echo "$p"
                  fi
              done)
    [ "$(echo "${PID[$s]}" | wc -w)" = 1 ] \
        || he_fail "expected one $s worker, got '${PID[$s]}'"
done
PID[registry]=$RPID
SERVERS=${BENCH_SERVERS:-edge:1 static:1 pcache:1 edge:0 static:0 pcache:0 registry:1}

# every server must answer the right bytes before we time it; this also
# warms the mirror (checked below: a GET again must be a cache hit) and is
# the edge's first read of each file (harbor_verify once, manifest cache)
check() { # check SERVER REQ
    local url=http://127.0.0.1:${PORT[$1]}${URI[$2]} got
    if [ "${METHOD[$2]}" = HEAD ]; then
        got=$(curl -s -o /dev/null -w '%{http_code}' -I -H "$ACCEPT" "$url")
        [ "$got" = 200 ] || he_fail "HEAD $url: $got"
        return 0
    fi
    got=$(curl -sf -H "$ACCEPT" "$url" | sha256sum | cut -d' ' -f1)
    [ "$got" = "${WANT[$2]}" ] \
        || he_fail "$url gave bytes hashing to $got, want ${WANT[$2]}"
}
for s in $SERVERS; do
    for q in $REQS; do
        check "$s" "$q"
    done
done
for q in $REQS; do
    [ "${METHOD[$q]}" = GET ] && [[ " $SERVERS " == *" pcache:1 "* ]] || continue
    h=$(curl -s -o /dev/null -D - -H "$ACCEPT" \
            "http://127.0.0.1:${PORT[pcache:1]}${URI[$q]}" \
        | tr -d '\r' | awk -F': ' 'tolower($1) == "x-cache-status" { print $2 }')
    [ "$h" = HIT ] || he_fail "the proxy_cache mirror is not warm for $q: '$h'"
done
log "store $ROOT; blobs $bigsize and $smallsize bytes, manifest $msize bytes; all servers answer"

# ---------------------------------------------------------------- runs

cpu_ticks() { # cpu_ticks PID: utime + stime (fields 14, 15 of stat)
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

RESULTS=$d/results.tsv
: > "$RESULTS"

# run SERVER:OFC REQ: one timed run, one line in results.tsv:
# request server ofc requests bytes duration_us ticks errors
run() {
    local s=${1%:*} o=${1#*:} q=$2 pid url c0 c1 line out n bytes us errs
    pid=${PID[$s]}
    url=http://127.0.0.1:${PORT[$1]}${URI[$q]}
    c0=$(cpu_ticks "$pid")
    if [ "${METHOD[$q]}" = GET ]; then
        line=$(wrk -t1 -c"$CONNS" -d"${SECS}s" --timeout 30s -s "$here/report.lua" \
               -H "$ACCEPT" "$url" | grep '^WRK ') || he_fail "wrk failed on $url"
        eval "$(echo "${line#WRK }" | tr ' ' '\n' | sed 's/^/local w_/')"
        n=$w_requests bytes=$w_bytes us=$w_duration_us
        errs=$((w_sockerr + w_status_err))
    else
        out=$(ab -q -k -i -c"$CONNS" -t"$SECS" -n 100000000 -H "$ACCEPT" "$url" 2>&1) \
            || he_fail "ab failed on $url: $(echo "$out" | tail -2)"
        n=$(echo "$out" | awk '/^Complete requests:/ { print $3 }')
        bytes=$(echo "$out" | awk '/^Total transferred:/ { print $3 }')
        us=$(echo "$out" | awk '/^Time taken for tests:/ { printf "%d", $5 * 1e6 }')
        errs=$(echo "$out" | awk '/^Failed requests:/ { f = $3 }
                                 /^Non-2xx responses:/ { f += $3 }
                                 END { print f + 0 }')
    fi
    [ -d "/proc/$pid" ] || he_fail "the $s server ($pid) died during the $q run"
    c1=$(cpu_ticks "$pid")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$q" "$s" "$o" "$n" "$bytes" "$us" \
        "$((c1 - c0))" "$errs" >> "$RESULTS"
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
# interleaved: a request on every server in turn, then the next request;
# all of it ROUNDS times
for round in $(seq "$ROUNDS"); do
    log "round $round of $ROUNDS"
    for q in $REQS; do
        for s in $SERVERS; do
            run "$s" "$q"
        done
    done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# per (request, server, ofc): the median round's req/s and bytes/s; CPU
# per request and per GiB from all rounds together (/proc counts in
# 1/CLK_TCK s)
SUM=$d/summary.tsv
awk -F'\t' -v OFS='\t' -v hz="$HZ" '
    function median(list,   a, n, t, i, j) {
        n = split(list, a, " ")
        for (i = 2; i <= n; i++) {
            t = a[i]
            for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
            a[j + 1] = t
        }
        return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    {
        k = $1 SUBSEP $2 SUBSEP $3
        if (!(k in n)) { keys[++nk] = k }
        rps[k] = rps[k] " " ($4 / ($6 / 1e6))
        bps[k] = bps[k] " " ($5 / ($6 / 1e6))
        n[k] += $4; bytes[k] += $5; ticks[k] += $7; errs[k] += $8
    }
    END {
        for (i = 1; i <= nk; i++) {
            k = keys[i]
            split(k, f, SUBSEP)
            print f[1], f[2], f[3], median(rps[k]), median(bps[k]),
                (n[k] ? ticks[k] / hz / n[k] * 1e6 : 0),
                (bytes[k] ? (ticks[k] / hz) / (bytes[k] / 1073741824) : 0),
                errs[k]
        }
    }' "$RESULTS" > "$SUM"

# ---------------------------------------------------------------- report

echo
echo "Harbor Edge benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r), $(( $(date +%s) - T0 )) s"
echo "load average before the runs: $LOAD0; after: $LOAD1"
echo "nginx $("$NGINX" -v 2>&1 | sed 's/.*\///'), 1 worker each, sendfile on, tcp_nopush on;" \
     "docker-registry $(docker-registry --version 2>&1 | awk '{ print $3 }')"
echo "GET: wrk -t1 -c$CONNS -d${SECS}s; HEAD: ab -k -i -c$CONNS -t$SECS; medians of $ROUNDS interleaved rounds"
echo "ofc: open_file_cache $OFC; no ofc: open_file_cache off"
echo "manifest $msize bytes (OCI, sha256:${mhex:0:12}...), blobs $smallsize and $bigsize bytes"
echo
awk -F'\t' '
    BEGIN {
        label["mtagget"] = "manifest GET by tag"
        label["mtaghead"] = "manifest HEAD by tag"
        label["mdigget"] = "manifest GET by digest"
        label["mdighead"] = "manifest HEAD by digest"
        label["b4get"] = "blob GET 4 MiB"
        label["b64get"] = "blob GET 64 MiB"
        label["bhead"] = "blob HEAD"
        sname["edge"] = "edge"; sname["static"] = "static"
        sname["pcache"] = "proxy_cache"; sname["registry"] = "docker-registry"
        printf "%-24s %-22s %10s %10s %11s %10s %6s\n", "request", "server",
            "req/s", "MiB/s", "CPU us/req", "CPU s/GiB", "errors"
    }
    {
        srv = sname[$2] ($2 == "registry" ? "" : ($3 == 1 ? ", ofc" : ", no ofc"))
        req = ($1 != last) ? label[$1] : ""
        last = $1
        printf "%-24s %-22s %10.0f %10.1f %11.1f %10.3f %6d\n", req, srv,
            $4, $5 / 1048576, $6, $7, $8
    }' "$SUM"
echo "req/s, MiB/s: the median round; CPU: utime+stime of the serving process (the"
echo "nginx worker; docker-registry with all its threads) over all rounds, per request"
echo "and per GiB the client read (headers included); resolution 1/$HZ s"
echo

# val REQ SERVER OFC FIELD (4 req/s, 5 bytes/s, 6 CPU us/req)
val() {
    awk -F'\t' -v q="$1" -v s="$2" -v o="$3" -v f="$4" \
        '$1 == q && $2 == s && $3 == o { print $f }' "$SUM"
}

# ratio A B CA CB: "A/B [CA/CB]"
ratio() {
    awk -v a="$1" -v b="$2" -v ca="$3" -v cb="$4" 'BEGIN {
        if (b > 0 && cb > 0) printf " %7.2fx [%5.2fx]", a / b, ca / cb
        else printf " %17s", "-"
    }'
}

echo "ratios: edge ÷ other, req/s (MiB/s for blob GETs) [CPU per request]"
printf '%-24s %-7s %17s %17s %17s\n' request "" static proxy_cache docker-registry
for q in $REQS; do
    f=4
    case $q in b4get|b64get) f=5 ;; esac
    for o in 1 0; do
        printf '%-24s %-7s' "$q" "$([ "$o" = 1 ] && echo ofc || echo no-ofc)"
        for s in static:$o pcache:$o registry:1; do
            ratio "$(val "$q" edge "$o" "$f")" "$(val "$q" "${s%:*}" "${s#*:}" "$f")" \
                  "$(val "$q" edge "$o" 6)" "$(val "$q" "${s%:*}" "${s#*:}" 6)"
        done
        echo
    done
done
echo

# target WHAT A B LIMIT: A/B against >= LIMIT
target() {
    awk -v what="$1" -v a="$2" -v b="$3" -v lim="$4" 'BEGIN {
        if (a == "" || b == "" || b == 0) { printf "%-52s %8s   target >= %-5s n/a\n", what, "-", lim; exit }
        r = a / b
        printf "%-52s %7.2fx   target >= %-5s %s\n", what, r, lim,
            (r >= lim) ? "MET" : "MISSED"
    }'
}

echo "targets (tests/bench/README.md)"
target "manifest GET by tag, edge / static, ofc" \
    "$(val mtagget edge 1 4)" "$(val mtagget static 1 4)" 0.95
target "manifest HEAD by tag, edge / static, ofc" \
    "$(val mtaghead edge 1 4)" "$(val mtaghead static 1 4)" 0.95
target "manifest GET by tag, edge / static, no ofc" \
    "$(val mtagget edge 0 4)" "$(val mtagget static 0 4)" 0.7
target "manifest HEAD by tag, edge / static, no ofc" \
    "$(val mtaghead edge 0 4)" "$(val mtaghead static 0 4)" 0.7
target "blob GET 4 MiB (MiB/s), edge / static, ofc" \
    "$(val b4get edge 1 5)" "$(val b4get static 1 5)" 0.97
target "blob GET 64 MiB (MiB/s), edge / static, ofc" \
    "$(val b64get edge 1 5)" "$(val b64get static 1 5)" 0.97
target "blob HEAD, edge / static, ofc" \
    "$(val bhead edge 1 4)" "$(val bhead static 1 4)" 0.9
target "manifest GET by tag, edge (ofc) / docker-registry" \
    "$(val mtagget edge 1 4)" "$(val mtagget registry 1 4)" 30

if awk -F'\t' '$8 > 0 { f = 1 } END { exit !f }' "$SUM"; then
    echo
    echo "WARNING: some runs had socket or HTTP errors (errors column); their figures are suspect"
fi
if grep -E '\[(alert|crit|emerg)\]|exited on signal' "$d/edge/logs/error.log"; then
    echo "WARNING: the module's nginx logged alerts"
fi
