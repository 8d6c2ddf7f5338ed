//! Events published by the change service.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::Event;

macro_rules! event {
    ($ty:ident, $aggregate:literal, $name:literal, $version:literal) => {
        impl Event for $ty {
            const SERVICE: &'static str = "change";
            const AGGREGATE: &'static str = $aggregate;
            const NAME: &'static str = $name;
            const VERSION: u32 = $version;
        }
    };
}

/// A change was requested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeCreated {
    pub change_id: Uuid,
    /// Per-tenant number, e.g. `CHG0001001`.
    pub number: String,
    /// `standard`, `normal` or `emergency`.
    #[serde(rename = "type")]
    pub change_type: String,
    pub title: String,
    pub state: String,
    pub risk: String,
    pub requested_by: Uuid,
    pub affected_ci_ids: Vec<Uuid>,
    /// RFC 3339; absent until a window is planned.
    pub planned_start: Option<String>,
    pub planned_end: Option<String>,
}
event!(ChangeCreated, "change", "created", 1);

/// A change moved in its lifecycle (a rejection back to `new` carries its reason).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeStateChanged {
    pub change_id: Uuid,
    pub from: String,
    pub to: String,
    pub approval_round: u32,
    pub reason: Option<String>,
}
event!(ChangeStateChanged, "change", "state_changed", 1);

/// A change closed: how it went, at what risk, and how many incidents it caused so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeClosed {
    pub change_id: Uuid,
    /// `successful`, `successful_with_issues` or `unsuccessful`.
    pub close_code: String,
    pub risk: String,
    pub caused_incident_count: u32,
}
event!(ChangeClosed, "change", "closed", 1);

/// A CAB member voted on a change (an append to the change's approval record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeVoteCast {
    pub change_id: Uuid,
    pub round: u32,
    /// The stage's name.
    pub stage: String,
    pub voter_id: Uuid,
    /// The approver a delegate voted for.
    pub on_behalf_of: Option<Uuid>,
    /// `approve`, `reject` or `abstain`.
    pub decision: String,
    pub reason: String,
}
event!(ChangeVoteCast, "approval", "vote_cast", 1);

/// A change's approval round was decided by its votes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeApprovalDecided {
    pub change_id: Uuid,
    pub round: u32,
    pub policy_id: Uuid,
    pub policy_name: String,
    /// `approved` or `rejected`.
    pub decision: String,
}
event!(ChangeApprovalDecided, "approval", "decided", 1);
