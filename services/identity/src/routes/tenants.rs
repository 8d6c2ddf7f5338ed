//! Tenants: onboarding customers (MSP admins), reading the subtree, suspension, and settings
//! inherited down the tree.
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use platform::auth::UserId;
use platform::tenancy::TenantId;
use platform::{
    ApiError, FieldError,
    auth::{
        Auth, Role,
        scopes::{TenantOnboard, TenantRead, TenantWrite},
    },
    error::Problem,
    json::Json,
    pagination::{Page, PageQuery},
    tenancy::{TenantKind, begin_scoped},
    validate::{Email, Slug, Validator, text},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    ListQuery,
    taken::{self, Taken},
    user_view::OneTimeTokenOut,
};
use crate::{
    Identity,
    domain::{
        self,
        tenant::{Onboarding, TenantStatus, child_kind},
        token::INVITATION_TTL,
    },
    store::{
        audit, is_unique_violation, settings as stored_settings,
        tenants::{self, NewTenant, Tenant},
        tokens::{self, Purpose},
        users,
    },
};

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24233-c456-7186-af34-ba4716863c54",
    "parent_id": "01a24233-c449-7602-b3c1-6aaac7ec6fb0",
    "kind": "customer",
    "name": "Globex Corporation",
    "slug": "globex",
    "status": "active",
    "created_at": "2026-12-04T17:56:58.582873Z",
    "updated_at": "2026-12-04T17:56:58.582873Z"
}))]
pub struct TenantOut {
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    pub kind: TenantKind,
    pub name: String,
    pub slug: String,
    /// `active` or `suspended`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

platform::page_schema!(TenantPage, TenantOut);

fn out(t: &Tenant) -> TenantOut {
    TenantOut {
        id: t.id,
        parent_id: t.parent_id,
        kind: t.kind(),
        name: t.name.clone(),
        slug: t.slug.clone(),
        status: t.status.clone(),
        created_at: t.created_at,
        updated_at: t.updated_at,
    }
}

/// Loads a tenant the caller may see: its acting tenant, or (MSP roles) one below it.
async fn reachable<S: platform::auth::RequiredScope>(
    state: &Identity,
    auth: &Auth<S>,
    id: Uuid,
) -> Result<Tenant, ApiError> {
    let home = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[home]).await?;
    let t = tenants::find_within(&txn, home, TenantId(id)).await?;
    txn.commit().await?;
    t.filter(|t| auth.reaches(&crate::store::directory::info(t)))
        .ok_or_else(|| ApiError::not_found("tenant"))
}

/// Tenants within reach, a page at a time.
///
/// The acting tenant and, for MSP roles and the platform operator, every tenant below it.
#[utoipa::path(
    tag = "tenants",
    operation_id = "listTenants",
    params(PageQuery),
    responses((status = 200, description = "OK", body = TenantPage)),
    security(("bearer" = ["tenant:read"]))
)]
#[get("/tenants")]
pub async fn list(
    state: web::Data<Identity>,
    auth: Auth<TenantRead>,
    query: web::Query<ListQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let home = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[home]).await?;
    let root = tenants::find_within(&txn, home, home)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    let rows = if auth.principal.reaches_descendants() {
        tenants::subtree(&txn, &root, page.after, Some(page.limit + 1)).await?
    } else {
        vec![root]
            .into_iter()
            .filter(|t| page.after.is_none_or(|a| t.id > a))
            .collect()
    };
    txn.commit().await?;
    Ok(Page::from_rows(rows.iter().map(out).collect(), page.limit, |t| t.id).respond(&req))
}

/// Read a tenant within reach.
///
/// A tenant outside your reach is indistinguishable from one that does not exist (404).
#[utoipa::path(
    tag = "tenants",
    operation_id = "getTenant",
    params(("id" = Uuid, Path, description = "The tenant's id.")),
    responses((status = 200, description = "OK", body = TenantOut)),
    security(("bearer" = ["tenant:read"]))
)]
#[get("/tenants/{id}")]
pub async fn get(
    state: web::Data<Identity>,
    auth: Auth<TenantRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(out(&reachable(&state, &auth, *id).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Hooli",
    "slug": "hooli",
    "admin_email": "admin@hooli.example",
    "admin_display_name": "Gavin Belson"
}))]
pub struct OnboardIn {
    #[schema(example = "Globex Corporation")]
    pub name: String,
    #[schema(example = "globex")]
    pub slug: String,
    /// The customer's first administrator, who receives the invitation.
    #[schema(example = "it-lead@globex.example")]
    pub admin_email: String,
    pub admin_display_name: Option<String>,
}

impl TryFrom<OnboardIn> for Onboarding {
    type Error = Vec<FieldError>;

    fn try_from(body: OnboardIn) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let name = v.check(text("/name", &body.name, 200));
        let slug = v.check(Slug::parse("/slug", &body.slug));
        let admin_email = v.check(Email::parse("/admin_email", &body.admin_email));
        let admin_display_name = match &body.admin_display_name {
            Some(n) => v.check(text("/admin_display_name", n, 200)),
            None => admin_email.as_ref().map(|e| e.as_str().to_string()),
        };
        let parsed = match (name, slug, admin_email, admin_display_name) {
            (Some(name), Some(slug), Some(admin_email), Some(admin_display_name)) => {
                Some(Onboarding {
                    name,
                    slug,
                    admin_email,
                    admin_display_name,
                })
            }
            _ => None,
        };
        v.finish_with(parsed)
    }
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "tenant": {
        "id": "01a24233-ca3a-73c8-8f1a-fda869563459",
        "parent_id": "01a24233-c449-7602-b3c1-6aaac7ec6fb0",
        "kind": "customer",
        "name": "Hooli",
        "slug": "hooli",
        "status": "active",
        "created_at": "2026-12-04T17:57:00.090891Z",
        "updated_at": "2026-12-04T17:57:00.090891Z"
    },
    "admin_user_id": "01a24233-ca3b-70ae-a743-746356a67be4",
    "invitation": {
        "token": "inv_BvcU5IXg4rmS4SjGHwTtKgt3l45XCqx7hDDqM7iSdqE",
        "expires_at": "2026-12-11T17:57:00.092119Z"
    }
}))]
pub struct OnboardedOut {
    pub tenant: TenantOut,
    pub admin_user_id: Uuid,
    /// The first admin's invitation, shown once.
    pub invitation: OneTimeTokenOut,
}

/// Onboard a tenant below the acting one (an MSP onboards a customer; the platform an MSP).
/// The new tenant inherits its parent's settings; its first admin gets an invitation.
///
/// Slugs and emails are unique across the platform, so a 409 may concern another MSP's
/// tenant: each is recorded in the caller's audit chain, and after 10 in 10 minutes the
/// caller's onboardings get 429 `too_many_conflicts` for a while (see the API guide).
#[utoipa::path(
    tag = "tenants",
    operation_id = "onboardTenant",
    request_body = OnboardIn,
    responses(
        (status = 201, description = "Created", body = OnboardedOut),
        (status = 409, description = "`slug_taken` or `email_taken` (`extra.pointer`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many taken emails or slugs lately (`too_many_conflicts`, `Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["tenant:onboard"]))
)]
#[post("/tenants")]
pub async fn onboard(
    state: web::Data<Identity>,
    auth: Auth<TenantOnboard>,
    body: Json<OnboardIn>,
) -> Result<HttpResponse, ApiError> {
    if !auth.principal.reaches_descendants() {
        return Err(ApiError::forbidden(
            "not_a_provider",
            "only MSP and platform roles onboard tenants",
        ));
    }
    let Onboarding {
        name,
        slug,
        admin_email: email,
        admin_display_name: admin_name,
    } = Onboarding::try_from(body.0)?;
    let parent_id = auth.tenant_id();
    let id = Uuid::now_v7();
    taken::check_budget(&state, &auth.principal)?;
    let txn = begin_scoped(&state.db, &[parent_id, TenantId(id)]).await?;
    let parent = tenants::find_within(&txn, parent_id, parent_id)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    let slug_taken = Taken {
        attempted: "tenant.onboard",
        code: "slug_taken",
        pointer: "/slug",
        value: slug.as_str(),
        detail: "slug is already taken",
    };
    let email_taken = Taken {
        attempted: "tenant.onboard",
        code: "email_taken",
        pointer: "/admin_email",
        value: email.as_str(),
        detail: "admin_email is already taken",
    };
    if tenants::find_by_slug(&txn, slug.as_str()).await?.is_some() {
        txn.rollback().await?;
        return Err(taken::answer(&state, &auth.principal, slug_taken).await);
    }
    let tenant = match tenants::insert(
        &txn,
        NewTenant {
            id,
            parent: &parent,
            name,
            slug: slug.as_str().to_string(),
            kind: child_kind(parent.kind()),
        },
    )
    .await
    {
        Ok(t) => t,
        Err(e) if is_unique_violation(&e) => {
            txn.rollback().await?;
            return Err(taken::answer(&state, &auth.principal, slug_taken).await);
        }
        Err(e) => return Err(e.into()),
    };
    let admin = match users::insert_invited(&txn, TenantId(id), email.as_str(), &admin_name).await {
        Ok(u) => u,
        Err(e) if is_unique_violation(&e) => {
            txn.rollback().await?;
            return Err(taken::answer(&state, &auth.principal, email_taken).await);
        }
        Err(e) => return Err(e.into()),
    };
    let admin_role = if tenant.kind() == TenantKind::Msp {
        Role::MspAdmin
    } else {
        Role::TenantAdmin
    };
    users::set_roles(&txn, TenantId(id), UserId(admin.id), &[admin_role]).await?;
    let (token, expires_at) = tokens::issue_one_time(
        &txn,
        TenantId(id),
        UserId(admin.id),
        Purpose::Invitation,
        INVITATION_TTL,
    )
    .await?;
    crate::events::tenant_created(&txn, &tenant).await?;
    crate::events::user_created(&txn, &admin, &[admin_role]).await?;
    let actor = Some(auth.principal.subject);
    audit::append(
        &txn,
        parent_id,
        audit::Entry {
            actor_id: actor,
            action: "tenant.onboarded",
            target_type: "tenant",
            target_id: Some(id),
            data: json!({"slug": tenant.slug, "name": tenant.name, "admin_email": admin.email}),
        },
    )
    .await?;
    audit::append(&txn, TenantId(id), audit::Entry {
        actor_id: actor,
        action: "tenant.created",
        target_type: "tenant",
        target_id: Some(id),
        data: json!({"parent_id": parent_id, "admin_user_id": admin.id, "admin_role": admin_role}),
    })
    .await?;
    txn.commit().await?;
    state.directory.invalidate();
    // Carries a one-time secret: never cached, never kept by the edge's idempotency store.
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Location", format!("/api/v1/tenants/{id}")))
        .json(OnboardedOut {
            tenant: out(&tenant),
            admin_user_id: admin.id,
            invitation: OneTimeTokenOut { token, expires_at },
        }))
}

async fn set_status(
    state: &Identity,
    auth: &Auth<TenantWrite>,
    id: Uuid,
    status: TenantStatus,
) -> Result<HttpResponse, ApiError> {
    let target = reachable(state, auth, id).await?;
    if TenantId(target.id) == auth.tenant_id() {
        return Err(ApiError::conflict(
            "cannot_change_own_tenant",
            "a tenant is suspended or reactivated by its provider, not by itself",
        ));
    }
    let txn = begin_scoped(&state.db, &[auth.tenant_id(), TenantId(target.id)]).await?;
    let before = target.status.clone();
    let updated = tenants::set_status(&txn, target, status).await?;
    crate::events::tenant_status_changed(&txn, &updated).await?;
    let action = match status {
        TenantStatus::Active => "tenant.reactivated",
        TenantStatus::Suspended => "tenant.suspended",
    };
    for tenant in [auth.tenant_id(), TenantId(updated.id)] {
        audit::append(
            &txn,
            tenant,
            audit::Entry {
                actor_id: Some(auth.principal.subject),
                action,
                target_type: "tenant",
                target_id: Some(updated.id),
                data: json!({"before": before, "after": updated.status}),
            },
        )
        .await?;
    }
    txn.commit().await?;
    state.directory.invalidate();
    Ok(HttpResponse::Ok().json(out(&updated)))
}

/// Suspend a tenant below the acting one.
///
/// Its users, and those of every tenant below it, can no longer log in or call the API; its data
/// stays. The acting tenant cannot suspend itself (409 `cannot_change_own_tenant`).
#[utoipa::path(
    tag = "tenants",
    operation_id = "suspendTenant",
    params(("id" = Uuid, Path, description = "The tenant's id.")),
    responses((status = 200, description = "OK", body = TenantOut)),
    security(("bearer" = ["tenant:write"]))
)]
#[post("/tenants/{id}/suspend")]
pub async fn suspend(
    state: web::Data<Identity>,
    auth: Auth<TenantWrite>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    set_status(&state, &auth, *id, TenantStatus::Suspended).await
}

/// Reactivate a suspended tenant.
///
/// Its users can log in and call the API again (tenants below a still-suspended provider stay
/// locked out).
#[utoipa::path(
    tag = "tenants",
    operation_id = "reactivateTenant",
    params(("id" = Uuid, Path, description = "The tenant's id.")),
    responses((status = 200, description = "OK", body = TenantOut)),
    security(("bearer" = ["tenant:write"]))
)]
#[post("/tenants/{id}/reactivate")]
pub async fn reactivate(
    state: web::Data<Identity>,
    auth: Auth<TenantWrite>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    set_status(&state, &auth, *id, TenantStatus::Active).await
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
    "items": [
        {
            "key": "time_zone",
            "value": "UTC",
            "source_tenant_id": null,
            "inherited": true,
            "description": "IANA time zone for business hours and reports",
            "provider_owned": false,
            "may": "any",
            "bound": null
        }
    ]
}))]
pub struct SettingsOut {
    pub tenant_id: Uuid,
    pub items: Vec<domain::settings::EffectiveSetting>,
}

/// Effective settings: reads the overrides of the tenant and its ancestors (inherited values
/// are meant to be visible to those who inherit them).
async fn effective_settings(state: &Identity, tenant: &Tenant) -> Result<SettingsOut, ApiError> {
    let path = tenant.path_ids();
    let txn = begin_scoped(&state.db, &TenantId::many(&path)).await?;
    let overrides = stored_settings::overrides(&txn, &TenantId::many(&path)).await?;
    txn.commit().await?;
    Ok(SettingsOut {
        tenant_id: tenant.id,
        items: domain::settings::effective(
            &path,
            &overrides,
            &domain::settings::Deployment::of(&state.settings),
        ),
    })
}

/// A tenant's effective settings.
///
/// Each setting with its value, the tenant it is inherited from (`null`: the platform default), and
/// which way the tenant may change it (`provider_owned`, `may`, `bound`).
#[utoipa::path(
    tag = "tenants",
    operation_id = "getTenantSettings",
    params(("id" = Uuid, Path, description = "The tenant's id.")),
    responses((status = 200, description = "OK", body = SettingsOut)),
    security(("bearer" = ["tenant:read"]))
)]
#[get("/tenants/{id}/settings")]
pub async fn get_settings(
    state: web::Data<Identity>,
    auth: Auth<TenantRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = reachable(&state, &auth, *id).await?;
    Ok(HttpResponse::Ok().json(effective_settings(&state, &tenant).await?))
}

platform::named_schema!(
    /// The body of `PATCH /tenants/{id}/settings` (documentation only: it is read as a JSON
    /// object and checked against the settings catalogue).
    SettingsPatch,
    platform::schema::free_form(
        format!(
            "Settings to change, `{{key: value | null}}`; `null` returns a key to what the \
             tenant inherits. Keys: {}.",
            domain::settings::CATALOGUE
                .iter()
                .map(|d| format!("`{}` ({})", d.key, d.description))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        json!({"time_zone": "Europe/Berlin", "locale": null}),
    )
);

/// Override settings for a tenant (`null` removes an override, restoring the inherited value).
///
/// Keys the tenant's providers own (`provider_owned` in the answer) may only be tightened: a
/// value on the loose side of the key's `bound` is refused with 422 naming the key
/// (`above_provider_limit`, `below_provider_minimum`), whoever sends it.
#[utoipa::path(
    tag = "tenants",
    operation_id = "updateTenantSettings",
    params(("id" = Uuid, Path, description = "The tenant's id.")),
    request_body(content = SettingsPatch, description = "The keys to change; `null` returns a key to what the tenant inherits"),
    responses(
        (status = 200, description = "OK", body = SettingsOut),
        (status = 422, description = "Unknown key, invalid value, or a provider-owned key loosened past its bound", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["tenant:write"]))
)]
#[patch("/tenants/{id}/settings")]
pub async fn update_settings(
    state: web::Data<Identity>,
    auth: Auth<TenantWrite>,
    id: web::Path<Uuid>,
    body: Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let patch = body
        .as_object()
        .ok_or_else(|| ApiError::field("", "invalid_type", "expected an object of settings"))?;
    let tenant = reachable(&state, &auth, *id).await?;
    let current = effective_settings(&state, &tenant).await?;
    domain::settings::validate_patch(patch, &current.items).map_err(ApiError::validation)?;
    let txn = begin_scoped(&state.db, &[TenantId(tenant.id)]).await?;
    for (key, value) in patch {
        stored_settings::put(
            &txn,
            TenantId(tenant.id),
            key,
            (!value.is_null()).then(|| value.clone()),
        )
        .await?;
    }
    // The change is a new version of the tenant aggregate.
    let touched = tenants::touch(&txn, tenant.clone()).await?;
    crate::events::tenant_settings_changed(&txn, &touched, patch.clone()).await?;
    audit::append(
        &txn,
        TenantId(tenant.id),
        audit::Entry {
            actor_id: Some(auth.principal.subject),
            action: "tenant.settings_changed",
            target_type: "tenant",
            target_id: Some(tenant.id),
            data: serde_json::Value::Object(patch.clone()),
        },
    )
    .await?;
    txn.commit().await?;
    // Settings reach the directory (the inherited rate limit).
    state.directory.invalidate();
    Ok(HttpResponse::Ok().json(effective_settings(&state, &tenant).await?))
}
