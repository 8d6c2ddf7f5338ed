//! Operator API (platform operators): bus status per service and dead-letter replay.
use std::{collections::BTreeMap, sync::Arc};

use actix_web::{HttpResponse, get, post, web};
use platform::{
    ApiError,
    auth::{Auth, scopes::BusAdmin},
};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{ConsumerRunner, relay};

/// The producers and consumers of this process.
#[derive(Clone, Default)]
pub struct BusRegistry {
    pub producers: Vec<(&'static str, DatabaseConnection)>,
    pub consumers: Vec<Arc<ConsumerRunner>>,
    /// Each service's RabbitMQ URL (logging in as its own broker user); empty when the
    /// in-process transport is in use.
    pub amqp_urls: BTreeMap<&'static str, String>,
}

impl BusRegistry {
    /// The RabbitMQ URL `service` connects with, when the RabbitMQ transport is in use.
    pub fn amqp_url(&self, service: &str) -> Option<&str> {
        self.amqp_urls.get(service).map(String::as_str)
    }

    /// Whether events travel through RabbitMQ (else in-process).
    pub fn uses_rabbitmq(&self) -> bool {
        !self.amqp_urls.is_empty()
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProducerStatus {
    pub service: String,
    pub outbox_pending: u64,
    pub oldest_pending_age_secs: f64,
}

#[derive(Serialize, ToSchema)]
pub struct ConsumerStatus {
    pub consumer: String,
    /// Messages waiting in the consumer's queue (RabbitMQ only).
    pub queued: Option<u32>,
    /// Dead letters waiting for replay.
    pub dead_letters: u64,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "transport": "in-process",
    "producers": [
        {
            "service": "identity",
            "outbox_pending": 0,
            "oldest_pending_age_secs": 0.0
        },
        {
            "service": "incident",
            "outbox_pending": 0,
            "oldest_pending_age_secs": 0.0
        }
    ],
    "consumers": [
        {
            "consumer": "incident",
            "queued": null,
            "dead_letters": 0
        }
    ]
}))]
pub struct BusStatus {
    /// `rabbitmq` or `in-process`.
    pub transport: String,
    pub producers: Vec<ProducerStatus>,
    pub consumers: Vec<ConsumerStatus>,
}

/// Event bus health: outbox backlogs and queue depths.
///
/// Per producing service, the outbox rows not yet published and the age of the oldest; per
/// consumer, its queue and dead-letter depth.
#[utoipa::path(
    tag = "bus",
    operation_id = "getBusStatus",
    responses((status = 200, description = "OK", body = BusStatus)),
    security(("bearer" = ["bus:admin"]))
)]
#[get("/status")]
pub async fn status(
    registry: web::Data<BusRegistry>,
    _auth: Auth<BusAdmin>,
) -> Result<HttpResponse, ApiError> {
    let mut producers = Vec::new();
    for (name, db) in &registry.producers {
        let s = relay::stats(db).await?;
        producers.push(ProducerStatus {
            service: name.to_string(),
            outbox_pending: s.pending,
            oldest_pending_age_secs: s.oldest_pending_age_secs,
        });
    }
    let mut consumers = Vec::new();
    for runner in &registry.consumers {
        let (queued, dead_letters) = match registry.amqp_url(runner.consumer()) {
            Some(url) => {
                let (q, d) = crate::rabbit::queue_depths(url, runner.consumer())
                    .await
                    .map_err(|e| ApiError::unavailable(e.to_string()))?;
                (Some(q), d as u64)
            }
            None => (None, runner.dead_letters().await?.len() as u64),
        };
        metrics::gauge!("bus_dlq_depth", "consumer" => runner.consumer()).set(dead_letters as f64);
        consumers.push(ConsumerStatus {
            consumer: runner.consumer().to_string(),
            queued,
            dead_letters,
        });
    }
    let transport = if registry.uses_rabbitmq() {
        "rabbitmq"
    } else {
        "in-process"
    };
    Ok(HttpResponse::Ok().json(BusStatus {
        transport: transport.into(),
        producers,
        consumers,
    }))
}

/// Publishes each consumer's queue depth (lag in messages) and dead-letter count as gauges
/// every `every`, until `shutdown`.
pub async fn report_depths(
    registry: BusRegistry,
    every: std::time::Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    while !*shutdown.borrow() {
        for runner in &registry.consumers {
            let consumer = runner.consumer();
            let depths = match registry.amqp_url(consumer) {
                Some(url) => crate::rabbit::queue_depths(url, consumer)
                    .await
                    .ok()
                    .map(|(q, d)| (Some(q as f64), d as f64)),
                None => runner
                    .dead_letters()
                    .await
                    .ok()
                    .map(|d| (None, d.len() as f64)),
            };
            if let Some((queued, dead)) = depths {
                if let Some(q) = queued {
                    metrics::gauge!("bus_consumer_queue_depth", "consumer" => consumer).set(q);
                }
                metrics::gauge!("bus_dlq_depth", "consumer" => consumer).set(dead);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "consumer": "incident",
    "replayed": 0,
    "still_failing": 0
}))]
pub struct ReplayOut {
    pub consumer: String,
    /// Dead letters applied again (each checked again for its original sender).
    pub replayed: usize,
    /// Dead letters that failed again or whose sender is not the event type's owner; they stay.
    pub still_failing: usize,
}

/// Apply a consumer's dead letters again.
///
/// Moves the events that exhausted their deliveries back to the consumer's queue, after the cause
/// has been fixed; effects stay exactly-once (the consumer's inbox skips events it already
/// applied).
#[utoipa::path(
    tag = "bus",
    operation_id = "replayDeadLetters",
    params(("consumer" = String, Path, description = "Consuming service")),
    responses((status = 200, description = "OK", body = ReplayOut)),
    security(("bearer" = ["bus:admin"]))
)]
#[post("/consumers/{consumer}/dead-letters/replay")]
pub async fn replay(
    registry: web::Data<BusRegistry>,
    _auth: Auth<BusAdmin>,
    consumer: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let runner = registry
        .consumers
        .iter()
        .find(|r| r.consumer() == consumer.as_str())
        .ok_or_else(|| ApiError::not_found("consumer"))?;
    let (replayed, still_failing) = match registry.amqp_url(runner.consumer()) {
        Some(url) => crate::rabbit::replay_dead_letters(url, runner)
            .await
            .map_err(|e| ApiError::unavailable(e.to_string()))?,
        None => runner.replay_dead_letters().await?,
    };
    Ok(HttpResponse::Ok().json(ReplayOut {
        consumer: runner.consumer().to_string(),
        replayed,
        still_failing,
    }))
}

/// The operator routes under `/api/v1/bus` (register before a broader `/api/v1` scope: actix
/// routes a request into the first scope whose prefix matches).
pub fn api(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(routes());
}

fn routes() -> utoipa_actix_web::scope::Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    utoipa_actix_web::scope::scope("/api/v1/bus")
        .service(status)
        .service(replay)
}

/// The operator routes with their state and the process's token verification (in their own
/// scope: a process that runs incident alone has no identity to lend its context at the root).
pub fn configure(
    registry: BusRegistry,
    auth: platform::auth::AuthContext,
) -> platform::http::Register {
    let data = web::Data::new(registry);
    let auth = web::Data::new(auth);
    Arc::new(
        move |cfg: &mut utoipa_actix_web::service_config::ServiceConfig| {
            cfg.service(routes().app_data(data.clone()).app_data(auth.clone()));
        },
    )
}
