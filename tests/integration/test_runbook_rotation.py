"""docs/OPERATIONS.md "Key rotation", step by step, with the commands and config edits a reader
makes: sealing continues across both rolling restarts with one continuous chain per partition,
checked by the independent chaincheck with both public keys; and the mistake the runbook warns
about (the new key without the old key's .pub in trusted_keys) is visible as a stuck partition with
a log line that says what to do, not as a healthy sealer."""
import json

from chaincheck import check_partition, key_id, load_public
from conftest import make_event, wait_until
from test_sealer import metric, wait_all_sealed

PARTITIONS = 2


def set_sealer(config, **fields):
    """The reader's config edit: replace these keys of [sealer] (the file write_config wrote)."""
    lines = config.read_text().splitlines()
    start = lines.index("[sealer]")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    body = [l for l in lines[start + 1:end] if l.split("=")[0].strip().strip('"') not in fields]
    body += [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in fields.items()]
    config.write_text("\n".join(lines[:start + 1] + body + lines[end:]) + "\n")


def publish(stack, topic, first, n):
    from confluent_kafka import Producer

    prod = Producer({"bootstrap.servers": stack.kafka, "log_level": 0, "enable.idempotence": True})
    for i in range(first, first + n):
        prod.produce(topic, json.dumps(make_event("acme", i)).encode(), partition=i % PARTITIONS)
    assert prod.flush(30) == 0


def rolling_restart(sealers, procs):
    """Stops each sealer in turn and starts its replacement, waiting for it to own partitions."""
    out = []
    for p in procs:
        p.terminate()
        p.wait(60)
        new = sealers.start()
        wait_until("the restarted sealer to run", lambda: new.poll() is None and "sealer starting" in sealers.log(new),
                   timeout=60)
        out.append(new)
    return out


def test_key_rotation_as_operations_md_describes(stack, tmp_path, sealers_factory):
    topic = stack.create_topic(PARTITIONS, seals=True)
    sealers = sealers_factory(topic, max_interval_ms=300, heartbeat_interval_ms=600_000)
    old_pub = sealers.public
    procs = [sealers.start() for _ in range(2)]
    publics = sealers.publics()
    publish(stack, topic, 0, 200)
    wait_all_sealed(stack, topic, PARTITIONS, publics, timeout=120)

    # 1. keygen on the sealers' host.
    new_key = tmp_path / "sealer-2026.key"
    assert stack.run("keygen", "--out", str(new_key)).returncode == 0
    new_pub = tmp_path / "sealer-2026.pub"
    assert new_pub.exists()
    publics[key_id(load_public(new_pub)).hex()] = load_public(new_pub)
    # (2. is the archivers' seal_keys; this test has no archiver.)
    # 3. First rolling restart: trust the new key, keep signing with the old one.
    set_sealer(sealers.config, trusted_keys=[str(new_pub)])
    procs = rolling_restart(sealers, procs)
    publish(stack, topic, 200, 200)
    wait_all_sealed(stack, topic, PARTITIONS, publics, timeout=120)

    # The mistake step 4 warns about: the new key, and only the new .pub trusted.
    for p in procs:
        p.terminate()
        p.wait(60)
    set_sealer(sealers.config, key_file=str(new_key), trusted_keys=[str(new_pub)])
    wrong = sealers.start()
    wait_until("the stuck gauge to count both partitions",
               lambda: metric(wrong.metrics_url, "auditlog_sealer_partitions_stuck") == PARTITIONS, timeout=60)
    assert metric(wrong.metrics_url, "auditlog_sealer_partitions_owned") == PARTITIONS
    log = sealers.log(wrong)
    assert "cannot resume the partition" in log and "sealer.trusted_keys" in log, log[-3000:]
    assert log.count("cannot resume the partition") <= 2 * PARTITIONS, "repeated failures are rate-limited"
    wrong.terminate()
    wrong.wait(60)

    # 4. Second rolling restart, as written: the new key, the OLD key's .pub trusted.
    set_sealer(sealers.config, key_file=str(new_key), trusted_keys=[str(old_pub)])
    procs = [sealers.start() for _ in range(2)]
    publish(stack, topic, 400, 200)
    wait_all_sealed(stack, topic, PARTITIONS, publics, timeout=120)
    for p in procs:
        assert p.poll() is None, sealers.log(p)[-2000:]
        wait_until("no stuck partition", lambda p=p: metric(p.metrics_url, "auditlog_sealer_partitions_stuck") == 0,
                   timeout=30)
    new_id = key_id(load_public(new_pub)).hex()
    for part in range(PARTITIONS):
        r = check_partition(stack.kafka, topic, part, publics)
        assert r["findings"] == [], r["findings"]
        assert r["records_covered"] == 300, r["records_covered"]
        assert r["accepted"][-1][1]["key_id"] == new_id, "the newest seals are signed with the new key"
