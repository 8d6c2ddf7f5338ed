//! CMDB imports: the queued file with its options, progress and counts, and its row errors.
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
    sea_query::{LockBehavior, LockType},
};
use uuid::Uuid;

use super::cmdb_entities::{cmdb_import, cmdb_import_error};
use crate::domain::cmdb_import::{EmptyValues, Format, Mode};

pub type CmdbImport = cmdb_import::Model;
pub type ImportError = cmdb_import_error::Model;

/// Where an import is.
pub mod status {
    pub const QUEUED: &str = "queued";
    pub const RUNNING: &str = "running";
    pub const COMPLETED: &str = "completed";
    pub const FAILED: &str = "failed";
}

/// What an import was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub source: String,
    pub format: Format,
    pub mode: Mode,
    pub empty_values: EmptyValues,
}

pub async fn insert(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    options: &Options,
    payload: String,
    rows_total: i64,
    created_by: Option<Uuid>,
) -> Result<CmdbImport, DbErr> {
    cmdb_import::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant.as_uuid()),
        source: Set(options.source.clone()),
        format: Set(options.format.as_str().into()),
        mode: Set(options.mode.as_str().into()),
        empty_values: Set(options.empty_values.as_str().into()),
        status: Set(status::QUEUED.into()),
        rows_total: Set(rows_total),
        rows_done: Set(0),
        created: Set(0),
        updated: Set(0),
        unchanged: Set(0),
        failed: Set(0),
        skipped_attributes: Set(0),
        payload: Set(payload),
        created_by: Set(created_by),
        created_at: Set(platform::record::now()),
        started_at: Set(None),
        finished_at: Set(None),
    }
    .insert(txn)
    .await
}

pub async fn find(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<CmdbImport>, DbErr> {
    cmdb_import::Entity::find_by_id(id)
        .filter(cmdb_import::Column::TenantId.eq(tenant.as_uuid()))
        .one(txn)
        .await
}

/// The oldest queued import, locked for this transaction (others skip it); the caller declared
/// `app.cmdb_import_worker` to see every tenant's queue.
pub async fn claim_next(txn: &DatabaseTransaction) -> Result<Option<CmdbImport>, DbErr> {
    let q = cmdb_import::Entity::find()
        .filter(cmdb_import::Column::Status.eq(status::QUEUED))
        .order_by_asc(cmdb_import::Column::CreatedAt)
        .limit(1);
    if txn.get_database_backend() == DbBackend::Postgres {
        q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .one(txn)
            .await
    } else {
        q.one(txn).await
    }
}

/// How far an import got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub rows_done: i64,
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub failed: i64,
    pub skipped_attributes: i64,
}

impl Counts {
    pub fn add(&mut self, other: Counts) {
        self.rows_done += other.rows_done;
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.failed += other.failed;
        self.skipped_attributes += other.skipped_attributes;
    }
}

/// Stores `i` at `status` with `counts` (and its start or end time as the status implies).
pub async fn record(
    txn: &DatabaseTransaction,
    i: CmdbImport,
    state: &str,
    counts: Counts,
) -> Result<CmdbImport, DbErr> {
    let now = platform::record::now();
    let started = i.started_at.is_none();
    let mut am: cmdb_import::ActiveModel = i.into();
    am.status = Set(state.into());
    am.rows_done = Set(counts.rows_done);
    am.created = Set(counts.created);
    am.updated = Set(counts.updated);
    am.unchanged = Set(counts.unchanged);
    am.failed = Set(counts.failed);
    am.skipped_attributes = Set(counts.skipped_attributes);
    if started {
        am.started_at = Set(Some(now));
    }
    if state == status::COMPLETED || state == status::FAILED {
        am.finished_at = Set(Some(now));
        // The file is no longer needed once its rows are taken.
        am.payload = Set(String::new());
    }
    am.update(txn).await
}

/// A row's problem: its row number, the field (`class`, `attributes.cpu_count`, …) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub row: i64,
    pub field: String,
    pub message: String,
}

pub async fn insert_errors(
    txn: &DatabaseTransaction,
    i: &CmdbImport,
    errors: &[RowError],
) -> Result<(), DbErr> {
    for chunk in errors.chunks(500) {
        cmdb_import_error::Entity::insert_many(chunk.iter().map(|e| {
            cmdb_import_error::ActiveModel {
                id: Set(Uuid::now_v7()),
                tenant_id: Set(i.tenant_id),
                import_id: Set(i.id),
                row: Set(e.row),
                field: Set(e.field.chars().take(240).collect()),
                message: Set(e.message.chars().take(1000).collect()),
            }
        }))
        .exec_without_returning(txn)
        .await?;
    }
    Ok(())
}

/// An import's errors in row order: up to `limit` after `after` (an error id).
pub async fn errors(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    import: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<ImportError>, DbErr> {
    let mut q = cmdb_import_error::Entity::find()
        .filter(cmdb_import_error::Column::TenantId.eq(tenant.as_uuid()))
        .filter(cmdb_import_error::Column::ImportId.eq(import));
    if let Some(after) = after {
        q = q.filter(cmdb_import_error::Column::Id.gt(after));
    }
    q.order_by_asc(cmdb_import_error::Column::Id)
        .limit(limit)
        .all(txn)
        .await
}
