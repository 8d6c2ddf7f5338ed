//! What incident publishes: every change to incidents and problems, appended to the outbox in
//! the same transaction as the change (a create's events go into its one statement).
use bus::outbox::Batch;
use events::{Event, incident::*};
use platform::ApiError;
use platform::tenancy::TenantId;
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use crate::{
    domain::lifecycle::{State, Status},
    store::{
        incidents::{Comment, Incident},
        problems::Problem,
    },
};

async fn publish<E: Event>(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    subject: Uuid,
    version: i64,
    payload: &E,
) -> Result<(), ApiError> {
    bus::outbox::append(txn, tenant, subject, version, payload).await?;
    Ok(())
}

/// The events of a new incident, for its create statement: created, and the priority override
/// an agent made.
pub fn incident_created(inc: &Incident, matrix_priority: u8) -> Result<Batch, ApiError> {
    let mut batch = Batch::default();
    let created = IncidentCreated {
        incident_id: inc.id,
        number: inc.number.clone(),
        title: inc.title.clone(),
        caller_id: inc.caller_id,
        impact: inc.impact as u8,
        urgency: inc.urgency as u8,
        priority: inc.priority as u8,
        state: inc.state.as_str().to_string(),
    };
    batch.push(TenantId(inc.tenant_id), inc.id, inc.version, &created)?;
    batch.push(
        TenantId(inc.tenant_id),
        inc.id,
        inc.version,
        &classified(inc),
    )?;
    if inc.priority_overridden {
        let overridden = IncidentPriorityOverridden {
            incident_id: inc.id,
            matrix_priority,
            priority: inc.priority as u8,
            by: inc.created_by,
        };
        batch.push(TenantId(inc.tenant_id), inc.id, inc.version, &overridden)?;
    }
    Ok(batch)
}

/// A move from `from` to `next`, and the resolution or closure it is.
pub async fn incident_moved(
    txn: &DatabaseTransaction,
    from: State,
    inc: &Incident,
    next: &Status,
) -> Result<(), ApiError> {
    let (tenant, id, version) = (TenantId(inc.tenant_id), inc.id, inc.version);
    let changed = IncidentStateChanged {
        incident_id: id,
        from: from.as_str().to_string(),
        to: inc.state.as_str().to_string(),
        hold_reason: inc.hold_reason.map(|h| h.as_str().to_string()),
        resolution_code: inc.resolution_code.clone(),
    };
    publish(txn, tenant, id, version, &changed).await?;
    match (next.state, &next.resolution) {
        (State::Resolved, Some(r)) => {
            let resolved = IncidentResolved {
                incident_id: id,
                resolution_code: r.code.clone(),
                resolution_notes: r.notes.clone(),
            };
            publish(txn, tenant, id, version, &resolved).await
        }
        (State::Closed, _) => {
            let closed = IncidentClosed {
                incident_id: id,
                resolution_code: inc.resolution_code.clone(),
            };
            publish(txn, tenant, id, version, &closed).await
        }
        _ => Ok(()),
    }
}

/// A comment or work note; the text travels only with public comments.
pub async fn incident_commented(
    txn: &DatabaseTransaction,
    inc: &Incident,
    c: &Comment,
    public: bool,
) -> Result<(), ApiError> {
    let payload = IncidentCommented {
        incident_id: inc.id,
        comment_id: c.id,
        visibility: c.visibility.as_str().to_string(),
        body: public.then(|| c.body.clone()),
    };
    publish(txn, TenantId(inc.tenant_id), inc.id, inc.version, &payload).await
}

pub async fn incident_assigned(txn: &DatabaseTransaction, inc: &Incident) -> Result<(), ApiError> {
    let payload = IncidentAssigned {
        incident_id: inc.id,
        assignment_group_id: inc.assignment_group_id,
        assignee_id: inc.assignee_id,
    };
    publish(txn, TenantId(inc.tenant_id), inc.id, inc.version, &payload).await
}

/// What the incident is about and how it came in (ADR 44).
fn classified(inc: &Incident) -> IncidentClassified {
    IncidentClassified {
        incident_id: inc.id,
        category: inc.category.clone(),
        subcategory: inc.subcategory.clone(),
        service_id: inc.service_id,
        configuration_item_id: inc.configuration_item_id,
        channel: inc.channel.map(|c| c.as_str().to_string()),
    }
}

/// The fields whose change is also announced as `incident.classified`.
const CLASSIFICATION: [&str; 4] = [
    "category",
    "subcategory",
    "service_id",
    "configuration_item_id",
];

pub async fn incident_updated(
    txn: &DatabaseTransaction,
    inc: &Incident,
    changed: Vec<String>,
) -> Result<(), ApiError> {
    let (tenant, id, version) = (TenantId(inc.tenant_id), inc.id, inc.version);
    let reclassified = changed.iter().any(|c| CLASSIFICATION.contains(&c.as_str()));
    let payload = IncidentUpdated {
        incident_id: id,
        changed,
        priority: inc.priority as u8,
    };
    publish(txn, tenant, id, version, &payload).await?;
    if reclassified {
        publish(txn, tenant, id, version, &classified(inc)).await?;
    }
    Ok(())
}

pub async fn problem_created(txn: &DatabaseTransaction, p: &Problem) -> Result<(), ApiError> {
    let payload = ProblemCreated {
        problem_id: p.id,
        number: p.number.clone(),
        title: p.title.clone(),
    };
    publish(txn, TenantId(p.tenant_id), p.id, p.version, &payload).await
}

pub async fn problem_updated(
    txn: &DatabaseTransaction,
    p: &Problem,
    linked: &[Uuid],
) -> Result<(), ApiError> {
    let payload = ProblemUpdated {
        problem_id: p.id,
        known_error: p.known_error,
        linked_incidents: linked.to_vec(),
    };
    publish(txn, TenantId(p.tenant_id), p.id, p.version, &payload).await
}

pub async fn problem_resolved(
    txn: &DatabaseTransaction,
    p: &Problem,
    resolved_incidents: Vec<Uuid>,
) -> Result<(), ApiError> {
    let payload = ProblemResolved {
        problem_id: p.id,
        resolved_incidents,
    };
    publish(txn, TenantId(p.tenant_id), p.id, p.version, &payload).await
}
