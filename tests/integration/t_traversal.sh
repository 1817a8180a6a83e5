#!/bin/bash
#
# t_traversal.sh: hostile requests against the module, with the nginx worker
# under strace.  Nothing outside the store may ever be opened, stat'ed or
# served, whatever the URI, the query, the headers or the store's symlinks
# say, and the worker must survive all of it.
#
# What it builds (no registry needed: the layout is written directly):
#   - a store with lib/app, pub/img (public) and secret/repo (private, its
#     bytes carry a marker), each with tag, revisions, layers and a
#     referrers index;
#   - an "outside" directory next to the store holding a secret file, a
#     repository tree, link files and a referrers index, and symlinks INSIDE
#     the store that point there or to /etc: a symlinked repository
#     directory, symlinked link files, a symlinked blob data file and blob
#     directory, a symlinked tag "current" directory, links to /etc/passwd
#     and /etc/hostname, a symlinked referrers index and _harbor directory,
#     repositories/etc -> /etc.  The digests in those links are the real
#     sha256 of the targets, so digest verification would NOT stop a
#     followed symlink: only the symlink refusal does.
#
# Two servers in one nginx (one worker):
#   A  harbor_verify off, no auth, disable_symlinks off (the module must
#      refuse symlinks anyway), harbor_ns docker.io lib
#   B  harbor_verify once, open_file_cache on (errors cached too),
#      harbor_auth token with a test key, harbor_public pub/*,
#      harbor_ns docker.io pub, harbor_miss_pass to a named location
#
# The matrix (python3, raw sockets, more than 150 requests): encoded and
# doubled slashes, dot segments (.., %2e%2e, %2E., .%2e, %252e), overlong
# names (256, 4096, 70000 bytes), non-UTF-8, %00 and raw NUL, backslashes,
# ';' parameters, absolute URIs, Host tricks, long query strings, ns= with
# ../, last= with '/', artifactType with quotes and CRLF, HTTP/0.9 and
# HTTP/1.0, pipelining, Content-Length + Transfer-Encoding on GET, bodies
# that hide a second request, Range/HEAD/If-None-Match edge cases, writes,
# and on B: forged, expired, alg=none, HS256, wrong-audience tokens, tokens
# for another repository, and URI/ns tricks that try to make the auth
# module and the read path see different names.
#
# Asserts:
#   - every response is well-formed HTTP (status line, header syntax, body
#     length) with the status the case expects; no header injected;
#   - no body carries the outside marker, /etc/passwd, or (on B, without
#     a token granting secret/repo) the private repository's marker; the
#     miss-pass location is reached only by authorized requests;
#   - the catalog lists the real repositories and none reached through a
#     symlink;
#   - the worker never crashed: same pid before and after, no "exited on
#     signal" in the error log;
#   - strace -f -y of the worker: every path opened, stat'ed or read as a
#     link lies under the store root or nginx's own prefix (conf, logs,
#     temp), both as asked for and as the kernel resolved it (the fd path
#     strace prints); the outside directory and /etc are never touched;
#   - servers A and C (no open_file_cache) open store files with openat2()
#     relative to the root's descriptor, each call with RESOLVE_BENEATH and
#     RESOLVE_NO_SYMLINKS, unless the error log says the kernel has no
#     openat2() (then the component walk, as server B's cache uses).
#
# Exit: 0 pass, 77 skip (no strace, python3, openssl or module), 1 fail.
# Needs the Debian package strace (CI: apt-get install strace).

. "$(dirname "$0")/lib.sh"

command -v strace >/dev/null 2>&1 \
    || he_skip "strace is not installed (apt-get install strace)"
command -v python3 >/dev/null 2>&1 || he_skip "python3 is not installed"
command -v openssl >/dev/null 2>&1 || he_skip "openssl is not installed"
[ -f "$HE_MODULE" ] || he_skip "no $HE_MODULE (make module)"
grep -q harbor_token_realm "$HE_MODULE" \
    || he_fail "$HE_MODULE has no ngx_http_harbor_auth_module (stale: make module)"

d=$(he_tmpdir) || he_fail "no temp dir"
root=$d/store
outside=$d/outside
ngx=$d/ngx
mkdir -p "$root" "$outside" "$ngx" "$d/auth"

py=$d/traversal.py

cat > "$py" <<'PY'
# t_traversal.sh's helper: build, tokens, matrix, strace check.
import base64, hashlib, json, os, re, socket, subprocess, sys, time

ROOT = os.environ.get("ROOT", "")
OUTSIDE = os.environ.get("OUTSIDE", "")
AUTH = os.environ.get("AUTHDIR", "")
OUTSIDE_MARK = b"HE-OUTSIDE-SECRET-7f3a9c"
PRIVATE_MARK = b"HE-PRIVATE-REPO-MARKER-51d2"
PASSWD_MARK = b"root:x:0:0"
MISS_MARK = b"MISS-PASS-REACHED"


def sha(b):
    return hashlib.sha256(b).hexdigest()


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def symlink(target, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink(target, path)


def objects():
    layer = b"".join(hashlib.sha256(b"layer%d" % i).digest()
                     for i in range(2048))                       # 64 KiB
    config = (b'{"architecture":"amd64","os":"linux",'
              b'"rootfs":{"type":"layers","diff_ids":[]}}')
    man = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + sha(config), "size": len(config)},
        "layers": [{"mediaType":
                    "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "sha256:" + sha(layer), "size": len(layer)}],
    }, separators=(",", ":")).encode()
    sconfig = (b'{"architecture":"amd64","os":"linux","config":{"Labels":'
               b'{"m":"' + PRIVATE_MARK + b'"}},'
               b'"rootfs":{"type":"layers","diff_ids":[]}}')
    slayer = PRIVATE_MARK * 100
    sman = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + sha(sconfig), "size": len(sconfig)},
        "layers": [{"mediaType":
                    "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "sha256:" + sha(slayer), "size": len(slayer)}],
        "annotations": {"marker": PRIVATE_MARK.decode()},
    }, separators=(",", ":")).encode()
    secret = OUTSIDE_MARK + b"\n"
    with open("/etc/passwd", "rb") as f:
        passwd = f.read()
    return dict(layer=layer, config=config, man=man, sconfig=sconfig,
                slayer=slayer, sman=sman, secret=secret, passwd=passwd)


def ids():
    o = objects()
    return {k: sha(v) for k, v in o.items()}, o


def build():
    h, o = ids()
    v2 = ROOT + "/docker/registry/v2"

    def blob(name):
        write("%s/blobs/sha256/%s/%s/data" % (v2, h[name][:2], h[name]),
              o[name])

    def link(repo, kind, name, tag=None):
        dgst = b"sha256:" + h[name].encode()
        r = "%s/repositories/%s" % (v2, repo)
        if kind == "layer":
            write("%s/_layers/sha256/%s/link" % (r, h[name]), dgst)
        elif kind == "rev":
            write("%s/_manifests/revisions/sha256/%s/link" % (r, h[name]),
                  dgst)
        else:
            write("%s/_manifests/tags/%s/current/link" % (r, tag), dgst)
            write("%s/_manifests/tags/%s/index/sha256/%s/link"
                  % (r, tag, h[name]), dgst)

    for n in ("layer", "config", "man", "sconfig", "slayer", "sman"):
        blob(n)

    index = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType":
                       "application/vnd.oci.image.manifest.v1+json",
                       "digest": "sha256:" + h["config"], "size": 1,
                       "artifactType": "application/vnd.example.sbom"}],
    }, separators=(",", ":")).encode()

    for repo, m, c, l, tag in (("lib/app", "man", "config", "layer", "v1"),
                               ("pub/img", "man", "config", "layer", "v1"),
                               ("secret/repo", "sman", "sconfig", "slayer",
                                "s1")):
        for n in (m, c, l):
            link(repo, "layer", n)
        link(repo, "rev", m)
        link(repo, "tag", m, tag)
        write("%s/repositories/%s/_harbor/referrers/sha256/%s/index.json"
              % (v2, repo, h[m]), index)

    # the outside world: a secret, a repository tree, links, an index
    write(OUTSIDE + "/secret.txt", o["secret"])
    write(OUTSIDE + "/link-S", b"sha256:" + h["secret"].encode())
    write(OUTSIDE + "/link-M", b"sha256:" + h["man"].encode())
    write(OUTSIDE + "/link-P", b"sha256:" + h["passwd"].encode())
    orepo = OUTSIDE + "/repo"
    write("%s/_layers/sha256/%s/link" % (orepo, h["secret"]),
          b"sha256:" + h["secret"].encode())
    write("%s/_layers/sha256/%s/link" % (orepo, h["layer"]),
          b"sha256:" + h["layer"].encode())
    write("%s/_manifests/revisions/sha256/%s/link" % (orepo, h["man"]),
          b"sha256:" + h["man"].encode())
    write("%s/_manifests/tags/t/current/link" % orepo,
          b"sha256:" + h["man"].encode())
    write(OUTSIDE + "/current/link", b"sha256:" + h["man"].encode())
    write(OUTSIDE + "/sdir/data", o["secret"])
    symlink("/etc/passwd", OUTSIDE + "/pdir/data")
    oindex = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType":
                       "application/vnd.oci.image.manifest.v1+json",
                       "digest": "sha256:" + h["man"], "size": 1,
                       "artifactType": "application/vnd.example.sbom",
                       "annotations": {"m": OUTSIDE_MARK.decode()}}],
    }, separators=(",", ":")).encode()
    write(OUTSIDE + "/index.json", oindex)
    write("%s/harbor/referrers/sha256/%s/index.json" % (OUTSIDE, h["man"]),
          oindex)

    r = v2 + "/repositories"
    # E1 a repository directory that is a symlink
    symlink(orepo, r + "/evil/dirlink")
    # E2 symlinked link files
    symlink(OUTSIDE + "/link-S",
            "%s/evil/filelink/_layers/sha256/%s/link" % (r, h["secret"]))
    symlink(OUTSIDE + "/link-M",
            "%s/evil/filelink/_manifests/tags/t/current/link" % r)
    symlink(OUTSIDE + "/link-M",
            "%s/evil/filelink/_manifests/revisions/sha256/%s/link"
            % (r, h["man"]))
    # E3 a blob data file that is a symlink (the link file is regular)
    symlink(OUTSIDE + "/secret.txt", "%s/blobs/sha256/%s/%s/data"
            % (v2, h["secret"][:2], h["secret"]))
    write("%s/evil/datalink/_layers/sha256/%s/link" % (r, h["secret"]),
          b"sha256:" + h["secret"].encode())
    # E4 a blob directory that is a symlink, to a data -> /etc/passwd
    os.makedirs("%s/blobs/sha256/%s" % (v2, h["passwd"][:2]), exist_ok=True)
    symlink(OUTSIDE + "/pdir", "%s/blobs/sha256/%s/%s"
            % (v2, h["passwd"][:2], h["passwd"]))
    write("%s/evil/blobdir/_layers/sha256/%s/link" % (r, h["passwd"]),
          b"sha256:" + h["passwd"].encode())
    # E5 a tag's "current" directory that is a symlink
    write("%s/evil/tagdir/_layers/sha256/%s/link" % (r, h["man"]),
          b"sha256:" + h["man"].encode())
    write("%s/evil/tagdir/_manifests/revisions/sha256/%s/link"
          % (r, h["man"]), b"sha256:" + h["man"].encode())
    symlink(OUTSIDE + "/current",
            "%s/evil/tagdir/_manifests/tags/t/current" % r)
    # E6 link files that point into /etc
    symlink("/etc/hostname",
            "%s/evil/etclink/_manifests/tags/t/current/link" % r)
    symlink("/etc/passwd", "%s/evil/etclink/_layers/sha256/%s/link"
            % (r, h["passwd"]))
    # E7 a symlinked referrers index, and a symlinked _harbor directory
    write("%s/evil/ref/_layers/sha256/%s/link" % (r, h["man"]),
          b"sha256:" + h["man"].encode())
    symlink(OUTSIDE + "/index.json",
            "%s/evil/ref/_harbor/referrers/sha256/%s/index.json"
            % (r, h["man"]))
    write("%s/evil/ref2/_layers/sha256/%s/link" % (r, h["man"]),
          b"sha256:" + h["man"].encode())
    symlink(OUTSIDE + "/harbor", "%s/evil/ref2/_harbor" % r)
    # E8 a repository that is /etc
    symlink("/etc", r + "/etc")
    # E9 the secret data reached by a regular link in a real repository,
    # through a blob directory symlink
    os.makedirs("%s/blobs/sha256/%s" % (v2, h["secret"][:2]), exist_ok=True)
    write("%s/lib/app/_layers/sha256/%s/link" % (r, h["secret"]),
          b"sha256:" + h["secret"].encode())


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sign(header, claims, key, alg="RS256"):
    hp = b64u(json.dumps(header).encode()) + "." + \
        b64u(json.dumps(claims).encode())
    if alg == "none":
        return hp + "."
    if alg == "HS256":
        import hmac
        with open(AUTH + "/cert.pem", "rb") as f:
            secret = f.read()
        return hp + "." + b64u(hmac.new(secret, hp.encode(),
                                        hashlib.sha256).digest())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key],
                         input=hp.encode(), capture_output=True,
                         check=True).stdout
    return hp + "." + b64u(sig)


def tokens():
    key = AUTH + "/key.pem"
    now = int(time.time())

    def claims(access, **kw):
        c = {"iss": "harbor-token-issuer", "sub": "tester",
             "aud": "harbor-registry", "exp": now + 3600, "nbf": now - 10,
             "iat": now - 10, "jti": "t%d" % len(access), "access": access}
        c.update(kw)
        return c

    def repo(name, actions=("pull",), typ="repository"):
        return [{"type": typ, "name": name, "actions": list(actions)}]

    hdr = {"alg": "RS256", "typ": "JWT"}
    t = {
        "app": sign(hdr, claims(repo("lib/app")), key),
        "secret": sign(hdr, claims(repo("secret/repo")), key),
        "catalog": sign(hdr, claims(repo("catalog", ("*",), "registry")),
                        key),
        "expired": sign(hdr, claims(repo("secret/repo"), exp=now - 7200,
                                    nbf=now - 9000), key),
        "none": sign({"alg": "none", "typ": "JWT"},
                     claims(repo("secret/repo")), key, "none"),
        "hs256": sign({"alg": "HS256", "typ": "JWT"},
                      claims(repo("secret/repo")), key, "HS256"),
        "aud": sign(hdr, claims(repo("secret/repo"), aud="other"), key),
        "iss": sign(hdr, claims(repo("secret/repo"), iss="evil"), key),
        "dots": sign(hdr, claims(repo("lib/app/../../secret/repo")), key),
        "glob": sign(hdr, claims(repo("secret/*")), key),
        "glob2": sign(hdr, claims(repo("**")), key),
        "space": sign(hdr, claims(repo("secret/repo ")), key),
        "push": sign(hdr, claims(repo("secret/repo", ("push",))), key),
        "regtype": sign(hdr, claims(repo("secret/repo", ("pull",),
                                         "registry")), key),
        "case": sign(hdr, claims(repo("Secret/Repo")), key),
        "ns": sign(hdr, claims(repo("pub/secret/repo")), key),
    }
    # a good token with its signature bit-flipped
    s = t["secret"]
    t["flipped"] = s[:-3] + ("A" if s[-3] != "A" else "B") + s[-2:]
    return t


# ------------------------------------------------------------------ HTTP

STATUS_RE = re.compile(rb"^HTTP/1\.[01] ([1-5][0-9][0-9])(?: [^\r\n]*)?$")
HEADER_RE = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[ \t]*[^\r\n]*$")


class Bad(Exception):
    pass


def parse_one(buf, head):
    """one response from buf: (status, headers, body, rest)"""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        raise Bad("no end of header in %r" % buf[:200])
    lines = buf[:end].split(b"\r\n")
    m = STATUS_RE.match(lines[0])
    if not m:
        raise Bad("bad status line %r" % lines[0][:200])
    status = int(m.group(1))
    headers = []
    for ln in lines[1:]:
        if not HEADER_RE.match(ln) or b"\n" in ln or b"\r" in ln:
            raise Bad("bad header line %r" % ln[:200])
        k, v = ln.split(b":", 1)
        headers.append((k.decode().lower(), v.strip()))
    hd = {}
    for k, v in headers:
        if k in hd and k == "content-length":
            raise Bad("two Content-Length headers")
        hd[k] = v
    rest = buf[end + 4:]
    if head or status in (204, 304) or status < 200:
        return status, hd, b"", rest
    if hd.get("transfer-encoding", b"").lower() == b"chunked":
        body = b""
        while True:
            e = rest.find(b"\r\n")
            if e < 0:
                raise Bad("truncated chunk size")
            n = int(rest[:e].split(b";")[0], 16)
            rest = rest[e + 2:]
            if n == 0:
                e = rest.find(b"\r\n")
                rest = rest[e + 2:]
                return status, hd, body, rest
            if len(rest) < n + 2:
                raise Bad("truncated chunk")
            body += rest[:n]
            rest = rest[n + 2:]
    if "content-length" in hd:
        n = int(hd["content-length"])
        if len(rest) < n:
            raise Bad("body shorter (%d) than Content-Length %d"
                      % (len(rest), n))
        return status, hd, rest[:n], rest[n:]
    return status, hd, rest, b""


def exchange(port, raw, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(raw)
        except OSError:
            # nginx may answer (414, 400) and close before reading it all
            pass
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                raise Bad("no EOF within %ds (got %d bytes)"
                          % (timeout, len(data)))
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        return data
    finally:
        s.close()


def req(method, target, host="localhost", headers=(), version="HTTP/1.1",
        body=b"", close=True):
    if isinstance(target, str):
        target = target.encode("latin-1")
    r = method.encode() + b" " + target + b" " + version.encode() + b"\r\n"
    if host is not None:
        r += b"Host: " + host.encode("latin-1") + b"\r\n"
    for h in headers:
        r += (h.encode("latin-1") if isinstance(h, str) else h) + b"\r\n"
    if close:
        r += b"Connection: close\r\n"
    return r + b"\r\n" + body


# ---------------------------------------------------------------- matrix

def matrix(port_a, port_b):
    h, o = ids()
    tok = tokens()
    M, L, C, S, P = h["man"], h["layer"], h["config"], h["secret"], \
        h["passwd"]
    SM = h["sman"]
    cases = []     # (label, port, raw, expect, opts)

    def add(label, target, expect, port=None, **kw):
        opts = {k: kw.pop(k) for k in list(kw)
                if k in ("head", "n", "body_is", "allow_private",
                         "allow_miss", "check", "http09")}
        method = kw.pop("method", "HEAD" if opts.get("head") else "GET")
        cases.append((label, port or port_a,
                      kw.pop("raw", None) or req(method, target, **kw),
                      expect, opts))

    def bearer(name):
        return "Authorization: Bearer " + tok[name]

    # -------- A: controls: the store serves what it should
    add("ctl manifest by tag", "/v2/lib/app/manifests/v1", {200},
        body_is=o["man"])
    add("ctl manifest by digest", "/v2/lib/app/manifests/sha256:" + M,
        {200}, body_is=o["man"])
    add("ctl blob", "/v2/lib/app/blobs/sha256:" + L, {200},
        body_is=o["layer"])
    add("ctl blob HEAD", "/v2/lib/app/blobs/sha256:" + L, {200}, head=True)
    add("ctl blob range", "/v2/lib/app/blobs/sha256:" + L, {206},
        headers=["Range: bytes=10-19"], body_is=o["layer"][10:20])
    add("ctl blob suffix range", "/v2/lib/app/blobs/sha256:" + L, {206},
        headers=["Range: bytes=-5"], body_is=o["layer"][-5:])
    add("ctl tags", "/v2/lib/app/tags/list", {200},
        body_is=b'{"name":"lib/app","tags":["v1"]}')
    add("ctl ns", "/v2/app/manifests/v1?ns=docker.io", {200},
        body_is=o["man"])
    add("ctl dot segment normalized", "/v2/lib/x/../app/manifests/v1",
        {200}, body_is=o["man"])
    add("ctl double slash merged", "/v2/lib//app/manifests/v1", {200},
        body_is=o["man"])
    add("ctl absolute URI", "http://localhost/v2/lib/app/manifests/v1",
        {200}, body_is=o["man"])
    add("ctl referrers", "/v2/lib/app/referrers/sha256:" + M, {200})
    add("ctl referrers filter", "/v2/lib/app/referrers/sha256:" + M +
        "?artifactType=application/vnd.example.sbom", {200})
    add("ctl catalog", "/v2/_catalog", {200}, check="catalog")
    add("ctl ping", "/v2/", {200}, body_is=b"{}")

    # -------- A: the symlinks in the store are never followed
    evil = ["evil/dirlink", "evil/filelink", "evil/datalink",
            "evil/blobdir", "evil/tagdir", "evil/etclink", "evil/ref",
            "evil/ref2", "etc"]
    for name in evil:
        add("symlink %s manifest tag" % name,
            "/v2/%s/manifests/t" % name, {404})
        # tagdir, ref and ref2 link the store's own manifest with regular
        # files: serving it is right
        add("symlink %s manifest digest" % name,
            "/v2/%s/manifests/sha256:%s" % (name, M),
            {200, 404} if name in ("evil/tagdir", "evil/ref", "evil/ref2")
            else {404}, body_is=o["man"])
        add("symlink %s blob S" % name,
            "/v2/%s/blobs/sha256:%s" % (name, S), {404})
        add("symlink %s blob P" % name,
            "/v2/%s/blobs/sha256:%s" % (name, P), {404})
        add("symlink %s blob P HEAD" % name,
            "/v2/%s/blobs/sha256:%s" % (name, P), {404}, head=True)
        add("symlink %s tags" % name, "/v2/%s/tags/list" % name,
            {200, 404}, check="no-tags")
        add("symlink %s referrers" % name,
            "/v2/%s/referrers/sha256:%s" % (name, M), {200},
            check="empty-index")
    add("symlink blob S in real repo", "/v2/lib/app/blobs/sha256:" + S,
        {404})
    add("symlink blob S range", "/v2/evil/datalink/blobs/sha256:" + S,
        {404}, headers=["Range: bytes=0-3"])
    add("symlink blob S via ns", "/v2/app/blobs/sha256:%s?ns=docker.io" % S,
        {404})
    add("symlink etc passwd name", "/v2/etc/passwd/manifests/t", {404})

    # -------- A: dot segments, encodings, slashes
    trav = [
        "/v2/../../../../etc/passwd",
        "/v2/lib/app/../../../../../etc/passwd",
        "/v2/lib/app/manifests/../../../../../../etc/passwd",
        "/v2/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/v2/%2E%2E/%2E./.%2e/etc/passwd",
        "/v2/lib/app/manifests/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/v2/lib/app/blobs/sha256:..%2f..%2f..%2fetc%2fpasswd",
        "/v2/lib/app/blobs/sha256%3a..%2f..%2fetc%2fpasswd",
        "/v2/lib%2fapp/manifests/v1",
        "/v2/lib%2Fapp%2Fmanifests%2Fv1",
        "/v2/lib/app%2f..%2f..%2f..%2f..%2fetc/manifests/v1",
        "/v2/lib/app/manifests/%252e%252e%252f%252e%252e%252fetc",
        "/v2/%252e%252e/%252e%252e/etc/passwd/manifests/x",
        "/v2/lib/app/manifests/v1%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/v2/lib/app/manifests/..",
        "/v2/lib/app/manifests/.",
        "/v2/lib/app/manifests/...",
        "/v2/lib/app/manifests/.hidden",
        "/v2/lib/app/blobs/..",
        "/v2/lib/app/tags/../../../../etc/passwd",
        "/v2/./././lib/app/./manifests/./v1/..",
        "/v2/lib/.app/manifests/v1",
        "/v2/lib/app./manifests/v1",
        "/v2/lib/-app/manifests/v1",
        "/v2/lib/_app/manifests/v1",
        "/v2/lib/app/_manifests/tags/v1/current/link",
        "/v2/lib/app/_layers/sha256/%s/link" % L,
        "/v2/_layers/manifests/v1",
        "/v2/lib\\..\\..\\..\\etc\\passwd/manifests/v1",
        "/v2/lib%5c..%5c..%5cetc/manifests/v1",
        "/v2/lib/app/manifests/v1%5c..%5c..",
        "/v2/lib/app/manifests/v1%00",
        "/v2/lib/app%00/manifests/v1",
        "/v2/lib/app/blobs/sha256:%s%%00" % L,
        "/v2/lib/app;x=1/manifests/v1",
        "/v2/lib/app/manifests/v1;../../../../etc/passwd",
        "/v2/lib/app/manifests;x/v1",
        "/v2/lib/app/blobs/sha256:%s;/../../etc/passwd" % L,
        "/v2/lib/app/manifests/v1%0d%0aX-Injected:%20yes",
        "/v2/lib/app%0aX-Injected:%20yes/manifests/v1",
        "/v2/lib/\xff\xfe/manifests/v1",
        "/v2/lib/%ff%fe%c0%ae%c0%ae/manifests/v1",
        "/v2/lib/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/manifests/v1",
        "/v2/LIB/APP/manifests/v1",
        "/v2/lib/app/manifests/sha256:" + M.upper(),
        "/v2/lib/app/manifests/SHA256:" + M,
        "/v2/lib/app/manifests/sha256:" + M + "0",
        "/v2/lib/app/manifests/sha256:" + M[:-1],
        "/v2/lib/app/manifests/sha384:" + "a" * 96,
        "/v2/lib/app/manifests/md5:" + "a" * 32,
        "/v2/lib/app/blobs/sha512:" + "a" * 128,
        "/v2/lib/app/blobs/" + L,
        "/v2/lib/app/blobs/sha256:",
        "/v2/lib/app/blobs/:" + L,
        "/v2/lib/app/blobs/sha256::" + L,
        "/v2/lib/app/manifests/",
        "/v2/lib/app/manifests",
        "/v2/lib/app/blobs/",
        "/v2/lib/app/",
        "/v2/lib/app/tags/list/",
        "/v2//tags/list",
        "/v2/tags/list",
        "/v2/manifests/v1",
        "/v2/_catalog/../lib/app/manifests/v1",
        "/v2/_catalog/",
        "/v2/_catalog/x",
        "/v2//_catalog",
        "/V2/lib/app/manifests/v1",
        "/v2",
        "/v2/lib/app/referrers/sha256:../../../../etc",
        "/v2/lib/app/referrers/" + M,
    ]
    for t in trav:
        add("traversal %s" % t[:60], t, {200, 301, 400, 404, 405})

    # overlong names and references
    add("name 256", "/v2/%s/manifests/v1" % ("a" * 256), {400})
    add("name 255 ok grammar", "/v2/%s/manifests/v1" % ("a" * 255), {404})
    add("name 4096", "/v2/%s/manifests/v1" % ("a/" * 2048 + "b"), {400})
    add("name 70000", "/v2/%s/manifests/v1" % ("a" * 70000), {400, 414})
    add("tag 129", "/v2/lib/app/manifests/%s" % ("t" * 129), {404})
    add("tag 128", "/v2/lib/app/manifests/%s" % ("t" * 128), {404})
    add("digest 4096", "/v2/lib/app/blobs/sha256:%s" % ("a" * 4096), {400})
    add("components 127", "/v2/%s/manifests/v1" % "/".join(["a"] * 127),
        {404})
    add("query 6000", "/v2/lib/app/tags/list?" + "x=1&" * 1500, {200})
    add("query 70000", "/v2/lib/app/tags/list?" + "x" * 70000, {400, 414})

    # query arguments
    q = [
        ("/v2/lib/app/tags/list?n=99999999999999999999999", {400}),
        ("/v2/lib/app/tags/list?n=18446744073709551616", {400}),
        ("/v2/lib/app/tags/list?n=-1", {400}),
        ("/v2/lib/app/tags/list?n=1e3", {400}),
        ("/v2/lib/app/tags/list?n=%00", {400}),
        ("/v2/lib/app/tags/list?n=", {400}),
        ("/v2/lib/app/tags/list?n=0", {200}),
        ("/v2/lib/app/tags/list?last=a/b", {400}),
        ("/v2/lib/app/tags/list?last=../../etc", {400}),
        ("/v2/lib/app/tags/list?last=%2e%2e%2f%2e%2e", {400}),
        ("/v2/lib/app/tags/list?last=v0%0d%0aX-Injected:%20yes&n=1", {400}),
        ("/v2/_catalog?last=../../etc", {400}),
        ("/v2/_catalog?last=lib/app&n=1", {200}),
        ("/v2/_catalog?last=%2e%2e%2f%2e%2e%2fetc", {400}),
        ("/v2/_catalog?n=1000001", {400}),
        ("/v2/_catalog?n=1&last=a%0d%0aX-Injected:%20yes", {400}),
        ("/v2/app/manifests/v1?ns=../../etc", {404}),
        ("/v2/app/manifests/v1?ns=docker.io/../../etc", {404}),
        ("/v2/app/manifests/v1?ns=docker.io%2f..%2f..%2fetc", {404}),
        ("/v2/app/manifests/v1?ns=docker.io%00", {404}),
        ("/v2/app/manifests/v1?ns=DOCKER.IO", {200}),
        ("/v2/passwd/manifests/v1?ns=docker.io/../../../etc", {404}),
        ("/v2/app/manifests/v1?ns=%0d%0aX-Injected:%20yes", {404}),
        ("/v2/app/tags/list?ns=docker.io&n=0", {200}),
        ("/v2/app/tags/list?ns=docker.io%0d%0aX-Injected:%20yes&n=0",
         {404}),
        ("/v2/%s/manifests/v1?ns=docker.io" % ("a" * 252), {400}),
        ("/v2/lib/app/referrers/sha256:%s?artifactType=%%22a%%22" % M,
         {400}),
        ("/v2/lib/app/referrers/sha256:%s?artifactType=a%%0d%%0aX-Injected:"
         "%%20yes" % M, {400}),
        ("/v2/lib/app/referrers/sha256:%s?artifactType=a%%5c" % M, {400}),
        ("/v2/lib/app/referrers/sha256:%s?artifactType=%s" % (M, "a" * 300),
         {400}),
        ("/v2/lib/app/referrers/sha256:%s?artifactType=../../etc" % M,
         {200}),
        ("/v2/lib/app/referrers/sha256:%s?artifactType=" % M, {400}),
    ]
    for t, e in q:
        add("query %s" % t[:70], t, e)

    # request line, versions, Host
    add("HTTP/1.0", "/v2/lib/app/manifests/v1", {200}, version="HTTP/1.0",
        body_is=o["man"])
    add("HTTP/1.0 traversal", "/v2/../etc/passwd", {404},
        version="HTTP/1.0")
    add("HTTP/0.9", None, None, raw=b"GET /v2/lib/app/../../../etc/passwd\r\n",
        http09=True)
    add("HTTP/0.9 symlink", None, None,
        raw=("GET /v2/evil/datalink/blobs/sha256:%s\r\n" % S).encode(),
        http09=True)
    add("HTTP/2.0 line", "/v2/", {400, 505}, version="HTTP/2.0")
    add("HTTP/1.1 no Host", "/v2/", {400}, host=None)
    add("Host traversal", "/v2/lib/app/manifests/v1", {200, 400},
        host="../../etc/passwd")
    add("Host with slash", "/v2/lib/app/manifests/v1", {400},
        host="a/../../etc")
    add("Host long", "/v2/lib/app/manifests/v1", {200, 400},
        host="a" * 3000)
    add("two Host", "/v2/lib/app/manifests/v1", {400},
        headers=["Host: other"])
    add("absolute URI traversal", "http://localhost/v2/../../etc/passwd",
        {400})
    add("absolute URI other host",
        "http://evil.example/v2/lib/app/manifests/v1", {200})
    add("absolute URI symlink",
        "http://localhost/v2/evil/dirlink/manifests/t", {404})
    add("raw NUL in path", None, {400},
        raw=b"GET /v2/lib/app\x00/manifests/v1 HTTP/1.1\r\nHost: x\r\n"
            b"Connection: close\r\n\r\n")
    add("raw CR in path", None, {400},
        raw=b"GET /v2/lib/app\r/manifests/v1 HTTP/1.1\r\nHost: x\r\n"
            b"Connection: close\r\n\r\n")
    add("raw space in path", None, {400, 404},
        raw=b"GET /v2/lib/app /manifests/v1 HTTP/1.1\r\nHost: x\r\n"
            b"Connection: close\r\n\r\n")
    add("raw high bytes", None, {400, 404},
        raw=b"GET /v2/lib/\xc0\xae\xc0\xae/manifests/v1 HTTP/1.1\r\n"
            b"Host: x\r\nConnection: close\r\n\r\n")
    add("asterisk target", "*", {400})
    add("no slash target", "v2/lib/app/manifests/v1", {400})

    # methods, Range, conditional
    for m in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"):
        add("method %s" % m, "/v2/lib/app/manifests/v1", {405}, method=m,
            headers=["Content-Length: 0"])
    add("method TRACE", "/v2/lib/app/manifests/v1", {405}, method="TRACE")
    add("method CONNECT", "/v2/lib/app/manifests/v1", {400, 405},
        method="CONNECT")
    add("HEAD manifest", "/v2/lib/app/manifests/v1", {200}, head=True)
    add("HEAD traversal", "/v2/../../etc/passwd", {400}, head=True)
    add("range beyond", "/v2/lib/app/blobs/sha256:" + L, {416},
        headers=["Range: bytes=99999999-"])
    add("range overflow", "/v2/lib/app/blobs/sha256:" + L, {200, 416},
        headers=["Range: bytes=18446744073709551616-"])
    add("range negative", "/v2/lib/app/blobs/sha256:" + L, {200, 416},
        headers=["Range: bytes=-0"])
    add("range multi", "/v2/lib/app/blobs/sha256:" + L, {206, 200},
        headers=["Range: bytes=0-1,5-6,0-1"])
    add("range garbage", "/v2/lib/app/blobs/sha256:" + L, {200, 416},
        headers=["Range: bytes=a-b"])
    add("range on manifest", "/v2/lib/app/manifests/v1", {200},
        headers=["Range: bytes=0-3"], body_is=o["man"])
    add("range HEAD", "/v2/lib/app/blobs/sha256:" + L, {200, 206}, head=True,
        headers=["Range: bytes=0-3"])
    add("if-none-match blob", "/v2/lib/app/blobs/sha256:" + L, {304},
        headers=['If-None-Match: "sha256:%s"' % L])
    add("if-none-match star", "/v2/lib/app/manifests/v1", {304},
        headers=["If-None-Match: *"])
    add("if-none-match other", "/v2/lib/app/manifests/v1", {200},
        headers=['If-None-Match: "sha256:%s"' % S], body_is=o["man"])
    add("if-none-match symlink", "/v2/evil/datalink/blobs/sha256:" + S,
        {404}, headers=['If-None-Match: "sha256:%s"' % S])
    add("if-none-match W/ long", "/v2/lib/app/manifests/v1", {200},
        headers=["If-None-Match: W/" + ",".join(['"x"'] * 500)])
    add("if-modified-since", "/v2/lib/app/blobs/sha256:" + L, {200, 304},
        headers=["If-Modified-Since: Thu, 01 Jan 2099 00:00:00 GMT"])
    add("accept garbage", "/v2/lib/app/manifests/v1", {404},
        headers=["Accept: " + ";;;,,," * 500])
    add("many accept lines", "/v2/lib/app/manifests/v1", {200},
        headers=["Accept: text/plain"] * 50 + ["Accept: */*"])

    # smuggling and pipelining
    add("CL and TE on GET", None, {400},
        raw=b"GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b"0\r\n\r\nGET /v2/evil/datalink/blobs/sha256:" + S.encode() +
            b" HTTP/1.1\r\nHost: x\r\n\r\n")
    smuggled = ("GET /v2/evil/datalink/blobs/sha256:%s HTTP/1.1\r\n"
                "Host: x\r\n\r\n" % S).encode()
    add("body hides a request", None, {200}, n=1,
        raw=b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(smuggled)).encode() +
            b"\r\n\r\n" + smuggled)
    add("chunked body hides a request", None, {200}, n=1,
        raw=b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" +
            ("%x\r\n" % len(smuggled)).encode() + smuggled +
            b"\r\n0\r\n\r\n")
    add("TE identity", None, {400, 501},
        raw=b"GET /v2/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity"
            b"\r\nConnection: close\r\n\r\n")
    add("two CL", None, {400},
        raw=b"GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
            b"Content-Length: 30\r\nConnection: close\r\n\r\n")
    add("bad chunk size", None, {400},
        raw=b"GET /v2/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
            b"\r\nConnection: close\r\n\r\nfffffffffffffffffff\r\n")
    # nginx closes after its own 400, so that one comes last
    pipe = (req("GET", "/v2/lib/app/manifests/v1", close=False) +
            req("GET", "/v2/lib/app;x/manifests/v1", close=False) +
            req("GET", "/v2/evil/filelink/blobs/sha256:" + S, close=False) +
            req("HEAD", "/v2/lib/app/blobs/sha256:" + L, close=False) +
            req("GET", "/v2/lib/app/blobs/sha256:" + L,
                headers=["Range: bytes=0-0"], close=False) +
            req("GET", "/v2/evil/dirlink/tags/list", close=False) +
            req("GET", "/v2/../../etc/passwd", close=True))
    add("pipelined 7", None, [200, 400, 404, 200, 206, 404, 400], raw=pipe,
        n=7, head=[False, False, False, True, False, False, False])
    add("pipelined 1.0 keep-alive", None, [200, 404], n=2,
        raw=req("GET", "/v2/lib/app/tags/list", version="HTTP/1.0",
                headers=["Connection: keep-alive"], close=False) +
        req("GET", "/v2/evil/etclink/manifests/t", version="HTTP/1.0",
            close=False))
    add("header 10k", "/v2/lib/app/manifests/v1", {200, 400},
        headers=["X-Long: " + "a" * 10000])
    add("header NUL", None, {400},
        raw=b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n"
            b"Connection: close\r\n\r\n")

    # -------- B: token auth; never secret/repo without its scope
    sec = ["/v2/secret/repo/manifests/s1",
           "/v2/secret/repo/manifests/sha256:" + SM,
           "/v2/secret/repo/blobs/sha256:" + h["slayer"],
           "/v2/secret/repo/tags/list",
           "/v2/secret/repo/referrers/sha256:" + SM]
    add("B ctl app with app token", "/v2/lib/app/manifests/v1", {200},
        port=port_b, headers=[bearer("app")], body_is=o["man"])
    add("B ctl public no token", "/v2/pub/img/manifests/v1", {200},
        port=port_b, body_is=o["man"])
    add("B ctl public via ns", "/v2/img/manifests/v1?ns=docker.io", {200},
        port=port_b, body_is=o["man"])
    add("B ctl secret with secret token", sec[0], {200}, port=port_b,
        headers=[bearer("secret")], allow_private=True)
    add("B ctl secret blob with secret token", sec[2], {200}, port=port_b,
        headers=[bearer("secret")], allow_private=True)
    add("B ctl catalog with catalog token", "/v2/_catalog", {200},
        port=port_b, headers=[bearer("catalog")], check="catalog")
    add("B ctl miss pass authorized", "/v2/lib/app/manifests/nosuchtag",
        {200}, port=port_b, headers=[bearer("app")], allow_miss=True)
    add("B ctl ping with token", "/v2/", {200}, port=port_b,
        headers=[bearer("app")])
    add("B ping without token", "/v2/", {401}, port=port_b)
    add("B catalog app token", "/v2/_catalog", {401}, port=port_b,
        headers=[bearer("app")])
    add("B catalog no token", "/v2/_catalog", {401}, port=port_b)
    add("B miss pass no token", "/v2/secret/repo/manifests/nosuch", {401},
        port=port_b)
    add("B miss pass app token", "/v2/secret/repo/manifests/nosuch", {401},
        port=port_b, headers=[bearer("app")])
    for t in sec:
        add("B no token %s" % t[:40], t, {401}, port=port_b)
        add("B no token HEAD %s" % t[:40], t, {401}, port=port_b, head=True)
        add("B app token %s" % t[:40], t, {401}, port=port_b,
            headers=[bearer("app")])
    for name in ("expired", "none", "hs256", "aud", "iss", "dots", "glob",
                 "glob2", "space", "push", "regtype", "case", "ns",
                 "flipped"):
        add("B token %s" % name, sec[0], {401}, port=port_b,
            headers=[bearer(name)])
    add("B token lowercase bearer", sec[0], {200}, port=port_b,
        headers=["Authorization: bearer " + tok["secret"]],
        allow_private=True)
    add("B two tokens", sec[0], {400, 401}, port=port_b,
        headers=[bearer("app"), bearer("secret")], allow_private=True)
    add("B basic auth", sec[0], {401}, port=port_b,
        headers=["Authorization: Basic YWRtaW46SGFyYm9yMTIzNDU="])
    add("B token 9000 bytes", sec[0], {400, 401}, port=port_b,
        headers=["Authorization: Bearer " + "a" * 9000])
    tricks = [
        "/v2/lib/app/../../secret/repo/manifests/s1",
        "/v2/lib/app/%2e%2e/%2e%2e/secret/repo/manifests/s1",
        "/v2/lib/app%2f..%2f..%2fsecret%2frepo/manifests/s1",
        "/v2/lib/app/..%2f..%2fsecret/repo/manifests/s1",
        "/v2/pub/img/../../secret/repo/manifests/s1",
        "/v2/pub/img/%2e%2e/%2e%2e/secret/repo/manifests/s1",
        "/v2/pub/img/..%2f..%2fsecret/repo/blobs/sha256:" + h["slayer"],
        "/v2/secret//repo/manifests/s1",
        "/v2//secret/repo/manifests/s1",
        "/v2/secret/repo//manifests/s1",
        "/v2/secret/repo/manifests//s1",
        "/v2/secret/repo/manifests/s1/",
        "/v2/secret/repo/manifests/s1/.",
        "/v2/secret/repo/./manifests/s1",
        "/v2/secret/./repo/manifests/s1",
        "/v2/secret/repo/manifests/s1?ns=docker.io",
        "/v2/secret/repo/manifests/s1?ns=",
        "/v2/secret/repo/manifests/s1?ns=docker.io&ns=x",
        "/v2/secret/repo/manifests/s1?NS=docker.io",
        "/v2/secret/repo/manifests/s1?x=1;ns=docker.io",
        "/v2/secret/repo/manifests/s1?%6es=docker.io",
        "/v2/secret%2frepo/manifests/s1",
        "/v2/secret/repo%2fmanifests%2fs1",
        "/v2/secret/repo/manifests%2fs1",
        "/v2/pub/img/manifests/../../../secret/repo/manifests/s1",
        "/v2/pub/img/tags/list/../../../../secret/repo/manifests/s1",
        "/v2/pub/img/blobs/uploads/../../../../secret/repo/manifests/s1",
        "/v2/../v2/secret/repo/manifests/s1",
        "/v2/pub/../secret/repo/manifests/s1",
        "/v2/pub/img%00/../../secret/repo/manifests/s1",
        "/v2/secret/repo/manifests/s1%23",
        "/v2/secret/repo/manifests/s1#frag",
        "http://localhost/v2/secret/repo/manifests/s1",
        "http://localhost/v2/pub/img/../../secret/repo/manifests/s1",
        "/v2/../secret/repo/manifests/s1?ns=docker.io",
        "/v2/%2e%2e/secret/repo/manifests/s1?ns=docker.io",
        "/v2/secret/repo/manifests/s1?ns=docker.io%2f..%2f..",
    ]
    for t in tricks:
        for tk in (None, "app"):
            add("B trick %s %s" % (tk or "anon", t[:60]), t,
                {400, 401, 404}, port=port_b,
                headers=[bearer(tk)] if tk else [])
        add("B trick HEAD %s" % t[:60], t, {400, 401, 404}, port=port_b,
            head=True)
    # ns maps it to pub/repo, which harbor_public opens to anyone: a miss
    add("B ns into the public prefix", "/v2/repo/manifests/s1?ns=docker.io",
        {200}, port=port_b, allow_miss=True)
    add("B POST public", "/v2/pub/img/blobs/uploads/", {401, 405},
        port=port_b, method="POST", headers=["Content-Length: 0"])
    add("B DELETE public", "/v2/pub/img/manifests/v1", {401, 405},
        port=port_b, method="DELETE")
    add("B pipelined auth", None, [200, 401, 401], n=3, port=port_b,
        raw=req("GET", "/v2/pub/img/manifests/v1", close=False) +
        req("GET", "/v2/secret/repo/manifests/s1", close=False) +
        req("GET", "/v2/pub/img/../../secret/repo/blobs/sha256:" +
            h["slayer"], close=True))
    add("B symlink with catalog token", "/v2/evil/dirlink/manifests/t",
        {401}, port=port_b, headers=[bearer("catalog")])
    add("B symlink public miss", "/v2/pub/img/blobs/sha256:" + S, {200},
        port=port_b, allow_miss=True)
    return cases, o, h


def check_case(label, data, expect, opts, o, h):
    body_forbidden = [OUTSIDE_MARK, PASSWD_MARK]
    if not opts.get("allow_private"):
        body_forbidden.append(PRIVATE_MARK)
    if opts.get("http09"):
        for m in body_forbidden:
            if m in data:
                raise Bad("HTTP/0.9 answer holds %r" % m)
        if data.startswith(b"HTTP/1.") and not STATUS_RE.match(
                data.split(b"\r\n", 1)[0]):
            raise Bad("bad status line")
        return ["0.9"]
    n = opts.get("n", 1)
    heads = opts.get("head", False)
    if not isinstance(heads, list):
        heads = [heads] * n
    statuses = []
    rest = data
    for i in range(n):
        status, hd, body, rest = parse_one(rest, heads[i])
        statuses.append(status)
        want = expect[i] if isinstance(expect, list) else expect
        if status not in (want if isinstance(want, set) else {want}):
            raise Bad("status %d, want %s; body %r"
                      % (status, sorted(want) if isinstance(want, set)
                         else want, body[:200]))
        if any(k.startswith("x-injected") for k in hd) or \
                b"X-Injected" in b"".join(v for v in hd.values()):
            raise Bad("header injected")
        for m in body_forbidden:
            if m in body:
                raise Bad("body holds %r" % m)
        if MISS_MARK in body and not opts.get("allow_miss"):
            raise Bad("reached the miss-pass location")
        if heads[i] and body:
            raise Bad("HEAD with a body")
        if status == 200 and "body_is" in opts and body != opts["body_is"]:
            raise Bad("200 with unexpected body %r" % body[:120])
        if status == 206 and "body_is" in opts and body != opts["body_is"]:
            raise Bad("206 with unexpected body %r" % body[:120])
        chk = opts.get("check")
        if chk and status == 200:
            j = json.loads(body)
            if chk == "catalog":
                repos = j["repositories"]
                for want_repo in ("lib/app", "pub/img", "secret/repo",
                                  "evil/filelink", "evil/tagdir"):
                    if want_repo not in repos:
                        raise Bad("catalog misses %s: %s" % (want_repo,
                                                            repos))
                for bad in ("evil/dirlink", "etc"):
                    if bad in repos or any(r.startswith(bad + "/")
                                           for r in repos):
                        raise Bad("catalog lists symlinked %s" % bad)
            elif chk == "no-tags":
                if j.get("tags") != []:
                    raise Bad("tags through a symlink: %s" % j)
            elif chk == "empty-index":
                if j.get("manifests") != []:
                    raise Bad("referrers through a symlink: %s" % j)
    if n > 1 and rest.strip():
        raise Bad("%d bytes after the last expected response: %r"
                  % (len(rest), rest[:200]))
    if n == 1 and rest.strip() and not opts.get("head"):
        raise Bad("more than one response: %r" % rest[:200])
    return statuses


def run_matrix(port_a, port_b):
    cases, o, h = matrix(port_a, port_b)
    fails = 0
    counts = {}
    for label, port, raw, expect, opts in cases:
        try:
            data = exchange(port, raw)
            st = check_case(label, data, expect, opts, o, h)
            for s in st:
                counts[s] = counts.get(s, 0) + 1
        except (Bad, ValueError, KeyError, OSError) as e:
            fails += 1
            print("FAIL - %s: %s" % (label, e))
    print("requests: %d cases, statuses %s"
          % (len(cases), " ".join("%s:%d" % (k, v)
                                  for k, v in sorted(counts.items(),
                                                     key=str))))
    return fails


# ---------------------------------------------------------------- strace

LINE_RE = re.compile(r'^(\d+)\s+(\w+)\((.*)\)\s+=\s+(.*)$')
FD_RE = re.compile(r'^(?:AT_FDCWD|-?\d+)<(.*?)>$')


def c_unescape(s):
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c != "\\":
            out += c.encode("latin-1", "replace")
            i += 1
            continue
        n = s[i + 1]
        if n == "x":
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        elif n in "01234567":
            j = i + 1
            while j < len(s) and j < i + 4 and s[j] in "01234567":
                j += 1
            out.append(int(s[i + 1:j], 8))
            i = j
        else:
            out += {"n": b"\n", "t": b"\t", "r": b"\r", "v": b"\v",
                    "f": b"\f", "\\": b"\\", '"': b'"'}.get(n, n.encode())
            i += 2
    return out.decode("latin-1")


def split_args(a):
    args, cur, q, i = [], "", False, 0
    while i < len(a):
        c = a[i]
        if q:
            cur += c
            if c == "\\":
                cur += a[i + 1]
                i += 1
            elif c == '"':
                q = False
        elif c == '"':
            q = True
            cur += c
        elif c == "<":
            j = a.index(">", i)
            cur += a[i:j + 1]
            i = j
        elif c == ",":
            args.append(cur.strip())
            cur = ""
        else:
            cur += c
        i += 1
    args.append(cur.strip())
    return args


def strace_check(path, allowed, forbidden):
    pending = {}
    seen = 0
    bad = []
    calls = {}
    for raw in open(path, encoding="latin-1"):
        raw = raw.rstrip("\n")
        m = re.match(r'^(\d+)\s+(.*)$', raw)
        if not m:
            continue
        pid, rest = m.groups()
        if rest.endswith("<unfinished ...>"):
            pending[pid] = rest[:-len("<unfinished ...>")].rstrip()
            continue
        r = re.match(r'^<\.\.\. \w+ resumed>\s?(.*)$', rest)
        if r:
            rest = pending.pop(pid, "") + r.group(1)
        m = LINE_RE.match(pid + " " + rest)
        if not m:
            continue
        _, name, args, ret = m.groups()
        if name not in ("open", "openat", "openat2", "stat", "lstat",
                        "newfstatat", "statx", "readlink", "readlinkat",
                        "access", "faccessat", "faccessat2"):
            continue
        a = split_args(args)
        paths = []
        if name in ("openat", "openat2", "newfstatat", "statx",
                    "readlinkat", "faccessat", "faccessat2"):
            dm = FD_RE.match(a[0])
            base = dm.group(1) if dm else None
            p = c_unescape(a[1][1:-1]) if a[1].startswith('"') else ""
            if p.startswith("/"):
                paths.append(p)
            elif base is not None:
                paths.append(os.path.join(base, p) if p else base)
            elif a[0] == "AT_FDCWD":
                paths.append("<relative to cwd>:" + p)
        else:
            if a[0].startswith('"'):
                paths.append(c_unescape(a[0][1:-1]))
        rm = re.match(r'^\d+<(.*?)>', ret)
        if rm:
            paths.append(rm.group(1))
        seen += 1
        calls[name] = calls.get(name, 0) + 1
        # the store's one-call open must refuse symlinks and escapes
        if name == "openat2" and not ("RESOLVE_BENEATH" in args
                                      and "RESOLVE_NO_SYMLINKS" in args):
            bad.append("openat2 without RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS:"
                       " " + raw[:300])
        for p in paths:
            n = os.path.normpath(p) if p.startswith("/") else p
            ok = any(n == a_ or n.startswith(a_.rstrip("/") + "/")
                     for a_ in allowed)
            if not ok or any(n == f or n.startswith(f + "/")
                             for f in forbidden):
                bad.append("%s: %s" % (p, raw[:300]))
    return seen, calls, bad


# -------------------------------------------------- thread-pool lifetime

BIG = 256 * 1024 * 1024


def big_blob():
    """a sparse 256 MiB blob linked in lib/app: hashing it takes a while"""
    v2 = ROOT + "/docker/registry/v2"
    hsh = hashlib.sha256()
    zero = bytes(1 << 20)
    for _ in range(BIG >> 20):
        hsh.update(zero)
    d = hsh.hexdigest()
    path = "%s/blobs/sha256/%s/%s/data" % (v2, d[:2], d)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(BIG)
    os.chmod(path, 0o644)
    write("%s/repositories/lib/app/_layers/sha256/%s/link" % (v2, d),
          b"sha256:" + d.encode())
    return d


def fetch(port, digest, out, i):
    """GET the big blob, hashing the body as it streams in"""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        s.sendall(req("GET", "/v2/lib/app/blobs/sha256:" + digest))
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise Bad("EOF in the header")
            buf += chunk
        head, body = buf.split(b"\r\n\r\n", 1)
        status = int(head.split(b" ", 2)[1])
        n = len(body)
        hsh = hashlib.sha256(body)
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            n += len(chunk)
            hsh.update(chunk)
        s.close()
        out[i] = (status, n, hsh.hexdigest() == digest)
    except Exception as e:
        out[i] = ("error", str(e), False)


def abandon(port, digest):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(req("GET", "/v2/lib/app/blobs/sha256:" + digest, close=False))
    time.sleep(0.02)
    # RST, not FIN: the request is torn down while the thread hashes
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
    s.close()


def lifetime(port, master, digest):
    import threading
    fails = 0

    # 1. clients that vanish while their blob is being hashed
    for _ in range(12):
        abandon(port, digest)
    time.sleep(0.5)
    out = {}
    fetch(port, digest, out, 0)
    if out[0] != (200, BIG, True):
        print("FAIL - blob after abandoned hashes: %s" % (out[0],))
        fails += 1
    else:
        print("ok   - 12 requests torn down while hashing, the next one "
              "is served whole")

    # 2. a reload while three hashes run
    out = {}
    ts = [threading.Thread(target=fetch, args=(port, digest, out, i))
          for i in range(3)]
    for t in ts:
        t.start()
    time.sleep(0.15)
    os.kill(master, 1)
    for t in ts:
        t.join()
    if any(out[i] != (200, BIG, True) for i in range(3)):
        print("FAIL - reload while hashing: %s" % out)
        fails += 1
    else:
        print("ok   - reload while 3 blobs were hashed: all 3 served whole")

    # 3. a graceful stop while two hashes run
    time.sleep(1)
    out = {}
    ts = [threading.Thread(target=fetch, args=(port, digest, out, i))
          for i in range(2)]
    for t in ts:
        t.start()
    time.sleep(0.15)
    os.kill(master, 3)
    for t in ts:
        t.join()
    if any(out[i] != (200, BIG, True) for i in range(2)):
        print("FAIL - graceful stop while hashing: %s" % out)
        fails += 1
    else:
        print("ok   - graceful stop while 2 blobs were hashed: both served "
              "whole")
    for _ in range(100):
        try:
            os.kill(master, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        print("FAIL - nginx did not stop within 10 s of QUIT")
        fails += 1
    return fails


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "build":
        build()
    elif cmd == "ids":
        h, _ = ids()
        print(" ".join("%s=%s" % kv for kv in sorted(h.items())))
    elif cmd == "bigblob":
        print(big_blob())
    elif cmd == "lifetime":
        sys.exit(1 if lifetime(int(sys.argv[2]), int(sys.argv[3]),
                               sys.argv[4]) else 0)
    elif cmd == "matrix":
        sys.exit(1 if run_matrix(int(sys.argv[2]), int(sys.argv[3])) else 0)
    elif cmd == "strace":
        allowed = sys.argv[3].split(":")
        forbidden = sys.argv[4].split(":")
        seen, calls, bad = strace_check(sys.argv[2], allowed, forbidden)
        print("strace: %d path syscalls (%s)" % (
            seen, " ".join("%s:%d" % kv for kv in sorted(calls.items()))))
        for b in bad[:40]:
            print("FAIL - outside the allowed prefixes: " + b)
        if seen == 0:
            print("FAIL - strace saw no path syscall at all")
        # "openat2": the kernel has it, the worker must have used it
        nosys = len(sys.argv) > 5 and sys.argv[5] == "walk"
        if not nosys and calls.get("openat2", 0) == 0:
            print("FAIL - no openat2() call, and no notice that the kernel "
                  "lacks it")
            seen = 0
        sys.exit(1 if bad or seen == 0 else 0)
PY

export ROOT=$root OUTSIDE=$outside AUTHDIR=$d/auth

python3 "$py" build || he_fail "could not build the store"
he_pass "store with symlinks to $outside and /etc built"

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/auth/key.pem" \
    -out "$d/auth/cert.pem" -days 2 -subj /CN=harbor-token \
    >/dev/null 2>&1 || he_fail "openssl could not make the token key"

port_b=$(he_port)
port_c=$(he_port)

HE_NGINX_HTTP_EXTRA="
    server {
        listen 127.0.0.1:$port_b;
        harbor_root $root;
        open_file_cache max=1000 inactive=60s;
        open_file_cache_errors on;
        disable_symlinks off;
        location /v2/ {
            harbor_registry on;
            harbor_verify once;
            harbor_ns docker.io pub;
            harbor_auth token;
            harbor_token_realm https://auth.example/service/token;
            harbor_token_cert $d/auth/cert.pem;
            harbor_public pub/*;
            harbor_miss_pass @miss;
        }
        location @miss {
            return 200 'MISS-PASS-REACHED\n';
        }
    }
    server {
        listen 127.0.0.1:$port_c;
        harbor_root $root;
        location /v2/ {
            harbor_registry on;
            harbor_verify always;
        }
    }"
export HE_NGINX_HTTP_EXTRA

he_nginx_start "$ngx" "$root" \
    "harbor_verify off; harbor_ns docker.io lib; disable_symlinks off;" \
    >/dev/null || he_fail "nginx did not start"
port_a=$HE_NGINX_PORT
errlog=$ngx/logs/error.log

he_wait_http "http://127.0.0.1:$port_b/v2/" \
    || he_fail "server B did not answer on $port_b"

worker=$(he_nginx_workers "$ngx")
[ "$(echo "$worker" | wc -w)" = 1 ] || he_fail "want one worker, got: $worker"

# strace the worker and all its threads (the hashing thread pool too)
strace -f -y -s 65536 \
    -e trace=open,openat,openat2,stat,lstat,newfstatat,statx,readlink,readlinkat,access,faccessat,faccessat2 \
    -o "$d/strace.txt" -p "$worker" 2> "$d/strace.err" &
strace_pid=$!
he_defer "kill -INT $strace_pid 2>/dev/null"

for i in $(seq 50); do
    grep -q "TracerPid:[[:space:]]*[1-9]" "/proc/$worker/status" && break
    sleep 0.1
done
grep -q "TracerPid:[[:space:]]*[1-9]" "/proc/$worker/status" \
    || he_fail "strace did not attach to worker $worker: $(cat "$d/strace.err")"
sleep 0.3
he_pass "strace attached to worker $worker"

python3 "$py" matrix "$port_a" "$port_b" > "$d/matrix.out" 2>&1
matrix_rc=$?
cat "$d/matrix.out"

kill -INT "$strace_pid" 2>/dev/null
wait "$strace_pid" 2>/dev/null

[ $matrix_rc = 0 ] || he_fail "hostile request matrix: $(grep -c '^FAIL' "$d/matrix.out") case(s) failed"
he_pass "every response well-formed, expected status, nothing from outside the store"

worker_after=$(he_nginx_workers "$ngx")
he_eq "same worker pid after the matrix" "$worker_after" "$worker"

if grep -a -E "exited on signal|exited with code [1-9]" "$errlog"; then
    he_fail "a worker crashed (see above)"
fi
he_pass "no worker crash in the error log"

# the allowed prefixes: the store and nginx's own directory (conf, logs,
# temp paths, the module copy); the outside dir and /etc are forbidden
allowed="$(cd "$root" && pwd -P):$(cd "$ngx" && pwd -P)"
forbidden="$(cd "$outside" && pwd -P):/etc"
# the module says so when the kernel (or a seccomp filter) refuses openat2
if grep -a -q "openat2() is not available" "$errlog"; then
    open_mode=walk
else
    open_mode=openat2
fi
python3 "$py" strace "$d/strace.txt" "$allowed" "$forbidden" "$open_mode" \
    || he_fail "the worker touched paths outside the store, or did not open them with openat2() (strace)"
he_pass "strace: no path outside $allowed (forbidden: $forbidden); store files opened with $open_mode"

# log injection: a decoded CR/LF from the URI must not start a log line
if grep -a -n "^X-Injected" "$errlog"; then
    he_fail "a client-supplied line break reached the error log (above)"
fi
he_pass "no client-supplied line break in the error log"

# the thread pool: requests torn down, a reload and a stop while hashing
big=$(python3 "$py" bigblob) || he_fail "could not write the big blob"
master=$(cat "$ngx/nginx.pid")
python3 "$py" lifetime "$port_c" "$master" "$big" \
    || he_fail "thread-pool lifetime"
if grep -a -E "exited on signal|exited with code [1-9]|\[alert\]" \
        "$errlog"
then
    he_fail "a worker crashed or nginx alerted (see above)"
fi
he_pass "no crash or alert across the lifetime checks"

# the store holds symlinks the matrix asks for: each refusal is logged
refused=$(grep -a -c "Too many levels of symbolic links\|is not a" "$errlog")
[ "$refused" -gt 0 ] \
    || he_fail "no symlink refusal in the error log, though the matrix asks for symlinked files"
he_pass "$refused symlink refusals logged"

he_pass "t_traversal done in $(he_elapsed)s"
