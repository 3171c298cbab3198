//! The witness's durable record of each log: the size and root hash of the
//! latest checkpoint it cosigned. One small text file per log in the state
//! directory, named after the SHA-256 of the origin (origins are free text):
//!
//! ```text
//! auditlog-witness-state-v1
//! <origin>
//! <size, decimal>
//! <root hash, base64>
//! ```
//!
//! [`StateStore::store`] replaces a file atomically: the new text goes to a
//! temporary file that is fsynced, renamed over the old one, and then the
//! directory is fsynced, so after a crash the file holds either the old or
//! the new state, never a mix, and a state reported written survives. A
//! missing file means the witness never cosigned for that log (size 0); a
//! file that exists but does not decode is an error, never taken for
//! "none".

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use tlog::TreeHead;

use crate::WitnessError;

/// The first line of a state file.
pub const HEADER: &str = "auditlog-witness-state-v1";

/// The text of the state file of `origin` holding `head`.
pub fn encode(origin: &str, head: &TreeHead) -> String {
    format!(
        "{HEADER}\n{origin}\n{}\n{}\n",
        head.size,
        STANDARD.encode(head.root)
    )
}

/// Reads the state of `origin` back from its file's text; the reason when it
/// is not one.
pub fn decode(origin: &str, text: &str) -> Result<TreeHead, String> {
    let body = text.strip_suffix('\n').ok_or("does not end in a newline")?;
    let lines: Vec<&str> = body.split('\n').collect();
    let [header, o, size, root] = lines.as_slice() else {
        return Err(format!("{} lines, not 4", lines.len()));
    };
    if *header != HEADER {
        return Err(format!("first line is not {HEADER}"));
    }
    if *o != origin {
        return Err(format!("holds the state of {o:?}, not {origin:?}"));
    }
    let canonical = !size.is_empty()
        && size.bytes().all(|b| b.is_ascii_digit())
        && (*size == "0" || !size.starts_with('0'));
    let size: u64 = size
        .parse()
        .ok()
        .filter(|s| canonical && i64::try_from(*s).is_ok())
        .ok_or_else(|| format!("size {size:?} is not a canonical decimal"))?;
    let root: [u8; 32] = STANDARD
        .decode(root)
        .ok()
        .and_then(|r| r.try_into().ok())
        .ok_or("root is not base64 of 32 bytes")?;
    Ok(TreeHead { size, root })
}

/// The file name of `origin`'s state.
pub fn file_name(origin: &str) -> String {
    let digest = Sha256::digest(origin.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}.state")
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> WitnessError + '_ {
    move |source| WitnessError::StateIo {
        path: path.to_owned(),
        source,
    }
}

impl StateStore {
    /// Opens `dir`, creating it (and making its entry durable) if needed.
    pub fn open(dir: &Path) -> Result<StateStore, WitnessError> {
        if !dir.is_dir() {
            fs::create_dir_all(dir).map_err(io_error(dir))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
        Ok(StateStore {
            dir: dir.to_owned(),
        })
    }

    /// The file of `origin`'s state.
    pub fn path(&self, origin: &str) -> PathBuf {
        self.dir.join(file_name(origin))
    }

    /// The state of `origin`; `None` if the witness never cosigned for it.
    pub fn load(&self, origin: &str) -> Result<Option<TreeHead>, WitnessError> {
        let path = self.path(origin);
        match fs::read_to_string(&path) {
            Ok(text) => decode(origin, &text)
                .map(Some)
                .map_err(|reason| WitnessError::StateCorrupt { path, reason }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&path)(e)),
        }
    }

    /// Replaces `origin`'s state with `head`, atomically and durably.
    pub fn store(&self, origin: &str, head: &TreeHead) -> Result<(), WitnessError> {
        let path = self.path(origin);
        let tmp = path.with_extension("tmp");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io_error(&tmp))?;
        f.write_all(encode(origin, head).as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io_error(&tmp))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(io_error(&path))?;
        sync_dir(&self.dir)
    }
}

/// Makes a directory's entries (a rename into it) durable.
fn sync_dir(dir: &Path) -> Result<(), WitnessError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn states_round_trip(origin in "[^\n]{1,40}", size in 0u64..(1 << 63), root in any::<[u8; 32]>()) {
            let head = TreeHead { size, root };
            prop_assert_eq!(decode(&origin, &encode(&origin, &head)), Ok(head));
        }

        #[test]
        fn any_change_to_a_state_file_is_refused_or_read_as_written(
            size in 0u64..1000, root in any::<[u8; 32]>(), at in 0usize..200, byte in any::<u8>()
        ) {
            let head = TreeHead { size, root };
            let mut text = encode("o", &head).into_bytes();
            let at = at % text.len();
            prop_assume!(text[at] != byte);
            text[at] = byte;
            if let Ok(text) = String::from_utf8(text) {
                prop_assert!(decode("o", &text) != Ok(head));
            }
        }
    }

    #[test]
    fn a_state_names_its_origin_and_refuses_non_canonical_sizes() {
        let head = TreeHead {
            size: 7,
            root: [1; 32],
        };
        let text = encode("a", &head);
        assert!(decode("b", &text).is_err());
        assert!(decode("a", &text.replace("\n7\n", "\n07\n")).is_err());
        assert!(decode("a", text.trim_end()).is_err());
        assert_ne!(file_name("a"), file_name("b"));
    }
}
