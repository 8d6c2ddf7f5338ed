//! JWKS and OpenID Connect discovery metadata.
use actix_web::{HttpResponse, get, web};
use platform::ApiError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{Identity, store::keys::PublishedKeys};

/// The public keys that verify access tokens (RFC 7517).
///
/// The active signing key and keys retired in the last day, so tokens they signed still verify.
/// Cache the set (it is served with `Cache-Control: max-age=300`) and fetch it again when a token
/// names an unknown `kid`.
#[utoipa::path(
    tag = "discovery",
    operation_id = "getJwks",
    responses((status = 200, description = "JWK Set", body = PublishedKeys))
)]
#[get("/.well-known/jwks.json")]
pub async fn jwks(state: web::Data<Identity>) -> Result<HttpResponse, ApiError> {
    let set = state.keys.jwks().await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(set))
}

/// OpenID Connect / OAuth 2.0 authorization server metadata (RFC 8414).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "issuer": "https://itsm.example.com",
    "jwks_uri": "https://itsm.example.com/.well-known/jwks.json",
    "token_endpoint": "https://itsm.example.com/oauth/token",
    "grant_types_supported": ["refresh_token", "client_credentials", "password"],
    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    "id_token_signing_alg_values_supported": ["EdDSA"],
    "token_endpoint_auth_signing_alg_values_supported": ["EdDSA"],
    "scopes_supported": ["incident:read", "incident:write"],
    "response_types_supported": ["token"],
    "subject_types_supported": ["public"]
}))]
pub struct OpenIdConfiguration {
    /// The `iss` of every token.
    pub issuer: String,
    pub jwks_uri: String,
    pub token_endpoint: String,
    pub grant_types_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    pub token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    /// Every scope a token or API client may hold.
    pub scopes_supported: Vec<&'static str>,
    pub response_types_supported: Vec<&'static str>,
    pub subject_types_supported: Vec<&'static str>,
}

/// OpenID Connect / OAuth 2.0 authorization server metadata (RFC 8414).
///
/// The issuer, the token endpoint, the JWKS location, the grants and authentication methods the
/// token endpoint supports, and every scope a token or API client may carry.
#[utoipa::path(
    tag = "discovery",
    operation_id = "getOpenidConfiguration",
    responses((status = 200, description = "Discovery document", body = OpenIdConfiguration))
)]
#[get("/.well-known/openid-configuration")]
pub async fn openid_configuration(state: web::Data<Identity>) -> HttpResponse {
    let base = state.settings.public_base_url();
    HttpResponse::Ok().json(OpenIdConfiguration {
        issuer: state.settings.issuer(),
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        token_endpoint: format!("{base}/oauth/token"),
        grant_types_supported: vec!["refresh_token", "client_credentials", "password"],
        token_endpoint_auth_methods_supported: vec!["client_secret_basic", "client_secret_post"],
        id_token_signing_alg_values_supported: vec!["EdDSA"],
        token_endpoint_auth_signing_alg_values_supported: vec!["EdDSA"],
        scopes_supported: platform::auth::ALL_SCOPES.to_vec(),
        response_types_supported: vec!["token"],
        subject_types_supported: vec!["public"],
    })
}
