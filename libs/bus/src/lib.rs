//! The event bus: a transactional outbox, a relay that publishes it with confirms, consumers
//! that apply each event exactly once through an inbox, retries and dead letters — over RabbitMQ
//! (production) or in-process (embedded mode), with the same tables and semantics.
//!
//! Delivery is at-least-once; effects are exactly-once: a consumer inserts the event id into its
//! inbox in the same transaction as the effect, so a redelivered event changes nothing. A
//! consumer applies only what the service owning the event's type sent (`provenance`).
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod cmdb;
pub mod consumer;
pub mod directory;
pub mod entities;
pub mod inprocess;
pub mod migration;
pub mod ops;
pub mod outbox;
pub mod people;
pub mod portfolio;
pub mod provenance;
pub mod rabbit;
pub mod relay;
pub mod trace;
pub mod versions;

pub use consumer::{Applied, ConsumerRunner, Handler, HandlerError};
pub use events::Envelope;
pub use provenance::Sender;
pub use relay::{Relay, Transport};

/// The topic exchange every event is published to.
pub const EXCHANGE: &str = "itsm.events";
/// The dead-letter exchange; each consumer's dead letters go to `<consumer>.dlq`.
pub const DLX: &str = "itsm.dlx";

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("broker: {0}")]
    Broker(String),
    #[error("event: {0}")]
    Event(String),
    #[error("injected fault: {0}")]
    Fault(&'static str),
}

impl From<BusError> for platform::ApiError {
    #[track_caller]
    fn from(e: BusError) -> Self {
        match e {
            BusError::Db(db) => platform::ApiError::from(db),
            other => platform::ApiError::internal(other),
        }
    }
}

impl From<lapin::Error> for BusError {
    fn from(e: lapin::Error) -> Self {
        BusError::Broker(e.to_string())
    }
}

/// An event ready to leave the outbox.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: uuid::Uuid,
    /// The service whose outbox holds it (the relay's service): the in-process transport's
    /// proof of origin, and the service whose broker user must publish it.
    pub producer: &'static str,
    pub routing_key: String,
    /// The serialized envelope.
    pub body: Vec<u8>,
}

/// Whether routing key `key` matches an AMQP topic `pattern` (`*` one word, `#` any words).
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    fn go(p: &[&str], k: &[&str]) -> bool {
        match (p.first(), k.first()) {
            (None, None) => true,
            (Some(&"#"), _) => go(&p[1..], k) || (!k.is_empty() && go(p, &k[1..])),
            (Some(&"*"), Some(_)) => go(&p[1..], &k[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &k[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    go(&p, &k)
}

#[cfg(test)]
mod tests {
    use super::topic_matches;

    #[test]
    fn topic_patterns() {
        assert!(topic_matches(
            "identity.tenant.*",
            "identity.tenant.created"
        ));
        assert!(topic_matches("identity.#", "identity.user.roles_changed"));
        assert!(topic_matches("#", "a.b"));
        assert!(!topic_matches("identity.tenant.*", "identity.user.created"));
        assert!(!topic_matches("identity.*", "identity.tenant.created"));
    }
}
