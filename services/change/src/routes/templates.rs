//! `/api/v1/change-templates`: pre-approved, repeatable changes, versioned by slug. A failed
//! change made from one suspends it until a change manager reactivates it.
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError, FieldError,
    auth::{
        Auth,
        scopes::{ChangeManage, ChangeRead},
    },
    error::Problem,
    json::Json,
    pagination::{Page, PageQuery},
    tenancy::{TenantId, begin_scoped},
    validate::{Slug, Validator},
};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::{change_in::ChangeIn, checks::check_references};
use crate::{
    ChangeService,
    domain::{
        change::{self, Plans},
        lifecycle::ChangeType,
        template::TemplateState,
    },
    store::{
        changes::{Change, Edit},
        templates::{self, NewTemplate, Template},
    },
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(publish)
        .service(list)
        .service(get)
        .service(transition);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a50",
    "slug": "restart-web",
    "template_version": 1,
    "state": "active",
    "type": "standard",
    "title": "Restart web-01",
    "description": "",
    "affected_ci_ids": ["01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a11"],
    "implementation_plan": "systemctl restart nginx",
    "backout_plan": "Fail over to web-02.",
    "test_plan": "GET /health returns 200.",
    "suspended_reason": null,
    "created_at": "2026-12-07T09:00:00Z",
    "updated_at": "2026-12-07T09:00:00Z"
}))]
pub struct TemplateOut {
    pub id: Uuid,
    pub slug: String,
    /// 1, 2, …: publishing the slug again makes the next and retires this one.
    pub template_version: i32,
    pub state: TemplateState,
    #[serde(rename = "type")]
    pub change_type: ChangeType,
    pub title: String,
    pub description: String,
    pub affected_ci_ids: Vec<Uuid>,
    pub implementation_plan: String,
    pub backout_plan: String,
    pub test_plan: String,
    /// Why it was suspended (a failed change, or a change manager's reason).
    pub suspended_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

platform::page_schema!(TemplatePage, TemplateOut);

fn out(t: &Template) -> TemplateOut {
    TemplateOut {
        id: t.id,
        slug: t.slug.clone(),
        template_version: t.template_version,
        state: t.state(),
        change_type: t.kind(),
        title: t.title.clone(),
        description: t.description.clone(),
        affected_ci_ids: t.ci_ids(),
        implementation_plan: t.implementation_plan.clone(),
        backout_plan: t.backout_plan.clone(),
        test_plan: t.test_plan.clone(),
        suspended_reason: t.suspended_reason.clone(),
        created_at: t.created_at,
        updated_at: t.updated_at,
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "slug": "restart-web",
    "title": "Restart web-01",
    "affected_ci_ids": ["01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a11"],
    "implementation_plan": "systemctl restart nginx",
    "backout_plan": "Fail over to web-02.",
    "test_plan": "GET /health returns 200."
}))]
pub struct TemplateIn {
    pub slug: String,
    /// Default `standard` (pre-approved).
    #[serde(rename = "type", default = "standard")]
    pub change_type: ChangeType,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub affected_ci_ids: Vec<Uuid>,
    pub implementation_plan: String,
    pub backout_plan: String,
    pub test_plan: String,
}

fn standard() -> ChangeType {
    ChangeType::Standard
}

impl TryFrom<TemplateIn> for NewTemplate {
    type Error = Vec<platform::FieldError>;

    fn try_from(input: TemplateIn) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let slug = v.check(Slug::parse("/slug", &input.slug));
        let title = change::title(&mut v, &input.title);
        let description = change::long_text(&mut v, "/description", &input.description);
        let ci_ids = change::ci_ids(&mut v, input.affected_ci_ids);
        let mut required = |pointer: &str, value: &str| {
            let parsed = change::long_text(&mut v, pointer, value);
            if parsed.as_deref().is_some_and(|p| p.trim().is_empty()) {
                v.push(platform::FieldError::new(
                    pointer,
                    "required",
                    "a template carries its plans",
                ));
                return None;
            }
            parsed
        };
        let implementation_plan = required("/implementation_plan", &input.implementation_plan);
        let backout_plan = required("/backout_plan", &input.backout_plan);
        let test_plan = required("/test_plan", &input.test_plan);
        if ci_ids.as_ref().is_some_and(Vec::is_empty) {
            v.push(platform::FieldError::new(
                "/affected_ci_ids",
                "required",
                "a template names at least one CI",
            ));
        }
        let parsed = (|| {
            Some(NewTemplate {
                slug: slug?.as_str().to_string(),
                change_type: input.change_type,
                title: title?,
                description: description?,
                ci_ids: ci_ids?,
                plans: Plans {
                    implementation_plan: implementation_plan?,
                    backout_plan: backout_plan?,
                    test_plan: test_plan?,
                },
            })
        })();
        v.finish_with(parsed)
    }
}

/// Publish a change template.
///
/// The first version of a new slug, or the next version of an existing one (which retires
/// the versions before it). A change made from it (`template_id` on create) pins the version
/// and copies its type, CIs and plans, read-only.
#[utoipa::path(
    tag = "change-templates",
    operation_id = "publishChangeTemplate",
    request_body = TemplateIn,
    responses(
        (status = 201, description = "Published", body = TemplateOut),
        (status = 422, description = "A field is invalid or names a CI the tenant does not have", body = Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["change:manage"]))
)]
#[post("")]
pub async fn publish(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeManage>,
    body: Json<TemplateIn>,
) -> Result<HttpResponse, ApiError> {
    let new = NewTemplate::try_from(body.0)?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    check_references(&txn, tenant, &new.ci_ids, None).await?;
    let t = templates::publish(&txn, tenant, new).await?;
    txn.commit().await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/change-templates/{}", t.id)))
        .json(out(&t)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only the versions of this slug.
    pub slug: Option<String>,
}

/// The tenant's change templates.
///
/// Every version, oldest first; `slug` narrows to one template's versions.
#[utoipa::path(
    tag = "change-templates",
    operation_id = "listChangeTemplates",
    params(ListQuery),
    responses((status = 200, description = "OK", body = TemplatePage)),
    security(("bearer" = ["change:read"]))
)]
#[get("")]
pub async fn list(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeRead>,
    query: web::Query<ListQuery>,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .validate()?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let rows = templates::list(
        &txn,
        tenant,
        query.slug.as_deref(),
        page.after,
        page.limit + 1,
    )
    .await?;
    txn.commit().await?;
    Ok(Page::from_rows(rows, page.limit, |t| t.id)
        .map(|t| out(&t))
        .respond(&req))
}

/// Read a change template version.
///
/// Its state says whether changes may be made from it.
#[utoipa::path(
    tag = "change-templates",
    operation_id = "getChangeTemplate",
    params(("id" = Uuid, Path, description = "The template version's id.")),
    responses((status = 200, description = "OK", body = TemplateOut)),
    security(("bearer" = ["change:read"]))
)]
#[get("/{id}")]
pub async fn get(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let t = templates::find(&txn, tenant, *id, false)
        .await?
        .ok_or_else(|| ApiError::not_found("change template"))?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(&t)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"to": "active"}))]
pub struct TemplateTransitionIn {
    pub to: TemplateState,
    /// Recorded when suspending.
    pub reason: Option<String>,
}

/// Suspend, reactivate or retire a template version.
///
/// `active → suspended | retired`, `suspended → active | retired`; retired is final (409
/// `transition_not_allowed` with `extra.allowed`). Reactivating a template a failed change
/// suspended is the change manager's call.
#[utoipa::path(
    tag = "change-templates",
    operation_id = "transitionChangeTemplate",
    params(("id" = Uuid, Path, description = "The template version's id.")),
    request_body = TemplateTransitionIn,
    responses(
        (status = 200, description = "OK", body = TemplateOut),
        (status = 409, description = "`transition_not_allowed`", body = Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["change:manage"]))
)]
#[post("/{id}/transitions")]
pub async fn transition(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeManage>,
    id: web::Path<Uuid>,
    body: Json<TemplateTransitionIn>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let t = templates::find(&txn, tenant, *id, true)
        .await?
        .ok_or_else(|| ApiError::not_found("change template"))?;
    let allowed = t.state().next();
    if !allowed.contains(&body.to) {
        return Err(ApiError::conflict(
            "transition_not_allowed",
            format!(
                "a {} template cannot become {}",
                t.state().as_str(),
                body.to.as_str()
            ),
        )
        .with_extra(serde_json::json!({ "allowed": allowed })));
    }
    let t = templates::set_state(&txn, t, body.to, body.reason).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(&t)))
}

/// Fills a change request from template `id` (409 unless it is active): its type, CIs and
/// plans are the template's (different ones given are 422 `from_template`), its title and
/// description too unless given. Returns the version pinned.
pub async fn apply(
    db: &DatabaseConnection,
    tenant: TenantId,
    id: Uuid,
    input: &mut ChangeIn,
) -> Result<(Uuid, i32), ApiError> {
    let txn = begin_scoped(db, &[tenant]).await?;
    let t = templates::find(&txn, tenant, id, false).await?;
    txn.commit().await?;
    let t = t.ok_or_else(|| {
        ApiError::validation(vec![FieldError::new(
            "/template_id",
            "unknown_reference",
            "no such change template in this tenant",
        )])
    })?;
    match t.state() {
        TemplateState::Active => {}
        TemplateState::Suspended => {
            return Err(ApiError::conflict(
                "template_suspended",
                format!(
                    "{} v{} is suspended: {}",
                    t.slug,
                    t.template_version,
                    t.suspended_reason
                        .as_deref()
                        .unwrap_or("a change manager suspended it")
                ),
            ));
        }
        TemplateState::Retired => {
            return Err(ApiError::conflict(
                "template_retired",
                format!(
                    "{} v{} is retired; use its latest version",
                    t.slug, t.template_version
                ),
            ));
        }
    }
    let mut errors = Vec::new();
    let mut take = |pointer: &str, given: &mut String, own: &str| {
        if given.is_empty() {
            *given = own.to_string();
        } else if given != own {
            errors.push(from_template(pointer));
        }
    };
    let plans = t.plans();
    take(
        "/implementation_plan",
        &mut input.implementation_plan,
        &plans.implementation_plan,
    );
    take(
        "/backout_plan",
        &mut input.backout_plan,
        &plans.backout_plan,
    );
    take("/test_plan", &mut input.test_plan, &plans.test_plan);
    if input.title.is_empty() {
        input.title = t.title.clone();
    }
    if input.description.is_empty() {
        input.description = t.description.clone();
    }
    if input.change_type != t.kind() {
        errors.push(from_template("/type"));
    }
    let cis = t.ci_ids();
    if input.affected_ci_ids.is_empty() {
        input.affected_ci_ids = cis;
    } else if input.affected_ci_ids != cis {
        errors.push(from_template("/affected_ci_ids"));
    }
    if errors.is_empty() {
        Ok((t.id, t.template_version))
    } else {
        Err(ApiError::validation(errors))
    }
}

fn from_template(pointer: &str) -> FieldError {
    FieldError::new(
        pointer,
        "from_template",
        "the change's template sets this; it cannot differ",
    )
}

/// A change made from a template keeps the template's CIs and plans (422 `from_template`).
pub fn keeps_its_fields(
    c: &Change,
    edit: &Edit,
    new_cis: Option<&[Uuid]>,
    cis: &[Uuid],
) -> Result<(), ApiError> {
    if c.template_id.is_none() {
        return Ok(());
    }
    let mut errors = Vec::new();
    let plans = c.plans();
    for (pointer, given, own) in [
        (
            "/implementation_plan",
            &edit.implementation_plan,
            &plans.implementation_plan,
        ),
        ("/backout_plan", &edit.backout_plan, &plans.backout_plan),
        ("/test_plan", &edit.test_plan, &plans.test_plan),
    ] {
        if given.as_ref().is_some_and(|g| g != own) {
            errors.push(from_template(pointer));
        }
    }
    if new_cis.is_some_and(|n| n != cis) {
        errors.push(from_template("/affected_ci_ids"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors))
    }
}
