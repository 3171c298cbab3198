//! The collector thread: takes the checkpoints the uploader stores, asks
//! the witnesses to cosign the newest of each log, and stores the
//! cosigned checkpoint once a quorum has answered (`super` is the pure
//! part). It never blocks the uploader: the uploader only sends on an
//! unbounded channel, and a witness that is down is retried with a
//! backoff while the lag grows.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use archive::StoreError;
use archive::layout::{tlog_checkpoint_key, tlog_cosigned_key, tlog_tile_key};
use archive::store::Store;
use auditlog_config::Cosigning;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tlog::{NoteVerifier, Tile, TileHashReader, TileSource, TlogError};
use tokio::runtime::Handle;

use super::http::WitnessClient;
use super::{LogCosign, Outcome};
use crate::telemetry;
use crate::translog::CHECKPOINT_CONTENT_TYPE;

/// What the uploader tells the collector.
#[derive(Debug)]
pub enum Input {
    /// A partition was (re)assigned with `size` records logged: its
    /// checkpoint at that size is read from the bucket and cosigned if no
    /// newer one arrives first.
    Resumed {
        /// Topic and partition.
        at: (String, i32),
        /// Its log's size.
        size: u64,
    },
    /// A checkpoint was stored.
    Stored {
        /// Topic and partition.
        at: (String, i32),
        /// Its size.
        size: u64,
        /// The log-signed note.
        note: Vec<u8>,
        /// Its Object Lock retain-until (the cosigned copy gets the same).
        retain_until_secs: i64,
    },
}

/// Requests in flight at once.
const CONCURRENCY: usize = 8;
/// Rounds of 409 follow-ups in one pass.
const FOLLOW_UPS: usize = 3;
/// How long to wait between passes with nothing new.
const IDLE: Duration = Duration::from_millis(500);
/// A failing witness is retried after 1 s, doubling up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A failing witness is logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(30);

struct Log {
    c: LogCosign,
    retain_until_secs: i64,
}

#[derive(Default)]
struct Health {
    retry_at: Option<Instant>,
    backoff: Duration,
    warned_at: Option<Instant>,
}

/// The collector of one archiver member.
pub struct Collector {
    prefix: String,
    store: Store,
    rt: Handle,
    cosigning: Cosigning,
    client: WitnessClient,
    logs: BTreeMap<(String, i32), Log>,
    health: Vec<Health>,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("witnesses", &self.cosigning.witnesses.len())
            .field("quorum", &self.cosigning.quorum)
            .finish_non_exhaustive()
    }
}

impl Collector {
    /// A collector for the logs under `prefix`.
    pub fn new(
        prefix: &str,
        store: Store,
        rt: Handle,
        cosigning: Cosigning,
    ) -> Result<Self, std::io::Error> {
        let n = cosigning.witnesses.len();
        Ok(Collector {
            prefix: prefix.to_owned(),
            store,
            rt,
            cosigning,
            client: WitnessClient::new()?,
            logs: BTreeMap::new(),
            health: (0..n).map(|_| Health::default()).collect(),
        })
    }

    /// The collector of a member whose logs are written (`cosigning` is
    /// `Some`) with witnesses configured; `None` otherwise.
    pub fn if_configured(
        prefix: &str,
        store: &Store,
        rt: &Handle,
        cosigning: Option<&Cosigning>,
    ) -> Result<Option<Self>, crate::ArchiverError> {
        match cosigning {
            Some(c) if !c.witnesses.is_empty() => {
                Self::new(prefix, store.clone(), rt.clone(), c.clone())
                    .map(Some)
                    .map_err(crate::ArchiverError::WitnessClient)
            }
            _ => Ok(None),
        }
    }

    /// Runs until the uploader drops its sender (then one last pass) or
    /// `stop` is set.
    pub fn run(mut self, input: &Receiver<Input>, stop: &AtomicBool) {
        loop {
            let closed = match input.recv_timeout(IDLE) {
                Ok(i) => {
                    self.take(i);
                    false
                }
                Err(RecvTimeoutError::Timeout) => false,
                Err(RecvTimeoutError::Disconnected) => true,
            };
            while let Ok(i) = input.try_recv() {
                self.take(i);
            }
            self.pass();
            if closed || stop.load(Ordering::Relaxed) {
                return;
            }
        }
    }

    fn take(&mut self, input: Input) {
        let n = self.cosigning.witnesses.len();
        match input {
            Input::Stored {
                at,
                size,
                note,
                retain_until_secs,
            } => {
                let log = self.logs.entry(at).or_insert_with(|| Log {
                    c: LogCosign::new(n),
                    retain_until_secs,
                });
                if size > log.c.size() {
                    log.retain_until_secs = retain_until_secs;
                    log.c.offer(size, &note);
                }
            }
            Input::Resumed { at, size } => {
                if size == 0 || self.logs.get(&at).is_some_and(|l| l.c.size() >= size) {
                    return;
                }
                let key = tlog_checkpoint_key(&self.prefix, &at.0, at.1, size);
                match self.rt.block_on(self.store.get_locked(&key)) {
                    Ok(Some((note, lock))) => {
                        let log = self.logs.entry(at).or_insert_with(|| Log {
                            c: LogCosign::new(n),
                            retain_until_secs: 0,
                        });
                        log.retain_until_secs = lock.retain_until_secs.unwrap_or(0);
                        log.c.offer(size, &note);
                    }
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(key, %error, "cannot read the checkpoint to cosign")
                    }
                }
            }
        }
    }

    /// Whether witness `i` may be asked now.
    fn ready(&self, i: usize, now: Instant) -> bool {
        self.health[i].retry_at.is_none_or(|t| t <= now)
    }

    /// One pass: ask, follow 409s, store what reached the quorum.
    fn pass(&mut self) {
        for _ in 0..FOLLOW_UPS {
            let now = Instant::now();
            let mut requests = Vec::new();
            for (at, log) in &self.logs {
                let mut proofs: BTreeMap<u64, Option<Vec<u8>>> = BTreeMap::new();
                for (i, old) in log.c.wanted() {
                    if !self.ready(i, now) {
                        continue;
                    }
                    let body = proofs
                        .entry(old)
                        .or_insert_with(|| self.request(at, &log.c, old))
                        .clone();
                    if let Some(body) = body {
                        requests.push((at.clone(), i, body));
                    }
                }
            }
            if requests.is_empty() {
                break;
            }
            let answers = self.send_all(requests);
            let mut retry = false;
            for (at, i, answer) in answers {
                retry |= self.apply(&at, i, answer);
            }
            if !retry {
                break;
            }
        }
        self.store_cosigned();
        for (i, w) in self.cosigning.witnesses.iter().enumerate() {
            let lag = self.logs.values().map(|l| l.c.lag(i)).sum();
            telemetry::witness_lag(w.key.name(), lag);
        }
    }

    /// The request body for `old`, with a proof read from the log's tiles;
    /// `None` (logged) when the tiles cannot be read.
    fn request(&self, at: &(String, i32), c: &LogCosign, old: u64) -> Option<Vec<u8>> {
        let source = BucketTiles {
            collector: self,
            at,
        };
        let reader = TileHashReader::new(c.size(), &source);
        match tlog::proof::prove_consistency(old, c.size(), &reader) {
            Ok(proof) => c.request(old, proof),
            Err(error) => {
                tracing::warn!(topic = at.0, partition = at.1, old, size = c.size(), %error,
                    "cannot build the consistency proof for the witnesses");
                None
            }
        }
    }

    fn send_all(
        &self,
        requests: Vec<((String, i32), usize, Vec<u8>)>,
    ) -> Vec<((String, i32), usize, super::Answer)> {
        let witnesses = &self.cosigning.witnesses;
        let client = &self.client;
        self.rt.block_on(
            futures::stream::iter(requests)
                .map(|(at, i, body)| async move {
                    let a = client.add_checkpoint(&witnesses[i].url, body).await;
                    (at, i, a)
                })
                .buffer_unordered(CONCURRENCY)
                .collect(),
        )
    }

    /// Applies an answer; true when it asks for a follow-up (a 409).
    fn apply(&mut self, at: &(String, i32), i: usize, answer: super::Answer) -> bool {
        let name = self.cosigning.witnesses[i].key.name().to_owned();
        let label = match &answer {
            super::Answer::Cosigned(_) => "cosigned",
            super::Answer::Conflict(_) => "conflict",
            super::Answer::Refused { .. } => "refused",
            super::Answer::Unreachable(_) => "unreachable",
        };
        telemetry::witness_request(&name, label);
        let Some(log) = self.logs.get_mut(at) else {
            return false;
        };
        let key = self.cosigning.witnesses[i].key.clone();
        let size = log.c.size();
        let lag = log.c.lag(i);
        let unreachable = label == "unreachable";
        match log.c.answer(i, &key, answer) {
            Outcome::Cosigned => {
                let h = &mut self.health[i];
                if h.retry_at.take().is_some() {
                    tracing::info!(witness = name, "witness cosigning again");
                }
                *h = Health::default();
                false
            }
            Outcome::Retry => true,
            Outcome::Failed(why) => {
                let now = Instant::now();
                let h = &mut self.health[i];
                // One backoff step per pass, however many logs failed in it.
                if unreachable && h.retry_at.is_none_or(|t| t <= now) {
                    h.backoff = (h.backoff * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
                    h.retry_at = Some(now + h.backoff);
                }
                let url = &self.cosigning.witnesses[i].url;
                let (topic, partition) = (at.0.as_str(), at.1);
                if !unreachable {
                    // A refusal is an alarm (a fork, a wrong key or
                    // origin): every one is logged. It is asked again
                    // when the log grows.
                    tracing::error!(
                        witness = name,
                        url,
                        topic,
                        partition,
                        size,
                        lag_records = lag,
                        "witness did not cosign: {why}"
                    );
                } else if h
                    .warned_at
                    .is_none_or(|t| now.duration_since(t) >= WARN_EVERY)
                {
                    h.warned_at = Some(now);
                    tracing::warn!(
                        witness = name,
                        url,
                        topic,
                        partition,
                        size,
                        lag_records = lag,
                        retry_in_s = h.backoff.as_secs(),
                        "witness did not cosign: {why}"
                    );
                }
                false
            }
        }
    }

    /// Stores every log's newest checkpoint that reached the quorum.
    fn store_cosigned(&mut self) {
        let quorum = self.cosigning.quorum;
        for ((topic, partition), log) in &mut self.logs {
            let Some((size, bytes)) = log.c.cosigned(quorum) else {
                continue;
            };
            let key = tlog_cosigned_key(&self.prefix, topic, *partition, size);
            let sha: [u8; 32] = Sha256::digest(&bytes).into();
            let put = self.rt.block_on(self.store.put_locked(
                &key,
                bytes,
                &sha,
                log.retain_until_secs,
                CHECKPOINT_CONTENT_TYPE,
            ));
            match put {
                Ok(_) => {
                    telemetry::cosigned_stored();
                    tracing::debug!(topic, partition, size, "cosigned checkpoint stored");
                    log.c.mark_stored(size);
                }
                // Another member, or this one before a restart, stored it
                // with other cosignature timestamps: the one there stands.
                Err(StoreError::Conflict { .. }) => log.c.mark_stored(size),
                Err(error) => {
                    tracing::warn!(key, %error, "cannot store the cosigned checkpoint; retrying");
                }
            }
        }
    }
}

/// The tiles of one log, read from the bucket (one GET each, concurrently).
struct BucketTiles<'a> {
    collector: &'a Collector,
    at: &'a (String, i32),
}

impl TileSource for BucketTiles<'_> {
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, TlogError> {
        let c = self.collector;
        let keys: Vec<String> = tiles
            .iter()
            .map(|t| tlog_tile_key(&c.prefix, &self.at.0, self.at.1, &t.path()))
            .collect();
        let got: Vec<Result<Option<Vec<u8>>, StoreError>> = c.rt.block_on(
            futures::stream::iter(keys.iter())
                .map(|k| c.store.get(k))
                .buffered(CONCURRENCY)
                .collect(),
        );
        keys.iter()
            .zip(got)
            .map(|(k, r)| match r {
                Ok(Some(b)) => Ok(b),
                Ok(None) => Err(TlogError::Source {
                    message: format!("tile {k} is missing"),
                }),
                Err(e) => Err(TlogError::Source {
                    message: format!("tile {k}: {e}"),
                }),
            })
            .collect()
    }
}
