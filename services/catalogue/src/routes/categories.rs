//! `/api/v1/catalogue/categories`: the tree requesters browse the catalogue by, one per
//! tenant, at most five levels deep.
use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, patch, post, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError, FieldError,
    auth::{
        Auth,
        scopes::{CatalogueRead, CatalogueWrite},
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
use serde_json::json;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::shared::{
    changed_name_and_description, name_and_description, name_taken, nullable, versioned,
};
use crate::{
    CatalogueService,
    domain::category::{CategoryChanges, MAX_DEPTH, NewCategory, Placement, check_placement},
    events,
    store::categories::{self as store, Category},
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get)
        .service(update);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24b5e-8b30-7c2f-9d3e-4f5a6b7c8d90",
    "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
    "parent_id": null,
    "name": "Hardware",
    "description": "Laptops, phones and peripherals.",
    "version": 1,
    "created_at": "2026-12-05T09:00:00Z",
    "updated_at": "2026-12-05T09:00:00Z"
}))]
pub struct CategoryOut {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The category it sits under; `null` at the top.
    pub parent_id: Option<Uuid>,
    pub name: String,
    pub description: String,
    /// Send it back as `If-Match: "<version>"` to change the category.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

platform::page_schema!(CategoryPage, CategoryOut);

fn out(c: Category) -> CategoryOut {
    CategoryOut {
        id: c.id,
        tenant_id: c.tenant_id,
        parent_id: c.parent_id,
        name: c.name,
        description: c.description,
        version: c.version,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

fn respond(c: Category, status: StatusCode) -> HttpResponse {
    versioned(status, c.version, "/api/v1/catalogue/categories", c.id).json(out(c))
}

async fn load(txn: &DatabaseTransaction, tenant: TenantId, id: Uuid) -> Result<Category, ApiError> {
    store::find(txn, tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("category"))
}

/// `id` (a new category when `None`) may go under `parent`: the parent is the tenant's, not
/// the category or below it, and the tree stays within its depth.
async fn check_parent(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Option<Uuid>,
    parent: Option<Uuid>,
) -> Result<(), ApiError> {
    let Some(parent) = parent else {
        return Ok(());
    };
    if store::find(txn, tenant, parent).await?.is_none() {
        return Err(ApiError::validation(vec![FieldError::new(
            "/parent_id",
            "unknown_reference",
            "no such category in this tenant",
        )]));
    }
    let ancestry = store::ancestry(txn, tenant, parent).await?;
    let (me, below) = match id {
        Some(id) => (id, store::height(txn, tenant, id).await?),
        None => (Uuid::nil(), 0),
    };
    match check_placement(me, below, &ancestry) {
        Ok(()) => Ok(()),
        Err(Placement::Cycle) => Err(ApiError::conflict(
            "category_cycle",
            "a category cannot sit under itself or one of its descendants",
        )
        .with_extra(json!({"pointer": "/parent_id"}))),
        Err(Placement::TooDeep) => Err(ApiError::conflict(
            "category_too_deep",
            format!("categories go at most {MAX_DEPTH} levels deep"),
        )
        .with_extra(json!({"pointer": "/parent_id"}))),
    }
}

/// Sibling categories have different names (409 `name_taken`).
async fn check_name(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    parent: Option<Uuid>,
    name: &str,
    except: Option<Uuid>,
) -> Result<(), ApiError> {
    if store::name_taken(txn, tenant, parent, name, except).await? {
        return Err(name_taken("a sibling category has that name"));
    }
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Laptops", "parent_id": "01a24b5e-8b30-7c2f-9d3e-4f5a6b7c8d90"}))]
pub struct CategoryIn {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub parent_id: Option<Uuid>,
}

impl TryFrom<CategoryIn> for NewCategory {
    type Error = Vec<FieldError>;

    fn try_from(input: CategoryIn) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let parsed = name_and_description(&mut v, &input.name, &input.description).map(
            |(name, description)| NewCategory {
                name,
                description,
                parent_id: input.parent_id,
            },
        );
        v.finish_with(parsed)
    }
}

/// Add a category.
///
/// At the top, or under a category of the acting tenant (422 `unknown_reference`); at most
/// five levels deep (409 `category_too_deep`); sibling names differ (409 `name_taken`).
#[utoipa::path(
    tag = "categories",
    operation_id = "createCategory",
    request_body = CategoryIn,
    responses((status = 201, description = "Created", body = CategoryOut), (status = 409, description = "`name_taken` or `category_too_deep`", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["catalogue:write"]))
)]
#[post("")]
pub async fn create(
    state: web::Data<CatalogueService>,
    auth: Auth<CatalogueWrite>,
    body: Json<CategoryIn>,
) -> Result<HttpResponse, ApiError> {
    let new = NewCategory::try_from(body.0)?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    check_parent(&txn, tenant, None, new.parent_id).await?;
    check_name(&txn, tenant, new.parent_id, &new.name, None).await?;
    let c = store::insert(&txn, tenant, new).await?;
    events::category_changed(&txn, &c, true).await?;
    txn.commit().await?;
    Ok(respond(c, StatusCode::CREATED))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only the children of this category; `top` for the top level.
    pub parent: Option<String>,
}

/// The acting tenant's categories, a page at a time.
///
/// Oldest first; `parent` keeps one category's children (`top`: the top level).
#[utoipa::path(
    tag = "categories",
    operation_id = "listCategories",
    params(ListQuery),
    responses((status = 200, description = "OK", body = CategoryPage)),
    security(("bearer" = ["catalogue:read"]))
)]
#[get("")]
pub async fn list(
    state: web::Data<CatalogueService>,
    auth: Auth<CatalogueRead>,
    query: web::Query<ListQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let parent = match query.parent.as_deref() {
        None => None,
        Some("top") => Some(None),
        Some(raw) => Some(Some(Uuid::parse_str(raw).map_err(|_| {
            ApiError::bad_query("parent", "invalid", "parent is a category id or `top`")
        })?)),
    };
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .validate()?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let rows = store::list(&txn, tenant, parent, page.after, page.limit + 1).await?;
    txn.commit().await?;
    Ok(Page::from_rows(rows, page.limit, |c| c.id)
        .map(out)
        .respond(&req))
}

/// Read a category.
///
/// Its name, description, parent and version (also the `ETag`, to send back as `If-Match`).
#[utoipa::path(
    tag = "categories",
    operation_id = "getCategory",
    params(("id" = Uuid, Path, description = "The category's id.")),
    responses((status = 200, description = "OK", body = CategoryOut)),
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
    let c = load(&txn, tenant, *id).await?;
    txn.commit().await?;
    Ok(respond(c, StatusCode::OK))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"parent_id": null}))]
pub struct CategoryPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Moves it (with its subtree); `null` moves it to the top.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub parent_id: Option<Option<Uuid>>,
}

impl TryFrom<CategoryPatch> for CategoryChanges {
    type Error = Vec<FieldError>;

    fn try_from(input: CategoryPatch) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let parsed = changed_name_and_description(&mut v, input.name, input.description).map(
            |(name, description)| CategoryChanges {
                name,
                description,
                parent_id: input.parent_id,
            },
        );
        v.finish_with(parsed)
    }
}

/// Update or move a category.
///
/// Only the fields sent change; a move takes the subtree along and may not put a category under
/// itself or below (409 `category_cycle`) nor deeper than five levels (409
/// `category_too_deep`). Send `If-Match` with the `ETag` you read.
#[utoipa::path(
    tag = "categories",
    operation_id = "updateCategory",
    params(("id" = Uuid, Path, description = "The category's id.")),
    request_body = CategoryPatch,
    responses((status = 200, description = "OK", body = CategoryOut), (status = 409, description = "`name_taken`, `category_cycle` or `category_too_deep`", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["catalogue:write"]))
)]
#[patch("/{id}")]
pub async fn update(
    state: web::Data<CatalogueService>,
    auth: Auth<CatalogueWrite>,
    id: web::Path<Uuid>,
    body: Json<CategoryPatch>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let changes = CategoryChanges::try_from(body.0)?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let c = load(&txn, tenant, *id).await?;
    check_if_match(&req, c.version)?;
    let parent = changes.parent_id.unwrap_or(c.parent_id);
    if changes.parent_id.is_some() {
        check_parent(&txn, tenant, Some(c.id), parent).await?;
    }
    let name = changes.name.as_deref().unwrap_or(&c.name);
    if changes.name.is_some() || changes.parent_id.is_some() {
        check_name(&txn, tenant, parent, name, Some(c.id)).await?;
    }
    let c = store::change(&txn, c, changes).await?;
    events::category_changed(&txn, &c, false).await?;
    txn.commit().await?;
    Ok(respond(c, StatusCode::OK))
}
