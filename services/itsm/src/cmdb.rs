//! The CMDB from the command line: `itsm cmdb import FILE --tenant SLUG --source NAME` takes a
//! file through the same importer as the API's workers, with a progress bar; `itsm seed
//! --cmdb-cis N --cmdb-edges M` writes a benchmark graph in bulk (its CIs with their creation
//! history and identities, no events, like the other load data).
use std::{path::Path, time::Instant};

use anyhow::{Context as _, anyhow, bail};
use catalogue::{
    domain::{
        cmdb::{CiFields, changes},
        cmdb_graph::RelType,
        cmdb_import::{EmptyValues, Format, Mode, read},
        cmdb_reconcile::stored_keys,
    },
    importer,
    store::{
        cmdb::{self as store, Ci, NewCiRow, Provenance},
        cmdb_import::{self as imports, CmdbImport, Counts, Options, status},
        cmdb_sharing::{self as sharing, class_root},
    },
};
use platform::tenancy::{TenantId, begin_scoped, scope_to};
use sea_orm::DatabaseConnection;
use serde_json::json;
use uuid::Uuid;

use crate::load::{Rng, bar};

/// What `itsm cmdb import` was asked.
pub struct ImportArgs<'a> {
    pub file: &'a Path,
    pub tenant: Uuid,
    pub source: String,
    pub format: Option<String>,
    pub mode: Option<String>,
    pub empty_values: Option<String>,
}

fn parsed<T>(
    name: &str,
    raw: Option<&str>,
    default: T,
    parse: fn(&str) -> Option<T>,
) -> anyhow::Result<T> {
    match raw {
        None => Ok(default),
        Some(s) => parse(s).ok_or_else(|| anyhow!("--{name} {s:?} is not one of its values")),
    }
}

/// Imports `args.file` into the tenant's CMDB; returns the finished import.
pub async fn import(db: &DatabaseConnection, args: ImportArgs<'_>) -> anyhow::Result<CmdbImport> {
    let by_extension = match args.file.extension().and_then(|e| e.to_str()) {
        Some("json") => Format::Json,
        _ => Format::Csv,
    };
    let options = Options {
        source: args.source,
        format: parsed(
            "format",
            args.format.as_deref(),
            by_extension,
            Format::parse,
        )?,
        mode: parsed("mode", args.mode.as_deref(), Mode::Partial, Mode::parse)?,
        empty_values: parsed(
            "empty-values",
            args.empty_values.as_deref(),
            EmptyValues::Ignore,
            EmptyValues::parse,
        )?,
    };
    let bytes =
        std::fs::read(args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let rows = match read(options.format, &bytes) {
        Ok(rows) => rows,
        Err(errors) => {
            for e in &errors {
                eprintln!("  {}: {}", e.pointer, e.detail);
            }
            bail!("{} cannot be imported", args.file.display());
        }
    };
    let payload = String::from_utf8(bytes).context("the file is not UTF-8")?;
    let tenant = TenantId(args.tenant);
    let total = u64::try_from(rows.len()).unwrap_or(u64::MAX);
    let txn = begin_scoped(db, &[tenant]).await?;
    let i = imports::insert(
        &txn,
        tenant,
        &options,
        payload,
        i64::try_from(total).unwrap_or(i64::MAX),
        None,
    )
    .await?;
    // Running from the start: no worker of a running server takes it too.
    let i = imports::record(&txn, i, status::RUNNING, Counts::default()).await?;
    txn.commit().await?;
    let pb = bar(total, "rows");
    let progress = |c: Counts| pb.set_position(u64::try_from(c.rows_done).unwrap_or(0));
    let done = importer::run(db, i, &progress)
        .await
        .map_err(|e| anyhow!("{}: {}", e.code, e.detail))?;
    pb.finish();
    Ok(done)
}

/// What `itsm seed --cmdb-cis` wrote.
pub struct GraphSummary {
    pub cis: usize,
    pub edges: usize,
    pub seconds: f64,
}

/// CIs that most edges lead to: the benchmark keeps them apart from ordinary roots.
pub const HUBS: usize = 10;

/// Writes `cis` applications named `bench-<run>-<n>` and `edges` distinct `depends_on`
/// edges between them into `tenant`'s CMDB (a twentieth of the edges lead to the first
/// [`HUBS`] CIs), a few thousand rows per transaction.
pub async fn seed_graph(
    db: &DatabaseConnection,
    tenant: Uuid,
    cis: usize,
    edges: usize,
) -> anyhow::Result<GraphSummary> {
    if cis < 2 {
        bail!("--cmdb-cis needs at least 2 CIs");
    }
    let started = Instant::now();
    let tenant = TenantId(tenant);
    let txn = begin_scoped(db, &[tenant]).await?;
    let lineage = bus::directory::path_in(&txn, tenant.as_uuid())
        .await?
        .ok_or_else(|| anyhow!("the catalogue does not know this tenant yet"))?;
    scope_to(&txn, &lineage).await?;
    let tree = store::classes(&txn, &lineage).await?;
    txn.commit().await?;
    let class = tree
        .get("application")
        .ok_or_else(|| anyhow!("no application class"))?;
    let rules = tree.identification_rules(class);
    let run = format!("{:x}", chrono::Utc::now().timestamp() % 0xfffff);
    let by = Provenance {
        actor_id: None,
        source: "seed".into(),
        import_id: None,
        at: platform::record::now(),
    };
    let pb = bar(u64::try_from(cis + edges).unwrap_or(u64::MAX), "cmdb");
    let mut ids = Vec::with_capacity(cis);
    for chunk_start in (0..cis).step_by(2_000) {
        let made: Vec<Ci> = (chunk_start..(chunk_start + 2_000).min(cis))
            .map(|n| {
                store::new_ci(
                    tenant,
                    NewCiRow {
                        class: class.def.key.clone(),
                        class_path: class.path.clone(),
                        name: format!("bench-{run}-{n:07}"),
                        status: "operational".into(),
                        service_id: None,
                        attributes: json!({}),
                        attribute_sources: json!({}),
                    },
                    by.at,
                )
            })
            .collect();
        let txn = begin_scoped(db, &[tenant]).await?;
        store::insert_cis(&txn, &made).await?;
        let root = class_root(&class.path).to_string();
        let claims: Vec<_> = made
            .iter()
            .flat_map(|c| {
                stored_keys(&rules, &c.name, &c.attributes)
                    .into_iter()
                    .map(|k| ((root.clone(), k), c.id))
            })
            .collect();
        if !sharing::claim(&txn, tenant, &claims).await?.is_empty() {
            bail!("a seeded name is taken; seed again");
        }
        let history: Vec<_> = made
            .iter()
            .map(|c| {
                let fields = CiFields {
                    name: c.name.clone(),
                    status: c.status.clone(),
                    attributes: Default::default(),
                };
                (c.clone(), changes(None, &fields))
            })
            .collect();
        store::append_histories(&txn, &history, &by).await?;
        txn.commit().await?;
        ids.extend(made.iter().map(|c| c.id));
        pb.inc(made.len() as u64);
    }
    let mut rng = Rng::from_time();
    let mut seen = std::collections::HashSet::with_capacity(edges);
    let mut pending = Vec::with_capacity(5_000);
    let hubs = HUBS.min(cis);
    let limit = cis.saturating_mul(cis - 1);
    let wanted = edges.min(limit);
    while seen.len() < wanted {
        let source = rng.below(cis as u64) as usize;
        let target = if rng.below(20) == 0 {
            rng.below(hubs as u64) as usize
        } else {
            rng.below(cis as u64) as usize
        };
        if source == target || !seen.insert((source, target)) {
            continue;
        }
        pending.push((ids[source], RelType::DependsOn, ids[target]));
        if pending.len() == 5_000 || seen.len() == wanted {
            let txn = begin_scoped(db, &[tenant]).await?;
            store::insert_relationships(&txn, tenant, &pending, &by).await?;
            txn.commit().await?;
            pb.inc(pending.len() as u64);
            pending.clear();
        }
    }
    pb.finish();
    Ok(GraphSummary {
        cis,
        edges: wanted,
        seconds: started.elapsed().as_secs_f64(),
    })
}
