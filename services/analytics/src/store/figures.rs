//! The figures' tables: each ticket's facts (`analytics_tickets`), per-day counts and duration
//! histograms (`analytics_days`, one row per tenant and day), open incidents
//! by the hour they were created (`analytics_open`) and incident volumes per dimension
//! (`analytics_volumes`). Queries read these, never the tickets.
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use platform::tenancy::TenantId;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    FromQueryResult, QueryFilter, QuerySelect, Statement, Value,
    sea_query::{Alias, Asterisk, Expr, ExprTrait, LockType, Order, Query},
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::{
    figures::{Dimension, Rows, Ticket},
    improvement::Resolutions,
    summary::Totals,
};

pub mod tickets {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "analytics_tickets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub version: i64,
        pub facts: Json,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod days {
    use sea_orm::entity::prelude::*;

    /// Part of a tenant's counts and histograms of one local day: `figures` is its
    /// [`Totals`](crate::domain::summary::Totals) in JSON; the day's figures are the sum of
    /// its parts (`super::PARTS`).
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "analytics_day_parts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: Date,
        #[sea_orm(primary_key, auto_increment = false)]
        pub part: i16,
        #[sea_orm(column_type = "Text")]
        pub figures: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod open {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "analytics_open")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub hour: DateTimeUtc,
        pub open: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod volumes {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "analytics_volumes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub dimension: String,
        /// `""` for none.
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: Date,
        pub count: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A set of figure tables: the live ones, or the shadow ones a rebuild replays into.
#[derive(Debug, Clone, Copy)]
pub struct Tables {
    pub tickets: &'static str,
    pub days: &'static str,
    pub open: &'static str,
    pub volumes: &'static str,
}

impl Tables {
    pub fn all(&self) -> [&'static str; 4] {
        [self.tickets, self.days, self.open, self.volumes]
    }
}

pub const LIVE: Tables = Tables {
    tickets: "analytics_tickets",
    days: "analytics_day_parts",
    open: "analytics_open",
    volumes: "analytics_volumes",
};

pub const SHADOW: Tables = Tables {
    tickets: "analytics_tickets_shadow",
    days: "analytics_day_parts_shadow",
    open: "analytics_open_shadow",
    volumes: "analytics_volumes_shadow",
};

/// Rows written per statement.
const CHUNK: usize = 1_000;

/// Rows from which `insert` sends them as one JSON parameter on PostgreSQL (a replay's
/// writes); fewer (an event's) go as a `VALUES` list, cheaper for the server to take.
const BULK: usize = 50;

/// Parts each tenant's day is kept in. Every event adds to one part (its ticket's), so the
/// events of one tenant and day queue on eight rows rather than one; a reader sums the parts.
pub const PARTS: u128 = 8;

/// The part of a day that the figures of ticket (or event) `id` go to.
pub fn part_of(id: Uuid) -> i16 {
    i16::try_from(id.as_u128() % PARTS).unwrap_or(0)
}

/// A ticket's facts and the version of the last event of its own that was folded in, locked
/// until the transaction ends (a rebuild's swap waits for it, and it for the swap).
pub async fn ticket(txn: &DatabaseTransaction, id: Uuid) -> Result<Option<(i64, Ticket)>, DbErr> {
    let Some(row) = tickets::Entity::find_by_id(id)
        .lock_exclusive()
        .one(txn)
        .await?
    else {
        return Ok(None);
    };
    let facts = serde_json::from_value(row.facts)
        .map_err(|e| DbErr::Json(format!("ticket {id}'s facts: {e}")))?;
    Ok(Some((row.version, facts)))
}

/// Writes tickets' facts (each with its version) to `tables`.
pub async fn save_tickets(
    txn: &DatabaseTransaction,
    tables: Tables,
    tenant: TenantId,
    tickets: &HashMap<Uuid, (i64, Ticket)>,
) -> Result<(), DbErr> {
    let mut rows = Vec::with_capacity(tickets.len());
    for (id, (version, facts)) in tickets {
        let facts = serde_json::to_value(facts).map_err(|e| DbErr::Json(e.to_string()))?;
        rows.push(vec![
            (*id).into(),
            tenant.as_uuid().into(),
            (*version).into(),
            facts.into(),
        ]);
    }
    let columns = [
        ("id", "uuid"),
        ("tenant_id", "uuid"),
        ("version", "bigint"),
        ("facts", "json"),
    ];
    let then = Then::Replace(&["version", "facts"]);
    insert(txn, tables.tickets, &columns, &["id"], then, rows).await
}

/// Adds `rows` to `tenant`'s figures in `tables`: one upsert per table (per thousand rows),
/// adding to what is there; the day rows are read, merged and written back to their `part`
/// (`add_days`).
pub async fn write(
    txn: &DatabaseTransaction,
    tables: Tables,
    tenant: Uuid,
    part: i16,
    rows: Rows,
) -> Result<(), DbErr> {
    let rows = rows.without_zeros();
    add_days(txn, tables.days, tenant, part, rows.days).await?;
    let opened = rows
        .opened
        .into_iter()
        .map(|(hour, by)| vec![tenant.into(), hour.into(), by.into()])
        .collect();
    let columns = [
        ("tenant_id", "uuid"),
        ("hour", "timestamptz"),
        ("open", "bigint"),
    ];
    let key = ["tenant_id", "hour"];
    insert(txn, tables.open, &columns, &key, Then::Add("open"), opened).await?;
    let volumes = rows
        .volumes
        .into_iter()
        .map(|((dimension, key, day), by)| {
            vec![
                tenant.into(),
                dimension.as_str().into(),
                key.into(),
                day.into(),
                by.into(),
            ]
        })
        .collect();
    let columns = [
        ("tenant_id", "uuid"),
        ("dimension", "text"),
        ("key", "text"),
        ("day", "date"),
        ("count", "bigint"),
    ];
    let key = ["tenant_id", "dimension", "key", "day"];
    insert(
        txn,
        tables.volumes,
        &columns,
        &key,
        Then::Add("count"),
        volumes,
    )
    .await
}

/// Adds each day's totals to `tenant`'s row of that day and `part` in `table`. A day row
/// holds every figure of the day (or of its part) in one JSON value, so a summary reads a few
/// rows per tenant and day rather than one per metric and histogram bucket. The rows are
/// created when missing, then locked in day order (so two transactions adding to the same
/// days wait rather than deadlock), merged here and written back.
async fn add_days(
    txn: &DatabaseTransaction,
    table: &str,
    tenant: Uuid,
    part: i16,
    mut days: BTreeMap<NaiveDate, Totals>,
) -> Result<(), DbErr> {
    if days.is_empty() {
        return Ok(());
    }
    let columns = [
        ("tenant_id", "uuid"),
        ("day", "date"),
        ("part", "smallint"),
        ("figures", "text"),
    ];
    let key = ["tenant_id", "day", "part"];
    let row = |day: NaiveDate, figures: String| {
        vec![tenant.into(), day.into(), part.into(), figures.into()]
    };
    let empty = days.keys().map(|d| row(*d, "{}".to_owned())).collect();
    insert(txn, table, &columns, &key, Then::Keep, empty).await?;
    let backend = txn.get_database_backend();
    for chunk in days.keys().copied().collect::<Vec<_>>().chunks(CHUNK) {
        let mut q = Query::select();
        q.columns([Alias::new("day"), Alias::new("figures")])
            .from(Alias::new(table))
            .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant))
            .and_where(Expr::col(Alias::new("part")).eq(part))
            .and_where(Expr::col(Alias::new("day")).is_in(chunk.iter().copied()))
            .order_by(Alias::new("day"), Order::Asc);
        if backend == DbBackend::Postgres {
            q.lock(LockType::Update);
        }
        for stored in txn.query_all_raw(backend.build(&q)).await? {
            let day: NaiveDate = stored.try_get("", "day")?;
            let figures: String = stored.try_get("", "figures")?;
            if let Some(adding) = days.get_mut(&day) {
                adding.merge(&parse_day(tenant, day, &figures)?);
            }
        }
    }
    let mut merged = Vec::with_capacity(days.len());
    for (day, totals) in days {
        let figures = serde_json::to_string(&totals).map_err(|e| DbErr::Json(e.to_string()))?;
        merged.push(row(day, figures));
    }
    insert(
        txn,
        table,
        &columns,
        &key,
        Then::Replace(&["figures"]),
        merged,
    )
    .await
}

/// A stored day row's figures.
fn parse_day(tenant: Uuid, day: NaiveDate, figures: &str) -> Result<Totals, DbErr> {
    serde_json::from_str(figures)
        .map_err(|e| DbErr::Json(format!("tenant {tenant}'s figures of {day}: {e}")))
}

/// What `insert` does with a row whose key is already there.
#[derive(Debug, Clone, Copy)]
enum Then {
    /// Leaves the stored row as it is.
    Keep,
    /// Overwrites these columns.
    Replace(&'static [&'static str]),
    /// Adds to this column.
    Add(&'static str),
}

/// `INSERT … ON CONFLICT (key)` of `rows` into `table`, a thousand at a time. `columns` are
/// each row's names and PostgreSQL types.
///
/// On PostgreSQL, from `BULK` rows, the rows travel as one JSON parameter
/// (`json_to_recordset`): the statement's text is the same for any number of rows, so it is
/// prepared once, where a `VALUES` list of thousands of parameters is parsed and planned anew
/// for each length (a rebuild went 13 % faster).
async fn insert(
    txn: &DatabaseTransaction,
    table: &str,
    columns: &[(&str, &str)],
    key: &[&str],
    then: Then,
    rows: Vec<Vec<Value>>,
) -> Result<(), DbErr> {
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let names = names.join(", ");
    let on_conflict = match then {
        Then::Keep => "DO NOTHING".to_owned(),
        Then::Replace(set) => {
            let set: Vec<String> = set.iter().map(|c| format!("{c} = excluded.{c}")).collect();
            format!("DO UPDATE SET {}", set.join(", "))
        }
        Then::Add(c) => format!("DO UPDATE SET {c} = {table}.{c} + excluded.{c}"),
    };
    let on_conflict = format!("ON CONFLICT ({}) {on_conflict}", key.join(", "));
    let backend = txn.get_database_backend();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Value>> = rows.by_ref().take(CHUNK).collect();
        let statement = if backend == DbBackend::Postgres && chunk.len() >= BULK {
            let types: Vec<String> = columns.iter().map(|(n, t)| format!("{n} {t}")).collect();
            let mut records = Vec::with_capacity(chunk.len());
            for row in chunk {
                let mut record = serde_json::Map::new();
                for ((name, _), value) in columns.iter().zip(row) {
                    record.insert((*name).to_owned(), json_of(value)?);
                }
                records.push(serde_json::Value::Object(record));
            }
            Statement::from_sql_and_values(
                backend,
                format!(
                    "INSERT INTO {table} ({names}) SELECT {names} \
                     FROM json_to_recordset($1::json) AS r({}) {on_conflict}",
                    types.join(", ")
                ),
                [serde_json::Value::Array(records).into()],
            )
        } else {
            let mut n = 0;
            let mut placeholder = || {
                n += 1;
                match backend {
                    DbBackend::Postgres => format!("${n}"),
                    _ => "?".to_owned(),
                }
            };
            let values: Vec<String> = chunk
                .iter()
                .map(|row| {
                    let row: Vec<String> = row.iter().map(|_| placeholder()).collect();
                    format!("({})", row.join(", "))
                })
                .collect();
            let values = values.join(", ");
            Statement::from_sql_and_values(
                backend,
                format!("INSERT INTO {table} ({names}) VALUES {values} {on_conflict}"),
                chunk.into_iter().flatten(),
            )
        };
        txn.execute_raw(statement).await?;
    }
    Ok(())
}

/// A value as `json_to_recordset` reads it into a column of its type.
fn json_of(value: Value) -> Result<serde_json::Value, DbErr> {
    use serde_json::Value as Json;
    Ok(match value {
        Value::Uuid(v) => v.map_or(Json::Null, |v| Json::String(v.to_string())),
        Value::String(v) => v.map_or(Json::Null, Json::String),
        Value::BigInt(v) => v.map_or(Json::Null, Json::from),
        Value::Int(v) => v.map_or(Json::Null, Json::from),
        Value::SmallInt(v) => v.map_or(Json::Null, Json::from),
        Value::ChronoDate(v) => v.map_or(Json::Null, |v| Json::String(v.to_string())),
        Value::ChronoDateTimeUtc(v) => v.map_or(Json::Null, |v| Json::String(v.to_rfc3339())),
        Value::Json(v) => v.map_or(Json::Null, |v| *v),
        other => return Err(DbErr::Custom(format!("no JSON form for {other:?}"))),
    })
}

/// Deletes the rows of `tenants` from `tables` (`txn` is scoped to them).
pub async fn clear(
    txn: &DatabaseTransaction,
    tables: Tables,
    tenants: &[TenantId],
) -> Result<(), DbErr> {
    for table in tables.all() {
        let q = Query::delete()
            .from_table(Alias::new(table))
            .and_where(of_tenants(tenants))
            .to_owned();
        txn.execute_raw(txn.get_database_backend().build(&q))
            .await?;
    }
    Ok(())
}

/// Replaces the live rows of `tenants` by their shadow rows, and empties those (`txn` is
/// scoped to them): three statements per table for all of them.
pub async fn swap_in(txn: &DatabaseTransaction, tenants: &[TenantId]) -> Result<(), DbErr> {
    clear(txn, LIVE, tenants).await?;
    for (live, shadow) in LIVE.all().into_iter().zip(SHADOW.all()) {
        let q = Query::select()
            .column(Asterisk)
            .from(Alias::new(shadow))
            .and_where(of_tenants(tenants))
            .to_owned();
        let mut copy = txn.get_database_backend().build(&q);
        copy.sql = format!("INSERT INTO {live} {}", copy.sql);
        txn.execute_raw(copy).await?;
    }
    clear(txn, SHADOW, tenants).await
}

fn of_tenants(tenants: &[TenantId]) -> Expr {
    Expr::col(Alias::new("tenant_id")).is_in(tenants.iter().map(|t| t.as_uuid()))
}

fn placeholder(txn: &DatabaseTransaction) -> &'static str {
    match txn.get_database_backend() {
        DbBackend::Postgres => "$1",
        _ => "?",
    }
}

/// Feeds `tenant`'s rows in `tables`, in key order, into `digest`: one line per row.
pub async fn digest(
    txn: &DatabaseTransaction,
    tables: Tables,
    tenant: TenantId,
    digest: &mut Sha256,
) -> Result<(), DbErr> {
    // Rows summing to nothing (a reopened incident's old resolution) are as good as absent.
    let rows = |table: &str, nonzero: &str, order: &str| {
        Statement::from_sql_and_values(
            txn.get_database_backend(),
            format!(
                "SELECT * FROM {table} WHERE tenant_id = {} AND {nonzero} <> 0 ORDER BY {order}",
                placeholder(txn)
            ),
            [tenant.as_uuid().into()],
        )
    };
    for t in tickets::Model::find_by_statement(rows(tables.tickets, "1", "id"))
        .all(txn)
        .await?
    {
        digest.update(format!("t {} {} {}\n", t.id, t.version, t.facts));
    }
    // A day's parts are summed and the sum re-written from the parsed value, so the digest
    // depends neither on how the figures were spread over parts nor on key order.
    let mut per_day: BTreeMap<NaiveDate, Totals> = BTreeMap::new();
    for d in days::Model::find_by_statement(rows(tables.days, "1", "day, part"))
        .all(txn)
        .await?
    {
        per_day
            .entry(d.day)
            .or_default()
            .merge(&parse_day(d.tenant_id, d.day, &d.figures)?);
    }
    for (day, totals) in per_day.iter().filter(|(_, t)| !t.is_empty()) {
        let figures = serde_json::to_string(totals).map_err(|e| DbErr::Json(e.to_string()))?;
        digest.update(format!("d {} {day} {figures}\n", tenant.as_uuid()));
    }
    for o in open::Model::find_by_statement(rows(tables.open, "open", "hour"))
        .all(txn)
        .await?
    {
        digest.update(format!(
            "o {} {} {}\n",
            o.tenant_id,
            o.hour.to_rfc3339(),
            o.open
        ));
    }
    for v in volumes::Model::find_by_statement(rows(tables.volumes, "count", "dimension, key, day"))
        .all(txn)
        .await?
    {
        digest.update(format!(
            "v {} {} {} {} {}\n",
            v.tenant_id, v.dimension, v.key, v.day, v.count
        ));
    }
    Ok(())
}

/// The incidents created by `tenants` on the local days `from..=to`, per tenant and key of
/// `dimension` (`""` for none).
pub async fn volumes_of(
    txn: &DatabaseTransaction,
    tenants: &[TenantId],
    dimension: Dimension,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<BTreeMap<Uuid, BTreeMap<String, i64>>, DbErr> {
    let rows: Vec<(Uuid, String, i64)> = volumes::Entity::find()
        .select_only()
        .column(volumes::Column::TenantId)
        .column(volumes::Column::Key)
        .column_as(Expr::cust("CAST(SUM(count) AS BIGINT)"), "count")
        .filter(volumes::Column::TenantId.is_in(tenants.iter().map(|t| t.as_uuid())))
        .filter(volumes::Column::Dimension.eq(dimension.as_str()))
        .filter(volumes::Column::Day.between(from, to))
        .group_by(volumes::Column::TenantId)
        .group_by(volumes::Column::Key)
        .into_tuple()
        .all(txn)
        .await?;
    let mut out: BTreeMap<Uuid, BTreeMap<String, i64>> = BTreeMap::new();
    for (tenant, key, count) in rows.into_iter().filter(|(_, _, c)| *c != 0) {
        out.entry(tenant).or_default().insert(key, count);
    }
    Ok(out)
}

/// `tenant`'s final resolutions of incidents of `service` on the local days `from..=to`, and
/// how many of them met their resolution target.
pub async fn service_resolutions(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    service: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Resolutions, DbErr> {
    let rows: Vec<(String, i64)> = volumes::Entity::find()
        .select_only()
        .column(volumes::Column::Dimension)
        .column_as(Expr::cust("CAST(SUM(count) AS BIGINT)"), "count")
        .filter(volumes::Column::TenantId.eq(tenant.as_uuid()))
        .filter(volumes::Column::Dimension.is_in([
            Dimension::ServiceResolved.as_str(),
            Dimension::ServiceResolutionMet.as_str(),
        ]))
        .filter(volumes::Column::Key.eq(service.to_string()))
        .filter(volumes::Column::Day.between(from, to))
        .group_by(volumes::Column::Dimension)
        .into_tuple()
        .all(txn)
        .await?;
    let mut out = Resolutions::default();
    for (dimension, n) in rows {
        if dimension == Dimension::ServiceResolved.as_str() {
            out.resolved = n;
        } else {
            out.met = n;
        }
    }
    Ok(out)
}

/// How the figures of a period are grouped: per tenant (`Uuid`: a summary and its rollup) or
/// per day (`NaiveDate`: a time series).
pub trait Grouping: Ord + Clone {
    fn of(tenant: Uuid, day: NaiveDate) -> Self;
}

impl Grouping for Uuid {
    fn of(tenant: Uuid, _: NaiveDate) -> Self {
        tenant
    }
}

impl Grouping for NaiveDate {
    fn of(_: Uuid, day: NaiveDate) -> Self {
        day
    }
}

/// The counts and histograms of `tenants` over the local days `from..=to`, summed per group
/// (`K`: per tenant or per day). One row per tenant and day is read.
pub async fn totals<K: Grouping>(
    txn: &DatabaseTransaction,
    tenants: &[TenantId],
    from: NaiveDate,
    to: NaiveDate,
) -> Result<BTreeMap<K, Totals>, DbErr> {
    let rows: Vec<(Uuid, NaiveDate, String)> = days::Entity::find()
        .select_only()
        .column(days::Column::TenantId)
        .column(days::Column::Day)
        .column(days::Column::Figures)
        .filter(days::Column::TenantId.is_in(tenants.iter().map(|t| t.as_uuid())))
        .filter(days::Column::Day.between(from, to))
        .into_tuple()
        .all(txn)
        .await?;
    let mut out: BTreeMap<K, Totals> = BTreeMap::new();
    for (tenant, day, figures) in rows {
        out.entry(K::of(tenant, day))
            .or_default()
            .merge(&parse_day(tenant, day, &figures)?);
    }
    Ok(out)
}

/// Open incidents of `tenants` by the UTC hour they were created, per tenant.
pub async fn open_by_hour(
    txn: &DatabaseTransaction,
    tenants: &[TenantId],
) -> Result<Vec<(Uuid, DateTime<Utc>, i64)>, DbErr> {
    open::Entity::find()
        .select_only()
        .column(open::Column::TenantId)
        .column(open::Column::Hour)
        .column(open::Column::Open)
        .filter(open::Column::TenantId.is_in(tenants.iter().map(|t| t.as_uuid())))
        .filter(open::Column::Open.ne(0))
        .into_tuple()
        .all(txn)
        .await
}
