//! The incidents changes caused, and the incidents the incident service announced (so a
//! change names only its own tenant's).
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use super::entities::{caused_incident, known_incident};

/// Records an incident the incident service announced.
pub async fn know_incident(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
    number: &str,
) -> Result<(), DbErr> {
    let row = known_incident::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant.as_uuid()),
        number: Set(number.into()),
    };
    known_incident::Entity::insert(row)
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(known_incident::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// The incident's number, if `tenant` has it.
pub async fn incident_number(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<String>, DbErr> {
    Ok(known_incident::Entity::find_by_id(id)
        .filter(known_incident::Column::TenantId.eq(tenant.as_uuid()))
        .one(txn)
        .await?
        .map(|i| i.number))
}

/// Links an incident to the change that caused it; false when it already was.
pub async fn link_incident(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    change: Uuid,
    incident: Uuid,
    by: Uuid,
) -> Result<bool, DbErr> {
    let existing = caused_incident::Entity::find_by_id((change, incident))
        .filter(caused_incident::Column::TenantId.eq(tenant.as_uuid()))
        .one(txn)
        .await?;
    if existing.is_some() {
        return Ok(false);
    }
    caused_incident::ActiveModel {
        change_id: Set(change),
        incident_id: Set(incident),
        tenant_id: Set(tenant.as_uuid()),
        linked_by: Set(by),
        linked_at: Set(platform::record::now()),
    }
    .insert(txn)
    .await?;
    Ok(true)
}

/// The incidents a change caused, oldest link first.
pub async fn caused_by(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    change: Uuid,
) -> Result<Vec<Uuid>, DbErr> {
    Ok(caused_incident::Entity::find()
        .filter(caused_incident::Column::TenantId.eq(tenant.as_uuid()))
        .filter(caused_incident::Column::ChangeId.eq(change))
        .order_by_asc(caused_incident::Column::LinkedAt)
        .all(txn)
        .await?
        .into_iter()
        .map(|r| r.incident_id)
        .collect())
}

/// How many incidents a change caused.
pub async fn caused_count(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    change: Uuid,
) -> Result<u32, DbErr> {
    let n = caused_incident::Entity::find()
        .filter(caused_incident::Column::TenantId.eq(tenant.as_uuid()))
        .filter(caused_incident::Column::ChangeId.eq(change))
        .count(txn)
        .await?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}
