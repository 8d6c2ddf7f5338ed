//! Sessions: password login, the OAuth 2.0 token endpoint (refresh-token rotation with reuse
//! detection, client credentials), logout, invitation acceptance and password reset.
use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::{Duration, Utc};
use platform::{
    ApiError,
    auth::{Claims, Role, delegated_scopes, scopes_of},
    error::Problem,
    json::Json,
    tenancy::{LookupKey, begin_lookup, begin_scoped, scope_to},
    validate::{Email, Validator},
};
use sea_orm::{ActiveValue::Set, DatabaseTransaction};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    Identity,
    domain::password,
    store::{
        self, audit,
        clients::{self, ApiClient},
        directory, login_attempts, tenants,
        tokens::{self, Presented, Purpose},
        users::{self, User, UserStatus},
    },
};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "email": "agent@globex.demo.test",
    "password": "correct horse battery staple"
}))]
pub struct LoginIn {
    #[schema(example = "agent@globex.demo.test")]
    pub email: String,
    pub password: String,
}

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

pub(crate) fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("email or password is wrong")
}

/// Mints an access token for a user or an API client.
/// Who an access token is for.
pub(crate) enum Subject<'a> {
    User(&'a User),
    Client(&'a ApiClient),
}

pub(crate) async fn access_token(
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
async fn session(
    state: &Identity,
    txn: &DatabaseTransaction,
    user: &User,
    roles: Vec<Role>,
    family: Uuid,
) -> Result<TokenOut, ApiError> {
    let refresh_ttl = Duration::seconds(state.settings.auth_refresh_token_ttl_secs as i64);
    let refresh = tokens::issue_refresh(txn, user.tenant_id, user.id, family, refresh_ttl).await?;
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

fn token_response(out: &TokenOut) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(out)
}

/// Runs a CPU-heavy password check off the async runtime.
pub(crate) async fn verify_password(
    password: String,
    phc: Option<String>,
) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let phc = phc.unwrap_or_else(|| password::decoy_hash().to_string());
        password::verify(&password, &phc)
    })
    .await
    .map_err(ApiError::internal)
}

pub(crate) async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// Log in with email and password.
///
/// Each client address has a budget of five password checks per email; once it is spent the
/// pair is locked for a period that doubles with each further failure (1 s … 15 min) and answers
/// 429 with `Retry-After` — whether or not the email belongs to an account. Parallel attempts
/// spend the budget one by one, and another address is not affected. Each address may also make
/// only so many requests per minute to the sign-in endpoints together (429), and when every core
/// is busy checking passwords the request is turned away with 503 and `Retry-After`.
#[utoipa::path(
    tag = "auth",
    operation_id = "login",
    request_body = LoginIn,
    responses(
        (status = 200, description = "OK", body = TokenOut),
        (status = 401, description = "Wrong email or password (`unauthorized`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address (for this email, or in all)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many sign-ins at once; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Client error: problem+json naming the field or reason", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<Identity>,
    body: Json<LoginIn>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let address = state.credentials.admit(&req).await?;
    let mut v = Validator::new();
    let email = v.check(Email::parse("/email", &body.email));
    if body.password.is_empty() || body.password.len() > 1024 {
        v.push(platform::FieldError::new(
            "/password",
            "invalid_password",
            "must be 1-1024 bytes",
        ));
    }
    v.finish()?;
    let email = email.ok_or_else(invalid_credentials)?;

    // The budget is spent before anything about the account is read: a refusal looks the same
    // for every email, and costs no password check.
    let now = store::now();
    if let login_attempts::Claim::Refused(wait) =
        login_attempts::claim(&state.db, email.as_str(), &address, now).await?
    {
        tracing::info!(event = "auth.login_refused", reason = "back_off");
        return Err(ApiError::too_many_requests(
            "too many failed logins; try again later",
            wait.as_secs().max(1),
        ));
    }
    let permit = state.credentials.verification(&address).await?;

    // Read what the check needs, then verify the password outside any transaction.
    let txn = begin_lookup(&state.db, LookupKey::Email, email.as_str()).await?;
    let user = users::find_by_email(&txn, email.as_str()).await?;
    let context = match &user {
        Some(u) => {
            scope_to(&txn, &[u.tenant_id]).await?;
            let tenant = tenants::find_within(&txn, u.tenant_id, u.tenant_id).await?;
            let active = match &tenant {
                // Suspending an MSP stops its customers' sign-ins too (ADR 20).
                Some(t) => directory::active_along(&txn, t).await?,
                None => false,
            };
            let roles = users::roles(&txn, u.tenant_id, u.id).await?;
            Some((active, roles))
        }
        None => None,
    };
    txn.commit().await?;

    let ok = verify_password(
        body.password.clone(),
        user.as_ref().and_then(|u| u.password_hash.clone()),
    )
    .await?;
    drop(permit);
    if !ok {
        let (failures, lock) =
            login_attempts::failed(&state.db, email.as_str(), &address, now).await?;
        if let Some(u) = &user {
            let txn = begin_scoped(&state.db, &[u.tenant_id]).await?;
            audit::append(&txn, u.tenant_id, audit::Entry {
                actor_id: Some(u.id),
                action: "auth.login_failed",
                target_type: "user",
                target_id: Some(u.id),
                data: json!({"reason": "wrong_password", "consecutive_failures": failures, "locked_for_secs": lock.map(|d| d.as_secs()), "client_addr": address}),
            })
            .await?;
            txn.commit().await?;
        } else {
            tracing::info!(event = "auth.login_failed", reason = "unknown_email");
        }
        return Err(invalid_credentials());
    }
    let (Some(user), Some((tenant_active, roles))) = (user, context) else {
        return Err(invalid_credentials());
    };
    if user.status != UserStatus::Active.as_str() || !tenant_active {
        let reason = if tenant_active {
            "user_not_active"
        } else {
            "tenant_suspended"
        };
        let txn = begin_scoped(&state.db, &[user.tenant_id]).await?;
        audit::append(
            &txn,
            user.tenant_id,
            audit::Entry {
                actor_id: Some(user.id),
                action: "auth.login_failed",
                target_type: "user",
                target_id: Some(user.id),
                data: json!({"reason": reason, "client_addr": address}),
            },
        )
        .await?;
        txn.commit().await?;
        return Err(invalid_credentials());
    }
    login_attempts::succeeded(&state.db, email.as_str(), &address).await?;
    let txn = begin_scoped(&state.db, &[user.tenant_id]).await?;
    let out = session(&state, &txn, &user, roles, Uuid::now_v7()).await?;
    audit::append(
        &txn,
        user.tenant_id,
        audit::Entry {
            actor_id: Some(user.id),
            action: "auth.login",
            target_type: "user",
            target_id: Some(user.id),
            data: json!({}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(token_response(&out))
}

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

fn form_fields(
    req: &HttpRequest,
    body: &[u8],
) -> Result<std::collections::HashMap<String, String>, ApiError> {
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
    let mut fields = std::collections::HashMap::new();
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
    fields: &std::collections::HashMap<String, String>,
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
    let txn = begin_lookup(
        &state.db,
        LookupKey::TokenHash,
        &crate::domain::token::digest(secret),
    )
    .await?;
    match tokens::present_refresh(&txn, secret).await? {
        Presented::Invalid => {
            txn.commit().await?;
            Err(invalid_grant())
        }
        Presented::Reused(t) => {
            audit::append(
                &txn,
                t.tenant_id,
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
            let user = users::find(&txn, t.tenant_id, t.user_id).await?;
            let tenant = tenants::find_within(&txn, t.tenant_id, t.tenant_id).await?;
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
            let roles = users::roles(&txn, user.tenant_id, user.id).await?;
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
    scope_to(txn, &[client.tenant_id]).await?;
    let tenant = tenants::find_within(txn, client.tenant_id, client.tenant_id).await?;
    let Some(tenant) = tenant else {
        return Ok(None);
    };
    if !directory::active_along(txn, &tenant).await? {
        return Ok(None);
    }
    let path = tenant.path_ids();
    let creator = users::find_in(txn, &path, client.created_by)
        .await?
        .filter(|u| u.status == UserStatus::Active.as_str());
    let Some(creator) = creator else {
        return Ok(None);
    };
    let roles = users::roles(txn, creator.tenant_id, creator.id).await?;
    let reaches =
        creator.tenant_id == client.tenant_id || roles.iter().any(|r| r.reaches_descendants());
    Ok(Some(if reaches { roles } else { Vec::new() }))
}

async fn client_credentials_grant(
    state: &Identity,
    req: &HttpRequest,
    address: &str,
    fields: &std::collections::HashMap<String, String>,
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
    let ok = verify_password(secret, client.as_ref().map(|c| c.secret_hash.clone())).await?;
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "refresh_token": "rt_Q0FGRUJBQkU…"
}))]
pub struct LogoutIn {
    pub refresh_token: String,
}

/// Log out: revoke the refresh token's whole family.
///
/// Every refresh token descended from the same sign-in stops working; access tokens expire on their
/// own (at most 15 minutes). Unknown tokens are accepted silently (as RFC 7009 revocation does), so
/// the endpoint reveals nothing.
#[utoipa::path(
    tag = "auth",
    operation_id = "logout",
    request_body = LogoutIn,
    responses((status = 204, description = "No content"), (status = "4XX", description = "Client error: problem+json naming the field or reason", body = Problem, content_type = "application/problem+json"))
)]
#[post("/auth/logout")]
pub async fn logout(
    state: web::Data<Identity>,
    body: Json<LogoutIn>,
) -> Result<HttpResponse, ApiError> {
    if body.refresh_token.is_empty() || body.refresh_token.len() > 256 {
        return Err(ApiError::field(
            "/refresh_token",
            "invalid_token",
            "must be a refresh token",
        ));
    }
    let digest = crate::domain::token::digest(&body.refresh_token);
    let txn = begin_lookup(&state.db, LookupKey::TokenHash, &digest).await?;
    if let Presented::Valid(t) | Presented::Reused(t) =
        tokens::present_refresh(&txn, &body.refresh_token).await?
    {
        tokens::revoke_family(&txn, t.tenant_id, t.family_id).await?;
        audit::append(
            &txn,
            t.tenant_id,
            audit::Entry {
                actor_id: Some(t.user_id),
                action: "auth.logout",
                target_type: "user",
                target_id: Some(t.user_id),
                data: json!({"family_id": t.family_id}),
            },
        )
        .await?;
    }
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "token": "inv_V2VsY29tZSBh…",
    "password": "correct horse battery staple",
    "display_name": "Jane Doe"
}))]
pub struct AcceptInvitationIn {
    pub token: String,
    pub password: String,
    pub display_name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "token": "rst_zvX1QfgwYP7N…",
    "password": "correct horse battery staple"
}))]
pub struct ConfirmResetIn {
    pub token: String,
    pub password: String,
}

/// Consumes a one-time token and sets the user's password; returns the user.
async fn set_password_with_token(
    state: &Identity,
    secret: &str,
    password_value: &str,
    purpose: Purpose,
    display_name: Option<&str>,
) -> Result<User, ApiError> {
    let mut v = Validator::new();
    if secret.is_empty() || secret.len() > 256 {
        v.push(platform::FieldError::new(
            "/token",
            "invalid_token",
            "must be the token you were given",
        ));
    }
    v.check(password::check_policy(
        "/password",
        password_value,
        password::MIN_LEN,
    ));
    let name = display_name.map(|n| v.check(platform::validate::text("/display_name", n, 200)));
    v.finish()?;
    let hash = hash_password(password_value.to_string()).await?;
    let digest = crate::domain::token::digest(secret);
    let txn = begin_lookup(&state.db, LookupKey::TokenHash, &digest).await?;
    let used = tokens::consume_one_time(&txn, secret, purpose).await?;
    let Some(used) = used else {
        txn.rollback().await?;
        return Err(ApiError::field(
            "/token",
            "invalid_token",
            "the token is invalid, used or expired",
        ));
    };
    scope_to(&txn, &[used.tenant_id]).await?;
    let user = users::find(&txn, used.tenant_id, used.user_id).await?;
    let Some(user) = user.filter(|u| u.status != UserStatus::Deactivated.as_str()) else {
        txn.rollback().await?;
        return Err(ApiError::field(
            "/token",
            "invalid_token",
            "the token is invalid, used or expired",
        ));
    };
    let tenant = tenants::find_within(&txn, user.tenant_id, user.tenant_id)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    let min_len = store::settings::password_min_length(&txn, &tenant).await?;
    if let Err(e) = password::check_policy("/password", password_value, min_len) {
        txn.rollback().await?;
        return Err(ApiError::validation(vec![e]));
    }
    let user = users::update(&txn, user, |u| {
        u.password_hash = Set(Some(hash));
        u.status = Set(UserStatus::Active.as_str().to_string());
        u.failed_logins = Set(0);
        u.locked_until = Set(None);
        if let Some(Some(n)) = name {
            u.display_name = Set(n);
        }
    })
    .await?;
    tokens::revoke_user(&txn, user.tenant_id, user.id).await?;
    crate::events::user_updated(&txn, &user).await?;
    let action = match purpose {
        Purpose::Invitation => "user.invitation_accepted",
        Purpose::PasswordReset => "user.password_reset",
    };
    audit::append(
        &txn,
        user.tenant_id,
        audit::Entry {
            actor_id: Some(user.id),
            action,
            target_type: "user",
            target_id: Some(user.id),
            data: json!({}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(user)
}

/// Accept an invitation: set the password and activate the user.
///
/// The invitation token is single-use; an unknown, used or expired one is refused
/// (`invalid_token`), and so is a password that fails the password policy (422).
#[utoipa::path(
    tag = "auth",
    operation_id = "acceptInvitation",
    request_body = AcceptInvitationIn,
    responses((status = 200, description = "OK", body = super::users::UserOut), (status = "4XX", description = "Client error: problem+json naming the field or reason", body = Problem, content_type = "application/problem+json"))
)]
#[post("/invitations/accept")]
pub async fn accept_invitation(
    state: web::Data<Identity>,
    body: Json<AcceptInvitationIn>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    state.credentials.admit(&req).await?;
    let user = set_password_with_token(
        &state,
        &body.token,
        &body.password,
        Purpose::Invitation,
        body.display_name.as_deref(),
    )
    .await?;
    let out = super::users::user_out(&state, &user).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Set a new password with a reset token.
///
/// The token is single-use, however many requests carry it at once, and every session of the user
/// is revoked. An unknown, used or expired token is refused (`invalid_token`), and so is a password
/// that fails the password policy (422).
#[utoipa::path(
    tag = "auth",
    operation_id = "confirmPasswordReset",
    request_body = ConfirmResetIn,
    responses((status = 204, description = "No content"), (status = "4XX", description = "Client error: problem+json naming the field or reason", body = Problem, content_type = "application/problem+json"))
)]
#[post("/auth/password-reset/confirm")]
pub async fn confirm_password_reset(
    state: web::Data<Identity>,
    body: Json<ConfirmResetIn>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    state.credentials.admit(&req).await?;
    set_password_with_token(
        &state,
        &body.token,
        &body.password,
        Purpose::PasswordReset,
        None,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
