//! Problems and their linked incidents.
use platform::pagination::Position;
use sea_orm::ConnectionTrait;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, sea_query::OnConflict,
};
use uuid::Uuid;

use super::entities::{problem, problem_incident as link};
use crate::domain::queue::ProblemSort;
use platform::keyset::{After, Key, ListOrder, time_key};

pub use problem::Model as Problem;

pub async fn insert(
    txn: &DatabaseTransaction,
    model: problem::ActiveModel,
) -> Result<Problem, DbErr> {
    model.insert(txn).await
}

pub async fn find(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<Problem>, DbErr> {
    problem::Entity::find_by_id(id)
        .filter(problem::Column::TenantId.eq(tenant))
        .one(txn)
        .await
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
    tenant: Uuid,
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
        .all(txn)
        .await
}

pub async fn update(
    txn: &DatabaseTransaction,
    p: Problem,
    change: impl FnOnce(&mut problem::ActiveModel),
) -> Result<Problem, DbErr> {
    let version = p.version;
    let mut am: problem::ActiveModel = p.into();
    change(&mut am);
    am.version = Set(version + 1);
    am.updated_at = Set(super::now());
    am.update(txn).await
}

/// Links an incident (idempotent).
pub async fn link(txn: &DatabaseTransaction, p: &Problem, incident: Uuid) -> Result<(), DbErr> {
    link::Entity::insert(link::ActiveModel {
        tenant_id: Set(p.tenant_id),
        problem_id: Set(p.id),
        incident_id: Set(incident),
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
pub async fn unlink(txn: &DatabaseTransaction, p: &Problem, incident: Uuid) -> Result<bool, DbErr> {
    let res = link::Entity::delete_many()
        .filter(link::Column::TenantId.eq(p.tenant_id))
        .filter(link::Column::ProblemId.eq(p.id))
        .filter(link::Column::IncidentId.eq(incident))
        .exec(txn)
        .await?;
    Ok(res.rows_affected > 0)
}

pub async fn linked(txn: &DatabaseTransaction, p: &Problem) -> Result<Vec<Uuid>, DbErr> {
    let mut by_problem = linked_to_each(txn, p.tenant_id, &[p.id]).await?;
    Ok(by_problem.remove(&p.id).unwrap_or_default())
}

/// The linked incidents of several problems of one tenant, in one query.
pub async fn linked_to_each(
    txn: &DatabaseTransaction,
    tenant: Uuid,
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
