//! The tenant directory the auth extractors use, read from identity's own tables.
use async_trait::async_trait;
use platform::{
    ApiError,
    ratelimit::TENANT_LIMIT_SETTING,
    tenancy::{TenantDirectory, TenantInfo, begin_scoped, inherited_limit},
};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::{
    settings,
    tenants::{self, Tenant},
};

pub struct DbDirectory {
    pub db: DatabaseConnection,
}

pub fn info(t: &Tenant) -> TenantInfo {
    TenantInfo {
        id: t.id,
        slug: t.slug.clone(),
        kind: t.kind(),
        path: t.path_ids(),
        active: t.is_active(),
        rate_limit_per_minute: None,
    }
}

#[async_trait]
impl TenantDirectory for DbDirectory {
    async fn resolve(&self, home: Uuid, key: &str) -> Result<Option<TenantInfo>, ApiError> {
        let txn = begin_scoped(&self.db, &[home]).await?;
        let found = tenants::resolve_within(&txn, home, key).await?;
        txn.commit().await?;
        let Some(mut info) = found.as_ref().map(info) else {
            return Ok(None);
        };
        // Settings are inherited: the path's overrides are visible to the tenant at its end.
        let txn = begin_scoped(&self.db, &info.path).await?;
        let overrides = settings::overrides(&txn, &info.path).await?;
        txn.commit().await?;
        info.rate_limit_per_minute = inherited_limit(&info.path, |t| {
            overrides
                .get(&(t, TENANT_LIMIT_SETTING.to_string()))
                .cloned()
        });
        Ok(Some(info))
    }

    async fn subtree(&self, root: Uuid) -> Result<Vec<Uuid>, ApiError> {
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
