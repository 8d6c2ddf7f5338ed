//! `GET /api/v1/changes/{id}/impact`: what the change's CIs carry, from the CMDB the
//! catalogue announces.
use actix_web::{HttpResponse, get, web};
use platform::{
    ApiError,
    auth::{Auth, scopes::ChangeRead},
    tenancy::begin_scoped,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    ChangeService,
    domain::impact::{Step, paths},
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(impact);
}

/// How far upstream an impact looks by default, and at most.
const DEFAULT_DEPTH: u32 = 3;
const MAX_DEPTH: u32 = 10;

#[derive(Serialize, ToSchema)]
pub struct ImpactCi {
    pub id: Uuid,
    pub name: String,
    /// The class and its ancestors, root first (`server/linux_server`).
    pub class_path: String,
    pub status: String,
    /// 0 for the change's own CIs, else relationships upstream of the nearest of them.
    pub depth: u32,
}

#[derive(Serialize, ToSchema)]
pub struct ImpactServiceOut {
    /// The business service's CI.
    pub ci_id: Uuid,
    pub name: String,
    /// The portfolio service it stands for, when it has one.
    pub service_id: Option<Uuid>,
    pub depth: u32,
    /// CI ids from one of the change's CIs to the service's, both included.
    pub path: Vec<Uuid>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "cis": [
        {"id": "01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a11", "name": "db-01", "class_path": "database",
         "status": "operational", "depth": 0},
        {"id": "01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a12", "name": "payroll-app",
         "class_path": "application", "status": "operational", "depth": 1},
        {"id": "01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a13", "name": "Payroll",
         "class_path": "business_service", "status": "operational", "depth": 2}
    ],
    "services": [
        {"ci_id": "01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a13", "name": "Payroll", "service_id": null,
         "depth": 2, "path": ["01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a11",
         "01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a12", "01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a13"]}
    ],
    "depth": 3
}))]
pub struct ImpactOut {
    /// The change's CIs and every CI upstream of them within `depth`, nearest first.
    pub cis: Vec<ImpactCi>,
    /// The business services among them, each with the path that reaches it.
    pub services: Vec<ImpactServiceOut>,
    pub depth: u32,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImpactQuery {
    /// Relationships to follow upstream, 1–10 (default 3).
    pub depth: Option<u32>,
}

/// What a change affects.
///
/// Its CIs and the CIs that depend on them (upstream, through the tenant's own relationships)
/// within `depth`, and the business services among those with the path to each.
#[utoipa::path(
    tag = "changes",
    operation_id = "getChangeImpact",
    params(("id" = Uuid, Path, description = "The change's id."), ImpactQuery),
    responses((status = 200, description = "OK", body = ImpactOut)),
    security(("bearer" = ["change:read"]))
)]
#[get("/{id}/impact")]
pub async fn impact(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeRead>,
    id: web::Path<Uuid>,
    query: web::Query<ImpactQuery>,
) -> Result<HttpResponse, ApiError> {
    let depth = query.depth.unwrap_or(DEFAULT_DEPTH);
    if !(1..=MAX_DEPTH).contains(&depth) {
        return Err(ApiError::bad_query(
            "depth",
            "out_of_range",
            format!("depth is 1 to {MAX_DEPTH}"),
        ));
    }
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let (_, roots) = super::checks::load(&txn, tenant, *id, false).await?;
    let steps: Vec<Step> = bus::cmdb::upstream(&txn, tenant, &roots, depth)
        .await?
        .into_iter()
        .map(|r| Step {
            ci: r.ci,
            depth: u32::try_from(r.depth).unwrap_or(0),
            from: r.from_ci,
        })
        .collect();
    let reached = paths(&steps);
    let ids: Vec<Uuid> = reached.iter().map(|r| r.ci).collect();
    let known = bus::cmdb::cis(&txn, tenant, &ids).await?;
    txn.commit().await?;
    let mut cis = Vec::with_capacity(reached.len());
    let mut services = Vec::new();
    for r in reached {
        let Some(ci) = known.get(&r.ci) else { continue };
        if bus::cmdb::is_business_service(&ci.class_path) {
            services.push(ImpactServiceOut {
                ci_id: ci.ci_id,
                name: ci.name.clone(),
                service_id: ci.service_id,
                depth: r.depth,
                path: r.path,
            });
        }
        cis.push(ImpactCi {
            id: ci.ci_id,
            name: ci.name.clone(),
            class_path: ci.class_path.clone(),
            status: ci.status.clone(),
            depth: r.depth,
        });
    }
    Ok(HttpResponse::Ok().json(ImpactOut {
        cis,
        services,
        depth,
    }))
}
