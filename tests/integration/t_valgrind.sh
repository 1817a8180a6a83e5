#!/usr/bin/env bash
# t_valgrind.sh: the replicator's commands and its daemon under valgrind's
# memcheck: an uninitialised value used, an invalid read or write, or a
# definite leak fails the test (--error-exitcode=99).
#
#   check, run (a docker-registry primary with the test images), status,
#   and the daemon with Redis taking one push event and one miss, copying
#   them, then stopped by SIGTERM.
#
# This is the class of bug that printed an uninitialised buffer in the
# daemon's "events: taking events from ..." line at every start.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

for t in valgrind docker-registry skopeo redis-server redis-cli; do
    command -v "$t" >/dev/null || he_skip "$t is not installed"
done
[ -x "$HE_REPLICATOR" ] || he_skip "no $HE_REPLICATOR (make replicator)"

d=$(he_tmpdir)
he_registry_start "$d/prim" || he_fail "primary docker-registry did not start"
he_push_test_images "$REGISTRY" "$d/img" || he_fail "pushing the test images"
rport=$(he_redis_start "$d/redis") || he_fail "redis did not start"
Q=vg:events

cat > "$d/hr.json" <<JSON
{"primary": {"url": "http://$REGISTRY"},
 "storage": {"root": "$d/store"},
 "redis": "127.0.0.1:$rport", "redis_queue": "$Q",
 "log_file": "$d/daemon.log",
 "policies": [
   {"name": "batch", "enabled": true, "override": true,
    "trigger": {"type": "manual"},
    "filters": [{"type": "name", "value": "test/{single,chart}"}]},
   {"name": "events", "enabled": true, "override": true,
    "trigger": {"type": "event_based"},
    "filters": [{"type": "name", "value": "test/**"}]}]}
JSON

VG=(valgrind -q --error-exitcode=99 --leak-check=full
    --errors-for-leak-kinds=definite --show-leak-kinds=definite
    --track-origins=yes)

# vg NAME ARGS...: the replicator under valgrind; its report in $d/vg.NAME
vg() {
    local name=$1 rc
    shift
    "${VG[@]}" --log-file="$d/vg.$name" "$HE_REPLICATOR" -c "$d/hr.json" \
        "$@" > "$d/out.$name" 2>&1
    rc=$?
    if [ "$rc" = 99 ] || [ -s "$d/vg.$name" ]; then
        cat "$d/vg.$name"
        he_fail "$name: valgrind found errors (exit $rc)"
    fi
    return "$rc"
}

vg check check || he_fail "check failed: $(cat "$d/out.check")"
he_pass "check: no valgrind errors"

vg run run --policy batch || he_fail "run failed: $(tail -5 "$d/daemon.log")"
he_pass "run: no valgrind errors ($(grep -c ' -> ' "$d/daemon.log") tags copied)"

vg status status || he_fail "status failed: $(cat "$d/out.status")"
grep -q Succeed "$d/out.status" || he_fail "status: $(cat "$d/out.status")"
he_pass "status: no valgrind errors"

# the daemon: an event and a miss, then TERM
"${VG[@]}" --log-file="$d/vg.daemon" "$HE_REPLICATOR" -c "$d/hr.json" \
    daemon > "$d/out.daemon" 2>&1 &
DPID=$!
he_defer "kill -9 $DPID"

for i in $(seq 600); do
    grep -q 'events: taking events' "$d/daemon.log" 2>/dev/null && break
    sleep 0.1
done
line=$(grep -m1 'events: taking events' "$d/daemon.log") \
    || he_fail "the daemon did not start: $(cat "$d/out.daemon" "$d/vg.daemon")"
case $line in
    *"taking events from $Q in redis 127.0.0.1:$rport") ;;
    *) he_fail "start line: '$line'" ;;
esac
he_pass "daemon start line: ${line#* info }"

dg=$(he_skopeo inspect --raw --tls-verify=false \
     "docker://$REGISTRY/test/docker-single:v1" | sha256sum | cut -d' ' -f1)
redis-cli -p "$rport" rpush "$Q" '{"kind":"push","repository":"test/docker-single","digest":"sha256:'"$dg"'","tag":"v1","occurred_at":1,"source":"test"}' > /dev/null
redis-cli -p "$rport" rpush "$Q" '{"kind":"miss","object":"manifest","repository":"test/multiarch","reference":"v1","occurred_at":1,"source":"edge"}' > /dev/null

V2=$d/store/docker/registry/v2/repositories
for i in $(seq 1200); do
    [ -f "$V2/test/docker-single/_manifests/tags/v1/current/link" ] \
        && [ -f "$V2/test/multiarch/_manifests/tags/v1/current/link" ] \
        && [ "$(redis-cli -p "$rport" llen "$Q:processing")" = 0 ] && break
    sleep 0.1
done
[ -f "$V2/test/docker-single/_manifests/tags/v1/current/link" ] \
    || he_fail "the push event was not done: $(tail -5 "$d/daemon.log")"
[ -f "$V2/test/multiarch/_manifests/tags/v1/current/link" ] \
    || he_fail "the miss was not done: $(tail -5 "$d/daemon.log")"
he_pass "the daemon did a push event and a miss under valgrind"

kill -TERM "$DPID"
wait "$DPID"
rc=$?
if [ "$rc" = 99 ] || [ -s "$d/vg.daemon" ]; then
    cat "$d/vg.daemon"
    he_fail "daemon: valgrind found errors (exit $rc)"
fi
he_eq "daemon: no valgrind errors, exit after TERM" "$rc" 0
