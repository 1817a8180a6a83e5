#!/usr/bin/env bash
# t_check.sh: `harbor-replicator check` rejects what `run` rejects, and a
# configuration error exits 2 (harbor-replicator.service's
# RestartPreventExitStatus=2) with a message that names the config file.
#
# 1. An unknown storage.group, a storage.root under a regular file, a
#    storage.root in a directory the user cannot write (as nobody), a
#    log_file that cannot be opened, "speed": -1: `check` and `run` exit 2
#    and name the file and the key (`status` too where it is not about
#    writing: status and metrics only read, and may be run by a user who
#    cannot write the store).
# 2. Misspelt keys ("concurency", "polices", a policy's "sped") are warned
#    about by their JSON path, and the configuration is still accepted;
#    Harbor's own fields (id, creation_time, src_registry.status, ...)
#    and the edge's (log_file, fill, cache, scrub) are not warned about.
set -u
. "$(dirname "$0")/lib.sh"

[ -x "$HE_REPLICATOR" ] || he_skip "no $HE_REPLICATOR (make replicator)"

d=$(he_tmpdir)
HR=$HE_REPLICATOR
PRIMARY='"primary": {"url": "http://127.0.0.1:9"}'

# conf NAME JSON-AFTER-PRIMARY STORAGE: writes $d/NAME.json
conf() {
    printf '{"storage": %s, %s%s}\n' "$3" "$PRIMARY" "$2" > "$d/$1.json"
}

# bad NAME WANT [AS-USER]: check and run (and $ALSO) exit 2 naming the file
bad() {
    local name=$1 want=$2 cmd out rc
    for cmd in check run ${ALSO:-}; do
        if [ $# -ge 3 ]; then
            out=$(setpriv --reuid="$3" --regid=nogroup --clear-groups \
                  "$HR" -c "$d/$name.json" $cmd 2>&1)
        else
            out=$("$HR" -c "$d/$name.json" $cmd 2>&1)
        fi
        rc=$?
        [ "$rc" = 2 ] || he_fail "$name: $cmd exited $rc, want 2: $out"
        case $out in
            *"$d/$name.json: "*"$want"*) ;;
            *) he_fail "$name: $cmd said '$out', want '$d/$name.json: ...$want'" ;;
        esac
    done
    he_pass "$name: check, run ${ALSO:-}exit 2: $(echo "$out" | head -1)"
}

conf group '' '{"root": "'"$d"'/s1", "group": "no-such-group-he"}'
ALSO="status " bad group 'storage.group: unknown group "no-such-group-he"'

: > "$d/plainfile"
conf rootfile '' '{"root": "'"$d"'/plainfile/store"}'
bad rootfile 'storage.root: "'"$d"'/plainfile/store"'

conf logfile ', "log_file": "'"$d"'/plainfile/x.log"' \
     '{"root": "'"$d"'/s2"}'
bad logfile 'log_file: open "'"$d"'/plainfile/x.log"'

conf speed ', "policies": [{"name": "p", "speed": -1}]' \
     '{"root": "'"$d"'/s3"}'
ALSO="status " bad speed 'policies[0].speed: -1 is not a speed'

# a root the user cannot create: root's 0755 directory, run as nobody
if command -v setpriv > /dev/null && [ "$(id -u)" = 0 ]; then
    mkdir -m 0755 "$d/rootonly"
    chmod 0644 "$d/speed.json"
    conf unwritable '' '{"root": "'"$d"'/rootonly/store"}'
    chmod 0644 "$d/unwritable.json"
    bad unwritable 'storage.root: "'"$d"'/rootonly/store" cannot be created' \
        nobody
    [ ! -e "$d/rootonly/store" ] || he_fail "check created the root"
else
    he_log "not root or no setpriv: the unwritable root is not tried"
fi

# before: `check` passed these and `run` failed with exit 1; `check` must
# not create the store either
[ ! -e "$d/s1" ] || he_fail "check created storage.root"

# 2. warnings by path, and still valid
conf typo ', "concurency": 3, "polices": [], "log_file": "'"$d"'/hr.log",
  "fill": {"repositories": ["a/**"]}, "cache": {"max_bytes": "1GiB"},
  "scrub": {}, "policies": [{"id": 4, "name": "p", "sped": 10,
  "creation_time": "2026-01-01T00:00:00Z", "speed": 0,
  "trigger": {"type": "manual"}, "filters": [{"type": "name",
  "value": "a/**", "decorations": "matches"}]}]' \
     '{"root": "'"$d"'/s4"}'
out=$("$HR" -c "$d/typo.json" check 2>&1)
rc=$?
he_eq "a config with unknown keys passes check" "$rc" 0
for w in 'concurency: unknown key' 'polices: unknown key' \
         'policies[0].sped: unknown key' \
         'policies[0].filters[0].decorations: unknown key'
do
    case $out in
        *"warn $d/typo.json: $w"*) ;;
        *) he_fail "no warning '$w' in: $out" ;;
    esac
done
n=$(grep -c 'unknown key' <<< "$out")
he_eq "exactly the 4 unknown keys are warned about" "$n" 4
he_pass "warnings: $(grep -c warn <<< "$out") lines, e.g. $(grep -m1 warn <<< "$out")"

# status only reads: a user who cannot write the store may still look
if command -v setpriv > /dev/null && [ "$(id -u)" = 0 ]; then
    mkdir -p "$d/ro/store/_harbor_edge/partial" \
             "$d/ro/store/docker/registry/v2"
    conf ro '' '{"root": "'"$d"'/ro/store"}'
    chmod 0644 "$d/ro.json"
    out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups \
          "$HR" -c "$d/ro.json" status 2>&1)
    he_eq "status as a user who cannot write the store" "$?" 0
    out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups \
          "$HR" -c "$d/ro.json" check 2>&1)
    he_eq "check as that user: exit 2" "$?" 2
fi
