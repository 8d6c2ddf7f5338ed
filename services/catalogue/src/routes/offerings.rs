//! `/api/v1/catalogue/offerings`: what a service offers (a package of it, e.g. "Payroll —
//! EMEA"), supported by a group. A service needs an offering to reach `transition`.
use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, patch, post, web};
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
    validate::Validator,
};
use sea_orm::DatabaseTransaction;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::shared::{
    changed_name_and_description, check_people, name_and_description, name_taken, nullable,
    open_service, versioned,
};
use crate::{
    CatalogueService,
    domain::offering::{NewOffering, OfferingChanges},
    events,
    store::offerings::{self as store, Offering},
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get)
        .service(update);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24b5e-7a20-7b1e-8c2d-3e4f5a6b7c80",
    "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
    "service_id": "01a24b5e-6f10-7a7e-9d3c-5b8f2e1c4d20",
    "name": "Payroll — EMEA",
    "description": "Payroll for the European entities.",
    "support_group_id": "01a24233-c4f0-7d1e-8f3a-2b6c9d0e1f23",
    "version": 1,
    "created_at": "2026-12-05T09:00:00Z",
    "updated_at": "2026-12-05T09:00:00Z"
}))]
pub struct OfferingOut {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The portfolio service it offers.
    pub service_id: Uuid,
    pub name: String,
    pub description: String,
    /// The group that supports it (else the service's support group).
    pub support_group_id: Option<Uuid>,
    /// Send it back as `If-Match: "<version>"` to change the offering.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

platform::page_schema!(OfferingPage, OfferingOut);

fn out(o: Offering) -> OfferingOut {
    OfferingOut {
        id: o.id,
        tenant_id: o.tenant_id,
        service_id: o.service_id,
        name: o.name,
        description: o.description,
        support_group_id: o.support_group_id,
        version: o.version,
        created_at: o.created_at,
        updated_at: o.updated_at,
    }
}

fn respond(o: Offering, status: StatusCode) -> HttpResponse {
    versioned(status, o.version, "/api/v1/catalogue/offerings", o.id).json(out(o))
}

async fn load(txn: &DatabaseTransaction, tenant: TenantId, id: Uuid) -> Result<Offering, ApiError> {
    store::find(txn, tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("offering"))
}

/// An offering's name is unique within its service (409 `name_taken`).
async fn check_name(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    service: Uuid,
    name: &str,
    except: Option<Uuid>,
) -> Result<(), ApiError> {
    if store::name_taken(txn, tenant, service, name, except).await? {
        return Err(name_taken("another offering of this service has that name"));
    }
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "service_id": "01a24b5e-6f10-7a7e-9d3c-5b8f2e1c4d20",
    "name": "Payroll — EMEA",
    "description": "Payroll for the European entities."
}))]
pub struct OfferingIn {
    pub service_id: Uuid,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub support_group_id: Option<Uuid>,
}

impl TryFrom<OfferingIn> for NewOffering {
    type Error = Vec<FieldError>;

    fn try_from(input: OfferingIn) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let parsed = name_and_description(&mut v, &input.name, &input.description).map(
            |(name, description)| NewOffering {
                service_id: input.service_id,
                name,
                description,
                support_group_id: input.support_group_id,
            },
        );
        v.finish_with(parsed)
    }
}

/// Add an offering to a service.
///
/// The service must be one of the acting tenant's and not retired (422 `unknown_reference` or
/// `service_retired` on `/service_id`); the support group a group of the tenant. Names are
/// unique within a service (409 `name_taken`).
#[utoipa::path(
    tag = "offerings",
    operation_id = "createOffering",
    request_body = OfferingIn,
    responses((status = 201, description = "Created", body = OfferingOut), (status = 409, description = "`name_taken`", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["portfolio:write"]))
)]
#[post("")]
pub async fn create(
    state: web::Data<CatalogueService>,
    auth: Auth<PortfolioWrite>,
    body: Json<OfferingIn>,
) -> Result<HttpResponse, ApiError> {
    let new = NewOffering::try_from(body.0)?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let mut errors = check_people(&txn, tenant, None, None, new.support_group_id).await?;
    errors.extend(open_service(&txn, tenant, new.service_id, "offerings").await?);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    check_name(&txn, tenant, new.service_id, &new.name, None).await?;
    let o = store::insert(&txn, tenant, new).await?;
    events::offering_changed(&txn, &o, true).await?;
    txn.commit().await?;
    Ok(respond(o, StatusCode::CREATED))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only the offerings of this service.
    pub service_id: Option<Uuid>,
}

/// The acting tenant's offerings, a page at a time.
///
/// Oldest first; `service_id` keeps one service's.
#[utoipa::path(
    tag = "offerings",
    operation_id = "listOfferings",
    params(ListQuery),
    responses((status = 200, description = "OK", body = OfferingPage)),
    security(("bearer" = ["catalogue:read"]))
)]
#[get("")]
pub async fn list(
    state: web::Data<CatalogueService>,
    auth: Auth<CatalogueRead>,
    query: web::Query<ListQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .validate()?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let rows = store::list(&txn, tenant, query.service_id, page.after, page.limit + 1).await?;
    txn.commit().await?;
    Ok(Page::from_rows(rows, page.limit, |o| o.id)
        .map(out)
        .respond(&req))
}

/// Read an offering.
///
/// Its service, name, description, support group and version (also the `ETag`, to send back as
/// `If-Match`).
#[utoipa::path(
    tag = "offerings",
    operation_id = "getOffering",
    params(("id" = Uuid, Path, description = "The offering's id.")),
    responses((status = 200, description = "OK", body = OfferingOut)),
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
    let o = load(&txn, tenant, *id).await?;
    txn.commit().await?;
    Ok(respond(o, StatusCode::OK))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Payroll — Europe"}))]
pub struct OfferingPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `null` clears it (the service's support group applies).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub support_group_id: Option<Option<Uuid>>,
}

impl TryFrom<OfferingPatch> for OfferingChanges {
    type Error = Vec<FieldError>;

    fn try_from(input: OfferingPatch) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let parsed = changed_name_and_description(&mut v, input.name, input.description).map(
            |(name, description)| OfferingChanges {
                name,
                description,
                support_group_id: input.support_group_id,
            },
        );
        v.finish_with(parsed)
    }
}

/// Update an offering.
///
/// Only the fields sent change. Send `If-Match` with the `ETag` you read: 412
/// `precondition_failed` when the offering changed since.
#[utoipa::path(
    tag = "offerings",
    operation_id = "updateOffering",
    params(("id" = Uuid, Path, description = "The offering's id.")),
    request_body = OfferingPatch,
    responses((status = 200, description = "OK", body = OfferingOut), (status = 409, description = "`name_taken`", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["portfolio:write"]))
)]
#[patch("/{id}")]
pub async fn update(
    state: web::Data<CatalogueService>,
    auth: Auth<PortfolioWrite>,
    id: web::Path<Uuid>,
    body: Json<OfferingPatch>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let changes = OfferingChanges::try_from(body.0)?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let o = load(&txn, tenant, *id).await?;
    check_if_match(&req, o.version)?;
    let errors = check_people(&txn, tenant, None, None, changes.support_group_id.flatten()).await?;
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    if let Some(name) = &changes.name {
        check_name(&txn, tenant, o.service_id, name, Some(o.id)).await?;
    }
    let o = store::change(&txn, o, changes).await?;
    events::offering_changed(&txn, &o, false).await?;
    txn.commit().await?;
    Ok(respond(o, StatusCode::OK))
}
