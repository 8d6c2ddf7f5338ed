//! `/api/v1/fulfilment-tasks`: the work of a request item's fulfilment stages, stage by stage.
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError,
    auth::{Auth, scopes::RequestFulfil},
    error::Problem as ProblemJson,
    json::Json,
    pagination::{Page, PageQuery},
    precondition::check_if_match,
    tenancy::begin_scoped,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::shared::versioned;
use crate::{
    CatalogueService,
    domain::request::{RitmState, TaskState},
    events,
    store::{
        requests,
        tasks::{self as store, Task},
    },
    workflow,
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(transition);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24b5e-9b20-7b1e-8c2d-3e4f5a6b7c90",
    "number": "TASK0001001-1",
    "request_item_id": "01a24b5e-9a21-7b1e-8c2d-3e4f5a6b7c83",
    "stage": 0,
    "name": "Image the laptop",
    "group_id": "01a24233-c4f0-7d1e-8f3a-2b6c9d0e1f23",
    "state": "open",
    "version": 1,
    "created_at": "2026-12-06T09:00:00Z",
    "updated_at": "2026-12-06T09:00:00Z"
}))]
pub struct TaskOut {
    pub id: Uuid,
    /// `TASK0001001-1`: the request item's number and the task's place in its plan.
    pub number: String,
    pub request_item_id: Uuid,
    /// The fulfilment stage (0 = first) it belongs to.
    pub stage: i32,
    pub name: String,
    pub group_id: Uuid,
    pub state: TaskState,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

platform::page_schema!(TaskPage, TaskOut);

fn out(t: Task) -> TaskOut {
    TaskOut {
        id: t.id,
        number: t.number,
        request_item_id: t.request_item_id,
        stage: t.stage,
        name: t.name,
        group_id: t.group_id,
        state: t.state,
        version: t.version,
        created_at: t.created_at,
        updated_at: t.updated_at,
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only the tasks of this request item.
    pub request_item_id: Option<Uuid>,
    /// Only the tasks of this group (its queue).
    pub group_id: Option<Uuid>,
}

/// Fulfilment tasks of the acting tenant, oldest first.
///
/// `request_item_id` keeps one item's, `group_id` one group's queue. A stage's tasks appear
/// when the stage starts (after the one before it is finished).
#[utoipa::path(
    tag = "fulfilment",
    operation_id = "listFulfilmentTasks",
    params(ListQuery),
    responses((status = 200, description = "OK", body = TaskPage)),
    security(("bearer" = ["request:fulfil"]))
)]
#[get("")]
pub async fn list(
    state: web::Data<CatalogueService>,
    auth: Auth<RequestFulfil>,
    query: web::Query<ListQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .validate()?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let rows = store::list(
        &txn,
        tenant,
        query.request_item_id,
        query.group_id,
        page.after,
        page.limit + 1,
    )
    .await?;
    txn.commit().await?;
    Ok(Page::from_rows(rows, page.limit, |t| t.id)
        .map(out)
        .respond(&req))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"to": "in_progress"}))]
pub struct TaskTransitionIn {
    pub to: TaskState,
}

/// Move a task: `open` → `in_progress` → `done`, or `canceled` before it is done.
///
/// Any other move is 409 `transition_not_allowed` with `allowed`; a task of a closed request
/// item is 409 `request_item_closed`, of one awaiting its requester 409 `awaiting_requester`. When the last task of a stage finishes, the next stage's
/// tasks open; after the last stage the request item is `fulfilled` (and its request closed
/// once all its items are). Send `If-Match` with the task's `ETag`.
#[utoipa::path(
    tag = "fulfilment",
    operation_id = "transitionFulfilmentTask",
    params(("id" = Uuid, Path, description = "The task's id.")),
    request_body = TaskTransitionIn,
    responses((status = 200, description = "OK", body = TaskOut), (status = 409, description = "`transition_not_allowed` (with `allowed`), `request_item_closed` or `awaiting_requester`", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["request:fulfil"]))
)]
#[post("/{id}/transitions")]
pub async fn transition(
    state: web::Data<CatalogueService>,
    auth: Auth<RequestFulfil>,
    id: web::Path<Uuid>,
    body: Json<TaskTransitionIn>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let found = store::find(&txn, tenant, *id)
        .await?
        .ok_or_else(|| ApiError::not_found("task"))?;
    // The item's row is the lock: two tasks of a stage finishing at once start the next once.
    let item = requests::lock_item(&txn, tenant, found.request_item_id, requests::Busy::Wait)
        .await?
        .ok_or_else(|| ApiError::not_found("task"))?;
    let t = store::find(&txn, tenant, *id)
        .await?
        .ok_or_else(|| ApiError::not_found("task"))?;
    check_if_match(&req, t.version)?;
    let allowed = t.state.allowed_moves();
    if !allowed.contains(&body.to) {
        return Err(ApiError::conflict(
            "transition_not_allowed",
            format!(
                "a {} task cannot become {}",
                t.state.as_str(),
                body.to.as_str()
            ),
        )
        .with_extra(json!({"allowed": allowed})));
    }
    if item.state == RitmState::AwaitingRequester {
        return Err(ApiError::conflict(
            "awaiting_requester",
            "the request item waits for its requester: move it back to in_fulfilment first",
        ));
    }
    if item.state != RitmState::InFulfilment {
        return Err(ApiError::conflict(
            "request_item_closed",
            format!("the request item is {}", item.state.as_str()),
        ));
    }
    let from = t.state;
    let t = store::set_state(&txn, t, body.to).await?;
    events::task_moved(&txn, &t, from.as_str()).await?;
    if t.state.is_finished() {
        workflow::after_task(&txn, item).await?;
    }
    txn.commit().await?;
    let (version, id) = (t.version, t.id);
    Ok(versioned(actix_web::http::StatusCode::OK, version, "", id).json(out(t)))
}
