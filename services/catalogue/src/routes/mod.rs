//! HTTP routes, one module per resource, each listing its handlers in `routes()`. Handlers
//! parse the request into domain values, authorize (the `Auth<Scope>` extractor), call the
//! store inside a tenant-scoped transaction, publish through `events` in that same
//! transaction, and map the result.
pub mod approvals;
pub mod articles;
pub mod categories;
pub mod cmdb_cis;
pub mod cmdb_classes;
pub mod cmdb_impact;
pub mod cmdb_imports;
pub mod cmdb_relationships;
pub mod cmdb_rules;
pub mod effective;
pub mod items;
pub mod offerings;
pub mod overrides;
pub mod references;
pub mod requests;
pub mod services;
pub mod shared;
pub mod suggestions;
pub mod tasks;

use actix_web::web;
use platform::resources::{self, Routes};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::CatalogueService;

/// Each resource's path prefix and its routes.
const RESOURCES: &[(&str, Routes)] = &[
    ("/api/v1/services", services::routes),
    ("/api/v1/catalogue/offerings", offerings::routes),
    ("/api/v1/catalogue/categories", categories::routes),
    ("/api/v1/catalogue/items", items_and_overrides),
    ("/api/v1/catalogue/effective", effective::routes),
    ("/api/v1/requests", requests::routes),
    ("/api/v1/request-items", requests::item_routes),
    ("/api/v1/approvals", approvals::routes),
    ("/api/v1/approval-delegations", approvals::delegation_routes),
    ("/api/v1/fulfilment-tasks", tasks::routes),
    ("/api/v1/knowledge/articles", articles::routes),
    ("/api/v1/cmdb/classes", cmdb_classes::routes),
    ("/api/v1/cmdb/cis", cis_and_impact),
    ("/api/v1/cmdb/relationships", cmdb_relationships::routes),
    (
        "/api/v1/cmdb/relationship-rules",
        cmdb_rules::relationship_rule_routes,
    ),
    (
        "/api/v1/cmdb/reconciliation-rules",
        cmdb_rules::reconciliation_rule_routes,
    ),
    ("/api/v1/cmdb/imports", cmdb_imports::routes),
    ("/api/v1/cmdb/export", cmdb_imports::export_routes),
    ("/api/v1/knowledge/suggestions", suggestions::routes),
    (
        "/api/v1/knowledge/deflection",
        suggestions::deflection_routes,
    ),
];

/// An item's routes and those of the overrides of it, under one prefix.
fn items_and_overrides(cfg: &mut ServiceConfig) {
    items::routes(cfg);
    overrides::routes(cfg);
}

/// A CI's routes and its impact, under one prefix.
fn cis_and_impact(cfg: &mut ServiceConfig) {
    cmdb_cis::routes(cfg);
    cfg.service(cmdb_impact::impact);
}

/// The catalogue's routes (without state: enough to generate the OpenAPI document).
pub fn api(cfg: &mut ServiceConfig) {
    resources::mount(cfg, RESOURCES);
}

/// The catalogue's routes with its state.
pub fn configure(state: web::Data<CatalogueService>) -> platform::http::Register {
    let auth = state.auth.clone();
    resources::mount_with(RESOURCES, state, auth)
}
