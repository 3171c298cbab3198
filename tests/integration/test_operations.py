"""docs/OPERATIONS.md stays in step with the code: every configuration field
and its default as `auditlog config` reports them, and every metric the
components define."""
import json
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).parents[2]
DOC = (ROOT / "docs" / "OPERATIONS.md").read_text()


def documented_fields():
    return dict(re.findall(r"^\| `([a-z0-9_]+\.[a-z0-9_]+)` \| `([^`]*)` \|", DOC, re.M))


def test_config_reference_matches_the_loader(stack, tmp_path):
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    r = subprocess.run([stack.bin, "--config", str(empty), "config"], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    actual = {}
    for section, fields in json.loads(r.stdout).items():
        for field, value in fields.items():
            actual[f"{section}.{field}"] = value
    doc = documented_fields()
    assert set(doc) == set(actual), f"undocumented: {set(actual) - set(doc)}; not in the code: {set(doc) - set(actual)}"
    for name, shown in doc.items():
        shown = "" if shown == '""' else shown
        v = actual[name]
        expected = json.dumps(v) if isinstance(v, (list, dict)) else ("" if v is None else str(v).lower() if isinstance(v, bool) else str(v))
        assert shown == expected, f"{name}: the doc says {shown!r}, the code's default is {expected!r}"


def test_metrics_catalogue_matches_the_code():
    defined = set()
    for source in ("ingest/src/telemetry.rs", "sealer/src/telemetry.rs", "archiver/src/telemetry.rs", "kafka/src/telemetry.rs",
                   "verify/src/metrics.rs", "witness/src/telemetry.rs",
                   "src/telemetry.rs"):
        defined |= set(re.findall(r'pub const \w+: &str = "(auditlog_\w+)"', (ROOT / source).read_text()))
    documented = set(re.findall(r"^\| `(auditlog_\w+)` \|", DOC, re.M))
    assert defined and documented == defined, f"undocumented: {defined - documented}; stale: {documented - defined}"


def test_every_metric_the_running_components_expose_is_catalogued(stack, tmp_path, sealers_factory, gateway_factory):
    """Live: a gateway, a sealer and an archiver handle a few events; every
    auditlog_* series their /metrics pages show must be in the catalogue."""
    import requests
    from conftest import free_port, make_event, wait_until
    from test_archiver import start_archiver

    topic = stack.create_topic(2, seals=True)
    gw = gateway_factory(topic)
    sealers = sealers_factory(topic)
    seal = sealers.start(metrics=True)
    port = free_port()
    archiver, cfg, env = start_archiver(stack, tmp_path, topic, sealers, "audit-archive", "ops-metrics/")
    archiver.kill()
    archiver.wait(10)
    # Again, with metrics on.
    env = dict(env, AUDITLOG_ARCHIVER__METRICS_LISTEN=f"127.0.0.1:{port}")
    log = open(tmp_path / "archiver-metrics.log", "w")
    archiver = subprocess.Popen([stack.bin, "--config", str(cfg), "archive"], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        assert gw.post([make_event("acme", i) for i in range(20)]).status_code == 202
        assert gw.post([{"tenant": ""}]).status_code == 422
        pages = {"ingest": gw.url + "/metrics", "sealer": seal.metrics_url, "archiver": f"http://127.0.0.1:{port}/metrics"}
        wait_until("rows archived", lambda: "auditlog_archiver_rows_written_total" in requests.get(pages["archiver"], timeout=2).text,
                   timeout=60, interval=0.5)
        exposed = set()
        for url in pages.values():
            exposed |= {re.sub(r"_(bucket|sum|count)$", "", m)
                        for m in re.findall(r"^(auditlog_\w+?)(?:\{|\s)", requests.get(url, timeout=5).text, re.M)}
        documented = set(re.findall(r"^\| `(auditlog_\w+)` \|", DOC, re.M))
        assert exposed, "no metrics exposed"
        assert exposed <= documented, f"exposed but not catalogued: {exposed - documented}"
        for prefix in ("auditlog_ingest_", "auditlog_sealer_", "auditlog_archiver_"):
            assert any(m.startswith(prefix) for m in exposed), f"nothing from {prefix}"

        def value(name, text):
            m = re.search(rf"^{name} (\S+)$", text, re.M)
            return float(m.group(1)) if m else None
        wait_until("a range archived", lambda: value("auditlog_archiver_ranges_archived_total",
                                                     requests.get(pages["archiver"], timeout=5).text), timeout=60, interval=0.5)
        text = requests.get(pages["archiver"], timeout=5).text  # one scrape; seals are counted before ranges
        ranges, seals = value("auditlog_archiver_ranges_archived_total", text), value("auditlog_archiver_seals_archived_total", text)
        assert seals is not None and seals >= ranges >= 1, (seals, ranges)
    finally:
        archiver.terminate()
        archiver.wait(30)


def test_the_readme_configuration_example_parses(stack, tmp_path):
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```toml\n(.*?)```", readme, re.S)
    assert block, "no TOML example in the README"
    cfg = tmp_path / "readme.toml"
    cfg.write_text(block.group(1))
    r = subprocess.run([stack.bin, "--config", str(cfg), "config"], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ingest"]["tokens"][0]["tenants"] == ["acme", "globex"]
