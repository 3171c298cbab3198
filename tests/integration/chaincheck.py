"""An independent checker of the seal chain, written from docs/FORMAT.md alone.

It reads the events and seals topics with confluent-kafka, recomputes every
head and Merkle root with hashlib, verifies Ed25519 signatures with
`cryptography`, applies the canonical-chain rule, and reports every finding.
It shares no code with the Rust implementation.
"""
import hashlib
import json
import struct
import time
import uuid

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def sha(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def genesis(topic, partition):
    t = topic.encode()
    return sha(b"auditlog/v1/genesis\0", struct.pack(">I", len(t)), t, struct.pack(">i", partition))


def _bytes(b):
    return struct.pack(">I", 0xFFFFFFFF) if b is None else struct.pack(">I", len(b)) + b


def digest(offset, timestamp_ms, key, value):
    ts = -1 if timestamp_ms is None else timestamp_ms
    return sha(b"auditlog/v1/record\0", struct.pack(">q", offset), struct.pack(">q", ts), _bytes(key), _bytes(value))


def link(prev, d):
    return sha(b"auditlog/v1/link\0", prev, d)


def merkle_root(leaves):
    if not leaves:
        return sha(b"auditlog/v1/merkle-empty\0")
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return sha(b"\x01", merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def key_id(public_bytes):
    return sha(b"auditlog/v1/key\0", public_bytes)[:16]


def signing_message(s):
    t = s["topic"].encode()
    return b"".join([
        b"auditlog/v1/seal\0",
        bytes([0 if s["kind"] == "data" else 1]),
        struct.pack(">I", len(t)), t,
        struct.pack(">i", s["partition"]),
        struct.pack(">Q", s["seq"]),
        struct.pack(">q", s["first_offset"]), struct.pack(">q", s["last_offset"]),
        struct.pack(">Q", s["count"]),
        bytes.fromhex(s["prev_head"]), bytes.fromhex(s["head"]), bytes.fromhex(s["merkle_root"]),
        struct.pack(">q", s["high_watermark"]),
        struct.pack(">q", s["sealed_at_ms"]),
        bytes.fromhex(s["key_id"]),
    ])


SECRET_HEADER = "auditlog-ed25519-secret-key-v1"
PUBLIC_HEADER = "auditlog-ed25519-public-key-v1"


def read_key_file(path, header):
    """The 32 bytes of a key file (docs/FORMAT.md §10a): the header line naming its kind, then 64 hex digits."""
    lines = open(path).read().split()
    if len(lines) != 2 or lines[0] != header:
        raise ValueError(f"{path} is not a {header} file")
    return bytes.fromhex(lines[1])


def load_public(path):
    return read_key_file(path, PUBLIC_HEADER)


def load_secret(path):
    return Ed25519PrivateKey.from_private_bytes(read_key_file(path, SECRET_HEADER))


def sign(seal, secret):
    pub = secret.public_key().public_bytes_raw()
    seal["key_id"] = key_id(pub).hex()
    seal["sig"] = secret.sign(signing_message(seal)).hex()
    return seal


def verify_sig(seal, publics):
    pub = publics.get(seal["key_id"])
    if pub is None:
        return "unknown_key"
    try:
        Ed25519PublicKey.from_public_bytes(pub).verify(bytes.fromhex(seal["sig"]), signing_message(seal))
        return None
    except (InvalidSignature, ValueError):
        return "bad_signature"


def well_formed(s):
    span = s["last_offset"] - s["first_offset"] + 1
    if s["kind"] == "heartbeat":
        return s["count"] == 0 and span == 0 and s["prev_head"] == s["head"] and s["merkle_root"] == merkle_root([]).hex()
    return s["count"] > 0 and s["first_offset"] >= 0 and span >= s["count"]


def canonical(topic, partition, seals, publics):
    """Folds (offset, seal) in log order. Returns (accepted, rejected)."""
    tip = {"seq": 0, "head": genesis(topic, partition).hex(), "next": None}
    accepted, rejected = [], []
    for off, s in seals:
        reason = None
        if s["topic"] != topic or s["partition"] != partition:
            reason = "wrong_partition"
        elif not well_formed(s):
            reason = "malformed"
        else:
            reason = verify_sig(s, publics)
        if reason is None:
            if s["seq"] < tip["seq"]:
                reason = "superseded"
            elif s["seq"] != tip["seq"] or s["prev_head"] != tip["head"] or (tip["next"] is not None and s["first_offset"] != tip["next"]):
                reason = "does_not_extend"
        if reason:
            rejected.append((off, s, reason))
        else:
            accepted.append((off, s))
            tip = {"seq": s["seq"] + 1, "head": s["head"], "next": s["last_offset"] + 1}
    return accepted, rejected


def read_partition(bootstrap, topic, partition, timeout=120):
    """Every record of one partition as (offset, timestamp_ms, key, value)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"chaincheck-{uuid.uuid4().hex}",
                  "enable.auto.commit": False, "log_level": 0})
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        c.assign([TopicPartition(topic, partition, low)])
        out, pos = [], low
        deadline = time.monotonic() + timeout
        while pos < high:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic}/{partition} stuck at {pos} of {high}")
            for m in c.consume(num_messages=2000, timeout=1.0):
                if m.error():
                    continue
                ts_type, ts = m.timestamp()
                out.append((m.offset(), ts if ts_type != 0 else None, m.key(), m.value()))
                pos = m.offset() + 1
        return low, high, out
    finally:
        c.close()


def check_partition(bootstrap, topic, partition, publics, seals_topic=None):
    """Checks one partition end to end; returns a report dict with findings."""
    seals_topic = seals_topic or topic + ".seals"
    _, _, seal_recs = read_partition(bootstrap, seals_topic, partition)
    seals = [(off, json.loads(v)) for off, _, _, v in seal_recs]
    accepted, rejected = canonical(topic, partition, seals, publics)
    low, high, records = read_partition(bootstrap, topic, partition)
    by_offset = {r[0]: r for r in records}
    findings = []
    expected_seq = 0
    covered = []
    head = genesis(topic, partition)
    for off, s in accepted:
        if s["seq"] != expected_seq:
            findings.append(f"seq gap at seals offset {off}: {s['seq']} after {expected_seq - 1}")
        expected_seq = s["seq"] + 1
        if s["kind"] == "heartbeat":
            continue
        leaves = []
        for o in range(s["first_offset"], s["last_offset"] + 1):
            r = by_offset.get(o)
            if r is None:
                findings.append(f"seal {s['seq']} covers offset {o} which is not in the log")
                continue
            d = digest(*r)
            leaves.append(d)
            head = link(head, d)
            covered.append(o)
        if head.hex() != s["head"]:
            findings.append(f"seal {s['seq']}: head {s['head']} != recomputed {head.hex()}")
            head = bytes.fromhex(s["head"])
        if merkle_root(leaves).hex() != s["merkle_root"]:
            findings.append(f"seal {s['seq']}: merkle root mismatch")
    first = accepted[0][1]["first_offset"] if accepted else None
    if covered and covered != list(range(covered[0], covered[0] + len(covered))):
        findings.append("covered offsets are not contiguous or repeat")
    sealed_to = (covered[-1] + 1) if covered else first
    return {
        "partition": partition, "low": low, "high": high, "first": first, "sealed_to": sealed_to,
        "records_covered": len(covered), "seals": len(accepted),
        "heartbeats": [s for _, s in accepted if s["kind"] == "heartbeat"],
        "accepted": accepted, "rejected": [(off, reason) for off, _, reason in rejected], "findings": findings,
        "head": head.hex(),
    }
