"""The derived columns of an events object, recomputed from each row's `kafka_value`
(docs/FORMAT.md §8 step 3, §1, §2), written from the document alone: what the independent
verifier uses to find rows whose `tenant`, `event_time`, … are not what the chained bytes say.
"""
import hashlib
import ipaddress
import json
import re
import struct
import uuid
from datetime import datetime, timedelta, timezone

import pyarrow as pa
from canonicalcheck import MARKER

RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
STRINGS = ["tenant", "source", "action", "outcome"]


def event_time_micros(s):
    """RFC 3339 with an offset → UTC microseconds since the epoch, finer digits truncated."""
    y, mo, d, h, mi, se, frac, off = RFC3339.match(s).groups()
    t = datetime(int(y), int(mo), int(d), int(h), int(mi), int(se), int((frac or "")[:6].ljust(6, "0")), tzinfo=timezone.utc)
    micros = (t - EPOCH) // timedelta(microseconds=1)
    if off not in ("Z", "z"):
        sign = 1 if off[0] == "+" else -1
        micros -= sign * (int(off[1:3]) * 3600 + int(off[4:6]) * 60) * 1_000_000
    return micros


def canonical_ip(s):
    a = ipaddress.ip_address(s)
    if a.version == 6 and a.ipv4_mapped is not None:
        return f"::ffff:{a.ipv4_mapped}"
    return a.compressed


def derived_event_id(topic, partition, offset):
    t = topic.encode()
    d = bytearray(hashlib.sha256(b"auditlog/v1/event-id\0" + struct.pack(">I", len(t)) + t
                                 + struct.pack(">iq", partition, offset)).digest()[:16])
    d[6] = (d[6] & 0x0F) | 0x80
    d[8] = (d[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(d)))


def expected(value, topic, partition, offset):
    """The derived columns of one row, from its kafka_value."""
    e = json.loads(value)
    actor, resource = e["actor"], e["resource"]
    trace = e.get("trace")
    trace_id = span_id = flags = None
    if trace is not None:
        _, trace_id, span_id, f = trace.split("-")
        flags = int(f, 16)
    ip = actor.get("ip")
    cols = {
        "schema_version": e.get("schema_version", 1),
        "event_id": str(uuid.UUID(e["event_id"])) if e.get("event_id") is not None else derived_event_id(topic, partition, offset),
        "event_time": event_time_micros(e["event_time"]),
        "actor_type": actor["type"], "actor_id": actor["id"],
        "actor_ip": None if ip is None else canonical_ip(ip),
        "actor_user_agent": actor.get("user_agent"),
        "resource_type": resource["type"], "resource_id": resource["id"],
        "reason": e.get("reason"),
        "trace_id": trace_id, "span_id": span_id, "trace_flags": flags,
        "attributes": sorted((e.get("attributes") or {}).items()),
        "kafka_topic": topic, "kafka_partition": partition,
    }
    cols.update({k: e[k] for k in STRINGS})
    return cols


def check_derived(table, topic, partition):
    """→ (first offset, number of rows) whose derived columns are not what kafka_value gives, or None."""
    cols = {name: table.column(name).to_pylist() for name in table.column_names if name != "event_time"}
    cols["event_time"] = table.column("event_time").cast(pa.int64()).to_pylist()
    bad = []
    for i, offset in enumerate(cols["kafka_offset"]):
        row = {k: v[i] for k, v in cols.items()}
        row["attributes"] = [tuple(kv) for kv in row["attributes"] or []]
        if row.get(MARKER):
            # The value is these columns (FORMAT.md §1a): the chain check covers them.
            if (row["kafka_topic"], row["kafka_partition"]) != (topic, partition):
                bad.append(offset)
            continue
        try:
            want = expected(row["kafka_value"], topic, partition, offset)
            same = all(row[k] == v for k, v in want.items())
        except Exception:  # noqa: BLE001 - a value that does not parse is a mismatch
            same = False
        if not same:
            bad.append(offset)
    return (bad[0], len(bad)) if bad else None
