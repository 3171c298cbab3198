//! librdkafka's errors and log lines, rate-limited: against a dead broker
//! every client reports the same few failures many times a second, forever.
//! The first of each kind is logged at once; repeats within 30 s are
//! counted, and the next one after that is logged with the count. "Of each
//! kind" ignores digits (ports, times, counts), so "Connect to …:19092
//! failed (after 0ms …)" and "(after 3ms …)" are one kind.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;

/// How long repeats of one kind stay quiet.
const WINDOW: Duration = Duration::from_secs(30);
/// Kinds remembered at most (beyond it the oldest are forgotten).
const KINDS: usize = 256;

/// What to do with one occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Say {
    /// Log it.
    Log,
    /// Log it, saying this many identical ones were held back before it.
    LogAfter(u64),
    /// Count it only.
    Quiet,
}

#[derive(Debug)]
struct Kind {
    opened: Instant,
    held: u64,
}

/// Decides per kind of message (pure; the clock is passed in).
#[derive(Debug, Default)]
pub struct Limiter {
    kinds: HashMap<String, Kind>,
}

/// A message's kind: its text with every digit run replaced by `#`.
pub fn kind_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_digits = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('#');
            }
            in_digits = true;
        } else {
            out.push(c);
            in_digits = false;
        }
    }
    out
}

impl Limiter {
    /// Whether an occurrence of `kind` at `now` is to be logged.
    pub fn decide(&mut self, kind: &str, now: Instant) -> Say {
        if let Some(k) = self.kinds.get_mut(kind) {
            if now.duration_since(k.opened) < WINDOW {
                k.held += 1;
                return Say::Quiet;
            }
            let held = k.held;
            *k = Kind {
                opened: now,
                held: 0,
            };
            return if held == 0 {
                Say::Log
            } else {
                Say::LogAfter(held)
            };
        }
        if self.kinds.len() >= KINDS {
            if let Some(oldest) = self
                .kinds
                .iter()
                .min_by_key(|(_, k)| k.opened)
                .map(|(s, _)| s.clone())
            {
                self.kinds.remove(&oldest);
            }
        }
        self.kinds.insert(
            kind.to_owned(),
            Kind {
                opened: now,
                held: 0,
            },
        );
        Say::Log
    }
}

fn decide(text: &str) -> Say {
    static LIMITER: OnceLock<Mutex<Limiter>> = OnceLock::new();
    let limiter = LIMITER.get_or_init(|| Mutex::new(Limiter::default()));
    let kind = kind_of(text);
    match limiter.lock() {
        Ok(mut l) => l.decide(&kind, Instant::now()),
        Err(poisoned) => poisoned.into_inner().decide(&kind, Instant::now()),
    }
}

/// Logs a client error, rate-limited.
pub fn client_error(error: &KafkaError, reason: &str) {
    match decide(&format!("{error}: {reason}")) {
        Say::Log => tracing::error!(%error, reason, "kafka client error"),
        Say::LogAfter(held) => tracing::error!(%error, reason, repeated = held,
            "kafka client error (and {held} identical in the last 30 s)"),
        Say::Quiet => {}
    }
}

/// Logs a librdkafka log line: warnings and errors rate-limited, the rest
/// at their level.
pub fn client_log(level: RDKafkaLogLevel, facility: &str, message: &str) {
    use RDKafkaLogLevel as L;
    match level {
        L::Emerg | L::Alert | L::Critical | L::Error | L::Warning => {
            let say = decide(&format!("{facility} {message}"));
            let held = match say {
                Say::Quiet => return,
                Say::Log => 0,
                Say::LogAfter(n) => n,
            };
            if matches!(level, L::Warning) {
                tracing::warn!(target: "librdkafka", facility, repeated = held, "{message}");
            } else {
                tracing::error!(target: "librdkafka", facility, repeated = held, "{message}");
            }
        }
        L::Notice | L::Info => tracing::info!(target: "librdkafka", facility, "{message}"),
        L::Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
    }
}

/// A client context that only rate-limits what librdkafka reports (and
/// gives the client its bootstrap servers back when all brokers are down,
/// see [`crate::rebootstrap`]), for clients that need nothing else
/// (readers, admin-like consumers).
#[derive(Debug, Default, Clone)]
pub struct Quiet {
    rebootstrap: crate::rebootstrap::Rebootstrap,
}

impl ClientContext for Quiet {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        client_log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        client_error(&error, reason);
        self.rebootstrap.on_error(&error);
    }
}

impl crate::rebootstrap::HasRebootstrap for Quiet {
    fn rebootstrap(&self) -> &crate::rebootstrap::Rebootstrap {
        &self.rebootstrap
    }
}

impl ConsumerContext for Quiet {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_do_not_make_a_new_kind() {
        assert_eq!(
            kind_of("127.0.0.1:19092/1: Connect failed (after 12ms in state CONNECT)"),
            kind_of("127.0.0.1:19092/1: Connect failed (after 3ms in state CONNECT)")
        );
        assert_ne!(kind_of("broker down"), kind_of("auth failed"));
    }

    #[test]
    fn repeats_are_held_for_30_s_then_logged_with_their_count() {
        let t0 = Instant::now();
        let mut l = Limiter::default();
        assert_eq!(l.decide("a", t0), Say::Log);
        assert_eq!(l.decide("b", t0), Say::Log, "another kind is not held back");
        for ms in 1..100u64 {
            assert_eq!(
                l.decide("a", t0 + Duration::from_millis(ms * 100)),
                Say::Quiet
            );
        }
        assert_eq!(l.decide("a", t0 + WINDOW), Say::LogAfter(99));
        assert_eq!(
            l.decide("a", t0 + WINDOW * 3),
            Say::Log,
            "nothing held since"
        );
    }

    #[test]
    fn the_memory_of_kinds_is_bounded() {
        let t0 = Instant::now();
        let mut l = Limiter::default();
        for i in 0..(KINDS + 10) {
            l.decide(
                &format!("kind {}", "x".repeat(i)),
                t0 + Duration::from_millis(i as u64),
            );
        }
        assert!(l.kinds.len() <= KINDS);
    }
}
