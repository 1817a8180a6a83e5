#!/usr/bin/env bash
# t_cascade_auth.sh: a cascade with Harbor's token auth end to end
# (docs/deploy.md, "A cascade"): primary -> regional edge -> site edge,
# both edges with "harbor_auth token", the challenge and the token service
# the primary's.
#
# Real parts: the token issuer (Harbor's token service's JWTs), a
# docker-registry with token auth as the primary (nothing public), the
# regional edge (empty store, misses passed to the primary), the site edge
# (misses passed to the regional edge) and the site's replicator, whose
# primary is the regional edge.
#
#   1. an anonymous pull at the site is refused with the primary's
#      challenge (realm, service, scope), as the primary would;
#   2. skopeo with the robot's credentials pulls a cold image through the
#      site: the site and the regional edge check the token, and forward it
#      to the next level, where it is checked again;
#   3. the regional edge pins prod/** with a policy of its own (a listing
#      is its store's: the site's policies see what it holds); the site's
#      replicator runs a policy against the regional edge with
#      credentials: catalog, tags, manifests, blobs and referrers through
#      tokens the primary's service issued; the site ends with the
#      primary's tags;
#   4. a token for another repository is refused at the site (401 with
#      error="insufficient_scope", as distribution), and the same token
#      gets its own repository from the site's store.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

for t in docker-registry skopeo jq curl openssl python3; do
    command -v "$t" >/dev/null || he_skip "$t is not installed"
done
[ -f "$HE_MODULE" ] || he_fail "no $HE_MODULE (make module)"
[ -x "$HE_REPLICATOR" ] || he_fail "no $HE_REPLICATOR (make replicator)"

d=$(he_tmpdir) || he_fail "mktemp"

# ------------------------------------------------------------- primary

openssl genrsa -out "$d/token.key" 2048 2>/dev/null || he_fail "openssl genrsa"
tport=$(he_port)
"$REPO/tests/tools/token-issuer" --port "$tport" --key "$d/token.key" \
    --cert-out "$d/token.crt" --user admin:adminpw:pull,push,* \
    --user robot:robotpw:pull --log "$d/issuer.log" \
    > "$d/issuer.out" 2>&1 < /dev/null &
he_defer "he_kill_pid $!"
he_wait_tcp "$tport" || { cat "$d/issuer.out"; he_fail "token issuer"; }
REALM=http://127.0.0.1:$tport/service/token

rport=$(he_port)
mkdir -p "$d/treg/data"
cat > "$d/treg/config.yml" <<YML
version: 0.1
log: {level: warn, formatter: text}
storage:
  filesystem: {rootdirectory: $d/treg/data}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$rport, secret: throwaway}
auth:
  token:
    realm: $REALM
    service: harbor-registry
    issuer: harbor-token-issuer
    rootcertbundle: $d/token.crt
YML
setsid docker-registry serve "$d/treg/config.yml" > "$d/treg/log" 2>&1 < /dev/null &
he_defer "he_kill_pid $!"
he_wait_http "http://127.0.0.1:$rport/v2/" || he_fail "token docker-registry"
PRIMARY=127.0.0.1:$rport
he_push_test_images "$PRIMARY" "$d/img" --ns prod --creds admin:adminpw \
    || he_fail "push of prod/*"
he_pass "primary $PRIMARY (token auth, nothing public) holds prod/*"

AUTH="harbor_auth token;
            harbor_token_realm $REALM;
            harbor_token_cert $d/token.crt;"

# ------------------------------------------------------ regional edge

mkdir -p "$d/region/store"
HE_NGINX_HTTP_EXTRA=''
HE_NGINX_SERVER_EXTRA="location @primary {
            proxy_pass http://$PRIMARY;
            proxy_buffering off;
        }"
he_nginx_start "$d/region/ngx" "$d/region/store" \
    "$AUTH harbor_miss_pass @primary;" > /dev/null || he_fail "regional edge"
RPORT=$HE_NGINX_PORT

# ---------------------------------------------------------- site edge

mkdir -p "$d/site/store"
HE_NGINX_SERVER_EXTRA="location @regional {
            proxy_pass http://127.0.0.1:$RPORT;
            proxy_buffering off;
        }"
he_nginx_start "$d/site/ngx" "$d/site/store" \
    "$AUTH harbor_miss_pass @regional;" > /dev/null || he_fail "site edge"
SPORT=$HE_NGINX_PORT
he_pass "regional edge on $RPORT, site edge on $SPORT, both harbor_auth token"

# -------------------------------------------- 1. the primary's challenge

curl -s -D "$d/h1" -o "$d/b1" "http://127.0.0.1:$SPORT/v2/prod/single/manifests/v1"
he_eq "anonymous manifest at the site: 401" "$(head -1 "$d/h1" | cut -d' ' -f2)" 401
grep -qi "^www-authenticate: Bearer realm=\"$REALM\",service=\"harbor-registry\",scope=\"repository:prod/single:pull\"" "$d/h1" \
    || he_fail "the challenge: $(grep -i www-authenticate "$d/h1")"
he_pass "... with the primary's challenge"

# ----------------------------------------------- 2. a pull with a token

he_skopeo copy --src-tls-verify=false --src-creds robot:robotpw \
    "docker://127.0.0.1:$SPORT/prod/single:v1" "oci:$d/pulled:v1" \
    > "$d/skopeo.out" 2>&1 || { cat "$d/skopeo.out"; he_fail "skopeo through the site"; }
he_pass "skopeo (robot) pulls prod/single:v1 cold through the site and the regional edge"
he_eq "the regional edge passed it on with the token (no 401 from the primary)" \
    "$(grep -c ' /v2/prod/[^ ]* 401 ' "$d/region/ngx/logs/access.log")" 0
he_eq "... and answered every request of the pull" \
    "$(grep -c ' /v2/prod/single/[^ ]* 200 ' "$d/region/ngx/logs/access.log")" 4

he_skopeo copy --src-tls-verify=false "docker://127.0.0.1:$SPORT/prod/single:v1" \
    "oci:$d/anon:v1" > "$d/anon.out" 2>&1 \
    && he_fail "an anonymous skopeo pulled a private image through the site"
he_pass "an anonymous skopeo is refused"

# ------------------------------------- 3. the site's replicator, tokens

# A listing is the store's (a catalog or tags/list is never passed on): the
# site's policies see what the regional edge holds, so the regional edge
# pins prod/** first with a policy of its own, from the primary.
cat > "$d/region/replicator.json" <<EOF
{
    "storage": {"root": "$d/region/store"},
    "primary": {"url": "http://$PRIMARY", "type": "docker-registry",
                "username": "admin", "password": "adminpw"},
    "log_level": "info",
    "policies": [{"name": "region", "enabled": true,
                  "trigger": {"type": "manual"},
                  "filters": [{"type": "name", "value": "prod/**"}],
                  "override": true}]
}
EOF
"$HE_REPLICATOR" -c "$d/region/replicator.json" run --policy region > "$d/region-run.log" 2>&1 \
    || { tail -20 "$d/region-run.log"; he_fail "the regional edge's policy run"; }
he_pass "the regional edge pinned prod/** from the primary"

cat > "$d/site/replicator.json" <<EOF
{
    "storage": {"root": "$d/site/store"},
    "primary": {"url": "http://127.0.0.1:$RPORT", "type": "docker-registry",
                "username": "admin", "password": "adminpw"},
    "log_level": "info",
    "policies": [{"name": "site", "enabled": true,
                  "trigger": {"type": "manual"},
                  "filters": [{"type": "name", "value": "prod/**"}],
                  "override": true}]
}
EOF
"$HE_REPLICATOR" -c "$d/site/replicator.json" run --policy site > "$d/run.log" 2>&1 \
    || { tail -20 "$d/run.log"; he_fail "the site's policy run against the regional edge"; }
V2=$d/site/store/docker/registry/v2
n=0
while IFS=$'\t' read -r ref mt dg; do
    repo=${ref%%:*} tag=${ref#*:}
    got=$(cat "$V2/repositories/$repo/_manifests/tags/$tag/current/link" 2>/dev/null)
    [ "$got" = "$dg" ] || he_fail "site: $ref is '$got', the primary's is $dg"
    n=$((n + 1))
done < "$d/img/pushed.tsv"
he_pass "the site's policy run (catalog, tags, manifests, blobs through tokens) holds the primary's $n tags"
grep -q 'registry:catalog:\*' "$d/issuer.log" \
    || he_fail "the catalog was never asked a token for"
he_pass "... the catalog with a registry:catalog:* token"

# -------------------------------------- 4. a token for another repository

tok=$(curl -s -u robot:robotpw "$REALM?service=harbor-registry&scope=repository:prod/chart:pull" \
      | jq -r .token)
code=$(curl -s -D "$d/h4" -o "$d/b4" -w '%{http_code}' -H "Authorization: Bearer $tok" \
       "http://127.0.0.1:$SPORT/v2/prod/single/manifests/v1")
he_eq "a token for prod/chart asking for prod/single at the site: 401" "$code" 401
grep -qi '^www-authenticate: Bearer .*error="insufficient_scope"' "$d/h4" \
    || he_fail "no insufficient_scope in $(grep -i www-authenticate "$d/h4")"
he_pass "... error=\"insufficient_scope\", as distribution says it"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" \
       -H "Accept: application/vnd.oci.image.manifest.v1+json" \
       "http://127.0.0.1:$SPORT/v2/prod/chart/manifests/0.1.0")
he_eq "the same token for prod/chart: 200 (from the site's store)" "$code" 200

he_pass "t_cascade_auth"
