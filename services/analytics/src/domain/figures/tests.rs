//! Table tests of the figures, with fixed clocks: events folded as the consumer folds them,
//! their deltas summed per day as the tables sum them.
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use events::{Event, catalogue, change, incident};
use uuid::Uuid;

use super::*;
use crate::domain::{
    streams::{Stream, StreamFigures},
    summary::{Figures, Totals},
};

/// The figures' tables, in memory.
struct Replay {
    zone: Tz,
    tickets: HashMap<Uuid, Ticket>,
    days: BTreeMap<NaiveDate, Totals>,
    open: BTreeMap<DateTime<Utc>, i64>,
}

fn t(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn d(iso: &str) -> NaiveDate {
    iso.parse().unwrap_or_default()
}

impl Replay {
    fn new(zone: Tz) -> Self {
        Replay {
            zone,
            tickets: HashMap::new(),
            days: BTreeMap::new(),
            open: BTreeMap::new(),
        }
    }

    fn send<E: Event>(&mut self, at: &str, payload: E) {
        let data = serde_json::to_value(payload).unwrap_or_default();
        let ev = Observed {
            event_type: &E::event_type(),
            time: t(at),
            data: &data,
        };
        let id = ticket_of(&ev).ok().flatten();
        let prior = id.and_then(|id| self.tickets.get(&id).cloned());
        let Ok((facts, deltas)) = fold(prior, &ev, self.zone) else {
            panic!("{} did not fold", ev.event_type);
        };
        if let (Some(id), Some(facts)) = (id, facts) {
            self.tickets.insert(id, facts);
        }
        for delta in deltas {
            match delta {
                Delta::Count { metric, day, by } => {
                    self.days.entry(day).or_default().add_count(metric, by)
                }
                Delta::Sample {
                    metric,
                    day,
                    bucket,
                    by,
                } => self
                    .days
                    .entry(day)
                    .or_default()
                    .add_sample(metric, bucket, by),
                Delta::Open { hour, by } => *self.open.entry(hour).or_default() += by,
                // Volumes have their own test.
                Delta::Volume { .. } => {}
            }
        }
    }

    fn totals(&self, from: &str, to: &str) -> Totals {
        let mut totals = Totals::default();
        for (_, day) in self.days.range(d(from)..=d(to)) {
            totals.merge(day);
        }
        totals
    }

    fn figures(&self, from: &str, to: &str) -> Figures {
        Figures::of(&self.totals(from, to))
    }

    /// Each step's total seconds in `stream`, over November 2026.
    fn steps(&self, stream: Stream) -> (i64, Vec<(&'static str, f64)>) {
        let f = StreamFigures::of(stream, &self.totals("2026-11-01", "2026-11-30"));
        let steps = f.steps.iter().map(|s| (s.step, s.total_seconds)).collect();
        (f.completed, steps)
    }

    fn open(&self) -> i64 {
        self.open.values().sum()
    }

    fn created(&mut self, id: Uuid, at: &str) {
        self.send(
            at,
            incident::IncidentCreated {
                incident_id: id,
                number: "INC0001001".into(),
                title: "VPN drops".into(),
                caller_id: None,
                impact: 2,
                urgency: 2,
                priority: 3,
                state: "new".into(),
            },
        );
    }

    fn moved(&mut self, id: Uuid, at: &str, from: &str, to: &str) {
        self.send(
            at,
            incident::IncidentStateChanged {
                incident_id: id,
                from: from.into(),
                to: to.into(),
                hold_reason: (to == "on_hold").then(|| "awaiting_caller".into()),
                resolution_code: (to == "resolved").then(|| "fixed".into()),
            },
        );
    }

    fn assigned(&mut self, id: Uuid, at: &str, group: Uuid) {
        self.assigned_to(id, at, group, None);
    }

    fn assigned_to(&mut self, id: Uuid, at: &str, group: Uuid, assignee: Option<Uuid>) {
        self.send(
            at,
            incident::IncidentAssigned {
                incident_id: id,
                assignment_group_id: Some(group),
                assignee_id: assignee,
            },
        );
    }

    fn breached(&mut self, id: Uuid, at: &str, kind: &str) {
        self.send(
            at,
            incident::SlaBreached {
                clock_id: Uuid::now_v7(),
                incident_id: id,
                definition_id: Uuid::now_v7(),
                name: "P3".into(),
                kind: kind.into(),
                target_seconds: 3600,
                breached_at: t(at),
            },
        );
    }
}

fn item_moved(item: Uuid, from: Option<&str>, to: &str) -> catalogue::RequestItemStateChanged {
    catalogue::RequestItemStateChanged {
        request_item_id: item,
        request_id: Uuid::nil(),
        number: "RITM0001001".into(),
        item_id: Uuid::nil(),
        from: from.map(Into::into),
        to: to.into(),
        approval_state: "approved".into(),
        close_reason: None,
    }
}

fn change_created(id: Uuid, kind: &str) -> change::ChangeCreated {
    change::ChangeCreated {
        change_id: id,
        number: "CHG0001001".into(),
        change_type: kind.into(),
        title: "Patch".into(),
        state: "new".into(),
        risk: "low".into(),
        requested_by: Uuid::nil(),
        affected_ci_ids: vec![],
        planned_start: None,
        planned_end: None,
    }
}

fn change_closed(id: Uuid, code: &str) -> change::ChangeClosed {
    change::ChangeClosed {
        change_id: id,
        close_code: code.into(),
        risk: "low".into(),
        caused_incident_count: 0,
    }
}

/// Within the sketches' 1 %.
fn near(got: Option<f64>, want: f64) -> bool {
    got.is_some_and(|g| (g - want).abs() <= 0.01 * want)
}

#[test]
fn a_reopen_withdraws_the_first_resolution() {
    let mut r = Replay::new(Tz::UTC);
    let id = Uuid::now_v7();
    r.created(id, "2026-11-02T08:00:00Z");
    r.moved(id, "2026-11-02T08:10:00Z", "new", "in_progress");
    r.moved(id, "2026-11-02T09:00:00Z", "in_progress", "resolved");
    let first = r.figures("2026-11-01", "2026-11-30");
    assert_eq!(first.incidents.resolved, 1);
    assert!(near(first.incidents.mttr_seconds.p50, 3600.0));
    assert_eq!(first.incidents.first_contact_resolution_ratio, Some(1.0));
    assert_eq!(r.open(), 0);

    // Reopened the next day: no longer resolved, open again.
    r.moved(id, "2026-11-03T10:00:00Z", "resolved", "in_progress");
    let reopened = r.figures("2026-11-01", "2026-11-30");
    assert_eq!(reopened.incidents.resolved, 0);
    assert_eq!(reopened.incidents.mttr_seconds.n, 0);
    assert_eq!(reopened.incidents.reopen_ratio, None);
    assert_eq!(r.open(), 1);

    // The final resolution counts, on its own day, measured from creation.
    r.moved(id, "2026-11-04T08:00:00Z", "in_progress", "resolved");
    r.moved(id, "2026-11-05T08:00:00Z", "resolved", "closed");
    let last = r.figures("2026-11-01", "2026-11-30");
    assert_eq!(last.incidents.resolved, 1);
    assert!(near(last.incidents.mttr_seconds.p50, 48.0 * 3600.0));
    assert_eq!(last.incidents.reopen_ratio, Some(1.0));
    assert_eq!(last.incidents.first_contact_resolution_ratio, Some(0.0));
    assert_eq!(r.figures("2026-11-02", "2026-11-03").incidents.resolved, 0);
    assert_eq!(r.figures("2026-11-04", "2026-11-04").incidents.resolved, 1);
    // MTTA stays: the first move out of `new` counted once.
    assert_eq!(last.incidents.mtta_seconds.n, 1);
    assert!(near(last.incidents.mtta_seconds.p50, 600.0));
    assert_eq!(r.open(), 0);
}

#[test]
fn time_on_hold_is_left_out_of_mttr_excluding_hold() {
    let mut r = Replay::new(Tz::UTC);
    let id = Uuid::now_v7();
    r.created(id, "2026-11-02T08:00:00Z");
    r.moved(id, "2026-11-02T08:30:00Z", "new", "in_progress");
    r.moved(id, "2026-11-02T09:00:00Z", "in_progress", "on_hold");
    r.moved(id, "2026-11-02T11:00:00Z", "on_hold", "in_progress");
    r.moved(id, "2026-11-02T12:00:00Z", "in_progress", "on_hold");
    // Resolved straight from hold: that hour of hold counts too.
    r.moved(id, "2026-11-02T13:00:00Z", "on_hold", "resolved");
    let f = r.figures("2026-11-02", "2026-11-02");
    assert!(near(f.incidents.mttr_seconds.p50, 5.0 * 3600.0));
    assert!(near(
        f.incidents.mttr_excluding_hold_seconds.p50,
        2.0 * 3600.0
    ));
}

#[test]
fn incidents_never_acknowledged_are_counted_apart() {
    let mut r = Replay::new(Tz::UTC);
    let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    r.created(a, "2026-11-02T08:00:00Z");
    r.created(b, "2026-11-02T09:00:00Z");
    r.created(c, "2026-11-02T10:00:00Z");
    r.moved(a, "2026-11-02T08:05:00Z", "new", "in_progress");
    // A second move out of `new` (impossible, but replayed) does not count twice.
    r.moved(a, "2026-11-02T08:06:00Z", "new", "in_progress");
    let f = r.figures("2026-11-02", "2026-11-02");
    assert_eq!(f.incidents.created, 3);
    assert_eq!(f.incidents.unacknowledged, 2);
    assert_eq!(f.incidents.mtta_seconds.n, 1);
    assert!(near(f.incidents.mtta_seconds.p50, 300.0));
    assert_eq!(f.incidents.resolved, 0);
    assert_eq!(f.incidents.sla_resolution_met_ratio, None);
    assert_eq!(r.open(), 3);
}

#[test]
fn days_are_the_tenants_local_days_across_berlin_dst() {
    let mut r = Replay::new(Tz::Europe__Berlin);
    // 2026-03-29: clocks go from 02:00 CET to 03:00 CEST (a 23-hour day).
    r.created(Uuid::now_v7(), "2026-03-28T22:59:00Z"); // 23:59 CET, 28 March
    r.created(Uuid::now_v7(), "2026-03-28T23:00:00Z"); // 00:00 CET, 29 March
    r.created(Uuid::now_v7(), "2026-03-29T21:59:00Z"); // 23:59 CEST, 29 March
    r.created(Uuid::now_v7(), "2026-03-29T22:00:00Z"); // 00:00 CEST, 30 March
    // 2026-10-25: clocks go from 03:00 CEST back to 02:00 CET (a 25-hour day).
    r.created(Uuid::now_v7(), "2026-10-24T22:00:00Z"); // 00:00 CEST, 25 October
    r.created(Uuid::now_v7(), "2026-10-25T22:59:00Z"); // 23:59 CET, 25 October
    r.created(Uuid::now_v7(), "2026-10-25T23:00:00Z"); // 00:00 CET, 26 October
    let on = |day: &str| r.figures(day, day).incidents.created;
    assert_eq!(on("2026-03-28"), 1);
    assert_eq!(on("2026-03-29"), 2);
    assert_eq!(on("2026-03-30"), 1);
    assert_eq!(on("2026-10-25"), 2);
    assert_eq!(on("2026-10-26"), 1);
}

#[test]
fn an_empty_tenant_has_counts_of_zero_and_no_ratios() {
    let f = Replay::new(Tz::UTC).figures("2026-11-01", "2026-11-30");
    assert_eq!(f.incidents.created, 0);
    assert_eq!(f.incidents.mttr_seconds.n, 0);
    assert_eq!(f.incidents.mttr_seconds.p50, None);
    assert_eq!(f.incidents.reopen_ratio, None);
    assert_eq!(f.changes.success_ratio, None);
    assert_eq!(f.knowledge.deflection_ratio, None);
    assert_eq!(f.requests.fulfilment_seconds.p90, None);
}

#[test]
fn sla_breaches_count_against_the_resolution_even_when_noticed_after_it() {
    let mut r = Replay::new(Tz::UTC);
    let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    for id in [a, b, c] {
        r.created(id, "2026-11-02T08:00:00Z");
        r.moved(id, "2026-11-02T08:10:00Z", "new", "in_progress");
    }
    r.breached(a, "2026-11-02T09:00:00Z", "response");
    r.moved(a, "2026-11-02T12:00:00Z", "in_progress", "resolved");
    r.moved(b, "2026-11-02T12:00:00Z", "in_progress", "resolved");
    r.moved(c, "2026-11-02T12:00:00Z", "in_progress", "resolved");
    r.breached(c, "2026-11-02T12:00:05Z", "resolution");
    r.breached(c, "2026-11-02T12:00:06Z", "resolution");
    let f = r.figures("2026-11-02", "2026-11-02");
    assert_eq!(f.incidents.resolved, 3);
    assert_eq!(f.incidents.sla_response_met_ratio, Some(2.0 / 3.0));
    assert_eq!(f.incidents.sla_resolution_met_ratio, Some(2.0 / 3.0));
}

#[test]
fn a_move_between_groups_is_not_a_first_contact_resolution() {
    let mut r = Replay::new(Tz::UTC);
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let (desk, network) = (Uuid::now_v7(), Uuid::now_v7());
    for id in [a, b] {
        r.created(id, "2026-11-02T08:00:00Z");
        r.assigned(id, "2026-11-02T08:01:00Z", desk);
        r.assigned(id, "2026-11-02T08:02:00Z", desk);
    }
    r.assigned(b, "2026-11-02T08:03:00Z", network);
    for id in [a, b] {
        r.moved(id, "2026-11-02T09:00:00Z", "new", "resolved");
    }
    let f = r.figures("2026-11-02", "2026-11-02");
    assert_eq!(f.incidents.first_contact_resolution_ratio, Some(0.5));
}

#[test]
fn requests_changes_and_deflections() {
    let mut r = Replay::new(Tz::UTC);
    let item = Uuid::now_v7();
    let moved = |from: Option<&str>, to: &str| item_moved(item, from, to);
    r.send("2026-11-02T08:00:00Z", moved(None, "waiting_for_approval"));
    r.send(
        "2026-11-02T09:00:00Z",
        moved(Some("waiting_for_approval"), "fulfilment"),
    );
    r.send(
        "2026-11-03T08:00:00Z",
        moved(Some("fulfilment"), "fulfilled"),
    );
    r.send(
        "2026-11-03T08:00:01Z",
        moved(Some("fulfilment"), "fulfilled"),
    );

    let created = change_created;
    let closed = change_closed;
    let (c1, c2, c3, c4) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    r.send("2026-11-02T08:00:00Z", created(c1, "normal"));
    r.send("2026-11-02T08:00:00Z", created(c2, "emergency"));
    r.send("2026-11-02T08:00:00Z", created(c3, "standard"));
    r.send("2026-11-02T08:00:00Z", created(c4, "normal"));
    r.send("2026-11-03T08:00:00Z", closed(c1, "successful"));
    r.send("2026-11-03T08:00:00Z", closed(c2, "successful"));
    r.send("2026-11-03T08:00:00Z", closed(c3, "unsuccessful"));
    r.send("2026-11-03T08:00:00Z", closed(c4, "successful"));
    // c2 caused an incident after closing: it failed after all.
    r.send(
        "2026-11-04T08:00:00Z",
        change::ChangeOutcomeRevised {
            change_id: c2,
            close_code: "successful".into(),
            caused_incident_count: 1,
            failed: true,
        },
    );
    r.send(
        "2026-11-02T10:00:00Z",
        catalogue::SuggestionDeflected {
            session_id: Uuid::nil(),
            user_id: Uuid::nil(),
            article_id: None,
            reason: "solved".into(),
        },
    );
    r.created(Uuid::now_v7(), "2026-11-02T11:00:00Z");

    let f = r.figures("2026-11-01", "2026-11-30");
    assert_eq!(f.requests.submitted, 1);
    assert_eq!(f.requests.fulfilled, 1);
    assert!(near(f.requests.fulfilment_seconds.p50, 24.0 * 3600.0));
    assert_eq!(f.changes.created, 4);
    assert_eq!(f.changes.emergency_ratio, Some(0.25));
    assert_eq!(f.changes.closed, 4);
    assert_eq!(f.changes.success_ratio, Some(0.5));
    assert_eq!(f.knowledge.deflected, 1);
    // One deflection against one incident and one request item raised.
    assert_eq!(f.knowledge.deflection_ratio, Some(1.0 / 3.0));
}

#[test]
fn value_streams_add_every_stay_in_a_step_and_a_reopen_withdraws_the_first_completion() {
    let mut r = Replay::new(Tz::UTC);
    let id = Uuid::now_v7();
    let group = Uuid::now_v7();
    r.created(id, "2026-11-02T08:00:00Z");
    r.assigned(id, "2026-11-02T08:05:00Z", group);
    r.assigned_to(id, "2026-11-02T08:10:00Z", group, Some(Uuid::now_v7()));
    r.moved(id, "2026-11-02T08:30:00Z", "new", "in_progress");
    r.moved(id, "2026-11-02T09:00:00Z", "in_progress", "on_hold");
    r.moved(id, "2026-11-02T10:00:00Z", "on_hold", "in_progress");
    r.moved(id, "2026-11-02T10:30:00Z", "in_progress", "resolved");
    let stream = Stream::IncidentToResolved;
    let queue_ack_work_hold = |work: f64| {
        vec![
            ("queue", 600.0),
            ("acknowledge", 1200.0),
            ("work", work),
            ("on_hold", 3600.0),
        ]
    };
    assert_eq!(r.steps(stream), (1, queue_ack_work_hold(3600.0)));

    // Reopened a day later and worked for another hour: one completion, the time resolved
    // in no step, so the shares add up to less than 1.
    r.moved(id, "2026-11-03T10:30:00Z", "resolved", "in_progress");
    let (completed, steps) = r.steps(stream);
    assert_eq!(completed, 0);
    assert!(
        steps.iter().all(|(_, seconds)| *seconds == 0.0),
        "{steps:?}"
    );
    r.moved(id, "2026-11-03T11:30:00Z", "in_progress", "resolved");
    assert_eq!(r.steps(stream), (1, queue_ack_work_hold(7200.0)));
    let f = StreamFigures::of(stream, &r.totals("2026-11-01", "2026-11-30"));
    assert_eq!(f.lead_time_seconds, Some(27.5 * 3600.0));
    assert_eq!(f.bottleneck.map(|b| b.step), Some("work"));
}

#[test]
fn request_and_change_streams() {
    let mut r = Replay::new(Tz::UTC);
    let item = Uuid::now_v7();
    let moved = |from: Option<&str>, to: &str| item_moved(item, from, to);
    let task = |from: &str, to: &str| catalogue::FulfilmentTaskStateChanged {
        task_id: Uuid::nil(),
        request_item_id: item,
        from: from.into(),
        to: to.into(),
    };
    r.send("2026-11-02T08:00:00Z", moved(None, "pending_approval"));
    r.send(
        "2026-11-02T10:00:00Z",
        moved(Some("pending_approval"), "in_fulfilment"),
    );
    r.send("2026-11-02T11:00:00Z", task("open", "in_progress"));
    r.send(
        "2026-11-02T12:00:00Z",
        moved(Some("in_fulfilment"), "awaiting_requester"),
    );
    r.send(
        "2026-11-02T13:00:00Z",
        moved(Some("awaiting_requester"), "in_fulfilment"),
    );
    r.send(
        "2026-11-02T14:00:00Z",
        moved(Some("in_fulfilment"), "fulfilled"),
    );
    assert_eq!(
        r.steps(Stream::RequestToFulfilled),
        (
            1,
            vec![
                ("approval", 7200.0),
                ("queue", 3600.0),
                ("fulfilment", 3.0 * 3600.0)
            ]
        )
    );

    let change = Uuid::now_v7();
    r.send("2026-11-02T08:00:00Z", change_created(change, "normal"));
    let states = [
        ("2026-11-02T09:00:00Z", "new", "assess"),
        ("2026-11-02T10:00:00Z", "assess", "authorize"),
        ("2026-11-02T12:00:00Z", "authorize", "scheduled"),
        ("2026-11-03T12:00:00Z", "scheduled", "implement"),
        ("2026-11-03T13:00:00Z", "implement", "review"),
        ("2026-11-04T13:00:00Z", "review", "closed"),
    ];
    for (at, from, to) in states {
        r.send(
            at,
            change::ChangeStateChanged {
                change_id: change,
                from: from.into(),
                to: to.into(),
                approval_round: 1,
                reason: None,
            },
        );
    }
    r.send("2026-11-04T13:00:00Z", change_closed(change, "successful"));
    let hours = |h: f64| h * 3600.0;
    assert_eq!(
        r.steps(Stream::ChangeToLive),
        (
            1,
            vec![
                ("assess", hours(2.0)),
                ("authorize", hours(2.0)),
                ("wait_for_window", hours(24.0)),
                ("implement", hours(1.0)),
                ("review", hours(24.0))
            ]
        )
    );
    let f = StreamFigures::of(Stream::ChangeToLive, &r.totals("2026-11-01", "2026-11-30"));
    // review and wait_for_window tie: the earlier step is the bottleneck.
    assert_eq!(f.bottleneck.map(|b| b.step), Some("wait_for_window"));
}

#[test]
fn event_types_are_matched_exactly() {
    let data = serde_json::Value::Null;
    let of = |event_type| Observed {
        event_type,
        time: t("2026-11-02T08:00:00Z"),
        data: &data,
    };
    let created = incident::IncidentCreated::event_type();
    assert!(of(&created).is::<incident::IncidentCreated>());
    for other in [
        "itsm.incident.incident.created.v10",
        "itsm.incident.incident.created.v01",
        "itsm.incident.incident.created.v1x",
        "itsm.incident.incident.created",
        "itsm.incident.incident.state_changed.v1",
        "xitsm.incident.incident.created.v1",
        "itsm.change.incident.created.v1",
    ] {
        assert!(!of(other).is::<incident::IncidentCreated>(), "{other}");
    }
}

/// Folds `payload` about incident `id` at `version` through `advance`, as the consumer does.
fn advance_own<E: Event + serde::Serialize>(
    stored: Option<(i64, Ticket)>,
    id: Uuid,
    payload: E,
    at: &str,
    version: i64,
) -> Option<Step> {
    let data = serde_json::to_value(payload).unwrap_or_default();
    let ev = Observed {
        event_type: &E::event_type(),
        time: t(at),
        data: &data,
    };
    advance(
        stored,
        Some(id),
        &ev,
        &id.to_string(),
        version,
        Tz::Europe__Berlin,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn classified(id: Uuid, category: Option<&str>, channel: &str) -> incident::IncidentClassified {
    incident::IncidentClassified {
        incident_id: id,
        category: category.map(str::to_string),
        subcategory: None,
        service_id: None,
        configuration_item_id: None,
        channel: Some(channel.into()),
    }
}

fn volumes(rows: &Rows, dimension: Dimension) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for ((dim, key, _), n) in &rows.volumes {
        if *dim == dimension {
            *out.entry(key.clone()).or_default() += n;
        }
    }
    out.retain(|_, n| *n != 0);
    out
}

#[test]
#[allow(clippy::expect_used)]
fn classifications_move_an_incident_between_volume_keys_on_its_creation_day() {
    let id = Uuid::now_v7();
    let created = incident::IncidentCreated {
        incident_id: id,
        number: "INC0001001".into(),
        title: "Mail is slow".into(),
        caller_id: None,
        impact: 2,
        urgency: 2,
        priority: 3,
        state: "new".into(),
    };
    // Created late on 1 November in Berlin (23:30 local): counted on that local day.
    let mut rows = Rows::default();
    let step = advance_own(None, id, created, "2026-11-01T22:30:00Z", 1).expect("created");
    rows.add_all(&step.deltas);
    assert_eq!(
        volumes(&rows, Dimension::Category),
        BTreeMap::from([(String::new(), 1)])
    );
    // Its classification comes with it, at the same version: counted, not stale.
    let with = advance_own(
        step.ticket,
        id,
        classified(id, None, "portal"),
        "2026-11-01T22:30:00Z",
        1,
    )
    .expect("classified");
    rows.add_all(&with.deltas);
    assert_eq!(
        volumes(&rows, Dimension::Channel),
        BTreeMap::from([("portal".into(), 1)])
    );
    // An agent sets the category a day later: it moves, on the day it was created.
    let set = advance_own(
        with.ticket,
        id,
        classified(id, Some("email"), "portal"),
        "2026-11-02T09:00:00Z",
        3,
    )
    .expect("reclassified");
    let created_day = d("2026-11-01");
    assert!(set.deltas.iter().all(|delta| matches!(
        delta,
        Delta::Volume { day, dimension: Dimension::Category, .. } if *day == created_day
    )));
    rows.add_all(&set.deltas);
    assert_eq!(
        volumes(&rows, Dimension::Category),
        BTreeMap::from([("email".into(), 1)])
    );
    assert_eq!(
        volumes(&rows, Dimension::Service),
        BTreeMap::from([(String::new(), 1)])
    );
    // An older classification arriving late changes nothing.
    let late = advance_own(
        set.ticket.clone(),
        id,
        classified(id, Some("network"), "phone"),
        "2026-11-02T08:00:00Z",
        2,
    );
    assert_eq!(late, None);
    // Facts kept before volumes were never counted: a classification only adds.
    let Some((v, Ticket::Incident(mut old))) = set.ticket else {
        panic!("an incident");
    };
    old.classes = None;
    let legacy = advance_own(
        Some((v, Ticket::Incident(old))),
        id,
        classified(id, Some("email"), "phone"),
        "2026-11-03T09:00:00Z",
        4,
    )
    .expect("classified");
    assert!(
        legacy
            .deltas
            .iter()
            .all(|d| matches!(d, Delta::Volume { by: 1, .. }))
    );
    assert_eq!(legacy.deltas.len(), 3);
}
