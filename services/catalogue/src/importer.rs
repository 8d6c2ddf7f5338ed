//! The `cmdb-import` worker: takes queued imports (any number of workers; each import is
//! claimed once with `FOR UPDATE SKIP LOCKED`) and merges their rows into the CMDB in chunks,
//! each chunk one transaction with bulk statements for the CIs it creates. Identities are
//! claimed before a CI is written, so two imports of the same new rows make each CI once: the
//! chunk that loses the race is rolled back and taken again, finding the CIs the other made.
//! `atomic` imports run in one transaction and keep nothing if any row fails.
use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use platform::{
    ApiError,
    tenancy::{TenantId, scope_to},
    validate::text,
};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, TransactionTrait,
};
use serde_json::{Map, Value, json};
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use crate::{
    domain::{
        cmdb::{CiFields, CiStatus, ClassTree, changes},
        cmdb_graph::{RelRule, RelType},
        cmdb_import::{
            Cell, CiRow, EmptyValues, Incoming, Mode, RelRow, Row, RowData, merge, read, typed,
        },
        cmdb_reconcile::{IdentityKey, ReconRule, identify, lookup_keys, normalise, stored_keys},
        form::Form,
    },
    events,
    routes::cmdb_relationships::{Related, relate},
    store::{
        cmdb::{self as store, Ci, NewCiRow, Provenance},
        cmdb_import::{self as imports, CmdbImport, Counts, RowError, status},
        cmdb_sharing::{self as sharing, Identity, class_root},
    },
};

/// Rows per transaction in a `partial` import.
const CHUNK: usize = 1_000;
/// How often a chunk that lost an identity race is taken again before the import fails.
const RETRIES: usize = 5;
/// How often the worker looks when nothing woke it.
pub const TICK: Duration = Duration::from_secs(2);
const WORKER_FLAG: &str = "app.cmdb_import_worker";

/// What a chunk (or an atomic import) came to.
enum Outcome {
    Done(Counts, Vec<RowError>),
    /// A concurrent import claimed an identity first: take the rows again.
    Raced,
}

/// What every row of an import is checked against.
struct Context {
    tenant: TenantId,
    by: Provenance,
    empty_values: EmptyValues,
    tree: ClassTree,
    recon: Vec<ReconRule>,
    rel_rules: Vec<RelRule>,
    forms: HashMap<String, Form>,
}

impl Context {
    async fn load(txn: &DatabaseTransaction, i: &CmdbImport) -> Result<Context, ApiError> {
        let tenant = TenantId(i.tenant_id);
        let lineage = bus::directory::path_in(txn, i.tenant_id)
            .await?
            .unwrap_or_else(|| vec![tenant]);
        scope_to(txn, &lineage).await?;
        let tree = store::classes(txn, &lineage).await?;
        let recon = sharing::recon_rules(txn, &lineage)
            .await?
            .iter()
            .map(sharing::as_recon_rule)
            .collect();
        let rel_rules = sharing::all_rel_rules(txn, &lineage).await?;
        let forms = tree
            .all()
            .into_iter()
            .filter_map(|c| {
                let form = Form::parse("/attributes", c.effective_schema.clone()).ok()?;
                Some((c.def.key.clone(), form))
            })
            .collect();
        Ok(Context {
            tenant,
            by: Provenance {
                actor_id: i.created_by,
                source: i.source.clone(),
                import_id: Some(i.id),
                at: platform::record::now(),
            },
            empty_values: EmptyValues::parse(&i.empty_values).unwrap_or(EmptyValues::Ignore),
            tree,
            recon,
            rel_rules,
            forms,
        })
    }

    /// `attributes` satisfy the class `key`, or the first problem as `(field, message)`.
    fn check(&self, key: &str, attributes: &Map<String, Value>) -> Result<(), (String, String)> {
        let Some(form) = self.forms.get(key) else {
            return Err(("class".into(), "no such class".into()));
        };
        form.check("/attributes", &Value::Object(attributes.clone()))
            .map(|_| ())
            .map_err(|errors| match errors.into_iter().next() {
                Some(e) => (
                    e.pointer.trim_start_matches('/').replace('/', "."),
                    e.detail,
                ),
                None => ("attributes".into(), "invalid".into()),
            })
    }
}

fn row_error(row: i64, field: impl Into<String>, message: impl Into<String>) -> RowError {
    RowError {
        row,
        field: field.into(),
        message: message.into(),
    }
}

/// A CI row made ready: checked, typed, with the keys it is looked up by.
struct Ready {
    row: i64,
    class: String,
    class_path: String,
    root: String,
    name: String,
    status: Option<String>,
    incoming: Vec<Incoming>,
    keys: Vec<IdentityKey>,
}

fn prepare(ctx: &Context, row: i64, ci: &CiRow) -> Result<Ready, RowError> {
    let class = ctx
        .tree
        .get(&ci.class)
        .ok_or_else(|| row_error(row, "class", format!("no class {:?}", ci.class)))?;
    let name = text("/name", &ci.name, 200).map_err(|e| row_error(row, "name", e.detail))?;
    let status = match &ci.status {
        Some(s) => Some(
            CiStatus::parse("/status", s)
                .map_err(|e| row_error(row, "status", e.detail))?
                .as_str()
                .to_string(),
        ),
        None => None,
    };
    let mut incoming = Vec::with_capacity(ci.attributes.len());
    for (attr, cell) in &ci.attributes {
        let value = match cell {
            Cell::Empty if ctx.empty_values == EmptyValues::Ignore => continue,
            Cell::Empty | Cell::Json(Value::Null) => None,
            Cell::Json(v) => Some(v.clone()),
            Cell::Text(t) => Some(
                typed(&class.effective_schema, attr, t)
                    .map_err(|m| row_error(row, format!("attributes.{attr}"), m))?,
            ),
        };
        incoming.push((attr.clone(), value));
    }
    let values: Map<String, Value> = incoming
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
        .collect();
    let keys = lookup_keys(
        &ctx.tree.identification_rules(class),
        &name,
        &Value::Object(values),
    );
    Ok(Ready {
        row,
        class: class.def.key.clone(),
        class_path: class.path.clone(),
        root: class_root(&class.path).to_string(),
        name,
        status,
        incoming,
        keys,
    })
}

fn fields_of(ci: &Ci) -> CiFields {
    CiFields {
        name: ci.name.clone(),
        status: ci.status.clone(),
        attributes: ci
            .attributes
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
    }
}

/// Takes `rows` in `txn`: CI rows merged into the CIs their identities name or created in
/// bulk, relationship rows related one by one.
async fn take(txn: &DatabaseTransaction, ctx: &Context, rows: &[Row]) -> Result<Outcome, ApiError> {
    let mut counts = Counts::default();
    let mut errors = Vec::new();
    let mut ready = Vec::new();
    for r in rows {
        match &r.data {
            RowData::Bad(field, message) => errors.push(row_error(r.row, field, message)),
            RowData::Ci(ci) => match prepare(ctx, r.row, ci) {
                Ok(p) => ready.push(p),
                Err(e) => errors.push(e),
            },
            RowData::Rel(_) => {}
        }
    }
    // Every identity the chunk's CI rows name, looked up at once.
    let wanted: Vec<Identity> = ready
        .iter()
        .flat_map(|p| p.keys.iter().map(|k| (p.root.clone(), k.clone())))
        .collect();
    let mut found = sharing::identified(txn, ctx.tenant, &wanted).await?;
    let mut known: HashMap<Uuid, Ci> =
        store::cis_by_id(txn, &[ctx.tenant], found.values().copied().collect())
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
    let mut created: Vec<Uuid> = Vec::new();
    for p in ready {
        let by_root: BTreeMap<IdentityKey, Uuid> = p
            .keys
            .iter()
            .filter_map(|k| Some((k.clone(), *found.get(&(p.root.clone(), k.clone()))?)))
            .collect();
        let target = match identify(&p.keys, &by_root) {
            Err(a) => {
                let field = match a.rule.split('+').next() {
                    Some("name") | None => "name".to_string(),
                    Some(first) => format!("attributes.{first}"),
                };
                errors.push(row_error(
                    p.row,
                    field,
                    format!(
                        "ambiguous_identity: its {} names another CI than its other values",
                        a.rule
                    ),
                ));
                continue;
            }
            Ok(t) => t,
        };
        let current = target.and_then(|id| known.get(&id).cloned());
        let (attributes, sources, before) = match &current {
            Some(ci) => (
                ci.attributes.clone(),
                ci.attribute_sources.clone(),
                Some(fields_of(ci)),
            ),
            None => (json!({}), json!({}), None),
        };
        let class_path = current
            .as_ref()
            .map_or(p.class_path.as_str(), |c| c.class_path.as_str());
        let merged = merge(
            class_path,
            &attributes,
            &sources,
            &p.incoming,
            &ctx.by.source,
            &ctx.recon,
            ctx.by.at,
        );
        let class_key = current
            .as_ref()
            .map_or(p.class.clone(), |c| c.class.clone());
        if let Err((field, message)) = ctx.check(&class_key, &merged.attributes) {
            errors.push(row_error(p.row, field, message));
            continue;
        }
        counts.skipped_attributes += i64::try_from(merged.skipped.len()).unwrap_or(0);
        let status = p.status.clone().unwrap_or_else(|| {
            current
                .as_ref()
                .map_or("operational".into(), |c| c.status.clone())
        });
        let after = CiFields {
            name: p.name.clone(),
            status,
            attributes: merged
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        let changed = changes(before.as_ref(), &after);
        let Some(ci) = current else {
            // New: written in bulk below; later rows of the chunk find it by its keys.
            let ci = store::new_ci(
                ctx.tenant,
                NewCiRow {
                    class: p.class.clone(),
                    class_path: p.class_path.clone(),
                    name: after.name.clone(),
                    status: after.status.clone(),
                    service_id: None,
                    attributes: Value::Object(merged.attributes),
                    attribute_sources: Value::Object(merged.sources),
                },
                ctx.by.at,
            );
            let rules = ctx
                .tree
                .get(&p.class)
                .map(|c| ctx.tree.identification_rules(c))
                .unwrap_or_default();
            for k in stored_keys(&rules, &ci.name, &ci.attributes) {
                found.insert((p.root.clone(), k), ci.id);
            }
            for k in &p.keys {
                found.entry((p.root.clone(), k.clone())).or_insert(ci.id);
            }
            created.push(ci.id);
            known.insert(ci.id, ci);
            counts.created += 1;
            continue;
        };
        if changed.is_empty() {
            counts.unchanged += 1;
            continue;
        }
        if created.contains(&ci.id) {
            // Made earlier in this chunk: still in memory, so the later row's values join it.
            let mut ci = ci;
            ci.name = after.name.clone();
            ci.status = after.status.clone();
            ci.attributes = Value::Object(merged.attributes);
            ci.attribute_sources = Value::Object(merged.sources);
            known.insert(ci.id, ci);
            counts.updated += 1;
            continue;
        }
        let savepoint = txn.begin().await?;
        let names: Vec<String> = changed.iter().map(|c| c.field.clone()).collect();
        let retired = before.as_ref().is_some_and(|b| b.status != after.status)
            && after.status == CiStatus::Retired.as_str();
        let ci = store::update_ci(
            &savepoint,
            ci,
            after.name,
            after.status,
            Value::Object(merged.attributes),
            Value::Object(merged.sources),
        )
        .await?;
        if let Some(((_, key), _)) = sharing::reidentify(&savepoint, &ctx.tree, &ci)
            .await?
            .first()
        {
            savepoint.rollback().await?;
            errors.push(row_error(
                p.row,
                "attributes",
                format!(
                    "duplicate_identity: another CI is identified by this {}",
                    key.rule
                ),
            ));
            continue;
        }
        store::append_history(&savepoint, &ci, &ctx.by, changed).await?;
        events::ci_updated(&savepoint, &ci, names, retired).await?;
        savepoint.commit().await?;
        known.insert(ci.id, ci);
        counts.updated += 1;
    }
    // The chunk's new CIs: their identities first (a concurrent import may hold some), then
    // the CIs, their history and their events, a statement each.
    let news: Vec<Ci> = created
        .iter()
        .filter_map(|id| known.get(id).cloned())
        .collect();
    let mut claims = Vec::new();
    for ci in &news {
        let rules = ctx
            .tree
            .get(&ci.class)
            .map(|c| ctx.tree.identification_rules(c))
            .unwrap_or_default();
        let root = class_root(&ci.class_path).to_string();
        claims.extend(
            stored_keys(&rules, &ci.name, &ci.attributes)
                .into_iter()
                .map(|k| ((root.clone(), k), ci.id)),
        );
    }
    let lost = sharing::claim(txn, ctx.tenant, &claims).await?;
    if lost.iter().any(|(_, holder)| !created.contains(holder)) {
        return Ok(Outcome::Raced);
    }
    if let Some(((_, key), _)) = lost.first() {
        // Two new rows of this file end up with one identity: the file contradicts itself.
        return Err(ApiError::conflict(
            "duplicate_identity",
            format!("two rows of this file share the identity {}", key.rule),
        ));
    }
    store::insert_cis(txn, &news).await?;
    let history: Vec<(Ci, Vec<crate::domain::cmdb::FieldChange>)> = news
        .iter()
        .map(|ci| (ci.clone(), changes(None, &fields_of(ci))))
        .collect();
    store::append_histories(txn, &history, &ctx.by).await?;
    events::cis_created(txn, &news).await?;

    for r in rows {
        if let RowData::Rel(rel) = &r.data {
            match relate_row(txn, ctx, rel).await? {
                Ok(true) => counts.created += 1,
                Ok(false) => counts.unchanged += 1,
                Err((field, message)) => errors.push(row_error(r.row, field, message)),
            }
        }
    }
    counts.failed = i64::try_from(errors.len()).unwrap_or(i64::MAX);
    counts.rows_done = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    Ok(Outcome::Done(counts, errors))
}

/// The CI `reference` names: its id, or `<class>:<attribute>=<value>` (an identifying
/// attribute, or `name`).
async fn resolve(
    txn: &DatabaseTransaction,
    ctx: &Context,
    field: &str,
    reference: &str,
) -> Result<Result<Ci, (String, String)>, ApiError> {
    let fail = |m: String| Ok(Err((field.to_string(), m)));
    if let Ok(id) = reference.parse::<Uuid>() {
        return match store::find_visible_ci(txn, &[ctx.tenant], id).await? {
            Some(ci) => Ok(Ok(ci)),
            None => fail(format!("no CI {id}")),
        };
    }
    let Some((class, rest)) = reference.split_once(':') else {
        return fail("a CI id or <class>:<attribute>=<value>".into());
    };
    let Some((attribute, value)) = rest.split_once('=') else {
        return fail("a CI id or <class>:<attribute>=<value>".into());
    };
    let Some(class) = ctx.tree.get(class.trim()) else {
        return fail(format!("no class {class:?}"));
    };
    let Some(value) = normalise(&Value::String(value.into())) else {
        return fail("an empty value names no CI".into());
    };
    let identity = (
        class_root(&class.path).to_string(),
        IdentityKey {
            rule: attribute.trim().to_string(),
            value: value.clone(),
        },
    );
    let by_identity = sharing::identified(txn, ctx.tenant, std::slice::from_ref(&identity)).await?;
    let candidates = match by_identity.get(&identity) {
        Some(id) => store::cis_by_id(txn, &[ctx.tenant], vec![*id]).await?,
        None if attribute.trim() == "name" => {
            store::cis_named(txn, ctx.tenant, &class.path, &value).await?
        }
        None => Vec::new(),
    };
    let mut candidates = candidates
        .into_iter()
        .filter(|c| crate::domain::cmdb_graph::is_a(&c.class_path, &class.def.key));
    match (candidates.next(), candidates.next()) {
        (Some(ci), None) => Ok(Ok(ci)),
        (None, _) => fail(format!("no CI {reference}")),
        (Some(_), Some(_)) => fail(format!("ambiguous_identity: several CIs are {reference}")),
    }
}

/// Relates one row's CIs: `Ok(true)` made, `Ok(false)` there already, or the field at fault.
async fn relate_row(
    txn: &DatabaseTransaction,
    ctx: &Context,
    rel: &RelRow,
) -> Result<Result<bool, (String, String)>, ApiError> {
    let Some((rel_type, inverse)) = RelType::parse(&rel.rel_type) else {
        return Ok(Err((
            "type".into(),
            format!("{:?} is not a relationship type", rel.rel_type),
        )));
    };
    let from = match resolve(txn, ctx, "from", &rel.from).await? {
        Ok(ci) => ci,
        Err(e) => return Ok(Err(e)),
    };
    let to = match resolve(txn, ctx, "to", &rel.to).await? {
        Ok(ci) => ci,
        Err(e) => return Ok(Err(e)),
    };
    if from.id == to.id {
        return Ok(Err(("to".into(), "a CI is not related to itself".into())));
    }
    let (source, target) = if inverse { (&to, &from) } else { (&from, &to) };
    let savepoint = txn.begin().await?;
    match relate(
        &savepoint,
        ctx.tenant,
        &ctx.rel_rules,
        (source, rel_type, target),
        &ctx.by,
    )
    .await
    {
        Ok(related) => {
            savepoint.commit().await?;
            Ok(Ok(matches!(related, Related::Created(_))))
        }
        Err(e) if e.status.is_client_error() => {
            savepoint.rollback().await?;
            Ok(Err(("type".into(), format!("{}: {}", e.code, e.detail))))
        }
        Err(e) => Err(e),
    }
}

/// Runs imports.
pub struct Importer {
    db: DatabaseConnection,
    wake: Arc<Notify>,
}

impl Importer {
    pub fn new(db: DatabaseConnection, wake: Arc<Notify>) -> Self {
        Self { db, wake }
    }

    /// The oldest queued import, marked running; `None` when the queue is empty.
    async fn claim(&self) -> Result<Option<CmdbImport>, ApiError> {
        let txn = self.db.begin().await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            txn.execute_unprepared(&format!("SELECT set_config('{WORKER_FLAG}', 'on', true)"))
                .await?;
        }
        let Some(i) = imports::claim_next(&txn).await? else {
            txn.commit().await?;
            return Ok(None);
        };
        let i = imports::record(&txn, i, status::RUNNING, Counts::default()).await?;
        txn.commit().await?;
        Ok(Some(i))
    }

    /// Takes every queued import; returns how many.
    pub async fn drain(&self) -> Result<usize, ApiError> {
        let mut n = 0;
        while let Some(i) = self.claim().await? {
            let (id, tenant) = (i.id, TenantId(i.tenant_id));
            if let Err(e) = run(&self.db, i, &|_| {}).await {
                // Not left running for ever: the import fails, saying why.
                tracing::warn!(import = %id, error = %e, "cmdb import failed");
                let txn = scoped(&self.db, tenant).await?;
                let i = imports::find(&txn, tenant, id).await?;
                txn.commit().await?;
                if let Some(i) = i {
                    let counts = Counts {
                        rows_done: i.rows_total,
                        failed: i.rows_total - i.created - i.updated - i.unchanged,
                        created: i.created,
                        updated: i.updated,
                        unchanged: i.unchanged,
                        skipped_attributes: i.skipped_attributes,
                    };
                    finish(
                        &self.db,
                        i,
                        status::FAILED,
                        counts,
                        &[row_error(0, "body", e.detail)],
                    )
                    .await?;
                }
            }
            n += 1;
        }
        Ok(n)
    }

    /// Takes imports as they are queued until shut down.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            match self.drain().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(worker = "cmdb-import", imports = n, "cmdb imports taken"),
                Err(e) => tracing::warn!(worker = "cmdb-import", error = %e, "cmdb import failed"),
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(TICK) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}

async fn scoped(
    db: &DatabaseConnection,
    tenant: TenantId,
) -> Result<DatabaseTransaction, ApiError> {
    Ok(platform::tenancy::begin_scoped(db, &[tenant]).await?)
}

/// Takes running import `i`'s rows, reporting progress after each chunk; returns it finished.
pub async fn run(
    db: &DatabaseConnection,
    i: CmdbImport,
    progress: &(dyn Fn(Counts) + Sync),
) -> Result<CmdbImport, ApiError> {
    let tenant = TenantId(i.tenant_id);
    let format = crate::domain::cmdb_import::Format::parse(&i.format)
        .unwrap_or(crate::domain::cmdb_import::Format::Csv);
    let rows = match read(format, i.payload.as_bytes()) {
        Ok(rows) => rows,
        Err(errors) => {
            // Checked when it was queued; a file read differently now fails whole.
            let errors: Vec<RowError> = errors
                .into_iter()
                .map(|e| row_error(1, e.pointer, e.detail))
                .collect();
            return finish(db, i, status::FAILED, Counts::default(), &errors).await;
        }
    };
    let total = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let atomic = Mode::parse(&i.mode) == Some(Mode::Atomic);
    let chunk = if atomic { rows.len().max(1) } else { CHUNK };
    // Classes, rules and compiled forms as the import starts: read once, not per chunk.
    let ctx = {
        let txn = scoped(db, tenant).await?;
        let ctx = Context::load(&txn, &i).await?;
        txn.commit().await?;
        ctx
    };
    let mut counts = Counts::default();
    let mut i = i;
    for part in rows.chunks(chunk) {
        let mut attempt = 0;
        loop {
            let txn = scoped(db, tenant).await?;
            let outcome = take(&txn, &ctx, part).await;
            match outcome {
                Ok(Outcome::Done(_, errors)) if atomic && !errors.is_empty() => {
                    txn.rollback().await?;
                    let failed = Counts {
                        rows_done: total,
                        failed: total,
                        ..Counts::default()
                    };
                    return finish(db, i, status::FAILED, failed, &errors).await;
                }
                Ok(Outcome::Done(done, errors)) => {
                    counts.add(done);
                    imports::insert_errors(&txn, &i, &errors).await?;
                    let state = if atomic {
                        status::COMPLETED
                    } else {
                        status::RUNNING
                    };
                    if atomic {
                        txn.commit().await?;
                        return finish(db, i, state, counts, &[]).await;
                    }
                    i = imports::record(&txn, i, state, counts).await?;
                    txn.commit().await?;
                    progress(counts);
                    break;
                }
                Ok(Outcome::Raced) if attempt < RETRIES => {
                    txn.rollback().await?;
                    attempt += 1;
                }
                Ok(Outcome::Raced) => {
                    txn.rollback().await?;
                    let error = row_error(
                        part.first().map_or(1, |r| r.row),
                        "body",
                        "other imports kept claiming these rows' identities; import again",
                    );
                    let failed = Counts {
                        rows_done: total,
                        failed: total - counts.created - counts.updated - counts.unchanged,
                        ..counts
                    };
                    return finish(db, i, status::FAILED, failed, &[error]).await;
                }
                Err(e) if e.status.is_client_error() => {
                    txn.rollback().await?;
                    let error = row_error(part.first().map_or(1, |r| r.row), "body", e.detail);
                    let failed = Counts {
                        rows_done: total,
                        failed: total - counts.created - counts.updated - counts.unchanged,
                        ..counts
                    };
                    return finish(db, i, status::FAILED, failed, &[error]).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
    finish(db, i, status::COMPLETED, counts, &[]).await
}

/// Records `i` as ended in `state` with `counts` and `errors`, announced.
async fn finish(
    db: &DatabaseConnection,
    i: CmdbImport,
    state: &str,
    counts: Counts,
    errors: &[RowError],
) -> Result<CmdbImport, ApiError> {
    let txn = scoped(db, TenantId(i.tenant_id)).await?;
    imports::insert_errors(&txn, &i, errors).await?;
    let i = imports::record(&txn, i, state, counts).await?;
    events::ci_import_completed(&txn, &i).await?;
    txn.commit().await?;
    Ok(i)
}
