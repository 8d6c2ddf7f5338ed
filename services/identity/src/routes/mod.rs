//! HTTP routes, one module per resource. Handlers parse the body into its domain type,
//! authorize (the `Auth<Scope>` extractor), call the store inside a tenant-scoped transaction,
//! append the audit record in that same transaction, and map the result. `refusals`, `session`,
//! `taken` and `user_view` hold what several resources share; they use no resource module.
pub mod api_clients;
pub mod audit;
pub mod auth;
pub mod groups;
pub mod oauth;
mod refusals;
pub mod session;
pub mod signing_keys;
pub mod taken;
pub mod tenants;
pub mod user_view;
pub mod users;
pub mod well_known;

use actix_web::web;
use utoipa_actix_web::{scope, service_config::ServiceConfig};

use crate::Identity;

/// Registers identity's routes with its state.
pub fn configure(state: web::Data<Identity>) -> platform::http::Register {
    let auth = web::Data::new(state.auth.clone());
    std::sync::Arc::new(move |cfg: &mut ServiceConfig| {
        cfg.app_data(state.clone()).app_data(auth.clone());
        api(cfg);
    })
}

/// Identity's routes (without state: enough to generate the OpenAPI document).
pub fn api(cfg: &mut ServiceConfig) {
    cfg.service(well_known::jwks)
        .service(well_known::openid_configuration)
        .service(oauth::token)
        .service(
            scope::scope("/api/v1")
                .service(auth::login)
                .service(auth::logout)
                .service(auth::accept_invitation)
                .service(auth::confirm_password_reset)
                .service(tenants::list)
                .service(tenants::onboard)
                .service(tenants::get)
                .service(tenants::suspend)
                .service(tenants::reactivate)
                .service(tenants::get_settings)
                .service(tenants::update_settings)
                .service(users::me)
                .service(users::change_password)
                .service(users::list)
                .service(users::invite)
                .service(users::get)
                .service(users::deactivate)
                .service(users::set_roles)
                .service(users::set_manager)
                .service(users::issue_password_reset)
                .service(groups::list)
                .service(groups::create)
                .service(groups::get)
                .service(groups::add_member)
                .service(groups::remove_member)
                .service(api_clients::list)
                .service(api_clients::create)
                .service(api_clients::get)
                .service(api_clients::rotate)
                .service(api_clients::revoke)
                .service(audit::list)
                .service(audit::verify)
                .service(signing_keys::rotate),
        );
}

/// Query parameter `?tenant=` of list endpoints: a tenant id or slug, or `*` for the whole
/// subtree (MSP roles).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantFilter {
    /// A tenant id or slug within reach, or `*` for every tenant below the acting one.
    pub tenant: Option<String>,
}

/// The paging and tenant parameters together, as actix parses one query string.
#[derive(Debug, serde::Deserialize)]
pub struct ListQuery {
    pub limit: Option<u64>,
    pub cursor: Option<String>,
    pub tenant: Option<String>,
}

impl ListQuery {
    pub fn page(&self) -> Result<platform::pagination::PageRequest, platform::ApiError> {
        platform::pagination::PageQuery {
            limit: self.limit,
            cursor: self.cursor.clone(),
        }
        .validate()
    }
}
