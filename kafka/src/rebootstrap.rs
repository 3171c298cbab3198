//! Giving a client back its bootstrap servers when all its brokers are down.
//!
//! librdkafka (2.12) can be left with no broker at all after a broker
//! restart, and then never reconnects:
//!
//! - a Metadata reply that lists no broker but some topics (a lone
//!   broker sends one while it is in controlled shutdown or still fenced at
//!   start) makes it decommission every broker it knew, bootstrap servers
//!   included (`rd_kafka_metadata_decommission_unavailable_brokers`);
//! - the re-bootstrap that "all brokers down" starts can then be cancelled
//!   by the thread finishing that reply, leaving its in-progress flag set
//!   for good (upstream issue confluentinc/librdkafka#5301).
//!
//! The client then times out every message and fails every metadata
//! request, for as long as it lives. In CI this wedged the seal producer and
//! the gateway's readiness probe for more than 90 s after the broker was
//! back. The remedy is the one the upstream fix takes: when the client says
//! all its brokers are down, add the bootstrap servers again
//! (`rd_kafka_brokers_add`). A bootstrap server it still has is found and
//! not added twice; one it lost comes back and connects, and the first
//! Metadata reply naming real brokers retires it again as usual.

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::OnceLock;

use rdkafka::ClientContext;
use rdkafka::client::Client;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::types::RDKafka;

/// Held by a client context; re-adds that client's bootstrap servers each
/// time the client reports that all its brokers are down. A clone starts
/// unattached: a context cloned for a second client must be attached to that
/// client, never act on the first.
#[derive(Debug, Default)]
pub struct Rebootstrap {
    target: OnceLock<Target>,
}

#[derive(Debug)]
struct Target {
    client: Native,
    servers: CString,
}

/// The native client handle. librdkafka's `rd_kafka_brokers_add` may be
/// called from any thread.
#[derive(Debug)]
struct Native(NonNull<RDKafka>);

// SAFETY: the handle is only used for `rd_kafka_brokers_add`, which
// librdkafka documents as callable from any thread, and only while the
// client it names is alive (see `Rebootstrap::attach`).
unsafe impl Send for Native {}
// SAFETY: as above; the call takes librdkafka's own lock.
unsafe impl Sync for Native {}

impl Clone for Rebootstrap {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl Rebootstrap {
    /// Ties this value to `client` and its bootstrap `servers` (the
    /// `bootstrap.servers` property). A second call is ignored; `servers`
    /// with a NUL byte (refused by librdkafka anyway) leaves it unattached.
    ///
    /// # Safety
    /// `client` must be the native handle of the client whose context holds
    /// this value, so that librdkafka calls [`Self::on_error`] only while
    /// the handle is alive.
    pub unsafe fn attach(&self, client: *mut RDKafka, servers: &str) {
        let (Some(client), Ok(servers)) = (NonNull::new(client), CString::new(servers)) else {
            return;
        };
        let _ = self.target.set(Target {
            client: Native(client),
            servers,
        });
    }

    /// Whether [`Self::attach`] took.
    pub fn is_attached(&self) -> bool {
        self.target.get().is_some()
    }

    /// Called from the context's `error`: on "all brokers down", adds the
    /// bootstrap servers again. Returns how many librdkafka added or found.
    pub fn on_error(&self, error: &KafkaError) -> Option<i32> {
        if *error != KafkaError::Global(RDKafkaErrorCode::AllBrokersDown) {
            return None;
        }
        let t = self.target.get()?;
        // SAFETY: `attach`'s contract: the handle is alive while librdkafka
        // reports this client's errors; the string is NUL-terminated.
        let added = unsafe {
            rdkafka::bindings::rd_kafka_brokers_add(t.client.0.as_ptr(), t.servers.as_ptr())
        };
        tracing::debug!(
            added,
            "all brokers down: bootstrap servers added again, so the client cannot be left with none"
        );
        Some(added)
    }
}

/// A client context that holds a [`Rebootstrap`] of its own: one that no
/// other context shares (a plain field, whose clone starts unattached, not
/// an `Arc`), which is what makes [`attach`] sound.
pub trait HasRebootstrap {
    /// The context's [`Rebootstrap`].
    fn rebootstrap(&self) -> &Rebootstrap;
}

/// Ties `client`'s context to `client` and its bootstrap `servers`.
pub fn attach<C: ClientContext + HasRebootstrap>(client: &Client<C>, servers: &str) {
    // SAFETY: the context is `client`'s own, so librdkafka reports errors
    // into it only while `client` is alive.
    unsafe {
        client
            .context()
            .rebootstrap()
            .attach(client.native_ptr(), servers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::ClientConfig;
    use rdkafka::producer::{BaseProducer, Producer};

    #[derive(Debug, Default)]
    struct Ctx(Rebootstrap);

    impl ClientContext for Ctx {}

    impl rdkafka::producer::ProducerContext for Ctx {
        type DeliveryOpaque = ();
        fn delivery(&self, _: &rdkafka::producer::DeliveryResult<'_>, (): ()) {}
    }

    impl HasRebootstrap for Ctx {
        fn rebootstrap(&self) -> &Rebootstrap {
            &self.0
        }
    }

    #[test]
    fn all_brokers_down_adds_the_bootstrap_servers_to_the_live_client() {
        // Nothing listens on port 1: the client never connects, which is
        // not needed to add (or find) a broker.
        let servers = "127.0.0.1:1";
        let producer: BaseProducer<Ctx> = ClientConfig::new()
            .set("bootstrap.servers", servers)
            .set("log_level", "0")
            .create_with_context(Ctx::default())
            .expect("a client");
        let r = producer.client().context().rebootstrap();
        assert!(!r.is_attached());
        attach(producer.client(), servers);
        assert!(r.is_attached());
        assert_eq!(
            r.on_error(&KafkaError::Global(RDKafkaErrorCode::AllBrokersDown)),
            Some(1),
            "the bootstrap server it still has is found, not added twice"
        );
        assert_eq!(
            r.on_error(&KafkaError::Global(RDKafkaErrorCode::Authentication)),
            None,
            "only 'all brokers down' adds them"
        );
        assert!(!r.clone().is_attached(), "a clone is for another client");
    }

    #[test]
    fn an_unattached_value_does_nothing_and_a_clone_is_unattached() {
        let r = Rebootstrap::default();
        assert!(!r.is_attached());
        assert_eq!(
            r.on_error(&KafkaError::Global(RDKafkaErrorCode::AllBrokersDown)),
            None
        );
        assert!(!r.clone().is_attached());
    }
}
