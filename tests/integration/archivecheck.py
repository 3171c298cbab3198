"""An independent verifier of an archive in S3, written from docs/FORMAT.md
(§3–§8, checkpoints §7a) alone: boto3 lists and reads, pyarrow decodes Parquet, hashlib
recomputes chains and Merkle roots, `cryptography` checks Ed25519. It shares no
code with the Rust `auditlog verify`; the suite runs both on the same archives
and expects the same findings.
"""
import io
import json
import math
import re
import struct
import tomllib
from datetime import datetime

import pyarrow.parquet as pq
from canonicalcheck import MARKER, record_value
from derivedcheck import check_derived
from chaincheck import digest, genesis, key_id, link, load_public, merkle_root, sha, well_formed
from chaincheck import signing_message as seal_message
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MANIFEST_KEY = re.compile(r"^manifests/topic=([^/]+)/partition=(\d+)/(\d+)\.json$")
CHECKPOINT_KEY = re.compile(r"^checkpoints/(\d{20})\.json$")
PARTITION_NAME = re.compile(r"^(.+)/(0|[1-9]\d*)$")


def manifest_message(m):
    seals = m["seals"]
    if not seals:
        raise ValueError("a manifest covers at least one seal")
    parts = [b"auditlog/v1/manifest\0", struct.pack(">I", len(seals))]
    for s in seals:
        parts += [sha(seal_message(s)), bytes.fromhex(s["sig"])]
    parts += [struct.pack(">H", m["schema_version"]), struct.pack(">Q", m["seq"])]
    prev = m["prev_manifest"]
    parts.append(b"\0" if prev is None else b"\x01" + bytes.fromhex(prev))
    parts.append(struct.pack(">I", len(m["objects"])))
    for o in m["objects"]:
        k, v = o["key"].encode(), o["version_id"].encode()
        parts += [bytes([0 if o["table"] == "events" else 1]), struct.pack(">I", len(k)), k,
                  struct.pack(">I", len(v)), v, bytes.fromhex(o["sha256"]), struct.pack(">QQ", o["rows"], o["bytes"])]
    parts += [struct.pack(">q", m["written_at_ms"]), bytes.fromhex(m["key_id"])]
    return b"".join(parts)


def manifest_digest(m):
    return sha(manifest_message(m)).hex()


def checkpoint_message(c):
    """§7a: the bytes a checkpoint's signature covers (raises on a malformed checkpoint)."""
    if c["v"] != 1 or set(c) != {"v", "seq", "prev_checkpoint", "written_at_ms", "partitions", "key_id", "sig"}:
        raise ValueError("not a v1 checkpoint")
    parts = [b"auditlog/v1/checkpoint\0", struct.pack(">Q", c["seq"])]
    prev = c["prev_checkpoint"]
    parts.append(b"\0" if prev is None else b"\x01" + bytes.fromhex(prev))
    parts.append(struct.pack(">q", c["written_at_ms"]))
    entries = []
    for name, e in c["partitions"].items():
        m = PARTITION_NAME.match(name)
        if not m or len(bytes.fromhex(e["digest"])) != 32:
            raise ValueError(f"bad partition entry {name}")
        entries.append(((m.group(1).encode(), int(m.group(2))), e))
    entries.sort(key=lambda x: x[0])
    parts.append(struct.pack(">I", len(entries)))
    for (topic, partition), e in entries:
        k = e["key"].encode()
        parts += [struct.pack(">I", len(topic)), topic, struct.pack(">i", partition), struct.pack(">Q", e["seq"]),
                  bytes.fromhex(e["digest"]), struct.pack(">q", e["last_offset"]), struct.pack(">I", len(k)), k]
    parts.append(bytes.fromhex(c["key_id"]))
    return b"".join(parts)


def check_checkpoints(s3, bucket, prefix, by_key, registry, retention_days, findings):
    """§8 step 8 (chain and signatures); returns (key, checkpoint) of the newest sound one, or None."""
    read = []
    for key, entries in sorted(by_key.items()):
        match = CHECKPOINT_KEY.match(key[len(prefix):])
        if not match:
            continue
        cur = current(key, entries, findings)
        if cur is None:
            continue
        try:
            c = json.loads(s3.get_object(Bucket=bucket, Key=key, VersionId=cur["vid"])["Body"].read())
            message = checkpoint_message(c)
        except (ValueError, KeyError, TypeError, AttributeError):
            findings.append(("checkpoint_malformed", key))
            continue
        own = []
        if c["seq"] != int(match.group(1)):
            own.append(("checkpoint_malformed", key))
        problem = check_key(registry, c["key_id"], "archiver", c["written_at_ms"], message, c["sig"])
        if problem:
            own.append((problem, key))
        findings.extend(own)
        check_retention(s3, bucket, key, cur["vid"], -(-max(c["written_at_ms"], 0) // 1000) + retention_days * 86400, findings)
        read.append((c["seq"], key, c, not own))
    read.sort(key=lambda x: (x[0], x[1]))
    prev = None
    for seq, key, c, _ in read:
        if prev is None:
            if seq > 0 or c["prev_checkpoint"] is not None:
                findings.append(("checkpoint_chain_broken", key))
        else:
            if seq != prev["seq"] + 1 or c["prev_checkpoint"] != sha(checkpoint_message(prev)).hex():
                findings.append(("checkpoint_chain_broken", key))
            for name, e in prev["partitions"].items():
                now = c["partitions"].get(name)
                if now is None or now["seq"] < e["seq"]:
                    findings.append(("checkpoint_chain_broken", key))
        prev = c
    sound = [(key, c) for _, key, c, ok in read if ok]
    return sound[-1] if sound else None


def held_to(accepted, present, key, findings):
    """§8 step 7 for one source of accepted ends (a state file, key None, or a checkpoint)."""
    for name, acc in accepted.items():
        now = present.get(name)
        if now is None or now["seq"] < acc["seq"]:
            findings.append(("tail_truncated", key))
        if now is not None and acc["seq"] in now["digests"] and now["digests"][acc["seq"]] != acc["digest"]:
            findings.append(("history_rewritten", key))


def rfc3339_ms(s):
    return int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)


def load_registry(path):
    """[[keys]] with public_key or file, role, optional not_before / not_after."""
    raw = tomllib.loads(open(path).read())
    base = path.parent
    out = []
    for k in raw["keys"]:
        pub = bytes.fromhex(k["public_key"]) if "public_key" in k else load_public(base / k["file"])
        out.append({"pub": pub, "id": key_id(pub).hex(), "role": k["role"],
                    "nb": rfc3339_ms(k["not_before"]) if "not_before" in k else None,
                    "na": rfc3339_ms(k["not_after"]) if "not_after" in k else None})
    return out


def check_key(registry, kid, role, at_ms, message, sig):
    entries = [e for e in registry if e["id"] == kid and e["role"] == role]
    usable = [e for e in entries if (e["nb"] is None or at_ms >= e["nb"]) and (e["na"] is None or at_ms < e["na"])]
    if not entries:
        return "unknown_key"
    if not usable:
        return "key_outside_window"
    try:
        Ed25519PublicKey.from_public_bytes(usable[0]["pub"]).verify(bytes.fromhex(sig), message)
        return None
    except (InvalidSignature, ValueError):
        return "bad_signature"


def list_versions(s3, bucket, prefix):
    by_key = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for v in page.get("Versions", []):
            by_key.setdefault(v["Key"], []).append({"vid": v["VersionId"], "latest": v["IsLatest"], "dm": False})
        for d in page.get("DeleteMarkers", []):
            by_key.setdefault(d["Key"], []).append({"vid": d["VersionId"], "latest": d["IsLatest"], "dm": True})
    return by_key


def current(key, entries, findings):
    if len(entries) > 1:
        findings.append(("extra_version", key))
    for e in entries:
        if e["latest"]:
            return None if e["dm"] else e
    return None


def check_retention(s3, bucket, key, vid, min_until, findings):
    h = s3.head_object(Bucket=bucket, Key=key, VersionId=vid)
    mode, until = h.get("ObjectLockMode"), h.get("ObjectLockRetainUntilDate")
    if mode is None or until is None:
        findings.append(("retention_missing", key))
    elif mode != "COMPLIANCE":
        findings.append(("retention_not_compliance", key))
    elif math.floor(until.timestamp()) < min_until:
        findings.append(("retention_too_short", key))


def read_rows(body):
    """→ [(offset, timestamp ms, key, value)]; values rebuilt where canonical (FORMAT.md §1a)."""
    f = pq.ParquetFile(io.BytesIO(body))
    chained = ["kafka_offset", "kafka_timestamp", "kafka_key", "kafka_value"]
    t = f.read() if MARKER in f.schema_arrow.names else f.read(columns=chained)
    offs = t.column("kafka_offset").to_pylist()
    ts = t.column("kafka_timestamp").cast("int64").to_pylist()
    keys = t.column("kafka_key").to_pylist()
    values = [record_value(r) for r in t.to_pylist()] if MARKER in t.column_names else t.column("kafka_value").to_pylist()
    return [(o, None if s is None else s // 1000, k, v) for o, s, k, v in zip(offs, ts, keys, values)]


def check_rows(seals, objects, findings):
    """objects: [(key, rows in stored order)] → findings per FORMAT.md §8 step 4, for a range of seals."""
    first_key = objects[0][0] if objects else ""
    rows = []
    for key, rs in objects:
        if any(b[0] < a[0] for a, b in zip(rs, rs[1:])):
            findings.append(("records_out_of_order", key))
        rows += rs
    rows.sort(key=lambda r: r[0])
    lo, hi = seals[0]["first_offset"], seals[-1]["last_offset"]
    inside = [r for r in rows if lo <= r[0] <= hi]
    distinct, seen = [], set()
    for r in inside:
        if r[0] not in seen:
            seen.add(r[0])
            distinct.append(r)
    if len(inside) < len(rows) or len(distinct) < len(inside):
        findings.append(("record_injected", first_key))
    for seal in seals:
        mine = [r for r in distinct if seal["first_offset"] <= r[0] <= seal["last_offset"]]
        if len(mine) > seal["count"]:
            findings.append(("record_injected", first_key))
        elif len(mine) < seal["count"]:
            findings.append(("record_missing", first_key))
        else:
            leaves = [digest(*r) for r in mine]
            head = bytes.fromhex(seal["prev_head"])
            for d in leaves:
                head = link(head, d)
            if head.hex() != seal["head"] or merkle_root(leaves).hex() != seal["merkle_root"]:
                findings.append(("record_altered", first_key))


def follows(p, s, key, findings):
    """§8 step 5: seal s directly after seal p."""
    if s["prev_head"] != p["head"]:
        findings.append(("seal_chain_broken", key))
    if s["first_offset"] > p["last_offset"] + 1:
        findings.append(("offset_gap", key))
    elif s["first_offset"] <= p["last_offset"]:
        findings.append(("ranges_overlap", key))


def check_chain(topic, partition, manifests, findings):
    prev = None
    for key, m in manifests:
        s = m["seals"][0]
        if prev is None:
            if m["seq"] > 0:
                findings.append(("manifest_missing", key))
            else:
                if m["prev_manifest"] is not None:
                    findings.append(("manifest_chain_broken", key))
                if s["prev_head"] != genesis(topic, partition).hex():
                    findings.append(("seal_chain_broken", key))
        else:
            if any(s["seq"] == r["seq"] or (s["prev_head"] == r["prev_head"] and s["first_offset"] == r["first_offset"])
                   for r in prev["seals"]):
                findings.append(("fork", key))
            elif m["seq"] > prev["seq"] + 1:
                findings.append(("manifest_missing", key))
            elif m["seq"] != prev["seq"] + 1:
                findings.append(("manifest_chain_broken", key))
            else:
                if m["prev_manifest"] != manifest_digest(prev):
                    findings.append(("manifest_chain_broken", key))
                follows(prev["seals"][-1], s, key, findings)
        prev = m


def range_retention_days(retention_days, by_action, actions):
    """§6: the topic's retention, or the longest class (action prefix) of any event in the range."""
    return max([retention_days] + [d for a in actions for p, d in (by_action or {}).items() if a.startswith(p)])


def verify(s3, bucket, prefix, registry, retention_days, state=None, retention_by_action=None):
    """Returns (findings as a set of (name, key or None), {"topic/partition": last accepted})."""
    findings = []
    by_key = list_versions(s3, bucket, prefix)
    parts, referenced = {}, set()
    for key, entries in sorted(by_key.items()):
        match = MANIFEST_KEY.match(key[len(prefix):])
        if not match:
            continue
        topic, partition = match.group(1), int(match.group(2))
        cur = current(key, entries, findings)
        if cur is None:
            continue
        body = s3.get_object(Bucket=bucket, Key=key, VersionId=cur["vid"])["Body"].read()
        try:
            m = json.loads(body)
            seals = m["seals"]
            s = seals[0]
            manifest_message(m)
        except (ValueError, KeyError, TypeError):
            findings.append(("manifest_malformed", key))
            continue
        for e in entries:
            if e["dm"] or e["vid"] == cur["vid"]:
                continue
            try:
                older = json.loads(s3.get_object(Bucket=bucket, Key=key, VersionId=e["vid"])["Body"].read())
                if older["seals"] != seals:
                    findings.append(("fork", key))
            except (ValueError, KeyError, TypeError):
                pass
        for i, x in enumerate(seals):
            if x["kind"] != "data" or not well_formed(x) or (x["topic"], x["partition"]) != (s["topic"], s["partition"]):
                findings.append(("manifest_malformed", key))
            if i > 0:
                if x["seq"] <= seals[i - 1]["seq"]:
                    findings.append(("manifest_malformed", key))
                follows(seals[i - 1], x, key, findings)
        expected = f"{prefix}manifests/topic={s['topic']}/partition={s['partition']:04}/{s['first_offset']:020}.json"
        if key != expected:
            findings.append(("manifest_misplaced", key))
        problems = [check_key(registry, x["key_id"], "sealer", x["sealed_at_ms"], seal_message(x), x["sig"]) for x in seals]
        problems.append(check_key(registry, m["key_id"], "archiver", m["written_at_ms"], manifest_message(m), m["sig"]))
        for problem in problems:
            if problem:
                findings.append((problem, key))
        locked = [(key, cur["vid"])]
        objects, broken, actions = [], False, set()
        for o in m["objects"]:
            referenced.add(o["key"])
            oc = current(o["key"], by_key.get(o["key"], []), findings)
            if oc is None:
                findings.append(("object_missing", o["key"]))
                broken = True
                continue
            if oc["vid"] != o["version_id"]:
                findings.append(("object_replaced", o["key"]))
            data = s3.get_object(Bucket=bucket, Key=o["key"], VersionId=oc["vid"])["Body"].read()
            if sha(data).hex() != o["sha256"] or len(data) != o["bytes"]:
                findings.append(("checksum_mismatch", o["key"]))
            locked.append((o["key"], oc["vid"]))
            try:
                objects.append((o["key"], read_rows(data)))
                if o["table"] == "events":
                    table = pq.read_table(io.BytesIO(data))
                    actions |= set(table.column("action").to_pylist())
                    if check_derived(table, topic, partition):
                        findings.append(("derived_mismatch", o["key"]))
            except Exception:  # noqa: BLE001 - any decoding failure is the finding
                findings.append(("object_unreadable", o["key"]))
                broken = True
        days = range_retention_days(retention_days, retention_by_action, actions)
        for k, vid in locked:
            check_retention(s3, bucket, k, vid, -(-max(seals[-1]["sealed_at_ms"], 0) // 1000) + days * 86400, findings)
        if not broken:
            check_rows(seals, objects, findings)
        parts.setdefault((topic, partition), []).append((key, m))
    present = {}
    for (topic, partition), ms in parts.items():
        ms.sort(key=lambda km: (km[1]["seals"][0]["first_offset"], km[1]["seq"]))
        check_chain(topic, partition, ms, findings)
        last = ms[-1][1]
        present[f"{topic}/{partition}"] = {"seq": last["seq"], "digest": manifest_digest(last),
                                           "last_offset": last["seals"][-1]["last_offset"],
                                           "digests": {m["seq"]: manifest_digest(m) for _, m in ms}}
    for key in by_key:
        rest = key[len(prefix):]
        if not MANIFEST_KEY.match(rest) and not CHECKPOINT_KEY.match(rest) and key not in referenced:
            findings.append(("unreferenced_object", key))
    held_to(state or {}, present, None, findings)
    longest = max([retention_days] + list((retention_by_action or {}).values()))
    newest = check_checkpoints(s3, bucket, prefix, by_key, registry, longest, findings)
    if newest is not None:
        held_to(newest[1]["partitions"], present, newest[0], findings)
    return set(findings), present
