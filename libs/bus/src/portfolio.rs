//! The catalogue's portfolio as other services project it from its events (incident: which
//! services an incident may name; analytics: which services capacity samples may be about).
//! The table comes from `migration::create_portfolio_projection`.
use events::{
    Event,
    catalogue::{ServiceCreated, ServiceStageChanged, ServiceUpdated},
};
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter,
};
use uuid::Uuid;

use crate::{Envelope, HandlerError, entities::portfolio_service as service};

/// The routing keys of the catalogue's service events.
pub const BINDINGS: [&str; 1] = ["catalogue.service.*"];

/// Whether `event_type` is one [`apply`] takes.
pub fn handles(event_type: &str) -> bool {
    event_type.starts_with("itsm.catalogue.service.")
}

/// Applies one of the catalogue's service events; older versions change nothing.
pub async fn apply(txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
    crate::versions::check_lead(env)?;
    let t = env.event_type.as_str();
    let tenant = env.tenantid;
    let v = env.aggregateversion;
    let (id, name, stage) = if t == ServiceCreated::event_type() {
        let e: ServiceCreated = env.payload()?;
        (e.service_id, Some(e.name), Some(e.stage))
    } else if t == ServiceUpdated::event_type() {
        let e: ServiceUpdated = env.payload()?;
        (e.service_id, Some(e.name), None)
    } else if t == ServiceStageChanged::event_type() {
        let e: ServiceStageChanged = env.payload()?;
        (e.service_id, None, Some(e.to))
    } else {
        return Err(HandlerError::UnknownType(env.event_type.clone()));
    };
    let existing = service::Entity::find_by_id(id)
        .filter(service::Column::TenantId.eq(tenant))
        .one(txn)
        .await?;
    match existing {
        Some(row) if !crate::versions::supersedes(row.version, v) => {}
        Some(row) => {
            let mut am: service::ActiveModel = row.into();
            if let Some(name) = name {
                am.name = Set(name);
            }
            if let Some(stage) = stage {
                am.stage = Set(stage);
            }
            am.version = Set(v);
            am.update(txn).await?;
        }
        None => {
            service::ActiveModel {
                id: Set(id),
                tenant_id: Set(tenant),
                name: Set(name.unwrap_or_default()),
                stage: Set(stage.unwrap_or_else(|| "strategy".into())),
                version: Set(v),
            }
            .insert(txn)
            .await?;
        }
    }
    Ok(())
}

/// The name of `tenant`'s service `id`, if the tenant has it.
pub async fn name_of(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<String>, DbErr> {
    Ok(service::Entity::find_by_id(id)
        .filter(service::Column::TenantId.eq(tenant.as_uuid()))
        .one(txn)
        .await?
        .map(|s| s.name))
}
