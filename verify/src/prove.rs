//! The IO edge of `auditlog prove`: find the record's range in S3 and build
//! its proof.

use archive::layout::{
    KeyKind, manifest_dir, parse_key, parse_tlog_checkpoint_key, tlog_checkpoint_dir, tlog_dir,
    tlog_tile_key,
};
use archive::store::Store;
use chain::manifest::Manifest;
use tlog::{Tile, TileSource, TlogError};

use crate::VerifyError;
use crate::logproof::{self, LogInclusion};
use crate::proof::{Proof, build, record_digest_of};
use crate::rows::{find_event, read_rows};

/// What to prove.
#[derive(Debug, Clone)]
pub enum Target {
    /// The event with this `event_id`.
    EventId(String),
    /// The record at this position.
    Offset {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
    },
}

fn not_found(message: String) -> VerifyError {
    VerifyError::NotFound(message)
}

async fn current(store: &Store, key: &str) -> Result<Vec<u8>, VerifyError> {
    store
        .get(key)
        .await
        .map_err(VerifyError::Store)?
        .ok_or_else(|| not_found(format!("{key} is gone")))
}

/// Finds the record and builds its proof from the archive under `prefix`.
pub async fn prove(store: &Store, prefix: &str, target: &Target) -> Result<Proof, VerifyError> {
    let (topic, partition, offset) = match target {
        Target::Offset {
            topic,
            partition,
            offset,
        } => (topic.clone(), *partition, *offset),
        Target::EventId(id) => find(store, prefix, id).await?,
    };
    let dir = manifest_dir(prefix, &topic, partition);
    let listing = store
        .list_versions(&dir)
        .await
        .map_err(VerifyError::Store)?;
    let key = listing
        .iter()
        .filter(|v| v.is_latest && !v.delete_marker)
        .filter_map(|v| match parse_key(prefix, &v.key) {
            KeyKind::Manifest { first_offset, .. } if first_offset <= offset => {
                Some((first_offset, v.key.clone()))
            }
            _ => None,
        })
        .max()
        .map(|(_, k)| k)
        .ok_or_else(|| not_found(format!("no manifest under {dir} covers offset {offset}")))?;
    let json = current(store, &key).await?;
    let m = Manifest::from_json(&json).map_err(|e| not_found(format!("{key}: {e}")))?;
    if offset > m.seals.last_offset() {
        return Err(not_found(format!(
            "{topic}/{partition} offset {offset} is not archived (the last range before it ends at {})",
            m.seals.last_offset()
        )));
    }
    let mut rows = Vec::new();
    let mut holder = None;
    for o in &m.objects {
        let body = store
            .get_version(&o.key, &o.version_id)
            .await
            .map_err(VerifyError::Store)?
            .ok_or_else(|| not_found(format!("{} version {} is gone", o.key, o.version_id)))?;
        let rs = read_rows(body).map_err(|e| not_found(format!("{}: {e}", o.key)))?;
        if rs.iter().any(|r| r.offset == offset) {
            holder = Some(o.key.clone());
        }
        rows.extend(rs);
    }
    rows.sort_by_key(|r| r.offset);
    let index = rows
        .iter()
        .position(|r| r.offset == offset)
        .ok_or_else(|| {
            not_found(format!(
                "{topic}/{partition} offset {offset} is not in its range's objects"
            ))
        })?;
    let mut proof = build(&m, &json, &holder.unwrap_or_default(), &rows, index)
        .ok_or_else(|| not_found(format!("{key}: cannot build a proof")))?;
    // The record's leaf: the records of the ranges before (the size of the
    // log checkpoint where the previous range ends), then its place among
    // its range's records.
    let mut ranges: Vec<(i64, &String)> = listing
        .iter()
        .filter(|v| v.is_latest && !v.delete_marker)
        .filter_map(|v| match parse_key(prefix, &v.key) {
            KeyKind::Manifest { first_offset, .. } => Some((first_offset, &v.key)),
            _ => None,
        })
        .collect();
    ranges.sort();
    let rank = ranges.iter().position(|(_, k)| **k == key).unwrap_or(0);
    let mut offsets: Vec<i64> = rows.iter().map(|r| r.offset).collect();
    offsets.dedup();
    let within = offsets.iter().take_while(|o| **o < offset).count() as u64;
    proof.log = log_inclusion(store, prefix, &topic, partition, rank, within, &proof).await?;
    Ok(proof)
}

/// The record's inclusion against the newest cosigned checkpoint of its
/// log, `None` if the archive has no log or no cosigned checkpoint that
/// covers it.
async fn log_inclusion(
    store: &Store,
    prefix: &str,
    topic: &str,
    partition: i32,
    rank: usize,
    within: u64,
    proof: &Proof,
) -> Result<Option<LogInclusion>, VerifyError> {
    let sizes = |dir: String| async move {
        let keys = store
            .list_keys(&dir, None)
            .await
            .map_err(VerifyError::Store)?;
        let mut s: Vec<u64> = keys
            .iter()
            .filter_map(|k| parse_tlog_checkpoint_key(&dir, k))
            .collect();
        s.sort_unstable();
        Ok::<_, VerifyError>(s)
    };
    let checkpoints = sizes(tlog_checkpoint_dir(prefix, topic, partition)).await?;
    let dir = format!("{}cosigned/", tlog_dir(prefix, topic, partition));
    let cosigned = sizes(dir.clone()).await?;
    let start = match rank {
        0 => 0,
        r => match checkpoints.get(r - 1) {
            Some(s) => *s,
            None => return Ok(None),
        },
    };
    let index = start + within;
    let Some(size) = cosigned.last().copied().filter(|s| *s > index) else {
        return Ok(None);
    };
    let note = current(store, &format!("{dir}{size:020}")).await?;
    let mut tiles = Fetched::default();
    let inc = loop {
        match logproof::build(index, &note, &tiles) {
            Ok(inc) => break inc,
            Err(e) if tiles.missing.borrow().is_empty() => {
                return Err(not_found(format!(
                    "{topic}/{partition}: inclusion proof at size {size}: {e}"
                )));
            }
            Err(_) => {
                let wanted: Vec<Tile> = tiles.missing.take();
                for t in wanted {
                    let key = tlog_tile_key(prefix, topic, partition, &t.path());
                    let bytes = current(store, &key).await?;
                    tiles.have.insert(t, bytes);
                }
            }
        }
    };
    // The leaf found must be this record's.
    let d = record_digest_of(proof).unwrap_or_default();
    if !logproof::leads_to_root(&inc, &d) {
        return Err(not_found(format!(
            "{topic}/{partition}: leaf {index} of the log at size {size} is not this record (run auditlog verify)"
        )));
    }
    Ok(Some(inc))
}

/// Tiles fetched so far; the ones a build asked for and did not find.
#[derive(Default)]
struct Fetched {
    have: std::collections::BTreeMap<Tile, Vec<u8>>,
    missing: std::cell::RefCell<Vec<Tile>>,
}

impl TileSource for Fetched {
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, TlogError> {
        let absent: Vec<Tile> = tiles
            .iter()
            .filter(|t| !self.have.contains_key(t))
            .copied()
            .collect();
        if !absent.is_empty() {
            self.missing.borrow_mut().extend(absent);
            return Err(TlogError::Source {
                message: "tiles not fetched yet".into(),
            });
        }
        Ok(tiles
            .iter()
            .filter_map(|t| self.have.get(t).cloned())
            .collect())
    }
}

async fn find(store: &Store, prefix: &str, id: &str) -> Result<(String, i32, i64), VerifyError> {
    let listing = store
        .list_versions(&format!("{prefix}events/"))
        .await
        .map_err(VerifyError::Store)?;
    for v in listing.iter().filter(|v| v.is_latest && !v.delete_marker) {
        let body = current(store, &v.key).await?;
        if let Ok(Some(offset)) = find_event(body, id) {
            let field = |name: &str| {
                v.key
                    .split('/')
                    .find_map(|seg| seg.strip_prefix(name))
                    .map(str::to_owned)
            };
            let topic = field("topic=").unwrap_or_default();
            let partition = field("partition=")
                .and_then(|p| p.parse().ok())
                .unwrap_or(-1);
            return Ok((topic, partition, offset));
        }
    }
    Err(not_found(format!("no archived event has event_id {id}")))
}
