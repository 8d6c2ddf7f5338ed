//! Consumers: each event is applied exactly once — the inbox row and the effect commit in one
//! transaction, and a duplicate delivery finds its id already in the inbox. Failures are
//! retried with back-off, then dead-lettered with the error. Nothing is applied unless the
//! transport proves that the service owning the event's type sent it (`provenance`).
use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use events::Envelope;
use platform::tenancy::{TenantId, begin_scoped, scope_to};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    QueryOrder,
    sea_query::{Expr, OnConflict},
};
use tracing::Instrument;

use crate::{
    BusError, Message,
    entities::{dead_letter, inbox},
    provenance::{self, Sender},
};

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A type (or version) this consumer does not know: dead-lettered at once.
    #[error("unknown event type {0}")]
    UnknownType(String),
    /// A payload that does not parse: dead-lettered at once.
    #[error("invalid event: {0}")]
    Invalid(String),
    /// Not sent by the service that owns its type, or breaking a projection's invariant:
    /// dead-lettered at once.
    #[error("refused: {0}")]
    Refused(String),
    /// Anything else: retried, then dead-lettered.
    #[error("{0}")]
    Failed(String),
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

impl HandlerError {
    pub fn retryable(&self) -> bool {
        matches!(self, HandlerError::Failed(_) | HandlerError::Db(_))
    }
}

impl From<events::EnvelopeError> for HandlerError {
    fn from(e: events::EnvelopeError) -> Self {
        HandlerError::Invalid(e.to_string())
    }
}

/// What a consuming service does with events.
#[async_trait]
pub trait Handler: Send + Sync {
    /// The consuming service (its queue is named after it).
    fn consumer(&self) -> &'static str;
    /// Routing-key patterns it subscribes to (`identity.tenant.*`).
    fn bindings(&self) -> Vec<String>;
    /// Applies the event inside `txn`, which is scoped to the event's tenant.
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError>;
    /// Runs once `env`'s effect is committed: the place to drop caches of what it changed (before
    /// the commit, a concurrent reader could cache the old state again).
    fn committed(&self, _env: &Envelope) {}
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Done,
    Duplicate,
}

/// Runs a handler against its service's database.
pub struct ConsumerRunner {
    pub db: DatabaseConnection,
    pub handler: Arc<dyn Handler>,
    /// Attempts before a failing event is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt (capped at 5 s).
    pub retry_base: Duration,
}

impl ConsumerRunner {
    pub fn new(db: DatabaseConnection, handler: Arc<dyn Handler>) -> Self {
        Self {
            db,
            handler,
            max_attempts: 5,
            retry_base: Duration::from_millis(200),
        }
    }

    pub fn consumer(&self) -> &'static str {
        self.handler.consumer()
    }

    pub fn backoff(&self, attempt: u32) -> Duration {
        (self.retry_base * 2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(Duration::from_secs(5))
    }

    /// Applies `env` once if `sender` is the service that owns its type; otherwise refuses it
    /// (the error is the dead-letter reason). Database outages are waited out as in
    /// [`apply_patiently`](Self::apply_patiently).
    pub async fn accept(&self, env: &Envelope, sender: &Sender) -> Result<Applied, HandlerError> {
        if let Err(reason) = provenance::verify(env, sender) {
            tracing::warn!(consumer = self.consumer(), event_id = %env.id, event_type = %env.event_type, reason, "event refused");
            metrics::counter!("bus_refused_total", "consumer" => self.consumer()).increment(1);
            return Err(HandlerError::Refused(reason));
        }
        self.apply_patiently(env).await
    }

    /// Applies `env` once: inbox row and effect in one transaction. Only for an event whose
    /// sender was verified.
    async fn apply(&self, env: &Envelope) -> Result<Applied, HandlerError> {
        let txn = begin_scoped(&self.db, &[TenantId(env.tenantid)]).await?;
        let applied = self.apply_in(&txn, env).instrument(self.span(env)).await?;
        match applied {
            Applied::Done => {
                txn.commit().await?;
                self.committed(env);
            }
            Applied::Duplicate => txn.rollback().await?,
        }
        Ok(applied)
    }

    fn span(&self, env: &Envelope) -> tracing::Span {
        let span = tracing::info_span!(
            "event.consume",
            consumer = self.consumer(),
            event_type = %env.event_type,
            event_id = %env.id,
            tenant_id = %env.tenantid,
        );
        crate::trace::continue_trace(&span, env.traceparent.as_deref());
        span
    }

    /// Records `env` in the inbox and applies its effect in `txn`, scoped to its tenant first;
    /// a duplicate changes nothing.
    async fn apply_in(
        &self,
        txn: &DatabaseTransaction,
        env: &Envelope,
    ) -> Result<Applied, HandlerError> {
        scope_to(txn, &[TenantId(env.tenantid)]).await?;
        let inserted = inbox::Entity::insert(inbox::ActiveModel {
            consumer: Set(self.consumer().to_string()),
            event_id: Set(env.id),
            processed_at: Set(chrono::Utc::now()),
        })
        .on_conflict(
            OnConflict::columns([inbox::Column::Consumer, inbox::Column::EventId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
        if inserted == 0 {
            metrics::counter!("bus_consumed_duplicates_total", "consumer" => self.consumer())
                .increment(1);
            return Ok(Applied::Duplicate);
        }
        self.handler.handle(txn, env).await?;
        Ok(Applied::Done)
    }

    /// After `env`'s effect committed: the handler's hook and the metrics.
    fn committed(&self, env: &Envelope) {
        self.handler.committed(env);
        let lag = (chrono::Utc::now() - env.time).num_milliseconds().max(0) as f64 / 1000.0;
        metrics::counter!("bus_consumed_total", "consumer" => self.consumer()).increment(1);
        metrics::histogram!("bus_consumer_lag_seconds", "consumer" => self.consumer()).record(lag);
    }

    /// In-process delivery of several messages: all applied in one transaction (one commit
    /// instead of one per event, so a consumer keeps up with a busy producer), each scoped to
    /// its own tenant. Should any of them be refused or fail, or the database be unavailable,
    /// nothing of the batch is kept and each message goes through [`deliver`](Self::deliver)
    /// alone, with its retries and dead letter.
    pub async fn deliver_all(&self, msgs: &[&Message]) -> Result<(), BusError> {
        if msgs.len() > 1 && self.apply_together(msgs).await {
            return Ok(());
        }
        for msg in msgs {
            self.deliver(msg).await?;
        }
        Ok(())
    }

    /// Applies `msgs` in one transaction; false (with nothing kept) if any cannot be.
    async fn apply_together(&self, msgs: &[&Message]) -> bool {
        let mut envs = Vec::with_capacity(msgs.len());
        for msg in msgs {
            let sender = Sender::Service(Some(msg.producer.to_string()));
            match Envelope::parse(&msg.body) {
                Ok(env) if provenance::verify(&env, &sender).is_ok() => envs.push(env),
                _ => return false,
            }
        }
        let Some(first) = envs.first() else {
            return true;
        };
        let Ok(txn) = begin_scoped(&self.db, &[TenantId(first.tenantid)]).await else {
            return false;
        };
        let mut done = Vec::with_capacity(envs.len());
        for env in &envs {
            match self.apply_in(&txn, env).instrument(self.span(env)).await {
                Ok(Applied::Done) => done.push(env),
                Ok(Applied::Duplicate) => {}
                Err(e) => {
                    tracing::debug!(consumer = self.consumer(), event_id = %env.id, error = %e, "batch falls back to one event at a time");
                    let _ = txn.rollback().await;
                    return false;
                }
            }
        }
        if txn.commit().await.is_err() {
            return false;
        }
        for env in done {
            self.committed(env);
        }
        true
    }

    /// [`apply`](Self::apply), waiting out database outages (up to two minutes) without
    /// counting them as failed attempts: an outage says nothing about the event.
    async fn apply_patiently(&self, env: &Envelope) -> Result<Applied, HandlerError> {
        let started = std::time::Instant::now();
        let mut wait = Duration::from_millis(100);
        loop {
            match self.apply(env).await {
                Err(HandlerError::Db(e))
                    if is_unavailable(&e) && started.elapsed() < Duration::from_secs(120) =>
                {
                    tracing::warn!(consumer = self.consumer(), error = %e, "database unavailable; waiting");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
                other => return other,
            }
        }
    }

    /// In-process delivery: checks that the producing service owns the event's type, retries
    /// failures with back-off, then records a dead letter. Returns once the event is applied or
    /// dead-lettered, so the relay may mark it sent.
    pub async fn deliver(&self, msg: &Message) -> Result<(), BusError> {
        let env = match Envelope::parse(&msg.body) {
            Ok(env) => env,
            Err(e) => return self.dead_letter(msg, &e.to_string()).await,
        };
        let sender = Sender::Service(Some(msg.producer.to_string()));
        let mut attempt = 1;
        loop {
            match self.accept(&env, &sender).await {
                Ok(_) => return Ok(()),
                Err(e) if e.retryable() && attempt < self.max_attempts => {
                    tracing::warn!(consumer = self.consumer(), attempt, error = %e, "event failed; retrying");
                    tokio::time::sleep(self.backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => {
                    return self
                        .dead_letter(msg, &format!("{e} (after {attempt} attempts)"))
                        .await;
                }
            }
        }
    }

    async fn dead_letter(&self, msg: &Message, error: &str) -> Result<(), BusError> {
        tracing::error!(consumer = self.consumer(), event_id = %msg.id, error, "event dead-lettered");
        metrics::counter!("bus_dead_lettered_total", "consumer" => self.consumer()).increment(1);
        dead_letter::Entity::insert(dead_letter::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            consumer: Set(self.consumer().to_string()),
            routing_key: Set(msg.routing_key.clone()),
            sender: Set(Some(msg.producer.to_string())),
            body: Set(String::from_utf8_lossy(&msg.body).into_owned()),
            error: Set(error.to_string()),
            created_at: Set(chrono::Utc::now()),
            replayed_at: Set(None),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    /// In-process dead letters not yet replayed.
    pub async fn dead_letters(&self) -> Result<Vec<dead_letter::Model>, BusError> {
        Ok(dead_letter::Entity::find()
            .filter(dead_letter::Column::Consumer.eq(self.consumer()))
            .filter(dead_letter::Column::ReplayedAt.is_null())
            .order_by_asc(dead_letter::Column::CreatedAt)
            .all(&self.db)
            .await?)
    }

    /// Applies each pending dead letter again, checking its recorded sender as on delivery;
    /// those that now succeed are marked replayed. Returns (replayed, still failing or refused).
    pub async fn replay_dead_letters(&self) -> Result<(usize, usize), BusError> {
        let (mut ok, mut failing) = (0, 0);
        for dl in self.dead_letters().await? {
            let sender = Sender::Service(dl.sender.clone());
            let applied = match Envelope::parse(dl.body.as_bytes()) {
                Ok(env) => match self.accept(&env, &sender).await {
                    Ok(_) => true,
                    Err(e) => {
                        tracing::warn!(consumer = self.consumer(), dead_letter = %dl.id, error = %e, "dead letter still fails");
                        false
                    }
                },
                Err(_) => false,
            };
            if applied {
                dead_letter::Entity::update_many()
                    .col_expr(
                        dead_letter::Column::ReplayedAt,
                        Expr::value(chrono::Utc::now()),
                    )
                    .filter(dead_letter::Column::Id.eq(dl.id))
                    .exec(&self.db)
                    .await?;
                ok += 1;
            } else {
                failing += 1;
            }
        }
        Ok((ok, failing))
    }
}

/// Whether a database error means "the database is unreachable right now" rather than "this
/// event cannot be applied".
pub fn is_unavailable(e: &DbErr) -> bool {
    if matches!(e, DbErr::ConnectionAcquire(_) | DbErr::Conn(_)) {
        return true;
    }
    let text = e.to_string().to_lowercase();
    [
        "connection",
        "communicating",
        "terminating",
        "shutting down",
        "the database system is",
        "broken pipe",
        "pool timed out",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}
