//! Calendar feeds, and what a feed shows: the tenant's changes around now.
use chrono::{DateTime, Utc};
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entities::{calendar_feed, change};
use crate::store::changes::Change;

pub use calendar_feed::Model as Feed;

pub async fn insert(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    by: Uuid,
    name: String,
    token_hash: String,
) -> Result<Feed, DbErr> {
    calendar_feed::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant.as_uuid()),
        name: Set(name),
        token_hash: Set(token_hash),
        created_by: Set(by),
        created_at: Set(platform::record::now()),
        revoked_at: Set(None),
    }
    .insert(txn)
    .await
}

/// The tenant's feeds still in use, `by` one person or everyone's.
pub async fn list(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    by: Option<Uuid>,
) -> Result<Vec<Feed>, DbErr> {
    let mut q = calendar_feed::Entity::find()
        .filter(calendar_feed::Column::TenantId.eq(tenant.as_uuid()))
        .filter(calendar_feed::Column::RevokedAt.is_null());
    if let Some(by) = by {
        q = q.filter(calendar_feed::Column::CreatedBy.eq(by));
    }
    q.order_by_asc(calendar_feed::Column::Id)
        .limit(1000)
        .all(txn)
        .await
}

pub async fn find(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<Feed>, DbErr> {
    calendar_feed::Entity::find_by_id(id)
        .filter(calendar_feed::Column::TenantId.eq(tenant.as_uuid()))
        .filter(calendar_feed::Column::RevokedAt.is_null())
        .one(txn)
        .await
}

/// The feed with this token hash (a `LookupKey::TokenHash` transaction), if not revoked.
pub async fn by_token_hash(txn: &DatabaseTransaction, hash: &str) -> Result<Option<Feed>, DbErr> {
    calendar_feed::Entity::find()
        .filter(calendar_feed::Column::TokenHash.eq(hash))
        .filter(calendar_feed::Column::RevokedAt.is_null())
        .one(txn)
        .await
}

pub async fn revoke(txn: &DatabaseTransaction, f: Feed) -> Result<(), DbErr> {
    let mut am: calendar_feed::ActiveModel = f.into();
    am.revoked_at = Set(Some(platform::record::now()));
    am.update(txn).await?;
    Ok(())
}

/// The most changes one feed lists.
pub const FEED_LIMIT: u64 = 5_000;

/// The tenant's changes with a window ending after `since`, by start.
pub async fn changes_since(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    since: DateTime<Utc>,
) -> Result<Vec<Change>, DbErr> {
    change::Entity::find()
        .filter(change::Column::TenantId.eq(tenant.as_uuid()))
        .filter(change::Column::PlannedEnd.gt(since))
        .order_by_asc(change::Column::PlannedStart)
        .limit(FEED_LIMIT)
        .all(txn)
        .await
}
