//! Value streams: where a ticket's lead time goes, step by step (ADR 41). Each step is a set
//! of states a ticket waits or is worked in; a ticket's clock adds the time of every stay in a
//! step (re-entries count) and, when the ticket completes, its lead time and step times go to
//! the per-day counts of the day it completed, in milliseconds. A reopen withdraws them with
//! the rest of the resolution, and the final completion counts.
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    metrics::{Delta, Metric},
    summary::Totals,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    RequestToFulfilled,
    IncidentToResolved,
    ChangeToLive,
}

/// A step of a stream and the count its time is kept in.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    pub name: &'static str,
    pub millis: Metric,
}

const fn step(name: &'static str, millis: Metric) -> Step {
    Step { name, millis }
}

const REQUEST_STEPS: [Step; 3] = [
    step("approval", Metric::RequestFlowApprovalMs),
    step("queue", Metric::RequestFlowQueueMs),
    step("fulfilment", Metric::RequestFlowFulfilmentMs),
];
const INCIDENT_STEPS: [Step; 4] = [
    step("queue", Metric::IncidentFlowQueueMs),
    step("acknowledge", Metric::IncidentFlowAcknowledgeMs),
    step("work", Metric::IncidentFlowWorkMs),
    step("on_hold", Metric::IncidentFlowOnHoldMs),
];
const CHANGE_STEPS: [Step; 5] = [
    step("assess", Metric::ChangeFlowAssessMs),
    step("authorize", Metric::ChangeFlowAuthorizeMs),
    step("wait_for_window", Metric::ChangeFlowWaitForWindowMs),
    step("implement", Metric::ChangeFlowImplementMs),
    step("review", Metric::ChangeFlowReviewMs),
];

impl Stream {
    pub const ALL: [Stream; 3] = [
        Stream::RequestToFulfilled,
        Stream::IncidentToResolved,
        Stream::ChangeToLive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stream::RequestToFulfilled => "request_to_fulfilled",
            Stream::IncidentToResolved => "incident_to_resolved",
            Stream::ChangeToLive => "change_to_live",
        }
    }

    pub fn parse(raw: &str) -> Option<Stream> {
        Stream::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    pub fn steps(self) -> &'static [Step] {
        match self {
            Stream::RequestToFulfilled => &REQUEST_STEPS,
            Stream::IncidentToResolved => &INCIDENT_STEPS,
            Stream::ChangeToLive => &CHANGE_STEPS,
        }
    }

    /// Tickets that completed the stream.
    pub fn completed(self) -> Metric {
        match self {
            Stream::RequestToFulfilled => Metric::RequestFlowCompleted,
            Stream::IncidentToResolved => Metric::IncidentFlowCompleted,
            Stream::ChangeToLive => Metric::ChangeFlowCompleted,
        }
    }

    /// Their lead times, summed.
    pub fn lead(self) -> Metric {
        match self {
            Stream::RequestToFulfilled => Metric::RequestFlowLeadMs,
            Stream::IncidentToResolved => Metric::IncidentFlowLeadMs,
            Stream::ChangeToLive => Metric::ChangeFlowLeadMs,
        }
    }

    /// The step a ticket in `state` is in (`None`: none, e.g. resolved or canceled).
    /// `started` tells the two steps of one state apart: for an incident in `new`, whether it
    /// has an assignee (acknowledge, not queue); for a request item in `in_fulfilment`,
    /// whether any of its tasks was started (fulfilment, not queue).
    pub fn step_of(self, state: &str, started: bool) -> Option<usize> {
        let name = match (self, state) {
            (Stream::RequestToFulfilled, "pending_approval") => "approval",
            (Stream::RequestToFulfilled, "in_fulfilment") if !started => "queue",
            (Stream::RequestToFulfilled, "in_fulfilment" | "awaiting_requester") => "fulfilment",
            (Stream::IncidentToResolved, "new") if !started => "queue",
            (Stream::IncidentToResolved, "new") => "acknowledge",
            (Stream::IncidentToResolved, "in_progress") => "work",
            (Stream::IncidentToResolved, "on_hold") => "on_hold",
            (Stream::ChangeToLive, "new" | "assess") => "assess",
            (Stream::ChangeToLive, "authorize") => "authorize",
            (Stream::ChangeToLive, "scheduled") => "wait_for_window",
            (Stream::ChangeToLive, "implement") => "implement",
            (Stream::ChangeToLive, "review") => "review",
            _ => return None,
        };
        self.steps().iter().position(|s| s.name == name)
    }
}

/// A ticket's time in each step of its stream, kept with its facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepClock {
    pub started_at: DateTime<Utc>,
    /// The step running and since when; `None` between steps (resolved, closed).
    pub running: Option<(usize, DateTime<Utc>)>,
    /// Milliseconds spent in each step so far.
    pub millis: Vec<i64>,
}

impl StepClock {
    pub fn start(stream: Stream, step: Option<usize>, at: DateTime<Utc>) -> StepClock {
        StepClock {
            started_at: at,
            running: step.map(|s| (s, at)),
            millis: vec![0; stream.steps().len()],
        }
    }

    /// The step running now, if any.
    pub fn step(&self) -> Option<usize> {
        self.running.map(|(s, _)| s)
    }

    /// Moves to `step` at `at`, adding the time of the step left.
    pub fn enter(&mut self, step: Option<usize>, at: DateTime<Utc>) {
        if let Some((left, since)) = self.running.take()
            && let Some(total) = self.millis.get_mut(left)
        {
            *total += (at - since).num_milliseconds().max(0);
        }
        self.running = step.map(|s| (s, at));
    }

    /// Stops the clock at `at`, when the ticket completed on local day `day`: what it adds to
    /// the figures (the completion, the lead time and each step's time).
    pub fn complete(&mut self, stream: Stream, at: DateTime<Utc>, day: NaiveDate) -> Vec<Delta> {
        self.enter(None, at);
        let count = |metric, by| Delta::Count { metric, day, by };
        let lead = (at - self.started_at).num_milliseconds().max(0);
        let mut deltas = vec![count(stream.completed(), 1), count(stream.lead(), lead)];
        for (step, millis) in stream.steps().iter().zip(&self.millis) {
            if *millis != 0 {
                deltas.push(count(step.millis, *millis));
            }
        }
        deltas
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StepFigures {
    pub step: &'static str,
    /// Time spent in the step by the tickets completed, summed.
    pub total_seconds: f64,
    /// `total_seconds` / the summed lead time; `null` when nothing completed. The shares add
    /// up to less than 1 when tickets spent time outside every step (resolved, then reopened).
    pub share_of_lead_time: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Bottleneck {
    pub step: &'static str,
}

/// A value stream over a period: the tickets that completed it in the period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StreamFigures {
    pub stream: &'static str,
    /// Tickets that completed the stream in the period.
    pub completed: i64,
    /// Mean lead time (start → completion) per completed ticket; `null` when none completed.
    pub lead_time_seconds: Option<f64>,
    pub steps: Vec<StepFigures>,
    /// The step with the largest total time (a tie goes to the earlier step); `null` when
    /// none completed.
    pub bottleneck: Option<Bottleneck>,
}

impl StreamFigures {
    pub fn of(stream: Stream, t: &Totals) -> StreamFigures {
        let completed = t.count(stream.completed());
        let lead = t.count(stream.lead());
        let steps: Vec<StepFigures> = stream
            .steps()
            .iter()
            .map(|s| {
                let millis = t.count(s.millis);
                StepFigures {
                    step: s.name,
                    total_seconds: millis as f64 / 1000.0,
                    share_of_lead_time: (lead > 0).then(|| millis as f64 / lead as f64),
                }
            })
            .collect();
        let bottleneck = (completed > 0)
            .then(|| {
                steps
                    .iter()
                    .rev()
                    .max_by(|a, b| a.total_seconds.total_cmp(&b.total_seconds))
                    .map(|s| Bottleneck { step: s.step })
            })
            .flatten();
        StreamFigures {
            stream: stream.as_str(),
            completed,
            lead_time_seconds: (completed > 0).then(|| lead as f64 / 1000.0 / completed as f64),
            steps,
            bottleneck,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + minutes * 60, 0).unwrap_or_default()
    }

    fn totals(deltas: &[Delta]) -> Totals {
        let mut t = Totals::default();
        for d in deltas {
            if let Delta::Count { metric, by, .. } = d {
                t.add_count(*metric, *by);
            }
        }
        t
    }

    #[test]
    fn re_entries_add_up_and_the_largest_step_is_the_bottleneck() {
        let s = Stream::IncidentToResolved;
        let mut c = StepClock::start(s, s.step_of("new", false), at(0));
        c.enter(s.step_of("new", true), at(10));
        c.enter(s.step_of("in_progress", true), at(15));
        c.enter(s.step_of("on_hold", true), at(45));
        c.enter(s.step_of("in_progress", true), at(105));
        let day = at(0).date_naive();
        let f = StreamFigures::of(s, &totals(&c.complete(s, at(125), day)));
        let secs: Vec<f64> = f.steps.iter().map(|s| s.total_seconds).collect();
        assert_eq!(secs, [600.0, 300.0, 3000.0, 3600.0]);
        assert_eq!(f.lead_time_seconds, Some(7500.0));
        assert_eq!(f.bottleneck, Some(Bottleneck { step: "on_hold" }));
        let shares: f64 = f.steps.iter().filter_map(|s| s.share_of_lead_time).sum();
        assert!((shares - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_tie_goes_to_the_earlier_step() {
        let s = Stream::ChangeToLive;
        let mut c = StepClock::start(s, s.step_of("new", false), at(0));
        c.enter(s.step_of("authorize", false), at(60));
        c.enter(s.step_of("closed", false), at(120));
        let f = StreamFigures::of(s, &totals(&c.complete(s, at(120), at(0).date_naive())));
        assert_eq!(f.bottleneck, Some(Bottleneck { step: "assess" }));
    }

    #[test]
    fn nothing_completed_has_no_lead_time_and_no_bottleneck() {
        let f = StreamFigures::of(Stream::RequestToFulfilled, &Totals::default());
        assert_eq!(f.completed, 0);
        assert_eq!(f.lead_time_seconds, None);
        assert_eq!(f.bottleneck, None);
        assert!(f.steps.iter().all(|s| s.share_of_lead_time.is_none()));
    }

    #[test]
    fn every_state_before_completion_is_in_a_step() {
        let open = [
            (
                Stream::RequestToFulfilled,
                &["pending_approval", "in_fulfilment", "awaiting_requester"][..],
            ),
            (
                Stream::IncidentToResolved,
                &["new", "in_progress", "on_hold"][..],
            ),
            (
                Stream::ChangeToLive,
                &[
                    "new",
                    "assess",
                    "authorize",
                    "scheduled",
                    "implement",
                    "review",
                ][..],
            ),
        ];
        for (stream, states) in open {
            for state in states {
                for started in [false, true] {
                    assert!(stream.step_of(state, started).is_some(), "{state}");
                }
            }
        }
        assert_eq!(Stream::IncidentToResolved.step_of("resolved", true), None);
    }
}
