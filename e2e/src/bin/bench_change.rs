//! Change benchmarks on real PostgreSQL, in one run:
//!
//! 1. `POST /api/v1/changes/conflict-check` for 50 CIs and a two-hour window, in a tenant with
//!    10,000 changes on 50,000 CIs (100,000 relationships) and in one with 100 changes on 500
//!    CIs (1,000 relationships), side by side in alternating rounds: the p95 ratio;
//! 2. creating a standard change and scheduling it over HTTP (two requests, conflicts checked
//!    on scheduling) against `pgbench` of the minimal pair of transactions that records the
//!    same (a change, its CI and an event; then its move and an event), as the application
//!    role under row-level security.
//!
//! The graphs and changes are written straight into change's tables (its projection of the
//! CMDB and its own), as a year of work would leave them.
//!
//! `cargo build --release -p itsm -p e2e && cargo run --release -p e2e --bin bench_change`
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use sea_orm::{Database, DatabaseConnection};

const PASSWORD: &str = "bench-change-password-1";
const CONCURRENCY: usize = 8;
const ROUND: Duration = Duration::from_secs(10);
const CHECK_CIS: usize = 50;

use e2e::{exec, strings};

async fn tenant_id(su: &DatabaseConnection, slug: &str) -> anyhow::Result<String> {
    strings(
        su,
        &format!("SELECT id::text AS v FROM change.tenant_directory WHERE slug = '{slug}'"),
    )
    .await?
    .into_iter()
    .next()
    .ok_or_else(|| anyhow::anyhow!("change does not know {slug} yet"))
}

/// Writes `cis` CIs, `edges` relationships between them and `changes` scheduled changes of
/// five CIs each, windows of two hours spread over 2027, into `tenant`'s rows; returns a
/// sample of the CI ids.
async fn fill(
    su: &DatabaseConnection,
    tenant: &str,
    cis: usize,
    edges: usize,
    changes: usize,
) -> anyhow::Result<Vec<String>> {
    let started = Instant::now();
    exec(su, &format!(
        "INSERT INTO change.cmdb_cis (ci_id, tenant_id, owner_id, name, class_path, status, grantees, version) \
         SELECT gen_random_uuid(), '{tenant}', '{tenant}', 'bench-' || g, 'application', 'operational', '[]', 1 \
         FROM generate_series(1, {cis}) g"
    )).await?;
    exec(su, &format!(
        "CREATE TEMP TABLE bench_ids AS SELECT row_number() OVER () AS n, ci_id FROM change.cmdb_cis WHERE tenant_id = '{tenant}' AND name LIKE 'bench-%'; \
         INSERT INTO change.cmdb_relationships (id, tenant_id, source_id, type, target_id, deleted, version) \
         SELECT gen_random_uuid(), '{tenant}', a.ci_id, 'depends_on', b.ci_id, false, 1 \
         FROM generate_series(1, {edges}) g \
         JOIN bench_ids a ON a.n = 1 + (g::bigint * 7919) % {cis} \
         JOIN bench_ids b ON b.n = 1 + (g::bigint * 104729 + g / {cis}) % {cis} WHERE a.ci_id <> b.ci_id; \
         INSERT INTO change.changes (id, tenant_id, number, type, state, title, description, planned_start, planned_end, \
           implementation_plan, backout_plan, test_plan, assignee_id, requested_by, risk, approval_round, rejection_reason, \
           close_code, reschedules, version, created_at, updated_at) \
         SELECT gen_random_uuid(), '{tenant}', 'BCH' || lpad(g::text, 7, '0'), 'normal', 'scheduled', 'Bench ' || g, '', \
           t, t + interval '2 hours', 'p', 'b', 't', NULL, gen_random_uuid(), 'moderate', 1, NULL, NULL, 0, 1, now(), now() \
         FROM (SELECT g, timestamptz '2027-01-01' + (g * 7877 % 8760) * interval '1 hour' AS t FROM generate_series(1, {changes}) g) s; \
         INSERT INTO change.change_cis (change_id, ci_id, tenant_id) \
         SELECT DISTINCT c.id, b.ci_id, '{tenant}'::uuid FROM \
           (SELECT id, row_number() OVER (ORDER BY id) AS n FROM change.changes WHERE tenant_id = '{tenant}' AND number LIKE 'BCH%') c \
           CROSS JOIN generate_series(0, 4) k JOIN bench_ids b ON b.n = 1 + (c.n * 31 + k * 9973) % {cis}; \
         DROP TABLE bench_ids; ANALYZE change.cmdb_cis, change.cmdb_relationships, change.changes, change.change_cis;"
    )).await?;
    eprintln!(
        "  {tenant}: {cis} CIs, {edges} edges, {changes} changes ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    strings(
        su,
        &format!(
            "SELECT ci_id::text AS v FROM change.cmdb_cis WHERE tenant_id = '{tenant}' \
             AND name LIKE 'bench-%' ORDER BY md5(ci_id::text) LIMIT 2000"
        ),
    )
    .await
}

/// Conflict checks for [`CHECK_CIS`] of `cis` and a two-hour window in 2027, from
/// [`CONCURRENCY`] clients for one round.
async fn check_round(base: &str, token: &str, cis: Arc<Vec<String>>) -> e2e::Run {
    let next = Arc::new(AtomicUsize::new(0));
    let (base, token) = (base.to_string(), token.to_string());
    e2e::load_with(CONCURRENCY, ROUND, move |client| {
        let n = next.fetch_add(1, Ordering::Relaxed);
        let picked: Vec<&String> = (0..CHECK_CIS)
            .map(|k| &cis[(n * 61 + k * 37) % cis.len()])
            .collect();
        let hour = (n * 7919) % 8_700;
        let start = chrono::DateTime::parse_from_rfc3339("2027-01-01T00:00:00Z")
            .map(|t| t + chrono::Duration::hours(hour as i64))
            .unwrap_or_default();
        client
            .post(format!("{base}/api/v1/changes/conflict-check"))
            .bearer_auth(&token)
            .json(&serde_json::json!({
                "affected_ci_ids": picked,
                "planned_start": start.to_rfc3339(),
                "planned_end": (start + chrono::Duration::hours(2)).to_rfc3339(),
            }))
    })
    .await
}

/// Creates and schedules standard changes from [`CONCURRENCY`] clients for one round: pairs
/// per second, and the latency of each request.
async fn create_and_schedule(base: &str, token: &str, cis: Arc<Vec<String>>) -> (f64, e2e::Run) {
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, next, cis) = (client.clone(), next.clone(), cis.clone());
        let (base, token) = (base.to_string(), token.to_string());
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut errors, mut pairs) = (Vec::new(), 0usize, 0usize);
            while started.elapsed() < ROUND {
                let n = next.fetch_add(1, Ordering::Relaxed);
                // Far apart in 2028, so no two of them conflict.
                let start = chrono::DateTime::parse_from_rfc3339("2028-01-01T00:00:00Z")
                    .map(|t| t + chrono::Duration::hours(n as i64 * 3))
                    .unwrap_or_default();
                let body = serde_json::json!({
                    "type": "standard", "title": format!("Restart {n}"),
                    "affected_ci_ids": [cis[n % cis.len()]],
                    "planned_start": start.to_rfc3339(),
                    "planned_end": (start + chrono::Duration::hours(1)).to_rfc3339(),
                    "implementation_plan": "Restart.", "backout_plan": "None.", "test_plan": "Ping.",
                });
                let t = Instant::now();
                let created = client
                    .post(format!("{base}/api/v1/changes"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await;
                let id = match created {
                    Ok(r) if r.status().as_u16() == 201 => {
                        let v: serde_json::Value = r.json().await.unwrap_or_default();
                        lat.push(t.elapsed().as_micros() as u64);
                        v["id"].as_str().unwrap_or_default().to_string()
                    }
                    _ => {
                        errors += 1;
                        continue;
                    }
                };
                let t = Instant::now();
                let scheduled = client
                    .post(format!("{base}/api/v1/changes/{id}/transitions"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"to": "scheduled"}))
                    .send()
                    .await;
                match scheduled {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        lat.push(t.elapsed().as_micros() as u64);
                        pairs += 1;
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors, pairs)
        }));
    }
    let mut run = e2e::Run {
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
    };
    let mut pairs = 0;
    for t in tasks {
        if let Ok((lat, errors, p)) = t.await {
            run.requests += lat.len();
            run.errors += errors;
            run.latencies_us.extend(lat);
            pairs += p;
        }
    }
    run.elapsed = started.elapsed();
    (pairs as f64 / run.elapsed.as_secs_f64(), run)
}

/// The minimal pair of transactions a create and a schedule record, for `pgbench`.
fn pair_script(tenant: &str, ci: &str) -> String {
    format!(
        "BEGIN;\n\
         SELECT set_config('app.tenant_ids', '{tenant}', true);\n\
         INSERT INTO change.changes (id, tenant_id, number, type, state, title, description, planned_start, planned_end, \
           implementation_plan, backout_plan, test_plan, assignee_id, requested_by, risk, approval_round, rejection_reason, \
           close_code, reschedules, version, created_at, updated_at) \
         VALUES (gen_random_uuid(), '{tenant}', 'PGB', 'standard', 'new', 'Restart', '', now(), now() + interval '1 hour', \
           'Restart.', 'None.', 'Ping.', NULL, gen_random_uuid(), 'low', 1, NULL, NULL, 0, 1, now(), now()) RETURNING id \\gset\n\
         INSERT INTO change.change_cis (change_id, ci_id, tenant_id) VALUES (':id', '{ci}', '{tenant}');\n\
         INSERT INTO change.outbox (id, tenant_id, routing_key, envelope, created_at, sent_at) \
           VALUES (gen_random_uuid(), '{tenant}', 'change.change.created', repeat('x', 600), now(), now());\n\
         COMMIT;\n\
         BEGIN;\n\
         SELECT set_config('app.tenant_ids', '{tenant}', true);\n\
         UPDATE change.changes SET state = 'scheduled', version = version + 1, updated_at = now() WHERE id = ':id';\n\
         INSERT INTO change.outbox (id, tenant_id, routing_key, envelope, created_at, sent_at) \
           VALUES (gen_random_uuid(), '{tenant}', 'change.change.state_changed', repeat('x', 400), now(), now());\n\
         COMMIT;\n"
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let admin = testkit::postgres_admin()
        .await
        .ok_or_else(|| anyhow::anyhow!("PostgreSQL is required"))?;
    let (db_name, app_url, owner_url) = testkit::fresh_database(&admin).await;
    let itsm = e2e::start_on(&app_url, &owner_url, PASSWORD, 1, true).await?;
    let mut su_url = reqwest::Url::parse(&testkit::admin_url())?;
    su_url.set_path(&format!("/{db_name}"));
    let su = Database::connect(su_url.as_str()).await?;
    let client = reqwest::Client::new();
    let base = itsm.base.clone();
    let large = e2e::login(&client, &base, "change-manager@globex.demo.test", PASSWORD).await?;
    let small = e2e::login(&client, &base, "change-manager@initech.demo.test", PASSWORD).await?;
    let (globex, initech) = (
        tenant_id(&su, "globex").await?,
        tenant_id(&su, "initech").await?,
    );
    eprintln!("filling change's tables");
    let large_cis = Arc::new(fill(&su, &globex, 50_000, 100_000, 10_000).await?);
    let small_cis = Arc::new(fill(&su, &initech, 500, 1_000, 100).await?);

    // 1. Conflict checks, large and small side by side.
    let (mut best_large, mut best_small): (Option<e2e::Run>, Option<e2e::Run>) = (None, None);
    for round in 0..2 {
        eprintln!("conflict checks, round {}", round + 1);
        let l = check_round(&base, &large, large_cis.clone()).await;
        let s = check_round(&base, &small, small_cis.clone()).await;
        let better = |best: &Option<e2e::Run>, run: &e2e::Run| {
            best.as_ref()
                .is_none_or(|b| run.percentile_ms(95.0) < b.percentile_ms(95.0))
        };
        if better(&best_large, &l) {
            best_large = Some(l);
        }
        if better(&best_small, &s) {
            best_small = Some(s);
        }
    }
    let (l, s) = (
        best_large.ok_or_else(|| anyhow::anyhow!("no round"))?,
        best_small.ok_or_else(|| anyhow::anyhow!("no round"))?,
    );
    println!(
        "### Conflict check, 50 CIs, two-hour window ({CONCURRENCY} clients, best of two 10 s rounds)\n"
    );
    println!("| tenant | per s | p50 ms | p95 ms | errors |");
    println!("|---|---|---|---|---|");
    for (name, r) in [
        ("10,000 changes on 50,000 CIs", &l),
        ("100 changes on 500 CIs", &s),
    ] {
        println!(
            "| {name} | {:.0} | {:.1} | {:.1} | {} |",
            r.rps(),
            r.percentile_ms(50.0),
            r.percentile_ms(95.0),
            r.errors
        );
    }
    println!(
        "\np95 ratio large / small: **{:.2}** (goal ≤ 2); large p95 **{:.1} ms** (goal ≤ 100)\n",
        l.percentile_ms(95.0) / s.percentile_ms(95.0),
        l.percentile_ms(95.0)
    );

    // 2. Create and schedule vs pgbench of the minimal pair.
    eprintln!("create and schedule");
    let (pairs, run) = create_and_schedule(&base, &small, small_cis.clone()).await;
    let dir = std::env::temp_dir().join(format!("bench-change-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("pair.sql");
    std::fs::write(&script, pair_script(&initech, &small_cis[0]))?;
    e2e::pgbench(&app_url, &script, CONCURRENCY, 2)?;
    let raw = e2e::pgbench(&app_url, &script, CONCURRENCY, 10)?;
    println!("### Create and schedule a standard change over HTTP ({CONCURRENCY} clients, 10 s)\n");
    println!(
        "{pairs:.0} pairs/s (p50 {:.1} ms, p95 **{:.1} ms** per request, goal ≤ 20; {} errors); \
         pgbench of the minimal pair of transactions: {raw:.0}/s; HTTP / pgbench **{:.2}** (goal ≥ 0.2)\n",
        run.percentile_ms(50.0),
        run.percentile_ms(95.0),
        run.errors,
        pairs / raw
    );
    let _ = std::fs::remove_dir_all(&dir);
    drop(itsm);
    Ok(())
}
