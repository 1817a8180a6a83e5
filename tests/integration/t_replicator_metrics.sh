#!/usr/bin/env bash
# t_replicator_metrics.sh: `harbor-replicator metrics` (replicator/metrics.c)
# writes the node_exporter textfile from real execution records: two
# manual runs of a policy against docker-registry (one copies, one finds
# everything in place), one run of a policy whose primary is down (fails),
# with Redis holding a queue.  The file must pass tests/tools/promcheck.py,
# carry the figures `status --json` shows (executions by status, bytes,
# last success), the queue's lengths, and be replaced atomically (no temp
# file left, never a partial read by the collector).
#
# Skips (77) when the replicator has no `metrics` command yet.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PROMCHECK=$REPO/tests/tools/promcheck.py

for t in skopeo jq python3 docker-registry redis-server redis-cli; do
    command -v "$t" >/dev/null || he_skip "$t is not installed"
done
[ -x "$HE_REPLICATOR" ] || he_skip "no $HE_REPLICATOR (make replicator)"
"$HE_REPLICATOR" --help 2>&1 | grep -q ' metrics ' \
    || he_skip "$HE_REPLICATOR has no metrics command (replicator/main.c)"

d=$(he_tmpdir repmetrics)
he_registry_start "$d/reg"
he_push_test_images "$REGISTRY" "$d/img" --big-kib 64 \
    || he_fail "pushing test images"
rport=$(he_redis_start "$d/redis") || he_fail "redis did not start"
HE_REDIS_DIR=$d/redis
dead=$(he_port)

cat > "$d/repl.json" <<JSON
{
  "primary": {"url": "http://$REGISTRY"},
  "storage": {"root": "$d/store"},
  "redis": "127.0.0.1:$rport",
  "redis_queue": "metrics:q",
  "policies": [
    {"name": "all \"quoted\"", "enabled": true, "override": true,
     "trigger": {"type": "manual"},
     "filters": [{"type": "name", "value": "test/**"}]},
    {"name": "down", "enabled": true, "trigger": {"type": "manual"},
     "src_registry": {"url": "http://127.0.0.1:$dead"},
     "filters": [{"type": "name", "value": "test/single"}]}
  ]
}
JSON
"$HE_REPLICATOR" -c "$d/repl.json" check > "$d/check.log" 2>&1 \
    || { cat "$d/check.log"; he_fail "check refused the config"; }

"$HE_REPLICATOR" -c "$d/repl.json" run --policy 'all "quoted"' \
    > "$d/run1.log" 2>&1 || { cat "$d/run1.log"; he_fail "first run"; }
"$HE_REPLICATOR" -c "$d/repl.json" run --policy 'all "quoted"' \
    > "$d/run2.log" 2>&1 || { cat "$d/run2.log"; he_fail "second run"; }
"$HE_REPLICATOR" -c "$d/repl.json" run --policy down > "$d/run3.log" 2>&1 \
    && he_fail "a run against a primary that is down succeeded"
he_pass "three executions: two of 'all \"quoted\"', one of 'down' (failed)"

# two misses waiting in the queue, as the module writes them, and a
# counter in the stats hash
Q=metrics:q
for ref in v1 v2; do
    redis-cli -p "$rport" rpush "$Q" '{"kind":"miss","object":"manifest","repository":"test/single","reference":"'$ref'","occurred_at":1717000000,"source":"edge"}' > /dev/null
done
redis-cli -p "$rport" hincrby "$Q:stats" events 5 > /dev/null
status_json=$("$HE_REPLICATOR" -c "$d/repl.json" status --json)
echo "$status_json" > "$d/status.json"

out=$d/textfile/harbor_replicator.prom
mkdir -p "$d/textfile"
"$HE_REPLICATOR" -c "$d/repl.json" metrics --output "$out" \
    > "$d/metrics.log" 2>&1 || { cat "$d/metrics.log"; he_fail "metrics"; }
python3 "$PROMCHECK" --print "$out" > "$d/series" 2> "$d/check" \
    || { cat "$d/check"; cat "$out"; he_fail "promcheck refused the file"; }
he_pass "the textfile passes promcheck ($(sed 's/.*OK, //' "$d/check"))"

# (ENVIRON, not awk -v, which would eat the backslashes of \")
# (a label value may hold spaces: the value is the last field)
val() {
    S=$1 awk '{ s = $0; sub(/ [^ ]*$/, "", s) }
              s == ENVIRON["S"] { print $NF; f = 1 }
              END { if (!f) print "absent" }' "$d/series"
}
P='policy="all \"quoted\""'

# what status --json says, figure by figure
ex=$(jq '.executions // .' "$d/status.json")
want_bytes=$(echo "$ex" | jq '[.[] | select(.policy == "all \"quoted\"") | .bytes] | add')
want_end=$(echo "$ex" | jq '[.[] | select(.policy == "all \"quoted\"" and .status == "Succeed") | .end_time] | max')
he_eq "succeeded executions" \
    "$(val "harbor_replicator_executions_total{$P,status=\"succeed\"}")" 2
he_eq "failed executions" \
    "$(val 'harbor_replicator_executions_total{policy="down",status="failed"}')" 1
he_eq "bytes copied, as status --json" \
    "$(val "harbor_replicator_copied_bytes_total{$P}")" "$want_bytes"
[ "$want_bytes" -gt 0 ] || he_fail "the first run copied no bytes"
he_eq "last success, as status --json" \
    "$(val "harbor_replicator_last_success_timestamp_seconds{$P}")" "$want_end"
he_eq "no success for 'down'" \
    "$(val 'harbor_replicator_last_success_timestamp_seconds{policy="down"}')" absent
copied=$(val "harbor_replicator_artifacts_copied_total{$P}")
[ "$copied" -gt 0 ] || he_fail "no artifacts counted as copied ($copied)"
he_pass "artifacts copied: $copied"
he_eq "queue depth read from Redis" \
    "$(val 'harbor_replicator_queue_depth{queue="waiting"}')" 2
he_eq "the stats hash of Redis" \
    "$(val 'harbor_replicator_events_total{result="events"}')" 5

# atomic replacement: a reader in a loop never sees a partial file
( umask 077
  for i in $(seq 30); do
      "$HE_REPLICATOR" -c "$d/repl.json" metrics --output "$out" \
          > /dev/null 2>&1
  done ) &
writer=$!
he_defer "he_kill_pid $writer"
bad=0
while kill -0 "$writer" 2>/dev/null; do
    python3 "$PROMCHECK" "$out" 2>/dev/null || bad=$((bad + 1))
done
wait "$writer" || true
he_eq "no partial file seen by a concurrent reader" "$bad" 0
he_eq "no temp file left beside it" "$(ls "$d/textfile")" harbor_replicator.prom
he_eq "mode 0644 whatever the umask" "$(stat -c %a "$out")" 644

[ "${HE_VERBOSE:-0}" = 1 ] && cat "$out"
he_log "done in $(he_elapsed)s"
