//! API clients (OAuth 2.0 client credentials). Secrets are argon2id-hashed and shown once.
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter,
};
use uuid::Uuid;

use super::entities::api_client::{self, Column, Entity};

pub use api_client::Model as ApiClient;

pub const ACTIVE: &str = "active";
pub const REVOKED: &str = "revoked";

pub async fn find(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<ApiClient>, DbErr> {
    Entity::find_by_id(id)
        .filter(Column::TenantId.eq(tenant))
        .one(txn)
        .await
}

/// Token-endpoint lookup (a `LookupKey::ClientId` transaction).
pub async fn find_for_grant(
    txn: &DatabaseTransaction,
    id: Uuid,
) -> Result<Option<ApiClient>, DbErr> {
    Entity::find_by_id(id).one(txn).await
}

pub async fn list(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<ApiClient>, DbErr> {
    super::keyset(
        Entity::find().filter(Column::TenantId.eq(tenant)),
        Column::Id,
        after,
        limit,
    )
    .all(txn)
    .await
}

pub async fn insert(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    name: &str,
    scopes: &[String],
    secret_hash: String,
    created_by: Uuid,
) -> Result<ApiClient, DbErr> {
    let now = super::now();
    api_client::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant.into()),
        name: Set(name.to_string()),
        scopes: Set(scopes.join(" ")),
        secret_hash: Set(secret_hash),
        status: Set(ACTIVE.to_string()),
        created_by: Set(created_by),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(txn)
    .await
}

pub async fn update(
    txn: &DatabaseTransaction,
    client: ApiClient,
    change: impl FnOnce(&mut api_client::ActiveModel),
) -> Result<ApiClient, DbErr> {
    let mut am: api_client::ActiveModel = client.into();
    change(&mut am);
    am.updated_at = Set(super::now());
    am.update(txn).await
}
