//! SLA scheduler benchmark on real PostgreSQL: one tick over 100,000 running clocks (1,000
//! tenants × 100), with 0, 1,000, 10,000 and all 100,000 of them due at once. A due clock gets
//! its threshold recorded, its next firing time moved and a warning (or breach) appended to the
//! outbox, all in the tick's transactions.
//!
//! `cargo build --release -p e2e && cargo run --release -p e2e --bin bench_sla`
use std::{sync::Arc, time::Instant};

use chrono::{DateTime, SubsecRound, Utc};
use incident::{
    domain::{
        calendar::CalendarSpec,
        sla::{Kind, Rules},
    },
    sla::{Sla, scheduler::Scheduler},
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use uuid::Uuid;

const TENANTS: usize = 1_000;
const PER_TENANT: usize = 100;
const TARGET: i64 = 8 * 3600;

use e2e::exec;

/// 100,000 running clocks on an around-the-clock calendar, pinned per tenant.
async fn fill(su: &DatabaseConnection, now: DateTime<Utc>) -> anyhow::Result<()> {
    let (digest, spec) = incident::store::sla::digest(&CalendarSpec::always());
    let rules = serde_json::to_string(&Rules::default_for(Kind::Resolution))?;
    let started = Instant::now();
    for t in 0..TENANTS {
        let tenant = Uuid::now_v7();
        su.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO incident.sla_calendar_snapshots (tenant_id, digest, spec) VALUES ($1, $2, $3)",
            [tenant.into(), digest.clone().into(), spec.clone().into()],
        ))
        .await?;
        su.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "INSERT INTO incident.sla_clocks (id, tenant_id, incident_id, definition_id, name, kind, \
                 target_seconds, calendar_digest, rules, status, elapsed_seconds, since, reached, due_at, \
                 next_fire_at, version, created_at, updated_at) \
                 SELECT gen_random_uuid(), $1, gen_random_uuid(), gen_random_uuid(), 'Resolution', 'resolution', \
                 {TARGET}, $2, $3, 'running', 0, $4, 0, $4 + interval '{TARGET} seconds', \
                 $4 + interval '{} seconds', 1, $4, $4 FROM generate_series(1, {PER_TENANT})",
                TARGET / 2
            ),
            [
                tenant.into(),
                digest.clone().into(),
                rules.clone().into(),
                now.into(),
            ],
        ))
        .await?;
        if (t + 1) % 100 == 0 {
            eprintln!(
                "  {} / {} clocks inserted ({:.1} s)",
                (t + 1) * PER_TENANT,
                TENANTS * PER_TENANT,
                started.elapsed().as_secs_f64()
            );
        }
    }
    exec(su, "VACUUM ANALYZE incident.sla_clocks").await
}

/// Makes `due` clocks (spread over all tenants) pass 50 % at `now`, the rest far from it.
async fn arrange(su: &DatabaseConnection, now: DateTime<Utc>, due: usize) -> anyhow::Result<()> {
    let every = (TENANTS * PER_TENANT)
        .checked_div(due)
        .unwrap_or(usize::MAX);
    su.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!(
            "WITH numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM incident.sla_clocks) \
             UPDATE incident.sla_clocks c SET reached = 0, elapsed_seconds = 0, \
             since = CASE WHEN {due} > 0 AND numbered.n % {every} = 0 THEN $1 - interval '{}' second ELSE $1 END, \
             next_fire_at = CASE WHEN {due} > 0 AND numbered.n % {every} = 0 THEN $1 - interval '1 second' \
                            ELSE $1 + interval '{}' second END \
             FROM numbered WHERE numbered.id = c.id",
            TARGET / 2 + 1,
            TARGET / 2
        ),
        [now.into()],
    ))
    .await?;
    exec(su, "DELETE FROM incident.sla_clock_events").await?;
    exec(su, "DELETE FROM incident.outbox").await?;
    exec(su, "VACUUM ANALYZE incident.sla_clocks").await?;
    exec(su, "VACUUM ANALYZE incident.outbox").await
}

async fn count(su: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    let row = su
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    Ok(row.try_get::<i64>("", "n")?)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let app = testkit::TestApp::builder()
        .without_workers()
        .spawn()
        .await
        .ok_or_else(|| anyhow::anyhow!("PostgreSQL is required"))?;
    let su = app.superuser().await;
    let now = Utc::now().trunc_subsecs(0);
    eprintln!("inserting {} running clocks…", TENANTS * PER_TENANT);
    fill(&su, now).await?;
    let target = platform::db::Target::from_settings(&app.settings, "incident")?;
    let db = platform::db::connect_app(&target, "incident", 10).await?;
    let scheduler = Scheduler::new(db.clone(), Arc::new(Sla::new(db.clone())));
    println!(
        "| running clocks | due in the tick | tick (ms) | thresholds recorded | outbox rows |"
    );
    println!("|---|---|---|---|---|");
    for due in [0, 1_000, 10_000, 100_000] {
        for round in 0..2 {
            arrange(&su, now, due).await?;
            let started = Instant::now();
            let tick = scheduler.tick(now).await?;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let outbox = count(&su, "SELECT count(*) AS n FROM incident.outbox").await?;
            anyhow::ensure!(
                tick.thresholds == due,
                "expected {due} thresholds, got {tick:?}"
            );
            eprintln!("  due {due} round {round}: {ms:.1} ms");
            if round == 1 {
                println!(
                    "| {} | {due} | {ms:.1} | {} | {outbox} |",
                    TENANTS * PER_TENANT,
                    tick.thresholds
                );
            }
        }
    }
    Ok(())
}
