#!/usr/bin/env bash
# t_crash_resume.sh: SIGKILL (and SIGTERM) in the middle of a large blob.
#
# The primary holds test/single with a ~30 MB incompressible layer; the
# policy's speed (Kbit/s) slows the copy so that the signal lands mid-blob.
#  1. SIGKILL when the partial file passes 10 MiB.  Then: no tag in the store
#     names content that is missing (every tag's manifest, its children and
#     their blobs are readable), nothing unverified is in blobs/, and the
#     partial data with its recorded offset is in ROOT/_harbor_edge/partial.
#  2. Run again: it completes, the log says the blob resumed at the recorded
#     byte, and the bytes fetched are fewer than the blob (not restarted);
#     docker-registry on the store gives byte-identical manifests.
#  3. Same with SIGTERM: the run stops ("Stopped" in status, exit non-zero),
#     keeps the exact offset, and the next run resumes from it.
#  4. Two runs on one store; single_active_replication.
#  5. kill -9 at a dozen points of runs of every test image: never a
#     temporary beside a served name nor a tag directory without its
#     current/link; the next run removes the dead runs' temporaries and
#     docker-registry on the store lists no phantom tag.
#
# Exit 0 pass, 77 skip, anything else fail.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

for t in docker-registry skopeo jq curl; do
    command -v "$t" >/dev/null || he_skip "$t is not installed"
done
[ -x "$HE_REPLICATOR" ] || he_skip "no $HE_REPLICATOR (make replicator)"

d=$(he_tmpdir) || he_fail "mktemp"
he_registry_start "$d/prim" || he_fail "primary docker-registry did not start"
PRIM=$REGISTRY
he_push_test_images "$PRIM" "$d/img" --big-kib 30000 \
    || he_fail "pushing the test images"
big=$(sort -t$'\t' -k2 -n "$d/img/blobs.tsv" | tail -1)
bigd=$(cut -f1 <<<"$big")
bigsize=$(cut -f2 <<<"$big")
he_pass "primary on $PRIM, big layer $bigd of $bigsize bytes"

# write_conf FILE STORE SPEED [NAME-PATTERN]
write_conf() {
    cat > "$1" <<JSON
{
  "primary": {"url": "http://$PRIM"},
  "storage": {"root": "$2"},
  "concurrency": 4,
  "policies": [
    {"name": "single", "enabled": true, "override": true, "speed": $3,
     "trigger": {"type": "manual"},
     "filters": [{"type": "name", "value": "${4:-test/single}"}]}
  ]
}
JSON
}

# no_dangling_tags STORE: every tag's manifest, children and blobs readable
no_dangling_tags() {
    local v2=$1/docker/registry/v2 link repo dg m hex
    while IFS= read -r link; do
        repo=${link#$v2/repositories/}
        repo=${repo%%/_manifests/*}
        dg=$(cat "$link")
        check_manifest "$v2" "$repo" "$dg" || return 1
    done < <(find "$v2/repositories" -path '*/current/link' 2>/dev/null)
    return 0
}

check_manifest() {
    local v2=$1 repo=$2 dg=$3 m b
    m=$v2/blobs/sha256/${dg:7:2}/${dg#sha256:}/data
    [ -f "$m" ] || { he_log "$repo: manifest $dg missing"; return 1; }
    [ "$(he_sha256 "$m")" = "$dg" ] || { he_log "$repo: $dg corrupt"; return 1; }
    [ -f "$v2/repositories/$repo/_manifests/revisions/sha256/${dg#sha256:}/link" ] \
        || { he_log "$repo: no revision $dg"; return 1; }
    for b in $(jq -r '(.config.digest // empty), (.layers[]?.digest), (.manifests[]?.digest)' "$m"); do
        if jq -e --arg b "$b" '[.manifests[]?.digest] | index($b)' "$m" >/dev/null; then
            check_manifest "$v2" "$repo" "$b" || return 1
            continue
        fi
        [ -f "$v2/blobs/sha256/${b:7:2}/${b#sha256:}/data" ] \
            || { he_log "$repo: blob $b of $dg missing"; return 1; }
        [ -f "$v2/repositories/$repo/_layers/sha256/${b#sha256:}/link" ] \
            || { he_log "$repo: blob $b not linked"; return 1; }
    done
    return 0
}

# blobs_verified STORE: every file in blobs/ hashes to its name
blobs_verified() {
    local f hex
    while IFS= read -r f; do
        hex=$(basename "$(dirname "$f")")
        [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$hex" ] \
            || { he_log "unverified blob $f"; return 1; }
    done < <(find "$1/docker/registry/v2/blobs" -name data)
}

# run_until_partial CONF STORE SIGNAL BYTES: start a run, signal it once the
# big blob's partial file passes BYTES; echo the log file
run_until_partial() {
    local conf=$1 store=$2 sig=$3 want=$4 pid part size i
    part=$store/_harbor_edge/partial/sha256-${bigd#sha256:}
    date +%s.%N > "$d/t0-$sig"
    "$HE_REPLICATOR" -c "$conf" run > "$d/run-$sig.log" 2>&1 &
    pid=$!
    he_defer "he_kill_pid $pid"
    for i in $(seq 600); do
        size=$(stat -c %s "$part" 2>/dev/null || echo 0)
        [ "$size" -gt "$want" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null || { cat "$d/run-$sig.log"; he_fail "the run ended before the blob reached $want bytes"; }
    date +%s.%N > "$d/t1-$sig"
    stat -c %s "$part" > "$d/bytes-$sig"
    kill -"$sig" "$pid"
    wait "$pid"
    echo $? > "$d/rc-$sig"
}

# ----------------------------------------------------------- 1. SIGKILL
store=$d/store
# something complete in the store first: it must stay readable
write_conf "$d/pre.json" "$store" 0 test/chart
"$HE_REPLICATOR" -c "$d/pre.json" run > "$d/pre.log" 2>&1 || he_fail "first run (test/chart)"
write_conf "$d/slow.json" "$store" 16000 'test/*'   # 2048000 bytes/s
run_until_partial "$d/slow.json" "$store" KILL $((10 * 1048576))
part=$store/_harbor_edge/partial/sha256-${bigd#sha256:}
[ -f "$part" ] || he_fail "no partial data kept after SIGKILL"
off=$(cat "$part.offset" 2>/dev/null || echo none)
he_pass "SIGKILL with $(stat -c %s "$part") bytes of the big blob on disk, recorded offset $off"
# speed 16000 Kbit/s is 2048000 bytes/s for the whole policy
rate=$(awk -v a="$(cat "$d/t0-KILL")" -v b="$(cat "$d/t1-KILL")" \
       -v n="$(cat "$d/bytes-KILL")" 'BEGIN { printf "%d", n / (b - a) }')
[ "$rate" -le 3072000 ] || he_fail "speed 16000 not honoured: $rate bytes/s"
he_pass "speed 16000 (2048000 bytes/s): measured $rate bytes/s up to the kill"
[[ "$off" =~ ^[0-9]+$ ]] && [ "$off" -gt 0 ] || he_fail "no usable offset recorded: $off"
[ ! -e "$store/docker/registry/v2/blobs/sha256/${bigd:7:2}/${bigd#sha256:}" ] \
    || he_fail "the unfinished blob is visible in blobs/"
no_dangling_tags "$store" || he_fail "a visible tag names missing content after SIGKILL"
blobs_verified "$store" || he_fail "blobs/ holds unverified content after SIGKILL"
ntags=$(find "$store/docker/registry/v2/repositories" -path '*/current/link' 2>/dev/null | wc -l)
[ "$ntags" -ge 1 ] || he_fail "the tag copied before the crash is gone"
he_eq "status shows the killed execution as Interrupted" \
    "$("$HE_REPLICATOR" -c "$d/slow.json" status --json | jq -r '.[-1].status')" Interrupted
he_pass "after SIGKILL: $ntags tags visible, none dangling; blobs/ all verified"

# ---------------------------------------------------------- 2. resume
write_conf "$d/fast.json" "$store" 0
t0=$(date +%s.%N)
"$HE_REPLICATOR" -c "$d/fast.json" run > "$d/resume.log" 2>&1 \
    || { cat "$d/resume.log"; he_fail "the run after SIGKILL failed"; }
t1=$(date +%s.%N)
grep -q "blob $bigd: resuming at byte $off of $bigsize" "$d/resume.log" \
    || { cat "$d/resume.log"; he_fail "the log does not show the blob resuming at $off"; }
st=$("$HE_REPLICATOR" -c "$d/fast.json" status --json)
got=$(jq '.[-1].bytes' <<<"$st")
resumed=$(jq '.[-1].resumed_bytes' <<<"$st")
[ "$got" -lt "$bigsize" ] || he_fail "fetched $got bytes: the blob restarted"
he_eq "resumed_bytes is the recorded offset" "$resumed" "$off"
he_pass "resumed at byte $off: $got bytes fetched in $(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.2f", b-a}') s (blob is $bigsize)"
[ ! -e "$part" ] && [ ! -e "$part.offset" ] || he_fail "partial data left after the commit"
no_dangling_tags "$store" || he_fail "dangling tag after the resumed run"
blobs_verified "$store" || he_fail "unverified blob after the resumed run"

he_registry_start "$d/rep" || he_fail "replica registry"
rm -rf "$d/rep/data" && ln -s "$store" "$d/rep/data"
while IFS=$'\t' read -r ref mt digest; do
    case "$ref" in test/single:*) ;; *) continue ;; esac
    skopeo inspect --raw --tls-verify=false "docker://$PRIM/$ref" > "$d/a"
    skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/$ref" > "$d/b" \
        || he_fail "inspect $ref on the replica"
    cmp -s "$d/a" "$d/b" || he_fail "$ref differs"
    rm -rf "$d/copy"
    skopeo copy -q --src-tls-verify=false "docker://$REGISTRY/$ref" "oci:$d/copy:x" \
        >/dev/null || he_fail "skopeo copy $ref"
    he_pass "$ref byte-identical and copied from docker-registry on the store"
done < "$d/img/pushed.tsv"

# ----------------------------------------------------------- 3. SIGTERM
store2=$d/store2
write_conf "$d/slow2.json" "$store2" 16000
run_until_partial "$d/slow2.json" "$store2" TERM $((4 * 1048576))
rc=$(cat "$d/rc-TERM")
[ "$rc" != 0 ] || he_fail "a run stopped by SIGTERM exited 0"
part=$store2/_harbor_edge/partial/sha256-${bigd#sha256:}
off=$(cat "$part.offset")
size=$(stat -c %s "$part")
he_eq "SIGTERM records the exact offset" "$off" "$size"
grep -q "blob $bigd: stopped at byte $off, kept for resume" "$d/run-TERM.log" \
    || { cat "$d/run-TERM.log"; he_fail "no 'stopped at byte' line"; }
st=$("$HE_REPLICATOR" -c "$d/slow2.json" status --json)
he_eq "status says Stopped" "$(jq -r '.[-1].status' <<<"$st")" Stopped
no_dangling_tags "$store2" || he_fail "a visible tag names missing content after SIGTERM"
write_conf "$d/fast2.json" "$store2" 0
"$HE_REPLICATOR" -c "$d/fast2.json" run > "$d/resume2.log" 2>&1 \
    || { cat "$d/resume2.log"; he_fail "the run after SIGTERM failed"; }
grep -q "blob $bigd: resuming at byte $off of $bigsize" "$d/resume2.log" \
    || he_fail "no resume after SIGTERM"
no_dangling_tags "$store2" && blobs_verified "$store2" \
    || he_fail "store not complete after the resumed run"
he_pass "SIGTERM: exit $rc, stopped at byte $off, resumed from it, store complete"

# ------------------------------------------- 4. two runs, one store
# a daemon's scheduled run and a manual one may overlap: one fetches the
# big blob, the other waits for it instead of writing the same partial file
store3=$d/store3
write_conf "$d/par.json" "$store3" 40000
"$HE_REPLICATOR" -c "$d/par.json" run > "$d/par1.log" 2>&1 &
p1=$!
sleep 0.5
"$HE_REPLICATOR" -c "$d/par.json" run > "$d/par2.log" 2>&1 &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
he_eq "two overlapping runs both succeed" "$r1 $r2" "0 0"
grep -q "blob $bigd: flock.*being fetched by another process; waiting" "$d/par2.log" \
    || { cat "$d/par2.log"; he_fail "the second run did not wait for the first's fetch"; }
grep -q "blob $bigd: stored meanwhile by another" "$d/par2.log" \
    || { cat "$d/par2.log"; he_fail "the second run fetched the blob again"; }
no_dangling_tags "$store3" && blobs_verified "$store3" \
    || he_fail "store not consistent after overlapping runs"
he_pass "overlapping runs: the second waited for the first's fetch, no double download"

# single_active_replication: the second run skips instead of waiting
store4=$d/store4
write_conf "$d/one.json" "$store4" 40000
sed -i 's/"override": true,/"override": true, "single_active_replication": true,/' "$d/one.json"
"$HE_REPLICATOR" -c "$d/one.json" run > "$d/one1.log" 2>&1 &
p1=$!
sleep 0.5
"$HE_REPLICATOR" -c "$d/one.json" run > "$d/one2.log" 2>&1
r2=$?
kill -0 $p1 2>/dev/null || he_fail "the first run ended before the second started"
wait $p1
r1=$?
he_eq "single_active_replication: both exit 0" "$r1 $r2" "0 0"
grep -q 'skipped: an execution of it is still active' "$d/one2.log" \
    || { cat "$d/one2.log"; he_fail "the second run was not skipped"; }
he_pass "single_active_replication: the overlapping run was skipped"

# ------------------------------------- 5. temporaries after kill -9
# a run killed anywhere (fetch, staging, publish) leaves its temporaries
# in V2/_harbor_tmp only, never beside a served name (a tag's current/link
# directory read by distribution); the next run removes them (their
# process is gone), and docker-registry on the store lists no phantom tag
store5=$d/store5
v25=$store5/docker/registry/v2
write_conf "$d/k.json" "$store5" 0 'test/**'
served_tmps() {
    find "$v25" -name '*.tmp-*' ! -path "$v25/_harbor_tmp/*" 2>/dev/null | wc -l
}
# tags/<t> directories without a current/link: distribution lists them
phantoms() {
    local t n=0
    for t in "$v25"/repositories/*/*/_manifests/tags/*; do
        [ -d "$t" ] || continue
        [ -f "$t/current/link" ] || { he_log "phantom tag $t"; n=$((n + 1)); }
    done
    echo "$n"
}
# blobs stored, repositories not: a run is all walk, staging and publish,
# so the kills land there; T is how long such a run takes here
"$HE_REPLICATOR" -c "$d/k.json" run > "$d/k-seed.log" 2>&1 \
    || { cat "$d/k-seed.log"; he_fail "seeding store5"; }
rm -rf "$v25/repositories"
t0=$(date +%s%N)
"$HE_REPLICATOR" -c "$d/k.json" run > "$d/k-timed.log" 2>&1 || he_fail "timed run"
T=$(( ($(date +%s%N) - t0) / 1000000 ))
he_pass "a run that links and publishes everything takes ${T} ms"
kills=0
maxtmp=0
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do
    rm -rf "$v25/repositories"
    delay=$(awk -v t="$T" -v i="$i" 'BEGIN { printf "%.3f", t * i / 17 / 1000 }')
    "$HE_REPLICATOR" -c "$d/k.json" run > "$d/k-$i.log" 2>&1 &
    pid=$!
    sleep "$delay"
    if kill -KILL "$pid" 2>/dev/null; then
        kills=$((kills + 1))
    fi
    wait "$pid" 2>/dev/null
    n=$(find "$v25/_harbor_tmp" -type f 2>/dev/null | wc -l)
    [ "$n" -gt "$maxtmp" ] && maxtmp=$n
    he_eq "kill -9 after ${delay}s: no temporary beside a served name" "$(served_tmps)" 0
    he_eq "kill -9 after ${delay}s: no tag directory without current/link" "$(phantoms)" 0
done
he_pass "$kills runs killed with -9; up to $maxtmp of their temporaries seen in _harbor_tmp"
# a leftover of a process that is gone, whatever the timing above did
sleep 0 & deadpid=$!
wait "$deadpid"
mkdir -p "$v25/_harbor_tmp"
printf 'sha256:%064d' 0 > "$v25/_harbor_tmp/link.tmp-$deadpid-7"
"$HE_REPLICATOR" -c "$d/k.json" run > "$d/k-final.log" 2>&1 \
    || { cat "$d/k-final.log"; he_fail "the run after the kills failed"; }
grep -q 'temporaries left by processes that are gone' "$d/k-final.log" \
    || { cat "$d/k-final.log"; he_fail "the run did not remove the dead temporaries"; }
he_eq "after the rerun: no temporary anywhere under v2/" \
    "$(find "$v25" -name '*.tmp-*' | wc -l)" 0
# what an older version left beside a served name: gc takes it at once
# when its process is gone, whatever its age
old=$(find "$v25/repositories" -path '*/current' -type d | head -1)
printf 'sha256:%064d' 0 > "$old/link.tmp-$deadpid-9"
"$HE_REPLICATOR" -c "$d/k.json" gc > "$d/k-gc.log" 2>&1 \
    || { cat "$d/k-gc.log"; he_fail "gc"; }
[ ! -e "$old/link.tmp-$deadpid-9" ] || { cat "$d/k-gc.log"; he_fail "gc left a dead process's temporary"; }
grep -q ', 1 temporaries removed' "$d/k-gc.log" || { cat "$d/k-gc.log"; he_fail "gc does not count it"; }
he_pass "gc removed a dead process's temporary beside a served name"
no_dangling_tags "$store5" || he_fail "dangling tag after the kills and the rerun"
he_registry_start "$d/rep5" || he_fail "docker-registry on store5"
rm -rf "$d/rep5/data" && ln -s "$store5" "$d/rep5/data"
ntag=0
for repo in $(curl -sf "http://$REGISTRY/v2/_catalog" | jq -r '.repositories[]'); do
    for tag in $(curl -sf "http://$REGISTRY/v2/$repo/tags/list" | jq -r '.tags[]?'); do
        code=$(curl -s -o /dev/null -w '%{http_code}' \
            -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json' \
            "http://$REGISTRY/v2/$repo/manifests/$tag")
        [ "$code" = 200 ] || he_fail "docker-registry lists $repo:$tag, which answers $code (phantom)"
        ntag=$((ntag + 1))
    done
done
[ "$ntag" -ge 6 ] || he_fail "docker-registry lists only $ntag tags"
he_pass "docker-registry on the store lists $ntag tags, each answering 200: no phantom"

he_pass "t_crash_resume done in $(he_elapsed) s"
