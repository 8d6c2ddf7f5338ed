//! CMDB benchmarks on real PostgreSQL, in one run:
//!
//! 1. upstream impact at depth 3 (`GET /api/v1/cmdb/cis/{id}/impact`) on a graph of 100,000
//!    CIs and 500,000 edges (globex) and one of 1,000 and 5,000 (initech), side by side in
//!    alternating rounds, ordinary roots and the hubs apart; and the walk's recursive query
//!    run raw by `pgbench` (the same SQL, as the application role under row-level security);
//! 2. importing 100,000 CSV rows (`POST /api/v1/cmdb/imports`, until `completed`), then the
//!    same file again (all unchanged), vs `COPY` of the file into a table of its columns, and
//!    vs `COPY` of every row the import wrote (CIs, identities, history, events);
//! 3. `POST /api/v1/cmdb/cis` latency;
//! 4. how soon incident's projection matches an imported graph of 10,000 CIs and 30,000
//!    relationships.
//!
//! `cargo build --release -p itsm -p e2e && cargo run --release -p e2e --bin bench_cmdb`
//! (`BENCH_CMDB_PARTS=impact,import,create,projection` picks parts; all by default).
use std::{
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use sea_orm::{Database, DatabaseConnection};
use serde_json::Value;

const PASSWORD: &str = "bench-cmdb-password-1";
const CONCURRENCY: usize = 8;
const ROUND: Duration = Duration::from_secs(10);
const ROOTS: usize = 200;

use e2e::{exec, strings};

async fn one(db: &DatabaseConnection, sql: &str) -> anyhow::Result<String> {
    strings(db, sql)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no row: {sql}"))
}

/// `itsm seed --cmdb-cis` against the server's database.
fn seed(
    app_url: &str,
    owner_url: &str,
    tenant: &str,
    cis: usize,
    edges: usize,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let status = Command::new(e2e::itsm_bin())
        .args([
            "seed",
            "--cmdb-cis",
            &cis.to_string(),
            "--cmdb-edges",
            &edges.to_string(),
        ])
        .args(["--cmdb-tenant", tenant])
        .env_remove("ITSM_BIN")
        .env("ITSM_DATABASE_URL", app_url)
        .env("ITSM_MIGRATION_DATABASE_URL", owner_url)
        .env("ITSM_KEY_ENCRYPTION_KEY", testkit::KEY_ENCRYPTION_KEY)
        .env("ITSM_DEMO_PASSWORD", PASSWORD)
        .env("ITSM_LOG_FILTER", "warn")
        .status()?;
    anyhow::ensure!(status.success(), "itsm seed failed");
    eprintln!(
        "  {tenant}: {cis} CIs, {edges} edges ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `pgbench` running `script` with [`CONCURRENCY`] clients for `secs`: transactions per second.
fn pgbench(url: &str, script: &std::path::Path, secs: u64) -> anyhow::Result<f64> {
    e2e::pgbench(url, script, CONCURRENCY, secs)
}

/// The walk the service runs for upstream impact at `depth` with `max_nodes` 1,000 (one look
/// past the last level, an early stop; each step a lookup per direction), for the root in
/// `bench_roots` row `:r`.
fn walk_script(tenant: &str, depth: u32) -> String {
    let root = "(SELECT id FROM public.bench_roots WHERE tenant_id = '{tenant}' ORDER BY id OFFSET :r LIMIT 1)"
        .replace("{tenant}", tenant);
    let live = format!("r.tenant_id IN ('{tenant}')");
    let step = |ci: &str, back: bool| {
        let (a, b) = if back {
            ("source_id", "target_id")
        } else {
            ("target_id", "source_id")
        };
        format!(
            "CROSS JOIN LATERAL (\
               SELECT r.{b} AS other, r.id AS id, CAST(r.type AS TEXT) AS rel_type \
               FROM catalogue.cmdb_relationships r WHERE r.{a} = {ci} AND {live} \
               UNION ALL \
               SELECT r.{a}, r.id, CAST(r.type AS TEXT) \
               FROM catalogue.cmdb_relationships r \
               WHERE r.{b} = {ci} AND {live} AND r.type = 'connected_to') e"
        )
    };
    format!(
        "\\set r random(0, {last})\n\
         BEGIN;\n\
         SELECT set_config('app.tenant_ids', '{tenant}', true);\n\
         WITH RECURSIVE walk(ci, depth) AS ( \
           SELECT {root}, 0 \
           UNION \
           SELECT e.other, w.depth + 1 FROM walk w {out} WHERE w.depth < {depth} \
         ), \
         cut(ci, depth) AS (SELECT ci, depth FROM walk LIMIT {cap}), \
         best(ci, depth) AS (SELECT ci, MIN(depth) FROM cut GROUP BY ci) \
         SELECT b.ci, b.depth, e.id AS via, e.rel_type, e.other AS from_ci \
         FROM best b {back} WHERE b.depth > 0 \
         UNION ALL \
         SELECT e.other, b.depth + 1, e.id, e.rel_type, b.ci \
         FROM best b {past} WHERE b.depth = {depth};\n\
         COMMIT;\n",
        last = ROOTS - 1,
        out = step("w.ci", false),
        back = step("b.ci", true),
        past = step("b.ci", false),
        cap = (1_000 + 2) * (depth + 1),
    )
}

struct Graph {
    tenant: String,
    token: String,
    roots: Vec<String>,
    hubs: Vec<String>,
}

async fn graph(su: &DatabaseConnection, slug: &str, token: String) -> anyhow::Result<Graph> {
    let tenant = one(
        su,
        &format!("SELECT id::text AS v FROM catalogue.tenant_directory WHERE slug = '{slug}'"),
    )
    .await?;
    let of = |filter: &str, limit: usize| {
        format!(
            "SELECT id::text AS v FROM catalogue.cmdb_cis WHERE tenant_id = '{tenant}' AND name LIKE 'bench-%' \
             AND {filter} ORDER BY md5(id::text) LIMIT {limit}"
        )
    };
    let roots = strings(su, &of("right(name, 7)::int >= 10", ROOTS)).await?;
    let hubs = strings(su, &of("right(name, 7)::int < 10", 10)).await?;
    exec(
        su,
        "CREATE TABLE IF NOT EXISTS public.bench_roots (tenant_id uuid, id uuid)",
    )
    .await?;
    for r in &roots {
        exec(
            su,
            &format!("INSERT INTO public.bench_roots VALUES ('{tenant}', '{r}')"),
        )
        .await?;
    }
    Ok(Graph {
        tenant,
        token,
        roots,
        hubs,
    })
}

/// Impact requests for `roots` in turn, [`CONCURRENCY`] clients for [`ROUND`].
async fn impact_round(base: &str, token: &str, roots: &[String]) -> e2e::Run {
    let next = Arc::new(AtomicUsize::new(0));
    let (base, token, roots) = (base.to_string(), token.to_string(), roots.to_vec());
    e2e::load_with(CONCURRENCY, ROUND, move |client| {
        let i = next.fetch_add(1, Ordering::Relaxed) % roots.len();
        client
            .get(format!(
                "{base}/api/v1/cmdb/cis/{}/impact?depth=3",
                roots[i]
            ))
            .bearer_auth(&token)
    })
    .await
}

async fn wait_import(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
) -> anyhow::Result<Value> {
    loop {
        let i: Value = client
            .get(format!("{base}/api/v1/cmdb/imports/{id}"))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        if i["status"] == "completed" || i["status"] == "failed" {
            return Ok(i);
        }
        eprint!("\r  import {}/{} rows", i["rows_done"], i["rows_total"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Imports `file`; the import and the seconds from upload to its end.
async fn import(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    file: &str,
) -> anyhow::Result<(Value, f64)> {
    let started = Instant::now();
    let queued: Value = client
        .post(format!("{base}/api/v1/cmdb/imports?source=bench"))
        .bearer_auth(token)
        .body(file.to_string())
        .send()
        .await?
        .json()
        .await?;
    let id = queued["id"].as_str().unwrap_or_default().to_string();
    anyhow::ensure!(!id.is_empty(), "import not queued: {queued}");
    let done = wait_import(client, base, token, &id).await?;
    eprintln!();
    Ok((done, started.elapsed().as_secs_f64()))
}

/// Seconds `psql` takes to `COPY` `data` (CSV with a header) into `table`.
fn copy_in(url: &str, table: &str, data: &std::path::Path) -> anyhow::Result<f64> {
    let started = Instant::now();
    let status = Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", url, "-c"])
        .arg(format!(
            "\\copy {table} FROM '{}' WITH (FORMAT csv, HEADER true)",
            data.display()
        ))
        .status()?;
    anyhow::ensure!(status.success(), "COPY into {table} failed");
    Ok(started.elapsed().as_secs_f64())
}

/// Seconds to `COPY` every row the import wrote back into empty copies of their tables (same
/// indexes): what writing those rows costs PostgreSQL alone.
async fn copy_written(
    su: &DatabaseConnection,
    su_url: &str,
    tenant: &str,
    dir: &std::path::Path,
) -> anyhow::Result<f64> {
    let tables = [
        (
            "cmdb_cis",
            format!("tenant_id = '{tenant}' AND name LIKE 'imp-%'"),
        ),
        (
            "cmdb_ci_identities",
            format!(
                "tenant_id = '{tenant}' AND ci_id IN (SELECT id FROM catalogue.cmdb_cis WHERE name LIKE 'imp-%')"
            ),
        ),
        (
            "cmdb_ci_history",
            format!("tenant_id = '{tenant}' AND source = 'bench'"),
        ),
        (
            "outbox",
            format!("tenant_id = '{tenant}' AND routing_key = 'catalogue.ci.created'"),
        ),
    ];
    let mut seconds = 0.0;
    for (table, filter) in &tables {
        let file = dir.join(format!("{table}.csv"));
        let status = Command::new("psql")
            .args(["-q", "-v", "ON_ERROR_STOP=1", su_url, "-c"])
            .arg(format!("\\copy (SELECT * FROM catalogue.{table} WHERE {filter}) TO '{}' WITH (FORMAT csv, HEADER true)", file.display()))
            .status()?;
        anyhow::ensure!(status.success(), "COPY out of {table} failed");
        exec(su, &format!("DROP TABLE IF EXISTS public.copy_{table}; CREATE TABLE public.copy_{table} (LIKE catalogue.{table} INCLUDING ALL)")).await?;
        seconds += copy_in(su_url, &format!("public.copy_{table}"), &file)?;
    }
    Ok(seconds)
}

/// Part 1: upstream impact on the small and the large graph, the hubs, and the raw walk.
async fn impact(
    su: &DatabaseConnection,
    client: &reqwest::Client,
    base: &str,
    (app_url, owner_url): (&str, &str),
    (globex, initech): (&str, &str),
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    let (su, base) = (su.clone(), base.to_string());
    let (globex, initech) = (globex.to_string(), initech.to_string());
    seed(app_url, owner_url, "initech", 1_000, 5_000)?;

    seed(app_url, owner_url, "globex", 100_000, 500_000)?;
    for t in ["cmdb_cis", "cmdb_relationships", "cmdb_ci_identities"] {
        exec(&su, &format!("VACUUM ANALYZE catalogue.{t}")).await?;
    }
    let small = graph(&su, "initech", initech.clone()).await?;
    let large = graph(&su, "globex", globex.clone()).await?;
    exec(&su, "GRANT SELECT ON public.bench_roots TO PUBLIC").await?;
    for g in [&small, &large] {
        let _ = impact_round(&base, &g.token, &g.roots).await; // warm-up
    }
    let mut runs: Vec<(&str, Vec<e2e::Run>)> = vec![
        ("1,000 / 5,000", Vec::new()),
        ("100,000 / 500,000", Vec::new()),
    ];
    for _ in 0..2 {
        for (i, g) in [&small, &large].into_iter().enumerate() {
            runs[i]
                .1
                .push(impact_round(&base, &g.token, &g.roots).await);
        }
    }
    let hubs = impact_round(&base, &large.token, &large.hubs).await;
    let script = dir.join("walk.sql");
    std::fs::write(&script, walk_script(&large.tenant, 3))?;
    pgbench(app_url, &script, 2)?;
    let raw = pgbench(app_url, &script, 10)?;
    println!("### Upstream impact, depth 3 ({CONCURRENCY} clients, best of two 10 s rounds)\n");
    println!("| graph (CIs / edges) | per s | p50 ms | p95 ms | nodes (first root) |");
    println!("|---|---|---|---|---|");
    let mut p95s = Vec::new();
    let mut large_rps = 0.0;
    for ((name, rounds), g) in runs.iter().zip([&small, &large]) {
        let best = rounds
            .iter()
            .max_by(|a, b| a.rps().total_cmp(&b.rps()))
            .ok_or_else(|| anyhow::anyhow!("no round"))?;
        let first: Value = client
            .get(format!(
                "{base}/api/v1/cmdb/cis/{}/impact?depth=3",
                g.roots[0]
            ))
            .bearer_auth(&g.token)
            .send()
            .await?
            .json()
            .await?;
        println!(
            "| {name} | {:.0} | {:.1} | {:.1} | {} |",
            best.rps(),
            best.percentile_ms(50.0),
            best.percentile_ms(95.0),
            first["node_count"]
        );
        p95s.push(best.percentile_ms(95.0));
        large_rps = best.rps();
    }
    println!(
        "| 100,000 / 500,000, the 10 hubs | {:.0} | {:.1} | {:.1} | (max_nodes 1,000: truncated) |",
        hubs.rps(),
        hubs.percentile_ms(50.0),
        hubs.percentile_ms(95.0)
    );
    println!(
        "\np95 ratio large / small: **{:.2}** (goal ≤ 2); large p95 **{:.1} ms** (goal ≤ 50); \
         pgbench of the walk alone on the large graph: {raw:.0}/s, HTTP / pgbench **{:.2}** (goal ≥ 0.5)\n",
        p95s[1] / p95s[0],
        p95s[1],
        large_rps / raw
    );

    Ok(())
}

/// Whether the run includes `part` (`impact`, `import`, `create`, `projection`):
/// `BENCH_CMDB_PARTS` lists them, comma-separated; all by default.
fn wants(part: &str) -> bool {
    std::env::var("BENCH_CMDB_PARTS")
        .map_or(true, |parts| parts.split(',').any(|p| p.trim() == part))
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
    let globex = e2e::login(
        &client,
        &base,
        "configuration-manager@globex.demo.test",
        PASSWORD,
    )
    .await?;
    let initech = e2e::login(
        &client,
        &base,
        "configuration-manager@initech.demo.test",
        PASSWORD,
    )
    .await?;

    let dir = std::env::temp_dir().join(format!("bench-cmdb-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    if wants("impact") {
        impact(
            &su,
            &client,
            &base,
            (&app_url, &owner_url),
            (&globex, &initech),
            &dir,
        )
        .await?;
    }
    let globex_id = one(
        &su,
        "SELECT id::text AS v FROM catalogue.tenant_directory WHERE slug = 'globex'",
    )
    .await?;
    if wants("import") {
        // 2. Import 100,000 rows, again unchanged, vs COPY.
        let mut file = String::from("class,name,attr.serial_number,attr.hostname,attr.cpu_count\n");
        for n in 0..100_000 {
            file.push_str(&format!(
                "virtual,imp-{n:06},SN-IMP-{n:06},imp-{n:06}.globex.example,{}\n",
                1 + n % 16
            ));
        }
        let csv = dir.join("import.csv");
        std::fs::write(&csv, &file)?;
        let (first, first_s) = import(&client, &base, &globex, &file).await?;
        let (again, again_s) = import(&client, &base, &globex, &file).await?;
        exec(&su, "DROP TABLE IF EXISTS public.bench_import; CREATE TABLE public.bench_import (class text, name text, serial_number text, hostname text, cpu_count int)").await?;
        let copy_s = copy_in(su_url.as_str(), "public.bench_import", &csv)?;
        let written_s = copy_written(&su, su_url.as_str(), &globex_id, &dir).await?;
        println!("### Import 100,000 CSV rows vs COPY\n");
        println!("| run | seconds | rows/s | created / updated / unchanged / failed |");
        println!("|---|---|---|---|");
        let counts = |i: &Value| {
            format!(
                "{} / {} / {} / {}",
                i["created"], i["updated"], i["unchanged"], i["failed"]
            )
        };
        println!(
            "| import (new) | {first_s:.1} | {:.0} | {} |",
            100_000.0 / first_s,
            counts(&first)
        );
        println!(
            "| import again (unchanged) | {again_s:.1} | {:.0} | {} |",
            100_000.0 / again_s,
            counts(&again)
        );
        println!(
            "| COPY of the file into a table of its columns | {copy_s:.2} | {:.0} | |",
            100_000.0 / copy_s
        );
        println!(
            "| COPY of every row the import wrote (CIs, identities, history, events) | {written_s:.2} | {:.0} | |",
            100_000.0 / written_s
        );
        println!(
            "\nRatios (COPY time / import time): new **{:.3}** (goal ≥ 0.25), unchanged **{:.3}** (goal ≥ 0.5); \
         against COPY of the rows the import writes: {:.3}\n",
            copy_s / first_s,
            copy_s / again_s,
            written_s / first_s
        );
    }
    if wants("create") {
        // 3. CI create latency, on a settled bus: incident and change have taken every CI event
        // the imports published, so the figure is the create's, not the consumers' backlog's.
        // (The seeded graph is written in bulk, without events; the imported CIs are `imp-…`.)
        let count = |schema: &str| {
            format!(
                "SELECT count(*)::text AS v FROM {schema}.cmdb_cis \
             WHERE tenant_id = '{globex_id}' AND name LIKE 'imp-%'"
            )
        };
        let want = one(&su, &count("catalogue")).await?;
        let settling = Instant::now();
        loop {
            let (incident, change) = (
                one(&su, &count("incident")).await?,
                one(&su, &count("change")).await?,
            );
            if incident == want && change == want {
                break;
            }
            anyhow::ensure!(
                settling.elapsed() < Duration::from_secs(1800),
                "the projections never caught up"
            );
            eprintln!(
                "[bench] settling: incident {incident}, change {change} of {want} CIs ({:.0} s)",
                settling.elapsed().as_secs_f64()
            );
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
        println!(
            "Incident and change held all {want} imported CIs {:.0} s after the second import ended.\n",
            settling.elapsed().as_secs_f64()
        );
        let next = Arc::new(AtomicUsize::new(0));
        let (b, t) = (base.clone(), globex.clone());
        for clients in [1, CONCURRENCY] {
            let (b, t, next) = (b.clone(), t.clone(), next.clone());
            let run = e2e::load_with(clients, ROUND, move |client| {
            let n = next.fetch_add(1, Ordering::Relaxed);
            client
                .post(format!("{b}/api/v1/cmdb/cis"))
                .bearer_auth(&t)
                .json(&serde_json::json!({"class": "virtual", "name": format!("create-{n}"), "attributes": {"cpu_count": 2}}))
        })
        .await;
            println!(
                "CI create, {clients} client(s): {:.0}/s, p50 {:.1} ms, p95 **{:.1} ms** (goal ≤ 10), {} errors",
                run.rps(),
                run.percentile_ms(50.0),
                run.percentile_ms(95.0),
                run.errors
            );
        }
    }
    if wants("projection") {
        // 4. Incident's and change's projections of an imported graph (10,000 CIs, 30,000 relationships).
        let soylent = e2e::login(
            &client,
            &base,
            "configuration-manager@soylent.demo.test",
            PASSWORD,
        )
        .await?;
        let tenant = one(
            &su,
            "SELECT id::text AS v FROM catalogue.tenant_directory WHERE slug = 'soylent'",
        )
        .await?;
        let mut cis_file = String::from("class,name\n");
        for i in 0..10_000 {
            cis_file.push_str(&format!("application,proj-{i}\n"));
        }
        let (_, cis_s) = import(&client, &base, &soylent, &cis_file).await?;
        let mut rels = String::from("from,type,to\n");
        let mut seen = std::collections::HashSet::new();
        let mut x: u64 = 42;
        while seen.len() < 30_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (a, b) = ((x >> 33) % 10_000, (x >> 13) % 10_000);
            if a != b && seen.insert((a, b)) {
                rels.push_str(&format!(
                    "application:name=proj-{a},depends_on,application:name=proj-{b}\n"
                ));
            }
        }
        let (related, rels_s) = import(&client, &base, &soylent, &rels).await?;
        let digest = |schema: &str| {
            let (cis, own, live) = if schema == "catalogue" {
                ("id", "", "")
            } else {
                ("ci_id", "AND owner_id = tenant_id", "AND NOT deleted")
            };
            format!(
                "SELECT (SELECT count(*) || ':' || md5(coalesce(string_agg({cis}::text, ',' ORDER BY {cis}), '')) \
               FROM {schema}.cmdb_cis WHERE tenant_id = '{tenant}' {own}) || '/' || \
             (SELECT count(*) || ':' || md5(coalesce(string_agg(id::text, ',' ORDER BY id), '')) \
               FROM {schema}.cmdb_relationships WHERE tenant_id = '{tenant}' {live}) AS v"
            )
        };
        let expected = one(&su, &digest("catalogue")).await?;
        let started = Instant::now();
        let mut matched: Vec<(&str, f64)> = Vec::new();
        while matched.len() < 2 {
            for schema in ["incident", "change"] {
                if !matched.iter().any(|(s, _)| *s == schema)
                    && one(&su, &digest(schema)).await? == expected
                {
                    matched.push((schema, started.elapsed().as_secs_f64()));
                }
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(120),
                "projections not matched within 120 s: {matched:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        println!(
            "\n10,000 CIs imported in {cis_s:.1} s, 30,000 relationships in {rels_s:.1} s ({} created); \
             projections matched (count and MD5 of the ids) after the import ended (goal ≤ 5 s): {}",
            related["created"],
            matched
                .iter()
                .map(|(s, t)| format!("{s} **{t:.2} s**"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
