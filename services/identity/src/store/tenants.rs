//! Tenants. Visibility follows the tree: a transaction scoped to tenant T sees T and every
//! tenant below it (the RLS policy on `tenants` matches any id on the row's path).
use platform::tenancy::{TenantId, TenantKind};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entities::tenant::{self, Column, Entity, Model};
use crate::domain::tenant::{TenantStatus, child_path, parse_path};

pub use tenant::Model as Tenant;

impl Model {
    pub fn kind(&self) -> TenantKind {
        TenantKind::parse(&self.kind).unwrap_or(TenantKind::Customer)
    }
    pub fn path_ids(&self) -> Vec<Uuid> {
        parse_path(&self.path)
    }
    pub fn is_active(&self) -> bool {
        self.status == TenantStatus::Active.as_str()
    }
    /// Whether this tenant is `ancestor` or below it.
    pub fn is_within(&self, ancestor: Uuid) -> bool {
        self.path_ids().contains(&ancestor)
    }
}

/// Finds `id` if it lies within `root`'s subtree.
pub async fn find_within(
    txn: &DatabaseTransaction,
    root: TenantId,
    id: TenantId,
) -> Result<Option<Tenant>, DbErr> {
    Ok(Entity::find_by_id(id)
        .one(txn)
        .await?
        .filter(|t| t.is_within(root.as_uuid())))
}

/// Finds the tenant with id or slug `key` if it lies within `root`'s subtree.
pub async fn resolve_within(
    txn: &DatabaseTransaction,
    root: TenantId,
    key: &str,
) -> Result<Option<Tenant>, DbErr> {
    let cond = match Uuid::parse_str(key) {
        Ok(id) => Condition::any().add(Column::Id.eq(id)),
        // Anything that cannot be a slug names no tenant (and never reaches the database).
        Err(_) if platform::validate::Slug::parse("", key).is_err() => return Ok(None),
        Err(_) => Condition::any().add(Column::Slug.eq(key)),
    };
    Ok(Entity::find()
        .filter(cond)
        .one(txn)
        .await?
        .filter(|t| t.is_within(root.as_uuid())))
}

/// `root` and its descendants, ordered by id, after `after`, at most `limit`.
pub async fn subtree(
    txn: &DatabaseTransaction,
    root: &Tenant,
    after: Option<Uuid>,
    limit: Option<u64>,
) -> Result<Vec<Tenant>, DbErr> {
    let mut q = Entity::find().filter(
        Condition::any()
            .add(Column::Id.eq(root.id))
            .add(Column::Path.starts_with(format!("{}/", root.path))),
    );
    if let Some(after) = after {
        q = q.filter(Column::Id.gt(after));
    }
    if let Some(limit) = limit {
        q = q.limit(limit);
    }
    q.order_by_asc(Column::Id).all(txn).await
}

pub struct NewTenant<'a> {
    pub id: Uuid,
    pub parent: &'a Tenant,
    pub name: String,
    pub slug: String,
    pub kind: TenantKind,
}

pub async fn insert(txn: &DatabaseTransaction, new: NewTenant<'_>) -> Result<Tenant, DbErr> {
    let now = super::now();
    tenant::ActiveModel {
        id: Set(new.id),
        parent_id: Set(Some(new.parent.id)),
        path: Set(child_path(&new.parent.path, new.id)),
        kind: Set(new.kind.as_str().to_string()),
        name: Set(new.name),
        slug: Set(new.slug),
        status: Set(TenantStatus::Active.as_str().to_string()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(txn)
    .await
}

/// Creates the root (platform operator) tenant; only seeding does this.
pub async fn insert_root(
    txn: &DatabaseTransaction,
    id: Uuid,
    name: &str,
    slug: &str,
) -> Result<Tenant, DbErr> {
    let now = super::now();
    tenant::ActiveModel {
        id: Set(id),
        parent_id: Set(None),
        path: Set(id.to_string()),
        kind: Set(TenantKind::Platform.as_str().to_string()),
        name: Set(name.to_string()),
        slug: Set(slug.to_string()),
        status: Set(TenantStatus::Active.as_str().to_string()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(txn)
    .await
}

pub async fn find_by_slug(txn: &DatabaseTransaction, slug: &str) -> Result<Option<Tenant>, DbErr> {
    Entity::find().filter(Column::Slug.eq(slug)).one(txn).await
}

pub async fn set_status(
    txn: &DatabaseTransaction,
    t: Tenant,
    status: TenantStatus,
) -> Result<Tenant, DbErr> {
    let mut am: tenant::ActiveModel = t.into();
    am.status = Set(status.as_str().to_string());
    am.updated_at = Set(super::now());
    am.update(txn).await
}

/// Bumps `updated_at`: the tenant aggregate has a new version.
pub async fn touch(txn: &DatabaseTransaction, t: Tenant) -> Result<Tenant, DbErr> {
    let mut am: tenant::ActiveModel = t.into();
    am.updated_at = Set(super::now());
    am.update(txn).await
}
