//! What each figure means: the names `timeseries?metric=` takes and `definitions` lists.
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Definition {
    /// The figure's path in `summary`, e.g. `incidents.mttr_seconds`.
    pub metric: &'static str,
    /// `count`, `seconds` (p50/p90 within 1 %) or `ratio` (0–1).
    pub unit: &'static str,
    /// The local day an event counts on.
    pub counted_on: &'static str,
    pub description: &'static str,
}

const fn def(
    metric: &'static str,
    unit: &'static str,
    counted_on: &'static str,
    description: &'static str,
) -> Definition {
    Definition {
        metric,
        unit,
        counted_on,
        description,
    }
}

pub const DEFINITIONS: &[Definition] = &[
    def(
        "incidents.created",
        "count",
        "created",
        "Incidents created.",
    ),
    def(
        "incidents.resolved",
        "count",
        "final resolution",
        "Incidents resolved and not reopened since; a reopen withdraws the resolution.",
    ),
    def(
        "incidents.unacknowledged",
        "count",
        "created",
        "Incidents that never left `new`; kept out of MTTA.",
    ),
    def(
        "incidents.mtta_seconds",
        "seconds",
        "created",
        "Created to the first move out of `new` (any move, cancelling included).",
    ),
    def(
        "incidents.mttr_seconds",
        "seconds",
        "final resolution",
        "Created to the final resolution, wall-clock time.",
    ),
    def(
        "incidents.mttr_excluding_hold_seconds",
        "seconds",
        "final resolution",
        "As MTTR, less all time spent `on_hold`.",
    ),
    def(
        "incidents.sla_response_met_ratio",
        "ratio",
        "final resolution",
        "Resolved incidents whose response SLA never breached, over resolved incidents.",
    ),
    def(
        "incidents.sla_resolution_met_ratio",
        "ratio",
        "final resolution",
        "Resolved incidents whose resolution SLA never breached, over resolved incidents.",
    ),
    def(
        "incidents.first_contact_resolution_ratio",
        "ratio",
        "final resolution",
        "Resolved incidents never reopened and never moved from one assignment group to another, over resolved incidents.",
    ),
    def(
        "incidents.reopen_ratio",
        "ratio",
        "final resolution",
        "Resolved incidents reopened at least once before their final resolution, over resolved incidents.",
    ),
    def(
        "requests.submitted",
        "count",
        "submitted",
        "Request items submitted.",
    ),
    def(
        "requests.fulfilled",
        "count",
        "fulfilled",
        "Request items fulfilled.",
    ),
    def(
        "requests.fulfilment_seconds",
        "seconds",
        "fulfilled",
        "Request item submitted to fulfilled, approval included.",
    ),
    def("changes.created", "count", "created", "Changes requested."),
    def("changes.closed", "count", "closed", "Changes closed."),
    def(
        "changes.success_ratio",
        "ratio",
        "closed",
        "Changes closed `successful` and not later found to have caused an incident, over changes closed.",
    ),
    def(
        "changes.emergency_ratio",
        "ratio",
        "created",
        "Emergency changes over changes created.",
    ),
    def(
        "knowledge.deflected",
        "count",
        "deflected",
        "Portal sessions that ended without a ticket after knowledge was shown.",
    ),
    def(
        "knowledge.deflection_ratio",
        "ratio",
        "deflected / created",
        "Deflections over deflections plus incidents created plus request items submitted.",
    ),
];

/// The definition of `metric`, if there is one.
pub fn find(metric: &str) -> Option<&'static Definition> {
    DEFINITIONS.iter().find(|d| d.metric == metric)
}
