//! Assignment groups and their members.
use platform::auth::UserId;
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};
use uuid::Uuid;

use super::entities::{
    group::{self, Column, Entity},
    group_member,
};

pub use group::Model as Group;

pub async fn find(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<Group>, DbErr> {
    Entity::find_by_id(id)
        .filter(Column::TenantId.eq(tenant))
        .one(txn)
        .await
}

pub async fn list(
    txn: &DatabaseTransaction,
    tenants: &[TenantId],
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Group>, DbErr> {
    super::keyset(
        super::within(Entity::find(), Column::TenantId, txn, tenants),
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
    description: &str,
) -> Result<Group, DbErr> {
    let now = super::now();
    group::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant.into()),
        name: Set(name.to_string()),
        description: Set(description.to_string()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(txn)
    .await
}

pub async fn members(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    group: Uuid,
) -> Result<Vec<Uuid>, DbErr> {
    Ok(group_member::Entity::find()
        .filter(group_member::Column::TenantId.eq(tenant))
        .filter(group_member::Column::GroupId.eq(group))
        .order_by_asc(group_member::Column::UserId)
        .all(txn)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect())
}

/// The members of each of `groups` (one query for a whole page).
pub async fn members_of(
    txn: &DatabaseTransaction,
    groups: &[Group],
) -> Result<std::collections::HashMap<Uuid, Vec<Uuid>>, DbErr> {
    let mut map: std::collections::HashMap<Uuid, Vec<Uuid>> =
        groups.iter().map(|g| (g.id, Vec::new())).collect();
    let rows = group_member::Entity::find()
        .filter(group_member::Column::TenantId.is_in(groups.iter().map(|g| g.tenant_id)))
        .filter(group_member::Column::GroupId.is_in(groups.iter().map(|g| g.id)))
        .order_by_asc(group_member::Column::UserId)
        .all(txn)
        .await?;
    for row in rows {
        if let Some(members) = map.get_mut(&row.group_id) {
            members.push(row.user_id);
        }
    }
    Ok(map)
}

/// Adds a member; returns false if already a member.
pub async fn add_member(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    group: Uuid,
    user: UserId,
) -> Result<bool, DbErr> {
    let exists = group_member::Entity::find_by_id((tenant.as_uuid(), group, user.as_uuid()))
        .one(txn)
        .await?
        .is_some();
    if exists {
        return Ok(false);
    }
    group_member::Entity::insert(group_member::ActiveModel {
        tenant_id: Set(tenant.into()),
        group_id: Set(group),
        user_id: Set(user.into()),
        created_at: Set(super::now()),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(true)
}

/// Removes a member; returns false if it was not one.
pub async fn remove_member(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    group: Uuid,
    user: UserId,
) -> Result<bool, DbErr> {
    let res = group_member::Entity::delete_many()
        .filter(group_member::Column::TenantId.eq(tenant))
        .filter(group_member::Column::GroupId.eq(group))
        .filter(group_member::Column::UserId.eq(user))
        .exec(txn)
        .await?;
    Ok(res.rows_affected > 0)
}

/// Bumps `updated_at`: the group aggregate has a new version.
pub async fn touch(txn: &DatabaseTransaction, g: Group) -> Result<Group, DbErr> {
    let mut am: group::ActiveModel = g.into();
    am.updated_at = sea_orm::ActiveValue::Set(super::now());
    am.update(txn).await
}
