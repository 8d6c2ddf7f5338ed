//! `GET /api/v1/analytics/export.csv?report=`: a report's figures as CSV (RFC 4180, formula
//! cells defused; see `domain::csv`), for whoever may export them.
use actix_web::{HttpResponse, get, web};
use platform::{
    ApiError,
    auth::{Auth, scopes::AnalyticsExport},
    error::Problem as ProblemJson,
};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::{
    figures::{self, FiguresQuery, TimeseriesQuery},
    volumes::{self, Volume, VolumesQuery},
};
use crate::{
    AnalyticsService,
    domain::{
        csv::{Cell, document},
        definitions::DEFINITIONS,
        summary::Figures,
    },
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(export_csv);
}

/// The reports there are.
const REPORTS: [&str; 4] = ["summary", "timeseries", "backlog", "volumes"];

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `summary` (one row per figure), `timeseries` (one row per interval of `metric`),
    /// `backlog` (one row per tenant) or `volumes` (one row per key of `by`).
    pub report: Option<String>,
    /// `volumes`: `category`, `service` or `channel`.
    pub by: Option<String>,
    /// `timeseries`: a figure from `definitions`.
    pub metric: Option<String>,
    /// `timeseries`: `day` (default) or `week`.
    pub interval: Option<String>,
    /// First local day (`YYYY-MM-DD`, inclusive); default: 29 days before `to`.
    pub from: Option<String>,
    /// Last local day (inclusive); default: today in the tenant's time zone.
    pub to: Option<String>,
    /// `*`: the acting tenant and its customers, each and together (MSP roles); a slug or id:
    /// that tenant.
    pub tenant: Option<String>,
}

/// A CSV file.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary, example = "tenant_id,scope,metric,value,p90,n\r\n")]
pub struct CsvFile(pub Vec<u8>);

/// Export a report as CSV.
///
/// The figures of `summary`, `timeseries`, `backlog` or `volumes` as RFC 4180 CSV (CRLF line ends). A text
/// cell starting `=`, `+`, `-`, `@`, tab, CR or LF is prefixed with `'`, so no exported value
/// runs as a spreadsheet formula.
#[utoipa::path(
    tag = "analytics",
    operation_id = "exportAnalyticsCsv",
    params(ExportQuery),
    responses((status = 200, description = "The report as CSV", content((inline(CsvFile) = "text/csv"))), (status = 400, description = "Invalid query (unknown report, metric or interval, bad period)", body = ProblemJson, content_type = "application/problem+json"), (status = 403, description = "Missing scope", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["analytics:export"]))
)]
#[get("/export.csv")]
pub async fn export_csv(
    state: web::Data<AnalyticsService>,
    auth: Auth<AnalyticsExport>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let period = FiguresQuery {
        from: q.from.clone(),
        to: q.to.clone(),
        tenant: q.tenant.clone(),
    };
    let report = q.report.clone().unwrap_or_default();
    let (header, rows): (&[&str], Vec<Vec<Cell>>) = match report.as_str() {
        "summary" => {
            let s = figures::summary(&state, &auth, &period).await?;
            let mut rows = Vec::new();
            match &s.by_tenant {
                Some(each) => each.iter().for_each(|t| {
                    rows.extend(figure_rows(&t.tenant_id.to_string(), "tenant", &t.figures))
                }),
                None => rows.extend(figure_rows(&s.tenant_id.to_string(), "tenant", &s.figures)),
            }
            if let Some(rollup) = &s.rollup {
                rows.extend(figure_rows(&s.tenant_id.to_string(), "rollup", rollup));
            }
            (&["tenant_id", "scope", "metric", "value", "p90", "n"], rows)
        }
        "timeseries" => {
            let ts = figures::timeseries(
                &state,
                &auth,
                &TimeseriesQuery {
                    metric: q.metric,
                    interval: q.interval,
                    from: q.from,
                    to: q.to,
                    tenant: q.tenant,
                },
            )
            .await?;
            let rows = ts
                .items
                .iter()
                .map(|p| {
                    vec![
                        Cell::from(p.period_start.to_string().as_str()),
                        Cell::from(p.value),
                        Cell::from(p.p90),
                        p.n.map_or(Cell::Empty, Cell::from),
                    ]
                })
                .collect();
            (&["period_start", "value", "p90", "n"], rows)
        }
        "backlog" => {
            let b = figures::backlog(&state, &auth, period.tenant.as_deref()).await?;
            let row = |tenant: &str, f: &figures::BacklogFigures| {
                let mut cells = vec![Cell::from(tenant), Cell::from(f.total)];
                cells.extend(f.buckets.as_pairs().map(|(_, n)| Cell::from(n)));
                cells
            };
            let mut rows = match &b.by_tenant {
                Some(each) => each
                    .iter()
                    .map(|t| row(&t.tenant_id.to_string(), &t.backlog))
                    .collect(),
                None => vec![row(&b.tenant_id.to_string(), &b.backlog)],
            };
            if let Some(rollup) = &b.rollup {
                rows.push(row("rollup", rollup));
            }
            let header: &[&str] = &[
                "tenant_id",
                "total",
                "under_1d",
                "1d_to_3d",
                "3d_to_7d",
                "7d_to_30d",
                "over_30d",
            ];
            (header, rows)
        }
        "volumes" => {
            let v = volumes::volumes(
                &state,
                &auth,
                &VolumesQuery {
                    by: q.by,
                    from: q.from,
                    to: q.to,
                    tenant: q.tenant,
                },
            )
            .await?;
            let rows_of = |tenant: &str, scope: &str, items: &[Volume]| -> Vec<Vec<Cell>> {
                items
                    .iter()
                    .map(|i| {
                        vec![
                            Cell::from(tenant),
                            Cell::from(scope),
                            i.key.as_deref().map_or(Cell::Empty, Cell::from),
                            i.name.as_deref().map_or(Cell::Empty, Cell::from),
                            Cell::from(i.created),
                        ]
                    })
                    .collect()
            };
            let mut rows = match &v.by_tenant {
                Some(each) => each
                    .iter()
                    .flat_map(|t| rows_of(&t.tenant_id.to_string(), "tenant", &t.items))
                    .collect(),
                None => rows_of(&v.tenant_id.to_string(), "tenant", &v.items),
            };
            if let Some(rollup) = &v.rollup {
                rows.extend(rows_of(&v.tenant_id.to_string(), "rollup", rollup));
            }
            (&["tenant_id", "scope", "key", "name", "created"], rows)
        }
        other => {
            return Err(ApiError::bad_query(
                "report",
                "unknown_report",
                format!("{other:?} is not one of {}", REPORTS.join(", ")),
            ));
        }
    };
    let body =
        document(header, &rows).map_err(|e| ApiError::internal(format!("writing CSV: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{report}.csv\""),
        ))
        .body(body))
}

/// One row per figure of `figures`.
fn figure_rows(tenant: &str, scope: &str, figures: &Figures) -> Vec<Vec<Cell>> {
    DEFINITIONS
        .iter()
        .map(|def| {
            let p = figures::measure(def, figures);
            vec![
                Cell::from(tenant),
                Cell::from(scope),
                Cell::from(def.metric),
                Cell::from(p.value),
                Cell::from(p.p90),
                p.n.map_or(Cell::Empty, Cell::from),
            ]
        })
        .collect()
}
