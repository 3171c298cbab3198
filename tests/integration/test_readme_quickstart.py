"""README.md's quick-start, run as written against the stack: the shell blocks of "The gateway",
"The sealer", "The archiver" and "Verification" are extracted from the document and executed in
order by bash, in a directory holding the stack's own `.stack/auditlog.toml` (copied byte for
byte), with `auditlog` on PATH. Long-running commands (`ingest`, `seal`, `archive`) run in the
background; the sealer line runs twice, as "run as many as you like" invites, on the one config.

Substituted, and only so that this test shares the stack with the rest of the suite: the gateway's
port (8080 may be taken), the `019…` placeholder (by the event id the gateway answered), and
through `AUDITLOG_*` overrides a fresh topic, prefix and group ids, and ranges of 1 s of seals so
the archive closes its range quickly. No AWS credentials are inherited: the README's own lines
must supply them."""
import json
import os
import re
import shutil
import signal
import subprocess
import urllib.request
import uuid
from pathlib import Path

from conftest import STACK, free_port, wait_until
from test_archiver import manifests, s3client

README = (Path(__file__).parents[2] / "README.md").read_text()
LONG_RUNNING = re.compile(r"^(?:\S+=\S+\s+)*auditlog\s.*\s(ingest|seal|archive)\s*&?\s*(?:#.*)?$")


def sh_block(heading):
    m = re.search(rf"^### {re.escape(heading)}\n.*?```sh\n(.*?)```", README, re.S | re.M)
    assert m, f"no sh block under '### {heading}' in README.md"
    return m.group(1)


class Shell:
    """Runs README text with bash in `cwd`: finite parts to completion, long-running lines in the
    background (each in its own process group, stopped at the end)."""

    def __init__(self, cwd, env):
        self.cwd, self.env, self.background = cwd, env, []

    def run_block(self, text, repeat_long=1):
        outputs, pending = [], []
        for line in text.splitlines(keepends=True):
            if LONG_RUNNING.match(line.strip()):
                outputs.append(self.finite("".join(pending)))
                pending = []
                for _ in range(repeat_long):
                    self.start(line.strip().rstrip("&").strip())
            else:
                pending.append(line)
        outputs.append(self.finite("".join(pending)))
        return "".join(outputs)

    def finite(self, script):
        if not script.strip():
            return ""
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=self.cwd, env=self.env,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"README commands failed (exit {r.returncode}):\n{script}\n{r.stdout}\n{r.stderr}"
        return r.stdout

    def start(self, line):
        n = len(self.background)
        log = open(self.cwd / f"bg-{n}.log", "w")
        p = subprocess.Popen(["bash", "-c", line], cwd=self.cwd, env=self.env, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
        p.line, p.log_path = line, log.name
        self.background.append(p)

    def alive(self):
        for p in self.background:
            assert p.poll() is None, f"`{p.line}` exited {p.returncode}:\n{Path(p.log_path).read_text()[-3000:]}"
        return True

    def stop(self):
        for p in self.background:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.background:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def ready(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


def test_the_readme_quick_start_runs_as_written_against_the_stack(stack, tmp_path):
    topic = stack.create_topic(6, seals=True)
    work = tmp_path / "work"
    (work / ".stack").mkdir(parents=True)
    shutil.copyfile(STACK / "auditlog.toml", work / ".stack" / "auditlog.toml")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "auditlog").symlink_to(Path(stack.bin).resolve())
    port = free_port()
    prefix = f"qs-{uuid.uuid4().hex[:8]}/"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUDITLOG_"))}
    env.update(PATH=f"{bindir}:{env['PATH']}", AUDITLOG_KAFKA__EVENTS_TOPIC=topic,
               AUDITLOG_INGEST__LISTEN=f"127.0.0.1:{port}", AUDITLOG_ARCHIVER__PREFIX=prefix,
               AUDITLOG_SEALER__GROUP_ID=f"qs-sealer-{topic}", AUDITLOG_ARCHIVER__GROUP_ID=f"qs-archiver-{topic}",
               AUDITLOG_ARCHIVER__GROUP_MAX_AGE_MS="1000")
    sh = Shell(work, env)
    try:
        gateway = sh_block("The gateway").replace("http://127.0.0.1:8080", f"http://127.0.0.1:{port}")
        # The block starts the gateway and POSTs at once, as a reader's terminal would after the
        # gateway logged that it listens: wait for that between the two parts.
        start, post = gateway.split("\n", 1)
        sh.run_block(start + "\n")
        wait_until("the gateway to be ready", lambda: sh.alive() and ready(f"http://127.0.0.1:{port}/readyz"), timeout=60)
        answer = json.loads(sh.run_block(post))
        assert answer["accepted"] == 1, answer
        event_id = answer["events"][0]["event_id"]

        sh.run_block(sh_block("The sealer"), repeat_long=2)
        assert (work / ".stack" / "sealer.key").exists() and (work / ".stack" / "sealer.pub").exists()
        sh.run_block(sh_block("The archiver"))
        s3 = s3client(stack)
        wait_until("the event archived under the prefix", lambda: sh.alive() and sum(
            o["rows"] for m in manifests(s3, "audit-archive", prefix) for o in m["objects"]) == 1,
            timeout=120, interval=1.0)
        for p in sh.background[1:3]:
            assert "serving /metrics bound=127.0.0.1:" in Path(p.log_path).read_text(), "each sealer logs its port"

        out = sh.run_block(sh_block("Verification").replace("019…", event_id))
        assert "No findings" in out, out
        state = json.loads((work / "verify-state.json").read_text())
        assert state, "the clean run wrote its state"
        assert "<html" in (work / "report.html").read_text().lower()
        proof = json.loads((work / "proof.json").read_text())
        assert event_id in json.dumps(proof)
        sh.alive()
    finally:
        sh.stop()
