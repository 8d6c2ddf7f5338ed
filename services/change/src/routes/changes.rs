//! `/api/v1/changes`: request, plan, move through the lifecycle.
use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError, FieldError,
    auth::{
        Auth, UserId,
        scopes::{ChangeRead, ChangeWrite},
    },
    error::Problem,
    json::Json,
    pagination::{Page, PageQuery},
    tenancy::{TenantId, begin_scoped},
    validate::Validator,
};
use sea_orm::DatabaseTransaction;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::basis::Basis;
use crate::{
    ChangeService,
    domain::{
        change::{self, NewChange, Plans, Window, readiness},
        conflict::Planned,
        lifecycle::{self, ChangeType, CloseCode, Move, Moved, Refusal, State},
    },
    events,
    store::{
        cab,
        changes::{self, Change, Edit, Filter},
    },
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get)
        .service(update)
        .service(transition);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a10",
    "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
    "number": "CHG0001001",
    "type": "normal",
    "state": "new",
    "title": "Patch db-01",
    "description": "",
    "affected_ci_ids": ["01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a11"],
    "planned_start": "2026-12-12T20:00:00Z",
    "planned_end": "2026-12-12T22:00:00Z",
    "implementation_plan": "Apply the patch set.",
    "backout_plan": "Restore the snapshot.",
    "test_plan": "Run the payroll smoke test.",
    "assignee_id": null,
    "requested_by": "01a24233-c456-7186-af34-ba4716863c99",
    "risk": "moderate",
    "approval_round": 1,
    "rejection_reason": null,
    "close_code": null,
    "allowed_transitions": ["assess", "canceled"],
    "version": 1,
    "created_at": "2026-12-07T09:00:00Z",
    "updated_at": "2026-12-07T09:00:00Z"
}))]
pub struct ChangeOut {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Per-tenant number, e.g. `CHG0001001`.
    pub number: String,
    /// `standard`, `normal` or `emergency`.
    #[serde(rename = "type")]
    pub change_type: ChangeType,
    pub state: State,
    pub title: String,
    pub description: String,
    pub affected_ci_ids: Vec<Uuid>,
    pub planned_start: Option<DateTime<Utc>>,
    pub planned_end: Option<DateTime<Utc>>,
    pub implementation_plan: String,
    pub backout_plan: String,
    pub test_plan: String,
    pub assignee_id: Option<Uuid>,
    pub requested_by: Uuid,
    /// `low`, `moderate`, `high` or `very_high`.
    pub risk: String,
    /// 1, plus one per rejection.
    pub approval_round: i32,
    pub rejection_reason: Option<String>,
    pub close_code: Option<CloseCode>,
    /// The states `POST …/transitions` may move it to now.
    pub allowed_transitions: Vec<State>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

platform::page_schema!(ChangePage, ChangeOut);

pub fn out(c: &Change, cis: Vec<Uuid>) -> ChangeOut {
    ChangeOut {
        id: c.id,
        tenant_id: c.tenant_id,
        number: c.number.clone(),
        change_type: c.kind(),
        state: c.lifecycle_state(),
        title: c.title.clone(),
        description: c.description.clone(),
        affected_ci_ids: cis,
        planned_start: c.planned_start,
        planned_end: c.planned_end,
        implementation_plan: c.implementation_plan.clone(),
        backout_plan: c.backout_plan.clone(),
        test_plan: c.test_plan.clone(),
        assignee_id: c.assignee_id,
        requested_by: c.requested_by,
        risk: c.risk.clone(),
        approval_round: c.approval_round,
        rejection_reason: c.rejection_reason.clone(),
        close_code: c.close_code.as_deref().and_then(CloseCode::parse),
        allowed_transitions: lifecycle::next(c.kind(), c.lifecycle_state()),
        version: c.version,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "type": "normal",
    "title": "Patch db-01",
    "affected_ci_ids": ["01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a11"],
    "planned_start": "2026-12-12T20:00:00Z",
    "planned_end": "2026-12-12T22:00:00Z",
    "implementation_plan": "Apply the patch set.",
    "backout_plan": "Restore the snapshot.",
    "test_plan": "Run the payroll smoke test."
}))]
pub struct ChangeIn {
    #[serde(rename = "type")]
    pub change_type: ChangeType,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// CIs of the acting tenant (its own or shared with it), not retired.
    #[serde(default)]
    pub affected_ci_ids: Vec<Uuid>,
    pub planned_start: Option<DateTime<Utc>>,
    /// After `planned_start`; the window is half-open.
    pub planned_end: Option<DateTime<Utc>>,
    #[serde(default)]
    pub implementation_plan: String,
    #[serde(default)]
    pub backout_plan: String,
    #[serde(default)]
    pub test_plan: String,
    /// An active user of the acting tenant.
    pub assignee_id: Option<Uuid>,
}

impl TryFrom<ChangeIn> for NewChange {
    type Error = Vec<FieldError>;

    fn try_from(input: ChangeIn) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let title = change::title(&mut v, &input.title);
        let description = change::long_text(&mut v, "/description", &input.description);
        let window = Window::parse(&mut v, input.planned_start, input.planned_end);
        let implementation_plan =
            change::long_text(&mut v, "/implementation_plan", &input.implementation_plan);
        let backout_plan = change::long_text(&mut v, "/backout_plan", &input.backout_plan);
        let test_plan = change::long_text(&mut v, "/test_plan", &input.test_plan);
        let ci_ids = change::ci_ids(&mut v, input.affected_ci_ids);
        let parsed = (|| {
            Some(NewChange {
                change_type: input.change_type,
                title: title?,
                description: description?,
                window: window?,
                plans: Plans {
                    implementation_plan: implementation_plan?,
                    backout_plan: backout_plan?,
                    test_plan: test_plan?,
                },
                assignee_id: input.assignee_id,
                ci_ids: ci_ids?,
            })
        })();
        v.finish_with(parsed)
    }
}

/// The CIs and assignee a change names, against the tenant's projected CMDB and people: an
/// unknown CI and another tenant's are the same `unknown_reference`.
async fn check_references(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    cis: &[Uuid],
    assignee: Option<Uuid>,
) -> Result<(), ApiError> {
    let seen = bus::cmdb::cis(txn, tenant, cis).await?;
    let mut errors = Vec::new();
    for (i, id) in cis.iter().enumerate() {
        let pointer = format!("/affected_ci_ids/{i}");
        match seen.get(id) {
            None => errors.push(FieldError::new(
                pointer,
                "unknown_reference",
                "no such configuration item in this tenant",
            )),
            Some(ci) if ci.status == "retired" => errors.push(FieldError::new(
                pointer,
                "ci_retired",
                "this configuration item is retired",
            )),
            Some(_) => {}
        }
    }
    if let Some(a) = assignee
        && !bus::people::active_user(txn, tenant, UserId(a)).await?
    {
        errors.push(FieldError::new(
            "/assignee_id",
            "unknown_reference",
            "no active user with this id in this tenant",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors))
    }
}

/// Request a change.
///
/// It starts in `new`, numbered per tenant (`CHG0001001`). Leaving `new` needs a window,
/// at least one CI and the implementation, backout and test plans; they may be filled in
/// later with `PATCH`.
#[utoipa::path(
    tag = "changes",
    operation_id = "createChange",
    request_body = ChangeIn,
    responses(
        (status = 201, description = "Created", body = ChangeOut),
        (status = 422, description = "A field is invalid or names a CI or user the tenant does not have", body = Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["change:write"]))
)]
#[post("")]
pub async fn create(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeWrite>,
    body: Json<ChangeIn>,
) -> Result<HttpResponse, ApiError> {
    let new = NewChange::try_from(body.0)?;
    let tenant = auth.tenant_id();
    let basis = Basis::load(&state.db, auth.tenant.lineage()).await?;
    let risk = basis
        .assess(
            new.change_type,
            new.window,
            &new.ci_ids,
            None,
            platform::record::now(),
        )
        .risk;
    // Numbers are unique, not gapless (ADR 13): one refused below leaves a gap, and the
    // checks and the insert share one transaction.
    let number = state
        .numbers
        .next(&state.db, "change_counters", "CHG", tenant)
        .await?;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    check_references(&txn, tenant, &new.ci_ids, new.assignee_id).await?;
    let (c, cis) = changes::insert(&txn, tenant, number, auth.principal.subject, new, risk).await?;
    events::created(&txn, &c, &cis).await?;
    txn.commit().await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/changes/{}", c.id)))
        .json(out(&c, cis)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only changes in this state.
    #[param(value_type = Option<State>, inline)]
    pub state: Option<String>,
    /// Only changes of this type.
    #[param(rename = "type", value_type = Option<ChangeType>, inline)]
    #[serde(rename = "type")]
    pub change_type: Option<String>,
}

/// Changes of the acting tenant, a page at a time.
///
/// Oldest first; `state` and `type` filter.
#[utoipa::path(
    tag = "changes",
    operation_id = "listChanges",
    params(ListQuery),
    responses((status = 200, description = "OK", body = ChangePage)),
    security(("bearer" = ["change:read"]))
)]
#[get("")]
pub async fn list(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeRead>,
    query: web::Query<ListQuery>,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .validate()?;
    let filter = Filter {
        state: match query.state.as_deref() {
            None => None,
            Some(raw) => Some(State::parse(raw).ok_or_else(|| {
                ApiError::bad_query("state", "invalid_state", "not a change state")
            })?),
        },
        change_type: match query.change_type.as_deref() {
            None => None,
            Some(raw) => Some(ChangeType::parse(raw).ok_or_else(|| {
                ApiError::bad_query("type", "invalid_type", "standard, normal or emergency")
            })?),
        },
    };
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let rows = changes::list(&txn, tenant, &filter, page.after, page.limit + 1).await?;
    let ids: Vec<Uuid> = rows.iter().map(|c| c.id).collect();
    let mut cis = changes::cis_of(&txn, tenant, &ids).await?;
    txn.commit().await?;
    Ok(Page::from_rows(rows, page.limit, |c| c.id)
        .map(|c| out(&c, cis.remove(&c.id).unwrap_or_default()))
        .respond(&req))
}

pub async fn load(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
    lock: bool,
) -> Result<(Change, Vec<Uuid>), ApiError> {
    let c = if lock {
        changes::find_for_update(txn, tenant, id).await?
    } else {
        changes::find(txn, tenant, id).await?
    };
    let c = c.ok_or_else(|| ApiError::not_found("change"))?;
    let cis = changes::cis_of(txn, tenant, &[c.id])
        .await?
        .remove(&c.id)
        .unwrap_or_default();
    Ok((c, cis))
}

/// Read a change.
///
/// Its plans, window, CIs, risk, approval round and the moves open to it now.
#[utoipa::path(
    tag = "changes",
    operation_id = "getChange",
    params(("id" = Uuid, Path, description = "The change's id.")),
    responses((status = 200, description = "OK", body = ChangeOut)),
    security(("bearer" = ["change:read"]))
)]
#[get("/{id}")]
pub async fn get(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let (c, cis) = load(&txn, tenant, *id, false).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(&c, cis)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "planned_start": "2026-12-13T20:00:00Z",
    "planned_end": "2026-12-13T22:00:00Z"
}))]
pub struct ChangePatch {
    pub title: Option<String>,
    pub description: Option<String>,
    /// Replaces the CIs.
    pub affected_ci_ids: Option<Vec<Uuid>>,
    /// Give both ends of the window together.
    pub planned_start: Option<DateTime<Utc>>,
    pub planned_end: Option<DateTime<Utc>>,
    pub implementation_plan: Option<String>,
    pub backout_plan: Option<String>,
    pub test_plan: Option<String>,
    pub assignee_id: Option<Uuid>,
}

/// A field of a patch: not given (`Some(None)`), given and valid (`Some(Some(v))`), or given
/// and invalid (`None`, which refuses the whole patch).
fn given<T>(field: Option<Option<T>>) -> Option<Option<T>> {
    field.map_or(Some(None), |f| f.map(Some))
}

/// The checked edit and the CIs it sets, if any.
fn edit_of(input: ChangePatch) -> Result<(Edit, Option<Vec<Uuid>>), Vec<FieldError>> {
    let mut v = Validator::new();
    let title = input.title.map(|t| change::title(&mut v, &t));
    let mut long =
        |pointer, value: Option<String>| value.map(|x| change::long_text(&mut v, pointer, &x));
    let description = long("/description", input.description);
    let implementation_plan = long("/implementation_plan", input.implementation_plan);
    let backout_plan = long("/backout_plan", input.backout_plan);
    let test_plan = long("/test_plan", input.test_plan);
    let window = match (input.planned_start, input.planned_end) {
        (None, None) => None,
        (start, end) => Some(Window::parse(&mut v, start, end)),
    };
    let cis = input.affected_ci_ids.map(|ids| change::ci_ids(&mut v, ids));
    // A given field that did not parse is `Some(None)`: the whole edit is refused.
    let parsed = (|| {
        Some((
            Edit {
                title: given(title)?,
                description: given(description)?,
                window: given(window)?,
                implementation_plan: given(implementation_plan)?,
                backout_plan: given(backout_plan)?,
                test_plan: given(test_plan)?,
                assignee_id: input.assignee_id.map(Some),
            },
            given(cis)?,
        ))
    })();
    v.finish_with(parsed)
}

/// Edit a change.
///
/// Only fields given change. A closed or canceled change is read-only (409 `change_closed`).
/// Moving the window or the CIs of an approved (`scheduled`) normal or emergency change sends
/// it back to `authorize` for another decision.
#[utoipa::path(
    tag = "changes",
    operation_id = "updateChange",
    params(("id" = Uuid, Path, description = "The change's id.")),
    request_body = ChangePatch,
    responses(
        (status = 200, description = "OK", body = ChangeOut),
        (status = 409, description = "`change_closed`: the change is closed or canceled", body = Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["change:write"]))
)]
#[patch("/{id}")]
pub async fn update(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeWrite>,
    id: web::Path<Uuid>,
    body: Json<ChangePatch>,
) -> Result<HttpResponse, ApiError> {
    let (edit, new_cis) = edit_of(body.0)?;
    let tenant = auth.tenant_id();
    let basis = Basis::load(&state.db, auth.tenant.lineage()).await?;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let (c, cis) = load(&txn, tenant, *id, true).await?;
    let from = c.lifecycle_state();
    editable(&c)?;
    check_references(
        &txn,
        tenant,
        new_cis.as_deref().unwrap_or_default(),
        edit.assignee_id.flatten(),
    )
    .await?;
    let moved_window = matches!(edit.window, Some(w) if w != c.window());
    let moved_cis = new_cis.as_ref().is_some_and(|n| *n != cis);
    // An approval covers the window and CIs it saw; standard changes are pre-approved.
    let reopen =
        (from.is_approved() && c.kind() != ChangeType::Standard && (moved_window || moved_cis))
            .then_some(State::Authorize);
    let window = edit.window.unwrap_or(c.window());
    let cis = new_cis.unwrap_or(cis);
    let answers = c.answers();
    let risk = basis
        .assess(
            c.kind(),
            window,
            &cis,
            answers.as_ref(),
            platform::record::now(),
        )
        .risk;
    let c = changes::update(&txn, c, edit, reopen, risk).await?;
    if moved_cis {
        changes::set_cis(&txn, &c, &cis).await?;
    }
    if reopen.is_some() {
        start_round(&txn, &basis, &c).await?;
        let reason = Some("rescheduled after approval".to_string());
        events::moved(&txn, from, &c, reason).await?;
    }
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(&c, cis)))
}

/// A closed or canceled change no longer changes (409 `change_closed`).
pub fn editable(c: &Change) -> Result<(), ApiError> {
    let state = c.lifecycle_state();
    if state.is_terminal() {
        return Err(ApiError::conflict(
            "change_closed",
            format!("{} is {}: it no longer changes", c.number, state.as_str()),
        ));
    }
    Ok(())
}

/// Sends `c`, entering `authorize`, to the votes of the policy for its type and risk, if
/// one applies (otherwise an approver decides it by a transition).
async fn start_round(txn: &DatabaseTransaction, basis: &Basis, c: &Change) -> Result<(), ApiError> {
    let risk = crate::domain::risk::Risk::parse(&c.risk).unwrap_or(crate::domain::risk::Risk::High);
    if let Some(policy) = basis.policy(c.kind(), risk) {
        cab::start_round(txn, TenantId(c.tenant_id), c.id, c.approval_round, policy).await?;
    }
    Ok(())
}

/// Moves `c` where a decision took it: into its work (checked against blackouts; an
/// emergency change passes one with `override_reason`) or back to `new`, rejected.
pub async fn decided_move(
    txn: &DatabaseTransaction,
    basis: &Basis,
    c: Change,
    cis: &[Uuid],
    to: State,
    rejection_reason: Option<String>,
    override_reason: Option<&str>,
) -> Result<Change, ApiError> {
    let from = c.lifecycle_state();
    let reason = gate(txn, basis, &c, cis, from, to, override_reason).await?;
    let moved = Moved {
        to,
        rejection_reason: rejection_reason.clone(),
        close_code: None,
    };
    let c = changes::moved(txn, c, &moved).await?;
    events::moved(txn, from, &c, rejection_reason.or(reason)).await?;
    Ok(c)
}

/// Scheduling (or an emergency's start of work) is checked against blackouts: 409, or the
/// override to record.
async fn gate(
    txn: &DatabaseTransaction,
    basis: &Basis,
    c: &Change,
    cis: &[Uuid],
    from: State,
    to: State,
    override_reason: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let scheduling = to == State::Scheduled || (to == State::Implement && from == State::Authorize);
    let Some(window) = c.window().filter(|_| scheduling) else {
        return Ok(None);
    };
    let planned = Planned {
        id: Some(c.id),
        window,
        cis: cis.to_vec(),
        assignee: c.assignee_id,
    };
    let found =
        super::checks::conflicts_of(txn, TenantId(c.tenant_id), &planned, &basis.windows).await?;
    let emergency = c.kind() == ChangeType::Emergency;
    super::checks::blackout_gate(&found, emergency, override_reason)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"to": "assess"}))]
pub struct TransitionIn {
    pub to: State,
    /// Required to reject (back to `new`) or cancel.
    pub reason: Option<String>,
    /// Required to close.
    pub close_code: Option<CloseCode>,
    /// Lets an emergency change into a blackout; recorded with the move.
    pub override_reason: Option<String>,
}

/// Move a change in its lifecycle.
///
/// Standard: `new → scheduled`; normal: `new → assess → authorize → scheduled`; emergency:
/// `new → authorize → implement`; then `implement → review → closed`, and `canceled` before
/// `review`. Moving back to `new` from `assess` or `authorize` rejects it (`reason`, a new
/// approval round). Deciding a change in `authorize` (approving or rejecting it) needs
/// `change:approve` and someone other than its requester (403 `own_change`); every other move
/// needs `change:write`. An illegal move is 409 `transition_not_allowed` with `extra.allowed`.
#[utoipa::path(
    tag = "changes",
    operation_id = "transitionChange",
    params(("id" = Uuid, Path, description = "The change's id.")),
    request_body = TransitionIn,
    responses(
        (status = 200, description = "OK", body = ChangeOut),
        (status = 403, description = "`own_change` or `scope_required`: approving needs `change:approve` and another requester", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`transition_not_allowed`: `extra.allowed` lists the moves that are", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The change or the request lacks what the move needs", body = Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["change:write"]), ("bearer" = ["change:approve"]))
)]
#[post("/{id}/transitions")]
pub async fn transition(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeRead>,
    id: web::Path<Uuid>,
    body: Json<TransitionIn>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let tenant = auth.tenant_id();
    let basis = Basis::load(&state.db, auth.tenant.lineage()).await?;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let (c, cis) = load(&txn, tenant, *id, true).await?;
    let from = c.lifecycle_state();
    let request = Move {
        to: body.to,
        reason: body.reason,
        close_code: body.close_code,
    };
    let ready = readiness(c.window(), cis.len(), &c.plans());
    let moved = lifecycle::check(c.kind(), from, &ready, &request).map_err(|r| match r {
        Refusal::NotAllowed(allowed) => ApiError::conflict(
            "transition_not_allowed",
            format!(
                "a {} change cannot move from {} to {}",
                c.change_type,
                from.as_str(),
                body.to.as_str()
            ),
        )
        .with_extra(json!({ "allowed": allowed })),
        Refusal::Incomplete(errors) => ApiError::validation(errors),
    })?;
    // Leaving `authorize` other than by canceling decides the change: approvers do that,
    // never for their own change; every other move is work on the change.
    let decides = from == State::Authorize && moved.to != State::Canceled;
    let needs = if decides {
        "change:approve"
    } else {
        "change:write"
    };
    if !auth.principal.has_scope(needs) {
        return Err(ApiError::forbidden(
            "scope_required",
            format!("this move needs {needs}"),
        ));
    }
    if decides && c.requested_by == auth.principal.subject {
        return Err(ApiError::forbidden(
            "own_change",
            "a change is approved or rejected by someone other than its requester",
        ));
    }
    if decides
        && cab::round(&txn, tenant, c.id, c.approval_round)
            .await?
            .is_some_and(|r| r.state == crate::domain::cab::Outcome::Pending.as_str())
    {
        return Err(ApiError::conflict(
            "decided_by_votes",
            "an approval policy applies: the CAB decides this change by its votes",
        ));
    }
    let mut reason = moved.rejection_reason.clone().or(request.reason);
    if let Some(note) = gate(
        &txn,
        &basis,
        &c,
        &cis,
        from,
        moved.to,
        body.override_reason.as_deref(),
    )
    .await?
    {
        reason = Some(note);
    }
    let mut c = changes::moved(&txn, c, &moved).await?;
    // Entering assessment or authorization weighs the change again; a CAB round starts.
    if matches!(moved.to, State::Assess | State::Authorize) {
        let risk = basis
            .assess(
                c.kind(),
                c.window(),
                &cis,
                c.answers().as_ref(),
                platform::record::now(),
            )
            .risk;
        c = changes::set_risk(&txn, c, risk, None).await?;
    }
    if moved.to == State::Authorize {
        start_round(&txn, &basis, &c).await?;
    }
    events::moved(&txn, from, &c, reason).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(&c, cis)))
}
