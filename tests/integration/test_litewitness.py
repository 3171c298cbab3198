"""A third-party witness (docs/FORMAT.md §11.12): litewitness from filippo.io/torchwood, the version pinned
in tests/litewitness/go.mod, witnesses our logs. Its logs and our log vkey go in through its own
`witnessctl`, its key is an Ed25519 SSH key in a dedicated ssh-agent (Debian's openssh-client), and the
archiver's collector is its only client. Each partition's newest checkpoint gets cosigned, across an
archiver restart (the collector learns the witness's size from a 409), and `auditlog verify` accepts
the cosignatures under litewitness's vkey."""
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import uuid

import pytest
import requests
from conftest import ROOT, free_port, wait_until
from test_archiver import s3client, start_archiver
from test_tlog_bucket import BUCKET, publish
from test_tlog_bucket import log_vkeys as vkeys_of
from test_witnessed_log import newest_cosigned, verify

LOG_ORIGIN = f"auditlog.test/{uuid.uuid4().hex[:8]}"
NAME = "witness.test/litewitness"


@pytest.fixture(scope="module")
def torchwood(tmp_path_factory):
    """litewitness and witnessctl, built from the pinned module (Go's build cache makes a rebuild cheap)."""
    missing = [t for t in ("ssh-agent", "ssh-add", "ssh-keygen") if not shutil.which(t)]
    assert not missing, f"{missing} not on PATH: install Debian's openssh-client"
    out = tmp_path_factory.mktemp("torchwood")
    r = subprocess.run(["go", "build", "-o", f"{out}/", "filippo.io/torchwood/cmd/litewitness",
                        "filippo.io/torchwood/cmd/witnessctl"], cwd=ROOT / "tests" / "litewitness",
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return out / "litewitness", out / "witnessctl"


def cosignature_vkey(name, ssh_pub):
    """c2sp.org/tlog-cosignature's vkey of an ssh-ed25519 public key: name+hex(key id)+base64(0x04 || key)."""
    blob = base64.b64decode(ssh_pub.split()[1])
    assert blob[:15] == b"\x00\x00\x00\x0bssh-ed25519" and len(blob) == 51, ssh_pub
    key = b"\x04" + blob[-32:]
    key_id = hashlib.sha256(name.encode() + b"\n" + key).digest()[:4]
    return f"{name}+{key_id.hex()}+{base64.b64encode(key).decode()}"


class LiteWitness:
    """litewitness with its own ssh-agent (a short socket path: sun_path holds 108 bytes)."""

    def __init__(self, bins, directory, origins):
        (self.bin, self.ctl), self.origins = bins, list(origins)
        directory.mkdir()
        self.dir, self.db = directory, directory / "litewitness.db"
        self.sock_dir = tempfile.mkdtemp(prefix="lw-")
        self.sock = f"{self.sock_dir}/agent.sock"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = self.agent = None

    def setup(self, log_vkeys):
        """Its key in its ssh-agent; our logs, each with its log vkey, in its database."""
        key = self.dir / "witness"
        assert subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(key)],
                              capture_output=True, timeout=30).returncode == 0
        self.vkey = cosignature_vkey(NAME, (self.dir / "witness.pub").read_text())
        r = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", f"{key}.pub"], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr
        self.fingerprint = r.stdout.split()[1]
        agent_env = dict(os.environ, SSH_AUTH_SOCK=self.sock)
        self.agent = subprocess.Popen(["ssh-agent", "-D", "-a", self.sock], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        wait_until("ssh-agent's socket", lambda: subprocess.run(
            ["ssh-add", "-l"], env=agent_env, capture_output=True, timeout=5).returncode == 1, timeout=10)
        r = subprocess.run(["ssh-add", str(key)], env=agent_env, capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr
        for origin in self.origins:
            for args in (["add-log"], ["add-key", "-key", log_vkeys[origin]]):
                r = subprocess.run([str(self.ctl), args[0], "-db", str(self.db), "-origin", origin, *args[1:]],
                                   capture_output=True, text=True, timeout=30)
                assert r.returncode == 0, r.stderr

    def start(self):
        self.log = self.dir / "litewitness.log"
        with open(self.log, "a") as out:
                self.proc = subprocess.Popen([str(self.bin), "-name", NAME, "-db", str(self.db), "-ssh-agent", self.sock,
                                          "-key", self.fingerprint, "-listen", f"127.0.0.1:{self.port}"],
                                         stdout=subprocess.DEVNULL, stderr=out)
        wait_until("litewitness listening",
                   lambda: requests.post(self.url + "/add-checkpoint", data=b"", timeout=5).status_code == 400,
                   timeout=30)
        # Its own word on its vkey, the one we derived from the SSH key.
        logged = re.search(r'msg="verifier key" vkey="?([^"\s]+)', self.log.read_text())
        assert logged and logged.group(1) == self.vkey, (logged and logged.group(1), self.vkey)

    def sizes(self):
        r = subprocess.run([str(self.ctl), "list-logs", "-db", str(self.db)], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr
        return {j["origin"]: j["size"] for j in map(json.loads, r.stdout.splitlines())}

    def stop(self):
        for p in (self.proc, self.agent):
            if p and p.poll() is None:
                p.terminate()
                p.wait(10)
        shutil.rmtree(self.sock_dir, ignore_errors=True)


def test_litewitness_cosigns_our_checkpoints_and_verify_accepts_them(stack, tmp_path, sealers_factory, torchwood):
    topic = stack.create_topic(2, seals=True)
    sealers = sealers_factory(topic, max_records=200)
    sealers.start()
    s3 = s3client(stack)
    prefix = f"lw-{uuid.uuid4().hex[:8]}/"
    dirs = {p: f"{prefix}tlog/{topic}/{p}/" for p in range(2)}
    origins = {p: f"{LOG_ORIGIN}/{topic}/{p}" for p in range(2)}

    key = tmp_path / "archiver.key"
    assert stack.run("keygen", "--out", str(key)).returncode == 0
    probe = stack.write_config(tmp_path / "probe.toml", topic, s3={"bucket": BUCKET},
                               archiver={"key_file": str(key), "transparency_log": True, "log_origin": LOG_ORIGIN})
    log_vkeys = vkeys_of(stack, probe)

    def cosigned_everything():
        ends = stack.end_offsets(topic)
        return all(newest_cosigned(s3, dirs[p]) == ends[p] > 0 for p in range(2))

    w = LiteWitness(torchwood, tmp_path / "lw", origins.values())
    archiver = None
    try:
        w.setup(log_vkeys)
        w.start()
        settings = {"transparency_log": True, "log_origin": LOG_ORIGIN, "witness_quorum": 1,
                    "witnesses": [{"url": w.url, "public_key": w.vkey}], "group_max_records": 400,
                    "group_max_seals": 2, "group_id": f"archiver-{uuid.uuid4().hex[:8]}"}
        archiver, cfg, env = start_archiver(stack, tmp_path, topic, sealers, BUCKET, prefix, **settings)
        publish(stack, tmp_path, topic, 0, 1200)
        wait_until("each log's newest checkpoint cosigned by litewitness", cosigned_everything, timeout=180,
                   interval=1.0)
        # A restarted collector asks from size 0 and is told litewitness's size with a 409 (its debug log,
        # toggled by SIGUSR1, shows each request).
        archiver.send_signal(signal.SIGTERM)
        assert archiver.wait(60) == 0
        w.proc.send_signal(signal.SIGUSR1)
        wait_until("litewitness logging requests", lambda: "toggling log level" in w.log.read_text(), timeout=10)
        publish(stack, tmp_path, topic, 1200, 1200)
        archiver, cfg, env = start_archiver(stack, tmp_path, topic, sealers, BUCKET, prefix, **settings)
        wait_until("the next 1200 events cosigned after the restart", cosigned_everything, timeout=180, interval=1.0)
        assert archiver.poll() is None, "archiver exited"
        requests_logged = [ln for ln in w.log.read_text().splitlines() if "processed add-checkpoint request" in ln]
        for origin in origins.values():
            mine = [ln for ln in requests_logged if re.search(f'origin="?{re.escape(origin)}[ "]', ln)]
            assert any("oldSize=0 " in ln and "known tree size doesn't match" in ln for ln in mine), mine
            assert any("error=" not in ln for ln in mine), mine
    finally:
        if archiver is not None:
            archiver.terminate()
            archiver.wait(60)
        sealers.stop_all()
        w.stop()

    ends = stack.end_offsets(topic)
    # litewitness's own state: it holds each log at its newest size.
    assert w.sizes() == {origins[p]: ends[p] for p in range(2)}
    key_id = bytes.fromhex(w.vkey.split("+")[1])
    for p in range(2):
        size = newest_cosigned(s3, dirs[p])
        note = s3.get_object(Bucket=BUCKET, Key=f"{dirs[p]}cosigned/{size:020}")["Body"].read().decode()
        own = s3.get_object(Bucket=BUCKET, Key=f"{dirs[p]}checkpoint/{size:020}")["Body"].read().decode()
        assert note.startswith(own) and note.startswith(origins[p] + "\n"), note
        lines = [ln for ln in note[len(own):].splitlines() if ln.startswith(f"— {NAME} ")]
        assert len(lines) == 1 and base64.b64decode(lines[0].split()[2])[:4] == key_id, note

    report = verify(stack, cfg, env)
    assert report["findings"] == [], report["findings"]
    assert report["logs"]["witnessed"] == 2 and report["logs"]["witness_quorum"] == 1, report["logs"]
    # Trusting litewitness by its vkey on the command line instead of the config's says the same.
    report = verify(stack, cfg, env, "--witness-key", w.vkey, "--witness-quorum", "1")
    assert report["findings"] == [] and report["logs"]["witnessed"] == 2, report
