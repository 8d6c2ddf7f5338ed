//! `GET /api/v1/analytics/freshness`: how far behind the events each projection is.
use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError,
    auth::{Auth, scopes::AnalyticsRead},
    error::Problem as ProblemJson,
    tenancy::begin_scoped,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{AnalyticsService, PROJECTIONS, domain::freshness, store::events};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(get_freshness);
}

/// How many of the latest events the lag percentile is taken over.
const SAMPLE: u64 = 1_000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FreshnessQuery {
    /// `*`: the acting tenant and its customers (MSP roles); a slug or id: that tenant.
    pub tenant: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ProjectionFreshness {
    /// `events`: the event store every figure is built from; `figures`: the per-day counts
    /// and histograms.
    pub projection: String,
    /// The time of the newest event held (`null`: none yet).
    pub last_event_time: Option<DateTime<Utc>>,
    /// 99th percentile of the delay from an event's time to its being held, over the latest
    /// 1,000 events (`null`: none yet).
    pub lag_p99_seconds: Option<f64>,
    /// Events published and not yet held, when the transport can tell (`null`: it cannot;
    /// in process, events are held before their producer marks them sent).
    pub pending: Option<u64>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"items": [{"projection": "events", "last_event_time": "2026-12-07T10:00:00Z", "lag_p99_seconds": 0.05, "pending": null}, {"projection": "figures", "last_event_time": "2026-12-07T10:00:00Z", "lag_p99_seconds": 0.05, "pending": null}]}))]
pub struct FreshnessList {
    pub items: Vec<ProjectionFreshness>,
}

/// How fresh the figures are.
///
/// For each projection, the time of the newest event it holds and how long events take to
/// reach it (99th percentile over the latest 1,000), for the acting tenant (`?tenant=*`: and
/// its customers).
#[utoipa::path(
    tag = "analytics",
    operation_id = "getAnalyticsFreshness",
    params(FreshnessQuery),
    responses((status = 200, description = "OK", body = FreshnessList), (status = 400, description = "Invalid query", body = ProblemJson, content_type = "application/problem+json"), (status = 403, description = "Missing scope", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["analytics:read"]))
)]
#[get("/freshness")]
pub async fn get_freshness(
    state: web::Data<AnalyticsService>,
    auth: Auth<AnalyticsRead>,
    query: web::Query<FreshnessQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenants = auth.list_scope(query.tenant.as_deref()).await?;
    let txn = begin_scoped(&state.db, &tenants).await?;
    let kept = events::latest(&txn, &tenants, SAMPLE).await?;
    txn.commit().await?;
    let f = freshness::of(&kept);
    // Every projection is written in the transaction that keeps the event, so all are as
    // fresh as the store.
    Ok(HttpResponse::Ok().json(FreshnessList {
        items: PROJECTIONS
            .iter()
            .map(|p| ProjectionFreshness {
                projection: (*p).into(),
                last_event_time: f.last_event_time,
                lag_p99_seconds: f.lag_p99_seconds,
                pending: None,
            })
            .collect(),
    }))
}
