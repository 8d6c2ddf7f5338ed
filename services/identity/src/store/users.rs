//! Users and their roles.
use platform::auth::{Role, UserId};
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter,
};
use uuid::Uuid;

use super::entities::{
    user::{self, Column, Entity},
    user_role,
};

pub use user::Model as User;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    /// Invited, no password yet.
    Invited,
    Active,
    Deactivated,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Invited => "invited",
            UserStatus::Active => "active",
            UserStatus::Deactivated => "deactivated",
        }
    }
}

pub async fn find(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: UserId,
) -> Result<Option<User>, DbErr> {
    Entity::find_by_id(id)
        .filter(Column::TenantId.eq(tenant))
        .one(txn)
        .await
}

/// The user `id` if it belongs to one of `tenants` (the transaction scoped to them), e.g. the
/// creator of an API client, who may be a provider's user acting in the client's tenant.
pub async fn find_in(
    txn: &DatabaseTransaction,
    tenants: &[TenantId],
    id: UserId,
) -> Result<Option<User>, DbErr> {
    Entity::find_by_id(id)
        .filter(Column::TenantId.is_in(tenants.iter().copied()))
        .one(txn)
        .await
}

/// Login lookup: the transaction must be a `LookupKey::Email` one (or scoped).
pub async fn find_by_email(txn: &DatabaseTransaction, email: &str) -> Result<Option<User>, DbErr> {
    Entity::find()
        .filter(Column::Email.eq(email))
        .one(txn)
        .await
}

pub async fn list(
    txn: &DatabaseTransaction,
    tenants: &[TenantId],
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<User>, DbErr> {
    super::keyset(
        super::within(Entity::find(), Column::TenantId, txn, tenants),
        Column::Id,
        after,
        limit,
    )
    .all(txn)
    .await
}

pub async fn insert_invited(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    email: &str,
    display_name: &str,
) -> Result<User, DbErr> {
    let now = super::now();
    user::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant.into()),
        email: Set(email.to_string()),
        display_name: Set(display_name.to_string()),
        password_hash: Set(None),
        status: Set(UserStatus::Invited.as_str().to_string()),
        manager_id: Set(None),
        failed_logins: Set(0),
        locked_until: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(txn)
    .await
}

/// Applies `change` to the user row and bumps `updated_at`.
pub async fn update(
    txn: &DatabaseTransaction,
    user: User,
    change: impl FnOnce(&mut user::ActiveModel),
) -> Result<User, DbErr> {
    let mut am: user::ActiveModel = user.into();
    change(&mut am);
    am.updated_at = Set(super::now());
    am.update(txn).await
}

pub async fn roles(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    user: UserId,
) -> Result<Vec<Role>, DbErr> {
    let mut roles: Vec<Role> = user_role::Entity::find()
        .filter(user_role::Column::TenantId.eq(tenant))
        .filter(user_role::Column::UserId.eq(user))
        .all(txn)
        .await?
        .into_iter()
        .filter_map(|r| Role::parse(&r.role))
        .collect();
    roles.sort();
    Ok(roles)
}

/// The roles of each of `users` (one query for a whole page).
pub async fn roles_of(
    txn: &DatabaseTransaction,
    users: &[User],
) -> Result<std::collections::HashMap<Uuid, Vec<Role>>, DbErr> {
    let mut map: std::collections::HashMap<Uuid, Vec<Role>> =
        users.iter().map(|u| (u.id, Vec::new())).collect();
    let rows = user_role::Entity::find()
        .filter(user_role::Column::TenantId.is_in(users.iter().map(|u| u.tenant_id)))
        .filter(user_role::Column::UserId.is_in(users.iter().map(|u| u.id)))
        .all(txn)
        .await?;
    for row in rows {
        if let (Some(roles), Some(role)) = (map.get_mut(&row.user_id), Role::parse(&row.role)) {
            roles.push(role);
        }
    }
    map.values_mut().for_each(|r| r.sort());
    Ok(map)
}

/// Replaces the user's roles.
pub async fn set_roles(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    user: UserId,
    roles: &[Role],
) -> Result<(), DbErr> {
    user_role::Entity::delete_many()
        .filter(user_role::Column::TenantId.eq(tenant))
        .filter(user_role::Column::UserId.eq(user))
        .exec(txn)
        .await?;
    if roles.is_empty() {
        return Ok(());
    }
    user_role::Entity::insert_many(roles.iter().map(|r| user_role::ActiveModel {
        tenant_id: Set(tenant.into()),
        user_id: Set(user.into()),
        role: Set(r.as_str().to_string()),
    }))
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// Whether making `manager` the manager of `user` would close a loop: `user` is `manager` or
/// one of `manager`'s managers (up to 100 levels, deeper than any real organisation).
pub async fn manages_indirectly(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    user: UserId,
    manager: UserId,
) -> Result<bool, DbErr> {
    let mut next = Some(manager.as_uuid());
    for _ in 0..100 {
        match next {
            None => return Ok(false),
            Some(id) if id == user.as_uuid() => return Ok(true),
            Some(id) => {
                next = find(txn, tenant, UserId(id))
                    .await?
                    .and_then(|u| u.manager_id)
            }
        }
    }
    Ok(true)
}
