//! HTTP routes, one module per resource, each listing its handlers in `routes()`.
pub mod capacity;
pub mod charts;
pub mod export;
pub mod figures;
pub mod freshness;
pub mod improvements;
pub mod volumes;

use actix_web::web;
use platform::resources::{self, Routes};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AnalyticsService;

/// Each resource's path prefix and its routes.
const RESOURCES: &[(&str, Routes)] = &[
    ("/api/v1/analytics", analytics),
    ("/api/v1/improvements", improvements::routes),
    ("/api/v1/capacity", capacity::routes),
];

/// Everything under `/api/v1/analytics` (one scope: a second with the same prefix would never
/// be reached).
fn analytics(cfg: &mut ServiceConfig) {
    freshness::routes(cfg);
    figures::routes(cfg);
    export::routes(cfg);
    charts::routes(cfg);
    volumes::routes(cfg);
}

/// Analytics' routes (without state: enough to generate the OpenAPI document).
pub fn api(cfg: &mut ServiceConfig) {
    resources::mount(cfg, RESOURCES);
}

/// Analytics' routes with its state.
pub fn configure(state: web::Data<AnalyticsService>) -> platform::http::Register {
    let auth = state.auth.clone();
    resources::mount_with(RESOURCES, state, auth)
}
