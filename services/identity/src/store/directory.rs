//! The tenant directory the auth extractors use, read from identity's own tables. A tenant is
//! active only while no tenant on its path is suspended: suspending an MSP stops its customers
//! too (ADR 20).
use async_trait::async_trait;
use platform::{
    ApiError,
    ratelimit::TENANT_LIMIT_SETTING,
    tenancy::{TenantDirectory, TenantId, TenantInfo, begin_scoped, inherited_limit},
};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
};
use uuid::Uuid;

use super::{
    entities::tenant,
    settings,
    tenants::{self, Tenant},
};
use crate::domain::tenant::TenantStatus;

pub struct DbDirectory {
    pub db: DatabaseConnection,
}

/// What authorization knows about `t` from its own row; `active` is its own status only.
/// [`DbDirectory::resolve`] (and [`path_is_active`]) also take its ancestors into account.
pub fn info(t: &Tenant) -> TenantInfo {
    TenantInfo {
        id: TenantId(t.id),
        slug: t.slug.clone(),
        kind: t.kind(),
        path: TenantId::many(&t.path_ids()),
        active: t.is_active(),
        rate_limit_per_minute: None,
    }
}

#[async_trait]
impl TenantDirectory for DbDirectory {
    async fn resolve(&self, home: Uuid, key: &str) -> Result<Option<TenantInfo>, ApiError> {
        let home = TenantId(home);
        let txn = begin_scoped(&self.db, &[home]).await?;
        let found = tenants::resolve_within(&txn, home, key).await?;
        txn.commit().await?;
        let Some(mut info) = found.as_ref().map(info) else {
            return Ok(None);
        };
        // Settings are inherited: the path's overrides are visible to the tenant at its end.
        // So are the path's tenants, whose suspension reaches down to this one.
        let txn = begin_scoped(&self.db, info.lineage()).await?;
        let overrides = settings::overrides(&txn, info.lineage()).await?;
        info.active = all_active(&txn, &info.path).await?;
        txn.commit().await?;
        info.rate_limit_per_minute = inherited_limit(&info.path, |t| {
            overrides
                .get(&(t.as_uuid(), TENANT_LIMIT_SETTING.to_string()))
                .cloned()
        });
        Ok(Some(info))
    }

    async fn subtree(&self, root: Uuid) -> Result<Vec<Uuid>, ApiError> {
        let root = TenantId(root);
        let txn = begin_scoped(&self.db, &[root]).await?;
        let ids = match tenants::find_within(&txn, root, root).await? {
            Some(r) => tenants::subtree(&txn, &r, None, None)
                .await?
                .into_iter()
                .map(|t| t.id)
                .collect(),
            None => Vec::new(),
        };
        txn.commit().await?;
        Ok(ids)
    }
}

/// Whether every tenant on `path` (root first, the tenant itself last) exists and is active, in
/// a transaction that sees them (scoped to `path`). Fails closed: identity holds the whole tree,
/// so a missing tenant means the path is not a real one.
async fn all_active(txn: &DatabaseTransaction, path: &[TenantId]) -> Result<bool, DbErr> {
    let rows = tenant::Entity::find()
        .filter(tenant::Column::Id.is_in(path.iter().copied()))
        .all(txn)
        .await?;
    Ok(!path.is_empty()
        && path.iter().all(|id| {
            rows.iter()
                .any(|t| t.id == id.as_uuid() && t.status == TenantStatus::Active.as_str())
        }))
}

/// Whether `tenant` and every tenant above it are active, read in `txn` (which this scopes to
/// the tenant's path, so later statements in it see the path's rows).
pub async fn active_along(txn: &DatabaseTransaction, tenant: &Tenant) -> Result<bool, DbErr> {
    let path = TenantId::many(&tenant.path_ids());
    platform::tenancy::scope_to(txn, &path).await?;
    all_active(txn, &path).await
}

/// Whether the tenant at the end of `path` may act: it and every tenant above it are active.
/// For checks outside the auth extractors (sign-in, token refresh, client credentials).
pub async fn path_is_active(db: &DatabaseConnection, path: &[Uuid]) -> Result<bool, DbErr> {
    let path = TenantId::many(path);
    let txn = begin_scoped(db, &path).await?;
    let active = all_active(&txn, &path).await?;
    txn.commit().await?;
    Ok(active)
}
