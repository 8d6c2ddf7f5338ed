//! Load-test data: `itsm seed --tenants N --incidents M`. Customers `load-0001` … under the demo
//! MSP (each with an agent, a requester and a service desk, see `identity::seed`), the incident
//! service's projections of them, and realistic incidents spread over them, all written in bulk.
//!
//! Incidents are distributed by a Zipf law over the tenants (`load-0001` is the largest, the
//! tail has a few each), created over the last 180 days (busier on weekdays and in office
//! hours), numbered per tenant in creation order after the numbers already handed out, and
//! given ids (UUIDv7) from their creation time, so id order is creation order. Recent incidents
//! are more often open; about 20 % are new, in progress or on hold.
//!
//! Seeded incidents publish no events (their aggregates start at version 1 without history);
//! the seeded tenants, users and groups do, exactly as if created one by one.
//!
//! The work is split by step: `directory` writes the incident service's projections of the
//! seeded tenants, `plan` decides when and where incidents happen, `rows` writes each one
//! (in words from `texts`), and `incidents` numbers and inserts them in bulk.
mod directory;
mod incidents;
mod plan;
mod progress;
mod rng;
mod rows;
mod texts;

use std::time::{Duration, Instant};

use anyhow::Context;
use platform::{
    db::{self, Target},
    settings::Settings,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};

use directory::project_directory;
use incidents::seed_incidents;
pub(crate) use progress::bar;
pub(crate) use rng::Rng;

/// What to seed.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Customers `load-0001` … `load-<tenants>` (created if missing).
    pub tenants: usize,
    /// Incidents to add, spread over those customers.
    pub incidents: u64,
}

/// What was seeded, and how fast.
#[derive(Debug, Clone)]
pub struct Summary {
    pub tenants: usize,
    pub tenants_created: usize,
    pub incidents: u64,
    pub incidents_elapsed: Duration,
    pub elapsed: Duration,
}

impl Summary {
    pub fn incidents_per_sec(&self) -> f64 {
        self.incidents as f64 / self.incidents_elapsed.as_secs_f64().max(1e-9)
    }
}

/// Seeds the load-test data. `identity_db` is identity's (application-role) connection;
/// incidents and projections are written through the incident service's owner connection.
/// `password` is the demo password for new users (needed only when a customer is missing).
pub async fn run(
    settings: &Settings,
    identity_db: &DatabaseConnection,
    opts: Options,
    password: Option<&str>,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    anyhow::ensure!(opts.tenants >= 1, "--tenants must be at least 1");
    anyhow::ensure!(
        opts.tenants <= 99_999,
        "--tenants is at most 99999 (slugs load-0001 … load-99999)"
    );
    // One argon2 hash for every seeded user: hashing per user would take minutes.
    let hash = match password {
        Some(p) => {
            let p = p.to_string();
            Some(
                tokio::task::spawn_blocking(move || identity::domain::password::hash(&p))
                    .await?
                    .map_err(|e| anyhow::anyhow!("hashing the demo password: {e}"))?,
            )
        }
        None => None,
    };

    eprintln!(
        "seeding {} customer tenants under the demo MSP",
        opts.tenants
    );
    let pb = bar(opts.tenants as u64, "tenants");
    let set = identity::seed::seed_load_tenants(identity_db, opts.tenants, hash.as_deref(), &|n| {
        pb.inc(n)
    })
    .await
    .context("seeding the load-test tenants")?;
    pb.finish_and_clear();

    let target = Target::from_settings(settings, incident::SCHEMA)?;
    let owner = db::connect_owner(&target, incident::SCHEMA)
        .await
        .context("connecting to the incident service's database as its owner")?;
    project_directory(&owner, &set)
        .await
        .context("writing the incident service's directory projections")?;

    let t0 = Instant::now();
    if opts.incidents > 0 {
        eprintln!(
            "seeding {} incidents over {} tenants",
            opts.incidents,
            set.tenants.len()
        );
        seed_incidents(&owner, &set.tenants, opts.incidents).await?;
    }
    let incidents_elapsed = t0.elapsed();
    if owner.get_database_backend() == DbBackend::Postgres {
        // Fresh statistics, so the planner sees the grown table at once.
        owner
            .execute_unprepared("ANALYZE incidents, incident_counters")
            .await?;
    }
    owner.close().await?;
    Ok(Summary {
        tenants: set.tenants.len(),
        tenants_created: set.created,
        incidents: opts.incidents,
        incidents_elapsed,
        elapsed: started.elapsed(),
    })
}
