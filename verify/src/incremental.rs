//! Incremental verification (`--state`, docs/FORMAT.md §8 "Incremental
//! runs"): what an earlier clean run verified, and the pure rule that decides
//! whether a manifest, with every object it names, or a checkpoint is still
//! exactly what was verified, so that this run may check it by listing
//! instead of reading it again. No IO here.

use std::collections::{BTreeMap, BTreeSet};

use archive::store::VersionEntry;
use chain::checkpoint::Checkpoint;
use chain::manifest::Manifest;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::tlogcheck::LogHead;

/// The one version of a key that a clean run verified, as the listing gave
/// it. S3 never changes the bytes of a version, so the same version id is the
/// same bytes; size and ETag are compared as well, in case a store reuses ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// Its version id.
    pub version_id: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag as listed, when the server gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

impl Seen {
    /// What the listing says of one version.
    pub fn of(v: &VersionEntry) -> Self {
        Seen {
            version_id: v.version_id.clone(),
            size: v.size,
            etag: v.etag.clone(),
        }
    }
}

/// What earlier clean runs verified in full, so later runs need not read it
/// again: every key's one version, and the manifests and checkpoints as they
/// were read (their JSON, byte for byte).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Verified {
    /// Key → the one version verified.
    #[serde(default)]
    pub versions: BTreeMap<String, Seen>,
    /// Manifest key → the manifest read.
    #[serde(default)]
    pub manifests: BTreeMap<String, Box<RawValue>>,
    /// Checkpoint key → the checkpoint read.
    #[serde(default)]
    pub checkpoints: BTreeMap<String, Box<RawValue>>,
    /// `"<topic>/<partition>"` → the newest checkpoint of its transparency
    /// log a clean run verified (absent in state files written before logs
    /// were verified incrementally: those logs are read in full once).
    #[serde(default)]
    pub logs: BTreeMap<String, LogMark>,
}

/// The newest checkpoint of a log a clean run verified, as the state keeps
/// it: where the next run resumes the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogMark {
    /// Its size.
    pub size: u64,
    /// Its root, hex.
    pub root: String,
    /// Its key.
    pub checkpoint: String,
}

impl LogMark {
    /// The state's form of a verified head.
    pub fn of(h: &LogHead) -> Self {
        LogMark {
            size: h.size,
            root: chain::hex::encode(&h.root),
            checkpoint: h.key.clone(),
        }
    }

    /// The head it remembers; `None` if the root does not decode.
    pub fn head(&self) -> Option<LogHead> {
        let root = chain::hex::decode_array::<32>(&self.root)?;
        Some(LogHead {
            size: self.size,
            root,
            key: self.checkpoint.clone(),
        })
    }
}

/// What an incremental run reads of one log, resumed at `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPlan {
    /// The newest checkpoint a clean run verified.
    pub from: LogHead,
    /// The keys to read: every key of the log that run did not verify, the
    /// partial tiles of `from.size`, and the checkpoints the cosigned notes
    /// read are compared with.
    pub read: BTreeSet<String>,
}

/// One log: its (topic, partition) and its listed keys with their paths in
/// the log's folder.
#[derive(Debug, Clone, Copy)]
pub struct LogKeys<'a> {
    /// The archive's prefix.
    pub prefix: &'a str,
    /// Its topic.
    pub topic: &'a str,
    /// Its partition.
    pub partition: i32,
    /// (key, path) of every listed key under its folder.
    pub keys: &'a [(&'a String, String)],
}

/// The key lists exactly the one version verified: no version added, none
/// removed, no delete marker, the same id, size and ETag.
pub fn unchanged(seen: Option<&Seen>, versions: &[VersionEntry]) -> bool {
    match (seen, versions) {
        (Some(s), [v]) => {
            !v.delete_marker && v.version_id == s.version_id && v.size == s.size && v.etag == s.etag
        }
        _ => false,
    }
}

impl Verified {
    /// The manifest at `key` as an earlier clean run verified it, if its key
    /// and the key of every object it names still list exactly the versions
    /// verified then. `None`: read it in full.
    pub fn manifest(
        &self,
        key: &str,
        by_key: &BTreeMap<String, Vec<VersionEntry>>,
    ) -> Option<Manifest> {
        let listed = |k: &str| by_key.get(k).map(Vec::as_slice).unwrap_or_default();
        if !unchanged(self.versions.get(key), listed(key)) {
            return None;
        }
        let m = Manifest::from_json(self.manifests.get(key)?.get().as_bytes()).ok()?;
        m.objects
            .iter()
            .all(|o| {
                unchanged(self.versions.get(&o.key), listed(&o.key))
                    && self
                        .versions
                        .get(&o.key)
                        .is_some_and(|s| s.version_id == o.version_id && s.size == o.bytes)
            })
            .then_some(m)
    }

    /// The checkpoint at `key` as an earlier clean run verified it, if the
    /// key still lists exactly that version.
    pub fn checkpoint(&self, key: &str, versions: &[VersionEntry]) -> Option<Checkpoint> {
        if !unchanged(self.versions.get(key), versions) {
            return None;
        }
        Checkpoint::from_json(self.checkpoints.get(key)?.get().as_bytes()).ok()
    }

    /// How an incremental run reads `log`: resumed at the newest checkpoint
    /// a clean run verified, reading only what is new, when every key of
    /// the log that run verified still lists exactly that version and no
    /// checkpoint has appeared at or below its size. `None`: read the log in
    /// full (and so report by their usual names whatever changed).
    /// `witnessed`: cosigned notes are checked, so the newest one is read
    /// (again, if no checkpoint is new), each with its checkpoint.
    pub fn log_plan(
        &self,
        log: LogKeys<'_>,
        by_key: &BTreeMap<String, Vec<VersionEntry>>,
        witnessed: bool,
    ) -> Option<LogPlan> {
        use archive::layout::{
            parse_tlog_checkpoint_key as size_of, tlog_checkpoint_key, tlog_cosigned_key, tlog_dir,
        };
        let LogKeys {
            prefix,
            topic,
            partition,
            keys,
        } = log;
        let from = self.logs.get(&format!("{topic}/{partition}"))?.head()?;
        let folder = tlog_dir(prefix, topic, partition);
        let listed = |k: &str| by_key.get(k).map(Vec::as_slice).unwrap_or_default();
        let old: BTreeSet<&String> = self
            .versions
            .range(folder.clone()..)
            .take_while(|(k, _)| k.starts_with(&folder))
            .map(|(k, seen)| unchanged(Some(seen), listed(k)).then_some(k))
            .collect::<Option<_>>()?;
        if !old.contains(&from.key) {
            return None;
        }
        let mut read = BTreeSet::new();
        let mut newest = from.size;
        for (key, path) in keys.iter().filter(|(k, _)| !old.contains(k)) {
            if let Some(size) = size_of("checkpoint/", path) {
                if size <= from.size {
                    return None;
                }
                newest = newest.max(size);
            }
            read.insert((*key).clone());
        }
        let mut want: Vec<String> = tlog::tile::partial_tiles_for_size(from.size)
            .iter()
            .map(|t| archive::layout::tlog_tile_key(prefix, topic, partition, &t.path()))
            .collect();
        if witnessed {
            if newest == from.size {
                want.push(tlog_cosigned_key(prefix, topic, partition, newest));
            }
            let folder_len = folder.len();
            let cosigned = read
                .iter()
                .chain(&want)
                .filter_map(|k| size_of("cosigned/", k.get(folder_len..)?))
                .collect::<Vec<_>>();
            want.extend(
                cosigned
                    .into_iter()
                    .map(|s| tlog_checkpoint_key(prefix, topic, partition, s)),
            );
        }
        read.extend(want.into_iter().filter(|k| by_key.contains_key(k)));
        Some(LogPlan { from, read })
    }

    /// Records the logs' heads a clean run verified (`"<topic>/<partition>"`
    /// → head); heads whose checkpoint the listing no longer holds are
    /// dropped, others kept.
    pub fn record_logs(
        &mut self,
        by_key: &BTreeMap<String, Vec<VersionEntry>>,
        heads: BTreeMap<String, LogMark>,
    ) {
        self.logs.retain(|_, m| by_key.contains_key(&m.checkpoint));
        self.logs.extend(heads);
    }

    /// Records what a clean run verified: `docs` are the manifests and
    /// checkpoints it read or kept (key → JSON), `keys` every key it
    /// verified (those, and the objects the manifests name). Entries of keys
    /// the listing no longer holds are dropped; others are kept, so a
    /// filtered run leaves the rest of the archive's entries alone.
    pub fn record(
        &mut self,
        by_key: &BTreeMap<String, Vec<VersionEntry>>,
        keys: &BTreeSet<String>,
        manifests: BTreeMap<String, Box<RawValue>>,
        checkpoints: BTreeMap<String, Box<RawValue>>,
    ) {
        self.versions.retain(|k, _| by_key.contains_key(k));
        self.manifests.retain(|k, _| by_key.contains_key(k));
        self.checkpoints.retain(|k, _| by_key.contains_key(k));
        for k in keys {
            // A clean run saw exactly one version of every key it verified.
            if let Some([v]) = by_key.get(k).map(Vec::as_slice) {
                self.versions.insert(k.clone(), Seen::of(v));
            }
        }
        self.manifests.extend(manifests);
        self.checkpoints.extend(checkpoints);
    }
}

/// How much of a run was read in full and how much checked by listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// A state file with verified versions was given (and `--deep` was not).
    pub incremental: bool,
    /// `--deep`: everything was read in full whatever the state holds.
    pub deep: bool,
    /// Manifests read and checked in full.
    pub manifests_full: u64,
    /// Manifests checked by listing (unchanged since a clean run).
    pub manifests_listed: u64,
    /// Objects (Parquet) read and checked in full.
    pub objects_full: u64,
    /// Objects checked by listing.
    pub objects_listed: u64,
    /// Checkpoints read in full.
    pub checkpoints_full: u64,
    /// Checkpoints checked by listing.
    pub checkpoints_listed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, id: &str, size: u64) -> VersionEntry {
        VersionEntry {
            key: key.into(),
            version_id: id.into(),
            is_latest: true,
            delete_marker: false,
            size,
            etag: Some(format!("\"{id}-{size}\"")),
        }
    }

    #[test]
    fn only_the_very_version_verified_is_unchanged() {
        let v = entry("k", "v1", 10);
        let seen = Seen::of(&v);
        assert!(unchanged(Some(&seen), std::slice::from_ref(&v)));
        assert!(!unchanged(None, std::slice::from_ref(&v)), "new key");
        assert!(!unchanged(Some(&seen), &[]), "key gone");
        let mut newer = entry("k", "v2", 10);
        let mut older = v.clone();
        older.is_latest = false;
        assert!(
            !unchanged(Some(&seen), &[newer.clone(), older.clone()]),
            "version added"
        );
        assert!(
            !unchanged(Some(&seen), std::slice::from_ref(&newer)),
            "replaced"
        );
        newer.delete_marker = true;
        assert!(!unchanged(Some(&seen), &[newer, older]), "delete marker");
        let mut resized = v.clone();
        resized.size = 11;
        assert!(!unchanged(Some(&seen), &[resized]), "same id, other size");
        let mut retagged = v;
        retagged.etag = Some("\"other\"".into());
        assert!(!unchanged(Some(&seen), &[retagged]), "same id, other ETag");
    }

    fn manifest_json(objects: &[(&str, &str, u64)]) -> String {
        let objs: Vec<String> = objects
            .iter()
            .map(|(k, v, b)| {
                format!(
                    r#"{{"table":"events","key":"{k}","version_id":"{v}","sha256":"{}","rows":1,"bytes":{b}}}"#,
                    "00".repeat(32)
                )
            })
            .collect();
        let seal = r#"{"v":1,"kind":"data","topic":"t","partition":0,"seq":0,"first_offset":0,"last_offset":0,"count":1,"prev_head":"PH","head":"HD","merkle_root":"MR","high_watermark":1,"sealed_at_ms":1,"key_id":"KI","sig":"SG"}"#
            .replace("PH", &"00".repeat(32))
            .replace("HD", &"11".repeat(32))
            .replace("MR", &"22".repeat(32))
            .replace("KI", &"33".repeat(16))
            .replace("SG", &"44".repeat(64));
        format!(
            r#"{{"v":1,"seals":[{seal}],"objects":[{}],"schema_version":1,"seq":0,"prev_manifest":null,"written_at_ms":1,"key_id":"{}","sig":"{}"}}"#,
            objs.join(","),
            "33".repeat(16),
            "44".repeat(64)
        )
    }

    fn listing(entries: &[VersionEntry]) -> BTreeMap<String, Vec<VersionEntry>> {
        let mut by_key: BTreeMap<String, Vec<VersionEntry>> = BTreeMap::new();
        for e in entries {
            by_key.entry(e.key.clone()).or_default().push(e.clone());
        }
        by_key
    }

    #[test]
    fn a_manifest_is_listed_only_while_it_and_all_its_objects_are_unchanged() {
        let json = manifest_json(&[("o1", "ov1", 100), ("o2", "ov2", 200)]);
        Manifest::from_json(json.as_bytes()).expect("the test manifest decodes");
        let before = vec![
            entry("m", "mv", json.len() as u64),
            entry("o1", "ov1", 100),
            entry("o2", "ov2", 200),
        ];
        let by_key = listing(&before);
        let mut verified = Verified::default();
        let docs = BTreeMap::from([(
            "m".to_owned(),
            RawValue::from_string(json.clone()).expect("json"),
        )]);
        let keys = ["m", "o1", "o2"].map(String::from).into();
        verified.record(&by_key, &keys, docs, BTreeMap::new());
        assert!(verified.manifest("m", &by_key).is_some());

        // One object given a new version: the manifest is read in full.
        let mut grown = before.clone();
        let mut old = entry("o2", "ov2", 200);
        old.is_latest = false;
        grown[2] = entry("o2", "ov3", 200);
        grown.push(old);
        assert!(verified.manifest("m", &listing(&grown)).is_none());
        // One object gone.
        assert!(verified.manifest("m", &listing(&before[..2])).is_none());
        // The manifest itself gone or replaced.
        assert!(verified.manifest("m", &listing(&before[1..])).is_none());
        let mut other = before.clone();
        other[0] = entry("m", "mv2", json.len() as u64);
        assert!(verified.manifest("m", &listing(&other)).is_none());
        // Growth elsewhere changes nothing.
        let mut more = before.clone();
        more.push(entry("o9", "ov9", 5));
        assert!(verified.manifest("m", &listing(&more)).is_some());
        // --deep and a fresh state: nothing is listed-only.
        assert!(Verified::default().manifest("m", &by_key).is_none());
    }

    #[test]
    fn an_object_verified_under_another_version_than_the_manifest_names_is_read_again() {
        // Defence in depth: a state that pairs the manifest with a version it
        // does not name (a hand-edited state file) never skips the object.
        let json = manifest_json(&[("o1", "ov1", 100)]);
        let by_key = listing(&[entry("m", "mv", 1), entry("o1", "other", 100)]);
        let mut verified = Verified::default();
        let docs = BTreeMap::from([("m".to_owned(), RawValue::from_string(json).expect("json"))]);
        verified.record(
            &by_key,
            &["m", "o1"].map(String::from).into(),
            docs,
            BTreeMap::new(),
        );
        assert!(verified.manifest("m", &by_key).is_none());
    }

    #[test]
    fn recording_drops_keys_that_are_gone_and_keeps_others() {
        let by_key = listing(&[entry("a", "1", 1), entry("b", "2", 2)]);
        let mut verified = Verified::default();
        verified.record(
            &by_key,
            &["a", "b"].map(String::from).into(),
            BTreeMap::new(),
            BTreeMap::new(),
        );
        let later = listing(&[entry("b", "2", 2), entry("c", "3", 3)]);
        verified.record(
            &later,
            &["c"].map(String::from).into(),
            BTreeMap::new(),
            BTreeMap::new(),
        );
        assert_eq!(
            verified.versions.keys().collect::<Vec<_>>(),
            ["b", "c"],
            "a is gone, b kept from before, c added"
        );
        // A key with two versions is never recorded (a clean run has none).
        let two = listing(&[entry("d", "1", 1), entry("d", "2", 1)]);
        verified.record(
            &two,
            &["d"].map(String::from).into(),
            BTreeMap::new(),
            BTreeMap::new(),
        );
        assert!(!verified.versions.contains_key("d"));
    }

    /// A log verified up to 305 leaves (partial tiles `tile/0/001.p/49`
    /// and `tile/1/000.p/1`), then grown to 555.
    fn log_listing(grown: bool) -> Vec<VersionEntry> {
        let mut keys = vec![
            "tlog/t/0/checkpoint/00000000000000000300",
            "tlog/t/0/checkpoint/00000000000000000305",
            "tlog/t/0/cosigned/00000000000000000305",
            "tlog/t/0/tile/0/000",
            "tlog/t/0/tile/0/001.p/44",
            "tlog/t/0/tile/0/001.p/49",
            "tlog/t/0/tile/1/000.p/1",
            "tlog/t/10/tile/0/000",
        ];
        if grown {
            keys.extend([
                "tlog/t/0/checkpoint/00000000000000000555",
                "tlog/t/0/tile/0/001",
                "tlog/t/0/tile/0/002.p/43",
                "tlog/t/0/tile/1/000.p/2",
            ]);
        }
        keys.iter().map(|k| entry(k, "v1", 8)).collect()
    }

    fn verified_log() -> Verified {
        let by_key = listing(&log_listing(false));
        let mut v = Verified::default();
        let keys = by_key.keys().cloned().collect();
        v.record(&by_key, &keys, BTreeMap::new(), BTreeMap::new());
        let head = LogHead {
            size: 305,
            root: [7; 32],
            key: "tlog/t/0/checkpoint/00000000000000000305".into(),
        };
        v.record_logs(
            &by_key,
            BTreeMap::from([("t/0".to_owned(), LogMark::of(&head))]),
        );
        v
    }

    fn plan(v: &Verified, entries: &[VersionEntry], witnessed: bool) -> Option<LogPlan> {
        let by_key = listing(entries);
        let keys: Vec<(&String, String)> = by_key
            .keys()
            .filter_map(|k| Some((k, k.strip_prefix("tlog/t/0/")?.to_owned())))
            .collect();
        let log = LogKeys {
            prefix: "",
            topic: "t",
            partition: 0,
            keys: &keys,
        };
        v.log_plan(log, &by_key, witnessed)
    }

    fn read(p: &LogPlan) -> Vec<&str> {
        p.read
            .iter()
            .map(|k| k.strip_prefix("tlog/t/0/").unwrap_or(k))
            .collect()
    }

    #[test]
    fn a_grown_log_is_resumed_reading_only_what_is_new_and_the_partial_tiles() {
        let v = verified_log();
        let back: Verified =
            serde_json::from_str(&serde_json::to_string(&v).expect("json")).expect("reads back");
        let p = plan(&back, &log_listing(true), true).expect("resumed");
        assert_eq!((p.from.size, p.from.root), (305, [7; 32]));
        assert_eq!(
            read(&p),
            [
                "checkpoint/00000000000000000555",
                "tile/0/001",
                "tile/0/001.p/49",
                "tile/0/002.p/43",
                "tile/1/000.p/1",
                "tile/1/000.p/2"
            ]
        );
        // Nothing new: the partial tiles, and with witnesses the newest
        // cosigned note with its checkpoint, read again.
        let p = plan(&v, &log_listing(false), false).expect("resumed");
        assert_eq!(read(&p), ["tile/0/001.p/49", "tile/1/000.p/1"]);
        let p = plan(&v, &log_listing(false), true).expect("resumed");
        assert_eq!(
            read(&p),
            [
                "checkpoint/00000000000000000305",
                "cosigned/00000000000000000305",
                "tile/0/001.p/49",
                "tile/1/000.p/1"
            ]
        );
    }

    #[test]
    fn a_log_with_a_changed_old_key_or_a_new_old_size_is_read_in_full() {
        let v = verified_log();
        let grown = log_listing(true);
        // An old full tile given a new version; an old checkpoint deleted
        // (a delete marker) or gone; a checkpoint added below the head.
        let mut newer = grown.clone();
        newer.push(entry("tlog/t/0/tile/0/000", "v2", 8));
        let mut marked = grown.clone();
        let mut marker = entry("tlog/t/0/checkpoint/00000000000000000300", "v2", 0);
        marker.delete_marker = true;
        marked.push(marker);
        let gone: Vec<VersionEntry> = grown
            .iter()
            .filter(|e| !e.key.ends_with("00000000000000000300"))
            .cloned()
            .collect();
        let mut below = grown.clone();
        below.push(entry("tlog/t/0/checkpoint/00000000000000000301", "v1", 8));
        for (what, entries) in [
            ("new version", newer),
            ("delete marker", marked),
            ("gone", gone),
            ("below", below),
        ] {
            assert!(plan(&v, &entries, false).is_none(), "{what}");
        }
        // A key of another log changing does not count.
        let mut other = grown;
        other.push(entry("tlog/t/10/tile/0/000", "v2", 8));
        assert!(plan(&v, &other, false).is_some());
        // No head remembered (an older state), or --deep: read in full.
        assert!(plan(&Verified::default(), &log_listing(true), false).is_none());
    }
}
