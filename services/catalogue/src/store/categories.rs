//! The catalogue's categories, a tree per tenant.
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction,
    DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entities::category;
use crate::domain::category::{CategoryChanges, MAX_DEPTH, NewCategory};

pub type Category = category::Model;

pub async fn insert(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    new: NewCategory,
) -> Result<Category, DbErr> {
    category::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        parent_id: Set(new.parent_id),
        name: Set(new.name),
        description: Set(new.description),
        ..category::ActiveModel::new()
    }
    .insert(txn)
    .await
}

pub async fn find(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<Category>, DbErr> {
    category::Entity::find_by_id(id)
        .filter(category::Column::TenantId.eq(tenant.as_uuid()))
        .one(txn)
        .await
}

/// Whether a sibling under `parent` (the top when `None`) is called `name`.
pub async fn name_taken(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    parent: Option<Uuid>,
    name: &str,
    except: Option<Uuid>,
) -> Result<bool, DbErr> {
    let mut q = category::Entity::find()
        .filter(category::Column::TenantId.eq(tenant.as_uuid()))
        .filter(category::Column::Name.eq(name));
    q = match parent {
        Some(p) => q.filter(category::Column::ParentId.eq(p)),
        None => q.filter(category::Column::ParentId.is_null()),
    };
    if let Some(id) = except {
        q = q.filter(category::Column::Id.ne(id));
    }
    Ok(q.one(txn).await?.is_some())
}

/// `id` and its ancestors, from `id` up to the top (at most one more than the tree's depth,
/// so a stored cycle cannot loop).
pub async fn ancestry(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Vec<Uuid>, DbErr> {
    let mut out = Vec::new();
    let mut next = Some(id);
    while let Some(at) = next {
        if out.len() > MAX_DEPTH || out.contains(&at) {
            break;
        }
        out.push(at);
        next = find(txn, tenant, at).await?.and_then(|c| c.parent_id);
    }
    Ok(out)
}

/// How many levels the subtree under `id` has (0 for a leaf), counted up to the tree's depth.
pub async fn height(txn: &DatabaseTransaction, tenant: TenantId, id: Uuid) -> Result<usize, DbErr> {
    let mut level = vec![id];
    let mut height = 0;
    while height <= MAX_DEPTH {
        let children: Vec<Uuid> = category::Entity::find()
            .filter(category::Column::TenantId.eq(tenant.as_uuid()))
            .filter(category::Column::ParentId.is_in(level))
            .all(txn)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect();
        if children.is_empty() {
            break;
        }
        height += 1;
        level = children;
    }
    Ok(height)
}

/// Up to `limit` categories of `tenant` after `after`, in id order; with `parent`, only its
/// children (`Some(None)`: the top level).
pub async fn list(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    parent: Option<Option<Uuid>>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Category>, DbErr> {
    let mut q = category::Entity::find().filter(category::Column::TenantId.eq(tenant.as_uuid()));
    q = match parent {
        Some(Some(p)) => q.filter(category::Column::ParentId.eq(p)),
        Some(None) => q.filter(category::Column::ParentId.is_null()),
        None => q,
    };
    if let Some(after) = after {
        q = q.filter(category::Column::Id.gt(after));
    }
    q.order_by_asc(category::Column::Id)
        .limit(limit)
        .all(txn)
        .await
}

pub async fn change(
    txn: &DatabaseTransaction,
    c: Category,
    changes: CategoryChanges,
) -> Result<Category, DbErr> {
    let mut am: category::ActiveModel = c.into();
    if let Some(name) = changes.name {
        am.name = Set(name);
    }
    if let Some(description) = changes.description {
        am.description = Set(description);
    }
    if let Some(parent) = changes.parent_id {
        am.parent_id = Set(parent);
    }
    am.update(txn).await
}
