//! `--state`: what the last clean run accepted, so the next run can see the
//! tail cut off or history rewritten.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::VerifyError;
use crate::finding::{Finding, FindingKind};

/// The last accepted manifest of one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    /// Its `seq`.
    pub seq: u64,
    /// Its digest, hex.
    pub digest: String,
    /// The last offset its seal covers.
    pub last_offset: i64,
}

/// The state file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Format version, 1.
    pub v: u8,
    /// `"<topic>/<partition>"` → its last accepted manifest.
    pub partitions: BTreeMap<String, Accepted>,
}

/// What one partition holds now: every manifest's digest by `seq`.
#[derive(Debug, Clone, Default)]
pub struct Present {
    /// `seq` → digest (hex).
    pub digests: BTreeMap<u64, String>,
    /// The last manifest.
    pub last: Option<Accepted>,
}

fn io(path: &Path, e: impl std::fmt::Display) -> VerifyError {
    VerifyError::State {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

impl State {
    /// Reads the state, or an empty one if the file does not exist yet.
    pub fn load(path: &Path) -> Result<Self, VerifyError> {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| io(path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State {
                v: 1,
                partitions: BTreeMap::new(),
            }),
            Err(e) => Err(io(path, e)),
        }
    }

    /// Writes it atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), VerifyError> {
        let tmp = path.with_extension("tmp");
        let json = serde_json::to_vec_pretty(self).map_err(|e| io(path, e))?;
        std::fs::write(&tmp, json).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| io(path, e))
    }

    /// Rollback and truncation against what is present now.
    pub fn compare(&self, present: &BTreeMap<(String, i32), Present>) -> Vec<Finding> {
        let mut out = Vec::new();
        for (name, acc) in &self.partitions {
            let Some((topic, partition)) = name
                .rsplit_once('/')
                .and_then(|(t, p)| Some((t.to_owned(), p.parse::<i32>().ok()?)))
            else {
                continue;
            };
            let now = present.get(&(topic.clone(), partition));
            let last_seq = now.and_then(|p| p.last.as_ref()).map(|l| l.seq);
            if last_seq.is_none_or(|s| s < acc.seq) {
                out.push(
                    Finding::new(
                        FindingKind::TailTruncated,
                        &topic,
                        partition,
                        format!(
                            "the last clean run accepted manifests up to seq {}; the archive now ends at {}",
                            acc.seq,
                            last_seq.map_or("nothing".into(), |s| format!("seq {s}"))
                        ),
                    )
                    .offsets(now.and_then(|p| p.last.as_ref()).map_or(0, |l| l.last_offset + 1), acc.last_offset),
                );
            }
            if let Some(d) = now.and_then(|p| p.digests.get(&acc.seq)) {
                if *d != acc.digest {
                    out.push(Finding::new(
                        FindingKind::HistoryRewritten,
                        &topic,
                        partition,
                        format!(
                            "manifest seq {} has digest {d}, the last clean run accepted {}",
                            acc.seq, acc.digest
                        ),
                    ));
                }
            }
        }
        out
    }

    /// Records what a clean run accepted (partitions it did not look at keep
    /// their entries).
    pub fn accept(&mut self, present: &BTreeMap<(String, i32), Present>) {
        self.v = 1;
        for ((t, p), pr) in present {
            if let Some(last) = &pr.last {
                self.partitions.insert(format!("{t}/{p}"), last.clone());
            }
        }
    }
}
