"""The compose deployment's structure (no Docker engine here): services,
pinned images, healthchecks, loopback-only ports, topic and bucket set-up,
each auditlog service's configuration parsed by auditlog's own loader, and
Prometheus and Grafana pointing at metrics that exist."""
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[2]
COMPOSE = ROOT / "compose"
SPEC = yaml.safe_load((COMPOSE / "docker-compose.yml").read_text())
SERVICES = SPEC["services"]
AUDITLOG = {n: s for n, s in SERVICES.items()
            if s.get("image") == "auditlog:local" and s.get("command", [""])[0] in ("ingest", "seal", "archive")}


def test_every_required_service_is_there():
    required = {"kafka-1", "kafka-2", "kafka-3", "kafka-init", "minio", "minio-init", "ingest-1", "ingest-2",
                "loadbalancer", "sealer-1", "sealer-2", "archiver-1", "archiver-2", "prometheus", "grafana",
                "verifier", "node-exporter"}
    assert required <= set(SERVICES), required - set(SERVICES)
    assert {s["command"][0] for s in AUDITLOG.values()} == {"ingest", "seal", "archive"}


def test_images_are_pinned_and_every_service_has_a_healthcheck():
    for name, s in SERVICES.items():
        image = s["image"]
        if image == "auditlog:local":
            assert s["build"]["dockerfile"] == "compose/Dockerfile", name
        else:
            repo, _, tag = image.rpartition(":")
            assert repo and tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not pinned"
        assert "test" in s.get("healthcheck", {}), f"{name} has no healthcheck"
    dockerfile = (COMPOSE / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, re.M)) >= 2, "the Dockerfile is not multi-stage"
    assert "latest" not in dockerfile


def test_every_port_is_bound_to_loopback():
    for name, s in SERVICES.items():
        for p in s.get("ports", []):
            assert str(p).startswith("127.0.0.1:"), f"{name} publishes {p} beyond loopback"


def test_kafka_is_the_stacks_major_version():
    """compose/ and scripts/stack run the same Apache Kafka (the stack's version is set in lib.sh)."""
    stack_version = re.search(r"^KAFKA_VERSION=(\S+)$", (ROOT / "scripts" / "lib.sh").read_text(), re.M).group(1)
    images = {s["image"] for n, s in SERVICES.items() if n.startswith("kafka")}
    assert images == {f"apache/kafka:{stack_version}"}, images
    assert stack_version.split(".")[0] == "4"


def test_topics_are_replicated_and_the_bucket_is_locked():
    init = "\n".join(SERVICES["kafka-init"]["command"])
    assert "--replication-factor 3" in init and "min.insync.replicas=2" in init
    assert "unclean.leader.election.enable=false" in init
    assert "audit.events" in init and "audit.events.seals" in init
    for b in ("kafka-1", "kafka-2", "kafka-3"):
        env = SERVICES[b]["environment"]
        assert str(env["KAFKA_MIN_INSYNC_REPLICAS"]) == "2" and "controller" in env["KAFKA_PROCESS_ROLES"]
    minio = "\n".join(SERVICES["minio-init"]["command"])
    assert "--with-lock" in minio and "version enable" in minio
    policy = json.loads((COMPOSE / "config" / "archiver-policy.json").read_text())
    actions = {a for st in policy["Statement"] for a in st["Action"]}
    assert not any(a.startswith("s3:Delete") or "Bypass" in a for a in actions), actions


def effective_config(name, stack):
    """`auditlog config` with the service's environment and its mounted config file."""
    svc = AUDITLOG[name]
    env = {k: str(v) for k, v in svc["environment"].items() if k.startswith("AUDITLOG_")}
    env["AUDITLOG_CONFIG"] = str(COMPOSE / "config" / "auditlog.toml")
    mounts = [v.split(":")[1] for v in svc["volumes"] if v.startswith("./config/auditlog.toml")]
    assert mounts == ["/etc/auditlog/auditlog.toml"], svc["volumes"]
    r = subprocess.run([stack.bin, "config"], capture_output=True, text=True, env={"PATH": os.environ["PATH"], **env})
    assert r.returncode == 0, f"{name}: {r.stderr}"
    return json.loads(r.stdout)


@pytest.mark.parametrize("name", sorted(AUDITLOG))
def test_each_service_config_parses_with_auditlogs_loader(name, stack):
    cfg = effective_config(name, stack)
    assert cfg["kafka"]["bootstrap_servers"].count("kafka-") == 3
    assert cfg["kafka"]["replication_factor"] == 3
    assert cfg["s3"]["endpoint"] == "http://minio:9000"


def test_prometheus_scrapes_every_metrics_endpoint_and_grafana_uses_real_metrics(stack):
    prom = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    targets = {t for job in prom["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    for name, svc in AUDITLOG.items():
        cfg = effective_config(name, stack)
        listen = {"ingest": cfg["ingest"]["listen"], "seal": cfg["sealer"]["metrics_listen"],
                  "archive": cfg["archiver"]["metrics_listen"]}[svc["command"][0]]
        assert f"{name}:{listen.rsplit(':', 1)[1]}" in targets, f"{name}'s metrics ({listen}) are not scraped"
    assert "node-exporter:9100" in targets, "the verify results (textfile collector) are not scraped"
    assert "--metrics-file /textfile/" in "\n".join(SERVICES["verifier"]["command"])
    assert len(targets) == len(AUDITLOG) + 1

    known = set()
    for source in ("ingest/src/telemetry.rs", "sealer/src/telemetry.rs", "archiver/src/telemetry.rs", "verify/src/metrics.rs",
                   "src/telemetry.rs"):
        known |= set(re.findall(r'pub const \w+: &str = "(auditlog_\w+)"', (ROOT / source).read_text()))
    dash = json.loads((COMPOSE / "grafana" / "dashboards" / "auditlog.json").read_text())
    used = {m for p in dash["panels"] for t in p["targets"] for m in re.findall(r"auditlog_\w+", t["expr"])}
    assert used, "the dashboard queries nothing"
    unknown = {u for u in used if re.sub(r"_(bucket|sum|count)$", "", u) not in known}
    assert not unknown, f"the dashboard queries metrics no component exposes: {unknown}"


def test_the_load_balancer_health_checks_readyz():
    envoy = yaml.safe_load((COMPOSE / "envoy.yaml").read_text())
    [cluster] = envoy["static_resources"]["clusters"]
    assert cluster["health_checks"][0]["http_health_check"]["path"] == "/readyz"
    backends = {e["endpoint"]["address"]["socket_address"]["address"]
                for group in cluster["load_assignment"]["endpoints"] for e in group["lb_endpoints"]}
    assert backends == {"ingest-1", "ingest-2"}
    lb = SERVICES["loadbalancer"]
    assert lb["image"].startswith("envoyproxy/envoy:") and "./envoy.yaml:/etc/envoy/envoy.yaml:ro" in lb["volumes"]
