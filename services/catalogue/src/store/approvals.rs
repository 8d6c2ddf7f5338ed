//! Approvals (one row per approver and step) and approval delegations.
use chrono::{DateTime, Utc};
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction,
    DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entities::{approval, delegation};
use crate::domain::request::VoteState;

pub type Approval = approval::Model;
pub type Delegation = delegation::Model;

/// Asks each of `approvers` to approve `step` of the request item.
pub async fn request_votes(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    request_item: Uuid,
    step: i32,
    approvers: &[Uuid],
    remind_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Vec<Approval>, DbErr> {
    let mut out = Vec::with_capacity(approvers.len());
    for approver in approvers {
        let row = approval::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            request_item_id: Set(request_item),
            step: Set(step),
            approver_id: Set(*approver),
            state: Set(VoteState::Pending),
            decided_by: Set(None),
            on_behalf_of: Set(None),
            comment: Set(None),
            decided_at: Set(None),
            remind_at: Set(remind_at),
            reminded_at: Set(None),
            expires_at: Set(expires_at),
            ..approval::ActiveModel::new()
        }
        .insert(txn)
        .await?;
        out.push(row);
    }
    Ok(out)
}

pub async fn find(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<Approval>, DbErr> {
    approval::Entity::find_by_id(id)
        .filter(approval::Column::TenantId.eq(tenant.as_uuid()))
        .one(txn)
        .await
}

/// The votes of one step of a request item.
pub async fn of_step(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    request_item: Uuid,
    step: i32,
) -> Result<Vec<Approval>, DbErr> {
    approval::Entity::find()
        .filter(approval::Column::TenantId.eq(tenant.as_uuid()))
        .filter(approval::Column::RequestItemId.eq(request_item))
        .filter(approval::Column::Step.eq(step))
        .order_by_asc(approval::Column::Id)
        .all(txn)
        .await
}

/// Which approvals a list keeps.
#[derive(Debug, Default)]
pub struct ApprovalFilter {
    /// Only those of these approvers (the caller and whoever delegated to them).
    pub approvers: Option<Vec<Uuid>>,
    pub state: Option<VoteState>,
    pub request_item: Option<Uuid>,
}

pub async fn list(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    filter: &ApprovalFilter,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Approval>, DbErr> {
    let mut q = approval::Entity::find().filter(approval::Column::TenantId.eq(tenant.as_uuid()));
    if let Some(approvers) = &filter.approvers {
        q = q.filter(approval::Column::ApproverId.is_in(approvers.iter().copied()));
    }
    if let Some(state) = filter.state {
        q = q.filter(approval::Column::State.eq(state));
    }
    if let Some(item) = filter.request_item {
        q = q.filter(approval::Column::RequestItemId.eq(item));
    }
    if let Some(after) = after {
        q = q.filter(approval::Column::Id.gt(after));
    }
    q.order_by_asc(approval::Column::Id)
        .limit(limit)
        .all(txn)
        .await
}

/// A vote cast or closed: its new state and, when someone decided, who and why.
pub struct Vote {
    pub state: VoteState,
    pub decided_by: Option<Uuid>,
    pub on_behalf_of: Option<Uuid>,
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
}

pub async fn record(txn: &DatabaseTransaction, a: Approval, vote: Vote) -> Result<Approval, DbErr> {
    let mut am: approval::ActiveModel = a.into();
    am.state = Set(vote.state);
    am.decided_by = Set(vote.decided_by);
    am.on_behalf_of = Set(vote.on_behalf_of);
    am.comment = Set(vote.comment);
    am.decided_at = Set(Some(vote.at));
    am.update(txn).await
}

pub async fn mark_reminded(
    txn: &DatabaseTransaction,
    a: Approval,
    at: DateTime<Utc>,
) -> Result<Approval, DbErr> {
    let mut am: approval::ActiveModel = a.into();
    am.reminded_at = Set(Some(at));
    am.update(txn).await
}

/// The approvers who delegated to `delegate` for a period that includes `at` (one level: a
/// delegate's own delegations do not pass on).
pub async fn delegators_of(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    delegate: Uuid,
    at: DateTime<Utc>,
) -> Result<Vec<Uuid>, DbErr> {
    Ok(delegation::Entity::find()
        .filter(delegation::Column::TenantId.eq(tenant.as_uuid()))
        .filter(delegation::Column::DelegateId.eq(delegate))
        .filter(delegation::Column::StartsAt.lte(at))
        .filter(delegation::Column::EndsAt.gt(at))
        .all(txn)
        .await?
        .into_iter()
        .map(|d| d.delegator_id)
        .collect())
}

/// Whether `delegator` already has a delegation overlapping `[starts, ends)`.
pub async fn overlaps(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    delegator: Uuid,
    starts: DateTime<Utc>,
    ends: DateTime<Utc>,
) -> Result<bool, DbErr> {
    Ok(delegation::Entity::find()
        .filter(delegation::Column::TenantId.eq(tenant.as_uuid()))
        .filter(delegation::Column::DelegatorId.eq(delegator))
        .filter(delegation::Column::StartsAt.lt(ends))
        .filter(delegation::Column::EndsAt.gt(starts))
        .one(txn)
        .await?
        .is_some())
}

pub async fn delegate(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    delegator: Uuid,
    delegate: Uuid,
    starts: DateTime<Utc>,
    ends: DateTime<Utc>,
) -> Result<Delegation, DbErr> {
    delegation::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        delegator_id: Set(delegator),
        delegate_id: Set(delegate),
        starts_at: Set(starts),
        ends_at: Set(ends),
        ..delegation::ActiveModel::new()
    }
    .insert(txn)
    .await
}

/// The delegations `user` gave or received that have not ended by `now`, soonest first.
pub async fn delegations_of(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Delegation>, DbErr> {
    delegation::Entity::find()
        .filter(delegation::Column::TenantId.eq(tenant.as_uuid()))
        .filter(
            sea_orm::Condition::any()
                .add(delegation::Column::DelegatorId.eq(user))
                .add(delegation::Column::DelegateId.eq(user)),
        )
        .filter(delegation::Column::EndsAt.gt(now))
        .order_by_asc(delegation::Column::StartsAt)
        .order_by_asc(delegation::Column::Id)
        .limit(200)
        .all(txn)
        .await
}

/// The delegation `id` that `delegator` gave, locked for a revocation.
pub async fn own_delegation(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    delegator: Uuid,
    id: Uuid,
) -> Result<Option<Delegation>, DbErr> {
    delegation::Entity::find_by_id(id)
        .filter(delegation::Column::TenantId.eq(tenant.as_uuid()))
        .filter(delegation::Column::DelegatorId.eq(delegator))
        .lock_exclusive()
        .one(txn)
        .await
}

/// Ends `d` at `at` (a delegation not yet begun ends as it would have started).
pub async fn end_delegation(
    txn: &DatabaseTransaction,
    d: Delegation,
    at: DateTime<Utc>,
) -> Result<Delegation, DbErr> {
    let ends = at.max(d.starts_at);
    let mut am: delegation::ActiveModel = d.into();
    am.ends_at = Set(ends);
    am.update(txn).await
}
