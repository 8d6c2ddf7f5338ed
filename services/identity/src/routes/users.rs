//! Users: invite, read, list, deactivate, roles, password change and admin-issued resets.
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use platform::auth::UserId;
use platform::tenancy::TenantId;
use platform::{
    ApiError, FieldError,
    auth::{
        Auth, Role, may_act_on,
        scopes::{Authenticated, UserRead, UserWrite},
    },
    error::Problem,
    json::Json,
    pagination::{Page, PageQuery},
    tenancy::begin_scoped,
    validate::{Email, Validator, text},
};
use sea_orm::{ActiveValue::Set, DatabaseTransaction};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    ListQuery, TenantFilter,
    refusals::ItemRefusals,
    taken::{self, Taken},
    user_view::{OneTimeTokenOut, UserOut},
};
use crate::{
    Identity,
    domain::{
        password,
        token::{INVITATION_TTL, RESET_TTL},
        user::{GrantRefusal, NewUser, RoleSet, may_grant},
    },
    store::{
        audit, is_unique_violation, settings as stored_settings, tenants,
        tokens::{self, Purpose},
        users::{self, User, UserStatus},
    },
};

platform::page_schema!(UserPage, UserOut);

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "user": {
        "id": "01a24233-ca1e-7222-8c9e-cb032e372475",
        "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
        "email": "jane.doe@globex.example",
        "display_name": "Jane Doe",
        "status": "invited",
        "roles": [
            "agent"
        ],
        "created_at": "2026-12-04T17:57:00.062837Z",
        "updated_at": "2026-12-04T17:57:00.062837Z"
    },
    "invitation": {
        "token": "inv_GDdT20inkTKEs0SSGlRIdFF51g_cp9DS8fc3AS_uIrI",
        "expires_at": "2026-12-11T17:57:00.063676Z"
    }
}))]
pub struct InvitedOut {
    pub user: UserOut,
    /// Send this to the user; they set their password with it at `POST /api/v1/invitations/accept`.
    pub invitation: OneTimeTokenOut,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24233-c45a-7516-b798-63305b9ad54c",
    "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
    "acting_tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
    "email": "admin@globex.demo.test",
    "display_name": "Globex Corporation admin",
    "roles": [
        "tenant_admin"
    ],
    "scopes": [
        "analytics:read",
        "api_client:manage"
    ]
}))]
pub struct MeOut {
    /// The user id (or the API client id for client tokens).
    pub id: Uuid,
    /// The principal's home tenant.
    pub tenant_id: Uuid,
    /// The tenant this request acts in (differs from `tenant_id` with `X-Tenant`).
    pub acting_tenant_id: Uuid,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub roles: Vec<Role>,
    pub scopes: Vec<String>,
}

/// The calling principal.
///
/// The user id (or the API client's id for client tokens), its home tenant and the tenant the
/// request acts in (they differ with `X-Tenant`), its roles and the scopes the token carries.
#[utoipa::path(
    tag = "users",
    operation_id = "getMe",
    responses((status = 200, description = "OK", body = MeOut)),
    security(("bearer" = []))
)]
#[get("/users/me")]
pub async fn me(auth: Auth<Authenticated>) -> HttpResponse {
    // Everything comes from the verified token: no database round trip.
    let p = &auth.principal;
    HttpResponse::Ok().json(MeOut {
        id: p.subject,
        tenant_id: p.home_tenant.as_uuid(),
        acting_tenant_id: auth.tenant_id().as_uuid(),
        email: p.email.clone(),
        display_name: p.name.clone(),
        roles: p.roles.clone(),
        scopes: p.scopes.iter().cloned().collect(),
    })
}

/// Users of the acting tenant, a page at a time.
///
/// `?tenant=*`: of its whole subtree, for MSP roles; or a tenant id or slug within reach.
#[utoipa::path(
    tag = "users",
    operation_id = "listUsers",
    params(PageQuery, TenantFilter),
    responses((status = 200, description = "OK", body = UserPage)),
    security(("bearer" = ["user:read"]))
)]
#[get("/users")]
pub async fn list(
    state: web::Data<Identity>,
    auth: Auth<UserRead>,
    query: web::Query<ListQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let tenants = auth.list_scope(query.tenant.as_deref()).await?;
    let txn = begin_scoped(&state.db, &tenants).await?;
    let rows = users::list(&txn, &tenants, page.after, page.limit + 1).await?;
    let mut roles = users::roles_of(&txn, &rows).await?;
    txn.commit().await?;
    let items = rows
        .iter()
        .map(|u| UserOut::new(u, roles.remove(&u.id).unwrap_or_default()))
        .collect();
    Ok(Page::from_rows(items, page.limit, |u| u.id).respond(&req))
}

async fn load(state: &Identity, tenant: TenantId, id: Uuid) -> Result<UserOut, ApiError> {
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let user = users::find(&txn, tenant, UserId(id))
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let roles = users::roles(&txn, tenant, UserId(id)).await?;
    txn.commit().await?;
    Ok(UserOut::new(&user, roles))
}

/// Read a user of the acting tenant.
///
/// Another tenant's user is 404.
#[utoipa::path(
    tag = "users",
    operation_id = "getUser",
    params(("id" = Uuid, Path, description = "The user's id.")),
    responses((status = 200, description = "OK", body = UserOut)),
    security(("bearer" = ["user:read"]))
)]
#[get("/users/{id}")]
pub async fn get(
    state: web::Data<Identity>,
    auth: Auth<UserRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(load(&state, auth.tenant_id(), *id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "email": "jane.doe@globex.example",
    "display_name": "Jane Doe",
    "roles": [
        "agent"
    ]
}))]
pub struct InviteIn {
    pub email: String,
    pub display_name: String,
    #[serde(default)]
    pub roles: Vec<String>,
}

impl TryFrom<InviteIn> for NewUser {
    type Error = Vec<FieldError>;

    fn try_from(body: InviteIn) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let email = v.check(Email::parse("/email", &body.email));
        let display_name = v.check(text("/display_name", &body.display_name, 200));
        let roles = RoleSet::parse(&body.roles, &mut v);
        let parsed = match (email, display_name) {
            (Some(email), Some(display_name)) => Some(NewUser {
                email,
                display_name,
                roles,
            }),
            _ => None,
        };
        v.finish_with(parsed)
    }
}

/// The roles named in `names` that this caller may not grant in the acting tenant (see
/// [`may_grant`]); names that are no role are the parse's to report.
fn role_refusals<S: platform::auth::RequiredScope>(
    auth: &Auth<S>,
    names: &[String],
) -> ItemRefusals {
    let mut refusals = ItemRefusals::new("/roles");
    let kind = auth.tenant.kind;
    for (i, name) in names.iter().enumerate() {
        let Some(role) = Role::parse(name) else {
            continue;
        };
        match may_grant(role, kind, &auth.principal.roles) {
            Ok(()) => {}
            Err(GrantRefusal::NotAllowedInTenant) => refusals.refuse(
                i,
                "role_not_allowed",
                format!("{name} cannot be held in a {} tenant", kind.as_str()),
            ),
            Err(GrantRefusal::NotHeldByGranter) => {
                refusals.refuse(i, "role_not_grantable", format!("you cannot grant {name}"))
            }
        }
    }
    refusals
}

/// The answer when the caller may not act on `target`, who holds `roles` (see
/// [`may_act_on`]): the refusal is appended to the acting tenant's audit chain in `txn`, which
/// is committed, and the caller gets 403.
async fn refuse_stronger_target<S: platform::auth::RequiredScope>(
    txn: DatabaseTransaction,
    auth: &Auth<S>,
    target: &User,
    roles: &[Role],
    attempted: &'static str,
) -> ApiError {
    let recorded = async {
        audit::append(
            &txn,
            TenantId(target.tenant_id),
            audit::Entry {
                actor_id: Some(auth.principal.subject),
                action: "user.action_refused",
                target_type: "user",
                target_id: Some(target.id),
                data: json!({
                    "attempted": attempted,
                    "reason": "user_more_privileged",
                    "target_roles": roles,
                    "by_api_client": auth.principal.is_client,
                }),
            },
        )
        .await?;
        txn.commit().await
    }
    .await;
    if let Err(e) = recorded {
        return e.into();
    }
    let detail = if auth.principal.is_client {
        "API clients cannot act on users whose roles reach other tenants"
    } else {
        "the user holds roles reaching other tenants that you do not hold"
    };
    ApiError::forbidden("user_more_privileged", detail)
}

/// Invite a user into the acting tenant; the response carries the invitation token once.
///
/// Emails are unique across the platform, so a 409 `email_taken` may concern a user of another
/// tenant: each is recorded in the caller's audit chain, and after 10 in 10 minutes the
/// caller's invitations get 429 `too_many_conflicts` for a while (see the API guide).
#[utoipa::path(
    tag = "users",
    operation_id = "inviteUser",
    request_body = InviteIn,
    responses(
        (status = 201, description = "Created", body = InvitedOut),
        (status = 409, description = "`email_taken`: the email is registered (in any tenant; `extra.pointer`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many taken emails or slugs lately (`too_many_conflicts`, `Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["user:write"]))
)]
#[post("/users")]
pub async fn invite(
    state: web::Data<Identity>,
    auth: Auth<UserWrite>,
    body: Json<InviteIn>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let refusals = role_refusals(&auth, &body.roles);
    let new = refusals.merge(NewUser::try_from(body))?;
    let tenant = auth.tenant_id();
    taken::check_budget(&state, &auth.principal)?;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let email = new.email.as_str();
    let user = match users::insert_invited(&txn, tenant, email, &new.display_name).await {
        Ok(u) => u,
        Err(e) if is_unique_violation(&e) => {
            txn.rollback().await?;
            let taken = Taken {
                attempted: "user.invite",
                code: "email_taken",
                pointer: "/email",
                value: email,
                detail: "a user with this email already exists",
            };
            return Err(taken::answer(&state, &auth.principal, taken).await);
        }
        Err(e) => return Err(e.into()),
    };
    let roles = new.roles.as_slice();
    users::set_roles(&txn, tenant, UserId(user.id), roles).await?;
    let (token, expires_at) = tokens::issue_one_time(
        &txn,
        tenant,
        UserId(user.id),
        Purpose::Invitation,
        INVITATION_TTL,
    )
    .await?;
    crate::events::user_created(&txn, &user, roles).await?;
    audit::append(
        &txn,
        tenant,
        audit::Entry {
            actor_id: Some(auth.principal.subject),
            action: "user.invited",
            target_type: "user",
            target_id: Some(user.id),
            data: json!({"email": user.email, "roles": roles}),
        },
    )
    .await?;
    txn.commit().await?;
    // Carries a one-time secret: never cached, never kept by the edge's idempotency store.
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Location", format!("/api/v1/users/{}", user.id)))
        .json(InvitedOut {
            user: UserOut::new(&user, roles.to_vec()),
            invitation: OneTimeTokenOut { token, expires_at },
        }))
}

/// Deactivate a user: they can no longer log in, and every session is revoked.
///
/// The caller must hold every role of the user that reaches other tenants (or be a platform
/// admin); otherwise 403 `user_more_privileged`, recorded in the audit chain.
#[utoipa::path(
    tag = "users",
    operation_id = "deactivateUser",
    params(("id" = Uuid, Path, description = "The user's id.")),
    responses(
        (status = 200, description = "OK", body = UserOut),
        (status = 403, description = "`insufficient_scope`, or `user_more_privileged`: the user holds a role reaching other tenants that the caller lacks", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["user:write"]))
)]
#[post("/users/{id}/deactivate")]
pub async fn deactivate(
    state: web::Data<Identity>,
    auth: Auth<UserWrite>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    if *id == auth.principal.subject {
        return Err(ApiError::conflict(
            "cannot_deactivate_self",
            "you cannot deactivate yourself",
        ));
    }
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let user = users::find(&txn, tenant, UserId(*id))
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let roles = users::roles(&txn, tenant, UserId(user.id)).await?;
    if !may_act_on(&auth.principal, &roles) {
        return Err(refuse_stronger_target(txn, &auth, &user, &roles, "user.deactivate").await);
    }
    let user = users::update(&txn, user, |u| {
        u.status = Set(UserStatus::Deactivated.as_str().to_string())
    })
    .await?;
    let revoked = tokens::revoke_user(&txn, tenant, UserId(user.id)).await?;
    crate::events::user_updated(&txn, &user).await?;
    audit::append(
        &txn,
        tenant,
        audit::Entry {
            actor_id: Some(auth.principal.subject),
            action: "user.deactivated",
            target_type: "user",
            target_id: Some(user.id),
            data: json!({"revoked_refresh_tokens": revoked}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(UserOut::new(&user, roles)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "roles": [
        "agent",
        "approver"
    ]
}))]
pub struct RolesIn {
    pub roles: Vec<String>,
}

impl TryFrom<RolesIn> for RoleSet {
    type Error = Vec<FieldError>;

    fn try_from(body: RolesIn) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let roles = RoleSet::parse(&body.roles, &mut v);
        v.finish_with(Some(roles))
    }
}

/// Replace a user's roles.
///
/// The caller must hold every role of the user that reaches other tenants (or be a platform
/// admin); otherwise 403 `user_more_privileged`, recorded in the audit chain.
#[utoipa::path(
    tag = "users",
    operation_id = "setUserRoles",
    params(("id" = Uuid, Path, description = "The user's id.")),
    request_body = RolesIn,
    responses(
        (status = 200, description = "OK", body = UserOut),
        (status = 403, description = "`insufficient_scope`, or `user_more_privileged`: the user holds a role reaching other tenants that the caller lacks", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["user:write"]))
)]
#[put("/users/{id}/roles")]
pub async fn set_roles(
    state: web::Data<Identity>,
    auth: Auth<UserWrite>,
    id: web::Path<Uuid>,
    body: Json<RolesIn>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let refusals = role_refusals(&auth, &body.roles);
    let roles = refusals.merge(RoleSet::try_from(body))?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let user = users::find(&txn, tenant, UserId(*id))
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let before = users::roles(&txn, tenant, UserId(user.id)).await?;
    if !may_act_on(&auth.principal, &before) {
        return Err(refuse_stronger_target(txn, &auth, &user, &before, "user.set_roles").await);
    }
    let dropped_admin = before.iter().any(|r| {
        matches!(r, Role::TenantAdmin | Role::MspAdmin | Role::PlatformAdmin) && !roles.contains(*r)
    });
    if user.id == auth.principal.subject && dropped_admin {
        return Err(ApiError::conflict(
            "cannot_demote_self",
            "you cannot remove your own administrator role; ask another administrator",
        ));
    }
    let roles = roles.as_slice();
    users::set_roles(&txn, tenant, UserId(user.id), roles).await?;
    let user = users::update(&txn, user, |_| {}).await?;
    crate::events::user_roles_changed(&txn, &user, roles).await?;
    audit::append(
        &txn,
        tenant,
        audit::Entry {
            actor_id: Some(auth.principal.subject),
            action: "user.roles_changed",
            target_type: "user",
            target_id: Some(user.id),
            data: json!({"before": before, "after": roles}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(UserOut::new(&user, roles.to_vec())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"manager_id": "01a24233-c45f-769f-8803-48c30e8f1d49"}))]
pub struct ManagerIn {
    /// An active user of the same tenant, or `null` to clear it.
    pub manager_id: Option<Uuid>,
}

/// Set or clear a user's line manager.
///
/// The manager approves what the user requests (catalogue approval steps of type `manager`).
/// It must be an active user of the same tenant, not the user, and not someone the user
/// manages, directly or not (422 `unknown_reference`, `self_manager` or `manager_cycle` on
/// `/manager_id`). Recorded in the audit chain and announced
/// (`itsm.identity.user.manager_changed.v1`).
#[utoipa::path(
    tag = "users",
    operation_id = "setUserManager",
    params(("id" = Uuid, Path, description = "The user's id.")),
    request_body = ManagerIn,
    responses((status = 200, description = "OK", body = UserOut)),
    security(("bearer" = ["user:write"]))
)]
#[put("/users/{id}/manager")]
pub async fn set_manager(
    state: web::Data<Identity>,
    auth: Auth<UserWrite>,
    id: web::Path<Uuid>,
    body: Json<ManagerIn>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let user = users::find(&txn, tenant, UserId(*id))
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    if let Some(manager) = body.manager_id {
        let refused =
            |code, detail| ApiError::validation(vec![FieldError::new("/manager_id", code, detail)]);
        let found = users::find(&txn, tenant, UserId(manager)).await?;
        if found.is_none_or(|m| m.status != UserStatus::Active.as_str()) {
            return Err(refused(
                "unknown_reference",
                "no such active user in this tenant",
            ));
        }
        if manager == user.id {
            return Err(refused("self_manager", "nobody is their own manager"));
        }
        if users::manages_indirectly(&txn, tenant, UserId(user.id), UserId(manager)).await? {
            return Err(refused(
                "manager_cycle",
                "the user already manages that user, directly or through others",
            ));
        }
    }
    let before = user.manager_id;
    let user = users::update(&txn, user, |u| u.manager_id = Set(body.manager_id)).await?;
    crate::events::user_manager_changed(&txn, &user).await?;
    audit::append(
        &txn,
        tenant,
        audit::Entry {
            actor_id: Some(auth.principal.subject),
            action: "user.manager_changed",
            target_type: "user",
            target_id: Some(user.id),
            data: json!({"before": before, "after": user.manager_id}),
        },
    )
    .await?;
    let roles = users::roles(&txn, tenant, UserId(user.id)).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(UserOut::new(&user, roles)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "current_password": "correct horse battery staple",
    "new_password": "tr0ub4dor & 3 more words"
}))]
pub struct ChangePasswordIn {
    pub current_password: String,
    pub new_password: String,
}

/// Change your own password.
///
/// Needs the current password (422 `wrong_password`); your other sessions are revoked.
#[utoipa::path(
    tag = "users",
    operation_id = "changeMyPassword",
    request_body = ChangePasswordIn,
    responses((status = 204, description = "No content")),
    security(("bearer" = []))
)]
#[post("/users/me/password")]
pub async fn change_password(
    state: web::Data<Identity>,
    auth: Auth<Authenticated>,
    body: Json<ChangePasswordIn>,
) -> Result<HttpResponse, ApiError> {
    let p = &auth.principal;
    if p.is_client {
        return Err(ApiError::forbidden(
            "not_a_user",
            "API clients have no password",
        ));
    }
    let txn = begin_scoped(&state.db, &[p.home_tenant]).await?;
    let user = users::find(&txn, p.home_tenant, UserId(p.subject))
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown user"))?;
    let tenant = tenants::find_within(&txn, p.home_tenant, p.home_tenant)
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown tenant"))?;
    let min_len = stored_settings::password_min_length(&txn, &tenant).await?;
    txn.commit().await?;
    let mut v = Validator::new();
    v.check(password::check_policy(
        "/new_password",
        &body.new_password,
        min_len,
    ));
    v.finish()?;
    let ok =
        password::spawn_verify(body.current_password.clone(), user.password_hash.clone()).await?;
    if !ok {
        return Err(ApiError::field(
            "/current_password",
            "wrong_password",
            "the current password is wrong",
        ));
    }
    let hash = password::spawn_hash(body.new_password.clone()).await?;
    let txn = begin_scoped(&state.db, &[p.home_tenant]).await?;
    let user = users::update(&txn, user, |u| u.password_hash = Set(Some(hash))).await?;
    tokens::revoke_user(&txn, TenantId(user.tenant_id), UserId(user.id)).await?;
    audit::append(
        &txn,
        TenantId(user.tenant_id),
        audit::Entry {
            actor_id: Some(user.id),
            action: "user.password_changed",
            target_type: "user",
            target_id: Some(user.id),
            data: json!({}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Issue a password-reset token for a user (shown once; valid for an hour).
///
/// The caller must hold every role of the user that reaches other tenants (or be a platform
/// admin); otherwise 403 `user_more_privileged`, recorded in the audit chain.
#[utoipa::path(
    tag = "users",
    operation_id = "issuePasswordReset",
    params(("id" = Uuid, Path, description = "The user's id.")),
    responses(
        (status = 201, description = "Created", body = OneTimeTokenOut),
        (status = 403, description = "`insufficient_scope`, or `user_more_privileged`: the user holds a role reaching other tenants that the caller lacks", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["user:write"]))
)]
#[post("/users/{id}/password-reset")]
pub async fn issue_password_reset(
    state: web::Data<Identity>,
    auth: Auth<UserWrite>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let user = users::find(&txn, tenant, UserId(*id))
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let roles = users::roles(&txn, tenant, UserId(user.id)).await?;
    if !may_act_on(&auth.principal, &roles) {
        return Err(refuse_stronger_target(txn, &auth, &user, &roles, "user.password_reset").await);
    }
    if user.status == UserStatus::Deactivated.as_str() {
        return Err(ApiError::conflict(
            "user_deactivated",
            "the user is deactivated",
        ));
    }
    let (token, expires_at) = tokens::issue_one_time(
        &txn,
        tenant,
        UserId(user.id),
        Purpose::PasswordReset,
        RESET_TTL,
    )
    .await?;
    audit::append(
        &txn,
        tenant,
        audit::Entry {
            actor_id: Some(auth.principal.subject),
            action: "user.password_reset_issued",
            target_type: "user",
            target_id: Some(user.id),
            data: json!({}),
        },
    )
    .await?;
    txn.commit().await?;
    // A one-time secret: never cached, and never kept by the edge's idempotency store.
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(OneTimeTokenOut { token, expires_at }))
}
