//! The IO edge of `auditlog prove`: find the record's range in S3 and build
//! its proof.

use archive::layout::{KeyKind, manifest_dir, parse_key};
use archive::store::Store;
use chain::manifest::Manifest;

use crate::VerifyError;
use crate::proof::{Proof, build};
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
    build(&m, &json, &holder.unwrap_or_default(), &rows, index)
        .ok_or_else(|| not_found(format!("{key}: cannot build a proof")))
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
