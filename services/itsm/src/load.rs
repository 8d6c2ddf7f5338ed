//! Load-test data: `itsm seed --tenants N --incidents M`. Customers `load-0001` … under the demo
//! MSP (each with an agent, a requester and a service desk, see `identity::seed`), the incident
//! service's projections of them, and realistic incidents spread over them, all written in bulk.
//!
//! Incidents are distributed by a Zipf law over the tenants (`load-0001` is the largest, the
//! tail has a few each), created over the last 180 days (busier on weekdays and in office
//! hours), numbered per tenant in creation order after the numbers already handed out, and
//! given ids (UUIDv7) from their creation time, so id order is creation order. Recent incidents
//! are more often open; about 20 % are new, in progress or on hold.
//!
//! Seeded incidents publish no events (their aggregates start at version 1 without history);
//! the seeded tenants, users and groups do, exactly as if created one by one.
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use anyhow::Context;
use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use identity::seed::{LoadSet, LoadTenant};
use incident::{
    domain::{
        lifecycle::{HoldReason, State},
        priority::{Level, Matrix},
        queue::no_sla_due,
    },
    store::entities::{directory_group, directory_user, incident as incident_e},
};
use indicatif::{ProgressBar, ProgressStyle};
use platform::{
    db::{self, Target},
    settings::Settings,
    tenancy::scope_to,
};
use sea_orm::{
    ActiveModelBehavior, ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbBackend,
    EntityTrait, Statement, TransactionTrait,
};
use uuid::Uuid;

/// What to seed.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Customers `load-0001` … `load-<tenants>` (created if missing).
    pub tenants: usize,
    /// Incidents to add, spread over those customers.
    pub incidents: u64,
}

/// What was seeded, and how fast.
#[derive(Debug, Clone)]
pub struct Summary {
    pub tenants: usize,
    pub tenants_created: usize,
    pub incidents: u64,
    pub incidents_elapsed: Duration,
    pub elapsed: Duration,
}

impl Summary {
    pub fn incidents_per_sec(&self) -> f64 {
        self.incidents as f64 / self.incidents_elapsed.as_secs_f64().max(1e-9)
    }
}

/// Incidents per transaction; within one they are written in creation-time order.
const WINDOW: usize = 10_000;
/// Rows per INSERT statement (24 bound values each; under both engines' parameter limits).
const ROWS_PER_STATEMENT: usize = 1_000;
/// Tenants per statement. Row-level security re-checks every inserted row against the
/// transaction's tenant list, whose cost grows with its length, so each statement is scoped
/// to the few tenants it writes.
const TENANTS_PER_STATEMENT: usize = 32;
/// Transactions in flight (the owner pool has two connections; PostgreSQL does the work).
const IN_FLIGHT: usize = 2;
/// How far back incidents are created.
const HISTORY_DAYS: i64 = 180;
/// The first number of a tenant (`INC0001001`), as `incidents::Numbers` hands them out.
const FIRST_NUMBER: i64 = 1001;

fn bar(len: u64, prefix: &'static str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix:>9} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} ({per_sec}, eta {eta})",
    ) {
        pb.set_style(style);
    }
    pb.set_prefix(prefix);
    pb
}

/// Seeds the load-test data. `identity_db` is identity's (application-role) connection;
/// incidents and projections are written through the incident service's owner connection.
/// `password` is the demo password for new users (needed only when a customer is missing).
pub async fn run(
    settings: &Settings,
    identity_db: &DatabaseConnection,
    opts: Options,
    password: Option<&str>,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    anyhow::ensure!(opts.tenants >= 1, "--tenants must be at least 1");
    anyhow::ensure!(
        opts.tenants <= 99_999,
        "--tenants is at most 99999 (slugs load-0001 … load-99999)"
    );
    // One argon2 hash for every seeded user: hashing per user would take minutes.
    let hash = match password {
        Some(p) => {
            let p = p.to_string();
            Some(
                tokio::task::spawn_blocking(move || identity::domain::password::hash(&p))
                    .await?
                    .map_err(|e| anyhow::anyhow!("hashing the demo password: {e}"))?,
            )
        }
        None => None,
    };

    eprintln!(
        "seeding {} customer tenants under the demo MSP",
        opts.tenants
    );
    let pb = bar(opts.tenants as u64, "tenants");
    let set = identity::seed::seed_load_tenants(identity_db, opts.tenants, hash.as_deref(), &|n| {
        pb.inc(n)
    })
    .await
    .context("seeding the load-test tenants")?;
    pb.finish_and_clear();

    let target = Target::from_settings(settings, incident::SCHEMA)?;
    let owner = db::connect_owner(&target, incident::SCHEMA)
        .await
        .context("connecting to the incident service's database as its owner")?;
    project_directory(&owner, &set)
        .await
        .context("writing the incident service's directory projections")?;

    let t0 = Instant::now();
    if opts.incidents > 0 {
        eprintln!(
            "seeding {} incidents over {} tenants",
            opts.incidents,
            set.tenants.len()
        );
        seed_incidents(&owner, &set.tenants, opts.incidents).await?;
    }
    let incidents_elapsed = t0.elapsed();
    if owner.get_database_backend() == DbBackend::Postgres {
        // Fresh statistics, so the planner sees the grown table at once.
        owner
            .execute_unprepared("ANALYZE incidents, incident_counters")
            .await?;
    }
    owner.close().await?;
    Ok(Summary {
        tenants: set.tenants.len(),
        tenants_created: set.created,
        incidents: opts.incidents,
        incidents_elapsed,
        elapsed: started.elapsed(),
    })
}

/// Writes the incident service's projections of the seeded tenants (and the tenants above
/// them), users and groups, with the versions their events carry, so the service knows them
/// before any event arrives (the events then change nothing).
async fn project_directory(owner: &DatabaseConnection, set: &LoadSet) -> anyhow::Result<()> {
    use bus::entities::tenant_directory;

    let dir_row = |t: &identity::store::tenants::Tenant| tenant_directory::ActiveModel {
        id: Set(t.id),
        parent_id: Set(t.parent_id),
        path: Set(t.path.clone()),
        kind: Set(t.kind.clone()),
        slug: Set(t.slug.clone()),
        status: Set(t.status.clone()),
        settings: Set(serde_json::json!({})),
        // The version of the tenant's creation event: later changes (status, setting
        // overrides, which this row does not carry) still apply when their events arrive.
        version: Set(identity::events::version_of(t.created_at)),
    };
    // Every path starts at the root, so scoping to it makes each row visible and writable.
    let txn = owner.begin().await?;
    scope_to(&txn, &[set.root.id]).await?;
    for chunk in std::iter::once(&set.root)
        .chain(std::iter::once(&set.msp))
        .chain(set.tenants.iter().map(|t| &t.tenant))
        .collect::<Vec<_>>()
        .chunks(1000)
    {
        tenant_directory::Entity::insert_many(chunk.iter().map(|t| dir_row(t)))
            .on_conflict_do_nothing()
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;

    for chunk in set.tenants.chunks(TENANTS_PER_STATEMENT) {
        let txn = owner.begin().await?;
        scope_to(&txn, &chunk.iter().map(|t| t.tenant.id).collect::<Vec<_>>()).await?;
        let users = chunk.iter().flat_map(|t| {
            [&t.agent, &t.requester].map(|u| directory_user::ActiveModel {
                id: Set(u.id),
                tenant_id: Set(t.tenant.id),
                display_name: Set(u.display_name.clone()),
                status: Set(u.status.clone()),
                version: Set(u.version),
            })
        });
        directory_user::Entity::insert_many(users)
            .on_conflict_do_nothing()
            .exec_without_returning(&txn)
            .await?;
        let groups = chunk.iter().map(|t| directory_group::ActiveModel {
            id: Set(t.desk.id),
            tenant_id: Set(t.tenant.id),
            name: Set(t.desk.name.clone()),
            members: Set(serde_json::json!(t.desk.members)),
            version: Set(t.desk.version),
        });
        directory_group::Entity::insert_many(groups)
            .on_conflict_do_nothing()
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
    }
    Ok(())
}

/// One planned incident: its tenant (index), creation time (µs since the epoch) and number.
#[derive(Clone, Copy)]
struct Planned {
    tenant: u32,
    at: i64,
    number: i64,
}

async fn seed_incidents(
    owner: &DatabaseConnection,
    tenants: &[LoadTenant],
    count: u64,
) -> anyhow::Result<()> {
    let now = Utc::now();
    let mut rng = Rng::from_time();
    let plan_started = Instant::now();
    let mut plan = plan(&mut rng, tenants.len(), count, now);
    // Reserve each tenant's numbers first: incidents opened meanwhile get later ones.
    let mut per_tenant = vec![0i64; tenants.len()];
    for p in &plan {
        per_tenant[p.tenant as usize] += 1;
    }
    let first = reserve_numbers(owner, tenants, &per_tenant).await?;
    for p in plan.iter_mut() {
        p.number += first[p.tenant as usize];
    }
    plan.sort_unstable_by_key(|p| p.at);
    tracing::debug!(elapsed = ?plan_started.elapsed(), "planned");

    let pb = bar(count, "incidents");
    let matrix = Matrix::default();
    let mut running = tokio::task::JoinSet::new();
    for window in plan.chunks(WINDOW) {
        let mut rows: Vec<(u32, incident_e::ActiveModel)> = window
            .iter()
            .map(|p| {
                (
                    p.tenant,
                    incident_row(&mut rng, &matrix, &tenants[p.tenant as usize], p, now),
                )
            })
            .collect();
        // Grouped by tenant within the window (stable: creation order within a tenant).
        rows.sort_by_key(|(t, _)| *t);
        let statements = statements(rows, |t| tenants[t as usize].tenant.id);
        while running.len() >= IN_FLIGHT {
            if let Some(done) = running.join_next().await {
                done??;
            }
        }
        let (db, pb) = (owner.clone(), pb.clone());
        running.spawn(async move { insert_window(&db, statements, &pb).await });
    }
    while let Some(done) = running.join_next().await {
        done??;
    }
    pb.finish_and_clear();
    Ok(())
}

/// Splits rows (sorted by tenant) into statements of at most [`ROWS_PER_STATEMENT`] rows and
/// [`TENANTS_PER_STATEMENT`] tenants, each with the tenant ids it writes.
fn statements(
    rows: Vec<(u32, incident_e::ActiveModel)>,
    tenant_id: impl Fn(u32) -> Uuid,
) -> Vec<(Vec<Uuid>, Vec<incident_e::ActiveModel>)> {
    let mut out: Vec<(Vec<Uuid>, Vec<incident_e::ActiveModel>)> = Vec::new();
    let mut last: Option<u32> = None;
    for (t, row) in rows {
        let new_tenant = last != Some(t);
        let start = match out.last() {
            None => true,
            Some((ids, rows)) => {
                rows.len() >= ROWS_PER_STATEMENT
                    || (new_tenant && ids.len() >= TENANTS_PER_STATEMENT)
            }
        };
        if start {
            out.push((Vec::new(), Vec::new()));
        }
        if let Some((ids, rows)) = out.last_mut() {
            if start || new_tenant {
                ids.push(tenant_id(t));
            }
            rows.push(row);
        }
        last = Some(t);
    }
    out
}

async fn insert_window(
    db: &DatabaseConnection,
    statements: Vec<(Vec<Uuid>, Vec<incident_e::ActiveModel>)>,
    pb: &ProgressBar,
) -> anyhow::Result<()> {
    let txn = db.begin().await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        // A bulk load: losing the last moment of it in a crash is fine.
        txn.execute_unprepared("SET LOCAL synchronous_commit = off")
            .await?;
    }
    for (tenant_ids, rows) in statements {
        let n = rows.len() as u64;
        scope_to(&txn, &tenant_ids).await?;
        incident_e::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
        pb.inc(n);
    }
    txn.commit().await?;
    Ok(())
}

/// Advances each tenant's incident counter by its planned count; returns each tenant's first
/// number (the counter's value before, or 1001 for a tenant without incidents).
async fn reserve_numbers(
    owner: &DatabaseConnection,
    tenants: &[LoadTenant],
    counts: &[i64],
) -> anyhow::Result<Vec<i64>> {
    let backend = owner.get_database_backend();
    let index: HashMap<Uuid, usize> = tenants
        .iter()
        .enumerate()
        .map(|(i, t)| (t.tenant.id, i))
        .collect();
    let mut first = vec![FIRST_NUMBER; tenants.len()];
    let txn = owner.begin().await?;
    let todo: Vec<usize> = (0..tenants.len()).filter(|i| counts[*i] > 0).collect();
    for chunk in todo.chunks(TENANTS_PER_STATEMENT) {
        let ids: Vec<Uuid> = chunk.iter().map(|i| tenants[*i].tenant.id).collect();
        scope_to(&txn, &ids).await?;
        let mut sql = String::from("INSERT INTO incident_counters (tenant_id, next) VALUES ");
        let mut values: Vec<sea_orm::Value> = Vec::new();
        for (k, i) in chunk.iter().enumerate() {
            let (a, b) = match backend {
                DbBackend::Postgres => (format!("${}", 2 * k + 1), format!("${}", 2 * k + 2)),
                _ => ("?".to_string(), "?".to_string()),
            };
            sql.push_str(&format!("{}({a}, {b})", if k == 0 { "" } else { ", " }));
            values.push(tenants[*i].tenant.id.into());
            values.push((FIRST_NUMBER + counts[*i]).into());
        }
        sql.push_str(&format!(
            " ON CONFLICT (tenant_id) DO UPDATE SET next = incident_counters.next + \
             (excluded.next - {FIRST_NUMBER}) RETURNING tenant_id, next"
        ));
        let rows = txn
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        for row in rows {
            let id: Uuid = row.try_get("", "tenant_id")?;
            let next: i64 = row.try_get("", "next")?;
            if let Some(i) = index.get(&id) {
                first[*i] = next - counts[*i];
            }
        }
    }
    txn.commit().await?;
    Ok(first)
}

/// Chooses each incident's tenant (Zipf, exponent 1: `load-0001` largest) and creation time,
/// and numbers each tenant's incidents from 0 in creation order.
fn plan(rng: &mut Rng, tenants: usize, count: u64, now: DateTime<Utc>) -> Vec<Planned> {
    let mut cdf = Vec::with_capacity(tenants);
    let mut total = 0.0;
    for rank in 1..=tenants {
        total += 1.0 / rank as f64;
        cdf.push(total);
    }
    let end = now.timestamp_micros();
    let span = HISTORY_DAYS * 86_400 * 1_000_000;
    let mut plan: Vec<Planned> = (0..count)
        .map(|_| {
            let x = rng.f64() * total;
            let tenant = cdf.partition_point(|c| *c < x).min(tenants - 1) as u32;
            Planned {
                tenant,
                at: created_at(rng, end, span),
                number: 0,
            }
        })
        .collect();
    plan.sort_unstable_by_key(|p| (p.tenant, p.at));
    let mut last = u32::MAX;
    let mut n = 0;
    for p in plan.iter_mut() {
        if p.tenant != last {
            last = p.tenant;
            n = 0;
        }
        p.number = n;
        n += 1;
    }
    plan
}

/// A creation time in the last [`HISTORY_DAYS`], weighted towards weekdays and office hours.
fn created_at(rng: &mut Rng, end: i64, span: i64) -> i64 {
    loop {
        let at = end - (rng.f64() * span as f64) as i64;
        let Some(t) = Utc.timestamp_micros(at).single() else {
            continue;
        };
        let weekend = t.weekday().num_days_from_monday() >= 5;
        let hour_weight = match t.hour() {
            8..=17 => 1.0,
            6..=7 | 18..=20 => 0.45,
            _ => 0.12,
        };
        let weight = hour_weight * if weekend { 0.3 } else { 1.0 };
        if rng.f64() < weight {
            return at;
        }
    }
}

/// An incident class: category, subcategory and title templates (`{app}`, `{site}`, …).
struct Kind {
    category: &'static str,
    subcategory: &'static str,
    titles: &'static [&'static str],
    symptom: &'static str,
}

const KINDS: &[Kind] = &[
    Kind {
        category: "network",
        subcategory: "vpn",
        titles: &[
            "VPN disconnects every few minutes",
            "Cannot connect to the VPN from home",
            "VPN connected but {app} unreachable",
        ],
        symptom: "the VPN client drops the tunnel or connects without reaching internal services",
    },
    Kind {
        category: "network",
        subcategory: "wifi",
        titles: &[
            "Wi-Fi very slow on floor {floor} at {site}",
            "Guest Wi-Fi not working at {site}",
            "Laptop keeps losing Wi-Fi in meeting room {room}",
        ],
        symptom: "wireless clients lose their connection or get very low throughput",
    },
    Kind {
        category: "email",
        subcategory: "outlook",
        titles: &[
            "Outlook keeps asking for my password",
            "Emails stuck in the outbox",
            "Shared mailbox {team} not visible in Outlook",
            "Calendar invites from external partners not arriving",
        ],
        symptom: "mail does not send or receive, or the client keeps prompting for credentials",
    },
    Kind {
        category: "access",
        subcategory: "account",
        titles: &[
            "Account locked out after password change",
            "New starter in {team} needs access to {app}",
            "MFA prompt not arriving on my phone",
            "Cannot reset my password through self-service",
        ],
        symptom: "the user cannot sign in or lacks the permissions needed for their work",
    },
    Kind {
        category: "hardware",
        subcategory: "laptop",
        titles: &[
            "Laptop does not start after Windows update",
            "Laptop battery drains within an hour",
            "Docking station at desk {desk} not detecting monitors",
            "Keyboard on laptop {asset} has failed keys",
        ],
        symptom: "the device fails to boot, overheats or its peripherals stop working",
    },
    Kind {
        category: "hardware",
        subcategory: "printer",
        titles: &[
            "Printer {printer} shows paper jam but is empty",
            "Cannot print to {printer} from {app}",
            "Printer {printer} prints blank pages",
        ],
        symptom: "jobs are queued but nothing prints, or the output is unusable",
    },
    Kind {
        category: "software",
        subcategory: "application",
        titles: &[
            "{app} crashes when exporting a report",
            "{app} very slow since this morning",
            "Error 500 when saving a record in {app}",
            "{app} license expired for the {team} team",
        ],
        symptom: "the application fails, hangs or returns errors during normal use",
    },
    Kind {
        category: "software",
        subcategory: "install",
        titles: &[
            "Please install {app} on laptop {asset}",
            "{app} update fails with error 1603",
        ],
        symptom: "installation or update of the software does not complete",
    },
    Kind {
        category: "infrastructure",
        subcategory: "server",
        titles: &[
            "File share \\\\{site}-fs01 not reachable",
            "Disk almost full on server {site}-app02",
            "Nightly backup job failed on {site}-db01",
        ],
        symptom: "a server or a service it hosts is degraded or unavailable",
    },
    Kind {
        category: "telephony",
        subcategory: "softphone",
        titles: &[
            "Softphone has no audio on calls",
            "Call center queue for {team} not ringing",
        ],
        symptom: "calls connect without audio or do not reach the agents",
    },
    Kind {
        category: "security",
        subcategory: "phishing",
        titles: &[
            "Suspicious email asking to confirm payroll details",
            "Clicked a link in a phishing email",
        ],
        symptom: "a possible phishing attempt that needs checking and containment",
    },
];

const APPS: &[&str] = &[
    "SAP",
    "Salesforce",
    "Teams",
    "SharePoint",
    "Workday",
    "Jira",
    "Power BI",
    "Citrix",
    "the ERP",
    "the CRM",
    "the intranet",
    "Zoom",
    "Adobe Acrobat",
    "Excel",
];
const SITES: &[&str] = &[
    "ldn", "par", "fra", "nyc", "sfo", "sgp", "syd", "ams", "mad", "tor",
];
const TEAMS: &[&str] = &[
    "Finance",
    "HR",
    "Sales",
    "Marketing",
    "Legal",
    "Operations",
    "Procurement",
    "Support",
    "Engineering",
    "Facilities",
];
const CHANNELS: &[&str] = &[
    "Reported through the portal.",
    "Reported by phone to the service desk.",
    "Reported by email.",
    "Raised from a monitoring alert.",
    "Reported via chat.",
];
const SINCE: &[&str] = &[
    "since this morning",
    "since yesterday afternoon",
    "after the latest update",
    "intermittently for a few days",
    "since moving to a new desk",
    "since the weekend",
];
const RESOLUTIONS: &[(&str, &str)] = &[
    (
        "fixed",
        "Root cause identified and fixed; the user confirmed it works again.",
    ),
    (
        "workaround",
        "Workaround provided; a permanent fix is tracked separately.",
    ),
    (
        "configuration_change",
        "Corrected the configuration and verified with the user.",
    ),
    (
        "replaced_hardware",
        "Replaced the faulty part; the device works normally.",
    ),
    (
        "user_education",
        "Explained the correct procedure to the user; no fault found.",
    ),
    (
        "not_reproducible",
        "Could not reproduce the issue; closed after follow-up with the user.",
    ),
    (
        "duplicate",
        "Duplicate of an incident already being worked on.",
    ),
];

fn fill(template: &str, rng: &mut Rng) -> String {
    let mut s = template.to_string();
    for slot in [
        "{app}",
        "{site}",
        "{team}",
        "{floor}",
        "{room}",
        "{desk}",
        "{asset}",
        "{printer}",
    ] {
        if !s.contains(slot) {
            continue;
        }
        let value = match slot {
            "{app}" => rng.pick(APPS).to_string(),
            "{site}" => rng.pick(SITES).to_string(),
            "{team}" => rng.pick(TEAMS).to_string(),
            "{floor}" => (1 + rng.below(12)).to_string(),
            "{room}" => format!("{}.{:02}", 1 + rng.below(9), 1 + rng.below(30)),
            "{desk}" => format!("{}-{:03}", rng.pick(SITES), 1 + rng.below(400)),
            "{asset}" => format!("LT-{:05}", rng.below(100_000)),
            _ => format!("PRN-{}-{:02}", rng.pick(SITES), 1 + rng.below(40)),
        };
        s = s.replace(slot, &value);
    }
    s
}

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

fn state_str(s: State) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn hold_str(h: HoldReason) -> String {
    serde_json::to_value(h)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
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

fn incident_row(
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
    row.state = Set(state_str(state));
    row.hold_reason = Set(hold.map(hold_str));
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

/// A small, fast pseudo-random generator (SplitMix64): load data needs spread, not secrecy.
struct Rng(u64);

impl Rng {
    fn from_time() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Rng(nanos ^ ((std::process::id() as u64) << 32))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn f64(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_numbers_each_tenant_in_creation_order_and_skews_towards_the_first() {
        let mut rng = Rng(42);
        let now = Utc::now();
        let plan = plan(&mut rng, 50, 20_000, now);
        assert_eq!(plan.len(), 20_000);
        let mut by_tenant: HashMap<u32, Vec<(i64, i64)>> = HashMap::new();
        for p in &plan {
            by_tenant
                .entry(p.tenant)
                .or_default()
                .push((p.at, p.number));
            assert!(p.at <= now.timestamp_micros());
            assert!(p.at >= now.timestamp_micros() - HISTORY_DAYS * 86_400_000_000);
        }
        for rows in by_tenant.values_mut() {
            rows.sort();
            for (k, (_, n)) in rows.iter().enumerate() {
                assert_eq!(*n, k as i64);
            }
        }
        let first = by_tenant.get(&0).map(Vec::len).unwrap_or(0);
        let last = by_tenant.get(&49).map(Vec::len).unwrap_or(0);
        assert!(first > 10 * last, "first {first}, last {last}");
    }

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
            assert_eq!(hold.is_some(), state == "on_hold");
            assert_eq!(code.is_some(), state == "resolved" || state == "closed");
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

    #[test]
    fn statements_respect_row_and_tenant_limits() {
        let rows: Vec<(u32, incident_e::ActiveModel)> = (0..5_000u32)
            .map(|i| (i / 40, incident_e::ActiveModel::new()))
            .collect();
        let ids: Vec<Uuid> = (0..200).map(|_| Uuid::now_v7()).collect();
        let st = statements(rows, |t| ids[t as usize]);
        assert_eq!(st.iter().map(|(_, r)| r.len()).sum::<usize>(), 5_000);
        for (tenants, rows) in &st {
            assert!(rows.len() <= ROWS_PER_STATEMENT);
            assert!(tenants.len() <= TENANTS_PER_STATEMENT);
        }
    }
}
