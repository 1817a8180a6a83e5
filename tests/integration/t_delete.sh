#!/usr/bin/env bash
# t_delete.sh: a manifest deleted on the primary goes from the edge, and
# gc frees its blobs ("deletion": true); "deletion": false keeps it and says
# so in the log.
#
#  1. Scheduled/manual run: test/single's manifest is deleted on the
#     primary (DELETE by digest); the next run removes its tags, its
#     revision link and the layer links nobody else in test/single needs:
#     the edge answers 404 by digest where it answered 200, and `gc` frees
#     the blobs no other repository links.
#  2. DELETE_ARTIFACT webhook (daemon, event_based, deletion: true) for
#     test/multiarch's index, deleted on the primary: the tag, the index's
#     and its children's revision links go; 404 by digest; gc frees them.
#  3. DELETE_ARTIFACT for test/chart under a policy with deletion: false:
#     logged (info) and dropped; the tag stays and is served.
#
# Exit 0 pass, 77 skip, anything else fail.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

for t in docker-registry skopeo jq curl redis-server redis-cli; do
    command -v "$t" >/dev/null || he_skip "$t is not installed"
done
[ -x "$HE_REPLICATOR" ] || he_skip "no $HE_REPLICATOR (make replicator)"
[ -f "$HE_MODULE" ] || he_skip "no $HE_MODULE (make module)"

d=$(he_tmpdir) || he_fail "mktemp"
Q=harbor:events
rport=$(he_redis_start "$d/redis") || he_fail "redis did not start"
he_registry_start "$d/prim" || he_fail "primary docker-registry did not start"
PRIM=$REGISTRY
he_push_test_images "$PRIM" "$d/img" --big-kib 512 \
    || he_fail "pushing the test images"

store=$d/store
mkdir -p "$store"
V2=$store/docker/registry/v2
conf=$d/replicator.json
cat > "$conf" <<JSON
{
  "primary": {"url": "http://$PRIM"},
  "storage": {"root": "$store"},
  "redis": "127.0.0.1:$rport",
  "redis_queue": "$Q",
  "log_level": "info",
  "policies": [
    {"name": "all", "enabled": true, "override": true, "deletion": true,
     "trigger": {"type": "manual"},
     "filters": [{"type": "name", "value": "test/**"}]},
    {"name": "ev-del", "enabled": true, "override": true, "deletion": true,
     "trigger": {"type": "event_based"},
     "filters": [{"type": "name", "value": "test/multiarch"}]},
    {"name": "ev-keep", "enabled": true, "override": true, "deletion": false,
     "trigger": {"type": "event_based"},
     "filters": [{"type": "name", "value": "test/chart"}]}
  ]
}
JSON

"$HE_REPLICATOR" -c "$conf" run > "$d/run1.log" 2>&1 \
    || { cat "$d/run1.log"; he_fail "first run"; }

HE_NGINX_HTTP_EXTRA="harbor_redis 127.0.0.1:$rport; harbor_redis_queue $Q;"
HE_NGINX_SERVER_EXTRA="location = /hook { harbor_webhook; harbor_webhook_auth off; }"
port=$(he_nginx_start "$d/ngx" "$store") || he_fail "nginx did not start"
E=http://127.0.0.1:$port
ACC='Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json'

code() { curl -s -o /dev/null -w '%{http_code}' -H "$ACC" "$@"; }
digest_of() { awk -F'\t' -v r="$1" '$1 == r { print $3 }' "$d/img/pushed.tsv"; }
blob() { echo "$V2/blobs/sha256/${1:7:2}/${1#sha256:}/data"; }
# a repository's links (revisions, layers), one digest a line
links() {
    find "$V2/repositories/$1/_manifests/revisions" "$V2/repositories/$1/_layers" \
        -name link 2>/dev/null | wc -l
}
gc() {
    "$HE_REPLICATOR" -c "$conf" gc > "$d/gc-$1.log" 2>&1 \
        || { cat "$d/gc-$1.log"; he_fail "gc $1"; }
    sed -n 's/.* \([0-9][0-9]*\) unreferenced.*/\1/p' "$d/gc-$1.log"
}
n0=$(gc 0)
he_eq "gc after the first run: nothing unreferenced" "$n0" 0

# ------------------------------------------------- 1. scheduled run
sdg=$(digest_of test/single:v1)
slayers=$(jq -r '.config.digest, .layers[].digest' "$(blob "$sdg")")
he_eq "the edge serves test/single by digest before" \
    "$(code "$E/v2/test/single/manifests/$sdg")" 200
# the blobs of test/single that no other repository links
only=()
for b in $sdg $slayers; do
    n=$(find "$V2/repositories" -path "*/sha256/${b#sha256:}/link" \
        ! -path "$V2/repositories/test/single/*" | wc -l)
    [ "$n" = 0 ] && only+=("$b")
done
he_pass "test/single@$sdg: ${#only[@]} blobs linked by test/single alone"

c=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "http://$PRIM/v2/test/single/manifests/$sdg")
he_eq "DELETE on the primary" "$c" 202
he_eq "the primary answers 404 by digest" \
    "$(code "http://$PRIM/v2/test/single/manifests/$sdg")" 404

"$HE_REPLICATOR" -c "$conf" run > "$d/run2.log" 2>&1 \
    || { cat "$d/run2.log"; he_fail "the run after the delete failed"; }
grep -q "test/single@$sdg deleted: 1 revision and" "$d/run2.log" \
    || { cat "$d/run2.log"; he_fail "the run did not remove the revision"; }
he_eq "no tag of test/single left" \
    "$(ls "$V2/repositories/test/single/_manifests/tags" 2>/dev/null | wc -l)" 0
he_eq "no revision or layer link of test/single left" "$(links test/single)" 0
he_eq "the edge answers 404 by digest" \
    "$(code "$E/v2/test/single/manifests/$sdg")" 404
for b in $slayers; do
    he_eq "the edge answers 404 for blob $b in test/single" \
        "$(code "$E/v2/test/single/blobs/$b")" 404
done
n1=$(gc 1)
he_eq "gc frees the blobs only test/single linked" "$n1" "${#only[@]}"
for b in "${only[@]}"; do
    [ ! -e "$(blob "$b")" ] || he_fail "gc left $b"
done
he_eq "the other tags are still served" \
    "$(code "$E/v2/test/docker-single/manifests/v1")" 200

# ------------------------------------------ 2. DELETE_ARTIFACT, deletion on
"$HE_REPLICATOR" -c "$conf" daemon > "$d/daemon.log" 2>&1 &
dpid=$!
he_defer "he_kill_pid $dpid"
for i in $(seq 100); do
    grep -q 'events: taking events' "$d/daemon.log" && break
    sleep 0.1
done
grep -q 'events: taking events' "$d/daemon.log" || { cat "$d/daemon.log"; he_fail "the daemon takes no events"; }

payload() { # TYPE REPO-NAME TAG DIGEST
    printf '{"type":"%s","occur_at":%s,"operator":"admin","event_data":{"resources":[{"digest":"%s","tag":"%s","resource_url":"%s/test/%s:%s"}],"repository":{"date_created":1,"name":"%s","namespace":"test","repo_full_name":"test/%s","repo_type":"private"}}}' \
        "$1" "$(date +%s)" "$4" "$3" "$PRIM" "$2" "$3" "$2" "$2"
}
hook() {
    curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        --data-binary "$1" "$E/hook"
}

mdg=$(digest_of test/multiarch:v1)
children=$(jq -r '.manifests[].digest' "$(blob "$mdg")")
he_eq "the edge serves test/multiarch by digest before" \
    "$(code "$E/v2/test/multiarch/manifests/$mdg")" 200
# Harbor deletes an index's children with it; docker-registry needs asking
# (else the edge's misses for them would fetch them again, rightly)
for c in $mdg $children; do
    he_eq "DELETE of test/multiarch@$c on the primary" \
        "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "http://$PRIM/v2/test/multiarch/manifests/$c")" 202
done
he_eq "DELETE_ARTIFACT webhook accepted" \
    "$(hook "$(payload DELETE_ARTIFACT multiarch v1 "$mdg")")" 200
for i in $(seq 150); do
    grep -q "test/multiarch@$mdg deleted" "$d/daemon.log" && break
    sleep 0.1
done
grep -q "test/multiarch@$mdg deleted" "$d/daemon.log" \
    || { cat "$d/daemon.log"; he_fail "the daemon did not prune test/multiarch@$mdg"; }
he_eq "test/multiarch:v1 gone" "$(code "$E/v2/test/multiarch/manifests/v1")" 404
he_eq "the edge answers 404 for the index by digest" \
    "$(code "$E/v2/test/multiarch/manifests/$mdg")" 404
for c in $children; do
    he_eq "the edge answers 404 for child $c by digest" \
        "$(code "$E/v2/test/multiarch/manifests/$c")" 404
done
he_eq "no revision or layer link of test/multiarch left" "$(links test/multiarch)" 0
n2=$(gc 2)
[ "$n2" -ge 1 ] || he_fail "gc freed nothing after the DELETE_ARTIFACT"
[ ! -e "$(blob "$mdg")" ] || he_fail "gc left the deleted index's bytes"
he_pass "DELETE_ARTIFACT: gc freed $n2 blobs"

# ----------------------------------------- 3. DELETE_ARTIFACT, deletion off
cdg=$(digest_of test/chart:0.1.0)
he_eq "DELETE_ARTIFACT for test/chart accepted" \
    "$(hook "$(payload DELETE_ARTIFACT chart 0.1.0 "$cdg")")" 200
for i in $(seq 100); do
    grep -q 'policy "ev-keep" has deletion off' "$d/daemon.log" && break
    sleep 0.1
done
grep 'policy "ev-keep" has deletion off' "$d/daemon.log" | grep -q ' info ' \
    || { cat "$d/daemon.log"; he_fail "no info line for the dropped delete"; }
he_eq "test/chart:0.1.0 is still served" \
    "$(code "$E/v2/test/chart/manifests/0.1.0")" 200
he_pass "t_delete done in $(he_elapsed) s"
