//! HTTP routes, one module per resource, each listing its handlers in `routes()`. Handlers
//! parse the request into domain values, authorize (the `Auth<Scope>` extractor), call the
//! store inside a tenant-scoped transaction, publish through `events` in that same
//! transaction, and map the result.
pub mod clocks;
pub mod comments;
pub mod incidents;
pub mod problems;
pub mod shared;
pub mod sla;

use std::sync::Arc;

use actix_web::web;
use utoipa_actix_web::{scope, service_config::ServiceConfig};

use crate::IncidentService;

/// A resource's routes, registered under its prefix.
type Routes = fn(&mut ServiceConfig);

/// Each resource's path prefix and its routes.
const RESOURCES: [(&str, Routes); 3] = [
    ("/api/v1/problems", problems::routes),
    ("/api/v1/sla", sla::routes),
    ("/api/v1/incidents", incident_routes),
];

/// Everything under `/api/v1/incidents`: one scope, as actix routes a request into the first
/// scope whose prefix matches.
fn incident_routes(cfg: &mut ServiceConfig) {
    incidents::routes(cfg);
    comments::routes(cfg);
    clocks::routes(cfg);
}

/// Incident's routes (without state: enough to generate the OpenAPI document).
pub fn api(cfg: &mut ServiceConfig) {
    for (prefix, routes) in RESOURCES {
        cfg.service(scope::scope(prefix).configure(routes));
    }
}

/// Incident's routes with its state. Each scope carries the service and its `AuthContext`:
/// in one process with identity, each service's routes verify with their own context.
pub fn configure(state: web::Data<IncidentService>) -> platform::http::Register {
    let auth = web::Data::new(state.auth.clone());
    Arc::new(move |cfg: &mut ServiceConfig| {
        for (prefix, routes) in RESOURCES {
            cfg.service(
                scope::scope(prefix)
                    .app_data(state.clone())
                    .app_data(auth.clone())
                    .configure(routes),
            );
        }
    })
}
