//! One incident row from a planned incident: title and description, impact, urgency and
//! priority, and a state, times, assignment and resolution that fit its age.
use chrono::{DateTime, TimeZone, Utc};
use identity::seed::LoadTenant;
use incident::{
    domain::{
        lifecycle::{HoldReason, State},
        priority::{Level, Matrix},
        queue::no_sla_due,
    },
    store::entities::incident as incident_e,
};
use sea_orm::{ActiveModelBehavior, ActiveValue::Set};
use uuid::Uuid;

use super::{
    plan::Planned,
    rng::Rng,
    texts::{CHANNELS, KINDS, RESOLUTIONS, SINCE, TEAMS, fill},
};

/// Incident levels are skewed towards minor impact and medium urgency.
fn level(rng: &mut Rng, weights: [f64; 3]) -> Level {
    let x = rng.f64();
    let v = if x < weights[0] {
        1
    } else if x < weights[0] + weights[1] {
        2
    } else {
        3
    };
    Level::new(v).unwrap_or_else(|| unreachable!())
}

/// The state an incident of `age_days` is in: recent ones are more often still open.
fn state_for(rng: &mut Rng, age_days: f64) -> State {
    let open = if age_days < 7.0 {
        0.7
    } else if age_days < 30.0 {
        0.35
    } else {
        0.15
    };
    let x = rng.f64();
    if x < open {
        let y = rng.f64();
        return if y < 0.3 {
            State::New
        } else if y < 0.75 {
            State::InProgress
        } else {
            State::OnHold
        };
    }
    if rng.f64() < 0.03 {
        State::Canceled
    } else if age_days < 5.0 || rng.f64() < 0.05 {
        State::Resolved
    } else {
        State::Closed
    }
}

pub(super) fn incident_row(
    rng: &mut Rng,
    matrix: &Matrix,
    t: &LoadTenant,
    p: &Planned,
    now: DateTime<Utc>,
) -> incident_e::ActiveModel {
    let created = Utc.timestamp_micros(p.at).single().unwrap_or(now);
    let kind = rng.pick(KINDS);
    let template = *rng.pick(kind.titles);
    let title = fill(template, rng);
    let who = *rng.pick(&[
        ("One user", "is"),
        ("Several users", "are"),
        ("About ten users", "are"),
        ("Everyone", "is"),
    ]);
    let description = format!(
        "{title}.\n\nThe user reports that {} {}. {} in {} {} affected.\n\n{}",
        kind.symptom,
        rng.pick(SINCE),
        who.0,
        rng.pick(TEAMS),
        who.1,
        rng.pick(CHANNELS),
    );
    let impact = level(rng, [0.1, 0.35, 0.55]);
    let urgency = level(rng, [0.15, 0.45, 0.4]);
    let priority = matrix.priority(impact, urgency);
    let age_days = (now - created).num_seconds() as f64 / 86_400.0;
    let state = state_for(rng, age_days);
    let hours = |h: f64| chrono::Duration::seconds((h * 3600.0) as i64);
    // Time to resolve grows with lower priority (hours, roughly exponential).
    let resolve_hours = [4.0, 8.0, 24.0, 48.0, 96.0][(priority.get() - 1) as usize]
        * -(1.0 - rng.f64()).ln().max(0.02);
    let updated = match state {
        State::New => created + hours(rng.f64() * 0.2),
        State::InProgress | State::OnHold => created + hours(rng.f64() * age_days * 24.0),
        State::Resolved => created + hours(resolve_hours),
        State::Closed => created + hours(resolve_hours + 72.0),
        State::Canceled => created + hours(rng.f64() * 2.0),
    }
    .min(now)
    .max(created);
    let hold = (state == State::OnHold).then(|| {
        let x = rng.f64();
        if x < 0.45 {
            HoldReason::AwaitingCaller
        } else if x < 0.7 {
            HoldReason::AwaitingVendor
        } else if x < 0.85 {
            HoldReason::AwaitingChange
        } else {
            HoldReason::AwaitingProblem
        }
    });
    let resolution =
        matches!(state, State::Resolved | State::Closed).then(|| *rng.pick(RESOLUTIONS));
    let grouped = state != State::New || rng.f64() < 0.6;
    let assigned = grouped && rng.f64() < if state == State::New { 0.3 } else { 0.92 };
    let by_requester = rng.f64() < 0.4;

    let id = Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        created.timestamp() as u64,
        created.timestamp_subsec_nanos(),
    ));
    let mut row = incident_e::ActiveModel::new();
    row.id = Set(id);
    row.tenant_id = Set(t.tenant.id);
    row.number = Set(format!("INC{:07}", p.number));
    row.title = Set(title);
    row.description = Set(description);
    row.caller_id = Set(Some(t.requester.id));
    row.impact = Set(impact.get() as i16);
    row.urgency = Set(urgency.get() as i16);
    row.priority = Set(priority.get() as i16);
    row.state = Set(state);
    row.hold_reason = Set(hold);
    row.resolution_code = Set(resolution.map(|(c, _)| c.to_string()));
    row.resolution_notes = Set(resolution.map(|(_, n)| n.to_string()));
    row.created_by = Set(if by_requester {
        t.requester.id
    } else {
        t.agent.id
    });
    row.version = Set(1);
    row.assignment_group_id = Set(grouped.then_some(t.desk.id));
    row.assignee_id = Set(assigned.then_some(t.agent.id));
    row.category = Set(Some(kind.category.to_string()));
    row.subcategory = Set(Some(kind.subcategory.to_string()));
    row.parent_id = Set(None);
    row.major = Set(priority.get() == 1 && rng.f64() < 0.05);
    row.priority_overridden = Set(false);
    row.created_at = Set(created);
    row.updated_at = Set(updated);
    // The queue key as a resolution clock of the priority's target would set it (load data
    // writes no clocks): a deadline while the incident is worked, none once it waits or ends.
    let target_hours = [4.0, 8.0, 24.0, 48.0, 96.0][(priority.get() - 1) as usize];
    row.sla_due_at = Set(match state {
        State::New | State::InProgress => created + hours(target_hours),
        _ => no_sla_due(),
    });
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::plan::plan;

    #[test]
    fn rows_are_consistent() {
        let mut rng = Rng(7);
        let now = Utc::now();
        let matrix = Matrix::default();
        let t = LoadTenant {
            tenant: identity::store::tenants::Tenant {
                id: Uuid::now_v7(),
                parent_id: None,
                path: String::new(),
                kind: "customer".into(),
                name: "x".into(),
                slug: "load-0001".into(),
                status: "active".into(),
                created_at: now,
                updated_at: now,
            },
            agent: identity::seed::LoadUser {
                id: Uuid::now_v7(),
                email: "agent@load-0001.demo.test".into(),
                display_name: "a".into(),
                status: "active".into(),
                version: 1,
            },
            requester: identity::seed::LoadUser {
                id: Uuid::now_v7(),
                email: "requester@load-0001.demo.test".into(),
                display_name: "r".into(),
                status: "active".into(),
                version: 1,
            },
            desk: identity::seed::LoadGroup {
                id: Uuid::now_v7(),
                name: "Service Desk".into(),
                members: vec![],
                version: 1,
            },
        };
        let plan = plan(&mut rng, 1, 5_000, now);
        let mut open = 0;
        for p in &plan {
            let row = incident_row(&mut rng, &matrix, &t, p, now);
            let (
                Set(created),
                Set(updated),
                Set(state),
                Set(hold),
                Set(code),
                Set(impact),
                Set(urgency),
                Set(priority),
            ) = (
                row.created_at,
                row.updated_at,
                row.state,
                row.hold_reason,
                row.resolution_code,
                row.impact,
                row.urgency,
                row.priority,
            )
            else {
                panic!("unset column");
            };
            assert!(updated >= created && updated <= now);
            assert_eq!(hold.is_some(), state.as_str() == "on_hold");
            assert_eq!(
                code.is_some(),
                state.as_str() == "resolved" || state.as_str() == "closed"
            );
            let expected = matrix.priority(
                Level::new(impact as u8).unwrap_or_else(|| unreachable!()),
                Level::new(urgency as u8).unwrap_or_else(|| unreachable!()),
            );
            assert_eq!(priority, expected.get() as i16);
            if ["new", "in_progress", "on_hold"].contains(&state.as_str()) {
                open += 1;
            }
        }
        let share = open as f64 / plan.len() as f64;
        assert!((0.14..0.27).contains(&share), "open share {share}");
    }
}
