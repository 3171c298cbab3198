"""`auditlog topics create` on the real broker: the events and seals topics get the settings no
acknowledged record's safety may depend on the broker's defaults for (docs/OPERATIONS.md, "Broker
and topic settings"), read back with confluent-kafka's admin client."""
import uuid

from confluent_kafka.admin import ConfigResource


def configs(stack, topic):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    admin = stack.admin()  # must outlive the future
    return {k: v.value for k, v in admin.describe_configs([res])[res].result(30).items()}


def test_topics_create_sets_durable_settings_and_keeps_every_seal(stack, tmp_path):
    topic = f"test.{uuid.uuid4().hex[:12]}"
    cfg = stack.write_config(tmp_path / "c.toml", topic, kafka={"partitions": 2})
    r = stack.run("topics", "create", config=cfg)
    assert r.returncode == 0, r.stderr
    assert f"created topic {topic} with 2 partitions" in r.stdout
    events, seals = configs(stack, topic), configs(stack, topic + ".seals")
    for c in (events, seals):
        assert c["unclean.leader.election.enable"] == "false"
        assert c["min.insync.replicas"] == "1", "one replica (the single-node stack) cannot have two in sync"
    assert seals["retention.ms"] == "-1" and seals["retention.bytes"] == "-1"
    assert seals["cleanup.policy"] == "delete"
    assert events["retention.ms"] != "-1", "the events topic keeps the broker's retention"
    r = stack.run("topics", "create", config=cfg)
    assert r.returncode == 0 and f"topic {topic} already exists" in r.stdout, r.stdout + r.stderr
