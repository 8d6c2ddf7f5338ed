//! What the change workers owe each change: a conflict re-check (due at once, after any write
//! that may move its conflicts) and an overdue announcement (due at its planned end).
use chrono::{DateTime, Utc};
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
    sea_query::{LockBehavior, LockType, OnConflict},
};
use uuid::Uuid;

use super::entities::{change, change_ci, change_timer, conflict_set};
use crate::domain::lifecycle::State;

/// A conflict re-check.
pub const CONFLICTS: &str = "conflicts";
/// An overdue announcement.
pub const OVERDUE: &str = "overdue";

/// Schedules `kind` for each of `changes` at `due` (an earlier due time already set stays).
pub async fn set(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    changes: &[Uuid],
    kind: &str,
    due: DateTime<Utc>,
) -> Result<(), DbErr> {
    for chunk in changes.chunks(1000) {
        change_timer::Entity::insert_many(chunk.iter().map(|c| change_timer::ActiveModel {
            change_id: Set(*c),
            kind: Set(kind.into()),
            tenant_id: Set(tenant.as_uuid()),
            due_at: Set(due),
        }))
        .on_conflict(
            OnConflict::columns([change_timer::Column::ChangeId, change_timer::Column::Kind])
                .update_column(change_timer::Column::DueAt)
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    }
    Ok(())
}

/// Drops `kind` for `change` (say, an overdue announcement once the work is done).
pub async fn clear(txn: &DatabaseTransaction, change: Uuid, kind: &str) -> Result<(), DbErr> {
    change_timer::Entity::delete_many()
        .filter(change_timer::Column::ChangeId.eq(change))
        .filter(change_timer::Column::Kind.eq(kind))
        .exec(txn)
        .await?;
    Ok(())
}

/// The tenant's open changes (not closed or canceled) with a window ending after `after`,
/// naming any of `cis` (every such change when `cis` is `None`), at most `limit`.
pub async fn open_changes(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    cis: Option<&[Uuid]>,
    after: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Uuid>, DbErr> {
    let mut q = change::Entity::find()
        .select_only()
        .column(change::Column::Id)
        .filter(change::Column::TenantId.eq(tenant.as_uuid()))
        .filter(change::Column::PlannedEnd.gt(after))
        .filter(
            change::Column::State.is_not_in([State::Closed.as_str(), State::Canceled.as_str()]),
        );
    if let Some(cis) = cis {
        if cis.is_empty() {
            return Ok(Vec::new());
        }
        let named = sea_orm::sea_query::Query::select()
            .column(change_ci::Column::ChangeId)
            .from(change_ci::Entity)
            .and_where(change_ci::Column::TenantId.eq(tenant.as_uuid()))
            .and_where(change_ci::Column::CiId.is_in(cis.iter().copied()))
            .to_owned();
        q = q.filter(change::Column::Id.in_subquery(named));
    }
    q.limit(limit).into_tuple().all(txn).await
}

/// Claims up to `limit` due timers of `kind` across tenants (a `change_workers` transaction),
/// deleting them: (change, tenant). Claims in parallel skip each other's rows.
pub async fn claim(
    txn: &DatabaseTransaction,
    kind: &str,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<(Uuid, Uuid)>, DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared("SELECT set_config('app.change_workers', 'on', true)")
            .await?;
    }
    let mut q = change_timer::Entity::find()
        .filter(change_timer::Column::Kind.eq(kind))
        .filter(change_timer::Column::DueAt.lte(now))
        .order_by_asc(change_timer::Column::DueAt)
        .limit(limit);
    if txn.get_database_backend() == DbBackend::Postgres {
        q = q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let rows = q.all(txn).await?;
    for chunk in rows.chunks(1000) {
        change_timer::Entity::delete_many()
            .filter(change_timer::Column::Kind.eq(kind))
            .filter(change_timer::Column::ChangeId.is_in(chunk.iter().map(|r| r.change_id)))
            .exec(txn)
            .await?;
    }
    Ok(rows
        .into_iter()
        .map(|r| (r.change_id, r.tenant_id))
        .collect())
}

/// Records `fingerprint` as `change`'s conflicts; whether it differs from the last one.
pub async fn record_conflicts(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    change: Uuid,
    fingerprint: String,
    count: usize,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let before = conflict_set::Entity::find_by_id(change)
        .filter(conflict_set::Column::TenantId.eq(tenant.as_uuid()))
        .one(txn)
        .await?;
    let changed = before.as_ref().is_none_or(|b| b.fingerprint != fingerprint);
    let count = i32::try_from(count).unwrap_or(i32::MAX);
    match before {
        // No set and no conflicts: nothing to remember, nothing changed.
        None if count == 0 => return Ok(false),
        None => {
            conflict_set::ActiveModel {
                change_id: Set(change),
                tenant_id: Set(tenant.as_uuid()),
                fingerprint: Set(fingerprint),
                conflict_count: Set(count),
                checked_at: Set(at),
            }
            .insert(txn)
            .await?;
        }
        Some(b) if changed => {
            let mut am: conflict_set::ActiveModel = b.into();
            am.fingerprint = Set(fingerprint);
            am.conflict_count = Set(count);
            am.checked_at = Set(at);
            am.update(txn).await?;
        }
        Some(_) => {}
    }
    Ok(changed)
}
