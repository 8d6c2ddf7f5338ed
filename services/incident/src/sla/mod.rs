//! The SLA engine's glue: which definitions apply to a tenant (its own and its ancestors'),
//! which calendar each uses, and moving an incident's clocks whenever the incident changes, in
//! the incident's own transaction. The rules themselves live in `domain::sla`.
pub mod request_items;
pub mod scheduler;
pub mod schema;

use platform::tenancy::TenantId;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bus::{BusError, HandlerError};
use chrono::{DateTime, Utc};
use platform::tenancy::{TenantInfo, begin_scoped, scope_to};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr};
use uuid::Uuid;

use crate::{
    domain::{
        calendar::{Calendar, CalendarSpec},
        sla::{Clock, Event, Facts, Kind, Mark, Rules, Status, Subject, name_of},
    },
    store::{
        incidents::{self, Incident},
        sla::{
            self as sla_store, CalendarRow, ClockRow, DefinitionRow, SnapshotRow, Started,
            kind_str, mark_row, parse_kind, parse_status, status_str,
        },
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
    /// `rules` as each clock stores them.
    pub rules_json: String,
    pub calendar: PinnedCalendar,
}

/// A definition's calendar as its clocks pin it: the content digest, the JSON stored under it
/// (see `store::sla::digest`) and the calendar parsed, all worked out once per configuration
/// load rather than once per clock.
#[derive(Debug, Clone)]
pub struct PinnedCalendar {
    pub digest: String,
    pub spec: String,
    pub parsed: Arc<Calendar>,
}

impl PinnedCalendar {
    fn of(spec: &CalendarSpec) -> Result<Self, DbErr> {
        let (digest, json) = sla_store::digest(spec);
        let parsed = Calendar::parse(spec, "")
            .map_err(|_| DbErr::Custom(format!("configured calendar {digest} is invalid")))?;
        Ok(PinnedCalendar {
            digest,
            spec: json,
            parsed: Arc::new(parsed),
        })
    }
}

/// The SLA set-up a tenant's incidents and request items follow.
#[derive(Debug, Default)]
pub struct Config {
    /// For incidents.
    pub definitions: Vec<Definition>,
    pub request_item_definitions: Vec<Definition>,
}

fn parse_json<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, DbErr> {
    serde_json::from_str(raw).map_err(|e| DbErr::Json(e.to_string()))
}

/// The calendar `tenant` uses by default: the default calendar of the nearest tenant on its
/// path (itself, then its MSP, …), else around the clock in UTC.
pub fn default_calendar<'a>(
    path: &[TenantId],
    calendars: &'a [CalendarRow],
) -> Option<&'a CalendarRow> {
    path.iter().rev().find_map(|t| {
        calendars
            .iter()
            .find(|c| c.tenant_id == t.as_uuid() && c.is_default)
    })
}

impl Config {
    /// Active definitions of the tenant at the end of `path` and of its ancestors, each with
    /// its calendar (named, or the tenant's default).
    pub fn resolve(
        path: &[TenantId],
        calendars: &[CalendarRow],
        definitions: &[DefinitionRow],
    ) -> Result<Config, DbErr> {
        let default = PinnedCalendar::of(&match default_calendar(path, calendars) {
            Some(c) => parse_json(&c.spec)?,
            None => CalendarSpec::always(),
        })?;
        let mut config = Config::default();
        for d in definitions.iter().filter(|d| d.active) {
            let calendar = match d
                .calendar_id
                .and_then(|id| calendars.iter().find(|c| c.id == id))
            {
                Some(c) => PinnedCalendar::of(&parse_json(&c.spec)?)?,
                None => default.clone(),
            };
            let Some(kind) = parse_kind(&d.kind) else {
                continue;
            };
            let rules: Rules = parse_json(&d.rules)?;
            let list = match Subject::parse(&d.applies_to) {
                Some(Subject::Incident) => &mut config.definitions,
                Some(Subject::RequestItem) => &mut config.request_item_definitions,
                None => continue,
            };
            list.push(Definition {
                id: d.id,
                name: d.name.clone(),
                kind,
                target_seconds: d.target_seconds,
                rules_json: serde_json::to_string(&rules)
                    .map_err(|e| DbErr::Json(e.to_string()))?,
                rules,
                calendar,
            });
        }
        Ok(config)
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
        tenant: TenantId,
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
    configs: Mutex<HashMap<TenantId, (Instant, Arc<Config>)>>,
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
        let lineage = tenant.lineage();
        let txn = begin_scoped(&self.db, lineage).await?;
        let calendars = sla_store::calendars(&txn, lineage).await?;
        let definitions = sla_store::definitions(&txn, lineage).await?;
        txn.commit().await?;
        let config = Arc::new(Config::resolve(&tenant.path, &calendars, &definitions)?);
        for def in &config.definitions {
            let pinned = &def.calendar;
            self.calendars
                .remember(&pinned.digest, pinned.parsed.clone());
        }
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

    /// [`tracking`](Self::tracking) for a consumer: the configuration is read in the event's
    /// own transaction (a consumer has no request's tenant at hand, only the event's).
    pub async fn tracking_in(
        &self,
        txn: &DatabaseTransaction,
        tenant: TenantId,
    ) -> Result<Tracking<'_>, HandlerError> {
        Ok(Tracking {
            sla: self,
            config: Arc::new(config_in(txn, tenant).await?),
        })
    }
}

/// The SLA set-up of `tenant` (its own definitions and its ancestors'), read in `txn`: a
/// consumer's transaction, which widens its scope to the tenant's path for the reading only.
pub(crate) async fn config_in(
    txn: &DatabaseTransaction,
    tenant: TenantId,
) -> Result<Config, HandlerError> {
    let path = bus::directory::path_in(txn, tenant.as_uuid())
        .await?
        .ok_or_else(|| HandlerError::Failed(format!("tenant {tenant:?} is not projected yet")))?;
    scope_to(txn, &path).await?;
    let calendars = sla_store::calendars(txn, &path).await?;
    let definitions = sla_store::definitions(txn, &path).await?;
    scope_to(txn, &[tenant]).await?;
    Ok(Config::resolve(&path, &calendars, &definitions)?)
}

impl Tracking<'_> {
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
pub fn facts(i: &Incident) -> Result<Facts, DbErr> {
    let status = incidents::status_of(i);
    Ok(Facts {
        state: name_of(status.state),
        hold_reason: status.hold_reason.map(name_of),
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
    })
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

/// Announces the thresholds among `marks` of an incident's clock: a warning for each, and the
/// breach at 100 %. A request item's clocks are announced as its standing
/// ([`request_items::announce`]).
pub(crate) fn announce(
    outbox: &mut bus::outbox::Batch,
    row: &ClockRow,
    marks: &[Event],
) -> Result<(), BusError> {
    if row.subject != Subject::Incident.as_str() {
        return Ok(());
    }
    for e in marks {
        let Mark::Threshold { percent } = e.mark else {
            continue;
        };
        let warning = events::incident::SlaWarning {
            clock_id: row.id,
            incident_id: row.subject_id,
            definition_id: row.definition_id,
            name: row.name.clone(),
            kind: row.kind.clone(),
            percent,
            reached_at: e.at,
        };
        outbox.push(TenantId(row.tenant_id), row.id, row.version, &warning)?;
        if percent == 100 {
            let breach = events::incident::SlaBreached {
                clock_id: row.id,
                incident_id: row.subject_id,
                definition_id: row.definition_id,
                name: row.name.clone(),
                kind: row.kind.clone(),
                target_seconds: row.target_seconds,
                breached_at: e.at,
            };
            outbox.push(TenantId(row.tenant_id), row.id, row.version, &breach)?;
        }
    }
    Ok(())
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

/// Moves `after`'s clocks for a change from `before` (None: just created; the incident row
/// need not be written yet), made at `now` (whole seconds), and starts the clocks of
/// definitions that now apply. Runs in the incident's transaction; returns the incident's
/// queue key (`sla_due_at`): the earliest deadline of its running clocks. The demo data
/// replays incidents' histories through it. Thresholds passed before `now` are recorded first, stamped with the
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
    let before_facts = before.map(facts).transpose()?;
    let target = Target {
        subject: Subject::Incident,
        tenant: TenantId(after.tenant_id),
        id: after.id,
    };
    // A new incident (no `before`) has no clocks yet: nothing to read.
    let moved = move_clocks(
        txn,
        sla,
        &config.definitions,
        target,
        before_facts.as_ref(),
        &facts(after)?,
        now,
    )
    .await?;
    Ok(crate::domain::queue::sla_due(
        moved.iter().filter_map(|c| c.due_at),
    ))
}

/// What clocks run for: an incident or a request item of a tenant.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub subject: Subject,
    pub tenant: TenantId,
    pub id: Uuid,
}

/// Moves `target`'s clocks for a change from `before` (None: just created, so it has no
/// clocks yet) to `after`, made at `now`, and starts the clocks of those of `definitions` that
/// now apply. Returns every clock of `target` as it now stands.
pub async fn move_clocks(
    txn: &DatabaseTransaction,
    sla: &Sla,
    definitions: &[Definition],
    target: Target,
    before: Option<&Facts>,
    after: &Facts,
    now: DateTime<Utc>,
) -> Result<Vec<ClockRow>, BusError> {
    let rows = match before {
        Some(_) => {
            sla_store::clocks_of(txn, target.tenant, target.subject, target.id, true).await?
        }
        None => Vec::new(),
    };
    let mut outbox = bus::outbox::Batch::default();
    let mut all_marks = Vec::new();
    let mut moved = Vec::with_capacity(rows.len());
    for mut row in rows.iter().cloned() {
        let rules: Rules = parse_json(&row.rules)?;
        let mut clock = clock_of(&row);
        let settled = matches!(clock.status, Status::Stopped | Status::Canceled);
        if settled && rules.reset_when.is_empty() {
            moved.push(row);
            continue;
        }
        let cal = sla
            .calendars
            .get(txn, TenantId(row.tenant_id), &row.calendar_digest)
            .await?;
        let marks = clock.on_change(&rules, &cal, before, after, now);
        if marks.is_empty() {
            moved.push(row);
            continue;
        }
        store_clock(&mut row, &clock, &cal, now);
        sla_store::update_clock(txn, row.clone()).await?;
        announce(&mut outbox, &row, &marks)?;
        all_marks.extend(
            marks
                .iter()
                .map(|m| mark_row(TenantId(row.tenant_id), row.id, m)),
        );
        moved.push(row);
    }
    let started = start_clocks(
        definitions
            .iter()
            .filter(|def| !rows.iter().any(|r| r.definition_id == def.id)),
        target,
        after,
        now,
    )?;
    for snapshot in started.snapshots {
        sla_store::pin_calendar(txn, snapshot).await?;
    }
    for clock in &started.clocks {
        sla_store::insert_clock(txn, clock.clone()).await?;
    }
    moved.extend(started.clocks);
    outbox.extend(started.outbox);
    all_marks.extend(started.marks);
    sla_store::add_marks(txn, &all_marks).await?;
    outbox.append(txn).await?;
    Ok(moved)
}

impl Tracking<'_> {
    /// The clocks a new incident starts at `now` (whole seconds), without writing anything.
    pub fn start(&self, incident: &Incident, now: DateTime<Utc>) -> Result<Started, BusError> {
        let target = Target {
            subject: Subject::Incident,
            tenant: TenantId(incident.tenant_id),
            id: incident.id,
        };
        start_clocks(
            self.config.definitions.iter(),
            target,
            &facts(incident)?,
            now,
        )
    }
}

/// Starts the clocks of those of `definitions` that apply to `target` (now `after`), at `now`.
/// No I/O: each definition carries its calendar parsed.
fn start_clocks<'a>(
    definitions: impl Iterator<Item = &'a Definition>,
    target: Target,
    after_facts: &Facts,
    now: DateTime<Utc>,
) -> Result<Started, BusError> {
    let mut started = Started {
        snapshots: Vec::new(),
        clocks: Vec::new(),
        marks: Vec::new(),
        outbox: bus::outbox::Batch::default(),
        due: crate::domain::queue::no_sla_due(),
    };
    for def in definitions.filter(|def| def.rules.applies(after_facts)) {
        let pinned = &def.calendar;
        if !started.snapshots.iter().any(|s| s.digest == pinned.digest) {
            started.snapshots.push(SnapshotRow {
                tenant_id: target.tenant.as_uuid(),
                digest: pinned.digest.clone(),
                spec: pinned.spec.clone(),
            });
        }
        let mut clock = Clock::new(def.target_seconds, now);
        let marks = clock.on_change(&def.rules, &pinned.parsed, None, after_facts, now);
        let mut row = ClockRow {
            id: Uuid::now_v7(),
            tenant_id: target.tenant.as_uuid(),
            subject_id: target.id,
            subject: target.subject.as_str().to_string(),
            definition_id: def.id,
            name: def.name.clone(),
            kind: kind_str(def.kind).to_string(),
            target_seconds: def.target_seconds,
            calendar_digest: pinned.digest.clone(),
            rules: def.rules_json.clone(),
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
        store_clock(&mut row, &clock, &pinned.parsed, now);
        announce(&mut started.outbox, &row, &marks)?;
        started.marks.extend(
            marks
                .iter()
                .map(|m| mark_row(TenantId(row.tenant_id), row.id, m)),
        );
        started.clocks.push(row);
    }
    started.due = crate::domain::queue::sla_due(started.clocks.iter().filter_map(|c| c.due_at));
    Ok(started)
}
