#!/usr/bin/env bash
# run-all.sh: what `make test` runs.  Every suite, one after the other, even
# when one fails: style, unit, unit-san, t/, integration.  Each prints its
# own report as it goes (and it is kept in build/test-logs/SUITE.log); the
# end is one summary of every suite's counts and time, and a last line
# "N passed, N failed" over all of them.  Exit status 0 only when nothing
# failed.
#
# A suite's counts are its runner's last "N passed, N failed[, N skipped]"
# line.  A suite that fails without such a line (it did not build, its
# runner died) counts as one failed, so nothing passes unseen.
#
#   tests/run-all.sh                 every suite
#   tests/run-all.sh unit t          only the named ones
#
# MAKE (default make) is the make that runs each suite's target.

set -u
cd "$(dirname "$0")/.." || exit 2

make=${MAKE:-make}
logs=${HE_TEST_LOGS:-build/test-logs}
all=(style unit unit-san t integration)
mkdir -p "$logs" || exit 2

target() {
    case $1 in
        style) echo style ;;
        unit) echo test-unit ;;
        unit-san) echo test-unit-san ;;
        t) echo test-t ;;
        integration) echo test-integration ;;
        *) return 1 ;;
    esac
}

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=("${all[@]}")
for s in "${suites[@]}"; do
    target "$s" > /dev/null || { echo "run-all: no suite $s" >&2; exit 2; }
done

rows=()
tp=0 tf=0 ts=0 bad=0
t_all=$(date +%s.%N)

for s in "${suites[@]}"; do
    log=$logs/$s.log
    echo "===== $s: $make $(target "$s")"
    t0=$(date +%s.%N)
    $make -s --no-print-directory "$(target "$s")" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" \
           'BEGIN { printf "%.0f", b - a }')

    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    p=$(sed -n 's/^\([0-9]*\) passed.*/\1/p' <<< "$line")
    f=$(sed -n 's/^[0-9]* passed, \([0-9]*\) failed.*/\1/p' <<< "$line")
    k=$(sed -n 's/.* \([0-9]*\) skipped.*/\1/p' <<< "$line")
    p=${p:-0} f=${f:-0} k=${k:-0}
    note=''
    if [ -z "$line" ]; then
        note="no summary line"
        [ "$rc" -ne 0 ] && f=1
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        note="exit $rc with nothing failed: counted as 1 failed"
        f=1
    fi
    if [ "$f" -eq 0 ]; then
        status=ok
    else
        status=FAIL
        bad=$((bad + 1))
    fi
    tp=$((tp + p)) tf=$((tf + f)) ts=$((ts + k))
    rows+=("$(printf '%-12s %7s %7s %8s %7ss  %-4s %s' \
              "$s" "$p" "$f" "$k" "$secs" "$status" "$note")")
done

total=$(awk -v a="$t_all" -v b="$(date +%s.%N)" \
        'BEGIN { printf "%d min %02d s", (b - a) / 60, (b - a) % 60 }')
echo
echo "===== make test: summary (logs in $logs/)"
printf '%-12s %7s %7s %8s %8s  %s\n' suite passed failed skipped time status
printf '%s\n' "${rows[@]}"
echo "total time $total, $ts skipped"
echo "$tp passed, $tf failed"
[ "$bad" -eq 0 ]
