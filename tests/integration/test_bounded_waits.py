"""Against an S3 endpoint that accepts connections and never answers, `verify` and `archive` say
what they are waiting for within about 10 seconds (issue 22), instead of printing nothing until the
SDK's own timeouts give up minutes later."""
import os
import socket
import subprocess
import threading
import time

from conftest import wait_until


def black_hole():
    """A TCP server that accepts and reads, and never answers. Returns (port, stop)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    srv.settimeout(0.2)
    held, running = [], [True]

    def serve():
        while running[0]:
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except OSError:
                continue

    threading.Thread(target=serve, daemon=True).start()

    def stop():
        running[0] = False
        for c in held:
            c.close()
        srv.close()

    return srv.getsockname()[1], stop


def test_verify_and_archive_name_the_s3_request_they_wait_for(stack, tmp_path):
    port, stop = black_hole()
    try:
        key = tmp_path / "archiver.key"
        assert stack.run("keygen", "--out", str(key)).returncode == 0
        cfg = stack.write_config(
            tmp_path / "c.toml", "t",
            s3={"endpoint": f"http://127.0.0.1:{port}", "bucket": "silent-bucket", "force_path_style": True},
            archiver={"key_file": str(key), "seal_keys": [str(key.with_suffix(".pub"))], "metrics_listen": ""})
        env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
        for args in (["verify"], ["archive"]):
            log = tmp_path / f"{args[0]}.log"
            with open(log, "w") as out:
                proc = subprocess.Popen([stack.bin, "--config", str(cfg), *args], stdout=subprocess.DEVNULL,
                                        stderr=out, env=env)
            started = time.monotonic()
            try:
                wait_until(f"{args[0]} to say what it waits for", lambda: "still waiting for an answer" in log.read_text(),
                           timeout=25)
                assert time.monotonic() - started < 20
                text = log.read_text()
                assert "s3://silent-bucket/" in text and "S3 " in text, text[-2000:]
            finally:
                proc.kill()
                proc.wait(10)
    finally:
        stop()


def test_a_dead_broker_is_reported_not_flooded(stack, tmp_path):
    """The gateway against a broker that is not there: librdkafka reports the same refused
    connection many times a second; the log says it once per kind and then every 30 s with a count
    (it used to be about 35 ERROR lines a second, forever)."""
    from conftest import free_port

    dead, listen = free_port(), free_port()
    cfg = stack.write_config(tmp_path / "gateway.toml", "t", ingest={"listen": f"127.0.0.1:{listen}",
                                                                    "readiness_interval_ms": 200})
    cfg.write_text(cfg.read_text().replace(stack.kafka, f"127.0.0.1:{dead}"))
    log = tmp_path / "gateway.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([stack.bin, "--config", str(cfg), "ingest"], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until("the gateway to report the dead broker", lambda: f"127.0.0.1:{dead}" in log.read_text(), timeout=30)
        time.sleep(8)  # an observation window, not a wait for an event: the flood would fill it
        assert proc.poll() is None, log.read_text()[-2000:]
        lines = [l for l in log.read_text().splitlines() if " ERROR " in l or " WARN " in l]
        assert 1 <= len(lines) <= 15, "\n".join(lines[:40])
    finally:
        proc.terminate()
        proc.wait(30)
