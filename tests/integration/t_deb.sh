#!/usr/bin/env bash
# t_deb.sh: the Debian packages, installed and purged on this very system.
#
# `make deb` (packaging/build-deb.sh) builds libnginx-mod-http-harbor and
# harbor-replicator with dpkg-buildpackage and dh_nginx.  This test installs
# both with apt-get, checks what Debian's own libnginx-mod-* packages do (the
# module enabled through /etc/nginx/modules-enabled, a dependency on the
# exact nginx ABI, nginx -t passes with a site that uses the module), the
# replicator's side (binary, conffile, man page, system user, a unit that
# systemd-analyze accepts, not enabled on installation), then purges both
# and checks that nothing is left.  The system is left as it was: the test
# skips when the packages are already installed, when the system's nginx is
# running (installing a module reloads it), or when /var/lib/harbor-edge
# exists without the package (purge would delete it); and it removes the
# harbor-edge user it caused to be created.
#
# Reuses build/deb/*.deb when they are newer than every source; DEB_REBUILD=1
# forces a build.  Needs root.

. "$(dirname "$0")/lib.sh"

PKGS=(libnginx-mod-http-harbor harbor-replicator)
DEB_DIR=$REPO/build/deb
MOD_LINK=/etc/nginx/modules-enabled/50-mod-http-harbor.conf
MOD_CONF=/usr/share/nginx/modules-available/mod-http-harbor.conf
MOD_SO=/usr/lib/nginx/modules/ngx_http_harbor_module.so
UNIT=/lib/systemd/system/harbor-replicator.service
CONF=/etc/harbor-edge/replicator.json
STATE=/var/lib/harbor-edge
HE_USER=harbor-edge
# what systemd-analyze says when it cannot work in a container
NO_SYSTEMD='failed to (connect|initialize|set ?up)|not booted'
NO_SYSTEMD+='|operation not permitted'

export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -y -q -o DPkg::Lock::Timeout=120 -o APT::Sandbox::User=root)


pkg_status() {
    dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | tr -d ' '
}


purge_all() {
    local p any=()

    for p in "${PKGS[@]}"; do
        [ -n "$(pkg_status "$p")" ] && [ "$(pkg_status "$p")" != un ] \
            && any+=("$p")
    done
    [ ${#any[@]} -eq 0 ] || "${APT[@]}" purge "${any[@]}"
}


# ------------------------------------------------------------ preconditions

[ "$(id -u)" = 0 ] || he_skip "needs root: it installs and purges packages"

# One run at a time on a machine: the packages, the user and build/deb are
# shared by everyone running the suite.  The lock goes with this shell.
exec 9>/run/lock/harbor-edge-t_deb.lock
if ! flock -w "${HE_DEB_LOCK_WAIT:-150}" 9; then
    he_skip "another t_deb.sh has held /run/lock/harbor-edge-t_deb.lock" \
            "for ${HE_DEB_LOCK_WAIT:-150}s"
fi

for tool in apt-get dpkg-buildpackage dh dh_nginx jq; do
    command -v "$tool" >/dev/null 2>&1 \
        || he_fail "$tool not found:" \
                   "install dpkg-dev debhelper nginx-dev jq"
done

for p in "${PKGS[@]}"; do
    case $(pkg_status "$p") in
        ''|un) ;;
        *) he_skip "$p is already on this system ($(pkg_status "$p")):" \
                   "the test would remove it" ;;
    esac
done

if systemctl is-active -q nginx 2>/dev/null \
   || { [ -s /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; }
then
    he_skip "the system's nginx is running: installing a module reloads it"
fi

[ -e "$STATE" ] \
    && he_skip "$STATE exists and no package owns it: purge would delete it"

user_before=0
group_before=0
etc_before=0
getent passwd "$HE_USER" >/dev/null && user_before=1
getent group "$HE_USER" >/dev/null && group_before=1
[ -e /etc/harbor-edge ] && etc_before=1
enabled_before=$(ls -A /etc/nginx/modules-enabled)

# whatever happens below, the packages go and the user we caused goes
he_defer "[ $group_before = 1 ] || delgroup --quiet --system $HE_USER"
he_defer "[ $user_before = 1 ] || deluser --quiet --system $HE_USER"
he_defer "purge_all"

d=$(he_tmpdir)

# ------------------------------------------------------------------- build

debs=()
for p in "${PKGS[@]}"; do
    for f in "$DEB_DIR/${p}_"*.deb; do
        [ -f "$f" ] && debs+=("$f")
    done
done

stale=1
if [ "${DEB_REBUILD:-0}" != 1 ] && [ ${#debs[@]} -eq ${#PKGS[@]} ]; then
    oldest=$(ls -1tr "${debs[@]}" | head -1)
    newer=$(cd "$REPO" && find Makefile config README.md conf docs \
                ngx_harbor_module replicator debian packaging \
                -newer "$oldest" -print -quit 2>/dev/null)
    if [ -z "$newer" ]; then
        stale=0
        he_pass "reusing build/deb (newer than every source)"
    else
        he_log "build/deb is older than $newer: rebuilding"
    fi
fi

if [ $stale = 1 ]; then
    t0=$(date +%s)
    if ! "$REPO/packaging/build-deb.sh" "$DEB_DIR" >"$d/build-deb.out" 2>&1
    then
        cat "$d/build-deb.out"
        he_fail "make deb (packaging/build-deb.sh)"
    fi
    he_pass "make deb built $(cd "$DEB_DIR" && echo *.deb)" \
            "in $(( $(date +%s) - t0 ))s"
    debs=()
    for p in "${PKGS[@]}"; do
        debs+=("$(ls -1 "$DEB_DIR/${p}_"*.deb | head -1)")
    done
fi

# ----------------------------------------------------------------- install

if ! "${APT[@]}" install --no-install-recommends "${debs[@]}" \
        >"$d/install.out" 2>&1
then
    cat "$d/install.out"
    he_fail "apt-get install ${debs[*]##*/}"
fi
for p in "${PKGS[@]}"; do
    he_eq "$p installed" "$(pkg_status "$p")" ii
done

# ------------------------------------------------------------ nginx module

he_check "the module is in /usr/lib/nginx/modules" test -f "$MOD_SO"
he_eq "modules-available/mod-http-harbor.conf loads it" \
    "$(cat "$MOD_CONF")" "load_module modules/ngx_http_harbor_module.so;"
he_eq "enabled: $MOD_LINK -> $MOD_CONF" "$(readlink "$MOD_LINK")" "$MOD_CONF"

abi=$(dpkg-query -W -f='${Provides}' nginx | grep -o 'nginx-abi-[^ ,]*')
deps=$(dpkg-query -W -f='${Depends}' libnginx-mod-http-harbor)
case ", $deps," in
    *", $abi,"*)
        he_pass "depends on the nginx ABI nginx provides ($abi): $deps" ;;
    *)
        he_fail "libnginx-mod-http-harbor Depends '$deps' lacks '$abi'" ;;
esac

# nginx -t on a site of our own, never the system's configuration
port=$(he_port)
mkdir -p "$d/ngx/logs" "$d/ngx/tmp" "$d/store/docker/registry/v2"
site() {
    cat <<EOF
$1
pid $d/ngx/nginx.pid;
error_log $d/ngx/logs/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $d/ngx/tmp/client;
    proxy_temp_path $d/ngx/tmp/proxy;
    fastcgi_temp_path $d/ngx/tmp/fastcgi;
    uwsgi_temp_path $d/ngx/tmp/uwsgi;
    scgi_temp_path $d/ngx/tmp/scgi;
    server {
        listen 127.0.0.1:$port;
        harbor_root $d/store;
        location /v2/ {
            harbor_registry on;
        }
    }
}
EOF
}
site "include /etc/nginx/modules-enabled/*.conf;" > "$d/ngx/nginx.conf"
site "# no modules-enabled" > "$d/ngx/bare.conf"

# nginx -t FILE, with nginx's own prefix: Debian's snippets name modules/
# relative to it
ngx_t() {
    "$NGINX" -t -c "$1" -e "$d/ngx/logs/error.log" 2>&1
}

if out=$(ngx_t "$d/ngx/nginx.conf"); then
    he_pass "nginx -t with modules-enabled and harbor_registry:" \
            "$(echo "$out" | tail -1)"
else
    echo "$out"
    he_fail "nginx -t with the packaged module"
fi
# the example site the package ships, as /etc/nginx/sites-enabled/ would
# include it
ex=/usr/share/doc/libnginx-mod-http-harbor/examples/harbor-edge.site.conf
site "include /etc/nginx/modules-enabled/*.conf;" \
    | sed "s|^    server {|    include $ex;\n&|" > "$d/ngx/example.conf"
grep -qF "include $ex;" "$d/ngx/example.conf" \
    || he_fail "example.conf not made"
if out=$(ngx_t "$d/ngx/example.conf"); then
    he_pass "nginx -t with the shipped example site:" \
            "$(echo "$out" | tail -1)"
else
    echo "$out"
    he_fail "nginx -t with $ex"
fi
# the same site without the enabled module must be refused: it is the
# package's load_module that makes harbor_registry known
if out=$(ngx_t "$d/ngx/bare.conf"); then
    he_fail "nginx -t accepted harbor_registry without the module"
else
    he_pass "without modules-enabled: $(echo "$out" \
            | grep -o 'unknown directive "[a-z_]*"' | head -1)"
fi

# ------------------------------------------------------------- replicator

ver=$(harbor-replicator --version 2>&1) \
    || he_fail "harbor-replicator --version: $ver"
pkgver=$(dpkg-query -W -f='${Version}' harbor-replicator)
case $ver in
    "harbor-replicator ${pkgver%%-*}"*)
        he_pass "harbor-replicator --version: $ver" ;;
    *)
        he_fail "harbor-replicator --version says '$ver'," \
                "package is $pkgver" ;;
esac
he_eq "/usr/bin/harbor-replicator" "$(command -v harbor-replicator)" \
    /usr/bin/harbor-replicator

dpkg-query -W -f='${Conffiles}\n' harbor-replicator | grep -q " $CONF " \
    && he_pass "$CONF is a conffile" || he_fail "$CONF is not a conffile"

# the shipped example is valid once its secret exists
echo 's3cret' > "$d/robot.secret"
jq --arg s "$d/robot.secret" '.primary.password_file = $s
    | del(.primary.ca_file)' "$CONF" > "$d/replicator.json"
out=$(harbor-replicator -c "$d/replicator.json" check 2>&1) \
    || { echo "$out"; he_fail "the example $CONF does not pass check"; }
he_pass "the example config passes check: $(echo "$out" | tail -1)"

he_check "man page installed" test -f /usr/share/man/man1/harbor-replicator.1.gz
if command -v man >/dev/null 2>&1; then
    he_eq "man -w harbor-replicator" "$(man -w harbor-replicator 2>/dev/null)" \
        /usr/share/man/man1/harbor-replicator.1.gz
    warn=$(MANWIDTH=80 man --warnings -l \
           /usr/share/man/man1/harbor-replicator.1.gz 2>&1 >/dev/null)
    he_eq "man page renders without groff warnings" "$warn" ""
else
    he_log "note: man-db absent, man page not rendered"
fi

IFS=: read -r _ _ uid _ _ home shell < <(getent passwd "$HE_USER") \
    || he_fail "no user $HE_USER"
[ "$uid" -lt 1000 ] || he_fail "$HE_USER is not a system user (uid $uid)"
he_eq "user $HE_USER (uid $uid): home" "$home" "$STATE"
he_eq "user $HE_USER: shell" "$shell" /usr/sbin/nologin
he_eq "$STATE owner and mode" "$(stat -c '%U:%G %a' "$STATE")" \
    "$HE_USER:$HE_USER 755"
he_eq "$STATE/store owner and mode" "$(stat -c '%U:%G %a' "$STATE/store")" \
    "$HE_USER:$HE_USER 755"

# what the unit runs, as the unit's user: the store under its home is
# writable to it (gc --dry-run creates the layout and the state directory)
if out=$(runuser -u "$HE_USER" -- harbor-replicator -c "$d/replicator.json" \
             gc --dry-run 2>&1)
then
    he_pass "as $HE_USER: gc --dry-run on $STATE/store:" \
            "$(echo "$out" | tail -1)"
else
    echo "$out"
    he_fail "harbor-replicator gc --dry-run as $HE_USER"
fi
he_eq "store layout created by $HE_USER" \
    "$(stat -c %U "$STATE/store/docker/registry/v2" 2>&1)" "$HE_USER"

# the installed module in an nginx of our own (never the system's), serving
# that store: the ping answers as the v2 API says
HE_MODULE=$MOD_SO
if ! he_nginx_start "$d/run" "$STATE/store" >/dev/null; then
    he_fail "nginx with $MOD_SO did not start"
fi
code=$(curl -s -o "$d/ping.out" \
       -w '%{http_code} %header{docker-distribution-api-version}' \
       "http://127.0.0.1:$HE_NGINX_PORT/v2/")
he_eq "installed module in our nginx: GET /v2/" "$code $(cat "$d/ping.out")" \
    "200 registry/2.0 {}"
he_nginx_stop "$d/run"

he_check "the unit is installed" test -f "$UNIT"
for want in "User=$HE_USER" \
    "ExecStart=/usr/bin/harbor-replicator -c $CONF daemon" \
    'ExecReload=/bin/kill -HUP $MAINPID' Restart=on-failure \
    ProtectSystem=strict ReadWritePaths=$STATE NoNewPrivileges=yes \
    PrivateTmp=yes ProtectHome=yes
do
    grep -qxF -- "$want" "$UNIT" || he_fail "$UNIT lacks '$want'"
done
he_pass "the unit has User, ExecStart, ExecReload, Restart and the hardening"
[ -e /etc/systemd/system/multi-user.target.wants/harbor-replicator.service ] \
    && he_fail "the unit was enabled on installation"
he_pass "the unit is not enabled on installation (example config)"

if ! command -v systemd-analyze >/dev/null 2>&1; then
    he_log "note: systemd-analyze absent, unit not verified"
elif out=$(systemd-analyze verify "$UNIT" 2>&1); then
    he_pass "systemd-analyze verify $UNIT${out:+: $out}"
elif echo "$out" | grep -qiE "$NO_SYSTEMD"; then
    he_log "note: systemd-analyze cannot run here: $out"
else
    echo "$out"
    he_fail "systemd-analyze verify $UNIT"
fi

# ------------------------------------------------------------------- purge

if ! "${APT[@]}" purge "${PKGS[@]}" >"$d/purge.out" 2>&1; then
    cat "$d/purge.out"
    he_fail "apt-get purge ${PKGS[*]}"
fi
for p in "${PKGS[@]}"; do
    st=$(pkg_status "$p")
    [ -z "$st" ] || [ "$st" = un ] || he_fail "$p is still known to dpkg: $st"
done
he_pass "both packages purged"

left=()
for f in "$MOD_LINK" "$MOD_LINK.removed" "$MOD_CONF" "$MOD_SO" "$UNIT" \
         /usr/bin/harbor-replicator "$STATE" \
         /usr/share/man/man1/harbor-replicator.1.gz
do
    [ -e "$f" ] || [ -L "$f" ] && left+=("$f")
done
[ $etc_before = 1 ] || { [ -e /etc/harbor-edge ] && left+=(/etc/harbor-edge); }
[ ${#left[@]} -eq 0 ] || he_fail "left after purge: ${left[*]}"
he_pass "no file left (module, snippet, link, unit, binary, $STATE)"
he_eq "modules-enabled as before" "$(ls -A /etc/nginx/modules-enabled)" \
    "$enabled_before"

# the user is Debian-style kept on purge; remove it now, as it was not here
if [ $user_before = 0 ]; then
    deluser --quiet --system "$HE_USER" >/dev/null 2>&1
    getent group "$HE_USER" >/dev/null && [ $group_before = 0 ] \
        && delgroup --quiet --system "$HE_USER" >/dev/null 2>&1
    getent passwd "$HE_USER" >/dev/null && he_fail "could not remove $HE_USER"
    getent group "$HE_USER" >/dev/null \
        && he_fail "could not remove group $HE_USER"
    he_pass "user $HE_USER (kept by purge) removed: the system is as before"
fi

he_pass "t_deb done in $(he_elapsed)s"
