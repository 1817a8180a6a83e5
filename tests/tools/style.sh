#!/usr/bin/env bash
# The house style, checked: no tabs, no line over 80 columns, no trailing
# blanks, no // comments, and none of the C calls that cannot be bounded
# (strcpy, strcat, sprintf, vsprintf, gets, strtok, atoi). Prints each
# offence as FILE:LINE: what, then "N passed, N failed" over the files.
set -u
cd "$(dirname "$0")/../.." || exit 2

files=$(ls ngx_harbor_module/*.[ch] replicator/*.[ch] 2>/dev/null)
pass=0 fail=0

for f in $files; do
    out=$(awk -v f="$f" '
        /\t/                { printf "%s:%d: tab\n", f, NR }
        length($0) > 80     { printf "%s:%d: %d columns\n", f, NR, length($0) }
        /[ \t]+$/           { printf "%s:%d: trailing blank\n", f, NR }
        /^[ \t]*\/\// || /;[ \t]*\/\// \
                            { printf "%s:%d: // comment\n", f, NR }
        /(^|[^_a-z])(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi)[ \t]*\(/ \
                            { printf "%s:%d: banned call\n", f, NR }
    ' "$f")
    if [ -n "$out" ]; then
        echo "$out"
        fail=$((fail + 1))
    else
        pass=$((pass + 1))
    fi
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
