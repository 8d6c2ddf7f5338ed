//! `/api/v1/cmdb/cis`: configuration items. Each is of a class whose attributes it must
//! satisfy; every change appends to its history, which `?as_of=` replays. No hard delete: a CI
//! is retired.
use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, patch, post, put, web};
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
    precondition::check_if_match,
    tenancy::{TenantId, begin_scoped},
    validate::{Validator, text},
};
use sea_orm::DatabaseTransaction;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::shared::versioned;
use crate::{
    CatalogueService,
    domain::{
        cmdb::{CiFields, CiStatus, Class, ClassTree, FieldChange, changes, replay},
        form::Form,
    },
    events,
    store::{
        cmdb::{self as store, Ci, CiFilter, NewCiRow, Provenance},
        cmdb_sharing::{self as sharing, Identity},
    },
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get)
        .service(update)
        .service(history)
        .service(grants)
        .service(set_grants);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24d40-8b30-7c2f-9d3e-4f5a6b7c8d90",
    "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
    "class": "linux_server",
    "class_path": "server/linux_server",
    "name": "web-01",
    "status": "operational",
    "service_id": null,
    "attributes": {"hostname": "web-01.globex.example", "cpu_count": 4},
    "attribute_sources": {"hostname": {"source": "manual", "updated_at": "2026-12-06T09:00:00Z"}, "cpu_count": {"source": "manual", "updated_at": "2026-12-06T09:00:00Z"}},
    "shared": false,
    "read_only": false,
    "version": 1,
    "created_at": "2026-12-06T09:00:00Z",
    "updated_at": "2026-12-06T09:00:00Z"
}))]
pub struct CiOut {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub class: String,
    pub class_path: String,
    pub name: String,
    /// `planned`, `operational`, `maintenance` or `retired`.
    pub status: String,
    pub service_id: Option<Uuid>,
    pub attributes: Value,
    /// For each attribute, the source that last set it and when.
    pub attribute_sources: Value,
    /// Shared by its provider with customers.
    pub shared: bool,
    /// The acting tenant may read it but not change it.
    pub read_only: bool,
    /// Send it back as `If-Match: "<version>"` to change the CI.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

platform::page_schema!(CiPage, CiOut);

fn out(c: Ci, acting: TenantId) -> CiOut {
    CiOut {
        read_only: c.tenant_id != acting.as_uuid(),
        id: c.id,
        tenant_id: c.tenant_id,
        class: c.class,
        class_path: c.class_path,
        name: c.name,
        status: c.status,
        service_id: c.service_id,
        attributes: c.attributes,
        attribute_sources: c.attribute_sources,
        shared: c.shared,
        version: c.version,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

fn respond(ci: Ci, acting: TenantId, status: StatusCode) -> HttpResponse {
    versioned(status, ci.version, "/api/v1/cmdb/cis", ci.id).json(out(ci, acting))
}

async fn load(txn: &DatabaseTransaction, tenant: TenantId, id: Uuid) -> Result<Ci, ApiError> {
    store::find_ci(txn, tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("ci"))
}

/// A CI the acting tenant may change: its own (one shared with it is read-only: 403).
async fn load_writable(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Ci, ApiError> {
    let ci = store::find_visible_ci(txn, &[tenant], id)
        .await?
        .ok_or_else(|| ApiError::not_found("ci"))?;
    if ci.tenant_id != tenant.as_uuid() {
        return Err(ApiError::forbidden(
            "read_only",
            "this CI is shared with you by its provider, who alone changes it",
        ));
    }
    Ok(ci)
}

/// The write refused because `taken`'s identity belongs to another CI: 409 naming the
/// attribute (or the name) that identifies it.
pub fn duplicate_identity(taken: &(Identity, Uuid)) -> ApiError {
    let ((_, key), holder) = taken;
    let first = key.rule.split('+').next().unwrap_or(&key.rule);
    let pointer = if key.rule == crate::domain::cmdb_reconcile::NAME_RULE {
        "/name".to_string()
    } else {
        format!("/attributes/{first}")
    };
    ApiError::conflict(
        "duplicate_identity",
        format!("another CI is already identified by its {}", key.rule),
    )
    .with_extra(json!({"pointer": pointer, "ci_id": holder}))
}

/// `attributes` (sent at `/attributes`) satisfy `class`: every problem, each naming the
/// attribute.
fn check_attributes(class: &Class, attributes: &Value) -> Result<(), Vec<FieldError>> {
    let form = Form::parse("/attributes", class.effective_schema.clone())?;
    form.check("/attributes", attributes).map(|_| ())
}

/// `sources` (`{attribute: {source, updated_at}}`) after `by` set the attributes `names`:
/// each one still in `attributes` is now `by`'s, each removed one has no source.
fn sourced<'a>(
    sources: &Value,
    names: impl Iterator<Item = &'a String>,
    attributes: &Value,
    by: &Provenance,
) -> Value {
    let mut map = sources.as_object().cloned().unwrap_or_default();
    for name in names {
        if attributes.get(name).is_some() {
            map.insert(
                name.clone(),
                json!({"source": by.source, "updated_at": by.at}),
            );
        } else {
            map.remove(name);
        }
    }
    Value::Object(map)
}

fn attribute_map(attributes: &Value) -> BTreeMap<String, Value> {
    attributes
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

fn fields(name: &str, status: &str, attributes: &Value) -> CiFields {
    CiFields {
        name: name.to_string(),
        status: status.to_string(),
        attributes: attribute_map(attributes),
    }
}

fn class_of<'a>(tree: &'a ClassTree, key: &str) -> Result<&'a Class, ApiError> {
    tree.get(key).ok_or_else(|| {
        ApiError::validation(vec![FieldError::new(
            "/class",
            "unknown_class",
            "no such class; see /api/v1/cmdb/classes",
        )])
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"class": "linux_server", "name": "web-01", "attributes": {"hostname": "web-01.globex.example", "cpu_count": 4}}))]
pub struct CiIn {
    pub class: String,
    pub name: String,
    /// `planned`, `operational` (the default), `maintenance` or `retired`.
    pub status: Option<String>,
    pub service_id: Option<Uuid>,
    #[serde(default = "empty_object")]
    pub attributes: Value,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// Record a configuration item.
///
/// Of a class the tenant sees (422 `unknown_class`), with attributes its class allows
/// (422 naming each attribute). The history starts with every field, source `manual`.
#[utoipa::path(
    tag = "cmdb",
    operation_id = "createCi",
    request_body = CiIn,
    responses((status = 201, description = "Created", body = CiOut), (status = 422, description = "Invalid fields", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["cmdb:write"]))
)]
#[post("")]
pub async fn create(
    state: web::Data<CatalogueService>,
    auth: Auth<CmdbWrite>,
    body: Json<CiIn>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let mut v = Validator::new();
    let name = v.check(text("/name", &input.name, 200));
    let status = v.check(CiStatus::parse(
        "/status",
        input.status.as_deref().unwrap_or("operational"),
    ));
    let (name, status) = v.finish_with(name.zip(status))?;
    let tenant = auth.tenant_id();
    let lineage = auth.tenant.lineage();
    let txn = begin_scoped(&state.db, lineage).await?;
    let tree = store::classes(&txn, lineage).await?;
    let class = class_of(&tree, &input.class)?;
    check_attributes(class, &input.attributes)?;
    platform::tenancy::scope_to(&txn, &[tenant]).await?;
    let by = Provenance::manual(auth.principal.subject);
    let after = fields(&name, status.as_str(), &input.attributes);
    let attribute_sources = sourced(&json!({}), after.attributes.keys(), &input.attributes, &by);
    let ci = store::insert_ci(
        &txn,
        tenant,
        NewCiRow {
            class: class.def.key.clone(),
            class_path: class.path.clone(),
            name,
            status: status.as_str().into(),
            service_id: input.service_id,
            attributes: input.attributes,
            attribute_sources,
        },
    )
    .await?;
    if let Some(taken) = sharing::reidentify(&txn, &tree, &ci).await?.first() {
        return Err(duplicate_identity(taken));
    }
    store::append_history(&txn, &ci, &by, changes(None, &after)).await?;
    events::ci_created(&txn, &ci).await?;
    txn.commit().await?;
    Ok(respond(ci, tenant, StatusCode::CREATED))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only CIs of this class and its subclasses.
    pub class: Option<String>,
    /// Only CIs with exactly this name.
    pub name: Option<String>,
    /// Only CIs in this status: `planned`, `operational`, `maintenance` or `retired`.
    pub status: Option<String>,
    /// `*`: the acting tenant's and its customers' (MSP roles).
    pub tenant: Option<String>,
}

/// The tenant's configuration items, a page at a time.
///
/// Oldest first; `class` keeps a class with its subclasses (`server` lists Linux servers
/// too); `?tenant=*` spans an MSP's customers.
#[utoipa::path(
    tag = "cmdb",
    operation_id = "listCis",
    params(ListQuery),
    responses((status = 200, description = "OK", body = CiPage), (status = 400, description = "Invalid query", body = ProblemJson, content_type = "application/problem+json")),
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
    let status = match query.status.as_deref() {
        Some(s) => Some(
            CiStatus::parse("status", s)
                .map_err(|e| ApiError::bad_query("status", "not_allowed", e.detail))?
                .as_str()
                .to_string(),
        ),
        None => None,
    };
    let tenants = auth.list_scope(query.tenant.as_deref()).await?;
    let lineage = auth.tenant.lineage();
    let txn = begin_scoped(&state.db, lineage).await?;
    let class_path = match query.class.as_deref() {
        Some(key) => {
            let tree = store::classes(&txn, lineage).await?;
            let class = tree
                .get(key)
                .ok_or_else(|| ApiError::bad_query("class", "unknown_class", "no such class"))?;
            Some(class.path.clone())
        }
        None => None,
    };
    platform::tenancy::scope_to(&txn, &tenants).await?;
    let filter = CiFilter {
        class_path,
        name: query.name.clone(),
        status,
    };
    let rows = store::list_cis(&txn, &tenants, &filter, page.after, page.limit + 1).await?;
    txn.commit().await?;
    let acting = auth.tenant_id();
    Ok(Page::from_rows(rows, page.limit, |c| c.id)
        .map(|c| out(c, acting))
        .respond(&req))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOfQuery {
    /// An RFC 3339 instant: the CI as it was then, rebuilt from its history.
    pub as_of: Option<String>,
}

/// Read a configuration item, now or as it was.
///
/// `?as_of=<RFC 3339>` rebuilds its name, status and attributes from its history (404 before
/// it existed).
#[utoipa::path(
    tag = "cmdb",
    operation_id = "getCi",
    params(("id" = Uuid, Path, description = "The CI's id."), AsOfQuery),
    responses((status = 200, description = "OK", body = CiOut), (status = 404, description = "No such CI (then)", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["cmdb:read"]))
)]
#[get("/{id}")]
pub async fn get(
    state: web::Data<CatalogueService>,
    auth: Auth<CmdbRead>,
    id: web::Path<Uuid>,
    query: web::Query<AsOfQuery>,
) -> Result<HttpResponse, ApiError> {
    let as_of = match query.as_of.as_deref() {
        Some(raw) => Some(
            DateTime::parse_from_rfc3339(raw)
                .map_err(|_| {
                    ApiError::bad_query("as_of", "invalid_format", "as_of is an RFC 3339 instant")
                })?
                .with_timezone(&Utc),
        ),
        None => None,
    };
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let mut ci = store::find_visible_ci(&txn, &[tenant], *id)
        .await?
        .ok_or_else(|| ApiError::not_found("ci"))?;
    if let Some(as_of) = as_of {
        // A CI's history is its owner's: one shared with the acting tenant has none here.
        let rows = store::history(&txn, tenant, ci.id, None, Some(as_of), None).await?;
        if rows.is_empty() {
            return Err(ApiError::not_found("ci"));
        }
        let was = replay(&rows.into_iter().map(as_change).collect::<Vec<_>>());
        ci.name = was.name;
        ci.status = was.status;
        ci.attributes = Value::Object(was.attributes.into_iter().collect());
    }
    txn.commit().await?;
    Ok(respond(ci, tenant, StatusCode::OK))
}

fn as_change(row: store::HistoryRow) -> FieldChange {
    FieldChange {
        field: row.field,
        old: row.old.unwrap_or(Value::Null),
        new: row.new.unwrap_or(Value::Null),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "maintenance", "attributes": {"cpu_count": 8, "kernel": null}}))]
pub struct CiPatch {
    pub name: Option<String>,
    pub status: Option<String>,
    /// An object merged into the CI's attributes; an attribute set to `null` is removed.
    #[serde(default)]
    pub attributes: Value,
}

/// Change a configuration item.
///
/// Only the fields sent change; attributes merge (`null` removes one) and must still satisfy
/// the class. Each changed field is appended to the history. Send `If-Match` with the `ETag`
/// you read.
#[utoipa::path(
    tag = "cmdb",
    operation_id = "updateCi",
    params(("id" = Uuid, Path, description = "The CI's id.")),
    request_body = CiPatch,
    responses((status = 200, description = "OK", body = CiOut), (status = 412, description = "Changed since read", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["cmdb:write"]))
)]
#[patch("/{id}")]
pub async fn update(
    state: web::Data<CatalogueService>,
    auth: Auth<CmdbWrite>,
    id: web::Path<Uuid>,
    body: Json<CiPatch>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let patch = body.0;
    let mut v = Validator::new();
    let name = patch
        .name
        .as_deref()
        .and_then(|n| v.check(text("/name", n, 200)));
    let status = patch
        .status
        .as_deref()
        .and_then(|s| v.check(CiStatus::parse("/status", s)));
    v.finish()?;
    let tenant = auth.tenant_id();
    let lineage = auth.tenant.lineage();
    let txn = begin_scoped(&state.db, lineage).await?;
    let tree = store::classes(&txn, lineage).await?;
    platform::tenancy::scope_to(&txn, &[tenant]).await?;
    let ci = load_writable(&txn, tenant, *id).await?;
    check_if_match(&req, ci.version)?;
    let mut attributes = attribute_map(&ci.attributes);
    let sent = match patch.attributes {
        Value::Null => Map::new(),
        Value::Object(m) => m,
        _ => {
            return Err(ApiError::validation(vec![FieldError::new(
                "/attributes",
                "invalid_type",
                "attributes are an object of name → value",
            )]));
        }
    };
    let touched: Vec<String> = sent.keys().cloned().collect();
    for (k, val) in sent {
        if val.is_null() {
            attributes.remove(&k);
        } else {
            attributes.insert(k, val);
        }
    }
    let attributes = Value::Object(attributes.into_iter().collect());
    let class = class_of(&tree, &ci.class)?;
    check_attributes(class, &attributes)?;
    let before = fields(&ci.name, &ci.status, &ci.attributes);
    let after = fields(
        name.as_deref().unwrap_or(&ci.name),
        match status {
            Some(s) => s.as_str(),
            None => ci.status.as_str(),
        },
        &attributes,
    );
    let changed = changes(Some(&before), &after);
    if changed.is_empty() {
        txn.commit().await?;
        return Ok(respond(ci, tenant, StatusCode::OK));
    }
    let by = Provenance::manual(auth.principal.subject);
    let sources = sourced(&ci.attribute_sources, touched.iter(), &attributes, &by);
    let ci = store::update_ci(
        &txn,
        ci,
        after.name.clone(),
        after.status.clone(),
        attributes,
        sources,
    )
    .await?;
    let names = changed.iter().map(|c| c.field.clone()).collect();
    let retired = before.status != after.status && after.status == CiStatus::Retired.as_str();
    if let Some(taken) = sharing::reidentify(&txn, &tree, &ci).await?.first() {
        return Err(duplicate_identity(taken));
    }
    store::append_history(&txn, &ci, &by, changed).await?;
    events::ci_updated(&txn, &ci, names, retired).await?;
    txn.commit().await?;
    Ok(respond(ci, tenant, StatusCode::OK))
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24d41-0000-7000-8000-000000000001",
    "at": "2026-12-06T09:00:00Z",
    "actor_id": "01a24233-c456-7186-af34-ba4716863c54",
    "source": "manual",
    "import_id": null,
    "field": "status",
    "old": "planned",
    "new": "operational"
}))]
pub struct HistoryOut {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    /// `manual` for the API, else the import's source.
    pub source: String,
    pub import_id: Option<Uuid>,
    /// `name`, `status` or `attributes.<name>`.
    pub field: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

platform::page_schema!(HistoryPage, HistoryOut);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A configuration item's history, oldest first.
///
/// One entry per changed field: when, who, from which source, old and new value.
#[utoipa::path(
    tag = "cmdb",
    operation_id = "listCiHistory",
    params(("id" = Uuid, Path, description = "The CI's id."), HistoryQuery),
    responses((status = 200, description = "OK", body = HistoryPage), (status = 404, description = "No such CI", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["cmdb:read"]))
)]
#[get("/{id}/history")]
pub async fn history(
    state: web::Data<CatalogueService>,
    auth: Auth<CmdbRead>,
    id: web::Path<Uuid>,
    query: web::Query<HistoryQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .validate()?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let ci = load(&txn, tenant, *id).await?;
    let rows = store::history(&txn, tenant, ci.id, page.after, None, Some(page.limit + 1)).await?;
    txn.commit().await?;
    Ok(Page::from_rows(rows, page.limit, |h| h.id)
        .map(|h| HistoryOut {
            id: h.id,
            at: h.at,
            actor_id: h.actor_id,
            source: h.source,
            import_id: h.import_id,
            field: h.field,
            old: h.old,
            new: h.new,
        })
        .respond(&req))
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tenant_ids": ["01a24233-c456-7186-af34-ba4716863c55"]}))]
pub struct Grants {
    /// The customers the CI is shared with (read-only to them); empty: not shared.
    pub tenant_ids: Vec<Uuid>,
}

/// The customers a CI is shared with.
///
/// Only the CI's owner sees them (404 otherwise).
#[utoipa::path(
    tag = "cmdb",
    operation_id = "getCiGrants",
    params(("id" = Uuid, Path, description = "The CI's id.")),
    responses((status = 200, description = "OK", body = Grants), (status = 404, description = "No such CI", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["cmdb:read"]))
)]
#[get("/{id}/grants")]
pub async fn grants(
    state: web::Data<CatalogueService>,
    auth: Auth<CmdbRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let ci = load(&txn, tenant, *id).await?;
    let tenant_ids = sharing::grantees(&txn, ci.id).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(Grants { tenant_ids }))
}

/// Share a CI with customers.
///
/// The CI's owner (an MSP) lists the customers, within its reach, that may read it and relate
/// their CIs to it; they cannot change it (403 `read_only`). The list replaces the previous
/// one; an empty list stops sharing. Each customer out of reach is named (422).
#[utoipa::path(
    tag = "cmdb",
    operation_id = "setCiGrants",
    params(("id" = Uuid, Path, description = "The CI's id.")),
    request_body = Grants,
    responses((status = 200, description = "OK", body = Grants), (status = 403, description = "Shared with you, not yours", body = ProblemJson, content_type = "application/problem+json"), (status = 422, description = "A tenant out of reach", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["cmdb:write"]))
)]
#[put("/{id}/grants")]
pub async fn set_grants(
    state: web::Data<CatalogueService>,
    auth: Auth<CmdbWrite>,
    id: web::Path<Uuid>,
    body: Json<Grants>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let reach = auth.list_scope(Some("*")).await?;
    let mut wanted = body.0.tenant_ids;
    let errors: Vec<FieldError> = wanted
        .iter()
        .enumerate()
        .filter(|(_, t)| **t == tenant.as_uuid() || !reach.contains(&TenantId(**t)))
        .map(|(i, _)| {
            FieldError::new(
                format!("/tenant_ids/{i}"),
                "unknown_tenant",
                "not a customer within your reach",
            )
        })
        .collect();
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    wanted.sort();
    wanted.dedup();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let ci = load_writable(&txn, tenant, *id).await?;
    let before = sharing::grantees(&txn, ci.id).await?;
    if before != wanted {
        let ci = sharing::set_grants(&txn, ci, &wanted).await?;
        events::ci_grant_changed(&txn, &ci, &wanted).await?;
    }
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(Grants { tenant_ids: wanted }))
}
