//! `/api/v1/improvements`: the continual improvement register (ADR 42).
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError, FieldError,
    auth::{
        Auth, UserId,
        scopes::{ImprovementRead, ImprovementWrite},
    },
    error::Problem,
    json::Json,
    pagination::{Page, PageQuery},
    tenancy::{TenantId, begin_scoped},
    validate::{self, Validator},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::figures::measure;
use crate::{
    AnalyticsService,
    domain::{
        definitions,
        improvement::{self, NewImprovement, Refused, SOURCES, Status, Step},
        period::Period,
        summary::Figures,
    },
    store::{
        figures as tables,
        improvements::{self, Filter, Improvement},
    },
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(get)
        .service(update)
        .service(transition);
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// A figure from `/api/v1/analytics/definitions`, e.g. `incidents.mttr_seconds`.
    pub metric: String,
    /// The value aimed at (for `*_seconds`, the median).
    pub value: f64,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "01a24233-c456-7186-af34-ba4716863c54", "number": "IMP0001001", "title": "Cut VPN reconnects", "description": "Users lose the tunnel hourly.", "source": "problem", "source_ref": "01a24233-c456-7186-af34-ba4716863c99", "value": 4, "effort": 2, "owner_id": null, "occurrences": 3, "target": {"metric": "incidents.mttr_seconds", "value": 3600.0}, "measured": null, "status": "in_progress", "step": "plan", "version": 4, "created_at": "2026-12-01T09:00:00Z", "updated_at": "2026-12-07T10:00:00Z"}))]
pub struct ImprovementOut {
    pub id: Uuid,
    /// Per-tenant number, e.g. `IMP0001001`.
    pub number: String,
    pub title: String,
    pub description: String,
    /// `manual`, `problem`, `sla_breach_trend`, `pir` or `capacity_forecast`.
    pub source: String,
    /// What raised it: the problem's or change's id (`null` for `manual`).
    pub source_ref: Option<String>,
    /// 1–5.
    pub value: i16,
    /// 1–5.
    pub effort: i16,
    pub owner_id: Option<Uuid>,
    /// How often its signal was raised while it was open.
    pub occurrences: i32,
    pub target: Option<Target>,
    /// The target's figure over the 30 days before the item reached `evaluate`.
    pub measured: Option<f64>,
    pub status: Status,
    pub step: Step,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

platform::page_schema!(ImprovementPage, ImprovementOut);

fn out(i: Improvement) -> ImprovementOut {
    let (status, step) = (i.lifecycle_status(), i.model_step());
    let target = match (i.target_metric, i.target_value) {
        (Some(metric), Some(value)) => Some(Target { metric, value }),
        _ => None,
    };
    ImprovementOut {
        id: i.id,
        status,
        step,
        number: i.number,
        title: i.title,
        description: i.description,
        source: i.source,
        source_ref: i.source_ref,
        value: i.value,
        effort: i.effort,
        owner_id: i.owner_id,
        occurrences: i.occurrences,
        target,
        measured: i.measured,
        version: i.version,
        created_at: i.created_at,
        updated_at: i.updated_at,
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only items in this status.
    #[param(value_type = Option<Status>, inline)]
    pub status: Option<String>,
    /// Only items from this source.
    pub source: Option<String>,
}

/// List improvements.
///
/// The acting tenant's register, oldest first; `status` and `source` filter.
#[utoipa::path(
    tag = "improvements",
    operation_id = "listImprovements",
    params(ListQuery),
    responses((status = 200, description = "OK", body = ImprovementPage), (status = 400, description = "Invalid query", body = Problem, content_type = "application/problem+json"), (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["improvement:read"]))
)]
#[get("")]
pub async fn list(
    state: web::Data<AnalyticsService>,
    auth: Auth<ImprovementRead>,
    query: web::Query<ListQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .validate()?;
    let status = match query.status.as_deref() {
        None => None,
        Some(raw) => Some(Status::parse(raw).ok_or_else(|| {
            ApiError::bad_query("status", "invalid_status", "not an improvement status")
        })?),
    };
    let source = match query.source.as_deref() {
        Some(raw) if !SOURCES.contains(&raw) => {
            return Err(ApiError::bad_query(
                "source",
                "invalid_source",
                format!("one of {}", SOURCES.join(", ")),
            ));
        }
        other => other.map(str::to_string),
    };
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let rows = improvements::list(
        &txn,
        tenant,
        &Filter { status, source },
        page.after,
        page.limit + 1,
    )
    .await?;
    txn.commit().await?;
    Ok(Page::from_rows(rows, page.limit, |i| i.id)
        .map(out)
        .respond(&req))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Cut VPN reconnects", "description": "Users lose the tunnel hourly.", "value": 4, "effort": 2, "target": {"metric": "incidents.mttr_seconds", "value": 3600.0}}))]
pub struct ImprovementIn {
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// 1–5.
    pub value: i16,
    /// 1–5.
    pub effort: i16,
    pub owner_id: Option<Uuid>,
    pub target: Option<Target>,
}

/// Checks what is common to creating and changing an item.
fn check_fields(
    v: &mut Validator,
    title: &str,
    description: &str,
    value: i16,
    effort: i16,
    target: Option<&Target>,
) {
    v.check(validate::text("/title", title, 200));
    if description.chars().count() > 10_000 {
        v.push(FieldError::new(
            "/description",
            "too_long",
            "must be at most 10000 characters",
        ));
    }
    for (pointer, n) in [("/value", value), ("/effort", effort)] {
        if !(1..=5).contains(&n) {
            v.push(FieldError::new(pointer, "out_of_range", "must be 1 to 5"));
        }
    }
    if let Some(t) = target {
        if definitions::find(&t.metric).is_none() {
            v.push(FieldError::new(
                "/target/metric",
                "unknown_metric",
                "not a figure; see /api/v1/analytics/definitions",
            ));
        }
        if !t.value.is_finite() {
            v.push(FieldError::new(
                "/target/value",
                "not_finite",
                "must be a number",
            ));
        }
    }
}

/// An active user of `tenant`, or the error naming `/owner_id`.
async fn check_owner(
    txn: &sea_orm::DatabaseTransaction,
    tenant: TenantId,
    owner: Option<Uuid>,
) -> Result<(), ApiError> {
    if let Some(id) = owner
        && !bus::people::active_user(txn, tenant, UserId(id)).await?
    {
        return Err(ApiError::field(
            "/owner_id",
            "unknown_reference",
            "no active user with this id in this tenant",
        ));
    }
    Ok(())
}

/// Propose an improvement.
///
/// A `manual` item, `proposed` at step `vision`. Items from analytic signals (problems, SLA
/// breach trends, PIR findings, capacity forecasts) are opened by the improvement feeder.
#[utoipa::path(
    tag = "improvements",
    operation_id = "createImprovement",
    request_body = ImprovementIn,
    responses((status = 201, description = "Created", body = ImprovementOut), (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"), (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["improvement:write"]))
)]
#[post("")]
pub async fn create(
    state: web::Data<AnalyticsService>,
    auth: Auth<ImprovementWrite>,
    body: Json<ImprovementIn>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let mut v = Validator::new();
    check_fields(
        &mut v,
        &input.title,
        &input.description,
        input.value,
        input.effort,
        input.target.as_ref(),
    );
    v.finish()?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    check_owner(&txn, tenant, input.owner_id).await?;
    txn.commit().await?;
    let item = crate::feeder::open(
        &state.db,
        &state.numbers,
        tenant,
        NewImprovement {
            title: input.title.trim().into(),
            description: input.description,
            source: "manual",
            source_ref: None,
            value: input.value,
            effort: input.effort,
            owner_id: input.owner_id,
            target: input.target.map(|t| (t.metric, t.value)),
        },
    )
    .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/improvements/{}", item.id)))
        .json(out(item)))
}

async fn load(
    txn: &sea_orm::DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
    lock: bool,
) -> Result<Improvement, ApiError> {
    improvements::find(txn, tenant, id, lock)
        .await?
        .ok_or_else(|| ApiError::not_found("improvement"))
}

/// Read an improvement.
///
/// Its fields, status and step, with `measured` once it reached `evaluate`.
#[utoipa::path(
    tag = "improvements",
    operation_id = "getImprovement",
    params(("id" = Uuid, Path, description = "The improvement's id.")),
    responses((status = 200, description = "OK", body = ImprovementOut), (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"), (status = 404, description = "Not found (or another tenant's)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["improvement:read"]))
)]
#[get("/{id}")]
pub async fn get(
    state: web::Data<AnalyticsService>,
    auth: Auth<ImprovementRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let item = load(&txn, tenant, *id, false).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(item)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"step": "current_state", "owner_id": "01a24233-c456-7186-af34-ba4716863c54"}))]
pub struct ImprovementPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub value: Option<i16>,
    pub effort: Option<i16>,
    /// A new owner (an active user of the tenant).
    pub owner_id: Option<Uuid>,
    pub target: Option<Target>,
    /// The next step of the model (only the next one); reaching `evaluate` measures the
    /// target's figure.
    pub step: Option<Step>,
}

/// Change an improvement.
///
/// Its fields, and its step: steps are taken in order (`vision`, `current_state`,
/// `target_state`, `plan`, `act`, `evaluate`, `sustain`); a skipped step is 409
/// `step_out_of_order` with `extra.allowed`. On reaching `evaluate`, `measured` is set from the
/// figure `target.metric` names, over the tenant's last 30 days.
#[utoipa::path(
    tag = "improvements",
    operation_id = "updateImprovement",
    params(("id" = Uuid, Path, description = "The improvement's id.")),
    request_body = ImprovementPatch,
    responses((status = 200, description = "OK", body = ImprovementOut), (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"), (status = 404, description = "Not found (or another tenant's)", body = Problem, content_type = "application/problem+json"), (status = 409, description = "`step_out_of_order`: `extra.allowed` lists the step that may be taken", body = Problem, content_type = "application/problem+json"), (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["improvement:write"]))
)]
#[patch("/{id}")]
pub async fn update(
    state: web::Data<AnalyticsService>,
    auth: Auth<ImprovementWrite>,
    id: web::Path<Uuid>,
    body: Json<ImprovementPatch>,
) -> Result<HttpResponse, ApiError> {
    let patch = body.0;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let item = load(&txn, tenant, *id, true).await?;
    let mut changed = item.clone();
    if let Some(title) = &patch.title {
        changed.title = title.trim().into();
    }
    if let Some(description) = patch.description {
        changed.description = description;
    }
    changed.value = patch.value.unwrap_or(item.value);
    changed.effort = patch.effort.unwrap_or(item.effort);
    if patch.owner_id.is_some() {
        changed.owner_id = patch.owner_id;
    }
    if let Some(t) = &patch.target {
        changed.target_metric = Some(t.metric.clone());
        changed.target_value = Some(t.value);
    }
    let mut v = Validator::new();
    check_fields(
        &mut v,
        &changed.title,
        &changed.description,
        changed.value,
        changed.effort,
        patch.target.as_ref(),
    );
    v.finish()?;
    if patch.owner_id.is_some() {
        check_owner(&txn, tenant, changed.owner_id).await?;
    }
    if let Some(step) = patch.step {
        improvement::advance(item.lifecycle_status(), item.model_step(), step).map_err(conflict)?;
        if step == Step::Evaluate && item.model_step() != Step::Evaluate {
            changed.measured = match &changed.target_metric {
                Some(metric) => measured(&state, &txn, tenant, metric).await?,
                None => None,
            };
        }
        changed.step = step.as_str().into();
    }
    let saved = improvements::save(&txn, item, changed, Utc::now()).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(saved)))
}

/// A refused move as 409 with what is allowed.
fn conflict(r: Refused) -> ApiError {
    ApiError::conflict(r.code, r.detail).with_extra(json!({ "allowed": r.allowed }))
}

/// The figure `metric` of `tenant` over its last 30 local days (for `*_seconds`, the median).
async fn measured(
    state: &AnalyticsService,
    txn: &sea_orm::DatabaseTransaction,
    tenant: TenantId,
    metric: &str,
) -> Result<Option<f64>, ApiError> {
    let Some(def) = definitions::find(metric) else {
        return Ok(None);
    };
    let zone = state
        .zones
        .of(txn, tenant.as_uuid())
        .await?
        .unwrap_or(chrono_tz::Tz::UTC);
    let period = Period::parse(None, None, Utc::now().with_timezone(&zone).date_naive())?;
    let totals = tables::totals::<Uuid>(txn, &[tenant], period.from, period.to)
        .await?
        .remove(&tenant.as_uuid())
        .unwrap_or_default();
    Ok(measure(def, &Figures::of(&totals)).value)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"to": "accepted"}))]
#[schema(as = ImprovementTransitionIn)]
pub struct TransitionIn {
    pub to: Status,
}

/// Move an improvement.
///
/// `proposed → accepted → in_progress ⇄ on_hold → review → closed`; `proposed` and `accepted`
/// may be `rejected`, and a review that finds the target missed goes back to `in_progress`.
/// `review` needs step `evaluate`. A refused move is 409 (`illegal_transition` or
/// `step_not_reached`) with `extra.allowed`.
#[utoipa::path(
    tag = "improvements",
    operation_id = "transitionImprovement",
    params(("id" = Uuid, Path, description = "The improvement's id.")),
    request_body = TransitionIn,
    responses((status = 200, description = "OK", body = ImprovementOut), (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"), (status = 404, description = "Not found (or another tenant's)", body = Problem, content_type = "application/problem+json"), (status = 409, description = "`illegal_transition` or `step_not_reached`: `extra.allowed` lists the moves that are", body = Problem, content_type = "application/problem+json"), (status = 422, description = "`to` is not a status", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["improvement:write"]))
)]
#[post("/{id}/transitions")]
pub async fn transition(
    state: web::Data<AnalyticsService>,
    auth: Auth<ImprovementWrite>,
    id: web::Path<Uuid>,
    body: Json<TransitionIn>,
) -> Result<HttpResponse, ApiError> {
    let to = body.0.to;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let item = load(&txn, tenant, *id, true).await?;
    let from = item.lifecycle_status();
    improvement::transition(from, item.model_step(), to).map_err(conflict)?;
    let mut changed = item.clone();
    changed.status = to.as_str().into();
    let saved = improvements::save(&txn, item, changed, Utc::now()).await?;
    bus::outbox::append(
        &txn,
        tenant,
        saved.id,
        saved.version,
        &events::analytics::ImprovementStateChanged {
            improvement_id: saved.id,
            from: from.as_str().into(),
            to: to.as_str().into(),
            step: saved.step.clone(),
            measured: saved.measured,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(saved)))
}
