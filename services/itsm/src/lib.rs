//! The one `itsm` binary's library: composes the services into one process (or runs one),
//! migrates, seeds and writes the OpenAPI documents.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod demo;
pub mod load;

use std::{net::TcpListener, sync::Arc};

use actix_web::web;
use anyhow::Context;
use platform::{
    auth::{KeySource, RemoteJwks, VerifierReadiness},
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
    /// Starts the outbox relays (RabbitMQ when AMQP URLs are set, else in-process) and the
    /// consumers. With RabbitMQ, each service connects with its own URL (its broker user), and
    /// consumer queues are declared before any relay publishes.
    pub async fn start_workers(&self) -> anyhow::Result<Workers> {
        let (shutdown, rx) = watch::channel(false);
        let mut handles = Vec::new();
        let mut in_process = bus::inprocess::InProcess::new();
        for runner in &self.bus.consumers {
            match self.bus.amqp_url(runner.consumer()) {
                Some(url) => {
                    bus::rabbit::declare_consumer(url, runner)
                        .await
                        .map_err(|e| anyhow::anyhow!("declaring {}: {e}", runner.consumer()))?;
                    handles.push(tokio::spawn(bus::rabbit::consume(
                        url.to_string(),
                        runner.clone(),
                        32,
                        rx.clone(),
                    )));
                }
                None => in_process = in_process.subscribe(runner.clone()),
            }
        }
        let in_process: Arc<dyn bus::Transport> = Arc::new(in_process);
        handles.push(tokio::spawn(bus::ops::report_depths(
            self.bus.clone(),
            std::time::Duration::from_secs(15),
            rx.clone(),
        )));
        for (name, db) in &self.bus.producers {
            tracing::info!(producer = name, "starting outbox relay");
            let transport: Arc<dyn bus::Transport> = match self.bus.amqp_url(name) {
                Some(url) => Arc::new(bus::rabbit::RabbitPublisher::new(url)),
                None => in_process.clone(),
            };
            let relay = bus::Relay::new(name, db.clone(), transport);
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

/// The RabbitMQ URL of each service this process runs (all, or `only`); empty for the
/// in-process transport. Each must log in as the service's own broker user, `itsm-<service>`:
/// consumers accept a service's events only from that user (ADR 19).
pub fn amqp_urls(
    settings: &Settings,
    only: Option<&str>,
) -> anyhow::Result<std::collections::BTreeMap<&'static str, String>> {
    let mut urls = std::collections::BTreeMap::new();
    if settings.amqp_url.is_none() && settings.amqp_urls.is_empty() {
        return Ok(urls);
    }
    if let Some(unknown) = settings
        .amqp_urls
        .keys()
        .find(|k| !SERVICES.contains(&k.as_str()))
    {
        anyhow::bail!(
            "ITSM_AMQP_URLS names unknown service {unknown:?}; known: {}",
            SERVICES.join(", ")
        );
    }
    for &service in SERVICES.iter().filter(|s| only.is_none_or(|o| o == **s)) {
        let url = settings
            .amqp_urls
            .get(service)
            .or(settings.amqp_url.as_ref())
            .ok_or_else(|| {
                anyhow::anyhow!("no RabbitMQ URL for {service}: set it in ITSM_AMQP_URLS")
            })?
            .expose()
            .to_string();
        let user = bus::rabbit::amqp_user(&url).map_err(|e| anyhow::anyhow!("{service}: {e}"))?;
        let expected = bus::provenance::amqp_user_of(service);
        if user != expected {
            anyhow::bail!(
                "the RabbitMQ URL of {service} logs in as {user:?}; {service} must connect as \
                 {expected:?}, the only user other services accept its events from (ADR 19)"
            );
        }
        urls.insert(service, url);
    }
    Ok(urls)
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
        amqp_urls: amqp_urls(&settings, only)?,
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
                // Only a copy authenticated with the shared key is ever trusted.
                if let (Some(redis), Some(key)) =
                    (&settings.redis_url, &settings.auth_jwks_shared_key)
                {
                    jwks = jwks
                        .shared_through(redis.expose(), key.expose().as_bytes())
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
        // Not ready until the verification keys are held, so no request meets an empty set.
        health = health.with(Arc::new(VerifierReadiness(incident.auth.verifier.clone())));
        bus.producers.push(("incident", incident.db.clone()));
        bus.consumers.push(incident.identity_consumer());
        registers.push(incident::configure(incident.clone()));
        Some(incident)
    } else {
        None
    };
    // Every service verifies the same tokens; the edge guard and the bus operator routes use
    // the context of whichever runs here (alone, incident's: identity's is not in the process).
    let auth = identity
        .as_ref()
        .map(|i| i.auth.clone())
        .or_else(|| incident.as_ref().map(|i| i.auth.clone()))
        .ok_or_else(|| anyhow::anyhow!("no service runs in this process"))?;
    // Specific prefixes first: actix routes into the first scope whose prefix matches.
    registers.insert(0, bus::ops::configure(bus.clone(), auth.clone()));
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
    let idempotency = Some(Arc::new(
        platform::idempotency::Idempotency::from_settings(&settings, auth)
            .map_err(|e| anyhow::anyhow!("idempotency store: {e}"))?,
    ));
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

#[cfg(test)]
mod tests {
    use platform::settings::Secret;

    use super::*;

    fn with(amqp_url: Option<&str>, per_service: &[(&str, &str)]) -> Settings {
        Settings {
            amqp_url: amqp_url.map(Secret::new),
            amqp_urls: per_service
                .iter()
                .map(|(s, u)| (s.to_string(), Secret::new(*u)))
                .collect(),
            ..Settings::default()
        }
    }

    fn urls(
        settings: &Settings,
        only: Option<&str>,
    ) -> Result<Vec<(&'static str, String)>, String> {
        amqp_urls(settings, only)
            .map(|m| m.into_iter().collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn without_amqp_urls_events_stay_in_process() {
        assert_eq!(urls(&with(None, &[]), None), Ok(vec![]));
    }

    #[test]
    fn each_service_connects_with_its_own_url() {
        let settings = with(
            None,
            &[
                ("identity", "amqp://itsm-identity:a@mq/%2f"),
                ("incident", "amqp://itsm-incident:b@mq/%2f"),
            ],
        );
        assert_eq!(
            urls(&settings, None),
            Ok(vec![
                ("identity", "amqp://itsm-identity:a@mq/%2f".to_string()),
                ("incident", "amqp://itsm-incident:b@mq/%2f".to_string()),
            ])
        );
        // One service alone takes ITSM_AMQP_URL.
        let alone = with(Some("amqps://itsm-incident:b@mq:5671/itsm"), &[]);
        assert_eq!(
            urls(&alone, Some("incident")),
            Ok(vec![(
                "incident",
                "amqps://itsm-incident:b@mq:5671/itsm".to_string()
            )])
        );
    }

    #[test]
    fn a_url_of_another_broker_user_is_refused_at_start() {
        let shared = with(Some("amqp://guest:guest@mq/%2f"), &[]);
        assert_eq!(
            urls(&shared, None),
            Err(
                "the RabbitMQ URL of identity logs in as \"guest\"; identity must connect as \
                 \"itsm-identity\", the only user other services accept its events from (ADR 19)"
                    .into()
            )
        );
        let swapped = with(Some("amqp://itsm-identity:a@mq/%2f"), &[]);
        assert!(urls(&swapped, Some("incident")).is_err());
        let unknown = with(None, &[("catalog", "amqp://itsm-catalog:c@mq/%2f")]);
        assert_eq!(
            urls(&unknown, None),
            Err(
                "ITSM_AMQP_URLS names unknown service \"catalog\"; known: identity, incident"
                    .into()
            )
        );
        let missing = with(None, &[("identity", "amqp://itsm-identity:a@mq/%2f")]);
        assert_eq!(
            urls(&missing, None),
            Err("no RabbitMQ URL for incident: set it in ITSM_AMQP_URLS".into())
        );
    }
}
