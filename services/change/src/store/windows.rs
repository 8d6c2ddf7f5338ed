//! Change windows, and what a conflict check reads: the changes around a window and the
//! windows that apply to a tenant.
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction,
    DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{
    changes,
    entities::{change, change_window},
};
use crate::domain::{
    change::Window,
    conflict::{ChangeWindow, Other},
    lifecycle::State,
    window::{RRule, Schedule, WindowKind},
};

pub use change_window::Model as WindowRow;

/// A new window, checked.
pub struct NewWindow {
    pub kind: WindowKind,
    pub name: String,
    pub first: Window,
    pub time_zone: String,
    pub rrule: Option<String>,
    pub ci_ids: Vec<Uuid>,
}

pub async fn insert(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    new: NewWindow,
) -> Result<WindowRow, DbErr> {
    let mut am = change_window::ActiveModel::new();
    am.tenant_id = Set(tenant.as_uuid());
    am.kind = Set(new.kind.as_str().into());
    am.name = Set(new.name);
    am.starts_at = Set(new.first.start);
    am.ends_at = Set(new.first.end);
    am.time_zone = Set(new.time_zone);
    am.rrule = Set(new.rrule);
    am.ci_ids = Set(serde_json::json!(new.ci_ids));
    am.insert(txn).await
}

/// The windows of `lineage` (the tenant and its providers), oldest first: a page after
/// `after`, or all of them (`limit` none) for a conflict check.
pub async fn list(
    txn: &DatabaseTransaction,
    lineage: &[TenantId],
    after: Option<Uuid>,
    limit: impl Into<Option<u64>>,
) -> Result<Vec<WindowRow>, DbErr> {
    let mut q = change_window::Entity::find()
        .filter(change_window::Column::TenantId.is_in(lineage.iter().map(|t| t.as_uuid())));
    if let Some(after) = after {
        q = q.filter(change_window::Column::Id.gt(after));
    }
    q.order_by_asc(change_window::Column::Id)
        .limit(limit.into())
        .all(txn)
        .await
}

pub async fn find(
    txn: &DatabaseTransaction,
    lineage: &[TenantId],
    id: Uuid,
) -> Result<Option<WindowRow>, DbErr> {
    change_window::Entity::find_by_id(id)
        .filter(change_window::Column::TenantId.is_in(lineage.iter().map(|t| t.as_uuid())))
        .one(txn)
        .await
}

pub async fn delete(txn: &DatabaseTransaction, w: WindowRow) -> Result<(), DbErr> {
    change_window::Entity::delete_by_id(w.id).exec(txn).await?;
    Ok(())
}

/// `row` as the conflict check reads it (a stored zone or rule that no longer parses is
/// read as UTC and once, never as an error that hides every other conflict).
pub fn as_window(row: &WindowRow) -> ChangeWindow {
    ChangeWindow {
        id: row.id,
        kind: WindowKind::parse(&row.kind).unwrap_or(WindowKind::Blackout),
        schedule: Schedule {
            first: Window {
                start: row.starts_at,
                end: row.ends_at,
            },
            zone: row.time_zone.parse().unwrap_or(chrono_tz::UTC),
            rule: row.rrule.as_deref().and_then(|r| RRule::parse(r).ok()),
        },
        cis: serde_json::from_value(row.ci_ids.clone()).unwrap_or_default(),
    }
}

/// The tenant's open changes (not closed or canceled) whose windows overlap `w`, with their
/// CIs. Found by time first: few changes overlap a window, however many the tenant has or
/// how many CIs lie near the planned ones (`changes_tenant_end` bounds the scan to changes
/// that end after `w` starts).
pub async fn others(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    w: Window,
) -> Result<Vec<Other>, DbErr> {
    let rows = change::Entity::find()
        .filter(change::Column::TenantId.eq(tenant.as_uuid()))
        .filter(change::Column::PlannedEnd.gt(w.start))
        .filter(change::Column::PlannedStart.lt(w.end))
        .filter(change::Column::State.is_not_in([State::Closed.as_str(), State::Canceled.as_str()]))
        .all(txn)
        .await?;
    let found: Vec<Uuid> = rows.iter().map(|c| c.id).collect();
    let mut cis_of = changes::cis_of(txn, tenant, &found).await?;
    Ok(rows
        .into_iter()
        .filter_map(|c| {
            Some(Other {
                id: c.id,
                window: c.window()?,
                cis: cis_of.remove(&c.id).unwrap_or_default(),
                assignee: c.assignee_id,
            })
        })
        .collect())
}
