#!/bin/bash
#
# tests/fuzz/run.sh [SECONDS] [TARGET...]: builds every libFuzzer target
# tests/fuzz/fuzz_*.c into build/fuzz/ and runs each for SECONDS (default
# 60), then prints one line per target: executions, corpus size, verdict.
# Exit status: non-zero when any target crashed, leaked, timed out or did
# not build.
#
# A target says how to build it in comment lines of its own source, so new
# targets need no change here:
#
#   fuzz-srcs:   replicator/match.c          (sources to link, repeatable)
#   fuzz-cflags: -Isome/dir                  (extra compiler flags)
#   fuzz-libs:   -ljansson                   (extra link flags)
#
# Seeds come from tests/fuzz/corpus/<target>/ and are never written to;
# what the fuzzer finds goes to build/fuzz/corpus/<target>/, crashes to
# build/fuzz/artifacts/<target>/ (give one to the binary to replay it).
# Env: CLANG (default clang-14, else clang), FUZZ_TIMEOUT (seconds for one
# input, default 10), FUZZ_JOBS (targets run at once, default 1).

set -u

cd "$(dirname "$0")/../.." || exit 2

secs=${1:-60}
shift || true

case "$secs" in
    ''|*[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac

if [ -z "${CLANG:-}" ]; then
    if command -v clang-14 >/dev/null 2>&1; then
        CLANG=clang-14
    else
        CLANG=clang
    fi
fi

timeout_one=${FUZZ_TIMEOUT:-10}
out=build/fuzz
mkdir -p "$out"

if [ $# -gt 0 ]; then
    targets=()
    for t in "$@"; do
        targets+=("tests/fuzz/${t%.c}.c")
    done
else
    targets=(tests/fuzz/fuzz_*.c)
fi

# fields of "name: value" comment lines, joined
directive() {
    sed -n "s/^.*$1:[[:space:]]*\\(.*[^[:space:]]\\)[[:space:]]*\$/\\1/p" "$2" \
        | sed 's/[[:space:]]*\*\/[[:space:]]*$//' | tr '\n' ' '
}

build() {
    local src=$1 name=$2 srcs cflags libs

    srcs=$(directive fuzz-srcs "$src")
    cflags=$(directive fuzz-cflags "$src")
    libs=$(directive fuzz-libs "$src")

    # shellcheck disable=SC2086
    "$CLANG" -std=gnu11 -g -O1 -fno-omit-frame-pointer \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -D_GNU_SOURCE -Ireplicator -Ilib $cflags \
        -o "$out/$name" "$src" $srcs $libs
}

# the lines of a failure log worth showing
report='^==[0-9]+==ERROR|SUMMARY:|runtime error|Test unit written|ALARM'
report="$report|deadly signal|out-of-memory"

run() {
    local name=$1 log=$out/$name.log rc execs corpus verdict

    mkdir -p "$out/corpus/$name" "$out/artifacts/$name"

    "$out/$name" -max_total_time="$secs" -timeout="$timeout_one" \
        -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$out/artifacts/$name/" \
        "$out/corpus/$name" "tests/fuzz/corpus/$name" > "$log" 2>&1
    rc=$?

    execs=$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' \
            "$log" | tail -n 1)
    corpus=$(ls "$out/corpus/$name" | wc -l)

    if [ $rc -eq 0 ]; then
        verdict=ok
    else
        verdict="FAILED (exit $rc)"
    fi

    printf '%-20s %12s execs  %6s corpus  %s\n' "$name" "${execs:-?}" \
        "$corpus" "$verdict"

    if [ $rc -ne 0 ]; then
        grep -E "$report" "$log" | head -n 20 | sed 's/^/    /'
        ls "$out/artifacts/$name" \
            | sed "s|^|    artifact: $out/artifacts/$name/|"
        return 1
    fi

    return 0
}

failed=0
built=()

for src in "${targets[@]}"; do
    name=$(basename "$src" .c)

    if [ ! -f "$src" ]; then
        echo "$src: no such target"
        failed=1
        continue
    fi

    if [ -z "$(directive fuzz-srcs "$src")" ]; then
        echo "$src: no fuzz-srcs line"
        failed=1
        continue
    fi

    if ! build "$src" "$name"; then
        echo "$name: build failed"
        failed=1
        continue
    fi

    mkdir -p "tests/fuzz/corpus/$name"
    built+=("$name")
done

echo "running ${#built[@]} target(s) for ${secs}s each"

jobs_max=${FUZZ_JOBS:-1}
pids=()

for name in "${built[@]}"; do
    run "$name" &
    pids+=($!)

    if [ ${#pids[@]} -ge "$jobs_max" ]; then
        wait "${pids[0]}" || failed=1
        pids=("${pids[@]:1}")
    fi
done

for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
done

if [ $failed -ne 0 ]; then
    echo "fuzz: FAILED"
    exit 1
fi

echo "fuzz: all targets ran clean"
