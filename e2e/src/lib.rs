//! Shared pieces of the benchmarks: start a release `itsm` process on a fresh PostgreSQL
//! database, drive load from this process, and summarise latencies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

/// A running `itsm serve` process; killed on drop.
pub struct Itsm {
    pub base: String,
    child: Child,
}

impl Drop for Itsm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `itsm` binary to benchmark: `ITSM_BIN`, else the release build in the target dir.
pub fn itsm_bin() -> String {
    std::env::var("ITSM_BIN").unwrap_or_else(|_| {
        let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
        format!("{target}/release/itsm")
    })
}

/// Starts `itsm serve --demo` on a fresh PostgreSQL database with `workers` HTTP workers.
pub async fn start_on_postgres(password: &str, workers: usize) -> anyhow::Result<Itsm> {
    let admin = testkit::postgres_admin()
        .await
        .ok_or_else(|| anyhow::anyhow!("PostgreSQL is required"))?;
    let (_, app_url, owner_url) = testkit::fresh_database(&admin).await;
    start_on(&app_url, &owner_url, password, workers, true).await
}

/// Starts `itsm serve` (with `--demo` if `demo`) on the database at `app_url` / `owner_url`
/// with `workers` HTTP workers, and waits until it is ready.
pub async fn start_on(
    app_url: &str,
    owner_url: &str,
    password: &str,
    workers: usize,
    demo: bool,
) -> anyhow::Result<Itsm> {
    // Benchmarks measure the service, not its rate limits.
    let no_limits = [
        ("ITSM_RATE_LIMIT_TENANT_PER_MINUTE", "0"),
        ("ITSM_RATE_LIMIT_CLIENT_PER_MINUTE", "0"),
        ("ITSM_RATE_LIMIT_ADDRESS_PER_MINUTE", "0"),
    ];
    start_with_env(app_url, owner_url, password, workers, demo, &no_limits).await
}

/// Like [`start_on`] with extra environment variables (and the default rate limits).
pub async fn start_with_env(
    app_url: &str,
    owner_url: &str,
    password: &str,
    workers: usize,
    demo: bool,
    env: &[(&str, &str)],
) -> anyhow::Result<Itsm> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec!["serve", "--listen", &listen];
    if demo {
        args.push("--demo");
    }
    let child = Command::new(itsm_bin())
        .args(args)
        // `ITSM_BIN` names the binary for this harness; itsm refuses unknown ITSM_* settings.
        .env_remove("ITSM_BIN")
        .env("ITSM_DATABASE_URL", app_url)
        .env("ITSM_MIGRATION_DATABASE_URL", owner_url)
        .env("ITSM_KEY_ENCRYPTION_KEY", testkit::KEY_ENCRYPTION_KEY)
        .env("ITSM_DEMO_PASSWORD", password)
        .env("ITSM_HTTP_WORKERS", workers.to_string())
        .envs(env.iter().copied())
        .env("ITSM_LOG_FILTER", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let itsm = Itsm {
        base: format!("http://127.0.0.1:{port}"),
        child,
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{}/readyz", itsm.base)).send().await
            && r.status().is_success()
        {
            return Ok(itsm);
        }
        anyhow::ensure!(Instant::now() < deadline, "itsm did not become ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Logs in and returns the access token.
pub async fn login(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    let r = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "login {email}: {}", r.status());
    let body: serde_json::Value = r.json().await?;
    Ok(body["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

/// CPU time (user + system, ms) used so far by every process whose name starts with `name`
/// and by its children that ended (`postgres` counts the server, its live backends and those
/// that exited, as pgbench's do when it stops), from `/proc`: a page's cost in the database and
/// in the service, beside its latency.
pub fn cpu_ms(name: &str) -> f64 {
    // USER_HZ is 100 on every Linux this runs on.
    const TICK_MS: f64 = 10.0;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let mut ticks = 0u64;
    for entry in entries.flatten() {
        let dir = entry.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !comm.trim_end().starts_with(name) {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        // Fields after the parenthesised name: utime, stime, cutime and cstime are the 12th
        // to 15th.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        for i in [11, 12, 13, 14] {
            ticks += fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    ticks as f64 * TICK_MS
}

/// Latency summary of one load run.
#[derive(Debug, Clone)]
pub struct Run {
    pub requests: usize,
    pub errors: usize,
    pub elapsed: Duration,
    pub latencies_us: Vec<u64>,
}

impl Run {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let mut v = self.latencies_us.clone();
        v.sort_unstable();
        let idx = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
        v[idx] as f64 / 1000.0
    }
}

/// GETs `url` from `concurrency` tasks for `duration` (bounded: loopback only, fixed time).
pub async fn load(url: &str, token: Option<&str>, concurrency: usize, duration: Duration) -> Run {
    let url = url.to_string();
    let token = token.map(str::to_string);
    load_with(concurrency, duration, move |client| {
        let req = client.get(url.as_str());
        match token.as_deref() {
            Some(tok) => req.bearer_auth(tok),
            None => req,
        }
    })
    .await
}

/// Sends the request `make` builds from `concurrency` tasks for `duration` (bounded: loopback
/// only, fixed time); a 2xx answer counts as a success.
pub async fn load_with(
    concurrency: usize,
    duration: Duration,
    make: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync + 'static,
) -> Run {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    let make = Arc::new(make);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, make) = (client.clone(), make.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            while start.elapsed() < duration {
                let t = Instant::now();
                match make(&client).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        lat.push(t.elapsed().as_micros() as u64);
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut run = Run {
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
    };
    for t in tasks {
        let (lat, errors) = t.await.expect("load task");
        run.requests += lat.len();
        run.errors += errors;
        run.latencies_us.extend(lat);
    }
    run.elapsed = start.elapsed();
    run
}

/// `pgbench` running `script` against `url` with `clients` clients for `secs`: transactions
/// per second.
pub fn pgbench(
    url: &str,
    script: &std::path::Path,
    clients: usize,
    secs: u64,
) -> anyhow::Result<f64> {
    let out = Command::new("pgbench")
        .args([
            "-n",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &secs.to_string(),
            "-f",
        ])
        .arg(script)
        .arg(url)
        .stderr(Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(out.status.success(), "pgbench failed: {text}");
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no tps in pgbench output: {text}"))
}

/// Runs `sql` (one or more statements) on `db`, as the benchmarks' set-up does.
pub async fn exec(db: &sea_orm::DatabaseConnection, sql: &str) -> anyhow::Result<()> {
    use sea_orm::ConnectionTrait;
    db.execute_unprepared(sql).await?;
    Ok(())
}

/// The text column `v` of each row `sql` returns.
pub async fn strings(db: &sea_orm::DatabaseConnection, sql: &str) -> anyhow::Result<Vec<String>> {
    use sea_orm::ConnectionTrait;
    Ok(db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            sql,
        ))
        .await?
        .iter()
        .filter_map(|r| r.try_get::<String>("", "v").ok())
        .collect())
}
