//! The incident lifecycle: New → In Progress → On Hold (with a reason) → Resolved → Closed, and
//! Canceled; Resolved can be reopened; a caller's update ends "awaiting caller".
//!
//! `State` and `HoldReason` are also the incident row's column types: stored as the names
//! `as_str` gives (the derive maps them; no logic here does I/O).
use sea_orm::{DeriveActiveEnum, EnumIter, sea_query::StringLen};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum State {
    #[sea_orm(string_value = "new")]
    New,
    #[sea_orm(string_value = "in_progress")]
    InProgress,
    #[sea_orm(string_value = "on_hold")]
    OnHold,
    #[sea_orm(string_value = "resolved")]
    Resolved,
    #[sea_orm(string_value = "closed")]
    Closed,
    #[sea_orm(string_value = "canceled")]
    Canceled,
}

impl State {
    pub const ALL: [State; 6] = [
        State::New,
        State::InProgress,
        State::OnHold,
        State::Resolved,
        State::Closed,
        State::Canceled,
    ];

    /// The states reachable in one transition.
    pub fn next(self) -> &'static [State] {
        use State::*;
        match self {
            New => &[InProgress, OnHold, Resolved, Canceled],
            InProgress => &[OnHold, Resolved, Canceled],
            OnHold => &[InProgress, Resolved, Canceled],
            // Reopen, or close after the caller confirmed (or the resolution period passed).
            Resolved => &[InProgress, Closed],
            Closed | Canceled => &[],
        }
    }

    /// The name stored and shown (`in_progress`).
    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::InProgress => "in_progress",
            State::OnHold => "on_hold",
            State::Resolved => "resolved",
            State::Closed => "closed",
            State::Canceled => "canceled",
        }
    }

    pub fn parse(raw: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    pub fn is_terminal(self) -> bool {
        self.next().is_empty()
    }

    /// Whether the incident counts as open work (SLA clocks, queues).
    pub fn is_open(self) -> bool {
        matches!(self, State::New | State::InProgress | State::OnHold)
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum HoldReason {
    #[sea_orm(string_value = "awaiting_caller")]
    AwaitingCaller,
    #[sea_orm(string_value = "awaiting_change")]
    AwaitingChange,
    #[sea_orm(string_value = "awaiting_problem")]
    AwaitingProblem,
    #[sea_orm(string_value = "awaiting_vendor")]
    AwaitingVendor,
}

impl HoldReason {
    pub const ALL: [HoldReason; 4] = [
        HoldReason::AwaitingCaller,
        HoldReason::AwaitingChange,
        HoldReason::AwaitingProblem,
        HoldReason::AwaitingVendor,
    ];

    /// The name stored and shown (`awaiting_caller`).
    pub fn as_str(self) -> &'static str {
        match self {
            HoldReason::AwaitingCaller => "awaiting_caller",
            HoldReason::AwaitingChange => "awaiting_change",
            HoldReason::AwaitingProblem => "awaiting_problem",
            HoldReason::AwaitingVendor => "awaiting_vendor",
        }
    }

    pub fn parse(raw: &str) -> Option<HoldReason> {
        HoldReason::ALL.into_iter().find(|h| h.as_str() == raw)
    }
}

/// Where an incident is in its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub state: State,
    /// Set exactly when `state` is `on_hold`.
    pub hold_reason: Option<HoldReason>,
    /// Set exactly when `state` is `resolved` or `closed` (kept from the resolution).
    pub resolution: Option<Resolution>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    pub code: String,
    pub notes: String,
}

/// A requested move: `{"to": …, "hold_reason"?, "resolution_code"?, "resolution_notes"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "to": "on_hold",
    "hold_reason": "awaiting_caller"
}))]
pub struct Transition {
    pub to: State,
    pub hold_reason: Option<HoldReason>,
    pub resolution_code: Option<String>,
    pub resolution_notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The move is not in the lifecycle; `allowed` lists the moves that are (409).
    #[error("cannot move from {from:?} to {to:?}")]
    NotAllowed {
        from: State,
        to: State,
        allowed: Vec<State>,
    },
    /// On hold needs a reason (422 on `/hold_reason`).
    #[error("a hold reason is required")]
    HoldReasonRequired,
    /// A reason given for a move that is not to on hold (422 on `/hold_reason`).
    #[error("a hold reason only applies when moving to on_hold")]
    HoldReasonNotApplicable,
    /// Resolving needs a code and notes (422 on `/resolution_code` or `/resolution_notes`).
    #[error("resolving requires {0}")]
    ResolutionRequired(&'static str),
    /// Resolution fields given for a move that is not to resolved.
    #[error("resolution fields only apply when moving to resolved")]
    ResolutionNotApplicable,
}

impl Status {
    pub fn new() -> Self {
        Status {
            state: State::New,
            hold_reason: None,
            resolution: None,
        }
    }

    /// The status after `t`, or why not. Pure: the caller persists, audits and publishes.
    pub fn apply(&self, t: &Transition) -> Result<Status, TransitionError> {
        let allowed = self.state.next();
        if !allowed.contains(&t.to) {
            return Err(TransitionError::NotAllowed {
                from: self.state,
                to: t.to,
                allowed: allowed.to_vec(),
            });
        }
        let blank = |s: &Option<String>| s.as_deref().is_none_or(|v| v.trim().is_empty());
        match (t.to, t.hold_reason) {
            (State::OnHold, None) => return Err(TransitionError::HoldReasonRequired),
            (to, Some(_)) if to != State::OnHold => {
                return Err(TransitionError::HoldReasonNotApplicable);
            }
            _ => {}
        }
        if t.to == State::Resolved {
            if blank(&t.resolution_code) {
                return Err(TransitionError::ResolutionRequired("resolution_code"));
            }
            if blank(&t.resolution_notes) {
                return Err(TransitionError::ResolutionRequired("resolution_notes"));
            }
        } else if t.resolution_code.is_some() || t.resolution_notes.is_some() {
            return Err(TransitionError::ResolutionNotApplicable);
        }
        let resolution = match t.to {
            State::Resolved => Some(Resolution {
                code: t
                    .resolution_code
                    .clone()
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
                notes: t
                    .resolution_notes
                    .clone()
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            }),
            State::Closed => self.resolution.clone(),
            _ => None,
        };
        Ok(Status {
            state: t.to,
            hold_reason: t.hold_reason,
            resolution,
        })
    }

    /// A public comment by the caller ends "awaiting caller": the incident returns to work.
    pub fn on_caller_comment(&self) -> Option<Status> {
        (self.state == State::OnHold && self.hold_reason == Some(HoldReason::AwaitingCaller))
            .then_some(Status {
                state: State::InProgress,
                hold_reason: None,
                resolution: None,
            })
    }

    /// Invariants every stored status satisfies.
    pub fn is_consistent(&self) -> bool {
        (self.state == State::OnHold) == self.hold_reason.is_some()
            && matches!(self.state, State::Resolved | State::Closed) == self.resolution.is_some()
    }
}

impl Default for Status {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_are_the_serialized_names() {
        for state in State::ALL {
            assert_eq!(serde_json::json!(state), state.as_str());
            assert_eq!(State::parse(state.as_str()), Some(state));
        }
        for reason in HoldReason::ALL {
            assert_eq!(serde_json::json!(reason), reason.as_str());
            assert_eq!(HoldReason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(State::parse("open"), None);
    }

    fn to(state: State) -> Transition {
        Transition {
            to: state,
            hold_reason: None,
            resolution_code: None,
            resolution_notes: None,
        }
    }

    #[test]
    fn illegal_moves_list_the_allowed_ones() {
        let err = Status::new().apply(&to(State::Closed));
        assert_eq!(
            err,
            Err(TransitionError::NotAllowed {
                from: State::New,
                to: State::Closed,
                allowed: vec![
                    State::InProgress,
                    State::OnHold,
                    State::Resolved,
                    State::Canceled
                ]
            })
        );
    }

    #[test]
    fn hold_needs_a_reason_and_resolving_needs_code_and_notes() {
        let s = Status::new();
        assert_eq!(
            s.apply(&to(State::OnHold)),
            Err(TransitionError::HoldReasonRequired)
        );
        assert_eq!(
            s.apply(&to(State::Resolved)),
            Err(TransitionError::ResolutionRequired("resolution_code"))
        );
        let mut t = to(State::InProgress);
        t.hold_reason = Some(HoldReason::AwaitingVendor);
        assert_eq!(s.apply(&t), Err(TransitionError::HoldReasonNotApplicable));
        let mut r = to(State::Resolved);
        r.resolution_code = Some("fixed".into());
        r.resolution_notes = Some("  ".into());
        assert_eq!(
            s.apply(&r),
            Err(TransitionError::ResolutionRequired("resolution_notes"))
        );
    }

    #[test]
    fn caller_comment_ends_awaiting_caller_only() {
        let mut t = to(State::OnHold);
        t.hold_reason = Some(HoldReason::AwaitingCaller);
        let held = Status::new().apply(&t).unwrap_or_default();
        assert_eq!(
            held.on_caller_comment().map(|s| s.state),
            Some(State::InProgress)
        );
        t.hold_reason = Some(HoldReason::AwaitingVendor);
        let vendor = Status::new().apply(&t).unwrap_or_default();
        assert_eq!(vendor.on_caller_comment(), None);
    }

    #[test]
    fn reopen_clears_the_resolution_and_close_keeps_it() {
        let mut r = to(State::Resolved);
        r.resolution_code = Some("workaround".into());
        r.resolution_notes = Some("restarted the service".into());
        let resolved = Status::new().apply(&r).unwrap_or_default();
        let closed = resolved.apply(&to(State::Closed)).unwrap_or_default();
        assert_eq!(closed.resolution.map(|r| r.code), Some("workaround".into()));
        let reopened = resolved.apply(&to(State::InProgress)).unwrap_or_default();
        assert_eq!(reopened.resolution, None);
    }
}
