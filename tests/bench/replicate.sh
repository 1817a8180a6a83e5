#!/usr/bin/env bash
# tests/bench/replicate.sh: harbor-replicator against `skopeo sync`, in one
# run, on the same primary.
#
# The primary is Debian's docker-registry on 127.0.0.1 holding 20
# repositories (bench/app-01 .. bench/app-20, tag v1) that share layers the
# way real images do: three base layers in every image, one layer per group
# of five, one small layer and a config of their own; about 200 MiB of
# unique, incompressible blob bytes, but about 2.2 GiB if every image were
# fetched on its own.  The OCI layout and the primary's storage are built
# once and cached under build/bench/replicate/ (pushing with skopeo takes
# longer than the benchmark itself).
#
# Every client talks to the primary through a counting TCP proxy (python3,
# below) that sums the bytes the primary sends; docker-registry's access log
# gives the blob bytes alone (GET .../blobs/... response sizes), which must
# equal the unique blob bytes for a client that fetches each blob once.
# For each round, into an empty destination:
#   replicator   build/harbor-replicator -c CONF run, one policy, name "**"
#   skopeo>reg   skopeo sync --src yaml --dest docker into a fresh, empty
#                docker-registry: the same result as the replicator (a
#                registry holding each blob once), so the fair comparison;
#                skopeo also uploads what it fetched, the replicator writes
#                and fsyncs it
#   skopeo>dir   skopeo sync --dest dir (BENCH_SKOPEO_DIR=1, off by default):
#                no sharing between images, every image fetched whole
#   (replicator, fsync made a no-op)   the replicator again with fsync(2)
#                and fdatasync(2) replaced by no-ops (LD_PRELOAD of a tiny
#                .so built here with cc): shows what its durability costs;
#                BENCH_NOSYNC=0 leaves it out
# Wall time (date +%s.%N around the process), peak RSS (/usr/bin/time -v),
# bytes.  BENCH_ROUNDS rounds (default 3), interleaved; the median is
# reported.  Then one more replicator run under strace (BENCH_STRACE=0: not)
# counts its fsync calls and where the downloads end.  Prints a table and
# the ratios against the targets (issue: time <= 0.5 x skopeo's, blob bytes
# == unique blob bytes, peak RSS <= 32 MiB).  Exit 0 when every run
# completed and its copy is complete (the targets are reported, not
# enforced, unless BENCH_STRICT=1), 1 otherwise.
#
# BENCH_ROUNDS (3), BENCH_SKOPEO_DIR (0), BENCH_NOSYNC (1), BENCH_STRACE (1),
# BENCH_STRICT (0), BENCH_CONCURRENCY (the replicator's "concurrency",
# default: its own, 4), BENCH_CACHE (build/bench/replicate), KEEP=1 keeps
# the temp dir.  Needs docker-registry, skopeo, jq, python3, openssl, curl,
# /usr/bin/time (Debian package "time"); cc and strace for the extra rows.
# About 75 s with a warm cache on 2 cores (140 s with BENCH_SKOPEO_DIR=1);
# the first run also builds and pushes the images (about 40 s more).

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"

ROUNDS=${BENCH_ROUNDS:-3}
SKOPEO_DIR=${BENCH_SKOPEO_DIR:-0}
NOSYNC=${BENCH_NOSYNC:-1}
STRACE=${BENCH_STRACE:-1}
STRICT=${BENCH_STRICT:-0}
CONC=${BENCH_CONCURRENCY:-}
CACHE=${BENCH_CACHE:-$REPO/build/bench/replicate}
NREPO=20
GROUP=5                         # repositories per group layer
BASE_MIB="40 32 24"             # in every image
GROUP_MIB=16                    # one per group of GROUP repositories
OWN_KIB=2048                    # one per repository
GEN=1                           # bump when the image set changes

log() { echo "bench-replicate: $*" >&2; }

for t in docker-registry skopeo jq python3 openssl tar gzip; do
    command -v "$t" > /dev/null || he_fail "$t is not installed"
done
[ -x /usr/bin/time ] || he_fail "/usr/bin/time is missing (apt-get install time)"
[ -x "$HE_REPLICATOR" ] || he_fail "no $HE_REPLICATOR (make replicator)"

d=$(he_tmpdir bench-replicate)


# ------------------------------------------------------------ the image set

# gen_layer NAME SEED KIB: a gzip'd tar of KIB KiB of AES-CTR keystream
# (deterministic, incompressible) -> $W/NAME.tar.gz and $W/NAME.diffid
gen_layer() {
    local name=$1 seed=$2 kib=$3 key

    key=$(printf '%s' "bench-replicate-$seed" | sha256sum | cut -c1-32)
    mkdir -p "$W/$name/data"
    head -c $((kib * 1024)) /dev/zero \
        | openssl enc -aes-128-ctr -nosalt -K "$key" -iv 0 \
        > "$W/$name/data/$name.bin" 2>/dev/null
    tar --sort=name --mtime='2024-01-01 00:00:00' --owner=0 --group=0 \
        --numeric-owner --format=gnu -C "$W/$name" -cf "$W/$name.tar" .
    echo "sha256:$(sha256sum "$W/$name.tar" | cut -d' ' -f1)" > "$W/$name.diffid"
    gzip -n -1 -c "$W/$name.tar" > "$W/$name.tar.gz"
    rm -rf "${W:?}/$name" "$W/$name.tar"
}

# add_blob FILE MEDIATYPE: move FILE into the layout, print its descriptor
add_blob() {
    local hex size

    hex=$(sha256sum "$1" | cut -d' ' -f1)
    size=$(stat -c %s "$1")
    mv "$1" "$L/blobs/sha256/$hex"
    printf 'sha256:%s\t%s\t%s\n' "$hex" "$size" "$2" >> "$C/blobs.tsv"
    jq -cn --arg mt "$2" --arg d "sha256:$hex" --argjson s "$size" \
        '{mediaType: $mt, digest: $d, size: $s}'
}

build_layout() {
    local i g n name layers diffids cfg man lt=application/vnd.oci.image.layer.v1.tar+gzip
    local -A desc=()

    L=$C/oci
    W=$C/work
    rm -rf "$L" "$W"
    mkdir -p "$L/blobs/sha256" "$W"
    printf '{"imageLayoutVersion":"1.0.0"}' > "$L/oci-layout"
    : > "$C/blobs.tsv"
    : > "$C/refs.tsv"
    n=0
    for i in $BASE_MIB; do
        n=$((n + 1))
        gen_layer "base$n" "base$n" $((i * 1024))
        desc[base$n]=$(add_blob "$W/base$n.tar.gz" "$lt")
    done
    for g in $(seq 1 $(((NREPO + GROUP - 1) / GROUP))); do
        gen_layer "group$g" "group$g" $((GROUP_MIB * 1024))
        desc[group$g]=$(add_blob "$W/group$g.tar.gz" "$lt")
    done
    local entries=()
    for i in $(seq -w 1 $NREPO); do
        name=app-$i
        g=$(((10#$i - 1) / GROUP + 1))
        gen_layer "own$i" "own$i" "$OWN_KIB"
        desc[own$i]=$(add_blob "$W/own$i.tar.gz" "$lt")
        layers='[]'
        diffids='[]'
        for n in $(seq 1 $(wc -w <<<"$BASE_MIB") | sed 's/^/base/') "group$g" "own$i"; do
            layers=$(jq -c --argjson d "${desc[$n]}" '. + [$d]' <<<"$layers")
            diffids=$(jq -c --arg d "$(cat "$W/$n.diffid")" '. + [$d]' <<<"$diffids")
        done
        jq -cjn --arg n "$name" --argjson di "$diffids" \
            '{created: "2024-01-01T00:00:00Z", architecture: "amd64",
              os: "linux", config: {Cmd: ["/bin/sh"],
              Labels: {"org.example.bench": $n}},
              rootfs: {type: "layers", diff_ids: $di}}' > "$W/cfg"
        cfg=$(add_blob "$W/cfg" application/vnd.oci.image.config.v1+json)
        jq -cjn --argjson c "$cfg" --argjson l "$layers" \
            '{schemaVersion: 2,
              mediaType: "application/vnd.oci.image.manifest.v1+json",
              config: $c, layers: $l}' > "$W/man"
        man=$(add_blob "$W/man" application/vnd.oci.image.manifest.v1+json)
        entries+=("$(jq -c --arg r "$name" \
            '. + {annotations: {"org.opencontainers.image.ref.name": $r}}' \
            <<<"$man")")
        printf 'bench/%s:v1\t%s\n' "$name" "$(jq -r .digest <<<"$man")" >> "$C/refs.tsv"
    done
    printf '%s\n' "${entries[@]}" | jq -cs \
        '{schemaVersion: 2,
          mediaType: "application/vnd.oci.image.index.v1+json",
          manifests: .}' > "$L/index.json"
    rm -rf "$W"
}

# The cache: C/oci (layout), C/blobs.tsv, C/refs.tsv, C/primary-data (the
# primary's storage after the push), C/stamp last.
stamp="gen=$GEN repos=$NREPO group=$GROUP base=$BASE_MIB groupmib=$GROUP_MIB ownkib=$OWN_KIB"
C=$CACHE
mkdir -p "$C"
C=$(cd "$C" && pwd)
if [ "$(cat "$C/stamp" 2>/dev/null)" != "$stamp" ] || [ ! -d "$C/primary-data/docker" ]; then
    rm -rf "$C/stamp" "$C/primary-data"
    log "building $NREPO repositories in $C/oci"
    build_layout
    log "pushing them to a docker-registry (once; cached in $C/primary-data)"
    he_registry_start "$d/push" || he_fail "docker-registry (push) did not start"
    while IFS=$'\t' read -r ref _; do
        r=${ref%:*}
        skopeo copy -q --preserve-digests --dest-tls-verify=false \
            "oci:$C/oci:${r#bench/}" "docker://$REGISTRY/$ref" > /dev/null \
            || he_fail "skopeo copy $ref"
    done < "$C/refs.tsv"
    he_registry_stop "$d/push"
    mv "$d/push/data" "$C/primary-data"
    echo "$stamp" > "$C/stamp"
else
    log "reusing the cached image set in $C"
fi

UNIQUE=$(awk -F'\t' '$3 !~ /manifest/ { s += $2 } END { printf "%.0f", s }' "$C/blobs.tsv")
NBLOBS=$(awk -F'\t' '$3 !~ /manifest/' "$C/blobs.tsv" | wc -l)
MANB=$(awk -F'\t' '$3 ~ /manifest/ { s += $2 } END { printf "%.0f", s }' "$C/blobs.tsv")
# what a client fetching every image on its own would download
NAIVE=$(jq -r '.manifests[].digest' "$C/oci/index.json" | while read -r m; do
    jq -r '.config.size, .layers[].size' "$C/oci/blobs/sha256/${m#sha256:}"
done | awk '{ s += $1 } END { printf "%.0f", s }')

# The primary: docker-registry on the cached storage (reads only).
mkdir -p "$d/prim"
ln -s "$C/primary-data" "$d/prim/data"
he_registry_start "$d/prim" || he_fail "primary docker-registry did not start"
PRIM=$REGISTRY
PRIMLOG=$d/prim/registry.log
n=$(curl -fsS "http://$PRIM/v2/_catalog?n=1000" | jq '.repositories | length')
[ "$n" = "$NREPO" ] || he_fail "the primary lists $n repositories, want $NREPO (rm -rf $C)"
log "primary on $PRIM: $NREPO repositories, $NBLOBS unique blobs," \
    "$UNIQUE bytes ($(awk -v b="$UNIQUE" 'BEGIN{printf "%.1f", b/1048576}') MiB);" \
    "$(awk -v b="$NAIVE" 'BEGIN{printf "%.1f", b/1048576}') MiB fetched image by image"


# ------------------------------------------------------- the counting proxy

cat > "$d/countproxy.py" <<'PY'
# countproxy.py LISTEN_PORTFILE UPSTREAM_PORT OUTFILE: a TCP proxy on
# 127.0.0.1 that counts the bytes in each direction.  On SIGTERM it writes
# {"down": upstream->client bytes, "up": client->upstream, "conns": N}.
import json, os, signal, socket, sys, threading

portfile, upport, outfile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
tot = {"down": 0, "up": 0, "conns": 0}


def pipe(src, dst, key):
    buf = bytearray(1 << 20)
    mv = memoryview(buf)
    try:
        while True:
            n = src.recv_into(buf)
            if n == 0:
                break
            with lock:              # counted before the client can see it
                tot[key] += n
            dst.sendall(mv[:n])
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def serve(c):
    try:
        u = socket.create_connection(("127.0.0.1", upport))
    except OSError:
        c.close()
        return
    for s in (c, u):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t = threading.Thread(target=pipe, args=(u, c, "down"), daemon=True)
    t.start()
    pipe(c, u, "up")
    t.join()
    c.close()
    u.close()


def stop(*_):
    with lock:
        data = json.dumps(tot)
    with open(outfile + ".tmp", "w") as f:
        f.write(data)
    os.rename(outfile + ".tmp", outfile)
    os._exit(0)


signal.signal(signal.SIGTERM, stop)
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(128)
with open(portfile + ".tmp", "w") as f:
    f.write(str(ls.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)
while True:
    c, _ = ls.accept()
    with lock:
        tot["conns"] += 1
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY

# proxy_start TAG: sets PROXY (127.0.0.1:PORT) and PROXY_PID
proxy_start() {
    local i

    rm -f "$d/proxy.port" "$d/proxy-$1.json"
    python3 "$d/countproxy.py" "$d/proxy.port" "${PRIM#*:}" "$d/proxy-$1.json" &
    PROXY_PID=$!
    he_defer "grep -qs countproxy /proc/$PROXY_PID/cmdline && kill $PROXY_PID"
    for i in $(seq 100); do
        [ -s "$d/proxy.port" ] && break
        sleep 0.05
    done
    [ -s "$d/proxy.port" ] || he_fail "the counting proxy did not start"
    PROXY=127.0.0.1:$(cat "$d/proxy.port")
}

# proxy_stop TAG: sets WIRE, the bytes the primary sent through the proxy
proxy_stop() {
    kill -TERM "$PROXY_PID"
    wait "$PROXY_PID" 2>/dev/null || true
    [ -s "$d/proxy-$1.json" ] || he_fail "the counting proxy wrote no totals"
    WIRE=$(jq -r .down "$d/proxy-$1.json")
}

# blob_bytes FROM_LINE: sets BB and BN, the sum and count of GET
# .../blobs/... response sizes in the primary's access log after FROM_LINE
blob_bytes() {
    sleep 0.2       # docker-registry writes the access line after the body
    read -r BB BN < <(tail -n +"$(($1 + 1))" "$PRIMLOG" | awk '
        $6 == "\"GET" && $7 ~ /\/blobs\/sha256:/ && $9 ~ /^20[06]$/ {
            s += $10; n++
        }
        END { printf "%.0f %d\n", s, n }')
}

# measure TAG CMD...: runs CMD under /usr/bin/time -v; sets WALL (s), RSS
# (KiB, peak) and CPU (user + system s of the client process alone)
measure() {
    local tag=$1 t0 t1 rc=0
    shift

    t0=$(date +%s.%N)
    /usr/bin/time -v -o "$d/time-$tag" "$@" > "$d/out-$tag" 2>&1 || rc=$?
    t1=$(date +%s.%N)
    if [ $rc != 0 ]; then
        tail -n 20 "$d/out-$tag" "$d/time-$tag" >&2 || true
        he_fail "$tag: exited $rc"
    fi
    RSS=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$d/time-$tag")
    CPU=$(awk -F': ' '/(User|System) time \(seconds\)/ { s += $2 }
                      END { printf "%.2f", s }' "$d/time-$tag")
    WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
}


# fsync_probe: the median and 90th percentile latency (ms) of fsync(2) of
# a small new file and of its directory in $d, 100 times each: what every
# one of the replicator's link writes waits for; it swings with the load on
# a shared disk
fsync_probe() {
    python3 - "$d/fsync-probe" <<'PY'
import os, sys, time
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
lat = []
dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
for i in range(100):
    fd = os.open("%s/f%d" % (d, i), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"sha256:" + b"0" * 64)
    t = time.monotonic(); os.fsync(fd); lat.append(time.monotonic() - t)
    os.close(fd)
    t = time.monotonic(); os.fsync(dfd); lat.append(time.monotonic() - t)
lat.sort()
print("%.2f/%.2f" % (lat[len(lat) // 2] * 1000, lat[len(lat) * 9 // 10] * 1000))
PY
    rm -rf "$d/fsync-probe"
}


# ----------------------------------------------------------------- rounds

# $d/results: tool round wall rss_kib wire_bytes blob_bytes blob_gets own cpu
: > "$d/results"
conc_line=''
[ -n "$CONC" ] && conc_line="\"concurrency\": $CONC,"

# run_replicator ROUND NAME [WRAPPER...]
run_replicator() {
    local r=$1 tag=$2-$1 store=$d/store-$1 from n
    shift 2

    cat > "$d/$tag.json" <<JSON
{
  "primary": {"url": "http://$PROXY", "type": "docker-registry"},
  "storage": {"root": "$store"},
  $conc_line
  "log_level": "info",
  "policies": [
    {"id": 1, "name": "all", "enabled": true, "override": true,
     "trigger": {"type": "manual"}, "speed": 0,
     "filters": [{"type": "name", "value": "**"}]}
  ]
}
JSON
    from=$(wc -l < "$PRIMLOG")
    measure "$tag" "$@" "$HE_REPLICATOR" -c "$d/$tag.json" run
    blob_bytes "$from"
    # the copy is complete: every tag, every blob (and manifest) once
    n=$({ find "$store/docker/registry/v2/repositories" \
        -path '*/_manifests/tags/v1/current/link' 2>/dev/null || true; } | wc -l)
    [ "$n" = "$NREPO" ] || he_fail "$tag: $n tags in the store, want $NREPO"
    n=$({ find "$store/docker/registry/v2/blobs" -name data 2>/dev/null \
        || true; } | wc -l)
    [ "$n" = $((NBLOBS + NREPO)) ] \
        || he_fail "$tag: $n blobs in the store, want $((NBLOBS + NREPO))"
    OWN=$("$HE_REPLICATOR" -c "$d/$tag.json" status --json | jq '.[-1].bytes')
    cp "$d/out-$tag" "$d/replicator-$r.log"
    rm -rf "$store"
}

run_skopeo() {
    local r=$1 mode=$2 tag=sk$2-$1 dest from n i

    {
        echo "$PROXY:"
        echo "  tls-verify: false"
        echo "  images:"
        for i in $(seq -w 1 $NREPO); do echo "    bench/app-$i: [v1]"; done
    } > "$d/$tag.yaml"
    if [ "$mode" = reg ]; then
        he_registry_start "$d/dst-$r" \
            || he_fail "destination docker-registry did not start"
        dest=$REGISTRY
        from=$(wc -l < "$PRIMLOG")
        measure "$tag" skopeo sync --src yaml --dest docker \
            --dest-tls-verify=false --preserve-digests "$d/$tag.yaml" "$dest"
        n=$(curl -fsS "http://$dest/v2/_catalog?n=1000" \
            | jq '.repositories | length') || n=0
        he_registry_stop "$d/dst-$r"
        rm -rf "$d/dst-$r"
    else
        mkdir -p "$d/dir-$r"
        from=$(wc -l < "$PRIMLOG")
        measure "$tag" skopeo sync --src yaml --dest dir \
            --preserve-digests "$d/$tag.yaml" "$d/dir-$r"
        n=$({ find "$d/dir-$r" -name manifest.json || true; } | wc -l)
        rm -rf "$d/dir-$r"
    fi
    blob_bytes "$from"
    [ "$n" = "$NREPO" ] || he_fail "$tag: $n images at the destination, want $NREPO"
    OWN=-
}

# the replicator with fsync(2)/fdatasync(2) turned into no-ops (LD_PRELOAD):
# not a mode anyone should run, but it shows what the durability costs
if [ "$NOSYNC" = 1 ] && command -v cc > /dev/null; then
    printf '%s\n' '#include <unistd.h>' \
        'int fsync(int fd) { (void) fd; return 0; }' \
        'int fdatasync(int fd) { (void) fd; return 0; }' > "$d/nosync.c"
    cc -shared -fPIC -O2 -o "$d/nosync.so" "$d/nosync.c" \
        || he_fail "cannot build the no-fsync preload"
else
    NOSYNC=0
fi

PROBE0=$(fsync_probe)
log "fsync latency now (median/p90 of 200 small fsyncs): $PROBE0 ms"

tools="rep skreg"
[ "$NOSYNC" = 1 ] && tools="$tools repnosync"
[ "$SKOPEO_DIR" = 1 ] && tools="$tools skdir"
for r in $(seq 1 "$ROUNDS"); do
    for t in $tools; do
        proxy_start "$t-$r"
        case $t in
            rep)   run_replicator "$r" rep ;;
            repnosync)
                run_replicator "$r" repnosync env LD_PRELOAD="$d/nosync.so" ;;
            skreg) run_skopeo "$r" reg ;;
            skdir) run_skopeo "$r" dir ;;
        esac
        proxy_stop "$t-$r"
        echo "$t $r $WALL $RSS $WIRE $BB $BN $OWN $CPU" >> "$d/results"
        log "round $r $t: $WALL s, CPU $CPU s, peak RSS $((RSS / 1024)) MiB," \
            "$WIRE bytes on the wire, $BB blob bytes in $BN GETs" \
            "(own count: $OWN)"
    done
done


PROBE1=$(fsync_probe)

# One more replicator run under strace, to count what its time goes to:
# fsync(2)/fdatasync(2) calls, the seconds spent in them, and where the
# downloads end (the last blob renamed out of partial/) against the end of
# the run.  strace slows it down; these figures are not in the table.
if [ "$STRACE" = 1 ] && command -v strace > /dev/null; then
    proxy_start strace
    run_replicator 0 strace strace -f --seccomp-bpf -tt -T -y \
        -e trace=fsync,fdatasync,syncfs,rename -o "$d/strace.log"
    proxy_stop strace
    STRACE_SUM=$(awk '
        function secs(ts,  a) {
            split(ts, a, ":")
            return a[1] * 3600 + a[2] * 60 + a[3]
        }
        { t = secs($2) }
        NR == 1 { t0 = t }
        { tend = t }
        /(fsync|fdatasync|syncfs)\(/ { x = $NF; gsub(/[<>]/, "", x); n++; s += x; na++; sa += x }
        /rename\(.*_harbor_edge\/partial\/sha256-[0-9a-f]+",/ {
            last = t; na = 0; sa = 0
        }
        END {
            printf "%d %.2f %.2f %.2f %d %.2f\n",
                   n, s, last - t0, tend - t0, na, sa
        }' "$d/strace.log")
fi


# ----------------------------------------------------------------- report

# med TOOL COLUMN: the median over the rounds
med() {
    awk -v t="$1" -v c="$2" '$1 == t { print $c }' "$d/results" | sort -g \
        | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

echo
echo "harbor-replicator vs skopeo sync: $NREPO repositories, $NBLOBS unique blobs" \
     "($(mib "$UNIQUE") MiB), primary docker-registry on 127.0.0.1," \
     "median of $ROUNDS round(s), $(nproc) cores"
printf '%-34s %8s %7s %12s %12s %12s %8s\n' tool "wall s" "CPU s" \
    "blob bytes" "wire bytes" "unique" "RSS MiB"
for t in $tools; do
    case $t in
        rep)   name="harbor-replicator run" ;;
        repnosync) name="(replicator, fsync made a no-op)" ;;
        skreg) name="skopeo sync --dest docker" ;;
        skdir) name="skopeo sync --dest dir" ;;
    esac
    printf '%-34s %8s %7s %12s %12s %12s %8s\n' "$name" "$(med "$t" 3)" \
        "$(med "$t" 9)" "$(med "$t" 6)" "$(med "$t" 5)" "$UNIQUE" \
        "$(mib $(($(med "$t" 4) * 1024)))"
done
echo "(CPU: user + system of the client process only, not of skopeo's" \
     "destination registry;"
echo " blob bytes: GET /blobs/ response bytes in the primary's access log;" \
     "wire bytes: all bytes the primary sent through the counting proxy," \
     "headers and manifests included; manifests total $MANB bytes per full copy)"

rw=$(med rep 3)
sw=$(med skreg 3)
rb=$(med rep 6)
rr=$(med rep 4)
tr=$(awk -v a="$rw" -v b="$sw" 'BEGIN { printf "%.2f", a / b }')
# the same ratio round by round (each pair ran back to back, so under the
# same load), and their median
rr_each=$(awk '$1 == "rep" { a[$2] = $3 } $1 == "skreg" { b[$2] = $3 }
               END { for (r in a) printf "%.2f\n", a[r] / b[r] }' "$d/results" | sort -g)
rr_med=$(awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }' <<<"$rr_each")
pass() { if [ "$1" = 1 ]; then echo met; else echo MISSED; fi; }
t1=$(awk -v x="$tr" 'BEGIN { print (x <= 0.5) }')
t2=$([ "$rb" = "$UNIQUE" ] && echo 1 || echo 0)
t3=$(awk -v r="$rr" 'BEGIN { print (r <= 32 * 1024) }')
echo
echo "targets:"
printf '  %-46s %-22s %s\n' "time, replicator / skopeo sync --dest docker" \
    "$tr (<= 0.5)" "$(pass "$t1")"
printf '  %-46s %s\n' "  the same, round by round (sorted)" "$(echo $rr_each) (median $rr_med)"
printf '  %-46s %-22s %s\n' "blob bytes, replicator / unique" \
    "$(awk -v a="$rb" -v b="$UNIQUE" 'BEGIN { printf "%.3f", a / b }') (= 1)" "$(pass "$t2")"
printf '  %-46s %-22s %s\n' "peak RSS, replicator" "$(mib $((rr * 1024))) MiB (<= 32)" \
    "$(pass "$t3")"
if [ "$SKOPEO_DIR" = 1 ]; then
    printf '  %-46s %s\n' "(info) time, replicator / skopeo --dest dir" \
        "$(awk -v a="$rw" -v b="$(med skdir 3)" 'BEGIN { printf "%.2f", a / b }')"
fi
echo "replicator's own byte count (status --json .bytes), median: $(med rep 8)"
if [ -n "${STRACE_SUM:-}" ]; then
    read -r sn ss slast send sna ssa <<<"$STRACE_SUM"
    echo "replicator under strace (slower than the rounds above): $sn fsync/fdatasync" \
         "calls, $ss s in them; the last blob was committed at $slast s of $send s;" \
         "after it, $sna more syncs ($ssa s) for links, manifests and tags"
fi
echo "fsync latency of this disk (median/p90 of 200 small fsyncs): $PROBE0 ms" \
     "before the rounds, $PROBE1 ms after"
echo "whole run: $(he_elapsed) s"
if [ "$STRICT" = 1 ] && [ "$t1$t2$t3" != 111 ]; then
    exit 1
fi
exit 0
