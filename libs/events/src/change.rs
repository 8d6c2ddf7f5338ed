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

/// An incident was found to have been caused by a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeIncidentLinked {
    pub change_id: Uuid,
    pub incident_id: Uuid,
    /// Incidents the change caused so far, this one included.
    pub caused_incident_count: u32,
}
event!(ChangeIncidentLinked, "change", "incident_linked", 1);

/// A closed change turned out to have failed (its first caused incident after closing). A
/// change counts as failed once, however many incidents it caused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeOutcomeRevised {
    pub change_id: Uuid,
    /// As it closed.
    pub close_code: String,
    pub caused_incident_count: u32,
    pub failed: bool,
}
event!(ChangeOutcomeRevised, "change", "outcome_revised", 1);

/// A template was suspended because a change made from it failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeTemplateSuspended {
    pub template_id: Uuid,
    pub slug: String,
    pub template_version: u32,
    /// The change that failed.
    pub change_id: Uuid,
    pub reason: String,
}
event!(ChangeTemplateSuspended, "template", "suspended", 1);

/// A post-implementation review recorded an improvement (for the improvement register).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePirFindingRecorded {
    pub change_id: Uuid,
    /// The change's number, e.g. `CHG0001001`.
    pub number: String,
    /// `improvement`.
    pub kind: String,
    pub text: String,
}
event!(ChangePirFindingRecorded, "pir", "finding_recorded", 1);

/// A change's conflicts differ from when they were last checked (the refresh worker re-checks
/// after writes, window changes and graph events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeConflictsChanged {
    pub change_id: Uuid,
    pub conflict_count: u32,
    /// The kinds present now, each once.
    pub kinds: Vec<String>,
    /// The other changes it conflicts with now.
    pub other_change_ids: Vec<Uuid>,
    /// RFC 3339.
    pub checked_at: String,
}
event!(ChangeConflictsChanged, "change", "conflicts_changed", 1);

/// A change's planned end passed while it was scheduled or being implemented.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeOverdue {
    pub change_id: Uuid,
    pub number: String,
    pub state: String,
    /// RFC 3339.
    pub planned_end: String,
}
event!(ChangeOverdue, "change", "overdue", 1);
