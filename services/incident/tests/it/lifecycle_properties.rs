//! Property tests of the incident lifecycle.
use incident::domain::lifecycle::{HoldReason, State, Status, Transition};
use proptest::prelude::*;

fn any_state() -> impl Strategy<Value = State> {
    prop::sample::select(State::ALL.to_vec())
}

fn any_transition() -> impl Strategy<Value = Transition> {
    let reason = prop::option::of(prop::sample::select(vec![
        HoldReason::AwaitingCaller,
        HoldReason::AwaitingChange,
        HoldReason::AwaitingProblem,
        HoldReason::AwaitingVendor,
    ]));
    let text = prop::option::of(prop::sample::select(vec![
        "".to_string(),
        "fixed".to_string(),
        " ".to_string(),
    ]));
    (any_state(), reason, text.clone(), text).prop_map(
        |(to, hold_reason, resolution_code, resolution_notes)| Transition {
            to,
            hold_reason,
            resolution_code,
            resolution_notes,
        },
    )
}

proptest! {
    /// No sequence of requests takes an incident through an illegal move or into an
    /// inconsistent status.
    #[test]
    fn no_illegal_transition_is_accepted(requests in prop::collection::vec(any_transition(), 0..40)) {
        let mut status = Status::new();
        for t in requests {
            if let Ok(next) = status.apply(&t) {
                prop_assert!(status.state.next().contains(&next.state));
                prop_assert!(next.is_consistent(), "{next:?}");
                status = next;
            }
        }
    }
}

/// From every state some path reaches Closed or Canceled.
#[test]
fn every_state_can_reach_closed_or_canceled() {
    for start in State::ALL {
        let mut seen = vec![start];
        let mut frontier = vec![start];
        while let Some(s) = frontier.pop() {
            for n in s.next() {
                if !seen.contains(n) {
                    seen.push(*n);
                    frontier.push(*n);
                }
            }
        }
        assert!(
            seen.contains(&State::Closed) || seen.contains(&State::Canceled),
            "{start:?} is stuck"
        );
    }
}
