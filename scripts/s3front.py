"""A keep-alive front for the benchmarks' S3 endpoint.

moto's server (werkzeug) answers every request with `Connection: close`, so a client pays a TCP
connect and close per request, which S3 itself does not charge: it keeps connections open. The
archiver PUTs one 8 KiB tile per 256 records when its transparency logs are on, so against bare
moto about half of each PUT's client CPU is that reconnect. The benchmarks that count client CPU
per event put HAProxy in front (keep-alive to the client, one connection per request to moto),
for ours and the baseline alike, so both pay what they would pay S3."""
import contextlib
import shutil
import socket
import subprocess
import tempfile
import time


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def keepalive_front(upstream):
    """Yields (url, description): HAProxy's keep-alive front to `upstream` (http://host:port), or
    `upstream` itself when HAProxy is not installed."""
    if not shutil.which("haproxy"):
        yield upstream, "moto directly (haproxy not installed: a new connection per request)"
        return
    host_port = upstream.removeprefix("http://").rstrip("/")
    port = _free_port()
    d = tempfile.mkdtemp(prefix="s3front-")
    cfg = f"{d}/haproxy.cfg"
    open(cfg, "w").write(f"""global
  maxconn 2000
defaults
  mode http
  timeout connect 3s
  timeout client 120s
  timeout server 120s
  option http-keep-alive
frontend s3
  bind 127.0.0.1:{port}
  default_backend moto
backend moto
  server moto {host_port}
""")
    proc = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=open(f"{d}/haproxy.log", "w"),
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"haproxy did not start; log: {d}/haproxy.log")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", "moto behind a keep-alive HAProxy front (as S3 keeps connections open)"
    finally:
        proc.terminate()
        proc.wait(10)
