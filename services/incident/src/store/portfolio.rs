//! The catalogue's portfolio, projected from its events: an incident may name only a service
//! of its tenant that is in `transition` or `live`.
use bus::{Envelope, HandlerError};
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

use super::entities::portfolio_service as service;

/// The stages in which a service takes incidents.
const TAKES_INCIDENTS: [&str; 2] = ["transition", "live"];

/// Applies one of the catalogue's service events; older versions change nothing.
pub async fn apply(txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
    bus::versions::check_lead(env)?;
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
        Some(row) if !bus::versions::supersedes(row.version, v) => {}
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

/// Whether `id` is a service of `tenant`, and if so whether it takes incidents.
pub async fn takes_incidents(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<bool>, DbErr> {
    Ok(service::Entity::find_by_id(id)
        .filter(service::Column::TenantId.eq(tenant.as_uuid()))
        .one(txn)
        .await?
        .map(|s| TAKES_INCIDENTS.contains(&s.stage.as_str())))
}
