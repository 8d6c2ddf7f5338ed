//! `/api/v1/requests` and `/api/v1/request-items/{id}`: what requesters order from the effective
//! catalogue, each item (RITM) through its approval steps and fulfilment stages.
use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, post, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError, FieldError,
    auth::{
        Auth, RequiredScope,
        scopes::{RequestFulfil, RequestRead, RequestSubmit},
    },
    json::Json,
    pagination::{Page, PageQuery},
    tenancy::{TenantId, begin_scoped},
};
use sea_orm::DatabaseTransaction;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    CatalogueService,
    domain::request::{ApprovalState, RitmState},
    ordering::{self, Orderer, RequestIn, Variables},
    store::{
        approvals,
        requests::{self as store, Request, RequestItem},
    },
    workflow,
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(submit).service(list).service(get);
}

pub fn item_routes(cfg: &mut ServiceConfig) {
    cfg.service(get_item).service(transition_item);
}

/// At most this many items per request.
const MAX_LINES: usize = 20;

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24b5e-9a21-7b1e-8c2d-3e4f5a6b7c83",
    "number": "RITM0001001",
    "request_id": "01a24b5e-9a20-7b1e-8c2d-3e4f5a6b7c82",
    "item_id": "01a24b5e-8a20-7b1e-8c2d-3e4f5a6b7c81",
    "name": "New laptop",
    "quantity": 1,
    "variables": {"model": "performance-16", "justification": "3D rendering", "cost_center": "CC-1234"},
    "price_amount": "1150.00",
    "currency": "EUR",
    "state": "pending_approval",
    "approval_state": "pending",
    "close_reason": null,
    "sla_state": null,
    "sla_due_at": null,
    "version": 1,
    "created_at": "2026-12-06T09:00:00Z",
    "updated_at": "2026-12-06T09:00:00Z"
}))]
pub struct RequestItemOut {
    pub id: Uuid,
    /// `RITM0001001`.
    pub number: String,
    pub request_id: Uuid,
    pub item_id: Uuid,
    /// The item's name as the requester saw it.
    pub name: String,
    pub quantity: i32,
    #[schema(value_type = Variables)]
    pub variables: Value,
    pub price_amount: Option<String>,
    pub currency: Option<String>,
    pub state: RitmState,
    pub approval_state: ApprovalState,
    /// `rejected`, `approval_expired`, `no_eligible_approver`, `fulfilled` or `canceled` once
    /// closed.
    pub close_reason: Option<String>,
    /// Where the item stands against its SLA: `pending`, `on_track`, `at_risk`, `paused`,
    /// `breached`, `met` or `canceled`; null while no SLA definition covers it. Its clocks:
    /// `GET /api/v1/sla/clocks?subject=request_item:{id}`.
    pub sla_state: Option<String>,
    /// The earliest deadline of its running clocks.
    pub sla_due_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24b5e-9a20-7b1e-8c2d-3e4f5a6b7c82",
    "number": "REQ0001001",
    "requester_id": "01a24233-c45f-769f-8803-48c30e8f1d48",
    "state": "open",
    "items": [{"id": "01a24b5e-9a21-7b1e-8c2d-3e4f5a6b7c83", "number": "RITM0001001", "state": "pending_approval", "approval_state": "pending"}]
}))]
pub struct RequestOut {
    pub id: Uuid,
    /// `REQ0001001`.
    pub number: String,
    pub requester_id: Uuid,
    /// `open` until every item is closed, then `closed`.
    pub state: String,
    pub suggestion_session_id: Option<Uuid>,
    pub items: Vec<RequestItemOut>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

platform::page_schema!(RequestPage, RequestOut);

pub fn item_out(i: RequestItem) -> RequestItemOut {
    RequestItemOut {
        id: i.id,
        number: i.number,
        request_id: i.request_id,
        item_id: i.item_id,
        name: i.name,
        quantity: i.quantity,
        variables: i.variables,
        price_amount: i.price_amount,
        currency: i.currency,
        state: i.state,
        approval_state: i.approval_state,
        close_reason: i.close_reason,
        sla_state: i.sla_state,
        sla_due_at: i.sla_due_at,
        version: i.version,
        created_at: i.created_at,
        updated_at: i.updated_at,
    }
}

/// `r` with its items.
fn out(r: Request, items: Vec<RequestItem>) -> RequestOut {
    RequestOut {
        items: items.into_iter().map(item_out).collect(),
        id: r.id,
        number: r.number,
        requester_id: r.requester_id,
        state: r.state,
        suggestion_session_id: r.suggestion_session_id,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

/// Order items from the effective catalogue.
///
/// Each item must be orderable by the caller in the acting tenant (`GET
/// /api/v1/catalogue/effective`); `quantity` 1 to its `max_quantity`; `variables` valid against
/// its form: every missing, mistyped, out-of-enum, pattern-failing or unknown variable and every
/// reference to another tenant's user or group is reported at once, each at its pointer
/// (`/items/0/variables/justification`), and nothing is written. Each item becomes a request
/// item (RITM) that pins the item's version, form answers, price and approval policy: with no
/// policy, or variables matching `auto_approve_when`, it goes straight to fulfilment; otherwise
/// its first approval step's approvers are asked (never the requester).
#[utoipa::path(
    tag = "requests",
    operation_id = "submitRequest",
    request_body = RequestIn,
    responses((status = 201, description = "Created", body = RequestOut)),
    security(("bearer" = ["request:submit"]))
)]
#[post("")]
pub async fn submit(
    state: web::Data<CatalogueService>,
    auth: Auth<RequestSubmit>,
    body: Json<RequestIn>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let lineage = auth.tenant.lineage();
    if body.items.is_empty() || body.items.len() > MAX_LINES {
        return Err(ApiError::validation(vec![FieldError::new(
            "/items",
            "invalid_length",
            format!("a request has 1–{MAX_LINES} items"),
        )]));
    }
    // Numbers come from their own short transactions, before this one: a request's and one per
    // line (a refused request leaves a gap; numbers are unique, not gapless).
    let number = state
        .numbers
        .next(&state.db, "request_numbers", "REQ", tenant)
        .await?;
    let mut item_numbers = Vec::with_capacity(body.items.len());
    for _ in 0..body.items.len() {
        item_numbers.push(
            state
                .numbers
                .next(&state.db, "request_item_numbers", "RITM", tenant)
                .await?,
        );
    }
    let txn = begin_scoped(&state.db, lineage).await?;
    let orderer = Orderer {
        tenant,
        lineage,
        principal: &auth.principal,
    };
    let (request, made) =
        ordering::place(&txn, &state.forms, &orderer, body.0, number, item_numbers).await?;
    txn.commit().await?;
    let location = format!("/api/v1/requests/{}", request.id);
    Ok(HttpResponse::build(StatusCode::CREATED)
        .insert_header(("Location", location))
        .json(out(request, made)))
}

/// Whether the caller sees every request of the tenant (fulfilment staff) or only their own.
fn sees_all<S: RequiredScope>(auth: &Auth<S>) -> bool {
    auth.principal.has_scope("request:fulfil")
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Requests of the acting tenant, a page at a time, with their items.
///
/// A requester sees their own; fulfilment staff (`request:fulfil`) every request of the tenant.
#[utoipa::path(
    tag = "requests",
    operation_id = "listRequests",
    params(ListQuery),
    responses((status = 200, description = "OK", body = RequestPage)),
    security(("bearer" = ["request:read"]))
)]
#[get("")]
pub async fn list(
    state: web::Data<CatalogueService>,
    auth: Auth<RequestRead>,
    query: web::Query<ListQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .validate()?;
    let tenant = auth.tenant_id();
    let mine = (!sees_all(&auth)).then_some(auth.principal.subject);
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let rows = store::list(&txn, tenant, mine, page.after, page.limit + 1).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut items: HashMap<Uuid, Vec<RequestItem>> = HashMap::new();
    for i in store::items_of(&txn, tenant, &ids).await? {
        items.entry(i.request_id).or_default().push(i);
    }
    txn.commit().await?;
    Ok(Page::from_rows(rows, page.limit, |r| r.id)
        .map(|r| {
            let mine = items.remove(&r.id).unwrap_or_default();
            out(r, mine)
        })
        .respond(&req))
}

/// Read a request with its items.
///
/// A requester reads their own (another's is 404), fulfilment staff any of the tenant's.
#[utoipa::path(
    tag = "requests",
    operation_id = "getRequest",
    params(("id" = Uuid, Path, description = "The request's id.")),
    responses((status = 200, description = "OK", body = RequestOut)),
    security(("bearer" = ["request:read"]))
)]
#[get("/{id}")]
pub async fn get(
    state: web::Data<CatalogueService>,
    auth: Auth<RequestRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let r = store::find(&txn, tenant, *id)
        .await?
        .filter(|r| sees_all(&auth) || r.requester_id == auth.principal.subject)
        .ok_or_else(|| ApiError::not_found("request"))?;
    let items = store::items_of(&txn, tenant, &[r.id]).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(r, items)))
}

/// The request item `id` if the caller may see it: its requester, fulfilment staff, or one of
/// its approvers (or their delegate).
pub async fn visible_item<S: RequiredScope>(
    txn: &DatabaseTransaction,
    auth: &Auth<S>,
    tenant: TenantId,
    id: Uuid,
) -> Result<RequestItem, ApiError> {
    let me = auth.principal.subject;
    let Some(item) = store::find_item(txn, tenant, id).await? else {
        return Err(ApiError::not_found("request item"));
    };
    if sees_all(auth) || item.requester_id == me {
        return Ok(item);
    }
    let mut approvers = approvals::delegators_of(txn, tenant, me, platform::record::now()).await?;
    approvers.push(me);
    let filter = approvals::ApprovalFilter {
        approvers: Some(approvers),
        state: None,
        request_item: Some(item.id),
    };
    if approvals::list(txn, tenant, &filter, None, 1)
        .await?
        .is_empty()
    {
        return Err(ApiError::not_found("request item"));
    }
    Ok(item)
}

/// Read a request item (RITM).
///
/// Its pinned name, quantity, variables and price, its state and approval state. Visible to its
/// requester, fulfilment staff and its approvers; 404 to anyone else.
#[utoipa::path(
    tag = "requests",
    operation_id = "getRequestItem",
    params(("id" = Uuid, Path, description = "The request item's id.")),
    responses((status = 200, description = "OK", body = RequestItemOut)),
    security(("bearer" = ["request:read"]))
)]
#[get("/{id}")]
pub async fn get_item(
    state: web::Data<CatalogueService>,
    auth: Auth<RequestRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let item = visible_item(&txn, &auth, tenant, *id).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(item_out(item)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"to": "awaiting_requester"}))]
pub struct RequestItemTransitionIn {
    /// `awaiting_requester` (from `in_fulfilment`) or `in_fulfilment` (from
    /// `awaiting_requester`).
    pub to: RitmState,
}

/// Move a request item by hand: wait for the requester, or resume fulfilment.
///
/// `in_fulfilment` → `awaiting_requester` (its SLA clock pauses, and its tasks wait) →
/// `in_fulfilment`. Approvals and tasks make every other move; asking for one is 409
/// `transition_not_allowed` with `allowed`. Send `If-Match` with the item's `version` to
/// guard against a concurrent change.
#[utoipa::path(
    tag = "requests",
    operation_id = "transitionRequestItem",
    params(("id" = Uuid, Path, description = "The request item's id.")),
    request_body = RequestItemTransitionIn,
    responses((status = 200, description = "OK", body = RequestItemOut), (status = 409, description = "`transition_not_allowed` (with `allowed`)", body = platform::error::Problem, content_type = "application/problem+json")),
    security(("bearer" = ["request:fulfil"]))
)]
#[post("/{id}/transitions")]
pub async fn transition_item(
    state: web::Data<CatalogueService>,
    auth: Auth<RequestFulfil>,
    id: web::Path<Uuid>,
    body: Json<RequestItemTransitionIn>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let item = store::lock_item(&txn, tenant, *id, store::Busy::Wait)
        .await?
        .ok_or_else(|| ApiError::not_found("request item"))?;
    platform::precondition::check_if_match(&req, item.version)?;
    let allowed = item.state.manual_moves();
    if !allowed.contains(&body.to) {
        return Err(ApiError::conflict(
            "transition_not_allowed",
            format!(
                "a request item {} cannot be moved to {} by hand",
                item.state.as_str(),
                body.to.as_str()
            ),
        )
        .with_extra(serde_json::json!({"allowed": allowed})));
    }
    let moved = workflow::move_by_hand(&txn, item, body.to).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(item_out(moved)))
}
