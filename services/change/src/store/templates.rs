//! Change templates, by slug and version.
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction,
    DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entities::change_template;
use crate::domain::{change::Plans, lifecycle::ChangeType, template::TemplateState};

pub use change_template::Model as Template;

impl Template {
    pub fn state(&self) -> TemplateState {
        TemplateState::parse(&self.state).unwrap_or(TemplateState::Suspended)
    }

    pub fn kind(&self) -> ChangeType {
        ChangeType::parse(&self.change_type).unwrap_or(ChangeType::Standard)
    }

    pub fn ci_ids(&self) -> Vec<Uuid> {
        serde_json::from_value(self.affected_ci_ids.clone()).unwrap_or_default()
    }

    pub fn plans(&self) -> Plans {
        Plans {
            implementation_plan: self.implementation_plan.clone(),
            backout_plan: self.backout_plan.clone(),
            test_plan: self.test_plan.clone(),
        }
    }
}

/// A template as published.
pub struct NewTemplate {
    pub slug: String,
    pub change_type: ChangeType,
    pub title: String,
    pub description: String,
    pub ci_ids: Vec<Uuid>,
    pub plans: Plans,
}

/// Publishes `new` as the next version of its slug, active; earlier versions retire.
pub async fn publish(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    new: NewTemplate,
) -> Result<Template, DbErr> {
    let earlier = change_template::Entity::find()
        .filter(change_template::Column::TenantId.eq(tenant.as_uuid()))
        .filter(change_template::Column::Slug.eq(new.slug.as_str()))
        .order_by_desc(change_template::Column::TemplateVersion)
        .lock_exclusive_if_postgres(txn)
        .all(txn)
        .await?;
    let version = earlier.first().map_or(1, |t| t.template_version + 1);
    for t in earlier
        .into_iter()
        .filter(|t| t.state() != TemplateState::Retired)
    {
        set_state(txn, t, TemplateState::Retired, None).await?;
    }
    let mut am = change_template::ActiveModel::new();
    am.tenant_id = Set(tenant.as_uuid());
    am.slug = Set(new.slug);
    am.template_version = Set(version);
    am.state = Set(TemplateState::Active.as_str().into());
    am.change_type = Set(new.change_type.as_str().into());
    am.title = Set(new.title);
    am.description = Set(new.description);
    am.affected_ci_ids = Set(serde_json::json!(new.ci_ids));
    am.implementation_plan = Set(new.plans.implementation_plan);
    am.backout_plan = Set(new.plans.backout_plan);
    am.test_plan = Set(new.plans.test_plan);
    am.suspended_reason = Set(None);
    am.insert(txn).await
}

/// `FOR UPDATE` on PostgreSQL (SQLite has one writer anyway).
pub trait LockIfPostgres: Sized {
    fn lock_exclusive_if_postgres(self, txn: &DatabaseTransaction) -> Self;
}

impl<E: EntityTrait> LockIfPostgres for sea_orm::Select<E> {
    fn lock_exclusive_if_postgres(self, txn: &DatabaseTransaction) -> Self {
        if sea_orm::ConnectionTrait::get_database_backend(txn) == sea_orm::DbBackend::Postgres {
            self.lock_exclusive()
        } else {
            self
        }
    }
}

/// The tenant's templates (every version of `slug`, or every slug), newest version first
/// within a slug, a page after `after`.
pub async fn list(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    slug: Option<&str>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Template>, DbErr> {
    let mut q = change_template::Entity::find()
        .filter(change_template::Column::TenantId.eq(tenant.as_uuid()));
    if let Some(slug) = slug {
        q = q.filter(change_template::Column::Slug.eq(slug));
    }
    if let Some(after) = after {
        q = q.filter(change_template::Column::Id.gt(after));
    }
    q.order_by_asc(change_template::Column::Id)
        .limit(limit)
        .all(txn)
        .await
}

pub async fn find(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
    lock: bool,
) -> Result<Option<Template>, DbErr> {
    let q = change_template::Entity::find_by_id(id)
        .filter(change_template::Column::TenantId.eq(tenant.as_uuid()));
    let q = if lock {
        q.lock_exclusive_if_postgres(txn)
    } else {
        q
    };
    q.one(txn).await
}

pub async fn set_state(
    txn: &DatabaseTransaction,
    t: Template,
    state: TemplateState,
    reason: Option<String>,
) -> Result<Template, DbErr> {
    let mut am: change_template::ActiveModel = t.into();
    am.state = Set(state.as_str().into());
    if state == TemplateState::Suspended {
        am.suspended_reason = Set(reason);
    }
    am.update(txn).await
}
