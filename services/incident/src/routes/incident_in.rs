//! What opening an incident takes (`POST /api/v1/incidents`), checked into a `NewIncident`,
//! and the fields a requester may not set.
use platform::{FieldError, auth::Principal, validate::Validator};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::shared::works_all;
use crate::domain::incident::{Channel, Fields, NewIncident};

#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "Checkout API answers 502",
    "description": "Since 09:10 UTC, about 30 % of requests fail.",
    "impact": 2,
    "urgency": 2,
    "category": "network"
}))]
pub struct IncidentIn {
    #[schema(example = "Email is down for the finance team")]
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// 1 (extensive) to 3 (minor).
    pub impact: i64,
    /// 1 (critical) to 3 (low).
    pub urgency: i64,
    /// The affected user (agents; defaults to whoever opens the incident).
    pub caller_id: Option<Uuid>,
    pub assignment_group_id: Option<Uuid>,
    /// Must be a member of the assignment group.
    pub assignee_id: Option<Uuid>,
    #[schema(example = "network")]
    pub category: Option<String>,
    /// Needs a category.
    pub subcategory: Option<String>,
    /// The affected service (an id from the service catalogue).
    pub service_id: Option<Uuid>,
    /// The affected configuration item (an id from the CMDB).
    pub configuration_item_id: Option<Uuid>,
    /// An incident of the same tenant this one is a child of.
    pub parent_id: Option<Uuid>,
    /// A major incident (agents only).
    #[serde(default)]
    pub major: bool,
    /// 1–5 instead of the matrix's value (agents only; recorded as an event).
    pub priority: Option<i64>,
    /// How it came in; default `api` for API clients, `portal` for requesters, `phone` for
    /// agents.
    pub channel: Option<Channel>,
}

impl TryFrom<IncidentIn> for NewIncident {
    type Error = Vec<FieldError>;

    fn try_from(body: IncidentIn) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let mut f = Fields { v: &mut v };
        let title = f.title(&body.title);
        let description = f.description(&body.description);
        let impact = f.level("/impact", body.impact);
        let urgency = f.level("/urgency", body.urgency);
        let category = f.classification("/category", &body.category);
        let subcategory = f.classification("/subcategory", &body.subcategory);
        f.subcategory_needs_category(&subcategory, &category);
        let priority_override = f.priority(body.priority);
        let parsed = (|| {
            Some(NewIncident {
                title: title?,
                description: description?,
                impact: impact?,
                urgency: urgency?,
                priority_override,
                caller_id: body.caller_id,
                assignment_group_id: body.assignment_group_id,
                assignee_id: body.assignee_id,
                category,
                subcategory,
                service_id: body.service_id,
                configuration_item_id: body.configuration_item_id,
                parent_id: body.parent_id,
                major: body.major,
                channel: body.channel,
            })
        })();
        v.finish_with(parsed)
    }
}

/// The fields a requester (who works only its own incidents) may not set.
pub(super) fn requester_limits(p: &Principal, body: &IncidentIn) -> Vec<FieldError> {
    if works_all(p) {
        return Vec::new();
    }
    let agents_only = [
        ("/major", body.major),
        ("/priority", body.priority.is_some()),
    ]
    .into_iter()
    .filter(|(_, given)| *given)
    .map(|(pointer, _)| FieldError::new(pointer, "not_allowed", "only agents set this"));
    let for_themselves = [
        ("/caller_id", body.caller_id.is_some_and(|c| c != p.subject)),
        ("/assignment_group_id", body.assignment_group_id.is_some()),
        ("/assignee_id", body.assignee_id.is_some()),
    ]
    .into_iter()
    .filter(|(_, given)| *given)
    .map(|(pointer, _)| {
        FieldError::new(
            pointer,
            "not_allowed",
            "requesters open incidents for themselves, unassigned",
        )
    });
    agents_only.chain(for_themselves).collect()
}
