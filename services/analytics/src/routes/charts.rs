//! `GET /api/v1/analytics/charts/{chart}.svg`: the figures drawn (see `domain::charts`).
use actix_web::{HttpRequest, HttpResponse, get, http::header, web};
use platform::{
    ApiError, FieldError,
    auth::{Auth, scopes::AnalyticsRead},
    error::Problem as ProblemJson,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::figures::{self, Reach, interval_of};
use crate::{
    AnalyticsService,
    domain::{
        charts::{self, CHARTS, Chart},
        streams::{Stream, StreamFigures},
        summary::Figures,
    },
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(get_chart);
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChartQuery {
    /// `incident_volume`, `mttr_trend`, `sla_compliance`: `day` (default) or `week`.
    pub interval: Option<String>,
    /// `value_stream`: `request_to_fulfilled`, `incident_to_resolved` (default) or
    /// `change_to_live`.
    pub stream: Option<String>,
    /// First local day (`YYYY-MM-DD`, inclusive); default: 29 days before `to`.
    pub from: Option<String>,
    /// Last local day (inclusive); default: today in the tenant's time zone.
    pub to: Option<String>,
    /// `*`: the acting tenant and its customers together (MSP roles); a slug or id: that
    /// tenant.
    pub tenant: Option<String>,
}

/// An SVG image.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary, example = "<svg width=\"640\" height=\"320\" viewBox=\"0 0 640 320\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-labelledby=\"chart-title chart-desc\"><title id=\"chart-title\">Incident volume</title>…</svg>")]
pub struct SvgImage(pub String);

/// A chart of the figures.
///
/// `incident_volume` (created and resolved per interval), `mttr_trend` (p50 and p90 in
/// hours), `sla_compliance` (response and resolution met, percent), `backlog_age` (open
/// incidents by age) or `value_stream` (each step's total hours), as a 640×320 SVG with
/// `<title>` and `<desc>`. The same figures give the same bytes: the `ETag` is their hash, and
/// `If-None-Match` with it answers 304.
#[utoipa::path(
    tag = "analytics",
    operation_id = "getAnalyticsChart",
    params(("chart" = String, Path, description = "The chart's name with `.svg`, e.g. `mttr_trend.svg`"), ChartQuery),
    responses((status = 200, description = "The chart", content((inline(SvgImage) = "image/svg+xml"))), (status = 304, description = "Not modified"), (status = 400, description = "Invalid query (bad period, interval or stream)", body = ProblemJson, content_type = "application/problem+json"), (status = 403, description = "Missing scope", body = ProblemJson, content_type = "application/problem+json"), (status = 404, description = "No such chart", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["analytics:read"]))
)]
#[get("/charts/{chart}")]
pub async fn get_chart(
    state: web::Data<AnalyticsService>,
    auth: Auth<AnalyticsRead>,
    chart: web::Path<String>,
    query: web::Query<ChartQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let name = chart.strip_suffix(".svg").unwrap_or_default();
    if !CHARTS.contains(&name) {
        let mut e = ApiError::not_found("chart");
        e.errors = vec![FieldError::new(
            "/path/chart",
            "unknown_chart",
            format!("{chart:?} is not one of {}.svg", CHARTS.join(".svg, ")),
        )];
        return Err(e);
    }
    let svg = chart_of(&state, &auth, name, &query)
        .await?
        .svg()
        .map_err(ApiError::internal)?;
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(svg.as_bytes())[..16]));
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag));
    let mut res = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"));
    Ok(if unchanged {
        res.finish()
    } else {
        res.content_type("image/svg+xml").body(svg)
    })
}

/// The chart `name` of `auth`'s reach.
async fn chart_of(
    state: &AnalyticsService,
    auth: &Auth<AnalyticsRead>,
    name: &str,
    q: &ChartQuery,
) -> Result<Chart, ApiError> {
    let tenant = q.tenant.as_deref();
    if name == "backlog_age" {
        let b = figures::backlog(state, auth, tenant).await?;
        let shown = b.rollup.as_ref().unwrap_or(&b.backlog);
        return Ok(charts::backlog_age(&shown.buckets));
    }
    let reach = Reach::from_parts(state, auth, tenant, q.from.as_deref(), q.to.as_deref()).await?;
    if name == "value_stream" {
        let raw = q.stream.as_deref().unwrap_or("incident_to_resolved");
        let Some(stream) = Stream::parse(raw) else {
            return Err(ApiError::bad_query(
                "stream",
                "unknown_stream",
                format!(
                    "{raw:?} is not request_to_fulfilled, incident_to_resolved or change_to_live"
                ),
            ));
        };
        // The rollup with `?tenant=*`, else the one tenant's stream.
        let split = reach.split(&reach.totals(state).await?, |t| {
            StreamFigures::of(stream, t)
        });
        return Ok(charts::value_stream(&split.rollup.unwrap_or(split.own)));
    }
    let interval = interval_of(q.interval.as_deref())?;
    let per_interval: Vec<_> = reach
        .per_interval(state, interval)
        .await?
        .into_iter()
        .map(|(start, totals)| (start, Figures::of(&totals)))
        .collect();
    Ok(match name {
        "incident_volume" => charts::incident_volume(&per_interval),
        "mttr_trend" => charts::mttr_trend(&per_interval),
        _ => charts::sla_compliance(&per_interval),
    })
}
