//! Events: the CloudEvents 1.0 envelope (structured JSON mode) and every payload a service
//! publishes, each with its type `itsm.<service>.<aggregate>.<event>.v<N>`.
//!
//! A payload's shape is its contract: `tests/schemas.rs` compares each payload's JSON Schema
//! with the snapshot in `schemas/`, so changing a published shape without a new version fails.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod analytics;
pub mod catalogue;
pub mod change;
pub mod identity;
pub mod incident;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

/// A typed event payload.
pub trait Event: Serialize + DeserializeOwned + utoipa::ToSchema {
    /// Publishing service, e.g. `identity`.
    const SERVICE: &'static str;
    /// Aggregate, e.g. `tenant`.
    const AGGREGATE: &'static str;
    /// What happened, e.g. `created`.
    const NAME: &'static str;
    /// Shape version; a breaking change is a new version.
    const VERSION: u32;

    /// `itsm.<service>.<aggregate>.<event>.v<N>`
    fn event_type() -> String {
        format!(
            "itsm.{}.{}.{}.v{}",
            Self::SERVICE,
            Self::AGGREGATE,
            Self::NAME,
            Self::VERSION
        )
    }

    /// AMQP routing key `<service>.<aggregate>.<event>` (versions share a key; consumers
    /// dispatch on the full type).
    fn routing_key() -> String {
        format!("{}.{}.{}", Self::SERVICE, Self::AGGREGATE, Self::NAME)
    }
}

/// A CloudEvents 1.0 envelope in structured JSON mode, with our extension attributes
/// `tenantid`, `traceparent` and `aggregateversion`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Always `1.0`.
    pub specversion: String,
    /// UUIDv7; consumers deduplicate on it.
    pub id: Uuid,
    /// `itsm/<service>`.
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub time: DateTime<Utc>,
    /// The aggregate id.
    pub subject: String,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// The tenant the aggregate belongs to.
    pub tenantid: Uuid,
    /// W3C trace context of the producing request, so consumers continue its trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// Monotonic version of the aggregate after this change; projections ignore older ones.
    pub aggregateversion: i64,
    pub data: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("not a valid event envelope: {0}")]
    Malformed(String),
    #[error("unsupported specversion {0}")]
    SpecVersion(String),
    #[error("event type {0} does not match the payload type {1}")]
    WrongType(String, String),
    #[error("payload of {0} is invalid: {1}")]
    Payload(String, String),
}

impl Envelope {
    /// Wraps `payload` for `subject` of `tenant`.
    pub fn new<E: Event>(
        tenant: Uuid,
        subject: Uuid,
        version: i64,
        payload: &E,
        traceparent: Option<String>,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            specversion: "1.0".into(),
            id: Uuid::now_v7(),
            source: format!("itsm/{}", E::SERVICE),
            event_type: E::event_type(),
            time: Utc::now(),
            subject: subject.to_string(),
            datacontenttype: "application/json".into(),
            tenantid: tenant,
            traceparent,
            aggregateversion: version,
            data: serde_json::to_value(payload)?,
        })
    }

    /// Parses and checks an envelope received from the wire.
    pub fn parse(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let env: Envelope =
            serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        if env.specversion != "1.0" {
            return Err(EnvelopeError::SpecVersion(env.specversion));
        }
        Ok(env)
    }

    /// The typed payload, if this envelope carries an `E`.
    pub fn payload<E: Event>(&self) -> Result<E, EnvelopeError> {
        if self.event_type != E::event_type() {
            return Err(EnvelopeError::WrongType(
                self.event_type.clone(),
                E::event_type(),
            ));
        }
        serde_json::from_value(self.data.clone())
            .map_err(|e| EnvelopeError::Payload(self.event_type.clone(), e.to_string()))
    }

    /// `<service>.<aggregate>.<event>` from the type.
    pub fn routing_key(&self) -> String {
        let parts: Vec<&str> = self.event_type.split('.').collect();
        match parts.as_slice() {
            ["itsm", service, aggregate, event, _version] => {
                format!("{service}.{aggregate}.{event}")
            }
            _ => self.event_type.clone(),
        }
    }
}

/// The JSON Schema of a payload (OpenAPI 3.1 schema objects are JSON Schema 2020-12).
pub fn schema_of<E: Event>() -> serde_json::Value {
    let mut schemas = Vec::new();
    E::schemas(&mut schemas);
    let mut components = serde_json::Map::new();
    for (name, schema) in schemas {
        components.insert(name, serde_json::to_value(schema).unwrap_or_default());
    }
    serde_json::json!({
        "type": E::event_type(),
        "schema": serde_json::to_value(E::schema()).unwrap_or_default(),
        "components": components,
    })
}
