//! HTTP routes, one module per resource, each listing its handlers in `routes()`. Handlers
//! parse the request into domain values, authorize (the `Auth<Scope>` extractor), call the
//! store inside a tenant-scoped transaction, publish through `events` in that same
//! transaction, and map the result.
pub mod services;

use std::sync::Arc;

use actix_web::web;
use utoipa_actix_web::{scope, service_config::ServiceConfig};

use crate::CatalogueService;

/// A resource's routes, registered under its prefix.
type Routes = fn(&mut ServiceConfig);

/// Each resource's path prefix and its routes.
const RESOURCES: [(&str, Routes); 1] = [("/api/v1/services", services::routes)];

/// The catalogue's routes (without state: enough to generate the OpenAPI document).
pub fn api(cfg: &mut ServiceConfig) {
    for (prefix, routes) in RESOURCES {
        cfg.service(scope::scope(prefix).configure(routes));
    }
}

/// The catalogue's routes with its state; each scope carries the service and its
/// `AuthContext`.
pub fn configure(state: web::Data<CatalogueService>) -> platform::http::Register {
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
