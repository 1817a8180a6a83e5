#!/usr/bin/env bash
# t_replicate.sh: harbor-replicator against a real docker-registry primary.
#
# Pushes the deterministic test images (OCI image, OCI index, Helm-like
# artifact, Docker schema2 image and manifest list) to a docker-registry,
# runs `harbor-replicator run`, then serves the replica's store with a second
# docker-registry and with nginx + ngx_http_harbor_module, and shows for every
# tag: the manifest is byte-identical to the primary's and `skopeo copy` of
# it succeeds.  Then: a second run fetches nothing; dest_namespace,
# override:false and deletion:true; and a primary that serves a blob whose
# bytes do not match its digest: the task fails, nothing is written for that
# tag, the error is recorded.
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
PRIM_ROOT=$HE_REGISTRY_ROOT
he_push_test_images "$PRIM" "$d/img" --big-kib 2048 \
    || he_fail "pushing the test images"
he_pass "primary docker-registry on $PRIM with $(wc -l < "$d/img/pushed.tsv") tags"

store=$d/rep/data
conf=$d/replicator.json
cat > "$conf" <<JSON
{
  "primary": {"url": "http://$PRIM"},
  "storage": {"root": "$store"},
  "concurrency": 4,
  "policies": [
    {"id": 1, "name": "all", "enabled": true, "override": true,
     "trigger": {"type": "manual"}, "speed": 0,
     "dest_namespace_replace_count": -1,
     "filters": [{"type": "name", "value": "test/**"}]}
  ]
}
JSON

"$HE_REPLICATOR" -c "$conf" check > "$d/check.log" 2>&1 \
    || { cat "$d/check.log"; he_fail "check refused the config"; }
he_pass "harbor-replicator check accepts the config"

t0=$(date +%s.%N)
"$HE_REPLICATOR" -c "$conf" run > "$d/run1.log" 2>&1
rc=$?
t1=$(date +%s.%N)
cat "$d/run1.log" >&2
[ $rc = 0 ] || he_fail "first run exited $rc"
bytes=$("$HE_REPLICATOR" -c "$conf" status --json | jq '.[-1].bytes')
he_pass "first run: $bytes blob bytes in $(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.2f", b-a}') s"

# the store: no temporaries left, modes for nginx's workers
n=$(find "$store" -name '*.tmp-*' | wc -l)
he_eq "no temporaries left in the store" "$n" 0
bad=$(find "$store/docker" \( -type f ! -perm 0644 \) -o \( -type d ! -perm 0755 \) | head -3)
he_eq "files 0644, directories 0755" "$bad" ""
nlink=$(find "$store/docker" -name link -size -1k | while read -r f; do
    c=$(cat "$f"); [[ "$c" =~ ^sha256:[0-9a-f]{64}$ ]] || echo "$f"; done | wc -l)
he_eq "every link file is exactly sha256:<hex>" "$nlink" 0

# serve the replica with docker-registry (it reads what it knows: the layout)
he_registry_start "$d/rep" || he_fail "replica docker-registry did not start"
REP=$REGISTRY

NGX=''
if [ -f "$HE_MODULE" ]; then
    if port=$(he_nginx_start "$d/ngx" "$store"); then
        NGX=127.0.0.1:$port
    else
        he_fail "nginx with the module did not start"
    fi
else
    he_log "no $HE_MODULE: checking the replica with docker-registry only"
fi

while IFS=$'\t' read -r ref mt digest; do
    skopeo inspect --raw --tls-verify=false "docker://$PRIM/$ref" > "$d/m.prim" \
        || he_fail "inspect $ref on the primary"
    for srv in "$REP" $NGX; do
        skopeo inspect --raw --tls-verify=false "docker://$srv/$ref" > "$d/m.rep" \
            || he_fail "inspect $ref on the replica $srv"
        cmp -s "$d/m.prim" "$d/m.rep" \
            || he_fail "$ref: manifest from $srv differs from the primary's"
        [ "$(he_sha256 "$d/m.rep")" = "$digest" ] \
            || he_fail "$ref: manifest digest from $srv is not $digest"
        rm -rf "$d/copy"
        skopeo copy -q --all --src-tls-verify=false "docker://$srv/$ref" \
            "oci:$d/copy:x" > "$d/copy.log" 2>&1 \
            || { cat "$d/copy.log"; he_fail "skopeo copy $ref from $srv"; }
    done
    he_pass "$ref ($mt): byte-identical manifest and skopeo copy from docker-registry${NGX:+ and nginx}"
done < "$d/img/pushed.tsv"

# shared blobs are stored once
base=$(awk -F'\t' 'NR==1 {print $1}' "$d/img/blobs.tsv")
n=$(find "$store/docker/registry/v2/blobs" -path "*${base#sha256:}*" -name data | wc -l)
he_eq "the shared base layer is stored once" "$n" 1

# a second run: nothing to fetch, every tag unchanged
"$HE_REPLICATOR" -c "$conf" run > "$d/run2.log" 2>&1 || he_fail "second run failed"
st=$("$HE_REPLICATOR" -c "$conf" status --json)
he_eq "second run fetched 0 bytes" "$(jq '.[-1].bytes' <<<"$st")" 0
he_eq "second run: every tag unchanged" \
    "$(jq '[.[-1].tasks[].tags_copied] | add' <<<"$st")" 0

# gc: an unreferenced blob goes, referenced ones stay; never during a run
orphan=$(printf 'orphan' | sha256sum | cut -d' ' -f1)
mkdir -p "$store/docker/registry/v2/blobs/sha256/${orphan:0:2}/$orphan"
printf 'orphan' > "$store/docker/registry/v2/blobs/sha256/${orphan:0:2}/$orphan/data"
nb=$(find "$store/docker/registry/v2/blobs" -name data | wc -l)
flock -s "$store/_harbor_edge/gc.lease" sleep 3 &
lpid=$!
sleep 0.3
"$HE_REPLICATOR" -c "$conf" gc > "$d/gc0.log" 2>&1 && he_fail "gc ran while a run held the lease"
grep -q 'held by a running replication' "$d/gc0.log" || { cat "$d/gc0.log"; he_fail "gc: no lease message"; }
wait $lpid
"$HE_REPLICATOR" -c "$conf" gc --dry-run > "$d/gc1.log" 2>&1 || he_fail "gc --dry-run"
grep -q "would remove blob sha256:$orphan" "$d/gc1.log" || { cat "$d/gc1.log"; he_fail "gc --dry-run missed the orphan"; }
"$HE_REPLICATOR" -c "$conf" gc > "$d/gc2.log" 2>&1 || he_fail "gc"
he_eq "gc removed exactly the orphan" "$(find "$store/docker/registry/v2/blobs" -name data | wc -l)" "$((nb - 1))"
[ ! -e "$store/docker/registry/v2/blobs/sha256/${orphan:0:2}/$orphan" ] || he_fail "orphan still there"
skopeo copy -q --all --src-tls-verify=false "docker://$REP/test/multiarch:v1" "oci:$d/gccopy:x" >/dev/null \
    || he_fail "skopeo copy after gc"
he_pass "gc: refused while a run holds the lease; removed the one unreferenced blob; pulls still work"

# catalog pagination: 150 more repositories (copies of test/chart's
# directory in the replica's store, served by the replica's docker-registry,
# which pages _catalog by 100 with a Link header); the blobs they share are
# fetched once and linked 150 times
v2r=$store/docker/registry/v2/repositories
for i in $(seq -w 1 150); do cp -r "$v2r/test/chart" "$v2r/test/chart-$i"; done
cat > "$d/many.json" <<JSON
{
  "primary": {"url": "http://$REP"},
  "storage": {"root": "$d/store8"},
  "concurrency": 8,
  "policies": [
    {"name": "many", "enabled": true, "trigger": {"type": "manual"},
     "filters": [{"type": "name", "value": "test/chart-*"}]}
  ]
}
JSON
t0=$(date +%s.%N)
"$HE_REPLICATOR" -c "$d/many.json" run > "$d/many.log" 2>&1 || { tail "$d/many.log"; he_fail "150 repositories"; }
t1=$(date +%s.%N)
n=$(find "$d/store8/docker/registry/v2/repositories" -path '*/current/link' | wc -l)
he_eq "150 repositories through a paginated catalog" "$n" 150
st=$("$HE_REPLICATOR" -c "$d/many.json" status --json)
he_eq "their shared blobs fetched once" "$(jq '.[-1].blobs_fetched' <<<"$st")" \
    "$(jq '.layers | length + 1' "$store/docker/registry/v2/blobs/sha256/$(awk -F'\t' '$1=="test/chart:0.1.0" {print substr($3,8,2)"/"substr($3,8)}' "$d/img/pushed.tsv")/data")"
grep -q '_catalog?last=' "$d/rep/registry.log" || he_fail "the catalog's Link was not followed"
he_pass "150 repositories in $(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.2f", b-a}') s; catalog Link followed"
rm -rf "$v2r"/test/chart-*

# accessories: a cosign-style signature tag sha256-<hex>.sig and an OCI
# referrer (an SBOM manifest with "subject") of test/single:v1
subj=$(awk -F'\t' '$1=="test/single:v1" {print $3}' "$d/img/pushed.tsv")
ssize=$(skopeo inspect --raw --tls-verify=false "docker://$PRIM/test/single:v1" | wc -c)
skopeo copy -q --preserve-digests --dest-tls-verify=false \
    "oci:$d/img/oci:chart" "docker://$PRIM/test/single:sha256-${subj#sha256:}.sig" \
    || he_fail "pushing the .sig tag"
L=$d/sbom
mkdir -p "$L/blobs/sha256"
printf '{"imageLayoutVersion":"1.0.0"}' > "$L/oci-layout"
printf '{}' > "$L/e" && e=$(sha256sum "$L/e" | cut -d' ' -f1) && mv "$L/e" "$L/blobs/sha256/$e"
printf 'sbom for v1' > "$L/s" && sb=$(sha256sum "$L/s" | cut -d' ' -f1) && mv "$L/s" "$L/blobs/sha256/$sb"
jq -cnj --arg e "sha256:$e" --arg s "sha256:$sb" --arg subj "$subj" --argjson ss "$ssize" \
   '{schemaVersion:2, mediaType:"application/vnd.oci.image.manifest.v1+json",
     artifactType:"application/spdx+json",
     config:{mediaType:"application/vnd.oci.empty.v1+json", digest:$e, size:2},
     layers:[{mediaType:"application/spdx+json", digest:$s, size:11}],
     subject:{mediaType:"application/vnd.oci.image.manifest.v1+json", digest:$subj, size:$ss},
     annotations:{"org.example.kind":"sbom"}}' > "$L/m"
sbom=sha256:$(sha256sum "$L/m" | cut -d' ' -f1)
msize=$(wc -c < "$L/m")
mv "$L/m" "$L/blobs/sha256/${sbom#sha256:}"
jq -cn --arg m "$sbom" --argjson ms "$msize" \
   '{schemaVersion:2, manifests:[{mediaType:"application/vnd.oci.image.manifest.v1+json",
     digest:$m, size:$ms, annotations:{"org.opencontainers.image.ref.name":"sbom"}}]}' > "$L/index.json"
skopeo copy -q --preserve-digests --dest-tls-verify=false "oci:$L:sbom" \
    "docker://$PRIM/test/single:v1-sbom" || he_fail "pushing the SBOM referrer"

# policy_conf FILE URL STORE TAGPATTERN
policy_conf() {
    cat > "$1" <<JSON
{
  "primary": {"url": "$2"},
  "storage": {"root": "$3"},
  "policies": [
    {"name": "acc", "enabled": true, "override": true,
     "trigger": {"type": "manual"},
     "filters": [{"type": "name", "value": "test/single"},
                 {"type": "tag", "value": "$4"}]}
  ]
}
JSON
}
policy_conf "$d/acc1.json" "http://$PRIM" "$d/store5" v1
"$HE_REPLICATOR" -c "$d/acc1.json" run > "$d/acc1.log" 2>&1 || { cat "$d/acc1.log"; he_fail "accessory run"; }
t5=$d/store5/docker/registry/v2/repositories/test/single/_manifests/tags
[ -f "$t5/sha256-${subj#sha256:}.sig/current/link" ] \
    || he_fail "the signature tag of v1 was not copied with v1"
[ ! -e "$t5/latest" ] && [ ! -e "$t5/v1-sbom" ] || he_fail "tag filter v1 copied other tags"
he_pass "tag filter v1: v1 and its cosign tag sha256-<hex>.sig copied, nothing else"

policy_conf "$d/acc2.json" "http://$PRIM" "$d/store5" 'v1*'
"$HE_REPLICATOR" -c "$d/acc2.json" run > "$d/acc2.log" 2>&1 || { cat "$d/acc2.log"; he_fail "referrer run"; }
ri=$d/store5/docker/registry/v2/repositories/test/single/_harbor/referrers/sha256/${subj#sha256:}/index.json
[ -f "$ri" ] || he_fail "no referrers index for $subj"
jq -e --arg m "$sbom" '.manifests == [{"mediaType":"application/vnd.oci.image.manifest.v1+json",
    "digest":$m, "size":'"$msize"', "artifactType":"application/spdx+json",
    "annotations":{"org.example.kind":"sbom"}}]' "$ri" >/dev/null \
    || { cat "$ri"; he_fail "referrers index content"; }
he_pass "a referrer with subject: referrers index of v1 written with its descriptor"

if [ -n "$NGX" ]; then
    # the module as a primary offers the referrers API: an untagged
    # referrer is found through it
    ngx5=127.0.0.1:$(he_nginx_start "$d/ngx5" "$d/store5") || he_fail "nginx on store5"
    code=$(curl -s -o "$d/refs.json" -w '%{http_code}' "http://$ngx5/v2/test/single/referrers/$subj")
    if [ "$code" = 200 ] && jq -e --arg m "$sbom" '.manifests[0].digest == $m' "$d/refs.json" >/dev/null; then
        # drop the tag: only the referrers API can lead to the SBOM now
        rm -rf "$d/store5/docker/registry/v2/repositories/test/single/_manifests/tags/v1-sbom"
        policy_conf "$d/acc3.json" "http://$ngx5" "$d/store6" v1
        "$HE_REPLICATOR" -c "$d/acc3.json" run > "$d/acc3.log" 2>&1 || { cat "$d/acc3.log"; he_fail "run from the edge"; }
        r6=$d/store6/docker/registry/v2/repositories/test/single
        [ -f "$r6/_manifests/revisions/sha256/${sbom#sha256:}/link" ] \
            || he_fail "the untagged referrer was not copied through the referrers API"
        cmp -s "$ri" "$r6/_harbor/referrers/sha256/${subj#sha256:}/index.json" \
            || he_fail "referrers index differs after a copy through the API"
        he_pass "from nginx+module as primary: the untagged SBOM found through GET /v2/<name>/referrers and copied"
    else
        he_log "the module's referrers endpoint answered $code: API-discovery step skipped"
    fi
fi

# a Harbor source: Harbor's REST API shapes (tests/tools/harbor-standin, a
# stand-in since no Harbor runs here) in front of the same docker-registry;
# detection by /api/version, Basic on REST calls, Link pagination (pages of
# 2), and a label filter, which a plain v2 source cannot express
cat > "$d/labels.json" <<JSON
{"test/single:v1": ["approved"], "test/multiarch:v1": ["approved", "x"],
 "test/chart:0.1.0": ["x"]}
JSON
hport=$(he_port)
python3 "$REPO/tests/tools/harbor-standin" --port "$hport" \
    --registry "http://$PRIM" --user admin:Harbor12345 \
    --labels "$d/labels.json" --page-size-max 2 --log "$d/standin.log" \
    > "$d/standin.out" 2>&1 &
hpid=$!
he_defer "he_kill_pid $hpid"
he_wait_tcp "$hport" || he_fail "harbor-standin did not start"
# harbor_conf FILE PASSWORD
harbor_conf() {
    cat > "$1" <<JSON
{
  "primary": {"url": "http://127.0.0.1:$hport", "username": "admin",
              "password": "$2"},
  "storage": {"root": "$d/store7"},
  "policies": [
    {"name": "labelled", "enabled": true, "trigger": {"type": "manual"},
     "filters": [{"type": "name", "value": "test/**"},
                 {"type": "label", "value": ["approved"],
                  "decoration": "matches"}]}
  ]
}
JSON
}
harbor_conf "$d/h-bad.json" wrong
"$HE_REPLICATOR" -c "$d/h-bad.json" run > "$d/h-bad.log" 2>&1 \
    && he_fail "a wrong Harbor password did not fail the run"
grep -q '/api/v2.0/projects.*401' "$d/h-bad.log" \
    || { cat "$d/h-bad.log"; he_fail "no clear error for a refused REST call"; }
harbor_conf "$d/harbor.json" Harbor12345
"$HE_REPLICATOR" -c "$d/harbor.json" run > "$d/harbor.log" 2>&1 \
    || { cat "$d/harbor.log"; he_fail "run from the Harbor source"; }
grep -q 'is Harbor v2.0' "$d/harbor.log" || he_fail "Harbor not detected"
got=$(cd "$d/store7/docker/registry/v2/repositories" && \
      find . -path '*/current/link' | sort | tr '\n' ' ')
want="./test/multiarch/_manifests/tags/v1/current/link"
want="$want ./test/single/_manifests/tags/latest/current/link"
want="$want ./test/single/_manifests/tags/sha256-${subj#sha256:}.sig/current/link"
want="$want ./test/single/_manifests/tags/v1/current/link "
he_eq "label approved: labelled artifacts, all their tags, v1's signature" \
    "$got" "$want"
grep -q 'repositories?page=3&page_size=2' "$d/standin.log" \
    || he_fail "the Link pagination of the REST lists was not followed"
he_pass "Harbor source: detected, wrong password refused, pages followed, label filter applied"

# dest_namespace, override:false, deletion:true, in a second store
store2=$d/store2
cat > "$d/ns.json" <<JSON
{
  "primary": {"url": "http://$PRIM"},
  "storage": {"root": "$store2"},
  "policies": [
    {"name": "ns", "enabled": true, "override": false, "deletion": true,
     "trigger": {"type": "manual"}, "dest_namespace": "mirror",
     "dest_namespace_replace_count": 1,
     "filters": [{"type": "name", "value": "test/single"},
                 {"type": "tag", "value": "v*", "decoration": "matches"}]}
  ]
}
JSON
"$HE_REPLICATOR" -c "$d/ns.json" run > "$d/ns1.log" 2>&1 \
    || { cat "$d/ns1.log"; he_fail "dest_namespace run"; }
v2=$store2/docker/registry/v2/repositories
[ -f "$v2/mirror/single/_manifests/tags/v1/current/link" ] \
    || he_fail "test/single:v1 not at mirror/single:v1"
[ ! -e "$v2/mirror/single/_manifests/tags/latest" ] \
    || he_fail "tag filter v* copied latest"
he_pass "dest_namespace mirror (replace 1): test/single:v1 -> mirror/single:v1, latest filtered out"

# override:false keeps a local tag that points elsewhere
other=$(awk -F'\t' '$1=="test/chart:0.1.0" {print $3}' "$d/img/pushed.tsv")
printf '%s' "$other" > "$v2/mirror/single/_manifests/tags/v1/current/link"
# deletion:true removes a local tag the primary does not have
mkdir -p "$v2/mirror/single/_manifests/tags/v9/current"
cp "$v2/mirror/single/_manifests/tags/v1/current/link" \
   "$v2/mirror/single/_manifests/tags/v9/current/link"
"$HE_REPLICATOR" -c "$d/ns.json" run > "$d/ns2.log" 2>&1 \
    || { cat "$d/ns2.log"; he_fail "second dest_namespace run"; }
he_eq "override:false kept the local v1" \
    "$(cat "$v2/mirror/single/_manifests/tags/v1/current/link")" "$other"
[ ! -e "$v2/mirror/single/_manifests/tags/v9" ] \
    || he_fail "deletion:true left v9, which the primary does not have"
he_pass "deletion:true removed v9, gone from the primary"
grep -q 'kept (override is off)' "$d/ns2.log" || he_fail "no override warning logged"

# daemon: a scheduled policy fires by cron; a bad config on HUP is refused
# and the daemon goes on; TERM stops it cleanly
store4=$d/store4
cat > "$d/daemon.json" <<JSON
{
  "primary": {"url": "http://$PRIM"},
  "storage": {"root": "$store4"},
  "policies": [
    {"name": "sched", "enabled": true, "override": true,
     "trigger": {"type": "scheduled",
                 "trigger_settings": {"cron": "0 */1 * * * *"}},
     "filters": [{"type": "name", "value": "test/chart"}]}
  ]
}
JSON
"$HE_REPLICATOR" -c "$d/daemon.json" daemon > "$d/daemon.log" 2>&1 &
dpid=$!
he_defer "he_kill_pid $dpid"
sleep 1
cp "$d/daemon.json" "$d/daemon.good"
echo '{ broken' > "$d/daemon.json"
kill -HUP $dpid
sleep 0.5
kill -0 $dpid 2>/dev/null || { cat "$d/daemon.log"; he_fail "the daemon died on a bad reload"; }
grep -q 'keeping the running configuration' "$d/daemon.log" \
    || { cat "$d/daemon.log"; he_fail "no reload error logged"; }
cp "$d/daemon.good" "$d/daemon.json"
he_pass "daemon: a broken config on SIGHUP is refused, the daemon keeps running"
for i in $(seq 75); do
    [ -s "$store4/_harbor_edge/executions.jsonl" ] && break
    sleep 1
done
st=$("$HE_REPLICATOR" -c "$d/daemon.good" status --json)
he_eq "daemon: the cron fired a scheduled execution" \
    "$(jq -r '.[0].trigger + " " + .[0].status' <<<"$st")" "scheduled Succeed"
[ -f "$store4/docker/registry/v2/repositories/test/chart/_manifests/tags/0.1.0/current/link" ] \
    || he_fail "the scheduled run did not copy test/chart:0.1.0"
kill -TERM $dpid
for i in $(seq 50); do kill -0 $dpid 2>/dev/null || break; sleep 0.1; done
kill -0 $dpid 2>/dev/null && he_fail "the daemon ignored SIGTERM"
wait $dpid
he_eq "daemon: SIGTERM exits 0" "$?" 0

# a primary that lies: flip bytes of the big layer in its storage (same size)
big=$(sort -t$'\t' -k2 -n "$d/img/blobs.tsv" | tail -1 | cut -f1)
f=$PRIM_ROOT/docker/registry/v2/blobs/sha256/${big:7:2}/${big#sha256:}/data
[ -f "$f" ] || he_fail "cannot find the big layer in the primary's storage"
printf 'CORRUPT!' | dd of="$f" bs=1 seek=1000 conv=notrunc status=none
store3=$d/store3
sed -e "s|$store2|$store3|" -e 's|"deletion": true|"deletion": false|' \
    "$d/ns.json" > "$d/lie.json"
"$HE_REPLICATOR" -c "$d/lie.json" run > "$d/lie.log" 2>&1
rc=$?
[ $rc != 0 ] || { cat "$d/lie.log"; he_fail "a lying primary did not fail the run"; }
grep -q "digest mismatch: expected $big" "$d/lie.log" \
    || { cat "$d/lie.log"; he_fail "no digest mismatch reported"; }
v3=$store3/docker/registry/v2
[ ! -e "$v3/repositories/mirror/single/_manifests/tags/v1" ] \
    || he_fail "a tag was written over a corrupt blob"
[ ! -e "$v3/blobs/sha256/${big:7:2}/${big#sha256:}" ] \
    || he_fail "the corrupt blob reached blobs/"
[ -z "$(ls -A "$store3/_harbor_edge/partial")" ] \
    || he_fail "the corrupt partial data was kept"
st=$("$HE_REPLICATOR" -c "$d/lie.json" status --json)
he_eq "the execution is recorded as Failed" "$(jq -r '.[-1].status' <<<"$st")" Failed
jq -e '.[-1].tasks[0].error | test("digest mismatch")' <<<"$st" >/dev/null \
    || he_fail "task error does not say digest mismatch"
he_pass "lying primary: exit $rc, no tag, no blob, task error recorded"

he_pass "t_replicate done in $(he_elapsed) s"
