//! `/api/v1/changes`: request, plan, move through the lifecycle.
use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError, FieldError,
    auth::{
        Auth,
        scopes::{ChangeRead, ChangeWrite},
    },
    error::Problem,
    json::Json,
    pagination::{Page, PageQuery},
    tenancy::begin_scoped,
    validate::Validator,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::{
    basis::Basis,
    change_in::ChangeIn,
    checks::{check_references, editable, gate, load, start_round},
};
use crate::{
    ChangeService,
    domain::{
        change::{self, NewChange, Window, readiness},
        lifecycle::{self, ChangeType, CloseCode, Move, Refusal, State},
        template::review_required,
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
    /// The template version it was made from.
    pub template_id: Option<Uuid>,
    pub template_version: Option<i32>,
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
        template_id: c.template_id,
        template_version: c.template_version,
        allowed_transitions: lifecycle::next(c.kind(), c.lifecycle_state()),
        version: c.version,
        created_at: c.created_at,
        updated_at: c.updated_at,
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
    let mut input = body.0;
    let tenant = auth.tenant_id();
    let template = match input.template_id {
        Some(id) => Some(super::templates::apply(&state.db, tenant, id, &mut input).await?),
        None => None,
    };
    let new = NewChange::try_from(input)?;
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
    let (c, cis) = changes::insert(
        &txn,
        tenant,
        number,
        auth.principal.subject,
        new,
        risk,
        template,
    )
    .await?;
    events::created(&txn, &c, &cis).await?;
    crate::workers::touched(&txn, &c, None).await?;
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
    super::templates::keeps_its_fields(&c, &edit, new_cis.as_deref(), &cis)?;
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
    let before = c.window();
    let c = changes::update(&txn, c, edit, reopen, risk).await?;
    if moved_cis {
        changes::set_cis(&txn, &c, &cis).await?;
    }
    crate::workers::touched(&txn, &c, before).await?;
    if reopen.is_some() {
        start_round(&txn, &basis, &c).await?;
        let reason = Some("rescheduled after approval".to_string());
        events::moved(&txn, from, &c, reason).await?;
    }
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(&c, cis)))
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
    // An emergency change, or any that failed, is reviewed before it closes.
    if moved.to == State::Closed
        && review_required(c.kind(), moved.close_code)
        && c.review.is_none()
    {
        return Err(ApiError::validation(vec![FieldError::new(
            "/pir",
            "review_required",
            "write the post-implementation review (PUT …/pir) before closing this change",
        )]));
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
    crate::workers::touched(&txn, &c, None).await?;
    if moved.close_code == Some(CloseCode::Unsuccessful) {
        let why = format!("{} closed unsuccessful", c.number);
        super::checks::suspend_template(&txn, &c, why).await?;
    }
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(&c, cis)))
}
