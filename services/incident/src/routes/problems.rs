//! `/api/v1/problems`: root cause, workaround, known errors, linked incidents; resolving a
//! problem can resolve its open incidents.
use actix_web::{HttpRequest, HttpResponse, delete, get, http::StatusCode, patch, post, put, web};
use chrono::{DateTime, Utc};
use platform::tenancy::TenantId;
use platform::{
    ApiError,
    auth::{
        Auth,
        scopes::{ProblemRead, ProblemWrite},
    },
    error::Problem as ProblemJson,
    json::Json,
    pagination::{Page, PageQuery, SortOrder, parse_sort},
    tenancy::begin_scoped,
    validate::{Validator, multiline, text},
};
use sea_orm::DatabaseTransaction;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::shared::resolve_if_open;
use crate::domain::incident::IncidentId;
use crate::{
    IncidentService,
    domain::{
        lifecycle::{State, Transition},
        queue::ProblemSort,
    },
    events,
    idempotency::{self, Claim},
    store::{
        entities::problem,
        incidents,
        problems::{self, NewProblem, Problem, ProblemChanges},
    },
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get)
        .service(update)
        .service(link)
        .service(unlink)
        .service(resolve);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a20eb4-2a10-73c4-9ef0-769c81f59af5",
    "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
    "number": "PRB0001002",
    "title": "Payroll app slow under month-end load",
    "description": "Recurring incidents about Payroll.",
    "root_cause": "",
    "workaround": "",
    "known_error": false,
    "state": "open",
    "resolution_notes": null,
    "linked_incidents": [
        "01a1a7c4-8a70-7ef0-8ebb-2f6d5f7c8aea",
        "01a1c6aa-b270-72ad-8381-a52cbdfb2dab"
    ],
    "version": 1,
    "created_at": "2026-11-24T17:56:58Z",
    "updated_at": "2026-11-24T17:56:58Z"
}))]
pub struct ProblemOut {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Per-tenant number, e.g. `PRB0001001`.
    pub number: String,
    pub title: String,
    pub description: String,
    pub root_cause: String,
    pub workaround: String,
    /// A known error: root cause or workaround documented for reuse.
    pub known_error: bool,
    /// `open` or `resolved`.
    pub state: String,
    pub resolution_notes: Option<String>,
    pub linked_incidents: Vec<Uuid>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

platform::page_schema!(ProblemPage, ProblemOut);

fn out(p: &Problem, linked: Vec<Uuid>) -> ProblemOut {
    ProblemOut {
        id: p.id,
        tenant_id: p.tenant_id,
        number: p.number.clone(),
        title: p.title.clone(),
        description: p.description.clone(),
        root_cause: p.root_cause.clone(),
        workaround: p.workaround.clone(),
        known_error: p.known_error,
        state: p.state.as_str().to_string(),
        resolution_notes: p.resolution_notes.clone(),
        linked_incidents: linked,
        version: p.version,
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

fn long_text(v: &mut Validator, pointer: &str, value: &str) -> Option<String> {
    v.check(multiline(pointer, value, 20_000))
}

/// After a change of links: a new version, the event, the current links.
async fn relinked(txn: &DatabaseTransaction, p: Problem) -> Result<(Problem, Vec<Uuid>), ApiError> {
    let p = problems::touch(txn, p).await?;
    let linked = problems::linked(txn, &p).await?;
    events::problem_updated(txn, &p, &linked).await?;
    Ok((p, linked))
}

async fn load(txn: &DatabaseTransaction, tenant: TenantId, id: Uuid) -> Result<Problem, ApiError> {
    problems::find(txn, tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("problem"))
}

#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "VPN concentrator drops idle sessions",
    "description": "Recurring disconnects every hour."
}))]
pub struct ProblemIn {
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub root_cause: String,
    #[serde(default)]
    pub workaround: String,
}

impl TryFrom<ProblemIn> for NewProblem {
    type Error = Vec<platform::FieldError>;

    fn try_from(input: ProblemIn) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let title = v.check(text("/title", &input.title, 200));
        let description = long_text(&mut v, "/description", &input.description);
        let root_cause = long_text(&mut v, "/root_cause", &input.root_cause);
        let workaround = long_text(&mut v, "/workaround", &input.workaround);
        let parsed = (|| {
            Some(NewProblem {
                title: title?,
                description: description?,
                root_cause: root_cause?,
                workaround: workaround?,
            })
        })();
        v.finish_with(parsed)
    }
}

/// Record a problem.
///
/// A problem is the cause of one or more incidents; link them with `PUT
/// /api/v1/problems/{id}/incidents/{incident_id}`. Numbers are per tenant (`PRB0001001`).
#[utoipa::path(
    tag = "problems",
    operation_id = "createProblem",
    request_body = ProblemIn,
    responses((status = 201, description = "Created", body = ProblemOut)),
    security(("bearer" = ["problem:write"]))
)]
#[post("")]
pub async fn create(
    state: web::Data<IncidentService>,
    auth: Auth<ProblemWrite>,
    body: Json<ProblemIn>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let new = NewProblem::try_from(body.clone())?;
    let tenant = auth.tenant_id();
    let number = state
        .numbers
        .next(&state.db, "problem_counters", "PRB", tenant)
        .await?;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let claimed = match idempotency::claim(
        &txn,
        &req,
        tenant,
        auth.principal.subject,
        "problems",
        &*body,
        crate::store::now(),
    )
    .await?
    {
        Claim::Replay(res) => return Ok(res),
        Claim::Proceed(claimed) => claimed,
    };
    let p = problems::insert(&txn, tenant, number, new).await?;
    events::problem_created(&txn, &p).await?;
    let location = format!("/api/v1/problems/{}", p.id);
    let body = out(&p, vec![]);
    idempotency::complete(&txn, claimed, StatusCode::CREATED, &body, Some(&location)).await?;
    txn.commit().await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", location))
        .json(body))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only known errors (`true`) or only the others (`false`).
    pub known_error: Option<bool>,
    /// The order: `created_at` (default), `-created_at` or `-updated_at`. A cursor is read only
    /// under the sort that issued it.
    #[param(value_type = Option<ProblemSort>, inline)]
    pub sort: Option<String>,
}

/// Problems of the acting tenant, a page at a time.
///
/// Oldest first unless `sort` says otherwise; `known_error` filters known errors (`true`) or the others (`false`).
#[utoipa::path(
    tag = "problems",
    operation_id = "listProblems",
    params(ListQuery),
    responses((status = 200, description = "OK", body = ProblemPage)),
    security(("bearer" = ["problem:read"]))
)]
#[get("")]
pub async fn list(
    state: web::Data<IncidentService>,
    auth: Auth<ProblemRead>,
    query: web::Query<ListQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let sort = parse_sort(query.sort.as_deref(), ProblemSort::Oldest)?;
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .validate_sorted(sort.name(), &problems::order(sort))?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let rows = problems::list(
        &txn,
        tenant,
        query.known_error,
        sort,
        page.after.as_ref(),
        page.limit + 1,
    )
    .await?;
    let ids: Vec<Uuid> = rows.iter().map(|p| p.id).collect();
    let mut linked = problems::linked_to_each(&txn, tenant, &ids).await?;
    txn.commit().await?;
    Ok(Page::from_sorted_rows(rows, page.limit, sort.name(), |p| {
        problems::position(sort, p)
    })
    .map(|p| out(&p, linked.remove(&p.id).unwrap_or_default()))
    .respond(&req))
}

/// Read a problem with its linked incidents.
///
/// The analysis (root cause, workaround, known-error flag), the state and the ids of the linked
/// incidents.
#[utoipa::path(
    tag = "problems",
    operation_id = "getProblem",
    params(("id" = Uuid, Path, description = "The problem's id.")),
    responses((status = 200, description = "OK", body = ProblemOut)),
    security(("bearer" = ["problem:read"]))
)]
#[get("/{id}")]
pub async fn get(
    state: web::Data<IncidentService>,
    auth: Auth<ProblemRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let p = load(&txn, tenant, *id).await?;
    let linked = problems::linked(&txn, &p).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(&p, linked)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "root_cause": "The concentrator's idle timeout is shorter than the client's keep-alive.",
    "workaround": "Reconnect, or keep a ping running while connected.",
    "known_error": true
}))]
pub struct ProblemPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub root_cause: Option<String>,
    pub workaround: Option<String>,
    /// Marking a known error needs a root cause or a workaround.
    pub known_error: Option<bool>,
}

impl TryFrom<ProblemPatch> for ProblemChanges {
    type Error = Vec<platform::FieldError>;

    fn try_from(input: ProblemPatch) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let title = input.title.map(|t| v.check(text("/title", &t, 200)));
        let mut long =
            |pointer, value: Option<String>| value.map(|x| long_text(&mut v, pointer, &x));
        let description = long("/description", input.description);
        let root_cause = long("/root_cause", input.root_cause);
        let workaround = long("/workaround", input.workaround);
        // A given field that did not parse is `Some(None)`: the whole change is refused.
        let parsed = (|| {
            Some(ProblemChanges {
                title: title.map_or(Some(None), |t| t.map(Some))?,
                description: description.map_or(Some(None), |d| d.map(Some))?,
                root_cause: root_cause.map_or(Some(None), |r| r.map(Some))?,
                workaround: workaround.map_or(Some(None), |w| w.map(Some))?,
                known_error: input.known_error,
            })
        })();
        v.finish_with(parsed)
    }
}

/// Record a problem's analysis.
///
/// Root cause, workaround and the known-error flag; only the fields sent change. A known error
/// needs a root cause or a workaround (422 `analysis_required`).
#[utoipa::path(
    tag = "problems",
    operation_id = "updateProblem",
    params(("id" = Uuid, Path, description = "The problem's id.")),
    request_body = ProblemPatch,
    responses((status = 200, description = "OK", body = ProblemOut)),
    security(("bearer" = ["problem:write"]))
)]
#[patch("/{id}")]
pub async fn update(
    state: web::Data<IncidentService>,
    auth: Auth<ProblemWrite>,
    id: web::Path<Uuid>,
    body: Json<ProblemPatch>,
) -> Result<HttpResponse, ApiError> {
    let changes = ProblemChanges::try_from(body.0)?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let p = load(&txn, tenant, *id).await?;
    if changes.leaves_known_error_unexplained(&p) {
        return Err(ApiError::field(
            "/known_error",
            "analysis_required",
            "a known error needs a root cause or a workaround",
        ));
    }
    let updated = problems::change(&txn, p, changes).await?;
    let linked = problems::linked(&txn, &updated).await?;
    events::problem_updated(&txn, &updated, &linked).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(&updated, linked)))
}

/// Link an incident to a problem (idempotent).
///
/// The incident must be of the problem's tenant; an unknown id and another tenant's get the same
/// 404.
#[utoipa::path(
    tag = "problems",
    operation_id = "linkProblemIncident",
    params(("id" = Uuid, Path, description = "The problem's id."), ("incident_id" = Uuid, Path, description = "The incident's id.")),
    responses((status = 200, description = "OK", body = ProblemOut)),
    security(("bearer" = ["problem:write"]))
)]
#[put("/{id}/incidents/{incident_id}")]
pub async fn link(
    state: web::Data<IncidentService>,
    auth: Auth<ProblemWrite>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (id, incident_id) = path.into_inner();
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let p = load(&txn, tenant, id).await?;
    incidents::find(&txn, tenant, IncidentId(incident_id))
        .await?
        .ok_or_else(|| ApiError::not_found("incident"))?;
    problems::link(&txn, &p, IncidentId(incident_id)).await?;
    let (p, linked) = relinked(&txn, p).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(&p, linked)))
}

/// Unlink an incident from a problem.
///
/// 404 when the incident is not linked.
#[utoipa::path(
    tag = "problems",
    operation_id = "unlinkProblemIncident",
    params(("id" = Uuid, Path, description = "The problem's id."), ("incident_id" = Uuid, Path, description = "The incident's id.")),
    responses((status = 200, description = "OK", body = ProblemOut)),
    security(("bearer" = ["problem:write"]))
)]
#[delete("/{id}/incidents/{incident_id}")]
pub async fn unlink(
    state: web::Data<IncidentService>,
    auth: Auth<ProblemWrite>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (id, incident_id) = path.into_inner();
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let p = load(&txn, tenant, id).await?;
    if !problems::unlink(&txn, &p, IncidentId(incident_id)).await? {
        return Err(ApiError::not_found("link"));
    }
    let (p, linked) = relinked(&txn, p).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(&p, linked)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "resolution_notes": "Idle timeout raised to 8 hours.",
    "resolve_incidents": true
}))]
pub struct ResolveIn {
    pub resolution_notes: String,
    /// Also resolve every linked incident that is still open.
    #[serde(default)]
    pub resolve_incidents: bool,
}

/// Resolve a problem.
///
/// Optionally resolves its open linked incidents too (resolution code `problem_resolved`). A
/// problem resolves once (409 `problem_not_open`).
#[utoipa::path(
    tag = "problems",
    operation_id = "resolveProblem",
    params(("id" = Uuid, Path, description = "The problem's id.")),
    request_body = ResolveIn,
    responses((status = 200, description = "OK", body = ProblemOut), (status = 409, description = "`problem_not_open`: already resolved", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["problem:write"]))
)]
#[post("/{id}/resolve")]
pub async fn resolve(
    state: web::Data<IncidentService>,
    auth: Auth<ProblemWrite>,
    id: web::Path<Uuid>,
    body: Json<ResolveIn>,
) -> Result<HttpResponse, ApiError> {
    let notes = text("/resolution_notes", &body.resolution_notes, 20_000)
        .map_err(|e| ApiError::validation(vec![e]))?;
    let tenant = auth.tenant_id();
    let sla = state.sla.tracking(&auth.tenant).await?;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let p = load(&txn, tenant, *id).await?;
    if p.state != problem::State::Open {
        return Err(ApiError::conflict(
            "problem_not_open",
            "the problem is already resolved",
        ));
    }
    let linked = problems::linked(&txn, &p).await?;
    let mut resolved = Vec::new();
    if body.resolve_incidents {
        let transition = Transition {
            to: State::Resolved,
            hold_reason: None,
            resolution_code: Some("problem_resolved".into()),
            resolution_notes: Some(format!("Resolved by {}: {notes}", p.number)),
        };
        for incident_id in &linked {
            let Some(inc) = incidents::find(&txn, tenant, IncidentId(*incident_id)).await? else {
                continue;
            };
            if resolve_if_open(&txn, &sla, inc, &transition).await? {
                resolved.push(*incident_id);
            }
        }
    }
    let p = problems::resolve(&txn, p, notes).await?;
    events::problem_resolved(&txn, &p, resolved).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(&p, linked)))
}
