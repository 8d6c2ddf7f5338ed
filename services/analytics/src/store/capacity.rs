//! Capacity's tables (ADR 43): `capacity_samples` and `capacity_thresholds`, each threshold
//! holding its latest forecast and when the forecaster next computes it.
use std::collections::HashSet;

use chrono::{DateTime, Utc};
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
    sea_query::{LockBehavior, LockType, OnConflict},
};
use uuid::Uuid;

use crate::domain::capacity::{Action, Direction, Forecast, Sample, Status, TargetType};

pub mod sample {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "capacity_samples")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub target_type: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub target_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub metric: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub observed_at: DateTimeUtc,
        pub value: f64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod threshold {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "capacity_thresholds")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub target_type: String,
        pub target_id: Uuid,
        pub metric: String,
        /// `limit` is a reserved word in SQL.
        #[sea_orm(column_name = "limit_value")]
        pub limit: f64,
        pub direction: String,
        pub lookback_days: i32,
        pub horizon_days: i32,
        pub action: String,
        pub version: i64,
        pub event_version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub due_at: DateTimeUtc,
        pub status: String,
        pub slope_per_day: Option<f64>,
        pub breach_at: Option<DateTimeUtc>,
        pub samples: i32,
        pub last_value: Option<f64>,
        pub forecast_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use threshold::Model as Threshold;

impl Threshold {
    pub fn target(&self) -> TargetType {
        TargetType::parse(&self.target_type).unwrap_or(TargetType::Ci)
    }
    pub fn towards(&self) -> Direction {
        Direction::parse(&self.direction).unwrap_or(Direction::Above)
    }
    pub fn on_breach(&self) -> Action {
        Action::parse(&self.action).unwrap_or(Action::Improvement)
    }
    pub fn forecast_status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::InsufficientData)
    }
}

/// A sample as ingested.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSample {
    pub target_type: TargetType,
    pub target_id: Uuid,
    pub metric: String,
    pub value: f64,
    pub observed_at: DateTime<Utc>,
}

/// Rows per INSERT: 6 parameters each stays under both engines' parameter limits.
const INSERT_CHUNK: usize = 1_000;

/// Stores `samples` of `tenant`, skipping those already kept (same target, metric and
/// instant); returns how many were new.
pub async fn insert_samples(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    samples: &[NewSample],
) -> Result<u64, DbErr> {
    let mut inserted = 0;
    for chunk in samples.chunks(INSERT_CHUNK) {
        let rows = chunk.iter().map(|s| sample::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            target_type: Set(s.target_type.as_str().into()),
            target_id: Set(s.target_id),
            metric: Set(s.metric.clone()),
            observed_at: Set(s.observed_at),
            value: Set(s.value),
        });
        inserted += sample::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    sample::Column::TenantId,
                    sample::Column::TargetType,
                    sample::Column::TargetId,
                    sample::Column::Metric,
                    sample::Column::ObservedAt,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    Ok(inserted)
}

/// Makes `tenant`'s thresholds on any of `watched` (target, metric) due at `now`.
pub async fn make_due(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    watched: &HashSet<(TargetType, Uuid, String)>,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let mut any = Condition::any();
    for (kind, id, metric) in watched {
        any = any.add(
            Condition::all()
                .add(threshold::Column::TargetType.eq(kind.as_str()))
                .add(threshold::Column::TargetId.eq(*id))
                .add(threshold::Column::Metric.eq(metric.as_str())),
        );
    }
    Ok(threshold::Entity::update_many()
        .col_expr(
            threshold::Column::DueAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(threshold::Column::TenantId.eq(tenant.as_uuid()))
        .filter(any)
        .exec(txn)
        .await?
        .rows_affected)
}

/// Which of `ids` (all of one `kind`) are in `tenant`'s CMDB (a CI not retired, its own or
/// shared with it) or portfolio (a service not retired), as projected here.
pub async fn known_targets(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    kind: TargetType,
    ids: &[Uuid],
) -> Result<HashSet<Uuid>, DbErr> {
    use bus::entities::{cmdb_ci, portfolio_service};
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let found: Vec<Uuid> = match kind {
        TargetType::Ci => {
            cmdb_ci::Entity::find()
                .select_only()
                .column(cmdb_ci::Column::CiId)
                .filter(cmdb_ci::Column::TenantId.eq(tenant.as_uuid()))
                .filter(cmdb_ci::Column::CiId.is_in(ids.iter().copied()))
                .filter(cmdb_ci::Column::Status.ne("retired"))
                .into_tuple()
                .all(txn)
                .await?
        }
        TargetType::Service => {
            portfolio_service::Entity::find()
                .select_only()
                .column(portfolio_service::Column::Id)
                .filter(portfolio_service::Column::TenantId.eq(tenant.as_uuid()))
                .filter(portfolio_service::Column::Id.is_in(ids.iter().copied()))
                .filter(portfolio_service::Column::Stage.ne("retired"))
                .into_tuple()
                .all(txn)
                .await?
        }
    };
    Ok(found.into_iter().collect())
}

/// A threshold as created.
#[derive(Debug, Clone, PartialEq)]
pub struct NewThreshold {
    pub target_type: TargetType,
    pub target_id: Uuid,
    pub metric: String,
    pub limit: f64,
    pub direction: Direction,
    pub lookback_days: i32,
    pub horizon_days: i32,
    pub action: Action,
}

/// Inserts `new` for `tenant`, due for its first forecast at once.
pub async fn insert(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    new: NewThreshold,
    now: DateTime<Utc>,
) -> Result<Threshold, DbErr> {
    threshold::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant.as_uuid()),
        target_type: Set(new.target_type.as_str().into()),
        target_id: Set(new.target_id),
        metric: Set(new.metric),
        limit: Set(new.limit),
        direction: Set(new.direction.as_str().into()),
        lookback_days: Set(new.lookback_days),
        horizon_days: Set(new.horizon_days),
        action: Set(new.action.as_str().into()),
        version: Set(1),
        event_version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        due_at: Set(now),
        status: Set(Status::InsufficientData.as_str().into()),
        slope_per_day: Set(None),
        breach_at: Set(None),
        samples: Set(0),
        last_value: Set(None),
        forecast_at: Set(None),
    }
    .insert(txn)
    .await
}

/// Whether `tenant` already watches `metric` of the target from that side (another threshold
/// than `except`).
pub async fn exists(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    new: &NewThreshold,
    except: Option<Uuid>,
) -> Result<bool, DbErr> {
    let mut q = threshold::Entity::find()
        .filter(threshold::Column::TenantId.eq(tenant.as_uuid()))
        .filter(threshold::Column::TargetType.eq(new.target_type.as_str()))
        .filter(threshold::Column::TargetId.eq(new.target_id))
        .filter(threshold::Column::Metric.eq(new.metric.as_str()))
        .filter(threshold::Column::Direction.eq(new.direction.as_str()));
    if let Some(id) = except {
        q = q.filter(threshold::Column::Id.ne(id));
    }
    Ok(q.one(txn).await?.is_some())
}

/// `tenant`'s threshold `id`; `lock` holds the row until the transaction ends.
pub async fn find(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
    lock: bool,
) -> Result<Option<Threshold>, DbErr> {
    let q =
        threshold::Entity::find_by_id(id).filter(threshold::Column::TenantId.eq(tenant.as_uuid()));
    if lock {
        q.lock_exclusive().one(txn).await
    } else {
        q.one(txn).await
    }
}

/// Up to `limit` of `tenant`'s thresholds after `after`, oldest first; only `only` if given.
pub async fn list(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    only: Option<Uuid>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Threshold>, DbErr> {
    let mut q = threshold::Entity::find()
        .filter(threshold::Column::TenantId.eq(tenant.as_uuid()))
        .order_by_asc(threshold::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        q = q.filter(threshold::Column::Id.gt(after));
    }
    if let Some(id) = only {
        q = q.filter(threshold::Column::Id.eq(id));
    }
    q.all(txn).await
}

/// Saves `changed`, an edited copy of `row`, one version on and due for a new forecast.
pub async fn save(
    txn: &DatabaseTransaction,
    row: Threshold,
    changed: NewThreshold,
    now: DateTime<Utc>,
) -> Result<Threshold, DbErr> {
    let (version, event_version) = (row.version + 1, row.event_version + 1);
    let mut am: threshold::ActiveModel = row.into();
    am.limit = Set(changed.limit);
    am.direction = Set(changed.direction.as_str().into());
    am.lookback_days = Set(changed.lookback_days);
    am.horizon_days = Set(changed.horizon_days);
    am.action = Set(changed.action.as_str().into());
    am.version = Set(version);
    am.event_version = Set(event_version);
    am.updated_at = Set(now);
    am.due_at = Set(now);
    am.update(txn).await
}

pub async fn delete(txn: &DatabaseTransaction, row: Threshold) -> Result<(), DbErr> {
    threshold::Entity::delete_by_id(row.id).exec(txn).await?;
    Ok(())
}

/// Claims up to `limit` thresholds of any tenant due at `now`, skipping those another
/// forecaster holds (PostgreSQL; SQLite has one writer). The transaction must have declared
/// `app.capacity_forecaster` (see [`declare_forecaster`]).
pub async fn claim_due(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Threshold>, DbErr> {
    let q = threshold::Entity::find()
        .filter(threshold::Column::DueAt.lte(now))
        .order_by_asc(threshold::Column::DueAt)
        .limit(limit);
    if txn.get_database_backend() == DbBackend::Postgres {
        q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .all(txn)
            .await
    } else {
        q.all(txn).await
    }
}

/// Lets the transaction read every tenant's thresholds and samples (RLS), for the forecaster
/// alone.
pub async fn declare_forecaster(txn: &DatabaseTransaction) -> Result<(), DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared("SELECT set_config('app.capacity_forecaster', 'on', true)")
            .await?;
    }
    Ok(())
}

/// The samples of `row`'s target and metric observed in `[since, until]`.
pub async fn samples_of(
    txn: &DatabaseTransaction,
    row: &Threshold,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<Sample>, DbErr> {
    let rows: Vec<(DateTime<Utc>, f64)> = sample::Entity::find()
        .select_only()
        .column(sample::Column::ObservedAt)
        .column(sample::Column::Value)
        .filter(sample::Column::TenantId.eq(row.tenant_id))
        .filter(sample::Column::TargetType.eq(row.target_type.as_str()))
        .filter(sample::Column::TargetId.eq(row.target_id))
        .filter(sample::Column::Metric.eq(row.metric.as_str()))
        .filter(sample::Column::ObservedAt.between(since, until))
        .into_tuple()
        .all(txn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(at, value)| Sample { at, value })
        .collect())
}

/// Stores `forecast` on `row`, computed at `now`, next due at `next`; `announced` moves the
/// event version on (an event about the threshold was written with the new version).
pub async fn save_forecast(
    txn: &DatabaseTransaction,
    row: Threshold,
    forecast: &Forecast,
    now: DateTime<Utc>,
    next: DateTime<Utc>,
    announced: bool,
) -> Result<Threshold, DbErr> {
    let event_version = row.event_version + i64::from(announced);
    let mut am: threshold::ActiveModel = row.into();
    am.status = Set(forecast.status.as_str().into());
    am.slope_per_day = Set(forecast.slope_per_day);
    am.breach_at = Set(forecast.breach_at);
    am.samples = Set(i32::try_from(forecast.samples).unwrap_or(i32::MAX));
    am.last_value = Set(forecast.last_value);
    am.forecast_at = Set(Some(now));
    am.due_at = Set(next);
    am.event_version = Set(event_version);
    am.update(txn).await
}
