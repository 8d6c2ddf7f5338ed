//! `GET /api/v1/incidents/{id}/affected-services`: the business services upstream of the
//! incident's configuration item, from incident's projection of the CMDB (the walk the CMDB's
//! upstream impact does, over the incident tenant's own relationships).
use actix_web::{HttpResponse, get, web};
use platform::{
    ApiError,
    auth::{Auth, scopes::IncidentReadOwn},
    error::Problem as ProblemJson,
    tenancy::begin_scoped,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::shared::find_visible;
use crate::{IncidentService, store::cmdb};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(affected_services);
}

const DEFAULT_DEPTH: u32 = 3;
const MAX_DEPTH: u32 = 10;

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"ci_id": "01a24d40-8b30-7c2f-9d3e-4f5a6b7c8d93", "name": "Payroll", "service_id": "01a24d10-0000-7000-8000-000000000001", "depth": 3}))]
pub struct AffectedService {
    /// The `business_service` CI.
    pub ci_id: Uuid,
    pub name: String,
    /// The portfolio service it stands for.
    pub service_id: Option<Uuid>,
    /// Relationships between it and the incident's CI.
    pub depth: i32,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"items": [{"ci_id": "01a24d40-8b30-7c2f-9d3e-4f5a6b7c8d93", "name": "Payroll", "service_id": "01a24d10-0000-7000-8000-000000000001", "depth": 3}], "next_cursor": null}))]
pub struct AffectedServiceList {
    /// Nearest first; empty when the incident names no CI.
    pub items: Vec<AffectedService>,
    /// Always `null`: every affected service fits on one page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AffectedQuery {
    /// How many relationships up to follow, 1–10 (default 3, as the CMDB's impact).
    pub depth: Option<u32>,
}

/// The business services an incident affects.
///
/// Those upstream of its configuration item (what depends on it, runs or is hosted on it)
/// within `depth` relationships of the incident's tenant, nearest first.
#[utoipa::path(
    tag = "incidents",
    operation_id = "listIncidentAffectedServices",
    params(("id" = Uuid, Path, description = "The incident's id."), AffectedQuery),
    responses((status = 200, description = "OK", body = AffectedServiceList), (status = 400, description = "Invalid query", body = ProblemJson, content_type = "application/problem+json"), (status = 404, description = "No such incident", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["incident:read_own"]))
)]
#[get("/{id}/affected-services")]
pub async fn affected_services(
    state: web::Data<IncidentService>,
    auth: Auth<IncidentReadOwn>,
    id: web::Path<Uuid>,
    query: web::Query<AffectedQuery>,
) -> Result<HttpResponse, ApiError> {
    let depth = query.depth.unwrap_or(DEFAULT_DEPTH);
    if !(1..=MAX_DEPTH).contains(&depth) {
        return Err(ApiError::bad_query(
            "depth",
            "out_of_range",
            format!("depth is 1–{MAX_DEPTH}"),
        ));
    }
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let incident = find_visible(&txn, tenant, &auth.principal, *id).await?;
    let items = match incident.configuration_item_id {
        Some(ci) => cmdb::affected_services(&txn, tenant, ci, depth).await?,
        None => Vec::new(),
    };
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(AffectedServiceList {
        items: items
            .into_iter()
            .map(|a| AffectedService {
                ci_id: a.ci_id,
                name: a.name,
                service_id: a.service_id,
                depth: a.depth,
            })
            .collect(),
        next_cursor: None,
    }))
}
