//! Consumers trust only the owner of an event (ADR 19), over real RabbitMQ and PostgreSQL: a
//! message another service's broker user (or a stranger) publishes — through `itsm.events` or
//! straight into a queue through the default exchange — changes nothing and is dead-lettered
//! with the reason; replay keeps the proof of origin; identity's real events still apply.
use crate::common;

use std::{sync::Arc, time::Duration};

use crate::common::{Rig, created, micros_now, peek, publish_as, publish_raw, status, uuid};
use bus::{
    ConsumerRunner, Envelope,
    directory::{ProjectedDirectory, TenantDirectoryProjection},
    rabbit,
};
use platform::tenancy::TenantDirectory;
use testkit::{TestApp, json};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

fn bytes(env: &Envelope) -> Vec<u8> {
    serde_json::to_vec(env).unwrap_or_else(|e| panic!("{e}"))
}

/// The platform on PostgreSQL and a fresh vhost, every service connecting as its own broker
/// user, with its relays and consumers running.
struct Platform {
    app: TestApp,
    amqp: String,
}

impl Platform {
    async fn start() -> Option<Platform> {
        let amqp = testkit::fresh_vhost().await?;
        let app = TestApp::builder().rabbitmq(&amqp).spawn().await?;
        Some(Platform { app, amqp })
    }

    fn url_as(&self, service: &str) -> String {
        testkit::amqp_url_as(&self.amqp, service)
    }

    /// Waits until `f` holds, up to [`WAIT`].
    async fn eventually<F, Fut>(&self, mut f: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = std::time::Instant::now() + WAIT;
        while std::time::Instant::now() < deadline {
            if f().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Waits until incident answers `token` (acting in `tenant`, if given) with `want`.
    async fn incident_answers(&self, token: &str, tenant: Option<&str>, want: u16) -> bool {
        let headers: Vec<(&str, &str)> = tenant.map(|t| ("x-tenant", t)).into_iter().collect();
        self.eventually(|| async {
            self.app
                .call(
                    testkit::reqwest::Method::GET,
                    "/api/v1/incidents",
                    Some(token),
                    None,
                    &headers,
                )
                .await
                .status
                .as_u16()
                == want
        })
        .await
    }

    /// Messages in incident's dead-letter queue, once there are `n`.
    async fn incident_dead_letters(&self, n: u32) -> Vec<common::DeadLetter> {
        let arrived = self
            .eventually(|| async {
                rabbit::queue_depths(&self.amqp, "incident")
                    .await
                    .is_ok_and(|(_, dead)| dead == n)
            })
            .await;
        let depths = rabbit::queue_depths(&self.amqp, "incident").await;
        assert!(arrived, "expected {n} dead letters; queue/dlq {depths:?}");
        peek(&self.amqp, "incident.dlq").await
    }

    /// Onboards `slug` below the tenant of `token`; its administrator accepts the invitation.
    /// Returns (tenant id, the administrator's token).
    async fn onboard(&self, token: &str, slug: &str) -> (String, String) {
        let admin = format!("admin@{slug}.example");
        let res = self
            .app
            .post(
                "/api/v1/tenants",
                token,
                json!({"name": slug, "slug": slug, "admin_email": admin}),
            )
            .await;
        let body = res.expect(201).clone();
        self.app
            .call(
                testkit::reqwest::Method::POST,
                "/api/v1/invitations/accept",
                None,
                Some(json!({"token": body["invitation"]["token"], "password": testkit::PASSWORD})),
                &[],
            )
            .await
            .expect(200);
        let id = body["tenant"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        (id, self.app.token(&admin).await)
    }
}

#[tokio::test]
async fn a_forged_reparent_published_with_another_services_credentials_changes_nothing() {
    let Some(p) = Platform::start().await else {
        return;
    };
    let agent = p.app.token("agent@globex.demo.test").await;
    assert!(p.incident_answers(&agent, None, 200).await);
    let platform = p.app.token("platform-admin@demo.test").await;
    // Another MSP, known to incident from identity's events.
    let (evil, evil_admin) = p.onboard(&platform, "evilmsp").await;
    assert!(p.incident_answers(&evil_admin, None, 200).await);

    let root = uuid(&p.app.tenant_id("platform").await);
    let globex_id = p.app.tenant_id("globex").await;
    let globex = uuid(&globex_id);
    let forged = created(
        globex,
        "globex",
        vec![root, uuid(&evil), globex],
        micros_now(),
    );

    // Through the events exchange the broker itself refuses it: incident's user may publish
    // only `incident.` routing keys there.
    let refused = publish_as(
        &p.url_as("incident"),
        bus::EXCHANGE,
        "identity.tenant.created",
        &bytes(&forged),
    )
    .await;
    let Err(error) = refused else {
        panic!("the topic permission must refuse identity's routing key to incident's user");
    };
    assert!(error.contains("ACCESS_REFUSED"), "{error}");

    // Straight into incident's queue through the default exchange, it reaches the consumer,
    // which dead-letters it with the reason.
    publish_as(&p.url_as("incident"), "", "incident", &bytes(&forged))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let dead = p.incident_dead_letters(1).await;
    assert_eq!(
        dead[0].reason,
        "refused: itsm.identity.tenant.created.v1 belongs to identity (AMQP user \
         itsm-identity) but was published by AMQP user itsm-incident (attempt 1)"
    );
    assert_eq!(dead[0].original_user_id.as_deref(), Some("itsm-incident"));
    assert_eq!(dead[0].user_id.as_deref(), Some("itsm-incident"));

    // The other MSP's admin neither reads nor creates incidents in the customer.
    let in_globex = [("x-tenant", globex_id.as_str())];
    let read = p
        .app
        .call(
            testkit::reqwest::Method::GET,
            "/api/v1/incidents",
            Some(&evil_admin),
            None,
            &in_globex,
        )
        .await;
    assert_eq!(read.expect(404)["code"], "not_found");
    let create = p
        .app
        .call(
            testkit::reqwest::Method::POST,
            "/api/v1/incidents",
            Some(&evil_admin),
            Some(json!({"title": "Planted", "impact": 2, "urgency": 2})),
            &in_globex,
        )
        .await;
    create.expect(404);
    // The customer's own MSP still reaches it, and its agent still works.
    let msp = p.app.token("msp-admin@demo.test").await;
    assert!(p.incident_answers(&msp, Some(&globex_id), 200).await);
    assert!(p.incident_answers(&agent, None, 200).await);

    // Replay does not launder it: the original sender is checked again, so it stays dead.
    let replay = p
        .app
        .post(
            "/api/v1/bus/consumers/incident/dead-letters/replay",
            &platform,
            json!({}),
        )
        .await;
    let out = replay.expect(200);
    assert_eq!(out["replayed"], 0);
    assert_eq!(out["still_failing"], 1);
    assert_eq!(p.incident_dead_letters(1).await.len(), 1);
    let read = p
        .app
        .call(
            testkit::reqwest::Method::GET,
            "/api/v1/incidents",
            Some(&evil_admin),
            None,
            &in_globex,
        )
        .await;
    read.expect(404);

    // Identity's real events still apply: a customer of the other MSP reaches incident.
    let (_, customer_admin) = p.onboard(&evil_admin, "evilco").await;
    assert!(p.incident_answers(&customer_admin, None, 200).await);
}

#[tokio::test]
async fn a_forged_version_far_ahead_changes_nothing_and_the_real_suspension_still_applies() {
    let Some(p) = Platform::start().await else {
        return;
    };
    let agent = p.app.token("agent@globex.demo.test").await;
    assert!(p.incident_answers(&agent, None, 200).await);
    let globex_id = p.app.tenant_id("globex").await;
    let globex = uuid(&globex_id);

    // "Active, at the end of time": incident's user through the default exchange, and a
    // stranger (no user_id) through the events exchange.
    let pin = status(globex, "active", i64::MAX - 1);
    publish_as(&p.url_as("incident"), "", "incident", &bytes(&pin))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut pin_again = pin.clone();
    pin_again.id = Uuid::now_v7();
    publish_raw(
        &p.amqp,
        "identity.tenant.status_changed",
        &bytes(&pin_again),
    )
    .await;
    let dead = p.incident_dead_letters(2).await;
    let mut reasons: Vec<&str> = dead.iter().map(|d| d.reason.as_str()).collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "refused: itsm.identity.tenant.status_changed.v1 belongs to identity (AMQP user \
             itsm-identity) but was published by AMQP user itsm-incident (attempt 1)",
            "refused: itsm.identity.tenant.status_changed.v1 belongs to identity (AMQP user \
             itsm-identity) but was published by a publisher that set no AMQP user_id \
             (attempt 1)",
        ]
    );

    // The MSP suspends the customer: incident refuses its agent.
    let msp = p.app.token("msp-admin@demo.test").await;
    p.app
        .post(
            &format!("/api/v1/tenants/{globex_id}/suspend"),
            &msp,
            json!({}),
        )
        .await
        .expect(200);
    assert!(
        p.incident_answers(&agent, None, 403).await,
        "the suspension never reached incident"
    );
    let res = p.app.get("/api/v1/incidents", &agent).await;
    assert_eq!(res.expect(403)["code"], "tenant_suspended");
    // And the reactivation after it.
    p.app
        .post(
            &format!("/api/v1/tenants/{globex_id}/reactivate"),
            &msp,
            json!({}),
        )
        .await
        .expect(200);
    assert!(p.incident_answers(&agent, None, 200).await);
}

/// The tenant-directory projection as a consumer of its own ("directory"), connected as
/// incident's broker user, fed by identity's relay.
async fn projection_on_rabbitmq(rig: &Rig, max_attempts: u32) -> ProjectedDirectory {
    let mut runner = ConsumerRunner::new(
        rig.consumer_db.clone(),
        Arc::new(TenantDirectoryProjection {
            consumer: "directory",
        }),
    );
    runner.max_attempts = max_attempts;
    runner.retry_base = Duration::from_millis(20);
    tokio::spawn(rabbit::consume(
        rig.incident_url(),
        Arc::new(runner),
        8,
        rig.shutdown.subscribe(),
    ));
    assert!(
        rig.eventually(WAIT, || async {
            rabbit::queue_depths(&rig.amqp, "directory").await.is_ok()
        })
        .await
    );
    rig.start_relay();
    ProjectedDirectory {
        db: rig.consumer_db.clone(),
    }
}

#[tokio::test]
async fn replay_applies_a_dead_letter_whose_original_sender_was_the_owner() {
    let Some(rig) = Rig::new(&["test.none"], "").await else {
        return;
    };
    let directory = projection_on_rabbitmq(&rig, 2).await;
    let demo = uuid(&rig.app.tenant_id("demo").await);
    let root = uuid(&rig.app.tenant_id("platform").await);
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
    // Identity suspends a tenant this consumer has not heard of yet: retried, then dead.
    let newcomer = Uuid::now_v7();
    let now = micros_now();
    publish_as(
        &rig.identity_url(),
        bus::EXCHANGE,
        "identity.tenant.status_changed",
        &bytes(&status(newcomer, "suspended", now)),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        rig.eventually(WAIT, || async {
            rabbit::queue_depths(&rig.amqp, "directory")
                .await
                .is_ok_and(|(_, dead)| dead == 1)
        })
        .await
    );
    let dead = peek(&rig.amqp, "directory.dlq").await;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        dead[0].reason,
        format!(
            "itsm.identity.tenant.status_changed.v1: tenant {newcomer} is not in this \
             service's directory yet (attempt 2)"
        )
    );
    assert_eq!(dead[0].original_user_id.as_deref(), Some("itsm-identity"));
    assert_eq!(dead[0].user_id.as_deref(), Some("itsm-incident"));

    // Its creation arrives; replay then applies the suspension, as identity's.
    publish_as(
        &rig.identity_url(),
        bus::EXCHANGE,
        "identity.tenant.created",
        &bytes(&created(
            newcomer,
            "newcomer",
            vec![root, demo, newcomer],
            now - 1,
        )),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        rig.eventually(WAIT, || async {
            directory
                .resolve(demo, "newcomer")
                .await
                .ok()
                .flatten()
                .is_some_and(|t| t.active)
        })
        .await
    );
    let runner = ConsumerRunner::new(
        rig.consumer_db.clone(),
        Arc::new(TenantDirectoryProjection {
            consumer: "directory",
        }),
    );
    let outcome = rabbit::replay_dead_letters(&rig.incident_url(), &runner).await;
    assert_eq!(outcome.ok(), Some((1, 0)), "(replayed, still failing)");
    let info = directory.resolve(demo, "newcomer").await.ok().flatten();
    assert_eq!(info.map(|t| t.active), Some(false));
    assert!(
        rig.eventually(WAIT, || async {
            rabbit::queue_depths(&rig.amqp, "directory")
                .await
                .is_ok_and(|(_, dead)| dead == 0)
        })
        .await
    );
    let _ = rig.shutdown.send(true);
}
