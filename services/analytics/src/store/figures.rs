//! The figures' tables: each ticket's facts (`analytics_tickets`), per-day counts
//! (`analytics_daily`), per-day duration histograms (`analytics_histograms`), open incidents
//! by the hour they were created (`analytics_open`) and incident volumes per dimension
//! (`analytics_volumes`). Queries read these, never the tickets.
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use platform::tenancy::TenantId;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    FromQueryResult, QueryFilter, QuerySelect, Statement, TryGetable,
    sea_query::{Alias, Expr, ExprTrait, OnConflict, Query},
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::{
    figures::{Dimension, Metric, Rows, Ticket},
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

pub mod daily {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "analytics_daily")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub metric: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: Date,
        pub value: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod histograms {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "analytics_histograms")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub metric: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: Date,
        #[sea_orm(primary_key, auto_increment = false)]
        pub bucket: i32,
        pub count: i64,
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
    pub daily: &'static str,
    pub histograms: &'static str,
    pub open: &'static str,
    pub volumes: &'static str,
}

impl Tables {
    pub fn all(&self) -> [&'static str; 5] {
        [
            self.tickets,
            self.daily,
            self.histograms,
            self.open,
            self.volumes,
        ]
    }
}

pub const LIVE: Tables = Tables {
    tickets: "analytics_tickets",
    daily: "analytics_daily",
    histograms: "analytics_histograms",
    open: "analytics_open",
    volumes: "analytics_volumes",
};

pub const SHADOW: Tables = Tables {
    tickets: "analytics_tickets_shadow",
    daily: "analytics_daily_shadow",
    histograms: "analytics_histograms_shadow",
    open: "analytics_open_shadow",
    volumes: "analytics_volumes_shadow",
};

/// Rows written per statement.
const CHUNK: usize = 1_000;

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
    let mut values = Vec::with_capacity(tickets.len());
    for (id, (version, facts)) in tickets {
        let facts = serde_json::to_value(facts).map_err(|e| DbErr::Json(e.to_string()))?;
        values.push(vec![
            Expr::val(*id),
            Expr::val(tenant.as_uuid()),
            Expr::val(*version),
            Expr::val(facts),
        ]);
    }
    let set = OnConflict::column(Alias::new("id"))
        .update_columns([Alias::new("version"), Alias::new("facts")])
        .to_owned();
    insert(
        txn,
        tables.tickets,
        &["id", "tenant_id", "version", "facts"],
        values,
        set,
    )
    .await
}

/// Adds `rows` to `tenant`'s figures in `tables`: one upsert per table (per thousand rows),
/// adding to what is there.
pub async fn write(
    txn: &DatabaseTransaction,
    tables: Tables,
    tenant: Uuid,
    rows: Rows,
) -> Result<(), DbErr> {
    let rows = rows.without_zeros();
    let adding = |table: &str, key: &[&str], column: &str| {
        OnConflict::columns(key.iter().map(|c| Alias::new(*c)))
            .value(
                Alias::new(column),
                Expr::cust(format!("{table}.{column} + excluded.{column}")),
            )
            .to_owned()
    };
    let counts = rows
        .counts
        .into_iter()
        .map(|((metric, day), by)| {
            vec![
                Expr::val(tenant),
                Expr::val(metric.as_str()),
                Expr::val(day),
                Expr::val(by),
            ]
        })
        .collect();
    insert(
        txn,
        tables.daily,
        &["tenant_id", "metric", "day", "value"],
        counts,
        adding(tables.daily, &["tenant_id", "metric", "day"], "value"),
    )
    .await?;
    let samples = rows
        .samples
        .into_iter()
        .map(|((metric, day, bucket), by)| {
            vec![
                Expr::val(tenant),
                Expr::val(metric.as_str()),
                Expr::val(day),
                Expr::val(bucket),
                Expr::val(by),
            ]
        })
        .collect();
    insert(
        txn,
        tables.histograms,
        &["tenant_id", "metric", "day", "bucket", "count"],
        samples,
        adding(
            tables.histograms,
            &["tenant_id", "metric", "day", "bucket"],
            "count",
        ),
    )
    .await?;
    let opened = rows
        .opened
        .into_iter()
        .map(|(hour, by)| vec![Expr::val(tenant), Expr::val(hour), Expr::val(by)])
        .collect();
    insert(
        txn,
        tables.open,
        &["tenant_id", "hour", "open"],
        opened,
        adding(tables.open, &["tenant_id", "hour"], "open"),
    )
    .await?;
    let volumes = rows
        .volumes
        .into_iter()
        .map(|((dimension, key, day), by)| {
            vec![
                Expr::val(tenant),
                Expr::val(dimension.as_str()),
                Expr::val(key),
                Expr::val(day),
                Expr::val(by),
            ]
        })
        .collect();
    insert(
        txn,
        tables.volumes,
        &["tenant_id", "dimension", "key", "day", "count"],
        volumes,
        adding(
            tables.volumes,
            &["tenant_id", "dimension", "key", "day"],
            "count",
        ),
    )
    .await
}

/// `INSERT … ON CONFLICT` of `rows` into `table`, a thousand at a time.
async fn insert(
    txn: &DatabaseTransaction,
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<Expr>>,
    on_conflict: OnConflict,
) -> Result<(), DbErr> {
    for chunk in rows.chunks(CHUNK) {
        let mut q = Query::insert();
        q.into_table(Alias::new(table))
            .columns(columns.iter().map(|c| Alias::new(*c)))
            .on_conflict(on_conflict.clone());
        for row in chunk {
            q.values(row.clone())
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        txn.execute_raw(txn.get_database_backend().build(&q))
            .await?;
    }
    Ok(())
}

/// Deletes `tenant`'s rows from `tables` (`txn` is scoped to it).
pub async fn clear(
    txn: &DatabaseTransaction,
    tables: Tables,
    tenant: TenantId,
) -> Result<(), DbErr> {
    for table in tables.all() {
        let q = Query::delete()
            .from_table(Alias::new(table))
            .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.as_uuid()))
            .to_owned();
        txn.execute_raw(txn.get_database_backend().build(&q))
            .await?;
    }
    Ok(())
}

/// Replaces `tenant`'s live rows by its shadow rows, and empties those.
pub async fn swap_in(txn: &DatabaseTransaction, tenant: TenantId) -> Result<(), DbErr> {
    clear(txn, LIVE, tenant).await?;
    for (live, shadow) in LIVE.all().into_iter().zip(SHADOW.all()) {
        txn.execute_raw(Statement::from_sql_and_values(
            txn.get_database_backend(),
            format!(
                "INSERT INTO {live} SELECT * FROM {shadow} WHERE tenant_id = {}",
                placeholder(txn)
            ),
            [tenant.as_uuid().into()],
        ))
        .await?;
    }
    clear(txn, SHADOW, tenant).await
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
    for d in daily::Model::find_by_statement(rows(tables.daily, "value", "metric, day"))
        .all(txn)
        .await?
    {
        digest.update(format!(
            "d {} {} {} {}\n",
            d.tenant_id, d.metric, d.day, d.value
        ));
    }
    for h in histograms::Model::find_by_statement(rows(
        tables.histograms,
        "count",
        "metric, day, bucket",
    ))
    .all(txn)
    .await?
    {
        digest.update(format!(
            "h {} {} {} {} {}\n",
            h.tenant_id, h.metric, h.day, h.bucket, h.count
        ));
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

/// How the figures of `from..=to` are grouped: per tenant (a summary and its rollup) or per
/// day (a time series).
#[derive(Debug, Clone, Copy)]
pub enum Grouping {
    Tenant,
    Day,
}

/// The counts and histograms of `tenants` over the local days `from..=to`, summed per group
/// (`K` is the tenant's id or the day).
pub async fn totals<K: TryGetable + Ord + Clone>(
    txn: &DatabaseTransaction,
    tenants: &[TenantId],
    from: NaiveDate,
    to: NaiveDate,
    grouping: Grouping,
) -> Result<BTreeMap<K, Totals>, DbErr> {
    let ids: Vec<Uuid> = tenants.iter().map(|t| t.as_uuid()).collect();
    let (dkey, hkey) = match grouping {
        Grouping::Tenant => (daily::Column::TenantId, histograms::Column::TenantId),
        Grouping::Day => (daily::Column::Day, histograms::Column::Day),
    };
    let counts: Vec<(K, String, i64)> = daily::Entity::find()
        .select_only()
        .column(dkey)
        .column(daily::Column::Metric)
        .column_as(Expr::cust("CAST(SUM(value) AS BIGINT)"), "value")
        .filter(daily::Column::TenantId.is_in(ids.clone()))
        .filter(daily::Column::Day.between(from, to))
        .group_by(dkey)
        .group_by(daily::Column::Metric)
        .into_tuple()
        .all(txn)
        .await?;
    let buckets: Vec<(K, String, i32, i64)> = histograms::Entity::find()
        .select_only()
        .column(hkey)
        .column(histograms::Column::Metric)
        .column(histograms::Column::Bucket)
        .column_as(Expr::cust("CAST(SUM(count) AS BIGINT)"), "count")
        .filter(histograms::Column::TenantId.is_in(ids))
        .filter(histograms::Column::Day.between(from, to))
        .group_by(hkey)
        .group_by(histograms::Column::Metric)
        .group_by(histograms::Column::Bucket)
        .into_tuple()
        .all(txn)
        .await?;
    let mut out: BTreeMap<K, Totals> = BTreeMap::new();
    for (key, metric, value) in counts {
        if let Some(m) = Metric::parse(&metric) {
            out.entry(key).or_default().add_count(m, value);
        }
    }
    for (key, metric, bucket, count) in buckets {
        if let Some(m) = Metric::parse(&metric) {
            out.entry(key).or_default().add_sample(m, bucket, count);
        }
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
