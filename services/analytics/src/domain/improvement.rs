//! The continual improvement register's rules (ADR 42): an item's status lifecycle, its
//! model's seven steps taken in order, and what a valid item is.
use events::{change, incident};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::figures::{FigureError, Observed};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ImprovementStatus)]
pub enum Status {
    Proposed,
    Accepted,
    InProgress,
    OnHold,
    Review,
    Closed,
    Rejected,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Proposed,
        Status::Accepted,
        Status::InProgress,
        Status::OnHold,
        Status::Review,
        Status::Closed,
        Status::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Proposed => "proposed",
            Status::Accepted => "accepted",
            Status::InProgress => "in_progress",
            Status::OnHold => "on_hold",
            Status::Review => "review",
            Status::Closed => "closed",
            Status::Rejected => "rejected",
        }
    }

    pub fn parse(raw: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Where an item may go from here. Work that proves not worth doing is rejected before
    /// it starts; a review that finds the target missed sends the item back to work.
    pub fn next(self) -> &'static [Status] {
        use Status::*;
        match self {
            Proposed => &[Accepted, Rejected],
            Accepted => &[InProgress, Rejected],
            InProgress => &[OnHold, Review],
            OnHold => &[InProgress],
            Review => &[InProgress, Closed],
            Closed | Rejected => &[],
        }
    }

    /// Closed or rejected: nothing more happens to it.
    pub fn is_final(self) -> bool {
        self.next().is_empty()
    }
}

/// The continual improvement model's steps, taken one after the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ImprovementStep)]
pub enum Step {
    Vision,
    CurrentState,
    TargetState,
    Plan,
    Act,
    Evaluate,
    Sustain,
}

impl Step {
    pub const ALL: [Step; 7] = [
        Step::Vision,
        Step::CurrentState,
        Step::TargetState,
        Step::Plan,
        Step::Act,
        Step::Evaluate,
        Step::Sustain,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Vision => "vision",
            Step::CurrentState => "current_state",
            Step::TargetState => "target_state",
            Step::Plan => "plan",
            Step::Act => "act",
            Step::Evaluate => "evaluate",
            Step::Sustain => "sustain",
        }
    }

    pub fn parse(raw: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// The step after this one, if any.
    pub fn following(self) -> Option<Step> {
        Step::ALL.into_iter().find(|s| *s > self)
    }
}

/// Why a move is refused, and what would be allowed instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub code: &'static str,
    pub detail: String,
    pub allowed: Vec<&'static str>,
}

/// Whether an item at `status` and `step` may move to `to`.
pub fn transition(status: Status, step: Step, to: Status) -> Result<(), Refused> {
    let allowed: Vec<Status> = status
        .next()
        .iter()
        .copied()
        .filter(|s| *s != Status::Review || step >= Step::Evaluate)
        .collect();
    if allowed.contains(&to) {
        return Ok(());
    }
    let (code, detail) = if status.next().contains(&to) {
        (
            "step_not_reached",
            format!(
                "review needs step evaluate; the item is at {}",
                step.as_str()
            ),
        )
    } else {
        (
            "illegal_transition",
            format!("{} cannot move to {}", status.as_str(), to.as_str()),
        )
    };
    Err(Refused {
        code,
        detail,
        allowed: allowed.into_iter().map(Status::as_str).collect(),
    })
}

/// Whether an item at `status` and `step` may take step `to`: only the next one, and not once
/// the item is closed or rejected.
pub fn advance(status: Status, step: Step, to: Step) -> Result<(), Refused> {
    let allowed: Vec<&'static str> = step
        .following()
        .filter(|_| !status.is_final())
        .map(|s| vec![s.as_str()])
        .unwrap_or_default();
    if to == step || allowed.contains(&to.as_str()) {
        return Ok(());
    }
    Err(Refused {
        code: "step_out_of_order",
        detail: format!("from {} the next step is {allowed:?}", step.as_str()),
        allowed,
    })
}

/// What a new item holds besides its number.
#[derive(Debug, Clone)]
pub struct NewImprovement {
    pub title: String,
    pub description: String,
    pub source: &'static str,
    pub source_ref: Option<String>,
    pub value: i16,
    pub effort: i16,
    pub owner_id: Option<Uuid>,
    pub target: Option<(String, f64)>,
}

/// An analytic signal that calls for an improvement: its source, what raised it, and what the
/// item it opens says.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub source: &'static str,
    pub source_ref: String,
    pub title: String,
    pub description: String,
}

impl Signal {
    /// The item it opens: mid value and effort until someone assesses it.
    pub fn into_new(self) -> NewImprovement {
        NewImprovement {
            title: self.title.chars().take(200).collect(),
            description: self.description,
            source: self.source,
            source_ref: Some(self.source_ref),
            value: 3,
            effort: 3,
            owner_id: None,
            target: None,
        }
    }
}

/// A problem with this many incidents or more calls for an improvement.
pub const PROBLEM_INCIDENTS: usize = 5;

/// The signal `ev` raises, if any: a problem that is a known error or has at least
/// [`PROBLEM_INCIDENTS`] incidents; a post-implementation review's improvement finding.
pub fn signal_of(ev: &Observed) -> Result<Option<Signal>, FigureError> {
    if ev.is::<incident::ProblemUpdated>() {
        let p = ev.payload::<incident::ProblemUpdated>()?;
        let n = p.linked_incidents.len();
        if !p.known_error && n < PROBLEM_INCIDENTS {
            return Ok(None);
        }
        let why = if p.known_error {
            "is a known error"
        } else {
            "keeps causing incidents"
        };
        return Ok(Some(Signal {
            source: "problem",
            source_ref: p.problem_id.to_string(),
            title: format!("Remove the cause of a problem that {why}"),
            description: format!(
                "Problem {} {why}; {n} incidents are linked to it.",
                p.problem_id
            ),
        }));
    }
    if ev.is::<change::ChangePirFindingRecorded>() {
        let p = ev.payload::<change::ChangePirFindingRecorded>()?;
        if p.kind != "improvement" {
            return Ok(None);
        }
        return Ok(Some(Signal {
            source: "pir",
            source_ref: p.change_id.to_string(),
            title: format!("{}: {}", p.number, p.text),
            description: format!(
                "Found in the post-implementation review of {}: {}",
                p.number, p.text
            ),
        }));
    }
    Ok(None)
}

/// A service's resolutions over a window: how many were final, how many within target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resolutions {
    pub resolved: i64,
    pub met: i64,
}

impl Resolutions {
    /// The share resolved after the resolution target (`None`: nothing resolved).
    pub fn breach_ratio(self) -> Option<f64> {
        (self.resolved > 0).then(|| (self.resolved - self.met).max(0) as f64 / self.resolved as f64)
    }
}

/// Days in each window of the breach trend.
pub const TREND_DAYS: i64 = 28;
/// Fewer resolutions than this in the window say nothing about a trend (one late incident of
/// two is not 50 % of a service going wrong).
pub const TREND_MIN_RESOLVED: i64 = 5;

/// The `sla_breach_trend` signal for `service`, if its breach ratio over the last 28 days
/// (`now`) is at least `threshold` and higher than over the 28 days before (`before`).
pub fn breach_trend(
    service: Uuid,
    name: Option<&str>,
    now: Resolutions,
    before: Resolutions,
    threshold: f64,
) -> Option<Signal> {
    let ratio = now.breach_ratio()?;
    let rising = ratio > before.breach_ratio().unwrap_or(0.0);
    if now.resolved < TREND_MIN_RESOLVED || ratio < threshold || !rising {
        return None;
    }
    let service_name = name.map_or_else(|| format!("service {service}"), str::to_string);
    let earlier = before.breach_ratio().map_or_else(
        || format!("none were resolved in the {TREND_DAYS} days before"),
        |r| format!("up from {:.0} % in the {TREND_DAYS} days before", r * 100.0),
    );
    Some(Signal {
        source: "sla_breach_trend",
        source_ref: service.to_string(),
        title: format!("Bring {service_name}'s incidents back within their resolution target"),
        description: format!(
            "{} of {} incidents of {service_name} resolved in the last {TREND_DAYS} days missed \
             their resolution target ({:.0} %); {earlier}.",
            now.resolved - now.met,
            now.resolved,
            ratio * 100.0,
        ),
    })
}

/// Where an item comes from.
pub const SOURCES: [&str; 5] = [
    "manual",
    "problem",
    "sla_breach_trend",
    "pir",
    "capacity_forecast",
];

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    #[test]
    fn a_breach_ratio_at_or_over_the_threshold_and_rising_is_a_signal() {
        use super::{Resolutions, breach_trend};
        let r = |resolved, met| Resolutions { resolved, met };
        let service = uuid::Uuid::nil();
        // 2 of 10 late (20 %), up from 1 of 10: a signal at 10 %.
        let rising = breach_trend(service, Some("Payroll"), r(10, 8), r(10, 9), 0.10);
        let rising = rising.unwrap_or_else(|| panic!("a signal"));
        assert_eq!(rising.source, "sla_breach_trend");
        assert!(rising.title.contains("Payroll"), "{}", rising.title);
        assert!(
            rising.description.contains("2 of 10"),
            "{}",
            rising.description
        );
        // Exactly the threshold counts; nothing before counts as 0 %.
        assert!(breach_trend(service, None, r(10, 9), r(0, 0), 0.10).is_some());
        // Not rising, under the threshold, or too few resolutions: nothing.
        assert!(breach_trend(service, None, r(10, 8), r(10, 8), 0.10).is_none());
        assert!(breach_trend(service, None, r(20, 19), r(20, 20), 0.10).is_none());
        assert!(breach_trend(service, None, r(4, 0), r(10, 10), 0.10).is_none());
        assert!(breach_trend(service, None, r(0, 0), r(0, 0), 0.10).is_none());
    }

    use super::*;

    /// The register as a plain model: a status, a step, and the rules written out by hand.
    #[derive(Debug, Clone, Copy)]
    struct Model {
        status: Status,
        step: Step,
    }

    impl Model {
        fn may_move(&self, to: Status) -> bool {
            use Status::*;
            let edge = matches!(
                (self.status, to),
                (Proposed, Accepted)
                    | (Proposed, Rejected)
                    | (Accepted, InProgress)
                    | (Accepted, Rejected)
                    | (InProgress, OnHold)
                    | (OnHold, InProgress)
                    | (InProgress, Review)
                    | (Review, Closed)
                    | (Review, InProgress)
            );
            edge && (to != Review || matches!(self.step, Step::Evaluate | Step::Sustain))
        }

        fn may_step(&self, to: Step) -> bool {
            let at = Step::ALL.iter().position(|s| *s == self.step).unwrap_or(0);
            let want = Step::ALL.iter().position(|s| *s == to).unwrap_or(0);
            want == at
                || (want == at + 1 && !matches!(self.status, Status::Closed | Status::Rejected))
        }
    }

    #[derive(Debug, Clone, Copy)]
    enum Op {
        Move(Status),
        Take(Step),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..7usize).prop_map(|i| Op::Move(Status::ALL[i])),
            (0..7usize).prop_map(|i| Op::Take(Step::ALL[i])),
        ]
    }

    proptest! {
        #[test]
        fn statuses_and_steps_follow_the_model(ops in proptest::collection::vec(op(), 1..60)) {
            let mut model = Model { status: Status::Proposed, step: Step::Vision };
            for op in ops {
                match op {
                    Op::Move(to) => {
                        let got = transition(model.status, model.step, to);
                        prop_assert_eq!(got.is_ok(), model.may_move(to), "{:?} → {:?}", model, to);
                        if let Err(refused) = got {
                            // What is allowed is exactly what the model would take.
                            let allowed: Vec<&str> = Status::ALL
                                .into_iter()
                                .filter(|s| model.may_move(*s))
                                .map(Status::as_str)
                                .collect();
                            prop_assert_eq!(refused.allowed, allowed);
                        } else {
                            model.status = to;
                        }
                    }
                    Op::Take(to) => {
                        let got = advance(model.status, model.step, to);
                        prop_assert_eq!(got.is_ok(), model.may_step(to), "{:?} → {:?}", model, to);
                        if got.is_ok() {
                            model.step = to;
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn review_waits_for_evaluate() {
        let refused = transition(Status::InProgress, Step::Act, Status::Review);
        assert_eq!(
            refused.map_err(|r| (r.code, r.allowed)),
            Err(("step_not_reached", vec!["on_hold"]))
        );
        assert!(transition(Status::InProgress, Step::Evaluate, Status::Review).is_ok());
    }

    #[test]
    fn a_skipped_step_lists_the_next_one() {
        let refused = advance(Status::InProgress, Step::Plan, Step::Evaluate);
        assert_eq!(refused.map(|_| ()).map_err(|r| r.allowed), Err(vec!["act"]));
        assert!(advance(Status::Closed, Step::Plan, Step::Act).is_err());
    }
}
