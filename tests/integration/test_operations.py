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
    for crate in ("ingest", "sealer", "archiver"):
        defined |= set(re.findall(r'pub const \w+: &str = "(auditlog_\w+)"', (ROOT / crate / "src" / "telemetry.rs").read_text()))
    documented = set(re.findall(r"^\| `(auditlog_\w+)` \|", DOC, re.M))
    assert defined and documented == defined, f"undocumented: {defined - documented}; stale: {documented - defined}"
