//! Identity benchmark: authenticated `GET /api/v1/users/me` against the unauthenticated static
//! JSON `GET /healthz` on the same server in the same run, and password-login latency.
//!
//! `cargo build --release -p itsm -p e2e && cargo run --release -p e2e --bin bench_identity`
use std::time::{Duration, Instant};

use e2e::{Run, load, start_on_postgres};

const PASSWORD: &str = "bench-password-123";
const CONCURRENCY: usize = 32;
const ROUND: Duration = Duration::from_secs(5);
const ROUNDS: usize = 3;
const LOGINS: usize = 100;

fn merge(runs: &[Run]) -> Run {
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    eprintln!(
        "[1/4] starting itsm ({}) on a fresh PostgreSQL database",
        e2e::itsm_bin()
    );
    let itsm = start_on_postgres(PASSWORD, 1).await?;
    let client = reqwest::Client::new();
    let token = e2e::login(&client, &itsm.base, "agent@globex.demo.test", PASSWORD).await?;

    eprintln!("[2/4] warming up");
    load(
        &format!("{}/healthz", itsm.base),
        None,
        CONCURRENCY,
        Duration::from_secs(2),
    )
    .await;
    load(
        &format!("{}/api/v1/users/me", itsm.base),
        Some(&token),
        CONCURRENCY,
        Duration::from_secs(2),
    )
    .await;

    let (mut statics, mut authed) = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        eprintln!(
            "[3/4] round {round}/{ROUNDS}: {}s static, {}s authenticated, {CONCURRENCY} connections",
            ROUND.as_secs(),
            ROUND.as_secs()
        );
        statics.push(load(&format!("{}/healthz", itsm.base), None, CONCURRENCY, ROUND).await);
        authed.push(
            load(
                &format!("{}/api/v1/users/me", itsm.base),
                Some(&token),
                CONCURRENCY,
                ROUND,
            )
            .await,
        );
    }
    let (s, a) = (merge(&statics), merge(&authed));

    eprintln!("[4/4] {LOGINS} sequential logins");
    let mut lat = Vec::new();
    for i in 0..LOGINS {
        let t = Instant::now();
        e2e::login(&client, &itsm.base, "requester@globex.demo.test", PASSWORD).await?;
        lat.push(t.elapsed().as_micros() as u64);
        if (i + 1) % 25 == 0 {
            eprintln!("      {}/{LOGINS}", i + 1);
        }
    }
    let logins = Run {
        requests: LOGINS,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies_us: lat,
    };

    println!("| measure | static `GET /healthz` | authenticated `GET /api/v1/users/me` |");
    println!("|---|---|---|");
    println!("| throughput (req/s) | {:.0} | {:.0} |", s.rps(), a.rps());
    println!(
        "| p50 latency (ms) | {:.2} | {:.2} |",
        s.percentile_ms(50.0),
        a.percentile_ms(50.0)
    );
    println!(
        "| p99 latency (ms) | {:.2} | {:.2} |",
        s.percentile_ms(99.0),
        a.percentile_ms(99.0)
    );
    println!("| errors | {} | {} |", s.errors, a.errors);
    println!();
    println!(
        "Throughput ratio authenticated / static: **{:.2}** (goal ≥ 0.4).",
        a.rps() / s.rps()
    );
    println!();
    println!(
        "Login (`POST /api/v1/auth/login`, argon2id m=19456 KiB, t=2, p=1), {LOGINS} sequential: p50 {:.1} ms, p99 {:.1} ms.",
        logins.percentile_ms(50.0),
        logins.percentile_ms(99.0)
    );
    Ok(())
}
