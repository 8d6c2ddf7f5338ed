//! The bench's plumbing: merging runs, database URLs and statements, `itsm` and `pgbench`.
use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use e2e::Run;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use super::{CONCURRENCY, DB, PASSWORD, ROLE_PASSWORD};

pub(super) fn merge(runs: &[Run]) -> Run {
    let mut all = Run {
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
    };
    for r in runs {
        all.requests += r.requests;
        all.errors += r.errors;
        all.elapsed += r.elapsed;
        all.latencies_us.extend(&r.latencies_us);
    }
    all
}

/// The admin URL with another user (and the test roles' password) and database.
pub(super) fn url_as(admin: &str, user: Option<&str>, db: &str) -> anyhow::Result<String> {
    let mut u = reqwest::Url::parse(admin)?;
    if let Some(user) = user {
        u.set_username(user)
            .map_err(|_| anyhow::anyhow!("URL takes no user"))?;
        u.set_password(Some(ROLE_PASSWORD))
            .map_err(|_| anyhow::anyhow!("URL takes no password"))?;
    }
    u.set_path(&format!("/{db}"));
    Ok(u.to_string())
}

pub(super) async fn exec(db: &DatabaseConnection, sql: &str) -> anyhow::Result<()> {
    db.execute_unprepared(sql).await?;
    Ok(())
}

pub(super) async fn scalar(db: &DatabaseConnection, sql: &str) -> anyhow::Result<String> {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row: {sql}"))?;
    Ok(row.try_get_by_index::<String>(0)?)
}

/// Runs `itsm <args>` against the bench database, progress on this process's stderr.
pub(super) fn itsm(args: &[&str], app_url: &str, owner_url: &str) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let status = Command::new(e2e::itsm_bin())
        .args(args)
        .env_remove("ITSM_BIN")
        .env("ITSM_DATABASE_URL", app_url)
        .env("ITSM_MIGRATION_DATABASE_URL", owner_url)
        .env("ITSM_KEY_ENCRYPTION_KEY", testkit::KEY_ENCRYPTION_KEY)
        .env("ITSM_DEMO_PASSWORD", PASSWORD)
        .env("ITSM_LOG_FILTER", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()?;
    anyhow::ensure!(status.success(), "itsm {args:?} failed: {status}");
    Ok(t.elapsed())
}

/// Runs pgbench for `secs` seconds with the insert script; returns transactions per second.
pub(super) fn pgbench(admin: &str, script: &std::path::Path, secs: u64) -> anyhow::Result<f64> {
    let u = reqwest::Url::parse(admin)?;
    let mut cmd = Command::new("pgbench");
    cmd.args(["-h", u.host_str().unwrap_or("127.0.0.1")])
        .args(["-p", &u.port().unwrap_or(5432).to_string()])
        .args([
            "-U",
            if u.username().is_empty() {
                "postgres"
            } else {
                u.username()
            },
        ])
        .args(["-n", "-c", &CONCURRENCY.to_string(), "-j", "2"])
        .args(["-T", &secs.to_string(), "-f"])
        .arg(script)
        .arg(DB)
        .stderr(Stdio::null());
    if let Some(p) = u.password() {
        cmd.env("PGPASSWORD", p);
    }
    let out = cmd.output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(out.status.success(), "pgbench failed: {text}");
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no tps in pgbench output: {text}"))
}

/// The uuid ids (as text) of `sql`'s rows.
pub(super) async fn ids(db: &DatabaseConnection, sql: &str) -> anyhow::Result<Vec<String>> {
    Ok(db
        .query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?
        .iter()
        .filter_map(|r| r.try_get_by_index::<String>(0).ok())
        .collect())
}
