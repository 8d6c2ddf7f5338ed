//! The OAuth 2.0 token endpoint (RFC 6749): the `refresh_token` grant (rotation with reuse
//! detection) and the `client_credentials` grant for API clients.
use platform::auth::UserId;
use platform::tenancy::TenantId;
use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, post, web};
use platform::{
    ApiError,
    auth::{Role, delegated_scopes},
    error::Problem,
    tenancy::{LookupKey, begin_lookup, scope_to},
};
use sea_orm::DatabaseTransaction;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::session::{Subject, TokenOut, access_token, session, token_response};
use crate::{
    Identity,
    domain::{password, token::digest},
    store::{
        audit,
        clients::{self, ApiClient},
        directory, tenants,
        tokens::{self, Presented},
        users::{self, UserStatus},
    },
};

/// Form parameters of the token endpoint (`application/x-www-form-urlencoded`).
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({
    "grant_type": "client_credentials",
    "client_id": "01a24233-c9a1-75e7-9b5b-52d175f9e68b",
    "client_secret": "cs_3q2+7w8V…",
    "scope": "incident:read incident:write"
}))]
pub struct TokenForm {
    /// `refresh_token` or `client_credentials`.
    pub grant_type: String,
    pub refresh_token: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Space-separated scopes to narrow a client-credentials token to.
    pub scope: Option<String>,
}

fn form_fields(req: &HttpRequest, body: &[u8]) -> Result<HashMap<String, String>, ApiError> {
    let ct = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(ApiError::bad_request(
            "unsupported_media_type",
            "the token endpoint takes application/x-www-form-urlencoded",
        )
        .oauth("invalid_request"));
    }
    let mut fields = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if fields.insert(k.to_string(), v.to_string()).is_some() {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("parameter {k} repeated"),
            )
            .oauth("invalid_request"));
        }
    }
    Ok(fields)
}

/// HTTP Basic client authentication (RFC 6749 §2.3.1), if present.
fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    use base64::Engine;
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let dec = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.to_string())
    };
    Some((dec(id)?, dec(secret)?))
}

/// OAuth 2.0 token endpoint: `refresh_token` and `client_credentials` grants.
///
/// Refresh tokens rotate on every use; presenting one that was already used revokes its whole
/// family (RFC 6819 §5.2.2.3), and so does losing a race with a concurrent use of the same
/// token: of concurrent presentations exactly one gets a successor. A client-credentials token
/// carries only the client's scopes that the user who created it still holds (`invalid_scope`
/// when none); a client whose creator is deactivated gets `invalid_client`. Errors carry the
/// RFC 6749 `error` member as well. Each client address has a budget of requests per minute
/// over the sign-in endpoints together (429 with `Retry-After` beyond it).
#[utoipa::path(
    tag = "auth",
    operation_id = "issueToken",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "OK", body = TokenOut),
        (status = 400, description = "invalid_grant, invalid_request, unsupported_grant_type, invalid_scope (RFC 6749 §5.2: `application/json`, with `error` and `error_description`)", body = Problem, content_type = "application/json"),
        (status = 401, description = "invalid_client; `WWW-Authenticate: Basic` when the client used HTTP Basic", body = Problem, content_type = "application/json"),
        (status = 429, description = "Too many requests from this address to the sign-in endpoints; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many client-secret checks at once; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/oauth/token")]
pub async fn token(
    state: web::Data<Identity>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let address = state.credentials.admit(&req).await?;
    let fields = form_fields(&req, &body)?;
    match fields.get("grant_type").map(String::as_str) {
        Some("refresh_token") => refresh_grant(&state, &fields).await,
        Some("client_credentials") => {
            client_credentials_grant(&state, &req, &address, &fields).await
        }
        Some(other) => Err(ApiError::bad_request(
            "unsupported_grant_type",
            format!("grant_type {other:?} is not supported"),
        )
        .oauth("unsupported_grant_type")),
        None => Err(
            ApiError::bad_request("invalid_request", "grant_type is required")
                .oauth("invalid_request"),
        ),
    }
}

async fn refresh_grant(
    state: &Identity,
    fields: &HashMap<String, String>,
) -> Result<HttpResponse, ApiError> {
    let invalid_grant = || {
        ApiError::bad_request(
            "invalid_grant",
            "the refresh token is invalid, expired or revoked",
        )
        .oauth("invalid_grant")
    };
    let secret = fields
        .get("refresh_token")
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .ok_or_else(|| {
            ApiError::bad_request("invalid_request", "refresh_token is required")
                .oauth("invalid_request")
        })?;
    let txn = begin_lookup(&state.db, LookupKey::TokenHash, &digest(secret)).await?;
    match tokens::present_refresh(&txn, secret).await? {
        Presented::Invalid => {
            txn.commit().await?;
            Err(invalid_grant())
        }
        Presented::Reused(t) => {
            audit::append(
                &txn,
                TenantId(t.tenant_id),
                audit::Entry {
                    actor_id: Some(t.user_id),
                    action: "auth.refresh_token_reused",
                    target_type: "user",
                    target_id: Some(t.user_id),
                    data: json!({"family_id": t.family_id}),
                },
            )
            .await?;
            txn.commit().await?;
            tracing::warn!(event = "auth.refresh_token_reused", family_id = %t.family_id, "refresh token reuse: family revoked");
            Err(invalid_grant())
        }
        Presented::Valid(t) => {
            let user = users::find(&txn, TenantId(t.tenant_id), UserId(t.user_id)).await?;
            let tenant =
                tenants::find_within(&txn, TenantId(t.tenant_id), TenantId(t.tenant_id)).await?;
            let Some(user) = user.filter(|u| u.status == UserStatus::Active.as_str()) else {
                txn.rollback().await?;
                return Err(invalid_grant());
            };
            let active = match &tenant {
                Some(t) => directory::active_along(&txn, t).await?,
                None => false,
            };
            if !active {
                txn.rollback().await?;
                return Err(invalid_grant());
            }
            let roles = users::roles(&txn, TenantId(user.tenant_id), UserId(user.id)).await?;
            let out = session(state, &txn, &user, roles, t.family_id).await?;
            txn.commit().await?;
            Ok(token_response(&out))
        }
    }
}

/// The current roles of the user who created `client`, as they apply in the client's tenant:
/// None when the tenant is suspended or the creator is no longer an active user. A creator of
/// a provider tenant (acting in the client's tenant with `X-Tenant`) counts only while one of
/// its roles still reaches the tenants below it.
async fn usable_creator_roles(
    txn: &DatabaseTransaction,
    client: &ApiClient,
) -> Result<Option<Vec<Role>>, ApiError> {
    scope_to(txn, &[TenantId(client.tenant_id)]).await?;
    let tenant =
        tenants::find_within(txn, TenantId(client.tenant_id), TenantId(client.tenant_id)).await?;
    let Some(tenant) = tenant else {
        return Ok(None);
    };
    if !directory::active_along(txn, &tenant).await? {
        return Ok(None);
    }
    let path = tenant.path_ids();
    let creator = users::find_in(txn, &TenantId::many(&path), UserId(client.created_by))
        .await?
        .filter(|u| u.status == UserStatus::Active.as_str());
    let Some(creator) = creator else {
        return Ok(None);
    };
    let roles = users::roles(txn, TenantId(creator.tenant_id), UserId(creator.id)).await?;
    let reaches =
        creator.tenant_id == client.tenant_id || roles.iter().any(|r| r.reaches_descendants());
    Ok(Some(if reaches { roles } else { Vec::new() }))
}

async fn client_credentials_grant(
    state: &Identity,
    req: &HttpRequest,
    address: &str,
    fields: &HashMap<String, String>,
) -> Result<HttpResponse, ApiError> {
    let basic = basic_credentials(req);
    // A client that authenticated with HTTP Basic is told which scheme failed (RFC 6749 §5.2).
    let used_basic = basic.is_some();
    let invalid_client = || {
        let e = ApiError::unauthorized("client authentication failed").oauth("invalid_client");
        if used_basic { e.basic_challenge() } else { e }
    };
    let (id, secret) = match basic {
        Some(pair) => pair,
        None => match (fields.get("client_id"), fields.get("client_secret")) {
            (Some(id), Some(secret)) => (id.clone(), secret.clone()),
            _ => return Err(invalid_client()),
        },
    };
    let id = Uuid::parse_str(&id).map_err(|_| invalid_client())?;
    if secret.is_empty() || secret.len() > 256 {
        return Err(invalid_client());
    }
    let txn = begin_lookup(&state.db, LookupKey::ClientId, &id.to_string()).await?;
    let client: Option<ApiClient> = clients::find_for_grant(&txn, id).await?;
    let creator_roles = match &client {
        Some(c) => usable_creator_roles(&txn, c).await?,
        None => None,
    };
    txn.commit().await?;
    // Client secrets are argon2 hashes too: their checks share the bound on checks in flight.
    let permit = state.credentials.verification(address).await?;
    let ok = password::spawn_verify(secret, client.as_ref().map(|c| c.secret_hash.clone())).await?;
    drop(permit);
    // A client of a suspended tenant, or whose creator is no longer an active user, gets no
    // token at all.
    let (client, creator_roles) = match (client, creator_roles) {
        (Some(c), Some(roles)) if ok && c.status == clients::ACTIVE => (c, roles),
        _ => return Err(invalid_client()),
    };
    // The client's token never carries more than its creator holds now.
    let granted = delegated_scopes(client.scopes.split_whitespace(), &creator_roles);
    if granted.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_scope",
            "the user who created this client no longer holds any of its scopes",
        )
        .oauth("invalid_scope"));
    }
    let scope = match fields.get("scope") {
        None => granted.join(" "),
        Some(asked) => {
            let asked: Vec<&str> = asked.split_whitespace().collect();
            if let Some(bad) = asked.iter().find(|s| !granted.iter().any(|g| g == *s)) {
                return Err(ApiError::bad_request(
                    "invalid_scope",
                    format!("scope {bad} is not granted to this client"),
                )
                .oauth("invalid_scope"));
            }
            asked.join(" ")
        }
    };
    let (access, expires_in) =
        access_token(state, Subject::Client(&client), vec![], scope.clone()).await?;
    Ok(token_response(&TokenOut {
        access_token: access,
        refresh_token: None,
        token_type: "Bearer".into(),
        expires_in,
        scope,
    }))
}
