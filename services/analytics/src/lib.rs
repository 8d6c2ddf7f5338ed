//! Analytics: figures built from events only. Every event the other services publish is kept,
//! once, in an append-only store (`analytics_events`, in arrival order), so projections can be
//! rebuilt from it; `GET /api/v1/analytics/freshness` says how far behind the store is.
//!
//! `routes` holds the thin HTTP handlers; `store` the tables; `domain` what is computed from
//! them (no I/O).
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod domain;
pub mod feeder;
pub mod forecaster;
pub mod migration;
pub mod projection;
pub mod rebuild;
pub mod routes;
pub mod seed;
pub mod service;
pub mod store;

use std::sync::Arc;

use bus::{ConsumerRunner, Envelope, Handler, HandlerError, people::IdentityProjection};
use chrono_tz::Tz;
use forecaster::Forecaster;
use platform::{
    auth::{AuthContext, KeySource},
    db::{self, DbSetupError, Target},
    numbers::Numbers,
    settings::Settings,
    tenancy::{TenantId, begin_scoped},
};
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr};
use store::zones::Zones;

pub use service::SERVICE;

pub const SCHEMA: &str = "analytics";
/// The queue (RabbitMQ) / consumer name of this service.
pub const CONSUMER: &str = "analytics";

pub struct AnalyticsService {
    pub db: DatabaseConnection,
    pub auth: AuthContext,
    pub identity: IdentityProjection,
    /// Tenants' time zones, shared with the consumer (which forgets them on tenant events).
    pub zones: Arc<Zones>,
    /// Improvement numbers, shared with the consumer's feeder and the forecaster.
    pub numbers: Arc<Numbers>,
    pub forecaster: Arc<Forecaster>,
    /// `improvement_breach_ratio`, for the consumer's feeder.
    pub breach_ratio: f64,
}

impl AnalyticsService {
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
        let numbers = Arc::<Numbers>::default();
        Ok(Self {
            forecaster: Arc::new(Forecaster::new(db.clone(), numbers.clone())),
            db,
            auth,
            identity,
            zones: Arc::default(),
            numbers,
            breach_ratio: settings.improvement_breach_ratio,
        })
    }

    /// This service's consumer.
    pub fn consumer(&self) -> Arc<ConsumerRunner> {
        consumer_with(
            &self.db,
            &self.identity,
            self.zones.clone(),
            self.numbers.clone(),
            self.breach_ratio,
        )
    }

    /// `tenant`'s time zone (UTC until the tenant is in the directory).
    pub async fn zone_of(&self, tenant: TenantId) -> Result<Tz, DbErr> {
        let txn = begin_scoped(&self.db, &[tenant]).await?;
        let zone = self.zones.of(&txn, tenant.as_uuid()).await?;
        txn.commit().await?;
        Ok(zone.unwrap_or(Tz::UTC))
    }
}

/// Analytics' consumer on `db`: every event of every service into the store; identity's tenant
/// tree, users and groups also into `identity`, the projection tokens are checked against.
pub fn consumer(db: &DatabaseConnection, identity: &IdentityProjection) -> Arc<ConsumerRunner> {
    let breach_ratio = Settings::default().improvement_breach_ratio;
    consumer_with(db, identity, Arc::default(), Arc::default(), breach_ratio)
}

fn consumer_with(
    db: &DatabaseConnection,
    identity: &IdentityProjection,
    zones: Arc<Zones>,
    numbers: Arc<Numbers>,
    breach_ratio: f64,
) -> Arc<ConsumerRunner> {
    let identity = identity.consumer().handler.clone();
    Arc::new(ConsumerRunner::new(
        db.clone(),
        Arc::new(EventStore {
            identity,
            zones,
            db: db.clone(),
            numbers,
            breach_ratio,
        }),
    ))
}

/// Keeps each event once, folds it into the figures and feeds the improvement register; hands
/// identity's directory events on to the identity projection and the catalogue's CI and
/// service events to the CMDB and portfolio projections (what capacity samples may be about).
struct EventStore {
    identity: Arc<dyn Handler>,
    zones: Arc<Zones>,
    /// For improvement numbers, reserved in their own short transactions.
    db: DatabaseConnection,
    numbers: Arc<Numbers>,
    breach_ratio: f64,
}

/// The projections kept, all updated in the transaction that keeps an event.
pub const PROJECTIONS: [&str; 2] = ["events", "figures"];

/// Identity's events the identity projection applies (`bus::people`).
const DIRECTORY_EVENTS: [&str; 3] = [
    "itsm.identity.tenant.",
    "itsm.identity.user.",
    "itsm.identity.group.",
];

#[async_trait::async_trait]
impl Handler for EventStore {
    fn consumer(&self) -> &'static str {
        self.identity.consumer()
    }
    fn bindings(&self) -> Vec<String> {
        vec!["#".into()]
    }
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        if DIRECTORY_EVENTS
            .iter()
            .any(|p| env.event_type.starts_with(p))
        {
            self.identity.handle(txn, env).await?;
            // A tenant's zone may have changed with it.
            self.zones.forget();
        }
        let ticket = projection::lock_ticket(txn, env).await?;
        if store::events::append(txn, env, chrono::Utc::now()).await? {
            projection::project(txn, &self.zones, env, ticket).await?;
            let trend = feeder::Trend {
                zones: &self.zones,
                threshold: self.breach_ratio,
            };
            feeder::on_event(txn, &self.db, &self.numbers, &trend, env).await?;
            if bus::cmdb::handles(&env.event_type) {
                bus::cmdb::apply(txn, env).await?;
            } else if bus::portfolio::handles(&env.event_type) {
                bus::portfolio::apply(txn, env).await?;
            }
        }
        Ok(())
    }
    fn committed(&self, env: &Envelope) {
        self.identity.committed(env);
        let lag = (chrono::Utc::now() - env.time).num_milliseconds().max(0) as f64 / 1000.0;
        // The event store and the figures are written in one transaction.
        for projection in PROJECTIONS {
            metrics::histogram!("itsm_analytics_projection_lag_seconds", "projection" => projection)
                .record(lag);
        }
    }
}
