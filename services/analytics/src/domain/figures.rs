//! What each event adds to the figures. A ticket's facts (what the figures need of its history:
//! when it was created, acknowledged, put on hold, resolved) are folded event by event, and
//! each event yields the changes it makes to per-day counts and duration histograms. Days are
//! the tenant's local days (its IANA zone), taken per timestamp, so a DST day is 23 or 25 hours.
//!
//! A ticket's resolution keeps the list of changes it made, so a reopen withdraws exactly
//! them and the final resolution is the one that counts.
use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use events::{Event, catalogue, change, incident};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

pub use super::metrics::{Delta, Dimension, Metric};
use super::{
    sketch::bucket_of,
    streams::{StepClock, Stream},
    summary::Totals,
};

/// What the figures need of one incident's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentFacts {
    pub created_at: DateTime<Utc>,
    pub created_day: NaiveDate,
    pub acknowledged: bool,
    pub hold_since: Option<DateTime<Utc>>,
    pub hold_seconds: f64,
    pub group: Option<Uuid>,
    /// Moves from one assignment group to another (the first assignment is not a move).
    pub group_changes: u32,
    pub reopens: u32,
    pub response_breached: bool,
    pub resolution_breached: bool,
    /// What the standing resolution added to the figures; empty while unresolved.
    pub resolution: Vec<Delta>,
    /// Whether it has an assignee.
    #[serde(default)]
    pub assigned: bool,
    /// Its time per step of `incident_to_resolved` (`None` for facts kept before streams).
    #[serde(default)]
    pub flow: Option<StepClock>,
    /// What its volumes count it under (`None` for facts kept before volumes: not counted).
    #[serde(default)]
    pub classes: Option<Classes>,
}

/// What an incident is counted under in the volumes (ADR 44), and the version of the
/// classification that said so (`0`: none yet, counted under `None` everywhere).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Classes {
    pub category: Option<String>,
    pub service: Option<Uuid>,
    pub channel: Option<String>,
    pub version: i64,
}

impl Classes {
    pub fn key(&self, dimension: Dimension) -> Option<String> {
        match dimension {
            Dimension::Category => self.category.clone(),
            Dimension::Service | Dimension::ServiceResolved | Dimension::ServiceResolutionMet => {
                self.service.map(|s| s.to_string())
            }
            Dimension::Channel => self.channel.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestItemFacts {
    pub submitted_at: DateTime<Utc>,
    pub fulfilled: bool,
    /// Whether any of its fulfilment tasks was started.
    #[serde(default)]
    pub task_started: bool,
    #[serde(default)]
    pub flow: Option<StepClock>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeFacts {
    /// The day it closed and whether it counted as successful there.
    pub closed: Option<(NaiveDate, bool)>,
    #[serde(default)]
    pub flow: Option<StepClock>,
}

/// A ticket's facts, kept between its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ticket {
    Incident(IncidentFacts),
    RequestItem(RequestItemFacts),
    Change(ChangeFacts),
}

/// An event as kept: enough to fold it, live or in a replay.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    pub event_type: &'a str,
    pub time: DateTime<Utc>,
    pub data: &'a serde_json::Value,
}

impl Observed<'_> {
    /// Whether this is an `E`, compared piece by piece: `E::event_type()` would allocate, and
    /// a replay asks this of every event several times.
    pub(crate) fn is<E: Event>(&self) -> bool {
        let rest = self
            .event_type
            .strip_prefix("itsm.")
            .and_then(|r| r.strip_prefix(E::SERVICE))
            .and_then(|r| r.strip_prefix('.'))
            .and_then(|r| r.strip_prefix(E::AGGREGATE))
            .and_then(|r| r.strip_prefix('.'))
            .and_then(|r| r.strip_prefix(E::NAME))
            .and_then(|r| r.strip_prefix(".v"));
        rest.is_some_and(|v| v.parse::<u32>() == Ok(E::VERSION) && !v.starts_with('0'))
    }

    /// The payload as an `E`, read from the kept JSON without copying it.
    pub(crate) fn payload<E: Event + DeserializeOwned>(&self) -> Result<E, FigureError> {
        E::deserialize(self.data).map_err(|e| FigureError(format!("{}: {e}", self.event_type)))
    }
}

/// An event whose payload does not have its type's shape.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("payload does not match its type: {0}")]
pub struct FigureError(pub String);

/// The ticket an event is about, for the events that change a ticket's figures.
pub fn ticket_of(ev: &Observed) -> Result<Option<Uuid>, FigureError> {
    Ok(Some(if ev.is::<incident::IncidentCreated>() {
        ev.payload::<incident::IncidentCreated>()?.incident_id
    } else if ev.is::<incident::IncidentClassified>() {
        ev.payload::<incident::IncidentClassified>()?.incident_id
    } else if ev.is::<incident::IncidentStateChanged>() {
        ev.payload::<incident::IncidentStateChanged>()?.incident_id
    } else if ev.is::<incident::IncidentAssigned>() {
        ev.payload::<incident::IncidentAssigned>()?.incident_id
    } else if ev.is::<incident::SlaBreached>() {
        ev.payload::<incident::SlaBreached>()?.incident_id
    } else if ev.is::<catalogue::RequestItemStateChanged>() {
        ev.payload::<catalogue::RequestItemStateChanged>()?
            .request_item_id
    } else if ev.is::<catalogue::FulfilmentTaskStateChanged>() {
        ev.payload::<catalogue::FulfilmentTaskStateChanged>()?
            .request_item_id
    } else if ev.is::<change::ChangeCreated>() {
        ev.payload::<change::ChangeCreated>()?.change_id
    } else if ev.is::<change::ChangeStateChanged>() {
        ev.payload::<change::ChangeStateChanged>()?.change_id
    } else if ev.is::<change::ChangeClosed>() {
        ev.payload::<change::ChangeClosed>()?.change_id
    } else if ev.is::<change::ChangeOutcomeRevised>() {
        ev.payload::<change::ChangeOutcomeRevised>()?.change_id
    } else {
        return Ok(None);
    }))
}

/// What `ev` does: the ticket's facts after it (`None`: no ticket to keep) and the changes to
/// the figures. `prior` is the ticket's facts before it (`None`: not seen yet). An event about
/// a ticket never seen created (kept before analytics existed) changes nothing.
pub fn fold(
    prior: Option<Ticket>,
    ev: &Observed,
    zone: Tz,
) -> Result<(Option<Ticket>, Vec<Delta>), FigureError> {
    let day = |t: DateTime<Utc>| t.with_timezone(&zone).date_naive();
    let at = ev.time;
    let count = |metric, day| Delta::Count { metric, day, by: 1 };
    let sample = |metric, day, seconds: f64| Delta::Sample {
        metric,
        day,
        bucket: bucket_of(seconds),
        by: 1,
    };
    let mut deltas = Vec::new();
    let ticket = match prior {
        None if ev.is::<incident::IncidentCreated>() => {
            let p = ev.payload::<incident::IncidentCreated>()?;
            let flow = Stream::IncidentToResolved;
            deltas.push(count(Metric::IncidentsCreated, day(at)));
            deltas.push(Delta::Open {
                hour: hour_of(at),
                by: 1,
            });
            // Unclassified until its classification arrives (with it, or later).
            deltas.extend(Dimension::VOLUMES.map(|dimension| Delta::Volume {
                dimension,
                key: None,
                day: day(at),
                by: 1,
            }));
            Some(Ticket::Incident(IncidentFacts {
                created_at: at,
                created_day: day(at),
                acknowledged: false,
                hold_since: None,
                hold_seconds: 0.0,
                group: None,
                group_changes: 0,
                reopens: 0,
                response_breached: false,
                resolution_breached: false,
                resolution: Vec::new(),
                assigned: false,
                flow: Some(StepClock::start(flow, flow.step_of(&p.state, false), at)),
                classes: Some(Classes::default()),
            }))
        }
        None if ev.is::<catalogue::RequestItemStateChanged>() => {
            let p = ev.payload::<catalogue::RequestItemStateChanged>()?;
            if p.from.is_some() {
                None
            } else {
                deltas.push(count(Metric::RequestsSubmitted, day(at)));
                let flow = Stream::RequestToFulfilled;
                Some(Ticket::RequestItem(RequestItemFacts {
                    submitted_at: at,
                    fulfilled: false,
                    task_started: false,
                    flow: Some(StepClock::start(flow, flow.step_of(&p.to, false), at)),
                }))
            }
        }
        None if ev.is::<change::ChangeCreated>() => {
            let p = ev.payload::<change::ChangeCreated>()?;
            deltas.push(count(Metric::ChangesCreated, day(at)));
            if p.change_type == "emergency" {
                deltas.push(count(Metric::ChangesEmergency, day(at)));
            }
            let flow = Stream::ChangeToLive;
            Some(Ticket::Change(ChangeFacts {
                closed: None,
                flow: Some(StepClock::start(flow, flow.step_of(&p.state, false), at)),
            }))
        }
        None => {
            if ev.is::<catalogue::SuggestionDeflected>() {
                deltas.push(count(Metric::KnowledgeDeflected, day(at)));
            }
            None
        }
        Some(Ticket::Incident(mut f)) => {
            if ev.is::<incident::IncidentStateChanged>() {
                let p = ev.payload::<incident::IncidentStateChanged>()?;
                incident_moved(&mut f, &p.from, &p.to, at, day(at), &mut deltas);
            } else if ev.is::<incident::IncidentAssigned>() {
                let p = ev.payload::<incident::IncidentAssigned>()?;
                if let Some(group) = p.assignment_group_id.filter(|g| Some(*g) != f.group) {
                    if f.group.is_some() {
                        f.group_changes += 1;
                    }
                    f.group = Some(group);
                }
                f.assigned = p.assignee_id.is_some();
                // In `new`, an assignee moves it from the queue to acknowledging.
                let flow = Stream::IncidentToResolved;
                let new = [flow.step_of("new", false), flow.step_of("new", true)];
                if let Some(clock) = f.flow.as_mut().filter(|c| new.contains(&c.step())) {
                    clock.enter(flow.step_of("new", f.assigned), at);
                }
            } else if ev.is::<incident::SlaBreached>() {
                let p = ev.payload::<incident::SlaBreached>()?;
                let resolution = p.kind != "response";
                let (flag, met) = if resolution {
                    (&mut f.resolution_breached, Metric::IncidentsResolutionMet)
                } else {
                    (&mut f.response_breached, Metric::IncidentsResponseMet)
                };
                *flag = true;
                // A breach noticed after the resolution takes back its "met" (the service's
                // too, for a resolution breach).
                f.resolution.retain(|d| match d {
                    Delta::Count { metric, .. } if *metric == met => {
                        deltas.push(d.clone().negated());
                        false
                    }
                    Delta::Volume {
                        dimension: Dimension::ServiceResolutionMet,
                        ..
                    } if resolution => {
                        deltas.push(d.clone().negated());
                        false
                    }
                    _ => true,
                });
            }
            Some(Ticket::Incident(f))
        }
        Some(Ticket::RequestItem(mut f)) => {
            if ev.is::<catalogue::RequestItemStateChanged>() {
                let p = ev.payload::<catalogue::RequestItemStateChanged>()?;
                let flow = Stream::RequestToFulfilled;
                if p.to == "fulfilled" && !f.fulfilled {
                    f.fulfilled = true;
                    deltas.push(count(Metric::RequestsFulfilled, day(at)));
                    deltas.push(sample(
                        Metric::FulfilmentSeconds,
                        day(at),
                        seconds(f.submitted_at, at),
                    ));
                    if let Some(clock) = &mut f.flow {
                        deltas.extend(clock.complete(flow, at, day(at)));
                    }
                } else if let Some(clock) = &mut f.flow {
                    clock.enter(flow.step_of(&p.to, f.task_started), at);
                }
            } else if ev.is::<catalogue::FulfilmentTaskStateChanged>() {
                let p = ev.payload::<catalogue::FulfilmentTaskStateChanged>()?;
                let flow = Stream::RequestToFulfilled;
                if p.to == "in_progress" && !f.task_started {
                    f.task_started = true;
                    // Work started: the item leaves the queue.
                    if let Some(clock) = f
                        .flow
                        .as_mut()
                        .filter(|c| c.step() == flow.step_of("in_fulfilment", false))
                    {
                        clock.enter(flow.step_of("in_fulfilment", true), at);
                    }
                }
            }
            Some(Ticket::RequestItem(f))
        }
        Some(Ticket::Change(mut f)) => {
            if ev.is::<change::ChangeClosed>() && f.closed.is_none() {
                let p = ev.payload::<change::ChangeClosed>()?;
                let successful = p.close_code == "successful";
                deltas.push(count(Metric::ChangesClosed, day(at)));
                if successful {
                    deltas.push(count(Metric::ChangesSuccessful, day(at)));
                }
                f.closed = Some((day(at), successful));
                if let Some(clock) = &mut f.flow {
                    deltas.extend(clock.complete(Stream::ChangeToLive, at, day(at)));
                }
            } else if ev.is::<change::ChangeStateChanged>() {
                let p = ev.payload::<change::ChangeStateChanged>()?;
                let flow = Stream::ChangeToLive;
                if let Some(clock) = f.flow.as_mut().filter(|_| f.closed.is_none()) {
                    clock.enter(flow.step_of(&p.to, false), at);
                }
            } else if ev.is::<change::ChangeOutcomeRevised>() {
                let p = ev.payload::<change::ChangeOutcomeRevised>()?;
                if let Some((closed_day, true)) = f.closed.filter(|_| p.failed) {
                    deltas.push(Delta::Count {
                        metric: Metric::ChangesSuccessful,
                        day: closed_day,
                        by: -1,
                    });
                    f.closed = Some((closed_day, false));
                }
            }
            Some(Ticket::Change(f))
        }
    };
    Ok((ticket, deltas))
}

/// An incident's move from `from` to `to` at `at` (local day `day`).
fn incident_moved(
    f: &mut IncidentFacts,
    from: &str,
    to: &str,
    at: DateTime<Utc>,
    day: NaiveDate,
    deltas: &mut Vec<Delta>,
) {
    if from == "new" && !f.acknowledged {
        f.acknowledged = true;
        deltas.push(Delta::Count {
            metric: Metric::IncidentsAcknowledged,
            day: f.created_day,
            by: 1,
        });
        deltas.push(Delta::Sample {
            metric: Metric::MttaSeconds,
            day: f.created_day,
            bucket: bucket_of(seconds(f.created_at, at)),
            by: 1,
        });
    }
    if let Some(since) = f.hold_since.take() {
        f.hold_seconds += seconds(since, at);
    }
    let flow = Stream::IncidentToResolved;
    if let Some(clock) = &mut f.flow {
        clock.enter(flow.step_of(to, f.assigned), at);
    }
    let open = Delta::Open {
        hour: hour_of(f.created_at),
        by: -1,
    };
    match (from, to) {
        (_, "on_hold") => f.hold_since = Some(at),
        (_, "resolved") => {
            let count = |metric| Delta::Count { metric, day, by: 1 };
            let sample = |metric, seconds| Delta::Sample {
                metric,
                day,
                bucket: bucket_of(seconds),
                by: 1,
            };
            let elapsed = seconds(f.created_at, at);
            let mut r = vec![
                count(Metric::IncidentsResolved),
                sample(Metric::MttrSeconds, elapsed),
                sample(Metric::MttrExcludingHoldSeconds, elapsed - f.hold_seconds),
                open,
            ];
            if f.reopens == 0 && f.group_changes == 0 {
                r.push(count(Metric::IncidentsResolvedFirstContact));
            }
            if f.reopens > 0 {
                r.push(count(Metric::IncidentsResolvedAfterReopen));
            }
            if !f.response_breached {
                r.push(count(Metric::IncidentsResponseMet));
            }
            if !f.resolution_breached {
                r.push(count(Metric::IncidentsResolutionMet));
            }
            if let Some(service) = f.classes.as_ref().and_then(|c| c.service) {
                let per_service = |dimension| Delta::Volume {
                    dimension,
                    key: Some(service.to_string()),
                    day,
                    by: 1,
                };
                r.push(per_service(Dimension::ServiceResolved));
                if !f.resolution_breached {
                    r.push(per_service(Dimension::ServiceResolutionMet));
                }
            }
            if let Some(clock) = &mut f.flow {
                r.extend(clock.complete(flow, at, day));
            }
            deltas.extend(r.iter().cloned());
            f.resolution = r;
        }
        ("resolved", "closed") => {}
        ("resolved", _) => {
            // A reopen withdraws the resolution's samples and counts.
            deltas.extend(f.resolution.drain(..).map(Delta::negated));
            f.reopens += 1;
        }
        (_, "canceled") => deltas.push(open),
        _ => {}
    }
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 1000.0
}

/// The start of the UTC hour `t` is in.
pub fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    let s = t.timestamp();
    DateTime::from_timestamp(s - s.rem_euclid(3600), 0).unwrap_or(t)
}

/// Figure changes summed per row, as the tables hold them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// Counts and histogram buckets per local day.
    pub days: BTreeMap<NaiveDate, Totals>,
    pub opened: BTreeMap<DateTime<Utc>, i64>,
    /// Keyed by dimension, key (`""` for none) and day.
    pub volumes: BTreeMap<(Dimension, String, NaiveDate), i64>,
}

impl Rows {
    pub fn of(deltas: &[Delta]) -> Rows {
        let mut rows = Rows::default();
        rows.add_all(deltas);
        rows
    }

    pub fn add_all(&mut self, deltas: &[Delta]) {
        for d in deltas {
            match d {
                Delta::Count { metric, day, by } => {
                    self.days.entry(*day).or_default().add_count(*metric, *by)
                }
                Delta::Sample {
                    metric,
                    day,
                    bucket,
                    by,
                } => self
                    .days
                    .entry(*day)
                    .or_default()
                    .add_sample(*metric, *bucket, *by),
                Delta::Open { hour, by } => *self.opened.entry(*hour).or_default() += by,
                Delta::Volume {
                    dimension,
                    key,
                    day,
                    by,
                } => {
                    let key = key.clone().unwrap_or_default();
                    *self.volumes.entry((*dimension, key, *day)).or_default() += by
                }
            }
        }
    }

    /// Without the rows that sum to nothing (a statement may not touch a row twice, and a
    /// rebuild writes no empty rows).
    pub fn without_zeros(mut self) -> Rows {
        self.days.retain(|_, totals| !totals.is_empty());
        self.opened.retain(|_, by| *by != 0);
        self.volumes.retain(|_, by| *by != 0);
        self
    }
}

/// What one kept event does to its ticket: its facts after it, at the version they are at
/// (`None`: no ticket to keep), and the changes to the figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub ticket: Option<(i64, Ticket)>,
    pub deltas: Vec<Delta>,
}

/// Whether an event about ticket `id` (`None`: about none) counts for any figure.
pub fn counts(ev: &Observed, id: Option<Uuid>) -> bool {
    id.is_some() || ev.is::<catalogue::SuggestionDeflected>()
}

/// Folds the kept event `ev`, about aggregate `subject` at `version`, into ticket `id` whose
/// stored facts (and their version) are `stored`. `None`: nothing changes, because the event
/// counts for no figure or is of the ticket's own aggregate and not newer than the last one
/// folded (stale or replayed). Live consumption and rebuilds both fold through here.
pub fn advance(
    stored: Option<(i64, Ticket)>,
    id: Option<Uuid>,
    ev: &Observed,
    subject: &str,
    version: i64,
    zone: Tz,
) -> Result<Option<Step>, FigureError> {
    if !counts(ev, id) {
        return Ok(None);
    }
    if ev.is::<incident::IncidentClassified>() {
        return classify(stored, ev, version);
    }
    let own = id.is_some_and(|id| subject == id.to_string());
    let (seen, prior) = match stored {
        Some((seen, facts)) => (Some(seen), Some(facts)),
        None => (None, None),
    };
    if own && seen.is_some_and(|seen| version <= seen) {
        return Ok(None);
    }
    let (facts, deltas) = fold(prior, ev, zone)?;
    let version = if own { version } else { seen.unwrap_or(0) };
    Ok(Some(Step {
        ticket: facts.map(|f| (version, f)),
        deltas,
    }))
}

/// Folds `incident.classified` at `version` into the incident's stored facts: it moves from
/// the keys it was counted under to the new ones, on its local day of creation. A
/// classification shares its version with the event it comes with (created, updated), so
/// classifications are ordered among themselves, by the version kept in `Classes`.
fn classify(
    stored: Option<(i64, Ticket)>,
    ev: &Observed,
    version: i64,
) -> Result<Option<Step>, FigureError> {
    let Some((seen, Ticket::Incident(mut f))) = stored else {
        return Ok(None);
    };
    if f.classes.as_ref().is_some_and(|c| version <= c.version) {
        return Ok(None);
    }
    let p = ev.payload::<incident::IncidentClassified>()?;
    let next = Classes {
        category: p.category,
        service: p.service_id,
        channel: p.channel,
        version,
    };
    let mut deltas = Vec::new();
    for dimension in Dimension::VOLUMES {
        let volume = |key, by| Delta::Volume {
            dimension,
            key,
            day: f.created_day,
            by,
        };
        let (was, now) = (
            f.classes.as_ref().map(|c| c.key(dimension)),
            next.key(dimension),
        );
        if was.as_ref() == Some(&now) {
            continue;
        }
        // Facts kept before volumes were never counted: they are only added.
        if let Some(was) = was {
            deltas.push(volume(was, -1));
        }
        deltas.push(volume(now, 1));
    }
    f.classes = Some(next);
    Ok(Some(Step {
        ticket: Some((seen, Ticket::Incident(f))),
        deltas,
    }))
}

#[cfg(test)]
mod tests;
