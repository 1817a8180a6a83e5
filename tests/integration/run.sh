#!/usr/bin/env bash
# run.sh: run Harbor Edge's integration tests, tests/integration/t_*.sh.
#
# Each test is a bash script that exits 0 (pass), 77 (skip: something it
# needs cannot run here; it prints why) or anything else (fail).  This runner
# prints each test's output indented, its status and timing, and a last line
# "N passed, N failed, N skipped".  It exits non-zero when any test failed.
#
#   tests/integration/run.sh                 every t_*.sh
#   tests/integration/run.sh t_interop       only the named ones
#
# HE_TEST_TIMEOUT (seconds, default 480) bounds each test, so a hung server
# cannot hang `make test`.

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

for t in "${tests[@]}"; do
    name=$(basename "$t" .sh)
    if [ ! -f "$t" ]; then
        echo "$name: no such test"
        failed=$((failed + 1))
        failures+=("$name")
        continue
    fi
    echo "=== $name"
    t0=$(date +%s.%N)
    # --kill-after: a test that ignores TERM still ends; its EXIT trap
    # stops the servers it started when it gets TERM
    timeout --kill-after=10 "$timeout_s" bash "$t" 2>&1 | sed 's/^/    /'
    rc=${PIPESTATUS[0]}
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    case $rc in
        0)   status=PASS; passed=$((passed + 1)) ;;
        77)  status=SKIP; skipped=$((skipped + 1)) ;;
        124) status="FAIL (timeout after ${timeout_s}s)"
             failed=$((failed + 1)); failures+=("$name") ;;
        *)   status="FAIL (exit $rc)"
             failed=$((failed + 1)); failures+=("$name") ;;
    esac
    printf '%-28s %-28s %6ss\n' "$name" "$status" "$secs"
done

total=$(awk -v a="$t_all0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "--- total ${total}s${failures[*]:+; failed: ${failures[*]}}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
