//! Who may publish an event: only the service that owns its type, the `<service>` of
//! `itsm.<service>.<aggregate>.<event>.v<N>` (ADR 19). Envelopes carry no signature, so the proof
//! comes from the transport:
//!
//! - RabbitMQ: every service logs in as its own broker user, `itsm-<service>`, and sets the AMQP
//!   `user_id` property on what it publishes. The broker refuses a `user_id` that is not the
//!   connection's user, so a consumer that finds `user_id = itsm-identity` knows identity's
//!   credentials published the message — whichever exchange or routing key it came through.
//! - In-process: the relay names the service whose outbox it drains.
//!
//! A consumer accepts an event only when that sender is the owner and the envelope's `source` is
//! `itsm/<owner>`; anything else is dead-lettered with the reason.
use std::fmt;

use events::Envelope;

/// Broker users are named `itsm-<service>`.
pub const AMQP_USER_PREFIX: &str = "itsm-";

/// The broker user `service` publishes as.
pub fn amqp_user_of(service: &str) -> String {
    format!("{AMQP_USER_PREFIX}{service}")
}

/// The service that owns `event_type` (`itsm.<service>.<aggregate>.<event>.v<N>`), or `None`
/// for a type of any other shape.
pub fn owner_of(event_type: &str) -> Option<&str> {
    let parts: Vec<&str> = event_type.split('.').collect();
    match parts.as_slice() {
        ["itsm", service, aggregate, event, version]
            if !service.is_empty()
                && !aggregate.is_empty()
                && !event.is_empty()
                && version.len() > 1
                && version.starts_with('v') =>
        {
            Some(service)
        }
        _ => None,
    }
}

/// Who handed a message to a consumer, as the transport proves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// The AMQP `user_id` property, validated by the broker; `None` when the publisher set none.
    Amqp(Option<String>),
    /// The producing service whose outbox an in-process relay drained; `None` when unknown (a
    /// dead letter recorded before senders were kept).
    Service(Option<String>),
}

impl fmt::Display for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sender::Amqp(Some(user)) => write!(f, "AMQP user {user}"),
            Sender::Amqp(None) => f.write_str("a publisher that set no AMQP user_id"),
            Sender::Service(Some(service)) => write!(f, "the {service} service"),
            Sender::Service(None) => f.write_str("an unknown sender"),
        }
    }
}

/// Checks that `sender` is the owner of `env`'s type and that the envelope says so too; the
/// error is the reason to dead-letter it with.
pub fn verify(env: &Envelope, sender: &Sender) -> Result<(), String> {
    let owner = owner_of(&env.event_type).ok_or_else(|| {
        format!(
            "event type {} does not name its owning service",
            env.event_type
        )
    })?;
    let authentic = match sender {
        Sender::Amqp(user) => user.as_deref() == Some(amqp_user_of(owner).as_str()),
        Sender::Service(service) => service.as_deref() == Some(owner),
    };
    if !authentic {
        return Err(format!(
            "{} belongs to {owner} (AMQP user {}) but was published by {sender}",
            env.event_type,
            amqp_user_of(owner)
        ));
    }
    let source = format!("itsm/{owner}");
    if env.source != source {
        return Err(format!(
            "{} must have source {source}, not {}",
            env.event_type, env.source
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(event_type: &str, source: &str) -> Envelope {
        let payload = events::identity::TenantStatusChanged {
            tenant_id: uuid::Uuid::nil(),
            status: "active".into(),
        };
        let mut env = Envelope::new(uuid::Uuid::nil(), uuid::Uuid::nil(), 1, &payload, None)
            .unwrap_or_else(|e| panic!("{e}"));
        env.event_type = event_type.into();
        env.source = source.into();
        env
    }

    #[test]
    fn the_owner_is_the_service_part_of_a_well_formed_type() {
        assert_eq!(
            owner_of("itsm.identity.tenant.created.v1"),
            Some("identity")
        );
        assert_eq!(
            owner_of("itsm.incident.incident.created.v12"),
            Some("incident")
        );
        assert_eq!(owner_of("itsm.identity.tenant.created"), None);
        assert_eq!(owner_of("itsm.identity.tenant.created.v1.extra"), None);
        assert_eq!(owner_of("acme.identity.tenant.created.v1"), None);
        assert_eq!(owner_of("itsm..tenant.created.v1"), None);
        assert_eq!(owner_of("itsm.identity.tenant.created.1"), None);
        assert_eq!(owner_of("itsm.identity.tenant.created.v"), None);
    }

    #[test]
    fn only_the_owners_broker_user_with_the_owners_source_is_accepted() {
        let env = envelope("itsm.identity.tenant.created.v1", "itsm/identity");
        let user = |u: &str| Sender::Amqp(Some(u.into()));
        assert_eq!(verify(&env, &user("itsm-identity")), Ok(()));
        assert_eq!(
            verify(&env, &user("itsm-incident")),
            Err(
                "itsm.identity.tenant.created.v1 belongs to identity (AMQP user itsm-identity) \
                 but was published by AMQP user itsm-incident"
                    .into()
            )
        );
        assert_eq!(
            verify(&env, &Sender::Amqp(None)),
            Err(
                "itsm.identity.tenant.created.v1 belongs to identity (AMQP user itsm-identity) \
                 but was published by a publisher that set no AMQP user_id"
                    .into()
            )
        );
        assert!(verify(&env, &user("guest")).is_err());
        assert!(verify(&env, &user("identity")).is_err());
        let wrong_source = envelope("itsm.identity.tenant.created.v1", "itsm/incident");
        assert_eq!(
            verify(&wrong_source, &user("itsm-identity")),
            Err(
                "itsm.identity.tenant.created.v1 must have source itsm/identity, not itsm/incident"
                    .into()
            )
        );
        let shapeless = envelope("identity.tenant.created", "itsm/identity");
        assert!(verify(&shapeless, &user("itsm-identity")).is_err());
    }

    #[test]
    fn in_process_only_the_owning_services_relay_is_accepted() {
        let env = envelope("itsm.identity.tenant.created.v1", "itsm/identity");
        assert_eq!(
            verify(&env, &Sender::Service(Some("identity".into()))),
            Ok(())
        );
        assert!(verify(&env, &Sender::Service(Some("incident".into()))).is_err());
        assert!(verify(&env, &Sender::Service(None)).is_err());
    }
}
