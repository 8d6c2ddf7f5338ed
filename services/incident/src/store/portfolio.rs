//! The catalogue's portfolio as projected from its events (`bus::portfolio`): an incident may
//! name only a service of its tenant that is in `transition` or `live`.
use bus::entities::portfolio_service as service;
use platform::tenancy::TenantId;
use sea_orm::{ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

pub use bus::portfolio::apply;

/// The stages in which a service takes incidents.
const TAKES_INCIDENTS: [&str; 2] = ["transition", "live"];

/// Whether `id` is a service of `tenant`, and if so whether it takes incidents.
pub async fn takes_incidents(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<bool>, DbErr> {
    Ok(find(txn, tenant, id).await?.map(|s| takes(&s)))
}

/// Service `id` of `tenant`'s portfolio, if it is one.
pub async fn find(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<service::Model>, DbErr> {
    service::Entity::find_by_id(id)
        .filter(service::Column::TenantId.eq(tenant.as_uuid()))
        .one(txn)
        .await
}

/// Whether `s` is at a stage that takes incidents.
pub fn takes(s: &service::Model) -> bool {
    TAKES_INCIDENTS.contains(&s.stage.as_str())
}
