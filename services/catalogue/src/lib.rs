//! The service portfolio (and, next, the catalogue built on it): the services a provider runs,
//! their owners and their lifecycle stage, each move through a gate and recorded.
//!
//! `domain` holds the stage machine and its gates; `routes` thin handlers, one module per
//! resource, over `store` and `events`. Identity's tenant tree, users and groups arrive as
//! events (`bus::people`), so owners, managers and support groups are checked without calling
//! identity.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod domain;
pub mod events;
pub mod form_cache;
pub mod importer;
pub mod migration;
pub mod ordering;
pub mod routes;
pub mod seed;
pub mod seed_cmdb;
pub mod seed_knowledge;
pub mod service;
pub mod store;
pub mod workers;
pub mod workflow;

use std::sync::Arc;

use bus::people::IdentityProjection;
use platform::{
    auth::{AuthContext, KeySource},
    db::{self, DbSetupError, Target},
    settings::Settings,
};
use sea_orm::DatabaseConnection;

pub use service::SERVICE;

/// The schema, the `--service` name and the broker user's suffix.
pub const SCHEMA: &str = "catalogue";
/// The queue (RabbitMQ) / consumer name of this service.
pub const CONSUMER: &str = "catalogue";

pub struct CatalogueService {
    pub db: DatabaseConnection,
    /// Request, request item and task numbers (`REQ0001001`, `RITM0001001`, `TASK0001001`).
    pub numbers: Arc<platform::numbers::Numbers>,
    /// Compiled request forms and approval conditions.
    pub forms: Arc<form_cache::FormCache>,
    pub auth: AuthContext,
    pub identity: IdentityProjection,
    /// Wakes the `cmdb-import` worker when an import is queued.
    pub imports: Arc<tokio::sync::Notify>,
}

impl CatalogueService {
    /// Connects as the application role; verifies tokens with `keys` (identity's JWKS).
    pub async fn connect(
        settings: &Settings,
        keys: Arc<dyn KeySource>,
    ) -> Result<Self, DbSetupError> {
        let target = Target::from_settings(settings, SCHEMA)?;
        let db = db::connect_app(&target, SCHEMA, settings.database_max_connections).await?;
        db::assert_app_role_is_confined(&db).await?;
        let identity = IdentityProjection::new(db.clone(), CONSUMER);
        let auth = AuthContext::from_settings(settings, keys, identity.directory.clone())
            .map_err(DbSetupError::Config)?;
        Ok(Self {
            db,
            auth,
            identity,
            numbers: Arc::default(),
            forms: Arc::default(),
            imports: Arc::default(),
        })
    }
}
