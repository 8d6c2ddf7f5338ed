//! The one `itsm` binary's library: composes the services into one process (or runs one),
//! migrates, seeds and writes the OpenAPI documents.
#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::{net::TcpListener, sync::Arc};

use actix_web::web;
use anyhow::Context;
use platform::{
    db::DbReadiness,
    http::{Health, Register, Server},
    settings::Settings,
};

/// Every service this binary can run.
pub const SERVICES: &[&str] = &["identity"];

/// Running services and their HTTP server.
pub struct Application {
    pub server: Server,
    pub identity: web::Data<identity::Identity>,
}

/// Runs the migrations of `services` (all when empty).
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    identity::migrate(settings)
        .await
        .context("identity migrations")?;
    Ok(())
}

/// Connects the services and binds the HTTP server (not yet awaited).
pub async fn build(settings: Arc<Settings>, only: Option<&str>) -> anyhow::Result<Application> {
    if let Some(name) = only
        && !SERVICES.contains(&name)
    {
        anyhow::bail!("unknown service {name:?}; known: {}", SERVICES.join(", "));
    }
    let identity = web::Data::new(
        identity::Identity::connect(settings.clone())
            .await
            .context("connecting identity")?,
    );
    identity::seed::ensure_root(&identity.db)
        .await
        .map_err(|e| anyhow::anyhow!("creating the root tenant: {e}"))?;
    let health = Health::default().with(Arc::new(DbReadiness(identity.db.clone())));
    let listener = TcpListener::bind(&settings.listen)
        .with_context(|| format!("binding {}", settings.listen))?;
    let register: Register = identity::configure(identity.clone());
    let server = platform::http::start(&settings, listener, "ITSM API", register, health)?;
    Ok(Application { server, identity })
}

/// Writes one OpenAPI document per service and the merged `itsm.json` into `dir`.
pub fn write_openapi(dir: &std::path::Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let identity_register: Register = Arc::new(identity::routes::api);
    let docs = [(
        "identity",
        platform::http::openapi_of("ITSM identity API", &identity_register),
    )];
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
