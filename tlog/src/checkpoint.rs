//! c2sp.org/tlog-checkpoint: the note text of a log's signed tree head.
//!
//! ```text
//! <origin>
//! <tree size, decimal, no leading zeroes>
//! <base64 of the 32-byte RFC 6962 root>
//! [<extension line>…]
//! ```

use crate::TlogError;
use crate::encoding::{b64, decimal, unb64_hash};
use crate::hash::Hash;
use crate::note::{Note, NoteVerifier};

/// The most bytes a checkpoint text may have.
pub const MAX_CHECKPOINT_BYTES: usize = 1_000_000;

/// A checkpoint: the log's origin, tree size and root hash, and optional
/// (opaque, non-empty) extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, e.g. `example.com/log42`.
    pub origin: String,
    /// The number of leaves.
    pub size: u64,
    /// The RFC 6962 root hash at that size.
    pub root: Hash,
    /// Extension lines, without their newlines (not recommended by the spec).
    pub extensions: Vec<String>,
}

fn malformed(reason: impl Into<String>) -> TlogError {
    TlogError::MalformedCheckpoint {
        reason: reason.into(),
    }
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: &str, size: u64, root: Hash) -> Self {
        Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// Parses a checkpoint note text (the note's text, ending in a newline).
    pub fn parse(text: &str) -> Result<Checkpoint, TlogError> {
        if text.len() > MAX_CHECKPOINT_BYTES {
            return Err(malformed(format!(
                "{} bytes, more than {MAX_CHECKPOINT_BYTES}",
                text.len()
            )));
        }
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| malformed("does not end in a newline"))?;
        if body.chars().any(|c| c < ' ' && c != '\n') {
            return Err(malformed("holds a control character"));
        }
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(malformed("fewer than three lines"));
        };
        if origin.is_empty() {
            return Err(malformed("empty origin line"));
        }
        let size = decimal(size)
            .ok_or_else(|| malformed(format!("tree size {size:?} is not a canonical decimal")))?;
        let root =
            unb64_hash(root).ok_or_else(|| malformed("root hash is not base64 of 32 bytes"))?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(malformed("empty extension line"));
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }

    /// The note text.
    pub fn to_text(&self) -> String {
        let mut s = format!("{}\n{}\n{}\n", self.origin, self.size, b64(&self.root));
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Opens a signed checkpoint: the note must verify under `log_keys`
    /// (see [`Note::verify`]) and its text must be a checkpoint.
    pub fn open(
        note: &[u8],
        log_keys: &[&dyn NoteVerifier],
    ) -> Result<(Checkpoint, Note), TlogError> {
        let note = Note::open(note, log_keys)?;
        Ok((Checkpoint::parse(note.text())?, note))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_example_round_trips() {
        let text =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let c = Checkpoint::parse(text).expect("parses");
        assert_eq!(
            (c.origin.as_str(), c.size),
            ("example.com/behind-the-sofa", 20852163)
        );
        assert_eq!(c.to_text(), text);
        let ext = format!("{text}ext one\next two\n");
        let c = Checkpoint::parse(&ext).expect("parses");
        assert_eq!(c.extensions, ["ext one", "ext two"]);
        assert_eq!(c.to_text(), ext);
    }

    #[test]
    fn malformed_checkpoints_are_refused() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        for bad in [
            format!("o\n1\n{root}"),
            "o\n1\n".to_string(),
            format!("\n1\n{root}\n"),
            format!("o\n01\n{root}\n"),
            format!("o\n-1\n{root}\n"),
            format!("o\n9223372036854775808\n{root}\n"),
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n".to_string(),
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2=\n".to_string(),
            format!("o\n1\n{root}\n\n"),
            format!("o\n1\n{root}\next\n\n"),
            format!("o\t\n1\n{root}\n"),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
        }
    }
}
