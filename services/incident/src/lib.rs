//! Incidents, problems and the SLA engine.
//!
//! The incident lifecycle, priority matrix, business calendars and SLA clocks are pure domain
//! code (`domain`); `routes` holds thin HTTP handlers, one module per resource, over `store`
//! and `events`; `sla::scheduler` fires due SLA thresholds. Identity's tenant tree, users and groups arrive as
//! events (the projections in `store::people` and the tenant directory), so `X-Tenant`,
//! suspension and assignment checks work without calling identity.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod domain;
pub mod events;
pub mod idempotency;
pub mod migration;
pub mod routes;
pub mod seed;
pub mod service;
pub mod sla;
pub mod store;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use bus::{ConsumerRunner, Envelope, Handler, HandlerError, directory};
use platform::{
    auth::{AuthContext, KeySource, Verifier},
    db::{self, DbSetupError, Target},
    ratelimit::RateLimiter,
    settings::Settings,
    tenancy::{CachedDirectory, TenantDirectory},
};
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use sea_orm_migration::MigratorTrait;

pub use routes::{api, configure};
pub use service::SERVICE;

pub const SCHEMA: &str = "incident";
/// The queue (RabbitMQ) / consumer name of this service.
pub const CONSUMER: &str = "incident";

pub struct IncidentService {
    pub db: DatabaseConnection,
    pub auth: AuthContext,
    pub directory: Arc<CachedDirectory>,
    pub sla: Arc<sla::Sla>,
    pub numbers: Arc<store::incidents::Numbers>,
}

impl IncidentService {
    /// Connects as the application role; verifies tokens with `keys` (identity's JWKS).
    pub async fn connect(
        settings: &Settings,
        keys: Arc<dyn KeySource>,
    ) -> Result<Self, DbSetupError> {
        let target = Target::from_settings(settings, SCHEMA)?;
        let db = db::connect_app(&target, SCHEMA, settings.database_max_connections).await?;
        db::assert_app_role_is_confined(&db).await?;
        let directory = Arc::new(CachedDirectory::new(
            Arc::new(directory::ProjectedDirectory { db: db.clone() }),
            Duration::from_secs(5),
        ));
        let dyn_directory: Arc<dyn TenantDirectory> = directory.clone();
        let verifier = Arc::new(Verifier::new(
            settings.issuer(),
            settings.auth_audience.clone(),
            keys,
        ));
        let limiter = RateLimiter::from_settings(settings).map_err(DbSetupError::Config)?;
        Ok(Self {
            sla: Arc::new(sla::Sla::new(db.clone())),
            numbers: Arc::default(),
            db,
            auth: AuthContext::new(verifier, dyn_directory).with_limiter(limiter),
            directory,
        })
    }

    /// The SLA scheduler of this process (any number may run).
    pub fn sla_scheduler(&self) -> Arc<sla::scheduler::Scheduler> {
        Arc::new(sla::scheduler::Scheduler::new(
            self.db.clone(),
            self.sla.clone(),
        ))
    }

    /// The consumer of identity's events: the tenant tree, users and groups.
    pub fn identity_consumer(&self) -> Arc<ConsumerRunner> {
        let handler = IdentityEvents {
            tenants: directory::TenantDirectoryProjection { consumer: CONSUMER },
            cache: self.directory.clone(),
        };
        Arc::new(ConsumerRunner::new(self.db.clone(), Arc::new(handler)))
    }
}

/// Identity's events as this service needs them. Once a tenant change is committed the directory
/// cache is dropped, so a new, suspended or re-limited tenant is seen at once.
struct IdentityEvents {
    tenants: directory::TenantDirectoryProjection,
    cache: Arc<CachedDirectory>,
}

#[async_trait]
impl Handler for IdentityEvents {
    fn consumer(&self) -> &'static str {
        CONSUMER
    }
    fn bindings(&self) -> Vec<String> {
        vec![
            "identity.tenant.*".into(),
            "identity.user.*".into(),
            "identity.group.*".into(),
        ]
    }
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        if env.event_type.starts_with("itsm.identity.tenant.") {
            self.tenants.handle(txn, env).await
        } else {
            store::people::apply(txn, env).await
        }
    }
    fn committed(&self, env: &Envelope) {
        // A new, moved, suspended or re-limited tenant is seen by the next request.
        if env.event_type.starts_with("itsm.identity.tenant.") {
            self.cache.invalidate();
        }
    }
}

/// Runs the migrations as the owner role and grants the application role.
pub async fn migrate(settings: &Settings) -> Result<(), DbSetupError> {
    let target = Target::from_settings(settings, SCHEMA)?;
    let owner = db::connect_owner(&target, SCHEMA).await?;
    migration::Migrator::up(&owner, None).await?;
    if let Target::Postgres { app_url, .. } = &target
        && let Some(role) = db::role_of(app_url)
    {
        db::grant_app_role(&owner, SCHEMA, &role).await?;
    }
    owner.close().await?;
    Ok(())
}
