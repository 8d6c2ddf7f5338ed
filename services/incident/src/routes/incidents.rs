//! `/api/v1/incidents`: open, read, list, move through the lifecycle, assign, update.
use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, patch, post, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError, FieldError,
    auth::{
        Auth,
        scopes::{IncidentReadOwn, IncidentWrite, IncidentWriteOwn},
    },
    error::Problem,
    json::Json,
    pagination::{Page, PageQuery, SortOrder, parse_sort},
    precondition::check_if_match,
    tenancy::begin_scoped,
    validate::{Validator, with_more},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::{
    incident_in::{IncidentIn, requester_limits},
    shared::{self, check_references, move_to, resolve_children, works_all},
};
use crate::{
    IncidentService,
    domain::{
        incident::{Channel, Fields, IncidentChanges, IncidentId, NewIncident},
        lifecycle::{HoldReason, State, Transition, TransitionError},
        priority::{Level, Matrix, Priority},
        queue::{IncidentSort, NextSlaState},
    },
    events,
    idempotency::{self, Claim},
    opening::{self, Opening},
    store::incidents::{self, Filter, Queued},
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get)
        .service(transition)
        .service(assign)
        .service(update);
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
    "channel": "phone",
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
    /// How it came in (`null` for incidents older than channels).
    pub channel: Option<Channel>,
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

fn out(row: &Queued) -> Result<IncidentOut, ApiError> {
    let i = &row.incident;
    let status = incidents::status_of(i);
    Ok(IncidentOut {
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
        channel: i.channel,
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
    })
}

fn respond(
    mut res: actix_web::HttpResponseBuilder,
    row: &Queued,
) -> Result<HttpResponse, ApiError> {
    Ok(res
        .insert_header(("ETag", format!("\"{}\"", row.incident.version)))
        .json(out(row)?))
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
    let p = &auth.principal;
    let mut new = with_more(
        NewIncident::try_from(body.clone()),
        requester_limits(p, &body),
    )?;
    let tenant = auth.tenant_id();
    let sla = state.sla.tracking(&auth.tenant).await?;
    // References are checked before a number is taken, so a refused create does not use one.
    if new.references_others() {
        let check = begin_scoped(&state.db, &[tenant]).await?;
        let mut problems = check_references(
            &check,
            tenant,
            new.caller_id,
            new.assignment_group_id,
            new.assignee_id,
        )
        .await?;
        let refs = (new.service_id, new.configuration_item_id);
        problems.extend(shared::check_portfolio(&check, tenant, refs).await?);
        if let Some(parent) = new.parent_id
            && incidents::find(&check, tenant, IncidentId(parent))
                .await?
                .is_none()
        {
            problems.push(FieldError::new(
                "/parent_id",
                "unknown_reference",
                "no such incident in this tenant",
            ));
        }
        check.commit().await?;
        if !problems.is_empty() {
            return Err(problems.into());
        }
    }
    let number = opening::next_number(&state.db, &state.numbers, tenant).await?;
    new.caller_id = new.caller_id.or((!p.is_client).then_some(p.subject));
    new.channel = new
        .channel
        .or(Some(Channel::default_for(p.is_client, works_all(p))));
    let Opening {
        incident: inc,
        events: outbox,
        clocks: started,
    } = opening::prepare(tenant, number, p.subject, new, &sla)?;
    let location = format!("/api/v1/incidents/{}", inc.id);
    // Without an `Idempotency-Key` a create is one statement (on PostgreSQL): the row, its
    // events and clocks, read back as a queue row. With one, the key is claimed first and the
    // answer recorded, in one transaction.
    let view = if idempotency::requested(&req)? {
        let txn = begin_scoped(&state.db, &[tenant]).await?;
        let claimed = match idempotency::claim(
            &txn,
            &req,
            tenant,
            p.subject,
            "incidents",
            &*body,
            inc.created_at,
        )
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
            &out(&view)?,
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
    respond(res, &view)
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
    let view = incidents::find_queued(&txn, tenant, IncidentId(*id))
        .await?
        .filter(|row| shared::visible(&auth.principal, &row.incident))
        .ok_or_else(|| ApiError::not_found("incident"))?;
    txn.commit().await?;
    respond(HttpResponse::Ok(), &view)
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
    let requester = !shared::reads_all(&auth.principal);
    let sort = parse_sort(query.sort.as_deref(), IncidentSort::default_for(!requester))?;
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .validate_sorted(sort.name(), &incidents::order(sort))?;
    let wanted_state = match query.state.as_deref() {
        Some(s) => Some(State::parse(s).ok_or_else(|| {
            ApiError::bad_query("state", "unknown_state", format!("no state named {s:?}"))
        })?),
        None => None,
    };
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
        state: wanted_state,
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
    .try_map(|r| out(&r))?
    .respond(&req))
}

fn transition_error(e: TransitionError) -> ApiError {
    match e {
        TransitionError::NotAllowed { from, to, allowed } => ApiError::conflict(
            "transition_not_allowed",
            format!(
                "an incident cannot move from {} to {}",
                from.as_str(),
                to.as_str()
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
    let inc = shared::find_visible(&txn, tenant, p, *id).await?;
    shared::check_works(p, &inc)?;
    check_if_match(&req, inc.version)?;
    let current = incidents::status_of(&inc);
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
    respond(HttpResponse::Ok(), &view)
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
    let inc = incidents::find(&txn, tenant, IncidentId(*id))
        .await?
        .ok_or_else(|| ApiError::not_found("incident"))?;
    let (group, assignee) = (body.assignment_group_id, body.assignee_id);
    let problems = check_references(&txn, tenant, None, group, assignee).await?;
    if !problems.is_empty() {
        return Err(problems.into());
    }
    let before = inc.clone();
    let updated = incidents::assign(&txn, inc, group, assignee).await?;
    let updated = sla.track_stored(&txn, Some(&before), updated).await?;
    events::incident_assigned(&txn, &updated).await?;
    let view = incidents::queued_view(&txn, &updated).await?;
    txn.commit().await?;
    respond(HttpResponse::Ok(), &view)
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

impl TryFrom<IncidentPatch> for IncidentChanges {
    type Error = Vec<FieldError>;

    fn try_from(body: IncidentPatch) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let mut f = Fields { v: &mut v };
        let title = body.title.as_deref().map(|t| f.title(t));
        let description = body.description.as_deref().map(|d| f.description(d));
        let impact = body.impact.map(|i| f.level("/impact", i));
        let urgency = body.urgency.map(|u| f.level("/urgency", u));
        let category = f.classification("/category", &body.category);
        let subcategory = f.classification("/subcategory", &body.subcategory);
        // A given field that did not parse is `Some(None)`: the whole change is refused.
        let parsed = (|| {
            Some(IncidentChanges {
                title: title.map_or(Some(None), |t| t.map(Some))?,
                description: description.map_or(Some(None), |d| d.map(Some))?,
                impact: impact.map_or(Some(None), |l| l.map(Some))?,
                urgency: urgency.map_or(Some(None), |l| l.map(Some))?,
                category,
                subcategory,
                service_id: body.service_id,
                configuration_item_id: body.configuration_item_id,
            })
        })();
        v.finish_with(parsed)
    }
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
    let changes = IncidentChanges::try_from(body.0)?;
    let tenant = auth.tenant_id();
    let sla = state.sla.tracking(&auth.tenant).await?;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let inc = incidents::find(&txn, tenant, IncidentId(*id))
        .await?
        .ok_or_else(|| ApiError::not_found("incident"))?;
    check_if_match(&req, inc.version)?;
    let refs = (changes.service_id, changes.configuration_item_id);
    shared::portfolio_ok(&txn, tenant, refs).await?;
    if changes.subcategory.is_some() && changes.category.is_none() && inc.category.is_none() {
        return Err(ApiError::field(
            "/subcategory",
            "category_required",
            "a subcategory needs a category",
        ));
    }
    let stored = |raw: i16| u8::try_from(raw).ok().and_then(Level::new);
    let (Some(impact), Some(urgency)) = (
        changes.impact.or_else(|| stored(inc.impact)),
        changes.urgency.or_else(|| stored(inc.urgency)),
    ) else {
        return Err(ApiError::internal("stored impact/urgency out of range"));
    };
    let priority = if inc.priority_overridden {
        stored_priority(inc.priority)?
    } else {
        Matrix::default().priority(impact, urgency)
    };
    let mut changed = changes.named();
    if i16::from(priority.get()) != inc.priority {
        changed.push("priority".into());
    }
    let before = inc.clone();
    let updated = incidents::change(&txn, inc, changes, priority).await?;
    events::incident_updated(&txn, &updated, changed).await?;
    let updated = sla.track_stored(&txn, Some(&before), updated).await?;
    let view = incidents::queued_view(&txn, &updated).await?;
    txn.commit().await?;
    respond(HttpResponse::Ok(), &view)
}

/// An overridden priority as stored.
fn stored_priority(raw: i16) -> Result<Priority, ApiError> {
    let priority = u8::try_from(raw).ok().and_then(Priority::new);
    priority.ok_or_else(|| ApiError::internal("stored priority out of range"))
}
