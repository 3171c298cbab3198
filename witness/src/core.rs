//! Deciding an `add-checkpoint` request and persisting the result.
//!
//! The decision itself is `tlog::witness_decide`, a pure function of the
//! stored tree head, the request, the log's keys and the time;
//! [`refusal_answer`] maps its refusals to HTTP answers. [`Witness`] is the
//! thin stateful shell: for a configured origin it takes that log's lock,
//! reads the stored head from disk, decides, and on a decision to cosign
//! writes the new head durably *before* it returns the cosignature. The
//! lock makes the read-decide-write a compare-and-swap on the stored size;
//! the disk is the only copy of the state, so nothing in memory can go
//! stale after a failed write.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use ed25519_dalek::SigningKey;
use tlog::{AddCheckpoint, CosignatureSigner, TreeHead, WitnessRefusal, WitnessedLog};

use crate::WitnessError;
use crate::state::StateStore;
use crate::telemetry::{CheckpointCosigned, CheckpointRefused, StateWritten};

/// Content type of 200 answers and free-text errors.
pub const TEXT: &str = "text/plain; charset=utf-8";
/// Content type of a 409 answer (c2sp.org/tlog-witness).
pub const TLOG_SIZE: &str = "text/x.tlog.size";

/// An HTTP answer, before the HTTP layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
}

impl Answer {
    fn text(status: u16, body: impl Into<String>) -> Answer {
        let mut body = body.into();
        body.push('\n');
        Answer {
            status,
            content_type: TEXT,
            body,
        }
    }
}

/// The answer to a refusal: 409 carries the witness's size as
/// `text/x.tlog.size`; the others say why in plain text.
pub fn refusal_answer(refusal: &WitnessRefusal) -> Answer {
    match refusal.conflict_body() {
        Some(body) => Answer {
            status: refusal.status(),
            content_type: TLOG_SIZE,
            body,
        },
        None => Answer::text(refusal.status(), refusal.to_string()),
    }
}

/// A short, bounded name of a refusal, for metrics.
pub fn refusal_reason(refusal: &WitnessRefusal) -> &'static str {
    match refusal {
        WitnessRefusal::Malformed(_) => "malformed",
        WitnessRefusal::OldSizeAboveSize { .. } => "old_size_above_size",
        WitnessRefusal::NotSignedByLog { .. } => "not_signed_by_log",
        WitnessRefusal::UnknownLog { .. } => "unknown_log",
        WitnessRefusal::Conflict { .. } => "conflict",
        WitnessRefusal::Inconsistent { .. } => "inconsistent",
        _ => "internal",
    }
}

#[derive(Debug)]
struct Slot {
    log: WitnessedLog,
    /// Held from reading the stored head to writing the new one.
    lock: Mutex<()>,
}

/// The witness: its cosigning key, the logs it witnesses and their state.
#[derive(Debug)]
pub struct Witness {
    cosigner: CosignatureSigner,
    logs: BTreeMap<String, Slot>,
    store: StateStore,
}

impl Witness {
    /// A witness named `name` with `key`, for `logs`, keeping state in
    /// `state_dir`. Every log's state is read once, so a corrupt or
    /// unreadable state stops the start instead of a request.
    pub fn new(
        name: &str,
        key: SigningKey,
        logs: Vec<WitnessedLog>,
        state_dir: &Path,
    ) -> Result<Witness, WitnessError> {
        let cosigner = CosignatureSigner::new(name, key).map_err(WitnessError::Config)?;
        let store = StateStore::open(state_dir)?;
        let mut slots = BTreeMap::new();
        for log in logs {
            if let Some(head) = store.load(&log.origin)? {
                tracing::info!(origin = %log.origin, size = head.size, "witness state loaded");
                crate::telemetry::set_tree_size(&log.origin, head.size);
            }
            let slot = Slot {
                log,
                lock: Mutex::new(()),
            };
            slots.insert(slot.log.origin.clone(), slot);
        }
        Ok(Witness {
            cosigner,
            logs: slots,
            store,
        })
    }

    /// The witness's cosignature verifier key (type 0x04), for logs and
    /// clients to configure.
    pub fn vkey(&self) -> String {
        self.cosigner.verifier().vkey()
    }

    /// The stored state of `origin`.
    pub fn state(&self, origin: &str) -> Result<Option<TreeHead>, WitnessError> {
        self.store.load(origin)
    }

    /// Handles one `add-checkpoint` body at `now` (POSIX seconds). Blocks
    /// on the log's lock and on disk: call it off the async runtime.
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> Answer {
        let request = match AddCheckpoint::parse(body) {
            Ok(r) => r,
            Err(refusal) => return self.refuse(None, &refusal),
        };
        let origin = request.origin().to_owned();
        let Some(slot) = self.logs.get(&origin) else {
            let refusal = WitnessRefusal::UnknownLog { origin };
            return self.refuse(None, &refusal);
        };
        // The state is on disk, not in the mutex: a panic elsewhere while it
        // was held leaves nothing half-updated to protect.
        let _guard = slot.lock.lock().unwrap_or_else(|p| p.into_inner());
        let state = match self.store.load(&origin) {
            Ok(s) => s,
            Err(error) => {
                tracing::error!(%origin, %error, "witness state unreadable; not cosigning");
                return Answer::text(500, format!("witness state unreadable: {error}"));
            }
        };
        let decided = tlog::witness_decide(
            state.as_ref(),
            &request,
            Some(&slot.log),
            &self.cosigner,
            now,
        );
        let cosigned = match decided {
            Ok(c) => c,
            Err(refusal) => return self.refuse(Some(&origin), &refusal),
        };
        if state != Some(cosigned.new_state) {
            let started = Instant::now();
            if let Err(error) = self.store.store(&origin, &cosigned.new_state) {
                tracing::error!(%origin, %error, "witness state not written; not cosigning");
                return Answer::text(500, format!("witness state not written: {error}"));
            }
            StateWritten {
                seconds: started.elapsed().as_secs_f64(),
            }
            .emit();
        }
        CheckpointCosigned {
            origin: &origin,
            old_size: request.old_size,
            size: cosigned.new_state.size,
        }
        .emit();
        Answer {
            status: 200,
            content_type: TEXT,
            body: cosigned.response,
        }
    }

    fn refuse(&self, origin: Option<&str>, refusal: &WitnessRefusal) -> Answer {
        CheckpointRefused {
            origin,
            reason: refusal_reason(refusal),
            refusal,
        }
        .emit();
        refusal_answer(refusal)
    }
}
