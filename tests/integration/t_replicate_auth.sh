#!/usr/bin/env bash
# t_replicate_auth.sh: harbor-replicator against primaries that need auth.
#
#  1. docker-registry with htpasswd (Basic) over TLS: the replicator learns
#     the scheme from the 401 and sends the configured credentials; a wrong
#     password fails the run with a clear error and writes nothing; without
#     the CA (ca_file) the TLS verification refuses the primary; with it the
#     blobs come over HTTP/2 (Go's server offers h2 over TLS).
#  2. docker-registry with `auth: token` and tests/tools/token-issuer (RS256
#     JWTs with a libtrust kid, as Harbor's core signs them): the Bearer flow
#     from the challenge, one token per scope (cached), pull-only
#     credentials; anonymous access is refused by the registry and the run
#     fails cleanly.
# After each good run the replica's store, served by docker-registry (and by
# nginx with the module when it is built), gives byte-identical manifests.
#
# Exit 0 pass, 77 skip, anything else fail.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

for t in docker-registry skopeo jq curl htpasswd openssl python3; do
    command -v "$t" >/dev/null || he_skip "$t is not installed"
done
[ -x "$HE_REPLICATOR" ] || he_skip "no $HE_REPLICATOR (make replicator)"

TOKEN_ISSUER=$REPO/tests/tools/token-issuer
d=$(he_tmpdir) || he_fail "mktemp"

# write_conf FILE URL STORE [USER PASS [CA_FILE]]
write_conf() {
    local creds='' ca=''
    [ -n "${4:-}" ] && creds=", \"username\": \"$4\", \"password\": \"$5\""
    [ -n "${6:-}" ] && ca=", \"ca_file\": \"$6\""
    cat > "$1" <<JSON
{
  "primary": {"url": "$2"$creds$ca},
  "storage": {"root": "$3"},
  "concurrency": 3,
  "log_level": "${LOGLEVEL:-info}",
  "policies": [
    {"name": "all", "enabled": true, "override": true,
     "trigger": {"type": "manual"},
     "filters": [{"type": "name", "value": "test/**"}]}
  ]
}
JSON
}

# verify_store NAME STORE PRIMARY CREDS PUSHED_TSV
verify_store() {
    local name=$1 store=$2 prim=$3 creds=$4 tsv=$5 ref mt digest srv ngx=''

    mkdir -p "$d/$name-rep"
    ln -sfn "$store" "$d/$name-rep/data"
    he_registry_start "$d/$name-rep" || he_fail "replica registry ($name)"
    srv=$REGISTRY
    if [ -f "$HE_MODULE" ]; then
        ngx=127.0.0.1:$(he_nginx_start "$d/$name-ngx" "$store") \
            || he_fail "nginx ($name)"
    fi
    while IFS=$'\t' read -r ref mt digest; do
        skopeo inspect --raw --tls-verify=false --creds "$creds" \
            "docker://$prim/$ref" > "$d/m.prim" || he_fail "inspect $ref on $prim"
        for s in "$srv" $ngx; do
            skopeo inspect --raw --tls-verify=false "docker://$s/$ref" \
                > "$d/m.rep" || he_fail "$name: inspect $ref on $s"
            cmp -s "$d/m.prim" "$d/m.rep" \
                || he_fail "$name: $ref differs on $s"
            rm -rf "$d/copy"
            skopeo copy -q --all --src-tls-verify=false "docker://$s/$ref" \
                "oci:$d/copy:x" >/dev/null 2>"$d/copy.err" \
                || { cat "$d/copy.err"; he_fail "$name: skopeo copy $ref from $s"; }
        done
    done < "$tsv"
    he_pass "$name: $(wc -l < "$tsv") tags byte-identical, skopeo copy ok (docker-registry${ngx:+ and nginx})"
}

# ------------------------------------------------------- htpasswd + TLS
he_registry_start "$d/basic" --htpasswd alice:s3cret --tls \
    || he_fail "htpasswd docker-registry did not start"
BASIC=$REGISTRY
CA=$d/basic/tls/ca.crt
he_push_test_images "$BASIC" "$d/img-basic" --creds alice:s3cret \
    --tls-verify true --cert-dir "$d/basic/certs.d" \
    || he_fail "push to the htpasswd registry"

write_conf "$d/noca.json" "https://$BASIC" "$d/store-noca" alice s3cret
"$HE_REPLICATOR" -c "$d/noca.json" run > "$d/noca.log" 2>&1 && \
    he_fail "a primary with an unknown CA was trusted"
grep -qi 'certificate' "$d/noca.log" \
    || { cat "$d/noca.log"; he_fail "no certificate error without ca_file"; }
he_pass "TLS: without ca_file the primary's certificate is refused"

write_conf "$d/bad.json" "https://$BASIC" "$d/store-bad" alice wrong "$CA"
"$HE_REPLICATOR" -c "$d/bad.json" run > "$d/bad.log" 2>&1 && \
    he_fail "a wrong password did not fail the run"
grep -q 'refused the configured credentials' "$d/bad.log" \
    || { cat "$d/bad.log"; he_fail "no clear error for a wrong password"; }
[ ! -e "$d/store-bad/docker/registry/v2/repositories" ] \
    || he_fail "a refused run wrote repositories"
he_pass "htpasswd: a wrong password fails the run with a clear error, nothing written"

LOGLEVEL=debug write_conf "$d/basic.json" "https://$BASIC" "$d/store-basic" \
    alice s3cret "$CA"
"$HE_REPLICATOR" -c "$d/basic.json" run > "$d/basic.log" 2>&1 \
    || { cat "$d/basic.log"; he_fail "htpasswd run failed"; }
nh2=$(grep -c 'bytes over HTTP/2' "$d/basic.log")
[ "$nh2" -gt 0 ] || { grep 'bytes over' "$d/basic.log"; he_fail "blobs did not come over HTTP/2"; }
he_pass "htpasswd over TLS: run ok ($("$HE_REPLICATOR" -c "$d/basic.json" status --json | jq '.[-1].bytes') bytes, $nh2 blobs over HTTP/2)"
verify_store basic "$d/store-basic" "$BASIC" alice:s3cret "$d/img-basic/pushed.tsv"

# ------------------------------------------------------------------- token
openssl genrsa -traditional -out "$d/token.key" 2048 2>/dev/null \
    || he_fail "openssl genrsa"
tport=$(he_port)
python3 "$TOKEN_ISSUER" --port "$tport" --key "$d/token.key" \
    --cert-out "$d/token.crt" --user admin:adminpw:pull,push,\* \
    --user reader:readerpw:pull,\* --expires 300 --log "$d/token.log" \
    > "$d/issuer.out" 2>&1 &
ipid=$!
he_defer "he_kill_pid $ipid"
he_wait_tcp "$tport" || { cat "$d/issuer.out"; he_fail "token issuer did not start"; }
he_pass "token issuer on 127.0.0.1:$tport ($(cat "$d/issuer.out"))"

he_registry_start "$d/treg" --token "http://127.0.0.1:$tport/service/token" \
    harbor-token-issuer harbor-registry "$d/token.crt" \
    || he_fail "token docker-registry did not start"
TOKREG=$REGISTRY
chal=$(curl -s -D - -o /dev/null "http://$TOKREG/v2/" | tr -d '\r' | grep -i '^www-authenticate')
[[ "$chal" == *Bearer* ]] || he_fail "no Bearer challenge: $chal"
he_push_test_images "$TOKREG" "$d/img-token" --creds admin:adminpw \
    || he_fail "push to the token registry"

write_conf "$d/anon.json" "http://$TOKREG" "$d/store-anon"
"$HE_REPLICATOR" -c "$d/anon.json" run > "$d/anon.log" 2>&1 && \
    he_fail "anonymous access to the token registry did not fail"
grep -q 'refused the token' "$d/anon.log" \
    || { cat "$d/anon.log"; he_fail "no clear error for a refused token"; }
he_pass "token: anonymous gets a token without access, the run fails cleanly"

: > "$d/token.log"
write_conf "$d/token.json" "http://$TOKREG" "$d/store-token" reader readerpw
"$HE_REPLICATOR" -c "$d/token.json" run > "$d/token-run.log" 2>&1 \
    || { cat "$d/token-run.log"; he_fail "token run failed"; }
nrepo=$(cut -d: -f1 "$d/img-token/pushed.tsv" | sort -u | wc -l)
ntok=$(wc -l < "$d/token.log")
nscope=$(jq -r '.scopes[]' "$d/token.log" | sort -u | wc -l)
he_eq "token: one token per scope (catalog + $nrepo repositories)" "$ntok $nscope" "$((nrepo + 1)) $((nrepo + 1))"
jq -e 'select(.user != "reader" or .status != 200)' "$d/token.log" >/dev/null \
    && he_fail "a token request was not reader's, or failed"
he_pass "token: every token fetched with reader's Basic credentials, pull only"
verify_store token "$d/store-token" "$TOKREG" admin:adminpw "$d/img-token/pushed.tsv"

he_pass "t_replicate_auth done in $(he_elapsed) s"
