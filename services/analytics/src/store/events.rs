//! The event store: every event once, in arrival order.
use chrono::{DateTime, Utc};
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::OnConflict,
};

use bus::Envelope;

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "analytics_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub seq: i64,
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub event_type: String,
        pub source: String,
        pub subject: String,
        pub aggregate_version: i64,
        pub time: DateTimeUtc,
        pub applied_at: DateTimeUtc,
        pub data: Json,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity};

/// Keeps `env` unless an event with its id is kept already: whether it was new.
pub async fn append(
    txn: &DatabaseTransaction,
    env: &Envelope,
    applied_at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let inserted = Entity::insert(ActiveModel {
        seq: NotSet,
        id: Set(env.id),
        tenant_id: Set(env.tenantid),
        event_type: Set(env.event_type.clone()),
        source: Set(env.source.clone()),
        subject: Set(env.subject.clone()),
        aggregate_version: Set(env.aggregateversion),
        time: Set(env.time),
        applied_at: Set(applied_at),
        data: Set(env.data.clone()),
    })
    .on_conflict(OnConflict::column(Column::Id).do_nothing().to_owned())
    .exec_without_returning(txn)
    .await?;
    Ok(inserted > 0)
}

/// The `limit` events of `tenants` kept last: (event time, kept at), newest first.
pub async fn latest(
    txn: &DatabaseTransaction,
    tenants: &[TenantId],
    limit: u64,
) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>, DbErr> {
    Entity::find()
        .select_only()
        .column(Column::Time)
        .column(Column::AppliedAt)
        .filter(Column::TenantId.is_in(tenants.iter().map(|t| t.as_uuid())))
        .order_by_desc(Column::Seq)
        .limit(limit)
        .into_tuple()
        .all(txn)
        .await
}
