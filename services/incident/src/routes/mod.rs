//! HTTP routes, one module per resource, each listing its handlers in `routes()`. Handlers
//! parse the request into domain values, authorize (the `Auth<Scope>` extractor), call the
//! store inside a tenant-scoped transaction, publish through `events` in that same
//! transaction, and map the result.
pub mod affected;
pub mod clocks;
pub mod comments;
mod incident_in;
pub mod incidents;
pub mod problems;
pub mod shared;
pub mod sla;

use actix_web::web;
use platform::resources::{self, Routes};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::IncidentService;

/// Each resource's path prefix and its routes.
const RESOURCES: &[(&str, Routes)] = &[
    ("/api/v1/problems", problems::routes),
    ("/api/v1/sla", sla_routes),
    ("/api/v1/incidents", incident_routes),
];

/// Everything under `/api/v1/sla`: calendars, definitions and any subject's clocks.
fn sla_routes(cfg: &mut ServiceConfig) {
    sla::routes(cfg);
    clocks::subject_routes(cfg);
}

/// Everything under `/api/v1/incidents`: one scope, as actix routes a request into the first
/// scope whose prefix matches.
fn incident_routes(cfg: &mut ServiceConfig) {
    incidents::routes(cfg);
    affected::routes(cfg);
    comments::routes(cfg);
    clocks::routes(cfg);
}

/// Incident's routes (without state: enough to generate the OpenAPI document).
pub fn api(cfg: &mut ServiceConfig) {
    resources::mount(cfg, RESOURCES);
}

/// Incident's routes with its state.
pub fn configure(state: web::Data<IncidentService>) -> platform::http::Register {
    let auth = state.auth.clone();
    resources::mount_with(RESOURCES, state, auth)
}
