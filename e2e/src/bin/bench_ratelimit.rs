//! Rate limits under abuse: one tenant sends three times its limit while a second tenant
//! works at a steady pace; how much of the excess is refused, and what happens to the second
//! tenant's latency compared with the same pace on an otherwise idle server (phases alternate,
//! samples pooled). Limits kept in Redis.
//!
//! `cargo build --release -p itsm -p e2e && cargo run --release -p e2e --bin bench_ratelimit`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

const PASSWORD: &str = "bench-password-123";
/// Tenant limit: 6,000 per minute = 100 per second.
const LIMIT_PER_MINUTE: u32 = 6_000;
const NOISY_RATE: u32 = 3 * LIMIT_PER_MINUTE / 60;
const QUIET_RATE: u32 = 50;
/// Pairs of phases (quiet alone, then beside the noisy tenant).
const ROUNDS: u32 = 6;

/// Seconds per phase (`BENCH_ROUND_SECS`, default 10): 6 × 10 s gives each side 3,000 quiet
/// samples, so a p99 is the 30th slowest rather than one outlier.
fn round_length() -> Duration {
    let secs = std::env::var("BENCH_ROUND_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    Duration::from_secs(secs)
}

/// Status counts and latencies of a paced run.
#[derive(Default)]
struct Paced {
    ok: usize,
    limited: usize,
    other: usize,
    latencies_us: Vec<u64>,
}

impl Paced {
    fn merge(&mut self, other: Paced) {
        self.ok += other.ok;
        self.limited += other.limited;
        self.other += other.other;
        self.latencies_us.extend(other.latencies_us);
    }

    fn p(&self, q: f64) -> f64 {
        let mut v = self.latencies_us.clone();
        v.sort_unstable();
        if v.is_empty() {
            return f64::NAN;
        }
        v[((q / 100.0) * (v.len() - 1) as f64).round() as usize] as f64 / 1000.0
    }
}

/// Sends `GET /api/v1/users/me` as `token` at `rate` per second for `duration` (open loop:
/// requests start on schedule whatever the answers take).
async fn paced(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    rate: u32,
    duration: Duration,
) -> Paced {
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = Vec::new();
    while started.elapsed() < duration {
        tick.tick().await;
        let (client, url, token) = (client.clone(), url.to_string(), token.to_string());
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let status = client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .map(|r| r.status().as_u16());
            (status.unwrap_or(0), t.elapsed().as_micros() as u64)
        }));
    }
    let mut out = Paced::default();
    for t in tasks {
        let (status, us) = t.await.unwrap_or((0, 0));
        match status {
            200 => {
                out.ok += 1;
                out.latencies_us.push(us);
            }
            429 => out.limited += 1,
            _ => out.other += 1,
        }
    }
    out
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let redis =
        std::env::var("BENCH_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let admin = testkit::postgres_admin()
        .await
        .ok_or_else(|| anyhow::anyhow!("PostgreSQL is required"))?;
    let (_, app_url, owner_url) = testkit::fresh_database(&admin).await;
    eprintln!("[1/3] itsm serve (release, 2 HTTP workers), limits in Redis at {redis}");
    let limit = LIMIT_PER_MINUTE.to_string();
    let itsm = e2e::start_with_env(
        &app_url,
        &owner_url,
        PASSWORD,
        2,
        true,
        &[
            ("ITSM_REDIS_URL", redis.as_str()),
            ("ITSM_RATE_LIMIT_TENANT_PER_MINUTE", limit.as_str()),
        ],
    )
    .await?;
    // Tenants are separate clients: neither waits for the other's connections.
    let (noisy_client, quiet_client) = (reqwest::Client::new(), reqwest::Client::new());
    let url = format!("{}/api/v1/users/me", itsm.base);
    let noisy = e2e::login(
        &noisy_client,
        &itsm.base,
        "agent@globex.demo.test",
        PASSWORD,
    )
    .await?;
    let quiet = e2e::login(
        &quiet_client,
        &itsm.base,
        "agent@initech.demo.test",
        PASSWORD,
    )
    .await?;
    let round = round_length();

    eprintln!("[2/3] noisy tenant spends its burst ({LIMIT_PER_MINUTE} requests)");
    let spent = paced(&noisy_client, &url, &noisy, 2_000, Duration::from_secs(4)).await;
    eprintln!("      {} allowed, {} refused", spent.ok, spent.limited);

    // Alternating phases, so that drift of the machine over the run (other processes, CPU
    // clocks) falls on both sides alike; the samples of each side are pooled.
    let (mut alone, mut beside, mut noisy_run) =
        (Paced::default(), Paced::default(), Paced::default());
    let mut ratios = Vec::new();
    let started = Instant::now();
    for r in 1..=ROUNDS {
        eprintln!(
            "[3/3] round {r}/{ROUNDS}: quiet tenant alone at {QUIET_RATE}/s for {} s, then beside \
             the noisy tenant at {NOISY_RATE}/s (3x its limit) for {} s",
            round.as_secs(),
            round.as_secs()
        );
        let a = paced(&quiet_client, &url, &quiet, QUIET_RATE, round).await;
        let (n, b) = tokio::join!(
            paced(&noisy_client, &url, &noisy, NOISY_RATE, round),
            paced(&quiet_client, &url, &quiet, QUIET_RATE, round)
        );
        ratios.push(b.p(99.0) / a.p(99.0));
        alone.merge(a);
        beside.merge(b);
        noisy_run.merge(n);
    }
    // After its burst the noisy tenant regains one request per 1/100 s, also while it pauses.
    let allowed_by_rate =
        (f64::from(LIMIT_PER_MINUTE) / 60.0 * started.elapsed().as_secs_f64()).round();
    let sent = noisy_run.ok + noisy_run.limited + noisy_run.other;
    let excess = sent as f64 - allowed_by_rate;
    ratios.sort_by(f64::total_cmp);

    println!("| measure | value | goal |");
    println!("|---|---|---|");
    println!(
        "| noisy tenant: sent / allowed / 429 / other | {sent} / {} / {} / {} | |",
        noisy_run.ok, noisy_run.limited, noisy_run.other
    );
    println!(
        "| **429 share of the excess** (sent − {allowed_by_rate:.0} the limit allows) | **{:.1} %** | ≥ 99 % |",
        100.0 * noisy_run.limited as f64 / excess
    );
    println!(
        "| quiet tenant alone: samples, p50 / p99 (ms) | {}, {:.2} / {:.2} | |",
        alone.latencies_us.len(),
        alone.p(50.0),
        alone.p(99.0)
    );
    println!(
        "| quiet tenant beside the noisy one: samples, p50 / p99 (ms) | {}, {:.2} / {:.2} | |",
        beside.latencies_us.len(),
        beside.p(50.0),
        beside.p(99.0)
    );
    println!(
        "| **quiet p99 ratio (beside / alone, pooled)** | **{:.2}** | ≤ 1.2 |",
        beside.p(99.0) / alone.p(99.0)
    );
    println!(
        "| quiet p99 ratio per round (min / median / max) | {:.2} / {:.2} / {:.2} | |",
        ratios[0],
        ratios[ratios.len() / 2],
        ratios[ratios.len() - 1]
    );
    println!(
        "| quiet tenant refused or failed (alone / beside) | {} / {} | 0 |",
        alone.limited + alone.other,
        beside.limited + beside.other
    );
    Ok(())
}
