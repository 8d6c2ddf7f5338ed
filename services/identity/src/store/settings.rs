//! Stored setting overrides per tenant.
use std::collections::HashMap;

use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    sea_query::OnConflict,
};
use serde_json::Value;
use uuid::Uuid;

use super::entities::tenant_setting::{self, Column, Entity};

/// Every override stored by any of `tenants`.
pub async fn overrides(
    txn: &DatabaseTransaction,
    tenants: &[Uuid],
) -> Result<HashMap<(Uuid, String), Value>, DbErr> {
    let rows = Entity::find()
        .filter(Column::TenantId.is_in(tenants.iter().copied()))
        .all(txn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| ((r.tenant_id, r.key), r.value))
        .collect())
}

/// Sets (`Some`) or clears (`None`) one override of `tenant`.
pub async fn put(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    key: &str,
    value: Option<Value>,
) -> Result<(), DbErr> {
    match value {
        None => {
            Entity::delete_many()
                .filter(Column::TenantId.eq(tenant))
                .filter(Column::Key.eq(key))
                .exec(txn)
                .await?;
        }
        Some(value) => {
            Entity::insert(tenant_setting::ActiveModel {
                tenant_id: Set(tenant),
                key: Set(key.to_string()),
                value: Set(value),
                updated_at: Set(super::now()),
            })
            .on_conflict(
                OnConflict::columns([Column::TenantId, Column::Key])
                    .update_columns([Column::Value, Column::UpdatedAt])
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
        }
    }
    Ok(())
}
