//! What change publishes, appended to the outbox in the same transaction as the change.
use events::{
    Event,
    change::{
        ChangeApprovalDecided, ChangeClosed, ChangeConflictsChanged, ChangeCreated,
        ChangeIncidentLinked, ChangeOutcomeRevised, ChangeOverdue, ChangePirFindingRecorded,
        ChangeStateChanged, ChangeTemplateSuspended, ChangeVoteCast,
    },
};
use platform::{ApiError, tenancy::TenantId};
use sea_orm::DatabaseTransaction;

use crate::{
    domain::{lifecycle::State, template::Finding},
    store::{
        cab::{Round, Vote},
        changes::Change,
        incidents,
        templates::Template,
    },
};

async fn publish<E: Event>(
    txn: &DatabaseTransaction,
    c: &Change,
    payload: &E,
) -> Result<(), ApiError> {
    bus::outbox::append(txn, TenantId(c.tenant_id), c.id, c.version, payload).await?;
    Ok(())
}

pub async fn created(
    txn: &DatabaseTransaction,
    c: &Change,
    cis: &[uuid::Uuid],
) -> Result<(), ApiError> {
    let created = ChangeCreated {
        change_id: c.id,
        number: c.number.clone(),
        change_type: c.change_type.clone(),
        title: c.title.clone(),
        state: c.state.clone(),
        risk: c.risk.clone(),
        requested_by: c.requested_by,
        affected_ci_ids: cis.to_vec(),
        planned_start: c.planned_start.map(|t| t.to_rfc3339()),
        planned_end: c.planned_end.map(|t| t.to_rfc3339()),
    };
    publish(txn, c, &created).await
}

/// A move from `from` to where `c` is now, and its closure when it closed.
pub async fn moved(
    txn: &DatabaseTransaction,
    from: State,
    c: &Change,
    reason: Option<String>,
) -> Result<(), ApiError> {
    let changed = ChangeStateChanged {
        change_id: c.id,
        from: from.as_str().into(),
        to: c.state.clone(),
        approval_round: u32::try_from(c.approval_round).unwrap_or(0),
        reason,
    };
    publish(txn, c, &changed).await?;
    if let Some(code) = c
        .close_code
        .as_ref()
        .filter(|_| c.state == State::Closed.as_str())
    {
        let closed = ChangeClosed {
            change_id: c.id,
            close_code: code.clone(),
            risk: c.risk.clone(),
            caused_incident_count: incidents::caused_count(txn, TenantId(c.tenant_id), c.id)
                .await?,
        };
        publish(txn, c, &closed).await?;
    }
    Ok(())
}

fn round_number(r: &Round) -> u32 {
    u32::try_from(r.round).unwrap_or(0)
}

/// A vote, as appended.
pub async fn vote_cast(
    txn: &DatabaseTransaction,
    c: &Change,
    r: &Round,
    stage: &str,
    v: &Vote,
) -> Result<(), ApiError> {
    let cast = ChangeVoteCast {
        change_id: c.id,
        round: round_number(r),
        stage: stage.into(),
        voter_id: v.voter_id,
        on_behalf_of: v.on_behalf_of,
        decision: v.decision.clone(),
        reason: v.reason.clone(),
    };
    publish(txn, c, &cast).await
}

/// A round decided by its votes.
pub async fn decided(txn: &DatabaseTransaction, c: &Change, r: &Round) -> Result<(), ApiError> {
    let decided = ChangeApprovalDecided {
        change_id: c.id,
        round: round_number(r),
        policy_id: r.policy_id,
        policy_name: r.policy_name.clone(),
        decision: r.state.clone(),
    };
    publish(txn, c, &decided).await
}

/// An incident the change caused; `count` with it.
pub async fn incident_linked(
    txn: &DatabaseTransaction,
    c: &Change,
    incident: uuid::Uuid,
    count: u32,
) -> Result<(), ApiError> {
    let linked = ChangeIncidentLinked {
        change_id: c.id,
        incident_id: incident,
        caused_incident_count: count,
    };
    publish(txn, c, &linked).await
}

/// A closed change turned out to have failed.
pub async fn outcome_revised(
    txn: &DatabaseTransaction,
    c: &Change,
    count: u32,
) -> Result<(), ApiError> {
    let revised = ChangeOutcomeRevised {
        change_id: c.id,
        close_code: c.close_code.clone().unwrap_or_default(),
        caused_incident_count: count,
        failed: true,
    };
    publish(txn, c, &revised).await
}

/// The template `c` came from was suspended because `c` failed.
pub async fn template_suspended(
    txn: &DatabaseTransaction,
    c: &Change,
    t: &Template,
    reason: String,
) -> Result<(), ApiError> {
    let suspended = ChangeTemplateSuspended {
        template_id: t.id,
        slug: t.slug.clone(),
        template_version: u32::try_from(t.template_version).unwrap_or(0),
        change_id: c.id,
        reason,
    };
    bus::outbox::append(txn, TenantId(t.tenant_id), t.id, t.version, &suspended).await?;
    Ok(())
}

/// An improvement a review recorded.
pub async fn finding_recorded(
    txn: &DatabaseTransaction,
    c: &Change,
    f: &Finding,
) -> Result<(), ApiError> {
    let recorded = ChangePirFindingRecorded {
        change_id: c.id,
        number: c.number.clone(),
        kind: "improvement".into(),
        text: f.text.clone(),
    };
    publish(txn, c, &recorded).await
}

/// The conflicts of `c`, changed since last checked.
pub async fn conflicts_changed(
    txn: &DatabaseTransaction,
    c: &Change,
    found: &[crate::domain::conflict::Conflict],
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), ApiError> {
    let mut kinds: Vec<String> = found
        .iter()
        .filter_map(|x| serde_json::to_value(x.kind).ok())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    kinds.dedup();
    let mut others: Vec<uuid::Uuid> = found.iter().filter_map(|x| x.other_change_id).collect();
    others.sort();
    others.dedup();
    let changed = ChangeConflictsChanged {
        change_id: c.id,
        conflict_count: u32::try_from(found.len()).unwrap_or(u32::MAX),
        kinds,
        other_change_ids: others,
        checked_at: at.to_rfc3339(),
    };
    publish(txn, c, &changed).await
}

/// `c` is overdue.
pub async fn overdue(txn: &DatabaseTransaction, c: &Change) -> Result<(), ApiError> {
    let overdue = ChangeOverdue {
        change_id: c.id,
        number: c.number.clone(),
        state: c.state.clone(),
        planned_end: c.planned_end.map(|t| t.to_rfc3339()).unwrap_or_default(),
    };
    publish(txn, c, &overdue).await
}
