//! `/api/v1/catalogue/items/{id}/override`: a tenant's own take on an item it inherits from a
//! provider above it (hide it, rename it, approve it its own way, or, for the provider's staff,
//! price it for this customer). Mounted with the items (`items::routes`).
use actix_web::{HttpRequest, HttpResponse, delete, get, http::StatusCode, put, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError, FieldError,
    auth::{
        Auth,
        scopes::{CatalogueRead, CatalogueWrite},
    },
    error::Problem as ProblemJson,
    json::Json,
    precondition::check_if_match,
    tenancy::begin_scoped,
    validate::{Validator, text},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::{
    references::{References, check_references},
    shared::versioned,
};
use crate::{
    CatalogueService,
    domain::{
        effective::Override,
        item::{ApprovalPolicy, ItemState, parse_amount},
    },
    store::{
        items::{self, Item},
        overrides::{self as store, ItemOverride},
    },
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(put_override)
        .service(get_override)
        .service(delete_override);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "item_id": "01a24b5e-8a20-7b1e-8c2d-3e4f5a6b7c81",
    "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
    "hidden": null,
    "name": null,
    "approval_policy": null,
    "price_amount": "1150.00",
    "version": 1,
    "updated_at": "2026-12-06T09:00:00Z"
}))]
pub struct OverrideOut {
    pub item_id: Uuid,
    /// The tenant whose override it is.
    pub tenant_id: Uuid,
    pub hidden: Option<bool>,
    pub name: Option<String>,
    pub approval_policy: Option<ApprovalPolicy>,
    pub price_amount: Option<String>,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

fn respond(o: ItemOverride) -> Result<HttpResponse, ApiError> {
    let parsed = o.parsed()?;
    let body = OverrideOut {
        item_id: o.item_id,
        tenant_id: o.tenant_id,
        hidden: parsed.hidden,
        name: parsed.name,
        approval_policy: parsed.approval_policy,
        price_amount: parsed.price_amount,
        version: o.version,
        updated_at: o.updated_at,
    };
    Ok(versioned(StatusCode::OK, o.version, "", o.id).json(body))
}

/// The published item `id` of a provider above the acting tenant (404 for anything else: a
/// tenant learns nothing of items that do not reach it), or 409 `own_item` for its own.
async fn inherited<S: platform::auth::RequiredScope>(
    txn: &sea_orm::DatabaseTransaction,
    auth: &Auth<S>,
    id: Uuid,
) -> Result<Item, ApiError> {
    let item = items::find_in(txn, auth.tenant.lineage(), id)
        .await?
        .filter(|i| i.state == ItemState::Published)
        .ok_or_else(|| ApiError::not_found("item"))?;
    if item.tenant_id == auth.tenant_id().as_uuid() {
        return Err(ApiError::conflict(
            "own_item",
            "this is the tenant's own item: change it, do not override it",
        ));
    }
    Ok(item)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"hidden": false, "price_amount": "1150.00"}))]
pub struct OverrideIn {
    /// `true` takes it out of this tenant's (and those below it) effective catalogue.
    pub hidden: Option<bool>,
    pub name: Option<String>,
    /// Replaces the provider's policy for this tenant's requests.
    pub approval_policy: Option<ApprovalPolicy>,
    /// The provider's staff only (403 otherwise).
    pub price_amount: Option<String>,
}

impl TryFrom<OverrideIn> for Override {
    type Error = Vec<FieldError>;

    fn try_from(input: OverrideIn) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let name = input.name.map(|n| v.check(text("/name", &n, 200)));
        let price = input
            .price_amount
            .map(|p| v.check(parse_amount("/price_amount", &p)));
        let parsed = (|| {
            Some(Override {
                tenant_id: Uuid::nil(),
                hidden: input.hidden,
                name: name.map(|n| n.ok_or(())).transpose().ok()?,
                approval_policy: input.approval_policy,
                price_amount: price.map(|p| p.ok_or(())).transpose().ok()?,
            })
        })();
        v.finish_with(parsed)
    }
}

/// Set the acting tenant's override of an item it inherits.
///
/// Replaces the whole override: a field left out is inherited again. `hidden`, `name` and
/// `approval_policy` (its groups and users the acting tenant's) are the tenant's to set;
/// `price_amount` only a provider's staff may set (403 `price_is_the_providers`). The item must
/// be a published item of a provider above the acting tenant (404 otherwise; 409 `own_item`
/// for the tenant's own).
#[utoipa::path(
    tag = "items",
    operation_id = "putItemOverride",
    params(("id" = Uuid, Path, description = "The inherited item's id.")),
    request_body = OverrideIn,
    responses((status = 200, description = "OK", body = OverrideOut), (status = 403, description = "`price_is_the_providers`", body = ProblemJson, content_type = "application/problem+json"), (status = 409, description = "`own_item`", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["catalogue:write"]))
)]
#[put("/{id}/override")]
pub async fn put_override(
    state: web::Data<CatalogueService>,
    auth: Auth<CatalogueWrite>,
    id: web::Path<Uuid>,
    body: Json<OverrideIn>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let o = Override::try_from(body.0)?;
    if o.price_amount.is_some() && !auth.principal.reaches_descendants() {
        return Err(ApiError::forbidden(
            "price_is_the_providers",
            "only the provider's staff set a customer's price",
        ));
    }
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, auth.tenant.lineage()).await?;
    let item = inherited(&txn, &auth, *id).await?;
    if let Some(existing) = store::find(&txn, tenant, item.id).await? {
        check_if_match(&req, existing.version)?;
    }
    let refs = References {
        policy: o.approval_policy.as_ref(),
        plan: None,
        availability: None,
        category: None,
        cost: false,
        reach: &[],
    };
    let errors = check_references(&txn, &auth, refs).await?;
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let saved = store::put(&txn, tenant, item.id, o).await?;
    txn.commit().await?;
    respond(saved)
}

/// Read the acting tenant's override of an item it inherits.
///
/// The fields it sets (the others are inherited); 404 when the tenant has none, or the item
/// does not reach the tenant.
#[utoipa::path(
    tag = "items",
    operation_id = "getItemOverride",
    params(("id" = Uuid, Path, description = "The inherited item's id.")),
    responses((status = 200, description = "OK", body = OverrideOut)),
    security(("bearer" = ["catalogue:read"]))
)]
#[get("/{id}/override")]
pub async fn get_override(
    state: web::Data<CatalogueService>,
    auth: Auth<CatalogueRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let txn = begin_scoped(&state.db, auth.tenant.lineage()).await?;
    let item = inherited(&txn, &auth, *id).await?;
    let found = store::find(&txn, auth.tenant_id(), item.id).await?;
    txn.commit().await?;
    respond(found.ok_or_else(|| ApiError::not_found("override"))?)
}

/// Drop the acting tenant's override of an item it inherits.
///
/// The item is inherited again as its provider (and the tenants in between) left it. Send
/// `If-Match` with the override's `ETag`.
#[utoipa::path(
    tag = "items",
    operation_id = "deleteItemOverride",
    params(("id" = Uuid, Path, description = "The inherited item's id.")),
    responses((status = 204, description = "Removed")),
    security(("bearer" = ["catalogue:write"]))
)]
#[delete("/{id}/override")]
pub async fn delete_override(
    state: web::Data<CatalogueService>,
    auth: Auth<CatalogueWrite>,
    id: web::Path<Uuid>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let txn = begin_scoped(&state.db, auth.tenant.lineage()).await?;
    let item = inherited(&txn, &auth, *id).await?;
    let found = store::find(&txn, auth.tenant_id(), item.id)
        .await?
        .ok_or_else(|| ApiError::not_found("override"))?;
    check_if_match(&req, found.version)?;
    store::delete(&txn, found).await?;
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
