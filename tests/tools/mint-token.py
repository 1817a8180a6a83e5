#!/usr/bin/env python3
"""mint-token.py: mint registry tokens the way Harbor's token service does,
and every forged variant the edge must refuse.  Python 3 stdlib plus the
`openssl` command line for keys and signatures (no PyPI on the CI machines).

  mint-token.py keygen DIR [--type rsa|ec] [--bits N]
        DIR/key.pem (RSA PKCS#1 like Harbor's private_key.pem, or EC P-256)
        DIR/cert.pem (self-signed cert for it, what Harbor calls root.crt)
  mint-token.py mint --key KEY [--alg RS256|ES256] [--scope T:NAME:ACT ...]
        [--iss I] [--aud A|--aud-array A,B] [--sub S] [--exp-in SEC]
        [--nbf-in SEC] [--no-exp] [--kid auto|none|VALUE]
  mint-token.py forge VARIANT --key KEY --cert CERT --other-key KEY2
        [--ec-key KEY3] [--scope ...]      (list: mint-token.py forge list)
  mint-token.py serve --port N --key KEY [--users u:p,...] [--admin u]
        [--public PATTERN ...] [--service S] [--expiration MIN]
        GET /service/token?service=&scope=  with Basic auth, like Harbor:
        unknown service 400, bad credentials 401, anonymous without scope
        401, anonymous gets pull on --public repositories only, a user gets
        pull on every repository, registry:catalog:* only for --admin.

The claims are Harbor's: iss harbor-token-issuer, aud harbor-registry (a
string), sub, exp = iat + expiration, nbf = iat, jti of 16 alphanumerics,
access [{"type","name","actions"}]; header {"alg","kid","typ":"JWT"} with
the libtrust kid (sha256 of the DER public key, 30 bytes, base32, 12x4).
"""

import argparse
import base64
import fnmatch
import hashlib
import hmac
import http.server
import json
import os
import random
import string
import subprocess
import sys
import tempfile
import time
import urllib.parse

ISSUER = "harbor-token-issuer"
SERVICE = "harbor-registry"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def run(args, data=None):
    p = subprocess.run(args, input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, check=False)
    if p.returncode != 0:
        sys.exit("mint-token: %s failed: %s"
                 % (" ".join(args), p.stderr.decode(errors="replace")))
    return p.stdout


def key_type(key):
    text = open(key).read()
    if "EC PRIVATE KEY" in text:
        return "ec"
    out = run(["openssl", "pkey", "-in", key, "-noout", "-text"])
    return "ec" if b"ASN1 OID" in out or b"NIST CURVE" in out else "rsa"


def pub_der(path, is_cert=False):
    if is_cert:
        pem = run(["openssl", "x509", "-in", path, "-pubkey", "-noout"])
        return run(["openssl", "pkey", "-pubin", "-outform", "DER"], pem)
    return run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"])


def libtrust_kid(der):
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    b32 = b32.rstrip("=")
    return ":".join(b32[i:i + 4] for i in range(0, 48, 4))


def der_to_rs(der):
    """ECDSA DER signature -> JWS r||s (32 bytes each)."""
    def read_int(buf, i):
        assert buf[i] == 0x02
        n = buf[i + 1]
        v = buf[i + 2:i + 2 + n]
        return int.from_bytes(v, "big"), i + 2 + n
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 3
    r, i = read_int(der, i)
    s, i = read_int(der, i)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def sign(alg, key, signing_input, secret=None):
    if alg.lower() == "none":
        return b""
    if alg == "HS256":
        return hmac.new(secret, signing_input, hashlib.sha256).digest()
    sig = run(["openssl", "dgst", "-sha256", "-sign", key], signing_input)
    if alg == "ES256":
        return der_to_rs(sig)
    return sig


def scope_to_access(scopes):
    access = []
    for sc in scopes:
        for one in sc.split():
            parts = one.split(":")
            if len(parts) < 3:
                continue
            # extra ':' belong to the name (Harbor's parser)
            typ, name, acts = parts[0], ":".join(parts[1:-1]), parts[-1]
            access.append({"type": typ, "name": name,
                           "actions": [a for a in acts.split(",") if a]})
    return access


def jti():
    alnum = string.ascii_letters + string.digits
    return "".join(random.SystemRandom().choice(alnum) for _ in range(16))


def make_token(key, alg="RS256", access=None, iss=ISSUER, aud=SERVICE,
               sub="", exp_in=1800, nbf_in=0, no_exp=False, kid="auto",
               header_extra=None, claims_extra=None, secret=None,
               sign_key=None):
    now = int(time.time())
    header = {"alg": alg, "typ": "JWT"}
    if kid == "auto" and key and alg in ("RS256", "ES256"):
        header["kid"] = libtrust_kid(pub_der(key))
    elif kid not in ("auto", "none"):
        header["kid"] = kid
    if header_extra:
        header.update(header_extra)
    claims = {"iss": iss, "sub": sub, "aud": aud, "nbf": now + nbf_in,
              "iat": now, "jti": jti(),
              "access": access if access is not None else []}
    if not no_exp:
        claims["exp"] = now + exp_in
    if claims_extra:
        claims.update(claims_extra)
    hs = b64url(json.dumps(header, separators=(",", ":")).encode())
    cs = b64url(json.dumps(claims, separators=(",", ":")).encode())
    si = (hs + "." + cs).encode()
    sig = sign(alg, sign_key or key, si, secret)
    return hs + "." + cs + "." + b64url(sig)


# every way to get a token wrong; each must be refused with 401
FORGERIES = {
    "expired": "exp two hours ago (beyond any leeway)",
    "not-yet-valid": "nbf two hours ahead",
    "no-exp": "no exp claim at all",
    "wrong-issuer": "iss is not harbor-token-issuer",
    "wrong-audience": "aud is another service",
    "wrong-audience-array": "aud array without our service",
    "wrong-key": "signed by a key the edge does not trust",
    "wrong-key-our-kid": "signed by another key, header names our kid",
    "alg-none": "alg none, empty signature",
    "alg-none-upper": "alg NONE with a copied signature",
    "hs256-pubkey": "HS256 with the trusted cert's public key as secret",
    "hs256-pubkey-der": "HS256 with the trusted public key (DER) as secret",
    "rs512": "alg RS512 (not accepted)",
    "es256-with-rsa": "ES256 header, RSA signature by the trusted key",
    "es256-other-ec": "ES256 signed by an untrusted EC key",
    "other-repository": "valid token for another repository",
    "push-only": "valid token with push but not pull",
    "no-access": "valid token with an empty access list",
    "truncated": "valid token cut short",
    "sig-flipped": "valid token with one signature bit flipped",
    "claims-swapped": "valid signature, claims of another token",
    "oversized": "a 9 KiB token",
    "bad-base64": "a character outside base64url in the claims",
    "padded-base64": "'=' padding in the signature",
    "two-parts": "header.claims with no signature part",
    "four-parts": "an extra '.' part",
    "crit": "a crit header we cannot understand",
    "dup-alg": "alg given twice (RS256 then none)",
    "dup-access": "access given twice in the claims",
    "garbage": "not a JWT at all",
}


def forge(variant, a):
    scopes = a.scope or ["repository:test/single:pull"]
    acc = scope_to_access(scopes)
    k = a.key
    if variant == "expired":
        return make_token(k, access=acc, exp_in=-7200)
    if variant == "not-yet-valid":
        return make_token(k, access=acc, nbf_in=7200)
    if variant == "no-exp":
        return make_token(k, access=acc, no_exp=True)
    if variant == "wrong-issuer":
        return make_token(k, access=acc, iss="evil-issuer")
    if variant == "wrong-audience":
        return make_token(k, access=acc, aud="other-registry")
    if variant == "wrong-audience-array":
        return make_token(k, access=acc, aud=["a", "b"])
    if variant == "wrong-key":
        return make_token(a.other_key, access=acc)
    if variant == "wrong-key-our-kid":
        return make_token(a.other_key, access=acc,
                          kid=libtrust_kid(pub_der(k)))
    if variant == "alg-none":
        return make_token(None, alg="none", access=acc, kid="none")
    if variant == "alg-none-upper":
        good = make_token(k, access=acc)
        t = make_token(None, alg="NONE", access=acc, kid="none")
        return t + good.split(".")[2]
    if variant == "hs256-pubkey":
        pem = run(["openssl", "x509", "-in", a.cert, "-pubkey", "-noout"])
        return make_token(None, alg="HS256", access=acc, secret=pem,
                          kid=libtrust_kid(pub_der(k)))
    if variant == "hs256-pubkey-der":
        return make_token(None, alg="HS256", access=acc,
                          secret=pub_der(a.cert, True), kid="none")
    if variant == "rs512":
        t = make_token(k, access=acc, header_extra={"alg": "RS512"})
        return t
    if variant == "es256-with-rsa":
        return make_token(k, access=acc, header_extra={"alg": "ES256"})
    if variant == "es256-other-ec":
        return make_token(a.ec_key, alg="ES256", access=acc)
    if variant == "other-repository":
        return make_token(k, access=scope_to_access(
            ["repository:test/other:pull"]))
    if variant == "push-only":
        return make_token(k, access=[dict(x, actions=["push"]) for x in acc])
    if variant == "no-access":
        return make_token(k, access=[])
    if variant == "truncated":
        t = make_token(k, access=acc)
        return t[:len(t) - 10]
    if variant == "sig-flipped":
        t = make_token(k, access=acc)
        h, c, s = t.split(".")
        raw = bytearray(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
        raw[len(raw) // 2] ^= 1
        return h + "." + c + "." + b64url(bytes(raw))
    if variant == "claims-swapped":
        # header and signature of a good token, claims of a wider one
        t1 = make_token(k, access=acc)
        wide = scope_to_access(["registry:catalog:*"]) + acc
        t2 = make_token(k, access=wide)
        h1, _, s1 = t1.split(".")
        return h1 + "." + t2.split(".")[1] + "." + s1
    if variant == "oversized":
        return make_token(k, access=acc, claims_extra={"pad": "x" * 9000})
    if variant == "bad-base64":
        h, c, s = make_token(k, access=acc).split(".")
        return h + "." + c[:5] + "*" + c[6:] + "." + s
    if variant == "padded-base64":
        t = make_token(k, access=acc)
        return t + "=="
    if variant == "two-parts":
        return ".".join(make_token(k, access=acc).split(".")[:2])
    if variant == "four-parts":
        return make_token(k, access=acc) + ".e30"
    if variant == "crit":
        return make_token(k, access=acc,
                          header_extra={"crit": ["exp"], "exp": 1})
    if variant == "dup-alg":
        good = make_token(k, access=acc)
        hs = b64url(b'{"alg":"RS256","alg":"none","typ":"JWT"}')
        h, c, s = good.split(".")
        si = (hs + "." + c).encode()
        return hs + "." + c + "." + b64url(sign("RS256", k, si))
    if variant == "dup-access":
        now = int(time.time())
        body = ('{"iss":"%s","aud":"%s","exp":%d,"access":[],"access":%s}'
                % (ISSUER, SERVICE, now + 600, json.dumps(acc)))
        hs = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
        cs = b64url(body.encode())
        si = (hs + "." + cs).encode()
        return hs + "." + cs + "." + b64url(sign("RS256", k, si))
    if variant == "garbage":
        return "this-is-not-a-jwt"
    sys.exit("mint-token: unknown variant %s" % variant)


def cmd_keygen(a):
    os.makedirs(a.dir, exist_ok=True)
    key = os.path.join(a.dir, "key.pem")
    cert = os.path.join(a.dir, "cert.pem")
    if a.type == "ec":
        run(["openssl", "ecparam", "-name", "prime256v1", "-genkey",
             "-noout", "-out", key])
    else:
        # Harbor: RSA-4096 in PKCS#1 PEM (openssl genrsa -traditional)
        run(["openssl", "genrsa", "-traditional", "-out", key, str(a.bits)])
    run(["openssl", "req", "-new", "-x509", "-key", key, "-out", cert,
         "-days", "3650", "-subj", "/CN=harbor-token-ca"])
    print(key)
    print(cert)


def cmd_mint(a):
    aud = a.aud_array.split(",") if a.aud_array else a.aud
    alg = a.alg or ("ES256" if key_type(a.key) == "ec" else "RS256")
    print(make_token(a.key, alg=alg, access=scope_to_access(a.scope or []),
                     iss=a.iss, aud=aud, sub=a.sub, exp_in=a.exp_in,
                     nbf_in=a.nbf_in, no_exp=a.no_exp, kid=a.kid))


def cmd_forge(a):
    if a.variant == "list":
        for k, v in FORGERIES.items():
            print("%s\t%s" % (k, v))
        return
    print(forge(a.variant, a))


class TokenHandler(http.server.BaseHTTPRequestHandler):
    server_version = "mint-token"
    opts = None

    def log_message(self, fmt, *args):
        sys.stderr.write("mint-token serve: %s\n" % (fmt % args))

    def reply(self, code, body, extra=None):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        # Harbor does not implement POST, so containerd falls back to GET
        self.reply(405, {"errors": [{"code": "METHOD_NOT_ALLOWED",
                                     "message": "POST not implemented"}]})

    def do_GET(self):
        o = self.opts
        u = urllib.parse.urlsplit(self.path)
        if u.path != "/service/token":
            self.reply(404, {"errors": [{"code": "NOT_FOUND"}]})
            return
        q = urllib.parse.parse_qs(u.query)
        service = q.get("service", [""])[0]
        if service != o.service:
            self.reply(400, {"errors": [{"code": "BAD_REQUEST",
                                         "message": "invalid service"}]})
            return
        user = None
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            try:
                dec = base64.b64decode(auth[6:]).decode()
            except Exception:
                dec = ""
            u_, _, p_ = dec.partition(":")
            if o.users.get(u_) != p_:
                self.reply(401, {"errors": [{"code": "UNAUTHORIZED",
                                             "message": "bad credentials"}]})
                return
            user = u_
        scopes = q.get("scope", [])
        if user is None and not scopes:
            self.reply(401, {"errors": [{"code": "UNAUTHORIZED",
                                         "message": "login required"}]})
            return
        access = scope_to_access(scopes)
        for e in access:
            allowed = set()
            if e["type"] == "repository":
                public = any(fnmatch.fnmatchcase(e["name"], p)
                             for p in o.public)
                if user is not None or public:
                    allowed.add("pull")
            elif e["type"] == "registry" and e["name"] == "catalog":
                if user is not None and user in o.admin:
                    allowed.add("*")
            # entries stay, with the actions reduced (maybe to none)
            e["actions"] = [x for x in e["actions"] if x in allowed]
        token = make_token(o.key, alg=o.alg, access=access,
                           sub=user or "", exp_in=o.expiration * 60)
        with open(o.log, "a") if o.log else open(os.devnull, "w") as f:
            f.write("%s %s %s\n" % (user or "-", " ".join(scopes),
                                    json.dumps(access)))
        self.reply(200, {"token": token, "access_token": "",
                         "expires_in": o.expiration * 60,
                         "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                    time.gmtime())})


def cmd_serve(a):
    a.users = dict(x.split(":", 1) for x in a.users.split(",") if x)
    a.admin = set(x for x in a.admin.split(",") if x)
    a.alg = "ES256" if key_type(a.key) == "ec" else "RS256"
    TokenHandler.opts = a
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port),
                                          TokenHandler)
    sys.stderr.write("mint-token serve: 127.0.0.1:%d\n" % a.port)
    sys.stderr.flush()
    srv.serve_forever()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sp = p.add_subparsers(dest="cmd", required=True)

    k = sp.add_parser("keygen")
    k.add_argument("dir")
    k.add_argument("--type", choices=["rsa", "ec"], default="rsa")
    k.add_argument("--bits", type=int, default=4096)
    k.set_defaults(fn=cmd_keygen)

    m = sp.add_parser("mint")
    m.add_argument("--key", required=True)
    m.add_argument("--alg", choices=["RS256", "ES256"])
    m.add_argument("--scope", action="append")
    m.add_argument("--iss", default=ISSUER)
    m.add_argument("--aud", default=SERVICE)
    m.add_argument("--aud-array")
    m.add_argument("--sub", default="")
    m.add_argument("--exp-in", type=int, default=1800)
    m.add_argument("--nbf-in", type=int, default=0)
    m.add_argument("--no-exp", action="store_true")
    m.add_argument("--kid", default="auto")
    m.set_defaults(fn=cmd_mint)

    f = sp.add_parser("forge")
    f.add_argument("variant")
    f.add_argument("--key")
    f.add_argument("--cert")
    f.add_argument("--other-key")
    f.add_argument("--ec-key")
    f.add_argument("--scope", action="append")
    f.set_defaults(fn=cmd_forge)

    s = sp.add_parser("serve")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--users", default="")
    s.add_argument("--admin", default="")
    s.add_argument("--public", action="append", default=[])
    s.add_argument("--service", default=SERVICE)
    s.add_argument("--expiration", type=int, default=30)
    s.add_argument("--log")
    s.set_defaults(fn=cmd_serve)

    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
