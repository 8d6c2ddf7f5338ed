//! The figures: `summary`, `timeseries`, `backlog` and `definitions` under
//! `/api/v1/analytics`, read from the per-day tables only.
use std::collections::BTreeMap;

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use platform::{
    ApiError, FieldError,
    auth::{Auth, RequiredScope, scopes::AnalyticsRead},
    error::Problem as ProblemJson,
    tenancy::{TenantId, begin_scoped},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    AnalyticsService,
    domain::{
        backlog::Buckets,
        definitions::{self, DEFINITIONS, Definition},
        period::{Interval, Period, QueryError},
        streams::{Stream, StreamFigures},
        summary::{Figures, Totals},
    },
    store::figures as tables,
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(get_summary)
        .service(get_timeseries)
        .service(get_backlog)
        .service(get_value_stream)
        .service(get_definitions);
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        ApiError::bad_query(e.name, e.code, e.detail)
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FiguresQuery {
    /// First local day (`YYYY-MM-DD`, inclusive); default: 29 days before `to`.
    pub from: Option<String>,
    /// Last local day (inclusive); default: today in the tenant's time zone.
    pub to: Option<String>,
    /// `*`: also the rollup of the acting tenant and its customers, and each tenant's figures
    /// (MSP roles); a slug or id: that tenant.
    pub tenant: Option<String>,
}

/// The tenant the top-level figures are of: the one asked for, else the acting tenant.
fn own_of<S: RequiredScope>(tenants: &[TenantId], auth: &Auth<S>) -> TenantId {
    match tenants {
        [one] => *one,
        _ => auth.tenant_id(),
    }
}

/// Who the figures are for and over which days.
pub(crate) struct Reach {
    pub tenants: Vec<TenantId>,
    /// The tenant the top-level figures are of.
    pub own: TenantId,
    pub zone: Tz,
    pub period: Period,
    pub rollup: bool,
}

impl Reach {
    /// Each tenant's counts and histograms over the period.
    pub(crate) async fn totals(
        &self,
        state: &AnalyticsService,
    ) -> Result<BTreeMap<Uuid, Totals>, ApiError> {
        let txn = begin_scoped(&state.db, &self.tenants).await?;
        let per_tenant =
            tables::totals(&txn, &self.tenants, self.period.from, self.period.to).await?;
        txn.commit().await?;
        Ok(per_tenant)
    }

    /// The figures of the tenant at the top (`own`), and with `?tenant=*` the rollup and each
    /// tenant's, made by `figures_of` from their totals.
    pub(crate) fn split<F>(
        &self,
        per_tenant: &BTreeMap<Uuid, Totals>,
        figures_of: impl Fn(&Totals) -> F,
    ) -> Split<F> {
        let of =
            |t: TenantId| figures_of(per_tenant.get(&t.as_uuid()).unwrap_or(&Totals::default()));
        if !self.rollup {
            return Split {
                own: of(self.own),
                rollup: None,
                by_tenant: None,
            };
        }
        let mut all = Totals::default();
        per_tenant.values().for_each(|t| all.merge(t));
        Split {
            own: of(self.own),
            rollup: Some(figures_of(&all)),
            by_tenant: Some(self.tenants.iter().map(|t| (t.as_uuid(), of(*t))).collect()),
        }
    }
}

impl Reach {
    /// The counts and histograms of all its tenants together, per interval of the period
    /// (every interval present, empty ones too).
    pub(crate) async fn per_interval(
        &self,
        state: &AnalyticsService,
        interval: Interval,
    ) -> Result<BTreeMap<NaiveDate, Totals>, ApiError> {
        let txn = begin_scoped(&state.db, &self.tenants).await?;
        let per_day: BTreeMap<NaiveDate, Totals> =
            tables::totals(&txn, &self.tenants, self.period.from, self.period.to).await?;
        txn.commit().await?;
        let mut per_interval: BTreeMap<NaiveDate, Totals> = self
            .period
            .intervals(interval)
            .into_iter()
            .map(|start| (start, Totals::default()))
            .collect();
        for (day, totals) in &per_day {
            if let Some(t) = per_interval.get_mut(&Period::start_of(*day, interval)) {
                t.merge(totals);
            }
        }
        Ok(per_interval)
    }
}

/// `day` (the default) or `week`.
pub(crate) fn interval_of(raw: Option<&str>) -> Result<Interval, ApiError> {
    match raw.unwrap_or("day") {
        "day" => Ok(Interval::Day),
        "week" => Ok(Interval::Week),
        other => Err(ApiError::bad_query(
            "interval",
            "unknown_interval",
            format!("{other:?} is not day or week"),
        )),
    }
}

/// Figures of the tenant at the top, and with `?tenant=*` the rollup and each tenant's.
pub(crate) struct Split<F> {
    pub own: F,
    pub rollup: Option<F>,
    pub by_tenant: Option<Vec<(Uuid, F)>>,
}

impl Reach {
    async fn of<S: RequiredScope>(
        state: &AnalyticsService,
        auth: &Auth<S>,
        q: &FiguresQuery,
    ) -> Result<Reach, ApiError> {
        Self::from_parts(
            state,
            auth,
            q.tenant.as_deref(),
            q.from.as_deref(),
            q.to.as_deref(),
        )
        .await
    }

    pub(crate) async fn from_parts<S: RequiredScope>(
        state: &AnalyticsService,
        auth: &Auth<S>,
        tenant: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Reach, ApiError> {
        let tenants = auth.list_scope(tenant).await?;
        let rollup = tenant == Some("*");
        let own = own_of(&tenants, auth);
        let zone = state.zone_of(own).await?;
        let today = Utc::now().with_timezone(&zone).date_naive();
        let period = Period::parse(from, to, today)?;
        Ok(Reach {
            tenants,
            own,
            zone,
            period,
            rollup,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct TenantFigures {
    pub tenant_id: Uuid,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"tenant_id": "01a24233-c456-7186-af34-ba4716863c54", "incidents": {"created": 48, "resolved": 41, "unacknowledged": 2, "mtta_seconds": {"p50": 540.0, "p90": 3600.0, "n": 46}, "mttr_seconds": {"p50": 5400.0, "p90": 86400.0, "n": 41}, "mttr_excluding_hold_seconds": {"p50": 4800.0, "p90": 43200.0, "n": 41}, "sla_response_met_ratio": 0.95, "sla_resolution_met_ratio": 0.9, "first_contact_resolution_ratio": 0.61, "reopen_ratio": 0.05}, "requests": {"submitted": 20, "fulfilled": 18, "fulfilment_seconds": {"p50": 172800.0, "p90": 432000.0, "n": 18}}, "changes": {"created": 6, "closed": 5, "success_ratio": 0.8, "emergency_ratio": null}, "knowledge": {"deflected": 7, "deflection_ratio": 0.09}, "time_zone": "Europe/Berlin", "from": "2026-11-08", "to": "2026-12-07", "as_of": "2026-12-07T10:00:00Z"}))]
pub struct Summary {
    /// The tenant the top-level figures are of.
    pub tenant_id: Uuid,
    #[serde(flatten)]
    pub figures: Figures,
    /// The IANA zone whose local days `from` and `to` are.
    pub time_zone: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub as_of: DateTime<Utc>,
    /// `?tenant=*`: the acting tenant and its customers together.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollup: Option<Figures>,
    /// `?tenant=*`: each tenant's figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_tenant: Option<Vec<TenantFigures>>,
}

/// The figures of a period.
///
/// Incidents (MTTA, MTTR with and without hold, SLA, first-contact and reopen ratios),
/// request fulfilment, change success and knowledge deflection over the local days
/// `from`..`to`, built from events only; see `definitions` for what each counts. An empty
/// tenant gets zeros and `null` ratios.
#[utoipa::path(
    tag = "analytics",
    operation_id = "getAnalyticsSummary",
    params(FiguresQuery),
    responses((status = 200, description = "OK", body = Summary), (status = 400, description = "Invalid query", body = ProblemJson, content_type = "application/problem+json"), (status = 403, description = "Missing scope", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["analytics:read"]))
)]
#[get("/summary")]
pub async fn get_summary(
    state: web::Data<AnalyticsService>,
    auth: Auth<AnalyticsRead>,
    query: web::Query<FiguresQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(summary(&state, &auth, &query).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimeseriesQuery {
    /// A figure from `definitions`, e.g. `incidents.mttr_seconds`.
    pub metric: Option<String>,
    /// `day` (default) or `week` (ISO weeks, from Monday).
    pub interval: Option<String>,
    /// First local day (`YYYY-MM-DD`, inclusive); default: 29 days before `to`.
    pub from: Option<String>,
    /// Last local day (inclusive); default: today in the tenant's time zone.
    pub to: Option<String>,
    /// `*`: the rollup of the acting tenant and its customers (MSP roles); a slug or id: that
    /// tenant.
    pub tenant: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Point {
    /// The first local day of the interval (a week's Monday).
    pub period_start: NaiveDate,
    /// The count or ratio; for `*_seconds` the median. `null`: nothing to measure.
    pub value: Option<f64>,
    /// `*_seconds` only: the 90th percentile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p90: Option<f64>,
    /// `*_seconds` only: how many durations were measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<i64>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"metric": "incidents.mttr_seconds", "interval": "week", "time_zone": "Europe/Berlin", "from": "2026-11-30", "to": "2026-12-13", "items": [{"period_start": "2026-11-30", "value": 5400.0, "p90": 86400.0, "n": 12}, {"period_start": "2026-12-07", "value": null, "p90": null, "n": 0}]}))]
pub struct Timeseries {
    pub metric: String,
    pub interval: String,
    pub time_zone: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub items: Vec<Point>,
}

/// A figure over time.
///
/// One point per local day or ISO week of the period (an interval with no events still has
/// its point). With `?tenant=*`, the rollup of the acting tenant and its customers.
#[utoipa::path(
    tag = "analytics",
    operation_id = "getAnalyticsTimeseries",
    params(TimeseriesQuery),
    responses((status = 200, description = "OK", body = Timeseries), (status = 400, description = "Invalid query (unknown metric or interval, bad period)", body = ProblemJson, content_type = "application/problem+json"), (status = 403, description = "Missing scope", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["analytics:read"]))
)]
#[get("/timeseries")]
pub async fn get_timeseries(
    state: web::Data<AnalyticsService>,
    auth: Auth<AnalyticsRead>,
    query: web::Query<TimeseriesQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(timeseries(&state, &auth, &query).await?))
}

/// A figure's value: the count or ratio, or for durations the median with p90 and n.
pub(crate) struct Measure {
    pub value: Option<f64>,
    pub p90: Option<f64>,
    pub n: Option<i64>,
}

/// The figure `def` names, picked out of `figures` by its path.
pub(crate) fn measure(def: &Definition, figures: &Figures) -> Measure {
    let json = serde_json::to_value(figures).unwrap_or_default();
    let at = json
        .pointer(&format!("/{}", def.metric.replace('.', "/")))
        .cloned()
        .unwrap_or_default();
    if def.unit == "seconds" {
        Measure {
            value: at["p50"].as_f64(),
            p90: at["p90"].as_f64(),
            n: at["n"].as_i64(),
        }
    } else {
        Measure {
            value: at.as_f64(),
            p90: None,
            n: None,
        }
    }
}

fn point(period_start: NaiveDate, def: &Definition, figures: &Figures) -> Point {
    let Measure { value, p90, n } = measure(def, figures);
    Point {
        period_start,
        value,
        p90,
        n,
    }
}

#[derive(Serialize, ToSchema)]
pub struct BacklogFigures {
    /// Open incidents (`new`, `in_progress`, `on_hold`).
    pub total: i64,
    /// By age, from the hour each was created.
    pub buckets: Buckets,
}

impl BacklogFigures {
    fn of(buckets: Buckets) -> Self {
        BacklogFigures {
            total: buckets.total(),
            buckets,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TenantBacklog {
    pub tenant_id: Uuid,
    #[serde(flatten)]
    pub backlog: BacklogFigures,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"tenant_id": "01a24233-c456-7186-af34-ba4716863c54", "total": 9, "buckets": {"under_1d": 3, "1d_to_3d": 2, "3d_to_7d": 2, "7d_to_30d": 1, "over_30d": 1}, "as_of": "2026-12-07T10:00:00Z"}))]
pub struct Backlog {
    /// The tenant the top-level backlog is of.
    pub tenant_id: Uuid,
    #[serde(flatten)]
    pub backlog: BacklogFigures,
    pub as_of: DateTime<Utc>,
    /// `?tenant=*`: the acting tenant and its customers together.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollup: Option<BacklogFigures>,
    /// `?tenant=*`: each tenant's backlog.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_tenant: Option<Vec<TenantBacklog>>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BacklogQuery {
    /// `*`: also the rollup and each tenant's backlog (MSP roles); a slug or id: that tenant.
    pub tenant: Option<String>,
}

/// Open incidents by age.
///
/// The incidents open now, in buckets by how long ago they were created (`under_1d`,
/// `1d_to_3d`, `3d_to_7d`, `7d_to_30d`, `over_30d`).
#[utoipa::path(
    tag = "analytics",
    operation_id = "getAnalyticsBacklog",
    params(BacklogQuery),
    responses((status = 200, description = "OK", body = Backlog), (status = 400, description = "Invalid query", body = ProblemJson, content_type = "application/problem+json"), (status = 403, description = "Missing scope", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["analytics:read"]))
)]
#[get("/backlog")]
pub async fn get_backlog(
    state: web::Data<AnalyticsService>,
    auth: Auth<AnalyticsRead>,
    query: web::Query<BacklogQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(backlog(&state, &auth, query.tenant.as_deref()).await?))
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"items": [{"metric": "incidents.mtta_seconds", "unit": "seconds", "counted_on": "created", "description": "Created to the first move out of `new` (any move, cancelling included)."}]}))]
pub struct DefinitionList {
    pub items: Vec<Definition>,
}

/// What each figure means.
///
/// Every figure `summary` returns and `timeseries` takes: its unit, the local day an event
/// counts on, and exactly what is counted.
#[utoipa::path(
    tag = "analytics",
    operation_id = "listAnalyticsDefinitions",
    responses((status = 200, description = "OK", body = DefinitionList), (status = 403, description = "Missing scope", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["analytics:read"]))
)]
#[get("/definitions")]
pub async fn get_definitions(_auth: Auth<AnalyticsRead>) -> HttpResponse {
    HttpResponse::Ok().json(DefinitionList {
        items: DEFINITIONS.to_vec(),
    })
}

/// The summary for `auth`'s reach (also what `export.csv?report=summary` writes).
pub(crate) async fn summary<S: RequiredScope>(
    state: &AnalyticsService,
    auth: &Auth<S>,
    query: &FiguresQuery,
) -> Result<Summary, ApiError> {
    let reach = Reach::of(state, auth, query).await?;
    let per_tenant = reach.totals(state).await?;
    let Split {
        own: figures,
        rollup,
        by_tenant,
    } = reach.split(&per_tenant, Figures::of);
    Ok(Summary {
        tenant_id: reach.own.as_uuid(),
        figures,
        time_zone: reach.zone.name().into(),
        from: reach.period.from,
        to: reach.period.to,
        as_of: Utc::now(),
        rollup,
        by_tenant: by_tenant.map(|each| {
            each.into_iter()
                .map(|(tenant_id, figures)| TenantFigures { tenant_id, figures })
                .collect()
        }),
    })
}

/// The time series asked for (also what `export.csv?report=timeseries` writes).
pub(crate) async fn timeseries<S: RequiredScope>(
    state: &AnalyticsService,
    auth: &Auth<S>,
    query: &TimeseriesQuery,
) -> Result<Timeseries, ApiError> {
    let metric = query.metric.as_deref().unwrap_or_default();
    let Some(def) = definitions::find(metric) else {
        return Err(ApiError::bad_query(
            "metric",
            "unknown_metric",
            format!("{metric:?} is not a figure; see /api/v1/analytics/definitions"),
        ));
    };
    let interval = interval_of(query.interval.as_deref())?;
    let q = &query;
    let reach = Reach::from_parts(
        state,
        auth,
        q.tenant.as_deref(),
        q.from.as_deref(),
        q.to.as_deref(),
    )
    .await?;
    let items = reach
        .per_interval(state, interval)
        .await?
        .into_iter()
        .map(|(start, totals)| point(start, def, &Figures::of(&totals)))
        .collect();
    Ok(Timeseries {
        metric: def.metric.into(),
        interval: query.interval.clone().unwrap_or_else(|| "day".into()),
        time_zone: reach.zone.name().into(),
        from: reach.period.from,
        to: reach.period.to,
        items,
    })
}

/// The backlog for `auth`'s reach (also what `export.csv?report=backlog` writes).
pub(crate) async fn backlog<S: RequiredScope>(
    state: &AnalyticsService,
    auth: &Auth<S>,
    tenant: Option<&str>,
) -> Result<Backlog, ApiError> {
    let tenants = auth.list_scope(tenant).await?;
    let own = own_of(&tenants, auth);
    let txn = begin_scoped(&state.db, &tenants).await?;
    let rows = tables::open_by_hour(&txn, &tenants).await?;
    txn.commit().await?;
    let now = Utc::now();
    let mut per_tenant: BTreeMap<Uuid, Buckets> = BTreeMap::new();
    let mut all = Buckets::default();
    for (tenant, hour, open) in rows {
        per_tenant.entry(tenant).or_default().add(hour, open, now);
        all.add(hour, open, now);
    }
    let backlog_of =
        |tenant: Uuid| BacklogFigures::of(per_tenant.get(&tenant).cloned().unwrap_or_default());
    let rollup = tenant == Some("*");
    Ok(Backlog {
        tenant_id: own.as_uuid(),
        backlog: backlog_of(own.as_uuid()),
        as_of: now,
        by_tenant: rollup.then(|| {
            tenants
                .iter()
                .map(|t| TenantBacklog {
                    tenant_id: t.as_uuid(),
                    backlog: backlog_of(t.as_uuid()),
                })
                .collect()
        }),
        rollup: rollup.then(|| BacklogFigures::of(all)),
    })
}

#[derive(Serialize, ToSchema)]
pub struct TenantStream {
    pub tenant_id: Uuid,
    #[serde(flatten)]
    pub figures: StreamFigures,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"tenant_id": "01a24233-c456-7186-af34-ba4716863c54", "stream": "incident_to_resolved", "completed": 41, "lead_time_seconds": 20160.0, "steps": [{"step": "queue", "total_seconds": 73800.0, "share_of_lead_time": 0.09}, {"step": "acknowledge", "total_seconds": 24600.0, "share_of_lead_time": 0.03}, {"step": "work", "total_seconds": 410000.0, "share_of_lead_time": 0.5}, {"step": "on_hold", "total_seconds": 318000.0, "share_of_lead_time": 0.38}], "bottleneck": {"step": "work"}, "time_zone": "Europe/Berlin", "from": "2026-11-08", "to": "2026-12-07", "as_of": "2026-12-07T10:00:00Z"}))]
pub struct ValueStream {
    /// The tenant the top-level figures are of.
    pub tenant_id: Uuid,
    #[serde(flatten)]
    pub figures: StreamFigures,
    pub time_zone: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub as_of: DateTime<Utc>,
    /// `?tenant=*`: the acting tenant and its customers together.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollup: Option<StreamFigures>,
    /// `?tenant=*`: each tenant's stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_tenant: Option<Vec<TenantStream>>,
}

/// Where a value stream's lead time goes.
///
/// For the tickets that completed the stream in the period (`request_to_fulfilled`:
/// `approval`, `queue`, `fulfilment`; `incident_to_resolved`: `queue`, `acknowledge`, `work`,
/// `on_hold`; `change_to_live`: `assess`, `authorize`, `wait_for_window`, `implement`,
/// `review`): the mean lead time, each step's total time (every stay in a step counts) and
/// share of the lead time, and the bottleneck, the step with the largest total (a tie goes to
/// the earlier step).
#[utoipa::path(
    tag = "analytics",
    operation_id = "getAnalyticsValueStream",
    params(("stream" = String, Path, description = "`request_to_fulfilled`, `incident_to_resolved` or `change_to_live`"), FiguresQuery),
    responses((status = 200, description = "OK", body = ValueStream), (status = 400, description = "Invalid query", body = ProblemJson, content_type = "application/problem+json"), (status = 403, description = "Missing scope", body = ProblemJson, content_type = "application/problem+json"), (status = 404, description = "No such value stream", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["analytics:read"]))
)]
#[get("/value-streams/{stream}")]
pub async fn get_value_stream(
    state: web::Data<AnalyticsService>,
    auth: Auth<AnalyticsRead>,
    stream: web::Path<String>,
    query: web::Query<FiguresQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(value_stream(&state, &auth, &stream, &query).await?))
}

/// The value stream named `stream` for `auth`'s reach.
pub(crate) async fn value_stream<S: RequiredScope>(
    state: &AnalyticsService,
    auth: &Auth<S>,
    stream: &str,
    query: &FiguresQuery,
) -> Result<ValueStream, ApiError> {
    let Some(stream) = Stream::parse(stream) else {
        let mut e = ApiError::not_found("value stream");
        e.errors = vec![FieldError::new(
            "/path/stream",
            "unknown_stream",
            format!(
                "{stream:?} is not request_to_fulfilled, incident_to_resolved or change_to_live"
            ),
        )];
        return Err(e);
    };
    let reach = Reach::of(state, auth, query).await?;
    let per_tenant = reach.totals(state).await?;
    let Split {
        own: figures,
        rollup,
        by_tenant,
    } = reach.split(&per_tenant, |t| StreamFigures::of(stream, t));
    Ok(ValueStream {
        tenant_id: reach.own.as_uuid(),
        figures,
        time_zone: reach.zone.name().into(),
        from: reach.period.from,
        to: reach.period.to,
        as_of: Utc::now(),
        rollup,
        by_tenant: by_tenant.map(|each| {
            each.into_iter()
                .map(|(tenant_id, figures)| TenantStream { tenant_id, figures })
                .collect()
        }),
    })
}
