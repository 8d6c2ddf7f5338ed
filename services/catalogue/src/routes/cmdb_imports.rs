//! `/api/v1/cmdb/imports` (a CSV or JSON file of CIs or relationships, queued for the
//! `cmdb-import` worker, with its progress, counts and row errors) and `/api/v1/cmdb/export`
//! (the tenant's CMDB in either format, streamed page by page).
use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, post, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError,
    auth::{
        Auth,
        scopes::{CmdbImport as CmdbImportScope, CmdbRead},
    },
    error::Problem as ProblemJson,
    pagination::{Page, PageQuery},
    tenancy::{TenantId, begin_scoped},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    CatalogueService,
    domain::cmdb_import::{EmptyValues, Format, Mode, read},
    store::{
        cmdb::{self as store, CiFilter},
        cmdb_import::{self as imports, CmdbImport, Options},
    },
};

/// A CMDB file: CSV, or JSON `{"cis": […], "relationships": […]}`.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct CmdbFile(pub Vec<u8>);

/// The tenant's CMDB as JSON: what `format=json` imports take back.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "cis": [{"id": "01a24d40-8b30-7c2f-9d3e-4f5a6b7c8d90", "class": "virtual", "name": "web-01", "status": "operational", "attributes": {"cpu_count": 2}}],
    "relationships": [{"from": "01a24d40-8b30-7c2f-9d3e-4f5a6b7c8d90", "type": "hosted_on", "to": "01a24d40-8b30-7c2f-9d3e-4f5a6b7c8d91"}]
}))]
pub struct CmdbExport {
    /// `id`, `class`, `name`, `status`, `attributes` of each of the tenant's CIs.
    pub cis: Vec<Value>,
    /// `from`, `type`, `to` (CI ids) of each of its relationships.
    pub relationships: Vec<Value>,
}

/// The largest file an import takes.
pub const MAX_BODY: usize = 50 * 1024 * 1024;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create).service(get).service(errors);
}

pub fn export_routes(cfg: &mut ServiceConfig) {
    cfg.service(export);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24d70-0000-7000-8000-000000000001",
    "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
    "source": "discovery", "format": "csv", "mode": "partial", "empty_values": "ignore",
    "status": "completed", "rows_total": 3, "rows_done": 3,
    "created": 2, "updated": 0, "unchanged": 0, "failed": 1, "skipped_attributes": 0,
    "created_at": "2026-12-06T09:00:00Z", "started_at": "2026-12-06T09:00:01Z", "finished_at": "2026-12-06T09:00:01Z"
}))]
pub struct ImportOut {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The source its values are recorded as (reconciliation ranks sources).
    pub source: String,
    pub format: String,
    /// `partial` (good rows kept) or `atomic` (all or nothing).
    pub mode: String,
    /// `ignore` (an empty cell changes nothing) or `clear` (it removes the attribute).
    pub empty_values: String,
    /// `queued`, `running`, `completed` or `failed`.
    pub status: String,
    pub rows_total: i64,
    pub rows_done: i64,
    /// `created`, `updated`, `unchanged` and `failed` sum to `rows_total` once it ends.
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub failed: i64,
    /// Values left alone because a higher source's value was still fresh.
    pub skipped_attributes: i64,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

fn out(i: CmdbImport) -> ImportOut {
    ImportOut {
        id: i.id,
        tenant_id: i.tenant_id,
        source: i.source,
        format: i.format,
        mode: i.mode,
        empty_values: i.empty_values,
        status: i.status,
        rows_total: i.rows_total,
        rows_done: i.rows_done,
        created: i.created,
        updated: i.updated,
        unchanged: i.unchanged,
        failed: i.failed,
        skipped_attributes: i.skipped_attributes,
        created_at: i.created_at,
        started_at: i.started_at,
        finished_at: i.finished_at,
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// The source the values come from (`discovery`, `sccm`, …; 1–64 characters). `manual`
    /// is the API's own.
    pub source: String,
    /// `csv` (default) or `json`.
    pub format: Option<String>,
    /// `partial` (default) or `atomic`.
    pub mode: Option<String>,
    /// `ignore` (default) or `clear`.
    pub empty_values: Option<String>,
}

fn option<T>(
    name: &str,
    raw: Option<&str>,
    default: T,
    parse: fn(&str) -> Option<T>,
) -> Result<T, ApiError> {
    match raw {
        None => Ok(default),
        Some(s) => parse(s).ok_or_else(|| {
            ApiError::bad_query(name, "not_allowed", format!("{s:?} is not a {name}"))
        }),
    }
}

/// Import CIs or relationships.
///
/// The body is the file (≤ 50 MiB, else 413): CSV with the columns `class`, `name`,
/// `status` and `attr.<name>`, or `from`, `type` and `to` (each end `<class>:<attribute>=<value>`
/// or a CI id); or JSON `{"cis": […], "relationships": […]}`. A file that is not UTF-8, lacks
/// a column or repeats one is refused (422 naming it) and nothing is queued. Rows are matched
/// to CIs by their class's identification rules; the answer is 202 with the import to follow.
#[utoipa::path(
    tag = "cmdb",
    operation_id = "createCmdbImport",
    params(ImportQuery),
    request_body(content = inline(CmdbFile), description = "The CSV or JSON file.", content_type = "application/octet-stream"),
    responses((status = 202, description = "Queued", body = ImportOut), (status = 413, description = "More than 50 MiB", body = ProblemJson, content_type = "application/problem+json"), (status = 422, description = "An unreadable file", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["cmdb:import"]))
)]
#[post("")]
pub async fn create(
    state: web::Data<CatalogueService>,
    auth: Auth<CmdbImportScope>,
    query: web::Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let source = query.source.trim().to_string();
    if source.is_empty() || source.len() > 64 {
        return Err(ApiError::bad_query(
            "source",
            "invalid",
            "a source name, 1–64 characters",
        ));
    }
    let options = Options {
        source,
        format: option(
            "format",
            query.format.as_deref(),
            Format::Csv,
            Format::parse,
        )?,
        mode: option("mode", query.mode.as_deref(), Mode::Partial, Mode::parse)?,
        empty_values: option(
            "empty_values",
            query.empty_values.as_deref(),
            EmptyValues::Ignore,
            EmptyValues::parse,
        )?,
    };
    let bytes = platform::json::read_limited(payload, MAX_BODY).await?;
    let rows = read(options.format, &bytes)?;
    let payload = String::from_utf8(bytes)
        .map_err(|_| ApiError::bad_request("not_utf8", "the file is not UTF-8 text"))?;
    let total = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let i = imports::insert(
        &txn,
        tenant,
        &options,
        payload,
        total,
        Some(auth.principal.subject),
    )
    .await?;
    txn.commit().await?;
    state.imports.notify_one();
    Ok(HttpResponse::build(StatusCode::ACCEPTED)
        .insert_header(("Location", format!("/api/v1/cmdb/imports/{}", i.id)))
        .json(out(i)))
}

async fn load(
    state: &CatalogueService,
    tenant: TenantId,
    id: Uuid,
) -> Result<CmdbImport, ApiError> {
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let i = imports::find(&txn, tenant, id).await?;
    txn.commit().await?;
    i.ok_or_else(|| ApiError::not_found("import"))
}

/// An import's progress and counts.
///
/// `rows_done` grows as the worker takes chunks; once `completed` or `failed`, the four counts
/// sum to `rows_total`.
#[utoipa::path(
    tag = "cmdb",
    operation_id = "getCmdbImport",
    params(("id" = Uuid, Path, description = "The import's id.")),
    responses((status = 200, description = "OK", body = ImportOut), (status = 404, description = "No such import", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["cmdb:read"]))
)]
#[get("/{id}")]
pub async fn get(
    state: web::Data<CatalogueService>,
    auth: Auth<CmdbRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(out(load(&state, auth.tenant_id(), *id).await?)))
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"row": 3, "field": "attributes.cpu_count", "message": "\"four\" is not an integer"}))]
pub struct ImportErrorOut {
    /// The file line (the header is line 1), or the position in a JSON file.
    pub row: i64,
    /// `class`, `name`, `status`, `attributes.<name>`, `from`, `type`, `to` or `body`.
    pub field: String,
    pub message: String,
}

platform::page_schema!(ImportErrorPage, ImportErrorOut);

/// The rows an import could not take, in file order.
///
/// Each names its row (the file line; the header is line 1), the field at fault and why.
#[utoipa::path(
    tag = "cmdb",
    operation_id = "listCmdbImportErrors",
    params(("id" = Uuid, Path, description = "The import's id."), PageQuery),
    responses((status = 200, description = "OK", body = ImportErrorPage), (status = 404, description = "No such import", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["cmdb:read"]))
)]
#[get("/{id}/errors")]
pub async fn errors(
    state: web::Data<CatalogueService>,
    auth: Auth<CmdbRead>,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = query.validate()?;
    let tenant = auth.tenant_id();
    let i = load(&state, tenant, *id).await?;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let rows = imports::errors(&txn, tenant, i.id, page.after, page.limit + 1).await?;
    txn.commit().await?;
    Ok(Page::from_rows(rows, page.limit, |e| e.id)
        .map(|e| ImportErrorOut {
            row: e.row,
            field: e.field,
            message: e.message,
        })
        .respond(&req))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `json` (default: `{"cis": […], "relationships": […]}`) or `csv`.
    pub format: Option<String>,
    /// For CSV, which file: `cis` (default) or `relationships`.
    pub kind: Option<String>,
}

/// Rows read per round trip while exporting.
const EXPORT_PAGE: u64 = 1_000;

/// Export the tenant's CMDB.
///
/// Streamed as it is read, in the shapes the import takes back: JSON with CIs and
/// relationships, or CSV of CIs (`class`, `name`, `status`, `attr.<name>` for every attribute
/// the classes have) or of relationships (`from`, `type`, `to` by CI id).
#[utoipa::path(
    tag = "cmdb",
    operation_id = "exportCmdb",
    params(ExportQuery),
    responses((status = 200, description = "The file: JSON (the default) or CSV", content((CmdbExport = "application/json"), (inline(CmdbFile) = "text/csv"))), (status = 400, description = "Invalid query", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["cmdb:read"]))
)]
#[get("")]
pub async fn export(
    state: web::Data<CatalogueService>,
    auth: Auth<CmdbRead>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let format = option(
        "format",
        query.format.as_deref(),
        Format::Json,
        Format::parse,
    )?;
    let relationships = match query.kind.as_deref() {
        None | Some("cis") => false,
        Some("relationships") => true,
        Some(other) => {
            return Err(ApiError::bad_query(
                "kind",
                "not_allowed",
                format!("{other:?} is not cis or relationships"),
            ));
        }
    };
    let tenant = auth.tenant_id();
    let lineage = auth.tenant.lineage().to_vec();
    let txn = begin_scoped(&state.db, &lineage).await?;
    let tree = store::classes(&txn, &lineage).await?;
    txn.commit().await?;
    let mut columns: Vec<String> = tree
        .all()
        .iter()
        .filter_map(|c| c.effective_schema["properties"].as_object())
        .flat_map(|p| p.keys().cloned())
        .collect();
    columns.sort();
    columns.dedup();
    let exporter = Exporter {
        db: state.db.clone(),
        tenant,
        format,
        relationships,
        columns,
    };
    let stream = futures_util::stream::unfold(Some(Cursor::Start), move |cursor| {
        let exporter = exporter.clone();
        async move {
            let cursor = cursor?;
            match exporter.next(cursor).await {
                Ok((bytes, next)) => {
                    Some((Ok::<_, actix_web::Error>(web::Bytes::from(bytes)), next))
                }
                Err(e) => Some((
                    Err(actix_web::error::ErrorInternalServerError(e.detail)),
                    None,
                )),
            }
        }
    });
    let content_type = match format {
        Format::Csv => "text/csv; charset=utf-8",
        Format::Json => "application/json",
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .streaming(stream))
}

/// Where an export is.
#[derive(Debug, Clone, Copy)]
enum Cursor {
    Start,
    Cis(Option<Uuid>, bool),
    Relationships(Option<Uuid>, bool),
    End,
}

#[derive(Clone)]
struct Exporter {
    db: sea_orm::DatabaseConnection,
    tenant: TenantId,
    format: Format,
    relationships: bool,
    columns: Vec<String>,
}

fn csv_line(cells: &[String]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(cells);
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

impl Exporter {
    /// The next piece of the file and where to go on from (`None`: done).
    async fn next(&self, cursor: Cursor) -> Result<(String, Option<Cursor>), ApiError> {
        let json = self.format == Format::Json;
        Ok(match cursor {
            Cursor::Start if json => ("{\"cis\":[".into(), Some(Cursor::Cis(None, true))),
            Cursor::Start if self.relationships => (
                csv_line(&["from".into(), "type".into(), "to".into()]),
                Some(Cursor::Relationships(None, true)),
            ),
            Cursor::Start => {
                let mut header = vec!["class".to_string(), "name".into(), "status".into()];
                header.extend(self.columns.iter().map(|c| format!("attr.{c}")));
                (csv_line(&header), Some(Cursor::Cis(None, true)))
            }
            Cursor::Cis(after, first) => {
                let txn = begin_scoped(&self.db, &[self.tenant]).await?;
                let rows = store::list_cis(
                    &txn,
                    &[self.tenant],
                    &CiFilter::default(),
                    after,
                    EXPORT_PAGE,
                )
                .await?;
                txn.commit().await?;
                let own: Vec<_> = rows
                    .iter()
                    .filter(|c| c.tenant_id == self.tenant.as_uuid())
                    .collect();
                let mut piece = String::new();
                let mut first = first;
                for c in &own {
                    if json {
                        if !first {
                            piece.push(',');
                        }
                        first = false;
                        piece.push_str(&json!({"id": c.id, "class": c.class, "name": c.name, "status": c.status, "attributes": c.attributes}).to_string());
                    } else {
                        let mut cells = vec![c.class.clone(), c.name.clone(), c.status.clone()];
                        cells.extend(self.columns.iter().map(|col| match c.attributes.get(col) {
                            None | Some(Value::Null) => String::new(),
                            Some(Value::String(s)) => s.clone(),
                            Some(v) => v.to_string(),
                        }));
                        piece.push_str(&csv_line(&cells));
                    }
                }
                let last = rows.last().map(|c| c.id);
                let more = rows.len() as u64 == EXPORT_PAGE;
                let next = match (more, json) {
                    (true, _) => Cursor::Cis(last, first),
                    (false, true) => {
                        piece.push_str("],\"relationships\":[");
                        Cursor::Relationships(None, true)
                    }
                    (false, false) => Cursor::End,
                };
                (piece, Some(next))
            }
            Cursor::Relationships(after, first) => {
                let txn = begin_scoped(&self.db, &[self.tenant]).await?;
                let rows =
                    store::list_relationships(&txn, &[self.tenant], None, after, EXPORT_PAGE)
                        .await?;
                txn.commit().await?;
                let mut piece = String::new();
                let mut first = first;
                for r in &rows {
                    if json {
                        if !first {
                            piece.push(',');
                        }
                        piece.push_str(
                            &json!({"from": r.source_id, "type": r.rel_type, "to": r.target_id})
                                .to_string(),
                        );
                    } else {
                        piece.push_str(&csv_line(&[
                            r.source_id.to_string(),
                            r.rel_type.clone(),
                            r.target_id.to_string(),
                        ]));
                    }
                    first = false;
                }
                let more = rows.len() as u64 == EXPORT_PAGE;
                let next = if more {
                    Cursor::Relationships(rows.last().map(|r| r.id), first)
                } else {
                    if json {
                        piece.push_str("]}");
                    }
                    Cursor::End
                };
                (piece, Some(next))
            }
            Cursor::End => (String::new(), None),
        })
    }
}
