//! The checks a change's routes share: the windows that apply to a tenant, a plan's
//! conflicts, and the blackout that refuses scheduling.
use platform::{
    ApiError, FieldError,
    auth::UserId,
    tenancy::{TenantId, begin_scoped},
};
use sea_orm::{DatabaseConnection, DatabaseTransaction};

use uuid::Uuid;

use super::basis::Basis;
use crate::{
    domain::{
        conflict::{self, ChangeWindow, Conflict, Planned, RELATED_DEPTH},
        lifecycle::{ChangeType, Moved, State},
        risk::Risk,
        template::TemplateState,
    },
    events,
    store::{
        cab,
        changes::{self, Change},
        templates, windows,
    },
};

/// The windows that apply to a tenant: its own and its providers'.
pub async fn windows_of(
    db: &DatabaseConnection,
    lineage: &[TenantId],
) -> Result<Vec<ChangeWindow>, ApiError> {
    let txn = begin_scoped(db, lineage).await?;
    let rows = windows::list(&txn, lineage, None, None).await?;
    txn.commit().await?;
    Ok(rows.iter().map(windows::as_window).collect())
}

/// Every conflict of `planned` in `tenant`.
pub async fn conflicts_of(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    planned: &Planned,
    windows: &[ChangeWindow],
) -> Result<Vec<Conflict>, ApiError> {
    let others = windows::others(txn, tenant, planned.window).await?;
    let near = bus::cmdb::around(txn, tenant, &planned.cis, RELATED_DEPTH).await?;
    Ok(conflict::conflicts(planned, &near, &others, windows))
}

/// A blackout refuses `scheduled` (409 `blackout`) unless an emergency change gives an
/// `override_reason`; returns the reason to record.
pub fn blackout_gate(
    found: &[Conflict],
    emergency: bool,
    override_reason: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let blackouts: Vec<&Conflict> = found
        .iter()
        .filter(|c| c.kind == conflict::ConflictKind::Blackout)
        .collect();
    if blackouts.is_empty() {
        return Ok(None);
    }
    let reason = override_reason.map(str::trim).filter(|r| !r.is_empty());
    match (emergency, reason) {
        (true, Some(r)) => Ok(Some(format!("blackout overridden: {r}"))),
        (true, None) => Err(ApiError::validation(vec![FieldError::new(
            "/override_reason",
            "required",
            "an emergency change enters a blackout only with an override_reason",
        )])),
        (false, _) => Err(ApiError::conflict(
            "blackout",
            "the change's window overlaps a blackout",
        )
        .with_extra(serde_json::json!({ "conflicts": blackouts }))),
    }
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
pub async fn start_round(
    txn: &DatabaseTransaction,
    basis: &Basis,
    c: &Change,
) -> Result<(), ApiError> {
    let risk = Risk::parse(&c.risk).unwrap_or(Risk::High);
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
    crate::workers::touched(txn, &c, None).await?;
    events::moved(txn, from, &c, rejection_reason.or(reason)).await?;
    Ok(c)
}

/// Scheduling (or an emergency's start of work) is checked against blackouts: 409, or the
/// override to record.
pub async fn gate(
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
    let found = conflicts_of(txn, TenantId(c.tenant_id), &planned, &basis.windows).await?;
    let emergency = c.kind() == ChangeType::Emergency;
    blackout_gate(&found, emergency, override_reason)
}

/// The CIs and assignee a change names, against the tenant's projected CMDB and people: an
/// unknown CI and another tenant's are the same `unknown_reference`.
pub async fn check_references(
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

/// The tenant's change `id` and its CIs; `lock` holds the row until the transaction ends.
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

/// Suspends the template `c` was made from, if it is still active.
pub async fn suspend_template(
    txn: &DatabaseTransaction,
    c: &Change,
    reason: String,
) -> Result<(), ApiError> {
    let Some(template) = c.template_id else {
        return Ok(());
    };
    let tenant = TenantId(c.tenant_id);
    let Some(t) = templates::find(txn, tenant, template, true).await? else {
        return Ok(());
    };
    if t.state() != TemplateState::Active {
        return Ok(());
    }
    let t = templates::set_state(txn, t, TemplateState::Suspended, Some(reason.clone())).await?;
    events::template_suspended(txn, c, &t, reason).await
}
