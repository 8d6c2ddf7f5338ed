//! Tenants' overrides of the items they inherit.
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction,
    DbErr, EntityTrait, QueryFilter,
};
use uuid::Uuid;

use super::{
    entities::item_override,
    json::{from_json_opt, to_json_opt},
};
use crate::domain::effective::Override;

pub type ItemOverride = item_override::Model;

impl item_override::Model {
    /// The override as the effective catalogue reads it.
    pub fn parsed(&self) -> Result<Override, DbErr> {
        let approval_policy = from_json_opt(
            "item_overrides",
            "approval_policy",
            self.id,
            self.approval_policy.as_ref(),
        )?;
        Ok(Override {
            tenant_id: self.tenant_id,
            hidden: self.hidden,
            name: self.name.clone(),
            approval_policy,
            price_amount: self.price_amount.clone(),
        })
    }
}

pub async fn find(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    item: Uuid,
) -> Result<Option<ItemOverride>, DbErr> {
    item_override::Entity::find()
        .filter(item_override::Column::TenantId.eq(tenant.as_uuid()))
        .filter(item_override::Column::ItemId.eq(item))
        .one(txn)
        .await
}

/// Sets `tenant`'s override of `item` to `o` (its fields; `tenant_id` is `tenant`'s).
pub async fn put(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    item: Uuid,
    o: Override,
) -> Result<ItemOverride, DbErr> {
    let policy = to_json_opt(o.approval_policy.as_ref())?;
    let existing = find(txn, tenant, item).await?;
    let insert = existing.is_none();
    let mut am = match existing {
        Some(existing) => existing.into(),
        None => item_override::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            item_id: Set(item),
            ..item_override::ActiveModel::new()
        },
    };
    am.hidden = Set(o.hidden);
    am.name = Set(o.name);
    am.approval_policy = Set(policy);
    am.price_amount = Set(o.price_amount);
    if insert {
        am.insert(txn).await
    } else {
        am.update(txn).await
    }
}

pub async fn delete(txn: &DatabaseTransaction, o: ItemOverride) -> Result<(), DbErr> {
    item_override::Entity::delete_by_id(o.id).exec(txn).await?;
    Ok(())
}

/// The overrides that `tenants` (a lineage) made of `items`.
pub async fn of_items(
    txn: &DatabaseTransaction,
    tenants: &[TenantId],
    items: &[Uuid],
) -> Result<Vec<ItemOverride>, DbErr> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    item_override::Entity::find()
        .filter(item_override::Column::TenantId.is_in(tenants.iter().map(|t| t.as_uuid())))
        .filter(item_override::Column::ItemId.is_in(items.iter().copied()))
        .all(txn)
        .await
}
