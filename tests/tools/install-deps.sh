#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need. Idempotent: only
# missing packages are installed, and apt's lists are refreshed only then.
set -euo pipefail

pkgs=(
    build-essential pkg-config
    nginx nginx-dev libpcre2-dev zlib1g-dev libssl-dev
    libcurl4-openssl-dev libjansson-dev libhiredis-dev libcmocka-dev
    redis-server docker-registry skopeo containerd
    libtest-base-perl
    clang libfuzzer-14-dev libclang-rt-14-dev
    curl jq openssl python3 wrk hyperfine apache2-utils
    debhelper dpkg-dev systemd man-db strace time valgrind
)

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: missing packages (run as root): ${missing[*]}" >&2
        exit 1
    fi
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's packages start their services when they can; the tests start their own
# on ports they pick, so the system ones are not needed.
for svc in nginx redis-server docker-registry containerd; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active -q "$svc" 2>/dev/null; then
        systemctl stop "$svc" || true
    fi
done
echo "install-deps: all packages present"
