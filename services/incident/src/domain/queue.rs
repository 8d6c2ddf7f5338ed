//! The orders an agent reads a queue in, and what a queue row says about its SLA.
use chrono::{DateTime, Utc};
use platform::pagination::SortOrder;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The order of `GET /api/v1/incidents` (`?sort=`). Every order is a stable keyset: ties are
/// broken by id, and the cursor carries the sort key and the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum IncidentSort {
    /// Oldest first (the order of ids); a requester's default.
    #[serde(rename = "created_at")]
    Oldest,
    /// Newest first.
    #[serde(rename = "-created_at")]
    Newest,
    /// Most recently changed first.
    #[serde(rename = "-updated_at")]
    RecentlyUpdated,
    /// Priority 1 first, then oldest first.
    #[serde(rename = "priority")]
    Priority,
    /// The earliest next breach of a running SLA clock first (breached ones lead), then
    /// incidents with no running clock; an agent's default.
    #[serde(rename = "sla_due")]
    SlaDue,
}

impl SortOrder for IncidentSort {
    const ALL: &'static [Self] = &[
        Self::SlaDue,
        Self::Priority,
        Self::Newest,
        Self::RecentlyUpdated,
        Self::Oldest,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Oldest => "created_at",
            Self::Newest => "-created_at",
            Self::RecentlyUpdated => "-updated_at",
            Self::Priority => "priority",
            Self::SlaDue => "sla_due",
        }
    }
}

impl IncidentSort {
    /// Agents work by urgency; requesters follow their own tickets in the order they raised them.
    pub fn default_for(agent: bool) -> Self {
        if agent { Self::SlaDue } else { Self::Oldest }
    }
}

/// The order of `GET /api/v1/problems` (`?sort=`); problems carry no priority or SLA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ProblemSort {
    /// Oldest first (the order of ids), the default.
    #[serde(rename = "created_at")]
    Oldest,
    /// Newest first.
    #[serde(rename = "-created_at")]
    Newest,
    /// Most recently changed first.
    #[serde(rename = "-updated_at")]
    RecentlyUpdated,
}

impl SortOrder for ProblemSort {
    const ALL: &'static [Self] = &[Self::Oldest, Self::Newest, Self::RecentlyUpdated];

    fn name(self) -> &'static str {
        match self {
            Self::Oldest => "created_at",
            Self::Newest => "-created_at",
            Self::RecentlyUpdated => "-updated_at",
        }
    }
}

/// The queue key of an incident with no running SLA clock: after every real deadline, so
/// `sla_due` lists what can still breach first. (A sentinel rather than NULL keeps the keyset
/// one comparison on both databases.)
pub fn no_sla_due() -> DateTime<Utc> {
    // 9999-12-31T00:00:00Z
    DateTime::from_timestamp(253_402_214_400, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The queue key from the deadlines of an incident's running clocks.
pub fn sla_due(deadlines: impl IntoIterator<Item = DateTime<Utc>>) -> DateTime<Utc> {
    deadlines.into_iter().min().unwrap_or_else(no_sla_due)
}

/// Where the next SLA target of a queue row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NextSlaState {
    /// Running, the deadline ahead.
    Running,
    /// Running past its deadline.
    Breached,
}

impl NextSlaState {
    pub fn at(due: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        if due <= now {
            Self::Breached
        } else {
            Self::Running
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_names_round_trip_and_match_serde() {
        for s in IncidentSort::ALL {
            assert_eq!(IncidentSort::parse(s.name()), Some(*s));
            assert_eq!(
                serde_json::to_value(s).ok(),
                Some(serde_json::json!(s.name()))
            );
        }
        for s in ProblemSort::ALL {
            assert_eq!(ProblemSort::parse(s.name()), Some(*s));
            assert_eq!(
                serde_json::to_value(s).ok(),
                Some(serde_json::json!(s.name()))
            );
        }
        assert_eq!(IncidentSort::parse("id"), None);
    }

    #[test]
    fn no_running_clock_sorts_after_every_deadline() {
        let soon = Utc::now();
        assert_eq!(sla_due([]), no_sla_due());
        assert!(sla_due([soon]) < no_sla_due());
        assert_eq!(no_sla_due().to_rfc3339(), "9999-12-31T00:00:00+00:00");
    }

    #[test]
    fn a_deadline_reached_is_breached() {
        let now = Utc::now();
        assert_eq!(NextSlaState::at(now, now), NextSlaState::Breached);
        assert_eq!(
            NextSlaState::at(now + chrono::Duration::seconds(1), now),
            NextSlaState::Running
        );
    }
}
