"""The topic settings durability depends on (docs/OPERATIONS.md, "Broker and topic settings"),
checked by the sealer and the archiver at start-up against the real broker: a setting that can make
an acknowledged or sealed record vanish stops them with exit 2 and the fix; a weaker-than-asked one
lets them start and shows on `auditlog_kafka_topic_setting_unsafe`; `topics describe` shows both.
Settings are changed with confluent-kafka's admin client (an independent client)."""
import json
import re
import urllib.request
import uuid

from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource
from conftest import wait_until
from test_archiver import start_archiver


def alter(stack, topic, **settings):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry(k.replace("_", "."), v, incremental_operation=AlterConfigOpType.SET) for k, v in settings.items()])
    admin = stack.admin()  # must outlive the future
    admin.incremental_alter_configs([res])[res].result(30)


def gauge(url, topic, setting):
    body = urllib.request.urlopen(url, timeout=5).read().decode()
    m = re.search(r'auditlog_kafka_topic_setting_unsafe\{(?=[^}]*setting="%s")(?=[^}]*topic="%s")[^}]*\} (\S+)'
                  % (re.escape(setting), re.escape(topic)), body)
    return float(m.group(1)) if m else None


def test_a_compacted_seals_topic_stops_the_sealer_and_the_archiver_with_the_fix(stack, tmp_path, sealers_factory):
    topic = stack.create_topic(1, seals=True)
    alter(stack, topic + ".seals", cleanup_policy="compact")
    sealers = sealers_factory(topic)
    r = stack.run("seal", config=sealers.config, timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert f"topic {topic}.seals has cleanup.policy=compact" in last, r.stderr[-2000:]
    assert f"--entity-name {topic}.seals --add-config cleanup.policy=delete" in last, last
    archiver, _, _ = start_archiver(stack, tmp_path, topic, sealers, "audit-archive", f"settings-{topic}/")
    assert archiver.wait(120) == 2
    log = (tmp_path / "archiver.log").read_text()
    assert f"topic {topic}.seals has cleanup.policy=compact" in log, log[-2000:]


def test_unclean_leader_election_on_the_events_topic_stops_the_sealer(stack, sealers_factory):
    topic = stack.create_topic(1, seals=True)
    alter(stack, topic, unclean_leader_election_enable="true")
    r = stack.run("seal", config=sealers_factory(topic).config, timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    assert f"topic {topic} has unclean.leader.election.enable=true" in r.stderr, r.stderr[-2000:]


def test_weak_settings_start_the_sealer_and_raise_the_gauge(stack, sealers_factory):
    """The test helper's topics keep the broker's 7-day retention on the seals topic and have one
    replica: both weaker than documented, neither refused."""
    topic = stack.create_topic(1, seals=True)
    sealers = sealers_factory(topic)
    p = sealers.start(metrics=True)
    seals = topic + ".seals"
    wait_until("the settings gauge", lambda: gauge(p.metrics_url, seals, "retention.ms") is not None, timeout=60)
    assert gauge(p.metrics_url, seals, "retention.ms") == 1.0
    assert gauge(p.metrics_url, seals, "replication.factor") == 1.0
    assert gauge(p.metrics_url, seals, "cleanup.policy") == 0.0
    assert gauge(p.metrics_url, topic, "unclean.leader.election.enable") == 0.0
    assert p.poll() is None, sealers.log(p)[-2000:]
    assert "topic setting weaker than docs/OPERATIONS.md asks" in sealers.log(p)


def test_topics_describe_judges_the_settings_topics_create_set(stack, tmp_path):
    topic = f"test.{uuid.uuid4().hex[:12]}"
    cfg = stack.write_config(tmp_path / "c.toml", topic, kafka={"partitions": 1})
    assert stack.run("topics", "create", config=cfg).returncode == 0
    r = stack.run("topics", "describe", "--json", config=cfg)
    assert r.returncode == 0, r.stderr
    judged = {(c["topic"], c["setting"]): c["verdict"] for c in json.loads(r.stdout)["settings"]}
    for t in (topic, topic + ".seals"):
        assert judged[(t, "unclean.leader.election.enable")] == "sound"
        # The single-node stack has one replica: honest, and not refused.
        assert judged[(t, "replication.factor")] == "weak"
    for s in ("cleanup.policy", "retention.ms", "retention.bytes"):
        assert judged[(topic + ".seals", s)] == "sound", s
    alter(stack, topic + ".seals", retention_ms="3600000")
    r = stack.run("topics", "describe", config=cfg)
    assert r.returncode == 0, r.stderr
    assert re.search(rf"weak +{re.escape(topic)}\.seals retention\.ms=3600000: seals the archiver", r.stdout), r.stdout
