//! Catalogue items.
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction,
    DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{
    entities::item,
    json::{from_json, from_json_opt, to_json, to_json_opt},
};
use crate::domain::item::{
    ApprovalPolicy, Availability, FulfilmentPlan, ItemChanges, ItemState, NewItem,
};

pub type Item = item::Model;

impl item::Model {
    pub fn availability(&self) -> Result<Availability, DbErr> {
        from_json("items", "availability", self.id, &self.availability)
    }
    pub fn approval_policy(&self) -> Result<Option<ApprovalPolicy>, DbErr> {
        from_json_opt(
            "items",
            "approval_policy",
            self.id,
            self.approval_policy.as_ref(),
        )
    }
    pub fn fulfilment_plan(&self) -> Result<FulfilmentPlan, DbErr> {
        from_json("items", "fulfilment_plan", self.id, &self.fulfilment_plan)
    }
}

pub async fn insert(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    new: NewItem,
) -> Result<Item, DbErr> {
    item::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        key: Set(new.key),
        name: Set(new.name),
        description: Set(new.description),
        service_id: Set(new.service_id),
        offering_id: Set(new.offering_id),
        category_id: Set(new.category_id),
        state: Set(ItemState::Draft),
        form_schema: Set(new.form.schema),
        price_amount: Set(new.price_amount),
        currency: Set(new.currency),
        cost_amount: Set(new.cost_amount),
        max_quantity: Set(new.max_quantity),
        availability: Set(to_json(&new.availability)?),
        approval_policy: Set(to_json_opt(new.approval_policy.as_ref())?),
        fulfilment_plan: Set(to_json(&new.fulfilment_plan)?),
        ..item::ActiveModel::new()
    }
    .insert(txn)
    .await
}

pub async fn find(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<Item>, DbErr> {
    item::Entity::find_by_id(id)
        .filter(item::Column::TenantId.eq(tenant.as_uuid()))
        .one(txn)
        .await
}

/// The item of `tenant` keyed `key`.
pub async fn find_by_key(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    key: &str,
) -> Result<Option<Item>, DbErr> {
    item::Entity::find()
        .filter(item::Column::TenantId.eq(tenant.as_uuid()))
        .filter(item::Column::Key.eq(key))
        .one(txn)
        .await
}

/// Which items a list keeps.
#[derive(Debug, Default, Clone)]
pub struct ItemFilter {
    pub state: Option<ItemState>,
    pub service_id: Option<Uuid>,
    pub category_id: Option<Uuid>,
}

/// Up to `limit` items of `tenant` after `after`, in id order.
pub async fn list(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    filter: &ItemFilter,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Item>, DbErr> {
    let mut q = item::Entity::find().filter(item::Column::TenantId.eq(tenant.as_uuid()));
    if let Some(state) = filter.state {
        q = q.filter(item::Column::State.eq(state));
    }
    if let Some(service) = filter.service_id {
        q = q.filter(item::Column::ServiceId.eq(service));
    }
    if let Some(category) = filter.category_id {
        q = q.filter(item::Column::CategoryId.eq(category));
    }
    if let Some(after) = after {
        q = q.filter(item::Column::Id.gt(after));
    }
    q.order_by_asc(item::Column::Id).limit(limit).all(txn).await
}

pub async fn change(
    txn: &DatabaseTransaction,
    i: Item,
    changes: ItemChanges,
) -> Result<Item, DbErr> {
    let mut am: item::ActiveModel = i.into();
    if let Some(name) = changes.name {
        am.name = Set(name);
    }
    if let Some(description) = changes.description {
        am.description = Set(description);
    }
    if let Some(category) = changes.category_id {
        am.category_id = Set(category);
    }
    if let Some(form) = changes.form {
        am.form_schema = Set(form.schema);
    }
    if let Some(price) = changes.price_amount {
        am.price_amount = Set(price);
    }
    if let Some(currency) = changes.currency {
        am.currency = Set(currency);
    }
    if let Some(cost) = changes.cost_amount {
        am.cost_amount = Set(cost);
    }
    if let Some(max) = changes.max_quantity {
        am.max_quantity = Set(max);
    }
    if let Some(availability) = changes.availability {
        am.availability = Set(to_json(&availability)?);
    }
    if let Some(policy) = changes.approval_policy {
        am.approval_policy = Set(to_json_opt(policy.as_ref())?);
    }
    if let Some(plan) = changes.fulfilment_plan {
        am.fulfilment_plan = Set(to_json(&plan)?);
    }
    am.update(txn).await
}

pub async fn set_state(txn: &DatabaseTransaction, i: Item, to: ItemState) -> Result<Item, DbErr> {
    let mut am: item::ActiveModel = i.into();
    am.state = Set(to);
    am.update(txn).await
}

/// How many published items `service` has.
pub async fn published_count(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    service: Uuid,
) -> Result<u64, DbErr> {
    item::Entity::find()
        .filter(item::Column::TenantId.eq(tenant.as_uuid()))
        .filter(item::Column::ServiceId.eq(service))
        .filter(item::Column::State.eq(ItemState::Published))
        .count(txn)
        .await
}

/// An item of one of `tenants` (the acting tenant's lineage): its own or one it inherits.
pub async fn find_in(
    txn: &DatabaseTransaction,
    tenants: &[TenantId],
    id: Uuid,
) -> Result<Option<Item>, DbErr> {
    item::Entity::find_by_id(id)
        .filter(item::Column::TenantId.is_in(tenants.iter().map(|t| t.as_uuid())))
        .one(txn)
        .await
}

/// Up to `limit` published items of `tenants` (a lineage) after `after`, in id order. One
/// ordered index range per tenant, merged here: a single `tenant_id IN (…) ORDER BY id` would
/// read and sort every published item of the lineage to return the first few, so a page would
/// cost more as a provider's catalogue grows.
pub async fn published_in(
    txn: &DatabaseTransaction,
    tenants: &[TenantId],
    category: Option<Uuid>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Item>, DbErr> {
    let mut all = Vec::new();
    for tenant in tenants {
        let mut q = item::Entity::find()
            .filter(item::Column::TenantId.eq(tenant.as_uuid()))
            .filter(item::Column::State.eq(ItemState::Published));
        if let Some(category) = category {
            q = q.filter(item::Column::CategoryId.eq(category));
        }
        if let Some(after) = after {
            q = q.filter(item::Column::Id.gt(after));
        }
        all.extend(
            q.order_by_asc(item::Column::Id)
                .limit(limit)
                .all(txn)
                .await?,
        );
    }
    all.sort_by_key(|i| i.id);
    all.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(all)
}
