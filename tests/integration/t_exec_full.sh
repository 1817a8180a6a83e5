#!/usr/bin/env bash
# t_exec_full.sh: a full disk while an execution is recorded.
#
# state_dir (executions.jsonl) on a 4 MiB tmpfs (blob partials are written there too); the store elsewhere.
#  1. A run on a disk with room: Succeed, and executions.reserve is made.
#  2. The disk filled to the last byte, a run: its "Running" line cannot be
#     written and the log says why with the real errno ("No space left on
#     device", not "Success"); its result is written in the reserved space,
#     so `status` shows it Succeed, not Interrupted.
#  3. Full, no reserve left, a page's slack free so that a line is cut
#     short: the log names ENOSPC, the file holds only whole JSON lines
#     (no torn line), and no execution is shown as Interrupted.
# Before: `write(...executions.jsonl) failed: Success`, a torn line, and the
# successful run shown as Interrupted.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

for t in docker-registry skopeo jq; do
    command -v "$t" >/dev/null || he_skip "$t is not installed"
done
[ -x "$HE_REPLICATOR" ] || he_skip "no $HE_REPLICATOR (make replicator)"
[ "$(id -u)" = 0 ] || he_skip "mounting a tmpfs needs root"

d=$(he_tmpdir)
he_registry_start "$d/prim" || he_fail "primary docker-registry did not start"
he_push_test_images "$REGISTRY" "$d/img" || he_fail "pushing the test images"

S=$d/state
mkdir -p "$S"
mount -t tmpfs -o size=4m tmpfs "$S" || he_skip "cannot mount a tmpfs here"
he_defer "umount -l $(printf '%q' "$S")"

cat > "$d/hr.json" <<JSON
{"primary": {"url": "http://$REGISTRY"},
 "storage": {"root": "$d/store"}, "state_dir": "$S",
 "policies": [{"name": "p", "enabled": true, "override": true,
               "trigger": {"type": "manual"},
               "filters": [{"type": "name", "value": "test/**"}]}]}
JSON

HR() {
    "$HE_REPLICATOR" -c "$d/hr.json" "$@"
}

# whole_lines: every line of executions.jsonl is JSON, and the file ends
# with a newline
whole_lines() {
    local f=$S/executions.jsonl n
    [ -s "$f" ] || return 0
    [ "$(tail -c1 "$f" | od -An -c | tr -d ' ')" = '\n' ] \
        || { he_log "no newline at the end of $f"; return 1; }
    n=$(jq -c . "$f" 2>/dev/null | wc -l)
    [ "$n" = "$(wc -l < "$f")" ] \
        || { he_log "$f: $n values in $(wc -l < "$f") lines"; cut -c1-200 "$f" >&2; return 1; }
}

# pad SLACK: a line "[   ]" (JSON, but not an execution) so that the last
# page of executions.jsonl has SLACK bytes free: tmpfs gives a file whole
# pages, and a line longer than SLACK then needs one more
pad() {
    local f=$S/executions.jsonl size l
    size=$(stat -c %s "$f")
    l=$(( (8192 - $1 - size % 4096) % 4096 ))
    [ "$l" -ge 3 ] || l=$((l + 4096))
    { printf '['; head -c $((l - 3)) /dev/zero | tr '\0' ' '; printf ']\n'; } >> "$f"
}

fill() {
    dd if=/dev/zero of="$S/fill.$1" bs=4k 2>/dev/null
    dd if=/dev/zero of="$S/fill.$1.b" bs=1 2>/dev/null
    return 0
}

HR run > "$d/run1.log" 2>&1 || he_fail "run 1: $(tail -5 "$d/run1.log")"
[ "$(stat -c %b "$S/executions.reserve")" -gt 0 ] || he_fail "no reserve"
HR status | grep -q ' Succeed ' || he_fail "run 1 not recorded"
he_pass "run 1 on a disk with room: Succeed, reserve $(du -k "$S/executions.reserve" | cut -f1) KiB"

pad 0
fill 1
HR run > "$d/run2.log" 2>&1
rc=$?
he_eq "run 2 on a full disk succeeds" "$rc" 0
grep -q 'not recorded: write(.*executions.jsonl") failed: No space left on device' \
    "$d/run2.log" || he_fail "run 2: no ENOSPC for the Running line: $(cat "$d/run2.log")"
grep -q 'the reserved space' "$d/run2.log" \
    || he_fail "run 2: the reserve was not used: $(cat "$d/run2.log")"
! grep -q 'failed: Success' "$d/run2.log" || he_fail "errno 0 reported"
whole_lines || he_fail "run 2 left a torn line"
st=$(HR status --json | jq -r '.[-1].status')
he_eq "run 2 is shown Succeed (not Interrupted)" "$st" Succeed
he_pass "run 2: $(grep -m1 -o 'not recorded: .*' "$d/run2.log")"

# 3. free one page and fill it up to a few bytes: a line is cut short
rm -f "$S"/fill.1.b
truncate -s -4096 "$S/fill.1"
pad 40
fill 3
HR run > "$d/run3.log" 2>&1
grep -q 'write(.*executions.jsonl") failed: No space left on device' \
    "$d/run3.log" || he_fail "run 3: no ENOSPC: $(cat "$d/run3.log")"
! grep -q 'failed: Success' "$d/run3.log" || he_fail "errno 0 reported"
whole_lines || he_fail "run 3 left a torn line"
HR status > "$d/status3" 2>&1
! grep -q Interrupted "$d/status3" \
    || he_fail "an execution shown Interrupted: $(cat "$d/status3")"
he_pass "run 3, no reserve: ENOSPC logged, only whole lines, nothing Interrupted ($(wc -l < "$S/executions.jsonl") lines)"
