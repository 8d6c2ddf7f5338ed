//! SLA calendars, definitions, calendar snapshots, clocks and their marks.
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait,
    DatabaseTransaction, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::entities::{
    sla_calendar, sla_calendar_snapshot, sla_clock, sla_clock_event, sla_definition,
};
use crate::domain::{
    calendar::CalendarSpec,
    sla::{Event, Kind, Rules, Status, Subject},
};

pub use sla_calendar::Model as CalendarRow;
pub use sla_calendar_snapshot::Model as SnapshotRow;
pub use sla_clock::Model as ClockRow;
pub use sla_clock_event::Model as MarkRow;
pub use sla_definition::Model as DefinitionRow;

/// Calendars of `tenants` (a tenant and its ancestors), oldest first.
pub async fn calendars(
    txn: &DatabaseTransaction,
    tenants: &[TenantId],
) -> Result<Vec<CalendarRow>, DbErr> {
    sla_calendar::Entity::find()
        .filter(sla_calendar::Column::TenantId.is_in(tenants.iter().copied()))
        .order_by_asc(sla_calendar::Column::Id)
        .all(txn)
        .await
}

/// Definitions of `tenants` (a tenant and its ancestors), oldest first.
pub async fn definitions(
    txn: &DatabaseTransaction,
    tenants: &[TenantId],
) -> Result<Vec<DefinitionRow>, DbErr> {
    sla_definition::Entity::find()
        .filter(sla_definition::Column::TenantId.is_in(tenants.iter().copied()))
        .order_by_asc(sla_definition::Column::Id)
        .all(txn)
        .await
}

// The stored text of the SLA engine's enums.

pub fn kind_str(kind: Kind) -> &'static str {
    match kind {
        Kind::Response => "response",
        Kind::Resolution => "resolution",
    }
}

pub fn parse_kind(raw: &str) -> Option<Kind> {
    match raw {
        "response" => Some(Kind::Response),
        "resolution" => Some(Kind::Resolution),
        _ => None,
    }
}

pub fn status_str(status: Status) -> &'static str {
    match status {
        Status::Pending => "pending",
        Status::Running => "running",
        Status::Paused => "paused",
        Status::Stopped => "stopped",
        Status::Canceled => "canceled",
    }
}

pub fn parse_status(raw: &str) -> Status {
    match raw {
        "running" => Status::Running,
        "paused" => Status::Paused,
        "stopped" => Status::Stopped,
        "canceled" => Status::Canceled,
        _ => Status::Pending,
    }
}

/// A checked business calendar, as created or replaced.
pub struct NewCalendar {
    pub name: String,
    pub is_default: bool,
    pub spec: CalendarSpec,
}

/// A checked SLA definition, as created or replaced.
pub struct NewDefinition {
    pub name: String,
    pub applies_to: Subject,
    pub kind: Kind,
    pub target_seconds: i64,
    pub calendar_id: Option<Uuid>,
    pub rules: Rules,
    pub active: bool,
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, DbErr> {
    serde_json::to_string(value).map_err(|e| DbErr::Custom(e.to_string()))
}

fn write_calendar(am: &mut sla_calendar::ActiveModel, new: &NewCalendar) -> Result<(), DbErr> {
    am.name = Set(new.name.clone());
    am.is_default = Set(new.is_default);
    am.spec = Set(json(&new.spec)?);
    Ok(())
}

/// Creates `tenant`'s calendar; a new default one first stops the old default being one.
pub async fn insert_calendar(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    new: &NewCalendar,
) -> Result<CalendarRow, DbErr> {
    if new.is_default {
        clear_default_calendar(txn, tenant).await?;
    }
    let mut am = sla_calendar::ActiveModel::new();
    am.tenant_id = Set(tenant.into());
    write_calendar(&mut am, new)?;
    am.insert(txn).await
}

/// Replaces a calendar (a new version); becoming the default stops the old default being one.
pub async fn replace_calendar(
    txn: &DatabaseTransaction,
    row: CalendarRow,
    new: &NewCalendar,
) -> Result<CalendarRow, DbErr> {
    if new.is_default && !row.is_default {
        clear_default_calendar(txn, TenantId(row.tenant_id)).await?;
    }
    let mut am = row.into_active_model();
    write_calendar(&mut am, new)?;
    am.update(txn).await
}

fn write_definition(
    am: &mut sla_definition::ActiveModel,
    new: &NewDefinition,
) -> Result<(), DbErr> {
    am.name = Set(new.name.clone());
    am.applies_to = Set(new.applies_to.as_str().to_string());
    am.kind = Set(kind_str(new.kind).to_string());
    am.target_seconds = Set(new.target_seconds);
    am.calendar_id = Set(new.calendar_id);
    am.rules = Set(json(&new.rules)?);
    am.active = Set(new.active);
    Ok(())
}

/// Creates `tenant`'s SLA definition.
pub async fn insert_definition(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    new: &NewDefinition,
) -> Result<DefinitionRow, DbErr> {
    let mut am = sla_definition::ActiveModel::new();
    am.tenant_id = Set(tenant.into());
    write_definition(&mut am, new)?;
    am.insert(txn).await
}

/// Replaces an SLA definition (a new version).
pub async fn replace_definition(
    txn: &DatabaseTransaction,
    row: DefinitionRow,
    new: &NewDefinition,
) -> Result<DefinitionRow, DbErr> {
    let mut am = row.into_active_model();
    write_definition(&mut am, new)?;
    am.update(txn).await
}

/// Makes `tenant`'s default calendar not the default any more (before another becomes it).
pub async fn clear_default_calendar(
    txn: &DatabaseTransaction,
    tenant: TenantId,
) -> Result<(), DbErr> {
    sla_calendar::Entity::update_many()
        .col_expr(
            sla_calendar::Column::IsDefault,
            sea_orm::sea_query::Expr::value(false),
        )
        .filter(sla_calendar::Column::TenantId.eq(tenant))
        .filter(sla_calendar::Column::IsDefault.eq(true))
        .exec(txn)
        .await
        .map(|_| ())
}

/// The content address of a calendar: clocks pin it, so a later edit of the calendar never
/// changes how an existing clock counts.
pub fn digest(spec: &CalendarSpec) -> (String, String) {
    let json = serde_json::to_string(spec).unwrap_or_default();
    (hex::encode(Sha256::digest(json.as_bytes())), json)
}

/// Stores a calendar snapshot (once per tenant and content).
pub async fn pin_calendar(txn: &DatabaseTransaction, snapshot: SnapshotRow) -> Result<(), DbErr> {
    sla_calendar_snapshot::Entity::insert(snapshot.into_active_model().reset_all())
        .on_conflict_do_nothing_on([
            sla_calendar_snapshot::Column::TenantId,
            sla_calendar_snapshot::Column::Digest,
        ])
        .exec(txn)
        .await?;
    Ok(())
}

/// A pinned calendar.
pub async fn snapshot(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    digest: &str,
) -> Result<Option<CalendarSpec>, DbErr> {
    let row = sla_calendar_snapshot::Entity::find_by_id((tenant.as_uuid(), digest.to_string()))
        .one(db)
        .await?;
    row.map(|r| serde_json::from_str(&r.spec).map_err(|e| DbErr::Json(e.to_string())))
        .transpose()
}

/// The clocks of an incident or request item, with `lock` locked for update (a subject's
/// clocks change in one transaction at a time, and the scheduler skips locked clocks; SQLite
/// has one writer anyway).
pub async fn clocks_of(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    subject: Subject,
    id: Uuid,
    lock: bool,
) -> Result<Vec<ClockRow>, DbErr> {
    let q = sla_clock::Entity::find()
        .filter(sla_clock::Column::TenantId.eq(tenant))
        .filter(sla_clock::Column::SubjectId.eq(id))
        .filter(sla_clock::Column::Subject.eq(subject.as_str()))
        .order_by_asc(sla_clock::Column::CreatedAt)
        .order_by_asc(sla_clock::Column::Id);
    let q = if lock {
        sea_orm::QuerySelect::lock_exclusive(q)
    } else {
        q
    };
    q.all(txn).await
}

pub async fn insert_clock(txn: &DatabaseTransaction, row: ClockRow) -> Result<(), DbErr> {
    sla_clock::Entity::insert(sla_clock::ActiveModel::from(row).reset_all())
        .exec_without_returning(txn)
        .await
        .map(|_| ())
}

pub async fn update_clock(txn: &DatabaseTransaction, row: ClockRow) -> Result<(), DbErr> {
    let am: sla_clock::ActiveModel = sla_clock::ActiveModel::from(row).reset_all();
    sla_clock::Entity::update(am).exec(txn).await.map(|_| ())
}

/// Runs `sql` with the rows as one JSON parameter (`json_to_recordset($1::json)`): one short
/// statement however many rows, so PostgreSQL neither parses nor plans thousands of
/// placeholders.
async fn with_json_rows(
    txn: &DatabaseTransaction,
    sql: &str,
    rows: Vec<serde_json::Value>,
) -> Result<(), DbErr> {
    txn.execute_raw(sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        sql,
        [serde_json::Value::Array(rows).to_string().into()],
    ))
    .await
    .map(|_| ())
}

/// A mark of clock `clock` (of `tenant`) as its row.
pub fn mark_row(tenant: TenantId, clock: Uuid, e: &Event) -> MarkRow {
    MarkRow {
        id: Uuid::now_v7(),
        tenant_id: tenant.into(),
        clock_id: clock,
        at: e.at,
        mark: serde_json::to_string(&e.mark).unwrap_or_default(),
    }
}

/// Appends marks in one statement.
pub async fn add_marks(txn: &DatabaseTransaction, marks: &[MarkRow]) -> Result<(), DbErr> {
    if marks.is_empty() {
        return Ok(());
    }
    let rows = marks.iter().cloned();
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        let json = rows
            .map(|r| {
                serde_json::json!({"id": r.id, "tenant_id": r.tenant_id, "clock_id": r.clock_id,
                                   "at": r.at, "mark": r.mark})
            })
            .collect();
        return with_json_rows(
            txn,
            "INSERT INTO sla_clock_events (id, tenant_id, clock_id, at, mark) \
             SELECT id, tenant_id, clock_id, at, mark FROM json_to_recordset($1::json) \
             AS v(id uuid, tenant_id uuid, clock_id uuid, at timestamptz, mark text)",
            json,
        )
        .await;
    }
    sla_clock_event::Entity::insert_many(rows.map(|r| r.into_active_model().reset_all()))
        .exec_without_returning(txn)
        .await
        .map(|_| ())
}

/// Stores what the scheduler changes on fired clocks (thresholds reached, next firing time,
/// version): one statement on PostgreSQL.
pub async fn update_fired(txn: &DatabaseTransaction, rows: &[ClockRow]) -> Result<(), DbErr> {
    if txn.get_database_backend() != sea_orm::DbBackend::Postgres {
        for row in rows {
            update_clock(txn, row.clone()).await?;
        }
        return Ok(());
    }
    let json = rows
        .iter()
        .map(|r| {
            serde_json::json!({"tenant_id": r.tenant_id, "id": r.id, "reached": r.reached,
                               "next_fire_at": r.next_fire_at, "version": r.version,
                               "updated_at": r.updated_at})
        })
        .collect();
    with_json_rows(
        txn,
        "UPDATE sla_clocks AS c SET reached = v.reached, next_fire_at = v.next_fire_at, \
         version = v.version, updated_at = v.updated_at \
         FROM json_to_recordset($1::json) AS v(tenant_id uuid, id uuid, reached smallint, \
         next_fire_at timestamptz, version bigint, updated_at timestamptz) \
         WHERE c.id = v.id AND c.tenant_id = v.tenant_id",
        json,
    )
    .await
}

/// A clock's marks in the order they happened (a mark's time, then its time-ordered id for
/// marks of the same instant).
pub async fn events_of(txn: &DatabaseTransaction, clock: &ClockRow) -> Result<Vec<Event>, DbErr> {
    let rows = sla_clock_event::Entity::find()
        .filter(sla_clock_event::Column::TenantId.eq(clock.tenant_id))
        .filter(sla_clock_event::Column::ClockId.eq(clock.id))
        .order_by_asc(sla_clock_event::Column::At)
        .order_by_asc(sla_clock_event::Column::Id)
        .all(txn)
        .await?;
    rows.into_iter()
        .map(|r| {
            serde_json::from_str(&r.mark)
                .map(|mark| Event { at: r.at, mark })
                .map_err(|e| DbErr::Json(e.to_string()))
        })
        .collect()
}

/// What starting clocks writes: the calendars they pin, the clocks, their first marks and
/// what they announce; and the queue key they give the incident.
pub struct Started {
    pub snapshots: Vec<SnapshotRow>,
    pub clocks: Vec<ClockRow>,
    pub marks: Vec<MarkRow>,
    pub outbox: bus::outbox::Batch,
    pub due: chrono::DateTime<chrono::Utc>,
}

impl Started {
    /// The name and kind of the clock whose deadline is the queue key (the first started, on
    /// a tie), as a queue row shows it.
    pub fn next_sla(&self) -> Option<(String, String)> {
        self.clocks
            .iter()
            .find(|c| c.due_at == Some(self.due))
            .map(|c| (c.name.clone(), c.kind.clone()))
    }
}

/// The clocks of the request items `ids` (of the tenants the transaction is scoped to).
pub async fn request_item_clocks(
    txn: &DatabaseTransaction,
    ids: &[Uuid],
) -> Result<Vec<ClockRow>, DbErr> {
    sla_clock::Entity::find()
        .filter(sla_clock::Column::Subject.eq(Subject::RequestItem.as_str()))
        .filter(sla_clock::Column::SubjectId.is_in(ids.iter().copied()))
        .order_by_asc(sla_clock::Column::Id)
        .all(txn)
        .await
}
