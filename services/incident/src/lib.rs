//! Incidents, problems and the SLA engine.
//!
//! The incident lifecycle, priority matrix, business calendars and SLA clocks are pure domain
//! code (`domain`); `routes` holds thin HTTP handlers, one module per resource, over `store`
//! and `events`; `sla::scheduler` fires due SLA thresholds. Identity's tenant tree, users and groups arrive as
//! events (`bus::people`: the tenant directory, users and groups), so `X-Tenant`,
//! suspension and assignment checks work without calling identity. Analytics' capacity
//! forecasts open incidents (`capacity`), one per threshold at a time.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod capacity;
pub mod domain;
pub mod events;
pub mod idempotency;
pub mod migration;
pub mod opening;
pub mod routes;
pub mod seed;
pub mod service;
pub mod sla;
pub mod store;

use std::sync::Arc;

use bus::{ConsumerRunner, Envelope, Handler, HandlerError, people::IdentityProjection};
use platform::{
    auth::{AuthContext, KeySource},
    db::{self, DbSetupError, Target},
    settings::Settings,
};
use sea_orm::{DatabaseConnection, DatabaseTransaction};

pub use routes::{api, configure};
pub use service::SERVICE;

pub const SCHEMA: &str = "incident";
/// The queue (RabbitMQ) / consumer name of this service.
pub const CONSUMER: &str = "incident";

pub struct IncidentService {
    pub db: DatabaseConnection,
    pub auth: AuthContext,
    pub identity: IdentityProjection,
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
        let identity = IdentityProjection::new(db.clone(), CONSUMER);
        let auth = AuthContext::from_settings(settings, keys, identity.directory.clone())
            .map_err(DbSetupError::Config)?;
        Ok(Self {
            sla: Arc::new(sla::Sla::new(db.clone())),
            numbers: Arc::default(),
            db,
            auth,
            identity,
        })
    }

    /// The SLA scheduler of this process (any number may run).
    pub fn sla_scheduler(&self) -> Arc<sla::scheduler::Scheduler> {
        Arc::new(sla::scheduler::Scheduler::new(
            self.db.clone(),
            self.sla.clone(),
        ))
    }

    /// This service's consumer: identity's events (the tenant tree, users and groups), the
    /// catalogue's (the portfolio, and request items for their SLA clocks) and analytics'
    /// capacity forecasts (which open incidents).
    pub fn consumer(&self) -> Arc<ConsumerRunner> {
        consumer_with(
            &self.db,
            &self.identity,
            self.sla.clone(),
            self.numbers.clone(),
        )
    }
}

/// Incident's consumer on `db` (a replica's, say), with an SLA engine and number blocks of
/// its own; identity's events also go into `identity`.
pub fn consumer(db: &DatabaseConnection, identity: &IdentityProjection) -> Arc<ConsumerRunner> {
    consumer_with(
        db,
        identity,
        Arc::new(sla::Sla::new(db.clone())),
        Arc::default(),
    )
}

fn consumer_with(
    db: &DatabaseConnection,
    identity: &IdentityProjection,
    sla: Arc<sla::Sla>,
    numbers: Arc<store::incidents::Numbers>,
) -> Arc<ConsumerRunner> {
    identity.consumer_with(Some(Arc::new(OtherServices {
        db: db.clone(),
        sla,
        numbers,
    })))
}

/// The other services' events incident acts on: the catalogue's services and CIs, which
/// incidents may name, and its request items' state changes, which move their SLA clocks;
/// analytics' capacity forecasts, each of which opens an incident unless its threshold has
/// one open.
struct OtherServices {
    db: DatabaseConnection,
    sla: Arc<sla::Sla>,
    numbers: Arc<store::incidents::Numbers>,
}

#[async_trait::async_trait]
impl Handler for OtherServices {
    fn consumer(&self) -> &'static str {
        CONSUMER
    }
    fn bindings(&self) -> Vec<String> {
        use ::events::{Event, analytics::CapacityBreachPredicted};
        vec![
            "catalogue.request_item.state_changed".into(),
            CapacityBreachPredicted::routing_key(),
        ]
        .into_iter()
        .chain(
            bus::cmdb::BINDINGS
                .iter()
                .chain(&bus::portfolio::BINDINGS)
                .map(|b| b.to_string()),
        )
        .collect()
    }
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        use ::events::{
            Event, analytics::CapacityBreachPredicted, catalogue::RequestItemStateChanged,
        };
        if env.event_type == RequestItemStateChanged::event_type() {
            sla::request_items::apply(&self.sla, txn, env).await
        } else if env.event_type == CapacityBreachPredicted::event_type() {
            let opener = capacity::Opener {
                db: &self.db,
                numbers: &self.numbers,
                sla: &self.sla,
            };
            capacity::apply(&opener, txn, env).await
        } else if bus::cmdb::handles(&env.event_type) {
            bus::cmdb::apply(txn, env).await
        } else {
            store::portfolio::apply(txn, env).await
        }
    }
}
