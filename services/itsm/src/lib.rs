//! The one `itsm` binary's library: composes the services into one process (or runs one),
//! migrates, seeds and writes the OpenAPI documents.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod load;

use std::{net::TcpListener, sync::Arc};

use actix_web::web;
use anyhow::Context;
use platform::{
    auth::{KeySource, RemoteJwks},
    db::DbReadiness,
    http::{Health, Register, Server},
    settings::Settings,
};
use tokio::sync::watch;

/// Every service this binary can run.
pub const SERVICES: &[&str] = &["identity", "incident"];

/// Running services and their HTTP server.
pub struct Application {
    pub server: Server,
    pub identity: Option<web::Data<identity::Identity>>,
    pub incident: Option<web::Data<incident::IncidentService>>,
    pub bus: bus::ops::BusRegistry,
}

/// Background workers (outbox relays, consumers, the SLA scheduler); stopped together.
pub struct Workers {
    shutdown: watch::Sender<bool>,
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl Workers {
    /// Signals every worker and waits for it to finish its current step.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for h in self.handles {
            let _ = h.await;
        }
    }
}

impl Application {
    /// Starts the outbox relays (RabbitMQ when `ITSM_AMQP_URL` is set, else in-process) and
    /// the consumers. With RabbitMQ, consumer queues are declared before any relay publishes.
    pub async fn start_workers(&self) -> anyhow::Result<Workers> {
        let (shutdown, rx) = watch::channel(false);
        let mut handles = Vec::new();
        let mut in_process = bus::inprocess::InProcess::new();
        for runner in &self.bus.consumers {
            match &self.bus.amqp_url {
                Some(url) => {
                    bus::rabbit::declare_consumer(url, runner)
                        .await
                        .map_err(|e| anyhow::anyhow!("declaring {}: {e}", runner.consumer()))?;
                    handles.push(tokio::spawn(bus::rabbit::consume(
                        url.clone(),
                        runner.clone(),
                        32,
                        rx.clone(),
                    )));
                }
                None => in_process = in_process.subscribe(runner.clone()),
            }
        }
        let transport: Arc<dyn bus::Transport> = match &self.bus.amqp_url {
            Some(url) => Arc::new(bus::rabbit::RabbitPublisher::new(url.clone())),
            None => Arc::new(in_process),
        };
        handles.push(tokio::spawn(bus::ops::report_depths(
            self.bus.clone(),
            std::time::Duration::from_secs(15),
            rx.clone(),
        )));
        for (name, db) in &self.bus.producers {
            tracing::info!(producer = name, "starting outbox relay");
            let relay = bus::Relay::new(db.clone(), transport.clone());
            handles.push(tokio::spawn(relay.run(rx.clone())));
        }
        if let Some(incident) = &self.incident {
            tracing::info!("starting the SLA scheduler");
            handles.push(tokio::spawn(
                incident
                    .sla_scheduler()
                    .run(std::time::Duration::from_secs(1), rx.clone()),
            ));
        }
        Ok(Workers { shutdown, handles })
    }
}

/// Runs the migrations of every service.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    identity::migrate(settings)
        .await
        .context("identity migrations")?;
    incident::migrate(settings)
        .await
        .context("incident migrations")?;
    Ok(())
}

/// Connects the services (all, or `only`) and binds the HTTP server (not yet awaited).
pub async fn build(settings: Arc<Settings>, only: Option<&str>) -> anyhow::Result<Application> {
    if let Some(name) = only
        && !SERVICES.contains(&name)
    {
        anyhow::bail!("unknown service {name:?}; known: {}", SERVICES.join(", "));
    }
    let runs = |name: &str| only.is_none_or(|o| o == name);
    let mut health = Health::default();
    let mut bus = bus::ops::BusRegistry {
        producers: Vec::new(),
        consumers: Vec::new(),
        amqp_url: settings.amqp_url.as_ref().map(|u| u.expose().to_string()),
    };
    let mut registers: Vec<Register> = Vec::new();

    let identity = if runs("identity") {
        let identity = web::Data::new(
            identity::Identity::connect(settings.clone())
                .await
                .context("connecting identity")?,
        );
        identity::seed::ensure_root(&identity.db)
            .await
            .map_err(|e| anyhow::anyhow!("creating the root tenant: {e}"))?;
        health = health.with(Arc::new(DbReadiness(identity.db.clone())));
        bus.producers.push(("identity", identity.db.clone()));
        Some(identity)
    } else {
        None
    };
    let incident = if runs("incident") {
        // In one process, tokens are verified with identity's keys directly; alone, via JWKS.
        let keys: Arc<dyn KeySource> = match &identity {
            Some(i) => i.keys.clone(),
            None => {
                let url = settings.auth_jwks_url.clone().ok_or_else(|| {
                    anyhow::anyhow!(
                        "ITSM_AUTH_JWKS_URL is required to run incident without identity"
                    )
                })?;
                let mut jwks = RemoteJwks::new(url);
                if let Some(redis) = &settings.redis_url {
                    jwks = jwks
                        .shared_through(redis.expose())
                        .map_err(|e| anyhow::anyhow!("ITSM_REDIS_URL: {e}"))?;
                }
                Arc::new(jwks)
            }
        };
        let incident = web::Data::new(
            incident::IncidentService::connect(&settings, keys)
                .await
                .context("connecting incident")?,
        );
        health = health.with(Arc::new(DbReadiness(incident.db.clone())));
        bus.producers.push(("incident", incident.db.clone()));
        bus.consumers.push(incident.identity_consumer());
        registers.push(incident::configure(incident.clone()));
        Some(incident)
    } else {
        None
    };
    // Specific prefixes first: actix routes into the first scope whose prefix matches.
    registers.insert(0, bus::ops::configure(bus.clone()));
    if let Some(identity) = &identity {
        registers.push(identity::configure(identity.clone()));
    }
    let listener = TcpListener::bind(&settings.listen)
        .with_context(|| format!("binding {}", settings.listen))?;
    let register: Register = Arc::new(move |cfg| {
        for r in &registers {
            r(cfg);
        }
    });
    // Every service verifies the same tokens; the edge guard may use either's context.
    let auth = identity
        .as_ref()
        .map(|i| i.auth.clone())
        .or_else(|| incident.as_ref().map(|i| i.auth.clone()));
    let idempotency = auth
        .map(|a| platform::idempotency::Idempotency::from_settings(&settings, a))
        .transpose()
        .map_err(|e| anyhow::anyhow!("idempotency store: {e}"))?
        .map(Arc::new);
    let server = platform::http::start(
        &settings,
        listener,
        "ITSM API",
        register,
        health,
        idempotency,
    )?;
    Ok(Application {
        server,
        identity,
        incident,
        bus,
    })
}

/// Writes one OpenAPI document per service and the merged `itsm.json` into `dir`.
pub fn write_openapi(dir: &std::path::Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let identity_register: Register = Arc::new(identity::routes::api);
    let incident_register: Register = Arc::new(incident::api);
    let bus_register: Register = Arc::new(bus::ops::api);
    let docs = [
        (
            "identity",
            platform::http::openapi_of("ITSM identity API", &identity_register),
        ),
        (
            "incident",
            platform::http::openapi_of("ITSM incident API", &incident_register),
        ),
        (
            "bus",
            platform::http::openapi_of("ITSM bus operator API", &bus_register),
        ),
    ];
    let mut merged = platform::http::openapi_base("ITSM API");
    let mut written = Vec::new();
    for (name, doc) in docs {
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, doc.to_pretty_json()? + "\n")?;
        written.push(path);
        merged.merge(doc);
    }
    let path = dir.join("itsm.json");
    std::fs::write(&path, merged.to_pretty_json()? + "\n")?;
    written.push(path);
    Ok(written)
}
