//! Object keys: a pure function of (topic, partition, first offset) and the
//! first record's timestamp, which is itself fixed by the first offset.
//!
//! ```text
//! <prefix>events/topic=<topic>/dt=<YYYY-MM-DD>/hour=<HH>/partition=<PPPP>/<first offset, 20 digits>.parquet
//! <prefix>dead_letters/topic=<topic>/dt=<YYYY-MM-DD>/hour=<HH>/partition=<PPPP>/<first offset, 20 digits>.parquet
//! <prefix>manifests/topic=<topic>/partition=<PPPP>/<first offset, 20 digits>.json
//! <prefix>checkpoints/<seq, 20 digits>.json
//! <prefix>tlog/<topic>/<partition>/tile/<L>/<N>[.p/<W>]        (a tile, c2sp.org/tlog-tiles)
//! <prefix>tlog/<topic>/<partition>/checkpoint/<size, 20 digits> (a signed tlog checkpoint)
//! <prefix>tlog/<topic>/<partition>/cosigned/<size, 20 digits>   (that checkpoint with witness cosignatures)
//! ```
//!
//! `dt` and `hour` are the UTC date and hour of the first record's Kafka
//! timestamp (1970-01-01, hour 00, if it has none). Zero-padding makes
//! lexicographic order offset order.

use time::OffsetDateTime;

/// The Hive-style `dt=…/hour=…` of a millisecond timestamp.
fn date_hour(timestamp_ms: Option<i64>) -> (String, u8) {
    let t = timestamp_ms
        .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    (
        format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()),
        t.hour(),
    )
}

fn table_key(
    prefix: &str,
    table: &str,
    topic: &str,
    partition: i32,
    first_offset: i64,
    first_ts: Option<i64>,
) -> String {
    let (dt, hour) = date_hour(first_ts);
    format!(
        "{prefix}{table}/topic={topic}/dt={dt}/hour={hour:02}/partition={partition:04}/{first_offset:020}.parquet"
    )
}

/// The key of the events object of a range.
pub fn events_key(
    prefix: &str,
    topic: &str,
    partition: i32,
    first_offset: i64,
    first_ts: Option<i64>,
) -> String {
    table_key(prefix, "events", topic, partition, first_offset, first_ts)
}

/// The key of the dead-letter object of a range.
pub fn dead_letters_key(
    prefix: &str,
    topic: &str,
    partition: i32,
    first_offset: i64,
    first_ts: Option<i64>,
) -> String {
    table_key(
        prefix,
        "dead_letters",
        topic,
        partition,
        first_offset,
        first_ts,
    )
}

/// The folder of a partition's manifests, ending in `/`.
pub fn manifest_dir(prefix: &str, topic: &str, partition: i32) -> String {
    format!("{prefix}manifests/topic={topic}/partition={partition:04}/")
}

/// The key of the manifest of a range.
pub fn manifest_key(prefix: &str, topic: &str, partition: i32, first_offset: i64) -> String {
    format!(
        "{}{first_offset:020}.json",
        manifest_dir(prefix, topic, partition)
    )
}

/// The key of checkpoint `seq` (`docs/FORMAT.md` §7a).
pub fn checkpoint_key(prefix: &str, seq: u64) -> String {
    format!("{prefix}checkpoints/{seq:020}.json")
}

/// The folder of the transparency log of (topic, partition), ending in `/`
/// (`docs/FORMAT.md` §11.11). The partition is plain decimal, as in the
/// log's origin line.
pub fn tlog_dir(prefix: &str, topic: &str, partition: i32) -> String {
    format!("{prefix}tlog/{topic}/{partition}/")
}

/// The key of a tile of that log, from its c2sp.org/tlog-tiles path
/// (`tile/<L>/<N>[.p/<W>]`, as `tlog::Tile::path` writes it).
pub fn tlog_tile_key(prefix: &str, topic: &str, partition: i32, tile_path: &str) -> String {
    format!("{}{tile_path}", tlog_dir(prefix, topic, partition))
}

/// The folder of that log's checkpoints, ending in `/`.
pub fn tlog_checkpoint_dir(prefix: &str, topic: &str, partition: i32) -> String {
    format!("{}checkpoint/", tlog_dir(prefix, topic, partition))
}

/// The key of that log's checkpoint at tree size `size`: zero-padded, so
/// the newest sorts last in a listing.
pub fn tlog_checkpoint_key(prefix: &str, topic: &str, partition: i32, size: u64) -> String {
    format!(
        "{}{size:020}",
        tlog_checkpoint_dir(prefix, topic, partition)
    )
}

/// The key of that log's checkpoint at `size` with a quorum of witness
/// cosignatures (docs/FORMAT.md §11.12).
pub fn tlog_cosigned_key(prefix: &str, topic: &str, partition: i32, size: u64) -> String {
    format!("{}cosigned/{size:020}", tlog_dir(prefix, topic, partition))
}

/// The tree size a checkpoint key names (the inverse of
/// [`tlog_checkpoint_key`] under `dir`), `None` for any other key.
pub fn parse_tlog_checkpoint_key(dir: &str, key: &str) -> Option<u64> {
    let digits = key.strip_prefix(dir)?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// What a key under the prefix names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind {
    /// A manifest.
    Manifest {
        /// Its topic.
        topic: String,
        /// Its partition.
        partition: i32,
        /// The first offset of its range.
        first_offset: i64,
    },
    /// A checkpoint.
    Checkpoint {
        /// The seq its key names.
        seq: u64,
    },
    /// A Parquet object of the events or dead-letter table.
    Object,
    /// An object of a partition's transparency log (§11.11): a tile or a
    /// checkpoint, by its path inside the log's folder.
    Tlog {
        /// Its topic.
        topic: String,
        /// Its partition.
        partition: i32,
        /// `tile/<L>/<N>[.p/<W>]` or `checkpoint/<size, 20 digits>`.
        path: String,
    },
    /// Anything else.
    Other,
}

/// Classifies `key` (which starts with `prefix`).
pub fn parse_key(prefix: &str, key: &str) -> KeyKind {
    let Some(rest) = key.strip_prefix(prefix) else {
        return KeyKind::Other;
    };
    if let Some(m) = rest.strip_prefix("manifests/topic=") {
        let parts: Vec<&str> = m.split('/').collect();
        if let [topic, partition, file] = parts.as_slice() {
            let partition = partition
                .strip_prefix("partition=")
                .and_then(|p| p.parse().ok());
            let first = file.strip_suffix(".json").and_then(|f| f.parse().ok());
            if let (Some(partition), Some(first_offset)) = (partition, first) {
                return KeyKind::Manifest {
                    topic: (*topic).to_owned(),
                    partition,
                    first_offset,
                };
            }
        }
        return KeyKind::Other;
    }
    if let Some(seq) = rest
        .strip_prefix("checkpoints/")
        .and_then(|f| f.strip_suffix(".json"))
        .filter(|f| f.len() == 20 && f.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|f| f.parse().ok())
    {
        return KeyKind::Checkpoint { seq };
    }
    if let Some(t) = rest.strip_prefix("tlog/") {
        // Kafka topic names hold no `/`; the partition is plain decimal.
        let mut parts = t.splitn(3, '/');
        let (topic, digits, path) = (parts.next(), parts.next(), parts.next());
        if let (Some(topic), Some(digits), Some(path)) = (topic, digits, path) {
            let partition = digits.parse::<i32>().ok().filter(|p| {
                *p >= 0 && p.to_string() == digits && !topic.is_empty() && !path.is_empty()
            });
            if let Some(partition) = partition {
                return KeyKind::Tlog {
                    topic: topic.to_owned(),
                    partition,
                    path: path.to_owned(),
                };
            }
        }
        return KeyKind::Other;
    }
    if (rest.starts_with("events/") || rest.starts_with("dead_letters/"))
        && rest.ends_with(".parquet")
    {
        return KeyKind::Object;
    }
    KeyKind::Other
}

/// The (topic, partition) a key under the prefix belongs to: a manifest's
/// or log object's, or a Parquet object's from its `topic=` and
/// `partition=` folders; `None` for a checkpoint and anything else.
pub fn owner(prefix: &str, key: &str) -> Option<(String, i32)> {
    match parse_key(prefix, key) {
        KeyKind::Manifest {
            topic, partition, ..
        }
        | KeyKind::Tlog {
            topic, partition, ..
        } => Some((topic, partition)),
        KeyKind::Object | KeyKind::Other => {
            let rest = key.strip_prefix(prefix)?;
            let mut parts = rest.split('/');
            let table = parts.next()?;
            if table != "events" && table != "dead_letters" {
                return None;
            }
            let (mut topic, mut partition) = (None, None);
            for p in parts {
                if let Some(t) = p.strip_prefix("topic=") {
                    topic = Some(t.to_owned());
                } else if let Some(n) = p.strip_prefix("partition=") {
                    partition = n.parse().ok();
                }
            }
            Some((topic?, partition?))
        }
        KeyKind::Checkpoint { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlog_keys_sit_under_the_prefix_and_checkpoints_sort_by_size() {
        assert_eq!(tlog_dir("a/", "audit.events", 3), "a/tlog/audit.events/3/");
        assert_eq!(
            tlog_tile_key("a/", "t", 0, "tile/0/x001/002.p/7"),
            "a/tlog/t/0/tile/0/x001/002.p/7"
        );
        assert_eq!(
            tlog_cosigned_key("a/", "t", 1, 77),
            "a/tlog/t/1/cosigned/00000000000000000077"
        );
        let k = tlog_checkpoint_key("", "t", 12, 4096);
        assert_eq!(k, "tlog/t/12/checkpoint/00000000000000004096");
        let dir = tlog_checkpoint_dir("", "t", 12);
        assert_eq!(parse_tlog_checkpoint_key(&dir, &k), Some(4096));
        assert!(tlog_checkpoint_key("", "t", 0, 999) < tlog_checkpoint_key("", "t", 0, 1000));
        for bad in [
            "tlog/t/12/checkpoint/4096",
            "tlog/t/12/checkpoint/0000000000000000409x",
        ] {
            assert_eq!(parse_tlog_checkpoint_key(&dir, bad), None, "{bad}");
        }
        assert_eq!(
            parse_key("", &k),
            KeyKind::Tlog {
                topic: "t".into(),
                partition: 12,
                path: "checkpoint/00000000000000004096".into()
            }
        );
        assert_eq!(
            parse_key("a/", "a/tlog/audit.events/3/tile/0/x001/002.p/7"),
            KeyKind::Tlog {
                topic: "audit.events".into(),
                partition: 3,
                path: "tile/0/x001/002.p/7".into()
            }
        );
        for other in [
            "tlog/t/012/tile/0/000",
            "tlog/t/-1/tile/0/000",
            "tlog/t/1",
            "tlog/t/1/",
        ] {
            assert_eq!(parse_key("", other), KeyKind::Other, "{other}");
        }
    }

    #[test]
    fn every_key_of_a_partition_names_its_owner() {
        let t = || Some(("t".to_owned(), 3));
        assert_eq!(owner("p/", &manifest_key("p/", "t", 3, 40)), t());
        assert_eq!(owner("p/", &tlog_checkpoint_key("p/", "t", 3, 9)), t());
        let obj = "p/events/topic=t/dt=2026-11-26/hour=00/partition=0003/x.parquet";
        assert_eq!(owner("p/", obj), t());
        assert_eq!(
            owner("p/", "p/dead_letters/topic=t/partition=0003/anything"),
            t()
        );
        for none in [
            "p/checkpoints/00000000000000000001.json",
            "p/stray.bin",
            "p/events/x.parquet",
            "q/events/topic=t/partition=0003/x",
        ] {
            assert_eq!(owner("p/", none), None, "{none}");
        }
    }

    #[test]
    fn keys_parse_back() {
        assert_eq!(
            parse_key("p/", &manifest_key("p/", "a.b", 3, 42)),
            KeyKind::Manifest {
                topic: "a.b".into(),
                partition: 3,
                first_offset: 42
            }
        );
        assert_eq!(
            parse_key("p/", &events_key("p/", "t", 0, 9, None)),
            KeyKind::Object
        );
        assert_eq!(
            parse_key("p/", &dead_letters_key("p/", "t", 0, 9, None)),
            KeyKind::Object
        );
        assert_eq!(
            parse_key("p/", "p/manifests/topic=t/x.json"),
            KeyKind::Other
        );
        assert_eq!(
            parse_key("p/", &checkpoint_key("p/", 42)),
            KeyKind::Checkpoint { seq: 42 }
        );
        assert_eq!(
            checkpoint_key("", 42),
            "checkpoints/00000000000000000042.json"
        );
        assert_eq!(parse_key("p/", "p/checkpoints/42.json"), KeyKind::Other);
        assert_eq!(parse_key("p/", "p/notes.txt"), KeyKind::Other);
        assert_eq!(parse_key("p/", "q/events/a.parquet"), KeyKind::Other);
    }

    #[test]
    fn keys_are_hive_style_zero_padded_and_utc() {
        // 2026-11-26T23:59:59.999Z
        let ts = Some(1_795_737_599_999);
        assert_eq!(
            events_key("", "audit.events", 3, 42, ts),
            "events/topic=audit.events/dt=2026-11-26/hour=23/partition=0003/00000000000000000042.parquet"
        );
        assert_eq!(
            dead_letters_key("p/", "t", 12, 7, None),
            "p/dead_letters/topic=t/dt=1970-01-01/hour=00/partition=0012/00000000000000000007.parquet"
        );
        assert_eq!(
            manifest_key("", "t", 1, 9),
            "manifests/topic=t/partition=0001/00000000000000000009.json"
        );
    }

    #[test]
    fn lexicographic_order_is_offset_order() {
        let a = events_key("", "t", 0, 9, Some(0));
        let b = events_key("", "t", 0, 10, Some(0));
        assert!(a < b);
    }
}
