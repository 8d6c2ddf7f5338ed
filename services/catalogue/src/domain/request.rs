//! Requests and their items (RITMs): the states a request item goes through, who approves it,
//! and how its fulfilment stages follow one another. No I/O.
use std::collections::BTreeSet;

use sea_orm::{DeriveActiveEnum, EnumIter, sea_query::StringLen};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::item::{Approver, Quorum, Rule, quorum};

/// Where a request item is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, EnumIter, DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum RitmState {
    #[sea_orm(string_value = "pending_approval")]
    PendingApproval,
    #[sea_orm(string_value = "in_fulfilment")]
    InFulfilment,
    #[sea_orm(string_value = "awaiting_requester")]
    AwaitingRequester,
    #[sea_orm(string_value = "fulfilled")]
    Fulfilled,
    #[sea_orm(string_value = "rejected")]
    Rejected,
    #[sea_orm(string_value = "canceled")]
    Canceled,
}

impl RitmState {
    pub fn as_str(self) -> &'static str {
        match self {
            RitmState::PendingApproval => "pending_approval",
            RitmState::InFulfilment => "in_fulfilment",
            RitmState::AwaitingRequester => "awaiting_requester",
            RitmState::Fulfilled => "fulfilled",
            RitmState::Rejected => "rejected",
            RitmState::Canceled => "canceled",
        }
    }

    /// The moves fulfilment staff make by hand: an item in fulfilment waits for its requester
    /// (its SLA clock pauses) and goes back to fulfilment. Every other move follows from
    /// approvals and tasks.
    pub fn manual_moves(self) -> &'static [RitmState] {
        match self {
            RitmState::InFulfilment => &[RitmState::AwaitingRequester],
            RitmState::AwaitingRequester => &[RitmState::InFulfilment],
            _ => &[],
        }
    }

    /// Fulfilled, rejected and canceled items are done with.
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            RitmState::Fulfilled | RitmState::Rejected | RitmState::Canceled
        )
    }
}

/// Where a request item's approval is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, EnumIter, DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum ApprovalState {
    #[sea_orm(string_value = "not_required")]
    NotRequired,
    #[sea_orm(string_value = "auto_approved")]
    AutoApproved,
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "approved")]
    Approved,
    #[sea_orm(string_value = "rejected")]
    Rejected,
    #[sea_orm(string_value = "expired")]
    Expired,
}

impl ApprovalState {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::NotRequired => "not_required",
            ApprovalState::AutoApproved => "auto_approved",
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Rejected => "rejected",
            ApprovalState::Expired => "expired",
        }
    }
}

/// One approver's vote on one step.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, EnumIter, DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum VoteState {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "approved")]
    Approved,
    #[sea_orm(string_value = "rejected")]
    Rejected,
    /// The step was decided before this approver voted.
    #[sea_orm(string_value = "not_required")]
    NotRequired,
    #[sea_orm(string_value = "expired")]
    Expired,
}

impl VoteState {
    pub fn as_str(self) -> &'static str {
        match self {
            VoteState::Pending => "pending",
            VoteState::Approved => "approved",
            VoteState::Rejected => "rejected",
            VoteState::NotRequired => "not_required",
            VoteState::Expired => "expired",
        }
    }
}

/// A fulfilment task's state.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, EnumIter, DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum TaskState {
    #[sea_orm(string_value = "open")]
    Open,
    #[sea_orm(string_value = "in_progress")]
    InProgress,
    #[sea_orm(string_value = "done")]
    Done,
    #[sea_orm(string_value = "canceled")]
    Canceled,
}

impl TaskState {
    /// `open` → `in_progress` → `done`; open or in-progress work may be canceled.
    pub fn allowed_moves(self) -> &'static [TaskState] {
        match self {
            TaskState::Open => &[TaskState::InProgress, TaskState::Canceled],
            TaskState::InProgress => &[TaskState::Done, TaskState::Canceled],
            TaskState::Done | TaskState::Canceled => &[],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Open => "open",
            TaskState::InProgress => "in_progress",
            TaskState::Done => "done",
            TaskState::Canceled => "canceled",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, TaskState::Done | TaskState::Canceled)
    }
}

/// The people who may approve one step for `requester`: the step's approvers resolved
/// (`manager` to the requester's manager, a group to its members), without the requester
/// (nobody approves their own request), each once.
pub fn eligible(
    approvers: &[Approver],
    requester: Uuid,
    manager: Option<Uuid>,
    group_members: impl Fn(Uuid) -> Vec<Uuid>,
) -> Vec<Uuid> {
    let mut out = BTreeSet::new();
    for a in approvers {
        match a {
            Approver::Manager => out.extend(manager),
            Approver::User { user_id } => {
                out.insert(*user_id);
            }
            Approver::Group { group_id } => out.extend(group_members(*group_id)),
        }
    }
    out.remove(&requester);
    out.into_iter().collect()
}

/// A step's outcome from its votes: the rule over the step's M approvers (N capped at M, since
/// the requester is never among them).
pub fn step_outcome(rule: Rule, votes: &[VoteState]) -> Quorum {
    let m = u32::try_from(votes.len()).unwrap_or(u32::MAX);
    let rule = match rule {
        Rule::NOf(n) => Rule::NOf(n.min(m)),
        other => other,
    };
    let approvals = votes.iter().filter(|v| **v == VoteState::Approved).count();
    let rejections = votes.iter().filter(|v| **v == VoteState::Rejected).count();
    quorum(
        rule,
        m,
        u32::try_from(approvals).unwrap_or(u32::MAX),
        u32::try_from(rejections).unwrap_or(u32::MAX),
    )
}

/// What happens after a stage's tasks changed: the stage after `stage` starts once every task of
/// `stage` is finished; after the last one the item is fulfilled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Tasks of the current stage are still open.
    Waiting,
    /// Start the tasks of this stage.
    Start(usize),
    /// Every stage is finished.
    Fulfilled,
}

pub fn progress(stage: usize, stages: usize, tasks_of_stage: &[TaskState]) -> Progress {
    if !tasks_of_stage.iter().all(|t| t.is_finished()) {
        Progress::Waiting
    } else if stage + 1 < stages {
        Progress::Start(stage + 1)
    } else {
        Progress::Fulfilled
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn nobody_approves_their_own_request() {
        let (me, boss, peer) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let group = Uuid::from_u128(9);
        let approvers = [Approver::Manager, Approver::Group { group_id: group }];
        let got = eligible(&approvers, me, Some(boss), |_| vec![me, peer, boss]);
        assert_eq!(got, vec![boss, peer]);
    }

    proptest! {
        /// Stage k+1 never starts before every task of stage k is finished, and the item is
        /// fulfilled only after the last stage.
        #[test]
        fn a_stage_starts_only_after_the_one_before(
            stages in 1usize..6,
            stage_seed in 0usize..6,
            tasks in proptest::collection::vec(0u8..4, 1..6),
        ) {
            let stage = stage_seed % stages;
            let tasks: Vec<TaskState> = tasks.into_iter().map(|t| match t {
                0 => TaskState::Open, 1 => TaskState::InProgress, 2 => TaskState::Done, _ => TaskState::Canceled,
            }).collect();
            let all_finished = tasks.iter().all(|t| t.is_finished());
            match progress(stage, stages, &tasks) {
                Progress::Waiting => prop_assert!(!all_finished),
                Progress::Start(next) => {
                    prop_assert!(all_finished);
                    prop_assert_eq!(next, stage + 1);
                    prop_assert!(next < stages);
                }
                Progress::Fulfilled => {
                    prop_assert!(all_finished);
                    prop_assert_eq!(stage + 1, stages);
                }
            }
        }
    }
}
