//! What a sign-in answers, for the login and the OAuth token endpoint alike: access tokens (for
//! a user or an API client), a user's session (an access token and a refresh token in a
//! family), and the uncacheable token response.
use actix_web::HttpResponse;
use chrono::{Duration, Utc};
use platform::auth::UserId;
use platform::tenancy::TenantId;
use platform::{
    ApiError,
    auth::{Claims, Role, scopes_of},
};
use sea_orm::DatabaseTransaction;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    Identity,
    store::{clients::ApiClient, tokens, users::User},
};

/// An OAuth 2.0 token response (RFC 6749 §5.1).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "access_token": "eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJFZERTQSJ9.eyJpc3MiOi…",
    "refresh_token": "rt__mVsfbv0oYvV8BoSnfEnP1f_JvwEvldGpIxABV5nsKI",
    "token_type": "Bearer",
    "expires_in": 900,
    "scope": "incident:read incident:write"
}))]
pub struct TokenOut {
    pub access_token: String,
    /// Absent for client-credentials grants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub scope: String,
}

/// Who an access token is for.
pub enum Subject<'a> {
    User(&'a User),
    Client(&'a ApiClient),
}

/// Mints an access token for a user or an API client; returns it with its lifetime in seconds.
pub async fn access_token(
    state: &Identity,
    subject: Subject<'_>,
    roles: Vec<Role>,
    scope: String,
) -> Result<(String, u64), ApiError> {
    let (sub, tenant, client_id, email, name) = match subject {
        Subject::User(u) => (
            u.id,
            u.tenant_id,
            None,
            Some(u.email.clone()),
            Some(u.display_name.clone()),
        ),
        Subject::Client(c) => (c.id, c.tenant_id, Some(c.id), None, Some(c.name.clone())),
    };
    let ttl = state.settings.auth_access_token_ttl_secs;
    let now = Utc::now().timestamp();
    let claims = Claims {
        iss: state.settings.issuer(),
        sub,
        aud: state.settings.auth_audience.clone(),
        exp: now + ttl as i64,
        nbf: now,
        iat: now,
        jti: Uuid::now_v7(),
        tid: tenant,
        roles,
        scope,
        client_id,
        email,
        name,
    };
    Ok((state.keys.sign(&claims).await?, ttl))
}

/// Issues an access token and a refresh token in `family` for `user`.
pub async fn session(
    state: &Identity,
    txn: &DatabaseTransaction,
    user: &User,
    roles: Vec<Role>,
    family: Uuid,
) -> Result<TokenOut, ApiError> {
    let refresh_ttl = Duration::seconds(state.settings.auth_refresh_token_ttl_secs as i64);
    let refresh = tokens::issue_refresh(
        txn,
        TenantId(user.tenant_id),
        UserId(user.id),
        family,
        refresh_ttl,
    )
    .await?;
    let scope = scopes_of(&roles).into_iter().collect::<Vec<_>>().join(" ");
    let (access, expires_in) =
        access_token(state, Subject::User(user), roles, scope.clone()).await?;
    Ok(TokenOut {
        access_token: access,
        refresh_token: Some(refresh),
        token_type: "Bearer".into(),
        expires_in,
        scope,
    })
}

/// 200 with `out`, never cached: it carries secrets.
pub fn token_response(out: &TokenOut) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(out)
}
