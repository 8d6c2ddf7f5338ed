//! The tenant-directory projection: every service learns the tenant tree (and setting
//! overrides) from identity's events alone, and resolves `X-Tenant` against it.
use async_trait::async_trait;
use events::{
    Envelope, Event,
    identity::{TenantCreated, TenantSettingsChanged, TenantStatusChanged},
};
use platform::{
    ApiError,
    ratelimit::TENANT_LIMIT_SETTING,
    tenancy::{
        TenantDirectory, TenantId, TenantInfo, TenantKind, begin_scoped, inherited_limit, scope_to,
    },
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    consumer::{Handler, HandlerError},
    entities::tenant_directory::{self, Column, Entity, Model},
    versions,
};

/// Applies identity's tenant events to `tenant_directory`. Besides ignoring events older than
/// the stored version (events may arrive out of order), it holds the projection's invariants
/// (ADR 19), refusing (dead-lettering) what breaks them:
///
/// - the envelope's tenant and subject are the tenant the event is about;
/// - a tenant's place in the tree is set once, by its `tenant.created`: a later `tenant.created`
///   with another path or parent is refused (identity publishes no re-parent event);
/// - a version more than [`versions::MAX_LEAD`] ahead of this consumer's clock is refused, and a
///   stored one that far ahead outranks nothing;
/// - a suspension always takes effect unless identity really changed the tenant later: a stored
///   version ahead of this consumer's clock does not outrank it.
///
/// A status or settings change for a tenant not projected yet (its `tenant.created` is still on
/// its way) fails and is retried, then dead-lettered.
pub struct TenantDirectoryProjection {
    pub consumer: &'static str,
}

/// The status of a suspended tenant.
const SUSPENDED: &str = "suspended";
/// The status of an active tenant.
const ACTIVE: &str = "active";

fn path_ids(path: &str) -> Vec<Uuid> {
    path.split('/')
        .filter_map(|p| Uuid::parse_str(p).ok())
        .collect()
}

fn info(m: &Model) -> TenantInfo {
    TenantInfo {
        id: TenantId(m.id),
        slug: m.slug.clone(),
        kind: TenantKind::parse(&m.kind).unwrap_or(TenantKind::Customer),
        path: TenantId::many(&path_ids(&m.path)),
        active: m.status == ACTIVE,
        rate_limit_per_minute: None,
    }
}

async fn current(txn: &DatabaseTransaction, id: Uuid) -> Result<Option<Model>, HandlerError> {
    Ok(Entity::find_by_id(id).one(txn).await?)
}

/// The path (root first, the tenant last) of `tenant` as projected, read in `txn` (which must
/// be scoped to it): for a consumer that needs a tenant's ancestors within its own transaction.
pub async fn path_in(
    txn: &DatabaseTransaction,
    tenant: Uuid,
) -> Result<Option<Vec<TenantId>>, DbErr> {
    Ok(Entity::find_by_id(tenant)
        .one(txn)
        .await?
        .map(|m| info(&m).path))
}

/// The value of setting `key` for `tenant` as projected: its own override, else the nearest
/// ancestor's (settings are inherited down the tree); `None` when no tenant on its path set it
/// or the tenant is not projected yet. `txn` must be scoped to `tenant`; it is widened to the
/// path for the read and left scoped to `tenant` again.
pub async fn inherited_setting(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    key: &str,
) -> Result<Option<serde_json::Value>, DbErr> {
    let Some(path) = path_in(txn, tenant).await? else {
        return Ok(None);
    };
    scope_to(txn, &path).await?;
    let rows = Entity::find()
        .filter(Column::Id.is_in(path.iter().map(|t| t.as_uuid())))
        .all(txn)
        .await;
    scope_to(txn, &[TenantId(tenant)]).await?;
    let rows = rows?;
    Ok(path.iter().rev().find_map(|t| {
        let row = rows.iter().find(|r| r.id == t.as_uuid())?;
        row.settings.get(key).filter(|v| !v.is_null()).cloned()
    }))
}

/// The envelope must be about the tenant its payload names.
fn same_tenant(env: &Envelope, tenant: Uuid) -> Result<(), HandlerError> {
    if env.tenantid != tenant || env.subject != tenant.to_string() {
        return Err(HandlerError::Refused(format!(
            "{} for tenant {tenant} arrived in an envelope of tenant {} about {}",
            env.event_type, env.tenantid, env.subject
        )));
    }
    Ok(())
}

/// A tenant the event changes must be projected already; until its `tenant.created` arrives
/// the change is retried.
fn known(row: Option<Model>, env: &Envelope, tenant: Uuid) -> Result<Model, HandlerError> {
    row.ok_or_else(|| {
        HandlerError::Failed(format!(
            "{}: tenant {tenant} is not in this service's directory yet",
            env.event_type
        ))
    })
}

/// Writes `changes` to the row if it is still at `seen_version` (compare-and-set); a concurrent
/// change makes the event fail and be retried against the new row.
async fn update_if_unchanged(
    txn: &DatabaseTransaction,
    id: Uuid,
    seen_version: i64,
    changes: Vec<(Column, Expr)>,
) -> Result<(), HandlerError> {
    let mut update = Entity::update_many();
    for (column, value) in changes {
        update = update.col_expr(column, value);
    }
    let res = update
        .filter(Column::Id.eq(id))
        .filter(Column::Version.eq(seen_version))
        .exec(txn)
        .await?;
    if res.rows_affected == 0 {
        return Err(HandlerError::Failed(format!(
            "tenant {id} changed concurrently; retrying"
        )));
    }
    Ok(())
}

async fn created(txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
    let e: TenantCreated = env.payload()?;
    same_tenant(env, e.tenant_id)?;
    let parent = e
        .path
        .len()
        .checked_sub(2)
        .and_then(|i| e.path.get(i))
        .copied();
    if e.path.last() != Some(&e.tenant_id) || parent != e.parent_id {
        return Err(HandlerError::Refused(format!(
            "tenant {}: path {:?} does not end with the tenant under parent {:?}",
            e.tenant_id, e.path, e.parent_id
        )));
    }
    let path = e
        .path
        .iter()
        .map(Uuid::to_string)
        .collect::<Vec<_>>()
        .join("/");
    match current(txn, e.tenant_id).await? {
        // Only its first `tenant.created` places a tenant; the same one again changes nothing.
        Some(existing) if existing.path == path && existing.parent_id == e.parent_id => Ok(()),
        Some(existing) => Err(HandlerError::Refused(format!(
            "tenant {} is at {}; tenant.created cannot move it to {path}",
            e.tenant_id, existing.path
        ))),
        None => {
            let row = tenant_directory::ActiveModel {
                id: Set(e.tenant_id),
                parent_id: Set(e.parent_id),
                path: Set(path),
                kind: Set(e.kind),
                slug: Set(e.slug),
                status: Set(e.status),
                settings: Set(serde_json::json!({})),
                version: Set(env.aggregateversion),
            };
            Entity::insert(row)
                .on_conflict(
                    sea_orm::sea_query::OnConflict::column(Column::Id)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(txn)
                .await?;
            Ok(())
        }
    }
}

async fn status_changed(txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
    let e: TenantStatusChanged = env.payload()?;
    same_tenant(env, e.tenant_id)?;
    if e.status != ACTIVE && e.status != SUSPENDED {
        return Err(HandlerError::Invalid(format!(
            "tenant status {:?} is neither {ACTIVE} nor {SUSPENDED}",
            e.status
        )));
    }
    let row = known(current(txn, e.tenant_id).await?, env, e.tenant_id)?;
    let v = env.aggregateversion;
    let newer = versions::supersedes(row.version, v);
    // Fail closed: only a real later change of identity's outranks a suspension.
    let suspension = e.status == SUSPENDED && versions::is_ahead_of_clock(row.version);
    if !newer && !suspension {
        return Ok(());
    }
    let version = if newer { v } else { row.version };
    update_if_unchanged(
        txn,
        row.id,
        row.version,
        vec![
            (Column::Status, Expr::value(e.status)),
            (Column::Version, Expr::value(version)),
        ],
    )
    .await
}

async fn settings_changed(txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
    let e: TenantSettingsChanged = env.payload()?;
    same_tenant(env, e.tenant_id)?;
    let row = known(current(txn, e.tenant_id).await?, env, e.tenant_id)?;
    if !versions::supersedes(row.version, env.aggregateversion) {
        return Ok(());
    }
    let mut settings = row.settings.as_object().cloned().unwrap_or_default();
    for (k, v) in e.changes {
        if v.is_null() {
            settings.remove(&k);
        } else {
            settings.insert(k, v);
        }
    }
    update_if_unchanged(
        txn,
        row.id,
        row.version,
        vec![
            (
                Column::Settings,
                Expr::value(serde_json::Value::Object(settings)),
            ),
            (Column::Version, Expr::value(env.aggregateversion)),
        ],
    )
    .await
}

#[async_trait]
impl Handler for TenantDirectoryProjection {
    fn consumer(&self) -> &'static str {
        self.consumer
    }

    fn bindings(&self) -> Vec<String> {
        vec!["identity.tenant.*".into()]
    }

    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        versions::check_lead(env)?;
        let t = env.event_type.as_str();
        if t == TenantCreated::event_type() {
            created(txn, env).await
        } else if t == TenantStatusChanged::event_type() {
            status_changed(txn, env).await
        } else if t == TenantSettingsChanged::event_type() {
            settings_changed(txn, env).await
        } else {
            Err(HandlerError::UnknownType(env.event_type.clone()))
        }
    }
}

/// The platform's tenant directory answered from the projection.
pub struct ProjectedDirectory {
    pub db: DatabaseConnection,
}

#[async_trait]
impl TenantDirectory for ProjectedDirectory {
    async fn resolve(&self, home: Uuid, key: &str) -> Result<Option<TenantInfo>, ApiError> {
        let cond = match Uuid::parse_str(key) {
            Ok(id) => Condition::all().add(Column::Id.eq(id)),
            Err(_) if platform::validate::Slug::parse("", key).is_err() => return Ok(None),
            Err(_) => Condition::all().add(Column::Slug.eq(key)),
        };
        let home = TenantId(home);
        let txn = begin_scoped(&self.db, &[home]).await?;
        let row = Entity::find().filter(cond).one(&txn).await?;
        txn.commit().await?;
        let Some(mut info) = row.map(|r| info(&r)).filter(|t| t.path.contains(&home)) else {
            return Ok(None);
        };
        // Settings are inherited: the path's rows are visible to the tenant at its end.
        let txn = begin_scoped(&self.db, info.lineage()).await?;
        let path = Entity::find()
            .filter(Column::Id.is_in(info.path.clone()))
            .all(&txn)
            .await?;
        txn.commit().await?;
        info.rate_limit_per_minute = inherited_limit(&info.path, |t| {
            let row = path.iter().find(|r| r.id == t.as_uuid())?;
            row.settings.get(TENANT_LIMIT_SETTING).cloned()
        });
        // A suspension reaches down the tree: a tenant under a suspended MSP is inactive too
        // (ADR 20). An ancestor this projection never received counts as not suspended.
        info.active = path_active(&info.path, &path);
        Ok(Some(info))
    }

    async fn subtree(&self, root: Uuid) -> Result<Vec<Uuid>, ApiError> {
        let root = TenantId(root);
        let txn = begin_scoped(&self.db, &[root]).await?;
        let rows = Entity::find().all(&txn).await?;
        txn.commit().await?;
        Ok(rows
            .iter()
            .map(info)
            .filter(|t| t.path.contains(&root))
            .map(|t| t.id.as_uuid())
            .collect())
    }
}

/// Whether no tenant on `path` is suspended according to `rows` (the projected rows of the
/// path; a missing ancestor is not known to be suspended).
fn path_active(path: &[TenantId], rows: &[Model]) -> bool {
    path.iter().all(|id| {
        rows.iter()
            .find(|r| r.id == id.as_uuid())
            .is_none_or(|r| r.status == ACTIVE)
    })
}
