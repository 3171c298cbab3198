"""`auditlog seal` against the real broker, checked by an independent client
(chaincheck.py: confluent-kafka, hashlib, cryptography)."""
import json
import re
import signal
import subprocess
import time

import requests
from chaincheck import canonical, check_partition, digest, link, load_secret, merkle_root, read_partition, sign
from conftest import make_event, wait_until


def sealed_to(stack, topic, partitions, publics):
    """Per partition: the next offset after the canonical chain (None if unsealed)."""
    out = {}
    for p in range(partitions):
        _, _, recs = read_partition(stack.kafka, topic + ".seals", p, timeout=30)
        accepted, _ = canonical(topic, p, [(o, json.loads(v)) for o, _, _, v in recs], publics)
        out[p] = accepted[-1][1]["last_offset"] + 1 if accepted else None
    return out


def wait_all_sealed(stack, topic, partitions, publics, timeout=240):
    def done():
        ends = stack.end_offsets(topic)
        pos = sealed_to(stack, topic, partitions, publics)
        return all(pos[p] == ends[p] for p in ends) and pos

    return wait_until(f"every partition of {topic} sealed to its end", done, timeout=timeout, interval=1.0)


def write_events(path, n):
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps(make_event(f"tenant-{i % 37}", i)) + "\n")
    return path


def metric(url, name):
    text = requests.get(url, timeout=5).text
    m = re.search(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_group_of_sealers_survives_sigkill_and_a_join_with_one_continuous_chain(stack, tmp_path, sealers_factory):
    topic = stack.create_topic(6, seals=True)
    s = sealers_factory(topic)
    for _ in range(3):
        s.start()
    src = write_events(tmp_path / "events.ndjson", 200_000)
    cfg = stack.write_config(tmp_path / "pub.toml", topic)
    publisher = subprocess.Popen([stack.bin, "--config", str(cfg), "publish", str(src)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until("50k events published", lambda: sum(stack.end_offsets(topic).values()) >= 50_000, timeout=120, interval=0.5)
    victim = s.procs[1]
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    wait_until("100k events published", lambda: sum(stack.end_offsets(topic).values()) >= 100_000, timeout=120, interval=0.5)
    s.start()  # a fourth member joins
    out, err = publisher.communicate(timeout=300)
    assert publisher.returncode == 0, err
    assert "published 200000 of 200000" in out

    publics = s.publics()
    wait_all_sealed(stack, topic, 6, publics)
    total = 0
    for p in range(6):
        r = check_partition(stack.kafka, topic, p, publics)
        total += r["records_covered"]
        assert r["findings"] == [], (p, r["findings"])
        assert r["first"] == r["low"] == 0
        assert r["records_covered"] == r["high"] - r["low"], r
        seqs = [s_["seq"] for _, s_ in r["accepted"]]
        assert seqs == list(range(len(seqs))), "sequence numbers must be dense"
    assert total == 200_000
    alive = [p for p in s.procs if p.poll() is None]
    assert len(alive) == 3, "the killed sealer stays dead, the others keep running"


def test_idle_partition_gets_heartbeats_at_the_configured_interval(stack, sealers_factory):
    from confluent_kafka import Producer

    topic = stack.create_topic(2, seals=True)
    prod = Producer({"bootstrap.servers": stack.kafka, "log_level": 0})
    for i in range(10):
        prod.produce(topic, json.dumps(make_event("acme", i)).encode(), partition=0)
    prod.flush(10)
    s = sealers_factory(topic, heartbeat_interval_ms=1500)
    s.start()
    publics = s.publics()

    def heartbeats():
        _, _, recs = read_partition(stack.kafka, topic + ".seals", 1, timeout=30)
        accepted, _ = canonical(topic, 1, [(o, json.loads(v)) for o, _, _, v in recs], publics)
        hbs = [s_ for _, s_ in accepted if s_["kind"] == "heartbeat"]
        return hbs if len(hbs) >= 5 else None

    hbs = wait_until("5 heartbeats on the idle partition", heartbeats, timeout=60, interval=1.0)
    assert all(h["count"] == 0 and h["high_watermark"] == 0 and h["first_offset"] == 0 for h in hbs)
    gaps = [b["sealed_at_ms"] - a["sealed_at_ms"] for a, b in zip(hbs, hbs[1:])]
    assert all(1500 <= g <= 1500 + 1500 for g in gaps), gaps
    r = check_partition(stack.kafka, topic, 0, publics)
    assert r["findings"] == [] and r["records_covered"] == 10


def test_seals_are_cut_by_bytes_so_no_archived_range_outgrows_the_bound(stack, sealers_factory):
    """`sealer.max_bytes` bounds what one archived range holds (the archiver keeps one range in
    memory): every seal but the last is cut by the record that carried its keys and values
    past the bound, never later."""
    import random

    from confluent_kafka import Producer

    topic = stack.create_topic(1, seals=True)
    rng = random.Random(3)
    prod = Producer({"bootstrap.servers": stack.kafka, "log_level": 0})
    for i in range(300):
        prod.produce(topic, bytes([i % 256]) * rng.randint(1_000, 20_000), key=b"k%d" % i, partition=0)
    prod.flush(30)
    bound = 64 * 1024
    s = sealers_factory(topic, max_records=100_000, max_interval_ms=5_000, max_bytes=bound)
    s.start()
    publics = s.publics()
    wait_all_sealed(stack, topic, 1, publics, timeout=120)
    r = check_partition(stack.kafka, topic, 0, publics)
    assert r["findings"] == [] and r["records_covered"] == 300
    _, _, records = read_partition(stack.kafka, topic, 0)
    size = {o: len(k or b"") + len(v or b"") for o, _, k, v in records}
    data = [s_ for _, s_ in r["accepted"] if s_["kind"] == "data"]
    assert len(data) >= 300 * 1_000 // bound, "cut by bytes, not by count or time"
    for seal in data[:-1]:
        sizes = [size[o] for o in range(seal["first_offset"], seal["last_offset"] + 1)]
        assert sum(sizes) >= bound > sum(sizes) - sizes[-1], (seal["seq"], sum(sizes), sizes[-1])
    last = data[-1]
    assert sum(size[o] for o in range(last["first_offset"], last["last_offset"] + 1)) < bound + 20_002


def test_an_unreachable_broker_stops_the_sealer_with_its_address(stack, tmp_path):
    from conftest import free_port

    port = free_port()  # nothing listens there
    key = tmp_path / "sealer.key"
    assert stack.run("keygen", "--out", str(key)).returncode == 0
    cfg = stack.write_config(tmp_path / "sealer.toml", "audit.events", sealer={"key_file": str(key), "metrics_listen": ""})
    cfg.write_text(cfg.read_text().replace(stack.kafka, f"127.0.0.1:{port}"))
    r = stack.run("seal", config=cfg, timeout=120)
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode != 0 and f"Kafka brokers 127.0.0.1:{port}" in last, r.stderr[-2000:]


def test_a_rival_seal_that_wins_the_race_is_adopted_not_forked(stack, sealers_factory):
    """A zombie's seal (here written directly, signed with the same key) lands
    before the owner's seal for the same sequence number. The owner must
    adopt it and continue after it; the chain stays single and complete."""
    from confluent_kafka import Producer

    topic = stack.create_topic(1, seals=True)
    s = sealers_factory(topic, max_interval_ms=5000, max_records=100_000, heartbeat_interval_ms=600_000)
    owner = s.start(metrics=True)
    wait_until("the sealer to own the partition", lambda: "resumed" in s.log(owner), timeout=60)
    prod = Producer({"bootstrap.servers": stack.kafka, "log_level": 0, "enable.idempotence": True})
    for i in range(100):
        prod.produce(topic, json.dumps(make_event("acme", i)).encode(), key=b"acme", partition=0)
    prod.flush(10)

    # The zombie's seal: seq 0 over offsets 0..49, correct head and root.
    _, _, records = read_partition(stack.kafka, topic, 0)
    head, leaves = None, []
    from chaincheck import genesis

    head = genesis(topic, 0)
    for r in records[:50]:
        d = digest(*r)
        leaves.append(d)
        head = link(head, d)
    rival = sign({
        "v": 1, "kind": "data", "topic": topic, "partition": 0, "seq": 0,
        "first_offset": 0, "last_offset": 49, "count": 50,
        "prev_head": genesis(topic, 0).hex(), "head": head.hex(), "merkle_root": merkle_root(leaves).hex(),
        "high_watermark": 100, "sealed_at_ms": int(time.time() * 1000), "key_id": "", "sig": "",
    }, load_secret(s.key))
    prod.produce(topic + ".seals", json.dumps(rival).encode(), key=f"{topic}/0".encode(), partition=0)
    prod.flush(10)

    publics = s.publics()
    wait_all_sealed(stack, topic, 1, publics, timeout=90)
    r = check_partition(stack.kafka, topic, 0, publics)
    assert r["findings"] == []
    assert r["records_covered"] == 100
    first_off, first = r["accepted"][0]
    assert first["sig"] == rival["sig"], "the seal first in log order is canonical"
    assert r["accepted"][1][1]["first_offset"] == 50, "the owner continued after the rival"
    assert [reason for _, reason in r["rejected"]] == ["superseded"], r["rejected"]
    assert metric(owner.metrics_url, "auditlog_sealer_forks_resolved_total") == 1


def test_a_paused_member_that_wakes_after_losing_its_partition_cannot_fork_the_chain(stack, sealers_factory):
    """The Forks scenario for real: member A holds unsealed records, is paused
    (SIGSTOP) past its session timeout, member B takes the partition and seals
    them, then A wakes and may publish its stale seal. Whatever A does, the
    log must hold one canonical chain covering every offset once; anything A
    wrote is rejected by the canonical rule."""
    from confluent_kafka import Producer

    topic = stack.create_topic(1, seals=True)
    s = sealers_factory(topic, max_interval_ms=3000, heartbeat_interval_ms=600_000)
    a = s.start(metrics=True)
    wait_until("A to own the partition", lambda: "resumed" in s.log(a), timeout=60)
    publics = s.publics()
    prod = Producer({"bootstrap.servers": stack.kafka, "log_level": 0, "enable.idempotence": True})

    def produce(n, start):
        for i in range(start, start + n):
            prod.produce(topic, json.dumps(make_event("acme", i)).encode(), key=b"acme", partition=0)
        prod.flush(10)

    produce(100, 0)
    wait_until("A to seal 100 records", lambda: sealed_to(stack, topic, 1, publics)[0] == 100, timeout=60, interval=0.5)
    produce(50, 100)
    # A has fetched the 50 (its lag gauge reads 0) but not sealed them yet.
    wait_until("A to hold 50 unsealed records",
               lambda: metric(a.metrics_url, "auditlog_sealer_lag_records") == 0
               and metric(a.metrics_url, "auditlog_sealer_records_sealed_total") == 100, timeout=30, interval=0.2)
    a.send_signal(signal.SIGSTOP)
    try:
        b = s.start()
        wait_until("B to seal the 50 records A holds",
                   lambda: sealed_to(stack, topic, 1, publics)[0] == 150, timeout=90, interval=0.5)
        assert "resumed" in s.log(b)
    finally:
        a.send_signal(signal.SIGCONT)
    produce(20, 150)
    wait_until("B to seal 20 more", lambda: sealed_to(stack, topic, 1, publics)[0] == 170, timeout=60, interval=0.5)
    # Give A time to act on its stale state: its revocation and any seal it
    # cuts happen within a few of its ticks after waking.
    wait_until("A to notice it lost the partition", lambda: "partition revoked" in s.log(a), timeout=60, interval=0.5)

    r = check_partition(stack.kafka, topic, 0, publics)
    assert r["findings"] == []
    assert r["records_covered"] == 170 and r["first"] == 0
    assert [s_["seq"] for _, s_ in r["accepted"]] == list(range(len(r["accepted"])))
    assert all(reason in ("superseded", "does_not_extend") for _, reason in r["rejected"]), r["rejected"]
    print(f"seals rejected by the canonical rule (A's stale seals, if it cut any): {r['rejected']}")
