//! A request item's way from submission to closure: approval steps one after another, then
//! fulfilment stages one after another, each move recorded and announced in the caller's
//! transaction. The rules are `domain::request`'s; this module applies them to stored rows.
use chrono::{DateTime, Duration, Utc};
use platform::{ApiError, auth::UserId, tenancy::TenantId};
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use crate::{
    domain::{
        item::{ApprovalPolicy, Quorum},
        request::{self, ApprovalState, Progress, RitmState, TaskState, VoteState},
    },
    events,
    store::{
        approvals::{self, Approval, Vote},
        requests::{self, ItemMove, RequestItem},
        tasks,
    },
};

/// The transaction's tenant lineage (the requester's tenant and the providers above it, whose
/// groups may approve or fulfil) and the time of the change.
pub struct Ctx<'a> {
    pub lineage: &'a [TenantId],
    pub now: DateTime<Utc>,
}

/// The people who may approve step `step` of `policy` for `requester` of `tenant`.
pub async fn eligible(
    txn: &DatabaseTransaction,
    ctx: &Ctx<'_>,
    tenant: TenantId,
    requester: Uuid,
    policy: &ApprovalPolicy,
    step: usize,
) -> Result<Vec<Uuid>, ApiError> {
    let Some(step) = policy.steps.get(step) else {
        return Ok(Vec::new());
    };
    let manager = bus::people::manager_of(txn, tenant, UserId(requester)).await?;
    let mut members = std::collections::HashMap::new();
    for group in policy.groups() {
        let found = bus::people::group_members_within(txn, ctx.lineage, group).await?;
        members.insert(group, found.unwrap_or_default());
    }
    Ok(request::eligible(
        &step.approvers,
        requester,
        manager,
        |g| members.get(&g).cloned().unwrap_or_default(),
    ))
}

/// Asks the approvers of step `step`; an item whose step has nobody left to ask is rejected
/// (`no_eligible_approver`).
pub async fn begin_step(
    txn: &DatabaseTransaction,
    ctx: &Ctx<'_>,
    item: RequestItem,
    policy: &ApprovalPolicy,
    step: usize,
) -> Result<RequestItem, ApiError> {
    let tenant = TenantId(item.tenant_id);
    let approvers = eligible(txn, ctx, tenant, item.requester_id, policy, step).await?;
    let from = item.state;
    if approvers.is_empty() {
        return close(
            txn,
            item,
            RitmState::Rejected,
            ApprovalState::Rejected,
            "no_eligible_approver",
        )
        .await;
    }
    let remind = ctx.now + Duration::hours(i64::from(policy.remind_after_hours));
    let expire = ctx.now + Duration::hours(i64::from(policy.expire_after_hours));
    let step_i32 = i32::try_from(step).unwrap_or(i32::MAX);
    for a in
        approvals::request_votes(txn, tenant, item.id, step_i32, &approvers, remind, expire).await?
    {
        events::approval_requested(txn, &a).await?;
    }
    if from == RitmState::PendingApproval && item.approval_step == step_i32 {
        // Just submitted into this step: nothing about the item changes.
        return Ok(item);
    }
    let moved = requests::move_item(
        txn,
        item,
        ItemMove {
            state: RitmState::PendingApproval,
            approval_state: ApprovalState::Pending,
            approval_step: step_i32,
            fulfilment_stage: 0,
            close_reason: None,
        },
    )
    .await?;
    if from != RitmState::PendingApproval {
        events::request_item_moved(txn, &moved, Some(from.as_str())).await?;
    }
    Ok(moved)
}

/// Opens the tasks of fulfilment stage `stage` (approval done as `approval`).
pub async fn begin_stage(
    txn: &DatabaseTransaction,
    item: RequestItem,
    approval: ApprovalState,
    stage: usize,
) -> Result<RequestItem, ApiError> {
    let tenant = TenantId(item.tenant_id);
    let plan = item.fulfilment_plan()?;
    let stage_i32 = i32::try_from(stage).unwrap_or(i32::MAX);
    if let Some(planned) = plan.stages.get(stage) {
        // A task is numbered after its request item and its place in the plan (`TASK0001001-3`
        // is RITM0001001's third task): unique without a counter, so a stage starts inside the
        // transaction that finished the one before.
        let before: usize = plan.stages[..stage].iter().map(|s| s.tasks.len()).sum();
        let digits = item
            .number
            .trim_start_matches(|c: char| c.is_ascii_alphabetic());
        for (j, task) in planned.tasks.iter().enumerate() {
            let number = format!("TASK{digits}-{}", before + j + 1);
            let t = tasks::open(
                txn,
                tenant,
                item.id,
                stage_i32,
                number,
                task.name.clone(),
                task.group_id,
            )
            .await?;
            events::task_created(txn, &t).await?;
        }
    }
    let from = item.state;
    if from == RitmState::InFulfilment
        && item.approval_state == approval
        && item.fulfilment_stage == stage_i32
        && item.approval_step == 0
    {
        // Just submitted straight into this stage: nothing about the item changes.
        return Ok(item);
    }
    let moved = requests::move_item(
        txn,
        item,
        ItemMove {
            state: RitmState::InFulfilment,
            approval_state: approval,
            approval_step: 0,
            fulfilment_stage: stage_i32,
            close_reason: None,
        },
    )
    .await?;
    if from != RitmState::InFulfilment {
        events::request_item_moved(txn, &moved, Some(from.as_str())).await?;
    }
    Ok(moved)
}

/// Moves `item` as fulfilment staff do by hand (`RitmState::manual_moves`: waiting for the
/// requester, and back), keeping its approval and stage. The caller checked the move.
pub async fn move_by_hand(
    txn: &DatabaseTransaction,
    item: RequestItem,
    to: RitmState,
) -> Result<RequestItem, ApiError> {
    let from = item.state;
    let keep = ItemMove {
        state: to,
        approval_state: item.approval_state,
        approval_step: item.approval_step,
        fulfilment_stage: item.fulfilment_stage,
        close_reason: None,
    };
    let moved = requests::move_item(txn, item, keep).await?;
    events::request_item_moved(txn, &moved, Some(from.as_str())).await?;
    Ok(moved)
}

/// Closes `item` (fulfilled, rejected or canceled) and its request once every item is closed.
pub async fn close(
    txn: &DatabaseTransaction,
    item: RequestItem,
    state: RitmState,
    approval: ApprovalState,
    reason: &str,
) -> Result<RequestItem, ApiError> {
    let tenant = TenantId(item.tenant_id);
    let from = item.state;
    let moved = requests::move_item(
        txn,
        item,
        ItemMove {
            state,
            approval_state: approval,
            approval_step: 0,
            fulfilment_stage: 0,
            close_reason: Some(reason.to_string()),
        },
    )
    .await?;
    events::request_item_moved(txn, &moved, Some(from.as_str())).await?;
    let siblings = requests::items_of(txn, tenant, &[moved.request_id]).await?;
    if siblings.iter().all(|i| i.state.is_closed())
        && let Some(r) = requests::find(txn, tenant, moved.request_id).await?
        && r.state == "open"
    {
        let r = requests::close_request(txn, r).await?;
        events::request_closed(txn, &r).await?;
    }
    Ok(moved)
}

/// Applies the votes of the item's current step: once they decide it, the votes not cast turn
/// `not_required`, and the item moves to the next step, to fulfilment, or to `rejected`.
pub async fn after_vote(
    txn: &DatabaseTransaction,
    ctx: &Ctx<'_>,
    item: RequestItem,
) -> Result<RequestItem, ApiError> {
    let tenant = TenantId(item.tenant_id);
    let Some(policy) = item.approval_policy()? else {
        return Ok(item);
    };
    let step = usize::try_from(item.approval_step).unwrap_or(0);
    let Some(rule) = policy.steps.get(step).map(|s| s.rule) else {
        return Ok(item);
    };
    let votes = approvals::of_step(txn, tenant, item.id, item.approval_step).await?;
    let states: Vec<VoteState> = votes.iter().map(|v| v.state).collect();
    let outcome = request::step_outcome(rule, &states);
    if outcome == Quorum::Pending {
        return Ok(item);
    }
    settle_pending(txn, votes, ctx.now).await?;
    match outcome {
        Quorum::Approved if step + 1 < policy.steps.len() => {
            begin_step(txn, ctx, item, &policy, step + 1).await
        }
        Quorum::Approved => begin_stage(txn, item, ApprovalState::Approved, 0).await,
        _ => {
            close(
                txn,
                item,
                RitmState::Rejected,
                ApprovalState::Rejected,
                "rejected",
            )
            .await
        }
    }
}

/// The votes still pending once a step is decided leave every queue.
async fn settle_pending(
    txn: &DatabaseTransaction,
    votes: Vec<Approval>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    for v in votes.into_iter().filter(|v| v.state == VoteState::Pending) {
        approvals::record(
            txn,
            v,
            Vote {
                state: VoteState::NotRequired,
                decided_by: None,
                on_behalf_of: None,
                comment: None,
                at: now,
            },
        )
        .await?;
    }
    Ok(())
}

/// After a task of the item's current stage finished: the next stage starts once every task of
/// this one is finished, and the item is fulfilled after the last.
pub async fn after_task(
    txn: &DatabaseTransaction,
    item: RequestItem,
) -> Result<RequestItem, ApiError> {
    let tenant = TenantId(item.tenant_id);
    let stages = item.fulfilment_plan()?.stages.len();
    let stage = usize::try_from(item.fulfilment_stage).unwrap_or(0);
    let of_stage = tasks::of_item(txn, tenant, item.id, Some(item.fulfilment_stage)).await?;
    let states: Vec<TaskState> = of_stage.iter().map(|t| t.state).collect();
    match request::progress(stage, stages, &states) {
        Progress::Waiting => Ok(item),
        Progress::Start(next) => {
            let approval = item.approval_state;
            begin_stage(txn, item, approval, next).await
        }
        Progress::Fulfilled => {
            let approval = item.approval_state;
            close(txn, item, RitmState::Fulfilled, approval, "fulfilled").await
        }
    }
}

/// Expires the pending vote `a` (its item locked by the caller): the item is rejected
/// (`approval_expired`) and its other pending votes leave every queue.
pub async fn expire(
    txn: &DatabaseTransaction,
    a: Approval,
    item: RequestItem,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let expired = approvals::record(
        txn,
        a,
        Vote {
            state: VoteState::Expired,
            decided_by: None,
            on_behalf_of: None,
            comment: None,
            at: now,
        },
    )
    .await?;
    events::approval_changed(txn, &expired).await?;
    if item.state != RitmState::PendingApproval {
        return Ok(());
    }
    let votes =
        approvals::of_step(txn, TenantId(item.tenant_id), item.id, item.approval_step).await?;
    settle_pending(txn, votes, now).await?;
    close(
        txn,
        item,
        RitmState::Rejected,
        ApprovalState::Expired,
        "approval_expired",
    )
    .await?;
    Ok(())
}
