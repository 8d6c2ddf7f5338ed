//! A producer (identity, spawned for real) and a consumer service with its own schema, joined
//! by a real RabbitMQ vhost. Identity publishes as its broker user `itsm-identity`; the test
//! consumers connect as `guest`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;
use bus::{ConsumerRunner, Envelope, Handler, HandlerError, Relay, rabbit};
use events::identity::{TenantCreated, TenantStatusChanged};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, Statement};
use sea_orm_migration::prelude::*;
use testkit::TestApp;
use tokio::sync::watch;
use uuid::Uuid;

/// Consumer tables plus `effects`, where the counting handler records each application.
pub struct CounterMigrator;

struct Effects;

impl MigrationName for Effects {
    fn name(&self) -> &str {
        "m_test_effects"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Effects {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // No primary key on purpose: a double application would show as two rows.
        m.get_connection()
            .execute_unprepared("CREATE TABLE IF NOT EXISTS effects (event_id uuid NOT NULL, subject text NOT NULL)")
            .await?;
        bus::migration::create_inbox(m).await?;
        bus::migration::create_tenant_directory(m).await
    }
}

#[async_trait::async_trait]
impl MigratorTrait for CounterMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(Effects)]
    }
}

/// Records every event it applies; fails (retryably) on subjects in `poison` until `fixed`.
pub struct Counter {
    pub bindings: Vec<String>,
    pub poison: String,
    pub fixed: Arc<AtomicBool>,
}

#[async_trait]
impl Handler for Counter {
    fn consumer(&self) -> &'static str {
        "counter"
    }
    fn bindings(&self) -> Vec<String> {
        self.bindings.clone()
    }
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        if env.subject == self.poison && !self.fixed.load(Ordering::SeqCst) {
            return Err(HandlerError::Failed("poison subject".into()));
        }
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO effects (event_id, subject) VALUES ($1, $2)",
            [env.id.into(), env.subject.clone().into()],
        ))
        .await?;
        Ok(())
    }
}

pub struct Rig {
    pub app: TestApp,
    pub amqp: String,
    pub consumer_db: DatabaseConnection,
    pub fixed: Arc<AtomicBool>,
    pub runner: Arc<ConsumerRunner>,
    pub shutdown: watch::Sender<bool>,
}

impl Rig {
    /// Identity on PostgreSQL without its own relay, a RabbitMQ vhost, and a counting consumer
    /// (schema `counter`) bound to `bindings`.
    pub async fn new(bindings: &[&str], poison: &str) -> Option<Rig> {
        Self::on(&testkit::admin_url(), bindings, poison).await
    }

    /// The same rig on the PostgreSQL server at `admin`.
    pub async fn on(admin: &str, bindings: &[&str], poison: &str) -> Option<Rig> {
        let amqp = testkit::fresh_vhost().await?;
        let app = TestApp::builder()
            .postgres(admin)
            .rabbitmq(&amqp)
            .without_workers()
            .spawn()
            .await?;
        let consumer_db = app.service_schema::<CounterMigrator>("counter").await;
        let fixed = Arc::new(AtomicBool::new(false));
        let handler = Counter {
            bindings: bindings.iter().map(|b| (*b).to_owned()).collect(),
            poison: poison.into(),
            fixed: fixed.clone(),
        };
        let mut runner = ConsumerRunner::new(consumer_db.clone(), Arc::new(handler));
        runner.max_attempts = 3;
        runner.retry_base = Duration::from_millis(50);
        let (shutdown, _) = watch::channel(false);
        Some(Rig {
            app,
            amqp,
            consumer_db,
            fixed,
            runner: Arc::new(runner),
            shutdown,
        })
    }

    /// Starts the consumer and waits until its queue exists (events published before a
    /// consumer's first start are not routed to it).
    pub async fn start_consumer(&self) {
        tokio::spawn(rabbit::consume(
            self.amqp.clone(),
            self.runner.clone(),
            32,
            self.shutdown.subscribe(),
        ));
        let declared = self
            .eventually(Duration::from_secs(10), || async {
                rabbit::queue_depths(&self.amqp, "counter").await.is_ok()
            })
            .await;
        assert!(declared, "the consumer never declared its queue");
    }

    /// Identity's relay, publishing as identity's broker user.
    pub fn relay(&self) -> Relay {
        Relay::new(
            "identity",
            self.app.identity_db.clone(),
            Arc::new(rabbit::RabbitPublisher::new(self.identity_url())),
        )
    }

    /// The vhost's URL as identity's broker user.
    pub fn identity_url(&self) -> String {
        testkit::amqp_url_as(&self.amqp, "identity")
    }

    /// The vhost's URL as incident's broker user.
    pub fn incident_url(&self) -> String {
        testkit::amqp_url_as(&self.amqp, "incident")
    }

    pub fn start_relay(&self) {
        tokio::spawn(self.relay().run(self.shutdown.subscribe()));
    }

    /// The count `sql` selects; -1 while the database cannot answer (a pooled connection that
    /// a restart closed fails once before the pool replaces it), so `eventually` asks again.
    pub async fn count(&self, sql: &str) -> i64 {
        match self
            .consumer_db
            .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
        {
            Ok(Some(row)) => row.try_get_by_index::<i64>(0).unwrap(),
            Ok(None) | Err(_) => -1,
        }
    }

    pub async fn effects(&self) -> i64 {
        self.count("SELECT count(*) FROM effects").await
    }

    pub async fn pending(&self) -> u64 {
        bus::relay::stats(&self.app.identity_db)
            .await
            .unwrap()
            .pending
    }

    /// Waits until `f` holds, up to `timeout`.
    pub async fn eventually<F, Fut>(&self, timeout: Duration, mut f: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if f().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }
}

/// Publishes `body` as the user of `url`, with that user as the AMQP `user_id` (as a service
/// does), to `exchange` with `routing_key` (`""` is the default exchange: the key names the
/// queue). Err when the broker refuses it (a topic permission).
pub async fn publish_as(
    url: &str,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
) -> Result<(), String> {
    use lapin::{BasicProperties, options::*};
    let user = rabbit::amqp_user(url).map_err(|e| e.to_string())?;
    let conn = rabbit::connect(url).await.map_err(|e| e.to_string())?;
    let ch = conn.create_channel().await.map_err(|e| e.to_string())?;
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let published = async {
        let confirm = ch
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_user_id(user.as_str().into()),
            )
            .await?
            .await?;
        Ok::<_, lapin::Error>(confirm)
    }
    .await;
    let _ = conn.close(200, "done".into()).await;
    match published {
        Ok(confirm) if confirm.is_ack() => Ok(()),
        Ok(_) => Err("the broker refused (nack) the message".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A message in a dead-letter queue.
#[derive(Debug)]
pub struct DeadLetter {
    /// `x-error`: why the consumer dead-lettered it.
    pub reason: String,
    /// The AMQP `user_id` of the dead letter (the consumer's user).
    pub user_id: Option<String>,
    /// `x-original-user-id`: the `user_id` the delivery carried.
    pub original_user_id: Option<String>,
}

/// Reads every message of `queue` (as `amqp`'s user) and puts them back, in order.
pub async fn peek(amqp: &str, queue: &str) -> Vec<DeadLetter> {
    use lapin::{options::*, types::AMQPValue};
    let conn = rabbit::connect(amqp).await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    let text = |v: Option<&AMQPValue>| match v {
        Some(AMQPValue::LongString(s)) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        _ => None,
    };
    let (mut seen, mut held) = (Vec::new(), Vec::new());
    while let Ok(Some(m)) = ch.basic_get(queue.into(), BasicGetOptions::default()).await {
        let headers = m.delivery.properties.headers().clone().unwrap_or_default();
        seen.push(DeadLetter {
            reason: text(headers.inner().get("x-error")).unwrap_or_default(),
            user_id: m
                .delivery
                .properties
                .user_id()
                .as_ref()
                .map(|u| u.as_str().to_string()),
            original_user_id: text(headers.inner().get(rabbit::ORIGINAL_USER_HEADER)),
        });
        held.push(m.delivery.acker);
    }
    for acker in held {
        acker
            .nack(BasicNackOptions {
                requeue: true,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let _ = conn.close(200, "done".into()).await;
    seen
}

/// Publishes raw bytes to the events exchange as `guest`, without a `user_id` (a stranger to
/// every consumer, or something that is not an event).
pub async fn publish_raw(amqp: &str, routing_key: &str, body: &[u8]) {
    use lapin::{BasicProperties, options::*};
    let conn = rabbit::connect(amqp).await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let confirm = ch
        .basic_publish(
            bus::EXCHANGE.into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack());
}

/// Writes `n` events straight into identity's outbox (as the relay's role), fast.
pub async fn fill_outbox(db: &DatabaseConnection, tenant: uuid::Uuid, n: usize) {
    use sea_orm::TransactionTrait;
    let txn = db.begin().await.unwrap();
    txn.execute_unprepared("SELECT set_config('app.outbox_relay', 'on', true)")
        .await
        .unwrap();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut sql = String::from(
            "INSERT INTO outbox (id, tenant_id, routing_key, envelope, created_at) VALUES ",
        );
        let mut values: Vec<sea_orm::Value> = Vec::new();
        for (i, _) in chunk.iter().enumerate() {
            let subject = uuid::Uuid::now_v7();
            let payload = events::identity::TenantStatusChanged {
                tenant_id: subject,
                status: "active".into(),
            };
            let env = Envelope::new(tenant, subject, 1, &payload, None).unwrap();
            let p = i * 3;
            sql.push_str(&format!(
                "{}(${}, ${}, 'identity.tenant.status_changed', ${}, now())",
                if i == 0 { "" } else { "," },
                p + 1,
                p + 2,
                p + 3
            ));
            values.push(env.id.into());
            values.push(tenant.into());
            values.push(serde_json::to_string(&env).unwrap().into());
        }
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await
        .unwrap();
    }
    txn.commit().await.unwrap();
}

// Identity's tenant events as a forger (or the real identity) would write them.

pub fn micros_now() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

pub fn uuid(s: &str) -> Uuid {
    Uuid::parse_str(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// `tenant.created` for `tenant` at `path` (root first), in an envelope about `tenant`.
pub fn created(tenant: Uuid, slug: &str, path: Vec<Uuid>, version: i64) -> Envelope {
    let payload = TenantCreated {
        tenant_id: tenant,
        parent_id: path.len().checked_sub(2).map(|i| path[i]),
        path,
        kind: "customer".into(),
        name: slug.into(),
        slug: slug.into(),
        status: "active".into(),
    };
    Envelope::new(tenant, tenant, version, &payload, None).unwrap_or_else(|e| panic!("{e}"))
}

pub fn status(tenant: Uuid, status: &str, version: i64) -> Envelope {
    let payload = TenantStatusChanged {
        tenant_id: tenant,
        status: status.into(),
    };
    Envelope::new(tenant, tenant, version, &payload, None).unwrap_or_else(|e| panic!("{e}"))
}
