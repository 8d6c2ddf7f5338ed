//! `GET /api/v1/capacity/forecasts`: each threshold's latest forecast.
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError,
    auth::{Auth, scopes::CapacityRead},
    error::Problem,
    pagination::{Page, PageQuery},
    tenancy::begin_scoped,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    AnalyticsService,
    domain::capacity::{Direction, Status, TargetType},
    store::capacity::{self as store, Threshold},
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"threshold_id": "01a24233-c456-7186-af34-ba4716863c77", "target_type": "ci", "target_id": "01a24233-c456-7186-af34-ba4716863c54", "metric": "disk_used_percent", "limit": 90.0, "direction": "above", "horizon_days": 30, "status": "breach_predicted", "slope_per_day": 1.25, "breach_at": "2026-12-20T04:00:00Z", "samples": 336, "last_value": 74.2, "computed_at": "2026-12-07T10:00:05Z"}))]
#[schema(as = CapacityForecast)]
pub struct ForecastOut {
    pub threshold_id: Uuid,
    pub target_type: TargetType,
    pub target_id: Uuid,
    pub metric: String,
    pub limit: f64,
    pub direction: Direction,
    pub horizon_days: i32,
    /// `ok`, `breach_predicted` (crossing within `horizon_days`), `breached` (the newest
    /// sample is past the limit) or `insufficient_data` (under 10 samples or 24 hours of them
    /// in the lookback window).
    pub status: Status,
    /// The least-squares line's slope over the lookback window, per day.
    pub slope_per_day: Option<f64>,
    /// When the line crosses the limit towards the breach side; `null`: never (flat or
    /// receding), or not enough data.
    pub breach_at: Option<DateTime<Utc>>,
    /// Samples in the fit.
    pub samples: i32,
    /// The newest sample's value.
    pub last_value: Option<f64>,
    /// When it was computed (`null` until the first time).
    pub computed_at: Option<DateTime<Utc>>,
}

platform::page_schema!(CapacityForecastPage, ForecastOut);

fn out(t: Threshold) -> ForecastOut {
    ForecastOut {
        target_type: t.target(),
        direction: t.towards(),
        status: t.forecast_status(),
        threshold_id: t.id,
        target_id: t.target_id,
        metric: t.metric,
        limit: t.limit,
        horizon_days: t.horizon_days,
        slope_per_day: t.slope_per_day,
        breach_at: t.breach_at,
        samples: t.samples,
        last_value: t.last_value,
        computed_at: t.forecast_at,
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only this threshold's forecast.
    #[param(value_type = Option<Uuid>)]
    pub threshold_id: Option<String>,
}

/// List capacity forecasts.
///
/// One per threshold of the acting tenant, as the forecaster last computed it: on new samples,
/// on a change of the threshold, and hourly.
#[utoipa::path(
    tag = "capacity",
    operation_id = "listCapacityForecasts",
    params(ListQuery),
    responses((status = 200, description = "OK", body = CapacityForecastPage), (status = 400, description = "Invalid query", body = Problem, content_type = "application/problem+json"), (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["capacity:read"]))
)]
#[get("/forecasts")]
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
    let only = match query.threshold_id.as_deref() {
        None => None,
        Some(raw) => Some(Uuid::parse_str(raw).map_err(|_| {
            ApiError::bad_query("threshold_id", "invalid_uuid", "not a threshold id")
        })?),
    };
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let rows = store::list(&txn, tenant, only, page.after, page.limit + 1).await?;
    txn.commit().await?;
    Ok(Page::from_rows(rows, page.limit, |t| t.id)
        .map(out)
        .respond(&req))
}
