#!/bin/bash
#
# tests/unit/run.sh BIN...: runs each cmocka test binary, shows its output,
# and ends with one line "N passed, N failed" summed over all of them.
#
# The counts come from cmocka's own summary lines, "[  PASSED  ] N test(s)."
# and "[  FAILED  ] N test(s), listed below:".  A binary that dies before
# printing its summary (a crash, a sanitizer report, a missing file) counts
# as one failed test, so nothing can pass silently.  Exit status: 0 only
# when nothing failed.

set -u

if [ $# -eq 0 ]; then
    echo "usage: $0 TEST_BINARY..." >&2
    exit 2
fi

passed=0
failed=0

for bin in "$@"; do
    echo "=== $bin"

    if [ ! -x "$bin" ]; then
        echo "$bin: not an executable file"
        failed=$((failed + 1))
        continue
    fi

    # cmocka writes to stdout and stderr; keep both, in order
    out=$("$bin" 2>&1)
    rc=$?
    printf '%s\n' "$out"

    p=$(printf '%s\n' "$out" \
        | grep -oE '\[  PASSED  \] [0-9]+ test\(s\)\.' \
        | grep -oE '[0-9]+' | tail -n 1)
    f=$(printf '%s\n' "$out" \
        | grep -oE '\[  FAILED  \] [0-9]+ test\(s\), listed below' \
        | grep -oE '[0-9]+' | tail -n 1)

    if [ -z "$p" ] && [ -z "$f" ]; then
        echo "$bin: no cmocka summary (exit status $rc): counted as 1 failed"
        failed=$((failed + 1))
        continue
    fi

    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))

    # a non-zero exit without a failed test (e.g. LeakSanitizer at exit)
    if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
        echo "$bin: exit status $rc after its tests: counted as 1 failed"
        failed=$((failed + 1))
    fi
done

echo "$passed passed, $failed failed"

[ "$failed" -eq 0 ]
