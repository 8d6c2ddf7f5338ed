//! `/api/v1/capacity/thresholds`: what each target's metric must stay on the right side of,
//! how far back a forecast looks and how far ahead it warns, and what a breach does.
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError, FieldError,
    auth::{
        Auth,
        scopes::{CapacityRead, CapacityWrite},
    },
    error::Problem,
    json::Json,
    pagination::{Page, PageQuery},
    tenancy::{TenantId, begin_scoped},
    validate::Validator,
};
use sea_orm::DatabaseTransaction;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    AnalyticsService,
    domain::capacity::{Action, Direction, TargetType, is_metric_name},
    store::capacity::{self as store, NewThreshold, Threshold},
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(get)
        .service(update)
        .service(remove);
}

pub const DEFAULT_LOOKBACK_DAYS: i32 = 14;
pub const DEFAULT_HORIZON_DAYS: i32 = 30;
/// `lookback_days` and `horizon_days` are 1 to this.
const MAX_DAYS: i32 = 365;

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "01a24233-c456-7186-af34-ba4716863c77", "target_type": "ci", "target_id": "01a24233-c456-7186-af34-ba4716863c54", "metric": "disk_used_percent", "limit": 90.0, "direction": "above", "lookback_days": 14, "horizon_days": 30, "action": "improvement", "version": 1, "created_at": "2026-12-01T09:00:00Z", "updated_at": "2026-12-01T09:00:00Z"}))]
#[schema(as = CapacityThreshold)]
pub struct ThresholdOut {
    pub id: Uuid,
    pub target_type: TargetType,
    pub target_id: Uuid,
    pub metric: String,
    pub limit: f64,
    pub direction: Direction,
    pub lookback_days: i32,
    pub horizon_days: i32,
    pub action: Action,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

platform::page_schema!(CapacityThresholdPage, ThresholdOut);

fn out(t: Threshold) -> ThresholdOut {
    ThresholdOut {
        target_type: t.target(),
        direction: t.towards(),
        action: t.on_breach(),
        id: t.id,
        target_id: t.target_id,
        metric: t.metric,
        limit: t.limit,
        lookback_days: t.lookback_days,
        horizon_days: t.horizon_days,
        version: t.version,
        created_at: t.created_at,
        updated_at: t.updated_at,
    }
}

/// Writes the change to the outbox (the threshold's audit trail).
pub async fn announce(
    txn: &DatabaseTransaction,
    row: &Threshold,
    change: &str,
    actor: Option<Uuid>,
) -> Result<(), ApiError> {
    bus::outbox::append(
        txn,
        TenantId(row.tenant_id),
        row.id,
        row.event_version,
        &events::analytics::CapacityThresholdChanged {
            threshold_id: row.id,
            change: change.into(),
            target_type: row.target_type.clone(),
            target_id: row.target_id,
            metric: row.metric.clone(),
            limit: row.limit,
            direction: row.direction.clone(),
            lookback_days: row.lookback_days,
            horizon_days: row.horizon_days,
            action: row.action.clone(),
            actor_id: actor,
        },
    )
    .await?;
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// List capacity thresholds.
///
/// The acting tenant's thresholds, oldest first.
#[utoipa::path(
    tag = "capacity",
    operation_id = "listCapacityThresholds",
    params(ListQuery),
    responses((status = 200, description = "OK", body = CapacityThresholdPage), (status = 400, description = "Invalid query", body = Problem, content_type = "application/problem+json"), (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["capacity:read"]))
)]
#[get("/thresholds")]
pub async fn list(
    state: web::Data<AnalyticsService>,
    auth: Auth<CapacityRead>,
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
    let rows = store::list(&txn, tenant, None, page.after, page.limit + 1).await?;
    txn.commit().await?;
    Ok(Page::from_rows(rows, page.limit, |t| t.id)
        .map(out)
        .respond(&req))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"target_type": "ci", "target_id": "01a24233-c456-7186-af34-ba4716863c54", "metric": "disk_used_percent", "limit": 90.0, "direction": "above"}))]
#[schema(as = CapacityThresholdIn)]
pub struct ThresholdIn {
    pub target_type: TargetType,
    /// A CI or service of the tenant (its own or shared with it).
    pub target_id: Uuid,
    pub metric: String,
    pub limit: f64,
    pub direction: Direction,
    /// The days of samples a forecast fits, 1–365 (default 14).
    pub lookback_days: Option<i32>,
    /// How far ahead a crossing is a predicted breach, in days, 1–365 (default 30).
    pub horizon_days: Option<i32>,
    /// Default `improvement`.
    pub action: Option<Action>,
}

/// The field errors of `t`'s editable fields.
fn check(t: &NewThreshold) -> Result<(), ApiError> {
    let mut v = Validator::new();
    if !is_metric_name(&t.metric) {
        v.push(FieldError::new(
            "/metric",
            "invalid_metric",
            "lower-case letters, digits and _, starting with a letter, at most 64",
        ));
    }
    if !t.limit.is_finite() {
        v.push(FieldError::new("/limit", "not_finite", "must be a number"));
    }
    for (pointer, days) in [
        ("/lookback_days", t.lookback_days),
        ("/horizon_days", t.horizon_days),
    ] {
        if !(1..=MAX_DAYS).contains(&days) {
            v.push(FieldError::new(
                pointer,
                "out_of_range",
                format!("must be 1 to {MAX_DAYS}"),
            ));
        }
    }
    v.finish()
}

fn duplicate() -> ApiError {
    ApiError::conflict(
        "duplicate_threshold",
        "the tenant already watches this metric of this target from this side",
    )
}

/// Create a capacity threshold.
///
/// Its first forecast is computed at once (`GET /api/v1/capacity/forecasts`). One threshold
/// per target, metric and direction (409 `duplicate_threshold`).
#[utoipa::path(
    tag = "capacity",
    operation_id = "createCapacityThreshold",
    request_body = ThresholdIn,
    responses((status = 201, description = "Created", body = ThresholdOut), (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"), (status = 409, description = "`duplicate_threshold`", body = Problem, content_type = "application/problem+json"), (status = 422, description = "A field is invalid, or the target is not in the tenant's CMDB", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["capacity:write"]))
)]
#[post("/thresholds")]
pub async fn create(
    state: web::Data<AnalyticsService>,
    auth: Auth<CapacityWrite>,
    body: Json<ThresholdIn>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let new = NewThreshold {
        target_type: input.target_type,
        target_id: input.target_id,
        metric: input.metric,
        limit: input.limit,
        direction: input.direction,
        lookback_days: input.lookback_days.unwrap_or(DEFAULT_LOOKBACK_DAYS),
        horizon_days: input.horizon_days.unwrap_or(DEFAULT_HORIZON_DAYS),
        action: input.action.unwrap_or(Action::Improvement),
    };
    check(&new)?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let known = store::known_targets(&txn, tenant, new.target_type, &[new.target_id]).await?;
    if known.is_empty() {
        return Err(ApiError::field(
            "/target_id",
            "unknown_reference",
            "no CI or service of this type with this id in the tenant's CMDB",
        ));
    }
    if store::exists(&txn, tenant, &new, None).await? {
        return Err(duplicate());
    }
    let row = store::insert(&txn, tenant, new, Utc::now()).await?;
    announce(&txn, &row, "created", Some(auth.principal.subject)).await?;
    txn.commit().await?;
    state.forecaster.wake();
    Ok(HttpResponse::Created()
        .insert_header((
            "Location",
            format!("/api/v1/capacity/thresholds/{}", row.id),
        ))
        .json(out(row)))
}

async fn load(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
    lock: bool,
) -> Result<Threshold, ApiError> {
    store::find(txn, tenant, id, lock)
        .await?
        .ok_or_else(|| ApiError::not_found("threshold"))
}

/// Read a capacity threshold.
///
/// Its fields; its forecast is at `GET /api/v1/capacity/forecasts?threshold_id=`.
#[utoipa::path(
    tag = "capacity",
    operation_id = "getCapacityThreshold",
    params(("id" = Uuid, Path, description = "The threshold's id.")),
    responses((status = 200, description = "OK", body = ThresholdOut), (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"), (status = 404, description = "Not found (or another tenant's)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["capacity:read"]))
)]
#[get("/thresholds/{id}")]
pub async fn get(
    state: web::Data<AnalyticsService>,
    auth: Auth<CapacityRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let row = load(&txn, tenant, *id, false).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(row)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"limit": 85.0, "horizon_days": 45}))]
#[schema(as = CapacityThresholdPatch)]
pub struct ThresholdPatch {
    pub limit: Option<f64>,
    pub direction: Option<Direction>,
    pub lookback_days: Option<i32>,
    pub horizon_days: Option<i32>,
    pub action: Option<Action>,
}

/// Change a capacity threshold.
///
/// Its limit, direction, windows or action (the target and metric are fixed: create another
/// threshold for another one). The forecast is computed again at once; a breach already acted
/// on does not act again.
#[utoipa::path(
    tag = "capacity",
    operation_id = "updateCapacityThreshold",
    params(("id" = Uuid, Path, description = "The threshold's id.")),
    request_body = ThresholdPatch,
    responses((status = 200, description = "OK", body = ThresholdOut), (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"), (status = 404, description = "Not found (or another tenant's)", body = Problem, content_type = "application/problem+json"), (status = 409, description = "`duplicate_threshold`", body = Problem, content_type = "application/problem+json"), (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["capacity:write"]))
)]
#[patch("/thresholds/{id}")]
pub async fn update(
    state: web::Data<AnalyticsService>,
    auth: Auth<CapacityWrite>,
    id: web::Path<Uuid>,
    body: Json<ThresholdPatch>,
) -> Result<HttpResponse, ApiError> {
    let patch = body.0;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let row = load(&txn, tenant, *id, true).await?;
    let changed = NewThreshold {
        target_type: row.target(),
        target_id: row.target_id,
        metric: row.metric.clone(),
        limit: patch.limit.unwrap_or(row.limit),
        direction: patch.direction.unwrap_or(row.towards()),
        lookback_days: patch.lookback_days.unwrap_or(row.lookback_days),
        horizon_days: patch.horizon_days.unwrap_or(row.horizon_days),
        action: patch.action.unwrap_or(row.on_breach()),
    };
    check(&changed)?;
    if store::exists(&txn, tenant, &changed, Some(row.id)).await? {
        return Err(duplicate());
    }
    let saved = store::save(&txn, row, changed, Utc::now()).await?;
    announce(&txn, &saved, "updated", Some(auth.principal.subject)).await?;
    txn.commit().await?;
    state.forecaster.wake();
    Ok(HttpResponse::Ok().json(out(saved)))
}

/// Delete a capacity threshold.
///
/// Its forecast goes with it; the samples stay. An improvement or incident it opened stays open.
#[utoipa::path(
    tag = "capacity",
    operation_id = "deleteCapacityThreshold",
    params(("id" = Uuid, Path, description = "The threshold's id.")),
    responses((status = 204, description = "Deleted"), (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"), (status = 404, description = "Not found (or another tenant's)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["capacity:write"]))
)]
#[delete("/thresholds/{id}")]
pub async fn remove(
    state: web::Data<AnalyticsService>,
    auth: Auth<CapacityWrite>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let mut row = load(&txn, tenant, *id, true).await?;
    row.event_version += 1;
    announce(&txn, &row, "deleted", Some(auth.principal.subject)).await?;
    store::delete(&txn, row).await?;
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
