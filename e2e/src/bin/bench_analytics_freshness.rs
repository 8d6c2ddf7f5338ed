//! Analytics freshness under load: incident events published to RabbitMQ at a steady rate
//! (default 1,000 events/s for 600 s) as incident's relay publishes them, consumed by
//! analytics' consumer (event store, figures, improvement feeder), and the lag of each event
//! from its `time` to its `applied_at` in the store, as `/api/v1/analytics/freshness` reports it.
//!
//! `cargo build --release -p e2e && cargo run --release -p e2e --bin bench_analytics_freshness
//! [-- SECONDS [EVENTS_PER_SECOND]]`
use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use bus::{Message, Transport, rabbit};
use events::{Envelope, Event, incident::*};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tokio::sync::watch;
use uuid::Uuid;

/// The events this benchmark publishes (not identity's, which set up the tenants).
const OURS: &str = "WHERE event_type LIKE 'itsm.incident.%'";

/// Events published per tick, every 10 ms.
const TICK: Duration = Duration::from_millis(10);

/// An incident on its way through its life, one event at a time.
struct Life {
    tenant: Uuid,
    id: Uuid,
    next: usize,
}

/// The `n`th event of an incident's life (created, classified, started, resolved, closed), or
/// none once it is over.
fn event_of(life: &Life, service: Uuid) -> anyhow::Result<Option<Envelope>> {
    let (tenant, id) = (life.tenant, life.id);
    let moved = |from: &str, to: &str, version: i64| {
        Envelope::new(
            tenant,
            id,
            version,
            &IncidentStateChanged {
                incident_id: id,
                from: from.into(),
                to: to.into(),
                hold_reason: None,
                resolution_code: (to == "resolved").then(|| "fixed".into()),
            },
            None,
        )
    };
    Ok(Some(match life.next {
        0 => Envelope::new(
            tenant,
            id,
            1,
            &IncidentCreated {
                incident_id: id,
                number: "INC0000001".into(),
                title: "Load".into(),
                caller_id: None,
                impact: 2,
                urgency: 2,
                priority: 3,
                state: "new".into(),
            },
            None,
        )?,
        1 => Envelope::new(
            tenant,
            id,
            1,
            &IncidentClassified {
                incident_id: id,
                category: Some("network".into()),
                subcategory: None,
                service_id: Some(service),
                configuration_item_id: None,
                channel: Some("phone".into()),
            },
            None,
        )?,
        2 => moved("new", "in_progress", 2)?,
        3 => moved("in_progress", "resolved", 3)?,
        4 => moved("resolved", "closed", 4)?,
        _ => return Ok(None),
    }))
}

fn message(env: &Envelope) -> anyhow::Result<Message> {
    let key = env
        .event_type
        .strip_prefix("itsm.")
        .and_then(|t| t.rsplit_once(".v"))
        .map(|(k, _)| k.to_string())
        .ok_or_else(|| anyhow::anyhow!("odd type {}", env.event_type))?;
    Ok(Message {
        id: env.id,
        producer: IncidentCreated::SERVICE,
        routing_key: key,
        body: serde_json::to_vec(env)?,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(600);
    let rate: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1_000);
    let per_tick = (rate / 100).max(1);
    platform::telemetry::init("bench", "warn", "pretty");
    let amqp = testkit::fresh_vhost()
        .await
        .ok_or_else(|| anyhow::anyhow!("RabbitMQ is required"))?;
    let app = testkit::TestApp::builder()
        .rabbitmq(&amqp)
        .without_workers()
        .spawn()
        .await
        .ok_or_else(|| anyhow::anyhow!("PostgreSQL is required"))?;
    let db = app
        .service_schema::<analytics::migration::Migrator>("analytics")
        .await;
    let identity = bus::people::IdentityProjection::new(db.clone(), analytics::CONSUMER);
    let runner = analytics::consumer(&db, &identity);
    let (stop, stopped) = watch::channel(false);
    let consumer_url = testkit::amqp_url_as(&amqp, analytics::CONSUMER);
    rabbit::declare_consumer(&consumer_url, &runner).await?;
    tokio::spawn(rabbit::consume(consumer_url, runner, 64, stopped));
    let publisher = rabbit::RabbitPublisher::new(testkit::amqp_url_as(&amqp, "incident"));
    // Analytics takes a tenant's events once identity has announced the tenant.
    let identity_relay = bus::Relay::new(
        "identity",
        app.identity_db.clone(),
        std::sync::Arc::new(rabbit::RabbitPublisher::new(testkit::amqp_url_as(
            &amqp, "identity",
        ))),
    );
    while identity_relay.tick().await? > 0 {}

    let tenants: Vec<Uuid> = vec![
        app.tenant_id("globex").await.parse()?,
        app.tenant_id("initech").await.parse()?,
        app.tenant_id("soylent").await.parse()?,
    ];
    let su = app.superuser().await;
    let known = format!(
        "SELECT count(*) AS n FROM analytics.tenant_directory WHERE id IN ('{}')",
        tenants
            .iter()
            .map(Uuid::to_string)
            .collect::<Vec<_>>()
            .join("','")
    );
    for _ in 0..300 {
        let row = su
            .query_one_raw(Statement::from_string(DbBackend::Postgres, known.clone()))
            .await?
            .ok_or_else(|| anyhow::anyhow!("no row"))?;
        if row.try_get::<i64>("", "n")? == tenants.len() as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let service = Uuid::now_v7();
    let mut lives: VecDeque<Life> = VecDeque::new();
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut published = 0u64;
    let mut created = 0usize;
    eprintln!("publishing {rate} events/s for {seconds} s");
    while started.elapsed() < Duration::from_secs(seconds) {
        interval.tick().await;
        let mut batch = Vec::with_capacity(per_tick);
        while batch.len() < per_tick {
            // Half the ticks' events start incidents until a pool of them is under way, so
            // each incident's events are spread over seconds, as live ones are.
            let mut life = match lives.pop_front() {
                Some(life) if lives.len() >= 2_000 || created % 2 == 1 => life,
                other => {
                    if let Some(life) = other {
                        lives.push_back(life);
                    }
                    created += 1;
                    Life {
                        tenant: tenants[created % tenants.len()],
                        id: Uuid::now_v7(),
                        next: 0,
                    }
                }
            };
            if let Some(env) = event_of(&life, service)? {
                batch.push(message(&env)?);
                life.next += 1;
                lives.push_back(life);
            }
        }
        publisher.publish(&batch).await?;
        published += batch.len() as u64;
        if published.is_multiple_of(60_000) {
            eprintln!(
                "  {published} events in {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let kept = |sql: &str| {
        let su = su.clone();
        let sql = sql.to_string();
        async move {
            su.query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
                .await?
                .ok_or_else(|| anyhow::anyhow!("no row"))
        }
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let row = kept(&format!(
            "SELECT count(*) AS n FROM analytics.analytics_events {OURS}"
        ))
        .await?;
        let n: i64 = row.try_get("", "n")?;
        if n as u64 >= published || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = stop.send(true);
    let refused =
        kept("SELECT count(*) AS n, max(error) AS error FROM analytics.dead_letters").await?;
    let dead: i64 = refused.try_get("", "n")?;
    anyhow::ensure!(
        dead == 0,
        "{dead} events dead-lettered, e.g. {:?}",
        refused.try_get::<Option<String>>("", "error")?
    );
    let row = kept(&format!(
        "SELECT count(*) AS n, \
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM applied_at - time)::float8) AS p50, \
         percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM applied_at - time)::float8) AS p99, \
         max(extract(epoch FROM applied_at - time)::float8) AS worst \
         FROM analytics.analytics_events {OURS}"
    ))
    .await?;
    let n: i64 = row.try_get("", "n")?;
    let p50: f64 = row.try_get("", "p50")?;
    let p99: f64 = row.try_get("", "p99")?;
    let worst: f64 = row.try_get("", "worst")?;
    // Where the tail comes from: the lag per minute of publishing.
    let per_minute = su
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT date_trunc('minute', time) AS minute, count(*) AS n, \
                 percentile_cont(0.99) WITHIN GROUP \
                 (ORDER BY extract(epoch FROM applied_at - time)::float8) AS p99, \
                 max(extract(epoch FROM applied_at - time)::float8) AS worst \
                 FROM analytics.analytics_events {OURS} GROUP BY 1 ORDER BY 1"
            ),
        ))
        .await?;
    eprintln!("minute | events | lag p99 (s) | lag max (s)");
    for (i, row) in per_minute.iter().enumerate() {
        eprintln!(
            "{i} | {} | {:.3} | {:.3}",
            row.try_get::<i64>("", "n")?,
            row.try_get::<f64>("", "p99")?,
            row.try_get::<f64>("", "worst")?
        );
    }
    println!("| measure | value | goal |");
    println!("|---|---|---|");
    println!(
        "| events published (rate achieved) | {published} in {elapsed:.0} s ({:.0}/s) | {rate}/s for {seconds} s |",
        published as f64 / elapsed
    );
    println!("| events kept and folded | {n} | all |");
    println!("| lag p50 (s) | {p50:.3} | |");
    println!("| **lag p99 (s)** | **{p99:.3}** | ≤ 2 |");
    println!("| lag max (s) | {worst:.3} | |");
    Ok(())
}
