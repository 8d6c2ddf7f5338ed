//! HTTP routes, one module per resource, each listing its handlers in `routes()`. Handlers
//! parse the request into domain values, authorize (the `Auth<Scope>` extractor), call the
//! store inside a tenant-scoped transaction, publish through `events` in that same
//! transaction, and map the result.
pub mod approvals;
pub mod basis;
pub mod calendar;
pub mod change_in;
pub mod changes;
pub mod checks;
pub mod conflicts;
pub mod impact;
pub mod policies;
pub mod review;
pub mod risk;
pub mod templates;
pub mod windows;

use actix_web::web;
use platform::resources::{self, Routes};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::ChangeService;

/// Each resource's path prefix and its routes.
const RESOURCES: &[(&str, Routes)] = &[
    ("/api/v1/change-windows", windows::routes),
    ("/api/v1/change-approval-policies", policies::routes),
    ("/api/v1/change-risk", risk::routes),
    ("/api/v1/change-calendar", calendar::routes),
    ("/api/v1/change-templates", templates::routes),
    ("/api/v1/changes", change_routes),
];

/// Everything under `/api/v1/changes`: one scope, as actix routes a request into the first
/// scope whose prefix matches.
fn change_routes(cfg: &mut ServiceConfig) {
    // Before `/{id}`, which would take `next-slot` for an id.
    conflicts::routes(cfg);
    approvals::routes(cfg);
    changes::routes(cfg);
    risk::change_routes(cfg);
    review::routes(cfg);
    impact::routes(cfg);
}

/// Change's routes (without state: enough to generate the OpenAPI document).
pub fn api(cfg: &mut ServiceConfig) {
    resources::mount(cfg, RESOURCES);
}

/// Change's routes with its state.
pub fn configure(state: web::Data<ChangeService>) -> platform::http::Register {
    let auth = state.auth.clone();
    resources::mount_with(RESOURCES, state, auth)
}
