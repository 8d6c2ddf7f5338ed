//! `/api/v1/catalogue/items`: what requesters order, each on its form (JSON Schema 2020-12),
//! with its price, who may order it, its approval policy and its fulfilment plan. A provider's
//! published items reach every tenant below it (see `effective`).
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
    validate::{Validator, multiline, text},
};
use sea_orm::DatabaseTransaction;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::{
    references::{References, check_references, sees_cost},
    shared::{nullable, open_service, versioned},
};
use crate::{
    CatalogueService,
    domain::{
        form::Form,
        item::{
            ApprovalPolicy, Availability, FormSchema, FulfilmentPlan, ItemChanges, ItemState,
            NewItem, parse_amount, parse_currency, parse_key,
        },
        portfolio::Stage,
    },
    events,
    store::{
        items::{self as store, Item, ItemFilter},
        offerings, services,
    },
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get)
        .service(update)
        .service(transition);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24b5e-8a20-7b1e-8c2d-3e4f5a6b7c81",
    "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
    "key": "new-laptop",
    "name": "New laptop",
    "description": "A standard or performance laptop, delivered to your desk.",
    "service_id": "01a24b5e-6f10-7a7e-9d3c-5b8f2e1c4d20",
    "offering_id": null,
    "category_id": null,
    "state": "published",
    "form_schema": {"type": "object", "properties": {"model": {"type": "string", "enum": ["standard-14", "performance-16"]}}, "required": ["model"]},
    "price_amount": "1200.00",
    "currency": "EUR",
    "max_quantity": 5,
    "availability": {"tenant_ids": [], "group_ids": []},
    "approval_policy": null,
    "fulfilment_plan": {"stages": [{"name": "Deliver", "tasks": [{"name": "Hand over", "group_id": "01a24233-c4f0-7d1e-8f3a-2b6c9d0e1f23"}]}]},
    "version": 2,
    "created_at": "2026-12-06T09:00:00Z",
    "updated_at": "2026-12-06T09:05:00Z"
}))]
pub struct ItemOut {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub key: String,
    pub name: String,
    pub description: String,
    pub service_id: Uuid,
    pub offering_id: Option<Uuid>,
    pub category_id: Option<Uuid>,
    pub state: ItemState,
    /// The request form: a JSON Schema 2020-12 whose properties are the variables.
    #[schema(value_type = FormSchema)]
    pub form_schema: Value,
    /// Decimal string, two decimals.
    pub price_amount: Option<String>,
    pub currency: Option<String>,
    /// What the item costs the provider: shown to the provider's staff only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_amount: Option<String>,
    pub max_quantity: i32,
    pub availability: Availability,
    pub approval_policy: Option<ApprovalPolicy>,
    pub fulfilment_plan: FulfilmentPlan,
    /// Send it back as `If-Match: "<version>"` to change the item.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

platform::page_schema!(ItemPage, ItemOut);

pub fn out(i: Item, with_cost: bool) -> Result<ItemOut, ApiError> {
    Ok(ItemOut {
        availability: i.availability()?,
        approval_policy: i.approval_policy()?,
        fulfilment_plan: i.fulfilment_plan()?,
        id: i.id,
        tenant_id: i.tenant_id,
        key: i.key,
        name: i.name,
        description: i.description,
        service_id: i.service_id,
        offering_id: i.offering_id,
        category_id: i.category_id,
        state: i.state,
        form_schema: i.form_schema,
        price_amount: i.price_amount,
        currency: i.currency,
        cost_amount: i.cost_amount.filter(|_| with_cost),
        max_quantity: i.max_quantity,
        version: i.version,
        created_at: i.created_at,
        updated_at: i.updated_at,
    })
}

fn respond(i: Item, status: StatusCode, with_cost: bool) -> Result<HttpResponse, ApiError> {
    let (version, id) = (i.version, i.id);
    Ok(versioned(status, version, "/api/v1/catalogue/items", id).json(out(i, with_cost)?))
}

async fn load(txn: &DatabaseTransaction, tenant: TenantId, id: Uuid) -> Result<Item, ApiError> {
    store::find(txn, tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("item"))
}

fn default_form() -> Value {
    json!({"type": "object", "properties": {}})
}

fn default_max_quantity() -> i32 {
    10
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "key": "new-laptop",
    "name": "New laptop",
    "service_id": "01a24b5e-6f10-7a7e-9d3c-5b8f2e1c4d20",
    "form_schema": {"type": "object", "properties": {"model": {"type": "string", "enum": ["standard-14", "performance-16"]}}, "required": ["model"]},
    "price_amount": "1200.00",
    "currency": "EUR",
    "fulfilment_plan": {"stages": [{"name": "Deliver", "tasks": [{"name": "Hand over", "group_id": "01a24233-c4f0-7d1e-8f3a-2b6c9d0e1f23"}]}]}
}))]
pub struct ItemIn {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub service_id: Uuid,
    pub offering_id: Option<Uuid>,
    pub category_id: Option<Uuid>,
    /// JSON Schema 2020-12, at most 64 KiB, local `$ref` only (default: no variables).
    #[serde(default = "default_form")]
    #[schema(value_type = FormSchema)]
    pub form_schema: Value,
    pub price_amount: Option<String>,
    pub currency: Option<String>,
    /// Provider staff only.
    pub cost_amount: Option<String>,
    /// 1–1,000 per request (default 10).
    #[serde(default = "default_max_quantity")]
    pub max_quantity: i32,
    #[serde(default)]
    pub availability: Availability,
    pub approval_policy: Option<ApprovalPolicy>,
    pub fulfilment_plan: FulfilmentPlan,
}

fn quantity(pointer: &str, max: i32) -> Result<i32, FieldError> {
    if (1..=1000).contains(&max) {
        Ok(max)
    } else {
        Err(FieldError::new(
            pointer,
            "out_of_range",
            "max_quantity is 1–1,000",
        ))
    }
}

fn amount(v: &mut Validator, pointer: &str, raw: Option<&str>) -> Option<Option<String>> {
    match raw {
        None => Some(None),
        Some(raw) => v.check(parse_amount(pointer, raw)).map(Some),
    }
}

fn form(v: &mut Validator, schema: Value) -> Option<Form> {
    match Form::parse("/form_schema", schema) {
        Ok(form) => Some(form),
        Err(errors) => {
            errors.into_iter().for_each(|e| v.push(e));
            None
        }
    }
}

impl TryFrom<ItemIn> for NewItem {
    type Error = Vec<FieldError>;

    fn try_from(input: ItemIn) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let key = v.check(parse_key("/key", &input.key));
        let name = v.check(text("/name", &input.name, 200));
        let description = v.check(multiline("/description", &input.description, 20_000));
        let form = form(&mut v, input.form_schema);
        let price = amount(&mut v, "/price_amount", input.price_amount.as_deref());
        let cost = amount(&mut v, "/cost_amount", input.cost_amount.as_deref());
        let currency = match input.currency.as_deref() {
            Some(c) => v.check(parse_currency("/currency", c)).map(Some),
            None if input.price_amount.is_some() || input.cost_amount.is_some() => {
                v.push(FieldError::new(
                    "/currency",
                    "required",
                    "an amount needs its currency",
                ));
                None
            }
            None => Some(None),
        };
        let max_quantity = v.check(quantity("/max_quantity", input.max_quantity));
        let parsed = (|| {
            Some(NewItem {
                key: key?,
                name: name?,
                description: description?,
                service_id: input.service_id,
                offering_id: input.offering_id,
                category_id: input.category_id,
                form: form?,
                price_amount: price?,
                currency: currency?,
                cost_amount: cost?,
                max_quantity: max_quantity?,
                availability: input.availability,
                approval_policy: input.approval_policy,
                fulfilment_plan: input.fulfilment_plan,
            })
        })();
        v.finish_with(parsed)
    }
}

/// Add an item to the acting tenant's catalogue, as a draft.
///
/// The form is a JSON Schema 2020-12 object whose `properties` are the variables, each with a
/// `type`; `x-itsm-ref: user|group|ci` marks an id of the requester's tenant; `if`/`then`/`else`
/// are allowed, `$ref` only locally; at most 64 KiB. The service must be the tenant's and not
/// retired, the offering one of its offerings; the groups and users of the approval policy and
/// fulfilment plan the tenant's; `n_of` between 1 and the step's eligible approvers. Every
/// problem is reported at once (422 with `errors[]`). Keys are unique per tenant (409
/// `key_taken`).
#[utoipa::path(
    tag = "items",
    operation_id = "createItem",
    request_body = ItemIn,
    responses((status = 201, description = "Created", body = ItemOut), (status = 409, description = "`key_taken`", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["catalogue:write"]))
)]
#[post("")]
pub async fn create(
    state: web::Data<CatalogueService>,
    auth: Auth<CatalogueWrite>,
    body: Json<ItemIn>,
) -> Result<HttpResponse, ApiError> {
    let new = NewItem::try_from(body.0)?;
    let tenant = auth.tenant_id();
    let reach = auth.list_scope(Some("*")).await?;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let refs = References {
        policy: new.approval_policy.as_ref(),
        plan: Some(&new.fulfilment_plan),
        availability: Some(&new.availability),
        category: new.category_id,
        cost: new.cost_amount.is_some(),
        reach: &reach,
    };
    let mut errors = check_references(&txn, &auth, refs).await?;
    errors.extend(open_service(&txn, tenant, new.service_id, "items").await?);
    if let Some(offering) = new.offering_id {
        match offerings::find(&txn, tenant, offering).await? {
            Some(o) if o.service_id == new.service_id => {}
            Some(_) => errors.push(FieldError::new(
                "/offering_id",
                "offering_of_another_service",
                "the offering belongs to another service",
            )),
            None => errors.push(FieldError::new(
                "/offering_id",
                "unknown_reference",
                "no such offering in this tenant",
            )),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    if store::find_by_key(&txn, tenant, &new.key).await?.is_some() {
        return Err(ApiError::conflict("key_taken", "another item has that key")
            .with_extra(json!({"pointer": "/key"})));
    }
    let i = store::insert(&txn, tenant, new).await?;
    txn.commit().await?;
    respond(i, StatusCode::CREATED, sees_cost(&auth))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only items in this state.
    pub state: Option<ItemState>,
    /// Only the items of this service.
    pub service_id: Option<Uuid>,
    /// Only the items of this category.
    pub category_id: Option<Uuid>,
}

/// The acting tenant's own items, a page at a time.
///
/// Oldest first, in every state (what requesters may order is `GET
/// /api/v1/catalogue/effective`). Filters: `state`, `service_id`, `category_id`.
#[utoipa::path(
    tag = "items",
    operation_id = "listItems",
    params(ListQuery),
    responses((status = 200, description = "OK", body = ItemPage)),
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
    let filter = ItemFilter {
        state: query.state,
        service_id: query.service_id,
        category_id: query.category_id,
    };
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let rows = store::list(&txn, tenant, &filter, page.after, page.limit + 1).await?;
    txn.commit().await?;
    let with_cost = sees_cost(&auth);
    Ok(Page::from_rows(rows, page.limit, |i| i.id)
        .try_map(|i| out(i, with_cost))?
        .respond(&req))
}

/// Read one of the acting tenant's items.
///
/// With its form, price, availability, approval policy, fulfilment plan and version (also the
/// `ETag`, to send back as `If-Match`). `cost_amount` only for the provider's staff.
#[utoipa::path(
    tag = "items",
    operation_id = "getItem",
    params(("id" = Uuid, Path, description = "The item's id.")),
    responses((status = 200, description = "OK", body = ItemOut)),
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
    let i = load(&txn, tenant, *id).await?;
    txn.commit().await?;
    respond(i, StatusCode::OK, sees_cost(&auth))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"price_amount": "1250.00"}))]
pub struct ItemPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub category_id: Option<Option<Uuid>>,
    #[schema(value_type = Option<FormSchema>)]
    pub form_schema: Option<Value>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub price_amount: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub currency: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub cost_amount: Option<Option<String>>,
    pub max_quantity: Option<i32>,
    pub availability: Option<Availability>,
    /// `null` removes the policy (requests need no approval).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<ApprovalPolicy>)]
    pub approval_policy: Option<Option<ApprovalPolicy>>,
    pub fulfilment_plan: Option<FulfilmentPlan>,
}

fn changed_amount(
    v: &mut Validator,
    pointer: &str,
    raw: Option<Option<String>>,
) -> Option<Option<Option<String>>> {
    match raw {
        None => Some(None),
        Some(a) => amount(v, pointer, a.as_deref()).map(Some),
    }
}

impl TryFrom<ItemPatch> for ItemChanges {
    type Error = Vec<FieldError>;

    fn try_from(input: ItemPatch) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let name = input.name.map(|n| v.check(text("/name", &n, 200)));
        let description = input
            .description
            .map(|d| v.check(multiline("/description", &d, 20_000)));
        let form = input.form_schema.map(|s| form(&mut v, s));
        let price = changed_amount(&mut v, "/price_amount", input.price_amount);
        let cost = changed_amount(&mut v, "/cost_amount", input.cost_amount);
        let currency = match input.currency {
            Some(Some(c)) => v
                .check(parse_currency("/currency", &c))
                .map(|c| Some(Some(c))),
            other => Some(other),
        };
        let max_quantity = input
            .max_quantity
            .map(|m| v.check(quantity("/max_quantity", m)));
        let parsed = (|| {
            Some(ItemChanges {
                name: name.map(|n| n.ok_or(())).transpose().ok()?,
                description: description.map(|d| d.ok_or(())).transpose().ok()?,
                category_id: input.category_id,
                form: form.map(|f| f.ok_or(())).transpose().ok()?,
                price_amount: price?,
                currency: currency?,
                cost_amount: cost?,
                max_quantity: max_quantity.map(|m| m.ok_or(())).transpose().ok()?,
                availability: input.availability,
                approval_policy: input.approval_policy,
                fulfilment_plan: input.fulfilment_plan,
            })
        })();
        v.finish_with(parsed)
    }
}

/// Update an item.
///
/// Only the fields sent change, checked as on create; requests already made keep the form and
/// policy they were made with. Send `If-Match` with the `ETag` you read: 412
/// `precondition_failed` when the item changed since.
#[utoipa::path(
    tag = "items",
    operation_id = "updateItem",
    params(("id" = Uuid, Path, description = "The item's id.")),
    request_body = ItemPatch,
    responses((status = 200, description = "OK", body = ItemOut)),
    security(("bearer" = ["catalogue:write"]))
)]
#[patch("/{id}")]
pub async fn update(
    state: web::Data<CatalogueService>,
    auth: Auth<CatalogueWrite>,
    id: web::Path<Uuid>,
    body: Json<ItemPatch>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let changes = ItemChanges::try_from(body.0)?;
    let tenant = auth.tenant_id();
    let reach = auth.list_scope(Some("*")).await?;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let i = load(&txn, tenant, *id).await?;
    check_if_match(&req, i.version)?;
    let refs = References {
        policy: changes.approval_policy.as_ref().and_then(Option::as_ref),
        plan: changes.fulfilment_plan.as_ref(),
        availability: changes.availability.as_ref(),
        category: changes.category_id.flatten(),
        cost: matches!(changes.cost_amount, Some(Some(_))),
        reach: &reach,
    };
    let mut errors = check_references(&txn, &auth, refs).await?;
    let currency = changes.currency.clone().unwrap_or(i.currency.clone());
    let priced = changes
        .price_amount
        .clone()
        .unwrap_or(i.price_amount.clone())
        .is_some()
        || changes
            .cost_amount
            .clone()
            .unwrap_or(i.cost_amount.clone())
            .is_some();
    if priced && currency.is_none() {
        errors.push(FieldError::new(
            "/currency",
            "required",
            "an amount needs its currency",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let i = store::change(&txn, i, changes).await?;
    txn.commit().await?;
    respond(i, StatusCode::OK, sees_cost(&auth))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"to": "published"}))]
pub struct ItemTransitionIn {
    pub to: ItemState,
}

/// Publish, retire or rework an item.
///
/// `draft` → `published` → `retired` → `draft`; any other move is 409 `transition_not_allowed`
/// with `allowed`. Publishing needs a service that is not retired (409 `service_retired`).
/// Publishing and retiring are announced (`itsm.catalogue.item.published.v1`, `…retired.v1`);
/// request items already made go on when an item retires. Send `If-Match` with the `ETag`.
#[utoipa::path(
    tag = "items",
    operation_id = "transitionItem",
    params(("id" = Uuid, Path, description = "The item's id.")),
    request_body = ItemTransitionIn,
    responses((status = 200, description = "OK", body = ItemOut), (status = 409, description = "`transition_not_allowed` (with `allowed`) or `service_retired`", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["catalogue:write"]))
)]
#[post("/{id}/transitions")]
pub async fn transition(
    state: web::Data<CatalogueService>,
    auth: Auth<CatalogueWrite>,
    id: web::Path<Uuid>,
    body: Json<ItemTransitionIn>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let i = load(&txn, tenant, *id).await?;
    check_if_match(&req, i.version)?;
    let allowed = i.state.allowed_moves();
    if !allowed.contains(&body.to) {
        return Err(ApiError::conflict(
            "transition_not_allowed",
            format!(
                "a {} item cannot become {}",
                i.state.as_str(),
                body.to.as_str()
            ),
        )
        .with_extra(json!({"allowed": allowed})));
    }
    if body.to == ItemState::Published {
        let service = services::find(&txn, tenant, i.service_id).await?;
        if service.is_none_or(|s| s.stage == Stage::Retired) {
            return Err(ApiError::conflict(
                "service_retired",
                "the item's service is retired",
            ));
        }
    }
    let i = store::set_state(&txn, i, body.to).await?;
    events::item_state_changed(&txn, &i).await?;
    txn.commit().await?;
    respond(i, StatusCode::OK, sees_cost(&auth))
}
