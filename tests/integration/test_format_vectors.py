"""docs/FORMAT.md §3 and §10 test vectors, recomputed from the document with
hashlib and cryptography (no Rust code involved)."""
import re
from pathlib import Path

from archivecheck import manifest_digest, manifest_message
from chaincheck import digest, genesis, key_id, link, merkle_root, sha, sign
from chaincheck import signing_message as seal_message
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

DOC = (Path(__file__).parents[2] / "docs" / "FORMAT.md").read_text()


def published(name):
    m = re.search(rf"^{name}=([0-9a-f,]+)$", DOC, re.M)
    assert m, f"{name} is not in docs/FORMAT.md"
    return m.group(1)


def test_seal_key_merkle_and_manifest_vectors():
    sealer = Ed25519PrivateKey.from_private_bytes(bytes([1] * 32))
    archiver = Ed25519PrivateKey.from_private_bytes(bytes([2] * 32))
    records = [(0, b"{}"), (1, b'{"a":1}'), (2, b'{"b":2}')]
    leaves = [digest(o, 1764000000000 + o, b"acme", v) for o, v in records]
    head = genesis("audit.events", 0)
    for d in leaves:
        head = link(head, d)
    pub = sealer.public_key().public_bytes_raw()
    assert pub.hex() == published("sealer_public")
    assert key_id(pub).hex() == published("sealer_key_id")
    assert merkle_root(leaves).hex() == published("merkle_root")
    # Leaf 2 of 3: its sibling is the root of leaves 0..2.
    assert merkle_root(leaves[:2]).hex() == published("path_of_leaf_2")
    assert head.hex() == published("seal_head")
    seal = {"v": 1, "kind": "data", "topic": "audit.events", "partition": 0, "seq": 0, "first_offset": 0,
            "last_offset": 2, "count": 3, "prev_head": genesis("audit.events", 0).hex(), "head": head.hex(),
            "merkle_root": merkle_root(leaves).hex(), "high_watermark": 3, "sealed_at_ms": 1764000000500}
    sign(seal, sealer)
    assert sha(seal_message(seal)).hex() == published("seal_message_sha256")
    assert seal["sig"] == published("seal_sig")
    m = {"v": 1, "seals": [seal], "schema_version": 1, "seq": 0, "prev_manifest": None, "written_at_ms": 1764000001000,
         "objects": [{"table": "events", "key": "events/k.parquet", "version_id": "v1", "sha256": "ab" * 32,
                      "rows": 3, "bytes": 1000}],
         "key_id": key_id(archiver.public_key().public_bytes_raw()).hex()}
    assert m["key_id"] == published("archiver_key_id")
    assert manifest_digest(m) == published("manifest_digest")
    assert archiver.sign(manifest_message(m)).hex() == published("manifest_sig")


def test_canonical_row_vectors():
    """§1a: the two rows' canonical JSON, from canonicalcheck.py (json.dumps), is the published text."""
    from canonicalcheck import canonical_json
    full = {"schema_version": 1, "event_id": "0192f0c4-5e6a-7b1c-8d2e-3f4a5b6c7d8e",
            "event_time": 1764000000123456, "tenant": "acme", "source": "billing", "action": "invoice.delete",
            "actor_type": "user", "actor_id": "u-42", "actor_ip": "2001:db8::1", "actor_user_agent": "curl/8.5",
            "resource_type": "invoice", "resource_id": "inv-7", "outcome": "failure",
            "reason": 'line\nbreak, "quoted", café \x1f',
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7", "trace_flags": 1,
            "attributes": [("ip.country", "DE"), ("z", "")]}
    minimal = dict(full, actor_ip=None, actor_user_agent=None, reason=None, trace_id=None, span_id=None,
                   trace_flags=None, attributes=[], outcome="success", event_time=-1)
    section = DOC.split("### 1a.")[1].split("\n## ")[0]
    for row in (full, minimal):
        json_bytes = canonical_json(row)
        assert f"\n{json_bytes.decode()}\n{sha(json_bytes).hex()}\n" in section
