//! `/api/v1/services`: the portfolio. A service has an owner, a manager and a support group
//! from identity's people, and moves through its lifecycle one stage at a time, each move
//! forward through the gates of its target stage and recorded with its rationale.
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError, FieldError,
    auth::{
        Auth,
        scopes::{CatalogueRead, PortfolioWrite},
    },
    error::Problem as ProblemJson,
    json::Json,
    pagination::{Page, PageQuery},
    precondition::check_if_match,
    tenancy::{TenantId, begin_scoped},
    validate::{Validator, text},
};
use sea_orm::DatabaseTransaction;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    CatalogueService,
    domain::portfolio::{self, NewService, ServiceChanges, Stage, StageRefusal},
    events,
    store::services::{self as store, Service, StageChange},
};

use super::shared::{
    changed_name_and_description, check_people, name_and_description, name_taken, nullable,
    versioned,
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get)
        .service(update)
        .service(move_stage);
}

/// A move in a service's stage history.
#[derive(Serialize, ToSchema)]
pub struct StageChangeOut {
    pub from: Stage,
    pub to: Stage,
    pub rationale: String,
    /// Who moved it.
    pub actor_id: Uuid,
    pub at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24b5e-6f10-7a7e-9d3c-5b8f2e1c4d20",
    "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
    "name": "Payroll",
    "description": "Monthly payroll runs and payslips.",
    "owner_id": "01a24233-c4f0-7d1e-8f3a-2b6c9d0e1f21",
    "manager_id": "01a24233-c4f0-7d1e-8f3a-2b6c9d0e1f22",
    "support_group_id": "01a24233-c4f0-7d1e-8f3a-2b6c9d0e1f23",
    "stage": "design",
    "stage_history": [{
        "from": "strategy",
        "to": "design",
        "rationale": "Approved in the portfolio review.",
        "actor_id": "01a24233-c4f0-7d1e-8f3a-2b6c9d0e1f21",
        "at": "2026-12-05T10:00:00Z"
    }],
    "version": 2,
    "created_at": "2026-12-05T09:00:00Z",
    "updated_at": "2026-12-05T10:00:00Z"
}))]
pub struct ServiceOut {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub description: String,
    /// Accountable for the service (a user of the tenant).
    pub owner_id: Option<Uuid>,
    /// Runs the service day to day (a user of the tenant).
    pub manager_id: Option<Uuid>,
    /// The group that works its incidents and requests.
    pub support_group_id: Option<Uuid>,
    pub stage: Stage,
    /// Every stage move, oldest first.
    pub stage_history: Vec<StageChangeOut>,
    /// Send it back as `If-Match: "<version>"` to change the service.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

platform::page_schema!(ServicePage, ServiceOut);

fn out(s: Service, history: Vec<StageChange>) -> ServiceOut {
    ServiceOut {
        id: s.id,
        tenant_id: s.tenant_id,
        name: s.name,
        description: s.description,
        owner_id: s.owner_id,
        manager_id: s.manager_id,
        support_group_id: s.support_group_id,
        stage: s.stage,
        stage_history: history
            .into_iter()
            .map(|c| StageChangeOut {
                from: c.from_stage,
                to: c.to_stage,
                rationale: c.rationale,
                actor_id: c.actor_id,
                at: c.at,
            })
            .collect(),
        version: s.version,
        created_at: s.created_at,
        updated_at: s.updated_at,
    }
}

/// The service with its history and its `ETag`.
async fn respond(
    txn: DatabaseTransaction,
    tenant: TenantId,
    s: Service,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, ApiError> {
    let mut history = store::history(&txn, tenant, &[s.id]).await?;
    txn.commit().await?;
    let history = history.remove(&s.id).unwrap_or_default();
    Ok(versioned(status, s.version, "/api/v1/services", s.id).json(out(s, history)))
}

async fn load(txn: &DatabaseTransaction, tenant: TenantId, id: Uuid) -> Result<Service, ApiError> {
    store::find(txn, tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("service"))
}

/// A name another service of the tenant has is refused (409 `name_taken`).
async fn check_name(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    name: &str,
    except: Option<Uuid>,
) -> Result<(), ApiError> {
    if store::name_taken(txn, tenant, name, except).await? {
        return Err(name_taken("another service of this tenant has that name"));
    }
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Payroll",
    "description": "Monthly payroll runs and payslips.",
    "owner_id": "01a24233-c4f0-7d1e-8f3a-2b6c9d0e1f21"
}))]
pub struct ServiceIn {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub owner_id: Option<Uuid>,
    pub manager_id: Option<Uuid>,
    pub support_group_id: Option<Uuid>,
}

impl TryFrom<ServiceIn> for NewService {
    type Error = Vec<FieldError>;

    fn try_from(input: ServiceIn) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let parsed = name_and_description(&mut v, &input.name, &input.description).map(
            |(name, description)| NewService {
                name,
                description,
                owner_id: input.owner_id,
                manager_id: input.manager_id,
                support_group_id: input.support_group_id,
            },
        );
        v.finish_with(parsed)
    }
}

/// Add a service to the portfolio.
///
/// It starts in `strategy`. The owner, manager and support group must be users and a group of
/// the acting tenant (422 `unknown_reference` otherwise); names are unique per tenant (409
/// `name_taken`).
#[utoipa::path(
    tag = "services",
    operation_id = "createService",
    request_body = ServiceIn,
    responses((status = 201, description = "Created", body = ServiceOut), (status = 409, description = "`name_taken`", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["portfolio:write"]))
)]
#[post("")]
pub async fn create(
    state: web::Data<CatalogueService>,
    auth: Auth<PortfolioWrite>,
    body: Json<ServiceIn>,
) -> Result<HttpResponse, ApiError> {
    let new = NewService::try_from(body.0)?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let errors = check_people(
        &txn,
        tenant,
        new.owner_id,
        new.manager_id,
        new.support_group_id,
    )
    .await?;
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    check_name(&txn, tenant, &new.name, None).await?;
    let s = store::insert(&txn, tenant, new).await?;
    events::service_created(&txn, &s).await?;
    respond(txn, tenant, s, actix_web::http::StatusCode::CREATED).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only services at this stage.
    #[param(value_type = Option<Stage>, inline)]
    pub stage: Option<String>,
}

/// The acting tenant's portfolio, a page at a time.
///
/// Oldest first; `stage` filters by lifecycle stage.
#[utoipa::path(
    tag = "services",
    operation_id = "listServices",
    params(ListQuery),
    responses((status = 200, description = "OK", body = ServicePage)),
    security(("bearer" = ["catalogue:read"]))
)]
#[get("")]
pub async fn list(
    state: web::Data<CatalogueService>,
    auth: Auth<CatalogueRead>,
    query: web::Query<ListQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let stage = match query.stage.as_deref() {
        None => None,
        Some(raw) => Some(Stage::parse(raw).ok_or_else(|| {
            ApiError::bad_query(
                "stage",
                "out_of_enum",
                "stage is one of strategy, design, transition, live, retired",
            )
        })?),
    };
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .validate()?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let rows = store::list(&txn, tenant, stage, page.after, page.limit + 1).await?;
    let ids: Vec<Uuid> = rows.iter().map(|s| s.id).collect();
    let mut history = store::history(&txn, tenant, &ids).await?;
    txn.commit().await?;
    Ok(Page::from_rows(rows, page.limit, |s| s.id)
        .map(|s| {
            let h = history.remove(&s.id).unwrap_or_default();
            out(s, h)
        })
        .respond(&req))
}

/// Read a service with its stage history.
///
/// Its people, its stage, every stage move with its rationale, and its version (also the
/// `ETag`, to send back as `If-Match`).
#[utoipa::path(
    tag = "services",
    operation_id = "getService",
    params(("id" = Uuid, Path, description = "The service's id.")),
    responses((status = 200, description = "OK", body = ServiceOut)),
    security(("bearer" = ["catalogue:read"]))
)]
#[get("/{id}")]
pub async fn get(
    state: web::Data<CatalogueService>,
    auth: Auth<CatalogueRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let s = load(&txn, tenant, *id).await?;
    respond(txn, tenant, s, actix_web::http::StatusCode::OK).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"manager_id": "01a24233-c4f0-7d1e-8f3a-2b6c9d0e1f22"}))]
pub struct ServicePatch {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `null` clears it (refused while the stage needs it).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub owner_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub manager_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub support_group_id: Option<Option<Uuid>>,
}

impl TryFrom<ServicePatch> for ServiceChanges {
    type Error = Vec<FieldError>;

    fn try_from(input: ServicePatch) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let parsed = changed_name_and_description(&mut v, input.name, input.description).map(
            |(name, description)| ServiceChanges {
                name,
                description,
                owner_id: input.owner_id,
                manager_id: input.manager_id,
                support_group_id: input.support_group_id,
            },
        );
        v.finish_with(parsed)
    }
}

/// Update a service's details.
///
/// Only the fields sent change; `null` clears a reference, unless the service's stage needs it
/// (409 `stage_blocked` with `blockers`). Send `If-Match` with the `ETag` you read: 412
/// `precondition_failed` when the service changed since.
#[utoipa::path(
    tag = "services",
    operation_id = "updateService",
    params(("id" = Uuid, Path, description = "The service's id.")),
    request_body = ServicePatch,
    responses((status = 200, description = "OK", body = ServiceOut), (status = 409, description = "`name_taken`, or `stage_blocked`: the stage needs what the change removes", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["portfolio:write"]))
)]
#[patch("/{id}")]
pub async fn update(
    state: web::Data<CatalogueService>,
    auth: Auth<PortfolioWrite>,
    id: web::Path<Uuid>,
    body: Json<ServicePatch>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let changes = ServiceChanges::try_from(body.0)?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let s = load(&txn, tenant, *id).await?;
    check_if_match(&req, s.version)?;
    let errors = check_people(
        &txn,
        tenant,
        changes.owner_id.flatten(),
        changes.manager_id.flatten(),
        changes.support_group_id.flatten(),
    )
    .await?;
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    if let Some(name) = &changes.name {
        check_name(&txn, tenant, name, Some(s.id)).await?;
    }
    let s = store::change(&txn, s, changes).await?;
    // The gates of the stage it is at still hold after the change.
    let blockers = portfolio::blockers(s.stage, &store::readiness(&txn, &s, &[tenant]).await?);
    let people = [
        "owner_required",
        "manager_required",
        "support_group_required",
    ];
    let removed: Vec<&str> = blockers
        .into_iter()
        .filter(|b| people.contains(b))
        .collect();
    if !removed.is_empty() {
        return Err(stage_blocked(s.stage, removed));
    }
    events::service_updated(&txn, &s).await?;
    respond(txn, tenant, s, actix_web::http::StatusCode::OK).await
}

fn stage_blocked(stage: Stage, blockers: Vec<&str>) -> ApiError {
    ApiError::conflict(
        "stage_blocked",
        format!(
            "the {} stage needs: {}",
            stage.as_str(),
            blockers.join(", ")
        ),
    )
    .with_extra(json!({"blockers": blockers}))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"to": "design", "rationale": "Approved in the portfolio review."}))]
pub struct StageIn {
    pub to: Stage,
    /// Why: kept in the stage history.
    pub rationale: String,
}

/// Move a service to the next or the previous stage.
///
/// `strategy` → `design` → `transition` → `live` → `retired`, or back one. Forward, the target's
/// gates must hold: `design` needs an owner and a manager, `transition` an offering, `live` a
/// support group and a published item, `retired` no open request items (409 `stage_blocked`
/// with every unmet gate in `blockers`). Any other target is 409 `stage_not_allowed` with the
/// stages that are in `allowed`. Send `If-Match` with the `ETag` you read.
#[utoipa::path(
    tag = "services",
    operation_id = "moveServiceStage",
    params(("id" = Uuid, Path, description = "The service's id.")),
    request_body = StageIn,
    responses((status = 200, description = "OK", body = ServiceOut), (status = 409, description = "`stage_not_allowed` (with `allowed`) or `stage_blocked` (with `blockers`)", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["portfolio:write"]))
)]
#[post("/{id}/stage")]
pub async fn move_stage(
    state: web::Data<CatalogueService>,
    auth: Auth<PortfolioWrite>,
    id: web::Path<Uuid>,
    body: Json<StageIn>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let rationale =
        text("/rationale", &body.rationale, 2_000).map_err(|e| ApiError::validation(vec![e]))?;
    let tenant = auth.tenant_id();
    // A provider's service is ordered below it: its open request items are counted there too.
    let reach = auth.list_scope(Some("*")).await?;
    let txn = begin_scoped(&state.db, &reach).await?;
    let s = load(&txn, tenant, *id).await?;
    check_if_match(&req, s.version)?;
    match portfolio::check_move(s.stage, body.to, &store::readiness(&txn, &s, &reach).await?) {
        Ok(()) => {}
        Err(StageRefusal::NotAllowed { allowed }) => {
            return Err(ApiError::conflict(
                "stage_not_allowed",
                format!(
                    "a service in {} moves one stage at a time",
                    s.stage.as_str()
                ),
            )
            .with_extra(json!({"allowed": allowed})));
        }
        Err(StageRefusal::Blocked { blockers }) => {
            return Err(stage_blocked(body.to, blockers));
        }
    }
    let (s, change) =
        store::move_stage(&txn, s, body.to, rationale, auth.principal.subject).await?;
    events::stage_changed(&txn, &s, &change).await?;
    respond(txn, tenant, s, actix_web::http::StatusCode::OK).await
}
