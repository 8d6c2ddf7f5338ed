//! JWKS and OpenID Connect discovery metadata.
use actix_web::{HttpResponse, get, web};
use platform::ApiError;
use serde_json::json;

use crate::Identity;

/// The public keys that verify access tokens (RFC 7517).
#[utoipa::path(
    tag = "discovery",
    operation_id = "getJwks",
    responses((status = 200, description = "JWK Set", body = Object))
)]
#[get("/.well-known/jwks.json")]
pub async fn jwks(state: web::Data<Identity>) -> Result<HttpResponse, ApiError> {
    let set = state.keys.jwks().await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(set))
}

/// OpenID Connect / OAuth 2.0 authorization server metadata (RFC 8414).
#[utoipa::path(
    tag = "discovery",
    operation_id = "getOpenidConfiguration",
    responses((status = 200, description = "Discovery document", body = Object))
)]
#[get("/.well-known/openid-configuration")]
pub async fn openid_configuration(state: web::Data<Identity>) -> HttpResponse {
    let issuer = state.settings.issuer();
    let base = state.settings.public_base_url();
    HttpResponse::Ok().json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "token_endpoint": format!("{base}/oauth/token"),
        "grant_types_supported": ["refresh_token", "client_credentials", "password"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "token_endpoint_auth_signing_alg_values_supported": ["EdDSA"],
        "scopes_supported": platform::auth::ALL_SCOPES,
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
    }))
}
