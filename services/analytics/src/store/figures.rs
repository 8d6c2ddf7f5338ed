//! The figures' tables: each ticket's facts (`analytics_tickets`), per-day counts
//! (`analytics_daily`), per-day duration histograms (`analytics_histograms`) and open incidents
//! by the hour they were created (`analytics_open`). Queries read these, never the tickets.
use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QuerySelect, TryGetable,
    sea_query::{Expr, OnConflict},
};
use uuid::Uuid;

use crate::domain::{
    figures::{Delta, Metric, Ticket},
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

/// A ticket's facts and the version of the last event of its own that was folded in.
pub async fn ticket(
    txn: &DatabaseTransaction,
    id: Uuid,
) -> Result<Option<(i64, serde_json::Value)>, DbErr> {
    Ok(tickets::Entity::find_by_id(id)
        .one(txn)
        .await?
        .map(|m| (m.version, m.facts)))
}

pub async fn save_ticket(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    id: Uuid,
    version: i64,
    facts: &Ticket,
) -> Result<(), DbErr> {
    let facts = serde_json::to_value(facts).map_err(|e| DbErr::Json(e.to_string()))?;
    tickets::Entity::insert(tickets::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant),
        version: Set(version),
        facts: Set(facts),
    })
    .on_conflict(
        OnConflict::column(tickets::Column::Id)
            .update_columns([tickets::Column::Version, tickets::Column::Facts])
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// Adds `deltas` to `tenant`'s figures: one upsert per table, with deltas to the same row
/// summed first (a statement may not touch a row twice).
pub async fn apply(txn: &DatabaseTransaction, tenant: Uuid, deltas: &[Delta]) -> Result<(), DbErr> {
    let mut counts: BTreeMap<(Metric, NaiveDate), i64> = BTreeMap::new();
    let mut samples: BTreeMap<(Metric, NaiveDate, i32), i64> = BTreeMap::new();
    let mut opened: BTreeMap<DateTime<Utc>, i64> = BTreeMap::new();
    for d in deltas {
        match *d {
            Delta::Count { metric, day, by } => *counts.entry((metric, day)).or_default() += by,
            Delta::Sample {
                metric,
                day,
                bucket,
                by,
            } => *samples.entry((metric, day, bucket)).or_default() += by,
            Delta::Open { hour, by } => *opened.entry(hour).or_default() += by,
        }
    }
    counts.retain(|_, by| *by != 0);
    samples.retain(|_, by| *by != 0);
    opened.retain(|_, by| *by != 0);
    if !counts.is_empty() {
        daily::Entity::insert_many(counts.into_iter().map(|((metric, day), by)| {
            daily::ActiveModel {
                tenant_id: Set(tenant),
                metric: Set(metric.as_str().into()),
                day: Set(day),
                value: Set(by),
            }
        }))
        .on_conflict(
            OnConflict::columns([
                daily::Column::TenantId,
                daily::Column::Metric,
                daily::Column::Day,
            ])
            .value(
                daily::Column::Value,
                Expr::cust("analytics_daily.value + excluded.value"),
            )
            .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    }
    if !samples.is_empty() {
        histograms::Entity::insert_many(samples.into_iter().map(|((metric, day, bucket), by)| {
            histograms::ActiveModel {
                tenant_id: Set(tenant),
                metric: Set(metric.as_str().into()),
                day: Set(day),
                bucket: Set(bucket),
                count: Set(by),
            }
        }))
        .on_conflict(
            OnConflict::columns([
                histograms::Column::TenantId,
                histograms::Column::Metric,
                histograms::Column::Day,
                histograms::Column::Bucket,
            ])
            .value(
                histograms::Column::Count,
                Expr::cust("analytics_histograms.count + excluded.count"),
            )
            .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    }
    if !opened.is_empty() {
        open::Entity::insert_many(opened.into_iter().map(|(hour, by)| open::ActiveModel {
            tenant_id: Set(tenant),
            hour: Set(hour),
            open: Set(by),
        }))
        .on_conflict(
            OnConflict::columns([open::Column::TenantId, open::Column::Hour])
                .value(
                    open::Column::Open,
                    Expr::cust("analytics_open.open + excluded.open"),
                )
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    }
    Ok(())
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
