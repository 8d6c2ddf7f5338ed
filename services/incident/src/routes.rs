//! `/api/v1/incidents`: open, read, list, move through the lifecycle, comment.
use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, patch, post, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError, FieldError,
    auth::{
        Auth, Principal,
        scopes::{IncidentReadOwn, IncidentWrite, IncidentWriteOwn},
    },
    error::Problem,
    json::Json,
    pagination::{Page, PageQuery, SortOrder, parse_sort},
    tenancy::begin_scoped,
    validate::{Validator, multiline, text},
};
use sea_orm::ActiveValue::Set;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    IncidentService,
    domain::{
        lifecycle::{HoldReason, Resolution, State, Status, Transition, TransitionError},
        priority::{Level, Matrix, Priority},
        queue::{IncidentSort, NextSlaState, no_sla_due},
    },
    idempotency::{self, Claim},
    sla::Tracking,
    store::{
        incidents::{self, Comment, Filter, Incident, Queued},
        people,
    },
};

/// Whether the caller reads every incident of the tenant, work notes included
/// (`incident:read`); otherwise it reads only the incidents it raised, without work notes
/// (`incident:read_own`).
pub(crate) fn reads_all(p: &Principal) -> bool {
    p.reaches_all("incident:read")
}

/// Whether the caller works every incident of the tenant (`incident:write`); otherwise it
/// may only raise, comment on, cancel and reopen its own (`incident:write_own`).
fn works_all(p: &Principal) -> bool {
    p.reaches_all("incident:write")
}

/// A caller that may see an incident but not work it: a reader of the whole queue who writes
/// only its own incidents.
fn not_yours() -> ApiError {
    ApiError::forbidden(
        "not_your_incident",
        "you may change only the incidents you raised",
    )
}

pub(crate) fn state_str(s: State) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn parse_state(s: &str) -> Option<State> {
    serde_json::from_value(json!(s)).ok()
}

fn parse_hold(s: &str) -> Option<HoldReason> {
    serde_json::from_value(json!(s)).ok()
}

pub(crate) fn status_of(i: &Incident) -> Status {
    Status {
        state: parse_state(&i.state).unwrap_or(State::New),
        hold_reason: i.hold_reason.as_deref().and_then(parse_hold),
        resolution: i.resolution_code.as_ref().map(|code| Resolution {
            code: code.clone(),
            notes: i.resolution_notes.clone().unwrap_or_default(),
        }),
    }
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a1b420-9a70-720a-8f2b-6af20c44fed0",
    "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
    "number": "INC0001003",
    "title": "VPN disconnects every hour",
    "description": "Reported by the requester: vpn disconnects every hour.",
    "caller_id": "01a24233-c46c-762e-a9d2-c096f2391613",
    "impact": 1,
    "urgency": 2,
    "priority": 2,
    "state": "on_hold",
    "hold_reason": "awaiting_caller",
    "resolution_code": null,
    "resolution_notes": null,
    "assignment_group_id": "01a24233-c476-71a0-b05d-7ba78818753e",
    "assignee_id": "01a24233-c45f-769f-8803-48c30e8f1d48",
    "category": null,
    "subcategory": null,
    "service_id": null,
    "configuration_item_id": null,
    "parent_id": null,
    "major": false,
    "priority_overridden": false,
    "allowed_transitions": [
        "in_progress",
        "resolved"
    ],
    "version": 3,
    "created_at": "2026-11-07T03:49:58Z",
    "updated_at": "2026-11-07T05:49:58Z",
    "caller_name": "Rita Requester",
    "assignee_name": "Alex Agent",
    "assignment_group_name": "Service Desk",
    "next_sla": {
        "name": "P2 resolution",
        "kind": "resolution",
        "due_at": "2026-11-07T11:49:58Z",
        "state": "running"
    }
}))]
pub struct IncidentOut {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Per-tenant number, e.g. `INC0001001`.
    pub number: String,
    pub title: String,
    pub description: String,
    pub caller_id: Option<Uuid>,
    pub impact: i16,
    pub urgency: i16,
    /// 1 Critical … 5 Planning, from the impact × urgency matrix.
    pub priority: i16,
    pub state: State,
    pub hold_reason: Option<HoldReason>,
    pub resolution_code: Option<String>,
    pub resolution_notes: Option<String>,
    pub assignment_group_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
    pub category: Option<String>,
    pub subcategory: Option<String>,
    /// The affected service.
    pub service_id: Option<Uuid>,
    /// The affected configuration item.
    pub configuration_item_id: Option<Uuid>,
    /// The parent incident; resolving the parent resolves its open children.
    pub parent_id: Option<Uuid>,
    pub major: bool,
    /// True when an agent set the priority instead of the matrix.
    pub priority_overridden: bool,
    /// The states this incident may move to next.
    pub allowed_transitions: Vec<State>,
    /// Optimistic-concurrency version (also the `ETag`).
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The caller's display name, as the directory knows it.
    pub caller_name: Option<String>,
    pub assignee_name: Option<String>,
    pub assignment_group_name: Option<String>,
    /// The running SLA target due first (the `sla_due` order's key); `null` when no clock runs.
    pub next_sla: Option<NextSla>,
}

/// The SLA target a queue row shows: the running clock due first.
#[derive(Serialize, ToSchema)]
pub struct NextSla {
    /// The SLA definition's name.
    pub name: String,
    /// `response` or `resolution`.
    pub kind: String,
    pub due_at: DateTime<Utc>,
    pub state: NextSlaState,
}

platform::page_schema!(IncidentPage, IncidentOut);

fn out(row: &Queued) -> IncidentOut {
    let i = &row.incident;
    let status = status_of(i);
    IncidentOut {
        id: i.id,
        tenant_id: i.tenant_id,
        number: i.number.clone(),
        title: i.title.clone(),
        description: i.description.clone(),
        caller_id: i.caller_id,
        impact: i.impact,
        urgency: i.urgency,
        priority: i.priority,
        state: status.state,
        hold_reason: status.hold_reason,
        resolution_code: i.resolution_code.clone(),
        resolution_notes: i.resolution_notes.clone(),
        assignment_group_id: i.assignment_group_id,
        assignee_id: i.assignee_id,
        category: i.category.clone(),
        subcategory: i.subcategory.clone(),
        service_id: i.service_id,
        configuration_item_id: i.configuration_item_id,
        parent_id: i.parent_id,
        major: i.major,
        priority_overridden: i.priority_overridden,
        allowed_transitions: status.state.next().to_vec(),
        version: i.version,
        created_at: i.created_at,
        updated_at: i.updated_at,
        caller_name: row.caller_name.clone(),
        assignee_name: row.assignee_name.clone(),
        assignment_group_name: row.assignment_group_name.clone(),
        next_sla: row.next_sla.as_ref().map(|(name, kind)| NextSla {
            name: name.clone(),
            kind: kind.clone(),
            due_at: i.sla_due_at,
            state: NextSlaState::at(i.sla_due_at, crate::sla::now()),
        }),
    }
}

fn etag(i: &Incident) -> String {
    format!("\"{}\"", i.version)
}

/// `If-Match` (optional): the `ETag` (`"<version>"`) the client read must still be current
/// (412 otherwise).
pub(crate) fn check_version(req: &HttpRequest, version: i64) -> Result<(), ApiError> {
    match req
        .headers()
        .get("if-match")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
    {
        Some(expected) if expected != "*" && expected != format!("\"{version}\"") => {
            Err(ApiError::new(
                actix_web::http::StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                "it changed since you read it; read it again",
            ))
        }
        _ => Ok(()),
    }
}

fn check_if_match(req: &HttpRequest, inc: &Incident) -> Result<(), ApiError> {
    check_version(req, inc.version)
}

fn respond(mut res: actix_web::HttpResponseBuilder, row: &Queued) -> HttpResponse {
    res.insert_header(("ETag", etag(&row.incident)))
        .json(out(row))
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "Checkout API answers 502",
    "description": "Since 09:10 UTC, about 30 % of requests fail.",
    "impact": 2,
    "urgency": 2,
    "category": "network"
}))]
pub struct IncidentIn {
    #[schema(example = "Email is down for the finance team")]
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// 1 (extensive) to 3 (minor).
    pub impact: i64,
    /// 1 (critical) to 3 (low).
    pub urgency: i64,
    /// The affected user (agents; defaults to whoever opens the incident).
    pub caller_id: Option<Uuid>,
    pub assignment_group_id: Option<Uuid>,
    /// Must be a member of the assignment group.
    pub assignee_id: Option<Uuid>,
    #[schema(example = "network")]
    pub category: Option<String>,
    /// Needs a category.
    pub subcategory: Option<String>,
    /// The affected service (an id from the service catalogue).
    pub service_id: Option<Uuid>,
    /// The affected configuration item (an id from the CMDB).
    pub configuration_item_id: Option<Uuid>,
    /// An incident of the same tenant this one is a child of.
    pub parent_id: Option<Uuid>,
    /// A major incident (agents only).
    #[serde(default)]
    pub major: bool,
    /// 1–5 instead of the matrix's value (agents only; recorded as an event).
    pub priority: Option<i64>,
}

fn classification(v: &mut Validator, pointer: &str, raw: &Option<String>) -> Option<String> {
    let value = raw.as_deref()?;
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !ok {
        v.push(FieldError::new(
            pointer,
            "invalid_code",
            "use 1-64 of a-z, 0-9, '_' and '-'",
        ));
    }
    Some(value.to_string())
}

/// Checks references against identity's projected users and groups. An id that does not
/// exist and an id of another tenant get the same answer (no existence oracle).
async fn check_references(
    txn: &sea_orm::DatabaseTransaction,
    tenant: Uuid,
    caller: Option<Uuid>,
    group: Option<Uuid>,
    assignee: Option<Uuid>,
) -> Result<Vec<FieldError>, ApiError> {
    let mut errors = Vec::new();
    let unknown = |pointer: &str, what: &str| {
        FieldError::new(
            pointer,
            "unknown_reference",
            format!("no such {what} in this tenant"),
        )
    };
    if let Some(c) = caller
        && !people::active_user(txn, tenant, c).await?
    {
        errors.push(unknown("/caller_id", "active user"));
    }
    let members = match group {
        Some(g) => {
            let m = people::group_members(txn, tenant, g).await?;
            if m.is_none() {
                errors.push(unknown("/assignment_group_id", "group"));
            }
            m
        }
        None => None,
    };
    if let Some(a) = assignee {
        match (group, &members) {
            (None, _) => errors.push(FieldError::new(
                "/assignee_id",
                "group_required",
                "assign a group together with its member",
            )),
            (Some(_), Some(m)) if !m.contains(&a) => errors.push(FieldError::new(
                "/assignee_id",
                "not_in_group",
                "the assignee must be a member of the assignment group",
            )),
            (Some(_), Some(_)) if !people::active_user(txn, tenant, a).await? => {
                errors.push(unknown("/assignee_id", "active user"))
            }
            _ => {}
        }
    }
    Ok(errors)
}

fn level(v: &mut Validator, pointer: &str, raw: i64) -> Option<Level> {
    let l = u8::try_from(raw).ok().and_then(Level::new);
    if l.is_none() {
        v.push(FieldError::new(
            pointer,
            "out_of_range",
            "must be 1, 2 or 3",
        ));
    }
    l
}

/// Loads an incident the caller may see (requesters: only their own).
pub(crate) async fn find_visible(
    txn: &sea_orm::DatabaseTransaction,
    tenant: Uuid,
    p: &Principal,
    id: Uuid,
) -> Result<Incident, ApiError> {
    incidents::find(txn, tenant, id)
        .await?
        .filter(|i| visible(p, i))
        .ok_or_else(|| ApiError::not_found("incident"))
}

/// Whether the caller may see `i` (requesters: only their own).
fn visible(p: &Principal, i: &Incident) -> bool {
    reads_all(p) || i.caller_id == Some(p.subject)
}

/// Open an incident.
///
/// Priority comes from the impact × urgency matrix (agents may override it with `priority`).
/// Requesters open incidents for themselves, unassigned (`not_allowed` on the fields they may not
/// set). Every invalid field is reported at once (422 `validation_failed`); an unknown or foreign
/// reference is `unknown_reference`. Send an `Idempotency-Key`: a retry answers the first incident
/// again.
#[utoipa::path(
    tag = "incidents",
    operation_id = "createIncident",
    request_body = IncidentIn,
    responses((status = 201, description = "Created", body = IncidentOut)),
    security(("bearer" = ["incident:write_own"]))
)]
#[post("")]
pub async fn create(
    state: web::Data<IncidentService>,
    auth: Auth<IncidentWriteOwn>,
    body: Json<IncidentIn>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut v = Validator::new();
    let title = v.check(text("/title", &body.title, 200));
    let description = v.check(multiline("/description", &body.description, 20_000));
    let impact = level(&mut v, "/impact", body.impact);
    let urgency = level(&mut v, "/urgency", body.urgency);
    let category = classification(&mut v, "/category", &body.category);
    let subcategory = classification(&mut v, "/subcategory", &body.subcategory);
    if subcategory.is_some() && category.is_none() {
        v.push(FieldError::new(
            "/subcategory",
            "category_required",
            "a subcategory needs a category",
        ));
    }
    let override_priority = match body.priority {
        None => None,
        Some(p) => {
            let parsed = u8::try_from(p).ok().and_then(Priority::new);
            if parsed.is_none() {
                v.push(FieldError::new(
                    "/priority",
                    "out_of_range",
                    "must be between 1 and 5",
                ));
            }
            parsed
        }
    };
    if !works_all(&auth.principal) {
        for (pointer, given) in [
            ("/major", body.major),
            ("/priority", body.priority.is_some()),
        ] {
            if given {
                v.push(FieldError::new(
                    pointer,
                    "not_allowed",
                    "only agents set this",
                ));
            }
        }
        for (pointer, given) in [
            (
                "/caller_id",
                body.caller_id.is_some_and(|c| c != auth.principal.subject),
            ),
            ("/assignment_group_id", body.assignment_group_id.is_some()),
            ("/assignee_id", body.assignee_id.is_some()),
        ] {
            if given {
                v.push(FieldError::new(
                    pointer,
                    "not_allowed",
                    "requesters open incidents for themselves, unassigned",
                ));
            }
        }
    }
    v.finish()?;
    let (Some(title), Some(description), Some(impact), Some(urgency)) =
        (title, description, impact, urgency)
    else {
        return Err(ApiError::internal("validated input missing"));
    };
    let matrix_priority = Matrix::default().priority(impact, urgency);
    let priority = override_priority.unwrap_or(matrix_priority);
    let overridden = priority != matrix_priority;
    let tenant = auth.tenant_id();
    let p = &auth.principal;
    let sla = state.sla.tracking(&auth.tenant).await?;
    // References are checked before a number is taken, so a refused create does not use one.
    let referenced = body.caller_id.is_some()
        || body.assignment_group_id.is_some()
        || body.assignee_id.is_some()
        || body.parent_id.is_some();
    if referenced {
        let check = begin_scoped(&state.db, &[tenant]).await?;
        let mut problems = check_references(
            &check,
            tenant,
            body.caller_id,
            body.assignment_group_id,
            body.assignee_id,
        )
        .await?;
        if let Some(parent) = body.parent_id
            && incidents::find(&check, tenant, parent).await?.is_none()
        {
            problems.push(FieldError::new(
                "/parent_id",
                "unknown_reference",
                "no such incident in this tenant",
            ));
        }
        check.commit().await?;
        if !problems.is_empty() {
            return Err(ApiError::validation(problems));
        }
    }
    let number = state
        .numbers
        .next(&state.db, "incident_counters", "INC", tenant)
        .await?;
    let now = crate::store::now();
    let caller = body.caller_id.or((!p.is_client).then_some(p.subject));
    let mut inc = Incident {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        number,
        title,
        description,
        caller_id: caller,
        impact: impact.get() as i16,
        urgency: urgency.get() as i16,
        priority: priority.get() as i16,
        state: state_str(State::New),
        hold_reason: None,
        resolution_code: None,
        resolution_notes: None,
        created_by: p.subject,
        assignment_group_id: body.assignment_group_id,
        assignee_id: body.assignee_id,
        category,
        subcategory,
        parent_id: body.parent_id,
        service_id: body.service_id,
        configuration_item_id: body.configuration_item_id,
        major: body.major,
        priority_overridden: overridden,
        version: 1,
        created_at: now,
        updated_at: now,
        sla_due_at: no_sla_due(),
    };
    let mut outbox = bus::outbox::Batch::default();
    let created = events::incident::IncidentCreated {
        incident_id: inc.id,
        number: inc.number.clone(),
        title: inc.title.clone(),
        caller_id: inc.caller_id,
        impact: impact.get(),
        urgency: urgency.get(),
        priority: priority.get(),
        state: inc.state.clone(),
    };
    outbox.push(tenant, inc.id, inc.version, &created)?;
    if overridden {
        let audit = events::incident::IncidentPriorityOverridden {
            incident_id: inc.id,
            matrix_priority: matrix_priority.get(),
            priority: priority.get(),
            by: p.subject,
        };
        outbox.push(tenant, inc.id, inc.version, &audit)?;
    }
    // The clocks start first, so the row is written once, with its queue key.
    let started = sla.start(&inc, crate::sla::now())?;
    inc.sla_due_at = started.due;
    let location = format!("/api/v1/incidents/{}", inc.id);
    // Without an `Idempotency-Key` a create is one statement (on PostgreSQL): the row, its
    // events and clocks, read back as a queue row. With one, the key is claimed first and the
    // answer recorded, in one transaction.
    let view = if idempotency::requested(&req)? {
        let txn = begin_scoped(&state.db, &[tenant]).await?;
        let claimed =
            match idempotency::claim(&txn, &req, tenant, p.subject, "incidents", &*body, now)
                .await?
            {
                Claim::Replay(res) => return Ok(res),
                Claim::Proceed(claimed) => claimed,
            };
        let view = incidents::create(&txn, inc, outbox, started).await?;
        idempotency::complete(
            &txn,
            claimed,
            StatusCode::CREATED,
            &out(&view),
            Some(&location),
        )
        .await?;
        txn.commit().await?;
        view
    } else {
        incidents::create_alone(&state.db, inc, outbox, started).await?
    };
    let mut res = HttpResponse::Created();
    res.insert_header(("Location", location));
    Ok(respond(res, &view))
}

/// Read an incident.
///
/// The answer's `ETag` is the incident's version: send it back as `If-Match` when changing the
/// incident. Another tenant's incident, and for requesters someone else's, is 404.
#[utoipa::path(
    tag = "incidents",
    operation_id = "getIncident",
    params(("id" = Uuid, Path, description = "The incident's id.")),
    responses((status = 200, description = "OK", body = IncidentOut)),
    security(("bearer" = ["incident:read_own"]))
)]
#[get("/{id}")]
pub async fn get(
    state: web::Data<IncidentService>,
    auth: Auth<IncidentReadOwn>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let view = incidents::find_queued(&txn, tenant, *id)
        .await?
        .filter(|row| visible(&auth.principal, &row.incident))
        .ok_or_else(|| ApiError::not_found("incident"))?;
    txn.commit().await?;
    Ok(respond(HttpResponse::Ok(), &view))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// A tenant id or slug within reach, or `*` for every customer (MSP roles).
    pub tenant: Option<String>,
    /// `new`, `in_progress`, `on_hold`, `resolved`, `closed` or `canceled`.
    pub state: Option<String>,
    /// 1–5.
    pub priority: Option<i16>,
    /// Incidents assigned to this group.
    pub assignment_group_id: Option<Uuid>,
    /// Incidents assigned to this user.
    pub assignee_id: Option<Uuid>,
    /// Incidents raised for this user.
    pub caller_id: Option<Uuid>,
    /// RFC 3339; incidents created at or after.
    pub created_after: Option<DateTime<Utc>>,
    /// RFC 3339; incidents created before.
    pub created_before: Option<DateTime<Utc>>,
    /// RFC 3339; incidents last changed at or after.
    pub updated_after: Option<DateTime<Utc>>,
    /// RFC 3339; incidents last changed before.
    pub updated_before: Option<DateTime<Utc>>,
    /// Incidents affecting this service.
    pub service_id: Option<Uuid>,
    /// Full-text search over title, description and comments (work notes only for agents).
    pub q: Option<String>,
    /// The order: `sla_due` (agents' default), `priority`, `-created_at`, `-updated_at` or
    /// `created_at` (requesters' default). A cursor is read only under the sort that issued it.
    #[param(value_type = Option<IncidentSort>, inline)]
    pub sort: Option<String>,
}

/// The incident queue, a page at a time.
///
/// Incidents of the acting tenant (`?tenant=*`: of every customer, MSP roles); requesters see
/// only the ones they raised. Agents get the earliest SLA deadline first (`sort=sla_due`: breached
/// first, then the next due, then incidents with no running clock); requesters get creation order.
/// Each row carries the caller's, assignee's and group's names and the next SLA target. Filters
/// combine with any sort; `q` searches titles, descriptions and comments.
#[utoipa::path(
    tag = "incidents",
    operation_id = "listIncidents",
    params(ListQuery),
    responses((status = 200, description = "OK", body = IncidentPage)),
    security(("bearer" = ["incident:read_own"]))
)]
#[get("")]
pub async fn list(
    state: web::Data<IncidentService>,
    auth: Auth<IncidentReadOwn>,
    query: web::Query<ListQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let requester = !reads_all(&auth.principal);
    let sort = parse_sort(query.sort.as_deref(), IncidentSort::default_for(!requester))?;
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .validate_sorted(sort.name(), &incidents::order(sort))?;
    if let Some(s) = &query.state
        && parse_state(s).is_none()
    {
        return Err(ApiError::bad_query(
            "state",
            "unknown_state",
            format!("no state named {s:?}"),
        ));
    }
    if let Some(p) = query.priority
        && !(1..=5).contains(&p)
    {
        return Err(ApiError::bad_query(
            "priority",
            "out_of_range",
            "priority is 1 to 5",
        ));
    }
    let tenants = auth.list_scope(query.tenant.as_deref()).await?;
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.chars().count() > 200 || q.chars().any(char::is_control)) {
        return Err(ApiError::bad_query(
            "q",
            "invalid_search",
            "search text is at most 200 printable characters",
        ));
    }
    let filter = Filter {
        state: query.state.clone(),
        priority: query.priority,
        caller: if requester {
            Some(auth.principal.subject)
        } else {
            query.caller_id
        },
        assignment_group: query.assignment_group_id,
        assignee: query.assignee_id,
        created_after: query.created_after,
        created_before: query.created_before,
        updated_after: query.updated_after,
        updated_before: query.updated_before,
        service: query.service_id,
        text: q.map(str::to_string),
        search_work_notes: !requester,
    };
    let rows = incidents::list(
        &state.db,
        &tenants,
        &filter,
        sort,
        page.after.as_ref(),
        page.limit + 1,
    )
    .await?;
    Ok(Page::from_sorted_rows(rows, page.limit, sort.name(), |r| {
        incidents::position(sort, &r.incident)
    })
    .map(|r| out(&r))
    .respond(&req))
}

fn transition_error(e: TransitionError) -> ApiError {
    match e {
        TransitionError::NotAllowed { from, to, allowed } => ApiError::conflict(
            "transition_not_allowed",
            format!(
                "an incident cannot move from {} to {}",
                state_str(from),
                state_str(to)
            ),
        )
        .with_extra(json!({"allowed": allowed})),
        TransitionError::HoldReasonRequired => {
            ApiError::field("/hold_reason", "required", e.to_string())
        }
        TransitionError::HoldReasonNotApplicable => {
            ApiError::field("/hold_reason", "not_applicable", e.to_string())
        }
        TransitionError::ResolutionRequired(field) => {
            ApiError::field(&format!("/{field}"), "required", e.to_string())
        }
        TransitionError::ResolutionNotApplicable => {
            ApiError::field("/resolution_code", "not_applicable", e.to_string())
        }
    }
}

/// Applies a new status, publishes the state change, returns the updated incident.
/// Resolving a parent resolves its open children, with the parent's resolution.
async fn resolve_children(
    txn: &sea_orm::DatabaseTransaction,
    sla: &Tracking<'_>,
    parent: &Incident,
) -> Result<(), ApiError> {
    let with_parent = Transition {
        to: State::Resolved,
        hold_reason: None,
        resolution_code: parent.resolution_code.clone(),
        resolution_notes: Some(format!(
            "Resolved with parent {}: {}",
            parent.number,
            parent.resolution_notes.clone().unwrap_or_default()
        )),
    };
    for child in incidents::open_children(txn, parent).await? {
        if let Ok(next) = status_of(&child).apply(&with_parent) {
            move_to(txn, sla, child, &next).await?;
        }
    }
    Ok(())
}

/// Applies a new status: persists it, moves the SLA clocks, announces the change (and the
/// resolution or closure).
pub(crate) async fn move_to(
    txn: &sea_orm::DatabaseTransaction,
    sla: &Tracking<'_>,
    inc: Incident,
    next: &Status,
) -> Result<Incident, ApiError> {
    let before = inc.clone();
    let from = inc.state.clone();
    let updated = incidents::update(txn, inc, |a| {
        a.state = Set(state_str(next.state));
        a.hold_reason = Set(next.hold_reason.map(|h| {
            serde_json::to_value(h)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        }));
        a.resolution_code = Set(next.resolution.as_ref().map(|r| r.code.clone()));
        a.resolution_notes = Set(next.resolution.as_ref().map(|r| r.notes.clone()));
    })
    .await?;
    let event = events::incident::IncidentStateChanged {
        incident_id: updated.id,
        from,
        to: updated.state.clone(),
        hold_reason: updated.hold_reason.clone(),
        resolution_code: updated.resolution_code.clone(),
    };
    bus::outbox::append(txn, updated.tenant_id, updated.id, updated.version, &event).await?;
    match (next.state, &next.resolution) {
        (State::Resolved, Some(r)) => {
            let resolved = events::incident::IncidentResolved {
                incident_id: updated.id,
                resolution_code: r.code.clone(),
                resolution_notes: r.notes.clone(),
            };
            bus::outbox::append(
                txn,
                updated.tenant_id,
                updated.id,
                updated.version,
                &resolved,
            )
            .await?;
        }
        (State::Closed, _) => {
            let closed = events::incident::IncidentClosed {
                incident_id: updated.id,
                resolution_code: updated.resolution_code.clone(),
            };
            bus::outbox::append(txn, updated.tenant_id, updated.id, updated.version, &closed)
                .await?;
        }
        _ => {}
    }
    let updated = sla.track_stored(txn, Some(&before), updated).await?;
    Ok(updated)
}

/// Move an incident through its lifecycle.
///
/// New → in progress → on hold (with a `hold_reason`) → resolved (with `resolution_code` and
/// `resolution_notes`) → closed, or canceled; reopen from resolved. A move that is not allowed
/// answers 409 `transition_not_allowed` with `extra.allowed`; `If-Match` (the `ETag`) guards
/// against lost updates (412 `precondition_failed`).
#[utoipa::path(
    tag = "incidents",
    operation_id = "transitionIncident",
    request_body = Transition,
    params(("id" = Uuid, Path, description = "The incident's id."), ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    responses((status = 200, description = "OK", body = IncidentOut), (status = 409, description = "`transition_not_allowed`: not allowed from the current state; `extra.allowed` lists the moves that are", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["incident:write_own"]))
)]
#[post("/{id}/transitions")]
pub async fn transition(
    state: web::Data<IncidentService>,
    auth: Auth<IncidentWriteOwn>,
    id: web::Path<Uuid>,
    body: Json<Transition>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let p = &auth.principal;
    if !works_all(p) && !matches!(body.to, State::Canceled | State::InProgress) {
        return Err(ApiError::forbidden(
            "requester_not_allowed",
            "requesters may only cancel or reopen their incidents",
        ));
    }
    let tenant = auth.tenant_id();
    let sla = state.sla.tracking(&auth.tenant).await?;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let inc = find_visible(&txn, tenant, p, *id).await?;
    if !works_all(p) && inc.caller_id != Some(p.subject) {
        return Err(not_yours());
    }
    check_if_match(&req, &inc)?;
    let current = status_of(&inc);
    if !works_all(p) && body.to == State::InProgress && current.state != State::Resolved {
        return Err(ApiError::forbidden(
            "requester_not_allowed",
            "requesters may only reopen resolved incidents",
        ));
    }
    let next = current.apply(&body).map_err(transition_error)?;
    let updated = move_to(&txn, &sla, inc, &next).await?;
    if next.state == State::Resolved {
        resolve_children(&txn, &sla, &updated).await?;
    }
    let view = incidents::queued_view(&txn, &updated).await?;
    txn.commit().await?;
    Ok(respond(HttpResponse::Ok(), &view))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "body": "Could you send a screenshot of the error?",
    "visibility": "public"
}))]
pub struct CommentIn {
    pub body: String,
    /// `public` (default; the caller sees it) or `internal` (a work note for agents).
    #[serde(default = "public")]
    pub visibility: Visibility,
}

fn public() -> Visibility {
    Visibility::Public
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Public,
    Internal,
}

impl Visibility {
    fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Internal => "internal",
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a1b48e-7770-75a1-87a1-3ec9b8ae42e9",
    "incident_id": "01a1b420-9a70-720a-8f2b-6af20c44fed0",
    "author_id": "01a24233-c45f-769f-8803-48c30e8f1d48",
    "visibility": "internal",
    "body": "Asked the caller for details.",
    "created_at": "2026-11-07T05:49:58Z"
}))]
pub struct CommentOut {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub author_id: Uuid,
    pub visibility: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

platform::page_schema!(CommentPage, CommentOut);

fn comment_out(c: &Comment) -> CommentOut {
    CommentOut {
        id: c.id,
        incident_id: c.incident_id,
        author_id: c.author_id,
        visibility: c.visibility.clone(),
        body: c.body.clone(),
        created_at: c.created_at,
    }
}

/// Add a public comment or an internal work note.
///
/// Requesters add public comments to their own incidents only; the caller's public comment ends
/// "awaiting caller".
#[utoipa::path(
    tag = "incidents",
    operation_id = "commentIncident",
    params(("id" = Uuid, Path, description = "The incident's id.")),
    request_body = CommentIn,
    responses((status = 201, description = "Created", body = CommentOut)),
    security(("bearer" = ["incident:write_own"]))
)]
#[post("/{id}/comments")]
pub async fn comment(
    state: web::Data<IncidentService>,
    auth: Auth<IncidentWriteOwn>,
    id: web::Path<Uuid>,
    body: Json<CommentIn>,
) -> Result<HttpResponse, ApiError> {
    let p = &auth.principal;
    let mut v = Validator::new();
    let text = v.check(multiline("/body", &body.body, 20_000));
    if text.as_deref() == Some("") {
        v.push(FieldError::new("/body", "required", "must not be empty"));
    }
    if !works_all(p) && body.visibility == Visibility::Internal {
        v.push(FieldError::new(
            "/visibility",
            "not_allowed",
            "only the tenant's agents write work notes",
        ));
    }
    v.finish()?;
    let tenant = auth.tenant_id();
    let sla = state.sla.tracking(&auth.tenant).await?;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let inc = find_visible(&txn, tenant, p, *id).await?;
    if !works_all(p) && inc.caller_id != Some(p.subject) {
        return Err(not_yours());
    }
    let c = incidents::add_comment(
        &txn,
        &inc,
        p.subject,
        body.visibility.as_str(),
        body.body.trim(),
    )
    .await?;
    let event = events::incident::IncidentCommented {
        incident_id: inc.id,
        comment_id: c.id,
        visibility: c.visibility.clone(),
        body: (body.visibility == Visibility::Public).then(|| c.body.clone()),
    };
    let by_caller = inc.caller_id == Some(p.subject) && body.visibility == Visibility::Public;
    let resumed = if by_caller {
        status_of(&inc).on_caller_comment()
    } else {
        None
    };
    let inc = match resumed {
        Some(next) => move_to(&txn, &sla, inc, &next).await?,
        None => incidents::update(&txn, inc, |_| {}).await?,
    };
    bus::outbox::append(&txn, tenant, inc.id, inc.version, &event).await?;
    txn.commit().await?;
    Ok(HttpResponse::Created().json(comment_out(&c)))
}

/// Comments of an incident, oldest first, a page at a time.
///
/// Public comments and internal work notes; requesters never see internal work notes.
#[utoipa::path(
    tag = "incidents",
    operation_id = "listIncidentComments",
    params(("id" = Uuid, Path, description = "The incident's id."), PageQuery),
    responses((status = 200, description = "OK", body = CommentPage)),
    security(("bearer" = ["incident:read_own"]))
)]
#[get("/{id}/comments")]
pub async fn comments(
    state: web::Data<IncidentService>,
    auth: Auth<IncidentReadOwn>,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = query.validate()?;
    let p = &auth.principal;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let inc = find_visible(&txn, tenant, p, *id).await?;
    let rows = incidents::comments(&txn, &inc, !reads_all(p), page.after, page.limit + 1).await?;
    txn.commit().await?;
    Ok(Page::from_rows(rows, page.limit, |c| c.id)
        .map(|c| comment_out(&c))
        .respond(&req))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "assignment_group_id": "01a24233-c476-71a0-b05d-7ba78818753e",
    "assignee_id": "01a24233-c45f-769f-8803-48c30e8f1d48"
}))]
pub struct AssignmentIn {
    /// `null` leaves the incident unassigned.
    pub assignment_group_id: Option<Uuid>,
    /// Must be a member of the group; `null` assigns the group only.
    pub assignee_id: Option<Uuid>,
}

/// Assign an incident to a group and, optionally, one of its members.
///
/// The group must be one of the tenant's and the assignee a member of it (422 `not_in_group`); an
/// unknown id and another tenant's id get the same answer.
#[utoipa::path(
    tag = "incidents",
    operation_id = "assignIncident",
    params(("id" = Uuid, Path, description = "The incident's id.")),
    request_body = AssignmentIn,
    responses((status = 200, description = "OK", body = IncidentOut)),
    security(("bearer" = ["incident:write"]))
)]
#[post("/{id}/assignment")]
pub async fn assign(
    state: web::Data<IncidentService>,
    auth: Auth<IncidentWrite>,
    id: web::Path<Uuid>,
    body: Json<AssignmentIn>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let sla = state.sla.tracking(&auth.tenant).await?;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let inc = incidents::find(&txn, tenant, *id)
        .await?
        .ok_or_else(|| ApiError::not_found("incident"))?;
    let problems = check_references(
        &txn,
        tenant,
        None,
        body.assignment_group_id,
        body.assignee_id,
    )
    .await?;
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    let before = inc.clone();
    let updated = incidents::update(&txn, inc, |a| {
        a.assignment_group_id = Set(body.assignment_group_id);
        a.assignee_id = Set(body.assignee_id);
    })
    .await?;
    let updated = sla.track_stored(&txn, Some(&before), updated).await?;
    let event = events::incident::IncidentAssigned {
        incident_id: updated.id,
        assignment_group_id: updated.assignment_group_id,
        assignee_id: updated.assignee_id,
    };
    bus::outbox::append(&txn, tenant, updated.id, updated.version, &event).await?;
    let view = incidents::queued_view(&txn, &updated).await?;
    txn.commit().await?;
    Ok(respond(HttpResponse::Ok(), &view))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "urgency": 1,
    "description": "Since 09:10 UTC, every request fails."
}))]
pub struct IncidentPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub impact: Option<i64>,
    pub urgency: Option<i64>,
    pub category: Option<String>,
    pub subcategory: Option<String>,
    pub service_id: Option<Uuid>,
    pub configuration_item_id: Option<Uuid>,
}

/// Update an incident's details.
///
/// Only the fields sent change; priority follows impact and urgency unless it was overridden. Send
/// `If-Match` with the `ETag` you read: 412 `precondition_failed` when the incident changed since
/// (read it again and redo the change).
#[utoipa::path(
    tag = "incidents",
    operation_id = "updateIncident",
    request_body = IncidentPatch,
    params(("id" = Uuid, Path, description = "The incident's id."), ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    responses((status = 200, description = "OK", body = IncidentOut), (status = 412, description = "`precondition_failed`: the incident changed since the `ETag` sent in `If-Match`", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["incident:write"]))
)]
#[patch("/{id}")]
pub async fn update(
    state: web::Data<IncidentService>,
    auth: Auth<IncidentWrite>,
    id: web::Path<Uuid>,
    body: Json<IncidentPatch>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut v = Validator::new();
    let title = body
        .title
        .as_deref()
        .map(|t| v.check(text("/title", t, 200)));
    let description = body
        .description
        .as_deref()
        .map(|d| v.check(multiline("/description", d, 20_000)));
    let impact = body.impact.map(|i| level(&mut v, "/impact", i));
    let urgency = body.urgency.map(|u| level(&mut v, "/urgency", u));
    let category = classification(&mut v, "/category", &body.category);
    let subcategory = classification(&mut v, "/subcategory", &body.subcategory);
    v.finish()?;
    let tenant = auth.tenant_id();
    let sla = state.sla.tracking(&auth.tenant).await?;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let inc = incidents::find(&txn, tenant, *id)
        .await?
        .ok_or_else(|| ApiError::not_found("incident"))?;
    check_if_match(&req, &inc)?;
    if subcategory.is_some() && category.is_none() && inc.category.is_none() {
        return Err(ApiError::field(
            "/subcategory",
            "category_required",
            "a subcategory needs a category",
        ));
    }
    let new_impact = impact
        .flatten()
        .or_else(|| u8::try_from(inc.impact).ok().and_then(Level::new));
    let new_urgency = urgency
        .flatten()
        .or_else(|| u8::try_from(inc.urgency).ok().and_then(Level::new));
    let (Some(new_impact), Some(new_urgency)) = (new_impact, new_urgency) else {
        return Err(ApiError::internal("stored impact/urgency out of range"));
    };
    let priority = if inc.priority_overridden {
        inc.priority
    } else {
        Matrix::default().priority(new_impact, new_urgency).get() as i16
    };
    let mut changed = Vec::new();
    for (name, given) in [
        ("title", body.title.is_some()),
        ("description", body.description.is_some()),
        ("impact", body.impact.is_some()),
        ("urgency", body.urgency.is_some()),
        ("category", body.category.is_some()),
        ("subcategory", body.subcategory.is_some()),
        ("service_id", body.service_id.is_some()),
        (
            "configuration_item_id",
            body.configuration_item_id.is_some(),
        ),
    ] {
        if given {
            changed.push(name.to_string());
        }
    }
    if priority != inc.priority {
        changed.push("priority".into());
    }
    let before = inc.clone();
    let updated = incidents::update(&txn, inc, |a| {
        if let Some(s) = body.service_id {
            a.service_id = Set(Some(s));
        }
        if let Some(c) = body.configuration_item_id {
            a.configuration_item_id = Set(Some(c));
        }
        if let Some(Some(t)) = title {
            a.title = Set(t);
        }
        if let Some(Some(d)) = description {
            a.description = Set(d);
        }
        a.impact = Set(new_impact.get() as i16);
        a.urgency = Set(new_urgency.get() as i16);
        a.priority = Set(priority);
        if category.is_some() {
            a.category = Set(category);
        }
        if subcategory.is_some() {
            a.subcategory = Set(subcategory);
        }
    })
    .await?;
    let event = events::incident::IncidentUpdated {
        incident_id: updated.id,
        changed,
        priority: updated.priority as u8,
    };
    bus::outbox::append(&txn, tenant, updated.id, updated.version, &event).await?;
    let updated = sla.track_stored(&txn, Some(&before), updated).await?;
    let view = incidents::queued_view(&txn, &updated).await?;
    txn.commit().await?;
    Ok(respond(HttpResponse::Ok(), &view))
}
