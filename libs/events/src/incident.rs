//! Events published by the incident service.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::Event;

macro_rules! event {
    ($ty:ident, $aggregate:literal, $name:literal, $version:literal) => {
        impl Event for $ty {
            const SERVICE: &'static str = "incident";
            const AGGREGATE: &'static str = $aggregate;
            const NAME: &'static str = $name;
            const VERSION: u32 = $version;
        }
    };
}

/// An incident was opened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentCreated {
    pub incident_id: Uuid,
    /// Per-tenant number, e.g. `INC0001001`.
    pub number: String,
    pub title: String,
    pub caller_id: Option<Uuid>,
    pub impact: u8,
    pub urgency: u8,
    pub priority: u8,
    pub state: String,
}
event!(IncidentCreated, "incident", "created", 1);

/// What an incident is about and how it came in: published with `incident.created` and again
/// whenever an update changes its category, subcategory, service or CI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentClassified {
    pub incident_id: Uuid,
    pub category: Option<String>,
    pub subcategory: Option<String>,
    pub service_id: Option<Uuid>,
    pub configuration_item_id: Option<Uuid>,
    /// `portal`, `email`, `phone`, `chat`, `walk_in`, `api` or `monitoring` (`null` for
    /// incidents older than channels).
    pub channel: Option<String>,
}
event!(IncidentClassified, "incident", "classified", 1);

/// An incident moved in its lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentStateChanged {
    pub incident_id: Uuid,
    pub from: String,
    pub to: String,
    pub hold_reason: Option<String>,
    pub resolution_code: Option<String>,
}
event!(IncidentStateChanged, "incident", "state_changed", 1);

/// A comment was added. Internal work notes are announced without their body, so no event a
/// requester can read carries one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentCommented {
    pub incident_id: Uuid,
    pub comment_id: Uuid,
    /// `public` or `internal`.
    pub visibility: String,
    /// Present for public comments only.
    pub body: Option<String>,
}
event!(IncidentCommented, "incident", "commented", 1);

/// An incident's assignment group or assignee changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentAssigned {
    pub incident_id: Uuid,
    pub assignment_group_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
}
event!(IncidentAssigned, "incident", "assigned", 1);

/// A problem was recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProblemCreated {
    pub problem_id: Uuid,
    pub number: String,
    pub title: String,
}
event!(ProblemCreated, "problem", "created", 1);

/// A problem's analysis changed (root cause, workaround, known-error flag, linked incidents).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProblemUpdated {
    pub problem_id: Uuid,
    pub known_error: bool,
    pub linked_incidents: Vec<Uuid>,
}
event!(ProblemUpdated, "problem", "updated", 1);

/// A problem was resolved, possibly resolving its linked incidents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProblemResolved {
    pub problem_id: Uuid,
    pub resolved_incidents: Vec<Uuid>,
}
event!(ProblemResolved, "problem", "resolved", 1);

/// An agent set a priority other than the matrix's (the audit record of the override).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentPriorityOverridden {
    pub incident_id: Uuid,
    pub matrix_priority: u8,
    pub priority: u8,
    pub by: Uuid,
}
event!(
    IncidentPriorityOverridden,
    "incident",
    "priority_overridden",
    1
);

/// An incident's details changed (title, description, impact, urgency, priority, category).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentUpdated {
    pub incident_id: Uuid,
    /// Names of the fields that changed.
    pub changed: Vec<String>,
    pub priority: u8,
}
event!(IncidentUpdated, "incident", "updated", 1);

/// An incident was resolved (also announced as a state change; this one carries the resolution).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentResolved {
    pub incident_id: Uuid,
    pub resolution_code: String,
    pub resolution_notes: String,
}
event!(IncidentResolved, "incident", "resolved", 1);

/// An incident was closed: no further changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentClosed {
    pub incident_id: Uuid,
    pub resolution_code: Option<String>,
}
event!(IncidentClosed, "incident", "closed", 1);

/// An SLA clock reached a threshold of its target (50, 75 or 100 %). The aggregate is the clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaWarning {
    pub clock_id: Uuid,
    pub incident_id: Uuid,
    pub definition_id: Uuid,
    pub name: String,
    /// `response` or `resolution`.
    pub kind: String,
    pub percent: u8,
    /// When the threshold was reached (not when it was noticed).
    pub reached_at: chrono::DateTime<chrono::Utc>,
}
event!(SlaWarning, "sla_clock", "warning", 1);

/// An SLA clock reached its target: the SLA is breached. The aggregate is the clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaBreached {
    pub clock_id: Uuid,
    pub incident_id: Uuid,
    pub definition_id: Uuid,
    pub name: String,
    pub kind: String,
    pub target_seconds: i64,
    pub breached_at: chrono::DateTime<chrono::Utc>,
}
event!(SlaBreached, "sla_clock", "breached", 1);

/// A request item's SLA clocks moved (started, paused, resumed, stopped, or passed a
/// threshold): where the item now stands. The aggregate is the request item; the catalogue
/// shows the standing as the item's `sla_state` and `sla_due_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestItemSlaChanged {
    pub request_item_id: Uuid,
    /// `pending`, `on_track`, `at_risk`, `paused`, `breached`, `met` or `canceled`.
    pub sla_state: String,
    /// The earliest deadline of its running clocks.
    pub sla_due_at: Option<chrono::DateTime<chrono::Utc>>,
    pub as_of: chrono::DateTime<chrono::Utc>,
}
event!(RequestItemSlaChanged, "request_item_sla", "changed", 1);
