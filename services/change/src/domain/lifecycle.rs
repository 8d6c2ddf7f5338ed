//! A change's lifecycle, per type: a standard change is pre-approved (`new → scheduled`), a
//! normal one is assessed and authorized (`new → assess → authorize → scheduled`), an
//! emergency one is authorized and goes straight to work (`new → authorize → implement`). All
//! then run `implement → review → closed`; any may be canceled before `review`. A rejection
//! sends a change back to `new` for another approval round.
//!
//! Pure: what a move needs from the change is passed in, nothing here does I/O.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use platform::FieldError;

/// `standard`, `normal` or `emergency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeType {
    Standard,
    Normal,
    Emergency,
}

impl ChangeType {
    pub const ALL: [ChangeType; 3] = [
        ChangeType::Standard,
        ChangeType::Normal,
        ChangeType::Emergency,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Standard => "standard",
            ChangeType::Normal => "normal",
            ChangeType::Emergency => "emergency",
        }
    }

    pub fn parse(raw: &str) -> Option<ChangeType> {
        ChangeType::ALL.into_iter().find(|t| t.as_str() == raw)
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[schema(as = ChangeState)]
pub enum State {
    New,
    Assess,
    Authorize,
    Scheduled,
    Implement,
    Review,
    Closed,
    Canceled,
}

impl State {
    pub const ALL: [State; 8] = [
        State::New,
        State::Assess,
        State::Authorize,
        State::Scheduled,
        State::Implement,
        State::Review,
        State::Closed,
        State::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Assess => "assess",
            State::Authorize => "authorize",
            State::Scheduled => "scheduled",
            State::Implement => "implement",
            State::Review => "review",
            State::Closed => "closed",
            State::Canceled => "canceled",
        }
    }

    pub fn parse(raw: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, State::Closed | State::Canceled)
    }

    /// Approved and not yet done: moving its window needs a new authorization.
    pub fn is_approved(self) -> bool {
        matches!(self, State::Scheduled)
    }
}

/// The states a change of type `t` may move to from `from` in one transition.
pub fn next(t: ChangeType, from: State) -> Vec<State> {
    use State::*;
    let forward: &[State] = match (t, from) {
        (ChangeType::Standard, New) => &[Scheduled],
        (ChangeType::Normal, New) => &[Assess],
        (ChangeType::Emergency, New) => &[Authorize],
        // The assessment passes to authorization, or the change goes back for rework.
        (ChangeType::Normal, Assess) => &[Authorize, New],
        (ChangeType::Normal, Authorize) => &[Scheduled, New],
        (ChangeType::Emergency, Authorize) => &[Implement, New],
        (_, Scheduled) => &[Implement],
        (_, Implement) => &[Review],
        (_, Review) => &[Closed],
        _ => &[],
    };
    let mut states = forward.to_vec();
    if matches!(from, New | Assess | Authorize | Scheduled | Implement) {
        states.push(Canceled);
    }
    states
}

/// Where an approved authorization takes a change of type `t`.
pub fn after_approval(t: ChangeType) -> State {
    match t {
        ChangeType::Emergency => State::Implement,
        _ => State::Scheduled,
    }
}

/// How a closed change went: `successful`, `successful_with_issues` or `unsuccessful`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CloseCode {
    Successful,
    SuccessfulWithIssues,
    Unsuccessful,
}

impl CloseCode {
    pub const ALL: [CloseCode; 3] = [
        CloseCode::Successful,
        CloseCode::SuccessfulWithIssues,
        CloseCode::Unsuccessful,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CloseCode::Successful => "successful",
            CloseCode::SuccessfulWithIssues => "successful_with_issues",
            CloseCode::Unsuccessful => "unsuccessful",
        }
    }

    pub fn parse(raw: &str) -> Option<CloseCode> {
        CloseCode::ALL.into_iter().find(|c| c.as_str() == raw)
    }
}

/// What leaving `new` needs of a change: a window, CIs and the three plans.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    pub has_window: bool,
    pub ci_count: usize,
    pub implementation_plan: bool,
    pub backout_plan: bool,
    pub test_plan: bool,
}

/// A requested move, as the handler parsed it.
#[derive(Debug, Clone)]
pub struct Move {
    pub to: State,
    pub reason: Option<String>,
    pub close_code: Option<CloseCode>,
}

/// Why a move is refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Not a move of this type from this state; the ones that are.
    NotAllowed(Vec<State>),
    /// The change or the request lacks what the move needs, field by field.
    Incomplete(Vec<FieldError>),
}

/// What the change becomes after a move.
#[derive(Debug, Clone, PartialEq)]
pub struct Moved {
    pub to: State,
    /// A rejection: back to `new`, a new approval round, the reason kept.
    pub rejection_reason: Option<String>,
    pub close_code: Option<CloseCode>,
}

/// Checks a move of a change of type `t` in state `from`.
pub fn check(t: ChangeType, from: State, ready: &Readiness, m: &Move) -> Result<Moved, Refusal> {
    let allowed = next(t, from);
    if !allowed.contains(&m.to) {
        return Err(Refusal::NotAllowed(allowed));
    }
    let mut missing = Vec::new();
    if from == State::New && m.to != State::Canceled {
        if !ready.has_window {
            missing.push(FieldError::new(
                "/planned_start",
                "required",
                "a window (planned_start and planned_end) is required to leave new",
            ));
        }
        if ready.ci_count == 0 {
            missing.push(FieldError::new(
                "/affected_ci_ids",
                "required",
                "at least one CI is required to leave new",
            ));
        }
        for (present, pointer) in [
            (ready.implementation_plan, "/implementation_plan"),
            (ready.backout_plan, "/backout_plan"),
            (ready.test_plan, "/test_plan"),
        ] {
            if !present {
                missing.push(FieldError::new(
                    pointer,
                    "required",
                    "required to leave new",
                ));
            }
        }
    }
    let rejection = m.to == State::New;
    let reason = m.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    if (rejection || m.to == State::Canceled) && reason.is_none() {
        missing.push(FieldError::new(
            "/reason",
            "required",
            "required to reject or cancel a change",
        ));
    }
    if m.to == State::Closed && m.close_code.is_none() {
        missing.push(FieldError::new(
            "/close_code",
            "required",
            "required to close: successful, successful_with_issues or unsuccessful",
        ));
    }
    if !missing.is_empty() {
        return Err(Refusal::Incomplete(missing));
    }
    Ok(Moved {
        to: m.to,
        rejection_reason: if rejection {
            reason.map(str::to_string)
        } else {
            None
        },
        close_code: if m.to == State::Closed {
            m.close_code
        } else {
            None
        },
    })
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ready() -> Readiness {
        Readiness {
            has_window: true,
            ci_count: 1,
            implementation_plan: true,
            backout_plan: true,
            test_plan: true,
        }
    }

    fn to(state: State) -> Move {
        Move {
            to: state,
            reason: Some("because".into()),
            close_code: Some(CloseCode::Successful),
        }
    }

    fn any_type() -> impl Strategy<Value = ChangeType> {
        prop::sample::select(ChangeType::ALL.to_vec())
    }

    proptest! {
        /// Standard changes are pre-approved: no path of legal moves enters `assess` or
        /// `authorize`.
        #[test]
        fn standard_never_enters_assess(picks in prop::collection::vec(0usize..8, 0..30)) {
            let mut state = State::New;
            for pick in picks {
                let allowed = next(ChangeType::Standard, state);
                if allowed.is_empty() { break; }
                state = allowed[pick % allowed.len()];
                prop_assert!(state != State::Assess && state != State::Authorize);
            }
        }

        /// Whatever the type and the moves so far, a rejection lands in `new`, every state
        /// still reaches `closed` (or is `canceled`), and `canceled` until review.
        #[test]
        fn rejections_land_in_new_and_every_state_reaches_an_end(
            t in any_type(),
            picks in prop::collection::vec(0usize..8, 0..30),
        ) {
            let mut state = State::New;
            for pick in picks {
                let allowed = next(t, state);
                if allowed.is_empty() { break; }
                let target = allowed[pick % allowed.len()];
                let moved = check(t, state, &ready(), &to(target)).expect("a listed move");
                if matches!(state, State::Assess | State::Authorize) && target == State::New {
                    prop_assert_eq!(moved.rejection_reason.as_deref(), Some("because"));
                }
                state = moved.to;
                prop_assert!(reaches(t, state, State::Closed) || state == State::Canceled);
                // Canceled until work is in review.
                prop_assert!(
                    reaches(t, state, State::Canceled)
                        || matches!(state, State::Review | State::Closed | State::Canceled)
                );
            }
        }
    }

    /// Whether `goal` is reachable from `from` by legal moves.
    fn reaches(t: ChangeType, from: State, goal: State) -> bool {
        let mut seen = vec![from];
        let mut todo = vec![from];
        while let Some(s) = todo.pop() {
            if s == goal {
                return true;
            }
            for n in next(t, s) {
                if !seen.contains(&n) {
                    seen.push(n);
                    todo.push(n);
                }
            }
        }
        false
    }

    #[test]
    fn each_type_follows_its_path() {
        use State::*;
        let path = |t: ChangeType| {
            let mut state = New;
            let mut seen = vec![New];
            while state != Closed {
                state = next(t, state)[0];
                seen.push(state);
            }
            seen
        };
        assert_eq!(
            path(ChangeType::Standard),
            [New, Scheduled, Implement, Review, Closed]
        );
        assert_eq!(
            path(ChangeType::Normal),
            [New, Assess, Authorize, Scheduled, Implement, Review, Closed]
        );
        assert_eq!(
            path(ChangeType::Emergency),
            [New, Authorize, Implement, Review, Closed]
        );
    }

    #[test]
    fn an_illegal_move_lists_the_allowed_ones() {
        let refused = check(
            ChangeType::Normal,
            State::New,
            &ready(),
            &to(State::Scheduled),
        );
        assert_eq!(
            refused,
            Err(Refusal::NotAllowed(vec![State::Assess, State::Canceled]))
        );
        // Nothing is canceled once it is in review.
        assert_eq!(next(ChangeType::Normal, State::Review), vec![State::Closed]);
    }

    #[test]
    fn leaving_new_needs_a_window_cis_and_the_three_plans() {
        let Err(Refusal::Incomplete(missing)) = check(
            ChangeType::Standard,
            State::New,
            &Readiness::default(),
            &to(State::Scheduled),
        ) else {
            panic!("an incomplete change left new");
        };
        let pointers: Vec<&str> = missing.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/planned_start",
                "/affected_ci_ids",
                "/implementation_plan",
                "/backout_plan",
                "/test_plan"
            ]
        );
        // Canceling a draft needs none of it.
        assert!(
            check(
                ChangeType::Standard,
                State::New,
                &Readiness::default(),
                &to(State::Canceled)
            )
            .is_ok()
        );
    }

    #[test]
    fn closing_needs_a_close_code_and_rejecting_a_reason() {
        let close = Move {
            to: State::Closed,
            reason: None,
            close_code: None,
        };
        let Err(Refusal::Incomplete(missing)) =
            check(ChangeType::Normal, State::Review, &ready(), &close)
        else {
            panic!("closed without a close code");
        };
        assert_eq!(missing[0].pointer, "/close_code");
        let reject = Move {
            to: State::New,
            reason: Some("  ".into()),
            close_code: None,
        };
        let Err(Refusal::Incomplete(missing)) =
            check(ChangeType::Normal, State::Authorize, &ready(), &reject)
        else {
            panic!("rejected without a reason");
        };
        assert_eq!(missing[0].pointer, "/reason");
    }
}
