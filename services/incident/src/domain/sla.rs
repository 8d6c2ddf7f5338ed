//! SLA clocks, free of I/O. A definition says which incidents it covers, when its clock starts,
//! pauses, stops and resets, and its target in working seconds of a calendar. A clock moves
//! through `pending → running ⇄ paused → stopped` (or `canceled`) as the incident changes, and
//! records each move as a mark; the marks and the pinned calendar are enough to recompute the
//! clock's whole timeline, second by second (`timeline`), which is what the API shows.
use chrono::{DateTime, Utc};
use platform::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::calendar::{Calendar, Hours};

/// Warning thresholds, in percent of the target; the last one is the breach.
pub const THRESHOLDS: [u8; 3] = [50, 75, 100];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Until an agent picks the incident up.
    Response,
    /// Until the incident is resolved.
    Resolution,
}

/// What a clock measures: an incident, or a request item of the catalogue (whose state
/// changes arrive as the catalogue's events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = SlaSubject)]
pub enum Subject {
    Incident,
    RequestItem,
}

impl Subject {
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Incident => "incident",
            Subject::RequestItem => "request_item",
        }
    }

    pub fn parse(raw: &str) -> Option<Subject> {
        match raw {
            "incident" => Some(Subject::Incident),
            "request_item" => Some(Subject::RequestItem),
            _ => None,
        }
    }

    /// The states a `state` condition may name.
    fn states(self) -> &'static [&'static str] {
        match self {
            Subject::Incident => &[
                "new",
                "in_progress",
                "on_hold",
                "resolved",
                "closed",
                "canceled",
            ],
            Subject::RequestItem => &REQUEST_ITEM_STATES,
        }
    }
}

/// A request item's states, as the catalogue publishes them.
pub const REQUEST_ITEM_STATES: [&str; 6] = [
    "pending_approval",
    "in_fulfilment",
    "awaiting_requester",
    "fulfilled",
    "rejected",
    "canceled",
];

/// The name an enum serializes to (`State::OnHold` → `on_hold`).
pub fn name_of<T: Serialize>(v: T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

/// What an incident (or a request item) looks like to conditions. A request item has only a
/// state; its other facts are never tested (its definitions may test `state` alone).
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// The state's name: `on_hold`, `in_fulfilment`.
    pub state: String,
    pub hold_reason: Option<String>,
    pub priority: u8,
    pub impact: u8,
    pub urgency: u8,
    pub category: Option<String>,
    pub subcategory: Option<String>,
    pub major: bool,
    pub assignment_group_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
    pub service_id: Option<Uuid>,
    pub configuration_item_id: Option<Uuid>,
}

/// A field of the incident a condition may test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ConditionField)]
pub enum Field {
    State,
    HoldReason,
    Priority,
    Impact,
    Urgency,
    Category,
    Subcategory,
    Major,
    /// Whether an assignee is set (`true`/`false`).
    Assigned,
    AssignmentGroupId,
    ServiceId,
    ConfigurationItemId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    /// `value` is a list.
    In,
    /// `value` is a list.
    NotIn,
}

/// `{"field": "priority", "op": "in", "value": [1, 2]}`; `null` tests for an unset field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub field: Field,
    pub op: Op,
    /// A value of the field's type, a list of them (`in`), or `null`.
    pub value: Value,
}

impl Facts {
    /// A request item in `state`.
    pub fn request_item(state: &str) -> Facts {
        Facts {
            state: state.to_string(),
            hold_reason: None,
            priority: 0,
            impact: 0,
            urgency: 0,
            category: None,
            subcategory: None,
            major: false,
            assignment_group_id: None,
            assignee_id: None,
            service_id: None,
            configuration_item_id: None,
        }
    }

    fn get(&self, field: Field) -> Value {
        match field {
            Field::State => json!(self.state),
            Field::HoldReason => json!(self.hold_reason),
            Field::Priority => json!(self.priority),
            Field::Impact => json!(self.impact),
            Field::Urgency => json!(self.urgency),
            Field::Category => json!(self.category),
            Field::Subcategory => json!(self.subcategory),
            Field::Major => json!(self.major),
            Field::Assigned => json!(self.assignee_id.is_some()),
            Field::AssignmentGroupId => json!(self.assignment_group_id),
            Field::ServiceId => json!(self.service_id),
            Field::ConfigurationItemId => json!(self.configuration_item_id),
        }
    }

    /// A short account for timelines: `on_hold (awaiting_caller)`.
    pub fn describe(&self) -> String {
        match &self.hold_reason {
            Some(r) => format!("{} ({r})", self.state),
            None => self.state.clone(),
        }
    }
}

impl Condition {
    pub fn holds(&self, facts: &Facts) -> bool {
        let actual = facts.get(self.field);
        match self.op {
            Op::Eq => actual == self.value,
            Op::Ne => actual != self.value,
            Op::In => self.value.as_array().is_some_and(|l| l.contains(&actual)),
            Op::NotIn => self.value.as_array().is_some_and(|l| !l.contains(&actual)),
        }
    }

    /// Whether `value` is something `field` can hold.
    fn accepts(subject: Subject, field: Field, value: &Value) -> bool {
        let one_of = |names: &[&str]| value.as_str().is_some_and(|s| names.contains(&s));
        match field {
            Field::State => one_of(subject.states()),
            Field::HoldReason => {
                value.is_null()
                    || one_of(&[
                        "awaiting_caller",
                        "awaiting_change",
                        "awaiting_problem",
                        "awaiting_vendor",
                    ])
            }
            Field::Priority => value.as_u64().is_some_and(|p| (1..=5).contains(&p)),
            Field::Impact | Field::Urgency => value.as_u64().is_some_and(|p| (1..=3).contains(&p)),
            Field::Category | Field::Subcategory => value.is_null() || value.is_string(),
            Field::Major | Field::Assigned => value.is_boolean(),
            Field::AssignmentGroupId | Field::ServiceId | Field::ConfigurationItemId => {
                value.is_null() || value.as_str().is_some_and(|s| Uuid::parse_str(s).is_ok())
            }
        }
    }

    fn check(&self, subject: Subject, pointer: &str) -> Option<FieldError> {
        if subject == Subject::RequestItem && self.field != Field::State {
            return Some(FieldError::new(
                format!("{pointer}/field"),
                "not_applicable",
                "a request item's conditions test its `state` only",
            ));
        }
        let values: Vec<&Value> = match (self.op, &self.value) {
            (Op::In | Op::NotIn, Value::Array(list)) if !list.is_empty() => list.iter().collect(),
            (Op::In | Op::NotIn, _) => {
                return Some(FieldError::new(
                    format!("{pointer}/value"),
                    "list_required",
                    "`in` and `not_in` take a non-empty list",
                ));
            }
            (_, v) => vec![v],
        };
        values
            .into_iter()
            .any(|v| !Self::accepts(subject, self.field, v))
            .then(|| {
                FieldError::new(
                    format!("{pointer}/value"),
                    "invalid_value",
                    format!("not a value of {}", name_of(self.field)),
                )
            })
    }
}

fn all(conditions: &[Condition], facts: &Facts) -> bool {
    conditions.iter().all(|c| c.holds(facts))
}

/// When a clock starts, pauses, stops and resets. Every list is a conjunction; an empty
/// `start_when` starts at once, an empty `pause_when` or `reset_when` never fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Which incidents the definition covers (empty: all). When it stops holding, the clock is
    /// canceled.
    #[serde(default)]
    pub applies_when: Vec<Condition>,
    #[serde(default)]
    pub start_when: Vec<Condition>,
    #[serde(default)]
    pub pause_when: Vec<Condition>,
    pub stop_when: Vec<Condition>,
    /// Restarts the clock from zero when it starts holding (e.g. on reopen).
    #[serde(default)]
    pub reset_when: Vec<Condition>,
}

impl Rules {
    /// The usual rules of a kind: response stops when work starts; resolution pauses on hold
    /// and stops on resolution (or cancellation).
    pub fn default_for(kind: Kind) -> Rules {
        let cond = |field, op, value| Condition { field, op, value };
        match kind {
            Kind::Response => Rules {
                applies_when: vec![],
                start_when: vec![],
                pause_when: vec![],
                stop_when: vec![cond(Field::State, Op::Ne, json!("new"))],
                reset_when: vec![],
            },
            Kind::Resolution => Rules {
                applies_when: vec![],
                start_when: vec![],
                pause_when: vec![cond(Field::State, Op::Eq, json!("on_hold"))],
                stop_when: vec![cond(
                    Field::State,
                    Op::In,
                    json!(["resolved", "closed", "canceled"]),
                )],
                reset_when: vec![],
            },
        }
    }

    /// The usual rules of a request item's fulfilment clock: it runs while the item is in
    /// fulfilment, pauses while waiting for the requester and stops once the item is settled.
    pub fn for_request_item() -> Rules {
        let cond = |field, op, value| Condition { field, op, value };
        Rules {
            applies_when: vec![],
            start_when: vec![cond(Field::State, Op::Eq, json!("in_fulfilment"))],
            pause_when: vec![cond(Field::State, Op::Eq, json!("awaiting_requester"))],
            stop_when: vec![cond(
                Field::State,
                Op::In,
                json!(["fulfilled", "rejected", "canceled"]),
            )],
            reset_when: vec![],
        }
    }

    /// Every condition's value must fit its field (and the subject); a clock must be able to
    /// stop.
    pub fn check(&self, subject: Subject, prefix: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        for (name, list) in [
            ("applies_when", &self.applies_when),
            ("start_when", &self.start_when),
            ("pause_when", &self.pause_when),
            ("stop_when", &self.stop_when),
            ("reset_when", &self.reset_when),
        ] {
            for (i, c) in list.iter().enumerate() {
                errors.extend(c.check(subject, &format!("{prefix}/{name}/{i}")));
            }
        }
        if self.stop_when.is_empty() {
            errors.push(FieldError::new(
                format!("{prefix}/stop_when"),
                "required",
                "a clock needs at least one stop condition",
            ));
        }
        errors
    }

    pub fn applies(&self, facts: &Facts) -> bool {
        all(&self.applies_when, facts)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for the start condition.
    Pending,
    Running,
    Paused,
    Stopped,
    /// The definition stopped applying to the incident.
    Canceled,
}

/// Where a request item stands against its SLA, summed up from its clocks (the catalogue shows
/// it as the item's `sla_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// No clock has started yet (e.g. the item awaits approval).
    Pending,
    OnTrack,
    /// A running clock passed 75 % of its target.
    AtRisk,
    Paused,
    /// A clock reached its target (whether or not it has stopped since).
    Breached,
    /// Every clock stopped within its target.
    Met,
    /// Every clock was canceled.
    Canceled,
}

/// The standing of clocks given as `(status, thresholds reached)`; None without clocks.
pub fn standing(clocks: &[(Status, u8)]) -> Option<Standing> {
    const BREACH: u8 = THRESHOLDS.len() as u8;
    let any = |test: fn(Status, u8) -> bool| clocks.iter().any(|&(s, r)| test(s, r));
    if clocks.is_empty() {
        None
    } else if any(|_, reached| reached >= BREACH) {
        Some(Standing::Breached)
    } else if any(|s, reached| s == Status::Running && reached + 1 >= BREACH) {
        Some(Standing::AtRisk)
    } else if any(|s, _| s == Status::Running) {
        Some(Standing::OnTrack)
    } else if any(|s, _| s == Status::Paused) {
        Some(Standing::Paused)
    } else if any(|s, _| s == Status::Pending) {
        Some(Standing::Pending)
    } else if any(|s, _| s == Status::Stopped) {
        Some(Standing::Met)
    } else {
        Some(Standing::Canceled)
    }
}

/// What happened to a clock, when. The API documents an [`Event`] as the discriminated union
/// `SlaEvent` (`sla::schema`), one named schema per mark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mark")]
pub enum Mark {
    Started,
    Paused {
        reason: String,
    },
    Resumed,
    Stopped,
    Canceled,
    /// The count restarts from zero.
    Reset,
    /// `percent` of the target elapsed (100: breached).
    Threshold {
        percent: u8,
    },
}

/// A mark and its instant: `{"at": "…", "mark": "paused", "reason": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub mark: Mark,
}

/// The state a clock keeps between changes (what the scheduler and queries read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clock {
    pub status: Status,
    /// Working seconds counted before `since`.
    pub elapsed: i64,
    /// When the current run began (meaningful while running).
    pub since: DateTime<Utc>,
    pub target: i64,
    /// How many of `THRESHOLDS` have been reached.
    pub reached: u8,
}

impl Clock {
    pub fn new(target: i64, now: DateTime<Utc>) -> Self {
        Clock {
            status: Status::Pending,
            elapsed: 0,
            since: now,
            target,
            reached: 0,
        }
    }

    pub fn breached(&self) -> bool {
        self.reached as usize >= THRESHOLDS.len()
    }

    /// Working seconds so far.
    pub fn elapsed_at(&self, cal: &Calendar, now: DateTime<Utc>) -> i64 {
        match self.status {
            Status::Running => self.elapsed + cal.working_seconds(self.since, now),
            _ => self.elapsed,
        }
    }

    /// The next threshold and the instant it is reached, while running.
    pub fn next_threshold(&self, cal: &Calendar) -> Option<(u8, DateTime<Utc>)> {
        if self.status != Status::Running {
            return None;
        }
        let percent = *THRESHOLDS.get(self.reached as usize)?;
        let needed = (self.target * i64::from(percent) + 99) / 100 - self.elapsed;
        cal.after_working(self.since, needed).map(|t| (percent, t))
    }

    /// The deadline, while running.
    pub fn due(&self, cal: &Calendar) -> Option<DateTime<Utc>> {
        (self.status == Status::Running)
            .then(|| cal.after_working(self.since, self.target - self.elapsed))
            .flatten()
    }

    /// Thresholds reached by `now`, each once, stamped with the instant it was reached.
    pub fn reach(&mut self, cal: &Calendar, now: DateTime<Utc>) -> Vec<Event> {
        let mut out = Vec::new();
        while let Some((percent, at)) = self.next_threshold(cal) {
            if at > now {
                break;
            }
            self.reached += 1;
            out.push(Event {
                at,
                mark: Mark::Threshold { percent },
            });
        }
        out
    }

    fn settle(&mut self, cal: &Calendar, now: DateTime<Utc>) {
        if self.status == Status::Running {
            self.elapsed += cal.working_seconds(self.since, now);
        }
        self.since = now;
    }

    /// Moves the clock for an incident that changed from `before` (None: just created) to
    /// `after` at `now`. Thresholds passed before the change are recorded first, so a stop
    /// after the deadline still records the breach once.
    pub fn on_change(
        &mut self,
        rules: &Rules,
        cal: &Calendar,
        before: Option<&Facts>,
        after: &Facts,
        now: DateTime<Utc>,
    ) -> Vec<Event> {
        let mut out = self.reach(cal, now);
        let mark = |out: &mut Vec<Event>, mark| out.push(Event { at: now, mark });
        let reset_edge = !rules.reset_when.is_empty()
            && all(&rules.reset_when, after)
            && !before.is_some_and(|b| all(&rules.reset_when, b));
        if reset_edge && self.status != Status::Pending && self.status != Status::Canceled {
            *self = Clock::new(self.target, now);
            mark(&mut out, Mark::Reset);
        }
        let active = matches!(
            self.status,
            Status::Pending | Status::Running | Status::Paused
        );
        if active && !rules.applies(after) {
            self.settle(cal, now);
            self.status = Status::Canceled;
            mark(&mut out, Mark::Canceled);
            return out;
        }
        if self.status == Status::Pending && all(&rules.start_when, after) {
            self.status = Status::Running;
            self.since = now;
            mark(&mut out, Mark::Started);
        }
        let stop = !rules.stop_when.is_empty() && all(&rules.stop_when, after);
        let pause = !rules.pause_when.is_empty() && all(&rules.pause_when, after);
        match self.status {
            Status::Running | Status::Paused if stop => {
                self.settle(cal, now);
                self.status = Status::Stopped;
                mark(&mut out, Mark::Stopped);
            }
            Status::Running if pause => {
                self.settle(cal, now);
                self.status = Status::Paused;
                let reason = after.describe();
                mark(&mut out, Mark::Paused { reason });
            }
            Status::Paused if !pause => {
                self.since = now;
                self.status = Status::Running;
                mark(&mut out, Mark::Resumed);
            }
            _ => {}
        }
        out
    }
}

/// One stretch of a clock's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Segment {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub seconds: i64,
    /// Whether these seconds count toward the target.
    pub counts: bool,
    /// `running`, `paused`, `outside_hours` or `holiday`.
    pub kind: SegmentKind,
    /// Why paused (the incident's state) or which holiday.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SegmentKind {
    Running,
    Paused,
    OutsideHours,
    Holiday,
}

/// A clock's life recomputed from its marks alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Timeline {
    pub segments: Vec<Segment>,
    /// Counted seconds since the last reset.
    pub elapsed_seconds: i64,
}

/// Replays `events` (in order) up to `now`: every second from the first start to the stop
/// (or `now`) falls in exactly one segment.
pub fn timeline(cal: &Calendar, events: &[Event], now: DateTime<Utc>) -> Timeline {
    let mut segments = Vec::new();
    let mut elapsed = 0;
    // The open stretch: since when, and paused for what (None: running).
    let mut open: Option<(DateTime<Utc>, Option<String>)> = None;
    let close = |segments: &mut Vec<Segment>,
                 elapsed: &mut i64,
                 from: DateTime<Utc>,
                 paused: Option<String>,
                 to: DateTime<Utc>| {
        if to <= from {
            return;
        }
        match paused {
            Some(reason) => segments.push(Segment {
                from,
                to,
                seconds: (to - from).num_seconds(),
                counts: false,
                kind: SegmentKind::Paused,
                reason: Some(reason),
            }),
            None => {
                for s in cal.stretches(from, to) {
                    let seconds = (s.to - s.from).num_seconds();
                    let (kind, reason, counts) = match s.hours {
                        Hours::Working => (SegmentKind::Running, None, true),
                        Hours::OutsideHours => (SegmentKind::OutsideHours, None, false),
                        Hours::Holiday(name) => (SegmentKind::Holiday, Some(name), false),
                    };
                    if counts {
                        *elapsed += seconds;
                    }
                    segments.push(Segment {
                        from: s.from,
                        to: s.to,
                        seconds,
                        counts,
                        kind,
                        reason,
                    });
                }
            }
        }
    };
    for e in events {
        match &e.mark {
            Mark::Started | Mark::Resumed => {
                if let Some((from, paused)) = open.take() {
                    close(&mut segments, &mut elapsed, from, paused, e.at);
                }
                open = Some((e.at, None));
            }
            Mark::Paused { reason } => {
                if let Some((from, paused)) = open.take() {
                    close(&mut segments, &mut elapsed, from, paused, e.at);
                }
                open = Some((e.at, Some(reason.clone())));
            }
            Mark::Stopped | Mark::Canceled => {
                if let Some((from, paused)) = open.take() {
                    close(&mut segments, &mut elapsed, from, paused, e.at);
                }
            }
            Mark::Reset => {
                if let Some((from, paused)) = open.take() {
                    close(&mut segments, &mut elapsed, from, paused, e.at);
                }
                elapsed = 0;
            }
            Mark::Threshold { .. } => {}
        }
    }
    if let Some((from, paused)) = open {
        close(&mut segments, &mut elapsed, from, paused, now);
    }
    Timeline {
        segments,
        elapsed_seconds: elapsed,
    }
}

#[cfg(test)]
mod tests;
