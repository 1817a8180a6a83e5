#!/usr/bin/env bash
# t_progress.sh: a long, rate-limited run says what it does.
#
# The primary holds test/single with a ~6 MB layer; the policy's speed
# (4096 Kbit/s = 512 KiB/s) makes the copy last ~12 s.
#  1. The log has a "progress:" line (blobs done/total, MiB, MiB/s) at
#     least every 5 s (8 s allowed on a loaded machine).
#  2. `status --json` shows the Running execution's real progress: its
#     bytes grow between two looks, and are below the total; `status`
#     prints a "progress:" line.
#  3. After the run: Succeed with all the bytes, the progress file gone.
#  4. A second `run` on the same store while the first fetches the big
#     blob waits for it and counts it as "stored meanwhile by another
#     process", not as a blob it fetched, and not its bytes.
# Before: no progress line for 20 s, and `status` showed 0 bytes while
# 51 MB had been copied.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

for t in docker-registry skopeo jq; do
    command -v "$t" >/dev/null || he_skip "$t is not installed"
done
[ -x "$HE_REPLICATOR" ] || he_skip "no $HE_REPLICATOR (make replicator)"

d=$(he_tmpdir)
he_registry_start "$d/prim" || he_fail "primary docker-registry did not start"
he_push_test_images "$REGISTRY" "$d/img" --big-kib 6000 \
    || he_fail "pushing the test images"
big=$(sort -t$'\t' -k2 -n "$d/img/blobs.tsv" | tail -1)
bigsize=$(cut -f2 <<<"$big")

# conf FILE SPEED
conf() {
    cat > "$1" <<JSON
{"primary": {"url": "http://$REGISTRY"},
 "storage": {"root": "$d/store"},
 "policies": [{"name": "single", "enabled": true, "override": true,
               "speed": $2, "trigger": {"type": "manual"},
               "filters": [{"type": "name", "value": "test/single"}]}]}
JSON
}
conf "$d/slow.json" 4096
conf "$d/fast.json" 0

"$HE_REPLICATOR" -c "$d/slow.json" run > "$d/slow.log" 2>&1 &
A=$!
he_defer "kill -9 $A"
t0=$(date +%s)

# 2. the Running execution's bytes, twice
running_bytes() {
    "$HE_REPLICATOR" -c "$d/slow.json" status --json 2>/dev/null \
        | jq -r '[.[] | select(.status == "Running")][0].bytes // empty'
}
b1=
for i in $(seq 300); do
    b1=$(running_bytes)
    [ -n "$b1" ] && [ "$b1" -gt 0 ] && break
    kill -0 "$A" 2>/dev/null || break
    sleep 0.1
done
[ -n "$b1" ] && [ "$b1" -gt 0 ] \
    || he_fail "status never showed bytes of the Running execution: $("$HE_REPLICATOR" -c "$d/slow.json" status 2>&1)"

# 4. meanwhile, a second process on the same store
"$HE_REPLICATOR" -c "$d/fast.json" run > "$d/fast.log" 2>&1 &
B=$!
he_defer "kill -9 $B"

b2=$b1
for i in $(seq 100); do
    sleep 0.1
    b2=$(running_bytes)
    [ -n "$b2" ] && [ "$b2" -gt "$b1" ] && break
done
[ -n "$b2" ] && [ "$b2" -gt "$b1" ] \
    || he_fail "the Running execution's bytes did not grow ($b1, then $b2)"
[ "$b2" -lt "$bigsize" ] || he_fail "bytes $b2 not below the blob's $bigsize"
"$HE_REPLICATOR" -c "$d/slow.json" status > "$d/status.txt" 2>&1
grep -q '  progress: blobs [0-9]*/[0-9]*, [0-9]* of [0-9]* bytes' \
    "$d/status.txt" || he_fail "no progress line in status: $(cat "$d/status.txt")"
he_pass "status shows the Running execution's bytes: $b1, then $b2 ($(grep -m1 progress: "$d/status.txt" | sed 's/^ *//'))"

wait "$A"
rc=$?
t1=$(date +%s)
he_eq "the slow run succeeds" "$rc" 0
wait "$B"
he_eq "the second run succeeds" "$?" 0

# 1. progress lines, at most ~5 s apart
grep -q 'info progress: single: blobs [0-9]*/[0-9]*, [0-9.]*/[0-9.]* MiB, [0-9.]* MiB/s' \
    "$d/slow.log" || he_fail "no progress line: $(cat "$d/slow.log")"
n=$(grep -c 'info progress: ' "$d/slow.log")
[ $((t1 - t0)) -ge 6 ] || he_fail "the run took $((t1 - t0)) s: too fast to judge"
gaps=$( { echo "$t0"; grep 'info progress: ' "$d/slow.log" | cut -d' ' -f1 \
          | while read -r ts; do date -d "$ts" +%s; done; echo "$t1"; } \
        | awk 'NR > 1 { g = $1 - p; if (g > m) m = g } { p = $1 } END { print m }')
[ "$gaps" -le 8 ] || he_fail "$gaps s without a progress line"
he_pass "$n progress lines in a $((t1 - t0)) s run, at most $gaps s apart: $(grep -m1 'info progress: ' "$d/slow.log" | cut -d' ' -f3-)"

# 3. the result, and no progress file left
rec=$("$HE_REPLICATOR" -c "$d/slow.json" status --json | jq -c '.[0]')
he_eq "the slow run's result" "$(jq -r .status <<<"$rec")" Succeed
[ "$(jq -r .bytes <<<"$rec")" -ge "$bigsize" ] \
    || he_fail "the slow run's bytes: $rec"
ls "$d/store/_harbor_edge/"*.progress > /dev/null 2>&1 \
    && he_fail "a progress file is left: $(ls "$d/store/_harbor_edge/")"
he_pass "the result: Succeed, $(jq -r .bytes <<<"$rec") bytes; no progress file left"

# 4. the second process: the big blob was stored by the first
rec=$("$HE_REPLICATOR" -c "$d/slow.json" status --json | jq -c '.[1]')
[ "$(jq -r .blobs_elsewhere <<<"$rec")" -ge 1 ] \
    || he_fail "the second run does not count the blob stored by the first: $rec $(cat "$d/fast.log")"
[ "$(jq -r .bytes <<<"$rec")" -lt "$bigsize" ] \
    || he_fail "the second run counts bytes it did not fetch: $rec"
grep -q 'stored meanwhile by another process' "$d/fast.log" \
    || he_fail "summary: $(tail -2 "$d/fast.log")"
he_pass "the second run: $(grep -o 'Succeed: .*' "$d/fast.log")"
