#!/usr/bin/env bash
# make-certs.sh: a private CA and a server certificate for the edge, made the
# way Harbor's "Configure HTTPS Access to Harbor" guide makes them: a CA key
# and self-signed CA cert, a server key and CSR, a v3 extension file with
# subjectAltName, and the server cert signed by the CA.  For clients, a
# Docker-style certs.d directory holding only ca.crt (skopeo --cert-dir,
# containerd's hosts.toml "ca"): the guide also copies the server's .cert
# and .key there, which a client does not need and should not hold.
#
#   conf/tls/make-certs.sh OUTDIR [--cn NAME] [--san LIST] [--days N]
#                                 [--bits N]
#
#   --cn    server common name (default 127.0.0.1)
#   --san   subjectAltName (default IP:127.0.0.1,DNS:localhost)
#   --days  validity of both certs (default 3650, as the guide)
#   --bits  RSA key size (default 4096, as the guide)
#
# Writes OUTDIR/ca.key ca.crt server.key server.csr v3.ext server.crt and
# OUTDIR/certs.d/ca.crt.  Existing files are kept:
# run it again and nothing changes, delete OUTDIR to start over.  nginx:
#   ssl_certificate OUTDIR/server.crt; ssl_certificate_key OUTDIR/server.key;
set -euo pipefail

die() { echo "make-certs: $*" >&2; exit 1; }

out=${1:-}
[ -n "$out" ] || die "usage: $0 OUTDIR [--cn N] [--san L] [--days N] [--bits N]"
shift
cn=127.0.0.1 san=IP:127.0.0.1,DNS:localhost days=3650 bits=4096
while [ $# -gt 0 ]; do
    case "$1" in
        --cn) cn=$2; shift 2 ;;
        --san) san=$2; shift 2 ;;
        --days) days=$2; shift 2 ;;
        --bits) bits=$2; shift 2 ;;
        *) die "unknown option $1" ;;
    esac
done
case "$days$bits" in *[!0-9]*) die "--days and --bits take numbers" ;; esac
command -v openssl >/dev/null || die "apt-get install openssl"

mkdir -p "$out/certs.d"
cd "$out"
umask 077

if [ ! -f ca.crt ]; then
    openssl genrsa -out ca.key "$bits" 2>/dev/null
    openssl req -x509 -new -nodes -sha512 -days "$days" \
        -subj "/C=CN/ST=Beijing/L=Beijing/O=example/CN=Harbor Edge test CA" \
        -key ca.key -out ca.crt
fi

if [ ! -f server.crt ]; then
    openssl genrsa -out server.key "$bits" 2>/dev/null
    openssl req -sha512 -new \
        -subj "/C=CN/ST=Beijing/L=Beijing/O=example/CN=$cn" \
        -key server.key -out server.csr
    cat > v3.ext <<EXT
authorityKeyIdentifier=keyid,issuer
basicConstraints=CA:FALSE
keyUsage = digitalSignature, nonRepudiation, keyEncipherment, dataEncipherment
extendedKeyUsage = serverAuth
subjectAltName = $san
EXT
    openssl x509 -req -sha512 -days "$days" -extfile v3.ext \
        -CA ca.crt -CAkey ca.key -CAcreateserial \
        -in server.csr -out server.crt 2>/dev/null
fi

# the client side: Docker's certs.d layout, the CA only
cp ca.crt certs.d/ca.crt
chmod 0755 . certs.d
chmod 0644 ca.crt server.crt certs.d/ca.crt

openssl verify -CAfile ca.crt server.crt >/dev/null \
    || die "server.crt does not verify against ca.crt"
echo "$out/ca.crt $out/server.crt $out/server.key"
