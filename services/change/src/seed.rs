//! Change's part of the demo data set (DEMO.md): per MSP a weekend maintenance window; per
//! customer the templates `restart-web` (`web-01`) and `patch-db` (`db-01`), the approval
//! policy `normal` (stage "CAB", `any`), and three changes — a standard one from
//! `restart-web`, scheduled; a normal one awaiting the CAB; one implemented (in review). Seeding
//! twice changes nothing.
use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use host::demo::DemoCustomer;
use platform::{
    ApiError,
    tenancy::{TenantId, begin_scoped},
};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::{
    ChangeService,
    domain::{
        cab::{QuorumRule, Stage},
        change::{NewChange, Plans, Window},
        lifecycle::{ChangeType, Moved, State},
        risk::Risk,
        window::WindowKind,
    },
    events,
    store::{
        cab::{self, NewPolicy},
        changes,
        templates::{self, NewTemplate},
        windows::{self, NewWindow},
    },
};

/// What the seed made.
#[derive(Debug, Default)]
pub struct Seeded {
    pub windows: usize,
    pub templates: usize,
    pub policies: usize,
    pub changes: usize,
}

const MAINTENANCE: &str = "Weekend maintenance";

/// The next Saturday 20:00 UTC after `now`.
fn next_saturday_evening(now: DateTime<Utc>) -> DateTime<Utc> {
    let days = (5 - i64::from(now.weekday().num_days_from_monday()) + 7) % 7;
    let day = now.date_naive() + Duration::days(if days == 0 { 7 } else { days });
    Utc.from_utc_datetime(&day.and_hms_opt(20, 0, 0).unwrap_or_default())
}

pub async fn seed_demo(
    service: &ChangeService,
    customers: &[DemoCustomer],
) -> Result<Seeded, ApiError> {
    let mut seeded = Seeded::default();
    let saturday = next_saturday_evening(platform::record::now());
    for of_provider in customers.chunk_by(|a, b| a.provider() == b.provider()) {
        let Some(first) = of_provider.first() else {
            continue;
        };
        let provider = first.provider();
        let txn = begin_scoped(&service.db, &[provider]).await?;
        let existing = windows::list(&txn, &[provider], None, None).await?;
        if !existing.iter().any(|w| w.name == MAINTENANCE) {
            windows::insert(
                &txn,
                provider,
                NewWindow {
                    kind: WindowKind::Maintenance,
                    name: MAINTENANCE.into(),
                    first: Window {
                        start: saturday - Duration::weeks(4),
                        end: saturday - Duration::weeks(4) + Duration::hours(10),
                    },
                    time_zone: "UTC".into(),
                    rrule: Some("FREQ=WEEKLY;BYDAY=SA".into()),
                    ci_ids: Vec::new(),
                },
            )
            .await?;
            seeded.windows += 1;
        }
        txn.commit().await?;
        for customer in of_provider {
            seed_customer(service, customer, saturday, &mut seeded).await?;
        }
    }
    Ok(seeded)
}

/// The projected CI named `name` in `tenant`.
async fn ci_named(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    name: &str,
) -> Result<Option<Uuid>, ApiError> {
    use bus::entities::cmdb_ci;
    Ok(cmdb_ci::Entity::find()
        .filter(cmdb_ci::Column::TenantId.eq(tenant.as_uuid()))
        .filter(cmdb_ci::Column::Name.eq(name))
        .one(txn)
        .await?
        .map(|c| c.ci_id))
}

async fn group_named(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    name: &str,
) -> Result<Option<Uuid>, ApiError> {
    use bus::entities::directory_group;
    Ok(directory_group::Entity::find()
        .filter(directory_group::Column::TenantId.eq(tenant.as_uuid()))
        .filter(directory_group::Column::Name.eq(name))
        .one(txn)
        .await?
        .map(|g| g.id))
}

fn plans(work: &str) -> Plans {
    Plans {
        implementation_plan: work.into(),
        backout_plan: "Restore the snapshot taken before the work.".into(),
        test_plan: "Run the payroll smoke test.".into(),
    }
}

/// One of a customer's demo changes: what it is and the moves that bring it where it stands.
struct DemoChange {
    kind: ChangeType,
    title: &'static str,
    cis: Vec<Uuid>,
    window: Window,
    moves: &'static [State],
    template: Option<(Uuid, i32)>,
}

async fn seed_customer(
    service: &ChangeService,
    customer: &DemoCustomer,
    saturday: DateTime<Utc>,
    seeded: &mut Seeded,
) -> Result<(), ApiError> {
    let tenant = TenantId(customer.id);
    let txn = begin_scoped(&service.db, &[tenant]).await?;
    let (Some(web), Some(db), Some(board)) = (
        ci_named(&txn, tenant, "web-01").await?,
        ci_named(&txn, tenant, "db-01").await?,
        group_named(&txn, tenant, "CAB").await?,
    ) else {
        // The CMDB or the people of this customer are not projected: nothing to plan against.
        txn.rollback().await?;
        return Ok(());
    };
    if !templates::list(&txn, tenant, None, None, 1)
        .await?
        .is_empty()
    {
        // Seeded already.
        txn.rollback().await?;
        return Ok(());
    }
    let restart = templates::publish(
        &txn,
        tenant,
        NewTemplate {
            slug: "restart-web".into(),
            change_type: ChangeType::Standard,
            title: "Restart web-01".into(),
            description: "Restart the web tier of Payroll.".into(),
            ci_ids: vec![web],
            plans: plans("Drain web-01, restart the service, put it back."),
        },
    )
    .await?;
    templates::publish(
        &txn,
        tenant,
        NewTemplate {
            slug: "patch-db".into(),
            change_type: ChangeType::Standard,
            title: "Patch db-01".into(),
            description: "Apply the monthly database patches.".into(),
            ci_ids: vec![db],
            plans: plans("Apply the patch set to db-01."),
        },
    )
    .await?;
    seeded.templates += 2;
    let policy = cab::insert_policy(
        &txn,
        tenant,
        NewPolicy {
            name: "normal".into(),
            change_types: vec![ChangeType::Normal],
            risks: Vec::new(),
            priority: 100,
            stages: vec![Stage {
                name: "CAB".into(),
                group_id: board,
                rule: QuorumRule::Any,
                required: 1,
            }],
        },
    )
    .await?;
    seeded.policies += 1;
    txn.commit().await?;

    let slot = |offset_weeks: i64, hours: i64| Window {
        start: saturday + Duration::weeks(offset_weeks) + Duration::hours(1),
        end: saturday + Duration::weeks(offset_weeks) + Duration::hours(1 + hours),
    };
    let plan = [
        DemoChange {
            kind: ChangeType::Standard,
            title: "Restart web-01",
            cis: vec![web],
            window: slot(0, 1),
            moves: &[State::Scheduled],
            template: Some((restart.id, restart.template_version)),
        },
        DemoChange {
            kind: ChangeType::Normal,
            title: "Upgrade payroll-app to 4.2",
            cis: vec![web, db],
            window: slot(1, 3),
            moves: &[State::Assess, State::Authorize],
            template: None,
        },
        DemoChange {
            kind: ChangeType::Normal,
            title: "Grow db-01's data volume",
            cis: vec![db],
            window: Window {
                start: platform::record::now() - Duration::hours(1),
                end: platform::record::now() + Duration::hours(2),
            },
            moves: &[
                State::Assess,
                State::Authorize,
                State::Scheduled,
                State::Implement,
                State::Review,
            ],
            template: None,
        },
    ];
    for DemoChange {
        kind,
        title,
        cis,
        window,
        moves,
        template,
    } in plan
    {
        let number = service
            .numbers
            .next(&service.db, "change_counters", "CHG", tenant)
            .await?;
        let txn = begin_scoped(&service.db, &[tenant]).await?;
        let new = NewChange {
            change_type: kind,
            title: title.into(),
            description: String::new(),
            window: Some(window),
            plans: plans(title),
            assignee_id: Some(customer.agent),
            ci_ids: cis,
        };
        let risk = Risk::baseline(kind);
        let (mut c, cis) =
            changes::insert(&txn, tenant, number, customer.agent, new, risk, template).await?;
        events::created(&txn, &c, &cis).await?;
        for to in moves {
            let from = c.lifecycle_state();
            c = changes::moved(
                &txn,
                c,
                &Moved {
                    to: *to,
                    rejection_reason: None,
                    close_code: None,
                },
            )
            .await?;
            events::moved(&txn, from, &c, None).await?;
        }
        // The one still awaiting approval awaits its CAB's votes.
        if c.lifecycle_state() == State::Authorize {
            cab::start_round(&txn, tenant, c.id, c.approval_round, &policy).await?;
        }
        crate::workers::touched(&txn, &c, None).await?;
        txn.commit().await?;
        seeded.changes += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_maintenance_window_starts_on_a_saturday_evening() {
        for day in 1..=14 {
            let now = Utc
                .with_ymd_and_hms(2026, 12, day, 21, 0, 0)
                .single()
                .unwrap_or_default();
            let s = next_saturday_evening(now);
            assert_eq!(s.weekday(), chrono::Weekday::Sat);
            assert!(s > now && s - now <= Duration::days(7), "{now} → {s}");
        }
    }
}
