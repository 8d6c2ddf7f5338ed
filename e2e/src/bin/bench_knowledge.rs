//! Knowledge suggestions on real PostgreSQL: `POST /api/v1/knowledge/suggestions` for a
//! requester of a customer whose provider shares 50,000 published articles and who has 50,000
//! of its own (100,000 in reach), with requester-style texts (stop words, words no article
//! has, common and rare words mixed). The articles' words follow a skewed (Zipf-like)
//! distribution over a 3,000-word vocabulary, so common words match most articles.
//!
//! Reference: the same search (`catalogue::store::articles::search`, the one query the
//! endpoint runs) from as many tasks straight over the app role's pool, without HTTP, auth or
//! the session row: what PostgreSQL's full-text index allows on this machine.
//!
//! `cargo build --release -p itsm -p e2e && cargo run --release -p e2e --bin bench_knowledge`
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::json;

const PASSWORD: &str = "bench-knowledge-password-1";
const PER_TENANT: usize = 50_000;
const BATCH: usize = 5_000;
const CONCURRENCY: usize = 4;
const ROUND: Duration = Duration::from_secs(10);
const ROUNDS: usize = 3;

/// IT words first (the most common ones), then made-up words from syllables.
fn vocabulary() -> Vec<String> {
    let it = [
        "password",
        "vpn",
        "laptop",
        "email",
        "printer",
        "network",
        "login",
        "account",
        "reset",
        "install",
        "update",
        "error",
        "screen",
        "keyboard",
        "mailbox",
        "calendar",
        "teams",
        "wifi",
        "certificate",
        "license",
        "outlook",
        "browser",
        "disk",
        "backup",
        "restore",
        "monitor",
        "docking",
        "station",
        "battery",
        "sleep",
        "disconnect",
        "connect",
        "slow",
        "freeze",
        "crash",
        "access",
        "permission",
        "share",
        "folder",
        "drive",
        "sync",
        "phone",
        "mobile",
        "token",
        "expired",
        "locked",
        "unlock",
        "proxy",
        "firewall",
        "server",
    ];
    let syllables = [
        "ka", "lo", "mi", "ter", "van", "sol", "rin", "du", "pe", "bra", "zu", "ni", "qua", "mo",
        "tes", "fal", "gor", "hi", "jen", "kly",
    ];
    let mut words: Vec<String> = it.iter().map(|w| w.to_string()).collect();
    'outer: for a in syllables {
        for b in syllables {
            for c in ["", "x", "nd", "st", "ra", "el", "on", "ik"] {
                words.push(format!("{a}{b}{c}"));
                if words.len() >= 3_000 {
                    break 'outer;
                }
            }
        }
    }
    words
}

/// A small deterministic generator (xorshift), so every run asks the same questions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 1_000_000) as f64 / 1_000_000.0
    }
    /// A word index skewed towards the common words, as in the articles.
    fn word(&mut self, n: usize) -> usize {
        ((n as f64) * self.next().powi(2)) as usize % n
    }
}

/// Requester-style texts: stop words, 2–4 vocabulary words, sometimes a word no article has.
fn questions(words: &[String], count: usize) -> Vec<String> {
    let stop = [
        "my", "the", "is", "not", "after", "again", "keeps", "i", "cannot",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (0..count)
        .map(|i| {
            let mut text = vec![stop[i % stop.len()].to_string()];
            for _ in 0..(2 + i % 3) {
                text.push(words[rng.word(words.len())].clone());
            }
            if i % 4 == 0 {
                text.push("yesterday".into());
            }
            text.join(" ")
        })
        .collect()
}

/// The same search from `CONCURRENCY` tasks over the app role's pool for `ROUND`.
async fn sql_floor(
    app_url: &str,
    lineage: Vec<platform::tenancy::TenantId>,
    asks: Arc<Vec<String>>,
) -> anyhow::Result<e2e::Run> {
    let target = platform::db::Target::Postgres {
        app_url: app_url.to_string(),
        owner_url: None,
    };
    let db = platform::db::connect_app(&target, "catalogue", CONCURRENCY as u32).await?;
    let lineage = Arc::new(lineage);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (db, lineage, asks, next) = (db.clone(), lineage.clone(), asks.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let reach = catalogue::store::articles::Reach {
                lineage: &lineage,
                agents: false,
            };
            let mut lat = Vec::new();
            while start.elapsed() < ROUND {
                let text = &asks[next.fetch_add(1, Ordering::Relaxed) % asks.len()];
                let t = Instant::now();
                let txn = platform::tenancy::begin_scoped(&db, &lineage).await?;
                catalogue::store::articles::search(&txn, &reach, text, 5).await?;
                txn.commit().await?;
                lat.push(t.elapsed().as_micros() as u64);
            }
            anyhow::Ok(lat)
        }));
    }
    let mut run = e2e::Run {
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
    };
    for t in tasks {
        let lat = t.await??;
        run.requests += lat.len();
        run.latencies_us.extend(lat);
    }
    run.elapsed = start.elapsed();
    Ok(run)
}

async fn scalar(su: &DatabaseConnection, sql: &str) -> anyhow::Result<String> {
    let row = su
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row: {sql}"))?;
    Ok(row.try_get::<String>("", "v")?)
}

/// Adds `PER_TENANT` published articles (80 skewed words of body, 5 of title) to `tenant`,
/// shared with customers if `shared`, one in ten for agents only, with progress.
async fn articles(
    su: &DatabaseConnection,
    tenant: &str,
    shared: bool,
    words: &[String],
) -> anyhow::Result<()> {
    let vocab = words
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(",");
    let n = words.len();
    let started = Instant::now();
    for done in (0..PER_TENANT).step_by(BATCH) {
        // `g > 0` ties each sub-select to its row, so every article gets its own words.
        let pick = |k: usize| {
            format!(
                "array_to_string(ARRAY(SELECT (ARRAY[{vocab}])[1 + floor({n} * power(random(), 2))::int] \
                 FROM generate_series(1, {k}) WHERE g > 0), ' ')"
            )
        };
        su.execute_unprepared(&format!(
            "INSERT INTO catalogue.knowledge_articles (id, tenant_id, article_id, number, \
             article_version, newest, state, title, body, audience, share_with_customers, \
             contributor_ids, author_id, published_by, published_at, retired_at, version, \
             created_at, updated_at) \
             SELECT x.id, '{tenant}', x.id, 'KB' || lpad((g + 100000)::text, 7, '0'), 1, true, \
             'published', {title}, {body}, CASE WHEN g % 10 = 0 THEN 'agents' ELSE 'requesters' END, \
             {shared}, '[]', gen_random_uuid(), gen_random_uuid(), now(), NULL, 1, now(), now() \
             FROM generate_series({from}, {to}) g, LATERAL (SELECT gen_random_uuid() AS id WHERE g > 0) x",
            title = pick(5),
            body = pick(80),
            from = done + 1,
            to = done + BATCH,
        ))
        .await?;
        let made = done + BATCH;
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "  {tenant}: {made}/{PER_TENANT} articles ({:.0}/s, ETA {:.0} s)",
            made as f64 / secs,
            (PER_TENANT - made) as f64 * secs / made as f64
        );
    }
    Ok(())
}

#[tokio::main]
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
    let requester = e2e::login(&client, &base, "requester@globex.demo.test", PASSWORD).await?;

    let words = vocabulary();
    let tenant = |slug: &str| {
        format!("SELECT id::text AS v FROM catalogue.tenant_directory WHERE slug = '{slug}'")
    };
    let msp = scalar(&su, &tenant("demo")).await?;
    let globex = scalar(&su, &tenant("globex")).await?;
    let path = scalar(
        &su,
        "SELECT path AS v FROM catalogue.tenant_directory WHERE slug = 'globex'",
    )
    .await?;
    let lineage: Vec<platform::tenancy::TenantId> = path
        .split('/')
        .filter_map(|id| uuid::Uuid::parse_str(id).ok())
        .map(platform::tenancy::TenantId)
        .collect();
    anyhow::ensure!(lineage.len() == 3, "globex's lineage: {path}");
    articles(&su, &msp, true, &words).await?;
    articles(&su, &globex, false, &words).await?;
    su.execute_unprepared("VACUUM ANALYZE catalogue.knowledge_articles")
        .await?;

    let asks = Arc::new(questions(&words, 500));
    let url = format!("{base}/api/v1/knowledge/suggestions");
    // Every question answers; warm the caches.
    let mut found = 0;
    for text in asks.iter().take(50) {
        let r = client
            .post(&url)
            .bearer_auth(&requester)
            .json(&json!({"text": text, "context": "incident_create"}))
            .send()
            .await?;
        anyhow::ensure!(r.status().as_u16() == 201, "{text}: {}", r.status());
        let body: serde_json::Value = r.json().await?;
        found += body["articles"].as_array().map_or(0, Vec::len);
    }
    eprintln!("  warm-up: {found} articles for 50 questions");
    let empty = || e2e::Run {
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
    };
    let (mut all, mut floor) = (empty(), empty());
    for round in 1..=ROUNDS {
        let sql = sql_floor(&app_url, lineage.clone(), asks.clone()).await?;
        eprintln!(
            "  round {round}, the query alone: p95 {:.2} ms, {:.0}/s",
            sql.percentile_ms(95.0),
            sql.rps()
        );
        floor.requests += sql.requests;
        floor.elapsed += sql.elapsed;
        floor.latencies_us.extend(sql.latencies_us);
        let (asks, url, token) = (asks.clone(), url.clone(), requester.clone());
        let next = Arc::new(AtomicUsize::new(0));
        let run = e2e::load_with(CONCURRENCY, ROUND, move |client| {
            let text = &asks[next.fetch_add(1, Ordering::Relaxed) % asks.len()];
            client
                .post(url.as_str())
                .bearer_auth(&token)
                .json(&json!({"text": text, "context": "incident_create"}))
        })
        .await;
        eprintln!(
            "  round {round}: p95 {:.2} ms, {:.0}/s, {} errors",
            run.percentile_ms(95.0),
            run.rps(),
            run.errors
        );
        all.requests += run.requests;
        all.errors += run.errors;
        all.elapsed += run.elapsed;
        all.latencies_us.extend(run.latencies_us);
    }
    println!("### Knowledge suggestions over 100,000 published articles\n");
    println!("| measure | requests | p50 (ms) | p95 (ms) | p99 (ms) | per s | errors |");
    println!("|---|---|---|---|---|---|---|");
    for (name, run) in [
        ("HTTP `POST /api/v1/knowledge/suggestions`", &all),
        ("the search query alone (app role, RLS scope)", &floor),
    ] {
        println!(
            "| {name} | {} | {:.2} | {:.2} | {:.2} | {:.0} | {} |",
            run.requests,
            run.percentile_ms(50.0),
            run.percentile_ms(95.0),
            run.percentile_ms(99.0),
            run.rps(),
            run.errors
        );
    }
    println!(
        "\nGoal: p95 ≤ 30 ms over HTTP (concurrency {CONCURRENCY}, {ROUNDS} rounds of {} s each).",
        ROUND.as_secs()
    );
    Ok(())
}
