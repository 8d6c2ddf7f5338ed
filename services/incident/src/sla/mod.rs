//! The SLA engine's glue: which definitions apply to a tenant (its own and its ancestors'),
//! which calendar each uses, and moving an incident's clocks whenever the incident changes, in
//! the incident's own transaction. The rules themselves live in `domain::sla`.
pub mod routes;
pub mod scheduler;
pub mod schema;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bus::BusError;
use chrono::{DateTime, Utc};
use platform::tenancy::{TenantInfo, begin_scoped};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr};
use uuid::Uuid;

use crate::{
    domain::{
        calendar::{Calendar, CalendarSpec},
        sla::{Clock, Event, Facts, Kind, Mark, Rules, Status},
    },
    routes::status_of,
    store::{
        incidents::Incident,
        sla::{self as sla_store, CalendarRow, ClockRow, DefinitionRow},
    },
};

/// A definition ready to start clocks.
#[derive(Debug, Clone)]
pub struct Definition {
    pub id: Uuid,
    pub name: String,
    pub kind: Kind,
    pub target_seconds: i64,
    pub rules: Rules,
    pub calendar: CalendarSpec,
}

/// The SLA set-up a tenant's incidents follow.
#[derive(Debug, Default)]
pub struct Config {
    pub definitions: Vec<Definition>,
}

fn parse_json<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, DbErr> {
    serde_json::from_str(raw).map_err(|e| DbErr::Json(e.to_string()))
}

pub fn kind_str(kind: Kind) -> &'static str {
    match kind {
        Kind::Response => "response",
        Kind::Resolution => "resolution",
    }
}

pub fn parse_kind(raw: &str) -> Option<Kind> {
    match raw {
        "response" => Some(Kind::Response),
        "resolution" => Some(Kind::Resolution),
        _ => None,
    }
}

pub fn status_str(status: Status) -> &'static str {
    match status {
        Status::Pending => "pending",
        Status::Running => "running",
        Status::Paused => "paused",
        Status::Stopped => "stopped",
        Status::Canceled => "canceled",
    }
}

fn parse_status(raw: &str) -> Status {
    match raw {
        "running" => Status::Running,
        "paused" => Status::Paused,
        "stopped" => Status::Stopped,
        "canceled" => Status::Canceled,
        _ => Status::Pending,
    }
}

/// The calendar `tenant` uses by default: the default calendar of the nearest tenant on its
/// path (itself, then its MSP, …), else around the clock in UTC.
pub fn default_calendar<'a>(
    path: &[Uuid],
    calendars: &'a [CalendarRow],
) -> Option<&'a CalendarRow> {
    path.iter()
        .rev()
        .find_map(|t| calendars.iter().find(|c| c.tenant_id == *t && c.is_default))
}

impl Config {
    /// Active definitions of the tenant at the end of `path` and of its ancestors, each with
    /// its calendar (named, or the tenant's default).
    pub fn resolve(
        path: &[Uuid],
        calendars: &[CalendarRow],
        definitions: &[DefinitionRow],
    ) -> Result<Config, DbErr> {
        let default = match default_calendar(path, calendars) {
            Some(c) => parse_json(&c.spec)?,
            None => CalendarSpec::always(),
        };
        let mut out = Vec::new();
        for d in definitions.iter().filter(|d| d.active) {
            let calendar = match d
                .calendar_id
                .and_then(|id| calendars.iter().find(|c| c.id == id))
            {
                Some(c) => parse_json(&c.spec)?,
                None => default.clone(),
            };
            let Some(kind) = parse_kind(&d.kind) else {
                continue;
            };
            out.push(Definition {
                id: d.id,
                name: d.name.clone(),
                kind,
                target_seconds: d.target_seconds,
                rules: parse_json(&d.rules)?,
                calendar,
            });
        }
        Ok(Config { definitions: out })
    }
}

/// Parsed calendars by content digest (immutable, so never stale).
#[derive(Default)]
pub struct Calendars(Mutex<HashMap<String, Arc<Calendar>>>);

impl Calendars {
    fn cached(&self, digest: &str) -> Option<Arc<Calendar>> {
        self.0.lock().ok()?.get(digest).cloned()
    }

    fn remember(&self, digest: &str, cal: Arc<Calendar>) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() > 10_000 {
                map.clear();
            }
            map.insert(digest.to_string(), cal);
        }
    }

    /// The calendar a clock pinned.
    pub async fn get(
        &self,
        db: &impl ConnectionTrait,
        tenant: Uuid,
        digest: &str,
    ) -> Result<Arc<Calendar>, DbErr> {
        if let Some(cal) = self.cached(digest) {
            return Ok(cal);
        }
        let spec = sla_store::snapshot(db, tenant, digest)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("calendar snapshot {digest}")))?;
        let cal = Arc::new(
            Calendar::parse(&spec, "")
                .map_err(|_| DbErr::Custom(format!("stored calendar {digest} is invalid")))?,
        );
        self.remember(digest, cal.clone());
        Ok(cal)
    }
}

/// The SLA engine of one process: configuration (cached per tenant for a few seconds and
/// dropped at once when this process changes it) and parsed calendars.
pub struct Sla {
    db: DatabaseConnection,
    configs: Mutex<HashMap<Uuid, (Instant, Arc<Config>)>>,
    pub calendars: Calendars,
}

const CONFIG_TTL: Duration = Duration::from_secs(5);

impl Sla {
    pub fn new(db: DatabaseConnection) -> Self {
        Sla {
            db,
            configs: Mutex::default(),
            calendars: Calendars::default(),
        }
    }

    /// The configuration `tenant`'s incidents follow now.
    pub async fn config(&self, tenant: &TenantInfo) -> Result<Arc<Config>, DbErr> {
        if let Ok(map) = self.configs.lock()
            && let Some((at, config)) = map.get(&tenant.id)
            && at.elapsed() < CONFIG_TTL
        {
            return Ok(config.clone());
        }
        // The tenant's and its ancestors' rows: a transaction scoped to the whole path.
        let txn = begin_scoped(&self.db, &tenant.path).await?;
        let calendars = sla_store::calendars(&txn, &tenant.path).await?;
        let definitions = sla_store::definitions(&txn, &tenant.path).await?;
        txn.commit().await?;
        let config = Arc::new(Config::resolve(&tenant.path, &calendars, &definitions)?);
        if let Ok(mut map) = self.configs.lock() {
            map.insert(tenant.id, (Instant::now(), config.clone()));
        }
        Ok(config)
    }

    /// Forgets cached configuration (after a calendar or definition changed).
    pub fn invalidate(&self) {
        if let Ok(mut map) = self.configs.lock() {
            map.clear();
        }
    }
}

/// The SLA engine with one tenant's configuration: what incident changes go through.
pub struct Tracking<'a> {
    pub sla: &'a Sla,
    pub config: Arc<Config>,
}

impl Sla {
    pub async fn tracking(&self, tenant: &TenantInfo) -> Result<Tracking<'_>, DbErr> {
        Ok(Tracking {
            sla: self,
            config: self.config(tenant).await?,
        })
    }
}

impl Tracking<'_> {
    /// See [`track`].
    pub async fn track(
        &self,
        txn: &DatabaseTransaction,
        before: Option<&Incident>,
        after: &Incident,
    ) -> Result<DateTime<Utc>, BusError> {
        track(txn, self.sla, &self.config, before, after).await
    }

    /// See [`track_stored_at`], now.
    pub async fn track_stored(
        &self,
        txn: &DatabaseTransaction,
        before: Option<&Incident>,
        after: Incident,
    ) -> Result<Incident, BusError> {
        track_stored_at(txn, self.sla, &self.config, before, after, now()).await
    }
}

/// Now, in whole seconds: SLA time is counted and explained to the second, so every mark and
/// threshold falls on one.
pub fn now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(0)
}

/// What an incident looks like to SLA conditions.
pub fn facts(i: &Incident) -> Facts {
    let status = status_of(i);
    Facts {
        state: status.state,
        hold_reason: status.hold_reason,
        priority: i.priority as u8,
        impact: i.impact as u8,
        urgency: i.urgency as u8,
        category: i.category.clone(),
        subcategory: i.subcategory.clone(),
        major: i.major,
        assignment_group_id: i.assignment_group_id,
        assignee_id: i.assignee_id,
        service_id: i.service_id,
        configuration_item_id: i.configuration_item_id,
    }
}

pub(crate) fn clock_of(row: &ClockRow) -> Clock {
    Clock {
        status: parse_status(&row.status),
        elapsed: row.elapsed_seconds,
        since: row.since,
        target: row.target_seconds,
        reached: row.reached.max(0) as u8,
    }
}

/// Writes `clock`'s new state into `row` (with the derived deadline and next threshold).
pub(crate) fn store_clock(row: &mut ClockRow, clock: &Clock, cal: &Calendar, now: DateTime<Utc>) {
    row.status = status_str(clock.status).to_string();
    row.elapsed_seconds = clock.elapsed;
    row.since = clock.since;
    row.reached = i16::from(clock.reached);
    row.due_at = clock.due(cal);
    row.next_fire_at = clock.next_threshold(cal).map(|(_, at)| at);
    row.version += 1;
    row.updated_at = now;
}

/// Announces the thresholds among `marks`: a warning for each, and the breach at 100 %.
pub(crate) fn announce(
    outbox: &mut bus::outbox::Batch,
    row: &ClockRow,
    marks: &[Event],
) -> Result<(), BusError> {
    for e in marks {
        let Mark::Threshold { percent } = e.mark else {
            continue;
        };
        let warning = events::incident::SlaWarning {
            clock_id: row.id,
            incident_id: row.incident_id,
            definition_id: row.definition_id,
            name: row.name.clone(),
            kind: row.kind.clone(),
            percent,
            reached_at: e.at,
        };
        outbox.push(row.tenant_id, row.id, row.version, &warning)?;
        if percent == 100 {
            let breach = events::incident::SlaBreached {
                clock_id: row.id,
                incident_id: row.incident_id,
                definition_id: row.definition_id,
                name: row.name.clone(),
                kind: row.kind.clone(),
                target_seconds: row.target_seconds,
                breached_at: e.at,
            };
            outbox.push(row.tenant_id, row.id, row.version, &breach)?;
        }
    }
    Ok(())
}

/// Moves `after`'s clocks for a change from `before` (None: just created; the incident row
/// need not be written yet) and starts the clocks of definitions that now apply. Runs in the
/// incident's transaction. Returns the incident's queue key (`sla_due_at`): the earliest
/// deadline of its running clocks.
pub async fn track(
    txn: &DatabaseTransaction,
    sla: &Sla,
    config: &Config,
    before: Option<&Incident>,
    after: &Incident,
) -> Result<DateTime<Utc>, BusError> {
    track_at(txn, sla, config, before, after, now()).await
}

/// [`track_at`] for an incident whose row is written: records its new queue key in the row
/// (only when it moved) and returns the incident as stored.
pub async fn track_stored_at(
    txn: &DatabaseTransaction,
    sla: &Sla,
    config: &Config,
    before: Option<&Incident>,
    after: Incident,
    now: DateTime<Utc>,
) -> Result<Incident, BusError> {
    let due = track_at(txn, sla, config, before, &after, now).await?;
    Ok(crate::store::incidents::set_sla_due(txn, after, due).await?)
}

/// [`track`] for a change made at `now` (whole seconds): the demo data replays incidents'
/// histories through it. Thresholds passed before `now` are recorded first, stamped with the
/// instant each was reached, so `track_at(Some(&i), &i, now)` brings an unchanged incident's
/// clocks up to `now`.
pub async fn track_at(
    txn: &DatabaseTransaction,
    sla: &Sla,
    config: &Config,
    before: Option<&Incident>,
    after: &Incident,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, BusError> {
    let before_facts = before.map(facts);
    let after_facts = facts(after);
    // A new incident (no `before`) has no clocks yet: nothing to read.
    let rows = match before {
        Some(_) => sla_store::clocks_of(txn, after.tenant_id, after.id, true).await?,
        None => Vec::new(),
    };
    let mut outbox = bus::outbox::Batch::default();
    let mut all_marks = Vec::new();
    let mut deadlines = Vec::new();
    for mut row in rows.iter().cloned() {
        let rules: Rules = parse_json(&row.rules)?;
        let mut clock = clock_of(&row);
        let settled = matches!(clock.status, Status::Stopped | Status::Canceled);
        if settled && rules.reset_when.is_empty() {
            continue;
        }
        let cal = sla
            .calendars
            .get(txn, row.tenant_id, &row.calendar_digest)
            .await?;
        let marks = clock.on_change(&rules, &cal, before_facts.as_ref(), &after_facts, now);
        if marks.is_empty() {
            deadlines.extend(row.due_at);
            continue;
        }
        store_clock(&mut row, &clock, &cal, now);
        deadlines.extend(row.due_at);
        sla_store::update_clock(txn, row.clone()).await?;
        announce(&mut outbox, &row, &marks)?;
        all_marks.extend(marks.into_iter().map(|m| ((row.tenant_id, row.id), m)));
    }
    for def in &config.definitions {
        if rows.iter().any(|r| r.definition_id == def.id) || !def.rules.applies(&after_facts) {
            continue;
        }
        let digest = sla_store::pin_calendar(txn, after.tenant_id, &def.calendar).await?;
        let cal = sla.calendars.get(txn, after.tenant_id, &digest).await?;
        let mut clock = Clock::new(def.target_seconds, now);
        let marks = clock.on_change(&def.rules, &cal, None, &after_facts, now);
        let mut row = ClockRow {
            id: Uuid::now_v7(),
            tenant_id: after.tenant_id,
            incident_id: after.id,
            definition_id: def.id,
            name: def.name.clone(),
            kind: kind_str(def.kind).to_string(),
            target_seconds: def.target_seconds,
            calendar_digest: digest,
            rules: serde_json::to_string(&def.rules).map_err(|e| DbErr::Json(e.to_string()))?,
            status: String::new(),
            elapsed_seconds: 0,
            since: now,
            reached: 0,
            due_at: None,
            next_fire_at: None,
            version: 0,
            created_at: now,
            updated_at: now,
        };
        store_clock(&mut row, &clock, &cal, now);
        deadlines.extend(row.due_at);
        sla_store::insert_clock(txn, row.clone()).await?;
        announce(&mut outbox, &row, &marks)?;
        all_marks.extend(marks.into_iter().map(|m| ((row.tenant_id, row.id), m)));
    }
    sla_store::add_marks(txn, &all_marks).await?;
    outbox.append(txn).await?;
    Ok(crate::domain::queue::sla_due(deadlines))
}
