//! Events published by the analytics service (its continual improvement register).
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::Event;

macro_rules! event {
    ($ty:ident, $aggregate:literal, $name:literal, $version:literal) => {
        impl Event for $ty {
            const SERVICE: &'static str = "analytics";
            const AGGREGATE: &'static str = $aggregate;
            const NAME: &'static str = $name;
            const VERSION: u32 = $version;
        }
    };
}

/// An improvement was opened in the register, by hand or from an analytic signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImprovementCreated {
    pub improvement_id: Uuid,
    /// Per-tenant number, e.g. `IMP0001001`.
    pub number: String,
    pub title: String,
    /// `manual`, `problem`, `sla_breach_trend`, `pir` or `capacity_forecast`.
    pub source: String,
    /// What raised it (a problem's or change's id), for every source but `manual`.
    pub source_ref: Option<String>,
}
event!(ImprovementCreated, "improvement", "created", 1);

/// An improvement moved in its lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImprovementStateChanged {
    pub improvement_id: Uuid,
    pub from: String,
    pub to: String,
    /// Its step in the continual improvement model when it moved.
    pub step: String,
    /// At `review` and after: the figure named by its target, measured when it reached
    /// `evaluate`.
    pub measured: Option<f64>,
}
event!(ImprovementStateChanged, "improvement", "state_changed", 1);

/// A capacity forecast found its threshold breached, or breaching within its horizon, and the
/// threshold's action is `incident`: incident opens one incident per threshold for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CapacityBreachPredicted {
    pub threshold_id: Uuid,
    /// `service` or `ci`.
    pub target_type: String,
    pub target_id: Uuid,
    /// E.g. `disk_used_percent`.
    pub metric: String,
    pub limit: f64,
    /// `above` or `below`: the side of `limit` that is a breach.
    pub direction: String,
    /// `breach_predicted` or `breached`.
    pub status: String,
    /// When the fitted line crosses `limit` (`null` once breached and not trending back).
    pub breach_at: Option<chrono::DateTime<chrono::Utc>>,
    pub slope_per_day: f64,
    /// The newest sample's value.
    pub last_value: f64,
}
event!(CapacityBreachPredicted, "capacity", "breach_predicted", 1);

/// A capacity threshold was created, changed or deleted (its fields after the change; on
/// `deleted`, before it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CapacityThresholdChanged {
    pub threshold_id: Uuid,
    /// `created`, `updated` or `deleted`.
    pub change: String,
    /// `service` or `ci`.
    pub target_type: String,
    pub target_id: Uuid,
    pub metric: String,
    pub limit: f64,
    /// `above` or `below`.
    pub direction: String,
    pub lookback_days: i32,
    pub horizon_days: i32,
    /// `improvement` or `incident`.
    pub action: String,
    /// Who changed it.
    pub actor_id: Option<Uuid>,
}
event!(CapacityThresholdChanged, "capacity", "threshold_changed", 1);
