//! `/api/v1/cmdb/relationship-rules` (which classes may be related, how often; subclasses
//! inherit) and `/api/v1/cmdb/reconciliation-rules` (which import source may set an attribute
//! over another's value). Each tenant has the built-in relationship rules and adds its own; a
//! provider's rules hold for its customers too.
use actix_web::{HttpResponse, delete, get, http::StatusCode, post, web};
use platform::{
    ApiError, FieldError,
    auth::{
        Auth,
        scopes::{CmdbAdmin, CmdbRead},
    },
    error::Problem as ProblemJson,
    json::Json,
    tenancy::{TenantId, begin_scoped},
    validate::Validator,
};
use sea_orm::{DatabaseTransaction, SqlErr};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    CatalogueService,
    domain::{
        cmdb::ClassTree,
        cmdb_graph::{RelRule, RelType, built_in_rules},
        cmdb_reconcile::ReconRule,
    },
    store::{cmdb as store, cmdb_sharing as sharing},
};

pub fn relationship_rule_routes(cfg: &mut ServiceConfig) {
    cfg.service(list_relationship_rules)
        .service(create_relationship_rule)
        .service(delete_relationship_rule);
}

pub fn reconciliation_rule_routes(cfg: &mut ServiceConfig) {
    cfg.service(list_reconciliation_rules)
        .service(create_reconciliation_rule)
        .service(delete_reconciliation_rule);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": null, "built_in": true, "tenant_id": null,
    "source_class": "server", "type": "hosted_on", "target_class": "hypervisor",
    "max_targets": 1, "max_sources": null
}))]
pub struct RelationshipRuleOut {
    /// `null` for a built-in rule.
    pub id: Option<Uuid>,
    pub built_in: bool,
    /// The tenant that defined it; `null` for a built-in rule.
    pub tenant_id: Option<Uuid>,
    pub source_class: String,
    #[serde(rename = "type")]
    pub rel_type: String,
    pub target_class: String,
    /// How many targets one source may have by this type; `null`: no limit.
    pub max_targets: Option<u32>,
    /// How many sources one target may have by this type; `null`: no limit.
    pub max_sources: Option<u32>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "items": [{"id": null, "built_in": true, "tenant_id": null, "source_class": "server", "type": "hosted_on",
               "target_class": "hypervisor", "max_targets": 1, "max_sources": null}],
    "next_cursor": null
}))]
pub struct RelationshipRuleList {
    pub items: Vec<RelationshipRuleOut>,
    /// Always `null`: every rule fits on one page.
    pub next_cursor: Option<String>,
}

fn rule_out(r: &RelRule, stored: Option<&sharing::RelRuleRow>) -> RelationshipRuleOut {
    RelationshipRuleOut {
        id: stored.map(|s| s.id),
        built_in: stored.is_none(),
        tenant_id: stored.map(|s| s.tenant_id),
        source_class: r.source_class.clone(),
        rel_type: r.rel_type.as_str().into(),
        target_class: r.target_class.clone(),
        max_targets: r.max_targets,
        max_sources: r.max_sources,
    }
}

/// The relationship rules the acting tenant's CIs are related under.
///
/// The built-in rules first, then those its provider chain and itself added. A rule on a class
/// covers its subclasses; where several allow a pair, the most specific one's limits hold.
#[utoipa::path(
    tag = "cmdb",
    operation_id = "listCmdbRelationshipRules",
    responses((status = 200, description = "OK", body = RelationshipRuleList)),
    security(("bearer" = ["cmdb:read"]))
)]
#[get("")]
pub async fn list_relationship_rules(
    state: web::Data<CatalogueService>,
    auth: Auth<CmdbRead>,
) -> Result<HttpResponse, ApiError> {
    let lineage = auth.tenant.lineage();
    let txn = begin_scoped(&state.db, lineage).await?;
    let stored = sharing::rel_rules(&txn, lineage).await?;
    txn.commit().await?;
    let mut items: Vec<RelationshipRuleOut> =
        built_in_rules().iter().map(|r| rule_out(r, None)).collect();
    items.extend(
        stored
            .iter()
            .filter_map(|row| sharing::as_rule(row).map(|r| rule_out(&r, Some(row)))),
    );
    Ok(HttpResponse::Ok().json(RelationshipRuleList {
        items,
        next_cursor: None,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"source_class": "application", "type": "runs_on", "target_class": "cluster", "max_targets": 2}))]
pub struct RelationshipRuleIn {
    pub source_class: String,
    /// A relationship type by either name; stored forward.
    #[serde(rename = "type")]
    pub rel_type: String,
    pub target_class: String,
    pub max_targets: Option<u32>,
    pub max_sources: Option<u32>,
}

/// The classes the acting tenant sees.
async fn tree(txn: &DatabaseTransaction, lineage: &[TenantId]) -> Result<ClassTree, ApiError> {
    Ok(store::classes(txn, lineage).await?)
}

fn known_class(v: &mut Validator, tree: &ClassTree, pointer: &str, key: &str) {
    if tree.get(key).is_none() {
        v.push(FieldError::new(
            pointer,
            "unknown_class",
            "no such class; see /api/v1/cmdb/classes",
        ));
    }
}

/// Allow a relationship between classes.
///
/// Both classes known (422 naming each), a known type, limits of at least 1; the same classes
/// and type once per tenant, built-in rules included (409 `rule_exists`).
#[utoipa::path(
    tag = "cmdb",
    operation_id = "createCmdbRelationshipRule",
    request_body = RelationshipRuleIn,
    responses((status = 201, description = "Created", body = RelationshipRuleOut), (status = 409, description = "`rule_exists`", body = ProblemJson, content_type = "application/problem+json"), (status = 422, description = "Invalid fields", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["cmdb:admin"]))
)]
#[post("")]
pub async fn create_relationship_rule(
    state: web::Data<CatalogueService>,
    auth: Auth<CmdbAdmin>,
    body: Json<RelationshipRuleIn>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let lineage = auth.tenant.lineage();
    let txn = begin_scoped(&state.db, lineage).await?;
    let classes = tree(&txn, lineage).await?;
    let mut v = Validator::new();
    known_class(&mut v, &classes, "/source_class", &input.source_class);
    known_class(&mut v, &classes, "/target_class", &input.target_class);
    let rel_type = RelType::parse(&input.rel_type);
    if rel_type.is_none() {
        v.push(FieldError::new(
            "/type",
            "not_allowed",
            "not a relationship type",
        ));
    }
    for (pointer, limit) in [
        ("/max_targets", input.max_targets),
        ("/max_sources", input.max_sources),
    ] {
        if limit == Some(0) {
            v.push(FieldError::new(pointer, "out_of_range", "at least 1"));
        }
    }
    v.finish()?;
    let Some((rel_type, inverse)) = rel_type else {
        return Err(ApiError::internal("type checked above"));
    };
    let (source_class, target_class, max_targets, max_sources) = if inverse {
        (
            input.target_class,
            input.source_class,
            input.max_sources,
            input.max_targets,
        )
    } else {
        (
            input.source_class,
            input.target_class,
            input.max_targets,
            input.max_sources,
        )
    };
    let rule = RelRule {
        source_class,
        rel_type,
        target_class,
        max_targets,
        max_sources,
    };
    let taken = || ApiError::conflict("rule_exists", "a rule for these classes and type exists");
    let same = |r: &RelRule| {
        r.source_class == rule.source_class
            && r.rel_type == rule.rel_type
            && r.target_class == rule.target_class
    };
    if sharing::all_rel_rules(&txn, lineage)
        .await?
        .iter()
        .any(same)
    {
        return Err(taken());
    }
    let tenant = auth.tenant_id();
    platform::tenancy::scope_to(&txn, &[tenant]).await?;
    let row = match sharing::insert_rel_rule(&txn, tenant, &rule).await {
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Err(taken());
        }
        other => other?,
    };
    txn.commit().await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(rule_out(&rule, Some(&row))))
}

/// Remove one of the tenant's relationship rules.
///
/// Relationships it allowed stay. Built-in rules and a provider's rules cannot be removed here
/// (404).
#[utoipa::path(
    tag = "cmdb",
    operation_id = "deleteCmdbRelationshipRule",
    params(("id" = Uuid, Path, description = "The rule's id.")),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such rule of this tenant", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["cmdb:admin"]))
)]
#[delete("/{id}")]
pub async fn delete_relationship_rule(
    state: web::Data<CatalogueService>,
    auth: Auth<CmdbAdmin>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let row = sharing::find_rel_rule(&txn, tenant, *id)
        .await?
        .ok_or_else(|| ApiError::not_found("relationship rule"))?;
    sharing::delete_rel_rule(&txn, row.id).await?;
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24d60-0000-7000-8000-000000000001",
    "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
    "class": "server", "attribute": "cpu_count",
    "precedence": ["sccm", "discovery", "manual"], "stale_after_days": 30,
    "version": 1
}))]
pub struct ReconciliationRuleOut {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The class it governs, with its subclasses.
    pub class: String,
    /// An attribute, or `*` for the class's attributes without a rule of their own.
    pub attribute: String,
    /// Sources, highest first; a source not listed ranks below all listed.
    pub precedence: Vec<String>,
    /// After this many days without an update from its source, a value no longer holds a
    /// lower source back; `null`: never.
    pub stale_after_days: Option<u32>,
    pub version: i64,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "items": [{"id": "01a24d60-0000-7000-8000-000000000001", "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
               "class": "server", "attribute": "cpu_count", "precedence": ["sccm", "discovery"], "stale_after_days": 30, "version": 1}],
    "next_cursor": null
}))]
pub struct ReconciliationRuleList {
    pub items: Vec<ReconciliationRuleOut>,
    /// Always `null`: every rule fits on one page.
    pub next_cursor: Option<String>,
}

fn recon_out(row: &sharing::ReconRuleRow) -> ReconciliationRuleOut {
    let rule = sharing::as_recon_rule(row);
    ReconciliationRuleOut {
        id: row.id,
        tenant_id: row.tenant_id,
        class: rule.class,
        attribute: rule.attribute,
        precedence: rule.precedence,
        stale_after_days: rule.stale_after_days,
        version: row.version,
    }
}

/// The reconciliation rules imports into the acting tenant's CMDB follow.
///
/// Its provider chain's and its own. A rule naming an attribute beats a `*` one; a rule on a
/// subclass beats one on its parent.
#[utoipa::path(
    tag = "cmdb",
    operation_id = "listCmdbReconciliationRules",
    responses((status = 200, description = "OK", body = ReconciliationRuleList)),
    security(("bearer" = ["cmdb:read"]))
)]
#[get("")]
pub async fn list_reconciliation_rules(
    state: web::Data<CatalogueService>,
    auth: Auth<CmdbRead>,
) -> Result<HttpResponse, ApiError> {
    let lineage = auth.tenant.lineage();
    let txn = begin_scoped(&state.db, lineage).await?;
    let rows = sharing::recon_rules(&txn, lineage).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(ReconciliationRuleList {
        items: rows.iter().map(recon_out).collect(),
        next_cursor: None,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"class": "server", "attribute": "cpu_count", "precedence": ["sccm", "discovery", "manual"], "stale_after_days": 30}))]
pub struct ReconciliationRuleIn {
    pub class: String,
    /// An attribute of the class, or `*` (the default).
    pub attribute: Option<String>,
    /// Source names, highest first, each once (`manual` is the API).
    pub precedence: Vec<String>,
    pub stale_after_days: Option<u32>,
}

/// Say which sources may set a class's attribute.
///
/// A lower source never overwrites a higher one's value until that value is
/// `stale_after_days` old; the import reports each attribute it skipped. The class must be
/// known and have the attribute (422 naming the field); one rule per class and attribute (409
/// `rule_exists`).
#[utoipa::path(
    tag = "cmdb",
    operation_id = "createCmdbReconciliationRule",
    request_body = ReconciliationRuleIn,
    responses((status = 201, description = "Created", body = ReconciliationRuleOut), (status = 409, description = "`rule_exists`", body = ProblemJson, content_type = "application/problem+json"), (status = 422, description = "Invalid fields", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["cmdb:admin"]))
)]
#[post("")]
pub async fn create_reconciliation_rule(
    state: web::Data<CatalogueService>,
    auth: Auth<CmdbAdmin>,
    body: Json<ReconciliationRuleIn>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let lineage = auth.tenant.lineage();
    let txn = begin_scoped(&state.db, lineage).await?;
    let classes = tree(&txn, lineage).await?;
    let attribute = input.attribute.unwrap_or_else(|| "*".into());
    let mut v = Validator::new();
    match classes.get(&input.class) {
        None => known_class(&mut v, &classes, "/class", &input.class),
        Some(class) => {
            let has = class.effective_schema["properties"]
                .get(&attribute)
                .is_some();
            if attribute != "*" && !has {
                v.push(FieldError::new(
                    "/attribute",
                    "unknown_attribute",
                    format!("{} has no attribute {attribute}", input.class),
                ));
            }
        }
    }
    if input.precedence.is_empty() {
        v.push(FieldError::new(
            "/precedence",
            "required",
            "at least one source",
        ));
    }
    for (i, source) in input.precedence.iter().enumerate() {
        let bad = source.trim().is_empty() || source.len() > 64;
        if bad || input.precedence[..i].contains(source) {
            v.push(FieldError::new(
                format!("/precedence/{i}"),
                "invalid",
                "a source name (1–64 characters), each once",
            ));
        }
    }
    v.finish()?;
    let rule = ReconRule {
        class: input.class,
        attribute,
        precedence: input.precedence,
        stale_after_days: input.stale_after_days,
    };
    let tenant = auth.tenant_id();
    platform::tenancy::scope_to(&txn, &[tenant]).await?;
    let row = match sharing::insert_recon_rule(&txn, tenant, &rule).await {
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Err(ApiError::conflict(
                "rule_exists",
                "a rule for this class and attribute exists",
            ));
        }
        other => other?,
    };
    txn.commit().await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(recon_out(&row)))
}

/// Remove one of the tenant's reconciliation rules.
///
/// Values already set stay; later imports follow the remaining rules.
#[utoipa::path(
    tag = "cmdb",
    operation_id = "deleteCmdbReconciliationRule",
    params(("id" = Uuid, Path, description = "The rule's id.")),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such rule of this tenant", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["cmdb:admin"]))
)]
#[delete("/{id}")]
pub async fn delete_reconciliation_rule(
    state: web::Data<CatalogueService>,
    auth: Auth<CmdbAdmin>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let row = sharing::find_recon_rule(&txn, tenant, *id)
        .await?
        .ok_or_else(|| ApiError::not_found("reconciliation rule"))?;
    sharing::delete_recon_rule(&txn, row.id).await?;
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
