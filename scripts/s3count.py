"""An HTTP reverse proxy in front of the S3 server that logs every request:
how the verify tests and `scripts/bench-verify --synthetic` count GETs and
bytes downloaded as the server saw them, not as the verifier reports itself.

As a library: `p = CountingProxy("http://127.0.0.1:PORT")`, point the client
at `p.url`, then `p.take()` returns [(method, key, query, response bytes)]
logged since the last call, and `p.take_seconds()` the seconds the server
took for each of them, as [(method, key, seconds)], from the request sent to
the response read.
"""
import http.client
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class CountingProxy:
    """An HTTP reverse proxy to the S3 server that logs (method, key, query) of every request."""

    def __init__(self, target):
        url = urllib.parse.urlsplit(target)
        upstream = (url.hostname, url.port)
        self.log, self.seconds, lock = [], [], threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _forward(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                conn = http.client.HTTPConnection(*upstream, timeout=60)
                t0 = time.monotonic()
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                conn.request(self.command, self.path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                took = time.monotonic() - t0
                conn.close()
                split = urllib.parse.urlsplit(self.path)
                # Path style: /<bucket>/<key>; bucket-level requests have no key.
                parts = urllib.parse.unquote(split.path).lstrip("/").split("/", 1)
                with lock:
                    key = parts[1] if len(parts) > 1 else ""
                    proxy.log.append((self.command, key, split.query, len(data)))
                    proxy.seconds.append((self.command, key, took))
                self.send_response_only(r.status, r.reason)
                for k, v in r.getheaders():
                    if k.lower() in ("connection", "transfer-encoding") or (
                            k.lower() == "content-length" and self.command != "HEAD"):
                        continue
                    self.send_header(k, v)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self):
        """The requests logged since the last call."""
        out, self.log = self.log, []
        return out

    def take_seconds(self):
        """The server's time per request logged since the last call: [(method, key, seconds)]."""
        out, self.seconds = self.seconds, []
        return out

    def close(self):
        self.server.shutdown()
