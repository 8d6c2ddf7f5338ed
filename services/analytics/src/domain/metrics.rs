//! What the figures' tables hold: per-day metrics, and the changes an event makes to them.
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// A figure kept per day: a count, or a duration histogram (`*_seconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// On the day created.
    IncidentsCreated,
    /// On the day created: left `new`.
    IncidentsAcknowledged,
    /// On the day of the final resolution.
    IncidentsResolved,
    IncidentsResolvedFirstContact,
    IncidentsResolvedAfterReopen,
    IncidentsResponseMet,
    IncidentsResolutionMet,
    /// Histogram, on the day created.
    MttaSeconds,
    /// Histograms, on the day of the final resolution.
    MttrSeconds,
    MttrExcludingHoldSeconds,
    /// Request items, on the day submitted.
    RequestsSubmitted,
    /// On the day fulfilled, with its histogram.
    RequestsFulfilled,
    FulfilmentSeconds,
    /// On the day created.
    ChangesCreated,
    ChangesEmergency,
    /// On the day closed.
    ChangesClosed,
    ChangesSuccessful,
    /// On the day the deflection was recorded.
    KnowledgeDeflected,
    /// Value streams (`super::streams`), on the day a ticket completed its stream: how many
    /// did, their lead times and each step's time, in milliseconds.
    RequestFlowCompleted,
    RequestFlowLeadMs,
    RequestFlowApprovalMs,
    RequestFlowQueueMs,
    RequestFlowFulfilmentMs,
    IncidentFlowCompleted,
    IncidentFlowLeadMs,
    IncidentFlowQueueMs,
    IncidentFlowAcknowledgeMs,
    IncidentFlowWorkMs,
    IncidentFlowOnHoldMs,
    ChangeFlowCompleted,
    ChangeFlowLeadMs,
    ChangeFlowAssessMs,
    ChangeFlowAuthorizeMs,
    ChangeFlowWaitForWindowMs,
    ChangeFlowImplementMs,
    ChangeFlowReviewMs,
}

impl Metric {
    pub const ALL: [Metric; 36] = [
        Metric::IncidentsCreated,
        Metric::IncidentsAcknowledged,
        Metric::IncidentsResolved,
        Metric::IncidentsResolvedFirstContact,
        Metric::IncidentsResolvedAfterReopen,
        Metric::IncidentsResponseMet,
        Metric::IncidentsResolutionMet,
        Metric::MttaSeconds,
        Metric::MttrSeconds,
        Metric::MttrExcludingHoldSeconds,
        Metric::RequestsSubmitted,
        Metric::RequestsFulfilled,
        Metric::FulfilmentSeconds,
        Metric::ChangesCreated,
        Metric::ChangesEmergency,
        Metric::ChangesClosed,
        Metric::ChangesSuccessful,
        Metric::KnowledgeDeflected,
        Metric::RequestFlowCompleted,
        Metric::RequestFlowLeadMs,
        Metric::RequestFlowApprovalMs,
        Metric::RequestFlowQueueMs,
        Metric::RequestFlowFulfilmentMs,
        Metric::IncidentFlowCompleted,
        Metric::IncidentFlowLeadMs,
        Metric::IncidentFlowQueueMs,
        Metric::IncidentFlowAcknowledgeMs,
        Metric::IncidentFlowWorkMs,
        Metric::IncidentFlowOnHoldMs,
        Metric::ChangeFlowCompleted,
        Metric::ChangeFlowLeadMs,
        Metric::ChangeFlowAssessMs,
        Metric::ChangeFlowAuthorizeMs,
        Metric::ChangeFlowWaitForWindowMs,
        Metric::ChangeFlowImplementMs,
        Metric::ChangeFlowReviewMs,
    ];

    /// The name stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::IncidentsCreated => "incidents_created",
            Metric::IncidentsAcknowledged => "incidents_acknowledged",
            Metric::IncidentsResolved => "incidents_resolved",
            Metric::IncidentsResolvedFirstContact => "incidents_resolved_first_contact",
            Metric::IncidentsResolvedAfterReopen => "incidents_resolved_after_reopen",
            Metric::IncidentsResponseMet => "incidents_response_met",
            Metric::IncidentsResolutionMet => "incidents_resolution_met",
            Metric::MttaSeconds => "mtta_seconds",
            Metric::MttrSeconds => "mttr_seconds",
            Metric::MttrExcludingHoldSeconds => "mttr_excluding_hold_seconds",
            Metric::RequestsSubmitted => "requests_submitted",
            Metric::RequestsFulfilled => "requests_fulfilled",
            Metric::FulfilmentSeconds => "fulfilment_seconds",
            Metric::ChangesCreated => "changes_created",
            Metric::ChangesEmergency => "changes_emergency",
            Metric::ChangesClosed => "changes_closed",
            Metric::ChangesSuccessful => "changes_successful",
            Metric::KnowledgeDeflected => "knowledge_deflected",
            Metric::RequestFlowCompleted => "vs_request_to_fulfilled_completed",
            Metric::RequestFlowLeadMs => "vs_request_to_fulfilled_lead_ms",
            Metric::RequestFlowApprovalMs => "vs_request_to_fulfilled_approval_ms",
            Metric::RequestFlowQueueMs => "vs_request_to_fulfilled_queue_ms",
            Metric::RequestFlowFulfilmentMs => "vs_request_to_fulfilled_fulfilment_ms",
            Metric::IncidentFlowCompleted => "vs_incident_to_resolved_completed",
            Metric::IncidentFlowLeadMs => "vs_incident_to_resolved_lead_ms",
            Metric::IncidentFlowQueueMs => "vs_incident_to_resolved_queue_ms",
            Metric::IncidentFlowAcknowledgeMs => "vs_incident_to_resolved_acknowledge_ms",
            Metric::IncidentFlowWorkMs => "vs_incident_to_resolved_work_ms",
            Metric::IncidentFlowOnHoldMs => "vs_incident_to_resolved_on_hold_ms",
            Metric::ChangeFlowCompleted => "vs_change_to_live_completed",
            Metric::ChangeFlowLeadMs => "vs_change_to_live_lead_ms",
            Metric::ChangeFlowAssessMs => "vs_change_to_live_assess_ms",
            Metric::ChangeFlowAuthorizeMs => "vs_change_to_live_authorize_ms",
            Metric::ChangeFlowWaitForWindowMs => "vs_change_to_live_wait_for_window_ms",
            Metric::ChangeFlowImplementMs => "vs_change_to_live_implement_ms",
            Metric::ChangeFlowReviewMs => "vs_change_to_live_review_ms",
        }
    }

    pub fn parse(raw: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == raw)
    }
}

/// What keyed counts are kept by: incident volumes (ADR 44) on the day created, and per
/// service on the day of the final resolution, the counts its SLA breach trend is read from
/// (ADR 42).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Category,
    Service,
    Channel,
    /// Incidents of the service finally resolved.
    ServiceResolved,
    /// … of them, within their resolution target.
    ServiceResolutionMet,
}

impl Dimension {
    /// What `volumes?by=` counts.
    pub const VOLUMES: [Dimension; 3] =
        [Dimension::Category, Dimension::Service, Dimension::Channel];

    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Category => "category",
            Dimension::Service => "service",
            Dimension::Channel => "channel",
            Dimension::ServiceResolved => "service_resolved",
            Dimension::ServiceResolutionMet => "service_resolution_met",
        }
    }

    /// A dimension of the volumes.
    pub fn parse(raw: &str) -> Option<Dimension> {
        Dimension::VOLUMES.into_iter().find(|d| d.as_str() == raw)
    }
}

/// One change an event makes to the figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Delta {
    /// A count on a local day.
    Count {
        metric: Metric,
        day: NaiveDate,
        by: i64,
    },
    /// A duration in a histogram's bucket on a local day.
    Sample {
        metric: Metric,
        day: NaiveDate,
        bucket: i32,
        by: i64,
    },
    /// An incident opened (or closed: -1) in the UTC hour it was created: the backlog by age.
    Open { hour: DateTime<Utc>, by: i64 },
    /// An incident counted (or no longer: -1) under `key` of `dimension` (`None`: none) on its
    /// local day of creation.
    Volume {
        dimension: Dimension,
        key: Option<String>,
        day: NaiveDate,
        by: i64,
    },
}

impl Delta {
    pub fn negated(self) -> Delta {
        match self {
            Delta::Count { metric, day, by } => Delta::Count {
                metric,
                day,
                by: -by,
            },
            Delta::Sample {
                metric,
                day,
                bucket,
                by,
            } => Delta::Sample {
                metric,
                day,
                bucket,
                by: -by,
            },
            Delta::Open { hour, by } => Delta::Open { hour, by: -by },
            Delta::Volume {
                dimension,
                key,
                day,
                by,
            } => Delta::Volume {
                dimension,
                key,
                day,
                by: -by,
            },
        }
    }
}
