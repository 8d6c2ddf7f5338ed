//! The tenant directory the auth extractors use, read from identity's own tables.
use async_trait::async_trait;
use platform::{
    ApiError,
    tenancy::{TenantDirectory, TenantInfo, begin_scoped},
};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::tenants::{self, Tenant};

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
    }
}

#[async_trait]
impl TenantDirectory for DbDirectory {
    async fn resolve(&self, home: Uuid, key: &str) -> Result<Option<TenantInfo>, ApiError> {
        let txn = begin_scoped(&self.db, &[home]).await?;
        let found = tenants::resolve_within(&txn, home, key).await?;
        txn.commit().await?;
        Ok(found.as_ref().map(info))
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
