//! Shared platform for every ITSM service: settings, telemetry, HTTP bootstrap, problem+json
//! errors, JWT verification and scopes, tenancy (RLS-scoped transactions), pagination, input
//! validation, health and metrics.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod auth;
pub mod client_addr;
pub mod credential_guard;
pub mod cursor;
pub mod db;
pub mod error;
pub mod health;
pub mod http;
pub mod idempotency;
pub mod json;
pub mod keyset;
pub mod numbers;
pub mod openapi;
pub mod pagination;
pub mod precondition;
pub mod ratelimit;
pub mod record;
pub mod redis_client;
pub mod request_id;
pub mod resources;
pub mod schema;
pub mod scoped_write;
pub mod secret;
pub mod settings;
pub mod telemetry;
pub mod tenancy;
pub mod validate;

pub use error::{ApiError, FieldError};

#[doc(hidden)]
pub use async_trait as __async_trait;
/// For [`page_schema!`] and [`named_schema!`]: the services' own `utoipa` may be renamed.
#[doc(hidden)]
pub use utoipa as __utoipa;
