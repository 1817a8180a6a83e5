#!/usr/bin/env bash
# build-deb.sh: `make deb`.  Builds the source package harbor-edge and its
# binary packages libnginx-mod-http-harbor and harbor-replicator with Debian's
# own tooling (dpkg-buildpackage, dh, dh_nginx) and leaves them in build/deb/.
#
# dpkg-buildpackage writes its results to the parent of the source tree and
# `debian/rules clean` runs in the tree, so the build runs in a copy of the
# source, build/deb/harbor-edge-VERSION: the work tree is never written to
# outside build/, and the packages land in build/deb/.
#
#   packaging/build-deb.sh [OUTDIR]        default: build/deb
#
# DEB_BUILD_OPTIONS is honoured (e.g. nocheck, parallel=N); by default the
# build uses every CPU.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build/deb}

for tool in dpkg-buildpackage dh dh_nginx; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "build-deb: $tool not found; install: dpkg-dev debhelper" \
             "nginx-dev" >&2
        exit 1
    fi
done

ver=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
mkdir -p "$out"
out=$(cd "$out" && pwd)

# Two builds into one directory would remove each other's tree.
exec 8>"$out/.lock"
if ! flock -w 600 8; then
    echo "build-deb: another build holds $out/.lock" >&2
    exit 1
fi
src=$out/harbor-edge-$ver
rm -rf "$out"/harbor-edge-*/
rm -f "$out"/*.deb "$out"/*.changes "$out"/*.buildinfo "$out"/*.dsc \
      "$out"/*.tar.*
mkdir -p "$src"

# The source: in a git checkout, the files git tracks or would track (what
# .gitignore leaves out, e.g. build/, is not copied); otherwise the tree
# without build/ and .git/.
cd "$top"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do
          # deleted but not yet committed
          if [ -e "$f" ] || [ -L "$f" ]; then
              printf '%s\0' "$f"
          fi
      done \
    | tar --null -T - -cf - | tar -C "$src" -xf -
else
    tar --exclude=./build --exclude=./.git -cf - . | tar -C "$src" -xf -
fi

opts=${DEB_BUILD_OPTIONS:-}
case " $opts " in
    *" parallel="*) ;;
    *) opts="${opts:+$opts }parallel=$(nproc)" ;;
esac

echo "build-deb: building in $src (log: $out/build.log)"
cd "$src"
if ! DEB_BUILD_OPTIONS=$opts dpkg-buildpackage -us -uc \
        > "$out/build.log" 2>&1
then
    tail -40 "$out/build.log" >&2
    echo "build-deb: dpkg-buildpackage failed; see $out/build.log" >&2
    exit 1
fi

cd "$out"
ls -1 *.dsc *.deb
