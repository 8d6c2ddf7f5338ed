//! The tenant-directory projection's invariants (ADR 19) and the suspension cascade (ADR 20),
//! on PostgreSQL through the in-process transport: identity's outbox is relayed into the
//! projection, then single messages are handed over as a relay would.

use std::{sync::Arc, time::Duration};

use crate::common::{Rig, created, micros_now, status, uuid};
use bus::{
    ConsumerRunner, Envelope, Message, Relay,
    directory::{ProjectedDirectory, TenantDirectoryProjection},
    inprocess::InProcess,
};
use platform::tenancy::TenantDirectory;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use uuid::Uuid;

/// Identity's demo tree projected into the rig's consumer schema.
struct Projected {
    rig: Rig,
    runner: Arc<ConsumerRunner>,
    directory: ProjectedDirectory,
    root: Uuid,
    demo: Uuid,
    globex: Uuid,
    initech: Uuid,
}

impl Projected {
    async fn new() -> Option<Projected> {
        let rig = Rig::new(&["test.none"], "").await?;
        let mut runner = ConsumerRunner::new(
            rig.consumer_db.clone(),
            Arc::new(TenantDirectoryProjection {
                consumer: "directory",
            }),
        );
        runner.max_attempts = 2;
        runner.retry_base = Duration::from_millis(10);
        let runner = Arc::new(runner);
        let relay = Relay::new(
            "identity",
            rig.app.identity_db.clone(),
            Arc::new(InProcess::new().subscribe(runner.clone())),
        );
        while relay.tick().await.unwrap_or(0) > 0 {}
        let directory = ProjectedDirectory {
            db: rig.consumer_db.clone(),
        };
        let id = |slug: &'static str| {
            let app = &rig.app;
            async move { uuid(&app.tenant_id(slug).await) }
        };
        let (root, demo, globex, initech) = (
            id("platform").await,
            id("demo").await,
            id("globex").await,
            id("initech").await,
        );
        Some(Projected {
            runner,
            directory,
            root,
            demo,
            globex,
            initech,
            rig,
        })
    }

    /// Hands `env` over as the relay of `producer` would.
    async fn deliver(&self, producer: &'static str, env: &Envelope) {
        let msg = Message {
            id: env.id,
            producer,
            routing_key: env.routing_key(),
            body: serde_json::to_vec(env).unwrap_or_else(|e| panic!("{e}")),
        };
        assert!(self.runner.deliver(&msg).await.is_ok());
    }

    /// The reasons of the projection's dead letters, oldest first.
    async fn dead_letters(&self) -> Vec<String> {
        self.runner
            .dead_letters()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|d| d.error)
            .collect()
    }

    /// (path, active) of the tenant with `slug` as seen from `home`.
    async fn seen(&self, home: Uuid, slug: &str) -> Option<(Vec<Uuid>, bool)> {
        self.directory
            .resolve(home, slug)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
            .map(|t| (t.path.iter().map(|t| t.as_uuid()).collect(), t.active))
    }

    /// Whether the tenant with `slug` is active as seen from `home`.
    async fn active(&self, home: Uuid, slug: &str) -> Option<bool> {
        self.seen(home, slug).await.map(|(_, active)| active)
    }

    /// Sets a projected row's version behind the consumer's back (as a row pinned before
    /// versions were bounded).
    async fn pin(&self, tenant: Uuid, version: i64) {
        let su = self.rig.app.superuser().await;
        let changed = su
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE counter.tenant_directory SET version = $1 WHERE id = $2",
                [version.into(), tenant.into()],
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(changed.rows_affected(), 1);
    }
}

#[tokio::test]
async fn events_handed_over_by_a_service_that_does_not_own_their_type_are_dead_lettered() {
    let Some(p) = Projected::new().await else {
        return;
    };
    let globex_path = vec![p.root, p.demo, p.globex];
    assert_eq!(
        p.seen(p.demo, "globex").await,
        Some((globex_path.clone(), true))
    );
    let other_msp = Uuid::now_v7();
    let now = micros_now();
    p.deliver(
        "incident",
        &created(p.globex, "globex", vec![p.root, other_msp, p.globex], now),
    )
    .await;
    p.deliver("incident", &status(p.globex, "suspended", now + 1))
        .await;
    assert_eq!(
        p.dead_letters().await,
        [
            "refused: itsm.identity.tenant.created.v1 belongs to identity (AMQP user \
             itsm-identity) but was published by the incident service (after 1 attempts)",
            "refused: itsm.identity.tenant.status_changed.v1 belongs to identity (AMQP user \
             itsm-identity) but was published by the incident service (after 1 attempts)",
        ]
    );
    assert_eq!(
        p.seen(p.demo, "globex").await,
        Some((globex_path.clone(), true))
    );
    assert_eq!(p.seen(other_msp, "globex").await, None);
    // Replay checks the recorded sender again: both stay dead.
    assert_eq!(p.runner.replay_dead_letters().await.ok(), Some((0, 2)));
    assert_eq!(p.dead_letters().await.len(), 2);
    assert_eq!(
        p.seen(p.demo, "globex").await,
        Some((globex_path.clone(), true))
    );
    // The same suspension from identity applies.
    p.deliver("identity", &status(p.globex, "suspended", now + 2))
        .await;
    assert_eq!(p.seen(p.demo, "globex").await, Some((globex_path, false)));
}

#[tokio::test]
async fn identity_cannot_move_a_tenant_with_tenant_created_nor_speak_for_another_tenant() {
    let Some(p) = Projected::new().await else {
        return;
    };
    let globex_path = vec![p.root, p.demo, p.globex];
    let now = micros_now();
    // The same tenant.created again changes nothing and is no error.
    p.deliver(
        "identity",
        &created(p.globex, "globex", globex_path.clone(), now),
    )
    .await;
    assert!(p.dead_letters().await.is_empty());
    // A tenant.created placing an existing tenant elsewhere is refused.
    let elsewhere = vec![p.root, p.demo, p.initech, p.globex];
    p.deliver("identity", &created(p.globex, "globex", elsewhere, now + 1))
        .await;
    let join = |path: &[Uuid]| {
        path.iter()
            .map(Uuid::to_string)
            .collect::<Vec<_>>()
            .join("/")
    };
    assert_eq!(
        p.dead_letters().await,
        [format!(
            "refused: tenant {} is at {}; tenant.created cannot move it to {} (after 1 attempts)",
            p.globex,
            join(&globex_path),
            join(&[p.root, p.demo, p.initech, p.globex])
        )]
    );
    assert_eq!(
        p.seen(p.demo, "globex").await,
        Some((globex_path.clone(), true))
    );
    assert_eq!(p.seen(p.initech, "globex").await, None);
    // A suspension of globex in an envelope of its MSP is refused; neither is suspended.
    let mut wrapped = status(p.globex, "suspended", now + 2);
    wrapped.tenantid = p.demo;
    wrapped.subject = p.demo.to_string();
    p.deliver("identity", &wrapped).await;
    let dead = p.dead_letters().await;
    assert_eq!(
        dead.last().map(String::as_str),
        Some(
            format!(
                "refused: itsm.identity.tenant.status_changed.v1 for tenant {} arrived in an \
                 envelope of tenant {} about {} (after 1 attempts)",
                p.globex, p.demo, p.demo
            )
            .as_str()
        )
    );
    assert_eq!(p.seen(p.demo, "globex").await, Some((globex_path, true)));
    assert_eq!(
        p.seen(p.demo, "demo").await.map(|(_, active)| active),
        Some(true)
    );
}

#[tokio::test]
async fn a_version_far_ahead_is_refused_and_never_outranks_a_real_suspension() {
    let Some(p) = Projected::new().await else {
        return;
    };
    let hour_ahead = micros_now() + 3_600_000_000;
    p.deliver("identity", &status(p.globex, "active", hour_ahead))
        .await;
    assert_eq!(
        p.dead_letters().await,
        [format!(
            "invalid event: aggregate version {hour_ahead} of \
             itsm.identity.tenant.status_changed.v1 is more than 300 s ahead of this \
             consumer's clock (after 1 attempts)"
        )]
    );
    // A row pinned at the end of time (before versions were bounded) outranks nothing: the
    // real suspension applies, and so does the reactivation after it.
    p.pin(p.globex, i64::MAX - 1).await;
    let now = micros_now();
    p.deliver("identity", &status(p.globex, "suspended", now))
        .await;
    assert_eq!(p.active(p.demo, "globex").await, Some(false));
    p.deliver("identity", &status(p.globex, "active", now + 1))
        .await;
    assert_eq!(p.active(p.demo, "globex").await, Some(true));
    // A stored version a minute ahead of this clock (within the lead) does not outrank a
    // suspension either.
    p.pin(p.globex, micros_now() + 60_000_000).await;
    p.deliver("identity", &status(p.globex, "suspended", micros_now()))
        .await;
    assert_eq!(p.active(p.demo, "globex").await, Some(false));
    assert_eq!(p.dead_letters().await.len(), 1);
}

#[tokio::test]
async fn a_suspended_msp_makes_every_tenant_below_it_inactive_in_the_projection() {
    let Some(p) = Projected::new().await else {
        return;
    };
    let now = micros_now();
    p.deliver("identity", &status(p.demo, "suspended", now))
        .await;
    assert_eq!(p.active(p.demo, "demo").await, Some(false));
    assert_eq!(p.active(p.demo, "globex").await, Some(false));
    assert_eq!(p.active(p.globex, "globex").await, Some(false));
    assert_eq!(p.active(p.initech, "initech").await, Some(false));
    assert_eq!(p.active(p.root, "platform").await, Some(true));
    // Reactivating the MSP brings its customers back.
    p.deliver("identity", &status(p.demo, "active", now + 1))
        .await;
    assert_eq!(p.active(p.globex, "globex").await, Some(true));
    assert_eq!(p.active(p.initech, "initech").await, Some(true));
    // A customer's own suspension stays its own.
    p.deliver("identity", &status(p.globex, "suspended", now + 2))
        .await;
    assert_eq!(p.active(p.globex, "globex").await, Some(false));
    assert_eq!(p.active(p.initech, "initech").await, Some(true));
    assert_eq!(p.active(p.demo, "demo").await, Some(true));
    assert!(p.dead_letters().await.is_empty());
}
