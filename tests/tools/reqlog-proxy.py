#!/usr/bin/env python3
"""reqlog-proxy.py: a logging HTTP proxy in front of a registry, to see what
a client (containerd, skopeo, curl) really sends.  Python's standard library
only.

  reqlog-proxy.py --listen 127.0.0.1:PORT --upstream HOST:PORT --log FILE

Each request is forwarded to the upstream over plain HTTP as it came (same
method, path, headers and body; hop-by-hop headers dropped) and the answer
is streamed back.  When the answer is done, one JSON object is appended to
FILE:

  {"t": UNIX-TIME, "client": ADDR, "method": M, "path": P,
   "headers": [[NAME, VALUE], ...],   every header line as sent, in order,
                                      repeated ones (Accept) one by one
   "body_len": N, "status": S, "resp_headers": [[NAME, VALUE], ...],
   "resp_bytes": N}                   body bytes sent back

An upstream that cannot be reached gives the client a 502 (logged too).
Stop it with kill PID.
"""

import argparse
import http.client
import http.server
import json
import socketserver
import sys
import threading
import time

# RFC 9110 section 7.6.1: connection-specific, never forwarded
HOP_BY_HOP = frozenset(("connection", "keep-alive", "proxy-connection",
                        "transfer-encoding", "te", "trailer", "upgrade"))


def read_body(h):
    """The request body (None if it has none), chunked or with a length."""
    n = h.headers.get("Content-Length")
    if n is not None:
        return h.rfile.read(int(n))
    if h.headers.get("Transfer-Encoding", "").lower() != "chunked":
        return None
    parts = []
    while True:
        size = int(h.rfile.readline().split(b";")[0].strip(), 16)
        if size == 0:
            while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        parts.append(h.rfile.read(size))
        h.rfile.readline()


def make_handler(upstream, log_path, lock):
    host, port = upstream.rsplit(":", 1)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def write_log(self, rec):
            with lock, open(log_path, "a") as f:
                f.write(json.dumps(rec) + "\n")

        def proxy(self):
            body = read_body(self)
            rec = {
                "t": round(time.time(), 3),
                "client": self.client_address[0],
                "method": self.command,
                "path": self.path,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body_len": len(body) if body is not None else 0,
            }
            up = http.client.HTTPConnection(host, int(port), timeout=120)
            try:
                up.putrequest(self.command, self.path, skip_host=True,
                              skip_accept_encoding=True)
                for k, v in self.headers.items():
                    if k.lower() not in HOP_BY_HOP:
                        up.putheader(k, v)
                if body is not None and "Content-Length" not in self.headers:
                    up.putheader("Content-Length", str(len(body)))
                up.endheaders(body)
                resp = up.getresponse()
            except OSError as e:
                up.close()
                rec.update(status=502, resp_headers=[], resp_bytes=0,
                           error=str(e))
                self.write_log(rec)
                self.send_response(502)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            rec["status"] = resp.status
            rec["resp_headers"] = [[k, v] for k, v in resp.getheaders()]
            has_body = (self.command != "HEAD"
                        and resp.status not in (204, 304)
                        and not 100 <= resp.status < 200)
            chunked = has_body and resp.getheader("Content-Length") is None
            self.send_response_only(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in HOP_BY_HOP:
                    self.send_header(k, v)
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            sent = 0
            try:
                while has_body:
                    buf = resp.read(65536)
                    if not buf:
                        break
                    sent += len(buf)
                    if chunked:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(buf), buf))
                    else:
                        self.wfile.write(buf)
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
            finally:
                up.close()
                rec["resp_bytes"] = sent
                self.write_log(rec)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = proxy

    return Handler


# TCPServer, not HTTPServer: no reverse DNS look-up of the address at start
class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", required=True, help="127.0.0.1:PORT")
    ap.add_argument("--upstream", required=True, help="HOST:PORT (http)")
    ap.add_argument("--log", required=True, help="JSON lines are added here")
    a = ap.parse_args()
    lhost, lport = a.listen.rsplit(":", 1)
    handler = make_handler(a.upstream, a.log, threading.Lock())
    with Server((lhost, int(lport)), handler) as srv:
        print("reqlog-proxy: %s -> %s, log %s" % (a.listen, a.upstream, a.log),
              file=sys.stderr, flush=True)
        srv.serve_forever()


if __name__ == "__main__":
    main()
