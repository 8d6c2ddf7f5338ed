//! Incidents, their numbers and comments.
use chrono::{DateTime, Utc};
use platform::pagination::Position;
use platform::tenancy::TenantId;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction,
    DbBackend, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QueryResult,
    QuerySelect, Select,
};

use uuid::Uuid;

use super::Named;
use super::entities::{comment, incident, sla_calendar_snapshot, sla_clock, sla_clock_event};
use super::sla::Started;
use crate::domain::{
    incident::{IncidentChanges, IncidentId, NewIncident, Visibility},
    lifecycle::{Resolution, State, Status},
    priority::Priority,
    queue::{IncidentSort, no_sla_due},
};
use bus::BusError;
use platform::keyset::{After, Key, ListOrder, time_key};
use platform::scoped_write::ScopedWrite;
use sea_orm::{DatabaseConnection, TransactionTrait};

pub use comment::Model as Comment;
pub use incident::Model as Incident;

pub use platform::numbers::Numbers;

/// The table incident numbers are counted in, and their prefix (`INC0001001`).
pub const COUNTERS: &str = "incident_counters";
pub const PREFIX: &str = "INC";

pub async fn insert(txn: &DatabaseTransaction, inc: Incident) -> Result<Incident, DbErr> {
    incident::ActiveModel::from(inc)
        .reset_all()
        .insert(txn)
        .await
}

/// Records the incident's queue key after its clocks moved. The key is derived, not a change
/// anyone made: the version stays.
pub async fn set_sla_due(
    txn: &DatabaseTransaction,
    mut inc: Incident,
    due: DateTime<Utc>,
) -> Result<Incident, DbErr> {
    if inc.sla_due_at != due {
        incident::Entity::update_many()
            .col_expr(incident::Column::SlaDueAt, Expr::value(due))
            .filter(incident::Column::TenantId.eq(inc.tenant_id))
            .filter(incident::Column::Id.eq(inc.id))
            .exec(txn)
            .await?;
        inc.sla_due_at = due;
    }
    Ok(inc)
}

pub async fn find(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: IncidentId,
) -> Result<Option<Incident>, DbErr> {
    let row = incident::Entity::find_by_id(id)
        .filter(incident::Column::TenantId.eq(tenant))
        .into_model::<Named<incident::Entity>>()
        .one(txn)
        .await?;
    Ok(row.map(|Named(inc)| inc))
}

/// Filters of the incident list.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub state: Option<State>,
    pub priority: Option<i16>,
    /// Only incidents of this caller (a requester's own view, or a filter).
    pub caller: Option<Uuid>,
    pub assignment_group: Option<Uuid>,
    pub assignee: Option<Uuid>,
    pub created_after: Option<chrono::DateTime<chrono::Utc>>,
    pub created_before: Option<chrono::DateTime<chrono::Utc>>,
    pub updated_after: Option<chrono::DateTime<chrono::Utc>>,
    pub updated_before: Option<chrono::DateTime<chrono::Utc>>,
    pub service: Option<Uuid>,
    /// Words to find in the title, description or comments.
    pub text: Option<String>,
    /// Whether internal work notes may match `text` (never for requesters).
    pub search_work_notes: bool,
}

/// The full-text condition: PostgreSQL `tsvector` matching, SQLite `LIKE`. (sea-query takes
/// numbered `$n` placeholders for PostgreSQL and `?` for SQLite.)
fn text_condition(
    backend: DbBackend,
    text: &str,
    work_notes: bool,
) -> sea_orm::sea_query::SimpleExpr {
    use sea_orm::sea_query::Expr;
    let visibility = if work_notes {
        "c.visibility IN ('public', 'internal')"
    } else {
        "c.visibility = 'public'"
    };
    if backend == DbBackend::Postgres {
        Expr::cust_with_values(
            format!(
                "(incidents.search @@ plainto_tsquery('simple', $1) OR EXISTS (SELECT 1 FROM incident_comments c \
                 WHERE c.tenant_id = incidents.tenant_id AND c.incident_id = incidents.id AND {visibility} \
                 AND to_tsvector('simple', c.body) @@ plainto_tsquery('simple', $1)))"
            ),
            [text],
        )
    } else {
        let like = format!("%{}%", text.to_lowercase().replace(['%', '_'], ""));
        Expr::cust_with_values(
            format!(
                "(lower(incidents.title) LIKE ? OR lower(incidents.description) LIKE ? OR EXISTS (SELECT 1 \
                 FROM incident_comments c WHERE c.tenant_id = incidents.tenant_id AND c.incident_id = incidents.id \
                 AND {visibility} AND lower(c.body) LIKE ?))"
            ),
            [like.clone(), like.clone(), like],
        )
    }
}

/// An incident with what its queue row shows besides: the names of its caller, assignee and
/// group (from the directory projection) and its next SLA target.
#[derive(Debug, Clone)]
pub struct Queued {
    pub incident: Incident,
    pub caller_name: Option<String>,
    pub assignee_name: Option<String>,
    pub assignment_group_name: Option<String>,
    /// The name and kind of the running clock whose deadline is `sla_due_at`.
    pub next_sla: Option<(String, String)>,
}

impl FromQueryResult for Queued {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        let sla_name: Option<String> = res.try_get(pre, "next_sla_name")?;
        let sla_kind: Option<String> = res.try_get(pre, "next_sla_kind")?;
        Ok(Queued {
            incident: Named::<incident::Entity>::from_query_result(res, pre)?.0,
            caller_name: res.try_get(pre, "caller_name")?,
            assignee_name: res.try_get(pre, "assignee_name")?,
            assignment_group_name: res.try_get(pre, "assignment_group_name")?,
            next_sla: sla_name.zip(sla_kind),
        })
    }
}

/// The queue row's columns besides the incident's (see [`Queued`]): one correlated lookup
/// each, served by a primary key or `sla_clocks_incident`, over a row named `incidents`.
fn queue_columns() -> [(String, &'static str); 5] {
    let user = |col: &str| {
        format!(
            "(SELECT u.display_name FROM directory_users u \
             WHERE u.tenant_id = incidents.tenant_id AND u.id = incidents.{col})"
        )
    };
    let clock = |col: &str| {
        format!(
            "(SELECT c.{col} FROM sla_clocks c WHERE c.tenant_id = incidents.tenant_id \
             AND c.subject_id = incidents.id AND c.due_at = incidents.sla_due_at \
             ORDER BY c.id LIMIT 1)"
        )
    };
    [
        (user("caller_id"), "caller_name"),
        (user("assignee_id"), "assignee_name"),
        (
            "(SELECT g.name FROM directory_groups g WHERE g.tenant_id = incidents.tenant_id \
             AND g.id = incidents.assignment_group_id)"
                .into(),
            "assignment_group_name",
        ),
        (clock("name"), "next_sla_name"),
        (clock("kind"), "next_sla_kind"),
    ]
}

/// The incident columns plus the queue row's, so a page costs one round trip.
fn with_queue_columns(q: Select<incident::Entity>) -> Select<incident::Entity> {
    queue_columns()
        .into_iter()
        .fold(q, |q, (sql, name)| q.column_as(Expr::cust(sql), name))
}

fn queued(q: Select<incident::Entity>) -> sea_orm::Selector<sea_orm::SelectModel<Queued>> {
    with_queue_columns(q).into_model::<Queued>()
}

/// Writes a new incident with its events and the clocks it starts, and reads it back as a
/// queue row. On PostgreSQL that is one statement (see `platform::scoped_write`), which is
/// its own transaction when `conn` is not one; elsewhere `conn` must be a transaction.
pub async fn create(
    conn: &impl ConnectionTrait,
    incident: Incident,
    mut events: bus::outbox::Batch,
    started: Started,
) -> Result<Queued, BusError> {
    let (tenant, id) = (TenantId(incident.tenant_id), incident.id);
    let next_sla = started.next_sla();
    let mut write = ScopedWrite::new(conn.get_database_backend(), &[tenant])?;
    events.extend(started.outbox);
    events.write_in(&mut write)?;
    write.insert_new::<sla_calendar_snapshot::Entity>(started.snapshots)?;
    write.insert::<sla_clock::Entity>(started.clocks)?;
    write.insert::<sla_clock_event::Entity>(started.marks)?;
    write.insert::<incident::Entity>([incident])?;
    // The statement cannot see the clocks it writes: the next SLA target is set below, from
    // the clocks just started, rather than looked up.
    let columns = queue_columns()
        .into_iter()
        .map(|(sql, name)| match name {
            "next_sla_name" | "next_sla_kind" => format!("NULL::text AS {name}"),
            _ => format!("{sql} AS {name}"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let select = format!("SELECT incidents.*, {columns} FROM written AS incidents");
    let queued = match write.run(conn, &select).await? {
        Some(rows) => rows
            .first()
            .map(|row| Queued::from_query_result(row, ""))
            .transpose()?,
        None => find_queued(conn, tenant, IncidentId(id)).await?,
    };
    let mut queued = queued.ok_or_else(|| DbErr::RecordNotFound(format!("incident {id}")))?;
    queued.next_sla = next_sla;
    Ok(queued)
}

/// [`create`] as a transaction of its own: on PostgreSQL the one statement, elsewhere the
/// inserts between `BEGIN` and `COMMIT`.
pub async fn create_alone(
    db: &DatabaseConnection,
    incident: Incident,
    events: bus::outbox::Batch,
    started: Started,
) -> Result<Queued, BusError> {
    if db.get_database_backend() == DbBackend::Postgres {
        return create(db, incident, events, started).await;
    }
    let txn = db.begin().await?;
    let queued = create(&txn, incident, events, started).await?;
    txn.commit().await?;
    Ok(queued)
}

/// [`find`] with the queue row's names and next SLA target.
pub async fn find_queued(
    txn: &impl ConnectionTrait,
    tenant: TenantId,
    id: IncidentId,
) -> Result<Option<Queued>, DbErr> {
    queued(incident::Entity::find_by_id(id).filter(incident::Column::TenantId.eq(tenant)))
        .one(txn)
        .await
}

/// `inc` as a queue row, as the transaction sees it now (after a write).
pub async fn queued_view(txn: &DatabaseTransaction, inc: &Incident) -> Result<Queued, DbErr> {
    find_queued(txn, TenantId(inc.tenant_id), IncidentId(inc.id))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("incident {}", inc.id)))
}

/// `sort` as a list order.
pub fn order(sort: IncidentSort) -> ListOrder<incident::Column> {
    use incident::Column as C;
    let (key, descending) = match sort {
        IncidentSort::Oldest => (Key::Id, false),
        IncidentSort::Newest => (Key::Time(C::CreatedAt), true),
        IncidentSort::RecentlyUpdated => (Key::Time(C::UpdatedAt), true),
        IncidentSort::Priority => (Key::SmallInt(C::Priority), false),
        IncidentSort::SlaDue => (Key::Time(C::SlaDueAt), false),
    };
    ListOrder { key, descending }
}

/// Where a page that ends with `i` ends, under `sort`.
pub fn position(sort: IncidentSort, i: &Incident) -> Position {
    let key = match sort {
        IncidentSort::Oldest => None,
        IncidentSort::Newest => Some(time_key(i.created_at)),
        IncidentSort::RecentlyUpdated => Some(time_key(i.updated_at)),
        IncidentSort::Priority => Some(i.priority.to_string()),
        IncidentSort::SlaDue => Some(time_key(i.sla_due_at)),
    };
    Position { key, id: i.id }
}

pub async fn list(
    db: &DatabaseConnection,
    tenants: &[TenantId],
    filter: &Filter,
    sort: IncidentSort,
    after: Option<&After>,
    limit: u64,
) -> Result<Vec<Queued>, DbErr> {
    let backend = db.get_database_backend();
    let mut q = incident::Entity::find();
    if platform::tenancy::filter_in_query(backend, tenants) {
        q = q.filter(incident::Column::TenantId.is_in(tenants.iter().copied()));
    }
    if let Some(s) = filter.state {
        q = q.filter(incident::Column::State.eq(s));
    }
    if let Some(p) = filter.priority {
        q = q.filter(incident::Column::Priority.eq(p));
    }
    if let Some(c) = filter.caller {
        q = q.filter(incident::Column::CallerId.eq(c));
    }
    if let Some(g) = filter.assignment_group {
        q = q.filter(incident::Column::AssignmentGroupId.eq(g));
    }
    if let Some(a) = filter.assignee {
        q = q.filter(incident::Column::AssigneeId.eq(a));
    }
    if let Some(t) = filter.created_after {
        q = q.filter(incident::Column::CreatedAt.gte(t));
    }
    if let Some(t) = filter.created_before {
        q = q.filter(incident::Column::CreatedAt.lt(t));
    }
    if let Some(t) = filter.updated_after {
        q = q.filter(incident::Column::UpdatedAt.gte(t));
    }
    if let Some(t) = filter.updated_before {
        q = q.filter(incident::Column::UpdatedAt.lt(t));
    }
    if let Some(s) = filter.service {
        q = q.filter(incident::Column::ServiceId.eq(s));
    }
    if let Some(text) = filter.text.as_deref() {
        q = q.filter(text_condition(backend, text, filter.search_work_notes));
    }
    let q = order(sort).apply(q, backend, incident::Column::Id, after);
    // One statement where the scope allows (see `scoped_all`): a page has no transaction to
    // begin and commit.
    let q = with_queue_columns(q.limit(limit));
    platform::tenancy::scoped_all(db, tenants, sea_orm::QueryTrait::into_query(q)).await
}

/// Writes a change of `inc` (a new version; see `entities::incident`).
async fn update(
    txn: &DatabaseTransaction,
    inc: Incident,
    change: impl FnOnce(&mut incident::ActiveModel),
) -> Result<Incident, DbErr> {
    let version = inc.version;
    let mut am: incident::ActiveModel = inc.into();
    change(&mut am);
    am.version = Set(version + 1);
    am.updated_at = Set(super::now());
    am.update(txn).await
}

/// A new version of `inc` with nothing else changed (a comment was added).
pub async fn touch(txn: &DatabaseTransaction, inc: Incident) -> Result<Incident, DbErr> {
    update(txn, inc, |_| {}).await
}

/// Moves `inc` to `next`.
pub async fn set_status(
    txn: &DatabaseTransaction,
    inc: Incident,
    next: &Status,
) -> Result<Incident, DbErr> {
    update(txn, inc, |a| {
        a.state = Set(next.state);
        a.hold_reason = Set(next.hold_reason);
        a.resolution_code = Set(next.resolution.as_ref().map(|r| r.code.clone()));
        a.resolution_notes = Set(next.resolution.as_ref().map(|r| r.notes.clone()));
    })
    .await
}

/// Assigns `inc` to `group` and (optionally) its member `assignee`.
pub async fn assign(
    txn: &DatabaseTransaction,
    inc: Incident,
    group: Option<Uuid>,
    assignee: Option<Uuid>,
) -> Result<Incident, DbErr> {
    update(txn, inc, |a| {
        a.assignment_group_id = Set(group);
        a.assignee_id = Set(assignee);
    })
    .await
}

/// Applies `changes`, with the priority they lead to.
pub async fn change(
    txn: &DatabaseTransaction,
    inc: Incident,
    changes: IncidentChanges,
    priority: Priority,
) -> Result<Incident, DbErr> {
    update(txn, inc, |a| {
        let IncidentChanges {
            title,
            description,
            impact,
            urgency,
            category,
            subcategory,
            service_id,
            configuration_item_id,
        } = changes;
        set_some(&mut a.title, title);
        set_some(&mut a.description, description);
        set_some(&mut a.impact, impact.map(|l| l.get() as i16));
        set_some(&mut a.urgency, urgency.map(|l| l.get() as i16));
        a.priority = Set(priority.get() as i16);
        set_some(&mut a.category, category.map(Some));
        set_some(&mut a.subcategory, subcategory.map(Some));
        set_some(&mut a.service_id, service_id.map(Some));
        set_some(
            &mut a.configuration_item_id,
            configuration_item_id.map(Some),
        );
    })
    .await
}

fn set_some<V: Into<sea_orm::Value>>(column: &mut sea_orm::ActiveValue<V>, value: Option<V>) {
    if let Some(value) = value {
        *column = Set(value);
    }
}

/// The lifecycle status stored in `inc`. (A state this version does not know never gets this
/// far: reading the row fails, naming it; see `store::Named`.)
pub fn status_of(inc: &Incident) -> Status {
    Status {
        state: inc.state,
        hold_reason: inc.hold_reason,
        resolution: inc.resolution_code.as_ref().map(|code| Resolution {
            code: code.clone(),
            notes: inc.resolution_notes.clone().unwrap_or_default(),
        }),
    }
}

/// A new incident's row: its id, number, first version and timestamps are given here.
pub fn draft(tenant: TenantId, number: String, created_by: Uuid, new: NewIncident) -> Incident {
    let now = super::now();
    let (matrix, priority) = (new.matrix_priority(), new.priority());
    Incident {
        id: Uuid::now_v7(),
        tenant_id: tenant.into(),
        number,
        title: new.title,
        description: new.description,
        caller_id: new.caller_id,
        impact: new.impact.get() as i16,
        urgency: new.urgency.get() as i16,
        priority: priority.get() as i16,
        state: State::New,
        hold_reason: None,
        resolution_code: None,
        resolution_notes: None,
        created_by,
        assignment_group_id: new.assignment_group_id,
        assignee_id: new.assignee_id,
        category: new.category,
        subcategory: new.subcategory,
        parent_id: new.parent_id,
        service_id: new.service_id,
        configuration_item_id: new.configuration_item_id,
        major: new.major,
        channel: new.channel,
        priority_overridden: priority != matrix,
        version: 1,
        created_at: now,
        updated_at: now,
        sla_due_at: no_sla_due(),
    }
}

pub async fn add_comment(
    txn: &DatabaseTransaction,
    inc: &Incident,
    author: Uuid,
    visibility: Visibility,
    body: String,
) -> Result<Comment, DbErr> {
    let mut am = comment::ActiveModel::new();
    am.tenant_id = Set(inc.tenant_id);
    am.incident_id = Set(inc.id);
    am.author_id = Set(author);
    am.visibility = Set(visibility);
    am.body = Set(body);
    am.insert(txn).await
}

/// Up to `limit` comments of an incident after `after`, oldest first; `public_only` hides
/// internal work notes.
pub async fn comments(
    txn: &DatabaseTransaction,
    inc: &Incident,
    public_only: bool,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Comment>, DbErr> {
    let mut q = comment::Entity::find()
        .filter(comment::Column::TenantId.eq(inc.tenant_id))
        .filter(comment::Column::IncidentId.eq(inc.id));
    if public_only {
        q = q.filter(comment::Column::Visibility.eq(Visibility::Public));
    }
    if let Some(after) = after {
        q = q.filter(comment::Column::Id.gt(after));
    }
    let rows = q
        .order_by_asc(comment::Column::Id)
        .limit(limit)
        .into_model::<Named<comment::Entity>>()
        .all(txn)
        .await?;
    Ok(rows.into_iter().map(|Named(c)| c).collect())
}

/// Open children of `parent`.
pub async fn open_children(
    txn: &DatabaseTransaction,
    parent: &Incident,
) -> Result<Vec<Incident>, DbErr> {
    incident::Entity::find()
        .filter(incident::Column::TenantId.eq(parent.tenant_id))
        .filter(incident::Column::ParentId.eq(parent.id))
        .filter(incident::Column::State.is_in(State::ALL.into_iter().filter(|s| s.is_open())))
        .order_by_asc(incident::Column::Id)
        .into_model::<Named<incident::Entity>>()
        .all(txn)
        .await
        .map(|rows| rows.into_iter().map(|Named(inc)| inc).collect())
}
