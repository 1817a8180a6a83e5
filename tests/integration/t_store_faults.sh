#!/bin/bash
#
# t_store_faults.sh: an operator's faults in the store (wrong permissions, a
# wrong or missing root) are reported as faults, never as "missing" or as a
# shorter list.  nginx runs as root with workers as "nobody"
# (nginx's default), and files are chmod'ed under it:
#
#   - an unreadable blob: 500 UNKNOWN, not 404 BLOB_UNKNOWN; an unreadable
#     tag link: 500, not 404 MANIFEST_UNKNOWN;
#   - an unreadable repositories/: _catalog 500, not 200 {"repositories":[]};
#   - an unreadable subtree: _catalog and tags/list both 500;
#   - each with exactly one [error] line naming the path and no [crit];
#     restored, everything is served again;
#   - harbor_root missing: "nginx -t" warns (and still passes), the ping
#     answers 503 and a manifest 500; once the directory appears the same
#     workers serve it (ping 200, empty catalog);
#   - harbor_root unreadable by the worker user: "nginx -t" names the user
#     and the path, the ping answers 503;
#   - harbor_root replaced after the configuration was loaded: the ping
#     answers 503 until a reload;
#   - a kernel without openat2() (an LD_PRELOAD shim answers ENOSYS): the
#     module says so and opens component by component, with the same
#     answers (symlinks refused, unreadable files 500).
#
# Exit: 0 pass, 77 skip (not root, no module), 1 fail.

. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || he_skip "needs root (workers run as nobody, files are chmod'ed)"
[ -f "$HE_MODULE" ] || he_skip "no $HE_MODULE (make module)"
id nobody >/dev/null 2>&1 || he_skip "no user nobody"

d=$(he_tmpdir) || he_fail "no temp dir"
root=$d/store
v2=$root/docker/registry/v2

# a tiny store: lib/app (tag v1: a manifest, a config, a layer), lib/other
python3 - "$v2" <<'PY' || he_fail "could not build the store"
import hashlib, json, os, sys
v2 = sys.argv[1]
def sha(b): return hashlib.sha256(b).hexdigest()
def write(p, b):
    os.makedirs(os.path.dirname(p), exist_ok=True)
    open(p, "wb").write(b)
def blob(b):
    write("%s/blobs/sha256/%s/%s/data" % (v2, sha(b)[:2], sha(b)), b)
    return "sha256:" + sha(b)
layer = b"layer bytes " * 100
config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
man = json.dumps({"schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
               "digest": "sha256:" + sha(config), "size": len(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": "sha256:" + sha(layer), "size": len(layer)}]},
    separators=(",", ":")).encode()
for repo in ("lib/app", "lib/other"):
    r = "%s/repositories/%s" % (v2, repo)
    for b in (layer, config, man):
        d = blob(b)
        write("%s/_layers/sha256/%s/link" % (r, d[7:]), d.encode())
    d = blob(man)
    write("%s/_manifests/revisions/sha256/%s/link" % (r, d[7:]), d.encode())
    write("%s/_manifests/tags/v1/current/link" % r, d.encode())
    write("%s/_manifests/tags/v1/index/sha256/%s/link" % (r, d[7:]),
          d.encode())
PY
chmod -R a+rX "$root"
layer=sha256:$(python3 -c 'import hashlib; print(hashlib.sha256(b"layer bytes " * 100).hexdigest())')
layer_data=$v2/blobs/sha256/${layer:7:2}/${layer:7}/data

he_nginx_start "$d/ngx" "$root" >/dev/null || he_fail "nginx did not start"
port=$HE_NGINX_PORT
errlog=$HE_NGINX_DIR/logs/error.log
base=http://127.0.0.1:$port
A='Accept: application/vnd.oci.image.manifest.v1+json'

# get GET|HEAD PATH: "STATUS BODY" (HEAD: "STATUS")
get() {
    local out
    if [ "$1" = HEAD ]; then
        curl -s -I -o /dev/null -w '%{http_code}' -H "$A" --max-time 30 \
             "$base$2"
        return
    fi
    out=$(curl -s -o "$d/body" -w '%{http_code}' -H "$A" --max-time 30 \
          "$base$2")
    echo "$out $(head -c 300 "$d/body")"
}

# one_error WHAT PATH: exactly one [error] line since the log was emptied,
# naming PATH, and no [crit]
one_error() {
    local n c
    n=$(grep -a -c '\[error\]' "$errlog")
    c=$(grep -a -c '\[crit\]' "$errlog")
    if [ "$n" != 1 ] || [ "$c" != 0 ] || ! grep -a '\[error\]' "$errlog" | grep -q -F "\"$2"; then
        cat "$errlog"
        he_fail "$1: want one [error] line naming $2 and no [crit]; got $n [error], $c [crit] (above)"
    fi
    he_pass "$1: one [error] line naming $2"
}

empty_log() { : > "$errlog"; }

# ------------------------------------------------------------ baseline

he_eq "ping" "$(get GET /v2/)" "200 {}"
he_eq "catalog" "$(get GET /v2/_catalog)" '200 {"repositories":["lib/app","lib/other"]}'
he_eq "tags/list" "$(get GET /v2/lib/other/tags/list)" '200 {"name":"lib/other","tags":["v1"]}'
he_eq "blob" "$(get GET /v2/lib/app/blobs/$layer | cut -c1-3)" "200"
he_eq "manifest" "$(get GET /v2/lib/app/manifests/v1 | cut -c1-3)" "200"

# ------------------------------------------------------------ an unreadable blob

chmod 000 "$layer_data"
empty_log
he_eq "unreadable blob: GET is a store fault" \
    "$(get GET /v2/lib/app/blobs/$layer)" \
    '500 {"errors":[{"code":"UNKNOWN","message":"unknown error","detail":{}}]}'
one_error "unreadable blob" "$layer_data"
empty_log
he_eq "unreadable blob: HEAD 500" "$(get HEAD /v2/lib/app/blobs/$layer)" "500"
one_error "unreadable blob, HEAD" "$layer_data"
chmod 644 "$layer_data"
he_eq "blob readable again: 200" "$(get GET /v2/lib/app/blobs/$layer | cut -c1-3)" "200"

# ------------------------------------------------------------ an unreadable tag link

tag_link=$v2/repositories/lib/app/_manifests/tags/v1/current/link
chmod 000 "$tag_link"
empty_log
he_eq "unreadable tag link: 500, not 404 MANIFEST_UNKNOWN" \
    "$(get GET /v2/lib/app/manifests/v1 | cut -c1-3)" "500"
one_error "unreadable tag link" "$tag_link"
chmod 644 "$tag_link"

# ------------------------------------------------------------ an unreadable repositories/

chmod 000 "$v2/repositories"
empty_log
he_eq "unreadable repositories/: _catalog 500, not 200 []" \
    "$(get GET /v2/_catalog | cut -c1-3)" "500"
one_error "unreadable repositories/" "$v2/repositories"
chmod 755 "$v2/repositories"

# ------------------------------------------------------------ an unreadable subtree

chmod 000 "$v2/repositories/lib/other"
empty_log
he_eq "unreadable subtree: _catalog 500, not a shorter list" \
    "$(get GET /v2/_catalog | cut -c1-3)" "500"
one_error "unreadable subtree, _catalog" "$v2/repositories/lib/other"
empty_log
he_eq "unreadable subtree: tags/list 500 too" \
    "$(get GET /v2/lib/other/tags/list | cut -c1-3)" "500"
one_error "unreadable subtree, tags/list" "$v2/repositories/lib/other"
empty_log
he_eq "a readable repository beside it is still served" \
    "$(get GET /v2/lib/app/manifests/v1 | cut -c1-3)" "200"
chmod 755 "$v2/repositories/lib/other"

# searchable but not listable: the tags directory
tags_dir=$v2/repositories/lib/other/_manifests/tags
chmod 711 "$tags_dir"
empty_log
he_eq "unlistable tags/: tags/list 500" \
    "$(get GET /v2/lib/other/tags/list | cut -c1-3)" "500"
one_error "unlistable tags/" "$tags_dir"
chmod 755 "$tags_dir"
he_eq "restored: catalog" "$(get GET /v2/_catalog)" '200 {"repositories":["lib/app","lib/other"]}'
he_eq "restored: tags/list" "$(get GET /v2/lib/other/tags/list)" '200 {"name":"lib/other","tags":["v1"]}'

# ------------------------------------------------------------ nginx -t and a wrong root

# nginx -t CONF: its stderr; fails the test if the configuration is refused
nginx_t() {
    "$NGINX" -t -p "$1" -c "$1/nginx.conf" -e "$1/logs/t.log" 2>&1 \
        || he_fail "nginx -t refused $1/nginx.conf"
}

missing=$d/missing-store
he_nginx_conf "$d/ngx-t" "$missing" "$(he_port)" || he_fail "no conf"
out=$(nginx_t "$d/ngx-t")
echo "$out" | grep -q "\[warn\].*harbor_root \"$missing\" does not exist (set in $d/ngx-t/nginx.conf:" \
    || he_fail "nginx -t does not warn about a missing harbor_root: $out"
he_pass "nginx -t warns: harbor_root \"$missing\" does not exist (and passes)"

chmod 700 "$root"
he_nginx_conf "$d/ngx-t2" "$root" "$(he_port)" || he_fail "no conf"
out=$(nginx_t "$d/ngx-t2")
echo "$out" | grep -q "\[warn\].*harbor_root \"$root\": the worker user \"nobody\" cannot read \"$root\"" \
    || he_fail "nginx -t does not warn about a root the worker user cannot read: $out"
he_pass "nginx -t warns: the worker user \"nobody\" cannot read \"$root\""

empty_log
he_eq "root unreadable by the worker: ping 503" \
    "$(get GET /v2/)" \
    '503 {"errors":[{"code":"UNAVAILABLE","message":"the store is not usable","detail":{}}]}'
one_error "root unreadable, ping" "$root"
chmod 755 "$root"
he_eq "root readable again: ping 200" "$(get GET /v2/)" "200 {}"
out=$(nginx_t "$d/ngx-t2")
if echo "$out" | grep -q "harbor_root"; then
    he_fail "nginx -t warns about a usable root: $out"
fi
he_pass "nginx -t says nothing about a usable root"

# a running edge whose root does not exist yet
he_nginx_start "$d/ngx2" "$missing" >/dev/null || he_fail "nginx with a missing root did not start"
port2=$HE_NGINX_PORT
errlog2=$HE_NGINX_DIR/logs/error.log
grep -a -q "harbor_root \"$missing\" does not exist" "$errlog2" \
    || he_fail "no warning about the missing root in $errlog2"
he_pass "starting with a missing root: warned in the error log"
he_eq "missing root: ping 503" \
    "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port2/v2/")" "503"
he_eq "missing root: a manifest is a store fault (500), not a miss" \
    "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port2/v2/lib/app/manifests/v1")" "500"
grep -a -q "\[error\].*harbor_root \"$missing\" failed" "$errlog2" \
    || he_fail "no [error] line naming the missing root"
he_pass "missing root: [error] names it"
mkdir -p "$missing"
he_eq "root created: the same workers open it, ping 200" \
    "$(curl -s "http://127.0.0.1:$port2/v2/")" "{}"
he_eq "root created: an empty store's catalog" \
    "$(curl -s "http://127.0.0.1:$port2/v2/_catalog")" '{"repositories":[]}'

# the root replaced under a running edge: served after a reload
mv "$root" "$root.old"
mkdir "$root"
empty_log
he_eq "root replaced: ping 503 until a reload" "$(get GET /v2/ | cut -c1-3)" "503"
grep -a -q "is no longer the directory opened.*reload" "$errlog" \
    || he_fail "the ping does not say that the root was replaced"
he_pass "root replaced: the [error] line says to reload"
old_worker=$(he_nginx_workers "$d/ngx")
he_nginx_reload "$d/ngx"
for i in $(seq 100); do
    w=$(he_nginx_workers "$d/ngx")
    [ -n "$w" ] && [ "$w" != "$old_worker" ] && break
    sleep 0.1
done
for i in $(seq 50); do
    [ "$(get HEAD /v2/)" = 200 ] && break
    sleep 0.1
done
he_eq "after the reload: ping 200 on the new root" "$(get GET /v2/)" "200 {}"

# ------------------------------------------------------------ no openat2()

# A kernel before 5.6 (or a seccomp filter) answers ENOSYS: the module says
# so once and opens component by component, with the same answers.  An
# LD_PRELOAD shim makes syscall(SYS_openat2) fail that way.
if command -v cc >/dev/null 2>&1; then
    cat > "$d/noopenat2.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/syscall.h>

long
syscall(long n, ...)
{
    int             i;
    long            a[6];
    va_list         ap;
    static long   (*real)(long, ...);

    va_start(ap, n);
    for (i = 0; i < 6; i++) {
        a[i] = va_arg(ap, long);
    }
    va_end(ap);

    if (n == SYS_openat2) {
        errno = ENOSYS;
        return -1;
    }

    if (real == NULL) {
        real = (long (*)(long, ...)) dlsym(RTLD_NEXT, "syscall");
    }

    return real(n, a[0], a[1], a[2], a[3], a[4], a[5]);
}
C
    cc -shared -fPIC -o "$d/noopenat2.so" "$d/noopenat2.c" -ldl \
        || he_fail "could not build the ENOSYS shim"
    root=$root.old
    v2=$root/docker/registry/v2
    mkdir -p "$v2/repositories/lib/other/_manifests/tags/sym/current"
    ln -s "$v2/repositories/lib/app/_manifests/tags/v1/current/link" \
        "$v2/repositories/lib/other/_manifests/tags/sym/current/link"
    LD_PRELOAD=$d/noopenat2.so he_nginx_start "$d/ngx3" "$root" >/dev/null \
        || he_fail "nginx under the ENOSYS shim did not start"
    base=http://127.0.0.1:$HE_NGINX_PORT
    errlog=$HE_NGINX_DIR/logs/error.log
    he_eq "no openat2: manifest" "$(get GET /v2/lib/app/manifests/v1 | cut -c1-3)" "200"
    he_eq "no openat2: blob" "$(get GET /v2/lib/app/blobs/$layer | cut -c1-3)" "200"
    grep -a -q "openat2() is not available" "$errlog" \
        || he_fail "no notice that openat2() is not available"
    he_pass "no openat2: the module says it opens component by component"
    empty_log
    he_eq "no openat2: a symlinked tag link is refused (a miss)" \
        "$(get GET /v2/lib/other/manifests/sym | cut -c1-3)" "404"
    grep -a -q "Too many levels of symbolic links" "$errlog" \
        || he_fail "no symlink refusal logged"
    he_pass "no openat2: the symlink refusal is logged"
    chmod 000 "$v2/blobs/sha256/${layer:7:2}/${layer:7}/data"
    empty_log
    he_eq "no openat2: an unreadable blob is 500 too" \
        "$(get GET /v2/lib/app/blobs/$layer | cut -c1-3)" "500"
    one_error "no openat2: unreadable blob" \
        "$v2/blobs/sha256/${layer:7:2}/${layer:7}/data"
    chmod 000 "$v2/repositories/lib/other"
    empty_log
    he_eq "no openat2: an unreadable subtree fails the catalog" \
        "$(get GET /v2/_catalog | cut -c1-3)" "500"
    one_error "no openat2: unreadable subtree" "$v2/repositories/lib/other"
    chmod 755 "$v2/repositories/lib/other"
    chmod 644 "$v2/blobs/sha256/${layer:7:2}/${layer:7}/data"
else
    he_log "no cc: the ENOSYS fallback is not checked"
fi

he_pass "t_store_faults done in $(he_elapsed)s"
