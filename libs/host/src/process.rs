//! Runs a list of services in one process (or one of them alone): migrations, the HTTP server,
//! the outbox relays, consumers and schedulers, and the OpenAPI documents.
use std::{collections::BTreeMap, net::TcpListener, path::Path, sync::Arc};

use anyhow::Context as _;
use platform::{
    auth::VerifierReadiness,
    db::DbReadiness,
    http::{Health, Register, Server},
    settings::Settings,
};
use tokio::sync::watch;

use crate::{Context, Scheduler, Service, Started};

/// The services of `services` this process runs: all, or the one named `only`.
fn selected<'a>(
    services: &'a [&'static dyn Service],
    only: Option<&'a str>,
) -> anyhow::Result<impl Iterator<Item = &'static dyn Service> + 'a> {
    if let Some(name) = only
        && !services.iter().any(|s| s.name() == name)
    {
        anyhow::bail!("unknown service {name:?}; known: {}", names(services));
    }
    Ok(services
        .iter()
        .copied()
        .filter(move |s| only.is_none_or(|o| o == s.name())))
}

fn names(services: &[&'static dyn Service]) -> String {
    services
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs the migrations of every service, in the list's order.
pub async fn migrate(services: &[&'static dyn Service], settings: &Settings) -> anyhow::Result<()> {
    for service in services {
        service
            .migrate(settings)
            .await
            .with_context(|| format!("{} migrations", service.name()))?;
    }
    Ok(())
}

/// Runs a service's migrations `M` in its own schema as the owner role, then grants the
/// application role (PostgreSQL) what it needs there.
pub async fn migrate_schema<M: sea_orm_migration::MigratorTrait>(
    settings: &Settings,
    schema: &str,
) -> anyhow::Result<()> {
    use platform::db::{self, Target};
    let target = Target::from_settings(settings, schema)?;
    let owner = db::connect_owner(&target, schema).await?;
    M::up(&owner, None).await?;
    if let Target::Postgres { app_url, .. } = &target
        && let Some(role) = db::role_of(app_url)
    {
        db::grant_app_role(&owner, schema, &role).await?;
    }
    owner.close().await?;
    Ok(())
}

/// Starts the services (all, or `only`) in the list's order, without serving them: the
/// service that issues tokens lends its keys to those after it.
pub async fn start(
    services: &[&'static dyn Service],
    settings: Arc<Settings>,
    only: Option<&str>,
) -> anyhow::Result<Vec<(&'static str, Started)>> {
    let mut ctx = Context {
        settings,
        issuer_keys: None,
    };
    let mut started = Vec::new();
    for service in selected(services, only)? {
        let s = service
            .start(&ctx)
            .await
            .with_context(|| format!("starting {}", service.name()))?;
        if let Some(keys) = &s.issues_tokens {
            ctx.issuer_keys = Some(keys.clone());
        }
        started.push((service.name(), s));
    }
    Ok(started)
}

/// The RabbitMQ URL of each service this process runs (all, or `only`); empty for the
/// in-process transport. Each must log in as the service's own broker user, `itsm-<service>`:
/// consumers accept a service's events only from that user (ADR 19).
pub fn amqp_urls(
    services: &[&'static dyn Service],
    settings: &Settings,
    only: Option<&str>,
) -> anyhow::Result<BTreeMap<&'static str, String>> {
    let mut urls = BTreeMap::new();
    if settings.amqp_url.is_none() && settings.amqp_urls.is_empty() {
        return Ok(urls);
    }
    if let Some(unknown) = settings
        .amqp_urls
        .keys()
        .find(|k| !services.iter().any(|s| s.name() == k.as_str()))
    {
        anyhow::bail!(
            "ITSM_AMQP_URLS names unknown service {unknown:?}; known: {}",
            names(services)
        );
    }
    for service in selected(services, only)?.map(|s| s.name()) {
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

/// Running services and their HTTP server (not yet awaited).
pub struct Application {
    pub server: Server,
    /// Each running service by name, in the list's order.
    pub services: Vec<(&'static str, Started)>,
    pub bus: bus::ops::BusRegistry,
}

impl Application {
    /// The running service called `name`.
    pub fn service(&self, name: &str) -> Option<&Started> {
        self.services
            .iter()
            .find_map(|(n, s)| (*n == name).then_some(s))
    }
}

/// Starts the services (all, or `only`) and binds the HTTP server.
pub async fn build(
    services: &[&'static dyn Service],
    settings: Arc<Settings>,
    only: Option<&str>,
) -> anyhow::Result<Application> {
    let amqp_urls = amqp_urls(services, &settings, only)?;
    let started = start(services, settings.clone(), only).await?;
    let mut health = Health::default();
    let mut bus = bus::ops::BusRegistry {
        amqp_urls,
        ..Default::default()
    };
    for (name, s) in &started {
        health = health.with_service(name, Arc::new(DbReadiness(s.db.clone())));
        // Not ready until the token verification keys are held, so no request meets an
        // empty key set (a service alone fetches them from identity's JWKS).
        health = health.with_service(name, Arc::new(VerifierReadiness(s.auth.verifier.clone())));
        for check in &s.readiness {
            health = health.with_service(name, check.clone());
        }
        bus.producers.push((name, s.db.clone()));
        bus.consumers.extend(s.consumers.iter().cloned());
    }
    // Every service verifies the same tokens; the edge guard and the bus operator routes use
    // the context of the first that runs here.
    let auth = started
        .first()
        .map(|(_, s)| s.auth.clone())
        .ok_or_else(|| anyhow::anyhow!("no service runs in this process"))?;
    // Actix routes into the first scope whose prefix matches: the bus operator routes first,
    // then the services in reverse order, so identity (first in the list, owner of the bare
    // `/api/v1` scope) mounts after every more specific prefix.
    let mut registers = vec![bus::ops::configure(bus.clone(), auth.clone())];
    registers.extend(started.iter().rev().map(|(_, s)| s.routes.clone()));
    let register: Register = Arc::new(move |cfg| {
        for r in &registers {
            r(cfg);
        }
    });
    let listener = TcpListener::bind(&settings.listen)
        .with_context(|| format!("binding {}", settings.listen))?;
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
        services: started,
        bus,
    })
}

/// Background workers (outbox relays, consumers, schedulers); stopped together.
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
    /// Starts the outbox relays (RabbitMQ when AMQP URLs are set, else in-process), the
    /// consumers and the services' schedulers. With RabbitMQ, each service connects with its
    /// own URL (its broker user), and consumer queues are declared before any relay publishes.
    pub async fn start_workers(&mut self) -> anyhow::Result<Workers> {
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
        for (name, s) in &mut self.services {
            let schedulers: Vec<Scheduler> = std::mem::take(&mut s.schedulers);
            for scheduler in schedulers {
                tracing::info!(service = *name, "starting a scheduler");
                handles.push(tokio::spawn(scheduler(rx.clone())));
            }
        }
        Ok(Workers { shutdown, handles })
    }
}

/// Writes one OpenAPI document per service, the bus operator API's, and the merged
/// `itsm.json` into `dir`.
pub fn write_openapi(
    services: &[&'static dyn Service],
    dir: &Path,
) -> anyhow::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut docs = Vec::new();
    for &service in services {
        let register: Register = Arc::new(move |cfg| service.api(cfg));
        docs.push((
            service.name(),
            platform::http::openapi_of(service.title(), &register),
        ));
    }
    let bus_register: Register = Arc::new(bus::ops::api);
    docs.push((
        "bus",
        platform::http::openapi_of("ITSM bus operator API", &bus_register),
    ));
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
