//! A service's routes as a list of resources, each a path prefix and the function that lists
//! its handlers, mounted the same way in every service.
use std::sync::Arc;

use actix_web::web;
use utoipa_actix_web::{scope, service_config::ServiceConfig};

use crate::{auth::AuthContext, openapi::Register};

/// A resource's handlers, registered under its prefix.
pub type Routes = fn(&mut ServiceConfig);

/// Mounts each resource under its prefix, without state: enough for the OpenAPI document.
pub fn mount(cfg: &mut ServiceConfig, resources: &[(&'static str, Routes)]) {
    for (prefix, routes) in resources {
        cfg.service(scope::scope(*prefix).configure(*routes));
    }
}

/// Mounts each resource under its prefix with the service's state and its `AuthContext` on
/// each scope: in one process with other services, each service's routes verify with their
/// own context.
pub fn mount_with<S: Send + Sync + 'static>(
    resources: &'static [(&'static str, Routes)],
    state: web::Data<S>,
    auth: AuthContext,
) -> Register {
    let auth = web::Data::new(auth);
    Arc::new(move |cfg: &mut ServiceConfig| {
        for (prefix, routes) in resources {
            cfg.service(
                scope::scope(*prefix)
                    .app_data(state.clone())
                    .app_data(auth.clone())
                    .configure(*routes),
            );
        }
    })
}
