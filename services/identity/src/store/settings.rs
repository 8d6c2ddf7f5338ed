//! Stored setting overrides per tenant.
use std::collections::HashMap;

use platform::tenancy::TenantId;
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
    tenants: &[TenantId],
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
    tenant: TenantId,
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
                tenant_id: Set(tenant.into()),
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

/// The effective value of one setting for `tenant` (its own override, an ancestor's, or the
/// default). Leaves the transaction scoped to `tenant` alone.
pub async fn effective_value(
    txn: &DatabaseTransaction,
    tenant: &super::tenants::Tenant,
    key: &str,
) -> Result<Value, DbErr> {
    let path = tenant.path_ids();
    let scope = TenantId::many(&path);
    platform::tenancy::scope_to(txn, &scope).await?;
    let stored = overrides(txn, &scope).await?;
    platform::tenancy::scope_to(txn, &[TenantId(tenant.id)]).await?;
    let deployment = crate::domain::settings::Deployment::default();
    Ok(
        crate::domain::settings::effective(&path, &stored, &deployment)
            .into_iter()
            .find(|s| s.key == key)
            .map(|s| s.value)
            .unwrap_or(Value::Null),
    )
}

/// The tenant's minimum password length.
pub async fn password_min_length(
    txn: &DatabaseTransaction,
    tenant: &super::tenants::Tenant,
) -> Result<usize, DbErr> {
    let v = effective_value(txn, tenant, "password_min_length").await?;
    Ok(v.as_u64().unwrap_or(0) as usize)
}
