//! Analytics benchmark on real PostgreSQL: the figures of 1,000 tenants built from 1,000,000
//! events by `rebuild` against a raw `SELECT … ORDER BY seq` of the same rows, and the summary's
//! queries (one tenant's 30 days; the rollup of all) at 10,000 and at 1,000,000 events, and
//! a chart (one tenant's 30-day MTTR trend: the per-day query, the figures, the SVG).
//!
//! Each tenant gets 250 incidents spread over the last 90 days, each with four events
//! (created, acknowledged, resolved, closed), written straight into the event store.
//!
//! `cargo build --release -p e2e && cargo run --release -p e2e --bin bench_analytics`
//! (`BENCH_TENANTS=10,100` for other scales; the default is `10,1000`).
use std::{process::Command, time::Instant};

use analytics::{
    domain::{charts, summary::Figures},
    store::figures as tables,
};
use chrono::{Days, Utc};
use e2e::exec;
use platform::tenancy::{TenantId, begin_scoped};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

const PER_TENANT: usize = 250;
/// Summary queries timed per scale.
const SAMPLES: usize = 200;

/// Adds `tenants` customers under the root to analytics' directory and their incidents'
/// events to its store; returns their ids.
async fn fill(su: &DatabaseConnection, root: Uuid, tenants: usize) -> anyhow::Result<Vec<Uuid>> {
    let started = Instant::now();
    let mut ids = Vec::with_capacity(tenants);
    for chunk in 0..tenants.div_ceil(100) {
        let n = (tenants - chunk * 100).min(100);
        let batch: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
        let list = batch
            .iter()
            .map(|t| format!("'{t}'::uuid"))
            .collect::<Vec<_>>()
            .join(",");
        exec(
            su,
            &format!(
                "INSERT INTO analytics.tenant_directory (id, parent_id, path, kind, slug, status, settings, version) \
                 SELECT t, '{root}', '{root}/' || t, 'customer', 'bench-' || t, 'active', '{{}}', 1 \
                 FROM unnest(ARRAY[{list}]) AS t ON CONFLICT DO NOTHING"
            ),
        )
        .await?;
        // Per incident k of tenant t: its id from (t, k); created 90 days ago plus k × 8.6 h,
        // acknowledged 10 min later, resolved after 1–50 h, closed 3 days after that.
        exec(
            su,
            &format!(
                "INSERT INTO analytics.analytics_events \
                 (id, tenant_id, event_type, source, subject, aggregate_version, time, applied_at, data) \
                 SELECT gen_random_uuid(), t, e.type, 'itsm/incident', i::text, e.v, e.at, e.at, e.data::json \
                 FROM unnest(ARRAY[{list}]) AS t, generate_series(1, {PER_TENANT}) AS k, \
                 LATERAL (SELECT md5(t::text || ':' || k)::uuid AS i, \
                   now() - interval '90 days' + k * interval '516 minutes' AS c) AS inc, \
                 LATERAL (VALUES \
                   ('itsm.incident.incident.created.v1', 1, c, json_build_object('incident_id', i, 'number', 'INC' || k, 'title', 'Bench', 'caller_id', NULL, 'impact', 2, 'urgency', 2, 'priority', 3, 'state', 'new')::text), \
                   ('itsm.incident.incident.state_changed.v1', 2, c + interval '10 minutes', json_build_object('incident_id', i, 'from', 'new', 'to', 'in_progress', 'hold_reason', NULL, 'resolution_code', NULL)::text), \
                   ('itsm.incident.incident.state_changed.v1', 3, c + (1 + k % 50) * interval '1 hour', json_build_object('incident_id', i, 'from', 'in_progress', 'to', 'resolved', 'hold_reason', NULL, 'resolution_code', 'fixed')::text), \
                   ('itsm.incident.incident.state_changed.v1', 4, c + (73 + k % 50) * interval '1 hour', json_build_object('incident_id', i, 'from', 'resolved', 'to', 'closed', 'hold_reason', NULL, 'resolution_code', NULL)::text) \
                 ) AS e(type, v, at, data) \
                 WHERE e.at < now() ORDER BY e.at"
            ),
        )
        .await?;
        ids.extend(batch);
        eprintln!(
            "  {} / {tenants} tenants' events written ({:.1} s)",
            ids.len(),
            started.elapsed().as_secs_f64()
        );
    }
    exec(su, "ANALYZE analytics.analytics_events").await?;
    Ok(ids)
}

async fn count(su: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    Ok(e2e::strings(su, &format!("SELECT ({sql})::text AS v"))
        .await?
        .first()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// Milliseconds psql takes to run `sql` and read its output to the end.
fn psql_ms(url: &str, sql: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    let out = Command::new("psql")
        .args([url, "-qAt", "-c", sql])
        .stdout(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(out.success(), "psql failed");
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

/// Milliseconds of a raw `SELECT` of every stored event in `seq` order, read to the end by psql.
fn raw_select_ms(url: &str) -> anyhow::Result<f64> {
    psql_ms(url, "SELECT * FROM analytics.analytics_events ORDER BY seq")
}

/// Milliseconds of writing the rebuilt figures once more, as the database alone would: psql
/// copying the live figure tables into the empty shadow ones in one transaction, rolled back.
/// A rebuild writes them twice (the shadow rows, then the swap), after reading the events.
fn copy_ms(url: &str) -> anyhow::Result<f64> {
    let copies: Vec<String> = tables::LIVE
        .all()
        .into_iter()
        .zip(tables::SHADOW.all())
        .map(|(live, shadow)| {
            format!("INSERT INTO analytics.{shadow} SELECT * FROM analytics.{live};")
        })
        .collect();
    psql_ms(url, &format!("BEGIN; {} ROLLBACK;", copies.join(" ")))
}

fn p95(mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    ms[((ms.len() as f64 * 0.95).ceil() as usize).clamp(1, ms.len()) - 1]
}

/// p95 of one tenant's 30-day totals (the summary's query), and of the rollup of all `tenants`.
async fn summary_ms(db: &DatabaseConnection, tenants: &[Uuid]) -> anyhow::Result<(f64, f64)> {
    let to = Utc::now().date_naive();
    let from = to - Days::new(29);
    let mut one = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let t = [TenantId(tenants[(i * 7919) % tenants.len()])];
        let started = Instant::now();
        let txn = begin_scoped(db, &t).await?;
        let totals: std::collections::BTreeMap<Uuid, _> =
            tables::totals(&txn, &t, from, to).await?;
        txn.commit().await?;
        one.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(!totals.is_empty(), "a tenant without figures");
    }
    let all: Vec<TenantId> = tenants.iter().map(|t| TenantId(*t)).collect();
    let mut rollup = Vec::with_capacity(20);
    for _ in 0..20 {
        let started = Instant::now();
        let txn = begin_scoped(db, &all).await?;
        let totals: std::collections::BTreeMap<Uuid, _> =
            tables::totals(&txn, &all, from, to).await?;
        txn.commit().await?;
        rollup.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(totals.len() == tenants.len(), "rollup missed tenants");
    }
    Ok((p95(one), p95(rollup)))
}

/// p95 of one tenant's `mttr_trend` chart: its per-day totals, figures and SVG, as the route
/// makes them.
async fn chart_ms(db: &DatabaseConnection, tenants: &[Uuid]) -> anyhow::Result<f64> {
    let to = Utc::now().date_naive();
    let from = to - Days::new(29);
    let mut ms = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let t = [TenantId(tenants[(i * 7919) % tenants.len()])];
        let started = Instant::now();
        let txn = begin_scoped(db, &t).await?;
        let per_day: std::collections::BTreeMap<chrono::NaiveDate, _> =
            tables::totals(&txn, &t, from, to).await?;
        txn.commit().await?;
        let days: Vec<_> = from
            .iter_days()
            .take_while(|d| *d <= to)
            .map(|d| {
                (
                    d,
                    Figures::of(&per_day.get(&d).cloned().unwrap_or_default()),
                )
            })
            .collect();
        let svg = charts::mttr_trend(&days).svg()?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(svg.contains("<title"), "a chart without its title");
    }
    Ok(p95(ms))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let app = testkit::TestApp::builder()
        .without_workers()
        .spawn()
        .await
        .ok_or_else(|| anyhow::anyhow!("PostgreSQL is required"))?;
    let su = app.superuser().await;
    let root = identity::seed::root_id();
    let target = platform::db::Target::from_settings(&app.settings, analytics::SCHEMA)?;
    let db = platform::db::connect_app(&target, analytics::SCHEMA, 10).await?;
    let mut url = reqwest::Url::parse(&app.admin_url)?;
    url.set_path(&format!("/{}", app.db_name));
    let url = url.to_string();

    println!(
        "| events | tenants | rebuild (s) | events/s | raw SELECT (s) | SELECT / rebuild | copy of the figures (s) | summary p95, one tenant (ms) | rollup p95 (ms) | chart p95 (ms) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut tenants = Vec::new();
    let scales: Vec<usize> = std::env::var("BENCH_TENANTS")
        .unwrap_or_else(|_| "10,1000".into())
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    for scale in scales {
        eprintln!("writing the events of {} tenants…", scale - tenants.len());
        tenants.extend(fill(&su, root, scale - tenants.len()).await?);
        let events = count(&su, "SELECT count(*) FROM analytics.analytics_events").await?;
        let select_ms = raw_select_ms(&url)?;
        let report = analytics::rebuild::rebuild(&db, root, false, &mut |done, total| {
            if done % 100_000 < 5_000 {
                eprintln!("  replayed {done} / {total}");
            }
        })
        .await?;
        anyhow::ensure!(
            report.errors.is_empty(),
            "{:?}",
            &report.errors[..3.min(report.errors.len())]
        );
        let copied_ms = copy_ms(&url)?;
        let (one, rollup) = summary_ms(&db, &tenants).await?;
        let chart = chart_ms(&db, &tenants).await?;
        println!(
            "| {events} | {} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} | {one:.2} | {rollup:.1} | {chart:.2} |",
            tenants.len(),
            report.seconds,
            report.events as f64 / report.seconds,
            select_ms / 1000.0,
            select_ms / 1000.0 / report.seconds,
            copied_ms / 1000.0,
        );
    }
    Ok(())
}
