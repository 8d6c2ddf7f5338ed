//! `/api/v1/cmdb/classes`: the kinds of configuration item. The built-in classes every tenant
//! has, plus those a tenant or its provider defines, each adding typed attributes to its
//! parent's (inherited, never retyped).
use actix_web::{HttpResponse, get, http::StatusCode, post, web};
use platform::{
    ApiError, FieldError,
    auth::{
        Auth,
        scopes::{CmdbAdmin, CmdbRead},
    },
    error::Problem as ProblemJson,
    json::Json,
    tenancy::begin_scoped,
    validate::{Validator, text},
};
use sea_orm::SqlErr;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    CatalogueService,
    domain::cmdb::{
        Class, ClassDef, MAX_CLASS_DEPTH, check_identification_rules, check_key, effective_schema,
        path_of,
    },
    store::cmdb as store,
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create).service(list).service(get);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "key": "linux_server",
    "name": "Linux server",
    "parent": "server",
    "path": "server/linux_server",
    "built_in": true,
    "tenant_id": null,
    "attribute_schema": {"type": "object", "properties": {"kernel": {"type": "string"}}},
    "effective_schema": {"type": "object", "properties": {"serial_number": {"type": "string"}, "hostname": {"type": "string"}, "cpu_count": {"type": "integer", "minimum": 1}, "kernel": {"type": "string"}}},
    "identification_rules": []
}))]
pub struct ClassOut {
    pub key: String,
    pub name: String,
    /// The class it extends; `null` at the top.
    pub parent: Option<String>,
    /// Keys from the top class down to this one, joined by `/`.
    pub path: String,
    /// Every tenant has it.
    pub built_in: bool,
    /// The tenant that defined it; `null` for a built-in class.
    pub tenant_id: Option<Uuid>,
    /// The attributes this class adds (JSON Schema 2020-12).
    pub attribute_schema: Value,
    /// Its attributes with every ancestor's: what a CI of the class is checked against.
    pub effective_schema: Value,
    /// Ordered attribute sets that identify a CI of the class.
    pub identification_rules: Vec<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "items": [{"key": "server", "name": "Server", "parent": null, "path": "server", "built_in": true, "tenant_id": null,
               "attribute_schema": {"type": "object", "properties": {"hostname": {"type": "string"}}},
               "effective_schema": {"type": "object", "properties": {"hostname": {"type": "string"}}},
               "identification_rules": [["serial_number"], ["hostname"]]}],
    "next_cursor": null
}))]
pub struct ClassList {
    pub items: Vec<ClassOut>,
    /// Always `null`: every class fits on one page.
    pub next_cursor: Option<String>,
}

fn out(c: &Class) -> ClassOut {
    ClassOut {
        key: c.def.key.clone(),
        name: c.def.name.clone(),
        parent: c.def.parent.clone(),
        path: c.path.clone(),
        built_in: c.tenant_id.is_none(),
        tenant_id: c.tenant_id,
        attribute_schema: c.def.attribute_schema.clone(),
        effective_schema: c.effective_schema.clone(),
        identification_rules: c.def.identification_rules.clone(),
    }
}

/// The classes the acting tenant sees.
///
/// Built-in classes and those its provider chain or itself defined, top classes first.
#[utoipa::path(
    tag = "cmdb",
    operation_id = "listCmdbClasses",
    responses((status = 200, description = "OK", body = ClassList)),
    security(("bearer" = ["cmdb:read"]))
)]
#[get("")]
pub async fn list(
    state: web::Data<CatalogueService>,
    auth: Auth<CmdbRead>,
) -> Result<HttpResponse, ApiError> {
    let lineage = auth.tenant.lineage();
    let txn = begin_scoped(&state.db, lineage).await?;
    let tree = store::classes(&txn, lineage).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(ClassList {
        items: tree.all().into_iter().map(out).collect(),
        next_cursor: None,
    }))
}

/// Read a class.
///
/// Its own attributes, those it has with its ancestors' (`effective_schema`) and its
/// identification rules; 404 for a class the acting tenant does not see.
#[utoipa::path(
    tag = "cmdb",
    operation_id = "getCmdbClass",
    params(("key" = String, Path, description = "The class's key.")),
    responses((status = 200, description = "OK", body = ClassOut), (status = 404, description = "No such class for this tenant", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["cmdb:read"]))
)]
#[get("/{key}")]
pub async fn get(
    state: web::Data<CatalogueService>,
    auth: Auth<CmdbRead>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let lineage = auth.tenant.lineage();
    let txn = begin_scoped(&state.db, lineage).await?;
    let tree = store::classes(&txn, lineage).await?;
    txn.commit().await?;
    let class = tree.get(&key).ok_or_else(|| ApiError::not_found("class"))?;
    Ok(HttpResponse::Ok().json(out(class)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "key": "storage_array",
    "name": "Storage array",
    "parent": null,
    "attribute_schema": {"type": "object", "properties": {"serial_number": {"type": "string"}, "capacity_tb": {"type": "number", "minimum": 0}}},
    "identification_rules": [["serial_number"]]
}))]
pub struct ClassIn {
    pub key: String,
    pub name: String,
    pub parent: Option<String>,
    /// JSON Schema 2020-12 of the attributes it adds: `{"type": "object", "properties": {…}}`,
    /// each property typed.
    #[serde(default = "empty_schema")]
    pub attribute_schema: Value,
    #[serde(default)]
    pub identification_rules: Vec<Vec<String>>,
}

fn key_taken() -> ApiError {
    ApiError::conflict("key_taken", "a class with that key exists")
        .with_extra(json!({"pointer": "/key"}))
}

fn empty_schema() -> Value {
    json!({"type": "object", "properties": {}})
}

/// Define a class.
///
/// For the acting tenant and its customers. The key is new to the tenant (409 `key_taken`,
/// built-in keys included); the parent is a class it sees (422 `unknown_reference`); the
/// schema adds attributes and never redeclares an inherited one (422 `retyped`);
/// identification rules name attributes the class has (422 `unknown_attribute`).
#[utoipa::path(
    tag = "cmdb",
    operation_id = "createCmdbClass",
    request_body = ClassIn,
    responses((status = 201, description = "Created", body = ClassOut), (status = 409, description = "`key_taken`", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["cmdb:admin"]))
)]
#[post("")]
pub async fn create(
    state: web::Data<CatalogueService>,
    auth: Auth<CmdbAdmin>,
    body: Json<ClassIn>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let mut v = Validator::new();
    let key = v.check(check_key("/key", &input.key));
    let name = v.check(text("/name", &input.name, 120));
    let name = v.finish_with(key.and(name))?;
    let tenant = auth.tenant_id();
    let lineage = auth.tenant.lineage();
    let txn = begin_scoped(&state.db, lineage).await?;
    let tree = store::classes(&txn, lineage).await?;
    if tree.get(&input.key).is_some() {
        return Err(key_taken());
    }
    let parent = match &input.parent {
        None => None,
        Some(p) => Some(tree.get(p).ok_or_else(|| {
            ApiError::validation(vec![FieldError::new(
                "/parent",
                "unknown_reference",
                "no such class",
            )])
        })?),
    };
    let path = path_of(parent.map(|p| p.path.as_str()), &input.key);
    if path.split('/').count() > MAX_CLASS_DEPTH {
        return Err(ApiError::validation(vec![FieldError::new(
            "/parent",
            "too_deep",
            format!("classes go at most {MAX_CLASS_DEPTH} levels deep"),
        )]));
    }
    let inherited: Vec<&Value> = parent.iter().map(|p| &p.effective_schema).collect();
    let effective = effective_schema(&inherited, &input.attribute_schema)?;
    check_identification_rules(&input.identification_rules, &effective)?;
    let def = ClassDef {
        key: input.key,
        name,
        parent: input.parent,
        attribute_schema: input.attribute_schema,
        identification_rules: input.identification_rules,
    };
    let row = match store::insert_class(&txn, tenant, def.clone(), path.clone()).await {
        // A concurrent definition of the same key won.
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Err(key_taken());
        }
        other => other?,
    };
    txn.commit().await?;
    let class = Class {
        def,
        tenant_id: Some(row.tenant_id),
        path,
        effective_schema: effective,
    };
    Ok(HttpResponse::build(StatusCode::CREATED)
        .insert_header(("Location", format!("/api/v1/cmdb/classes/{}", row.key)))
        .json(out(&class)))
}
