//! Closing a Kafka client within a bound.
//!
//! Dropping an rdkafka consumer closes it: it leaves its group and waits,
//! polling, until librdkafka says the close finished. That wait has no
//! bound of its own (rust-rdkafka polls until `rd_kafka_consumer_closed`),
//! and it has been seen to hang (rust-rdkafka issues 509, 611). A component
//! that was asked to stop has, by then, stored and committed what it will:
//! leaving the group cleanly only spares the group a session timeout. So
//! the close runs on a thread of its own, and the caller stops waiting for
//! it after a grace period: the process exits on time and the group
//! coordinator drops the member after `session.timeout.ms`.

use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a component waits for a Kafka client to close on the way out.
/// Well under the 30 s most supervisors give between SIGTERM and SIGKILL,
/// with room for the steps before it.
pub const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// A client to close and the name a warning gives it.
pub type Closing = (&'static str, Box<dyn Send>);

/// Drops each client on a thread of its own, all at once, and waits up to
/// `grace` in all for the drops to finish. Returns how many did not; a
/// warning names each, and its thread is left to the process's exit.
pub fn close_within(clients: Vec<Closing>, grace: Duration) -> usize {
    let started = Instant::now();
    let (done_tx, done_rx) = mpsc::channel::<&'static str>();
    let mut open: Vec<&'static str> = Vec::new();
    for (what, client) in clients {
        let done = done_tx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("close {what}"))
            .spawn(move || {
                drop(client);
                // The receiver may have stopped waiting: nothing to tell then.
                let _ = done.send(what);
            });
        match spawned {
            Ok(_) => open.push(what),
            // The closure, client included, was dropped on this thread.
            Err(error) => {
                tracing::warn!(client = what, %error, "no thread to close the Kafka client on")
            }
        }
    }
    drop(done_tx);
    let deadline = started + grace;
    while !open.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        match done_rx.recv_timeout(left) {
            Ok(what) => {
                open.retain(|w| *w != what);
                tracing::debug!(
                    client = what,
                    ms = started.elapsed().as_millis() as u64,
                    "Kafka client closed"
                );
            }
            Err(_) => break,
        }
    }
    for what in &open {
        tracing::warn!(
            client = what,
            grace_ms = grace.as_millis() as u64,
            "the Kafka client did not close in time; leaving it (its group drops this member after session.timeout.ms)"
        );
    }
    open.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{Receiver, Sender};

    /// Tells, when dropped, that its drop began; then blocks until `release`
    /// says so (or its sender is gone).
    struct Stuck {
        began: Sender<()>,
        release: Receiver<()>,
    }

    impl Drop for Stuck {
        fn drop(&mut self) {
            let _ = self.began.send(());
            let _ = self.release.recv();
        }
    }

    fn stuck() -> (Stuck, Receiver<()>, Sender<()>) {
        let (began, began_rx) = mpsc::channel();
        let (release_tx, release) = mpsc::channel();
        (Stuck { began, release }, began_rx, release_tx)
    }

    #[test]
    fn clients_that_close_are_waited_for() {
        let (a, a_began, a_release) = stuck();
        let (b, b_began, b_release) = stuck();
        a_release.send(()).expect("the receiver is alive");
        b_release.send(()).expect("the receiver is alive");
        let left = close_within(
            vec![("a", Box::new(a)), ("b", Box::new(b))],
            Duration::from_secs(30),
        );
        assert_eq!(left, 0);
        assert!(
            a_began.try_recv().is_ok() && b_began.try_recv().is_ok(),
            "both drops ran before the return"
        );
    }

    #[test]
    fn a_client_whose_close_hangs_is_left_after_the_grace_and_the_others_close() {
        let (hangs, began, release) = stuck();
        let (closes, closed_began, closes_release) = stuck();
        closes_release.send(()).expect("the receiver is alive");
        let grace = Duration::from_millis(100);
        let started = Instant::now();
        let left = close_within(
            vec![("hangs", Box::new(hangs)), ("closes", Box::new(closes))],
            grace,
        );
        assert_eq!(left, 1);
        assert!(started.elapsed() >= grace);
        assert!(closed_began.try_recv().is_ok());
        // The hanging drop did start and still waits: releasing it ends the thread.
        began
            .recv_timeout(Duration::from_secs(30))
            .expect("the drop began");
        drop(release);
    }
}
