//! `/api/v1/cmdb/relationships`: typed edges between CIs, allowed by class rules (subclasses
//! inherit them), within their cardinality, and never a hosting loop.
use actix_web::{HttpRequest, HttpResponse, delete, get, http::StatusCode, post, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError, FieldError,
    auth::{
        Auth,
        scopes::{CmdbRead, CmdbWrite},
    },
    error::Problem as ProblemJson,
    json::Json,
    pagination::{Page, PageQuery},
    tenancy::{TenantId, begin_scoped},
};
use sea_orm::{DatabaseTransaction, SqlErr};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    CatalogueService,
    domain::cmdb_graph::{RelRule, RelType, allowing, closes_cycle},
    events,
    store::{
        cmdb::{self as store, Ci, Provenance, Relationship},
        cmdb_sharing as sharing,
    },
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get)
        .service(remove);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24d50-0000-7000-8000-000000000001",
    "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
    "source_id": "01a24d40-8b30-7c2f-9d3e-4f5a6b7c8d90",
    "type": "runs_on",
    "target_id": "01a24d40-8b30-7c2f-9d3e-4f5a6b7c8d91",
    "source": "manual",
    "created_at": "2026-12-06T09:00:00Z"
}))]
pub struct RelationshipOut {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub source_id: Uuid,
    /// The forward name (`runs_on`); read from the target it is the inverse (`runs`).
    #[serde(rename = "type")]
    pub rel_type: String,
    pub target_id: Uuid,
    /// `manual` for the API, else the import's source.
    pub source: String,
    pub created_at: DateTime<Utc>,
}

platform::page_schema!(RelationshipPage, RelationshipOut);

fn out(r: Relationship) -> RelationshipOut {
    RelationshipOut {
        id: r.id,
        tenant_id: r.tenant_id,
        source_id: r.source_id,
        rel_type: r.rel_type,
        target_id: r.target_id,
        source: r.source,
        created_at: r.created_at,
    }
}

/// A CI the acting tenant may read (its own or one shared with it), or 404 naming the field
/// that referred to it.
async fn end(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
    pointer: &str,
) -> Result<Ci, ApiError> {
    store::find_visible_ci(txn, &[tenant], id)
        .await?
        .ok_or_else(|| ApiError::not_found("ci").with_extra(json!({"pointer": pointer})))
}

/// What relating two CIs came to.
pub enum Related {
    Created(Relationship),
    /// The same edge was already there (an import counts it unchanged).
    Existed(Uuid),
}

/// Relates `source` `rel_type` `target` (forward) for `tenant`, announced in `txn`: allowed by
/// one of `rules` (422 `relationship_not_allowed`), within its limits (409
/// `cardinality_exceeded`) and never closing a hosting loop (409 `cycle`).
pub async fn relate(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    rules: &[RelRule],
    (source, rel_type, target): (&Ci, RelType, &Ci),
    by: &Provenance,
) -> Result<Related, ApiError> {
    let rule =
        allowing(rules, &source.class_path, rel_type, &target.class_path).ok_or_else(|| {
            ApiError::validation(vec![FieldError::new(
                "/type",
                "relationship_not_allowed",
                format!(
                    "no rule allows {} {} {}",
                    source.class,
                    rel_type.as_str(),
                    target.class
                ),
            )])
        })?;
    if let Some(existing) = store::find_edge(txn, tenant, (source.id, rel_type, target.id)).await? {
        return Ok(Related::Existed(existing.id));
    }
    for (limit, ci, outgoing) in [
        (rule.max_targets, source.id, true),
        (rule.max_sources, target.id, false),
    ] {
        if let Some(limit) = limit
            && store::degree(txn, ci, rel_type, outgoing).await? >= u64::from(limit)
        {
            return Err(ApiError::conflict(
                "cardinality_exceeded",
                format!("at most {limit} {} per CI here", rel_type.as_str()),
            )
            .with_extra(json!({"limit": limit})));
        }
    }
    if rel_type == RelType::HostedOn
        && closes_cycle(
            &store::hosting_above(txn, target.id).await?,
            source.id,
            target.id,
        )
    {
        return Err(ApiError::conflict(
            "cycle",
            "the target is already hosted, directly or not, on the source",
        ));
    }
    let edge = (source.id, rel_type, target.id);
    let r = match store::insert_relationship(txn, tenant, edge, by).await {
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Err(ApiError::conflict(
                "relationship_exists",
                "these CIs are already related so",
            ));
        }
        other => other?,
    };
    events::relationship_changed(txn, &r, true).await?;
    Ok(Related::Created(r))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"source_id": "01a24d40-8b30-7c2f-9d3e-4f5a6b7c8d90", "type": "runs_on", "target_id": "01a24d40-8b30-7c2f-9d3e-4f5a6b7c8d91"}))]
pub struct RelationshipIn {
    pub source_id: Uuid,
    /// `depends_on`/`dependency_of`, `runs_on`/`runs`, `hosted_on`/`hosts`, `uses`/`used_by`,
    /// `member_of`/`has_member`, `connected_to`; an inverse name is stored forward.
    #[serde(rename = "type")]
    pub rel_type: String,
    pub target_id: Uuid,
}

/// Relate two CIs.
///
/// Both the acting tenant's (404 naming `source_id` or `target_id`); their classes allowed by a
/// rule (422 `relationship_not_allowed`); within the rule's `max_targets`/`max_sources` (409
/// `cardinality_exceeded`); no `hosted_on` loop (409 `cycle`); once (409
/// `relationship_exists`).
#[utoipa::path(
    tag = "cmdb",
    operation_id = "createCiRelationship",
    request_body = RelationshipIn,
    responses((status = 201, description = "Created", body = RelationshipOut), (status = 409, description = "`cardinality_exceeded`, `cycle` or `relationship_exists`", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["cmdb:write"]))
)]
#[post("")]
pub async fn create(
    state: web::Data<CatalogueService>,
    auth: Auth<CmdbWrite>,
    body: Json<RelationshipIn>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let (rel_type, inverse) = RelType::parse(&input.rel_type).ok_or_else(|| {
        ApiError::validation(vec![FieldError::new(
            "/type",
            "not_allowed",
            "not a relationship type",
        )])
    })?;
    if input.source_id == input.target_id {
        return Err(ApiError::validation(vec![FieldError::new(
            "/target_id",
            "self_loop",
            "a CI is not related to itself",
        )]));
    }
    let tenant = auth.tenant_id();
    let lineage = auth.tenant.lineage();
    let txn = begin_scoped(&state.db, lineage).await?;
    let rules = sharing::all_rel_rules(&txn, lineage).await?;
    platform::tenancy::scope_to(&txn, &[tenant]).await?;
    let named_source = end(&txn, tenant, input.source_id, "/source_id").await?;
    let named_target = end(&txn, tenant, input.target_id, "/target_id").await?;
    let (source, target) = if inverse {
        (named_target, named_source)
    } else {
        (named_source, named_target)
    };
    let by = Provenance::manual(auth.principal.subject);
    let r = match relate(&txn, tenant, &rules, (&source, rel_type, &target), &by).await? {
        Related::Created(r) => r,
        Related::Existed(_) => {
            return Err(ApiError::conflict(
                "relationship_exists",
                "these CIs are already related so",
            ));
        }
    };
    txn.commit().await?;
    Ok(HttpResponse::build(StatusCode::CREATED)
        .insert_header(("Location", format!("/api/v1/cmdb/relationships/{}", r.id)))
        .json(out(r)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only relationships with this CI at either end.
    pub ci_id: Option<Uuid>,
    /// `*`: the acting tenant's and its customers' (MSP roles).
    pub tenant: Option<String>,
}

/// The tenant's relationships, a page at a time.
///
/// Oldest first; `ci_id` keeps those with that CI at either end; `?tenant=*` spans an MSP's
/// customers.
#[utoipa::path(
    tag = "cmdb",
    operation_id = "listCiRelationships",
    params(ListQuery),
    responses((status = 200, description = "OK", body = RelationshipPage)),
    security(("bearer" = ["cmdb:read"]))
)]
#[get("")]
pub async fn list(
    state: web::Data<CatalogueService>,
    auth: Auth<CmdbRead>,
    query: web::Query<ListQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .validate()?;
    let tenants = auth.list_scope(query.tenant.as_deref()).await?;
    let txn = begin_scoped(&state.db, &tenants).await?;
    let rows =
        store::list_relationships(&txn, &tenants, query.ci_id, page.after, page.limit + 1).await?;
    txn.commit().await?;
    Ok(Page::from_rows(rows, page.limit, |r| r.id)
        .map(out)
        .respond(&req))
}

async fn load(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Relationship, ApiError> {
    store::find_relationship(txn, tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("relationship"))
}

/// Read a relationship.
///
/// Its ends and type in the forward direction, and the source that made it.
#[utoipa::path(
    tag = "cmdb",
    operation_id = "getCiRelationship",
    params(("id" = Uuid, Path, description = "The relationship's id.")),
    responses((status = 200, description = "OK", body = RelationshipOut), (status = 404, description = "No such relationship", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["cmdb:read"]))
)]
#[get("/{id}")]
pub async fn get(
    state: web::Data<CatalogueService>,
    auth: Auth<CmdbRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let r = load(&txn, tenant, *id).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(r)))
}

/// Remove a relationship.
///
/// The CIs stay; impact no longer follows the edge. Announced as
/// `ci_relationship.deleted`.
#[utoipa::path(
    tag = "cmdb",
    operation_id = "deleteCiRelationship",
    params(("id" = Uuid, Path, description = "The relationship's id.")),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such relationship", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["cmdb:write"]))
)]
#[delete("/{id}")]
pub async fn remove(
    state: web::Data<CatalogueService>,
    auth: Auth<CmdbWrite>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let r = load(&txn, tenant, *id).await?;
    events::relationship_changed(&txn, &r, false).await?;
    store::delete_relationship(&txn, r).await?;
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
