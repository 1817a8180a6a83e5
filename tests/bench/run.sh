#!/usr/bin/env bash
# tests/bench/run.sh: Harbor Edge's side-by-side benchmark (make bench).
#
# One run, one machine, loopback, wrk -t1: the same 64 MiB blob and the same
# OCI manifest served by
#   plain      nginx without the module, the files served statically
#              (sendfile), the manifest as a file of the same size;
#   registry   docker-registry (distribution 2.8) on the same store;
#   off/once/always   nginx + ngx_http_harbor_module on the same store with
#              harbor_verify off, once (after a first read) and always.
# nginx runs one worker; for each run we read the serving process's
# utime+stime from /proc before and after, giving CPU seconds per GiB served.
# Prints a table, the ratios against the targets in README.md, and
# exits 0 (the targets are reported, not enforced: a loaded CI box is no
# place to fail a build on throughput).
#
# BENCH_SECS (default 5) per run, BENCH_CONNS (default 8), BENCH_MIB (64),
# BENCH_ROUNDS (3; the best of the rounds is reported), BENCH_OPEN_FILE_CACHE
# (the open_file_cache of both nginx, default "max=1000 inactive=20s"),
# KEEP=1 keeps the temp dir.  See tests/bench/README.md.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"

SECS=${BENCH_SECS:-5}
CONNS=${BENCH_CONNS:-8}
MIB=${BENCH_MIB:-64}
ROUNDS=${BENCH_ROUNDS:-3}
OFC=${BENCH_OPEN_FILE_CACHE:-max=1000 inactive=20s}
HZ=$(getconf CLK_TCK)

[ -f "$HE_MODULE" ] || he_fail "no $HE_MODULE: run make module"
command -v wrk > /dev/null || he_fail "wrk is not installed (apt-get install wrk)"

d=$(he_tmpdir bench)
log() { echo "bench: $*" >&2; }

# ---------------------------------------------------------------- the store

# A one-layer OCI image whose layer is exactly MIB MiB of random bytes,
# written with skopeo into docker-registry so that the store is
# distribution's own.
log "building a $MIB MiB image"
lay=$d/layout
mkdir -p "$lay/blobs/sha256"
printf '{"imageLayoutVersion":"1.0.0"}' > "$lay/oci-layout"
add_blob() { # add_blob FILE -> hex
    local hex
    hex=$(sha256sum "$1" | cut -d' ' -f1)
    mv "$1" "$lay/blobs/sha256/$hex"
    echo "$hex"
}
head -c $((MIB * 1024 * 1024)) /dev/zero \
    | openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f \
        -iv 00000000000000000000000000000000 > "$d/blob"
bsize=$(stat -c %s "$d/blob")
bhex=$(add_blob "$d/blob")
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$bhex" > "$d/config"
csize=$(stat -c %s "$d/config")
chex=$(add_blob "$d/config")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d}]}' \
    "$chex" "$csize" "$bhex" "$bsize" > "$d/manifest"
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
[ -f "$V2/blobs/sha256/${bhex:0:2}/$bhex/data" ] || he_fail "the blob is not in the store"
BLOB_PATH=/v2/bench/big/blobs/sha256:$bhex
MAN_PATH=/v2/bench/big/manifests/v1
MAN_ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json'

# plain nginx's files: the blob is a hard link to the store's data file
# (same inode, same page cache), the manifest a copy of the same bytes
mkdir -p "$d/static"
ln "$V2/blobs/sha256/${bhex:0:2}/$bhex/data" "$d/static/blob"
cp "$d/manifest.json" "$d/static/manifest.json"
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

nginx_conf() { # nginx_conf DIR MODULE(0|1) SERVERS...
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
    open_file_cache $OFC;
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

pport=$(he_port)
nginx_conf "$d/plain" 0 \
    "server { listen 127.0.0.1:$pport; root $d/static; default_type application/octet-stream; }"
start_nginx "$d/plain"

oport=$(he_port)
nport=$(he_port)
aport=$(he_port)
cport=$(he_port)
srv() { # srv PORT MODE [more]
    echo "server { listen 127.0.0.1:$1; harbor_root $ROOT; harbor_verify $2; ${3:-} location /v2/ { harbor_registry on; } }"
}
nginx_conf "$d/edge" 1 "$(srv "$oport" off)" "$(srv "$nport" once)" \
    "$(srv "$aport" always)" "$(srv "$cport" off 'open_file_cache off;')"
start_nginx "$d/edge"
for p in "$pport" "$oport" "$nport" "$aport" "$cport"; do
    he_wait_http "http://127.0.0.1:$p/" || he_fail "nginx on $p does not answer"
done
PW=$(he_nginx_workers "$d/plain")
EW=$(he_nginx_workers "$d/edge")
[ "$(echo "$PW" | wc -w)" = 1 ] && [ "$(echo "$EW" | wc -w)" = 1 ] \
    || he_fail "expected one worker each, got '$PW' and '$EW'"

# every server must answer the right bytes before we time it
check() { # check URL WANT_HEX [curl args]
    local got
    got=$(curl -sf "${@:3}" "$1" | sha256sum | cut -d' ' -f1)
    [ "$got" = "$2" ] || he_fail "$1 gave bytes hashing to $got, want $2"
}
check "http://127.0.0.1:$pport/blob" "$bhex"
check "http://127.0.0.1:$pport/manifest.json" "$mhex"
for p in "$rport" "$oport" "$nport" "$aport" "$cport"; do
    check "http://127.0.0.1:$p$BLOB_PATH" "$bhex"       # also: once's first read
    check "http://127.0.0.1:$p$MAN_PATH" "$mhex" -H "$MAN_ACCEPT"
done
log "store $ROOT; blob $bsize bytes, manifest $msize bytes; all servers answer"

# ---------------------------------------------------------------- runs

cpu_ticks() { # cpu_ticks PID: utime + stime (fields 14, 15 of stat)
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

RESULTS=$d/results.tsv
: > "$RESULTS"

# run NAME KIND URL PID [wrk args]: one wrk run, one line in results.tsv
run() {
    local name=$1 kind=$2 url=$3 pid=$4 c0 c1 line req bytes us serr sterr p50 p99
    shift 4
    c0=$(cpu_ticks "$pid")
    line=$(wrk -t1 -c"$CONNS" -d"${SECS}s" --timeout 30s -s "$here/report.lua" \
           "$@" "$url" | grep '^WRK ') || he_fail "wrk failed on $url"
    [ -d "/proc/$pid" ] || {
        tail -n 5 "$d/edge/logs/error.log" "$d/plain/logs/error.log" >&2
        he_fail "the serving process $pid died during the $kind $name run"
    }
    c1=$(cpu_ticks "$pid")
    eval "$(echo "${line#WRK }" | tr ' ' '\n' | sed 's/^/local w_/')"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$name" "$w_requests" \
        "$w_bytes" "$w_duration_us" "$((c1 - c0))" "$((w_sockerr + w_status_err))" \
        "$w_p50_us" "$w_p99_us" >> "$RESULTS"
    log "$kind $name: $w_requests requests, $w_bytes bytes in ${w_duration_us}us, errors $w_sockerr/$w_status_err"
}

RP=$RPID
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
# ROUNDS rounds, interleaved, best of each kept: loopback figures on a
# small box move by ~10% from run to run
for round in $(seq "$ROUNDS"); do
    log "round $round of $ROUNDS"
    run plain    blob "http://127.0.0.1:$pport/blob" "$PW"
    run registry blob "http://127.0.0.1:$rport$BLOB_PATH" "$RP"
    run off      blob "http://127.0.0.1:$oport$BLOB_PATH" "$EW"
    run once     blob "http://127.0.0.1:$nport$BLOB_PATH" "$EW"
    if [ "$round" = 1 ]; then
        run always blob "http://127.0.0.1:$aport$BLOB_PATH" "$EW"
    fi
    run plain    manifest "http://127.0.0.1:$pport/manifest.json" "$PW"
    run registry manifest "http://127.0.0.1:$rport$MAN_PATH" "$RP" -H "$MAN_ACCEPT"
    run off      manifest "http://127.0.0.1:$oport$MAN_PATH" "$EW" -H "$MAN_ACCEPT"
    run once     manifest "http://127.0.0.1:$nport$MAN_PATH" "$EW" -H "$MAN_ACCEPT"
    if [ "$round" = 1 ]; then
        run nocache manifest "http://127.0.0.1:$cport$MAN_PATH" "$EW" -H "$MAN_ACCEPT"
    fi
done

# the best run of each (request, server): bytes/s for blobs, req/s else;
# CPU per GiB from all rounds together (fields 10, 11: ticks, bytes), as
# /proc counts in 1/CLK_TCK s
ALL=$d/all.tsv
mv "$RESULTS" "$ALL"
awk -F'\t' -v OFS='\t' '
    {
        k = $1 SUBSEP $2
        rate = ($1 == "blob" ? $4 : $3) / $5
        if (!(k in best) || rate > best[k]) { best[k] = rate; line[k] = $0 }
        if (!(k in ticks)) { keys[++n] = k }
        ticks[k] += $6
        bytes[k] += $4
    }
    END {
        for (i = 1; i <= n; i++)
            print line[keys[i]], ticks[keys[i]], bytes[keys[i]]
    }' "$ALL" > "$RESULTS"

# ---------------------------------------------------------------- report

echo
echo "Harbor Edge benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r)"
echo "wrk -t1 -c$CONNS -d${SECS}s on 127.0.0.1, best of $ROUNDS rounds; load average before: $LOAD0"
echo "nginx $("$NGINX" -v 2>&1 | sed 's/.*\///'), 1 worker, sendfile on, open_file_cache $OFC;" \
     "docker-registry $(docker-registry --version 2>&1 | awk '{ print $3 }')"
echo "blob: $bsize bytes (sha256:${bhex:0:12}...), manifest: $msize bytes, by tag"
echo
awk -F'\t' -v hz="$HZ" '
    BEGIN {
        printf "%-9s %-24s %10s %10s %12s %10s %10s %7s\n",
            "request", "server", "req/s", "MiB/s", "CPU s/GiB", "p50 ms", "p99 ms", "errors"
    }
    {
        secs = $5 / 1e6
        rps = $3 / secs
        mibs = $4 / secs / 1048576
        cpg = ($11 > 0) ? ($10 / hz) / ($11 / 1073741824) : 0
        label = $2
        if ($2 == "plain") label = "plain nginx (static)"
        if ($2 == "registry") label = "docker-registry"
        if ($2 == "off") label = "module, verify off"
        if ($2 == "once") label = "module, verify once"
        if ($2 == "always") label = "module, verify always *"
        if ($2 == "nocache") label = "module, off, no ofc **"
        printf "%-9s %-24s %10.1f %10.1f %12.3f %10.2f %10.2f %7d\n",
            $1, label, rps, mibs, cpg, $8 / 1000, $9 / 1000, $7
    }' "$RESULTS"
echo "* always hashes the whole $MIB MiB blob on every request (one round only): the price of paranoia, not a target"
echo "** the same without open_file_cache (one round): every request walks each path component with"
echo "   openat (disable_symlinks), 3 files per manifest request: the price of not caching descriptors"
echo "req/s, MiB/s, latency: the best round; CPU s/GiB: utime+stime of the serving process"
echo "(nginx worker / docker-registry) over all rounds, per GiB that wrk read (headers included)"
echo

# val KIND NAME FIELD: req/s, bytes/s or CPU s/GiB of one run
val() {
    awk -F'\t' -v k="$1" -v n="$2" -v f="$3" -v hz="$HZ" '
        $1 == k && $2 == n {
            secs = $5 / 1e6
            if (f == "rps") print $3 / secs
            if (f == "bps") print $4 / secs
            if (f == "cpg") print ($11 > 0) ? ($10 / hz) / ($11 / 1073741824) : 0
        }' "$RESULTS"
}

# target WHAT A B OP LIMIT: prints A/B and whether it meets OP LIMIT
target() {
    awk -v what="$1" -v a="$2" -v b="$3" -v op="$4" -v lim="$5" 'BEGIN {
        if (b == 0) { printf "%-58s %8s   target %s %s   n/a\n", what, "-", op, lim; exit }
        r = a / b
        if (op == "info") { printf "%-58s %7.2fx   (no target)\n", what, r; exit }
        ok = (op == ">=") ? (r >= lim) : (op == "<=") ? (r <= lim) : (r >= lim && r <= 1 / lim)
        if (op == "~") { op = "~"; lim = "1" }
        printf "%-58s %7.2fx   target %s %-5s %s\n", what, r, op, lim, ok ? "MET" : "MISSED"
    }'
}

echo "ratios"
target "blob MiB/s: module (verify off) / plain nginx" \
    "$(val blob off bps)" "$(val blob plain bps)" ">=" 0.9
target "blob MiB/s: module (verify once) / plain nginx" \
    "$(val blob once bps)" "$(val blob plain bps)" ">=" 0.9
target "blob CPU s/GiB: module (verify off) / plain nginx" \
    "$(val blob off cpg)" "$(val blob plain cpg)" "<=" 1.1
target "blob CPU s/GiB: module (verify once) / plain nginx" \
    "$(val blob once cpg)" "$(val blob plain cpg)" "<=" 1.1
target "blob MiB/s: module (verify off) / docker-registry" \
    "$(val blob off bps)" "$(val blob registry bps)" info 0
target "blob CPU s/GiB: module (verify off) / docker-registry" \
    "$(val blob off cpg)" "$(val blob registry cpg)" info 0
target "manifest req/s: module / plain nginx (same-size file)" \
    "$(val manifest off rps)" "$(val manifest plain rps)" ">=" 0.5
target "manifest req/s: module / docker-registry" \
    "$(val manifest off rps)" "$(val manifest registry rps)" ">=" 10
target "blob MiB/s: verify once / verify off (within 10%)" \
    "$(val blob once bps)" "$(val blob off bps)" "~" 0.9
target "manifest req/s: verify once / verify off (within 10%)" \
    "$(val manifest once rps)" "$(val manifest off rps)" "~" 0.9

if awk -F'\t' '$7 > 0 { f = 1 } END { exit !f }' "$RESULTS"; then
    echo
    echo "WARNING: some runs had socket or HTTP errors (errors column); their figures are suspect"
fi
if grep -E '\[(alert|crit|emerg)\]|exited on signal' "$d/edge/logs/error.log"; then
    echo "WARNING: the module's nginx logged alerts"
fi
