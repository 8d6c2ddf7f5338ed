//! The figures of a period, from its per-day counts and histograms.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{metrics::Metric, sketch::Sketch};

/// A period's counts and histograms, summed over its days (and tenants, for a rollup). A day's
/// are stored as this, in JSON. Counts that sum to nothing and empty histograms are left out, so
/// equal figures are equal values (and equal JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Totals {
    pub counts: BTreeMap<Metric, i64>,
    pub sketches: BTreeMap<Metric, Sketch>,
}

impl Totals {
    pub fn count(&self, metric: Metric) -> i64 {
        self.counts.get(&metric).copied().unwrap_or(0)
    }

    pub fn add_count(&mut self, metric: Metric, by: i64) {
        let c = self.counts.entry(metric).or_default();
        *c += by;
        if *c == 0 {
            self.counts.remove(&metric);
        }
    }

    pub fn add_sample(&mut self, metric: Metric, bucket: i32, by: i64) {
        let s = self.sketches.entry(metric).or_default();
        s.add_bucket(bucket, by);
        if s.is_empty() {
            self.sketches.remove(&metric);
        }
    }

    pub fn merge(&mut self, other: &Totals) {
        for (m, c) in &other.counts {
            self.add_count(*m, *c);
        }
        for (m, s) in &other.sketches {
            let mine = self.sketches.entry(*m).or_default();
            mine.merge(s);
            if mine.is_empty() {
                self.sketches.remove(m);
            }
        }
    }

    /// Whether it holds nothing (every count and sample withdrawn again, or none made).
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.sketches.is_empty()
    }

    fn seconds(&self, metric: Metric) -> Seconds {
        let empty = Sketch::default();
        let s = self.sketches.get(&metric).unwrap_or(&empty);
        Seconds {
            p50: s.quantile(0.5),
            p90: s.quantile(0.9),
            n: s.n(),
        }
    }
}

/// Quantiles of durations (within 1 %); `null` when `n` is 0.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Seconds {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub n: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct IncidentFigures {
    /// Incidents created in the period.
    pub created: i64,
    /// Incidents whose final resolution fell in the period.
    pub resolved: i64,
    /// Incidents created in the period that never left `new` (not in `mtta_seconds`).
    pub unacknowledged: i64,
    /// Created → first move out of `new`, for incidents created in the period.
    pub mtta_seconds: Seconds,
    /// Created → final resolution (a reopen withdraws the earlier resolution).
    pub mttr_seconds: Seconds,
    /// As `mttr_seconds`, less the time spent `on_hold`.
    pub mttr_excluding_hold_seconds: Seconds,
    /// Share of resolved incidents whose response SLA was not breached.
    pub sla_response_met_ratio: Option<f64>,
    /// Share of resolved incidents whose resolution SLA was not breached.
    pub sla_resolution_met_ratio: Option<f64>,
    /// Share of resolved incidents never reopened nor moved to another group.
    pub first_contact_resolution_ratio: Option<f64>,
    /// Share of resolved incidents that were reopened before their final resolution.
    pub reopen_ratio: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RequestFigures {
    /// Request items submitted in the period.
    pub submitted: i64,
    /// Request items fulfilled in the period.
    pub fulfilled: i64,
    /// Submitted → fulfilled, for items fulfilled in the period.
    pub fulfilment_seconds: Seconds,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ChangeFigures {
    pub created: i64,
    pub closed: i64,
    /// Share of changes closed in the period as `successful` (and not found to have failed).
    pub success_ratio: Option<f64>,
    /// Share of changes created in the period of type `emergency`.
    pub emergency_ratio: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct KnowledgeFigures {
    /// Portal sessions that ended without a ticket after an article.
    pub deflected: i64,
    /// `deflected` / (`deflected` + incidents created + request items submitted).
    pub deflection_ratio: Option<f64>,
}

/// The summary figures of a period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Figures {
    pub incidents: IncidentFigures,
    pub requests: RequestFigures,
    pub changes: ChangeFigures,
    pub knowledge: KnowledgeFigures,
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

impl Figures {
    pub fn of(t: &Totals) -> Figures {
        let created = t.count(Metric::IncidentsCreated);
        let resolved = t.count(Metric::IncidentsResolved);
        let submitted = t.count(Metric::RequestsSubmitted);
        let deflected = t.count(Metric::KnowledgeDeflected);
        Figures {
            incidents: IncidentFigures {
                created,
                resolved,
                unacknowledged: created - t.count(Metric::IncidentsAcknowledged),
                mtta_seconds: t.seconds(Metric::MttaSeconds),
                mttr_seconds: t.seconds(Metric::MttrSeconds),
                mttr_excluding_hold_seconds: t.seconds(Metric::MttrExcludingHoldSeconds),
                sla_response_met_ratio: ratio(t.count(Metric::IncidentsResponseMet), resolved),
                sla_resolution_met_ratio: ratio(t.count(Metric::IncidentsResolutionMet), resolved),
                first_contact_resolution_ratio: ratio(
                    t.count(Metric::IncidentsResolvedFirstContact),
                    resolved,
                ),
                reopen_ratio: ratio(t.count(Metric::IncidentsResolvedAfterReopen), resolved),
            },
            requests: RequestFigures {
                submitted,
                fulfilled: t.count(Metric::RequestsFulfilled),
                fulfilment_seconds: t.seconds(Metric::FulfilmentSeconds),
            },
            changes: ChangeFigures {
                created: t.count(Metric::ChangesCreated),
                closed: t.count(Metric::ChangesClosed),
                success_ratio: ratio(
                    t.count(Metric::ChangesSuccessful),
                    t.count(Metric::ChangesClosed),
                ),
                emergency_ratio: ratio(
                    t.count(Metric::ChangesEmergency),
                    t.count(Metric::ChangesCreated),
                ),
            },
            knowledge: KnowledgeFigures {
                deflected,
                deflection_ratio: ratio(deflected, deflected + created + submitted),
            },
        }
    }
}
