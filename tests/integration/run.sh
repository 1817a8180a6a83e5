#!/usr/bin/env bash
# run.sh: run Harbor Edge's integration tests, tests/integration/t_*.sh.
#
# Each test is a bash script that exits 0 (pass), 77 (skip: something it
# needs cannot run here; it prints why) or anything else (fail).  This runner
# prints each test's output indented (whole, once it ends), its status and
# timing, and a last line
# "N passed, N failed, N skipped".  It exits non-zero when any test failed.
#
#   tests/integration/run.sh                 every t_*.sh
#   tests/integration/run.sh t_interop       only the named ones
#
# HE_TEST_TIMEOUT (seconds, default 480) bounds each test, so a hung server
# cannot hang `make test`.  HE_TEST_JOBS (default 2) tests run at a time:
# each starts its own servers on ports the kernel picks, in its own temp
# dirs, and must hold on a loaded machine anyway.

set -u

here=$(cd "$(dirname "$0")" && pwd)
timeout_s=${HE_TEST_TIMEOUT:-480}
passed=0
failed=0
skipped=0
failures=()

if [ $# -gt 0 ]; then
    tests=()
    for t in "$@"; do
        t=${t%.sh}
        t=${t##*/}
        tests+=("$here/$t.sh")
    done
else
    tests=("$here"/t_*.sh)
fi

t_all0=$(date +%s.%N)
out=$(mktemp -d /tmp/he-run.XXXXXX)
trap 'rm -rf "$out"' EXIT

# The longest first, so that the last to start are short ones (most tests
# wait on servers and clocks more than they use a core).
slow="t_events t_deb t_replicate_auth t_region t_interop t_valgrind t_fill
      t_traversal t_replicate t_budget t_cascade_auth t_containerd"
ordered=()
for n in $slow; do
    for t in "${tests[@]}"; do
        [ "$(basename "$t" .sh)" = "$n" ] && ordered+=("$t")
    done
done
for t in "${tests[@]}"; do
    case " $(echo $slow) " in
        *" $(basename "$t" .sh) "*) ;;
        *) ordered+=("$t") ;;
    esac
done

# run_one T: the test's output and, last, "rc secs", in $out/NAME.*
run_one() {
    local t=$1 name t0 rc
    name=$(basename "$t" .sh)
    t0=$(date +%s.%N)
    # --kill-after: a test that ignores TERM still ends; its EXIT trap
    # stops the servers it started when it gets TERM
    timeout --kill-after=10 "$timeout_s" bash "$t" > "$out/$name.log" 2>&1
    rc=$?
    echo "$rc $(awk -v a="$t0" -v b="$(date +%s.%N)" \
                'BEGIN { printf "%.1f", b - a }')" > "$out/$name.rc"
}

report() {
    local name=$1 rc secs status
    read -r rc secs < "$out/$name.rc"
    echo "=== $name"
    sed 's/^/    /' "$out/$name.log"
    case $rc in
        0)   status=PASS; passed=$((passed + 1)) ;;
        77)  status=SKIP; skipped=$((skipped + 1)) ;;
        124) status="FAIL (timeout after ${timeout_s}s)"
             failed=$((failed + 1)); failures+=("$name") ;;
        *)   status="FAIL (exit $rc)"
             failed=$((failed + 1)); failures+=("$name") ;;
    esac
    printf '%-28s %-28s %6ss\n' "$name" "$status" "$secs"
}

# HE_TEST_JOBS tests at a time (default 2); each one's output is printed
# whole when it ends.
jobs_max=${HE_TEST_JOBS:-2}
running=()

reap() {    # report every finished test; keep the others in running
    local n still=()
    for n in "${running[@]}"; do
        if [ -f "$out/$n.rc" ]; then
            report "$n"
        else
            still+=("$n")
        fi
    done
    running=("${still[@]}")
}

for t in "${ordered[@]}"; do
    name=$(basename "$t" .sh)
    if [ ! -f "$t" ]; then
        echo "$name: no such test"
        failed=$((failed + 1))
        failures+=("$name")
        continue
    fi
    while [ ${#running[@]} -ge "$jobs_max" ]; do
        wait -n 2>/dev/null || true
        reap
    done
    run_one "$t" &
    running+=("$name")
done

while [ ${#running[@]} -gt 0 ]; do
    wait -n 2>/dev/null || true
    reap
done

total=$(awk -v a="$t_all0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "--- total ${total}s${failures[*]:+; failed: ${failures[*]}}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
