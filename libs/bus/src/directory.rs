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
    tenancy::{TenantDirectory, TenantInfo, TenantKind, begin_scoped, inherited_limit},
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection,
    DatabaseTransaction, EntityTrait, QueryFilter,
};
use uuid::Uuid;

use crate::{
    consumer::{Handler, HandlerError},
    entities::tenant_directory::{self, Column, Entity, Model},
};

/// Applies identity's tenant events to `tenant_directory`, ignoring any event older than the
/// version already stored (events may arrive out of order).
pub struct TenantDirectoryProjection {
    pub consumer: &'static str,
}

fn info(m: &Model) -> TenantInfo {
    TenantInfo {
        id: m.id,
        slug: m.slug.clone(),
        kind: TenantKind::parse(&m.kind).unwrap_or(TenantKind::Customer),
        path: m
            .path
            .split('/')
            .filter_map(|p| Uuid::parse_str(p).ok())
            .collect(),
        active: m.status == "active",
        rate_limit_per_minute: None,
    }
}

async fn current(txn: &DatabaseTransaction, id: Uuid) -> Result<Option<Model>, HandlerError> {
    Ok(Entity::find_by_id(id).one(txn).await?)
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
        let t = env.event_type.as_str();
        if t == TenantCreated::event_type() {
            let e: TenantCreated = env.payload()?;
            platform::tenancy::scope_to(txn, &e.path).await?;
            match current(txn, e.tenant_id).await? {
                Some(existing) if existing.version >= env.aggregateversion => {}
                existing => {
                    let path = e
                        .path
                        .iter()
                        .map(Uuid::to_string)
                        .collect::<Vec<_>>()
                        .join("/");
                    let row = tenant_directory::ActiveModel {
                        id: Set(e.tenant_id),
                        parent_id: Set(e.parent_id),
                        path: Set(path),
                        kind: Set(e.kind),
                        slug: Set(e.slug),
                        status: Set(e.status),
                        settings: Set(existing
                            .map(|x| x.settings)
                            .unwrap_or_else(|| serde_json::json!({}))),
                        version: Set(env.aggregateversion),
                    };
                    Entity::insert(row)
                        .on_conflict(
                            sea_orm::sea_query::OnConflict::column(Column::Id)
                                .update_columns([
                                    Column::ParentId,
                                    Column::Path,
                                    Column::Kind,
                                    Column::Slug,
                                    Column::Status,
                                    Column::Version,
                                ])
                                .to_owned(),
                        )
                        .exec_without_returning(txn)
                        .await?;
                }
            }
            Ok(())
        } else if t == TenantStatusChanged::event_type() {
            let e: TenantStatusChanged = env.payload()?;
            if let Some(row) = current(txn, e.tenant_id).await?
                && row.version < env.aggregateversion
            {
                let mut am: tenant_directory::ActiveModel = row.into();
                am.status = Set(e.status);
                am.version = Set(env.aggregateversion);
                am.update(txn).await?;
            }
            Ok(())
        } else if t == TenantSettingsChanged::event_type() {
            let e: TenantSettingsChanged = env.payload()?;
            if let Some(row) = current(txn, e.tenant_id).await?
                && row.version < env.aggregateversion
            {
                let mut settings = row.settings.as_object().cloned().unwrap_or_default();
                for (k, v) in e.changes {
                    if v.is_null() {
                        settings.remove(&k);
                    } else {
                        settings.insert(k, v);
                    }
                }
                let mut am: tenant_directory::ActiveModel = row.into();
                am.settings = Set(serde_json::Value::Object(settings));
                am.version = Set(env.aggregateversion);
                am.update(txn).await?;
            }
            Ok(())
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
        let txn = begin_scoped(&self.db, &[home]).await?;
        let row = Entity::find().filter(cond).one(&txn).await?;
        txn.commit().await?;
        let Some(mut info) = row.map(|r| info(&r)).filter(|t| t.path.contains(&home)) else {
            return Ok(None);
        };
        // Settings are inherited: the path's rows are visible to the tenant at its end.
        let txn = begin_scoped(&self.db, &info.path).await?;
        let path = Entity::find()
            .filter(Column::Id.is_in(info.path.clone()))
            .all(&txn)
            .await?;
        txn.commit().await?;
        info.rate_limit_per_minute = inherited_limit(&info.path, |t| {
            let row = path.iter().find(|r| r.id == t)?;
            row.settings.get(TENANT_LIMIT_SETTING).cloned()
        });
        Ok(Some(info))
    }

    async fn subtree(&self, root: Uuid) -> Result<Vec<Uuid>, ApiError> {
        let txn = begin_scoped(&self.db, &[root]).await?;
        let rows = Entity::find().all(&txn).await?;
        txn.commit().await?;
        Ok(rows
            .iter()
            .map(info)
            .filter(|t| t.path.contains(&root))
            .map(|t| t.id)
            .collect())
    }
}
