//! The RabbitMQ transport: topology, publishing with confirms, consuming with retries and dead
//! letters, dead-letter replay, and queue depths.
//!
//! Topology: the topic exchange `itsm.events`; per consuming service a durable quorum queue
//! named after it, bound per routing-key pattern, with `x-delivery-limit` and dead-lettering to
//! the direct exchange `itsm.dlx`, which routes to `<service>.dlq`.
use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::{
    BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind,
    message::Delivery,
    options::*,
    types::{AMQPValue, FieldTable, ShortString},
};
use tokio::sync::{Mutex, watch};

use crate::{BusError, ConsumerRunner, DLX, EXCHANGE, Envelope, Message, Transport};

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

fn properties(msg_id: &uuid::Uuid) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/cloudevents+json".into())
        .with_message_id(msg_id.to_string().into())
}

/// Publishes to `itsm.events` with publisher confirms, pipelined per batch. Reconnects lazily
/// after any failure.
pub struct RabbitPublisher {
    url: String,
    channel: Mutex<Option<(Connection, Channel)>>,
}

impl RabbitPublisher {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
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
                        properties(&m.id),
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

/// Sends a delivery to the consumer's DLQ with the reason, then acks it.
async fn dead_letter(
    dl: &Channel,
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
    let props = d
        .properties
        .clone()
        .with_headers(headers)
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

async fn handle(runner: &ConsumerRunner, dl: &Channel, d: Delivery) -> Result<(), BusError> {
    let attempts = previous_deliveries(&d) + 1;
    let outcome = match Envelope::parse(&d.data) {
        Err(e) => Err((false, e.to_string())),
        Ok(env) => runner
            .apply_patiently(&env)
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
        let (runner, dl) = (runner.clone(), dl.clone());
        async move {
            match delivery {
                Ok(d) => {
                    if let Err(e) = handle(&runner, &dl, d).await {
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

/// Moves every message of `<consumer>.dlq` back to the consumer's queue. Returns how many.
pub async fn replay_dead_letters(url: &str, consumer: &str) -> Result<usize, BusError> {
    let conn = connect(url).await?;
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    // Only what is dead now: a message that fails again must not be replayed in a loop.
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let waiting = ch
        .queue_declare(
            dlq(consumer).as_str().into(),
            passive,
            FieldTable::default(),
        )
        .await?
        .message_count();
    let mut moved = 0;
    while moved < waiting as usize
        && let Some(msg) = ch
            .basic_get(dlq(consumer).as_str().into(), BasicGetOptions::default())
            .await?
    {
        let confirm = ch
            .basic_publish(
                "".into(),
                consumer.into(),
                BasicPublishOptions::default(),
                &msg.delivery.data,
                msg.delivery
                    .properties
                    .clone()
                    .with_headers(FieldTable::default()),
            )
            .await?
            .await?;
        if confirm.is_nack() {
            return Err(BusError::Broker("replay refused".into()));
        }
        msg.delivery.acker.ack(BasicAckOptions::default()).await?;
        moved += 1;
    }
    let _ = conn.close(200, "done".into()).await;
    Ok(moved)
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
