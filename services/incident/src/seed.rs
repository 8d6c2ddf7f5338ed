//! The incident service's part of the demo data (`itsm seed --demo`, `itsm serve --demo`; see
//! the demo data set in the docs): per demo customer, SLA calendars and definitions, 25
//! incidents over the last 30 days in mixed states, and 2 problems (one a known error).
//!
//! Each incident's history is replayed step by step at the instants it happened, through the
//! SLA engine ([`crate::sla::track_at`]), and finally brought up to now: its clocks are what
//! the engine would have made of that history, so some are breached, some paused, some
//! stopped in time. Seeding is idempotent: a customer that already has the demo's SLA
//! definitions is left alone. Like the load-test data, seeded incidents publish no incident
//! events (their aggregates start without history); SLA warnings and breaches are announced
//! as the engine always does.
use chrono::{DateTime, Duration, Utc};
use platform::tenancy::TenantId;
use platform::tenancy::{TenantInfo, TenantKind, begin_scoped};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    IncidentService,
    domain::{
        calendar::{CalendarSpec, Day, Holiday, WorkingHours},
        incident::{IncidentId, Visibility},
        lifecycle::{HoldReason, State},
        priority::{Level, Matrix},
        queue::no_sla_due,
        sla::{Condition, Field, Kind, Op, Rules, Subject},
    },
    sla::track_stored_at,
    store::sla::kind_str,
    store::{
        entities::{comment, incident, problem, sla_calendar, sla_definition},
        incidents::Incident,
        problems as problem_store,
    },
};

pub use host::DemoCustomer;

/// What was seeded.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DemoSummary {
    pub customers: usize,
    pub incidents: usize,
    pub problems: usize,
}

/// The name of the first demo definition: a customer that has it is seeded already.
const MARKER: &str = "P1/P2 response";
const INCIDENTS: usize = 25;

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("SLA engine: {0}")]
    Sla(#[from] bus::BusError),
    #[error("{0}")]
    Other(String),
}

/// Seeds every customer that is not seeded yet, as of `now`.
pub async fn seed_demo(
    service: &IncidentService,
    customers: &[DemoCustomer],
    now: DateTime<Utc>,
) -> Result<DemoSummary, SeedError> {
    use chrono::SubsecRound;
    let now = now.trunc_subsecs(0);
    let mut summary = DemoSummary::default();
    for customer in customers {
        let txn = begin_scoped(&service.db, &[TenantId(customer.id)]).await?;
        let seeded = sla_definition::Entity::find()
            .filter(sla_definition::Column::TenantId.eq(customer.id))
            .filter(sla_definition::Column::Name.eq(MARKER))
            .one(&txn)
            .await?
            .is_some();
        if seeded {
            txn.commit().await?;
            continue;
        }
        sla_setup(
            &txn,
            TenantId(customer.id),
            zone_of(&customer.slug),
            now - Duration::days(31),
        )
        .await?;
        txn.commit().await?;
        service.sla.invalidate();
        let tenant = TenantInfo {
            id: TenantId(customer.id),
            slug: customer.slug.clone(),
            kind: TenantKind::Customer,
            path: TenantId::many(&customer.path),
            active: true,
            rate_limit_per_minute: None,
        };
        let config = service.sla.config(&tenant).await?;
        let mut incidents = Vec::with_capacity(INCIDENTS);
        for story in plan(now) {
            let number =
                crate::opening::next_number(&service.db, &service.numbers, TenantId(customer.id))
                    .await?;
            let txn = begin_scoped(&service.db, &[TenantId(customer.id)]).await?;
            let inc = replay(&txn, service, &config, customer, number, &story, now).await?;
            txn.commit().await?;
            incidents.push(inc);
        }
        summary.problems += seed_problems(service, customer, &incidents, now).await?;
        summary.incidents += incidents.len();
        summary.customers += 1;
    }
    Ok(summary)
}

fn zone_of(slug: &str) -> &'static str {
    match slug {
        "initech" => "America/Chicago",
        _ => "Europe/Berlin",
    }
}

fn office_hours(zone: &str) -> CalendarSpec {
    let weekdays = [
        Day::Monday,
        Day::Tuesday,
        Day::Wednesday,
        Day::Thursday,
        Day::Friday,
    ];
    CalendarSpec {
        time_zone: zone.into(),
        weekly_hours: weekdays
            .into_iter()
            .map(|day| WorkingHours {
                day,
                start: "08:00".into(),
                end: "18:00".into(),
            })
            .collect(),
        holidays: [
            ("2026-12-25", "Christmas Day"),
            ("2027-01-01", "New Year's Day"),
        ]
        .into_iter()
        .filter_map(|(date, name)| {
            Some(Holiday {
                date: date.parse().ok()?,
                name: name.into(),
            })
        })
        .collect(),
    }
}

/// Calendars ("Office hours", the default; "Around the clock") and four definitions: urgent
/// incidents (priority 1–2) on the clock around the clock, the rest in office hours.
async fn sla_setup(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    zone: &str,
    at: DateTime<Utc>,
) -> Result<(), SeedError> {
    let spec =
        |s: &CalendarSpec| serde_json::to_string(s).map_err(|e| SeedError::Other(e.to_string()));
    let calendar = |name: &str, is_default: bool, spec: String| sla_calendar::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant.into()),
        name: Set(name.into()),
        is_default: Set(is_default),
        spec: Set(spec),
        version: Set(1),
        created_at: Set(at),
        updated_at: Set(at),
    };
    calendar("Office hours", true, spec(&office_hours(zone))?)
        .insert(txn)
        .await?;
    let always = calendar("Around the clock", false, spec(&CalendarSpec::always())?)
        .insert(txn)
        .await?;
    let definition = |name: &str, subject: Subject, kind: Kind, target: i64, calendar, rules| {
        Ok::<_, SeedError>(sla_definition::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(tenant.into()),
            name: Set(name.into()),
            applies_to: Set(subject.as_str().into()),
            kind: Set(kind_str(kind).into()),
            target_seconds: Set(target),
            calendar_id: Set(calendar),
            rules: Set(serde_json::to_string(&rules).map_err(|e| SeedError::Other(e.to_string()))?),
            active: Set(true),
            version: Set(1),
            created_at: Set(at),
            updated_at: Set(at),
        })
    };
    let urgent = json!([1, 2]);
    let other = json!([3, 4, 5]);
    for (name, kind, target, priorities, calendar) in [
        (MARKER, Kind::Response, 30 * 60, &urgent, Some(always.id)),
        (
            "P1/P2 resolution",
            Kind::Resolution,
            8 * 3600,
            &urgent,
            Some(always.id),
        ),
        ("P3-P5 response", Kind::Response, 4 * 3600, &other, None),
        (
            "P3-P5 resolution",
            Kind::Resolution,
            30 * 3600,
            &other,
            None,
        ),
    ] {
        let mut rules = Rules::default_for(kind);
        rules.applies_when = vec![Condition {
            field: Field::Priority,
            op: Op::In,
            value: priorities.clone(),
        }];
        definition(name, Subject::Incident, kind, target, calendar, rules)?
            .insert(txn)
            .await?;
    }
    // Request items: three office days (of eight hours) in fulfilment.
    definition(
        "Request fulfilment",
        Subject::RequestItem,
        Kind::Resolution,
        3 * 8 * 3600,
        None,
        Rules::for_request_item(),
    )?
    .insert(txn)
    .await?;
    Ok(())
}

/// One step of an incident's history, `after` its creation.
#[derive(Debug, Clone, Copy)]
enum Step {
    Work,
    Hold(HoldReason),
    Resolve,
    Close,
    Cancel,
}

/// One incident to seed: when it was raised, its impact and urgency, what it is about, and
/// what happened to it since.
#[derive(Debug, Clone)]
struct Story {
    created: DateTime<Utc>,
    impact: u8,
    urgency: u8,
    title: &'static str,
    steps: Vec<(Duration, Step)>,
}

const TITLES: [&str; INCIDENTS] = [
    "Payroll export fails with a timeout",
    "Email delivery to external domains delayed",
    "VPN disconnects every hour",
    "Laptop does not boot after update",
    "Shared drive is read-only",
    "Payroll app login page shows an error",
    "New starter has no mailbox",
    "Printer on floor 3 prints blank pages",
    "Calendar invites arrive twice",
    "db-01 disk almost full",
    "Web shop checkout slow",
    "Password reset email never arrives",
    "Teams calls drop after 10 minutes",
    "Monitor flickers",
    "Expense report attachments fail to upload",
    "Wi-Fi in meeting room B unstable",
    "Payroll figures off by one cent",
    "Phishing email reported",
    "Backup job on web-01 failed",
    "Cannot open PDF invoices",
    "VPN client asks for the password twice",
    "Mailbox full warning",
    "Payroll app unreachable",
    "Keyboard missing keys",
    "Access request for the data lake",
];

/// 25 incidents, oldest first, one every 1.2 days from 30 days ago; their histories mix
/// resolved and closed, late, canceled, on hold and untouched ones. Recent ones are open more
/// often. Steps that would lie in the future are left out.
fn plan(now: DateTime<Utc>) -> Vec<Story> {
    let minutes = Duration::minutes;
    let hours = Duration::hours;
    let days = Duration::days;
    // (impact, urgency): priorities 1–5, with the middling ones most common.
    let levels = [
        (2, 2),
        (3, 2),
        (1, 2),
        (2, 3),
        (3, 3),
        (2, 2),
        (1, 1),
        (3, 2),
    ];
    (0..INCIDENTS)
        .map(|i| {
            let created = now - days(30) + minutes(i as i64 * 1728) + minutes(17);
            let (impact, urgency) = levels[i % levels.len()];
            let steps = match (i, i % 6) {
                (7, _) => vec![(hours(1), Step::Cancel)],
                (20.., 0 | 1 | 4) => vec![(minutes(25), Step::Work)],
                (_, 0) => vec![
                    (minutes(20), Step::Work),
                    (hours(3), Step::Resolve),
                    (days(2), Step::Close),
                ],
                // Picked up late: the response target is missed.
                (_, 1) => vec![
                    (hours(7), Step::Work),
                    (days(1), Step::Resolve),
                    (days(4), Step::Close),
                ],
                (_, 2) => vec![
                    (minutes(15), Step::Work),
                    (hours(2), Step::Hold(HoldReason::AwaitingCaller)),
                ],
                // In progress for a long time: old ones breach resolution.
                (_, 3) => vec![(minutes(30), Step::Work)],
                // Waited on a vendor, resolved late.
                (_, 4) => vec![
                    (hours(1), Step::Work),
                    (hours(3), Step::Hold(HoldReason::AwaitingVendor)),
                    (days(1), Step::Work),
                    (days(5), Step::Resolve),
                ],
                // Untouched: the response clock runs (and breaches when old).
                _ => vec![],
            };
            Story {
                created,
                impact,
                urgency,
                title: TITLES[i],
                steps: steps
                    .into_iter()
                    .filter(|(after, _)| created + *after < now)
                    .collect(),
            }
        })
        .collect()
}

/// Creates one incident and replays its story through the SLA engine.
#[allow(clippy::too_many_arguments)]
async fn replay(
    txn: &DatabaseTransaction,
    service: &IncidentService,
    config: &crate::sla::Config,
    customer: &DemoCustomer,
    number: String,
    story: &Story,
    now: DateTime<Utc>,
) -> Result<Incident, SeedError> {
    let level = |n: u8| Level::new(n).ok_or_else(|| SeedError::Other(format!("level {n}")));
    let priority = Matrix::default().priority(level(story.impact)?, level(story.urgency)?);
    let at = story.created;
    let mut inc = incident::ActiveModel {
        id: Set(uuid_at(at)),
        tenant_id: Set(customer.id),
        number: Set(number),
        title: Set(story.title.into()),
        description: Set(format!(
            "Reported by the requester: {}.",
            story.title.to_lowercase()
        )),
        caller_id: Set(Some(customer.requester)),
        impact: Set(i16::from(story.impact)),
        urgency: Set(i16::from(story.urgency)),
        priority: Set(i16::from(priority.get())),
        state: Set(State::New),
        hold_reason: Set(None),
        resolution_code: Set(None),
        resolution_notes: Set(None),
        created_by: Set(customer.requester),
        assignment_group_id: Set(Some(customer.desk)),
        assignee_id: Set(None),
        category: Set(None),
        subcategory: Set(None),
        parent_id: Set(None),
        service_id: Set(None),
        configuration_item_id: Set(None),
        major: Set(false),
        priority_overridden: Set(false),
        // Raised by the requester.
        channel: Set(Some(crate::domain::incident::Channel::Portal)),
        version: Set(1),
        created_at: Set(at),
        updated_at: Set(at),
        sla_due_at: Set(no_sla_due()),
    }
    .insert(txn)
    .await?;
    inc = track_stored_at(txn, &service.sla, config, None, inc, at).await?;
    for (after, step) in &story.steps {
        let at = story.created + *after;
        let before = inc.clone();
        let mut am: incident::ActiveModel = inc.into();
        match step {
            Step::Work => {
                am.state = Set(State::InProgress);
                am.hold_reason = Set(None);
                am.assignee_id = Set(Some(customer.agent));
            }
            Step::Hold(reason) => {
                am.state = Set(State::OnHold);
                am.hold_reason = Set(Some(*reason));
            }
            Step::Resolve => {
                am.state = Set(State::Resolved);
                am.hold_reason = Set(None);
                am.resolution_code = Set(Some("solved".into()));
                am.resolution_notes = Set(Some("Fixed and confirmed with the caller.".into()));
            }
            Step::Close => am.state = Set(State::Closed),
            Step::Cancel => am.state = Set(State::Canceled),
        }
        am.version = Set(before.version + 1);
        am.updated_at = Set(at);
        inc = am.update(txn).await?;
        inc = track_stored_at(txn, &service.sla, config, Some(&before), inc, at).await?;
        if let Step::Hold(HoldReason::AwaitingCaller) = step {
            comment(
                txn,
                &inc,
                customer.agent,
                Visibility::Public,
                "Could you send a screenshot of the error?",
                at,
            )
            .await?;
            comment(
                txn,
                &inc,
                customer.agent,
                Visibility::Internal,
                "Asked the caller for details.",
                at,
            )
            .await?;
        }
    }
    // Up to now: thresholds passed since the last change are recorded.
    let before = inc.clone();
    Ok(track_stored_at(txn, &service.sla, config, Some(&before), inc, now).await?)
}

async fn comment(
    txn: &DatabaseTransaction,
    inc: &Incident,
    author: Uuid,
    visibility: Visibility,
    body: &str,
    at: DateTime<Utc>,
) -> Result<(), SeedError> {
    comment::ActiveModel {
        id: Set(uuid_at(at)),
        tenant_id: Set(inc.tenant_id),
        incident_id: Set(inc.id),
        author_id: Set(author),
        visibility: Set(visibility),
        body: Set(body.into()),
        created_at: Set(at),
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// A UUIDv7 from `at`, so id order (list order) is creation order.
fn uuid_at(at: DateTime<Utc>) -> Uuid {
    Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        at.timestamp().max(0) as u64,
        at.timestamp_subsec_nanos(),
    ))
}

/// Two problems: a known error (with a workaround) linked to the VPN incidents, and an open
/// one linked to the payroll incidents.
async fn seed_problems(
    service: &IncidentService,
    customer: &DemoCustomer,
    incidents: &[Incident],
    now: DateTime<Utc>,
) -> Result<usize, SeedError> {
    let problems = [
        (
            "VPN concentrator drops idle sessions",
            "The concentrator's idle timeout is shorter than the client's keep-alive.",
            "Reconnect, or keep a ping running while connected.",
            true,
            "VPN",
        ),
        (
            "Payroll app slow under month-end load",
            "",
            "",
            false,
            "Payroll",
        ),
    ];
    for (title, root_cause, workaround, known_error, topic) in problems {
        let number = service
            .numbers
            .next(
                &service.db,
                "problem_counters",
                "PRB",
                TenantId(customer.id),
            )
            .await?;
        let at = now - Duration::days(10);
        let txn = begin_scoped(&service.db, &[TenantId(customer.id)]).await?;
        let p = problem::ActiveModel {
            id: Set(uuid_at(at)),
            tenant_id: Set(customer.id),
            number: Set(number),
            title: Set(title.into()),
            description: Set(format!("Recurring incidents about {topic}.")),
            root_cause: Set(root_cause.into()),
            workaround: Set(workaround.into()),
            known_error: Set(known_error),
            state: Set(problem::State::Open),
            resolution_notes: Set(None),
            version: Set(1),
            created_at: Set(at),
            updated_at: Set(at),
        }
        .insert(&txn)
        .await?;
        for inc in incidents.iter().filter(|i| i.title.contains(topic)) {
            problem_store::link(&txn, &p, IncidentId(inc.id)).await?;
        }
        txn.commit().await?;
    }
    Ok(problems.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_mixes_states_and_stays_in_the_past() {
        let now = Utc::now();
        let stories = plan(now);
        assert_eq!(stories.len(), INCIDENTS);
        assert!(stories.windows(2).all(|w| w[0].created < w[1].created));
        assert!(stories.iter().all(|s| s.created > now - Duration::days(31)));
        assert!(
            stories
                .iter()
                .all(|s| s.steps.iter().all(|(after, _)| s.created + *after < now))
        );
        let last = |s: &Story| s.steps.last().map(|(_, step)| *step);
        let count =
            |f: &dyn Fn(Option<Step>) -> bool| stories.iter().filter(|s| f(last(s))).count();
        assert!(count(&|s| s.is_none()) >= 3, "untouched (new)");
        assert!(count(&|s| matches!(s, Some(Step::Hold(_)))) >= 3, "on hold");
        assert!(
            count(&|s| matches!(s, Some(Step::Work))) >= 3,
            "in progress"
        );
        assert!(count(&|s| matches!(s, Some(Step::Close))) >= 3, "closed");
        assert!(
            count(&|s| matches!(s, Some(Step::Resolve))) >= 1,
            "resolved"
        );
        assert!(count(&|s| matches!(s, Some(Step::Cancel))) == 1, "canceled");
    }
}
