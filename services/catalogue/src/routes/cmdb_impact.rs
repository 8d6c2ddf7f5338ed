//! `GET /api/v1/cmdb/cis/{id}/impact`: who is affected if a CI fails (`upstream`) or what it
//! needs (`downstream`), each CI once at its shortest depth, with the edge that reached it, and
//! `truncated` whenever a depth or size cut left CIs out.
use actix_web::{HttpResponse, get, web};
use platform::{
    ApiError,
    auth::{Auth, scopes::CmdbRead},
    error::Problem as ProblemJson,
    tenancy::begin_scoped,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    CatalogueService,
    domain::cmdb_graph::{Direction, RelType, Step, is_a, nearest},
    store::cmdb as store,
};

const DEFAULT_DEPTH: u32 = 3;
const MAX_DEPTH: u32 = 10;
const DEFAULT_MAX_NODES: usize = 1_000;
const MAX_NODES: usize = 10_000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImpactQuery {
    /// `upstream` (default: affected if it fails) or `downstream` (what it needs).
    pub direction: Option<String>,
    /// 1–10 (default 3).
    pub depth: Option<u32>,
    /// Relationship types to follow, comma-separated (default: all).
    pub types: Option<String>,
    /// 1–10,000 (default 1,000).
    pub max_nodes: Option<usize>,
    /// `*`: follow the relationships of the acting tenant's customers too (MSP roles); by
    /// default only the acting tenant's own.
    pub tenant: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Via {
    pub relationship_id: Uuid,
    #[serde(rename = "type")]
    pub rel_type: String,
    /// The CI the walk came from.
    pub from_id: Uuid,
}

#[derive(Serialize, ToSchema)]
pub struct ImpactNode {
    pub id: Uuid,
    pub name: String,
    pub class: String,
    pub tenant_id: Uuid,
    pub depth: u32,
    pub via: Via,
}

#[derive(Serialize, ToSchema)]
pub struct ImpactService {
    pub id: Uuid,
    pub name: String,
    /// The portfolio service the `business_service` CI stands for.
    pub service_id: Option<Uuid>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "root_id": "01a24d40-8b30-7c2f-9d3e-4f5a6b7c8d90",
    "direction": "upstream",
    "depth": 3,
    "nodes": [{"id": "01a24d40-8b30-7c2f-9d3e-4f5a6b7c8d91", "name": "web-01", "class": "virtual", "tenant_id": "01a24233-c456-7186-af34-ba4716863c54", "depth": 1,
               "via": {"relationship_id": "01a24d50-0000-7000-8000-000000000001", "type": "hosted_on", "from_id": "01a24d40-8b30-7c2f-9d3e-4f5a6b7c8d90"}}],
    "services": [],
    "node_count": 1,
    "truncated": false
}))]
pub struct Impact {
    pub root_id: Uuid,
    pub direction: String,
    pub depth: u32,
    /// Every CI reached (the root excluded), nearest first.
    pub nodes: Vec<ImpactNode>,
    /// The `business_service` CIs among them.
    pub services: Vec<ImpactService>,
    pub node_count: usize,
    /// A depth or `max_nodes` cut left CIs out.
    pub truncated: bool,
}

/// A configuration item's impact.
///
/// Follows relationships from the CI: `upstream` to those that depend on it, run or are hosted
/// on it; `downstream` to what it needs; `connected_to` both ways. Retired CIs count. Each CI
/// once, at its shortest depth; cycles end. A CI shared by the provider is walked through the
/// acting tenant's relationships (`?tenant=*`: its customers' too).
#[utoipa::path(
    tag = "cmdb",
    operation_id = "getCiImpact",
    params(("id" = Uuid, Path, description = "The CI's id."), ImpactQuery),
    responses((status = 200, description = "OK", body = Impact), (status = 400, description = "Invalid query", body = ProblemJson, content_type = "application/problem+json"), (status = 404, description = "No such CI", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["cmdb:read"]))
)]
#[get("/{id}/impact")]
pub async fn impact(
    state: web::Data<CatalogueService>,
    auth: Auth<CmdbRead>,
    id: web::Path<Uuid>,
    query: web::Query<ImpactQuery>,
) -> Result<HttpResponse, ApiError> {
    let direction = Direction::parse(query.direction.as_deref().unwrap_or("upstream"))
        .ok_or_else(|| ApiError::bad_query("direction", "not_allowed", "upstream or downstream"))?;
    let depth = query.depth.unwrap_or(DEFAULT_DEPTH);
    if !(1..=MAX_DEPTH).contains(&depth) {
        return Err(ApiError::bad_query(
            "depth",
            "out_of_range",
            format!("depth is 1–{MAX_DEPTH}"),
        ));
    }
    let max_nodes = query.max_nodes.unwrap_or(DEFAULT_MAX_NODES);
    if !(1..=MAX_NODES).contains(&max_nodes) {
        return Err(ApiError::bad_query(
            "max_nodes",
            "out_of_range",
            format!("max_nodes is 1–{MAX_NODES}"),
        ));
    }
    let mut types = Vec::new();
    for name in query.types.iter().flat_map(|t| t.split(',')) {
        match RelType::parse(name.trim()) {
            Some((t, _)) => types.push(t),
            None => {
                return Err(ApiError::bad_query(
                    "types",
                    "not_allowed",
                    format!("{name} is not a relationship type"),
                ));
            }
        }
    }
    // A customer walks its own relationships only: a CI its provider shares with several
    // customers never shows one customer another's CIs.
    let tenants = auth.list_scope(query.tenant.as_deref()).await?;
    let txn = begin_scoped(&state.db, &tenants).await?;
    store::find_visible_ci(&txn, &tenants, *id)
        .await?
        .ok_or_else(|| ApiError::not_found("ci"))?;
    // The walk also looks one edge past `depth`: what appears only there shows the depth cut
    // something.
    let steps = store::walk(
        &txn,
        &tenants,
        *id,
        direction == Direction::Upstream,
        (depth, max_nodes),
        &types,
    )
    .await?
    .into_iter()
    .map(|s| Step {
        ci: s.ci,
        depth: u32::try_from(s.depth).unwrap_or(u32::MAX),
        via: s.via,
        rel_type: s.rel_type,
        from: s.from_ci,
    })
    .collect();
    let (reached, truncated) = nearest(steps, *id, depth, max_nodes);
    let cis = store::cis_by_id(&txn, &tenants, reached.iter().map(|s| s.ci).collect()).await?;
    txn.commit().await?;
    let by_id: std::collections::HashMap<Uuid, store::Ci> =
        cis.into_iter().map(|c| (c.id, c)).collect();
    let mut nodes = Vec::with_capacity(reached.len());
    let mut services = Vec::new();
    for step in reached {
        let Some(ci) = by_id.get(&step.ci) else {
            continue;
        };
        if is_a(&ci.class_path, "business_service") {
            services.push(ImpactService {
                id: ci.id,
                name: ci.name.clone(),
                service_id: ci.service_id,
            });
        }
        nodes.push(ImpactNode {
            id: ci.id,
            name: ci.name.clone(),
            class: ci.class.clone(),
            tenant_id: ci.tenant_id,
            depth: step.depth,
            via: Via {
                relationship_id: step.via,
                rel_type: step.rel_type,
                from_id: step.from,
            },
        });
    }
    Ok(HttpResponse::Ok().json(Impact {
        root_id: *id,
        direction: match direction {
            Direction::Upstream => "upstream".into(),
            Direction::Downstream => "downstream".into(),
        },
        depth,
        node_count: nodes.len(),
        nodes,
        services,
        truncated,
    }))
}
