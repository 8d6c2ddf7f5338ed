//! `/api/v1/change-approval-policies`: which changes a CAB decides, and how. A provider's
//! policies apply to customers without a matching one of their own.
use actix_web::{HttpResponse, delete, get, post, put, web};
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
    validate::text,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    ChangeService,
    domain::{
        cab::{Stage, check_stages},
        lifecycle::ChangeType,
        risk::Risk,
    },
    store::cab::{self, NewPolicy, Policy},
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get)
        .service(replace)
        .service(remove);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a30",
    "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
    "name": "Normal changes",
    "change_types": ["normal"],
    "risks": [],
    "priority": 100,
    "stages": [{"name": "CAB", "group_id": "01a24233-c45f-769f-8803-48c30e8f1d40", "rule": "any", "required": 1}],
    "inherited_from": null,
    "version": 1,
    "created_at": "2026-12-07T09:00:00Z",
    "updated_at": "2026-12-07T09:00:00Z"
}))]
pub struct PolicyOut {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub change_types: Vec<ChangeType>,
    /// Empty: every risk.
    pub risks: Vec<Risk>,
    /// Lower first when several of a tenant's policies apply.
    pub priority: i32,
    pub stages: Vec<Stage>,
    /// The provider that defined it, when inherited.
    pub inherited_from: Option<Uuid>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

platform::page_schema!(PolicyPage, PolicyOut);

fn out(p: &Policy, tenant: TenantId) -> PolicyOut {
    PolicyOut {
        id: p.id,
        tenant_id: p.tenant_id,
        name: p.name.clone(),
        change_types: p.change_types(),
        risks: p.risks(),
        priority: p.priority,
        stages: p.stages(),
        inherited_from: (p.tenant_id != tenant.as_uuid()).then_some(p.tenant_id),
        version: p.version,
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Normal changes",
    "change_types": ["normal"],
    "stages": [{"name": "CAB", "group_id": "01a24233-c45f-769f-8803-48c30e8f1d40", "rule": "any"}]
}))]
pub struct PolicyIn {
    pub name: String,
    /// At least one.
    pub change_types: Vec<ChangeType>,
    /// Empty (the default): every risk.
    #[serde(default)]
    pub risks: Vec<Risk>,
    #[serde(default = "default_priority")]
    pub priority: i32,
    /// In order; each a group of the tenant or a provider, a rule, and `required` (for
    /// `n_of_m`, at most the group's members).
    pub stages: Vec<Stage>,
}

fn default_priority() -> i32 {
    100
}

/// `input` checked, the size of each stage's group read across the lineage.
async fn parse(
    state: &ChangeService,
    lineage: &[TenantId],
    input: PolicyIn,
) -> Result<NewPolicy, ApiError> {
    let mut errors = Vec::new();
    let name = text("/name", &input.name, 200)
        .map_err(|e| errors.push(e))
        .ok();
    if input.change_types.is_empty() {
        errors.push(FieldError::new(
            "/change_types",
            "required",
            "name at least one change type",
        ));
    }
    let txn = begin_scoped(&state.db, lineage).await?;
    let mut sizes = Vec::with_capacity(input.stages.len());
    for s in &input.stages {
        sizes.push(
            bus::people::group_members_within(&txn, lineage, s.group_id)
                .await?
                .map(|m| m.len()),
        );
    }
    txn.commit().await?;
    errors.extend(check_stages(&input.stages, &sizes));
    match name {
        Some(name) if errors.is_empty() => Ok(NewPolicy {
            name,
            change_types: input.change_types,
            risks: input.risks,
            priority: input.priority,
            stages: input.stages,
        }),
        _ => Err(ApiError::validation(errors)),
    }
}

/// Define an approval policy.
///
/// It sends changes of its `change_types` (and `risks`, if any) entering `authorize` to its
/// stages' votes. A stage names a group, a `rule` (`any`, `all`, `n_of_m`) and `required`
/// (422 `exceeds_approvers` when above the group's members).
#[utoipa::path(
    tag = "change-approval-policies",
    operation_id = "createChangeApprovalPolicy",
    request_body = PolicyIn,
    responses(
        (status = 201, description = "Created", body = PolicyOut),
        (status = 422, description = "A field is invalid or a stage cannot reach its quorum", body = Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["change:manage"]))
)]
#[post("")]
pub async fn create(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeManage>,
    body: Json<PolicyIn>,
) -> Result<HttpResponse, ApiError> {
    let new = parse(&state, auth.tenant.lineage(), body.0).await?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let p = cab::insert_policy(&txn, tenant, new).await?;
    txn.commit().await?;
    Ok(HttpResponse::Created()
        .insert_header((
            "Location",
            format!("/api/v1/change-approval-policies/{}", p.id),
        ))
        .json(out(&p, tenant)))
}

/// Approval policies that apply to the acting tenant.
///
/// Its own and its providers' (`inherited_from`), oldest first.
#[utoipa::path(
    tag = "change-approval-policies",
    operation_id = "listChangeApprovalPolicies",
    params(PageQuery),
    responses((status = 200, description = "OK", body = PolicyPage)),
    security(("bearer" = ["change:read"]))
)]
#[get("")]
pub async fn list(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeRead>,
    query: web::Query<PageQuery>,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = query.validate()?;
    let tenant = auth.tenant_id();
    let lineage = auth.tenant.lineage();
    let txn = begin_scoped(&state.db, lineage).await?;
    let rows = cab::policies(&txn, lineage, page.after, page.limit + 1).await?;
    txn.commit().await?;
    Ok(Page::from_rows(rows, page.limit, |p| p.id)
        .map(|p| out(&p, tenant))
        .respond(&req))
}

async fn find(state: &ChangeService, lineage: &[TenantId], id: Uuid) -> Result<Policy, ApiError> {
    let txn = begin_scoped(&state.db, lineage).await?;
    let p = cab::find_policy(&txn, lineage, id).await?;
    txn.commit().await?;
    p.ok_or_else(|| ApiError::not_found("approval policy"))
}

fn own(p: &Policy, tenant: TenantId) -> Result<(), ApiError> {
    if p.tenant_id == tenant.as_uuid() {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "inherited_policy",
            "this policy is a provider's; only the provider changes it",
        ))
    }
}

/// Read an approval policy.
///
/// The acting tenant's own or one it inherits.
#[utoipa::path(
    tag = "change-approval-policies",
    operation_id = "getChangeApprovalPolicy",
    params(("id" = Uuid, Path, description = "The policy's id.")),
    responses((status = 200, description = "OK", body = PolicyOut)),
    security(("bearer" = ["change:read"]))
)]
#[get("/{id}")]
pub async fn get(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let p = find(&state, auth.tenant.lineage(), *id).await?;
    Ok(HttpResponse::Ok().json(out(&p, auth.tenant_id())))
}

/// Replace an approval policy.
///
/// Rounds already under way keep the stages they began with; the next round uses these.
/// A provider's policy is 403 `inherited_policy` to its customers.
#[utoipa::path(
    tag = "change-approval-policies",
    operation_id = "replaceChangeApprovalPolicy",
    params(("id" = Uuid, Path, description = "The policy's id.")),
    request_body = PolicyIn,
    responses(
        (status = 200, description = "OK", body = PolicyOut),
        (status = 403, description = "`inherited_policy`", body = Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["change:manage"]))
)]
#[put("/{id}")]
pub async fn replace(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeManage>,
    id: web::Path<Uuid>,
    body: Json<PolicyIn>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    own(&find(&state, auth.tenant.lineage(), *id).await?, tenant)?;
    let new = parse(&state, auth.tenant.lineage(), body.0).await?;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let p = cab::find_policy(&txn, &[tenant], *id)
        .await?
        .ok_or_else(|| ApiError::not_found("approval policy"))?;
    let p = cab::replace_policy(&txn, p, new).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(&p, tenant)))
}

/// Remove an approval policy.
///
/// Rounds under way finish under the stages they began with.
#[utoipa::path(
    tag = "change-approval-policies",
    operation_id = "deleteChangeApprovalPolicy",
    params(("id" = Uuid, Path, description = "The policy's id.")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "`inherited_policy`", body = Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["change:manage"]))
)]
#[delete("/{id}")]
pub async fn remove(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeManage>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let p = find(&state, auth.tenant.lineage(), *id).await?;
    own(&p, tenant)?;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    cab::delete_policy(&txn, p).await?;
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
