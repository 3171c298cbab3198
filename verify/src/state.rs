//! `--state`: what the last clean run accepted, so the next run can see the
//! tail cut off or history rewritten, and (format 2) what it verified, so the
//! next run need not read it again (`crate::incremental`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::VerifyError;
use crate::finding::{Finding, FindingKind};
use crate::incremental::Verified;

/// The state format this release writes.
pub const VERSION: u8 = 2;

/// The archive a state file speaks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// The bucket.
    pub bucket: String,
    /// The key prefix (`""` or ending in `/`).
    pub prefix: String,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Format version: 2 (1 had no `archive` and no `verified`).
    pub v: u8,
    /// The archive it speaks for (absent in format 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<Location>,
    /// `"<topic>/<partition>"` → its last accepted manifest.
    pub partitions: BTreeMap<String, Accepted>,
    /// What clean runs verified in full (empty in format 1: nothing verified
    /// yet, so the next run reads everything).
    #[serde(default)]
    pub verified: Verified,
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
    /// A new state for the archive at `at`, nothing accepted or verified.
    pub fn new(at: Location) -> Self {
        State {
            v: VERSION,
            archive: Some(at),
            ..State::default()
        }
    }

    /// Reads the state for the archive at `at`, or a new one if the file
    /// does not exist yet. A state of another archive is refused; a format 1
    /// state keeps its accepted ends and has verified nothing yet.
    pub fn load(path: &Path, at: &Location) -> Result<Self, VerifyError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(State::new(at.clone()));
            }
            Err(e) => return Err(io(path, e)),
        };
        Self::parse(&bytes, at).map_err(|message| VerifyError::State {
            path: path.to_owned(),
            message,
        })
    }

    /// [`State::load`] on the file's bytes.
    pub fn parse(bytes: &[u8], at: &Location) -> Result<Self, String> {
        let mut s: State = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        match s.v {
            1 => {
                // Format 1 recorded the accepted ends only: keep them (they
                // still catch a cut tail), verify everything once.
                s.verified = Verified::default();
            }
            VERSION => {}
            v => {
                return Err(format!(
                    "state format {v} is not one this release reads (1 or {VERSION})"
                ));
            }
        }
        match &s.archive {
            Some(theirs) if theirs != at => {
                return Err(format!(
                    "it was written for {theirs}, this run verifies {at}: one state file per archive"
                ));
            }
            _ => {}
        }
        s.v = VERSION;
        s.archive = Some(at.clone());
        Ok(s)
    }

    /// Writes it atomically: a temporary file beside it, flushed to disk,
    /// renamed over it, and the directory flushed, so a crash leaves either
    /// the old state or the new one.
    pub fn save(&self, path: &Path) -> Result<(), VerifyError> {
        use std::io::Write;
        let mut name = path.file_name().unwrap_or_default().to_owned();
        name.push(".tmp");
        let tmp = path.with_file_name(name);
        let json = serde_json::to_vec_pretty(self).map_err(|e| io(path, e))?;
        let mut f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
        f.write_all(&json)
            .and_then(|()| f.sync_all())
            .map_err(|e| io(&tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| io(path, e))?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        // Flushing a directory is not possible everywhere (Windows); the
        // rename has happened either way.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
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
        self.v = VERSION;
        for ((t, p), pr) in present {
            if let Some(last) = &pr.last {
                self.partitions.insert(format!("{t}/{p}"), last.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(bucket: &str, prefix: &str) -> Location {
        Location {
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }

    #[test]
    fn a_state_of_another_archive_is_refused_naming_both() {
        let mut s = State::new(at("b1", "p1/"));
        s.partitions.insert(
            "t/0".into(),
            Accepted {
                seq: 3,
                digest: "ab".into(),
                last_offset: 9,
            },
        );
        let bytes = serde_json::to_vec(&s).expect("json");
        assert!(State::parse(&bytes, &at("b1", "p1/")).is_ok());
        for other in [at("b2", "p1/"), at("b1", "p2/")] {
            let e = State::parse(&bytes, &other).expect_err("foreign state");
            assert!(
                e.contains("s3://b1/p1/") && e.contains(&other.to_string()),
                "{e}"
            );
        }
    }

    #[test]
    fn a_format_1_state_keeps_its_ends_and_has_verified_nothing() {
        let v1 = br#"{"v":1,"partitions":{"t/0":{"seq":3,"digest":"ab","last_offset":9}}}"#;
        let s = State::parse(v1, &at("b", "")).expect("format 1 reads");
        assert_eq!(s.v, VERSION);
        assert_eq!(s.partitions.len(), 1);
        assert!(s.verified.versions.is_empty() && s.verified.manifests.is_empty());
        assert_eq!(
            s.archive,
            Some(at("b", "")),
            "bound to the archive from now on"
        );
        let e = State::parse(br#"{"v":9,"partitions":{}}"#, &at("b", "")).expect_err("v9");
        assert!(e.contains("state format 9"), "{e}");
    }

    #[test]
    fn saving_replaces_the_file_whole_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("verify-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("state.json");
        let s = State::new(at("b", "p/"));
        s.save(&path).expect("save");
        s.save(&path).expect("save again");
        let back = State::load(&path, &at("b", "p/")).expect("load");
        assert_eq!(back.archive, Some(at("b", "p/")));
        let names: Vec<_> = std::fs::read_dir(&dir)
            .expect("list")
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        assert_eq!(names, ["state.json"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
