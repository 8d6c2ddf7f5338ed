//! Change enablement: changes of three types moving through their lifecycles, checked on
//! every write, and their impact on the CMDB graph the catalogue announces.
//!
//! `domain` holds the lifecycle and the checks (no I/O); `routes` the thin HTTP handlers;
//! `store` the tables; `events` what the service publishes. Identity's tenant tree, users and
//! groups and the catalogue's CIs and relationships arrive as events (`bus::people`,
//! `bus::cmdb`), so a change names only CIs its tenant sees without calling the catalogue.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod domain;
pub mod events;
pub mod migration;
pub mod routes;
pub mod seed;
pub mod service;
pub mod store;
pub mod workers;

use std::sync::Arc;

use ::events::{
    Event as _,
    catalogue::{ApprovalDelegationCreated, ApprovalDelegationRevoked},
    incident::IncidentCreated,
};
use bus::{ConsumerRunner, Envelope, Handler, HandlerError, people::IdentityProjection};
use platform::{
    auth::{AuthContext, KeySource},
    db::{self, DbSetupError, Target},
    numbers::Numbers,
    settings::Settings,
};
use sea_orm::{DatabaseConnection, DatabaseTransaction};

pub use service::SERVICE;

pub const SCHEMA: &str = "change";
/// The queue (RabbitMQ) / consumer name of this service.
pub const CONSUMER: &str = "change";

pub struct ChangeService {
    pub db: DatabaseConnection,
    pub auth: AuthContext,
    pub identity: IdentityProjection,
    pub numbers: Arc<Numbers>,
}

impl ChangeService {
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
            numbers: Arc::default(),
            db,
            auth,
            identity,
        })
    }

    /// This service's consumer: identity's events and the catalogue's CMDB.
    pub fn consumer(&self) -> Arc<ConsumerRunner> {
        self.identity.consumer_with(Some(Arc::new(Upstream)))
    }
}

/// What other services announce that changes are checked against: the catalogue's CIs,
/// grants and relationships (the graph), and the incident service's incidents (which a change
/// may be found to have caused), and approvers' delegations.
struct Upstream;

#[async_trait::async_trait]
impl Handler for Upstream {
    fn consumer(&self) -> &'static str {
        CONSUMER
    }
    fn bindings(&self) -> Vec<String> {
        let mut bindings: Vec<String> = bus::cmdb::BINDINGS.iter().map(|b| b.to_string()).collect();
        bindings.push("incident.incident.created".into());
        bindings.push("catalogue.approval_delegation.*".into());
        bindings
    }
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        let tenant = platform::tenancy::TenantId(env.tenantid);
        if bus::cmdb::handles(&env.event_type) {
            graph_event(txn, env).await
        } else if env.event_type == IncidentCreated::event_type() {
            let created: IncidentCreated = env.payload()?;
            store::incidents::know_incident(txn, tenant, created.incident_id, &created.number)
                .await?;
            Ok(())
        } else if env.event_type == ApprovalDelegationCreated::event_type() {
            let d: ApprovalDelegationCreated = env.payload()?;
            Ok(store::cab::delegation_given(txn, tenant, &d).await?)
        } else if env.event_type == ApprovalDelegationRevoked::event_type() {
            let d: ApprovalDelegationRevoked = env.payload()?;
            Ok(store::cab::delegation_revoked(txn, tenant, &d).await?)
        } else {
            Err(HandlerError::UnknownType(env.event_type.clone()))
        }
    }
}

/// Applies a CMDB event, and has the changes it may bring within reach of each other (or take
/// out of it) re-checked: those naming a CI within two relationships of a relationship's ends,
/// found before a deletion and after a creation.
async fn graph_event(txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
    use ::events::catalogue::{CiRelationshipCreated, CiRelationshipDeleted};
    let tenant = platform::tenancy::TenantId(env.tenantid);
    let deleted = env.event_type == CiRelationshipDeleted::event_type();
    let ends = if deleted {
        let d: CiRelationshipDeleted = env.payload()?;
        Some([d.source_id, d.target_id])
    } else if env.event_type == CiRelationshipCreated::event_type() {
        let c: CiRelationshipCreated = env.payload()?;
        Some([c.source_id, c.target_id])
    } else {
        None
    };
    let depth = domain::conflict::RELATED_DEPTH;
    let before = match ends {
        Some(ends) if deleted => bus::cmdb::around(txn, tenant, &ends, depth).await?,
        _ => Default::default(),
    };
    bus::cmdb::apply(txn, env).await?;
    let near: Vec<uuid::Uuid> = match ends {
        Some(_) if deleted => before.into_keys().collect(),
        Some(ends) => bus::cmdb::around(txn, tenant, &ends, depth)
            .await?
            .into_keys()
            .collect(),
        None => return Ok(()),
    };
    Ok(workers::graph_changed(txn, tenant, &near).await?)
}
