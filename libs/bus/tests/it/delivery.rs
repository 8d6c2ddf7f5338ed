//! Delivery guarantees over real RabbitMQ and PostgreSQL: identity's events reach another
//! service, duplicates and crashes change nothing, poison goes to the DLQ and comes back after
//! a fix, and stale versions are ignored.
use crate::common;

use std::time::Duration;

use crate::common::{Rig, fill_outbox, peek, publish_as, publish_raw};
use bus::{
    ConsumerRunner, Envelope,
    directory::{ProjectedDirectory, TenantDirectoryProjection},
    rabbit,
    relay::FaultPoint,
};
use platform::tenancy::TenantDirectory;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use testkit::json;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn identity_events_build_another_services_tenant_directory() {
    let Some(rig) = Rig::new(&["identity.tenant.*"], "").await else {
        return;
    };
    // The projection consumer of a second service, in its own schema and queue.
    let db = rig.consumer_db.clone();
    let projection = std::sync::Arc::new(ConsumerRunner::new(
        db.clone(),
        std::sync::Arc::new(TenantDirectoryProjection {
            consumer: "directory",
        }),
    ));
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(rabbit::consume(
        rig.amqp.clone(),
        projection,
        16,
        rx.clone(),
    ));
    assert!(
        rig.eventually(WAIT, || async {
            rabbit::queue_depths(&rig.amqp, "directory").await.is_ok()
        })
        .await
    );
    tokio::spawn(rig.relay().run(rx));

    let msp = rig.app.token("msp-admin@demo.test").await;
    let onboarded = rig
        .app
        .post(
            "/api/v1/tenants",
            &msp,
            json!({"name": "Acme", "slug": "acme", "admin_email": "boss@acme.example"}),
        )
        .await;
    let acme = onboarded.expect(201)["tenant"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let demo: uuid::Uuid = rig.app.tenant_id("demo").await.parse().unwrap_or_default();

    let directory = ProjectedDirectory { db: db.clone() };
    let seen = rig
        .eventually(WAIT, || async {
            directory
                .resolve(demo, "acme")
                .await
                .ok()
                .flatten()
                .is_some()
        })
        .await;
    assert!(seen, "the onboarded tenant never reached the projection");
    let info = directory.resolve(demo, "acme").await.ok().flatten();
    assert_eq!(info.as_ref().map(|t| t.id.to_string()), Some(acme.clone()));
    assert_eq!(info.as_ref().map(|t| t.active), Some(true));
    // The whole seeded tree arrived too, and a sibling MSP's view is scoped.
    let subtree = directory.subtree(demo).await.unwrap_or_default();
    assert_eq!(subtree.len(), 4, "demo, globex, initech, acme");

    // Suspension travels as an event as well.
    rig.app
        .post(&format!("/api/v1/tenants/{acme}/suspend"), &msp, json!({}))
        .await
        .expect(200);
    let suspended = rig
        .eventually(WAIT, || async {
            directory
                .resolve(demo, "acme")
                .await
                .ok()
                .flatten()
                .is_some_and(|t| !t.active)
        })
        .await;
    assert!(suspended);
    // Settings overrides are projected for inheritance.
    rig.app
        .call(
            testkit::reqwest::Method::PATCH,
            &format!("/api/v1/tenants/{acme}/settings"),
            Some(&msp),
            Some(json!({"locale": "de"})),
            &[],
        )
        .await
        .expect(200);
    let su = rig.app.superuser().await;
    let sql =
        format!("SELECT settings::text AS s FROM counter.tenant_directory WHERE id = '{acme}'");
    let projected = rig
        .eventually(WAIT, || async {
            let row = su
                .query_one_raw(Statement::from_string(DbBackend::Postgres, sql.clone()))
                .await;
            let text = row
                .ok()
                .flatten()
                .and_then(|r| r.try_get::<String>("", "s").ok())
                .unwrap_or_default();
            text.replace(' ', "").contains("\"locale\":\"de\"")
        })
        .await;
    assert!(
        projected,
        "the settings override never reached the projection"
    );
    let _ = tx.send(true);
}

#[tokio::test]
async fn the_same_event_delivered_twice_has_one_effect() {
    let Some(rig) = Rig::new(&["identity.#"], "").await else {
        return;
    };
    rig.start_consumer().await;
    rig.relay().tick().await.ok();
    let applied = rig
        .eventually(WAIT, || async {
            rig.effects().await > 0 && rig.pending().await == 0
        })
        .await;
    assert!(applied);
    rig.eventually(Duration::from_secs(3), || async { false })
        .await;
    let before = rig.effects().await;
    // Re-publish every event the relay sent, byte for byte, as identity.
    let su = rig.app.superuser().await;
    let rows = su
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT routing_key, envelope FROM outbox",
        ))
        .await
        .unwrap_or_default();
    assert!(!rows.is_empty());
    for r in &rows {
        let key: String = r.try_get("", "routing_key").unwrap_or_default();
        let body: String = r.try_get("", "envelope").unwrap_or_default();
        publish_as(&rig.identity_url(), bus::EXCHANGE, &key, body.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let drained = rig
        .eventually(WAIT, || async {
            rabbit::queue_depths(&rig.amqp, "counter")
                .await
                .map(|(q, _)| q == 0)
                .unwrap_or(false)
        })
        .await;
    assert!(drained);
    assert_eq!(
        rig.effects().await,
        before,
        "duplicates must not be applied again"
    );
    assert_eq!(
        rig.count("SELECT count(DISTINCT event_id) FROM effects")
            .await,
        before
    );
    assert_eq!(before as usize, rows.len());
}

#[tokio::test]
async fn a_relay_killed_between_publish_and_mark_republishes_and_the_event_applies_once() {
    let Some(rig) = Rig::new(&["identity.#"], "").await else {
        return;
    };
    rig.start_consumer().await;
    let total = rig.pending().await;
    assert!(total > 0, "seeding queued events");
    let crashing = rig.relay().with_fault(std::sync::Arc::new(|p| {
        p == FaultPoint::AfterPublishBeforeMark
    }));
    let crashed = crashing.tick().await;
    assert!(
        crashed.is_err(),
        "the fault hook stops the relay after the confirm"
    );
    assert_eq!(rig.pending().await, total, "nothing was marked sent");
    // The consumer got the first publication.
    assert!(
        rig.eventually(WAIT, || async { rig.effects().await as u64 == total })
            .await
    );
    // A fresh relay publishes the same rows again; the consumer applies none of them twice.
    while rig.relay().tick().await.unwrap_or(0) > 0 {}
    assert_eq!(rig.pending().await, 0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        rig.eventually(WAIT, || async {
            rabbit::queue_depths(&rig.amqp, "counter")
                .await
                .map(|(q, _)| q == 0)
                .unwrap_or(false)
        })
        .await
    );
    assert_eq!(rig.effects().await as u64, total);
    assert_eq!(rig.count("SELECT count(*) FROM inbox").await as u64, total);
}

#[tokio::test]
async fn poison_goes_to_the_dlq_with_its_reason_and_replay_applies_it_after_a_fix() {
    let poison = uuid::Uuid::now_v7();
    let Some(rig) = Rig::new(&["identity.#"], &poison.to_string()).await else {
        return;
    };
    rig.start_consumer().await;
    let tenant: uuid::Uuid = rig
        .app
        .tenant_id("globex")
        .await
        .parse()
        .unwrap_or_default();
    let payload = events::identity::TenantStatusChanged {
        tenant_id: poison,
        status: "active".into(),
    };
    let env = Envelope::new(tenant, poison, 1, &payload, None).unwrap_or_else(|_| panic!());
    publish_as(
        &rig.identity_url(),
        bus::EXCHANGE,
        "identity.tenant.status_changed",
        &serde_json::to_vec(&env).unwrap_or_default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    publish_raw(
        &rig.amqp,
        "identity.tenant.status_changed",
        b"this is not an event",
    )
    .await;
    let dead = rig
        .eventually(WAIT, || async {
            rabbit::queue_depths(&rig.amqp, "counter")
                .await
                .map(|(_, d)| d == 2)
                .unwrap_or(false)
        })
        .await;
    assert!(dead, "both messages end in counter.dlq");
    assert_eq!(
        rig.count(&format!(
            "SELECT count(*) FROM effects WHERE subject = '{poison}'"
        ))
        .await,
        0
    );
    // The consumer keeps going: other events still apply.
    rig.relay().tick().await.ok();
    assert!(
        rig.eventually(WAIT, || async { rig.effects().await > 0 })
            .await
    );

    // The reason travels with the dead letter, and so does the sender the broker validated.
    let dead = peek(&rig.amqp, "counter.dlq").await;
    let reasons: Vec<&str> = dead.iter().map(|d| d.reason.as_str()).collect();
    assert_eq!(dead.len(), 2, "{reasons:?}");
    let poisoned = dead
        .iter()
        .find(|d| d.reason.contains("poison subject"))
        .unwrap_or_else(|| panic!("{reasons:?}"));
    assert_eq!(poisoned.original_user_id.as_deref(), Some("itsm-identity"));
    assert_eq!(
        poisoned.user_id.as_deref(),
        Some("guest"),
        "the consumer's own user"
    );
    let garbage = dead
        .iter()
        .find(|d| d.reason.contains("not a valid event envelope"))
        .unwrap_or_else(|| panic!("{reasons:?}"));
    assert_eq!(garbage.original_user_id, None);

    // The inspected messages are back in the dead-letter queue once their requeue completes
    // (replay moves only what is ready at that moment).
    let requeued = rig
        .eventually(WAIT, || async {
            rabbit::queue_depths(&rig.amqp, "counter")
                .await
                .is_ok_and(|(_, dead)| dead == 2)
        })
        .await;
    assert!(requeued, "both dead letters are ready again");
    // Fix the cause, replay: the poison event applies once; the garbage stays dead.
    rig.fixed.store(true, std::sync::atomic::Ordering::SeqCst);
    let outcome = rabbit::replay_dead_letters(&rig.amqp, &rig.runner)
        .await
        .unwrap_or((0, 0));
    assert_eq!(outcome, (1, 1), "(replayed, still failing)");
    assert_eq!(
        rig.count(&format!(
            "SELECT count(*) FROM effects WHERE subject = '{poison}'"
        ))
        .await,
        1
    );
    assert!(
        rig.eventually(WAIT, || async {
            rabbit::queue_depths(&rig.amqp, "counter")
                .await
                .map(|(_, d)| d == 1)
                .unwrap_or(false)
        })
        .await
    );
}

#[tokio::test]
async fn an_older_version_arriving_after_a_newer_one_changes_nothing() {
    let Some(rig) = Rig::new(&["test.none"], "").await else {
        return;
    };
    let db = rig.consumer_db.clone();
    let projection = std::sync::Arc::new(ConsumerRunner::new(
        db.clone(),
        std::sync::Arc::new(TenantDirectoryProjection {
            consumer: "directory",
        }),
    ));
    let (_tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(rabbit::consume(rig.amqp.clone(), projection, 1, rx.clone()));
    assert!(
        rig.eventually(WAIT, || async {
            rabbit::queue_depths(&rig.amqp, "directory").await.is_ok()
        })
        .await
    );
    tokio::spawn(rig.relay().run(rx));
    let demo: uuid::Uuid = rig.app.tenant_id("demo").await.parse().unwrap_or_default();
    let globex: uuid::Uuid = rig
        .app
        .tenant_id("globex")
        .await
        .parse()
        .unwrap_or_default();
    let directory = ProjectedDirectory { db: db.clone() };
    assert!(
        rig.eventually(WAIT, || async {
            directory
                .resolve(demo, "globex")
                .await
                .ok()
                .flatten()
                .is_some()
        })
        .await
    );

    // Versions are microsecond timestamps; these lie a little ahead of the seeded ones.
    let now = chrono::Utc::now().timestamp_micros();
    let newer = Envelope::new(
        globex,
        globex,
        now + 2,
        &events::identity::TenantStatusChanged {
            tenant_id: globex,
            status: "suspended".into(),
        },
        None,
    )
    .unwrap_or_else(|_| panic!());
    let older = Envelope::new(
        globex,
        globex,
        now + 1,
        &events::identity::TenantStatusChanged {
            tenant_id: globex,
            status: "active".into(),
        },
        None,
    )
    .unwrap_or_else(|_| panic!());
    publish_as(
        &rig.identity_url(),
        bus::EXCHANGE,
        "identity.tenant.status_changed",
        &serde_json::to_vec(&newer).unwrap_or_default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        rig.eventually(WAIT, || async {
            directory
                .resolve(demo, "globex")
                .await
                .ok()
                .flatten()
                .is_some_and(|t| !t.active)
        })
        .await
    );
    publish_as(
        &rig.identity_url(),
        bus::EXCHANGE,
        "identity.tenant.status_changed",
        &serde_json::to_vec(&older).unwrap_or_default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let drained = rig
        .eventually(WAIT, || async {
            rig.count(&format!(
                "SELECT count(*) FROM inbox WHERE event_id = '{}'",
                older.id
            ))
            .await
                == 1
        })
        .await;
    assert!(drained, "the older event was consumed");
    let info = directory.resolve(demo, "globex").await.ok().flatten();
    assert_eq!(
        info.map(|t| t.active),
        Some(false),
        "the stale event changed nothing"
    );

    // A version this consumer does not know goes straight to its DLQ; the consumer keeps going.
    let mut unknown = newer.clone();
    unknown.id = uuid::Uuid::now_v7();
    unknown.event_type = "itsm.identity.tenant.status_changed.v9".into();
    publish_as(
        &rig.identity_url(),
        bus::EXCHANGE,
        "identity.tenant.status_changed",
        &serde_json::to_vec(&unknown).unwrap_or_default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let dead = rig
        .eventually(WAIT, || async {
            rabbit::queue_depths(&rig.amqp, "directory")
                .await
                .map(|(_, d)| d == 1)
                .unwrap_or(false)
        })
        .await;
    assert!(dead, "the unknown version was dead-lettered");
    let again = Envelope::new(
        globex,
        globex,
        now + 3,
        &events::identity::TenantStatusChanged {
            tenant_id: globex,
            status: "active".into(),
        },
        None,
    )
    .unwrap_or_else(|_| panic!());
    publish_as(
        &rig.identity_url(),
        bus::EXCHANGE,
        "identity.tenant.status_changed",
        &serde_json::to_vec(&again).unwrap_or_default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        rig.eventually(WAIT, || async {
            directory
                .resolve(demo, "globex")
                .await
                .ok()
                .flatten()
                .is_some_and(|t| t.active)
        })
        .await
    );
}

#[tokio::test]
async fn ten_thousand_events_survive_a_broker_restart_each_applied_once() {
    let Some(rig) = Rig::new(&["identity.#"], "").await else {
        return;
    };
    let tenant: uuid::Uuid = rig
        .app
        .tenant_id("globex")
        .await
        .parse()
        .unwrap_or_default();
    let seeded = rig.pending().await as i64;
    fill_outbox(&rig.app.identity_db, tenant, 10_000).await;
    rig.start_consumer().await;
    rig.start_relay();
    // Let the stream start, then restart the broker under it.
    assert!(
        rig.eventually(WAIT, || async { rig.effects().await > 500 })
            .await
    );
    eprintln!("before restart: {} applied", rig.effects().await);
    assert!(
        testkit::rabbitmqctl(&["-q", "stop_app"]).await,
        "stop_app failed"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        testkit::rabbitmqctl(&["-q", "start_app"]).await,
        "start_app failed"
    );
    let all = rig
        .eventually(Duration::from_secs(180), || async {
            rig.effects().await >= 10_000 + seeded
        })
        .await;
    let applied = rig.effects().await;
    let depths = rabbit::queue_depths(&rig.amqp, "counter").await;
    let pending = rig.pending().await;
    assert!(
        all,
        "only {applied} of {} applied; queue/dlq {depths:?}; outbox pending {pending}",
        10_000 + seeded
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        rig.effects().await,
        10_000 + seeded,
        "no event applied twice"
    );
    assert_eq!(
        rig.count("SELECT count(DISTINCT event_id) FROM effects")
            .await,
        10_000 + seeded
    );
    assert_eq!(rig.pending().await, 0, "nothing left pending");
}

#[tokio::test]
async fn ten_thousand_events_survive_a_database_restart_each_applied_once() {
    let Some(pg) = testkit::PrivatePostgres::start() else {
        return;
    };
    let Some(rig) = Rig::on(&pg.url(), &["identity.#"], "").await else {
        return;
    };
    let tenant: uuid::Uuid = rig
        .app
        .tenant_id("globex")
        .await
        .parse()
        .unwrap_or_default();
    let seeded = rig.pending().await as i64;
    fill_outbox(&rig.app.identity_db, tenant, 10_000).await;
    rig.start_consumer().await;
    rig.start_relay();
    assert!(
        rig.eventually(WAIT, || async { rig.effects().await > 500 })
            .await
    );
    let before = rig.effects().await;
    pg.restart();
    let all = rig
        .eventually(Duration::from_secs(180), || async {
            rig.effects().await >= 10_000 + seeded
        })
        .await;
    let applied = rig.effects().await;
    assert!(
        all,
        "only {applied} of {} applied (restart at {before})",
        10_000 + seeded
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        rig.effects().await,
        10_000 + seeded,
        "no event applied twice"
    );
    assert_eq!(
        rig.count("SELECT count(DISTINCT event_id) FROM effects")
            .await,
        10_000 + seeded
    );
    assert_eq!(rig.pending().await, 0, "nothing left pending");
    let _ = rig.shutdown.send(true);
}

#[tokio::test]
async fn the_in_process_transport_has_the_same_semantics() {
    let Some(rig) = Rig::new(&["identity.#"], "").await else {
        return;
    };
    let transport = bus::inprocess::InProcess::new().subscribe(rig.runner.clone());
    let relay = bus::Relay::new(
        "identity",
        rig.app.identity_db.clone(),
        std::sync::Arc::new(transport),
    )
    .with_fault(std::sync::Arc::new(|p| {
        p == FaultPoint::AfterPublishBeforeMark
    }));
    let total = rig.pending().await as i64;
    assert!(relay.tick().await.is_err());
    assert_eq!(rig.effects().await, total, "delivered before the crash");
    let transport = bus::inprocess::InProcess::new().subscribe(rig.runner.clone());
    let relay = bus::Relay::new(
        "identity",
        rig.app.identity_db.clone(),
        std::sync::Arc::new(transport),
    );
    for _ in 0..100 {
        if rig.pending().await == 0 {
            break;
        }
        let _ = relay.tick().await;
    }
    assert_eq!(rig.pending().await, 0);
    assert_eq!(
        rig.effects().await,
        total,
        "redelivery applied nothing twice"
    );
    // Poison: retried, then a dead letter row; replay after the fix applies it.
    let poison = uuid::Uuid::now_v7();
    let mut runner = bus::ConsumerRunner::new(
        rig.consumer_db.clone(),
        std::sync::Arc::new(common::Counter {
            bindings: vec!["#".into()],
            poison: poison.to_string(),
            fixed: rig.fixed.clone(),
        }),
    );
    runner.max_attempts = 2;
    runner.retry_base = Duration::from_millis(10);
    let runner = std::sync::Arc::new(runner);
    let env = Envelope::new(
        uuid::Uuid::now_v7(),
        poison,
        1,
        &events::identity::TenantStatusChanged {
            tenant_id: poison,
            status: "active".into(),
        },
        None,
    )
    .unwrap_or_else(|_| panic!());
    let msg = bus::Message {
        id: env.id,
        producer: "identity",
        routing_key: "identity.tenant.status_changed".into(),
        body: serde_json::to_vec(&env).unwrap_or_default(),
    };
    assert!(runner.deliver(&msg).await.is_ok());
    assert_eq!(runner.dead_letters().await.map(|d| d.len()).unwrap_or(0), 1);
    rig.fixed.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(runner.replay_dead_letters().await.ok(), Some((1, 0)));
    assert_eq!(runner.dead_letters().await.map(|d| d.len()).unwrap_or(9), 0);
    assert_eq!(
        rig.count(&format!(
            "SELECT count(*) FROM effects WHERE subject = '{poison}'"
        ))
        .await,
        1
    );
}

/// Records the tenant scope each event was applied under, as its `subject`.
struct ScopeRecorder;

#[async_trait::async_trait]
impl bus::Handler for ScopeRecorder {
    fn consumer(&self) -> &'static str {
        "scopes"
    }
    fn bindings(&self) -> Vec<String> {
        vec!["#".into()]
    }
    async fn handle(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        env: &Envelope,
    ) -> Result<(), bus::HandlerError> {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO effects (event_id, subject) \
             VALUES ($1, current_setting('app.tenant_ids', true))",
            [env.id.into()],
        ))
        .await?;
        Ok(())
    }
}

fn message(env: &Envelope) -> bus::Message {
    bus::Message {
        id: env.id,
        producer: "identity",
        routing_key: "identity.tenant.status_changed".into(),
        body: serde_json::to_vec(env).unwrap_or_default(),
    }
}

#[tokio::test]
async fn an_in_process_batch_commits_once_each_event_in_its_tenants_scope() {
    let Some(rig) = Rig::new(&["identity.#"], "").await else {
        return;
    };
    let runner =
        bus::ConsumerRunner::new(rig.consumer_db.clone(), std::sync::Arc::new(ScopeRecorder));
    let tenants: Vec<uuid::Uuid> = (0..4).map(|_| uuid::Uuid::now_v7()).collect();
    let envs: Vec<Envelope> = tenants
        .iter()
        .map(|t| common::status(*t, "active", 1))
        .collect();
    let msgs: Vec<bus::Message> = envs.iter().map(message).collect();
    let batch: Vec<&bus::Message> = msgs.iter().collect();
    assert!(runner.deliver_all(&batch).await.is_ok());
    let ids: Vec<String> = envs.iter().map(|e| format!("'{}'", e.id)).collect();
    let among = format!("event_id IN ({})", ids.join(","));
    assert_eq!(
        rig.count(&format!("SELECT count(*) FROM effects WHERE {among}"))
            .await,
        4
    );
    assert_eq!(
        rig.count(&format!(
            "SELECT count(DISTINCT xmin::text) FROM effects WHERE {among}"
        ))
        .await,
        1,
        "one transaction for the batch"
    );
    for env in &envs {
        assert_eq!(
            rig.count(&format!(
                "SELECT count(*) FROM effects WHERE event_id = '{}' AND subject = '{}'",
                env.id, env.tenantid
            ))
            .await,
            1,
            "each event applied in its own tenant's scope only"
        );
    }
    // Delivered again: the inbox knows them all, nothing is applied twice.
    assert!(runner.deliver_all(&batch).await.is_ok());
    assert_eq!(
        rig.count(&format!("SELECT count(*) FROM effects WHERE {among}"))
            .await,
        4
    );
}

#[tokio::test]
async fn a_failing_event_in_an_in_process_batch_leaves_the_others_applied_once() {
    let Some(rig) = Rig::new(&["identity.#"], "").await else {
        return;
    };
    let poison = uuid::Uuid::now_v7();
    let mut runner = bus::ConsumerRunner::new(
        rig.consumer_db.clone(),
        std::sync::Arc::new(common::Counter {
            bindings: vec!["#".into()],
            poison: poison.to_string(),
            fixed: rig.fixed.clone(),
        }),
    );
    runner.max_attempts = 2;
    runner.retry_base = Duration::from_millis(10);
    let good: Vec<Envelope> = (0..3)
        .map(|_| common::status(uuid::Uuid::now_v7(), "active", 1))
        .collect();
    let bad = common::status(poison, "active", 1);
    let msgs: Vec<bus::Message> = [&good[0], &bad, &good[1], &good[2]]
        .into_iter()
        .map(message)
        .collect();
    let batch: Vec<&bus::Message> = msgs.iter().collect();
    assert!(runner.deliver_all(&batch).await.is_ok());
    for env in &good {
        assert_eq!(
            rig.count(&format!(
                "SELECT count(*) FROM effects WHERE event_id = '{}'",
                env.id
            ))
            .await,
            1,
            "applied once, after the batch fell back to one event at a time"
        );
    }
    let dead = runner.dead_letters().await.unwrap_or_default();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].body.contains(&poison.to_string()));
}
