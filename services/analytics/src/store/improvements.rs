//! The improvement register's table (`improvements`).
use chrono::{DateTime, Utc};
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use uuid::Uuid;

use crate::domain::improvement::{NewImprovement, Status, Step};

pub mod improvement {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "improvements")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub number: String,
        pub title: String,
        pub description: String,
        pub source: String,
        pub source_ref: Option<String>,
        pub value: i16,
        pub effort: i16,
        pub owner_id: Option<Uuid>,
        pub occurrences: i32,
        pub target_metric: Option<String>,
        pub target_value: Option<f64>,
        pub measured: Option<f64>,
        pub status: String,
        pub step: String,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use improvement::Model as Improvement;

impl Improvement {
    pub fn lifecycle_status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Proposed)
    }

    pub fn model_step(&self) -> Step {
        Step::parse(&self.step).unwrap_or(Step::Vision)
    }
}

pub async fn insert(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    number: String,
    new: NewImprovement,
    now: DateTime<Utc>,
) -> Result<Improvement, DbErr> {
    let (target_metric, target_value) = new.target.unzip();
    improvement::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant.as_uuid()),
        number: Set(number),
        title: Set(new.title),
        description: Set(new.description),
        source: Set(new.source.into()),
        source_ref: Set(new.source_ref),
        value: Set(new.value),
        effort: Set(new.effort),
        owner_id: Set(new.owner_id),
        occurrences: Set(1),
        target_metric: Set(target_metric),
        target_value: Set(target_value),
        measured: Set(None),
        status: Set(Status::Proposed.as_str().into()),
        step: Set(Step::Vision.as_str().into()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(txn)
    .await
}

/// The signal's open item with one more occurrence, if `tenant` has one; the row stays locked
/// until the transaction ends.
pub async fn recur(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    source: &str,
    source_ref: &str,
    now: DateTime<Utc>,
) -> Result<Option<Improvement>, DbErr> {
    let open = improvement::Entity::find()
        .filter(improvement::Column::TenantId.eq(tenant.as_uuid()))
        .filter(improvement::Column::Source.eq(source))
        .filter(improvement::Column::SourceRef.eq(source_ref))
        .filter(
            improvement::Column::Status
                .is_not_in([Status::Closed.as_str(), Status::Rejected.as_str()]),
        )
        .lock_exclusive()
        .one(txn)
        .await?;
    let Some(item) = open else {
        return Ok(None);
    };
    let occurrences = item.occurrences + 1;
    let mut am: improvement::ActiveModel = item.into();
    am.occurrences = Set(occurrences);
    am.updated_at = Set(now);
    Ok(Some(am.update(txn).await?))
}

/// Waits for any other transaction opening an item for the same signal of `tenant`, so two
/// feeders on one signal open one item between them (PostgreSQL; SQLite has one writer).
pub async fn lock_signal(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    source: &str,
    source_ref: &str,
) -> Result<(), DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 42))",
            [format!("{tenant}/{source}/{source_ref}").into()],
        ))
        .await?;
    }
    Ok(())
}

/// `tenant`'s item `id`; `lock` holds the row until the transaction ends.
pub async fn find(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
    lock: bool,
) -> Result<Option<Improvement>, DbErr> {
    let q = improvement::Entity::find_by_id(id)
        .filter(improvement::Column::TenantId.eq(tenant.as_uuid()));
    if lock {
        q.lock_exclusive().one(txn).await
    } else {
        q.one(txn).await
    }
}

/// Which items a list holds.
#[derive(Debug, Default)]
pub struct Filter {
    pub status: Option<Status>,
    pub source: Option<String>,
}

/// Up to `limit` of `tenant`'s items after `after`, oldest first.
pub async fn list(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    filter: &Filter,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Improvement>, DbErr> {
    let mut q = improvement::Entity::find()
        .filter(improvement::Column::TenantId.eq(tenant.as_uuid()))
        .order_by_asc(improvement::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        q = q.filter(improvement::Column::Id.gt(after));
    }
    if let Some(status) = filter.status {
        q = q.filter(improvement::Column::Status.eq(status.as_str()));
    }
    if let Some(source) = &filter.source {
        q = q.filter(improvement::Column::Source.eq(source.as_str()));
    }
    q.all(txn).await
}

/// Saves `changed`, a changed copy of `item`, one version on.
pub async fn save(
    txn: &DatabaseTransaction,
    item: Improvement,
    changed: Improvement,
    now: DateTime<Utc>,
) -> Result<Improvement, DbErr> {
    let mut am: improvement::ActiveModel = item.into();
    am.title = Set(changed.title);
    am.description = Set(changed.description);
    am.value = Set(changed.value);
    am.effort = Set(changed.effort);
    am.owner_id = Set(changed.owner_id);
    am.target_metric = Set(changed.target_metric);
    am.target_value = Set(changed.target_value);
    am.measured = Set(changed.measured);
    am.status = Set(changed.status);
    am.step = Set(changed.step);
    am.version = Set(changed.version + 1);
    am.updated_at = Set(now);
    am.update(txn).await
}
