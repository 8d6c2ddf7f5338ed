//! Problems and their linked incidents.
use platform::pagination::Position;
use platform::tenancy::TenantId;
use sea_orm::ConnectionTrait;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction,
    DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::OnConflict,
};
use uuid::Uuid;

use super::Named;
use super::entities::{problem, problem_incident as link};
use crate::domain::{incident::IncidentId, queue::ProblemSort};
use platform::keyset::{After, Key, ListOrder, time_key};

pub use problem::Model as Problem;

/// A new problem, every field checked.
pub struct NewProblem {
    pub title: String,
    pub description: String,
    pub root_cause: String,
    pub workaround: String,
}

/// A change of a problem's analysis: `None` leaves a field as it is.
#[derive(Default)]
pub struct ProblemChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub root_cause: Option<String>,
    pub workaround: Option<String>,
    pub known_error: Option<bool>,
}

impl ProblemChanges {
    /// Whether `p` after this change would be a known error without a root cause or a
    /// workaround.
    pub fn leaves_known_error_unexplained(&self, p: &Problem) -> bool {
        let root_cause = self.root_cause.as_deref().unwrap_or(&p.root_cause);
        let workaround = self.workaround.as_deref().unwrap_or(&p.workaround);
        self.known_error.unwrap_or(p.known_error) && root_cause.is_empty() && workaround.is_empty()
    }
}

pub async fn insert(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    number: String,
    new: NewProblem,
) -> Result<Problem, DbErr> {
    let mut am = problem::ActiveModel::new();
    am.tenant_id = Set(tenant.into());
    am.number = Set(number);
    am.title = Set(new.title);
    am.description = Set(new.description);
    am.root_cause = Set(new.root_cause);
    am.workaround = Set(new.workaround);
    am.known_error = Set(false);
    am.state = Set(problem::State::Open);
    am.resolution_notes = Set(None);
    am.insert(txn).await
}

pub async fn find(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<Problem>, DbErr> {
    let row = problem::Entity::find_by_id(id)
        .filter(problem::Column::TenantId.eq(tenant))
        .into_model::<Named<problem::Entity>>()
        .one(txn)
        .await?;
    Ok(row.map(|Named(p)| p))
}

/// `sort` as a list order.
pub fn order(sort: ProblemSort) -> ListOrder<problem::Column> {
    let (key, descending) = match sort {
        ProblemSort::Oldest => (Key::Id, false),
        ProblemSort::Newest => (Key::Time(problem::Column::CreatedAt), true),
        ProblemSort::RecentlyUpdated => (Key::Time(problem::Column::UpdatedAt), true),
    };
    ListOrder { key, descending }
}

/// Where a page that ends with `p` ends, under `sort`.
pub fn position(sort: ProblemSort, p: &Problem) -> Position {
    let key = match sort {
        ProblemSort::Oldest => None,
        ProblemSort::Newest => Some(time_key(p.created_at)),
        ProblemSort::RecentlyUpdated => Some(time_key(p.updated_at)),
    };
    Position { key, id: p.id }
}

pub async fn list(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    known_error: Option<bool>,
    sort: ProblemSort,
    after: Option<&After>,
    limit: u64,
) -> Result<Vec<Problem>, DbErr> {
    let mut q = problem::Entity::find().filter(problem::Column::TenantId.eq(tenant));
    if let Some(k) = known_error {
        q = q.filter(problem::Column::KnownError.eq(k));
    }
    order(sort)
        .apply(q, txn.get_database_backend(), problem::Column::Id, after)
        .limit(limit)
        .into_model::<Named<problem::Entity>>()
        .all(txn)
        .await
        .map(|rows| rows.into_iter().map(|Named(p)| p).collect())
}

/// Writes a change of `p` (a new version; see `entities::problem`).
async fn update(
    txn: &DatabaseTransaction,
    p: Problem,
    change: impl FnOnce(&mut problem::ActiveModel),
) -> Result<Problem, DbErr> {
    let mut am: problem::ActiveModel = p.into();
    change(&mut am);
    am.update(txn).await
}

/// A new version of `p` with nothing else changed (its links changed).
pub async fn touch(txn: &DatabaseTransaction, p: Problem) -> Result<Problem, DbErr> {
    update(txn, p, |_| {}).await
}

pub async fn change(
    txn: &DatabaseTransaction,
    p: Problem,
    changes: ProblemChanges,
) -> Result<Problem, DbErr> {
    update(txn, p, |a| {
        let ProblemChanges {
            title,
            description,
            root_cause,
            workaround,
            known_error,
        } = changes;
        title.into_iter().for_each(|v| a.title = Set(v));
        description.into_iter().for_each(|v| a.description = Set(v));
        root_cause.into_iter().for_each(|v| a.root_cause = Set(v));
        workaround.into_iter().for_each(|v| a.workaround = Set(v));
        known_error.into_iter().for_each(|v| a.known_error = Set(v));
    })
    .await
}

pub async fn resolve(
    txn: &DatabaseTransaction,
    p: Problem,
    notes: String,
) -> Result<Problem, DbErr> {
    update(txn, p, |a| {
        a.state = Set(problem::State::Resolved);
        a.resolution_notes = Set(Some(notes));
    })
    .await
}

/// Links an incident (idempotent).
pub async fn link(
    txn: &DatabaseTransaction,
    p: &Problem,
    incident: IncidentId,
) -> Result<(), DbErr> {
    link::Entity::insert(link::ActiveModel {
        tenant_id: Set(p.tenant_id),
        problem_id: Set(p.id),
        incident_id: Set(incident.as_uuid()),
    })
    .on_conflict(
        OnConflict::columns([
            link::Column::TenantId,
            link::Column::ProblemId,
            link::Column::IncidentId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// Unlinks an incident; false if it was not linked.
pub async fn unlink(
    txn: &DatabaseTransaction,
    p: &Problem,
    incident: IncidentId,
) -> Result<bool, DbErr> {
    let res = link::Entity::delete_many()
        .filter(link::Column::TenantId.eq(p.tenant_id))
        .filter(link::Column::ProblemId.eq(p.id))
        .filter(link::Column::IncidentId.eq(incident))
        .exec(txn)
        .await?;
    Ok(res.rows_affected > 0)
}

pub async fn linked(txn: &DatabaseTransaction, p: &Problem) -> Result<Vec<Uuid>, DbErr> {
    let mut by_problem = linked_to_each(txn, TenantId(p.tenant_id), &[p.id]).await?;
    Ok(by_problem.remove(&p.id).unwrap_or_default())
}

/// The linked incidents of several problems of one tenant, in one query.
pub async fn linked_to_each(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    problems: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Vec<Uuid>>, DbErr> {
    let mut by_problem: std::collections::HashMap<Uuid, Vec<Uuid>> =
        std::collections::HashMap::new();
    if problems.is_empty() {
        return Ok(by_problem);
    }
    let links = link::Entity::find()
        .filter(link::Column::TenantId.eq(tenant))
        .filter(link::Column::ProblemId.is_in(problems.iter().copied()))
        .order_by_asc(link::Column::IncidentId)
        .all(txn)
        .await?;
    for l in links {
        by_problem
            .entry(l.problem_id)
            .or_default()
            .push(l.incident_id);
    }
    Ok(by_problem)
}
