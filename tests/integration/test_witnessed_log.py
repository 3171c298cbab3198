"""Witnessed transparency logs end to end (docs/FORMAT.md §11.12): the archiver's collector has two
`auditlog witness` processes cosign each partition's checkpoints and stores them with the quorum;
`auditlog verify` requires the quorum on each log's newest checkpoint, incrementally (`--state`) too.
A witness SIGKILLed delays cosigning, never archiving (the lag shows in a metric and a log line), and catches up when it is back.
Then an insider with the archiver's key deletes the topic, republishes a different history under the
same names and archives it into a fresh prefix: the witnesses refuse it, and verify of that prefix
reports the missing quorum."""
import json
import re
import signal
import subprocess
import uuid

import pytest
import requests
from conftest import free_port, wait_until
from test_archiver import s3client, start_archiver
from test_tlog_bucket import BUCKET, keys_under, newest_size, publish
from test_tlog_bucket import log_vkeys as vkeys_of

LOG_ORIGIN = f"auditlog.test/{uuid.uuid4().hex[:8]}"


class Witness:
    """One `auditlog witness` process witnessing the given origins."""

    def __init__(self, stack, directory, name, origins, log_vkeys):
        directory.mkdir(parents=True, exist_ok=True)
        self.stack, self.dir, self.name = stack, directory, name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        assert stack.run("keygen", "--out", str(directory / "witness.key")).returncode == 0
        logs = "".join(f'[[witness.logs]]\norigin = "{o}"\npublic_key = "{log_vkeys[o]}"\n' for o in origins)
        self.config = directory / "witness.toml"
        self.config.write_text(f'[witness]\nlisten = "127.0.0.1:{self.port}"\nname = "{name}"\n'
                               f'key_file = "witness.key"\nstate_dir = "state"\nmetrics_listen = ""\n{logs}')
        r = stack.run("witness", "--print-vkey", config=self.config)
        assert r.returncode == 0, r.stderr
        self.vkey = r.stdout.strip()
        self.proc = None

    def start(self):
        log = open(self.dir / "witness.log", "a")
        self.proc = subprocess.Popen([self.stack.bin, "--config", str(self.config), "witness"], stdout=log,
                                     stderr=subprocess.STDOUT)
        wait_until(f"{self.name} listening",
                   lambda: requests.post(self.url + "/add-checkpoint", data=b"", timeout=5).status_code == 400,
                   timeout=30)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def started():
    """Witnesses a test starts: each stopped at teardown, whatever happened."""
    procs = []
    yield procs
    for p in procs:
        p.stop()


def newest_cosigned(s3, log_dir):
    return max((int(k.rsplit("/", 1)[1]) for k in keys_under(s3, log_dir + "cosigned/")), default=0)


def verify(stack, cfg, env, *args):
    r = subprocess.run([stack.bin, "--config", str(cfg), "verify", "--format", "json", *args], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def lag_records(metrics_url, witness):
    text = requests.get(metrics_url, timeout=5).text
    m = re.search(r'auditlog_archiver_witness_lag_records\{witness="' + re.escape(witness) + r'"\} (\S+)', text)
    return float(m.group(1)) if m else None


def prove_against_the_witnesses(stack, tmp_path, cfg, env, ws, topic):
    """`prove` puts the record's log inclusion and the newest cosigned checkpoint in the proof;
    `verify-proof` checks it with the witnesses' keys, and refuses it without their quorum."""
    def prove(offset):
        out = tmp_path / f"proof-{offset}.json"
        r = subprocess.run([stack.bin, "--config", str(cfg), "prove", "--partition", "1", "--offset", str(offset),
                            "--out", str(out)], capture_output=True, text=True, env=env, timeout=120)
        assert r.returncode == 0, r.stderr
        return out, json.loads(out.read_text())
    # A fresh topic's offsets are its chain positions: the leaf index is the offset, in the first
    # range and in the newest (whose index counts every range before it).
    last = stack.end_offsets(topic)[1] - 1
    late, p_late = prove(last)
    assert p_late["log"]["index"] == last, p_late["log"]
    proof, p = prove(7)
    assert p["log"]["index"] == 7 and "— witness.test/w1 " in p["log"]["checkpoint"], p["log"]

    def check(path, *args):
        return subprocess.run([stack.bin, "--config", str(cfg), "verify-proof", str(path), *args],
                              capture_output=True, text=True, env=env, timeout=60)
    assert check(late).returncode == 0
    r = check(proof)
    assert r.returncode == 0 and f"/{p['record']['topic']}/1 at its checkpoint of size" in r.stdout, r.stdout + r.stderr
    assert check(proof, "--witness-key", ws[0].vkey, "--witness-quorum", "1").returncode == 0
    # Without the witnesses' lines the checkpoint still proves inclusion, but not the quorum.
    bare = dict(p, log=dict(p["log"], checkpoint="".join(
        line for line in p["log"]["checkpoint"].splitlines(keepends=True) if "witness.test" not in line)))
    (tmp_path / "bare.json").write_text(json.dumps(bare))
    r = check(tmp_path / "bare.json")
    assert r.returncode == 1 and "0 valid cosignatures of trusted witnesses, 2 needed" in r.stdout, r.stdout
    # Another leaf index does not lead to the cosigned root.
    (tmp_path / "moved.json").write_text(json.dumps(dict(p, log=dict(p["log"], index=8))))
    r = check(tmp_path / "moved.json")
    assert r.returncode == 1 and "not leaf 8" in r.stdout, r.stdout


def test_witnesses_cosign_a_down_witness_only_delays_and_a_rewritten_history_is_refused(
        stack, tmp_path, sealers_factory, started):
    topic = stack.create_topic(2, seals=True)
    sealers = sealers_factory(topic, max_records=200)
    sealers.start()
    s3 = s3client(stack)
    prefix = f"wl-{uuid.uuid4().hex[:8]}/"
    dirs = {p: f"{prefix}tlog/{topic}/{p}/" for p in range(2)}
    origins = [f"{LOG_ORIGIN}/{topic}/{p}" for p in range(2)]

    # Each log's key is the archiver's key under the log's origin as its name.
    key = tmp_path / "archiver.key"
    assert stack.run("keygen", "--out", str(key)).returncode == 0
    probe = stack.write_config(tmp_path / "probe.toml", topic, s3={"bucket": BUCKET},
                               archiver={"key_file": str(key), "transparency_log": True, "log_origin": LOG_ORIGIN})
    log_vkeys = vkeys_of(stack, probe)

    ws = [Witness(stack, tmp_path / f"w{i}", f"witness.test/w{i}", origins, log_vkeys) for i in (1, 2)]
    started.extend(ws)
    for w in ws:
        w.start()
    metrics_port = free_port()
    settings = {"transparency_log": True, "log_origin": LOG_ORIGIN, "group_max_records": 400, "group_max_seals": 2,
                "metrics_listen": f"127.0.0.1:{metrics_port}",
                "witnesses": [{"url": w.url, "public_key": w.vkey} for w in ws], "witness_quorum": 2}
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"

    def cosigned_everything():
        ends = stack.end_offsets(topic)
        return all(newest_cosigned(s3, dirs[p]) == ends[p] > 0 for p in range(2))

    def logged_everything():
        ends = stack.end_offsets(topic)
        return all(newest_size(s3, dirs[p]) == ends[p] for p in range(2))

    archiver, cfg, env = start_archiver(stack, tmp_path, topic, sealers, BUCKET, prefix, **settings)
    try:
        publish(stack, tmp_path, topic, 0, 1200)
        wait_until("every log's newest checkpoint cosigned by both", cosigned_everything, timeout=180, interval=1.0)
        report = verify(stack, cfg, env)
        assert report["findings"] == [], report["findings"]
        assert report["logs"]["witnessed"] == 2 and report["logs"]["witness_quorum"] == 2, report["logs"]
        # An incremental run (--state) checks the quorum on the newest checkpoint too; this first one
        # reads everything and remembers each log's newest checkpoint.
        state = tmp_path / "verify.state.json"
        inc = verify(stack, cfg, env, "--state", str(state))
        assert inc["findings"] == [] and inc["logs"]["witnessed"] == 2, inc
        # The cosigned note is the log's checkpoint plus a cosignature/v1 line by each witness.
        size = newest_cosigned(s3, dirs[0])
        note = s3.get_object(Bucket=BUCKET, Key=f"{dirs[0]}cosigned/{size:020}")["Body"].read().decode()
        own = s3.get_object(Bucket=BUCKET, Key=f"{dirs[0]}checkpoint/{size:020}")["Body"].read().decode()
        assert note.startswith(own) and {f"— {w.name} " in note for w in ws} == {True}, note

        # A witness down: archiving goes on, its lag grows and is logged; verify names the short quorum.
        ws[1].kill()
        publish(stack, tmp_path, topic, 1200, 1200)
        wait_until("the next 1200 events logged while w2 is down", logged_everything, timeout=180, interval=1.0)
        assert archiver.poll() is None, "archiver exited"
        wait_until("w2's lag in the metric", lambda: (lag_records(metrics_url, ws[1].name) or 0) > 0, timeout=30)
        wait_until("w1's lag at 0", lambda: lag_records(metrics_url, ws[0].name) == 0, timeout=30)
        log = (tmp_path / "archiver.log").read_text()
        assert "witness did not cosign" in log and ws[1].name in log, log[-3000:]
        kinds = {(f["kind"], f["partition"]) for f in verify(stack, cfg, env)["findings"]}
        assert kinds == {("witness_quorum_missing", 0), ("witness_quorum_missing", 1)}, kinds
        inc = verify(stack, cfg, env, "--state", str(state))
        assert {(f["kind"], f["partition"]) for f in inc["findings"]} == kinds, inc["findings"]
        assert inc["logs"]["resumed"] == 2, "the logs are resumed, and the short quorum still named"

        # Back: it is asked from the size it holds and catches up.
        ws[1].start()
        wait_until("w2 caught up", cosigned_everything, timeout=120, interval=1.0)
        wait_until("w2's lag back to 0", lambda: lag_records(metrics_url, ws[1].name) == 0, timeout=30)
        assert verify(stack, cfg, env)["findings"] == []
        # Resumed, with the new cosigned notes; then with nothing new, the newest one read again.
        for _ in range(2):
            inc = verify(stack, cfg, env, "--state", str(state))
            assert inc["findings"] == [], inc["findings"]
            assert (inc["logs"]["resumed"], inc["logs"]["witnessed"]) == (2, 2), inc["logs"]
        prove_against_the_witnesses(stack, tmp_path, cfg, env, ws, topic)
        archiver.send_signal(signal.SIGTERM)
        assert archiver.wait(60) == 0
    finally:
        if archiver.poll() is None:
            archiver.kill()
        sealers.stop_all()
    real_sizes = {p: newest_cosigned(s3, dirs[p]) for p in range(2)}

    # The insider: same topic names, a different history, the stolen archiver key, a fresh prefix.
    admin = stack.admin()
    for f in admin.delete_topics([topic, topic + ".seals"]).values():
        f.result(30)
    from confluent_kafka.admin import NewTopic

    def recreated():
        a = stack.admin()  # must outlive the futures
        fs = a.create_topics([NewTopic(n, num_partitions=2, replication_factor=1) for n in (topic, topic + ".seals")])
        for f in fs.values():
            try:
                f.result(30)
            except Exception as e:  # still being deleted: asked again within the bound
                if "TOPIC_ALREADY_EXISTS" not in str(e):
                    return False
        return len(stack.admin().list_topics(topic, timeout=5).topics[topic].partitions) == 2
    wait_until("the topic recreated", recreated, timeout=60, interval=1.0)
    forged_sealers = sealers_factory(topic, max_records=200, group_id=f"sealer-{uuid.uuid4().hex[:8]}")
    forged_sealers.start()
    forged = f"forged-{uuid.uuid4().hex[:8]}/"
    forged_dirs = {p: f"{forged}tlog/{topic}/{p}/" for p in range(2)}
    archiver, cfg, env = start_archiver(stack, tmp_path, topic, forged_sealers, BUCKET, forged,
                                        **{**settings, "metrics_listen": ""})
    try:
        publish(stack, tmp_path, topic, 50_000, 3000)
        wait_until("the forged history logged",
                   lambda: all(newest_size(s3, forged_dirs[p]) == n for p, n in stack.end_offsets(topic).items()),
                   timeout=180, interval=1.0)
        # Bounded: the refusals are logged once the collector has asked.
        wait_until("the witnesses' refusal logged",
                   lambda: "HTTP 422" in (tmp_path / "archiver.log").read_text(), timeout=60, interval=0.5)
    finally:
        archiver.terminate()
        archiver.wait(60)
        forged_sealers.stop_all()
    assert all(newest_cosigned(s3, forged_dirs[p]) == 0 for p in range(2)), "a witness cosigned the forged log"
    report = verify(stack, cfg, env)
    kinds = {(f["kind"], f["partition"]) for f in report["findings"]}
    assert kinds == {("witness_quorum_missing", 0), ("witness_quorum_missing", 1)}, report["findings"]
    assert all("no checkpoint of this log does" in f["detail"] for f in report["findings"])
    # The real prefix is untouched by all this, and still clean.
    assert {p: newest_cosigned(s3, dirs[p]) for p in range(2)} == real_sizes


def test_a_restarted_archiver_has_the_checkpoint_it_resumed_at_cosigned(stack, tmp_path, sealers_factory, started):
    """The witness is down while everything is archived, and comes back only after the archiver has
    stopped: nothing new is ever appended, so the only way the newest checkpoints get cosigned is the
    restarted archiver reading back the checkpoint each partition resumed at and submitting it."""
    topic = stack.create_topic(2, seals=True)
    sealers = sealers_factory(topic, max_records=200)
    sealers.start()
    s3 = s3client(stack)
    prefix = f"wr-{uuid.uuid4().hex[:8]}/"
    dirs = {p: f"{prefix}tlog/{topic}/{p}/" for p in range(2)}
    key = tmp_path / "archiver.key"
    assert stack.run("keygen", "--out", str(key)).returncode == 0
    probe = stack.write_config(tmp_path / "probe.toml", topic, s3={"bucket": BUCKET},
                               archiver={"key_file": str(key), "transparency_log": True, "log_origin": LOG_ORIGIN})
    witness = Witness(stack, tmp_path / "w", "witness.test/resume", [f"{LOG_ORIGIN}/{topic}/{p}" for p in range(2)],
                      vkeys_of(stack, probe))
    started.append(witness)
    settings = {"transparency_log": True, "log_origin": LOG_ORIGIN, "group_max_records": 400,
                "group_id": f"archiver-{uuid.uuid4().hex[:8]}",
                "witnesses": [{"url": witness.url, "public_key": witness.vkey}], "witness_quorum": 1}
    try:
        archiver, cfg, env = start_archiver(stack, tmp_path, topic, sealers, BUCKET, prefix, **settings)
        try:
            publish(stack, tmp_path, topic, 0, 900)
            wait_until("every partition logged", lambda: all(
                newest_size(s3, dirs[p]) == n > 0 for p, n in stack.end_offsets(topic).items()),
                timeout=180, interval=1.0)
            archiver.send_signal(signal.SIGTERM)
            assert archiver.wait(60) == 0
        finally:
            if archiver.poll() is None:
                archiver.kill()
        assert all(newest_cosigned(s3, dirs[p]) == 0 for p in range(2)), "cosigned with the witness down"
        ends = stack.end_offsets(topic)

        witness.start()
        archiver, cfg, env = start_archiver(stack, tmp_path, topic, sealers, BUCKET, prefix, **settings)
        try:
            wait_until("the resumed checkpoints cosigned", lambda: all(
                newest_cosigned(s3, dirs[p]) == ends[p] for p in range(2)), timeout=120, interval=1.0)
            assert {p: newest_size(s3, dirs[p]) for p in range(2)} == ends, "the restart appended to a log"
            report = verify(stack, cfg, env)
            assert report["findings"] == [] and report["logs"]["witnessed"] == 2, report
        finally:
            archiver.terminate()
            archiver.wait(60)
    finally:
        sealers.stop_all()
