//! What identity publishes: every change to the tenant tree, users, roles and groups, appended
//! to the outbox in the same transaction as the change.
use events::{Event, identity::*};
use platform::ApiError;
use platform::tenancy::TenantId;
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use crate::store::{groups::Group, tenants::Tenant, users::User};

pub use bus::outbox::version_of;

async fn publish<E: Event>(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    subject: Uuid,
    version: i64,
    payload: &E,
) -> Result<(), ApiError> {
    bus::outbox::append(txn, tenant, subject, version, payload).await?;
    Ok(())
}

pub async fn tenant_created(txn: &DatabaseTransaction, t: &Tenant) -> Result<(), ApiError> {
    let payload = TenantCreated {
        tenant_id: t.id,
        parent_id: t.parent_id,
        path: t.path_ids(),
        kind: t.kind.clone(),
        name: t.name.clone(),
        slug: t.slug.clone(),
        status: t.status.clone(),
    };
    publish(
        txn,
        TenantId(t.id),
        t.id,
        version_of(t.updated_at),
        &payload,
    )
    .await
}

pub async fn tenant_status_changed(txn: &DatabaseTransaction, t: &Tenant) -> Result<(), ApiError> {
    let payload = TenantStatusChanged {
        tenant_id: t.id,
        status: t.status.clone(),
    };
    publish(
        txn,
        TenantId(t.id),
        t.id,
        version_of(t.updated_at),
        &payload,
    )
    .await
}

pub async fn tenant_settings_changed(
    txn: &DatabaseTransaction,
    t: &Tenant,
    changes: serde_json::Map<String, serde_json::Value>,
) -> Result<(), ApiError> {
    let payload = TenantSettingsChanged {
        tenant_id: t.id,
        changes,
    };
    publish(
        txn,
        TenantId(t.id),
        t.id,
        version_of(t.updated_at),
        &payload,
    )
    .await
}

pub async fn user_created(
    txn: &DatabaseTransaction,
    u: &User,
    roles: &[platform::auth::Role],
) -> Result<(), ApiError> {
    let payload = UserCreated {
        user_id: u.id,
        email: u.email.clone(),
        display_name: u.display_name.clone(),
        status: u.status.clone(),
        roles: roles.iter().map(|r| r.as_str().to_string()).collect(),
    };
    publish(
        txn,
        TenantId(u.tenant_id),
        u.id,
        version_of(u.updated_at),
        &payload,
    )
    .await
}

pub async fn user_updated(txn: &DatabaseTransaction, u: &User) -> Result<(), ApiError> {
    let payload = UserUpdated {
        user_id: u.id,
        display_name: u.display_name.clone(),
        status: u.status.clone(),
    };
    publish(
        txn,
        TenantId(u.tenant_id),
        u.id,
        version_of(u.updated_at),
        &payload,
    )
    .await
}

/// A user's line manager changed.
pub async fn user_manager_changed(txn: &DatabaseTransaction, u: &User) -> Result<(), ApiError> {
    let payload = UserManagerChanged {
        user_id: u.id,
        manager_id: u.manager_id,
    };
    publish(
        txn,
        TenantId(u.tenant_id),
        u.id,
        version_of(u.updated_at),
        &payload,
    )
    .await
}

pub async fn user_roles_changed(
    txn: &DatabaseTransaction,
    u: &User,
    roles: &[platform::auth::Role],
) -> Result<(), ApiError> {
    let payload = UserRolesChanged {
        user_id: u.id,
        roles: roles.iter().map(|r| r.as_str().to_string()).collect(),
    };
    publish(
        txn,
        TenantId(u.tenant_id),
        u.id,
        version_of(u.updated_at),
        &payload,
    )
    .await
}

pub async fn group_created(txn: &DatabaseTransaction, g: &Group) -> Result<(), ApiError> {
    let payload = GroupCreated {
        group_id: g.id,
        name: g.name.clone(),
    };
    publish(
        txn,
        TenantId(g.tenant_id),
        g.id,
        version_of(g.updated_at),
        &payload,
    )
    .await
}

pub async fn group_members_changed(
    txn: &DatabaseTransaction,
    g: &Group,
    members: Vec<Uuid>,
) -> Result<(), ApiError> {
    let payload = GroupMembersChanged {
        group_id: g.id,
        members,
    };
    publish(
        txn,
        TenantId(g.tenant_id),
        g.id,
        version_of(g.updated_at),
        &payload,
    )
    .await
}
