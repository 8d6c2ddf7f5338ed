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
