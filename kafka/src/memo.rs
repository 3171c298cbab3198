//! A client context that remembers librdkafka's last specific global error,
//! so a failure that surfaces later as a bare "transport failure" can say why
//! (a TLS handshake refused, SASL authentication failed, a name that does not
//! resolve).

use std::sync::{Arc, Mutex};

use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::{ClientConfig, ClientContext};

use crate::rebootstrap::Rebootstrap;

/// Remembers the last global error other than "all brokers down" (which
/// only repeats that the specific one happened). Clones share the memory, so
/// a rebuilt producer keeps reporting into the same place.
/// Clones share a [`Rebootstrap`] too, so it is attached only by
/// [`Self::future_producer`], which gives each client it creates its own
/// (and `ErrorMemo` is no [`crate::rebootstrap::HasRebootstrap`]).
#[derive(Debug, Default, Clone)]
pub struct ErrorMemo {
    last: Arc<Mutex<Option<String>>>,
    rebootstrap: Arc<Rebootstrap>,
}

impl ErrorMemo {
    /// A producer whose context remembers into this memo, with a
    /// [`Rebootstrap`] of its own attached to it (rdkafka's future producer
    /// hides its context, so [`crate::rebootstrap::attach`] cannot reach it).
    pub fn future_producer(&self, config: &ClientConfig) -> KafkaResult<FutureProducer<ErrorMemo>> {
        let own = ErrorMemo {
            last: Arc::clone(&self.last),
            rebootstrap: Arc::default(),
        };
        let producer: FutureProducer<ErrorMemo> = config.create_with_context(own.clone())?;
        if let Some(servers) = config.get("bootstrap.servers") {
            // SAFETY: `own.rebootstrap` is shared only with the context just
            // moved into `producer` (`own` is dropped below), so librdkafka
            // reaches it only while `producer` is alive.
            unsafe {
                own.rebootstrap
                    .attach(producer.client().native_ptr(), servers);
            }
        }
        Ok(producer)
    }
}

impl ErrorMemo {
    /// The last specific error librdkafka reported, if any.
    pub fn last(&self) -> Option<String> {
        match self.last.lock() {
            Ok(l) => l.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// `message`, followed by the last specific client error when there is one.
    pub fn explain(&self, message: String) -> String {
        match self.last() {
            Some(last) => format!("{message} (last client error: {last})"),
            None => message,
        }
    }
}

impl ClientContext for ErrorMemo {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        crate::quiet::client_log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        crate::quiet::client_error(&error, reason);
        self.rebootstrap.on_error(&error);
        if error == KafkaError::Global(RDKafkaErrorCode::AllBrokersDown) {
            return;
        }
        match self.last.lock() {
            Ok(mut l) => *l = Some(reason.to_owned()),
            Err(poisoned) => *poisoned.into_inner() = Some(reason.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_specific_error_not_the_echo() {
        let memo = ErrorMemo::default();
        assert_eq!(memo.explain("down".into()), "down");
        memo.error(
            KafkaError::Global(RDKafkaErrorCode::Authentication),
            "SASL authentication error: Authentication failed",
        );
        memo.clone().error(
            KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down",
        );
        assert_eq!(
            memo.explain("broker unreachable".into()),
            "broker unreachable (last client error: SASL authentication error: Authentication failed)"
        );
    }
}
