//! Sign-in under a flood: 100 concurrent clients send bogus logins from one address while real
//! users sign in from other addresses (through a trusted proxy's `X-Forwarded-For`); how long a
//! real login takes then, against the same server idle. Run once with the per-address limit
//! (the default) and once with it off, so the share of the bound on password checks shows.
//!
//! `cargo build --release -p itsm -p e2e && cargo run --release -p e2e --bin bench_login`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

const PASSWORD: &str = "bench-password-123";
const FLOOD_CONCURRENCY: usize = 100;
const REAL_LOGINS: usize = 200;
/// Between two real logins.
const REAL_PACE: Duration = Duration::from_millis(50);

fn p(sorted_ms: &[f64], q: f64) -> f64 {
    if sorted_ms.is_empty() {
        return f64::NAN;
    }
    sorted_ms[((q / 100.0) * (sorted_ms.len() - 1) as f64).round() as usize]
}

/// `REAL_LOGINS` sequential logins by real users, each from its own address (an office's users
/// are many addresses behind the proxy); returns sorted latencies in ms and failures.
async fn real_logins(client: &reqwest::Client, base: &str, tag: u8) -> (Vec<f64>, usize) {
    let emails = [
        "agent@globex.demo.test",
        "agent@initech.demo.test",
        "requester@globex.demo.test",
        "analyst@initech.demo.test",
    ];
    let mut ms = Vec::with_capacity(REAL_LOGINS);
    let mut failed = 0;
    for i in 0..REAL_LOGINS {
        let address = format!("198.51.{tag}.{}", 1 + i % 250);
        let t = Instant::now();
        let r = client
            .post(format!("{base}/api/v1/auth/login"))
            .header("x-forwarded-for", address)
            .json(&serde_json::json!({"email": emails[i % emails.len()], "password": PASSWORD}))
            .send()
            .await;
        match r {
            Ok(r) if r.status().is_success() => ms.push(t.elapsed().as_secs_f64() * 1000.0),
            _ => failed += 1,
        }
        tokio::time::sleep(REAL_PACE).await;
    }
    ms.sort_by(f64::total_cmp);
    (ms, failed)
}

/// Bogus logins from one address by `FLOOD_CONCURRENCY` clients until `stop`; counts by status.
fn flood(base: &str, stop: Arc<AtomicBool>) -> Vec<tokio::task::JoinHandle<[usize; 4]>> {
    let seq = Arc::new(AtomicUsize::new(0));
    (0..FLOOD_CONCURRENCY)
        .map(|_| {
            let (base, stop, seq) = (base.to_string(), stop.clone(), seq.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                // 401, 429, 503, other
                let mut counts = [0usize; 4];
                while !stop.load(Ordering::Relaxed) {
                    let n = seq.fetch_add(1, Ordering::Relaxed);
                    let r = client
                        .post(format!("{base}/api/v1/auth/login"))
                        .header("x-forwarded-for", "192.0.2.66")
                        .json(&serde_json::json!({
                            "email": format!("guess{}@globex.demo.test", n % 500),
                            "password": "not-the-password"
                        }))
                        .send()
                        .await
                        .map(|r| r.status().as_u16());
                    let slot = match r {
                        Ok(401) => 0,
                        Ok(429) => 1,
                        Ok(503) => 2,
                        _ => 3,
                    };
                    counts[slot] += 1;
                }
                counts
            })
        })
        .collect()
}

async fn scenario(per_address: &str, tag: u8) -> anyhow::Result<()> {
    let admin = testkit::postgres_admin()
        .await
        .ok_or_else(|| anyhow::anyhow!("PostgreSQL is required"))?;
    let (_, app_url, owner_url) = testkit::fresh_database(&admin).await;
    let itsm = e2e::start_with_env(
        &app_url,
        &owner_url,
        PASSWORD,
        2,
        true,
        &[
            ("ITSM_HTTP_TRUSTED_PROXIES", "[\"127.0.0.1\"]"),
            ("ITSM_RATE_LIMIT_ADDRESS_PER_MINUTE", per_address),
        ],
    )
    .await?;
    let client = reqwest::Client::new();
    eprintln!("  idle: {REAL_LOGINS} real logins");
    let (idle, idle_failed) = real_logins(&client, &itsm.base, tag).await;
    eprintln!(
        "  flood: {FLOOD_CONCURRENCY} concurrent bogus logins from 192.0.2.66, {REAL_LOGINS} real logins beside"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let flooders = flood(&itsm.base, stop.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (busy, busy_failed) = real_logins(&client, &itsm.base, tag + 1).await;
    stop.store(true, Ordering::Relaxed);
    let mut counts = [0usize; 4];
    for f in flooders {
        for (i, n) in f.await?.iter().enumerate() {
            counts[i] += n;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "| per-address limit {per_address}/min | idle p50 / p95 / p99 (ms) | {:.1} / {:.1} / {:.1} | |",
        p(&idle, 50.0),
        p(&idle, 95.0),
        p(&idle, 99.0)
    );
    println!(
        "| per-address limit {per_address}/min | **under the flood p50 / p95 / p99 (ms)** | {:.1} / **{:.1}** / {:.1} | p95 ≤ 250 |",
        p(&busy, 50.0),
        p(&busy, 95.0),
        p(&busy, 99.0)
    );
    println!(
        "| per-address limit {per_address}/min | real logins failed (idle / flood) | {idle_failed} / {busy_failed} | 0 |"
    );
    println!(
        "| per-address limit {per_address}/min | flood over {secs:.0} s: 401 / 429 / 503 / other | {} / {} / {} / {} ({:.0} req/s) | |",
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        counts.iter().sum::<usize>() as f64 / secs
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    println!("| run | measure | value | goal |");
    println!("|---|---|---|---|");
    eprintln!("[1/2] itsm serve (release, 2 HTTP workers), per-address limit 60/min (default)");
    scenario("60", 100).await?;
    eprintln!("[2/2] the same with the per-address limit off (only the bound on checks in flight)");
    scenario("0", 110).await?;
    Ok(())
}
