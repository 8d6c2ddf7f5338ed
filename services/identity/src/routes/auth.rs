//! Sessions: password login, logout, invitation acceptance and password reset. (The OAuth 2.0
//! token endpoint is `oauth`.)
use actix_web::{HttpRequest, HttpResponse, post, web};
use platform::auth::UserId;
use platform::tenancy::TenantId;
use platform::{
    ApiError,
    error::Problem,
    json::Json,
    tenancy::{LookupKey, begin_lookup, begin_scoped, scope_to},
    validate::{Email, Validator},
};
use sea_orm::ActiveValue::Set;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    session::{TokenOut, session, token_response},
    user_view::UserOut,
};
use crate::{
    Identity,
    domain::{password, token::digest},
    store::{
        self, audit, directory, login_attempts, tenants,
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

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("email or password is wrong")
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
            scope_to(&txn, &[TenantId(u.tenant_id)]).await?;
            let tenant =
                tenants::find_within(&txn, TenantId(u.tenant_id), TenantId(u.tenant_id)).await?;
            let active = match &tenant {
                // Suspending an MSP stops its customers' sign-ins too (ADR 20).
                Some(t) => directory::active_along(&txn, t).await?,
                None => false,
            };
            let roles = users::roles(&txn, TenantId(u.tenant_id), UserId(u.id)).await?;
            Some((active, roles))
        }
        None => None,
    };
    txn.commit().await?;

    let ok = password::spawn_verify(
        body.password.clone(),
        user.as_ref().and_then(|u| u.password_hash.clone()),
    )
    .await?;
    drop(permit);
    if !ok {
        let (failures, lock) =
            login_attempts::failed(&state.db, email.as_str(), &address, now).await?;
        if let Some(u) = &user {
            let txn = begin_scoped(&state.db, &[TenantId(u.tenant_id)]).await?;
            audit::append(&txn, TenantId(u.tenant_id), audit::Entry {
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
        let txn = begin_scoped(&state.db, &[TenantId(user.tenant_id)]).await?;
        audit::append(
            &txn,
            TenantId(user.tenant_id),
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
    let txn = begin_scoped(&state.db, &[TenantId(user.tenant_id)]).await?;
    let out = session(&state, &txn, &user, roles, Uuid::now_v7()).await?;
    audit::append(
        &txn,
        TenantId(user.tenant_id),
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
    let txn = begin_lookup(
        &state.db,
        LookupKey::TokenHash,
        &digest(&body.refresh_token),
    )
    .await?;
    if let Presented::Valid(t) | Presented::Reused(t) =
        tokens::present_refresh(&txn, &body.refresh_token).await?
    {
        tokens::revoke_family(&txn, TenantId(t.tenant_id), t.family_id).await?;
        audit::append(
            &txn,
            TenantId(t.tenant_id),
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
    let hash = password::spawn_hash(password_value.to_string()).await?;
    let txn = begin_lookup(&state.db, LookupKey::TokenHash, &digest(secret)).await?;
    let used = tokens::consume_one_time(&txn, secret, purpose).await?;
    let Some(used) = used else {
        txn.rollback().await?;
        return Err(ApiError::field(
            "/token",
            "invalid_token",
            "the token is invalid, used or expired",
        ));
    };
    scope_to(&txn, &[TenantId(used.tenant_id)]).await?;
    let user = users::find(&txn, TenantId(used.tenant_id), UserId(used.user_id)).await?;
    let Some(user) = user.filter(|u| u.status != UserStatus::Deactivated.as_str()) else {
        txn.rollback().await?;
        return Err(ApiError::field(
            "/token",
            "invalid_token",
            "the token is invalid, used or expired",
        ));
    };
    let tenant = tenants::find_within(&txn, TenantId(user.tenant_id), TenantId(user.tenant_id))
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
    tokens::revoke_user(&txn, TenantId(user.tenant_id), UserId(user.id)).await?;
    crate::events::user_updated(&txn, &user).await?;
    let action = match purpose {
        Purpose::Invitation => "user.invitation_accepted",
        Purpose::PasswordReset => "user.password_reset",
    };
    audit::append(
        &txn,
        TenantId(user.tenant_id),
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
    responses((status = 200, description = "OK", body = UserOut), (status = "4XX", description = "Client error: problem+json naming the field or reason", body = Problem, content_type = "application/problem+json"))
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
    let out = UserOut::read(&state, &user).await?;
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
