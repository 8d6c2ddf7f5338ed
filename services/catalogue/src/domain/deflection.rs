//! Deflection: whether knowledge a requester was shown answered them. A suggestion session is
//! deflected when the requester marks a viewed article `solved`, or when they viewed one and
//! raised no request or incident within the window after their first view. Once decided, a
//! session stays decided. No I/O and no clock: the caller passes `now`.
use chrono::{DateTime, Duration, Utc};
use sea_orm::{DeriveActiveEnum, EnumIter, sea_query::StringLen};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// How long after a first view a ticket still counts against the suggestion (minutes).
pub const WINDOW_MINUTES: i64 = 30;

/// Where a suggestion session stands. Stored as its name.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, EnumIter, DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Outcome {
    /// Not decided yet (nothing viewed, or the window is still open).
    #[sea_orm(string_value = "pending")]
    Pending,
    /// The knowledge answered the requester.
    #[sea_orm(string_value = "deflected")]
    Deflected,
    /// The requester raised a request or incident anyway.
    #[sea_orm(string_value = "raised")]
    Raised,
}

/// What is known of a session when deciding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The first article view, if any.
    pub first_viewed_at: Option<DateTime<Utc>>,
    /// The article marked solved, if any, and when.
    pub solved: Option<(Uuid, DateTime<Utc>)>,
    /// The last article viewed (credited with a deflection that is not `solved`).
    pub last_viewed: Option<Uuid>,
    pub window: Duration,
}

/// A decision on a pending session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Still open at `now`.
    Pending,
    Deflected {
        at: DateTime<Utc>,
        article_id: Option<Uuid>,
        reason: DeflectionReason,
    },
    Raised,
}

/// Why a session was deflected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeflectionReason {
    /// The requester said the article solved it.
    Solved,
    /// The requester viewed an article and raised nothing within the window.
    NoTicketInWindow,
}

impl DeflectionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DeflectionReason::Solved => "solved",
            DeflectionReason::NoTicketInWindow => "no_ticket_in_window",
        }
    }
}

/// Decides the pending session `s` at `now`, given the times at which its requester raised a request or incident.
/// A ticket before the first view does not count: the requester had not read anything yet.
pub fn decide(s: &Session, raised: &[DateTime<Utc>], now: DateTime<Utc>) -> Decision {
    if let Some((article_id, at)) = s.solved {
        return Decision::Deflected {
            at,
            article_id: Some(article_id),
            reason: DeflectionReason::Solved,
        };
    }
    let Some(first) = s.first_viewed_at else {
        return Decision::Pending;
    };
    let end = first + s.window;
    if raised.iter().any(|t| *t >= first && *t <= end) {
        return Decision::Raised;
    }
    if now >= end {
        return Decision::Deflected {
            at: end,
            article_id: s.last_viewed,
            reason: DeflectionReason::NoTicketInWindow,
        };
    }
    Decision::Pending
}

/// Deflected sessions over sessions, `None` with no sessions.
pub fn ratio(deflected: u64, sessions: u64) -> Option<f64> {
    (sessions > 0).then(|| deflected as f64 / sessions as f64)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }

    fn session(first: Option<i64>, solved: Option<i64>) -> Session {
        Session {
            first_viewed_at: first.map(|m| t0() + Duration::minutes(m)),
            solved: solved.map(|m| (Uuid::from_u128(7), t0() + Duration::minutes(m))),
            last_viewed: first.map(|_| Uuid::from_u128(9)),
            window: Duration::minutes(WINDOW_MINUTES),
        }
    }

    #[test]
    fn a_quiet_window_after_a_view_deflects() {
        let s = session(Some(0), None);
        assert_eq!(
            decide(&s, &[], t0() + Duration::minutes(29)),
            Decision::Pending
        );
        assert_eq!(
            decide(&s, &[], t0() + Duration::minutes(30)),
            Decision::Deflected {
                at: t0() + Duration::minutes(30),
                article_id: Some(Uuid::from_u128(9)),
                reason: DeflectionReason::NoTicketInWindow
            }
        );
        let raised = [t0() + Duration::minutes(12)];
        assert_eq!(
            decide(&s, &raised, t0() + Duration::hours(2)),
            Decision::Raised
        );
        let earlier = [t0() - Duration::minutes(1)];
        assert!(matches!(
            decide(&s, &earlier, t0() + Duration::hours(2)),
            Decision::Deflected { .. }
        ));
    }

    proptest! {
        /// On a fixed clock: a session nobody viewed never deflects; one marked solved always
        /// does, at once; otherwise it deflects exactly when the window has passed with no
        /// ticket in it, is raised exactly when a ticket fell in it, and a decision made at one
        /// time holds at every later time.
        #[test]
        fn deflection_on_a_fixed_clock(
            first in proptest::option::of(0i64..120),
            solved in proptest::option::of(0i64..120),
            raised in proptest::collection::vec(-60i64..240, 0..4),
            now in 0i64..300,
            later in 0i64..300,
        ) {
            let s = session(first, solved);
            let raised: Vec<_> = raised.iter().map(|m| t0() + Duration::minutes(*m)).collect();
            let at = t0() + Duration::minutes(now);
            let d = decide(&s, &raised, at);
            match (first, solved) {
                (_, Some(_)) => {
                    let solved = matches!(
                        d,
                        Decision::Deflected { reason: DeflectionReason::Solved, .. }
                    );
                    prop_assert!(solved, "a solved session deflects");
                }
                (None, None) => prop_assert_eq!(&d, &Decision::Pending),
                (Some(f), None) => {
                    let start = t0() + Duration::minutes(f);
                    let end = start + Duration::minutes(WINDOW_MINUTES);
                    let in_window = raised.iter().any(|t| *t >= start && *t <= end);
                    let expected = if in_window {
                        Decision::Raised
                    } else if at >= end {
                        Decision::Deflected {
                            at: end,
                            article_id: s.last_viewed,
                            reason: DeflectionReason::NoTicketInWindow,
                        }
                    } else {
                        Decision::Pending
                    };
                    prop_assert_eq!(&d, &expected);
                }
            }
            if d != Decision::Pending {
                let after = at + Duration::minutes(later);
                prop_assert_eq!(decide(&s, &raised, after), d);
            }
        }
    }
}
