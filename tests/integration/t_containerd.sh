#!/usr/bin/env bash
# t_containerd.sh: containerd pulls through the edge as a hosts.toml mirror.
#
# A private containerd daemon (Debian's 1.6; own root, state, socket and
# config in a temp dir, CRI plugin off) is told by hosts.toml that the
# registries "primary.invalid:5000" and "mirror.invalid:5000" live on a dead
# address, with the edge listed first with capabilities pull+resolve.  Every
# byte of the pulls must therefore come from the edge; the dead address is a
# listener that records any connection, and must record none.
#
# Pulled: the single-arch OCI image (unpacked), linux/arm64 of the OCI
# index (unpacked; the amd64 child must not be fetched), and the Helm-like
# artifact (ctr content fetch); "mirror.invalid:5000/docker-single:v1" is
# mapped by `harbor_ns mirror.invalid:5000 test;` to test/docker-single.
# reqlog-proxy between containerd and the edge records what containerd sent:
# a HEAD on the tag first, then GETs by digest, all with ?ns=.
#
# Last, a cold edge (empty store, harbor_fill on, the replicator's daemon):
# containerd pulls an image through it, every request answered from fills.
#
# Skips (77) when not root or containerd cannot start here; tries the
# native snapshotter when overlayfs cannot unpack.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -f "$HE_MODULE" ] || he_fail "no $HE_MODULE: run make module"
command -v containerd > /dev/null || he_skip "containerd is not installed"
command -v ctr > /dev/null || he_skip "ctr is not installed"
[ "$(id -u)" = 0 ] || he_skip "containerd needs root here"

d=$(he_tmpdir containerd)
he_registry_start "$d/reg"
he_push_test_images "$REGISTRY" "$d/img" --big-kib 4096 \
    || he_fail "could not push the test images"

he_nginx_start "$d/ngx" "$HE_REGISTRY_ROOT" \
    'harbor_ns mirror.invalid:5000 test;' > /dev/null \
    || he_fail "nginx with the module did not start"
EDGE=127.0.0.1:$HE_NGINX_PORT
he_reqlog_start "$d/req.jsonl" "$EDGE" > /dev/null
PROXY=127.0.0.1:$HE_REQLOG_PORT
he_pass "edge on $EDGE, reqlog-proxy on $PROXY"

# the "primary": a listener that records every connection (with the
# request line and User-Agent, if any arrive within 2 s) and answers nothing.
# Other test suites on this machine may connect to a port they believe is
# theirs, so only a request from containerd counts as a failure.
dead=$(he_port)
: > "$d/dead.log"
python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
while True:
    c, a = s.accept()
    c.settimeout(2)
    try:
        data = c.recv(4096)
    except OSError:
        data = b""
    lines = data.decode("latin-1").split("\r\n")
    ua = [l for l in lines if l.lower().startswith("user-agent:")]
    with open(sys.argv[2], "a") as f:
        f.write("%f %s %r %r\n" % (time.time(), a, lines[0][:200], ua[:1]))
    c.close()
' "$dead" "$d/dead.log" > /dev/null 2>&1 < /dev/null &
he_defer "he_kill_pid $!"
he_wait_tcp "$dead" || he_fail "dead-primary listener did not start"
sleep 0.3               # let it log the probe, then forget it
: > "$d/dead.log"

for host in primary.invalid:5000 mirror.invalid:5000; do
    mkdir -p "$d/hosts/$host"
    cat > "$d/hosts/$host/hosts.toml" <<EOF
server = "http://127.0.0.1:$dead"

[host."http://$PROXY"]
  capabilities = ["pull", "resolve"]
EOF
done

# ------------------------------------------------------------ containerd

c=$d/ctd
mkdir -p "$c"
cat > "$c/config.toml" <<EOF
version = 2
root = "$c/root"
state = "$c/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$c/containerd.sock"

[ttrpc]
  address = "$c/containerd.sock.ttrpc"

[debug]
  address = "$c/debug.sock"
  level = "info"

[metrics]
  address = ""
EOF
containerd --config "$c/config.toml" > "$c/containerd.log" 2>&1 < /dev/null &
cpid=$!
he_defer "he_kill_pid $cpid"
SOCK=$c/containerd.sock
for _ in $(seq 100); do
    ctr -a "$SOCK" version > /dev/null 2>&1 && break
    kill -0 "$cpid" 2> /dev/null \
        || he_skip "containerd exited: $(tail -3 "$c/containerd.log")"
    sleep 0.1
done
ctr -a "$SOCK" version > /dev/null 2>&1 \
    || he_skip "containerd did not answer on $SOCK: $(tail -3 "$c/containerd.log")"
he_pass "containerd $(ctr -a "$SOCK" version | awk '/Version/ { print $2; exit }') running with root $c/root"

CTR=(ctr -a "$SOCK" -n he-test)
HOSTS=(--hosts-dir "$d/hosts")

snap=''
for s in overlayfs native; do
    if ctr -a "$SOCK" plugins ls | awk -v s="$s" \
           '$1 == "io.containerd.snapshotter.v1" && $2 == s && $4 == "ok" { f = 1 }
            END { exit !f }'
    then
        snap=$s
        break
    fi
done
[ -n "$snap" ] || he_skip "neither overlayfs nor native snapshotter loaded here"

pull() { # pull LOGNAME ctr-pull-args...
    local log=$d/$1.log
    shift
    "${CTR[@]}" images pull "${HOSTS[@]}" --snapshotter "$snap" "$@" \
        > "$log" 2>&1
}

if ! pull single primary.invalid:5000/test/single:v1; then
    if [ "$snap" = overlayfs ] && grep -qiE 'mount|overlay' "$d/single.log"; then
        he_log "overlayfs could not unpack here ($(tail -1 "$d/single.log")); trying native"
        snap=native
        pull single primary.invalid:5000/test/single:v1 \
            || he_fail "ctr pull single (native): $(tail -3 "$d/single.log")"
    else
        he_fail "ctr images pull primary.invalid:5000/test/single:v1: $(tail -3 "$d/single.log")"
    fi
fi
he_pass "ctr images pull primary.invalid:5000/test/single:v1 (snapshotter $snap)"

pull multi --platform linux/arm64 primary.invalid:5000/test/multiarch:v1 \
    || he_fail "ctr pull --platform linux/arm64 multiarch: $(tail -3 "$d/multi.log")"
he_pass "ctr images pull --platform linux/arm64 primary.invalid:5000/test/multiarch:v1"

"${CTR[@]}" content fetch "${HOSTS[@]}" primary.invalid:5000/test/chart:0.1.0 \
    > "$d/chart.log" 2>&1 \
    || he_fail "ctr content fetch chart: $(tail -3 "$d/chart.log")"
he_pass "ctr content fetch primary.invalid:5000/test/chart:0.1.0"

pull mapped mirror.invalid:5000/docker-single:v1 \
    || he_fail "ctr pull mirror.invalid:5000/docker-single:v1 (harbor_ns): $(tail -3 "$d/mapped.log")"
he_pass "ctr images pull mirror.invalid:5000/docker-single:v1 served from test/docker-single by harbor_ns"

# ------------------------------------------------------------ what was pulled

fails=0
bad() {
    echo "FAIL - $*"
    fails=$((fails + 1))
}

# have DIGEST: the content is in containerd's store and hashes right
have() {
    local got
    got=$("${CTR[@]}" content get "$1" 2> /dev/null | sha256sum | cut -d' ' -f1)
    [ "sha256:$got" = "$1" ]
}

# `images check` looks at the default platform (amd64) only, so it is used
# for the single-platform images; arm64's unpack shows as the snapshot
# label containerd puts on its config blob
"${CTR[@]}" images check > "$d/check.txt" 2>&1 || true
for ref in primary.invalid:5000/test/single:v1 mirror.invalid:5000/docker-single:v1; do
    grep -F "$ref " "$d/check.txt" | grep -E -q 'complete.*true *$' \
        || bad "$ref not complete and unpacked: $(grep -F "$ref " "$d/check.txt")"
done

layout=$d/img/oci
idx=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "multiarch") | .digest' "$layout/index.json")
arm=$(jq -r '.manifests[] | select(.platform.architecture == "arm64") | .digest' "$layout/blobs/sha256/${idx#sha256:}")
amd=$(jq -r '.manifests[] | select(.platform.architecture == "amd64") | .digest' "$layout/blobs/sha256/${idx#sha256:}")
for dg in "$idx" "$arm"; do
    have "$dg" || bad "multiarch: $dg not in containerd's content store"
done
! have "$amd" || bad "multiarch: the amd64 child $amd was fetched for --platform linux/arm64"
for dg in $(jq -r '.config.digest, .layers[].digest' "$layout/blobs/sha256/${arm#sha256:}"); do
    have "$dg" || bad "multiarch arm64: blob $dg missing"
done
armcfg=$(jq -r '.config.digest' "$layout/blobs/sha256/${arm#sha256:}")
"${CTR[@]}" content ls | grep "^$armcfg" | grep -q "containerd.io/gc.ref.snapshot.$snap=" \
    || bad "multiarch arm64 was not unpacked (no $snap snapshot label on its config)"
for ref in single chart; do
    m=$(jq -r --arg r "$ref" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' "$layout/index.json")
    have "$m" || bad "$ref: manifest $m missing"
    for dg in $(jq -r '.config.digest, .layers[].digest' "$layout/blobs/sha256/${m#sha256:}"); do
        have "$dg" || bad "$ref: blob $dg missing"
    done
done
[ "$fails" = 0 ] && he_pass "containerd holds every manifest and blob (hashes checked), not the amd64 child"

# ------------------------------------------------------------ the requests

f0=$fails
if grep -qi 'containerd\|ns=' "$d/dead.log"; then
    bad "containerd contacted the dead primary: $(grep -i 'containerd\|ns=' "$d/dead.log" | head -3)"
elif [ -s "$d/dead.log" ]; then
    echo "note - connections to the dead port not from containerd (another suite?): $(head -2 "$d/dead.log")"
fi
n=$(wc -l < "$d/req.jsonl")
[ "$n" -ge 10 ] || bad "only $n requests recorded by reqlog-proxy"
jq -r '[.method, .path, (.status | tostring)] | join(" ")' "$d/req.jsonl" > "$d/req.txt"
sed 's/^/    # /' "$d/req.txt"
if grep -v '[?&]ns=' "$d/req.txt" | grep -q .; then
    bad "requests without ?ns=: $(grep -v '[?&]ns=' "$d/req.txt" | head -3)"
fi
if awk '$3 != 200 && $3 != 206' "$d/req.txt" | grep -q .; then
    bad "non-200 answers: $(awk '$3 != 200 && $3 != 206' "$d/req.txt" | head -3)"
fi
# for each pulled tag, its first request is a HEAD on the tag with
# containerd's resolve Accept, and it came before any GET of that repository
for rt in test/single:v1 test/multiarch:v1 test/chart:0.1.0 docker-single:v1; do
    repo=${rt%:*}
    tag=${rt##*:}
    first=$(grep -m1 " /v2/$repo/" "$d/req.txt" || true)
    case $first in
        "HEAD /v2/$repo/manifests/$tag?ns="*) ;;
        *) bad "$rt: first request was '$first', want HEAD of the tag" ;;
    esac
done
acc=$(jq -r 'select(.method == "HEAD") | [.headers[] | select(.[0] | ascii_downcase == "accept") | .[1]] | join(" | ")' "$d/req.jsonl" | sort -u)
[ "$acc" = "$HE_CONTAINERD_ACCEPT" ] || bad "HEAD Accept was '$acc'"
grep -q 'ns=mirror.invalid%3A5000' "$d/req.txt" \
    || bad "no request with ns=mirror.invalid%3A5000"
# the edge itself logged the same requests with ?ns=
ne=$(grep -c '?ns=' "$HE_NGINX_DIR/logs/access.log" || true)
[ "$ne" = "$n" ] || bad "edge access.log has $ne requests with ?ns=, proxy saw $n"
[ "$fails" = "$f0" ] && he_pass "$n requests, all ?ns=, all 200 from the edge, HEAD on each tag first, nothing reached the dead primary"

if grep -E '\[(alert|crit|emerg)\]|digest mismatch' "$HE_NGINX_DIR/logs/error.log"; then
    bad "nginx error.log has alerts or digest mismatches"
fi

# remove the images so containerd's root has no busy snapshots at cleanup
"${CTR[@]}" images rm primary.invalid:5000/test/single:v1 \
    primary.invalid:5000/test/multiarch:v1 primary.invalid:5000/test/chart:0.1.0 \
    mirror.invalid:5000/docker-single:v1 > /dev/null 2>&1 || true

[ "$fails" = 0 ] || he_fail "$fails check(s) failed"
he_pass "containerd pulled everything through the edge ($(he_elapsed)s)"

# ------------------------------------------------- a cold edge that fills
#
# An edge with an empty store, harbor_fill on and the replicator's daemon:
# containerd's pull of cold.invalid:5000/test/single:v1 is filled from the
# primary (docker-registry) while containerd waits, nothing is proxied.

rport=$(he_redis_start "$d/redis") || he_fail "redis"
cold=$d/cold-store
mkdir -p "$cold"
chmod 0755 "$cold"
cat > "$d/cold.json" <<EOF
{"storage": {"root": "$cold"}, "primary": {"url": "http://$REGISTRY"},
 "redis": "127.0.0.1:$rport", "log_level": "info", "policies": []}
EOF
"$HE_REPLICATOR" -c "$d/cold.json" daemon > "$d/cold-daemon.log" 2>&1 &
he_defer "he_kill_pid $!"
HE_NGINX_HTTP_EXTRA="harbor_redis 127.0.0.1:$rport;
    log_format cs '\$request_method \$uri \$status \$harbor_cache_status';"
HE_NGINX_SERVER_EXTRA="access_log $d/cold-ngx/logs/cs.log cs;"
mkdir -p "$d/cold-ngx"
he_nginx_start "$d/cold-ngx" "$cold" 'harbor_fill on; harbor_fill_wait 10s;' \
    > /dev/null || he_fail "the cold edge did not start"
mkdir -p "$d/hosts/cold.invalid:5000"
cat > "$d/hosts/cold.invalid:5000/hosts.toml" <<EOF
server = "http://127.0.0.1:$dead"

[host."http://127.0.0.1:$HE_NGINX_PORT"]
  capabilities = ["pull", "resolve"]
EOF
: > "$d/dead.log"
pull cold cold.invalid:5000/test/single:v1 \
    || { tail -20 "$d/cold-daemon.log"; he_fail "ctr pull through a cold edge: $(tail -3 "$d/cold.log")"; }
"${CTR[@]}" images check 2>&1 | grep -F 'cold.invalid:5000/test/single:v1 ' \
    | grep -E -q 'complete.*true *$' || he_fail "the cold pull is not complete and unpacked"
grep -qi 'containerd\|ns=' "$d/dead.log" && he_fail "the cold pull reached the dead primary"
# The tag's manifest was cold: it is answered from a fill.  What follows
# is a fill or, once the daemon has copied it (it copies the whole image
# the tag names), a hit: which one depends on the machine's load, so only
# "nothing else" is asserted.
nf=$(grep -c ' FILL$' "$d/cold-ngx/logs/cs.log" || true)
grep -m1 ' /v2/test/single/manifests/v1 ' "$d/cold-ngx/logs/cs.log" \
    | grep -q ' 200 FILL$' \
    || he_fail "the cold tag was not answered from a fill: $(cat "$d/cold-ngx/logs/cs.log")"
grep -v -E ' 200 (HIT|FILL)$' "$d/cold-ngx/logs/cs.log" | grep -q . \
    && he_fail "a request of the cold pull was neither a hit nor a fill: $(cat "$d/cold-ngx/logs/cs.log")"
[ -s "$cold/docker/registry/v2/repositories/test/single/_manifests/tags/v1/current/link" ] \
    || he_fail "the cold edge did not keep the image"
"${CTR[@]}" images rm cold.invalid:5000/test/single:v1 > /dev/null 2>&1 || true
he_pass "containerd pulled test/single:v1 through a cold edge: $nf requests answered from fills, the image kept"
