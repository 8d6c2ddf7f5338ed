//! The in-process transport of the embedded mode: "publishing" hands each message to every
//! local consumer bound to its routing key and returns once each has applied (or dead-lettered)
//! it — so the relay marks a row sent only after its effects are committed, exactly like a
//! broker confirm followed by a consumer ack. A consumer applies its part of a batch in one
//! transaction where it can (`ConsumerRunner::deliver_all`). Each message names the service
//! whose outbox the relay drains; consumers apply only the types that service owns, as on
//! RabbitMQ (ADR 19).
use std::sync::Arc;

use async_trait::async_trait;

use crate::{BusError, ConsumerRunner, Message, Transport, topic_matches};

#[derive(Default, Clone)]
pub struct InProcess {
    consumers: Vec<(Vec<String>, Arc<ConsumerRunner>)>,
}

impl InProcess {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn subscribe(mut self, runner: Arc<ConsumerRunner>) -> Self {
        self.consumers.push((runner.handler.bindings(), runner));
        self
    }
}

#[async_trait]
impl Transport for InProcess {
    async fn publish(&self, batch: &[Message]) -> Result<(), BusError> {
        for (bindings, runner) in &self.consumers {
            let bound: Vec<&Message> = batch
                .iter()
                .filter(|msg| bindings.iter().any(|b| topic_matches(b, &msg.routing_key)))
                .collect();
            runner.deliver_all(&bound).await?;
        }
        Ok(())
    }
}
