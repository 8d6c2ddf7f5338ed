//! The CAB at work: `POST /api/v1/changes/{id}/votes`, `GET …/{id}/approvals` and the changes
//! awaiting the caller's vote.
use std::collections::HashMap;

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError, FieldError,
    auth::{
        Auth, UserId,
        scopes::{ChangeApprove, ChangeRead},
    },
    error::Problem,
    json::Json,
    tenancy::{TenantId, begin_scoped},
    validate::multiline,
};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::{
    basis::Basis,
    changes::{ChangePage, out},
    checks::{decided_move, load},
};
use crate::{
    ChangeService,
    domain::{
        cab::{Decision, Outcome, QuorumRule, Stage, Tally, round_outcome, stage_outcome},
        lifecycle::{State, after_approval},
    },
    events,
    store::{
        cab::{self, NewVote, Round, Vote},
        changes::{self, Change},
    },
};

/// Under `/api/v1/changes` (`awaiting-my-vote` before `/{id}`).
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(awaiting).service(vote).service(approvals);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"decision": "approve", "reason": "Backout plan tested on staging."}))]
pub struct VoteIn {
    pub decision: Decision,
    /// Why; required for every decision.
    pub reason: String,
    /// The approver the caller stands in for (a delegation of theirs to the caller).
    pub on_behalf_of: Option<Uuid>,
    /// Lets an emergency change the vote approves into a blackout; recorded with the move.
    pub override_reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "voter_id": "01a24233-c45f-769f-8803-48c30e8f1d49",
    "on_behalf_of": null,
    "decision": "approve",
    "reason": "Backout plan tested on staging.",
    "cast_at": "2026-12-07T10:00:00Z"
}))]
pub struct VoteOut {
    pub voter_id: Uuid,
    pub on_behalf_of: Option<Uuid>,
    pub decision: Decision,
    pub reason: String,
    pub cast_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct StageOut {
    pub name: String,
    pub group_id: Uuid,
    pub rule: QuorumRule,
    /// Approvals it needs now (under `all`, the members who have not abstained).
    pub required: u32,
    /// Who may vote: the group's members, less the requester.
    pub eligible: u32,
    pub state: Outcome,
    pub votes: Vec<VoteOut>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "change_id": "01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a10",
    "round": 1,
    "policy_id": "01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a30",
    "policy_name": "Normal changes",
    "state": "pending",
    "stages": [{
        "name": "CAB",
        "group_id": "01a24233-c45f-769f-8803-48c30e8f1d40",
        "rule": "any",
        "required": 1,
        "eligible": 2,
        "state": "pending",
        "votes": []
    }]
}))]
pub struct ApprovalsOut {
    pub change_id: Uuid,
    pub round: i32,
    pub policy_id: Uuid,
    pub policy_name: String,
    pub state: Outcome,
    pub stages: Vec<StageOut>,
}

/// The members of each stage's group, less `requester`, read across the lineage (a
/// provider's CAB may decide a customer's changes).
async fn electorate(
    db: &DatabaseConnection,
    lineage: &[TenantId],
    stages: &[Stage],
    requester: Uuid,
) -> Result<Vec<Vec<Uuid>>, ApiError> {
    let txn = begin_scoped(db, lineage).await?;
    let mut out = Vec::with_capacity(stages.len());
    for s in stages {
        let mut members = bus::people::group_members_within(&txn, lineage, s.group_id)
            .await?
            .unwrap_or_default();
        members.retain(|m| *m != requester);
        out.push(members);
    }
    txn.commit().await?;
    Ok(out)
}

/// Each stage's outcome given `votes`.
fn outcomes(stages: &[Stage], electorate: &[Vec<Uuid>], votes: &[Vote]) -> Vec<(Tally, Outcome)> {
    stages
        .iter()
        .zip(electorate)
        .enumerate()
        .map(|(i, (s, members))| {
            let decisions = votes
                .iter()
                .filter(|v| v.stage == i as i32)
                .map(Vote::decision);
            let t = Tally::count(u32::try_from(members.len()).unwrap_or(0), decisions);
            (t, stage_outcome(s.rule, s.required, &t))
        })
        .collect()
}

fn approvals_out(r: &Round, electorate: &[Vec<Uuid>], votes: &[Vote]) -> ApprovalsOut {
    let stages = r.stages();
    let decided = outcomes(&stages, electorate, votes);
    ApprovalsOut {
        change_id: r.change_id,
        round: r.round,
        policy_id: r.policy_id,
        policy_name: r.policy_name.clone(),
        state: round_outcome(&decided.iter().map(|(_, o)| *o).collect::<Vec<_>>()),
        stages: stages
            .into_iter()
            .zip(decided)
            .enumerate()
            .map(|(i, (s, (t, state)))| StageOut {
                required: crate::domain::cab::need(s.rule, s.required, &t),
                eligible: t.eligible,
                name: s.name,
                group_id: s.group_id,
                rule: s.rule,
                state,
                votes: votes
                    .iter()
                    .filter(|v| v.stage == i as i32)
                    .map(|v| VoteOut {
                        voter_id: v.voter_id,
                        on_behalf_of: v.on_behalf_of,
                        decision: v.decision(),
                        reason: v.reason.clone(),
                        cast_at: v.cast_at,
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The approval round of a change and its votes.
///
/// The current round (`?round=` for an earlier one): each stage's rule, quorum, state and
/// votes. 404 when the change never went to a CAB (an approver decided it directly).
#[utoipa::path(
    tag = "changes",
    operation_id = "getChangeApprovals",
    params(
        ("id" = Uuid, Path, description = "The change's id."),
        ("round" = Option<i32>, Query, description = "An earlier round (default: the current one).")
    ),
    responses((status = 200, description = "OK", body = ApprovalsOut)),
    security(("bearer" = ["change:read"]))
)]
#[get("/{id}/approvals")]
pub async fn approvals(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeRead>,
    id: web::Path<Uuid>,
    query: web::Query<RoundQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let (c, _) = load(&txn, tenant, *id, false).await?;
    let rounds = cab::rounds(&txn, tenant, c.id).await?;
    let r = match query.round {
        Some(n) => rounds.into_iter().find(|r| r.round == n),
        None => rounds.into_iter().last(),
    }
    .ok_or_else(|| ApiError::not_found("approval round"))?;
    let votes = cab::votes(&txn, tenant, c.id, r.round).await?;
    txn.commit().await?;
    let electorate = electorate(
        &state.db,
        auth.tenant.lineage(),
        &r.stages(),
        c.requested_by,
    )
    .await?;
    Ok(HttpResponse::Ok().json(approvals_out(&r, &electorate, &votes)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RoundQuery {
    /// An earlier round (default: the current one).
    pub round: Option<i32>,
}

/// The stage a vote in `seat`'s place goes to: the first undecided one whose group has them
/// and in which no vote fills their place yet.
fn stage_for(
    seat: Uuid,
    electorate: &[Vec<Uuid>],
    decided: &[(Tally, Outcome)],
    votes: &[Vote],
) -> Result<usize, ApiError> {
    let mine: Vec<usize> = (0..electorate.len())
        .filter(|i| electorate[*i].contains(&seat))
        .collect();
    if mine.is_empty() {
        return Err(ApiError::forbidden(
            "not_an_approver",
            "you are not a member of any stage of this change's approval",
        ));
    }
    let open: Vec<usize> = mine
        .into_iter()
        .filter(|i| decided[*i].1 == Outcome::Pending)
        .collect();
    open.iter()
        .copied()
        .find(|i| {
            !votes
                .iter()
                .any(|v| v.stage == *i as i32 && v.on_behalf_of.unwrap_or(v.voter_id) == seat)
        })
        .ok_or_else(|| {
            if open.is_empty() {
                ApiError::conflict("stage_decided", "your stages are already decided")
            } else {
                ApiError::conflict("already_voted", "you voted in this round already")
            }
        })
}

/// Vote on a change awaiting its CAB.
///
/// The voter is the caller (a `voter_id` in the body is 422); `reason` is required. One vote
/// per stage and round: the vote counts in the first undecided stage whose group has the
/// caller (409 `already_voted`). With `on_behalf_of`, the vote fills the place of an approver
/// who delegated to the caller for now (`/api/v1/approval-delegations`, one level; otherwise
/// 422 `no_delegation`) and is recorded as the caller's on their behalf. A requester never
/// votes on their own change, nor a delegate for them (403 `own_change`). When every stage
/// is approved the change moves on (`scheduled`, or `implement` for an emergency); when a
/// stage's quorum is out of reach it returns to `new`, rejected, for another round. Votes
/// are appended, never changed, and published.
#[utoipa::path(
    tag = "changes",
    operation_id = "voteOnChange",
    params(("id" = Uuid, Path, description = "The change's id.")),
    request_body = VoteIn,
    responses(
        (status = 201, description = "Counted; the round as it stands", body = ApprovalsOut),
        (status = 403, description = "`own_change` or `not_an_approver`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_voted`, `stage_decided`, `not_awaiting_approval` or `blackout`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No reason, `no_delegation`, or a field the caller may not set", body = Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["change:approve"]))
)]
#[post("/{id}/votes")]
pub async fn vote(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeApprove>,
    id: web::Path<Uuid>,
    body: Json<VoteIn>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let reason = multiline("/reason", body.reason.trim(), 2000)
        .and_then(|r| {
            if r.is_empty() {
                Err(FieldError::new("/reason", "required", "give a reason"))
            } else {
                Ok(r)
            }
        })
        .map_err(|e| ApiError::validation(vec![e]))?;
    let tenant = auth.tenant_id();
    let voter = auth.principal.subject;
    let basis = Basis::load(&state.db, auth.tenant.lineage()).await?;
    // Who may vote, read before the change is locked (the CAB may be a provider's group).
    let (c, _) = {
        let txn = begin_scoped(&state.db, &[tenant]).await?;
        let found = load(&txn, tenant, *id, false).await?;
        txn.commit().await?;
        found
    };
    let pending = pending_round(&state.db, tenant, &c).await?;
    let electorate = electorate(
        &state.db,
        auth.tenant.lineage(),
        &pending.stages(),
        c.requested_by,
    )
    .await?;
    // Whose place the vote fills: the caller's, or an approver's who delegated to them.
    let seat = match body.on_behalf_of {
        None => voter,
        Some(principal) => {
            let txn = begin_scoped(&state.db, auth.tenant.lineage()).await?;
            let delegated = principal != voter
                && cab::delegated(&txn, principal, voter, platform::record::now()).await?;
            txn.commit().await?;
            if !delegated {
                return Err(ApiError::validation(vec![FieldError::new(
                    "/on_behalf_of",
                    "no_delegation",
                    format!("{principal} has not delegated approvals to you for now"),
                )]));
            }
            principal
        }
    };

    let txn = begin_scoped(&state.db, &[tenant]).await?;
    // Votes on one change queue up here, so only one of them decides the round.
    let (c, cis) = load(&txn, tenant, *id, true).await?;
    if c.requested_by == voter || c.requested_by == seat {
        return Err(ApiError::forbidden(
            "own_change",
            "a change is approved or rejected by someone other than its requester",
        ));
    }
    let r = cab::round(&txn, tenant, c.id, c.approval_round)
        .await?
        .filter(|r| r.round == pending.round && c.lifecycle_state() == State::Authorize)
        .ok_or_else(not_awaiting)?;
    if r.state != Outcome::Pending.as_str() {
        return Err(not_awaiting());
    }
    let stages = r.stages();
    let mut votes = cab::votes(&txn, tenant, c.id, r.round).await?;
    let stage = stage_for(
        seat,
        &electorate,
        &outcomes(&stages, &electorate, &votes),
        &votes,
    )?;
    let cast = cab::cast(
        &txn,
        tenant,
        NewVote {
            change: c.id,
            round: r.round,
            stage: stage as i32,
            voter,
            on_behalf_of: (seat != voter).then_some(seat),
            decision: body.decision,
            reason,
            at: platform::record::now(),
        },
    )
    .await?
    .ok_or_else(|| ApiError::conflict("already_voted", "you voted in this round already"))?;
    events::vote_cast(&txn, &c, &r, &stages[stage].name, &cast).await?;
    votes.push(cast);
    let decided = outcomes(&stages, &electorate, &votes);
    let outcome = round_outcome(&decided.iter().map(|(_, o)| *o).collect::<Vec<_>>());
    let r = if outcome == Outcome::Pending {
        r
    } else {
        let r = cab::decide_round(&txn, r, outcome).await?;
        let to = match outcome {
            Outcome::Approved => after_approval(c.kind()),
            _ => State::New,
        };
        let rejection = (outcome == Outcome::Rejected).then(|| {
            let (i, _) = decided
                .iter()
                .enumerate()
                .find(|(_, (_, o))| *o == Outcome::Rejected)
                .unwrap_or((0, &decided[0]));
            format!("CAB stage {} rejected the change", stages[i].name)
        });
        events::decided(&txn, &c, &r).await?;
        decided_move(
            &txn,
            &basis,
            c,
            &cis,
            to,
            rejection,
            body.override_reason.as_deref(),
        )
        .await?;
        r
    };
    txn.commit().await?;
    Ok(HttpResponse::Created().json(approvals_out(&r, &electorate, &votes)))
}

fn not_awaiting() -> ApiError {
    ApiError::conflict(
        "not_awaiting_approval",
        "this change is not awaiting its CAB's votes",
    )
}

/// The round `c` awaits votes in.
async fn pending_round(
    db: &DatabaseConnection,
    tenant: TenantId,
    c: &Change,
) -> Result<Round, ApiError> {
    if c.lifecycle_state() != State::Authorize {
        return Err(not_awaiting());
    }
    let txn = begin_scoped(db, &[tenant]).await?;
    let r = cab::round(&txn, tenant, c.id, c.approval_round).await?;
    txn.commit().await?;
    r.filter(|r| r.state == Outcome::Pending.as_str())
        .ok_or_else(not_awaiting)
}

/// Changes awaiting the caller's vote.
///
/// Changes in `authorize` whose current round has an undecided stage with the caller in its
/// group and no vote of theirs; oldest first, at most 200.
#[utoipa::path(
    tag = "changes",
    operation_id = "listChangesAwaitingMyVote",
    responses((status = 200, description = "OK", body = ChangePage)),
    security(("bearer" = ["change:approve"]))
)]
#[get("/awaiting-my-vote")]
pub async fn awaiting(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeApprove>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let me = auth.principal.subject;
    let lineage = auth.tenant.lineage();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let pending = cab::pending_rounds(&txn, tenant, 200).await?;
    let ids: Vec<Uuid> = pending.iter().map(|r| r.change_id).collect();
    let mut found: HashMap<Uuid, Change> = changes::find_many(&txn, tenant, &ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let mut voted = cab::voted_in(&txn, tenant, UserId(me), &pending).await?;
    txn.commit().await?;
    let groups: Vec<Uuid> = pending
        .iter()
        .flat_map(|r| r.stages().into_iter().map(|s| s.group_id))
        .collect();
    let mine = {
        let txn = begin_scoped(&state.db, lineage).await?;
        let m = bus::people::member_of(&txn, UserId(me), &groups).await?;
        txn.commit().await?;
        m
    };
    let mut items = Vec::new();
    for r in pending {
        let Some(c) = found.remove(&r.change_id) else {
            continue;
        };
        let done = voted.remove(&(r.change_id, r.round)).unwrap_or_default();
        let awaits = c.requested_by != me
            && c.lifecycle_state() == State::Authorize
            && c.approval_round == r.round
            && r.stages()
                .iter()
                .enumerate()
                .any(|(i, s)| mine.contains(&s.group_id) && !done.contains(&(i as i32)));
        if awaits {
            items.push(c);
        }
    }
    let ids: Vec<Uuid> = items.iter().map(|c| c.id).collect();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let mut cis = changes::cis_of(&txn, tenant, &ids).await?;
    txn.commit().await?;
    let items: Vec<_> = items
        .into_iter()
        .map(|c| {
            let ci = cis.remove(&c.id).unwrap_or_default();
            out(&c, ci)
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items, "next_cursor": null })))
}
