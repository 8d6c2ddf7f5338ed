//! Event-bus benchmarks, each a ratio measured in one run on real PostgreSQL and RabbitMQ:
//! 1. relay throughput vs raw lapin publishing (with confirms) of the same messages;
//! 2. commit → consumer-applied latency at 1,000 events/s;
//! 3. relay throughput with 100,000 rows already pending vs with none.
//!
//! `cargo build --release -p e2e && cargo run --release -p e2e --bin bench_bus`
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use bus::{ConsumerRunner, Envelope, Handler, HandlerError, Relay, rabbit};
use lapin::{BasicProperties, options::*};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, Statement,
    TransactionTrait,
};
use tokio::sync::watch;

const N: usize = 20_000;

/// Records commit → applied latency of each event.
struct Latency(Arc<Mutex<Vec<u64>>>);

#[async_trait]
impl Handler for Latency {
    fn consumer(&self) -> &'static str {
        "bench"
    }
    fn bindings(&self) -> Vec<String> {
        vec!["identity.tick.#".into()]
    }
    async fn handle(&self, _txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        let ms = (chrono::Utc::now() - env.time)
            .num_microseconds()
            .unwrap_or(0)
            .max(0) as u64;
        if let Ok(mut v) = self.0.lock() {
            v.push(ms);
        }
        Ok(())
    }
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
struct Tick {
    n: u64,
}

/// Published from identity's outbox, so it is identity's type (consumers accept a type only
/// from its owner).
impl events::Event for Tick {
    const SERVICE: &'static str = "identity";
    const AGGREGATE: &'static str = "tick";
    const NAME: &'static str = "happened";
    const VERSION: u32 = 1;
}

/// Inserts `n` pending rows of ~300-byte envelopes, in bulk.
async fn fill(db: &DatabaseConnection, n: usize) -> anyhow::Result<()> {
    let tenant = uuid::Uuid::now_v7();
    let txn = db.begin().await?;
    txn.execute_unprepared("SELECT set_config('app.outbox_relay', 'on', true)")
        .await?;
    for chunk in (0..n).collect::<Vec<_>>().chunks(2000) {
        let mut sql = String::from(
            "INSERT INTO outbox (id, tenant_id, routing_key, envelope, created_at) VALUES ",
        );
        let mut values: Vec<sea_orm::Value> = Vec::new();
        for (i, k) in chunk.iter().enumerate() {
            let env = Envelope::new(
                tenant,
                uuid::Uuid::now_v7(),
                1,
                &Tick { n: *k as u64 },
                None,
            )?;
            let p = i * 3;
            sql.push_str(&format!(
                "{}(${}, ${}, 'identity.tick.happened', ${}, now())",
                if i == 0 { "" } else { "," },
                p + 1,
                p + 2,
                p + 3
            ));
            values.push(env.id.into());
            values.push(tenant.into());
            values.push(serde_json::to_string(&env)?.into());
        }
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Runs a relay (its normal `run`, default parallelism) until `target` messages sit in the
/// bench queue; returns the time taken.
async fn relay_until(
    db: &DatabaseConnection,
    amqp: &str,
    ch: &lapin::Channel,
    target: u32,
) -> anyhow::Result<Duration> {
    let (tx, rx) = watch::channel(false);
    let started = Instant::now();
    let relay = Relay::new(
        "identity",
        db.clone(),
        Arc::new(rabbit::RabbitPublisher::new(testkit::amqp_url_as(
            amqp, "identity",
        ))),
    );
    let handle = tokio::spawn(relay.run(rx));
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    while ch
        .queue_declare("bench".into(), passive, lapin::types::FieldTable::default())
        .await?
        .message_count()
        < target
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let _ = tx.send(true);
    let _ = handle.await;
    Ok(elapsed)
}

async fn purge(amqp: &str, queue: &str) -> anyhow::Result<()> {
    let conn = rabbit::connect(amqp).await?;
    let ch = conn.create_channel().await?;
    ch.queue_purge(queue.into(), QueuePurgeOptions::default())
        .await?;
    Ok(())
}

fn pct(v: &mut [u64], p: f64) -> f64 {
    v.sort_unstable();
    if v.is_empty() {
        return f64::NAN;
    }
    v[((p / 100.0) * (v.len() - 1) as f64).round() as usize] as f64 / 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let amqp = testkit::fresh_vhost()
        .await
        .ok_or_else(|| anyhow::anyhow!("RabbitMQ is required"))?;
    let app = testkit::TestApp::builder()
        .rabbitmq(&amqp)
        .without_workers()
        .spawn()
        .await
        .ok_or_else(|| anyhow::anyhow!("PostgreSQL is required"))?;
    let db = app.identity_db.clone();
    let consumer_db = app
        .service_schema::<bus::migration::DirectoryMigrator>("bench")
        .await;
    // A durable quorum queue bound to the events, so every publish is really stored.
    let conn = rabbit::connect(&amqp).await?;
    let ch = conn.create_channel().await?;
    rabbit::declare_topology(&ch, "bench", &["identity.tick.#".to_string()], 7).await?;
    let relay = Relay::new(
        "identity",
        db.clone(),
        Arc::new(rabbit::RabbitPublisher::new(testkit::amqp_url_as(
            &amqp, "identity",
        ))),
    );
    while relay.tick().await? > 0 {}

    // 1. Relay vs raw lapin, same messages.
    eprintln!("[1/3] relay vs raw publishing of {N} messages");
    fill(&db, N).await?;
    let bodies: Vec<(String, Vec<u8>)> = {
        let su = app.superuser().await;
        su.query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT routing_key, envelope FROM outbox WHERE sent_at IS NULL",
        ))
        .await?
        .into_iter()
        .map(|r| {
            (
                r.try_get::<String>("", "routing_key").unwrap_or_default(),
                r.try_get::<String>("", "envelope")
                    .unwrap_or_default()
                    .into_bytes(),
            )
        })
        .collect()
    };
    let relay_time = relay_until(&db, &amqp, &ch, N as u32).await?;
    let sent = N;
    purge(&amqp, "bench").await?;
    let pub_ch = conn.create_channel().await?;
    pub_ch
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let started = Instant::now();
    // The physical limit: every message in flight at once, then every confirm awaited.
    let mut confirms = Vec::with_capacity(bodies.len());
    for (key, body) in &bodies {
        confirms.push(
            pub_ch
                .basic_publish(
                    bus::EXCHANGE.into(),
                    key.as_str().into(),
                    BasicPublishOptions::default(),
                    body,
                    BasicProperties::default().with_delivery_mode(2),
                )
                .await?,
        );
    }
    for c in confirms {
        c.await?;
    }
    let raw_time = started.elapsed();
    purge(&amqp, "bench").await?;
    let relay_rate = sent as f64 / relay_time.as_secs_f64();
    let raw_rate = bodies.len() as f64 / raw_time.as_secs_f64();

    // 3. Backlog: 100,000 pending rows vs none, first 20,000 drained.
    eprintln!("[2/3] relay throughput with 100,000 rows pending vs none");
    fill(&db, N).await?;
    let (a, t_empty) = (N, relay_until(&db, &amqp, &ch, N as u32).await?);
    purge(&amqp, "bench").await?;
    fill(&db, 100_000 + N).await?;
    let (b, t_backlog) = (N, relay_until(&db, &amqp, &ch, N as u32).await?);
    while relay.tick().await? > 0 {}
    purge(&amqp, "bench").await?;
    let empty_rate = a as f64 / t_empty.as_secs_f64();
    let backlog_rate = b as f64 / t_backlog.as_secs_f64();

    // 2. Latency at 1,000 events/s for 10 s.
    eprintln!("[3/3] commit → applied latency at 1,000 events/s for 10 s");
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let runner = Arc::new(ConsumerRunner::new(
        consumer_db,
        Arc::new(Latency(latencies.clone())),
    ));
    let (tx, rx) = watch::channel(false);
    tokio::spawn(rabbit::consume(amqp.clone(), runner, 64, rx.clone()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    tokio::spawn(
        Relay::new(
            "identity",
            db.clone(),
            Arc::new(rabbit::RabbitPublisher::new(testkit::amqp_url_as(
                &amqp, "identity",
            ))),
        )
        .run(rx.clone()),
    );
    let tenant = platform::tenancy::TenantId(uuid::Uuid::now_v7());
    let mut interval = tokio::time::interval(Duration::from_millis(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut produced = 0u64;
    let mut producers = Vec::new();
    while started.elapsed() < Duration::from_secs(10) {
        interval.tick().await;
        produced += 1;
        let db = db.clone();
        producers.push(tokio::spawn(async move {
            let txn = platform::tenancy::begin_scoped(&db, &[tenant]).await?;
            bus::outbox::append(&txn, tenant, uuid::Uuid::now_v7(), 1, &Tick { n: produced })
                .await?;
            txn.commit().await?;
            Ok::<_, anyhow::Error>(())
        }));
        if produced.is_multiple_of(2000) {
            eprintln!("      {produced} events committed");
        }
    }
    for p in producers {
        p.await??;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while latencies.lock().map(|v| v.len() as u64).unwrap_or(0) < produced
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = tx.send(true);
    let mut lat = latencies.lock().map(|v| v.clone()).unwrap_or_default();
    let applied = lat.len();
    let achieved = produced as f64 / started.elapsed().as_secs_f64();

    println!("| measure | value | goal |");
    println!("|---|---|---|");
    println!(
        "| relay throughput (msg/s, {N} msgs, batches of 500, 4 claim loops) | {relay_rate:.0} | |"
    );
    println!(
        "| raw lapin publish with confirms, same msgs, all in flight (msg/s) | {raw_rate:.0} | |"
    );
    println!(
        "| **ratio relay / raw** | **{:.2}** | ≥ 0.5 |",
        relay_rate / raw_rate
    );
    println!("| relay throughput, no backlog (msg/s) | {empty_rate:.0} | |");
    println!("| relay throughput, 100,000 rows pending (msg/s) | {backlog_rate:.0} | |");
    println!(
        "| **ratio backlog / none** | **{:.2}** | ≥ 0.9 |",
        backlog_rate / empty_rate
    );
    println!("| events committed (rate achieved) | {produced} ({achieved:.0}/s) | 1,000/s |");
    println!("| events applied | {applied} | all |");
    println!(
        "| **commit → applied p50 (ms)** | **{:.1}** | |",
        pct(&mut lat, 50.0)
    );
    println!(
        "| **commit → applied p99 (ms)** | **{:.1}** | ≤ 500 |",
        pct(&mut lat, 99.0)
    );
    Ok(())
}
