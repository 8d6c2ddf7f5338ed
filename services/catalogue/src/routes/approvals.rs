//! `/api/v1/approvals` (an approver's queue and their decisions) and
//! `/api/v1/approval-delegations` (a stand-in while away).
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError, FieldError,
    auth::{Auth, UserId, scopes::ApprovalDecide},
    error::Problem as ProblemJson,
    json::Json,
    pagination::{Page, PageQuery},
    tenancy::begin_scoped,
    validate::multiline,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    CatalogueService,
    domain::request::VoteState,
    events,
    store::{
        approvals::{self as store, Approval, ApprovalFilter, Vote},
        requests,
    },
    workflow::{self, Ctx},
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(decide);
}

pub fn delegation_routes(cfg: &mut ServiceConfig) {
    cfg.service(delegations).service(delegate).service(revoke);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24b5e-9c20-7b1e-8c2d-3e4f5a6b7c91",
    "request_item_id": "01a24b5e-9a21-7b1e-8c2d-3e4f5a6b7c83",
    "step": 0,
    "approver_id": "01a24233-c45f-769f-8803-48c30e8f1d49",
    "state": "approved",
    "decided_by": "01a24233-c45f-769f-8803-48c30e8f1d49",
    "on_behalf_of": null,
    "comment": "Fine",
    "decided_at": "2026-12-06T10:00:00Z",
    "remind_at": "2026-12-07T09:00:00Z",
    "expires_at": "2026-12-11T09:00:00Z",
    "version": 2
}))]
pub struct ApprovalOut {
    pub id: Uuid,
    pub request_item_id: Uuid,
    /// The approval step (0 = first) it belongs to.
    pub step: i32,
    pub approver_id: Uuid,
    pub state: VoteState,
    pub decided_by: Option<Uuid>,
    /// When a delegate decided: the approver they stood in for.
    pub on_behalf_of: Option<Uuid>,
    pub comment: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub remind_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub version: i64,
}

platform::page_schema!(ApprovalPage, ApprovalOut);

fn out(a: Approval) -> ApprovalOut {
    ApprovalOut {
        id: a.id,
        request_item_id: a.request_item_id,
        step: a.step,
        approver_id: a.approver_id,
        state: a.state,
        decided_by: a.decided_by,
        on_behalf_of: a.on_behalf_of,
        comment: a.comment,
        decided_at: a.decided_at,
        remind_at: a.remind_at,
        expires_at: a.expires_at,
        version: a.version,
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// The caller's own (and those of whoever delegated to them now); default `true`.
    /// `false` needs `request:fulfil`.
    pub mine: Option<bool>,
    /// Only approvals in this state (`pending` for what awaits a decision).
    pub state: Option<VoteState>,
    /// Only the approvals of this request item.
    pub request_item_id: Option<Uuid>,
}

/// An approver's queue.
///
/// With `mine=true` (the default) the caller's approvals and those of the approvers who
/// delegated to them for now; `state=pending` keeps what awaits a decision. `mine=false`
/// (fulfilment staff, `request:fulfil`) lists every approval of the tenant.
#[utoipa::path(
    tag = "approvals",
    operation_id = "listApprovals",
    params(ListQuery),
    responses((status = 200, description = "OK", body = ApprovalPage)),
    security(("bearer" = ["approval:decide"]))
)]
#[get("")]
pub async fn list(
    state: web::Data<CatalogueService>,
    auth: Auth<ApprovalDecide>,
    query: web::Query<ListQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .validate()?;
    let mine = query.mine.unwrap_or(true);
    if !mine && !auth.principal.has_scope("request:fulfil") {
        return Err(ApiError::forbidden(
            "insufficient_scope",
            "mine=false needs request:fulfil",
        ));
    }
    let tenant = auth.tenant_id();
    let me = auth.principal.subject;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let approvers = if mine {
        let mut who = store::delegators_of(&txn, tenant, me, platform::record::now()).await?;
        who.push(me);
        Some(who)
    } else {
        None
    };
    let filter = ApprovalFilter {
        approvers,
        state: query.state,
        request_item: query.request_item_id,
    };
    let rows = store::list(&txn, tenant, &filter, page.after, page.limit + 1).await?;
    txn.commit().await?;
    Ok(Page::from_rows(rows, page.limit, |a| a.id)
        .map(out)
        .respond(&req))
}

#[derive(Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"decision": "reject", "comment": "Standard model will do."}))]
pub struct DecisionIn {
    pub decision: Decision,
    /// Required to reject.
    pub comment: Option<String>,
}

/// Approve or reject.
///
/// The caller must be the approver, or stand in for them under a delegation in force now (then
/// `on_behalf_of` names the approver); never the requester (403 `not_eligible`). A decided
/// approval is 409 `already_decided`. A rejection needs a `comment` (422). The vote that fixes
/// the step's outcome decides it: the votes not cast turn `not_required`, and the item moves on
/// to the next step, to fulfilment, or to `rejected`.
#[utoipa::path(
    tag = "approvals",
    operation_id = "decideApproval",
    params(("id" = Uuid, Path, description = "The approval's id.")),
    request_body = DecisionIn,
    responses((status = 200, description = "OK", body = ApprovalOut), (status = 403, description = "`not_eligible`", body = ProblemJson, content_type = "application/problem+json"), (status = 409, description = "`already_decided`", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["approval:decide"]))
)]
#[post("/{id}/decision")]
pub async fn decide(
    state: web::Data<CatalogueService>,
    auth: Auth<ApprovalDecide>,
    id: web::Path<Uuid>,
    body: Json<DecisionIn>,
) -> Result<HttpResponse, ApiError> {
    let comment = match body.comment.as_deref() {
        Some(c) => {
            Some(multiline("/comment", c, 4_000).map_err(|e| ApiError::validation(vec![e]))?)
        }
        None if body.decision == Decision::Reject => {
            return Err(ApiError::validation(vec![FieldError::new(
                "/comment",
                "required",
                "say why when you reject",
            )]));
        }
        None => None,
    };
    let tenant = auth.tenant_id();
    let me = auth.principal.subject;
    let lineage = auth.tenant.lineage();
    let now = platform::record::now();
    let txn = begin_scoped(&state.db, lineage).await?;
    let found = store::find(&txn, tenant, *id)
        .await?
        .ok_or_else(|| ApiError::not_found("approval"))?;
    // One decision at a time per request item: the item's row is the lock.
    let item = requests::lock_item(&txn, tenant, found.request_item_id, requests::Busy::Wait)
        .await?
        .ok_or_else(|| ApiError::not_found("approval"))?;
    let a = store::find(&txn, tenant, *id)
        .await?
        .ok_or_else(|| ApiError::not_found("approval"))?;
    let on_behalf_of = if a.approver_id == me {
        None
    } else if store::delegators_of(&txn, tenant, me, now)
        .await?
        .contains(&a.approver_id)
    {
        Some(a.approver_id)
    } else {
        return Err(ApiError::forbidden(
            "not_eligible",
            "you are not this approval's approver nor standing in for them",
        ));
    };
    if item.requester_id == me {
        return Err(ApiError::forbidden(
            "not_eligible",
            "nobody approves their own request",
        ));
    }
    if a.state != VoteState::Pending {
        return Err(ApiError::conflict(
            "already_decided",
            format!("this approval is {}", a.state.as_str()),
        )
        .with_extra(json!({"state": a.state})));
    }
    let vote = Vote {
        state: match body.decision {
            Decision::Approve => VoteState::Approved,
            Decision::Reject => VoteState::Rejected,
        },
        decided_by: Some(me),
        on_behalf_of,
        comment,
        at: now,
    };
    let a = store::record(&txn, a, vote).await?;
    events::approval_changed(&txn, &a).await?;
    let ctx = Ctx { lineage, now };
    workflow::after_vote(&txn, &ctx, item).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(a)))
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24b5e-9d20-7b1e-8c2d-3e4f5a6b7c92",
    "delegator_id": "01a24233-c45f-769f-8803-48c30e8f1d49",
    "delegate_id": "01a24233-c45f-769f-8803-48c30e8f1d4a",
    "starts_at": "2026-12-20T00:00:00Z",
    "ends_at": "2027-01-04T00:00:00Z"
}))]
pub struct DelegationOut {
    pub id: Uuid,
    pub delegator_id: Uuid,
    pub delegate_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"delegate_id": "01a24233-c45f-769f-8803-48c30e8f1d49", "starts_at": "2026-12-20T00:00:00Z", "ends_at": "2027-01-04T00:00:00Z"}))]
pub struct DelegationIn {
    pub delegate_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// Let someone stand in for the caller as approver for a period.
///
/// The delegate is an active user of the tenant other than the caller (422 `self_delegation`,
/// `unknown_reference`); `ends_at` after `starts_at` (422 `invalid_period`); periods of one
/// approver never overlap (409 `delegation_overlaps`). Not transitive: a delegate decides for
/// those who delegated to them, never for whoever delegated to those.
#[utoipa::path(
    tag = "approvals",
    operation_id = "createApprovalDelegation",
    request_body = DelegationIn,
    responses((status = 201, description = "Created", body = DelegationOut), (status = 409, description = "`delegation_overlaps`", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["approval:decide"]))
)]
#[post("")]
pub async fn delegate(
    state: web::Data<CatalogueService>,
    auth: Auth<ApprovalDecide>,
    body: Json<DelegationIn>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let me = auth.principal.subject;
    let body = body.0;
    let mut errors = Vec::new();
    if body.delegate_id == me {
        errors.push(FieldError::new(
            "/delegate_id",
            "self_delegation",
            "delegate to someone else",
        ));
    }
    if body.ends_at <= body.starts_at {
        errors.push(FieldError::new(
            "/ends_at",
            "invalid_period",
            "ends_at is after starts_at",
        ));
    }
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    if body.delegate_id != me
        && !bus::people::active_user(&txn, tenant, UserId(body.delegate_id)).await?
    {
        errors.push(FieldError::new(
            "/delegate_id",
            "unknown_reference",
            "no such active user in this tenant",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    if store::overlaps(&txn, tenant, me, body.starts_at, body.ends_at).await? {
        return Err(ApiError::conflict(
            "delegation_overlaps",
            "you already have a delegation in that period",
        ));
    }
    let d = store::delegate(
        &txn,
        tenant,
        me,
        body.delegate_id,
        body.starts_at,
        body.ends_at,
    )
    .await?;
    events::delegation_changed(&txn, &d, false).await?;
    txn.commit().await?;
    Ok(HttpResponse::Created().json(delegation_out(d)))
}

fn delegation_out(d: store::Delegation) -> DelegationOut {
    DelegationOut {
        id: d.id,
        delegator_id: d.delegator_id,
        delegate_id: d.delegate_id,
        starts_at: d.starts_at,
        ends_at: d.ends_at,
    }
}

/// The caller's approval delegations.
///
/// Those given and those received that have not ended, soonest first (at most 200): a
/// delegate sees whom they stand in for, an approver whom they asked to.
#[utoipa::path(
    tag = "approvals",
    operation_id = "listApprovalDelegations",
    responses((status = 200, description = "OK", body = Vec<DelegationOut>)),
    security(("bearer" = ["approval:decide"]))
)]
#[get("")]
pub async fn delegations(
    state: web::Data<CatalogueService>,
    auth: Auth<ApprovalDecide>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let found = store::delegations_of(
        &txn,
        tenant,
        auth.principal.subject,
        platform::record::now(),
    )
    .await?;
    txn.commit().await?;
    let items: Vec<DelegationOut> = found.into_iter().map(delegation_out).collect();
    Ok(HttpResponse::Ok().json(items))
}

/// Withdraw a delegation the caller gave.
///
/// It ends now (one not yet begun never comes into force); decisions the delegate already
/// made stand. 404 for anyone else's delegation.
#[utoipa::path(
    tag = "approvals",
    operation_id = "revokeApprovalDelegation",
    params(("id" = Uuid, Path, description = "The delegation's id.")),
    responses(
        (status = 200, description = "Ended", body = DelegationOut),
        (status = 404, description = "No such delegation of the caller's", body = ProblemJson, content_type = "application/problem+json")
    ),
    security(("bearer" = ["approval:decide"]))
)]
#[delete("/{id}")]
pub async fn revoke(
    state: web::Data<CatalogueService>,
    auth: Auth<ApprovalDecide>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let now = platform::record::now();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let d = store::own_delegation(&txn, tenant, auth.principal.subject, *id)
        .await?
        .ok_or_else(|| ApiError::not_found("delegation"))?;
    let d = if d.ends_at > now {
        let d = store::end_delegation(&txn, d, now).await?;
        events::delegation_changed(&txn, &d, true).await?;
        d
    } else {
        d
    };
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(delegation_out(d)))
}
