//! `itsm`: run the platform (all services, or one), migrate, seed, write OpenAPI documents.
use std::{path::PathBuf, sync::Arc};

use anyhow::Context;
use clap::{Parser, Subcommand};
use platform::settings::{Secret, Settings};
use suite::SERVICES;

#[derive(Parser)]
#[command(
    name = "itsm",
    version,
    about = "Multi-tenant IT service management platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (every service in one process unless --service is given).
    Serve {
        /// Address to listen on (overrides ITSM_LISTEN).
        #[arg(long)]
        listen: Option<String>,
        /// Directory for the embedded SQLite databases (overrides ITSM_DATA_DIR).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Seed the demo tenants and users and print the logins.
        #[arg(long)]
        demo: bool,
        /// Run only this service.
        #[arg(long)]
        service: Option<String>,
    },
    /// Run the database migrations (PostgreSQL: as the owner role, then grant the app role).
    Migrate,
    /// Seed data: the demo tenants and users, and/or load-test customers with incidents.
    Seed {
        /// The demo MSP `demo` with customers `globex` and `initech` and one user per role.
        #[arg(long)]
        demo: bool,
        /// Load-test customers `load-0001` … `load-<N>` under the demo MSP (created if missing;
        /// seeds the demo first if it is missing), each with `agent@<slug>.demo.test`,
        /// `requester@<slug>.demo.test` (the demo password) and a "Service Desk" group.
        #[arg(long, value_name = "N")]
        tenants: Option<usize>,
        /// Incidents to add, spread over the load-test customers (needs --tenants).
        #[arg(long, value_name = "M", requires = "tenants")]
        incidents: Option<u64>,
        /// A benchmark CMDB graph: N applications `bench-<run>-<n>` …
        #[arg(long, value_name = "N")]
        cmdb_cis: Option<usize>,
        /// … and M distinct `depends_on` edges between them (a twentieth to 10 hubs).
        #[arg(long, value_name = "M", requires = "cmdb_cis")]
        cmdb_edges: Option<usize>,
        /// The tenant (slug) the graph is written for.
        #[arg(long, value_name = "SLUG", default_value = "globex")]
        cmdb_tenant: String,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// The CMDB from the command line.
    Cmdb {
        #[command(subcommand)]
        command: CmdbCommand,
    },
    /// Analytics from the command line.
    Analytics {
        #[command(subcommand)]
        command: AnalyticsCommand,
    },
    /// Write the OpenAPI documents (one per service and the merged itsm.json).
    Openapi {
        #[arg(long, default_value = "openapi")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum AnalyticsCommand {
    /// Replay the event store into shadow tables beside live consumption and swap them in, in
    /// one transaction, showing progress; exits non-zero if an event could not be replayed or
    /// (with --verify) the live figures differed from the replay.
    Rebuild {
        /// The projection to rebuild (`figures`, the only one built from the store).
        #[arg(long)]
        projection: Option<String>,
        /// Compare the SHA-256 of the live rows with the replay's before swapping.
        #[arg(long)]
        verify: bool,
    },
}

#[derive(Subcommand)]
enum CmdbCommand {
    /// Import a CSV or JSON file of CIs or relationships (as `POST /api/v1/cmdb/imports`),
    /// showing progress; exits non-zero if the import failed.
    Import {
        file: PathBuf,
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// The source the values come from (reconciliation ranks sources).
        #[arg(long)]
        source: String,
        /// `csv` or `json` (default: by the file's extension).
        #[arg(long)]
        format: Option<String>,
        /// `partial` (default) or `atomic`.
        #[arg(long)]
        mode: Option<String>,
        /// `ignore` (default) or `clear`.
        #[arg(long)]
        empty_values: Option<String>,
    },
}

/// Starts the services for a command-line tool (migrating the embedded databases first);
/// returns the databases of the services named, in that order.
async fn tool_databases<const N: usize>(
    settings: &Settings,
    names: [&str; N],
) -> anyhow::Result<[sea_orm::DatabaseConnection; N]> {
    if settings.database_url.is_none() || settings.migration_database_url.is_some() {
        host::migrate(SERVICES, settings).await?;
    }
    let services = host::start(SERVICES, Arc::new(settings.clone()), None).await?;
    let mut dbs = Vec::with_capacity(N);
    for name in names {
        let db = services
            .iter()
            .find_map(|(n, s)| (*n == name).then(|| s.db.clone()))
            .ok_or_else(|| anyhow::anyhow!("{name} did not start"))?;
        dbs.push(db);
    }
    dbs.try_into()
        .map_err(|_| anyhow::anyhow!("a service did not start"))
}

async fn tenant_id(
    identity_db: &sea_orm::DatabaseConnection,
    slug: &str,
) -> anyhow::Result<uuid::Uuid> {
    Ok(identity::seed::tenant_by_slug(identity_db, slug)
        .await
        .map_err(|e| anyhow::anyhow!("reading tenant {slug}: {e}"))?
        .ok_or_else(|| anyhow::anyhow!("no tenant {slug}"))?
        .id)
}

fn demo_password(settings: &Settings) -> (String, bool) {
    match &settings.demo_password {
        Some(p) => (p.expose().to_string(), false),
        None => {
            use base64::Engine;
            use rand::RngCore;
            let mut bytes = [0u8; 12];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            (
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
                true,
            )
        }
    }
}

fn print_demo(settings: &Settings, demo: &host::Demo, generated: bool) {
    let (logins, password) = (&demo.logins, &demo.password);
    let base = settings.public_base_url();
    println!();
    println!("  ITSM is running.");
    println!("    API:      {base}/api/v1");
    println!("    Swagger:  {base}/docs/");
    println!();
    println!(
        "  Demo logins (password: {password}{}):",
        if generated {
            ", generated; set ITSM_DEMO_PASSWORD to fix it"
        } else {
            ""
        }
    );
    for l in logins {
        println!("    {:<36} {:<10} {}", l.email, l.tenant, l.role);
    }
    println!();
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut settings = Settings::load().context("loading settings")?;
    match cli.command {
        Command::Serve {
            listen,
            data_dir,
            demo,
            service,
        } => {
            if let Some(l) = listen {
                settings.listen = l;
            }
            if let Some(d) = data_dir {
                settings.data_dir = d;
            }
            platform::telemetry::init("itsm", &settings.log_filter, &settings.log_format);
            let embedded = settings.database_url.is_none();
            if embedded || settings.migration_database_url.is_some() {
                host::migrate(SERVICES, &settings).await?;
            }
            let (password, generated) = demo_password(&settings);
            if demo && settings.demo_password.is_none() {
                settings.demo_password = Some(Secret::new(password.clone()));
            }
            let settings = Arc::new(settings);
            let mut app = host::build(SERVICES, settings.clone(), service.as_deref()).await?;
            if demo {
                if app.service(identity::SCHEMA).is_none() {
                    anyhow::bail!("--demo needs the identity service in this process");
                }
                let seeded =
                    host::demo::seed(app.services.iter().map(|(n, s)| (*n, s)), &password).await?;
                print_demo(&settings, &seeded, generated);
            }
            tracing::info!(listen = %settings.listen, port = app.server.port, "serving");
            let workers = app.start_workers().await?;
            app.server.server.await?;
            workers.stop().await;
            platform::telemetry::shutdown();
        }
        Command::Migrate => {
            platform::telemetry::init("itsm", &settings.log_filter, &settings.log_format);
            host::migrate(SERVICES, &settings).await?;
            println!("migrations applied");
        }
        Command::Seed {
            demo,
            tenants,
            incidents,
            cmdb_cis,
            cmdb_edges,
            cmdb_tenant,
            data_dir,
        } => {
            if let Some(d) = data_dir {
                settings.data_dir = d;
            }
            platform::telemetry::init("itsm", &settings.log_filter, &settings.log_format);
            if !demo && tenants.is_none() && cmdb_cis.is_none() {
                anyhow::bail!(
                    "nothing to seed: pass --demo, --tenants N [--incidents M] and/or \
                     --cmdb-cis N [--cmdb-edges M]"
                );
            }
            if settings.database_url.is_none() || settings.migration_database_url.is_some() {
                host::migrate(SERVICES, &settings).await?;
            }
            // The other services' part of the demo only with --demo: load tests seed the demo
            // tenants as a prerequisite, not its work data.
            let only = (!demo && cmdb_cis.is_none()).then_some(identity::SCHEMA);
            let services = host::start(SERVICES, Arc::new(settings.clone()), only).await?;
            let identity_db = services
                .iter()
                .find_map(|(name, s)| (*name == identity::SCHEMA).then(|| s.db.clone()))
                .ok_or_else(|| anyhow::anyhow!("identity did not start"))?;
            // The demo password, when known: set, or the one the demo is seeded with now.
            let mut password = settings
                .demo_password
                .as_ref()
                .map(|p| p.expose().to_string());
            let demo_missing = identity::seed::demo_msp(&identity_db)
                .await
                .map_err(|e| anyhow::anyhow!("reading the demo MSP: {e}"))?
                .is_none();
            if demo || demo_missing {
                let (demo_pw, generated) = demo_password(&settings);
                let seeded =
                    host::demo::seed(services.iter().map(|(n, s)| (*n, s)), &demo_pw).await?;
                print_demo(&settings, &seeded, generated);
                for line in &seeded.summaries {
                    println!("  Demo work data: {line}.");
                }
                password = Some(demo_pw);
            }
            if let Some(tenants) = tenants {
                let summary = itsm::load::run(
                    &settings,
                    &identity_db,
                    itsm::load::Options {
                        tenants,
                        incidents: incidents.unwrap_or(0),
                    },
                    password.as_deref(),
                )
                .await?;
                println!(
                    "seeded {} load-test tenants ({} new; logins agent@load-0001.demo.test …) and \
                     {} incidents in {:.1} s; incidents {:.1} s, {:.0} incidents/s",
                    summary.tenants,
                    summary.tenants_created,
                    summary.incidents,
                    summary.elapsed.as_secs_f64(),
                    summary.incidents_elapsed.as_secs_f64(),
                    summary.incidents_per_sec(),
                );
            }
            if let Some(cis) = cmdb_cis {
                let catalogue_db = services
                    .iter()
                    .find_map(|(name, s)| (*name == catalogue::SCHEMA).then(|| s.db.clone()));
                let Some(catalogue_db) = catalogue_db else {
                    anyhow::bail!(
                        "--cmdb-cis needs the catalogue: pass --demo too on a fresh database"
                    );
                };
                let tenant = tenant_id(&identity_db, &cmdb_tenant).await?;
                let g = itsm::cmdb::seed_graph(&catalogue_db, tenant, cis, cmdb_edges.unwrap_or(0))
                    .await?;
                println!(
                    "seeded {} CIs and {} relationships for {cmdb_tenant} in {:.1} s",
                    g.cis, g.edges, g.seconds
                );
            }
        }
        Command::Cmdb {
            command:
                CmdbCommand::Import {
                    file,
                    tenant,
                    source,
                    format,
                    mode,
                    empty_values,
                },
        } => {
            platform::telemetry::init("itsm", &settings.log_filter, &settings.log_format);
            let [identity_db, catalogue_db] =
                tool_databases(&settings, [identity::SCHEMA, catalogue::SCHEMA]).await?;
            let tenant = tenant_id(&identity_db, &tenant).await?;
            let args = itsm::cmdb::ImportArgs {
                file: &file,
                tenant,
                source,
                format,
                mode,
                empty_values,
            };
            let done = itsm::cmdb::import(&catalogue_db, args).await?;
            println!(
                "import {} {}: {} rows, {} created, {} updated, {} unchanged, {} failed, {} values \
                 kept from higher sources",
                done.id,
                done.status,
                done.rows_total,
                done.created,
                done.updated,
                done.unchanged,
                done.failed,
                done.skipped_attributes
            );
            if done.failed > 0 {
                println!("  errors: GET /api/v1/cmdb/imports/{}/errors", done.id);
            }
            if done.status != "completed" {
                anyhow::bail!("the import failed");
            }
        }
        Command::Analytics {
            command: AnalyticsCommand::Rebuild { projection, verify },
        } => {
            platform::telemetry::init("itsm", &settings.log_filter, &settings.log_format);
            let [analytics_db] = tool_databases(&settings, [analytics::SCHEMA]).await?;
            let root = identity::seed::root_id();
            itsm::analytics::rebuild(&analytics_db, root, projection.as_deref(), verify).await?;
        }
        Command::Openapi { out } => {
            for path in host::write_openapi(SERVICES, &out)? {
                println!("wrote {}", path.display());
            }
        }
    }
    Ok(())
}
