//! The RabbitMQ transport: topology, publishing with confirms, consuming with retries and dead
//! letters, dead-letter replay, and queue depths.
//!
//! Topology: the topic exchange `itsm.events`; per consuming service a durable quorum queue
//! named after it, bound per routing-key pattern, with `x-delivery-limit` and dead-lettering to
//! the direct exchange `itsm.dlx`, which routes to `<service>.dlq`.
//!
//! Origin (ADR 19): each service connects as its own broker user (`itsm-<service>`, from its
//! URL) and stamps that user as the AMQP `user_id` of what it publishes; the broker refuses any
//! other value. Consumers accept an event only from the user of the service that owns its type.
//! A consumer's own dead letters carry its own `user_id` and the delivery's validated one in
//! `x-original-user-id`, so replay can check the original sender again.
use std::{str::FromStr, sync::Arc, time::Duration};

use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::{
    BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind,
    message::Delivery,
    options::*,
    types::{AMQPValue, FieldTable, ShortString},
};
use tokio::sync::{Mutex, watch};

use crate::{
    BusError, ConsumerRunner, DLX, EXCHANGE, Envelope, Message, Transport,
    provenance::{Sender, amqp_user_of},
};

/// Header of a consumer's dead letter: the AMQP `user_id` the delivery carried (absent when it
/// carried none).
pub const ORIGINAL_USER_HEADER: &str = "x-original-user-id";

/// The broker user an AMQP URL logs in as (`guest` when the URL names none).
pub fn amqp_user(url: &str) -> Result<String, BusError> {
    lapin::uri::AMQPUri::from_str(url)
        .map(|uri| uri.authority.userinfo.username)
        .map_err(|e| BusError::Broker(format!("invalid AMQP URL: {e}")))
}

pub async fn connect(url: &str) -> Result<Connection, BusError> {
    let conn = tokio::time::timeout(
        Duration::from_secs(10),
        Connection::connect(url, ConnectionProperties::default()),
    )
    .await
    .map_err(|_| BusError::Broker("connection timed out".into()))??;
    Ok(conn)
}

fn dlq(consumer: &str) -> String {
    format!("{consumer}.dlq")
}

/// Declares the durable events exchange and the dead-letter exchange (idempotent).
pub async fn declare_exchanges(ch: &Channel) -> Result<(), BusError> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.exchange_declare(
        EXCHANGE.into(),
        ExchangeKind::Topic,
        durable,
        FieldTable::default(),
    )
    .await?;
    ch.exchange_declare(
        DLX.into(),
        ExchangeKind::Direct,
        durable,
        FieldTable::default(),
    )
    .await?;
    Ok(())
}

/// Declares the exchanges, the consumer's quorum queue with its bindings, and its DLQ.
pub async fn declare_topology(
    ch: &Channel,
    consumer: &str,
    bindings: &[String],
    delivery_limit: u32,
) -> Result<(), BusError> {
    declare_exchanges(ch).await?;
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    args.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongInt(delivery_limit as i32),
    );
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(DLX.into()),
    );
    args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(consumer.into()),
    );
    let qopts = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.queue_declare(consumer.into(), qopts, args).await?;
    let mut dlq_args = FieldTable::default();
    dlq_args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    ch.queue_declare(dlq(consumer).as_str().into(), qopts, dlq_args)
        .await?;
    ch.queue_bind(
        dlq(consumer).as_str().into(),
        DLX.into(),
        consumer.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await?;
    for key in bindings {
        ch.queue_bind(
            consumer.into(),
            EXCHANGE.into(),
            key.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    }
    Ok(())
}

fn properties(msg_id: &uuid::Uuid, user: &str) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/cloudevents+json".into())
        .with_message_id(msg_id.to_string().into())
        .with_user_id(user.into())
}

/// Publishes to `itsm.events` with publisher confirms, pipelined per batch, stamping its broker
/// user as `user_id`. Reconnects lazily after any failure.
pub struct RabbitPublisher {
    url: String,
    /// The user of `url` (empty when the URL does not parse; connecting fails then anyway).
    user: String,
    channel: Mutex<Option<(Connection, Channel)>>,
}

impl RabbitPublisher {
    pub fn new(url: impl Into<String>) -> Self {
        let url = url.into();
        Self {
            user: amqp_user(&url).unwrap_or_default(),
            url,
            channel: Mutex::new(None),
        }
    }

    async fn channel(&self) -> Result<Channel, BusError> {
        let mut slot = self.channel.lock().await;
        if let Some((conn, ch)) = slot.as_ref()
            && conn.status().connected()
            && ch.status().connected()
        {
            return Ok(ch.clone());
        }
        let conn = connect(&self.url).await?;
        let ch = conn.create_channel().await?;
        ch.confirm_select(ConfirmSelectOptions::default()).await?;
        declare_exchanges(&ch).await?;
        *slot = Some((conn, ch.clone()));
        Ok(ch)
    }

    async fn reset(&self) {
        *self.channel.lock().await = None;
    }
}

#[async_trait]
impl Transport for RabbitPublisher {
    async fn publish(&self, batch: &[Message]) -> Result<(), BusError> {
        // Consumers would refuse (dead-letter) a service's events sent under another user.
        if let Some(m) = batch.iter().find(|m| amqp_user_of(m.producer) != self.user) {
            return Err(BusError::Broker(format!(
                "{}'s events must be published as AMQP user {}, not {}",
                m.producer,
                amqp_user_of(m.producer),
                self.user
            )));
        }
        let result = async {
            let ch = self.channel().await?;
            let mut confirms = Vec::with_capacity(batch.len());
            for m in batch {
                confirms.push(
                    ch.basic_publish(
                        EXCHANGE.into(),
                        m.routing_key.as_str().into(),
                        BasicPublishOptions::default(),
                        &m.body,
                        properties(&m.id, &self.user),
                    )
                    .await?,
                );
            }
            for c in confirms {
                let confirmation = tokio::time::timeout(Duration::from_secs(30), c)
                    .await
                    .map_err(|_| BusError::Broker("publisher confirm timed out".into()))??;
                if confirmation.is_nack() {
                    return Err(BusError::Broker("broker refused (nack) a message".into()));
                }
            }
            Ok(())
        }
        .await;
        if result.is_err() {
            self.reset().await;
        }
        result
    }
}

/// How many times the broker delivered this message before (quorum queues count it).
fn previous_deliveries(d: &Delivery) -> u32 {
    d.properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get("x-delivery-count").cloned())
        .and_then(|v| match v {
            AMQPValue::LongLongInt(n) => Some(n as u32),
            AMQPValue::LongInt(n) => Some(n as u32),
            AMQPValue::LongUInt(n) => Some(n),
            AMQPValue::ShortInt(n) => Some(n as u32),
            _ => None,
        })
        .unwrap_or(0)
}

/// The `user_id` the broker validated on a delivery.
fn user_id(d: &Delivery) -> Option<String> {
    d.properties
        .user_id()
        .as_ref()
        .map(|u| u.as_str().to_string())
}

/// A string header of a delivery.
fn header(d: &Delivery, name: &str) -> Option<String> {
    match d.properties.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

/// Who sent a dead letter in the first place. One this consumer wrote (its own `user_id`)
/// names the original sender in [`ORIGINAL_USER_HEADER`] — written only by this consumer, from
/// the broker-validated delivery; any other (dead-lettered by the broker itself, which keeps
/// the properties, or put there by someone else) is judged by its own validated `user_id`.
fn dead_letter_sender(d: &Delivery, me: &str) -> Sender {
    match user_id(d) {
        Some(user) if user == me => Sender::Amqp(header(d, ORIGINAL_USER_HEADER)),
        other => Sender::Amqp(other),
    }
}

/// Sends a delivery to the consumer's DLQ with the reason (as this consumer's user `me`,
/// keeping the delivery's validated `user_id` in [`ORIGINAL_USER_HEADER`]), then acks it.
async fn dead_letter(
    dl: &Channel,
    me: &str,
    consumer: &str,
    d: &Delivery,
    error: &str,
    attempts: u32,
) -> Result<(), BusError> {
    tracing::error!(consumer, error, attempts, "event dead-lettered");
    metrics::counter!("bus_dead_lettered_total", "consumer" => consumer.to_string()).increment(1);
    let mut headers = FieldTable::default();
    headers.insert("x-error".into(), AMQPValue::LongString(error.into()));
    headers.insert(
        "x-original-routing-key".into(),
        AMQPValue::LongString(d.routing_key.as_str().into()),
    );
    headers.insert("x-attempts".into(), AMQPValue::LongInt(attempts as i32));
    if let Some(original) = user_id(d) {
        headers.insert(
            ORIGINAL_USER_HEADER.into(),
            AMQPValue::LongString(original.as_str().into()),
        );
    }
    // The broker accepts only our own user as `user_id`.
    let props = d
        .properties
        .clone()
        .with_headers(headers)
        .with_user_id(me.into())
        .with_delivery_mode(2);
    let confirm = dl
        .basic_publish(
            DLX.into(),
            consumer.into(),
            BasicPublishOptions::default(),
            &d.data,
            props,
        )
        .await?
        .await?;
    if confirm.is_nack() {
        return Err(BusError::Broker("dead letter refused".into()));
    }
    d.acker.ack(BasicAckOptions::default()).await?;
    Ok(())
}

async fn handle(
    runner: &ConsumerRunner,
    me: &str,
    dl: &Channel,
    d: Delivery,
) -> Result<(), BusError> {
    let attempts = previous_deliveries(&d) + 1;
    let outcome = match Envelope::parse(&d.data) {
        Err(e) => Err((false, e.to_string())),
        Ok(env) => runner
            .accept(&env, &Sender::Amqp(user_id(&d)))
            .await
            .map(|_| ())
            .map_err(|e| (e.retryable(), e.to_string())),
    };
    match outcome {
        Ok(()) => {
            d.acker.ack(BasicAckOptions::default()).await?;
        }
        Err((true, error)) if attempts < runner.max_attempts => {
            tracing::warn!(
                consumer = runner.consumer(),
                attempts,
                error,
                "event failed; will retry"
            );
            tokio::time::sleep(runner.backoff(attempts)).await;
            d.acker
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await?;
        }
        Err((_, error)) => {
            dead_letter(
                dl,
                me,
                runner.consumer(),
                &d,
                &format!("{error} (attempt {attempts})"),
                attempts,
            )
            .await?
        }
    }
    Ok(())
}

/// Consumes the runner's queue until `shutdown`, reconnecting with back-off when the broker
/// goes away. Up to `prefetch` deliveries are applied concurrently.
pub async fn consume(
    url: String,
    runner: Arc<ConsumerRunner>,
    prefetch: u16,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(200);
    while !*shutdown.borrow() {
        match consume_once(&url, &runner, prefetch, shutdown.clone()).await {
            Ok(()) => backoff = Duration::from_millis(200),
            Err(e) => {
                tracing::warn!(consumer = runner.consumer(), error = %e, retry_in_ms = backoff.as_millis() as u64, "consumer disconnected");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Delivery limit on the queue: our own retries dead-letter first (with the error); the
/// broker's limit catches consumers that crash while handling.
fn delivery_limit(runner: &ConsumerRunner) -> u32 {
    runner.max_attempts + 2
}

/// Declares a consumer's queue, bindings and DLQ now, so events published from here on reach
/// it even before its consumer loop is up.
pub async fn declare_consumer(url: &str, runner: &ConsumerRunner) -> Result<(), BusError> {
    let conn = connect(url).await?;
    let ch = conn.create_channel().await?;
    declare_topology(
        &ch,
        runner.consumer(),
        &runner.handler.bindings(),
        delivery_limit(runner),
    )
    .await?;
    let _ = conn.close(200, "declared".into()).await;
    Ok(())
}

async fn consume_once(
    url: &str,
    runner: &Arc<ConsumerRunner>,
    prefetch: u16,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), BusError> {
    let me = amqp_user(url)?;
    let conn = connect(url).await?;
    let ch = conn.create_channel().await?;
    declare_topology(
        &ch,
        runner.consumer(),
        &runner.handler.bindings(),
        delivery_limit(runner),
    )
    .await?;
    let dl = conn.create_channel().await?;
    dl.confirm_select(ConfirmSelectOptions::default()).await?;
    ch.basic_qos(prefetch, BasicQosOptions::default()).await?;
    let consumer = ch
        .basic_consume(
            runner.consumer().into(),
            ShortString::from(format!("{}-{}", runner.consumer(), uuid::Uuid::now_v7())),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let work = consumer.for_each_concurrent(prefetch as usize, |delivery| {
        let (runner, dl, me) = (runner.clone(), dl.clone(), me.clone());
        async move {
            match delivery {
                Ok(d) => {
                    if let Err(e) = handle(&runner, &me, &dl, d).await {
                        tracing::warn!(error = %e, "delivery handling failed; the broker will redeliver");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "consumer stream error"),
            }
        }
    });
    // A consumer stream does not always end when the connection dies; watch the connection.
    let watchdog = async {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if !conn.status().connected() {
                return;
            }
        }
    };
    tokio::select! {
        _ = work => Err(BusError::Broker("consumer stream ended".into())),
        _ = watchdog => Err(BusError::Broker("connection lost".into())),
        _ = shutdown.changed() => {
            let _ = conn.close(200, "shutdown".into()).await;
            Ok(())
        }
    }
}

/// Applies the messages now in `<consumer>.dlq` again, in this process, checking each one's
/// original sender as on delivery (see [`dead_letter_sender`]). Dead letters that apply are
/// removed; those that fail again or are refused stay, in their order. Returns (replayed, still
/// failing or refused).
///
/// Applying here rather than sending them back to the queue keeps the proof of origin: a
/// message republished by this consumer would carry its `user_id`, not the owner's.
pub async fn replay_dead_letters(
    url: &str,
    runner: &ConsumerRunner,
) -> Result<(usize, usize), BusError> {
    let me = amqp_user(url)?;
    let dlq = dlq(runner.consumer());
    let conn = connect(url).await?;
    let ch = conn.create_channel().await?;
    // Only what is dead now: a message that fails again must not be replayed in a loop.
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let waiting = ch
        .queue_declare(dlq.as_str().into(), passive, FieldTable::default())
        .await?
        .message_count() as usize;
    let (mut replayed, mut kept) = (0, Vec::new());
    while replayed + kept.len() < waiting
        && let Some(msg) = ch
            .basic_get(dlq.as_str().into(), BasicGetOptions::default())
            .await?
    {
        let d = msg.delivery;
        let outcome = match Envelope::parse(&d.data) {
            Ok(env) => runner
                .accept(&env, &dead_letter_sender(&d, &me))
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(_) => {
                d.acker.ack(BasicAckOptions::default()).await?;
                replayed += 1;
            }
            Err(error) => {
                tracing::warn!(
                    consumer = runner.consumer(),
                    error,
                    "dead letter still fails"
                );
                // Held unacknowledged until the end, so the next get returns the next one.
                kept.push(d.acker);
            }
        }
    }
    let failing = kept.len();
    for acker in kept {
        acker
            .nack(BasicNackOptions {
                requeue: true,
                ..Default::default()
            })
            .await?;
    }
    let _ = conn.close(200, "done".into()).await;
    Ok((replayed, failing))
}

/// Messages waiting in the consumer's queue and in its DLQ.
pub async fn queue_depths(url: &str, consumer: &str) -> Result<(u32, u32), BusError> {
    let conn = connect(url).await?;
    let ch = conn.create_channel().await?;
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let q = ch
        .queue_declare(consumer.into(), passive, FieldTable::default())
        .await?;
    let d = ch
        .queue_declare(
            dlq(consumer).as_str().into(),
            passive,
            FieldTable::default(),
        )
        .await?;
    let _ = conn.close(200, "done".into()).await;
    Ok((q.message_count(), d.message_count()))
}
