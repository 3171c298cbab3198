//! Bounded waits that say what they wait for: a request that has not
//! answered after 10 s is named in a warning, and again every 30 s, so an
//! S3 endpoint that accepts connections but never answers is visible long
//! before the SDK's own timeouts (60 s per attempt, retried) give up.

use std::future::Future;
use std::time::Duration;

/// When the first warning comes.
const FIRST: Duration = Duration::from_secs(10);
/// How often it repeats while the wait goes on.
const AGAIN: Duration = Duration::from_secs(30);

/// Futures that announce a long wait.
pub(crate) trait Announce: Future + Sized {
    /// Awaits `self`; after [`FIRST`] and then every [`AGAIN`] logs a
    /// warning naming `what()` and the time waited so far.
    async fn announced(self, what: impl Fn() -> String) -> Self::Output {
        watch(self, FIRST, AGAIN, |waited| {
            tracing::warn!(waiting_for = %what(), seconds = waited.as_secs(), "still waiting for an answer");
        })
        .await
    }
}

impl<F: Future> Announce for F {}

/// Awaits `fut`, calling `waiting` with the time waited so far after
/// `first` and then every `again` until it completes.
async fn watch<F: Future>(
    fut: F,
    first: Duration,
    again: Duration,
    mut waiting: impl FnMut(Duration),
) -> F::Output {
    tokio::pin!(fut);
    let mut waited = Duration::ZERO;
    let mut next = first;
    loop {
        match tokio::time::timeout(next, &mut fut).await {
            Ok(out) => return out,
            Err(_) => {
                waited += next;
                waiting(waited);
                next = again;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::watch;

    #[tokio::test]
    async fn a_quick_answer_says_nothing_and_a_slow_one_is_named_until_it_comes() {
        let ms = Duration::from_millis;
        let mut said = Vec::new();
        assert_eq!(
            watch(async { 7 }, ms(20), ms(50), |w| said.push(w)).await,
            7
        );
        assert!(said.is_empty());
        let slow = async {
            tokio::time::sleep(ms(140)).await;
            "late"
        };
        assert_eq!(watch(slow, ms(20), ms(50), |w| said.push(w)).await, "late");
        assert_eq!(said, vec![ms(20), ms(70), ms(120)]);
    }
}
