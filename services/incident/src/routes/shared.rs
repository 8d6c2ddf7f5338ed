//! What several route modules do the same way: who may see and work an incident, the
//! `If-Match` check, references to identity's users and groups, and moving an incident
//! through its lifecycle.
use platform::tenancy::TenantId;
use platform::{
    ApiError, FieldError,
    auth::{Principal, UserId},
};
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use bus::people;

use crate::domain::incident::IncidentId;
use crate::{
    domain::lifecycle::{State, Status, Transition},
    events,
    sla::Tracking,
    store::incidents::{self, Incident},
};

/// Whether the caller reads every incident of the tenant, work notes included
/// (`incident:read`); otherwise it reads only the incidents it raised, without work notes
/// (`incident:read_own`).
pub fn reads_all(p: &Principal) -> bool {
    p.reaches_all("incident:read")
}

/// Whether the caller works every incident of the tenant (`incident:write`); otherwise it
/// may only raise, comment on, cancel and reopen its own (`incident:write_own`).
pub fn works_all(p: &Principal) -> bool {
    p.reaches_all("incident:write")
}

/// Whether the caller may see `i` (requesters: only their own).
pub fn visible(p: &Principal, i: &Incident) -> bool {
    reads_all(p) || i.caller_id == Some(p.subject)
}

/// Loads an incident the caller may see (requesters: only their own).
pub async fn find_visible(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    p: &Principal,
    id: Uuid,
) -> Result<Incident, ApiError> {
    incidents::find(txn, tenant, IncidentId(id))
        .await?
        .filter(|i| visible(p, i))
        .ok_or_else(|| ApiError::not_found("incident"))
}

/// A caller that may see an incident but works only its own: 403 on someone else's.
pub fn check_works(p: &Principal, i: &Incident) -> Result<(), ApiError> {
    if works_all(p) || i.caller_id == Some(p.subject) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "not_your_incident",
            "you may change only the incidents you raised",
        ))
    }
}

/// Applies a new status: persists it, moves the SLA clocks, announces the change (and the
/// resolution or closure).
pub async fn move_to(
    txn: &DatabaseTransaction,
    sla: &Tracking<'_>,
    inc: Incident,
    next: &Status,
) -> Result<Incident, ApiError> {
    let before = inc.clone();
    let from = inc.state;
    let updated = incidents::set_status(txn, inc, next).await?;
    events::incident_moved(txn, from, &updated, next).await?;
    Ok(sla.track_stored(txn, Some(&before), updated).await?)
}

/// Resolves `inc` with `resolution` if it is open and may be resolved; whether it was.
pub async fn resolve_if_open(
    txn: &DatabaseTransaction,
    sla: &Tracking<'_>,
    inc: Incident,
    resolution: &Transition,
) -> Result<bool, ApiError> {
    let status = incidents::status_of(&inc);
    if !status.state.is_open() {
        return Ok(false);
    }
    match status.apply(resolution) {
        Ok(next) => {
            move_to(txn, sla, inc, &next).await?;
            Ok(true)
        }
        Err(_) => Ok(false),
    }
}

/// Resolving a parent resolves its open children, with the parent's resolution.
pub async fn resolve_children(
    txn: &DatabaseTransaction,
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
        resolve_if_open(txn, sla, child, &with_parent).await?;
    }
    Ok(())
}

/// An incident names a service of its tenant's portfolio that takes incidents (`transition` or
/// `live`): another tenant's service and an unknown id are the same `unknown_reference`.
async fn check_service(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    service: Option<Uuid>,
) -> Result<Option<FieldError>, ApiError> {
    let Some(id) = service else {
        return Ok(None);
    };
    Ok(
        match crate::store::portfolio::takes_incidents(txn, tenant, id).await? {
            Some(true) => None,
            Some(false) => Some(FieldError::new(
                "/service_id",
                "service_not_live",
                "the service takes incidents once it is in transition or live",
            )),
            None => Some(FieldError::new(
                "/service_id",
                "unknown_reference",
                "no such service in this tenant",
            )),
        },
    )
}

/// The problems with the service and the CI an incident of `tenant` names (none named: none).
pub async fn check_portfolio(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    (service, ci): (Option<Uuid>, Option<Uuid>),
) -> Result<Vec<FieldError>, ApiError> {
    Ok([
        check_service(txn, tenant, service).await?,
        check_ci(txn, tenant, ci).await?,
    ]
    .into_iter()
    .flatten()
    .collect())
}

/// [`check_portfolio`], refusing the request (422) if there is any problem.
pub async fn portfolio_ok(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    refs: (Option<Uuid>, Option<Uuid>),
) -> Result<(), ApiError> {
    let problems = check_portfolio(txn, tenant, refs).await?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.into())
    }
}

/// The problem with naming CI `ci` on an incident of `tenant`, if any: it must be one the
/// tenant owns or is granted (the same answer for one of another tenant), and not retired.
async fn check_ci(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    ci: Option<Uuid>,
) -> Result<Option<FieldError>, ApiError> {
    let Some(id) = ci else {
        return Ok(None);
    };
    Ok(match crate::store::cmdb::retired(txn, tenant, id).await? {
        Some(false) => None,
        Some(true) => Some(FieldError::new(
            "/configuration_item_id",
            "ci_retired",
            "the configuration item is retired",
        )),
        None => Some(FieldError::new(
            "/configuration_item_id",
            "unknown_reference",
            "no such configuration item in this tenant",
        )),
    })
}

/// Checks references against identity's projected users and groups. An id that does not
/// exist and an id of another tenant get the same answer (no existence oracle).
pub async fn check_references(
    txn: &DatabaseTransaction,
    tenant: TenantId,
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
        && !people::active_user(txn, tenant, UserId(c)).await?
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
            (Some(_), Some(_)) if !people::active_user(txn, tenant, UserId(a)).await? => {
                errors.push(unknown("/assignee_id", "active user"))
            }
            _ => {}
        }
    }
    Ok(errors)
}
