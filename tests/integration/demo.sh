#!/usr/bin/env bash
# demo.sh: a whole Harbor Edge in front of a local primary (make demo).
#
#   1. a primary: docker-registry on 127.0.0.1, seeded with the test images
#      (an OCI image, a multi-arch index, a Helm-like chart, Docker copies);
#   2. harbor-replicator -c CONF run with one manual policy copying "**"
#      from the primary into the edge's store;
#   3. nginx with ngx_http_harbor_module serving that store;
#   4. every image pulled back through the edge with skopeo and checked
#      against the digest the primary gave.
#
# Stops everything at the end unless DEMO_KEEP=1, which leaves the primary
# and the edge running and prints how to stop them.  Exit status 0 only if
# every step worked.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

step() {
    if [ -t 1 ]; then
        printf '\n\033[1m== %s\033[0m\n' "$*"
    else
        printf '\n== %s\n' "$*"
    fi
}

[ -x "$HE_REPLICATOR" ] || he_fail "no $HE_REPLICATOR: run make replicator"
[ -f "$HE_MODULE" ] || he_fail "no $HE_MODULE: run make module"

d=$(he_tmpdir demo)

step "1. primary: docker-registry seeded with the test images"
he_registry_start "$d/primary"
he_push_test_images "$REGISTRY" "$d/images" --big-kib "${DEMO_BIG_KIB:-2048}" \
    || he_fail "pushing the test images failed"
echo "primary $REGISTRY_URL (store $HE_REGISTRY_ROOT) holds:"
column -t -s $'\t' "$d/images/pushed.tsv" | sed 's/^/    /'

step "2. harbor-replicator: one manual policy, filter name \"**\""
mkdir -p "$d/store"
chmod 0755 "$d/store"
cat > "$d/replicator.json" <<EOF
{
  "storage": { "root": "$d/store" },
  "primary": { "url": "$REGISTRY_URL" },
  "log_level": "info",
  "policies": [
    {
      "name": "demo",
      "enabled": true,
      "trigger": { "type": "manual" },
      "filters": [ { "type": "name", "value": "**" } ]
    }
  ]
}
EOF
sed 's/^/    /' "$d/replicator.json"
echo "\$ $HE_REPLICATOR -c $d/replicator.json run"
t0=$(date +%s.%N)
if ! "$HE_REPLICATOR" -c "$d/replicator.json" run 2>&1 | sed 's/^/    /'; then
    he_fail "harbor-replicator run failed"
fi
echo "replicated in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')s:" \
     "$(find "$d/store/docker/registry/v2/blobs" -name data | wc -l) blobs," \
     "$(du -sh "$d/store/docker" | cut -f1) in $d/store"

step "3. the edge: nginx + ngx_http_harbor_module on the replica store"
he_nginx_start "$d/edge" "$d/store" > /dev/null || he_fail "nginx did not start"
EDGE=127.0.0.1:$HE_NGINX_PORT
echo "edge http://$EDGE/v2/ (config $HE_NGINX_DIR/nginx.conf)"
echo "\$ curl -s http://$EDGE/v2/_catalog"
echo "    $(curl -s "http://$EDGE/v2/_catalog")"

step "4. pull every image through the edge with skopeo"
fails=0
while IFS=$'\t' read -r ref mt dg; do
    all=()
    case $mt in
        *index*|*list*) all=(--all) ;;
    esac
    got=$(he_skopeo inspect --raw --tls-verify=false "docker://$EDGE/$ref" \
          | sha256sum | cut -d' ' -f1) || got=none
    out=$d/pulled/${ref//[\/:]/_}
    mkdir -p "$d/pulled"
    if he_skopeo copy --quiet "${all[@]}" --src-tls-verify=false \
           "docker://$EDGE/$ref" "oci:$out:x" > "$d/copy.log" 2>&1 \
       && [ "sha256:$got" = "$dg" ]
    then
        printf '    ok    %-26s %s  %s\n' "$ref" "${dg:0:19}..." "$(du -sh "$out" | cut -f1)"
    else
        printf '    FAIL  %-26s edge manifest sha256:%s, primary %s; %s\n' \
            "$ref" "${got:0:12}" "${dg:0:19}" "$(tail -1 "$d/copy.log")"
        fails=$((fails + 1))
    fi
done < "$d/images/pushed.tsv"
# (skopeo --tls-verify=false first tries TLS on the plain port: those
# handshakes show up as 400s outside /v2/ and are not counted)
echo "edge access log: $(grep -c ' /v2/' "$HE_NGINX_DIR/logs/access.log") API requests," \
     "$(awk '$3 ~ /^\/v2\// && $4 >= 400' "$HE_NGINX_DIR/logs/access.log" | wc -l) answered >= 400"

step "summary"
if [ "$fails" != 0 ]; then
    he_fail "$fails image(s) could not be pulled through the edge"
fi
echo "every image on the primary was replicated and pulled back through the edge"
if [ "${DEMO_KEEP:-0}" = 1 ]; then
    cat > "$d/stop.sh" <<EOF
#!/bin/sh
# stops what demo.sh left running
kill -QUIT $(cat "$HE_NGINX_DIR/nginx.pid") 2>/dev/null
kill $REGISTRY_PID 2>/dev/null
echo stopped; echo "rm -rf $d   # to remove the demo's files"
EOF
    chmod +x "$d/stop.sh"
    : > "$HE_STATE/cleanup"     # DEMO_KEEP: nothing is stopped at exit
    echo "DEMO_KEEP=1: still running"
    echo "    edge     http://$EDGE/v2/     (nginx pid $(cat "$HE_NGINX_DIR/nginx.pid"))"
    echo "    primary  $REGISTRY_URL/v2/   (docker-registry pid $REGISTRY_PID)"
    echo "    try      skopeo inspect --tls-verify=false docker://$EDGE/test/multiarch:v1"
    echo "    stop     $d/stop.sh"
else
    echo "edge was http://$EDGE/v2/; stopping everything (DEMO_KEEP=1 keeps it running)"
fi
