//! Identity's users and groups, projected from its events, for services that check callers,
//! owners, groups and assignees without calling identity; and the one consumer of identity's
//! events each service runs (the tenant tree, users and groups).
use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use events::{
    Event,
    identity::{
        GroupCreated, GroupMembersChanged, UserCreated, UserManagerChanged, UserRolesChanged,
        UserUpdated,
    },
};
use platform::{
    auth::UserId,
    tenancy::{CachedDirectory, TenantId},
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DatabaseTransaction,
    DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use crate::{
    ConsumerRunner, Envelope, Handler, HandlerError,
    directory::{ProjectedDirectory, TenantDirectoryProjection},
    entities::{directory_group as group, directory_user as user},
};

/// How long a resolved tenant is remembered; a tenant event drops the cache at once.
const DIRECTORY_TTL: Duration = Duration::from_secs(5);

/// What a service keeps of identity: the tenant directory its requests are authorized against
/// (cached) and the consumer that projects identity's tenant, user and group events into its
/// schema (`migration::create_people` and `create_tenant_directory`).
pub struct IdentityProjection {
    pub directory: Arc<CachedDirectory>,
    consumer: &'static str,
    db: DatabaseConnection,
}

impl IdentityProjection {
    /// The projection in `db` (the service's schema), consumed as `consumer`.
    pub fn new(db: DatabaseConnection, consumer: &'static str) -> Self {
        let directory = Arc::new(CachedDirectory::new(
            Arc::new(ProjectedDirectory { db: db.clone() }),
            DIRECTORY_TTL,
        ));
        Self {
            directory,
            consumer,
            db,
        }
    }

    /// The consumer of identity's events for this service.
    pub fn consumer(&self) -> Arc<ConsumerRunner> {
        self.consumer_with(None)
    }

    /// The service's one consumer (its queue is named after the service): identity's events,
    /// and those `also` binds (another service's projection).
    pub fn consumer_with(&self, also: Option<Arc<dyn Handler>>) -> Arc<ConsumerRunner> {
        let handler = IdentityEvents {
            tenants: TenantDirectoryProjection {
                consumer: self.consumer,
            },
            cache: self.directory.clone(),
            also,
        };
        Arc::new(ConsumerRunner::new(self.db.clone(), Arc::new(handler)))
    }
}

/// Identity's events as a service needs them. Once a tenant change is committed the directory
/// cache is dropped, so a new, suspended or re-limited tenant is seen at once.
struct IdentityEvents {
    tenants: TenantDirectoryProjection,
    cache: Arc<CachedDirectory>,
    also: Option<Arc<dyn Handler>>,
}

#[async_trait]
impl Handler for IdentityEvents {
    fn consumer(&self) -> &'static str {
        self.tenants.consumer
    }
    fn bindings(&self) -> Vec<String> {
        let mut bindings = vec![
            "identity.tenant.*".into(),
            "identity.user.*".into(),
            "identity.group.*".into(),
        ];
        if let Some(also) = &self.also {
            bindings.extend(also.bindings());
        }
        bindings
    }
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        if env.event_type.starts_with("itsm.identity.tenant.") {
            self.tenants.handle(txn, env).await
        } else if env.event_type.starts_with("itsm.identity.") {
            apply(txn, env).await
        } else if let Some(also) = &self.also {
            also.handle(txn, env).await
        } else {
            Err(HandlerError::UnknownType(env.event_type.clone()))
        }
    }
    fn committed(&self, env: &Envelope) {
        // A new, moved, suspended or re-limited tenant is seen by the next request.
        if env.event_type.starts_with("itsm.identity.tenant.") {
            self.cache.invalidate();
        } else if let Some(also) = &self.also {
            also.committed(env);
        }
    }
}

/// Applies one of identity's user or group events; older versions change nothing, and a
/// version too far ahead of this consumer's clock is refused (`bus::versions`).
pub async fn apply(txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
    crate::versions::check_lead(env)?;
    let t = env.event_type.as_str();
    let tenant = TenantId(env.tenantid);
    let v = env.aggregateversion;
    if t == UserCreated::event_type() {
        let e: UserCreated = env.payload()?;
        upsert_user(
            txn,
            tenant,
            e.user_id,
            v,
            Some(e.display_name),
            Some(e.status),
            None,
        )
        .await?;
    } else if t == UserUpdated::event_type() {
        let e: UserUpdated = env.payload()?;
        upsert_user(
            txn,
            tenant,
            e.user_id,
            v,
            Some(e.display_name),
            Some(e.status),
            None,
        )
        .await?;
    } else if t == UserRolesChanged::event_type() {
        // Roles do not matter for assignment here; the version still moves on.
        let e: UserRolesChanged = env.payload()?;
        upsert_user(txn, tenant, e.user_id, v, None, None, None).await?;
    } else if t == UserManagerChanged::event_type() {
        let e: UserManagerChanged = env.payload()?;
        upsert_user(txn, tenant, e.user_id, v, None, None, Some(e.manager_id)).await?;
    } else if t == GroupCreated::event_type() {
        let e: GroupCreated = env.payload()?;
        upsert_group(txn, tenant, e.group_id, v, Some(e.name), None).await?;
    } else if t == GroupMembersChanged::event_type() {
        let e: GroupMembersChanged = env.payload()?;
        upsert_group(txn, tenant, e.group_id, v, None, Some(e.members)).await?;
    } else {
        return Err(HandlerError::UnknownType(env.event_type.clone()));
    }
    Ok(())
}

async fn upsert_user(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
    version: i64,
    name: Option<String>,
    status: Option<String>,
    manager: Option<Option<Uuid>>,
) -> Result<(), HandlerError> {
    let placeholder = user::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant.into()),
        display_name: Set(String::new()),
        status: Set("active".into()),
        manager_id: Set(None),
        version: Set(0),
    };
    user::Entity::insert(placeholder)
        .on_conflict_do_nothing()
        .exec(txn)
        .await?;
    let existing = user::Entity::find_by_id(id)
        .filter(user::Column::TenantId.eq(tenant))
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(|| another_tenants("user", id))?;
    let Some(change) = Change::of(existing.version, version, &existing.display_name, &name) else {
        return Ok(());
    };
    let mut am: user::ActiveModel = existing.into();
    if let Some(n) = name {
        am.display_name = Set(n);
    }
    if let Some(s) = status {
        am.status = Set(s);
    }
    if change == Change::Newer {
        if let Some(m) = manager {
            am.manager_id = Set(m);
        }
        am.version = Set(version);
    }
    am.update(txn).await?;
    Ok(())
}

async fn upsert_group(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
    version: i64,
    name: Option<String>,
    members: Option<Vec<Uuid>>,
) -> Result<(), HandlerError> {
    let placeholder = group::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant.into()),
        name: Set(String::new()),
        members: Set(serde_json::json!([])),
        version: Set(0),
    };
    group::Entity::insert(placeholder)
        .on_conflict_do_nothing()
        .exec(txn)
        .await?;
    let existing = group::Entity::find_by_id(id)
        .filter(group::Column::TenantId.eq(tenant))
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(|| another_tenants("group", id))?;
    let Some(change) = Change::of(existing.version, version, &existing.name, &name) else {
        return Ok(());
    };
    let mut am: group::ActiveModel = existing.into();
    if let Some(n) = name {
        am.name = Set(n);
    }
    if change == Change::Newer {
        if let Some(m) = members {
            am.members = Set(serde_json::json!(m));
        }
        am.version = Set(version);
    }
    am.update(txn).await?;
    Ok(())
}

/// What an event does to a stored user or group. Deliveries about one id run concurrently and
/// out of order: each first makes sure the row exists (a placeholder at version 0, without a
/// name), then reads it locked, so none inserts it twice and each sees the one before. A row
/// made by an event that does not carry the name (roles, members) has none until an event that
/// carries it arrives, which may be an older one: that one fills in the name (and a user's
/// status) and leaves the rest, and the version, as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// Newer than the row: applies in full.
    Newer,
    /// Older, but names what the row has no name for yet.
    FillsName,
}

impl Change {
    fn of(stored: i64, incoming: i64, stored_name: &str, name: &Option<String>) -> Option<Change> {
        if crate::versions::supersedes(stored, incoming) {
            Some(Change::Newer)
        } else if stored_name.is_empty() && name.is_some() {
            Some(Change::FillsName)
        } else {
            None
        }
    }
}

/// The id is taken by a row of another tenant: the event is refused (dead-lettered at once),
/// nothing is changed.
fn another_tenants(what: &str, id: Uuid) -> HandlerError {
    HandlerError::Refused(format!("{what} {id} belongs to another tenant"))
}

/// An active user of `tenant`.
pub async fn active_user(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: UserId,
) -> Result<bool, DbErr> {
    Ok(user::Entity::find_by_id(id)
        .filter(user::Column::TenantId.eq(tenant))
        .one(txn)
        .await?
        .is_some_and(|u| u.status != "deactivated"))
}

/// The line manager of `id`, a user of `tenant`, if it has one.
pub async fn manager_of(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: UserId,
) -> Result<Option<Uuid>, DbErr> {
    Ok(user::Entity::find_by_id(id)
        .filter(user::Column::TenantId.eq(tenant))
        .one(txn)
        .await?
        .and_then(|u| u.manager_id))
}

/// The members of a group of `tenant`, if it exists.
pub async fn group_members(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<Vec<Uuid>>, DbErr> {
    group_members_within(txn, &[tenant], id).await
}

/// Which of `groups` (of any tenant the transaction is scoped to) have `user` as a member.
pub async fn member_of(
    txn: &DatabaseTransaction,
    user: UserId,
    groups: &[Uuid],
) -> Result<std::collections::HashSet<Uuid>, DbErr> {
    if groups.is_empty() {
        return Ok(Default::default());
    }
    let rows = group::Entity::find()
        .filter(group::Column::Id.is_in(groups.iter().copied()))
        .all(txn)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|g| {
            serde_json::from_value::<Vec<Uuid>>(g.members.clone())
                .is_ok_and(|m| m.contains(&user.as_uuid()))
        })
        .map(|g| g.id)
        .collect())
}

/// The members of group `id` if it belongs to one of `tenants` (say, a request's lineage: a
/// provider's group approving a customer's request).
pub async fn group_members_within(
    txn: &DatabaseTransaction,
    tenants: &[TenantId],
    id: Uuid,
) -> Result<Option<Vec<Uuid>>, DbErr> {
    Ok(group::Entity::find_by_id(id)
        .filter(group::Column::TenantId.is_in(tenants.iter().map(|t| t.as_uuid())))
        .one(txn)
        .await?
        .map(|g| serde_json::from_value(g.members).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use events::Event;
    use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Schema, TransactionTrait};

    use super::*;

    async fn db() -> DatabaseConnection {
        let db = Database::connect("sqlite::memory:").await.expect("sqlite");
        let schema = Schema::new(db.get_database_backend());
        for table in [
            schema.create_table_from_entity(user::Entity),
            schema.create_table_from_entity(group::Entity),
        ] {
            db.execute_raw(db.get_database_backend().build(&table))
                .await
                .expect("table");
        }
        db
    }

    async fn deliver<E: Event>(db: &DatabaseConnection, tenant: Uuid, id: Uuid, v: i64, e: &E) {
        let env = Envelope::new(tenant, id, v, e, None).expect("envelope");
        let txn = db.begin().await.expect("begin");
        apply(&txn, &env).await.expect("applied");
        txn.commit().await.expect("commit");
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp_micros()
    }

    #[tokio::test]
    async fn a_group_created_after_its_members_changed_still_gets_its_name() {
        let (db, tenant, id) = (db().await, Uuid::now_v7(), Uuid::now_v7());
        let (v1, v2) = (now() - 10, now());
        let member = Uuid::now_v7();
        let members = GroupMembersChanged {
            group_id: id,
            members: vec![member],
        };
        deliver(&db, tenant, id, v2, &members).await;
        let created = GroupCreated {
            group_id: id,
            name: "Service Desk".into(),
        };
        deliver(&db, tenant, id, v1, &created).await;
        let g = group::Entity::find_by_id(id).one(&db).await.expect("read");
        let g = g.expect("the group");
        assert_eq!(g.name, "Service Desk");
        assert_eq!(g.members, serde_json::json!([member]));
        assert_eq!(g.version, v2);
        // Replayed, the old event changes nothing more.
        deliver(&db, tenant, id, v1, &created).await;
        let again = group::Entity::find_by_id(id).one(&db).await.expect("read");
        assert_eq!(again.expect("the group"), g);
    }

    #[tokio::test]
    async fn a_user_created_late_fills_in_name_and_status_but_an_older_rename_does_not() {
        let (db, tenant, id) = (db().await, Uuid::now_v7(), Uuid::now_v7());
        let (v1, v2, v3) = (now() - 20, now() - 10, now());
        let roles = UserRolesChanged {
            user_id: id,
            roles: vec!["agent".into()],
        };
        deliver(&db, tenant, id, v2, &roles).await;
        let created = UserCreated {
            user_id: id,
            email: "new@example.test".into(),
            display_name: "New Agent".into(),
            status: "invited".into(),
            roles: vec![],
        };
        deliver(&db, tenant, id, v1, &created).await;
        let u = user::Entity::find_by_id(id).one(&db).await.expect("read");
        let u = u.expect("the user");
        assert_eq!(
            (u.display_name.as_str(), u.status.as_str()),
            ("New Agent", "invited")
        );
        assert_eq!(u.version, v2);
        let updated = UserUpdated {
            user_id: id,
            display_name: "Renamed".into(),
            status: "active".into(),
        };
        deliver(&db, tenant, id, v3, &updated).await;
        deliver(&db, tenant, id, v1, &created).await;
        let u = user::Entity::find_by_id(id).one(&db).await.expect("read");
        let u = u.expect("the user");
        assert_eq!(
            (u.display_name.as_str(), u.status.as_str()),
            ("Renamed", "active")
        );
        assert_eq!(u.version, v3);
    }

    #[tokio::test]
    async fn another_tenants_id_is_refused_and_left_alone() {
        let (db, mine, theirs, id) = (db().await, Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let created = GroupCreated {
            group_id: id,
            name: "Theirs".into(),
        };
        deliver(&db, theirs, id, now(), &created).await;
        let env = Envelope::new(
            mine,
            id,
            now(),
            &GroupCreated {
                group_id: id,
                name: "Mine".into(),
            },
            None,
        )
        .expect("envelope");
        let txn = db.begin().await.expect("begin");
        let refused = apply(&txn, &env).await;
        assert!(
            matches!(refused, Err(HandlerError::Refused(_))),
            "{refused:?}"
        );
        txn.rollback().await.expect("rollback");
        let g = group::Entity::find_by_id(id).one(&db).await.expect("read");
        assert_eq!(g.expect("the group").name, "Theirs");
    }
}
