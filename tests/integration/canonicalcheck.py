"""The record value of an archive row, rebuilt where `kafka_value_canonical` says so.

Written from docs/FORMAT.md §1a alone (json.dumps, not the Rust code): the canonical JSON of the
row's event columns. A row without the marker column (format 1, dead letters) has its value stored.
"""
import datetime
import json

MARKER = "kafka_value_canonical"
EPOCH = datetime.datetime(1970, 1, 1)


def event_time_text(micros):
    t = EPOCH + datetime.timedelta(microseconds=micros)
    return (f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
            f".{t.microsecond:06d}Z")


def micros(v):
    """event_time as µs: pyarrow gives an aware datetime, a cast column gives an int."""
    if isinstance(v, int):
        return v
    return (v.replace(tzinfo=None) - EPOCH) // datetime.timedelta(microseconds=1)


def canonical_json(row):
    """→ the canonical JSON bytes of one row (a dict of column → value)."""
    e = {"schema_version": row["schema_version"], "event_id": row["event_id"],
         "event_time": event_time_text(micros(row["event_time"])),
         "tenant": row["tenant"], "source": row["source"], "action": row["action"]}
    actor = {"type": row["actor_type"], "id": row["actor_id"]}
    for k in ("ip", "user_agent"):
        if row[f"actor_{k}"] is not None:
            actor[k] = row[f"actor_{k}"]
    e["actor"] = actor
    e["resource"] = {"type": row["resource_type"], "id": row["resource_id"]}
    e["outcome"] = row["outcome"]
    if row["reason"] is not None:
        e["reason"] = row["reason"]
    trace = (row["trace_id"], row["span_id"], row["trace_flags"])
    if trace != (None, None, None):
        if None in trace or not 0 <= trace[2] <= 255:
            raise ValueError("the trace columns are partly null or the flags are not a byte")
        e["trace"] = f"00-{trace[0]}-{trace[1]}-{trace[2]:02x}"
    attributes = [tuple(kv) for kv in row["attributes"] or []]
    if attributes:
        e["attributes"] = dict(attributes)
        if len(e["attributes"]) != len(attributes):
            raise ValueError("a repeated attribute key")
    for k in ("tenant", "source", "action", "outcome"):
        if e[k] is None:
            raise ValueError(f"{k} is null")
    return json.dumps(e, ensure_ascii=False, separators=(",", ":")).encode()


def record_value(row):
    """→ the exact record value of a row: stored, or rebuilt for a canonical one."""
    if row.get(MARKER, False) is False:
        return row["kafka_value"]
    if row[MARKER] is None:
        raise ValueError(f"{MARKER} is null")
    if row["kafka_value"] is not None:
        raise ValueError(f"{MARKER} is true, yet kafka_value is stored too")
    return canonical_json(row)
