//! Changes and the CIs they affect.
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction,
    DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entities::{change, change_ci};
use crate::domain::{
    change::{NewChange, Plans, Window},
    lifecycle::{ChangeType, Moved, State},
    risk::{Answers, Risk},
    template::Review,
};

pub use change::Model as Change;

impl Change {
    pub fn kind(&self) -> ChangeType {
        ChangeType::parse(&self.change_type).unwrap_or(ChangeType::Normal)
    }

    pub fn lifecycle_state(&self) -> State {
        State::parse(&self.state).unwrap_or(State::New)
    }

    pub fn window(&self) -> Option<Window> {
        match (self.planned_start, self.planned_end) {
            (Some(start), Some(end)) => Some(Window { start, end }),
            _ => None,
        }
    }

    pub fn answers(&self) -> Option<Answers> {
        self.risk_answers
            .clone()
            .and_then(|a| serde_json::from_value(a).ok())
    }

    pub fn review(&self) -> Option<Review> {
        self.review
            .clone()
            .and_then(|r| serde_json::from_value(r).ok())
    }

    pub fn plans(&self) -> Plans {
        Plans {
            implementation_plan: self.implementation_plan.clone(),
            backout_plan: self.backout_plan.clone(),
            test_plan: self.test_plan.clone(),
        }
    }
}

pub async fn insert(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    number: String,
    by: Uuid,
    new: NewChange,
    risk: Risk,
    template: Option<(Uuid, i32)>,
) -> Result<(Change, Vec<Uuid>), DbErr> {
    let mut am = change::ActiveModel::new();
    am.tenant_id = Set(tenant.as_uuid());
    am.number = Set(number);
    am.change_type = Set(new.change_type.as_str().into());
    am.state = Set(State::New.as_str().into());
    am.title = Set(new.title);
    am.description = Set(new.description);
    am.planned_start = Set(new.window.map(|w| w.start));
    am.planned_end = Set(new.window.map(|w| w.end));
    am.implementation_plan = Set(new.plans.implementation_plan);
    am.backout_plan = Set(new.plans.backout_plan);
    am.test_plan = Set(new.plans.test_plan);
    am.assignee_id = Set(new.assignee_id);
    am.requested_by = Set(by);
    am.risk = Set(risk.as_str().into());
    am.risk_answers = Set(None);
    am.template_id = Set(template.map(|t| t.0));
    am.template_version = Set(template.map(|t| t.1));
    am.review = Set(None);
    am.overdue_at = Set(None);
    am.approval_round = Set(1);
    am.rejection_reason = Set(None);
    am.close_code = Set(None);
    am.reschedules = Set(0);
    let c = am.insert(txn).await?;
    set_cis(txn, &c, &new.ci_ids).await?;
    Ok((c, new.ci_ids))
}

pub async fn find(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<Change>, DbErr> {
    change::Entity::find_by_id(id)
        .filter(change::Column::TenantId.eq(tenant.as_uuid()))
        .one(txn)
        .await
}

/// `find`, the row locked until the transaction ends: moves of one change queue up.
pub async fn find_for_update(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<Change>, DbErr> {
    let mut q =
        change::Entity::find_by_id(id).filter(change::Column::TenantId.eq(tenant.as_uuid()));
    if sea_orm::ConnectionTrait::get_database_backend(txn) == sea_orm::DbBackend::Postgres {
        q = q.lock_exclusive();
    }
    q.one(txn).await
}

/// The filters of a list.
#[derive(Debug, Default)]
pub struct Filter {
    pub state: Option<State>,
    pub change_type: Option<ChangeType>,
}

/// A page of the tenant's changes, oldest first.
pub async fn list(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    filter: &Filter,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Change>, DbErr> {
    let mut q = change::Entity::find().filter(change::Column::TenantId.eq(tenant.as_uuid()));
    if let Some(s) = filter.state {
        q = q.filter(change::Column::State.eq(s.as_str()));
    }
    if let Some(t) = filter.change_type {
        q = q.filter(change::Column::ChangeType.eq(t.as_str()));
    }
    if let Some(after) = after {
        q = q.filter(change::Column::Id.gt(after));
    }
    q.order_by_asc(change::Column::Id)
        .limit(limit)
        .all(txn)
        .await
}

/// The CIs of each of `changes`, in the order they were named.
pub async fn cis_of(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    changes: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Vec<Uuid>>, DbErr> {
    let mut out: std::collections::HashMap<Uuid, Vec<Uuid>> = std::collections::HashMap::new();
    for chunk in changes.chunks(500) {
        let rows = change_ci::Entity::find()
            .filter(change_ci::Column::TenantId.eq(tenant.as_uuid()))
            .filter(change_ci::Column::ChangeId.is_in(chunk.to_vec()))
            .all(txn)
            .await?;
        for r in rows {
            out.entry(r.change_id).or_default().push(r.ci_id);
        }
    }
    Ok(out)
}

/// Makes `cis` the CIs of `c`.
pub async fn set_cis(txn: &DatabaseTransaction, c: &Change, cis: &[Uuid]) -> Result<(), DbErr> {
    change_ci::Entity::delete_many()
        .filter(change_ci::Column::TenantId.eq(c.tenant_id))
        .filter(change_ci::Column::ChangeId.eq(c.id))
        .exec(txn)
        .await?;
    if cis.is_empty() {
        return Ok(());
    }
    change_ci::Entity::insert_many(cis.iter().map(|ci| change_ci::ActiveModel {
        change_id: Set(c.id),
        ci_id: Set(*ci),
        tenant_id: Set(c.tenant_id),
    }))
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// A change of a change's fields: `None` leaves one as it is.
#[derive(Debug, Default)]
pub struct Edit {
    pub title: Option<String>,
    pub description: Option<String>,
    /// `Some(None)` clears the window.
    pub window: Option<Option<Window>>,
    pub implementation_plan: Option<String>,
    pub backout_plan: Option<String>,
    pub test_plan: Option<String>,
    pub assignee_id: Option<Option<Uuid>>,
}

/// Writes `edit` to `c` at `risk`; `reopen` sends an approved change back to `authorize`
/// for another approval round.
pub async fn update(
    txn: &DatabaseTransaction,
    c: Change,
    edit: Edit,
    reopen: Option<State>,
    risk: Risk,
) -> Result<Change, DbErr> {
    let rescheduled = matches!(edit.window, Some(w) if c.window().is_some() && w != c.window());
    let reschedules = c.reschedules + i32::from(rescheduled);
    let round = c.approval_round;
    let mut am: change::ActiveModel = c.into();
    if let Some(v) = edit.title {
        am.title = Set(v);
    }
    if let Some(v) = edit.description {
        am.description = Set(v);
    }
    if let Some(w) = edit.window {
        am.planned_start = Set(w.map(|w| w.start));
        am.planned_end = Set(w.map(|w| w.end));
    }
    if let Some(v) = edit.implementation_plan {
        am.implementation_plan = Set(v);
    }
    if let Some(v) = edit.backout_plan {
        am.backout_plan = Set(v);
    }
    if let Some(v) = edit.test_plan {
        am.test_plan = Set(v);
    }
    if let Some(v) = edit.assignee_id {
        am.assignee_id = Set(v);
    }
    if let Some(state) = reopen {
        am.state = Set(state.as_str().into());
        am.approval_round = Set(round + 1);
    }
    am.risk = Set(risk.as_str().into());
    am.reschedules = Set(reschedules);
    am.update(txn).await
}

/// Records a checked move of `c`.
pub async fn moved(txn: &DatabaseTransaction, c: Change, m: &Moved) -> Result<Change, DbErr> {
    let rejected = m.rejection_reason.is_some();
    let round = c.approval_round + i32::from(rejected);
    let mut am: change::ActiveModel = c.into();
    am.state = Set(m.to.as_str().into());
    if rejected {
        am.rejection_reason = Set(m.rejection_reason.clone());
        am.approval_round = Set(round);
    }
    if let Some(code) = m.close_code {
        am.close_code = Set(Some(code.as_str().into()));
    }
    am.update(txn).await
}

/// Records `c`'s risk, and its answers when given.
pub async fn set_risk(
    txn: &DatabaseTransaction,
    c: Change,
    risk: Risk,
    answers: Option<&Answers>,
) -> Result<Change, DbErr> {
    if c.risk == risk.as_str() && answers.is_none() {
        return Ok(c);
    }
    let mut am: change::ActiveModel = c.into();
    am.risk = Set(risk.as_str().into());
    if let Some(a) = answers {
        am.risk_answers = Set(Some(serde_json::json!(a)));
    }
    am.update(txn).await
}

/// The tenant's changes among `ids`.
pub async fn find_many(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    ids: &[Uuid],
) -> Result<Vec<Change>, DbErr> {
    change::Entity::find()
        .filter(change::Column::TenantId.eq(tenant.as_uuid()))
        .filter(change::Column::Id.is_in(ids.iter().copied()))
        .all(txn)
        .await
}

/// Records `c`'s post-implementation review.
pub async fn set_review(
    txn: &DatabaseTransaction,
    c: Change,
    review: &Review,
) -> Result<Change, DbErr> {
    let mut am: change::ActiveModel = c.into();
    am.review = Set(Some(serde_json::json!(review)));
    am.update(txn).await
}

/// Records that `c` was announced overdue.
pub async fn mark_overdue(
    txn: &DatabaseTransaction,
    c: Change,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Change, DbErr> {
    let mut am: change::ActiveModel = c.into();
    am.overdue_at = Set(Some(at));
    am.update(txn).await
}
